//! SPEC §16 "Slow heads": the whole request head must arrive within
//! `server.header_read_timeout_ms`.
//!
//! Pingora bounds each read of a head (60 s by default), not the head: a client that
//! sends one byte every 59 s holds a connection for as long as it likes. So every HTTP/1
//! connection is wrapped in a [`HeadDeadline`] stream whose reads fail once the deadline
//! passes while it is armed. It is armed when the connection is accepted and again when
//! a request ends (an idle keep-alive connection waits for its next head under the same
//! deadline), and disarmed by the proxy's first phase, which runs once the head is in.
//! When part of a head had arrived, a `408` is written before the connection closes.
//! HTTP/2 connections are not wrapped: their streams have no head of their own to wait for.
//!
//! The wrapper also holds a connection's writes on request ([`HeadDeadline::hold_writes`]):
//! a creation's answer waits for its registry write (SPEC §12) without blocking the thread
//! that serves it, as Pingora's response body filter cannot await.
//!
//! And it keeps a creation's answer coming when the caller leaves
//! ([`answer_owed`]): Pingora stops reading the upstream as soon as a read of the caller's
//! side ends or fails, or a write to it fails, and the new client would never be
//! remembered. A caller that closes (or resets) the connection right after sending a
//! registration would otherwise own a client the gateway knows nothing of, which its
//! runtime rules then treat as a client that predates modes. While an answer is owed, the
//! caller's end reads as "nothing yet" (bytes it sends past its request are dropped) and
//! writes to a caller that is gone are dropped; once the request has ended, the connection
//! reads as closed.
//!
//! Last, a fresh connection is handed to Pingora only once its first bytes are in
//! (`HeadDeadline::read_first`): Pingora drops every connection still waiting for a head
//! when it begins to shut down (a graceful upgrade's handover, SIGTERM), and a client that
//! connected just before would lose the request it sent just after. With its bytes already
//! read, Pingora's head read wins its race against the shutdown (when the head came in one
//! read). Once the shutdown has begun, a fresh connection gets [`FIRST_BYTES_AFTER_STOP`]
//! for its first bytes, then goes as before: an idle connection is not kept to the end.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use async_trait::async_trait;
use pingora::apps::ServerApp;
use pingora::protocols::{
    ALPN, GetProxyDigest, GetSocketDigest, GetTimingDigest, Peek, Shutdown, SocketDigest, Ssl, Stream, TimingDigest,
    UniqueID, UniqueIDType,
};
use pingora::server::ShutdownWatch;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};

/// The most of a connection's first read kept before Pingora reads (Pingora's own first
/// read of a head takes as much).
const FIRST_READ: usize = 4096;

/// How long a fresh connection may still take to send its first bytes once the shutdown
/// has begun.
pub const FIRST_BYTES_AFTER_STOP: Duration = Duration::from_secs(1);

const REQUEST_TIMEOUT: &[u8] =
    b"HTTP/1.1 408 Request Timeout\r\nConnection: close\r\nContent-Length: 0\r\nx-modegate-reason: header_timeout\r\n\r\n";

/// Wraps a proxy app so that every HTTP/1 connection it serves has a head deadline.
pub struct HeadDeadlineApp<A> {
    inner: Arc<A>,
    timeout: Duration,
}

impl<A> HeadDeadlineApp<A> {
    pub fn new(inner: A, timeout: Duration) -> Self {
        HeadDeadlineApp { inner: Arc::new(inner), timeout }
    }
}

#[async_trait]
impl<A: ServerApp + Send + Sync + 'static> ServerApp for HeadDeadlineApp<A> {
    async fn process_new(self: &Arc<Self>, stream: Stream, shutdown: &ShutdownWatch) -> Option<Stream> {
        let h2 = matches!(stream.selected_alpn_proto(), Some(ALPN::H2));
        let stream: Stream = if h2 {
            stream
        } else {
            let mut wrapped = HeadDeadline::new(stream, self.timeout);
            wrapped.read_first(shutdown.clone()).await;
            Box::new(wrapped)
        };
        self.inner.process_new(stream, shutdown).await
    }

    async fn cleanup(&self) {
        self.inner.cleanup().await;
    }
}

