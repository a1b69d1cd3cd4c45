//! What the gateway knows of existing clients (SPEC §4 clients_update, §12): the `tpc_`
//! prefix, then the client registry (fed by the creations the gateway forwarded, by
//! lookups and by imports), and last a lookup sent upstream with the caller's own
//! `Authorization`, whose answer goes into the registry. A registry that cannot be read
//! falls back to the lookup.

use std::sync::Arc;

use percent_encoding::utf8_percent_encode;

use crate::config::{Tenant, Upstream};
use serde_json::{Map, Value};

use crate::management::Management;
use crate::policy::COMBINED_MEMBERS;
use crate::policy::ClientState;
use crate::policy::runtime::RuntimeClient;
use crate::registry::{Entry, Origin, Registry, StoreError};
use crate::upstream::{Endpoint, PATH_SEGMENT, SideClient};

/// The longest a request waits for the registry's store before asking the upstream instead.
const REGISTRY_READ_WAIT: std::time::Duration = std::time::Duration::from_millis(500);

/// A registry read off the async threads, bounded in time; `None` when it did not answer.
async fn read_registry(
    registry: Arc<Registry>,
    tenant: String,
    client_id: String,
) -> Option<Result<Option<Entry>, StoreError>> {
    let read = tokio::task::spawn_blocking(move || registry.get(&tenant, &client_id));
    match tokio::time::timeout(REGISTRY_READ_WAIT, read).await {
        Ok(Ok(result)) => Some(result),
        _ => None,
    }
}

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
    registry: Arc<Registry>,
    client: Arc<SideClient>,
    management: Management,
}

impl ClientModes {
    pub fn new(registry: Arc<Registry>, client: Arc<SideClient>) -> Self {
        ClientModes { registry, management: Management::new(Arc::clone(&client)), client }
    }

    /// SPEC §13: a runtime route's client: the `tpc_` prefix, the registry (which knows DCR
    /// clients), then one lookup with the tenant's own management credentials, whose answer
    /// goes into the registry. `None`: the gateway cannot place the client; `Err`: it could
    /// not find out (a lookup that failed or was over the tenant's budget, logged and
    /// counted and not cached; a registry that could not be read with no lookup to make; an
    /// id too long to store). `dcr_matters`:
    /// whether the answer must say if a `tpc_` client came through DCR (a
    /// `client_credentials` grant); otherwise the prefix answers alone.
    pub async fn runtime_client(
        &self,
        tenant: &Tenant,
        upstream: &Upstream,
        host: &str,
        client_id: &str,
        dcr_matters: bool,
    ) -> Result<Option<RuntimeClient>, ()> {
        // SPEC §13's order: the prefix, then the registry's front, answer without leaving
        // the async thread
        if let Some(state) = ClientState::from_client_id(client_id) {
            let dcr = dcr_matters && self.registered_dynamically(tenant, client_id).await;
            return Ok(Some(RuntimeClient { state, dcr }));
        }
        if let Some((state, origin)) = self.registry.cached(&tenant.policy.id, client_id) {
            return Ok(Some(RuntimeClient { state, dcr: origin == Origin::Dcr }));
        }
        let (registry, tenant_id, id) = (Arc::clone(&self.registry), tenant.policy.id.clone(), client_id.to_owned());
        // whether the store said "no entry" (else it could not say: the client may be one it
        // knows as strict)
        let store_answered = match read_registry(registry, tenant_id, id).await {
            Some(Ok(Some(entry))) => {
                return Ok(Some(RuntimeClient { state: entry.state(), dcr: entry.origin == Origin::Dcr }));
            }
            Some(Err(StoreError::Corrupt { .. })) => {
                // fail closed: held to every strict rule, as a strict DCR client
                log::warn!("runtime client `{client_id}`: its registry entry is unreadable; treated as strict");
                let strict = ClientState { is_first_party: false, mode: Some(crate::policy::SecurityMode::Strict) };
                return Ok(Some(RuntimeClient { state: strict, dcr: true }));
            }
            Some(Ok(None)) => true,
            Some(Err(StoreError::Unavailable(_))) | None => false,
        };
        if !Entry::storable_id(client_id) {
            // never stored, so never looked up (`Management::lookup`): the gateway cannot
            // find out what it is
            return Err(());
        }
        let lookup = self.management.lookup(tenant, upstream, host, client_id).await;
        let counted = match &lookup {
            Ok(Some(_)) => Some("found"),
            Ok(None) => Some("not_found"),
            Err(crate::management::ManagementError::NotConfigured(_)) => None,
            Err(crate::management::ManagementError::OverBudget { .. }) => Some("over_budget"),
            Err(_) => Some("error"),
        };
        if let Some(result) = counted {
            crate::telemetry::metrics().client_lookups.with_label_values(&[result]).inc();
        }
        match lookup {
            Ok(Some(state)) => {
                let entry = Entry::new(&tenant.policy.id, client_id, state, Origin::Lookup);
                self.registry.learn(entry);
                Ok(Some(RuntimeClient { state, dcr: false }))
            }
            Ok(None) => Ok(None),
            // no lookup to make: unknown, unless the store could not say
            Err(crate::management::ManagementError::NotConfigured(_)) if store_answered => Ok(None),
            Err(e) => {
                // `{:?}` escapes the id: a client id cannot forge log lines. A spent budget
                // is a flood's doing: counted, not logged once per request
                if matches!(e, crate::management::ManagementError::OverBudget { .. }) {
                    log::debug!("runtime client {client_id:?}: {e}");
                } else {
                    log::warn!("runtime client {client_id:?}: {e}; held to the strict rules meanwhile");
                }
                Err(())
            }
        }
    }

