//! The differential harness (SPEC §16, issue 8): generated request variants go through
//! the real gateway to real upstream parsers on loopback (Node's `http` with `new URL()`,
//! Express with `method-override` and query+body merging, werkzeug under WSGI, Go's
//! case-insensitive `encoding/json`; see `tests/differential/README.md`). Each upstream
//! answers with what it understood; the judge puts that reading back through the policy
//! core. A forwarded request that some upstream reads as a change the policy forbids
//! fails the test.
//!
//! The same variants are also sent to each upstream directly: there the judge must find
//! violations, which shows that the harness can see one when the gateway is not there.
//!
//! `MODEGATE_DIFFERENTIAL_SEED` and `MODEGATE_DIFFERENTIAL_COMBINATIONS` replay or widen a run.

mod judge;
mod variants;

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::support::http::{Client, Message};
use crate::support::tokens::default_jwks;
use crate::support::{Gateway, status};
use judge::{Reading, violation};
use variants::Variant;

/// The readers: name, program and arguments, relative to the crate root.
const READERS: &[(&str, &[&str])] = &[
    ("node-url", &["node", "tests/differential/node/node_url.mjs", "0"]),
    ("express", &["node", "tests/differential/node/express_app.mjs", "0"]),
    ("werkzeug", &["python3", "tests/differential/python/wsgi_app.py", "0"]),
    ("go-json", &["tests/differential/go_binder/bin/reader", "0"]),
];

/// acme: eligible, permissive DCR; globex: ineligible, strict, default permissions;
/// initech: ineligible, strict DCR without default permissions. Keys are inline: the
/// upstreams here answer every path with a reading, JWKS included.
fn tenants() -> String {
    let jwks = default_jwks();
    format!(
        r#"
[[customers]]
id = "cus_acme"

[[customers]]
id = "cus_globex"

[[tenants]]
id = "acme"
customer = "cus_acme"
hosts = ["acme.example.test"]
third_party_apps_since = "2025-06-01"
permissive_by_default = true
dcr_security_mode = "permissive"
default_api_permissions = [{{ audience = "https://api.acme.test", scopes = ["read:items"] }}]
[tenants.token]
jwks = '{jwks}'

[[tenants]]
id = "globex"
customer = "cus_globex"
hosts = ["globex.example.test"]
default_api_permissions = [{{ audience = "https://api.globex.test", scopes = ["read:orders"] }}]
[tenants.token]
jwks = '{jwks}'

[[tenants]]
id = "initech"
customer = "cus_globex"
hosts = ["initech.example.test"]
[tenants.token]
jwks = '{jwks}'
"#
    )
}

/// A reader process, killed when dropped.
struct Reader {
    name: &'static str,
    addr: SocketAddr,
    child: Child,
}

impl Reader {
    fn start(name: &'static str, command: &[&str]) -> Reader {
        let root = env!("CARGO_MANIFEST_DIR");
        let program = command[0];
        let program = if program.starts_with("tests/") { format!("{root}/{program}") } else { program.to_owned() };
        let install = "run `bash tests/differential/install.sh` (the README's test command does)";
        if command.iter().skip(1).any(|arg| arg.starts_with("tests/") && !Path::new(root).join(arg).exists())
            || (program.starts_with(root) && !Path::new(&program).exists())
        {
            panic!("differential reader `{name}` is not installed: {install}");
        }
        let mut child = Command::new(&program)
            .args(
                command[1..]
                    .iter()
                    .map(|arg| if arg.starts_with("tests/") { format!("{root}/{arg}") } else { (*arg).to_owned() }),
            )
            .current_dir(root)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start differential reader `{name}` ({e}): {install}"));
        let stdout = child.stdout.take().expect("stdout is piped");
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line).expect("reader prints its port");
        let port: u16 = line
            .trim()
            .strip_prefix("listening ")
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("reader `{name}` printed {line:?}, not `listening <port>`: {install}"));
        Reader { name, addr: SocketAddr::from(([127, 0, 0, 1], port)), child }
    }
}

