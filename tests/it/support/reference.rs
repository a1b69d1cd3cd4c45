//! `modegate reference`: the real reference authorization server, on a port it picks,
//! stopped when the test ends.

use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};

use super::http::{Client, request, status};

pub struct Reference {
    pub addr: SocketAddr,
    child: Child,
    _log: tempfile::NamedTempFile,
}

impl Reference {
    /// Serves `hosts` (plain HTTP) with extra `args` (`--drop-mode`, `--seed-clients N`).
    pub fn start(hosts: &[&str], args: &[&str]) -> Reference {
        let log = tempfile::NamedTempFile::new().unwrap();
        let mut command = Command::new(env!("CARGO_BIN_EXE_modegate"));
        command.current_dir(env!("CARGO_MANIFEST_DIR")).args(["reference", "--listen", "127.0.0.1:0"]);
        for host in hosts {
            command.args(["--host", host]);
        }
        let mut child = command
            .args(args)
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(log.reopen().unwrap())
            .spawn()
            .unwrap();
        let line = super::gateway::wait_for_line(&mut child, log.path(), "reference server listening:");
        let addr = line.split("listening: ").nth(1).and_then(|rest| rest.split_whitespace().next()).unwrap();
        let addr: SocketAddr = addr.parse().unwrap();
        super::gateway::wait_for_port(addr);
        Reference { addr, child, _log: log }
    }

    /// A Management API token of the seeded `demo-m2m` client, every scope.
    pub fn token(&self, host: &str) -> String {
        let body = format!(
            r#"{{"grant_type":"client_credentials","client_id":"demo-m2m","client_secret":"demo-secret","audience":"https://{host}/api/v2/"}}"#
        );
        let mut client = Client::connect(self.addr);
        client.send_raw(&request(
            "POST",
            "/oauth/token",
            host,
            &[("Content-Type", "application/json"), ("Authorization", "none")],
            body.as_bytes(),
        ));
        let response = client.read_response();
        assert_eq!(status(&response), 200, "{}", response.body_text());
        response.json()["access_token"].as_str().unwrap().to_owned()
    }

    /// `GET path` on the reference itself, with `token`.
    pub fn get(&self, host: &str, path: &str, token: &str) -> super::http::Message {
        let mut client = Client::connect(self.addr);
        let bearer = format!("Bearer {token}");
        client.send_raw(&request("GET", path, host, &[("Authorization", &bearer)], b""));
        client.read_response()
    }
}

impl Drop for Reference {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
