//! Bearer-token verification for the proxy (SPEC §6): the header decoded once, a verified
//! token served from the cache, else its keys found and its signature and claims checked,
//! then the route's scope. Every outcome is counted in `modegate_jwt_validations_total`.

use std::sync::Arc;

use http::HeaderMap;

use super::jwks::Keys;
use super::{Claims, TokenError, VerifiedTokens, bearer, token_header, verify};
use crate::config::{Config, Tenant};
use crate::policy::Rejection;
use crate::telemetry::metrics;

/// The tenants' keys and the tokens verified recently, shared by every request.
pub struct Verifier {
    keys: Arc<Keys>,
    verified: VerifiedTokens,
}

impl Verifier {
    pub fn new(keys: Arc<Keys>) -> Self {
        Verifier { keys, verified: VerifiedTokens::default() }
    }

    /// The caller's bearer token, verified for `tenant`, with `scope` (the route's).
    pub async fn authorize(
        &self,
        headers: &HeaderMap,
        config: &Config,
        tenant: &Tenant,
        scope: &str,
    ) -> Result<Claims, Rejection> {
        let result = self
            .verify(headers, config, tenant)
            .await
            .map_err(|e| e.rejection())
            .and_then(|claims| claims.require_scope(scope).map(|()| claims));
        let label = match &result {
            Ok(_) => "ok",
            Err(rejection) => rejection.reason.as_str(),
        };
        metrics().jwt_validations.with_label_values(&[label]).inc();
        result
    }

    async fn verify(&self, headers: &HeaderMap, config: &Config, tenant: &Tenant) -> Result<Claims, TokenError> {
        let token = bearer(headers)?;
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
        let key = VerifiedTokens::key(&tenant.policy.id, &tenant.token, token);
        if let Some(claims) = self.verified.get(&key, now) {
            return Ok(claims);
        }
        let (_alg, kid) = token_header(token, &tenant.token)?;
        let keys = self.keys.for_token(tenant, &config.upstream, kid.as_deref()).await?;
        let claims = verify(token, &tenant.token, &keys, now)?;
        self.verified.insert(key, claims.clone(), claims.exp, claims.nbf);
        Ok(claims)
    }
}
