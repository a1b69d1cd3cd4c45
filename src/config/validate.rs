//! Raw → model. Every check pushes a problem and carries on, so one run of
//! `modegate check` lists everything wrong with a file.

use std::collections::{HashMap, HashSet};
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use time::Date;
use time::macros::format_description;

use super::err::Problems;
use super::model::*;
use super::raw::*;
use crate::policy::hardening::UnderscoreHeaders;
use crate::policy::route::{MAX_ROUTE_SEGMENT_LEN, MAX_ROUTE_SEGMENTS, normalise};
use crate::policy::{ForbiddenMember, GovernedNames, RouteTable, SecurityMode, StrictProfile, host::normalise_host};

/// Pingora replays a pre-read body from a buffer of at most this many bytes.
pub const MAX_BODY_LIMIT: u64 = 64 * 1024;

/// A request head slower than a minute is an attack, not a client.
pub const MAX_HEADER_TIMEOUT_MS: u64 = 60_000;
/// No timeout or interval is longer than a day.
pub const DAY_MS: u64 = 86_400_000;
/// No cache keeps an answer longer than a week.
pub const WEEK_S: u64 = 604_800;

/// SPEC §6: a `jwks_uri` is `https`, or `http` on a loopback host.
fn jwks_uri_allowed(uri: &str) -> bool {
    let Ok(url) = url::Url::parse(uri) else { return false };
    let loopback = match url.host() {
        Some(url::Host::Domain(name)) => name.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => return false,
    };
    url.scheme() == "https" || (url.scheme() == "http" && loopback)
}

/// SPEC §8: numeric settings are bounded by what they mean; `check` refuses the rest
/// rather than letting a duration overflow at start.
fn bounded(problems: &mut Problems, key: &str, value: u64, range: std::ops::RangeInclusive<u64>, why: &str) {
    if !range.contains(&value) {
        problems.push_help(
            key,
            format!("{value} is out of range"),
            format!("use {} to {}: {why}", range.start(), range.end()),
        );
    }
}

/// Signing algorithms a tenant may allow (never `none`, never HMAC: the keys are public).
pub const ALLOWED_ALGORITHMS: [&str; 9] =
    ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "EdDSA"];

pub fn validate(raw: RawConfig, problems: &mut Problems, purpose: super::Purpose) -> Option<Config> {
    let RawConfig { server, upstream, policy, routes, log, clients, customers, tenants } = raw;
    let head_rules = (server.allow_bodies_on_get, server.upgrade_paths.clone());
    let server = validate_server(server, problems);
    let upstream = validate_upstream(upstream, problems, purpose);
    let policy = validate_policy(policy, problems);
    let routes = validate_routes(routes, head_rules, problems);
    let log = validate_log(log, problems);
    let clients = validate_clients(clients, problems);
    // an invalid cut-off still lets the tenants be checked, against the default one
    let cutoff = policy.as_ref().map_or_else(default_cutoff, |(p, _)| p.eligibility_cutoff);
    let tenants = Some(validate_tenants(customers, tenants, cutoff, problems));
    if !problems.is_empty() {
        return None;
    }
    let server = server?;
    let (policy, source) = policy?;
    let policy = PolicySettings {
        eligibility_cutoff: policy.eligibility_cutoff,
        strict_default_from: policy.strict_default_from,
        unknown_tenant: policy.unknown_tenant,
        unknown_client: policy.unknown_client,
        strict_oidc_scopes: policy.strict_oidc_scopes,
        governed: GovernedNames::new(&policy.strict_profile),
        strict_profile: policy.strict_profile,
        max_body_bytes: server.max_body_bytes,
        routes: routes?,
    };
    Some(Config {
        server,
        upstream: upstream?,
        policy: std::sync::Arc::new(policy),
        source,
        log: log?,
        clients: clients?,
        tenants: tenants?,
    })
}

