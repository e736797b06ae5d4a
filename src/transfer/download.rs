//! One attempt at a blob: resume what the ingest holds, ask for the rest, stream it through
//! the hashing writer (or in segments, for a big blob on a fresh start), and publish it through
//! the store's verifying commit. What a response means is decided in `plan`; this module acts
//! on the decisions: restart once when the server ignored Range or a resumed prefix did not
//! verify, keep the partial after a broken body, discard it after an integrity failure.

use std::path::PathBuf;

use futures_util::StreamExt;

use super::plan::{Plan, check_declared_digest, check_declared_size, plan};
use super::{FetchOptions, Progress, SizeLimit, TransferError, blocking, segments};
use crate::client::{BlobResponse, Client, redact};
use crate::digest::Digest;
use crate::reference::Reference;
use crate::store::{Commit, Hashed, Ingest, IngestWriter, Mismatch};

/// Commits through the store's verifying commit (off the runtime: it fsyncs).
pub(super) async fn commit(ingest: Ingest, hashed: Hashed) -> Result<Commit, TransferError> {
    Ok(blocking(move || ingest.commit(hashed)).await??)
}

/// The error for data the commit refused, once the ingest is discarded.
pub(super) fn refused(digest: &Digest, mismatch: Mismatch, url: String) -> TransferError {
    match mismatch {
        Mismatch::Digest { actual, bytes } => TransferError::DigestMismatch {
            expected: digest.clone(),
            actual,
            bytes,
            url,
        },
        Mismatch::Size { expected, actual } => TransferError::SizeMismatch {
            digest: digest.clone(),
            expected,
            actual,
            url,
        },
    }
}

