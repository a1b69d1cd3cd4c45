//! `clients.store = "redis"`: one Redis shared by every replica (SPEC §14).
//!
//! Synchronous connections from a small pool, each with short timeouts: the registry is
//! written from Pingora's synchronous body filter, and a Redis that does not answer must
//! cost a request milliseconds, not the proxy's read timeout. Writes stay atomic without
//! transactions: `SET NX` inserts, and the one replacement [`super::merge`] allows is a
//! compare-and-set script, retried if another replica wrote in between.

use std::sync::Mutex;
use std::time::Duration;

use super::{Entry, Store, StoreError, Written, resolve};

/// Connect, read and write deadline of every Redis call.
pub const REDIS_TIMEOUT: Duration = Duration::from_millis(250);

/// Idle connections kept; more are opened while busy and closed after.
const POOL: usize = 8;

/// Connections to one Redis, opened on demand and reused.
pub struct RedisPool {
    client: redis::Client,
    url: String,
    idle: Mutex<Vec<redis::Connection>>,
}

impl RedisPool {
    /// Checks the URL only; the server may be down now and come up later.
    pub fn new(url: &str) -> Result<Self, String> {
        let shown = redacted(url);
        let client = redis::Client::open(url).map_err(|e| format!("`{shown}` is not a Redis URL: {e}"))?;
        Ok(RedisPool { client, url: shown, idle: Mutex::new(Vec::new()) })
    }

    /// Runs `call` on a pooled connection; the connection is dropped if the call failed.
    pub fn run<T>(&self, call: impl FnOnce(&mut redis::Connection) -> redis::RedisResult<T>) -> Result<T, String> {
        let pooled = self.idle.lock().ok().and_then(|mut idle| idle.pop());
        let mut connection = match pooled {
            Some(connection) => connection,
            None => {
                let connection =
                    self.client.get_connection_with_timeout(REDIS_TIMEOUT).map_err(|e| format!("{}: {e}", self.url))?;
                connection.set_read_timeout(Some(REDIS_TIMEOUT)).map_err(|e| e.to_string())?;
                connection.set_write_timeout(Some(REDIS_TIMEOUT)).map_err(|e| e.to_string())?;
                connection
            }
        };
        let result = call(&mut connection).map_err(|e| format!("{}: {e}", self.url))?;
        if let Ok(mut idle) = self.idle.lock()
            && idle.len() < POOL
        {
            idle.push(connection);
        }
        Ok(result)
    }

    pub fn url(&self) -> &str {
        &self.url
    }
}

/// The URL without its user, password or query (which may carry `password=`), for logs
/// and errors.
pub fn redacted(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) => {
            let had_credentials = !parsed.username().is_empty() || parsed.password().is_some();
            let _ = parsed.set_username("");
            let _ = parsed.set_password(None);
            parsed.set_query(None);
            let text = parsed.to_string();
            match (had_credentials, text.split_once("://")) {
                (true, Some((scheme, rest))) => format!("{scheme}://***@{rest}"),
                _ => text,
            }
        }
        Err(_) => "<a Redis URL that does not parse>".to_owned(),
    }
}

/// A Redis the replicas share, and the prefix of the gateway's keys in it.
#[derive(Clone)]
pub struct SharedRedis {
    pub pool: std::sync::Arc<RedisPool>,
    pub prefix: String,
}

pub struct RedisStore {
    pool: std::sync::Arc<RedisPool>,
    prefix: String,
}

/// Replaces the stored value only if it is still `ARGV[1]`.
const COMPARE_AND_SET: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[2])
  return 1
end
return 0";

impl RedisStore {
    pub fn new(pool: std::sync::Arc<RedisPool>, prefix: &str) -> Self {
        RedisStore { pool, prefix: prefix.to_owned() }
    }

    fn key(&self, tenant: &str, client_id: &str) -> String {
        format!("{}client:{}", self.prefix, Entry::key(tenant, client_id))
    }

