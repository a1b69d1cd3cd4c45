//! The remote tenant source (SPEC §8, `policy.source = "http"`): tenants fetched on demand
//! from `GET {policy.http.url}/tenants/by-host/{host}` and cached.
//!
//! - Found answers are fresh for `ttl_s`, 404s for `negative_ttl_s` (moka, bounded by
//!   `max_entries`); concurrent misses of one host share one fetch.
//! - While the service fails, the last good answer is served for `stale_if_error_s` past its
//!   freshness, then lookups fail and the proxy fails closed (503 on intercepted routes).
//! - A failed fetch is remembered for a second, so an outage costs the service one request
//!   per host per second, not one per client request.
//! - SPEC §11: a lookup has a deadline (`timeout_ms`, waiting included); fetches for hosts
//!   never seen are bounded in number and in waiters, and past either the caller gets the
//!   last good copy or 503. Hosts already known (a last good copy) fetch through slots of
//!   their own, so a flood of made-up hosts cannot delay real tenants.
//! - A reload that changes these settings builds the new source from the old one: the
//!   documents (with their own fetch times), last good copies and readiness carry over.
//! - Every document is validated as a `[[tenants]]` table is, and must claim the host it was
//!   asked for.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use percent_encoding::utf8_percent_encode;
use serde_json::Value;

use super::{SourceError, TenantSource};
use crate::config::raw::RawTenant;
use crate::config::validate::validate_tenant;
use crate::config::{PolicyServiceSettings as HttpSettings, Problems, Tenant, Tenants};
use crate::telemetry::metrics;
use crate::upstream::{Endpoint, PATH_SEGMENT, SideClient};

/// How long a failed fetch is remembered.
const FAILURE_MEMO: Duration = Duration::from_secs(1);
/// Fetches in flight at most for hosts never seen: a flood of made-up hosts queues
/// instead of fanning out.
const MAX_FETCHES: usize = 32;
/// Lookups waiting for one of those slots at most; past this they fail at once.
const MAX_WAITING: usize = 128;
/// Fetches in flight at most for hosts with a last good copy: slots of their own.
const MAX_KNOWN_FETCHES: usize = 16;
/// Largest tenant document accepted: the cache holds `max_entries` tenants, so one
/// tenant's size bounds its memory.
pub const MAX_DOCUMENT_BYTES: usize = 64 * 1024;
/// How long the policy service's resolved address is reused.
const ADDRESS_TTL: Duration = Duration::from_secs(60);

/// A cached answer of the policy service, with the time of the fetch that brought it: its
/// freshness counts from there, also after a reload carries it into a new cache.
#[derive(Debug, Clone)]
enum ServiceAnswer {
    Found(Arc<Tenant>, Instant),
    NotFound(Instant),
}

/// Why a fetch brought no answer.
#[derive(Debug, Clone)]
enum FetchError {
    /// The service could not be asked, or did not answer 200/404.
    Unavailable(String),
    /// It answered a document the gateway refuses (SPEC §8, §15): 503 `policy_invalid`.
    Invalid(String),
}

impl From<FetchError> for SourceError {
    fn from(error: FetchError) -> Self {
        match error {
            FetchError::Unavailable(message) => SourceError::Unavailable(message),
            FetchError::Invalid(message) => SourceError::Invalid(message),
        }
    }
}

#[derive(Debug, Clone)]
struct Good {
    tenant: Arc<Tenant>,
    at: Instant,
}

pub struct HttpSource {
    settings: HttpSettings,
    /// `[[tenants]]` of the file answer first, without a fetch; replaced on reload.
    inline: arc_swap::ArcSwap<Tenants>,
    client: Arc<SideClient>,
    fresh: moka::future::Cache<String, ServiceAnswer>,
    last_good: moka::sync::Cache<String, Good>,
    failures: moka::sync::Cache<String, FetchError>,
    answered: AtomicBool,
    fetch_slots: tokio::sync::Semaphore,
    /// Lookups waiting for `fetch_slots`.
    waiting: AtomicUsize,
    known_slots: tokio::sync::Semaphore,
    address: std::sync::Mutex<Option<(std::net::SocketAddr, Instant)>>,
}

struct FreshFor {
    ttl: Duration,
    negative_ttl: Duration,
}

impl moka::Expiry<String, ServiceAnswer> for FreshFor {
    fn expire_after_create(&self, _host: &String, answer: &ServiceAnswer, _now: Instant) -> Option<Duration> {
        Some(match answer {
            ServiceAnswer::Found(_, at) => self.ttl.saturating_sub(at.elapsed()),
            ServiceAnswer::NotFound(at) => self.negative_ttl.saturating_sub(at.elapsed()),
        })
    }
}

