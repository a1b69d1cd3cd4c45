//! The reference authorization server: a legacy Auth0-style server that knows nothing of
//! security modes, for `modegate demo` and the tests. In memory, several tenants by host.
//!
//! - `POST /oauth/token` (client credentials) issues RS256 Management API tokens with
//!   Auth0's claim shapes (`iss`, `aud`, `scope`, `sub` `{client_id}@clients`, `azp`, `gty`);
//!   `GET /.well-known/jwks.json` publishes the key;
//! - `POST/GET /api/v2/clients`, `GET/PATCH /api/v2/clients/{id}`,
//!   `GET/PATCH /api/v2/tenants/settings`, `POST/GET /api/v2/client-grants`: store whatever
//!   members they are sent and answer in the Management API's shapes, behind its own tokens;
//! - `POST /oidc/register`: open dynamic registration (RFC 7591 answer shape).
//!
//! It is not hardened for production: it is the upstream a gateway would stand in front of.
//! It checks its own tokens with its own code (`jsonwebtoken` and its own key), so that as a
//! test oracle it shares no verification code with the gateway it tests.

pub mod store;

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;
use bytes::BytesMut;
use http::Response;
use jsonwebtoken::jwk::{Jwk, JwkSet};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use pingora::apps::http_app::ServeHttp;
use pingora::protocols::http::ServerSession;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use store::TenantStore;

/// The key id of the reference server's signing key.
pub const KID: &str = "modegate-reference";
/// Largest request body the reference server reads.
const MAX_BODY: usize = 1024 * 1024;
/// Lifetime of an issued token, as Auth0's default.
const TOKEN_LIFETIME_S: u64 = 86_400;
/// Every Management API scope the seeded management client gets.
pub const MANAGEMENT_SCOPES: &str = "read:clients create:clients update:clients delete:clients read:client_keys \
read:tenant_settings update:tenant_settings read:client_grants create:client_grants update:client_grants delete:client_grants";

/// One tenant of the reference server.
#[derive(Debug, Clone)]
pub struct ReferenceTenant {
    pub host: String,
    /// The seeded machine-to-machine client allowed every Management API scope.
    pub management_client_id: String,
    pub management_client_secret: String,
}

impl ReferenceTenant {
    /// A tenant with the demo management client `demo-m2m` / `demo-secret`.
    pub fn demo(host: &str) -> Self {
        ReferenceTenant {
            host: host.to_ascii_lowercase(),
            management_client_id: "demo-m2m".into(),
            management_client_secret: "demo-secret".into(),
        }
    }
}

pub struct ReferenceServer {
    key: EncodingKey,
    jwks: String,
    verifying: DecodingKey,
    tenants: Mutex<HashMap<String, TenantStore>>,
    counter: AtomicU64,
}

impl ReferenceServer {
    /// A server signing with the RSA key in `pem`, serving `tenants`.
    pub fn new(pem: &[u8], tenants: &[ReferenceTenant]) -> anyhow::Result<Self> {
        let key = EncodingKey::from_rsa_pem(pem).map_err(|e| anyhow::anyhow!("reference signing key: {e}"))?;
        let mut jwk =
            Jwk::from_encoding_key(&key, Algorithm::RS256).map_err(|e| anyhow::anyhow!("reference JWK: {e}"))?;
        jwk.common.key_id = Some(KID.to_owned());
        let verifying = DecodingKey::from_jwk(&jwk).map_err(|e| anyhow::anyhow!("reference JWK: {e}"))?;
        let jwks = serde_json::to_string(&JwkSet { keys: vec![jwk] })?;
        let tenants = tenants.iter().map(|t| (t.host.clone(), TenantStore::new(t.clone()))).collect();
        Ok(ReferenceServer { key, jwks, verifying, tenants: Mutex::new(tenants), counter: AtomicU64::new(1) })
    }

