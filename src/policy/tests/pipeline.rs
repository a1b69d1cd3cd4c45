//! The pipeline driven from tables: each row is a request, the answers to its needs, the
//! needs it must ask in order, and how it must end. The proxy answers the same needs with
//! I/O; these rows pin what it is asked and what it applies.

use std::sync::Arc;

use serde_json::{Map, Value};

use super::*;
use crate::policy::inputs::UnknownClient;

/// The test configuration plus a shadow and an `off` tenant.
fn config() -> Config {
    let extra = r#"
[[tenants]]
id = "watched"
customer = "ineligible"
hosts = ["shadow.test"]
enforcement = "shadow"
default_api_permissions = [{ audience = "https://api.shadow.test", scopes = ["read"] }]
[[tenants]]
id = "tokened"
customer = "ineligible"
hosts = ["tokened.test"]
dcr_access = "token"
default_api_permissions = [{ audience = "https://api.tokened.test", scopes = ["read"] }]
[[tenants]]
id = "dormant"
customer = "ineligible"
hosts = ["off.test"]
enforcement = "off"
"#;
    config::parse(&format!("{CONFIG}{extra}")).unwrap().0
}

/// The answers a row's driver gives.
#[derive(Clone)]
struct Answers {
    content_type: &'static str,
    tenant_fails: bool,
    allowance: Result<(), u64>,
    token: Result<(), ReasonCode>,
    body: Result<&'static str, BodyFailure>,
    client: Result<Option<ClientState>, ()>,
    members: Result<Option<&'static str>, ()>,
}

impl Default for Answers {
    fn default() -> Self {
        Answers {
            content_type: "application/json",
            tenant_fails: false,
            allowance: Ok(()),
            token: Ok(()),
            body: Ok("{}"),
            client: Ok(None),
            members: Ok(None),
        }
    }
}

/// Runs one request; the needs it asked (one word each) and its end.
fn run(method: &str, target: &str, host: &str, answers: Answers) -> (Vec<String>, Step) {
    let config = config();
    let map = headers(&[("host", host), ("content-type", answers.content_type)]);
    let (mut pipeline, mut step) =
        Pipeline::start(&head(method, target, &map), Arc::clone(&config.policy), AFTER_STRICT_DATE);
    let mut needs = Vec::new();
    loop {
        step = match step {
            Step::NeedTenant { host } => {
                needs.push(format!("tenant {host}"));
                let found = config.tenants.by_host(&host).map(|t| Arc::clone(&t.policy));
                pipeline.tenant(if answers.tenant_fails { Err(TenantFailure::Unavailable) } else { Ok(found) })
            }
            Step::NeedAllowance { tenant, rate } => {
                needs.push(format!("allowance {tenant} {}/s", rate.per_s));
                pipeline.allowance(answers.allowance)
            }
            Step::NeedToken { scope, .. } => {
                needs.push(format!("token {scope}"));
                pipeline
                    .token(answers.token.map_err(|reason| Rejection::new(401, ErrorCode::InvalidToken, reason, "no")))
            }
            Step::NeedBody { observe, .. } => {
                needs.push(if observe { "observe" } else { "body" }.to_owned());
                pipeline.body(answers.body.map(|text| text.as_bytes().to_vec()))
            }
            Step::NeedClient { id } => {
                needs.push(format!("client {id}"));
                pipeline.client(answers.client)
            }
            Step::NeedMembers { id } => {
                needs.push(format!("members {id}"));
                let members =
                    answers.members.map(|m| m.map(|text| serde_json::from_str::<Map<String, Value>>(text).unwrap()));
                pipeline.members(members)
            }
            end => return (needs, end),
        };
    }
}

/// How a row ends: the status answered (0: forwarded), the record's decision and reason.
fn summary(step: &Step) -> (u16, &'static str, &'static str) {
    match step {
        Step::Respond { rejection, record, .. } => (rejection.status, record.decision, record.reason.as_str()),
        Step::Forward { record: Some(record), .. } => (0, record.decision, record.reason.as_str()),
        Step::Forward { record: None, .. } => (0, "passthrough", "passthrough"),
        other => panic!("not an end: {other:?}"),
    }
}

