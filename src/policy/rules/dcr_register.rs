//! `POST /oidc/register` and `routes.dcr_paths` (SPEC §4 dcr_register, RFC 7591).
//!
//! Every DCR client is third-party and gets the tenant's DCR mode. Strict registrations
//! are narrowed to the authorization-code flow and safe redirect URIs; since a legacy
//! upstream stores whatever members it is sent, a strict registration must also keep to
//! the strict profile (SPEC §5), so that Auth0-named members cannot slip in through DCR.

use serde_json::Value;

use super::{Facts, mode_member};
use crate::policy::body::JsonObject;
use crate::policy::strict_profile::{shorten, string_list};
use crate::policy::{Decision, ErrorCode, Patch, ReasonCode, Rejection, SecurityMode};

pub const MODE: &str = "third_party_security_mode";
const DCR_GRANT_TYPES: [&str; 2] = ["authorization_code", "refresh_token"];
const DCR_AUTH_METHODS: [&str; 3] = ["none", "client_secret_post", "client_secret_basic"];
const LOOPBACK_HOSTS: [&str; 3] = ["localhost", "127.0.0.1", "[::1]"];

pub fn decide(body: &JsonObject, facts: &Facts<'_>) -> Decision {
    let mode = facts.tenant.dcr_mode();
    let decision = match decide_inner(body, facts, mode) {
        Ok(decision) => decision,
        Err(rejection) => Decision::reject(as_metadata_error(rejection)),
    };
    // every DCR decision reports the tenant's mode as the effective one
    let requested = body.get(MODE).and_then(Value::as_str).and_then(SecurityMode::from_wire);
    decision.with_modes(requested, Some(mode))
}

fn decide_inner(body: &JsonObject, facts: &Facts<'_>, mode: SecurityMode) -> Result<Decision, Rejection> {
    match body.get("is_first_party") {
        None | Some(Value::Bool(false)) => {}
        Some(_) => {
            return Err(metadata(
                ReasonCode::DcrFirstParty,
                "dynamically registered clients are always third-party; remove `is_first_party`",
            ));
        }
    }
    let requested = mode_member(body, MODE)?;
    if requested.is_some_and(|requested| requested != mode) {
        return Err(metadata(
            ReasonCode::DcrModeMismatch,
            format!(
                "this tenant registers `{}` clients; remove `third_party_security_mode` or set it to `{}`",
                mode.as_str(),
                mode.as_str()
            ),
        ));
    }
    let mut patch = Patch::default();
    if requested.is_none() && facts.tenant.inject_dcr_mode {
        patch.push(MODE, Value::from(mode.as_str()));
    }
    if mode == SecurityMode::Strict {
        check_strict(body, facts, &mut patch)?;
    }
    let inject_reason = if requested.is_none() && facts.tenant.inject_dcr_mode {
        ReasonCode::ModeInjected
    } else {
        ReasonCode::StrictDefaultsInjected
    };
    Ok(Decision::forward_or_inject(body, patch, ReasonCode::DcrAllowed, inject_reason))
}

