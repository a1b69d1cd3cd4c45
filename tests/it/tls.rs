//! TLS on both sides (SPEC §8 `[server.tls]`, `upstream.tls`): a real client (curl) over
//! the TLS listener with HTTP/2 by ALPN, and the reference server behind TLS as upstream.

use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::gateway::TENANTS;
use crate::support::{Gateway, Upstream, pki};

/// `curl` through `addr` for `host` with the test CA; returns (status, HTTP version, body).
fn curl(addr: SocketAddr, host: &str, ca: &std::path::Path, args: &[&str], path: &str) -> (u16, String, String) {
    let output = Command::new("curl")
        .args(["-s", "--max-time", "10", "--cacert"])
        .arg(ca)
        .args(["--resolve", &format!("{host}:{}:127.0.0.1", addr.port())])
        .args(args)
        .args(["-w", "\n%{http_code} %{http_version}"])
        .arg(format!("https://{host}:{}{path}", addr.port()))
        .output()
        .expect("curl is installed by scripts/setup.sh");
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    let (body, meta) = text.rsplit_once('\n').unwrap_or(("", &text));
    let mut meta = meta.split(' ');
    let status = meta.next().and_then(|s| s.parse().ok()).unwrap_or(0);
    let version = meta.next().unwrap_or_default().to_owned();
    (status, version, body.to_owned())
}

