//! The policy core: facts in, decision out.
//!
//! This module and its children must not name `pingora`, `tokio`, `moka` or do I/O (CI
//! greps for it). The proxy, `modegate decide`, the tests and the benchmarks all call the
//! same three steps, in this order:
//!
//! 1. [`classify`]: the request's host and route, from the head alone (SPEC §2);
//! 2. [`plan`]: with the tenant looked up, whether to pass through, refuse from the
//!    head (size, media type, tenant), or read the body (SPEC §3);
//! 3. [`decide`]: with the whole body, the rule of the route (SPEC §4, §5).
//!
//! [`evaluate`] runs all three for a request held in memory.

pub mod body;
pub mod client;
pub mod decision;
pub mod fold;
pub mod hardening;
pub mod host;
pub mod inputs;
pub mod members;
pub mod reason;
pub mod route;
pub mod route_id;
pub mod rules;
pub mod strict_profile;
pub mod wire;

use http::HeaderMap;
use time::Date;

pub use body::{BodyError, JsonObject, parse_object};
pub use client::{COMBINED_MEMBERS, ClientState, CurrentClient};
pub use decision::{Decision, Outcome, Patch, Rejection, SecurityMode};
pub use members::GovernedNames;
pub use reason::{ErrorCode, ReasonCode};
pub use route::{MethodHints, RouteMatch, RouteTable};
pub use route_id::{Api, RouteId};
pub use rules::Facts;
pub use strict_profile::{ForbiddenMember, StrictProfile};

use inputs::{DcrAccess, Enforcement, PolicySettings, TenantPolicy, UnknownTenant};

/// The parts of a request head the policy reads.
#[derive(Debug, Clone, Copy)]
pub struct RequestHead<'a> {
    pub method: &'a str,
    /// The request target exactly as received (and as forwarded).
    pub target: &'a [u8],
    /// The `:authority` of an HTTP/2 request; `None` in HTTP/1, where an absolute-form
    /// target carries its authority in `target`.
    pub authority: Option<&'a str>,
    pub headers: &'a HeaderMap,
    /// The framing says a body follows: a `Content-Length` above 0, chunked, or an HTTP/2
    /// `HEADERS` frame without `END_STREAM` (which no header shows).
    pub body_follows: bool,
}

impl<'a> RequestHead<'a> {
    /// The request path (no query) as received, for origin- and absolute-form targets.
    pub fn path(&self) -> Option<&'a [u8]> {
        match route::target_form(self.target) {
            route::TargetForm::Origin { path } | route::TargetForm::Absolute { path, .. } => Some(path),
            route::TargetForm::Asterisk | route::TargetForm::Other => None,
        }
    }
}

/// Step 1 output: the tenant host and the route.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Classification {
    pub host: Option<String>,
    pub route: RouteMatch,
}

impl Classification {
    /// The `route` metric label.
    pub fn route_label(&self) -> &'static str {
        match &self.route {
            RouteMatch::Passthrough => "passthrough",
            RouteMatch::Intercepted(route) => route.as_str(),
            RouteMatch::Refused(_) => "refused",
        }
    }

    /// The error dialect of the answer: RFC 7591 on DCR routes, Management elsewhere.
    pub fn api(&self) -> Api {
        match self.route {
            RouteMatch::Intercepted(route) => route.api(),
            _ => Api::Management,
        }
    }
}

/// Longest request path (the query excluded) the gateway reads: no API has a longer one,
/// and reading a path's generous readings costs time in its length (SPEC §11: hostile input
/// costs its sender, not the gateway).
pub const MAX_PATH_BYTES: usize = 8 * 1024;

