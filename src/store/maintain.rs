//! Looking after the cache: what it holds (blobs, partial downloads, quarantine), what is
//! reachable from `index.json`, re-hashing, quarantine, and the plans of `cache gc` and
//! `cache prune`.
//!
//! Everything here blocks and prints nothing. Removing a blob always goes through
//! [`Store::remove_blob_unless_locked`]: a blob whose per-digest lock a fetch holds is left
//! alone. The cache-wide lock that keeps maintenance and fetches apart is taken when the store
//! is opened for use (`Store::open_for`). Planning is separate from doing, so that `--dry-run` shows exactly what a
//! real run would remove, and so the plans can be tested as plain functions.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use super::{LockAttempt, Store, StoreError, index};
use crate::digest::{Algorithm, Digest};
use crate::manifest::{self, Descriptor, MAX_MANIFEST};

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

/// Opens a blob for reading without marking it used: `cache verify`, `ls` and `gc` read blobs
/// too, and their reads must not reorder `cache prune`'s LRU. `O_NOATIME` is refused for files
/// of another user (a shared cache); those are opened normally.
fn open_unmarked(path: &Path) -> io::Result<fs::File> {
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

    /// Re-hashes a blob (without marking it used).
    pub fn check_blob(&self, digest: &Digest) -> Result<Check, StoreError> {
        let path = self.blob_path(digest);
        let file = match open_unmarked(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Check::Missing),
            Err(e) => return Err(StoreError::io("open", &path)(e)),
        };
        let mut verifier = digest.algorithm().verifier();
        super::hash_reader(file, &mut verifier, u64::MAX).map_err(StoreError::io("read", &path))?;
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
        let remove = |path: &Path| -> Result<(), StoreError> {
            let result = if path.is_dir() {
                fs::remove_dir_all(path)
            } else {
                fs::remove_file(path)
            };
            match result {
                Err(e) if e.kind() != io::ErrorKind::NotFound => {
                    Err(StoreError::io("remove", path)(e))
                }
                _ => Ok(()),
            }
        };
        let Some(digest) = &item.digest else {
            remove(&item.path)?;
            return Ok(true);
        };
        match self.try_lock(digest)? {
            LockAttempt::Acquired(lock) => {
                // The lock file itself goes with the lock (see lock.rs: release_and_remove).
                if item.path.extension().is_none_or(|e| e != "lock") {
                    remove(&item.path)?;
                }
                lock.release_and_remove();
                Ok(true)
            }
            LockAttempt::Busy { .. } => Ok(false),
        }
    }

    /// Reads a cached blob that should be a manifest. `Ok(None)` when it is missing, too
    /// large or not a manifest; an error when it is there but cannot be read. The difference
    /// matters to `cache gc`: taking an unreadable manifest for "no manifest" would make the
    /// blobs it names look unreachable, and `--loose` would delete them.
    pub fn read_manifest(
        &self,
        digest: &Digest,
        media_type: Option<&str>,
    ) -> Result<Option<manifest::Manifest>, StoreError> {
        let path = self.blob_path(digest);
        let file = match open_unmarked(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(StoreError::io("open manifest", &path)(e)),
        };
        let meta = file
            .metadata()
            .map_err(StoreError::io("inspect manifest", &path))?;
        if !meta.is_file() {
            return Err(not_a_file(path));
        }
        if meta.len() > MAX_MANIFEST as u64 {
            return Ok(None);
        }
        let mut bytes = Vec::new();
        file.take(MAX_MANIFEST as u64)
            .read_to_end(&mut bytes)
            .map_err(StoreError::io("read manifest", &path))?;
        if bytes.trim_ascii_start().first() != Some(&b'{') {
            return Ok(None);
        }
        let hint = media_type.filter(|m| manifest::kind_of(m).is_some());
        Ok(manifest::parse(&bytes, hint).ok())
    }

    /// Everything reachable from `roots` through the manifests in the cache: the digests that
    /// are present and those that are missing. A blob that is there but cannot be inspected,
    /// or a manifest that cannot be read, is an error rather than "missing" or "no children":
    /// what it reaches would otherwise look unreachable to `cache gc`.
    pub fn closure(&self, roots: &[Descriptor]) -> Result<Closure, StoreError> {
        let mut closure = Closure::default();
        let mut queue: Vec<(Digest, String)> = roots
            .iter()
            .map(|d| (d.digest.clone(), d.media_type.clone()))
            .collect();
        while let Some((digest, media_type)) = queue.pop() {
            if closure.present.contains(&digest) || closure.missing.contains(&digest) {
                continue;
            }
            if self.lookup(&digest)?.is_none() {
                closure.missing.insert(digest);
                continue;
            }
            let is_manifest = manifest::kind_of(&media_type).is_some() || media_type.is_empty();
            if is_manifest && let Some(m) = self.read_manifest(&digest, Some(&media_type))? {
                for child in m.children() {
                    queue.push((child.digest.clone(), child.media_type.clone()));
                }
            }
            closure.present.insert(digest);
        }
        Ok(closure)
    }
}

