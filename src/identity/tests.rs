use jsonwebtoken::jwk::{Jwk, JwkSet};
use jsonwebtoken::{EncodingKey, Header};
use serde_json::json;

use super::*;

const NOW: u64 = 1_800_000_000;

fn pem(name: &str) -> Vec<u8> {
    std::fs::read(format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap()
}

fn rsa() -> EncodingKey {
    EncodingKey::from_rsa_pem(&pem("rsa1.pem")).unwrap()
}

fn keys(entries: &[(&EncodingKey, Algorithm, Option<&str>)]) -> KeySet {
    let keys = entries
        .iter()
        .map(|(key, alg, kid)| {
            let mut jwk = Jwk::from_encoding_key(key, *alg).unwrap();
            jwk.common.key_id = kid.map(str::to_owned);
            jwk
        })
        .collect();
    KeySet::from_jwks(serde_json::to_string(&JwkSet { keys }).unwrap().as_bytes()).unwrap()
}

fn rules() -> TokenSettings {
    TokenSettings::new(
        "https://t.test/".into(),
        "https://t.test/api/v2/".into(),
        "https://t.test/.well-known/jwks.json".into(),
        None,
        vec!["RS256".into()],
        std::time::Duration::from_secs(10),
    )
}

fn token(kid: Option<&str>, claims: serde_json::Value) -> String {
    let mut header = Header::new(Algorithm::RS256);
    header.kid = kid.map(str::to_owned);
    jsonwebtoken::encode(&header, &claims, &rsa()).unwrap()
}

fn claims() -> serde_json::Value {
    json!({"iss":"https://t.test/","aud":"https://t.test/api/v2/","exp":NOW + 60,"sub":"c@clients","azp":"c","scope":"create:clients read:clients"})
}

#[test]
fn verifies_a_good_token() {
    let set = keys(&[(&rsa(), Algorithm::RS256, Some("k1"))]);
    let verified = verify(&token(Some("k1"), claims()), &rules(), &set, NOW).unwrap();
    assert_eq!(verified.sub.as_deref(), Some("c@clients"));
    assert_eq!(verified.azp.as_deref(), Some("c"));
    assert_eq!(verified.scopes, vec!["create:clients", "read:clients"]);
    assert!(verified.require_scope("create:clients").is_ok());
    let refused = verified.require_scope("update:clients").unwrap_err();
    assert_eq!(refused.status, 403);
    assert_eq!(refused.message, "Insufficient scope, expected any of: update:clients");
    // without a kid, the only key of the family is used
    assert!(verify(&token(None, claims()), &rules(), &set, NOW).is_ok());
}

#[test]
fn checks_time_with_leeway() {
    let set = keys(&[(&rsa(), Algorithm::RS256, Some("k1"))]);
    let at = |now| verify(&token(Some("k1"), claims()), &rules(), &set, now);
    assert!(at(NOW + 60 + LEEWAY_S).is_ok(), "inside the leeway");
    assert_eq!(at(NOW + 61 + LEEWAY_S), Err(TokenError::Expired));
    let mut future = claims();
    future["nbf"] = json!(NOW + 100);
    assert_eq!(verify(&token(Some("k1"), future.clone()), &rules(), &set, NOW), Err(TokenError::NotYetValid));
    assert!(verify(&token(Some("k1"), future), &rules(), &set, NOW + 100 - LEEWAY_S).is_ok());
}

#[test]
fn checks_issuer_and_audience() {
    let set = keys(&[(&rsa(), Algorithm::RS256, Some("k1"))]);
    let with = |name: &str, value: serde_json::Value| {
        let mut c = claims();
        c[name] = value;
        verify(&token(Some("k1"), c), &rules(), &set, NOW)
    };
    assert_eq!(with("iss", json!("https://t.test")), Err(TokenError::Issuer));
    assert_eq!(with("aud", json!("https://other.test/api/v2/")), Err(TokenError::Audience));
    assert!(with("aud", json!(["https://x.test/", "https://t.test/api/v2/"])).is_ok());
    assert_eq!(with("aud", json!(7)), Err(TokenError::Audience));
    assert_eq!(with("exp", json!("soon")), Err(TokenError::Malformed("the token has no `exp`")));
    assert_eq!(with("nbf", json!("later")), Err(TokenError::Malformed("the token's `nbf` is not a number")));
}

#[test]
fn refuses_unknown_keys_and_foreign_algorithms() {
    let set = keys(&[(&rsa(), Algorithm::RS256, Some("k1"))]);
    assert_eq!(verify(&token(Some("k9"), claims()), &rules(), &set, NOW), Err(TokenError::UnknownKey));
    let hs = jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims(),
        &EncodingKey::from_secret(&pem("rsa1.pub.pem")),
    )
    .unwrap();
    assert_eq!(verify(&hs, &rules(), &set, NOW), Err(TokenError::Algorithm("HS256".into())));
    let mut allow_hs = rules();
    allow_hs.algorithms.push("HS256".into());
    // even if a tenant allowed HS256, no published key can verify it
    assert!(verify(&hs, &allow_hs, &set, NOW).is_err());
}

