//! A whole image from a registry into the store: resolve the reference to a manifest, choose
//! platforms from an index, fetch configs and layers concurrently through the verified blob
//! path, and record the reference in `index.json`.
//!
//! Manifests come from the manifests endpoint (a registry need not serve them as blobs;
//! distribution 2.8.2 does not), are verified by `client::manifest`, and are stored as blobs
//! through the store's verifying commit like everything else. A manifest asked for by digest
//! that is in the cache already is read from there (at most [`MAX_MANIFEST`] bytes, re-hashed
//! first: a bad one is removed and fetched again): content addressing makes it the same
//! document. A tag is always asked again, since tags move. What `index.json` records is
//! explained in `store::index`.
//!
//! Every config and layer is fetched with its descriptor's size as an exact limit, so no body
//! is longer than the image says. `--all-platforms` visits each manifest of an index tree once,
//! follows indexes at most `MAX_DEPTH` (4) deep and at most [`MAX_INDEX_ENTRIES`] entries in all,
//! so a hostile index cannot multiply work or memory.
//!
//! The caller opened the store for use (`Store::open_for`), so it holds the cache-wide lock
//! shared for the duration, and `cache gc` cannot remove blobs between their fetch and their
//! recording.

use std::collections::{BTreeMap, HashMap, HashSet};

use futures_util::StreamExt as _;
use tokio::sync::Semaphore;