fn not_a_file(path: PathBuf) -> StoreError {
    StoreError::Corrupt {
        path,
        reason: "not a regular file".into(),
    }
}

/// The blobs reachable from some roots.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Closure {
    /// Reachable and in the cache.
    pub present: HashSet<Digest>,
    /// Reachable but not in the cache (platforms not pulled, evicted or removed blobs).
    pub missing: HashSet<Digest>,
}

/// What `cache gc` removes and keeps.
#[derive(Debug, Default, Clone)]
pub struct GcPlan {
    /// Unreachable blobs to remove, manifests last: a manifest is what marks its content as
    /// garbage, so it goes only once its content is gone (see [`GcPlan::manifests`]).
    pub blobs: Vec<BlobInfo>,
    /// The unreachable manifests among `blobs`. When a blob they name is kept (a fetch holds
    /// it), they must be kept too, or that blob would look loose next time.
    pub manifests: HashSet<Digest>,
    /// Unreachable blobs kept because no manifest in the cache names them (fetched by digest
    /// alone; `--loose` removes them).
    pub loose_kept: Vec<BlobInfo>,
    /// Stale partial downloads and temporary files.
    pub ingest: Vec<IngestInfo>,
    /// Quarantined blobs.
    pub quarantine: Vec<(PathBuf, u64)>,
}

impl Store {
    /// Plans `cache gc`: unreachable blobs (all of them with `loose`, else only the content of
    /// manifests that no reference reaches any more), ingest entries untouched for `ingest_age`,
    /// and the quarantine.
    pub fn plan_gc(&self, loose: bool, ingest_age: Duration) -> Result<GcPlan, StoreError> {
        let index = self.read_index()?;
        let reachable = self.closure(&index.entries())?.present;
        let (blobs, _) = self.blobs()?;
        let unreachable: Vec<BlobInfo> = blobs
            .into_iter()
            .filter(|b| !reachable.contains(&b.digest))
            .collect();
        let mut plan = GcPlan::default();
        if loose {
            plan.blobs = unreachable;
        } else {
            // Manifests no reference reaches (a moved tag, a removed reference) take what they
            // point at with them; a blob no manifest names was fetched by digest alone.
            let mut orphans: Vec<Descriptor> = Vec::new();
            for b in unreachable.iter().filter(|b| b.size <= MAX_MANIFEST as u64) {
                if let Some(m) = self.read_manifest(&b.digest, None)? {
                    orphans.push(Descriptor {
                        media_type: m.media_type().to_owned(),
                        digest: b.digest.clone(),
                        size: b.size,
                        platform: None,
                        annotations: BTreeMap::new(),
                        extra: serde_json::Map::new(),
                    });
                }
            }
            let orphaned = self.closure(&orphans)?.present;
            plan.manifests = orphans.into_iter().map(|d| d.digest).collect();
            for b in unreachable {
                if orphaned.contains(&b.digest) {
                    plan.blobs.push(b);
                } else {
                    plan.loose_kept.push(b);
                }
            }
        }
        let manifests = &plan.manifests;
        plan.blobs.sort_by_key(|b| manifests.contains(&b.digest));
        let cutoff = SystemTime::now()
            .checked_sub(ingest_age)
            .unwrap_or(SystemTime::UNIX_EPOCH);
        plan.ingest = self
            .ingests()?
            .into_iter()
            .filter(|i| i.modified <= cutoff)
            .collect();
        plan.quarantine = self.quarantined()?;
        Ok(plan)
    }
}

