//! The local OCI image layout as a [`ContentStore`]: [`Store`] itself.
//!
//! Reads go below held directory descriptors, never through paths built from request input:
//! the store holds a descriptor of the cache root ([`SafeRoot`]), opens `blobs/<alg>` below it
//! with `O_NOFOLLOW | O_DIRECTORY`, and each blob with `openat(2)` and `O_NOFOLLOW` below that,
//! then checks with `fstat` that it got a regular file. A digest's hex is `[0-9a-f]`, `ingest/`
//! is never opened for reading, and a symlink anywhere below the root (a planted
//! `blobs/sha256/<hex>`, or `blobs/` itself) is refused instead of followed. `index.json` is
//! read the same way and re-parsed only when it changed (it is replaced by rename, so a new
//! inode, size or mtime means new content).
//!
//! Writes go through the store's ingest area (`ingest.rs`): a [`LocalWriter`] holds the
//! digest's lock, appends on the ingest's writer thread (hashing as it goes) or writes at
//! offsets, and commits through [`Ingest::commit`], which verifies and fsyncs.

mod read;
mod writer;

use std::io;
use std::sync::Arc;
use std::time::SystemTime;

pub(super) use read::SafeRoot;
use writer::Key;
pub use writer::LocalWriter;

use super::LockAttempt;
use super::content::{Blob, ContentStore, Deleted, Partial, StoredBlob, WriterAttempt};
use super::{LayoutIndex, Refs, Store, StoreError, UploadId, UploadInfo};
use crate::digest::{Algorithm, Digest};

/// A task that panicked or was cancelled comes back as an I/O error, not as a panic here.
/// Runs blocking store work off the async runtime.
async fn off_runtime<T: Send + 'static>(
    what: &'static str,
    work: impl FnOnce() -> Result<T, StoreError> + Send + 'static,
) -> Result<T, StoreError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| StoreError::Io {
            action: what,
            path: "a blocking task".into(),
            source: io::Error::other(e.to_string()),
        })?
}

impl Store {
    /// The table of blobs this process is appending to (see [`ContentStore::growing`]).
    pub(super) fn growing_table(
        &self,
    ) -> std::sync::MutexGuard<'_, std::collections::HashMap<Digest, super::Growing>> {
        self.growing.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A writer for `digest` under its held `lock`, resuming its partial. A partial recorded
    /// for another size than `size` is no prefix of this blob: it starts over. A writer told no
    /// size keeps the size recorded before. Blocks (file work).
    fn resume(
        &self,
        lock: super::IngestLock,
        digest: Digest,
        size: Option<u64>,
    ) -> Result<LocalWriter, StoreError> {
        let mut ingest = self.ingest(&lock, &digest)?;
        if size.is_some() && ingest.state.size.is_some_and(|s| Some(s) != size) {
            ingest.truncate(0)?;
            ingest.state.segments = None;
        }
        if size.is_some() {
            ingest.state.size = size;
        }
        // The data file's length is the truth (a crash can leave the count in `state.json`
        // behind it); the record catches up now, so a later process resumes from here.
        ingest.state.bytes = ingest.partial_len()?;
        ingest.save_state()?;
        LocalWriter::new(self.clone(), Key::Digest(digest), ingest, lock)
    }

    /// Turns a failed read of `what` (a path below the root) into an error naming its path.
    fn read_error(&self, what: &str) -> impl FnOnce(io::Error) -> StoreError + '_ {
        let path = self.root().join(what);
        move |source| StoreError::Io {
            action: "read",
            path,
            source,
        }
    }
}

impl ContentStore for Store {
    type Writer = LocalWriter;

    async fn stat(&self, digest: &Digest) -> Result<Option<u64>, StoreError> {
        // An `openat` on a cached directory descriptor takes microseconds: not worth a thread.
        Ok(self
            .safe
            .open_blob(digest)
            .map_err(self.read_error("blobs"))?
            .map(|(_, size)| size))
    }

    async fn open(&self, digest: &Digest) -> Result<Option<Blob>, StoreError> {
        Ok(self
            .safe
            .open_blob(digest)
            .map_err(self.read_error("blobs"))?
            // The size is the opened file's `fstat`: size and bytes belong to one file, even if
            // the name is removed or replaced while the blob is served.
            .map(|(file, size)| Blob::file(file, size)))
    }

