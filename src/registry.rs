//! The client registry (SPEC §12, §14): what the gateway knows of every client's ownership
//! and mode, kept across restarts (the embedded store) and replicas (Redis), because a
//! legacy upstream may drop `third_party_security_mode` and then cannot tell it back.
//!
//! Reads go through a bounded in-memory front; entries never change (SPEC §12), so the
//! front never goes stale and needs no expiry. The stores are synchronous: a creation's
//! answer is remembered inside Pingora's (synchronous) body filter, before its last byte
//! reaches the client, so a client that saw its 201 finds its client in the registry even
//! after a crash. A write that fails is retried from a bounded queue by a thread of its own;
//! a read that fails is answered `Err` and the caller falls back to the upstream lookup.

pub mod embedded;
pub mod memory;
pub mod redis_store;

use std::path::Path;
use std::sync::Arc;
use std::sync::mpsc::{Receiver, SyncSender, TrySendError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::config::ClientStoreSettings;
use crate::policy::{ClientState, SecurityMode};
use crate::telemetry::metrics;

/// Entries waiting to be written again while the store fails; beyond it, writes are dropped
/// (counted, logged): memory stays bounded however long the store is down.
pub const RETRY_QUEUE: usize = 10_000;

/// How an entry was learned (SPEC §12).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Origin {
    /// The gateway forwarded its creation (`clients_create`).
    Created,
    /// Created through DCR.
    Dcr,
    /// Learned from the upstream (a lookup).
    Lookup,
    /// `modegate clients import`.
    Import,
}

impl Origin {
    /// The gateway saw the creation: what it knows is authoritative.
    pub fn is_authoritative(self) -> bool {
        matches!(self, Origin::Created | Origin::Dcr)
    }
}

/// One client: `client_id → {tenant, is_first_party, mode, origin, seen_at}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    pub tenant: String,
    pub client_id: String,
    pub is_first_party: bool,
    #[serde(rename = "third_party_security_mode", with = "mode_text")]
    pub mode: Option<SecurityMode>,
    pub origin: Origin,
    /// Unix seconds when the gateway learned it.
    pub seen_at: u64,
}

impl Entry {
    pub fn new(tenant: &str, client_id: &str, state: ClientState, origin: Origin) -> Self {
        let seen_at = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
        Entry {
            tenant: tenant.to_owned(),
            client_id: client_id.to_owned(),
            is_first_party: state.is_first_party,
            mode: state.mode,
            origin,
            seen_at,
        }
    }

    pub fn state(&self) -> ClientState {
        ClientState { is_first_party: self.is_first_party, mode: self.mode }
    }

    /// The store key: tenants are separate namespaces of client ids.
    pub fn key(tenant: &str, client_id: &str) -> String {
        format!("{tenant}\u{1f}{client_id}")
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}

mod mode_text {
    use serde::{Deserialize, Deserializer, Serializer};

    use crate::policy::SecurityMode;

