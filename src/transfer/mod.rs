//! Moving one blob from a registry into the store: lock, resume, stream, hash, verify,
//! publish.
//!
//! This is where `client` and `store` meet; neither knows the other. The rules (STYLE.md,
//! "Fetching"): every byte is hashed as it streams; reading stops past the expected size; the
//! digest asked for (and `Docker-Content-Digest`, when sent) must match before anything reaches
//! `blobs/`; a mismatch deletes the partial; a network failure keeps it, and the next attempt
//! re-hashes it and asks for the rest with `Range`. Writing happens on a dedicated thread fed
//! by a bounded channel, so hashing and file I/O use both cores and memory stays flat.

use std::io::{self, BufWriter, Write};
use std::path::PathBuf;

use bytes::Bytes;
use futures_util::StreamExt;
use tokio::sync::mpsc;

use std::time::{Duration, Instant};

use crate::client::retry::{Failure, RetryPolicy};
use crate::client::{BlobResponse, Client, RegistryError, redact};
use crate::digest::{Digest, Verifier};
use crate::envelope::Category;
use crate::reference::Reference;
use crate::store::{Ingest, IngestLock, LockAttempt, Store, StoreError};

mod segments;

/// Chunks queued between the network task and the writer thread. Chunks are at most a few
/// hundred KiB, so this bounds memory to a few MiB however large the blob is. (The queue fills
/// while an early-writeback fdatasync holds the file: at 32, peak RSS of a 1 GiB fetch was
/// 27 MiB; at 16 it is 16 MiB, at the same speed within the noise.)
const WRITE_QUEUE: usize = 16;
/// Writer-side buffer, so that small network chunks (a slow link) become fewer writes. Chunks
/// at least this large (hyper reads up to ~400 KiB at a time on a fast link) bypass it rather
/// than being copied once more: profiling a 1 GiB fetch showed that copy at 5% of all CPU.
const WRITE_BUF: usize = 64 << 10;

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
}

impl Default for FetchOptions {
    fn default() -> Self {
        FetchOptions {
            verify_cached: false,
            retry: RetryPolicy::default(),
            segments: DEFAULT_SEGMENTS,
            segment_min: DEFAULT_SEGMENT_MIN,
        }
    }
}

/// Default `--segments`.
pub const DEFAULT_SEGMENTS: u32 = 4;
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
    /// The body is longer than the size the server declared.
    #[error(
        "blob {digest} from `{url}` is longer than the {expected} bytes its headers declare; nothing was saved"
    )]
    TooLong {
        /// The blob.
        digest: Digest,
        /// The declared size.
        expected: u64,
        /// Where (redacted).
        url: String,
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
    /// Every attempt failed; this is the last failure.
    #[error("{last} (gave up after {attempts} attempts over {:.1} s)", .elapsed.as_secs_f64())]
    Exhausted {
        /// The last attempt's error.
        last: Box<TransferError>,
        /// Attempts made.
        attempts: u32,
        /// Time from the first attempt to the end of the last.
        elapsed: Duration,
    },
}