fn validate_clients(raw: RawClients, problems: &mut Problems) -> Option<ClientsSettings> {
    let RawClients { store, path, redis_url, redis_prefix, cache_entries } = raw;
    bounded(
        problems,
        "clients.cache_entries",
        cache_entries,
        1..=10_000_000,
        "entries kept in memory, ~400 bytes each",
    );
    let store = match store.as_str() {
        "embedded" if path.is_empty() => {
            problems.push_help("clients.path", "must not be empty", "name a file, e.g. `modegate-clients.db`");
            None
        }
        "embedded" => Some(ClientStoreSettings::Embedded(PathBuf::from(path))),
        "redis" if redis_url.starts_with("rediss://") => {
            problems.push_help(
                "clients.redis_url",
                "TLS to Redis is not built in",
                "use `redis://` on a private network or loopback, or `unix:///path/redis.sock`",
            );
            None
        }
        "redis"
            if !(redis_url.starts_with("redis://")
                || redis_url.starts_with("unix://")
                || redis_url.starts_with("redis+unix://"))
                || redis::Client::open(redis_url.as_str()).is_err() =>
        {
            problems.push_help(
                "clients.redis_url",
                format!("`{}` is not a Redis URL", crate::registry::redis_store::redacted(&redis_url)),
                "write `redis://host:port/` or `unix:///path/redis.sock`",
            );
            None
        }
        "redis" => Some(ClientStoreSettings::Redis { url: redis_url, prefix: redis_prefix }),
        "memory" => Some(ClientStoreSettings::Memory),
        other => {
            problems.push_help(
                "clients.store",
                format!("`{other}` is not a choice"),
                "use `embedded`, `redis` or `memory`",
            );
            None
        }
    };
    Some(ClientsSettings { store: store?, cache_entries })
}

fn socket_addr(path: &str, text: &str, problems: &mut Problems) -> Option<SocketAddr> {
    match text.parse::<SocketAddr>() {
        Ok(addr) => Some(addr),
        Err(_) => {
            problems.push_help(path, format!("`{text}` is not an address"), "write `ip:port`, e.g. `127.0.0.1:8080`");
            None
        }
    }
}

