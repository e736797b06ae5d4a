//! The cache-wide lock (`ingest/cache.lock`) that keeps `cache gc`, `prune` and `rm` away from
//! running fetches and pulls: they hold it shared, maintenance exclusively. Commands take it
//! through the store type ([`Store::open_for`], [`Store::open_existing_for`]), which try it
//! first and wait off the async runtime only when it is busy.

use std::fs::{self, File, OpenOptions};
use std::path::PathBuf;

use super::{Store, StoreError};

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
}

#[cfg(test)]
mod tests {
    use super::*;

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
