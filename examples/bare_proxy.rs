//! The baseline of `benches/load.sh` (issue 14): a Pingora proxy with nothing but
//! `upstream_peer`, built from the same Pingora version with the settings modegate uses
//! (one worker thread, the same keep-alive pool), so that "modegate passthrough / bare
//! Pingora" is modegate's own cost and nothing else.
//!
//! `cargo run --release --example bare_proxy -- LISTEN UPSTREAM [THREADS] [timeouts]`
//!
//! With `timeouts`, the upstream peer gets modegate's default connect (2 s) and read and
//! write (30 s) timeouts: the same settings, so that the comparison leaves out what a
//! user would configure on any proxy.
//!
//! `BARE_WORK_STEALING=0|1`, `BARE_POOL=N` (upstream keep-alive pool) and
//! `BARE_LISTENER_TASKS=N` set Pingora's knobs of the same names, for the knob sweep.
//!
//! With `BARE_FORWARDED=1` it also sets the four headers SPEC §16 has modegate state on
//! everything it forwards (`X-Forwarded-Host`, `-Proto`, `-For`, `Forwarded`), with fixed
//! values: the cost of carrying them, without modegate's reading of the request.
//!
//! With `BARE_TLS=LISTEN,CERT,KEY` in the environment it also serves TLS there, HTTP/2 and
//! HTTP/1.1 offered by ALPN, as modegate's `[server.tls]` does (the HTTP/2 rows).

use std::net::SocketAddr;
use std::time::Duration;

use async_trait::async_trait;
use pingora::http::RequestHeader;
use pingora::listeners::tls::TlsSettings;
use pingora::prelude::*;
use pingora::proxy::{ProxyHttp, Session};
use pingora::server::configuration::ServerConf;

struct Bare {
    upstream: SocketAddr,
    timeouts: bool,
    forwarded: bool,
}

#[async_trait]
impl ProxyHttp for Bare {
    type CTX = ();

    fn new_ctx(&self) {}

    async fn upstream_request_filter(
        &self,
        _session: &mut Session,
        upstream: &mut RequestHeader,
        _ctx: &mut (),
    ) -> Result<()> {
        if self.forwarded {
            upstream.insert_header("X-Forwarded-Host", "bench.example.test")?;
            upstream.insert_header("X-Forwarded-Proto", "http")?;
            upstream.insert_header("X-Forwarded-For", "127.0.0.1")?;
            upstream.insert_header("Forwarded", "for=127.0.0.1;host=bench.example.test;proto=http")?;
        }
        Ok(())
    }

    async fn upstream_peer(&self, _session: &mut Session, _ctx: &mut ()) -> Result<Box<HttpPeer>> {
        let mut peer = HttpPeer::new(self.upstream, false, String::new());
        if self.timeouts {
            peer.options.connection_timeout = Some(Duration::from_secs(2));
            peer.options.read_timeout = Some(Duration::from_secs(30));
            peer.options.write_timeout = Some(Duration::from_secs(30));
        }
        Ok(Box::new(peer))
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let usage = "usage: bare_proxy LISTEN UPSTREAM [THREADS] [timeouts]";
    let listen = args.next().ok_or(usage)?;
    let upstream: SocketAddr = args.next().ok_or(usage)?.parse()?;
    let threads: usize = args.next().map(|t| t.parse()).transpose()?.unwrap_or(1);
    let timeouts = args.next().is_some_and(|a| a == "timeouts");
    // issue 14's knobs, one environment variable each (README, Performance)
    let knob = |name: &str| std::env::var(name).ok().and_then(|v| v.parse::<usize>().ok());
    let defaults = ServerConf::default();
    let conf = ServerConf {
        threads,
        grace_period_seconds: Some(0),
        graceful_shutdown_timeout_seconds: Some(1),
        work_stealing: knob("BARE_WORK_STEALING").map_or(defaults.work_stealing, |v| v != 0),
        upstream_keepalive_pool_size: knob("BARE_POOL").unwrap_or(defaults.upstream_keepalive_pool_size),
        listener_tasks_per_fd: knob("BARE_LISTENER_TASKS").unwrap_or(defaults.listener_tasks_per_fd),
        ..ServerConf::default()
    };
    let mut server = Server::new_with_opt_and_conf(None, conf);
    server.bootstrap();
    let mut proxy = pingora::proxy::http_proxy_service(
        &server.configuration,
        Bare { upstream, timeouts, forwarded: std::env::var_os("BARE_FORWARDED").is_some() },
    );
    proxy.add_tcp(&listen);
    if let Ok(tls) = std::env::var("BARE_TLS") {
        let [tls_listen, cert, key] = tls.split(',').collect::<Vec<_>>()[..] else {
            return Err("BARE_TLS: LISTEN,CERT,KEY".into());
        };
        let mut settings = TlsSettings::intermediate(cert, key)?;
        settings.enable_h2();
        proxy.add_tls_with_settings(tls_listen, None, settings);
    }
    server.add_service(proxy);
    server.run_forever()
}
