//! One attempt at a blob: resume what the store's writer holds, ask for the rest, stream it
//! through the writer (or in segments, for a big blob on a fresh start), and publish it through
//! the store's verifying commit. What a response means is decided in `plan`; this module acts
//! on the decisions: restart once when the server ignored Range or a resumed prefix did not
//! verify, keep the partial after a broken body, discard it after an integrity failure.

use futures_util::StreamExt;

use super::plan::{Plan, check_declared_digest, check_declared_size, plan};
use super::{FetchOptions, Progress, SizeLimit, TransferError, segments, store_error};
use crate::client::{BlobResponse, Client, Source, redact};
use crate::digest::Digest;
use crate::reference::Reference;
use crate::store::{BlobWriter, ContentStore, StoreError};

/// The error for data the commit refused (the store discarded the partial), or `None` when the
/// commit failed for another reason.
fn refused(error: &StoreError, url: &str) -> Option<TransferError> {
    match error {
        StoreError::Mismatch {
            expected,
            actual,
            bytes,
        } => Some(TransferError::DigestMismatch {
            expected: expected.clone(),
            actual: actual.clone(),
            bytes: *bytes,
            url: url.to_owned(),
        }),
        StoreError::WrongSize {
            digest,
            expected,
            actual,
        } => Some(TransferError::SizeMismatch {
            digest: digest.clone(),
            expected: *expected,
            actual: *actual,
            url: url.to_owned(),
        }),
        _ => None,
    }
}

/// How a commit ended, for the loops below.
enum Committed {
    /// Published.
    Done,
    /// The bytes are not the blob; the store discarded them. The error to give, should no
    /// restart be allowed.
    Refused(TransferError),
}

/// Commits the writer in `slot` through the store's verifying commit (the slot is empty
/// afterwards, either way).
async fn commit<W: BlobWriter>(
    slot: &mut Option<W>,
    digest: &Digest,
    url: &str,
) -> Result<Committed, TransferError> {
    let writer = slot
        .take()
        .ok_or_else(|| TransferError::Internal("a commit without a writer".into()))?;
    match writer.commit(digest).await {
        Ok(()) => Ok(Committed::Done),
        Err(e) => match refused(&e, url) {
            Some(refusal) => Ok(Committed::Refused(refusal)),
            None => Err(store_error(e)),
        },
    }
}

/// The writer in `slot` (see [`download`], which fills it at the top of each round).
fn held<W>(slot: &mut Option<W>) -> Result<&mut W, TransferError> {
    slot.as_mut()
        .ok_or_else(|| TransferError::Internal("a download without a writer".into()))
}