#[test]
fn the_tls_listener_serves_http2_and_http1_and_enforces() {
    let pki = pki::generate(&["globex.example.test"]);
    let upstream = Upstream::start();
    let server_extra = format!(
        "[server.tls]\nlisten = [\"127.0.0.1:0\"]\ncert = \"{}\"\nkey = \"{}\"\n",
        pki.cert.display(),
        pki.key.display()
    );
    let gateway = Gateway::start_with(upstream.addr, &server_extra, "", TENANTS);
    let tls_addr = gateway.tls.unwrap();
    let token = format!("Authorization: Bearer {}", crate::support::tokens::valid_for("globex.example.test"));
    let post = |version: &str, body: &str| {
        curl(
            tls_addr,
            "globex.example.test",
            &pki.ca,
            &[version, "-H", &token, "-H", "Content-Type: application/json", "-d", body],
            "/api/v2/clients",
        )
    };
    let (status, version, _) = post("--http2", r#"{"name":"h2","is_first_party":false}"#);
    assert_eq!((status, version.as_str()), (200, "2"), "HTTP/2 by ALPN");
    let (status, version, body) =
        post("--http1.1", r#"{"is_first_party":false,"third_party_security_mode":"permissive"}"#);
    assert_eq!((status, version.as_str()), (400, "1.1"), "{body}");
    let (status, _, body) = post("--http2", r#"{"is_first_party":false,"third_party_security_mode":"permissive"}"#);
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("permissive_not_eligible") || body.contains("not eligible"), "{body}");
    let received = upstream.single();
    assert_eq!(received.body_text(), r#"{"name":"h2","is_first_party":false,"third_party_security_mode":"strict"}"#);
    assert!(received.header("host").unwrap().starts_with("globex.example.test"), "the client's host goes upstream");
    // the plain listener still serves
    assert_eq!(
        crate::support::status(&gateway.send(&crate::support::request("GET", "/", "globex.example.test", &[], b""))),
        200
    );
}

/// `modegate reference` behind TLS, stopped on drop.
struct Reference(Child);

impl Reference {
    fn start_tls(host: &str, pki: &pki::Pki) -> (Reference, SocketAddr) {
        let log = tempfile::NamedTempFile::new().unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_modegate"))
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .args(["reference", "--listen", "127.0.0.1:0", "--host", host])
            .arg("--tls-cert")
            .arg(&pki.cert)
            .arg("--tls-key")
            .arg(&pki.key)
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(log.reopen().unwrap())
            .spawn()
            .unwrap();
        let line = crate::support::gateway::wait_for_line(&mut child, log.path(), "reference server listening:");
        let addr = line.split("listening: ").nth(1).and_then(|rest| rest.split_whitespace().next()).unwrap();
        let addr: SocketAddr = addr.parse().unwrap();
        let reference = Reference(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(addr).is_err() {
            assert!(Instant::now() < deadline, "the reference server did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
        (reference, addr)
    }
}

impl Drop for Reference {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn the_reference_server_behind_tls_as_the_upstream() {
    let pki = pki::generate(&["globex.example.test"]);
    let (_reference, reference_addr) = Reference::start_tls("globex.example.test", &pki);
    let config = format!(
        "[server]\nlisten = [\"127.0.0.1:0\"]\nadmin_listen = \"127.0.0.1:0\"\nthreads = 1\ngrace_period_s = 0\n\
         [upstream]\naddress = \"{reference_addr}\"\ntls = true\nca_file = \"{}\"\n\n[policy]\n{TENANTS}",
        pki.ca.display()
    );
    let gateway = Gateway::start_config(&config);
    // a token from the reference server, through the gateway (passthrough, over TLS upstream)
    let token_request = br#"{"grant_type":"client_credentials","client_id":"demo-m2m","client_secret":"demo-secret","audience":"https://globex.example.test/api/v2/"}"#;
    let response = gateway.send(&crate::support::request(
        "POST",
        "/oauth/token",
        "globex.example.test",
        &[crate::support::JSON, ("Authorization", "none")],
        token_request,
    ));
    assert_eq!(crate::support::status(&response), 200, "{}", response.body_text());
    let token = response.json()["access_token"].as_str().unwrap().to_owned();
    let bearer = format!("Bearer {token}");
    let create = |body: &str| {
        gateway.send(&crate::support::request(
            "POST",
            "/api/v2/clients",
            "globex.example.test",
            &[crate::support::JSON, ("Authorization", &bearer)],
            body.as_bytes(),
        ))
    };
    // the gateway verified the token against the JWKS fetched over TLS, injected, forwarded
    let response = create(r#"{"name":"tls","is_first_party":false}"#);
    assert_eq!(crate::support::status(&response), 201, "{}", response.body_text());
    let client = response.json();
    assert_eq!(client["third_party_security_mode"], "strict", "stored by the reference server");
    // an update that flips the mode is refused: the gateway remembered the creation
    let id = client["client_id"].as_str().unwrap();
    let response = gateway.send(&crate::support::request(
        "PATCH",
        &format!("/api/v2/clients/{id}"),
        "globex.example.test",
        &[crate::support::JSON, ("Authorization", &bearer)],
        br#"{"third_party_security_mode":"permissive"}"#,
    ));
    assert_eq!(crate::support::status(&response), 400);
    assert_eq!(response.header("x-modegate-reason"), Some("mode_immutable"));
}

/// A `jwks_uri` on another host, over https: fetched directly and verified with the CA file.
#[test]
fn keys_from_an_https_jwks_uri_off_the_tenant_hosts() {
    let pki = pki::generate(&["keys.example.test"]);
    let (_reference, reference_addr) = Reference::start_tls("keys.example.test", &pki);
    let upstream = Upstream::start();
    // `localhost` is in the certificate; the tenant's own host is not where the keys live
    let config = format!(
        "[server]\nlisten = [\"127.0.0.1:0\"]\nadmin_listen = \"127.0.0.1:0\"\nthreads = 1\ngrace_period_s = 0\n\
         [upstream]\naddress = \"{}\"\nca_file = \"{}\"\n\n[policy]\n\
         [[customers]]\nid = \"c\"\n[[tenants]]\nid = \"t\"\ncustomer = \"c\"\nhosts = [\"globex.example.test\"]\n\
         [tenants.token]\njwks_uri = \"https://localhost:{}/.well-known/jwks.json\"\n",
        upstream.addr,
        pki.ca.display(),
        reference_addr.port()
    );
    let gateway = Gateway::start_config(&config);
    let pem = std::fs::read(format!("{}/config/demo/reference-signing-key.pem", env!("CARGO_MANIFEST_DIR"))).unwrap();
    let key = crate::support::tokens::SigningKey {
        kid: "modegate-reference",
        alg: jsonwebtoken::Algorithm::RS256,
        key: jsonwebtoken::EncodingKey::from_rsa_pem(&pem).unwrap(),
    };
    let token =
        crate::support::tokens::sign(&key, &crate::support::tokens::claims("globex.example.test", "create:clients"));
    let bearer = format!("Bearer {token}");
    let response = gateway.send(&crate::support::request(
        "POST",
        "/api/v2/clients",
        "globex.example.test",
        &[crate::support::JSON, ("Authorization", &bearer)],
        br#"{"name":"x"}"#,
    ));
    assert_eq!(crate::support::status(&response), 200, "{}", response.body_text());
    assert_eq!(gateway.metric("modegate_jwks_fetches_total{result=\"ok\"}"), 1.0);
    assert_eq!(upstream.single().body_text(), r#"{"name":"x"}"#);
}

/// An upstream's 204 that states a length, and a `TE` field on an answer: both reach an
/// HTTP/2 caller as a malformed answer (nghttp2, and so curl, refuse the stream), so the
/// gateway drops them from every answer.
#[test]
fn an_http2_caller_gets_a_204_without_a_length_and_no_te_field() {
    use std::io::{BufReader, Write};
    let pki = pki::generate(&["globex.example.test"]);
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let upstream_addr = listener.local_addr().unwrap();
    let upstream = std::thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        let mut reader = BufReader::new(stream.try_clone().unwrap());
        crate::support::http::read_head(&mut reader).unwrap().unwrap();
        let mut writer = stream;
        writer.write_all(b"HTTP/1.1 204 No Content\r\nContent-Length: 162\r\nTE: trailers\r\n\r\n").unwrap();
    });
    let server_extra = format!(
        "[server.tls]\nlisten = [\"127.0.0.1:0\"]\ncert = \"{}\"\nkey = \"{}\"\n",
        pki.cert.display(),
        pki.key.display()
    );
    let gateway = Gateway::start_with(upstream_addr, &server_extra, "", TENANTS);
    let (status, version, body) =
        curl(gateway.tls.unwrap(), "globex.example.test", &pki.ca, &["--http2", "-D", "-"], "/userinfo");
    assert_eq!((status, version.as_str()), (204, "2"), "{body}");
    let field = |name: &str| body.lines().any(|line| line.to_ascii_lowercase().starts_with(name));
    assert!(!field("content-length:") && !field("te:"), "{body}");
    upstream.join().unwrap();
}
