//! One module per intercepted route; each reads the parsed body and the tenant, and
//! returns a [`Decision`](super::Decision).

pub mod client_grants;
pub mod clients_create;
pub mod clients_update;
pub mod dcr_register;
pub mod runtime;
pub mod tenant_settings;

use serde_json::Value;
use time::Date;

use super::body::JsonObject;
use super::inputs::TenantPolicy;
use super::strict_profile::{StrictProfile, wrong_type};
use super::{ReasonCode, Rejection, SecurityMode};

/// Everything a rule may read besides the body.
#[derive(Debug, Clone, Copy)]
pub struct Facts<'a> {
    pub tenant: &'a TenantPolicy,
    pub today: Date,
    pub eligibility_cutoff: Date,
    pub strict_default_from: Date,
    pub strict_profile: &'a StrictProfile,
}

/// `is_first_party`, type-checked: absent → `None`.
fn is_first_party(body: &JsonObject) -> Result<Option<bool>, Rejection> {
    match body.get("is_first_party") {
        None => Ok(None),
        Some(Value::Bool(flag)) => Ok(Some(*flag)),
        Some(other) => Err(wrong_type("is_first_party", "a boolean", other)),
    }
}

/// A mode member, type-checked: absent → `None`; anything but `"strict"`/`"permissive"` → 400.
fn mode_member(body: &JsonObject, name: &str) -> Result<Option<SecurityMode>, Rejection> {
    match body.get(name) {
        None => Ok(None),
        Some(Value::String(text)) => SecurityMode::from_wire(text).map(Some).ok_or_else(|| {
            Rejection::invalid_body(
                ReasonCode::InvalidType,
                format!("`{name}` must be `strict` or `permissive` (lowercase)"),
            )
        }),
        Some(other) => Err(wrong_type(name, "the string `strict` or `permissive`", other)),
    }
}

/// The refusal of a permissive request from an ineligible customer.
fn not_eligible(facts: &Facts<'_>, what: &str) -> Rejection {
    Rejection::invalid_body(
        ReasonCode::PermissiveNotEligible,
        format!(
            "{what}: customer `{}` is not eligible for permissive third-party applications (only customers that used third-party applications before {}); use `strict`",
            facts.tenant.customer, facts.eligibility_cutoff
        ),
    )
}
