//! Creation capture (SPEC §4, §12): the answer to a creation the gateway forwarded is read
//! as it streams back, and the new client's ownership and mode are remembered.
//!
//! The answer's body is held back until the new client's write is submitted and (up to
//! `registry::WRITE_WAIT`) acknowledged: a caller cannot hold the id, even from an answer
//! cut short or a chunked one read as it streams, before the store has it, unless the
//! store is failing (SPEC §12: the answer then goes without waiting). The upstream is
//! asked for an unencoded answer, so the body can be read.

use bytes::Bytes;
use pingora::http::ResponseHeader;
use pingora::proxy::Session;

use super::{Ctx, Gateway, head_deadline};
use crate::policy::{ClientState, Creation, RouteId};
use crate::registry::Origin;

/// Largest creation answer read to learn the new client's id and mode.
const MAX_CAPTURE_BYTES: usize = 256 * 1024;

/// A forwarded creation whose answer is read.
pub struct Capture {
    creation: Creation,
    body: Vec<u8>,
    reading: bool,
}

impl Capture {
    pub fn new(creation: Creation) -> Self {
        Capture { creation, body: Vec::new(), reading: false }
    }
}

/// The upstream's answer head: only a 200/201 answer tells of a created client, and only
/// an unencoded one can be read (the request asked for `identity`, see `proxy`).
pub fn on_answer(ctx: &mut Ctx, answer: &ResponseHeader) {
    let Some(capture) = &mut ctx.capture else { return };
    let status = answer.status.as_u16();
    capture.reading = status == 200 || status == 201;
    let encoding = answer.headers.get(http::header::CONTENT_ENCODING).map(|v| v.as_bytes());
    if capture.reading && encoding.is_some_and(|e| !e.eq_ignore_ascii_case(b"identity")) {
        capture.reading = false;
        not_remembered("the answer is content-encoded although `identity` was asked");
    }
}

/// A creation the upstream answered but the gateway cannot remember: logged and counted.
fn not_remembered(why: &str) {
    log::warn!("client registry: a creation's answer cannot be read ({why}); the new client is not remembered");
    crate::telemetry::metrics().registry_writes.with_label_values(&["unreadable"]).inc();
}

/// The upstream failed before a readable answer head, after it may have had the creation (an
/// answer that cannot be parsed, a timeout; not a connection that never opened): whether
/// it made a client is unknown, so it is counted as a client not remembered.
pub fn on_upstream_failure(ctx: &Ctx, error: &pingora::Error) {
    use pingora::ErrorType::*;
    let never_sent = matches!(
        error.etype(),
        ConnectRefused
            | ConnectTimedout
            | ConnectNoRoute
            | ConnectError
            | ConnectProxyFailure
            | BindError
            | TLSHandshakeFailure
            | TLSHandshakeTimedout
    );
    // an informational (1xx) head went through the filter too: it is not the answer
    let no_final_head = ctx.upstream_status.is_none_or(|status| status < 200);
    if ctx.capture.is_some() && no_final_head && !never_sent {
        not_remembered("the upstream's answer has no readable head");
    }
}

/// The request ended (`error`: how, when it failed): a 200/201 creation answer whose body
/// was never read whole left its client unremembered, and is counted as such.
pub fn on_end(ctx: &Ctx, error: Option<&pingora::Error>) {
    let Some(capture) = ctx.capture.as_ref() else { return };
    if !capture.reading {
        // no 200/201 answer was read: an upstream that failed before a readable head may
        // still have made the client (counted); a caller that left before the upstream
        // answered is a guard, not expected (HTTP/1 reads the answer on, see
        // `head_deadline::answer_owed`; HTTP/2 exchanges creations apart, `h2_creation`)
        match error {
            Some(e) if e.esource() == &pingora::ErrorSource::Upstream => on_upstream_failure(ctx, e),
            Some(e) if ctx.upstream_status.is_none() && e.esource() == &pingora::ErrorSource::Downstream => {
                not_remembered("the caller went away before the upstream answered")
            }
            _ => {}
        }
        return;
    }
    not_remembered(match error {
        // a guard: the caller's leaving is hidden from Pingora (HTTP/1) or never seen (HTTP/2)
        Some(e) if e.esource() == &pingora::ErrorSource::Downstream => "the caller went away before it was whole",
        Some(_) => "it was cut short",
        None if capture.body.is_empty() => "it has no body",
        None => "it ended without a whole body",
    });
}

