//! Per-tenant `enforcement` (SPEC §4) and unknown tenants (SPEC §2).

use crate::support::{Gateway, JSON, Upstream, request, status};

const PERMISSIVE: &str = r#"{"is_first_party":false,"third_party_security_mode":"permissive"}"#;

#[test]
fn shadow_forwards_the_original_and_logs_what_it_would_do() {
    let upstream = Upstream::start();
    let gateway = Gateway::start(upstream.addr);
    // would reject (ineligible permissive)
    let response = gateway.post_json("shadow.example.test", "/api/v2/clients", PERMISSIVE);
    assert_eq!(status(&response), 200);
    // would inject (third-party without mode)
    let response = gateway.post_json("shadow.example.test", "/api/v2/clients", r#"{"is_first_party":false}"#);
    assert_eq!(status(&response), 200);
    // would reject from the head (wrong media type): still forwarded
    let response = gateway.send(&request(
        "POST",
        "/api/v2/clients",
        "shadow.example.test",
        &[("Content-Type", "text/plain")],
        b"x",
    ));
    assert_eq!(status(&response), 200);
    let bodies: Vec<String> = upstream.requests().iter().map(|r| r.body_text()).collect();
    assert_eq!(bodies, vec![PERMISSIVE, r#"{"is_first_party":false}"#, "x"], "shadow must forward the original bytes");
    let decisions = gateway.wait_decisions(3);
    let labels: Vec<(&str, &str)> =
        decisions.iter().map(|d| (d["decision"].as_str().unwrap(), d["reason"].as_str().unwrap())).collect();
    assert_eq!(
        labels,
        vec![
            ("would_reject", "permissive_not_eligible"),
            ("would_inject", "mode_injected"),
            ("would_reject", "unsupported_media_type")
        ]
    );
    assert_eq!(gateway.metric("modegate_requests_total{decision=\"would_reject\",reason=\"permissive_not_eligible\",route=\"clients_create\"}"), 1.0);
}

#[test]
fn shadow_observes_chunked_bodies_too() {
    let upstream = Upstream::start();
    let gateway = Gateway::start(upstream.addr);
    let raw = format!(
        "POST /oidc/register HTTP/1.1\r\nHost: shadow.example.test\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n{:x}\r\n{}\r\n0\r\n\r\n",
        r#"{"redirect_uris":["http://evil.test"]}"#.len(),
        r#"{"redirect_uris":["http://evil.test"]}"#
    );
    assert_eq!(status(&gateway.send(raw.as_bytes())), 200);
    assert_eq!(upstream.single().body_text(), r#"{"redirect_uris":["http://evil.test"]}"#);
    let decisions = gateway.wait_decisions(1);
    assert_eq!(decisions[0]["decision"], "would_reject");
    assert_eq!(decisions[0]["reason"], "invalid_redirect_uri");
}

#[test]
fn off_proxies_without_parsing() {
    let upstream = Upstream::start();
    let gateway = Gateway::start(upstream.addr);
    for (path, body) in [("/api/v2/clients", PERMISSIVE), ("/api/v2%2Fclients", "not json"), ("/oidc/register", "{}")] {
        let response = gateway.send(&request(
            "POST",
            path,
            "off.example.test",
            &[("Content-Type", "text/plain")],
            body.as_bytes(),
        ));
        assert_eq!(status(&response), 200, "{path}");
    }
    let bodies: Vec<String> = upstream.requests().iter().map(|r| r.body_text()).collect();
    assert_eq!(bodies, vec![PERMISSIVE, "not json", "{}"]);
    assert!(gateway.decisions().is_empty(), "off tenants produce no decisions");
}

#[test]
fn unknown_tenant_passthrough_lets_intercepted_routes_through() {
    let upstream = Upstream::start();
    let gateway =
        Gateway::start_with(upstream.addr, "", "unknown_tenant = \"passthrough\"", crate::support::gateway::TENANTS);
    let response = gateway.send(&request("POST", "/api/v2/clients", "stranger.test", &[JSON], PERMISSIVE.as_bytes()));
    assert_eq!(status(&response), 200);
    assert_eq!(upstream.single().body_text(), PERMISSIVE);
    // known tenants are still enforced
    let response = gateway.post_json("globex.example.test", "/api/v2/clients", PERMISSIVE);
    assert_eq!(status(&response), 400);
    assert_eq!(upstream.requests().len(), 1);
}
