//! Partial downloads: `ingest/<alg>/<hex>/data` plus `state.json`, and their verifying commit
//! into `blobs/`.
//!
//! The data file only ever grows by appending bytes in order (or, for a segmented download, by
//! positional writes inside the recorded segments), so whatever it holds is a prefix of the
//! blob or garbage that verification catches. The state file says what the data is for
//! (digest, expected size, source), so a later process can resume it; it is rewritten
//! atomically. An [`Ingest`] exists only while its [`IngestLock`] is held, which is why the
//! functions here need one.
//!
//! Verification lives here, once (issue 9, item 7): [`Ingest::commit`] publishes only with a
//! [`Hashed`], the hash state of the data file that the store itself computed, either from the
//! bytes its own [`IngestWriter`] wrote or from reading the file back ([`Ingest::rehash`],
//! [`PrefixHasher`]). Callers cannot make one, so commit never takes their word for what the
//! data holds; it checks digest and size itself, fsyncs the data before the rename and the
//! directories after it, and hands back a rejected ingest for the caller to restart or discard.
//! Hashing stays where the bytes pass anyway (the network task feeds the writer), so nothing is
//! hashed twice. The machinery that writes and hashes the data file is in `write`.

mod write;

use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

mod positional;
mod upload;

pub use positional::{Extents, PositionalWriter};
pub use upload::UploadState;
pub use write::{Flusher, IngestWriter, PrefixHasher, WRITE_QUEUE};

use super::{IngestLock, Store, StoreError, sync_dir};
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
    /// Whether every byte of the segment is written. (The numbers come from `state.json`, which
    /// a crash or a person may have garbled: no arithmetic here may overflow.)
    pub fn is_done(&self) -> bool {
        self.written >= self.end.saturating_sub(self.start)
    }
}

/// Whether `segments` are a plan for `size` bytes: in order, adjacent, non-empty, covering
/// `0..size` exactly, none written past its end. A recorded plan that is not is dropped.
pub fn is_valid_plan(segments: &[Segment], size: u64) -> bool {
    let mut pos = 0u64;
    for s in segments {
        if s.start != pos || s.end <= s.start || s.written > s.end - s.start {
            return false;
        }
        pos = s.end;
    }
    pos == size && !segments.is_empty()
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

/// What identifies the data file's contents at one moment: which file, its length, and its
/// change times. A write after a [`Hashed`] was taken changes the length or the times (the
/// times at the file system's clock granularity), and commit refuses the stale proof.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stamp {
    dev: u64,
    ino: u64,
    len: u64,
    mtime: (i64, i64),
    ctime: (i64, i64),
}

impl Stamp {
    fn of(file: &File, path: &Path) -> Result<Stamp, StoreError> {
        let m = file.metadata().map_err(StoreError::io("inspect", path))?;
        Ok(Stamp {
            dev: m.dev(),
            ino: m.ino(),
            len: m.len(),
            mtime: (m.mtime(), m.mtime_nsec()),
            ctime: (m.ctime(), m.ctime_nsec()),
        })
    }
}

/// The hash state of the whole data file of one ingest, computed by the store from bytes it
/// wrote or read itself. Only this module (and its `write`) makes one; [`Ingest::commit`]
/// requires one.
#[derive(Clone)]
pub struct Hashed {
    verifier: Verifier,
    stamp: Stamp,
}

impl std::fmt::Debug for Hashed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hashed")
            .field("bytes", &self.verifier.bytes())
            .finish()
    }
}

impl Hashed {
    /// Bytes hashed: the data file's length when the proof was taken.
    pub fn bytes(&self) -> u64 {
        self.verifier.bytes()
    }
}

/// The file beside an ingest's data that keeps a [`Hashed`] between processes or requests.
const SAVED_HASH: &str = "hash.state";

impl Stamp {
    const SAVED_LEN: usize = 7 * 8;

    fn save(&self) -> Vec<u8> {
        [
            self.dev,
            self.ino,
            self.len,
            self.mtime.0 as u64,
            self.mtime.1 as u64,
            self.ctime.0 as u64,
            self.ctime.1 as u64,
        ]
        .iter()
        .flat_map(|n| n.to_le_bytes())
        .collect()
    }