    /// Plays the legacy upstream (`--drop-mode`) and seeds `seed` clients per tenant.
    pub fn with_options(self, drop_mode: bool, seed: usize) -> Self {
        if let Ok(mut tenants) = self.tenants.lock() {
            for tenant in tenants.values_mut() {
                tenant.drop_mode = drop_mode;
                tenant.seed_clients(seed);
            }
        }
        self
    }

    /// A Management API token for `host`, as `POST /oauth/token` would issue it.
    pub fn issue_token(&self, host: &str, client_id: &str, scope: &str) -> anyhow::Result<String> {
        let now = now();
        let claims = json!({
            "iss": format!("https://{host}/"),
            "sub": format!("{client_id}@clients"),
            "aud": format!("https://{host}/api/v2/"),
            "iat": now,
            "exp": now + TOKEN_LIFETIME_S,
            "scope": scope,
            "gty": "client-credentials",
            "azp": client_id,
        });
        let mut header = Header::new(Algorithm::RS256);
        header.kid = Some(KID.to_owned());
        Ok(jsonwebtoken::encode(&header, &claims, &self.key)?)
    }

    /// A fresh identifier: 32 characters, as Auth0's legacy client ids.
    fn new_id(&self, host: &str) -> String {
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        let mut hash = Sha256::new();
        hash.update(host.as_bytes());
        hash.update(n.to_be_bytes());
        hash.update(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos())
                .to_be_bytes(),
        );
        hash.finalize().iter().map(|b| format!("{b:02x}")).collect::<String>().chars().take(32).collect()
    }

    /// The answer to one request: status and JSON body.
    pub fn answer(
        &self,
        method: &str,
        host: &str,
        path_and_query: &str,
        authorization: Option<&str>,
        body: &[u8],
    ) -> (u16, Value) {
        let (path, query) = path_and_query.split_once('?').unwrap_or((path_and_query, ""));
        let path = path.trim_end_matches('/');
        if method == "GET" && path == "/.well-known/jwks.json" {
            return (200, serde_json::from_str(&self.jwks).unwrap_or(Value::Null));
        }
        let mut tenants = self.tenants.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let Some(tenant) = tenants.get_mut(host) else {
            return error(404, "Not Found", "no such tenant", "inexistent_tenant");
        };
        let json_body = || -> Result<Value, (u16, Value)> {
            if body.is_empty() {
                return Ok(json!({}));
            }
            serde_json::from_slice(body)
                .map_err(|e| error(400, "Bad Request", &format!("Payload validation error: {e}"), "invalid_body"))
        };
        if method == "POST" && path == "/oauth/token" {
            return self.token(tenant, host, body);
        }
        if method == "POST" && path == "/oidc/register" {
            return match json_body() {
                Ok(metadata) => tenant.register(self.new_id(host), self.new_id(host), metadata),
                Err(e) => {
                    (400, json!({"error":"invalid_client_metadata","error_description": e.1.get("message").cloned()}))
                }
            };
        }
        if matches!(method, "GET" | "POST") && path == "/authorize" {
            // a legacy server: any client, any flow; it would show its login page now
            let client_id = query
                .split('&')
                .find_map(|pair| pair.strip_prefix("client_id="))
                .map(|id| percent_encoding::percent_decode_str(id).decode_utf8_lossy().into_owned());
            return (
                200,
                json!({"page": "login", "client_id": client_id, "note": "the reference server would ask the user to sign in here"}),
            );
        }
        if !path.starts_with("/api/v2/") {
            return error(404, "Not Found", "Not Found", "not_found");
        }
        let scope = match (method, path) {
            ("POST", "/api/v2/clients") => "create:clients",
            ("GET", "/api/v2/clients") => "read:clients",
            ("GET", p) if p.starts_with("/api/v2/clients/") => "read:clients",
            ("PATCH" | "PUT", p) if p.starts_with("/api/v2/clients/") => "update:clients",
            ("DELETE", p) if p.starts_with("/api/v2/clients/") => "delete:clients",
            ("GET", "/api/v2/tenants/settings") => "read:tenant_settings",
            ("PATCH" | "PUT", "/api/v2/tenants/settings") => "update:tenant_settings",
            ("POST", "/api/v2/client-grants") => "create:client_grants",
            ("GET", "/api/v2/client-grants") => "read:client_grants",
            _ => return error(404, "Not Found", "Not Found", "not_found"),
        };
        if let Err(answer) = self.authorize(host, authorization, scope) {
            return answer;
        }
        let body = match method {
            "POST" | "PATCH" | "PUT" => match json_body() {
                Ok(body) if body.is_object() => body,
                Ok(_) => {
                    return error(400, "Bad Request", "Payload validation error: expected an object", "invalid_body");
                }
                Err(answer) => return answer,
            },
            _ => Value::Null,
        };
        match (method, path) {
            ("POST", "/api/v2/clients") => tenant.create_client(self.new_id(host), self.new_id(host), body),
            ("GET", "/api/v2/clients") => tenant.list_clients(query),
            ("DELETE", p) => tenant.delete_client(p.trim_start_matches("/api/v2/clients/")),
            ("PATCH" | "PUT", "/api/v2/tenants/settings") => tenant.update_settings(body),
            ("GET", "/api/v2/tenants/settings") => (200, tenant.settings()),
            ("POST", "/api/v2/client-grants") => {
                tenant.create_grant(format!("cgr_{}", self.new_id(host).chars().take(16).collect::<String>()), body)
            }
            ("GET", "/api/v2/client-grants") => (200, Value::Array(tenant.grants().to_vec())),
            ("GET", p) => tenant.get_client(p.trim_start_matches("/api/v2/clients/"), query),
            (_, p) => tenant.update_client(p.trim_start_matches("/api/v2/clients/"), body),
        }
    }

    fn authorize(&self, host: &str, authorization: Option<&str>, scope: &str) -> Result<(), (u16, Value)> {
        let Some(token) = authorization.and_then(|a| a.strip_prefix("Bearer ").or_else(|| a.strip_prefix("bearer ")))
        else {
            return Err(error(401, "Unauthorized", "Missing authentication", "missing_authentication"));
        };
        let mut validation = Validation::new(Algorithm::RS256);
        validation.set_issuer(&[format!("https://{host}/")]);
        validation.set_audience(&[format!("https://{host}/api/v2/")]);
        let claims = jsonwebtoken::decode::<Value>(token.trim(), &self.verifying, &validation)
            .map_err(|_| error(401, "Unauthorized", "Invalid token", "invalid_token"))?
            .claims;
        let granted = claims.get("scope").and_then(Value::as_str).unwrap_or_default();
        if granted.split_whitespace().any(|s| s == scope) {
            Ok(())
        } else {
            let message = format!("Insufficient scope, expected any of: {scope}");
            Err(error(403, "Forbidden", &message, "insufficient_scope"))
        }
    }

    fn token(&self, tenant: &TenantStore, host: &str, body: &[u8]) -> (u16, Value) {
        let fields = parse_token_request(body);
        let field = |name: &str| fields.get(name).map(String::as_str).unwrap_or_default();
        let oauth_error =
            |status, code: &str, description: &str| (status, json!({"error": code, "error_description": description}));
        if field("grant_type") != "client_credentials" {
            return oauth_error(400, "unsupported_grant_type", "only client_credentials is supported here");
        }
        let seeded = &tenant.seed;
        if field("client_id") != seeded.management_client_id
            || field("client_secret") != seeded.management_client_secret
        {
            return oauth_error(401, "access_denied", "Unauthorized");
        }
        // the audience may name the host with a port (`https://localhost:8443/api/v2/`, as
        // SDKs build it from their `domain`); tokens carry the canonical one
        let requested: Option<http::Uri> = field("audience").parse().ok();
        let same_host =
            requested.as_ref().and_then(|u| u.authority()).map(|a| a.host().trim_end_matches('.').to_ascii_lowercase());
        let is_management =
            same_host.as_deref() == Some(host) && requested.as_ref().is_some_and(|u| u.path() == "/api/v2/");
        if !is_management {
            return oauth_error(
                403,
                "access_denied",
                &format!("Service not enabled within domain: {}", field("audience")),
            );
        }
        let scope = match fields.get("scope") {
            Some(requested) => requested
                .split_whitespace()
                .filter(|s| MANAGEMENT_SCOPES.split_whitespace().any(|m| m == *s))
                .collect::<Vec<_>>()
                .join(" "),
            None => MANAGEMENT_SCOPES.to_owned(),
        };
        match self.issue_token(host, &seeded.management_client_id, &scope) {
            Ok(token) => (
                200,
                json!({"access_token": token, "scope": scope, "expires_in": TOKEN_LIFETIME_S, "token_type": "Bearer"}),
            ),
            Err(e) => oauth_error(500, "server_error", &e.to_string()),
        }
    }
}

