//! SPEC §6: every intercepted Management API request needs a valid bearer token for that
//! tenant, verified at the gateway against keys the upstream serves as a JWKS.

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};

use crate::support::tokens::{self, ALL_SCOPES, claims, ec1, rsa1, rsa2, sign};
use crate::support::{Gateway, JSON, Message, Upstream, status};

const CLIENTS: &str = "/api/v2/clients";
const BODY: &str = r#"{"name":"x","is_first_party":false}"#;

fn post_with(gateway: &Gateway, host: &str, authorization: &str) -> Message {
    gateway.send(&crate::support::request(
        "POST",
        CLIENTS,
        host,
        &[JSON, ("Authorization", authorization)],
        BODY.as_bytes(),
    ))
}

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

#[track_caller]
fn assert_invalid_token(response: &Message, reason: &str) {
    assert_eq!(status(response), 401, "{}", response.body_text());
    assert_eq!(response.header("x-modegate-reason"), Some(reason));
    assert_eq!(response.header("www-authenticate"), Some("Bearer error=\"invalid_token\""));
    let json = response.json();
    assert_eq!(json["errorCode"], "invalid_token");
    assert_eq!(json["statusCode"], 401);
    assert_eq!(json["error"], "Unauthorized");
}

#[test]
fn valid_rs256_and_es256_tokens_pass() {
    let upstream = Upstream::start().route(CLIENTS, 201, "{}");
    let gateway = Gateway::start_with(upstream.addr, "", "", &rotating_tenant(10_000));
    let host = "rot.example.test";
    for key in [rsa1(), ec1()] {
        let response = post_with(&gateway, host, &bearer(&sign(&key, &claims(host, ALL_SCOPES))));
        assert_eq!(status(&response), 201, "{}: {}", key.kid, response.body_text());
    }
    assert_eq!(upstream.requests().len(), 2);
    assert_eq!(upstream.jwks_fetches(), 1, "keys are cached");
    assert_eq!(gateway.metric("modegate_jwt_validations_total{result=\"ok\"}"), 2.0);
    assert_eq!(gateway.metric("modegate_jwks_fetches_total{result=\"ok\"}"), 1.0);
}

#[test]
fn bad_tokens_are_refused_and_never_reach_the_upstream() {
    let upstream = Upstream::start();
    let gateway = Gateway::start(upstream.addr);
    let host = "globex.example.test";
    let with = |edit: &dyn Fn(&mut Value)| {
        let mut c = claims(host, ALL_SCOPES);
        edit(&mut c);
        bearer(&sign(&rsa1(), &c))
    };
    let now = tokens::now();
    let cases: Vec<(String, &str)> = vec![
        ("none".into(), "token_missing"),
        ("Basic dXNlcjpwYXNz".into(), "token_missing"),
        ("Bearer ".into(), "token_missing"),
        ("Bearer not.a.jwt".into(), "token_malformed"),
        ("Bearer abc".into(), "token_malformed"),
        (with(&|c| c["exp"] = json!(now - 3600)), "token_expired"),
        (with(&|c| c["nbf"] = json!(now + 3600)), "token_not_yet_valid"),
        (with(&|c| c["iss"] = json!("https://evil.example.test/")), "token_issuer"),
        (with(&|c| c["aud"] = json!("https://globex.example.test/other/")), "token_audience"),
        (with(&|c| c.as_object_mut().unwrap().remove("exp").map(drop).unwrap_or(())), "token_malformed"),
        // a token of another tenant never passes here
        (bearer(&sign(&rsa1(), &claims("acme.example.test", ALL_SCOPES))), "token_issuer"),
    ];
    for (authorization, reason) in &cases {
        assert_invalid_token(&post_with(&gateway, host, authorization), reason);
    }
    // a tampered signature
    let valid = sign(&rsa1(), &claims(host, ALL_SCOPES));
    let (head, _) = valid.rsplit_once('.').unwrap();
    let other = sign(&rsa1(), &claims("acme.example.test", ALL_SCOPES));
    let (_, signature) = other.rsplit_once('.').unwrap();
    assert_invalid_token(&post_with(&gateway, host, &bearer(&format!("{head}.{signature}"))), "token_signature");
    upstream.assert_untouched();
    assert_eq!(gateway.metric("modegate_jwt_validations_total{result=\"token_expired\"}"), 1.0);
}