/// Disarms the head deadline of the connection a request arrived on (its head is in).
pub fn head_received(stream: Option<&Stream>) {
    if let Some(deadline) = of(stream) {
        deadline.deadline_ms.store(0, Ordering::Release);
    }
}

/// Arms the deadline again for the next request on a kept-alive connection; the answer
/// owed ([`answer_owed`]) has been read.
pub fn request_ended(stream: Option<&Stream>) {
    if let Some(deadline) = of(stream) {
        deadline.answer_owed.store(false, Ordering::Release);
        deadline.arm();
    }
}

/// Whether the caller's side ended, failed or sent bytes past a request whose answer was
/// owed: the connection closes after this request, and its answer should say so.
pub fn caller_input_ended(stream: Option<&Stream>) -> bool {
    of(stream).is_some_and(|deadline| deadline.input_done.load(Ordering::Acquire))
}

/// The request on this connection is a creation whose answer must be read whole, even if
/// the caller leaves first: the new client is remembered from it (SPEC §12). Until the
/// request ends, the caller leaving does not end the request. The upstream's own timeouts
/// bound how long that lasts.
pub fn answer_owed(stream: Option<&Stream>) {
    if let Some(deadline) = of(stream) {
        deadline.answer_owed.store(true, Ordering::Release);
    }
}

/// The wrapper of a request's connection: HTTP/1 connections only.
pub fn of(stream: Option<&Stream>) -> Option<&HeadDeadline> {
    stream.and_then(|s| s.as_any().downcast_ref::<HeadDeadline>())
}

/// A stream whose reads fail once its deadline passes while it is armed, and whose writes
/// wait while something holds them ([`HeadDeadline::hold_writes`]).
pub struct HeadDeadline {
    inner: Stream,
    timeout: Duration,
    /// Milliseconds since [`epoch`] when the head must be in; 0 when disarmed. Atomic
    /// because the proxy phases reach the stream through a shared reference.
    deadline_ms: AtomicU64,
    /// Whether bytes arrived while the deadline was armed: a head has begun, and a 408 is
    /// owed if it does not complete. Reset on every arming, so an idle kept-alive
    /// connection is closed silently.
    head_started: AtomicBool,
    sleep: Pin<Box<Sleep>>,
    /// What the next write waits for, when something must happen before the answer goes
    /// out. Behind a lock because the proxy phases reach the stream through a shared
    /// reference; the I/O side, which owns it, reads it without locking.
    held: Mutex<Option<Held>>,
    /// See [`answer_owed`].
    answer_owed: AtomicBool,
    /// The caller's side ended, failed or sent bytes past its request while an answer was
    /// owed: nothing more is read from it, and the connection closes after the request.
    input_done: AtomicBool,
    /// A write to the caller failed while an answer was owed: it is gone.
    caller_gone: bool,
    /// The connection's first read, made before Pingora has it (see the module
    /// documentation), and how much of it Pingora has taken; `None` once all of it.
    first: Option<(io::Result<Vec<u8>>, usize)>,
}

type Held = Pin<Box<dyn Future<Output = ()> + Send>>;

impl std::fmt::Debug for HeadDeadline {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HeadDeadline").field("inner", &self.inner).field("timeout", &self.timeout).finish()
    }
}

