//! The policy core: facts in, decision out.
//!
//! This module and its children must not name `pingora`, `tokio`, `moka` or do I/O (CI
//! greps for it). The proxy, `modegate decide`, the tests and the benchmarks all drive the
//! same [`Pipeline`]: a request's steps as a value, each answering what it needs next
//! (tenant, token, body, client) or how the request ends. Its parts:
//!
//! 1. [`classify`]: the request's host and route, from the head alone (SPEC §2, §16);
//! 2. the plan (in [`pipeline`]): with the tenant looked up, whether to pass through,
//!    refuse from the head (size, media type, tenant), or read the body (SPEC §3);
//! 3. [`decide`]: with the whole body, the rule of the route (SPEC §4, §5).
//!
//! [`evaluate`] drives the pipeline for a request held in memory.

pub mod body;
pub mod client;
pub mod decision;
pub mod fold;
pub mod hardening;
pub mod host;
pub mod inputs;
pub mod members;
pub mod pipeline;
pub mod reason;
pub mod route;
pub mod route_id;
pub mod rules;
pub mod runtime;
pub mod strict_profile;
pub mod wire;

use http::HeaderMap;
use time::Date;

pub use body::{BodyError, JsonObject, parse_object};
pub use client::{COMBINED_MEMBERS, ClientState, CurrentClient};
pub use decision::{Decision, Injection, Outcome, Patch, Rejection, SecurityMode};
pub use members::GovernedNames;
pub use pipeline::{BodyFailure, Creation, Evaluation, Pipeline, Record, Step, TenantFailure, UpstreamBody, evaluate};
pub use reason::{ErrorCode, ReasonCode};
pub use route::{MethodHints, RouteMatch, RouteTable};
pub use route_id::{Api, RouteId};
pub use rules::Facts;
pub use strict_profile::{ForbiddenMember, StrictProfile};

use inputs::{DcrAccess, PolicySettings, TenantPolicy};

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
    /// The protocol version: an HTTP/1.1 request must carry `Host` (RFC 9112 §3.2).
    pub version: http::Version,
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

/// Whether the route needs a verified bearer token (SPEC §6): every intercepted Management
/// API route, and DCR where the tenant sets `dcr_access = "token"`.
pub fn needs_token(route: RouteId, tenant: &TenantPolicy) -> bool {
    route.api() == Api::Management || (route == RouteId::DcrRegister && tenant.dcr_access == DcrAccess::Token)
}

/// The bodies a route reads (SPEC §3, §13).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BodyKind {
    Json,
    Form,
    FormOrJson,
}

impl BodyKind {
    /// What `route` reads: JSON on the body routes, forms on `/authorize`, either on
    /// `/oauth/token` (Auth0 takes JSON there, and its SDKs send it) and the legacy routes.
    pub(crate) fn of(route: RouteId) -> Self {
        match route {
            RouteId::Authorize => BodyKind::Form,
            RouteId::Token | RouteId::Legacy => BodyKind::FormOrJson,
            _ => BodyKind::Json,
        }
    }

    fn accepts(self, content_type: &str) -> bool {
        match self {
            BodyKind::Json => is_json_media_type(content_type),
            BodyKind::Form => is_form_media_type(content_type),
            BodyKind::FormOrJson => is_json_media_type(content_type) || is_form_media_type(content_type),
        }
    }

    fn expected(self) -> &'static str {
        match self {
            BodyKind::Json => "send the body as `Content-Type: application/json`",
            BodyKind::Form => "send the body as `Content-Type: application/x-www-form-urlencoded`",
            BodyKind::FormOrJson => "send the body as a form (`application/x-www-form-urlencoded`) or JSON",
        }
    }
}

/// `application/x-www-form-urlencoded`, any case, UTF-8 or no charset.
fn is_form_media_type(value: &str) -> bool {
    let mut parts = value.split(';');
    let essence = parts.next().unwrap_or_default().trim();
    essence.eq_ignore_ascii_case("application/x-www-form-urlencoded")
        && parts.all(|param| match param.split_once('=') {
            Some((name, value)) if name.trim().eq_ignore_ascii_case("charset") => {
                let value = value.trim().trim_matches('"');
                value.eq_ignore_ascii_case("utf-8") || value.eq_ignore_ascii_case("utf8")
            }
            _ => true,
        })
}

