//! Where `serve` reads from: the [`BlobSource`] trait, its on-disk implementation over a cache
//! ([`DiskSource`]) and an in-memory one for tests ([`MemorySource`]), and the tags that
//! `index.json` records ([`Index`]).
//!
//! Safety of [`DiskSource`]: it holds a descriptor of the cache root, opens `blobs/<alg>` below
//! it with `O_NOFOLLOW | O_DIRECTORY`, and each blob with `openat(2)` and `O_NOFOLLOW` below
//! that descriptor, then checks with `fstat` that it got a regular file. A path is never built
//! from request input (only from a parsed [`Digest`], whose hex is `[0-9a-f]`), `ingest/` is
//! never opened, and a symlink anywhere below the root (a planted `blobs/sha256/<hex>`, or
//! `blobs/` itself) is refused instead of followed.

use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::io::{self, Read};
use std::os::fd::OwnedFd;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::{Arc, Mutex, RwLock};
use std::time::SystemTime;

use bytes::Bytes;
use rustix::fs::{Mode, OFlags};

use crate::digest::{Algorithm, Digest};
use crate::reference::Reference;

/// The OCI annotation that names an `index.json` entry (image-spec `annotations.md`).
pub const REF_NAME: &str = "org.opencontainers.image.ref.name";

/// The annotation `pull` puts on the registry's own document recorded beside its recording.
pub use crate::store::SOURCE_OF;

/// Largest `index.json` read (a cache index with thousands of tags is well below this).
const MAX_INDEX: u64 = 16 << 20;

/// The content of a verified blob, opened for reading.
#[derive(Debug)]
pub enum Content {
    /// A file in `blobs/`.
    File(File),
    /// Bytes held in memory (tests).
    Memory(Bytes),
}

/// An open blob: its size (taken when it was opened) and its content.
#[derive(Debug)]
pub struct OpenBlob {
    /// Size in bytes.
    pub size: u64,
    /// The bytes.
    pub content: Content,
}

impl OpenBlob {
    /// Reads `range` into memory; for small answers and manifests, where one `pread` beats
    /// a streaming body. A range that does not lie within the blob is an error, not a panic.
    pub fn read_range(&self, range: std::ops::Range<u64>) -> io::Result<Bytes> {
        let outside = || {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "bytes {}..{} are not within a blob of {} bytes",
                    range.start, range.end, self.size
                ),
            )
        };
        if range.start > range.end || range.end > self.size {
            return Err(outside());
        }
        let start = usize::try_from(range.start).map_err(|_| outside())?;
        let end = usize::try_from(range.end).map_err(|_| outside())?;
        match &self.content {
            Content::Memory(b) if end <= b.len() => Ok(b.slice(start..end)),
            Content::Memory(_) => Err(outside()),
            Content::File(f) => {
                let mut buf = vec![0; end - start];
                f.read_exact_at(&mut buf, range.start)?;
                Ok(buf.into())
            }
        }
    }
}

/// Read access to verified blobs and the cache's tags. Implementations must only ever expose
/// verified content.
pub trait BlobSource: Send + Sync + 'static {
    /// The size of a blob, `None` when it is not there.
    fn stat(&self, digest: &Digest) -> io::Result<Option<u64>>;
    /// Opens a blob, `None` when it is not there.
    fn open(&self, digest: &Digest) -> io::Result<Option<OpenBlob>>;
    /// The tags and media types recorded in `index.json`, as of now.
    fn index(&self) -> io::Result<Arc<Index>>;
}

/// One tagged manifest in `index.json`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TagEntry {
    /// The manifest's digest.
    pub digest: Digest,
    /// The descriptor's media type, if it has one.
    pub media_type: Option<String>,
    /// When this is the registry's own document recorded beside layerget's recording of it (a
    /// Docker manifest converted to OCI, the index a platform was chosen from): that recording,
    /// served should the original's blob be gone.
    pub recording: Option<Box<TagEntry>>,
}

