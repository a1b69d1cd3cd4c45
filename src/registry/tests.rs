//! The write rule, and each local store against it.

use super::*;

fn entry(client: &str, first_party: bool, mode: Option<SecurityMode>, origin: Origin) -> Entry {
    Entry::new("t", client, ClientState { is_first_party: first_party, mode }, origin)
}

const STRICT: Option<SecurityMode> = Some(SecurityMode::Strict);
const PERMISSIVE: Option<SecurityMode> = Some(SecurityMode::Permissive);

#[test]
fn an_entry_never_changes_except_a_learned_one_for_what_the_gateway_saw_created() {
    use Origin::*;
    let rows = [
        (None, entry("a", false, STRICT, Created), Merge::Insert),
        (Some(entry("a", false, STRICT, Created)), entry("a", false, STRICT, Lookup), Merge::Keep),
        (Some(entry("a", false, STRICT, Created)), entry("a", false, PERMISSIVE, Lookup), Merge::Conflict),
        (Some(entry("a", false, STRICT, Dcr)), entry("a", false, PERMISSIVE, Created), Merge::Conflict),
        (Some(entry("a", false, STRICT, Created)), entry("a", true, None, Import), Merge::Conflict),
        (Some(entry("a", false, PERMISSIVE, Lookup)), entry("a", false, STRICT, Created), Merge::Replace),
        (Some(entry("a", false, STRICT, Import)), entry("a", false, STRICT, Dcr), Merge::Replace),
        (Some(entry("a", false, STRICT, Import)), entry("a", false, PERMISSIVE, Lookup), Merge::Conflict),
        (Some(entry("a", false, STRICT, Import)), entry("a", false, STRICT, Import), Merge::Keep),
    ];
    for (index, (stored, new, expected)) in rows.iter().enumerate() {
        assert_eq!(merge(stored.as_ref(), new), *expected, "row {index}");
    }
}

fn exercise(store: &dyn Store) {
    let strict = entry("c1", false, STRICT, Origin::Created);
    assert_eq!(store.put(&strict).unwrap(), Written::Inserted);
    assert_eq!(store.put(&strict).unwrap(), Written::Kept);
    let flipped = entry("c1", false, PERMISSIVE, Origin::Lookup);
    assert_eq!(store.put(&flipped).unwrap(), Written::Conflict(strict.clone()));
    assert_eq!(store.get("t", "c1").unwrap(), Some(strict.clone()), "a conflict leaves the entry");
    assert_eq!(store.get("other", "c1").unwrap(), None, "tenants are separate");
    let learned = entry("c2", true, None, Origin::Import);
    assert_eq!(store.put(&learned).unwrap(), Written::Inserted);
    let mut other = entry("c3", false, STRICT, Origin::Dcr);
    other.tenant = "u".into();
    store.put(&other).unwrap();
    assert_eq!(store.list(Some("t")).unwrap().len(), 2);
    assert_eq!(store.list(None).unwrap().len(), 3);
    store.remove("t", "c1").unwrap();
    assert_eq!(store.get("t", "c1").unwrap(), None);
}

#[test]
fn the_memory_store_keeps_the_rule() {
    exercise(&memory::MemoryStore::default());
}

#[test]
fn the_embedded_store_keeps_the_rule_and_its_entries_across_opens() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("clients.db");
    exercise(&embedded::EmbeddedStore::open(&path).unwrap());
    let reopened = embedded::EmbeddedStore::open(&path).unwrap();
    assert_eq!(reopened.get("t", "c2").unwrap().map(|e| e.origin), Some(Origin::Import));
}

#[test]
fn a_damaged_embedded_file_is_an_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("clients.db");
    std::fs::write(&path, b"this is not a database, it is a text file with enough bytes to look like one".repeat(100))
        .unwrap();
    let error = embedded::EmbeddedStore::open(&path).err().unwrap().to_string();
    assert!(error.contains(&path.display().to_string()), "{error}");
}

