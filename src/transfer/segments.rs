//! Segmented download of one big blob: several Range requests at once, positional writes
//! into the ingest file, and a "hash follower" that hashes the contiguous prefix in order as
//! it grows.
//!
//! SHA-256 cannot take bytes out of order, so the follower thread re-reads the file (from the
//! page cache) behind the writers. Each segment's progress is counted only once its bytes are
//! written, and recorded in the ingest state every second and on failure, so a rerun after
//! `kill -9` asks only for what no segment had written. If a server answers a range with a
//! full 200, it does not honour Range: the caller falls back to one stream, keeping the
//! contiguous prefix already on disk.

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt;
use tokio::sync::mpsc;

use super::{Progress, TransferError, WRITE_QUEUE, blocking, check_declared_digest};
use crate::client::{BlobResponse, Client, redact};
use crate::digest::{Digest, Verifier};
use crate::reference::Reference;
use crate::store::{Ingest, Segment, StoreError};

/// How often segment progress is written to the ingest state while segments run.
const SAVE_EVERY: Duration = Duration::from_secs(1);
/// How long the follower sleeps when no new contiguous bytes arrived (a wake-up comes sooner
/// after each write).
const FOLLOWER_NAP: Duration = Duration::from_millis(50);

/// Splits `size` bytes into `count` nearly equal segments.
pub(super) fn plan(size: u64, count: u32) -> Vec<Segment> {
    let count = u64::from(count.max(1)).min(size.max(1));
    (0..count)
        .map(|i| Segment {
            start: size * i / count,
            end: size * (i + 1) / count,
            written: 0,
        })
        .collect()
}

/// How a segmented download ended, when it did not fail.
pub(super) enum SegmentedEnd {
    /// Every byte is on disk (fsynced) and hashed: this is the digest of the bytes.
    Hashed(Digest),
    /// A range request got a full 200: the server ignores Range. Bytes `0..contiguous` are on
    /// disk and valid.
    RangesIgnored {
        /// Length of the valid prefix.
        contiguous: u64,
    },
}

enum SegmentFailure {
    RangesIgnored,
    Error(TransferError),
}

impl From<TransferError> for SegmentFailure {
    fn from(e: TransferError) -> Self {
        SegmentFailure::Error(e)
    }
}

/// Shared between the writer thread, the follower thread and the coordinator.
struct Shared {
    bounds: Vec<(u64, u64)>,
    written: Vec<AtomicU64>,
    stop: AtomicBool,
    wake: (Mutex<()>, Condvar),
}

impl Shared {
    /// End of the valid prefix: the first segment that is not complete decides.
    fn contiguous(&self) -> u64 {
        let mut pos = 0;
        for (i, &(start, end)) in self.bounds.iter().enumerate() {
            let w = self.written[i].load(Ordering::Acquire);
            if start + w < end {
                return start + w;
            }
            pos = end;
        }
        pos
    }

    fn notify(&self) {
        let _guard = self.wake.0.lock().expect("wake lock poisoned");
        self.wake.1.notify_all();
    }

    fn segments(&self) -> Vec<Segment> {
        self.bounds
            .iter()
            .zip(&self.written)
            .map(|(&(start, end), w)| Segment {
                start,
                end,
                written: w.load(Ordering::Acquire),
            })
            .collect()
    }
}

