//! `index.json`, the layout's image index: which references the cache holds.
//!
//! Each pulled reference is an OCI descriptor whose `org.opencontainers.image.ref.name`
//! annotation is the full normalized reference (`127.0.0.1:5000/team/sub/app:v1`,
//! `docker.io/library/alpine:3.20`, `…@sha256:…`). skopeo's `oci:` transport splits
//! `oci:PATH:NAME` at the first colon, so such names work there as they are, and `serve`
//! reads its tags from them. When one platform was chosen from an index, the entry carrying the
//! name is that platform's manifest (what `skopeo copy oci:…` and `serve` then hand out). Docker
//! manifests and lists are recorded as their OCI equivalents (skopeo's `oci:` transport only
//! looks at entries with OCI media types). In both cases the registry's own document (the index,
//! the Docker manifest) gets an entry of its own annotated with [`SOURCE_OF`] = the same name, so
//! that `cache gc` keeps it and a moved tag replaces both.
//!
//! Updates are read-modify-write under `ingest/index.json.lock` (an exclusive `flock`), and
//! written to a temporary file that is fsynced and renamed over `index.json`: concurrent pulls
//! never lose each other's entries and a reader never sees half a file. Members and entries
//! this module does not understand (other tools write layouts too) are kept as they are.

use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use serde_json::{Map, Value};

use super::{Store, StoreError, sync_dir};
use crate::manifest::{Descriptor, REF_NAME};

/// The annotation on a registry document recorded beside the entry derived from it (the index a
/// platform was chosen from, a Docker manifest converted to OCI): the reference it belongs to.
pub const SOURCE_OF: &str = "dev.layerget.source.ref.name";

/// The lock file that serializes `index.json` updates.
const INDEX_LOCK: &str = "index.json.lock";

/// A parsed `index.json`.
#[derive(Debug, Clone)]
pub struct LayoutIndex {
    doc: Map<String, Value>,
}

impl Default for LayoutIndex {
    fn default() -> Self {
        let Value::Object(doc) = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": crate::manifest::OCI_INDEX,
            "manifests": [],
        }) else {
            unreachable!("a JSON object literal")
        };
        LayoutIndex { doc }
    }
}

/// The reference an entry belongs to: its ref.name, or the [`SOURCE_OF`] of an index recorded
/// for a platform pull.
pub fn owner(d: &Descriptor) -> Option<&str> {
    d.annotations
        .get(REF_NAME)
        .or_else(|| d.annotations.get(SOURCE_OF))
        .map(String::as_str)
}

/// The name `cache` commands know an entry's reference by: its [`owner`], or for an entry that
/// belongs to none (another tool's), its digest.
pub(super) fn group_name(d: &Descriptor) -> String {
    owner(d).map_or_else(|| d.digest.to_string(), str::to_owned)
}

impl LayoutIndex {
    /// Parses `index.json` bytes, refusing what is not an OCI image index: what the store
    /// rewrites must be one.
    pub fn parse(bytes: &[u8]) -> Result<LayoutIndex, String> {
        let index = LayoutIndex::parse_lenient(bytes)?;
        // An image layout's index.json is an OCI image index (image-layout.md: "This REQUIRED
        // file ... MUST be an image index"): schemaVersion 2, and its media type if it says one.
        if index.doc.get("schemaVersion").and_then(Value::as_u64) != Some(2) {
            return Err("it is not an OCI image index (its schemaVersion is not 2)".into());
        }
        if let Some(m) = index.doc.get("mediaType")
            && m.as_str() != Some(crate::manifest::OCI_INDEX)
        {
            return Err(format!(
                "it is not an OCI image index (its mediaType is {m})"
            ));
        }
        Ok(index)
    }

    /// Parses `index.json` bytes as far as reading its entries needs: a JSON object whose
    /// `manifests`, if present, is an array. For readers (`serve`) of layouts other tools wrote;
    /// what is written back goes through [`LayoutIndex::parse`].
    pub fn parse_lenient(bytes: &[u8]) -> Result<LayoutIndex, String> {
        let value: Value = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
        let Value::Object(mut doc) = value else {
            return Err("it is not a JSON object".into());
        };
        match doc.get("manifests") {
            None | Some(Value::Null) => {
                doc.insert("manifests".into(), Value::Array(Vec::new()));
            }
            Some(Value::Array(_)) => {}
            Some(_) => return Err("`manifests` is not an array".into()),
        }
        Ok(LayoutIndex { doc })
    }