    fn from_saved(bytes: &[u8]) -> Option<Stamp> {
        let n = |i: usize| -> Option<u64> {
            Some(u64::from_le_bytes(
                bytes.get(i * 8..i * 8 + 8)?.try_into().ok()?,
            ))
        };
        Some(Stamp {
            dev: n(0)?,
            ino: n(1)?,
            len: n(2)?,
            mtime: (n(3)? as i64, n(4)? as i64),
            ctime: (n(5)? as i64, n(6)? as i64),
        })
    }
}

/// Why a commit refused the data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mismatch {
    /// The bytes hash to another digest.
    Digest {
        /// What they hash to.
        actual: Digest,
        /// How many there are.
        bytes: u64,
    },
    /// There are not as many bytes as the blob has.
    Size {
        /// The size the download was told (a response, a descriptor).
        expected: u64,
        /// The bytes in the data file.
        actual: u64,
    },
}

/// What [`Ingest::commit`] did.
#[derive(Debug)]
#[must_use = "a rejected ingest must be restarted or discarded"]
pub enum Commit {
    /// The blob is in `blobs/` (published now, or by someone before).
    Published(PathBuf),
    /// The data does not match; nothing was published. The ingest comes back so the caller can
    /// start over or discard it.
    Rejected(Box<Ingest>, Mismatch),
}

impl Store {
    /// Opens (or starts) the ingest entry for `digest`. The lock proves no other process
    /// writes it.
    pub fn ingest(&self, lock: &IngestLock, digest: &Digest) -> Result<Ingest, StoreError> {
        debug_assert_eq!(lock.digest(), Some(digest));
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
            Some(mut s) => {
                // A recorded segment plan that does not fit its size is garbage, and so may
                // be the data it describes: start over.
                if let Some(segments) = &s.segments
                    && !s.size.is_some_and(|size| is_valid_plan(segments, size))
                {
                    s.segments = None;
                    truncate(&data, 0)?;
                }
                s
            }
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

    fn open_data(&self) -> Result<File, StoreError> {
        OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&self.data)
            .map_err(StoreError::io("open", &self.data))
    }

    /// Hashes the data file, keeping its first `len` bytes and dropping the rest: the hash
    /// state a resumed download continues from. Blocks for as long as reading `len` bytes
    /// takes: async callers use `spawn_blocking`.
    pub fn rehash(&self, len: u64) -> Result<Hashed, StoreError> {
        let file = self.open_data()?;
        if file.metadata().map(|m| m.len()).unwrap_or(0) > len {
            file.set_len(len)
                .map_err(StoreError::io("truncate", &self.data))?;
        }
        let mut verifier = self.state.digest.algorithm().verifier();
        super::hash_reader(&file, &mut verifier, len)
            .map_err(StoreError::io("read", &self.data))?;
        let stamp = Stamp::of(&file, &self.data)?;
        if stamp.len != verifier.bytes() {
            return Err(StoreError::Corrupt {
                path: self.data.clone(),
                reason: format!(
                    "it changed while it was hashed ({} bytes read, {} there)",
                    verifier.bytes(),
                    stamp.len
                ),
            });
        }
        Ok(Hashed { verifier, stamp })
    }

    /// Empties the data file (to start over), returning the empty hash state. (Tests: writers
    /// start over with `truncate`.)
    #[cfg(test)]
    pub fn restart(&self) -> Result<Hashed, StoreError> {
        self.rehash(0)
    }

    /// Drops everything after the first `len` bytes of the data file (a segmented download
    /// going on as one stream keeps its contiguous prefix).
    pub fn truncate(&self, len: u64) -> Result<(), StoreError> {
        truncate(&self.data, len)
    }

    /// Opens the data file for positional writes (segmented downloads), keeping whatever it
    /// holds within the blob's size. Bytes written this way are hashed by reading them back
    /// ([`Ingest::prefix_hasher`]).
    pub fn positional(&self) -> Result<File, StoreError> {
        let file = self.open_data()?;
        if let Some(size) = self.state.size
            && file.metadata().map(|m| m.len()).unwrap_or(0) > size
        {
            file.set_len(size)
                .map_err(StoreError::io("truncate", &self.data))?;
        }
        Ok(file)
    }

