//! SPEC §9: admin endpoints, metrics, the decision log.

use crate::support::{Gateway, Upstream, request, status};

#[test]
fn admin_endpoints_answer() {
    let upstream = Upstream::start();
    let gateway = Gateway::start(upstream.addr);
    assert_eq!(status(&gateway.admin_get("/healthz").unwrap()), 200);
    assert_eq!(status(&gateway.admin_get("/readyz").unwrap()), 200);
    assert_eq!(status(&gateway.admin_get("/nope").unwrap()), 404);
    let metrics = gateway.admin_get("/metrics").unwrap().body_text();
    for name in [
        "modegate_build_info{version=\"",
        "modegate_config_generation 1",
        "modegate_policy_cache_entries",
        // SPEC §15: fixed label sets exist at zero before any event, and the process metrics
        "modegate_config_reloads_total{result=\"error\"} 0",
        "modegate_upstream_errors_total{kind=\"connect_refused\"} 0",
        "modegate_upstream_responses_total{class=\"5xx\",route=\"passthrough\"} 0",
        "modegate_jwt_validations_total{result=\"token_expired\"} 0",
        "process_resident_memory_bytes",
        "process_open_fds",
    ] {
        assert!(metrics.contains(name), "{name} missing:\n{metrics}");
    }
    let loaded = gateway.metric("modegate_config_last_reload_success_timestamp_seconds");
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs_f64();
    assert!((now - 60.0..=now + 1.0).contains(&loaded), "loaded at {loaded}, now {now}");
    upstream.assert_untouched();
}