fn validate_server(raw: RawServer, problems: &mut Problems) -> Option<Server> {
    let RawServer {
        listen,
        admin_listen,
        threads,
        work_stealing,
        max_body_bytes,
        body_read_timeout_ms,
        grace_period_s,
        upgrade_sock,
        tls,
        header_read_timeout_ms,
        underscore_headers,
        allow_bodies_on_get: _,
        upgrade_paths: _,
        admin_token_env,
        h2_creations_in_flight,
    } = raw;
    let before = problems.len();
    // `admin_token_env = ""` (SPEC §15's sample) names no variable: no admin token
    let admin_token = admin_token_env.filter(|name| !name.is_empty()).and_then(|name| match std::env::var(&name) {
        Ok(token) if token.trim().len() >= 16 && !token.contains(char::is_whitespace) => Some(AdminToken::new(token)),
        Ok(_) => {
            problems.push_help(
                "server.admin_token_env",
                format!("`{name}` holds a token shorter than 16 characters or with white space"),
                "set it to a long random value, e.g. `openssl rand -hex 32`",
            );
            None
        }
        Err(_) => {
            problems.push_help(
                "server.admin_token_env",
                format!("`{name}` is not set in the environment"),
                "export it before starting modegate, or remove `admin_token_env` to leave `/-/reload` open",
            );
            None
        }
    });
    if listen.is_empty() {
        problems.push("server.listen", "at least one listen address is needed");
    }
    let listen: Vec<SocketAddr> =
        listen.iter().filter_map(|text| socket_addr("server.listen", text, problems)).collect();
    let admin_listen = socket_addr("server.admin_listen", &admin_listen, problems);
    bounded(problems, "server.threads", threads as u64, 1..=256, "worker threads of the proxy");
    if max_body_bytes == 0 || max_body_bytes > MAX_BODY_LIMIT {
        problems.push_help(
            "server.max_body_bytes",
            format!("{max_body_bytes} is out of range"),
            format!("use 1 to {MAX_BODY_LIMIT}: an intercepted body is held whole and replayed to the upstream from a buffer of that size"),
        );
    }
    bounded(problems, "server.body_read_timeout_ms", body_read_timeout_ms, 1..=DAY_MS, "milliseconds, at most a day");
    bounded(
        problems,
        "server.h2_creations_in_flight",
        h2_creations_in_flight,
        1..=65_536,
        "HTTP/2 creations exchanged with the upstream at once",
    );
    bounded(
        problems,
        "server.header_read_timeout_ms",
        header_read_timeout_ms,
        1..=MAX_HEADER_TIMEOUT_MS,
        "a slow head holds a connection for this long",
    );
    bounded(problems, "server.grace_period_s", grace_period_s, 0..=3600, "seconds, at most an hour");
    let underscore_headers = match underscore_headers.as_str() {
        "drop" => Some(UnderscoreHeaders::Drop),
        "forward" => Some(UnderscoreHeaders::Forward),
        other => {
            problems.push_help(
                "server.underscore_headers",
                format!("`{other}` is not a choice"),
                "use `drop` (the default) or `forward`",
            );
            None
        }
    };
    let tls = tls.map(|tls| {
        let RawServerTls { listen, cert, key } = tls;
        for (key_name, path) in [("server.tls.cert", &cert), ("server.tls.key", &key)] {
            if path.is_empty() {
                problems.push(key_name, "a PEM file is needed");
            } else if !std::path::Path::new(path).is_file() {
                problems.push_help(key_name, format!("`{path}` is not a readable file"), "give the path of a PEM file");
            }
        }
        if listen.is_empty() {
            problems.push("server.tls.listen", "at least one TLS listen address is needed");
        }
        ServerTls {
            listen: listen.iter().filter_map(|text| socket_addr("server.tls.listen", text, problems)).collect(),
            cert: PathBuf::from(cert),
            key: PathBuf::from(key),
        }
    });
    if problems.len() > before {
        return None;
    }
    Some(Server {
        listen,
        admin_listen: admin_listen?,
        threads,
        work_stealing,
        max_body_bytes: usize::try_from(max_body_bytes).ok()?,
        body_read_timeout: Duration::from_millis(body_read_timeout_ms),
        grace_period: Duration::from_secs(grace_period_s),
        upgrade_sock: upgrade_sock.map(PathBuf::from).unwrap_or_else(|| {
            // one socket per admin port: two gateways on one machine do not collide
            PathBuf::from(format!("/tmp/modegate-upgrade-{}.sock", admin_listen.map_or(0, |a| a.port())))
        }),
        tls,
        header_read_timeout: Duration::from_millis(header_read_timeout_ms),
        underscore_headers: underscore_headers?,
        admin_token,
        h2_creations_in_flight: usize::try_from(h2_creations_in_flight).ok()?,
    })
}

fn validate_upstream(raw: RawUpstream, problems: &mut Problems, purpose: super::Purpose) -> Option<Upstream> {
    let RawUpstream { address, tls, sni, connect_timeout_ms, read_timeout_ms, ca_file } = raw;
    let ca_file = ca_file.map(PathBuf::from);
    if let Some(path) = &ca_file
        && !path.is_file()
    {
        problems.push_help(
            "upstream.ca_file",
            format!("`{}` is not a readable file", path.display()),
            "give a PEM file of CA certificates",
        );
    }
    let before = problems.len();
    // resolve once here: Pingora's HttpPeer::new would block on DNS for every request.
    // `check` resolves nothing: a name with a port stands as 0.0.0.0:port (a warning says so)
    let resolved = match purpose {
        super::Purpose::Serve => address.to_socket_addrs().ok().and_then(|mut addrs| addrs.next()),
        super::Purpose::Check => address.parse().ok().or_else(|| {
            // a host name as `run` would resolve it: DNS labels only (no scheme, no path)
            let (host, port) = address.rsplit_once(':')?;
            let port: u16 = port.parse().ok()?;
            let label = |l: &str| {
                !l.is_empty() && !l.starts_with('-') && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            };
            host.split('.').all(label).then(|| SocketAddr::from(([0, 0, 0, 0], port)))
        }),
    };
    if resolved.is_none() {
        problems.push_help(
            "upstream.address",
            format!("`{address}` does not resolve to an address"),
            "write `host:port`, e.g. `127.0.0.1:3000`",
        );
    }
    bounded(problems, "upstream.connect_timeout_ms", connect_timeout_ms, 1..=DAY_MS, "milliseconds, at most a day");
    bounded(problems, "upstream.read_timeout_ms", read_timeout_ms, 1..=DAY_MS, "milliseconds, at most a day");
    if problems.len() > before {
        return None;
    }
    Some(Upstream {
        address: resolved?,
        name: address,
        tls,
        sni,
        connect_timeout: Duration::from_millis(connect_timeout_ms),
        read_timeout: Duration::from_millis(read_timeout_ms),
        ca_file,
    })
}