fn epoch() -> Instant {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

impl HeadDeadline {
    fn new(inner: Stream, timeout: Duration) -> Self {
        let deadline = HeadDeadline {
            inner,
            timeout,
            deadline_ms: AtomicU64::new(0),
            head_started: AtomicBool::new(false),
            sleep: Box::pin(tokio::time::sleep(timeout)),
            held: Mutex::new(None),
            answer_owed: AtomicBool::new(false),
            input_done: AtomicBool::new(false),
            caller_gone: false,
            first: None,
        };
        deadline.arm();
        deadline
    }

    fn arm(&self) {
        self.head_started.store(false, Ordering::Release);
        let at = (Instant::now() + self.timeout).duration_since(epoch());
        let ms = u64::try_from(at.as_millis()).unwrap_or(u64::MAX).max(1);
        self.deadline_ms.store(ms, Ordering::Release);
    }

    /// The armed deadline, if any.
    fn deadline(&self) -> Option<Instant> {
        match self.deadline_ms.load(Ordering::Acquire) {
            0 => None,
            ms => Some(epoch() + Duration::from_millis(ms)),
        }
    }

    /// Holds the connection's writes, flushes and shutdown until `until` ends (after any
    /// hold already set); the task that serves the connection waits for it like for any
    /// other I/O. The caller bounds `until`.
    pub fn hold_writes(&self, until: impl Future<Output = ()> + Send + 'static) {
        let mut held = self.held.lock().unwrap_or_else(PoisonError::into_inner);
        *held = Some(match held.take() {
            None => Box::pin(until),
            Some(earlier) => Box::pin(async move {
                earlier.await;
                until.await;
            }),
        });
    }

    /// Ready once nothing holds the writes.
    fn poll_held(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        let held = self.held.get_mut().unwrap_or_else(PoisonError::into_inner);
        if let Some(until) = held {
            std::task::ready!(until.as_mut().poll(cx));
            *held = None;
        }
        Poll::Ready(())
    }

    fn owed(&self) -> bool {
        self.answer_owed.load(Ordering::Acquire)
    }

    /// What a write to a caller that is gone comes to: dropped while an answer is owed
    /// (reported written), a broken pipe after.
    fn write_to_gone<T>(&self, written: T) -> Poll<io::Result<T>> {
        if self.owed() {
            Poll::Ready(Ok(written))
        } else {
            Poll::Ready(Err(io::Error::new(io::ErrorKind::BrokenPipe, "the caller has gone")))
        }
    }

    /// A write's outcome: a failure while an answer is owed means the caller is gone.
    fn wrote<T>(&mut self, result: Poll<io::Result<T>>, written: T) -> Poll<io::Result<T>> {
        match result {
            Poll::Ready(Err(e)) if self.owed() => {
                log::debug!("the caller went away before its creation was answered ({e}); reading the answer on");
                self.caller_gone = true;
                Poll::Ready(Ok(written))
            }
            other => other,
        }
    }

    /// Waits for the connection's first bytes (or its end, a failure, the head deadline) and
    /// keeps them for the first reads; past [`FIRST_BYTES_AFTER_STOP`] into a shutdown,
    /// stops waiting (Pingora then drops the connection, as it drops idle ones).
    async fn read_first(&mut self, mut shutdown: ShutdownWatch) {
        let stopping = async {
            while !*shutdown.borrow_and_update() {
                if shutdown.changed().await.is_err() {
                    // no one can signal a shutdown any more: wait on the read alone
                    std::future::pending::<()>().await;
                }
            }
            tokio::time::sleep(FIRST_BYTES_AFTER_STOP).await;
        };
        let mut bytes = vec![0; FIRST_READ];
        let mut filled = ReadBuf::new(&mut bytes);
        let read = tokio::select! {
            biased;
            read = std::future::poll_fn(|cx| self.read_caller(cx, &mut filled)) => read,
            () = stopping => return,
        };
        let len = filled.filled().len();
        bytes.truncate(len);
        self.first = Some((read.map(|()| bytes), 0));
    }

    /// Serves the first read kept by [`read_first`](Self::read_first), if any is left.
    fn take_first(&mut self, buf: &mut ReadBuf<'_>) -> Option<io::Result<()>> {
        let (read, taken) = self.first.take()?;
        let bytes = match read {
            Ok(bytes) => bytes,
            Err(e) => return Some(Err(e)),
        };
        let rest = bytes.get(taken..).unwrap_or_default();
        let n = rest.len().min(buf.remaining());
        buf.put_slice(rest.get(..n).unwrap_or_default());
        if taken + n < bytes.len() {
            self.first = Some((Ok(bytes), taken + n));
        }
        Some(Ok(()))
    }

    /// Gives up the read: the deadline passed while a head was awaited.
    fn expire(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.deadline_ms.store(0, Ordering::Release);
        if self.head_started.load(Ordering::Acquire) {
            // best effort: the socket's send buffer is empty while a head is awaited
            let _ = Pin::new(&mut self.inner).poll_write(cx, REQUEST_TIMEOUT);
            let _ = Pin::new(&mut self.inner).poll_flush(cx);
        }
        Poll::Ready(Err(io::Error::new(io::ErrorKind::TimedOut, "the request head did not arrive in time")))
    }
}

impl AsyncRead for HeadDeadline {
    /// The clock is read only when a read would block while the deadline is armed: a
    /// trickle of bytes blocks between bytes, and a connection that never blocks fills
    /// Pingora's head buffer and fails on its own. The timer is touched only then too, so a
    /// busy connection pays neither a clock read nor a timer registration per read.
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        if let Some(first) = self.take_first(buf) {
            return Poll::Ready(first);
        }
        self.read_caller(cx, buf)
    }
}