/// Decrements the waiter count when a lookup stops waiting, however it stops.
struct Waiting<'a>(&'a AtomicUsize);

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

impl HttpSource {
    pub fn new(settings: HttpSettings, inline: Tenants, client: Arc<SideClient>) -> Self {
        let fresh = moka::future::Cache::builder()
            .max_capacity(settings.max_entries)
            .expire_after(FreshFor { ttl: settings.ttl, negative_ttl: settings.negative_ttl })
            .build();
        // no time-to-live: the stale window is checked on use, under the settings of the day
        let last_good = moka::sync::Cache::builder().max_capacity(settings.max_entries).build();
        let failures =
            moka::sync::Cache::builder().max_capacity(settings.max_entries).time_to_live(FAILURE_MEMO).build();
        HttpSource {
            settings,
            inline: arc_swap::ArcSwap::from_pointee(inline),
            client,
            fresh,
            last_good,
            failures,
            answered: AtomicBool::new(false),
            fetch_slots: tokio::sync::Semaphore::new(MAX_FETCHES),
            waiting: AtomicUsize::new(0),
            known_slots: tokio::sync::Semaphore::new(MAX_KNOWN_FETCHES),
            address: std::sync::Mutex::new(None),
        }
    }

    /// SPEC §8: a reload that changes `[policy.http]` keeps the cached documents, their
    /// last good copies and readiness; only the settings change (freshness is judged by
    /// the new TTLs from each document's own fetch time).
    pub async fn carry_over(previous: &HttpSource, settings: HttpSettings, inline: Tenants) -> Self {
        let next = HttpSource::new(settings, inline, Arc::clone(&previous.client));
        for (host, answer) in previous.fresh.iter() {
            next.fresh.insert(host.as_ref().clone(), answer).await;
        }
        for (host, good) in previous.last_good.iter() {
            next.last_good.insert(host.as_ref().clone(), good);
        }
        next.answered.store(previous.answered.load(Ordering::Acquire), Ordering::Release);
        next
    }

    /// A reload that keeps the service settings keeps the cache and swaps the inline tenants.
    pub fn set_inline(&self, inline: Tenants) {
        self.inline.store(Arc::new(inline));
    }

    /// The same settings: a reload that keeps them keeps the cache.
    pub fn settings(&self) -> &HttpSettings {
        &self.settings
    }

    /// Asks the service about a host that no tenant has, to learn that it answers
    /// (`/readyz`). Any answer counts, 404 included.
    pub async fn probe(&self) -> bool {
        if !self.is_ready() {
            let _ = self.fetch("readiness-probe.invalid").await;
        }
        self.is_ready()
    }

    /// Seeds the cache with an answer, as a fetch would (warm-up, benchmarks).
    pub async fn remember(&self, host: &str, tenant: Arc<Tenant>) {
        self.fresh.insert(host.to_owned(), ServiceAnswer::Found(Arc::clone(&tenant), Instant::now())).await;
        self.last_good.insert(host.to_owned(), Good { tenant, at: Instant::now() });
    }

    /// Publishes `modegate_policy_cache_entries` (moka counts lazily: settle it first).
    pub async fn publish_entries(&self) {
        self.fresh.run_pending_tasks().await;
        metrics().policy_cache_entries.set(i64::try_from(self.fresh.entry_count()).unwrap_or(i64::MAX));
    }

    async fn fetch(&self, host: &str) -> Result<ServiceAnswer, FetchError> {
        if let Some(previous) = self.failures.get(host) {
            return Err(previous);
        }
        // known hosts fetch through slots of their own; unknown ones queue, boundedly
        let _slot = if self.last_good.contains_key(host) {
            self.known_slots.acquire().await
        } else {
            if self.waiting.fetch_add(1, Ordering::AcqRel) >= MAX_WAITING {
                self.waiting.fetch_sub(1, Ordering::AcqRel);
                return Err(FetchError::Unavailable(format!(
                    "tenant lookup for `{host}`: too many lookups are waiting for the policy service"
                )));
            }
            let _waiting = Waiting(&self.waiting);
            self.fetch_slots.acquire().await
        }
        .map_err(|_| FetchError::Unavailable("the policy source is shutting down".to_owned()))?;
        let result = self.fetch_uncached(host).await;
        match &result {
            // the stale window counts from the last good fetch
            Ok(ServiceAnswer::Found(tenant, at)) => {
                self.last_good.insert(host.to_owned(), Good { tenant: Arc::clone(tenant), at: *at })
            }
            Ok(ServiceAnswer::NotFound(_)) => {}
            Err(FetchError::Unavailable(message) | FetchError::Invalid(message)) => {
                log::warn!("policy source: {message}");
                if let Err(error) = &result {
                    self.failures.insert(host.to_owned(), error.clone());
                }
            }
        }
        result
    }