    async fn writer(&self, digest: &Digest, size: Option<u64>) -> Result<LocalWriter, StoreError> {
        let (store, digest) = (self.clone(), digest.clone());
        off_runtime("wait for the lock", move || {
            // The wait lasts as long as another writer of the digest, in any process, runs.
            let lock = store.lock_blocking(&digest)?;
            store.resume(lock, digest, size)
        })
        .await
    }

    async fn try_writer(
        &self,
        digest: &Digest,
        size: Option<u64>,
    ) -> Result<WriterAttempt<LocalWriter>, StoreError> {
        let (store, digest) = (self.clone(), digest.clone());
        off_runtime("lock", move || match store.try_lock(&digest)? {
            LockAttempt::Acquired(lock) => {
                Ok(WriterAttempt::Ready(store.resume(lock, digest, size)?))
            }
            LockAttempt::Busy { holder } => Ok(WriterAttempt::Busy { holder }),
        })
        .await
    }

    async fn upload(
        &self,
        id: &UploadId,
        start: Option<Algorithm>,
    ) -> Result<Option<LocalWriter>, StoreError> {
        let (store, id) = (self.clone(), id.clone());
        off_runtime("wait for the lock", move || {
            let lock = store.lock_upload_blocking(&id)?;
            let Some((ingest, _)) = store.upload_ingest(&lock, &id, start)? else {
                // No such session: no lock file is kept for it either.
                lock.release_and_remove();
                return Ok(None);
            };
            // A session resumes at its data file's length; no record counts its bytes.
            Ok(Some(LocalWriter::new(
                store.clone(),
                Key::Upload(id),
                ingest,
                lock,
            )?))
        })
        .await
    }

    async fn uploads(&self) -> Result<Vec<UploadInfo>, StoreError> {
        let store = self.clone();
        off_runtime("list", move || {
            let mut found = Vec::new();
            let dir = store.uploads_dir();
            let entries = match std::fs::read_dir(&dir) {
                Ok(entries) => entries,
                // No session was ever started: `ingest/uploads/` is made on first use.
                Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(found),
                Err(e) => return Err(StoreError::io("read", &dir)(e)),
            };
            for entry in entries.flatten() {
                // Lock files (`<id>.lock`) and other names that are no id are not sessions.
                let Ok(id) = entry.file_name().to_string_lossy().parse::<UploadId>() else {
                    continue;
                };
                // A session a writer holds is not listed (the contract).
                if !entry.path().is_dir() || store.upload_is_locked(&id)? {
                    continue;
                }
                let state = std::fs::read(entry.path().join("upload.json"))
                    .ok()
                    .and_then(|b| serde_json::from_slice::<super::UploadState>(&b).ok());
                let data = std::fs::metadata(entry.path().join("data")).ok();
                // A session whose `upload.json` is missing or garbled is left out: `upload` would
                // not resume it either. Its last activity is the data file's mtime, since
                // `upload.json` is written once, at the start.
                if let Some(state) = state {
                    found.push(UploadInfo {
                        id,
                        algorithm: state.algorithm,
                        bytes: data.as_ref().map_or(0, |m| m.len()),
                        updated: data
                            .and_then(|m| m.modified().ok())
                            .unwrap_or(SystemTime::UNIX_EPOCH),
                    });
                }
            }
            // `read_dir` gives the file system's order; the contract promises id order.
            found.sort_by(|a, b| a.id.cmp(&b.id));
            Ok(found)
        })
        .await
    }

    async fn blobs(&self) -> Result<Vec<StoredBlob>, StoreError> {
        let store = self.clone();
        // Names in `blobs/` that are no blob (a symlink, a directory, an unknown name) are
        // for the `cache` commands to warn about, not for this listing.
        let (blobs, _strange) = off_runtime("list", move || store.blobs()).await?;
        Ok(blobs
            .into_iter()
            .map(|b| StoredBlob {
                digest: b.digest,
                size: b.size,
            })
            .collect())
    }

