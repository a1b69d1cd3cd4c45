//! The admin listener (`server.admin_listen`):
//!
//! - `GET /metrics`: Prometheus text, every `modegate_` metric (SPEC §9);
//! - `GET /healthz`: 200 while the process runs;
//! - `GET /readyz`: 200 once a configuration is loaded and the tenant source has answered,
//!   503 before; the body names the client registry's store and whether it answers;
//! - `POST /-/reload`: reload the configuration file; 200 with the new generation, or 400
//!   with every problem (the running configuration stays).
//!
//! Anything else is 404. Keep this listener on loopback or a management network.

use std::sync::Arc;

use async_trait::async_trait;
use http::Response;
use pingora::apps::http_app::ServeHttp;
use pingora::protocols::http::ServerSession;

use crate::registry::Registry;
use crate::reload::Reloader;
use crate::telemetry::metrics;

pub struct AdminApp {
    pub reloader: Arc<Reloader>,
    /// Its state is reported in `/readyz`'s body; a store that fails does not make the
    /// gateway unready (SPEC §12: reads fall back to lookups, writes are queued).
    pub registry: Arc<Registry>,
}

#[async_trait]
impl ServeHttp for AdminApp {
    async fn response(&self, session: &mut ServerSession) -> Response<Vec<u8>> {
        let path = session.req_header().uri.path().to_owned();
        let method = session.req_header().method.clone();
        let (status, content_type, body) = match (method.as_str(), path.as_str()) {
            ("GET", "/metrics") => (200, "text/plain; version=0.0.4", metrics().render()),
            ("GET", "/healthz") => (200, "text/plain", b"ok\n".to_vec()),
            ("GET", "/readyz") => {
                let registry = Arc::clone(&self.registry);
                let probe = tokio::task::spawn_blocking(move || registry.health());
                let store = match tokio::time::timeout(std::time::Duration::from_secs(1), probe).await {
                    Ok(Ok(store)) => store,
                    _ => "registry: the store did not answer within a second".to_owned(),
                };
                match self.reloader.is_ready() {
                    true => (200, "text/plain", format!("ready\n{store}\n").into_bytes()),
                    false => (503, "text/plain", format!("not ready\n{store}\n").into_bytes()),
                }
            }
            ("POST", "/-/reload") => {
                let reloader = Arc::clone(&self.reloader);
                // file reads and DNS: off the async threads
                match tokio::task::spawn_blocking(move || reloader.reload("POST /-/reload")).await {
                    Ok(Ok(generation)) => {
                        (200, "application/json", format!("{{\"generation\":{generation}}}\n").into_bytes())
                    }
                    Ok(Err(error)) => (400, "text/plain", format!("{error}\n").into_bytes()),
                    Err(_) => (500, "text/plain", b"reload failed\n".to_vec()),
                }
            }
            (_, "/metrics" | "/healthz" | "/readyz" | "/-/reload") => {
                (405, "text/plain", b"method not allowed\n".to_vec())
            }
            _ => (404, "text/plain", b"not found\n".to_vec()),
        };
        let response = Response::builder()
            .status(status)
            .header(http::header::CONTENT_TYPE, content_type)
            .header(http::header::CONTENT_LENGTH, body.len())
            .body(body);
        // the builder only fails on invalid header values, and these are constants
        response.unwrap_or_else(|_| Response::new(Vec::new()))
    }
}
