//! `policy.source = "http"` (SPEC §8): tenants fetched from a real policy service process
//! on loopback, cached, coalesced, served stale for a while when the service fails, then
//! refused; passthrough traffic never depends on it.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::support::{Gateway, Upstream, request, status};

const HOST: &str = "remote.example.test";
const DOC_PATH: &str = "/tenants/by-host/remote.example.test";
const PERMISSIVE: &str = r#"{"is_first_party":false,"third_party_security_mode":"permissive"}"#;

/// An ineligible tenant document (so permissive requests are refused: the rule shows the
/// tenant is known).
fn document(host: &str) -> String {
    format!(
        r#"{{"id":"remote","customer":"cus_remote","permissive_eligible":false,"hosts":["{host}"],
            "default_api_permissions":[{{"audience":"https://api.remote.test","scopes":["read"]}}]}}"#
    )
}

fn http_source(service: &Upstream, ttl: u64, negative: u64, stale: u64) -> String {
    format!(
        "[policy.http]\nurl = \"http://{}\"\nttl_s = {ttl}\nnegative_ttl_s = {negative}\nstale_if_error_s = {stale}\nmax_entries = 100\n",
        service.addr
    )
}

fn start(upstream: &Upstream, service: &Upstream, ttl: u64, negative: u64, stale: u64) -> Gateway {
    Gateway::start_with(upstream.addr, "", "source = \"http\"", &http_source(service, ttl, negative, stale))
}

fn permissive(gateway: &Gateway, host: &str) -> crate::support::Message {
    gateway.post_json(host, "/api/v2/clients", PERMISSIVE)
}

#[test]
fn answers_are_cached_for_their_ttl_and_404s_for_the_negative_ttl() {
    let upstream = Upstream::start();
    let service = Upstream::policy_service().route(DOC_PATH, 200, &document(HOST));
    let gateway = start(&upstream, &service, 1, 1, 5);
    for _ in 0..3 {
        let response = permissive(&gateway, HOST);
        assert_eq!(response.header("x-modegate-reason"), Some("permissive_not_eligible"), "{}", response.body_text());
    }
    assert_eq!(service.hits(DOC_PATH), 1, "three requests, one fetch");
    for _ in 0..3 {
        assert_eq!(status(&permissive(&gateway, "nobody.example.test")), 404);
    }
    assert_eq!(service.hits("/tenants/by-host/nobody.example.test"), 1, "404s are cached too");
    // passthrough traffic never asks the service
    assert_eq!(status(&gateway.send(&request("GET", "/userinfo", "other.example.test", &[], b""))), 200);
    assert_eq!(service.hits("/tenants/by-host/other.example.test"), 0);
    assert!(gateway.metric("modegate_policy_cache_requests_total{result=\"hit\"}") >= 4.0);
    let deadline = Instant::now() + Duration::from_secs(3);
    while gateway.metric("modegate_policy_cache_entries") != 2.0 {
        assert!(Instant::now() < deadline, "the entries gauge shows the two cached answers");
        std::thread::sleep(Duration::from_millis(50));
    }
    // after the TTL the next request fetches again
    std::thread::sleep(Duration::from_millis(1200));
    assert_eq!(permissive(&gateway, HOST).header("x-modegate-reason"), Some("permissive_not_eligible"));
    assert_eq!(permissive(&gateway, "nobody.example.test").header("x-modegate-reason"), Some("unknown_tenant"));
    assert_eq!(service.hits(DOC_PATH), 2);
    assert_eq!(service.hits("/tenants/by-host/nobody.example.test"), 2);
    let methods: Vec<String> = upstream.requests().iter().map(|r| r.start[0].clone()).collect();
    assert_eq!(methods, vec!["GET"], "only the passthrough request reached the upstream");
}

#[test]
fn a_burst_of_misses_for_one_host_is_one_fetch() {
    let upstream = Upstream::start();
    let service = Upstream::policy_service().delayed_route(DOC_PATH, 200, &document(HOST), Duration::from_millis(300));
    let gateway = Arc::new(start(&upstream, &service, 30, 5, 60));
    let threads: Vec<_> = (0..20)
        .map(|_| {
            let gateway = Arc::clone(&gateway);
            std::thread::spawn(move || status(&permissive(&gateway, HOST)))
        })
        .collect();
    for thread in threads {
        assert_eq!(thread.join().unwrap(), 400);
    }
    assert_eq!(service.hits(DOC_PATH), 1, "twenty concurrent misses, one fetch");
    upstream.assert_untouched();
}

