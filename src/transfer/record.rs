//! What a pull records in the refs table (`index.json`), and how: the one place that decides
//! which entry carries the name, which ones are kept beside it (`SOURCE_OF`), and when a Docker
//! document is recorded as its OCI conversion (stored as a blob first). `store::index` explains
//! why the entries look so; this module only builds them and hands them to the store.
//!
//! - An image manifest: the name on it (on its OCI conversion when it is a Docker one, the
//!   original kept beside it).
//! - One platform of an index: the name on the platform's manifest, so that `skopeo copy oci:…`
//!   and `serve` give a runnable image whatever the host; the index beside it.
//! - Several platforms: the name on an index of just those (a subset of the registry's index),
//!   the registry's index beside it.
//! - All of an index: the name on the index (its OCI conversion if it or a child is Docker).

use std::collections::{HashMap, HashSet};

use super::image::{BlobTotals, PullError};
use super::manifests::FetchedManifest;
use crate::digest::{Algorithm, Digest, digest_bytes};
use crate::manifest::{self, Descriptor, OCI_INDEX, OCI_MANIFEST, REF_NAME};
use crate::store::content::put_bytes;
use crate::store::{ContentStore, SOURCE_OF};

/// What a pull recorded.
pub(super) struct Recorded {
    /// The digest of the entry carrying the name.
    pub(super) recorded: Digest,
    /// Digests the name pointed at before, when they differ (the tag moved).
    pub(super) replaced: Vec<Digest>,
}

/// Records `name` for what a pull fetched: builds the entries (storing OCI conversions) and
/// replaces the name's entries in `index.json` with them, atomically.
pub(super) async fn record<S: ContentStore>(
    store: &S,
    name: &str,
    shape: Shape,
    top: Option<&FetchedManifest>,
    images: &[(Option<Descriptor>, FetchedManifest)],
    totals: &mut BlobTotals,
) -> Result<Recorded, PullError> {
    let entries = entries(store, name, shape, top, images, totals).await?;
    let Some(recorded) = entries.first().map(|d| d.digest.clone()) else {
        return Err(PullError::Internal("nothing to record".into()));
    };
    let new: HashSet<Digest> = entries.iter().map(|d| d.digest.clone()).collect();
    let n = name.to_owned();
    let mut replaced: Vec<Digest> = store
        .update_refs(move |index| (index.set_ref(&n, entries), true))
        .await?
        .into_iter()
        .map(|d| d.digest)
        .filter(|d| !new.contains(d))
        .collect();
    replaced.dedup();
    Ok(Recorded { recorded, replaced })
}

/// What a reference resolved to, which decides what `index.json` records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Shape {
    /// An image manifest.
    Image,
    /// An index, of which one platform was pulled.
    Platform,
    /// An index, all of it pulled.
    All,
    /// An index, of which several platforms were pulled: recorded as an index of those.
    Subset,
}

/// An `index.json` entry for `digest`, annotated `annotation` = `name`.
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
async fn store_as_oci<S: ContentStore>(
    store: &S,
    bytes: &[u8],
    children: &HashMap<Digest, (Digest, u64)>,
    totals: &mut BlobTotals,
) -> Result<(Digest, u64), PullError> {
    let oci = manifest::docker_to_oci(bytes, children)
        .map_err(|e| PullError::Internal(format!("converting a Docker manifest to OCI: {e}")))?;
    let digest = digest_bytes(Algorithm::Sha256, &oci);
    let size = oci.len() as u64;
    put_bytes(store, &digest, oci.into()).await?;
    totals.add(&digest, size, false, 0);
    Ok((digest, size))
}

/// The `index.json` entries for a pull (see `store::index` for why they look so). The first
/// carries the name.
async fn entries<S: ContentStore>(
    store: &S,
    name: &str,
    shape: Shape,
    top: Option<&FetchedManifest>,
    images: &[(Option<Descriptor>, FetchedManifest)],
    totals: &mut BlobTotals,
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
                let (d, size) = store_as_oci(store, &got.bytes, &none, totals).await?;
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
                let (digest, size) = store_as_oci(store, &got.bytes, &none, totals).await?;
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
                    let new = store_as_oci(store, &got.bytes, &none, totals).await?;
                    converted.insert(got.digest.clone(), new);
                }
            }
            let subset = manifest::subset_index(&top.bytes, &keep).map_err(|e| {
                PullError::Internal(format!("keeping the chosen platforms of an index: {e}"))
            })?;
            let (d, size) = store_as_oci(store, &subset, &converted, totals).await?;
            entries.push(descriptor(OCI_INDEX, &d, size, REF_NAME, name));
            let mt = top.manifest.media_type();
            entries.push(descriptor(mt, &top.digest, top.size, SOURCE_OF, name));
        }
        (Shape::All, Some(top)) => {
            let mut converted = HashMap::new();
            for (_, got) in images {
                if manifest::is_docker(got.manifest.media_type()) {
                    let new = store_as_oci(store, &got.bytes, &none, totals).await?;
                    converted.insert(got.digest.clone(), new);
                }
            }
            let mt = top.manifest.media_type();
            if manifest::is_docker(mt) || !converted.is_empty() {
                let (d, size) = store_as_oci(store, &top.bytes, &converted, totals).await?;
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
