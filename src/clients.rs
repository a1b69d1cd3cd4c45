//! What the gateway knows of existing clients (SPEC §4 clients_update): the `tpc_` prefix,
//! a bounded cache filled from the creations it proxied, and a lookup sent upstream with
//! the caller's own `Authorization`. The mode and ownership never change, so a cached
//! value never goes stale and needs no expiry, only a size bound.

use std::sync::Arc;

use percent_encoding::utf8_percent_encode;

use crate::config::{Tenant, Upstream};
use serde_json::{Map, Value};

use crate::policy::COMBINED_MEMBERS;
use crate::policy::ClientState;
use crate::upstream::{Endpoint, PATH_SEGMENT, SideClient};

/// Clients remembered, across all tenants.
pub const MAX_CLIENTS: u64 = 100_000;

/// The outcome of finding a client's current state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lookup {
    Known(ClientState),
    /// The upstream answered 404: it will answer the update with 404 itself.
    NotFound,
}

/// Why the state could not be found; the gateway fails closed (503).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot look up client `{client_id}`: {detail}")]
pub struct LookupError {
    pub client_id: String,
    pub detail: String,
}

pub struct ClientModes {
    known: moka::sync::Cache<(String, String), ClientState>,
    client: Arc<SideClient>,
}

impl ClientModes {
    pub fn new(client: Arc<SideClient>) -> Self {
        ClientModes { known: moka::sync::Cache::builder().max_capacity(MAX_CLIENTS).build(), client }
    }

    /// Remembers a client the gateway saw created (an upstream 201).
    pub fn remember(&self, tenant: &Tenant, client_id: &str, state: ClientState) {
        if ClientState::from_client_id(client_id).is_none() {
            self.known.insert((tenant.policy.id.clone(), client_id.to_owned()), state);
        }
    }

    pub fn len(&self) -> u64 {
        self.known.entry_count()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The current state of `client_id` on `tenant`, asking the upstream (as `host`, with
    /// the caller's `authorization`) when neither the prefix nor the cache knows it.
    pub async fn current(
        &self,
        tenant: &Tenant,
        upstream: &Upstream,
        host: &str,
        client_id: &str,
        authorization: Option<&str>,
    ) -> Result<Lookup, LookupError> {
        if let Some(state) = ClientState::from_client_id(client_id) {
            return Ok(Lookup::Known(state));
        }
        let key = (tenant.policy.id.clone(), client_id.to_owned());
        if let Some(state) = self.known.get(&key) {
            return Ok(Lookup::Known(state));
        }
        let fields = "is_first_party,third_party_security_mode";
        let Some(document) = self.fetch(upstream, host, client_id, fields, authorization).await? else {
            return Ok(Lookup::NotFound);
        };
        let state = ClientState::from_document(&document).ok_or_else(|| LookupError {
            client_id: client_id.to_owned(),
            detail: "the answer is not a client".into(),
        })?;
        self.known.insert(key, state);
        Ok(Lookup::Known(state))
    }

    /// The client's current values of [`COMBINED_MEMBERS`], asked of the upstream every
    /// time (they change with each update); `None` when the upstream does not know it.
    pub async fn combined_members(
        &self,
        upstream: &Upstream,
        host: &str,
        client_id: &str,
        authorization: Option<&str>,
    ) -> Result<Option<Map<String, Value>>, LookupError> {
        let fields = COMBINED_MEMBERS.join(",");
        let document = self.fetch(upstream, host, client_id, &fields, authorization).await?;
        Ok(document.map(|document| {
            COMBINED_MEMBERS
                .iter()
                .filter_map(|name| Some(((*name).to_owned(), document.get(*name)?.clone())))
                .filter(|(_, value)| !value.is_null())
                .collect()
        }))
    }

    /// `GET /api/v2/clients/{id}?fields=…&include_fields=true` with the caller's
    /// `Authorization`: the document, `None` on 404, an error otherwise.
    async fn fetch(
        &self,
        upstream: &Upstream,
        host: &str,
        client_id: &str,
        fields: &str,
        authorization: Option<&str>,
    ) -> Result<Option<Value>, LookupError> {
        let error = |detail: String| LookupError { client_id: client_id.to_owned(), detail };
        let path = format!(
            "/api/v2/clients/{}?fields={fields}&include_fields=true",
            utf8_percent_encode(client_id, PATH_SEGMENT)
        );
        let mut headers = vec![("accept", "application/json")];
        if let Some(authorization) = authorization {
            headers.push(("authorization", authorization));
        }
        let answer = self
            .client
            .get(&Endpoint::upstream(upstream, host), &path, &headers)
            .await
            .map_err(|e| error(e.to_string()))?;
        match answer.status {
            200 => serde_json::from_slice(&answer.body).map(Some).map_err(|_| error("the answer is not JSON".into())),
            404 => Ok(None),
            status => Err(error(format!("the upstream answered {status}"))),
        }
    }
}
