//! `cache rm` and the reference table edits `prune` shares with it: dropping references and
//! the blobs no other reference reaches, or a blob and the entries that point at it. Generic
//! over [`Maintained`], as the plans are.

use std::collections::HashSet;

use super::reach::reachable_by_reference;
use super::{Maintained, reached_now, remove_unless_held};
use crate::digest::Digest;
use crate::store::{StoreError, index};

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

/// Drops the entries of the references `names` (as [`reachable_by_reference`] names them)
/// from the reference table; returns how many entries went.
pub async fn remove_references<S: Maintained>(
    store: &S,
    names: &[String],
) -> Result<usize, StoreError> {
    let names = names.to_vec();
    store
        .update_refs(move |index| {
            // Written only when an entry went: removing nothing leaves the table untouched.
            let n: usize = names.iter().map(|name| index.remove_group(name)).sum();
            (n, n > 0)
        })
        .await
}

/// Removes the first of `names` that the reference table records as a reference: its
/// entries, then the blobs no other reference reaches (unless a writer holds them). `None`
/// when it records none of them. On the local store the caller holds the cache-wide lock
/// exclusively; on a bucket the other references are read again after the entries went,
/// and what they reach then stays.
///
/// `names` are the spellings one argument of `cache rm` may have: as typed, and as a
/// reference normalises it.
pub async fn remove_reference<S: Maintained>(
    store: &S,
    names: &[String],
) -> Result<Option<Removal>, StoreError> {
    let index = store.index().await?;
    let references = reachable_by_reference(store, &index).await?;
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
    // `cache gc` finds, never an entry whose blobs are gone. On the local store the exclusive
    // cache lock keeps any pull from recording a new reference to them meanwhile; elsewhere
    // the references are read once more.
    remove_references(store, std::slice::from_ref(name)).await?;
    let now = reached_now(store, |_| false).await?;
    let mut removal = Removal {
        references: vec![name.clone()],
        ..Removal::default()
    };
    for d in mine.into_iter().filter(|d| !now.contains(d)) {
        if remove_unless_held(store, &d, false).await? {
            removal.removed.push(d);
        } else {
            removal.in_use.push(d);
        }
    }
    Ok(Some(removal))
}

/// Drops the reference table's entries that point at `digest`, then the blob unless a
/// writer holds it. A blob that is not in the cache is in neither `removed` nor `in_use`. On
/// the local store the caller holds the cache-wide lock exclusively.
pub async fn remove_blob_and_entries<S: Maintained>(
    store: &S,
    digest: &Digest,
) -> Result<Removal, StoreError> {
    let d = digest.clone();
    let references = store
        .update_refs(move |index| {
            let removed: Vec<String> = index
                .remove_where(|e| e.digest == d)
                .iter()
                .map(index::group_name)
                .collect();
            let changed = !removed.is_empty();
            (removed, changed)
        })
        .await?;
    let mut removal = Removal {
        references,
        ..Removal::default()
    };
    // Same order as `remove_reference`: entries first, then the blob.
    if store.present(digest).await?.is_some() {
        if remove_unless_held(store, digest, false).await? {
            removal.removed.push(digest.clone());
        } else {
            removal.in_use.push(digest.clone());
        }
    }
    Ok(removal)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::maintain::fixtures::{image, put, record};
    use crate::store::{BlobWriter as _, MemoryStore, Store};

    /// Removing a reference takes its manifest, config and own layer but not the layer it
    /// shares; a blob a writer holds is reported in use; removing a blob twice is a no-op.
    /// The same on disk and in memory: it is one implementation.
    async fn rm_suite<S: Maintained>(store: S) {
        let (a, a_size) = image(&store, b"{\"c\":1}", &[b"shared", b"a-layer"]).await;
        let (b, b_size) = image(&store, b"{\"c\":2}", &[b"shared", b"b-layer"]).await;
        record(&store, "r/a:1", &a, a_size).await;
        record(&store, "r/b:1", &b, b_size).await;
        assert_eq!(
            remove_reference(&store, &["r/c:1".into()]).await.unwrap(),
            None
        );

        let removal = remove_reference(&store, &["nope".into(), "r/a:1".into()])
            .await
            .unwrap()
            .unwrap();
        assert_eq!(removal.references, ["r/a:1"]);
        assert_eq!(removal.removed.len(), 3, "{removal:?}");
        assert!(removal.in_use.is_empty());
        let index = store.refs().await.unwrap().layout().clone();
        let left = reachable_by_reference(&store, &index).await.unwrap();
        assert_eq!(left.keys().collect::<Vec<_>>(), ["r/b:1"]);
        assert!(left.values().all(|r| r.blobs.len() == 4));

        let loose = put(&store, b"loose").await;
        let held = store.writer(&loose, None).await.unwrap();
        let removal = remove_blob_and_entries(&store, &loose).await.unwrap();
        assert_eq!((removal.removed.len(), removal.in_use.len()), (0, 1));
        held.abort().await.unwrap();
        let removal = remove_blob_and_entries(&store, &b).await.unwrap();
        assert_eq!(removal.references, ["r/b:1"]);
        assert_eq!(removal.removed, std::slice::from_ref(&b));
        assert_eq!(
            remove_blob_and_entries(&store, &b).await.unwrap(),
            Removal::default()
        );
    }

    #[tokio::test]
    async fn rm_drops_a_reference_and_only_the_blobs_no_other_one_reaches() {
        let dir = tempfile::tempdir().unwrap();
        rm_suite(Store::open(dir.path()).unwrap()).await;
        rm_suite(MemoryStore::new()).await;
    }

    /// And in a bucket, where reachability reads manifests by ranged GETs.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn rm_on_garage() {
        let Some(node) = crate::store::s3::garage::Garage::start_or_skip().await else {
            return;
        };
        rm_suite(node.store("maintain-rm").await).await;
    }
}
