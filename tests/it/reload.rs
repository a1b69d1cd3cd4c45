//! Live reload (SPEC §8) and process hand-over (SPEC §10): a valid change takes effect
//! without dropping connections, an invalid one is refused, and bounded loopback load sees
//! no failed request across reloads and a graceful upgrade.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::support::gateway::TENANTS;
use crate::support::{Gateway, JSON, Upstream, request, status};

const PERMISSIVE: &str = r#"{"is_first_party":false,"third_party_security_mode":"permissive"}"#;

/// The test configuration with `cus_globex` made eligible.
fn make_globex_eligible(gateway: &Gateway) {
    let path = gateway.config_path();
    let text = std::fs::read_to_string(&path).unwrap();
    let changed = text.replacen(
        "[[customers]]\nid = \"cus_globex\"\n",
        "[[customers]]\nid = \"cus_globex\"\npermissive_eligible = true\n",
        1,
    );
    assert_ne!(text, changed);
    std::fs::write(&path, changed).unwrap();
}

#[track_caller]
fn wait_for(what: &str, limit: Duration, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !condition() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_valid_change_takes_effect_without_dropping_the_connection() {
    let upstream = Upstream::start();
    let gateway = Gateway::start(upstream.addr);
    let mut client = gateway.client();
    let send = |client: &mut crate::support::Client| {
        client.send_raw(&request("POST", "/api/v2/clients", "globex.example.test", &[JSON], PERMISSIVE.as_bytes()));
        client.read_response()
    };
    assert_eq!(status(&send(&mut client)), 400);
    make_globex_eligible(&gateway);
    let answer = gateway.admin_reload();
    assert_eq!(status(&answer), 200, "{}", answer.body_text());
    assert_eq!(answer.json()["generation"], 2);
    // the same keep-alive connection now sees the new policy
    assert_eq!(status(&send(&mut client)), 200);
    assert_eq!(upstream.single().body_text(), PERMISSIVE);
    assert_eq!(gateway.metric("modegate_config_generation"), 2.0);
    assert_eq!(gateway.metric("modegate_config_reloads_total{result=\"ok\"}"), 1.0);
}

#[test]
fn an_invalid_change_is_refused_and_the_old_configuration_stays() {
    let upstream = Upstream::start();
    let gateway = Gateway::start(upstream.addr);
    let path = gateway.config_path();
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, text.replace("customer = \"cus_globex\"", "customer = \"cus_nobody\"")).unwrap();
    let answer = gateway.admin_reload();
    assert_eq!(status(&answer), 400);
    assert!(answer.body_text().contains("customer `cus_nobody` is not defined"), "{}", answer.body_text());
    // the file watcher (a one-second poll) may see the change and refuse it too
    assert!(gateway.metric("modegate_config_reloads_total{result=\"error\"}") >= 1.0);
    assert_eq!(gateway.metric("modegate_config_generation"), 1.0);
    // the running rules still apply
    let response = gateway.post_json("globex.example.test", "/api/v2/clients", PERMISSIVE);
    assert_eq!(response.header("x-modegate-reason"), Some("permissive_not_eligible"));
    upstream.assert_untouched();
    assert!(gateway.logs().contains("refused"), "the failed reload is logged");
}

#[test]
fn sighup_and_a_file_change_reload() {
    let upstream = Upstream::start();
    let mut gateway = Gateway::start(upstream.addr);
    make_globex_eligible(&gateway);
    // the file watcher may see the change first; either way one reload happens
    gateway.signal("-HUP");
    wait_for("a reload", Duration::from_secs(5), || gateway.metric("modegate_config_generation") >= 2.0);
    assert_eq!(status(&gateway.post_json("globex.example.test", "/api/v2/clients", PERMISSIVE)), 200);
    // a later change of the file alone is picked up by the watcher
    let path = gateway.config_path();
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, text.replace("permissive_eligible = true\n", "")).unwrap();
    let generation = gateway.metric("modegate_config_generation");
    wait_for("the file watcher", Duration::from_secs(5), || gateway.metric("modegate_config_generation") > generation);
    assert_eq!(status(&gateway.post_json("globex.example.test", "/api/v2/clients", PERMISSIVE)), 400);
    assert!(gateway.wait_exit(Duration::from_millis(10)).is_none(), "SIGHUP must not end the process");
}

