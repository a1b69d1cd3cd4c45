//! The Pingora glue: each phase of [`ProxyHttp`] is a few lines that call the policy core.
//! See Pingora's phase chart (`docs/user_guide/phase.md`) for the order of the phases.
//!
//! INVARIANT (no upstream byte before decision): an intercepted request in `enforce` mode
//! is read whole and decided in `request_filter`, which runs before Pingora connects to
//! the upstream. A rejected request is answered there and never reaches the upstream.

pub mod capture;
pub mod convert;
pub mod drive;
pub mod h2_creation;
pub mod head_deadline;
pub mod record;
pub mod respond;

use std::sync::Arc;
use std::time::Instant;

use arc_swap::ArcSwap;
use async_trait::async_trait;
use bytes::Bytes;
use pingora::http::{RequestHeader, ResponseHeader};
use pingora::prelude::*;
use pingora::proxy::{FailToProxy, ProxyHttp, Session};

use crate::clients::ClientModes;
use crate::config::{Config, Tenant};
use crate::identity::Claims;
use crate::identity::verifier::Verifier;
use crate::policy::hardening;
use crate::policy::{Api, Pipeline, Record};
use crate::ratelimit::DcrLimiter;
use crate::telemetry::{DecisionLog, metrics};
use crate::tenant::TenantSource;
use capture::Capture;
use drive::Observed;

/// What the proxy serves with; swapped whole on reload, so a request keeps the one it
/// started with.
pub struct State {
    pub config: Arc<Config>,
    pub tenants: Arc<dyn TenantSource>,
    /// The remote source behind `tenants`, kept to reuse its cache across reloads.
    pub http: Option<Arc<crate::tenant::http::HttpSource>>,
    /// The configuration generation (1 at start, +1 per reload): in every decision record.
    pub generation: u64,
}

pub struct Gateway {
    pub state: Arc<ArcSwap<State>>,
    pub decision_log: Arc<DecisionLog>,
    pub tokens: Verifier,
    pub clients: Arc<ClientModes>,
    /// SPEC §14: the DCR rate limit per tenant.
    pub dcr_limit: Arc<DcrLimiter>,
    /// The gateway's own upstream requests: creations over HTTP/2 (`h2_creation`).
    pub upstream: Arc<crate::upstream::SideClient>,
    /// Permits for HTTP/2 creations in flight (`server.h2_creations_in_flight`, bound at start).
    pub h2_creations: tokio::sync::Semaphore,
}

/// Per-request state shared across phases.
pub struct Ctx {
    started: Instant,
    /// What the request is served with, kept whole for a shadow decision after the body.
    state: Option<Arc<State>>,
    config: Option<Arc<Config>>,
    /// The request's way through the policy, once it has ended (or is observing).
    pipeline: Option<Pipeline>,
    /// The route label and error dialect, known before the pipeline's first await (for a
    /// request that fails while the pipeline is being driven).
    route: &'static str,
    api: Api,
    tenant: Option<Arc<Tenant>>,
    /// The body to send upstream, when the gateway read it (original or injected bytes).
    upstream_body: Option<Bytes>,
    /// Shadow mode: the body as it streams past, up to the size limit.
    observed: Option<Observed>,
    /// Set for intercepted requests: what goes into the metrics and the decision log.
    record: Option<Record>,
    upstream_status: Option<u16>,
    claims: Option<Claims>,
    /// The configuration generation the request was decided under.
    generation: u64,
    /// A creation whose answer is read to remember the new client's state.
    capture: Option<Capture>,
}

// === impl ProxyHttp for Gateway ===

#[async_trait]
impl ProxyHttp for Gateway {
    type CTX = Ctx;

    fn new_ctx(&self) -> Ctx {
        Ctx {
            started: Instant::now(),
            state: None,
            config: None,
            pipeline: None,
            route: "refused",
            api: Api::Management,
            tenant: None,
            upstream_body: None,
            observed: None,
            record: None,
            upstream_status: None,
            claims: None,
            generation: 0,
            capture: None,
        }
    }

    async fn request_filter(&self, session: &mut Session, ctx: &mut Ctx) -> Result<bool> {
        head_deadline::head_received(session.as_downstream().stream());
        let state = self.state.load_full();
        let config = Arc::clone(&state.config);
        ctx.config = Some(Arc::clone(&config));
        ctx.generation = state.generation;
        let body_follows = !session.is_body_empty();
        let head = convert::request_head(session.req_header(), body_follows);
        let (pipeline, step) = Pipeline::start(&head, Arc::clone(&config.policy), convert::today());
        (ctx.route, ctx.api) = (pipeline.route_label(), pipeline.api());
        ctx.state = Some(Arc::clone(&state));
        self.drive(session, ctx, &state, pipeline, step).await
    }

