//! The client registry (SPEC §12, §14): what the gateway knows of every client's ownership
//! and mode, kept across restarts (the embedded store) and replicas (Redis), because a
//! legacy upstream may drop `third_party_security_mode` and then cannot tell it back.
//!
//! Reads go through a bounded in-memory front; what the gateway saw created never changes
//! (SPEC §12), so those entries never go stale; learned ones are read again after a minute.
//! The stores are synchronous. Writes go through one writer thread, in order, committed in
//! groups; a creation's answer waits for its write (at most [`WRITE_WAIT`]) before its body
//! reaches the client (HTTP/1: the connection holds its writes; HTTP/2: the gateway's own
//! exchange awaits it, `proxy::h2_creation`), so a client that saw its 201 finds its
//! client in the registry even after a crash, unless the store was failing (then the write
//! waits in the writer's bounded queue, retried, and a crash loses it). A read that fails is
//! answered `Err` and the caller falls back to the upstream lookup.

pub mod embedded;
pub mod memory;
pub mod redis_store;

use std::collections::VecDeque;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::config::ClientStoreSettings;
use crate::policy::{ClientState, SecurityMode};
use crate::telemetry::metrics;

/// Changes waiting for the writer (while the store fails, they wait here); beyond it,
/// writes are dropped (counted, logged): memory stays bounded however long the store is down.
pub const RETRY_QUEUE: usize = 10_000;

/// Most writes committed together by the writer (see [`Store::put_all`]).
const GROUP_COMMIT: usize = 256;

