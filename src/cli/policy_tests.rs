//! `modegate test FILE…` (SPEC §15): policy tests, like `opa test`. Each file names a
//! configuration and lists cases; each case is a `decide` input and the expected
//! `decision`, `reason` and `status` (and, optionally, `injected`). Offline: the same
//! pipeline as `decide`, no network. Prints one line per case, a diff for each failure,
//! and a closing `N passed, M failed`.

use std::path::{Path, PathBuf};

use anyhow::{Context, anyhow};
use serde::Deserialize;
use serde_json::Value;
use time::Date;
use time::macros::format_description;

use crate::config;

/// One test file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TestFile {
    /// The configuration under test, relative to the test file.
    config: PathBuf,
    /// Decide as on this date (`YYYY-MM-DD`); default today.
    today: Option<String>,
    #[serde(rename = "case", default)]
    cases: Vec<Case>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Case {
    name: String,
    /// The `decide` input: `method`, `host`, `path`, `headers`, `body`, `current_client`.
    request: toml::Value,
    expect: Expect,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Expect {
    decision: String,
    reason: Option<String>,
    /// The gateway's own answer; `0` for a forwarded request (no answer of its own).
    status: Option<u16>,
    injected: Option<Vec<String>>,
}

/// What a run found: cases passed and failed.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Tally {
    pub passed: usize,
    pub failed: usize,
}

/// Runs every case of every file, printing as it goes. `Err` when a file cannot be used.
pub fn run(files: &[PathBuf]) -> anyhow::Result<Tally> {
    let mut tally = Tally::default();
    for file in files {
        let text = std::fs::read_to_string(file).with_context(|| format!("{}", file.display()))?;
        let tests: TestFile = toml::from_str(&text).with_context(|| format!("{}", file.display()))?;
        let config_path = file.parent().unwrap_or(Path::new(".")).join(&tests.config);
        // offline: the upstream is not resolved
        let (config, _warnings) = config::load_as(&config_path, config::Purpose::Check).map_err(|e| anyhow!("{e}"))?;
        let today = match &tests.today {
            Some(date) => Date::parse(date, format_description!("[year]-[month]-[day]"))
                .with_context(|| format!("{}: today `{date}` is not a YYYY-MM-DD date", file.display()))?,
            None => time::OffsetDateTime::now_utc().date(),
        };
        for case in &tests.cases {
            let request = serde_json::to_string(&case.request).context("the request is not JSON-shaped")?;
            let outcome = super::decide_text(&config, &request, today);
            match outcome.map(|got| differences(&case.expect, &got)) {
                Ok(diff) if diff.is_empty() => {
                    tally.passed += 1;
                    println!("PASS {}: {}", file.display(), case.name);
                }
                Ok(diff) => {
                    tally.failed += 1;
                    println!("FAIL {}: {}", file.display(), case.name);
                    for line in diff {
                        println!("    {line}");
                    }
                }
                Err(error) => {
                    tally.failed += 1;
                    println!("FAIL {}: {}\n    the request was refused as input: {error:#}", file.display(), case.name);
                }
            }
        }
    }
    println!("{} passed, {} failed", tally.passed, tally.failed);
    Ok(tally)
}

/// `- expected` / `+ got` lines for each field that differs.
fn differences(expect: &Expect, got: &Value) -> Vec<String> {
    let mut diff = Vec::new();
    let mut compare = |field: &str, expected: Value| {
        let actual = got.get(field).cloned().unwrap_or(Value::Null);
        if actual != expected {
            diff.push(format!("{field}: - {expected}"));
            diff.push(format!("{field}: + {actual}"));
        }
    };
    compare("decision", Value::from(expect.decision.as_str()));
    if let Some(reason) = &expect.reason {
        compare("reason", Value::from(reason.as_str()));
    }
    if let Some(status) = expect.status {
        compare("status", if status == 0 { Value::Null } else { Value::from(status) });
    }
    if let Some(injected) = &expect.injected {
        compare("injected", Value::from(injected.clone()));
    }
    diff
}
