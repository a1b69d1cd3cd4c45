//! The recording upstream: a real HTTP/1.1 server on loopback that stores every request
//! exactly as received (method, target, headers, body bytes, framing) and answers from a
//! small route table.

use std::collections::HashMap;
use std::io::{BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use super::http::{Message, read_body, read_head};

#[derive(Clone)]
struct Reply {
    status: u16,
    body: String,
    delay: Duration,
}

#[derive(Default)]
struct Shared {
    requests: Vec<Message>,
    routes: HashMap<String, Reply>,
    /// Answer for paths with no route; `None`: echo the request.
    fallback: Option<Reply>,
    /// Stopped: every connection is closed without an answer.
    down: bool,
}

/// Cloning gives another handle on the same server (its routes and records).
#[derive(Clone)]
pub struct Upstream {
    pub addr: SocketAddr,
    shared: Arc<Mutex<Shared>>,
}

impl Upstream {
    /// Binds `127.0.0.1:0` and serves until the test process ends.
    pub fn start() -> Upstream {
        Upstream::serve_on(TcpListener::bind("127.0.0.1:0").unwrap())
    }

    /// Serves on an already bound listener (to come back on a known address).
    pub fn serve_on(listener: TcpListener) -> Upstream {
        let addr = listener.local_addr().unwrap();
        let shared = Arc::new(Mutex::new(Shared::default()));
        shared.lock().unwrap().routes.insert(
            JWKS_PATH.to_owned(),
            Reply { status: 200, body: super::tokens::default_jwks(), delay: Duration::ZERO },
        );
        let accept_shared = Arc::clone(&shared);
        thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let shared = Arc::clone(&accept_shared);
                thread::spawn(move || serve(stream, &shared));
            }
        });
        Upstream { addr, shared }
    }

    /// Answers requests whose path (without query) is `path` with `status` and `body`.
    pub fn route(self, path: &str, status: u16, body: &str) -> Self {
        self.shared
            .lock()
            .unwrap()
            .routes
            .insert(path.to_owned(), Reply { status, body: body.to_owned(), delay: Duration::ZERO });
        self
    }

    /// Answers `path` only after `delay` (for timeout tests).
    pub fn slow_route(self, path: &str, delay: Duration) -> Self {
        self.shared
            .lock()
            .unwrap()
            .routes
            .insert(path.to_owned(), Reply { status: 200, body: "{\"slow\":true}".into(), delay });
        self
    }

    /// A policy service: unknown paths answer 404.
    pub fn policy_service() -> Upstream {
        let upstream = Upstream::start();
        upstream.shared.lock().unwrap().fallback =
            Some(Reply { status: 404, body: "{\"error\":\"not found\"}".into(), delay: Duration::ZERO });
        upstream
    }

    /// A policy service that answers unknown hosts 404 after `delay` (a slow directory).
    pub fn slow_policy_service(delay: Duration) -> Upstream {
        let upstream = Upstream::start();
        upstream.shared.lock().unwrap().fallback =
            Some(Reply { status: 404, body: "{\"error\":\"not found\"}".into(), delay });
        upstream
    }

    /// Answers `path` after `delay`.
    pub fn delayed_route(self, path: &str, status: u16, body: &str, delay: Duration) -> Self {
        self.shared.lock().unwrap().routes.insert(path.to_owned(), Reply { status, body: body.to_owned(), delay });
        self
    }

    /// Stops answering: connections are closed as they arrive (or `false`: answers again).
    pub fn set_down(&self, down: bool) {
        self.shared.lock().unwrap().down = down;
    }

    /// How many requests had `path` (without query) as their target.
    pub fn hits(&self, path: &str) -> usize {
        self.shared
            .lock()
            .unwrap()
            .requests
            .iter()
            .filter(|r| r.start.get(1).is_some_and(|t| t.split('?').next() == Some(path)))
            .count()
    }

    /// Every request received so far, in order, except JWKS fetches (see [`Self::jwks_fetches`]).
    pub fn requests(&self) -> Vec<Message> {
        self.shared.lock().unwrap().requests.iter().filter(|r| !is_jwks(r)).cloned().collect()
    }

    /// How many times the JWKS was fetched.
    pub fn jwks_fetches(&self) -> usize {
        self.shared.lock().unwrap().requests.iter().filter(|r| is_jwks(r)).count()
    }

    /// Replaces the answer of `path` while running (e.g. a key rotation).
    pub fn set_route(&self, path: &str, status: u16, body: &str) {
        self.shared
            .lock()
            .unwrap()
            .routes
            .insert(path.to_owned(), Reply { status, body: body.to_owned(), delay: Duration::ZERO });
    }

    /// The only request received; fails the test otherwise.
    #[track_caller]
    pub fn single(&self) -> Message {
        let requests = self.requests();
        assert_eq!(requests.len(), 1, "expected exactly one upstream request, got {}", requests.len());
        requests.into_iter().next().unwrap()
    }

    #[track_caller]
    pub fn assert_untouched(&self) {
        let requests = self.requests();
        assert!(
            requests.is_empty(),
            "rejected request reached upstream: {:?}",
            requests.iter().map(|r| (r.start.clone(), r.body_text())).collect::<Vec<_>>()
        );
    }
}

pub const JWKS_PATH: &str = "/.well-known/jwks.json";

fn is_jwks(message: &Message) -> bool {
    message.start.get(1).is_some_and(|target| target.starts_with(JWKS_PATH))
}

fn serve(stream: TcpStream, shared: &Mutex<Shared>) {
    let mut writer = match stream.try_clone() {
        Ok(writer) => writer,
        Err(_) => return,
    };
    let mut reader = BufReader::new(stream);
    loop {
        if shared.lock().unwrap().down {
            return;
        }
        let mut message = match read_head(&mut reader) {
            Ok(Some(message)) => message,
            _ => return,
        };
        if message.header("expect").is_some_and(|v| v.eq_ignore_ascii_case("100-continue"))
            && writer.write_all(b"HTTP/1.1 100 Continue\r\n\r\n").is_err()
        {
            return;
        }
        if read_body(&mut reader, &mut message, false).is_err() {
            return;
        }
        let target = message.start.get(1).cloned().unwrap_or_default();
        let path = target.split('?').next().unwrap_or_default().to_owned();
        let reply = {
            let mut shared = shared.lock().unwrap();
            if shared.down {
                return;
            }
            shared.requests.push(message.clone());
            shared.routes.get(&path).cloned().or_else(|| shared.fallback.clone())
        };
        let reply = reply.unwrap_or_else(|| default_reply(&message));
        if !reply.delay.is_zero() {
            thread::sleep(reply.delay);
        }
        let response = format!(
            "HTTP/1.1 {} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nX-Upstream: recording\r\n\r\n{}",
            reply.status,
            reply.body.len(),
            reply.body
        );
        if writer.write_all(response.as_bytes()).is_err() {
            return;
        }
    }
}

/// Echoes what was received, so passthrough tests can check it end to end.
fn default_reply(message: &Message) -> Reply {
    let body = serde_json::json!({
        "method": message.start.first(),
        "target": message.start.get(1),
        "body_len": message.body.len(),
    })
    .to_string();
    Reply { status: 200, body, delay: Duration::ZERO }
}
