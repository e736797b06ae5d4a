//! Looking after an S3 cache (every `cache` subcommand): the listings and checks the local
//! store's `maintain/walk.rs` makes of its directories, made of the bucket's keys, and the
//! bucket's side of [`Maintained`], so that reachability and the plans of `gc`, `prune` and
//! `rm` (`maintain/`) run here as they run on disk. What the commands print is the same code
//! for both (`commands/cache.rs`).
//!
//! There is no cache-wide lock on a bucket: a pull on another machine may run beside any of
//! these. What keeps its blobs: `gc` removes only unreachable blobs whose object is older
//! than its grace period (`--ingest-age`), and every removal reads the references once more
//! just before deleting and keeps what they reach then.

use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use futures_util::{StreamExt as _, TryStreamExt as _};
use object_store::ObjectStore as _;

use super::writer::{self, Name, State};
use super::{S3Store, blob_digest};
use crate::digest::Digest;
use crate::store::maintain::{collect_blobs, plan_blob_gc};
use crate::store::{
    Blob, BlobInfo, Check, ContentStore as _, GcPlan, GcReport, IngestInfo, Maintained, StoreError,
    Usage,
};

impl Maintained for S3Store {
    /// Every blob with its size and last change (objects have no access time: the time it
    /// was written is its last use), sorted by digest.
    async fn blob_infos(&self) -> Result<Vec<BlobInfo>, StoreError> {
        let prefix = self.key("blobs");
        let metas: Vec<object_store::ObjectMeta> = self
            .inner
            .s3
            .list(Some(&prefix))
            .try_collect()
            .await
            .map_err(self.remote("list", &prefix))?;
        let mut out: Vec<BlobInfo> = metas
            .into_iter()
            .filter_map(|meta| {
                let digest = blob_digest(self.rel(&meta.location)?, "blobs")?;
                Some(BlobInfo {
                    digest,
                    size: meta.size,
                    last_use: meta.last_modified.into(),
                })
            })
            .collect();
        out.sort_by(|a, b| a.digest.cmp(&b.digest));
        Ok(out)
    }

    async fn is_held(&self, digest: &Digest) -> Result<bool, StoreError> {
        // Writers of this process only: another machine's writer publishes nothing under the
        // blob's key before its commit, so there is nothing of it to delete.
        Ok(self
            .locked()
            .contains(&Name::Digest(digest.clone()).lock_name()))
    }
}

impl S3Store {
    /// Where a blob is, as people name it: `s3://bucket/prefix/blobs/<alg>/<hex>`.
    pub fn blob_url(&self, digest: &Digest) -> PathBuf {
        self.display(&self.blob_key(digest)).into()
    }

    /// Bytes by area, as `cache du` reports them.
    pub async fn usage(&self) -> Result<Usage, StoreError> {
        let blobs = self.list("blobs").await?;
        let mut ingest = self.list("ingest").await?;
        ingest.extend(self.list("uploads").await?);
        let quarantine = self.list("quarantine").await?;
        let sum = |v: &[(object_store::path::Path, u64)]| v.iter().map(|(_, s)| s).sum();
        Ok(Usage {
            blob_bytes: sum(&blobs),
            blobs: blobs.len(),
            ingest_bytes: sum(&ingest),
            partials: ingest
                .iter()
                .filter(|(p, _)| p.as_ref().ends_with("/state.json"))
                .count(),
            quarantine_bytes: sum(&quarantine),
            quarantined: quarantine.len(),
        })
    }

    /// Re-hashes a blob (read by ranged GETs) and moves it to `quarantine/` if it does not
    /// match, holding the digest's lock for the move (and hashing once more there, as a writer
    /// may have put good bytes in its place meanwhile). Returns its size (0 when missing),
    /// the check and, for a bad blob, where it went.
    pub async fn verify_and_quarantine(
        &self,
        digest: &Digest,
    ) -> Result<(u64, Check, Option<PathBuf>), StoreError> {
        let (size, first) = self.check_blob(digest).await?;
        if !matches!(first, Check::Mismatch(_)) {
            return Ok((size, first, None));
        }
        let _held = self.hold(Name::Digest(digest.clone()).lock_name()).await;
        let (size, check) = self.check_blob(digest).await?;
        if !matches!(check, Check::Mismatch(_)) {
            return Ok((size, check, None));
        }
        self.quarantine(digest).await?;
        let aside = self.key(&format!(
            "quarantine/{}/{}",
            digest.algorithm(),
            digest.hex()
        ));
        Ok((size, check, Some(self.display(&aside).into())))
    }

    async fn check_blob(&self, digest: &Digest) -> Result<(u64, Check), StoreError> {
        let Some(blob) = self.open(digest).await? else {
            return Ok((0, Check::Missing));
        };
        let size = blob.size();
        let actual = hash(blob, digest).await.map_err(|source| StoreError::Io {
            action: "read",
            path: self.blob_url(digest),
            source,
        })?;
        Ok((
            size,
            if actual == *digest {
                Check::Good
            } else {
                Check::Mismatch(actual)
            },
        ))
    }
}

