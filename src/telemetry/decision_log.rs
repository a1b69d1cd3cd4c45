//! The decision log (SPEC §9): one JSON object per intercepted request, to stdout or a
//! file. It holds no token, secret or body: only names, modes and codes.
//!
//! Lines go through a bounded queue to a writer thread, so a slow or stalled log consumer
//! never blocks a proxy thread; when the queue is full, lines are dropped and counted
//! (`modegate_decision_log_dropped_total`).
//!
//! SIGUSR1 reopens a file target (SPEC §15): after `logrotate` renames the file, the next
//! lines go to a new file at the configured path.

use std::fs::OpenOptions;
use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{SyncSender, TrySendError, sync_channel};

use serde::Serialize;

use crate::config::DecisionLogTarget;
use crate::telemetry::metrics;

/// Lines waiting for the writer at most.
const QUEUE: usize = 16_384;

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
    /// Lines to the writer; an empty one only wakes it (for a reopen).
    lines: Option<SyncSender<Vec<u8>>>,
    reopen: Arc<AtomicBool>,
}

impl DecisionLog {
    pub fn open(target: &DecisionLogTarget) -> std::io::Result<Self> {
        let reopen = Arc::new(AtomicBool::new(false));
        let append = |path: &std::path::Path| OpenOptions::new().create(true).append(true).open(path);
        let (mut out, path): (Box<dyn Write + Send>, _) = match target {
            DecisionLogTarget::Off => return Ok(DecisionLog { lines: None, reopen }),
            DecisionLogTarget::Stdout => (Box::new(std::io::stdout()), None),
            DecisionLogTarget::File(path) => (Box::new(append(path)?), Some(path.clone())),
        };
        let (sender, receiver) = sync_channel::<Vec<u8>>(QUEUE);
        let reopen_requested = Arc::clone(&reopen);
        std::thread::Builder::new().name("decision-log".into()).spawn(move || {
            for line in receiver {
                if reopen_requested.swap(false, Ordering::AcqRel)
                    && let Some(path) = &path
                {
                    // a file that cannot be opened keeps the old one: lines are not lost
                    match append(path) {
                        Ok(file) => out = Box::new(file),
                        Err(e) => log::warn!("decision log: cannot reopen {}: {e}", path.display()),
                    }
                }
                if line.is_empty() {
                    continue;
                }
                if let Err(e) = out.write_all(&line).and_then(|()| out.flush()) {
                    log::warn!("decision log: write failed: {e}");
                }
            }
        })?;
        Ok(DecisionLog { lines: Some(sender), reopen })
    }

    /// SIGUSR1: the file is reopened before the next line (at once if the queue has room).
    pub fn reopen(&self) {
        let Some(lines) = &self.lines else { return };
        self.reopen.store(true, Ordering::Release);
        let _ = lines.try_send(Vec::new());
    }

    /// Queues one line; never blocks and never fails the request.
    /// Whether records are written at all (`log.decisions = "off"`: none are built).
    pub fn is_on(&self) -> bool {
        self.lines.is_some()
    }

    pub fn write(&self, record: &DecisionRecord) {
        let Some(lines) = &self.lines else { return };
        let mut line = match serde_json::to_vec(record) {
            Ok(line) => line,
            Err(e) => {
                log::warn!("decision log: cannot encode a record: {e}");
                return;
            }
        };
        line.push(b'\n');
        match lines.try_send(line) {
            Ok(()) => {}
            Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => metrics().decision_log_dropped.inc(),
        }
    }
}
