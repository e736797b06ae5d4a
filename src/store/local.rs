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

use std::fs::File;
use std::io::{self, Read};
use std::os::fd::OwnedFd;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::{Arc, Mutex, RwLock};
use std::time::SystemTime;

use bytes::Bytes;
use rustix::fs::{Mode, OFlags};

use super::content::{Blob, BlobWriter, ContentStore, Deleted, Partial, StoredBlob};
use super::{
    Commit, Ingest, IngestLock, IngestWriter, LayoutIndex, Refs, Store, StoreError, UploadId,
    UploadInfo,
};
use crate::digest::{Algorithm, Digest};

/// Largest `index.json` read (a cache index with thousands of tags is well below this).
const MAX_INDEX: u64 = 16 << 20;

/// The identity of an `index.json` version (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct FileStamp {
    ino: u64,
    size: u64,
    mtime: Option<SystemTime>,
}

/// Descriptors a store reads through: the root, `blobs/sha256` and `blobs/sha512` (opened on
/// first use and reopened after a miss: the directory may have been created or replaced since),
/// and the last parsed reference table.
#[derive(Debug)]
pub(super) struct SafeRoot {
    root: OwnedFd,
    dirs: [RwLock<Option<Arc<OwnedFd>>>; 2],
    refs: Mutex<Option<(FileStamp, Arc<Refs>)>>,
}

fn dir_flags() -> OFlags {
    OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC
}

/// Flags for a file read below a held descriptor. NONBLOCK: a FIFO planted in the cache must
/// not hang the open.
fn file_flags() -> OFlags {
    OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::NOCTTY | OFlags::CLOEXEC
}

impl SafeRoot {
    /// Opens the cache root `root` (a symlink is fine for the root itself, which the user
    /// named; nothing below it may be one).
    pub(super) fn open(root: &Path) -> Result<SafeRoot, StoreError> {
        let fd = rustix::fs::open(
            root,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| StoreError::io("open", root)(e.into()))?;
        Ok(SafeRoot {
            root: fd,
            dirs: [RwLock::new(None), RwLock::new(None)],
            refs: Mutex::new(None),
        })
    }

    fn slot(algorithm: Algorithm) -> usize {
        match algorithm {
            Algorithm::Sha256 => 0,
            Algorithm::Sha512 => 1,
        }
    }

    /// `blobs/<alg>` as a descriptor; `refresh` reopens it.
    fn alg_dir(&self, algorithm: Algorithm, refresh: bool) -> io::Result<Option<Arc<OwnedFd>>> {
        let Some(slot) = self.dirs.get(Self::slot(algorithm)) else {
            return Ok(None);
        };
        if !refresh && let Some(fd) = slot.read().unwrap_or_else(|e| e.into_inner()).as_ref() {
            return Ok(Some(fd.clone()));
        }
        let open = || -> rustix::io::Result<OwnedFd> {
            let blobs = rustix::fs::openat(&self.root, "blobs", dir_flags(), Mode::empty())?;
            rustix::fs::openat(&blobs, algorithm.as_str(), dir_flags(), Mode::empty())
        };
        let fd = match open() {
            Ok(fd) => Arc::new(fd),
            Err(e) if e == rustix::io::Errno::NOENT => return Ok(None),
            Err(e) if e == rustix::io::Errno::LOOP || e == rustix::io::Errno::NOTDIR => {
                tracing::warn!(
                    "refusing to read `blobs/{algorithm}`: it (or `blobs`) is a symlink or not a directory"
                );
                return Ok(None);
            }
            Err(e) => return Err(e.into()),
        };
        *slot.write().unwrap_or_else(|e| e.into_inner()) = Some(fd.clone());
        Ok(Some(fd))
    }

    /// Opens `blobs/<alg>/<hex>` without following a symlink; `None` if absent or not a
    /// regular file.
    fn open_blob(&self, digest: &Digest) -> io::Result<Option<(File, u64)>> {
        for refresh in [false, true] {
            let Some(dir) = self.alg_dir(digest.algorithm(), refresh)? else {
                if refresh {
                    return Ok(None);
                }
                continue;
            };
            match rustix::fs::openat(&*dir, digest.hex(), file_flags(), Mode::empty()) {
                Ok(fd) => {
                    let file = File::from(fd);
                    let meta = file.metadata()?;
                    if !meta.is_file() {
                        tracing::warn!("refusing to read `{digest}`: not a regular file");
                        return Ok(None);
                    }
                    return Ok(Some((file, meta.len())));
                }
                Err(e) if e == rustix::io::Errno::NOENT => continue,
                Err(e) if e == rustix::io::Errno::LOOP => {
                    tracing::warn!("refusing to read `{digest}`: it is a symlink");
                    return Ok(None);
                }
                Err(e) => return Err(e.into()),
            }
        }
        Ok(None)
    }

