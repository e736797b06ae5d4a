//! Moving one blob from a registry into the store: lock, resume, stream, hash, verify,
//! publish.
//!
//! This is where `client` and `store` meet; neither knows the other. The rules (STYLE.md,
//! "Fetching"): every byte is hashed as it streams; reading stops past the expected size and
//! past the size limit (a descriptor's size for `pull`, `--max-size` for `fetch`), so no body
//! fills the disk; the digest asked for (and `Docker-Content-Digest`, when sent) must match
//! before anything reaches `blobs/`; a mismatch deletes the partial; a network failure keeps
//! it, and the next attempt re-hashes it and asks for the rest with `Range`.
//!
//! The digest and size checks themselves belong to the store: the store's ingest writer hashes
//! what it writes (on the network task, while its own thread writes, so hashing and file I/O
//! use both cores and memory stays flat), and `Ingest::commit` publishes only what that hash
//! proves. This module decides what to do when the commit refuses: start over once, or discard.

use std::io;
use std::path::PathBuf;

use futures_util::StreamExt;

use std::time::Duration;

use crate::client::retry::{self, Failure, GaveUp, Request, RetryPolicy, Retryable};
use crate::client::{BlobResponse, Client, RegistryError, redact};
use crate::digest::Digest;
use crate::envelope::Category;
use crate::reference::Reference;
use crate::store::{
    Commit, Hashed, Ingest, IngestLock, IngestWriter, LockAttempt, Mismatch, Store, StoreError,
};

pub mod image;
mod record;
mod segments;

/// What a transfer reports while it runs. Implementations draw bars or print lines; the
/// defaults do nothing.
pub trait Progress: Send + Sync {
    /// Another process holds the blob's lock; we wait for it.
    fn waiting_for_lock(&self, _holder: Option<u32>) {}
    /// The body starts: `total` bytes in all when known, `done` of them already on disk.
    fn started(&self, _total: Option<u64>, _done: u64) {}
    /// `bytes` more arrived.
    fn advanced(&self, _bytes: u64) {}
    /// Earlier progress was lost (the server ignored Range, or a resumed partial was bad).
    fn restarted(&self, _reason: &str) {}
    /// Attempt `attempt` failed with `error`; the next starts after `wait`.
    fn retrying(&self, _attempt: u32, _wait: Duration, _error: &TransferError) {}
    /// The transfer ended (either way).
    fn finished(&self) {}
}

/// A [`Progress`] that reports nothing.
pub struct NoProgress;
impl Progress for NoProgress {}

/// How to fetch.
#[derive(Debug, Clone, Copy)]
pub struct FetchOptions {
    /// Re-hash a cached blob before trusting it.
    pub verify_cached: bool,
    /// When and how long to wait before trying again.
    pub retry: RetryPolicy,
    /// Parallel Range requests for one big blob (1 = one stream).
    pub segments: u32,
    /// Smallest blob that is downloaded in segments.
    pub segment_min: u64,
    /// How large the blob may be.
    pub size: SizeLimit,
}

impl Default for FetchOptions {
    fn default() -> Self {
        FetchOptions {
            verify_cached: false,
            retry: RetryPolicy::default(),
            segments: DEFAULT_SEGMENTS,
            segment_min: DEFAULT_SEGMENT_MIN,
            size: SizeLimit::AtMost(DEFAULT_MAX_SIZE),
        }
    }
}

/// What bounds a body: without a bound, a server that sends no length fills the disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SizeLimit {
    /// The blob has exactly this size (a descriptor says so: `pull`). A response declaring
    /// another size is refused before its body, a longer body is cut off.
    Exact(u64),
    /// The blob is at most this large (`fetch --max-size`).
    AtMost(u64),
}

impl SizeLimit {
    /// The most bytes a body may have.
    fn cap(self) -> u64 {
        match self {
            SizeLimit::Exact(n) | SizeLimit::AtMost(n) => n,
        }
    }
}

/// Default `fetch --max-size`: 10 GiB, above the largest layers seen in practice.
pub const DEFAULT_MAX_SIZE: u64 = 10 << 30;

/// Default `--segments`.
pub const DEFAULT_SEGMENTS: u32 = 4;

/// How many segments to fetch big blobs of `reference`'s registry in: `asked` (`--segments`)
/// when given, else [`DEFAULT_SEGMENTS`], but 1 for a loopback registry. Measured
/// (scripts/bench-fetch, 1 GiB): on loopback, 4 segments ran 22-26 % slower than one stream
/// (they compete for the same cores); behind a 50 MB/s per-connection limit they ran 3.3-3.5x
/// faster.
pub fn segments_for(reference: &Reference, asked: Option<u32>) -> u32 {
    asked.unwrap_or(if reference.registry().is_loopback() {
        1
    } else {
        DEFAULT_SEGMENTS
    })
}
/// Default `--segment-min`.
pub const DEFAULT_SEGMENT_MIN: u64 = 64 << 20;

