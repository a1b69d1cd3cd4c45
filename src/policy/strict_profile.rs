//! The strict profile (SPEC §5): what a strict third-party client may not be configured
//! with. Value rules (allowed grant types, app types, signing algorithm, wildcards) are
//! built in; the member list is `policy.strict_profile`, to which a deployment may add.

use serde_json::{Map, Value};

use super::body::{JsonObject, json_type};
use super::{ReasonCode, Rejection};

/// Grant types a strict client may use.
pub const STRICT_GRANT_TYPES: [&str; 3] = ["authorization_code", "refresh_token", "client_credentials"];
/// `app_type` values a strict client may have.
pub const STRICT_APP_TYPES: [&str; 4] = ["regular_web", "spa", "native", "non_interactive"];
/// URL lists in which a `*` wildcard is refused.
pub const NO_WILDCARD_LISTS: [&str; 4] = ["callbacks", "allowed_origins", "web_origins", "allowed_logout_urls"];

/// The built-in forbidden members: `path` (forbidden when present) or `path = <JSON>`
/// (forbidden when equal to that value). Configured entries add to these.
pub const DEFAULT_FORBIDDEN: [&str; 14] = [
    "jwt_configuration.scopes",
    "refresh_token.expiration_type = \"non-expiring\"",
    "refresh_token.infinite_idle_token_lifetime = true",
    "sso",
    "require_pushed_authorization_requests",
    "addons",
    "oidc_logout",
    "oidc_backchannel_logout",
    "cross_origin_authentication = true",
    "cross_origin_loc",
    "token_exchange",
    "native_social_login",
    "client_authentication_methods.tls_client_auth",
    "client_authentication_methods.self_signed_tls_client_auth",
];

/// One forbidden member of the profile.
#[derive(Debug, Clone, PartialEq)]
pub struct ForbiddenMember {
    /// Dotted path through nested objects.
    pub path: String,
    /// `None`: forbidden whenever present; `Some(v)`: forbidden when equal to `v`.
    pub value: Option<Value>,
}

impl ForbiddenMember {
    /// Parses `path` or `path = <JSON value>`.
    pub fn parse(entry: &str) -> Result<Self, String> {
        let (path, value) = match entry.split_once('=') {
            Some((path, value)) => {
                let value: Value = serde_json::from_str(value.trim())
                    .map_err(|e| format!("the value after `=` in `{entry}` is not JSON: {e}"))?;
                (path.trim(), Some(value))
            }
            None => (entry.trim(), None),
        };
        let valid_segment =
            |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
        if !path.split('.').all(valid_segment) {
            return Err(format!("`{entry}` is not a member path such as `addons` or `jwt_configuration.scopes`"));
        }
        Ok(ForbiddenMember { path: path.to_owned(), value })
    }

    fn describe(&self) -> String {
        match &self.value {
            Some(value) => format!("`{}: {}`", self.path, value),
            None => format!("`{}`", self.path),
        }
    }
}

/// The effective profile: built-in rules plus the forbidden members.
#[derive(Debug, Clone, PartialEq)]
pub struct StrictProfile {
    pub forbidden: Vec<ForbiddenMember>,
}

impl Default for StrictProfile {
    fn default() -> Self {
        let forbidden = DEFAULT_FORBIDDEN.iter().filter_map(|entry| ForbiddenMember::parse(entry).ok()).collect();
        StrictProfile { forbidden }
    }
}

impl StrictProfile {
    /// The default profile plus `extra` entries (already validated).
    pub fn with_extra(extra: Vec<ForbiddenMember>) -> Self {
        let mut profile = StrictProfile::default();
        for member in extra {
            if !profile.forbidden.contains(&member) {
                profile.forbidden.push(member);
            }
        }
        profile
    }

    /// The first violation, in the body's member order, or `Ok`.
    pub fn check(&self, body: &JsonObject) -> Result<(), Rejection> {
        self.check_members(&body.members)
    }