    /// A hasher that reads the data file from its start (see [`PrefixHasher`]).
    pub fn prefix_hasher(&self) -> Result<PrefixHasher, StoreError> {
        Ok(PrefixHasher::new(
            self.open_data()?,
            self.data.clone(),
            self.state.digest.algorithm().verifier(),
        ))
    }

    /// Appends to the data file from the end of what `from` hashed, hashing every byte it
    /// writes; anything after that point is dropped first. The writing happens on a thread
    /// of its own, so the caller (hashing) and the disk work at once.
    /// `shown` follows what the file holds as the thread writes (see `IngestWriter::start`).
    pub fn append(
        &self,
        from: Hashed,
        shown: std::sync::Arc<super::GrowingCounters>,
    ) -> Result<IngestWriter, StoreError> {
        let file = self.open_data()?;
        let stamp = Stamp::of(&file, &self.data)?;
        if (stamp.dev, stamp.ino) != (from.stamp.dev, from.stamp.ino) {
            return Err(StoreError::Corrupt {
                path: self.data.clone(),
                reason: "the hash state given is for another file".into(),
            });
        }
        if stamp.len != from.bytes() {
            file.set_len(from.bytes())
                .map_err(StoreError::io("truncate", &self.data))?;
        }
        drop(file);
        let file = OpenOptions::new()
            .append(true)
            .open(&self.data)
            .map_err(StoreError::io("open", &self.data))?;
        IngestWriter::start(file, self.data.clone(), from.verifier, shown)
    }

    /// Writes `bytes` as the whole data file and fsyncs it. (Tests: small blobs held in memory
    /// go in through `content::put_bytes`.)
    #[cfg(test)]
    pub fn write_all(&self, bytes: &[u8]) -> Result<Hashed, StoreError> {
        use std::io::Write as _;
        truncate(&self.data, 0)?;
        let mut file = self.open_data()?;
        file.write_all(bytes)
            .and_then(|()| file.sync_all())
            .map_err(StoreError::io("write", &self.data))?;
        let mut verifier = self.state.digest.algorithm().verifier();
        verifier.update(bytes);
        let stamp = Stamp::of(&file, &self.data)?;
        Ok(Hashed { verifier, stamp })
    }

    /// Writes the state file atomically (temp file + rename).
    pub fn save_state(&mut self) -> Result<(), StoreError> {
        write_state(&self.dir, &mut self.state)
    }

    /// Starts positional writes into the data file (see `PositionalWriter`), keeping whatever
    /// it holds within the blob's size. `hasher` continues an earlier follower's hash (a fresh
    /// one from the file's start otherwise); `extents` says which bytes are written already.
    pub fn positional_writer(
        &self,
        hasher: Option<PrefixHasher>,
        extents: Extents,
    ) -> Result<PositionalWriter, StoreError> {
        let file = self.positional()?;
        let hasher = match hasher {
            Some(h) if h.bytes() <= extents.contiguous() => h,
            _ => self.prefix_hasher()?,
        };
        PositionalWriter::start(file, self.data.clone(), self.dir.clone(), hasher, extents)
            .map_err(StoreError::io("open", &self.data))
    }

    /// Keeps `hashed` beside the data (`hash.state`: the data file's stamp and the hash state),
    /// so that the next writer continues the hash instead of reading the whole file again: a
    /// push in N chunks, one request each, would otherwise read O(N²) bytes.
    pub fn save_hashed(&self, hashed: &Hashed) -> Result<(), StoreError> {
        let mut bytes = hashed.stamp.save();
        bytes.extend(hashed.verifier.save());
        let (path, tmp) = (self.dir.join(SAVED_HASH), self.dir.join("hash.state.tmp"));
        fs::write(&tmp, bytes).map_err(StoreError::io("write", &tmp))?;
        fs::rename(&tmp, &path).map_err(StoreError::io("rename", &tmp))
    }