impl Drop for Reader {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One request on a fresh connection: the answer, or why there is none.
fn send(addr: SocketAddr, variant: &Variant) -> Result<Message, String> {
    let mut client = Client::connect(addr);
    client.send_raw(&variant.to_bytes());
    client.try_read_response().map_err(|e| e.to_string())
}

#[derive(Default)]
struct Tally {
    sent: usize,
    refused: usize,
    forwarded: usize,
    /// Forwarded, and the upstream's method, path or host differs from the gateway's.
    divergent: usize,
    /// No HTTP answer came back (the peer closed, or answered garbage).
    unreadable: Vec<String>,
    violations: Vec<String>,
}

impl Tally {
    fn record(&mut self, variant: &Variant, response: Result<Message, String>, config: &modegate::config::Config) {
        self.sent += 1;
        let response = match response {
            Ok(response) => response,
            Err(error) => {
                // no reading came back: nothing to judge, but say so
                self.unreadable.push(format!("{}: {error}", variant.label));
                return;
            }
        };
        if response.header("x-differential-reader").is_none() {
            // the gateway answered itself: nothing reached the upstream
            assert!(response.header("x-modegate-reason").is_some() || status(&response) >= 400, "{}", variant.label);
            self.refused += 1;
            return;
        }
        self.forwarded += 1;
        let reading = Reading::parse(&response.body)
            .unwrap_or_else(|| panic!("{}: the reader answered {}", variant.label, response.body_text()));
        let gateway_path = modegate::policy::route::normalise(variant.target.split('?').next().unwrap_or_default());
        let reader_path = modegate::policy::route::normalise(reading.path.replace('%', "%25"));
        if reading.host != variant.host
            || !reading.method.eq_ignore_ascii_case(&variant.method)
            || gateway_path.ok() != reader_path.ok()
        {
            self.divergent += 1;
        }
        if let Some(why) = violation(&reading, config) {
            self.violations.push(format!("{}\n    {why}", variant.label));
        }
    }
}

#[test]
fn no_forwarded_request_is_read_two_ways() {
    let seed = std::env::var("MODEGATE_DIFFERENTIAL_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(0x5EED_u64);
    let combinations =
        std::env::var("MODEGATE_DIFFERENTIAL_COMBINATIONS").ok().and_then(|s| s.parse().ok()).unwrap_or(250);
    let variants = variants::generate(seed, combinations);
    let tenants = tenants();
    let judge_config = modegate::config::parse(&tenants).expect("the harness tenants load").0;
    println!("differential: seed {seed:#x}, {} variants per upstream", variants.len());
    println!(
        "{:<10} {:>6} {:>9} {:>8} {:>10} {:>10} {:>10} {:>17}",
        "upstream", "sent", "forwarded", "refused", "no answer", "divergent", "violations", "direct violations"
    );
    let mut failures = Vec::new();
    let mut total_sent = 0;
    for (name, command) in READERS {
        let reader = Reader::start(name, command);
        let gateway = Gateway::start_with(reader.addr, "", "", &tenants);
        let mut through = Tally::default();
        for variant in &variants {
            through.record(variant, send(gateway.addr, variant), &judge_config);
        }
        let mut direct = Tally::default();
        for variant in &variants {
            direct.record(variant, send(reader.addr, variant), &judge_config);
        }
        println!(
            "{:<10} {:>6} {:>9} {:>8} {:>10} {:>10} {:>10} {:>17}",
            reader.name,
            through.sent,
            through.forwarded,
            through.refused,
            through.unreadable.len(),
            through.divergent,
            through.violations.len(),
            direct.violations.len()
        );
        total_sent += through.sent;
        for line in through.unreadable.iter().take(5) {
            println!("  no answer through modegate: {line}");
        }
        assert!(
            !direct.violations.is_empty(),
            "`{name}` read no variant as a forbidden change even without the gateway: the harness cannot see one"
        );
        failures.extend(through.violations.into_iter().map(|v| format!("[{name}] {v}")));
        drop(gateway);
        std::thread::sleep(Duration::from_millis(10));
    }
    println!("differential: {total_sent} requests through modegate, {} read two ways", failures.len());
    assert!(failures.is_empty(), "forwarded requests read as forbidden changes:\n{}", failures.join("\n"));
}
