//! Route classification (SPEC §2): which requests the gateway intercepts.
//!
//! The path is normalised only to classify it; the upstream always receives the original
//! request target. Anything that two servers could route differently (an encoded `/`, a
//! `\`, a `;` parameter, double encoding, a `..` above the root) is refused under the
//! protected prefixes instead of being guessed at.

use percent_encoding::percent_decode;
use unicode_normalization::UnicodeNormalization;

use super::fold::{fold_to_ascii, folds_to_path_syntax, is_ignorable};
use super::{ReasonCode, Rejection, RouteId};

/// Prefixes under which ambiguous paths and method-override headers are refused.
const PROTECTED_PREFIXES: [&str; 2] = ["/api/v2", "/oidc"];

/// SPEC §13 runtime routes, extended by `[routes]`.
pub const DEFAULT_AUTHORIZE_PATHS: [&str; 1] = ["/authorize"];
pub const DEFAULT_TOKEN_PATHS: [&str; 1] = ["/oauth/token"];
pub const DEFAULT_LEGACY_PATHS: [&str; 13] = [
    "/oauth/ro",
    "/delegation",
    "/dbconnections",
    "/passwordless",
    "/v2/logout",
    "/oidc/logout",
    "/samlp",
    "/wsfed",
    "/oauth/device/code",
    "/bc-authorize",
    "/oauth/par",
    // not in SPEC §13's list, refused to strict clients all the same: a social provider's
    // token exchanged for one of ours, and cross-origin password authentication
    "/oauth/access_token",
    "/co/authenticate",
];

/// Headers some frameworks honour to turn a POST into another method (compared with `_`
/// read as `-`: CGI, Rack and WSGI map both spellings to one variable).
pub const METHOD_OVERRIDE_HEADERS: [&str; 3] = ["x-http-method-override", "x-http-method", "x-method-override"];

/// The query parameter Rails, Laravel, Symfony and `method-override` read as the method.
const METHOD_PARAMETER: &str = "_method";

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

/// What follows the path in a raw target: the query after `?` (or a fragment after `#`,
/// which no client should send), `None` when there is neither.
pub fn query_of(target: &[u8]) -> Option<&[u8]> {
    let at = target.iter().position(|b| *b == b'?' || *b == b'#')?;
    target.get(at + 1..)
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

/// The routing table of one configuration: the built-in routes plus `routes.dcr_paths`,
/// and the head rules of SPEC §16 that depend on settings.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RouteTable {
    /// Extra DCR paths, already normalised.
    pub dcr_paths: Vec<String>,
    /// SPEC §13: `/authorize` and `routes.authorize_paths`, normalised.
    pub authorize_paths: Vec<String>,
    /// `/oauth/token` and `routes.token_paths`.
    pub token_paths: Vec<String>,
    /// The legacy endpoints and `routes.legacy_paths`; each matches itself and what is
    /// under it (`/dbconnections/signup`, `/samlp/{client_id}`).
    pub legacy_paths: Vec<String>,
    /// Normalised paths on which `Upgrade` requests are proxied (`server.upgrade_paths`).
    pub upgrade_paths: Vec<String>,
    /// `server.allow_bodies_on_get`: forward bodies on GET, HEAD, DELETE, OPTIONS, TRACE.
    pub allow_bodies_on_get: bool,
}

/// What the head says about a request's method besides the method itself.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MethodHints<'a> {
    /// A method-override header, in any spelling.
    pub override_header: bool,
    /// The raw query (after `?`), or the fragment, when the target has one.
    pub query: Option<&'a [u8]>,
}

impl RouteTable {
    pub fn new(dcr_paths: Vec<String>) -> Self {
        RouteTable {
            dcr_paths,
            authorize_paths: DEFAULT_AUTHORIZE_PATHS.iter().map(|p| (*p).to_owned()).collect(),
            token_paths: DEFAULT_TOKEN_PATHS.iter().map(|p| (*p).to_owned()).collect(),
            legacy_paths: DEFAULT_LEGACY_PATHS.iter().map(|p| (*p).to_owned()).collect(),
            ..RouteTable::default()
        }
    }

    /// The runtime route of a normalised path, whatever the method (SPEC §13).
    pub fn runtime_route_of(&self, path: &str) -> Option<RouteId> {
        if self.authorize_paths.iter().any(|p| p == path) {
            Some(RouteId::Authorize)
        } else if self.token_paths.iter().any(|p| p == path) {
            Some(RouteId::Token)
        } else if self.legacy_paths.iter().any(|p| under(path, p)) {
            Some(RouteId::Legacy)
        } else {
            None
        }
    }