    /// The [`Hashed`] kept by [`Ingest::save_hashed`], if the data file is exactly as it was
    /// then (the same file, length and change times: any write since changes them) and it was
    /// hashed with this ingest's algorithm. Otherwise `None`, and the caller re-hashes.
    pub fn saved_hashed(&self) -> Result<Option<Hashed>, StoreError> {
        let path = self.dir.join(SAVED_HASH);
        let bytes = match fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(StoreError::io("read", &path)(e)),
        };
        let Some((stamp, state)) = Some(bytes.split_at_checked(Stamp::SAVED_LEN)).flatten() else {
            return Ok(None);
        };
        let (Some(stamp), Some(verifier)) = (
            Stamp::from_saved(stamp),
            Verifier::from_saved(self.state.digest.algorithm(), state),
        ) else {
            return Ok(None);
        };
        let file = self.open_data()?;
        if Stamp::of(&file, &self.data)? != stamp || verifier.bytes() != stamp.len {
            return Ok(None);
        }
        Ok(Some(Hashed { verifier, stamp }))
    }

    /// Names the blob an upload's ingest is to become, before its commit (see
    /// [`Store::upload_ingest`]); the commit then checks the bytes against `digest`.
    pub fn name(&mut self, store: &Store, digest: &Digest) {
        self.state.digest = digest.clone();
        self.blob = store.blob_path(digest);
    }

    /// Throws the partial download away (after a digest mismatch).
    pub fn discard(self) -> Result<(), StoreError> {
        remove_dir(&self.dir)
    }

    /// Publishes the data file as the blob, if it is the blob. The one check of every path
    /// into `blobs/`: `hashed` must be this data file as it is now (same file, length and
    /// change times), its size must be the one the download was told (when it was), and its
    /// digest the ingest's. Then the data is fsynced, made read-only and renamed into
    /// `blobs/<alg>/` (atomic, same file system), and that directory (and `blobs/`, when
    /// `<alg>` is new) is fsynced, so that after a crash the name is either absent or names
    /// every byte. If the blob is already there, the ingest is simply removed.
    pub fn commit(self, hashed: Hashed) -> Result<Commit, StoreError> {
        let file = File::open(&self.data).map_err(StoreError::io("open", &self.data))?;
        let stamp = Stamp::of(&file, &self.data)?;
        if stamp != hashed.stamp {
            return Err(StoreError::Corrupt {
                path: self.data.clone(),
                reason: format!(
                    "it changed after it was hashed ({} bytes hashed, {} there now)",
                    hashed.bytes(),
                    stamp.len
                ),
            });
        }
        let bytes = hashed.bytes();
        if let Some(expected) = self.state.size
            && expected != bytes
        {
            let mismatch = Mismatch::Size {
                expected,
                actual: bytes,
            };
            return Ok(Commit::Rejected(Box::new(self), mismatch));
        }
        let actual = hashed.verifier.finish();
        if actual != self.state.digest {
            let mismatch = Mismatch::Digest { actual, bytes };
            return Ok(Commit::Rejected(Box::new(self), mismatch));
        }
        let parent = self
            .blob
            .parent()
            .map(Path::to_owned)
            .ok_or_else(|| StoreError::Corrupt {
                path: self.blob.clone(),
                reason: "a blob path without a directory".into(),
            })?;
        if !parent.is_dir() {
            fs::create_dir_all(&parent).map_err(StoreError::io("create directory", &parent))?;
            // The new `blobs/<alg>` entry must survive a crash too.
            if let Some(blobs) = parent.parent() {
                sync_dir(blobs)?;
            }
        }
        if self.blob.is_file() {
            remove_dir(&self.dir)?;
            return Ok(Commit::Published(self.blob));
        }
        // Durable before it is named: a rename can reach the disk before the data does.
        file.sync_all()
            .map_err(StoreError::io("sync", &self.data))?;
        drop(file);
        // Read-only: the cache is shared, and `-o` may hand out hard links to it.
        fs::set_permissions(&self.data, fs::Permissions::from_mode(0o444))
            .map_err(StoreError::io("set permissions of", &self.data))?;
        fs::rename(&self.data, &self.blob).map_err(StoreError::io("rename", &self.data))?;
        sync_dir(&parent)?;
        remove_dir(&self.dir)?;
        Ok(Commit::Published(self.blob))
    }
}

