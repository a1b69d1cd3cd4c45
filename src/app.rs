//! Assembles the Pingora server from a validated configuration: the proxy service on
//! `server.listen`, the admin service on `server.admin_listen`, and the reload task.

use std::path::PathBuf;
use std::sync::Arc;

use arc_swap::ArcSwap;
use pingora::server::Server;
use pingora::server::configuration::{Opt, ServerConf};

use crate::admin::AdminApp;
use crate::clients::ClientModes;
use crate::config::Config;
use crate::identity::jwks::Keys;
use crate::proxy::Gateway;
use crate::reload::{ReloadService, Reloader, build_state};
use crate::telemetry::DecisionLog;
use crate::upstream::SideClient;

/// Process-level options from the command line.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// The configuration file, read again on reload.
    pub config_path: PathBuf,
    /// Take the listening sockets over from a running instance (Pingora graceful upgrade).
    pub upgrade: bool,
}

/// Serves until a signal stops the process. Never returns on success.
pub fn run(config: Config, options: RunOptions) -> anyhow::Result<()> {
    let decision_log = Arc::new(
        DecisionLog::open(&config.log.decisions)
            .map_err(|e| anyhow::anyhow!("log.decisions: cannot open the decision log: {e}"))?,
    );
    let server_conf = ServerConf {
        threads: config.server.threads,
        grace_period_seconds: Some(config.server.grace_period.as_secs()),
        graceful_shutdown_timeout_seconds: Some(config.server.grace_period.as_secs().max(1)),
        pid_file: format!("/tmp/modegate-{}.pid", config.server.admin_listen.port()),
        upgrade_sock: config.server.upgrade_sock.to_string_lossy().into_owned(),
        ..ServerConf::default()
    };
    let opt = Opt { upgrade: options.upgrade, ..Opt::default() };
    let mut server = Server::new_with_opt_and_conf(opt, server_conf);
    server.bootstrap();

    let listen = config.server.listen.clone();
    let admin_listen = config.server.admin_listen;
    let side = Arc::new(SideClient::default());
    let state = Arc::new(ArcSwap::from_pointee(build_state(config, None, &side)));
    let reloader = Arc::new(Reloader::new(options.config_path, Arc::clone(&state), Arc::clone(&side)));

    let gateway =
        Gateway::new(state, decision_log, Arc::new(Keys::new(Arc::clone(&side))), Arc::new(ClientModes::new(side)));
    let mut proxy = pingora::proxy::http_proxy_service_with_name(&server.configuration, gateway, "modegate proxy");
    for addr in &listen {
        proxy.add_tcp(&addr.to_string());
    }
    server.add_service(proxy);

    let mut admin = pingora::services::listening::Service::new(
        "modegate admin".to_owned(),
        AdminApp { reloader: Arc::clone(&reloader) },
    );
    admin.add_tcp(&admin_listen.to_string());
    server.add_service(admin);
    server.add_service(pingora::services::background::background_service("reload", ReloadService { reloader }));

    log::info!(
        "modegate serving on {} (admin {admin_listen})",
        listen.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")
    );
    server.run_forever()
}
