//! `cache prune`: evicting least recently used references and blobs until `blobs/` fits a
//! size, keeping every reference left behind complete. One plan and one removal for every
//! backend; the last use is what the store's listing says ([`Maintained::blob_infos`]: the
//! later of access and modification time on disk, the object's last modification in a
//! bucket).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::SystemTime;

use super::reach::{self, ReferenceBlobs};
use super::walk::BlobInfo;
use super::{Maintained, reached_now, remove_unless_held, rm};
use crate::digest::Digest;
use crate::store::{StoreError, index};

/// One thing `cache prune` can evict: a reference (its `index.json` entries and the blobs only
/// it uses) or a blob no reference reaches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PruneUnit {
    /// A reference, by its name in `index.json`.
    Reference(String),
    /// An unreachable blob.
    Blob(Digest),
}

/// What `cache prune` evicts, oldest first.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct PrunePlan {
    /// References to drop from `index.json`, oldest first.
    pub references: Vec<String>,
    /// Blobs to remove.
    pub blobs: Vec<BlobInfo>,
    /// Bytes in `blobs/` before.
    pub before: u64,
    /// Bytes in `blobs/` after, if every removal succeeds.
    pub after: u64,
}

/// What carrying out a [`PrunePlan`] freed (or, dry, would free).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct PruneReport {
    /// Bytes of the blobs removed.
    pub freed: u64,
    /// Blobs of the plan left because a running fetch holds their lock.
    pub in_use: Vec<Digest>,
    /// Blobs of the plan left because a reference recorded since the plan reaches them.
    pub referenced: Vec<Digest>,
}

/// Plans eviction until `blobs/` holds at most `max_size` bytes. Units go least recently used
/// first (a reference was last used when its entries' manifests were); a blob shared by
/// several references goes only with the last of them, so every reference left behind is
/// complete.
pub fn plan_eviction(
    blobs: &[BlobInfo],
    references: &BTreeMap<String, ReferenceBlobs>,
    max_size: u64,
) -> PrunePlan {
    let by_digest: HashMap<&Digest, &BlobInfo> = blobs.iter().map(|b| (&b.digest, b)).collect();
    let mut users: HashMap<&Digest, usize> = HashMap::new();
    for r in references.values() {
        for d in &r.blobs {
            *users.entry(d).or_default() += 1;
        }
    }
    let mut units: Vec<(SystemTime, PruneUnit)> = Vec::new();
    for (name, r) in references {
        let last = |set: &mut dyn Iterator<Item = &Digest>| {
            set.filter_map(|d| by_digest.get(d).map(|b| b.last_use))
                .max()
        };
        let used = last(&mut r.roots.iter())
            .or_else(|| last(&mut r.blobs.iter()))
            .unwrap_or(SystemTime::UNIX_EPOCH);
        units.push((used, PruneUnit::Reference(name.clone())));
    }
    for b in blobs {
        if !users.contains_key(&b.digest) {
            units.push((b.last_use, PruneUnit::Blob(b.digest.clone())));
        }
    }
    // Oldest first; on a tie, loose blobs before references, then by name, for a stable order.
    units.sort_by(|a, b| {
        let rank = |u: &PruneUnit| match u {
            PruneUnit::Blob(d) => (0, d.to_string()),
            PruneUnit::Reference(n) => (1, n.clone()),
        };
        a.0.cmp(&b.0).then_with(|| rank(&a.1).cmp(&rank(&b.1)))
    });
    let before: u64 = blobs.iter().map(|b| b.size).sum();
    let mut plan = PrunePlan {
        before,
        after: before,
        ..PrunePlan::default()
    };
    for (_, unit) in units {
        if plan.after <= max_size {
            break;
        }
        let remove = |d: &Digest, plan: &mut PrunePlan| {
            if let Some(b) = by_digest.get(d) {
                plan.after -= b.size;
                plan.blobs.push((*b).clone());
            }
        };
        match unit {
            PruneUnit::Blob(d) => remove(&d, &mut plan),
            PruneUnit::Reference(name) => {
                let mut mine: Vec<&Digest> = references
                    .get(&name)
                    .into_iter()
                    .flat_map(|r| &r.blobs)
                    .collect();
                mine.sort();
                for d in mine {
                    let left = users.get_mut(d).map_or(0, |n| {
                        *n = n.saturating_sub(1);
                        *n
                    });
                    if left == 0 {
                        remove(d, &mut plan);
                    }
                }
                plan.references.push(name);
            }
        }
    }
    plan
}

/// Plans `cache prune` on any store down to `max_size` bytes of blobs (see
/// [`plan_eviction`]): its listing's last uses, and what each reference reaches.
pub async fn plan_prune<S: Maintained>(store: &S, max_size: u64) -> Result<PrunePlan, StoreError> {
    let blobs = store.blob_infos().await?;
    let index = store.index().await?;
    let references = reach::reachable_by_reference(store, &index).await?;
    Ok(plan_eviction(&blobs, &references, max_size))
}

