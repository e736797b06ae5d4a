//! Reachability: which blobs the references reach through the manifests in the cache, which
//! of those are missing, and what each reference holds (`cache ls`, and the plans of `gc`,
//! `prune` and `rm`). Written once over [`Maintained`]: the references come from
//! [`ContentStore::refs`](crate::store::ContentStore::refs), the manifests from
//! [`Maintained::manifest_bytes`].
//!
//! A manifest that is there but cannot be read is an error, never "no manifest": what it
//! names would otherwise look unreachable, and `cache gc --loose` would delete it.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io;
use std::path::PathBuf;

use super::Maintained;
use super::walk::{BlobInfo, open_unmarked};
use crate::digest::Digest;
use crate::manifest::{self, Descriptor, MAX_MANIFEST, REF_NAME};
use crate::store::{LayoutIndex, Store, StoreError, index};

/// The blobs reachable from some roots.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Reachable {
    /// Reachable and in the cache.
    pub present: HashSet<Digest>,
    /// Reachable but not in the cache (platforms not pulled, evicted or removed blobs).
    pub missing: HashSet<Digest>,
}

/// A reference as `cache prune` and `cache rm` see it: where it starts and what it reaches.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReferenceBlobs {
    /// Its index entries' digests (a pull marks them used; a shared base layer, used by
    /// every image on it, would say nothing about this image).
    pub roots: Vec<Digest>,
    /// Every blob it reaches that is in the cache.
    pub blobs: HashSet<Digest>,
}

/// A reference as `cache ls` shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct ReferenceSummary {
    /// Its name in the reference table (an unnamed entry's digest).
    pub name: String,
    /// The entry carrying the name (for a platform pulled from an index, that platform's
    /// manifest).
    pub entry: Descriptor,
    /// Bytes in the cache it reaches, plus those of the registry documents recorded beside it.
    pub size: u64,
    /// How many blobs it reaches are not in the cache (0: complete).
    pub missing: usize,
}

/// Reads a cached blob that should be a manifest. `Ok(None)` when it is missing, too large
/// or not a manifest; an error when it is there but cannot be read. The difference matters
/// to `cache gc`: taking an unreadable manifest for "no manifest" would make the blobs it
/// names look unreachable, and `--loose` would delete them.
pub async fn read_manifest<S: Maintained>(
    store: &S,
    digest: &Digest,
    media_type: Option<&str>,
) -> Result<Option<manifest::Manifest>, StoreError> {
    let Some(bytes) = store.manifest_bytes(digest).await? else {
        return Ok(None);
    };
    Ok(parse_manifest(&bytes, media_type))
}

/// A manifest in `bytes`, if they hold one (a layer is no manifest, and that is no error).
fn parse_manifest(bytes: &[u8], media_type: Option<&str>) -> Option<manifest::Manifest> {
    if bytes.trim_ascii_start().first() != Some(&b'{') {
        return None;
    }
    let hint = media_type.filter(|m| manifest::kind_of(m).is_some());
    manifest::parse(bytes, hint).ok()
}

/// Follows manifests from roots, remembering what it has looked up: the references of a
/// cache share layers and configs, and on a bucket each look is a request.
struct Walker<'s, S> {
    store: &'s S,
    /// Whether each digest looked up is in the cache.
    present: HashMap<Digest, bool>,
    /// The children of each blob read as a manifest (with the media type it was read as);
    /// empty for one that is no manifest.
    children: HashMap<(Digest, String), Vec<(Digest, String)>>,
}

impl<'s, S: Maintained> Walker<'s, S> {
    fn new(store: &'s S) -> Self {
        Walker {
            store,
            present: HashMap::new(),
            children: HashMap::new(),
        }
    }

