//! The rules of SPEC §4 and §5, one row each, through the same `decide` the proxy calls.

use std::sync::Arc;

use serde_json::json;
use time::macros::date;

use super::*;
use crate::config::{self, Config};

const CONFIG: &str = r#"
[upstream]
address = "127.0.0.1:3000"
[routes]
dcr_paths = ["/reg"]
[[customers]]
id = "eligible"
[[customers]]
id = "ineligible"
[[customers]]
id = "flagged"
permissive_eligible = true
[[tenants]]
id = "old"
customer = "eligible"
hosts = ["old.test"]
third_party_apps_since = "2025-01-01"
permissive_by_default = true
default_api_permissions = [{ audience = "https://api.old.test", scopes = ["read"] }]
[[tenants]]
id = "new-of-eligible"
customer = "eligible"
hosts = ["new.test"]
[[tenants]]
id = "strict"
customer = "ineligible"
hosts = ["strict.test"]
third_party_apps_since = "2026-05-01"
default_api_permissions = [{ audience = "https://api.strict.test", scopes = ["read"] }]
[[tenants]]
id = "bare"
customer = "ineligible"
hosts = ["bare.test"]
[[tenants]]
id = "flagged"
customer = "flagged"
hosts = ["flagged.test"]
dcr_security_mode = "strict"
inject_dcr_mode = false
default_api_permissions = [{ audience = "https://api.flagged.test", scopes = ["read"] }]
"#;

fn config() -> Config {
    config::parse(CONFIG).unwrap().0
}

fn tenant(config: &Config, host: &str) -> TenantPolicy {
    TenantPolicy::clone(&config.tenants.by_host(host).unwrap().policy)
}

const BEFORE_STRICT_DATE: Date = date!(2026 - 09 - 01);
const AFTER_STRICT_DATE: Date = date!(2026 - 11 - 28);

/// A row: route, host, body, today → expected outcome.
struct Case {
    route: RouteId,
    host: &'static str,
    body: &'static str,
    today: Date,
    expect: Expect,
    /// clients_update: what is known of the client (`None`: the upstream does not know it)
    client: Option<ClientState>,
    /// clients_update: the client's current combined members, as JSON (`""`: none known)
    current_members: &'static str,
    /// clients_update: a `PUT`
    replace: bool,
}

