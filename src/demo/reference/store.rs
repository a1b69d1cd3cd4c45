//! One tenant's in-memory state in the reference server: clients, settings, grants. It
//! stores whatever members it is sent, as a legacy server that knows no security modes.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use super::{ReferenceTenant, error};

const MODE: &str = "third_party_security_mode";

/// A client as `fields` and `include_fields` of the query select it.
fn filter_fields(client: &Value, query: &str) -> Value {
    let mut fields = None;
    let mut include = true;
    for pair in query.split('&') {
        match pair.split_once('=') {
            Some(("fields", list)) => fields = Some(list.split(',').map(str::to_owned).collect::<Vec<_>>()),
            Some(("include_fields", flag)) => include = flag != "false",
            _ => {}
        }
    }
    let Some(fields) = fields else { return client.clone() };
    let object = client.as_object().cloned().unwrap_or_default();
    Value::Object(object.into_iter().filter(|(k, _)| fields.contains(k) == include).collect::<Map<String, Value>>())
}

pub struct TenantStore {
    pub seed: ReferenceTenant,
    /// Play the legacy upstream that knows nothing of modes: `third_party_security_mode`
    /// is dropped from what is stored (and so from every later answer).
    pub drop_mode: bool,
    clients: BTreeMap<String, Value>,
    settings: Map<String, Value>,
    grants: Vec<Value>,
}

impl TenantStore {
    pub fn new(seed: ReferenceTenant) -> Self {
        let mut settings = Map::new();
        settings.insert("friendly_name".into(), json!(seed.host));
        settings.insert("flags".into(), json!({"enable_dynamic_client_registration": true}));
        TenantStore { seed, drop_mode: false, clients: BTreeMap::new(), settings, grants: Vec::new() }
    }

    pub fn grants(&self) -> &[Value] {
        &self.grants
    }

    pub fn settings(&self) -> Value {
        Value::Object(self.settings.clone())
    }

    /// `POST /api/v2/clients`: the body as sent, with an id, a secret and the defaults a
    /// legacy server fills in.
    pub fn create_client(&mut self, id: String, secret: String, body: Value) -> (u16, Value) {
        let mut client = body.as_object().cloned().unwrap_or_default();
        if client.contains_key("client_id") {
            return error(400, "Bad Request", "This operation must be authorized by Auth0", "invalid_body");
        }
        client.insert("client_id".into(), json!(id));
        client.insert("client_secret".into(), json!(secret));
        client.entry("is_first_party").or_insert(json!(true));
        client.entry("name").or_insert(json!("My App"));
        if self.drop_mode {
            client.remove(MODE);
        }
        let client = Value::Object(client);
        self.clients.insert(id, client.clone());
        (201, client)
    }

    /// `GET /api/v2/clients` with `page`, `per_page` (at most 100), `include_totals`,
    /// `fields` and `include_fields`, as the Management API pages.
    pub fn list_clients(&self, query: &str) -> (u16, Value) {
        let (mut page, mut per_page, mut totals) = (0usize, 50usize, false);
        for pair in query.split('&') {
            match pair.split_once('=') {
                Some(("page", n)) => page = n.parse().unwrap_or(0),
                Some(("per_page", n)) => per_page = n.parse::<usize>().unwrap_or(50).clamp(1, 100),
                Some(("include_totals", flag)) => totals = flag == "true",
                _ => {}
            }
        }
        let clients: Vec<Value> = self
            .clients
            .values()
            .skip(page.saturating_mul(per_page))
            .take(per_page)
            .map(|client| filter_fields(client, query))
            .collect();
        if totals {
            let total = self.clients.len();
            (
                200,
                json!({"start": page.saturating_mul(per_page), "limit": per_page, "length": clients.len(), "total": total, "clients": clients}),
            )
        } else {
            (200, Value::Array(clients))
        }
    }

    /// `DELETE /api/v2/clients/{id}`.
    pub fn delete_client(&mut self, id: &str) -> (u16, Value) {
        match self.clients.remove(id) {
            Some(_) => (204, Value::Null),
            None => error(404, "Not Found", "The client does not exist", "inexistent_client"),
        }
    }

    /// Test data: `count` clients, alternately first-party, strict and permissive.
    pub fn seed_clients(&mut self, count: usize) {
        for n in 0..count {
            let id = format!("seed{n:06}");
            let mut client = Map::new();
            client.insert("client_id".into(), json!(id));
            client.insert("name".into(), json!(format!("seed {n}")));
            client.insert("is_first_party".into(), json!(n % 3 == 0));
            if n % 3 != 0 && !self.drop_mode {
                client.insert(MODE.into(), json!(if n % 3 == 1 { "strict" } else { "permissive" }));
            }
            self.clients.insert(id, Value::Object(client));
        }
    }

    /// `GET /api/v2/clients/{id}`, with `fields` and `include_fields`.
    pub fn get_client(&self, id: &str, query: &str) -> (u16, Value) {
        match self.clients.get(id) {
            Some(client) => (200, filter_fields(client, query)),
            None => error(404, "Not Found", "The client does not exist", "inexistent_client"),
        }
    }

    /// `PATCH /api/v2/clients/{id}`: top-level members replaced.
    pub fn update_client(&mut self, id: &str, body: Value) -> (u16, Value) {
        let Some(client) = self.clients.get_mut(id).and_then(Value::as_object_mut) else {
            return error(404, "Not Found", "The client does not exist", "inexistent_client");
        };
        for (name, value) in body.as_object().cloned().unwrap_or_default() {
            if !(self.drop_mode && name == MODE) {
                client.insert(name, value);
            }
        }
        (200, Value::Object(client.clone()))
    }

    pub fn update_settings(&mut self, body: Value) -> (u16, Value) {
        for (name, value) in body.as_object().cloned().unwrap_or_default() {
            self.settings.insert(name, value);
        }
        (200, self.settings())
    }

    pub fn create_grant(&mut self, id: String, body: Value) -> (u16, Value) {
        let mut grant = body.as_object().cloned().unwrap_or_default();
        if grant.get("audience").and_then(Value::as_str).is_none() {
            return error(
                400,
                "Bad Request",
                "Payload validation error: 'Missing required property: audience'.",
                "invalid_body",
            );
        }
        grant.insert("id".into(), json!(id));
        grant.entry("subject_type").or_insert(json!("client"));
        let grant = Value::Object(grant);
        self.grants.push(grant.clone());
        (201, grant)
    }

    /// `POST /oidc/register`: a third-party client from RFC 7591 metadata.
    pub fn register(&mut self, id: String, secret: String, metadata: Value) -> (u16, Value) {
        let mut client = metadata.as_object().cloned().unwrap_or_default();
        if client.get("redirect_uris").and_then(Value::as_array).is_none_or(|uris| uris.is_empty()) {
            return (400, json!({"error": "invalid_redirect_uri", "error_description": "redirect_uris is required"}));
        }
        client.insert("client_id".into(), json!(id));
        client.insert("client_secret".into(), json!(secret));
        client.insert("client_secret_expires_at".into(), json!(0));
        client.entry("token_endpoint_auth_method").or_insert(json!("client_secret_post"));
        client.entry("grant_types").or_insert(json!(["authorization_code", "implicit", "refresh_token"]));
        let mut stored = client.clone();
        stored.insert("is_first_party".into(), json!(false));
        if self.drop_mode {
            stored.remove(MODE);
            client.remove(MODE);
        }
        self.clients.insert(id, Value::Object(stored));
        (201, Value::Object(client))
    }
}
