//! One request through the policy, as a value (SPEC §2–§6, §15).
//!
//! The pipeline does no I/O. Each step either finishes ([`Step::Respond`],
//! [`Step::Forward`]) or names what it needs next; whoever drives it answers the need and
//! gets the following step:
//!
//! ```text
//! start(head) ─► NeedTenant ─► NeedToken ─► NeedBody ─► NeedClient ─► NeedMembers
//!      │             │             │            │            │             │
//!      └─────────────┴─────────────┴────────────┴────────────┴─────────────┴─► Respond | Forward
//! ```
//!
//! The proxy answers the needs with lookups and reads, `modegate decide` and the tests
//! from their inputs ([`evaluate`]). Shadow mode is applied here, and a finished step
//! carries its [`Record`] (metric labels and decision record), so every driver counts and
//! logs the same thing.

use std::sync::Arc;

use serde_json::{Map, Value};
use time::Date;

use super::body::{JsonObject, parse_object};
use super::client::{ClientState, CurrentClient};
use super::decision::{Decision, Outcome, Rejection, SecurityMode};
use super::inputs::{DcrRate, Enforcement, PolicySettings, TenantPolicy, UnknownClient, UnknownTenant};
use super::reason::{ErrorCode, ReasonCode};
use super::route::RouteMatch;
use super::route_id::{Api, RouteId};
use super::runtime::{self, RuntimeClient, RuntimeHead, RuntimeRequest};
use super::{
    BodyKind, Classification, RequestHead, body_rejection, body_timeout, check_body_head, classify, decide_object,
    internal, needs_token, rules, too_large,
};

/// What a request needs next, or how it ends.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    /// The tenant served at `host`: answer with [`Pipeline::tenant`].
    NeedTenant { host: String },
    /// One registration from the tenant's DCR bucket (SPEC §14): [`Pipeline::allowance`].
    NeedAllowance { tenant: String, rate: DcrRate },
    /// The caller's bearer token, verified with `scope` (SPEC §6): [`Pipeline::token`].
    NeedToken { route: RouteId, scope: &'static str },
    /// The whole body, at most `limit` bytes: [`Pipeline::body`]. `observe`: shadow mode,
    /// the request is forwarded now and the body handed over once it has streamed past.
    NeedBody { limit: usize, observe: bool },
    /// What is known of the client an update changes: [`Pipeline::client`].
    NeedClient { id: String },
    /// The client's current values of the members the strict profile combines (never
    /// cached, they change with each update): [`Pipeline::members`].
    NeedMembers { id: String },
    /// A runtime route's client (SPEC §13), learned with the gateway's own credentials:
    /// [`Pipeline::runtime_client`].
    NeedClientMode {
        id: String,
        /// A `client_credentials` grant: whether the client came through DCR matters.
        dcr_matters: bool,
    },
    /// Answer the client; the upstream sees nothing. `body_read`: the request body was read
    /// whole, so the connection can serve another request.
    Respond { rejection: Rejection, record: Record, body_read: bool },
    /// Send the request upstream. `record` is `None` for requests no rule looked at.
    Forward { body: UpstreamBody, record: Option<Record>, creation: Option<Creation> },
}

/// The body the upstream receives.
#[derive(Debug, Clone, PartialEq)]
pub enum UpstreamBody {
    /// The client's bytes as they stream (passthrough; shadow mode, including its would-be
    /// refusals).
    Untouched,
    /// The bytes the policy decided on, read whole (the original or with members injected).
    Decided(Vec<u8>),
}

/// A forwarded creation: its answer tells the new client's id (SPEC §12).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Creation {
    pub route: RouteId,
    /// The mode the gateway sent or injected; `None` for a first-party client.
    pub effective_mode: Option<SecurityMode>,
}

/// What a request leaves in `modegate_requests_total` and the decision log (SPEC §9, §15).
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    /// `forward`, `inject`, `reject`, `would_inject`, `would_reject` or `error`.
    pub decision: &'static str,
    pub reason: ReasonCode,
    pub requested_mode: Option<SecurityMode>,
    pub effective_mode: Option<SecurityMode>,
    pub injected: Vec<&'static str>,
    /// Shadow mode: the answer the request would have had.
    pub would_answer: Option<Rejection>,
}

