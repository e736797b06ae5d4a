//! The cache: an OCI image layout on disk whose `blobs/` only ever holds complete, verified
//! content.
//!
//! Layout of the root (OCI Image Layout Specification, plus two layerget additions):
//!
//! ```text
//! oci-layout              {"imageLayoutVersion":"1.0.0"}
//! index.json              the layout's image index (references, once `pull` records them)
//! blobs/<alg>/<hex>       verified content, read-only files
//! ingest/<alg>/<hex>/     a partial download: `data` and `state.json` (see `ingest`)
//! ingest/<alg>/<hex>.lock the per-digest lock two processes fetching one blob share
//! CACHEDIR.TAG            so backup tools skip the cache
//! ```
//!
//! Content reaches `blobs/` only by `rename(2)` from `ingest/` on the same file system, after
//! fsync and verification, so a reader never sees a partial blob. This module does file I/O
//! and nothing else: no HTTP, no printing. Its functions block; async callers use
//! `spawn_blocking`.

mod cache_lock;
pub mod content;
mod index;
mod ingest;
mod local;
mod lock;
mod maintain;
mod memory;
mod put;
mod refs;
mod s3;

use std::fs;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub use cache_lock::{CacheLock, CacheLockMode};
pub use content::{
    Blob, BlobWriter, Checkpoint, ContentStore, Deleted, Growing, GrowingCounters, Location,
    Partial, StoredBlob, UploadId, UploadInfo, WriterAttempt,
};
pub use index::{LayoutIndex, SOURCE_OF, owner};
pub use ingest::{
    Commit, Flusher, Hashed, Ingest, IngestState, IngestWriter, Mismatch, PrefixHasher, Segment,
    UploadState, WRITE_QUEUE, is_valid_plan,
};
pub use local::LocalWriter;
pub use lock::{IngestLock, LockAttempt};
pub use maintain::{
    BlobInfo, Check, GcPlan, GcReport, IngestInfo, Maintained, PrunePlan, PruneReport, PruneUnit,
    Reachable, ReferenceBlobs, ReferenceSummary, Removal, Usage, plan_eviction, plan_prune, prune,
    reachable, reachable_by_reference, read_manifest, reference_summaries, remove_blob_and_entries,
    remove_reference, remove_references,
};
pub use memory::{MemoryStore, MemoryWriter};
pub use refs::{Refs, TagEntry, ns_registry};
pub use s3::{AnyStore, AnyWriter, S3Config, S3Store, S3Writer};

use crate::digest::{Digest, Verifier};
use crate::exit::Category;

/// The layout version this store writes and reads (`oci-layout`'s `imageLayoutVersion`).
pub const LAYOUT_VERSION: &str = "1.0.0";

const CACHEDIR_TAG: &str = "Signature: 8a477f597d28d172789f06886806bc55\n\
# This file is a cache directory tag created by layerget.\n\
# For information about cache directory tags, see https://bford.info/cachedir/\n";

const EMPTY_INDEX: &str =
    r#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]}"#;

/// Buffer size for hashing files: large enough that syscalls do not show next to SHA-256.
pub(crate) const READ_BUF: usize = 1 << 20;

