//! The serde mirror of the TOML file (SPEC §8), with its defaults. Nothing here is
//! validated: enumerations and dates stay text so that `validate` can report every bad
//! value by key instead of stopping at the first.

use serde::Deserialize;

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct RawConfig {
    pub server: RawServer,
    pub upstream: RawUpstream,
    pub policy: RawPolicy,
    pub routes: RawRoutes,
    pub log: RawLog,
    pub clients: RawClients,
    pub customers: Vec<RawCustomer>,
    pub tenants: Vec<RawTenant>,
}

#[derive(Debug, Deserialize)]
#[serde(default)]
pub struct RawServer {
    /// Plain-HTTP listeners, e.g. `["0.0.0.0:8080"]`.
    pub listen: Vec<String>,
    /// `/metrics`, `/healthz`, `/readyz`, e.g. `"127.0.0.1:9090"`.
    pub admin_listen: String,
    /// Worker threads of the proxy service.
    pub threads: usize,
    /// Tokio's work stealing between the proxy's threads (Pingora's `work_stealing`). Off
    /// by default: one runtime per thread, as nginx runs one event loop per worker, served
    /// 13–37% more requests in the measured cases once no request held its thread (README,
    /// Performance); on, a thread that idles may take tasks from a busy one, which helps only
    /// when a few long-lived connections carry the load.
    pub work_stealing: bool,
    /// Largest intercepted body, in bytes (at most 65536: Pingora's replay buffer).
    pub max_body_bytes: u64,
    /// Time allowed for an intercepted body to arrive, in milliseconds.
    pub body_read_timeout_ms: u64,
    /// SIGTERM: seconds to let in-flight requests finish.
    pub grace_period_s: u64,
    /// Unix socket through which a new process takes the listening sockets (`run -u`).
    pub upgrade_sock: Option<String>,
    pub tls: Option<RawServerTls>,
    /// Time allowed for a whole request head to arrive, in milliseconds (SPEC §16).
    pub header_read_timeout_ms: u64,
    /// Header names with `_`: `"drop"` (nginx's default) or `"forward"` (SPEC §16).
    pub underscore_headers: String,
    /// Forward bodies on GET, HEAD, DELETE, OPTIONS and TRACE instead of refusing them.
    pub allow_bodies_on_get: bool,
    /// Paths on which `Upgrade` requests (WebSocket, `h2c`) are proxied, e.g. `["/ws"]`.
    pub upgrade_paths: Vec<String>,
    /// The environment variable holding the bearer token `POST /-/reload` needs (SPEC §15).
    pub admin_token_env: Option<String>,
    /// HTTP/2 creations exchanged with the upstream at once (`proxy::h2_creation`).
    pub h2_creations_in_flight: u64,
}