impl HeadDeadline {
    /// A read from the caller, under the head deadline and the rules of an owed answer.
    fn read_caller(&mut self, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        if self.input_done.load(Ordering::Acquire) {
            // nothing more is read from the caller: not yet while its answer is owed (the
            // request goes on), then the end of the stream
            return if self.owed() { Poll::Pending } else { Poll::Ready(Ok(())) };
        }
        let (before, room) = (buf.filled().len(), buf.remaining() > 0);
        let read = Pin::new(&mut self.inner).poll_read(cx, buf);
        if self.owed() && read.is_ready() && room {
            // the request was read whole: an end, a failure or more bytes (a stray CRLF, a
            // pipelined request) would each make Pingora stop reading the answer. Bytes are
            // dropped, and the connection closes once the answer is out (a half-closed
            // caller still gets it; one that is gone fails the writes, see `wrote`)
            let what = match &read {
                Poll::Ready(Err(_)) => "failed",
                _ if buf.filled().len() > before => "sent more",
                _ => "closed its side",
            };
            buf.set_filled(before);
            log::debug!("the caller {what} before its creation was answered; reading the answer on");
            self.input_done.store(true, Ordering::Release);
            return Poll::Pending;
        }
        let Some(when) = self.deadline() else { return read };
        match read {
            Poll::Ready(_) => {
                if buf.filled().len() > before {
                    self.head_started.store(true, Ordering::Release);
                }
                read
            }
            Poll::Pending => {
                if Instant::now() >= when {
                    return self.expire(cx);
                }
                if self.sleep.deadline() != when {
                    self.sleep.as_mut().reset(when);
                }
                if self.sleep.as_mut().poll(cx).is_ready() {
                    return self.expire(cx);
                }
                Poll::Pending
            }
        }
    }
}

impl AsyncWrite for HeadDeadline {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        std::task::ready!(self.poll_held(cx));
        if self.caller_gone {
            return self.write_to_gone(buf.len());
        }
        let result = Pin::new(&mut self.inner).poll_write(cx, buf);
        self.wrote(result, buf.len())
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        std::task::ready!(self.poll_held(cx));
        if self.caller_gone {
            return self.write_to_gone(());
        }
        let result = Pin::new(&mut self.inner).poll_flush(cx);
        self.wrote(result, ())
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        // a close ends an answer delimited by it: held like the answer's last bytes
        std::task::ready!(self.poll_held(cx));
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        std::task::ready!(self.poll_held(cx));
        let length = bufs.iter().map(|buf| buf.len()).sum();
        if self.caller_gone {
            return self.write_to_gone(length);
        }
        let result = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        self.wrote(result, length)
    }
    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

// === impl Pingora's stream traits for HeadDeadline (delegation) ===

#[async_trait]
impl Shutdown for HeadDeadline {
    async fn shutdown(&mut self) {
        std::future::poll_fn(|cx| self.poll_held(cx)).await;
        self.inner.shutdown().await;
    }
}

