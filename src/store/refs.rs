//! The tag view of the reference table: which manifest `repository:tag` names, per registry.
//!
//! `index.json` is parsed once, by [`LayoutIndex`]; [`Refs`] is built from that parse. A full
//! reference in an entry's `org.opencontainers.image.ref.name` is what names a tag here, so a
//! cache filled from several registries serves each one's tags (`?ns=` picks a registry, as
//! containerd's mirror requests send it).

use std::collections::{BTreeMap, HashMap};

use super::{LayoutIndex, SOURCE_OF};
use crate::digest::Digest;
use crate::manifest::REF_NAME;
use crate::reference::Reference;

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

/// The reference table of a store: `index.json` as parsed, and the view `serve` needs of it
/// (tags by repository and registry, media types by digest).
#[derive(Debug, Clone, Default)]
pub struct Refs {
    layout: LayoutIndex,
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

/// Two views are equal when they name the same tags and media types (however the files
/// that gave them were spelled).
impl PartialEq for Refs {
    fn eq(&self, other: &Refs) -> bool {
        self.repositories == other.repositories && self.media_types == other.media_types
    }
}

impl Refs {
    /// Reads the tag view of `index.json` bytes, leniently (see [`LayoutIndex::parse_lenient`]):
    /// a server shows what it can read of a layout another tool wrote.
    pub fn parse(bytes: &[u8]) -> Result<Refs, String> {
        LayoutIndex::parse_lenient(bytes).map(Refs::new)
    }

    /// The tag view of a parsed `index.json`. Entries are named by
    /// `org.opencontainers.image.ref.name`, a full reference with a tag
    /// (`127.0.0.1:5000/team/app:v1`, `docker.io/library/alpine:3.20`); other names (a bare
    /// tag, a digest) name no tag. An entry whose `dev.layerget.source.ref.name` gives the same
    /// name is the registry's own document (see `store::index`) and is what the tag resolves
    /// to. Repositories are served without their registry host; [`Refs::tag`] picks among
    /// registries.
    pub fn new(layout: LayoutIndex) -> Refs {
        type Key = (String, String, String);
        let mut refs = Refs {
            layout: LayoutIndex::default(),
            repositories: BTreeMap::new(),
            media_types: HashMap::new(),
        };
        // (registry, repository, tag) → (first position, recording, original).
        let mut found: HashMap<Key, (usize, Option<TagEntry>, Option<TagEntry>)> = HashMap::new();
        for (position, d) in layout.entries().into_iter().enumerate() {
            let media_type = Some(d.media_type.clone()).filter(|m| !m.is_empty());
            if let Some(mt) = &media_type {
                refs.media_types.insert(d.digest.clone(), mt.clone());
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
                    digest: d.digest.clone(),
                    media_type: media_type.clone(),
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
            let candidates = refs
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
        refs.layout = layout;
        refs
    }

    /// The parsed `index.json` the view was built from.
    pub fn layout(&self) -> &LayoutIndex {
        &self.layout
    }

    /// Whether the table has no entry at all.
    pub fn is_empty(&self) -> bool {
        self.layout.is_empty()
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
        let index = Refs::parse(json.as_bytes()).unwrap();
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
        assert!(Refs::parse(b"not json").is_err());
        assert_eq!(Refs::parse(b"{}").unwrap(), Refs::default());
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
        let index = Refs::parse(json.as_bytes()).unwrap();
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
}
