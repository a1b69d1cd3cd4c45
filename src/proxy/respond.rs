//! Every gateway-made response is written here: the policy renders the body
//! ([`crate::policy::wire`]; its own answers, 503 included, are the policy's), this writes
//! it to the session; and the answers to upstream and connection faults (502, 504, 408,
//! 400) are defined here.

use bytes::Bytes;
use pingora::http::ResponseHeader;
use pingora::prelude::*;
use pingora::proxy::Session;

use crate::policy::wire::{self, GatewayResponse};
use crate::policy::{self, Api, ErrorCode, ReasonCode, Rejection};

/// Writes `rejection` as the answer. `close` drops the connection afterwards: needed when
/// the request body was not read, or Pingora would drain it before reusing the connection.
pub async fn reject(session: &mut Session, rejection: &Rejection, api: Api, close: bool) -> Result<()> {
    write(session, &wire::render(rejection, api), close).await
}

pub async fn write(session: &mut Session, answer: &GatewayResponse, close: bool) -> Result<()> {
    let mut header = ResponseHeader::build(answer.status, Some(4))?;
    header.insert_header(http::header::CONTENT_TYPE, answer.content_type)?;
    if let Some(cache_control) = answer.cache_control {
        header.insert_header(http::header::CACHE_CONTROL, cache_control)?;
    }
    if answer.content_type == wire::HTML_CONTENT_TYPE {
        // the page names request text (escaped): nothing in it may run or be framed
        header.insert_header(http::header::X_CONTENT_TYPE_OPTIONS, "nosniff")?;
        header.insert_header(http::header::CONTENT_SECURITY_POLICY, "default-src 'none'; frame-ancestors 'none'")?;
    }
    header.insert_header(http::header::CONTENT_LENGTH, answer.body.len().to_string())?;
    header.insert_header(wire::REASON_HEADER, answer.reason)?;
    if let Some(challenge) = answer.www_authenticate {
        header.insert_header(http::header::WWW_AUTHENTICATE, challenge)?;
    }
    if let Some(seconds) = answer.retry_after {
        header.insert_header(http::header::RETRY_AFTER, seconds.to_string())?;
    }
    if close {
        session.set_keepalive(None);
    }
    session.write_response_header(Box::new(header), false).await?;
    session.write_response_body(Some(Bytes::from(answer.body.clone())), true).await?;
    Ok(())
}

/// SPEC §11: answers a request that failed on its way to or from the upstream (when its
/// answer has not begun), counts the upstream's failures and records the answer; the
/// status answered, 0 when the client cannot be answered.
pub async fn failure(session: &mut Session, e: &Error, ctx: &mut super::Ctx) -> u16 {
    let failure = upstream_failure(e);
    if let Some(kind) = failure.kind {
        crate::telemetry::metrics().upstream_errors.with_label_values(&[kind]).inc();
    }
    let Some(rejection) = failure.answer else { return 0 };
    if session.response_written().is_none()
        && let Err(write_error) = reject(session, &rejection, ctx.api, true).await
    {
        log::debug!("cannot answer the client: {write_error}");
    }
    ctx.record = Some(policy::Record::of_error(&rejection));
    rejection.status
}

pub struct UpstreamFailure {
    /// `modegate_upstream_errors_total{kind}`, when the upstream side failed.
    pub kind: Option<&'static str>,
    /// What to answer, when the client can still be answered.
    pub answer: Option<Rejection>,
}

/// SPEC §11: 502 when the upstream cannot be reached, 504 when it does not answer in time.
pub fn upstream_failure(e: &Error) -> UpstreamFailure {
    use pingora::ErrorType::*;
    let unavailable = |kind| UpstreamFailure {
        kind: Some(kind),
        answer: Some(Rejection::new(
            502,
            ErrorCode::UpstreamUnavailable,
            ReasonCode::UpstreamUnavailable,
            "the authorization server is unavailable; retry later",
        )),
    };
    let timeout = |kind| UpstreamFailure {
        kind: Some(kind),
        answer: Some(Rejection::new(
            504,
            ErrorCode::UpstreamTimeout,
            ReasonCode::UpstreamTimeout,
            "the authorization server did not answer in time",
        )),
    };
    match (e.esource(), e.etype()) {
        (_, ConnectRefused) => unavailable("connect_refused"),
        (_, ConnectTimedout) => unavailable("connect_timeout"),
        (
            _,
            ConnectNoRoute | ConnectError | ConnectProxyFailure | BindError | TLSHandshakeFailure
            | TLSHandshakeTimedout,
        ) => unavailable("connect_error"),
        (pingora::ErrorSource::Upstream, ReadTimedout | WriteTimedout) => timeout("read_timeout"),
        (pingora::ErrorSource::Upstream, _) => unavailable("protocol_error"),
        (pingora::ErrorSource::Downstream, ReadError | WriteError | ConnectionClosed) => {
            UpstreamFailure { kind: None, answer: None }
        }
        (pingora::ErrorSource::Downstream, ReadTimedout) => {
            UpstreamFailure { kind: None, answer: Some(policy::body_timeout()) }
        }
        (pingora::ErrorSource::Downstream, _) => UpstreamFailure {
            kind: None,
            answer: Some(Rejection::invalid_request(ReasonCode::MalformedRequest, "the request could not be read")),
        },
        _ => UpstreamFailure { kind: None, answer: Some(policy::internal()) },
    }
}