    /// The reference table, re-read when `index.json` changed since the last call.
    fn refs(&self) -> io::Result<Arc<Refs>> {
        let file = match rustix::fs::openat(&self.root, "index.json", file_flags(), Mode::empty()) {
            Ok(fd) => File::from(fd),
            Err(e) if e == rustix::io::Errno::NOENT => return Ok(Arc::default()),
            Err(e) => return Err(e.into()),
        };
        let meta = file.metadata()?;
        let stamp = FileStamp {
            ino: std::os::unix::fs::MetadataExt::ino(&meta),
            size: meta.len(),
            mtime: meta.modified().ok(),
        };
        let mut cached = self.refs.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((s, refs)) = cached.as_ref()
            && *s == stamp
        {
            return Ok(refs.clone());
        }
        if !meta.is_file() || meta.len() > MAX_INDEX {
            return Err(io::Error::other(
                "index.json is not a regular file of sane size",
            ));
        }
        let mut bytes = Vec::with_capacity(meta.len() as usize);
        file.take(MAX_INDEX).read_to_end(&mut bytes)?;
        let refs = Arc::new(Refs::parse(&bytes).map_err(io::Error::other)?);
        *cached = Some((stamp, refs.clone()));
        Ok(refs)
    }
}

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
            .map(|(file, size)| Blob::file(file, size)))
    }

    async fn writer(&self, digest: &Digest, size: Option<u64>) -> Result<LocalWriter, StoreError> {
        let (store, digest) = (self.clone(), digest.clone());
        off_runtime("wait for the lock", move || {
            let lock = store.lock_blocking(&digest)?;
            let mut ingest = store.ingest(&lock, &digest)?;
            // A partial recorded for another size, or with the holes of a segmented download,
            // is no prefix this writer can continue.
            let foreign_size = size.is_some() && ingest.state.size.is_some_and(|s| Some(s) != size);
            if foreign_size || ingest.state.segments.is_some() {
                ingest.truncate(0)?;
                ingest.state.segments = None;
            }
            if size.is_some() {
                ingest.state.size = size;
            }
            let offset = ingest.partial_len()?;
            ingest.state.bytes = offset;
            ingest.save_state()?;
            Ok(LocalWriter {
                store: store.clone(),
                key: Key::Digest(digest),
                offset,
                ingest: Some(ingest),
                sequential: None,
                positional: None,
                lock: Some(lock),
            })
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
                lock.release_and_remove();
                return Ok(None);
            };
            Ok(Some(LocalWriter {
                store: store.clone(),
                offset: ingest.partial_len()?,
                key: Key::Upload(id),
                ingest: Some(ingest),
                sequential: None,
                positional: None,
                lock: Some(lock),
            }))
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
                Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(found),
                Err(e) => return Err(StoreError::io("read", &dir)(e)),
            };
            for entry in entries.flatten() {
                let Ok(id) = entry.file_name().to_string_lossy().parse::<UploadId>() else {
                    continue;
                };
                if !entry.path().is_dir() || store.upload_is_locked(&id)? {
                    continue;
                }
                let state = std::fs::read(entry.path().join("upload.json"))
                    .ok()
                    .and_then(|b| serde_json::from_slice::<super::UploadState>(&b).ok());
                let data = std::fs::metadata(entry.path().join("data")).ok();
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
            found.sort_by(|a, b| a.id.cmp(&b.id));
            Ok(found)
        })
        .await
    }

    async fn blobs(&self) -> Result<Vec<StoredBlob>, StoreError> {
        let store = self.clone();
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
        partials.sort_by(|a, b| a.digest.cmp(&b.digest));
        Ok(partials)
    }

    async fn delete(&self, digest: &Digest) -> Result<Deleted, StoreError> {
        if self.lookup(digest)?.is_none() {
            return Ok(Deleted::Missing);
        }
        let (store, digest) = (self.clone(), digest.clone());
        let removed = off_runtime("remove", move || store.remove_blob_unless_locked(&digest));
        Ok(if removed.await? {
            Deleted::Removed
        } else {
            Deleted::Busy
        })
    }

    async fn quarantine(&self, digest: &Digest) -> Result<(), StoreError> {
        if self.lookup(digest)?.is_none() {
            return Ok(());
        }
        let (store, digest) = (self.clone(), digest.clone());
        off_runtime("move to quarantine", move || {
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
        off_runtime("update", move || store.update_index(change)).await
    }
}

/// What a [`LocalWriter`] writes.
#[derive(Debug, Clone)]
enum Key {
    /// A blob of known digest (`ingest/<alg>/<hex>/`).
    Digest(Digest),
    /// An upload session (`ingest/uploads/<id>/`).
    Upload(UploadId),
}

/// A [`BlobWriter`] into the local layout's ingest area (see the module docs).
pub struct LocalWriter {
    store: Store,
    key: Key,
    offset: u64,
    /// `None` only while a blocking task has it.
    ingest: Option<Ingest>,
    /// The appending writer, once [`BlobWriter::write`] was called.
    sequential: Option<IngestWriter>,
    /// The data file opened for positional writes, once [`BlobWriter::write_at`] was called.
    positional: Option<Arc<File>>,
    /// The digest's lock; `None` once commit, abort or close has handed it on.
    lock: Option<IngestLock>,
}

impl Drop for LocalWriter {
    fn drop(&mut self) {
        // The writer thread may still hold queued bytes: keep the digest locked until they are
        // on disk, so that the next writer resumes from a file nobody appends to.
        if let (Some(writer), Some(lock)) = (self.sequential.take(), self.lock.take()) {
            std::thread::spawn(move || {
                if let Err(e) = writer.finish() {
                    tracing::warn!("finishing an abandoned write: {e}");
                }
                drop(lock);
            });
        }
    }
}

impl std::fmt::Debug for LocalWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalWriter")
            .field("key", &self.key)
            .field("offset", &self.offset)
            .finish_non_exhaustive()
    }
}

