//! Bypass attempts of SPEC §2–§3: each must be refused (or intercepted) and must never
//! reach the upstream in a form the policy did not decide on.

use crate::support::{Gateway, JSON, Upstream, auth_line, request, status};

const THIRD_PARTY_PERMISSIVE: &str = r#"{"name":"x","is_first_party":false,"third_party_security_mode":"permissive"}"#;

/// Each of these paths names `/api/v2/clients` to some server; all must be intercepted
/// (and the ineligible permissive body refused) or refused as ambiguous.
#[test]
fn path_variants_cannot_bypass_clients_create() {
    let upstream = Upstream::start();
    let gateway = Gateway::start(upstream.addr);
    let intercepted = [
        "/api/v2/clients",
        "/api/v2/clients/",
        "/API/V2/Clients",
        "/api//v2///clients",
        "/api/v2/./clients",
        "/api/v2/x/../clients",
        "/x/../api/v2/clients",
        "/api/v2/%63lients",
        "/%61pi/v2/clients",
        "/api/v2/clients/.",
    ];
    for path in intercepted {
        let response =
            gateway.send(&request("POST", path, "globex.example.test", &[JSON], THIRD_PARTY_PERMISSIVE.as_bytes()));
        assert_eq!(status(&response), 400, "{path}");
        assert_eq!(response.header("x-modegate-reason"), Some("permissive_not_eligible"), "{path}");
    }
    let ambiguous = [
        "/api/v2%2Fclients",
        "/api%2fv2/clients",
        "/api/v2/clients%2F",
        "/api/v2/clients;x=1",
        "/api/v2/clients%3B",
        "/api/v2/clients%252F",
        "/api/v2/clients%00",
        "/api/v2/%2e%2e/v2/clients%5C",
        "/../api/v2/clients",
        "/api/v2/../../../api/v2/clients",
        "/foo/..%2F..%2Fapi/v2/clients",
        "/..;/api/v2/clients",
        "/api/v2/clients%ff",
        "/api/v2/clients%3F",
        "//api//v2///clients",
    ];
    for path in ambiguous {
        let response =
            gateway.send(&request("POST", path, "globex.example.test", &[JSON], THIRD_PARTY_PERMISSIVE.as_bytes()));
        assert_eq!(status(&response), 400, "{path}: {}", response.body_text());
        assert_eq!(response.header("x-modegate-reason"), Some("ambiguous_path"), "{path}");
        assert_eq!(response.json()["errorCode"], "invalid_request");
    }
    upstream.assert_untouched();
}

#[test]
fn lowercase_method_is_still_intercepted() {
    let upstream = Upstream::start();
    let gateway = Gateway::start(upstream.addr);
    let response = gateway.send(&request(
        "post",
        "/api/v2/clients",
        "globex.example.test",
        &[JSON],
        THIRD_PARTY_PERMISSIVE.as_bytes(),
    ));
    assert_eq!(status(&response), 400);
    assert_eq!(response.header("x-modegate-reason"), Some("permissive_not_eligible"));
    upstream.assert_untouched();
}

#[test]
fn method_override_headers_are_refused_under_protected_prefixes() {
    let upstream = Upstream::start();
    let gateway = Gateway::start(upstream.addr);
    for header in ["X-HTTP-Method-Override", "X-HTTP-Method", "X-Method-Override"] {
        let response = gateway.send(&request(
            "POST",
            "/api/v2/clients/abc",
            "globex.example.test",
            &[JSON, (header, "PATCH")],
            b"{}",
        ));
        assert_eq!(status(&response), 400, "{header}");
        assert_eq!(response.header("x-modegate-reason"), Some("method_override"));
        let response = gateway.send(&request("GET", "/oidc/register", "globex.example.test", &[(header, "POST")], b""));
        assert_eq!(status(&response), 400, "{header}");
    }
    upstream.assert_untouched();
    // outside the protected prefixes the header is the upstream's business
    let response =
        gateway.send(&request("POST", "/other", "globex.example.test", &[("X-HTTP-Method-Override", "PUT")], b"{}"));
    assert_eq!(status(&response), 200);
    assert_eq!(upstream.single().header("x-http-method-override"), Some("PUT"));
}