    async fn partials(&self) -> Result<Vec<Partial>, StoreError> {
        let store = self.clone();
        let mut partials: Vec<Partial> = off_runtime("list", move || store.ingests())
            .await?
            .into_iter()
            // `ingests()` also lists stray lock files and temporary files: a partial is a
            // directory. One whose lock cannot even be tried counts as held: a partial in use
            // is never listed.
            .filter(|i| i.path.is_dir())
            .filter(|i| {
                i.digest
                    .as_ref()
                    .is_some_and(|d| !self.is_locked(d).unwrap_or(true))
            })
            .filter_map(|i| {
                Some(Partial {
                    bytes: std::fs::metadata(i.path.join("data")).ok()?.len(),
                    digest: i.digest?,
                })
            })
            .collect();
        // `ingests()` sorts by path; the contract promises digest order.
        partials.sort_by(|a, b| a.digest.cmp(&b.digest));
        Ok(partials)
    }

    async fn delete(&self, digest: &Digest) -> Result<Deleted, StoreError> {
        if self.lookup(digest)?.is_none() {
            return Ok(Deleted::Missing);
        }
        let (store, digest) = (self.clone(), digest.clone());
        // The digest's lock is only tried, never awaited: a writer holding it means `Busy`.
        let removed = off_runtime("remove", move || store.remove_blob_unless_locked(&digest));
        Ok(if removed.await? {
            Deleted::Removed
        } else {
            Deleted::Busy
        })
    }

    async fn touch(&self, digest: &Digest) -> Result<(), StoreError> {
        // One futimens: not worth a thread.
        self.touch_blob(digest)
    }

    fn growing(&self, digest: &Digest) -> Option<super::Growing> {
        self.growing_table().get(digest).cloned()
    }

    fn local_path(&self, digest: &Digest) -> Option<std::path::PathBuf> {
        Some(self.blob_path(digest))
    }

    async fn quarantine(&self, digest: &Digest) -> Result<(), StoreError> {
        if self.lookup(digest)?.is_none() {
            return Ok(());
        }
        let (store, digest) = (self.clone(), digest.clone());
        off_runtime("move to quarantine", move || {
            // Unlike `delete`, this waits for a writer of the digest: the move never races a
            // commit of it, and the blob is out of service when this returns.
            let lock = store.lock_blocking(&digest)?;
            let moved = store.quarantine_blob(&digest).map(drop);
            lock.release_and_remove();
            moved
        })
        .await
    }

    async fn refs(&self) -> Result<Arc<Refs>, StoreError> {
        let safe = self.safe.clone();
        match safe.refs() {
            Ok(refs) => Ok(refs),
            // `SafeRoot::refs` reports an `index.json` it will not parse (not a regular file,
            // too large, not a layout index) as `Other`: corruption, not a failed read.
            Err(e) if e.kind() == io::ErrorKind::Other => Err(StoreError::Corrupt {
                path: self.root().join("index.json"),
                reason: e.to_string(),
            }),
            Err(e) => Err(self.read_error("index.json")(e)),
        }
    }

