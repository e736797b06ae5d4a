//! `cache gc`: the plan (what no reference reaches, stale partial downloads, the quarantine)
//! and carrying it out without touching what a running fetch holds.

use std::collections::{BTreeMap, HashSet};
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use super::walk::{BlobInfo, IngestInfo};
use crate::digest::Digest;
use crate::manifest::{Descriptor, MAX_MANIFEST};
use crate::store::{Store, StoreError};

/// What `cache gc` removes and keeps.
#[derive(Debug, Default, Clone)]
pub struct GcPlan {
    /// Unreachable blobs to remove, manifests last: a manifest is what marks its content as
    /// garbage, so it goes only once its content is gone (see [`GcPlan::manifests`]).
    pub blobs: Vec<BlobInfo>,
    /// The unreachable manifests among `blobs`. When a blob they name is kept (a fetch holds
    /// it), they must be kept too, or that blob would look loose next time.
    pub manifests: HashSet<Digest>,
    /// Unreachable blobs kept because no manifest in the cache names them (fetched by digest
    /// alone; `--loose` removes them).
    pub loose_kept: Vec<BlobInfo>,
    /// Stale partial downloads and temporary files.
    pub ingest: Vec<IngestInfo>,
    /// Quarantined blobs.
    pub quarantine: Vec<(PathBuf, u64)>,
}

/// What carrying out a [`GcPlan`] removed (or, dry, would remove) and what it left because a
/// running fetch holds it.
#[derive(Debug, Default, Clone)]
pub struct GcReport {
    /// Blobs removed.
    pub removed: Vec<BlobInfo>,
    /// Ingest entries removed.
    pub removed_ingest: Vec<IngestInfo>,
    /// Quarantined files removed.
    pub removed_quarantine: Vec<PathBuf>,
    /// Blobs of the plan left because their fetch lock is held.
    pub blobs_in_use: Vec<Digest>,
    /// Ingest entries of the plan left because their fetch lock is held.
    pub ingest_in_use: Vec<PathBuf>,
}

impl Store {
    /// Plans `cache gc`: unreachable blobs (all of them with `loose`, else only the content of
    /// manifests that no reference reaches any more), ingest entries untouched for `ingest_age`,
    /// and the quarantine. Fails, planning nothing, when a manifest cannot be read.
    pub fn plan_gc(&self, loose: bool, ingest_age: Duration) -> Result<GcPlan, StoreError> {
        let index = self.read_index()?;
        let reachable = self.reachable(&index.entries())?.present;
        let (blobs, _) = self.blobs()?;
        let unreachable: Vec<BlobInfo> = blobs
            .into_iter()
            .filter(|b| !reachable.contains(&b.digest))
            .collect();
        let mut plan = GcPlan::default();
        if loose {
            plan.blobs = unreachable;
        } else {
            // Manifests no reference reaches (a moved tag, a removed reference) take what they
            // point at with them; a blob no manifest names was fetched by digest alone.
            let mut orphans: Vec<Descriptor> = Vec::new();
            for b in unreachable.iter().filter(|b| b.size <= MAX_MANIFEST as u64) {
                if let Some(m) = self.read_manifest(&b.digest, None)? {
                    orphans.push(Descriptor {
                        media_type: m.media_type().to_owned(),
                        digest: b.digest.clone(),
                        size: b.size,
                        platform: None,
                        annotations: BTreeMap::new(),
                        extra: serde_json::Map::new(),
                    });
                }
            }
            let orphaned = self.reachable(&orphans)?.present;
            plan.manifests = orphans.into_iter().map(|d| d.digest).collect();
            for b in unreachable {
                if orphaned.contains(&b.digest) {
                    plan.blobs.push(b);
                } else {
                    plan.loose_kept.push(b);
                }
            }
        }
        let manifests = &plan.manifests;
        plan.blobs.sort_by_key(|b| manifests.contains(&b.digest));
        let cutoff = SystemTime::now()
            .checked_sub(ingest_age)
            .unwrap_or(SystemTime::UNIX_EPOCH);
        plan.ingest = self
            .ingests()?
            .into_iter()
            .filter(|i| i.modified <= cutoff)
            .collect();
        plan.quarantine = self.quarantined()?;
        Ok(plan)
    }