#[test]
fn duplicate_members_are_refused_at_any_depth_and_after_unescaping() {
    let upstream = Upstream::start();
    let gateway = Gateway::start(upstream.addr);
    let bodies = [
        r#"{"is_first_party":false,"third_party_security_mode":"strict","third_party_security_mode":"permissive"}"#,
        r#"{"is_first_party":true,"is_first_party":false}"#,
        r#"{"is_first_party":false,"third_party_security_mode":"strict","third_party_security_mod\u0065":"permissive"}"#,
        r#"{"is_first_party":false,"jwt_configuration":{"alg":"RS256","alg":"HS256"}}"#,
        r#"{"is_first_party":false,"callbacks":[{"a":1,"a":2}]}"#,
    ];
    for body in bodies {
        let response = gateway.post_json("acme.example.test", "/api/v2/clients", body);
        assert_eq!(status(&response), 400, "{body}");
        assert_eq!(response.header("x-modegate-reason"), Some("duplicate_member"), "{body}");
    }
    upstream.assert_untouched();
}

#[test]
fn escaped_member_names_are_read_as_their_unescaped_names() {
    let upstream = Upstream::start();
    let gateway = Gateway::start(upstream.addr);
    // `is_first\u005fparty` is `is_first_party`: a third-party permissive request
    let body = r#"{"is_first\u005fparty":false,"third_party_security_mod\u0065":"permissive"}"#;
    let response = gateway.post_json("globex.example.test", "/api/v2/clients", body);
    assert_eq!(status(&response), 400);
    assert_eq!(response.header("x-modegate-reason"), Some("permissive_not_eligible"));
    upstream.assert_untouched();
}

#[test]
fn wrong_types_are_refused_not_coerced() {
    let upstream = Upstream::start();
    let gateway = Gateway::start(upstream.addr);
    let bodies = [
        r#"{"is_first_party":"false"}"#,
        r#"{"is_first_party":0}"#,
        r#"{"is_first_party":null}"#,
        r#"{"is_first_party":false,"third_party_security_mode":null}"#,
        r#"{"is_first_party":false,"third_party_security_mode":"Strict"}"#,
        r#"{"is_first_party":false,"third_party_security_mode":0}"#,
        r#"{"is_first_party":false,"third_party_security_mode":["strict"]}"#,
        r#"{"is_first_party":false,"grant_types":"implicit"}"#,
    ];
    for body in bodies {
        let response = gateway.post_json("globex.example.test", "/api/v2/clients", body);
        assert_eq!(status(&response), 400, "{body}");
        assert_eq!(response.header("x-modegate-reason"), Some("invalid_type"), "{body}");
    }
    upstream.assert_untouched();
}

#[test]
fn malformed_json_is_refused() {
    let upstream = Upstream::start();
    let gateway = Gateway::start(upstream.addr);
    let cases: [(&[u8], &str); 9] = [
        (b"", "invalid_json"),
        (b"\xEF\xBB\xBF{\"is_first_party\":false}", "invalid_json"),
        (b"{\"is_first_party\":false} {}", "invalid_json"),
        (b"{\"is_first_party\":false}x", "invalid_json"),
        (b"[{\"is_first_party\":false}]", "not_an_object"),
        (b"\"text\"", "not_an_object"),
        (b"{\"name\":\"\xff\"}", "invalid_json"),
        (b"{\"a\":1,}", "invalid_json"),
        (b"{\"name\":\"\\ud800\"}", "invalid_json"),
    ];
    for (body, reason) in cases {
        let response = gateway.send(&request("POST", "/api/v2/clients", "globex.example.test", &[JSON], body));
        assert_eq!(status(&response), 400, "{:?}", String::from_utf8_lossy(body));
        assert_eq!(response.header("x-modegate-reason"), Some(reason), "{:?}", String::from_utf8_lossy(body));
    }
    let deep = format!("{{\"is_first_party\":false,\"x\":{}{}}}", "[".repeat(40), "]".repeat(40));
    let response = gateway.post_json("globex.example.test", "/api/v2/clients", &deep);
    assert_eq!(response.header("x-modegate-reason"), Some("too_deep"));
    let ok_depth = format!("{{\"x\":{}{}}}", "[".repeat(31), "]".repeat(31));
    upstream.assert_untouched();
    let response = gateway.post_json("globex.example.test", "/api/v2/clients", &ok_depth);
    assert_eq!(status(&response), 200, "32 levels are allowed: {}", response.body_text());
}

