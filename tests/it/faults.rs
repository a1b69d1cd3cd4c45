//! SPEC §11: upstream failures, slow clients, recovery.

use std::net::TcpListener;
use std::time::{Duration, Instant};

use crate::support::{Client, Gateway, Upstream, auth_line, free_addr, request, status};

#[test]
fn unreachable_upstream_is_a_502_in_the_route_shape_and_recovers() {
    // a port with nothing listening; the tenant's keys are inline, so tokens still verify
    let dead = free_addr();
    let jwks = crate::support::tokens::default_jwks();
    let tenants = format!(
        "[[customers]]\nid = \"c\"\n[[tenants]]\nid = \"globex\"\ncustomer = \"c\"\nhosts = [\"globex.example.test\"]\n\
default_api_permissions = [{{ audience = \"https://api.test\" }}]\n[tenants.token]\njwks = '{jwks}'\n"
    );
    let gateway = Gateway::start_with(dead, "", "", &tenants);
    let response = gateway.post_json("globex.example.test", "/api/v2/clients", r#"{"name":"fp"}"#);
    assert_eq!(status(&response), 502);
    assert_eq!(response.header("x-modegate-reason"), Some("upstream_unavailable"));
    assert_eq!(response.json()["errorCode"], "upstream_unavailable");
    let response =
        gateway.post_json("globex.example.test", "/oidc/register", r#"{"redirect_uris":["https://a.test/cb"]}"#);
    assert_eq!(status(&response), 502);
    assert_eq!(response.json()["error"], "server_error");
    let response = gateway.send(&request("GET", "/anything", "globex.example.test", &[], b""));
    assert_eq!(status(&response), 502);
    assert_eq!(response.json()["statusCode"], 502);
    assert!(gateway.metric("modegate_upstream_errors_total{kind=\"connect_refused\"}") >= 3.0);

    // the upstream comes back on the same address: the gateway recovers by itself
    let listener = TcpListener::bind(dead).unwrap();
    let upstream = Upstream::serve_on(listener);
    let response = gateway.send(&request("GET", "/anything", "globex.example.test", &[], b""));
    assert_eq!(status(&response), 200);
    assert_eq!(upstream.requests().len(), 1);
}

#[test]
fn slow_upstream_is_a_504() {
    let upstream = Upstream::start().slow_route("/slow", Duration::from_secs(5));
    let gateway = Gateway::start(upstream.addr);
    let started = Instant::now();
    let response = gateway.send(&request("GET", "/slow", "globex.example.test", &[], b""));
    assert_eq!(status(&response), 504);
    assert_eq!(response.header("x-modegate-reason"), Some("upstream_timeout"));
    assert!(started.elapsed() < Duration::from_secs(5), "answered at the read timeout, not when the upstream woke");
    assert_eq!(gateway.metric("modegate_upstream_errors_total{kind=\"read_timeout\"}"), 1.0);
}

#[test]
fn a_body_that_never_arrives_is_a_408_and_idle_clients_do_not_block_others() {
    let upstream = Upstream::start();
    let gateway =
        Gateway::start_with(upstream.addr, "body_read_timeout_ms = 500", "", crate::support::gateway::TENANTS);
    // many half-open requests: heads sent, bodies never
    let mut idle: Vec<Client> = (0..64)
        .map(|_| {
            let mut client = gateway.client();
            let head = format!(
                "POST /api/v2/clients HTTP/1.1\r\nHost: globex.example.test\r\n{}Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{{",
                auth_line("globex.example.test")
            );
            client.send_raw(head.as_bytes());
            client
        })
        .collect();
    // other clients are still served meanwhile
    let response = gateway.post_json("globex.example.test", "/api/v2/clients", r#"{"name":"fp"}"#);
    assert_eq!(status(&response), 200);
    // and every idle one gets its 408
    for client in idle.iter_mut().take(3) {
        let response = client.read_response();
        assert_eq!(status(&response), 408);
        assert_eq!(response.header("x-modegate-reason"), Some("body_timeout"));
    }
    assert_eq!(upstream.requests().len(), 1, "only the complete request reached the upstream");
}

#[test]
fn sigterm_drains_in_flight_requests_then_exits() {
    let upstream = Upstream::start().slow_route("/slow", Duration::from_millis(800));
    let mut gateway = Gateway::start_with(upstream.addr, "grace_period_s = 3", "", crate::support::gateway::TENANTS);
    let mut client = gateway.client();
    client.send_raw(&request("GET", "/slow", "globex.example.test", &[], b""));
    // let the request reach the upstream, then ask the gateway to stop
    let deadline = Instant::now() + Duration::from_secs(5);
    while upstream.requests().is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    let killed = std::process::Command::new("kill").args(["-TERM", &gateway.pid().to_string()]).status().unwrap();
    assert!(killed.success());
    let response = client.read_response();
    assert_eq!(status(&response), 200, "the in-flight request finishes");
    let exit = gateway.wait_exit(Duration::from_secs(15));
    assert!(exit.is_some(), "the gateway exits after its grace period");
}

/// A connection accepted before a stop, whose request comes once the stop began, is
/// answered: Pingora drops every connection still waiting for a head when it shuts down
/// (SIGTERM, a graceful upgrade's handover), so the gateway hands it a fresh connection
/// only with its first bytes in (`proxy::head_deadline`). An idle kept-alive connection is
/// still closed: its client may retry.
#[test]
fn a_request_sent_just_after_sigterm_on_an_accepted_connection_is_answered() {
    let upstream = Upstream::start();
    let mut gateway = Gateway::start_with(upstream.addr, "grace_period_s = 3", "", crate::support::gateway::TENANTS);
    let mut client = gateway.client();
    // the gateway accepts it and waits for a head
    std::thread::sleep(Duration::from_millis(300));
    gateway.signal("-TERM");
    std::thread::sleep(Duration::from_millis(300));
    client.send_raw(&request("GET", "/late", "globex.example.test", &[], b""));
    let response = client.read_response();
    assert_eq!(status(&response), 200, "the request is served within the grace period");
    assert_eq!(upstream.hits("/late"), 1);
    assert!(gateway.wait_exit(Duration::from_secs(15)).is_some(), "the gateway exits after its grace period");
}