/// A token request, JSON or form-encoded.
fn parse_token_request(body: &[u8]) -> HashMap<String, String> {
    if let Ok(Value::Object(map)) = serde_json::from_slice::<Value>(body) {
        return map.into_iter().filter_map(|(k, v)| v.as_str().map(|s| (k, s.to_owned()))).collect();
    }
    String::from_utf8_lossy(body)
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .map(|(k, v)| {
            let decode =
                |s: &str| percent_encoding::percent_decode_str(&s.replace('+', " ")).decode_utf8_lossy().into_owned();
            (decode(k), decode(v))
        })
        .collect()
}

fn now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// A Management API error body.
fn error(status: u16, error: &str, message: &str, code: &str) -> (u16, Value) {
    (status, json!({"statusCode": status, "error": error, "message": message, "errorCode": code}))
}

/// A `Host` header as this server reads it: lowercase, without port or trailing dot.
fn host_name(value: &str) -> String {
    let value = value.trim();
    let name = match value.rsplit_once(':') {
        Some((name, port))
            if !name.ends_with(']') || value.starts_with('[') && port.bytes().all(|b| b.is_ascii_digit()) =>
        {
            name
        }
        _ => value,
    };
    name.trim_end_matches('.').to_ascii_lowercase()
}

#[async_trait]
impl ServeHttp for ReferenceServer {
    async fn response(&self, session: &mut ServerSession) -> Response<Vec<u8>> {
        let header = session.req_header();
        let method = header.method.as_str().to_owned();
        let target = String::from_utf8_lossy(header.raw_path()).into_owned();
        let host =
            header.headers.get(http::header::HOST).and_then(|v| v.to_str().ok()).map(host_name).unwrap_or_default();
        let authorization =
            header.headers.get(http::header::AUTHORIZATION).and_then(|v| v.to_str().ok()).map(str::to_owned);
        let mut body = BytesMut::new();
        let mut too_large = false;
        while let Ok(Some(chunk)) = session.read_request_body().await {
            if body.len() + chunk.len() > MAX_BODY {
                too_large = true;
                break;
            }
            body.extend_from_slice(&chunk);
        }
        let (status, value) = if too_large {
            error(413, "Payload Too Large", "Payload too large", "payload_too_large")
        } else {
            self.answer(&method, &host, &target, authorization.as_deref(), &body)
        };
        let bytes = if status == 204 { Vec::new() } else { serde_json::to_vec(&value).unwrap_or_default() };
        Response::builder()
            .status(status)
            .header(http::header::CONTENT_TYPE, "application/json; charset=utf-8")
            .header(http::header::CONTENT_LENGTH, bytes.len())
            .body(bytes)
            .unwrap_or_else(|_| Response::new(Vec::new()))
    }
}

#[cfg(test)]
mod tests;
