//! Segmented download of one big blob: several Range requests at once, positional writes
//! into the ingest file, and a "hash follower" that hashes the contiguous prefix in order as
//! it grows.
//!
//! SHA-256 cannot take bytes out of order, so the follower thread re-reads the file (from the
//! page cache) behind the writers. Each segment's progress is counted only once its bytes are
//! written, and recorded in the ingest state every second and on failure, so a rerun after
//! `kill -9` asks only for what no segment had written; the data it counts is fdatasync'ed
//! before it is recorded, so recorded progress never runs ahead of the disk. If a server
//! answers a range with a full 200, it does not honour Range: the caller falls back to one
//! stream, keeping the contiguous prefix already on disk. If it answers with another total, a
//! 416 or a range that was not asked for, the plan came from a wrong size (a lying first
//! `Content-Length`): the caller drops the plan and goes on as one stream, once. The sizes here
//! come from servers and from `state.json`, so all arithmetic on them is checked.

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt;
use futures_util::future::OptionFuture;
use tokio::sync::mpsc;

use super::{Progress, TransferError, blocking, check_declared_digest};
use crate::client::{BlobResponse, Client, redact};
use crate::digest::Digest;
use crate::reference::Reference;
use crate::store::{
    Flusher, Hashed, Ingest, PrefixHasher, Segment, StoreError, WRITE_QUEUE, is_valid_plan,
};

/// How often segment progress is written to the ingest state while segments run.
const SAVE_EVERY: Duration = Duration::from_secs(1);
/// How long the follower sleeps when no new contiguous bytes arrived (a wake-up comes sooner
/// after each write).
const FOLLOWER_NAP: Duration = Duration::from_millis(50);

/// Splits `size` bytes into `count` nearly equal segments. (In 128 bits: `size * i` overflows
/// 64 for a declared size near `u64::MAX`.)
pub(super) fn plan(size: u64, count: u32) -> Vec<Segment> {
    let count = u64::from(count.max(1)).min(size.max(1));
    let at = |i: u64| {
        u64::try_from(u128::from(size) * u128::from(i) / u128::from(count)).unwrap_or(size)
    };
    (0..count)
        .map(|i| Segment {
            start: at(i),
            end: at(i + 1),
            written: 0,
        })
        .collect()
}

/// How a segmented download ended, when it did not fail.
pub(super) enum SegmentedEnd {
    /// Every byte is on disk (fsynced) and hashed: the proof for the verifying commit.
    Hashed(Box<Hashed>),
    /// The data file ends before the recorded progress says it does.
    Short {
        /// Its length.
        bytes: u64,
        /// What the segments claim.
        claimed: u64,
    },
    /// A range answer does not fit the plan (another total, 416, another range): the size
    /// the plan came from is wrong. Bytes `0..contiguous` are on disk.
    BadPlan {
        /// Length of the valid prefix.
        contiguous: u64,
        /// What the server answered.
        reason: String,
    },
    /// A range request got a full 200: the server ignores Range. Bytes `0..contiguous` are on
    /// disk and valid.
    RangesIgnored {
        /// Length of the valid prefix.
        contiguous: u64,
    },
}

