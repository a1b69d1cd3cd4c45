//! The validated configuration. These types have no `Deserialize`: the only way to get
//! one is through `config::validate`, so a value here is always consistent.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use time::Date;

use crate::policy::hardening::UnderscoreHeaders;
pub use crate::policy::inputs::{
    DcrAccess, DcrRate, Enforcement, PolicySettings, TenantPolicy, UnknownClient, UnknownTenant,
};

#[derive(Debug, Clone)]
pub struct Config {
    pub server: Server,
    pub upstream: Upstream,
    /// What the rules read besides the tenant (the policy's own type).
    pub policy: Arc<PolicySettings>,
    /// Where tenants come from.
    pub source: SourceKind,
    pub log: LogSettings,
    /// The client registry (SPEC §12).
    pub clients: ClientsSettings,
    pub tenants: Tenants,
}

#[derive(Debug, Clone)]
pub struct Server {
    pub listen: Vec<SocketAddr>,
    pub admin_listen: SocketAddr,
    pub threads: usize,
    /// Off: each thread runs its own runtime (faster passthrough). No creation holds its
    /// thread while its registry write completes, either way.
    pub work_stealing: bool,
    pub max_body_bytes: usize,
    pub body_read_timeout: Duration,
    pub grace_period: Duration,
    pub upgrade_sock: PathBuf,
    pub tls: Option<ServerTls>,
    /// SPEC §16: the whole request head must arrive within this.
    pub header_read_timeout: Duration,
    pub underscore_headers: UnderscoreHeaders,
    /// `server.admin_token_env`'s value: the bearer token `POST /-/reload` needs.
    pub admin_token: Option<AdminToken>,
    /// HTTP/2 creations exchanged with the upstream at once; past it, 429
    /// `creations_in_flight` before the upstream is asked (`proxy::h2_creation`).
    pub h2_creations_in_flight: usize,
}

/// The admin token, kept out of `Debug` output (configurations are logged on reload).
#[derive(Clone, PartialEq, Eq)]
pub struct AdminToken(String);

impl AdminToken {
    pub fn new(token: String) -> Self {
        AdminToken(token)
    }

    /// Whether an `Authorization` header value carries this token (compared in constant
    /// time, so the answer's timing does not tell how much of a guess was right).
    pub fn admits(&self, authorization: Option<&[u8]>) -> bool {
        // the scheme in any case (RFC 9110 §11.1), one space, then the token
        let given = authorization
            .filter(|value| value.get(..7).is_some_and(|scheme| scheme.eq_ignore_ascii_case(b"bearer ")))
            .and_then(|value| value.get(7..));
        let Some(given) = given else { return false };
        let expected = self.0.as_bytes();
        given.len() == expected.len() && given.iter().zip(expected).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0
    }
}

impl std::fmt::Debug for AdminToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AdminToken([redacted])")
    }
}

#[derive(Debug, Clone)]
pub struct ServerTls {
    pub listen: Vec<SocketAddr>,
    pub cert: PathBuf,
    pub key: PathBuf,
}

#[derive(Debug, Clone)]
pub struct Upstream {
    /// Resolved once at load: Pingora's `HttpPeer::new` would resolve on every request.
    pub address: SocketAddr,
    /// The address as written, for messages.
    pub name: String,
    pub tls: bool,
    /// SNI and verified name; empty: the tenant host of the request.
    pub sni: String,
    pub connect_timeout: Duration,
    pub read_timeout: Duration,
    /// CA certificates for the upstream; `None`: the system roots.
    pub ca_file: Option<PathBuf>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceKind {
    Inline,
    Http(PolicyServiceSettings),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyServiceSettings {
    pub url: String,
    pub ttl: Duration,
    pub max_entries: u64,
    pub negative_ttl: Duration,
    pub stale_if_error: Duration,
    /// Deadline of one lookup, waiting for a fetch slot included.
    pub timeout: Duration,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DecisionLogTarget {
    Stdout,
    Off,
    File(PathBuf),
}

#[derive(Debug, Clone)]
pub struct LogSettings {
    pub decisions: DecisionLogTarget,
    /// Read at start (the process log is installed once): a reload does not change them.
    pub format: LogFormat,
    pub level: String,
}

/// How process log lines are written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiPermission {
    pub audience: String,
    pub scopes: Vec<String>,
    pub subject_type: String,
}

/// One tenant: its policy (what the rules read) and what only the gateway needs (its
/// keys, the grants behind `has_default_api_permissions`, the date it first used
/// third-party applications).
#[derive(Debug, Clone, PartialEq)]
pub struct Tenant {
    pub policy: Arc<TenantPolicy>,
    /// The gateway's own credentials at the upstream (SPEC §13).
    pub management: Option<Management>,
    pub third_party_apps_since: Option<Date>,
    pub default_api_permissions: Vec<ApiPermission>,
    pub token: TokenSettings,
}

/// `tenants.management`: a client of the upstream the gateway authenticates as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Management {
    pub client_id: String,
    /// The variable holding its secret, read when needed.
    pub client_secret_env: String,
    /// The most client lookups this process sends for the tenant a second (bursts of as
    /// many): made-up client ids cannot turn the gateway into a flood of the tenant's
    /// Management API, whose own rate limit would then fail every lookup.
    pub lookups_per_s: u32,
}

/// `[clients]` (SPEC §12): where the registry lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientStoreSettings {
    /// A file; a relative path is relative to the configuration file.
    Embedded(PathBuf),
    Redis {
        url: String,
        prefix: String,
    },
    Memory,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientsSettings {
    pub store: ClientStoreSettings,
    pub cache_entries: u64,
}

/// SPEC §6 token rules of a tenant; defaults derive from the first host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenSettings {
    pub issuer: String,
    /// The Management API audience.
    pub audience: String,
    pub jwks_uri: String,
    pub jwks: Option<String>,
    pub algorithms: Vec<String>,
    pub jwks_refetch_interval: Duration,
    /// SHA-256 of every setting above: the key of what is cached per token settings
    /// (fetched keys, verified tokens), so a reload that changes any of them drops both.
    pub fingerprint: [u8; 32],
}

