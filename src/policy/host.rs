//! Tenant host resolution (SPEC §2): the authority of an absolute-form target, else the
//! one `Host` header, lowercased, without port or trailing dot.

use http::HeaderMap;

use super::{ReasonCode, Rejection};

/// The host the request names, or `None` when it names none. Ambiguity is a 400 on every
/// route: two hosts are two tenants, and the upstream might pick the other one.
/// `target_authority` is the authority of an absolute-form target (HTTP/1) or the
/// `:authority` (HTTP/2).
pub fn request_host(target_authority: Option<&str>, headers: &HeaderMap) -> Result<Option<String>, Rejection> {
    let mut host_headers = headers.get_all(http::header::HOST).iter();
    let host_header = host_headers.next();
    if host_headers.next().is_some() {
        return Err(Rejection::invalid_request(
            ReasonCode::AmbiguousHost,
            "the request has more than one Host header; send exactly one",
        ));
    }
    let from_header = match host_header {
        Some(value) => {
            let text = value.to_str().map_err(|_| invalid_host())?;
            Some(normalise_host(text).ok_or_else(invalid_host)?)
        }
        None => None,
    };
    let from_target = match target_authority {
        Some(authority) => Some(normalise_host(authority).ok_or_else(invalid_host)?),
        None => None,
    };
    match (from_target, from_header) {
        (Some(target), Some(header)) if target != header => Err(Rejection::invalid_request(
            ReasonCode::AmbiguousHost,
            "the Host header names another host than the request target; send one host",
        )),
        (Some(target), _) => Ok(Some(target)),
        (None, header) => Ok(header),
    }
}

fn invalid_host() -> Rejection {
    Rejection::invalid_request(ReasonCode::InvalidHost, "the request's host is not a valid host name")
}

/// Lowercases a `host[:port]` authority and drops the port and a trailing dot. `None` for
/// anything that is not a plain host: user info, empty names, stray characters.
pub fn normalise_host(authority: &str) -> Option<String> {
    let authority = authority.trim();
    if authority.is_empty() || authority.contains('@') {
        return None;
    }
    let host = if let Some(rest) = authority.strip_prefix('[') {
        // IPv6 literal: keep the brackets, drop the port
        let end = rest.find(']')?;
        let (literal, after) = rest.split_at(end);
        let after = after.strip_prefix(']')?;
        if !(after.is_empty() || port_ok(after.strip_prefix(':')?)) {
            return None;
        }
        if !literal.chars().all(|c| c.is_ascii_hexdigit() || c == ':' || c == '.') {
            return None;
        }
        format!("[{literal}]")
    } else {
        let (name, port) = match authority.rsplit_once(':') {
            Some((name, port)) => (name, Some(port)),
            None => (authority, None),
        };
        if port.is_some_and(|port| !port_ok(port)) {
            return None;
        }
        let name = name.strip_suffix('.').unwrap_or(name);
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.' || c == '_') {
            return None;
        }
        name.to_owned()
    };
    Some(host.to_ascii_lowercase())
}

fn port_ok(port: &str) -> bool {
    port.is_empty() || (port.len() <= 5 && port.bytes().all(|b| b.is_ascii_digit()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalises_hosts() {
        for (given, expected) in [
            ("ACME.example.test", Some("acme.example.test")),
            ("acme.example.test:8080", Some("acme.example.test")),
            ("acme.example.test.", Some("acme.example.test")),
            ("acme.example.test.:443", Some("acme.example.test")),
            ("[::1]:8080", Some("[::1]")),
            ("127.0.0.1", Some("127.0.0.1")),
            ("user@acme.example.test", None),
            ("", None),
            ("acme example", None),
            ("acme.test:80x", None),
            ("[::1", None),
        ] {
            assert_eq!(normalise_host(given).as_deref(), expected, "host {given:?}");
        }
    }

    fn headers(hosts: &[&str]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for host in hosts {
            map.append(http::header::HOST, host.parse().unwrap());
        }
        map
    }

    #[test]
    fn resolves_host_header_and_absolute_targets() {
        let origin = None;
        let absolute = Some("Acme.Example.Test:80");
        let host = |target, hosts: &[&str]| request_host(target, &headers(hosts));
        assert_eq!(host(origin, &["acme.example.test"]).unwrap().as_deref(), Some("acme.example.test"));
        assert_eq!(host(origin, &[]).unwrap(), None);
        assert_eq!(host(absolute, &[]).unwrap().as_deref(), Some("acme.example.test"));
        assert_eq!(host(absolute, &["acme.example.test"]).unwrap().as_deref(), Some("acme.example.test"));
        // ambiguity is refused
        assert_eq!(host(origin, &["a.test", "b.test"]).unwrap_err().reason, ReasonCode::AmbiguousHost);
        assert_eq!(host(absolute, &["other.test"]).unwrap_err().reason, ReasonCode::AmbiguousHost);
        assert_eq!(host(origin, &["a@b.test"]).unwrap_err().reason, ReasonCode::InvalidHost);
        assert!(host(Some(""), &[]).is_err());
    }
}
