//! A creation that arrived over HTTP/2, exchanged with the upstream by the gateway itself.
//!
//! Pingora's proxy loop watches an HTTP/2 caller while it reads the upstream's answer: a
//! caller that resets its stream (or drops its connection) ends the loop, the answer is
//! never read, and a client the upstream made goes unremembered (SPEC §12: the gateway
//! never forgets a client it saw created). HTTP/1 hides the caller's leaving in the
//! connection's stream wrapper (`head_deadline::answer_owed`); an HTTP/2 stream has no
//! such wrapper. So once an HTTP/2 creation is decided (its body read whole), the gateway
//! sends it upstream itself (on the connections of its side requests,
//! `upstream::SideClient`), reads the answer whole without looking at the caller,
//! remembers the new client (awaiting the store: no thread waits), and only then writes
//! the answer to the caller, if it is still there.
//!
//! The request is the one Pingora would send: the same head, HTTP/1.1 with `Host` from the
//! `:authority`, the hop-by-hop fields dropped, through the same `upstream_request_filter`;
//! the answer's head passes the same `upstream_response_filter`. Like Pingora's path for a
//! `POST`, nothing is retried. The exchange has an overall deadline (the upstream's connect
//! plus read timeouts), and at most `server.h2_creations_in_flight` (512) run at once (past
//! it, 429 before the upstream is asked): a stream its caller reset no longer counts
//! against its connection's stream limit, so the gateway bounds the work it keeps for it.
//! The bound covers the exchange and the store, not the answer's write to a caller that
//! reads slowly (a live stream, which its connection's limit bounds). An upstream
//! that fails is answered as SPEC §11 says (502, 504), within the answer's body too, since
//! nothing was written yet.

use pingora::http::RequestHeader;
use pingora::prelude::*;
use pingora::proxy::{ProxyHttp, Session};
use tokio::time::{Instant, timeout_at};

use super::{Ctx, Gateway, convert, respond};
use crate::policy::{ErrorCode, ReasonCode, Record, Rejection};

/// What Pingora strips from a request it sends to an HTTP/1 upstream (its default
/// `HttpUpstreamRequestPolicy`); HTTP/2 already refuses most of them from the caller.
const HOP_BY_HOP: [&str; 10] = [
    "keep-alive",
    "proxy-connection",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "connection",
    "upgrade",
    "http2-settings",
];

impl Gateway {
    /// Exchanges the decided creation in `ctx` with the upstream and answers the caller;
    /// `Ok(true)`: the request was answered (or its caller is gone).
    pub(super) async fn exchange_h2_creation(&self, session: &mut Session, ctx: &mut Ctx) -> Result<bool> {
        let Some(config) = ctx.config.clone() else { return Error::e_explain(InternalError, "no configuration") };
        let Ok(in_flight) = self.h2_creations.try_acquire() else {
            // refused before the upstream has it: nothing is lost, and the caller may retry
            let rejection = Rejection {
                retry_after: Some(1),
                ..Rejection::new(
                    429,
                    ErrorCode::TooManyRequests,
                    ReasonCode::CreationsInFlight,
                    "too many creations in flight; retry later",
                )
            };
            ctx.record = Some(Record::of_error(&rejection));
            if let Err(e) = respond::reject(session, &rejection, ctx.api, false).await {
                log::debug!("a refused creation's caller is gone: {e}");
            }
            return Ok(true);
        };
        let deadline = Instant::now() + config.upstream.connect_timeout + config.upstream.read_timeout;
        let peer = convert::peer(&config.upstream, ctx);
        let head = self.upstream_head(session, ctx).await?;
        let body = ctx.upstream_body.clone().unwrap_or_default();
        let answering = match in_time(deadline, self.upstream.forward(&peer, head, body)).await {
            Ok(answering) => answering,
            Err(e) => {
                super::capture::on_upstream_failure(ctx, &e);
                // the upstream's part is over: a caller that reads slowly holds no permit
                drop(in_flight);
                return self.failed(session, e, ctx).await;
            }
        };
        // the answer's head, as Pingora's path filters it (metrics, whether the capture can
        // read it, the upstream status the decision record keeps)
        let mut answer = answering.answer().clone();
        ProxyHttp::upstream_response_filter(self, session, &mut answer, ctx).await?;
        let body = match in_time(deadline, answering.read_whole(&self.upstream, &peer)).await {
            Ok(body) => body,
            Err(e) => {
                if let Some(capture) = ctx.capture.as_mut() {
                    capture.cut_short();
                }
                drop(in_flight);
                return self.failed(session, e, ctx).await;
            }
        };
        self.remember_from(ctx, &body).await;
        drop(in_flight);
        // the client is remembered: the caller may be gone now, and nothing is lost. The
        // body goes out whole, framed by its length; an answer without a body says none.
        for name in HOP_BY_HOP {
            answer.remove_header(name);
        }
        if matches!(answer.status.as_u16(), 204 | 304) {
            answer.remove_header(&http::header::CONTENT_LENGTH);
        } else {
            answer.insert_header(http::header::CONTENT_LENGTH, body.len().to_string())?;
        }
        let written = async {
            session.write_response_header(Box::new(answer), false).await?;
            session.write_response_body(Some(body), true).await
        };
        if let Err(e) = written.await {
            log::debug!("a creation's caller left before its answer (its client is remembered): {e}");
        }
        Ok(true)
    }

    /// The upstream request's head, as Pingora builds it from an HTTP/2 request.
    async fn upstream_head(&self, session: &mut Session, ctx: &mut Ctx) -> Result<RequestHeader> {
        let mut head = session.req_header().clone();
        head.set_version(http::Version::HTTP_11);
        for name in HOP_BY_HOP {
            head.remove_header(name);
        }
        if let Some(authority) = head.uri.authority().map(|a| a.as_str().to_owned()) {
            head.insert_header(http::header::HOST, authority)?;
        }
        ProxyHttp::upstream_request_filter(self, session, &mut head, ctx).await?;
        Ok(head)
    }

    /// Remembers the client the answer tells of, awaiting the store (at most
    /// `registry::WRITE_WAIT`; not at all while it fails, SPEC §12).
    async fn remember_from(&self, ctx: &mut Ctx, body: &[u8]) {
        let Some(capture) = ctx.capture.as_mut().filter(|c| c.is_reading()) else { return };
        if !capture.add(body) {
            return;
        }
        let new_client = capture.new_client();
        capture.take_body();
        let (Some((client_id, state, origin)), Some(tenant)) = (new_client, ctx.tenant.as_ref()) else { return };
        if let Some(stored) = self.clients.remember_then_wait(tenant, &client_id, state, origin) {
            stored.await;
        }
    }

    /// The upstream failed: logged, and answered as SPEC §11 says.
    async fn failed(&self, session: &mut Session, e: Box<Error>, ctx: &mut Ctx) -> Result<bool> {
        log::warn!("upstream: {e} ({})", ProxyHttp::request_summary(self, session, ctx));
        respond::failure(session, &e, ctx).await;
        Ok(true)
    }
}

/// `work` by `deadline` (a late one is the upstream's read timeout); its errors are the
/// upstream's.
async fn in_time<T>(deadline: Instant, work: impl Future<Output = Result<T>>) -> Result<T> {
    match timeout_at(deadline, work).await {
        Ok(done) => done.map_err(|e| e.into_up()),
        Err(_) => {
            Error::e_explain(ReadTimedout, "the upstream did not answer a creation in time").map_err(|e| e.into_up())
        }
    }
}
