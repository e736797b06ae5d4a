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
//!   socket by a thread of their own (`file_body`); a store without files (an S3 bucket) is
//!   read through [`ContentStore::open`] instead, a ranged GET of just the span each request
//!   sends (`store_body`), so resuming and mounting work the same from either.
//! - Generic over the [`ContentStore`] (the commands use `AnyStore`: a local layout or S3);
//!   `Clone` because each request body owns a handle on the store.
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
use crate::client::{BodyFn, Client, RegistryError, Started, UploadError};
use crate::digest::{Digest, digest_bytes};
use crate::exit::Category;
use crate::manifest::{self, Descriptor, Kind, MAX_MANIFEST, Manifest, REF_NAME};
use crate::reference::{Endpoint, Reference};
use crate::store::content::read_small;
use crate::store::{ContentStore, SOURCE_OF, StoreError};

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

mod blob;
mod resolve;

pub use blob::push_blob;
use resolve::tree;
pub use resolve::{Resolved, resolve};

/// A `Docker-Content-Digest` that names another digest than was sent is a lie (or a registry
/// that changed the content): an integrity failure. None sent is accepted.
pub(super) fn check_declared(
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
pub async fn push_image<'a, S: ContentStore + Clone>(
    client: &Client,
    store: &S,
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
            // Read through the store, so an S3 cache's objects are re-hashed as well.
            let blob = store
                .open(digest)
                .await?
                .ok_or_else(|| PushError::Missing {
                    name: resolved.name.clone(),
                    missing: vec![digest.clone()],
                })?;
            let algorithm = digest.algorithm();
            let actual = blocking(move || blob.hash(algorithm))
                .await?
                .map_err(|source| StoreError::Io {
                    action: "read",
                    path: store
                        .local_path(digest)
                        .unwrap_or_else(|| digest.to_string().into()),
                    source,
                })?;
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
    fn declared_digests() {
        let dest: Reference = "127.0.0.1:5000/a:1".parse().unwrap();
        let d: Digest = format!("sha256:{}", "a".repeat(64)).parse().unwrap();
        assert!(check_declared(&dest, "blob", &d, None).is_ok());
        assert!(check_declared(&dest, "blob", &d, Some(&d.to_string())).is_ok());
        let e = check_declared(&dest, "blob", &d, Some("sha256:bad")).unwrap_err();
        assert_eq!(e.category(), Category::Integrity);
    }
}
