//! Blob bodies sent by `sendfile(2)` on plain-HTTP connections (issue 13: warm speed): the
//! kernel copies page cache to socket, where a body read into buffers costs a `pread` copy
//! into user space and a `write` copy out of it (the reference registry sends files this way).
//!
//! hyper has no file bodies: it writes what a body yields. So a body here yields *stand-ins*:
//! slices of [`STAND_IN`], a static region no other data lives in, one per *job* (a span of an
//! open file, at most [`JOB`] bytes), each job queued on the connection's [`Outbox`] as its
//! stand-in is yielded. The connection's I/O (`conn::ConnIo`) looks at every slice hyper
//! asks it to write: bytes of its own go out as usual, and a stand-in is replaced by
//! `sendfile` of the job at the front of the queue. hyper writes a connection's responses one
//! at a time and a body's chunks in order, so the queue's order is the order stand-ins reach
//! the socket. A stand-in that does not match the front job (no job, another length, another
//! place in the job) is an error that ends the connection: its zeros are never sent.
//!
//! Only where this cannot go wrong: plain TCP, HTTP/1, hyper writing queued chunks as they
//! are (`writev(true)`: it would otherwise copy them into its own buffer), and a body built
//! inside a request of that connection (the [`OUTBOX`] task-local, set around each request
//! by the accept loop). TLS connections have no outbox, so their bodies are read as before.
//! A job's pages that are not in the page cache (its first or last byte, asked with
//! `preadv2(RWF_NOWAIT)`) are read the usual way instead, on the blocking pool
//! ([`reads`](super::reads)): a cold disk never blocks the runtime's threads in `sendfile`.

use std::collections::VecDeque;
use std::io;
use std::ops::Range;
use std::sync::{Arc, Mutex};

use axum::body::Body;
use bytes::Bytes;

use crate::store::Blob;

/// Bytes of one job: the most one stand-in stands for.
pub(super) const JOB: usize = 1 << 20;

/// The stand-ins' bytes. Never read or written by anyone (`.bss`: it costs no memory): only
/// its addresses are compared.
static STAND_IN: [u8; JOB] = [0; JOB];

tokio::task_local! {
    /// The outbox of the connection whose request is being answered, when it has one.
    static OUTBOX: Arc<Outbox>;
}

/// Runs `answer` (a request's service call) with `outbox` as the one its bodies queue on.
pub(super) async fn scope<F: Future>(outbox: Arc<Outbox>, answer: F) -> F::Output {
    OUTBOX.scope(outbox, answer).await
}

/// The spans of files a connection owes its socket, in the order of their stand-ins.
#[derive(Debug, Default)]
pub(super) struct Outbox {
    jobs: Mutex<VecDeque<Job>>,
}

#[derive(Debug)]
struct Job {
    blob: Arc<Blob>,
    /// Where in the file the next byte comes from.
    at: u64,
    /// Bytes of the job not sent yet.
    left: usize,
    /// Bytes sent already: where in its stand-in the next slice must start.
    sent: usize,
}

/// Whether `slice` is (a part of) a stand-in.
pub(super) fn is_stand_in(slice: &[u8]) -> bool {
    let base = STAND_IN.as_ptr() as usize;
    let at = slice.as_ptr() as usize;
    !slice.is_empty() && at >= base && at < base + JOB
}

impl Outbox {
    fn push(&self, blob: Arc<Blob>, at: u64, len: usize) {
        let job = Job {
            blob,
            at,
            left: len,
            sent: 0,
        };
        self.jobs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push_back(job);
    }

    /// The file, offset and length to send for the stand-in `slice` (see [`is_stand_in`]),
    /// which must be the rest of the front job's, or an error.
    pub(super) fn next(&self, slice: &[u8]) -> io::Result<(Arc<Blob>, u64, usize)> {
        let offset = (slice.as_ptr() as usize).wrapping_sub(STAND_IN.as_ptr() as usize);
        let jobs = self.jobs.lock().unwrap_or_else(|e| e.into_inner());
        match jobs.front() {
            Some(job) if job.sent == offset && job.left == slice.len() => {
                Ok((job.blob.clone(), job.at, job.left))
            }
            _ => Err(io::Error::other(
                "a body's stand-in does not match the file queued for it",
            )),
        }
    }

    /// Records that `n` bytes of the front job went out.
    pub(super) fn sent(&self, n: usize) {
        let mut jobs = self.jobs.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(job) = jobs.front_mut() {
            let n = n.min(job.left);
            job.left -= n;
            job.sent += n;
            job.at += n as u64;
            if job.left == 0 {
                jobs.pop_front();
            }
        }
    }
}

