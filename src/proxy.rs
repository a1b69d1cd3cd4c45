//! The Pingora glue: each phase of [`ProxyHttp`] is a few lines that call the policy core.
//! See Pingora's phase chart (`docs/user_guide/phase.md`) for the order of the phases.
//!
//! INVARIANT (no upstream byte before decision): an intercepted request in `enforce` mode
//! is read whole and decided in `request_filter`, which runs before Pingora connects to
//! the upstream. A rejected request is answered there and never reaches the upstream.

pub mod head_deadline;
pub mod respond;

use std::sync::Arc;
use std::time::Instant;

use arc_swap::ArcSwap;
use async_trait::async_trait;
use bytes::Bytes;
use pingora::http::{RequestHeader, ResponseHeader};
use pingora::prelude::*;
use pingora::proxy::{FailToProxy, ProxyHttp, Session};
use time::OffsetDateTime;

use crate::clients::{ClientModes, Lookup};
use crate::config::{Config, Tenant};
use crate::identity::{self, Claims, jwks::Keys};
use crate::policy::hardening::{self, Forwarding, HeaderEdit};
use crate::policy::{
    self, Api, Classification, ClientState, CurrentClient, Decision, ErrorCode, Outcome, Plan, ReasonCode, Rejection,
    RequestHead, RouteId, SecurityMode,
};
use crate::telemetry::{DecisionLog, DecisionRecord, metrics};
use crate::tenant::TenantSource;

/// Largest creation answer read to learn the new client's id and mode.
const MAX_CAPTURE_BYTES: usize = 256 * 1024;

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
    pub keys: Arc<Keys>,
    pub verified: identity::VerifiedTokens,
    pub clients: Arc<ClientModes>,
}

/// Per-request state shared across phases.
pub struct Ctx {
    started: Instant,
    config: Option<Arc<Config>>,
    target: Option<Classification>,
    tenant: Option<Arc<Tenant>>,
    /// The body to send upstream, when the gateway read it (original or injected bytes).
    upstream_body: Option<Bytes>,
    /// Shadow mode: the body as it streams past, up to the size limit.
    observed: Option<Observed>,
    /// Set for intercepted requests: what goes into the metrics and the decision log.
    record: Option<RecordParts>,
    upstream_status: Option<u16>,
    claims: Option<Claims>,
    /// The configuration generation the request was decided under.
    generation: u64,
    /// A creation whose answer is read to remember the new client's state.
    capture: Option<Capture>,
}

struct Capture {
    route: RouteId,
    effective_mode: Option<SecurityMode>,
    body: Vec<u8>,
    reading: bool,
}

struct Observed {
    route: RouteId,
    body: Vec<u8>,
    overflow: bool,
}

struct RecordParts {
    decision: &'static str,
    reason: ReasonCode,
    requested_mode: Option<&'static str>,
    effective_mode: Option<&'static str>,
    injected: Vec<&'static str>,
}

impl RecordParts {
    fn of_decision(decision: &Decision, shadow: bool) -> Self {
        RecordParts {
            decision: decision.label(shadow),
            reason: decision.reason,
            requested_mode: decision.requested_mode.map(|m| m.as_str()),
            effective_mode: decision.effective_mode.map(|m| m.as_str()),
            injected: match &decision.outcome {
                Outcome::Inject(patch) => patch.names(),
                _ => Vec::new(),
            },
        }
    }

    fn of_rejection(rejection: &Rejection, shadow: bool) -> Self {
        RecordParts {
            decision: if shadow { "would_reject" } else { "reject" },
            reason: rejection.reason,
            requested_mode: None,
            effective_mode: None,
            injected: Vec::new(),
        }
    }
}

// === impl Gateway ===

impl Gateway {
    pub fn new(
        state: Arc<ArcSwap<State>>,
        decision_log: Arc<DecisionLog>,
        keys: Arc<Keys>,
        clients: Arc<ClientModes>,
    ) -> Self {
        Gateway { state, decision_log, keys, verified: identity::VerifiedTokens::default(), clients }
    }

