//! `POST /api/v2/clients` (SPEC §4 clients_create).

use crate::support::{Gateway, Upstream, status};

const CLIENTS: &str = "/api/v2/clients";

#[test]
fn third_party_without_mode_gets_strict_injected_byte_preserving() {
    let upstream = Upstream::start().route(CLIENTS, 201, r#"{"client_id":"tpc_x"}"#);
    let gateway = Gateway::start(upstream.addr);
    // number text, spacing and member order must survive the injection
    let body = r#"{"name":"x", "is_first_party":false,"n":1.50e3,"callbacks":["https://a.test/cb"]}"#;
    let response = gateway.post_json("globex.example.test", CLIENTS, body);
    assert_eq!(status(&response), 201, "{}", response.body_text());
    assert_eq!(response.body_text(), r#"{"client_id":"tpc_x"}"#);
    let received = upstream.single();
    let expected = r#"{"name":"x", "is_first_party":false,"n":1.50e3,"callbacks":["https://a.test/cb"],"third_party_security_mode":"strict"}"#;
    assert_eq!(received.body_text(), expected);
    assert_eq!(received.header("content-length"), Some(expected.len().to_string().as_str()));
    assert_eq!(received.header("transfer-encoding"), None);
    assert_eq!(received.start, vec!["POST", CLIENTS, "HTTP/1.1"]);
}

#[test]
fn first_party_is_forwarded_byte_for_byte() {
    let upstream = Upstream::start().route(CLIENTS, 201, "{}");
    let gateway = Gateway::start(upstream.addr);
    let body = "{ \"name\" : \"first\",\n  \"n\": 10.0 }";
    let response = gateway.post_json("globex.example.test", CLIENTS, body);
    assert_eq!(status(&response), 201);
    assert_eq!(upstream.single().body, body.as_bytes());
}

#[test]
fn mode_on_first_party_is_rejected() {
    let upstream = Upstream::start();
    let gateway = Gateway::start(upstream.addr);
    for body in [
        r#"{"name":"a","third_party_security_mode":"strict"}"#,
        r#"{"name":"a","is_first_party":true,"third_party_security_mode":"permissive"}"#,
    ] {
        let response = gateway.post_json("acme.example.test", CLIENTS, body);
        assert_eq!(status(&response), 400, "{body}");
        assert_eq!(response.header("x-modegate-reason"), Some("mode_on_first_party"));
        let json = response.json();
        assert_eq!(json["errorCode"], "invalid_body");
        assert_eq!(json["statusCode"], 400);
        assert_eq!(json["error"], "Bad Request");
    }
    upstream.assert_untouched();
}

#[test]
fn permissive_for_ineligible_customer_is_rejected_naming_customer_and_cutoff() {
    let upstream = Upstream::start();
    let gateway = Gateway::start(upstream.addr);
    let body = r#"{"name":"a","is_first_party":false,"third_party_security_mode":"permissive"}"#;
    let response = gateway.post_json("globex.example.test", CLIENTS, body);
    assert_eq!(status(&response), 400);
    assert_eq!(response.header("x-modegate-reason"), Some("permissive_not_eligible"));
    assert_eq!(response.header("content-type"), Some("application/json; charset=utf-8"));
    let message = response.json()["message"].as_str().unwrap().to_owned();
    assert!(message.contains("cus_globex") && message.contains("2026-04-23"), "{message}");
    upstream.assert_untouched();
}

#[test]
fn permissive_for_eligible_customer_is_forwarded_unchanged() {
    let upstream = Upstream::start().route(CLIENTS, 201, "{}");
    let gateway = Gateway::start(upstream.addr);
    let body = r#"{"name":"a","is_first_party":false,"third_party_security_mode":"permissive","sso":true}"#;
    let response = gateway.post_json("acme.example.test", CLIENTS, body);
    assert_eq!(status(&response), 201);
    assert_eq!(upstream.single().body, body.as_bytes());
}

#[test]
fn strict_profile_violations_are_rejected_naming_the_member() {
    let upstream = Upstream::start();
    let gateway = Gateway::start(upstream.addr);
    let cases = [
        (r#"{"is_first_party":false,"grant_types":["implicit"]}"#, "implicit"),
        (r#"{"is_first_party":false,"app_type":"spa","sso":false}"#, "sso"),
        (r#"{"is_first_party":false,"callbacks":["https://*.a.test/cb"]}"#, "callbacks"),
        (r#"{"is_first_party":false,"third_party_security_mode":"strict","addons":{}}"#, "addons"),
        (r#"{"is_first_party":false,"jwt_configuration":{"alg":"HS256"}}"#, "jwt_configuration.alg"),
        (
            r#"{"is_first_party":false,"grant_types":["client_credentials"],"token_endpoint_auth_method":"none"}"#,
            "client_credentials",
        ),
    ];
    for (body, member) in cases {
        let response = gateway.post_json("globex.example.test", CLIENTS, body);
        assert_eq!(status(&response), 400, "{body}");
        assert_eq!(response.header("x-modegate-reason"), Some("strict_profile"), "{body}");
        let message = response.json()["message"].as_str().unwrap().to_owned();
        assert!(message.contains(member), "{body}: {message}");
    }
    upstream.assert_untouched();
}

#[test]
fn permissive_default_is_injected_before_strict_default_date() {
    let upstream = Upstream::start().route(CLIENTS, 201, "{}");
    let tenants = crate::support::gateway::TENANTS;
    let gateway = Gateway::start_with(upstream.addr, "", "strict_default_from = \"2999-01-01\"", tenants);
    let response = gateway.post_json("acme.example.test", CLIENTS, r#"{"is_first_party":false}"#);
    assert_eq!(status(&response), 201);
    assert_eq!(upstream.single().body_text(), r#"{"is_first_party":false,"third_party_security_mode":"permissive"}"#);
}

#[test]
fn empty_object_gets_no_leading_comma() {
    let upstream = Upstream::start().route(CLIENTS, 201, "{}");
    let gateway = Gateway::start(upstream.addr);
    // an empty object is first-party: forwarded as is
    assert_eq!(status(&gateway.post_json("globex.example.test", CLIENTS, "{}")), 201);
    assert_eq!(upstream.single().body_text(), "{}");
}
