//! The process log (SPEC §15): what the gateway and its libraries say about themselves, on
//! stderr, as text or JSON lines, through `tracing` (the `log` records of Pingora and of
//! this crate are bridged in).
//!
//! A security gateway's own log must not become the place its secrets leak from. Two nets:
//!
//! - libraries are held at `info` whatever the level: their debug lines print request and
//!   response heads and bodies (Pingora prints `authorization: "Bearer …"` and upstream
//!   bodies holding `access_token`), so they are never emitted;
//! - every line is scrubbed before it is written: credentials after an auth scheme, JWTs,
//!   the values of credential headers and of secret parameters become `[redacted]`.

use std::io::Write;
use std::sync::LazyLock;

use regex::Regex;
use tracing::Level;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::filter::filter_fn;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::prelude::*;

use crate::config::LogFormat;

/// What the process log replaces a secret with.
pub const REDACTED: &str = "[redacted]";

/// Installs the process log. `level` is an `EnvFilter` directive (`info`,
/// `modegate=debug`); `RUST_LOG`, when set, takes its place. Call once, before anything logs.
pub fn init(format: LogFormat, level: &str) {
    let filter = std::env::var("RUST_LOG")
        .ok()
        .and_then(|directive| EnvFilter::try_new(directive).ok())
        .or_else(|| EnvFilter::try_new(level).ok())
        .unwrap_or_else(|| EnvFilter::new("info"));
    // libraries at `info` at most, whatever the filter allows (see the module docs)
    let libraries_quiet = filter_fn(|meta| is_own(meta.target()) || *meta.level() <= Level::INFO);
    let registry = tracing_subscriber::registry().with(filter).with(libraries_quiet);
    let text = tracing_subscriber::fmt::layer().with_writer(Scrubbed).with_ansi(false);
    // a second install (tests that start the CLI twice) keeps the first
    let _ = match format {
        LogFormat::Text => registry.with(text).try_init(),
        LogFormat::Json => registry.with(text.json().flatten_event(true)).try_init(),
    };
}

fn is_own(target: &str) -> bool {
    target == "modegate" || target.starts_with("modegate::")
}

/// The credential-shaped parts of one log line, replaced by [`REDACTED`].
pub fn scrub(line: &str) -> std::borrow::Cow<'_, str> {
    static PATTERNS: LazyLock<Vec<(Regex, &'static str)>> = LazyLock::new(|| {
        [
            // a JWT (or its first two parts) anywhere
            (r"eyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]*)?", REDACTED),
            // the credentials after an HTTP auth scheme
            (r"(?i)\b(bearer|basic|dpop|digest|negotiate)(\s+)[A-Za-z0-9._~+/=-]+", "${1}${2}[redacted]"),
            // credential headers and secret parameters, in `name: value`, `name=value`,
            // `"name":"value"` and Debug (`"name": "value"`) forms
            (
                r#"(?i)((?:proxy-)?authorization|cookie|set-cookie|x-api-key|x-auth-token|client_secret|access_token|refresh_token|id_token|code_verifier|client_assertion|password|secret|api_key)(\\?"?\s*[:=]\s*\\?"?)([^"\\&\s,;}\]]+)"#,
                "${1}${2}[redacted]",
            ),
        ]
        .into_iter()
        .filter_map(|(pattern, replacement)| Regex::new(pattern).ok().map(|regex| (regex, replacement)))
        .collect()
    });
    let mut line = std::borrow::Cow::Borrowed(line);
    for (pattern, replacement) in PATTERNS.iter() {
        if let std::borrow::Cow::Owned(replaced) = pattern.replace_all(&line, *replacement) {
            line = std::borrow::Cow::Owned(replaced);
        }
    }
    line
}

/// Stderr, each formatted event scrubbed as a whole (the formatter writes an event in one
/// `write_all`).
struct Scrubbed;

impl<'a> MakeWriter<'a> for Scrubbed {
    type Writer = ScrubbedWriter;

    fn make_writer(&'a self) -> ScrubbedWriter {
        ScrubbedWriter
    }
}

struct ScrubbedWriter;

impl Write for ScrubbedWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let text = String::from_utf8_lossy(buf);
        std::io::stderr().lock().write_all(scrub(&text).as_bytes())?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}

#[cfg(test)]
mod tests {
    use super::scrub;

    #[test]
    fn secrets_are_scrubbed_in_every_form() {
        for (line, secret) in [
            (r#"request: {"authorization": "Bearer abc.def-ghi"}"#, "abc.def-ghi"),
            ("authorization: Basic dXNlcjpwYXNz", "dXNlcjpwYXNz"),
            ("token eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl seen", "c2lnbmF0dXJl"),
            ("token eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0 seen", "eyJzdWIiOiJ4In0"),
            (r#"body {"access_token":"at-123","token_type":"Bearer"}"#, "at-123"),
            ("grant_type=client_credentials&client_secret=s3cr3t&x=1", "s3cr3t"),
            (r#"{\"client_secret\": \"s3cr3t\"}"#, "s3cr3t"),
            ("cookie: session=abc123", "session=abc123"),
            ("Set-Cookie=sid-998877", "sid-998877"),
            ("refresh_token: rt-abc", "rt-abc"),
            ("PASSWORD=hunter2", "hunter2"),
        ] {
            let scrubbed = scrub(line);
            assert!(!scrubbed.contains(secret), "{line} -> {scrubbed}");
            assert!(scrubbed.contains("[redacted]"), "{line} -> {scrubbed}");
        }
        assert_eq!(scrub("tenant acme: 3 clients"), "tenant acme: 3 clients", "plain lines are kept");
    }
}