    /// SPEC §6: the caller's bearer token, verified for `tenant`, with the route's scope.
    async fn authorize(
        &self,
        session: &Session,
        config: &Config,
        tenant: &Tenant,
        route: RouteId,
    ) -> Result<Claims, Rejection> {
        let result = self.verify_token(session, config, tenant).await;
        let result = result
            .map_err(|e| e.rejection())
            .and_then(|claims| claims.require_scope(route.required_scope()).map(|()| claims));
        let label = match &result {
            Ok(_) => "ok",
            Err(rejection) => rejection.reason.as_str(),
        };
        metrics().jwt_validations.with_label_values(&[label]).inc();
        result
    }

    async fn verify_token(
        &self,
        session: &Session,
        config: &Config,
        tenant: &Tenant,
    ) -> Result<Claims, identity::TokenError> {
        let token = identity::bearer(&session.req_header().headers)?;
        let now = unix_now();
        let key = identity::VerifiedTokens::key(&tenant.id, &tenant.token, token);
        if let Some(claims) = self.verified.get(&key, now) {
            return Ok(claims);
        }
        let (_alg, kid) = identity::token_header(token, &tenant.token)?;
        let keys = self.keys.for_token(tenant, &config.upstream, kid.as_deref()).await?;
        let claims = identity::verify(token, &tenant.token, &keys, now)?;
        self.verified.insert(key, claims.clone(), claims.exp, claims.nbf);
        Ok(claims)
    }

    /// SPEC §4 clients_update: the client's current state; `Ok(None)` when the upstream
    /// does not know the client; `Err` to fail closed (503).
    async fn current_client(
        &self,
        session: &Session,
        config: &Config,
        tenant: &Tenant,
    ) -> Result<Option<CurrentClient>, Rejection> {
        let (host, client_id, authorization) = lookup_parts(session, config)?;
        match self.clients.current(tenant, &config.upstream, &host, &client_id, authorization).await {
            Ok(Lookup::Known(state)) => Ok(Some(CurrentClient::of_state(state))),
            Ok(Lookup::NotFound) => Ok(None),
            Err(e) => Err(lookup_failed(&e.to_string())),
        }
    }

    /// SPEC §3–§4: the rule of `route` on the whole body. A `clients_update` learns the
    /// client's state first and, when the first decision would forward a change to the
    /// members the strict profile combines, their current values (never cached), and
    /// decides again with them.
    async fn decide_body(
        &self,
        session: &Session,
        config: &Config,
        tenant: &Tenant,
        route: RouteId,
        body: &[u8],
    ) -> Result<(Decision, Option<policy::JsonObject>), Rejection> {
        let replace = session.req_header().method == http::Method::PUT;
        let current = match route {
            RouteId::ClientsUpdate => self.current_client(session, config, tenant).await?,
            _ => None,
        };
        let decide = |current: Option<&CurrentClient>| {
            policy::decide(route, body, tenant, &config.policy, today(), current, replace)
        };
        let (decision, object) = decide(current.as_ref());
        let (Some(current), Some(parsed)) = (&current, &object) else { return Ok((decision, object)) };
        let forwards = !matches!(decision.outcome, Outcome::Reject(_));
        if !(forwards && policy::rules::clients_update::needs_current_members(parsed, current, replace)) {
            return Ok((decision, object));
        }
        let (host, client_id, authorization) = lookup_parts(session, config)?;
        match self.clients.combined_members(&config.upstream, &host, &client_id, authorization).await {
            Ok(Some(members)) => Ok(decide(Some(&CurrentClient { state: current.state, members }))),
            Ok(None) => Ok(decide(None)),
            Err(e) => Err(lookup_failed(&e.to_string())),
        }
    }

