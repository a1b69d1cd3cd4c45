//! SPEC §16 rules on the request head that hold on every route, and the header edits the
//! gateway makes on everything it forwards, so that the upstream reads the host, method
//! and framing the policy read.
//!
//! Header names are compared the way CGI, Rack and WSGI read them: case-insensitively and
//! with `_` as `-` (`X_HTTP_METHOD_OVERRIDE` and `X-HTTP-Method-Override` are one
//! variable to them).

use std::net::IpAddr;

use http::header::{CONNECTION, CONTENT_LENGTH, HeaderName, HeaderValue, TRANSFER_ENCODING, UPGRADE};
use http::{HeaderMap, Method};

use super::RequestHead;
use super::route::{METHOD_OVERRIDE_HEADERS, RouteTable};
use super::{ReasonCode, Rejection};

/// Headers through which a client could name another host than the one routed by.
pub const FORWARDED_HOST_HEADERS: [&str; 10] = [
    "x-forwarded-host",
    "x-original-host",
    "x-host",
    "x-forwarded-server",
    "x-host-override",
    "x-forwarded-host-override",
    "x-forwarded-hostname",
    "x-http-host-override",
    "x-real-host",
    "x-backend-host",
];

/// Headers through which a client could name another scheme or port than the listener's:
/// Rack reads `X-Forwarded-Ssl` and `X-Forwarded-Scheme` before `X-Forwarded-Proto`.
pub const FORWARDED_SCHEME_HEADERS: [&str; 6] = [
    "front-end-https",
    "x-forwarded-ssl",
    "x-forwarded-scheme",
    "x-url-scheme",
    "x-forwarded-protocol",
    "x-forwarded-port",
];

/// Headers through which a client could name another path than the one routed by: URL
/// rewriting (IIS, Yii, Zend, Symfony), Envoy's original path, Spring's forwarded prefix.
pub const FORWARDED_PATH_HEADERS: [&str; 7] = [
    "x-rewrite-url",
    "x-original-url",
    "x-original-uri",
    "x-forwarded-path",
    "x-forwarded-prefix",
    "x-forwarded-uri",
    "x-envoy-original-path",
];

/// Headers through which a client could name another client address than the one the
/// gateway saw (rate limits and attack protection upstream key on it); the gateway states
/// the address in `X-Forwarded-For` and `Forwarded` only.
pub const FORWARDED_CLIENT_HEADERS: [&str; 24] = [
    "x-real-ip",
    "x-originating-ip",
    "x-remote-ip",
    "x-remote-addr",
    "remote-addr",
    "x-original-remote-addr",
    "x-proxyuser-ip",
    "x-envoy-external-address",
    "x-azure-clientip",
    "x-azure-socketip",
    "ako-client-ip",
    "x-forward-for",
    "x-forwarded-for-original",
    "true-client-ip",
    "cf-connecting-ip",
    "x-client-ip",
    "client-ip",
    "x-cluster-client-ip",
    "fastly-client-ip",
    "x-forwarded",
    "forwarded-for",
    "x-original-forwarded-for",
    "auth0-forwarded-for",
    "x-appengine-user-ip",
];

/// Headers whose removal by a `Connection` nomination would change what the policy read.
const NOMINATION_GUARDED: [&str; 8] = [
    "host",
    "content-type",
    "content-length",
    "transfer-encoding",
    "authorization",
    "cookie",
    "forwarded",
    "x-forwarded-for",
];

/// `server.underscore_headers`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum UnderscoreHeaders {
    /// Dropped before forwarding (nginx's default).
    #[default]
    Drop,
    Forward,
}

impl UnderscoreHeaders {
    pub fn as_str(self) -> &'static str {
        match self {
            UnderscoreHeaders::Drop => "drop",
            UnderscoreHeaders::Forward => "forward",
        }
    }
}

/// Whether a header name, in any spelling, names a host, a path or a scheme for the request.
fn claims_anything(name: &str) -> bool {
    cgi_in(name, &FORWARDED_HOST_HEADERS)
        || cgi_in(name, &FORWARDED_PATH_HEADERS)
        || cgi_in(name, &FORWARDED_SCHEME_HEADERS)
        || cgi_in(name, &FORWARDED_CLIENT_HEADERS)
}

/// Whether `name` reads as `canonical` (lowercase, `-`-separated) to CGI-style servers,
/// which lowercase names and read `_` as `-`. Allocation-free: it runs per header.
fn cgi_eq(name: &str, canonical: &str) -> bool {
    name.len() == canonical.len()
        && name
            .bytes()
            .zip(canonical.bytes())
            .all(|(a, b)| if a == b'_' { b == b'-' } else { a.to_ascii_lowercase() == b })
}