enum SegmentFailure {
    RangesIgnored,
    BadPlan(String),
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
            let w = self.written.get(i).map_or(0, |w| w.load(Ordering::Acquire));
            let reached = start.saturating_add(w);
            if reached < end {
                return reached;
            }
            pos = end;
        }
        pos
    }

    fn notify(&self) {
        let _guard = self
            .wake
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
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
    let (Some(size), Some(segments)) = (ingest.state.size, ingest.state.segments.clone()) else {
        return Err(TransferError::Internal(
            "a segmented download without a size or a plan".into(),
        ));
    };
    if !is_valid_plan(&segments, size) {
        return Ok(SegmentedEnd::BadPlan {
            contiguous: 0,
            reason: "the recorded segment plan does not fit the blob size".into(),
        });
    }
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
    let follower = spawn_follower(ingest.prefix_hasher()?, shared.clone(), size);

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
    // Progress is recorded only once the bytes it counts are durable: each tick takes a
    // snapshot and starts an fdatasync on a blocking thread; the snapshot is saved when that
    // sync is done. The segments keep streaming meanwhile.
    let mut syncing: Option<(tokio::task::JoinHandle<io::Result<()>>, Vec<Segment>)> = None;
    let result = loop {
        tokio::select! {
            r = &mut joined => break r,
            _ = tick.tick(), if syncing.is_none() => {
                let (f, snapshot) = (file.clone(), shared.segments());
                syncing = Some((tokio::task::spawn_blocking(move || f.sync_data()), snapshot));
            }
            Some(synced) = OptionFuture::from(syncing.as_mut().map(|(h, _)| h)), if syncing.is_some() => {
                // Taken whatever the result: a finished handle is never polled again.
                if let (Ok(Ok(())), Some((_, snapshot))) = (synced, syncing.take()) {
                    ingest.state.segments = Some(snapshot);
                    let _ = ingest.save_state();
                }
            }
        }
    };
    drop(joined);
    *transferred += received.load(Ordering::Relaxed);

    let written = blocking(move || writer.join()).await?;
    let stop_follower = || {
        shared.stop.store(true, Ordering::Release);
        shared.notify();
    };
    if let Err(source) =
        written.unwrap_or_else(|_| Err(io::Error::other("the writer thread panicked")))
    {
        stop_follower();
        let _ = blocking(move || follower.join()).await?;
        // Whatever the writes that failed left, the synced part can still be recorded.
        let _ = ingest.record_segments(&file, shared.segments());
        return Err(TransferError::Write {
            path: data_path,
            source,
        });
    }
    // The writer fsynced the file when it finished: this progress is durable.
    let _ = ingest.record_segments(&file, shared.segments());
    match result {
        Ok(_) => {
            let hashed = blocking(move || follower.join()).await?;
            match hashed {
                Ok(Ok(Some(hasher))) => Ok(SegmentedEnd::Hashed(Box::new(hasher.finish()?))),
                Ok(Ok(None)) => Err(TransferError::Internal(
                    "the hash follower stopped early".into(),
                )),
                Ok(Err((bytes, e))) if e.kind() == io::ErrorKind::UnexpectedEof => {
                    let claimed = shared.contiguous();
                    let bytes = ingest.partial_len().unwrap_or(bytes);
                    Ok(SegmentedEnd::Short { bytes, claimed })
                }
                Ok(Err((_, e))) => Err(StoreError::io("read", &data_path)(e).into()),
                Err(_) => Err(TransferError::Internal("the hash follower panicked".into())),
            }
        }
        Err(failure) => {
            stop_follower();
            let _ = blocking(move || follower.join()).await?;
            match failure {
                SegmentFailure::RangesIgnored => Ok(SegmentedEnd::RangesIgnored {
                    contiguous: shared.contiguous(),
                }),
                SegmentFailure::BadPlan(reason) => Ok(SegmentedEnd::BadPlan {
                    contiguous: shared.contiguous(),
                    reason,
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
            .get_blob(reference, digest, Some((pos, Some(end.saturating_sub(1)))))
            .await
            .map_err(TransferError::from)?,
    };
    let url = redact(&response.final_url);
    check_declared_digest(digest, &response, &url)?;
    // Anything but the range asked for of a blob of the planned size means the plan is wrong.
    let bad = |answer: String| {
        SegmentFailure::BadPlan(format!(
            "`{url}` answered a request for bytes {pos}-{} with {answer}",
            end - 1
        ))
    };
    match (response.status, response.content_range) {
        // The full body: the first response of a fresh download, or Range ignored.
        (200, _) if pos == 0 => {}
        (200, _) => return Err(SegmentFailure::RangesIgnored),
        (206, Some(cr)) => match cr.range {
            Some((first, _)) if first == pos && cr.total.is_none_or(|t| t == size) => {}
            _ => return Err(bad(format!("206 for a different range ({cr:?})"))),
        },
        (206, None) => return Err(bad("206 without Content-Range".into())),
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
            let mut flusher = Flusher::new(&file)?;
            while let Some((index, offset, chunk)) = rx.blocking_recv() {
                file.write_all_at(&chunk, offset)?;
                if let Some(w) = shared.written.get(index) {
                    w.fetch_add(chunk.len() as u64, Ordering::Release);
                }
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

/// Hashes the contiguous prefix as it grows (through the store's [`PrefixHasher`], which reads
/// the data file back). Returns the hasher once all `size` bytes are hashed, or `None` when
/// stopped first; a read error comes with the bytes hashed until then.
#[allow(clippy::type_complexity)]
fn spawn_follower(
    mut hasher: PrefixHasher,
    shared: Arc<Shared>,
    size: u64,
) -> std::thread::JoinHandle<Result<Option<PrefixHasher>, (u64, io::Error)>> {
    std::thread::spawn(move || {
        loop {
            let available = shared.contiguous();
            if hasher.bytes() < available {
                hasher.hash_to(available).map_err(|e| (hasher.bytes(), e))?;
                continue;
            }
            if hasher.bytes() >= size {
                return Ok(Some(hasher));
            }
            if shared.stop.load(Ordering::Acquire) {
                return Ok(None);
            }
            let guard = shared
                .wake
                .0
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
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
            (u64::MAX, 4),
            (u64::MAX - 5, 32),
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