/// What went wrong in the cache.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A file system operation failed.
    #[error("cannot {action} `{}`: {source}", .path.display())]
    Io {
        /// What was being done (`create directory`, `rename`…).
        action: &'static str,
        /// The path it was done to.
        path: PathBuf,
        /// The OS error.
        source: io::Error,
    },
    /// The directory holds an OCI layout of a version this build does not understand.
    #[error("`{}` is an OCI image layout of version `{found}`; layerget understands {LAYOUT_VERSION}", .path.display())]
    IncompatibleLayout {
        /// The `oci-layout` file.
        path: PathBuf,
        /// The version found there.
        found: String,
    },
    /// A file that should be ours holds something we cannot read.
    #[error("`{}` is corrupt: {reason}", .path.display())]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A command that only reads or maintains the cache was pointed at a directory that holds
    /// none (only `fetch` and `pull` create one).
    #[error("there is no layerget cache or OCI image layout at `{}`\nhint: check --cache-dir or LAYERGET_CACHE_DIR; `layerget fetch` or `pull` creates a cache", .path.display())]
    NoCache {
        /// The directory.
        path: PathBuf,
    },
    /// The directory exists and holds other things: making it a cache would write into it.
    #[error("`{}` is not empty and is not a layerget cache or OCI image layout (it has no `oci-layout`); nothing was written to it\nhint: name an empty or new directory with --cache-dir", .path.display())]
    NotACache {
        /// The directory.
        path: PathBuf,
    },
    /// Content handed to the store does not match its name; nothing was stored.
    #[error("the {bytes} bytes to be stored as {expected} hash to {actual}; nothing was stored")]
    Mismatch {
        /// The digest it was to be stored as.
        expected: Digest,
        /// What the bytes hash to.
        actual: Digest,
        /// How many bytes.
        bytes: u64,
    },
    /// Content handed to the store is not of the size it was declared to have; nothing was
    /// stored.
    #[error("{digest} was to be {expected} bytes but {actual} were written; nothing was stored")]
    WrongSize {
        /// The digest it was to be stored as.
        digest: Digest,
        /// The size declared.
        expected: u64,
        /// The size written.
        actual: u64,
    },
    /// A request to the object store (`s3://`) failed.
    #[error(
        "cannot {action} `{key}` in the object store: {source}{}",
        remote_hint(source)
    )]
    Remote {
        /// What was being done (`read`, `upload a part of`…).
        action: &'static str,
        /// The object's key (`s3://bucket/prefix/blobs/sha256/…`).
        key: String,
        /// What the object store client said.
        source: object_store::Error,
    },
    /// A blob is larger than the reader allows.
    #[error("{digest} is {size} bytes, more than the {max} allowed here")]
    TooLarge {
        /// The blob.
        digest: Digest,
        /// Its size.
        size: u64,
        /// The limit.
        max: u64,
    },
}

/// Advice for an object store error that people can act on.
fn remote_hint(e: &object_store::Error) -> &'static str {
    match e {
        object_store::Error::Unauthenticated { .. }
        | object_store::Error::PermissionDenied { .. } => {
            "\nhint: check AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and AWS_REGION, and that the key may use the bucket"
        }
        _ => "",
    }
}

impl StoreError {
    /// The error's category (and so exit code): local storage, except for content that does
    /// not match its digest (integrity).
    pub fn category(&self) -> Category {
        match self {
            StoreError::Mismatch { .. } | StoreError::WrongSize { .. } => Category::Integrity,
            // Wrong directories are wrong arguments.
            StoreError::NoCache { .. } | StoreError::NotACache { .. } => Category::Usage,
            StoreError::Remote { source, .. } => match source {
                object_store::Error::Unauthenticated { .. }
                | object_store::Error::PermissionDenied { .. } => Category::Auth,
                object_store::Error::NotFound { .. } => Category::NotFound,
                // Connection failures, timeouts and 5xx after the client's retries.
                object_store::Error::Generic { .. } => Category::Network,
                _ => Category::Storage,
            },
            _ => Category::Storage,
        }
    }

    /// The error for content a commit refused.
    pub fn rejected(expected: Digest, mismatch: Mismatch) -> StoreError {
        match mismatch {
            Mismatch::Digest { actual, bytes } => StoreError::Mismatch {
                expected,
                actual,
                bytes,
            },
            Mismatch::Size {
                expected: size,
                actual,
            } => StoreError::WrongSize {
                digest: expected,
                expected: size,
                actual,
            },
        }
    }

    pub(crate) fn io(action: &'static str, path: &Path) -> impl FnOnce(io::Error) -> StoreError {
        let path = path.to_owned();
        move |source| StoreError::Io {
            action,
            path,
            source,
        }
    }
}

