//! SPEC §16 as properties: nothing the gateway accepts has a second reading under the
//! folding rules. The readers here are written independently of the gateway's own
//! generous reading (`route::lenient_normalise`), each the way one family of servers reads.

use http::HeaderMap;
use percent_encoding::percent_decode;
use proptest::prelude::*;
use serde_json::{Map, Value};
use unicode_normalization::UnicodeNormalization;

use super::*;
use crate::policy::fold::is_ignorable;
use crate::policy::members::GOVERNED;

/// Path pieces: route words, separators in many spellings, and hazards.
const PIECES: &[&str] = &[
    "api",
    "v2",
    "clients",
    "oidc",
    "register",
    "tenants",
    "settings",
    "client-grants",
    "tpc_x",
    "reg",
    "x",
    "/",
    "/",
    "/",
    "//",
    "%2F",
    "%2f",
    "%5C",
    "\\",
    "%EF%BC%8F",
    "%C0%AF",
    "%E2%80%A4",
    "%2e",
    ".",
    "..",
    "%2e%2e",
    ";",
    ";x=1",
    "%3B",
    "%20",
    "%09",
    "%00",
    "%C2%A0",
    "%E2%80%8B",
    "%C2%AD",
    ".json",
    "%252F",
    "API",
    "Clients",
    "%61pi",
    "%C5%BF",
    "%E1%B4%A0",
];

/// How a family of servers reads a raw path, as decoded text.
fn readings(raw: &str) -> Vec<String> {
    let once = percent_decode(raw.as_bytes()).decode_utf8_lossy().into_owned();
    let mut repeated = once.clone();
    for _ in 0..3 {
        repeated = percent_decode(repeated.as_bytes()).decode_utf8_lossy().into_owned();
    }
    let overlong = raw.replace("%C0%AF", "/").replace("%c0%af", "/");
    let whatwg = url::Url::parse("http://gateway.test/")
        .and_then(|base| base.join(raw))
        .map(|url| percent_decode(url.path().as_bytes()).decode_utf8_lossy().into_owned())
        .unwrap_or_default();
    let overlong = percent_decode(overlong.as_bytes()).decode_utf8_lossy().into_owned();
    let visible = |text: &str| -> String { text.chars().filter(|c| !(c.is_control() || is_ignorable(*c))).collect() };
    let nfkc = |text: &str| -> String { text.nfkc().collect() };
    let no_params = |text: &str| -> String {
        text.split('/').map(|segment| segment.split(';').next().unwrap_or_default()).collect::<Vec<_>>().join("/")
    };
    let trimmed = |text: &str| -> String {
        let joined = text.split('/').map(|s| s.trim()).collect::<Vec<_>>().join("/");
        let (dir, last) = joined.rsplit_once('/').unwrap_or(("", &joined));
        let last = last.trim_end_matches('.');
        let stem = last.split('.').next().unwrap_or(last);
        format!("{dir}/{stem}")
    };
    vec![
        whatwg,                    // Node's `new URL`: dot segments resolved, `\` as `/`
        once.clone(),              // Node, Go: one decoding
        once.replace('\\', "/"),   // WHATWG: `\` is `/` in special URLs
        no_params(&once),          // Java servlet containers
        nfkc(&visible(&repeated)), // Unicode-normalising routers
        trimmed(&nfkc(&once)),     // format-suffix and trimming routers
        overlong,                  // old decoders
        trimmed(&no_params(&nfkc(&visible(&repeated.replace('\\', "/"))))),
    ]
}

/// The route a decoded reading names, or `None`.
fn route_of_reading(table: &RouteTable, method: &str, reading: &str) -> Option<RouteId> {
    let encoded = reading.replace('%', "%25").replace('?', "%3F").replace('#', "%23");
    match table.classify(method, encoded.as_bytes(), MethodHints::default()) {
        RouteMatch::Intercepted(route) => Some(route),
        _ => None,
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 4000, ..ProptestConfig::default() })]

    /// A path the gateway passes through is no route to any reader; a path it intercepts
    /// is the same route, or none, to every reader.
    #[test]
    fn no_accepted_path_has_a_second_reading(
        pieces in proptest::collection::vec(proptest::sample::select(PIECES), 1..9),
        method in proptest::sample::select(&["POST", "PATCH", "PUT"][..]),
    ) {
        let raw = format!("/{}", pieces.concat());
        let table = RouteTable::new(vec!["/reg".to_owned()]);
        let mut headers = HeaderMap::new();
        headers.insert(http::header::HOST, http::HeaderValue::from_static("gateway.test"));
        let head = RequestHead {
            method,
            target: raw.as_bytes(),
            authority: None,
            headers: &headers,
            version: http::Version::HTTP_11,
            body_follows: false,
        };
        let gateway = match classify(&head, &table) {
            Ok(target) => target.route,
            Err(_) => return Ok(()),
        };
        let allowed = match &gateway {
            RouteMatch::Refused(_) => return Ok(()),
            RouteMatch::Passthrough => None,
            RouteMatch::Intercepted(route) => Some(*route),
        };
        // WHATWG (Node's `new URL(target, base)`): an accepted target names no other host
        if let Ok(url) = url::Url::parse("http://gateway.test/").and_then(|base| base.join(&raw)) {
            prop_assert_eq!(url.host_str(), Some("gateway.test"), "{} names another host to a WHATWG parser", raw);
        }
        for reading in readings(&raw) {
            if let Some(route) = route_of_reading(&table, method, &reading) {
                prop_assert_eq!(Some(route), allowed, "{} read as {:?}: {:?}, gateway: {:?}", raw, reading, route, gateway);
            }
        }
    }

    /// A body the gateway forwards reads the same to a case-insensitive binder (Go,
    /// Jackson, .NET: last match wins) and to JavaScript merging code, and a coercing
    /// binder finds every governed member in its documented type.
    #[test]
    fn no_forwarded_body_has_a_second_reading(body in object_strategy()) {
        let config = super::config();
        let tenant = super::tenant(&config, "new.test");
        let raw = serde_json::to_vec(&body).unwrap_or_default();
        for route in [RouteId::ClientsCreate, RouteId::DcrRegister, RouteId::TenantSettingsUpdate] {
            let decision = decide(route, &raw, &tenant, &config.policy, time::macros::date!(2026 - 11 - 01), None, false);
            if matches!(decision.outcome, Outcome::Reject(_)) {
                continue;
            }
            let forwarded = decision.upstream_body(&raw).unwrap_or_default();
            let forwarded: Map<String, Value> = serde_json::from_slice(&forwarded).unwrap_or_default();
            prop_assert!(!has_name(&Value::Object(forwarded.clone()), "__proto__"));
            for (governed, _) in GOVERNED.iter().filter(|(path, _)| !path.contains('.')) {
                let exact = forwarded.get(*governed);
                let binder = forwarded.iter().filter(|(name, _)| fold(name) == fold(governed)).map(|(_, v)| v).next_back();
                prop_assert_eq!(exact, binder, "`{}` reads two ways in {}", governed, Value::Object(forwarded.clone()));
            }
        }
    }
}