/// The tags of one repository and tag name, one per registry that recorded it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Candidate {
    /// The registry as `Registry::api_host` says it (`docker.io` is `registry-1.docker.io`).
    registry: String,
    /// Where the entry's name first appears in `index.json`: the later one wins without `ns`.
    position: usize,
    entry: TagEntry,
}

/// What `serve` needs from `index.json`: tags by repository and registry, and media types by
/// digest.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Index {
    /// repository → tag → one candidate per registry, tags sorted.
    repositories: BTreeMap<String, BTreeMap<String, Vec<Candidate>>>,
    /// digest → media type, for manifests whose JSON has no `mediaType`.
    media_types: HashMap<Digest, String>,
}

/// The registry a `?ns=` names, in the form `index.json` names are compared in
/// (`Registry::api_host`); `None` when it is no valid registry (then nothing matches it).
pub fn ns_registry(ns: &str) -> Option<String> {
    crate::reference::Registry::parse(&ns.to_ascii_lowercase())
        .ok()
        .map(|r| r.api_host().to_owned())
}

impl Index {
    /// Parses `index.json`. Entries are named by `org.opencontainers.image.ref.name`, a full
    /// reference with a tag (`127.0.0.1:5000/team/app:v1`, `docker.io/library/alpine:3.20`);
    /// other names (a bare tag, a digest) name no tag. An entry whose
    /// `dev.layerget.source.ref.name` gives the same name is the registry's own document
    /// (see `store::index`) and is what the tag resolves to. Repositories are served without
    /// their registry host; [`Index::tag`] picks among registries.
    pub fn parse(bytes: &[u8]) -> Result<Index, serde_json::Error> {
        #[derive(serde::Deserialize)]
        struct Raw {
            #[serde(default)]
            manifests: Vec<Descriptor>,
        }
        #[derive(serde::Deserialize)]
        struct Descriptor {
            #[serde(rename = "mediaType")]
            media_type: Option<String>,
            digest: String,
            #[serde(default)]
            annotations: HashMap<String, String>,
        }
        type Key = (String, String, String);
        let raw: Raw = serde_json::from_slice(bytes)?;
        let mut index = Index::default();
        // (registry, repository, tag) → (first position, recording, original).
        let mut found: HashMap<Key, (usize, Option<TagEntry>, Option<TagEntry>)> = HashMap::new();
        for (position, d) in raw.manifests.into_iter().enumerate() {
            let Ok(digest) = d.digest.parse::<Digest>() else {
                continue;
            };
            if let Some(mt) = &d.media_type {
                index.media_types.insert(digest.clone(), mt.clone());
            }
            for (annotation, original) in [(REF_NAME, false), (SOURCE_OF, true)] {
                let Some(reference) = d
                    .annotations
                    .get(annotation)
                    .and_then(|r| r.parse::<Reference>().ok())
                else {
                    continue;
                };
                let Some(tag) = reference.tag() else {
                    continue;
                };
                let key = (
                    reference.registry().api_host().to_owned(),
                    reference.repository().to_owned(),
                    tag.to_owned(),
                );
                let slot = found.entry(key).or_insert((position, None, None));
                let entry = TagEntry {
                    digest: digest.clone(),
                    media_type: d.media_type.clone(),
                    recording: None,
                };
                if original {
                    slot.2 = Some(entry);
                } else {
                    slot.1 = Some(entry);
                }
            }
        }
        for ((registry, repository, tag), (position, recording, original)) in found {
            let entry = match (original, recording) {
                (Some(mut original), recording) => {
                    original.recording = recording.map(Box::new);
                    original
                }
                (None, Some(recording)) => recording,
                (None, None) => continue,
            };
            let candidates = index
                .repositories
                .entry(repository)
                .or_default()
                .entry(tag)
                .or_default();
            candidates.push(Candidate {
                registry,
                position,
                entry,
            });
            candidates.sort_by_key(|c| c.position);
        }
        Ok(index)
    }