impl Record {
    pub fn of_decision(decision: &Decision, shadow: bool) -> Self {
        Record {
            decision: decision.label(shadow),
            reason: decision.reason,
            requested_mode: decision.requested_mode,
            effective_mode: decision.effective_mode,
            injected: match &decision.outcome {
                Outcome::Inject(injection) => injection.patch.names(),
                _ => Vec::new(),
            },
            would_answer: match &decision.outcome {
                Outcome::Reject(rejection) if shadow => Some(rejection.clone()),
                _ => None,
            },
        }
    }

    pub fn of_rejection(rejection: &Rejection, shadow: bool) -> Self {
        Record {
            decision: if shadow { "would_reject" } else { "reject" },
            reason: rejection.reason,
            requested_mode: None,
            effective_mode: None,
            injected: Vec::new(),
            would_answer: shadow.then(|| rejection.clone()),
        }
    }

    /// A fault of the gateway or the upstream (`decision="error"`).
    pub fn of_error(rejection: &Rejection) -> Self {
        Record { decision: "error", ..Record::of_rejection(rejection, false) }
    }
}

/// Why the driver could not hand over the whole body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyFailure {
    /// More than the step's `limit`.
    TooLarge,
    /// The body did not arrive in time.
    Timeout,
    /// The framing could not be read (a broken chunked encoding).
    Malformed,
}

/// 503: the tenant's policy cannot be loaded; fail closed (SPEC §11).
pub fn policy_unavailable() -> Rejection {
    Rejection::new(
        503,
        ErrorCode::PolicyUnavailable,
        ReasonCode::PolicyUnavailable,
        "the gateway cannot load this tenant's policy right now; retry later",
    )
}

/// 503: the policy service answered a document for the tenant that the gateway refuses
/// (SPEC §15): not the caller's fault, and not an outage either.
pub fn policy_invalid() -> Rejection {
    Rejection::new(
        503,
        ErrorCode::PolicyInvalid,
        ReasonCode::PolicyInvalid,
        "this tenant's policy document was refused by the gateway; the operator has been told",
    )
}

/// Why a tenant source could not answer [`Step::NeedTenant`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TenantFailure {
    /// The source could not be asked (503 `policy_unavailable`).
    Unavailable,
    /// It answered a document the gateway refuses (503 `policy_invalid`).
    Invalid,
}

/// 503: the client's current state cannot be learned; fail closed (SPEC §4, §11).
pub fn lookup_failed() -> Rejection {
    Rejection::new(
        503,
        ErrorCode::PolicyUnavailable,
        ReasonCode::ClientLookupFailed,
        "the gateway cannot learn this client's current mode right now; retry later",
    )
}

/// One request's way through the policy; see the module documentation.
#[derive(Debug)]
pub struct Pipeline {
    settings: Arc<PolicySettings>,
    today: Date,
    /// `None`: refused from the head, before any route was read.
    target: Option<Classification>,
    /// SPEC §3 checks of the head (framing, media type, declared size), for intercepted routes.
    head_check: Result<(), Rejection>,
    /// The request is a `PUT`: an update replaces the client.
    replace: bool,
    /// The client id of a `clients_update` path.
    client_id: Option<String>,
    tenant: Option<Arc<TenantPolicy>>,
    route: Option<RouteId>,
    shadow: bool,
    /// The framing says a body follows.
    body_follows: bool,
    /// The DCR bucket was asked (once per request).
    allowance_taken: bool,
    /// The body was read whole: an answer leaves the connection usable.
    body_read: bool,
    /// A runtime route's head (SPEC §13), and once read, its request.
    runtime_head: Option<RuntimeHead>,
    runtime: Option<RuntimeRequest>,
    /// `/authorize` answers in JSON rather than HTML (the request accepts JSON).
    wants_json: bool,
    body: Vec<u8>,
    object: Option<JsonObject>,
    state: Option<ClientState>,
}