    /// Classifies a request from its method, raw path (no query) and what else the head
    /// says about its method.
    pub fn classify(&self, method: &str, raw_path: impl AsRef<[u8]>, hints: MethodHints<'_>) -> RouteMatch {
        let raw_path = raw_path.as_ref();
        let normalised = normalise(raw_path);
        // SPEC §16: protected if any reading of the path is, the most generous included
        // nothing another server could read differently: no escapes, dots or odd bytes
        let plain = raw_path.iter().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'/' | b'-' | b'_' | b'~'));
        let dotted =
            raw_path.iter().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'/' | b'-' | b'_' | b'~' | b'.'));
        let readings = if plain {
            Vec::new()
        } else if dotted {
            // `/.well-known/…`, `/app.js`: nothing to decode or fold, only the dot cuts
            let lower = String::from_utf8_lossy(raw_path).to_ascii_lowercase();
            let mut readings = cut_readings(&lower);
            readings.push(lenient_segments(&lower));
            readings
        } else {
            generous_readings(raw_path)
        };
        let protected = match &normalised {
            Ok(path) if self.is_protected(path) => true,
            _ => readings.iter().any(|path| self.is_protected(path)),
        };
        if !protected {
            return RouteMatch::Passthrough;
        }
        let normalised = match normalised {
            Ok(path) => path,
            Err(hazard) => {
                return RouteMatch::Refused(Rejection::invalid_request(
                    ReasonCode::AmbiguousPath,
                    format!("the request path {hazard}, which servers may route differently; send a plain path"),
                ));
            }
        };
        if hints.override_header || hints.query.is_some_and(has_method_parameter) {
            return RouteMatch::Refused(Rejection::invalid_request(
                ReasonCode::MethodOverride,
                "method overrides (headers or a `_method` parameter) are not accepted on this API; send the intended method itself",
            ));
        }
        // Methods are case-sensitive on the wire, but a lenient upstream may not be:
        // classify `post` as POST so that it cannot slip past as passthrough.
        let method = method.to_ascii_uppercase();
        if let Some(stripped) = without_suffix(&normalised)
            && (self.route_of(&method, &stripped).is_some() || self.route_of("PATCH", &stripped).is_some())
        {
            return RouteMatch::Refused(Rejection::invalid_request(
                ReasonCode::PathSuffix,
                "the last path segment carries a suffix (`.json`, trailing dots), which some routers strip; send the path without it",
            ));
        }
        let route = self.route_of(&method, &normalised);
        // SPEC §16: a server that decodes, folds or trims the path must reach the same route
        let update = |path: &str| if method == "POST" { self.route_of("PATCH", path) } else { None };
        let elsewhere =
            |path: &String| self.route_of(&method, path).or_else(|| update(path)).is_some_and(|r| Some(r) != route);
        if readings.iter().any(elsewhere) {
            return RouteMatch::Refused(Rejection::invalid_request(
                ReasonCode::AmbiguousPath,
                "the request path reads as another API route once decoded, normalised or trimmed; send the plain path",
            ));
        }
        if route.is_none() && method == "POST" && self.route_of("PATCH", &normalised).is_some() {
            // a body override (`_method` in a form or JSON body) would make this an update
            return RouteMatch::Refused(Rejection::invalid_request(
                ReasonCode::MethodOverride,
                "this path takes PATCH or PUT only; a POST here can be read as an update by method-override middleware",
            ));
        }
        match route {
            // the runtime routes take their parameters in the query (SPEC §13)
            Some(route) if route.is_runtime() => RouteMatch::Intercepted(route),
            Some(_) if hints.query.is_some() => RouteMatch::Refused(Rejection::invalid_request(
                ReasonCode::QueryNotAllowed,
                "this API takes no query string, and some servers merge it into the body; remove it",
            )),
            Some(route) => RouteMatch::Intercepted(route),
            None => RouteMatch::Passthrough,
        }
    }

    /// Whether `Upgrade` is allowed on this raw path (SPEC §16 "Upgrades").
    pub fn allows_upgrade(&self, raw_path: &[u8]) -> bool {
        normalise(raw_path).is_ok_and(|path| self.upgrade_paths.contains(&path))
    }

    fn route_of(&self, method: &str, path: &str) -> Option<RouteId> {
        // every method: servers that route by path alone read PUT /oauth/token's form too
        if let Some(route) = self.runtime_route_of(path) {
            return Some(route);
        }
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
            .chain(self.authorize_paths.iter().map(String::as_str))
            .chain(self.token_paths.iter().map(String::as_str))
            .chain(self.legacy_paths.iter().map(String::as_str))
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
    Control,
    Invisible,
    UnicodeSyntax,
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
            PathHazard::Control => "contains a control character or a space",
            PathHazard::Invisible => "contains white space or an invisible character",
            PathHazard::UnicodeSyntax => {
                "contains a character that reads as `/`, `\\` or `.` after Unicode normalisation"
            }
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
                // raw or encoded: servers trim, split or stop at them
                0x01..=0x20 | 0x7F => return Err(PathHazard::Control),
                _ => {}
            }
        }
        // invalid and overlong UTF-8 (`%C0%AF` is `/` to an old decoder) are refused here
        let segment = String::from_utf8(decoded).map_err(|_| PathHazard::NotUtf8)?;
        if !segment.is_ascii() {
            for c in segment.chars() {
                if c.is_control() {
                    return Err(PathHazard::Control);
                }
                if c.is_whitespace() || is_ignorable(c) {
                    return Err(PathHazard::Invisible);
                }
                if folds_to_path_syntax(c) {
                    return Err(PathHazard::UnicodeSyntax);
                }
            }
        }
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