    fn raw(&self) -> &Vec<Value> {
        match self.doc.get("manifests") {
            Some(Value::Array(a)) => a,
            _ => unreachable!("parse ensures `manifests` is an array"),
        }
    }

    fn raw_mut(&mut self) -> &mut Vec<Value> {
        match self.doc.get_mut("manifests") {
            Some(Value::Array(a)) => a,
            _ => unreachable!("parse ensures `manifests` is an array"),
        }
    }

    /// The entries that are descriptors layerget can read (others are kept, not shown).
    pub fn entries(&self) -> Vec<Descriptor> {
        self.raw()
            .iter()
            .filter_map(|v| serde_json::from_value(v.clone()).ok())
            .collect()
    }

    /// How many entries there are, readable or not.
    pub fn len(&self) -> usize {
        self.raw().len()
    }

    /// Whether there is no entry.
    pub fn is_empty(&self) -> bool {
        self.raw().is_empty()
    }

    /// Removes the entries `remove` picks; returns them.
    pub fn remove_where(&mut self, mut remove: impl FnMut(&Descriptor) -> bool) -> Vec<Descriptor> {
        let mut removed = Vec::new();
        self.raw_mut()
            .retain(|v| match serde_json::from_value::<Descriptor>(v.clone()) {
                Ok(d) if remove(&d) => {
                    removed.push(d);
                    false
                }
                _ => true,
            });
        removed
    }

    /// Records `entries` for reference `name`, replacing whatever belonged to it (a moved tag);
    /// returns the replaced entries.
    pub fn set_ref(&mut self, name: &str, entries: Vec<Descriptor>) -> Vec<Descriptor> {
        let removed = self.remove_ref(name);
        let raw = self.raw_mut();
        for d in entries {
            // A descriptor is strings, numbers and maps with string keys: it always serializes.
            if let Ok(v) = serde_json::to_value(d) {
                raw.push(v);
            }
        }
        removed
    }

    /// Removes every entry belonging to reference `name`; returns them.
    pub fn remove_ref(&mut self, name: &str) -> Vec<Descriptor> {
        self.remove_where(|d| owner(d) == Some(name))
    }

    /// Removes the entries of one reference as the `cache` commands name it: those `name`
    /// owns, or an entry of no reference whose digest is `name`; returns how many went.
    pub fn remove_group(&mut self, name: &str) -> usize {
        let digest = name.parse::<crate::digest::Digest>().ok();
        self.remove_where(|d| match owner(d) {
            Some(o) => o == name,
            None => digest.as_ref() == Some(&d.digest),
        })
        .len()
    }

    /// The document, pretty-printed (people read this file).
    pub fn to_bytes(&self) -> Vec<u8> {
        // A JSON value always serializes (serde_json: only non-string map keys fail).
        let mut bytes = serde_json::to_vec_pretty(&self.doc).unwrap_or_default();
        bytes.push(b'\n');
        bytes
    }
}

/// A unique temporary name, so two threads or processes never share one.
fn temp_name() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    format!(
        "index.json.{}.{}.tmp",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

impl Store {
    fn index_path(&self) -> PathBuf {
        self.root().join("index.json")
    }

    /// Reads `index.json` (an empty index when it is missing).
    pub fn read_index(&self) -> Result<LayoutIndex, StoreError> {
        let path = self.index_path();
        match fs::read(&path) {
            Ok(bytes) => LayoutIndex::parse(&bytes).map_err(|reason| StoreError::Corrupt {
                path: path.clone(),
                reason,
            }),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(LayoutIndex::default()),
            Err(e) => Err(StoreError::io("read", &path)(e)),
        }
    }

    /// Changes `index.json` atomically: takes the index lock, reads the file, lets `change`
    /// edit it, then writes a temporary file, fsyncs it and renames it into place. Nothing is
    /// written when `change` returns `(_, false)`. Blocks: call it from `spawn_blocking`.
    pub fn update_index<T>(
        &self,
        change: impl FnOnce(&mut LayoutIndex) -> (T, bool),
    ) -> Result<T, StoreError> {
        let ingest = self.root().join("ingest");
        let lock_path = ingest.join(INDEX_LOCK);
        // The lock file is never removed: removing it would let a waiter lock a file that a
        // newcomer no longer sees.
        let lock = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&lock_path)
            .map_err(StoreError::io("open lock file", &lock_path))?;
        lock.lock().map_err(StoreError::io("lock", &lock_path))?;
        let mut index = self.read_index()?;
        let (result, changed) = change(&mut index);
        if changed {
            let tmp = ingest.join(temp_name());
            write_synced(&tmp, &index.to_bytes())
                .and_then(|()| fs::rename(&tmp, self.index_path()))
                .map_err(|e| {
                    let _ = fs::remove_file(&tmp);
                    StoreError::io("write", &self.index_path())(e)
                })?;
            sync_dir(self.root())?;
        }
        drop(lock);
        Ok(result)
    }
}