/// SPEC §15: what the upstream answered, by route and class, passthrough traffic included.
#[test]
fn upstream_answers_are_counted_by_route_and_class() {
    let upstream = Upstream::start().route("/broken", 500, "{}").route("/fine", 200, "{}");
    let gateway = Gateway::start(upstream.addr);
    for path in ["/broken", "/broken", "/fine"] {
        let _ = gateway.send(&request("GET", path, "globex.example.test", &[], b""));
    }
    let sample = |class: &str| format!("modegate_upstream_responses_total{{class=\"{class}\",route=\"passthrough\"}}");
    assert_eq!(gateway.wait_metric(&sample("5xx"), 2.0), 2.0);
    assert_eq!(gateway.wait_metric(&sample("2xx"), 1.0), 1.0);
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
    // whole microseconds: no float noise such as `1.2339999999999998`
    let latency = line["latency_ms"].to_string();
    assert!(latency.split('.').nth(1).is_none_or(|decimals| decimals.len() <= 3), "{latency}");
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

/// SPEC §15: no credential, secret or body in the process log, at trace level, whatever
/// passes: tokens and cookies in requests, secrets in request and upstream bodies.
#[test]
fn the_process_log_holds_no_secret_at_trace_level() {
    let upstream = Upstream::start()
        .route(
            "/oauth/token",
            200,
            r#"{"access_token":"UPSTREAM-ACCESS-4411","refresh_token":"UPSTREAM-REFRESH-4412"}"#,
        )
        .route("/api/v2/clients", 201, r#"{"client_id":"c1","client_secret":"UPSTREAM-SECRET-4413"}"#);
    let rest = format!("[log]\nformat = \"json\"\nlevel = \"trace\"\n{}", crate::support::gateway::TENANTS);
    let gateway = Gateway::start_with(upstream.addr, "", "", &rest);
    let jwt = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJMRUFLLVNVQiJ9.TEFLLVNJR05BVFVSRQ";
    let host = "globex.example.test";
    let bearer = format!("Bearer {jwt}");
    let sends: Vec<Vec<u8>> = vec![
        request("GET", "/userinfo", host, &[("Authorization", &bearer), ("Cookie", "sid=COOKIE-4414")], b""),
        request(
            "POST",
            "/oauth/token",
            host,
            &[("Content-Type", "application/x-www-form-urlencoded"), ("Authorization", "Basic cGVybTpQQVNTLTQ0MTU=")],
            b"grant_type=client_credentials&client_id=perm&client_secret=BODY-SECRET-4416",
        ),
        request(
            "POST",
            "/api/v2/clients",
            host,
            &[("Content-Type", "application/json"), ("Authorization", &bearer)],
            br#"{"is_first_party":false,"name":"BODY-NAME-4417"}"#,
        ),
    ];
    for raw in &sends {
        let _ = gateway.send(raw);
    }
    assert!(upstream.hits("/oauth/token") >= 1, "the secrets were in flight");
    let _ = gateway.wait_decisions(2);
    // Pingora's own error lines, with the upstream down: they name the request
    let dead = crate::support::free_addr();
    let down = Gateway::start_with(dead, "", "", &rest);
    let callback = request(
        "GET",
        "/login/callback?code=CODE-SECRET-4420&state=STATE-4421",
        host,
        &[("Cookie", "a=1; sid=COOKIE-4422"), ("Authorization", "Token TOKEN-4423")],
        b"",
    );
    assert_eq!(status(&down.send(&callback)), 502);
    down.wait_log("Fail to proxy");
    let stderr = std::fs::read_to_string(gateway.dir().join("stderr.log")).unwrap()
        + &std::fs::read_to_string(down.dir().join("stderr.log")).unwrap();
    for secret in [
        "TEFLLVNJR05BVFVSRQ",
        "eyJzdWIiOiJMRUFLLVNVQiJ9",
        "COOKIE-4414",
        "cGVybTpQQVNTLTQ0MTU",
        "BODY-SECRET-4416",
        "BODY-NAME-4417",
        "UPSTREAM-ACCESS-4411",
        "UPSTREAM-REFRESH-4412",
        "UPSTREAM-SECRET-4413",
        crate::support::gateway::MANAGEMENT_SECRET,
        "CODE-SECRET-4420",
        "STATE-4421",
        "COOKIE-4422",
        "TOKEN-4423",
    ] {
        assert!(!stderr.contains(secret), "`{secret}` in the process log:\n{stderr}");
    }
    // `format = "json"`: one object a line
    assert!(stderr.lines().count() > 3, "the process logged:\n{stderr}");
    for line in stderr.lines().filter(|line| !line.trim().is_empty()) {
        let object: serde_json::Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
        assert!(object["level"].is_string() && object["message"].is_string(), "{line}");
    }
}

/// SPEC §15: SIGUSR1 reopens the decision log after rotation.
#[test]
fn the_decision_log_is_reopened_on_sigusr1() {
    let upstream = Upstream::start().route("/oidc/register", 201, r#"{"client_id":"c1"}"#);
    let logs = tempfile::tempdir().unwrap();
    let path = logs.path().join("decisions.log");
    let rest = format!("[log]\ndecisions = \"{}\"\n{}", path.display(), crate::support::gateway::TENANTS);
    let mut gateway = Gateway::start_with(upstream.addr, "", "", &rest);
    let register =
        || gateway.post_json("globex.example.test", "/oidc/register", r#"{"redirect_uris":["https://a.test/cb"]}"#);
    let lines = |path: &std::path::Path| std::fs::read_to_string(path).unwrap_or_default().lines().count();
    let wait_lines = |path: &std::path::Path, count: usize| {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while lines(path) < count && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        lines(path)
    };
    assert_eq!(status(&register()), 201);
    assert_eq!(wait_lines(&path, 1), 1);
    let rotated = logs.path().join("decisions.log.1");
    std::fs::rename(&path, &rotated).unwrap();
    gateway.signal("-USR1");
    gateway.wait_log("reopening the decision log");
    assert_eq!(status(&register()), 201);
    assert_eq!(wait_lines(&path, 1), 1, "the new line is in a new file:\n{}", gateway.logs());
    assert_eq!(lines(&rotated), 1, "the rotated file is left alone");
    assert_eq!(gateway.wait_exit(std::time::Duration::from_millis(100)), None, "SIGUSR1 does not end the process");
}

/// SPEC §15: `server.admin_token_env` guards `POST /-/reload`; `HEAD` where `GET` works;
/// JSON answers for both reload outcomes.
#[test]
fn the_admin_listener_guards_reloads_and_answers_head() {
    use crate::support::gateway::{ADMIN_TOKEN, ADMIN_TOKEN_ENV};
    let upstream = Upstream::start();
    let server = format!("admin_token_env = \"{ADMIN_TOKEN_ENV}\"");
    let gateway = Gateway::start_with(upstream.addr, &server, "", crate::support::gateway::TENANTS);
    let reload = |authorization: Option<&str>| {
        let mut client = crate::support::Client::connect(gateway.admin);
        let mut headers = vec![("Connection", "close")];
        if let Some(value) = authorization {
            headers.push(("Authorization", value));
        }
        client.send_raw(&request("POST", "/-/reload", "admin", &headers, b""));
        client.read_response()
    };
    for refused in [None, Some("Bearer wrong-token-0123456789"), Some(ADMIN_TOKEN)] {
        let response = reload(refused);
        assert_eq!(status(&response), 401, "{refused:?}");
        assert_eq!(response.json()["error"], "unauthorized");
        assert!(response.header("www-authenticate").is_some_and(|v| v.starts_with("Bearer")));
    }
    assert_eq!(gateway.metric("modegate_config_generation"), 1.0, "nothing was reloaded");
    let good = reload(Some(&format!("Bearer {ADMIN_TOKEN}")));
    assert_eq!((status(&good), good.json()["generation"].as_u64()), (200, Some(2)));
    // a refused file answers JSON with every problem, and the running configuration stays
    let text = std::fs::read_to_string(gateway.config_path()).unwrap();
    std::fs::write(gateway.config_path(), text.replace("threads = 1", "threads = 0")).unwrap();
    let bad = reload(Some(&format!("Bearer {ADMIN_TOKEN}")));
    assert_eq!((status(&bad), bad.json()["error"].as_str()), (400, Some("invalid_configuration")));
    assert_eq!(bad.json()["problems"][0]["key"], "server.threads");
    // a valid file may still not weaken the gateway by reload: an emptied file would turn
    // the admin token off and drop every tenant
    std::fs::write(gateway.config_path(), "").unwrap();
    let emptied = reload(Some(&format!("Bearer {ADMIN_TOKEN}")));
    assert_eq!(status(&emptied), 400, "{}", emptied.body_text());
    let keys: Vec<String> =
        emptied.json()["problems"].as_array().unwrap().iter().map(|p| p["key"].as_str().unwrap().to_owned()).collect();
    assert_eq!(keys, ["server.admin_token_env", "tenants"]);
    assert_eq!(status(&reload(None)), 401, "the token still guards reloads");
    for path in ["/healthz", "/readyz", "/metrics"] {
        let mut client = crate::support::Client::connect(gateway.admin);
        client.send_raw(&request("HEAD", path, "admin", &[("Connection", "close")], b""));
        let head = client.read_head_only();
        assert_eq!(status(&head), 200, "HEAD {path}");
        assert!(head.header("content-length").is_some_and(|n| n != "0"), "HEAD {path} tells the GET's length");
    }
    upstream.assert_untouched();
}