/// Step 1 (SPEC §2, §16). `Err` is an ambiguous host, a target in no usable form, or a
/// head that another server would read differently, refused on every route.
pub fn classify(head: &RequestHead<'_>, routes: &RouteTable) -> Result<Classification, Rejection> {
    let (authority, path): (Option<&str>, &[u8]) = match route::target_form(head.target) {
        // SPEC §16: WHATWG URL parsers (Node's `new URL`) read `//host/path` as an authority,
        // and `\` as `/` in http(s) URLs, so `/\host/path` too
        route::TargetForm::Origin { path } if matches!(path.get(1), Some(b'/' | b'\\')) => {
            return Err(Rejection::invalid_request(
                ReasonCode::AmbiguousPath,
                "the request target starts with `//` or `/\\`, which some servers read as a host name; send a single `/`",
            ));
        }
        route::TargetForm::Origin { path } => (head.authority, path),
        route::TargetForm::Absolute { authority, path } => (Some(authority), path),
        route::TargetForm::Asterisk => (head.authority, b"*"),
        route::TargetForm::Other => {
            return Err(Rejection::invalid_request(
                ReasonCode::AmbiguousPath,
                "the request target is neither a path nor an http(s) URL; send an origin-form target such as `/api/v2/clients`",
            ));
        }
    };
    if path.len() > MAX_PATH_BYTES {
        return Err(Rejection::new(
            414,
            ErrorCode::InvalidRequest,
            ReasonCode::PathTooLong,
            format!("the request path is longer than {MAX_PATH_BYTES} bytes"),
        ));
    }
    let host = host::request_host(authority, head.headers)?;
    hardening::check_head(head, path, routes)?;
    let hints = MethodHints {
        override_header: hardening::has_method_override(head.headers),
        query: route::query_of(head.target),
    };
    let route = routes.classify(head.method, path, hints);
    Ok(Classification { host, route })
}

/// Step 2 output: what to do before any body byte is read.
#[derive(Debug, Clone, PartialEq)]
pub enum Plan {
    /// Proxy untouched: not intercepted, an `off` tenant, or an unknown tenant let through.
    Passthrough,
    /// Answer now; the upstream sees nothing.
    Reject(Rejection),
    /// Shadow mode: log this would-be rejection and proxy untouched.
    ShadowReject(Rejection),
    /// Read the whole body, then [`decide`]. In shadow mode the body is observed as it
    /// streams and the decision is only logged.
    ReadBody { route: RouteId, shadow: bool },
}

/// Step 2 (SPEC §2 tenants, §3 limits, §4 enforcement).
pub fn plan(
    head: &RequestHead<'_>,
    target: &Classification,
    tenant: Option<&TenantPolicy>,
    settings: &PolicySettings,
) -> Plan {
    let route = match &target.route {
        RouteMatch::Passthrough => return Plan::Passthrough,
        RouteMatch::Intercepted(route) => Some(*route),
        RouteMatch::Refused(_) => None,
    };
    let Some(tenant) = tenant else {
        return match settings.unknown_tenant {
            UnknownTenant::Passthrough => Plan::Passthrough,
            UnknownTenant::Reject => match &target.route {
                RouteMatch::Refused(rejection) => Plan::Reject(rejection.clone()),
                _ => Plan::Reject(Rejection::new(
                    404,
                    ErrorCode::UnknownTenant,
                    ReasonCode::UnknownTenant,
                    "no tenant is configured for this host; check the host name",
                )),
            },
        };
    };
    let verdict = match (&target.route, route) {
        (RouteMatch::Refused(rejection), _) => Err(rejection.clone()),
        (_, Some(route)) => check_head(head, settings.max_body_bytes).map(|()| route),
        (_, None) => return Plan::Passthrough,
    };
    match (tenant.enforcement, verdict) {
        (Enforcement::Off, _) => Plan::Passthrough,
        (Enforcement::Enforce, Err(rejection)) => Plan::Reject(rejection),
        (Enforcement::Shadow, Err(rejection)) => Plan::ShadowReject(rejection),
        (enforcement, Ok(route)) => Plan::ReadBody { route, shadow: enforcement == Enforcement::Shadow },
    }
}

/// Whether the route needs a verified bearer token (SPEC §6): every intercepted Management
/// API route, and DCR where the tenant sets `dcr_access = "token"`.
pub fn needs_token(route: RouteId, tenant: &TenantPolicy) -> bool {
    route.api() == Api::Management || tenant.dcr_access == DcrAccess::Token
}

