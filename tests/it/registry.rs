//! The client registry (SPEC §12, §14) with real processes: the binary, the reference server
//! playing a legacy upstream that drops `third_party_security_mode`, and redis-server.

use std::time::{Duration, Instant};

use crate::support::gateway::TENANTS;
use crate::support::redis::Redis;
use crate::support::reference::Reference;
use crate::support::{Gateway, JSON, Message, Upstream, request, status};

const HOST: &str = "globex.example.test";

fn send_with(gateway: &Gateway, method: &str, path: &str, token: &str, body: &str) -> Message {
    let bearer = format!("Bearer {token}");
    gateway.send(&request(method, path, HOST, &[JSON, ("Authorization", &bearer)], body.as_bytes()))
}

/// A gateway in front of `upstream` with `clients` (a `[clients]` table) and the tenants.
fn gateway(upstream: std::net::SocketAddr, clients: &str, tenants: &str) -> Gateway {
    Gateway::start_with(upstream, "", "", &format!("{clients}\n{tenants}"))
}

/// A tenant whose strict DCR clients the upstream never hears the mode of.
const QUIET_DCR: &str = r#"
[[customers]]
id = "cus_new"
[[tenants]]
id = "globex"
customer = "cus_new"
hosts = ["globex.example.test"]
inject_dcr_mode = false
dcr_rate_per_s = 1000
dcr_burst = 1000
default_api_permissions = [{ audience = "https://api.globex.test", scopes = ["read:orders"] }]
"#;

