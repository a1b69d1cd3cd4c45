//! Side requests the gateway itself sends: the JWKS of a tenant and the current mode of a
//! client (SPEC §4 clients_update, §6). They go to the configured upstream over Pingora's
//! own connector, with the upstream's timeouts and a bounded answer size.

use std::net::SocketAddr;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use pingora::connectors::http::Connector;
use pingora::http::{RequestHeader, ResponseHeader};
use pingora::upstreams::peer::HttpPeer;

use crate::config::Upstream;

/// Characters of a path segment sent as they are (RFC 3986 unreserved); the rest is
/// percent-encoded.
pub const PATH_SEGMENT: &percent_encoding::AsciiSet =
    &percent_encoding::NON_ALPHANUMERIC.remove(b'-').remove(b'_').remove(b'.').remove(b'~');

/// Largest answer read of the gateway's own requests: a JWKS, a client document, an
/// HTTP/2 creation's answer (`proxy::h2_creation`); each is far smaller.
pub const MAX_ANSWER_BYTES: usize = 1024 * 1024;

/// Why a side request failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FetchError {
    #[error("cannot reach {0}")]
    Unreachable(String),
    #[error("{0} did not answer in time")]
    Timeout(String),
    #[error("{0} answered more than {MAX_ANSWER_BYTES} bytes")]
    TooLarge(String),
    #[error("{0}: {1}")]
    Protocol(String, String),
}

/// A side answer: status and whole body.
#[derive(Debug, Clone)]
pub struct SideResponse {
    pub status: u16,
    pub body: Bytes,
}

/// Where a side request goes: an address, TLS or not, and the `Host` to send.
#[derive(Debug, Clone)]
pub struct Endpoint {
    pub address: SocketAddr,
    pub tls: bool,
    pub sni: String,
    pub host: String,
    pub connect_timeout: Duration,
    pub read_timeout: Duration,
}

impl Endpoint {
    /// The gateway's upstream, addressed as `host`.
    pub fn upstream(upstream: &Upstream, host: &str) -> Self {
        Endpoint {
            address: upstream.address,
            tls: upstream.tls,
            sni: if upstream.sni.is_empty() { host.to_owned() } else { upstream.sni.clone() },
            host: host.to_owned(),
            connect_timeout: upstream.connect_timeout,
            read_timeout: upstream.read_timeout,
        }
    }
}

/// A small HTTP client on Pingora's connector (which pools connections).
pub struct SideClient {
    connector: Connector,
}

impl Default for SideClient {
    fn default() -> Self {
        SideClient::new(None)
    }
}

impl SideClient {
    /// `ca_file` verifies TLS peers instead of the system roots.
    pub fn new(ca_file: Option<&std::path::Path>) -> Self {
        let mut options = pingora::connectors::ConnectorOptions::new(64);
        options.ca_file = ca_file.map(|path| path.to_string_lossy().into_owned());
        SideClient { connector: Connector::new(Some(options)) }
    }

    /// `GET path_and_query` on `target` with extra `headers`; the whole answer, bounded.
    pub async fn get(
        &self,
        target: &Endpoint,
        path_and_query: &str,
        headers: &[(&str, &str)],
    ) -> Result<SideResponse, FetchError> {
        self.request("GET", target, path_and_query, headers, &[]).await
    }

