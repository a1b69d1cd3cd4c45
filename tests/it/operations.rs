//! SPEC §15: what an operator runs beside the gateway, each the real thing: Prometheus
//! scraping a running modegate (with the shipped alert rules loaded, and every query of the
//! shipped dashboard evaluated against it), promtool, systemd's unit checker, the shell
//! completions and the manual page.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::{Client, Gateway, Upstream, free_addr, request, status};

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

/// The tool, or a failure that says how to get it (the test script installs them all).
fn tool(name: &str) -> &str {
    let found = Command::new("sh").arg("-c").arg(format!("command -v {name}")).output().unwrap();
    assert!(found.status.success(), "`{name}` is missing: run ./scripts/test.sh, which installs it");
    name
}

/// A process killed when the test ends, however it ends.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `GET /api/v1/query?query=…` on Prometheus; its JSON answer.
fn query(prometheus: std::net::SocketAddr, promql: &str) -> serde_json::Value {
    let encoded = percent_encoding::utf8_percent_encode(promql, percent_encoding::NON_ALPHANUMERIC);
    let mut client = Client::connect(prometheus);
    client.send_raw(&request(
        "GET",
        &format!("/api/v1/query?query={encoded}"),
        "prometheus",
        &[("Connection", "close")],
        b"",
    ));
    let response = client.read_response();
    match status(&response) {
        // 503 while its storage starts
        503 => serde_json::json!({"status": "starting"}),
        _ => response.json(),
    }
}