/// SPEC §12: the member-dropping upstream forgets the mode; the embedded registry does not,
/// across a restart. The same run with `store = "memory"` lets the change through, which is
/// what the registry is for.
#[test]
fn a_strict_client_stays_strict_across_a_restart_against_a_mode_dropping_upstream() {
    let reference = Reference::start(&[HOST], &["--drop-mode"]);
    let token = reference.token(HOST);
    for (store, refused) in [("embedded", true), ("memory", false)] {
        let mut gateway = gateway(reference.addr, &format!("[clients]\nstore = \"{store}\""), QUIET_DCR);
        let created =
            send_with(&gateway, "POST", "/api/v2/clients", &token, r#"{"name":"app","is_first_party":false}"#);
        assert_eq!(status(&created), 201, "{}", created.body_text());
        let id = created.json()["client_id"].as_str().unwrap().to_owned();
        let stored = reference.get(HOST, &format!("/api/v2/clients/{id}"), &token).json();
        assert!(stored.get("third_party_security_mode").is_none(), "the upstream dropped the mode: {stored}");
        let registered = send_with(
            &gateway,
            "POST",
            "/oidc/register",
            "unused",
            r#"{"client_name":"dcr","redirect_uris":["https://a.test/cb"]}"#,
        );
        assert_eq!(status(&registered), 201, "{}", registered.body_text());
        let dcr_id = registered.json()["client_id"].as_str().unwrap().to_owned();

        gateway.restart(false);
        let flip = send_with(
            &gateway,
            "PATCH",
            &format!("/api/v2/clients/{id}"),
            &token,
            r#"{"third_party_security_mode":"permissive"}"#,
        );
        let sso = send_with(&gateway, "PATCH", &format!("/api/v2/clients/{dcr_id}"), &token, r#"{"sso":true}"#);
        if refused {
            assert_eq!(status(&flip), 400, "{}", flip.body_text());
            assert_eq!(flip.header("x-modegate-reason"), Some("mode_immutable"));
            assert_eq!(status(&sso), 400, "{}", sso.body_text());
            assert_eq!(sso.header("x-modegate-reason"), Some("strict_profile"));
            let (code, out, _) = gateway.command(&["clients", "get", &id]);
            assert!(code.success());
            let entry: serde_json::Value = serde_json::from_str(&out).unwrap();
            assert_eq!(
                (entry["third_party_security_mode"].as_str(), entry["origin"].as_str()),
                (Some("strict"), Some("created"))
            );
        } else {
            // the lookup after a restart reads a third-party client without a mode: permissive
            assert_eq!(status(&flip), 200, "memory forgets: {}", flip.body_text());
            assert_eq!(status(&sso), 200, "memory forgets: {}", sso.body_text());
        }
    }
}

/// SPEC §14: replicas on one Redis share the registry: created through A, refused through B
/// without a lookup upstream; and a 2xx DELETE through B forgets it for A.
#[test]
fn replicas_on_one_redis_share_the_registry() {
    let redis = Redis::start();
    let upstream = Upstream::start().route("/api/v2/clients", 201, r#"{"client_id":"shared1","is_first_party":false}"#);
    let a = gateway(upstream.addr, &redis.clients_table(), TENANTS);
    let b = gateway(upstream.addr, &redis.clients_table(), TENANTS);
    assert_eq!(status(&a.post_json(HOST, "/api/v2/clients", r#"{"is_first_party":false}"#)), 201);
    let flip = b.send(&request(
        "PATCH",
        "/api/v2/clients/shared1",
        HOST,
        &[JSON],
        br#"{"third_party_security_mode":"permissive"}"#,
    ));
    assert_eq!(status(&flip), 400, "{}", flip.body_text());
    assert_eq!(flip.header("x-modegate-reason"), Some("mode_immutable"));
    assert_eq!(upstream.hits("/api/v2/clients/shared1"), 0, "no lookup: B read the registry");
    let stored: Option<String> = redis.query(redis::cmd("GET").arg("modegate:client:globex\u{1f}shared1"));
    assert!(stored.is_some_and(|s| s.contains("\"strict\"")));
    upstream.set_route("/api/v2/clients/shared1", 204, "");
    assert_eq!(status(&b.send(&request("DELETE", "/api/v2/clients/shared1", HOST, &[], b""))), 204);
    let gone: Option<String> = redis.query(redis::cmd("GET").arg("modegate:client:globex\u{1f}shared1"));
    assert_eq!(gone, None, "a 2xx DELETE removes the entry");
}

/// SPEC §12 faults: with Redis down, creations still succeed (their writes queued), updates
/// fall back to lookups, and the queued writes land once Redis is back.
#[test]
fn a_redis_outage_loses_no_creation() {
    let mut redis = Redis::start();
    let upstream = Upstream::start();
    let gateway = gateway(upstream.addr, &redis.clients_table(), TENANTS);
    redis.stop();
    let created = 5;
    for n in 0..created {
        upstream.set_route("/api/v2/clients", 201, &format!(r#"{{"client_id":"down{n}","is_first_party":false}}"#));
        let response = gateway.post_json(HOST, "/api/v2/clients", r#"{"is_first_party":false}"#);
        assert_eq!(status(&response), 201, "a creation succeeds while Redis is down");
    }
    let queued = gateway.metric("modegate_registry_writes_total{result=\"queued\"}");
    let ready = gateway.admin_get("/readyz").unwrap();
    assert_eq!(status(&ready), 200, "a store outage does not make the gateway unready");
    assert!(ready.body_text().contains("unavailable"), "{}", ready.body_text());
    // an update of a client this replica did not create asks the upstream
    upstream.set_route(
        "/api/v2/clients/other",
        200,
        r#"{"is_first_party":false,"third_party_security_mode":"strict"}"#,
    );
    let update = gateway.send(&request("PATCH", "/api/v2/clients/other", HOST, &[JSON], br#"{"name":"x"}"#));
    assert_eq!(status(&update), 200, "{}", update.body_text());
    assert_eq!(upstream.hits("/api/v2/clients/other"), 2, "the lookup, then the update");
    redis.start_again();
    let deadline = Instant::now() + Duration::from_secs(15);
    let replayed = loop {
        let keys: Vec<String> = redis.query(redis::cmd("KEYS").arg("modegate:client:globex\u{1f}down*"));
        if keys.len() == created || Instant::now() > deadline {
            break keys.len();
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    eprintln!(
        "redis outage: {created} creations answered 201, {queued} writes queued, {replayed} replayed, fallback lookups {}",
        upstream.hits("/api/v2/clients/other") - 1
    );
    assert!(queued >= created as f64, "{queued}");
    assert_eq!(replayed, created, "every queued write lands when Redis returns");
    assert_eq!(gateway.wait_metric("modegate_registry_retry_queue", 0.0), 0.0);
}

/// SPEC §12: every creation whose 201 reached the client survives `kill -9`.
#[test]
fn kill_9_during_a_burst_loses_no_answered_creation() {
    let upstream = Upstream::start();
    let mut gateway = gateway(upstream.addr, "", TENANTS);
    let addr = gateway.addr;
    let answered = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let burst = {
        let answered = std::sync::Arc::clone(&answered);
        let upstream_ids = (0..400).map(|n| format!("burst{n:04}")).collect::<Vec<_>>();
        let upstream = upstream.clone();
        std::thread::spawn(move || {
            for id in upstream_ids {
                upstream.set_route(
                    "/api/v2/clients",
                    201,
                    &format!(r#"{{"client_id":"{id}","is_first_party":false}}"#),
                );
                let result = std::panic::catch_unwind(|| {
                    let mut client = crate::support::Client::connect(addr);
                    client.send_raw(&request("POST", "/api/v2/clients", HOST, &[JSON], br#"{"is_first_party":false}"#));
                    client.try_read_response()
                });
                match result {
                    Ok(Ok(response)) if status(&response) == 201 => answered.lock().unwrap().push(id),
                    _ => break,
                }
            }
        })
    };
    std::thread::sleep(Duration::from_millis(400));
    gateway.restart(true);
    burst.join().unwrap();
    let answered = answered.lock().unwrap().clone();
    let (code, out, err) = gateway.command(&["clients", "list", "--tenant", "globex"]);
    assert!(code.success(), "{err}");
    let stored: Vec<String> = out
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter_map(|e| e["client_id"].as_str().map(str::to_owned))
        .collect();
    let missing: Vec<&String> = answered.iter().filter(|id| !stored.contains(id)).collect();
    eprintln!(
        "kill -9 during a burst: {} creations answered 201, {} in the registry, {} missing",
        answered.len(),
        stored.len(),
        missing.len()
    );
    assert!(answered.len() >= 5, "the burst ran before the kill ({})", answered.len());
    assert!(missing.is_empty(), "answered but not stored: {missing:?}");
}

/// SPEC §12: `clients import` pages through the upstream, twice without change, and reports
/// a conflict with what the gateway saw created.
#[test]
fn clients_import_of_5000_is_idempotent_and_reports_conflicts() {
    let reference = Reference::start(&[HOST], &["--seed-clients", "5000"]);
    let token = reference.token(HOST);
    let gateway = gateway(reference.addr, "", TENANTS);
    // a client the gateway saw created strict, which the upstream (edited behind its back) says is permissive
    let created = send_with(&gateway, "POST", "/api/v2/clients", &token, r#"{"is_first_party":false}"#);
    assert_eq!(status(&created), 201);
    let id = created.json()["client_id"].as_str().unwrap().to_owned();
    let planted = reference_patch(&reference, &id, &token);
    assert_eq!(status(&planted), 200);
    let import = |label: &str| {
        let started = Instant::now();
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_modegate"))
            .args(["clients", "import", "--tenant", "globex", "--config"])
            .arg(gateway.config_path())
            .env("MODEGATE_MANAGEMENT_TOKEN", &token)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&output.stderr).into_owned();
        eprintln!("{label} import in {:?}: {}", started.elapsed(), err.lines().last().unwrap_or_default());
        (output.status.code(), err)
    };
    let (code, first) = import("first");
    assert_eq!(code, Some(3), "a conflict makes the exit status 3:\n{first}");
    assert!(first.contains("5000 new, 0 already known, 0 replaced, 1 conflicts"), "{first}");
    assert!(first.contains(&format!("conflict: `{id}`")), "{first}");
    assert!(first.lines().filter(|l| l.starts_with("page ")).count() >= 50, "a line per page off a terminal");
    let (_, second) = import("second");
    assert!(second.contains("0 new, 5000 already known, 0 replaced, 1 conflicts"), "{second}");
    let (_, out, _) = gateway.command(&["clients", "list", "--tenant", "globex"]);
    assert_eq!(out.lines().count(), 5001);
    let (_, entry, _) = gateway.command(&["clients", "get", &id]);
    assert!(entry.contains("\"strict\"") && entry.contains("\"created\""), "the conflict left the entry: {entry}");
    // export, then import into another store: the entries move with their origins
    let export = gateway.dir().join("export.jsonl");
    std::fs::write(&export, &out).unwrap();
    let other = tempfile::tempdir().unwrap();
    let other_config = other.path().join("modegate.toml");
    std::fs::write(&other_config, std::fs::read_to_string(gateway.config_path()).unwrap()).unwrap();
    let moved = std::process::Command::new(env!("CARGO_BIN_EXE_modegate"))
        .args(["clients", "import", "--from"])
        .arg(&export)
        .arg("--config")
        .arg(&other_config)
        .output()
        .unwrap();
    assert!(moved.status.success(), "{}", String::from_utf8_lossy(&moved.stderr));
    assert!(String::from_utf8_lossy(&moved.stderr).contains("5001 new"));
}

fn reference_patch(reference: &Reference, id: &str, token: &str) -> Message {
    let mut client = crate::support::Client::connect(reference.addr);
    let bearer = format!("Bearer {token}");
    client.send_raw(&request(
        "PATCH",
        &format!("/api/v2/clients/{id}"),
        HOST,
        &[JSON, ("Authorization", &bearer)],
        br#"{"third_party_security_mode":"permissive"}"#,
    ));
    client.read_response()
}

/// SPEC §14: two replicas on one Redis hold the tenant's DCR limit together; without Redis
/// each holds its own.
#[test]
fn two_replicas_hold_one_dcr_limit_through_redis() {
    let redis = Redis::start();
    let upstream = Upstream::start().route("/oidc/register", 201, r#"{"client_id":"d"}"#);
    let tenants = r#"
[[customers]]
id = "c"
permissive_eligible = true
[[tenants]]
id = "globex"
customer = "c"
hosts = ["globex.example.test"]
dcr_security_mode = "permissive"
dcr_rate_per_s = 1
dcr_burst = 4
"#;
    let count = |a: &Gateway, b: &Gateway| {
        let mut allowed = 0;
        let mut retry_after = None;
        for n in 0..10 {
            let gateway = if n % 2 == 0 { a } else { b };
            let response = gateway.post_json(HOST, "/oidc/register", r#"{"redirect_uris":["https://a.test/cb"]}"#);
            match status(&response) {
                201 => allowed += 1,
                429 => {
                    assert_eq!(response.json()["error"], "too_many_requests");
                    retry_after = response.header("retry-after").map(str::to_owned);
                }
                other => panic!("unexpected {other}: {}", response.body_text()),
            }
        }
        (allowed, retry_after)
    };
    let (shared_a, shared_b) = (
        gateway(upstream.addr, &redis.clients_table(), tenants),
        gateway(upstream.addr, &redis.clients_table(), tenants),
    );
    let (shared, retry_after) = count(&shared_a, &shared_b);
    let (local_a, local_b) = (
        gateway(upstream.addr, "[clients]\nstore = \"memory\"", tenants),
        gateway(upstream.addr, "[clients]\nstore = \"memory\"", tenants),
    );
    let (local, _) = count(&local_a, &local_b);
    eprintln!("DCR burst of 10 over two replicas, burst 4: {shared} allowed through Redis, {local} without");
    assert!((4..=5).contains(&shared), "one bucket for both replicas: {shared}");
    assert!((8..=10).contains(&local), "a bucket per replica: {local}");
    assert_eq!(retry_after.as_deref(), Some("1"));
    assert!(
        shared_a.metric("modegate_dcr_rate_limited_total{scope=\"shared\"}")
            + shared_b.metric("modegate_dcr_rate_limited_total{scope=\"shared\"}")
            >= 5.0
    );
}

/// SPEC §12: a creation's answer waits for its registry write, but the thread serving it
/// does not. One thread, no work stealing, a frozen Redis: a passthrough request sent while
/// the creation waits is answered first (the wait used to hold the thread, and with it every
/// request on it, until the store gave up: Redis's own timeout, bounded by `WRITE_WAIT`).
#[test]
fn a_creation_waiting_for_its_write_holds_only_its_own_answer() {
    let redis = Redis::start();
    let upstream = Upstream::start().route("/api/v2/clients", 201, r#"{"client_id":"held1","is_first_party":false}"#);
    let gateway = Gateway::start_with(
        upstream.addr,
        "work_stealing = false",
        "",
        &format!("{}\n{TENANTS}", redis.clients_table()),
    );
    redis.pause(true);
    let finished = std::sync::Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        scope.spawn(|| {
            let response = gateway.post_json(HOST, "/api/v2/clients", r#"{"is_first_party":false}"#);
            finished.lock().unwrap().push(("creation", status(&response)));
        });
        let deadline = Instant::now() + Duration::from_secs(5);
        while upstream.hits("/api/v2/clients") == 0 {
            assert!(Instant::now() < deadline, "the creation reached the upstream");
            std::thread::sleep(Duration::from_millis(5));
        }
        let response = gateway.send(&request("GET", "/userinfo", HOST, &[], b""));
        finished.lock().unwrap().push(("passthrough", status(&response)));
    });
    redis.pause(false);
    let finished = finished.into_inner().unwrap();
    eprintln!("frozen Redis, one thread: answered in this order {finished:?}");
    assert_eq!(finished, vec![("passthrough", 200), ("creation", 201)]);
}

/// SPEC §11, §12: a Redis that accepts connections and answers nothing (`kill -STOP`) costs
/// a creation a bounded wait; every other route is unaffected and `/readyz` still answers.
#[test]
fn a_frozen_redis_stalls_nothing() {
    let redis = Redis::start();
    let upstream = Upstream::start().route("/api/v2/clients", 201, r#"{"client_id":"frozen1","is_first_party":false}"#);
    let gateway = gateway(upstream.addr, &redis.clients_table(), TENANTS);
    redis.pause(true);
    let timed = |what: &str, call: &dyn Fn() -> u16| {
        let started = Instant::now();
        let code = call();
        let took = started.elapsed();
        eprintln!("frozen Redis: {what} answered {code} in {took:?}");
        assert!(took < Duration::from_secs(3), "{what} took {took:?}");
        code
    };
    let create = || status(&gateway.post_json(HOST, "/api/v2/clients", r#"{"is_first_party":false}"#));
    assert_eq!(timed("a creation", &create), 201);
    assert_eq!(timed("a second creation", &create), 201);
    let token = || status(&gateway.send(&request("POST", "/userinfo", HOST, &[], b"")));
    assert_eq!(timed("a passthrough request", &token), 200);
    let ready = || gateway.admin_get("/readyz").map_or(0, |r| status(&r));
    assert_eq!(timed("/readyz", &ready), 200);
    redis.pause(false);
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let stored: Option<String> = redis.query(redis::cmd("GET").arg("modegate:client:globex\u{1f}frozen1"));
        if stored.is_some() {
            break;
        }
        assert!(Instant::now() < deadline, "the queued write lands once Redis thaws");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// SPEC §12: the new client's id reaches the caller only once the registry has it, even
/// when the upstream streams its answer: here a chunked 201 whose last chunk comes late. A
/// client reading the JSON as it arrives (or an answer cut short there) would otherwise
/// hold an id the registry never stored.
#[test]
fn a_streamed_creation_answer_holds_its_id_until_the_client_is_stored() {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let upstream_addr = listener.local_addr().unwrap();
    let (sent_json, json_sent) = std::sync::mpsc::channel();
    let (finish, finished) = std::sync::mpsc::channel::<()>();
    let upstream = std::thread::spawn(move || {
        let (mut writer, request) = accept_one_request(&listener);
        let json = r#"{"client_id":"chunky1"}"#;
        let head = "HTTP/1.1 201 Created\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n";
        write!(writer, "{head}{:x}\r\n{json}\r\n", json.len()).unwrap();
        sent_json.send(()).unwrap();
        finished.recv().unwrap();
        writer.write_all(b"0\r\n\r\n").unwrap();
        request
    });
    let gateway = gateway(upstream_addr, "", TENANTS);
    let mut client = std::net::TcpStream::connect(gateway.addr).unwrap();
    // DCR: no token, so the upstream is asked nothing else (no JWKS)
    let registration = br#"{"client_name":"chunky","redirect_uris":["https://a.test/cb"]}"#;
    client.write_all(&request("POST", "/oidc/register", HOST, &[JSON], registration)).unwrap();
    json_sent.recv_timeout(Duration::from_secs(10)).unwrap();
    // the gateway has the answer's head (and, in the same upstream write, the JSON chunk)
    let answered = gateway.wait_metric("modegate_upstream_responses_total{class=\"2xx\",route=\"dcr_register\"}", 1.0);
    assert_eq!(answered, 1.0);
    std::thread::sleep(Duration::from_millis(300));
    client.set_read_timeout(Some(Duration::from_millis(200))).unwrap();
    let mut early = Vec::new();
    let mut chunk = [0u8; 4096];
    while let Ok(n @ 1..) = client.read(&mut chunk) {
        early.extend_from_slice(&chunk[..n]);
    }
    let early = String::from_utf8_lossy(&early).into_owned();
    assert!(!early.contains("chunky1"), "the id reached the caller before the upstream's answer ended: {early:?}");
    finish.send(()).unwrap();
    client.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut rest = Vec::new();
    while !String::from_utf8_lossy(&rest).contains("0\r\n\r\n") {
        match client.read(&mut chunk) {
            Ok(0) | Err(_) => break,
            Ok(n) => rest.extend_from_slice(&chunk[..n]),
        }
    }
    let answer = early + &String::from_utf8_lossy(&rest);
    assert!(answer.starts_with("HTTP/1.1 201"), "{answer}");
    assert!(answer.contains(r#"{"client_id":"chunky1"}"#), "the body is whole: {answer}");
    upstream.join().unwrap();
    assert_eq!(gateway.metric("modegate_registry_writes_total{result=\"inserted\"}"), 1.0);
}

/// A creation's answer is read for the new client, so the upstream is asked for it
/// unencoded whatever the caller accepts (a gzipped answer would go unremembered).
#[test]
fn a_creation_asks_the_upstream_for_an_unencoded_answer() {
    let upstream = Upstream::start().route("/api/v2/clients", 201, r#"{"client_id":"plain1","is_first_party":false}"#);
    let gateway = gateway(upstream.addr, "", TENANTS);
    let headers = [JSON, ("Accept-Encoding", "gzip, br")];
    let response = gateway.send(&request("POST", "/api/v2/clients", HOST, &headers, br#"{"is_first_party":false}"#));
    assert_eq!(status(&response), 201, "{}", response.body_text());
    let received = upstream.single();
    assert_eq!(received.header("accept-encoding"), Some("identity"));
    assert_eq!(gateway.metric("modegate_registry_writes_total{result=\"inserted\"}"), 1.0);
    // passthrough keeps what the caller accepts
    let passthrough = gateway.send(&request("GET", "/userinfo", HOST, &[("Accept-Encoding", "gzip")], b""));
    assert_eq!(status(&passthrough), 200);
    let last = upstream.requests().pop().unwrap();
    assert_eq!(last.header("accept-encoding"), Some("gzip"));
}

/// SPEC §12: writes queued while the store failed (their answers went out) are not lost to
/// a graceful stop: SIGTERM waits a bounded time for the store to take them, even with no
/// grace period for requests.
#[test]
fn a_graceful_stop_waits_for_writes_queued_while_the_store_failed() {
    let upstream = Upstream::start();
    let mut gateway = Gateway::start_with(upstream.addr, "grace_period_s = 0", "", TENANTS);
    // another writer holds the embedded store's lock, as a backup or a stuck disk would
    let lock = rusqlite::Connection::open(gateway.dir().join("modegate-clients.db")).unwrap();
    lock.execute_batch("BEGIN IMMEDIATE").unwrap();
    let ids: Vec<String> = (0..3).map(|n| format!("drained{n}")).collect();
    for id in &ids {
        upstream.set_route("/api/v2/clients", 201, &format!(r#"{{"client_id":"{id}","is_first_party":false}}"#));
        let response = gateway.post_json(HOST, "/api/v2/clients", r#"{"is_first_party":false}"#);
        assert_eq!(status(&response), 201, "the store's faults do not fail a creation");
    }
    assert_eq!(gateway.wait_metric("modegate_registry_retry_queue", 3.0), 3.0, "the writes wait for the store");
    gateway.signal("-TERM");
    std::thread::sleep(Duration::from_millis(500));
    lock.execute_batch("ROLLBACK").unwrap();
    drop(lock);
    let exit = gateway.wait_exit(Duration::from_secs(15));
    assert!(exit.is_some(), "the gateway stops");
    let (code, out, err) = gateway.command(&["clients", "list", "--tenant", "globex"]);
    assert!(code.success(), "{err}");
    let missing: Vec<&String> = ids.iter().filter(|id| !out.contains(&format!("\"{id}\""))).collect();
    assert!(missing.is_empty(), "lost at a graceful stop: {missing:?}\n{}", gateway.logs());
}

/// A 200/201 creation answer the gateway cannot read reaches the caller unchanged, and the
/// client it names goes unremembered: logged and counted, not silent.
#[test]
fn an_unreadable_creation_answer_is_counted() {
    let upstream = Upstream::start().route("/api/v2/clients", 201, "created");
    let gateway = gateway(upstream.addr, "", TENANTS);
    let response = gateway.post_json(HOST, "/api/v2/clients", r#"{"is_first_party":false}"#);
    assert_eq!((status(&response), response.body_text()), (201, "created".to_owned()));
    assert_eq!(gateway.wait_metric("modegate_registry_writes_total{result=\"unreadable\"}", 1.0), 1.0);
    assert_eq!(gateway.metric("modegate_registry_writes_total{result=\"inserted\"}"), 0.0);
    assert!(gateway.logs().contains("cannot be read (not JSON)"), "{}", gateway.logs());
    // an id the registry cannot keep (empty, over 256 bytes, control characters) likewise
    let long = "x".repeat(257);
    for id in ["", long.as_str(), "tab\there"] {
        upstream.set_route("/api/v2/clients", 201, &serde_json::json!({ "client_id": id }).to_string());
        assert_eq!(status(&gateway.post_json(HOST, "/api/v2/clients", r#"{"is_first_party":false}"#)), 201);
    }
    assert_eq!(gateway.wait_metric("modegate_registry_writes_total{result=\"unreadable\"}", 4.0), 4.0);
    assert_eq!(gateway.metric("modegate_registry_writes_total{result=\"inserted\"}"), 0.0);
}

/// A `tpc_` id is kept in lowercase (the gateway reads its prefix in any case);
/// `clients get` finds it however it is spelled.
#[test]
fn clients_get_finds_a_tpc_id_in_any_case() {
    let upstream = Upstream::start().route("/oidc/register", 201, r#"{"client_id":"TPC_MiXeD1"}"#);
    let gateway = gateway(upstream.addr, "", TENANTS);
    let registration = r#"{"client_name":"mixed","redirect_uris":["https://a.test/cb"]}"#;
    assert_eq!(status(&gateway.post_json(HOST, "/oidc/register", registration)), 201);
    for spelling in ["TPC_MiXeD1", "tpc_mixed1"] {
        let (code, out, err) = gateway.command(&["clients", "get", spelling]);
        assert!(code.success(), "{spelling}: {err}");
        assert!(out.contains("\"tpc_mixed1\""), "{out}");
    }
}

/// An upstream that answers a registration with `client_id` after `delay`, and a gateway
/// in front of it.
fn slow_registrar(client_id: &str, delay: Duration) -> (Upstream, Gateway) {
    let answer = format!(r#"{{"client_id":"{client_id}","is_first_party":false}}"#);
    let upstream = Upstream::start().delayed_route("/oidc/register", 201, &answer, delay);
    let gateway = gateway(upstream.addr, "", TENANTS);
    (upstream, gateway)
}

/// A caller that closes, or resets, its connection right after sending a registration does
/// not keep the new client from the registry: the gateway reads the upstream's answer on
/// and remembers the client. Before, Pingora stopped reading the upstream when the caller
/// left, and the client, unknown to the gateway, was later taken for one that predates
/// modes by the runtime rules.
#[test]
fn a_caller_that_leaves_before_its_answer_still_has_its_client_remembered() {
    use std::io::Write;
    let registration = br#"{"client_name":"leaver","redirect_uris":["https://a.test/cb"]}"#;
    for (leaving, reset) in [("closing", false), ("resetting", true), ("a stray CRLF, then closing", false)] {
        let (upstream, gateway) = slow_registrar("left1", Duration::from_millis(500));
        let mut caller = std::net::TcpStream::connect(gateway.addr).unwrap();
        caller.write_all(&request("POST", "/oidc/register", HOST, &[JSON], registration)).unwrap();
        let asked = Instant::now() + Duration::from_secs(5);
        while upstream.hits("/oidc/register") == 0 && Instant::now() < asked {
            std::thread::sleep(Duration::from_millis(10));
        }
        assert_eq!(upstream.hits("/oidc/register"), 1, "{leaving}: the upstream has the registration");
        if reset {
            socket2::SockRef::from(&caller).set_linger(Some(Duration::ZERO)).unwrap();
        }
        if leaving.starts_with("a stray") {
            // bytes past the body made Pingora give up the answer ("data after end of body")
            caller.write_all(b"\r\n").unwrap();
        }
        drop(caller);
        let inserted = gateway.wait_metric("modegate_registry_writes_total{result=\"inserted\"}", 1.0);
        assert_eq!(inserted, 1.0, "{leaving}: the client was remembered\n{}", gateway.logs());
        let (code, out, err) = gateway.command(&["clients", "get", "left1"]);
        assert!(code.success() && out.contains("\"strict\""), "{leaving}: {out}{err}");
        assert_eq!(gateway.metric("modegate_registry_writes_total{result=\"unreadable\"}"), 0.0, "{leaving}");
        // the gateway still serves, and the upstream was asked once
        assert_eq!(status(&gateway.send(&request("GET", "/userinfo", HOST, &[], b""))), 200, "{leaving}");
        assert_eq!(upstream.hits("/oidc/register"), 1, "{leaving}");
    }
    // a caller that stays after a stray CRLF gets its answer
    let (_upstream, gateway) = slow_registrar("stayed1", Duration::from_millis(300));
    let mut caller = gateway.client();
    caller.send_raw(&request("POST", "/oidc/register", HOST, &[JSON], registration));
    std::thread::sleep(Duration::from_millis(100));
    caller.send_raw(b"\r\n");
    let answer = caller.read_response();
    assert_eq!(status(&answer), 201, "{}", answer.body_text());
    assert!(answer.body_text().contains("stayed1"));
    assert_eq!(answer.header("connection"), Some("close"), "the connection closes after it, and says so");
    assert_eq!(gateway.wait_metric("modegate_registry_writes_total{result=\"inserted\"}", 1.0), 1.0);
}

/// The same over HTTP/2: a caller that drops its connection (curl giving up) after sending
/// a registration does not keep the new client from the registry. Pingora's proxy loop
/// ends the request when an HTTP/2 caller goes; the gateway exchanges an HTTP/2 creation
/// itself and answers the caller only once the client is stored. A caller that stays gets
/// the upstream's answer, and the upstream received exactly what HTTP/1 would have sent.
#[test]
fn an_http2_caller_that_leaves_before_its_answer_still_has_its_client_remembered() {
    let (pki, server_extra) = tls_listener("");
    let registration = r#"{"client_name":"leaver","redirect_uris":["https://a.test/cb"]}"#;
    let command = |tls: std::net::SocketAddr, max_time: &str| {
        let mut command = std::process::Command::new("curl");
        command
            .args(["-s", "--http2", "--max-time", max_time, "--cacert"])
            .arg(&pki.ca)
            .args(["--resolve", &format!("{HOST}:{}:127.0.0.1", tls.port())])
            .args(["-H", "Content-Type: application/json", "-d", registration, "-D", "-"])
            // hop-by-hop fields HTTP/2 lets through: Pingora drops them upstream, and so must this path
            .args(["-H", "Proxy-Authorization: Basic cHJveHk6c2VjcmV0", "-H", "TE: trailers"])
            .arg(format!("https://{HOST}:{}/oidc/register", tls.port()));
        command
    };
    let curl = |tls: std::net::SocketAddr, max_time: &str| {
        command(tls, max_time).output().expect("curl is installed by scripts/setup.sh")
    };
    let answer = r#"{"client_id":"h2left","is_first_party":false}"#;
    let upstream = Upstream::start().delayed_route("/oidc/register", 201, answer, Duration::from_millis(700));
    let gateway = Gateway::start_with(upstream.addr, &server_extra, "", TENANTS);
    let tls = gateway.tls.unwrap();
    // the caller goes (its connection dropped) once the upstream has the registration and
    // while it is still answering
    let mut caller = command(tls, "10").stdout(std::process::Stdio::piped()).spawn().expect("curl");
    let asked = Instant::now() + Duration::from_secs(10);
    while upstream.hits("/oidc/register") == 0 && Instant::now() < asked {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(upstream.hits("/oidc/register"), 1, "the upstream has the registration");
    caller.kill().unwrap();
    let gave_up = caller.wait_with_output().unwrap();
    assert!(gave_up.stdout.is_empty(), "{}", String::from_utf8_lossy(&gave_up.stdout));
    let inserted = gateway.wait_metric("modegate_registry_writes_total{result=\"inserted\"}", 1.0);
    assert_eq!(inserted, 1.0, "the client was remembered\n{}", gateway.logs());
    let (code, out, err) = gateway.command(&["clients", "get", "h2left"]);
    assert!(code.success() && out.contains("\"strict\"") && out.contains("\"dcr\""), "{out}{err}");
    assert_eq!(gateway.metric("modegate_registry_writes_total{result=\"unreadable\"}"), 0.0);

    // a caller that waits gets the answer whole, framed by its length
    upstream.set_route("/oidc/register", 201, r#"{"client_id":"h2stayed","is_first_party":false}"#);
    let stayed = curl(tls, "10");
    let text = String::from_utf8_lossy(&stayed.stdout);
    assert!(text.starts_with("HTTP/2 201"), "{text}");
    assert!(text.contains("content-length: 47"), "{text}");
    assert!(text.ends_with(r#"{"client_id":"h2stayed","is_first_party":false}"#), "{text}");
    assert_eq!(gateway.wait_metric("modegate_registry_writes_total{result=\"inserted\"}", 2.0), 2.0);
    let received = upstream.requests();
    let sent = received.last().unwrap();
    let authority = format!("{HOST}:{}", tls.port());
    assert_eq!(sent.header("host"), Some(authority.as_str()), "the `:authority` goes upstream as `Host`");
    assert_eq!(sent.header("content-length"), Some(sent.body.len().to_string().as_str()));
    assert_eq!(sent.header("accept-encoding"), Some("identity"), "the answer is asked unencoded");
    assert!(sent.header("x-forwarded-proto").is_some_and(|p| p == "https"), "SPEC §16 headers");
    let decided: serde_json::Value = serde_json::from_slice(&sent.body).unwrap();
    assert_eq!(decided["third_party_security_mode"], "strict", "the decided body: {decided}");
    for hop in ["proxy-authorization", "te", "connection", "transfer-encoding"] {
        assert_eq!(sent.header(hop), None, "`{hop}` is not forwarded");
    }

    // an upstream that is gone: the caller gets SPEC §11's 502, and the gateway serves on
    upstream.set_down(true);
    let refused = curl(tls, "10");
    let text = String::from_utf8_lossy(&refused.stdout);
    assert!(text.starts_with("HTTP/2 502"), "{text}");
    assert!(text.contains("upstream_unavailable"), "{text}");
    drop(gateway);

    // an upstream that answers 100, then a 201 whose body it cuts short: the caller gets a
    // 502 (nothing was written yet), and the client the upstream may have made is counted
    use std::io::Write;
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let cutter = listener.local_addr().unwrap();
    let upstream = std::thread::spawn(move || {
        let (mut writer, _request) = accept_one_request(&listener);
        let answer =
            "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 100\r\n\r\n{\"client_id\":\"h2cut\"";
        writer.write_all(answer.as_bytes()).unwrap();
    });
    let gateway = Gateway::start_with(cutter, &server_extra, "", TENANTS);
    let cut = curl(gateway.tls.unwrap(), "10");
    let text = String::from_utf8_lossy(&cut.stdout);
    assert!(text.starts_with("HTTP/2 502"), "{text}");
    assert!(!text.contains("h2cut"), "{text}");
    upstream.join().unwrap();
    assert_eq!(gateway.wait_metric("modegate_registry_writes_total{result=\"unreadable\"}", 1.0), 1.0);
    assert_eq!(gateway.metric("modegate_registry_writes_total{result=\"inserted\"}"), 0.0);
    let record = gateway.wait_decisions(1).pop().unwrap();
    assert_eq!((record["status"].as_u64(), record["upstream_status"].as_u64()), (Some(502), Some(201)), "{record}");
    assert_eq!(gateway.metric("modegate_registry_writes_total{result=\"unreadable\"}"), 1.0, "counted once");
    drop(gateway);

    // an answer whose head cannot be read (two lengths): whether the upstream made a client
    // is unknown, and that is counted too, over both protocols
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let garbled = listener.local_addr().unwrap();
    let upstream = std::thread::spawn(move || {
        for _ in 0..2 {
            let (mut writer, _request) = accept_one_request(&listener);
            let answer = "HTTP/1.1 201 Created\r\nContent-Length: 5\r\nContent-Length: 7\r\n\r\n{\"client_id\":\"x\"}";
            writer.write_all(answer.as_bytes()).unwrap();
        }
    });
    let gateway = Gateway::start_with(garbled, &server_extra, "", TENANTS);
    let text = String::from_utf8_lossy(&curl(gateway.tls.unwrap(), "10").stdout).into_owned();
    assert!(text.starts_with("HTTP/2 502"), "{text}");
    let plain = gateway.post_json(HOST, "/oidc/register", registration);
    assert_eq!(status(&plain), 502, "{}", plain.body_text());
    upstream.join().unwrap();
    assert_eq!(gateway.wait_metric("modegate_registry_writes_total{result=\"unreadable\"}", 2.0), 2.0);
    gateway.wait_decisions(2);
    assert_eq!(gateway.metric("modegate_registry_writes_total{result=\"unreadable\"}"), 2.0, "once each");
}

/// A scripted upstream's first connection and the request read whole from it.
fn accept_one_request(listener: &std::net::TcpListener) -> (std::net::TcpStream, Message) {
    let (stream, _) = listener.accept().unwrap();
    let mut reader = std::io::BufReader::new(stream.try_clone().unwrap());
    let mut request = crate::support::http::read_head(&mut reader).unwrap().unwrap();
    crate::support::http::read_body(&mut reader, &mut request, false).unwrap();
    (stream, request)
}

/// `server.h2_creations_in_flight`: HTTP/2 creations the gateway exchanges at once. A
/// caller that resets its stream leaves the exchange running (so the client is
/// remembered) but frees the stream, so the gateway bounds them itself: past the limit, a
/// creation is refused with 429 before the upstream has it, and nothing is lost.
#[test]
fn http2_creations_in_flight_are_bounded_before_the_upstream_is_asked() {
    // long enough for all three to be decided and in flight together (the read timeout is 3 s)
    let (pki, upstream, gateway) = slow_tls_registrar("h2_creations_in_flight = 2\n", "bounded1", 2500);
    let tls = gateway.tls.unwrap();
    let url = format!("https://{HOST}:{}/oidc/register", tls.port());
    let registration = r#"{"client_name":"bounded","redirect_uris":["https://a.test/cb"]}"#;
    // three creations at once
    let output = std::process::Command::new("curl")
        .args(["-s", "--http2", "--parallel", "--parallel-immediate", "--max-time", "10", "--cacert"])
        .arg(&pki.ca)
        .args(["--resolve", &format!("{HOST}:{}:127.0.0.1", tls.port())])
        .args(["-H", "Content-Type: application/json", "-d", registration])
        .args(["-o", "/dev/null", "-o", "/dev/null", "-o", "/dev/null"])
        .args(["-w", "%{http_code} %header{retry-after} %header{x-modegate-reason}\n"])
        .args([&url, &url, &url])
        .output()
        .expect("curl is installed by scripts/setup.sh");
    let mut lines: Vec<String> = String::from_utf8_lossy(&output.stdout).lines().map(str::to_owned).collect();
    lines.sort();
    assert_eq!(lines.len(), 3, "{lines:?}");
    assert!(lines[0].starts_with("201") && lines[1].starts_with("201"), "{lines:?}");
    assert_eq!(lines[2], "429 1 creations_in_flight", "{lines:?}");
    assert_eq!(upstream.hits("/oidc/register"), 2, "the refused creation never reached the upstream");
    // the permits come back: the next creation goes through
    let again = std::process::Command::new("curl")
        .args(["-s", "--http2", "--max-time", "10", "--cacert"])
        .arg(&pki.ca)
        .args(["--resolve", &format!("{HOST}:{}:127.0.0.1", tls.port())])
        .args(["-H", "Content-Type: application/json", "-d", registration, "-o", "/dev/null", "-w", "%{http_code}"])
        .arg(&url)
        .output()
        .expect("curl");
    assert_eq!(String::from_utf8_lossy(&again.stdout), "201");
    assert_eq!(upstream.hits("/oidc/register"), 3);
}

/// An HTTP/2 stream reset on its own (RST_STREAM, CANCEL) once the upstream has the
/// registration, while its connection goes on: the reset creation's client is remembered,
/// and the connection still serves the next stream. Pingora's loop ends a request whose
/// stream is reset; the gateway exchanges HTTP/2 creations itself.
#[test]
fn an_http2_stream_reset_alone_still_has_its_client_remembered() {
    let (pki, upstream, gateway) = slow_tls_registrar("", "h2reset1", 800);
    let tls = gateway.tls.unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let next_status = runtime.block_on(async {
        let mut roots = rustls::RootCertStore::empty();
        let pem = std::fs::read(&pki.ca).unwrap();
        for cert in rustls_pemfile::certs(&mut pem.as_slice()) {
            roots.add(cert.unwrap()).unwrap();
        }
        let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        config.alpn_protocols = vec![b"h2".to_vec()];
        let tcp = tokio::net::TcpStream::connect(tls).await.unwrap();
        let name = rustls::pki_types::ServerName::try_from(HOST).unwrap();
        let stream = tokio_rustls::TlsConnector::from(std::sync::Arc::new(config)).connect(name, tcp).await.unwrap();
        let (client, connection) = h2::client::handshake(stream).await.unwrap();
        tokio::spawn(connection);
        let url = |path: &str| format!("https://{HOST}:{}{path}", tls.port());
        let registration =
            http::Request::post(url("/oidc/register")).header("content-type", "application/json").body(()).unwrap();
        let mut client = client.ready().await.unwrap();
        let (_answer, mut body) = client.send_request(registration, false).unwrap();
        body.send_data(r#"{"client_name":"reset","redirect_uris":["https://a.test/cb"]}"#.into(), true).unwrap();
        let asked = Instant::now() + Duration::from_secs(10);
        while upstream.hits("/oidc/register") == 0 && Instant::now() < asked {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        body.send_reset(h2::Reason::CANCEL);
        // the connection goes on
        let mut client = client.ready().await.unwrap();
        let (next, _) = client.send_request(http::Request::get(url("/userinfo")).body(()).unwrap(), true).unwrap();
        next.await.unwrap().status()
    });
    assert_eq!(upstream.hits("/oidc/register"), 1, "the upstream has the registration");
    assert_eq!(next_status, 200, "the connection still serves");
    let inserted = gateway.wait_metric("modegate_registry_writes_total{result=\"inserted\"}", 1.0);
    assert_eq!(inserted, 1.0, "the client was remembered\n{}", gateway.logs());
    let (code, out, err) = gateway.command(&["clients", "get", "h2reset1"]);
    assert!(code.success() && out.contains("\"strict\""), "{out}{err}");
}

/// A certificate for `HOST` and the `[server]` lines (`extra` first) of a TLS listener that
/// offers HTTP/2.
fn tls_listener(extra: &str) -> (crate::support::pki::Pki, String) {
    let pki = crate::support::pki::generate(&[HOST]);
    let lines = format!(
        "{extra}[server.tls]\nlisten = [\"127.0.0.1:0\"]\ncert = \"{}\"\nkey = \"{}\"\n",
        pki.cert.display(),
        pki.key.display()
    );
    (pki, lines)
}

/// An upstream that answers a registration with `client_id` after `delay_ms`, and a gateway
/// in front of it with a TLS listener (`extra`: more `[server]` lines).
fn slow_tls_registrar(extra: &str, client_id: &str, delay_ms: u64) -> (crate::support::pki::Pki, Upstream, Gateway) {
    let (pki, server_extra) = tls_listener(extra);
    let answer = format!(r#"{{"client_id":"{client_id}","is_first_party":false}}"#);
    let upstream = Upstream::start().delayed_route("/oidc/register", 201, &answer, Duration::from_millis(delay_ms));
    let gateway = Gateway::start_with(upstream.addr, &server_extra, "", TENANTS);
    (pki, upstream, gateway)
}
