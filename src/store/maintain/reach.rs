//! Reachability: which blobs the references in `index.json` reach through the manifests in
//! the cache, which of those are missing, and what each reference holds (`cache ls`, and the
//! plans of `gc`, `prune` and `rm`).
//!
//! A manifest that is there but cannot be read is an error, never "no manifest": what it
//! names would otherwise look unreachable, and `cache gc --loose` would delete it.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::{self, Read};
use std::path::PathBuf;

use super::walk::open_unmarked;
use crate::digest::Digest;
use crate::manifest::{self, Descriptor, MAX_MANIFEST, REF_NAME};
use crate::store::{Store, StoreError, index};

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
    /// Its `index.json` entries' digests (a pull marks them used; a shared base layer, used by
    /// every image on it, would say nothing about this image).
    pub roots: Vec<Digest>,
    /// Every blob it reaches that is in the cache.
    pub blobs: HashSet<Digest>,
}

/// A reference as `cache ls` shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct ReferenceSummary {
    /// Its name in `index.json` (an unnamed entry's digest).
    pub name: String,
    /// The entry carrying the name (for a platform pulled from an index, that platform's
    /// manifest).
    pub entry: Descriptor,
    /// Bytes in the cache it reaches, plus those of the registry documents recorded beside it.
    pub size: u64,
    /// How many blobs it reaches are not in the cache (0: complete).
    pub missing: usize,
}

impl Store {
    /// Reads a cached blob that should be a manifest. `Ok(None)` when it is missing, too
    /// large or not a manifest; an error when it is there but cannot be read. The difference
    /// matters to `cache gc`: taking an unreadable manifest for "no manifest" would make the
    /// blobs it names look unreachable, and `--loose` would delete them.
    pub fn read_manifest(
        &self,
        digest: &Digest,
        media_type: Option<&str>,
    ) -> Result<Option<manifest::Manifest>, StoreError> {
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
        if bytes.trim_ascii_start().first() != Some(&b'{') {
            return Ok(None);
        }
        let hint = media_type.filter(|m| manifest::kind_of(m).is_some());
        Ok(manifest::parse(&bytes, hint).ok())
    }

    /// Everything reachable from `roots` through the manifests in the cache: the digests that
    /// are present and those that are missing. A blob that is there but cannot be inspected,
    /// or a manifest that cannot be read, is an error rather than "missing" or "no children":
    /// what it reaches would otherwise look unreachable to `cache gc`.
    pub fn reachable(&self, roots: &[Descriptor]) -> Result<Reachable, StoreError> {
        let mut reach = Reachable::default();
        let mut queue: Vec<(Digest, String)> = roots
            .iter()
            .map(|d| (d.digest.clone(), d.media_type.clone()))
            .collect();
        while let Some((digest, media_type)) = queue.pop() {
            if reach.present.contains(&digest) || reach.missing.contains(&digest) {
                continue;
            }
            if self.lookup(&digest)?.is_none() {
                reach.missing.insert(digest);
                continue;
            }
            let is_manifest = manifest::kind_of(&media_type).is_some() || media_type.is_empty();
            if is_manifest && let Some(m) = self.read_manifest(&digest, Some(&media_type))? {
                for child in m.children() {
                    queue.push((child.digest.clone(), child.media_type.clone()));
                }
            }
            reach.present.insert(digest);
        }
        Ok(reach)
    }

    /// The references in `index.json` (grouped by name; unnamed entries under their digest)
    /// and the blobs each reaches.
    pub fn reachable_by_reference(&self) -> Result<BTreeMap<String, ReferenceBlobs>, StoreError> {
        let mut groups: BTreeMap<String, Vec<Descriptor>> = BTreeMap::new();
        for d in self.read_index()?.entries() {
            groups.entry(index::group_name(&d)).or_default().push(d);
        }
        groups
            .into_iter()
            .map(|(name, roots)| {
                let blobs = self.reachable(&roots)?.present;
                let roots = roots.into_iter().map(|d| d.digest).collect();
                Ok((name, ReferenceBlobs { roots, blobs }))
            })
            .collect()
    }

    /// Every reference in `index.json`, by name: its entry, its size in the cache and how many
    /// of its blobs are missing.
    pub fn reference_summaries(&self) -> Result<Vec<ReferenceSummary>, StoreError> {
        let index = self.read_index()?;
        let (blobs, _) = self.blobs()?;
        let sizes: HashMap<&Digest, u64> = blobs.iter().map(|b| (&b.digest, b.size)).collect();
        let summary = |name: String, entry: Descriptor| -> Result<ReferenceSummary, StoreError> {
            let reach = self.reachable(std::slice::from_ref(&entry))?;
            Ok(ReferenceSummary {
                name,
                entry,
                size: reach.present.iter().filter_map(|x| sizes.get(x)).sum(),
                missing: reach.missing.len(),
            })
        };
        let mut rows: BTreeMap<String, ReferenceSummary> = BTreeMap::new();
        let mut extra: HashMap<String, Vec<Digest>> = HashMap::new();
        for d in index.entries() {
            let named = d.annotations.get(REF_NAME).cloned();
            let Some(name) = named
                .clone()
                .or_else(|| index::owner(&d).map(str::to_owned))
            else {
                let name = d.digest.to_string();
                rows.insert(name.clone(), summary(name, d)?);
                continue;
            };
            if named.is_some() {
                // Completeness and size follow the named entry; an index recorded beside a
                // chosen platform adds only its own bytes (its other platforms were never
                // pulled).
                rows.insert(name.clone(), summary(name, d)?);
            } else {
                extra.entry(name).or_default().push(d.digest);
            }
        }
        for (name, digests) in extra {
            if let Some(r) = rows.get_mut(&name) {
                r.size += digests.iter().filter_map(|d| sizes.get(d)).sum::<u64>();
            }
        }
        Ok(rows.into_values().collect())
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
    use crate::store::maintain::fixtures::{image, record};

    #[test]
    fn an_unreadable_manifest_stops_gc_rather_than_freeing_what_it_names() {
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
            let (m, size) = image(&store, b"{\"c\":1}", &[b"layer"]);
            record(&store, "r/app:v1", &m, size);
            let path = store.blob_path(&m);
            fs::remove_file(&path).unwrap();
            break_it(&path);
            assert!(store.read_manifest(&m, None).is_err(), "{what}");
            assert!(store.reachable_by_reference().is_err(), "{what}");
            assert!(store.reference_summaries().is_err(), "{what}");
            for loose in [false, true] {
                let plan = store.plan_gc(loose, Duration::ZERO);
                assert!(plan.is_err(), "{what}, loose {loose}: {plan:?}");
            }
        }

        // Missing is not unreadable: the layers of a manifest that is gone are unreachable.
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let (m, size) = image(&store, b"{\"c\":1}", &[b"layer"]);
        record(&store, "r/app:v1", &m, size);
        fs::remove_file(store.blob_path(&m)).unwrap();
        assert!(store.read_manifest(&m, None).unwrap().is_none());
        assert_eq!(store.plan_gc(true, Duration::ZERO).unwrap().blobs.len(), 2);
    }
}
