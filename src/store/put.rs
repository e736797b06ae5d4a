//! Small blobs from memory (manifests), last-use marks, and the cache-wide lock that keeps
//! `cache gc`, `prune` and `rm` away from running fetches and pulls (taken through
//! [`Store::open_for`]).
//!
//! `put_bytes` goes through the same path as a download: per-digest lock, ingest file, fsync,
//! the verifying commit, rename. Last use is the blob file's access time, set explicitly (one
//! `futimens`, no data written), because `relatime` and `noatime` mounts do not keep it.

use std::fs::{self, File, FileTimes, OpenOptions};
use std::path::PathBuf;
use std::time::SystemTime;

use super::{Commit, Mismatch, Store, StoreError};
use crate::digest::Digest;

/// The file whose `flock` is shared by pulls and taken exclusively by maintenance.
const CACHE_LOCK: &str = "cache.lock";

/// How a [`CacheLock`] is held.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheLockMode {
    /// Fetches, pulls, `cache ls`/`du`/`verify`/`path`: many at once, none while
    /// maintenance runs.
    Shared,
    /// `cache gc`, `prune`, `rm`: alone.
    Exclusive,
}

/// A held cache-wide lock; dropping it releases it.
#[derive(Debug)]
pub struct CacheLock {
    _file: File,
}

impl Store {
    fn open_cache_lock(&self) -> Result<(File, PathBuf), StoreError> {
        let path = self.root().join("ingest").join(CACHE_LOCK);
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            // `flock` needs no write access: a lock file of another user (a shared cache)
            // still works opened for reading.
            .or_else(|e| match e.kind() {
                std::io::ErrorKind::PermissionDenied | std::io::ErrorKind::ReadOnlyFilesystem => {
                    File::open(&path)
                }
                _ => Err(e),
            })
            .map_err(StoreError::io("open lock file", &path))?;
        Ok((file, path))
    }

    /// Takes the cache-wide lock if it is free; `None` when another process holds it in a
    /// conflicting mode.
    pub(super) fn try_lock_cache(
        &self,
        mode: CacheLockMode,
    ) -> Result<Option<CacheLock>, StoreError> {
        let (file, path) = self.open_cache_lock()?;
        let attempt = match mode {
            CacheLockMode::Shared => file.try_lock_shared(),
            CacheLockMode::Exclusive => file.try_lock(),
        };
        match attempt {
            Ok(()) => Ok(Some(CacheLock { _file: file })),
            Err(fs::TryLockError::WouldBlock) => Ok(None),
            Err(fs::TryLockError::Error(e)) => Err(StoreError::io("lock", &path)(e)),
        }
    }

    /// Takes the cache-wide lock, waiting as long as it takes. Blocks the thread.
    pub(super) fn lock_cache_blocking(&self, mode: CacheLockMode) -> Result<CacheLock, StoreError> {
        let (file, path) = self.open_cache_lock()?;
        match mode {
            CacheLockMode::Shared => file.lock_shared(),
            CacheLockMode::Exclusive => file.lock(),
        }
        .map_err(StoreError::io("lock", &path))?;
        Ok(CacheLock { _file: file })
    }

    /// Stores `bytes` as the blob `digest` unless it is cached already; returns its path and
    /// whether it was cached. The verifying commit checks the bytes (a mismatch is
    /// [`StoreError::Mismatch`], and nothing is stored). Blocks: call it from `spawn_blocking`.
    pub fn put_bytes(&self, digest: &Digest, bytes: &[u8]) -> Result<(PathBuf, bool), StoreError> {
        let path = self.blob_path(digest);
        if self.lookup(digest)?.is_some() {
            return Ok((path, true));
        }
        let lock = self.lock_blocking(digest)?;
        if self.lookup(digest)?.is_some() {
            lock.release_and_remove();
            return Ok((path, true));
        }
        let ingest = self.ingest(&lock, digest)?;
        let hashed = ingest.write_all(bytes)?;
        let result = match ingest.commit(hashed)? {
            Commit::Published(path) => Ok((path, false)),
            Commit::Rejected(ingest, mismatch) => {
                ingest.discard()?;
                let actual = match mismatch {
                    Mismatch::Digest { actual, .. } => actual,
                    Mismatch::Size { .. } => crate::digest::digest_bytes(digest.algorithm(), bytes),
                };
                Err(StoreError::Mismatch {
                    expected: digest.clone(),
                    actual,
                    bytes: bytes.len() as u64,
                })
            }
        };
        lock.release_and_remove();
        result
    }

    /// Marks a cached blob as used now (its access time), for `cache prune`'s LRU order.
    /// Missing blobs are ignored.
    pub fn touch_blob(&self, digest: &Digest) -> Result<(), StoreError> {
        let path = self.blob_path(digest);
        match File::open(&path) {
            Ok(f) => f
                .set_times(FileTimes::new().set_accessed(SystemTime::now()))
                .map_err(StoreError::io("set the access time of", &path)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(StoreError::io("open", &path)(e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::digest::{Algorithm, digest_bytes};

    #[test]
    fn put_bytes_verifies_commits_and_is_idempotent() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let d = digest_bytes(Algorithm::Sha256, b"{}");
        let (path, cached) = store.put_bytes(&d, b"{}").unwrap();
        assert!(!cached);
        assert_eq!(fs::read(&path).unwrap(), b"{}");
        assert!(fs::metadata(&path).unwrap().permissions().readonly());
        assert!(store.put_bytes(&d, b"{}").unwrap().1);
        let other = digest_bytes(Algorithm::Sha256, b"x");
        let err = store.put_bytes(&other, b"y").unwrap_err().to_string();
        assert!(err.contains("hash to"), "{err}");
        assert!(!store.ingest_base(&other).join(other.hex()).exists());
        assert_eq!(store.lookup(&other).unwrap(), None);

        let old = SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_000_000);
        File::open(&path)
            .unwrap()
            .set_times(FileTimes::new().set_accessed(old))
            .unwrap();
        store.touch_blob(&d).unwrap();
        assert!(fs::metadata(&path).unwrap().accessed().unwrap() > old);
        store.touch_blob(&other).unwrap();
    }

    #[test]
    fn cache_lock_modes() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let a = store
            .try_lock_cache(CacheLockMode::Shared)
            .unwrap()
            .unwrap();
        let b = store
            .try_lock_cache(CacheLockMode::Shared)
            .unwrap()
            .unwrap();
        assert!(
            store
                .try_lock_cache(CacheLockMode::Exclusive)
                .unwrap()
                .is_none()
        );
        drop((a, b));
        let x = store.lock_cache_blocking(CacheLockMode::Exclusive).unwrap();
        assert!(
            store
                .try_lock_cache(CacheLockMode::Shared)
                .unwrap()
                .is_none()
        );
        drop(x);
    }
}
