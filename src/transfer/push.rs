//! Content out of the cache into a registry: one blob ([`push_blob`]) or a whole recorded
//! image ([`push_image`]), with the guarantees pulls have on the way in (issue 12).
//!
//! - What is pushed is decided from `index.json` ([`resolve`]): the registry's own document
//!   when the cache kept it beside an OCI conversion (`SOURCE_OF`) and all it names is cached,
//!   so a Docker image goes back out with its original bytes and digest; else the entry that
//!   carries the name. Everything the tree names is checked to be in the cache (and with
//!   `--verify-cached` re-hashed) before the first request: nothing half is ever sent.
//! - Order: blobs (configs, layers), then child manifests by digest, then the top manifest by
//!   tag, so a reader of the destination never sees a manifest whose content is missing.
//! - Each blob: `HEAD` (present: skip); a cross-repository mount when the image came from
//!   another repository of the same registry; else an upload, monolithic (`POST` + `PUT`)
//!   below the chunk size, chunked (`PATCH`) above it. A failed attempt goes through the one
//!   retry driver; the next asks the session what it holds and goes on from there (a lost
//!   session starts the blob again). Bytes are streamed from the cache file, read ahead of the
//!   socket by a thread of their own (`file_body`).
//! - Manifests are sent byte for byte as cached with their media type; the registry's
//!   `Docker-Content-Digest` must name the digest sent (for blobs too), else the push fails
//!   as an integrity error.

use std::collections::{BTreeMap, HashSet};
use std::io::{Seek as _, SeekFrom};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use futures_util::StreamExt as _;
use reqwest::Url;
use tokio::sync::Semaphore;

use super::{Progress, Retry, blocking};
use crate::client::retry::{self, Failure, GaveUp, Request, RetryPolicy, Retryable};
use crate::client::{Client, RegistryError, Started, UploadError};
use crate::digest::{Digest, digest_bytes};
use crate::exit::Category;
use crate::manifest::{self, Descriptor, Kind, MAX_MANIFEST, Manifest, REF_NAME};
use crate::reference::{Endpoint, Reference};
use crate::store::content::read_small;
use crate::store::{ContentStore as _, SOURCE_OF, Store, StoreError};

/// The default `--chunk-size`: blobs at least this large are sent in `PATCH` chunks of it.
///
/// Each chunk costs the registry a request (serve: an fdatasync and its hash state; a remote
/// registry: a round trip), so fewer are faster; scripts/bench-push, 1 GiB into
/// `serve --allow-push`: 32 MiB chunks 688 MB/s, 128 MiB 926, one PUT 967 (curl's PUT: 881).
/// 64 MiB stays below the 100 MB request-body limit of common fronting proxies (Cloudflare),
/// which a larger chunk or a monolithic upload of a big layer would exceed.
pub const DEFAULT_CHUNK_SIZE: u64 = 64 << 20;

/// Deepest nesting of indexes followed (as for pulls).
const MAX_DEPTH: usize = 4;

/// How to push.
#[derive(Debug, Clone, Copy)]
pub struct PushOptions {
    /// Blobs below this size go in one `PUT`; larger ones in `PATCH` chunks of this size.
    pub chunk_size: u64,
    /// Blobs in flight at once.
    pub jobs: usize,
    /// When to try again.
    pub retry: RetryPolicy,
    /// Re-hash every cached blob before sending anything.
    pub verify_cached: bool,
}

impl Default for PushOptions {
    fn default() -> Self {
        PushOptions {
            chunk_size: DEFAULT_CHUNK_SIZE,
            jobs: 4,
            retry: RetryPolicy::default(),
            verify_cached: false,
        }
    }
}