    /// Reads a creation's answer to remember the new client (SPEC §4 clients_update cache).
    fn remember_created(&self, ctx: &Ctx) {
        let (Some(capture), Some(tenant)) = (&ctx.capture, &ctx.tenant) else { return };
        let Ok(document) = serde_json::from_slice::<serde_json::Value>(&capture.body) else { return };
        let Some(client_id) = document.get("client_id").and_then(|v| v.as_str()) else { return };
        // what the gateway sent: DCR clients and clients with a mode are third-party
        let third_party = capture.route == RouteId::DcrRegister || capture.effective_mode.is_some();
        let sent = ClientState { is_first_party: !third_party, mode: capture.effective_mode };
        self.clients.remember(tenant, client_id, ClientState::from_creation(&document, sent));
    }

    /// Refuses the request now; `body_read` keeps the connection open for the next request.
    async fn refuse(
        &self,
        session: &mut Session,
        ctx: &mut Ctx,
        rejection: &Rejection,
        body_read: bool,
    ) -> Result<bool> {
        let api = ctx.target.as_ref().map_or(Api::Management, Classification::api);
        ctx.record = Some(RecordParts::of_rejection(rejection, false));
        respond::reject(session, rejection, api, !body_read).await?;
        Ok(true)
    }

    /// SPEC §3: reads the whole body (bounded in size and time), decides, and either
    /// answers or leaves the bytes to send upstream in `ctx`.
    async fn read_and_decide(
        &self,
        session: &mut Session,
        ctx: &mut Ctx,
        config: &Config,
        tenant: &Tenant,
        route: RouteId,
    ) -> Result<bool> {
        if expects_continue(session.req_header()) {
            // the client waits for this before sending the body we need to decide
            session.write_continue_response().await?;
        }
        // Pingora replays this buffer to the upstream after connecting; request_body_filter
        // swaps in `ctx.upstream_body`, so a retry can only ever send the decided bytes.
        session.enable_retry_buffering();
        let max = config.server.max_body_bytes;
        let read = tokio::time::timeout(config.server.body_read_timeout, async {
            let mut body = Vec::new();
            while let Some(chunk) = session.read_request_body().await? {
                if body.len() + chunk.len() > max {
                    return Ok::<_, Box<Error>>(None);
                }
                body.extend_from_slice(&chunk);
            }
            Ok(Some(body))
        })
        .await;
        let body = match read {
            Err(_elapsed) => return self.refuse(session, ctx, &policy::body_timeout(), false).await,
            Ok(Err(e)) => match e.etype() {
                // the client is gone: nobody to answer
                ErrorType::ReadError | ErrorType::ConnectionClosed | ErrorType::WriteError => return Err(e),
                ErrorType::ReadTimedout => return self.refuse(session, ctx, &policy::body_timeout(), false).await,
                _ => {
                    let malformed =
                        Rejection::invalid_request(ReasonCode::MalformedRequest, "the request body is not well framed");
                    return self.refuse(session, ctx, &malformed, false).await;
                }
            },
            Ok(Ok(None)) => return self.refuse(session, ctx, &policy::too_large(max), false).await,
            Ok(Ok(Some(body))) => body,
        };
        let (decision, object) = match self.decide_body(session, config, tenant, route, &body).await {
            Ok(decided) => decided,
            Err(rejection) => return self.refuse(session, ctx, &rejection, true).await,
        };
        ctx.record = Some(RecordParts::of_decision(&decision, false));
        ctx.capture = creation_capture(route, &decision);
        match decision.upstream_body(&body, object.as_ref()) {
            Some(upstream) => {
                ctx.upstream_body = Some(Bytes::from(upstream.into_owned()));
                Ok(false)
            }
            None => {
                let Outcome::Reject(rejection) = &decision.outcome else {
                    return self.refuse(session, ctx, &internal(), true).await;
                };
                respond::reject(session, rejection, route.api(), false).await?;
                Ok(true)
            }
        }
    }