    /// The manifest a tag names: with `ns` (a registry, as [`ns_registry`] normalizes it), the
    /// one recorded from that registry; without, the one whose name comes last in `index.json`.
    pub fn tag(&self, repository: &str, tag: &str, ns: Option<&str>) -> Option<&TagEntry> {
        let candidates = self.repositories.get(repository)?.get(tag)?;
        match ns {
            Some(ns) => candidates.iter().find(|c| c.registry == ns),
            None => candidates.last(),
        }
        .map(|c| &c.entry)
    }

    /// The repository's tags in lexical order (those of registry `ns` only, if given), `None`
    /// when the cache has none for it.
    pub fn tags<'a>(
        &'a self,
        repository: &str,
        ns: Option<&'a str>,
    ) -> Option<impl Iterator<Item = &'a str> + 'a> {
        let tags = self.repositories.get(repository)?;
        let matches =
            move |c: &Vec<Candidate>| ns.is_none_or(|ns| c.iter().any(|c| c.registry == ns));
        if !tags.values().any(matches) {
            return None;
        }
        Some(
            tags.iter()
                .filter(move |(_, c)| matches(c))
                .map(|(t, _)| t.as_str()),
        )
    }

    /// The repositories with at least one tag (from registry `ns`, if given), in lexical order.
    pub fn repositories<'a>(&'a self, ns: Option<&'a str>) -> impl Iterator<Item = &'a str> + 'a {
        self.repositories
            .iter()
            .filter(move |(_, tags)| {
                tags.values()
                    .any(|c| ns.is_none_or(|ns| c.iter().any(|c| c.registry == ns)))
            })
            .map(|(r, _)| r.as_str())
    }

    /// The media type `index.json` records for a digest.
    pub fn media_type(&self, digest: &Digest) -> Option<&str> {
        self.media_types.get(digest).map(String::as_str)
    }
}

/// Blobs in memory, for unit tests of the server.
#[derive(Debug, Default)]
pub struct MemorySource {
    blobs: HashMap<Digest, Bytes>,
    index: Arc<Index>,
}

impl MemorySource {
    /// A source holding these blobs and this `index.json`.
    pub fn new(blobs: impl IntoIterator<Item = Vec<u8>>, index_json: &[u8]) -> MemorySource {
        let blobs = blobs
            .into_iter()
            .map(|b| (crate::digest::digest_bytes(Algorithm::Sha256, &b), b.into()))
            .collect();
        // For tests (the server's unit tests use it): an index.json that does not parse means
        // an empty one, which the test's assertions then show.
        let index = Arc::new(Index::parse(index_json).unwrap_or_default());
        MemorySource { blobs, index }
    }
}

impl BlobSource for MemorySource {
    fn stat(&self, digest: &Digest) -> io::Result<Option<u64>> {
        Ok(self.blobs.get(digest).map(|b| b.len() as u64))
    }

    fn open(&self, digest: &Digest) -> io::Result<Option<OpenBlob>> {
        Ok(self.blobs.get(digest).map(|b| OpenBlob {
            size: b.len() as u64,
            content: Content::Memory(b.clone()),
        }))
    }

    fn index(&self) -> io::Result<Arc<Index>> {
        Ok(self.index.clone())
    }
}

/// The identity of an `index.json` version: it is rewritten by rename, so a new inode, size or
/// mtime means new content.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct FileStamp {
    ino: u64,
    size: u64,
    mtime: Option<SystemTime>,
}

/// A cache directory served read-only. See the module docs for what it refuses.
#[derive(Debug)]
pub struct DiskSource {
    root: OwnedFd,
    /// `blobs/sha256` and `blobs/sha512`, opened on first use and reopened after a miss (the
    /// directory may have been created or replaced since).
    dirs: [RwLock<Option<Arc<OwnedFd>>>; 2],
    index: Mutex<Option<(FileStamp, Arc<Index>)>>,
}

