//! `PATCH`/`PUT /api/v2/clients/{client_id}` (SPEC §4 clients_update): the mode and the
//! first/third-party ownership are fixed at creation. A resend of the current value passes
//! (Terraform resends unchanged values); a different value is refused. A strict client is
//! checked as it would be after the update: a `PATCH` merges into its current values, a
//! `PUT` replaces it and so must restate what cannot change.

use serde_json::Map;

use super::{Facts, is_first_party, mode_member};
use crate::policy::body::JsonObject;
use crate::policy::{COMBINED_MEMBERS, CurrentClient, Decision, ReasonCode, Rejection, SecurityMode};

const IMMUTABLE: &str = "is set at creation and cannot be changed; create a new application";

/// `current` is `None` when the upstream does not know the client: it answers 404 itself.
/// `replace`: the request is a `PUT`.
pub fn decide(body: &JsonObject, facts: &Facts<'_>, current: Option<&CurrentClient>, replace: bool) -> Decision {
    let Some(current) = current else {
        return Decision::forward(ReasonCode::ClientNotFound);
    };
    let mode = current.state.mode;
    match check(body, facts, current, replace) {
        Ok(requested) => Decision::forward(ReasonCode::UpdateAllowed).with_modes(requested, mode),
        Err(rejection) => {
            Decision::reject(rejection).with_modes(mode_member(body, super::clients_create::MODE).ok().flatten(), mode)
        }
    }
}

fn check(
    body: &JsonObject,
    facts: &Facts<'_>,
    current: &CurrentClient,
    replace: bool,
) -> Result<Option<SecurityMode>, Rejection> {
    let state = current.state;
    let first_party = is_first_party(body)?;
    if first_party.is_some_and(|first_party| first_party != state.is_first_party) {
        return Err(Rejection::invalid_body(ReasonCode::OwnershipImmutable, format!("`is_first_party` {IMMUTABLE}")));
    }
    let requested = mode_member(body, super::clients_create::MODE)?;
    if requested.is_some() && requested != state.mode {
        return Err(Rejection::invalid_body(
            ReasonCode::ModeImmutable,
            format!("`third_party_security_mode` {IMMUTABLE}"),
        ));
    }
    if replace && !state.is_first_party && (first_party.is_none() || requested.is_none()) {
        // an upstream that replaces on PUT would reset what the body leaves out
        return Err(Rejection::invalid_body(
            ReasonCode::ReplaceIncomplete,
            format!(
                "a PUT replaces the client: restate `is_first_party: false` and `third_party_security_mode: \"{}\"`, or send a PATCH",
                state.mode.unwrap_or(SecurityMode::Permissive).as_str()
            ),
        ));
    }
    if !state.is_first_party && state.mode == Some(SecurityMode::Strict) {
        if replace {
            facts.strict_profile.check(body)?;
        } else {
            facts.strict_profile.check_members(&after_patch(body, current))?;
        }
    }
    Ok(requested)
}

/// Whether a decision taken without the client's current combined members must be taken
/// again with them: a `PATCH` of a strict third-party client that changes one of them.
pub fn needs_current_members(body: &JsonObject, current: &CurrentClient, replace: bool) -> bool {
    let state = current.state;
    let strict = !state.is_first_party && state.mode == Some(SecurityMode::Strict);
    strict && !replace && COMBINED_MEMBERS.iter().any(|name| body.members.contains_key(*name))
}

/// The client's combined members as a `PATCH` leaves them: the body's members, then the
/// current values the body does not change.
fn after_patch(body: &JsonObject, current: &CurrentClient) -> Map<String, serde_json::Value> {
    let mut merged = body.members.clone();
    for (name, value) in &current.members {
        if !merged.contains_key(name) {
            merged.insert(name.clone(), value.clone());
        }
    }
    merged
}
