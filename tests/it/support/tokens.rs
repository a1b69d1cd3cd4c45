//! Real signed tokens for the tests: RS256 and ES256 keys from `tests/fixtures`, their
//! JWKS as the upstream serves it, and Management API tokens with Auth0's claim shapes.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};
use std::time::{SystemTime, UNIX_EPOCH};

use jsonwebtoken::jwk::{Jwk, JwkSet};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

/// Every scope the intercepted routes need.
pub const ALL_SCOPES: &str = "create:clients update:clients update:tenant_settings create:client_grants read:clients";

pub struct SigningKey {
    pub kid: &'static str,
    pub alg: Algorithm,
    pub key: EncodingKey,
}

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap()
}

pub fn rsa1() -> SigningKey {
    SigningKey { kid: "k1", alg: Algorithm::RS256, key: EncodingKey::from_rsa_pem(&fixture("rsa1.pem")).unwrap() }
}

pub fn rsa2() -> SigningKey {
    SigningKey { kid: "k2", alg: Algorithm::RS256, key: EncodingKey::from_rsa_pem(&fixture("rsa2.pem")).unwrap() }
}

pub fn ec1() -> SigningKey {
    SigningKey { kid: "e1", alg: Algorithm::ES256, key: EncodingKey::from_ec_pem(&fixture("ec1.pem")).unwrap() }
}

/// The public JWKS of `keys`.
pub fn jwks(keys: &[SigningKey]) -> String {
    let keys = keys
        .iter()
        .map(|k| {
            let mut jwk = Jwk::from_encoding_key(&k.key, k.alg).unwrap();
            jwk.common.key_id = Some(k.kid.to_owned());
            jwk
        })
        .collect();
    serde_json::to_string(&JwkSet { keys }).unwrap()
}

/// The JWKS the upstream serves by default: `k1` (RS256) and `e1` (ES256).
pub fn default_jwks() -> String {
    static JWKS: OnceLock<String> = OnceLock::new();
    JWKS.get_or_init(|| jwks(&[rsa1(), ec1()])).clone()
}

pub fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs()
}

/// Management API claims for the tenant whose first host is `host`.
pub fn claims(host: &str, scope: &str) -> Value {
    json!({
        "iss": format!("https://{host}/"),
        "aud": [format!("https://{host}/api/v2/"), format!("https://{host}/userinfo")],
        "sub": "mgmt-client@clients",
        "azp": "mgmt-client",
        "gty": "client-credentials",
        "scope": scope,
        "iat": now(),
        "exp": now() + 3600,
    })
}

pub fn sign(key: &SigningKey, claims: &Value) -> String {
    let mut header = Header::new(key.alg);
    header.kid = Some(key.kid.to_owned());
    jsonwebtoken::encode(&header, claims, &key.key).unwrap()
}

/// The tenant's first host, for a host a request may name (case, port, trailing dot, alias).
fn first_host(host: &str) -> String {
    let host = host.rsplit_once(':').map_or(host, |(name, _)| name).trim_end_matches('.').to_ascii_lowercase();
    match host.as_str() {
        "login.acme.test" => "acme.example.test".to_owned(),
        _ => host,
    }
}

/// A valid RS256 token with every scope for the tenant reached as `host` (cached: RSA
/// signing is the slow part of a test).
pub fn valid_for(host: &str) -> String {
    static CACHE: OnceLock<Mutex<HashMap<String, String>>> = OnceLock::new();
    let first = first_host(host);
    let mut cache = CACHE.get_or_init(Default::default).lock().unwrap();
    cache.entry(first.clone()).or_insert_with(|| sign(&rsa1(), &claims(&first, ALL_SCOPES))).clone()
}