/// Why a push failed.
#[derive(Debug, thiserror::Error)]
pub enum PushError {
    /// The destination refused, could not be reached, or answered nonsense.
    #[error(transparent)]
    Registry(#[from] RegistryError),
    /// An upload session failed.
    #[error(transparent)]
    Upload(#[from] UploadError),
    /// The name is not recorded in the cache.
    #[error(
        "`{name}` is not in the cache\nhint: `layerget cache ls` lists what is; `layerget pull {name}` fetches it"
    )]
    NotCached {
        /// The name asked for.
        name: String,
    },
    /// Content the image names is not in the cache.
    #[error(
        "`{name}` is incomplete in the cache: {} missing ({}); nothing was sent\nhint: `layerget pull` it again",
        crate::output::count(.missing.len(), "blob"),
        .missing.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")
    )]
    Missing {
        /// The image.
        name: String,
        /// What is missing.
        missing: Vec<Digest>,
    },
    /// A cached blob does not hash to its name.
    #[error(
        "the cached blob {digest} hashes to {actual}; nothing was sent\nhint: `layerget cache verify` quarantines it; pull the image again"
    )]
    Corrupt {
        /// The blob.
        digest: Digest,
        /// What its bytes hash to.
        actual: Digest,
    },
    /// The destination's `Docker-Content-Digest` names other content than was sent.
    #[error("`{dest}` answered the {what} {sent} with Docker-Content-Digest `{declared}`")]
    DigestMismatch {
        /// `blob` or `manifest`.
        what: &'static str,
        /// The destination repository.
        dest: String,
        /// The digest sent.
        sent: Digest,
        /// What the destination declared.
        declared: String,
    },
    /// The destination reference names another digest than the image has.
    #[error("`{dest}` names digest {asked}, but `{name}` is {actual}")]
    WrongDigest {
        /// The destination reference.
        dest: String,
        /// The image.
        name: String,
        /// The digest the destination names.
        asked: Digest,
        /// The image's digest.
        actual: Digest,
    },
    /// A cached manifest layerget cannot use.
    #[error("manifest {digest}: {reason}")]
    Manifest {
        /// The manifest.
        digest: Digest,
        /// What is wrong.
        reason: manifest::ManifestError,
    },
    /// Indexes nest deeper than layerget follows.
    #[error("`{name}` nests indexes more than {MAX_DEPTH} deep")]
    TooDeep {
        /// The image.
        name: String,
    },
    /// The registry holds more of a session than the blob has.
    #[error("the upload session of blob {digest} at `{dest}` holds {held} bytes of {size}")]
    Overrun {
        /// The blob.
        digest: Digest,
        /// The destination repository.
        dest: String,
        /// What the session says it holds.
        held: u64,
        /// The blob's size.
        size: u64,
    },
    /// The cache failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A blocking task died, or an invariant did not hold.
    #[error("internal error: {0}")]
    Internal(String),
    /// Every attempt failed; this is the last failure, with the attempts and their time.
    #[error(transparent)]
    Exhausted(Box<GaveUp<PushError>>),
}

impl PushError {
    /// The error's category (and so exit code).
    pub fn category(&self) -> Category {
        match self {
            PushError::Registry(e) => e.category(),
            PushError::Upload(e) => e.category(),
            PushError::NotCached { .. } | PushError::Missing { .. } => Category::NotFound,
            PushError::Corrupt { .. } | PushError::DigestMismatch { .. } => Category::Integrity,
            PushError::WrongDigest { .. } => Category::Usage,
            PushError::Overrun { .. } => Category::Network,
            PushError::Store(e) => e.category(),
            PushError::Exhausted(g) => g.last.category(),
            PushError::Manifest { .. } | PushError::TooDeep { .. } | PushError::Internal(_) => {
                Category::Other
            }
        }
    }
}

impl PushError {
    /// One short line for a retry message, as fetches show it: what failed, without the URL
    /// and the cause chain the final error gives.
    pub fn short(&self) -> String {
        match self {
            PushError::Registry(e) | PushError::Upload(UploadError::Registry(e)) => e.short(),
            other => other.to_string(),
        }
    }
}

impl Retryable for PushError {
    fn failure(&self) -> Failure<'_> {
        match self {
            PushError::Registry(e) | PushError::Upload(UploadError::Registry(e)) => e.failure(),
            // A forgotten session is started again on the next attempt.
            PushError::Upload(UploadError::SessionLost(_)) => Failure::Transport,
            _ => Failure::Final,
        }
    }
    fn category(&self) -> Category {
        PushError::category(self)
    }
}

impl From<super::TaskDied> for PushError {
    fn from(died: super::TaskDied) -> Self {
        PushError::Internal(died.0)
    }
}

/// How a blob got to the destination.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlobOutcome {
    /// Its bytes were uploaded.
    Pushed,
    /// Mounted from another repository of the same registry.
    Mounted,
    /// The destination had it already.
    Present,
}

/// What pushing one blob did.
#[derive(Debug, Clone, Copy)]
pub struct PushedBlob {
    /// How it got there.
    pub outcome: BlobOutcome,
    /// Its size.
    pub size: u64,
    /// Bytes sent for it (more than its size when an attempt broke off).
    pub bytes_uploaded: u64,
}

/// What pushing an image did.
#[derive(Debug, Clone)]
pub struct PushedImage {
    /// The cache name pushed.
    pub name: String,
    /// Where it went (`registry/repository:tag` or `…@digest`).
    pub dest: String,
    /// The digest of the top manifest pushed.
    pub digest: Digest,
    /// Its media type.
    pub media_type: String,
    /// Layers over all image manifests.
    pub layers: usize,
    /// Total size of the blobs and manifests.
    pub size: u64,
    /// Blobs uploaded.
    pub blobs_pushed: usize,
    /// Blobs mounted.
    pub blobs_mounted: usize,
    /// Blobs the destination had.
    pub blobs_present: usize,
    /// Bytes sent.
    pub bytes_uploaded: u64,
    /// Manifests sent (those the destination had under the same name are not).
    pub manifests_pushed: usize,
}