/// Writes an ingest's state file into `dir` atomically (temp file + rename), stamped now.
pub(super) fn write_state(dir: &Path, state: &mut IngestState) -> Result<(), StoreError> {
    state.updated = now();
    let path = dir.join("state.json");
    let tmp = dir.join("state.json.tmp");
    let json = serde_json::to_vec(state).map_err(|e| StoreError::Corrupt {
        path: path.clone(),
        reason: e.to_string(),
    })?;
    fs::write(&tmp, json).map_err(StoreError::io("write", &tmp))?;
    fs::rename(&tmp, &path).map_err(StoreError::io("rename", &tmp))
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
    use std::io::Write as _;

    use bytes::Bytes;

    use super::*;
    use crate::digest::{Algorithm, digest_bytes};

    fn setup() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        (dir, store)
    }

    fn published(c: Commit) -> PathBuf {
        match c {
            Commit::Published(p) => p,
            Commit::Rejected(_, m) => panic!("rejected: {m:?}"),
        }
    }

    fn rejected(c: Commit) -> (Ingest, Mismatch) {
        match c {
            Commit::Published(p) => panic!("published {}", p.display()),
            Commit::Rejected(i, m) => (*i, m),
        }
    }

    fn append(ingest: &Ingest, from: Hashed, bytes: &[u8]) -> Hashed {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let mut w = ingest.append(from, Default::default()).unwrap();
        assert!(rt.block_on(w.write(Bytes::copy_from_slice(bytes))));
        w.finish().unwrap()
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
        let start = ingest.restart().unwrap();
        append(&ingest, start, &blob[..5]);
        drop(ingest);

        // A new process: the state survives, the partial is a prefix, the hash resumes.
        let ingest = store.ingest(&lock, &d).unwrap();
        assert_eq!(ingest.state.size, Some(blob.len() as u64));
        assert_eq!(ingest.partial_len().unwrap(), 5);
        let resumed = ingest.rehash(5).unwrap();
        let hashed = append(&ingest, resumed, &blob[5..]);
        let path = published(ingest.commit(hashed).unwrap());
        assert_eq!(fs::read(&path).unwrap(), blob);
        assert_eq!(store.lookup(&d).unwrap(), Some(blob.len() as u64));
        assert!(fs::metadata(&path).unwrap().permissions().readonly());
        assert!(!store.ingest_base(&d).join(d.hex()).exists());
    }

    /// Issue 9, item 7: commit checks for itself. On 064dc87 `commit()` renamed whatever the
    /// data file held into `blobs/`, trusting its caller to have verified it.
    #[test]
    fn commit_refuses_bytes_that_do_not_match() {
        let (_dir, store) = setup();
        let d = digest_bytes(Algorithm::Sha256, b"abc");
        let lock = store.lock_blocking(&d).unwrap();

        // Wrong bytes: rejected, nothing published, the ingest comes back.
        let ingest = store.ingest(&lock, &d).unwrap();
        let hashed = ingest.write_all(b"abd").unwrap();
        let (ingest, m) = rejected(ingest.commit(hashed).unwrap());
        assert!(matches!(m, Mismatch::Digest { bytes: 3, .. }), "{m:?}");
        assert_eq!(store.lookup(&d).unwrap(), None);

        // The right bytes but a known size they do not have (a prefix of a longer blob).
        let mut ingest = ingest;
        ingest.state.size = Some(4);
        let hashed = ingest.write_all(b"abc").unwrap();
        let (ingest, m) = rejected(ingest.commit(hashed).unwrap());
        assert_eq!(
            m,
            Mismatch::Size {
                expected: 4,
                actual: 3
            }
        );

        // A proof taken before the file changed is stale.
        let mut ingest = ingest;
        ingest.state.size = None;
        let hashed = ingest.write_all(b"abc").unwrap();
        fs::OpenOptions::new()
            .append(true)
            .open(ingest.data_path())
            .unwrap()
            .write_all(b"x")
            .unwrap();
        let err = ingest.commit(hashed).unwrap_err().to_string();
        assert!(err.contains("changed after it was hashed"), "{err}");
        assert_eq!(store.lookup(&d).unwrap(), None);

        // Every byte, re-hashed from disk (the 416 path): published.
        let ingest = store.ingest(&lock, &d).unwrap();
        let _ = ingest.write_all(b"abc").unwrap();
        let hashed = ingest.rehash(3).unwrap();
        published(ingest.commit(hashed).unwrap());
        assert_eq!(fs::read(store.blob_path(&d)).unwrap(), b"abc");
    }

    #[test]
    fn a_proof_for_another_ingest_is_refused() {
        let (_dir, store) = setup();
        let (a, b) = (
            digest_bytes(Algorithm::Sha256, b"a"),
            digest_bytes(Algorithm::Sha256, b"b"),
        );
        let (la, lb) = (
            store.lock_blocking(&a).unwrap(),
            store.lock_blocking(&b).unwrap(),
        );
        let ia = store.ingest(&la, &a).unwrap();
        let ib = store.ingest(&lb, &b).unwrap();
        let proof_a = ia.write_all(b"a").unwrap();
        let _ = ib.write_all(b"b").unwrap();
        assert!(ib.commit(proof_a).is_err());
        assert_eq!(store.lookup(&b).unwrap(), None);
    }

    #[test]
    fn commit_when_blob_exists_keeps_it_and_cleans_up() {
        let (_dir, store) = setup();
        let d = digest_bytes(Algorithm::Sha256, b"abc");
        let lock = store.lock_blocking(&d).unwrap();
        for _ in 0..2 {
            let ingest = store.ingest(&lock, &d).unwrap();
            let hashed = ingest.write_all(b"abc").unwrap();
            published(ingest.commit(hashed).unwrap());
        }
        assert_eq!(fs::read(store.blob_path(&d)).unwrap(), b"abc");
    }

    #[test]
    fn the_prefix_hasher_reports_a_short_file() {
        let (_dir, store) = setup();
        let d = digest_bytes(Algorithm::Sha256, b"abcdef");
        let lock = store.lock_blocking(&d).unwrap();
        let ingest = store.ingest(&lock, &d).unwrap();
        let _ = ingest.write_all(b"abc").unwrap();
        let mut h = ingest.prefix_hasher().unwrap();
        h.hash_to(2).unwrap();
        assert_eq!(h.bytes(), 2);
        let err = h.hash_to(6).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof);
    }

    #[test]
    fn garbled_segment_plans_are_dropped() {
        let seg = |start, end, written| Segment {
            start,
            end,
            written,
        };
        assert!(is_valid_plan(&[seg(0, 5, 5), seg(5, 10, 0)], 10));
        for bad in [
            vec![],
            vec![seg(0, 5, 6)],
            vec![seg(0, 5, 0), seg(6, 10, 0)],
            vec![seg(0, 10, 0)],
            vec![seg(0, u64::MAX, 0), seg(u64::MAX, 3, 0)],
        ] {
            assert!(!is_valid_plan(&bad, 5), "{bad:?}");
        }
        assert!(seg(u64::MAX - 1, u64::MAX, u64::MAX).is_done());
        assert!(!seg(u64::MAX - 1, u64::MAX, 0).is_done());
    }

    #[test]
    fn data_without_state_is_not_trusted() {
        let (_dir, store) = setup();
        let d = digest_bytes(Algorithm::Sha256, b"abc");
        let lock = store.lock_blocking(&d).unwrap();
        let ingest = store.ingest(&lock, &d).unwrap();
        let _ = ingest.write_all(b"zz").unwrap();
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
        let _ = ingest.write_all(b"abd").unwrap();
        ingest.discard().unwrap();
        assert_eq!(store.lookup(&d).unwrap(), None);
        assert!(!store.ingest_base(&d).join(d.hex()).exists());
    }
}