/// Sends requests on fresh connections until `stop`, each checked; returns (sent, failed).
fn load(gateway_addr: std::net::SocketAddr, stop: Arc<AtomicBool>, limit: usize) -> (usize, Vec<String>) {
    let mut sent = 0;
    let mut failures = Vec::new();
    while !stop.load(Ordering::Acquire) && sent < limit {
        let (raw, expected) = if sent % 2 == 0 {
            (request("GET", "/authorize", "globex.example.test", &[("Connection", "close")], b""), 200)
        } else {
            (
                request(
                    "POST",
                    "/api/v2/clients",
                    "globex.example.test",
                    &[JSON, ("Connection", "close")],
                    br#"{"is_first_party":false}"#,
                ),
                200,
            )
        };
        sent += 1;
        let result = std::panic::catch_unwind(|| {
            let mut client = crate::support::Client::connect(gateway_addr);
            client.send_raw(&raw);
            status(&client.read_response())
        });
        match result {
            Ok(code) if code == expected => {}
            Ok(code) => failures.push(format!("request {sent}: status {code}")),
            Err(_) => failures.push(format!("request {sent}: no answer")),
        }
    }
    (sent, failures)
}

#[test]
fn no_request_fails_across_reloads() {
    let upstream = Upstream::start();
    let gateway = Gateway::start(upstream.addr);
    let stop = Arc::new(AtomicBool::new(false));
    let addr = gateway.addr;
    let runner = {
        let stop = Arc::clone(&stop);
        std::thread::spawn(move || load(addr, stop, 5_000))
    };
    for _ in 0..5 {
        std::thread::sleep(Duration::from_millis(100));
        assert_eq!(status(&gateway.admin_reload()), 200);
    }
    std::thread::sleep(Duration::from_millis(100));
    stop.store(true, Ordering::Release);
    let (sent, failures) = runner.join().unwrap();
    eprintln!("reload under load: {sent} requests, {} failed, 5 reloads", failures.len());
    assert!(sent > 20, "the load ran ({sent})");
    assert!(failures.is_empty(), "{failures:?}");
    assert_eq!(gateway.metric("modegate_config_generation"), 6.0);
}

#[test]
fn no_request_fails_across_a_graceful_upgrade() {
    let upstream = Upstream::start();
    // the new process takes the listening socket over by its configured address: a fixed port
    let listen = crate::support::free_addr();
    let sock = std::env::temp_dir().join(format!("modegate-test-upgrade-{}.sock", listen.port()));
    let server_extra = format!("upgrade_sock = \"{}\"\ngrace_period_s = 1", sock.display());
    let config = Gateway::config(&listen.to_string(), upstream.addr, &server_extra, "", TENANTS);
    let mut old = Gateway::start_config(&config);
    let stop = Arc::new(AtomicBool::new(false));
    let addr = old.addr;
    let runner = {
        let stop = Arc::clone(&stop);
        std::thread::spawn(move || load(addr, stop, 20_000))
    };
    std::thread::sleep(Duration::from_millis(200));
    // the new process waits for the sockets; SIGQUIT makes the old one hand them over
    let mut new = old.spawn_upgrade();
    std::thread::sleep(Duration::from_millis(500));
    old.signal("-QUIT");
    let exited = old.wait_exit(Duration::from_secs(20));
    assert!(exited.is_some(), "the old process exits after handing over:\n{}", old.logs());
    // the new process alone serves for a while
    std::thread::sleep(Duration::from_millis(300));
    stop.store(true, Ordering::Release);
    let (sent, failures) = runner.join().unwrap();
    eprintln!("graceful upgrade under load: {sent} requests, {} failed", failures.len());
    assert!(failures.is_empty(), "{failures:?}\nold:\n{}\nnew:\n{}", old.logs(), new.logs());
    assert!(sent > 50, "the load ran ({sent})");
    new.read_addresses();
    assert_eq!(new.addr, listen, "the new process serves on the socket it took over");
    assert_eq!(
        status(&new.post_json("globex.example.test", "/api/v2/clients", PERMISSIVE)),
        400,
        "the new process enforces"
    );
    assert_eq!(status(&new.admin_get("/readyz").unwrap()), 200);
}
