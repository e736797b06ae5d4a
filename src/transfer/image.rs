//! A whole image from a registry into the store: resolve the reference to a manifest, choose
//! platforms from an index, fetch configs and layers concurrently through the verified blob
//! path, and record the reference in `index.json`.
//!
//! Manifests are fetched, or read from the cache, by `transfer::manifests`; what `index.json`
//! records is decided in `transfer::record` (and explained in `store::index`).
//!
//! Every config and layer is fetched with its descriptor's size as an exact limit, so no body
//! is longer than the image says. `--all-platforms` visits each manifest of an index tree once,
//! follows indexes at most `MAX_DEPTH` (4) deep and at most [`MAX_INDEX_ENTRIES`] entries in all,
//! so a hostile index cannot multiply work or memory.
//!
//! The caller opened the store for use (`Store::open_for`), so it holds the cache-wide lock
//! shared for the duration, and `cache gc` cannot remove blobs between their fetch and their
//! recording.

use std::collections::{BTreeMap, HashSet};

use futures_util::StreamExt as _;
use tokio::sync::Semaphore;

use super::manifests::{FetchedManifest, fetch_child, fetch_manifest};
use super::record::{self, Recorded, Shape};
use super::{FetchOptions, Progress, SizeLimit, TransferError, fetch_blob};
use crate::client::Client;
use crate::client::manifest::{ManifestFetchError, ManifestTarget};
use crate::client::retry::{Failure, GaveUp, Retryable};
use crate::digest::Digest;
use crate::exit::Category;
use crate::manifest::{
    self, Descriptor, ImageManifest, Manifest, ManifestError, Platform, PlatformSpec,
};
use crate::reference::Reference;
use crate::store::{ContentStore, StoreError};

/// Deepest nesting of indexes followed (an index of indexes is legal, if rare).
const MAX_DEPTH: usize = 4;
/// Most index entries `--all-platforms` looks at, over all indexes of one pull. Real
/// multi-platform indexes list a few dozen (images plus attestations); 1000 leaves room.
pub const MAX_INDEX_ENTRIES: usize = 1000;

/// Which manifests of an index to pull.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PlatformChoice {
    /// The one for this platform (`--platform`, or the host's).
    One(PlatformSpec),
    /// Several platforms (`--platform a,b`): recorded as an index of just those.
    Several(Vec<PlatformSpec>),
    /// Every manifest the index lists (`--all-platforms`).
    All,
}

/// How to pull.
#[derive(Debug, Clone)]
pub struct PullOptions {
    /// Platforms to take from an index.
    pub platforms: PlatformChoice,
    /// How each blob is fetched (retries, segments, cached verification).
    pub fetch: FetchOptions,
    /// Blobs of one image in flight at once (the shared semaphore bounds the total).
    pub jobs: usize,
}

/// Why a pull failed.
#[derive(Debug, thiserror::Error)]
pub enum PullError {
    /// A manifest request failed, or its bytes did not match the digest.
    #[error(transparent)]
    ManifestFetch(#[from] ManifestFetchError),
    /// A manifest layerget cannot use.
    #[error("manifest {digest} of `{reference}`: {reason}")]
    Manifest {
        /// The image.
        reference: String,
        /// The manifest.
        digest: Digest,
        /// What is wrong.
        reason: ManifestError,
    },
    /// The index has no manifest for the platform.
    #[error(
        "`{reference}` has no image for {wanted} (it has {})\nhint: pick one with --platform, or take all with --all-platforms",
        if .available.is_empty() { "no platform-specific images".to_owned() } else { .available.join(", ") }
    )]
    NoPlatform {
        /// The image.
        reference: String,
        /// The platform asked for.
        wanted: String,
        /// Platforms the index lists.
        available: Vec<String>,
    },
    /// A child manifest is of a kind that does not fit where it is.
    #[error("manifest {digest} of `{reference}` is {found}, where an image manifest was expected")]
    UnexpectedKind {
        /// The image.
        reference: String,
        /// The manifest.
        digest: Digest,
        /// Its media type.
        found: String,
    },
    /// Indexes nest deeper than layerget follows.
    #[error("`{reference}` nests indexes more than {MAX_DEPTH} deep")]
    TooDeep {
        /// The image.
        reference: String,
    },
    /// Indexes list more entries than layerget follows.
    #[error(
        "the index of `{reference}` lists {listed} manifests (nested indexes included); layerget follows at most {MAX_INDEX_ENTRIES}"
    )]
    TooManyEntries {
        /// The image.
        reference: String,
        /// Entries counted when the limit was passed.
        listed: usize,
    },
    /// Content has another size than its descriptor says.
    #[error(
        "{what} {digest} of `{reference}` is {actual} bytes, but its descriptor says {expected}"
    )]
    SizeMismatch {
        /// `manifest`, `blob`.
        what: &'static str,
        /// The image.
        reference: String,
        /// The content.
        digest: Digest,
        /// The descriptor's size.
        expected: u64,
        /// The content's size.
        actual: u64,
    },
    /// Fetching a config or layer (a blob) failed.
    #[error(transparent)]
    BlobFetch(#[from] TransferError),
    /// The cache failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A blocking task died, or an invariant did not hold.
    #[error("internal error: {0}")]
    Internal(String),
    /// Every attempt at a manifest failed; this is the last failure, with the attempts and
    /// their time.
    #[error(transparent)]
    Exhausted(Box<GaveUp<PullError>>),
}

