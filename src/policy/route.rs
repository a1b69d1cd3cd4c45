//! Route classification (SPEC §2): which requests the gateway intercepts.
//!
//! The path is normalised only to classify it; the upstream always receives the original
//! request target. Anything that two servers could route differently (an encoded `/`, a
//! `\`, a `;` parameter, double encoding, a `..` above the root) is refused under the
//! protected prefixes instead of being guessed at.

use percent_encoding::percent_decode;

use super::decision::{ReasonCode, Rejection, RouteId};

/// Prefixes under which ambiguous paths and method-override headers are refused.
const PROTECTED_PREFIXES: [&str; 2] = ["/api/v2", "/oidc"];

/// Headers some frameworks honour to turn a POST into another method.
pub const METHOD_OVERRIDE_HEADERS: [&str; 3] = ["x-http-method-override", "x-http-method", "x-method-override"];

/// The form of a request target (RFC 9112 §3.2), read from its raw bytes: Pingora keeps
/// the absolute-form authority off the parsed URI and forwards the raw target, so the
/// gateway must classify exactly the bytes the upstream will see.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TargetForm<'a> {
    /// `/path?query`
    Origin { path: &'a [u8] },
    /// `http://authority/path?query`
    Absolute { authority: &'a str, path: &'a [u8] },
    /// `*` (OPTIONS)
    Asterisk,
    /// Anything else (`x:/api/v2/clients`, `api/v2/clients`, authority-form): refused.
    Other,
}

/// Splits a raw request target into its form, authority and path (without query).
pub fn target_form(target: &[u8]) -> TargetForm<'_> {
    fn without_query(bytes: &[u8]) -> &[u8] {
        let end = bytes.iter().position(|b| *b == b'?' || *b == b'#').unwrap_or(bytes.len());
        bytes.get(..end).unwrap_or(bytes)
    }
    if target.starts_with(b"/") {
        return TargetForm::Origin { path: without_query(target) };
    }
    if target == b"*" {
        return TargetForm::Asterisk;
    }
    let lower = |n: usize| target.get(..n).map(|p| p.to_ascii_lowercase());
    let rest = if lower(7).as_deref() == Some(b"http://".as_slice()) {
        target.get(7..)
    } else if lower(8).as_deref() == Some(b"https://".as_slice()) {
        target.get(8..)
    } else {
        None
    };
    let Some(rest) = rest else { return TargetForm::Other };
    let end = rest.iter().position(|b| matches!(b, b'/' | b'?' | b'#')).unwrap_or(rest.len());
    let (authority, after) = rest.split_at(end);
    let Ok(authority) = std::str::from_utf8(authority) else { return TargetForm::Other };
    let path = without_query(after);
    TargetForm::Absolute { authority, path: if path.is_empty() { b"/" } else { path } }
}

/// Where a request goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RouteMatch {
    /// Proxied untouched, body streamed.
    Passthrough,
    Intercepted(RouteId),
    /// Under a protected prefix but ambiguous: refused (unless the tenant is `off`).
    Refused(Rejection),
}

/// The routing table of one configuration: the built-in routes plus `routes.dcr_paths`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RouteTable {
    /// Extra DCR paths, already normalised.
    pub dcr_paths: Vec<String>,
}

impl RouteTable {
    pub fn new(dcr_paths: Vec<String>) -> Self {
        RouteTable { dcr_paths }
    }

    /// Classifies a request from its method, raw path (no query) and whether it carries a
    /// method-override header.
    pub fn classify(&self, method: &str, raw_path: impl AsRef<[u8]>, has_method_override: bool) -> RouteMatch {
        let raw_path = raw_path.as_ref();
        let normalised = match normalise(raw_path) {
            Ok(path) => path,
            Err(hazard) => {
                return if self.is_protected(&lenient_normalise(raw_path))
                    || self.is_protected(&String::from_utf8_lossy(raw_path).to_ascii_lowercase())
                {
                    RouteMatch::Refused(Rejection::invalid_request(
                        ReasonCode::AmbiguousPath,
                        format!("the request path {hazard}, which servers may route differently; send a plain path"),
                    ))
                } else {
                    RouteMatch::Passthrough
                };
            }
        };
        if !self.is_protected(&normalised) {
            return RouteMatch::Passthrough;
        }
        if has_method_override {
            return RouteMatch::Refused(Rejection::invalid_request(
                ReasonCode::MethodOverride,
                "method-override headers are not accepted on this API; send the intended method itself",
            ));
        }
        // Methods are case-sensitive on the wire, but a lenient upstream may not be:
        // classify `post` as POST so that it cannot slip past as passthrough.
        let method = method.to_ascii_uppercase();
        match self.route_of(&method, &normalised) {
            Some(route) => RouteMatch::Intercepted(route),
            None => RouteMatch::Passthrough,
        }
    }

    fn route_of(&self, method: &str, path: &str) -> Option<RouteId> {
        let is_update = matches!(method, "PATCH" | "PUT");
        match path {
            "/api/v2/clients" if method == "POST" => return Some(RouteId::ClientsCreate),
            "/api/v2/tenants/settings" if is_update => return Some(RouteId::TenantSettingsUpdate),
            "/api/v2/client-grants" if method == "POST" => return Some(RouteId::ClientGrantsCreate),
            "/oidc/register" if method == "POST" => return Some(RouteId::DcrRegister),
            _ => {}
        }
        if method == "POST" && self.dcr_paths.iter().any(|dcr| dcr == path) {
            return Some(RouteId::DcrRegister);
        }
        let client_id = path.strip_prefix("/api/v2/clients/").filter(|id| !id.is_empty() && !id.contains('/'));
        (is_update && client_id.is_some()).then_some(RouteId::ClientsUpdate)
    }