/// SPEC §3 checks that need only the head: framing, media type, encoding, declared size.
fn check_head(head: &RequestHead<'_>, max_body_bytes: usize) -> Result<(), Rejection> {
    let headers = head.headers;
    if headers.contains_key(http::header::TRANSFER_ENCODING) && headers.contains_key(http::header::CONTENT_LENGTH) {
        return Err(Rejection::invalid_request(
            ReasonCode::AmbiguousFraming,
            "the request has both Content-Length and Transfer-Encoding; send one",
        ));
    }
    let unsupported = |reason, message: &str| Rejection::new(415, ErrorCode::UnsupportedMediaType, reason, message);
    let mut types = headers.get_all(http::header::CONTENT_TYPE).iter();
    let json = match (types.next(), types.next()) {
        (Some(value), None) => value.to_str().is_ok_and(is_json_media_type),
        _ => false,
    };
    if !json {
        return Err(unsupported(ReasonCode::UnsupportedMediaType, "send the body as `Content-Type: application/json`"));
    }
    for value in headers.get_all(http::header::CONTENT_ENCODING) {
        let identity = value
            .to_str()
            .is_ok_and(|text| text.split(',').all(|coding| coding.trim().eq_ignore_ascii_case("identity")));
        if !identity {
            return Err(unsupported(ReasonCode::UnsupportedEncoding, "send the body without Content-Encoding"));
        }
    }
    let mut lengths = headers.get_all(http::header::CONTENT_LENGTH).iter();
    if let Some(value) = lengths.next() {
        let declared = value.to_str().ok().and_then(|text| text.trim().parse::<u64>().ok());
        let Some(declared) = declared.filter(|_| lengths.next().is_none()) else {
            return Err(Rejection::invalid_request(
                ReasonCode::AmbiguousFraming,
                "the Content-Length header is not one number",
            ));
        };
        if declared > max_body_bytes as u64 {
            return Err(too_large(max_body_bytes));
        }
    }
    Ok(())
}

/// 413, SPEC §3.
pub fn too_large(max_body_bytes: usize) -> Rejection {
    Rejection::new(
        413,
        ErrorCode::PayloadTooLarge,
        ReasonCode::PayloadTooLarge,
        format!("the body is larger than {max_body_bytes} bytes"),
    )
}

/// 408, SPEC §11.
pub fn body_timeout() -> Rejection {
    Rejection::new(408, ErrorCode::RequestTimeout, ReasonCode::BodyTimeout, "the request body did not arrive in time")
}

/// `application/json`, any case, parameters allowed; a charset other than UTF-8 is not
/// JSON as the rules read it.
fn is_json_media_type(value: &str) -> bool {
    let mut parts = value.split(';');
    let essence = parts.next().unwrap_or_default().trim();
    if !essence.eq_ignore_ascii_case("application/json") {
        return false;
    }
    parts.all(|param| match param.split_once('=') {
        Some((name, value)) if name.trim().eq_ignore_ascii_case("charset") => {
            let value = value.trim().trim_matches('"');
            value.eq_ignore_ascii_case("utf-8") || value.eq_ignore_ascii_case("utf8")
        }
        _ => true,
    })
}