    async fn observe_end(&self, session: &Session, ctx: &mut Ctx) {
        let (Some(observed), Some(config), Some(tenant)) =
            (ctx.observed.take(), ctx.config.clone(), ctx.tenant.clone())
        else {
            return;
        };
        if ctx.record.is_some() {
            // already a would-be rejection (the token)
            return;
        }
        if observed.overflow {
            ctx.record = Some(RecordParts::of_rejection(&policy::too_large(config.server.max_body_bytes), true));
            return;
        }
        ctx.record = Some(match self.decide_body(session, &config, &tenant, observed.route, &observed.body).await {
            Ok((decision, _)) => RecordParts::of_decision(&decision, true),
            Err(rejection) => RecordParts::of_rejection(&rejection, true),
        });
    }
}

/// What a client lookup needs from the request: the tenant host, the client id of the
/// path and the caller's own `Authorization`.
fn lookup_parts<'a>(session: &'a Session, config: &Config) -> Result<(String, String, Option<&'a str>), Rejection> {
    let header = session.req_header();
    let head = request_head(header);
    let client_id =
        head.path().and_then(policy::route::client_id).ok_or_else(|| lookup_failed("no client id in the path"))?;
    let host = policy::classify(&head, &config.routes).ok().and_then(|target| target.host).unwrap_or_default();
    let authorization = header.headers.get(http::header::AUTHORIZATION).and_then(|v| v.to_str().ok());
    Ok((host, client_id, authorization))
}

/// 503: the client's current state cannot be learned; fail closed.
fn lookup_failed(detail: &str) -> Rejection {
    log::warn!("clients_update: {detail}");
    Rejection::new(
        503,
        ErrorCode::PolicyUnavailable,
        ReasonCode::ClientLookupFailed,
        "the gateway cannot learn this client's current mode right now; retry later",
    )
}

/// The policy's view of a Pingora request head: the raw target, as it will be forwarded.
fn request_head(header: &RequestHeader) -> RequestHead<'_> {
    RequestHead {
        method: header.method.as_str(),
        target: header.raw_path(),
        authority: header.uri.authority().map(|a| a.as_str()),
        headers: &header.headers,
    }
}

fn today() -> time::Date {
    OffsetDateTime::now_utc().date()
}

fn unix_now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// Creations whose answer tells the new client's id.
fn creation_capture(route: RouteId, decision: &Decision) -> Option<Capture> {
    let creates = matches!(route, RouteId::ClientsCreate | RouteId::DcrRegister);
    let forwarded = !matches!(decision.outcome, Outcome::Reject(_));
    (creates && forwarded).then(|| Capture {
        route,
        effective_mode: decision.effective_mode,
        body: Vec::new(),
        reading: false,
    })
}

fn internal() -> Rejection {
    Rejection::new(500, ErrorCode::Internal, ReasonCode::Internal, "the gateway failed to handle the request")
}

fn expects_continue(header: &RequestHeader) -> bool {
    header
        .headers
        .get(http::header::EXPECT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("100-continue"))
}

// === impl ProxyHttp for Gateway ===

#[async_trait]
impl ProxyHttp for Gateway {
    type CTX = Ctx;