    /// Everything reachable from `roots`: present and missing.
    async fn reach(&mut self, roots: &[Descriptor]) -> Result<Reachable, StoreError> {
        let mut reach = Reachable::default();
        let mut queue: Vec<(Digest, String)> = roots
            .iter()
            .map(|d| (d.digest.clone(), d.media_type.clone()))
            .collect();
        while let Some((digest, media_type)) = queue.pop() {
            if reach.present.contains(&digest) || reach.missing.contains(&digest) {
                continue;
            }
            let here = match self.present.get(&digest) {
                Some(&here) => here,
                None => {
                    let here = self.store.present(&digest).await?.is_some();
                    self.present.insert(digest.clone(), here);
                    here
                }
            };
            if !here {
                reach.missing.insert(digest);
                continue;
            }
            let is_manifest = manifest::kind_of(&media_type).is_some() || media_type.is_empty();
            if is_manifest {
                let key = (digest.clone(), media_type);
                let kids = match self.children.get(&key) {
                    Some(kids) => kids.clone(),
                    None => {
                        let found = read_manifest(self.store, &digest, Some(&key.1)).await?;
                        let kids: Vec<(Digest, String)> = found.map_or_else(Vec::new, |m| {
                            m.children()
                                .into_iter()
                                .map(|c| (c.digest.clone(), c.media_type.clone()))
                                .collect()
                        });
                        self.children.insert(key, kids.clone());
                        kids
                    }
                };
                queue.extend(kids);
            }
            reach.present.insert(digest);
        }
        Ok(reach)
    }
}

/// Everything reachable from `roots` through the manifests in the cache: the digests that
/// are present and those that are missing. A blob that is there but cannot be inspected, or
/// a manifest that cannot be read, is an error rather than "missing" or "no children": what
/// it reaches would otherwise look unreachable to `cache gc`.
pub async fn reachable<S: Maintained>(
    store: &S,
    roots: &[Descriptor],
) -> Result<Reachable, StoreError> {
    Walker::new(store).reach(roots).await
}

/// The references of `index` (grouped by name; unnamed entries under their digest) and the
/// blobs each reaches.
pub async fn reachable_by_reference<S: Maintained>(
    store: &S,
    index: &LayoutIndex,
) -> Result<BTreeMap<String, ReferenceBlobs>, StoreError> {
    let mut groups: BTreeMap<String, Vec<Descriptor>> = BTreeMap::new();
    for d in index.entries() {
        groups.entry(index::group_name(&d)).or_default().push(d);
    }
    let mut walker = Walker::new(store);
    let mut out = BTreeMap::new();
    for (name, roots) in groups {
        let blobs = walker.reach(&roots).await?.present;
        let roots = roots.into_iter().map(|d| d.digest).collect();
        out.insert(name, ReferenceBlobs { roots, blobs });
    }
    Ok(out)
}

/// Every reference of `index`, by name: its entry, its size in the cache (of `blobs`, the
/// store's listing) and how many of its blobs are missing.
pub async fn reference_summaries<S: Maintained>(
    store: &S,
    index: &LayoutIndex,
    blobs: &[BlobInfo],
) -> Result<Vec<ReferenceSummary>, StoreError> {
    let sizes: HashMap<&Digest, u64> = blobs.iter().map(|b| (&b.digest, b.size)).collect();
    let mut walker = Walker::new(store);
    let mut rows: BTreeMap<String, ReferenceSummary> = BTreeMap::new();
    let mut extra: HashMap<String, Vec<Digest>> = HashMap::new();
    for d in index.entries() {
        let named = d.annotations.get(REF_NAME).cloned();
        let name = match named
            .clone()
            .or_else(|| index::owner(&d).map(str::to_owned))
        {
            // Completeness and size follow the named entry; an index recorded beside a chosen
            // platform adds only its own bytes (its other platforms were never pulled).
            Some(name) if named.is_none() => {
                extra.entry(name).or_default().push(d.digest);
                continue;
            }
            Some(name) => name,
            None => d.digest.to_string(),
        };
        let reach = walker.reach(std::slice::from_ref(&d)).await?;
        let row = ReferenceSummary {
            name: name.clone(),
            entry: d,
            size: reach.present.iter().filter_map(|x| sizes.get(x)).sum(),
            missing: reach.missing.len(),
        };
        rows.insert(name, row);
    }
    for (name, digests) in extra {
        if let Some(r) = rows.get_mut(&name) {
            r.size += digests.iter().filter_map(|d| sizes.get(d)).sum::<u64>();
        }
    }
    Ok(rows.into_values().collect())
}