fn write_synced(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut f = fs::File::create(path)?;
    f.write_all(bytes)?;
    f.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::digest::{Algorithm, digest_bytes};
    use crate::manifest::OCI_MANIFEST;

    fn entry(name: &str, key: &str, content: &[u8]) -> Descriptor {
        Descriptor {
            media_type: OCI_MANIFEST.into(),
            digest: digest_bytes(Algorithm::Sha256, content),
            size: content.len() as u64,
            platform: None,
            annotations: [(key.to_owned(), name.to_owned())].into(),
            extra: Map::new(),
        }
    }

    #[test]
    fn set_ref_replaces_a_moved_tag_and_keeps_foreign_entries() {
        let mut index = LayoutIndex::parse(
            br#"{"schemaVersion":2,"manifests":[{"digest":"blake3:xyz","size":1}],"annotations":{"k":"v"}}"#,
        )
        .unwrap();
        assert_eq!(index.len(), 1);
        assert!(index.entries().is_empty());
        let a = "127.0.0.1:5000/team/sub/app:v1";
        index.set_ref(a, vec![entry(a, REF_NAME, b"1"), entry(a, SOURCE_OF, b"i")]);
        index.set_ref("x/y:z", vec![entry("x/y:z", REF_NAME, b"2")]);
        let removed = index.set_ref(a, vec![entry(a, REF_NAME, b"3")]);
        assert_eq!(removed.len(), 2);
        let names: Vec<_> = index
            .entries()
            .iter()
            .map(|d| (owner(d).unwrap().to_owned(), d.size))
            .collect();
        assert_eq!(names, [("x/y:z".to_owned(), 1), (a.to_owned(), 1)]);
        let text = String::from_utf8(index.to_bytes()).unwrap();
        assert!(
            text.contains("blake3:xyz") && text.contains(r#""k": "v""#),
            "{text}"
        );
        assert_eq!(index.remove_ref(a).len(), 1);
        assert_eq!(index.len(), 2);
    }

    #[test]
    fn bad_documents() {
        assert!(LayoutIndex::parse(b"[]").is_err());
        assert!(LayoutIndex::parse(br#"{"manifests":{}}"#).is_err());
        assert!(LayoutIndex::parse(b"{").is_err());
        assert!(LayoutIndex::parse(br#"{"manifests":[]}"#).is_err());
        assert!(LayoutIndex::parse(br#"{"schemaVersion":1,"manifests":[]}"#).is_err());
        assert!(
            LayoutIndex::parse(br#"{"schemaVersion":2,"mediaType":"text/html","manifests":[]}"#)
                .is_err()
        );
        assert!(
            LayoutIndex::parse(br#"{"schemaVersion":2}"#)
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn concurrent_updates_lose_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let threads: Vec<_> = (0..8)
            .map(|i| {
                let store = store.clone();
                std::thread::spawn(move || {
                    for j in 0..10 {
                        let name = format!("r/{i}:{j}");
                        store
                            .update_index(|idx| {
                                idx.set_ref(&name, vec![entry(&name, REF_NAME, name.as_bytes())]);
                                ((), true)
                            })
                            .unwrap();
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(store.read_index().unwrap().entries().len(), 80);
        let leftovers: Vec<_> = fs::read_dir(dir.path().join("ingest"))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .filter(|n| n.to_string_lossy().ends_with(".tmp"))
            .collect();
        assert!(leftovers.is_empty(), "{leftovers:?}");
    }
}
