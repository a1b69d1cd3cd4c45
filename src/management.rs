//! The gateway's own credentials at the upstream (SPEC §13 `[tenants.management]`): a
//! client-credentials token for the tenant's Management API, cached until shortly before
//! it expires, and the client lookups made with it, coalesced so that a burst of requests
//! for one unknown client sends one lookup, and bounded per tenant
//! (`[tenants.management] lookups_per_s`) so that made-up client ids cannot flood the
//! tenant's Management API. The secret is read from the environment when a token is
//! needed and never appears in a log or an error.

use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::{Duration, Instant};

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};

use percent_encoding::utf8_percent_encode;

use crate::config::{Tenant, Upstream};
use crate::policy::ClientState;
use crate::upstream::{Endpoint, PATH_SEGMENT, SideClient};

/// A token is renewed this long before it expires.
const RENEW_BEFORE: Duration = Duration::from_secs(30);
/// How long a lookup's answer is shared with requests that asked meanwhile (the registry
/// keeps found clients; this only coalesces and briefly remembers unknown ones).
const LOOKUP_SHARED_FOR: Duration = Duration::from_secs(5);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ManagementError {
    #[error("tenant `{0}` has no [tenants.management] client")]
    NotConfigured(String),
    #[error("the environment variable `{0}` (the management client secret) is not set")]
    SecretMissing(String),
    #[error("the upstream refused the management credentials of `{client_id}` ({status})")]
    Refused { client_id: String, status: u16 },
    #[error("the management lookup failed: {0}")]
    Failed(String),
    #[error("tenant `{tenant}` is over its {per_s} client lookups a second; the lookup was not sent")]
    OverBudget { tenant: String, per_s: u32 },
}

pub struct Management {
    side: Arc<SideClient>,
    tokens: moka::future::Cache<String, (String, Instant)>,
    lookups: moka::future::Cache<(String, String), Option<ClientState>>,
    /// Per tenant and rate (a reload may change it): the lookups left to send.
    budgets: moka::sync::Cache<(String, u32), Arc<DefaultDirectRateLimiter>>,
}

impl Management {
    pub fn new(side: Arc<SideClient>) -> Self {
        Management {
            side,
            tokens: moka::future::Cache::new(10_000),
            lookups: moka::future::Cache::builder().max_capacity(100_000).time_to_live(LOOKUP_SHARED_FOR).build(),
            budgets: moka::sync::Cache::new(100_000),
        }
    }

    /// Takes one lookup from the tenant's budget; `false` when it is spent for now.
    fn within_budget(&self, tenant: &Tenant, per_s: u32) -> bool {
        let rate = NonZeroU32::new(per_s).unwrap_or(NonZeroU32::MIN);
        let budget = self.budgets.get_with((tenant.policy.id.clone(), per_s), || {
            Arc::new(RateLimiter::direct(Quota::per_second(rate).allow_burst(rate)))
        });
        budget.check().is_ok()
    }

    /// The tenant's management token, fetched when missing or about to expire; concurrent
    /// requests for it share one fetch (a failure is shared, never kept).
    pub async fn token(&self, tenant: &Tenant, upstream: &Upstream) -> Result<String, ManagementError> {
        let key = tenant.policy.id.clone();
        let mut fetched_here = false;
        let fetch = async {
            fetched_here = true;
            self.fetch_token(tenant, upstream).await
        };
        let (token, until) =
            self.tokens.try_get_with(key.clone(), fetch).await.map_err(|e| ManagementError::clone(&e))?;
        if fetched_here || Instant::now() < until {
            // a token just fetched is used even when it lives shorter than the renewal margin
            return Ok(token);
        }
        // kept, and about to expire: fetch a new one (shared with whoever asks meanwhile)
        self.tokens.invalidate(&key).await;
        let fetch = self.fetch_token(tenant, upstream);
        let (token, _) = self.tokens.try_get_with(key, fetch).await.map_err(|e| ManagementError::clone(&e))?;
        Ok(token)
    }

    /// A new token and until when to keep it: a day at most, whatever the upstream says.
    async fn fetch_token(&self, tenant: &Tenant, upstream: &Upstream) -> Result<(String, Instant), ManagementError> {
        let (token, lifetime) = fetch_token(&self.side, tenant, upstream, false).await?;
        Ok((token, Instant::now() + lifetime.min(Duration::from_secs(86_400)).saturating_sub(RENEW_BEFORE)))
    }

