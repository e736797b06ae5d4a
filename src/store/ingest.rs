//! Partial downloads: `ingest/<alg>/<hex>/data` plus `state.json`, and their commit into
//! `blobs/`.
//!
//! The data file only ever grows by appending bytes in order, so whatever it holds is a prefix
//! of the blob (or garbage after a power loss, which verification catches). The state file says
//! what the data is for (digest, expected size, source), so a later process can resume it; it
//! is rewritten atomically. An [`Ingest`] exists only while its [`IngestLock`] is held, which
//! is why the functions here need one.

use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use super::{IngestLock, Store, StoreError, hash_reader, sync_dir};
use crate::digest::{Digest, Verifier};

/// What a partial download is for, kept in `state.json` beside its data.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IngestState {
    /// The digest the data must hash to.
    pub digest: Digest,
    /// The blob size, once a response told it.
    pub size: Option<u64>,
    /// Where the bytes come from (`registry/repository`), for humans and `cache ls`.
    pub source: Option<String>,
    /// Bytes in the data file when the state was last written (the file length is the truth).
    pub bytes: u64,
    /// Unix seconds of the last update, for ingest garbage collection.
    pub updated: u64,
    /// For a segmented download: each segment's range and progress. The data file then has
    /// holes, and only `start..start + written` of each segment is valid.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub segments: Option<Vec<Segment>>,
}

/// One range of a segmented download.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Segment {
    /// First byte.
    pub start: u64,
    /// One past the last byte.
    pub end: u64,
    /// Bytes written from `start` on.
    pub written: u64,
}

impl Segment {
    /// Whether every byte of the segment is written.
    pub fn is_done(&self) -> bool {
        self.start + self.written >= self.end
    }
}

/// A partial download of one digest, held under its lock.
#[derive(Debug)]
pub struct Ingest {
    dir: PathBuf,
    data: PathBuf,
    blob: PathBuf,
    /// The state as last read or written.
    pub state: IngestState,
}

impl Store {
    /// Opens (or starts) the ingest entry for `digest`. The lock proves no other process
    /// writes it.
    pub fn ingest(&self, lock: &IngestLock, digest: &Digest) -> Result<Ingest, StoreError> {
        debug_assert_eq!(lock.digest(), digest);
        let dir = self.ingest_base(digest).join(digest.hex());
        fs::create_dir_all(&dir).map_err(StoreError::io("create directory", &dir))?;
        let state_path = dir.join("state.json");
        // A state file that is missing, unreadable or for another digest means the data
        // cannot be trusted as a prefix of this blob: start over.
        let state = fs::read(&state_path)
            .ok()
            .and_then(|b| serde_json::from_slice::<IngestState>(&b).ok())
            .filter(|s| &s.digest == digest);
        let data = dir.join("data");
        let state = match state {
            Some(s) => s,
            None => {
                truncate(&data, 0)?;
                IngestState {
                    digest: digest.clone(),
                    size: None,
                    source: None,
                    bytes: 0,
                    updated: now(),
                    segments: None,
                }
            }
        };
        Ok(Ingest {
            blob: self.blob_path(digest),
            dir,
            data,
            state,
        })
    }
}

impl Ingest {
    /// The data file.
    pub fn data_path(&self) -> &Path {
        &self.data
    }

    /// How many bytes the data file holds.
    pub fn partial_len(&self) -> Result<u64, StoreError> {
        match fs::metadata(&self.data) {
            Ok(m) => Ok(m.len()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(0),
            Err(e) => Err(StoreError::io("inspect", &self.data)(e)),
        }
    }

    /// Hashes the first `len` bytes of the data file (to resume a download's hash state).
    pub fn rehash(&self, len: u64) -> Result<Verifier, StoreError> {
        let mut verifier = self.state.digest.algorithm().verifier();
        if len > 0 {
            let file = File::open(&self.data).map_err(StoreError::io("open", &self.data))?;
            hash_reader(file, &mut verifier, len).map_err(StoreError::io("read", &self.data))?;
        }
        Ok(verifier)
    }

    /// Opens the data file for positional reads and writes (segmented downloads), keeping
    /// whatever it holds.
    pub fn positional(&self) -> Result<File, StoreError> {
        OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&self.data)
            .map_err(StoreError::io("open", &self.data))
    }

    /// Opens the data file for appending at `offset`, dropping anything after it.
    pub fn writer(&self, offset: u64) -> Result<File, StoreError> {
        truncate(&self.data, offset)?;
        OpenOptions::new()
            .append(true)
            .open(&self.data)
            .map_err(StoreError::io("open", &self.data))
    }

    /// Writes the state file atomically (temp file + rename).
    pub fn save_state(&mut self) -> Result<(), StoreError> {
        self.state.updated = now();
        let path = self.dir.join("state.json");
        let tmp = self.dir.join("state.json.tmp");
        let json = serde_json::to_vec(&self.state).expect("ingest state always serializes");
        fs::write(&tmp, json).map_err(StoreError::io("write", &tmp))?;
        fs::rename(&tmp, &path).map_err(StoreError::io("rename", &tmp))
    }