/// Streams the blob into `ingest`, resuming what it holds, and publishes it. Returns the blob
/// path and its size; adds the bytes received to `transferred`. Restarts and segment
/// fallbacks happen within this one attempt; an error goes back to the retry driver, whose
/// next attempt reopens the ingest from disk (so a broken body resumes where it stopped).
pub(super) async fn download(
    client: &Client,
    reference: &Reference,
    digest: &Digest,
    mut ingest: Ingest,
    options: FetchOptions,
    progress: &dyn Progress,
    transferred: &mut u64,
) -> Result<(PathBuf, u64), TransferError> {
    // One restart from zero is allowed: when the server ignores Range, or when a resumed
    // partial turns out not to be a prefix of the blob.
    let mut restarted = false;
    // Once a server answered a range with a full body (or a segment plan proved wrong),
    // segments would only repeat that.
    let mut one_stream = false;
    let cap = options.size.cap();
    if let SizeLimit::Exact(n) = options.size {
        // The descriptor's size is the size: the commit checks it. A partial recorded under
        // another size (a server's claim, from an earlier `fetch`) is not trusted: its segment
        // plan and its data go.
        if ingest.state.size.is_some_and(|s| s != n) {
            ingest.state.segments = None;
            ingest.restart()?;
        }
        ingest.state.size = Some(n);
    }
    loop {
        // A segmented download recorded in state.json (by an earlier attempt or run) goes on
        // in segments.
        if ingest.state.segments.is_some() && ingest.state.size.is_some() {
            // Bytes from before this attempt: only then may a failed verification be the old
            // bytes' fault, worth the one restart.
            let resumed = ingest
                .state
                .segments
                .iter()
                .flatten()
                .any(|s| s.written > 0);
            let end = segments::download(
                client,
                reference,
                digest,
                &mut ingest,
                None,
                progress,
                transferred,
            )
            .await?;
            match finish_segmented(digest, ingest, end, resumed && !restarted, progress).await? {
                Segmented::Done(path, size) => return Ok((path, size)),
                Segmented::FallBack(back, why) => {
                    ingest = back;
                    match why {
                        Fallback::OneStream => one_stream = true,
                        Fallback::FromZero => restarted = true,
                    }
                    if let SizeLimit::Exact(n) = options.size {
                        ingest.state.size = Some(n);
                    }
                    continue;
                }
            }
        }
        // The data file's length is the truth, whatever state.json says.
        let offset = ingest.partial_len()?;
        // Re-hashing a partial of several GiB takes seconds: keep it off the runtime.
        let (back, hashed) = blocking(move || {
            let hashed = ingest.rehash(offset);
            (ingest, hashed)
        })
        .await?;
        ingest = back;
        let hashed = hashed?;
        // Closed when the size is known (some servers insist). Open when the partial is that
        // long already: a server should answer 416, and then the commit decides.
        let range = (offset > 0).then(|| {
            let last = ingest.state.size.filter(|s| *s > offset).map(|s| s - 1);
            (offset, last)
        });
        let response = client.get_blob(reference, digest, range).await?;
        let url = redact(&response.final_url);
        // Before anything is written: a server that announces another blob is refused.
        check_declared_digest(digest, &response, &url)?;
        let start = match plan(digest, offset, &response, &url)? {
            Plan::Stream { start, size } => {
                check_declared_size(digest, options.size, size, &url)?;
                // A declared size replaces a remembered one (with an exact limit they are
                // equal: checked just above).
                ingest.state.size = size.or(ingest.state.size);
                start
            }
            Plan::AlreadyComplete => {
                // 416 on a resume: the partial may be the whole blob. Never trust the body of
                // a 416 (the reference registry declares the full size and sends 33 bytes):
                // the verifying commit decides, from the hash of the data itself.
                match commit(ingest, hashed).await? {
                    Commit::Published(path) => {
                        progress.started(Some(offset), offset);
                        return Ok((path, offset));
                    }
                    Commit::Rejected(back, _) => ingest = *back,
                }
                // This attempt has restarted once already: refuse rather than loop.
                if restarted {
                    ingest.restart()?;
                    return Err(TransferError::BadRange {
                        digest: digest.clone(),
                        offset,
                        answer: "416 Range Not Satisfiable twice".into(),
                        url,
                    });
                }
                restarted = true;
                progress.restarted(
                    "the server refused to resume and the partial data is not the whole blob",
                );
                ingest.restart()?;
                continue;
            }
        };
        let hashed = if start == 0 && offset > 0 {
            progress.restarted("the server ignored the Range request; starting over");
            ingest.restart()?
        } else {
            hashed
        };
        // For `cache ls` and people: where the first bytes came from.
        if ingest.state.source.is_none() {
            ingest.state.source = Some(reference.location());
        }
        ingest.state.bytes = start;
        // `max(1)`: an empty blob is never split, whatever `--segment-min` says.
        if let Some(size) = ingest.state.size
            && start == 0
            && response.status == 200
            && options.segments > 1
            && size >= options.segment_min.max(1)
            && !one_stream
        {
            // Big blob, fresh start: this response serves segment 0, Range requests the rest.
            ingest.state.segments = Some(segments::plan(size, options.segments));
            // The plan is on disk before any segment's bytes, so a crash resumes segmented.
            ingest.restart()?;
            ingest.save_state()?;
            let end = segments::download(
                client,
                reference,
                digest,
                &mut ingest,
                Some(response),
                progress,
                transferred,
            )
            .await?;
            match finish_segmented(digest, ingest, end, false, progress).await? {
                Segmented::Done(path, size) => return Ok((path, size)),
                Segmented::FallBack(back, why) => {
                    ingest = back;
                    one_stream |= why == Fallback::OneStream;
                    if let SizeLimit::Exact(n) = options.size {
                        ingest.state.size = Some(n);
                    }
                    continue;
                }
            }
        }
        // The size reaches state.json before the body does, so a later resume knows it.
        ingest.save_state()?;
        let mut writer = ingest.append(hashed)?;
        progress.started(ingest.state.size, start);
        // A limit on the data file, resumed prefix included: the blob's size when known,
        // never above the cap.
        let limit = ingest.state.size.map_or(cap, |s| s.min(cap));
        let outcome = stream_body(response, &mut writer, limit, progress).await;
        // The writer began at `start` (what `hashed` covered), so this cannot underflow.
        let received = writer.bytes() - start;
        *transferred += received;
        let total = writer.bytes();
        // Waits for the writer thread to write and fsync everything: its write error, if any,
        // comes out here, before the stream's outcome is looked at.
        let written = blocking(move || writer.finish()).await?;
        let hashed = match written {
            Ok(hashed) => hashed,
            Err(source) => {
                return Err(TransferError::Write {
                    path: ingest.data_path().to_owned(),
                    source,
                });
            }
        };
        // A body that ended cleanly but short is an interruption too: the next attempt resumes.
        let outcome = match (outcome, ingest.state.size) {
            (StreamEnd::Complete, Some(size)) if total < size => {
                StreamEnd::Broken(format!("the body ended after {total} bytes"))
            }
            (outcome, _) => outcome,
        };
        match outcome {
            StreamEnd::Complete => {}
            // Longer than the declared size: the server is wrong about this blob, so none of
            // its bytes is kept.
            StreamEnd::TooLong if ingest.state.size.is_some() => {
                let expected = ingest.state.size.unwrap_or(total);
                blocking(move || ingest.discard()).await??;
                return Err(TransferError::TooLong {
                    digest: digest.clone(),
                    expected,
                    url,
                });
            }
            // No size known and the cap (`--max-size`) reached.
            StreamEnd::TooLong => {
                blocking(move || ingest.discard()).await??;
                return Err(TransferError::TooLarge {
                    digest: digest.clone(),
                    limit: cap,
                    url,
                });
            }
            // The bytes are fsynced (`finish`) and worth resuming. Saving the state is best
            // effort: the data file's length is the truth anyway.
            StreamEnd::Broken(reason) => {
                ingest.state.bytes = total;
                let _ = ingest.save_state();
                return Err(TransferError::Interrupted {
                    digest: digest.clone(),
                    received: total,
                    expected: ingest.state.size,
                    url,
                    reason,
                });
            }
            // `finish` would have returned the thread's error: this is a stop without one.
            StreamEnd::WriterStopped => {
                return Err(TransferError::Internal(
                    "the writer thread stopped without an error".into(),
                ));
            }
        }
        let (back, mismatch) = match commit(ingest, hashed).await? {
            Commit::Published(path) => return Ok((path, total)),
            Commit::Rejected(back, mismatch) => (*back, mismatch),
        };
        ingest = back;
        if start > 0 && !restarted {
            // The resumed prefix may be what was wrong (a crash can leave garbage): start
            // over once before calling the registry a liar.
            restarted = true;
            progress.restarted("the resumed download did not verify; starting over");
            // A size learned from the server may have been part of what was wrong: keep only
            // the descriptor's.
            ingest.state.size = match options.size {
                SizeLimit::Exact(n) => Some(n),
                SizeLimit::AtMost(_) => None,
            };
            ingest.restart()?;
            continue;
        }
        // The bytes are fresh, or the one restart is spent: the registry's bytes are wrong,
        // and none is kept.
        blocking(move || ingest.discard()).await??;
        return Err(refused(digest, mismatch, url));
    }
}