    fn is_protected(&self, path: &str) -> bool {
        PROTECTED_PREFIXES
            .iter()
            .copied()
            .chain(self.dcr_paths.iter().map(String::as_str))
            .any(|prefix| under(path, prefix))
    }
}

fn under(path: &str, prefix: &str) -> bool {
    match path.strip_prefix(prefix) {
        Some(rest) => rest.is_empty() || rest.starts_with('/'),
        None => false,
    }
}

/// Why a path cannot be normalised safely; completes "the request path …".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PathHazard {
    EncodedSeparator,
    Backslash,
    Parameter,
    DoubleEncoding,
    Nul,
    NotUtf8,
    QueryOrFragment,
    AboveRoot,
    NotAbsolute,
}

impl std::fmt::Display for PathHazard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            PathHazard::EncodedSeparator => "contains an encoded `/`",
            PathHazard::Backslash => "contains a `\\`",
            PathHazard::Parameter => "contains a `;` parameter",
            PathHazard::DoubleEncoding => "is percent-encoded twice",
            PathHazard::Nul => "contains a NUL byte",
            PathHazard::NotUtf8 => "does not decode to UTF-8",
            PathHazard::QueryOrFragment => "contains an encoded `?` or `#`",
            PathHazard::AboveRoot => "climbs above the root with `..`",
            PathHazard::NotAbsolute => "does not start with `/`",
        })
    }
}

/// The `{client_id}` of a `clients_update` path, decoded, its case kept (ids are
/// case-sensitive, unlike the route).
pub fn client_id(raw_path: impl AsRef<[u8]>) -> Option<String> {
    let segments = segments(raw_path).ok()?;
    match segments.as_slice() {
        [api, v2, clients, id]
            if api.eq_ignore_ascii_case("api")
                && v2.eq_ignore_ascii_case("v2")
                && clients.eq_ignore_ascii_case("clients") =>
        {
            Some(id.clone())
        }
        _ => None,
    }
}

/// SPEC §2 normalisation: percent-decoding, ASCII lowercasing, collapsing `//`, resolving
/// `.` and `..`, dropping a trailing `/`.
pub fn normalise(raw_path: impl AsRef<[u8]>) -> Result<String, PathHazard> {
    let segments = segments(raw_path)?;
    let mut path = String::new();
    for segment in &segments {
        path.push('/');
        path.push_str(&segment.to_ascii_lowercase());
    }
    if path.is_empty() {
        path.push('/');
    }
    Ok(path)
}

/// The decoded segments of a path after `.`, `..` and empty segments are resolved.
fn segments(raw_path: impl AsRef<[u8]>) -> Result<Vec<String>, PathHazard> {
    let Some(rest) = raw_path.as_ref().strip_prefix(b"/") else {
        return Err(PathHazard::NotAbsolute);
    };
    let mut segments: Vec<String> = Vec::new();
    for raw in rest.split(|b| *b == b'/') {
        if raw.contains(&b';') {
            return Err(PathHazard::Parameter);
        }
        if raw.contains(&b'\\') {
            return Err(PathHazard::Backslash);
        }
        let decoded: Vec<u8> = percent_decode(raw).collect();
        for byte in &decoded {
            match byte {
                b'/' => return Err(PathHazard::EncodedSeparator),
                b'\\' => return Err(PathHazard::Backslash),
                b';' => return Err(PathHazard::Parameter),
                b'%' => return Err(PathHazard::DoubleEncoding),
                0 => return Err(PathHazard::Nul),
                b'?' | b'#' => return Err(PathHazard::QueryOrFragment),
                _ => {}
            }
        }
        let segment = String::from_utf8(decoded).map_err(|_| PathHazard::NotUtf8)?;
        match segment.as_str() {
            "" | "." => {}
            ".." => {
                if segments.pop().is_none() {
                    return Err(PathHazard::AboveRoot);
                }
            }
            _ => segments.push(segment),
        }
    }
    Ok(segments)
}

/// The most generous reading of a hazardous path, as the most lenient upstream could see
/// it: `%2F` and `\` are separators, `;…` parameters are dropped, `..` stops at the root.
/// Used only to decide whether a hazardous path could reach a protected route.
fn lenient_normalise(raw_path: &[u8]) -> String {
    let mut text = String::from_utf8_lossy(raw_path).into_owned();
    // decode repeatedly so that double encoding is seen through too
    for _ in 0..3 {
        let decoded = percent_decode(text.as_bytes()).decode_utf8_lossy().into_owned();
        if decoded == text {
            break;
        }
        text = decoded;
    }
    let text = text.replace('\\', "/").to_ascii_lowercase();
    let mut segments: Vec<&str> = Vec::new();
    for raw in text.split('/') {
        let segment = raw.split(';').next().unwrap_or_default();
        match segment {
            "" | "." => {}
            ".." => {
                segments.pop();
            }
            _ => segments.push(segment),
        }
    }
    let mut path = String::new();
    for segment in segments {
        path.push('/');
        path.push_str(segment);
    }
    path
}

#[cfg(test)]
mod tests;
