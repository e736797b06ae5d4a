//! Looking after the cache: what it holds (blobs, partial downloads, quarantine), what the
//! references reach, re-hashing and quarantine, and the plans of `cache gc`, `cache prune`
//! and `cache rm` and carrying them out.
//!
//! Reachability and the plans are written once, over the [`Maintained`] trait (a
//! [`ContentStore`] that can also list its blobs with their last use and read a manifest
//! strictly), so the local layout, an S3 bucket and the memory store run the same code.
//! Removing a blob always goes through [`ContentStore::delete`], which leaves a blob alone
//! while a writer holds its digest. On the local store the cache-wide lock that keeps
//! maintenance and fetches apart is taken when the store is opened for use
//! (`Store::open_for`, `Store::open_existing_for`); the functions that remove things expect
//! it held exclusively there. An S3 bucket has no such lock: before any blob goes, the
//! references are read once more and whatever they reach now is kept, and `cache gc` there
//! keeps unreachable blobs younger than its grace period (see `gc`). Planning is separate
//! from doing, so that `--dry-run` shows exactly what a real run would remove, and so the
//! plans can be tested as plain functions.
//!
//! - `walk`: the local store's listing of `blobs/`, `ingest/` and `quarantine/`; checking,
//!   quarantining and removing one item under its lock.
//! - `reach`: reading manifests and following them from the references (reachability).
//! - `gc`, `prune`, `rm`: each command's plan and its execution.

#[cfg(test)]
mod fixtures;
mod gc;
mod prune;
mod reach;
mod rm;
mod walk;

use std::collections::HashSet;
use std::future::Future;
use std::time::SystemTime;

use bytes::Bytes;

use crate::digest::Digest;
use crate::manifest::{Descriptor, MAX_MANIFEST};
use crate::store::{ContentStore, Deleted, LayoutIndex, MemoryStore, Store, StoreError};

pub use gc::{GcPlan, GcReport};
pub(crate) use gc::{collect_blobs, plan_blob_gc};
pub use prune::{PrunePlan, PruneReport, PruneUnit, plan_eviction, plan_prune, prune};
pub use reach::{
    Reachable, ReferenceBlobs, ReferenceSummary, reachable, reachable_by_reference, read_manifest,
    reference_summaries,
};
pub use rm::{Removal, remove_blob_and_entries, remove_reference, remove_references};
pub use walk::{BlobInfo, Check, IngestInfo, Usage};

/// A [`ContentStore`] the `cache` commands can look after: besides the trait's reads and
/// deletes, a listing with each blob's last use (what `cache prune` evicts by), a strict
/// presence check and manifest read (something under a blob's name that cannot be read is
/// an error, never "missing": what it names would otherwise look unreachable), and whether a
/// writer holds a digest (for `--dry-run`, which deletes nothing).
pub trait Maintained: ContentStore + Clone {
    /// The reference table as maintenance reads it: strictly (what is not a layout index is
    /// an error, as the table is rewritten from it).
    fn index(&self) -> impl Future<Output = Result<LayoutIndex, StoreError>> + Send {
        async move { Ok(self.refs().await?.layout().clone()) }
    }

    /// Every verified blob with its size and last use, sorted by digest.
    fn blob_infos(&self) -> impl Future<Output = Result<Vec<BlobInfo>, StoreError>> + Send;

    /// The size of a blob, `None` when there is none; an error when something is under its
    /// name that cannot be inspected or is no blob.
    fn present(
        &self,
        digest: &Digest,
    ) -> impl Future<Output = Result<Option<u64>, StoreError>> + Send {
        self.stat(digest)
    }