/// Step 3: the rule of `route` applied to the whole body. `current_client` is what is known
/// of the client a `clients_update` changes (`None`: the upstream does not know it);
/// `replace`: the update is a `PUT`.
pub fn decide(
    route: RouteId,
    raw: &[u8],
    tenant: &TenantPolicy,
    settings: &PolicySettings,
    today: Date,
    current_client: Option<&CurrentClient>,
    replace: bool,
) -> (Decision, Option<JsonObject>) {
    let object = match parse_object(raw) {
        Ok(object) => object,
        Err(error) => {
            let reason = match error {
                BodyError::Duplicate(_) => ReasonCode::DuplicateMember,
                BodyError::TooDeep => ReasonCode::TooDeep,
                BodyError::NotAnObject(_) => ReasonCode::NotAnObject,
                _ => ReasonCode::InvalidJson,
            };
            let code =
                if route == RouteId::DcrRegister { ErrorCode::InvalidClientMetadata } else { ErrorCode::InvalidBody };
            return (Decision::reject(Rejection::new(400, code, reason, error.to_string())), None);
        }
    };
    if let Err(rejection) = settings.governed.check(&object.members) {
        return (Decision::reject(rejection), None);
    }
    let facts = Facts {
        tenant,
        today,
        eligibility_cutoff: settings.eligibility_cutoff,
        strict_default_from: settings.strict_default_from,
        strict_profile: &settings.strict_profile,
    };
    let mut decision = match route {
        RouteId::ClientsCreate => rules::clients_create::decide(&object, &facts),
        RouteId::TenantSettingsUpdate => rules::tenant_settings::decide(&object, &facts),
        RouteId::ClientGrantsCreate => rules::client_grants::decide(&object, &facts),
        RouteId::DcrRegister => rules::dcr_register::decide(&object, &facts),
        RouteId::ClientsUpdate => rules::clients_update::decide(&object, &facts, current_client, replace),
    };
    // SPEC §15: the record keeps the mode the request asked for, on rejections too
    if decision.requested_mode.is_none() {
        let member = match route {
            RouteId::TenantSettingsUpdate => "dynamic_client_registration_security_mode",
            _ => rules::clients_create::MODE,
        };
        decision.requested_mode = object.get(member).and_then(|v| v.as_str()).and_then(SecurityMode::from_wire);
    }
    (decision, Some(object))
}

/// The whole pipeline for a request held in memory (`modegate decide`, tests, benches).
#[derive(Debug, Clone, PartialEq)]
pub struct Evaluation {
    pub target: Option<Classification>,
    pub tenant: Option<String>,
    /// What happens to the request.
    pub verdict: Verdict,
    pub shadow: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    /// Proxied untouched, no rule applies.
    Passthrough,
    /// Refused from the head (or its shadow would-be refusal).
    HeadReject(Rejection),
    /// A body decision, with the bytes the upstream would receive (`None` on reject).
    Decided { decision: Decision, upstream_body: Option<Vec<u8>> },
}

/// `tenants` finds a tenant by host (the inline list, a table in tests); `current_client`
/// stands in for the lookup the proxy would make on `clients_update`.
pub fn evaluate<'t>(
    head: &RequestHead<'_>,
    body: &[u8],
    settings: &PolicySettings,
    tenants: impl Fn(&str) -> Option<&'t TenantPolicy>,
    today: Date,
    current_client: Option<CurrentClient>,
) -> Evaluation {
    let target = match classify(head, &settings.routes) {
        Ok(target) => target,
        Err(rejection) => {
            return Evaluation { target: None, tenant: None, verdict: Verdict::HeadReject(rejection), shadow: false };
        }
    };
    let tenant = target.host.as_deref().and_then(tenants);
    let tenant_id = tenant.map(|t| t.id.clone());
    let (verdict, shadow) = match plan(head, &target, tenant, settings) {
        Plan::Passthrough => (Verdict::Passthrough, false),
        Plan::Reject(rejection) => (Verdict::HeadReject(rejection), false),
        Plan::ShadowReject(rejection) => (Verdict::HeadReject(rejection), true),
        Plan::ReadBody { route, shadow } => match tenant {
            Some(tenant) if body.len() <= settings.max_body_bytes => {
                let replace = head.method.eq_ignore_ascii_case("PUT");
                let (decision, object) = decide(route, body, tenant, settings, today, current_client.as_ref(), replace);
                let upstream_body = decision.upstream_body(body, object.as_ref()).map(|b| b.into_owned());
                (Verdict::Decided { decision, upstream_body }, shadow)
            }
            _ => (Verdict::HeadReject(too_large(settings.max_body_bytes)), shadow),
        },
    };
    Evaluation { target: Some(target), tenant: tenant_id, verdict, shadow }
}

#[cfg(test)]
mod tests;