/// One thing `cache prune` can evict: a reference (its `index.json` entries and the blobs only
/// it uses) or a blob no reference reaches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PruneUnit {
    /// A reference, by its name in `index.json`.
    Reference(String),
    /// An unreachable blob.
    Blob(Digest),
}

/// What `cache prune` evicts, oldest first.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct PrunePlan {
    /// References to drop from `index.json`, oldest first.
    pub references: Vec<String>,
    /// Blobs to remove.
    pub blobs: Vec<BlobInfo>,
    /// Bytes in `blobs/` before.
    pub before: u64,
    /// Bytes in `blobs/` after, if every removal succeeds.
    pub after: u64,
}

/// A reference as `cache prune` sees it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RefBlobs {
    /// Its `index.json` entries' digests (a pull marks them used; a shared base layer, used by
    /// every image on it, would say nothing about this image).
    pub roots: Vec<Digest>,
    /// Every blob it reaches that is in the cache.
    pub blobs: HashSet<Digest>,
}

/// Plans eviction until `blobs/` holds at most `max_size` bytes. Units go least recently used
/// first (a reference was last used when its entries' manifests were); a blob shared by
/// several references goes only with the last of them, so every reference left behind is
/// complete.
pub fn plan_prune(
    blobs: &[BlobInfo],
    references: &BTreeMap<String, RefBlobs>,
    max_size: u64,
) -> PrunePlan {
    let by_digest: HashMap<&Digest, &BlobInfo> = blobs.iter().map(|b| (&b.digest, b)).collect();
    let mut users: HashMap<&Digest, usize> = HashMap::new();
    for r in references.values() {
        for d in &r.blobs {
            *users.entry(d).or_default() += 1;
        }
    }
    let mut units: Vec<(SystemTime, PruneUnit)> = Vec::new();
    for (name, r) in references {
        let last = |set: &mut dyn Iterator<Item = &Digest>| {
            set.filter_map(|d| by_digest.get(d).map(|b| b.last_use))
                .max()
        };
        let used = last(&mut r.roots.iter())
            .or_else(|| last(&mut r.blobs.iter()))
            .unwrap_or(SystemTime::UNIX_EPOCH);
        units.push((used, PruneUnit::Reference(name.clone())));
    }
    for b in blobs {
        if !users.contains_key(&b.digest) {
            units.push((b.last_use, PruneUnit::Blob(b.digest.clone())));
        }
    }
    // Oldest first; on a tie, loose blobs before references, then by name, for a stable order.
    units.sort_by(|a, b| {
        let rank = |u: &PruneUnit| match u {
            PruneUnit::Blob(d) => (0, d.to_string()),
            PruneUnit::Reference(n) => (1, n.clone()),
        };
        a.0.cmp(&b.0).then_with(|| rank(&a.1).cmp(&rank(&b.1)))
    });
    let before: u64 = blobs.iter().map(|b| b.size).sum();
    let mut plan = PrunePlan {
        before,
        after: before,
        ..PrunePlan::default()
    };
    for (_, unit) in units {
        if plan.after <= max_size {
            break;
        }
        let remove = |d: &Digest, plan: &mut PrunePlan| {
            if let Some(b) = by_digest.get(d) {
                plan.after -= b.size;
                plan.blobs.push((*b).clone());
            }
        };
        match unit {
            PruneUnit::Blob(d) => remove(&d, &mut plan),
            PruneUnit::Reference(name) => {
                let mut mine: Vec<&Digest> = references[&name].blobs.iter().collect();
                mine.sort();
                for d in mine {
                    let left = users.get_mut(d).map_or(0, |n| {
                        *n = n.saturating_sub(1);
                        *n
                    });
                    if left == 0 {
                        remove(d, &mut plan);
                    }
                }
                plan.references.push(name);
            }
        }
    }
    plan
}

