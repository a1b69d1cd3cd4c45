//! Assembles the Pingora server from a validated configuration: the proxy service on
//! `server.listen`, the admin service on `server.admin_listen`, and the reload task.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use pingora::listeners::tls::TlsSettings;
use pingora::server::Server;
use pingora::server::configuration::{Opt, ServerConf};

use crate::admin::AdminApp;
use crate::clients::ClientModes;
use crate::config::Config;
use crate::identity::jwks::Keys;
use crate::identity::verifier::Verifier;
use crate::listen::PortReservations;
use crate::proxy::Gateway;
use crate::proxy::head_deadline::HeadDeadlineApp;
use crate::ratelimit::DcrLimiter;
use crate::registry::Registry;
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

/// The most a stop waits, once Pingora's services are down, for the client registry's
/// queued writes; a stop with nothing queued does not wait.
const REGISTRY_DRAIN: Duration = Duration::from_secs(5);

/// The assembled gateway: Pingora's server and what must outlive its services.
pub struct App {
    pub server: Server,
    registry: Arc<Registry>,
}

impl App {
    /// Serves until a signal stops the process, then gives the client registry's queued
    /// writes (those queued while the store failed: their answers went out, SPEC §12) up
    /// to `REGISTRY_DRAIN` (5 s) to reach the store before the process exits.
    pub fn run_forever(self) -> ! {
        self.server.run(pingora::server::RunArgs::default());
        let left = self.registry.drain(REGISTRY_DRAIN);
        if left > 0 {
            log::error!(
                "client registry: stopping with {left} change(s) not stored; the store did not take them in time"
            );
        }
        std::process::exit(0)
    }
}

/// The gateway for `config`, bootstrapped and with every service added, not yet running:
/// `demo` adds the reference server to it.
pub fn server(config: Config, options: RunOptions) -> anyhow::Result<App> {
    let decision_log = Arc::new(
        DecisionLog::open(&config.log.decisions)
            .map_err(|e| anyhow::anyhow!("log.decisions: cannot open the decision log: {e}"))?,
    );
    let ports = PortReservations::default();
    let listen: Vec<SocketAddr> = config.server.listen.iter().map(|a| ports.reserve(*a)).collect::<Result<_, _>>()?;
    let admin_listen = ports.reserve(config.server.admin_listen)?;
    let tls = config.server.tls.clone();
    let tls_listen: Vec<SocketAddr> =
        tls.iter().flat_map(|tls| &tls.listen).map(|a| ports.reserve(*a)).collect::<Result<_, _>>()?;
    let server_conf = ServerConf {
        threads: config.server.threads,
        work_stealing: config.server.work_stealing,
        grace_period_seconds: Some(config.server.grace_period.as_secs()),
        graceful_shutdown_timeout_seconds: Some(config.server.grace_period.as_secs().max(1)),
        pid_file: format!("/tmp/modegate-{}.pid", admin_listen.port()),
        upgrade_sock: config.server.upgrade_sock.to_string_lossy().into_owned(),
        ca_file: config.upstream.ca_file.as_ref().map(|path| path.to_string_lossy().into_owned()),
        ..ServerConf::default()
    };
    let opt = Opt { upgrade: options.upgrade, ..Opt::default() };
    let mut server = Server::new_with_opt_and_conf(opt, server_conf);
    server.bootstrap();

    let side = Arc::new(SideClient::new(config.upstream.ca_file.as_deref()));
    let header_timeout = config.server.header_read_timeout;
    let clients = config.clients.clone();
    let config_dir = options.config_path.parent().map(Path::to_owned).unwrap_or_default();
    let state = Arc::new(ArcSwap::from_pointee(build_state(config, None, &side, 1)));
    crate::heap::release_freed_memory();
    let reloader = Arc::new(Reloader::new(options.config_path, Arc::clone(&state), Arc::clone(&side)));

    let tokens = Verifier::new(Arc::new(Keys::new(Arc::clone(&side))));
    let (store, shared) = crate::registry::open_store(&clients.store, &config_dir)?;
    let registry = Registry::new(store, clients.cache_entries);
    log::info!("client registry: {}", registry.describe());
    let limiter = Arc::new(DcrLimiter::new(shared));
    let clients_known = Arc::new(ClientModes::new(Arc::clone(&registry), Arc::clone(&side)));
    let h2_creations = tokio::sync::Semaphore::new(state.load().config.server.h2_creations_in_flight);
    let gateway = Gateway {
        state,
        decision_log: Arc::clone(&decision_log),
        tokens,
        clients: clients_known,
        dcr_limit: limiter,
        upstream: Arc::clone(&side),
        h2_creations,
    };
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
        proxy.add_tcp_with_settings(&addr.to_string(), ports.socket_options(*addr));
    }
    if let Some(tls) = &tls {
        for addr in &tls_listen {
            let mut settings = TlsSettings::intermediate(&tls.cert.to_string_lossy(), &tls.key.to_string_lossy())
                .map_err(|e| anyhow::anyhow!("server.tls: cannot use the certificate and key: {e}"))?;
            // HTTP/2 is offered by ALPN on the TLS listener
            settings.enable_h2();
            proxy.add_tls_with_settings(&addr.to_string(), Some(ports.socket_options(*addr)), settings);
        }
    }
    server.add_service(proxy);

    let mut admin = pingora::services::listening::Service::new(
        "modegate admin".to_owned(),
        AdminApp { reloader: Arc::clone(&reloader), registry: Arc::clone(&registry) },
    );
    admin.add_tcp_with_settings(&admin_listen.to_string(), ports.socket_options(admin_listen));
    server.add_service(admin);
    server.add_service(pingora::services::background::background_service(
        "reload",
        ReloadService { reloader, decision_log },
    ));
    server.add_service(pingora::services::background::background_service("port reservations", ports));

    let join = |addrs: &[SocketAddr]| addrs.iter().map(ToString::to_string).collect::<Vec<_>>().join(",");
    // the bound addresses, port 0 resolved: what tests and supervisors read back
    log::info!("modegate listening: proxy={} tls={} admin={admin_listen}", join(&listen), join(&tls_listen));
    Ok(App { server, registry })
}