use crate::client::Client;
use crate::client::manifest::{ManifestFetchError, ManifestTarget};
use crate::digest::{Algorithm, Digest, digest_bytes};
use crate::envelope::Category;
use crate::manifest::{
    self, Descriptor, ImageManifest, MAX_MANIFEST, Manifest, ManifestError, OCI_INDEX,
    OCI_MANIFEST, Platform, PlatformSpec, REF_NAME,
};
use crate::reference::Reference;
use crate::store::{SOURCE_OF, Store, StoreError};
use crate::transfer::{FetchOptions, Progress, SizeLimit, TransferError, fetch_blob};

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
    /// The manifest request failed or the bytes did not match.
    #[error(transparent)]
    Fetch(#[from] ManifestFetchError),
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
    /// Fetching a config or layer failed.
    #[error(transparent)]
    Transfer(#[from] TransferError),
    /// The cache failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A blocking task died.
    #[error("internal error: {0}")]
    Internal(String),
}

impl PullError {
    /// The error's category (and so exit code).
    pub fn category(&self) -> Category {
        match self {
            PullError::Fetch(e) => e.category(),
            PullError::Transfer(e) => e.category(),
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

/// A manifest fetched (or read from the cache), parsed and stored.
struct Got {
    digest: Digest,
    size: u64,
    bytes: Vec<u8>,
    manifest: Manifest,
}

/// What a reference resolved to, which decides what `index.json` records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    /// An image manifest.
    Image,
    /// An index, of which one platform was pulled.
    Platform,
    /// An index, all of it pulled.
    All,
    /// An index, of which several platforms were pulled: recorded as an index of those.
    Subset,
}

fn descriptor(
    media_type: &str,
    digest: &Digest,
    size: u64,
    annotation: &str,
    name: &str,
) -> Descriptor {
    Descriptor {
        media_type: media_type.to_owned(),
        digest: digest.clone(),
        size,
        platform: None,
        annotations: [(annotation.to_owned(), name.to_owned())].into(),
        extra: serde_json::Map::new(),
    }
}

/// Stores the OCI version of a Docker document; returns its digest and size.
async fn store_as_oci(
    store: &Store,
    bytes: &[u8],
    children: &HashMap<Digest, (Digest, u64)>,
    tally: &mut Tally,
) -> Result<(Digest, u64), PullError> {
    let oci = manifest::docker_to_oci(bytes, children)
        .map_err(|e| PullError::Internal(format!("converting a Docker manifest to OCI: {e}")))?;
    let digest = digest_bytes(Algorithm::Sha256, &oci);
    let size = oci.len() as u64;
    let (s, d) = (store.clone(), digest.clone());
    blocking(move || s.put_bytes(&d, &oci)).await??;
    tally.add(&digest, size, false, 0);
    Ok((digest, size))
}

/// The `index.json` entries for a pull (see `store::index` for why they look so). The first
/// carries the name.
async fn entries(
    store: &Store,
    name: &str,
    shape: Shape,
    top: Option<&Got>,
    images: &[(Option<Descriptor>, Got)],
    tally: &mut Tally,
) -> Result<Vec<Descriptor>, PullError> {
    let none = HashMap::new();
    let mut entries = Vec::new();
    match (shape, top) {
        (Shape::Image, _) => {
            let Some((_, got)) = images.first() else {
                return Err(PullError::Internal(
                    "an image pull without its manifest".into(),
                ));
            };
            let mt = got.manifest.media_type();
            if manifest::is_docker(mt) {
                let (d, size) = store_as_oci(store, &got.bytes, &none, tally).await?;
                entries.push(descriptor(OCI_MANIFEST, &d, size, REF_NAME, name));
                entries.push(descriptor(mt, &got.digest, got.size, SOURCE_OF, name));
            } else {
                entries.push(descriptor(mt, &got.digest, got.size, REF_NAME, name));
            }
        }
        (Shape::Platform, Some(top)) => {
            let Some((Some(d), got)) = images.first() else {
                return Err(PullError::Internal(
                    "a platform image without its index entry".into(),
                ));
            };
            // The named entry is the platform's manifest, so that `skopeo copy oci:…` and
            // `serve` give a runnable image whatever the host; the index is kept beside it.
            let mut named = d.clone();
            named
                .annotations
                .insert(REF_NAME.to_owned(), name.to_owned());
            named.media_type = got.manifest.media_type().to_owned();
            if manifest::is_docker(&named.media_type) {
                let (digest, size) = store_as_oci(store, &got.bytes, &none, tally).await?;
                (named.media_type, named.digest, named.size) = (OCI_MANIFEST.into(), digest, size);
            }
            entries.push(named);
            let mt = top.manifest.media_type();
            entries.push(descriptor(mt, &top.digest, top.size, SOURCE_OF, name));
        }
        (Shape::Subset, Some(top)) => {
            // An index of just the pulled platforms carries the name (so the cache holds all
            // it names, `cache ls` calls it complete, and `skopeo copy oci:…` picks from it);
            // the registry's index is kept beside it, which `serve` hands out for the tag.
            let mut converted = HashMap::new();
            let mut keep = HashSet::new();
            for (d, got) in images {
                keep.extend(d.as_ref().map(|d| d.digest.clone()));
                if manifest::is_docker(got.manifest.media_type()) {
                    let new = store_as_oci(store, &got.bytes, &none, tally).await?;
                    converted.insert(got.digest.clone(), new);
                }
            }
            let subset = manifest::subset_index(&top.bytes, &keep).map_err(|e| {
                PullError::Internal(format!("keeping the chosen platforms of an index: {e}"))
            })?;
            let (d, size) = store_as_oci(store, &subset, &converted, tally).await?;
            entries.push(descriptor(OCI_INDEX, &d, size, REF_NAME, name));
            let mt = top.manifest.media_type();
            entries.push(descriptor(mt, &top.digest, top.size, SOURCE_OF, name));
        }
        (Shape::All, Some(top)) => {
            let mut converted = HashMap::new();
            for (_, got) in images {
                if manifest::is_docker(got.manifest.media_type()) {
                    let new = store_as_oci(store, &got.bytes, &none, tally).await?;
                    converted.insert(got.digest.clone(), new);
                }
            }
            let mt = top.manifest.media_type();
            if manifest::is_docker(mt) || !converted.is_empty() {
                let (d, size) = store_as_oci(store, &top.bytes, &converted, tally).await?;
                entries.push(descriptor(OCI_INDEX, &d, size, REF_NAME, name));
                entries.push(descriptor(mt, &top.digest, top.size, SOURCE_OF, name));
            } else {
                entries.push(descriptor(mt, &top.digest, top.size, REF_NAME, name));
            }
        }
        (_, None) => {
            return Err(PullError::Internal(
                "an index pull without its index".into(),
            ));
        }
    }
    Ok(entries)
}

#[derive(Default)]
struct Tally {
    blobs: HashSet<Digest>,
    size: u64,
    fetched: usize,
    bytes: u64,
    /// Bytes of blobs that were in the cache already.
    cached: u64,
    /// Bytes of fetched blobs that a partial download already held.
    resumed: u64,
}

impl Tally {
    fn add(&mut self, digest: &Digest, size: u64, fetched: bool, bytes: u64) {
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

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, PullError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| PullError::Internal(e.to_string()))
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
pub async fn pull<'a>(
    client: &Client,
    store: &Store,
    reference: &Reference,
    options: &PullOptions,
    limiter: &Semaphore,
    progress: &ProgressFactory<'a>,
) -> Result<PulledImage, PullError> {
    let name = reference.to_string();
    let target = match (reference.digest(), reference.tag()) {
        (Some(d), _) => ManifestTarget::Digest(d),
        (None, Some(t)) => ManifestTarget::Tag(t),
        (None, None) => unreachable!("the caller gives every reference a tag or a digest"),
    };
    let mut tally = Tally::default();
    let top = get(client, store, reference, target, None, options, &mut tally).await?;
    let (top_digest, top_media_type) = (top.digest.clone(), top.manifest.media_type().to_owned());
    // The image manifests to pull, each with its index entry when it came from an index.
    let mut images: Vec<(Option<Descriptor>, Got)> = Vec::new();
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
                let child = get_child(client, store, reference, &d, options, &mut tally).await?;
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
                let child = get_child(client, store, reference, &d, options, &mut tally).await?;
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
                let child = get_child(client, store, reference, &d, options, &mut tally).await?;
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
        tally.add(
            &d.digest,
            outcome.size,
            !outcome.cached,
            outcome.bytes_transferred,
        );
    }
    drop(fetches);

    // Last use, for `cache prune`: every blob of the image was used now.
    let (s, used) = (
        store.clone(),
        tally.blobs.iter().cloned().collect::<Vec<_>>(),
    );
    blocking(move || used.iter().try_for_each(|d| s.touch_blob(d))).await??;

    let entries = entries(store, &name, shape, top.as_ref(), &images, &mut tally).await?;
    let Some(recorded) = entries.first().map(|d| d.digest.clone()) else {
        return Err(PullError::Internal("nothing to record".into()));
    };
    let new: HashSet<Digest> = entries.iter().map(|d| d.digest.clone()).collect();
    let (s, n) = (store.clone(), name.clone());
    let mut replaced: Vec<Digest> =
        blocking(move || s.update_index(|index| (index.set_ref(&n, entries), true)))
            .await??
            .into_iter()
            .map(|d| d.digest)
            .filter(|d| !new.contains(d))
            .collect();
    replaced.dedup();
    Ok(PulledImage {
        name,
        digest: top_digest,
        media_type: top_media_type,
        recorded,
        images: pulled,
        blobs: tally.blobs.len(),
        size: tally.size,
        fetched: tally.fetched,
        bytes_transferred: tally.bytes,
        bytes_cached: tally.cached,
        bytes_resumed: tally.resumed,
        skipped,
        replaced,
    })
}

/// Gets a manifest (from the cache when asked by a digest it holds), parses it, stores it.
/// `expected` is the size a descriptor gave, checked when known.
async fn get(
    client: &Client,
    store: &Store,
    reference: &Reference,
    target: ManifestTarget<'_>,
    hint: Option<&str>,
    options: &PullOptions,
    tally: &mut Tally,
) -> Result<Got, PullError> {
    let name = reference.to_string();
    if let ManifestTarget::Digest(d) = target
        && store.lookup(d)?.is_some()
    {
        let (s, d2, h) = (store.clone(), d.clone(), hint.map(str::to_owned));
        let cached = blocking(move || {
            // Bounded and re-hashed: the cache is a file system others can write to. A bad
            // one is removed, so the one fetched below replaces it.
            let Some(bytes) = s.read_verified(&d2, MAX_MANIFEST as u64)? else {
                return Ok(None);
            };
            let parsed = manifest::parse(&bytes, h.as_deref()).ok();
            Ok::<_, StoreError>(parsed.map(|m| (bytes, m)))
        })
        .await??;
        // A cached blob that is no manifest we can read is asked for again, and then parsed
        // with the registry's Content-Type, which gives a precise error.
        if let Some((bytes, manifest)) = cached {
            let size = bytes.len() as u64;
            tally.add(d, size, false, 0);
            return Ok(Got {
                digest: d.clone(),
                size,
                bytes,
                manifest,
            });
        }
    }
    let response = with_retries(client, reference, target, options).await?;
    let content_type = response.content_type.as_deref().or(hint);
    let manifest =
        manifest::parse(&response.bytes, content_type).map_err(|reason| PullError::Manifest {
            reference: name.clone(),
            digest: response.digest.clone(),
            reason,
        })?;
    let size = response.bytes.len() as u64;
    let (s, digest, bytes) = (
        store.clone(),
        response.digest.clone(),
        response.bytes.clone(),
    );
    let (_, cached) = blocking(move || s.put_bytes(&digest, &bytes)).await??;
    tally.add(&response.digest, size, !cached, size);
    Ok(Got {
        digest: response.digest,
        size,
        bytes: response.bytes,
        manifest,
    })
}

/// Gets a manifest an index lists, checking the size its descriptor gives.
async fn get_child(
    client: &Client,
    store: &Store,
    reference: &Reference,
    d: &Descriptor,
    options: &PullOptions,
    tally: &mut Tally,
) -> Result<Got, PullError> {
    let hint = Some(d.media_type.as_str()).filter(|m| !m.is_empty());
    let got = get(
        client,
        store,
        reference,
        ManifestTarget::Digest(&d.digest),
        hint,
        options,
        tally,
    )
    .await?;
    if got.size != d.size {
        return Err(PullError::SizeMismatch {
            what: "manifest",
            reference: reference.to_string(),
            digest: d.digest.clone(),
            expected: d.size,
            actual: got.size,
        });
    }
    if let Some(h) = hint
        && manifest::kind_of(h).is_some()
        && h != got.manifest.media_type()
    {
        return Err(PullError::UnexpectedKind {
            reference: reference.to_string(),
            digest: d.digest.clone(),
            found: format!(
                "`{}` although its index entry says `{h}`",
                got.manifest.media_type()
            ),
        });
    }
    Ok(got)
}

/// One manifest GET, retried by the same policy as blobs.
async fn with_retries(
    client: &Client,
    reference: &Reference,
    target: ManifestTarget<'_>,
    options: &PullOptions,
) -> Result<crate::client::manifest::ManifestResponse, PullError> {
    let policy = options.fetch.retry;
    let mut attempt = 1;
    loop {
        let error = match client.get_manifest(reference, target).await {
            Ok(r) => return Ok(r),
            Err(e) => e,
        };
        let Some(wait) = policy.delay(attempt, error.failure()) else {
            return Err(error.into());
        };
        if error.category() == Category::RateLimited {
            client.throttle(&client.manifest_url(reference, target), wait);
        }
        tracing::info!(
            "manifest of `{reference}`: attempt {attempt} failed ({error}); retrying in {:.1} s",
            wait.as_secs_f64()
        );
        tokio::time::sleep(wait).await;
        attempt += 1;
    }
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
        let e = PullError::Fetch(ManifestFetchError::Registry(RegistryError::Setup(
            "x".into(),
        )));
        assert_eq!(e.category(), Category::Other);
    }
}