fn default_cutoff() -> Date {
    time::macros::date!(2026 - 04 - 23)
}

pub fn parse_date(path: &str, raw: &RawDate, problems: &mut Problems) -> Option<Date> {
    let text = raw.text();
    match Date::parse(&text, format_description!("[year]-[month]-[day]")) {
        Ok(date) => Some(date),
        Err(_) => {
            problems.push_help(path, format!("`{text}` is not a date"), "write `YYYY-MM-DD`, e.g. `2026-04-23`");
            None
        }
    }
}

/// `[policy]` as read from the file, before the server's body limit and the routes join it.
struct PolicyPart {
    eligibility_cutoff: Date,
    strict_default_from: Date,
    unknown_tenant: UnknownTenant,
    strict_profile: StrictProfile,
    unknown_client: UnknownClient,
    strict_oidc_scopes: bool,
}

fn validate_policy(raw: RawPolicy, problems: &mut Problems) -> Option<(PolicyPart, SourceKind)> {
    let RawPolicy {
        eligibility_cutoff,
        strict_default_from,
        unknown_tenant,
        source,
        http,
        strict_profile,
        unknown_client,
        strict_oidc_scopes,
    } = raw;
    let unknown_client = match unknown_client.as_str() {
        "allow" => Some(UnknownClient::Allow),
        "deny" => Some(UnknownClient::Deny),
        other => {
            problems.push_help("policy.unknown_client", format!("`{other}` is not a choice"), "use `allow` or `deny`");
            None
        }
    };
    let before = problems.len();
    let eligibility_cutoff = parse_date("policy.eligibility_cutoff", &eligibility_cutoff, problems);
    let strict_default_from = parse_date("policy.strict_default_from", &strict_default_from, problems);
    let unknown_tenant = match unknown_tenant.as_str() {
        "reject" => Some(UnknownTenant::Reject),
        "passthrough" => Some(UnknownTenant::Passthrough),
        other => {
            problems.push_help(
                "policy.unknown_tenant",
                format!("`{other}` is not a choice"),
                "use `reject` or `passthrough`",
            );
            None
        }
    };
    let source = match source.as_str() {
        "inline" => Some(SourceKind::Inline),
        "http" => {
            let RawPolicyHttp { url, ttl_s, max_entries, negative_ttl_s, stale_if_error_s, timeout_ms } =
                http.unwrap_or_default();
            bounded(problems, "policy.http.timeout_ms", timeout_ms, 1..=60_000, "milliseconds, at most a minute");
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                problems.push_help(
                    "policy.http.url",
                    format!("`{url}` is not an http(s) URL"),
                    "e.g. `http://127.0.0.1:7000`",
                );
            }
            bounded(problems, "policy.http.max_entries", max_entries, 1..=10_000_000, "tenants kept in memory");
            bounded(problems, "policy.http.ttl_s", ttl_s, 1..=WEEK_S, "seconds, at most a week");
            bounded(problems, "policy.http.negative_ttl_s", negative_ttl_s, 0..=WEEK_S, "seconds, at most a week");
            bounded(problems, "policy.http.stale_if_error_s", stale_if_error_s, 0..=WEEK_S, "seconds, at most a week");
            Some(SourceKind::Http(PolicyServiceSettings {
                url: url.trim_end_matches('/').to_owned(),
                ttl: Duration::from_secs(ttl_s),
                max_entries,
                negative_ttl: Duration::from_secs(negative_ttl_s),
                stale_if_error: Duration::from_secs(stale_if_error_s),
                timeout: Duration::from_millis(timeout_ms),
            }))
        }
        other => {
            problems.push_help("policy.source", format!("`{other}` is not a choice"), "use `inline` or `http`");
            None
        }
    };
    let mut extra = Vec::new();
    for (index, entry) in strict_profile.iter().enumerate() {
        match ForbiddenMember::parse(entry) {
            Ok(member) => extra.push(member),
            Err(message) => problems.push(&format!("policy.strict_profile[{index}]"), message),
        }
    }
    if problems.len() > before {
        return None;
    }
    for collision in GovernedNames::collisions(&StrictProfile::with_extra(extra.clone())) {
        problems.push_help(
            "policy.strict_profile",
            format!("{collision} once case, separators and Unicode are folded"),
            "name the member exactly as the API spells it",
        );
    }
    let part = PolicyPart {
        eligibility_cutoff: eligibility_cutoff?,
        strict_default_from: strict_default_from?,
        unknown_tenant: unknown_tenant?,
        strict_profile: StrictProfile::with_extra(extra),
        unknown_client: unknown_client?,
        strict_oidc_scopes,
    };
    Some((part, source?))
}