fn check_strict(body: &JsonObject, facts: &Facts<'_>, patch: &mut Patch) -> Result<(), Rejection> {
    // SPEC §4: always, whatever `allow_strict_dcr_without_defaults` says (it lets an
    // operator *set* strict DCR on tenant settings; registrations stay closed)
    if !facts.tenant.has_default_api_permissions {
        return Err(Rejection::new(
            403,
            ErrorCode::AccessDenied,
            ReasonCode::StrictDcrWithoutDefaults,
            "registration is closed: this tenant registers strict clients, which can reach no API until default API permissions are configured; ask the tenant owner to configure them first",
        ));
    }
    match body.get("grant_types") {
        None => patch.push("grant_types", Value::from(vec!["authorization_code"])),
        Some(value) => {
            let grants = string_list("grant_types", value)?;
            if grants.is_empty() {
                return Err(metadata(
                    ReasonCode::DcrGrantTypes,
                    "`grant_types` is empty; list `authorization_code` (and `refresh_token`) or omit it",
                ));
            }
            if let Some(grant) = grants.iter().find(|g| !DCR_GRANT_TYPES.contains(g)) {
                return Err(metadata(
                    ReasonCode::DcrGrantTypes,
                    format!(
                        "grant type `{}` is not available to strict registrations; use `authorization_code` and `refresh_token`",
                        shorten(grant)
                    ),
                ));
            }
        }
    }
    match body.get("response_types") {
        None => patch.push("response_types", Value::from(vec!["code"])),
        Some(value) => {
            let types = string_list("response_types", value)?;
            if types != ["code"] {
                return Err(metadata(
                    ReasonCode::DcrResponseTypes,
                    "`response_types` must be exactly [\"code\"] for strict registrations",
                ));
            }
        }
    }
    if let Some(value) = body.get("token_endpoint_auth_method")
        && !value.as_str().is_some_and(|m| DCR_AUTH_METHODS.contains(&m))
    {
        {
            return Err(metadata(
                ReasonCode::DcrAuthMethod,
                format!("`token_endpoint_auth_method` must be one of {}", DCR_AUTH_METHODS.join(", ")),
            ));
        }
    }
    check_redirect_uris(body)?;
    facts.strict_profile.check(body)
}

fn check_redirect_uris(body: &JsonObject) -> Result<(), Rejection> {
    let Some(value) = body.get("redirect_uris") else {
        return Err(redirect_error("`redirect_uris` is required: list the client's callback URLs"));
    };
    let uris = string_list("redirect_uris", value)
        .map_err(|_| redirect_error("`redirect_uris` must be an array of strings"))?;
    if uris.is_empty() {
        return Err(redirect_error("`redirect_uris` must list at least one URL"));
    }
    for uri in uris {
        if let Err(why) = check_redirect_uri(uri) {
            return Err(redirect_error(format!("redirect URI `{}` {why}", shorten(uri))));
        }
    }
    Ok(())
}

/// RFC 8252 / OAuth 2.1 rules: https, loopback http, or a private-use scheme with a dot.
pub fn check_redirect_uri(uri: &str) -> Result<(), &'static str> {
    if uri.contains('*') {
        return Err("contains a `*` wildcard");
    }
    if uri.contains('#') {
        return Err("has a fragment");
    }
    if uri.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("contains whitespace");
    }
    let Some((scheme, rest)) = uri.split_once(':') else {
        return Err("is not an absolute URI");
    };
    let scheme_ok = scheme.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
        && scheme.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    if !scheme_ok || rest.is_empty() {
        return Err("is not an absolute URI");
    }
    let scheme = scheme.to_ascii_lowercase();
    match scheme.as_str() {
        "https" | "http" => {
            let authority = rest.strip_prefix("//").ok_or("is not an absolute URI")?;
            let authority = authority.split(['/', '?']).next().unwrap_or_default();
            if authority.contains('@') {
                return Err("carries user information");
            }
            let host = crate::policy::host::normalise_host(authority).ok_or("has no valid host")?;
            if scheme == "http" && !LOOPBACK_HOSTS.contains(&host.as_str()) {
                return Err("uses `http`, which is allowed only for localhost, 127.0.0.1 or [::1]; use `https`");
            }
            Ok(())
        }
        _ if scheme.contains('.') => Ok(()),
        _ => {
            Err("uses a scheme that is neither `https` nor a private-use scheme with a dot (such as `com.example.app`)")
        }
    }
}

fn metadata(reason: ReasonCode, message: impl Into<String>) -> Rejection {
    Rejection::new(400, ErrorCode::InvalidClientMetadata, reason, message)
}

fn redirect_error(message: impl Into<String>) -> Rejection {
    Rejection::new(400, ErrorCode::InvalidRedirectUri, ReasonCode::InvalidRedirectUri, message)
}

/// Body errors found by shared checks speak RFC 7591 on this route.
fn as_metadata_error(mut rejection: Rejection) -> Rejection {
    if rejection.code == ErrorCode::InvalidBody {
        rejection.code = ErrorCode::InvalidClientMetadata;
    }
    rejection
}
