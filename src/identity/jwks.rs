//! Tenant keys: inline in the configuration, or fetched from `token.jwks_uri` and cached.
//!
//! A token with an unknown `kid` triggers one refetch (key rotation without a restart).
//! Refetches are coalesced (one in flight; the others wait for its result) and
//! rate-limited to one per `token.jwks_refetch_interval_ms`, so a flood of junk `kid`s
//! cannot hammer the key server. Failed fetches are remembered for a second for the same
//! reason. A failed refetch never extends the life of keys already held (SPEC §6): keys
//! live [`KEYS_TTL`] from the fetch that brought them.
//!
//! Everything is keyed by the tenant's token-settings fingerprint as well as the URI, so a
//! reload that changes a tenant's keys, issuer, audience or algorithms stops using what was
//! fetched under the old settings at once. Every map is bounded.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::config::{Tenant, Upstream};
use crate::identity::{KeySet, TokenError};
use crate::telemetry::metrics;
use crate::upstream::{Endpoint, SideClient};

/// Keys are refetched at least this often even when every `kid` is known.
pub const KEYS_TTL: Duration = Duration::from_secs(600);
/// A failed fetch is not retried sooner than this.
const FAILURE_MEMO: Duration = Duration::from_secs(1);
/// Bound of every map here: key sets, attempts, coalescing locks.
const MAX_ENTRIES: u64 = 10_000;

#[derive(Debug)]
struct Fetched {
    keys: Arc<KeySet>,
    /// When the fetch that brought these keys happened.
    at: Instant,
}

/// A key set's identity: where it comes from, under which token settings.
type SetKey = (String, [u8; 32]);

/// The key cache, shared by every request and kept across reloads.
pub struct Keys {
    client: Arc<SideClient>,
    fetched: moka::future::Cache<SetKey, Arc<Fetched>>,
    /// The last refetch attempt per key set, successful or not (the rate limit).
    attempts: moka::sync::Cache<SetKey, Instant>,
    failures: moka::sync::Cache<String, ()>,
    /// Parsed inline key sets, by token-settings fingerprint.
    inline: moka::sync::Cache<[u8; 32], Arc<KeySet>>,
    refetching: moka::sync::Cache<SetKey, Arc<tokio::sync::Mutex<()>>>,
}

impl Keys {
    pub fn new(client: Arc<SideClient>) -> Self {
        Keys {
            client,
            fetched: moka::future::Cache::builder().max_capacity(MAX_ENTRIES).time_to_live(KEYS_TTL).build(),
            attempts: moka::sync::Cache::builder()
                .max_capacity(MAX_ENTRIES)
                .time_to_live(Duration::from_secs(86_400))
                .build(),
            failures: moka::sync::Cache::builder().max_capacity(MAX_ENTRIES).time_to_live(FAILURE_MEMO).build(),
            inline: moka::sync::Cache::builder().max_capacity(MAX_ENTRIES).build(),
            refetching: moka::sync::Cache::builder()
                .max_capacity(MAX_ENTRIES)
                .time_to_idle(Duration::from_secs(60))
                .build(),
        }
    }

    /// The keys to verify a token with `kid` on `tenant`.
    pub async fn for_token(
        &self,
        tenant: &Tenant,
        upstream: &Upstream,
        kid: Option<&str>,
    ) -> Result<Arc<KeySet>, TokenError> {
        if let Some(document) = &tenant.token.jwks {
            return self.inline_keys(document, tenant.token.fingerprint);
        }
        let set = (tenant.token.jwks_uri.clone(), tenant.token.fingerprint);
        // cached keys need no address: resolve only when a fetch is due
        let current = self
            .fetched
            .try_get_with(set.clone(), self.fetch(&set.0, tenant, upstream))
            .await
            .map_err(|_| TokenError::KeysUnavailable)?;
        match kid {
            Some(kid) if !current.keys.has_kid(kid) => self.refetch(&set, tenant, upstream, &current).await,
            _ => Ok(Arc::clone(&current.keys)),
        }
    }

    fn inline_keys(&self, document: &str, fingerprint: [u8; 32]) -> Result<Arc<KeySet>, TokenError> {
        if let Some(keys) = self.inline.get(&fingerprint) {
            return Ok(keys);
        }
        let keys = Arc::new(KeySet::from_jwks(document.as_bytes()).map_err(|_| TokenError::KeysUnavailable)?);
        self.inline.insert(fingerprint, Arc::clone(&keys));
        Ok(keys)
    }

