//! Every gateway-made response is written here: the policy renders the body
//! ([`crate::policy::wire`]), this writes it to the session.

use bytes::Bytes;
use pingora::http::ResponseHeader;
use pingora::prelude::*;
use pingora::proxy::Session;

use crate::policy::wire::{self, GatewayResponse};
use crate::policy::{Api, Rejection};

/// Writes `rejection` as the answer. `close` drops the connection afterwards: needed when
/// the request body was not read, or Pingora would drain it before reusing the connection.
pub async fn reject(session: &mut Session, rejection: &Rejection, api: Api, close: bool) -> Result<()> {
    write(session, &wire::render(rejection, api), close).await
}

pub async fn write(session: &mut Session, answer: &GatewayResponse, close: bool) -> Result<()> {
    let mut header = ResponseHeader::build(answer.status, Some(4))?;
    header.insert_header(http::header::CONTENT_TYPE, wire::CONTENT_TYPE)?;
    header.insert_header(http::header::CONTENT_LENGTH, answer.body.len().to_string())?;
    header.insert_header(wire::REASON_HEADER, answer.reason)?;
    if let Some(challenge) = answer.www_authenticate {
        header.insert_header(http::header::WWW_AUTHENTICATE, challenge)?;
    }
    if close {
        session.set_keepalive(None);
    }
    session.write_response_header(Box::new(header), false).await?;
    session.write_response_body(Some(Bytes::from(answer.body.clone())), true).await?;
    Ok(())
}