/// Runs the segments recorded in `ingest.state.segments` (its size must be known). `first`,
/// when given, is an open full-body (200) response that serves segment 0.
pub(super) async fn download(
    client: &Client,
    reference: &Reference,
    digest: &Digest,
    ingest: &mut Ingest,
    first: Option<BlobResponse>,
    progress: &dyn Progress,
    transferred: &mut u64,
) -> Result<SegmentedEnd, TransferError> {
    let size = ingest
        .state
        .size
        .expect("segmented downloads know the size");
    let segments = ingest
        .state
        .segments
        .clone()
        .expect("segmented downloads have segments");
    let shared = Arc::new(Shared {
        bounds: segments.iter().map(|s| (s.start, s.end)).collect(),
        written: segments.iter().map(|s| AtomicU64::new(s.written)).collect(),
        stop: AtomicBool::new(false),
        wake: (Mutex::new(()), Condvar::new()),
    });
    let file = Arc::new(ingest.positional()?);
    let data_path = ingest.data_path().to_owned();

    let (tx, rx) = mpsc::channel::<(usize, u64, Bytes)>(WRITE_QUEUE);
    let writer = spawn_writer(file.clone(), shared.clone(), rx);
    let follower = spawn_follower(file, shared.clone(), digest.algorithm().verifier(), size);

    let done: u64 = segments.iter().map(|s| s.written).sum();
    progress.started(Some(size), done);
    let received = AtomicU64::new(0);
    let mut first = first;
    let tasks = segments
        .iter()
        .enumerate()
        .filter(|(_, s)| !s.is_done())
        .map(|(i, s)| {
            let response = if i == 0 && s.written == 0 {
                first.take()
            } else {
                None
            };
            run_segment(
                client,
                reference,
                digest,
                size,
                i,
                *s,
                response,
                tx.clone(),
                progress,
                &received,
            )
        })
        .collect::<Vec<_>>();
    drop(first);
    drop(tx);
    // Boxed, so that dropping it below really drops the segment futures and their channel
    // senders (the writer thread finishes when the last sender is gone).
    let mut joined = Box::pin(futures_util::future::try_join_all(tasks));
    let mut tick = tokio::time::interval(SAVE_EVERY);
    tick.tick().await;
    let result = loop {
        tokio::select! {
            r = &mut joined => break r,
            _ = tick.tick() => {
                ingest.state.segments = Some(shared.segments());
                let _ = ingest.save_state();
            }
        }
    };
    drop(joined);
    *transferred += received.load(Ordering::Relaxed);

    let written = blocking(move || writer.join()).await?;
    ingest.state.segments = Some(shared.segments());
    let stop_follower = || {
        shared.stop.store(true, Ordering::Release);
        shared.notify();
    };
    if let Err(source) =
        written.unwrap_or_else(|_| Err(io::Error::other("the writer thread panicked")))
    {
        stop_follower();
        let _ = ingest.save_state();
        return Err(TransferError::Write {
            path: data_path,
            source,
        });
    }
    match result {
        Ok(_) => {
            let hashed = blocking(move || follower.join()).await?;
            match hashed {
                Ok(Ok(Some(verifier))) => Ok(SegmentedEnd::Hashed(verifier.finish())),
                Ok(Ok(None)) => Err(TransferError::Internal(
                    "the hash follower stopped early".into(),
                )),
                Ok(Err(e)) => Err(StoreError::io("read", &data_path)(e).into()),
                Err(_) => Err(TransferError::Internal("the hash follower panicked".into())),
            }
        }
        Err(failure) => {
            stop_follower();
            let _ = blocking(move || follower.join()).await?;
            let _ = ingest.save_state();
            match failure {
                SegmentFailure::RangesIgnored => Ok(SegmentedEnd::RangesIgnored {
                    contiguous: shared.contiguous(),
                }),
                SegmentFailure::Error(e) => Err(e),
            }
        }
    }
}

/// Downloads what segment `index` still lacks, sending positioned chunks to the writer.
#[allow(clippy::too_many_arguments)]
async fn run_segment(
    client: &Client,
    reference: &Reference,
    digest: &Digest,
    size: u64,
    index: usize,
    segment: Segment,
    response: Option<BlobResponse>,
    tx: mpsc::Sender<(usize, u64, Bytes)>,
    progress: &dyn Progress,
    received: &AtomicU64,
) -> Result<(), SegmentFailure> {
    let mut pos = segment.start + segment.written;
    let end = segment.end;
    let response = match response {
        Some(r) => r,
        None => client
            .get_blob(reference, digest, Some((pos, Some(end - 1))))
            .await
            .map_err(TransferError::from)?,
    };
    let url = redact(&response.final_url);
    check_declared_digest(digest, &response, &url)?;
    let bad = |answer: String| {
        SegmentFailure::Error(TransferError::BadRange {
            digest: digest.clone(),
            offset: pos,
            answer,
            url: url.clone(),
        })
    };
    match (response.status, response.content_range) {
        // The full body: the first response of a fresh download, or Range ignored.
        (200, _) if pos == 0 => {}
        (200, _) => return Err(SegmentFailure::RangesIgnored),
        (206, Some(cr)) => match cr.range {
            Some((first, _)) if first == pos && cr.total.is_none_or(|t| t == size) => {}
            _ => return Err(bad(format!("206 for a different range ({cr:?})"))),
        },
        (status, _) => return Err(bad(format!("HTTP {status}"))),
    }
    let mut body = response.response.bytes_stream();
    while pos < end {
        let chunk = match body.next().await {
            Some(Ok(chunk)) => chunk,
            Some(Err(e)) => {
                return Err(interrupted(
                    digest,
                    pos,
                    size,
                    &url,
                    crate::client::error_text(&e),
                ));
            }
            None => {
                return Err(interrupted(
                    digest,
                    pos,
                    size,
                    &url,
                    format!("segment {index} ended early"),
                ));
            }
        };
        let take = chunk
            .len()
            .min(usize::try_from(end - pos).unwrap_or(usize::MAX));
        let len = take as u64;
        if tx.send((index, pos, chunk.slice(..take))).await.is_err() {
            break; // The writer failed; the coordinator reports its error.
        }
        pos += len;
        received.fetch_add(len, Ordering::Relaxed);
        progress.advanced(len);
    }
    Ok(())
}