impl TransferError {
    /// The error's category (and so exit code).
    pub fn category(&self) -> Category {
        match self {
            TransferError::Registry(e) => e.category(),
            TransferError::Store(e) => e.category(),
            TransferError::DigestMismatch { .. }
            | TransferError::DeclaredDigestMismatch { .. }
            | TransferError::TooLong { .. } => Category::Integrity,
            TransferError::Interrupted { .. } | TransferError::BadRange { .. } => Category::Network,
            TransferError::Write { .. } => Category::Storage,
            TransferError::Internal(_) => Category::Other,
            TransferError::Exhausted { last, .. } => last.category(),
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

/// Fetches `digest` from `reference`'s repository into `store`, or answers from the cache.
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
    // The previous holder may have published it while we waited.
    if let Some(size) = store.lookup(digest)? {
        return Ok(FetchOutcome {
            digest: digest.clone(),
            size,
            path: store.blob_path(digest),
            cached: true,
            bytes_transferred: 0,
        });
    }
    let started = Instant::now();
    let mut attempt = 1;
    let mut transferred = 0u64;
    let result = loop {
        let ingest = store.ingest(&lock, digest)?;
        let attempt_result = download(
            client,
            reference,
            digest,
            ingest,
            options,
            progress,
            &mut transferred,
        )
        .await;
        let error = match attempt_result {
            Ok(done) => break Ok(done),
            Err(e) => e,
        };
        let Some(wait) = options.retry.delay(attempt, error.failure()) else {
            break Err(if attempt > 1 {
                TransferError::Exhausted {
                    last: Box::new(error),
                    attempts: attempt,
                    elapsed: started.elapsed(),
                }
            } else {
                error
            });
        };
        if error.category() == Category::RateLimited {
            client.throttle(&client.blob_url(reference, digest), wait);
        }
        progress.retrying(attempt, wait, &error);
        tokio::time::sleep(wait).await;
        attempt += 1;
    };
    progress.finished();
    let (path, size) = match result {
        Ok(done) => done,
        Err(e) => {
            // Keep a partial worth resuming; remove an entry that never got a byte (a 404).
            let ingest = store.ingest(&lock, digest)?;
            if ingest.partial_len()? == 0 {
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

/// A cached blob, verified first when asked. A cached blob that fails verification is removed
/// (it is re-fetched), never served.
async fn cached(
    store: &Store,
    digest: &Digest,
    options: FetchOptions,
) -> Result<Option<FetchOutcome>, TransferError> {
    let Some(size) = store.lookup(digest)? else {
        return Ok(None);
    };
    if options.verify_cached {
        let (s, d) = (store.clone(), digest.clone());
        let actual = blocking(move || s.hash_blob(&d)).await??;
        if &actual != digest {
            store.remove_blob(digest)?;
            return Ok(None);
        }
    }
    Ok(Some(FetchOutcome {
        digest: digest.clone(),
        size,
        path: store.blob_path(digest),
        cached: true,
        bytes_transferred: 0,
    }))
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
    // Once a server answered a range with a full body, segments would only repeat that.
    let mut ranges_ignored = false;
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
                        Again::RangesIgnored => ranges_ignored = true,
                        Again::Mismatch => restarted = true,
                    }
                    continue;
                }
            }
        }
        let offset = ingest.partial_len()?;
        let verifier = if offset > 0 {
            // Re-hashing a partial of several GiB takes seconds: keep it off the runtime.
            let (back, verifier) = blocking(move || {
                let verifier = ingest.rehash(offset);
                (ingest, verifier)
            })
            .await?;
            ingest = back;
            verifier?
        } else {
            digest.algorithm().verifier()
        };
        let range = (offset > 0).then(|| {
            let last = ingest.state.size.filter(|s| *s > offset).map(|s| s - 1);
            (offset, last)
        });
        let response = client.get_blob(reference, digest, range).await?;
        let url = redact(&response.final_url);
        check_declared_digest(digest, &response, &url)?;
        let start = match plan(digest, offset, &response, &url)? {
            Plan::Stream { start, size } => {
                ingest.state.size = size.or(ingest.state.size);
                start
            }
            Plan::AlreadyComplete => {
                // 416 on a resume: the partial may be the whole blob. Never trust the body of
                // a 416 (the reference registry declares the full size and sends 33 bytes).
                if verifier.clone().finish() == *digest {
                    progress.started(Some(offset), offset);
                    let path = blocking(move || ingest.commit()).await??;
                    return Ok((path, offset));
                }
                if restarted {
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
                ingest.writer(0)?;
                continue;
            }
        };
        let verifier = if start == 0 && offset > 0 {
            progress.restarted("the server ignored the Range request; starting over");
            digest.algorithm().verifier()
        } else {
            verifier
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
            && !ranges_ignored
        {
            // Big blob, fresh start: this response serves segment 0, Range requests the rest.
            ingest.state.segments = Some(segments::plan(size, options.segments));
            ingest.writer(0)?;
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
                    ranges_ignored |= why == Again::RangesIgnored;
                    continue;
                }
            }
        }
        ingest.save_state()?;
        let file = ingest.writer(start)?;
        progress.started(ingest.state.size, start);
        let streamed = stream_body(response, verifier, file, ingest.state.size, progress).await;
        let (verifier, received, outcome) = streamed;
        *transferred += received;
        let total = start + received;
        match outcome {
            StreamEnd::Complete => {}
            StreamEnd::TooLong => {
                let expected = ingest.state.size.unwrap_or(total);
                blocking(move || ingest.discard()).await??;
                return Err(TransferError::TooLong {
                    digest: digest.clone(),
                    expected,
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
            StreamEnd::WriteFailed(source) => {
                return Err(TransferError::Write {
                    path: ingest.data_path().to_owned(),
                    source,
                });
            }
        }
        let actual = verifier.finish();
        if actual == *digest {
            let path = blocking(move || ingest.commit()).await??;
            return Ok((path, total));
        }
        if start > 0 && !restarted {
            // The resumed prefix may be what was wrong (a crash can leave garbage): start
            // over once before calling the registry a liar.
            restarted = true;
            progress.restarted("the resumed download did not verify; starting over");
            ingest.writer(0)?;
            continue;
        }
        blocking(move || ingest.discard()).await??;
        return Err(TransferError::DigestMismatch {
            expected: digest.clone(),
            actual,
            bytes: total,
            url,
        });
    }
}

enum Segmented {
    Done(PathBuf, u64),
    /// Go on as one stream (the server ignores Range) or from zero (a resumed segmented
    /// download did not verify).
    Again(Ingest, Again),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Again {
    RangesIgnored,
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
        segments::SegmentedEnd::Hashed(actual) if actual == *digest => {
            // The file may extend past the blob if an older, larger plan wrote there.
            ingest.writer(size)?;
            let path = blocking(move || ingest.commit()).await??;
            Ok(Segmented::Done(path, size))
        }
        segments::SegmentedEnd::Hashed(actual) => {
            if may_restart {
                progress.restarted("the resumed download did not verify; starting over");
                ingest.state.segments = None;
                ingest.writer(0)?;
                ingest.save_state()?;
                return Ok(Segmented::Again(ingest, Again::Mismatch));
            }
            blocking(move || ingest.discard()).await??;
            Err(TransferError::DigestMismatch {
                expected: digest.clone(),
                actual,
                bytes: size,
                url: String::from("the registry"),
            })
        }
        segments::SegmentedEnd::RangesIgnored { contiguous } => {
            progress.restarted("the server ignored a Range request; continuing as one stream");
            ingest.state.segments = None;
            ingest.state.bytes = contiguous;
            ingest.writer(contiguous)?;
            ingest.save_state()?;
            Ok(Segmented::Again(ingest, Again::RangesIgnored))
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
                        && len != last - first + 1
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
    TooLong,
    Broken(String),
    WriteFailed(io::Error),
}

/// Streams a body: hash each chunk here, write it on a dedicated thread. Returns the hash
/// state, the bytes received, and how it ended. The file is fsynced when the stream completes.
async fn stream_body(
    response: BlobResponse,
    mut verifier: Verifier,
    file: std::fs::File,
    size: Option<u64>,
    progress: &dyn Progress,
) -> (Verifier, u64, StreamEnd) {
    let start = verifier.bytes();
    let (tx, mut rx) = mpsc::channel::<Bytes>(WRITE_QUEUE);
    let writer = std::thread::spawn(move || -> io::Result<()> {
        let mut flusher = Flusher::new(&file)?;
        let mut out = BufWriter::with_capacity(WRITE_BUF, file);
        loop {
            // Batch writes while data flows; flush whenever the queue runs dry, so that a
            // stalled or killed transfer has everything it received on disk for the resume.
            let chunk = match rx.try_recv() {
                Ok(chunk) => chunk,
                Err(mpsc::error::TryRecvError::Empty) => {
                    out.flush()?;
                    match rx.blocking_recv() {
                        Some(chunk) => chunk,
                        None => break,
                    }
                }
                Err(mpsc::error::TryRecvError::Disconnected) => break,
            };
            out.write_all(&chunk)?;
            flusher.wrote(chunk.len() as u64);
        }
        let file = out.into_inner().map_err(|e| e.into_error())?;
        flusher.finish()?;
        file.sync_all()
    });
    let mut body = response.response.bytes_stream();
    let mut end = StreamEnd::Complete;
    while let Some(item) = body.next().await {
        let chunk = match item {
            Ok(chunk) => chunk,
            Err(e) => {
                end = StreamEnd::Broken(crate::client::error_text(&e));
                break;
            }
        };
        if size.is_some_and(|s| verifier.bytes() + chunk.len() as u64 > s) {
            end = StreamEnd::TooLong;
            break;
        }
        verifier.update(&chunk);
        progress.advanced(chunk.len() as u64);
        if tx.send(chunk).await.is_err() {
            break; // The writer failed; its error is collected below.
        }
    }
    drop(tx);
    let received = verifier.bytes() - start;
    let written = match tokio::task::spawn_blocking(move || writer.join()).await {
        Ok(Ok(result)) => result,
        _ => Err(io::Error::other("the writer thread panicked")),
    };
    if let Err(e) = written {
        return (verifier, received, StreamEnd::WriteFailed(e));
    }
    if matches!(end, StreamEnd::Complete)
        && let Some(s) = size
        && verifier.bytes() < s
    {
        end = StreamEnd::Broken(format!("the body ended after {} bytes", verifier.bytes()));
    }
    (verifier, received, end)
}

/// How many bytes are written between two early-writeback kicks.
const FLUSH_EVERY: u64 = 32 << 20;

/// Starts writeback while a download is still running. The kernel would otherwise keep a
/// whole blob dirty in the page cache (the background threshold is a share of RAM) and write all
/// of it in the final fsync, after the network is done: download time plus disk time. A second
/// thread calls `fdatasync` every [`FLUSH_EVERY`] bytes on a clone of the file, so the disk works
/// while the network does, and the final fsync has little left. Measured on this project's
/// 2-core VM (`scripts/bench-fetch`): see the README's Speed section.
pub(crate) struct Flusher {
    kick: Option<std::sync::mpsc::SyncSender<()>>,
    thread: Option<std::thread::JoinHandle<io::Result<()>>>,
    pending: u64,
}

impl Flusher {
    pub(crate) fn new(file: &std::fs::File) -> io::Result<Flusher> {
        let file = file.try_clone()?;
        // One queued kick at most: kicks that arrive while a sync runs are merged into it.
        let (kick, rx) = std::sync::mpsc::sync_channel::<()>(1);
        let thread = std::thread::spawn(move || {
            while rx.recv().is_ok() {
                file.sync_data()?;
            }
            Ok(())
        });
        Ok(Flusher {
            kick: Some(kick),
            thread: Some(thread),
            pending: 0,
        })
    }

    /// Counts written bytes and kicks a writeback every [`FLUSH_EVERY`].
    pub(crate) fn wrote(&mut self, bytes: u64) {
        self.pending += bytes;
        if self.pending >= FLUSH_EVERY {
            self.pending = 0;
            if let Some(kick) = &self.kick {
                let _ = kick.try_send(());
            }
        }
    }

    /// Waits for the sync in progress; the caller's final fsync follows.
    pub(crate) fn finish(mut self) -> io::Result<()> {
        self.kick.take();
        match self.thread.take().map(std::thread::JoinHandle::join) {
            Some(Ok(result)) => result,
            Some(Err(_)) => Err(io::Error::other("the writeback thread panicked")),
            None => Ok(()),
        }
    }
}

impl Drop for Flusher {
    fn drop(&mut self) {
        // On an early return the thread ends by itself once the sender is gone.
        self.kick.take();
    }
}

/// Runs blocking file work off the async runtime.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, TransferError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| TransferError::Internal(e.to_string()))
}