impl LocalWriter {
    fn ingest(&self) -> Result<&Ingest, StoreError> {
        self.ingest.as_ref().ok_or_else(|| self.gone())
    }

    fn gone(&self) -> StoreError {
        let what = match &self.key {
            Key::Digest(d) => format!("ingest of {d}"),
            Key::Upload(id) => format!("upload {id}"),
        };
        StoreError::Corrupt {
            path: what.into(),
            reason: "an earlier write failed part way".into(),
        }
    }

    /// Refuses a write that would end past the declared size, before anything is written.
    fn check_room(&self, end: u64) -> Result<(), StoreError> {
        match (self.ingest()?.state.size, &self.key) {
            (Some(size), Key::Digest(digest)) if end > size => Err(StoreError::WrongSize {
                digest: digest.clone(),
                expected: size,
                actual: end,
            }),
            _ => Ok(()),
        }
    }

    /// Waits for the appending writer to finish (everything it was given on disk).
    async fn finish_sequential(&mut self) -> Result<Option<super::Hashed>, StoreError> {
        let Some(writer) = self.sequential.take() else {
            return Ok(None);
        };
        let path = self.ingest()?.data_path().to_owned();
        let hashed = off_runtime("write", move || {
            writer.finish().map_err(StoreError::io("write", &path))
        })
        .await?;
        Ok(Some(hashed))
    }

    /// Runs `work` on the ingest off the runtime, and takes the ingest back.
    async fn with_ingest<T: Send + 'static>(
        &mut self,
        work: impl FnOnce(&mut Ingest) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let mut ingest = self.ingest.take().ok_or_else(|| self.gone())?;
        let (ingest, result) = off_runtime("write", move || {
            let result = work(&mut ingest);
            Ok((ingest, result))
        })
        .await?;
        self.ingest = Some(ingest);
        result
    }
}

impl BlobWriter for LocalWriter {
    fn digest(&self) -> Option<&Digest> {
        match &self.key {
            Key::Digest(d) => Some(d),
            Key::Upload(_) => None,
        }
    }

    fn offset(&self) -> u64 {
        self.offset
    }

