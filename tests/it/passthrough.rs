//! Everything that is not intercepted is proxied untouched and streamed (SPEC §2).

use std::io::Write;

use crate::support::{Gateway, Upstream, request, status};

#[test]
fn other_requests_pass_untouched_with_no_body_limit() {
    let upstream = Upstream::start();
    let gateway = Gateway::start_with(upstream.addr, "max_body_bytes = 1024", "", crate::support::gateway::TENANTS);
    // a GET with a query and odd headers
    let response = gateway.send(&request(
        "GET",
        "/authorize?client_id=x&scope=openid",
        "acme.example.test",
        &[("X-Custom", "1")],
        b"",
    ));
    assert_eq!(status(&response), 200);
    assert_eq!(response.header("x-upstream"), Some("recording"));
    assert_eq!(response.header("x-modegate-reason"), None, "passthrough answers are the upstream's");
    // a large POST elsewhere: not read, not limited
    let big = vec![b'z'; 300 * 1024];
    let response = gateway.send(&request(
        "POST",
        "/upload",
        "acme.example.test",
        &[("Content-Type", "application/octet-stream")],
        &big,
    ));
    assert_eq!(status(&response), 200);
    // intercepted paths with other methods pass too
    let response = gateway.send(&request("GET", "/api/v2/clients", "acme.example.test", &[], b""));
    assert_eq!(status(&response), 200);
    // unknown hosts on passthrough routes pass
    let response = gateway.send(&request("GET", "/", "nobody.test", &[], b""));
    assert_eq!(status(&response), 200);
    let requests = upstream.requests();
    assert_eq!(requests.len(), 4);
    assert_eq!(requests[0].start[1], "/authorize?client_id=x&scope=openid");
    assert_eq!(requests[0].header("x-custom"), Some("1"));
    assert_eq!(requests[1].body.len(), big.len());
    assert_eq!(requests[1].body, big);
    assert_eq!(requests[3].header("host"), Some("nobody.test"));
}

#[test]
fn original_request_target_is_sent_upstream() {
    let upstream = Upstream::start();
    let gateway = Gateway::start(upstream.addr);
    let body = br#"{"is_first_party":false}"#;
    let response =
        gateway.send(&request("POST", "/API/v2//clients/", "globex.example.test", &[crate::support::JSON], body));
    assert_eq!(status(&response), 200);
    let received = upstream.single();
    assert_eq!(received.start[1], "/API/v2//clients/", "normalisation is for classification only");
    assert!(received.body_text().ends_with(r#""third_party_security_mode":"strict"}"#));
}

#[test]
fn chunked_passthrough_is_streamed() {
    let upstream = Upstream::start();
    let gateway = Gateway::start(upstream.addr);
    let mut client = gateway.client();
    client.send_raw(b"POST /upload HTTP/1.1\r\nHost: acme.example.test\r\nTransfer-Encoding: chunked\r\n\r\n");
    for _ in 0..20 {
        client.send_raw(b"400\r\n");
        client.send_raw(&[b'q'; 0x400]);
        client.send_raw(b"\r\n");
        std::io::stdout().flush().unwrap();
    }
    client.send_raw(b"0\r\n\r\n");
    let response = client.read_response();
    assert_eq!(status(&response), 200);
    assert_eq!(upstream.single().body.len(), 20 * 0x400);
}