impl Default for RawServer {
    fn default() -> Self {
        RawServer {
            listen: vec!["0.0.0.0:8080".into()],
            admin_listen: "127.0.0.1:9090".into(),
            threads: 2,
            work_stealing: false,
            max_body_bytes: 65536,
            body_read_timeout_ms: 10_000,
            grace_period_s: 5,
            upgrade_sock: None,
            tls: None,
            header_read_timeout_ms: 10_000,
            underscore_headers: "drop".into(),
            allow_bodies_on_get: false,
            upgrade_paths: Vec::new(),
            admin_token_env: None,
            h2_creations_in_flight: 512,
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct RawServerTls {
    pub listen: Vec<String>,
    pub cert: String,
    pub key: String,
}

#[derive(Debug, Deserialize)]
#[serde(default)]
pub struct RawUpstream {
    /// `host:port` of the authorization server, resolved once at load.
    pub address: String,
    pub tls: bool,
    pub sni: String,
    pub connect_timeout_ms: u64,
    pub read_timeout_ms: u64,
    /// PEM file of the CA certificates that verify the upstream (default: the system roots).
    pub ca_file: Option<String>,
}

impl Default for RawUpstream {
    fn default() -> Self {
        RawUpstream {
            address: "127.0.0.1:3000".into(),
            tls: false,
            sni: String::new(),
            connect_timeout_ms: 2000,
            read_timeout_ms: 30_000,
            ca_file: None,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(default)]
pub struct RawPolicy {
    pub eligibility_cutoff: RawDate,
    pub strict_default_from: RawDate,
    pub unknown_tenant: String,
    pub source: String,
    pub http: Option<RawPolicyHttp>,
    /// Extra strict-profile members, added to the built-in list.
    pub strict_profile: Vec<String>,
    /// SPEC §13: runtime requests of clients the gateway cannot place: `allow` or `deny`.
    pub unknown_client: String,
    /// SPEC §13: let strict clients ask for the OIDC scopes.
    pub strict_oidc_scopes: bool,
}

impl Default for RawPolicy {
    fn default() -> Self {
        RawPolicy {
            eligibility_cutoff: RawDate::Text("2026-04-23".into()),
            strict_default_from: RawDate::Text("2026-10-23".into()),
            unknown_tenant: "reject".into(),
            source: "inline".into(),
            http: None,
            strict_profile: Vec::new(),
            unknown_client: "allow".into(),
            strict_oidc_scopes: false,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(default)]
pub struct RawPolicyHttp {
    pub url: String,
    pub ttl_s: u64,
    pub max_entries: u64,
    pub negative_ttl_s: u64,
    pub stale_if_error_s: u64,
    /// Deadline of one tenant lookup, queueing included, in milliseconds (SPEC §11).
    pub timeout_ms: u64,
}

impl Default for RawPolicyHttp {
    fn default() -> Self {
        RawPolicyHttp {
            url: "http://127.0.0.1:7000".into(),
            ttl_s: 30,
            max_entries: 100_000,
            negative_ttl_s: 5,
            stale_if_error_s: 300,
            timeout_ms: 2000,
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct RawRoutes {
    pub dcr_paths: Vec<String>,
    /// SPEC §13: paths added to the built-in runtime routes.
    pub authorize_paths: Vec<String>,
    pub token_paths: Vec<String>,
    pub legacy_paths: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(default)]
pub struct RawLog {
    /// Decision log: `"stdout"`, `"off"`, or a file path to append to.
    pub decisions: String,
    /// Process log: `"text"` or `"json"` lines on stderr.
    pub format: String,
    /// Process log filter (`info`, `modegate=debug`); `RUST_LOG` takes its place when set.
    pub level: String,
}

impl Default for RawLog {
    fn default() -> Self {
        RawLog { decisions: "stdout".into(), format: "text".into(), level: "info".into() }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct RawCustomer {
    pub id: String,
    pub permissive_eligible: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(default)]
pub struct RawTenant {
    pub id: String,
    pub customer: String,
    pub hosts: Vec<String>,
    pub third_party_apps_since: Option<RawDate>,
    pub permissive_by_default: bool,
    pub dcr_security_mode: Option<String>,
    pub dcr_access: String,
    pub enforcement: String,
    pub default_api_permissions: Vec<RawApiPermission>,
    pub allow_strict_dcr_without_defaults: bool,
    pub inject_dcr_mode: bool,
    pub token: Option<RawToken>,
    /// DCR registrations per second allowed for the tenant, across replicas (SPEC §14).
    pub dcr_rate_per_s: u64,
    pub dcr_burst: u64,
    /// The gateway's own credentials at the upstream (SPEC §13; `clients import`).
    pub management: Option<RawManagement>,
}

#[derive(Debug, Deserialize)]
#[serde(default)]
pub struct RawManagement {
    pub client_id: String,
    /// The environment variable holding the client secret (never the secret itself).
    pub client_secret_env: String,
    /// Client lookups this process may send for the tenant a second (and at once).
    pub lookups_per_s: u32,
}

impl Default for RawManagement {
    fn default() -> Self {
        RawManagement { client_id: String::new(), client_secret_env: String::new(), lookups_per_s: 10 }
    }
}

/// `[clients]`: the client registry (SPEC §12).
#[derive(Debug, Deserialize)]
#[serde(default)]
pub struct RawClients {
    pub store: String,
    /// The embedded store's file, relative to the configuration file.
    pub path: String,
    pub redis_url: String,
    pub redis_prefix: String,
    pub cache_entries: u64,
}

impl Default for RawClients {
    fn default() -> Self {
        RawClients {
            store: "embedded".into(),
            path: "modegate-clients.db".into(),
            redis_url: "redis://127.0.0.1:6379/".into(),
            redis_prefix: "modegate:".into(),
            cache_entries: 100_000,
        }
    }
}

impl Default for RawTenant {
    fn default() -> Self {
        RawTenant {
            id: String::new(),
            customer: String::new(),
            hosts: Vec::new(),
            third_party_apps_since: None,
            permissive_by_default: false,
            dcr_security_mode: None,
            dcr_access: "open".into(),
            enforcement: "enforce".into(),
            default_api_permissions: Vec::new(),
            allow_strict_dcr_without_defaults: false,
            inject_dcr_mode: true,
            token: None,
            dcr_rate_per_s: 5,
            dcr_burst: 10,
            management: None,
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct RawApiPermission {
    pub audience: String,
    pub scopes: Vec<String>,
    pub subject_type: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct RawToken {
    pub issuer: Option<String>,
    pub audience: Option<String>,
    pub jwks_uri: Option<String>,
    pub jwks: Option<String>,
    pub algorithms: Option<Vec<String>>,
    /// Least time between two refetches of the JWKS for unknown `kid`s, in milliseconds.
    pub jwks_refetch_interval_ms: Option<u64>,
}

/// A date written as `"2026-04-23"` or as a bare TOML date `2026-04-23`.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum RawDate {
    Text(String),
    Toml(toml::value::Datetime),
}

impl RawDate {
    pub fn text(&self) -> String {
        match self {
            RawDate::Text(text) => text.clone(),
            RawDate::Toml(datetime) => datetime.to_string(),
        }
    }
}