/// An open cache root. A store opened for use ([`Store::open_for`]) holds the cache-wide lock
/// until the last clone is dropped.
#[derive(Debug, Clone)]
pub struct Store {
    root: PathBuf,
    /// Descriptors every read goes below (see `local.rs`).
    safe: Arc<local::SafeRoot>,
    _lock: Option<Arc<CacheLock>>,
    /// Blobs this process is appending to, readable as they grow ([`ContentStore::growing`]).
    growing: Arc<std::sync::Mutex<std::collections::HashMap<Digest, Growing>>>,
}

impl Store {
    /// Opens the cache at `root`, creating the layout if it is missing, without the cache-wide
    /// lock: for tests and for `serve`, which only reads verified blobs. Commands that fetch,
    /// record or remove use [`Store::open_for`].
    pub fn open(root: &Path) -> Result<Store, StoreError> {
        // Only a missing or empty directory becomes a cache: a typo in --cache-dir must not
        // turn a directory of other things into one (CACHEDIR.TAG would hide it from backups).
        // What a concurrent `open` of the same new cache writes is not "other things".
        if root.is_dir() && !root.join("oci-layout").exists() {
            let entries = fs::read_dir(root).map_err(StoreError::io("read", root))?;
            let foreign = entries
                .filter_map(Result::ok)
                .any(|e| !is_layout_entry(&e.file_name().to_string_lossy()));
            if foreign {
                return Err(StoreError::NotACache {
                    path: root.to_owned(),
                });
            }
        }
        let mut created = false;
        for dir in [root.to_owned(), root.join("blobs"), root.join("ingest")] {
            if !dir.is_dir() {
                fs::create_dir_all(&dir).map_err(StoreError::io("create directory", &dir))?;
                created = true;
            }
        }
        if created {
            // `blobs/` and `ingest/` must survive a crash with what is renamed into them.
            sync_dir(root)?;
        }
        let layout = root.join("oci-layout");
        match fs::read(&layout) {
            Ok(bytes) => check_layout(&layout, &bytes)?,
            Err(e) if e.kind() == io::ErrorKind::NotFound => write_if_missing(
                &layout,
                format!(r#"{{"imageLayoutVersion":"{LAYOUT_VERSION}"}}"#).as_bytes(),
            )?,
            Err(e) => return Err(StoreError::io("read", &layout)(e)),
        }
        write_if_missing(&root.join("index.json"), EMPTY_INDEX.as_bytes())?;
        write_if_missing(&root.join("CACHEDIR.TAG"), CACHEDIR_TAG.as_bytes())?;
        Ok(Store {
            root: root.to_owned(),
            safe: Arc::new(local::SafeRoot::open(root)?),
            _lock: None,
            growing: Default::default(),
        })
    }

    /// Opens the cache at `root`, which must exist (an OCI image layout: it has `oci-layout`),
    /// for the commands that read or look after a cache and put nothing new in it (`cache`,
    /// `serve`). Creates nothing but what a layerget cache is missing of its own layout.
    pub fn open_existing(root: &Path) -> Result<Store, StoreError> {
        if !root.join("oci-layout").is_file() {
            return Err(StoreError::NoCache {
                path: root.to_owned(),
            });
        }
        Store::open(root)
    }

    /// [`Store::open_existing`] and then the cache-wide lock, as [`Store::open_for`] takes it.
    pub async fn open_existing_for(
        root: &Path,
        mode: CacheLockMode,
        waiting: impl FnOnce(),
    ) -> Result<Store, StoreError> {
        Store::open_existing(root)?.lock_for(mode, waiting).await
    }

    /// Opens the cache at `root` for use: creates the layout, then takes the cache-wide lock
    /// (`ingest/cache.lock`) in `mode` and holds it for as long as this store or a clone of it
    /// lives. Fetches and pulls hold it shared, so `cache gc`, `prune` and `rm`, which hold it
    /// exclusively, never remove a blob between its commit and its use (the `-o` copy, the
    /// `index.json` record). When another process holds it in a conflicting mode, `waiting`
    /// is called once and the lock is awaited off the async runtime.
    pub async fn open_for(
        root: &Path,
        mode: CacheLockMode,
        waiting: impl FnOnce(),
    ) -> Result<Store, StoreError> {
        Store::open(root)?.lock_for(mode, waiting).await
    }

    /// Takes the cache-wide lock in `mode` for this opened store (see [`Store::open_for`]).
    async fn lock_for(
        mut self,
        mode: CacheLockMode,
        waiting: impl FnOnce(),
    ) -> Result<Store, StoreError> {
        let attempt = match self.try_lock_cache(mode) {
            // A cache on a read-only file system (or another user's, read-only to us) cannot
            // be changed by anyone who could race us, nor by us: reading needs no lock.
            Err(StoreError::Io { source, .. })
                if mode == CacheLockMode::Shared
                    && matches!(
                        source.kind(),
                        io::ErrorKind::PermissionDenied
                            | io::ErrorKind::ReadOnlyFilesystem
                            | io::ErrorKind::NotFound
                    ) =>
            {
                return Ok(self);
            }
            other => other?,
        };
        let lock = match attempt {
            Some(lock) => lock,
            None => {
                waiting();
                let s = self.clone();
                tokio::task::spawn_blocking(move || s.lock_cache_blocking(mode))
                    .await
                    .map_err(|e| StoreError::Io {
                        action: "wait for the lock",
                        path: self.root.join("ingest"),
                        source: io::Error::other(e.to_string()),
                    })??
            }
        };
        self._lock = Some(Arc::new(lock));
        Ok(self)
    }

    /// The root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Where a verified blob lives (whether or not it is there).
    pub fn blob_path(&self, digest: &Digest) -> PathBuf {
        self.root
            .join("blobs")
            .join(digest.algorithm().as_str())
            .join(digest.hex())
    }

    /// The size of a cached blob, or `None` when it is not cached.
    pub fn lookup(&self, digest: &Digest) -> Result<Option<u64>, StoreError> {
        let path = self.blob_path(digest);
        match fs::metadata(&path) {
            Ok(m) if m.is_file() => Ok(Some(m.len())),
            Ok(_) => Err(StoreError::Corrupt {
                path,
                reason: "not a regular file".into(),
            }),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(StoreError::io("inspect", &path)(e)),
        }
    }

    /// Re-hashes a cached blob; returns the digest its bytes actually have.
    pub fn hash_blob(&self, digest: &Digest) -> Result<Digest, StoreError> {
        let path = self.blob_path(digest);
        let file = fs::File::open(&path).map_err(StoreError::io("open", &path))?;
        let mut verifier = digest.algorithm().verifier();
        hash_reader(file, &mut verifier, u64::MAX).map_err(StoreError::io("read", &path))?;
        Ok(verifier.finish())
    }

    /// Removes a cached blob (one that failed verification). Missing is fine. The caller holds
    /// the blob's per-digest lock.
    pub fn remove_blob(&self, digest: &Digest) -> Result<(), StoreError> {
        let path = self.blob_path(digest);
        match fs::remove_file(&path) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => {
                Err(StoreError::io("remove", &path)(e))
            }
            _ => Ok(()),
        }
    }