fn validate_routes(
    raw: RawRoutes,
    (allow_bodies_on_get, upgrade_paths): (bool, Vec<String>),
    problems: &mut Problems,
) -> Option<RouteTable> {
    let RawRoutes { dcr_paths, authorize_paths, token_paths, legacy_paths } = raw;
    let before = problems.len();
    let mut upgrades = Vec::new();
    for (index, path) in upgrade_paths.iter().enumerate() {
        match normalise(path) {
            Ok(normal) => upgrades.push(normal),
            Err(hazard) => problems.push_help(
                &format!("server.upgrade_paths[{index}]"),
                format!("`{path}` {hazard}"),
                "write a plain absolute path such as `/ws`",
            ),
        }
    }
    let mut table = RouteTable::new(route_paths(problems, "dcr_paths", &dcr_paths, "/reg"));
    table.authorize_paths.extend(route_paths(problems, "authorize_paths", &authorize_paths, "/auth"));
    table.token_paths.extend(route_paths(problems, "token_paths", &token_paths, "/token"));
    table.legacy_paths.extend(route_paths(problems, "legacy_paths", &legacy_paths, "/oauth/legacy"));
    table.upgrade_paths = upgrades;
    table.allow_bodies_on_get = allow_bodies_on_get;
    (problems.len() == before).then_some(table)
}

/// `routes.<key>`: plain absolute paths, within the route limits, normalised.
fn route_paths(problems: &mut Problems, key: &str, list: &[String], example: &str) -> Vec<String> {
    let mut paths = Vec::new();
    for (index, path) in list.iter().enumerate() {
        match normalise(path) {
            Ok(normal)
                if normal.split('/').count() > MAX_ROUTE_SEGMENTS + 1
                    || normal.split('/').any(|segment| segment.len() > MAX_ROUTE_SEGMENT_LEN) =>
            {
                problems.push(
                    &format!("routes.{key}[{index}]"),
                    format!("`{path}` is deeper than {MAX_ROUTE_SEGMENTS} segments or has one longer than {MAX_ROUTE_SEGMENT_LEN} characters"),
                )
            }
            Ok(normal) if normal != "/" => paths.push(normal),
            Ok(_) => problems.push(&format!("routes.{key}[{index}]"), "`/` cannot be a route path"),
            Err(hazard) => problems.push_help(
                &format!("routes.{key}[{index}]"),
                format!("`{path}` {hazard}"),
                format!("write a plain absolute path such as `{example}`"),
            ),
        }
    }
    paths
}

fn validate_log(raw: RawLog, problems: &mut Problems) -> Option<LogSettings> {
    let RawLog { decisions, format, level } = raw;
    let decisions = match decisions.as_str() {
        "stdout" => Some(DecisionLogTarget::Stdout),
        "off" => Some(DecisionLogTarget::Off),
        "" => {
            problems.push_help("log.decisions", "must not be empty", "use `stdout`, `off` or a file path");
            None
        }
        path => Some(DecisionLogTarget::File(PathBuf::from(path))),
    };
    let format = match format.as_str() {
        "text" => Some(LogFormat::Text),
        "json" => Some(LogFormat::Json),
        other => {
            problems.push_help("log.format", format!("`{other}` is not a format"), "use `text` or `json`");
            None
        }
    };
    if level.trim().is_empty() {
        problems.push_help("log.level", "must not be empty (it would silence every line)", "use `info`");
    } else if let Err(e) = tracing_subscriber::EnvFilter::try_new(&level) {
        problems.push_help(
            "log.level",
            format!("`{level}` is not a log filter ({e})"),
            "use `error`, `warn`, `info`, `debug`, `trace`, or `modegate=debug`",
        );
    }
    Some(LogSettings { decisions: decisions?, format: format?, level })
}