    pub fn serialize<S: Serializer>(mode: &Option<SecurityMode>, serializer: S) -> Result<S::Ok, S::Error> {
        match mode {
            Some(mode) => serializer.serialize_str(mode.as_str()),
            None => serializer.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<SecurityMode>, D::Error> {
        match Option::<String>::deserialize(deserializer)? {
            None => Ok(None),
            Some(text) => SecurityMode::from_wire(&text)
                .map(Some)
                .ok_or_else(|| serde::de::Error::custom(format!("`{text}` is not a mode"))),
        }
    }
}

/// What a write does to the entry already stored (SPEC §12: an entry never changes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Merge {
    /// No entry yet: store the new one.
    Insert,
    /// The same ownership and mode: nothing to write.
    Keep,
    /// A `lookup`/`import` entry replaced by what the gateway saw created.
    Replace,
    /// A disagreement: refused, the stored entry stays.
    Conflict,
}

/// The one rule every store applies inside its own atomic write.
pub fn merge(stored: Option<&Entry>, new: &Entry) -> Merge {
    let Some(stored) = stored else { return Merge::Insert };
    let agrees = stored.is_first_party == new.is_first_party && stored.mode == new.mode;
    match (agrees, stored.origin.is_authoritative(), new.origin.is_authoritative()) {
        (_, false, true) => Merge::Replace,
        (true, _, _) => Merge::Keep,
        (false, _, _) => Merge::Conflict,
    }
}

/// [`merge`] as a store applies it: the outcome, and whether `new` must be written.
pub fn resolve(stored: Option<&Entry>, new: &Entry) -> (Written, bool) {
    match (merge(stored, new), stored) {
        (Merge::Conflict, Some(stored)) => (Written::Conflict(stored.clone()), false),
        (Merge::Keep, _) => (Written::Kept, false),
        (Merge::Replace, _) => (Written::Replaced, true),
        (Merge::Insert | Merge::Conflict, _) => (Written::Inserted, true),
    }
}

/// The outcome of a write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Written {
    Inserted,
    Kept,
    Replaced,
    /// Refused: the stored entry, which stays.
    Conflict(Entry),
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    #[error("the client registry is unavailable: {0}")]
    Unavailable(String),
    #[error("the client registry holds an unreadable entry `{key}`: {detail}")]
    Corrupt { key: String, detail: String },
}

/// The store `settings` name, opened (a relative embedded path is relative to
/// `config_dir`), and the Redis pool when the store is Redis (the DCR limit shares it).
pub fn open_store(
    settings: &ClientStoreSettings,
    config_dir: &Path,
) -> anyhow::Result<(Arc<dyn Store>, Option<redis_store::SharedRedis>)> {
    Ok(match settings {
        ClientStoreSettings::Embedded(path) => {
            let path = if path.is_absolute() { path.clone() } else { config_dir.join(path) };
            (Arc::new(embedded::EmbeddedStore::open(&path)?), None)
        }
        ClientStoreSettings::Redis { url, prefix } => {
            let pool =
                Arc::new(redis_store::RedisPool::new(url).map_err(|e| anyhow::anyhow!("clients.redis_url: {e}"))?);
            let store = redis_store::RedisStore::new(Arc::clone(&pool), prefix);
            (Arc::new(store), Some(redis_store::SharedRedis { pool, prefix: prefix.clone() }))
        }
        ClientStoreSettings::Memory => (Arc::new(memory::MemoryStore::default()), None),
    })
}

/// A registry store: one small synchronous interface, three implementations.
pub trait Store: Send + Sync {
    fn get(&self, tenant: &str, client_id: &str) -> Result<Option<Entry>, StoreError>;
    /// Writes `entry` under [`merge`], atomically.
    fn put(&self, entry: &Entry) -> Result<Written, StoreError>;
    fn remove(&self, tenant: &str, client_id: &str) -> Result<(), StoreError>;
    /// Every entry, of one tenant or all, in key order.
    fn list(&self, tenant: Option<&str>) -> Result<Vec<Entry>, StoreError>;
    /// `embedded /path`, `redis redis://…`, `memory`: for logs and `/readyz`.
    fn describe(&self) -> String;
}

/// What the front keeps of an entry: its key holds the tenant and client id, so the entry
/// itself is a few bytes (the front is sized for 100,000 clients by default).
#[derive(Debug, Clone, Copy)]
struct Known {
    is_first_party: bool,
    mode: Option<SecurityMode>,
    origin: Origin,
    seen_at: u64,
}

impl Known {
    fn of(entry: &Entry) -> Self {
        Known { is_first_party: entry.is_first_party, mode: entry.mode, origin: entry.origin, seen_at: entry.seen_at }
    }

    fn entry(self, tenant: &str, client_id: &str) -> Entry {
        Entry {
            tenant: tenant.to_owned(),
            client_id: client_id.to_owned(),
            is_first_party: self.is_first_party,
            mode: self.mode,
            origin: self.origin,
            seen_at: self.seen_at,
        }
    }
}

/// The store behind a bounded front, with the retry queue for failed writes.
pub struct Registry {
    store: Arc<dyn Store>,
    front: moka::sync::Cache<String, Known>,
    retry: SyncSender<Entry>,
    /// When a write last failed: writes skip the store for a moment after, so a dead store
    /// costs the request path one timeout per second, not one per creation.
    failing_since: std::sync::Mutex<Option<Instant>>,
}

/// After a failed write, how long writes go straight to the queue.
const SKIP_AFTER_FAILURE: Duration = Duration::from_secs(1);

impl Registry {
    /// Starts the retry thread. `front_entries`: `clients.cache_entries`.
    pub fn new(store: Arc<dyn Store>, front_entries: u64) -> Arc<Self> {
        let (retry, pending) = std::sync::mpsc::sync_channel(RETRY_QUEUE);
        let registry = Arc::new(Registry {
            store,
            front: moka::sync::Cache::builder().max_capacity(front_entries).build(),
            retry,
            failing_since: std::sync::Mutex::new(None),
        });
        let store = Arc::clone(&registry.store);
        let spawned =
            std::thread::Builder::new().name("registry-retry".into()).spawn(move || retry_loop(&*store, &pending));
        if let Err(e) = spawned {
            log::error!("client registry: cannot start the retry thread: {e}");
        }
        registry
    }

    pub fn describe(&self) -> String {
        self.store.describe()
    }

    /// `registry: <store>: ok` or `…: unavailable (<why>)`, probing the store once.
    pub fn health(&self) -> String {
        match self.store.get("", "") {
            Ok(_) => format!("registry: {}: ok", self.store.describe()),
            Err(e) => format!("registry: {}: unavailable ({e})", self.store.describe()),
        }
    }