    fn unavailable(e: String) -> StoreError {
        StoreError::Unavailable(e)
    }
}

fn decode(key: &str, text: &str) -> Result<Entry, StoreError> {
    serde_json::from_str(text).map_err(|e| StoreError::Corrupt { key: key.to_owned(), detail: e.to_string() })
}

/// `*`, `?`, `[`, `\` matched literally in a `SCAN MATCH` pattern.
fn glob_literal(text: &str) -> String {
    text.chars().fold(String::new(), |mut out, c| {
        if matches!(c, '*' | '?' | '[' | ']' | '\\') {
            out.push('\\');
        }
        out.push(c);
        out
    })
}

impl Store for RedisStore {
    fn get(&self, tenant: &str, client_id: &str) -> Result<Option<Entry>, StoreError> {
        let key = self.key(tenant, client_id);
        let text: Option<String> =
            self.pool.run(|c| redis::cmd("GET").arg(&key).query(c)).map_err(Self::unavailable)?;
        text.map(|text| decode(&key, &text)).transpose()
    }

    fn put(&self, entry: &Entry) -> Result<Written, StoreError> {
        let key = self.key(&entry.tenant, &entry.client_id);
        let value = entry.to_json();
        for _ in 0..4 {
            let inserted: Option<String> = self
                .pool
                .run(|c| redis::cmd("SET").arg(&key).arg(&value).arg("NX").query(c))
                .map_err(Self::unavailable)?;
            if inserted.is_some() {
                return Ok(Written::Inserted);
            }
            let stored: Option<String> =
                self.pool.run(|c| redis::cmd("GET").arg(&key).query(c)).map_err(Self::unavailable)?;
            // deleted in between: insert again
            let Some(stored_text) = stored else { continue };
            let stored = decode(&key, &stored_text)?;
            let (written, write) = resolve(Some(&stored), entry);
            if !write {
                return Ok(written);
            }
            let script = redis::Script::new(COMPARE_AND_SET);
            let swapped: i64 = self
                .pool
                .run(|c| script.key(&key).arg(&stored_text).arg(&value).invoke(c))
                .map_err(Self::unavailable)?;
            if swapped == 1 {
                return Ok(written);
            }
        }
        Err(StoreError::Unavailable(format!("`{key}` kept changing under a write")))
    }

    fn remove(&self, tenant: &str, client_id: &str) -> Result<(), StoreError> {
        let key = self.key(tenant, client_id);
        self.pool.run(|c| redis::cmd("DEL").arg(&key).query::<i64>(c)).map(|_| ()).map_err(Self::unavailable)
    }

    fn list(&self, tenant: Option<&str>) -> Result<Vec<Entry>, StoreError> {
        let pattern = format!(
            "{}client:{}*",
            glob_literal(&self.prefix),
            tenant.map(|t| glob_literal(&Entry::key(t, ""))).unwrap_or_default()
        );
        let mut keys: Vec<String> = Vec::new();
        let mut cursor: u64 = 0;
        loop {
            let (next, batch): (u64, Vec<String>) = self
                .pool
                .run(|c| redis::cmd("SCAN").arg(cursor).arg("MATCH").arg(&pattern).arg("COUNT").arg(1000).query(c))
                .map_err(Self::unavailable)?;
            keys.extend(batch);
            cursor = next;
            if cursor == 0 {
                break;
            }
        }
        keys.sort();
        keys.dedup();
        let mut entries = Vec::with_capacity(keys.len());
        for chunk in keys.chunks(500) {
            let values: Vec<Option<String>> =
                self.pool.run(|c| redis::cmd("MGET").arg(chunk).query(c)).map_err(Self::unavailable)?;
            for (key, value) in chunk.iter().zip(values) {
                if let Some(value) = value {
                    entries.push(decode(key, &value)?);
                }
            }
        }
        Ok(entries)
    }

    fn describe(&self) -> String {
        format!("redis {}", self.pool.url())
    }
}