/// Longest client id kept (Auth0's are 32 characters; DCR servers' rarely pass 64).
pub const MAX_CLIENT_ID_BYTES: usize = 256;

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

    /// Client ids the registry keeps: at most [`MAX_CLIENT_ID_BYTES`], no control
    /// characters (the key separator is one).
    pub fn storable_id(client_id: &str) -> bool {
        !client_id.is_empty() && client_id.len() <= MAX_CLIENT_ID_BYTES && !client_id.chars().any(char::is_control)
    }

    /// The store key: tenants are separate namespaces of client ids.
    pub fn key(tenant: &str, client_id: &str) -> String {
        let mut key = String::with_capacity(tenant.len() + 1 + client_id.len());
        key.push_str(tenant);
        key.push('\u{1f}');
        key.push_str(client_id);
        key
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
    /// Writes `entries` in order, each as [`Store::put`] would: the writer's group commit.
    /// A store that can makes it one transaction (one `fsync` for a burst of creations);
    /// on `Err` any of them may have been written, and the writer puts them again one by
    /// one (a write repeated is `Kept`).
    fn put_all(&self, entries: &[&Entry]) -> Result<Vec<Written>, StoreError> {
        entries.iter().map(|entry| self.put(entry)).collect()
    }
    /// Whether [`Store::put_all`] is one commit. Only then does the writer group writes:
    /// a group of separate writes would hold every caller until the last one is in.
    fn commits_in_groups(&self) -> bool {
        false
    }
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

/// How long the front keeps a `lookup`/`import` entry: another replica may replace it in
/// the store with what it saw created (SPEC §12), so it is read again after a while.
/// Entries the gateway saw created never change and stay until evicted.
const LEARNED_FOR: Duration = Duration::from_secs(60);

struct FrontExpiry;

impl moka::Expiry<String, Known> for FrontExpiry {
    fn expire_after_create(&self, _key: &String, known: &Known, _now: Instant) -> Option<Duration> {
        (!known.origin.is_authoritative()).then_some(LEARNED_FOR)
    }

    fn expire_after_update(
        &self,
        _key: &String,
        known: &Known,
        _now: Instant,
        _current: Option<Duration>,
    ) -> Option<Duration> {
        (!known.origin.is_authoritative()).then_some(LEARNED_FOR)
    }
}

/// One change of the store, applied in order by the writer thread.
enum Change {
    Put(Entry),
    Remove { tenant: String, client_id: String },
}

/// A change and, when the caller waits for it, where to say that it was applied.
struct Job {
    change: Change,
    done: Option<Done>,
}

/// Where a waiting caller hears that its change is applied (or that it need wait no more):
/// a thread blocked on a channel, or a task awaiting a future.
enum Done {
    Thread(SyncSender<()>),
    Task(tokio::sync::oneshot::Sender<()>),
}

impl Done {
    /// A `Done` for a task, and the wait for it: it ends when told (or when the `Done` is
    /// dropped), and at the latest [`WRITE_WAIT`] from now.
    fn awaited() -> (Done, impl Future<Output = ()> + Send + 'static) {
        let deadline = tokio::time::Instant::now() + WRITE_WAIT;
        let (done, told) = tokio::sync::oneshot::channel();
        (Done::Task(done), async move {
            let _ = tokio::time::timeout_at(deadline, told).await;
        })
    }

    fn tell(self) {
        match self {
            Done::Thread(done) => {
                let _ = done.try_send(());
            }
            Done::Task(done) => {
                let _ = done.send(());
            }
        }
    }
}

/// How long a creation's answer waits for its write (SPEC §12: the client's answer does not
/// complete before the store has the new client). Past it, the write goes on behind and the
/// answer is sent.
pub const WRITE_WAIT: Duration = Duration::from_millis(500);

/// The store behind a bounded front. Every change goes through one writer thread, in
/// order: a creation, then its deletion, land in that order even across a store outage,
/// when they wait in its queue (bounded by [`RETRY_QUEUE`]) and are retried with backoff.
pub struct Registry {
    store: Arc<dyn Store>,
    front: moka::sync::Cache<String, Known>,
    writer: SyncSender<Job>,
    /// The writer is retrying a failing store: new writes queue without waiting.
    degraded: Arc<AtomicBool>,
    backlog: Arc<Backlog>,
    /// A stop waits for the queue ([`Registry::drain`]): the writer retries without backoff.
    draining: Arc<AtomicBool>,
}

/// The changes queued for the writer and not yet applied or given up: the
/// `modegate_registry_retry_queue` gauge, and what a graceful stop waits for.
#[derive(Default)]
struct Backlog(std::sync::atomic::AtomicUsize);

impl Backlog {
    fn add(&self) {
        self.0.fetch_add(1, Ordering::AcqRel);
        metrics().registry_queue.inc();
    }

    fn remove(&self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
        metrics().registry_queue.dec();
    }

    fn len(&self) -> usize {
        self.0.load(Ordering::Acquire)
    }
}

impl Registry {
    /// Starts the writer thread. `front_entries`: `clients.cache_entries`.
    pub fn new(store: Arc<dyn Store>, front_entries: u64) -> Arc<Self> {
        let (writer, jobs) = std::sync::mpsc::sync_channel(RETRY_QUEUE);
        let front = moka::sync::Cache::builder().max_capacity(front_entries).expire_after(FrontExpiry).build();
        let degraded = Arc::new(AtomicBool::new(false));
        let backlog = Arc::new(Backlog::default());
        let draining = Arc::new(AtomicBool::new(false));
        let registry = Arc::new(Registry {
            store: Arc::clone(&store),
            front: front.clone(),
            writer,
            degraded: Arc::clone(&degraded),
            backlog: Arc::clone(&backlog),
            draining: Arc::clone(&draining),
        });
        let writer = Writer { store, front, pending: VecDeque::new(), degraded, backlog, draining, alone: 0 };
        let spawned = std::thread::Builder::new().name("registry-writer".into()).spawn(move || writer.run(&jobs));
        if let Err(e) = spawned {
            log::error!("client registry: cannot start the writer thread: {e}");
        }
        registry
    }

    pub fn describe(&self) -> String {
        self.store.describe()
    }

    /// Waits up to `within` for every queued change to reach the store (a graceful stop:
    /// writes queued while the store failed, or still in flight); the number left.
    pub fn drain(&self, within: Duration) -> usize {
        self.draining.store(true, Ordering::Release);
        let deadline = Instant::now() + within;
        loop {
            let left = self.backlog.len();
            if left == 0 || Instant::now() >= deadline {
                return left;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// `registry: <store>: ok` or `…: unavailable (<why>)`, probing the store once.
    pub fn health(&self) -> String {
        match self.store.get("", "") {
            Ok(_) => format!("registry: {}: ok", self.store.describe()),
            Err(e) => format!("registry: {}: unavailable ({e})", self.store.describe()),
        }
    }

    /// The client's state and origin when the front holds it: no store, no blocking, no
    /// entry built (the runtime routes' first look).
    pub fn cached(&self, tenant: &str, client_id: &str) -> Option<(ClientState, Origin)> {
        let known = self.front.get(&Entry::key(tenant, client_id))?;
        metrics().registry_front_reads.inc();
        Some((ClientState { is_first_party: known.is_first_party, mode: known.mode }, known.origin))
    }

    /// The entry, from the front or the store; `Err` when the store cannot be read.
    pub fn get(&self, tenant: &str, client_id: &str) -> Result<Option<Entry>, StoreError> {
        let key = Entry::key(tenant, client_id);
        if let Some(known) = self.front.get(&key) {
            metrics().registry_front_reads.inc();
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

    /// Remembers `entry`, waiting up to [`WRITE_WAIT`] for the store to have it. What the
    /// gateway saw created goes into the front at once (this process knows the client
    /// even while the store fails); a learned entry only once the store agreed. Blocking:
    /// for a caller that cannot await (a guard in `proxy::capture`, not reached today).
    pub fn remember(&self, entry: Entry) {
        let (done, stored) = std::sync::mpsc::sync_channel(1);
        if self.put_waited(entry, Done::Thread(done)) {
            // bounded: the request path never waits longer for the store
            blocking(|| {
                let _ = stored.recv_timeout(WRITE_WAIT);
            });
        }
    }

    /// [`remember`](Self::remember) for a caller that awaits instead of blocking. The
    /// write is queued now, by this call; the returned future only waits for it: it ends
    /// once the store has the entry, at once when nothing will be waited for (the store is
    /// failing, the queue is full, the id is not storable), and at the latest
    /// [`WRITE_WAIT`] after this call. Dropping it gives up the wait, not the write.
    pub fn remember_then_wait(&self, entry: Entry) -> impl Future<Output = ()> + Send + 'static {
        let (done, stored) = Done::awaited();
        self.put_waited(entry, done);
        stored
    }

    /// The front first, then the store. `true` when `done` was queued with the write and
    /// will be told once the store has it (or gives up for now); `false` when there is
    /// nothing to wait for, and `done` was dropped.
    fn put_waited(&self, entry: Entry, done: Done) -> bool {
        if !Entry::storable_id(&entry.client_id) {
            log::warn!(
                "client registry: a client id of {} bytes (empty, too long or with control characters) is not stored",
                entry.client_id.len()
            );
            return false;
        }
        if entry.origin.is_authoritative() {
            let key = Entry::key(&entry.tenant, &entry.client_id);
            // never over a different authoritative entry: the store decides, the writer corrects
            if self.front.get(&key).is_none_or(|known| !known.origin.is_authoritative()) {
                self.front.insert(key, Known::of(&entry));
            }
        }
        self.submit(Change::Put(entry), Some(done))
    }

    /// Remembers what a lookup learned, without waiting: it goes into the front at once
    /// (read again after a minute) and into the store behind.
    pub fn learn(&self, entry: Entry) {
        if !Entry::storable_id(&entry.client_id) {
            return;
        }
        let key = Entry::key(&entry.tenant, &entry.client_id);
        if self.front.get(&key).is_none_or(|known| !known.origin.is_authoritative()) {
            self.front.insert(key, Known::of(&entry));
        }
        let _ = self.submit(Change::Put(entry), None);
    }

    /// Forgets a deleted client (SPEC §12: a 2xx `DELETE /api/v2/clients/{id}`), after any
    /// write of it still queued. The removal is queued now, by this call; the returned
    /// future waits for it as [`remember_then_wait`](Self::remember_then_wait) does, so the
    /// deletion's answer goes out once every replica reads the client as gone.
    pub fn forget(&self, tenant: &str, client_id: &str) -> impl Future<Output = ()> + Send + 'static {
        let (done, removed) = Done::awaited();
        self.front.invalidate(&Entry::key(tenant, client_id));
        let _ = self.submit(Change::Remove { tenant: tenant.to_owned(), client_id: client_id.to_owned() }, Some(done));
        removed
    }

    /// Entries in the front (the gauge, the memory benchmark).
    pub fn front_entries(&self) -> u64 {
        self.front.run_pending_tasks();
        self.front.entry_count()
    }

    /// Queues `change` for the writer. `done`, when given, is told once the store has it;
    /// it is dropped instead when the store is known to be failing (the write waits in the
    /// retry queue) or the queue is full. `true` when `done` was queued.
    fn submit(&self, change: Change, done: Option<Done>) -> bool {
        let done = done.filter(|_| !self.degraded.load(Ordering::Acquire));
        let waited = done.is_some();
        if !waited && matches!(change, Change::Put(_)) {
            metrics().registry_writes.with_label_values(&["queued"]).inc();
        }
        self.backlog.add();
        if let Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) = self.writer.try_send(Job { change, done }) {
            self.backlog.remove();
            metrics().registry_writes.with_label_values(&["dropped"]).inc();
            log::error!("client registry: the write queue is full; a change is not stored");
            return false;
        }
        waited
    }
}

/// Runs `wait` for a caller that cannot await: on a worker of a multi-thread runtime
/// (Pingora's default, work stealing on), the worker's other tasks move to another thread
/// for the while (`block_in_place`), so the proxy goes on serving, at the price of handing
/// the worker over. On a current-thread runtime (`server.work_stealing = false`) the whole
/// thread waits, and every request on it; elsewhere (a blocking thread, no runtime) it
/// simply blocks.
fn blocking(wait: impl FnOnce()) {
    use tokio::runtime::{Handle, RuntimeFlavor};
    match Handle::try_current() {
        Ok(handle) if handle.runtime_flavor() == RuntimeFlavor::MultiThread => tokio::task::block_in_place(wait),
        _ => wait(),
    }
}

/// The writer thread: applies changes in order, keeps the ones the store refused for now.
struct Writer {
    store: Arc<dyn Store>,
    front: moka::sync::Cache<String, Known>,
    /// Changes waiting for the store, oldest first.
    pending: VecDeque<Job>,
    degraded: Arc<AtomicBool>,
    backlog: Arc<Backlog>,
    draining: Arc<AtomicBool>,
    /// Writes to apply one by one before grouping again: a group the store refused is
    /// retried alone, where each refusal is handled, not regrouped at every turn.
    alone: usize,
}

impl Writer {
    fn run(mut self, jobs: &Receiver<Job>) {
        let mut backoff = Duration::from_millis(100);
        loop {
            if self.pending.is_empty() {
                match jobs.recv() {
                    Ok(job) => self.pending.push_back(job),
                    Err(_) => return,
                }
            }
            // everything already waiting goes behind, in order
            self.take_waiting(jobs);
            while !self.pending.is_empty() {
                if self.commit_puts() {
                    backoff = Duration::from_millis(100);
                    continue;
                }
                self.alone = self.alone.saturating_sub(1);
                let Some(job) = self.pending.front() else { break };
                match self.apply(&job.change) {
                    Ok(()) => {
                        if let Some(job) = self.pending.pop_front() {
                            self.backlog.remove();
                            if let Some(done) = job.done {
                                done.tell();
                            }
                        }
                        backoff = Duration::from_millis(100);
                        self.degraded.store(false, Ordering::Release);
                    }
                    Err(StoreError::Corrupt { key, detail }) => {
                        // never retried: the stored entry cannot be read, a retry cannot fix it
                        log::error!("client registry: `{key}` is unreadable ({detail}); a change of it is dropped");
                        metrics().registry_writes.with_label_values(&["dropped"]).inc();
                        if self.pending.pop_front().is_some() {
                            self.backlog.remove();
                        }
                    }
                    Err(StoreError::Unavailable(e)) => {
                        self.degraded.store(true, Ordering::Release);
                        if backoff == Duration::from_millis(100) {
                            log::warn!("client registry: {e}; {} change(s) wait for the store", self.pending.len());
                        }
                        // the callers waiting for these writes are told to go on now
                        for job in self.pending.iter_mut() {
                            if let Some(done) = job.done.take() {
                                metrics().registry_writes.with_label_values(&["queued"]).inc();
                                done.tell();
                            }
                        }
                        self.pause(backoff);
                        backoff = (backoff * 2).min(Duration::from_secs(2));
                        self.take_waiting(jobs);
                    }
                }
            }
        }
    }

    /// Waits `backoff` before retrying a failing store; while a stop drains the queue, only a
    /// moment (the store may be back, and the stop's time is short).
    fn pause(&self, backoff: Duration) {
        let until = Instant::now() + backoff;
        loop {
            if self.draining.load(Ordering::Acquire) {
                std::thread::sleep(Duration::from_millis(50).min(backoff));
                return;
            }
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return;
            }
            std::thread::sleep(left.min(Duration::from_millis(50)));
        }
    }

    /// Moves what waits in the channel behind `pending`, which holds at most
    /// [`RETRY_QUEUE`] changes: beyond it, changes are dropped (counted, logged), so memory
    /// stays bounded however long the store is down.
    fn take_waiting(&mut self, jobs: &Receiver<Job>) {
        while let Ok(job) = jobs.try_recv() {
            if self.pending.len() >= RETRY_QUEUE {
                self.backlog.remove();
                metrics().registry_writes.with_label_values(&["dropped"]).inc();
                if let Some(done) = job.done {
                    done.tell();
                }
                continue;
            }
            self.pending.push_back(job);
        }
    }

    /// Group commit: the writes at the head of the queue, when there are several, in one
    /// [`Store::put_all`]; each caller is told once they all are in. `false` when there
    /// was nothing to group or the store refused the group (the head is then applied alone,
    /// where refusals are handled).
    fn commit_puts(&mut self) -> bool {
        if self.alone > 0 || !self.store.commits_in_groups() {
            return false;
        }
        let entries: Vec<&Entry> = self
            .pending
            .iter()
            .map_while(|job| if let Change::Put(entry) = &job.change { Some(entry) } else { None })
            .take(GROUP_COMMIT)
            .collect();
        let count = entries.len();
        if count < 2 {
            return false;
        }
        let written = match self.store.put_all(&entries) {
            Ok(written) if written.len() == count => written,
            _ => {
                self.alone = count;
                return false;
            }
        };
        for written in written {
            let Some(job) = self.pending.pop_front() else { break };
            self.backlog.remove();
            if let Change::Put(entry) = &job.change {
                self.settle(entry, &written);
            }
            if let Some(done) = job.done {
                done.tell();
            }
        }
        self.degraded.store(false, Ordering::Release);
        true
    }

    /// What a write did, in the metrics and the front.
    fn settle(&self, entry: &Entry, written: &Written) {
        let key = Entry::key(&entry.tenant, &entry.client_id);
        match written {
            Written::Conflict(stored) => {
                conflict(stored, entry);
                // the front follows the store, whatever this process believed
                self.front.insert(key, Known::of(stored));
            }
            Written::Inserted | Written::Replaced | Written::Kept => {
                metrics().registry_writes.with_label_values(&[written_label(written)]).inc();
                if *written != Written::Kept || entry.origin.is_authoritative() {
                    self.front.insert(key, Known::of(entry));
                }
            }
        }
    }

    fn apply(&self, change: &Change) -> Result<(), StoreError> {
        match change {
            Change::Put(entry) => {
                let written = self.store.put(entry)?;
                self.settle(entry, &written);
                Ok(())
            }
            Change::Remove { tenant, client_id } => {
                self.store.remove(tenant, client_id)?;
                // a creation replayed before this removal must not linger in the front
                self.front.invalidate(&Entry::key(tenant, client_id));
                Ok(())
            }
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

#[cfg(test)]
mod tests;