#[test]
fn jwks_ignores_encryption_keys() {
    let mut jwk = Jwk::from_encoding_key(&rsa(), Algorithm::RS256).unwrap();
    jwk.common.key_id = Some("enc".into());
    jwk.common.public_key_use = Some(jsonwebtoken::jwk::PublicKeyUse::Encryption);
    let set = KeySet::from_jwks(serde_json::to_string(&JwkSet { keys: vec![jwk] }).unwrap().as_bytes()).unwrap();
    assert!(set.is_empty());
}

#[test]
fn jwks_ignores_symmetric_keys() {
    let secret = EncodingKey::from_secret(b"shared");
    let set = keys(&[(&secret, Algorithm::HS256, Some("oct")), (&rsa(), Algorithm::RS256, Some("k1"))]);
    assert_eq!(set.len(), 1);
    assert!(!set.has_kid("oct"));
    assert!(KeySet::from_jwks(b"{}").is_err());
    assert!(KeySet::from_jwks(br#"{"keys":[]}"#).unwrap().is_empty());
}

#[test]
fn reads_the_bearer_header() {
    let headers = |values: &[&str]| {
        let mut map = HeaderMap::new();
        for value in values {
            map.append(http::header::AUTHORIZATION, value.parse().unwrap());
        }
        map
    };
    assert_eq!(bearer(&headers(&["Bearer abc"])), Ok("abc"));
    assert_eq!(bearer(&headers(&["bearer  abc "])), Ok("abc"));
    assert_eq!(bearer(&headers(&[])), Err(TokenError::Missing));
    assert_eq!(bearer(&headers(&["Bearer"])), Err(TokenError::Missing));
    assert_eq!(bearer(&headers(&["Basic abc"])), Err(TokenError::Missing));
    assert!(matches!(bearer(&headers(&["Bearer a", "Bearer b"])), Err(TokenError::Malformed(_))));
    assert!(matches!(bearer(&headers(&["Token"])), Err(TokenError::Missing) | Err(TokenError::Malformed(_))));
}

#[test]
fn verified_tokens_are_reused_only_inside_their_window() {
    let cache = VerifiedTokens::default();
    let rules = rules();
    let key = VerifiedTokens::key("t", &rules, "token-a");
    assert_ne!(key, VerifiedTokens::key("other-tenant", &rules, "token-a"), "a token is cached per tenant");
    let claims = Claims { sub: Some("s".into()), exp: NOW + 10, nbf: Some(NOW - 5), ..Claims::default() };
    cache.insert(key, claims.clone(), claims.exp, claims.nbf);
    assert_eq!(cache.get(&key, NOW), Some(claims));
    assert_eq!(cache.get(&key, NOW + 10 + LEEWAY_S + 1), None, "expiry still ends it");
    assert_eq!(cache.get(&key, NOW - 5 - LEEWAY_S - 1), None, "not before nbf");
    assert_eq!(cache.get(&VerifiedTokens::key("t", &rules, "token-b"), NOW), None);
}

/// Issue 9, finding 5: a JWK verifies only when it is for signatures (`use`, `key_ops`) and
/// only with its own signature `alg`; anything else is skipped, not kept unpinned.
#[test]
fn keys_for_anything_but_verification_are_skipped() {
    let base = Jwk::from_encoding_key(&rsa(), Algorithm::RS256).unwrap();
    let variant = |edit: &dyn Fn(&mut serde_json::Value)| {
        let mut value = serde_json::to_value(&base).unwrap();
        value["kid"] = json!("k");
        edit(&mut value);
        KeySet::from_jwks(json!({ "keys": [value] }).to_string().as_bytes()).unwrap().len()
    };
    assert_eq!(variant(&|_| {}), 1);
    assert_eq!(variant(&|v| v["key_ops"] = json!(["verify"])), 1);
    assert_eq!(variant(&|v| v["key_ops"] = json!(["encrypt", "wrapKey"])), 0, "key_ops without verify");
    assert_eq!(variant(&|v| v["use"] = json!("enc")), 0, "an encryption key");
    assert_eq!(variant(&|v| v["alg"] = json!("RSA-OAEP")), 0, "an encryption alg");
    assert_eq!(variant(&|v| v["alg"] = json!("XX999")), 0, "an unknown alg");
    assert_eq!(variant(&|v| v["alg"] = json!("ES256")), 0, "an alg of another key family");
    assert_eq!(variant(&|v| v["alg"] = json!("HS256")), 0, "an HMAC alg on a public key");
}

/// Issue 9, finding 4: the verified-token cache key changes with any token setting,
/// keys included.
#[test]
fn verified_tokens_are_keyed_by_every_token_setting() {
    let before = rules();
    let mut settings = [
        (before.issuer.clone(), before.audience.clone(), before.jwks_uri.clone(), Some("{\"keys\":[]}".to_owned())),
        ("https://other/".to_owned(), before.audience.clone(), before.jwks_uri.clone(), None),
        (before.issuer.clone(), before.audience.clone(), "https://t.test/other.json".to_owned(), None),
    ]
    .into_iter()
    .map(|(issuer, audience, uri, jwks)| {
        TokenSettings::new(issuer, audience, uri, jwks, before.algorithms.clone(), before.jwks_refetch_interval)
    });
    let key = VerifiedTokens::key("t", &before, "token");
    assert!(settings.all(|changed| VerifiedTokens::key("t", &changed, "token") != key));
    assert_eq!(VerifiedTokens::key("t", &rules(), "token"), key);
}