fn validate_tenants(
    customers: Vec<RawCustomer>,
    tenants: Vec<RawTenant>,
    cutoff: Date,
    problems: &mut Problems,
) -> Tenants {
    let mut explicit: HashMap<String, Option<bool>> = HashMap::new();
    for (index, customer) in customers.iter().enumerate() {
        let RawCustomer { id, permissive_eligible } = customer;
        if id.is_empty() {
            problems.push(&format!("customers[{index}].id"), "a customer needs an id");
        } else if explicit.insert(id.clone(), *permissive_eligible).is_some() {
            problems.push(&format!("customers[{id}]"), format!("customer `{id}` is defined twice"));
        }
    }
    // eligibility is per customer: derived from any tenant's first third-party use before the cut-off
    let mut derived: HashSet<String> = HashSet::new();
    for tenant in &tenants {
        let since = tenant.third_party_apps_since.as_ref().and_then(|d| parse_date("", d, &mut Problems::default()));
        if since.is_some_and(|since| since < cutoff) {
            derived.insert(tenant.customer.clone());
        }
    }
    let customer_ids: Vec<&str> = explicit.keys().map(String::as_str).collect();
    let mut seen_ids = HashSet::new();
    let mut host_owner: HashMap<String, String> = HashMap::new();
    let mut list = Vec::new();
    for (index, raw) in tenants.into_iter().enumerate() {
        let key = if raw.id.is_empty() { format!("tenants[{index}]") } else { format!("tenants[{}]", raw.id) };
        if raw.id.is_empty() {
            problems.push(&format!("{key}.id"), "a tenant needs an id");
        } else if !seen_ids.insert(raw.id.clone()) {
            problems.push(&key, format!("tenant `{}` is defined twice", raw.id));
        }
        let eligible = match explicit.get(&raw.customer) {
            Some(flag) => Some(flag.unwrap_or_else(|| derived.contains(&raw.customer))),
            None => {
                let help = did_you_mean(&raw.customer, &customer_ids)
                    .map_or_else(|| "add it under [[customers]]".to_owned(), |near| format!("did you mean `{near}`?"));
                problems.push_help(
                    &format!("{key}.customer"),
                    format!("customer `{}` is not defined", raw.customer),
                    help,
                );
                None
            }
        };
        let hosts: HashSet<String> = raw.hosts.iter().filter_map(|host| normalise_host(host)).collect();
        for host in hosts {
            if let Some(owner) = host_owner.insert(host.clone(), raw.id.clone()) {
                problems.push(&format!("{key}.hosts"), format!("host `{host}` is already claimed by tenant `{owner}`"));
            }
        }
        if let Some(tenant) = validate_tenant(&key, raw, eligible, problems) {
            list.push(Arc::new(tenant));
        }
    }
    let eligibility = explicit
        .into_iter()
        .map(|(id, flag)| {
            let eligible = flag.unwrap_or_else(|| derived.contains(&id));
            (id, eligible)
        })
        .collect();
    Tenants::new(list).with_customers(eligibility)
}