/// How a segmented download ended, for the loop in [`download`].
enum Segmented {
    /// Published: the blob's path and size.
    Done(PathBuf, u64),
    /// Not published: go on with this ingest, as the fallback says.
    FallBack(Ingest, Fallback),
}

/// What a segmented download falls back to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fallback {
    /// One stream from the contiguous prefix (the server ignores Range, or the plan was wrong).
    OneStream,
    /// Everything again from zero (a resumed segmented download did not verify).
    FromZero,
}

/// Publishes a verified segmented download, or prepares the ingest for the single-stream path.
/// `may_restart` allows the one restart from zero, when segments resumed older bytes.
async fn finish_segmented(
    digest: &Digest,
    mut ingest: Ingest,
    end: segments::SegmentedEnd,
    may_restart: bool,
    progress: &dyn Progress,
) -> Result<Segmented, TransferError> {
    // Segments are planned only with a known size: this is it.
    let size = ingest.state.size.unwrap_or(0);
    match end {
        segments::SegmentedEnd::Hashed(hashed) => {
            let mismatch = match commit(ingest, *hashed).await? {
                Commit::Published(path) => return Ok(Segmented::Done(path, size)),
                Commit::Rejected(back, mismatch) => {
                    ingest = *back;
                    mismatch
                }
            };
            if may_restart {
                progress.restarted("the resumed download did not verify; starting over");
                ingest.state.segments = None;
                ingest.restart()?;
                ingest.save_state()?;
                return Ok(Segmented::FallBack(ingest, Fallback::FromZero));
            }
            blocking(move || ingest.discard()).await??;
            // Several requests brought these bytes: there is no one URL to name.
            Err(refused(digest, mismatch, String::from("the registry")))
        }
        // The store never lets recorded progress run ahead of the data: something else changed
        // the file, so nothing in it is trusted.
        segments::SegmentedEnd::Short { bytes, claimed } => {
            blocking(move || ingest.discard()).await??;
            Err(TransferError::PartialShort {
                digest: digest.clone(),
                bytes,
                claimed,
            })
        }
        segments::SegmentedEnd::RangesIgnored { contiguous } => {
            // The contiguous prefix is good: the single stream resumes from it.
            progress.restarted("the server ignored a Range request; continuing as one stream");
            ingest.state.segments = None;
            ingest.state.bytes = contiguous;
            ingest.truncate(contiguous)?;
            ingest.save_state()?;
            Ok(Segmented::FallBack(ingest, Fallback::OneStream))
        }
        segments::SegmentedEnd::BadPlan { contiguous, reason } => {
            // The size the plan came from was wrong (a lying first Content-Length): drop the
            // plan and its size, keep the prefix, and go on as one stream, whose answer tells
            // the real size.
            progress.restarted(&format!(
                "{reason}; dropping the segment plan and continuing as one stream"
            ));
            ingest.state.segments = None;
            ingest.state.size = None;
            ingest.state.bytes = contiguous;
            ingest.truncate(contiguous)?;
            ingest.save_state()?;
            Ok(Segmented::FallBack(ingest, Fallback::OneStream))
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
    /// The writer thread stopped (its error comes from `IngestWriter::finish`).
    WriterStopped,
}

/// Streams a body into the store's writer (which hashes each chunk here and writes it on its
/// own thread), stopping once the data file would exceed `limit` bytes.
async fn stream_body(
    response: BlobResponse,
    writer: &mut IngestWriter,
    limit: u64,
    progress: &dyn Progress,
) -> StreamEnd {
    let mut body = response.response.bytes_stream();
    while let Some(item) = body.next().await {
        let chunk = match item {
            Ok(chunk) => chunk,
            Err(e) => return StreamEnd::Broken(crate::client::error_text(&e)),
        };
        // Checked before the chunk is written, so the data file never exceeds the limit.
        if writer.bytes().saturating_add(chunk.len() as u64) > limit {
            return StreamEnd::TooLong;
        }
        let len = chunk.len() as u64;
        if !writer.write(chunk).await {
            return StreamEnd::WriterStopped;
        }
        progress.advanced(len);
    }
    StreamEnd::Complete
}