impl UniqueID for HeadDeadline {
    fn id(&self) -> UniqueIDType {
        self.inner.id()
    }
}

impl Ssl for HeadDeadline {
    fn get_ssl(&self) -> Option<&pingora::protocols::tls::TlsRef> {
        self.inner.get_ssl()
    }
    fn get_ssl_digest(&self) -> Option<Arc<pingora::protocols::tls::SslDigest>> {
        self.inner.get_ssl_digest()
    }
    fn selected_alpn_proto(&self) -> Option<ALPN> {
        self.inner.selected_alpn_proto()
    }
}

impl GetTimingDigest for HeadDeadline {
    fn get_timing_digest(&self) -> Vec<Option<TimingDigest>> {
        self.inner.get_timing_digest()
    }
    fn get_read_pending_time(&self) -> Duration {
        self.inner.get_read_pending_time()
    }
    fn get_write_pending_time(&self) -> Duration {
        self.inner.get_write_pending_time()
    }
}

impl GetProxyDigest for HeadDeadline {
    fn get_proxy_digest(&self) -> Option<Arc<pingora::protocols::raw_connect::ProxyDigest>> {
        self.inner.get_proxy_digest()
    }
}

impl GetSocketDigest for HeadDeadline {
    fn get_socket_digest(&self) -> Option<Arc<SocketDigest>> {
        self.inner.get_socket_digest()
    }
}