/// Validates one tenant table. Also the check for tenant documents of a remote source.
///
/// `customer_eligible` is `None` when the customer is unknown (already reported): the
/// eligibility checks are then skipped rather than reported twice.
pub fn validate_tenant(
    key: &str,
    raw: RawTenant,
    customer_eligible: Option<bool>,
    problems: &mut Problems,
) -> Option<Tenant> {
    let RawTenant {
        id,
        customer,
        hosts,
        third_party_apps_since,
        permissive_by_default,
        dcr_security_mode,
        dcr_access,
        enforcement,
        default_api_permissions,
        allow_strict_dcr_without_defaults,
        inject_dcr_mode,
        token,
        dcr_rate_per_s,
        dcr_burst,
        management,
    } = raw;
    let before = problems.len();
    bounded(problems, &format!("{key}.dcr_rate_per_s"), dcr_rate_per_s, 1..=100_000, "registrations a second");
    bounded(problems, &format!("{key}.dcr_burst"), dcr_burst, 1..=1_000_000, "registrations at once");
    let management = management.map(|RawManagement { client_id, client_secret_env, lookups_per_s }| {
        bounded(
            problems,
            &format!("{key}.management.lookups_per_s"),
            u64::from(lookups_per_s),
            1..=10_000,
            "client lookups a second",
        );
        if client_id.is_empty() {
            problems.push(&format!("{key}.management.client_id"), "a client id is needed");
        }
        if client_secret_env.is_empty() {
            problems.push_help(
                &format!("{key}.management.client_secret_env"),
                "must name an environment variable",
                "the secret itself never goes in the file",
            );
        }
        Management { client_id, client_secret_env, lookups_per_s }
    });
    if hosts.is_empty() {
        problems.push(&format!("{key}.hosts"), "a tenant needs at least one host");
    }
    let mut normal_hosts = Vec::new();
    for host in &hosts {
        match normalise_host(host) {
            Some(normal) if !normal_hosts.contains(&normal) => normal_hosts.push(normal),
            Some(normal) => problems.push(&format!("{key}.hosts"), format!("host `{normal}` is listed twice")),
            None => problems.push_help(
                &format!("{key}.hosts"),
                format!("`{host}` is not a host name"),
                "write a name such as `acme.example.com`",
            ),
        }
    }
    let since =
        third_party_apps_since.as_ref().and_then(|d| parse_date(&format!("{key}.third_party_apps_since"), d, problems));
    let dcr_security_mode = match dcr_security_mode.as_deref() {
        None => None,
        Some(text) => match SecurityMode::from_wire(text) {
            Some(mode) => Some(mode),
            None => {
                problems.push_help(
                    &format!("{key}.dcr_security_mode"),
                    format!("`{text}` is not a mode"),
                    "use `strict` or `permissive`",
                );
                None
            }
        },
    };
    let ineligible = customer_eligible == Some(false);
    if dcr_security_mode == Some(SecurityMode::Permissive) && ineligible {
        problems.push_help(
            &format!("{key}.dcr_security_mode"),
            format!("customer `{customer}` is not eligible for permissive applications"),
            "use `strict`, or mark the customer `permissive_eligible = true` if it used third-party applications before the cut-off",
        );
    }
    if permissive_by_default && ineligible {
        problems.push_help(
            &format!("{key}.permissive_by_default"),
            format!("customer `{customer}` is not eligible for permissive applications"),
            "remove `permissive_by_default`",
        );
    }
    let dcr_access = match dcr_access.as_str() {
        "open" => Some(DcrAccess::Open),
        "token" => Some(DcrAccess::Token),
        other => {
            problems.push_help(
                &format!("{key}.dcr_access"),
                format!("`{other}` is not a choice"),
                "use `open` or `token`",
            );
            None
        }
    };
    let enforcement = match enforcement.as_str() {
        "enforce" => Some(Enforcement::Enforce),
        "shadow" => Some(Enforcement::Shadow),
        "off" => Some(Enforcement::Off),
        other => {
            problems.push_help(
                &format!("{key}.enforcement"),
                format!("`{other}` is not a choice"),
                "use `enforce`, `shadow` or `off`",
            );
            None
        }
    };
    let mut permissions = Vec::new();
    for (index, permission) in default_api_permissions.into_iter().enumerate() {
        let RawApiPermission { audience, scopes, subject_type } = permission;
        let path = format!("{key}.default_api_permissions[{index}]");
        if audience.is_empty() {
            problems.push(&format!("{path}.audience"), "an audience is needed");
        }
        let subject_type = if subject_type.is_empty() { "user".to_owned() } else { subject_type };
        if subject_type != "user" && subject_type != "client" {
            problems.push_help(
                &format!("{path}.subject_type"),
                format!("`{subject_type}` is not a choice"),
                "use `user` or `client`",
            );
        }
        permissions.push(ApiPermission { audience, scopes, subject_type });
    }
    let first_host = normal_hosts.first().cloned().unwrap_or_default();
    let token = validate_token(key, token.unwrap_or_default(), &first_host, problems);
    if problems.len() > before {
        return None;
    }
    let policy = TenantPolicy {
        id,
        customer,
        customer_eligible: customer_eligible?,
        hosts: normal_hosts,
        permissive_by_default,
        dcr_security_mode,
        dcr_access: dcr_access?,
        enforcement: enforcement?,
        has_default_api_permissions: !permissions.is_empty(),
        allow_strict_dcr_without_defaults,
        inject_dcr_mode,
        management_audience: token.audience.clone(),
        dcr_rate: DcrRate {
            per_s: u32::try_from(dcr_rate_per_s).unwrap_or(u32::MAX),
            burst: u32::try_from(dcr_burst).unwrap_or(u32::MAX),
        },
    };
    Some(Tenant {
        policy: std::sync::Arc::new(policy),
        management,
        third_party_apps_since: since,
        default_api_permissions: permissions,
        token,
    })
}

