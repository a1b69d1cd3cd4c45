//! Criterion benchmarks of the policy core: parse, decide, inject, classify — the work the
//! proxy adds to an intercepted request. Parameterised by body size.

#![allow(clippy::expect_used, reason = "benchmark setup on constants; a failure is a broken benchmark")]

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use http::{HeaderMap, Uri};
use modegate::config;
use modegate::policy::{self, RequestHead, RouteId, parse_object};
use std::hint::black_box;

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

fn benches(c: &mut Criterion) {
    let config = config::parse(CONFIG).expect("bench config").0;
    let tenant = config.tenants.by_host("t.test").expect("tenant").clone();
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
                let (decision, object) =
                    policy::decide(RouteId::ClientsCreate, black_box(raw), &tenant, &config.policy, today);
                decision.upstream_body(raw, object.as_ref()).map(|body| body.len())
            })
        });
    }
    group.finish();

    let uri: Uri = "/api/v2/clients?fields=name".parse().expect("uri");
    let mut headers = HeaderMap::new();
    headers.insert("host", "t.test".parse().expect("host"));
    headers.insert("content-type", "application/json".parse().expect("ct"));
    c.bench_function("classify_and_plan", |b| {
        b.iter(|| {
            let head = RequestHead { method: "POST", uri: black_box(&uri), headers: &headers };
            let target = policy::classify(&head, &config.routes).expect("target");
            let tenant = target.host.as_deref().and_then(|h| config.tenants.by_host(h));
            policy::plan(&head, &target, tenant.map(|t| t.as_ref()), &config)
        })
    });
}

criterion_group!(core, benches);
criterion_main!(core);
