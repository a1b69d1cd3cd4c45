//! Member names and types of intercepted JSON bodies (SPEC §16 "Members").
//!
//! The rules read members by their exact names; an upstream may not. So, at any depth:
//! a name that folds ([`skeleton`]) onto a governed name without being it is refused
//! (`THIRD_PARTY_SECURITY_MODE`, `ſso`, `s\u{200B}so`); the names that JavaScript merging
//! code turns into prototypes (`__proto__`, `constructor`, `prototype`), the method-override
//! member `_method`, MongoDB update operators (`$set`) and dotted paths
//! (`jwt_configuration.alg`) are refused; and every governed member must have its documented
//! JSON type, so that no coercing binder reads `"false"` as `false`.

use std::collections::HashMap;

use serde_json::{Map, Value};

use super::fold::skeleton;
use super::strict_profile::{StrictProfile, get_path, shorten, wrong_type};
use super::{ReasonCode, Rejection};

/// Names that mean something to JavaScript object merging or to method-override
/// middleware, refused wherever they appear.
pub const RESERVED_NAMES: [&str; 4] = ["__proto__", "constructor", "prototype", "_method"];

/// Members the rules read only at the top level. Nested anywhere else they are refused:
/// frameworks unwrap a nested object into the parameters (Rails' `params.require(:client)`
/// reads `{"client":{"is_first_party":false,…}}`), so a nested copy has a second reading.
pub const TOP_LEVEL_ONLY: [&str; 4] =
    ["is_first_party", "third_party_security_mode", "dynamic_client_registration_security_mode", "default_for"];

/// The JSON type a governed member must have. `null` stands for "absent" on every member
/// but those the rules type-check themselves (`is_first_party` and the modes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Bool,
    String,
    StringList,
    Object,
}

impl Kind {
    fn matches(self, value: &Value) -> bool {
        match self {
            Kind::Bool => value.is_boolean(),
            Kind::String => value.is_string(),
            Kind::StringList => value.as_array().is_some_and(|items| items.iter().all(Value::is_string)),
            Kind::Object => value.is_object(),
        }
    }

    fn describe(self) -> &'static str {
        match self {
            Kind::Bool => "a boolean",
            Kind::String => "a string",
            Kind::StringList => "an array of strings",
            Kind::Object => "an object",
        }
    }
}

/// Every member the rules and the built-in strict profile read, by dotted path, with its
/// type. `is_first_party` and the two mode members are typed by the rules themselves
/// (with their own messages) and listed with `None`.
pub const GOVERNED: &[(&str, Option<Kind>)] = &[
    ("is_first_party", None),
    ("third_party_security_mode", None),
    ("dynamic_client_registration_security_mode", None),
    ("default_for", Some(Kind::String)),
    ("client_id", Some(Kind::String)),
    ("audience", Some(Kind::String)),
    ("grant_types", Some(Kind::StringList)),
    ("response_types", Some(Kind::StringList)),
    ("redirect_uris", Some(Kind::StringList)),
    ("token_endpoint_auth_method", Some(Kind::String)),
    ("app_type", Some(Kind::String)),
    ("callbacks", Some(Kind::StringList)),
    ("allowed_origins", Some(Kind::StringList)),
    ("web_origins", Some(Kind::StringList)),
    ("allowed_logout_urls", Some(Kind::StringList)),
    ("sso", Some(Kind::Bool)),
    ("require_pushed_authorization_requests", Some(Kind::Bool)),
    ("addons", Some(Kind::Object)),
    ("oidc_logout", Some(Kind::Object)),
    ("oidc_backchannel_logout", Some(Kind::Object)),
    ("cross_origin_authentication", Some(Kind::Bool)),
    ("cross_origin_loc", Some(Kind::String)),
    ("token_exchange", Some(Kind::Object)),
    ("native_social_login", Some(Kind::Object)),
    ("jwt_configuration", Some(Kind::Object)),
    ("jwt_configuration.alg", Some(Kind::String)),
    ("jwt_configuration.scopes", Some(Kind::Object)),
    ("refresh_token", Some(Kind::Object)),
    ("refresh_token.expiration_type", Some(Kind::String)),
    ("refresh_token.infinite_idle_token_lifetime", Some(Kind::Bool)),
    ("client_authentication_methods", Some(Kind::Object)),
    ("client_authentication_methods.tls_client_auth", Some(Kind::Object)),
    ("client_authentication_methods.self_signed_tls_client_auth", Some(Kind::Object)),
];

