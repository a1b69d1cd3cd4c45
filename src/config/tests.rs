use super::*;

#[track_caller]
fn problems(text: &str) -> Vec<String> {
    match parse(text) {
        Ok(_) => panic!("expected problems"),
        Err(problems) => problems.0.into_iter().map(|p| format!("{}: {}", p.path, p.message)).collect(),
    }
}

#[test]
fn an_empty_file_is_the_documented_defaults() {
    let (config, warnings) = parse("").unwrap();
    // an empty file loads, but says what it defaulted that matters
    assert_eq!(warnings.len(), 2, "{warnings:?}");
    assert!(warnings[0].starts_with("upstream.address is not set"));
    assert!(warnings[1].starts_with("no [[tenants]]"));
    assert_eq!(config.server.listen, vec!["0.0.0.0:8080".parse().unwrap()]);
    assert_eq!(config.server.admin_listen, "127.0.0.1:9090".parse().unwrap());
    assert_eq!(config.server.max_body_bytes, 65536);
    assert_eq!(config.server.body_read_timeout.as_millis(), 10_000);
    assert_eq!(config.upstream.address, "127.0.0.1:3000".parse().unwrap());
    assert_eq!(config.policy.eligibility_cutoff, time::macros::date!(2026 - 04 - 23));
    assert_eq!(config.policy.strict_default_from, time::macros::date!(2026 - 10 - 23));
    assert_eq!(config.policy.unknown_tenant, UnknownTenant::Reject);
    assert_eq!(config.log.decisions, DecisionLogTarget::Stdout);
}

