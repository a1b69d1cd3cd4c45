//! What the policy core hands back: a [`Decision`] for a request body, or a [`Rejection`]
//! for a request refused before its body is read.
//!
//! A decision is a value, never an error: `Err` elsewhere in the crate means "could not
//! decide" and the glue fails closed. Shadow mode is the glue logging the same decision
//! instead of applying it.

use std::borrow::Cow;

use serde_json::{Map, Value};

use super::body::JsonObject;

/// `third_party_security_mode`: fixed when the client is created.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SecurityMode {
    Strict,
    Permissive,
}

impl SecurityMode {
    pub fn as_str(self) -> &'static str {
        match self {
            SecurityMode::Strict => "strict",
            SecurityMode::Permissive => "permissive",
        }
    }

    /// Exact, case-sensitive match of the wire value (SPEC §3: `"Strict"` is not a mode).
    pub fn from_wire(text: &str) -> Option<Self> {
        match text {
            "strict" => Some(SecurityMode::Strict),
            "permissive" => Some(SecurityMode::Permissive),
            _ => None,
        }
    }
}

/// The intercepted routes of SPEC §2.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RouteId {
    ClientsCreate,
    ClientsUpdate,
    TenantSettingsUpdate,
    ClientGrantsCreate,
    DcrRegister,
}

impl RouteId {
    pub const ALL: [RouteId; 5] = [
        RouteId::ClientsCreate,
        RouteId::ClientsUpdate,
        RouteId::TenantSettingsUpdate,
        RouteId::ClientGrantsCreate,
        RouteId::DcrRegister,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            RouteId::ClientsCreate => "clients_create",
            RouteId::ClientsUpdate => "clients_update",
            RouteId::TenantSettingsUpdate => "tenant_settings_update",
            RouteId::ClientGrantsCreate => "client_grants_create",
            RouteId::DcrRegister => "dcr_register",
        }
    }

    /// The scope a bearer token needs on this route (SPEC §6, any of one).
    pub fn required_scope(self) -> &'static str {
        match self {
            RouteId::ClientsCreate | RouteId::DcrRegister => "create:clients",
            RouteId::ClientsUpdate => "update:clients",
            RouteId::TenantSettingsUpdate => "update:tenant_settings",
            RouteId::ClientGrantsCreate => "create:client_grants",
        }
    }

    /// Which error shape the route answers with (SPEC §7).
    pub fn api(self) -> Api {
        match self {
            RouteId::DcrRegister => Api::Dcr,
            _ => Api::Management,
        }
    }
}

/// The two error dialects of SPEC §7.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Api {
    /// `{"statusCode","error","message","errorCode"}`, as the Management API answers.
    Management,
    /// `{"error","error_description"}`, as RFC 7591 §3.2.2 prescribes.
    Dcr,
}

/// Why the gateway did what it did. One list feeds `x-modegate-reason`, the `reason`
/// metric label and the decision log, so labels stay bounded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ReasonCode {
    // forwarded unchanged
    Passthrough,
    FirstPartyClient,
    ModeAllowed,
    SettingsAllowed,
    GrantAllowed,
    DcrAllowed,
    NotEnforced,
    UpdateAllowed,
    ClientNotFound,
    // injected
    ModeInjected,
    StrictDefaultsInjected,
    // rejected: request shape
    AmbiguousHost,
    InvalidHost,
    AmbiguousPath,
    PathSuffix,
    QueryNotAllowed,
    MethodOverride,
    HopByHopHeader,
    BodyNotAllowed,
    UpgradeNotAllowed,
    UnknownTenant,
    PayloadTooLarge,
    UnsupportedMediaType,
    UnsupportedEncoding,
    AmbiguousFraming,
    BodyTimeout,
    MalformedRequest,
    InvalidJson,
    DuplicateMember,
    TooDeep,
    NotAnObject,
    InvalidType,
    AmbiguousMember,
    ReservedMember,
    // rejected: rules
    ModeOnFirstParty,
    PermissiveNotEligible,
    StrictProfile,
    InvalidDcrMode,
    StrictDcrWithoutDefaults,
    InvalidDefaultFor,
    DefaultGrantWithClientId,
    DefaultGrantManagementApi,
    AmbiguousAudience,
    DcrModeMismatch,
    DcrFirstParty,
    DcrGrantTypes,
    DcrResponseTypes,
    DcrAuthMethod,
    InvalidRedirectUri,
    TokenRequired,
    ModeImmutable,
    OwnershipImmutable,
    ReplaceIncomplete,
    // rejected: caller
    TokenMissing,
    TokenMalformed,
    TokenAlgorithm,
    TokenUnknownKey,
    TokenSignature,
    TokenExpired,
    TokenNotYetValid,
    TokenIssuer,
    TokenAudience,
    InsufficientScope,
    KeysUnavailable,
    ClientLookupFailed,
    PolicyUnavailable,
    // faults
    UpstreamUnavailable,
    UpstreamTimeout,
    Internal,
}