    /// What the upstream says of `client_id` on `tenant` (reached as `host`); `Ok(None)`
    /// when it does not know the client. Concurrent lookups of one client are one request.
    pub async fn lookup(
        &self,
        tenant: &Tenant,
        upstream: &Upstream,
        host: &str,
        client_id: &str,
    ) -> Result<Option<ClientState>, ManagementError> {
        if !crate::registry::Entry::storable_id(client_id) {
            return Ok(None);
        }
        let key = (tenant.policy.id.clone(), client_id.to_owned());
        // concurrent lookups share one request; a failure is shared, never cached
        self.lookups
            .try_get_with(key, self.lookup_uncached(tenant, upstream, host, client_id))
            .await
            .map_err(|e| ManagementError::clone(&e))
    }

    async fn lookup_uncached(
        &self,
        tenant: &Tenant,
        upstream: &Upstream,
        host: &str,
        client_id: &str,
    ) -> Result<Option<ClientState>, ManagementError> {
        let management =
            tenant.management.as_ref().ok_or_else(|| ManagementError::NotConfigured(tenant.policy.id.clone()))?;
        if !self.within_budget(tenant, management.lookups_per_s) {
            return Err(ManagementError::OverBudget {
                tenant: tenant.policy.id.clone(),
                per_s: management.lookups_per_s,
            });
        }
        let token = self.token(tenant, upstream).await?;
        let path = format!(
            "/api/v2/clients/{}?fields=is_first_party,third_party_security_mode&include_fields=true",
            utf8_percent_encode(client_id, PATH_SEGMENT)
        );
        let authorization = format!("Bearer {token}");
        let headers = [("accept", "application/json"), ("authorization", authorization.as_str())];
        let answer = self
            .side
            .get(&Endpoint::upstream(upstream, host), &path, &headers)
            .await
            .map_err(|e| ManagementError::Failed(e.to_string()))?;
        match answer.status {
            200 => {
                let document: serde_json::Value = serde_json::from_slice(&answer.body)
                    .map_err(|_| ManagementError::Failed("the answer is not JSON".into()))?;
                ClientState::from_document(&document)
                    .map(Some)
                    .ok_or_else(|| ManagementError::Failed("the answer is not a client".into()))
            }
            404 => Ok(None),
            401 | 403 => {
                // a revoked or expired token: the next request fetches a new one
                self.tokens.invalidate(&tenant.policy.id).await;
                Err(ManagementError::Failed(format!("the upstream answered {}", answer.status)))
            }
            status => Err(ManagementError::Failed(format!("the upstream answered {status}"))),
        }
    }
}

/// A client-credentials token for `tenant`'s Management API and its lifetime: with
/// `from_env` (`modegate clients import`), `MODEGATE_MANAGEMENT_TOKEN` when set (no expiry
/// known: an hour); else a grant with the tenant's `[tenants.management]` client.
pub async fn fetch_token(
    side: &SideClient,
    tenant: &Tenant,
    upstream: &Upstream,
    from_env: bool,
) -> Result<(String, Duration), ManagementError> {
    if let Ok(token) = std::env::var("MODEGATE_MANAGEMENT_TOKEN")
        && from_env
        && !token.trim().is_empty()
    {
        return Ok((token.trim().to_owned(), Duration::from_secs(3600)));
    }
    let management =
        tenant.management.as_ref().ok_or_else(|| ManagementError::NotConfigured(tenant.policy.id.clone()))?;
    let secret = std::env::var(&management.client_secret_env)
        .map_err(|_| ManagementError::SecretMissing(management.client_secret_env.clone()))?;
    // a form, as RFC 6749 §4.4 writes it (Auth0 takes JSON too; oidc-provider only forms)
    let body = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("grant_type", "client_credentials")
        .append_pair("client_id", &management.client_id)
        .append_pair("client_secret", &secret)
        .append_pair("audience", &tenant.token.audience)
        .finish();
    let host = tenant.policy.hosts.first().cloned().unwrap_or_default();
    let headers = [("content-type", "application/x-www-form-urlencoded"), ("accept", "application/json")];
    let answer = side
        .request("POST", &Endpoint::upstream(upstream, &host), "/oauth/token", &headers, body.as_bytes())
        .await
        .map_err(|e| ManagementError::Failed(e.to_string()))?;
    let document: serde_json::Value = serde_json::from_slice(&answer.body).unwrap_or_default();
    match document.get("access_token").and_then(|v| v.as_str()) {
        // never print the answer: it may echo the secret
        Some(token) if answer.status == 200 => {
            let lifetime = document.get("expires_in").and_then(serde_json::Value::as_u64).unwrap_or(3600);
            Ok((token.to_owned(), Duration::from_secs(lifetime)))
        }
        _ => Err(ManagementError::Refused { client_id: management.client_id.clone(), status: answer.status }),
    }
}
