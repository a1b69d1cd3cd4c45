//! Assembles the Pingora server from a validated configuration: the proxy service on
//! `server.listen`, the admin service on `server.admin_listen`, and the reload task.

use std::path::PathBuf;
use std::sync::Arc;

use arc_swap::ArcSwap;
use pingora::listeners::tls::TlsSettings;
use pingora::server::Server;
use pingora::server::configuration::{Opt, ServerConf};

use crate::admin::AdminApp;
use crate::clients::ClientModes;
use crate::config::Config;
use crate::identity::jwks::Keys;
use crate::identity::verifier::Verifier;
use crate::proxy::Gateway;
use crate::proxy::head_deadline::HeadDeadlineApp;
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
    server(config, options)?.run_forever()
}

/// The Pingora server for `config`, bootstrapped and with every service added, not yet
/// running: `demo` adds the reference server to it.
pub fn server(config: Config, options: RunOptions) -> anyhow::Result<Server> {
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
        ca_file: config.upstream.ca_file.as_ref().map(|path| path.to_string_lossy().into_owned()),
        ..ServerConf::default()
    };
    let opt = Opt { upgrade: options.upgrade, ..Opt::default() };
    let mut server = Server::new_with_opt_and_conf(opt, server_conf);
    server.bootstrap();

    let listen = config.server.listen.clone();
    let admin_listen = config.server.admin_listen;
    let side = Arc::new(SideClient::new(config.upstream.ca_file.as_deref()));
    let tls = config.server.tls.clone();
    let header_timeout = config.server.header_read_timeout;
    let state = Arc::new(ArcSwap::from_pointee(build_state(config, None, &side, 1)));
    let reloader = Arc::new(Reloader::new(options.config_path, Arc::clone(&state), Arc::clone(&side)));

    let tokens = Verifier::new(Arc::new(Keys::new(Arc::clone(&side))));
    let gateway = Gateway::new(state, decision_log, tokens, Arc::new(ClientModes::new(side)));
    let mut proxy_app = pingora::proxy::http_proxy(&server.configuration, gateway);
    // SPEC §11, §16: an HTTP/2 connection that goes idle is closed after the head deadline
    let mut options = pingora::apps::HttpServerOptions::default();
    options.h2_idle_timeout = Some(header_timeout);
    proxy_app.server_options = Some(options);
    let mut proxy = pingora::services::listening::Service::new(
        "modegate proxy".to_owned(),
        HeadDeadlineApp::new(proxy_app, header_timeout),
    );
    for addr in &listen {
        proxy.add_tcp(&addr.to_string());
    }
    if let Some(tls) = &tls {
        for addr in &tls.listen {
            let mut settings = TlsSettings::intermediate(&tls.cert.to_string_lossy(), &tls.key.to_string_lossy())
                .map_err(|e| anyhow::anyhow!("server.tls: cannot use the certificate and key: {e}"))?;
            // HTTP/2 is offered by ALPN on the TLS listener
            settings.enable_h2();
            proxy.add_tls_with_settings(&addr.to_string(), None, settings);
        }
    }
    server.add_service(proxy);

    let mut admin = pingora::services::listening::Service::new(
        "modegate admin".to_owned(),
        AdminApp { reloader: Arc::clone(&reloader) },
    );
    admin.add_tcp(&admin_listen.to_string());
    server.add_service(admin);
    server.add_service(pingora::services::background::background_service("reload", ReloadService { reloader }));

    let tls_listen = tls.map(|tls| tls.listen).unwrap_or_default();
    log::info!(
        "modegate serving on {} (admin {admin_listen})",
        listen.iter().chain(&tls_listen).map(ToString::to_string).collect::<Vec<_>>().join(", ")
    );
    Ok(server)
}
