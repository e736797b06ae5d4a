//! One lock per digest, shared by every process that fetches into the same cache.
//!
//! The lock is `flock(2)` through std's `File::lock` on `ingest/<alg>/<hex>.lock`. The kernel
//! releases it when the holder dies, so a killed process never blocks others. The holder writes
//! its pid into the file so that a waiter can say whom it waits for. Whoever takes the lock
//! must look in `blobs/` again before downloading: the previous holder may have published the
//! blob (and removed the lock file) meanwhile.

use std::fs::{self, File, OpenOptions, TryLockError};
use std::io::{Read, Seek, Write};
use std::path::PathBuf;

use super::{Store, StoreError};
use crate::digest::Digest;

/// A held per-digest (or per-upload) lock. Dropping it releases the lock.
#[derive(Debug)]
pub struct IngestLock {
    file: File,
    path: PathBuf,
    /// The digest it is for; `None` for an upload session's lock.
    digest: Option<Digest>,
}

/// The result of [`Store::try_lock`].
#[derive(Debug)]
pub enum LockAttempt {
    /// The lock is ours.
    Acquired(IngestLock),
    /// Another process holds it; its pid when it wrote one.
    Busy {
        /// The holder's pid.
        holder: Option<u32>,
    },
}

impl Store {
    fn lock_path(&self, digest: &Digest) -> PathBuf {
        self.ingest_base(digest)
            .join(format!("{}.lock", digest.hex()))
    }

    fn open_lock(&self, digest: &Digest) -> Result<(File, PathBuf), StoreError> {
        open_lock_file(self.lock_path(digest))
    }

    /// Takes the lock of upload session `id` (`ingest/uploads/<id>.lock`), waiting while
    /// another request or process holds it. Blocks the thread.
    pub fn lock_upload_blocking(&self, id: &super::UploadId) -> Result<IngestLock, StoreError> {
        let path = self.uploads_dir().join(format!("{}.lock", id.as_str()));
        lock_blocking_at(path, None)
    }

    /// Takes the lock of upload session `id` if no writer holds it; `None` when one does.
    pub fn try_lock_upload(&self, id: &super::UploadId) -> Result<Option<IngestLock>, StoreError> {
        let path = self.uploads_dir().join(format!("{}.lock", id.as_str()));
        loop {
            let (file, path) = open_lock_file(path.clone())?;
            match file.try_lock() {
                Ok(()) if !still_linked(&file, &path) => continue,
                Ok(()) => return IngestLock::new(file, path, None).map(Some),
                Err(TryLockError::WouldBlock) => return Ok(None),
                Err(TryLockError::Error(e)) => return Err(StoreError::io("lock", &path)(e)),
            }
        }
    }

    /// Whether a writer holds upload session `id` right now.
    pub fn upload_is_locked(&self, id: &super::UploadId) -> Result<bool, StoreError> {
        let path = self.uploads_dir().join(format!("{}.lock", id.as_str()));
        let file = match File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
            Err(e) => return Err(StoreError::io("open lock file", &path)(e)),
        };
        match file.try_lock() {
            Ok(()) => Ok(false),
            Err(TryLockError::WouldBlock) => Ok(true),
            Err(TryLockError::Error(e)) => Err(StoreError::io("lock", &path)(e)),
        }
    }
}

fn open_lock_file(path: PathBuf) -> Result<(File, PathBuf), StoreError> {
    {
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).map_err(StoreError::io("create directory", parent))?;
        }
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(StoreError::io("open lock file", &path))?;
        Ok((file, path))
    }
}

/// Takes the lock file at `path`, waiting as long as another holds it (see `still_linked`).
fn lock_blocking_at(path: PathBuf, digest: Option<&Digest>) -> Result<IngestLock, StoreError> {
    loop {
        let (file, path) = open_lock_file(path.clone())?;
        file.lock().map_err(StoreError::io("lock", &path))?;
        if still_linked(&file, &path) {
            return IngestLock::new(file, path, digest);
        }
    }
}

