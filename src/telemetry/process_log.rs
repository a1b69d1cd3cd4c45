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
use tracing_subscriber::EnvFilter;
use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::prelude::*;

use crate::config::LogFormat;

/// What the process log replaces a secret with.
pub const REDACTED: &str = "[redacted]";

/// Installs the process log. `level` is an `EnvFilter` directive (`info`,
/// `modegate=debug`); `RUST_LOG`, when set, takes its place. Call once, before anything logs.
pub fn init(format: LogFormat, level: &str) {
    // an empty directive enables nothing: it counts as unset, as does one that is invalid
    // (said once on stderr, since the log that would say it is what is being set up)
    let from_env = std::env::var("RUST_LOG").ok().filter(|directive| !directive.trim().is_empty());
    let filter = match from_env.map(|directive| (EnvFilter::try_new(&directive), directive)) {
        Some((Ok(filter), _)) => filter,
        Some((Err(e), directive)) => {
            eprintln!("modegate: RUST_LOG `{directive}` is not a log filter ({e}); using `{level}`");
            EnvFilter::try_new(level).unwrap_or_else(|_| EnvFilter::new("info"))
        }
        None => EnvFilter::try_new(level)
            .ok()
            .filter(|_| !level.trim().is_empty())
            .unwrap_or_else(|| EnvFilter::new("info")),
    };
    // `log` records (Pingora's) are gated by `log`'s own maximum before tracing sees them:
    // at the filter's level, so a disabled `debug!` on the hot path costs one comparison
    let most = filter.max_level_hint().unwrap_or(LevelFilter::TRACE);
    // libraries at `info` at most, whatever the filter allows (see the module docs); a
    // static filter, so tracing caches it per call site
    let libraries_quiet = Targets::new().with_target("modegate", LevelFilter::TRACE).with_default(LevelFilter::INFO);
    let registry = tracing_subscriber::registry().with(filter).with(libraries_quiet);
    // a broken stderr must not take logging threads down: tracing reports its own write
    // errors with `eprintln!`, which panics on EPIPE
    let text = tracing_subscriber::fmt::layer().with_writer(Scrubbed).with_ansi(false).log_internal_errors(false);
    // a second install (tests that start the CLI twice) keeps the first
    let _ = match format {
        LogFormat::Text => registry.with(text).try_init(),
        LogFormat::Json => registry.with(text.json().flatten_event(true)).try_init(),
    };
    log::set_max_level(match most {
        LevelFilter::OFF => log::LevelFilter::Off,
        LevelFilter::ERROR => log::LevelFilter::Error,
        LevelFilter::WARN => log::LevelFilter::Warn,
        LevelFilter::INFO => log::LevelFilter::Info,
        LevelFilter::DEBUG => log::LevelFilter::Debug,
        _ => log::LevelFilter::Trace,
    });
}

/// The credential-shaped parts of one log line, replaced by [`REDACTED`].
pub fn scrub(line: &str) -> std::borrow::Cow<'_, str> {
    static PATTERNS: LazyLock<Vec<(Regex, &'static str)>> = LazyLock::new(|| {
        // a value: up to a closing quote, honouring escapes, or to the end of the line
        const VALUE: &str = r#"(?:\\.|[^"\\\r\n])*"#;
        // names that hold credentials, alone or inside a longer name (`x-auth-token`,
        // `session_token`, `SAMLResponse`, `id_token_hint`)
        const SECRET_NAME: &str = r"[A-Za-z0-9_.\-]*(?i:authorization|cookie|token|secret|session|signature|assertion|credential|password|passwd|pwd|api.?key|jwt|saml|wresult|ticket|otp|dpop)[A-Za-z0-9_.\-]*";
        // and, as `name=value` parameters only (`exit code: 3` stays readable), codes and hints
        const PARAMETER_NAME: &str = r"[A-Za-z0-9_.\-]*(?i:authorization|cookie|token|secret|session|signature|assertion|credential|password|passwd|pwd|api.?key|jwt|saml|wresult|ticket|otp|dpop|code|hint)[A-Za-z0-9_.\-]*";
        [
            // a JWT (or its first two parts) anywhere
            (r"eyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]*)?".to_owned(), REDACTED),
            // raw buffers libraries print when a request cannot be parsed
            (r#"(?i)(buf:\s*)(?:b?"(?:\\.|[^"\\])*"|\[[^\]]*\])"#.to_owned(), "${1}[redacted]"),
            // every query string: codes, hints, SAML responses, signatures ride there
            (r#"(/[^\s?"]*)\?[^\s"]*"#.to_owned(), "${1}?[redacted]"),
            // the credentials after an HTTP auth scheme, to the end of the value
            (
                format!(r"(?i)\b(bearer|basic|dpop|digest|negotiate|aws4-hmac-sha256)([\s:]+){VALUE}"),
                "${1}${2}[redacted]",
            ),
            // `name: value`, `"name": "value"`, Debug's `"name": "value"`: the whole value
            (format!(r#"(?i)\b({SECRET_NAME})(\\?"?\s*:\s*\\?"?){VALUE}"#), "${1}${2}[redacted]"),
            // `name=value` (forms, cookies): to the next separator
            (format!(r#"(?i)\b({PARAMETER_NAME})(\s*=\s*)[^&;\s",}}\]]+"#), "${1}${2}[redacted]"),
        ]
        .into_iter()
        .filter_map(|(pattern, replacement)| Regex::new(&pattern).ok().map(|regex| (regex, replacement)))
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
        // a line that cannot be written is lost, not an error that stops the caller
        let _ = std::io::stderr().lock().write_all(scrub(&text).as_bytes());
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        let _ = std::io::stderr().flush();
        Ok(())
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
            // found by an outside attack on the logs
            ("Fail to proxy: GET /login/callback?code=B&id_token_hint=C&SAMLResponse=D, Host: x", "SAMLResponse=D"),
            ("GET /cb?code=CODE-1 HTTP/1.1", "CODE-1"),
            ("authorization: Bearer a LEAK-2", "LEAK-2"),
            ("authorization: Bearer\tLEAK-3", "LEAK-3"),
            ("Cookie: a=b; other=COOKIE-4", "COOKIE-4"),
            (r#"{"client_secret":"a\"LEAK-5"}"#, "LEAK-5"),
            ("x-amz-security-token: TOKEN-6", "TOKEN-6"),
            ("Authorization: AWS4-HMAC-SHA256 Credential=a, Signature=SIG-7", "SIG-7"),
            (r#"fails to read from downstream, buf: "GET / HTTP/1.1\r\nCookie: x=SECRET-8""#, "SECRET-8"),
            ("session_token=SESSION-9&x=1", "SESSION-9"),
        ] {
            let scrubbed = scrub(line);
            assert!(!scrubbed.contains(secret), "{line} -> {scrubbed}");
            assert!(scrubbed.contains("[redacted]"), "{line} -> {scrubbed}");
        }
        for plain in
            ["tenant acme: 3 clients", "the upstream answered with status code: 503", "client registry: memory"]
        {
            assert_eq!(scrub(plain), plain, "plain lines are kept");
        }
    }
}