#[test]
fn an_empty_or_foreign_file_is_not_taken_for_an_empty_registry() {
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("empty.db");
    std::fs::write(&empty, b"").unwrap();
    let error = embedded::EmbeddedStore::open(&empty).err().unwrap().to_string();
    assert!(error.contains("holds no client registry") && error.contains("empty.db"), "{error}");
    let foreign = dir.path().join("foreign.db");
    rusqlite::Connection::open(&foreign).unwrap().execute_batch("CREATE TABLE other (x INTEGER);").unwrap();
    assert!(embedded::EmbeddedStore::open(&foreign).is_err());
    // a new file is a new registry, and its table is in the main file (a copy of it works)
    let fresh = dir.path().join("fresh.db");
    embedded::EmbeddedStore::open(&fresh).unwrap();
    let copy = dir.path().join("copy.db");
    std::fs::copy(&fresh, &copy).unwrap();
    assert!(embedded::EmbeddedStore::open(&copy).is_ok());
}

#[test]
fn a_file_removed_under_a_running_store_makes_it_unavailable() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("clients.db");
    let store = embedded::EmbeddedStore::open(&path).unwrap();
    std::fs::remove_file(&path).unwrap();
    let written = store.put(&entry("c", false, STRICT, Origin::Created));
    assert!(matches!(written, Err(StoreError::Unavailable(_))), "{written:?}");
}

#[test]
fn a_failed_write_is_queued_and_the_front_still_knows_the_client() {
    struct Down;
    impl Store for Down {
        fn get(&self, _: &str, _: &str) -> Result<Option<Entry>, StoreError> {
            Err(StoreError::Unavailable("down".into()))
        }
        fn put(&self, _: &Entry) -> Result<Written, StoreError> {
            Err(StoreError::Unavailable("down".into()))
        }
        fn remove(&self, _: &str, _: &str) -> Result<(), StoreError> {
            Err(StoreError::Unavailable("down".into()))
        }
        fn list(&self, _: Option<&str>) -> Result<Vec<Entry>, StoreError> {
            Ok(Vec::new())
        }
        fn describe(&self) -> String {
            "down".into()
        }
    }
    let registry = Registry::new(Arc::new(Down), 100);
    let queued = metrics().registry_writes.with_label_values(&["queued"]).get();
    registry.remember(entry("c", false, STRICT, Origin::Created));
    assert_eq!(registry.get("t", "c").unwrap().map(|e| e.mode), Some(STRICT));
    assert!(registry.get("t", "other").is_err(), "a store that cannot be read is an error, not a miss");
    assert!(metrics().registry_writes.with_label_values(&["queued"]).get() > queued);
}

#[test]
fn a_group_commit_keeps_the_rule_for_each_entry_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let store = embedded::EmbeddedStore::open(&dir.path().join("clients.db")).unwrap();
    let strict = entry("g1", false, STRICT, Origin::Created);
    let flipped = entry("g1", false, PERMISSIVE, Origin::Lookup);
    let other = entry("g2", true, None, Origin::Created);
    // the second sees the first inside the same transaction
    let written = store.put_all(&[&strict, &flipped, &other, &strict]).unwrap();
    assert_eq!(written, vec![Written::Inserted, Written::Conflict(strict.clone()), Written::Inserted, Written::Kept]);
    assert_eq!(store.get("t", "g1").unwrap(), Some(strict));
    assert_eq!(store.get("t", "g2").unwrap(), Some(other));
}

/// A store that counts its calls, for the writer's grouping.
#[derive(Default)]
struct Counting {
    inner: memory::MemoryStore,
    puts: std::sync::atomic::AtomicUsize,
    groups: std::sync::atomic::AtomicUsize,
}

impl Store for Counting {
    fn get(&self, tenant: &str, client_id: &str) -> Result<Option<Entry>, StoreError> {
        self.inner.get(tenant, client_id)
    }
    // each commit takes a while, like an `fsync`, so writes queue behind it
    fn put(&self, entry: &Entry) -> Result<Written, StoreError> {
        self.puts.fetch_add(1, Ordering::SeqCst);
        std::thread::sleep(Duration::from_millis(2));
        self.inner.put(entry)
    }
    fn put_all(&self, entries: &[&Entry]) -> Result<Vec<Written>, StoreError> {
        self.groups.fetch_add(1, Ordering::SeqCst);
        std::thread::sleep(Duration::from_millis(2));
        entries.iter().map(|entry| self.inner.put(entry)).collect()
    }
    fn remove(&self, tenant: &str, client_id: &str) -> Result<(), StoreError> {
        self.inner.remove(tenant, client_id)
    }
    fn list(&self, tenant: Option<&str>) -> Result<Vec<Entry>, StoreError> {
        self.inner.list(tenant)
    }
    fn describe(&self) -> String {
        "counting".into()
    }
    fn commits_in_groups(&self) -> bool {
        true
    }
}