/// The governed names of one configuration: [`GOVERNED`] plus the members a deployment
/// added to `policy.strict_profile`, indexed by skeleton.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GovernedNames {
    /// skeleton → the exact name (one path segment) it stands for
    by_skeleton: HashMap<String, String>,
    /// Members added by `policy.strict_profile` with a value: the JSON type that value has,
    /// so that `"true"` cannot stand for `true` where the profile compares values.
    configured_types: Vec<(String, &'static str)>,
}

impl GovernedNames {
    pub fn new(profile: &StrictProfile) -> Self {
        let paths = GOVERNED.iter().map(|(path, _)| *path).chain(profile.forbidden.iter().map(|m| m.path.as_str()));
        let by_skeleton =
            paths.flat_map(|path| path.split('.')).map(|name| (skeleton(name), name.to_owned())).collect();
        let configured_types = profile
            .forbidden
            .iter()
            .filter_map(|member| Some((member.path.clone(), super::body::json_type(member.value.as_ref()?))))
            .collect();
        GovernedNames { by_skeleton, configured_types }
    }

    /// Configured profile members whose name folds onto another governed name (`client-id`
    /// beside `client_id`): two governed names with one reading. `check` refuses them.
    pub fn collisions(profile: &StrictProfile) -> Vec<String> {
        let mut seen: HashMap<String, String> = GOVERNED
            .iter()
            .flat_map(|(path, _)| path.split('.'))
            .map(|name| (skeleton(name), name.to_owned()))
            .collect();
        let mut found = Vec::new();
        for name in profile.forbidden.iter().flat_map(|member| member.path.split('.')) {
            match seen.get(&skeleton(name)) {
                Some(other) if other != name => found.push(format!("`{name}` reads as `{other}`")),
                _ => {
                    seen.insert(skeleton(name), name.to_owned());
                }
            }
        }
        found
    }

    /// SPEC §16: names with a second reading, reserved names, and governed types.
    pub fn check(&self, members: &Map<String, Value>) -> Result<(), Rejection> {
        self.check_names(members, 1)?;
        check_types(members)?;
        for (path, expected) in &self.configured_types {
            match get_path(members, path) {
                None | Some(Value::Null) => {}
                Some(value) if super::body::json_type(value) == *expected => {}
                Some(value) => return Err(wrong_type(path, expected, value)),
            }
        }
        Ok(())
    }

    fn check_names(&self, members: &Map<String, Value>, depth: usize) -> Result<(), Rejection> {
        for (name, value) in members {
            if RESERVED_NAMES.contains(&name.as_str()) || name.starts_with('$') {
                // `$set`, `$rename`…: MongoDB (Mongoose) reads them as update operators
                return Err(Rejection::invalid_body(
                    ReasonCode::ReservedMember,
                    format!(
                        "the member name `{}` is not accepted: some servers read it as an instruction; remove it",
                        shorten(name)
                    ),
                ));
            }
            if name.contains(['.', '[', ']']) {
                // `jwt_configuration.alg`, `grant_types.0`, `jwt_configuration[alg]`,
                // `grant_types[]`: document stores, lodash `_.set` and Spring's binder read
                // them as a path into the object
                return Err(Rejection::invalid_body(
                    ReasonCode::AmbiguousMember,
                    format!(
                        "the member name `{}` contains `.`, `[` or `]`, which some servers read as a path into the object; nest the member instead",
                        shorten(&name.escape_debug().to_string())
                    ),
                ));
            }
            if depth > 1 && TOP_LEVEL_ONLY.contains(&name.as_str()) {
                return Err(Rejection::invalid_body(
                    ReasonCode::AmbiguousMember,
                    format!(
                        "`{name}` is read only at the top level of the body; a nested copy reads as the real one to some servers; remove it"
                    ),
                ));
            }
            if let Some(governed) = self.by_skeleton.get(&skeleton(name))
                && governed != name
            {
                return Err(Rejection::invalid_body(
                    ReasonCode::AmbiguousMember,
                    format!(
                        "the member name `{}` reads as `{governed}` to some servers; spell it exactly `{governed}` or remove it",
                        shorten(&name.escape_debug().to_string())
                    ),
                ));
            }
            self.check_value(value, depth)?;
        }
        Ok(())
    }

    fn check_value(&self, value: &Value, depth: usize) -> Result<(), Rejection> {
        match value {
            Value::Object(members) => self.check_names(members, depth + 1),
            Value::Array(items) => items.iter().try_for_each(|item| self.check_value(item, depth + 1)),
            _ => Ok(()),
        }
    }
}

