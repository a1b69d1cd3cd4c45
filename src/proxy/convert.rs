//! The one file in both worlds: Pingora's request head and session as the facts the
//! policy reads.

use pingora::http::RequestHeader;
use pingora::prelude::HttpPeer;
use pingora::proxy::Session;
use time::OffsetDateTime;

use super::Ctx;
use crate::config::Upstream;
use crate::policy::RequestHead;
use crate::policy::hardening::{Forwarding, HeaderEdit};

/// The policy's view of a Pingora request head: the raw target, as it will be forwarded.
/// `body_follows`: what the session's framing says (`Session::is_body_empty`, which needs
/// the session mutably, so the caller asks it first).
pub fn request_head(header: &RequestHeader, body_follows: bool) -> RequestHead<'_> {
    RequestHead {
        method: header.method.as_str(),
        target: header.raw_path(),
        authority: header.uri.authority().map(|a| a.as_str()),
        headers: &header.headers,
        version: header.version,
        body_follows,
    }
}

/// Applies the policy's forwarding edits (SPEC §16) to the head sent upstream.
pub fn apply_edits(upstream: &mut RequestHeader, edits: Vec<HeaderEdit>) -> pingora::Result<()> {
    for edit in edits {
        match edit {
            HeaderEdit::Remove(name) => {
                upstream.remove_header(&name);
            }
            HeaderEdit::Set(name, value) => upstream.insert_header(name, value)?,
        }
    }
    Ok(())
}

/// Today (UTC), for the date rules: whole days since the epoch, which costs every request
/// one clock read and no calendar arithmetic beyond the day number.
pub fn today() -> time::Date {
    const UNIX_EPOCH_JULIAN_DAY: i64 = 2_440_588;
    let days = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs() / 86_400);
    i32::try_from(UNIX_EPOCH_JULIAN_DAY + days as i64)
        .ok()
        .and_then(|day| time::Date::from_julian_day(day).ok())
        .unwrap_or_else(|| OffsetDateTime::now_utc().date())
}

/// `Expect: 100-continue`: the client waits for an interim answer before sending the body.
pub fn expects_continue(header: &RequestHeader) -> bool {
    header
        .headers
        .get(http::header::EXPECT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("100-continue"))
}

/// SPEC §16: what the forwarded head states of the request: the routed host, the client's
/// address, the listener's scheme.
pub fn forwarding<'a>(session: &'a Session, ctx: &'a Ctx) -> Forwarding<'a> {
    Forwarding {
        // the authority routed by, port kept: absolute-form target first, else `Host`, else
        // (an absolute-form target Pingora keeps only in its raw bytes) the host routed by
        host: ctx.pipeline.as_ref().and_then(|p| p.host()).map(|routed| {
            let header = session.req_header();
            let authority = header.uri.authority().map(|a| a.as_str());
            authority
                .or_else(|| header.headers.get(http::header::HOST).and_then(|v| v.to_str().ok()))
                .map_or(routed, str::trim)
        }),
        client_ip: session.client_addr().and_then(|a| a.as_inet()).map(|a| a.ip()),
        proto: if session.digest().is_some_and(|d| d.ssl_digest.is_some()) { "https" } else { "http" },
        underscore_headers: ctx.config.as_ref().map_or_else(Default::default, |c| c.server.underscore_headers),
    }
}

/// The upstream peer: a resolved address (`HttpPeer::new` would otherwise resolve DNS on
/// every request), and as SNI and verified name the configured one, else the tenant host.
pub fn peer(upstream: &Upstream, ctx: &Ctx) -> HttpPeer {
    let sni = if upstream.sni.is_empty() {
        ctx.pipeline.as_ref().and_then(|p| p.host()).unwrap_or_default().to_owned()
    } else {
        upstream.sni.clone()
    };
    let mut peer = HttpPeer::new(upstream.address, upstream.tls, sni);
    peer.options.connection_timeout = Some(upstream.connect_timeout);
    peer.options.read_timeout = Some(upstream.read_timeout);
    peer.options.write_timeout = Some(upstream.read_timeout);
    peer
}

/// Drops the answer fields an HTTP/2 caller refuses the stream for (nghttp2, and so curl):
/// `Content-Length` on a 204 (RFC 9110 §8.6 forbids it) and `TE` (a request field,
/// connection-specific in HTTP/2). Every route, whatever the caller speaks.
pub fn drop_malformed_answer_fields(answer: &mut pingora::http::ResponseHeader) {
    if answer.status == http::StatusCode::NO_CONTENT {
        answer.remove_header(&http::header::CONTENT_LENGTH);
    }
    if answer.headers.contains_key(http::header::TE) {
        answer.remove_header(&http::header::TE);
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn today_is_the_calendar_date_in_utc() {
        let calendar = time::OffsetDateTime::now_utc().date();
        let today = super::today();
        // equal, or a midnight passed between the two clock reads
        assert!(today == calendar || today == calendar.next_day().unwrap_or(calendar), "{today} vs {calendar}");
    }
}
