//! `modegate check` and `modegate decide` (SPEC §10), run as the real binary.

use std::io::Write;
use std::process::{Command, Stdio};

fn modegate(args: &[&str], stdin: &str) -> (i32, String, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_modegate"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
    let output = child.wait_with_output().unwrap();
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

fn shipped_config() -> String {
    format!("{}/config/modegate.toml", env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn check_accepts_every_shipped_config() {
    let dir = format!("{}/config", env!("CARGO_MANIFEST_DIR"));
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        // policy-tests.toml is a `modegate test` file, run below
        if path.extension().is_some_and(|e| e == "toml") && !path.ends_with("policy-tests.toml") {
            let (code, stdout, stderr) = modegate(&["check", "--config", path.to_str().unwrap()], "");
            assert_eq!(code, 0, "{}: {stdout}{stderr}", path.display());
            assert!(stdout.contains(": ok"), "{stdout}");
        }
    }
}

#[test]
fn check_lists_every_problem_of_a_broken_config() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("broken.toml");
    std::fs::write(
        &path,
        r#"
[server]
listen = ["not-an-address"]
max_body_bytes = 1000000
[policy]
unknown_tenant = "maybe"
[[customers]]
id = "cus_new"
[[tenants]]
id = "a"
customer = "cus_nwe"
hosts = ["a.test"]
[[tenants]]
id = "b"
customer = "cus_new"
hosts = ["A.test"]
dcr_security_mode = "permissive"
permissive_by_default = true
typo_key = 1
"#,
    )
    .unwrap();
    let (code, stdout, stderr) = modegate(&["check", "--config", path.to_str().unwrap()], "");
    assert_eq!(code, 64, "{stdout}{stderr}");
    for expected in [
        "server.listen: `not-an-address` is not an address",
        "server.max_body_bytes: 1000000 is out of range",
        "policy.unknown_tenant: `maybe` is not a choice",
        "tenants[a].customer: customer `cus_nwe` is not defined",
        "help: did you mean `cus_new`?",
        "tenants[b].hosts: host `a.test` is already claimed by tenant `a`",
        "tenants[b].dcr_security_mode: customer `cus_new` is not eligible",
        "tenants[b].permissive_by_default: customer `cus_new` is not eligible",
        "tenants[1].typo_key: unknown key",
        "8 problem(s)",
    ] {
        assert!(stderr.contains(expected), "missing `{expected}` in:\n{stderr}");
    }
}

/// SPEC §15: every problem, type errors included, each named; warnings apart; no DNS.
#[test]
fn check_lists_problems_of_three_kinds_and_warns_without_failing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("three.toml");
    let three = "[server]\nthreads = \"two\"\nadmin_lisen = \"127.0.0.1:9\"\n[[customers]]\nid = \"c\"\n\
                 [[tenants]]\nid = \"t\"\ncustomer = \"cus_c\"\nhosts = [\"a.test\"]\n";
    std::fs::write(&path, three).unwrap();
    let (code, _, stderr) = modegate(&["check", "--config", path.to_str().unwrap()], "");
    assert_eq!(code, 64);
    assert!(stderr.contains("server.threads: invalid type: string \"two\""), "a type error:\n{stderr}");
    assert!(stderr.contains("server.admin_lisen: unknown key\n  help: did you mean `admin_listen`?"), "{stderr}");
    assert!(stderr.contains("tenants[t].customer: customer `cus_c` is not defined"), "a validation:\n{stderr}");
    assert!(stderr.contains("3 problem(s)"), "{stderr}");
    // warnings do not fail the check: an empty file, an upstream named by a name that
    // does not resolve here (check asks no DNS)
    for (name, text, warning) in [
        ("empty.toml", "", "upstream.address is not set"),
        ("empty.toml", "", "no [[tenants]] and no policy service"),
        ("name.toml", "[upstream]\naddress = \"upstream.invalid:3000\"\n", "check does not resolve it"),
    ] {
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        let (code, stdout, stderr) = modegate(&["check", "--config", path.to_str().unwrap()], "");
        assert_eq!(code, 0, "{name}: {stderr}");
        assert!(stdout.lines().any(|line| line.contains("warning: ") && line.contains(warning)), "{name}:\n{stdout}");
    }
}

#[test]
fn check_reports_a_syntax_error_and_a_missing_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("syntax.toml");
    std::fs::write(&path, "[server\nlisten = 1").unwrap();
    let (code, _, stderr) = modegate(&["check", "--config", path.to_str().unwrap()], "");
    assert_eq!(code, 64);
    assert!(stderr.contains("not valid TOML"), "{stderr}");
    let (code, _, stderr) = modegate(&["check", "--config", "/nonexistent/modegate.toml"], "");
    assert_eq!(code, 64);
    assert!(stderr.contains("cannot read the file"), "{stderr}");
}

