//! The content-store interface: what every backend of the cache offers, and all that `serve`
//! (and, as they move onto it, the transfer and maintenance code) may assume of one.
//!
//! Modelled on containerd's content store (`core/content/content.go`), in four parts:
//!
//! - *read*: [`ContentStore::stat`], [`ContentStore::open`] (a [`Blob`]: its size and a way to
//!   read any range of it), and [`ContentStore::locate`], where a backend may answer "fetch it
//!   from this URL instead" (an object store's presigned URL);
//! - *ingest*: [`ContentStore::writer`] gives a [`BlobWriter`] for one digest, holding that
//!   digest's lock, resumable (it starts at [`BlobWriter::offset`], what an earlier writer left)
//!   and with positional writes; [`BlobWriter::commit`] is the one check of content entering
//!   the store: it verifies size and digest and makes the bytes durable before the name is
//!   visible, or publishes nothing;
//! - *manage*: [`ContentStore::blobs`], [`ContentStore::partials`], [`ContentStore::delete`]
//!   (which leaves a blob alone while a writer holds its lock), [`ContentStore::quarantine`];
//! - *refs*: [`ContentStore::refs`] (the reference table, parsed once by
//!   [`LayoutIndex::parse`](super::LayoutIndex::parse), with the tag view [`Refs`] built from it)
//!   and [`ContentStore::update_refs`], an atomic read-modify-write.
//!
//! Implementations: the local OCI image layout ([`Store`](super::Store), in `local.rs`) and
//! memory ([`MemoryStore`](super::MemoryStore), for tests), and an S3 bucket
//! ([`S3Store`](super::S3Store), whose blobs are [`RemoteBody`] objects read by ranged GETs).
//!
//! The trait is generic (methods return `impl Future + Send`), not object-safe: every user is
//! generic over its store already (`serve`'s handlers are monomorphised per backend, so a
//! blob read costs no allocation or virtual call on the hot path), and a program that must pick
//! a backend at run time wraps them in an enum that implements the trait.

use std::fs::File;
use std::future::Future;
use std::io;
use std::ops::Range;
use std::os::unix::fs::FileExt;
use std::sync::Arc;

use bytes::Bytes;

use super::{LayoutIndex, Refs, StoreError};
use crate::digest::{Algorithm, Digest};

/// Bytes read at a time when a blob is streamed.
pub const STREAM_CHUNK: usize = 256 << 10;

/// A verified blob, opened for reading: its size (taken when it was opened) and its bytes.
#[derive(Debug)]
pub struct Blob {
    size: u64,
    body: Body,
}

/// Where an open blob's bytes are.
#[derive(Debug)]
enum Body {
    /// A file below `blobs/`, opened without following symlinks.
    File(File),
    /// Bytes held in memory.
    Memory(Bytes),
    /// An object in a remote store (S3), read by ranged GETs.
    Remote(Arc<dyn RemoteBody>),
}

/// The bytes of a blob held by a remote store (an object store's object): ranged reads
/// as a stream. [`Blob::stream`] resumes a body that breaks with a new range from where it
/// broke, so a source need not retry within a body.
pub trait RemoteBody: Send + Sync + std::fmt::Debug + 'static {
    /// The bytes of `range` (non-empty, within the blob), as they arrive.
    fn get(
        &self,
        range: Range<u64>,
    ) -> futures_util::future::BoxFuture<'static, io::Result<ByteStream>>;
}

/// A stream of a blob's bytes.
pub type ByteStream = futures_util::stream::BoxStream<'static, io::Result<Bytes>>;

/// How often [`Blob::stream`] re-asks a remote source after its body broke without progress.
const REMOTE_RESUMES: u32 = 3;

impl Blob {
    /// A blob backed by an open file of `size` bytes.
    pub fn file(file: File, size: u64) -> Blob {
        Blob {
            size,
            body: Body::File(file),
        }
    }

    /// A blob of `size` bytes held by a remote store.
    pub fn remote(source: Arc<dyn RemoteBody>, size: u64) -> Blob {
        Blob {
            size,
            body: Body::Remote(source),
        }
    }

    /// A blob held in memory.
    pub fn memory(bytes: Bytes) -> Blob {
        Blob {
            size: bytes.len() as u64,
            body: Body::Memory(bytes),
        }
    }