impl Pipeline {
    /// Reads everything the policy needs of the head (SPEC §2, §16) and returns the first
    /// step. The head is not kept: a pipeline owns what it holds, so it can wait across
    /// the proxy's phases.
    pub fn start(head: &RequestHead<'_>, settings: Arc<PolicySettings>, today: Date) -> (Pipeline, Step) {
        let target = classify(head, &settings.routes);
        let route = match &target {
            Ok(Classification { route: RouteMatch::Intercepted(route), .. }) => Some(*route),
            _ => None,
        };
        let head_check = match route {
            Some(route) if route.is_runtime() && !head.body_follows => Ok(()),
            Some(route) => check_body_head(head, settings.max_body_bytes, BodyKind::of(route)),
            None => Ok(()),
        };
        let runtime_head = route.filter(|r| r.is_runtime()).map(|_| runtime_head(head));
        // read only where it matters: passthrough requests pay nothing
        let wants_json = route == Some(RouteId::Authorize)
            && head
                .headers
                .get_all(http::header::ACCEPT)
                .iter()
                .any(|v| v.to_str().is_ok_and(|v| v.to_ascii_lowercase().contains("application/json")));
        // the id is read (decoded) only for the route that needs it: passthrough costs nothing
        let client_id = (route == Some(RouteId::ClientsUpdate)).then(|| head.path().and_then(super::route::client_id));
        let mut pipeline = Pipeline {
            today,
            target: None,
            head_check,
            replace: head.method.eq_ignore_ascii_case("PUT"),
            client_id: client_id.flatten(),
            tenant: None,
            route: None,
            shadow: false,
            body_follows: head.body_follows,
            allowance_taken: false,
            body_read: false,
            runtime_head,
            runtime: None,
            wants_json,
            body: Vec::new(),
            object: None,
            state: None,
            settings,
        };
        let step = match target {
            Err(rejection) => pipeline.respond(rejection),
            Ok(target) => {
                let first = match (&target.route, &target.host) {
                    (RouteMatch::Passthrough, _) => Some(passthrough()),
                    (_, Some(host)) => Some(Step::NeedTenant { host: host.clone() }),
                    (_, None) => None,
                };
                pipeline.target = Some(target);
                match first {
                    Some(step) => step,
                    None => pipeline.plan(),
                }
            }
        };
        (pipeline, step)
    }

    /// The answer to [`Step::NeedTenant`]: the tenant, `None` when no tenant is served at
    /// the host, `Err` when the tenant source cannot say (the request fails closed).
    pub fn tenant(&mut self, answer: Result<Option<Arc<TenantPolicy>>, TenantFailure>) -> Step {
        match answer {
            Ok(tenant) => {
                self.tenant = tenant;
                self.plan()
            }
            Err(TenantFailure::Unavailable) => self.respond(policy_unavailable()),
            Err(TenantFailure::Invalid) => self.respond(policy_invalid()),
        }
    }

    /// The answer to [`Step::NeedAllowance`]: `Err(seconds)` to wait when the bucket is
    /// empty (429 with `Retry-After`; shadow mode only records it).
    pub fn allowance(&mut self, verdict: Result<(), u64>) -> Step {
        self.allowance_taken = true;
        match (verdict, self.route, self.tenant.clone()) {
            (Err(seconds), _, _) => self.refuse(Rejection::rate_limited(seconds)),
            (Ok(()), Some(route), Some(tenant)) if needs_token(route, &tenant) => self.need_body(),
            (Ok(()), Some(route), Some(tenant)) => self.after_allowance(route, &tenant),
            (Ok(()), _, _) => self.respond(internal()),
        }
    }

    /// The answer to [`Step::NeedToken`]. A DCR route that needs a token takes from the
    /// tenant's bucket only now: callers without a token cannot drain it (SPEC §14).
    pub fn token(&mut self, verdict: Result<(), Rejection>) -> Step {
        match (verdict, self.route, &self.tenant) {
            (Ok(()), Some(RouteId::DcrRegister), Some(tenant)) if !self.allowance_taken => {
                Step::NeedAllowance { tenant: tenant.id.clone(), rate: tenant.dcr_rate }
            }
            (Ok(()), _, _) => self.need_body(),
            // SPEC §4: token-protected DCR wants a token with `create:clients`, "else 401",
            // and RFC 7591's errors (§7) have no `insufficient_scope`
            (Err(rejection), Some(RouteId::DcrRegister), _) if rejection.code == ErrorCode::InsufficientScope => self
                .refuse(Rejection::new(
                    401,
                    ErrorCode::InvalidToken,
                    rejection.reason,
                    "the token does not grant create:clients; registering a client needs a token with that scope",
                )),
            (Err(rejection), _, _) => self.refuse(rejection),
        }
    }