impl PullError {
    /// The error's category (and so exit code).
    pub fn category(&self) -> Category {
        match self {
            PullError::ManifestFetch(e) => e.category(),
            PullError::BlobFetch(e) => e.category(),
            PullError::Exhausted(gave_up) => gave_up.last.category(),
            PullError::Store(e) => e.category(),
            PullError::NoPlatform { .. } => Category::NotFound,
            PullError::SizeMismatch { .. } => Category::Integrity,
            PullError::Manifest { .. }
            | PullError::UnexpectedKind { .. }
            | PullError::TooDeep { .. }
            | PullError::TooManyEntries { .. }
            | PullError::Internal(_) => Category::Other,
        }
    }
}

impl Retryable for PullError {
    fn failure(&self) -> Failure<'_> {
        match self {
            PullError::ManifestFetch(e) => e.failure(),
            PullError::BlobFetch(e) => e.failure(),
            _ => Failure::Final,
        }
    }
    fn category(&self) -> Category {
        PullError::category(self)
    }
}

/// One image manifest of a pull.
#[derive(Debug, Clone)]
pub struct PulledManifest {
    /// Its digest.
    pub digest: Digest,
    /// Its platform, when it came from an index.
    pub platform: Option<Platform>,
    /// How many layers it has.
    pub layers: usize,
}

/// What a pull did.
#[derive(Debug, Clone)]
pub struct PulledImage {
    /// The `org.opencontainers.image.ref.name` recorded.
    pub name: String,
    /// The digest the reference resolved to (an index or a manifest).
    pub digest: Digest,
    /// Its media type.
    pub media_type: String,
    /// The digest of the `index.json` entry carrying the name (the platform manifest when one
    /// was chosen from an index).
    pub recorded: Digest,
    /// The image manifests pulled.
    pub images: Vec<PulledManifest>,
    /// Distinct blobs (manifests, configs, layers) the image consists of.
    pub blobs: usize,
    /// Their total size.
    pub size: u64,
    /// How many of them were downloaded (the rest were in the cache).
    pub fetched: usize,
    /// Bytes received over the network.
    pub bytes_transferred: u64,
    /// Bytes of blobs that were in the cache already.
    pub bytes_cached: u64,
    /// Bytes of fetched blobs that a partial download had already (resumed, not re-sent).
    pub bytes_resumed: u64,
    /// Non-distributable (foreign) layers, which are not fetched.
    pub skipped: usize,
    /// Digests the name pointed at before, when they differ (the tag moved).
    pub replaced: Vec<Digest>,
}

impl PulledImage {
    /// Layers over all manifests pulled.
    pub fn layers(&self) -> usize {
        self.images.iter().map(|i| i.layers).sum()
    }
}

/// Makes a progress reporter for one blob, given a label.
pub type ProgressFactory<'a> = dyn Fn(&str) -> Box<dyn Progress + 'a> + Sync + 'a;

/// The distinct blobs of a pull, and byte totals over them.
#[derive(Default)]
pub(super) struct BlobTotals {
    blobs: HashSet<Digest>,
    size: u64,
    fetched: usize,
    bytes: u64,
    /// Bytes of blobs that were in the cache already.
    cached: u64,
    /// Bytes of fetched blobs that a partial download already held.
    resumed: u64,
}

impl BlobTotals {
    /// Counts a blob: `fetched` when it came over the network, `bytes` of it received.
    pub(super) fn add(&mut self, digest: &Digest, size: u64, fetched: bool, bytes: u64) {
        if !self.blobs.insert(digest.clone()) {
            // Counted once: a blob shared by two platforms is stored once.
            self.fetched += usize::from(fetched);
            self.bytes += bytes;
            return;
        }
        self.size += size;
        self.fetched += usize::from(fetched);
        self.bytes += bytes;
        if fetched {
            self.resumed += size.saturating_sub(bytes);
        } else {
            self.cached += size;
        }
    }
}