    /// Its size in bytes.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Reads `range` into memory (for small answers and manifests, where one `pread` beats a
    /// streaming body). A range that does not lie within the blob is an error, not a panic.
    /// Blocks for as long as reading the range from its file takes. A remote blob is read by
    /// one ranged GET driven from here (see `block_on_remote`): callers already treat this
    /// as blocking (`spawn_blocking`), and the answers it serves are small.
    pub fn read_range(&self, range: Range<u64>) -> io::Result<Bytes> {
        let outside = || {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "bytes {}..{} are not within a blob of {} bytes",
                    range.start, range.end, self.size
                ),
            )
        };
        if range.start > range.end || range.end > self.size {
            return Err(outside());
        }
        let start = usize::try_from(range.start).map_err(|_| outside())?;
        let end = usize::try_from(range.end).map_err(|_| outside())?;
        match &self.body {
            Body::Memory(b) if end <= b.len() => Ok(b.slice(start..end)),
            Body::Memory(_) => Err(outside()),
            Body::File(f) => {
                let mut buf = vec![0; end - start];
                f.read_exact_at(&mut buf, range.start)?;
                Ok(buf.into())
            }
            Body::Remote(_) if start == end => Ok(Bytes::new()),
            Body::Remote(source) => {
                let stream = remote_stream(source.clone(), range.clone());
                let mut out = Vec::with_capacity(end - start);
                block_on_remote(async move {
                    use futures_util::StreamExt as _;
                    let mut stream = std::pin::pin!(stream);
                    while let Some(chunk) = stream.next().await {
                        out.extend_from_slice(&chunk?);
                    }
                    Ok(out.into())
                })
            }
        }
    }

    /// Whether its bytes are in a file here, where a read at an offset costs one `pread`
    /// (memory is sliced without a copy, a remote blob is one GET per read).
    pub fn is_file(&self) -> bool {
        matches!(self.body, Body::File(_))
    }

    /// Its file, when its bytes are in one here (`serve` sends it with `sendfile`).
    pub fn as_file(&self) -> Option<&File> {
        match &self.body {
            Body::File(f) => Some(f),
            _ => None,
        }
    }

    /// Fills `buf` with the bytes at `at`, into a buffer the caller reuses (no allocation,
    /// no zeroing per read: `serve`'s bodies). Out of the blob is an error, not a panic.
    /// Blocks as [`Blob::read_range`] does (a remote blob: one ranged GET).
    pub fn read_exact_at(&self, buf: &mut [u8], at: u64) -> io::Result<()> {
        let end = at.checked_add(buf.len() as u64);
        match &self.body {
            Body::File(f) if end.is_some_and(|end| end <= self.size) => f.read_exact_at(buf, at),
            _ => {
                let end = end.unwrap_or(u64::MAX);
                buf.copy_from_slice(&self.read_range(at..end)?);
                Ok(())
            }
        }
    }

    /// What the blob's bytes hash to with `algorithm` (`--verify-cached`). Blocks for as long
    /// as reading the blob takes.
    pub fn hash(self, algorithm: Algorithm) -> io::Result<Digest> {
        use std::io::{Seek, SeekFrom};
        let mut verifier = algorithm.verifier();
        match self.body {
            Body::Memory(b) => verifier.update(&b),
            Body::File(mut f) => {
                f.seek(SeekFrom::Start(0))?;
                super::hash_reader(f, &mut verifier, self.size)?;
            }
            Body::Remote(source) => {
                let stream = remote_stream(source, 0..self.size);
                verifier = block_on_remote(async move {
                    use futures_util::StreamExt as _;
                    let mut stream = std::pin::pin!(stream);
                    while let Some(chunk) = stream.next().await {
                        verifier.update(&chunk?);
                    }
                    Ok(verifier)
                })?;
            }
        }
        Ok(verifier.finish())
    }

    /// The bytes of `span` as a stream of chunks of at most [`STREAM_CHUNK`], read as the
    /// consumer asks for them (a file is read by an async reader, never whole into memory).
    pub fn stream(
        self,
        span: Range<u64>,
    ) -> io::Result<impl futures_util::Stream<Item = io::Result<Bytes>> + Send + 'static> {
        use futures_util::StreamExt as _;
        use std::io::{Seek, SeekFrom};
        if span.start > span.end || span.end > self.size {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "a span outside the blob",
            ));
        }
        let len = span.end - span.start;
        Ok(match self.body {
            Body::Memory(b) => {
                // `span` lies within the blob, whose size is `b.len()`: the casts are exact.
                let (start, end) = (span.start as usize, span.end as usize);
                let chunks: Vec<io::Result<Bytes>> = (start..end)
                    .step_by(STREAM_CHUNK)
                    .map(|at| Ok(b.slice(at..(at + STREAM_CHUNK).min(end))))
                    .collect();
                futures_util::stream::iter(chunks)
                    .left_stream()
                    .left_stream()
            }
            Body::File(mut file) => {
                file.seek(SeekFrom::Start(span.start))?;
                let file = tokio::fs::File::from_std(file);
                let reader = tokio::io::AsyncReadExt::take(file, len);
                tokio_util::io::ReaderStream::with_capacity(reader, STREAM_CHUNK)
                    .right_stream()
                    .left_stream()
            }
            Body::Remote(source) => remote_stream(source, span).right_stream(),
        })
    }
}

/// The bytes of `span` of a remote blob: one ranged GET, and when its body breaks, another
/// from the first byte not yet delivered (at most [`REMOTE_RESUMES`] in a row that bring
/// nothing). A source that sends more than asked is cut off at the span's end.
fn remote_stream(
    source: Arc<dyn RemoteBody>,
    span: Range<u64>,
) -> impl futures_util::Stream<Item = io::Result<Bytes>> + Send + 'static {
    use futures_util::StreamExt as _;
    struct State {
        source: Arc<dyn RemoteBody>,
        at: u64,
        end: u64,
        body: Option<ByteStream>,
        failures: u32,
    }
    let state = State {
        source,
        at: span.start,
        end: span.end,
        body: None,
        failures: 0,
    };
    futures_util::stream::unfold(state, |mut st| async move {
        loop {
            if st.at >= st.end {
                return None;
            }
            let body = match st.body.as_mut() {
                Some(body) => body,
                None => match st.source.get(st.at..st.end).await {
                    Ok(body) => st.body.insert(body),
                    Err(e) if st.failures < REMOTE_RESUMES => {
                        st.failures += 1;
                        tracing::debug!("remote blob read failed, asking again: {e}");
                        continue;
                    }
                    Err(e) => {
                        st.at = st.end;
                        return Some((Err(e), st));
                    }
                },
            };
            match body.next().await {
                Some(Ok(mut chunk)) => {
                    let room = st.end - st.at;
                    if chunk.len() as u64 > room {
                        // `room` is less than the chunk's length, a usize: the cast is exact.
                        chunk.truncate(room as usize);
                    }
                    if chunk.is_empty() {
                        continue;
                    }
                    st.at += chunk.len() as u64;
                    st.failures = 0;
                    return Some((Ok(chunk), st));
                }
                Some(Err(e)) if st.failures < REMOTE_RESUMES => {
                    st.failures += 1;
                    st.body = None;
                    tracing::debug!("remote blob body broke at byte {}, resuming: {e}", st.at);
                }
                Some(Err(e)) => {
                    st.at = st.end;
                    return Some((Err(e), st));
                }
                None => {
                    // The body ended early: ask for the rest.
                    st.body = None;
                    if st.failures >= REMOTE_RESUMES {
                        let e = io::Error::new(
                            io::ErrorKind::UnexpectedEof,
                            format!("the remote blob ended at byte {} of {}", st.at, st.end),
                        );
                        st.at = st.end;
                        return Some((Err(e), st));
                    }
                    st.failures += 1;
                }
            }
        }
    })
}