fn cgi_in(name: &str, canonical: &[&str]) -> bool {
    canonical.iter().any(|c| cgi_eq(name, c))
}

/// Whether any header, in any spelling, is a method-override header.
pub fn has_method_override(headers: &HeaderMap) -> bool {
    headers.keys().any(|name| cgi_in(name.as_str(), &METHOD_OVERRIDE_HEADERS))
}

/// SPEC §16 checks on the head that hold on every route: hop-by-hop nominations, bodies
/// where none belongs, and upgrades.
pub fn check_head(head: &RequestHead<'_>, path: &[u8], routes: &RouteTable) -> Result<(), Rejection> {
    // RFC 9112 §3.2: Go's net/http and Node answer 400 to an HTTP/1.1 request without
    // `Host`, even with an absolute-form target; the gateway reads it the same way
    if head.version == http::Version::HTTP_11 && !head.headers.contains_key(http::header::HOST) {
        return Err(Rejection::invalid_request(
            ReasonCode::InvalidHost,
            "an HTTP/1.1 request needs a Host header (RFC 9112 §3.2)",
        ));
    }
    check_connection(head.headers)?;
    // `Content-Length: 5, 5` or two of them: servers that take the list wait for a body
    // that never comes; one plain number only, on every route
    let mut lengths = head.headers.get_all(CONTENT_LENGTH).iter();
    let single =
        lengths.next().is_none_or(|value| !value.is_empty() && value.as_bytes().iter().all(u8::is_ascii_digit));
    if !single || lengths.next().is_some() {
        return Err(Rejection::invalid_request(
            ReasonCode::AmbiguousFraming,
            "the Content-Length header is not one number; send exactly one",
        ));
    }
    if !routes.allow_bodies_on_get && (head.body_follows || carries_body(head.headers)) && takes_no_body(head.method) {
        return Err(Rejection::invalid_request(
            ReasonCode::BodyNotAllowed,
            format!("a {} request carries no body here; some servers would read it as a second request", head.method),
        ));
    }
    if head.headers.contains_key(UPGRADE) && !routes.allows_upgrade(path) {
        return Err(Rejection::invalid_request(
            ReasonCode::UpgradeNotAllowed,
            "protocol upgrades are not accepted on this path; after one the gateway would see nothing more",
        ));
    }
    Ok(())
}

/// A `Connection` header that nominates a header the policy read would have it removed by
/// the next hop after the check.
fn check_connection(headers: &HeaderMap) -> Result<(), Rejection> {
    for value in headers.get_all(CONNECTION) {
        let text = String::from_utf8_lossy(value.as_bytes());
        for token in text.split(',') {
            let token = token.trim();
            let guarded = cgi_in(token, &NOMINATION_GUARDED)
                || cgi_in(token, &FORWARDED_HOST_HEADERS)
                || cgi_in(token, &METHOD_OVERRIDE_HEADERS);
            if guarded {
                return Err(Rejection::invalid_request(
                    ReasonCode::HopByHopHeader,
                    format!(
                        "the Connection header nominates `{token}` for removal; send `Connection: keep-alive` or `close` only"
                    ),
                ));
            }
        }
    }
    Ok(())
}

fn carries_body(headers: &HeaderMap) -> bool {
    let declared = headers.get_all(CONTENT_LENGTH).iter().any(|value| value.as_bytes().iter().any(|b| *b != b'0'));
    declared || headers.contains_key(TRANSFER_ENCODING)
}

fn takes_no_body(method: &str) -> bool {
    [Method::GET, Method::HEAD, Method::DELETE, Method::OPTIONS, Method::TRACE]
        .iter()
        .any(|m| m.as_str().eq_ignore_ascii_case(method))
}

/// One change to the forwarded request head.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HeaderEdit {
    Remove(HeaderName),
    /// A header the gateway states, in the spelling it is sent with (a static name costs
    /// the proxy no allocation to spell).
    Set(&'static str, HeaderValue),
}

/// Who the gateway forwards for: what the upstream must read instead of what the client
/// claimed.
#[derive(Debug, Clone, Copy)]
pub struct Forwarding<'a> {
    /// The authority the policy routed by (SPEC §2), as the client sent it (port
    /// included), `None` when the request named none.
    pub host: Option<&'a str>,
    pub client_ip: Option<IpAddr>,
    /// `http` or `https`: the scheme of the listener.
    pub proto: &'static str,
    pub underscore_headers: UnderscoreHeaders,
}