/// The result of a successful fetch.
#[derive(Debug, Clone)]
pub struct FetchOutcome {
    /// The blob's digest.
    pub digest: Digest,
    /// Its size in bytes.
    pub size: u64,
    /// Its path in the cache.
    pub path: PathBuf,
    /// Answered from the cache without a request.
    pub cached: bool,
    /// Body bytes received over the network by this process.
    pub bytes_transferred: u64,
}

/// Why a fetch failed.
#[derive(Debug, thiserror::Error)]
pub enum TransferError {
    /// The registry refused, or could not be reached before the body.
    #[error(transparent)]
    Registry(#[from] RegistryError),
    /// The cache failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The bytes hash to something else. Nothing was published, and the partial was deleted.
    #[error(
        "blob {expected} from `{url}` does not match its digest: the {bytes} bytes received hash to {actual}; nothing was saved"
    )]
    DigestMismatch {
        /// The digest asked for.
        expected: Digest,
        /// What the bytes hash to.
        actual: Digest,
        /// How many bytes.
        bytes: u64,
        /// Where they came from (redacted).
        url: String,
    },
    /// The registry declares a different digest than the one asked for.
    #[error(
        "`{url}` answered for blob {expected} with Docker-Content-Digest {declared}; nothing was saved"
    )]
    DeclaredDigestMismatch {
        /// The digest asked for.
        expected: Digest,
        /// The header's value.
        declared: String,
        /// Where (redacted).
        url: String,
    },
    /// The body is longer than the size the server declared (or the descriptor gave).
    #[error(
        "blob {digest} from `{url}` is longer than the {expected} bytes it should have; nothing was saved"
    )]
    TooLong {
        /// The blob.
        digest: Digest,
        /// The declared size.
        expected: u64,
        /// Where (redacted).
        url: String,
    },
    /// The blob is larger than the limit (`--max-size`).
    #[error(
        "blob {digest} from `{url}` is larger than {limit} bytes (--max-size); nothing was saved\nhint: raise --max-size if the blob is really that large"
    )]
    TooLarge {
        /// The blob.
        digest: Digest,
        /// The limit.
        limit: u64,
        /// Where (redacted).
        url: String,
    },
    /// The blob has another size than it must have (its descriptor's, or the one its response
    /// declared).
    #[error(
        "blob {digest} from `{url}` is {actual} bytes, but {expected} were expected; nothing was saved"
    )]
    SizeMismatch {
        /// The blob.
        digest: Digest,
        /// The size it must have.
        expected: u64,
        /// The size it has (or its response declares).
        actual: u64,
        /// Where (redacted).
        url: String,
    },
    /// The partial download holds fewer bytes than its recorded progress claims (a crash
    /// before the data reached the disk, or a file cut short): it was dropped.
    #[error(
        "the partial download of blob {digest} ends after {bytes} bytes, before the {claimed} its recorded progress claims; it was dropped, and the next fetch starts over"
    )]
    PartialShort {
        /// The blob.
        digest: Digest,
        /// Bytes the data file holds.
        bytes: u64,
        /// Bytes recorded as written.
        claimed: u64,
    },
    /// The body stopped early; the partial is kept for the next attempt.
    #[error(
        "download of blob {digest} from `{url}` broke off after {received} of {} bytes: {reason}; the partial download is kept and the next fetch resumes it",
        .expected.map_or_else(|| "?".to_owned(), |e| e.to_string())
    )]
    Interrupted {
        /// The blob.
        digest: Digest,
        /// Bytes on disk now.
        received: u64,
        /// The expected size, if known.
        expected: Option<u64>,
        /// Where (redacted).
        url: String,
        /// Why.
        reason: String,
    },
    /// A range answer that does not fit what was asked.
    #[error("`{url}` answered a request for bytes {offset}- of blob {digest} with {answer}")]
    BadRange {
        /// The blob.
        digest: Digest,
        /// The offset asked for.
        offset: u64,
        /// What came back.
        answer: String,
        /// Where (redacted).
        url: String,
    },
    /// Writing the partial download failed (disk full, permissions).
    #[error("cannot write the partial download `{}`: {source}", .path.display())]
    Write {
        /// The data file.
        path: PathBuf,
        /// The OS error.
        source: io::Error,
    },
    /// A blocking task died.
    #[error("internal error: {0}")]
    Internal(String),
    /// Every attempt failed; this is the last failure, with the attempts and their time.
    #[error(transparent)]
    Exhausted(Box<GaveUp<TransferError>>),
}

