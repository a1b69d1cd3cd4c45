//! SPEC §9: admin endpoints, metrics, the decision log.

use crate::support::{Gateway, Upstream, status};

#[test]
fn admin_endpoints_answer() {
    let upstream = Upstream::start();
    let gateway = Gateway::start(upstream.addr);
    assert_eq!(status(&gateway.admin_get("/healthz").unwrap()), 200);
    assert_eq!(status(&gateway.admin_get("/readyz").unwrap()), 200);
    assert_eq!(status(&gateway.admin_get("/nope").unwrap()), 404);
    let metrics = gateway.admin_get("/metrics").unwrap().body_text();
    for name in ["modegate_build_info{version=\"", "modegate_config_generation 1", "modegate_policy_cache_entries"] {
        assert!(metrics.contains(name), "{name} missing:\n{metrics}");
    }
    upstream.assert_untouched();
}

#[test]
fn requests_are_counted_by_route_decision_and_reason() {
    let upstream = Upstream::start();
    let gateway = Gateway::start(upstream.addr);
    gateway.post_json("globex.example.test", "/api/v2/clients", r#"{"is_first_party":false}"#);
    gateway.post_json("globex.example.test", "/api/v2/clients", r#"{"is_first_party":false}"#);
    gateway.post_json("globex.example.test", "/api/v2/clients", r#"{"is_first_party":false,"sso":true}"#);
    gateway.post_json("globex.example.test", "/elsewhere", "{}");
    let sample = |route: &str, decision: &str, reason: &str, expected: f64| {
        gateway.wait_metric(
            &format!("modegate_requests_total{{decision=\"{decision}\",reason=\"{reason}\",route=\"{route}\"}}"),
            expected,
        )
    };
    assert_eq!(sample("clients_create", "inject", "mode_injected", 2.0), 2.0);
    assert_eq!(sample("clients_create", "reject", "strict_profile", 1.0), 1.0);
    assert_eq!(sample("passthrough", "forward", "passthrough", 1.0), 1.0);
    assert_eq!(gateway.wait_metric("modegate_request_duration_seconds_count{route=\"clients_create\"}", 3.0), 3.0);
    let metrics = gateway.admin_get("/metrics").unwrap().body_text();
    assert!(!metrics.contains("globex"), "no tenant ids in labels");
}

#[test]
fn decision_log_has_one_line_per_intercepted_request_and_no_secrets() {
    let upstream = Upstream::start().route("/api/v2/clients", 201, "{}");
    let gateway = Gateway::start(upstream.addr);
    let secret = "s3cr3t-value";
    let body = format!(r#"{{"is_first_party":false,"client_secret":"{secret}"}}"#);
    let response = gateway.send(&crate::support::request(
        "POST",
        "/api/v2/clients",
        "globex.example.test",
        &[crate::support::JSON, ("X-Request-Id", "req-42")],
        body.as_bytes(),
    ));
    assert_eq!(status(&response), 201);
    gateway.post_json("globex.example.test", "/not-intercepted", "{}");
    let decisions = gateway.wait_decisions(1);
    assert_eq!(decisions.len(), 1, "passthrough requests are not in the decision log");
    let line = &decisions[0];
    assert_eq!(line["request_id"], "req-42");
    assert_eq!(line["tenant"], "globex");
    assert_eq!(line["customer"], "cus_globex");
    assert_eq!(line["route"], "clients_create");
    assert_eq!(line["decision"], "inject");
    assert_eq!(line["reason"], "mode_injected");
    assert_eq!(line["effective_mode"], "strict");
    assert_eq!(line["requested_mode"], serde_json::Value::Null);
    assert_eq!(line["injected"], serde_json::json!(["third_party_security_mode"]));
    assert_eq!(line["status"], 201);
    assert_eq!(line["upstream_status"], 201);
    assert!(line["latency_ms"].as_f64().unwrap() >= 0.0);
    assert!(line["time"].as_str().unwrap().starts_with("20"));
    assert_eq!(line["sub"], "mgmt-client@clients");
    assert_eq!(line["azp"], "mgmt-client");
    let text = line.to_string();
    let token = crate::support::tokens::valid_for("globex.example.test");
    assert!(!text.contains(secret) && !text.contains(&token[..20]), "the log must not hold bodies or tokens: {text}");
}

/// Issue 10, audit integrity: a refused request keeps the mode it asked for; every record
/// carries the configuration generation it was decided under and a unique decision id.
#[test]
fn decision_records_keep_the_requested_mode_the_generation_and_an_id() {
    let upstream = Upstream::start();
    let gateway = Gateway::start(upstream.addr);
    let permissive = r#"{"is_first_party":false,"third_party_security_mode":"permissive"}"#;
    assert_eq!(status(&gateway.post_json("globex.example.test", "/api/v2/clients", permissive)), 400);
    assert_eq!(status(&gateway.admin_reload()), 200);
    assert_eq!(status(&gateway.post_json("globex.example.test", "/api/v2/clients", permissive)), 400);
    let decisions = gateway.wait_decisions(2);
    assert_eq!(decisions[0]["decision"], "reject");
    assert_eq!(decisions[0]["requested_mode"], "permissive", "{}", decisions[0]);
    assert_eq!(decisions[0]["generation"], 1);
    assert_eq!(decisions[1]["generation"], 2, "decided under the reloaded configuration");
    let ids: Vec<&str> = decisions.iter().map(|d| d["decision_id"].as_str().unwrap()).collect();
    assert!(ids[0] != ids[1] && ids.iter().all(|id| id.len() > 8), "{ids:?}");
    upstream.assert_untouched();
}
