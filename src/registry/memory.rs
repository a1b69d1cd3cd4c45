//! `clients.store = "memory"`: this process only (tests, experiments).

use std::collections::BTreeMap;
use std::sync::Mutex;

use super::{Entry, Store, StoreError, Written, resolve};

#[derive(Default)]
pub struct MemoryStore {
    entries: Mutex<BTreeMap<String, Entry>>,
}

impl MemoryStore {
    fn entries(&self) -> Result<std::sync::MutexGuard<'_, BTreeMap<String, Entry>>, StoreError> {
        self.entries.lock().map_err(|_| StoreError::Unavailable("a writer panicked".into()))
    }
}

impl Store for MemoryStore {
    fn get(&self, tenant: &str, client_id: &str) -> Result<Option<Entry>, StoreError> {
        Ok(self.entries()?.get(&Entry::key(tenant, client_id)).cloned())
    }

    fn put(&self, entry: &Entry) -> Result<Written, StoreError> {
        let mut entries = self.entries()?;
        let key = Entry::key(&entry.tenant, &entry.client_id);
        let (written, write) = resolve(entries.get(&key), entry);
        if write {
            entries.insert(key, entry.clone());
        }
        Ok(written)
    }

    fn remove(&self, tenant: &str, client_id: &str) -> Result<(), StoreError> {
        self.entries()?.remove(&Entry::key(tenant, client_id));
        Ok(())
    }

    fn list(&self, tenant: Option<&str>) -> Result<Vec<Entry>, StoreError> {
        Ok(self.entries()?.values().filter(|e| tenant.is_none_or(|t| e.tenant == t)).cloned().collect())
    }

    fn describe(&self) -> String {
        "memory".into()
    }
}
