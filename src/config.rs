//! Configuration: one TOML file (SPEC §8), loaded and validated in full. The startup path,
//! `modegate check` and (later) reload all call [`load`].

pub mod err;
pub mod keys;
pub mod model;
pub mod raw;
pub mod validate;

use std::path::Path;

pub use err::{ConfigError, Problem, Problems};
pub use model::*;

/// Default location of the configuration file.
pub const DEFAULT_PATH: &str = "config/modegate.toml";

/// Reads and validates `path`; on failure, every problem found.
pub fn load(path: &Path) -> Result<(Config, Vec<String>), ConfigError> {
    load_as(path, Purpose::Serve)
}

/// [`load`] for a process that serves from the result for long: the file is read on a
/// thread of its own and the tenants (nearly all of what is kept) copied out, so that they
/// do not sit among the garbage of reading it.
///
/// Why: a file of 10,000 tenants (1.8 MB) peaks at about 64 MiB while it is parsed (the
/// TOML tokens, events and tree) for 14 MiB kept. Read on the main thread, the kept
/// allocations were scattered through that peak, and glibc could hand back only whole
/// free pages: 47 MiB resident after loading. Read on another thread, the garbage stays
/// in that thread's arena, which `heap::release_freed_memory` empties once the state built
/// on the copy is in place (`app`, `reload`): 36–38 MiB.
/// See [`crate::heap`].
pub fn load_to_serve(path: &Path) -> Result<(Config, Vec<String>), ConfigError> {
    let (mut config, warnings) = crate::heap::on_a_heap_of_its_own(|| load(path)).map_err(|e| {
        let mut problems = Problems::default();
        problems.push("", format!("cannot start a thread to read the file on: {e}"));
        ConfigError::new(path, problems)
    })??;
    // the originals go here; the caller trims once the state built on the copy is in place
    config.tenants = config.tenants.deep_copy();
    Ok((config, warnings))
}

/// What a configuration is loaded for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// To serve: `upstream.address` is resolved (once, here).
    Serve,
    /// `modegate check`: nothing is resolved (the machine that checks may not have the
    /// serving machine's DNS); a name is reported as a warning.
    Check,
}

pub fn load_as(path: &Path, purpose: Purpose) -> Result<(Config, Vec<String>), ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        let mut problems = Problems::default();
        problems.push("", format!("cannot read the file: {e}"));
        ConfigError::new(path, problems)
    })?;
    parse_as(&text, purpose).map_err(|problems| ConfigError::new(path, problems))
}

/// Validates configuration text to serve with.
pub fn parse(text: &str) -> Result<(Config, Vec<String>), Problems> {
    parse_as(text, Purpose::Serve)
}

/// How many type errors are collected before giving up on a file (each one found costs a
/// pass over the file).
const MAX_TYPE_ERRORS: usize = 64;

/// Validates configuration text. Every problem is listed: values of the wrong type (each
/// one, found by setting it aside and reading again), unknown keys (with the nearest known
/// key), then the checks of `validate`. A typo in a security setting must not fall back to
/// a default.
pub fn parse_as(text: &str, purpose: Purpose) -> Result<(Config, Vec<String>), Problems> {
    let mut problems = Problems::default();
    let (raw, unknown, upstream_named) = match read_in_one_pass(text) {
        Some((raw, unknown, upstream_named)) => (Some(raw), unknown, upstream_named),
        None => read_value_by_value(text, &mut problems),
    };
    for key in unknown.iter().map(|key| index_brackets(key)) {
        let (table_path, name) = key.rsplit_once('.').unwrap_or(("", key.as_str()));
        let table_kind: String =
            table_path.split('.').map(|s| s.split('[').next().unwrap_or(s)).collect::<Vec<_>>().join(".");
        let help = match validate::did_you_mean(name, keys::known_keys(&table_kind)) {
            Some(near) => format!("did you mean `{near}`?"),
            None => "remove it or check its spelling against the README's configuration reference".to_owned(),
        };
        problems.push_help(&key, "unknown key", help);
    }
    let Some(raw) = raw else { return Err(problems) };
    let config = validate::validate(raw, &mut problems, purpose);
    match config {
        Some(config) if problems.is_empty() => {
            let mut warnings = warnings(&config);
            if !upstream_named {
                warnings.push(format!("upstream.address is not set: the default `{}` is used", config.upstream.name));
            }
            if config.tenants.list.is_empty() && config.source == SourceKind::Inline {
                warnings.push(
                    "no [[tenants]] and no policy service: every intercepted request is for an unknown tenant"
                        .to_owned(),
                );
            }
            if purpose == Purpose::Check && config.upstream.name.parse::<std::net::SocketAddr>().is_err() {
                warnings.push(format!(
                    "upstream.address `{}` is a name: check does not resolve it; the gateway resolves it once at start",
                    config.upstream.name
                ));
            }
            Ok((config, warnings))
        }
        _ => Err(problems),
    }
}

/// A file and what reading it found: the raw settings (`None` after a type error), the
/// keys no setting has, and whether `upstream.address` is written.
type Read = (Option<raw::RawConfig>, Vec<String>, bool);

/// The common case, a file without type errors: one parse, straight into the raw types.
/// No `toml::Table` is built and none is copied, which kept the resident size of a file of
/// 10,000 tenants 20 MiB higher after loading (glibc cannot hand back a heap that the
/// configuration's own allocations are scattered through). `None`: a type error somewhere,
/// for [`read_value_by_value`] to find and list.
fn read_in_one_pass(text: &str) -> Option<(raw::RawConfig, Vec<String>, bool)> {
    use serde::Deserialize;
    let root = toml::de::DeTable::parse(text).ok()?;
    let upstream_named = root
        .get_ref()
        .get("upstream")
        .and_then(|upstream| upstream.get_ref().as_table())
        .is_some_and(|upstream| upstream.get("address").is_some());
    let mut unknown = Vec::new();
    let mut note_unknown = |path: serde_ignored::Path<'_>| unknown.push(path.to_string());
    let ignored = serde_ignored::Deserializer::new(toml::Deserializer::from(root), &mut note_unknown);
    let raw = raw::RawConfig::deserialize(ignored).ok()?;
    Some((raw, unknown, upstream_named))
}