#[test]
fn wrong_media_types_and_encodings_are_refused_with_415() {
    let upstream = Upstream::start();
    let gateway = Gateway::start(upstream.addr);
    let body = br#"{"is_first_party":false}"#;
    let cases: [&[(&str, &str)]; 7] = [
        &[],
        &[("Content-Type", "text/plain")],
        &[("Content-Type", "application/x-www-form-urlencoded")],
        &[("Content-Type", "application/json-patch+json")],
        &[("Content-Type", "application/json; charset=utf-16")],
        &[JSON, ("Content-Encoding", "gzip")],
        &[JSON, ("Content-Type", "application/json")],
    ];
    for headers in cases {
        let response = gateway.send(&request("POST", "/api/v2/clients", "globex.example.test", headers, body));
        assert_eq!(status(&response), 415, "{headers:?}");
        assert_eq!(response.json()["errorCode"], "unsupported_media_type");
    }
    upstream.assert_untouched();
    for content_type in ["APPLICATION/JSON", "application/json; charset=UTF-8", "application/json;charset=utf-8"] {
        let response = gateway.send(&request(
            "POST",
            "/api/v2/clients",
            "globex.example.test",
            &[("Content-Type", content_type), ("Content-Encoding", "identity")],
            body,
        ));
        assert_eq!(status(&response), 200, "{content_type}");
    }
    assert_eq!(upstream.requests().len(), 3);
}

