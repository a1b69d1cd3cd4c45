//! Starts the real `modegate` binary on loopback with a generated configuration and stops
//! it when the test ends, printing its logs if the test failed.

use std::fs;
use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::http::{Client, Message, request, status};

pub struct Gateway {
    pub addr: SocketAddr,
    pub admin: SocketAddr,
    /// The first TLS listener, when there is one.
    pub tls: Option<SocketAddr>,
    child: Child,
    dir: tempfile::TempDir,
}

/// A loopback port that nothing listens on now (bound, then released). Only where a test
/// needs a port named in advance: a dead upstream, a graceful upgrade (the new process
/// takes the sockets over by their configured address). Gateways and reference servers
/// otherwise listen on port 0 and report the port they got.
pub fn free_addr() -> SocketAddr {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap()
}

/// The tenants most tests use; `{upstream}` etc. are filled in by [`Gateway::start`].
/// (DCR rates far above what a test sends: the rate limit has tests of its own.)
pub const TENANTS: &str = r#"
[[customers]]
id = "cus_acme"

[[customers]]
id = "cus_globex"

[[tenants]]
id = "acme"
customer = "cus_acme"
dcr_rate_per_s = 100000
dcr_burst = 100000
hosts = ["acme.example.test", "login.acme.test"]
third_party_apps_since = "2025-06-01"
permissive_by_default = true
dcr_security_mode = "permissive"
default_api_permissions = [{ audience = "https://api.acme.test", scopes = ["read:items"] }]

[[tenants]]
id = "globex"
customer = "cus_globex"
dcr_rate_per_s = 100000
dcr_burst = 100000
hosts = ["globex.example.test"]
default_api_permissions = [{ audience = "https://api.globex.test", scopes = ["read:orders"] }]

[[tenants]]
id = "initech"
customer = "cus_globex"
dcr_rate_per_s = 100000
dcr_burst = 100000
hosts = ["initech.example.test"]

[[tenants]]
id = "shadowco"
customer = "cus_globex"
dcr_rate_per_s = 100000
dcr_burst = 100000
hosts = ["shadow.example.test"]
enforcement = "shadow"
default_api_permissions = [{ audience = "https://api.shadow.test", scopes = ["read"] }]

[[tenants]]
id = "offco"
customer = "cus_globex"
dcr_rate_per_s = 100000
dcr_burst = 100000
hosts = ["off.example.test"]
enforcement = "off"

[[tenants]]
id = "tokenco"
customer = "cus_globex"
dcr_rate_per_s = 100000
dcr_burst = 100000
hosts = ["token.example.test"]
dcr_access = "token"
default_api_permissions = [{ audience = "https://api.token.test", scopes = ["read"] }]
"#;

impl Gateway {
    /// The standard tenants in front of `upstream`.
    pub fn start(upstream: SocketAddr) -> Gateway {
        Gateway::start_with(upstream, "", "", TENANTS)
    }

    /// `server_extra` and `policy_extra` are appended to those tables; `rest` follows.
    pub fn start_with(upstream: SocketAddr, server_extra: &str, policy_extra: &str, rest: &str) -> Gateway {
        Gateway::start_config(&Gateway::config("127.0.0.1:0", upstream, server_extra, policy_extra, rest))
    }

    /// A configuration: `listen` (port 0: chosen at start), the admin listener on port 0.
    pub fn config(listen: &str, upstream: SocketAddr, server_extra: &str, policy_extra: &str, rest: &str) -> String {
        let grace = if server_extra.contains("grace_period_s") { "" } else { "grace_period_s = 0" };
        format!(
            "[server]\nlisten = [\"{listen}\"]\nadmin_listen = \"127.0.0.1:0\"\nthreads = 1\n{grace}\n{server_extra}\n\
             [upstream]\naddress = \"{upstream}\"\nconnect_timeout_ms = 500\nread_timeout_ms = 3000\n\n\
             [policy]\n{policy_extra}\n{rest}"
        )
    }

    /// Starts on `config` and waits until it is ready.
    pub fn start_config(config: &str) -> Gateway {
        let mut gateway = Gateway::launch(config);
        gateway.wait_ready();
        gateway
    }

    /// Starts without waiting for `/readyz` (only for the admin listener to answer).
    pub fn start_unready(upstream: SocketAddr, policy_extra: &str, rest: &str) -> Gateway {
        let gateway = Gateway::launch(&Gateway::config("127.0.0.1:0", upstream, "", policy_extra, rest));
        let deadline = Instant::now() + Duration::from_secs(20);
        while gateway.admin_get("/healthz").is_none() {
            assert!(Instant::now() < deadline, "modegate did not start:\n{}", gateway.logs());
            std::thread::sleep(Duration::from_millis(20));
        }
        gateway
    }