/// SPEC §3 checks that need only the head, for a route reading `kind` bodies: framing,
/// media type, encoding, declared size.
pub(crate) fn check_body_head(head: &RequestHead<'_>, max_body_bytes: usize, kind: BodyKind) -> Result<(), Rejection> {
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
        (Some(value), None) => value.to_str().is_ok_and(|value| kind.accepts(value)),
        _ => false,
    };
    if !json {
        return Err(unsupported(ReasonCode::UnsupportedMediaType, kind.expected()));
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
pub(crate) fn is_json_media_type(value: &str) -> bool {
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

/// 500: the gateway failed itself.
pub fn internal() -> Rejection {
    Rejection::new(500, ErrorCode::Internal, ReasonCode::Internal, "the gateway failed to handle the request")
}

/// SPEC §3: a body that is not one strict JSON object.
pub fn body_rejection(route: RouteId, error: BodyError) -> Rejection {
    let reason = match error {
        BodyError::Duplicate(_) => ReasonCode::DuplicateMember,
        BodyError::TooDeep => ReasonCode::TooDeep,
        BodyError::NotAnObject(_) => ReasonCode::NotAnObject,
        _ => ReasonCode::InvalidJson,
    };
    let code = if route == RouteId::DcrRegister { ErrorCode::InvalidClientMetadata } else { ErrorCode::InvalidBody };
    Rejection::new(400, code, reason, error.to_string())
}

/// The rule of `route` applied to a whole body (SPEC §3–§5). `current_client` is what is
/// known of the client a `clients_update` changes (`None`: the upstream does not know it);
/// `replace`: the update is a `PUT`. An `Inject` decision carries where to splice, so
/// [`Decision::upstream_body`] needs only the original bytes.
pub fn decide(
    route: RouteId,
    raw: &[u8],
    tenant: &TenantPolicy,
    settings: &PolicySettings,
    today: Date,
    current_client: Option<&CurrentClient>,
    replace: bool,
) -> Decision {
    match parse_object(raw) {
        Ok(object) => decide_object(route, &object, tenant, settings, today, current_client, replace),
        Err(error) => Decision::reject(body_rejection(route, error)),
    }
}

/// [`decide`] on a body already parsed.
pub(crate) fn decide_object(
    route: RouteId,
    object: &JsonObject,
    tenant: &TenantPolicy,
    settings: &PolicySettings,
    today: Date,
    current_client: Option<&CurrentClient>,
    replace: bool,
) -> Decision {
    let facts = Facts {
        tenant,
        today,
        eligibility_cutoff: settings.eligibility_cutoff,
        strict_default_from: settings.strict_default_from,
        strict_profile: &settings.strict_profile,
    };
    let mut decision = match (settings.governed.check(&object.members), route) {
        (Err(rejection), _) => Decision::reject(rejection),
        (Ok(()), route) => decide_rule(route, object, &facts, current_client, replace),
    };
    // SPEC §15: the record keeps the mode the request asked for, on rejections too
    if decision.requested_mode.is_none() {
        let member = match route {
            RouteId::TenantSettingsUpdate => "dynamic_client_registration_security_mode",
            _ => rules::clients_create::MODE,
        };
        decision.requested_mode = object.get(member).and_then(|v| v.as_str()).and_then(SecurityMode::from_wire);
    }
    decision
}

fn decide_rule(
    route: RouteId,
    object: &JsonObject,
    facts: &Facts<'_>,
    current_client: Option<&CurrentClient>,
    replace: bool,
) -> Decision {
    match route {
        RouteId::ClientsCreate => rules::clients_create::decide(object, facts),
        RouteId::TenantSettingsUpdate => rules::tenant_settings::decide(object, facts),
        RouteId::ClientGrantsCreate => rules::client_grants::decide(object, facts),
        RouteId::DcrRegister => rules::dcr_register::decide(object, facts),
        RouteId::ClientsUpdate => rules::clients_update::decide(object, facts, current_client, replace),
        // runtime routes are decided from their parameters (`rules::runtime`), never as JSON
        RouteId::Authorize | RouteId::Token | RouteId::Legacy => Decision::reject(internal()),
    }
}

#[cfg(test)]
mod tests;