impl TransferError {
    /// The error's category (and so exit code).
    pub fn category(&self) -> Category {
        match self {
            TransferError::Registry(e) => e.category(),
            TransferError::Store(e) => e.category(),
            TransferError::DigestMismatch { .. }
            | TransferError::DeclaredDigestMismatch { .. }
            | TransferError::TooLong { .. }
            | TransferError::TooLarge { .. }
            | TransferError::SizeMismatch { .. }
            | TransferError::PartialShort { .. } => Category::Integrity,
            TransferError::Interrupted { .. } | TransferError::BadRange { .. } => Category::Network,
            TransferError::Write { .. } => Category::Storage,
            TransferError::Internal(_) => Category::Other,
            TransferError::Exhausted(gave_up) => gave_up.last.category(),
        }
    }

    /// What the retry policy needs to know: a broken body is a transport failure (the retry
    /// resumes it); integrity and storage failures are final.
    pub fn failure(&self) -> Failure<'_> {
        match self {
            TransferError::Registry(e) => e.failure(),
            TransferError::Interrupted { .. } => Failure::Transport,
            _ => Failure::Final,
        }
    }
}

impl Retryable for TransferError {
    fn failure(&self) -> Failure<'_> {
        TransferError::failure(self)
    }
    fn category(&self) -> Category {
        TransferError::category(self)
    }
}

/// Fetches `digest` from `reference`'s repository into `store`, or answers from the cache
/// (and marks the cached blob as used).
pub async fn fetch_blob(
    client: &Client,
    store: &Store,
    reference: &Reference,
    digest: &Digest,
    options: FetchOptions,
    progress: &dyn Progress,
) -> Result<FetchOutcome, TransferError> {
    if let Some(outcome) = cached(store, digest, options).await? {
        return Ok(outcome);
    }
    let lock = acquire_lock(store, digest, progress).await?;
    // The previous holder may have published it while we waited. A cached blob that failed
    // `--verify-cached` is removed only now, under its lock (and checked again: another
    // process may have replaced it meanwhile).
    if store.lookup(digest)?.is_some() {
        if !options.verify_cached {
            return Ok(hit(store, digest)?);
        }
        let (s, d) = (store.clone(), digest.clone());
        if blocking(move || s.hash_blob(&d)).await?? == *digest {
            return Ok(hit(store, digest)?);
        }
        store.remove_blob(digest)?;
    }
    let mut transferred = 0u64;
    let what = format!("blob `{digest}` of `{}`", reference.location());
    let request = Request {
        client,
        policy: options.retry,
        url: client.blob_url(reference, digest),
        what: &what,
    };
    let result = retry::run(
        &request,
        |attempt, wait, error| progress.retrying(attempt, wait, error),
        async |_| {
            let ingest = store.ingest(&lock, digest)?;
            download(
                client,
                reference,
                digest,
                ingest,
                options,
                progress,
                &mut transferred,
            )
            .await
        },
    )
    .await
    .map_err(|gave_up| gave_up.report(TransferError::Exhausted));
    progress.finished();
    let (path, size) = match result {
        Ok(done) => done,
        Err(e) => {
            // Keep a partial worth resuming; remove an entry that never got a byte (a 404),
            // and one whose bytes can only be wrong (integrity failures).
            let ingest = store.ingest(&lock, digest)?;
            if ingest.partial_len()? == 0 || e.category() == Category::Integrity {
                ingest.discard()?;
                lock.release_and_remove();
            }
            return Err(e);
        }
    };
    lock.release_and_remove();
    Ok(FetchOutcome {
        digest: digest.clone(),
        size,
        path,
        cached: false,
        bytes_transferred: transferred,
    })
}

/// The outcome for a blob found in the cache, marked as used: `cache prune` evicts least
/// recently used first (one futimens, no data written).
fn hit(store: &Store, digest: &Digest) -> Result<FetchOutcome, StoreError> {
    store.touch_blob(digest)?;
    Ok(FetchOutcome {
        digest: digest.clone(),
        size: store.lookup(digest)?.unwrap_or(0),
        path: store.blob_path(digest),
        cached: true,
        bytes_transferred: 0,
    })
}