    async fn fetch_uncached(&self, host: &str) -> Result<ServiceAnswer, FetchError> {
        let unavailable = FetchError::Unavailable;
        let url: http::Uri =
            self.settings.url.parse().map_err(|_| unavailable(format!("`{}` is not a URL", self.settings.url)))?;
        let authority = url.authority().ok_or_else(|| unavailable(format!("`{}` has no host", self.settings.url)))?;
        let tls = url.scheme_str() == Some("https");
        let port = url.port_u16().unwrap_or(if tls { 443 } else { 80 });
        let address = self.resolve(authority.host(), port).await.map_err(unavailable)?;
        let target = Endpoint {
            address,
            tls,
            sni: authority.host().to_owned(),
            host: authority.as_str().to_owned(),
            connect_timeout: self.settings.timeout,
            read_timeout: self.settings.timeout,
        };
        let prefix = url.path().trim_end_matches('/');
        let path = format!("{prefix}/tenants/by-host/{}", utf8_percent_encode(host, PATH_SEGMENT));
        let answer = self
            .client
            .get(&target, &path, &[("accept", "application/json")])
            .await
            .map_err(|e| unavailable(e.to_string()))?;
        // the service answered: whatever it said, it is up (`/readyz`)
        self.answered.store(true, Ordering::Release);
        let now = Instant::now();
        match answer.status {
            200 => parse_document(host, &answer.body, &self.inline.load())
                .map(|tenant| ServiceAnswer::Found(Arc::new(tenant), now))
                .map_err(FetchError::Invalid),
            404 => Ok(ServiceAnswer::NotFound(now)),
            status => Err(unavailable(format!("{path}: the policy service answered {status}"))),
        }
    }
}

#[async_trait]
impl TenantSource for HttpSource {
    async fn tenant_for_host(&self, host: &str) -> Result<Option<Arc<Tenant>>, SourceError> {
        if let Some(tenant) = self.inline.load().by_host(host) {
            return Ok(Some(Arc::clone(tenant)));
        }
        let counter = |result: &str| metrics().policy_cache_requests.with_label_values(&[result]).inc();
        let inline = self.inline.load();
        // a cached document is held to the file as it is now (a reload may have changed it)
        let refused = |tenant: &Tenant| {
            inline.contradiction(tenant).map(|why| {
                counter("invalid");
                SourceError::Invalid(format!("tenant document for `{host}` refused: {why}"))
            })
        };
        let cached = self.fresh.get(host).await;
        let answer = match cached {
            Some(ServiceAnswer::Found(tenant, _)) => {
                if let Some(error) = refused(&tenant) {
                    return Err(error);
                }
                counter("hit");
                return Ok(Some(tenant));
            }
            Some(ServiceAnswer::NotFound(_)) => {
                counter("hit");
                return Ok(None);
            }
            None => {
                counter("miss");
                // one fetch for every concurrent miss of this host, within the deadline
                let fetch = self.fresh.try_get_with(host.to_owned(), self.fetch(host));
                match tokio::time::timeout(self.settings.timeout, fetch).await {
                    Ok(answer) => answer.map_err(|e| e.as_ref().clone()),
                    Err(_) => Err(FetchError::Unavailable(format!(
                        "tenant lookup for `{host}`: no answer within {:?}",
                        self.settings.timeout
                    ))),
                }
            }
        };
        match answer {
            Ok(ServiceAnswer::Found(tenant, _)) => match refused(&tenant) {
                Some(error) => Err(error),
                None => Ok(Some(tenant)),
            },
            Ok(ServiceAnswer::NotFound(_)) => Ok(None),
            // the last good copy stands in for a document that cannot be had or is refused
            Err(error) => match self.last_good.get(host) {
                Some(good) if good.at.elapsed() < self.settings.ttl + self.settings.stale_if_error => {
                    if let Some(error) = refused(&good.tenant) {
                        return Err(error);
                    }
                    counter("stale");
                    Ok(Some(good.tenant))
                }
                _ => {
                    counter(if matches!(error, FetchError::Invalid(_)) { "invalid" } else { "error" });
                    Err(error.into())
                }
            },
        }
    }

    fn is_ready(&self) -> bool {
        self.answered.load(Ordering::Acquire)
    }
}