/// The body of `span` (within the blob) of an open file blob, sent by `sendfile`, when the
/// request being answered came on a connection with an outbox; `None` otherwise.
pub(super) fn body(blob: &Arc<Blob>, span: &Range<u64>) -> Option<Body> {
    if !cfg!(target_os = "linux") {
        return None;
    }
    let outbox = OUTBOX.try_with(Arc::clone).ok()?;
    blob.as_file()?;
    // Where `preadv2(RWF_NOWAIT)` cannot tell (a file system without it), pages are taken
    // for resident: sendfile then blocks as long as a read of them would.
    let stream = futures_util::stream::try_unfold(
        (blob.clone(), span.clone(), outbox),
        |(blob, span, outbox)| async move {
            if span.start >= span.end {
                return Ok(None);
            }
            let len = (span.end - span.start).min(JOB as u64) as usize;
            let bytes = if resident(&blob, span.start, len) {
                outbox.push(blob.clone(), span.start, len);
                Bytes::from_static(STAND_IN.get(..len).unwrap_or_default())
            } else {
                super::reads::read(blob.clone(), span.clone()).await?
            };
            if bytes.is_empty() {
                return Err(io::Error::other("an empty read within a blob"));
            }
            let next = span.start + bytes.len() as u64..span.end;
            Ok::<_, io::Error>(Some((bytes, (blob, next, outbox))))
        },
    );
    Some(Body::from_stream(stream))
}

/// Whether the first and the last byte of `len` (> 0) bytes at `at` of the blob's file are in
/// the page cache, as far as the kernel says without waiting.
#[cfg(target_os = "linux")]
fn resident(blob: &Blob, at: u64, len: usize) -> bool {
    let Some(file) = blob.as_file() else {
        return false;
    };
    let last = at + len as u64 - 1;
    [at, last].iter().all(|&offset| {
        let mut byte = [0u8; 1];
        let mut bufs = [io::IoSliceMut::new(&mut byte)];
        match rustix::io::preadv2(file, &mut bufs, offset, rustix::io::ReadWriteFlags::NOWAIT) {
            Ok(n) => n == 1,
            Err(rustix::io::Errno::AGAIN) => false,
            // No RWF_NOWAIT here (EOPNOTSUPP): assume resident. Anything else: the usual read
            // will say what is wrong.
            Err(rustix::io::Errno::OPNOTSUPP) => true,
            Err(_) => false,
        }
    })
}

#[cfg(not(target_os = "linux"))]
fn resident(_: &Blob, _: u64, _: usize) -> bool {
    false
}

/// Sends up to `len` bytes at `at` of `file` to `socket` (non-blocking): how many went, or
/// `WouldBlock` when the socket is full. Zero for a `len` > 0 means the file ends early.
#[cfg(target_os = "linux")]
pub(super) fn send(
    socket: &tokio::net::TcpStream,
    file: &std::fs::File,
    at: u64,
    len: usize,
) -> io::Result<usize> {
    let mut offset = at;
    Ok(rustix::fs::sendfile(socket, file, Some(&mut offset), len)?)
}

#[cfg(not(target_os = "linux"))]
pub(super) fn send(
    _: &tokio::net::TcpStream,
    _: &std::fs::File,
    _: u64,
    _: usize,
) -> io::Result<usize> {
    Err(io::Error::other("sendfile is used on Linux only"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn blob() -> Arc<Blob> {
        Arc::new(Blob::file(tempfile::tempfile().unwrap(), 10 << 20))
    }

    #[test]
    fn stand_ins_are_told_apart_from_other_bytes() {
        assert!(is_stand_in(&STAND_IN[..1]));
        assert!(is_stand_in(&STAND_IN[JOB - 1..]));
        assert!(!is_stand_in(&STAND_IN[..0]), "empty: nothing to send");
        let ours = vec![0u8; 64];
        assert!(!is_stand_in(&ours));
        assert!(!is_stand_in(b"HTTP/1.1 200 OK\r\n"));
    }

    #[test]
    fn stand_ins_match_their_jobs_in_order_and_nothing_else() {
        let outbox = Outbox::default();
        let (a, b) = (blob(), blob());
        // No job: a stand-in is an error, never zeros on the wire.
        assert!(outbox.next(&STAND_IN[..10]).is_err());
        outbox.push(a.clone(), 100, 1000);
        outbox.push(b.clone(), 0, JOB);
        // The whole of the first, then its rest after a partial send.
        let (got, at, len) = outbox.next(&STAND_IN[..1000]).unwrap();
        assert!(Arc::ptr_eq(&got, &a) && at == 100 && len == 1000);
        outbox.sent(300);
        // A slice that is not the rest of the front job: another length, another place.
        assert!(outbox.next(&STAND_IN[..700]).is_err());
        assert!(outbox.next(&STAND_IN[300..999]).is_err());
        let (got, at, len) = outbox.next(&STAND_IN[300..1000]).unwrap();
        assert!(Arc::ptr_eq(&got, &a) && at == 400 && len == 700);
        outbox.sent(700);
        // The first is done: the second is next, from its start.
        let (got, at, len) = outbox.next(&STAND_IN[..]).unwrap();
        assert!(Arc::ptr_eq(&got, &b) && at == 0 && len == JOB);
        outbox.sent(JOB);
        assert!(outbox.next(&STAND_IN[..1]).is_err(), "all sent");
        // More sent than a job holds (never asked for) does not spill into the next job.
        outbox.push(a.clone(), 0, 10);
        outbox.push(b.clone(), 5, 10);
        outbox.sent(25);
        let (got, at, _) = outbox.next(&STAND_IN[..10]).unwrap();
        assert!(Arc::ptr_eq(&got, &b) && at == 5);
    }
}