fn dir_flags() -> OFlags {
    OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC
}

impl DiskSource {
    /// Opens the cache at `root` (a symlink is fine for the root itself, which the user
    /// named; nothing below it may be one).
    pub fn open(root: &Path) -> io::Result<DiskSource> {
        let root = rustix::fs::open(
            root,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )?;
        Ok(DiskSource {
            root,
            dirs: [RwLock::new(None), RwLock::new(None)],
            index: Mutex::new(None),
        })
    }

    fn slot(algorithm: Algorithm) -> usize {
        match algorithm {
            Algorithm::Sha256 => 0,
            Algorithm::Sha512 => 1,
        }
    }

    /// `blobs/<alg>` as a descriptor; `refresh` reopens it.
    fn alg_dir(&self, algorithm: Algorithm, refresh: bool) -> io::Result<Option<Arc<OwnedFd>>> {
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
                    "refusing to serve `blobs/{algorithm}`: it (or `blobs`) is a symlink or not a directory"
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
    fn open_file(&self, digest: &Digest) -> io::Result<Option<(File, u64)>> {
        for refresh in [false, true] {
            let Some(dir) = self.alg_dir(digest.algorithm(), refresh)? else {
                if refresh {
                    return Ok(None);
                }
                continue;
            };
            // NONBLOCK: a FIFO planted in blobs/ must not hang the open.
            let flags = OFlags::RDONLY
                | OFlags::NOFOLLOW
                | OFlags::NONBLOCK
                | OFlags::NOCTTY
                | OFlags::CLOEXEC;
            match rustix::fs::openat(&*dir, digest.hex(), flags, Mode::empty()) {
                Ok(fd) => {
                    let file = File::from(fd);
                    let meta = file.metadata()?;
                    if !meta.is_file() {
                        tracing::warn!("refusing to serve `{digest}`: not a regular file");
                        return Ok(None);
                    }
                    return Ok(Some((file, meta.len())));
                }
                Err(e) if e == rustix::io::Errno::NOENT => continue,
                Err(e) if e == rustix::io::Errno::LOOP => {
                    tracing::warn!("refusing to serve `{digest}`: it is a symlink");
                    return Ok(None);
                }
                Err(e) => return Err(e.into()),
            }
        }
        Ok(None)
    }
}

impl BlobSource for DiskSource {
    fn stat(&self, digest: &Digest) -> io::Result<Option<u64>> {
        Ok(self.open_file(digest)?.map(|(_, size)| size))
    }

    fn open(&self, digest: &Digest) -> io::Result<Option<OpenBlob>> {
        Ok(self.open_file(digest)?.map(|(file, size)| OpenBlob {
            size,
            content: Content::File(file),
        }))
    }