/// What a cache name resolves to for a push.
#[derive(Debug, Clone)]
pub struct Resolved {
    /// The name (normalized reference, or the digest).
    pub name: String,
    /// The reference it was pulled from, when it is one (for the tag and for mounts).
    pub source: Option<Reference>,
    /// The top manifest to push.
    pub digest: Digest,
    /// Its media type.
    pub media_type: String,
}

/// Picks what to push for `name` (a reference as `cache ls` shows it, or a manifest digest):
/// the registry's own document kept beside a conversion when all it names is cached, else the
/// entry carrying the name (see the module docs).
pub async fn resolve(store: &Store, name: &str) -> Result<Resolved, PushError> {
    let refs = store.refs().await?;
    if let Ok(digest) = name.parse::<Digest>() {
        let media_type = match refs.media_type(&digest) {
            Some(mt) => mt.to_owned(),
            None => {
                let bytes = read_small(store, &digest, MAX_MANIFEST as u64)
                    .await?
                    .ok_or_else(|| PushError::NotCached { name: name.into() })?;
                manifest::classify(&bytes, None)
                    .ok_or_else(|| PushError::NotCached { name: name.into() })?
                    .to_owned()
            }
        };
        return Ok(Resolved {
            name: name.to_owned(),
            source: None,
            digest,
            media_type,
        });
    }
    let mut source: Reference = name
        .parse()
        .map_err(|_| PushError::NotCached { name: name.into() })?;
    if source.tag().is_none() && source.digest().is_none() {
        // As for `pull`: no tag and no digest means `latest`.
        source = format!("{source}:latest")
            .parse()
            .map_err(|_| PushError::NotCached { name: name.into() })?;
    }
    let full = source.to_string();
    let entries = refs.layout().entries();
    let named = entries
        .iter()
        .find(|d| d.annotations.get(REF_NAME) == Some(&full));
    let kept = entries
        .iter()
        .find(|d| d.annotations.get(SOURCE_OF) == Some(&full));
    let Some(named) = named else {
        return Err(PushError::NotCached { name: full });
    };
    let mut choice = named;
    if let Some(kept) = kept {
        if complete(store, &kept.digest, &kept.media_type).await? {
            choice = kept;
        } else if manifest::kind_of(&kept.media_type) == Some(Kind::Index)
            && let Some(child) = platform_original(store, kept, named).await?
        {
            // One platform of an index was pulled and converted: its original document is
            // the index's entry for that platform.
            return Ok(Resolved {
                name: full,
                source: Some(source),
                digest: child.digest,
                media_type: child.media_type,
            });
        }
    }
    Ok(Resolved {
        name: full,
        source: Some(source),
        digest: choice.digest.clone(),
        media_type: choice.media_type.clone(),
    })
}

/// The entry of the cached index `kept` for the platform of `named`, when it differs from
/// `named` and all it names is cached.
async fn platform_original(
    store: &Store,
    kept: &Descriptor,
    named: &Descriptor,
) -> Result<Option<Descriptor>, PushError> {
    let (Some(platform), Some(bytes)) = (
        named.platform.as_ref(),
        read_small(store, &kept.digest, MAX_MANIFEST as u64).await?,
    ) else {
        return Ok(None);
    };
    let Ok(Manifest::Index { index, .. }) = manifest::parse(&bytes, Some(&kept.media_type)) else {
        return Ok(None);
    };
    for child in index.manifests {
        if child.platform.as_ref() == Some(platform)
            && child.digest != named.digest
            && complete(store, &child.digest, &child.media_type).await?
        {
            return Ok(Some(child));
        }
    }
    Ok(None)
}

/// Whether everything the manifest names is cached.
async fn complete(store: &Store, digest: &Digest, media_type: &str) -> Result<bool, PushError> {
    match tree(store, "", digest, media_type).await {
        Ok(t) => Ok(t.missing.is_empty()),
        Err(PushError::Manifest { .. } | PushError::TooDeep { .. }) => Ok(false),
        Err(e) => Err(e),
    }
}

/// One cached manifest of a tree.
#[derive(Debug, Clone)]
struct CachedManifest {
    digest: Digest,
    media_type: String,
    bytes: bytes::Bytes,
}

/// Everything a manifest names, as the cache has it.
#[derive(Debug, Default)]
struct Tree {
    /// Manifests in push order: children before the indexes naming them, the top last.
    manifests: Vec<CachedManifest>,
    /// Configs and layers, each once.
    blobs: BTreeMap<Digest, u64>,
    /// Layers over all image manifests.
    layers: usize,
    /// What is not in the cache.
    missing: Vec<Digest>,
}

