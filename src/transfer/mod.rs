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
//!
//! Its parts: this file holds the types and [`fetch_blob`] (cache hit, per-digest lock, the
//! retry driver around attempts); `download` makes one attempt, in one stream or in `segments`;
//! `plan` holds the pure decisions (what a response means, what its declared digest and size
//! allow), table-tested; `error` the one error type. [`image`] pulls whole images through
//! `fetch_blob`, with its manifests in `manifests` and what it records in `index.json` in
//! `record`.

use std::path::PathBuf;
use std::time::Duration;

use crate::client::retry::{self, Request, RetryPolicy};
use crate::client::{Client, Named};
use crate::digest::Digest;
use crate::exit::Category;
use crate::reference::Reference;
use crate::store::{BlobWriter, ContentStore, StoreError, WriterAttempt};

mod download;
mod error;
pub mod image;
mod manifests;
mod plan;
pub mod push;
mod record;
mod segments;
pub mod sync;
pub mod tee;

use self::download::download;
pub use self::error::TransferError;
use self::plan::check_declared_digest;

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
    /// An attempt failed; the next starts after a wait (fetches and pushes alike).
    fn retrying(&self, _retry: &Retry<'_>) {}
    /// The transfer ended (either way).
    fn finished(&self) {}
}

/// A failed attempt that is tried again, as [`Progress::retrying`] reports it.
#[derive(Clone, Copy)]
pub struct Retry<'a> {
    /// The attempt that failed (the first is 1).
    pub attempt: u32,
    /// How long until the next one starts.
    pub wait: Duration,
    /// What failed in one short line, without the URL and cause chain the final error shows
    /// (`HTTP 503 Service Unavailable`).
    pub short: &'a str,
    /// The whole error.
    pub error: &'a dyn std::fmt::Display,
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
    /// The size a writer of the blob is told: the descriptor's, when there is one (never a
    /// server's claim).
    fn exact(self) -> Option<u64> {
        match self {
            SizeLimit::Exact(n) => Some(n),
            SizeLimit::AtMost(_) => None,
        }
    }

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
    /// Its path in the cache, for a store with files ([`ContentStore::local_path`]).
    pub path: Option<PathBuf>,
    /// Answered from the cache without a request.
    pub cached: bool,
    /// Body bytes received over the network by this process.
    pub bytes_transferred: u64,
}

/// Fetches `digest` from `reference`'s repository into `store`, or answers from the cache
/// (and marks the cached blob as used).
pub async fn fetch_blob<S: ContentStore>(
    client: &Client,
    store: &S,
    reference: &Reference,
    digest: &Digest,
    options: FetchOptions,
    progress: &dyn Progress,
) -> Result<FetchOutcome, TransferError> {
    let size = options.size.exact();
    let writer = loop {
        if let Some(outcome) = cached(store, digest, options).await? {
            return Ok(outcome);
        }
        let writer = match store.try_writer(digest, size).await? {
            WriterAttempt::Ready(w) => w,
            WriterAttempt::Busy { holder } => {
                progress.waiting_for_lock(holder);
                store.writer(digest, size).await?
            }
        };
        // The previous holder may have published it while we waited.
        if store.stat(digest).await?.is_none() {
            break writer;
        }
        // Whatever partial the writer holds is of no use now: it goes, with its lock file.
        writer.abort().await?;
        if !options.verify_cached || verify(store, digest).await? {
            return Ok(cache_hit(store, digest).await?);
        }
        // Replaced by bytes that fail `--verify-cached` while we waited: taken out of service
        // (which waits for the digest's lock) and checked again.
    };
    let mut transferred = 0u64;
    let what = format!("blob `{digest}` of `{}`", reference.location());
    let request = Request {
        client,
        policy: options.retry,
        url: client.blob_url(reference, digest),
        what: &what,
    };
    // The writer goes from attempt to attempt while it is worth continuing; an attempt that
    // finds none (the last one discarded its partial, or failed writing) opens the partial
    // again.
    let mut slot = Some(writer);
    // Mirrors first, when configured: a mirror that breaks off hands the same writer (and so
    // the bytes reached) to the next source, which continues with Range.
    let sources = client.sources(reference, Named::ByDigest);
    let result = retry::run_over(
        &request,
        &sources,
        |attempt, wait, error| {
            let short = match error {
                TransferError::Registry(e) => e.short(),
                other => other.to_string(),
            };
            progress.retrying(&Retry {
                attempt,
                wait,
                short: &short,
                error,
            });
        },
        async |_, source| {
            let result = download(
                client,
                store,
                reference,
                source,
                digest,
                &mut slot,
                options,
                progress,
                &mut transferred,
            )
            .await;
            // A writer whose store failed (a full disk) holds nothing to go on with: dropped,
            // it keeps what reached the disk for the next attempt to open again.
            if matches!(
                result,
                Err(TransferError::Store(_) | TransferError::Write { .. })
            ) {
                slot = None;
            }
            result
        },
    )
    .await
    .map_err(|gave_up| gave_up.report(TransferError::Exhausted));
    progress.finished();
    let size = match result {
        Ok(size) => size,
        Err(e) => {
            // Keep a partial worth resuming; remove one that never got a byte (a 404), and
            // one whose bytes can only be wrong (integrity failures).
            if let Some(writer) = slot.take() {
                if writer.offset() == 0 || e.category() == Category::Integrity {
                    writer.abort().await?;
                } else {
                    writer.close().await?;
                }
            }
            return Err(e);
        }
    };
    Ok(FetchOutcome {
        digest: digest.clone(),
        size,
        path: store.local_path(digest),
        cached: false,
        bytes_transferred: transferred,
    })
}