    /// The answer to [`Step::NeedBody`].
    pub fn body(&mut self, body: Result<Vec<u8>, BodyFailure>) -> Step {
        let (body, route) = match (body, self.route) {
            (Ok(body), Some(route)) if body.len() <= self.settings.max_body_bytes => (body, route),
            (Ok(_), None) => return self.respond(internal()),
            (Ok(_) | Err(BodyFailure::TooLarge), _) => return self.refuse(too_large(self.settings.max_body_bytes)),
            (Err(BodyFailure::Timeout), _) => return self.refuse(body_timeout()),
            (Err(BodyFailure::Malformed), _) => {
                return self.refuse(Rejection::invalid_request(
                    ReasonCode::MalformedRequest,
                    "the request body is not well framed",
                ));
            }
        };
        self.body = body;
        self.body_read = true;
        if route.is_runtime() {
            return self.identify();
        }
        let object = match parse_object(&self.body) {
            Ok(object) => object,
            Err(error) => return self.refuse(body_rejection(route, error)),
        };
        self.object = Some(object);
        if route != RouteId::ClientsUpdate {
            return self.decide(None);
        }
        match &self.client_id {
            Some(id) => Step::NeedClient { id: id.clone() },
            None => self.refuse(lookup_failed()),
        }
    }

    /// The answer to [`Step::NeedClient`]: the client's state, `None` when the upstream
    /// does not know the client (it answers the update with 404 itself), `Err` when it
    /// cannot be learned (the request fails closed).
    pub fn client(&mut self, answer: Result<Option<ClientState>, ()>) -> Step {
        let state = match answer {
            Ok(Some(state)) => state,
            Ok(None) => return self.decide(None),
            Err(()) => return self.refuse(lookup_failed()),
        };
        self.state = Some(state);
        let current = CurrentClient::of_state(state);
        let first = self.decision(Some(&current));
        let forwards = !matches!(first.outcome, Outcome::Reject(_));
        let needs_members = self
            .object
            .as_ref()
            .is_some_and(|object| super::rules::clients_update::needs_current_members(object, &current, self.replace));
        match (&self.client_id, forwards && needs_members) {
            (Some(id), true) => Step::NeedMembers { id: id.clone() },
            _ => self.finish(first),
        }
    }

    /// The answer to [`Step::NeedMembers`]: the current values, `None` when the upstream no
    /// longer knows the client.
    pub fn members(&mut self, answer: Result<Option<Map<String, Value>>, ()>) -> Step {
        match (answer, self.state) {
            (Ok(Some(members)), Some(state)) => self.decide(Some(&CurrentClient { state, members })),
            (Ok(_), _) => self.decide(None),
            (Err(()), _) => self.refuse(lookup_failed()),
        }
    }