/// Reads the tree of `digest` from the cache (`name` for messages).
async fn tree(
    store: &Store,
    name: &str,
    digest: &Digest,
    media_type: &str,
) -> Result<Tree, PushError> {
    let mut t = Tree::default();
    let mut seen = HashSet::new();
    visit(store, name, digest, media_type, 0, &mut seen, &mut t).await?;
    Ok(t)
}

/// Depth-first: children are pushed first, so they are visited first.
fn visit<'a>(
    store: &'a Store,
    name: &'a str,
    digest: &'a Digest,
    media_type: &'a str,
    depth: usize,
    seen: &'a mut HashSet<Digest>,
    t: &'a mut Tree,
) -> futures_util::future::BoxFuture<'a, Result<(), PushError>> {
    Box::pin(async move {
        if depth > MAX_DEPTH {
            return Err(PushError::TooDeep { name: name.into() });
        }
        if !seen.insert(digest.clone()) {
            return Ok(());
        }
        let Some(bytes) = read_small(store, digest, MAX_MANIFEST as u64).await? else {
            t.missing.push(digest.clone());
            return Ok(());
        };
        let actual = digest_bytes(digest.algorithm(), &bytes);
        if actual != *digest {
            return Err(PushError::Corrupt {
                digest: digest.clone(),
                actual,
            });
        }
        let hint = (!media_type.is_empty()).then_some(media_type);
        let parsed = manifest::parse(&bytes, hint).map_err(|reason| PushError::Manifest {
            digest: digest.clone(),
            reason,
        })?;
        match &parsed {
            Manifest::Index { index, .. } => {
                for child in &index.manifests {
                    visit(
                        store,
                        name,
                        &child.digest,
                        &child.media_type,
                        depth + 1,
                        seen,
                        t,
                    )
                    .await?;
                }
            }
            Manifest::Image { manifest: m, .. } => {
                t.layers += m.layers.len();
                for blob in m.blobs() {
                    // Non-distributable layers live elsewhere: registries do not hold them.
                    if blob.is_non_distributable() {
                        continue;
                    }
                    if store.stat(&blob.digest).await?.is_none() {
                        if !t.missing.contains(&blob.digest) {
                            t.missing.push(blob.digest.clone());
                        }
                        continue;
                    }
                    t.blobs.insert(blob.digest.clone(), blob.size);
                }
            }
        }
        t.manifests.push(CachedManifest {
            digest: digest.clone(),
            media_type: parsed.media_type().to_owned(),
            bytes,
        });
        Ok(())
    })
}

/// Bytes read from the cache file per read, and so per chunk handed to the connection: few
/// enough wake-ups and syscalls, small enough to keep memory flat (see [`READ_AHEAD`]).
const READ_CHUNK: usize = 1 << 20;

/// Chunks a body's reader thread keeps ready ahead of the connection, so reading the cache
/// file overlaps with sending (at most `READ_AHEAD + 1` chunks per blob in memory).
const READ_AHEAD: usize = 4;

/// How often a blob's progress is brought up to what its bodies have handed the connection.
const PROGRESS_TICK: Duration = Duration::from_millis(100);

/// What the bodies of one blob have handed to the connection.
#[derive(Debug, Default)]
struct Sent {
    /// Bytes over all requests (`bytes_uploaded`).
    total: AtomicU64,
    /// Where in the blob the request being sent is: its start offset plus what it sent. Set
    /// back to the registry's word after each answer (see [`push_blob`]).
    at: AtomicU64,
}