impl TokenSettings {
    /// Settings with their [`fingerprint`](Self::fingerprint) computed.
    pub fn new(
        issuer: String,
        audience: String,
        jwks_uri: String,
        jwks: Option<String>,
        algorithms: Vec<String>,
        jwks_refetch_interval: Duration,
    ) -> Self {
        use sha2::{Digest, Sha256};
        let mut hash = Sha256::new();
        let interval = jwks_refetch_interval.as_millis().to_string();
        let algorithms_text = algorithms.join(",");
        for part in [&issuer, &audience, &jwks_uri, jwks.as_deref().unwrap_or("-"), &algorithms_text, &interval] {
            hash.update(part.as_bytes());
            hash.update([0]);
        }
        let fingerprint = hash.finalize().into();
        TokenSettings { issuer, audience, jwks_uri, jwks, algorithms, jwks_refetch_interval, fingerprint }
    }
}

/// The inline tenants, indexed by normalised host.
#[derive(Debug, Clone, Default)]
pub struct Tenants {
    pub list: Vec<Arc<Tenant>>,
    by_host: HashMap<String, Arc<Tenant>>,
    /// The `[[customers]]` of the file and their eligibility (explicit or derived): a
    /// remote document must agree with it (SPEC §15).
    customers: HashMap<String, bool>,
    /// The ids of `list`, for the per-request check of remote documents.
    ids: std::collections::HashSet<String>,
}

impl Tenants {
    pub fn new(list: Vec<Arc<Tenant>>) -> Self {
        let mut by_host = HashMap::new();
        for tenant in &list {
            for host in &tenant.policy.hosts {
                by_host.insert(host.clone(), Arc::clone(tenant));
            }
        }
        let ids = list.iter().map(|tenant| tenant.policy.id.clone()).collect();
        Tenants { list, by_host, customers: HashMap::new(), ids }
    }

    /// A copy that shares no allocation with `self`: every tenant, policy and index anew.
    pub fn deep_copy(&self) -> Tenants {
        // every field named: a new one must be copied too (the indexes are rebuilt from `list`)
        let Tenants { list, by_host: _, customers, ids: _ } = self;
        let list = list
            .iter()
            .map(|tenant| Arc::new(Tenant { policy: Arc::new((*tenant.policy).clone()), ..(**tenant).clone() }))
            .collect();
        Tenants::new(list).with_customers(customers.clone())
    }

    pub fn with_customers(self, customers: HashMap<String, bool>) -> Self {
        Tenants { customers, ..self }
    }

    /// The eligibility the file gives `customer`, when the file defines it.
    pub fn customer_eligible(&self, customer: &str) -> Option<bool> {
        self.customers.get(customer).copied()
    }

    /// SPEC §15: what a remote tenant document says against this file, if anything: a
    /// customer the file defines with another eligibility, or an inline tenant's id.
    /// Checked when a document is fetched and again whenever a cached one serves (a reload
    /// may have changed the file since).
    pub fn contradiction(&self, remote: &Tenant) -> Option<String> {
        let customer = &remote.policy.customer;
        if let Some(file) = self.customer_eligible(customer)
            && file != remote.policy.customer_eligible
        {
            return Some(format!(
                "customer `{customer}` is defined in the configuration file with permissive_eligible = {file}"
            ));
        }
        if self.ids.contains(&remote.policy.id) {
            return Some(format!("`{}` is the id of a tenant of the configuration file", remote.policy.id));
        }
        None
    }

    pub fn by_host(&self, host: &str) -> Option<&Arc<Tenant>> {
        self.by_host.get(host)
    }
}