#[test]
fn writes_that_wait_together_are_committed_together() {
    let store = Arc::new(Counting::default());
    let registry = Registry::new(Arc::clone(&store) as Arc<dyn Store>, 1000);
    // 64 creations waiting at once, as concurrent creations' answers do
    std::thread::scope(|scope| {
        for i in 0..64 {
            let registry = &registry;
            scope.spawn(move || registry.remember(entry(&format!("w{i}"), false, STRICT, Origin::Created)));
        }
    });
    for i in 0..64 {
        assert!(store.get("t", &format!("w{i}")).unwrap().is_some(), "w{i} is stored");
    }
    let (puts, groups) = (store.puts.load(Ordering::SeqCst), store.groups.load(Ordering::SeqCst));
    assert!(groups >= 1, "no group commit: {puts} single puts");
    assert!(puts + groups < 64, "{puts} single puts and {groups} groups for 64 writes");
}

/// A store whose writes wait until the test opens it: a store slower than any bound.
#[derive(Default)]
struct Gated {
    inner: memory::MemoryStore,
    open: std::sync::Mutex<bool>,
    opened: std::sync::Condvar,
}

impl Gated {
    fn open(&self) {
        *self.open.lock().unwrap() = true;
        self.opened.notify_all();
    }
    fn pass(&self) {
        let open = self.open.lock().unwrap();
        drop(self.opened.wait_while(open, |open| !*open).unwrap());
    }
}

impl Store for Gated {
    fn get(&self, tenant: &str, client_id: &str) -> Result<Option<Entry>, StoreError> {
        self.inner.get(tenant, client_id)
    }
    fn put(&self, entry: &Entry) -> Result<Written, StoreError> {
        self.pass();
        self.inner.put(entry)
    }
    fn remove(&self, tenant: &str, client_id: &str) -> Result<(), StoreError> {
        self.inner.remove(tenant, client_id)
    }
    fn list(&self, tenant: Option<&str>) -> Result<Vec<Entry>, StoreError> {
        self.inner.list(tenant)
    }
    fn describe(&self) -> String {
        "gated".into()
    }
}

/// What the proxy holds a creation's answer on (SPEC §12): the front knows the client at
/// once, and the wait ends when the store has it, not before.
#[tokio::test]
async fn a_wait_for_a_write_ends_when_the_store_has_it_and_not_before() {
    let store = Arc::new(Gated::default());
    let registry = Registry::new(Arc::clone(&store) as Arc<dyn Store>, 1000);
    let started = Instant::now();
    let mut stored = std::pin::pin!(registry.remember_then_wait(entry("g1", false, STRICT, Origin::Created)));
    assert_eq!(registry.cached("t", "g1").map(|(state, _)| state.mode), Some(STRICT), "the front, before any wait");
    let early = tokio::time::timeout(Duration::from_millis(100), stored.as_mut()).await;
    assert!(early.is_err(), "the wait ended before the store had the entry");
    store.open();
    stored.await;
    assert!(started.elapsed() < WRITE_WAIT, "ended by the store, not by the bound: {:?}", started.elapsed());
    assert_eq!(store.get("t", "g1").unwrap().map(|e| e.mode), Some(STRICT));
    // nothing to store: nothing to wait for
    let started = Instant::now();
    registry.remember_then_wait(entry("bad\u{1}id", false, STRICT, Origin::Created)).await;
    assert!(started.elapsed() < WRITE_WAIT, "an id that is never stored ends the wait at once");
}

/// A store that never answers costs a creation's answer [`WRITE_WAIT`], no more.
#[tokio::test]
async fn a_wait_for_a_write_is_bounded() {
    let store = Arc::new(Gated::default());
    let registry = Registry::new(Arc::clone(&store) as Arc<dyn Store>, 1000);
    let started = Instant::now();
    registry.remember_then_wait(entry("g2", false, STRICT, Origin::Created)).await;
    let waited = started.elapsed();
    store.open();
    assert!(waited >= WRITE_WAIT - Duration::from_millis(5) && waited < 2 * WRITE_WAIT, "waited {waited:?}");
}