#[test]
fn alg_none_and_hs256_with_the_public_key_are_refused() {
    let upstream = Upstream::start();
    let gateway = Gateway::start(upstream.addr);
    let host = "globex.example.test";
    let payload = URL_SAFE_NO_PAD.encode(claims(host, ALL_SCOPES).to_string());
    for header in [json!({"alg":"none","typ":"JWT"}), json!({"alg":"none","typ":"JWT","kid":"k1"})] {
        let token = format!("{}.{payload}.", URL_SAFE_NO_PAD.encode(header.to_string()));
        assert_invalid_token(&post_with(&gateway, host, &bearer(&token)), "token_malformed");
    }
    // HS256 keyed with the RSA public key: the classic confusion attack
    let public_pem = std::fs::read(format!("{}/tests/fixtures/rsa1.pub.pem", env!("CARGO_MANIFEST_DIR"))).unwrap();
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
    header.kid = Some("k1".into());
    let forged =
        jsonwebtoken::encode(&header, &claims(host, ALL_SCOPES), &jsonwebtoken::EncodingKey::from_secret(&public_pem))
            .unwrap();
    assert_invalid_token(&post_with(&gateway, host, &bearer(&forged)), "token_algorithm");
    // ES256 is refused where the tenant allows RS256 only (the default)
    assert_invalid_token(
        &post_with(&gateway, host, &bearer(&sign(&ec1(), &claims(host, ALL_SCOPES)))),
        "token_algorithm",
    );
    upstream.assert_untouched();
}

#[test]
fn missing_scope_is_403_in_the_real_message_form() {
    let upstream = Upstream::start();
    let gateway = Gateway::start(upstream.addr);
    let host = "globex.example.test";
    let token = sign(&rsa1(), &claims(host, "read:clients update:clients"));
    let response = post_with(&gateway, host, &bearer(&token));
    assert_eq!(status(&response), 403);
    assert_eq!(response.header("x-modegate-reason"), Some("insufficient_scope"));
    let json = response.json();
    assert_eq!(json["message"], "Insufficient scope, expected any of: create:clients");
    assert_eq!(json["errorCode"], "insufficient_scope");
    assert_eq!(json["error"], "Forbidden");
    let response = gateway.send(&crate::support::request(
        "PATCH",
        "/api/v2/tenants/settings",
        host,
        &[JSON, ("Authorization", &bearer(&token))],
        b"{}",
    ));
    assert_eq!(response.json()["message"], "Insufficient scope, expected any of: update:tenant_settings");
    upstream.assert_untouched();
}

/// A tenant whose keys may be refetched every `interval_ms`.
fn rotating_tenant(interval_ms: u64) -> String {
    format!(
        "[[customers]]\nid = \"c\"\n[[tenants]]\nid = \"rot\"\ncustomer = \"c\"\nhosts = [\"rot.example.test\"]\n\
         [tenants.token]\nalgorithms = [\"RS256\", \"ES256\"]\njwks_refetch_interval_ms = {interval_ms}\n"
    )
}

#[test]
fn unknown_kid_before_and_after_a_key_rotation() {
    let upstream = Upstream::start().route(CLIENTS, 201, "{}");
    let gateway = Gateway::start_with(upstream.addr, "", "", &rotating_tenant(300));
    let host = "rot.example.test";
    let old = bearer(&sign(&rsa1(), &claims(host, ALL_SCOPES)));
    let new = bearer(&sign(&rsa2(), &claims(host, ALL_SCOPES)));
    assert_eq!(status(&post_with(&gateway, host, &old)), 201);
    // the new key is not published yet: refused, and the refetch is rate-limited
    assert_invalid_token(&post_with(&gateway, host, &new), "token_unknown_key");
    assert_eq!(upstream.jwks_fetches(), 1);
    // the key server rotates; after the refetch interval the unknown kid triggers one refetch
    upstream.set_route(crate::support::upstream::JWKS_PATH, 200, &tokens::jwks(&[rsa1(), rsa2()]));
    std::thread::sleep(Duration::from_millis(400));
    assert_eq!(status(&post_with(&gateway, host, &new)), 201);
    assert_eq!(upstream.jwks_fetches(), 2);
    assert_eq!(status(&post_with(&gateway, host, &old)), 201);
    assert_eq!(upstream.jwks_fetches(), 2, "known kids cause no fetch");
    assert_eq!(upstream.requests().len(), 3);
}