    /// The answer to [`Step::NeedClientMode`]: what is known of the client; `None` when the
    /// gateway cannot place it (`policy.unknown_client`); `Err` when it could not find out
    /// (the lookup failed or was not sent, past the tenant's budget, or the registry could
    /// not be read and there is no lookup to make).
    ///
    /// Such a client may be strict, and an outsider can cause the failure (a flood of
    /// made-up ids spends the budget or runs into the Management API's rate limit), so it
    /// is not an unknown client to be let through. Nor is it refused outright, which would
    /// stop every login the registry had not yet learned: with `allow` it is held to the
    /// strict rules (as a DCR client: no `client_credentials`), so a request a strict client
    /// may make goes on, recorded as `client_lookup_failed`; with `deny`, 503.
    pub fn runtime_client(&mut self, answer: Result<Option<RuntimeClient>, ()>) -> Step {
        let (Some(route), Some(request)) = (self.route, self.runtime.take()) else { return self.respond(internal()) };
        let client = match answer {
            Ok(client) => client,
            Err(()) if self.settings.unknown_client == UnknownClient::Deny => return self.refuse(lookup_failed()),
            Err(()) => {
                let strict = ClientState { is_first_party: false, mode: Some(SecurityMode::Strict) };
                let held = rules::runtime::decide(
                    route,
                    &request,
                    Some(RuntimeClient { state: strict, dcr: true }),
                    &self.settings,
                );
                let decision = match held.outcome {
                    Outcome::Reject(mut rejection) => {
                        rejection.message.push_str(
                            " (the gateway could not learn this client's mode just now, and holds it to the strict rules meanwhile)",
                        );
                        Decision::reject(rejection)
                    }
                    _ => Decision::forward(ReasonCode::ClientLookupFailed),
                };
                return self.finish(decision);
            }
        };
        let decision = rules::runtime::decide(route, &request, client, &self.settings);
        self.finish(decision)
    }

    /// SPEC §13: the runtime request read from the head and the body, and its client.
    fn identify(&mut self) -> Step {
        let (Some(route), Some(head)) = (self.route, &self.runtime_head) else { return self.respond(internal()) };
        match runtime::read(route, head, &self.body) {
            Err(rejection) => self.refuse(rejection),
            Ok((request, client_id)) => match client_id {
                Some(id) => {
                    let dcr_matters =
                        route == RouteId::Token && request.params.get("grant_type") == Some("client_credentials");
                    self.runtime = Some(request);
                    Step::NeedClientMode { id, dcr_matters }
                }
                // a request that names no client the gateway can read is held to
                // `policy.unknown_client` like one it cannot place
                None => {
                    let decision = rules::runtime::decide(route, &request, None, &self.settings);
                    let decision = match decision.outcome {
                        Outcome::Forward => Decision::forward(ReasonCode::NoClientId),
                        _ => decision,
                    };
                    self.finish(decision)
                }
            },
        }
    }

    /// The driver could not answer a need at all (a state it never expects): 500 (in shadow
    /// mode, recorded only: the body may already have streamed upstream).
    pub fn internal_error(&mut self) -> Step {
        self.refuse(internal())
    }