/// A request body of bytes `start..start+len` of a cached blob, read as it is sent; every
/// byte handed to the connection counts into `sent`.
///
/// A blocking thread reads the file ahead of the socket, [`READ_CHUNK`] at a time straight
/// into the buffers that are sent (no copy, no zeroing), and the kernel is told the file is
/// read sequentially (a cold cache file is read ahead on disk too). Measured with
/// scripts/bench-push: tokio's `File` behind a `ReaderStream` read 256 KiB per blocking-pool
/// hop, copied each chunk once more and read only when the connection asked, which cost CPU
/// the destination registry needed on a 2-core machine.
fn file_body(
    path: PathBuf,
    start: u64,
    len: u64,
    sent: Arc<Sent>,
) -> impl Fn() -> Result<reqwest::Body, RegistryError> + Send + Sync {
    move || {
        use std::os::unix::fs::OpenOptionsExt as _;
        let unreadable = |e: std::io::Error| {
            RegistryError::Setup(format!(
                "cannot read the cached blob `{}`: {e}",
                path.display()
            ))
        };
        // Never through a symlink, as every read of `blobs/` (store::local::read).
        let mut file = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(rustix::fs::OFlags::NOFOLLOW.bits() as i32)
            .open(&path)
            .map_err(unreadable)?;
        file.seek(SeekFrom::Start(start)).map_err(unreadable)?;
        // Advice only: a file system that ignores it reads as before.
        let _ = rustix::fs::fadvise(
            &file,
            start,
            std::num::NonZeroU64::new(len),
            rustix::fs::Advice::Sequential,
        );
        let (tx, rx) = tokio::sync::mpsc::channel::<std::io::Result<bytes::Bytes>>(READ_AHEAD);
        tokio::task::spawn_blocking(move || read_ahead(&file, len, &tx));
        let counter = sent.clone();
        counter.at.store(start, Ordering::Relaxed);
        let stream = futures_util::stream::unfold(rx, |mut rx| async move {
            rx.recv().await.map(|chunk| (chunk, rx))
        })
        .inspect(move |chunk| {
            if let Ok(c) = chunk {
                counter.total.fetch_add(c.len() as u64, Ordering::Relaxed);
                counter.at.fetch_add(c.len() as u64, Ordering::Relaxed);
            }
        });
        Ok(reqwest::Body::wrap_stream(stream))
    }
}

/// Reads `len` bytes of `file` from its position into `tx`, [`READ_CHUNK`] at a time; stops
/// early when the body is dropped (the request ended). A file shorter than `len` ends the
/// body with an error, so the request fails rather than sending a short body.
///
/// The buffers go round: a chunk the connection has written comes back (see [`Pooled`]) and
/// is read into again, so a blob needs a handful of buffers, not a fresh 1 MiB allocation per
/// chunk (each of which the kernel had to fault in and zero: 15 % of push's CPU in `perf`).
fn read_ahead(
    file: &std::fs::File,
    len: u64,
    tx: &tokio::sync::mpsc::Sender<std::io::Result<bytes::Bytes>>,
) {
    use std::io::Read as _;
    let (back, free) = std::sync::mpsc::sync_channel::<Vec<u8>>(READ_AHEAD + 4);
    let mut left = len;
    while left > 0 {
        let want = left.min(READ_CHUNK as u64);
        let mut buf = free
            .try_recv()
            .unwrap_or_else(|_| Vec::with_capacity(READ_CHUNK));
        buf.clear();
        // `read_to_end` on a `Take` reads into the spare capacity without zeroing it first.
        let chunk = match file.take(want).read_to_end(&mut buf) {
            Ok(0) => Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                format!("the cached blob ended {left} bytes early"),
            )),
            Ok(n) => {
                left -= n as u64;
                Ok(bytes::Bytes::from_owner(Pooled {
                    buf,
                    back: back.clone(),
                }))
            }
            Err(e) => Err(e),
        };
        let failed = chunk.is_err();
        if tx.blocking_send(chunk).is_err() || failed {
            return;
        }
    }
}

/// A chunk's buffer, handed back to its reader when the last `Bytes` of it is dropped.
struct Pooled {
    buf: Vec<u8>,
    back: std::sync::mpsc::SyncSender<Vec<u8>>,
}

impl AsRef<[u8]> for Pooled {
    fn as_ref(&self) -> &[u8] {
        &self.buf
    }
}

impl Drop for Pooled {
    fn drop(&mut self) {
        // Full (more buffers out than the reader keeps) or the reader is done: just free it.
        let _ = self.back.try_send(std::mem::take(&mut self.buf));
    }
}

/// The session an upload goes on in.
struct Session {
    location: Url,
    min_chunk: Option<u64>,
}