proptest! {
    /// Issue 10: `decide` never panics on objects made of the members the rules read (so the
    /// injection path runs, not only the parser), on every route, for strict, permissive and
    /// unknown clients; whatever it forwards is one strict JSON object again, and deciding on
    /// it again changes nothing (injection is idempotent).
    #[test]
    fn decide_never_panics_and_injection_is_idempotent(body in object_strategy(), which in 0usize..3) {
        let config = super::config();
        let raw = serde_json::to_vec(&body).unwrap_or_default();
        let current = [
            Some(CurrentClient::of_state(ClientState { is_first_party: false, mode: Some(SecurityMode::Strict) })),
            Some(CurrentClient::of_state(ClientState { is_first_party: false, mode: Some(SecurityMode::Permissive) })),
            None,
        ];
        for host in ["old.test", "new.test", "strict.test"] {
            let tenant = super::tenant(&config, host);
            for route in RouteId::ALL {
                let today = time::macros::date!(2026 - 11 - 01);
                let client = current.get(which).cloned().flatten();
                let decision = decide(route, &raw, &tenant, &config.policy, today, client.as_ref(), false);
                let Some(forwarded) = decision.upstream_body(&raw) else { continue };
                prop_assert!(parse_object(&forwarded).is_ok(), "{route:?} forwarded a body that is not one object");
                let again = decide(route, &forwarded, &tenant, &config.policy, today, client.as_ref(), false);
                prop_assert!(!matches!(again.outcome, Outcome::Inject(_)), "{route:?} would inject twice");
            }
        }
    }
}

/// The test's own fold: NFKC, lowercase, no invisible characters or word separators.
fn fold(name: &str) -> String {
    name.nfkc()
        .filter(|c| !(c.is_control() || is_ignorable(*c) || c.is_whitespace() || *c == '_' || *c == '-'))
        .flat_map(char::to_lowercase)
        .collect()
}

fn has_name(value: &Value, wanted: &str) -> bool {
    match value {
        Value::Object(members) => members.iter().any(|(name, v)| name == wanted || has_name(v, wanted)),
        Value::Array(items) => items.iter().any(|v| has_name(v, wanted)),
        _ => false,
    }
}

/// Names: governed names as they are, and in the spellings other binders fold together.
fn name_strategy() -> impl Strategy<Value = String> {
    let governed: Vec<&'static str> = GOVERNED.iter().flat_map(|(path, _)| path.split('.')).collect();
    (proptest::sample::select(governed), 0usize..9).prop_map(|(name, spelling)| match spelling {
        0..=2 => name.to_owned(),
        3 => name.to_uppercase(),
        4 => name.replace('s', "\u{17F}"),
        5 => format!("{name}\u{200B}"),
        6 => name.replace('_', ""),
        7 => name
            .chars()
            .map(|c| char::from_u32(c as u32 + 0xFEE0).filter(|_| c.is_ascii_lowercase()).unwrap_or(c))
            .collect(),
        _ => ["__proto__", "constructor", "name", "_method"][name.len() % 4].to_owned(),
    })
}

fn value_strategy() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Bool(true)),
        Just(Value::Bool(false)),
        Just(Value::from("strict")),
        Just(Value::from("permissive")),
        Just(Value::from("true")),
        Just(Value::from("https://a.test/cb")),
        Just(Value::from(vec!["authorization_code"])),
        Just(Value::from(vec!["https://a.test/cb"])),
        Just(Value::Null),
        Just(Value::from(1)),
    ];
    leaf.prop_recursive(2, 8, 3, |inner| {
        proptest::collection::vec((name_strategy(), inner), 0..3)
            .prop_map(|members| Value::Object(members.into_iter().collect()))
    })
}

fn object_strategy() -> impl Strategy<Value = Map<String, Value>> {
    proptest::collection::vec((name_strategy(), value_strategy()), 0..6).prop_map(|members| {
        let mut object: Map<String, Value> = members.into_iter().collect();
        // most bodies should be third-party requests the rules actually decide on
        object.entry("is_first_party").or_insert(Value::Bool(false));
        object.entry("redirect_uris").or_insert(Value::from(vec!["https://a.test/cb"]));
        object
    })
}