    /// `method path_and_query` on `target` with extra `headers` and `body` (framed with its
    /// length when not empty); the whole answer, bounded.
    pub async fn request(
        &self,
        method: &str,
        target: &Endpoint,
        path_and_query: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Result<SideResponse, FetchError> {
        let name = format!("{}{}", target.host, path_and_query.split('?').next().unwrap_or_default());
        let deadline = target.connect_timeout + target.read_timeout;
        let exchange = self.exchange(method, target, path_and_query, headers, body, &name);
        match tokio::time::timeout(deadline, exchange).await {
            Ok(result) => result,
            Err(_) => Err(FetchError::Timeout(name)),
        }
    }

    async fn exchange(
        &self,
        method: &str,
        target: &Endpoint,
        path_and_query: &str,
        headers: &[(&str, &str)],
        body: &[u8],
        name: &str,
    ) -> Result<SideResponse, FetchError> {
        let protocol = |e: Box<pingora::Error>| FetchError::Protocol(name.to_owned(), e.to_string());
        let mut peer = HttpPeer::new(target.address, target.tls, target.sni.clone());
        peer.options.connection_timeout = Some(target.connect_timeout);
        peer.options.read_timeout = Some(target.read_timeout);
        peer.options.write_timeout = Some(target.read_timeout);
        let (mut session, _reused) =
            self.connector.get_http_session(&peer).await.map_err(|_| FetchError::Unreachable(name.to_owned()))?;
        let mut request = RequestHeader::build(method, path_and_query.as_bytes(), None).map_err(protocol)?;
        request.insert_header(http::header::HOST, &target.host).map_err(protocol)?;
        for (header, value) in headers {
            request.insert_header(header.to_string(), *value).map_err(protocol)?;
        }
        if !body.is_empty() {
            request.insert_header(http::header::CONTENT_LENGTH, body.len().to_string()).map_err(protocol)?;
        }
        let status = send(&mut session, request, Bytes::copy_from_slice(body)).await.map_err(protocol)?.status;
        let body = read_whole(&mut session).await.map_err(|e| {
            if e.etype() == &ANSWER_TOO_LARGE { FetchError::TooLarge(name.to_owned()) } else { protocol(e) }
        })?;
        self.release(session, &peer).await;
        Ok(SideResponse { status: status.as_u16(), body })
    }

    /// Sends a request the gateway forwards itself (`head` built by the caller, framing
    /// included) on a pooled connection to `peer`, and reads its final answer's head;
    /// never retried (like Pingora's own path for a `POST`). Errors are Pingora's, for the
    /// answers of SPEC §11.
    pub async fn forward(&self, peer: &HttpPeer, head: RequestHeader, body: Bytes) -> pingora::Result<Answering> {
        let (mut session, _reused) = self.connector.get_http_session(peer).await?;
        // each read and write within the upstream's timeouts, as Pingora's proxy does (side
        // requests have one deadline for the whole exchange instead)
        session.set_read_timeout(peer.options.read_timeout);
        session.set_write_timeout(peer.options.write_timeout);
        let answer = send(&mut session, head, body).await?;
        Ok(Answering { session, answer })
    }

    /// Returns a connection whose answer was read whole to the pool.
    async fn release(&self, session: ClientSession, peer: &HttpPeer) {
        self.connector.release_http_session(session, peer, Some(POOLED_IDLE)).await;
    }
}

/// How long an idle upstream connection of the gateway's own stays pooled.
const POOLED_IDLE: Duration = Duration::from_secs(60);

/// The error of an answer over [`MAX_ANSWER_BYTES`].
const ANSWER_TOO_LARGE: pingora::ErrorType = pingora::ErrorType::Custom("answer too large");

/// The most informational (1xx) heads read before an answer's final one.
const MAX_INFORMATIONAL: usize = 8;

type ClientSession = pingora::protocols::http::client::HttpSession;

/// A request [`SideClient::forward`] sent: the final answer's head, its body still to read.
pub struct Answering {
    session: ClientSession,
    answer: ResponseHeader,
}

impl Answering {
    pub fn answer(&self) -> &ResponseHeader {
        &self.answer
    }

    /// The whole body (at most [`MAX_ANSWER_BYTES`]); the connection goes back to the pool.
    pub async fn read_whole(mut self, client: &SideClient, peer: &HttpPeer) -> pingora::Result<Bytes> {
        let body = read_whole(&mut self.session).await?;
        client.release(self.session, peer).await;
        Ok(body)
    }
}

/// Writes `head` and `body`; the final answer's head, past at most
/// [`MAX_INFORMATIONAL`] 1xx ones (a 101 to a request that asked no upgrade is an error,
/// as in Pingora's proxy).
async fn send(session: &mut ClientSession, head: RequestHeader, body: Bytes) -> pingora::Result<ResponseHeader> {
    use pingora::ErrorType::InvalidHTTPHeader;
    session.write_request_header(Box::new(head)).await?;
    if !body.is_empty() {
        session.write_request_body(body, true).await?;
    }
    session.finish_request_body().await?;
    for _ in 0..=MAX_INFORMATIONAL {
        session.read_response_header().await?;
        match session.response_header() {
            Some(head) if head.status == http::StatusCode::SWITCHING_PROTOCOLS => {
                return pingora::Error::e_explain(InvalidHTTPHeader, "101 to a request that asked no upgrade");
            }
            Some(head) if head.status.is_informational() => continue,
            Some(head) => return Ok(head.clone()),
            None => return pingora::Error::e_explain(InvalidHTTPHeader, "no answer head"),
        }
    }
    pingora::Error::e_explain(InvalidHTTPHeader, "too many informational answers")
}

/// The rest of the answer's body, at most [`MAX_ANSWER_BYTES`] in all.
async fn read_whole(session: &mut ClientSession) -> pingora::Result<Bytes> {
    let mut whole = BytesMut::new();
    while let Some(chunk) = session.read_response_body().await? {
        if whole.len() + chunk.len() > MAX_ANSWER_BYTES {
            return pingora::Error::e_explain(ANSWER_TOO_LARGE, format!("over {MAX_ANSWER_BYTES} bytes"));
        }
        whole.extend_from_slice(&chunk);
    }
    Ok(whole.freeze())
}