    /// [`check`](Self::check) on a plain object: the client as it would be after an update.
    pub fn check_members(&self, body: &Map<String, Value>) -> Result<(), Rejection> {
        // walk members in body order so "the first offending member" is the one the caller sent first
        for (name, value) in body {
            self.check_member(name, value, body)?;
        }
        Ok(())
    }

    fn check_member(&self, name: &str, value: &Value, body: &Map<String, Value>) -> Result<(), Rejection> {
        match name {
            "grant_types" => {
                let grants = string_list(name, value)?;
                if let Some(grant) = grants.iter().find(|g| !STRICT_GRANT_TYPES.contains(g)) {
                    return Err(violation(format!(
                        "`grant_types` contains `{}`, which strict third-party applications cannot use; allowed: {}",
                        shorten(grant),
                        STRICT_GRANT_TYPES.join(", ")
                    )));
                }
                if grants.contains(&"client_credentials")
                    && body.get("token_endpoint_auth_method").and_then(Value::as_str) == Some("none")
                {
                    return Err(violation(
                        "`grant_types` contains `client_credentials` with `token_endpoint_auth_method: \"none\"`; client credentials need a confidential client",
                    ));
                }
            }
            "app_type" => {
                let app_type = value.as_str().ok_or_else(|| wrong_type(name, "a string", value))?;
                if !STRICT_APP_TYPES.contains(&app_type) {
                    return Err(violation(format!(
                        "`app_type` `{}` is not available to strict third-party applications; allowed: {}",
                        shorten(app_type),
                        STRICT_APP_TYPES.join(", ")
                    )));
                }
            }
            "jwt_configuration" => {
                if let Some(alg) = value.as_object().and_then(|o| o.get("alg"))
                    && alg.as_str() != Some("RS256")
                {
                    return Err(violation(
                        "`jwt_configuration.alg` must be `RS256` for strict third-party applications",
                    ));
                }
            }
            _ if NO_WILDCARD_LISTS.contains(&name) => {
                let urls = string_list(name, value)?;
                if urls.iter().any(|url| url.contains('*')) {
                    return Err(violation(format!(
                        "`{name}` contains a `*` wildcard, which strict third-party applications cannot use; list each URL"
                    )));
                }
            }
            _ => {}
        }
        for member in &self.forbidden {
            let top = member.path.split('.').next().unwrap_or_default();
            if top != name {
                continue;
            }
            let hit = match (get_path(body, &member.path), &member.value) {
                (Some(_), None) => true,
                (Some(found), Some(value)) => found == value,
                (None, _) => false,
            };
            if hit {
                return Err(violation(format!(
                    "{} is not available to strict third-party applications; remove it",
                    member.describe()
                )));
            }
        }
        Ok(())
    }
}

/// Follows a dotted path (`jwt_configuration.alg`) through nested objects.
pub fn get_path<'a>(members: &'a Map<String, Value>, path: &str) -> Option<&'a Value> {
    let mut parts = path.split('.');
    let mut value = members.get(parts.next()?)?;
    for part in parts {
        value = value.as_object()?.get(part)?;
    }
    Some(value)
}

fn violation(message: impl Into<String>) -> Rejection {
    Rejection::invalid_body(ReasonCode::StrictProfile, message)
}

/// A member that must be an array of strings.
pub fn string_list<'a>(name: &str, value: &'a Value) -> Result<Vec<&'a str>, Rejection> {
    let items = value.as_array().ok_or_else(|| wrong_type(name, "an array of strings", value))?;
    items.iter().map(|item| item.as_str().ok_or_else(|| wrong_type(name, "an array of strings", value))).collect()
}

/// 400 for a member of the wrong JSON type: types are checked, never coerced.
pub fn wrong_type(name: &str, expected: &str, value: &Value) -> Rejection {
    Rejection::invalid_body(ReasonCode::InvalidType, format!("`{name}` must be {expected}, not {}", json_type(value)))
}

/// Caps user text quoted back in a message.
pub fn shorten(text: &str) -> String {
    const MAX: usize = 80;
    if text.chars().count() <= MAX {
        text.to_owned()
    } else {
        format!("{}…", text.chars().take(MAX).collect::<String>())
    }
}