impl Store {
    /// The references in `index.json` (grouped by name; unnamed entries under their digest)
    /// and the blobs each reaches.
    pub fn reference_closures(&self) -> Result<BTreeMap<String, RefBlobs>, StoreError> {
        let mut groups: BTreeMap<String, Vec<Descriptor>> = BTreeMap::new();
        for d in self.read_index()?.entries() {
            let name = index::owner(&d).map_or_else(|| d.digest.to_string(), str::to_owned);
            groups.entry(name).or_default().push(d);
        }
        groups
            .into_iter()
            .map(|(name, roots)| {
                let blobs = self.closure(&roots)?.present;
                let roots = roots.into_iter().map(|d| d.digest).collect();
                Ok((name, RefBlobs { roots, blobs }))
            })
            .collect()
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
    use crate::manifest::{OCI_MANIFEST, REF_NAME};

    fn blob(content: &str, size: u64, age: u64) -> BlobInfo {
        BlobInfo {
            digest: digest_bytes(Algorithm::Sha256, content.as_bytes()),
            size,
            last_use: SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000 - age),
        }
    }

    #[test]
    fn prune_evicts_oldest_units_and_keeps_shared_blobs() {
        // Two images sharing a base layer, plus one loose blob.
        let (base, a, b, loose) = (
            blob("base", 100, 50),
            blob("a", 10, 30),
            blob("b", 10, 10),
            blob("loose", 5, 40),
        );
        let blobs = vec![base.clone(), a.clone(), b.clone(), loose.clone()];
        let refs: BTreeMap<String, RefBlobs> = [
            (
                "r/a:1".to_owned(),
                RefBlobs {
                    roots: vec![a.digest.clone()],
                    blobs: [base.digest.clone(), a.digest.clone()].into(),
                },
            ),
            (
                "r/b:1".to_owned(),
                RefBlobs {
                    roots: vec![b.digest.clone()],
                    blobs: [base.digest.clone(), b.digest.clone()].into(),
                },
            ),
        ]
        .into();
        let cases: &[(u64, &[&str], &[&BlobInfo])] = &[
            (1000, &[], &[]),
            (125, &[], &[]),
            (124, &[], &[&loose]),
            // Evicting r/a frees only its own layer: the base is still r/b's.
            (115, &["r/a:1"], &[&loose, &a]),
            (0, &["r/a:1", "r/b:1"], &[&loose, &a, &base, &b]),
        ];
        for (max, want_refs, want_blobs) in cases {
            let plan = plan_prune(&blobs, &refs, *max);
            assert_eq!(plan.references, *want_refs, "max {max}");
            let mut got: Vec<_> = plan.blobs.iter().map(|b| b.digest.clone()).collect();
            let mut want: Vec<_> = want_blobs.iter().map(|b| b.digest.clone()).collect();
            got.sort();
            want.sort();
            assert_eq!(got, want, "max {max}");
            assert_eq!(plan.before, 125);
            assert_eq!(
                plan.after,
                125 - want_blobs.iter().map(|b| b.size).sum::<u64>()
            );
        }
    }

    fn put(store: &Store, bytes: &[u8]) -> Digest {
        let d = digest_bytes(Algorithm::Sha256, bytes);
        store.put_bytes(&d, bytes).unwrap();
        d
    }

    fn image(store: &Store, config: &[u8], layers: &[&[u8]]) -> (Digest, u64) {
        let c = put(store, config);
        let layers: Vec<serde_json::Value> = layers
            .iter()
            .map(|l| serde_json::json!({"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": put(store, l), "size": l.len()}))
            .collect();
        let m = serde_json::json!({
            "schemaVersion": 2, "mediaType": OCI_MANIFEST,
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": c, "size": config.len()},
            "layers": layers,
        })
        .to_string();
        (put(store, m.as_bytes()), m.len() as u64)
    }

    fn record(store: &Store, name: &str, digest: &Digest, size: u64) {
        let d = Descriptor {
            media_type: OCI_MANIFEST.into(),
            digest: digest.clone(),
            size,
            platform: None,
            annotations: [(REF_NAME.to_owned(), name.to_owned())].into(),
            extra: serde_json::Map::new(),
        };
        store
            .update_index(|i| (i.set_ref(name, vec![d]), true))
            .unwrap();
    }