/// SPEC §16 "Host" and "Methods": drops header names with `_` and every client-sent
/// forwarded host or rewritten path, and states the host, client and scheme the gateway saw.
///
/// It runs on every forwarded request (issue 14): each value is written once into a buffer
/// sized for it, with no intermediate strings.
pub fn forwarding_edits(headers: &HeaderMap, forwarding: &Forwarding<'_>) -> Vec<HeaderEdit> {
    let mut edits = Vec::with_capacity(4);
    for name in headers.keys() {
        let name_text = name.as_str();
        // in `forward` mode, an underscore spelling of a header the policy reads or the
        // gateway sets still goes: Puma, CGI mappers fold it onto the real one
        let underscore = name_text.contains('_')
            && (forwarding.underscore_headers == UnderscoreHeaders::Drop
                || cgi_in(name_text, &NOMINATION_GUARDED)
                || cgi_in(name_text, &METHOD_OVERRIDE_HEADERS)
                || cgi_in(name_text, &["x-forwarded-proto", "x-forwarded-port", "x-real-ip"]));
        // every client-sent host or path claim goes, in any spelling; ours is set below
        if underscore || claims_anything(name_text) {
            edits.push(HeaderEdit::Remove(name.clone()));
        }
    }
    match forwarding.host.map(HeaderValue::from_str) {
        Some(Ok(host)) => edits.push(HeaderEdit::Set("X-Forwarded-Host", host)),
        Some(Err(_)) => {}
        None => edits.push(HeaderEdit::Remove(HeaderName::from_static("x-forwarded-host"))),
    }
    edits.push(HeaderEdit::Set("X-Forwarded-Proto", HeaderValue::from_static(forwarding.proto)));
    // the address is written once, for both headers that state it
    let ip = forwarding.client_ip.map(|ip| (ip, ip.to_string()));
    if let Some((_, ip)) = &ip {
        // the client's chain, then our hop; a chain that is not visible ASCII is dropped,
        // never passed on without our hop
        let mut chain = String::new();
        for earlier in headers.get_all("x-forwarded-for").iter().filter_map(|v| v.to_str().ok()).map(str::trim) {
            if !earlier.is_empty() {
                chain.push_str(earlier);
                chain.push_str(", ");
            }
        }
        let value = if chain.is_empty() {
            HeaderValue::from_str(ip)
        } else {
            chain.push_str(ip);
            HeaderValue::from_str(&chain).or_else(|_| HeaderValue::from_str(ip))
        };
        if let Ok(value) = value {
            edits.push(HeaderEdit::Set("X-Forwarded-For", value));
        }
    }
    let ip = ip.as_ref().map(|(ip, text)| (ip.is_ipv6(), text.as_str()));
    if let Ok(value) = HeaderValue::from_str(&forwarded_value(ip, forwarding.host, forwarding.proto)) {
        edits.push(HeaderEdit::Set("Forwarded", value));
    }
    edits
}

