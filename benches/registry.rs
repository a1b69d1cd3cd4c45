//! Criterion benchmarks of the client registry (SPEC §12): a read answered by the bounded
//! front, a read the front misses (the embedded store), an embedded write (one fsynced
//! transaction), and a Redis round trip on loopback. Before them, the memory of a front
//! holding 100,000 entries (RSS, from /proc). The baseline of the reads is a `HashMap` get
//! of the same key, measured in the same run.

#![allow(clippy::expect_used, reason = "benchmark setup; a failure is a broken benchmark")]

use std::collections::HashMap;
use std::hint::black_box;
use std::sync::Arc;

use criterion::{Criterion, criterion_group, criterion_main};
use modegate::policy::{ClientState, SecurityMode};
use modegate::registry::{Entry, Origin, Registry, Store, StoreError, Written, embedded::EmbeddedStore};

const STRICT: ClientState = ClientState { is_first_party: false, mode: Some(SecurityMode::Strict) };

/// A store that keeps nothing: the front alone holds the entries.
struct Discard;

impl Store for Discard {
    fn get(&self, _: &str, _: &str) -> Result<Option<Entry>, StoreError> {
        Ok(None)
    }
    fn put(&self, _: &Entry) -> Result<Written, StoreError> {
        Ok(Written::Inserted)
    }
    fn remove(&self, _: &str, _: &str) -> Result<(), StoreError> {
        Ok(())
    }
    fn list(&self, _: Option<&str>) -> Result<Vec<Entry>, StoreError> {
        Ok(Vec::new())
    }
    fn describe(&self) -> String {
        "discard".into()
    }
}

fn rss_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = statm.split_whitespace().nth(1).and_then(|p| p.parse().ok()).unwrap_or(0);
    pages * 4096
}

/// Prints the resident memory a front of `count` entries costs.
fn front_memory(count: usize) {
    let before = rss_bytes();
    let registry = Registry::new(Arc::new(Discard), count as u64);
    for n in 0..count {
        registry.remember(Entry::new("tenant-a", &format!("{n:032x}"), STRICT, Origin::Created));
    }
    let entries = registry.front_entries();
    let grown = rss_bytes().saturating_sub(before);
    println!(
        "registry front: {entries} entries, RSS +{:.1} MiB ({} bytes an entry; 32-character client ids)",
        grown as f64 / (1024.0 * 1024.0),
        grown / entries.max(1)
    );
}

fn benches(c: &mut Criterion) {
    front_memory(100_000);
    let key = format!("{:032x}", 4242);
    let mut group = c.benchmark_group("registry");

    let mut map = HashMap::new();
    map.insert(Entry::key("tenant-a", &key), Entry::new("tenant-a", &key, STRICT, Origin::Created));
    group.bench_function("hashmap_baseline", |b| b.iter(|| map.get(black_box(&Entry::key("tenant-a", &key))).cloned()));

    let front = Registry::new(Arc::new(Discard), 1000);
    front.remember(Entry::new("tenant-a", &key, STRICT, Origin::Created));
    group.bench_function("front_hit", |b| b.iter(|| front.get(black_box("tenant-a"), black_box(&key)).expect("read")));

    let dir = tempfile::tempdir().expect("dir");
    let embedded = EmbeddedStore::open(&dir.path().join("clients.db")).expect("store");
    embedded.put(&Entry::new("tenant-a", &key, STRICT, Origin::Created)).expect("put");
    group.bench_function("embedded_miss", |b| {
        b.iter(|| embedded.get(black_box("tenant-a"), black_box(&key)).expect("read"))
    });
    let mut n = 0u64;
    group.bench_function("embedded_write_fsync", |b| {
        b.iter(|| {
            n += 1;
            embedded.put(&Entry::new("tenant-a", &format!("w{n}"), STRICT, Origin::Created)).expect("put")
        })
    });

    if let Some(redis) = RedisServer::start() {
        let pool = Arc::new(modegate::registry::redis_store::RedisPool::new(&redis.url).expect("url"));
        let store = modegate::registry::redis_store::RedisStore::new(pool, "bench:");
        store.put(&Entry::new("tenant-a", &key, STRICT, Origin::Created)).expect("put");
        group.bench_function("redis_round_trip", |b| {
            b.iter(|| store.get(black_box("tenant-a"), black_box(&key)).expect("read"))
        });
    } else {
        println!("registry/redis_round_trip: skipped, no redis-server (./scripts/test.sh installs it)");
    }
    group.finish();
}

/// redis-server on a loopback TCP port (probed, released, then taken: benchmark only).
struct RedisServer {
    child: std::process::Child,
    url: String,
}

impl RedisServer {
    fn start() -> Option<RedisServer> {
        let port = std::net::TcpListener::bind("127.0.0.1:0").ok()?.local_addr().ok()?.port();
        let child = std::process::Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .stdout(std::process::Stdio::null())
            .spawn()
            .ok()?;
        let url = format!("redis://127.0.0.1:{port}/");
        let server = RedisServer { child, url };
        for _ in 0..200 {
            if redis::Client::open(server.url.as_str()).and_then(|c| c.get_connection()).is_ok() {
                return Some(server);
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        None
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

criterion_group!(registry_benches, benches);
criterion_main!(registry_benches);