    fn index(&self) -> io::Result<Arc<Index>> {
        let flags = OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC;
        let file = match rustix::fs::openat(&self.root, "index.json", flags, Mode::empty()) {
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
        let mut cached = self.index.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((s, index)) = cached.as_ref()
            && *s == stamp
        {
            return Ok(index.clone());
        }
        if !meta.is_file() || meta.len() > MAX_INDEX {
            return Err(io::Error::other(
                "index.json is not a regular file of sane size",
            ));
        }
        let mut bytes = Vec::with_capacity(meta.len() as usize);
        file.take(MAX_INDEX).read_to_end(&mut bytes)?;
        let index = Arc::new(Index::parse(&bytes).map_err(io::Error::other)?);
        *cached = Some((stamp, index.clone()));
        Ok(index)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const D1: &str = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
    const D2: &str = "sha256:0000000000000000000000000000000000000000000000000000000000000001";

    #[test]
    fn index_tags_by_repository_ignoring_hosts() {
        let json = serde_json::json!({
            "schemaVersion": 2,
            "manifests": [
                {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": D1, "size": 1,
                 "annotations": {REF_NAME: "127.0.0.1:5000/team/sub/app:v1"}},
                {"digest": D2, "size": 1, "annotations": {REF_NAME: "docker.io/library/alpine:3.20"}},
                {"digest": D2, "size": 1, "annotations": {REF_NAME: "ghcr.io/team/sub/app:v2"}},
                // A bare tag (other tools write these) or no tag names nothing.
                {"digest": D2, "size": 1, "annotations": {REF_NAME: "latest"}},
                {"digest": D2, "size": 1, "annotations": {REF_NAME: "ghcr.io/x/y"}},
                {"digest": D2, "size": 1, "annotations": {REF_NAME: "Not A Ref"}},
                {"digest": "sha256:bad", "size": 1, "annotations": {REF_NAME: "a:b"}},
                // The later entry wins.
                {"digest": D1, "size": 1, "annotations": {REF_NAME: "alpine:3.20"}},
            ]
        })
        .to_string();
        let index = Index::parse(json.as_bytes()).unwrap();
        let d1: Digest = D1.parse().unwrap();
        assert_eq!(index.tag("team/sub/app", "v1", None).unwrap().digest, d1);
        assert_eq!(
            index
                .tag("team/sub/app", "v1", None)
                .unwrap()
                .media_type
                .as_deref(),
            Some("application/vnd.oci.image.manifest.v1+json")
        );
        assert_eq!(
            index.tag("library/alpine", "3.20", None).unwrap().digest,
            d1
        );
        assert_eq!(
            index
                .tags("team/sub/app", None)
                .unwrap()
                .collect::<Vec<_>>(),
            ["v1", "v2"]
        );
        assert!(index.tags("library/latest", None).is_none());
        assert!(index.tags("x/y", None).is_none());
        assert_eq!(
            index.media_type(&d1),
            Some("application/vnd.oci.image.manifest.v1+json")
        );
        assert!(Index::parse(b"not json").is_err());
        assert_eq!(Index::parse(b"{}").unwrap(), Index::default());
    }

    #[test]
    fn tags_resolve_to_the_registry_s_own_document_and_by_ns() {
        let d = |n: u8| format!("sha256:{}", format!("{n:02x}").repeat(32));
        let json = serde_json::json!({"manifests": [
            // A Docker image from registry A: the recording, then the original.
            {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": d(1), "size": 1,
             "annotations": {REF_NAME: "a.example:5000/app:v1"}},
            {"mediaType": "application/vnd.docker.distribution.manifest.v2+json", "digest": d(2),
             "size": 1, "annotations": {SOURCE_OF: "a.example:5000/app:v1"}},
            // The same name and tag from registry B, later; and from Docker Hub.
            {"digest": d(3), "size": 1, "annotations": {REF_NAME: "b.example/app:v1"}},
            {"digest": d(4), "size": 1, "annotations": {REF_NAME: "docker.io/library/app:v1"}},
            {"digest": d(5), "size": 1, "annotations": {REF_NAME: "b.example/app:only-b"}},
        ]})
        .to_string();
        let index = Index::parse(json.as_bytes()).unwrap();
        let a = ns_registry("a.example:5000").unwrap();
        let got = index.tag("app", "v1", Some(&a)).unwrap();
        assert_eq!(got.digest.to_string(), d(2));
        assert_eq!(got.recording.as_ref().unwrap().digest.to_string(), d(1));
        let b = ns_registry("B.example").unwrap();
        assert_eq!(
            index.tag("app", "v1", Some(&b)).unwrap().digest.to_string(),
            d(3)
        );
        // Without ns the later entry wins; an absent registry has nothing.
        assert_eq!(
            index.tag("app", "v1", None).unwrap().digest.to_string(),
            d(3)
        );
        assert!(index.tag("app", "v1", Some("c.example")).is_none());
        assert!(index.tag("app", "v1", Some("")).is_none());
        // Docker Hub's spellings are one registry.
        for hub in ["docker.io", "index.docker.io", "registry-1.docker.io"] {
            let ns = ns_registry(hub).unwrap();
            assert_eq!(
                index
                    .tag("library/app", "v1", Some(&ns))
                    .unwrap()
                    .digest
                    .to_string(),
                d(4)
            );
        }
        assert_eq!(
            index.tags("app", Some(&a)).unwrap().collect::<Vec<_>>(),
            ["v1"]
        );
        assert_eq!(
            index.tags("app", None).unwrap().collect::<Vec<_>>(),
            ["only-b", "v1"]
        );
        assert!(index.tags("library/app", Some(&a)).is_none());
        assert_eq!(
            index.repositories(None).collect::<Vec<_>>(),
            ["app", "library/app"]
        );
        assert_eq!(index.repositories(Some(&a)).collect::<Vec<_>>(), ["app"]);
    }

    #[test]
    fn disk_source_refuses_symlinks_and_ingest() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("cache");
        crate::store::Store::open(&root).unwrap();
        let data = b"served".to_vec();
        let d = crate::digest::digest_bytes(Algorithm::Sha256, &data);
        let sha = root.join("blobs/sha256");
        std::fs::create_dir_all(&sha).unwrap();
        std::fs::write(sha.join(d.hex()), &data).unwrap();
        // A secret outside the cache, linked in under a digest's name.
        let secret = dir.path().join("secret");
        std::fs::write(&secret, b"secret").unwrap();
        let sd = crate::digest::digest_bytes(Algorithm::Sha256, b"secret");
        std::os::unix::fs::symlink(&secret, sha.join(sd.hex())).unwrap();
        // Content only in ingest/ is not served.
        let id = crate::digest::digest_bytes(Algorithm::Sha256, b"partial");
        let ingest = root.join("ingest/sha256").join(id.hex());
        std::fs::create_dir_all(&ingest).unwrap();
        std::fs::write(ingest.join("data"), b"partial").unwrap();

        let source = DiskSource::open(&root).unwrap();
        assert_eq!(source.stat(&d).unwrap(), Some(6));
        let blob = source.open(&d).unwrap().unwrap();
        assert_eq!(&blob.read_range(1..4).unwrap()[..], b"erv");
        assert_eq!(source.stat(&sd).unwrap(), None);
        assert_eq!(source.stat(&id).unwrap(), None);

        // blobs/sha512 as a symlink to a directory outside is refused too.
        let outside = dir.path().join("outside");
        std::fs::create_dir(&outside).unwrap();
        let s512 = crate::digest::digest_bytes(Algorithm::Sha512, b"x");
        std::fs::write(outside.join(s512.hex()), b"x").unwrap();
        std::os::unix::fs::symlink(&outside, root.join("blobs/sha512")).unwrap();
        assert_eq!(source.stat(&s512).unwrap(), None);

        // A blob added while serving is found (the directory descriptor sees it).
        let later = crate::digest::digest_bytes(Algorithm::Sha256, b"later");
        std::fs::write(sha.join(later.hex()), b"later").unwrap();
        assert_eq!(source.stat(&later).unwrap(), Some(5));
    }

    #[test]
    fn disk_index_is_reread_when_it_changes() {
        let dir = tempfile::tempdir().unwrap();
        crate::store::Store::open(dir.path()).unwrap();
        let source = DiskSource::open(dir.path()).unwrap();
        assert!(source.index().unwrap().tags("a", None).is_none());
        let json = serde_json::json!({"schemaVersion": 2, "manifests": [
            {"digest": D1, "size": 1, "annotations": {REF_NAME: "reg.example/a:v1"}}]});
        let tmp = dir.path().join("index.json.tmp");
        std::fs::write(&tmp, json.to_string()).unwrap();
        std::fs::rename(&tmp, dir.path().join("index.json")).unwrap();
        assert!(source.index().unwrap().tag("a", "v1", None).is_some());
    }
}
