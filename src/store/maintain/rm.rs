//! `cache rm` and the `index.json` edits `prune` shares with it: dropping references and the
//! blobs no other reference reaches, or a blob and the entries that point at it.

use std::collections::HashSet;

use crate::digest::Digest;
use crate::store::{Store, StoreError, index};

/// What removing one reference or blob did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Removal {
    /// References dropped from `index.json` (unnamed entries by their digest).
    pub references: Vec<String>,
    /// Blobs removed.
    pub removed: Vec<Digest>,
    /// Blobs left because a running fetch holds their lock.
    pub in_use: Vec<Digest>,
}

impl Store {
    /// Drops the entries of the references `names` (as [`Store::reachable_by_reference`]
    /// names them) from `index.json`; returns how many entries went.
    pub fn remove_references(&self, names: &[String]) -> Result<usize, StoreError> {
        self.update_index(|index| {
            // Written only when an entry went: removing nothing leaves the file untouched.
            let n: usize = names.iter().map(|name| index.remove_group(name)).sum();
            (n, n > 0)
        })
    }

    /// Removes the first of `names` that `index.json` records as a reference: its entries,
    /// then the blobs no other reference reaches (unless a fetch holds them). `None` when it
    /// records none of them. The caller holds the cache-wide lock exclusively.
    ///
    /// `names` are the spellings one argument of `cache rm` may have: as typed, and as a
    /// reference normalises it.
    pub fn remove_reference(&self, names: &[String]) -> Result<Option<Removal>, StoreError> {
        let references = self.reachable_by_reference()?;
        let Some(name) = names.iter().find(|n| references.contains_key(*n)) else {
            return Ok(None);
        };
        // What any other reference reaches stays, shared layers above all.
        let others: HashSet<&Digest> = references
            .iter()
            .filter(|(n, _)| *n != name)
            .flat_map(|(_, r)| &r.blobs)
            .collect();
        let mut mine: Vec<Digest> = references
            .get(name)
            .into_iter()
            .flat_map(|r| &r.blobs)
            .filter(|d| !others.contains(d))
            .cloned()
            .collect();
        mine.sort();
        // Entries first, blobs after: a crash in between leaves unreferenced blobs, which
        // `cache gc` finds, never an entry whose blobs are gone. The exclusive cache lock keeps
        // any pull from recording a new reference to them meanwhile.
        self.remove_references(std::slice::from_ref(name))?;
        let mut removal = Removal {
            references: vec![name.clone()],
            ..Removal::default()
        };
        for d in mine {
            if self.remove_blob_unless_locked(&d)? {
                removal.removed.push(d);
            } else {
                removal.in_use.push(d);
            }
        }
        Ok(Some(removal))
    }

    /// Drops the `index.json` entries that point at `digest`, then the blob unless a fetch
    /// holds it. A blob that is not in the cache is in neither `removed` nor `in_use`. The
    /// caller holds the cache-wide lock exclusively.
    pub fn remove_blob_and_entries(&self, digest: &Digest) -> Result<Removal, StoreError> {
        let references = self.update_index(|index| {
            let removed: Vec<String> = index
                .remove_where(|e| e.digest == *digest)
                .iter()
                .map(index::group_name)
                .collect();
            let changed = !removed.is_empty();
            (removed, changed)
        })?;
        let mut removal = Removal {
            references,
            ..Removal::default()
        };
        // Same order as `remove_reference`: entries first, then the blob.
        if self.lookup(digest)?.is_some() {
            if self.remove_blob_unless_locked(digest)? {
                removal.removed.push(digest.clone());
            } else {
                removal.in_use.push(digest.clone());
            }
        }
        Ok(removal)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::maintain::fixtures::{image, put, record};

    /// Removing a reference takes its manifest, config and own layer but not the layer it
    /// shares; a blob a fetch holds is reported in use; removing a blob twice is a no-op.
    #[test]
    fn rm_drops_a_reference_and_only_the_blobs_no_other_one_reaches() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let (a, a_size) = image(&store, b"{\"c\":1}", &[b"shared", b"a-layer"]);
        let (b, b_size) = image(&store, b"{\"c\":2}", &[b"shared", b"b-layer"]);
        record(&store, "r/a:1", &a, a_size);
        record(&store, "r/b:1", &b, b_size);
        assert_eq!(store.remove_reference(&["r/c:1".into()]).unwrap(), None);

        let removal = store
            .remove_reference(&["nope".into(), "r/a:1".into()])
            .unwrap()
            .unwrap();
        assert_eq!(removal.references, ["r/a:1"]);
        assert_eq!(removal.removed.len(), 3, "{removal:?}");
        assert!(removal.in_use.is_empty());
        let left = store.reachable_by_reference().unwrap();
        assert_eq!(left.keys().collect::<Vec<_>>(), ["r/b:1"]);
        assert!(left.values().all(|r| r.blobs.len() == 4));

        let loose = put(&store, b"loose");
        let held = store.lock_blocking(&loose).unwrap();
        let removal = store.remove_blob_and_entries(&loose).unwrap();
        assert_eq!((removal.removed.len(), removal.in_use.len()), (0, 1));
        drop(held);
        let removal = store.remove_blob_and_entries(&b).unwrap();
        assert_eq!(removal.references, ["r/b:1"]);
        assert_eq!(removal.removed, std::slice::from_ref(&b));
        assert_eq!(
            store.remove_blob_and_entries(&b).unwrap(),
            Removal::default()
        );
    }
}
