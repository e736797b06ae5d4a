//! `cache gc`: the plan (what no reference reaches, stale partial downloads, the quarantine)
//! and carrying it out without touching what a running fetch holds. The blobs' part is one
//! generic plan and one generic removal ([`plan_blob_gc`], [`collect_blobs`]) that every
//! backend uses; the partials and the quarantine are each backend's own (their layouts
//! differ), the local store's here and the bucket's in `s3/maintain.rs`.

use std::collections::{BTreeMap, HashSet};
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use super::walk::{BlobInfo, IngestInfo};
use super::{Maintained, off_runtime, reach, reached_now, remove_unless_held};
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
    /// Unreachable blobs kept because they are younger than the grace period (on a bucket,
    /// where no lock keeps a pull away: it may have stored them and not yet recorded the
    /// reference that reaches them).
    pub recent: Vec<BlobInfo>,
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
    /// Blobs of the plan left because a reference recorded since the plan reaches them.
    pub referenced: Vec<Digest>,
    /// Ingest entries of the plan left because their fetch lock is held.
    pub ingest_in_use: Vec<PathBuf>,
}

/// Plans the blobs' part of `cache gc` on any store: unreachable blobs (all of them with
/// `loose`, else only the content of manifests that no reference reaches any more), less
/// those changed within `grace` (none with a zero grace). Fails, planning nothing, when a
/// manifest cannot be read.
pub(crate) async fn plan_blob_gc<S: Maintained>(
    store: &S,
    loose: bool,
    grace: Duration,
) -> Result<GcPlan, StoreError> {
    let index = store.index().await?.entries();
    let reachable = reach::reachable(store, &index).await?.present;
    let blobs = store.blob_infos().await?;
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
            if let Some(m) = reach::read_manifest(store, &b.digest, None).await? {
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
        let orphaned = reach::reachable(store, &orphans).await?.present;
        plan.manifests = orphans.into_iter().map(|d| d.digest).collect();
        for b in unreachable {
            if orphaned.contains(&b.digest) {
                plan.blobs.push(b);
            } else {
                plan.loose_kept.push(b);
            }
        }
    }
    if !grace.is_zero() {
        let cutoff = SystemTime::now()
            .checked_sub(grace)
            .unwrap_or(SystemTime::UNIX_EPOCH);
        let (old, young): (Vec<BlobInfo>, Vec<BlobInfo>) =
            plan.blobs.drain(..).partition(|b| b.last_use <= cutoff);
        plan.blobs = old;
        plan.recent = young;
        // A kept blob's manifest stays with it, as for a blob a fetch holds: it is what says
        // that blob is garbage the next time.
        if !plan.recent.is_empty() {
            let manifests = &plan.manifests;
            let (kept, rest): (Vec<BlobInfo>, Vec<BlobInfo>) = plan
                .blobs
                .drain(..)
                .partition(|b| manifests.contains(&b.digest));
            plan.blobs = rest;
            plan.recent.extend(kept);
        }
    }
    let manifests = &plan.manifests;
    plan.blobs.sort_by_key(|b| manifests.contains(&b.digest));
    Ok(plan)
}

/// Removes the blobs of a [`GcPlan`] from any store (with `dry_run`, only looks which a
/// writer holds), manifests last. The references are read once more first, and what they
/// reach now is kept ([`GcReport::referenced`]): where no cache-wide lock keeps pulls away (a
/// bucket), one may have recorded a reference since the plan. A blob a writer holds is kept,
/// and then so are the plan's manifests, so that the next gc finds that blob again rather
/// than taking it for a loose one.
pub(crate) async fn collect_blobs<S: Maintained>(
    store: &S,
    plan: &GcPlan,
    dry_run: bool,
    report: &mut GcReport,
) -> Result<(), StoreError> {
    if plan.blobs.is_empty() {
        return Ok(());
    }
    let now = reached_now(store, |_| false).await?;
    for b in &plan.blobs {
        let kept_some = !report.blobs_in_use.is_empty() || !report.referenced.is_empty();
        if plan.manifests.contains(&b.digest) && kept_some {
            continue;
        }
        if now.contains(&b.digest) {
            report.referenced.push(b.digest.clone());
            continue;
        }
        if remove_unless_held(store, &b.digest, dry_run).await? {
            report.removed.push(b.clone());
        } else {
            report.blobs_in_use.push(b.digest.clone());
        }
    }
    Ok(())
}