    /// The bytes of a blob that may be a manifest: `None` when it is missing or larger than
    /// [`MAX_MANIFEST`] (then it is no manifest), an error when it is there but cannot be
    /// read.
    fn manifest_bytes(
        &self,
        digest: &Digest,
    ) -> impl Future<Output = Result<Option<Bytes>, StoreError>> + Send {
        async move {
            let Some(blob) = self.open(digest).await? else {
                return Ok(None);
            };
            let size = blob.size();
            if size > MAX_MANIFEST as u64 {
                return Ok(None);
            }
            let failed = |source| StoreError::Io {
                action: "read manifest",
                path: digest.to_string().into(),
                source,
            };
            // Read as a stream: a remote blob's synchronous read would need a blocking thread.
            let mut out = Vec::with_capacity(size as usize);
            let mut stream = std::pin::pin!(blob.stream(0..size).map_err(failed)?);
            while let Some(chunk) = futures_util::StreamExt::next(&mut stream).await {
                out.extend_from_slice(&chunk.map_err(failed)?);
            }
            Ok(Some(out.into()))
        }
    }

    /// Whether a writer holds `digest` right now, so that [`ContentStore::delete`] would
    /// leave it alone.
    fn is_held(&self, digest: &Digest) -> impl Future<Output = Result<bool, StoreError>> + Send;
}

impl Maintained for Store {
    async fn index(&self) -> Result<LayoutIndex, StoreError> {
        // `index.json` parsed as the store rewrites it, not leniently as `serve` reads other
        // tools' layouts: one that is no OCI image index is an error naming it.
        let store = self.clone();
        off_runtime(move || store.read_index()).await
    }

    async fn blob_infos(&self) -> Result<Vec<BlobInfo>, StoreError> {
        let store = self.clone();
        // What under `blobs/` is no blob is for the commands to warn about (`Store::blobs`).
        off_runtime(move || store.blobs().map(|(blobs, _)| blobs)).await
    }

    async fn present(&self, digest: &Digest) -> Result<Option<u64>, StoreError> {
        // One stat, and unlike `stat` a directory under the name is an error: not worth a
        // thread.
        self.lookup(digest)
    }

    async fn manifest_bytes(&self, digest: &Digest) -> Result<Option<Bytes>, StoreError> {
        let (store, digest) = (self.clone(), digest.clone());
        off_runtime(move || store.read_manifest_bytes(&digest)).await
    }

    async fn is_held(&self, digest: &Digest) -> Result<bool, StoreError> {
        let (store, digest) = (self.clone(), digest.clone());
        off_runtime(move || store.is_locked(&digest)).await
    }
}

impl Maintained for MemoryStore {
    async fn blob_infos(&self) -> Result<Vec<BlobInfo>, StoreError> {
        // Memory keeps no use times: all blobs are equally old, and `cache prune` takes them
        // in its tie order (by name).
        Ok(self
            .blobs()
            .await?
            .into_iter()
            .map(|b| BlobInfo {
                digest: b.digest,
                size: b.size,
                last_use: SystemTime::UNIX_EPOCH,
            })
            .collect())
    }

    async fn is_held(&self, digest: &Digest) -> Result<bool, StoreError> {
        Ok(self.is_held_now(digest))
    }
}

/// Removes a blob unless a writer holds it, or with `dry_run` only looks whether it would be:
/// `Ok(true)` when it is (or would be) gone. Missing counts as gone: it is.
async fn remove_unless_held<S: Maintained>(
    store: &S,
    digest: &Digest,
    dry_run: bool,
) -> Result<bool, StoreError> {
    if dry_run {
        Ok(!store.is_held(digest).await?)
    } else {
        Ok(store.delete(digest).await? != Deleted::Busy)
    }
}

/// What the references reach now, read once more just before blobs are deleted (entries
/// `leave_out` says are going anyway left out): where no cache-wide lock keeps pulls away (a
/// bucket), one may have recorded a reference since the plan.
async fn reached_now<S: Maintained>(
    store: &S,
    leave_out: impl Fn(&Descriptor) -> bool,
) -> Result<HashSet<Digest>, StoreError> {
    let roots: Vec<Descriptor> = store
        .index()
        .await?
        .entries()
        .into_iter()
        .filter(|d| !leave_out(d))
        .collect();
    Ok(reach::reachable(store, &roots).await?.present)
}

/// Runs the local store's blocking file work on the blocking pool.
async fn off_runtime<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, StoreError> + Send + 'static,
) -> Result<T, StoreError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| StoreError::Io {
            action: "look after",
            path: "a blocking task".into(),
            source: std::io::Error::other(e.to_string()),
        })?
}