impl ReasonCode {
    pub fn as_str(self) -> &'static str {
        use ReasonCode::*;
        match self {
            Passthrough => "passthrough",
            FirstPartyClient => "first_party_client",
            ModeAllowed => "mode_allowed",
            SettingsAllowed => "settings_allowed",
            GrantAllowed => "grant_allowed",
            DcrAllowed => "dcr_allowed",
            NotEnforced => "not_enforced",
            UpdateAllowed => "update_allowed",
            ClientNotFound => "client_not_found",
            ModeInjected => "mode_injected",
            StrictDefaultsInjected => "strict_defaults_injected",
            AmbiguousHost => "ambiguous_host",
            InvalidHost => "invalid_host",
            AmbiguousPath => "ambiguous_path",
            PathSuffix => "path_suffix",
            QueryNotAllowed => "query_not_allowed",
            MethodOverride => "method_override",
            HopByHopHeader => "hop_by_hop_header",
            BodyNotAllowed => "body_not_allowed",
            UpgradeNotAllowed => "upgrade_not_allowed",
            UnknownTenant => "unknown_tenant",
            PayloadTooLarge => "payload_too_large",
            UnsupportedMediaType => "unsupported_media_type",
            UnsupportedEncoding => "unsupported_encoding",
            AmbiguousFraming => "ambiguous_framing",
            BodyTimeout => "body_timeout",
            MalformedRequest => "malformed_request",
            InvalidJson => "invalid_json",
            DuplicateMember => "duplicate_member",
            TooDeep => "too_deep",
            NotAnObject => "not_an_object",
            InvalidType => "invalid_type",
            AmbiguousMember => "ambiguous_member",
            ReservedMember => "reserved_member",
            ModeOnFirstParty => "mode_on_first_party",
            PermissiveNotEligible => "permissive_not_eligible",
            StrictProfile => "strict_profile",
            InvalidDcrMode => "invalid_dcr_mode",
            StrictDcrWithoutDefaults => "strict_dcr_without_defaults",
            InvalidDefaultFor => "invalid_default_for",
            DefaultGrantWithClientId => "default_grant_with_client_id",
            DefaultGrantManagementApi => "default_grant_management_api",
            AmbiguousAudience => "ambiguous_audience",
            DcrModeMismatch => "dcr_mode_mismatch",
            DcrFirstParty => "dcr_first_party",
            DcrGrantTypes => "dcr_grant_types",
            DcrResponseTypes => "dcr_response_types",
            DcrAuthMethod => "dcr_auth_method",
            InvalidRedirectUri => "invalid_redirect_uri",
            TokenRequired => "token_required",
            ModeImmutable => "mode_immutable",
            OwnershipImmutable => "ownership_immutable",
            ReplaceIncomplete => "replace_incomplete",
            TokenMissing => "token_missing",
            TokenMalformed => "token_malformed",
            TokenAlgorithm => "token_algorithm",
            TokenUnknownKey => "token_unknown_key",
            TokenSignature => "token_signature",
            TokenExpired => "token_expired",
            TokenNotYetValid => "token_not_yet_valid",
            TokenIssuer => "token_issuer",
            TokenAudience => "token_audience",
            InsufficientScope => "insufficient_scope",
            KeysUnavailable => "keys_unavailable",
            ClientLookupFailed => "client_lookup_failed",
            PolicyUnavailable => "policy_unavailable",
            UpstreamUnavailable => "upstream_unavailable",
            UpstreamTimeout => "upstream_timeout",
            Internal => "internal_error",
        }
    }
}