fn check_types(members: &Map<String, Value>) -> Result<(), Rejection> {
    for (path, kind) in GOVERNED {
        let Some(kind) = kind else { continue };
        match get_path(members, path) {
            None | Some(Value::Null) => {}
            Some(value) if kind.matches(value) => {}
            Some(value) => return Err(wrong_type(path, kind.describe(), value)),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(body: &str) -> Result<(), ReasonCode> {
        let members: Map<String, Value> = serde_json::from_str(body).unwrap();
        GovernedNames::new(&StrictProfile::default()).check(&members).map_err(|r| r.reason)
    }

    #[test]
    fn refuses_second_readings_at_any_depth() {
        use ReasonCode::*;
        for (body, expected) in [
            (r#"{"is_first_party":false,"third_party_security_mode":"strict"}"#, Ok(())),
            (r#"{"name":"x","client_metadata":{"note":"Anything"}}"#, Ok(())),
            (r#"{"THIRD_PARTY_SECURITY_MODE":"permissive"}"#, Err(AmbiguousMember)),
            (r#"{"thirdPartySecurityMode":"permissive"}"#, Err(AmbiguousMember)),
            (r#"{"\u017fso":true}"#, Err(AmbiguousMember)),
            (r#"{"s\u200bso":true}"#, Err(AmbiguousMember)),
            (r#"{"jwt_configuration":{"ALG":"HS256"}}"#, Err(AmbiguousMember)),
            (r#"{"x":[{"Is_First_Party":false}]}"#, Err(AmbiguousMember)),
            (r#"{"name":"x","__proto__":{"is_first_party":false}}"#, Err(ReservedMember)),
            (r#"{"a":{"constructor":{"prototype":{}}}}"#, Err(ReservedMember)),
            (r#"{"_method":"PATCH"}"#, Err(ReservedMember)),
            (r#"{"$set":{"third_party_security_mode":"permissive"}}"#, Err(ReservedMember)),
            (r#"{"name":"x","client_metadata":{"$rename":{"a":"b"}}}"#, Err(ReservedMember)),
            (r#"{"jwt_configuration.alg":"HS256"}"#, Err(AmbiguousMember)),
            (r#"{"grant_types.0":"password"}"#, Err(AmbiguousMember)),
            (r#"{"addons":{"samlp.x":{}}}"#, Err(AmbiguousMember)),
            (r#"{"jwt_configuration[alg]":"HS256"}"#, Err(AmbiguousMember)),
            (r#"{"grant_types[]":"password"}"#, Err(AmbiguousMember)),
            (r#"{"name":"price $5","description":"a.b"}"#, Ok(())),
            (
                r#"{"name":"x","client":{"is_first_party":false,"third_party_security_mode":"permissive"}}"#,
                Err(AmbiguousMember),
            ),
            (r#"{"addons":{"samlp":{"audience":"urn:x"}}}"#, Ok(())),
            (r#"{"sso":"false"}"#, Err(InvalidType)),
            (r#"{"sso":null}"#, Ok(())),
            (r#"{"grant_types":"client_credentials"}"#, Err(InvalidType)),
            (r#"{"refresh_token":{"infinite_idle_token_lifetime":"true"}}"#, Err(InvalidType)),
            (r#"{"cross_origin_authentication":1}"#, Err(InvalidType)),
        ] {
            assert_eq!(check(body), expected, "{body}");
        }
    }

    #[test]
    fn configured_profile_values_are_typed_and_collisions_found() {
        let typed = crate::policy::ForbiddenMember::parse("custom_flag = true").unwrap();
        let names = GovernedNames::new(&StrictProfile::with_extra(vec![typed]));
        let members: Map<String, Value> = serde_json::from_str(r#"{"custom_flag":"true"}"#).unwrap();
        assert_eq!(names.check(&members).unwrap_err().reason, ReasonCode::InvalidType);
        let members: Map<String, Value> = serde_json::from_str(r#"{"custom_flag":false}"#).unwrap();
        assert!(names.check(&members).is_ok());
        let colliding = crate::policy::ForbiddenMember::parse("client-id").unwrap();
        assert_eq!(GovernedNames::collisions(&StrictProfile::with_extra(vec![colliding])).len(), 1);
    }

    #[test]
    fn configured_profile_members_are_governed_too() {
        let extra = crate::policy::ForbiddenMember::parse("custom_flag").unwrap();
        let names = GovernedNames::new(&StrictProfile::with_extra(vec![extra]));
        let members: Map<String, Value> = serde_json::from_str(r#"{"Custom_Flag":true}"#).unwrap();
        assert_eq!(names.check(&members).unwrap_err().reason, ReasonCode::AmbiguousMember);
    }
}
