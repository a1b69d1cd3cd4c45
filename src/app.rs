//! Assembles the Pingora server from a validated configuration: the proxy service on
//! `server.listen` and the admin service on `server.admin_listen`.

use std::sync::Arc;

use arc_swap::ArcSwap;
use pingora::server::Server;
use pingora::server::configuration::{Opt, ServerConf};

use crate::admin::{AdminApp, Readiness};
use crate::clients::ClientModes;
use crate::config::Config;
use crate::identity::jwks::Keys;
use crate::proxy::{Gateway, State};
use crate::telemetry::{DecisionLog, metrics};
use crate::tenant::InlineSource;
use crate::upstream::SideClient;

/// Process-level options from the command line.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
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
        upgrade_sock: format!("/tmp/modegate-upgrade-{}.sock", config.server.admin_listen.port()),
        ..ServerConf::default()
    };
    let opt = Opt { upgrade: options.upgrade, ..Opt::default() };
    let mut server = Server::new_with_opt_and_conf(opt, server_conf);
    server.bootstrap();

    let tenants = Arc::new(InlineSource::new(config.tenants.clone()));
    let listen = config.server.listen.clone();
    let admin_listen = config.server.admin_listen;
    let state = Arc::new(ArcSwap::from_pointee(State { config: Arc::new(config), tenants }));
    metrics().config_generation.set(1);

    let side = Arc::new(SideClient::default());
    let gateway =
        Gateway::new(state, decision_log, Arc::new(Keys::new(Arc::clone(&side))), Arc::new(ClientModes::new(side)));
    let mut proxy = pingora::proxy::http_proxy_service_with_name(&server.configuration, gateway, "modegate proxy");
    for addr in &listen {
        proxy.add_tcp(&addr.to_string());
    }
    server.add_service(proxy);

    let readiness = Readiness::default();
    let mut admin = pingora::services::listening::Service::new(
        "modegate admin".to_owned(),
        AdminApp { readiness: readiness.clone() },
    );
    admin.add_tcp(&admin_listen.to_string());
    server.add_service(admin);

    // the inline source answers from memory: ready as soon as the listeners are up
    readiness.set_ready();
    log::info!(
        "modegate serving on {} (admin {admin_listen})",
        listen.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")
    );
    server.run_forever()
}
