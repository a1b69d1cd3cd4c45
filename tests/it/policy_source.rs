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
    assert_eq!(status(&gateway.send(&request("GET", "/authorize", "other.example.test", &[], b""))), 200);
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
    assert_eq!(status(&gateway.send(&request("GET", "/authorize", HOST, &[], b""))), 200);
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
    let gateway = start(&upstream, &service, 30, 5, 60);
    for host in [HOST, "elsewhere.example.test"] {
        let response = gateway.post_json(host, "/api/v2/clients", r#"{"is_first_party":false}"#);
        assert_eq!(status(&response), 503, "{host}");
    }
    upstream.assert_untouched();
    assert!(gateway.logs().contains("refused"), "the problems are logged");
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
