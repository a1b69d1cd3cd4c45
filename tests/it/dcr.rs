//! `POST /oidc/register` (SPEC §4 dcr_register), answered in RFC 7591's shape.

use crate::support::{Gateway, JSON, Upstream, request, status};

const REGISTER: &str = "/oidc/register";
const GOOD: &str = r#"{"client_name":"tool","redirect_uris":["https://tool.test/cb"]}"#;

#[test]
fn strict_registration_gets_mode_and_strict_defaults_injected() {
    let upstream = Upstream::start().route(REGISTER, 201, r#"{"client_id":"tpc_1"}"#);
    let gateway = Gateway::start(upstream.addr);
    let response = gateway.post_json("globex.example.test", REGISTER, GOOD);
    assert_eq!(status(&response), 201, "{}", response.body_text());
    let received = upstream.single();
    let expected = r#"{"client_name":"tool","redirect_uris":["https://tool.test/cb"],"third_party_security_mode":"strict","grant_types":["authorization_code"],"response_types":["code"]}"#;
    assert_eq!(received.body_text(), expected);
    assert_eq!(received.header("content-length"), Some(expected.len().to_string().as_str()));
}

#[test]
fn strict_registration_without_default_permissions_is_refused_403() {
    let upstream = Upstream::start();
    let gateway = Gateway::start(upstream.addr);
    let response = gateway.post_json("initech.example.test", REGISTER, GOOD);
    assert_eq!(status(&response), 403);
    assert_eq!(response.header("x-modegate-reason"), Some("strict_dcr_without_defaults"));
    let json = response.json();
    assert_eq!(json["error"], "access_denied");
    assert!(json["error_description"].as_str().unwrap().contains("default API permissions"));
    upstream.assert_untouched();
}

#[test]
fn permissive_tenant_gets_permissive_mode_only() {
    let upstream = Upstream::start().route(REGISTER, 201, "{}");
    let gateway = Gateway::start(upstream.addr);
    // permissive registrations keep their grant types
    let body = r#"{"redirect_uris":["http://app.example/cb"],"grant_types":["implicit"]}"#;
    let response = gateway.post_json("acme.example.test", REGISTER, body);
    assert_eq!(status(&response), 201);
    assert_eq!(
        upstream.single().body_text(),
        r#"{"redirect_uris":["http://app.example/cb"],"grant_types":["implicit"],"third_party_security_mode":"permissive"}"#
    );
    // asking for strict on a permissive tenant is a mismatch
    let response = gateway.post_json(
        "acme.example.test",
        REGISTER,
        r#"{"redirect_uris":[],"third_party_security_mode":"strict"}"#,
    );
    assert_eq!(status(&response), 400);
    assert_eq!(response.json()["error"], "invalid_client_metadata");
    assert_eq!(response.header("x-modegate-reason"), Some("dcr_mode_mismatch"));
    assert_eq!(upstream.requests().len(), 1);
}

#[test]
fn matching_mode_in_body_is_not_injected_again() {
    let upstream = Upstream::start().route(REGISTER, 201, "{}");
    let gateway = Gateway::start(upstream.addr);
    let body = r#"{"redirect_uris":["https://a.test/cb"],"third_party_security_mode":"strict","grant_types":["authorization_code","refresh_token"],"response_types":["code"]}"#;
    let response = gateway.post_json("globex.example.test", REGISTER, body);
    assert_eq!(status(&response), 201);
    assert_eq!(upstream.single().body, body.as_bytes(), "nothing to change: original bytes");
}

#[test]
fn strict_registration_rules() {
    let upstream = Upstream::start();
    let gateway = Gateway::start(upstream.addr);
    let cases = [
        // (body, error, reason)
        (
            r#"{"redirect_uris":["https://a.test/cb"],"third_party_security_mode":"permissive"}"#,
            "invalid_client_metadata",
            "dcr_mode_mismatch",
        ),
        (
            r#"{"redirect_uris":["https://a.test/cb"],"is_first_party":true}"#,
            "invalid_client_metadata",
            "dcr_first_party",
        ),
        (
            r#"{"redirect_uris":["https://a.test/cb"],"grant_types":["client_credentials"]}"#,
            "invalid_client_metadata",
            "dcr_grant_types",
        ),
        (r#"{"redirect_uris":["https://a.test/cb"],"grant_types":[]}"#, "invalid_client_metadata", "dcr_grant_types"),
        (
            r#"{"redirect_uris":["https://a.test/cb"],"response_types":["code","token"]}"#,
            "invalid_client_metadata",
            "dcr_response_types",
        ),
        (
            r#"{"redirect_uris":["https://a.test/cb"],"token_endpoint_auth_method":"private_key_jwt"}"#,
            "invalid_client_metadata",
            "dcr_auth_method",
        ),
        (r#"{"client_name":"x"}"#, "invalid_redirect_uri", "invalid_redirect_uri"),
        (r#"{"redirect_uris":[]}"#, "invalid_redirect_uri", "invalid_redirect_uri"),
        (r#"{"redirect_uris":["http://evil.test/cb"]}"#, "invalid_redirect_uri", "invalid_redirect_uri"),
        (r#"{"redirect_uris":["https://*.a.test/cb"]}"#, "invalid_redirect_uri", "invalid_redirect_uri"),
        (r#"{"redirect_uris":["https://a.test/cb#frag"]}"#, "invalid_redirect_uri", "invalid_redirect_uri"),
        (r#"{"redirect_uris":["myapp:/cb"]}"#, "invalid_redirect_uri", "invalid_redirect_uri"),
        (r#"{"redirect_uris":["/relative"]}"#, "invalid_redirect_uri", "invalid_redirect_uri"),
        (
            r#"{"redirect_uris":["https://a.test/cb"],"addons":{"samlp":{}}}"#,
            "invalid_client_metadata",
            "strict_profile",
        ),
        (
            r#"{"redirect_uris":["https://a.test/cb"],"redirect_uris":["https://b.test"]}"#,
            "invalid_client_metadata",
            "duplicate_member",
        ),
        (r#"not json"#, "invalid_client_metadata", "invalid_json"),
    ];
    for (body, error, reason) in cases {
        let response = gateway.post_json("globex.example.test", REGISTER, body);
        assert_eq!(status(&response), 400, "{body}: {}", response.body_text());
        assert_eq!(response.json()["error"], error, "{body}");
        assert_eq!(response.header("x-modegate-reason"), Some(reason), "{body}");
        assert!(response.json()["error_description"].is_string());
    }
    upstream.assert_untouched();
}

#[test]
fn loopback_and_private_scheme_redirects_are_accepted() {
    let upstream = Upstream::start().route(REGISTER, 201, "{}");
    let gateway = Gateway::start(upstream.addr);
    for uri in ["http://localhost:8080/cb", "http://127.0.0.1/cb", "http://[::1]:3000/cb", "com.example.app:/cb"] {
        let body = format!(r#"{{"redirect_uris":["{uri}"]}}"#);
        let response = gateway.post_json("globex.example.test", REGISTER, &body);
        assert_eq!(status(&response), 201, "{uri}: {}", response.body_text());
    }
    assert_eq!(upstream.requests().len(), 4);
}

#[test]
fn extra_dcr_paths_are_intercepted_too() {
    let upstream = Upstream::start();
    let tenants = crate::support::gateway::TENANTS;
    let gateway = Gateway::start_with(upstream.addr, "", "", &format!("[routes]\ndcr_paths = [\"/reg\"]\n{tenants}"));
    for path in ["/reg", "/REG/", "/oidc/register"] {
        let response = gateway.post_json("initech.example.test", path, GOOD);
        assert_eq!(status(&response), 403, "{path}");
    }
    let response = gateway.send(&request("POST", "/reg%2F", "initech.example.test", &[JSON], GOOD.as_bytes()));
    assert_eq!(status(&response), 400);
    upstream.assert_untouched();
}

#[test]
fn token_access_needs_a_bearer_token_with_create_clients() {
    let upstream = Upstream::start().route(REGISTER, 201, "{}");
    let gateway = Gateway::start(upstream.addr);
    let response = gateway.send(&request(
        "POST",
        REGISTER,
        "token.example.test",
        &[JSON, ("Authorization", "none")],
        GOOD.as_bytes(),
    ));
    assert_eq!(status(&response), 401);
    assert_eq!(response.header("www-authenticate"), Some("Bearer error=\"invalid_token\""));
    assert_eq!(response.json()["error"], "invalid_token");
    let weak = crate::support::tokens::sign(
        &crate::support::tokens::rsa1(),
        &crate::support::tokens::claims("token.example.test", "read:clients"),
    );
    let bearer = format!("Bearer {weak}");
    let response = gateway.send(&request(
        "POST",
        REGISTER,
        "token.example.test",
        &[JSON, ("Authorization", &bearer)],
        GOOD.as_bytes(),
    ));
    // SPEC §4: "else 401", in RFC 7591's words (SPEC §7 lists no `insufficient_scope`)
    assert_eq!(status(&response), 401);
    assert_eq!(response.header("www-authenticate"), Some("Bearer error=\"invalid_token\""));
    assert_eq!(response.header("x-modegate-reason"), Some("insufficient_scope"));
    assert_eq!(response.json()["error"], "invalid_token");
    assert!(response.json()["error_description"].as_str().unwrap().contains("create:clients"));
    upstream.assert_untouched();
    // with a token that has the scope, the registration goes through (and is enforced)
    let response = gateway.post_json("token.example.test", REGISTER, GOOD);
    assert_eq!(status(&response), 201, "{}", response.body_text());
    assert!(upstream.single().body_text().contains(r#""third_party_security_mode":"strict""#));
}

#[test]
fn open_dcr_needs_no_token() {
    let upstream = Upstream::start().route(REGISTER, 201, "{}");
    let gateway = Gateway::start(upstream.addr);
    let response = gateway.send(&request(
        "POST",
        REGISTER,
        "globex.example.test",
        &[JSON, ("Authorization", "none")],
        GOOD.as_bytes(),
    ));
    assert_eq!(status(&response), 201);
    assert_eq!(upstream.jwks_fetches(), 0, "no key fetch for open registration");
}

/// `server.work_stealing = true` (issue 14's knob; every other test runs with the default,
/// off): on a multi-thread runtime, concurrent registrations all succeed and are stored
/// once, and the gateway goes on serving.
#[test]
fn registrations_are_stored_with_work_stealing() {
    let upstream = Upstream::start().route(REGISTER, 201, r#"{"client_id":"plain_steal"}"#);
    let gateway = Gateway::start_with(upstream.addr, "work_stealing = true", "", crate::support::gateway::TENANTS);
    let statuses: Vec<u16> = std::thread::scope(|scope| {
        let calls: Vec<_> =
            (0..8).map(|_| scope.spawn(|| status(&gateway.post_json("globex.example.test", REGISTER, GOOD)))).collect();
        calls.into_iter().map(|call| call.join().unwrap()).collect()
    });
    assert_eq!(statuses, vec![201; 8]);
    assert_eq!(gateway.metric("modegate_registry_writes_total{result=\"inserted\"}"), 1.0);
    assert_eq!(gateway.metric("modegate_registry_writes_total{result=\"kept\"}"), 7.0);
    let response = gateway.send(&request("GET", "/userinfo", "globex.example.test", &[], b""));
    assert_eq!(status(&response), 200);
}