    fn ingest_base(&self, digest: &Digest) -> PathBuf {
        self.root.join("ingest").join(digest.algorithm().as_str())
    }
}

/// Feeds up to `limit` bytes of `reader` into `verifier`.
pub(crate) fn hash_reader(
    reader: impl Read,
    verifier: &mut Verifier,
    limit: u64,
) -> io::Result<()> {
    let mut reader = reader.take(limit);
    let mut buf = vec![0u8; READ_BUF];
    loop {
        let n = reader.read(&mut buf)?;
        if n == 0 {
            return Ok(());
        }
        // `Read` promises n <= buf.len(); a reader that broke it is an I/O error.
        let chunk = buf
            .get(..n)
            .ok_or_else(|| io::Error::other("a read returned more bytes than asked for"))?;
        verifier.update(chunk);
    }
}

fn check_layout(path: &Path, bytes: &[u8]) -> Result<(), StoreError> {
    #[derive(serde::Deserialize)]
    struct Layout {
        #[serde(rename = "imageLayoutVersion")]
        version: String,
    }
    let layout: Layout = serde_json::from_slice(bytes).map_err(|e| StoreError::Corrupt {
        path: path.to_owned(),
        reason: e.to_string(),
    })?;
    if layout.version != LAYOUT_VERSION {
        return Err(StoreError::IncompatibleLayout {
            path: path.to_owned(),
            found: layout.version,
        });
    }
    Ok(())
}

