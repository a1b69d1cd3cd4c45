//! Verified callers (SPEC §6): the bearer token of an intercepted request, checked against
//! the tenant's keys and rules. [`verify`] is pure (token, rules, keys and `now` in; claims
//! or a reason out); fetching and caching keys lives in [`jwks`].
//!
//! Verified tokens are cached ([`VerifiedTokens`]): an RS256 verification costs about
//! 125 µs with the pure-Rust backend, and a Management API client reuses one token for
//! hours. An entry is keyed by a SHA-256 of the tenant's token rules and the token, lives
//! at most [`VERIFIED_TTL`], and is re-checked against `exp`/`nbf` on every hit, so expiry
//! still ends a token on time; a key withdrawn from the JWKS stops a token already seen
//! within [`VERIFIED_TTL`].

pub mod jwks;
pub mod verifier;

use std::sync::Arc;
use std::time::Duration;

use sha2::{Digest, Sha256};

use std::collections::HashMap;

use http::HeaderMap;
use jsonwebtoken::jwk::{AlgorithmParameters, JwkSet};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::Value;

use crate::config::TokenSettings;
use crate::policy::{ErrorCode, ReasonCode, Rejection};

/// Seconds of clock skew allowed on `exp` and `nbf`.
pub const LEEWAY_S: u64 = 30;

/// Why a token was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("missing authentication: send `Authorization: Bearer <token>`")]
    Missing,
    #[error("invalid token: {0}")]
    Malformed(&'static str),
    #[error("invalid token: algorithm `{0}` is not accepted on this tenant")]
    Algorithm(String),
    #[error("invalid token: it is signed with a key this tenant does not publish")]
    UnknownKey,
    #[error("invalid token: the signature does not verify")]
    Signature,
    #[error("invalid token: it has expired; get a new one")]
    Expired,
    #[error("invalid token: it is not valid yet")]
    NotYetValid,
    #[error("invalid token: it was issued for another tenant (issuer)")]
    Issuer,
    #[error("bad audience: the token is not for this tenant's Management API")]
    Audience,
    #[error("the tenant's signing keys cannot be loaded right now; retry later")]
    KeysUnavailable,
}

impl TokenError {
    /// The `result` label of `modegate_jwt_validations_total`.
    pub fn result_label(&self) -> &'static str {
        self.reason().as_str()
    }

    pub fn reason(&self) -> ReasonCode {
        match self {
            TokenError::Missing => ReasonCode::TokenMissing,
            TokenError::Malformed(_) => ReasonCode::TokenMalformed,
            TokenError::Algorithm(_) => ReasonCode::TokenAlgorithm,
            TokenError::UnknownKey => ReasonCode::TokenUnknownKey,
            TokenError::Signature => ReasonCode::TokenSignature,
            TokenError::Expired => ReasonCode::TokenExpired,
            TokenError::NotYetValid => ReasonCode::TokenNotYetValid,
            TokenError::Issuer => ReasonCode::TokenIssuer,
            TokenError::Audience => ReasonCode::TokenAudience,
            TokenError::KeysUnavailable => ReasonCode::KeysUnavailable,
        }
    }

    /// 401 `invalid_token` (503 when the keys cannot be had: the caller is not at fault).
    pub fn rejection(&self) -> Rejection {
        match self {
            TokenError::KeysUnavailable => {
                Rejection::new(503, ErrorCode::PolicyUnavailable, self.reason(), self.to_string())
            }
            _ => Rejection::new(401, ErrorCode::InvalidToken, self.reason(), capitalise(&self.to_string())),
        }
    }
}

fn capitalise(text: &str) -> String {
    let mut chars = text.chars();
    chars.next().map(|first| first.to_uppercase().chain(chars).collect()).unwrap_or_default()
}

/// What the gateway keeps of a verified token.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Claims {
    pub sub: Option<String>,
    pub azp: Option<String>,
    pub scopes: Vec<String>,
    /// `exp` and `nbf`, Unix seconds.
    pub exp: u64,
    pub nbf: Option<u64>,
}

impl Claims {
    /// 403 `insufficient_scope` unless the token grants `scope` (SPEC §6, real message form).
    pub fn require_scope(&self, scope: &str) -> Result<(), Rejection> {
        if self.scopes.iter().any(|s| s == scope) {
            return Ok(());
        }
        let message = format!("Insufficient scope, expected any of: {scope}");
        Err(Rejection::new(403, ErrorCode::InsufficientScope, ReasonCode::InsufficientScope, message))
    }
}

/// One verification key of a tenant.
#[derive(Clone)]
pub struct Key {
    pub kid: Option<String>,
    /// The JWK's `alg`, when it pins one.
    pub alg: Option<Algorithm>,
    pub family: jsonwebtoken::AlgorithmFamily,
    pub key: DecodingKey,
}