/// Runs a remote read to completion from synchronous code ([`Blob::read_range`],
/// [`Blob::hash`]). On a worker of the multi-thread runtime (the binary's), `block_in_place`
/// first hands this worker's other tasks to another thread, so nothing else waits behind
/// the read; on a blocking thread (`spawn_blocking`, where the callers put these reads) it just
/// drives the future. A current-thread runtime cannot do either without stalling the very
/// connection it waits on: that is an error, not a deadlock.
fn block_on_remote<T>(fut: impl Future<Output = io::Result<T>>) -> io::Result<T> {
    use tokio::runtime::{Handle, RuntimeFlavor};
    let handle = Handle::try_current().map_err(|_| {
        io::Error::other("a remote blob is read synchronously only within the async runtime")
    })?;
    match handle.runtime_flavor() {
        RuntimeFlavor::CurrentThread => Err(io::Error::other(
            "a remote blob cannot be read synchronously on a current-thread runtime",
        )),
        _ => tokio::task::block_in_place(|| handle.block_on(fut)),
    }
}

/// Where a client should get a blob's bytes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// From this store: [`ContentStore::open`] it.
    Here,
    /// From this URL (an object store's presigned URL), valid for a while.
    Url(String),
}

/// One blob in a store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredBlob {
    /// Its digest.
    pub digest: Digest,
    /// Its size in bytes.
    pub size: u64,
}

/// One partial blob (an ingest that has not been committed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Partial {
    /// The digest it is to become.
    pub digest: Digest,
    /// Bytes written so far.
    pub bytes: u64,
}

/// Names an upload session: a blob pushed in one or more pieces whose digest is told only when
/// it is committed. 1 to 64 characters of `[0-9A-Za-z_-]`, so that it is safe as a file name
/// and in a URL; [`UploadId::random`] makes a fresh one.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct UploadId(String);

impl UploadId {
    /// A fresh, unguessable id: 128 random bits as 32 hex digits.
    pub fn random() -> Result<UploadId, StoreError> {
        let mut bytes = [0u8; 16];
        rustls::crypto::ring::default_provider()
            .secure_random
            .fill(&mut bytes)
            .map_err(|_| StoreError::Io {
                action: "draw random bytes for",
                path: "an upload id".into(),
                source: io::Error::other("no random bytes"),
            })?;
        Ok(UploadId(hex::encode(bytes)))
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::str::FromStr for UploadId {
    type Err = String;

    fn from_str(s: &str) -> Result<UploadId, String> {
        let valid = (1..=64).contains(&s.len())
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if valid {
            Ok(UploadId(s.to_owned()))
        } else {
            Err("an upload id is 1 to 64 of [0-9A-Za-z_-]".into())
        }
    }
}

impl std::fmt::Display for UploadId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// One upload session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadInfo {
    /// Its id.
    pub id: UploadId,
    /// The digest algorithm it is hashed with.
    pub algorithm: Algorithm,
    /// Bytes received so far.
    pub bytes: u64,
    /// When it last received bytes (or was started).
    pub updated: std::time::SystemTime,
}

/// What [`ContentStore::delete`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Deleted {
    /// The blob is gone.
    Removed,
    /// There was no such blob.
    Missing,
    /// A writer holds the digest's lock: the blob was left alone.
    Busy,
}

/// What [`ContentStore::try_writer`] found.
#[derive(Debug)]
pub enum WriterAttempt<W> {
    /// The digest's lock is taken: here is its writer.
    Ready(W),
    /// Another writer holds the digest; `holder` is its process id when the backend knows it.
    Busy {
        /// The holding process.
        holder: Option<u32>,
    },
}

/// What a writer keeps for whoever resumes its partial, besides the bytes: the size the blob is
/// to have, where the bytes come from, and the plan of a download in segments. A backend
/// stores it as it is given and hands it to the next writer of the digest
/// ([`BlobWriter::checkpoint`]); only `size` has a meaning to the store (commit requires it, and
/// a write past it is refused).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Checkpoint {
    /// The size the blob must have, when known.
    pub size: Option<u64>,
    /// Where the bytes come from (`registry/repository`), for `cache ls` and people.
    pub source: Option<String>,
    /// A download in segments: each segment's bounds and how many of its bytes are written.
    /// The partial then has holes, and only `start..start + written` of each segment is valid.
    pub segments: Option<Vec<super::Segment>>,
}