/// The machine-readable error of a gateway-made answer. Rendered as `errorCode` on the
/// Management API and mapped to an RFC 7591 / RFC 6749 `error` on DCR (see `wire`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    InvalidBody,
    InvalidRequest,
    InvalidToken,
    InsufficientScope,
    PayloadTooLarge,
    UnsupportedMediaType,
    UnknownTenant,
    RequestTimeout,
    PolicyUnavailable,
    UpstreamUnavailable,
    UpstreamTimeout,
    Internal,
    // RFC 7591 codes, used by the DCR rules
    InvalidClientMetadata,
    InvalidRedirectUri,
    AccessDenied,
}

/// A request the gateway answers itself; the upstream never sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    pub status: u16,
    pub code: ErrorCode,
    pub reason: ReasonCode,
    /// What was wrong and what to do. Never holds a token, a secret or a whole body.
    pub message: String,
}

impl Rejection {
    pub fn new(status: u16, code: ErrorCode, reason: ReasonCode, message: impl Into<String>) -> Self {
        Rejection { status, code, reason, message: message.into() }
    }

    /// 400 `invalid_body` (Management) / `invalid_client_metadata` (DCR).
    pub fn invalid_body(reason: ReasonCode, message: impl Into<String>) -> Self {
        Rejection::new(400, ErrorCode::InvalidBody, reason, message)
    }

    /// 400 for a request whose target or headers are ambiguous.
    pub fn invalid_request(reason: ReasonCode, message: impl Into<String>) -> Self {
        Rejection::new(400, ErrorCode::InvalidRequest, reason, message)
    }
}

/// Members the gateway appends to a body, in order. Values are JSON documents.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Patch {
    pub members: Vec<(&'static str, Value)>,
}

impl Patch {
    pub fn push(&mut self, name: &'static str, value: Value) {
        self.members.push((name, value));
    }

    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }

    pub fn names(&self) -> Vec<&'static str> {
        self.members.iter().map(|(name, _)| *name).collect()
    }
}

/// What the gateway knows of an existing client (SPEC §4 clients_update): both values are
/// fixed at creation, so a known state never goes stale.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientState {
    pub is_first_party: bool,
    /// `None` for first-party clients, which have no mode.
    pub mode: Option<SecurityMode>,
}

impl ClientState {
    /// Strict third-party clients carry the `tpc_` client-id prefix.
    pub fn from_client_id(client_id: &str) -> Option<Self> {
        client_id.starts_with("tpc_").then_some(ClientState { is_first_party: false, mode: Some(SecurityMode::Strict) })
    }

    /// Reads a client document as the Management API returns it (`GET /api/v2/clients/{id}`
    /// or a creation's 201). `is_first_party` defaults to `true`, as in the API.
    pub fn from_document(document: &Value) -> Option<Self> {
        let object = document.as_object()?;
        let is_first_party = match object.get("is_first_party") {
            None => true,
            Some(Value::Bool(flag)) => *flag,
            Some(_) => return None,
        };
        let mode = match object.get("third_party_security_mode") {
            None | Some(Value::Null) => None,
            Some(Value::String(text)) => Some(SecurityMode::from_wire(text)?),
            Some(_) => return None,
        };
        // a third-party client from before modes existed reports permissive (or nothing)
        let mode = if is_first_party { mode } else { Some(mode.unwrap_or(SecurityMode::Permissive)) };
        Some(ClientState { is_first_party, mode })
    }
}

/// Members of a client that the strict profile checks in combination: a body that changes
/// one of them is checked against the client's current value of the others (SPEC §4).
pub const COMBINED_MEMBERS: [&str; 2] = ["grant_types", "token_endpoint_auth_method"];

