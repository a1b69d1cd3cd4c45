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

/// Largest side answer read; a JWKS or a client document is far smaller.
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
        session.write_request_header(Box::new(request)).await.map_err(protocol)?;
        if !body.is_empty() {
            session.write_request_body(Bytes::copy_from_slice(body), true).await.map_err(protocol)?;
        }
        session.finish_request_body().await.map_err(protocol)?;
        session.read_response_header().await.map_err(protocol)?;
        let status = session.response_header().map_or(0, |h| h.status.as_u16());
        let mut body = BytesMut::new();
        while let Some(chunk) = session.read_response_body().await.map_err(protocol)? {
            if body.len() + chunk.len() > MAX_ANSWER_BYTES {
                return Err(FetchError::TooLarge(name.to_owned()));
            }
            body.extend_from_slice(&chunk);
        }
        self.connector.release_http_session(session, &peer, Some(Duration::from_secs(60))).await;
        Ok(SideResponse { status, body: body.freeze() })
    }
}

impl SideClient {
    /// Sends `head` and `body` to `peer` as a proxied request (the caller built the head,
    /// framing included) and reads the final answer whole (past any 1xx, at most
    /// [`MAX_ANSWER_BYTES`]); never retried. Errors are Pingora's, for SPEC §11's answers.
    pub async fn forward_whole(
        &self,
        peer: &HttpPeer,
        head: RequestHeader,
        body: Bytes,
    ) -> pingora::Result<(ResponseHeader, Bytes)> {
        let (mut session, _reused) = self.connector.get_http_session(peer).await?;
        session.set_read_timeout(peer.options.read_timeout);
        session.set_write_timeout(peer.options.write_timeout);
        session.write_request_header(Box::new(head)).await?;
        if !body.is_empty() {
            session.write_request_body(body, true).await?;
        }
        session.finish_request_body().await?;
        let answer = loop {
            session.read_response_header().await?;
            match session.response_header() {
                Some(head) if head.status.is_informational() => continue,
                Some(head) => break head.clone(),
                None => return pingora::Error::e_explain(pingora::ErrorType::InvalidHTTPHeader, "no answer head"),
            }
        };
        let mut whole = BytesMut::new();
        while let Some(chunk) = session.read_response_body().await? {
            if whole.len() + chunk.len() > MAX_ANSWER_BYTES {
                return pingora::Error::e_explain(pingora::ErrorType::InvalidHTTPHeader, "an answer over 1 MiB");
            }
            whole.extend_from_slice(&chunk);
        }
        self.connector.release_http_session(session, peer, peer.options.idle_timeout).await;
        Ok((answer, whole.freeze()))
    }
}