    async fn write(&mut self, chunk: Bytes) -> Result<(), StoreError> {
        self.check_room(self.offset.saturating_add(chunk.len() as u64))?;
        if self.sequential.is_none() {
            // Continue the hash from what the file holds (a resumed partial, positional
            // writes): read back once, then hash as the bytes pass.
            self.positional = None;
            let offset = self.offset;
            let writer = self
                .with_ingest(move |ingest| {
                    let hashed = ingest.rehash(offset)?;
                    ingest.append(hashed)
                })
                .await?;
            self.sequential = Some(writer);
        }
        let len = chunk.len() as u64;
        let accepted = match self.sequential.as_mut() {
            Some(writer) => writer.write(chunk).await,
            None => false,
        };
        if !accepted {
            // The writer thread stopped: its finish says why.
            self.finish_sequential().await?;
            return Err(self.gone());
        }
        self.offset += len;
        Ok(())
    }

    async fn write_at(&mut self, at: u64, bytes: Bytes) -> Result<(), StoreError> {
        self.finish_sequential().await?;
        let file = match &self.positional {
            Some(f) => f.clone(),
            None => {
                let f = Arc::new(self.ingest()?.positional()?);
                self.positional = Some(f.clone());
                f
            }
        };
        let path = self.ingest()?.data_path().to_owned();
        let end = at.saturating_add(bytes.len() as u64);
        self.check_room(end)?;
        off_runtime("write", move || {
            file.write_all_at(&bytes, at)
                .map_err(StoreError::io("write", &path))
        })
        .await?;
        self.offset = self.offset.max(end);
        Ok(())
    }

    async fn commit(mut self, digest: &Digest) -> Result<(), StoreError> {
        if let Key::Digest(own) = &self.key
            && own != digest
        {
            return Err(StoreError::Corrupt {
                path: format!("ingest of {own}").into(),
                reason: format!("it cannot be committed as {digest}"),
            });
        }
        let streamed = self.finish_sequential().await?;
        let offset = self.offset;
        let mut ingest = self.ingest.take().ok_or_else(|| self.gone())?;
        let (digest, lock) = (digest.clone(), self.lock.take());
        let (store, upload) = (self.store.clone(), matches!(self.key, Key::Upload(_)));
        off_runtime("commit", move || {
            // An upload becomes `digest` under that digest's lock, as a fetch of it would.
            let digest_lock = match upload {
                true => {
                    ingest.name(&store, &digest);
                    Some(store.lock_blocking(&digest)?)
                }
                false => None,
            };
            let hashed = match streamed {
                Some(h) => h,
                // Positional writes (or none at all): the file is read back once.
                None => ingest.rehash(offset.max(ingest.partial_len()?))?,
            };
            let result = match ingest.commit(hashed)? {
                Commit::Published(_) => Ok(()),
                Commit::Rejected(ingest, mismatch) => {
                    ingest.discard()?;
                    Err(StoreError::rejected(digest, mismatch))
                }
            };
            // Nothing is left to resume: the lock files go too.
            for lock in [lock, digest_lock].into_iter().flatten() {
                lock.release_and_remove();
            }
            result
        })
        .await
    }

    async fn abort(mut self) -> Result<(), StoreError> {
        self.finish_sequential().await.ok();
        let ingest = self.ingest.take().ok_or_else(|| self.gone())?;
        let lock = self.lock.take();
        off_runtime("remove", move || {
            let result = ingest.discard();
            if let Some(lock) = lock {
                lock.release_and_remove();
            }
            result
        })
        .await
    }

    async fn close(mut self) -> Result<u64, StoreError> {
        self.finish_sequential().await?;
        if let Some(file) = self.positional.take() {
            let path = self.ingest()?.data_path().to_owned();
            off_runtime("sync", move || {
                file.sync_data().map_err(StoreError::io("sync", &path))
            })
            .await?;
        }
        let offset = self.offset;
        if matches!(self.key, Key::Digest(_)) {
            // An upload's progress is its data file's length and time.
            self.with_ingest(move |ingest| {
                ingest.state.bytes = offset;
                ingest.save_state()
            })
            .await?;
        }
        Ok(offset)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::REF_NAME;

    const D1: &str = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    #[tokio::test]
    async fn keeps_the_content_store_contract() {
        let dir = tempfile::tempdir().unwrap();
        super::super::content::contract::check(Store::open(dir.path()).unwrap()).await;
    }

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
