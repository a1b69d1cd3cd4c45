//! The decision log (SPEC §9): one JSON object per intercepted request, to stdout or a
//! file. It holds no token, secret or body: only names, modes and codes.
//!
//! Lines are appended to a shared buffer that a writer thread empties every
//! [`FLUSH_EVERY`] (sooner once `FLUSH_AT` bytes wait) with one write: a proxy thread
//! pays a short lock and a copy, no wake-up and no system call. A slow or stalled consumer
//! never blocks a proxy thread: past `MAX_WAITING` bytes, lines are dropped and counted
//! (`modegate_decision_log_dropped_total`).
//!
//! SIGUSR1 reopens a file target (SPEC §15): after `logrotate` renames the file, the next
//! lines go to a new file at the configured path.

use std::fs::OpenOptions;
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use serde::Serialize;

use crate::config::DecisionLogTarget;
use crate::telemetry::metrics;

/// How long a line waits for the writer at most (tests and `tail -f` see it this late).
pub const FLUSH_EVERY: Duration = Duration::from_millis(50);
/// Bytes waiting that wake the writer before its time.
const FLUSH_AT: usize = 256 * 1024;
/// Bytes waiting at most; past this, lines are dropped (about 40,000 lines).
const MAX_WAITING: usize = 16 * 1024 * 1024;

/// One line of the decision log.
#[derive(Debug, Clone, Default, Serialize)]
pub struct DecisionRecord {
    /// RFC 3339, UTC.
    pub time: String,
    /// Unique per decision, across restarts and replicas (a per-process prefix and a sequence).
    pub decision_id: String,
    /// The configuration generation the request was decided under (1 at start, +1 per reload).
    pub generation: u64,
    pub request_id: String,
    pub tenant: Option<String>,
    pub customer: Option<String>,
    pub route: &'static str,
    pub decision: &'static str,
    pub reason: &'static str,
    pub enforcement: Option<&'static str>,
    pub requested_mode: Option<&'static str>,
    pub effective_mode: Option<&'static str>,
    pub injected: Vec<&'static str>,
    pub sub: Option<String>,
    pub azp: Option<String>,
    pub status: u16,
    pub upstream_status: Option<u16>,
    pub latency_ms: f64,
}

/// A fresh decision id: `{process prefix}-{sequence}` in hex. The prefix mixes the start
/// time and the process id, so ids do not repeat across restarts or replicas in practice.
pub fn next_decision_id() -> String {
    use std::sync::OnceLock;
    use std::sync::atomic::{AtomicU64, Ordering};
    static PREFIX: OnceLock<String> = OnceLock::new();
    static NEXT: AtomicU64 = AtomicU64::new(1);
    let prefix = PREFIX.get_or_init(|| {
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
        format!("{:012x}", (nanos as u64) ^ (u64::from(std::process::id()) << 40))
    });
    format!("{prefix}-{:x}", NEXT.fetch_add(1, Ordering::Relaxed))
}

/// Where decision lines go.
pub struct DecisionLog {
    /// `None`: `log.decisions = "off"`.
    shared: Option<Arc<Shared>>,
}

/// What the proxy threads and the writer share.
struct Shared {
    waiting: Mutex<Vec<u8>>,
    wake: Condvar,
    reopen: AtomicBool,
}

impl DecisionLog {
    pub fn open(target: &DecisionLogTarget) -> std::io::Result<Self> {
        let append = |path: &std::path::Path| OpenOptions::new().create(true).append(true).open(path);
        let (mut out, path): (Box<dyn Write + Send>, _) = match target {
            DecisionLogTarget::Off => return Ok(DecisionLog { shared: None }),
            DecisionLogTarget::Stdout => (Box::new(std::io::stdout()), None),
            DecisionLogTarget::File(path) => (Box::new(append(path)?), Some(path.clone())),
        };
        let shared =
            Arc::new(Shared { waiting: Mutex::new(Vec::new()), wake: Condvar::new(), reopen: AtomicBool::new(false) });
        let writer = Arc::clone(&shared);
        std::thread::Builder::new().name("decision-log".into()).spawn(move || {
            let mut batch = Vec::new();
            loop {
                {
                    let waiting = writer.waiting.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
                    let (mut waiting, _) = writer
                        .wake
                        .wait_timeout_while(waiting, FLUSH_EVERY, |w| {
                            w.len() < FLUSH_AT && !writer.reopen.load(Ordering::Acquire)
                        })
                        .unwrap_or_else(|poisoned| poisoned.into_inner());
                    std::mem::swap(&mut *waiting, &mut batch);
                }
                if writer.reopen.swap(false, Ordering::AcqRel)
                    && let Some(path) = &path
                {
                    // the lines taken before the signal still belong to the old file
                    if !batch.is_empty() {
                        write_batch(&mut out, &batch);
                        batch.clear();
                    }
                    // a file that cannot be opened keeps the old one: lines are not lost
                    match append(path) {
                        Ok(file) => out = Box::new(file),
                        Err(e) => log::warn!("decision log: cannot reopen {}: {e}", path.display()),
                    }
                }
                if !batch.is_empty() {
                    write_batch(&mut out, &batch);
                    batch.clear();
                }
            }
        })?;
        Ok(DecisionLog { shared: Some(shared) })
    }

    /// SIGUSR1: the file is reopened at once (lines already queued go to the old file).
    pub fn reopen(&self) {
        let Some(shared) = &self.shared else { return };
        shared.reopen.store(true, Ordering::Release);
        shared.wake.notify_one();
    }

    /// Whether records are written at all (`log.decisions = "off"`: none are built).
    pub fn is_on(&self) -> bool {
        self.shared.is_some()
    }

    /// Queues one line; never blocks on I/O and never fails the request.
    pub fn write(&self, record: &DecisionRecord) {
        let Some(shared) = &self.shared else { return };
        let mut waiting = shared.waiting.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if waiting.len() >= MAX_WAITING {
            drop(waiting);
            metrics().decision_log_dropped.inc();
            return;
        }
        // serialised straight into the batch: no line buffer of its own
        if let Err(e) = encode(record, &mut waiting) {
            drop(waiting);
            log::warn!("decision log: cannot encode a record: {e}");
            return;
        }
        let full = waiting.len() >= FLUSH_AT;
        drop(waiting);
        if full {
            shared.wake.notify_one();
        }
    }
}

/// Appends `record` as one line to `out`; on failure `out` is left as it was.
pub fn encode(record: &DecisionRecord, out: &mut Vec<u8>) -> Result<(), serde_json::Error> {
    let before = out.len();
    if let Err(e) = serde_json::to_writer(&mut *out, record) {
        out.truncate(before);
        return Err(e);
    }
    out.push(b'\n');
    Ok(())
}

fn write_batch(out: &mut Box<dyn Write + Send>, batch: &[u8]) {
    if let Err(e) = out.write_all(batch).and_then(|()| out.flush()) {
        log::warn!("decision log: write failed: {e}");
    }
}