/// A cached blob, verified first when asked. One that fails verification is not served; the
/// caller removes it under its lock and fetches it again.
async fn cached(
    store: &Store,
    digest: &Digest,
    options: FetchOptions,
) -> Result<Option<FetchOutcome>, TransferError> {
    if store.lookup(digest)?.is_none() {
        return Ok(None);
    }
    if options.verify_cached {
        let (s, d) = (store.clone(), digest.clone());
        let actual = blocking(move || s.hash_blob(&d)).await??;
        if &actual != digest {
            return Ok(None);
        }
    }
    Ok(Some(hit(store, digest)?))
}

async fn acquire_lock(
    store: &Store,
    digest: &Digest,
    progress: &dyn Progress,
) -> Result<IngestLock, TransferError> {
    match store.try_lock(digest)? {
        LockAttempt::Acquired(lock) => Ok(lock),
        LockAttempt::Busy { holder } => {
            progress.waiting_for_lock(holder);
            let (s, d) = (store.clone(), digest.clone());
            Ok(blocking(move || s.lock_blocking(&d)).await??)
        }
    }
}

/// Commits through the store's verifying commit (off the runtime: it fsyncs).
async fn commit(ingest: Ingest, hashed: Hashed) -> Result<Commit, TransferError> {
    Ok(blocking(move || ingest.commit(hashed)).await??)
}

/// The error for data the commit refused, once the ingest is discarded.
fn refused(digest: &Digest, mismatch: Mismatch, url: String) -> TransferError {
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
/// path and its size; adds the bytes received to `transferred`.
async fn download(
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
        // The descriptor's size is the size: the commit checks it.
        if ingest.state.size.is_some_and(|s| s != n) {
            ingest.state.segments = None;
            ingest.restart()?;
        }
        ingest.state.size = Some(n);
    }
    loop {
        if ingest.state.segments.is_some() && ingest.state.size.is_some() {
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
                Segmented::Again(back, why) => {
                    ingest = back;
                    match why {
                        Again::OneStream => one_stream = true,
                        Again::Mismatch => restarted = true,
                    }
                    if let SizeLimit::Exact(n) = options.size {
                        ingest.state.size = Some(n);
                    }
                    continue;
                }
            }
        }
        let offset = ingest.partial_len()?;
        // Re-hashing a partial of several GiB takes seconds: keep it off the runtime.
        let (back, hashed) = blocking(move || {
            let hashed = ingest.rehash(offset);
            (ingest, hashed)
        })
        .await?;
        ingest = back;
        let hashed = hashed?;
        let range = (offset > 0).then(|| {
            let last = ingest.state.size.filter(|s| *s > offset).map(|s| s - 1);
            (offset, last)
        });
        let response = client.get_blob(reference, digest, range).await?;
        let url = redact(&response.final_url);
        check_declared_digest(digest, &response, &url)?;
        let start = match plan(digest, offset, &response, &url)? {
            Plan::Stream { start, size } => {
                match (options.size, size) {
                    (SizeLimit::Exact(n), Some(declared)) if declared != n => {
                        return Err(TransferError::SizeMismatch {
                            digest: digest.clone(),
                            expected: n,
                            actual: declared,
                            url,
                        });
                    }
                    (SizeLimit::AtMost(limit), Some(declared)) if declared > limit => {
                        return Err(TransferError::TooLarge {
                            digest: digest.clone(),
                            limit,
                            url,
                        });
                    }
                    _ => {}
                }
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
        if ingest.state.source.is_none() {
            ingest.state.source = Some(reference.location());
        }
        ingest.state.bytes = start;
        if let Some(size) = ingest.state.size
            && start == 0
            && response.status == 200
            && options.segments > 1
            && size >= options.segment_min.max(1)
            && !one_stream
        {
            // Big blob, fresh start: this response serves segment 0, Range requests the rest.
            ingest.state.segments = Some(segments::plan(size, options.segments));
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
                Segmented::Again(back, why) => {
                    ingest = back;
                    one_stream |= why == Again::OneStream;
                    if let SizeLimit::Exact(n) = options.size {
                        ingest.state.size = Some(n);
                    }
                    continue;
                }
            }
        }
        ingest.save_state()?;
        let mut writer = ingest.append(hashed)?;
        progress.started(ingest.state.size, start);
        let limit = ingest.state.size.map_or(cap, |s| s.min(cap));
        let outcome = stream_body(response, &mut writer, limit, progress).await;
        let received = writer.bytes() - start;
        *transferred += received;
        let total = writer.bytes();
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
        let outcome = match (outcome, ingest.state.size) {
            (StreamEnd::Complete, Some(size)) if total < size => {
                StreamEnd::Broken(format!("the body ended after {total} bytes"))
            }
            (outcome, _) => outcome,
        };
        match outcome {
            StreamEnd::Complete => {}
            StreamEnd::TooLong if ingest.state.size.is_some() => {
                let expected = ingest.state.size.unwrap_or(total);
                blocking(move || ingest.discard()).await??;
                return Err(TransferError::TooLong {
                    digest: digest.clone(),
                    expected,
                    url,
                });
            }
            StreamEnd::TooLong => {
                blocking(move || ingest.discard()).await??;
                return Err(TransferError::TooLarge {
                    digest: digest.clone(),
                    limit: cap,
                    url,
                });
            }
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
            ingest.state.size = match options.size {
                SizeLimit::Exact(n) => Some(n),
                SizeLimit::AtMost(_) => None,
            };
            ingest.restart()?;
            continue;
        }
        blocking(move || ingest.discard()).await??;
        return Err(refused(digest, mismatch, url));
    }
}