    #[test]
    fn gc_plans_orphans_loose_blobs_and_stale_ingest() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let (kept, kept_size) = image(&store, b"{\"c\":1}", &[b"shared", b"kept-layer"]);
        let (old, _) = image(&store, b"{\"c\":2}", &[b"shared", b"old-layer"]);
        let loose = put(&store, b"fetched by digest");
        record(&store, "r/app:v1", &kept, kept_size);
        let closure = store
            .closure(&store.read_index().unwrap().entries())
            .unwrap();
        assert_eq!(closure.present.len(), 4);
        assert!(closure.missing.is_empty());

        let plan = store.plan_gc(false, Duration::from_secs(3600)).unwrap();
        let mut removed: Vec<_> = plan.blobs.iter().map(|b| b.digest.clone()).collect();
        removed.sort();
        let mut want = vec![
            old.clone(),
            digest_bytes(Algorithm::Sha256, b"{\"c\":2}"),
            digest_bytes(Algorithm::Sha256, b"old-layer"),
        ];
        want.sort();
        assert_eq!(removed, want);
        assert_eq!(plan.loose_kept.len(), 1);
        assert_eq!(plan.loose_kept[0].digest, loose);
        assert!(plan.ingest.is_empty());

        let plan = store.plan_gc(true, Duration::ZERO).unwrap();
        assert_eq!(plan.blobs.len(), 4);
        // A lock held by a "fetch" protects the blob.
        let held = store.lock_blocking(&loose).unwrap();
        assert!(!store.remove_blob_unless_locked(&loose).unwrap());
        drop(held);
        assert!(store.remove_blob_unless_locked(&loose).unwrap());
        assert_eq!(store.lookup(&loose).unwrap(), None);

        // A partial download shows up as ingest; a held lock keeps it.
        let d = digest_bytes(Algorithm::Sha256, b"partial");
        let lock = store.lock_blocking(&d).unwrap();
        let mut ingest = store.ingest(&lock, &d).unwrap();
        ingest.save_state().unwrap();
        let plan = store.plan_gc(false, Duration::ZERO).unwrap();
        assert!(plan.ingest.iter().any(|i| i.digest.as_ref() == Some(&d)));
        for item in &plan.ingest {
            assert!(!store.remove_ingest_unless_locked(item).unwrap());
        }
        drop(lock);
        for item in &store.plan_gc(false, Duration::ZERO).unwrap().ingest {
            assert!(store.remove_ingest_unless_locked(item).unwrap());
        }
        assert!(store.ingests().unwrap().is_empty());
    }

    #[test]
    fn an_unreadable_manifest_stops_gc_rather_than_freeing_what_it_names() {
        // Ways a manifest can be there yet unreadable that hold for root too (tests may run
        // as root, whom permissions do not stop): a directory in its place, a symlink loop.
        type Break = fn(&Path);
        let breaks: [(&str, Break); 2] = [
            ("a directory", |p| fs::create_dir(p).unwrap()),
            ("a symlink loop", |p| {
                std::os::unix::fs::symlink(p, p).unwrap()
            }),
        ];
        for (what, break_it) in breaks {
            let dir = tempfile::tempdir().unwrap();
            let store = Store::open(dir.path()).unwrap();
            let (m, size) = image(&store, b"{\"c\":1}", &[b"layer"]);
            record(&store, "r/app:v1", &m, size);
            let path = store.blob_path(&m);
            fs::remove_file(&path).unwrap();
            break_it(&path);
            assert!(store.read_manifest(&m, None).is_err(), "{what}");
            assert!(store.reference_closures().is_err(), "{what}");
            for loose in [false, true] {
                let plan = store.plan_gc(loose, Duration::ZERO);
                assert!(plan.is_err(), "{what}, loose {loose}: {plan:?}");
            }
        }

        // Missing is not unreadable: the layers of a manifest that is gone are unreachable.
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let (m, size) = image(&store, b"{\"c\":1}", &[b"layer"]);
        record(&store, "r/app:v1", &m, size);
        fs::remove_file(store.blob_path(&m)).unwrap();
        assert!(store.read_manifest(&m, None).unwrap().is_none());
        assert_eq!(store.plan_gc(true, Duration::ZERO).unwrap().blobs.len(), 2);
    }

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
        fs::remove_file(&path).unwrap();
        fs::write(&path, b"good bytes").unwrap();
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