fn validate_token(key: &str, raw: RawToken, first_host: &str, problems: &mut Problems) -> TokenSettings {
    let RawToken { issuer, audience, jwks_uri, jwks, algorithms, jwks_refetch_interval_ms } = raw;
    if let Some(interval) = jwks_refetch_interval_ms {
        bounded(
            problems,
            &format!("{key}.token.jwks_refetch_interval_ms"),
            interval,
            0..=DAY_MS,
            "milliseconds, at most a day",
        );
    }
    let algorithms = algorithms.unwrap_or_else(|| vec!["RS256".to_owned()]);
    if algorithms.is_empty() {
        problems.push(&format!("{key}.token.algorithms"), "at least one algorithm is needed");
    }
    for alg in &algorithms {
        if !ALLOWED_ALGORITHMS.contains(&alg.as_str()) {
            problems.push_help(
                &format!("{key}.token.algorithms"),
                format!("`{alg}` is not allowed"),
                format!("use any of {}; `none` and HMAC algorithms are never accepted", ALLOWED_ALGORITHMS.join(", ")),
            );
        }
    }
    let is_jwks = |document: &str| {
        serde_json::from_str::<serde_json::Value>(document).ok().and_then(|v| v.get("keys").map(|k| k.is_array()))
            == Some(true)
    };
    if jwks.as_deref().is_some_and(|document| !is_jwks(document)) {
        problems.push_help(
            &format!("{key}.token.jwks"),
            "is not a JWKS document",
            "give a JSON object with a `keys` array",
        );
    }
    if let Some(uri) = &jwks_uri
        && !jwks_uri_allowed(uri)
    {
        problems.push_help(
            &format!("{key}.token.jwks_uri"),
            format!("`{uri}` is not an https URL"),
            "keys are fetched over https; plain http is accepted only on loopback (127.0.0.1, localhost, [::1])",
        );
    }
    TokenSettings::new(
        issuer.unwrap_or_else(|| format!("https://{first_host}/")),
        audience.unwrap_or_else(|| format!("https://{first_host}/api/v2/")),
        jwks_uri.unwrap_or_else(|| format!("https://{first_host}/.well-known/jwks.json")),
        jwks,
        algorithms,
        Duration::from_millis(jwks_refetch_interval_ms.unwrap_or(10_000)),
    )
}

/// The closest known id within a small edit distance, for a did-you-mean hint.
pub fn did_you_mean<'a>(given: &str, known: &[&'a str]) -> Option<&'a str> {
    known
        .iter()
        .map(|candidate| (edit_distance(given, candidate), *candidate))
        .filter(|(distance, _)| *distance <= 2.max(given.len() / 4))
        .min()
        .map(|(_, candidate)| candidate)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut current = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let substitute = previous.get(j).copied().unwrap_or(0) + usize::from(ca != *cb);
            let delete = previous.get(j + 1).copied().unwrap_or(0) + 1;
            let insert = current.get(j).copied().unwrap_or(0) + 1;
            current.push(substitute.min(delete).min(insert));
        }
        previous = current;
    }
    previous.last().copied().unwrap_or(0)
}
