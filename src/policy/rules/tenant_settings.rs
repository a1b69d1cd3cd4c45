//! `PATCH`/`PUT /api/v2/tenants/settings` (SPEC §4 tenant_settings_update).

use super::{Facts, mode_member, not_eligible};
use crate::policy::body::JsonObject;
use crate::policy::{Decision, ReasonCode, Rejection, SecurityMode};

pub const DCR_MODE: &str = "dynamic_client_registration_security_mode";

pub fn decide(body: &JsonObject, facts: &Facts<'_>) -> Decision {
    let requested = match mode_member(body, DCR_MODE) {
        Ok(requested) => requested,
        Err(mut rejection) => {
            rejection.reason = ReasonCode::InvalidDcrMode;
            return Decision::reject(rejection);
        }
    };
    match requested {
        None => Decision::forward(ReasonCode::SettingsAllowed),
        Some(SecurityMode::Permissive) if !facts.tenant.customer_eligible => {
            Decision::reject(not_eligible(facts, "`dynamic_client_registration_security_mode: \"permissive\"`"))
        }
        Some(SecurityMode::Strict)
            if !facts.tenant.has_default_api_permissions && !facts.tenant.allow_strict_dcr_without_defaults =>
        {
            Decision::reject(Rejection::invalid_body(
                ReasonCode::StrictDcrWithoutDefaults,
                "strict dynamic client registration needs default API permissions: create client grants with `default_for: \"third_party_clients\"` first",
            ))
        }
        Some(mode) => Decision::forward(ReasonCode::SettingsAllowed).with_modes(Some(mode), Some(mode)),
    }
}