    /// The entry, from the front or the store; `Err` when the store cannot be read.
    pub fn get(&self, tenant: &str, client_id: &str) -> Result<Option<Entry>, StoreError> {
        let key = Entry::key(tenant, client_id);
        if let Some(known) = self.front.get(&key) {
            metrics().registry_reads.with_label_values(&["front"]).inc();
            return Ok(Some(known.entry(tenant, client_id)));
        }
        match self.store.get(tenant, client_id) {
            Ok(Some(entry)) => {
                metrics().registry_reads.with_label_values(&["store"]).inc();
                self.front.insert(key, Known::of(&entry));
                Ok(Some(entry))
            }
            Ok(None) => {
                metrics().registry_reads.with_label_values(&["miss"]).inc();
                Ok(None)
            }
            Err(e) => {
                metrics().registry_reads.with_label_values(&["error"]).inc();
                Err(e)
            }
        }
    }

    /// Remembers `entry`. A store that fails gets the write again from the queue; the
    /// front keeps it meanwhile, so this process knows the client at once.
    pub fn remember(&self, entry: Entry) {
        let key = Entry::key(&entry.tenant, &entry.client_id);
        if self.recently_failed() {
            self.front.insert(key, Known::of(&entry));
            self.enqueue(entry);
            return;
        }
        match self.store.put(&entry) {
            Ok(Written::Conflict(stored)) => {
                conflict(&stored, &entry);
                self.front.insert(key, Known::of(&stored));
            }
            Ok(written) => {
                metrics().registry_writes.with_label_values(&[written_label(&written)]).inc();
                self.front.insert(key, Known::of(&entry));
            }
            Err(e) => {
                log::warn!("client registry: {e}; the write is queued");
                self.set_failing(true);
                self.front.insert(key, Known::of(&entry));
                self.enqueue(entry);
            }
        }
    }

    /// Forgets a deleted client (SPEC §12: a 2xx `DELETE /api/v2/clients/{id}`).
    pub fn forget(&self, tenant: &str, client_id: &str) {
        self.front.invalidate(&Entry::key(tenant, client_id));
        if let Err(e) = self.store.remove(tenant, client_id) {
            log::warn!("client registry: cannot remove `{client_id}`: {e}");
        }
    }

    /// Entries in the front (the gauge, the memory benchmark).
    pub fn front_entries(&self) -> u64 {
        self.front.run_pending_tasks();
        self.front.entry_count()
    }

    fn enqueue(&self, entry: Entry) {
        match self.retry.try_send(entry) {
            Ok(()) => {
                metrics().registry_writes.with_label_values(&["queued"]).inc();
                metrics().registry_queue.inc();
            }
            Err(TrySendError::Full(entry) | TrySendError::Disconnected(entry)) => {
                metrics().registry_writes.with_label_values(&["dropped"]).inc();
                log::error!("client registry: the retry queue is full; `{}` is not stored", entry.client_id);
            }
        }
    }

    fn recently_failed(&self) -> bool {
        let Ok(mut since) = self.failing_since.lock() else { return false };
        match *since {
            Some(at) if at.elapsed() < SKIP_AFTER_FAILURE => true,
            Some(_) => {
                *since = None;
                false
            }
            None => false,
        }
    }

    fn set_failing(&self, failing: bool) {
        if let Ok(mut since) = self.failing_since.lock() {
            *since = failing.then(Instant::now);
        }
    }
}

fn written_label(written: &Written) -> &'static str {
    match written {
        Written::Inserted => "inserted",
        Written::Kept => "kept",
        Written::Replaced => "replaced",
        Written::Conflict(_) => "conflict",
    }
}

fn conflict(stored: &Entry, refused: &Entry) {
    metrics().registry_conflicts.inc();
    metrics().registry_writes.with_label_values(&["conflict"]).inc();
    log::warn!(
        "client registry: conflict for `{}` on tenant `{}`: stored {:?}/{:?} ({:?}), refused {:?}/{:?} ({:?})",
        stored.client_id,
        stored.tenant,
        stored.is_first_party,
        stored.mode,
        stored.origin,
        refused.is_first_party,
        refused.mode,
        refused.origin
    );
}

/// Writes queued entries, in order, retrying each until the store takes it.
fn retry_loop(store: &dyn Store, pending: &Receiver<Entry>) {
    while let Ok(entry) = pending.recv() {
        let mut backoff = Duration::from_millis(100);
        loop {
            match store.put(&entry) {
                Ok(written) => {
                    metrics().registry_queue.dec();
                    match &written {
                        Written::Conflict(stored) => conflict(stored, &entry),
                        other => metrics().registry_writes.with_label_values(&[written_label(other)]).inc(),
                    }
                    metrics().registry_writes.with_label_values(&["replayed"]).inc();
                    break;
                }
                Err(_) => {
                    std::thread::sleep(backoff);
                    backoff = (backoff * 2).min(Duration::from_secs(2));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests;