impl Store {
    /// Plans `cache gc`: the unreachable blobs (`plan_blob_gc`; no grace period, as the
    /// caller holds the cache-wide lock exclusively), ingest entries untouched for
    /// `ingest_age`, and the quarantine. Fails, planning nothing, when a manifest cannot be
    /// read.
    pub async fn plan_gc(&self, loose: bool, ingest_age: Duration) -> Result<GcPlan, StoreError> {
        let mut plan = plan_blob_gc(self, loose, Duration::ZERO).await?;
        let store = self.clone();
        let (ingest, quarantine) = off_runtime(move || {
            let cutoff = SystemTime::now()
                .checked_sub(ingest_age)
                .unwrap_or(SystemTime::UNIX_EPOCH);
            let ingest: Vec<IngestInfo> = store
                .ingests()?
                .into_iter()
                .filter(|i| i.modified <= cutoff)
                .collect();
            Ok((ingest, store.quarantined()?))
        })
        .await?;
        plan.ingest = ingest;
        plan.quarantine = quarantine;
        Ok(plan)
    }

    /// Carries out a [`GcPlan`] (with `dry_run`, only looks which blobs a fetch holds), never
    /// removing a blob or partial download whose fetch lock is held. The caller holds the
    /// cache-wide lock exclusively.
    pub async fn collect_garbage(
        &self,
        plan: &GcPlan,
        dry_run: bool,
    ) -> Result<GcReport, StoreError> {
        let mut report = GcReport::default();
        collect_blobs(self, plan, dry_run, &mut report).await?;
        let (store, ingest, quarantine) =
            (self.clone(), plan.ingest.clone(), plan.quarantine.clone());
        let (removed, in_use, removed_quarantine) = off_runtime(move || {
            let (mut removed, mut in_use, mut gone) = (Vec::new(), Vec::new(), Vec::new());
            for i in ingest {
                if dry_run || store.remove_ingest_unless_locked(&i)? {
                    removed.push(i);
                } else {
                    in_use.push(i.path);
                }
            }
            for (path, _) in quarantine {
                if !dry_run {
                    store.remove_quarantined(&path)?;
                }
                gone.push(path);
            }
            Ok((removed, in_use, gone))
        })
        .await?;
        report.removed_ingest = removed;
        report.ingest_in_use = in_use;
        report.removed_quarantine = removed_quarantine;
        Ok(report)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::digest::{Algorithm, digest_bytes};
    use crate::store::maintain::fixtures::{image, index, put, record};
    use crate::store::{BlobWriter as _, MemoryStore};

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
        let plan = store
            .plan_gc(false, Duration::from_secs(3600))
            .await
            .unwrap();
        assert!(sessions(&plan).is_empty());
        // Stale (age 0), one held by a writer: that one stays and resumes intact.
        let held = store.upload(&live, None).await.unwrap().unwrap();
        let plan = store.plan_gc(false, Duration::ZERO).await.unwrap();
        let mut both = vec![idle.clone(), live.clone()];
        both.sort();
        assert_eq!(sessions(&plan), both);
        let report = store.collect_garbage(&plan, false).await.unwrap();
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

    #[tokio::test]
    async fn gc_plans_orphans_loose_blobs_and_stale_ingest() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let (kept, kept_size) = image(&store, b"{\"c\":1}", &[b"shared", b"kept-layer"]).await;
        let (old, _) = image(&store, b"{\"c\":2}", &[b"shared", b"old-layer"]).await;
        let loose = put(&store, b"fetched by digest").await;
        record(&store, "r/app:v1", &kept, kept_size).await;
        let reach = reach::reachable(&store, &index(&store).await.entries())
            .await
            .unwrap();
        assert_eq!(reach.present.len(), 4);
        assert!(reach.missing.is_empty());

        let plan = store
            .plan_gc(false, Duration::from_secs(3600))
            .await
            .unwrap();
        let mut removed: Vec<_> = plan.blobs.iter().map(|b| b.digest.clone()).collect();
        removed.sort();
        let mut want = vec![
            old.clone(),
            digest_bytes(Algorithm::Sha256, b"{\"c\":2}"),
            digest_bytes(Algorithm::Sha256, b"old-layer"),
        ];
        want.sort();
        assert_eq!(removed, want);
        assert_eq!(
            plan.blobs.last().map(|b| &b.digest),
            Some(&old),
            "manifest last"
        );
        assert_eq!(plan.loose_kept.len(), 1);
        assert_eq!(plan.loose_kept[0].digest, loose);
        assert!(plan.ingest.is_empty() && plan.recent.is_empty());

        let plan = store.plan_gc(true, Duration::ZERO).await.unwrap();
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
        let plan = store.plan_gc(false, Duration::ZERO).await.unwrap();
        assert!(plan.ingest.iter().any(|i| i.digest.as_ref() == Some(&d)));
        for item in &plan.ingest {
            assert!(!store.remove_ingest_unless_locked(item).unwrap());
        }
        drop(lock);
        for item in &store.plan_gc(false, Duration::ZERO).await.unwrap().ingest {
            assert!(store.remove_ingest_unless_locked(item).unwrap());
        }
        assert!(store.ingests().unwrap().is_empty());
    }