/// What a blob's bytes hash to with `digest`'s algorithm, streamed.
async fn hash(blob: Blob, digest: &Digest) -> std::io::Result<Digest> {
    let size = blob.size();
    let mut verifier = digest.algorithm().verifier();
    let mut stream = std::pin::pin!(blob.stream(0..size)?);
    while let Some(chunk) = stream.next().await {
        verifier.update(&chunk?);
    }
    Ok(verifier.finish())
}

impl S3Store {
    /// Plans `cache gc` on the bucket: unreachable blobs as on disk (`maintain/gc.rs`), but
    /// only those whose object is older than `ingest_age` (no lock keeps a pull away: it may
    /// have stored blobs and not yet recorded the reference that reaches them); partial blobs
    /// and upload sessions whose state was last saved more than `ingest_age` ago (their
    /// multipart uploads are aborted with them); and the quarantine.
    pub async fn plan_gc(&self, loose: bool, ingest_age: Duration) -> Result<GcPlan, StoreError> {
        let now = SystemTime::now();
        let mut plan = plan_blob_gc(self, loose, ingest_age).await?;
        for area in ["ingest", "uploads"] {
            let objects = self.list(area).await?;
            for (path, _) in &objects {
                let Some(rel) = self.rel(path) else { continue };
                let Some(dir) = rel.strip_suffix("/state.json") else {
                    continue;
                };
                let name = match area {
                    "ingest" => match blob_digest(dir, "ingest") {
                        Some(d) => Name::Digest(d),
                        None => continue,
                    },
                    _ => match dir.strip_prefix("uploads/").and_then(|id| id.parse().ok()) {
                        Some(id) => Name::Upload(id),
                        None => continue,
                    },
                };
                let Some(state) = State::read(self, &name).await? else {
                    continue;
                };
                let modified = state.updated();
                if now.duration_since(modified).unwrap_or_default() < ingest_age {
                    continue;
                }
                let below = format!("{}/", self.key(dir));
                let size = objects
                    .iter()
                    .filter(|(p, _)| p.as_ref().starts_with(&below))
                    .map(|(_, s)| s)
                    .sum();
                let (digest, upload) = match &name {
                    Name::Digest(d) => (Some(d.clone()), None),
                    Name::Upload(id) => (None, Some(id.clone())),
                };
                plan.ingest.push(IngestInfo {
                    path: self.display(&self.key(dir)).into(),
                    digest,
                    upload,
                    size,
                    modified,
                });
            }
        }
        // Multipart uploads no state names (a writer killed before its first save).
        plan.ingest
            .extend(self.plan_orphaned_uploads(ingest_age).await?);
        plan.quarantine = self
            .list("quarantine")
            .await?
            .into_iter()
            .map(|(p, size)| (PathBuf::from(self.display(&p)), size))
            .collect();
        Ok(plan)
    }

    /// Carries out a [`GcPlan`] of [`S3Store::plan_gc`] (with `dry_run`, removes nothing):
    /// the blobs as on disk (`maintain/gc.rs`: the references read again first), then the
    /// partials, leaving one that a writer of this process holds, and the quarantine.
    pub async fn collect_garbage(
        &self,
        plan: &GcPlan,
        dry_run: bool,
    ) -> Result<GcReport, StoreError> {
        let mut report = GcReport::default();
        collect_blobs(self, plan, dry_run, &mut report).await?;
        for item in &plan.ingest {
            // An orphaned multipart upload (`uploads.rs`) rather than a partial.
            if let Some(aborted) = self.collect_orphaned_upload(item, dry_run).await? {
                match aborted {
                    true => report.removed_ingest.push(item.clone()),
                    false => report.ingest_in_use.push(item.path.clone()),
                }
                continue;
            }
            let name = match (&item.digest, &item.upload) {
                (Some(d), _) => Name::Digest(d.clone()),
                (None, Some(id)) => Name::Upload(id.clone()),
                (None, None) => continue,
            };
            let Some(_held) = self.try_hold(name.lock_name()) else {
                report.ingest_in_use.push(item.path.clone());
                continue;
            };
            if !dry_run {
                // The multipart upload first, then every object below the partial.
                if let Some(state) = State::read(self, &name).await? {
                    writer::abort_upload_of(self, &name, &state).await;
                }
                let dir = S3Store::ingest_dir(&name);
                for (path, _) in self.list(&dir).await? {
                    self.remove(&path).await?;
                }
            }
            report.removed_ingest.push(item.clone());
        }
        for (path, _) in &plan.quarantine {
            if !dry_run {
                let key = path.to_string_lossy();
                let bucket = format!("s3://{}/", self.inner.config.bucket);
                if let Some(rel) = key.strip_prefix(&bucket) {
                    self.remove(&object_store::path::Path::from(rel)).await?;
                }
            }
            report.removed_quarantine.push(path.clone());
        }
        Ok(report)
    }
}
