//! What the cache holds on disk: the blobs in `blobs/`, the partial downloads and stray files
//! in `ingest/`, the quarantine; re-hashing a blob, moving it to the quarantine, and removing
//! any of them under the per-digest lock a fetch would hold.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use crate::digest::{Algorithm, Digest};
use crate::store::{LockAttempt, Store, StoreError, UploadId};

/// One verified blob on disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlobInfo {
    /// Its digest (from its path).
    pub digest: Digest,
    /// Its size.
    pub size: u64,
    /// When it was last used: the later of its access and modification times.
    pub last_use: SystemTime,
}

/// One thing in `ingest/` that is not a lock in use: a partial download, a stray lock file, or
/// a temporary `index.json`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IngestInfo {
    /// The directory or file.
    pub path: PathBuf,
    /// The digest it is for, when it is per digest.
    pub digest: Option<Digest>,
    /// The upload session it is (`ingest/uploads/<id>/` or its lock file), when it is one.
    pub upload: Option<UploadId>,
    /// Bytes it holds.
    pub size: u64,
    /// Last change.
    pub modified: SystemTime,
}

/// The result of re-hashing one blob.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Check {
    /// The bytes match the name.
    Good,
    /// The bytes hash to something else.
    Mismatch(Digest),
    /// There is no such blob.
    Missing,
}

/// How much the cache holds, by area (`cache du`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    /// Bytes in `blobs/`.
    pub blob_bytes: u64,
    /// Blobs in `blobs/`.
    pub blobs: usize,
    /// Bytes in `ingest/` (partial downloads, stray locks, temporary files).
    pub ingest_bytes: u64,
    /// Partial downloads (directories) in `ingest/`.
    pub partials: usize,
    /// Bytes in `quarantine/`.
    pub quarantine_bytes: u64,
    /// Files in `quarantine/`.
    pub quarantined: usize,
}

impl Usage {
    /// All bytes counted.
    pub fn total(&self) -> u64 {
        self.blob_bytes + self.ingest_bytes + self.quarantine_bytes
    }
}

/// Opens a blob for reading without marking it used: `cache verify`, `ls` and `gc` read blobs
/// too, and their reads must not reorder `cache prune`'s LRU. `O_NOATIME` is refused for files
/// of another user (a shared cache); those are opened normally.
pub(super) fn open_unmarked(path: &Path) -> io::Result<fs::File> {
    #[cfg(target_os = "linux")]
    {
        use std::os::unix::fs::OpenOptionsExt;
        let flags = rustix::fs::OFlags::NOATIME.bits() as i32;
        match fs::OpenOptions::new()
            .read(true)
            .custom_flags(flags)
            .open(path)
        {
            Err(e) if e.raw_os_error() == Some(rustix::io::Errno::PERM.raw_os_error()) => {}
            other => return other,
        }
    }
    fs::File::open(path)
}

fn last_use(m: &fs::Metadata) -> SystemTime {
    let mtime = m.modified().unwrap_or(SystemTime::UNIX_EPOCH);
    m.accessed().map_or(mtime, |a| a.max(mtime))
}