/// Streams the blob into the writer in `slot`, resuming what it holds, and publishes it.
/// Returns the blob's size; adds the bytes received to `transferred`. Restarts and segment
/// fallbacks happen within this one attempt. An error goes back to the retry driver with the
/// writer left in `slot`, so that the next attempt goes on with it (a broken body resumes where
/// it stopped); the slot is empty when the commit discarded the partial, and the next attempt
/// opens the store's partial again. `source` is where this attempt asks: the registry or a
/// mirror (the partial may hold another source's bytes: the commit judges them all).
#[allow(clippy::too_many_arguments)]
pub(super) async fn download<S: ContentStore>(
    client: &Client,
    store: &S,
    reference: &Reference,
    source: &Source,
    digest: &Digest,
    slot: &mut Option<S::Writer>,
    options: FetchOptions,
    progress: &dyn Progress,
    transferred: &mut u64,
) -> Result<u64, TransferError> {
    // One restart from zero is allowed: when the server ignores Range, or when a resumed
    // partial turns out not to be a prefix of the blob.
    let mut restarted = false;
    // Once a server answered a range with a full body (or a segment plan proved wrong),
    // segments would only repeat that.
    let mut one_stream = false;
    let cap = options.size.cap();
    loop {
        // The store's partial, opened again when the last round's commit discarded it (a
        // fresh writer knows only the descriptor's size, never a server's claim).
        if slot.is_none() {
            *slot = Some(store.writer(digest, options.size.exact()).await?);
        }
        let mut note = held(slot)?.checkpoint().clone();
        // The descriptor's size is the size (the writer was opened with it; a fallback that
        // dropped a server's claim does not drop it).
        if let SizeLimit::Exact(n) = options.size {
            note.size = Some(n);
        }
        // A segmented download recorded in the checkpoint (by an earlier attempt or run) goes
        // on in segments. Bytes from before this attempt: only then may a failed verification
        // be the old bytes' fault, worth the one restart.
        if note.segments.is_some() && note.size.is_some() {
            let resumed = note.segments.iter().flatten().any(|s| s.written > 0);
            let args = (client, reference, source, digest, progress);
            match segmented(args, slot, None, resumed && !restarted, transferred).await? {
                Segmented::Done(size) => return Ok(size),
                Segmented::FallBack(Fallback::OneStream) => one_stream = true,
                Segmented::FallBack(Fallback::FromZero) => restarted = true,
            }
            continue;
        }
        // Where the writer goes on; it checks what it holds when the first byte is appended.
        let offset = held(slot)?.offset();
        // Closed when the size is known (some servers insist). Open when the partial is that
        // long already: a server should answer 416, and then the commit decides.
        let range = (offset > 0).then(|| {
            let last = note.size.filter(|s| *s > offset).map(|s| s - 1);
            (offset, last)
        });
        let response = client.get_blob(reference, source, digest, range).await?;
        let url = redact(&response.final_url);
        // Before anything is written: a server that announces another blob is refused.
        check_declared_digest(digest, &response, &url)?;
        let start = match plan(digest, offset, &response, &url)? {
            Plan::Stream { start, size } => {
                check_declared_size(digest, options.size, size, &url)?;
                // A declared size replaces a remembered one (with an exact limit they are
                // equal: checked just above).
                note.size = size.or(note.size);
                start
            }
            Plan::AlreadyComplete => {
                // 416 on a resume: the partial may be the whole blob. Never trust the body of
                // a 416 (the reference registry declares the full size and sends 33 bytes):
                // the verifying commit decides, from the hash of the data itself.
                match commit(slot, digest, &url).await? {
                    Committed::Done => {
                        progress.started(Some(offset), offset);
                        return Ok(offset);
                    }
                    // The store discarded the partial; this attempt has restarted once
                    // already: refuse rather than loop.
                    Committed::Refused(_) if restarted => {
                        return Err(TransferError::BadRange {
                            digest: digest.clone(),
                            offset,
                            answer: "416 Range Not Satisfiable twice".into(),
                            url,
                        });
                    }
                    Committed::Refused(_) => {}
                }
                restarted = true;
                progress.restarted(
                    "the server refused to resume and the partial data is not the whole blob",
                );
                continue;
            }
        };
        if start == 0 && offset > 0 {
            progress.restarted("the server ignored the Range request; starting over");
            held(slot)?.truncate(0).await?;
        }
        // For `cache ls` and people: where the first bytes came from.
        if note.source.is_none() {
            note.source = Some(source.location(reference));
        }
        // `max(1)`: an empty blob is never split, whatever `--segment-min` says.
        if let Some(size) = note.size
            && start == 0
            && response.status == 200
            && options.segments > 1
            && size >= options.segment_min.max(1)
            && !one_stream
        {
            // Big blob, fresh start: this response serves segment 0, Range requests the rest.
            // The plan is durable before any segment's bytes, so a crash resumes segmented.
            let writer = held(slot)?;
            writer.truncate(0).await?;
            note.segments = Some(segments::plan(size, options.segments));
            writer.save_checkpoint(note).await?;
            let args = (client, reference, source, digest, progress);
            match segmented(args, slot, Some(response), false, transferred).await? {
                Segmented::Done(size) => return Ok(size),
                Segmented::FallBack(why) => one_stream |= why == Fallback::OneStream,
            }
            continue;
        }
        // The size reaches the checkpoint before the body does, so a later resume knows it.
        let writer = held(slot)?;
        writer.save_checkpoint(note.clone()).await?;
        progress.started(note.size, start);
        // A limit on the partial, resumed prefix included: the blob's size when known, never
        // above the cap.
        let limit = note.size.map_or(cap, |s| s.min(cap));
        let outcome = stream_body(response, writer, limit, progress).await;
        // The writer began at `start`, so this cannot underflow.
        let total = writer.offset();
        *transferred += total - start;
        // A body that ended cleanly but short is an interruption too: the next attempt resumes.
        let outcome = match (outcome, note.size) {
            (StreamEnd::Complete, Some(size)) if total < size => {
                StreamEnd::Broken(format!("the body ended after {total} bytes"))
            }
            (outcome, _) => outcome,
        };
        match outcome {
            StreamEnd::Complete => {}
            // Longer than the declared size: the server is wrong about this blob, so none of
            // its bytes is kept.
            StreamEnd::TooLong => {
                if let Some(writer) = slot.take() {
                    writer.abort().await?;
                }
                return Err(match note.size {
                    Some(expected) => TransferError::TooLong {
                        digest: digest.clone(),
                        expected,
                        url,
                    },
                    // No size known and the cap (`--max-size`) reached.
                    None => TransferError::TooLarge {
                        digest: digest.clone(),
                        limit: cap,
                        url,
                    },
                });
            }
            // The bytes are with the writer and worth resuming: the next attempt goes on with
            // it (and a later process from what it makes durable).
            StreamEnd::Broken(reason) => {
                return Err(TransferError::Interrupted {
                    digest: digest.clone(),
                    received: total,
                    expected: note.size,
                    url,
                    reason,
                });
            }
            // The writer failed (a full disk); `download` drops it.
            StreamEnd::WriteFailed(e) => return Err(store_error(e)),
        }
        let refusal = match commit(slot, digest, &url).await? {
            Committed::Done => return Ok(total),
            Committed::Refused(refusal) => refusal,
        };
        if start > 0 && !restarted {
            // The resumed prefix may be what was wrong (a crash can leave garbage): start
            // over once before calling the registry a liar, with a fresh writer.
            restarted = true;
            progress.restarted("the resumed download did not verify; starting over");
            continue;
        }
        // The bytes are fresh, or the one restart is spent: the registry's bytes are wrong,
        // and none is kept (the commit discarded them).
        return Err(refusal);
    }
}