fn interrupted(digest: &Digest, pos: u64, size: u64, url: &str, reason: String) -> SegmentFailure {
    SegmentFailure::Error(TransferError::Interrupted {
        digest: digest.clone(),
        received: pos,
        expected: Some(size),
        url: url.to_owned(),
        reason,
    })
}

/// Writes positioned chunks, counts them per segment, fsyncs at the end.
fn spawn_writer(
    file: Arc<File>,
    shared: Arc<Shared>,
    mut rx: mpsc::Receiver<(usize, u64, Bytes)>,
) -> std::thread::JoinHandle<io::Result<()>> {
    std::thread::spawn(move || {
        let result = (|| {
            let mut flusher = super::Flusher::new(&file)?;
            while let Some((index, offset, chunk)) = rx.blocking_recv() {
                file.write_all_at(&chunk, offset)?;
                shared.written[index].fetch_add(chunk.len() as u64, Ordering::Release);
                shared.notify();
                flusher.wrote(chunk.len() as u64);
            }
            flusher.finish()?;
            file.sync_all()
        })();
        if result.is_err() {
            // The follower would otherwise wait for bytes that will never come.
            shared.stop.store(true, Ordering::Release);
            shared.notify();
        }
        result
    })
}

/// Hashes the contiguous prefix as it grows. Returns the hash of all `size` bytes, or `None`
/// when stopped first.
fn spawn_follower(
    file: Arc<File>,
    shared: Arc<Shared>,
    mut verifier: Verifier,
    size: u64,
) -> std::thread::JoinHandle<io::Result<Option<Verifier>>> {
    std::thread::spawn(move || {
        let mut buf = vec![0u8; crate::store::READ_BUF];
        let mut pos = 0u64;
        loop {
            let available = shared.contiguous();
            if pos < available {
                let n = buf
                    .len()
                    .min(usize::try_from(available - pos).unwrap_or(usize::MAX));
                file.read_exact_at(&mut buf[..n], pos)?;
                verifier.update(&buf[..n]);
                pos += n as u64;
                continue;
            }
            if pos >= size {
                return Ok(Some(verifier));
            }
            if shared.stop.load(Ordering::Acquire) {
                return Ok(None);
            }
            let guard = shared.wake.0.lock().expect("wake lock poisoned");
            // Re-check under the lock so a notify between the check and the wait is not lost
            // for longer than one nap.
            if shared.contiguous() == available && !shared.stop.load(Ordering::Acquire) {
                let _ = shared.wake.1.wait_timeout(guard, FOLLOWER_NAP);
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plans_cover_the_blob_exactly() {
        for (size, count) in [
            (100u64, 4u32),
            (7, 4),
            (3, 8),
            (1 << 30, 4),
            (1, 1),
            (64, 3),
        ] {
            let p = plan(size, count);
            assert_eq!(p[0].start, 0);
            assert_eq!(p.last().unwrap().end, size);
            for w in p.windows(2) {
                assert_eq!(w[0].end, w[1].start);
            }
            assert!(p.iter().all(|s| s.end > s.start), "{size}/{count}: {p:?}");
        }
    }

    #[test]
    fn contiguous_stops_at_the_first_gap() {
        let shared = Shared {
            bounds: vec![(0, 10), (10, 20), (20, 30)],
            written: vec![AtomicU64::new(10), AtomicU64::new(4), AtomicU64::new(10)],
            stop: AtomicBool::new(false),
            wake: (Mutex::new(()), Condvar::new()),
        };
        assert_eq!(shared.contiguous(), 14);
        shared.written[1].store(10, Ordering::Release);
        assert_eq!(shared.contiguous(), 30);
        shared.written[0].store(3, Ordering::Release);
        assert_eq!(shared.contiguous(), 3);
    }
}
