//! `POST /api/v2/clients` (SPEC §4 clients_create).

use serde_json::Value;

use super::{Facts, is_first_party, mode_member, not_eligible};
use crate::policy::body::JsonObject;
use crate::policy::{Decision, Patch, ReasonCode, Rejection, SecurityMode};

pub const MODE: &str = "third_party_security_mode";

pub fn decide(body: &JsonObject, facts: &Facts<'_>) -> Decision {
    match decide_inner(body, facts) {
        Ok(decision) => decision,
        Err(rejection) => Decision::reject(rejection),
    }
}

fn decide_inner(body: &JsonObject, facts: &Facts<'_>) -> Result<Decision, Rejection> {
    let first_party = is_first_party(body)?.unwrap_or(true);
    let requested = mode_member(body, MODE)?;
    if first_party {
        if requested.is_some() {
            return Err(Rejection::invalid_body(
                ReasonCode::ModeOnFirstParty,
                "`third_party_security_mode` applies only to third-party applications; remove it or set `is_first_party: false`",
            ));
        }
        return Ok(Decision::forward(ReasonCode::FirstPartyClient));
    }
    let effective = requested.unwrap_or_else(|| default_mode(facts));
    if effective == SecurityMode::Permissive && !facts.tenant.customer_eligible {
        // only an explicit request can get here: the default is never permissive for the ineligible
        return Err(not_eligible(facts, "`third_party_security_mode: \"permissive\"`"));
    }
    if effective == SecurityMode::Strict {
        facts.strict_profile.check(body)?;
    }
    let mut patch = Patch::default();
    if requested.is_none() {
        patch.push(MODE, Value::from(effective.as_str()));
    }
    Ok(Decision::forward_or_inject(body, patch, ReasonCode::ModeAllowed, ReasonCode::ModeInjected)
        .with_modes(requested, Some(effective)))
}

/// The mode a third-party client gets when the body names none.
pub fn default_mode(facts: &Facts<'_>) -> SecurityMode {
    if facts.tenant.customer_eligible && facts.tenant.permissive_by_default && facts.today < facts.strict_default_from {
        SecurityMode::Permissive
    } else {
        SecurityMode::Strict
    }
}