/// Carries out a [`PrunePlan`] on any store (with `dry_run`, only looks which blobs a writer
/// holds). References go first: interrupted, the cache has fewer references, never a broken
/// one. Then the references are read once more, and a blob that one of them reaches now (one
/// recorded since the plan, by a pull where no cache-wide lock keeps pulls away) is kept;
/// a blob a writer holds is kept too ([`PruneReport::in_use`]).
pub async fn prune<S: Maintained>(
    store: &S,
    plan: &PrunePlan,
    dry_run: bool,
) -> Result<PruneReport, StoreError> {
    if !dry_run {
        rm::remove_references(store, &plan.references).await?;
    }
    let mut report = PruneReport::default();
    if plan.blobs.is_empty() {
        return Ok(report);
    }
    // A dry run removed no reference: what the plan evicts is left out of the check.
    let evicted: HashSet<&String> = plan.references.iter().collect();
    let now = reached_now(store, |d| {
        dry_run && evicted.contains(&index::group_name(d))
    })
    .await?;
    for b in &plan.blobs {
        if now.contains(&b.digest) {
            report.referenced.push(b.digest.clone());
            continue;
        }
        if remove_unless_held(store, &b.digest, dry_run).await? {
            report.freed += b.size;
        } else {
            report.in_use.push(b.digest.clone());
        }
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::digest::{Algorithm, digest_bytes};
    use crate::store::maintain::fixtures::{blob, image, record};
    use crate::store::{BlobWriter as _, ContentStore as _, MemoryStore};

    /// The generic prune on the memory store: the reference evicted first takes only its own
    /// blobs; a dry run reports the same and removes nothing; a blob a writer holds stays.
    #[tokio::test]
    async fn generic_prune_evicts_references_and_keeps_shared_and_held_blobs() {
        let store = MemoryStore::new();
        let (a, a_size) = image(&store, b"{\"c\":1}", &[b"shared", b"a-layer"]).await;
        let (b, b_size) = image(&store, b"{\"c\":2}", &[b"shared", b"b-layer"]).await;
        record(&store, "r/a:1", &a, a_size).await;
        record(&store, "r/b:1", &b, b_size).await;
        let total: u64 = store.blobs().await.unwrap().iter().map(|b| b.size).sum();
        // All blobs are equally old here: references go in name order, so r/a:1 first.
        let plan = plan_prune(&store, total - 1).await.unwrap();
        assert_eq!(plan.references, ["r/a:1"]);
        assert_eq!(plan.blobs.len(), 3, "{plan:?}");
        let dry = prune(&store, &plan, true).await.unwrap();
        assert_eq!(store.blobs().await.unwrap().len(), 7);
        assert_eq!(store.refs().await.unwrap().layout().len(), 2);
        let held = digest_bytes(Algorithm::Sha256, b"a-layer");
        let writer = store.writer(&held, None).await.unwrap();
        let done = prune(&store, &plan, false).await.unwrap();
        assert_eq!(done.in_use, std::slice::from_ref(&held));
        assert_eq!(
            dry.freed,
            done.freed + 7,
            "the dry run did not see the writer"
        );
        writer.abort().await.unwrap();
        assert_eq!(store.blobs().await.unwrap().len(), 5);
        assert!(
            store
                .stat(&digest_bytes(Algorithm::Sha256, b"shared"))
                .await
                .unwrap()
                .is_some()
        );
        assert_eq!(store.refs().await.unwrap().layout().len(), 1);
    }

    #[test]
    fn prune_evicts_oldest_units_and_keeps_shared_blobs() {
        // Two images sharing a base layer, plus one loose blob.
        let (base, a, b, loose) = (
            blob("base", 100, 50),
            blob("a", 10, 30),
            blob("b", 10, 10),
            blob("loose", 5, 40),
        );
        let blobs = vec![base.clone(), a.clone(), b.clone(), loose.clone()];
        let refs: BTreeMap<String, ReferenceBlobs> = [
            (
                "r/a:1".to_owned(),
                ReferenceBlobs {
                    roots: vec![a.digest.clone()],
                    blobs: [base.digest.clone(), a.digest.clone()].into(),
                },
            ),
            (
                "r/b:1".to_owned(),
                ReferenceBlobs {
                    roots: vec![b.digest.clone()],
                    blobs: [base.digest.clone(), b.digest.clone()].into(),
                },
            ),
        ]
        .into();
        let cases: &[(u64, &[&str], &[&BlobInfo])] = &[
            (1000, &[], &[]),
            (125, &[], &[]),
            (124, &[], &[&loose]),
            // Evicting r/a frees only its own layer: the base is still r/b's.
            (115, &["r/a:1"], &[&loose, &a]),
            (0, &["r/a:1", "r/b:1"], &[&loose, &a, &base, &b]),
        ];
        for (max, want_refs, want_blobs) in cases {
            let plan = plan_eviction(&blobs, &refs, *max);
            assert_eq!(plan.references, *want_refs, "max {max}");
            let mut got: Vec<_> = plan.blobs.iter().map(|b| b.digest.clone()).collect();
            let mut want: Vec<_> = want_blobs.iter().map(|b| b.digest.clone()).collect();
            got.sort();
            want.sort();
            assert_eq!(got, want, "max {max}");
            assert_eq!(plan.before, 125);
            assert_eq!(
                plan.after,
                125 - want_blobs.iter().map(|b| b.size).sum::<u64>()
            );
        }
    }
}
