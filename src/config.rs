//! Configuration: one TOML file (SPEC §8), loaded and validated in full. The startup path,
//! `modegate check` and (later) reload all call [`load`].

pub mod err;
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
    let text = std::fs::read_to_string(path).map_err(|e| {
        let mut problems = Problems::default();
        problems.push("", format!("cannot read the file: {e}"));
        ConfigError::new(path, problems)
    })?;
    parse(&text).map_err(|problems| ConfigError::new(path, problems))
}

/// Validates configuration text. Unknown keys are problems, each listed, not silently
/// ignored: a typo in a security setting must not fall back to a default.
pub fn parse(text: &str) -> Result<(Config, Vec<String>), Problems> {
    let mut problems = Problems::default();
    let mut unknown = Vec::new();
    let deserializer = toml::Deserializer::new(text);
    let raw: raw::RawConfig = match serde_ignored::deserialize(deserializer, |path| unknown.push(path.to_string())) {
        Ok(raw) => raw,
        Err(e) => {
            problems.push("", format!("not a valid configuration: {}", e.to_string().trim_end()));
            return Err(problems);
        }
    };
    for key in unknown.iter().map(|key| index_brackets(key)) {
        problems.push_help(
            &key,
            "unknown key",
            "remove it or check its spelling against the README's configuration reference",
        );
    }
    let config = validate::validate(raw, &mut problems);
    match config {
        Some(config) if problems.is_empty() => {
            let warnings = warnings(&config);
            Ok((config, warnings))
        }
        _ => Err(problems),
    }
}

/// `tenants.1.colour` → `tenants[1].colour`, as the other problems name keys.
fn index_brackets(path: &str) -> String {
    let mut out = String::new();
    for segment in path.split('.') {
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
    warnings
}

#[cfg(test)]
mod tests;