#[test]
fn stale_answers_while_the_service_fails_then_fail_closed() {
    let upstream = Upstream::start();
    let service = Upstream::policy_service().route(DOC_PATH, 200, &document(HOST));
    let gateway = start(&upstream, &service, 1, 1, 2);
    let strict_body = r#"{"is_first_party":false}"#;
    assert_eq!(status(&gateway.post_json(HOST, "/api/v2/clients", strict_body)), 200);
    service.set_down(true);
    let started = Instant::now();
    std::thread::sleep(Duration::from_millis(1200));
    // past the TTL, inside the stale window: the last good answer still decides
    let response = permissive(&gateway, HOST);
    assert_eq!(response.header("x-modegate-reason"), Some("permissive_not_eligible"), "{}", response.body_text());
    assert_eq!(status(&gateway.post_json(HOST, "/api/v2/clients", strict_body)), 200);
    assert!(gateway.metric("modegate_policy_cache_requests_total{result=\"stale\"}") >= 2.0);
    // past TTL + stale window: fail closed on intercepted routes
    while started.elapsed() < Duration::from_millis(3300) {
        std::thread::sleep(Duration::from_millis(50));
    }
    let before = upstream.requests().len();
    let response = gateway.post_json(HOST, "/api/v2/clients", strict_body);
    assert_eq!(status(&response), 503, "{}", response.body_text());
    assert_eq!(response.header("x-modegate-reason"), Some("policy_unavailable"));
    assert_eq!(response.json()["errorCode"], "policy_unavailable");
    assert_eq!(upstream.requests().len(), before, "nothing reaches the upstream without a policy");
    // passthrough traffic is unaffected throughout
    assert_eq!(status(&gateway.send(&request("GET", "/userinfo", HOST, &[], b""))), 200);
    assert!(gateway.metric("modegate_policy_cache_requests_total{result=\"error\"}") >= 1.0);
    // and the service coming back is picked up
    service.set_down(false);
    std::thread::sleep(Duration::from_millis(1100));
    assert_eq!(status(&gateway.post_json(HOST, "/api/v2/clients", strict_body)), 200);
}

