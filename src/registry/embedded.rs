//! `clients.store = "embedded"` (the default): one crash-safe file on local disk.
//!
//! SQLite (rusqlite, built from its bundled source: no system library, no server): ACID
//! transactions, in WAL mode with `synchronous = FULL`, so a write that returned was
//! fsynced and survives a crash or `kill -9`. Chosen over a pure-Rust store (redb) because
//! a SQLite file is shared safely by several processes: the process that takes over during
//! a graceful upgrade (`run -u`) writes while the old one drains, and `modegate clients
//! list` reads the registry of a running gateway. Each write is one `BEGIN IMMEDIATE`
//! transaction that reads the stored entry and applies [`super::merge`].

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};

use super::{Entry, Store, StoreError, Written, resolve};

/// How long a write waits for another process's write to finish.
const BUSY_TIMEOUT: Duration = Duration::from_secs(2);

pub struct EmbeddedStore {
    connection: Mutex<Connection>,
    path: PathBuf,
    /// The file's identity when opened: a file removed or replaced under a running gateway
    /// would take writes that vanish at the next start, so the store reports itself
    /// unavailable instead (writes queue, `/readyz` says so).
    identity: Option<(u64, u64)>,
}

/// `(device, inode)` of the file at `path`.
fn identity(path: &Path) -> Option<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(path).ok().map(|m| (m.dev(), m.ino()))
}

/// Why the file cannot serve as the registry; names the file (SPEC §12: never a silent
/// empty registry).
#[derive(Debug, thiserror::Error)]
#[error("clients.path `{path}`: {detail}")]
pub struct OpenError {
    pub path: String,
    pub detail: String,
}

impl EmbeddedStore {
    /// Opens (or creates) the file, checks it is an intact registry and reads every entry
    /// once, so a damaged file is found now and not on the first update of a client.
    pub fn open(path: &Path) -> Result<Self, OpenError> {
        let fail = |detail: String| OpenError { path: path.display().to_string(), detail };
        // a file that exists is a registry or an error, never a fresh start: an empty or
        // foreign file would otherwise become a silent empty registry (SPEC §12). An empty
        // file may also be one another process is creating this instant (replicas on one
        // host starting together): it gets two seconds to become a registry.
        let existed = std::fs::metadata(path).ok().map(|m| m.len());
        let connection = Connection::open(path).map_err(|e| fail(format!("cannot open the client registry: {e}")))?;
        connection.busy_timeout(BUSY_TIMEOUT).map_err(|e| fail(e.to_string()))?;
        let check: String = connection
            .query_row("PRAGMA quick_check", [], |row| row.get(0))
            .map_err(|e| fail(format!("not a client registry: {e}")))?;
        if check != "ok" {
            return Err(fail(format!("the file is damaged: {check}")));
        }
        let has_table = || -> Result<bool, OpenError> {
            connection
                .query_row("SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'clients'", [], |row| {
                    row.get::<_, i64>(0)
                })
                .map(|count| count == 1)
                .map_err(|e| fail(format!("not a client registry: {e}")))
        };
        let mut found = has_table()?;
        if existed == Some(0) {
            let deadline = std::time::Instant::now() + Duration::from_secs(2);
            while !found && std::time::Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(50));
                found = has_table()?;
            }
        }
        if existed.is_some() && !found {
            return Err(fail(
                "the file exists but holds no client registry (empty, or another database); move it away to start with an empty registry".into(),
            ));
        }
        connection
            .execute_batch(
                "PRAGMA journal_mode = WAL;
                 PRAGMA synchronous = FULL;
                 CREATE TABLE IF NOT EXISTS clients (
                     tenant TEXT NOT NULL,
                     client_id TEXT NOT NULL,
                     entry TEXT NOT NULL,
                     PRIMARY KEY (tenant, client_id)
                 ) WITHOUT ROWID;",
            )
            .map_err(|e| fail(format!("not a client registry: {e}")))?;
        // the table into the main file, so a copy of it alone is a registry
        connection.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(())).map_err(|e| fail(e.to_string()))?;
        let store =
            EmbeddedStore { connection: Mutex::new(connection), path: path.to_owned(), identity: identity(path) };
        store.list(None).map_err(|e| fail(e.to_string()))?;
        Ok(store)
    }

    fn unavailable(&self, e: impl std::fmt::Display) -> StoreError {
        StoreError::Unavailable(format!("{}: {e}", self.path.display()))
    }

    fn connection(&self) -> Result<std::sync::MutexGuard<'_, Connection>, StoreError> {
        if identity(&self.path) != self.identity {
            return Err(
                self.unavailable("the file was removed or replaced while the gateway runs; restart to reopen it")
            );
        }
        self.connection.lock().map_err(|_| self.unavailable("a writer panicked"))
    }
}