    /// The `route` metric label.
    pub fn route_label(&self) -> &'static str {
        self.target.as_ref().map_or("refused", Classification::route_label)
    }

    /// The error dialect of the gateway's answers to this request.
    pub fn api(&self) -> Api {
        match self.target.as_ref().map_or(Api::Management, Classification::api) {
            Api::Authorize { .. } => Api::Authorize { json: self.wants_json },
            api => api,
        }
    }

    /// The tenant host the request names.
    pub fn host(&self) -> Option<&str> {
        self.target.as_ref().and_then(|target| target.host.as_deref())
    }

    /// The tenant, once looked up.
    pub fn tenant_policy(&self) -> Option<&Arc<TenantPolicy>> {
        self.tenant.as_ref()
    }

    pub fn shadow(&self) -> bool {
        self.shadow
    }

    /// SPEC §2 tenants, §3 limits, §4 enforcement: what to do before any body byte is read.
    fn plan(&mut self) -> Step {
        let Some(target) = &self.target else { return passthrough() };
        let verdict = match &target.route {
            RouteMatch::Passthrough => return passthrough(),
            RouteMatch::Refused(rejection) => Err(rejection.clone()),
            RouteMatch::Intercepted(route) => self.head_check.clone().map(|()| *route),
        };
        let Some(tenant) = self.tenant.clone() else {
            // SPEC §2: an unknown tenant is answered 404 before any head check; only a
            // target refused on every route keeps its own refusal
            return match (self.settings.unknown_tenant, &target.route) {
                (UnknownTenant::Passthrough, _) => passthrough(),
                (UnknownTenant::Reject, RouteMatch::Refused(rejection)) => {
                    let rejection = rejection.clone();
                    self.respond(rejection)
                }
                (UnknownTenant::Reject, _) => self.respond(Rejection::new(
                    404,
                    ErrorCode::UnknownTenant,
                    ReasonCode::UnknownTenant,
                    "no tenant is configured for this host; check the host name",
                )),
            };
        };
        self.shadow = tenant.enforcement == Enforcement::Shadow;
        match (tenant.enforcement, verdict) {
            (Enforcement::Off, _) => passthrough(),
            (_, Err(rejection)) => self.refuse(rejection),
            (_, Ok(route)) => {
                self.route = Some(route);
                if route == RouteId::DcrRegister && !needs_token(route, &tenant) {
                    Step::NeedAllowance { tenant: tenant.id.clone(), rate: tenant.dcr_rate }
                } else if route.is_runtime() && !self.body_follows {
                    self.identify()
                } else {
                    self.after_allowance(route, &tenant)
                }
            }
        }
    }

    fn after_allowance(&self, route: RouteId, tenant: &TenantPolicy) -> Step {
        if needs_token(route, tenant) {
            Step::NeedToken { route, scope: route.required_scope() }
        } else {
            self.need_body()
        }
    }

    fn need_body(&self) -> Step {
        Step::NeedBody { limit: self.settings.max_body_bytes, observe: self.shadow }
    }

    fn decision(&self, current: Option<&CurrentClient>) -> Decision {
        match (self.route, self.tenant.as_deref(), &self.object) {
            (Some(route), Some(tenant), Some(object)) => {
                decide_object(route, object, tenant, &self.settings, self.today, current, self.replace)
            }
            _ => Decision::reject(internal()),
        }
    }

    fn decide(&mut self, current: Option<&CurrentClient>) -> Step {
        let decision = self.decision(current);
        self.finish(decision)
    }

    /// The body's decision, applied (or, in shadow mode, recorded). The body and its parsed
    /// tree are dropped: the pipeline lives on in the request's context until it ends.
    fn finish(&mut self, decision: Decision) -> Step {
        let record = Record::of_decision(&decision, self.shadow);
        self.object = None;
        if self.shadow {
            self.body = Vec::new();
            return Step::Forward { body: UpstreamBody::Untouched, record: Some(record), creation: None };
        }
        let creation = self
            .route
            .filter(|route| matches!(route, RouteId::ClientsCreate | RouteId::DcrRegister))
            .map(|route| Creation { route, effective_mode: decision.effective_mode });
        let body = std::mem::take(&mut self.body);
        match decision.outcome {
            Outcome::Reject(rejection) => Step::Respond { rejection, record, body_read: true },
            Outcome::Forward if !self.body_read => {
                Step::Forward { body: UpstreamBody::Untouched, record: Some(record), creation }
            }
            Outcome::Forward => Step::Forward { body: UpstreamBody::Decided(body), record: Some(record), creation },
            Outcome::Inject(injection) => {
                Step::Forward { body: UpstreamBody::Decided(injection.apply(&body)), record: Some(record), creation }
            }
        }
    }

    /// A refusal that shadow mode only records.
    fn refuse(&mut self, rejection: Rejection) -> Step {
        if self.shadow {
            (self.body, self.object) = (Vec::new(), None);
            let record = Record::of_rejection(&rejection, true);
            return Step::Forward { body: UpstreamBody::Untouched, record: Some(record), creation: None };
        }
        self.respond(rejection)
    }

    fn respond(&mut self, rejection: Rejection) -> Step {
        (self.body, self.object) = (Vec::new(), None);
        let record = Record::of_rejection(&rejection, false);
        Step::Respond { rejection, record, body_read: self.body_read }
    }
}