/// Every type error of a file: each one found is set aside and the file read again, up to
/// [`MAX_TYPE_ERRORS`].
fn read_value_by_value(text: &str, problems: &mut Problems) -> Read {
    let mut table: toml::Table = match text.parse() {
        Ok(table) => table,
        Err(e) => {
            problems.push("", format!("not valid TOML: {}", e.to_string().trim_end()));
            return (None, Vec::new(), false);
        }
    };
    let upstream_named = table.get("upstream").and_then(|u| u.get("address")).is_some();
    let mut unknown = Vec::new();
    let raw = loop {
        unknown.clear();
        let value = toml::Value::Table(table.clone());
        let mut note_unknown = |path: serde_ignored::Path<'_>| unknown.push(path.to_string());
        let ignored = serde_ignored::Deserializer::new(value, &mut note_unknown);
        match serde_path_to_error::deserialize::<_, raw::RawConfig>(ignored) {
            Ok(raw) => break Some(raw),
            Err(error) => {
                let path = error.path().to_string();
                // toml repeats the key on a second line: the path already names it
                let message = error.inner().to_string();
                problems.push(&path, message.lines().next().unwrap_or_default().trim_end());
                if problems.len() >= MAX_TYPE_ERRORS || !remove_at(&mut table, error.path()) {
                    break None;
                }
            }
        }
    };
    (raw, unknown, upstream_named)
}

/// Removes the value at `path` (a type error) so that the next pass reads on past it.
fn remove_at(table: &mut toml::Table, path: &serde_path_to_error::Path) -> bool {
    let segments: Vec<&serde_path_to_error::Segment> = path.iter().collect();
    match segments.split_first() {
        Some((serde_path_to_error::Segment::Map { key }, [])) => table.remove(key.as_str()).is_some(),
        Some((serde_path_to_error::Segment::Map { key }, rest)) => {
            table.get_mut(key.as_str()).is_some_and(|value| remove_in(value, rest))
        }
        _ => false,
    }
}

fn remove_in(value: &mut toml::Value, segments: &[&serde_path_to_error::Segment]) -> bool {
    use serde_path_to_error::Segment;
    let Some((first, rest)) = segments.split_first() else { return false };
    match (first, value, rest.is_empty()) {
        (Segment::Map { key }, toml::Value::Table(table), true) => table.remove(key.as_str()).is_some(),
        (Segment::Seq { index }, toml::Value::Array(items), true) if *index < items.len() => {
            items.remove(*index);
            true
        }
        (Segment::Map { key }, toml::Value::Table(table), false) => {
            table.get_mut(key.as_str()).is_some_and(|value| remove_in(value, rest))
        }
        (Segment::Seq { index }, toml::Value::Array(items), false) => {
            items.get_mut(*index).is_some_and(|value| remove_in(value, rest))
        }
        _ => false,
    }
}

/// `tenants.1.colour` → `tenants[1].colour`, as the other problems name keys.
fn index_brackets(path: &str) -> String {
    let mut out = String::new();
    // `?` marks an `Option` on the way (`tenants.0.management.?.x`): not a key
    for segment in path.split('.').filter(|segment| *segment != "?") {
        if !out.is_empty() && segment.bytes().all(|b| b.is_ascii_digit()) {
            out.push_str(&format!("[{segment}]"));
        } else {
            if !out.is_empty() {
                out.push('.');
            }
            out.push_str(segment);
        }
    }
    out
}

/// Settings that load but deserve a word at startup.
fn warnings(config: &Config) -> Vec<String> {
    let mut warnings = Vec::new();
    let tls_listen = config.server.tls.iter().flat_map(|tls| &tls.listen);
    let mut listeners = config.server.listen.iter().chain(tls_listen).chain([&config.server.admin_listen]);
    if listeners.any(|addr| addr.port() == 0) {
        warnings.push(
            "a listen address has port 0: the port is chosen at start and logged (`modegate listening: …`); \
             a graceful upgrade (`run -u`) cannot take it over (nor find the admin port's pid file): name ports for that"
                .to_owned(),
        );
    }
    if config.upstream.tls && config.upstream.sni.is_empty() {
        warnings.push("upstream.sni is empty: each request's tenant host is sent as SNI and verified".to_owned());
    }
    if config.clients.store == ClientStoreSettings::Memory {
        warnings.push(
            "clients.store = \"memory\": the client registry lives in this process only; a restart forgets \
             every client it saw created (use \"embedded\" or \"redis\" outside tests)"
                .to_owned(),
        );
    }
    // not a problem: the file loads anywhere (SPEC §8), and the secret may be set later
    // for `check`; but until it is, lookups fail and unknown clients are held strict
    for tenant in &config.tenants.list {
        if let Some(management) = &tenant.management
            && std::env::var(&management.client_secret_env).map_or(true, |secret| secret.is_empty())
        {
            warnings.push(format!(
                "tenants[{}].management.client_secret_env: `{}` is not set in the environment (or empty): runtime \
                 lookups of clients the gateway does not know will fail, and such clients are held to the strict rules",
                tenant.policy.id, management.client_secret_env
            ));
        }
    }
    warnings
}

#[cfg(test)]
mod tests;