/// The transfer error for a failure of the store: a failed write names the partial it was
/// writing (a full disk), everything else is the store's own error.
pub(super) fn store_error(e: StoreError) -> TransferError {
    match e {
        StoreError::Io {
            action: "write",
            path,
            source,
        } => TransferError::Write { path, source },
        e => TransferError::Store(e),
    }
}

/// The outcome for a blob found in the cache, marked as used: `cache prune` evicts least
/// recently used first.
async fn cache_hit<S: ContentStore>(
    store: &S,
    digest: &Digest,
) -> Result<FetchOutcome, StoreError> {
    store.touch(digest).await?;
    Ok(FetchOutcome {
        digest: digest.clone(),
        size: store.stat(digest).await?.unwrap_or(0),
        path: store.local_path(digest),
        cached: true,
        bytes_transferred: 0,
    })
}

/// Whether a cached blob's bytes hash to its digest (`false` when it is gone meanwhile).
async fn verify<S: ContentStore>(store: &S, digest: &Digest) -> Result<bool, TransferError> {
    let Some(blob) = store.open(digest).await? else {
        return Ok(false);
    };
    let algorithm = digest.algorithm();
    let actual = blocking(move || blob.hash(algorithm)).await?;
    let actual = actual.map_err(|source| StoreError::Io {
        action: "read",
        path: digest.to_string().into(),
        source,
    })?;
    Ok(actual == *digest)
}

/// A cached blob, verified first when asked. One that fails verification is taken out of
/// service (kept in quarantine where the backend can), and the caller fetches it again.
async fn cached<S: ContentStore>(
    store: &S,
    digest: &Digest,
    options: FetchOptions,
) -> Result<Option<FetchOutcome>, TransferError> {
    if store.stat(digest).await?.is_none() {
        return Ok(None);
    }
    if options.verify_cached && !verify(store, digest).await? {
        store.quarantine(digest).await?;
        return Ok(None);
    }
    Ok(Some(cache_hit(store, digest).await?))
}

/// Runs blocking file work off the async runtime (for blobs, manifests and the refs table
/// alike); each error type of `transfer` turns a task that died into its `Internal` variant.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, TaskDied> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| TaskDied(e.to_string()))
}

/// A blocking task panicked or was cancelled.
#[derive(Debug)]
struct TaskDied(String);

impl From<TaskDied> for TransferError {
    fn from(died: TaskDied) -> Self {
        TransferError::Internal(died.0)
    }
}

impl From<TaskDied> for image::PullError {
    fn from(died: TaskDied) -> Self {
        image::PullError::Internal(died.0)
    }
}

#[cfg(test)]
mod tests;
