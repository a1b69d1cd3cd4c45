use serde_json::json;

use super::*;

fn server() -> ReferenceServer {
    let pem = std::fs::read(format!("{}/config/demo/reference-signing-key.pem", env!("CARGO_MANIFEST_DIR"))).unwrap();
    ReferenceServer::new(&pem, &[ReferenceTenant::demo("a.test"), ReferenceTenant::demo("b.test")]).unwrap()
}

fn token(server: &ReferenceServer, host: &str) -> String {
    let body = format!(
        "grant_type=client_credentials&client_id=demo-m2m&client_secret=demo-secret&audience=https%3A%2F%2F{host}%2Fapi%2Fv2%2F"
    );
    let (status, answer) = server.answer("POST", host, "/oauth/token", None, body.as_bytes());
    assert_eq!(status, 200, "{answer}");
    format!("Bearer {}", answer["access_token"].as_str().unwrap())
}

#[test]
fn issues_tokens_with_auth0_claims_that_the_gateway_accepts() {
    let server = server();
    let bearer = token(&server, "a.test");
    let jwt = bearer.trim_start_matches("Bearer ");
    let claims: serde_json::Value = jsonwebtoken::dangerous::insecure_decode(jwt).map(|d| d.claims).unwrap_or_default();
    assert_eq!(claims["iss"], "https://a.test/");
    assert_eq!(claims["aud"], "https://a.test/api/v2/");
    assert_eq!(claims["sub"], "demo-m2m@clients");
    assert_eq!(claims["azp"], "demo-m2m");
    assert_eq!(claims["gty"], "client-credentials");
    let (status, jwks) = server.answer("GET", "a.test", "/.well-known/jwks.json", None, b"");
    assert_eq!(status, 200);
    assert_eq!(jwks["keys"][0]["kid"], KID);
    // wrong secret, wrong audience, wrong grant
    for body in [
        "grant_type=client_credentials&client_id=demo-m2m&client_secret=x&audience=https%3A%2F%2Fa.test%2Fapi%2Fv2%2F",
        "grant_type=client_credentials&client_id=demo-m2m&client_secret=demo-secret&audience=https%3A%2F%2Fb.test%2Fapi%2Fv2%2F",
        "grant_type=password",
    ] {
        assert!(server.answer("POST", "a.test", "/oauth/token", None, body.as_bytes()).0 >= 400, "{body}");
    }
}

#[test]
fn stores_whatever_it_is_sent_and_checks_its_own_tokens() {
    let server = server();
    let bearer = token(&server, "a.test");
    let body = br#"{"name":"x","is_first_party":false,"third_party_security_mode":"strict"}"#;
    let (status, client) = server.answer("POST", "a.test", "/api/v2/clients", Some(&bearer), body);
    assert_eq!(status, 201);
    assert_eq!(client["third_party_security_mode"], "strict");
    let id = client["client_id"].as_str().unwrap().to_owned();
    assert_eq!(id.len(), 32);
    let (status, fields) = server.answer(
        "GET",
        "a.test",
        &format!("/api/v2/clients/{id}?fields=is_first_party,third_party_security_mode&include_fields=true"),
        Some(&bearer),
        b"",
    );
    assert_eq!(status, 200);
    assert_eq!(fields, json!({"is_first_party": false, "third_party_security_mode": "strict"}));
    // the legacy server lets a mode change through: that is what the gateway is for
    let (status, updated) = server.answer(
        "PATCH",
        "a.test",
        &format!("/api/v2/clients/{id}"),
        Some(&bearer),
        br#"{"third_party_security_mode":"permissive"}"#,
    );
    assert_eq!((status, updated["third_party_security_mode"].clone()), (200, json!("permissive")));
    assert_eq!(server.answer("GET", "a.test", "/api/v2/clients/nope", Some(&bearer), b"").0, 404);
    // no token, another tenant's token
    assert_eq!(server.answer("POST", "a.test", "/api/v2/clients", None, body).0, 401);
    assert_eq!(server.answer("POST", "b.test", "/api/v2/clients", Some(&bearer), body).0, 401);
    // settings and grants
    let (status, settings) = server.answer(
        "PATCH",
        "a.test",
        "/api/v2/tenants/settings",
        Some(&bearer),
        br#"{"dynamic_client_registration_security_mode":"strict"}"#,
    );
    assert_eq!((status, settings["dynamic_client_registration_security_mode"].clone()), (200, json!("strict")));
    let (status, grant) = server.answer(
        "POST",
        "a.test",
        "/api/v2/client-grants",
        Some(&bearer),
        br#"{"audience":"https://api.a.test","scope":["read"],"default_for":"third_party_clients"}"#,
    );
    assert_eq!(status, 201);
    assert!(grant["id"].as_str().unwrap().starts_with("cgr_"));
}

#[test]
fn registers_clients_dynamically() {
    let server = server();
    let (status, client) = server.answer(
        "POST",
        "a.test",
        "/oidc/register",
        None,
        br#"{"client_name":"t","redirect_uris":["https://t.test/cb"]}"#,
    );
    assert_eq!(status, 201);
    assert_eq!(client["client_secret_expires_at"], 0);
    assert_eq!(server.answer("POST", "a.test", "/oidc/register", None, b"{}").0, 400);
}
