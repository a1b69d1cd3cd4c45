//! `POST /api/v2/client-grants` (SPEC §4 client_grants_create).

use crate::support::{Gateway, Upstream, status};

const GRANTS: &str = "/api/v2/client-grants";

#[test]
fn default_grants_are_checked() {
    let upstream = Upstream::start().route(GRANTS, 201, r#"{"id":"cgr_1"}"#);
    let gateway = Gateway::start(upstream.addr);
    let refused = [
        (r#"{"audience":"https://api.acme.test","scope":[],"default_for":"all_clients"}"#, "invalid_default_for"),
        (r#"{"audience":"https://api.acme.test","scope":[],"default_for":null}"#, "invalid_default_for"),
        (
            r#"{"audience":"https://api.acme.test","client_id":"abc","default_for":"third_party_clients"}"#,
            "default_grant_with_client_id",
        ),
        (
            r#"{"audience":"https://acme.example.test/api/v2/","default_for":"third_party_clients"}"#,
            "default_grant_management_api",
        ),
        (
            r#"{"audience":"HTTPS://ACME.example.test/api/v2","default_for":"third_party_clients"}"#,
            "default_grant_management_api",
        ),
        (r#"{"audience":7,"default_for":"third_party_clients"}"#, "invalid_type"),
        // the Management API under the tenant's other host name
        (
            r#"{"audience":"https://login.acme.test/api/v2/","default_for":"third_party_clients"}"#,
            "default_grant_management_api",
        ),
    ];
    for (body, reason) in refused {
        let response = gateway.post_json("acme.example.test", GRANTS, body);
        assert_eq!(status(&response), 400, "{body}");
        assert_eq!(response.header("x-modegate-reason"), Some(reason), "{body}");
        assert_eq!(response.json()["errorCode"], "invalid_body");
    }
    upstream.assert_untouched();
    let allowed = [
        r#"{"audience":"https://api.acme.test","scope":["read:items"],"default_for":"third_party_clients"}"#,
        r#"{"audience":"https://acme.example.test/api/v2/","client_id":"abc","scope":["read:clients"]}"#,
    ];
    for body in allowed {
        assert_eq!(status(&gateway.post_json("acme.example.test", GRANTS, body)), 201, "{body}");
    }
    let bodies: Vec<String> = upstream.requests().iter().map(|r| r.body_text()).collect();
    assert_eq!(bodies, allowed);
}