fn read_dir_or_empty(dir: &Path) -> Result<Vec<fs::DirEntry>, StoreError> {
    match fs::read_dir(dir) {
        Ok(rd) => rd
            .collect::<Result<Vec<_>, _>>()
            .map_err(StoreError::io("read directory", dir)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(StoreError::io("read directory", dir)(e)),
    }
}

fn algorithms() -> [Algorithm; 2] {
    [Algorithm::Sha256, Algorithm::Sha512]
}

/// Size of a file, or of everything below a directory (not following symlinks).
fn tree_size(path: &Path) -> u64 {
    match fs::symlink_metadata(path) {
        Ok(m) if m.is_dir() => fs::read_dir(path)
            .map(|rd| rd.flatten().map(|e| tree_size(&e.path())).sum())
            .unwrap_or(0),
        Ok(m) => m.len(),
        Err(_) => 0,
    }
}

/// Removes a file or a directory tree; missing is fine.
fn remove_path(path: &Path) -> Result<(), StoreError> {
    let result = if path.is_dir() {
        fs::remove_dir_all(path)
    } else {
        fs::remove_file(path)
    };
    match result {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(StoreError::io("remove", path)(e)),
        _ => Ok(()),
    }
}

impl Store {
    /// Every blob in `blobs/`, sorted by digest, and the paths there that are not blobs
    /// (unknown names, directories, symlinks).
    pub fn blobs(&self) -> Result<(Vec<BlobInfo>, Vec<PathBuf>), StoreError> {
        let mut blobs = Vec::new();
        let mut strange = Vec::new();
        let base = self.root().join("blobs");
        for entry in read_dir_or_empty(&base)? {
            let alg = entry.file_name().to_string_lossy().into_owned();
            if !algorithms().iter().any(|a| a.as_str() == alg) {
                strange.push(entry.path());
                continue;
            }
            for e in read_dir_or_empty(&entry.path())? {
                let path = e.path();
                let name = e.file_name().to_string_lossy().into_owned();
                let digest = format!("{alg}:{name}").parse::<Digest>();
                let meta = fs::symlink_metadata(&path).map_err(StoreError::io("inspect", &path))?;
                match digest {
                    Ok(digest) if meta.is_file() => blobs.push(BlobInfo {
                        digest,
                        size: meta.len(),
                        last_use: last_use(&meta),
                    }),
                    _ => strange.push(path),
                }
            }
        }
        blobs.sort_by(|a, b| a.digest.cmp(&b.digest));
        Ok((blobs, strange))
    }

    /// Partial downloads, stray lock files and temporary files in `ingest/`, excluding the
    /// cache-wide lock files.
    pub fn ingests(&self) -> Result<Vec<IngestInfo>, StoreError> {
        let base = self.root().join("ingest");
        let mut found = Vec::new();
        let info = |path: PathBuf, digest: Option<Digest>| -> Option<IngestInfo> {
            let meta = fs::symlink_metadata(&path).ok()?;
            let mut modified = meta.modified().unwrap_or(SystemTime::UNIX_EPOCH);
            if meta.is_dir() {
                // state.json is rewritten as the download advances; the directory's own
                // mtime is not.
                for f in ["state.json", "data"] {
                    if let Ok(t) = fs::metadata(path.join(f)).and_then(|m| m.modified()) {
                        modified = modified.max(t);
                    }
                }
            }
            Some(IngestInfo {
                size: tree_size(&path),
                path,
                digest,
                upload: None,
                modified,
            })
        };
        for entry in read_dir_or_empty(&base)? {
            let name = entry.file_name().to_string_lossy().into_owned();
            if let Some(alg) = algorithms().into_iter().find(|a| a.as_str() == name) {
                for e in read_dir_or_empty(&entry.path())? {
                    let file = e.file_name().to_string_lossy().into_owned();
                    let hex = file.strip_suffix(".lock").unwrap_or(&file);
                    let digest = format!("{alg}:{hex}").parse::<Digest>().ok();
                    found.extend(info(e.path(), digest));
                }
            } else if name.ends_with(".tmp") {
                found.extend(info(entry.path(), None));
            } else if name == "uploads" {
                // Push sessions (`serve --allow-push`): a directory per session and its lock.
                for e in read_dir_or_empty(&entry.path())? {
                    let file = e.file_name().to_string_lossy().into_owned();
                    let id = file.strip_suffix(".lock").unwrap_or(&file);
                    if let Ok(id) = id.parse::<UploadId>()
                        && let Some(mut item) = info(e.path(), None)
                    {
                        item.upload = Some(id);
                        found.push(item);
                    }
                }
            }
        }
        found.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(found)
    }

    /// Files in `quarantine/` (blobs that failed `cache verify`).
    pub fn quarantined(&self) -> Result<Vec<(PathBuf, u64)>, StoreError> {
        let base = self.root().join("quarantine");
        let mut found = Vec::new();
        for alg in read_dir_or_empty(&base)? {
            for e in read_dir_or_empty(&alg.path())? {
                found.push((e.path(), tree_size(&e.path())));
            }
        }
        found.sort();
        Ok(found)
    }

    /// How much `blobs/`, `ingest/` and `quarantine/` hold.
    pub fn usage(&self) -> Result<Usage, StoreError> {
        let (blobs, _) = self.blobs()?;
        let ingest = self.ingests()?;
        let quarantine = self.quarantined()?;
        Ok(Usage {
            blob_bytes: blobs.iter().map(|b| b.size).sum(),
            blobs: blobs.len(),
            ingest_bytes: ingest.iter().map(|i| i.size).sum(),
            partials: ingest.iter().filter(|i| i.path.is_dir()).count(),
            quarantine_bytes: quarantine.iter().map(|q| q.1).sum(),
            quarantined: quarantine.len(),
        })
    }

    /// Re-hashes a blob (without marking it used).
    pub fn check_blob(&self, digest: &Digest) -> Result<Check, StoreError> {
        let path = self.blob_path(digest);
        let file = match open_unmarked(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Check::Missing),
            Err(e) => return Err(StoreError::io("open", &path)(e)),
        };
        let mut verifier = digest.algorithm().verifier();
        crate::store::hash_reader(file, &mut verifier, u64::MAX)
            .map_err(StoreError::io("read", &path))?;
        let actual = verifier.finish();
        Ok(if &actual == digest {
            Check::Good
        } else {
            Check::Mismatch(actual)
        })
    }

    /// Re-hashes a blob and moves it to the quarantine if it does not match, under its
    /// per-digest lock and after hashing it once more there: a fetch with `--verify-cached`
    /// may have replaced it with good bytes between the first check and the lock.
    pub fn verify_and_quarantine(
        &self,
        digest: &Digest,
    ) -> Result<(Check, Option<PathBuf>), StoreError> {
        let first = self.check_blob(digest)?;
        if !matches!(first, Check::Mismatch(_)) {
            return Ok((first, None));
        }
        let lock = self.lock_blocking(digest)?;
        let check = self.check_blob(digest);
        let result = match check {
            Ok(check @ Check::Mismatch(_)) => self
                .quarantine_blob(digest)
                .map(|moved| (check, Some(moved))),
            other => other.map(|c| (c, None)),
        };
        lock.release_and_remove();
        result
    }

    /// Moves a blob out of `blobs/` into `quarantine/<alg>/<hex>` (kept for inspection until
    /// `cache gc`); returns the new path. The caller holds the blob's per-digest lock.
    pub fn quarantine_blob(&self, digest: &Digest) -> Result<PathBuf, StoreError> {
        let dir = self
            .root()
            .join("quarantine")
            .join(digest.algorithm().as_str());
        fs::create_dir_all(&dir).map_err(StoreError::io("create directory", &dir))?;
        let to = dir.join(digest.hex());
        let from = self.blob_path(digest);
        fs::rename(&from, &to).map_err(StoreError::io("move to quarantine", &from))?;
        Ok(to)
    }

    /// Removes an entry of [`Store::quarantined`].
    pub(super) fn remove_quarantined(&self, path: &Path) -> Result<(), StoreError> {
        fs::remove_file(path)
            .or_else(|_| fs::remove_dir_all(path))
            .map_err(StoreError::io("remove", path))
    }

    /// Removes a blob unless a fetch holds its lock. `Ok(false)` when it was left alone.
    pub fn remove_blob_unless_locked(&self, digest: &Digest) -> Result<bool, StoreError> {
        match self.try_lock(digest)? {
            LockAttempt::Acquired(lock) => {
                let result = self.remove_blob(digest);
                lock.release_and_remove();
                result.map(|()| true)
            }
            LockAttempt::Busy { .. } => Ok(false),
        }
    }

    /// Removes an ingest entry (a partial download directory, a stray lock, a temporary file)
    /// unless its digest's lock is held. `Ok(false)` when it was left alone.
    pub fn remove_ingest_unless_locked(&self, item: &IngestInfo) -> Result<bool, StoreError> {
        if let Some(id) = &item.upload {
            // A session a request is writing to is live, however old it is.
            let Some(lock) = self.try_lock_upload(id)? else {
                return Ok(false);
            };
            if item.path.extension().is_none_or(|e| e != "lock") {
                remove_path(&item.path)?;
            }
            lock.release_and_remove();
            return Ok(true);
        }
        let Some(digest) = &item.digest else {
            remove_path(&item.path)?;
            return Ok(true);
        };
        match self.try_lock(digest)? {
            LockAttempt::Acquired(lock) => {
                // The lock file itself goes with the lock (see lock.rs: release_and_remove).
                if item.path.extension().is_none_or(|e| e != "lock") {
                    remove_path(&item.path)?;
                }
                lock.release_and_remove();
                Ok(true)
            }
            LockAttempt::Busy { .. } => Ok(false),
        }
    }

    /// Whether a fetch holds the blob's lock now (for `--dry-run`, which removes nothing).
    pub fn is_locked(&self, digest: &Digest) -> Result<bool, StoreError> {
        Ok(match self.try_lock(digest)? {
            LockAttempt::Acquired(lock) => {
                lock.release_and_remove();
                false
            }
            LockAttempt::Busy { .. } => true,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::digest::digest_bytes;
    use crate::store::maintain::fixtures::put_blocking as put;

    #[test]
    fn verify_quarantines_under_the_digest_lock() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let d = put(&store, b"good bytes");
        let path = store.blob_path(&d);
        fs::remove_file(&path).unwrap();
        fs::write(&path, b"bad bytes!").unwrap();
        // A fetch with --verify-cached holds the lock and puts the right bytes back; verify,
        // which found the blob bad, must not quarantine the good one it finds under the lock.
        let lock = store.lock_blocking(&d).unwrap();
        let (s2, d2) = (store.clone(), d.clone());
        let verifier = std::thread::spawn(move || s2.verify_and_quarantine(&d2).unwrap());
        // Put the good bytes back the way a commit does, by an atomic rename: the verifier's
        // first look (taken without the lock) sees either the bad file or the good one, never none.
        let fixed = dir.path().join("fixed");
        fs::write(&fixed, b"good bytes").unwrap();
        fs::rename(&fixed, &path).unwrap();
        lock.release_and_remove();
        assert_eq!(verifier.join().unwrap(), (Check::Good, None));
        assert_eq!(fs::read(&path).unwrap(), b"good bytes");

        fs::remove_file(&path).unwrap();
        fs::write(&path, b"bad bytes!").unwrap();
        let (check, moved) = store.verify_and_quarantine(&d).unwrap();
        assert!(matches!(check, Check::Mismatch(_)));
        assert_eq!(fs::read(moved.unwrap()).unwrap(), b"bad bytes!");
        assert_eq!(store.lookup(&d).unwrap(), None);
    }

    #[test]
    fn check_and_quarantine() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let d = put(&store, b"good bytes");
        assert_eq!(store.check_blob(&d).unwrap(), Check::Good);
        let path = store.blob_path(&d);
        let mut perms = fs::metadata(&path).unwrap().permissions();
        #[allow(clippy::permissions_set_readonly_false)]
        perms.set_readonly(false);
        fs::set_permissions(&path, perms).unwrap();
        fs::write(&path, b"bad bytes!").unwrap();
        assert_eq!(
            store.check_blob(&d).unwrap(),
            Check::Mismatch(digest_bytes(Algorithm::Sha256, b"bad bytes!"))
        );
        let q = store.quarantine_blob(&d).unwrap();
        assert_eq!(fs::read(q).unwrap(), b"bad bytes!");
        assert_eq!(store.check_blob(&d).unwrap(), Check::Missing);
        assert_eq!(store.quarantined().unwrap().len(), 1);
        let (blobs, strange) = store.blobs().unwrap();
        assert!(blobs.is_empty() && strange.is_empty());
        fs::write(dir.path().join("blobs/sha256/not-a-digest"), b"").unwrap();
        assert_eq!(store.blobs().unwrap().1.len(), 1);
    }
}