/// The error for an index that lists no manifest for `spec`, naming the platforms it has.
fn no_platform(reference: String, spec: &PlatformSpec, index: &manifest::Index) -> PullError {
    let mut available: Vec<String> = index
        .manifests
        .iter()
        .filter_map(|d| d.platform.as_ref().map(ToString::to_string))
        .filter(|p| p != "unknown/unknown")
        .collect();
    available.dedup();
    PullError::NoPlatform {
        reference,
        wanted: spec.to_string(),
        available,
    }
}

/// Pulls `reference` (which has a tag or a digest) into `store` and records it.
pub async fn pull<'a, S: ContentStore>(
    client: &Client,
    store: &S,
    reference: &Reference,
    options: &PullOptions,
    limiter: &Semaphore,
    progress: &ProgressFactory<'a>,
) -> Result<PulledImage, PullError> {
    pull_with(
        client,
        store,
        reference,
        options,
        limiter,
        progress,
        &|_| {},
    )
    .await
}

/// [`pull`], calling `on_blob` with each config and layer as soon as it is verified in the
/// store (or found there), before the others are done: `copy` pushes it on at once.
pub async fn pull_with<'a, S: ContentStore>(
    client: &Client,
    store: &S,
    reference: &Reference,
    options: &PullOptions,
    limiter: &Semaphore,
    progress: &ProgressFactory<'a>,
    on_blob: &(dyn Fn(&Descriptor) + Sync),
) -> Result<PulledImage, PullError> {
    let name = reference.to_string();
    let target = match (reference.digest(), reference.tag()) {
        (Some(d), _) => ManifestTarget::Digest(d),
        (None, Some(t)) => ManifestTarget::Tag(t),
        // The commands add `:latest` (`parse_image_reference`); a library caller may not have.
        (None, None) => {
            return Err(PullError::Internal(format!(
                "`{name}` names neither a tag nor a digest"
            )));
        }
    };
    let mut totals = BlobTotals::default();
    let top = fetch_manifest(client, store, reference, target, None, options, &mut totals).await?;
    let (top_digest, top_media_type) = (top.digest.clone(), top.manifest.media_type().to_owned());
    // The image manifests to pull, each with its index entry when it came from an index.
    let mut images: Vec<(Option<Descriptor>, FetchedManifest)> = Vec::new();
    let shape = match (&top.manifest, &options.platforms) {
        (Manifest::Image { .. }, _) => Shape::Image,
        (Manifest::Index { index, .. }, PlatformChoice::All) => {
            // Each manifest once, whatever number of times indexes list it; the entries of all
            // indexes visited count towards one limit, checked before anything is fetched.
            let mut listed = index.manifests.len();
            let too_many = |listed: usize| listed > MAX_INDEX_ENTRIES;
            if too_many(listed) {
                return Err(PullError::TooManyEntries {
                    reference: name,
                    listed,
                });
            }
            let mut visited: HashSet<Digest> = HashSet::from([top.digest.clone()]);
            let mut queue: Vec<(Descriptor, usize)> = index
                .manifests
                .iter()
                .rev()
                .map(|d| (d.clone(), 1))
                .collect();
            while let Some((d, depth)) = queue.pop() {
                if depth > MAX_DEPTH {
                    return Err(PullError::TooDeep { reference: name });
                }
                // Entries of other types (artifacts, signatures) are not images to pull.
                if !d.media_type.is_empty() && manifest::kind_of(&d.media_type).is_none() {
                    continue;
                }
                if !visited.insert(d.digest.clone()) {
                    continue;
                }
                let child = fetch_child(client, store, reference, &d, options, &mut totals).await?;
                match &child.manifest {
                    Manifest::Index { index, .. } => {
                        listed = listed.saturating_add(index.manifests.len());
                        if too_many(listed) {
                            return Err(PullError::TooManyEntries {
                                reference: name,
                                listed,
                            });
                        }
                        queue.extend(index.manifests.iter().rev().map(|c| (c.clone(), depth + 1)))
                    }
                    Manifest::Image { .. } => images.push((Some(d), child)),
                }
            }
            Shape::All
        }
        (Manifest::Index { index, .. }, PlatformChoice::Several(specs)) => {
            // Each platform's manifest straight from this index (a nested index per platform
            // is what `--platform` with one value or `--all-platforms` handle).
            for spec in specs {
                let Some(d) = spec.choose(index).cloned() else {
                    return Err(no_platform(name, spec, index));
                };
                if images.iter().any(|(seen, _)| seen.as_ref() == Some(&d)) {
                    continue;
                }
                let child = fetch_child(client, store, reference, &d, options, &mut totals).await?;
                if !matches!(child.manifest, Manifest::Image { .. }) {
                    return Err(PullError::TooDeep { reference: name });
                }
                images.push((Some(d), child));
            }
            Shape::Subset
        }
        (Manifest::Index { index, .. }, PlatformChoice::One(spec)) => {
            let mut index = index.clone();
            let mut depth = 1;
            loop {
                let Some(d) = spec.choose(&index).cloned() else {
                    return Err(no_platform(name, spec, &index));
                };
                let child = fetch_child(client, store, reference, &d, options, &mut totals).await?;
                match child.manifest {
                    Manifest::Index { index: inner, .. } if depth < MAX_DEPTH => {
                        index = inner;
                        depth += 1;
                    }
                    Manifest::Index { .. } => {
                        return Err(PullError::TooDeep { reference: name });
                    }
                    Manifest::Image { .. } => {
                        images.push((Some(d), child));
                        break;
                    }
                }
            }
            Shape::Platform
        }
    };
    let top = if shape == Shape::Image {
        images.push((None, top));
        None
    } else {
        Some(top)
    };

    // Configs and layers of every image, each distinct blob once.
    let mut wanted: BTreeMap<Digest, Descriptor> = BTreeMap::new();
    let mut skipped = 0;
    let mut pulled = Vec::new();
    for (descriptor, got) in &images {
        let Manifest::Image { manifest: m, .. } = &got.manifest else {
            unreachable!("only image manifests are collected")
        };
        let m: &ImageManifest = m.as_ref();
        for blob in m.blobs() {
            if blob.is_non_distributable() {
                skipped += 1;
            } else {
                wanted
                    .entry(blob.digest.clone())
                    .or_insert_with(|| blob.clone());
            }
        }
        pulled.push(PulledManifest {
            digest: got.digest.clone(),
            platform: descriptor.as_ref().and_then(|d| d.platform.clone()),
            layers: m.layers.len(),
        });
    }
    let fetch_options = options.fetch;
    let mut fetches = futures_util::stream::iter(wanted.values())
        .map(|d| async move {
            let _permit = limiter
                .acquire()
                .await
                .map_err(|e| PullError::Internal(e.to_string()))?;
            let p = progress(&d.digest.short());
            // The descriptor says how large the blob is: no body may be longer.
            let options = FetchOptions {
                size: SizeLimit::Exact(d.size),
                ..fetch_options
            };
            let outcome = fetch_blob(client, store, reference, &d.digest, options, &*p).await?;
            Ok::<_, PullError>((d, outcome))
        })
        .buffer_unordered(options.jobs.max(1));
    while let Some(result) = fetches.next().await {
        let (d, outcome) = result?;
        if outcome.size != d.size {
            return Err(PullError::SizeMismatch {
                what: "blob",
                reference: name,
                digest: d.digest.clone(),
                expected: d.size,
                actual: outcome.size,
            });
        }
        totals.add(
            &d.digest,
            outcome.size,
            !outcome.cached,
            outcome.bytes_transferred,
        );
        on_blob(d);
    }
    drop(fetches);

    // Last use, for `cache prune`: every blob of the image was used now.
    for d in &totals.blobs {
        store.touch(d).await?;
    }

    let Recorded { recorded, replaced } =
        record::record(store, &name, shape, top.as_ref(), &images, &mut totals).await?;
    Ok(PulledImage {
        name,
        digest: top_digest,
        media_type: top_media_type,
        recorded,
        images: pulled,
        blobs: totals.blobs.len(),
        size: totals.size,
        fetched: totals.fetched,
        bytes_transferred: totals.bytes,
        bytes_cached: totals.cached,
        bytes_resumed: totals.resumed,
        skipped,
        replaced,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::RegistryError;

    #[test]
    fn categories() {
        let e = PullError::NoPlatform {
            reference: "r/a:1".into(),
            wanted: "linux/s390x".into(),
            available: vec!["linux/amd64".into(), "linux/arm64".into()],
        };
        assert_eq!(e.category(), Category::NotFound);
        let text = e.to_string();
        assert!(
            text.contains("has no image for linux/s390x (it has linux/amd64, linux/arm64)"),
            "{text}"
        );
        let e = PullError::ManifestFetch(ManifestFetchError::Registry(RegistryError::Setup(
            "x".into(),
        )));
        assert_eq!(e.category(), Category::Other);
        // A manifest request that was retried reports its attempts as a blob fetch does, and
        // keeps the last error's category.
        let last = PullError::ManifestFetch(ManifestFetchError::Registry(RegistryError::Setup(
            "x".into(),
        )));
        let text = last.to_string();
        let e = PullError::Exhausted(Box::new(GaveUp {
            last,
            attempts: 3,
            elapsed: std::time::Duration::from_millis(1500),
            tried: Vec::new(),
        }));
        assert_eq!(e.category(), Category::Other);
        assert_eq!(
            e.to_string(),
            format!("{text} (gave up after 3 attempts over 1.5 s)")
        );
    }
}
