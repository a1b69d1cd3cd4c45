//! `POST /api/v2/client-grants` (SPEC §4 client_grants_create): default API permissions.

use serde_json::Value;

use super::Facts;
use crate::policy::body::JsonObject;
use crate::policy::strict_profile::wrong_type;
use crate::policy::{Decision, ReasonCode, Rejection};

pub fn decide(body: &JsonObject, facts: &Facts<'_>) -> Decision {
    match check(body, facts) {
        Ok(()) => Decision::forward(ReasonCode::GrantAllowed),
        Err(rejection) => Decision::reject(rejection),
    }
}

fn check(body: &JsonObject, facts: &Facts<'_>) -> Result<(), Rejection> {
    let Some(default_for) = body.get("default_for") else { return Ok(()) };
    if default_for.as_str() != Some("third_party_clients") {
        let mut rejection = wrong_type("default_for", "the string `third_party_clients`", default_for);
        rejection.reason = ReasonCode::InvalidDefaultFor;
        if default_for.is_string() {
            rejection.message = "`default_for` must be `third_party_clients`".to_owned();
        }
        return Err(rejection);
    }
    if body.get("client_id").is_some() {
        return Err(Rejection::invalid_body(
            ReasonCode::DefaultGrantWithClientId,
            "a grant carries either `client_id` or `default_for`, not both; remove `client_id` for a default grant",
        ));
    }
    match body.get("audience") {
        None => Ok(()),
        Some(Value::String(audience))
            if audience.chars().any(|c| c.is_whitespace() || c.is_control() || c == '?' || c == '#') =>
        {
            Err(Rejection::invalid_body(
                ReasonCode::AmbiguousAudience,
                "`audience` contains white space, a query or a fragment, which servers compare differently; send the API identifier alone",
            ))
        }
        Some(Value::String(audience)) if is_management_api(audience, facts) => Err(Rejection::invalid_body(
            ReasonCode::DefaultGrantManagementApi,
            "default API permissions cannot target the Management API; choose one of your own APIs",
        )),
        Some(Value::String(_)) => Ok(()),
        Some(other) => Err(wrong_type("audience", "a string", other)),
    }
}

/// The tenant's Management API under any of its names: the configured audience and
/// `https://{host}/api/v2/` for every host of the tenant, compared as [`api_key`] reads them.
fn is_management_api(audience: &str, facts: &Facts<'_>) -> bool {
    let audience = api_key(audience);
    let configured = api_key(&facts.tenant.management_audience);
    audience == configured
        || facts.tenant.hosts.iter().any(|host| audience == api_key(&format!("https://{host}/api/v2/")))
}

/// SPEC §16 "Audiences": an API identifier as the most lenient server could match it.
/// URLs are parsed (WHATWG: scheme and host case, IDNA, dot segments), then compared by
/// host and path only: the scheme, the port, user info, a trailing dot on the host,
/// percent-encoded unreserved characters, letter case and trailing `/` all ignored.
/// Anything that is not a URL with a host is compared case-insensitively as text.
fn api_key(audience: &str) -> String {
    let Ok(url) = url::Url::parse(audience) else { return audience.trim_end_matches('/').to_lowercase() };
    let Some(host) = url.host_str() else { return audience.trim_end_matches('/').to_lowercase() };
    let host = host.trim_end_matches('.').to_lowercase();
    let path = decode_unreserved(url.path()).to_lowercase();
    format!("{host}{}", path.trim_end_matches('/'))
}

/// Decodes `%XX` escapes of RFC 3986 unreserved characters, which servers may or may not
/// decode before comparing.
fn decode_unreserved(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    let mut rest = path;
    while let Some(at) = rest.find('%') {
        let (before, after) = rest.split_at(at);
        out.push_str(before);
        let decoded = after
            .get(1..3)
            .and_then(|hex| u8::from_str_radix(hex, 16).ok())
            .filter(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'));
        match decoded {
            Some(byte) => {
                out.push(char::from(byte));
                rest = after.get(3..).unwrap_or_default();
            }
            None => {
                out.push('%');
                rest = after.get(1..).unwrap_or_default();
            }
        }
    }
    out.push_str(rest);
    // a decoded `.` may form a dot segment: let the URL parser resolve it once more
    match url::Url::parse(&format!("http://h{out}")) {
        Ok(url) if out.contains('.') => url.path().to_owned(),
        _ => out,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn management_api_under_every_spelling() {
        let key = api_key("https://acme.example.test/api/v2/");
        for spelling in [
            "https://acme.example.test/api/v2/",
            "https://acme.example.test/api/v2",
            "HTTPS://ACME.example.test/API/V2/",
            "https://acme.example.test:443/api/v2/",
            "https://acme.example.test./api/v2/",
            "http://acme.example.test:80/api/v2/",
            "https://acme.example.test/%61pi/v2/",
            "https://acme.example.test/x/../api/v2/",
            "https://acme.example.test/api/%2e/v2/",
            "https://user@acme.example.test/api/v2/",
            "https://\u{FF41}cme.example.test/api/v2/",
        ] {
            assert_eq!(api_key(spelling), key, "{spelling}");
        }
        assert_ne!(api_key("https://api.acme.test/"), key);
        assert_ne!(api_key("https://acme.example.test/api/v3/"), key);
    }
}