    /// Spawns the binary on `config` and reads back the addresses it bound.
    fn launch(config: &str) -> Gateway {
        let dir = tempfile::tempdir().unwrap();
        let config_path = dir.path().join("modegate.toml");
        fs::write(&config_path, config).unwrap();
        let child = spawn_logged(&dir, &["run"], &config_path);
        let unknown = SocketAddr::from(([127, 0, 0, 1], 0));
        let mut gateway = Gateway { addr: unknown, admin: unknown, tls: None, child, dir };
        gateway.read_addresses();
        gateway
    }

    /// Waits for the line where the process reports the addresses it bound, and takes them.
    pub fn read_addresses(&mut self) {
        let line = wait_for_line(&mut self.child, &self.dir.path().join("stderr.log"), "modegate listening: proxy=");
        let field = |name: &str| -> Option<SocketAddr> {
            let value = line.split_whitespace().find_map(|word| word.strip_prefix(name))?;
            // text or JSON lines: the address ends where its characters do
            let end = value.find(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '.' | ':' | '[' | ']')));
            value.get(..end.unwrap_or(value.len()))?.parse().ok()
        };
        (self.addr, self.admin, self.tls) = (field("proxy=").unwrap(), field("admin=").unwrap(), field("tls="));
    }

    /// Starts a second process on the same configuration with `run -u`: it takes the
    /// listening sockets over when this one gets SIGQUIT (Pingora graceful upgrade).
    pub fn spawn_upgrade(&self) -> Gateway {
        let dir = tempfile::tempdir().unwrap();
        let child = spawn_logged(&dir, &["run", "--upgrade"], &self.config_path());
        // the proxy port is the one it takes over; its admin port (port 0) is only known
        // once it logs it: call `read_addresses` after the handover
        Gateway { addr: self.addr, admin: self.admin, tls: self.tls, child, dir }
    }

    /// Stops the process (`kill -9` when `hard`, else SIGTERM and a wait) and starts it again
    /// on the same configuration, in the same directory (so the same embedded registry).
    pub fn restart(&mut self, hard: bool) {
        if hard {
            let _ = self.child.kill();
        } else {
            self.signal("-TERM");
        }
        let _ = self.child.wait();
        let stderr = self.dir.path().join("stderr.log");
        let previous = fs::read_to_string(&stderr).unwrap_or_default();
        fs::write(self.dir.path().join("stderr.previous.log"), previous).unwrap();
        self.child = spawn_logged(&self.dir, &["run"], &self.config_path());
        self.read_addresses();
        self.wait_ready();
    }

    /// The directory of the configuration (and of the embedded registry).
    pub fn dir(&self) -> &std::path::Path {
        self.dir.path()
    }

    /// `modegate <args> --config <this gateway's config>`: status and stdout.
    pub fn command(&self, args: &[&str]) -> (std::process::ExitStatus, String, String) {
        let output = Command::new(env!("CARGO_BIN_EXE_modegate"))
            .args(args)
            .arg("--config")
            .arg(self.config_path())
            .output()
            .unwrap();
        (
            output.status,
            String::from_utf8_lossy(&output.stdout).into_owned(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    }

    pub fn config_path(&self) -> std::path::PathBuf {
        self.dir.path().join("modegate.toml")
    }

    /// Sends `signal` (e.g. `-HUP`, `-QUIT`) to the process.
    pub fn signal(&self, signal: &str) {
        let status = Command::new("kill").args([signal, &self.child.id().to_string()]).status().unwrap();
        assert!(status.success(), "kill {signal} failed");
    }

    /// POST /-/reload on the admin listener.
    pub fn admin_reload(&self) -> Message {
        let mut client = Client::connect(self.admin);
        client.send_raw(&request(
            "POST",
            "/-/reload",
            "admin",
            &[("Connection", "close"), ("Authorization", "none")],
            b"",
        ));
        client.read_response()
    }

    fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(Some(exit)) = self.child.try_wait() {
                panic!("modegate exited early ({exit}):\n{}", self.logs());
            }
            if self.admin_get("/readyz").is_some_and(|r| status(&r) == 200) && TcpStream::connect(self.addr).is_ok() {
                return;
            }
            assert!(Instant::now() < deadline, "modegate did not become ready:\n{}", self.logs());
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// GET on the admin listener; `None` if it does not answer.
    pub fn admin_get(&self, path: &str) -> Option<Message> {
        let stream = TcpStream::connect_timeout(&self.admin, Duration::from_millis(200)).ok()?;
        drop(stream);
        let mut client = Client::connect(self.admin);
        client.send_raw(&request("GET", path, "admin", &[("Connection", "close")], b""));
        Some(client.read_response())
    }

    /// The value of one metric sample line, e.g. `modegate_requests_total{...}`.
    pub fn metric(&self, sample: &str) -> f64 {
        let text = self.admin_get("/metrics").unwrap().body_text();
        text.lines().find_map(|line| line.strip_prefix(sample).and_then(|rest| rest.trim().parse().ok())).unwrap_or(0.0)
    }

    /// Polls one metric sample until it equals `expected` (requests are counted after their
    /// answer is written, so a counter may trail the response by a moment); its last value.
    pub fn wait_metric(&self, sample: &str, expected: f64) -> f64 {
        let deadline = Instant::now() + Duration::from_secs(3);
        loop {
            let value = self.metric(sample);
            if value == expected || Instant::now() > deadline {
                return value;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Sends one request on a fresh connection and returns the response.
    pub fn send(&self, raw: &[u8]) -> Message {
        let mut client = Client::connect(self.addr);
        client.send_raw(raw);
        client.read_response()
    }

    /// POSTs JSON `body` to `path` on `host`.
    pub fn post_json(&self, host: &str, path: &str, body: &str) -> Message {
        self.send(&request("POST", path, host, &[("Content-Type", "application/json")], body.as_bytes()))
    }

    pub fn client(&self) -> Client {
        Client::connect(self.addr)
    }

    /// The decision log lines written so far.
    pub fn decisions(&self) -> Vec<serde_json::Value> {
        let file = fs::File::open(self.dir.path().join("stdout.log")).unwrap();
        BufReader::new(file).lines().map_while(Result::ok).filter_map(|line| serde_json::from_str(&line).ok()).collect()
    }

    /// Waits until the decision log has at least `count` lines (it is written after the response).
    pub fn wait_decisions(&self, count: usize) -> Vec<serde_json::Value> {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let decisions = self.decisions();
            if decisions.len() >= count || Instant::now() > deadline {
                return decisions;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    pub fn logs(&self) -> String {
        let read = |name: &str| fs::read_to_string(self.dir.path().join(name)).unwrap_or_default();
        format!("--- stdout ---\n{}\n--- stderr ---\n{}", read("stdout.log"), read("stderr.log"))
    }

    /// Waits until the process log has a line containing `marker`.
    pub fn wait_log(&self, marker: &str) {
        let deadline = Instant::now() + Duration::from_secs(5);
        while !fs::read_to_string(self.dir.path().join("stderr.log")).unwrap_or_default().contains(marker) {
            assert!(
                Instant::now() < deadline,
                "no `{marker}` in the log:
{}",
                self.logs()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits for the process to exit by itself, up to `limit`.
    pub fn wait_exit(&mut self, limit: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }
}

/// Waits until something listens on `addr`.
pub fn wait_for_port(addr: SocketAddr) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(addr).is_err() {
        assert!(Instant::now() < deadline, "nothing listens on {addr}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Waits until `log` (the output of `child`) has a line containing `marker`; that line.
pub fn wait_for_line(child: &mut Child, log: &std::path::Path, marker: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let text = fs::read_to_string(log).unwrap_or_default();
        if let Some(line) = text.lines().find(|line| line.contains(marker)) {
            return line.to_owned();
        }
        if let Ok(Some(exit)) = child.try_wait() {
            panic!("the process exited early ({exit}):\n{text}");
        }
        assert!(Instant::now() < deadline, "no `{marker}` line in time:\n{text}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// The variable every test gateway gets, for `[tenants.management] client_secret_env`.
pub const MANAGEMENT_SECRET_ENV: &str = "MODEGATE_TEST_MANAGEMENT_SECRET";
/// Its value: tests check that it never appears in a log.
pub const MANAGEMENT_SECRET: &str = "s3cr3t-management-value";

/// The variable every test gateway gets, for `server.admin_token_env`.
pub const ADMIN_TOKEN_ENV: &str = "MODEGATE_TEST_ADMIN_TOKEN";
pub const ADMIN_TOKEN: &str = "admin-token-0123456789abcdef";

/// `modegate <args> --config <config>` with its output in `dir`'s log files.
fn spawn_logged(dir: &tempfile::TempDir, args: &[&str], config: &std::path::Path) -> Child {
    let stdout = fs::File::create(dir.path().join("stdout.log")).unwrap();
    let stderr = fs::File::create(dir.path().join("stderr.log")).unwrap();
    let mut command = Command::new(env!("CARGO_BIN_EXE_modegate"));
    // `RUST_LOG` would take the place of a `[log] level` the test sets
    let level_set = fs::read_to_string(config).is_ok_and(|text| text.contains("\nlevel = "));
    if level_set {
        command.env_remove("RUST_LOG");
    } else {
        command.env("RUST_LOG", "info");
    }
    command
        .args(args)
        .arg("--config")
        .arg(config)
        .env(MANAGEMENT_SECRET_ENV, MANAGEMENT_SECRET)
        .env(ADMIN_TOKEN_ENV, ADMIN_TOKEN)
        .stdin(Stdio::null())
        .stdout(stdout)
        .stderr(stderr)
        .spawn()
        .unwrap()
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!("modegate logs:\n{}", self.logs());
        }
    }
}