#[test]
fn chunked_bodies_are_decided_and_reframed() {
    let upstream = Upstream::start();
    let gateway = Gateway::start(upstream.addr);
    let raw = chunked_post("globex.example.test", &[r#"{"is_f"#, r#"irst_party":false}"#]);
    let response = gateway.send(&raw);
    assert_eq!(status(&response), 200, "{}", response.body_text());
    let received = upstream.single();
    let expected = r#"{"is_first_party":false,"third_party_security_mode":"strict"}"#;
    assert_eq!(received.body_text(), expected);
    assert!(!received.chunked, "injected body must be sent with Content-Length");
    assert_eq!(received.header("content-length"), Some(expected.len().to_string().as_str()));

    // a chunked permissive request from an ineligible customer never reaches the upstream
    let raw = chunked_post(
        "globex.example.test",
        &[r#"{"is_first_party"#, r#"":false,"third_party_security_mode":"permissive"}   "#],
    );
    let response = gateway.send(&raw);
    assert_eq!(status(&response), 400, "{}", response.body_text());
    assert_eq!(response.header("x-modegate-reason"), Some("permissive_not_eligible"));

    // broken chunk framing is a 400, not a guess
    let broken = format!(
        "POST /api/v2/clients HTTP/1.1\r\nHost: globex.example.test\r\n{}Content-Type: application/json\r\n\
Transfer-Encoding: chunked\r\n\r\n6\r\n{{\"is_f\r\n13\r\nirst_party\":false}}\r\n0\r\n\r\n",
        auth_line("globex.example.test")
    );
    let response = gateway.send(broken.as_bytes());
    assert_eq!(status(&response), 400, "{}", response.body_text());
    assert_eq!(response.header("x-modegate-reason"), Some("malformed_request"));
    assert_eq!(upstream.requests().len(), 1);
}

/// A chunked POST of `parts` to `/api/v2/clients`, one chunk per part.
fn chunked_post(host: &str, parts: &[&str]) -> Vec<u8> {
    let mut raw = format!(
        "POST /api/v2/clients HTTP/1.1\r\nHost: {host}\r\n{}Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n",
        auth_line(host)
    )
    .into_bytes();
    for part in parts {
        raw.extend_from_slice(format!("{:x}\r\n{part}\r\n", part.len()).as_bytes());
    }
    raw.extend_from_slice(b"0\r\n\r\n");
    raw
}

#[test]
fn oversized_bodies_are_refused_with_413() {
    let upstream = Upstream::start();
    let gateway = Gateway::start_with(upstream.addr, "max_body_bytes = 1024", "", crate::support::gateway::TENANTS);
    let big = format!("{{\"is_first_party\":false,\"pad\":\"{}\"}}", "a".repeat(2000));
    // declared by Content-Length
    let response = gateway.post_json("globex.example.test", "/api/v2/clients", &big);
    assert_eq!(status(&response), 413);
    assert_eq!(response.json()["errorCode"], "payload_too_large");
    // chunked, growing past the limit while read
    let parts: Vec<&str> = big.as_bytes().chunks(500).map(|c| std::str::from_utf8(c).unwrap()).collect();
    let raw = chunked_post("globex.example.test", &parts);
    let response = gateway.send(&raw);
    assert_eq!(status(&response), 413);
    upstream.assert_untouched();
    // exactly at the limit is fine
    let exact = format!("{{\"pad\":\"{}\"}}", "a".repeat(1024 - 10));
    assert_eq!(exact.len(), 1024);
    assert_eq!(status(&gateway.post_json("globex.example.test", "/api/v2/clients", &exact)), 200);
}

#[test]
fn absolute_form_targets_and_odd_hosts() {
    let upstream = Upstream::start();
    let gateway = Gateway::start(upstream.addr);
    let body = THIRD_PARTY_PERMISSIVE.as_bytes();
    // the absolute-form authority names the tenant
    let response = gateway.send(&request(
        "POST",
        "http://globex.example.test/api/v2/clients",
        "globex.example.test",
        &[JSON],
        body,
    ));
    assert_eq!(response.header("x-modegate-reason"), Some("permissive_not_eligible"));
    // a Host that disagrees with the absolute-form target is ambiguous (Pingora's own
    // parser already refuses it, before the gateway's check)
    let response =
        gateway.send(&request("POST", "http://globex.example.test/api/v2/clients", "acme.example.test", &[JSON], body));
    assert_eq!(status(&response), 400);
    // two Host headers: ambiguous, even on passthrough routes
    let raw = b"GET /index.html HTTP/1.1\r\nHost: acme.example.test\r\nHost: globex.example.test\r\n\r\n";
    let response = gateway.send(raw);
    assert_eq!(status(&response), 400);
    // host case, port and trailing dot do not change the tenant
    for host in ["GLOBEX.example.TEST", "globex.example.test:8080", "globex.example.test."] {
        let response = gateway.send(&request("POST", "/api/v2/clients", host, &[JSON], body));
        assert_eq!(response.header("x-modegate-reason"), Some("permissive_not_eligible"), "{host}");
    }
    // an unknown host on an intercepted route is 404 unknown_tenant
    let response = gateway.send(&request("POST", "/api/v2/clients", "nobody.example.test", &[JSON], body));
    assert_eq!(status(&response), 404);
    assert_eq!(response.json()["errorCode"], "unknown_tenant");
    // a Host with user info is not a host
    let response = gateway.send(&request("POST", "/api/v2/clients", "x@globex.example.test", &[JSON], body));
    assert_eq!(status(&response), 400);
    upstream.assert_untouched();
}

#[test]
fn expect_100_continue_works_on_intercepted_routes() {
    let upstream = Upstream::start();
    let gateway = Gateway::start(upstream.addr);
    let body = br#"{"is_first_party":false}"#;
    let head = format!(
        "POST /api/v2/clients HTTP/1.1\r\nHost: globex.example.test\r\n{}Content-Type: application/json\r\n\
Content-Length: {}\r\nExpect: 100-continue\r\n\r\n",
        auth_line("globex.example.test"),
        body.len()
    );
    let mut client = gateway.client();
    client.send_raw(head.as_bytes());
    let interim = client.read_interim();
    assert_eq!(interim.start.get(1).map(String::as_str), Some("100"));
    client.send_raw(body);
    let response = client.read_response();
    assert_eq!(status(&response), 200);
    let received = upstream.single();
    assert_eq!(received.header("expect"), None, "the gateway already holds the body");
    assert_eq!(received.body_text(), r#"{"is_first_party":false,"third_party_security_mode":"strict"}"#);
}

/// RFC 9112 §6.3: with both, Transfer-Encoding wins and Content-Length is dropped (Pingora
/// does this before the gateway sees the head). The upstream must get one unambiguous frame.
#[test]
fn content_length_with_transfer_encoding_reaches_upstream_with_one_framing() {
    let upstream = Upstream::start();
    let gateway = Gateway::start(upstream.addr);
    let raw = format!(
        "POST /api/v2/clients HTTP/1.1\r\nHost: globex.example.test\r\n{}Content-Type: application/json\r\n\
Content-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{{}}\r\n0\r\n\r\n",
        auth_line("globex.example.test")
    );
    let response = gateway.send(raw.as_bytes());
    let received = upstream.requests();
    if status(&response) == 200 {
        let received = &received[0];
        assert_eq!(received.body_text(), "{}");
        assert_eq!(received.header("content-length"), Some("2"));
        assert_eq!(received.header_count("content-length"), 1);
        assert_eq!(received.header("transfer-encoding"), None);
    } else {
        assert_eq!(status(&response), 400);
        assert!(received.is_empty());
    }
}

#[test]
fn keep_alive_connection_survives_a_rejection() {
    let upstream = Upstream::start();
    let gateway = Gateway::start(upstream.addr);
    let mut client = gateway.client();
    client.send_raw(&request(
        "POST",
        "/api/v2/clients",
        "globex.example.test",
        &[JSON],
        THIRD_PARTY_PERMISSIVE.as_bytes(),
    ));
    assert_eq!(status(&client.read_response()), 400);
    client.send_raw(&request("POST", "/api/v2/clients", "globex.example.test", &[JSON], br#"{"name":"fp"}"#));
    assert_eq!(status(&client.read_response()), 200);
    assert_eq!(upstream.single().body_text(), r#"{"name":"fp"}"#);
}

/// Pingora keeps an absolute-form authority off the parsed URI and makes `Host` from it
/// when none is sent: the gateway must read the raw target to find the tenant (HTTP/1.0:
/// an HTTP/1.1 request without `Host` is refused before any tenant, see `one_reading`).
#[test]
fn absolute_form_without_host_names_the_tenant() {
    let upstream = Upstream::start();
    let gateway =
        Gateway::start_with(upstream.addr, "", "unknown_tenant = \"passthrough\"", crate::support::gateway::TENANTS);
    let raw = format!(
        "POST http://globex.example.test/api/v2/clients HTTP/1.0\r\n{}Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{}",
        auth_line("globex.example.test"),
        THIRD_PARTY_PERMISSIVE.len(),
        THIRD_PARTY_PERMISSIVE
    );
    let response = gateway.send(raw.as_bytes());
    assert_eq!(status(&response), 400, "{}", response.body_text());
    assert_eq!(response.header("x-modegate-reason"), Some("permissive_not_eligible"));
    upstream.assert_untouched();
}

/// Targets that are neither a path nor an http(s) URL are forwarded raw by Pingora, so
/// they could route to a protected path upstream: refused.
#[test]
fn exotic_request_targets_are_refused() {
    let upstream = Upstream::start();
    let gateway = Gateway::start(upstream.addr);
    for target in ["x:/api/v2/clients", "api/v2/clients", "x:/oidc/register"] {
        let response =
            gateway.send(&request("POST", target, "globex.example.test", &[JSON], THIRD_PARTY_PERMISSIVE.as_bytes()));
        assert_eq!(status(&response), 400, "{target}: {}", response.body_text());
    }
    upstream.assert_untouched();
}

/// Raw (not percent-encoded) bytes that are not UTF-8: an overlong `..`.
#[test]
fn raw_invalid_utf8_paths_are_refused_under_protected_prefixes() {
    let upstream = Upstream::start();
    let gateway = Gateway::start(upstream.addr);
    let mut raw = b"PATCH /api/v2/clients/\xC0\xAE\xC0\xAE HTTP/1.1\r\nHost: globex.example.test\r\n".to_vec();
    raw.extend_from_slice(auth_line("globex.example.test").as_bytes());
    raw.extend_from_slice(b"Content-Type: application/json\r\nContent-Length: 2\r\n\r\n{}");
    let response = gateway.send(&raw);
    // refused by Pingora's parser or by the gateway's path check: never forwarded
    assert_eq!(status(&response), 400);
    upstream.assert_untouched();
}
