//! Last-use marks of the local store. (Small blobs from memory go in through
//! [`content::put_bytes`](super::content::put_bytes), over the store's writer like any blob.)
//!
//! Last use is the blob file's access time, set explicitly (one `futimens`, no data written),
//! because `relatime` and `noatime` mounts do not keep it.

use std::fs::{File, FileTimes};
use std::time::SystemTime;

use super::{Store, StoreError};
use crate::digest::Digest;

impl Store {
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

    #[tokio::test]
    async fn put_bytes_verifies_commits_and_is_idempotent() {
        use crate::store::content::put_bytes;
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let d = digest_bytes(Algorithm::Sha256, b"{}");
        let put = |d: &Digest, b: &'static [u8]| {
            let d = d.clone();
            let store = store.clone();
            async move { put_bytes(&store, &d, bytes::Bytes::from_static(b)).await }
        };
        let cached = put(&d, b"{}").await.unwrap();
        let path = store.blob_path(&d);
        assert!(!cached);
        assert_eq!(fs::read(&path).unwrap(), b"{}");
        assert!(fs::metadata(&path).unwrap().permissions().readonly());
        assert!(put(&d, b"{}").await.unwrap());
        let other = digest_bytes(Algorithm::Sha256, b"x");
        let err = put(&other, b"y").await.unwrap_err().to_string();
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