/// The most generous readings of a path, as lenient upstreams could see it: repeated
/// percent-decoding, overlong UTF-8 decoded, NFKC, the non-ASCII letters that case-
/// insensitive comparison matches to ASCII (`fold::fold_to_ascii`), control and invisible
/// characters removed, `\\` read as a separator or not, `;…` parameters dropped, segments
/// trimmed of white space, `..` stopping at the root; and, for format-suffix routers, the
/// path cut at each `.` ([`cut_readings`]: what counts as the last segment depends on the
/// separators a server knows). Used only to decide whether a path could reach a protected
/// or intercepted route. Linear in the path's length: a hostile path costs the caller, not
/// the gateway.
fn generous_readings(raw_path: &[u8]) -> Vec<String> {
    let mut bytes = raw_path.to_vec();
    // decode repeatedly so that double encoding is seen through too
    for _ in 0..3 {
        let decoded: Vec<u8> = percent_decode(&bytes).collect();
        if decoded == bytes {
            break;
        }
        bytes = decoded;
    }
    let visible: String = String::from_utf8_lossy(&decode_overlong(&bytes))
        .nfkc()
        .filter(|c| !(c.is_control() || is_ignorable(*c)))
        .map(fold_to_ascii)
        .flat_map(char::to_lowercase)
        .collect();
    let raw_lossy = String::from_utf8_lossy(raw_path).to_lowercase();
    let mut readings = Vec::new();
    for text in [visible.replace('\\', "/"), visible, raw_lossy] {
        // a router that decodes before it splits reads a decoded `?` or `#` as the end
        let before_query = text.split(['?', '#']).next().filter(|before| before.len() < text.len());
        for text in before_query.map(str::to_owned).into_iter().chain([text]) {
            readings.push(lenient_segments(&text));
            readings.extend(cut_readings(&text));
        }
    }
    readings
}

/// Segments of a reading that routes and protected prefixes can look at: no route or
/// prefix is deeper or has longer segments (configuration refuses DCR paths beyond these).
pub const MAX_ROUTE_SEGMENTS: usize = 8;
pub const MAX_ROUTE_SEGMENT_LEN: usize = 128;

/// The readings of `text` cut at each `.` (a suffix router's "last segment" ends there), in
/// one pass: each candidate is the segment stack so far plus the cut segment, kept to its
/// first [`MAX_ROUTE_SEGMENTS`] segments with longer segments replaced by `~`, and each
/// distinct candidate is returned once. Only the first dot of a run is a cut (a router that
/// cuts at a later one leaves trailing dots, which trimming routers drop), and each cut costs
/// at most one short candidate, so a path of dots costs time linear in its length.
fn cut_readings(text: &str) -> Vec<String> {
    fn capped(segment: &str) -> &str {
        if segment.len() > MAX_ROUTE_SEGMENT_LEN { "~" } else { segment }
    }
    let mut stack: Vec<&str> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    let mut out = Vec::new();
    for raw in text.split('/') {
        let body = raw.split(';').next().unwrap_or_default();
        let dots_in_parameters = raw.get(body.len()..).is_some_and(|rest| rest.contains('.'));
        if body.contains('.') || dots_in_parameters {
            let mut prefix = String::new();
            for segment in stack.iter().take(MAX_ROUTE_SEGMENTS) {
                prefix.push('/');
                prefix.push_str(capped(segment));
            }
            let room = stack.len() < MAX_ROUTE_SEGMENTS;
            let start = body.len() - body.trim_start().len();
            let mut candidate = |partial: &str| {
                let mut path = prefix.clone();
                if room && !matches!(partial, "" | "." | "..") {
                    path.push('/');
                    path.push_str(capped(partial));
                }
                if seen.insert(path.clone()) {
                    out.push(path);
                }
            };
            let bytes = body.as_bytes();
            for (at, _) in body.match_indices('.') {
                if at > 0 && bytes.get(at - 1) == Some(&b'.') {
                    continue;
                }
                candidate(body.get(start.min(at)..at).unwrap_or_default().trim_end());
            }
            if dots_in_parameters {
                // a cut inside `;…` parameters leaves the segment without them
                candidate(body.trim());
            }
        }
        match body.trim() {
            "" | "." => {}
            ".." => {
                stack.pop();
            }
            segment => stack.push(segment),
        }
    }
    out
}

