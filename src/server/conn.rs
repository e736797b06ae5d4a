//! What one connection may cost the server (issue 9, item 16): how many connections one client
//! address may hold ([`PerIp`]), and the watchdog that drops a connection that is idle or reads
//! its response too slowly ([`watchdog`], with the pure rule in [`SendRate`]). The accept loop
//! in the parent module wires them together; TLS and HTTP are not this module's business.
//!
//! Why a minimum send rate and not only the idle timeout: a client that reads one byte now and
//! then is never idle, so without it 512 such readers hold every slot forever. The rule only
//! counts time when the server is waiting on the client (a write found the socket full), so a
//! keep-alive connection between requests, or a slow disk, is never blamed on the client.
//! A dropped connection is reset (zero linger) rather than closed: an orderly close would
//! leave the unsent response in the kernel, waiting on the same slow reader.

use std::collections::HashMap;
use std::collections::VecDeque;
use std::io;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

use super::sendfile::{self, Outbox};

/// How often the watchdog looks at a connection.
pub(super) const TICK: Duration = Duration::from_millis(500);

/// The address a connection limit counts: an IPv4 address (IPv4-mapped IPv6 included), or
/// the /64 of an IPv6 address, which one host or home network usually gets whole (RFC 6177).
pub(super) fn client_key(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V4(v4) => IpAddr::V4(v4),
        IpAddr::V6(v6) => {
            let bits = u128::from(v6) & !((1u128 << 64) - 1);
            IpAddr::V6(bits.into())
        }
    }
}

/// Open connections by client address, at most `limit` each.
#[derive(Debug)]
pub(super) struct PerIp {
    limit: usize,
    open: Mutex<HashMap<IpAddr, usize>>,
}

impl PerIp {
    /// A table allowing `limit` connections per address (at least one).
    pub(super) fn new(limit: usize) -> Arc<PerIp> {
        Arc::new(PerIp {
            limit: limit.max(1),
            open: Mutex::new(HashMap::new()),
        })
    }

    /// The most connections one address may hold.
    pub(super) fn limit(&self) -> usize {
        self.limit
    }

    /// A slot for one more connection from `ip`, `None` when it holds `limit` already. The
    /// slot is given back when dropped.
    pub(super) fn try_acquire(self: &Arc<Self>, ip: IpAddr) -> Option<IpSlot> {
        let key = client_key(ip);
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        let n = open.entry(key).or_insert(0);
        if *n >= self.limit {
            return None;
        }
        *n += 1;
        Some(IpSlot {
            table: self.clone(),
            key,
        })
    }

    /// How many connections `ip` holds now.
    #[cfg(test)]
    pub(super) fn count(&self, ip: IpAddr) -> usize {
        let open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        open.get(&client_key(ip)).copied().unwrap_or(0)
    }
}

/// One connection's place in a [`PerIp`] table.
#[derive(Debug)]
pub(super) struct IpSlot {
    table: Arc<PerIp>,
    key: IpAddr,
}

impl Drop for IpSlot {
    fn drop(&mut self) {
        let mut open = self.table.open.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = open.get_mut(&self.key) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                open.remove(&self.key);
            }
        }
    }
}

/// The minimum-send-rate rule, pure: fed one sample per [`TICK`], it says when a connection
/// has been waiting on its client for a whole window while taking less than the minimum.
#[derive(Debug)]
pub(super) struct SendRate {
    /// Least bytes per window (0: the rule is off).
    min_per_window: u64,
    /// Samples per window.
    ticks: usize,
    /// (bytes sent, whether the server waited on the client) per tick, newest last.
    samples: VecDeque<(u64, bool)>,
}

impl SendRate {
    /// A rule of `min_rate` bytes per second over `window` (at least one tick).
    pub(super) fn new(min_rate: u64, window: Duration) -> SendRate {
        let ticks = (window.as_millis() / TICK.as_millis()).max(1);
        let ticks = usize::try_from(ticks).unwrap_or(usize::MAX);
        let window_ms = u64::try_from(window.as_millis()).unwrap_or(u64::MAX);
        SendRate {
            min_per_window: min_rate.saturating_mul(window_ms) / 1000,
            ticks,
            samples: VecDeque::with_capacity(ticks.min(1024)),
        }
    }

    /// Records one tick: `sent` bytes, and whether a write found the socket full (the server
    /// was waiting on the client). True when the connection must be dropped: every tick of
    /// the last window waited on the client, and the window took less than the minimum.
    pub(super) fn record(&mut self, sent: u64, waited: bool) -> bool {
        if self.min_per_window == 0 {
            return false;
        }
        if self.samples.len() == self.ticks {
            self.samples.pop_front();
        }
        self.samples.push_back((sent, waited));
        self.samples.len() == self.ticks
            && self.samples.iter().all(|&(_, w)| w)
            && self
                .samples
                .iter()
                .fold(0u64, |sum, &(n, _)| sum.saturating_add(n))
                < self.min_per_window
    }
}