#[test]
fn each_route_asks_its_needs_in_order() {
    let strict_update = Answers {
        body: Ok(r#"{"grant_types":["client_credentials"]}"#),
        client: Ok(Some(STRICT_CLIENT)),
        members: Ok(Some(r#"{"token_endpoint_auth_method":"none"}"#)),
        ..Answers::default()
    };
    type Row =
        (&'static str, &'static str, &'static str, Answers, &'static [&'static str], (u16, &'static str, &'static str));
    let rows: Vec<Row> = vec![
        ("GET", "/api/v2/clients", "strict.test", Answers::default(), &[], (0, "passthrough", "passthrough")),
        (
            "POST",
            "/api/v2/clients",
            "strict.test",
            Answers { body: Ok(r#"{"is_first_party":false}"#), ..Answers::default() },
            &["tenant strict.test", "token create:clients", "body"],
            (0, "inject", "mode_injected"),
        ),
        // an open DCR route needs no token
        (
            "POST",
            "/reg",
            "bare.test",
            Answers { body: Ok(r#"{"redirect_uris":["https://a.test"]}"#), ..Answers::default() },
            &["tenant bare.test", "allowance bare 5/s", "body"],
            (403, "reject", "strict_dcr_without_defaults"),
        ),
        // SPEC §14: over the tenant's DCR rate, before any token or body
        (
            "POST",
            "/reg",
            "bare.test",
            Answers { allowance: Err(2), ..Answers::default() },
            &["tenant bare.test", "allowance bare 5/s"],
            (429, "reject", "dcr_rate_limited"),
        ),
        // SPEC §14: a token-protected DCR route takes from the bucket only after the token
        (
            "POST",
            "/reg",
            "tokened.test",
            Answers { token: Err(ReasonCode::TokenMissing), ..Answers::default() },
            &["tenant tokened.test", "token create:clients"],
            (401, "reject", "token_missing"),
        ),
        (
            "POST",
            "/reg",
            "tokened.test",
            Answers { body: Ok(r#"{"redirect_uris":["https://a.test"]}"#), ..Answers::default() },
            &["tenant tokened.test", "token create:clients", "allowance tokened 5/s", "body"],
            (0, "inject", "mode_injected"),
        ),
        // SPEC §2: an unknown tenant is a 404 whatever else is wrong with the head
        (
            "POST",
            "/api/v2/clients",
            "nobody.test",
            Answers { content_type: "text/plain", ..Answers::default() },
            &["tenant nobody.test"],
            (404, "reject", "unknown_tenant"),
        ),
        // a strict client's combined members are asked only when the update changes one
        (
            "PATCH",
            "/api/v2/clients/abc",
            "strict.test",
            strict_update.clone(),
            &["tenant strict.test", "token update:clients", "body", "client abc", "members abc"],
            (400, "reject", "strict_profile"),
        ),
        (
            "PATCH",
            "/api/v2/clients/abc",
            "strict.test",
            Answers { body: Ok(r#"{"name":"x"}"#), ..strict_update.clone() },
            &["tenant strict.test", "token update:clients", "body", "client abc"],
            (0, "forward", "update_allowed"),
        ),
        // a body that is not JSON is refused before any lookup
        (
            "PATCH",
            "/api/v2/clients/abc",
            "strict.test",
            Answers { body: Ok("{"), ..strict_update.clone() },
            &["tenant strict.test", "token update:clients", "body"],
            (400, "reject", "invalid_json"),
        ),
        // fail closed: the tenant source, the client lookup, the members lookup
        (
            "POST",
            "/api/v2/clients",
            "strict.test",
            Answers { tenant_fails: true, ..Answers::default() },
            &["tenant strict.test"],
            (503, "reject", "policy_unavailable"),
        ),
        (
            "PATCH",
            "/api/v2/clients/abc",
            "strict.test",
            Answers { client: Err(()), ..strict_update.clone() },
            &["tenant strict.test", "token update:clients", "body", "client abc"],
            (503, "reject", "client_lookup_failed"),
        ),
        (
            "PATCH",
            "/api/v2/clients/abc",
            "strict.test",
            Answers { members: Err(()), ..strict_update.clone() },
            &["tenant strict.test", "token update:clients", "body", "client abc", "members abc"],
            (503, "reject", "client_lookup_failed"),
        ),
        (
            "POST",
            "/api/v2/clients",
            "strict.test",
            Answers { token: Err(ReasonCode::TokenExpired), ..Answers::default() },
            &["tenant strict.test", "token create:clients"],
            (401, "reject", "token_expired"),
        ),
        (
            "POST",
            "/api/v2/clients",
            "strict.test",
            Answers { body: Err(BodyFailure::TooLarge), ..Answers::default() },
            &["tenant strict.test", "token create:clients", "body"],
            (413, "reject", "payload_too_large"),
        ),
        (
            "POST",
            "/api/v2/clients",
            "strict.test",
            Answers { body: Err(BodyFailure::Timeout), ..Answers::default() },
            &["tenant strict.test", "token create:clients", "body"],
            (408, "reject", "body_timeout"),
        ),
        // shadow mode: observed, never answered, the would-be refusal recorded
        (
            "POST",
            "/api/v2/clients",
            "shadow.test",
            Answers { body: Ok(r#"{"is_first_party":false,"sso":true}"#), ..Answers::default() },
            &["tenant shadow.test", "token create:clients", "observe"],
            (0, "would_reject", "strict_profile"),
        ),
        (
            "POST",
            "/api/v2/clients",
            "shadow.test",
            Answers { token: Err(ReasonCode::TokenMissing), ..Answers::default() },
            &["tenant shadow.test", "token create:clients"],
            (0, "would_reject", "token_missing"),
        ),
        (
            "POST",
            "/api/v2/clients",
            "shadow.test",
            Answers { body: Ok(r#"{"is_first_party":false}"#), ..Answers::default() },
            &["tenant shadow.test", "token create:clients", "observe"],
            (0, "would_inject", "mode_injected"),
        ),
        (
            "POST",
            "/api/v2/clients",
            "off.test",
            Answers::default(),
            &["tenant off.test"],
            (0, "passthrough", "passthrough"),
        ),
        (
            "POST",
            "/api/v2/clients",
            "nobody.test",
            Answers::default(),
            &["tenant nobody.test"],
            (404, "reject", "unknown_tenant"),
        ),
        ("POST", "//api/v2/clients", "strict.test", Answers::default(), &[], (400, "reject", "ambiguous_path")),
    ];
    for (method, target, host, answers, expected_needs, expected_end) in rows {
        let (needs, end) = run(method, target, host, answers);
        let row = format!("{method} {target} @ {host}");
        assert_eq!(needs, expected_needs, "{row}");
        assert_eq!(summary(&end), expected_end, "{row}: {end:?}");
    }
}

#[test]
fn a_forwarded_creation_carries_its_bytes_and_what_to_capture() {
    let body = r#"{"name":"a", "is_first_party":false}"#;
    let (_, end) = run("POST", "/api/v2/clients", "strict.test", Answers { body: Ok(body), ..Answers::default() });
    let Step::Forward { body: UpstreamBody::Decided(bytes), record: Some(record), creation: Some(creation) } = end
    else {
        panic!("{end:?}")
    };
    assert_eq!(bytes, br#"{"name":"a", "is_first_party":false,"third_party_security_mode":"strict"}"#);
    assert_eq!(record.injected, vec!["third_party_security_mode"]);
    assert_eq!(creation, Creation { route: RouteId::ClientsCreate, effective_mode: Some(SecurityMode::Strict) });
}

#[test]
fn shadow_mode_forwards_the_original_bytes_and_keeps_the_would_be_answer() {
    let body = r#"{"is_first_party":false,"sso":true}"#;
    let (_, end) = run("POST", "/api/v2/clients", "shadow.test", Answers { body: Ok(body), ..Answers::default() });
    let Step::Forward { body: UpstreamBody::Untouched, record: Some(record), creation: None } = end else {
        panic!("{end:?}")
    };
    assert_eq!(record.would_answer.map(|r| r.status), Some(400));
}

#[test]
fn an_answer_before_the_body_closes_the_connection_and_one_after_keeps_it() {
    let (_, before) = run(
        "POST",
        "/api/v2/clients",
        "strict.test",
        Answers { token: Err(ReasonCode::TokenMissing), ..Answers::default() },
    );
    assert!(matches!(before, Step::Respond { body_read: false, .. }), "{before:?}");
    let (_, after) = run("POST", "/api/v2/clients", "strict.test", Answers { body: Ok("[]"), ..Answers::default() });
    assert!(matches!(after, Step::Respond { body_read: true, .. }), "{after:?}");
}

/// SPEC §13: a runtime client the gateway could not find out about (its lookup failed) is
/// held to the strict rules under `allow` (what a strict client may do goes on, recorded as
/// `client_lookup_failed`), and refused with a 503 under `deny`; a DCR token without
/// `create:clients` is 401 (SPEC §4).
#[test]
fn a_failed_runtime_lookup_holds_the_client_to_the_strict_rules_and_dcr_scope_is_401() {
    let config = config();
    let map = headers(&[("host", "strict.test")]);
    let implicit = "/authorize?client_id=abc&response_type=token";
    let pkce = "/authorize?client_id=abc&response_type=code&code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM&code_challenge_method=S256&redirect_uri=https%3A%2F%2Fa.test%2Fcb";
    for (unknown_client, target, expected) in [
        (UnknownClient::Allow, implicit, (400, "reject", "unsupported_response_type")),
        (UnknownClient::Allow, pkce, (0, "forward", "client_lookup_failed")),
        (UnknownClient::Deny, pkce, (503, "reject", "client_lookup_failed")),
    ] {
        let mut settings = (*config.policy).clone();
        settings.unknown_client = unknown_client;
        let (mut pipeline, step) = Pipeline::start(&head("GET", target, &map), Arc::new(settings), AFTER_STRICT_DATE);
        let Step::NeedTenant { host } = step else { panic!("{step:?}") };
        let step = pipeline.tenant(Ok(config.tenants.by_host(&host).map(|t| Arc::clone(&t.policy))));
        let Step::NeedClientMode { id, .. } = step else { panic!("{step:?}") };
        assert_eq!(id, "abc");
        let end = pipeline.runtime_client(Err(()));
        assert_eq!(summary(&end), expected, "{unknown_client:?} {target}");
        if let Step::Respond { rejection, .. } = &end
            && rejection.status == 400
        {
            assert!(rejection.message.contains("could not learn this client's mode"), "{}", rejection.message);
        }
    }
    let map = headers(&[("host", "tokened.test"), ("content-type", "application/json")]);
    let (mut pipeline, step) =
        Pipeline::start(&head("POST", "/oidc/register", &map), Arc::clone(&config.policy), AFTER_STRICT_DATE);
    let Step::NeedTenant { host } = step else { panic!("{step:?}") };
    let step = pipeline.tenant(Ok(config.tenants.by_host(&host).map(|t| Arc::clone(&t.policy))));
    let Step::NeedToken { scope, .. } = step else { panic!("{step:?}") };
    let lacking = Rejection::new(403, ErrorCode::InsufficientScope, ReasonCode::InsufficientScope, "no");
    let Step::Respond { rejection, .. } = pipeline.token(Err(lacking)) else { panic!("a refusal") };
    assert_eq!(
        (rejection.status, rejection.code, rejection.reason),
        (401, ErrorCode::InvalidToken, ReasonCode::InsufficientScope)
    );
    assert!(rejection.message.contains(scope));
}