    async fn upstream_peer(&self, _session: &mut Session, ctx: &mut Ctx) -> Result<Box<HttpPeer>> {
        let config = ctx.config.clone().unwrap_or_else(|| Arc::clone(&self.state.load().config));
        Ok(Box::new(convert::peer(&config.upstream, ctx)))
    }

    async fn upstream_request_filter(
        &self,
        session: &mut Session,
        upstream: &mut RequestHeader,
        ctx: &mut Ctx,
    ) -> Result<()> {
        // SPEC §16: the upstream reads the host, client and scheme the gateway routed by
        let edits = hardening::forwarding_edits(&upstream.headers, &convert::forwarding(session, ctx));
        convert::apply_edits(upstream, edits)?;
        if let Some(body) = &ctx.upstream_body {
            // the body is held whole: frame it with its own length
            upstream.remove_header(&http::header::TRANSFER_ENCODING);
            upstream.remove_header(&http::header::EXPECT);
            upstream.insert_header(http::header::CONTENT_LENGTH, body.len().to_string())?;
        }
        if ctx.capture.is_some() {
            // a creation's answer is read for the new client: it must come unencoded
            upstream.insert_header(http::header::ACCEPT_ENCODING, "identity")?;
        }
        Ok(())
    }

    async fn request_body_filter(
        &self,
        session: &mut Session,
        body: &mut Option<Bytes>,
        end_of_stream: bool,
        ctx: &mut Ctx,
    ) -> Result<()> {
        if end_of_stream && ctx.capture.is_some() {
            // a creation read whole (shadow mode streams it): its answer is owed from here
            head_deadline::answer_owed(session.as_downstream().stream());
        }
        if let Some(decided) = &ctx.upstream_body {
            // INVARIANT (no upstream byte before decision): only the decided bytes are sent,
            // on the first attempt and on any replay
            *body = Some(if end_of_stream { decided.clone() } else { Bytes::new() });
            return Ok(());
        }
        self.observe_chunk(session, ctx, body, end_of_stream).await
    }

    async fn upstream_response_filter(
        &self,
        session: &mut Session,
        upstream: &mut ResponseHeader,
        ctx: &mut Ctx,
    ) -> Result<()> {
        let status = upstream.status.as_u16();
        convert::drop_malformed_answer_fields(upstream);
        ctx.upstream_status = Some(status);
        metrics().upstream_response(ctx.route, status);
        capture::on_answer(ctx, upstream);
        if ctx.capture.is_some() && head_deadline::caller_input_ended(session.as_downstream().stream()) {
            // the connection closes after this answer (see `head_deadline::answer_owed`)
            session.set_keepalive(None);
        }
        if (200..300).contains(&status) {
            self.forget_deleted(session, ctx).await;
        }
        Ok(())
    }

    fn response_body_filter(
        &self,
        session: &mut Session,
        body: &mut Option<Bytes>,
        end_of_stream: bool,
        ctx: &mut Ctx,
    ) -> Result<Option<std::time::Duration>> {
        self.capture_chunk(session, ctx, body, end_of_stream);
        Ok(None)
    }

    async fn fail_to_proxy(&self, session: &mut Session, e: &Error, ctx: &mut Ctx) -> FailToProxy {
        let error_code = respond::failure(session, e, ctx).await;
        FailToProxy { error_code, can_reuse_downstream: false }
    }

    /// What Pingora's own error lines say about a request: the method, the path without its
    /// query (codes, tickets and hints ride there) and the route; never a header value.
    fn request_summary(&self, session: &Session, ctx: &Ctx) -> String {
        let head = session.req_header();
        format!("{} {} (route {})", head.method, head.uri.path(), ctx.route)
    }

    fn suppress_error_log(&self, _session: &Session, _ctx: &Ctx, error: &Error) -> bool {
        // a client that goes away, resets its HTTP/2 stream or misses the head deadline is
        // not a gateway error (a flood of them must not flood the log)
        error.esource() == &pingora::ErrorSource::Downstream
            && matches!(
                error.etype(),
                ErrorType::ConnectionClosed
                    | ErrorType::ReadError
                    | ErrorType::WriteError
                    | ErrorType::H2Error
                    | ErrorType::ReadTimedout
            )
    }

    async fn logging(&self, session: &mut Session, error: Option<&Error>, ctx: &mut Ctx) {
        head_deadline::request_ended(session.as_downstream().stream());
        capture::on_end(ctx, error);
        let elapsed = ctx.started.elapsed();
        record::write(&self.decision_log, session, ctx, ctx.route, elapsed);
    }
}