    fn new_ctx(&self) -> Ctx {
        Ctx {
            started: Instant::now(),
            config: None,
            target: None,
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
        let header = session.req_header();
        let head = request_head(header);
        let target = match policy::classify(&head, &config.routes) {
            Ok(target) => target,
            Err(rejection) => return self.refuse(session, ctx, &rejection, false).await,
        };
        let tenant = match (&target.route, &target.host) {
            (policy::RouteMatch::Passthrough, _) | (_, None) => None,
            (_, Some(host)) => match state.tenants.tenant_for_host(host).await {
                Ok(tenant) => tenant,
                Err(e) => {
                    log::warn!("tenant source: {e}");
                    ctx.target = Some(target);
                    let unavailable = Rejection::new(
                        503,
                        ErrorCode::PolicyUnavailable,
                        ReasonCode::PolicyUnavailable,
                        "the gateway cannot load this tenant's policy right now; retry later",
                    );
                    return self.refuse(session, ctx, &unavailable, false).await;
                }
            },
        };
        let plan = policy::plan(&head, &target, tenant.as_deref(), &config);
        ctx.target = Some(target);
        ctx.tenant = tenant.clone();
        match plan {
            Plan::Passthrough => Ok(false),
            Plan::Reject(rejection) => self.refuse(session, ctx, &rejection, false).await,
            Plan::ShadowReject(rejection) => {
                ctx.record = Some(RecordParts::of_rejection(&rejection, true));
                Ok(false)
            }
            Plan::ReadBody { route, shadow } => {
                let Some(tenant) = tenant else { return self.refuse(session, ctx, &internal(), false).await };
                if policy::needs_token(route, &tenant) {
                    match self.authorize(session, &config, &tenant, route).await {
                        Ok(claims) => ctx.claims = Some(claims),
                        Err(rejection) if shadow => ctx.record = Some(RecordParts::of_rejection(&rejection, true)),
                        Err(rejection) => return self.refuse(session, ctx, &rejection, false).await,
                    }
                }
                if shadow {
                    ctx.observed = Some(Observed { route, body: Vec::new(), overflow: false });
                    return Ok(false);
                }
                self.read_and_decide(session, ctx, &config, &tenant, route).await
            }
        }
    }

    async fn upstream_peer(&self, _session: &mut Session, ctx: &mut Ctx) -> Result<Box<HttpPeer>> {
        let config = match &ctx.config {
            Some(config) => Arc::clone(config),
            None => Arc::clone(&self.state.load().config),
        };
        let upstream = &config.upstream;
        // a resolved SocketAddr: HttpPeer::new would otherwise resolve DNS on every request
        // SNI (and the name verified): the configured one, else the tenant host asked for
        let sni = if upstream.sni.is_empty() {
            ctx.target.as_ref().and_then(|t| t.host.clone()).unwrap_or_default()
        } else {
            upstream.sni.clone()
        };
        let mut peer = HttpPeer::new(upstream.address, upstream.tls, sni);
        peer.options.connection_timeout = Some(upstream.connect_timeout);
        peer.options.read_timeout = Some(upstream.read_timeout);
        peer.options.write_timeout = Some(upstream.read_timeout);
        Ok(Box::new(peer))
    }

    async fn upstream_request_filter(
        &self,
        session: &mut Session,
        upstream: &mut RequestHeader,
        ctx: &mut Ctx,
    ) -> Result<()> {
        // SPEC §16: the upstream reads the host, client and scheme the gateway routed by
        let forwarding = Forwarding {
            host: ctx.target.as_ref().and_then(|t| t.host.as_deref()),
            client_ip: session.client_addr().and_then(|a| a.as_inet()).map(|a| a.ip()),
            proto: if session.digest().is_some_and(|d| d.ssl_digest.is_some()) { "https" } else { "http" },
            underscore_headers: ctx.config.as_ref().map_or_else(Default::default, |c| c.server.underscore_headers),
        };
        for edit in hardening::forwarding_edits(&upstream.headers, &forwarding) {
            match edit {
                HeaderEdit::Remove(name) => {
                    upstream.remove_header(&name);
                }
                HeaderEdit::Set(name, value) => upstream.insert_header(name, value)?,
            }
        }
        if let Some(body) = &ctx.upstream_body {
            // the body is held whole: frame it with its own length
            upstream.remove_header(&http::header::TRANSFER_ENCODING);
            upstream.remove_header(&http::header::EXPECT);
            upstream.insert_header(http::header::CONTENT_LENGTH, body.len().to_string())?;
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
        if let Some(decided) = &ctx.upstream_body {
            // INVARIANT (no upstream byte before decision): only the decided bytes are sent,
            // on the first attempt and on any replay
            *body = Some(if end_of_stream { decided.clone() } else { Bytes::new() });
            return Ok(());
        }
        let max = ctx.config.as_ref().map_or(0, |c| c.server.max_body_bytes);
        if let Some(observed) = &mut ctx.observed {
            if let Some(chunk) = body.as_ref() {
                if observed.body.len() + chunk.len() > max {
                    observed.overflow = true;
                    observed.body = Vec::new();
                } else if !observed.overflow {
                    observed.body.extend_from_slice(chunk);
                }
            }
            if end_of_stream {
                self.observe_end(session, ctx).await;
            }
        }
        Ok(())
    }

    async fn upstream_response_filter(
        &self,
        _session: &mut Session,
        upstream: &mut ResponseHeader,
        ctx: &mut Ctx,
    ) -> Result<()> {
        let status = upstream.status.as_u16();
        ctx.upstream_status = Some(status);
        if let Some(capture) = &mut ctx.capture {
            capture.reading = status == 200 || status == 201;
        }
        Ok(())
    }

    fn response_body_filter(
        &self,
        _session: &mut Session,
        body: &mut Option<Bytes>,
        end_of_stream: bool,
        ctx: &mut Ctx,
    ) -> Result<Option<std::time::Duration>> {
        if let Some(capture) = ctx.capture.as_mut().filter(|c| c.reading) {
            if let Some(chunk) = body.as_ref() {
                if capture.body.len() + chunk.len() > MAX_CAPTURE_BYTES {
                    capture.reading = false;
                } else {
                    capture.body.extend_from_slice(chunk);
                }
            }
            if end_of_stream && capture.reading {
                self.remember_created(ctx);
            }
        }
        Ok(None)
    }

    async fn fail_to_proxy(&self, session: &mut Session, e: &Error, ctx: &mut Ctx) -> FailToProxy {
        let failure = upstream_failure(e);
        if let Some(kind) = failure.kind {
            metrics().upstream_errors.with_label_values(&[kind]).inc();
        }
        let Some(rejection) = failure.answer else {
            return FailToProxy { error_code: 0, can_reuse_downstream: false };
        };
        let code = rejection.status;
        if session.response_written().is_none() {
            let api = ctx.target.as_ref().map_or(Api::Management, Classification::api);
            if let Err(write_error) = respond::reject(session, &rejection, api, true).await {
                log::debug!("cannot answer the client: {write_error}");
            }
        }
        let parts = RecordParts::of_rejection(&rejection, false);
        ctx.record = Some(RecordParts { decision: "error", ..parts });
        FailToProxy { error_code: code, can_reuse_downstream: false }
    }

    fn suppress_error_log(&self, _session: &Session, _ctx: &Ctx, error: &Error) -> bool {
        // a client that goes away is not a gateway error
        error.esource() == &pingora::ErrorSource::Downstream
            && matches!(error.etype(), ErrorType::ConnectionClosed | ErrorType::ReadError | ErrorType::WriteError)
    }

    async fn logging(&self, session: &mut Session, _e: Option<&Error>, ctx: &mut Ctx) {
        head_deadline::request_ended(session.as_downstream().stream());
        let elapsed = ctx.started.elapsed();
        let route = ctx.target.as_ref().map_or("refused", Classification::route_label);
        let status = session.response_written().map_or(0, |r| r.status.as_u16());
        let metrics = metrics();
        metrics.request_duration.with_label_values(&[route]).observe(elapsed.as_secs_f64());
        let Some(parts) = ctx.record.take() else {
            metrics.requests.with_label_values(&[route, "forward", ReasonCode::Passthrough.as_str()]).inc();
            return;
        };
        metrics.requests.with_label_values(&[route, parts.decision, parts.reason.as_str()]).inc();
        let tenant = ctx.tenant.as_deref();
        self.decision_log.write(&DecisionRecord {
            time: OffsetDateTime::now_utc().format(&time::format_description::well_known::Rfc3339).unwrap_or_default(),
            decision_id: crate::telemetry::decision_log::next_decision_id(),
            generation: ctx.generation,
            request_id: request_id(session),
            tenant: tenant.map(|t| t.id.clone()),
            customer: tenant.map(|t| t.customer.clone()),
            route,
            decision: parts.decision,
            reason: parts.reason.as_str(),
            enforcement: tenant.map(|t| t.enforcement.as_str()),
            requested_mode: parts.requested_mode,
            effective_mode: parts.effective_mode,
            injected: parts.injected,
            sub: ctx.claims.as_ref().and_then(|c| c.sub.clone()),
            azp: ctx.claims.as_ref().and_then(|c| c.azp.clone()),
            status,
            upstream_status: ctx.upstream_status,
            latency_ms: elapsed.as_secs_f64() * 1000.0,
        });
    }
}

/// The caller's `x-request-id` when it is a short printable token, else a fresh one.
fn request_id(session: &Session) -> String {
    let given = session.req_header().headers.get("x-request-id").and_then(|v| v.to_str().ok());
    match given {
        Some(id) if !id.is_empty() && id.len() <= 128 && id.bytes().all(|b| b.is_ascii_graphic()) => id.to_owned(),
        _ => {
            use std::sync::atomic::{AtomicU64, Ordering};
            static NEXT: AtomicU64 = AtomicU64::new(1);
            format!("mg-{}-{}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed))
        }
    }
}

struct UpstreamFailure {
    /// `modegate_upstream_errors_total{kind}`, when the upstream side failed.
    kind: Option<&'static str>,
    /// What to answer, when the client can still be answered.
    answer: Option<Rejection>,
}

/// SPEC §11: 502 when the upstream cannot be reached, 504 when it does not answer in time.
fn upstream_failure(e: &Error) -> UpstreamFailure {
    use pingora::ErrorType::*;
    let unavailable = |kind| UpstreamFailure {
        kind: Some(kind),
        answer: Some(Rejection::new(
            502,
            ErrorCode::UpstreamUnavailable,
            ReasonCode::UpstreamUnavailable,
            "the authorization server is unavailable; retry later",
        )),
    };
    let timeout = |kind| UpstreamFailure {
        kind: Some(kind),
        answer: Some(Rejection::new(
            504,
            ErrorCode::UpstreamTimeout,
            ReasonCode::UpstreamTimeout,
            "the authorization server did not answer in time",
        )),
    };
    match (e.esource(), e.etype()) {
        (_, ConnectRefused) => unavailable("connect_refused"),
        (_, ConnectTimedout) => unavailable("connect_timeout"),
        (
            _,
            ConnectNoRoute | ConnectError | ConnectProxyFailure | BindError | TLSHandshakeFailure
            | TLSHandshakeTimedout,
        ) => unavailable("connect_error"),
        (pingora::ErrorSource::Upstream, ReadTimedout | WriteTimedout) => timeout("read_timeout"),
        (pingora::ErrorSource::Upstream, _) => unavailable("protocol_error"),
        (pingora::ErrorSource::Downstream, ReadError | WriteError | ConnectionClosed) => {
            UpstreamFailure { kind: None, answer: None }
        }
        (pingora::ErrorSource::Downstream, ReadTimedout) => {
            UpstreamFailure { kind: None, answer: Some(policy::body_timeout()) }
        }
        (pingora::ErrorSource::Downstream, _) => UpstreamFailure {
            kind: None,
            answer: Some(Rejection::invalid_request(ReasonCode::MalformedRequest, "the request could not be read")),
        },
        _ => UpstreamFailure { kind: None, answer: Some(internal()) },
    }
}
