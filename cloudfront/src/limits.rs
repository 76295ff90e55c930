//! What `tfreg serve` grants one client before cutting it off, so that slow or greedy clients
//! cannot hold the server's connections or memory while others wait.
//!
//! Every resource a connection holds is bounded in time or size: the TLS handshake, the
//! request head (slowloris: a head sent a byte at a time), the body (a body trickled slower
//! than a minimum rate), the head's size (CloudFront's own 20 KB cap, so local and AWS refuse
//! the same requests), and the number of connections served at once.

use bytes::Bytes;
use hyper::body::{Body, Frame, SizeHint};
use std::collections::HashMap;
use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectionLimits {
    /// A TLS handshake not finished by then is dropped.
    pub tls_handshake_timeout: Duration,
    /// Time to send a whole request head; also how long a keep-alive connection may sit idle
    /// between requests (hyper's timer runs while it waits for the next head).
    pub header_read_timeout: Duration,
    /// A body must keep up `min_body_rate` bytes per second after this grace period.
    pub body_grace: Duration,
    pub min_body_rate: u64,
    /// A write that makes no progress for this long ends the connection: a client that stops
    /// reading its answer (a slow-read attack) cannot hold the connection forever.
    pub write_stall_timeout: Duration,
    /// Request line and headers, in bytes (CloudFront's limit: 20 KB).
    pub max_header_bytes: usize,
    /// Connections served at once; further ones wait in the kernel's accept queue.
    pub max_connections: usize,
    /// Connections one client address may hold at once; further ones are closed at once, so
    /// that one client cannot take every slot of `max_connections`.
    pub max_connections_per_ip: usize,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        ConnectionLimits {
            tls_handshake_timeout: Duration::from_secs(10),
            header_read_timeout: Duration::from_secs(Self::DEFAULT_HEADER_READ_TIMEOUT_SECS),
            body_grace: Duration::from_secs(Self::DEFAULT_BODY_GRACE_SECS),
            min_body_rate: Self::DEFAULT_MIN_BODY_RATE,
            write_stall_timeout: Duration::from_secs(Self::DEFAULT_WRITE_STALL_TIMEOUT_SECS),
            max_header_bytes: 20 * 1024,
            max_connections: Self::DEFAULT_MAX_CONNECTIONS,
            max_connections_per_ip: Self::DEFAULT_MAX_CONNECTIONS_PER_IP,
        }
    }
}

impl ConnectionLimits {
    pub const DEFAULT_HEADER_READ_TIMEOUT_SECS: u64 = 20;
    pub const DEFAULT_BODY_GRACE_SECS: u64 = 10;
    /// 1 KiB/s: a 100 MB upload may take 27 hours at this rate; a client sending a byte every
    /// few seconds cannot hold a connection beyond the grace period.
    pub const DEFAULT_MIN_BODY_RATE: u64 = 1024;
    /// Linux's receiver opens its window only a full segment at a time, so a client reading a
    /// byte a second stalls the sender for hours; an honest one makes progress every few
    /// milliseconds.
    pub const DEFAULT_WRITE_STALL_TIMEOUT_SECS: u64 = 30;
    /// Well under the default open-file limit of many systems (1024 descriptors), which a
    /// server that accepts without bound hits first, and then every accept fails.
    pub const DEFAULT_MAX_CONNECTIONS: usize = 768;
    /// A third of the slots: a `terraform init` opens a few dozen connections at most.
    pub const DEFAULT_MAX_CONNECTIONS_PER_IP: usize = 256;
}

/// The connections each client address holds (see [`ConnectionLimits::max_connections_per_ip`]).
#[derive(Debug)]
pub struct ConnectionsPerIp {
    max: usize,
    counts: Mutex<HashMap<IpAddr, usize>>,
}

/// One connection's place in [`ConnectionsPerIp`], given back when dropped.
#[derive(Debug)]
pub struct IpSlot {
    table: Arc<ConnectionsPerIp>,
    ip: IpAddr,
}

impl ConnectionsPerIp {
    pub fn new(max: usize) -> Arc<Self> {
        Arc::new(ConnectionsPerIp {
            max: max.max(1),
            counts: Mutex::new(HashMap::new()),
        })
    }

    /// A slot for a connection from `ip`, or `None` when that address holds `max` already.
    pub fn admit(self: &Arc<Self>, ip: IpAddr) -> Option<IpSlot> {
        let mut counts = self.counts.lock().expect("connection table lock");
        let count = counts.entry(ip).or_insert(0);
        if *count >= self.max {
            return None;
        }
        *count += 1;
        Some(IpSlot {
            table: self.clone(),
            ip,
        })
    }