#[test]
fn the_full_spec_schema_loads() {
    // every key of SPEC §8 and of §12–§15, with the spec's own sample values
    let text = r#"
[server]
listen = ["0.0.0.0:8080"]
admin_listen = "127.0.0.1:9090"
threads = 2
max_body_bytes = 65536
body_read_timeout_ms = 10000
grace_period_s = 5
admin_token_env = ""
[server.tls]
listen = ["0.0.0.0:8443"]
cert = "FIXTURE"
key = "FIXTURE"
[upstream]
address = "127.0.0.1:3000"
tls = false
sni = ""
connect_timeout_ms = 2000
read_timeout_ms = 30000
[log]
format = "text"
level = "info"
[policy]
eligibility_cutoff = "2026-04-23"
strict_default_from = "2026-10-23"
unknown_tenant = "reject"
source = "http"
unknown_client = "allow"
strict_oidc_scopes = false
[policy.http]
url = "http://127.0.0.1:7000"
ttl_s = 30
max_entries = 100000
negative_ttl_s = 5
stale_if_error_s = 300
[routes]
dcr_paths = []
authorize_paths = []
token_paths = []
legacy_paths = []
[clients]
store = "embedded"
path = "modegate-clients.db"
redis_url = "redis://127.0.0.1:6379/"
redis_prefix = "modegate:"
cache_entries = 100000
[[customers]]
id = "cus_acme"
permissive_eligible = true
[[tenants]]
id = "acme"
customer = "cus_acme"
hosts = ["acme.example.test"]
third_party_apps_since = 2025-06-01
permissive_by_default = true
dcr_security_mode = "permissive"
dcr_access = "open"
enforcement = "enforce"
default_api_permissions = [
  { audience = "https://api.acme.test", scopes = ["read:items"], subject_type = "user" },
]
dcr_rate_per_s = 5
dcr_burst = 10
[tenants.token]
issuer = "https://acme.example.test/"
audience = "https://acme.example.test/api/v2/"
jwks_uri = "https://acme.example.test/.well-known/jwks.json"
jwks = '{"keys":[]}'
algorithms = ["RS256"]
[tenants.management]
client_id = "gateway-client-id"
client_secret_env = "MODEGATE_TEST_UNSET_MANAGEMENT_SECRET"
"#;
    let fixture = format!("{}/tests/fixtures/ec1.pem", env!("CARGO_MANIFEST_DIR"));
    let (config, warnings) = parse(&text.replace("FIXTURE", &fixture)).unwrap();
    // `admin_token_env = ""` names no variable: `/-/reload` is open, as without the key
    assert!(config.server.admin_token.is_none());
    // a secret that is not in the environment loads, with a word on what it costs
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(
        warnings[0].starts_with(
            "tenants[acme].management.client_secret_env: `MODEGATE_TEST_UNSET_MANAGEMENT_SECRET` is not set"
        ),
        "{warnings:?}"
    );
    let acme = config.tenants.by_host("acme.example.test").unwrap();
    assert_eq!(acme.third_party_apps_since, Some(time::macros::date!(2025 - 06 - 01)));
    assert_eq!(acme.token.jwks.as_deref(), Some(r#"{"keys":[]}"#));
}

#[test]
fn token_defaults_derive_from_the_first_host() {
    let text = "[[customers]]\nid = \"c\"\n[[tenants]]\nid = \"t\"\ncustomer = \"c\"\nhosts = [\"Login.Acme.test\", \"b.test\"]\n";
    let (config, _) = parse(text).unwrap();
    let tenant = config.tenants.by_host("b.test").unwrap();
    assert_eq!(tenant.token.issuer, "https://login.acme.test/");
    assert_eq!(tenant.token.audience, "https://login.acme.test/api/v2/");
    assert_eq!(tenant.token.jwks_uri, "https://login.acme.test/.well-known/jwks.json");
    assert_eq!(tenant.token.algorithms, vec!["RS256"]);
    assert!(config.tenants.by_host("login.acme.test").is_some(), "hosts are stored normalised");
}

/// Issue 9, finding 5: keys come over https, or plain http on loopback only.
#[test]
fn jwks_uris_are_https_except_on_loopback() {
    let tenant = |uri: &str| {
        format!(
            "[[customers]]\nid = \"c\"\n[[tenants]]\nid = \"t\"\ncustomer = \"c\"\nhosts = [\"t.test\"]\n[tenants.token]\njwks_uri = \"{uri}\"\n"
        )
    };
    for uri in
        ["https://keys.example/jwks.json", "http://127.0.0.1:9/jwks.json", "http://localhost/jwks", "http://[::1]:8/k"]
    {
        assert!(parse(&tenant(uri)).is_ok(), "{uri}");
    }
    for uri in ["http://keys.example/jwks.json", "http://t.test/.well-known/jwks.json", "ftp://x/y", "jwks.json"] {
        let found = problems(&tenant(uri));
        assert!(found.iter().any(|line| line.starts_with("tenants[t].token.jwks_uri: ")), "{uri}: {found:?}");
    }
}

/// Issue 9, finding 6: values that passed `check` and then panicked at start.
#[test]
fn numeric_settings_are_bounded_by_what_they_mean() {
    let found = problems(
        r#"
[server]
threads = 100000
grace_period_s = 9223372036854775807
body_read_timeout_ms = 9223372036854775807
h2_creations_in_flight = 0
[upstream]
address = "127.0.0.1:3000"
read_timeout_ms = 90000000
[policy]
source = "http"
[policy.http]
ttl_s = 40000000000
stale_if_error_s = 9223372036854775807
max_entries = 0
[[customers]]
id = "c"
[[tenants]]
id = "t"
customer = "c"
hosts = ["t.test"]
[tenants.token]
jwks_refetch_interval_ms = 9223372036854775807
[tenants.management]
client_id = "m"
client_secret_env = "M"
lookups_per_s = 0
"#,
    );
    for key in [
        "server.threads",
        "server.grace_period_s",
        "server.body_read_timeout_ms",
        "server.h2_creations_in_flight",
        "upstream.read_timeout_ms",
        "policy.http.ttl_s",
        "policy.http.stale_if_error_s",
        "policy.http.max_entries",
        "tenants[t].token.jwks_refetch_interval_ms",
        "tenants[t].management.lookups_per_s",
    ] {
        assert!(
            found.iter().any(|line| line.starts_with(&format!("{key}: ")) && line.contains("out of range")),
            "{key}: {found:#?}"
        );
    }
}

#[test]
fn every_problem_is_listed() {
    let found = problems(
        r#"
[server]
threads = 0
admin_listen = "x"
body_read_timeout_ms = 0
[upstream]
address = "no port here"
[policy]
source = "ldap"
strict_profile = ["", "a.b = {oops"]
[routes]
dcr_paths = ["/", "/a%2Fb"]
[[customers]]
id = "c"
[[customers]]
id = "c"
[[tenants]]
id = "t"
customer = "c"
hosts = []
dcr_security_mode = "lax"
dcr_access = "maybe"
default_api_permissions = [{ audience = "", subject_type = "robot" }]
[tenants.token]
algorithms = ["none", "HS256"]
jwks = "not json"
[[tenants]]
id = "t"
customer = "c"
hosts = ["bad host", "ok.test", "OK.test"]
"#,
    );
    let expected = [
        "server.admin_listen: `x` is not an address",
        "server.threads: 0 is out of range",
        "server.body_read_timeout_ms: 0 is out of range",
        "upstream.address: `no port here` does not resolve to an address",
        "policy.source: `ldap` is not a choice",
        "policy.strict_profile[0]: `` is not a member path such as `addons` or `jwt_configuration.scopes`",
        "routes.dcr_paths[0]: `/` cannot be a route path",
        "routes.dcr_paths[1]: `/a%2Fb` contains an encoded `/`",
        "customers[c]: customer `c` is defined twice",
        "tenants[t].hosts: a tenant needs at least one host",
        "tenants[t].dcr_security_mode: `lax` is not a mode",
        "tenants[t].dcr_access: `maybe` is not a choice",
        "tenants[t].default_api_permissions[0].audience: an audience is needed",
        "tenants[t].default_api_permissions[0].subject_type: `robot` is not a choice",
        "tenants[t].token.algorithms: `none` is not allowed",
        "tenants[t].token.algorithms: `HS256` is not allowed",
        "tenants[t].token.jwks: is not a JWKS document",
        "tenants[t]: tenant `t` is defined twice",
        "tenants[t].hosts: `bad host` is not a host name",
        "tenants[t].hosts: host `ok.test` is listed twice",
    ];
    for line in expected {
        assert!(found.iter().any(|f| f == line), "missing `{line}` in {found:#?}");
    }
    assert!(found.iter().any(|f| f.starts_with("policy.strict_profile[1]: the value after `=`")), "{found:#?}");
    // every config problem of this file, in order, pinned (inline: on a change, insta prints the new text to paste here)
    insta::assert_snapshot!(found.join("\n"), @r###"
    server.admin_listen: `x` is not an address
    server.threads: 0 is out of range
    server.body_read_timeout_ms: 0 is out of range
    upstream.address: `no port here` does not resolve to an address
    policy.source: `ldap` is not a choice
    policy.strict_profile[0]: `` is not a member path such as `addons` or `jwt_configuration.scopes`
    policy.strict_profile[1]: the value after `=` in `a.b = {oops` is not JSON: key must be a string at line 1 column 2
    routes.dcr_paths[0]: `/` cannot be a route path
    routes.dcr_paths[1]: `/a%2Fb` contains an encoded `/`
    customers[c]: customer `c` is defined twice
    tenants[t].hosts: a tenant needs at least one host
    tenants[t].dcr_security_mode: `lax` is not a mode
    tenants[t].dcr_access: `maybe` is not a choice
    tenants[t].default_api_permissions[0].audience: an audience is needed
    tenants[t].default_api_permissions[0].subject_type: `robot` is not a choice
    tenants[t].token.algorithms: `none` is not allowed
    tenants[t].token.algorithms: `HS256` is not allowed
    tenants[t].token.jwks: is not a JWKS document
    tenants[t]: tenant `t` is defined twice
    tenants[t].hosts: `bad host` is not a host name
    tenants[t].hosts: host `ok.test` is listed twice
    "###);
}

#[test]
fn unknown_keys_are_each_a_problem() {
    let found = problems(
        "[server]\nlisten_on = 1\n[upstream]\nadress = \"x\"\n[[tenants]]\nid = \"t\"\ncustomer = \"c\"\nhosts = [\"a\"]\nenforcment = \"off\"\n[[customers]]\nid = \"c\"\n",
    );
    assert_eq!(
        found,
        vec!["server.listen_on: unknown key", "tenants[0].enforcment: unknown key", "upstream.adress: unknown key"]
    );
}

#[test]
fn every_type_error_is_a_problem_and_unknown_keys_get_the_nearest_key() {
    let text = "[server]\nthreads = \"two\"\nlistn = [\"127.0.0.1:1\"]\n[upstream]\nread_timeout_ms = \"slow\"\n\
                [[customers]]\nid = \"c\"\n[[tenants]]\nid = \"t\"\ncustomer = \"c\"\nhosts = [\"a.test\"]\n\
                dcr_burst = true\n[tenants.management]\nclient_id = \"m\"\nclient_secret_envv = \"X\"\n";
    let Err(found) = parse(text) else { panic!("refused") };
    let lines: Vec<String> =
        found.0.iter().map(|p| format!("{}: {} ({})", p.path, p.message, p.help.clone().unwrap_or_default())).collect();
    insta::assert_snapshot!(lines.join("\n"), @r###"
    server.threads: invalid type: string "two", expected usize ()
    tenants[0].dcr_burst: invalid type: boolean `true`, expected u64 ()
    upstream.read_timeout_ms: invalid type: string "slow", expected u64 ()
    server.listn: unknown key (did you mean `listen`?)
    tenants[0].management.client_secret_envv: unknown key (did you mean `client_secret_env`?)
    tenants[t].management.client_secret_env: must name an environment variable (the secret itself never goes in the file)
    "###);
}

#[test]
fn check_resolves_no_name() {
    let text = "[upstream]\naddress = \"upstream.invalid:3000\"\n";
    let (config, warnings) = parse_as(text, Purpose::Check).unwrap();
    assert_eq!(config.upstream.address.port(), 3000);
    assert!(warnings.iter().any(|w| w.contains("check does not resolve it")), "{warnings:?}");
    // what `run` could never resolve is a problem for check too
    for bad in ["https://auth.internal:443", "auth internal:3000", "::1:3000", "auth/x:3000"] {
        let text = format!("[upstream]\naddress = \"{bad}\"\n");
        assert!(parse_as(&text, Purpose::Check).is_err(), "{bad}");
    }
}

#[test]
fn problems_render_one_line_each_with_help() {
    let error = ConfigError::new(std::path::Path::new("m.toml"), {
        let mut p = Problems::default();
        p.push_help("tenants[a].customer", "customer `x` is not defined", "did you mean `y`?");
        p.push("server.threads", "must be at least 1");
        p
    });
    assert_eq!(
        error.to_string(),
        "m.toml: tenants[a].customer: customer `x` is not defined\n  help: did you mean `y`?\nm.toml: server.threads: must be at least 1"
    );
}

#[test]
fn the_admin_token_is_read_from_one_bearer_header_only() {
    let token = AdminToken::new("0123456789abcdef-token".to_owned());
    assert!(token.admits(Some(b"Bearer 0123456789abcdef-token")));
    assert!(token.admits(Some(b"bearer 0123456789abcdef-token")), "the scheme in any case");
    for refused in [
        &b"Bearer 0123456789abcdef-tokeN"[..],
        b"Bearer  0123456789abcdef-token",
        b"0123456789abcdef-token",
        b"Bearer 0123456789abcdef-toke",
        b"Basic 0123456789abcdef-token",
    ] {
        assert!(!token.admits(Some(refused)), "{}", String::from_utf8_lossy(refused));
    }
    assert!(!token.admits(None));
    assert_eq!(format!("{token:?}"), "AdminToken([redacted])", "never in a Debug dump");
}

#[test]
fn the_one_pass_reading_finds_what_the_value_by_value_one_finds() {
    // the fast path of a file without type errors must read exactly what the slow path
    // (the one that lists every type error) reads: settings, unknown keys, a named upstream
    for text in [
        "",
        "[upstream]\naddress = \"127.0.0.1:1\"\nadress = \"x\"\n[server]\nlisten_on = 1\nthreads = 2\n\
         [[customers]]\nid = \"c\"\npermissive_eligible = true\n[[tenants]]\nid = \"t\"\ncustomer = \"c\"\n\
         hosts = [\"a.test\", \"b.test\"]\nthird_party_apps_since = \"2026-01-02\"\nenforcment = \"off\"\n\
         default_api_permissions = [{ audience = \"https://api.test\", scopes = [\"read\"], extra = 1 }]\n",
        "[upstream]\ntls = true\n[policy]\neligibility_cutoff = \"2026-04-23\"\n",
    ] {
        let (raw, unknown, named) = read_in_one_pass(text).expect("no type error");
        let mut problems = Problems::default();
        let (slow_raw, slow_unknown, slow_named) = read_value_by_value(text, &mut problems);
        assert!(problems.is_empty(), "{text}");
        assert_eq!(format!("{raw:?}"), format!("{:?}", slow_raw.expect("read")), "{text}");
        assert_eq!(unknown, slow_unknown, "{text}");
        assert_eq!(named, slow_named, "{text}");
    }
    // a bare TOML date reaches the raw types as a date one way and as text the other: the
    // same day once validated
    let text = "[[customers]]\nid = \"c\"\n[[tenants]]\nid = \"t\"\ncustomer = \"c\"\nhosts = [\"a.test\"]\n\
                third_party_apps_since = 2026-01-02\n";
    let mut problems = Problems::default();
    let fast = read_in_one_pass(text).expect("no type error").0;
    let slow = read_value_by_value(text, &mut problems).0.expect("read");
    let since = |raw| {
        let config = validate::validate(raw, &mut Problems::default(), Purpose::Check).expect("valid");
        config.tenants.list[0].third_party_apps_since
    };
    assert_eq!(since(fast), Some(time::macros::date!(2026 - 01 - 02)));
    assert_eq!(since(slow), Some(time::macros::date!(2026 - 01 - 02)));
    // integers past i64::MAX: the one-pass reading takes them into u64 settings, the other
    // refuses them as TOML; either way the file is refused
    for setting in ["[server]\nthreads", "[server]\nmax_body_bytes", "[clients]\ncache_entries"] {
        let text = format!("{setting} = 18446744073709551615\n");
        assert!(parse(&text).is_err(), "{text}");
        assert!(read_value_by_value(&text, &mut Problems::default()).0.is_none(), "{text}");
    }
    assert!(read_in_one_pass("[server]\nthreads = \"two\"\n").is_none(), "a type error takes the slow path");
    assert!(read_in_one_pass("[server\n").is_none(), "so does a file that is not TOML");
}

#[test]
fn a_deep_copy_of_the_tenants_shares_no_allocation() {
    let text =
        "[[customers]]\nid = \"c\"\n[[tenants]]\nid = \"t\"\ncustomer = \"c\"\nhosts = [\"a.test\", \"b.test\"]\n";
    let (config, _) = parse(text).unwrap();
    let copy = config.tenants.deep_copy();
    let (original, copied) = (&config.tenants.list[0], &copy.list[0]);
    assert_eq!(original, copied);
    assert!(!std::sync::Arc::ptr_eq(original, copied) && !std::sync::Arc::ptr_eq(&original.policy, &copied.policy));
    assert!(std::sync::Arc::ptr_eq(copy.by_host("b.test").expect("indexed"), copied));
    assert_eq!(copy.customer_eligible("c"), config.tenants.customer_eligible("c"));
}

/// The crate denies unsafe code and lifts the lint on two functions of `heap` (`forbid` cannot
/// be lifted there): no other lint level, file or `unsafe` block may slip in.
#[test]
fn the_crate_allows_unsafe_in_one_place_only() {
    fn sources(dir: &std::path::Path, found: &mut Vec<std::path::PathBuf>) {
        for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                sources(&path, found);
            } else if path.extension().is_some_and(|e| e == "rs") {
                found.push(path);
            }
        }
    }
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = vec![root.join("build.rs")];
    for dir in ["src", "benches", "examples", "tests"] {
        sources(&root.join(dir), &mut files);
    }
    // split, so that this file does not match itself
    let (lint, block) = (["unsafe", "_code"].concat(), ["unsafe", " {"].concat());
    let (unsafe_fn, unsafe_impl) = (["unsafe", " fn"].concat(), ["unsafe", " impl"].concat());
    let mut found = Vec::new();
    for path in &files {
        let Ok(text) = std::fs::read_to_string(path) else { continue };
        for needle in [&lint, &block, &unsafe_fn, &unsafe_impl] {
            let count = text.matches(needle.as_str()).count();
            if count > 0 {
                found.push((path.strip_prefix(root).unwrap_or(path).display().to_string(), needle.clone(), count));
            }
        }
    }
    let in_heap = |(path, _, _): &&(String, String, usize)| path == "src/heap.rs";
    assert!(found.iter().all(|entry| in_heap(&entry)), "{found:?}");
    let count = |needle: &str| found.iter().filter(in_heap).filter(|(_, n, _)| n == needle).map(|(_, _, c)| c).sum();
    assert_eq!((count(&lint), count(&block), count(&unsafe_fn) + count(&unsafe_impl)), (2, 2, 0), "{found:?}");
    assert!(files.len() > 50, "the sources were not found: {}", files.len());
}
