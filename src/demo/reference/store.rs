//! One tenant's in-memory state in the reference server: clients, settings, grants. It
//! stores whatever members it is sent, as a legacy server that knows no security modes.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use super::{ReferenceTenant, error};

pub struct TenantStore {
    pub seed: ReferenceTenant,
    clients: BTreeMap<String, Value>,
    settings: Map<String, Value>,
    grants: Vec<Value>,
}

impl TenantStore {
    pub fn new(seed: ReferenceTenant) -> Self {
        let mut settings = Map::new();
        settings.insert("friendly_name".into(), json!(seed.host));
        settings.insert("flags".into(), json!({"enable_dynamic_client_registration": true}));
        TenantStore { seed, clients: BTreeMap::new(), settings, grants: Vec::new() }
    }

    pub fn clients(&self) -> impl Iterator<Item = &Value> {
        self.clients.values()
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
        let client = Value::Object(client);
        self.clients.insert(id, client.clone());
        (201, client)
    }

    /// `GET /api/v2/clients/{id}`, with `fields` and `include_fields`.
    pub fn get_client(&self, id: &str, query: &str) -> (u16, Value) {
        let Some(client) = self.clients.get(id) else {
            return error(404, "Not Found", "The client does not exist", "inexistent_client");
        };
        let mut fields = None;
        let mut include = true;
        for pair in query.split('&') {
            match pair.split_once('=') {
                Some(("fields", list)) => fields = Some(list.split(',').map(str::to_owned).collect::<Vec<_>>()),
                Some(("include_fields", flag)) => include = flag != "false",
                _ => {}
            }
        }
        let Some(fields) = fields else { return (200, client.clone()) };
        let object = client.as_object().cloned().unwrap_or_default();
        let filtered: Map<String, Value> = object.into_iter().filter(|(k, _)| fields.contains(k) == include).collect();
        (200, Value::Object(filtered))
    }

    /// `PATCH /api/v2/clients/{id}`: top-level members replaced.
    pub fn update_client(&mut self, id: &str, body: Value) -> (u16, Value) {
        let Some(client) = self.clients.get_mut(id).and_then(Value::as_object_mut) else {
            return error(404, "Not Found", "The client does not exist", "inexistent_client");
        };
        for (name, value) in body.as_object().cloned().unwrap_or_default() {
            client.insert(name, value);
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
        self.clients.insert(id, Value::Object(stored));
        (201, Value::Object(client))
    }
}
