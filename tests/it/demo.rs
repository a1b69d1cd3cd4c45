//! `modegate demo` (SPEC §10): every command it prints behaves as printed.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::free_addr;

#[test]
fn every_printed_command_behaves_as_printed() {
    let (gateway, admin, upstream) = (free_addr(), free_addr(), free_addr());
    let dir = tempfile::tempdir().unwrap();
    let config = std::fs::read_to_string(format!("{}/config/demo.toml", env!("CARGO_MANIFEST_DIR")))
        .unwrap()
        .replace("127.0.0.1:8080", &gateway.to_string())
        .replace("127.0.0.1:9090", &admin.to_string())
        .replace("127.0.0.1:3000", &upstream.to_string());
    let path = dir.path().join("demo.toml");
    std::fs::write(&path, config).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_modegate"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(["demo", "--config"])
        .arg(&path)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut banner = Vec::new();
    for line in lines.by_ref() {
        let line = line.unwrap();
        let done = line.contains("Ctrl-C stops");
        banner.push(line);
        if done {
            break;
        }
    }
    // the listeners come up right after the banner
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(gateway).is_err() || std::net::TcpStream::connect(upstream).is_err() {
        assert!(Instant::now() < deadline, "the demo did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    let exports: Vec<&String> = banner.iter().filter(|l| l.trim_start().starts_with("export ")).collect();
    assert_eq!(exports.len(), 2, "{banner:#?}");
    // each numbered step: its command lines, joined at trailing backslashes
    let mut steps: Vec<Vec<String>> = Vec::new();
    let mut current = String::new();
    for line in &banner {
        let trimmed = line.trim();
        if trimmed.starts_with(|c: char| c.is_ascii_digit()) && trimmed.contains(". ") {
            steps.push(Vec::new());
        } else if trimmed.starts_with("curl") || trimmed.starts_with("ID=$(curl") || !current.is_empty() {
            current.push_str(trimmed.trim_end_matches('\\'));
            current.push(' ');
            if !trimmed.ends_with('\\') {
                steps.last_mut().unwrap().push(std::mem::take(&mut current));
            }
        }
    }
    assert_eq!(steps.len(), 8, "{banner:#?}");
    let prelude: String = exports.iter().map(|e| format!("{}\n", e.trim())).collect();
    let run = |command: &str| {
        let output = Command::new("bash").arg("-c").arg(format!("{prelude}{command}")).output().unwrap();
        String::from_utf8_lossy(&output.stdout).into_owned()
    };
    let expect = [
        vec![r#""third_party_security_mode":"strict""#],
        vec![r#""errorCode":"invalid_body""#, "not eligible"],
        vec![r#""third_party_security_mode":"permissive""#, "client_id"],
        vec![r#""error":"access_denied""#, "default API permissions"],
        vec![r#""errorCode":"invalid_token""#, r#""access_token""#],
        vec!["<!DOCTYPE html>", "unsupported_response_type", "response_type=code"],
        vec![r#""page":"login""#],
        vec!["modegate_requests_total{decision=\"inject\",reason=\"mode_injected\",route=\"clients_create\"} 1"],
    ];
    for (index, (commands, wanted)) in steps.iter().zip(expect).enumerate() {
        let output: String = commands.iter().map(|c| run(c)).collect();
        for needle in wanted {
            assert!(
                output.contains(needle),
                "step {}: `{needle}` not in:\n{output}\ncommands: {commands:#?}",
                index + 1
            );
        }
    }
    let _ = child.kill();
    let _ = child.wait();
}