/// A cache backend. See the module docs for the four parts and what each promises.
pub trait ContentStore: Send + Sync + 'static {
    /// The writer [`ContentStore::writer`] gives.
    type Writer: BlobWriter;

    /// The size of a verified blob, `None` when there is none.
    fn stat(&self, digest: &Digest)
    -> impl Future<Output = Result<Option<u64>, StoreError>> + Send;

    /// Opens a verified blob for reading, `None` when there is none. Never exposes partial
    /// content.
    fn open(
        &self,
        digest: &Digest,
    ) -> impl Future<Output = Result<Option<Blob>, StoreError>> + Send;

    /// Where a client should read the blob from: [`Location::Here`] unless the backend can
    /// hand out a URL of its own.
    fn locate(
        &self,
        _digest: &Digest,
    ) -> impl Future<Output = Result<Location, StoreError>> + Send {
        std::future::ready(Ok(Location::Here))
    }

    /// A writer for `digest`, taking its lock (waiting while another writer, in this process
    /// or another, holds it) and resuming what an earlier writer left. `size`, when known, is
    /// what commit will require (a resumed partial recorded for another size starts over).
    fn writer(
        &self,
        digest: &Digest,
        size: Option<u64>,
    ) -> impl Future<Output = Result<Self::Writer, StoreError>> + Send;

    /// Like [`ContentStore::writer`], but without waiting: [`WriterAttempt::Busy`] while another
    /// writer holds the digest (so a caller can say whom it waits for before it does).
    fn try_writer(
        &self,
        digest: &Digest,
        size: Option<u64>,
    ) -> impl Future<Output = Result<WriterAttempt<Self::Writer>, StoreError>> + Send;

    /// A writer for upload session `id`, whose digest is told at [`BlobWriter::commit`]:
    /// `start` creates the session (hashed with that algorithm as the bytes come; a commit
    /// with a digest of another algorithm reads them back once; an existing one is an error),
    /// `None` resumes it (`None` when there is no such session). Holds the session's lock,
    /// waiting while another writer holds it.
    fn upload(
        &self,
        id: &UploadId,
        start: Option<Algorithm>,
    ) -> impl Future<Output = Result<Option<Self::Writer>, StoreError>> + Send;

    /// Every upload session no writer holds right now, sorted by id.
    fn uploads(&self) -> impl Future<Output = Result<Vec<UploadInfo>, StoreError>> + Send;

    /// Every verified blob, sorted by digest.
    fn blobs(&self) -> impl Future<Output = Result<Vec<StoredBlob>, StoreError>> + Send;

    /// Every partial blob that no writer holds right now, sorted by digest.
    fn partials(&self) -> impl Future<Output = Result<Vec<Partial>, StoreError>> + Send;

    /// Removes a verified blob unless a writer holds its lock.
    fn delete(&self, digest: &Digest) -> impl Future<Output = Result<Deleted, StoreError>> + Send;

    /// Marks a blob as used now, for least-recently-used eviction (`cache prune`). Missing is
    /// fine; a backend that keeps no such order does nothing.
    fn touch(&self, _digest: &Digest) -> impl Future<Output = Result<(), StoreError>> + Send {
        std::future::ready(Ok(()))
    }

    /// The path of a verified blob on this machine's file system, for callers that can hand
    /// out a link to it (`fetch -o`, which hard-links); `None` for a backend without files or a
    /// blob it does not have. Everything else reads through [`ContentStore::open`].
    fn local_path(&self, _digest: &Digest) -> Option<std::path::PathBuf> {
        None
    }

    /// A blob that a writer of this process is appending to right now, readable while it
    /// grows (pull-through streams a blob to its clients as it arrives); `None` when there is
    /// none, or the backend cannot show one (readers then wait for the commit).
    fn growing(&self, _digest: &Digest) -> Option<Growing> {
        None
    }

    /// Takes a blob that failed verification out of service (kept for inspection where the
    /// backend can); afterwards it is not found. Missing is fine.
    fn quarantine(&self, digest: &Digest) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// The reference table as of now, with its tag view.
    fn refs(&self) -> impl Future<Output = Result<Arc<Refs>, StoreError>> + Send;

    /// Changes the reference table atomically: `change` edits the current table; nothing is
    /// written when it returns `(_, false)`. Concurrent updates never lose each other's edits.
    fn update_refs<T, F>(&self, change: F) -> impl Future<Output = Result<T, StoreError>> + Send
    where
        T: Send + 'static,
        F: FnOnce(&mut LayoutIndex) -> (T, bool) + Send + 'static;
}

/// Writes one blob into a store. [`BlobWriter::close`] stops for now, keeping what was written
/// for a later writer of the digest to resume; [`BlobWriter::commit`] publishes it;
/// [`BlobWriter::abort`] throws it away. Dropping a writer is a close whose end nobody awaits:
/// the digest stays locked until what was written is on disk.
pub trait BlobWriter: Send + Sized {
    /// The digest being written (`None` for an upload, until it is committed).
    fn digest(&self) -> Option<&Digest>;

    /// Bytes held so far: where the next [`BlobWriter::write`] goes (resumed bytes included).
    fn offset(&self) -> u64;

