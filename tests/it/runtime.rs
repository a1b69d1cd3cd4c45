//! SPEC §13: strict means strict at runtime, on `/authorize`, `/oauth/token` and the legacy
//! endpoints, through the real binary in front of the recording upstream. Every refused
//! request is checked to have reached nothing upstream.

use std::time::Duration;

use base64::Engine;

use crate::support::gateway::{MANAGEMENT_SECRET, MANAGEMENT_SECRET_ENV};
use crate::support::{Gateway, Message, Upstream, request, status};

const HOST: &str = "globex.example.test";
const FORM: (&str, &str) = ("Content-Type", "application/x-www-form-urlencoded");
const NO_AUTH: (&str, &str) = ("Authorization", "none");

/// The tenants: `globex` (enforced, with management credentials), `shadowco` (shadow).
fn tenants(extra_policy: &str) -> String {
    format!(
        r#"
{extra_policy}
[[customers]]
id = "cus_globex"
[[tenants]]
id = "globex"
customer = "cus_globex"
hosts = ["globex.example.test"]
default_api_permissions = [{{ audience = "https://api.globex.test", scopes = ["read"] }}]
[tenants.management]
client_id = "gateway-m2m"
client_secret_env = "{MANAGEMENT_SECRET_ENV}"
[[tenants]]
id = "shadowco"
customer = "cus_globex"
hosts = ["shadow.example.test"]
enforcement = "shadow"
"#
    )
}