    /// One coalesced, rate-limited refetch for an unknown `kid`.
    async fn refetch(
        &self,
        set: &SetKey,
        tenant: &Tenant,
        upstream: &Upstream,
        seen: &Arc<Fetched>,
    ) -> Result<Arc<KeySet>, TokenError> {
        let lock = self.refetching.get_with(set.clone(), Default::default);
        let _one_at_a_time = lock.lock().await;
        if let Some(latest) = self.fetched.get(set).await
            && latest.at > seen.at
        {
            // another request refetched while this one waited
            return Ok(Arc::clone(&latest.keys));
        }
        let last_attempt = self.attempts.get(set).map_or(seen.at, |attempt| attempt.max(seen.at));
        if last_attempt.elapsed() < tenant.token.jwks_refetch_interval {
            return Ok(Arc::clone(&seen.keys));
        }
        // a failed attempt counts against the interval too, but never re-stamps the old keys
        self.attempts.insert(set.clone(), Instant::now());
        match self.fetch(&set.0, tenant, upstream).await {
            Ok(fresh) => {
                self.fetched.insert(set.clone(), Arc::clone(&fresh)).await;
                Ok(Arc::clone(&fresh.keys))
            }
            Err(_) => Ok(Arc::clone(&seen.keys)),
        }
    }

    async fn fetch(&self, uri: &str, tenant: &Tenant, upstream: &Upstream) -> Result<Arc<Fetched>, TokenError> {
        if self.failures.contains_key(uri) {
            return Err(TokenError::KeysUnavailable);
        }
        let source = Source::of(uri, tenant, upstream).await?;
        let result = self.client.get(&source.target, &source.path, &[("accept", "application/json")]).await;
        let keys = match result {
            Ok(answer) if answer.status == 200 => KeySet::from_jwks(&answer.body).map_err(|e| format!("{uri}: {e}")),
            Ok(answer) => Err(format!("{uri}: status {}", answer.status)),
            Err(e) => Err(e.to_string()),
        };
        match keys {
            Ok(keys) => {
                metrics().jwks_fetches.with_label_values(&["ok"]).inc();
                Ok(Arc::new(Fetched { keys: Arc::new(keys), at: Instant::now() }))
            }
            Err(message) => {
                metrics().jwks_fetches.with_label_values(&["error"]).inc();
                log::warn!("jwks: {message}");
                self.failures.insert(uri.to_owned(), ());
                Err(TokenError::KeysUnavailable)
            }
        }
    }
}

/// Where a JWKS URI is fetched from.
struct Source {
    target: Endpoint,
    path: String,
}

impl Source {
    /// A URI on one of the tenant's own hosts is fetched from the upstream, addressed by
    /// that host (SPEC §6: by default the upstream itself serves the keys). Any other
    /// `http(s)://` URI is fetched directly, resolving its host once per fetch.
    async fn of(uri: &str, tenant: &Tenant, upstream: &Upstream) -> Result<Source, TokenError> {
        let parsed: http::Uri = uri.parse().map_err(|_| TokenError::KeysUnavailable)?;
        let authority = parsed.authority().ok_or(TokenError::KeysUnavailable)?;
        let host = crate::policy::host::normalise_host(authority.as_str()).ok_or(TokenError::KeysUnavailable)?;
        let path = parsed.path_and_query().map_or("/", |p| p.as_str()).to_owned();
        if tenant.policy.hosts.contains(&host) {
            return Ok(Source { target: Endpoint::upstream(upstream, authority.host()), path });
        }
        let tls = match parsed.scheme_str() {
            Some("https") => true,
            Some("http") => false,
            _ => {
                log::warn!("jwks: `{uri}` is not an http(s) URL");
                return Err(TokenError::KeysUnavailable);
            }
        };
        let port = parsed.port_u16().unwrap_or(if tls { 443 } else { 80 });
        let address = tokio::net::lookup_host((authority.host(), port))
            .await
            .ok()
            .and_then(|mut addrs| addrs.next())
            .ok_or(TokenError::KeysUnavailable)?;
        let target = Endpoint {
            address,
            tls,
            // verified against `upstream.ca_file` or the system roots
            sni: authority.host().to_owned(),
            host: authority.as_str().to_owned(),
            connect_timeout: upstream.connect_timeout,
            read_timeout: upstream.read_timeout,
        };
        Ok(Source { target, path })
    }
}