impl Store {
    /// The bytes of a cached blob that may be a manifest, read without marking it used:
    /// `Ok(None)` when it is missing or too large to be one; an error when it is there but
    /// cannot be read (a directory in its place, a symlink loop, a read error). Blocks.
    pub(super) fn read_manifest_bytes(
        &self,
        digest: &Digest,
    ) -> Result<Option<bytes::Bytes>, StoreError> {
        use std::io::Read as _;
        let path = self.blob_path(digest);
        let file = match open_unmarked(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(StoreError::io("open manifest", &path)(e)),
        };
        let meta = file
            .metadata()
            .map_err(StoreError::io("inspect manifest", &path))?;
        if !meta.is_file() {
            return Err(not_a_file(path));
        }
        if meta.len() > MAX_MANIFEST as u64 {
            return Ok(None);
        }
        let mut bytes = Vec::new();
        file.take(MAX_MANIFEST as u64)
            .read_to_end(&mut bytes)
            .map_err(StoreError::io("read manifest", &path))?;
        Ok(Some(bytes.into()))
    }
}

fn not_a_file(path: PathBuf) -> StoreError {
    StoreError::Corrupt {
        path,
        reason: "not a regular file".into(),
    }
}

#[cfg(test)]
mod tests {
    use std::fs;
    use std::path::Path;
    use std::time::Duration;

    use super::*;
    use crate::digest::{Algorithm, digest_bytes};
    use crate::manifest::{OCI_INDEX, OCI_MANIFEST};
    use crate::store::maintain::fixtures::{image, index, put, record};
    use crate::store::{ContentStore as _, MemoryStore};

    #[tokio::test]
    async fn an_unreadable_manifest_stops_gc_rather_than_freeing_what_it_names() {
        // Ways a manifest can be there yet unreadable that hold for root too (tests may run
        // as root, whom permissions do not stop): a directory in its place, a symlink loop.
        type Break = fn(&Path);
        let breaks: [(&str, Break); 2] = [
            ("a directory", |p| fs::create_dir(p).unwrap()),
            ("a symlink loop", |p| {
                std::os::unix::fs::symlink(p, p).unwrap()
            }),
        ];
        for (what, break_it) in breaks {
            let dir = tempfile::tempdir().unwrap();
            let store = Store::open(dir.path()).unwrap();
            let (m, size) = image(&store, b"{\"c\":1}", &[b"layer"]).await;
            record(&store, "r/app:v1", &m, size).await;
            let path = store.blob_path(&m);
            fs::remove_file(&path).unwrap();
            break_it(&path);
            assert!(read_manifest(&store, &m, None).await.is_err(), "{what}");
            let idx = index(&store).await;
            assert!(
                reachable_by_reference(&store, &idx).await.is_err(),
                "{what}"
            );
            let blobs = store.blob_infos().await.unwrap();
            assert!(
                reference_summaries(&store, &idx, &blobs).await.is_err(),
                "{what}"
            );
            for loose in [false, true] {
                let plan = store.plan_gc(loose, Duration::ZERO).await;
                assert!(plan.is_err(), "{what}, loose {loose}: {plan:?}");
            }
        }

        // Missing is not unreadable: the layers of a manifest that is gone are unreachable.
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let (m, size) = image(&store, b"{\"c\":1}", &[b"layer"]).await;
        record(&store, "r/app:v1", &m, size).await;
        fs::remove_file(store.blob_path(&m)).unwrap();
        assert!(read_manifest(&store, &m, None).await.unwrap().is_none());
        let plan = store.plan_gc(true, Duration::ZERO).await.unwrap();
        assert_eq!(plan.blobs.len(), 2);
    }

