//! `PATCH`/`PUT /api/v2/clients/{id}` (SPEC §4 clients_update): mode and ownership are fixed.

use crate::support::{Gateway, JSON, Message, Upstream, request, status};

fn patch(gateway: &Gateway, id: &str, body: &str) -> Message {
    gateway.send(&request("PATCH", &format!("/api/v2/clients/{id}"), "globex.example.test", &[JSON], body.as_bytes()))
}

#[track_caller]
fn assert_refused(response: &Message, reason: &str) {
    assert_eq!(status(response), 400, "{}", response.body_text());
    assert_eq!(response.header("x-modegate-reason"), Some(reason));
    let message = response.json()["message"].as_str().unwrap().to_owned();
    if reason.ends_with("immutable") {
        assert!(message.contains("set at creation and cannot be changed; create a new application"), "{message}");
    }
}

#[test]
fn tpc_clients_are_strict_without_a_lookup() {
    let upstream = Upstream::start();
    let gateway = Gateway::start(upstream.addr);
    assert_refused(&patch(&gateway, "tpc_abc", r#"{"third_party_security_mode":"permissive"}"#), "mode_immutable");
    assert_refused(&patch(&gateway, "tpc_abc", r#"{"is_first_party":true}"#), "ownership_immutable");
    assert_refused(&patch(&gateway, "tpc_abc", r#"{"sso":true}"#), "strict_profile");
    assert_refused(&patch(&gateway, "tpc_abc", r#"{"grant_types":["password"]}"#), "strict_profile");
    upstream.assert_untouched();
    // Terraform resends unchanged values: that passes, bytes untouched
    let resend = r#"{"name":"x","is_first_party":false,"third_party_security_mode":"strict","redirection_policy":"allow_always"}"#;
    assert_eq!(status(&patch(&gateway, "tpc_abc", resend)), 200);
    let received = upstream.single();
    assert_eq!(received.start[0], "PATCH");
    assert_eq!(received.body_text(), resend);
}

#[test]
fn a_client_created_through_the_gateway_is_remembered() {
    let upstream =
        Upstream::start().route("/api/v2/clients", 201, r#"{"client_id":"Abc123","name":"x","is_first_party":false}"#);
    let gateway = Gateway::start(upstream.addr);
    let response =
        gateway.post_json("globex.example.test", "/api/v2/clients", r#"{"name":"x","is_first_party":false}"#);
    assert_eq!(status(&response), 201);
    // strict was injected, the upstream did not echo it: the gateway remembers what it sent
    assert_refused(&patch(&gateway, "Abc123", r#"{"third_party_security_mode":"permissive"}"#), "mode_immutable");
    assert_refused(&patch(&gateway, "Abc123", r#"{"addons":{}}"#), "strict_profile");
    assert_eq!(upstream.requests().len(), 1, "no lookup: the creation was seen");
}

/// A legacy upstream whose answer echoes neither `is_first_party` nor the mode must not make
/// the gateway remember a strict third-party client as first-party.
#[test]
fn a_silent_creation_answer_keeps_what_the_gateway_sent() {
    let upstream = Upstream::start().route("/api/v2/clients", 201, r#"{"client_id":"quiet1"}"#);
    let gateway = Gateway::start(upstream.addr);
    assert_eq!(
        status(&gateway.post_json("globex.example.test", "/api/v2/clients", r#"{"is_first_party":false}"#)),
        201
    );
    assert_refused(&patch(&gateway, "quiet1", r#"{"is_first_party":true,"addons":{}}"#), "ownership_immutable");
    assert_refused(&patch(&gateway, "quiet1", r#"{"addons":{}}"#), "strict_profile");
    assert_eq!(status(&patch(&gateway, "quiet1", r#"{"is_first_party":false}"#)), 200, "a resend passes");
    assert_eq!(upstream.requests().len(), 2, "no lookup");
}

#[test]
fn a_client_known_only_upstream_is_looked_up_with_the_callers_token_once() {
    let upstream = Upstream::start().route(
        "/api/v2/clients/legacy1",
        200,
        r#"{"is_first_party":false,"third_party_security_mode":"permissive"}"#,
    );
    let gateway = Gateway::start(upstream.addr);
    let body = r#"{"third_party_security_mode":"permissive","sso":true}"#;
    assert_eq!(status(&patch(&gateway, "legacy1", body)), 200);
    assert_refused(&patch(&gateway, "legacy1", r#"{"third_party_security_mode":"strict"}"#), "mode_immutable");
    let requests = upstream.requests();
    assert_eq!(requests.len(), 2, "one lookup, one forwarded update; the second update used the cache");
    let lookup = &requests[0];
    assert_eq!(lookup.start[0], "GET");
    assert_eq!(
        lookup.start[1],
        "/api/v2/clients/legacy1?fields=is_first_party,third_party_security_mode&include_fields=true"
    );
    let token = crate::support::tokens::valid_for("globex.example.test");
    assert_eq!(lookup.header("authorization"), Some(format!("Bearer {token}").as_str()));
    assert_eq!(lookup.header("host"), Some("globex.example.test"));
    assert_eq!(requests[1].start[0], "PATCH");
    assert_eq!(requests[1].body_text(), body);
}

#[test]
fn ownership_cannot_flip() {
    let upstream = Upstream::start().route("/api/v2/clients/fp1", 200, r#"{"is_first_party":true}"#);
    let gateway = Gateway::start(upstream.addr);
    assert_refused(&patch(&gateway, "fp1", r#"{"is_first_party":false}"#), "ownership_immutable");
    assert_refused(&patch(&gateway, "fp1", r#"{"third_party_security_mode":"strict"}"#), "mode_immutable");
    assert_eq!(status(&patch(&gateway, "fp1", r#"{"is_first_party":true,"sso":true}"#)), 200);
    let methods: Vec<String> = upstream.requests().iter().map(|r| r.start[0].clone()).collect();
    assert_eq!(methods, vec!["GET", "PATCH"]);
}

#[test]
fn lookup_404_lets_the_upstream_answer_and_other_failures_fail_closed() {
    let upstream = Upstream::start()
        .route("/api/v2/clients/gone", 404, r#"{"statusCode":404,"error":"Not Found","message":"The client does not exist","errorCode":"inexistent_client"}"#)
        .route("/api/v2/clients/broken", 500, "{}");
    let gateway = Gateway::start(upstream.addr);
    let response = patch(&gateway, "gone", r#"{"third_party_security_mode":"permissive"}"#);
    assert_eq!(status(&response), 404);
    assert_eq!(response.json()["errorCode"], "inexistent_client", "the upstream's own answer");
    let response = patch(&gateway, "broken", r#"{"name":"x"}"#);
    assert_eq!(status(&response), 503);
    assert_eq!(response.header("x-modegate-reason"), Some("client_lookup_failed"));
    let seen: Vec<(String, String)> =
        upstream.requests().iter().map(|r| (r.start[0].clone(), r.start[1].clone())).collect();
    assert_eq!(seen.len(), 3, "{seen:?}");
    assert_eq!(seen[0].0, "GET");
    assert_eq!(seen[1], ("PATCH".to_owned(), "/api/v2/clients/gone".to_owned()));
    assert_eq!(seen[2].0, "GET", "the failed lookup's update never reached the upstream");
}

#[test]
fn updates_need_the_update_scope() {
    let upstream = Upstream::start();
    let gateway = Gateway::start(upstream.addr);
    let token = crate::support::tokens::sign(
        &crate::support::tokens::rsa1(),
        &crate::support::tokens::claims("globex.example.test", "create:clients"),
    );
    let bearer = format!("Bearer {token}");
    let response = gateway.send(&request(
        "PUT",
        "/api/v2/clients/tpc_x",
        "globex.example.test",
        &[JSON, ("Authorization", &bearer)],
        b"{}",
    ));
    assert_eq!(status(&response), 403);
    assert_eq!(response.json()["message"], "Insufficient scope, expected any of: update:clients");
    upstream.assert_untouched();
}

/// Issue 9, finding 1: the strict profile holds across two requests. The client is checked
/// as the update leaves it, against its current values, learned by a lookup each time.
#[test]
fn strict_profile_holds_across_updates() {
    let public = r#"{"client_id":"pub1","is_first_party":false,"third_party_security_mode":"strict","token_endpoint_auth_method":"none","grant_types":["authorization_code"]}"#;
    let confidential = r#"{"client_id":"conf1","is_first_party":false,"third_party_security_mode":"strict","token_endpoint_auth_method":"client_secret_post","grant_types":["client_credentials"]}"#;
    let upstream =
        Upstream::start().route("/api/v2/clients/pub1", 200, public).route("/api/v2/clients/conf1", 200, confidential);
    let gateway = Gateway::start(upstream.addr);
    assert_refused(&patch(&gateway, "pub1", r#"{"grant_types":["client_credentials"]}"#), "strict_profile");
    assert_refused(&patch(&gateway, "conf1", r#"{"token_endpoint_auth_method":"none"}"#), "strict_profile");
    // escaped names are the same members: still looked up and refused
    assert_refused(&patch(&gateway, "pub1", r#"{"grant\u005ftypes":["client_credentials"]}"#), "strict_profile");
    let sent: Vec<String> = upstream.requests().iter().map(|r| format!("{} {}", r.start[0], r.start[1])).collect();
    assert!(sent.iter().all(|line| line.starts_with("GET ")), "an update reached the upstream: {sent:?}");
    assert!(sent.iter().any(|line| line.contains("fields=grant_types,token_endpoint_auth_method")), "{sent:?}");
    // a change that keeps the client within the profile passes, bytes untouched
    let fine = r#"{"grant_types":["authorization_code","refresh_token"]}"#;
    assert_eq!(status(&patch(&gateway, "pub1", fine)), 200);
    let last = upstream.requests().pop().unwrap();
    assert_eq!((last.start[0].as_str(), last.body_text()), ("PATCH", fine.to_owned()));
}

/// Issue 9, finding 8: a PUT replaces the client on upstreams that implement it, so it must
/// restate ownership and mode; a PATCH need not.
#[test]
fn a_put_restates_what_cannot_change() {
    let upstream = Upstream::start();
    let gateway = Gateway::start(upstream.addr);
    let put = |body: &str| {
        gateway.send(&request("PUT", "/api/v2/clients/tpc_abc", "globex.example.test", &[JSON], body.as_bytes()))
    };
    assert_refused(&put(r#"{"name":"renamed"}"#), "replace_incomplete");
    assert_refused(&put(r#"{"name":"renamed","is_first_party":false}"#), "replace_incomplete");
    upstream.assert_untouched();
    let whole = r#"{"name":"renamed","is_first_party":false,"third_party_security_mode":"strict"}"#;
    assert_eq!(status(&put(whole)), 200);
    assert_eq!(upstream.single().body_text(), whole);
}
