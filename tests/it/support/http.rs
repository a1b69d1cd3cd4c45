//! A minimal HTTP/1.1 reader and writer over std sockets. The tests need to send bytes
//! that well-behaved clients refuse to send (two Host headers, encoded slashes, bad
//! framing) and to see exactly what the upstream received, so no HTTP library sits in
//! between.

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

/// A parsed message head plus its body, as it came off the wire.
#[derive(Debug, Clone, Default)]
pub struct Message {
    /// Request: `METHOD target`; response: the status code as text.
    pub start: Vec<String>,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// The body arrived with `Transfer-Encoding: chunked`.
    pub chunked: bool,
}

impl Message {
    /// The first value of a header, by case-insensitive name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    pub fn header_count(&self, name: &str) -> usize {
        self.headers.iter().filter(|(n, _)| n.eq_ignore_ascii_case(name)).count()
    }

    pub fn body_text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| panic!("body is not JSON ({e}): {}", self.body_text()))
    }
}

/// Reads one message head; `None` at a clean end of stream.
pub fn read_head(reader: &mut impl BufRead) -> std::io::Result<Option<Message>> {
    let mut line = String::new();
    loop {
        line.clear();
        if reader.read_line(&mut line)? == 0 {
            return Ok(None);
        }
        if !line.trim().is_empty() {
            break;
        }
    }
    let start: Vec<String> = line.trim_end().splitn(3, ' ').map(str::to_owned).collect();
    let mut headers = Vec::new();
    loop {
        line.clear();
        if reader.read_line(&mut line)? == 0 {
            return Err(std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "end of stream inside a head"));
        }
        let trimmed = line.trim_end_matches(['\r', '\n']);
        if trimmed.is_empty() {
            break;
        }
        if let Some((name, value)) = trimmed.split_once(':') {
            headers.push((name.trim().to_owned(), value.trim().to_owned()));
        }
    }
    Ok(Some(Message { start, headers, body: Vec::new(), chunked: false }))
}

/// Reads the body that `message`'s head announces. `until_close` reads to the end of
/// stream when there is no framing (responses only).
pub fn read_body(reader: &mut impl BufRead, message: &mut Message, until_close: bool) -> std::io::Result<()> {
    let chunked = message.header("transfer-encoding").is_some_and(|v| v.to_ascii_lowercase().contains("chunked"));
    if chunked {
        message.chunked = true;
        loop {
            let mut size_line = String::new();
            reader.read_line(&mut size_line)?;
            let size = usize::from_str_radix(size_line.trim().split(';').next().unwrap_or("0"), 16)
                .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))?;
            if size == 0 {
                // trailers, then the blank line
                loop {
                    let mut trailer = String::new();
                    if reader.read_line(&mut trailer)? == 0 || trailer.trim().is_empty() {
                        break;
                    }
                }
                return Ok(());
            }
            let mut chunk = vec![0; size];
            reader.read_exact(&mut chunk)?;
            message.body.extend_from_slice(&chunk);
            let mut crlf = [0; 2];
            reader.read_exact(&mut crlf)?;
        }
    } else if let Some(length) = message.header("content-length") {
        let length: usize = length.parse().map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))?;
        message.body = vec![0; length];
        reader.read_exact(&mut message.body)?;
    } else if until_close {
        reader.read_to_end(&mut message.body)?;
    }
    Ok(())
}

/// A client connection that sends raw bytes and reads whole responses.
pub struct Client {
    reader: BufReader<TcpStream>,
}

impl Client {
    pub fn connect(addr: SocketAddr) -> Client {
        let stream = TcpStream::connect(addr).unwrap_or_else(|e| panic!("connect {addr}: {e}"));
        stream.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        stream.set_nodelay(true).unwrap();
        Client { reader: BufReader::new(stream) }
    }

    pub fn send_raw(&mut self, bytes: &[u8]) {
        self.reader.get_mut().write_all(bytes).unwrap();
    }

    /// Reads one response head only (the answer to a HEAD request).
    pub fn read_head_only(&mut self) -> Message {
        read_head(&mut self.reader).unwrap().expect("connection closed before a response")
    }

    /// Reads one response (skipping `100 Continue` unless `keep_interim`).
    pub fn read_response(&mut self) -> Message {
        loop {
            let mut message = read_head(&mut self.reader).unwrap().expect("connection closed before a response");
            if message.start.get(1).map(String::as_str) == Some("100") {
                continue;
            }
            let close = message.header("connection").is_some_and(|v| v.eq_ignore_ascii_case("close"));
            read_body(&mut self.reader, &mut message, close).unwrap();
            return message;
        }
    }

    /// [`read_response`](Self::read_response) without panicking: `Err` when the peer closed
    /// or answered something that is not an HTTP response.
    pub fn try_read_response(&mut self) -> std::io::Result<Message> {
        loop {
            let Some(mut message) = read_head(&mut self.reader)? else {
                return Err(std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "closed before a response"));
            };
            if message.start.get(1).map(String::as_str) == Some("100") {
                continue;
            }
            let close = message.header("connection").is_some_and(|v| v.eq_ignore_ascii_case("close"));
            read_body(&mut self.reader, &mut message, close)?;
            return Ok(message);
        }
    }

    /// Reads the interim `100 Continue`, if one is the next thing on the wire.
    pub fn read_interim(&mut self) -> Message {
        read_head(&mut self.reader).unwrap().expect("connection closed before an interim response")
    }
}

/// The status code of a response.
pub fn status(message: &Message) -> u16 {
    message.start.get(1).and_then(|s| s.parse().ok()).unwrap_or(0)
}

/// `Authorization: Bearer <valid token for host>\r\n`, for hand-written requests.
pub fn auth_line(host: &str) -> String {
    format!("Authorization: Bearer {}\r\n", super::tokens::valid_for(host))
}

/// One request with `Content-Length`. Requests get a valid bearer token for `host` unless
/// they carry an `Authorization` header (`Authorization: none` sends none): most tests are
/// about the rules, not the token.
pub fn request(method: &str, target: &str, host: &str, headers: &[(&str, &str)], body: &[u8]) -> Vec<u8> {
    let mut out = format!("{method} {target} HTTP/1.1\r\nHost: {host}\r\n");
    let has_authorization = headers.iter().any(|(name, _)| name.eq_ignore_ascii_case("authorization"));
    if !has_authorization {
        out.push_str(&auth_line(host));
    }
    let headers: Vec<&(&str, &str)> = headers
        .iter()
        .filter(|(name, value)| !(name.eq_ignore_ascii_case("authorization") && *value == "none"))
        .collect();
    for (name, value) in headers {
        out.push_str(&format!("{name}: {value}\r\n"));
    }
    if !body.is_empty() || method == "POST" || method == "PATCH" || method == "PUT" {
        out.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    out.push_str("\r\n");
    let mut bytes = out.into_bytes();
    bytes.extend_from_slice(body);
    bytes
}