#[derive(Debug)]
enum Expect {
    Forward(&'static str),
    /// reason, injected members and their values
    Inject(&'static str, serde_json::Value),
    /// status, reason
    Reject(u16, &'static str),
}

use Expect::*;
use RouteId::*;

fn case(route: RouteId, host: &'static str, body: &'static str, expect: Expect) -> Case {
    Case { route, host, body, today: AFTER_STRICT_DATE, expect, client: None, current_members: "", replace: false }
}

const STRICT_CLIENT: ClientState = ClientState { is_first_party: false, mode: Some(SecurityMode::Strict) };
const PERMISSIVE_CLIENT: ClientState = ClientState { is_first_party: false, mode: Some(SecurityMode::Permissive) };
const FIRST_PARTY_CLIENT: ClientState = ClientState { is_first_party: true, mode: None };

fn update(client: Option<ClientState>, body: &'static str, expect: Expect) -> Case {
    Case { client, ..case(ClientsUpdate, "strict.test", body, expect) }
}

/// A `PATCH` of a strict client whose current combined members are `current`.
fn update_strict_holding(current: &'static str, body: &'static str, expect: Expect) -> Case {
    Case { current_members: current, ..update(Some(STRICT_CLIENT), body, expect) }
}

fn put(client: ClientState, body: &'static str, expect: Expect) -> Case {
    Case { replace: true, ..update(Some(client), body, expect) }
}

#[test]
fn rules_table() {
    let config = config();
    let cases = [
        // --- clients_create: first party
        case(ClientsCreate, "strict.test", r#"{"name":"a"}"#, Forward("first_party_client")),
        case(ClientsCreate, "strict.test", r#"{"is_first_party":true}"#, Forward("first_party_client")),
        // mode on a first-party client
        case(
            ClientsCreate,
            "old.test",
            r#"{"third_party_security_mode":"strict"}"#,
            Reject(400, "mode_on_first_party"),
        ),
        // --- third party, no mode: the default
        case(
            ClientsCreate,
            "strict.test",
            r#"{"is_first_party":false}"#,
            Inject("mode_injected", json!({"third_party_security_mode":"strict"})),
        ),
        case(
            ClientsCreate,
            "old.test",
            r#"{"is_first_party":false}"#,
            Inject("mode_injected", json!({"third_party_security_mode":"strict"})),
        ),
        Case {
            body: r#"{"is_first_party":false}"#,
            today: BEFORE_STRICT_DATE,
            ..case(
                ClientsCreate,
                "old.test",
                "",
                Inject("mode_injected", json!({"third_party_security_mode":"permissive"})),
            )
        },
        // eligible customer but the tenant does not default to permissive
        Case {
            body: r#"{"is_first_party":false}"#,
            today: BEFORE_STRICT_DATE,
            ..case(
                ClientsCreate,
                "new.test",
                "",
                Inject("mode_injected", json!({"third_party_security_mode":"strict"})),
            )
        },
        // injected strict still has to keep to the profile
        case(ClientsCreate, "old.test", r#"{"is_first_party":false,"sso":true}"#, Reject(400, "strict_profile")),
        // --- explicit modes
        case(
            ClientsCreate,
            "strict.test",
            r#"{"is_first_party":false,"third_party_security_mode":"permissive"}"#,
            Reject(400, "permissive_not_eligible"),
        ),
        case(
            ClientsCreate,
            "new.test",
            r#"{"is_first_party":false,"third_party_security_mode":"permissive","sso":true}"#,
            Forward("mode_allowed"),
        ),
        case(
            ClientsCreate,
            "flagged.test",
            r#"{"is_first_party":false,"third_party_security_mode":"permissive"}"#,
            Forward("mode_allowed"),
        ),
        case(
            ClientsCreate,
            "strict.test",
            r#"{"is_first_party":false,"third_party_security_mode":"strict","app_type":"spa"}"#,
            Forward("mode_allowed"),
        ),
        // types are checked, not coerced
        case(ClientsCreate, "strict.test", r#"{"is_first_party":"false"}"#, Reject(400, "invalid_type")),
        case(
            ClientsCreate,
            "strict.test",
            r#"{"is_first_party":false,"third_party_security_mode":"Strict"}"#,
            Reject(400, "invalid_type"),
        ),
        case(
            ClientsCreate,
            "strict.test",
            r#"{"is_first_party":false,"third_party_security_mode":null}"#,
            Reject(400, "invalid_type"),
        ),
        // --- strict profile rows (SPEC §5)
        case(
            ClientsCreate,
            "strict.test",
            r#"{"is_first_party":false,"grant_types":["authorization_code","refresh_token","client_credentials"],"token_endpoint_auth_method":"client_secret_post"}"#,
            Inject("mode_injected", json!({"third_party_security_mode":"strict"})),
        ),
        case(
            ClientsCreate,
            "strict.test",
            r#"{"is_first_party":false,"grant_types":["password"]}"#,
            Reject(400, "strict_profile"),
        ),
        case(
            ClientsCreate,
            "strict.test",
            r#"{"is_first_party":false,"grant_types":["client_credentials"],"token_endpoint_auth_method":"none"}"#,
            Reject(400, "strict_profile"),
        ),
        case(
            ClientsCreate,
            "strict.test",
            r#"{"is_first_party":false,"app_type":"resource_server"}"#,
            Reject(400, "strict_profile"),
        ),
        case(
            ClientsCreate,
            "strict.test",
            r#"{"is_first_party":false,"jwt_configuration":{"alg":"HS256"}}"#,
            Reject(400, "strict_profile"),
        ),
        case(
            ClientsCreate,
            "strict.test",
            r#"{"is_first_party":false,"jwt_configuration":{"alg":"RS256","lifetime_in_seconds":3600}}"#,
            Inject("mode_injected", json!({"third_party_security_mode":"strict"})),
        ),
        case(
            ClientsCreate,
            "strict.test",
            r#"{"is_first_party":false,"jwt_configuration":{"scopes":{}}}"#,
            Reject(400, "strict_profile"),
        ),
        case(
            ClientsCreate,
            "strict.test",
            r#"{"is_first_party":false,"refresh_token":{"expiration_type":"non-expiring"}}"#,
            Reject(400, "strict_profile"),
        ),
        case(
            ClientsCreate,
            "strict.test",
            r#"{"is_first_party":false,"refresh_token":{"expiration_type":"expiring","infinite_idle_token_lifetime":true}}"#,
            Reject(400, "strict_profile"),
        ),
        case(
            ClientsCreate,
            "strict.test",
            r#"{"is_first_party":false,"refresh_token":{"expiration_type":"expiring","infinite_idle_token_lifetime":false}}"#,
            Inject("mode_injected", json!({"third_party_security_mode":"strict"})),
        ),
        case(
            ClientsCreate,
            "strict.test",
            r#"{"is_first_party":false,"allowed_origins":["https://*.a.test"]}"#,
            Reject(400, "strict_profile"),
        ),
        case(
            ClientsCreate,
            "strict.test",
            r#"{"is_first_party":false,"web_origins":["*"]}"#,
            Reject(400, "strict_profile"),
        ),
        case(
            ClientsCreate,
            "strict.test",
            r#"{"is_first_party":false,"allowed_logout_urls":["https://a.test/*"]}"#,
            Reject(400, "strict_profile"),
        ),
        case(
            ClientsCreate,
            "strict.test",
            r#"{"is_first_party":false,"callbacks":"https://a.test"}"#,
            Reject(400, "invalid_type"),
        ),
        case(
            ClientsCreate,
            "strict.test",
            r#"{"is_first_party":false,"require_pushed_authorization_requests":false}"#,
            Reject(400, "strict_profile"),
        ),
        case(
            ClientsCreate,
            "strict.test",
            r#"{"is_first_party":false,"oidc_logout":{}}"#,
            Reject(400, "strict_profile"),
        ),
        case(
            ClientsCreate,
            "strict.test",
            r#"{"is_first_party":false,"oidc_backchannel_logout":{}}"#,
            Reject(400, "strict_profile"),
        ),
        case(
            ClientsCreate,
            "strict.test",
            r#"{"is_first_party":false,"cross_origin_authentication":true}"#,
            Reject(400, "strict_profile"),
        ),
        case(
            ClientsCreate,
            "strict.test",
            r#"{"is_first_party":false,"cross_origin_authentication":false}"#,
            Inject("mode_injected", json!({"third_party_security_mode":"strict"})),
        ),
        case(
            ClientsCreate,
            "strict.test",
            r#"{"is_first_party":false,"cross_origin_loc":"https://a.test"}"#,
            Reject(400, "strict_profile"),
        ),
        case(
            ClientsCreate,
            "strict.test",
            r#"{"is_first_party":false,"token_exchange":{}}"#,
            Reject(400, "strict_profile"),
        ),
        case(
            ClientsCreate,
            "strict.test",
            r#"{"is_first_party":false,"native_social_login":{}}"#,
            Reject(400, "strict_profile"),
        ),
        case(
            ClientsCreate,
            "strict.test",
            r#"{"is_first_party":false,"client_authentication_methods":{"tls_client_auth":{}}}"#,
            Reject(400, "strict_profile"),
        ),
        case(
            ClientsCreate,
            "strict.test",
            r#"{"is_first_party":false,"client_authentication_methods":{"self_signed_tls_client_auth":{}}}"#,
            Reject(400, "strict_profile"),
        ),
        case(
            ClientsCreate,
            "strict.test",
            r#"{"is_first_party":false,"client_authentication_methods":{"private_key_jwt":{}}}"#,
            Inject("mode_injected", json!({"third_party_security_mode":"strict"})),
        ),
        // --- tenant_settings_update
        case(TenantSettingsUpdate, "strict.test", r#"{"friendly_name":"x"}"#, Forward("settings_allowed")),
        case(
            TenantSettingsUpdate,
            "strict.test",
            r#"{"dynamic_client_registration_security_mode":"permissive"}"#,
            Reject(400, "permissive_not_eligible"),
        ),
        case(
            TenantSettingsUpdate,
            "new.test",
            r#"{"dynamic_client_registration_security_mode":"permissive"}"#,
            Forward("settings_allowed"),
        ),
        case(
            TenantSettingsUpdate,
            "strict.test",
            r#"{"dynamic_client_registration_security_mode":"strict"}"#,
            Forward("settings_allowed"),
        ),
        case(
            TenantSettingsUpdate,
            "bare.test",
            r#"{"dynamic_client_registration_security_mode":"strict"}"#,
            Reject(400, "strict_dcr_without_defaults"),
        ),
        case(
            TenantSettingsUpdate,
            "bare.test",
            r#"{"dynamic_client_registration_security_mode":"lax"}"#,
            Reject(400, "invalid_dcr_mode"),
        ),
        // --- client_grants_create
        case(
            ClientGrantsCreate,
            "old.test",
            r#"{"audience":"https://api.old.test","client_id":"x"}"#,
            Forward("grant_allowed"),
        ),
        case(
            ClientGrantsCreate,
            "old.test",
            r#"{"audience":"https://api.old.test","default_for":"third_party_clients"}"#,
            Forward("grant_allowed"),
        ),
        case(
            ClientGrantsCreate,
            "old.test",
            r#"{"audience":"https://api.old.test","default_for":"first_party_clients"}"#,
            Reject(400, "invalid_default_for"),
        ),
        case(
            ClientGrantsCreate,
            "old.test",
            r#"{"audience":"https://api.old.test","default_for":"third_party_clients","client_id":null}"#,
            Reject(400, "default_grant_with_client_id"),
        ),
        case(
            ClientGrantsCreate,
            "old.test",
            r#"{"audience":"https://old.test/api/v2/","default_for":"third_party_clients"}"#,
            Reject(400, "default_grant_management_api"),
        ),
        // --- dcr_register: mode per tenant
        case(
            DcrRegister,
            "new.test",
            r#"{"redirect_uris":["x"]}"#,
            Inject("mode_injected", json!({"third_party_security_mode":"permissive"})),
        ),
        case(
            DcrRegister,
            "strict.test",
            r#"{"redirect_uris":["https://a.test/cb"]}"#,
            Inject(
                "mode_injected",
                json!({"third_party_security_mode":"strict","grant_types":["authorization_code"],"response_types":["code"]}),
            ),
        ),
        // inject_dcr_mode = false: only the strict defaults
        case(
            DcrRegister,
            "flagged.test",
            r#"{"redirect_uris":["https://a.test/cb"]}"#,
            Inject("strict_defaults_injected", json!({"grant_types":["authorization_code"],"response_types":["code"]})),
        ),
        case(
            DcrRegister,
            "flagged.test",
            r#"{"redirect_uris":["https://a.test/cb"],"grant_types":["refresh_token","authorization_code"],"response_types":["code"]}"#,
            Forward("dcr_allowed"),
        ),
        case(
            DcrRegister,
            "bare.test",
            r#"{"redirect_uris":["https://a.test/cb"]}"#,
            Reject(403, "strict_dcr_without_defaults"),
        ),
        case(
            DcrRegister,
            "strict.test",
            r#"{"redirect_uris":["https://a.test/cb"],"third_party_security_mode":"permissive"}"#,
            Reject(400, "dcr_mode_mismatch"),
        ),
        case(
            DcrRegister,
            "strict.test",
            r#"{"redirect_uris":["https://a.test/cb"],"is_first_party":true}"#,
            Reject(400, "dcr_first_party"),
        ),
        case(
            DcrRegister,
            "strict.test",
            r#"{"redirect_uris":["https://a.test/cb"],"grant_types":["implicit"]}"#,
            Reject(400, "dcr_grant_types"),
        ),
        case(
            DcrRegister,
            "strict.test",
            r#"{"redirect_uris":["https://a.test/cb"],"response_types":["token"]}"#,
            Reject(400, "dcr_response_types"),
        ),
        case(
            DcrRegister,
            "strict.test",
            r#"{"redirect_uris":["https://a.test/cb"],"token_endpoint_auth_method":"tls_client_auth"}"#,
            Reject(400, "dcr_auth_method"),
        ),
        case(
            DcrRegister,
            "strict.test",
            r#"{"redirect_uris":["http://a.test/cb"]}"#,
            Reject(400, "invalid_redirect_uri"),
        ),
        case(
            DcrRegister,
            "strict.test",
            r#"{"redirect_uris":["https://a.test/cb"],"app_type":"resource_server"}"#,
            Reject(400, "strict_profile"),
        ),
        // --- clients_update: mode and ownership are fixed at creation
        update(
            Some(STRICT_CLIENT),
            r#"{"third_party_security_mode":"strict","is_first_party":false}"#,
            Forward("update_allowed"),
        ),
        update(Some(STRICT_CLIENT), r#"{"third_party_security_mode":"permissive"}"#, Reject(400, "mode_immutable")),
        update(Some(STRICT_CLIENT), r#"{"is_first_party":true}"#, Reject(400, "ownership_immutable")),
        update(Some(STRICT_CLIENT), r#"{"is_first_party":"true"}"#, Reject(400, "invalid_type")),
        update(Some(STRICT_CLIENT), r#"{"third_party_security_mode":null}"#, Reject(400, "invalid_type")),
        update(Some(STRICT_CLIENT), r#"{"require_pushed_authorization_requests":true}"#, Reject(400, "strict_profile")),
        update(Some(STRICT_CLIENT), r#"{"redirection_policy":"allow_always"}"#, Forward("update_allowed")),
        update(
            Some(PERMISSIVE_CLIENT),
            r#"{"sso":true,"third_party_security_mode":"permissive"}"#,
            Forward("update_allowed"),
        ),
        update(Some(PERMISSIVE_CLIENT), r#"{"third_party_security_mode":"strict"}"#, Reject(400, "mode_immutable")),
        update(Some(FIRST_PARTY_CLIENT), r#"{"third_party_security_mode":"strict"}"#, Reject(400, "mode_immutable")),
        update(Some(FIRST_PARTY_CLIENT), r#"{"is_first_party":false}"#, Reject(400, "ownership_immutable")),
        update(Some(FIRST_PARTY_CLIENT), r#"{"is_first_party":true,"sso":true}"#, Forward("update_allowed")),
        update(None, r#"{"third_party_security_mode":"permissive"}"#, Forward("client_not_found")),
        // --- issue 9, finding 1: the client as it would be after the update
        update_strict_holding(
            r#"{"token_endpoint_auth_method":"none","grant_types":["authorization_code"]}"#,
            r#"{"grant_types":["client_credentials"]}"#,
            Reject(400, "strict_profile"),
        ),
        update_strict_holding(
            r#"{"grant_types":["client_credentials"],"token_endpoint_auth_method":"client_secret_post"}"#,
            r#"{"token_endpoint_auth_method":"none"}"#,
            Reject(400, "strict_profile"),
        ),
        update_strict_holding(
            r#"{"token_endpoint_auth_method":"client_secret_post"}"#,
            r#"{"grant_types":["client_credentials"]}"#,
            Forward("update_allowed"),
        ),
        update_strict_holding(
            r#"{"token_endpoint_auth_method":"none"}"#,
            r#"{"grant_types":["client_credentials"],"token_endpoint_auth_method":"client_secret_basic"}"#,
            Forward("update_allowed"),
        ),
        // --- issue 9, finding 8: a PUT replaces the client, so it restates what cannot change
        put(STRICT_CLIENT, r#"{"name":"x"}"#, Reject(400, "replace_incomplete")),
        put(STRICT_CLIENT, r#"{"name":"x","is_first_party":false}"#, Reject(400, "replace_incomplete")),
        put(
            STRICT_CLIENT,
            r#"{"name":"x","is_first_party":false,"third_party_security_mode":"strict"}"#,
            Forward("update_allowed"),
        ),
        put(
            STRICT_CLIENT,
            r#"{"is_first_party":false,"third_party_security_mode":"strict","grant_types":["client_credentials"],"token_endpoint_auth_method":"none"}"#,
            Reject(400, "strict_profile"),
        ),
        put(PERMISSIVE_CLIENT, r#"{"name":"x"}"#, Reject(400, "replace_incomplete")),
        put(FIRST_PARTY_CLIENT, r#"{"name":"x"}"#, Forward("update_allowed")),
    ];
    let mut messages = Vec::new();
    for (index, case) in cases.iter().enumerate() {
        let tenant = tenant(&config, case.host);
        let current = case.client.map(|state| CurrentClient {
            state,
            members: serde_json::from_str(case.current_members).unwrap_or_default(),
        });
        let decision = decide(
            case.route,
            case.body.as_bytes(),
            &tenant,
            &config.policy,
            case.today,
            current.as_ref(),
            case.replace,
        );
        let row = format!("row {index}: {:?} {} {}", case.route, case.host, case.body);
        match (&case.expect, &decision.outcome) {
            (Forward(reason), Outcome::Forward) => assert_eq!(decision.reason.as_str(), *reason, "{row}"),
            (Inject(reason, members), Outcome::Inject(Injection { patch, .. })) => {
                assert_eq!(decision.reason.as_str(), *reason, "{row}");
                let injected: serde_json::Map<String, serde_json::Value> =
                    patch.members.iter().map(|(name, value)| ((*name).to_owned(), value.clone())).collect();
                assert_eq!(&serde_json::Value::Object(injected), members, "{row}");
                let body = decision.upstream_body(case.body.as_bytes()).unwrap();
                let reparsed = parse_object(&body).unwrap();
                assert!(body.starts_with(&case.body.as_bytes()[..case.body.len() - 1]), "{row}: prefix kept");
                for (name, value) in &patch.members {
                    assert_eq!(reparsed.get(name), Some(value), "{row}");
                }
            }
            (Reject(status, reason), Outcome::Reject(rejection)) => {
                assert_eq!(
                    (rejection.status, rejection.reason.as_str()),
                    (*status, *reason),
                    "{row}: {}",
                    rejection.message
                );
                messages.push(format!("{row}\n  {} {}: {}", rejection.status, reason, rejection.message));
            }
            (expected, got) => panic!("{row}: expected {expected:?}, got {got:?}"),
        }
    }
    // every user-facing rejection message, pinned (inline: on a change, insta prints the new text to paste here)
    insta::assert_snapshot!(messages.join("\n"), @r###"
    row 2: ClientsCreate old.test {"third_party_security_mode":"strict"}
      400 mode_on_first_party: `third_party_security_mode` applies only to third-party applications; remove it or set `is_first_party: false`
    row 7: ClientsCreate old.test {"is_first_party":false,"sso":true}
      400 strict_profile: `sso` is not available to strict third-party applications; remove it
    row 8: ClientsCreate strict.test {"is_first_party":false,"third_party_security_mode":"permissive"}
      400 permissive_not_eligible: `third_party_security_mode: "permissive"`: customer `ineligible` is not eligible for permissive third-party applications (only customers that used third-party applications before 2026-04-23); use `strict`
    row 12: ClientsCreate strict.test {"is_first_party":"false"}
      400 invalid_type: `is_first_party` must be a boolean, not a string
    row 13: ClientsCreate strict.test {"is_first_party":false,"third_party_security_mode":"Strict"}
      400 invalid_type: `third_party_security_mode` must be `strict` or `permissive` (lowercase)
    row 14: ClientsCreate strict.test {"is_first_party":false,"third_party_security_mode":null}
      400 invalid_type: `third_party_security_mode` must be the string `strict` or `permissive`, not null
    row 16: ClientsCreate strict.test {"is_first_party":false,"grant_types":["password"]}
      400 strict_profile: `grant_types` contains `password`, which strict third-party applications cannot use; allowed: authorization_code, refresh_token, client_credentials
    row 17: ClientsCreate strict.test {"is_first_party":false,"grant_types":["client_credentials"],"token_endpoint_auth_method":"none"}
      400 strict_profile: `grant_types` contains `client_credentials` with `token_endpoint_auth_method: "none"`; client credentials need a confidential client
    row 18: ClientsCreate strict.test {"is_first_party":false,"app_type":"resource_server"}
      400 strict_profile: `app_type` `resource_server` is not available to strict third-party applications; allowed: regular_web, spa, native, non_interactive
    row 19: ClientsCreate strict.test {"is_first_party":false,"jwt_configuration":{"alg":"HS256"}}
      400 strict_profile: `jwt_configuration.alg` must be `RS256` for strict third-party applications
    row 21: ClientsCreate strict.test {"is_first_party":false,"jwt_configuration":{"scopes":{}}}
      400 strict_profile: `jwt_configuration.scopes` is not available to strict third-party applications; remove it
    row 22: ClientsCreate strict.test {"is_first_party":false,"refresh_token":{"expiration_type":"non-expiring"}}
      400 strict_profile: `refresh_token.expiration_type: "non-expiring"` is not available to strict third-party applications; remove it
    row 23: ClientsCreate strict.test {"is_first_party":false,"refresh_token":{"expiration_type":"expiring","infinite_idle_token_lifetime":true}}
      400 strict_profile: `refresh_token.infinite_idle_token_lifetime: true` is not available to strict third-party applications; remove it
    row 25: ClientsCreate strict.test {"is_first_party":false,"allowed_origins":["https://*.a.test"]}
      400 strict_profile: `allowed_origins` contains a `*` wildcard, which strict third-party applications cannot use; list each URL
    row 26: ClientsCreate strict.test {"is_first_party":false,"web_origins":["*"]}
      400 strict_profile: `web_origins` contains a `*` wildcard, which strict third-party applications cannot use; list each URL
    row 27: ClientsCreate strict.test {"is_first_party":false,"allowed_logout_urls":["https://a.test/*"]}
      400 strict_profile: `allowed_logout_urls` contains a `*` wildcard, which strict third-party applications cannot use; list each URL
    row 28: ClientsCreate strict.test {"is_first_party":false,"callbacks":"https://a.test"}
      400 invalid_type: `callbacks` must be an array of strings, not a string
    row 29: ClientsCreate strict.test {"is_first_party":false,"require_pushed_authorization_requests":false}
      400 strict_profile: `require_pushed_authorization_requests` is not available to strict third-party applications; remove it
    row 30: ClientsCreate strict.test {"is_first_party":false,"oidc_logout":{}}
      400 strict_profile: `oidc_logout` is not available to strict third-party applications; remove it
    row 31: ClientsCreate strict.test {"is_first_party":false,"oidc_backchannel_logout":{}}
      400 strict_profile: `oidc_backchannel_logout` is not available to strict third-party applications; remove it
    row 32: ClientsCreate strict.test {"is_first_party":false,"cross_origin_authentication":true}
      400 strict_profile: `cross_origin_authentication: true` is not available to strict third-party applications; remove it
    row 34: ClientsCreate strict.test {"is_first_party":false,"cross_origin_loc":"https://a.test"}
      400 strict_profile: `cross_origin_loc` is not available to strict third-party applications; remove it
    row 35: ClientsCreate strict.test {"is_first_party":false,"token_exchange":{}}
      400 strict_profile: `token_exchange` is not available to strict third-party applications; remove it
    row 36: ClientsCreate strict.test {"is_first_party":false,"native_social_login":{}}
      400 strict_profile: `native_social_login` is not available to strict third-party applications; remove it
    row 37: ClientsCreate strict.test {"is_first_party":false,"client_authentication_methods":{"tls_client_auth":{}}}
      400 strict_profile: `client_authentication_methods.tls_client_auth` is not available to strict third-party applications; remove it
    row 38: ClientsCreate strict.test {"is_first_party":false,"client_authentication_methods":{"self_signed_tls_client_auth":{}}}
      400 strict_profile: `client_authentication_methods.self_signed_tls_client_auth` is not available to strict third-party applications; remove it
    row 41: TenantSettingsUpdate strict.test {"dynamic_client_registration_security_mode":"permissive"}
      400 permissive_not_eligible: `dynamic_client_registration_security_mode: "permissive"`: customer `ineligible` is not eligible for permissive third-party applications (only customers that used third-party applications before 2026-04-23); use `strict`
    row 44: TenantSettingsUpdate bare.test {"dynamic_client_registration_security_mode":"strict"}
      400 strict_dcr_without_defaults: strict dynamic client registration needs default API permissions: create client grants with `default_for: "third_party_clients"` first
    row 45: TenantSettingsUpdate bare.test {"dynamic_client_registration_security_mode":"lax"}
      400 invalid_dcr_mode: `dynamic_client_registration_security_mode` must be `strict` or `permissive` (lowercase)
    row 48: ClientGrantsCreate old.test {"audience":"https://api.old.test","default_for":"first_party_clients"}
      400 invalid_default_for: `default_for` must be `third_party_clients`
    row 49: ClientGrantsCreate old.test {"audience":"https://api.old.test","default_for":"third_party_clients","client_id":null}
      400 default_grant_with_client_id: a grant carries either `client_id` or `default_for`, not both; remove `client_id` for a default grant
    row 50: ClientGrantsCreate old.test {"audience":"https://old.test/api/v2/","default_for":"third_party_clients"}
      400 default_grant_management_api: default API permissions cannot target the Management API; choose one of your own APIs
    row 55: DcrRegister bare.test {"redirect_uris":["https://a.test/cb"]}
      403 strict_dcr_without_defaults: registration is closed: this tenant registers strict clients, which can reach no API until default API permissions are configured; ask the tenant owner to configure them first
    row 56: DcrRegister strict.test {"redirect_uris":["https://a.test/cb"],"third_party_security_mode":"permissive"}
      400 dcr_mode_mismatch: this tenant registers `strict` clients; remove `third_party_security_mode` or set it to `strict`
    row 57: DcrRegister strict.test {"redirect_uris":["https://a.test/cb"],"is_first_party":true}
      400 dcr_first_party: dynamically registered clients are always third-party; remove `is_first_party`
    row 58: DcrRegister strict.test {"redirect_uris":["https://a.test/cb"],"grant_types":["implicit"]}
      400 dcr_grant_types: grant type `implicit` is not available to strict registrations; use `authorization_code` and `refresh_token`
    row 59: DcrRegister strict.test {"redirect_uris":["https://a.test/cb"],"response_types":["token"]}
      400 dcr_response_types: `response_types` must be exactly ["code"] for strict registrations
    row 60: DcrRegister strict.test {"redirect_uris":["https://a.test/cb"],"token_endpoint_auth_method":"tls_client_auth"}
      400 dcr_auth_method: `token_endpoint_auth_method` must be one of none, client_secret_post, client_secret_basic
    row 61: DcrRegister strict.test {"redirect_uris":["http://a.test/cb"]}
      400 invalid_redirect_uri: redirect URI `http://a.test/cb` uses `http`, which is allowed only for localhost, 127.0.0.1 or [::1]; use `https`
    row 62: DcrRegister strict.test {"redirect_uris":["https://a.test/cb"],"app_type":"resource_server"}
      400 strict_profile: `app_type` `resource_server` is not available to strict third-party applications; allowed: regular_web, spa, native, non_interactive
    row 64: ClientsUpdate strict.test {"third_party_security_mode":"permissive"}
      400 mode_immutable: `third_party_security_mode` is set at creation and cannot be changed; create a new application
    row 65: ClientsUpdate strict.test {"is_first_party":true}
      400 ownership_immutable: `is_first_party` is set at creation and cannot be changed; create a new application
    row 66: ClientsUpdate strict.test {"is_first_party":"true"}
      400 invalid_type: `is_first_party` must be a boolean, not a string
    row 67: ClientsUpdate strict.test {"third_party_security_mode":null}
      400 invalid_type: `third_party_security_mode` must be the string `strict` or `permissive`, not null
    row 68: ClientsUpdate strict.test {"require_pushed_authorization_requests":true}
      400 strict_profile: `require_pushed_authorization_requests` is not available to strict third-party applications; remove it
    row 71: ClientsUpdate strict.test {"third_party_security_mode":"strict"}
      400 mode_immutable: `third_party_security_mode` is set at creation and cannot be changed; create a new application
    row 72: ClientsUpdate strict.test {"third_party_security_mode":"strict"}
      400 mode_immutable: `third_party_security_mode` is set at creation and cannot be changed; create a new application
    row 73: ClientsUpdate strict.test {"is_first_party":false}
      400 ownership_immutable: `is_first_party` is set at creation and cannot be changed; create a new application
    row 76: ClientsUpdate strict.test {"grant_types":["client_credentials"]}
      400 strict_profile: `grant_types` contains `client_credentials` with `token_endpoint_auth_method: "none"`; client credentials need a confidential client
    row 77: ClientsUpdate strict.test {"token_endpoint_auth_method":"none"}
      400 strict_profile: `grant_types` contains `client_credentials` with `token_endpoint_auth_method: "none"`; client credentials need a confidential client
    row 80: ClientsUpdate strict.test {"name":"x"}
      400 replace_incomplete: a PUT replaces the client: restate `is_first_party: false` and `third_party_security_mode: "strict"`, or send a PATCH
    row 81: ClientsUpdate strict.test {"name":"x","is_first_party":false}
      400 replace_incomplete: a PUT replaces the client: restate `is_first_party: false` and `third_party_security_mode: "strict"`, or send a PATCH
    row 83: ClientsUpdate strict.test {"is_first_party":false,"third_party_security_mode":"strict","grant_types":["client_credentials"],"token_endpoint_auth_method":"none"}
      400 strict_profile: `grant_types` contains `client_credentials` with `token_endpoint_auth_method: "none"`; client credentials need a confidential client
    row 84: ClientsUpdate strict.test {"name":"x"}
      400 replace_incomplete: a PUT replaces the client: restate `is_first_party: false` and `third_party_security_mode: "permissive"`, or send a PATCH
    "###);
}

#[test]
fn client_state_is_read_from_prefixes_and_documents() {
    assert_eq!(ClientState::from_client_id("tpc_abc"), Some(STRICT_CLIENT));
    assert_eq!(ClientState::from_client_id("abc"), None);
    assert_eq!(ClientState::from_document(&json!({})), Some(FIRST_PARTY_CLIENT));
    assert_eq!(ClientState::from_document(&json!({"is_first_party":false})), Some(PERMISSIVE_CLIENT));
    assert_eq!(
        ClientState::from_document(&json!({"is_first_party":false,"third_party_security_mode":"strict"})),
        Some(STRICT_CLIENT)
    );
    assert_eq!(ClientState::from_document(&json!({"is_first_party":"no"})), None);
    assert_eq!(ClientState::from_document(&json!({"third_party_security_mode":"lax"})), None);
    assert_eq!(ClientState::from_document(&json!([])), None);
}

#[test]
fn creation_answers_are_completed_with_what_was_sent() {
    // a legacy answer that echoes neither member keeps what the gateway sent
    assert_eq!(ClientState::from_creation(&json!({"client_id":"a"}), STRICT_CLIENT), STRICT_CLIENT);
    assert_eq!(
        ClientState::from_creation(&json!({"client_id":"a","third_party_security_mode":null}), STRICT_CLIENT),
        STRICT_CLIENT
    );
    assert_eq!(ClientState::from_creation(&json!({"client_id":"a"}), FIRST_PARTY_CLIENT), FIRST_PARTY_CLIENT);
    // what the upstream says, when it says it, wins
    assert_eq!(
        ClientState::from_creation(
            &json!({"is_first_party":false,"third_party_security_mode":"permissive"}),
            STRICT_CLIENT
        ),
        PERMISSIVE_CLIENT
    );
}

#[test]
fn strict_profile_names_the_first_offending_member_in_body_order() {
    let config = config();
    let tenant = tenant(&config, "strict.test");
    let body = br#"{"is_first_party":false,"addons":{},"sso":true}"#;
    let decision = decide(ClientsCreate, body, &tenant, &config.policy, AFTER_STRICT_DATE, None, false);
    let Outcome::Reject(rejection) = decision.outcome else { panic!() };
    assert_eq!(rejection.message, "`addons` is not available to strict third-party applications; remove it");
}

#[test]
fn configured_strict_profile_entries_add_to_the_defaults() {
    let text = format!("{CONFIG}\n")
        .replace("[routes]", "[policy]\nstrict_profile = [\"custom_login_page\", \"mobile.android = {}\"]\n[routes]");
    let config = config::parse(&text).unwrap().0;
    let tenant = tenant(&config, "strict.test");
    for (body, rejected) in [
        (r#"{"is_first_party":false,"custom_login_page":"<html>"}"#, true),
        (r#"{"is_first_party":false,"mobile":{"android":{}}}"#, true),
        (r#"{"is_first_party":false,"mobile":{"android":{"app":"x"}}}"#, false),
        (r#"{"is_first_party":false,"sso":true}"#, true),
    ] {
        let decision = decide(ClientsCreate, body.as_bytes(), &tenant, &config.policy, AFTER_STRICT_DATE, None, false);
        assert_eq!(matches!(decision.outcome, Outcome::Reject(_)), rejected, "{body}");
    }
}

#[test]
fn eligibility_is_per_customer() {
    let config = config();
    assert!(tenant(&config, "old.test").customer_eligible);
    assert!(tenant(&config, "new.test").customer_eligible, "a new tenant of an eligible customer is eligible");
    assert!(!tenant(&config, "strict.test").customer_eligible, "third-party use after the cut-off does not count");
    assert!(tenant(&config, "flagged.test").customer_eligible, "explicit flag");
    assert_eq!(tenant(&config, "new.test").dcr_mode(), SecurityMode::Permissive);
    assert_eq!(tenant(&config, "strict.test").dcr_mode(), SecurityMode::Strict);
}

fn head<'a>(method: &'a str, target: &'a str, headers: &'a HeaderMap) -> RequestHead<'a> {
    RequestHead {
        method,
        target: target.as_bytes(),
        authority: None,
        headers,
        version: http::Version::HTTP_11,
        body_follows: false,
    }
}

fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (name, value) in pairs {
        map.append(*name, value.parse().unwrap());
    }
    map
}

#[test]
fn plan_checks_the_head() {
    let config = config();
    let uri = "/api/v2/clients";
    // what the pipeline needs after the tenant, or how it ends
    let run = |pairs: &[(&'static str, &str)]| {
        let map = headers(pairs);
        let (mut pipeline, step) =
            Pipeline::start(&head("POST", uri, &map), Arc::clone(&config.policy), AFTER_STRICT_DATE);
        let step = match step {
            Step::NeedTenant { host } => {
                pipeline.tenant(Ok(config.tenants.by_host(&host).map(|t| Arc::clone(&t.policy))))
            }
            other => other,
        };
        match step {
            Step::Respond { rejection, .. } => rejection.reason.as_str(),
            Step::NeedToken { .. } => "read_body",
            other => panic!("{other:?}"),
        }
    };
    assert_eq!(run(&[("host", "strict.test"), ("content-type", "application/json")]), "read_body");
    assert_eq!(run(&[("host", "strict.test"), ("content-type", "text/json")]), "unsupported_media_type");
    assert_eq!(
        run(&[("host", "strict.test"), ("content-type", "application/json"), ("content-encoding", "br")]),
        "unsupported_encoding"
    );
    assert_eq!(
        run(&[("host", "strict.test"), ("content-type", "application/json"), ("content-length", "70000")]),
        "payload_too_large"
    );
    assert_eq!(
        run(&[("host", "strict.test"), ("content-type", "application/json"), ("content-length", "x")]),
        "ambiguous_framing"
    );
    assert_eq!(run(&[("host", "nobody.test"), ("content-type", "application/json")]), "unknown_tenant");
    // RFC 9112 §3.2: an HTTP/1.1 request without `Host` is refused before any tenant
    assert_eq!(run(&[("content-type", "application/json")]), "invalid_host");
}

#[test]
fn evaluate_runs_the_whole_pipeline() {
    let config = config();
    let uri = "/reg";
    let map = headers(&[("host", "bare.test"), ("content-type", "application/json")]);
    let evaluation = evaluate(
        &head("POST", uri, &map),
        br#"{"redirect_uris":["https://a.test"]}"#,
        Arc::clone(&config.policy),
        |host| config.tenants.by_host(host).map(|t| Arc::clone(&t.policy)),
        AFTER_STRICT_DATE,
        None,
    );
    assert_eq!(evaluation.tenant.as_deref(), Some("bare"));
    let Step::Respond { rejection, record, body_read: true } = evaluation.end else { panic!("{:?}", evaluation.end) };
    assert_eq!(rejection.reason, ReasonCode::StrictDcrWithoutDefaults);
    assert_eq!((record.decision, record.reason), ("reject", ReasonCode::StrictDcrWithoutDefaults));
}

mod pipeline;

proptest::proptest! {
    /// Whatever the body, deciding never panics and an injection always yields a valid object.
    #[test]
    fn decide_never_panics(body in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..200), route in 0usize..5) {
        let config = config();
        let tenant = tenant(&config, "strict.test");
        let route = RouteId::ALL[route];
        let decision = decide(route, &body, &tenant, &config.policy, AFTER_STRICT_DATE, Some(&CurrentClient::of_state(STRICT_CLIENT)), false);
        if let Some(upstream) = decision.upstream_body(&body)
            && matches!(decision.outcome, Outcome::Inject(_))
        {
            proptest::prop_assert!(parse_object(&upstream).is_ok());
        }
    }
}

mod one_reading;
