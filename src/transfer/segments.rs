//! Segmented download of one big blob: several Range requests at once, each writing its bytes
//! at their offsets through the store's writer ([`BlobWriter::write_at`]).
//!
//! This module is the network side: the plan, the requests, what their answers mean. The disk
//! side (where positional bytes go, hashing them in order, making progress durable before it is
//! recorded) is the store's. Each segment's progress is counted once its bytes are handed to the
//! writer, and queued as a checkpoint every second and on failure ([`BlobWriter::queue_checkpoint`]:
//! the store records it only once those bytes are durable), so a rerun after `kill -9` asks only
//! for what no segment had written. If a server answers a range with a full 200, it does not
//! honour Range: the caller falls back to one stream, keeping the contiguous prefix already
//! written. If it answers with another total, a 416 or a range that was not asked for, the plan
//! came from a wrong size (a lying first `Content-Length`): the caller drops the plan and goes
//! on as one stream, once. The sizes here come from servers and from the store's checkpoint, so
//! all arithmetic on them is checked.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt;
use tokio::sync::mpsc;

use super::{Progress, TransferError, check_declared_digest, store_error};
use crate::client::{BlobResponse, Client, Source, redact};
use crate::digest::Digest;
use crate::reference::Reference;
use crate::store::{BlobWriter, Checkpoint, Segment, WRITE_QUEUE, is_valid_plan};

/// How often segment progress is queued as a checkpoint while segments run.
const SAVE_EVERY: Duration = Duration::from_secs(1);

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
    /// Every segment's bytes are with the writer: commit it.
    Written,
    /// The partial ends before the recorded progress says it does.
    Short {
        /// Its length.
        bytes: u64,
        /// What the segments claim.
        claimed: u64,
    },
    /// A range answer does not fit the plan (another total, 416, another range): the size
    /// the plan came from is wrong. Bytes `0..contiguous` are written.
    BadPlan {
        /// Length of the valid prefix.
        contiguous: u64,
        /// What the server answered.
        reason: String,
    },
    /// A range request got a full 200: the server ignores Range. Bytes `0..contiguous` are
    /// written and valid.
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

/// End of the valid prefix of `segments`: the first segment that is not complete decides.
fn contiguous(segments: &[Segment]) -> u64 {
    let mut pos = 0;
    for s in segments {
        let reached = s.start.saturating_add(s.written);
        if reached < s.end {
            return reached;
        }
        pos = s.end;
    }
    pos
}

/// Runs the segments of the writer's checkpoint (its size must be known). `first`, when given,
/// is an open full-body (200) response that serves segment 0.
#[allow(clippy::too_many_arguments)]
pub(super) async fn download<W: BlobWriter>(
    client: &Client,
    reference: &Reference,
    source: &Source,
    digest: &Digest,
    writer: &mut W,
    first: Option<BlobResponse>,
    progress: &dyn Progress,
    transferred: &mut u64,
) -> Result<SegmentedEnd, TransferError> {
    let mut note: Checkpoint = writer.checkpoint().clone();
    let (Some(size), Some(mut segments)) = (note.size, note.segments.take()) else {
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
    // The store never lets recorded progress run ahead of the data: a partial shorter than
    // the progress claims was changed by something else, and nothing in it is trusted.
    let claimed = segments
        .iter()
        .filter(|s| s.written > 0)
        .map(|s| s.start.saturating_add(s.written))
        .max()
        .unwrap_or(0);
    if claimed > writer.offset() {
        return Ok(SegmentedEnd::Short {
            bytes: writer.offset(),
            claimed,
        });
    }

    let (tx, mut rx) = mpsc::channel::<(usize, u64, Bytes)>(WRITE_QUEUE);
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
                source,
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
    // Boxed, so that dropping it really drops the segment futures and their channel senders.
    let mut joined = Box::pin(futures_util::future::try_join_all(tasks));
    let mut tick = tokio::time::interval(SAVE_EVERY);
    tick.tick().await;
    // Every segment has handed over its bytes; what is still queued is written, then done.
    let mut all_sent = false;
    let with = |segments: &[Segment]| Checkpoint {
        segments: Some(segments.to_vec()),
        ..note.clone()
    };
    let ended = loop {
        tokio::select! {
            r = &mut joined, if !all_sent => match r {
                Ok(_) => all_sent = true,
                // A failure: what was handed to the writer is counted, the rest is dropped.
                Err(e) => break Err(e),
            },
            chunk = rx.recv() => match chunk {
                Some((index, at, bytes)) => {
                    let len = bytes.len() as u64;
                    if let Err(e) = writer.write_at(at, bytes).await {
                        break Err(SegmentFailure::Error(store_error(e)));
                    }
                    if let Some(s) = segments.get_mut(index) {
                        s.written += len;
                    }
                }
                // Every sender is gone: the segments are done (or failed: `joined` says).
                None if all_sent => break Ok(()),
                None => {}
            },
            _ = tick.tick() => writer.queue_checkpoint(with(&segments)).await,
        }
    };
    drop(joined);
    *transferred += received.load(Ordering::Relaxed);
    // Short of the commit that follows a complete download, what was written is recorded once
    // durable, whatever comes next: a retry, a fallback, or another process after this one died.
    if ended.is_err() {
        writer.queue_checkpoint(with(&segments)).await;
    }
    match ended {
        Ok(()) => Ok(SegmentedEnd::Written),
        Err(SegmentFailure::RangesIgnored) => Ok(SegmentedEnd::RangesIgnored {
            contiguous: contiguous(&segments),
        }),
        Err(SegmentFailure::BadPlan(reason)) => Ok(SegmentedEnd::BadPlan {
            contiguous: contiguous(&segments),
            reason,
        }),
        Err(SegmentFailure::Error(e)) => Err(e),
    }
}

/// Downloads what segment `index` still lacks, sending positioned chunks to the writer.
#[allow(clippy::too_many_arguments)]
async fn run_segment(
    client: &Client,
    reference: &Reference,
    source: &Source,
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
            .get_blob(
                reference,
                source,
                digest,
                Some((pos, Some(end.saturating_sub(1)))),
            )
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
        let seg = |start, end, written| Segment {
            start,
            end,
            written,
        };
        let mut s = vec![seg(0, 10, 10), seg(10, 20, 4), seg(20, 30, 10)];
        assert_eq!(contiguous(&s), 14);
        s[1].written = 10;
        assert_eq!(contiguous(&s), 30);
        s[0].written = 3;
        assert_eq!(contiguous(&s), 3);
    }
}
