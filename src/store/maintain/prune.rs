//! `cache prune`: evicting least recently used references and blobs until `blobs/` fits a
//! size, keeping every reference left behind complete.

use std::collections::{BTreeMap, HashMap};
use std::time::SystemTime;

use super::reach::ReferenceBlobs;
use super::walk::BlobInfo;
use crate::digest::Digest;
use crate::store::{Store, StoreError};

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

impl Store {
    /// Plans `cache prune` down to `max_size` bytes in `blobs/` (see [`plan_eviction`]).
    pub fn plan_prune(&self, max_size: u64) -> Result<PrunePlan, StoreError> {
        let (blobs, _) = self.blobs()?;
        let references = self.reachable_by_reference()?;
        Ok(plan_eviction(&blobs, &references, max_size))
    }

    /// Carries out a [`PrunePlan`] (with `dry_run`, only looks which blobs a fetch holds).
    /// References go first: interrupted, the cache has fewer references, never a broken one.
    /// The caller holds the cache-wide lock exclusively.
    pub fn prune(&self, plan: &PrunePlan, dry_run: bool) -> Result<PruneReport, StoreError> {
        if !dry_run {
            self.remove_references(&plan.references)?;
        }
        let mut report = PruneReport::default();
        for b in &plan.blobs {
            if self.remove_blob_or_dry_run(&b.digest, dry_run)? {
                report.freed += b.size;
            } else {
                report.in_use.push(b.digest.clone());
            }
        }
        Ok(report)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::maintain::fixtures::blob;

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