/// What the I/O wrapper tells the watchdog, shared between them.
#[derive(Debug)]
pub(super) struct Meter {
    epoch: Instant,
    /// Milliseconds since `epoch` when a byte last moved either way.
    last: AtomicU64,
    /// Bytes written so far.
    sent: AtomicU64,
    /// A write found the socket full since the watchdog last looked.
    waited: AtomicBool,
    /// A write is waiting for room right now.
    blocked: AtomicBool,
    /// The watchdog dropped the connection: reset it instead of closing it.
    abort: AtomicBool,
}

impl Meter {
    /// A meter for a connection that starts now.
    pub(super) fn new() -> Arc<Meter> {
        Arc::new(Meter {
            epoch: Instant::now(),
            last: AtomicU64::new(0),
            sent: AtomicU64::new(0),
            waited: AtomicBool::new(false),
            blocked: AtomicBool::new(false),
            abort: AtomicBool::new(false),
        })
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    fn touch(&self) {
        self.last.store(self.now_ms(), Ordering::Relaxed);
    }

    fn wrote(&self, poll: &Poll<io::Result<usize>>) {
        match poll {
            Poll::Ready(Ok(n)) => {
                self.sent.fetch_add(*n as u64, Ordering::Relaxed);
                self.blocked.store(false, Ordering::Relaxed);
                self.touch();
            }
            Poll::Ready(Err(_)) => self.touch(),
            Poll::Pending => {
                self.blocked.store(true, Ordering::Relaxed);
                self.waited.store(true, Ordering::Relaxed);
            }
        }
    }
}

/// Why the watchdog ended a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Dropped {
    /// No byte moved for the idle timeout.
    Idle,
    /// The client read slower than the minimum send rate for a whole window.
    Slow {
        /// Bytes it took in the last window.
        sent: u64,
    },
}

/// Completes when the connection must be dropped: idle for `idle`, or reading slower than
/// `min_rate` bytes/s for `window` while the server waited on it. Marks the meter so that the
/// connection is reset when its I/O is dropped.
pub(super) async fn watchdog(
    meter: Arc<Meter>,
    idle: Duration,
    min_rate: u64,
    window: Duration,
) -> Dropped {
    let idle_ms = u64::try_from(idle.as_millis()).unwrap_or(u64::MAX);
    let mut rule = SendRate::new(min_rate, window);
    let mut before = 0u64;
    let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + TICK, TICK);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let dropped = loop {
        ticks.tick().await;
        // touch() may store a time after now_ms() was read: saturate, never underflow.
        let quiet = meter
            .now_ms()
            .saturating_sub(meter.last.load(Ordering::Relaxed));
        if quiet >= idle_ms {
            break Dropped::Idle;
        }
        let sent = meter.sent.load(Ordering::Relaxed);
        let delta = sent.saturating_sub(before);
        before = sent;
        let waited =
            meter.waited.swap(false, Ordering::Relaxed) || meter.blocked.load(Ordering::Relaxed);
        if rule.record(delta, waited) {
            let in_window = rule.samples.iter().map(|&(n, _)| n).sum();
            break Dropped::Slow { sent: in_window };
        }
    };
    meter.abort.store(true, Ordering::Relaxed);
    dropped
}

/// A TCP stream that reports to its [`Meter`] and holds its [`IpSlot`]. The slot is given back
/// before the socket closes (fields drop in order), so a client that sees the close can
/// connect again at once.
pub(super) struct ConnIo {
    _slot: Option<IpSlot>,
    inner: TcpStream,
    meter: Arc<Meter>,
    /// Files this connection sends for its bodies' stand-ins ([`sendfile`]).
    outbox: Option<Arc<Outbox>>,
}

impl ConnIo {
    /// Wraps an accepted stream.
    pub(super) fn new(inner: TcpStream, slot: Option<IpSlot>, meter: Arc<Meter>) -> ConnIo {
        ConnIo {
            _slot: slot,
            inner,
            meter,
            outbox: None,
        }
    }

    /// Sends the files of `outbox` for the stand-ins written to it (plain HTTP only: bytes
    /// written here must reach the socket as they are).
    pub(super) fn with_outbox(mut self, outbox: Arc<Outbox>) -> ConnIo {
        self.outbox = Some(outbox);
        self
    }