/// What a runtime request's reading needs of the head, owned.
fn runtime_head(head: &RequestHead<'_>) -> RuntimeHead {
    // The route was matched on the normalised path, the client id is read from the raw one:
    // a dot or empty segment anywhere (`/./samlp/tpc_x`, `/samlp//tpc_x`) would let a server
    // that resolves them see another path or client than the one read here. Refused.
    let mut ambiguous = None;
    let segments: Vec<std::borrow::Cow<'_, str>> = head
        .path()
        .map(|path| {
            path.split(|b| *b == b'/')
                .skip(1)
                .map(|s| percent_encoding::percent_decode(s).decode_utf8_lossy())
                .collect()
        })
        .unwrap_or_default();
    let last = segments.len().saturating_sub(1);
    let dotted = |(at, s): (usize, &std::borrow::Cow<'_, str>)| s == "." || s == ".." || (s.is_empty() && at < last);
    if segments.iter().enumerate().any(dotted) {
        ambiguous = Some("dot or empty segments in the path name it two ways; send the plain path");
    }
    // `/authorize%3Fclient_id=…`: a router that decodes before splitting reads a query there
    if segments.iter().any(|s| s.contains(['?', '#'])) {
        ambiguous = Some("an encoded `?` or `#` in the path reads as a query to some servers; send the plain path");
    }
    // the segment after `/samlp/` or `/wsfed/`, decoded, its case kept (client ids are
    // case-sensitive)
    let path_client_id = match segments.as_slice() {
        [first, id, ..] if first.eq_ignore_ascii_case("samlp") || first.eq_ignore_ascii_case("wsfed") => {
            (!id.is_empty()).then(|| id.clone().into_owned())
        }
        _ => None,
    };
    if head.headers.get_all(http::header::AUTHORIZATION).iter().count() > 1 {
        ambiguous = Some("two Authorization headers: servers read different ones; send one");
    }
    let json_body = head
        .headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(super::is_json_media_type);
    RuntimeHead {
        query: super::route::query_of(head.target).map(<[u8]>::to_vec),
        authorization: head.headers.get(http::header::AUTHORIZATION).map(|v| v.as_bytes().to_vec()),
        json_body,
        path_client_id,
        ambiguous,
    }
}

fn passthrough() -> Step {
    Step::Forward { body: UpstreamBody::Untouched, record: None, creation: None }
}

/// A request held in memory, run through the pipeline with every need answered from the
/// inputs: `modegate decide`, the tests and the benchmarks. Tokens are taken as valid.
pub struct Evaluation {
    pub route: &'static str,
    pub api: Api,
    pub tenant: Option<String>,
    pub shadow: bool,
    /// `Respond` or `Forward`.
    pub end: Step,
}

/// `tenants` finds a tenant by host; `current_client` stands in for the lookups the proxy
/// makes on `clients_update` (`None`: the upstream does not know the client).
pub fn evaluate(
    head: &RequestHead<'_>,
    body: &[u8],
    settings: Arc<PolicySettings>,
    tenants: impl Fn(&str) -> Option<Arc<TenantPolicy>>,
    today: Date,
    current_client: Option<CurrentClient>,
) -> Evaluation {
    let (mut pipeline, mut step) = Pipeline::start(head, settings, today);
    let end = loop {
        step = match step {
            Step::NeedTenant { host } => pipeline.tenant(Ok(tenants(&host))),
            Step::NeedAllowance { .. } => pipeline.allowance(Ok(())),
            Step::NeedToken { .. } => pipeline.token(Ok(())),
            Step::NeedBody { limit, .. } if body.len() > limit => pipeline.body(Err(BodyFailure::TooLarge)),
            Step::NeedBody { .. } => pipeline.body(Ok(body.to_vec())),
            Step::NeedClient { .. } => pipeline.client(Ok(current_client.as_ref().map(|c| c.state))),
            Step::NeedMembers { .. } => pipeline.members(Ok(current_client.as_ref().map(|c| c.members.clone()))),
            Step::NeedClientMode { id, .. } => {
                // the `tpc_` prefix, or `current_client` (as the registry would answer);
                // otherwise a client the gateway cannot place
                let state = ClientState::from_client_id(&id).or_else(|| current_client.as_ref().map(|c| c.state));
                pipeline.runtime_client(Ok(state.map(|state| RuntimeClient { state, dcr: false })))
            }
            end @ (Step::Respond { .. } | Step::Forward { .. }) => break end,
        };
    };
    Evaluation {
        route: pipeline.route_label(),
        api: pipeline.api(),
        tenant: pipeline.tenant.as_ref().map(|t| t.id.clone()),
        shadow: pipeline.shadow,
        end,
    }
}
