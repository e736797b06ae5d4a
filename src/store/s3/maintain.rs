//! Looking after an S3 cache (`cache ls --blobs`, `du`, `verify`): the listings and checks the
//! local store's `maintain/walk.rs` makes of its directories, made of the bucket's keys. What
//! the commands print is the same code for both (`commands/cache.rs`).

use std::path::PathBuf;

use futures_util::{StreamExt as _, TryStreamExt as _};
use object_store::ObjectStore as _;

use super::{S3Store, blob_digest, writer::Name};
use crate::digest::Digest;
use crate::store::{Blob, BlobInfo, Check, ContentStore as _, StoreError, Usage};

impl S3Store {
    /// Every blob with its size and last change (objects have no access time: the time it
    /// was written is its last use), sorted by digest.
    pub async fn blob_infos(&self) -> Result<Vec<BlobInfo>, StoreError> {
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