    /// Carries out a [`GcPlan`] (with `dry_run`, only looks which blobs a fetch holds), never
    /// removing a blob or partial download whose fetch lock is held. The caller holds the
    /// cache-wide lock exclusively.
    pub fn collect_garbage(&self, plan: &GcPlan, dry_run: bool) -> Result<GcReport, StoreError> {
        let mut report = GcReport::default();
        for b in &plan.blobs {
            if plan.manifests.contains(&b.digest) && !report.blobs_in_use.is_empty() {
                // Its content may not all be gone: keep the manifest that says it is garbage,
                // so the next gc finds that content again (rather than taking it for loose
                // blobs).
                continue;
            }
            if self.remove_blob_or_dry_run(&b.digest, dry_run)? {
                report.removed.push(b.clone());
            } else {
                report.blobs_in_use.push(b.digest.clone());
            }
        }
        for i in &plan.ingest {
            if dry_run || self.remove_ingest_unless_locked(i)? {
                report.removed_ingest.push(i.clone());
            } else {
                report.ingest_in_use.push(i.path.clone());
            }
        }
        for (path, _) in &plan.quarantine {
            if !dry_run {
                self.remove_quarantined(path)?;
            }
            report.removed_quarantine.push(path.clone());
        }
        Ok(report)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::digest::{Algorithm, digest_bytes};
    use crate::store::maintain::fixtures::{image, put, record};

    /// Upload sessions of `serve --allow-push` are partial data like any other: gc collects
    /// the stale ones, never one a request is writing to, and leaves fresh ones alone.
    #[tokio::test]
    async fn gc_collects_stale_upload_sessions_but_never_a_live_one() {
        use crate::store::{BlobWriter, ContentStore, UploadId};
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let (idle, live) = (UploadId::random().unwrap(), UploadId::random().unwrap());
        for id in [&idle, &live] {
            let mut w = store
                .upload(id, Some(Algorithm::Sha256))
                .await
                .unwrap()
                .unwrap();
            w.write(bytes::Bytes::from_static(b"part")).await.unwrap();
            w.close().await.unwrap();
        }
        let sessions = |plan: &GcPlan| {
            let mut ids: Vec<_> = plan
                .ingest
                .iter()
                .filter_map(|i| i.upload.clone())
                .collect();
            ids.sort();
            ids.dedup();
            ids
        };
        // Fresh: not stale yet.
        let plan = store.plan_gc(false, Duration::from_secs(3600)).unwrap();
        assert!(sessions(&plan).is_empty());
        // Stale (age 0), one held by a writer: that one stays and resumes intact.
        let held = store.upload(&live, None).await.unwrap().unwrap();
        let plan = store.plan_gc(false, Duration::ZERO).unwrap();
        let mut both = vec![idle.clone(), live.clone()];
        both.sort();
        assert_eq!(sessions(&plan), both);
        let report = store.collect_garbage(&plan, false).unwrap();
        assert!(
            !report.ingest_in_use.is_empty(),
            "the live session is reported in use"
        );
        assert!(
            store.upload(&idle, None).await.unwrap().is_none(),
            "the idle one is gone"
        );
        assert_eq!(held.close().await.unwrap(), 4);
        assert_eq!(
            store.upload(&live, None).await.unwrap().unwrap().offset(),
            4
        );
    }

    #[test]
    fn gc_plans_orphans_loose_blobs_and_stale_ingest() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let (kept, kept_size) = image(&store, b"{\"c\":1}", &[b"shared", b"kept-layer"]);
        let (old, _) = image(&store, b"{\"c\":2}", &[b"shared", b"old-layer"]);
        let loose = put(&store, b"fetched by digest");
        record(&store, "r/app:v1", &kept, kept_size);
        let reach = store
            .reachable(&store.read_index().unwrap().entries())
            .unwrap();
        assert_eq!(reach.present.len(), 4);
        assert!(reach.missing.is_empty());

        let plan = store.plan_gc(false, Duration::from_secs(3600)).unwrap();
        let mut removed: Vec<_> = plan.blobs.iter().map(|b| b.digest.clone()).collect();
        removed.sort();
        let mut want = vec![
            old.clone(),
            digest_bytes(Algorithm::Sha256, b"{\"c\":2}"),
            digest_bytes(Algorithm::Sha256, b"old-layer"),
        ];
        want.sort();
        assert_eq!(removed, want);
        assert_eq!(plan.loose_kept.len(), 1);
        assert_eq!(plan.loose_kept[0].digest, loose);
        assert!(plan.ingest.is_empty());

        let plan = store.plan_gc(true, Duration::ZERO).unwrap();
        assert_eq!(plan.blobs.len(), 4);
        // A lock held by a "fetch" protects the blob.
        let held = store.lock_blocking(&loose).unwrap();
        assert!(!store.remove_blob_unless_locked(&loose).unwrap());
        drop(held);
        assert!(store.remove_blob_unless_locked(&loose).unwrap());
        assert_eq!(store.lookup(&loose).unwrap(), None);

        // A partial download shows up as ingest; a held lock keeps it.
        let d = digest_bytes(Algorithm::Sha256, b"partial");
        let lock = store.lock_blocking(&d).unwrap();
        let mut ingest = store.ingest(&lock, &d).unwrap();
        ingest.save_state().unwrap();
        let plan = store.plan_gc(false, Duration::ZERO).unwrap();
        assert!(plan.ingest.iter().any(|i| i.digest.as_ref() == Some(&d)));
        for item in &plan.ingest {
            assert!(!store.remove_ingest_unless_locked(item).unwrap());
        }
        drop(lock);
        for item in &store.plan_gc(false, Duration::ZERO).unwrap().ingest {
            assert!(store.remove_ingest_unless_locked(item).unwrap());
        }
        assert!(store.ingests().unwrap().is_empty());
    }
}