#[test]
fn a_document_that_fails_validation_is_refused() {
    let upstream = Upstream::start();
    let bad = r#"{"id":"remote","customer":"cus_remote","permissive_eligible":false,"hosts":["remote.example.test"],"dcr_security_mode":"permissive"}"#;
    let service = Upstream::policy_service().route(DOC_PATH, 200, bad).route(
        "/tenants/by-host/elsewhere.example.test",
        200,
        &document("other-host.example.test"),
    );
    // SPEC §15: documents are checked against the file too: a customer the file defines
    // keeps the file's eligibility, and an inline tenant's id is not reused
    let eligible =
        r#"{"id":"remote2","customer":"cus_file","permissive_eligible":true,"hosts":["eligible.example.test"]}"#;
    let reused =
        r#"{"id":"filetenant","customer":"cus_remote","permissive_eligible":false,"hosts":["reused.example.test"]}"#;
    let service = service.route("/tenants/by-host/eligible.example.test", 200, eligible).route(
        "/tenants/by-host/reused.example.test",
        200,
        reused,
    );
    let file = "[[customers]]\nid = \"cus_file\"\npermissive_eligible = false\n\
                [[tenants]]\nid = \"filetenant\"\ncustomer = \"cus_file\"\nhosts = [\"file.example.test\"]\n";
    let gateway = Gateway::start_with(
        upstream.addr,
        "",
        "source = \"http\"",
        &format!("{}{file}", http_source(&service, 30, 5, 60)),
    );
    let hosts = [HOST, "elsewhere.example.test", "eligible.example.test", "reused.example.test"];
    for host in hosts {
        let response = gateway.post_json(host, "/oidc/register", r#"{"redirect_uris":["https://a.test/cb"]}"#);
        assert_eq!(status(&response), 503, "{host}");
        assert_eq!(response.header("x-modegate-reason"), Some("policy_invalid"), "{host}");
    }
    upstream.assert_untouched();
    let logs = gateway.logs();
    assert!(logs.contains("refused"), "the problems are logged");
    assert!(logs.contains("customer `cus_file` is defined in the configuration file"), "{logs}");
    assert!(logs.contains("`filetenant` is the id of a tenant of the configuration file"), "{logs}");
    assert_eq!(gateway.metric("modegate_policy_cache_requests_total{result=\"invalid\"}"), 4.0);
    assert_eq!(gateway.metric("modegate_policy_cache_requests_total{result=\"error\"}"), 0.0);
}

#[test]
fn readyz_waits_for_the_service_to_answer_once() {
    let upstream = Upstream::start();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let service_addr = listener.local_addr().unwrap();
    drop(listener);
    let rest = format!("[policy.http]\nurl = \"http://{service_addr}\"\n");
    let gateway = Gateway::start_unready(upstream.addr, "source = \"http\"", &rest);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(status(&gateway.admin_get("/readyz").unwrap()), 503, "no answer from the service yet");
    let _service = Upstream::serve_on(std::net::TcpListener::bind(service_addr).unwrap());
    let deadline = Instant::now() + Duration::from_secs(5);
    while status(&gateway.admin_get("/readyz").unwrap()) != 200 {
        assert!(Instant::now() < deadline, "not ready after the service came up");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Issue 9, finding 2: a flood of made-up hosts in front of a slow policy service does not
/// delay a known tenant: its refresh has fetch slots of its own, and the flood's lookups
/// are bounded in number and time. Asserts order, reports times.
#[test]
fn a_flood_of_made_up_hosts_does_not_delay_a_known_tenant() {
    let upstream = Upstream::start();
    let service = Upstream::slow_policy_service(Duration::from_secs(3)).route(DOC_PATH, 200, &document(HOST));
    let config = format!("{}timeout_ms = 2000\n", http_source(&service, 1, 5, 60));
    let gateway = Arc::new(Gateway::start_with(upstream.addr, "", "source = \"http\"", &config));
    let timed = |gateway: &Gateway| {
        let started = Instant::now();
        let response = permissive(gateway, HOST);
        (response.header("x-modegate-reason").map(str::to_owned), started.elapsed())
    };
    let (reason, cold) = timed(&gateway);
    assert_eq!(reason.as_deref(), Some("permissive_not_eligible"));
    std::thread::sleep(Duration::from_millis(1100)); // the copy is no longer fresh: a refresh is due
    let (_, baseline) = timed(&gateway);
    std::thread::sleep(Duration::from_millis(1100));
    // every flood connection is open before any request leaves, so that the flood arrives at
    // once however slowly this machine starts 300 threads
    let start_line = Arc::new(std::sync::Barrier::new(301));
    let flood: Vec<_> = (0..300)
        .map(|i| {
            let mut client = gateway.client();
            let start_line = Arc::clone(&start_line);
            std::thread::spawn(move || {
                let host = format!("made-up-{i}.example.test");
                let raw = request(
                    "POST",
                    "/api/v2/clients",
                    &host,
                    &[("Content-Type", "application/json")],
                    PERMISSIVE.as_bytes(),
                );
                start_line.wait();
                client.send_raw(&raw);
                let response = client.read_response();
                (status(&response), Instant::now())
            })
        })
        .collect();
    start_line.wait();
    let flood_started = Instant::now();
    std::thread::sleep(Duration::from_millis(200)); // the flood holds every slot for unknown hosts
    let (reason, during) = timed(&gateway);
    let known_done = flood_started.elapsed();
    let flood: Vec<(u16, Duration)> = flood
        .into_iter()
        .map(|t| t.join().unwrap())
        .map(|(status, at)| (status, at.saturating_duration_since(flood_started)))
        .collect();
    let waited: Vec<Duration> = flood.iter().map(|(_, at)| *at).filter(|at| *at > Duration::from_secs(1)).collect();
    let first_waited = waited.iter().min().copied().unwrap_or(Duration::MAX);
    println!(
        "known tenant: cold {cold:?}, refresh without flood {baseline:?}, refresh during flood {during:?}; \
         flood: {} refused at once, {} waited (first answer after {first_waited:?})",
        flood.len() - waited.len(),
        waited.len()
    );
    assert_eq!(reason.as_deref(), Some("permissive_not_eligible"), "the known tenant was served with its policy");
    assert!(known_done < first_waited, "the known tenant was answered after the flood's lookups");
    assert!(flood.iter().all(|(status, _)| *status == 503), "made-up hosts fail closed");
    // `timeout_ms = 2000`, waiting included, against a service that takes 3 s
    assert!(
        waited.iter().all(|at| *at < Duration::from_secs(4)),
        "the flood's lookups are bounded in time: {waited:?}"
    );
    assert!(
        !waited.is_empty() && waited.len() < flood.len(),
        "the queue is bounded: some waited, the rest failed at once"
    );
}

/// Issue 9, finding 3: a reload that changes `[policy.http]` during an outage keeps the
/// last good copies and readiness.
#[test]
fn a_reload_during_an_outage_keeps_last_good_copies_and_readiness() {
    let upstream = Upstream::start();
    let service = Upstream::policy_service().route(DOC_PATH, 200, &document(HOST));
    let gateway = start(&upstream, &service, 1, 1, 3);
    assert_eq!(permissive(&gateway, HOST).header("x-modegate-reason"), Some("permissive_not_eligible"));
    service.set_down(true);
    std::thread::sleep(Duration::from_millis(1200));
    assert_eq!(permissive(&gateway, HOST).header("x-modegate-reason"), Some("permissive_not_eligible"), "served stale");
    let path = gateway.config_path();
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, text.replace("stale_if_error_s = 3", "stale_if_error_s = 600")).unwrap();
    assert_eq!(status(&gateway.admin_reload()), 200);
    let response = permissive(&gateway, HOST);
    assert_eq!(response.header("x-modegate-reason"), Some("permissive_not_eligible"), "{}", response.body_text());
    assert_eq!(status(&gateway.admin_get("/readyz").unwrap()), 200, "still ready");
    // past the old stale window, the new one applies
    std::thread::sleep(Duration::from_millis(3000));
    assert_eq!(permissive(&gateway, HOST).header("x-modegate-reason"), Some("permissive_not_eligible"));
    assert!(upstream.requests().is_empty());
}

/// SPEC §15: a cached document is held to the file as it is now: a reload that makes the
/// file's customer ineligible refuses the copy fetched before it, without a refetch.
#[test]
fn a_cached_document_is_held_to_the_file_after_a_reload() {
    let upstream = Upstream::start();
    let doc = r#"{"id":"remote3","customer":"cus_file","permissive_eligible":true,"hosts":["cached.example.test"]}"#;
    let service = Upstream::policy_service().route("/tenants/by-host/cached.example.test", 200, doc);
    let file = "[[customers]]\nid = \"cus_file\"\npermissive_eligible = true\n\
                [[tenants]]\nid = \"filetenant\"\ncustomer = \"cus_file\"\nhosts = [\"file.example.test\"]\n";
    let gateway = Gateway::start_with(
        upstream.addr,
        "",
        "source = \"http\"",
        &format!("{}{file}", http_source(&service, 300, 5, 600)),
    );
    let register =
        || gateway.post_json("cached.example.test", "/oidc/register", r#"{"redirect_uris":["https://a.test/cb"]}"#);
    let first = register();
    assert_ne!(status(&first), 503, "{}", first.body_text());
    let text = std::fs::read_to_string(gateway.config_path()).unwrap();
    std::fs::write(gateway.config_path(), text.replace("permissive_eligible = true", "permissive_eligible = false"))
        .unwrap();
    assert_eq!(status(&gateway.admin_reload()), 200);
    let second = register();
    assert_eq!((status(&second), second.header("x-modegate-reason")), (503, Some("policy_invalid")));
    assert_eq!(service.hits("/tenants/by-host/cached.example.test"), 1, "the cached copy was judged, not refetched");
}