/// How a segmented download ended, for the loop in [`download`].
enum Segmented {
    /// Published: the blob's size.
    Done(u64),
    /// Not published: go on as the fallback says (with the writer in the slot, or, when the
    /// store discarded the partial, a fresh one).
    FallBack(Fallback),
}

/// What a segmented download falls back to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fallback {
    /// One stream from the contiguous prefix (the server ignores Range, or the plan was wrong).
    OneStream,
    /// Everything again from zero (a resumed segmented download did not verify).
    FromZero,
}

/// Runs the segments of the writer's checkpoint (`first`: an open full-body response for
/// segment 0), then publishes the blob or prepares the writer for the single-stream path.
/// `may_restart` allows the one restart from zero, when segments resumed older bytes.
async fn segmented<W: BlobWriter>(
    (client, reference, source, digest, progress): (
        &Client,
        &Reference,
        &Source,
        &Digest,
        &dyn Progress,
    ),
    slot: &mut Option<W>,
    first: Option<BlobResponse>,
    may_restart: bool,
    transferred: &mut u64,
) -> Result<Segmented, TransferError> {
    let writer = held(slot)?;
    let end = segments::download(
        client,
        reference,
        source,
        digest,
        writer,
        first,
        progress,
        transferred,
    )
    .await?;
    // Segments are planned only with a known size: this is it.
    let size = writer.checkpoint().size.unwrap_or(0);
    let mut note = writer.checkpoint().clone();
    note.segments = None;
    match end {
        segments::SegmentedEnd::Written => {
            // Several requests brought these bytes: there is no one URL to name.
            let refusal = match commit(slot, digest, "the registry").await? {
                Committed::Done => return Ok(Segmented::Done(size)),
                Committed::Refused(refusal) => refusal,
            };
            if may_restart {
                progress.restarted("the resumed download did not verify; starting over");
                return Ok(Segmented::FallBack(Fallback::FromZero));
            }
            Err(refusal)
        }
        // The store never lets recorded progress run ahead of the data: something else changed
        // the partial, so nothing in it is trusted.
        segments::SegmentedEnd::Short { bytes, claimed } => {
            if let Some(writer) = slot.take() {
                writer.abort().await?;
            }
            Err(TransferError::PartialShort {
                digest: digest.clone(),
                bytes,
                claimed,
            })
        }
        segments::SegmentedEnd::RangesIgnored { contiguous } => {
            // The contiguous prefix is good: the single stream resumes from it.
            progress.restarted("the server ignored a Range request; continuing as one stream");
            writer.truncate(contiguous).await?;
            writer.save_checkpoint(note).await?;
            Ok(Segmented::FallBack(Fallback::OneStream))
        }
        segments::SegmentedEnd::BadPlan { contiguous, reason } => {
            // The size the plan came from was wrong (a lying first Content-Length): drop the
            // plan and its size (unless a descriptor gave it), keep the prefix, and go on as
            // one stream, whose answer tells the real size.
            progress.restarted(&format!(
                "{reason}; dropping the segment plan and continuing as one stream"
            ));
            writer.truncate(contiguous).await?;
            note.size = None;
            writer.save_checkpoint(note).await?;
            Ok(Segmented::FallBack(Fallback::OneStream))
        }
    }
}

/// How [`stream_body`] ended.
enum StreamEnd {
    /// The body ended (perhaps short: the caller compares with the size).
    Complete,
    /// More than `limit` bytes came.
    TooLong,
    /// The connection failed mid-body; the reason, for the error.
    Broken(String),
    /// The store's writer failed.
    WriteFailed(StoreError),
}

/// Streams a body into the store's writer (which hashes each chunk as it takes it), stopping
/// once the partial would exceed `limit` bytes.
async fn stream_body<W: BlobWriter>(
    response: BlobResponse,
    writer: &mut W,
    limit: u64,
    progress: &dyn Progress,
) -> StreamEnd {
    let mut body = response.response.bytes_stream();
    while let Some(item) = body.next().await {
        let chunk = match item {
            Ok(chunk) => chunk,
            Err(e) => return StreamEnd::Broken(crate::client::error_text(&e)),
        };
        // Checked before the chunk is written, so the partial never exceeds the limit.
        if writer.offset().saturating_add(chunk.len() as u64) > limit {
            return StreamEnd::TooLong;
        }
        let len = chunk.len() as u64;
        if let Err(e) = writer.write(chunk).await {
            return StreamEnd::WriteFailed(e);
        }
        progress.advanced(len);
    }
    StreamEnd::Complete
}