/// The gateway's own `Forwarded` element (RFC 7239), replacing whatever the client sent:
/// readers that search the whole header for `host=` (Spring's `ForwardedHeaderUtils`,
/// Vert.x, Reactor Netty) would find one inside a client parameter such as `xhost=`, so
/// no client element is kept (the client chain is in `X-Forwarded-For`).
fn forwarded_value(ip: Option<(bool, &str)>, host: Option<&str>, proto: &str) -> String {
    let mut own = String::with_capacity(64);
    match ip {
        Some((true, ip)) => {
            own.push_str("for=\"[");
            own.push_str(ip);
            own.push_str("]\";");
        }
        Some((false, ip)) => {
            own.push_str("for=");
            own.push_str(ip);
            own.push(';');
        }
        None => {}
    }
    if let Some(host) = host {
        // RFC 7239: a value with `:` or `[` is a quoted-string
        let quoted = host.contains([':', '[']);
        own.push_str(if quoted { "host=\"" } else { "host=" });
        own.push_str(host);
        own.push_str(if quoted { "\";" } else { ";" });
    }
    own.push_str("proto=");
    own.push_str(proto);
    own
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(HeaderName::from_bytes(name.as_bytes()).unwrap(), value.parse().unwrap());
        }
        map
    }

    fn check(method: &str, pairs: &[(&str, &str)]) -> Result<(), ReasonCode> {
        check_as(http::Version::HTTP_11, method, &[&[("host", "t.test")], pairs].concat())
    }

    fn check_as(version: http::Version, method: &str, pairs: &[(&str, &str)]) -> Result<(), ReasonCode> {
        let headers = headers(pairs);
        let head =
            RequestHead { method, target: b"/x", authority: None, headers: &headers, version, body_follows: false };
        check_head(&head, b"/x", &RouteTable::default()).map_err(|r| r.reason)
    }

    #[test]
    fn an_http_1_1_request_names_its_host() {
        use http::Version;
        assert_eq!(check_as(Version::HTTP_11, "GET", &[]), Err(ReasonCode::InvalidHost));
        assert_eq!(check_as(Version::HTTP_11, "GET", &[("host", "t.test")]), Ok(()));
        // HTTP/1.0 may leave it out; HTTP/2 names it in `:authority`
        assert_eq!(check_as(Version::HTTP_10, "GET", &[]), Ok(()));
        assert_eq!(check_as(Version::HTTP_2, "GET", &[]), Ok(()));
    }

    #[test]
    fn head_rules() {
        use ReasonCode::*;
        assert_eq!(check("POST", &[("connection", "keep-alive")]), Ok(()));
        assert_eq!(check("POST", &[("connection", "keep-alive, Content-Type")]), Err(HopByHopHeader));
        assert_eq!(check("POST", &[("connection", "X_Forwarded_Host")]), Err(HopByHopHeader));
        assert_eq!(check("POST", &[("connection", "close"), ("connection", "authorization")]), Err(HopByHopHeader));
        assert_eq!(check("GET", &[("content-length", "0")]), Ok(()));
        assert_eq!(check("GET", &[("content-length", "5")]), Err(BodyNotAllowed));
        assert_eq!(check("delete", &[("transfer-encoding", "chunked")]), Err(BodyNotAllowed));
        assert_eq!(check("POST", &[("content-length", "5")]), Ok(()));
        assert_eq!(check("POST", &[("content-length", "5, 5")]), Err(AmbiguousFraming));
        assert_eq!(check("POST", &[("content-length", "5"), ("content-length", "5")]), Err(AmbiguousFraming));
        // HTTP/2: DATA frames without any length header (review finding)
        let empty = HeaderMap::new();
        let h2_get = RequestHead {
            method: "GET",
            target: b"/x",
            authority: None,
            headers: &empty,
            version: http::Version::HTTP_2,
            body_follows: true,
        };
        assert_eq!(check_head(&h2_get, b"/x", &RouteTable::default()).map_err(|r| r.reason), Err(BodyNotAllowed));
        assert_eq!(check("GET", &[("upgrade", "websocket"), ("connection", "upgrade")]), Err(UpgradeNotAllowed));
        assert!(has_method_override(&headers(&[("x_http_method_override", "PATCH")])));
        assert!(has_method_override(&headers(&[("X-Method-Override", "PATCH")])));
        assert!(!has_method_override(&headers(&[("x-http-methods", "PATCH")])));
    }

    #[test]
    fn forwarding_replaces_client_claims() {
        let sent = headers(&[
            ("x-forwarded-host", "other.test"),
            ("x_forwarded_host", "other.test"),
            ("x-original-host", "other.test"),
            ("forwarded", "for=1.2.3.4;xhost=other.test, by=x"),
            ("x-rewrite-url", "/oidc/register"),
            ("x-forwarded-ssl", "on"),
            ("X_Original_URL", "/oidc/register"),
            ("x-forwarded-for", "1.2.3.4"),
            ("x_custom", "1"),
            ("x-real-ip", "1.2.3.4"),
            ("True-Client-IP", "1.2.3.4"),
        ]);
        let forwarding = Forwarding {
            host: Some("acme.test"),
            client_ip: Some("127.0.0.1".parse().unwrap()),
            proto: "http",
            underscore_headers: UnderscoreHeaders::Drop,
        };
        let edits = forwarding_edits(&sent, &forwarding);
        let removed: Vec<&str> =
            edits.iter().filter_map(|e| if let HeaderEdit::Remove(n) = e { Some(n.as_str()) } else { None }).collect();
        let set: Vec<(&str, &str)> = edits
            .iter()
            .filter_map(|e| if let HeaderEdit::Set(n, v) = e { Some((*n, v.to_str().unwrap())) } else { None })
            .collect();
        assert!(removed.contains(&"x_forwarded_host") && removed.contains(&"x_custom"), "{removed:?}");
        assert!(removed.contains(&"x-original-host"), "{removed:?}");
        assert!(removed.contains(&"x-rewrite-url") && removed.contains(&"x_original_url"), "{removed:?}");
        assert!(removed.contains(&"x-forwarded-ssl"), "{removed:?}");
        assert!(removed.contains(&"x-real-ip") && removed.contains(&"true-client-ip"), "{removed:?}");
        assert!(set.contains(&("X-Forwarded-Host", "acme.test")), "{set:?}");
        assert!(set.contains(&("X-Forwarded-Proto", "http")), "{set:?}");
        assert!(set.contains(&("X-Forwarded-For", "1.2.3.4, 127.0.0.1")), "{set:?}");
        assert!(set.contains(&("Forwarded", "for=127.0.0.1;host=acme.test;proto=http")), "{set:?}");
    }
}