/// What a `clients_update` decision knows of the client it changes (SPEC §4).
#[derive(Debug, Clone, PartialEq)]
pub struct CurrentClient {
    pub state: ClientState,
    /// The client's current values of [`COMBINED_MEMBERS`], when looked up. They change
    /// with every update, so they are never cached.
    pub members: Map<String, Value>,
}

impl CurrentClient {
    /// A client known by its immutable state alone.
    pub fn of_state(state: ClientState) -> Self {
        CurrentClient { state, members: Map::new() }
    }

    /// A client document (a lookup's answer, or `decide`'s `current_client`).
    pub fn from_document(document: &Value) -> Option<Self> {
        let state = ClientState::from_document(document)?;
        let members = COMBINED_MEMBERS
            .iter()
            .filter_map(|name| Some(((*name).to_owned(), document.get(*name)?.clone())))
            .collect();
        Some(CurrentClient { state, members })
    }
}

impl ClientState {
    /// What a creation's answer says of the new client, completed with what the gateway
    /// sent (`sent`) where the answer is silent or `null`: a legacy upstream may not echo
    /// `is_first_party` or the mode, and must not turn a strict client into a first-party one.
    pub fn from_creation(document: &Value, sent: ClientState) -> ClientState {
        let is_first_party = document.get("is_first_party").and_then(Value::as_bool).unwrap_or(sent.is_first_party);
        let mode = document
            .get("third_party_security_mode")
            .and_then(Value::as_str)
            .and_then(SecurityMode::from_wire)
            .or(if is_first_party { None } else { sent.mode });
        ClientState { is_first_party, mode }
    }
}

/// What to do with an intercepted request.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// Send the original bytes upstream.
    Forward,
    /// Send the original object with these members appended.
    Inject(Patch),
    /// Answer the client; send nothing upstream.
    Reject(Rejection),
}

/// The policy's verdict on one intercepted request body.
#[must_use]
#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    pub outcome: Outcome,
    pub reason: ReasonCode,
    /// The mode the body asked for, when it asked for one.
    pub requested_mode: Option<SecurityMode>,
    /// The mode the created client ends up with, when the request creates a third-party client.
    pub effective_mode: Option<SecurityMode>,
}

impl Decision {
    pub fn forward(reason: ReasonCode) -> Self {
        Decision { outcome: Outcome::Forward, reason, requested_mode: None, effective_mode: None }
    }

    pub fn reject(rejection: Rejection) -> Self {
        let reason = rejection.reason;
        Decision { outcome: Outcome::Reject(rejection), reason, requested_mode: None, effective_mode: None }
    }

    /// Forward, or inject when the patch holds anything.
    pub fn forward_or_inject(patch: Patch, forward: ReasonCode, inject: ReasonCode) -> Self {
        if patch.is_empty() {
            Decision::forward(forward)
        } else {
            Decision { outcome: Outcome::Inject(patch), reason: inject, requested_mode: None, effective_mode: None }
        }
    }

    pub fn with_modes(mut self, requested: Option<SecurityMode>, effective: Option<SecurityMode>) -> Self {
        self.requested_mode = requested;
        self.effective_mode = effective;
        self
    }

    /// The bytes the upstream receives when the decision is applied, or `None` on a reject.
    pub fn upstream_body<'a>(&self, original: &'a [u8], object: Option<&JsonObject>) -> Option<Cow<'a, [u8]>> {
        match (&self.outcome, object) {
            (Outcome::Forward, _) => Some(Cow::Borrowed(original)),
            (Outcome::Inject(patch), Some(object)) => Some(Cow::Owned(object.inject(original, patch))),
            // an injection is only ever decided on a parsed object
            (Outcome::Inject(_), None) | (Outcome::Reject(_), _) => None,
        }
    }

    /// The label of `modegate_requests_total{decision}` when the decision is applied.
    pub fn label(&self, shadow: bool) -> &'static str {
        match (&self.outcome, shadow) {
            (Outcome::Forward, _) => "forward",
            (Outcome::Inject(_), false) => "inject",
            (Outcome::Inject(_), true) => "would_inject",
            (Outcome::Reject(_), false) => "reject",
            (Outcome::Reject(_), true) => "would_reject",
        }
    }
}