/// Writes `contents` to `path` atomically unless the file exists (another process may be
/// opening the same fresh cache: the loser of the race keeps the winner's file).
fn write_if_missing(path: &Path, contents: &[u8]) -> Result<(), StoreError> {
    if path.exists() {
        return Ok(());
    }
    let tmp = path.with_extension(format!("tmp.{}", std::process::id()));
    let write = || -> io::Result<()> {
        let mut f = fs::File::create(&tmp)?;
        f.write_all(contents)?;
        f.sync_all()?;
        match fs::hard_link(&tmp, path) {
            Err(e) if e.kind() != io::ErrorKind::AlreadyExists => Err(e),
            _ => Ok(()),
        }
    };
    let result = write();
    let _ = fs::remove_file(&tmp);
    result.map_err(StoreError::io("write", path))
}

/// Whether a name in the root is one [`Store::open`] creates (itself or its temporary files).
fn is_layout_entry(name: &str) -> bool {
    matches!(
        name,
        "blobs" | "ingest" | "oci-layout" | "index.json" | "CACHEDIR.TAG"
    ) || ["oci-layout.tmp.", "index.tmp.", "CACHEDIR.tmp."]
        .iter()
        .any(|p| name.starts_with(p))
}

/// fsyncs a directory so a rename into it survives a crash.
pub(crate) fn sync_dir(dir: &Path) -> Result<(), StoreError> {
    fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(StoreError::io("sync directory", dir))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::digest::{Algorithm, digest_bytes};

    #[test]
    fn open_creates_a_valid_layout_and_is_idempotent() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let layout: serde_json::Value =
            serde_json::from_slice(&fs::read(dir.path().join("oci-layout")).unwrap()).unwrap();
        assert_eq!(layout["imageLayoutVersion"], "1.0.0");
        let index: serde_json::Value =
            serde_json::from_slice(&fs::read(dir.path().join("index.json")).unwrap()).unwrap();
        assert_eq!(index["schemaVersion"], 2);
        assert!(
            fs::read_to_string(dir.path().join("CACHEDIR.TAG"))
                .unwrap()
                .starts_with("Signature: 8a477f597d28d172789f06886806bc55")
        );
        Store::open(dir.path()).unwrap();
        let d = digest_bytes(Algorithm::Sha256, b"x");
        assert_eq!(store.lookup(&d).unwrap(), None);
        assert!(
            store
                .blob_path(&d)
                .ends_with(format!("blobs/sha256/{}", d.hex()))
        );
    }

    #[test]
    fn refuses_other_layout_versions() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(
            dir.path().join("oci-layout"),
            r#"{"imageLayoutVersion":"2.0.0"}"#,
        )
        .unwrap();
        let err = Store::open(dir.path()).unwrap_err().to_string();
        assert!(err.contains("version `2.0.0`"), "{err}");
        fs::write(dir.path().join("oci-layout"), "nope").unwrap();
        assert!(
            Store::open(dir.path())
                .unwrap_err()
                .to_string()
                .contains("corrupt")
        );
    }
}
