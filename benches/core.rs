//! Criterion benchmarks of the policy core: parse, decide, inject, classify — the work the
//! proxy adds to an intercepted request. Parameterised by body size.

#![allow(clippy::expect_used, reason = "benchmark setup on constants; a failure is a broken benchmark")]

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use http::HeaderMap;
use modegate::config;
use modegate::policy::{self, Pipeline, RequestHead, RouteId, Step, parse_object};
use std::hint::black_box;
use std::sync::Arc;

const CONFIG: &str = r#"
[[customers]]
id = "c"
[[tenants]]
id = "t"
customer = "c"
hosts = ["t.test"]
default_api_permissions = [{ audience = "https://api.t.test", scopes = ["read"] }]
"#;

/// A third-party client body of roughly `size` bytes (padding in `client_metadata`).
fn body(size: usize) -> Vec<u8> {
    let base = r#"{"name":"bench","app_type":"regular_web","is_first_party":false,"callbacks":["https://a.test/cb"],"grant_types":["authorization_code","refresh_token"],"token_endpoint_auth_method":"client_secret_post","client_metadata":{"pad":""#;
    let mut text = String::from(base);
    text.push_str(&"x".repeat(size.saturating_sub(base.len() + 3)));
    text.push_str("\"}}");
    text.into_bytes()
}

/// A request head through the pipeline up to its first step after the tenant.
fn classify(config: &config::Config, method: &str, target: &[u8], headers: &HeaderMap, today: time::Date) -> Step {
    let head =
        RequestHead { method, target, authority: None, headers, version: http::Version::HTTP_11, body_follows: false };
    let (mut pipeline, step) = Pipeline::start(&head, Arc::clone(&config.policy), today);
    match step {
        Step::NeedTenant { host } => pipeline.tenant(Ok(config.tenants.by_host(&host).map(|t| Arc::clone(&t.policy)))),
        other => other,
    }
}

fn benches(c: &mut Criterion) {
    let config = config::parse(CONFIG).expect("bench config").0;
    let tenant = config.tenants.by_host("t.test").expect("tenant").policy.clone();
    let today = time::macros::date!(2026 - 11 - 28);

    let mut group = c.benchmark_group("core");
    for size in [256usize, 4096, 65536] {
        let raw = body(size);
        group.throughput(Throughput::Bytes(raw.len() as u64));
        // baseline: serde_json's own parse into a Value, no checks
        group.bench_with_input(BenchmarkId::new("serde_json_baseline", size), &raw, |b, raw| {
            b.iter(|| serde_json::from_slice::<serde_json::Value>(black_box(raw)).expect("json"))
        });
        group.bench_with_input(BenchmarkId::new("parse_strict", size), &raw, |b, raw| {
            b.iter(|| parse_object(black_box(raw)).expect("object"))
        });
        group.bench_with_input(BenchmarkId::new("decide_and_inject", size), &raw, |b, raw| {
            b.iter(|| {
                let decision =
                    policy::decide(RouteId::ClientsCreate, black_box(raw), &tenant, &config.policy, today, None, false);
                decision.upstream_body(raw).map(|body| body.len())
            })
        });
    }
    group.finish();

    let target = b"/api/v2/clients?fields=name".as_slice();
    let mut headers = HeaderMap::new();
    headers.insert("host", "t.test".parse().expect("host"));
    headers.insert("content-type", "application/json".parse().expect("ct"));
    // the pipeline up to its first need after the tenant (the token)
    c.bench_function("classify_and_plan", |b| b.iter(|| classify(&config, "POST", black_box(target), &headers, today)));
}

/// SPEC §13: reading a runtime request (query, form body, Basic) and applying the strict
/// rules, as for a strict client whose state the registry's front already holds.
fn runtime_benches(c: &mut Criterion) {
    use modegate::policy::runtime::{self, RuntimeClient, RuntimeHead};
    use modegate::policy::{ClientState, SecurityMode};
    let config = config::parse(CONFIG).expect("bench config").0;
    let strict =
        RuntimeClient { state: ClientState { is_first_party: false, mode: Some(SecurityMode::Strict) }, dcr: false };
    let authorize = RuntimeHead {
        query: Some(b"client_id=tpc_abcdefghijklmnop&response_type=code&redirect_uri=https%3A%2F%2Fapp.example%2Fcb&scope=read%20write&state=xyz&code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM&code_challenge_method=S256".to_vec()),
        ..RuntimeHead::default()
    };
    let token = RuntimeHead {
        authorization: Some(b"Basic dHBjX2FiY2RlZmdoaWprbG1ub3A6c2VjcmV0".to_vec()),
        ..RuntimeHead::default()
    };
    let token_body = b"grant_type=authorization_code&code=SplxlOBeZQQYbYS6WxSbIA&redirect_uri=https%3A%2F%2Fapp.example%2Fcb&code_verifier=dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
    let mut group = c.benchmark_group("runtime");
    group.bench_function("authorize_identify_and_rules", |b| {
        b.iter(|| {
            let (request, _client) = runtime::read(RouteId::Authorize, black_box(&authorize), b"").expect("read");
            policy::rules::runtime::decide(RouteId::Authorize, &request, Some(strict), &config.policy)
        })
    });
    group.bench_function("token_identify_and_rules", |b| {
        b.iter(|| {
            let (request, _client) =
                runtime::read(RouteId::Token, black_box(&token), black_box(token_body)).expect("read");
            policy::rules::runtime::decide(RouteId::Token, &request, Some(strict), &config.policy)
        })
    });
    group.finish();
}