    /// The generic blob collection, on any store: a held blob is kept, and with it the
    /// manifest that marks it as garbage; a dry run removes nothing but reports the same; a
    /// reference recorded between the plan and the removal keeps what it reaches; a grace
    /// period keeps young blobs (and their manifests).
    async fn gc_suite<S: Maintained>(store: S) {
        let (kept, kept_size) = image(&store, b"{\"c\":1}", &[b"shared", b"kept-layer"]).await;
        let (old, old_size) = image(&store, b"{\"c\":2}", &[b"shared", b"old-layer"]).await;
        record(&store, "r/app:v1", &kept, kept_size).await;
        let old_layer = digest_bytes(Algorithm::Sha256, b"old-layer");
        let old_config = digest_bytes(Algorithm::Sha256, b"{\"c\":2}");

        let plan = plan_blob_gc(&store, false, Duration::ZERO).await.unwrap();
        assert_eq!(plan.blobs.len(), 3);
        assert_eq!(plan.manifests, [old.clone()].into());
        // A writer holds the old layer: it and the old manifest stay, the config goes.
        let writer = store.writer(&old_layer, None).await.unwrap();
        let mut dry = GcReport::default();
        collect_blobs(&store, &plan, true, &mut dry).await.unwrap();
        assert_eq!(
            store.blobs().await.unwrap().len(),
            7,
            "a dry run removes nothing"
        );
        let mut report = GcReport::default();
        collect_blobs(&store, &plan, false, &mut report)
            .await
            .unwrap();
        let removed: Vec<_> = report.removed.iter().map(|b| b.digest.clone()).collect();
        assert_eq!(removed, std::slice::from_ref(&old_config));
        assert_eq!(report.blobs_in_use, std::slice::from_ref(&old_layer));
        let dry_removed: Vec<_> = dry.removed.iter().map(|b| b.digest.clone()).collect();
        assert_eq!(
            (dry_removed, dry.blobs_in_use),
            (removed, report.blobs_in_use)
        );
        assert!(store.stat(&old).await.unwrap().is_some());
        writer.abort().await.unwrap();

        // The next plan finds the layer again; a reference to the old image recorded after
        // the plan (a pull beside gc) keeps everything it reaches.
        let plan = plan_blob_gc(&store, false, Duration::ZERO).await.unwrap();
        assert_eq!(plan.blobs.len(), 2);
        record(&store, "r/app:old", &old, old_size).await;
        let mut report = GcReport::default();
        collect_blobs(&store, &plan, false, &mut report)
            .await
            .unwrap();
        assert!(report.removed.is_empty(), "{report:?}");
        assert_eq!(report.referenced, std::slice::from_ref(&old_layer));
        assert!(store.stat(&old_layer).await.unwrap().is_some());

        // Loose: everything no reference reaches, manifests included.
        let loose = put(&store, b"fetched by digest").await;
        let plan = plan_blob_gc(&store, true, Duration::ZERO).await.unwrap();
        assert_eq!(
            plan.blobs.iter().map(|b| &b.digest).collect::<Vec<_>>(),
            [&loose]
        );
    }

    #[tokio::test]
    async fn generic_gc_keeps_held_blobs_their_manifest_and_what_a_new_reference_reaches() {
        gc_suite(MemoryStore::new()).await;
        let dir = tempfile::tempdir().unwrap();
        gc_suite(Store::open(dir.path()).unwrap()).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn generic_gc_on_garage() {
        let Some(node) = crate::store::s3::garage::Garage::start_or_skip().await else {
            return;
        };
        gc_suite(node.store("maintain-gc").await).await;
    }

    /// With a grace period, blobs changed within it stay (and the unreachable manifests with
    /// them); without one they go.
    #[tokio::test]
    async fn a_grace_period_keeps_young_blobs_and_their_manifests() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let (old, _) = image(&store, b"{\"c\":2}", &[b"old-layer"]).await;
        let plan = plan_blob_gc(&store, false, Duration::from_secs(3600))
            .await
            .unwrap();
        assert!(plan.blobs.is_empty(), "{plan:?}");
        assert_eq!(plan.recent.len(), 3);
        assert!(plan.recent.iter().any(|b| b.digest == old));
        let plan = plan_blob_gc(&store, false, Duration::ZERO).await.unwrap();
        assert_eq!((plan.blobs.len(), plan.recent.len()), (3, 0));
    }
}