#[test]
fn decide_prints_the_decision_without_network() {
    let request = serde_json::json!({
        "method": "POST",
        "host": "globex.example.test",
        "path": "/api/v2/clients",
        "headers": {"content-type": "application/json"},
        "body": "{\"name\":\"x\",\"is_first_party\":false}"
    });
    let (code, stdout, stderr) = modegate(&["decide", "--config", &shipped_config()], &request.to_string());
    assert_eq!(code, 0, "{stderr}");
    let output: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(output["decision"], "inject");
    assert_eq!(output["reason"], "mode_injected");
    assert_eq!(output["route"], "clients_create");
    assert_eq!(output["tenant"], "globex");
    assert_eq!(output["status"], serde_json::Value::Null);
    assert_eq!(output["body"], "{\"name\":\"x\",\"is_first_party\":false,\"third_party_security_mode\":\"strict\"}");
    assert!(output["token_checks"].as_str().unwrap().starts_with("skipped"));

    let request = serde_json::json!({
        "method": "POST", "host": "initech.example.test", "path": "/oidc/register",
        "headers": {"content-type": "application/json"}, "body": "{\"redirect_uris\":[\"https://a.test/cb\"]}"
    });
    let (code, stdout, _) = modegate(&["decide", "--config", &shipped_config()], &request.to_string());
    assert_eq!(code, 0);
    let output: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(output["decision"], "reject");
    assert_eq!(output["status"], 403);
    let answer: serde_json::Value = serde_json::from_str(output["response"]["body"].as_str().unwrap()).unwrap();
    assert_eq!(answer["error"], "access_denied");

    // permissive default on an eligible tenant before the strict date
    let request = serde_json::json!({
        "method": "POST", "host": "acme.example.test", "path": "/api/v2/clients",
        "headers": {"content-type": "application/json"}, "body": "{\"is_first_party\":false}"
    });
    let (_, stdout, _) =
        modegate(&["decide", "--config", &shipped_config(), "--today", "2026-09-01"], &request.to_string());
    let output: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(output["effective_mode"], "permissive");
}

#[test]
fn decide_refuses_bad_input_clearly() {
    let (code, _, stderr) = modegate(&["decide", "--config", &shipped_config()], "not json");
    assert_eq!(code, 65);
    assert!(stderr.contains("the request is not JSON"), "{stderr}");
    let (code, _, stderr) = modegate(&["decide", "--config", &shipped_config()], r#"{"method":"POST"}"#);
    assert_eq!(code, 65);
    assert!(stderr.contains("`path`"), "{stderr}");
    // issue 10: unknown keys and a body that is not text are refused, not ignored
    let (code, _, stderr) = modegate(&["decide", "--config", &shipped_config()], r#"{"path":"/x","bdy":"{}"}"#);
    assert_eq!(code, 65);
    assert!(stderr.contains("unknown input key `bdy`"), "{stderr}");
    let (code, _, stderr) = modegate(&["decide", "--config", &shipped_config()], r#"{"path":"/x","body":{"a":1}}"#);
    assert_eq!(code, 65);
    assert!(stderr.contains("`body` must be a string"), "{stderr}");
}

/// `modegate test` (SPEC §15): the shipped policy tests pass; a wrong expectation fails
/// with a diff and a non-zero exit.
#[test]
fn policy_tests_pass_and_a_wrong_expectation_fails_with_a_diff() {
    let shipped = format!("{}/config/policy-tests.toml", env!("CARGO_MANIFEST_DIR"));
    let (code, stdout, stderr) = modegate(&["test", &shipped], "");
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(stdout.lines().last().unwrap_or_default().ends_with(" passed, 0 failed"), "{stdout}");
    let dir = tempfile::tempdir().unwrap();
    let wrong = dir.path().join("wrong.toml");
    std::fs::write(
        &wrong,
        format!(
            "config = \"{}\"\ntoday = \"2026-11-28\"\n[[case]]\nname = \"expects the wrong reason\"\n\
             request = {{ method = \"POST\", host = \"globex.example.test\", path = \"/api/v2/clients\", \
             headers = {{ content-type = \"application/json\" }}, body = '{{\"is_first_party\":false,\"third_party_security_mode\":\"permissive\"}}' }}\n\
             expect = {{ decision = \"forward\", reason = \"mode_allowed\" }}\n",
            shipped_config()
        ),
    )
    .unwrap();
    let (code, stdout, _) = modegate(&["test", wrong.to_str().unwrap()], "");
    assert_eq!(code, 1, "{stdout}");
    assert!(
        stdout.contains("FAIL")
            && stdout.contains("decision: - \"forward\"")
            && stdout.contains("decision: + \"reject\""),
        "{stdout}"
    );
    assert!(stdout.contains("reason: + \"permissive_not_eligible\""), "{stdout}");
    assert!(stdout.ends_with("0 passed, 1 failed\n"), "{stdout}");
}

/// Issue 9, finding 6: `ttl_s = 40000000000` passed `check`, then `run` exited 101 inside the
/// cache library. `check` now refuses it, and `run` refuses it the same way (exit 64).
#[test]
fn settings_that_used_to_panic_at_start_are_refused_by_check_and_run() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("huge.toml");
    std::fs::write(
        &path,
        "[server]\nlisten = [\"127.0.0.1:1\"]\nadmin_listen = \"127.0.0.1:2\"\n[upstream]\naddress = \"127.0.0.1:3\"\n\
         [policy]\nsource = \"http\"\n[policy.http]\nttl_s = 40000000000\n",
    )
    .unwrap();
    for command in ["check", "run"] {
        let (code, stdout, stderr) = modegate(&[command, "--config", path.to_str().unwrap()], "");
        assert_eq!(code, 64, "{command}: {stdout}{stderr}");
        assert!(format!("{stdout}{stderr}").contains("policy.http.ttl_s"), "{command}: {stdout}{stderr}");
    }
    // SPEC §10: `run` is the default command, so `modegate --config FILE` is `run --config FILE`
    let (code, stdout, stderr) = modegate(&["--config", path.to_str().unwrap()], "");
    assert_eq!(code, 64, "{stdout}{stderr}");
    assert!(stderr.contains("policy.http.ttl_s"), "{stdout}{stderr}");
    // and a file given before a command is not silently ignored
    let (code, _, stderr) = modegate(&["--config", path.to_str().unwrap(), "check"], "");
    assert_eq!(code, 2, "{stderr}");
}