fn decode(tenant: &str, client_id: &str, text: &str) -> Result<Entry, StoreError> {
    serde_json::from_str(text)
        .map_err(|e| StoreError::Corrupt { key: format!("{tenant}/{client_id}"), detail: e.to_string() })
}

const SELECT: &str = "SELECT entry FROM clients WHERE tenant = ?1 AND client_id = ?2";
const INSERT: &str = "INSERT OR REPLACE INTO clients (tenant, client_id, entry) VALUES (?1, ?2, ?3)";
const DELETE: &str = "DELETE FROM clients WHERE tenant = ?1 AND client_id = ?2";

impl Store for EmbeddedStore {
    fn get(&self, tenant: &str, client_id: &str) -> Result<Option<Entry>, StoreError> {
        let connection = self.connection()?;
        let mut select = connection.prepare_cached(SELECT).map_err(|e| self.unavailable(e))?;
        let text: Option<String> = select
            .query_row(params![tenant, client_id], |row| row.get(0))
            .optional()
            .map_err(|e| self.unavailable(e))?;
        text.map(|text| decode(tenant, client_id, &text)).transpose()
    }

    fn put(&self, entry: &Entry) -> Result<Written, StoreError> {
        let mut written = self.put_all(&[entry])?;
        written.pop().ok_or_else(|| self.unavailable("a write was lost"))
    }

    fn commits_in_groups(&self) -> bool {
        true
    }

    /// One transaction, one `fsync`, for every entry: the writer's group commit.
    fn put_all(&self, entries: &[&Entry]) -> Result<Vec<Written>, StoreError> {
        let mut connection = self.connection()?;
        let transaction =
            connection.transaction_with_behavior(TransactionBehavior::Immediate).map_err(|e| self.unavailable(e))?;
        let mut outcomes = Vec::with_capacity(entries.len());
        {
            // parsed once per connection, not per write (the SQL parser was a tenth of
            // the writer's time)
            let mut select = transaction.prepare_cached(SELECT).map_err(|e| self.unavailable(e))?;
            let mut insert = transaction.prepare_cached(INSERT).map_err(|e| self.unavailable(e))?;
            for entry in entries {
                let stored: Option<String> = select
                    .query_row(params![entry.tenant, entry.client_id], |row| row.get(0))
                    .optional()
                    .map_err(|e| self.unavailable(e))?;
                let stored = stored.map(|text| decode(&entry.tenant, &entry.client_id, &text)).transpose()?;
                let (written, write) = resolve(stored.as_ref(), entry);
                if write {
                    insert
                        .execute(params![entry.tenant, entry.client_id, entry.to_json()])
                        .map_err(|e| self.unavailable(e))?;
                }
                outcomes.push(written);
            }
        }
        transaction.commit().map_err(|e| self.unavailable(e))?;
        Ok(outcomes)
    }

    fn remove(&self, tenant: &str, client_id: &str) -> Result<(), StoreError> {
        let connection = self.connection()?;
        let mut delete = connection.prepare_cached(DELETE).map_err(|e| self.unavailable(e))?;
        delete.execute(params![tenant, client_id]).map(|_| ()).map_err(|e| self.unavailable(e))
    }

    fn list(&self, tenant: Option<&str>) -> Result<Vec<Entry>, StoreError> {
        let connection = self.connection()?;
        let mut statement = connection
            .prepare(
                "SELECT tenant, client_id, entry FROM clients WHERE ?1 IS NULL OR tenant = ?1 ORDER BY tenant, client_id",
            )
            .map_err(|e| self.unavailable(e))?;
        let rows = statement
            .query_map(params![tenant], |row| {
                Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)?, row.get::<_, String>(2)?))
            })
            .map_err(|e| self.unavailable(e))?;
        let mut entries = Vec::new();
        for row in rows {
            let (tenant, client_id, text) = row.map_err(|e| self.unavailable(e))?;
            entries.push(decode(&tenant, &client_id, &text)?);
        }
        Ok(entries)
    }

    fn describe(&self) -> String {
        format!("embedded {}", self.path.display())
    }
}