    /// Appends `chunk` at [`BlobWriter::offset`].
    fn write(&mut self, chunk: Bytes) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Writes `bytes` at `at` (a segment of a download in several parts); the offset becomes
    /// the end of the furthest write.
    fn write_at(
        &mut self,
        at: u64,
        bytes: Bytes,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// What the writer keeps for a later writer of its partial (see [`Checkpoint`]): as the
    /// previous writer left it, or as last saved or queued by this one.
    fn checkpoint(&self) -> &Checkpoint;

    /// Keeps `checkpoint` for a later writer; durable when this returns, and so is every byte
    /// written before the call (segment progress in it must count only such bytes). A `size`
    /// in it becomes the size commit requires.
    fn save_checkpoint(
        &mut self,
        checkpoint: Checkpoint,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Like [`BlobWriter::save_checkpoint`], but without waiting for the disk: the backend
    /// records `checkpoint` once every byte written before this call is durable, while writes
    /// go on (for progress saved every second of a long download). Best effort: a checkpoint
    /// that cannot be recorded is dropped, and a resume then starts from an earlier one.
    fn queue_checkpoint(&mut self, checkpoint: Checkpoint) -> impl Future<Output = ()> + Send;

    /// Drops every byte from `len` on (`len` at most [`BlobWriter::offset`]); the offset becomes
    /// `len`. Truncating to 0 starts the blob over. The checkpoint is left as it is.
    fn truncate(&mut self, len: u64) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Publishes the bytes as blob `digest` if they are it: size (when the writer was given
    /// one) and digest are checked here, and the bytes made durable before the name is
    /// visible. A writer opened for a digest can only become that digest. On a mismatch
    /// nothing is published, the partial is discarded and the error says what was wrong
    /// ([`StoreError::Mismatch`], [`StoreError::WrongSize`]). A blob already present is
    /// success.
    fn commit(self, digest: &Digest) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Throws the partial away.
    fn abort(self) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Stops writing for now: everything written is durable when this returns, and the lock
    /// is released. Returns the offset a later writer resumes at.
    fn close(self) -> impl Future<Output = Result<u64, StoreError>> + Send;
}

/// A blob being written, as a reader sees it ([`ContentStore::growing`]): the data, opened for
/// reading at the size the writer was told, of which the first [`Growing::readable`] bytes are
/// written (appends only; a positional write does not move it), and a count of the times the
/// writer cut back what it had written (a restart), after which bytes read before may be
/// stale. The data stays readable through the same handle after the commit names it.
/// Unverified until then: a reader holds back the blob's end until the commit.
#[derive(Debug, Clone)]
pub struct Growing {
    blob: Arc<Blob>,
    counters: Arc<GrowingCounters>,
}

/// What a writer keeps current for the readers of a [`Growing`] blob.
#[derive(Debug, Default)]
pub struct GrowingCounters {
    /// Bytes from the start that are written.
    pub readable: std::sync::atomic::AtomicU64,
    /// Truncations below `readable`.
    pub restarts: std::sync::atomic::AtomicU64,
}

impl GrowingCounters {
    /// Records a truncation to `len`: a restart when readers may have seen more.
    pub fn truncated(&self, len: u64) {
        use std::sync::atomic::Ordering;
        if self.readable.load(Ordering::Acquire) > len {
            // First the restart, so that a reader who sees less also sees the restart.
            self.restarts.fetch_add(1, Ordering::AcqRel);
            self.readable.fetch_min(len, Ordering::AcqRel);
        }
    }
}

impl Growing {
    /// `blob`, of which `counters` say how much is written.
    pub fn new(blob: Blob, counters: Arc<GrowingCounters>) -> Growing {
        Growing {
            blob: Arc::new(blob),
            counters,
        }
    }

    /// The counters its writer keeps.
    pub fn counters(&self) -> &Arc<GrowingCounters> {
        &self.counters
    }

    /// The data.
    pub fn blob(&self) -> &Arc<Blob> {
        &self.blob
    }

    /// How many bytes from the start are written (never more than the blob's size).
    pub fn readable(&self) -> u64 {
        self.counters
            .readable
            .load(std::sync::atomic::Ordering::Acquire)
            .min(self.blob.size())
    }

    /// How often the writer restarted (see the type's docs).
    pub fn restarts(&self) -> u64 {
        self.counters
            .restarts
            .load(std::sync::atomic::Ordering::Acquire)
    }
}

/// The contract's rule for [`BlobWriter::commit`]: a writer opened for digest `own` (`None`
/// for an upload) can only become that digest. Backends call it first.
pub(crate) fn check_commit_target(own: Option<&Digest>, digest: &Digest) -> Result<(), StoreError> {
    match own {
        Some(own) if own != digest => Err(StoreError::Corrupt {
            path: format!("ingest of {own}").into(),
            reason: format!("it cannot be committed as {digest}"),
        }),
        _ => Ok(()),
    }
}

/// Reads a whole small blob (a manifest) into memory: `None` when it is missing, an error when
/// it is larger than `max` bytes.
pub async fn read_small<S: ContentStore>(
    store: &S,
    digest: &Digest,
    max: u64,
) -> Result<Option<Bytes>, StoreError> {
    let Some(blob) = store.open(digest).await? else {
        return Ok(None);
    };
    if blob.size() > max {
        return Err(StoreError::TooLarge {
            digest: digest.clone(),
            size: blob.size(),
            max,
        });
    }
    let size = blob.size();
    tokio::task::spawn_blocking(move || blob.read_range(0..size))
        .await
        .map_err(|e| StoreError::Io {
            action: "read",
            path: digest.to_string().into(),
            source: io::Error::other(e),
        })?
        .map(Some)
        .map_err(|source| StoreError::Io {
            action: "read",
            path: digest.to_string().into(),
            source,
        })
}

/// Reads a small blob (a manifest) if it is there, at most `max` bytes, and it hashes to its
/// name. One that is too large or does not match is deleted (unless a writer holds its
/// digest), so that the next attempt stores the right bytes; `None` then, as for a missing blob.
pub async fn read_verified<S: ContentStore>(
    store: &S,
    digest: &Digest,
    max: u64,
) -> Result<Option<Bytes>, StoreError> {
    let bytes = match read_small(store, digest, max).await {
        Ok(bytes) => bytes,
        Err(StoreError::TooLarge { .. }) => None,
        Err(e) => return Err(e),
    };
    if let Some(bytes) = bytes
        && crate::digest::digest_bytes(digest.algorithm(), &bytes) == *digest
    {
        return Ok(Some(bytes));
    }
    if store.stat(digest).await?.is_some() {
        store.delete(digest).await?;
    }
    Ok(None)
}

/// Stores `bytes` (held in memory: a manifest) as blob `digest` unless it is there already;
/// `true` when it was. The verifying commit checks the bytes: a mismatch is
/// [`StoreError::Mismatch`], and nothing is stored.
pub async fn put_bytes<S: ContentStore>(
    store: &S,
    digest: &Digest,
    bytes: Bytes,
) -> Result<bool, StoreError> {
    if store.stat(digest).await?.is_some() {
        return Ok(true);
    }
    let mut writer = store.writer(digest, Some(bytes.len() as u64)).await?;
    // Another writer may have published it while this one waited for the digest.
    if store.stat(digest).await?.is_some() {
        writer.close().await?;
        return Ok(true);
    }
    // A partial left by an interrupted fetch of the same digest is of no use: all the bytes
    // are here.
    if writer.offset() > 0 {
        writer.truncate(0).await?;
    }
    writer.write(bytes).await?;
    writer.commit(digest).await?;
    Ok(false)
}

/// The contract every [`ContentStore`] keeps, as tests any implementation must pass
/// (`local.rs` and `memory.rs` run them).
#[cfg(test)]
pub(crate) mod contract {
    use super::*;
    use crate::digest::{Algorithm, digest_bytes};
    use futures_util::StreamExt as _;

    async fn read_all<S: ContentStore>(store: &S, d: &Digest) -> Option<Vec<u8>> {
        let blob = store.open(d).await.unwrap()?;
        let size = blob.size();
        let mut out = Vec::new();
        let mut stream = Box::pin(blob.stream(0..size).unwrap());
        while let Some(chunk) = stream.next().await {
            out.extend_from_slice(&chunk.unwrap());
        }
        Some(out)
    }

    /// Runs every check against a fresh, empty store.
    pub async fn check<S: ContentStore>(store: S) {
        let data = b"hello, content store".to_vec();
        let d = digest_bytes(Algorithm::Sha256, &data);
        assert_eq!(store.stat(&d).await.unwrap(), None);
        assert!(store.open(&d).await.unwrap().is_none());

        // Written in two sittings: the second writer resumes where the first stopped, and
        // nothing is visible before the commit.
        let mut w = store.writer(&d, Some(data.len() as u64)).await.unwrap();
        assert_eq!(w.offset(), 0);
        w.write(Bytes::copy_from_slice(&data[..5])).await.unwrap();
        assert_eq!(w.offset(), 5);
        // While a writer holds the digest, its partial is not listed as one to collect.
        assert!(store.partials().await.unwrap().is_empty());
        assert_eq!(w.close().await.unwrap(), 5);
        assert_eq!(store.stat(&d).await.unwrap(), None);
        let partials = store.partials().await.unwrap();
        assert_eq!(
            partials,
            vec![Partial {
                digest: d.clone(),
                bytes: 5
            }]
        );
        let mut w = store.writer(&d, Some(data.len() as u64)).await.unwrap();
        assert_eq!(w.offset(), 5, "a writer resumes what was left");
        w.write(Bytes::copy_from_slice(&data[5..])).await.unwrap();
        w.commit(&d).await.unwrap();
        assert_eq!(store.stat(&d).await.unwrap(), Some(data.len() as u64));
        assert_eq!(read_all(&store, &d).await.unwrap(), data);
        let blob = store.open(&d).await.unwrap().unwrap();
        assert_eq!(&blob.read_range(7..12).unwrap()[..], &data[7..12]);
        assert!(blob.read_range(3..999).is_err());
        assert!(store.partials().await.unwrap().is_empty());
        assert_eq!(
            store.blobs().await.unwrap(),
            vec![StoredBlob {
                digest: d.clone(),
                size: data.len() as u64
            }]
        );

        // Positional writes, out of order.
        let big: Vec<u8> = (0..1000u32).map(|i| (i % 251) as u8).collect();
        let bd = digest_bytes(Algorithm::Sha256, &big);
        let mut w = store.writer(&bd, Some(1000)).await.unwrap();
        w.write_at(600, Bytes::copy_from_slice(&big[600..]))
            .await
            .unwrap();
        w.write_at(0, Bytes::copy_from_slice(&big[..600]))
            .await
            .unwrap();
        assert_eq!(w.offset(), 1000);
        w.commit(&bd).await.unwrap();
        assert_eq!(read_all(&store, &bd).await.unwrap(), big);

        // A download in segments: two halves written at offsets, progress checkpointed, a
        // second writer resumes the plan and the bytes, fills the rest and commits.
        let seg: Vec<u8> = (0..4000u32).map(|i| (i % 241) as u8).collect();
        let sd = digest_bytes(Algorithm::Sha256, &seg);
        let plan = vec![
            super::super::Segment {
                start: 0,
                end: 2000,
                written: 0,
            },
            super::super::Segment {
                start: 2000,
                end: 4000,
                written: 0,
            },
        ];
        let mut w = store.writer(&sd, Some(4000)).await.unwrap();
        assert_eq!(
            w.checkpoint(),
            &Checkpoint {
                size: Some(4000),
                ..Checkpoint::default()
            }
        );
        let mut note = Checkpoint {
            size: Some(4000),
            source: Some("registry.example/team/app".into()),
            segments: Some(plan),
        };
        w.save_checkpoint(note.clone()).await.unwrap();
        w.write_at(2000, Bytes::copy_from_slice(&seg[2000..3000]))
            .await
            .unwrap();
        w.write_at(0, Bytes::copy_from_slice(&seg[..500]))
            .await
            .unwrap();
        if let Some(s) = note.segments.as_mut() {
            s[0].written = 500;
            s[1].written = 1000;
        }
        w.queue_checkpoint(note.clone()).await;
        assert_eq!(w.checkpoint(), &note);
        match store.try_writer(&sd, Some(4000)).await.unwrap() {
            WriterAttempt::Busy { .. } => {}
            WriterAttempt::Ready(_) => panic!("a second writer while the first holds the digest"),
        }
        assert_eq!(w.close().await.unwrap(), 3000);
        let mut w = match store.try_writer(&sd, Some(4000)).await.unwrap() {
            WriterAttempt::Ready(w) => w,
            WriterAttempt::Busy { .. } => panic!("the digest is free after close"),
        };
        assert_eq!(
            w.checkpoint(),
            &note,
            "the checkpoint is kept for the next writer"
        );
        assert_eq!(w.offset(), 3000, "the end of the furthest write");
        w.write_at(3000, Bytes::copy_from_slice(&seg[3000..]))
            .await
            .unwrap();
        w.write_at(500, Bytes::copy_from_slice(&seg[500..2000]))
            .await
            .unwrap();
        w.commit(&sd).await.unwrap();
        assert_eq!(read_all(&store, &sd).await.unwrap(), seg);
        // Truncation keeps a prefix; appending continues from it; a size recorded before
        // survives a writer that is told none, and another size starts over.
        let td = digest_bytes(Algorithm::Sha256, b"truncated and continued");
        let mut w = store.writer(&td, Some(23)).await.unwrap();
        w.write(Bytes::from_static(b"truncated and garbage!!!"))
            .await
            .unwrap_err();
        w.write(Bytes::from_static(b"truncated xx")).await.unwrap();
        w.truncate(10).await.unwrap();
        assert_eq!(w.offset(), 10);
        w.close().await.unwrap();
        let mut w = store.writer(&td, None).await.unwrap();
        assert_eq!((w.offset(), w.checkpoint().size), (10, Some(23)));
        w.write(Bytes::from_static(b"and continued")).await.unwrap();
        w.commit(&td).await.unwrap();
        assert_eq!(
            read_all(&store, &td).await.unwrap(),
            b"truncated and continued"
        );
        let mut w = store.writer(&td, Some(14)).await.unwrap();
        w.write(Bytes::from_static(b"some")).await.unwrap();
        w.close().await.unwrap();
        let w = store.writer(&td, Some(15)).await.unwrap();
        assert_eq!(
            w.offset(),
            0,
            "a partial recorded for another size starts over"
        );
        w.abort().await.unwrap();

        // Wrong bytes are never published, and the partial is gone.
        let other = digest_bytes(Algorithm::Sha256, b"something else");
        let mut w = store.writer(&other, None).await.unwrap();
        w.write(Bytes::from_static(b"not it")).await.unwrap();
        let err = w.commit(&other).await.unwrap_err();
        assert!(matches!(err, StoreError::Mismatch { .. }), "{err}");
        assert_eq!(store.stat(&other).await.unwrap(), None);
        assert!(store.partials().await.unwrap().is_empty());
        // Right bytes, wrong declared size: too many are refused as they come, too few at
        // the commit.
        let mut w = store.writer(&other, Some(3)).await.unwrap();
        let err = w.write(Bytes::from_static(b"something else")).await;
        assert!(matches!(err, Err(StoreError::WrongSize { .. })), "{err:?}");
        w.abort().await.unwrap();
        let mut w = store.writer(&other, Some(20)).await.unwrap();
        w.write(Bytes::from_static(b"something else"))
            .await
            .unwrap();
        let err = w.commit(&other).await.unwrap_err();
        assert!(matches!(err, StoreError::WrongSize { .. }), "{err}");
        assert_eq!(store.stat(&other).await.unwrap(), None);
        // A dropped writer keeps its bytes for the next one, which waits for them.
        let mut w = store.writer(&other, None).await.unwrap();
        w.write(Bytes::from_static(b"some")).await.unwrap();
        drop(w);
        let w = store.writer(&other, None).await.unwrap();
        assert_eq!(w.offset(), 4);
        w.abort().await.unwrap();
        // Aborted: nothing left.
        let mut w = store.writer(&other, None).await.unwrap();
        w.write(Bytes::from_static(b"some")).await.unwrap();
        w.abort().await.unwrap();
        assert!(store.partials().await.unwrap().is_empty());

        // A blob being written is not deleted; otherwise it is.
        let w = store.writer(&d, None).await.unwrap();
        assert_eq!(store.delete(&d).await.unwrap(), Deleted::Busy);
        drop(w);
        assert_eq!(store.delete(&d).await.unwrap(), Deleted::Removed);
        assert_eq!(store.delete(&d).await.unwrap(), Deleted::Missing);
        assert_eq!(store.stat(&d).await.unwrap(), None);
        store.quarantine(&bd).await.unwrap();
        assert_eq!(store.stat(&bd).await.unwrap(), None);
        store.quarantine(&bd).await.unwrap();

        // Uploads: the digest is told at the commit; a session survives its writer.
        let id = UploadId::random().unwrap();
        assert!(store.upload(&id, None).await.unwrap().is_none());
        let mut w = store
            .upload(&id, Some(Algorithm::Sha256))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(w.digest(), None);
        w.write(Bytes::copy_from_slice(&data[..3])).await.unwrap();
        assert_eq!(w.close().await.unwrap(), 3);
        let listed = store.uploads().await.unwrap();
        assert_eq!(listed.len(), 1);
        assert_eq!((&listed[0].id, listed[0].bytes), (&id, 3));
        assert_eq!(listed[0].algorithm, Algorithm::Sha256);
        assert!(store.upload(&id, Some(Algorithm::Sha256)).await.is_err());
        let mut w = store.upload(&id, None).await.unwrap().unwrap();
        assert_eq!(w.offset(), 3);
        assert!(
            store.uploads().await.unwrap().is_empty(),
            "held sessions are not listed"
        );
        w.write(Bytes::copy_from_slice(&data[3..])).await.unwrap();
        w.commit(&d).await.unwrap();
        assert_eq!(read_all(&store, &d).await.unwrap(), data);
        assert!(store.upload(&id, None).await.unwrap().is_none());
        assert!(store.uploads().await.unwrap().is_empty());
        // Committed as the wrong digest: nothing, and no session.
        for (algorithm, claimed) in [
            (Algorithm::Sha256, other.clone()),
            (
                Algorithm::Sha512,
                digest_bytes(Algorithm::Sha256, b"not it"),
            ),
        ] {
            let id = UploadId::random().unwrap();
            let mut w = store.upload(&id, Some(algorithm)).await.unwrap().unwrap();
            w.write(Bytes::copy_from_slice(&data)).await.unwrap();
            let err = w.commit(&claimed).await.unwrap_err();
            assert!(matches!(err, StoreError::Mismatch { .. }), "{err}");
            assert_eq!(store.stat(&claimed).await.unwrap(), None);
            assert!(store.upload(&id, None).await.unwrap().is_none());
        }
        // sha512 uploads, written at offsets; and a writer opened for one digest cannot become
        // another.
        let d512 = digest_bytes(Algorithm::Sha512, &data);
        let id = UploadId::random().unwrap();
        let mut w = store
            .upload(&id, Some(Algorithm::Sha512))
            .await
            .unwrap()
            .unwrap();
        w.write_at(4, Bytes::copy_from_slice(&data[4..]))
            .await
            .unwrap();
        w.write_at(0, Bytes::copy_from_slice(&data[..4]))
            .await
            .unwrap();
        w.commit(&d512).await.unwrap();
        assert_eq!(read_all(&store, &d512).await.unwrap(), data);
        // A session is hashed with the algorithm it was started with, but may be closed with
        // a digest of the other (the conformance suite does): the bytes decide.
        for (started, streamed) in [(Algorithm::Sha256, true), (Algorithm::Sha512, false)] {
            let other_alg = match started {
                Algorithm::Sha256 => Algorithm::Sha512,
                Algorithm::Sha512 => Algorithm::Sha256,
            };
            let bytes = format!("closed with {other_alg}").into_bytes();
            let target = digest_bytes(other_alg, &bytes);
            let id = UploadId::random().unwrap();
            let mut w = store.upload(&id, Some(started)).await.unwrap().unwrap();
            if streamed {
                w.write(Bytes::from(bytes.clone())).await.unwrap();
            } else {
                w.write_at(0, Bytes::from(bytes.clone())).await.unwrap();
            }
            w.commit(&target).await.unwrap();
            assert_eq!(read_all(&store, &target).await.unwrap(), bytes);
        }
        let w = store.writer(&other, None).await.unwrap();
        assert!(w.commit(&d512).await.is_err());
        assert!("../x".parse::<UploadId>().is_err());
        assert!("".parse::<UploadId>().is_err());
        assert!("a".repeat(65).parse::<UploadId>().is_err());

        // Small blobs held in memory: stored once, through the verifying commit, over any
        // partial; read back only while they verify.
        let small = Bytes::from_static(b"{\"manifest\": true}");
        let sm = digest_bytes(Algorithm::Sha256, &small);
        let mut w = store.writer(&sm, None).await.unwrap();
        w.write(Bytes::from_static(b"left over")).await.unwrap();
        w.close().await.unwrap();
        assert!(!put_bytes(&store, &sm, small.clone()).await.unwrap());
        assert!(put_bytes(&store, &sm, small.clone()).await.unwrap());
        assert_eq!(
            read_verified(&store, &sm, 1000).await.unwrap(),
            Some(small.clone())
        );
        assert_eq!(
            read_verified(&store, &sm, 3).await.unwrap(),
            None,
            "too large"
        );
        assert_eq!(store.stat(&sm).await.unwrap(), None, "and so deleted");
        let claimed = digest_bytes(Algorithm::Sha256, b"claimed");
        let wrong = put_bytes(&store, &claimed, small.clone()).await;
        assert!(
            matches!(wrong, Err(StoreError::Mismatch { .. })),
            "{wrong:?}"
        );

        // Refs: atomic updates that concurrent writers do not lose.
        assert!(store.refs().await.unwrap().is_empty());
        let name = "127.0.0.1:5000/team/app:v1";
        let descriptor = crate::manifest::Descriptor {
            media_type: crate::manifest::OCI_MANIFEST.into(),
            digest: d.clone(),
            size: 2,
            platform: None,
            annotations: [(crate::manifest::REF_NAME.to_owned(), name.to_owned())].into(),
            extra: Default::default(),
        };
        let store = Arc::new(store);
        let mut tasks = Vec::new();
        for i in 0..8 {
            let (store, mut descriptor) = (store.clone(), descriptor.clone());
            tasks.push(tokio::spawn(async move {
                let tagged = format!("127.0.0.1:5000/team/app:t{i}");
                descriptor
                    .annotations
                    .insert(crate::manifest::REF_NAME.into(), tagged.clone());
                store
                    .update_refs(move |index| (index.set_ref(&tagged, vec![descriptor]), true))
                    .await
                    .unwrap()
            }));
        }
        for t in tasks {
            assert!(t.await.unwrap().is_empty());
        }
        let unchanged = store
            .update_refs(|index| (index.len(), false))
            .await
            .unwrap();
        assert_eq!(unchanged, 8);
        let refs = store.refs().await.unwrap();
        assert_eq!(refs.tags("team/app", None).unwrap().count(), 8);
        assert_eq!(refs.tag("team/app", "t3", None).unwrap().digest, d);
    }
}