    /// `sendfile` of what the stand-in `slice` stands for: some of it, or an error (the
    /// stand-in matches no queued file, or the file ends before its blob's size).
    fn poll_send(
        &self,
        cx: &mut Context<'_>,
        outbox: &Outbox,
        slice: &[u8],
    ) -> Poll<io::Result<usize>> {
        let (blob, at, len) = outbox.next(slice)?;
        let file = blob
            .as_file()
            .ok_or_else(|| io::Error::other("a stand-in for a blob without a file"))?;
        loop {
            std::task::ready!(self.inner.poll_write_ready(cx))?;
            let sent = self.inner.try_io(tokio::io::Interest::WRITABLE, || {
                sendfile::send(&self.inner, file, at, len)
            });
            match sent {
                Ok(0) => {
                    return Poll::Ready(Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "a blob's file ends before its size",
                    )));
                }
                Ok(n) => {
                    outbox.sent(n);
                    return Poll::Ready(Ok(n));
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
    }
}

impl Drop for ConnIo {
    fn drop(&mut self) {
        if self.meter.abort.load(Ordering::Relaxed) {
            // RST: the kernel drops what the slow reader has not taken yet.
            let _ = self.inner.set_zero_linger();
        }
    }
}

impl AsyncRead for ConnIo {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let poll = Pin::new(&mut self.inner).poll_read(cx, buf);
        if poll.is_ready() {
            self.meter.touch();
        }
        poll
    }
}

impl AsyncWrite for ConnIo {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let poll = match self.outbox.clone() {
            Some(outbox) if sendfile::is_stand_in(buf) => self.poll_send(cx, &outbox, buf),
            _ => Pin::new(&mut self.inner).poll_write(cx, buf),
        };
        self.meter.wrote(&poll);
        poll
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let poll = match self.outbox.clone() {
            // Our bytes up to the first stand-in in one `writev`; a stand-in first, by
            // `sendfile`. Either way some of `bufs`, as a write may take.
            Some(outbox) => {
                let first = bufs.iter().position(|b| sendfile::is_stand_in(b));
                match first.and_then(|i| bufs.split_at_checked(i)) {
                    Some((ours, [stand_in, ..])) if ours.iter().all(|b| b.is_empty()) => {
                        self.poll_send(cx, &outbox, stand_in)
                    }
                    Some((ours, _)) => Pin::new(&mut self.inner).poll_write_vectored(cx, ours),
                    None => Pin::new(&mut self.inner).poll_write_vectored(cx, bufs),
                }
            }
            None => Pin::new(&mut self.inner).poll_write_vectored(cx, bufs),
        };
        self.meter.wrote(&poll);
        poll
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn per_ip_slots_are_counted_and_given_back() {
        let table = PerIp::new(2);
        let a: IpAddr = "127.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.1".parse().unwrap();
        let s1 = table.try_acquire(a).unwrap();
        let s2 = table.try_acquire(a).unwrap();
        assert!(table.try_acquire(a).is_none());
        // IPv4-mapped IPv6 is the same client.
        assert!(
            table
                .try_acquire("::ffff:127.0.0.1".parse().unwrap())
                .is_none()
        );
        let other = table.try_acquire(b).unwrap();
        drop(s1);
        assert_eq!(table.count(a), 1);
        let s3 = table.try_acquire(a).unwrap();
        drop((s2, s3, other));
        assert_eq!(table.count(a), 0);
        assert!(table.open.lock().unwrap().is_empty(), "no entry is left");
        // One IPv6 /64 is one client.
        let v6 = PerIp::new(1);
        let _x = v6.try_acquire("2001:db8:1:2::1".parse().unwrap()).unwrap();
        assert!(
            v6.try_acquire("2001:db8:1:2:ffff::9".parse().unwrap())
                .is_none()
        );
        assert!(v6.try_acquire("2001:db8:1:3::1".parse().unwrap()).is_some());
    }

    #[test]
    fn send_rate_rule() {
        // 1000 B/s over 2 s = 4 ticks, 2000 B per window.
        let rule = || SendRate::new(1000, Duration::from_secs(2));
        // (samples, dropped after the last one)
        let cases: &[(&[(u64, bool)], bool)] = &[
            (&[(0, true); 3], false),   // not a whole window yet
            (&[(0, true); 4], true),    // stuck for a whole window
            (&[(499, true); 4], true),  // 1996 B < 2000 B
            (&[(500, true); 4], false), // exactly the minimum
            (&[(0, true), (0, true), (0, false), (0, true)], false), // it was not waiting
            (&[(0, false); 8], false),  // idle keep-alive: not our rule
            (
                &[(5000, true), (0, true), (0, true), (0, true), (0, true)],
                true,
            ), // slides
            (&[(5000, true), (0, true), (0, true), (0, true)], false),
        ];
        for (samples, want) in cases {
            let mut r = rule();
            let mut got = false;
            for &(n, w) in *samples {
                got = r.record(n, w);
            }
            assert_eq!(got, *want, "{samples:?}");
        }
        // Off when the minimum is 0.
        let mut off = SendRate::new(0, Duration::from_secs(2));
        assert!((0..10).all(|_| !off.record(0, true)));
        // Extreme settings neither overflow nor panic.
        let mut huge = SendRate::new(u64::MAX, Duration::from_secs(86_400));
        assert!(!huge.record(u64::MAX, true));
    }
}
