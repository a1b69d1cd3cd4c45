//! The strict rules of the authorization endpoints (SPEC §13): what a strict third-party
//! client may no longer do through the gateway. Permissive and first-party clients pass
//! untouched; a client the gateway cannot place follows `policy.unknown_client`.

use crate::policy::fold::{is_ignorable, skeleton};
use crate::policy::inputs::{PolicySettings, UnknownClient};
use crate::policy::runtime::{RuntimeClient, RuntimeRequest};
use crate::policy::{Decision, ErrorCode, ReasonCode, Rejection, RouteId, SecurityMode};

/// Parameters a strict client may send to `/authorize` (besides `ext-*`).
pub const AUTHORIZE_PARAMETERS: [&str; 21] = [
    "acr_values",
    "audience",
    "authorization_details",
    "client_id",
    "code_challenge",
    "code_challenge_method",
    "connection",
    "correlation_id",
    "display",
    "dpop_jkt",
    "login_hint",
    "max_age",
    "nonce",
    "organization",
    "prompt",
    "redirect_uri",
    "resource",
    "response_type",
    "scope",
    "state",
    "ui_locales",
];

/// The OIDC scopes strict clients do without unless `policy.strict_oidc_scopes`.
pub const OIDC_SCOPES: [&str; 5] = ["openid", "profile", "email", "address", "phone"];

fn is_base64url(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_')
}

/// RFC 7636 §4.1: 43 to 128 characters of `[A-Za-z0-9-._~]`.
fn is_code_verifier(verifier: &str) -> bool {
    (43..=128).contains(&verifier.len())
        && verifier.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
}

fn refuse(code: ErrorCode, reason: ReasonCode, message: impl Into<String>) -> Rejection {
    Rejection::new(400, code, reason, message)
}

/// `client`: what the gateway knows of the named client (`None`: it cannot place it).
pub fn decide(
    route: RouteId,
    request: &RuntimeRequest,
    client: Option<RuntimeClient>,
    settings: &PolicySettings,
) -> Decision {
    let Some(client) = client else {
        return match settings.unknown_client {
            UnknownClient::Allow => Decision::forward(ReasonCode::UnknownClient),
            UnknownClient::Deny => Decision::reject(refuse(
                ErrorCode::UnauthorizedClient,
                ReasonCode::UnknownClient,
                "the gateway does not know this client",
            )),
        };
    };
    let mode = client.state.mode;
    let strict = !client.state.is_first_party && mode == Some(SecurityMode::Strict);
    if !strict {
        return Decision::forward(ReasonCode::NotStrict).with_modes(None, mode);
    }
    let verdict = match route {
        RouteId::Authorize => authorize(request, settings),
        RouteId::Token => token(request, client),
        _ => Err(refuse(
            ErrorCode::UnauthorizedClient,
            ReasonCode::EndpointNotAvailable,
            "this endpoint is not available to strict third-party applications",
        )),
    };
    match verdict {
        Ok(()) => Decision::forward(ReasonCode::StrictAllowed).with_modes(None, mode),
        Err(rejection) => Decision::reject(rejection).with_modes(None, mode),
    }
}

fn authorize(request: &RuntimeRequest, settings: &PolicySettings) -> Result<(), Rejection> {
    let params = &request.params;
    if params.get("response_type") != Some("code") {
        return Err(refuse(
            ErrorCode::UnsupportedResponseType,
            ReasonCode::UnsupportedResponseType,
            "strict applications use `response_type=code` only",
        ));
    }
    // RFC 7636 §4.2: an S256 challenge is 43 base64url characters; anything else is read
    // differently (trimmed, dropped) by some server, or is no challenge at all
    let challenge = params.get("code_challenge").is_some_and(|c| c.len() == 43 && c.bytes().all(is_base64url));
    if !challenge || params.get("code_challenge_method") != Some("S256") {
        return Err(refuse(
            ErrorCode::InvalidRequest,
            ReasonCode::PkceRequired,
            "strict applications send a `code_challenge` (43 base64url characters) with `code_challenge_method=S256`",
        ));
    }
    let allowed = |name: &str| name.starts_with("ext-") || AUTHORIZE_PARAMETERS.contains(&name);
    if let Some(name) = params.names().find(|name| !allowed(name)) {
        return Err(refuse(
            ErrorCode::InvalidRequest,
            ReasonCode::ParameterNotAllowed,
            format!("the parameter `{name}` is not available to strict applications"),
        ));
    }
    if !settings.strict_oidc_scopes
        // any white space, control, invisible character or comma separates, as the most
        // lenient server splits (JavaScript's `\s` holds U+FEFF), and a scope is compared
        // folded (`OpenID`, `ｏpenid`)
        && let Some(scope) = params.get("scope").and_then(|s| {
            s.split(|c: char| c.is_whitespace() || c.is_control() || c == ',' || is_ignorable(c))
                .find(|scope| {
                    // lowercase ASCII folds to itself: no allocation for the common case
                    if scope.bytes().all(|b| b.is_ascii_lowercase()) {
                        OIDC_SCOPES.contains(scope)
                    } else {
                        OIDC_SCOPES.contains(&skeleton(scope).as_str())
                    }
                })
        })
    {
        return Err(refuse(
            ErrorCode::InvalidScope,
            ReasonCode::OidcScopeNotSupported,
            format!("the scope `{scope}` is not available to strict applications"),
        ));
    }
    Ok(())
}

fn token(request: &RuntimeRequest, client: RuntimeClient) -> Result<(), Rejection> {
    let params = &request.params;
    match params.get("grant_type") {
        Some("authorization_code") if params.get("code_verifier").is_some_and(is_code_verifier) => Ok(()),
        Some("authorization_code") => Err(refuse(
            ErrorCode::InvalidRequest,
            ReasonCode::PkceRequired,
            "strict applications redeem codes with a `code_verifier` (43 to 128 unreserved characters)",
        )),
        Some("refresh_token") => Ok(()),
        Some("client_credentials") if request.authenticated && !client.dcr => Ok(()),
        Some("client_credentials") => Err(refuse(
            ErrorCode::UnauthorizedClient,
            ReasonCode::UnauthorizedClient,
            "client_credentials is only for strict applications that authenticate and were not registered dynamically",
        )),
        _ => Err(refuse(
            ErrorCode::UnsupportedGrantType,
            ReasonCode::UnsupportedGrantType,
            "strict applications use authorization_code (with PKCE), refresh_token or client_credentials",
        )),
    }
}
