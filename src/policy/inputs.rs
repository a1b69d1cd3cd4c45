//! What the policy reads besides the request: a tenant's policy and the gateway-wide
//! settings. The policy owns these types; `config` builds them (dependencies run one way,
//! config → policy), and a remote tenant document becomes one the same way.

use time::Date;

use super::{GovernedNames, RouteTable, SecurityMode, StrictProfile};

/// Per tenant (SPEC §4): whether the rules apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Enforcement {
    Enforce,
    Shadow,
    Off,
}

impl Enforcement {
    pub fn as_str(self) -> &'static str {
        match self {
            Enforcement::Enforce => "enforce",
            Enforcement::Shadow => "shadow",
            Enforcement::Off => "off",
        }
    }
}

/// Per tenant (SPEC §4 dcr_register): who may register.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DcrAccess {
    Open,
    Token,
}

/// SPEC §2: intercepted requests for hosts that name no tenant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnknownTenant {
    Reject,
    Passthrough,
}

/// SPEC §13: runtime requests of a client the gateway cannot place.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnknownClient {
    /// Forwarded, counted and logged (`unknown_client`).
    Allow,
    /// 400 `unauthorized_client`.
    Deny,
}

/// One tenant as the rules see it, its customer's eligibility resolved.
#[derive(Debug, Clone, PartialEq)]
pub struct TenantPolicy {
    pub id: String,
    pub customer: String,
    /// The customer may create permissive applications (SPEC §1).
    pub customer_eligible: bool,
    /// Normalised host names that reach the tenant.
    pub hosts: Vec<String>,
    pub permissive_by_default: bool,
    pub dcr_security_mode: Option<SecurityMode>,
    pub dcr_access: DcrAccess,
    pub enforcement: Enforcement,
    /// The tenant has default API permissions (grants for third-party clients).
    pub has_default_api_permissions: bool,
    pub allow_strict_dcr_without_defaults: bool,
    pub inject_dcr_mode: bool,
    /// The tenant's Management API audience (refused for default grants).
    pub management_audience: String,
    /// SPEC §14: DCR registrations allowed, across replicas.
    pub dcr_rate: DcrRate,
}

/// A rate of `per_s` a second with bursts of `burst` (a token bucket).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct DcrRate {
    pub per_s: u32,
    pub burst: u32,
}

impl TenantPolicy {
    /// The mode every DCR client of the tenant gets (SPEC §4 dcr_register).
    pub fn dcr_mode(&self) -> SecurityMode {
        self.dcr_security_mode.unwrap_or(if self.customer_eligible {
            SecurityMode::Permissive
        } else {
            SecurityMode::Strict
        })
    }
}

/// The gateway-wide settings the rules read.
#[derive(Debug, Clone)]
pub struct PolicySettings {
    pub eligibility_cutoff: Date,
    pub strict_default_from: Date,
    pub unknown_tenant: UnknownTenant,
    /// SPEC §13.
    pub unknown_client: UnknownClient,
    /// SPEC §13: strict clients may ask for `openid profile email address phone`.
    pub strict_oidc_scopes: bool,
    pub strict_profile: StrictProfile,
    /// The member names the rules read, derived from `strict_profile` (SPEC §16).
    pub governed: GovernedNames,
    /// Intercepted bodies are at most this large (SPEC §3).
    pub max_body_bytes: usize,
    /// The routes, with `routes.dcr_paths` and the head rules of SPEC §16.
    pub routes: RouteTable,
}
