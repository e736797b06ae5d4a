//! Small blobs from memory (manifests) and last-use marks.
//!
//! `put_bytes` goes through the same path as a download: per-digest lock, ingest file, fsync,
//! the verifying commit, rename. Last use is the blob file's access time, set explicitly (one
//! `futimens`, no data written), because `relatime` and `noatime` mounts do not keep it.

use std::fs::{File, FileTimes};
use std::path::PathBuf;
use std::time::SystemTime;

use super::{Commit, Mismatch, Store, StoreError};
use crate::digest::Digest;

impl Store {
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
    use std::fs;

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
}