    async fn update_refs<T, F>(&self, change: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut LayoutIndex) -> (T, bool) + Send + 'static,
    {
        let store = self.clone();
        // `update_index` waits for `index.json`'s own lock: on a blocking thread.
        off_runtime("update", move || store.update_index(change)).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::REF_NAME;

    const D1: &str = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    /// The shared contract suite (`content::contract::check`) passes on the local layout.
    /// A push in several requests continues the hash kept beside the data (no re-read), but
    /// only for the very file it was taken of: bytes changed behind the store's back are
    /// re-hashed, so they can never be published under the digest of what was sent.
    #[tokio::test]
    async fn a_kept_hash_serves_only_the_file_it_was_taken_of() {
        use crate::digest::digest_bytes;
        use crate::store::BlobWriter;
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let sent = digest_bytes(Algorithm::Sha256, b"hello world");
        for tamper in [true, false] {
            let id = UploadId::random().unwrap();
            let session = store.uploads_dir().join(id.as_str());
            let mut w = store
                .upload(&id, Some(Algorithm::Sha256))
                .await
                .unwrap()
                .unwrap();
            w.write(bytes::Bytes::from_static(b"hello ")).await.unwrap();
            w.close().await.unwrap();
            assert!(session.join("hash.state").is_file());
            if tamper {
                std::fs::write(session.join("data"), b"jello ").unwrap();
            }
            let mut w = store.upload(&id, None).await.unwrap().unwrap();
            w.write(bytes::Bytes::from_static(b"world")).await.unwrap();
            let committed = w.commit(&sent).await;
            assert_eq!(committed.is_ok(), !tamper, "{committed:?}");
            assert_eq!(store.stat(&sent).await.unwrap().is_some(), !tamper);
        }
    }

    #[tokio::test]
    async fn keeps_the_content_store_contract() {
        let dir = tempfile::tempdir().unwrap();
        super::super::content::contract::check(Store::open(dir.path()).unwrap()).await;
    }

    /// Reads serve a regular blob but refuse a symlinked blob, a symlinked `blobs/<alg>` and
    /// bytes only in `ingest/`; a blob written while the store is open is still found.
    #[tokio::test]
    async fn reads_refuse_symlinks_and_ingest() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("cache");
        let source = Store::open(&root).unwrap();
        let data = b"served".to_vec();
        let d = crate::digest::digest_bytes(Algorithm::Sha256, &data);
        let sha = root.join("blobs/sha256");
        std::fs::create_dir_all(&sha).unwrap();
        std::fs::write(sha.join(d.hex()), &data).unwrap();
        // A secret outside the cache, linked in under a digest's name.
        let secret = dir.path().join("secret");
        std::fs::write(&secret, b"secret").unwrap();
        let sd = crate::digest::digest_bytes(Algorithm::Sha256, b"secret");
        std::os::unix::fs::symlink(&secret, sha.join(sd.hex())).unwrap();
        // Content only in ingest/ is not served.
        let id = crate::digest::digest_bytes(Algorithm::Sha256, b"partial");
        let ingest = root.join("ingest/sha256").join(id.hex());
        std::fs::create_dir_all(&ingest).unwrap();
        std::fs::write(ingest.join("data"), b"partial").unwrap();

        assert_eq!(source.stat(&d).await.unwrap(), Some(6));
        let blob = source.open(&d).await.unwrap().unwrap();
        assert_eq!(&blob.read_range(1..4).unwrap()[..], b"erv");
        assert_eq!(source.stat(&sd).await.unwrap(), None);
        assert_eq!(source.stat(&id).await.unwrap(), None);

        // blobs/sha512 as a symlink to a directory outside is refused too.
        let outside = dir.path().join("outside");
        std::fs::create_dir(&outside).unwrap();
        let s512 = crate::digest::digest_bytes(Algorithm::Sha512, b"x");
        std::fs::write(outside.join(s512.hex()), b"x").unwrap();
        std::os::unix::fs::symlink(&outside, root.join("blobs/sha512")).unwrap();
        assert_eq!(source.stat(&s512).await.unwrap(), None);

        // A blob added while serving is found (the directory descriptor sees it).
        let later = crate::digest::digest_bytes(Algorithm::Sha256, b"later");
        std::fs::write(sha.join(later.hex()), b"later").unwrap();
        assert_eq!(source.stat(&later).await.unwrap(), Some(5));
    }

    /// An `index.json` renamed into place (a new inode) is seen by the next `refs()`.
    #[tokio::test]
    async fn refs_are_reread_when_index_json_changes() {
        let dir = tempfile::tempdir().unwrap();
        let source = Store::open(dir.path()).unwrap();
        assert!(source.refs().await.unwrap().tags("a", None).is_none());
        let json = serde_json::json!({"schemaVersion": 2, "manifests": [
            {"digest": D1, "size": 1, "annotations": {REF_NAME: "reg.example/a:v1"}}]});
        let tmp = dir.path().join("index.json.tmp");
        std::fs::write(&tmp, json.to_string()).unwrap();
        std::fs::rename(&tmp, dir.path().join("index.json")).unwrap();
        assert!(source.refs().await.unwrap().tag("a", "v1", None).is_some());
    }
}