/// A tenant's verification keys, by `kid`.
#[derive(Clone, Default)]
pub struct KeySet {
    keys: Vec<Key>,
    by_kid: HashMap<String, usize>,
}

impl std::fmt::Debug for KeySet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.keys.iter().map(|k| &k.kid)).finish()
    }
}

impl KeySet {
    /// Reads a JWKS document. Symmetric (`oct`) keys are ignored: a published key is public,
    /// and an HMAC key that is public signs anything.
    pub fn from_jwks(document: &[u8]) -> Result<Self, String> {
        let set: JwkSet = serde_json::from_slice(document).map_err(|e| format!("not a JWKS document: {e}"))?;
        let mut keys = Vec::new();
        for jwk in &set.keys {
            let family = match &jwk.algorithm {
                AlgorithmParameters::RSA(_) => jsonwebtoken::AlgorithmFamily::Rsa,
                AlgorithmParameters::EllipticCurve(_) => jsonwebtoken::AlgorithmFamily::Ec,
                AlgorithmParameters::OctetKeyPair(_) => jsonwebtoken::AlgorithmFamily::Ed,
                _ => continue,
            };
            // SPEC §6: a key verifies signatures only, and only with its own signature `alg`
            if !signs(&jwk.common) {
                continue;
            }
            let alg = match jwk.common.key_algorithm {
                None => None,
                Some(named) => match Algorithm::try_from(named) {
                    Ok(alg) if alg.family() == family => Some(alg),
                    // an encryption, HMAC, unknown or mismatched `alg`: not a verification key
                    _ => continue,
                },
            };
            let Ok(key) = DecodingKey::from_jwk(jwk) else { continue };
            keys.push(Key { kid: jwk.common.key_id.clone(), alg, family, key });
        }
        let by_kid = keys.iter().enumerate().filter_map(|(i, k)| k.kid.clone().map(|kid| (kid, i))).collect();
        Ok(KeySet { keys, by_kid })
    }

    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    pub fn has_kid(&self, kid: &str) -> bool {
        self.by_kid.contains_key(kid)
    }

    /// The key for a token: by `kid`, or the only key of the algorithm's family when the
    /// token names none.
    fn select(&self, kid: Option<&str>, alg: Algorithm) -> Option<&Key> {
        match kid {
            Some(kid) => self.by_kid.get(kid).and_then(|i| self.keys.get(*i)),
            None => {
                let mut candidates = self.keys.iter().filter(|k| k.family == alg.family());
                let only = candidates.next()?;
                candidates.next().is_none().then_some(only)
            }
        }
    }
}

/// `use` absent or `sig`, and `key_ops`, when present, containing `verify` (RFC 7517 §4.2–4.3).
fn signs(common: &jsonwebtoken::jwk::CommonParameters) -> bool {
    use jsonwebtoken::jwk::{KeyOperations, PublicKeyUse};
    let use_ok = matches!(common.public_key_use, None | Some(PublicKeyUse::Signature));
    let ops_ok = common.key_operations.as_ref().is_none_or(|ops| ops.contains(&KeyOperations::Verify));
    use_ok && ops_ok
}

/// The token of `Authorization: Bearer <token>`; exactly one such header.
pub fn bearer(headers: &HeaderMap) -> Result<&str, TokenError> {
    let mut values = headers.get_all(http::header::AUTHORIZATION).iter();
    let (Some(value), None) = (values.next(), values.next()) else {
        return Err(if headers.contains_key(http::header::AUTHORIZATION) {
            TokenError::Malformed("send one Authorization header")
        } else {
            TokenError::Missing
        });
    };
    let text = value.to_str().map_err(|_| TokenError::Malformed("the Authorization header is not text"))?;
    if text.trim().eq_ignore_ascii_case("bearer") {
        return Err(TokenError::Missing);
    }
    let (scheme, token) = text.trim().split_once(' ').ok_or(TokenError::Malformed("use the Bearer scheme"))?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(TokenError::Missing);
    }
    let token = token.trim();
    if token.is_empty() {
        return Err(TokenError::Missing);
    }
    Ok(token)
}

/// The header facts needed to pick a key: the algorithm (checked against the tenant's
/// allow-list) and the `kid`.
pub fn token_header(token: &str, rules: &TokenSettings) -> Result<(Algorithm, Option<String>), TokenError> {
    // `alg: none` has no variant in jsonwebtoken: it fails here as malformed
    let header =
        jsonwebtoken::decode_header(token).map_err(|_| TokenError::Malformed("the token is not a signed JWT"))?;
    let name = format!("{:?}", header.alg);
    if !rules.algorithms.iter().any(|allowed| allowed == &name) {
        return Err(TokenError::Algorithm(name));
    }
    Ok((header.alg, header.kid))
}