    /// Connections `ip` holds now.
    pub fn held_by(&self, ip: IpAddr) -> usize {
        let counts = self.counts.lock().expect("connection table lock");
        counts.get(&ip).copied().unwrap_or(0)
    }
}

impl Drop for IpSlot {
    fn drop(&mut self) {
        let mut counts = self.table.counts.lock().expect("connection table lock");
        if let Some(count) = counts.get_mut(&self.ip) {
            *count -= 1;
            // Addresses that hold nothing are forgotten: the table stays as small as the
            // number of clients connected now.
            if *count == 0 {
                counts.remove(&self.ip);
            }
        }
    }
}

/// A connection whose writes fail once one has made no progress for `stall` (see
/// [`ConnectionLimits::write_stall_timeout`]). Reads pass through: the head and body limits
/// bound them.
pub struct WriteStallGuard<S> {
    inner: S,
    stall: Duration,
    stalled_since: Option<Pin<Box<Sleep>>>,
}

impl<S> WriteStallGuard<S> {
    pub fn new(inner: S, stall: Duration) -> Self {
        WriteStallGuard {
            inner,
            stall,
            stalled_since: None,
        }
    }

    /// What a write, flush or shutdown that made progress (`Ready`) or none (`Pending`) gives.
    fn judge<T>(
        &mut self,
        cx: &mut Context<'_>,
        poll: Poll<std::io::Result<T>>,
    ) -> Poll<std::io::Result<T>> {
        if poll.is_ready() {
            self.stalled_since = None;
            return poll;
        }
        let stall = self.stall;
        let timer = self
            .stalled_since
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(stall)));
        match timer.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                format!("the client read nothing for {} s", stall.as_secs_f64()),
            ))),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for WriteStallGuard<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for WriteStallGuard<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let poll = Pin::new(&mut self.inner).poll_write(cx, buf);
        self.judge(cx, poll)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let poll = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        self.judge(cx, poll)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        let poll = Pin::new(&mut self.inner).poll_flush(cx);
        self.judge(cx, poll)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        let poll = Pin::new(&mut self.inner).poll_shutdown(cx);
        self.judge(cx, poll)
    }
}

/// The error a [`PacedBody`] ends with when the client sends too slowly (answered `408`).
#[derive(Debug)]
pub struct BodyTooSlow {
    pub received: u64,
    pub elapsed: Duration,
    pub min_rate: u64,
}

impl std::fmt::Display for BodyTooSlow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "the request body arrived too slowly: {} bytes in {:.1} s (the minimum is {} bytes/s)",
            self.received,
            self.elapsed.as_secs_f64(),
            self.min_rate
        )
    }
}

impl std::error::Error for BodyTooSlow {}

/// What a [`PacedBody`] can end with.
#[derive(Debug)]
pub enum PacedBodyError<E> {
    Inner(E),
    TooSlow(BodyTooSlow),
}

impl<E: std::fmt::Display> std::fmt::Display for PacedBodyError<E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PacedBodyError::Inner(error) => error.fmt(f),
            PacedBodyError::TooSlow(too_slow) => too_slow.fmt(f),
        }
    }
}

impl<E: std::error::Error + 'static> std::error::Error for PacedBodyError<E> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            PacedBodyError::Inner(error) => Some(error),
            PacedBodyError::TooSlow(too_slow) => Some(too_slow),
        }
    }
}

