//! `PATCH`/`PUT /api/v2/clients/{client_id}` (SPEC §4 clients_update): the mode and the
//! first/third-party ownership are fixed at creation. A resend of the current value passes
//! (Terraform resends unchanged values); a different value is refused.

use super::{Facts, is_first_party, mode_member};
use crate::policy::body::JsonObject;
use crate::policy::decision::{ClientState, Decision, ReasonCode, Rejection, SecurityMode};

const IMMUTABLE: &str = "is set at creation and cannot be changed; create a new application";

/// `current` is `None` when the upstream does not know the client: it answers 404 itself.
pub fn decide(body: &JsonObject, facts: &Facts<'_>, current: Option<ClientState>) -> Decision {
    let Some(current) = current else {
        return Decision::forward(ReasonCode::ClientNotFound);
    };
    match check(body, facts, current) {
        Ok(requested) => Decision::forward(ReasonCode::UpdateAllowed).with_modes(requested, current.mode),
        Err(rejection) => Decision::reject(rejection)
            .with_modes(mode_member(body, super::clients_create::MODE).ok().flatten(), current.mode),
    }
}

fn check(body: &JsonObject, facts: &Facts<'_>, current: ClientState) -> Result<Option<SecurityMode>, Rejection> {
    if let Some(first_party) = is_first_party(body)?
        && first_party != current.is_first_party
    {
        return Err(Rejection::invalid_body(ReasonCode::OwnershipImmutable, format!("`is_first_party` {IMMUTABLE}")));
    }
    let requested = mode_member(body, super::clients_create::MODE)?;
    if requested.is_some() && requested != current.mode {
        return Err(Rejection::invalid_body(
            ReasonCode::ModeImmutable,
            format!("`third_party_security_mode` {IMMUTABLE}"),
        ));
    }
    if !current.is_first_party && current.mode == Some(SecurityMode::Strict) {
        facts.strict_profile.check(body)?;
    }
    Ok(requested)
}