    /// Throws the partial download away (after a digest mismatch).
    pub fn discard(self) -> Result<(), StoreError> {
        remove_dir(&self.dir)
    }

    /// Publishes the data file as the verified blob. The caller has verified size and digest
    /// and fsynced the data; this makes the file read-only, renames it into `blobs/` (atomic,
    /// same file system) and fsyncs the directory. If the blob is already there, the ingest is
    /// simply removed.
    pub fn commit(self) -> Result<PathBuf, StoreError> {
        let parent = self.blob.parent().expect("blob paths have a parent");
        fs::create_dir_all(parent).map_err(StoreError::io("create directory", parent))?;
        if self.blob.is_file() {
            remove_dir(&self.dir)?;
            return Ok(self.blob);
        }
        // Read-only: the cache is shared, and `-o` may hand out hard links to it.
        fs::set_permissions(&self.data, fs::Permissions::from_mode(0o444))
            .map_err(StoreError::io("set permissions of", &self.data))?;
        fs::rename(&self.data, &self.blob).map_err(StoreError::io("rename", &self.data))?;
        sync_dir(parent)?;
        remove_dir(&self.dir)?;
        Ok(self.blob)
    }
}

fn truncate(path: &Path, len: u64) -> Result<(), StoreError> {
    let file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .map_err(StoreError::io("open", path))?;
    if file.metadata().map(|m| m.len()).unwrap_or(0) != len {
        file.set_len(len)
            .map_err(StoreError::io("truncate", path))?;
    }
    Ok(())
}

fn remove_dir(dir: &Path) -> Result<(), StoreError> {
    match fs::remove_dir_all(dir) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(StoreError::io("remove", dir)(e)),
        _ => Ok(()),
    }
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;
    use crate::digest::{Algorithm, digest_bytes};

    fn setup() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        (dir, store)
    }

    #[test]
    fn write_resume_and_commit() {
        let (_dir, store) = setup();
        let blob = b"hello, layered world".to_vec();
        let d = digest_bytes(Algorithm::Sha256, &blob);
        let lock = store.lock_blocking(&d).unwrap();
        let mut ingest = store.ingest(&lock, &d).unwrap();
        ingest.state.size = Some(blob.len() as u64);
        ingest.save_state().unwrap();
        ingest.writer(0).unwrap().write_all(&blob[..5]).unwrap();
        drop(ingest);

        // A new process: the state survives, the partial is a prefix, the hash resumes.
        let ingest = store.ingest(&lock, &d).unwrap();
        assert_eq!(ingest.state.size, Some(blob.len() as u64));
        assert_eq!(ingest.partial_len().unwrap(), 5);
        let mut v = ingest.rehash(5).unwrap();
        let mut w = ingest.writer(5).unwrap();
        w.write_all(&blob[5..]).unwrap();
        w.sync_all().unwrap();
        v.update(&blob[5..]);
        assert_eq!(v.finish(), d);
        let path = ingest.commit().unwrap();
        assert_eq!(fs::read(&path).unwrap(), blob);
        assert_eq!(store.lookup(&d).unwrap(), Some(blob.len() as u64));
        assert!(fs::metadata(&path).unwrap().permissions().readonly());
        assert!(!store.ingest_base(&d).join(d.hex()).exists());
    }

    #[test]
    fn commit_when_blob_exists_keeps_it_and_cleans_up() {
        let (_dir, store) = setup();
        let d = digest_bytes(Algorithm::Sha256, b"abc");
        let lock = store.lock_blocking(&d).unwrap();
        for _ in 0..2 {
            let ingest = store.ingest(&lock, &d).unwrap();
            ingest.writer(0).unwrap().write_all(b"abc").unwrap();
            ingest.commit().unwrap();
        }
        assert_eq!(fs::read(store.blob_path(&d)).unwrap(), b"abc");
    }

    #[test]
    fn data_without_state_is_not_trusted() {
        let (_dir, store) = setup();
        let d = digest_bytes(Algorithm::Sha256, b"abc");
        let lock = store.lock_blocking(&d).unwrap();
        let ingest = store.ingest(&lock, &d).unwrap();
        ingest.writer(0).unwrap().write_all(b"zz").unwrap();
        drop(ingest);
        let ingest = store.ingest(&lock, &d).unwrap();
        assert_eq!(ingest.partial_len().unwrap(), 0);
    }

    #[test]
    fn discard_removes_everything() {
        let (_dir, store) = setup();
        let d = digest_bytes(Algorithm::Sha256, b"abc");
        let lock = store.lock_blocking(&d).unwrap();
        let mut ingest = store.ingest(&lock, &d).unwrap();
        ingest.save_state().unwrap();
        ingest.writer(0).unwrap().write_all(b"abd").unwrap();
        ingest.discard().unwrap();
        assert_eq!(store.lookup(&d).unwrap(), None);
        assert!(!store.ingest_base(&d).join(d.hex()).exists());
    }
}