/// `text` split on `/`, with `;…` parameters dropped, segments trimmed of white space,
/// empty and `.` segments skipped and `..` stopping at the root.
fn lenient_segments(text: &str) -> String {
    let mut segments: Vec<&str> = Vec::new();
    for raw in text.split('/') {
        let segment = raw.split(';').next().unwrap_or_default().trim();
        match segment {
            "" | "." => {}
            ".." => {
                segments.pop();
            }
            _ => segments.push(segment),
        }
    }
    let mut path = String::new();
    for segment in &segments {
        path.push('/');
        path.push_str(segment);
    }
    path
}

/// Overlong UTF-8 encodings of ASCII (`C0 AF` for `/`, `E0 80 AE` for `.`) as the ASCII
/// byte, the way old or lenient decoders read them.
fn decode_overlong(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len());
    let mut rest = bytes;
    while let Some((&first, tail)) = rest.split_first() {
        match (first, tail) {
            (0xC0 | 0xC1, [second, after @ ..]) if second & 0xC0 == 0x80 => {
                out.push(((first & 0x1F) << 6) | (second & 0x3F));
                rest = after;
            }
            (0xE0, [second, third, after @ ..])
                if *second & 0xE0 == 0x80 && *third & 0xC0 == 0x80 && *second < 0x82 =>
            {
                out.push(((second & 0x3F) << 6) | (third & 0x3F));
                rest = after;
            }
            _ => {
                out.push(first);
                rest = tail;
            }
        }
    }
    out
}

/// The path without a suffix on its last segment (`/a/clients.json` → `/a/clients`,
/// `/a/clients.` → `/a/clients`, `/a/.json` → `/a`), as format-suffix routers and trimming
/// servers read it; `None` when the last segment has none.
fn without_suffix(path: &str) -> Option<String> {
    let (dir, last) = path.rsplit_once('/')?;
    let stem = last.split('.').next().unwrap_or(last);
    match (stem.len() == last.len(), stem.is_empty()) {
        (true, _) => None,
        // a segment that is all suffix (`/reg/.json`): the router is left with the directory
        (false, true) => (!dir.is_empty()).then(|| dir.to_owned()),
        (false, false) => Some(format!("{dir}/{stem}")),
    }
}

/// Whether a query names `_method`, in any case or encoding, with `&` or `;` between
/// parameters (older Python and Perl parsers split on both).
fn has_method_parameter(query: &[u8]) -> bool {
    let plain = |b: &u8| b.is_ascii_graphic() && *b != b'%' && *b != b'+';
    if query.iter().all(plain) {
        // plain ASCII reads one way: `_method` can only be there as those seven letters
        let method = METHOD_PARAMETER.trim_start_matches('_').as_bytes();
        let mut after_underscores = query.split(|b| *b == b'_').skip(1);
        if !after_underscores.any(|rest| rest.get(..method.len()).is_some_and(|m| m.eq_ignore_ascii_case(method))) {
            return false;
        }
    }
    query.split(|b| *b == b'&' || *b == b';').any(|pair| {
        let name = pair.split(|b| *b == b'=').next().unwrap_or_default();
        if name.iter().all(|b| b.is_ascii_graphic() && *b != b'%' && *b != b'+') {
            // plain ASCII reads one way: NFKC and decoding change nothing (the common case)
            return name.eq_ignore_ascii_case(METHOD_PARAMETER.as_bytes());
        }
        let spaced: Vec<u8> = name.iter().map(|b| if *b == b'+' { b' ' } else { *b }).collect();
        let decoded = percent_decode(&spaced).decode_utf8_lossy();
        let folded: String = decoded.nfkc().collect::<String>().trim().to_lowercase();
        folded == METHOD_PARAMETER
    })
}

#[cfg(test)]
mod tests;