#[async_trait]
impl Peek for HeadDeadline {
    /// As Pingora's own streams: reads `buf` whole, then puts it back in front of what is
    /// left of the first read (Pingora peeks for an `h2c` preface, which modegate leaves
    /// off).
    async fn try_peek(&mut self, buf: &mut [u8]) -> io::Result<bool> {
        use tokio::io::AsyncReadExt;
        self.read_exact(buf).await?;
        let mut again = buf.to_vec();
        if let Some((Ok(rest), taken)) = self.first.take() {
            again.extend_from_slice(rest.get(taken..).unwrap_or_default());
        }
        self.first = Some((Ok(again), 0));
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// A connection with its answer held, and the peer that reads it.
    fn held_connection() -> (HeadDeadline, tokio::net::UnixStream) {
        let (ours, theirs) = tokio::net::UnixStream::pair().expect("socket pair");
        let inner: Stream = Box::new(pingora::protocols::l4::stream::Stream::from(ours));
        (HeadDeadline::new(inner, Duration::from_secs(5)), theirs)
    }

    async fn nothing_arrives(peer: &mut tokio::net::UnixStream) -> bool {
        let mut byte = [0u8; 1];
        tokio::time::timeout(Duration::from_millis(50), peer.read(&mut byte)).await.is_err()
    }

    /// The first read, made before Pingora has the connection, is served back whole in
    /// pieces of any size, peeks included; a shutdown stops the wait for an idle one.
    #[tokio::test]
    async fn the_first_read_is_served_back_whole_and_an_idle_one_ends_at_a_stop() {
        let (mut connection, mut peer) = held_connection();
        let (stop, shutdown) = tokio::sync::watch::channel(false);
        peer.write_all(b"GET / HTTP/1.1\r\n").await.expect("write");
        connection.read_first(shutdown.clone()).await;
        peer.write_all(b"Host: a\r\n\r\n").await.expect("write");
        let mut peeked = [0u8; 3];
        assert!(connection.try_peek(&mut peeked).await.expect("peek"));
        assert_eq!(&peeked, b"GET");
        let mut got = Vec::new();
        let mut piece = [0u8; 5];
        while got.len() < 27 {
            let n = connection.read(&mut piece).await.expect("read");
            assert!(n > 0, "the stream ended early: {got:?}");
            got.extend_from_slice(piece.get(..n).expect("within the piece"));
        }
        assert_eq!(got, b"GET / HTTP/1.1\r\nHost: a\r\n\r\n");
        // nothing sent: the wait ends shortly after a stop, leaving nothing read
        let (mut idle, _peer) = held_connection();
        stop.send(true).expect("stop");
        let waited = tokio::time::Instant::now();
        tokio::time::timeout(Duration::from_secs(3), idle.read_first(shutdown)).await.expect("the wait ends");
        assert!(waited.elapsed() >= FIRST_BYTES_AFTER_STOP);
        assert!(idle.first.is_none());
    }

    #[tokio::test]
    async fn held_writes_go_out_once_every_hold_has_ended() {
        let (mut connection, mut peer) = held_connection();
        let (first, first_done) = tokio::sync::oneshot::channel::<()>();
        let (second, second_done) = tokio::sync::oneshot::channel::<()>();
        connection.hold_writes(async move {
            let _ = first_done.await;
        });
        connection.hold_writes(async move {
            let _ = second_done.await;
        });
        let mut answer = std::pin::pin!(async {
            connection.write_all(b"HTTP/1.1 201 Created").await?;
            connection.flush().await?;
            // how Pingora closes a connection
            Shutdown::shutdown(&mut connection).await;
            Ok::<_, io::Error>(())
        });
        assert!(tokio::time::timeout(Duration::from_millis(50), answer.as_mut()).await.is_err(), "written while held");
        assert!(nothing_arrives(&mut peer).await);
        second.send(()).expect("second hold");
        assert!(
            tokio::time::timeout(Duration::from_millis(50), answer.as_mut()).await.is_err(),
            "one hold ended, not both"
        );
        assert!(nothing_arrives(&mut peer).await);
        first.send(()).expect("first hold");
        answer.await.expect("written once released");
        let mut received = Vec::new();
        peer.read_to_end(&mut received).await.expect("read");
        assert_eq!(received, b"HTTP/1.1 201 Created");
    }

    #[tokio::test]
    async fn a_caller_gone_while_an_answer_is_owed_ends_the_connection_only_after_the_request() {
        let (mut connection, peer) = held_connection();
        connection.deadline_ms.store(0, Ordering::Release); // the head is in
        connection.answer_owed.store(true, Ordering::Release);
        drop(peer);
        let mut byte = [0u8; 1];
        let read = tokio::time::timeout(Duration::from_millis(50), connection.read(&mut byte)).await;
        assert!(read.is_err(), "the caller's close is not seen while the answer is owed");
        // the peer is gone: writes fail underneath, and are dropped
        for _ in 0..3 {
            connection.write_all(b"HTTP/1.1 201 Created\r\n").await.expect("dropped, not failed");
        }
        connection.flush().await.expect("dropped, not failed");
        assert!(connection.caller_gone);
        // the request has ended: the connection reads as closed and writes fail
        connection.answer_owed.store(false, Ordering::Release);
        assert_eq!(connection.read(&mut byte).await.expect("end of stream"), 0);
        assert_eq!(connection.write(b"x").await.map_err(|e| e.kind()), Err(io::ErrorKind::BrokenPipe));
    }

    #[tokio::test]
    async fn bytes_past_a_request_whose_answer_is_owed_are_dropped_and_the_answer_goes_out() {
        let (mut connection, mut peer) = held_connection();
        connection.deadline_ms.store(0, Ordering::Release); // the head is in
        connection.answer_owed.store(true, Ordering::Release);
        peer.write_all(b"\r\nGET / HTTP/1.1\r\n\r\n").await.expect("sent");
        let mut byte = [0u8; 1];
        let read = tokio::time::timeout(Duration::from_millis(50), connection.read(&mut byte)).await;
        assert!(read.is_err(), "the extra bytes are not read while the answer is owed");
        connection.write_all(b"HTTP/1.1 201 Created\r\n\r\n").await.expect("written");
        connection.answer_owed.store(false, Ordering::Release);
        assert_eq!(connection.read(&mut byte).await.expect("end of stream"), 0, "no next request is read");
        Shutdown::shutdown(&mut connection).await;
        let mut received = Vec::new();
        peer.read_to_end(&mut received).await.expect("read");
        assert_eq!(received, b"HTTP/1.1 201 Created\r\n\r\n");
    }
}