#[test]
fn a_burst_of_unknown_kids_causes_at_most_one_refetch() {
    let upstream = Upstream::start();
    let gateway = std::sync::Arc::new(Gateway::start_with(upstream.addr, "", "", &rotating_tenant(300)));
    let host = "rot.example.test";
    assert_eq!(status(&post_with(&gateway, host, &bearer(&sign(&rsa1(), &claims(host, ALL_SCOPES))))), 200);
    std::thread::sleep(Duration::from_millis(400));
    let threads: Vec<_> = (0..40)
        .map(|i| {
            let gateway = std::sync::Arc::clone(&gateway);
            std::thread::spawn(move || {
                let mut key = rsa1();
                key.kid = Box::leak(format!("junk-{i}").into_boxed_str());
                let response = post_with(&gateway, host, &bearer(&sign(&key, &claims(host, ALL_SCOPES))));
                status(&response)
            })
        })
        .collect();
    for thread in threads {
        assert_eq!(thread.join().unwrap(), 401);
    }
    assert_eq!(upstream.jwks_fetches(), 2, "one initial fetch, one coalesced refetch for the whole burst");
    assert_eq!(upstream.requests().len(), 1);
}

#[test]
fn keys_that_cannot_be_fetched_fail_closed() {
    let upstream = Upstream::start().route(crate::support::upstream::JWKS_PATH, 500, "oops");
    let gateway = Gateway::start(upstream.addr);
    let response = gateway.post_json("globex.example.test", CLIENTS, BODY);
    assert_eq!(status(&response), 503);
    assert_eq!(response.header("x-modegate-reason"), Some("keys_unavailable"));
    upstream.assert_untouched();
    assert_eq!(gateway.metric("modegate_jwks_fetches_total{result=\"error\"}"), 1.0);
}

/// Issue 9, finding 4: a reload that withdraws a key stops it verifying at once, for
/// tokens already verified (and cached) and for new ones.
#[test]
fn a_key_withdrawn_by_reload_stops_verifying_at_once() {
    let upstream = Upstream::start().route(CLIENTS, 201, r#"{"client_id":"c1"}"#);
    let tenant = |keys: &[tokens::SigningKey]| {
        format!(
            "[[customers]]\nid = \"c\"\n[[tenants]]\nid = \"inl\"\ncustomer = \"c\"\nhosts = [\"inl.example.test\"]\n\
             [tenants.token]\njwks = '{}'\n",
            tokens::jwks(keys)
        )
    };
    let gateway = Gateway::start_with(upstream.addr, "", "", &tenant(&[rsa1(), rsa2()]));
    let token = bearer(&sign(&rsa2(), &claims("inl.example.test", ALL_SCOPES)));
    assert_eq!(status(&post_with(&gateway, "inl.example.test", &token)), 201);
    assert_eq!(status(&post_with(&gateway, "inl.example.test", &token)), 201, "verified once, then cached");
    let path = gateway.config_path();
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, text.replace(&tokens::jwks(&[rsa1(), rsa2()]), &tokens::jwks(&[rsa1()]))).unwrap();
    assert_eq!(status(&gateway.admin_reload()), 200);
    assert_invalid_token(&post_with(&gateway, "inl.example.test", &token), "token_unknown_key");
    let fresh = bearer(&sign(&rsa1(), &claims("inl.example.test", ALL_SCOPES)));
    assert_eq!(status(&post_with(&gateway, "inl.example.test", &fresh)), 201);
    assert_eq!(upstream.requests().len(), 3);
}