/// Pushes one cached blob into `dest`'s repository: `HEAD`, mount from `mount_from` (a
/// repository of the same registry) when given, else upload (see the module docs).
pub async fn push_blob(
    client: &Client,
    store: &Store,
    dest: &Reference,
    digest: &Digest,
    mount_from: Option<&str>,
    options: &PushOptions,
    progress: &dyn Progress,
) -> Result<PushedBlob, PushError> {
    let size = store
        .stat(digest)
        .await?
        .ok_or_else(|| PushError::NotCached {
            name: digest.to_string(),
        })?;
    let what = format!("blob {digest} to `{}`", dest.location());
    let request = Request {
        client,
        policy: options.retry,
        url: client.url(dest, Endpoint::Uploads),
        what: &what,
    };
    let on_retry = |attempt: u32, wait: Duration, e: &PushError| {
        progress.retrying(&Retry {
            attempt,
            wait,
            short: &e.short(),
            error: e,
        });
    };
    let present = retry::run(&request, on_retry, async |_| {
        Ok::<_, PushError>(client.blob_present(dest, digest).await?)
    })
    .await
    .map_err(|g| g.report(PushError::Exhausted))?;
    if present.is_some() {
        return Ok(PushedBlob {
            outcome: BlobOutcome::Present,
            size,
            bytes_uploaded: 0,
        });
    }
    progress.started(Some(size), 0);
    let sent = Arc::new(Sent::default());
    // Progress follows the bytes as they are handed to the connection (so a large chunk or a
    // monolithic PUT moves the bar too), set back to the registry's word after each answer.
    let shown = AtomicU64::new(0);
    let show = || {
        let at = sent.at.load(Ordering::Relaxed).min(size);
        let was = shown.swap(at, Ordering::Relaxed);
        if at > was {
            progress.advanced(at - was);
        } else if at < was {
            // A resumed session holds less than was sent: the bar goes back to its word.
            progress.started(Some(size), at);
        }
    };
    // A restart has set the bar to 0 itself.
    let restart = || {
        sent.at.store(0, Ordering::Relaxed);
        shown.store(0, Ordering::Relaxed);
    };
    let path = store.blob_path(digest);
    let mut session: Option<Session> = None;
    let mut mount = mount_from.filter(|from| *from != dest.repository());
    let upload = retry::run(&request, on_retry, async |attempt| {
        let mut offset = 0;
        if attempt > 1
            && let Some(s) = &mut session
        {
            // The registry's answer is the truth: go on from what it holds.
            match client.upload_offset(dest, &s.location).await {
                Ok((held, next)) => {
                    offset = held;
                    sent.at.store(held, Ordering::Relaxed);
                    s.location = next;
                }
                Err(UploadError::SessionLost(_)) => {
                    progress.restarted("the registry lost the upload session; sending it again");
                    restart();
                    session = None;
                }
                Err(UploadError::Registry(e)) if matches!(e.failure(), Failure::Status { status, .. } if (400..500).contains(&status) && !matches!(status, 401 | 403 | 408 | 429)) =>
                {
                    // BLOB_UPLOAD_INVALID and the like: the session is unusable; start again.
                    progress.restarted(&format!(
                        "the upload session is unusable ({}); sending it again",
                        e.short()
                    ));
                    restart();
                    session = None;
                }
                Err(e) => return Err(e.into()),
            }
        }
        if session.is_none() {
            offset = 0;
            let started = match mount.take() {
                Some(from) => match client.start_upload(dest, Some((digest, from))).await {
                    // No pull right on the source repository (or a token service that does
                    // not take two scopes at once): upload instead.
                    Err(e) if e.category() == Category::Auth => {
                        tracing::info!("{what}: no mount from `{from}` ({e}); uploading");
                        client.start_upload(dest, None).await?
                    }
                    other => other?,
                },
                None => client.start_upload(dest, None).await?,
            };
            match started {
                Started::Mounted => return Ok(BlobOutcome::Mounted),
                Started::Session {
                    location,
                    min_chunk,
                } => {
                    session = Some(Session {
                        location,
                        min_chunk,
                    })
                }
            }
        }
        let Some(s) = session.as_mut() else {
            return Err(PushError::Internal("an upload without a session".into()));
        };
        if offset > size {
            return Err(PushError::Overrun {
                digest: digest.clone(),
                dest: dest.location(),
                held: offset,
                size,
            });
        }
        let declared = if size < options.chunk_size && offset == 0 {
            let body = file_body(path.clone(), 0, size, sent.clone());
            client
                .finish_upload(dest, &s.location, digest, Some((size, &body)))
                .await?
        } else {
            let chunk = options.chunk_size.max(s.min_chunk.unwrap_or(0)).max(1);
            while offset < size {
                let len = chunk.min(size - offset);
                let body = file_body(path.clone(), offset, len, sent.clone());
                let (held, next) = client
                    .patch_chunk(dest, &s.location, offset, len, &body)
                    .await?;
                s.location = next;
                if held > size {
                    return Err(PushError::Overrun {
                        digest: digest.clone(),
                        dest: dest.location(),
                        held,
                        size,
                    });
                }
                sent.at.store(held, Ordering::Relaxed);
                offset = held;
            }
            client
                .finish_upload(dest, &s.location, digest, None)
                .await?
        };
        check_declared(dest, "blob", digest, declared.as_deref())?;
        Ok(BlobOutcome::Pushed)
    });
    let mut upload = std::pin::pin!(upload);
    let mut tick = tokio::time::interval(PROGRESS_TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let outcome = loop {
        tokio::select! {
            done = &mut upload => break done,
            _ = tick.tick() => show(),
        }
    }
    .map_err(|g| g.report(PushError::Exhausted));
    if let Ok(BlobOutcome::Pushed) = outcome {
        sent.at.store(size, Ordering::Relaxed);
        show();
    }
    progress.finished();
    Ok(PushedBlob {
        outcome: outcome?,
        size,
        bytes_uploaded: sent.total.load(Ordering::Relaxed),
    })
}

/// A `Docker-Content-Digest` that names another digest than was sent is a lie (or a registry
/// that changed the content): an integrity failure. None sent is accepted.
fn check_declared(
    dest: &Reference,
    what: &'static str,
    sent: &Digest,
    declared: Option<&str>,
) -> Result<(), PushError> {
    match declared.map(str::trim) {
        None | Some("") => Ok(()),
        Some(d) if d == sent.to_string() => Ok(()),
        Some(d) => Err(PushError::DigestMismatch {
            what,
            dest: dest.location(),
            sent: sent.clone(),
            declared: d.to_owned(),
        }),
    }
}

/// Pushes the image `resolved` names into `dest` (whose tag, or the source's, is set last;
/// a digest-only destination gets the manifest by digest). Blob uploads share `limiter`.
pub async fn push_image<'a>(
    client: &Client,
    store: &Store,
    resolved: &Resolved,
    dest: &Reference,
    options: &PushOptions,
    limiter: &Semaphore,
    progress: &super::image::ProgressFactory<'a>,
) -> Result<PushedImage, PushError> {
    if let Some(asked) = dest.digest()
        && *asked != resolved.digest
    {
        return Err(PushError::WrongDigest {
            dest: dest.to_string(),
            name: resolved.name.clone(),
            asked: asked.clone(),
            actual: resolved.digest.clone(),
        });
    }
    let tree = tree(
        store,
        &resolved.name,
        &resolved.digest,
        &resolved.media_type,
    )
    .await?;
    if !tree.missing.is_empty() {
        return Err(PushError::Missing {
            name: resolved.name.clone(),
            missing: tree.missing,
        });
    }
    if options.verify_cached {
        for digest in tree.blobs.keys() {
            let (s, d) = (store.clone(), digest.clone());
            let actual = blocking(move || s.hash_blob(&d)).await??;
            if actual != *digest {
                return Err(PushError::Corrupt {
                    digest: digest.clone(),
                    actual,
                });
            }
        }
    }
    // A mount needs the source repository on the destination's registry.
    let mount_from = resolved
        .source
        .as_ref()
        .filter(|s| s.registry() == dest.registry() && s.repository() != dest.repository())
        .map(Reference::repository);
    // Largest first: the big layer starts at once and the small ones fill the other slots,
    // rather than a large blob that sorts last by digest starting when the rest are done.
    let mut order: Vec<(&Digest, u64)> = tree.blobs.iter().map(|(d, s)| (d, *s)).collect();
    order.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(b.0)));
    let mut uploads = futures_util::stream::iter(order)
        .map(|(digest, _)| async move {
            let _permit = limiter
                .acquire()
                .await
                .map_err(|e| PushError::Internal(e.to_string()))?;
            let p = progress(&digest.short());
            push_blob(client, store, dest, digest, mount_from, options, &*p).await
        })
        .buffer_unordered(options.jobs.max(1));
    let (mut pushed, mut mounted, mut present, mut bytes) = (0, 0, 0, 0);
    let mut size = 0;
    while let Some(result) = uploads.next().await {
        let blob = result?;
        size += blob.size;
        bytes += blob.bytes_uploaded;
        match blob.outcome {
            BlobOutcome::Pushed => pushed += 1,
            BlobOutcome::Mounted => mounted += 1,
            BlobOutcome::Present => present += 1,
        }
    }
    drop(uploads);
    // Manifests: children by digest, the top (the last) by tag.
    // DEST's tag; else, unless DEST names a digest, NAME's tag.
    let tag = match (dest.tag(), dest.digest()) {
        (Some(tag), _) => Some(tag),
        (None, Some(_)) => None,
        (None, None) => resolved.source.as_ref().and_then(Reference::tag),
    }
    .map(str::to_owned);
    let count = tree.manifests.len();
    let mut manifests_sent = 0;
    for (i, m) in tree.manifests.iter().enumerate() {
        let target = match (&tag, i + 1 == count) {
            (Some(tag), true) => tag.clone(),
            _ => m.digest.to_string(),
        };
        let what = format!("manifest {target} to `{}`", dest.location());
        let request = Request {
            client,
            policy: options.retry,
            url: client.url(dest, Endpoint::Manifest(&target)),
            what: &what,
        };
        size += m.bytes.len() as u64;
        // Retries are reported as a blob's are (no bar: a manifest is one small request).
        let p = progress(&m.digest.short());
        let sent = retry::run(
            &request,
            |attempt, wait, e: &PushError| {
                p.retrying(&Retry {
                    attempt,
                    wait,
                    short: &e.short(),
                    error: e,
                });
            },
            async |_| {
                // Already there under this name with this digest: nothing to send.
                let there = client.manifest_digest(dest, &target, &m.media_type).await?;
                if there.as_deref().map(str::trim) == Some(m.digest.to_string().as_str()) {
                    return Ok(false);
                }
                let put = client
                    .put_manifest(dest, &target, m.bytes.clone(), &m.media_type)
                    .await?;
                check_declared(dest, "manifest", &m.digest, put.digest.as_deref())?;
                Ok(true)
            },
        )
        .await
        .map_err(|g| g.report(PushError::Exhausted))?;
        if sent {
            bytes += m.bytes.len() as u64;
            manifests_sent += 1;
        }
    }
    let shown = match &tag {
        Some(tag) => format!("{}/{}:{tag}", dest.registry(), dest.repository()),
        None => format!(
            "{}/{}@{}",
            dest.registry(),
            dest.repository(),
            resolved.digest
        ),
    };
    Ok(PushedImage {
        name: resolved.name.clone(),
        dest: shown,
        digest: resolved.digest.clone(),
        media_type: resolved.media_type.clone(),
        layers: tree.layers,
        size,
        blobs_pushed: pushed,
        blobs_mounted: mounted,
        blobs_present: present,
        bytes_uploaded: bytes,
        manifests_pushed: manifests_sent,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn categories() {
        let d: Digest = format!("sha256:{}", "a".repeat(64)).parse().unwrap();
        let cases = [
            (
                PushError::Missing {
                    name: "r/a:1".into(),
                    missing: vec![d.clone()],
                },
                Category::NotFound,
            ),
            (
                PushError::DigestMismatch {
                    what: "manifest",
                    dest: "r/a".into(),
                    sent: d.clone(),
                    declared: "sha256:b".into(),
                },
                Category::Integrity,
            ),
            (
                PushError::Corrupt {
                    digest: d.clone(),
                    actual: d.clone(),
                },
                Category::Integrity,
            ),
        ];
        for (e, want) in cases {
            assert_eq!(e.category(), want, "{e}");
            assert_eq!(Retryable::failure(&e), Failure::Final);
        }
        let lost = PushError::Upload(UploadError::SessionLost("u".into()));
        assert_eq!(Retryable::failure(&lost), Failure::Transport);
    }

    /// The read-ahead thread gives the bytes asked for, in order, from the file's position;
    /// buffers come back and are reused; a file shorter than asked ends in an error.
    #[test]
    fn read_ahead_gives_the_span_and_fails_short_files() {
        use std::io::Write as _;
        let data: Vec<u8> = (0..(READ_CHUNK * 5 / 2 + 7))
            .map(|i| (i % 251) as u8)
            .collect();
        let mut f = tempfile::tempfile().unwrap();
        f.write_all(&data).unwrap();
        let read = |start: u64, len: u64| {
            let mut file = f.try_clone().unwrap();
            file.seek(SeekFrom::Start(start)).unwrap();
            let (tx, mut rx) = tokio::sync::mpsc::channel(READ_AHEAD);
            let t = std::thread::spawn(move || read_ahead(&file, len, &tx));
            let mut got = Vec::new();
            let mut error = None;
            while let Some(chunk) = rx.blocking_recv() {
                match chunk {
                    // Dropped at once: its buffer goes back to the reader.
                    Ok(c) => got.extend_from_slice(&c),
                    Err(e) => error = Some(e),
                }
            }
            t.join().unwrap();
            (got, error)
        };
        let (got, error) = read(0, data.len() as u64);
        assert!(error.is_none());
        assert_eq!(got, data);
        let (got, error) = read(1000, 2 * READ_CHUNK as u64);
        assert!(error.is_none());
        assert_eq!(got[..], data[1000..1000 + 2 * READ_CHUNK]);
        let (got, error) = read(10, data.len() as u64);
        assert_eq!(got[..], data[10..]);
        assert_eq!(
            error.unwrap().kind(),
            std::io::ErrorKind::UnexpectedEof,
            "a short file is an error, not a short body"
        );
    }

    #[test]
    fn declared_digests() {
        let dest: Reference = "127.0.0.1:5000/a:1".parse().unwrap();
        let d: Digest = format!("sha256:{}", "a".repeat(64)).parse().unwrap();
        assert!(check_declared(&dest, "blob", &d, None).is_ok());
        assert!(check_declared(&dest, "blob", &d, Some(&d.to_string())).is_ok());
        let e = check_declared(&dest, "blob", &d, Some("sha256:bad")).unwrap_err();
        assert_eq!(e.category(), Category::Integrity);
    }
}
