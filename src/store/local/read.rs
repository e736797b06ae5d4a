//! The read path of the local store: every read goes below held directory descriptors (see
//! the parent module's docs).

use std::fs::File;
use std::io::{self, Read};
use std::os::fd::OwnedFd;
use std::path::Path;
use std::sync::{Arc, Mutex, RwLock};
use std::time::SystemTime;

use rustix::fs::{Mode, OFlags};

use crate::digest::{Algorithm, Digest};
use crate::store::{Refs, StoreError};

/// Largest `index.json` read (a cache index with thousands of tags is well below this).
const MAX_INDEX: u64 = 16 << 20;

/// The identity of an `index.json` version (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct FileStamp {
    /// Which file: replacing `index.json` by rename gives it a new inode.
    ino: u64,
    size: u64,
    /// `None` where the file system keeps no modification time.
    mtime: Option<SystemTime>,
}

/// Descriptors a store reads through: the root, `blobs/sha256` and `blobs/sha512` (opened on
/// first use and reopened after a miss: the directory may have been created or replaced since),
/// and the last parsed reference table.
#[derive(Debug)]
pub(in crate::store) struct SafeRoot {
    /// The cache root, opened once: everything below it is reached through this descriptor.
    root: OwnedFd,
    /// `blobs/sha256` and `blobs/sha512` (see `slot`), `None` until found. Read-mostly: every
    /// blob read takes the read lock, only a reopen the write lock.
    dirs: [RwLock<Option<Arc<OwnedFd>>>; 2],
    /// The last `index.json` parsed, with the stamp it had when it was read.
    refs: Mutex<Option<(FileStamp, Arc<Refs>)>>,
}

/// Flags for a directory below the root: with NOFOLLOW a symlink fails with `ELOOP`, with
/// DIRECTORY anything else that is no directory fails with `ENOTDIR`.
fn dir_flags() -> OFlags {
    OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC
}

/// Flags for a file read below a held descriptor. NONBLOCK: a FIFO planted in the cache must
/// NOCTTY: a terminal device planted there must not become the controlling terminal.
/// not hang the open.
fn file_flags() -> OFlags {
    OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::NOCTTY | OFlags::CLOEXEC
}

impl SafeRoot {
    /// Opens the cache root `root` (a symlink is fine for the root itself, which the user
    /// named; nothing below it may be one).
    pub(in crate::store) fn open(root: &Path) -> Result<SafeRoot, StoreError> {
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

    /// Which entry of `dirs` holds an algorithm's directory.
    fn slot(algorithm: Algorithm) -> usize {
        match algorithm {
            Algorithm::Sha256 => 0,
            Algorithm::Sha512 => 1,
        }
    }

    /// `blobs/<alg>` as a descriptor; `refresh` reopens it.
    fn alg_dir(&self, algorithm: Algorithm, refresh: bool) -> io::Result<Option<Arc<OwnedFd>>> {
        // One slot per algorithm: `get` only keeps a mistake here from becoming a panic.
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
    pub(super) fn open_blob(&self, digest: &Digest) -> io::Result<Option<(File, u64)>> {
        // The cached descriptor first; on a miss once more with a fresh one, since
        // `blobs/<alg>` may have been created or replaced (a new inode) since it was opened.
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
                    // A directory, FIFO or device under a digest's name (NONBLOCK kept its
                    // open from hanging): no blob.
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
    pub(super) fn refs(&self) -> io::Result<Arc<Refs>> {
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
        // The length is at most `MAX_INDEX` (checked above); `take` holds the read to that
        // even if the file grows after `fstat`.
        let mut bytes = Vec::with_capacity(meta.len() as usize);
        file.take(MAX_INDEX).read_to_end(&mut bytes)?;
        let refs = Arc::new(Refs::parse(&bytes).map_err(io::Error::other)?);
        *cached = Some((stamp, refs.clone()));
        Ok(refs)
    }
}
