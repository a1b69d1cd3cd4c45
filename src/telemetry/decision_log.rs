//! The decision log (SPEC §9): one JSON object per intercepted request, to stdout or a
//! file. It holds no token, secret or body: only names, modes and codes.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::sync::Mutex;

use serde::Serialize;

use crate::config::DecisionLogTarget;

/// One line of the decision log.
#[derive(Debug, Clone, Default, Serialize)]
pub struct DecisionRecord {
    /// RFC 3339, UTC.
    pub time: String,
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

/// Where decision lines go.
pub enum DecisionLog {
    Off,
    Stdout,
    File(Mutex<File>),
}

impl DecisionLog {
    pub fn open(target: &DecisionLogTarget) -> std::io::Result<Self> {
        Ok(match target {
            DecisionLogTarget::Off => DecisionLog::Off,
            DecisionLogTarget::Stdout => DecisionLog::Stdout,
            DecisionLogTarget::File(path) => {
                DecisionLog::File(Mutex::new(OpenOptions::new().create(true).append(true).open(path)?))
            }
        })
    }

    /// Writes one line. A failed write is reported on stderr and never fails the request.
    pub fn write(&self, record: &DecisionRecord) {
        let mut line = match serde_json::to_vec(record) {
            Ok(line) => line,
            Err(e) => {
                log::warn!("decision log: cannot encode a record: {e}");
                return;
            }
        };
        line.push(b'\n');
        let result = match self {
            DecisionLog::Off => Ok(()),
            DecisionLog::Stdout => std::io::stdout().lock().write_all(&line),
            DecisionLog::File(file) => match file.lock() {
                Ok(mut file) => file.write_all(&line),
                Err(poisoned) => poisoned.into_inner().write_all(&line),
            },
        };
        if let Err(e) = result {
            log::warn!("decision log: write failed: {e}");
        }
    }
}
