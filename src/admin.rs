//! The admin listener (`server.admin_listen`):
//!
//! - `GET /metrics`: Prometheus text, every `modegate_` metric (SPEC §9);
//! - `GET /healthz`: 200 while the process runs;
//! - `GET /readyz`: 200 once a configuration is loaded and the tenant source has answered,
//!   503 before.
//!
//! Anything else is 404. Keep this listener on loopback or a management network.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use async_trait::async_trait;
use http::Response;
use pingora::apps::http_app::ServeHttp;
use pingora::protocols::http::ServerSession;

use crate::telemetry::metrics;

/// Set once the gateway can serve; read by `/readyz`.
#[derive(Debug, Clone, Default)]
pub struct Readiness(Arc<AtomicBool>);

impl Readiness {
    pub fn set_ready(&self) {
        self.0.store(true, Ordering::Release);
    }

    pub fn is_ready(&self) -> bool {
        self.0.load(Ordering::Acquire)
    }
}

pub struct AdminApp {
    pub readiness: Readiness,
}

#[async_trait]
impl ServeHttp for AdminApp {
    async fn response(&self, session: &mut ServerSession) -> Response<Vec<u8>> {
        let path = session.req_header().uri.path().to_owned();
        let (status, content_type, body) = match path.as_str() {
            "/metrics" => (200, "text/plain; version=0.0.4", metrics().render()),
            "/healthz" => (200, "text/plain", b"ok\n".to_vec()),
            "/readyz" if self.readiness.is_ready() => (200, "text/plain", b"ready\n".to_vec()),
            "/readyz" => (503, "text/plain", b"not ready\n".to_vec()),
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