impl Store {
    /// Takes the lock for `digest` if it is free, without waiting.
    pub fn try_lock(&self, digest: &Digest) -> Result<LockAttempt, StoreError> {
        loop {
            let (mut file, path) = self.open_lock(digest)?;
            match file.try_lock() {
                Ok(()) if !still_linked(&file, &path) => continue,
                Ok(()) => {
                    let lock = IngestLock::new(file, path, Some(digest))?;
                    return Ok(LockAttempt::Acquired(lock));
                }
                Err(TryLockError::WouldBlock) => {
                    let mut text = String::new();
                    let _ = file.read_to_string(&mut text);
                    return Ok(LockAttempt::Busy {
                        holder: text.trim().parse().ok(),
                    });
                }
                Err(TryLockError::Error(e)) => return Err(StoreError::io("lock", &path)(e)),
            }
        }
    }

    /// Takes the lock for `digest`, waiting as long as another process holds it. Blocks the
    /// thread: call it from `spawn_blocking`.
    pub fn lock_blocking(&self, digest: &Digest) -> Result<IngestLock, StoreError> {
        lock_blocking_at(self.lock_path(digest), Some(digest))
    }
}

/// Whether `file` is still the file at `path`. The holder removes the lock file before it
/// releases the lock, so a waiter that wakes up on an unlinked file must open the path again
/// rather than share the lock with a newcomer who created a fresh file there.
fn still_linked(file: &File, path: &std::path::Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (file.metadata(), fs::metadata(path)) {
        (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
        _ => false,
    }
}

impl IngestLock {
    fn new(
        mut file: File,
        path: PathBuf,
        digest: Option<&Digest>,
    ) -> Result<IngestLock, StoreError> {
        // The pid is advice for waiters' messages only; failing to write it is harmless.
        let _ = file
            .set_len(0)
            .and_then(|()| file.rewind())
            .and_then(|()| write!(file, "{}", std::process::id()));
        Ok(IngestLock {
            file,
            path,
            digest: digest.cloned(),
        })
    }

    /// The digest this lock is for (`None`: an upload session's).
    pub fn digest(&self) -> Option<&Digest> {
        self.digest.as_ref()
    }

    /// Releases the lock and removes the lock file (while still holding it, so waiters notice;
    /// see `still_linked`).
    pub fn release_and_remove(self) {
        let _ = fs::remove_file(&self.path);
        drop(self.file);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::digest::{Algorithm, digest_bytes};

    /// Returns once a thread of this process is blocked in `flock` on `held`'s file, so the
    /// test provably exercises a waiter that sleeps on the file the holder then removes.
    /// Linux lists each blocked waiter in `/proc/locks` under the lock it waits for, as
    /// `N: -> FLOCK ADVISORY WRITE <pid> <maj>:<min>:<inode> 0 EOF`.
    fn wait_for_flock_waiter(held: &File) {
        use std::os::unix::fs::MetadataExt;
        let inode = format!(":{}", held.metadata().unwrap().ino());
        let pid = std::process::id().to_string();
        let waiting = || {
            let locks = fs::read_to_string("/proc/locks").expect("read /proc/locks (Linux)");
            locks.lines().any(|line| {
                let fields: Vec<&str> = line.split_whitespace().collect();
                fields.get(1) == Some(&"->")
                    && fields.get(5) == Some(&pid.as_str())
                    && fields.get(6).is_some_and(|f| f.ends_with(&inode))
            })
        };
        // The deadline only keeps a regression from hanging the run.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        while !waiting() {
            assert!(
                std::time::Instant::now() < deadline,
                "no thread ever waited on the lock"
            );
            std::thread::sleep(std::time::Duration::from_millis(2));
        }
    }

    #[test]
    fn second_locker_sees_busy_with_pid() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let d = digest_bytes(Algorithm::Sha256, b"x");
        let held = store.lock_blocking(&d).unwrap();
        match store.try_lock(&d).unwrap() {
            LockAttempt::Busy { holder } => assert_eq!(holder, Some(std::process::id())),
            LockAttempt::Acquired(_) => panic!("a held lock was acquired twice"),
        }
        drop(held);
        let LockAttempt::Acquired(lock) = store.try_lock(&d).unwrap() else {
            panic!("a free lock was busy");
        };
        // A waiter blocked on the file that the holder removes must not keep that file's lock
        // while a newcomer locks a fresh file at the same path.
        let (s2, d2) = (store.clone(), d.clone());
        let waiter = std::thread::spawn(move || s2.lock_blocking(&d2).unwrap());
        wait_for_flock_waiter(&lock.file);
        lock.release_and_remove();
        let got = waiter.join().unwrap();
        assert!(matches!(
            store.try_lock(&d).unwrap(),
            LockAttempt::Busy { .. }
        ));
        drop(got);
    }
}