impl Gateway {
    /// A chunk of the upstream's answer, held back while the answer is read; at its end,
    /// the new client is remembered and the whole body goes out. The upstream is HTTP/1,
    /// whose answers end with a body chunk marked as the last.
    pub(super) fn capture_chunk(
        &self,
        session: &Session,
        ctx: &mut Ctx,
        body: &mut Option<Bytes>,
        end_of_stream: bool,
    ) {
        let Some(capture) = ctx.capture.as_mut().filter(|c| c.reading) else { return };
        if let Some(chunk) = body.take()
            && !capture.add(&chunk)
        {
            // too large to be a client: what was held back goes out now, unread
            let mut held = capture.take_body();
            held.extend_from_slice(&chunk);
            *body = Some(Bytes::from(held));
            return;
        }
        if end_of_stream {
            self.remember_created(session, ctx);
            if let Some(capture) = ctx.capture.as_mut() {
                *body = Some(Bytes::from(capture.take_body()));
            }
        }
    }

    /// Reads a creation's answer to remember the new client (SPEC §4 clients_update cache).
    /// The answer goes out once the registry has the client (or after its bounded wait):
    /// on HTTP/1 the connection holds its writes meanwhile and the thread serves other
    /// requests. HTTP/2 creations do not come here (`proxy::h2_creation` awaits the write);
    /// a connection without the wrapper would wait on its thread, a guard never reached.
    fn remember_created(&self, session: &Session, ctx: &Ctx) {
        let (Some(capture), Some(tenant)) = (&ctx.capture, &ctx.tenant) else { return };
        let Some((client_id, state, origin)) = capture.new_client() else { return };
        match head_deadline::of(session.as_downstream().stream()) {
            Some(connection) => {
                if let Some(stored) = self.clients.remember_then_wait(tenant, &client_id, state, origin) {
                    connection.hold_writes(stored);
                }
            }
            None => self.clients.remember(tenant, &client_id, state, origin),
        }
    }
}

impl Capture {
    /// The client the answer read whole tells of: its id, its state and how it came; `None`
    /// (logged and counted) when the answer cannot say.
    pub fn new_client(&self) -> Option<(String, ClientState, Origin)> {
        let Ok(document) = serde_json::from_slice::<serde_json::Value>(&self.body) else {
            not_remembered("not JSON");
            return None;
        };
        let Some(client_id) = document.get("client_id").and_then(|v| v.as_str()) else {
            not_remembered("no `client_id` string");
            return None;
        };
        if !crate::registry::Entry::storable_id(client_id) {
            not_remembered("a `client_id` that is empty, over 256 bytes or holds control characters");
            return None;
        }
        // what the gateway sent: DCR clients and clients with a mode are third-party
        let Creation { route, effective_mode } = self.creation;
        let third_party = route == RouteId::DcrRegister || effective_mode.is_some();
        let sent = ClientState { is_first_party: !third_party, mode: effective_mode };
        let origin = if route == RouteId::DcrRegister { Origin::Dcr } else { Origin::Created };
        Some((client_id.to_owned(), ClientState::from_creation(&document, sent), origin))
    }

    /// Whether the answer is being read (a 200/201 the gateway can read).
    pub fn is_reading(&self) -> bool {
        self.reading
    }

    /// Adds a chunk of the answer; `false` (counted as not remembered) once the answer is
    /// too large to be a client, and it is no longer read.
    pub fn add(&mut self, chunk: &[u8]) -> bool {
        if self.body.len() + chunk.len() > MAX_CAPTURE_BYTES {
            self.reading = false;
            not_remembered("larger than 256 KiB");
            return false;
        }
        self.body.extend_from_slice(chunk);
        true
    }

    /// The answer read so far, taken; it is no longer read.
    pub fn take_body(&mut self) -> Vec<u8> {
        self.reading = false;
        std::mem::take(&mut self.body)
    }

    /// The answer failed before its end: its client is not remembered (counted here, once).
    pub fn cut_short(&mut self) {
        if self.reading {
            self.reading = false;
            not_remembered("it was cut short");
        }
    }
}

impl Gateway {
    /// SPEC §12: a 2xx answer to `DELETE /api/v2/clients/{id}` removes the client's entry.
    pub(super) async fn forget_deleted(&self, session: &Session, ctx: &Ctx) {
        let header = session.req_header();
        if header.method != http::Method::DELETE {
            return;
        }
        let head = super::convert::request_head(header, false);
        let (Some(client_id), Some(host), Some(state)) = (
            head.path().and_then(crate::policy::route::client_id),
            ctx.pipeline.as_ref().and_then(|p| p.host()),
            &ctx.state,
        ) else {
            return;
        };
        if let Ok(Some(tenant)) = state.tenants.tenant_for_host(host).await {
            self.clients.forget(&tenant.policy.id, &client_id).await;
        }
    }
}