/// An upstream that answers the gateway's management calls: a token, and the clients
/// `perm1` (permissive), `first1` (first-party); everything else is unknown (404).
fn upstream() -> Upstream {
    Upstream::start()
        .route("/oauth/token", 200, r#"{"access_token":"mgmt-token","token_type":"Bearer","expires_in":86400}"#)
        .route("/api/v2/clients/perm1", 200, r#"{"is_first_party":false,"third_party_security_mode":"permissive"}"#)
        .route("/api/v2/clients/first1", 200, r#"{"is_first_party":true}"#)
        .route("/api/v2/clients/unknown1", 404, r#"{"statusCode":404}"#)
        .route("/api/v2/clients/Strict1", 200, r#"{"is_first_party":false,"third_party_security_mode":"strict"}"#)
        .route("/api/v2/clients/broken1", 500, r#"{"statusCode":500}"#)
}

fn gateway(upstream: &Upstream, policy: &str) -> Gateway {
    Gateway::start_with(upstream.addr, "", policy, &format!("[clients]\nstore = \"memory\"\n{}", tenants("")))
}

/// A PKCE authorize query for `client` with `extra` parameters.
fn authorize(client: &str, extra: &str) -> String {
    format!(
        "/authorize?client_id={client}&response_type=code&code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM&code_challenge_method=S256&redirect_uri=https%3A%2F%2Fa.test%2Fcb{extra}"
    )
}

fn basic(user: &str, secret: &str) -> String {
    format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{user}:{secret}")))
}

/// An unsigned JWT naming `iss` (the gateway reads it; the upstream would verify it).
fn assertion(iss: &str) -> String {
    let part = |json: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(json);
    format!("{}.{}.sig", part(r#"{"alg":"RS256"}"#), part(&format!(r#"{{"iss":"{iss}","sub":"{iss}"}}"#)))
}

/// An unsigned ID token naming its audience and authorized party.
fn hint(aud: &str, azp: &str) -> String {
    let part = |json: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(json);
    format!("{}.{}.sig", part(r#"{"alg":"RS256"}"#), part(&format!(r#"{{"aud":"{aud}","azp":"{azp}"}}"#)))
}

/// Sends `raw`; the status, the reason header and whether the upstream saw a request on `path`.
fn outcome(gateway: &Gateway, upstream: &Upstream, path: &str, raw: &[u8]) -> (u16, Option<String>, usize, Message) {
    let before = upstream.hits(path);
    let response = gateway.send(raw);
    let reached = upstream.hits(path) - before;
    (status(&response), response.header("x-modegate-reason").map(str::to_owned), reached, response)
}

#[test]
fn strict_clients_are_held_to_the_strict_rules_and_others_pass() {
    let upstream = upstream();
    let gateway = gateway(&upstream, "");
    let get = |target: &str, headers: &[(&str, &str)]| {
        let mut all = vec![NO_AUTH];
        all.extend_from_slice(headers);
        request("GET", target, HOST, &all, b"")
    };
    let post = |target: &str, headers: &[(&str, &str)], body: &str| {
        let mut all = vec![FORM];
        if !headers.iter().any(|(n, _)| n.eq_ignore_ascii_case("authorization")) {
            all.push(NO_AUTH);
        }
        all.extend_from_slice(headers);
        request("POST", target, HOST, &all, body.as_bytes())
    };
    let basic_strict = basic("tpc_s", "secret");
    let basic_encoded = basic("tpc%5Fs", "secret");
    let strict_assertion = format!(
        "grant_type=password&client_assertion_type=urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer&client_assertion={}",
        assertion("tpc_s")
    );
    // (what, path seen upstream, raw request, status, reason; 0 / None: forwarded)
    type Row = (&'static str, &'static str, Vec<u8>, u16, Option<&'static str>);
    let rows: Vec<Row> = vec![
        (
            "implicit flow",
            "/authorize",
            get("/authorize?client_id=tpc_s&response_type=token", &[]),
            400,
            Some("unsupported_response_type"),
        ),
        (
            "no PKCE",
            "/authorize",
            get("/authorize?client_id=tpc_s&response_type=code", &[]),
            400,
            Some("pkce_required"),
        ),
        (
            "plain PKCE",
            "/authorize",
            get(&authorize("tpc_s", "").replace("S256", "plain"), &[]),
            400,
            Some("pkce_required"),
        ),
        (
            "request object",
            "/authorize",
            get(&authorize("tpc_s", "&request=eyJ"), &[]),
            400,
            Some("parameter_not_allowed"),
        ),
        ("claims", "/authorize", get(&authorize("tpc_s", "&claims=%7B%7D"), &[]), 400, Some("parameter_not_allowed")),
        (
            "openid scope",
            "/authorize",
            get(&authorize("tpc_s", "&scope=openid%20read"), &[]),
            400,
            Some("oidc_scope_not_supported"),
        ),
        (
            "a compliant request",
            "/authorize",
            get(&authorize("tpc_s", "&scope=read&state=x&ext-foo=1"), &[]),
            200,
            None,
        ),
        (
            "POST form",
            "/authorize",
            post("/authorize", &[], "client_id=tpc_s&response_type=token"),
            400,
            Some("unsupported_response_type"),
        ),
        (
            "POST JSON",
            "/authorize",
            request(
                "POST",
                "/authorize",
                HOST,
                &[NO_AUTH, ("Content-Type", "application/json")],
                br#"{"client_id":"tpc_s","response_type":"token"}"#,
            ),
            415,
            Some("unsupported_media_type"),
        ),
        (
            "a parameter twice",
            "/authorize",
            get("/authorize?client_id=tpc_s&response_type=code&response_type=token", &[]),
            400,
            Some("duplicate_parameter"),
        ),
        (
            "parameter casing",
            "/authorize",
            get("/authorize?Client_ID=tpc_s&response_type=token", &[]),
            400,
            Some("duplicate_parameter"),
        ),
        (
            "client in query and body",
            "/authorize",
            post("/authorize?client_id=perm1", &[], "client_id=tpc_s&response_type=token"),
            400,
            Some("duplicate_parameter"),
        ),
        (
            "GET with a body",
            "/authorize",
            request("GET", "/authorize?client_id=tpc_s&response_type=token", HOST, &[NO_AUTH, FORM], b"x=1"),
            400,
            Some("body_not_allowed"),
        ),
        (
            "NUL in the path",
            "/authorize",
            get("/authorize%00?client_id=tpc_s&response_type=token", &[]),
            400,
            Some("ambiguous_path"),
        ),
        (
            "parameter in the path",
            "/authorize",
            get("/authorize;x?client_id=tpc_s&response_type=token", &[]),
            400,
            Some("ambiguous_path"),
        ),
        (
            "password grant",
            "/oauth/token",
            post("/oauth/token", &[], "grant_type=password&client_id=tpc_s&username=u&password=p"),
            400,
            Some("unsupported_grant_type"),
        ),
        (
            "code without verifier",
            "/oauth/token",
            post("/oauth/token", &[], "grant_type=authorization_code&client_id=tpc_s&code=c"),
            400,
            Some("pkce_required"),
        ),
        (
            "code with verifier",
            "/oauth/token",
            post(
                "/oauth/token",
                &[],
                "grant_type=authorization_code&client_id=tpc_s&code=c&code_verifier=dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk",
            ),
            200,
            None,
        ),
        (
            "client credentials with a secret",
            "/oauth/token",
            post("/oauth/token", &[], "grant_type=client_credentials&client_id=tpc_s&client_secret=x"),
            200,
            None,
        ),
        (
            "client credentials unauthenticated",
            "/oauth/token",
            post("/oauth/token", &[], "grant_type=client_credentials&client_id=tpc_s"),
            400,
            Some("unauthorized_client"),
        ),
        (
            "Basic names the client",
            "/oauth/token",
            post("/oauth/token", &[("Authorization", &basic_strict)], "grant_type=password&username=u&password=p"),
            400,
            Some("unsupported_grant_type"),
        ),
        (
            "Basic with an encoded user",
            "/oauth/token",
            post("/oauth/token", &[("Authorization", &basic_encoded)], "grant_type=password"),
            400,
            Some("ambiguous_client_id"),
        ),
        (
            "assertion names the client",
            "/oauth/token",
            post("/oauth/token", &[], &strict_assertion),
            400,
            Some("unsupported_grant_type"),
        ),
        (
            "JSON body",
            "/oauth/token",
            request(
                "POST",
                "/oauth/token",
                HOST,
                &[NO_AUTH, ("Content-Type", "application/json")],
                br#"{"grant_type":"password","client_id":"tpc_s"}"#,
            ),
            400,
            Some("unsupported_grant_type"),
        ),
        (
            "two clients",
            "/oauth/token",
            post("/oauth/token", &[("Authorization", &basic_strict)], "grant_type=refresh_token&client_id=perm1"),
            400,
            Some("conflicting_client_ids"),
        ),
        (
            "legacy ro",
            "/oauth/ro",
            post("/oauth/ro", &[], "client_id=tpc_s&username=u&password=p"),
            400,
            Some("endpoint_not_available"),
        ),
        ("legacy samlp", "/samlp/tpc_s", get("/samlp/tpc_s", &[]), 400, Some("endpoint_not_available")),
        ("legacy logout", "/v2/logout", get("/v2/logout?client_id=tpc_s", &[]), 400, Some("endpoint_not_available")),
        (
            "semicolon separator",
            "/authorize",
            get(
                "/authorize?response_type=code&code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM&code_challenge_method=S256&state=x;client_id=tpc_s;response_type=token",
                &[],
            ),
            400,
            Some("invalid_parameter"),
        ),
        (
            "bracket name",
            "/authorize",
            get("/authorize?response_type=token&client_id[]=tpc_s", &[]),
            400,
            Some("duplicate_parameter"),
        ),
        (
            "dotted name",
            "/authorize",
            get("/authorize?response_type=token&client.id=tpc_s", &[]),
            400,
            Some("duplicate_parameter"),
        ),
        (
            "tab in scope",
            "/authorize",
            get(&authorize("tpc_s", "&scope=read%09openid"), &[]),
            400,
            Some("oidc_scope_not_supported"),
        ),
        (
            "PUT on the token path",
            "/oauth/token",
            request("PUT", "/oauth/token", HOST, &[NO_AUTH, FORM], b"grant_type=password&client_id=tpc_s"),
            400,
            Some("unsupported_grant_type"),
        ),
        (
            "empty secret",
            "/oauth/token",
            post("/oauth/token", &[], "grant_type=client_credentials&client_id=tpc_s&client_secret="),
            400,
            Some("unauthorized_client"),
        ),
        (
            "Basic with a tab",
            "/oauth/token",
            post("/oauth/token", &[("Authorization", "Basic\tdHBjX3M6cw==")], "grant_type=password"),
            400,
            Some("invalid_parameter"),
        ),
        (
            "__proto__ in JSON",
            "/dbconnections/signup",
            request(
                "POST",
                "/dbconnections/signup",
                HOST,
                &[NO_AUTH, ("Content-Type", "application/json")],
                br#"{"email":"a@b.test","__proto__":{"client_id":"tpc_s"}}"#,
            ),
            400,
            Some("reserved_member"),
        ),
        ("case kept in the path", "/samlp/Strict1", get("/samlp/Strict1", &[]), 400, Some("endpoint_not_available")),
        ("wtrealm names the client", "/wsfed", get("/wsfed?wtrealm=tpc_s", &[]), 400, Some("endpoint_not_available")),
        // SPEC §13: a client whose lookup failed may be strict: with `allow` it is held to the
        // strict rules (`deny`: `unknown_clients_follow_policy_and_lookups_are_coalesced`)
        (
            "a failed lookup: held to the strict rules",
            "/authorize",
            get("/authorize?client_id=broken1&response_type=token", &[]),
            400,
            Some("unsupported_response_type"),
        ),
        (
            "a failed lookup: what a strict client may do goes on",
            "/authorize",
            get(&authorize("broken1", ""), &[]),
            200,
            None,
        ),
        (
            "dot segments after /samlp",
            "/samlp/perm1/../tpc_s",
            get("/samlp/perm1/../tpc_s", &[]),
            400,
            Some("ambiguous_client_id"),
        ),
        // the route is matched on the normalised path: a server that resolves these reads
        // `/samlp/tpc_s`, which the raw path does not name
        ("a dot segment before /samlp", "/./samlp/tpc_s", get("/./samlp/tpc_s", &[]), 400, Some("ambiguous_client_id")),
        // found by an outside attack: ids a trimming or case-folding server reads as `tpc_s`
        (
            "a client id behind a space",
            "/authorize",
            get("/authorize?client_id=%20tpc_s&response_type=token", &[]),
            400,
            Some("ambiguous_client_id"),
        ),
        (
            "a client id behind a BOM",
            "/oauth/token",
            post("/oauth/token", &[], "client_id=%EF%BB%BFtpc_s&grant_type=password"),
            400,
            Some("ambiguous_client_id"),
        ),
        (
            "the prefix in capitals",
            "/authorize",
            get("/authorize?client_id=TPC_s&response_type=token", &[]),
            400,
            Some("unsupported_response_type"),
        ),
        (
            "a challenge Go drops (a bad escape)",
            "/authorize",
            get(&authorize("tpc_s", "").replace("code_challenge=E9", "code_challenge=%zzE9"), &[]),
            400,
            Some("invalid_parameter"),
        ),
        (
            "a challenge that is no S256 challenge",
            "/authorize",
            get(&authorize("tpc_s", "").replace("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM", "abc"), &[]),
            400,
            Some("pkce_required"),
        ),
        (
            "openid behind a BOM",
            "/authorize",
            get(&authorize("tpc_s", "&scope=read%EF%BB%BFopenid"), &[]),
            400,
            Some("oidc_scope_not_supported"),
        ),
        (
            "openid in capitals",
            "/authorize",
            get(&authorize("tpc_s", "&scope=OpenID"), &[]),
            400,
            Some("oidc_scope_not_supported"),
        ),
        (
            "cross-origin password authentication",
            "/co/authenticate",
            post("/co/authenticate", &[], "client_id=tpc_s&username=u&password=p"),
            400,
            Some("endpoint_not_available"),
        ),
        (
            "a logout hint issued to a strict client",
            "/v2/logout",
            get(&format!("/v2/logout?client_id=perm1&id_token_hint={}", hint("perm1", "tpc_s")), &[]),
            400,
            Some("conflicting_client_ids"),
        ),
        ("a climb before /samlp", "/a/../samlp/tpc_s", get("/a/../samlp/tpc_s", &[]), 400, Some("ambiguous_client_id")),
        (
            "a Basic user a form reader splits",
            "/oauth/token",
            post("/oauth/token", &[("Authorization", &basic("perm1&client_id=tpc_s", "s"))], "grant_type=password"),
            400,
            Some("ambiguous_client_id"),
        ),
        (
            "two Authorization headers",
            "/oauth/token",
            request(
                "POST",
                "/oauth/token",
                HOST,
                &[FORM, ("Authorization", &basic("perm1", "s")), ("Authorization", &basic_strict)],
                b"grant_type=password",
            ),
            400,
            Some("ambiguous_client_id"),
        ),
        (
            "Basic with an empty password",
            "/oauth/token",
            post("/oauth/token", &[("Authorization", &basic("tpc_s", ""))], "grant_type=client_credentials"),
            400,
            Some("unauthorized_client"),
        ),
        (
            "permissive: implicit flow passes",
            "/authorize",
            get("/authorize?client_id=perm1&response_type=token", &[]),
            200,
            None,
        ),
        (
            "permissive: password grant passes",
            "/oauth/token",
            post("/oauth/token", &[], "grant_type=password&client_id=perm1"),
            200,
            None,
        ),
        ("first-party: legacy passes", "/oauth/ro", post("/oauth/ro", &[], "client_id=first1"), 200, None),
        (
            "unknown: allowed by default",
            "/authorize",
            get("/authorize?client_id=unknown1&response_type=token", &[]),
            200,
            None,
        ),
        ("no client named", "/authorize", get("/authorize?response_type=token", &[]), 200, None),
    ];
    for (what, path, raw, expected_status, expected_reason) in rows {
        let (got, reason, reached, response) = outcome(&gateway, &upstream, path, &raw);
        assert_eq!(
            got,
            expected_status,
            "{what}: {} {:?} {}",
            response.body_text(),
            gateway.wait_decisions(1).last(),
            upstream.requests().iter().map(|r| r.start.join(" ")).collect::<Vec<_>>().join("\n")
        );
        assert_eq!(reason.as_deref(), expected_reason, "{what}");
        assert_eq!(reached, usize::from(expected_reason.is_none()), "{what}: forwarded only when allowed");
        assert_eq!(response.header("location"), None, "{what}: never a redirect");
        // a head refused before any route is read (SPEC §16) answers in the Management shape
        let head_refusal = matches!(expected_reason, Some("body_not_allowed" | "ambiguous_path"));
        if got == 400 && path == "/authorize" && !head_refusal {
            assert!(response.header("content-type").is_some_and(|t| t.starts_with("text/html")), "{what}");
            assert_eq!(response.header("cache-control"), Some("no-store"), "{what}");
        }
        if got == 400 && path != "/authorize" {
            assert_eq!(response.header("cache-control"), Some("no-store"), "{what}");
            assert!(response.json()["error"].is_string() && response.json()["error_description"].is_string(), "{what}");
        }
    }
    // a router that decodes the path before splitting reads a query in it: refused on any
    // route (the Management dialect of a path that routes nowhere)
    let raw = "/authorize%3Fclient_id=tpc_s&response_type=token";
    let (got, reason, reached, _) = outcome(&gateway, &upstream, raw, &get(raw, &[]));
    assert_eq!((got, reason.as_deref(), reached), (400, Some("ambiguous_path"), 0));
    // HEAD is read as GET (a HEAD answer has no body: read the head alone)
    let mut client = crate::support::Client::connect(gateway.addr);
    client.send_raw(&request("HEAD", "/authorize?client_id=tpc_s&response_type=token", HOST, &[NO_AUTH], b""));
    let head = client.read_head_only();
    assert_eq!((status(&head), head.header("x-modegate-reason")), (400, Some("unsupported_response_type")));
    // the JSON form of the authorize page, when asked
    let response =
        gateway.send(&get("/authorize?client_id=tpc_s&response_type=token", &[("Accept", "application/json")]));
    assert_eq!(response.json()["error"], "unsupported_response_type");
    // forwarded bodies are byte-exact
    let body = "grant_type=client_credentials&client_id=tpc_s&client_secret=x&audience=https%3A%2F%2Fapi";
    upstream.requests();
    let _ = gateway.send(&post("/oauth/token", &[], body));
    let last =
        upstream.requests().into_iter().rev().find(|r| r.start.get(1).is_some_and(|t| t == "/oauth/token")).unwrap();
    assert_eq!(last.body_text(), body);
    // lookups: one per client, with the gateway's own token (fetched once), then the registry
    assert_eq!(upstream.hits("/api/v2/clients/perm1"), 1);
    let lookup = upstream
        .requests()
        .into_iter()
        .find(|r| r.start.get(1).is_some_and(|t| t.starts_with("/api/v2/clients/perm1")))
        .unwrap();
    assert_eq!(lookup.header("authorization"), Some("Bearer mgmt-token"));
    let grants = upstream
        .requests()
        .into_iter()
        .filter(|r| r.start.get(1).is_some_and(|t| t == "/oauth/token") && r.body_text().contains("gateway-m2m"))
        .count();
    assert_eq!(grants, 1, "the management token is cached");
    // the secret went to the upstream's token endpoint and nowhere else
    assert!(!gateway.logs().contains(MANAGEMENT_SECRET), "the secret is never logged");
    let decisions = gateway.wait_decisions(10);
    assert!(decisions.iter().any(|d| d["route"] == "authorize"
        && d["decision"] == "reject"
        && d["reason"] == "pkce_required"
        && d["effective_mode"] == "strict"));
    // a request forwarded after a failed lookup says so, apart from an unknown client (the
    // log is written in batches: wait for the line)
    let forwarded_after_failure = |d: &serde_json::Value| {
        d["route"] == "authorize" && d["decision"] == "forward" && d["reason"] == "client_lookup_failed"
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while !gateway.decisions().iter().any(forwarded_after_failure) {
        assert!(std::time::Instant::now() < deadline, "no forwarded client_lookup_failed decision");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(
        gateway
            .metric("modegate_requests_total{decision=\"reject\",reason=\"unsupported_grant_type\",route=\"token\"}")
            >= 1.0
    );
}

/// SPEC §13: a strict client registered through DCR gets no `client_credentials`, though its
/// `tpc_` id alone says strict: the registry keeps how it was created.
#[test]
fn strict_dcr_clients_are_refused_client_credentials() {
    let upstream = upstream().route("/oidc/register", 201, r#"{"client_id":"tpc_dyn1","client_secret":"dyn-secret"}"#);
    let gateway = gateway(&upstream, "");
    let registration = request(
        "POST",
        "/oidc/register",
        HOST,
        &[("Content-Type", "application/json")],
        br#"{"client_name":"dyn","redirect_uris":["https://a.test/cb"]}"#,
    );
    assert_eq!(status(&gateway.send(&registration)), 201);
    let grant = |user: &str| {
        request(
            "POST",
            "/oauth/token",
            HOST,
            &[FORM, ("Authorization", &basic(user, "dyn-secret"))],
            b"grant_type=client_credentials",
        )
    };
    for spelling in ["tpc_dyn1", "TPC_DYN1"] {
        let (got, reason, reached, _) = outcome(&gateway, &upstream, "/oauth/token", &grant(spelling));
        assert_eq!((got, reason.as_deref(), reached), (400, Some("unauthorized_client"), 0), "{spelling} is refused");
    }
    // another strict client that authenticates, not registered dynamically, is forwarded
    let (got, _, reached, _) = outcome(&gateway, &upstream, "/oauth/token", &grant("tpc_m2m"));
    assert_eq!((got, reached), (200, 1));
}

#[test]
fn unknown_clients_follow_policy_and_lookups_are_coalesced() {
    let upstream = upstream().delayed_route(
        "/api/v2/clients/slow1",
        200,
        r#"{"is_first_party":false,"third_party_security_mode":"strict"}"#,
        Duration::from_millis(300),
    );
    let gateway = std::sync::Arc::new(gateway(&upstream, "unknown_client = \"deny\""));
    let refused =
        gateway.send(&request("GET", "/authorize?client_id=unknown1&response_type=code", HOST, &[NO_AUTH], b""));
    assert_eq!(status(&refused), 400);
    assert_eq!(refused.header("x-modegate-reason"), Some("unknown_client"));
    // a lookup that fails (the upstream's 500) cannot place the client either: with `deny`
    // it is refused too, as a 503 to retry, and nothing reaches the endpoint; not cached
    for _ in 0..2 {
        let (got, reason, reached, failed) = outcome(
            &gateway,
            &upstream,
            "/authorize",
            &request("GET", "/authorize?client_id=broken1&response_type=code", HOST, &[NO_AUTH], b""),
        );
        assert_eq!((got, reason.as_deref(), reached), (503, Some("client_lookup_failed"), 0));
        assert_eq!(failed.header("location"), None);
    }
    assert_eq!(upstream.hits("/api/v2/clients/broken1"), 2, "a failed lookup is asked again");
    assert_eq!(gateway.metric("modegate_client_lookups_total{result=\"error\"}"), 2.0);
    let threads: Vec<_> = (0..12)
        .map(|_| {
            let gateway = std::sync::Arc::clone(&gateway);
            std::thread::spawn(move || {
                status(&gateway.send(&request(
                    "GET",
                    "/authorize?client_id=slow1&response_type=token",
                    HOST,
                    &[NO_AUTH],
                    b"",
                )))
            })
        })
        .collect();
    for thread in threads {
        assert_eq!(thread.join().unwrap(), 400, "slow1 is strict");
    }
    assert_eq!(upstream.hits("/api/v2/clients/slow1"), 1, "twelve concurrent requests, one lookup");
}

#[test]
fn shadow_tenants_forward_strict_violations_and_record_them() {
    let upstream = upstream();
    let gateway = gateway(&upstream, "");
    let response = gateway.send(&request(
        "GET",
        "/authorize?client_id=tpc_s&response_type=token",
        "shadow.example.test",
        &[NO_AUTH],
        b"",
    ));
    assert_eq!(status(&response), 200, "shadow mode refuses nothing");
    let decisions = gateway.wait_decisions(1);
    assert_eq!(decisions.last().map(|d| d["decision"].clone()), Some(serde_json::json!("would_reject")));
}

/// SPEC §12–§13: when the registry cannot be read (its store does not answer) and the lookup
/// fails, the client may be one the gateway knows as strict: it is held to the strict rules
/// (nothing it may not do reaches the endpoint), while a lookup that answers still places it.
#[test]
fn a_client_the_gateway_cannot_find_out_about_is_held_to_the_strict_rules() {
    let redis = crate::support::redis::Redis::start();
    let upstream = upstream();
    let gateway = Gateway::start_with(upstream.addr, "", "", &format!("{}\n{}", redis.clients_table(), tenants("")));
    let implicit = |client: &str| {
        request("GET", &format!("/authorize?client_id={client}&response_type=token"), HOST, &[NO_AUTH], b"")
    };
    redis.pause(true);
    let (got, reason, reached, response) = outcome(&gateway, &upstream, "/authorize", &implicit("broken1"));
    assert_eq!(
        (got, reason.as_deref(), reached),
        (400, Some("unsupported_response_type"), 0),
        "{}",
        response.body_text()
    );
    assert!(response.body_text().contains("could not learn this client"), "{}", response.body_text());
    let (got, _, reached, _) =
        outcome(&gateway, &upstream, "/authorize", &request("GET", &authorize("broken1", ""), HOST, &[NO_AUTH], b""));
    assert_eq!((got, reached), (200, 1), "a request a strict client may make goes on");
    let (got, _, reached, _) = outcome(&gateway, &upstream, "/authorize", &implicit("perm1"));
    assert_eq!((got, reached), (200, 1), "a lookup that answers places the client");
    redis.pause(false);
    assert_eq!(upstream.hits("/api/v2/clients/broken1"), 2, "failures are not cached");
}

/// A tenant's lookups are bounded (`[tenants.management] lookups_per_s`): made-up client ids
/// past the budget send nothing to the Management API, and their requests are held to the
/// strict rules (counted `over_budget`): a flood cannot lift the rules for a real client.
#[test]
fn lookups_past_the_tenant_budget_are_not_sent() {
    let mut upstream = upstream();
    for i in 0..6 {
        upstream = upstream.route(&format!("/api/v2/clients/made{i}"), 404, r#"{"statusCode":404}"#);
    }
    let secret = format!("client_secret_env = \"{MANAGEMENT_SECRET_ENV}\"");
    let tenants = tenants("").replace(&secret, &format!("{secret}\nlookups_per_s = 1"));
    let gateway = Gateway::start_with(upstream.addr, "", "", &format!("[clients]\nstore = \"memory\"\n{tenants}"));
    let mut statuses = Vec::new();
    for i in 0..6 {
        let raw = request("GET", &format!("/authorize?client_id=made{i}&response_type=token"), HOST, &[NO_AUTH], b"");
        let (got, _, reached, _) = outcome(&gateway, &upstream, "/authorize", &raw);
        assert_eq!(reached, usize::from(got == 200), "made{i}: only a forwarded request reaches the endpoint");
        statuses.push(got);
    }
    let sent = upstream
        .requests()
        .iter()
        .filter(|r| r.start.get(1).is_some_and(|t| t.starts_with("/api/v2/clients/made")))
        .count();
    // one a second: six requests within a second or two send one or two lookups
    assert!((1..=2).contains(&sent), "{sent} lookups sent");
    let over = 6 - sent;
    assert_eq!(statuses.iter().filter(|s| **s == 200).count(), sent, "looked up, unknown, allowed: {statuses:?}");
    assert_eq!(statuses.iter().filter(|s| **s == 400).count(), over, "over the budget, held strict: {statuses:?}");
    assert_eq!(gateway.metric("modegate_client_lookups_total{result=\"over_budget\"}"), over as f64);
    assert_eq!(gateway.metric("modegate_client_lookups_total{result=\"not_found\"}"), sent as f64);
}

/// Concurrent lookups of different clients on a fresh gateway share one management token
/// fetch (an outside attack saw five at once).
#[test]
fn concurrent_lookups_share_one_management_token_fetch() {
    let mut upstream = upstream();
    for i in 0..6 {
        upstream = upstream.route(&format!("/api/v2/clients/new{i}"), 404, r#"{"statusCode":404}"#);
    }
    let gateway = std::sync::Arc::new(gateway(&upstream, ""));
    let threads: Vec<_> = (0..6)
        .map(|i| {
            let gateway = std::sync::Arc::clone(&gateway);
            std::thread::spawn(move || {
                let raw = request("GET", &authorize(&format!("new{i}"), ""), HOST, &[NO_AUTH], b"");
                status(&gateway.send(&raw))
            })
        })
        .collect();
    for thread in threads {
        assert_eq!(thread.join().unwrap(), 200);
    }
    let grants = upstream
        .requests()
        .into_iter()
        .filter(|r| r.start.get(1).is_some_and(|t| t == "/oauth/token") && r.body_text().contains("gateway-m2m"))
        .count();
    assert_eq!(grants, 1, "one token fetch for six concurrent lookups");
    assert_eq!(gateway.metric("modegate_client_lookups_total{result=\"not_found\"}"), 6.0);
}