    /// Whether a `tpc_` client was created through DCR (its registry entry's origin; see
    /// `remember`). A store that cannot say counts as DCR: the answer only ever refuses a
    /// `client_credentials` grant.
    async fn registered_dynamically(&self, tenant: &Tenant, client_id: &str) -> bool {
        // kept in lowercase: `TPC_ABC` is the same client to a case-insensitive upstream
        let id = client_id.to_ascii_lowercase();
        if let Some((_, origin)) = self.registry.cached(&tenant.policy.id, &id) {
            return origin == Origin::Dcr;
        }
        let (registry, tenant_id) = (Arc::clone(&self.registry), tenant.policy.id.clone());
        match read_registry(registry, tenant_id, id).await {
            Some(Ok(Some(entry))) => entry.origin == Origin::Dcr,
            Some(Ok(None)) => false,
            _ => {
                log::warn!("runtime client {client_id:?}: the registry cannot say how it was created; held as DCR");
                true
            }
        }
    }

    pub fn registry(&self) -> &Arc<Registry> {
        &self.registry
    }

    /// Remembers a client the gateway saw created (an upstream 200/201). Blocking: the
    /// entry is stored before the creation's answer ends (see `registry`).
    pub fn remember(&self, tenant: &Tenant, client_id: &str, state: ClientState, origin: Origin) {
        if let Some(entry) = created_entry(tenant, client_id, state, origin) {
            self.registry.remember(entry);
        }
    }

    /// [`remember`](Self::remember) for a caller that awaits: the write is queued now, the
    /// future ends once it is stored (at the latest after `registry::WRITE_WAIT`).
    /// `None`: nothing to store, nothing to wait for.
    pub fn remember_then_wait(
        &self,
        tenant: &Tenant,
        client_id: &str,
        state: ClientState,
        origin: Origin,
    ) -> Option<impl Future<Output = ()> + Send + 'static> {
        created_entry(tenant, client_id, state, origin).map(|entry| self.registry.remember_then_wait(entry))
    }

    /// Forgets a client the upstream deleted (a 2xx `DELETE /api/v2/clients/{id}`).
    pub async fn forget(&self, tenant: &str, client_id: &str) {
        // a `tpc_` entry is kept under its id in lowercase (see `remember`)
        let client_id = if ClientState::from_client_id(client_id).is_some() {
            client_id.to_ascii_lowercase()
        } else {
            client_id.to_owned()
        };
        // queued for the writer, behind any write of it; awaited, not blocked on
        self.registry.forget(tenant, &client_id).await;
    }

    /// The registry's entry, read off the async threads; `Ok(None)` also when the store
    /// cannot be reached (counted): the caller then asks the upstream. `Err`: the stored
    /// entry is unreadable, and the request fails closed (a lookup could make a strict
    /// client permissive).
    async fn registered(&self, tenant: &str, client_id: &str) -> Result<Option<ClientState>, LookupError> {
        let (registry, tenant, id) = (Arc::clone(&self.registry), tenant.to_owned(), client_id.to_owned());
        match read_registry(registry, tenant, id).await {
            Some(Ok(entry)) => Ok(entry.map(|entry| entry.state())),
            Some(Err(e @ StoreError::Corrupt { .. })) => {
                Err(LookupError { client_id: client_id.to_owned(), detail: e.to_string() })
            }
            Some(Err(e)) => {
                log::debug!("{e}; asking the upstream");
                Ok(None)
            }
            None => Ok(None),
        }
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
        if let Some(state) = self.registered(&tenant.policy.id, client_id).await? {
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
        self.registry.remember_then_wait(Entry::new(&tenant.policy.id, client_id, state, Origin::Lookup)).await;
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

/// The registry entry a creation leaves. A `tpc_` id names its mode; only how it was
/// created (DCR) is worth keeping, under the id in lowercase, as its prefix is read in any
/// case (see `registered_dynamically`).
fn created_entry(tenant: &Tenant, client_id: &str, state: ClientState, origin: Origin) -> Option<Entry> {
    if ClientState::from_client_id(client_id).is_none() {
        return Some(Entry::new(&tenant.policy.id, client_id, state, origin));
    }
    (origin == Origin::Dcr).then(|| Entry::new(&tenant.policy.id, &client_id.to_ascii_lowercase(), state, origin))
}
