//! The admin listener (`server.admin_listen`):
//!
//! - `GET /metrics`: Prometheus text, every `modegate_` metric (SPEC §9) and `process_*`;
//! - `GET /healthz`: 200 while the process runs;
//! - `GET /readyz`: 200 once a configuration is loaded and the tenant source has answered,
//!   503 before; the body names the client registry's store and whether it answers;
//! - `POST /-/reload`: reload the configuration file; 200 `{"generation":N}`, or 400
//!   `{"error":"invalid_configuration","problems":[…]}` (the running configuration stays).
//!   With `server.admin_token_env`, it needs `Authorization: Bearer <token>` (401 without).
//!
//! `HEAD` answers wherever `GET` does, without the body. Anything else is 404 (405 for
//! another method on a known path). Keep this listener on loopback or a management network.

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

/// One admin answer before it is framed.
struct Answer {
    status: u16,
    content_type: &'static str,
    body: Vec<u8>,
}

impl Answer {
    fn text(status: u16, body: impl Into<Vec<u8>>) -> Self {
        Answer { status, content_type: "text/plain; charset=utf-8", body: body.into() }
    }

    fn json(status: u16, body: &serde_json::Value) -> Self {
        let mut body = serde_json::to_vec(body).unwrap_or_default();
        body.push(b'\n');
        Answer { status, content_type: "application/json", body }
    }
}

#[async_trait]
impl ServeHttp for AdminApp {
    async fn response(&self, session: &mut ServerSession) -> Response<Vec<u8>> {
        let path = session.req_header().uri.path().to_owned();
        let method = session.req_header().method.clone();
        let head = method == http::Method::HEAD;
        let read = head || method == http::Method::GET;
        let answer = match (path.as_str(), read, method.as_str()) {
            ("/metrics", true, _) => {
                Answer { status: 200, content_type: "text/plain; version=0.0.4", body: metrics().render() }
            }
            ("/healthz", true, _) => Answer::text(200, "ok\n"),
            ("/readyz", true, _) => self.readiness().await,
            ("/-/reload", _, "POST") => {
                // two Authorization headers are read differently by different hops: none counts
                let mut given = session.req_header().headers.get_all(http::header::AUTHORIZATION).iter();
                let authorization = match (given.next(), given.next()) {
                    (Some(one), None) => Some(one.as_bytes()),
                    _ => None,
                };
                self.reload(authorization).await
            }
            ("/metrics" | "/healthz" | "/readyz" | "/-/reload", _, _) => Answer::text(405, "method not allowed\n"),
            _ => Answer::text(404, "not found\n"),
        };
        let mut response = Response::builder()
            .status(answer.status)
            .header(http::header::CONTENT_TYPE, answer.content_type)
            .header(http::header::CONTENT_LENGTH, answer.body.len());
        if answer.status == 401 {
            response = response.header(http::header::WWW_AUTHENTICATE, "Bearer realm=\"modegate admin\"");
        }
        let response = response.body(if head { Vec::new() } else { answer.body });
        // the builder only fails on invalid header values, and these are constants
        response.unwrap_or_else(|_| Response::new(Vec::new()))
    }
}

impl AdminApp {
    async fn readiness(&self) -> Answer {
        let registry = Arc::clone(&self.registry);
        let probe = tokio::task::spawn_blocking(move || registry.health());
        let store = match tokio::time::timeout(std::time::Duration::from_secs(1), probe).await {
            Ok(Ok(store)) => store,
            _ => "registry: the store did not answer within a second".to_owned(),
        };
        match self.reloader.is_ready() {
            true => Answer::text(200, format!("ready\n{store}\n")),
            false => Answer::text(503, format!("not ready\n{store}\n")),
        }
    }

    async fn reload(&self, authorization: Option<&[u8]>) -> Answer {
        if let Some(token) = self.reloader.admin_token()
            && !token.admits(authorization)
        {
            return Answer::json(
                401,
                &serde_json::json!({"error": "unauthorized", "message": "POST /-/reload needs the admin bearer token (server.admin_token_env)"}),
            );
        }
        let reloader = Arc::clone(&self.reloader);
        // file reads and DNS: off the async threads
        match tokio::task::spawn_blocking(move || reloader.reload("POST /-/reload")).await {
            Ok(Ok(generation)) => Answer::json(200, &serde_json::json!({ "generation": generation })),
            Ok(Err(error)) => {
                let problems: Vec<serde_json::Value> = error
                    .problems
                    .iter()
                    .map(|p| serde_json::json!({"key": p.path, "message": p.message, "help": p.help}))
                    .collect();
                Answer::json(
                    400,
                    &serde_json::json!({"error": "invalid_configuration", "message": error.to_string(), "problems": problems}),
                )
            }
            Err(_) => Answer::json(
                500,
                &serde_json::json!({"error": "reload_failed", "message": "the reload did not finish"}),
            ),
        }
    }
}