    /// The generic walk on the memory store: through an image index to the platform pulled
    /// (the other one missing), shared layers counted for each reference, a layer that looks
    /// like JSON taken for no manifest, and `cache ls`'s sizes and missing counts.
    #[tokio::test]
    async fn reachability_on_the_memory_store_follows_indexes_and_counts_missing_blobs() {
        let store = MemoryStore::new();
        let (a, a_size) = image(
            &store,
            b"{\"c\":1}",
            &[b"shared", b"{\"not\":\"a manifest\"}"],
        )
        .await;
        let (b, b_size) = image(&store, b"{\"c\":2}", &[b"shared", b"b-layer"]).await;
        let absent = digest_bytes(Algorithm::Sha256, b"a platform never pulled");
        let list = serde_json::json!({
            "schemaVersion": 2, "mediaType": OCI_INDEX,
            "manifests": [
                {"mediaType": OCI_MANIFEST, "digest": b, "size": b_size,
                 "platform": {"architecture": "amd64", "os": "linux"}},
                {"mediaType": OCI_MANIFEST, "digest": absent, "size": 10,
                 "platform": {"architecture": "arm64", "os": "linux"}},
            ],
        })
        .to_string();
        let list_digest = put(&store, list.as_bytes()).await;
        let loose = put(&store, b"fetched by digest").await;
        record(&store, "r/a:1", &a, a_size).await;
        let d = Descriptor {
            media_type: OCI_INDEX.into(),
            digest: list_digest.clone(),
            size: list.len() as u64,
            platform: None,
            annotations: [(REF_NAME.to_owned(), "r/b:1".to_owned())].into(),
            extra: serde_json::Map::new(),
        };
        store
            .update_refs(move |i| (i.set_ref("r/b:1", vec![d]), true))
            .await
            .unwrap();

        let idx = index(&store).await;
        let all = reachable(&store, &idx.entries()).await.unwrap();
        // a: manifest, config, 2 layers; b: index, manifest, config, own layer (shared once).
        assert_eq!(all.present.len(), 8, "{all:?}");
        assert_eq!(all.missing, [absent.clone()].into());
        assert!(!all.present.contains(&loose));

        let by_ref = reachable_by_reference(&store, &idx).await.unwrap();
        assert_eq!(by_ref.keys().collect::<Vec<_>>(), ["r/a:1", "r/b:1"]);
        let shared = digest_bytes(Algorithm::Sha256, b"shared");
        assert!(by_ref.values().all(|r| r.blobs.contains(&shared)));
        assert_eq!(by_ref["r/a:1"].roots, std::slice::from_ref(&a));
        assert_eq!(by_ref["r/b:1"].blobs.len(), 5);

        let blobs = store.blob_infos().await.unwrap();
        let rows = reference_summaries(&store, &idx, &blobs).await.unwrap();
        let size_of = |digests: &HashSet<Digest>| -> u64 {
            blobs
                .iter()
                .filter(|b| digests.contains(&b.digest))
                .map(|b| b.size)
                .sum()
        };
        assert_eq!(rows.len(), 2);
        assert_eq!((rows[0].name.as_str(), rows[0].missing), ("r/a:1", 0));
        assert_eq!(rows[0].size, size_of(&by_ref["r/a:1"].blobs));
        assert_eq!((rows[1].name.as_str(), rows[1].missing), ("r/b:1", 1));
        assert_eq!(rows[1].size, size_of(&by_ref["r/b:1"].blobs));

        // A removed layer is missing, not an error; the reference is then incomplete.
        assert_eq!(
            store.delete(&shared).await.unwrap(),
            crate::store::Deleted::Removed
        );
        let rows = reference_summaries(&store, &idx, &store.blob_infos().await.unwrap())
            .await
            .unwrap();
        assert_eq!((rows[0].missing, rows[1].missing), (1, 2));
    }
}
