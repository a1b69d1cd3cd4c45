//! Reason codes: why the gateway did what it did. One list feeds `x-modegate-reason`, the
//! `reason` metric label and the decision log, so labels stay bounded and each string has
//! one variant. The machine-readable [`ErrorCode`] of a gateway-made answer lives here too.

/// Defines [`ReasonCode`] with its wire strings and the list of every code, from one table.
macro_rules! reason_codes {
    ($($(#[$doc:meta])* $variant:ident => $text:literal,)*) => {
        /// Why the gateway did what it did (see the module doc).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum ReasonCode {
            $($(#[$doc])* $variant,)*
        }

        impl ReasonCode {
            /// Every code, in declaration order.
            pub const ALL: &'static [ReasonCode] = &[$(ReasonCode::$variant,)*];

            pub fn as_str(self) -> &'static str {
                match self {
                    $(ReasonCode::$variant => $text,)*
                }
            }
        }
    };
}

reason_codes! {
    // forwarded unchanged
    Passthrough => "passthrough",
    FirstPartyClient => "first_party_client",
    ModeAllowed => "mode_allowed",
    SettingsAllowed => "settings_allowed",
    GrantAllowed => "grant_allowed",
    DcrAllowed => "dcr_allowed",
    NotEnforced => "not_enforced",
    UpdateAllowed => "update_allowed",
    ClientNotFound => "client_not_found",
    // runtime routes (SPEC §13), forwarded
    NotStrict => "not_strict",
    StrictAllowed => "strict_allowed",
    UnknownClient => "unknown_client",
    NoClientId => "no_client_id",
    // injected
    ModeInjected => "mode_injected",
    StrictDefaultsInjected => "strict_defaults_injected",
    // rejected: request shape
    AmbiguousHost => "ambiguous_host",
    InvalidHost => "invalid_host",
    AmbiguousPath => "ambiguous_path",
    PathTooLong => "path_too_long",
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
    // rejected: rules
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
    // rejected: runtime routes (SPEC §13)
    DuplicateParameter => "duplicate_parameter",
    InvalidParameter => "invalid_parameter",
    ConflictingClientIds => "conflicting_client_ids",
    AmbiguousClientId => "ambiguous_client_id",
    UnsupportedResponseType => "unsupported_response_type",
    PkceRequired => "pkce_required",
    ParameterNotAllowed => "parameter_not_allowed",
    OidcScopeNotSupported => "oidc_scope_not_supported",
    UnsupportedGrantType => "unsupported_grant_type",
    UnauthorizedClient => "unauthorized_client",
    EndpointNotAvailable => "endpoint_not_available",
    // rejected: caller
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
    PolicyInvalid => "policy_invalid",
    DcrRateLimited => "dcr_rate_limited",
    // faults
    UpstreamUnavailable => "upstream_unavailable",
    UpstreamTimeout => "upstream_timeout",
    /// More HTTP/2 creations in flight than the gateway keeps (`proxy::h2_creation`).
    CreationsInFlight => "creations_in_flight",
    Internal => "internal_error",
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
    /// The tenant's policy document was refused (SPEC §15).
    PolicyInvalid,
    UpstreamUnavailable,
    UpstreamTimeout,
    Internal,
    TooManyRequests,
    // RFC 6749 codes, used on the runtime routes (SPEC §13)
    UnsupportedResponseType,
    UnsupportedGrantType,
    UnauthorizedClient,
    InvalidScope,
    // RFC 7591 codes, used by the DCR rules
    InvalidClientMetadata,
    InvalidRedirectUri,
    AccessDenied,
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    #[test]
    fn reason_strings_are_unique_snake_case() {
        let mut seen = HashSet::new();
        for code in ReasonCode::ALL {
            let text = code.as_str();
            assert!(seen.insert(text), "`{text}` names two reason codes");
            assert!(text.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'), "`{text}`");
        }
    }
}
