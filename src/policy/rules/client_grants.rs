//! `POST /api/v2/client-grants` (SPEC §4 client_grants_create): default API permissions.

use serde_json::Value;

use super::Facts;
use crate::policy::body::JsonObject;
use crate::policy::decision::{Decision, ReasonCode, Rejection};
use crate::policy::strict_profile::wrong_type;

pub fn decide(body: &JsonObject, facts: &Facts<'_>) -> Decision {
    match check(body, facts) {
        Ok(()) => Decision::forward(ReasonCode::GrantAllowed),
        Err(rejection) => Decision::reject(rejection),
    }
}

fn check(body: &JsonObject, facts: &Facts<'_>) -> Result<(), Rejection> {
    let Some(default_for) = body.get("default_for") else { return Ok(()) };
    if default_for.as_str() != Some("third_party_clients") {
        let mut rejection = wrong_type("default_for", "the string `third_party_clients`", default_for);
        rejection.reason = ReasonCode::InvalidDefaultFor;
        if default_for.is_string() {
            rejection.message = "`default_for` must be `third_party_clients`".to_owned();
        }
        return Err(rejection);
    }
    if body.get("client_id").is_some() {
        return Err(Rejection::invalid_body(
            ReasonCode::DefaultGrantWithClientId,
            "a grant carries either `client_id` or `default_for`, not both; remove `client_id` for a default grant",
        ));
    }
    match body.get("audience") {
        None => Ok(()),
        Some(Value::String(audience)) if is_management_api(audience, facts) => Err(Rejection::invalid_body(
            ReasonCode::DefaultGrantManagementApi,
            "default API permissions cannot target the Management API; choose one of your own APIs",
        )),
        Some(Value::String(_)) => Ok(()),
        Some(other) => Err(wrong_type("audience", "a string", other)),
    }
}

/// The tenant's Management API under any of its names: the configured audience and
/// `https://{host}/api/v2/` for every host of the tenant.
fn is_management_api(audience: &str, facts: &Facts<'_>) -> bool {
    same_api(audience, &facts.tenant.token.audience)
        || facts.tenant.hosts.iter().any(|host| same_api(audience, &format!("https://{host}/api/v2/")))
}

/// Audiences compared as an upstream would match them: case-insensitive, trailing `/` ignored.
fn same_api(a: &str, b: &str) -> bool {
    a.trim_end_matches('/').eq_ignore_ascii_case(b.trim_end_matches('/'))
}