/// Verifies `token` for a tenant: signature by the tenant's key, allowed algorithm that
/// matches the key, `exp`/`nbf` against `now` (Unix seconds) with [`LEEWAY_S`], `iss`
/// equal to the issuer, `aud` containing the audience.
pub fn verify(token: &str, rules: &TokenSettings, keys: &KeySet, now: u64) -> Result<Claims, TokenError> {
    let (alg, kid) = token_header(token, rules)?;
    let key = keys.select(kid.as_deref(), alg).ok_or(TokenError::UnknownKey)?;
    if key.family != alg.family() || key.alg.is_some_and(|pinned| pinned != alg) {
        // e.g. HS256 presented with an RSA key: never verify across families
        return Err(TokenError::Algorithm(format!("{alg:?}")));
    }
    let mut validation = Validation::new(alg);
    // time, issuer and audience are checked below against `now`, so the core stays pure
    validation.validate_exp = false;
    validation.validate_nbf = false;
    validation.validate_aud = false;
    validation.required_spec_claims.clear();
    let data = jsonwebtoken::decode::<Value>(token, &key.key, &validation).map_err(|e| match e.kind() {
        jsonwebtoken::errors::ErrorKind::InvalidSignature => TokenError::Signature,
        jsonwebtoken::errors::ErrorKind::InvalidAlgorithm => TokenError::Algorithm(format!("{alg:?}")),
        _ => TokenError::Malformed("the token cannot be decoded"),
    })?;
    let claims = data.claims;
    let number = |name: &str| claims.get(name).and_then(Value::as_u64);
    let exp = number("exp").ok_or(TokenError::Malformed("the token has no `exp`"))?;
    if now > exp.saturating_add(LEEWAY_S) {
        return Err(TokenError::Expired);
    }
    let nbf = match claims.get("nbf") {
        None => None,
        Some(value) => Some(value.as_u64().ok_or(TokenError::Malformed("the token's `nbf` is not a number"))?),
    };
    if let Some(nbf) = nbf
        && now.saturating_add(LEEWAY_S) < nbf
    {
        return Err(TokenError::NotYetValid);
    }
    if claims.get("iss").and_then(Value::as_str) != Some(rules.issuer.as_str()) {
        return Err(TokenError::Issuer);
    }
    let audience_ok = match claims.get("aud") {
        Some(Value::String(aud)) => aud == &rules.audience,
        Some(Value::Array(auds)) => auds.iter().any(|a| a.as_str() == Some(rules.audience.as_str())),
        _ => false,
    };
    if !audience_ok {
        return Err(TokenError::Audience);
    }
    let text = |name: &str| claims.get(name).and_then(Value::as_str).map(str::to_owned);
    let scopes = text("scope").map(|s| s.split_whitespace().map(str::to_owned).collect()).unwrap_or_default();
    Ok(Claims { sub: text("sub"), azp: text("azp"), scopes, exp, nbf })
}

/// How long a verified token is trusted without verifying its signature again.
pub const VERIFIED_TTL: Duration = Duration::from_secs(60);

/// Verified tokens, bounded in number and age.
pub struct VerifiedTokens {
    cache: moka::sync::Cache<[u8; 32], Arc<Verified>>,
}

/// A verified token's claims and validity window.
#[derive(Debug)]
struct Verified {
    claims: Claims,
    exp: u64,
    nbf: Option<u64>,
}

impl Default for VerifiedTokens {
    fn default() -> Self {
        VerifiedTokens { cache: moka::sync::Cache::builder().max_capacity(100_000).time_to_live(VERIFIED_TTL).build() }
    }
}

impl VerifiedTokens {
    /// The cache key: the tenant, the fingerprint of its token settings (keys included, so
    /// a reload that changes them makes every token verified before unreachable at once)
    /// and the token, hashed (the token itself is not kept).
    pub fn key(tenant_id: &str, rules: &TokenSettings, token: &str) -> [u8; 32] {
        let mut hash = Sha256::new();
        hash.update(tenant_id.as_bytes());
        hash.update([0]);
        hash.update(rules.fingerprint);
        hash.update(token.as_bytes());
        hash.finalize().into()
    }

    /// The claims of a token verified before, if it is still within its validity window.
    pub fn get(&self, key: &[u8; 32], now: u64) -> Option<Claims> {
        let verified = self.cache.get(key)?;
        let in_window = now <= verified.exp.saturating_add(LEEWAY_S)
            && verified.nbf.is_none_or(|nbf| now.saturating_add(LEEWAY_S) >= nbf);
        in_window.then(|| verified.claims.clone())
    }

    pub fn insert(&self, key: [u8; 32], claims: Claims, exp: u64, nbf: Option<u64>) {
        self.cache.insert(key, Arc::new(Verified { claims, exp, nbf }));
    }
}

#[cfg(test)]
mod tests;