/// Polls `promql` until it returns at least one sample.
fn wait_for_samples(prometheus: std::net::SocketAddr, promql: &str) -> serde_json::Value {
    let deadline = Instant::now() + Duration::from_secs(40);
    loop {
        let answer = query(prometheus, promql);
        if answer["data"]["result"].as_array().is_some_and(|r| !r.is_empty()) {
            return answer;
        }
        assert!(Instant::now() < deadline, "Prometheus never had `{promql}`: {answer}");
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// Every `expr` of a Grafana dashboard, wherever it sits.
fn expressions(value: &serde_json::Value, out: &mut Vec<String>) {
    match value {
        serde_json::Value::Object(members) => {
            if let Some(serde_json::Value::String(expr)) = members.get("expr") {
                out.push(expr.clone());
            }
            members.values().for_each(|member| expressions(member, out));
        }
        serde_json::Value::Array(items) => items.iter().for_each(|item| expressions(item, out)),
        _ => {}
    }
}

#[test]
fn prometheus_scrapes_the_gateway_and_the_rules_and_dashboard_evaluate() {
    let (prometheus_bin, promtool) = (tool("prometheus"), tool("promtool"));
    let upstream = Upstream::start().route("/broken", 503, "{}");
    let gateway = Gateway::start(upstream.addr);
    assert_eq!(
        status(&gateway.post_json("globex.example.test", "/api/v2/clients", r#"{"is_first_party":false}"#)),
        200
    );
    assert_eq!(status(&gateway.send(&request("GET", "/broken", "globex.example.test", &[], b""))), 503);

    // the exposition is valid Prometheus text
    let metrics = gateway.admin_get("/metrics").unwrap().body_text();
    let mut check = Command::new(promtool)
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(check.stdin.as_mut().unwrap(), metrics.as_bytes()).unwrap();
    let checked = check.wait_with_output().unwrap();
    assert!(checked.status.success(), "promtool check metrics: {}", String::from_utf8_lossy(&checked.stdout));

    // the shipped rules pass promtool, and their unit tests cover every alert
    let rules = repo("config/prometheus/alerts.yml");
    let out = Command::new(promtool).args(["check", "rules"]).arg(&rules).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stdout));
    let out =
        Command::new(promtool).args(["test", "rules"]).arg(repo("config/prometheus/alerts.test.yml")).output().unwrap();
    assert!(out.status.success(), "{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    let rules_text = std::fs::read_to_string(&rules).unwrap();
    let tests_text = std::fs::read_to_string(repo("config/prometheus/alerts.test.yml")).unwrap();
    for alert in rules_text.lines().filter_map(|line| line.trim().strip_prefix("- alert: ")) {
        assert!(tests_text.contains(&format!("alertname: {alert}")), "no promtool test fires {alert}");
    }

    // a real Prometheus scrapes the admin listener, with the rules loaded
    let dir = tempfile::tempdir().unwrap();
    let web = free_addr();
    let config = format!(
        "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nrule_files:\n  - {}\nscrape_configs:\n  - job_name: modegate\n    static_configs:\n      - targets: ['{}']\n",
        rules.display(),
        gateway.admin
    );
    std::fs::write(dir.path().join("prometheus.yml"), config).unwrap();
    let log = std::fs::File::create(dir.path().join("prometheus.log")).unwrap();
    let _prometheus = Running(
        Command::new(prometheus_bin)
            .arg(format!("--config.file={}", dir.path().join("prometheus.yml").display()))
            .arg(format!("--storage.tsdb.path={}", dir.path().join("data").display()))
            .arg(format!("--web.listen-address={web}"))
            .arg("--log.level=warn")
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap(),
    );
    crate::support::gateway::wait_for_port(web);
    let up = wait_for_samples(web, "up{job=\"modegate\"} == 1");
    assert_eq!(up["data"]["result"][0]["metric"]["instance"], gateway.admin.to_string());
    for promql in [
        "modegate_requests_total{route=\"clients_create\",decision=\"inject\"}",
        "modegate_upstream_responses_total{route=\"passthrough\",class=\"5xx\"} >= 1",
        "modegate_upstream_errors_total{kind=\"connect_refused\"} == 0",
        "process_resident_memory_bytes > 0",
        "modegate_config_last_reload_success_timestamp_seconds > 0",
    ] {
        wait_for_samples(web, promql);
    }
    // every dashboard query is valid PromQL and finds series (the variables Grafana fills in
    // are given values)
    let dashboard: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(repo("config/grafana/modegate.json")).unwrap()).unwrap();
    let mut exprs = Vec::new();
    expressions(&dashboard, &mut exprs);
    assert!(exprs.len() >= 20, "the dashboard has its queries");
    // a rate needs two scrapes in its window
    std::thread::sleep(Duration::from_secs(3));
    for expr in &exprs {
        let promql = expr.replace("$__rate_interval", "1m").replace("$instance", ".*");
        let answer = query(web, &promql);
        assert_eq!(answer["status"], "success", "{expr}: {answer}");
    }
    let metric_names = ["modegate_requests_total", "modegate_request_duration_seconds_bucket", "process_open_fds"];
    for name in metric_names {
        assert!(exprs.iter().any(|e| e.contains(name)), "the dashboard shows {name}");
    }
    // the rules Prometheus loaded evaluate without error
    let mut client = Client::connect(web);
    client.send_raw(&request("GET", "/api/v1/rules", "prometheus", &[("Connection", "close")], b""));
    let loaded = client.read_response().json();
    let rules: Vec<&serde_json::Value> =
        loaded["data"]["groups"].as_array().unwrap().iter().flat_map(|g| g["rules"].as_array().unwrap()).collect();
    assert_eq!(rules.len(), rules_text.matches("- alert: ").count(), "{loaded}");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let mut client = Client::connect(web);
        client.send_raw(&request("GET", "/api/v1/rules", "prometheus", &[("Connection", "close")], b""));
        let loaded = client.read_response().json();
        let health: Vec<String> = loaded["data"]["groups"][0]["rules"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| format!("{}={}", r["name"], r["health"]))
            .collect();
        if health.iter().all(|h| h.ends_with("=\"ok\"")) {
            break;
        }
        assert!(Instant::now() < deadline, "rules did not all evaluate: {health:?}");
        std::thread::sleep(Duration::from_millis(250));
    }
}

#[test]
fn the_systemd_unit_verifies() {
    let analyze = tool("systemd-analyze");
    let dir = tempfile::tempdir().unwrap();
    // the unit names its documentation: the man page modegate prints, installed here
    let man1 = dir.path().join("man/man1");
    std::fs::create_dir_all(&man1).unwrap();
    let page = Command::new(env!("CARGO_BIN_EXE_modegate")).arg("man").output().unwrap();
    assert!(page.status.success());
    std::fs::write(man1.join("modegate.1"), &page.stdout).unwrap();
    // the unit as shipped, pointing at this build's binary
    let unit = std::fs::read_to_string(repo("config/systemd/modegate.service")).unwrap();
    for expected in
        ["Restart=on-failure", "ExecReload=/bin/kill -HUP $MAINPID", "User=modegate", "ProtectSystem=strict"]
    {
        assert!(unit.contains(expected), "the unit has {expected}");
    }
    let unit = unit.replace("/usr/local/bin/modegate", env!("CARGO_BIN_EXE_modegate"));
    let path = dir.path().join("modegate.service");
    std::fs::write(&path, unit).unwrap();
    let out = Command::new(analyze).arg("verify").arg(&path).env("MANPATH", dir.path().join("man")).output().unwrap();
    let said = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success() && !said.contains("modegate.service:"), "systemd-analyze verify:\n{said}");
}

#[test]
fn completions_and_the_man_page_come_from_the_command_line_definitions() {
    let run = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_modegate")).args(args).output().unwrap();
        assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap()
    };
    let bash = run(&["completions", "bash"]);
    for subcommand in ["run", "check", "decide", "clients", "completions", "man"] {
        assert!(bash.contains(subcommand), "bash completes `{subcommand}`");
    }
    let mut syntax = Command::new(tool("bash")).arg("-n").stdin(Stdio::piped()).spawn().unwrap();
    std::io::Write::write_all(syntax.stdin.as_mut().unwrap(), bash.as_bytes()).unwrap();
    assert!(syntax.wait().unwrap().success(), "the bash script parses");
    assert!(run(&["completions", "zsh"]).starts_with("#compdef modegate"));
    assert!(run(&["completions", "fish"]).contains("complete -c modegate"));
    let man = run(&["man"]);
    assert!(man.contains(".TH modegate 1"), "{man}");
    assert!(man.contains("completions") && man.contains("check"), "the page lists the subcommands");
}