impl HttpSource {
    /// The policy service's address, resolved at most once a minute.
    async fn resolve(&self, host: &str, port: u16) -> Result<std::net::SocketAddr, String> {
        let cached = *self.address.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some((address, at)) = cached
            && at.elapsed() < ADDRESS_TTL
        {
            return Ok(address);
        }
        let address = tokio::net::lookup_host((host, port))
            .await
            .ok()
            .and_then(|mut addrs| addrs.next())
            .ok_or_else(|| format!("`{host}` does not resolve"))?;
        *self.address.lock().unwrap_or_else(|poisoned| poisoned.into_inner()) = Some((address, Instant::now()));
        Ok(address)
    }
}

/// Reads and validates one tenant document: the `[[tenants]]` keys plus the customer's
/// `permissive_eligible`, checked against the file (`inline`): a customer the file defines
/// keeps the file's eligibility, and an inline tenant's id is not reused (SPEC §15).
pub fn parse_document(host: &str, body: &[u8], inline: &Tenants) -> Result<Tenant, String> {
    if body.len() > MAX_DOCUMENT_BYTES {
        return Err(format!("tenant document for `{host}`: larger than {MAX_DOCUMENT_BYTES} bytes"));
    }
    let mut document: Value =
        serde_json::from_slice(body).map_err(|e| format!("tenant document for `{host}`: not JSON: {e}"))?;
    let object = document.as_object_mut().ok_or_else(|| format!("tenant document for `{host}`: not an object"))?;
    let eligible = match object.remove("permissive_eligible") {
        Some(Value::Bool(flag)) => flag,
        _ => return Err(format!("tenant document for `{host}`: `permissive_eligible` (a boolean) is required")),
    };
    let mut problems = Problems::default();
    let mut unknown = Vec::new();
    let raw: RawTenant = serde_ignored::deserialize(document, |path| unknown.push(path.to_string()))
        .map_err(|e| format!("tenant document for `{host}`: {e}"))?;
    for key in unknown {
        problems.push(&key, "unknown key");
    }
    let tenant = validate_tenant("tenant", raw, Some(eligible), &mut problems);
    if let Some(tenant) = &tenant {
        if !tenant.policy.hosts.iter().any(|h| h == host) {
            problems.push("tenant.policy.hosts", format!("does not claim `{host}`, the host it was asked for"));
        }
        if let Some(contradiction) = inline.contradiction(tenant) {
            problems.push("tenant", contradiction);
        }
    }
    match tenant {
        Some(tenant) if problems.is_empty() => Ok(tenant),
        _ => {
            let list: Vec<String> = problems.0.iter().map(|p| format!("{}: {}", p.path, p.message)).collect();
            Err(format!("tenant document for `{host}` refused: {}", list.join("; ")))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents_are_validated_like_the_file() {
        let good = br#"{"id":"acme","customer":"cus_acme","permissive_eligible":true,"hosts":["acme.test"],"dcr_security_mode":"permissive"}"#;
        let tenant = parse_document("acme.test", good, &Tenants::new(Vec::new())).unwrap();
        assert!(tenant.policy.customer_eligible);
        assert_eq!(tenant.token.issuer, "https://acme.test/");
        let cases: [(&[u8], &str); 6] = [
            (br#"{"id":"a","customer":"c","hosts":["acme.test"]}"#, "`permissive_eligible` (a boolean) is required"),
            (br#"{"id":"a","customer":"c","permissive_eligible":false,"hosts":["acme.test"],"dcr_security_mode":"permissive"}"#, "not eligible"),
            (br#"{"id":"a","customer":"c","permissive_eligible":false,"hosts":["other.test"]}"#, "does not claim `acme.test`"),
            (br#"{"id":"a","customer":"c","permissive_eligible":false,"hosts":["acme.test"],"colour":1}"#, "colour: unknown key"),
            (br#"{"id":"a","customer":"c","permissive_eligible":false,"hosts":["acme.test"],"enforcement":"loud"}"#, "is not a choice"),
            (b"[]", "not an object"),
        ];
        let huge = format!(
            r#"{{"id":"a","customer":"c","permissive_eligible":false,"hosts":["acme.test"],"x":"{}"}}"#,
            "y".repeat(70_000)
        );
        assert!(
            parse_document("acme.test", huge.as_bytes(), &Tenants::new(Vec::new()))
                .unwrap_err()
                .contains("larger than")
        );
        for (body, expected) in cases {
            let error = parse_document("acme.test", body, &Tenants::new(Vec::new())).unwrap_err();
            assert!(error.contains(expected), "{error}");
        }
    }
}