enum Segmented {
    Done(PathBuf, u64),
    /// Go on as one stream (the server ignores Range, or the plan was wrong) or from zero (a
    /// resumed segmented download did not verify).
    Again(Ingest, Again),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Again {
    OneStream,
    Mismatch,
}

/// Publishes a verified segmented download, or prepares the ingest for the single-stream path.
async fn finish_segmented(
    digest: &Digest,
    mut ingest: Ingest,
    end: segments::SegmentedEnd,
    may_restart: bool,
    progress: &dyn Progress,
) -> Result<Segmented, TransferError> {
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
                return Ok(Segmented::Again(ingest, Again::Mismatch));
            }
            blocking(move || ingest.discard()).await??;
            Err(refused(digest, mismatch, String::from("the registry")))
        }
        segments::SegmentedEnd::Short { bytes, claimed } => {
            blocking(move || ingest.discard()).await??;
            Err(TransferError::PartialShort {
                digest: digest.clone(),
                bytes,
                claimed,
            })
        }
        segments::SegmentedEnd::RangesIgnored { contiguous } => {
            progress.restarted("the server ignored a Range request; continuing as one stream");
            ingest.state.segments = None;
            ingest.state.bytes = contiguous;
            ingest.truncate(contiguous)?;
            ingest.save_state()?;
            Ok(Segmented::Again(ingest, Again::OneStream))
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
            Ok(Segmented::Again(ingest, Again::OneStream))
        }
    }
}

enum Plan {
    /// Write the body from byte `start`; `size` is the blob size if the response tells it.
    Stream { start: u64, size: Option<u64> },
    /// 416 to a resume request.
    AlreadyComplete,
}

/// Decides what a blob response means for a transfer that has `offset` bytes on disk.
fn plan(digest: &Digest, offset: u64, r: &BlobResponse, url: &str) -> Result<Plan, TransferError> {
    let bad = |answer: String| TransferError::BadRange {
        digest: digest.clone(),
        offset,
        answer,
        url: url.to_owned(),
    };
    match r.status {
        // A full answer: to a resume request it means the range was ignored.
        200 => Ok(Plan::Stream {
            start: 0,
            size: r.content_length,
        }),
        206 => {
            let Some(cr) = r.content_range else {
                return Err(bad("206 without Content-Range".into()));
            };
            match cr.range {
                Some((first, last)) if first == offset => {
                    let size = cr.total;
                    if let Some(len) = r.content_length
                        && Some(len) != (last - first).checked_add(1)
                    {
                        return Err(bad(format!(
                            "206 whose Content-Length {len} disagrees with Content-Range {first}-{last}"
                        )));
                    }
                    Ok(Plan::Stream {
                        start: offset,
                        size,
                    })
                }
                _ => Err(bad(format!("206 for a different range ({cr:?})"))),
            }
        }
        416 if offset > 0 => Ok(Plan::AlreadyComplete),
        other => Err(bad(format!("HTTP {other}"))),
    }
}

/// A `Docker-Content-Digest` of the same algorithm must equal the digest asked for. One of
/// another algorithm cannot be checked without hashing twice, and is ignored.
fn check_declared_digest(
    digest: &Digest,
    r: &BlobResponse,
    url: &str,
) -> Result<(), TransferError> {
    let Some(declared) = &r.digest else {
        return Ok(());
    };
    let same_algorithm = declared
        .split_once(':')
        .is_some_and(|(alg, _)| alg == digest.algorithm().as_str());
    if same_algorithm && declared.trim() != digest.to_string() {
        return Err(TransferError::DeclaredDigestMismatch {
            expected: digest.clone(),
            declared: declared.clone(),
            url: url.to_owned(),
        });
    }
    Ok(())
}

enum StreamEnd {
    Complete,
    /// More than `limit` bytes came.
    TooLong,
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

/// Runs blocking file work off the async runtime.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, TransferError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| TransferError::Internal(e.to_string()))
}
