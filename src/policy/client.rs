//! What the gateway knows of an existing client (SPEC §4 clients_update, §12): its
//! immutable state, and the current values of the members the strict profile combines.

use serde_json::{Map, Value};

use super::decision::SecurityMode;

/// What the gateway knows of an existing client (SPEC §4 clients_update): both values are
/// fixed at creation, so a known state never goes stale.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientState {
    pub is_first_party: bool,
    /// `None` for first-party clients, which have no mode.
    pub mode: Option<SecurityMode>,
}

impl ClientState {
    /// Strict third-party clients carry the `tpc_` client-id prefix.
    pub fn from_client_id(client_id: &str) -> Option<Self> {
        // in any case: an upstream that looks ids up case-insensitively (a `_ci` collation)
        // reads `TPC_x` as `tpc_x`, so the gateway holds it to the same rules
        let prefixed = client_id.get(..4).is_some_and(|prefix| prefix.eq_ignore_ascii_case("tpc_"));
        prefixed.then_some(ClientState { is_first_party: false, mode: Some(SecurityMode::Strict) })
    }

    /// Reads a client document as the Management API returns it (`GET /api/v2/clients/{id}`
    /// or a creation's 201). `is_first_party` defaults to `true`, as in the API.
    pub fn from_document(document: &Value) -> Option<Self> {
        let object = document.as_object()?;
        let is_first_party = match object.get("is_first_party") {
            None => true,
            Some(Value::Bool(flag)) => *flag,
            Some(_) => return None,
        };
        let mode = match object.get("third_party_security_mode") {
            None | Some(Value::Null) => None,
            Some(Value::String(text)) => Some(SecurityMode::from_wire(text)?),
            Some(_) => return None,
        };
        // a third-party client from before modes existed reports permissive (or nothing)
        let mode = if is_first_party { mode } else { Some(mode.unwrap_or(SecurityMode::Permissive)) };
        Some(ClientState { is_first_party, mode })
    }
}

/// Members of a client that the strict profile checks in combination: a body that changes
/// one of them is checked against the client's current value of the others (SPEC §4).
pub const COMBINED_MEMBERS: [&str; 2] = ["grant_types", "token_endpoint_auth_method"];

/// What a `clients_update` decision knows of the client it changes (SPEC §4).
#[derive(Debug, Clone, PartialEq)]
pub struct CurrentClient {
    pub state: ClientState,
    /// The client's current values of [`COMBINED_MEMBERS`], when looked up. They change
    /// with every update, so they are never cached.
    pub members: Map<String, Value>,
}

impl CurrentClient {
    /// A client known by its immutable state alone.
    pub fn of_state(state: ClientState) -> Self {
        CurrentClient { state, members: Map::new() }
    }

    /// A client document (a lookup's answer, or `decide`'s `current_client`).
    pub fn from_document(document: &Value) -> Option<Self> {
        let state = ClientState::from_document(document)?;
        let members = COMBINED_MEMBERS
            .iter()
            .filter_map(|name| Some(((*name).to_owned(), document.get(*name)?.clone())))
            .collect();
        Some(CurrentClient { state, members })
    }
}

impl ClientState {
    /// What a creation's answer says of the new client, completed with what the gateway
    /// sent (`sent`) where the answer is silent or `null`: a legacy upstream may not echo
    /// `is_first_party` or the mode, and must not turn a strict client into a first-party one.
    pub fn from_creation(document: &Value, sent: ClientState) -> ClientState {
        let is_first_party = document.get("is_first_party").and_then(Value::as_bool).unwrap_or(sent.is_first_party);
        let mode = document
            .get("third_party_security_mode")
            .and_then(Value::as_str)
            .and_then(SecurityMode::from_wire)
            .or(if is_first_party { None } else { sent.mode });
        ClientState { is_first_party, mode }
    }
}
