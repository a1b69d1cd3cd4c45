//! `PATCH /api/v2/tenants/settings` (SPEC §4 tenant_settings_update).

use crate::support::{Gateway, JSON, Upstream, request, status};

const SETTINGS: &str = "/api/v2/tenants/settings";

fn patch(gateway: &Gateway, host: &str, body: &str) -> crate::support::Message {
    gateway.send(&request("PATCH", SETTINGS, host, &[JSON], body.as_bytes()))
}

#[test]
fn dcr_mode_changes_follow_eligibility_and_default_permissions() {
    let upstream = Upstream::start();
    let gateway = Gateway::start(upstream.addr);
    let permissive = r#"{"dynamic_client_registration_security_mode":"permissive"}"#;
    let strict =
        r#"{"dynamic_client_registration_security_mode":"strict","flags":{"enable_dynamic_client_registration":true}}"#;
    // ineligible customer: no permissive
    let response = patch(&gateway, "globex.example.test", permissive);
    assert_eq!(status(&response), 400);
    assert_eq!(response.header("x-modegate-reason"), Some("permissive_not_eligible"));
    // no default API permissions: no strict
    let response = patch(&gateway, "initech.example.test", strict);
    assert_eq!(status(&response), 400);
    assert_eq!(response.header("x-modegate-reason"), Some("strict_dcr_without_defaults"));
    assert!(response.json()["message"].as_str().unwrap().contains("default_for"));
    // bad values
    for body in [
        r#"{"dynamic_client_registration_security_mode":"STRICT"}"#,
        r#"{"dynamic_client_registration_security_mode":null}"#,
        r#"{"dynamic_client_registration_security_mode":true}"#,
    ] {
        let response = patch(&gateway, "acme.example.test", body);
        assert_eq!(status(&response), 400, "{body}");
        assert_eq!(response.header("x-modegate-reason"), Some("invalid_dcr_mode"));
    }
    upstream.assert_untouched();
    // allowed changes pass with their original bytes
    for (host, body) in [
        ("acme.example.test", permissive),
        ("globex.example.test", strict),
        ("initech.example.test", r#"{"friendly_name":"x"}"#),
    ] {
        let response = patch(&gateway, host, body);
        assert_eq!(status(&response), 200, "{host} {body}");
    }
    let bodies: Vec<String> = upstream.requests().iter().map(|r| r.body_text()).collect();
    assert_eq!(bodies, vec![permissive, strict, r#"{"friendly_name":"x"}"#]);
}

#[test]
fn put_is_intercepted_like_patch() {
    let upstream = Upstream::start();
    let gateway = Gateway::start(upstream.addr);
    let body = br#"{"dynamic_client_registration_security_mode":"permissive"}"#;
    let response = gateway.send(&request("PUT", SETTINGS, "globex.example.test", &[JSON], body));
    assert_eq!(status(&response), 400);
    upstream.assert_untouched();
}

#[test]
fn allow_strict_dcr_without_defaults_lifts_the_requirement() {
    let upstream = Upstream::start();
    let tenants = "[[customers]]\nid = \"c\"\n[[tenants]]\nid = \"t\"\ncustomer = \"c\"\nhosts = [\"t.test\"]\nallow_strict_dcr_without_defaults = true\n";
    let gateway = Gateway::start_with(upstream.addr, "", "", tenants);
    let response = patch(&gateway, "t.test", r#"{"dynamic_client_registration_security_mode":"strict"}"#);
    assert_eq!(status(&response), 200);
    assert_eq!(upstream.requests().len(), 1);
    // issue 9, finding 7: the setting lets strict DCR be *set*; registrations stay closed (403)
    let response = gateway.post_json("t.test", "/oidc/register", r#"{"redirect_uris":["https://a.test/cb"]}"#);
    assert_eq!(status(&response), 403, "{}", response.body_text());
    assert_eq!(response.header("x-modegate-reason"), Some("strict_dcr_without_defaults"));
    assert_eq!(upstream.requests().len(), 1, "the registration reached the upstream");
}