/// Finds a [`BodyTooSlow`] in an error's chain (a body error may come wrapped by a limit).
pub fn body_too_slow<'a>(error: &'a (dyn std::error::Error + 'static)) -> Option<&'a BodyTooSlow> {
    let mut current = Some(error);
    while let Some(error) = current {
        if let Some(too_slow) = error.downcast_ref::<BodyTooSlow>() {
            return Some(too_slow);
        }
        current = error.source();
    }
    None
}

/// A request body that fails once the client falls behind: after `grace`, the bytes received
/// must keep up with `min_rate` per second. The deadline moves forward with every byte, so a
/// steady slow upload goes through and a trickle (a slow-body attack) ends with [`BodyTooSlow`].
pub struct PacedBody<B> {
    inner: B,
    started: Instant,
    received: u64,
    grace: Duration,
    min_rate: u64,
    deadline: Pin<Box<Sleep>>,
}

impl<B> PacedBody<B> {
    pub fn new(inner: B, grace: Duration, min_rate: u64) -> Self {
        let started = Instant::now();
        PacedBody {
            inner,
            started,
            received: 0,
            grace,
            min_rate: min_rate.max(1),
            deadline: Box::pin(tokio::time::sleep_until(started + grace)),
        }
    }

    fn next_deadline(&self) -> Instant {
        let earned = Duration::from_secs_f64(self.received as f64 / self.min_rate as f64);
        self.started + self.grace + earned
    }
}

impl<B> Body for PacedBody<B>
where
    B: Body<Data = Bytes> + Unpin,
{
    type Data = Bytes;
    type Error = PacedBodyError<B::Error>;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = &mut *self;
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    this.received += data.len() as u64;
                    let deadline = this.next_deadline();
                    this.deadline.as_mut().reset(deadline);
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(Some(Err(error))) => Poll::Ready(Some(Err(PacedBodyError::Inner(error)))),
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => match this.deadline.as_mut().poll(cx) {
                Poll::Ready(()) => Poll::Ready(Some(Err(PacedBodyError::TooSlow(BodyTooSlow {
                    received: this.received,
                    elapsed: this.started.elapsed(),
                    min_rate: this.min_rate,
                })))),
                Poll::Pending => Poll::Pending,
            },
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::{BodyExt, StreamBody};

    type Frames = futures_util::stream::BoxStream<'static, Result<Frame<Bytes>, std::io::Error>>;

    /// A body that sends `chunks`, waiting `gap` before each.
    fn trickle(chunks: usize, chunk: &'static [u8], gap: Duration) -> StreamBody<Frames> {
        use futures_util::StreamExt;
        let stream = futures_util::stream::iter(0..chunks).then(move |_| async move {
            tokio::time::sleep(gap).await;
            Ok(Frame::data(Bytes::from_static(chunk)))
        });
        StreamBody::new(stream.boxed())
    }

    #[tokio::test]
    async fn a_write_the_peer_never_reads_fails_and_one_it_reads_goes_through() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        // A pipe holding 1 KiB: the second KiB waits for the reader.
        let (near, far) = tokio::io::duplex(1024);
        let mut guarded = WriteStallGuard::new(near, Duration::from_millis(200));
        let error = guarded.write_all(&[1u8; 4096]).await.unwrap_err();
        assert_eq!(error.kind(), std::io::ErrorKind::TimedOut);
        drop(far);

        let (near, mut far_reader) = tokio::io::duplex(1024);
        let mut guarded = WriteStallGuard::new(near, Duration::from_millis(200));
        let reader = tokio::spawn(async move {
            let mut all = Vec::new();
            far_reader.read_to_end(&mut all).await.unwrap();
            all.len()
        });
        guarded.write_all(&[1u8; 64 * 1024]).await.unwrap();
        guarded.shutdown().await.unwrap();
        assert_eq!(reader.await.unwrap(), 64 * 1024);
    }

    #[test]
    fn an_address_gets_its_share_of_connections_and_each_slot_comes_back() {
        let table = ConnectionsPerIp::new(2);
        let a: IpAddr = "127.0.0.2".parse().unwrap();
        let b: IpAddr = "127.0.0.3".parse().unwrap();
        let first = table.admit(a).unwrap();
        let _second = table.admit(a).unwrap();
        assert!(
            table.admit(a).is_none(),
            "a third connection from one address"
        );
        assert!(
            table.admit(b).is_some(),
            "another address is still admitted"
        );
        drop(first);
        assert_eq!(table.held_by(a), 1);
        assert!(table.admit(a).is_some());
        assert_eq!(table.held_by(b), 0, "a dropped slot is given back");
    }

    #[tokio::test]
    async fn a_steady_body_above_the_rate_is_read_whole() {
        // 10 KiB at about 10 KiB/s against a 1 KiB/s minimum after 0.3 s.
        let body = PacedBody::new(
            trickle(10, &[7; 1024], Duration::from_millis(100)),
            Duration::from_millis(300),
            1024,
        );
        let bytes = body.collect().await.unwrap().to_bytes();
        assert_eq!(bytes.len(), 10 * 1024);
    }

    #[tokio::test]
    async fn a_trickled_body_fails_as_too_slow() {
        // A byte every 0.2 s against 1 KiB/s after 0.3 s: cut soon after the grace period.
        let body = PacedBody::new(
            trickle(100, b"x", Duration::from_millis(200)),
            Duration::from_millis(300),
            1024,
        );
        let error = body.collect().await.unwrap_err();
        let too_slow = body_too_slow(&error).expect("BodyTooSlow");
        assert!(too_slow.received < 100, "{too_slow}");
        assert!(
            error
                .to_string()
                .starts_with("the request body arrived too slowly: "),
            "{error}"
        );
    }
}