/// Token verification: cold (the JWKS document parsed into keys, then one verification, as
/// on the first request after a fetch) and warm (keys cached, as on every other request).
fn token_benches(c: &mut Criterion) {
    use jsonwebtoken::jwk::{Jwk, JwkSet};
    use jsonwebtoken::{Algorithm, EncodingKey, Header};
    use modegate::identity::{self, KeySet};

    let fixture =
        |name: &str| std::fs::read(format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"))).expect("fixture");
    let rsa = EncodingKey::from_rsa_pem(&fixture("rsa1.pem")).expect("rsa key");
    let ec = EncodingKey::from_ec_pem(&fixture("ec1.pem")).expect("ec key");
    let jwk = |key: &EncodingKey, alg, kid: &str| {
        let mut jwk = Jwk::from_encoding_key(key, alg).expect("jwk");
        jwk.common.key_id = Some(kid.to_owned());
        jwk
    };
    let jwks =
        serde_json::to_vec(&JwkSet { keys: vec![jwk(&rsa, Algorithm::RS256, "k1"), jwk(&ec, Algorithm::ES256, "e1")] })
            .expect("jwks");
    let config =
        config::parse(&format!("{CONFIG}[tenants.token]\nalgorithms = [\"RS256\", \"ES256\"]\n")).expect("config").0;
    let rules = config.tenants.by_host("t.test").expect("tenant").token.clone();
    let now = 1_800_000_000u64;
    let claims = serde_json::json!({"iss":"https://t.test/","aud":"https://t.test/api/v2/","exp":now + 3600,"scope":"create:clients","sub":"c@clients"});
    let sign = |key: &EncodingKey, alg, kid: &str| {
        let mut header = Header::new(alg);
        header.kid = Some(kid.to_owned());
        jsonwebtoken::encode(&header, &claims, key).expect("token")
    };
    let rs256 = sign(&rsa, Algorithm::RS256, "k1");
    let es256 = sign(&ec, Algorithm::ES256, "e1");
    let keys = KeySet::from_jwks(&jwks).expect("keys");

    let mut group = c.benchmark_group("token");
    group.bench_function("rs256_cold", |b| {
        b.iter(|| {
            let keys = KeySet::from_jwks(black_box(&jwks)).expect("keys");
            identity::verify(black_box(&rs256), &rules, &keys, now).expect("valid")
        })
    });
    group.bench_function("rs256_warm", |b| {
        b.iter(|| identity::verify(black_box(&rs256), &rules, &keys, now).expect("valid"))
    });
    group.bench_function("es256_warm", |b| {
        b.iter(|| identity::verify(black_box(&es256), &rules, &keys, now).expect("valid"))
    });
    // what the proxy does for a token it verified before: hash, look up, re-check the window
    let verified = identity::VerifiedTokens::default();
    let claims = identity::verify(&rs256, &rules, &keys, now).expect("valid");
    verified.insert(identity::VerifiedTokens::key("t", &rules, &rs256), claims.clone(), claims.exp, claims.nbf);
    group.bench_function("rs256_cached", |b| {
        b.iter(|| verified.get(&identity::VerifiedTokens::key("t", &rules, black_box(&rs256)), now).expect("cached"))
    });
    group.finish();
}

/// A tenant lookup: the inline map against the remote source's warm cache, both through
/// the `TenantSource` interface the proxy calls (on a current-thread runtime).
fn tenant_benches(c: &mut Criterion) {
    use std::sync::Arc;

    use modegate::tenant::http::HttpSource;
    use modegate::tenant::{InlineSource, TenantSource};
    use modegate::upstream::SideClient;

    let config = config::parse(CONFIG).expect("config").0;
    let tenant = Arc::clone(config.tenants.by_host("t.test").expect("tenant"));
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    let inline = InlineSource::new(config.tenants.clone());
    let settings = modegate::config::PolicyServiceSettings {
        url: "http://127.0.0.1:9".into(),
        ttl: std::time::Duration::from_secs(3600),
        max_entries: 10_000,
        negative_ttl: std::time::Duration::from_secs(5),
        stale_if_error: std::time::Duration::from_secs(300),
        timeout: std::time::Duration::from_secs(2),
    };
    let remote = HttpSource::new(settings, modegate::config::Tenants::default(), Arc::new(SideClient::default()));
    runtime.block_on(remote.remember("t.test", tenant));
    let mut group = c.benchmark_group("tenant_lookup");
    group.bench_function("inline", |b| {
        b.iter(|| runtime.block_on(inline.tenant_for_host(black_box("t.test"))).expect("lookup").expect("tenant"))
    });
    group.bench_function("http_cached", |b| {
        b.iter(|| runtime.block_on(remote.tenant_for_host(black_box("t.test"))).expect("lookup").expect("tenant"))
    });
    group.finish();
}

/// Route classification of hostile paths (SPEC §16 readings): the cost must grow linearly
/// with the path, so that a long path costs its sender, not the gateway. Compare the two
/// sizes' times: ten times the path should take about ten times as long.
fn hostile_path_benches(c: &mut Criterion) {
    let table = policy::RouteTable::new(vec!["/reg".to_owned()]);
    let mut group = c.benchmark_group("classify_hostile_path");
    // 2,700 segments is the longest path the gateway reads (policy::MAX_PATH_BYTES)
    for segments in [270usize, 2_700] {
        let dotted = format!("/x/{}", "/a.".repeat(segments));
        group.throughput(Throughput::Bytes(dotted.len() as u64));
        group.bench_with_input(BenchmarkId::new("dotted_segments", dotted.len()), &dotted, |b, path| {
            b.iter(|| table.classify("POST", black_box(path.as_bytes()), policy::MethodHints::default()))
        });
    }
    group.finish();
}

/// Issue 14, "no modegate tax": the gateway's own work on a request it only forwards: the
/// route and head checks up to the passthrough, and the SPEC §16 forwarding edits.
fn passthrough_benches(c: &mut Criterion) {
    use modegate::policy::hardening::{Forwarding, forwarding_edits};
    let config = config::parse(CONFIG).expect("bench config").0;
    let today = time::macros::date!(2026 - 11 - 28);
    let mut headers = HeaderMap::new();
    headers.insert("host", "t.test".parse().expect("host"));
    headers.insert("user-agent", "Mozilla/5.0 (X11; Linux x86_64) bench".parse().expect("ua"));
    headers.insert("accept", "application/json".parse().expect("accept"));
    headers.insert("authorization", "Bearer abc.def.ghi".parse().expect("authorization"));
    let mut group = c.benchmark_group("passthrough");
    group.bench_function("classify", |b| {
        b.iter(|| classify(&config, "GET", black_box(b"/userinfo".as_slice()), &headers, today))
    });
    let forwarding = Forwarding {
        host: Some("t.test"),
        client_ip: Some(std::net::IpAddr::from([127, 0, 0, 1])),
        proto: "http",
        underscore_headers: Default::default(),
    };
    group.bench_function("forwarding_edits", |b| b.iter(|| forwarding_edits(black_box(&headers), &forwarding)));
    let mut upstream = pingora::http::RequestHeader::build("GET", b"/userinfo", None).expect("head");
    for (name, value) in [
        ("Host", "t.test"),
        ("User-Agent", "Mozilla/5.0 (X11; Linux x86_64) bench"),
        ("Accept", "application/json"),
        ("Authorization", "Bearer abc.def.ghi"),
    ] {
        upstream.append_header(name, value).expect("header");
    }
    group.bench_function("clone_head", |b| b.iter(|| black_box(&upstream).clone()));
    group.bench_function("clone_head_and_apply_edits", |b| {
        b.iter(|| {
            let mut head = black_box(&upstream).clone();
            let edits = forwarding_edits(&head.headers, &forwarding);
            modegate::proxy::convert::apply_edits(&mut head, edits).expect("insert");
            head
        })
    });
    group.finish();
}

/// One decision record, built as `proxy::record` builds it and encoded into the log's batch.
fn decision_log_benches(c: &mut Criterion) {
    use modegate::telemetry::{DecisionRecord, decision_log};
    let tenant = ("bench".to_owned(), "cus_bench".to_owned());
    let mut batch = Vec::with_capacity(1 << 20);
    c.bench_function("decision_record_build_and_encode", |b| {
        b.iter(|| {
            if batch.len() > (1 << 19) {
                batch.clear();
            }
            let record = DecisionRecord {
                time: time::OffsetDateTime::now_utc()
                    .format(&time::format_description::well_known::Rfc3339)
                    .unwrap_or_default(),
                decision_id: decision_log::next_decision_id(),
                generation: 1,
                request_id: format!("mg-{}-{}", 4242, 17),
                tenant: Some(tenant.0.clone()),
                customer: Some(tenant.1.clone()),
                route: "authorize",
                decision: "forward",
                reason: "strict_allowed",
                enforcement: Some("enforce"),
                requested_mode: None,
                effective_mode: Some("strict"),
                injected: Vec::new(),
                sub: None,
                azp: None,
                status: 200,
                upstream_status: Some(200),
                latency_ms: 0.113,
            };
            decision_log::encode(black_box(&record), &mut batch).expect("encode");
        })
    });
}

criterion_group!(runtime_group, runtime_benches, passthrough_benches, decision_log_benches);
criterion_group!(core, benches, token_benches, tenant_benches, hostile_path_benches);
criterion_main!(core, runtime_group);
