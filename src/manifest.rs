//! Image manifests and indexes: media types, lenient parsing, and choosing a platform.
//!
//! Pure code: bytes and header values in, values out. Four documents are understood, the two of
//! the OCI Image Specification (`image-index.md`, `manifest.md`) and their Docker ancestors
//! (manifest list v2 and image manifest v2, schema 2), which have the same shape. A registry's
//! `Content-Type` decides what a document is (its parameters ignored); when the JSON names a
//! `mediaType` too, both must agree (OCI image spec: "mediaType … when used, this field MUST
//! contain the media type"). Generic types (`application/json`, none at all) fall back to the
//! JSON's `mediaType`, then to the document's shape. Unknown JSON members are kept, so a
//! descriptor copied from an index into `index.json` loses nothing.
//!
//! Fetching manifests is the client's job, storing them the store's.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::digest::Digest;

/// OCI image index.
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
/// OCI image manifest.
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
/// Docker manifest list (schema 2).
pub const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
/// Docker image manifest (schema 2).
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
/// The `Accept` header of a manifest request: every type layerget understands.
pub const ACCEPT: &str = "application/vnd.oci.image.index.v1+json, \
application/vnd.oci.image.manifest.v1+json, \
application/vnd.docker.distribution.manifest.list.v2+json, \
application/vnd.docker.distribution.manifest.v2+json";
/// The largest manifest read (distribution's own limit is 4 MiB too).
pub const MAX_MANIFEST: usize = 4 << 20;
/// The OCI annotation that names a reference in an image layout's `index.json`.
pub const REF_NAME: &str = "org.opencontainers.image.ref.name";

/// Whether a document lists images or is one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// An OCI image index or a Docker manifest list.
    Index,
    /// An OCI image manifest or a Docker image manifest v2.
    Image,
}

/// The kind of one of the four manifest media types, `None` for anything else.
pub fn kind_of(media_type: &str) -> Option<Kind> {
    match media_type {
        OCI_INDEX | DOCKER_LIST => Some(Kind::Index),
        OCI_MANIFEST | DOCKER_MANIFEST => Some(Kind::Image),
        _ => None,
    }
}

/// `application/vnd.oci.image.manifest.v1+json; charset=utf-8` → the bare, lowercase type.
pub fn essence(content_type: &str) -> String {
    content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase()
}

/// Why a document is not a manifest layerget can use.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    /// JSON of the wrong shape, in layerget's words.
    #[error("it is not a valid manifest: {0}")]
    Invalid(String),
    /// Not JSON, or JSON serde cannot read as a manifest (the parser's error, kept: shown
    /// inline, as wrappers such as `PullError::Manifest` print this error's text only).
    #[error("it is not a valid manifest: {0}")]
    Json(serde_json::Error),
    /// `Content-Type` and the JSON's `mediaType` disagree.
    #[error("it is served as `{content_type}` but its mediaType is `{media_type}`")]
    MediaTypeMismatch {
        /// The `Content-Type` (parameters removed).
        content_type: String,
        /// The JSON's `mediaType`.
        media_type: String,
    },
    /// A media type layerget does not pull (schema 1, artifacts, …).
    #[error(
        "its media type `{0}` is not supported (layerget pulls OCI indexes and manifests and Docker manifest lists and v2 manifests)"
    )]
    Unsupported(String),
}

/// A platform as a descriptor in an index gives it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Platform {
    /// CPU architecture (`amd64`, `arm64`).
    pub architecture: String,
    /// Operating system (`linux`, `windows`).
    pub os: String,
    /// CPU variant (`v7`, `v8`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
    /// Anything else (`os.version`, `os.features`), kept as it was.
    #[serde(flatten)]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

impl fmt::Display for Platform {
    /// `os/arch[/variant]`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(v) = self.variant.as_deref().filter(|v| !v.is_empty()) {
            write!(f, "/{v}")?;
        }
        Ok(())
    }
}

/// An OCI content descriptor (`descriptor.md`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Descriptor {
    /// The media type of the content (may be empty in sloppy documents).
    #[serde(rename = "mediaType", default)]
    pub media_type: String,
    /// The content's digest.
    pub digest: Digest,
    /// The content's size in bytes.
    pub size: u64,
    /// For index entries: the platform the manifest runs on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<Platform>,
    /// Annotations.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
    /// Anything else (`urls`, `artifactType`, `data`), kept as it was.
    #[serde(flatten)]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

impl Descriptor {
    /// Whether the content must not be fetched from the registry: OCI non-distributable and
    /// Docker foreign layers live elsewhere (their `urls`), and registries do not hold them.
    pub fn is_non_distributable(&self) -> bool {
        self.media_type.contains(".nondistributable.") || self.media_type.contains(".foreign.")
    }
}

/// An image index or manifest list.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Index {
    /// The manifests it lists.
    #[serde(default)]
    pub manifests: Vec<Descriptor>,
}

/// An image manifest.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct ImageManifest {
    /// The image configuration.
    pub config: Descriptor,
    /// The layers, base first.
    #[serde(default)]
    pub layers: Vec<Descriptor>,
}

impl ImageManifest {
    /// The config and then the layers.
    pub fn blobs(&self) -> impl Iterator<Item = &Descriptor> {
        std::iter::once(&self.config).chain(&self.layers)
    }
}

/// A parsed manifest document.
#[derive(Debug, Clone, PartialEq)]
pub enum Manifest {
    /// An index or list.
    Index {
        /// Its media type, as decided by [`parse`].
        media_type: String,
        /// The document.
        index: Index,
    },
    /// An image manifest.
    Image {
        /// Its media type, as decided by [`parse`].
        media_type: String,
        /// The document (boxed: it is much larger than an index).
        manifest: Box<ImageManifest>,
    },
}

impl Manifest {
    /// The media type.
    pub fn media_type(&self) -> &str {
        match self {
            Manifest::Index { media_type, .. } | Manifest::Image { media_type, .. } => media_type,
        }
    }

    /// Every digest the document points at (the children of an index; config and layers of an
    /// image manifest, plus its `subject`, if any, is not included: a subject is the thing
    /// referred to, not a part).
    pub fn children(&self) -> Vec<&Descriptor> {
        match self {
            Manifest::Index { index, .. } => index.manifests.iter().collect(),
            Manifest::Image { manifest, .. } => manifest.blobs().collect(),
        }
    }
}

/// The OCI media type for a Docker one (config and layers keep their bytes: the formats are
/// the same, only the names differ), or `None` when it needs no change.
fn oci_type_for(docker: &str) -> Option<&'static str> {
    Some(match docker {
        DOCKER_MANIFEST => OCI_MANIFEST,
        DOCKER_LIST => OCI_INDEX,
        "application/vnd.docker.container.image.v1+json" => {
            "application/vnd.oci.image.config.v1+json"
        }
        "application/vnd.docker.image.rootfs.diff.tar.gzip" => {
            "application/vnd.oci.image.layer.v1.tar+gzip"
        }
        "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip" => {
            "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip"
        }
        _ => return None,
    })
}

/// Whether a media type is one of Docker's manifest types.
pub fn is_docker(media_type: &str) -> bool {
    matches!(media_type, DOCKER_MANIFEST | DOCKER_LIST)
}

/// Rewrites a Docker manifest v2 or manifest list as the equivalent OCI document, as skopeo
/// does when it writes an OCI layout: media types renamed, config and layer blobs unchanged.
/// `children` maps the digests of list entries that were converted themselves to their new
/// digest and size. The output is compact JSON with sorted keys, so the same input always gives
/// the same digest.
pub fn docker_to_oci(
    bytes: &[u8],
    children: &std::collections::HashMap<Digest, (Digest, u64)>,
) -> Result<Vec<u8>, ManifestError> {
    use serde_json::{Map, Value};
    // The document came from a registry: every member may have any shape, so nothing below
    // indexes a `Value` (which panics on non-objects); members of the wrong shape are left as
    // they are and the registry's own document is what `parse` already accepted.
    let mut doc: Value = serde_json::from_slice(bytes).map_err(ManifestError::Json)?;
    let Some(top) = doc.as_object_mut() else {
        return Err(ManifestError::Invalid("it is not a JSON object".into()));
    };
    fn rename(object: &mut Map<String, Value>) {
        if let Some(v) = object.get_mut("mediaType")
            && let Some(new) = v.as_str().and_then(oci_type_for)
        {
            *v = new.into();
        }
    }
    fn objects<'a>(
        top: &'a mut Map<String, Value>,
        key: &str,
    ) -> impl Iterator<Item = &'a mut Map<String, Value>> {
        top.get_mut(key)
            .and_then(Value::as_array_mut)
            .into_iter()
            .flatten()
            .filter_map(Value::as_object_mut)
    }
    rename(top);
    if let Some(config) = top.get_mut("config").and_then(Value::as_object_mut) {
        rename(config);
    }
    objects(top, "layers").for_each(rename);
    for entry in objects(top, "manifests") {
        let old = entry
            .get("digest")
            .and_then(Value::as_str)
            .and_then(|d| d.parse::<Digest>().ok());
        if let Some((digest, size)) = old.and_then(|d| children.get(&d)) {
            entry.insert("digest".into(), digest.to_string().into());
            entry.insert("size".into(), (*size).into());
            rename(entry);
        }
    }
    serde_json::to_vec(&doc).map_err(ManifestError::Json)
}

/// An index or manifest list with only the entries whose digest is in `keep` (the rest of the
/// document as it was), as compact JSON with sorted keys. For recording some platforms of an
/// index: the result is an index of content the cache holds.
pub fn subset_index(
    bytes: &[u8],
    keep: &std::collections::HashSet<Digest>,
) -> Result<Vec<u8>, ManifestError> {
    use serde_json::Value;
    let mut doc: Value = serde_json::from_slice(bytes).map_err(ManifestError::Json)?;
    let Some(manifests) = doc.get_mut("manifests").and_then(Value::as_array_mut) else {
        return Err(ManifestError::Invalid("it has no `manifests` list".into()));
    };
    manifests.retain(|entry| {
        entry
            .get("digest")
            .and_then(Value::as_str)
            .and_then(|d| d.parse::<Digest>().ok())
            .is_some_and(|d| keep.contains(&d))
    });
    serde_json::to_vec(&doc).map_err(ManifestError::Json)
}

/// Types that tell nothing about which manifest a body is.
fn is_generic(content_type: &str) -> bool {
    matches!(
        content_type,
        "" | "application/json" | "text/plain" | "application/octet-stream" | "binary/octet-stream"
    )
}

/// Parses a manifest document. `content_type` is the response's `Content-Type` (or a
/// descriptor's `mediaType`); `None` when unknown, e.g. for a document read from the cache.
pub fn parse(bytes: &[u8], content_type: Option<&str>) -> Result<Manifest, ManifestError> {
    #[derive(Deserialize)]
    struct Head {
        #[serde(rename = "schemaVersion")]
        schema_version: Option<u64>,
        #[serde(rename = "mediaType")]
        media_type: Option<String>,
        manifests: Option<serde_json::Value>,
        config: Option<serde_json::Value>,
    }
    let invalid = ManifestError::Json;
    let head: Head = serde_json::from_slice(bytes).map_err(invalid)?;
    let declared = content_type.map(essence).unwrap_or_default();
    let body_type = head.media_type.clone().filter(|m| !m.is_empty());
    let media_type = if !is_generic(&declared) {
        if kind_of(&declared).is_none() {
            return Err(ManifestError::Unsupported(declared));
        }
        if let Some(m) = &body_type
            && *m != declared
        {
            return Err(ManifestError::MediaTypeMismatch {
                content_type: declared,
                media_type: m.clone(),
            });
        }
        declared
    } else if let Some(m) = body_type {
        m
    } else if head.manifests.is_some() {
        // OCI documents may omit mediaType (it is only a SHOULD); the shape decides then.
        OCI_INDEX.to_owned()
    } else if head.config.is_some() {
        OCI_MANIFEST.to_owned()
    } else {
        return Err(ManifestError::Invalid(
            "it has no mediaType, no `manifests` and no `config`".into(),
        ));
    };
    let Some(kind) = kind_of(&media_type) else {
        return Err(ManifestError::Unsupported(media_type));
    };
    if head.schema_version != Some(2) {
        return Err(ManifestError::Invalid(format!(
            "schemaVersion is {}, not 2",
            head.schema_version
                .map_or_else(|| "missing".to_owned(), |v| v.to_string())
        )));
    }
    Ok(match kind {
        Kind::Index => Manifest::Index {
            media_type,
            index: serde_json::from_slice(bytes).map_err(invalid)?,
        },
        Kind::Image => Manifest::Image {
            media_type,
            manifest: Box::new(serde_json::from_slice(bytes).map_err(invalid)?),
        },
    })
}

/// A wanted platform: `os/arch[/variant]` as `--platform` takes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlatformSpec {
    /// Operating system.
    pub os: String,
    /// Architecture, normalized (`x86_64` → `amd64`, `aarch64` → `arm64`).
    pub architecture: String,
    /// Variant, when one was asked for.
    pub variant: Option<String>,
}

/// Why a `--platform` value is not usable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid platform `{0}` (expected os/arch[/variant], e.g. linux/amd64 or linux/arm/v7)")]
pub struct PlatformError(String);

impl PlatformError {
    /// The error's category (and so exit code): a bad flag value.
    pub fn category(&self) -> crate::exit::Category {
        crate::exit::Category::Usage
    }
}

impl FromStr for PlatformSpec {
    type Err = PlatformError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let parts: Vec<&str> = s.split('/').collect();
        let ok = |p: &&str| {
            !p.is_empty()
                && p.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
        };
        let (os, arch, variant) = match parts.as_slice() {
            [os, arch] => (*os, *arch, None),
            [os, arch, variant] => (*os, *arch, Some(*variant)),
            _ => return Err(PlatformError(s.to_owned())),
        };
        if !parts.iter().all(ok) {
            return Err(PlatformError(s.to_owned()));
        }
        let (architecture, variant) = normalize_arch(&arch.to_ascii_lowercase(), variant);
        Ok(PlatformSpec {
            os: os.to_ascii_lowercase(),
            architecture,
            variant,
        })
    }
}

impl fmt::Display for PlatformSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(v) = &self.variant {
            write!(f, "/{v}")?;
        }
        Ok(())
    }
}

/// Go's architecture names, which image indexes use, for other spellings (containerd's
/// `platforms.Normalize` does the same).
fn normalize_arch(arch: &str, variant: Option<&str>) -> (String, Option<String>) {
    let variant = variant.map(str::to_ascii_lowercase);
    match arch {
        "x86_64" | "x86-64" | "amd64" => ("amd64".into(), variant),
        "aarch64" | "arm64" => ("arm64".into(), variant),
        "armhf" => ("arm".into(), Some("v7".into())),
        "armel" => ("arm".into(), Some("v6".into())),
        "i386" | "i686" | "x86" => ("386".into(), variant),
        other => (other.to_owned(), variant),
    }
}

/// The variant a platform has when it names none (`arm64` means `v8`, `arm` means `v7`).
fn default_variant(arch: &str) -> &'static str {
    match arch {
        "arm64" => "v8",
        "arm" => "v7",
        _ => "",
    }
}

impl PlatformSpec {
    /// This machine: `linux/amd64` on x86-64 Linux, `linux/arm64` on an ARM64 one.
    pub fn host() -> PlatformSpec {
        let (architecture, variant) = match std::env::consts::ARCH {
            "powerpc64" if cfg!(target_endian = "little") => ("ppc64le".to_owned(), None),
            "loongarch64" => ("loong64".to_owned(), None),
            "arm" => ("arm".to_owned(), Some("v7".to_owned())),
            a => normalize_arch(a, None),
        };
        PlatformSpec {
            os: std::env::consts::OS.to_owned(),
            architecture,
            variant,
        }
    }

    /// Whether an index entry's platform is this one. Without a wanted variant any variant
    /// matches; with one, a missing variant counts as the architecture's default.
    pub fn matches(&self, p: &Platform) -> bool {
        let (arch, variant) = normalize_arch(&p.architecture.to_ascii_lowercase(), None);
        let variant = p
            .variant
            .as_deref()
            .map(str::to_ascii_lowercase)
            .or(variant);
        if !p.os.eq_ignore_ascii_case(&self.os) || arch != self.architecture {
            return false;
        }
        match &self.variant {
            None => true,
            Some(want) => {
                let have = variant.unwrap_or_default();
                let def = default_variant(&arch);
                let norm = |v: &str| if v.is_empty() { def } else { v }.to_owned();
                norm(want) == norm(&have)
            }
        }
    }

    /// Chooses this platform's manifest from an index: among the matches, one whose variant is
    /// the default (or absent) wins, then the first, as containerd's matcher ranks them.
    pub fn choose<'a>(&self, index: &'a Index) -> Option<&'a Descriptor> {
        let matches: Vec<&Descriptor> = index
            .manifests
            .iter()
            .filter(|d| d.platform.as_ref().is_some_and(|p| self.matches(p)))
            .collect();
        matches
            .iter()
            .find(|d| {
                let v = d.platform.as_ref().and_then(|p| p.variant.as_deref());
                let v = v.unwrap_or("");
                v.is_empty() || v == default_variant(&self.architecture)
            })
            .or(matches.first())
            .copied()
    }
}

/// The media types a registry serves manifests with: those this module understands.
pub const MANIFEST_TYPES: [&str; 4] = [OCI_MANIFEST, OCI_INDEX, DOCKER_MANIFEST, DOCKER_LIST];

/// The manifest media type of a blob's bytes, `None` when they are no manifest or index that
/// [`parse`] accepts. `hint` is what `index.json` records for the digest; it
/// only helps a document without `mediaType` of its own, and only if it is a manifest type.
pub fn classify(bytes: &[u8], hint: Option<&str>) -> Option<&'static str> {
    let hint = hint.map(essence).filter(|h| kind_of(h).is_some());
    let parsed = match hint {
        Some(h) => parse(bytes, Some(&h)).or_else(|_| parse(bytes, None)),
        None => parse(bytes, None),
    }
    .ok()?;
    MANIFEST_TYPES
        .into_iter()
        .find(|known| *known == parsed.media_type())
}

#[cfg(test)]
mod tests {
    use super::*;

    const D1: &str = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    fn index_json(media_type: Option<&str>, platforms: &[&str]) -> String {
        let manifests: Vec<serde_json::Value> = platforms
            .iter()
            .enumerate()
            .map(|(i, p)| {
                let parts: Vec<&str> = p.split('/').collect();
                let mut platform = serde_json::json!({"os": parts[0], "architecture": parts[1]});
                if let Some(v) = parts.get(2) {
                    platform["variant"] = (*v).into();
                }
                serde_json::json!({"mediaType": OCI_MANIFEST, "digest": D1, "size": i, "platform": platform})
            })
            .collect();
        let mut doc = serde_json::json!({"schemaVersion": 2, "manifests": manifests});
        if let Some(m) = media_type {
            doc["mediaType"] = m.into();
        }
        doc.to_string()
    }

    fn image_json(media_type: Option<&str>) -> String {
        let mut doc = serde_json::json!({
            "schemaVersion": 2,
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": D1, "size": 2},
            "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": D1, "size": 0,
                        "urls": ["https://example.invalid"]}],
        });
        if let Some(m) = media_type {
            doc["mediaType"] = m.into();
        }
        doc.to_string()
    }

    #[test]
    fn parse_table() {
        type Case<'a> = (String, Option<&'a str>, Result<&'a str, &'a str>);
        let cases: Vec<Case> = vec![
            (
                image_json(Some(OCI_MANIFEST)),
                Some(OCI_MANIFEST),
                Ok(OCI_MANIFEST),
            ),
            (
                image_json(Some(OCI_MANIFEST)),
                Some("application/vnd.oci.image.manifest.v1+json; charset=utf-8"),
                Ok(OCI_MANIFEST),
            ),
            (image_json(None), Some(DOCKER_MANIFEST), Ok(DOCKER_MANIFEST)),
            (image_json(None), None, Ok(OCI_MANIFEST)),
            (
                image_json(Some(DOCKER_MANIFEST)),
                Some("application/json"),
                Ok(DOCKER_MANIFEST),
            ),
            (index_json(None, &["linux/amd64"]), None, Ok(OCI_INDEX)),
            (
                index_json(Some(DOCKER_LIST), &[]),
                Some(DOCKER_LIST),
                Ok(DOCKER_LIST),
            ),
            (
                index_json(Some(OCI_INDEX), &[]),
                Some(OCI_MANIFEST),
                Err("served as `application/vnd.oci.image.manifest.v1+json` but its mediaType is `application/vnd.oci.image.index.v1+json`"),
            ),
            (
                image_json(None),
                Some("application/vnd.docker.distribution.manifest.v1+prettyjws"),
                Err("not supported"),
            ),
            (
                image_json(Some("application/vnd.oci.artifact.manifest.v1+json")),
                None,
                Err("`application/vnd.oci.artifact.manifest.v1+json` is not supported"),
            ),
            ("not json".into(), None, Err("not a valid manifest")),
            ("{}".into(), None, Err("no mediaType")),
            (
                r#"{"schemaVersion":1,"config":{}}"#.into(),
                None,
                Err("schemaVersion is 1"),
            ),
            (
                r#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","layers":[]}"#
                    .into(),
                None,
                Err("missing field `config`"),
            ),
            (
                r#"{"schemaVersion":2,"manifests":[{"digest":"md5:00","size":1}]}"#.into(),
                None,
                Err("not a valid manifest"),
            ),
        ];
        for (body, ct, want) in cases {
            let got = parse(body.as_bytes(), ct);
            match (got, want) {
                (Ok(m), Ok(mt)) => assert_eq!(m.media_type(), mt, "{body}"),
                (Err(e), Err(text)) => assert!(e.to_string().contains(text), "{body}: {e}"),
                (got, want) => panic!("{body} {ct:?}: got {got:?}, want {want:?}"),
            }
        }
    }

    #[test]
    fn descriptors_keep_unknown_members() {
        let m = parse(image_json(None).as_bytes(), None).unwrap();
        let Manifest::Image { manifest, .. } = &m else {
            panic!("an image")
        };
        assert_eq!(manifest.blobs().count(), 2);
        let layer = serde_json::to_value(&manifest.layers[0]).unwrap();
        assert_eq!(layer["urls"][0], "https://example.invalid");
        assert!(!manifest.layers[0].is_non_distributable());
        assert_eq!(m.children().len(), 2);
    }

    #[test]
    fn docker_documents_become_oci() {
        let docker = serde_json::json!({
            "schemaVersion": 2, "mediaType": DOCKER_MANIFEST,
            "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "digest": D1, "size": 2},
            "layers": [
                {"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip", "digest": D1, "size": 3},
                {"mediaType": "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip", "digest": D1, "size": 4, "urls": ["u"]},
            ],
        });
        let none = std::collections::HashMap::new();
        let oci = docker_to_oci(docker.to_string().as_bytes(), &none).unwrap();
        let m = parse(&oci, Some(OCI_MANIFEST)).unwrap();
        let Manifest::Image { manifest, .. } = &m else {
            panic!("an image")
        };
        assert_eq!(
            manifest.config.media_type,
            "application/vnd.oci.image.config.v1+json"
        );
        assert_eq!(
            manifest.layers[0].media_type,
            "application/vnd.oci.image.layer.v1.tar+gzip"
        );
        assert!(manifest.layers[1].is_non_distributable());
        assert_eq!(manifest.layers[1].extra["urls"][0], "u");
        assert_eq!(
            oci,
            docker_to_oci(docker.to_string().as_bytes(), &none).unwrap()
        );

        let child: Digest = D1.parse().unwrap();
        let new = crate::digest::digest_bytes(crate::digest::Algorithm::Sha256, &oci);
        let list = serde_json::json!({
            "schemaVersion": 2, "mediaType": DOCKER_LIST,
            "manifests": [{"mediaType": DOCKER_MANIFEST, "digest": D1, "size": 9,
                           "platform": {"os": "linux", "architecture": "amd64"}}],
        });
        let children = [(child, (new.clone(), oci.len() as u64))].into();
        let index = docker_to_oci(list.to_string().as_bytes(), &children).unwrap();
        let Manifest::Index { index, media_type } = parse(&index, None).unwrap() else {
            panic!("an index")
        };
        assert_eq!(media_type, OCI_INDEX);
        assert_eq!(index.manifests[0].digest, new);
        assert_eq!(index.manifests[0].size, oci.len() as u64);
        assert_eq!(index.manifests[0].media_type, OCI_MANIFEST);
        assert!(is_docker(DOCKER_LIST) && !is_docker(OCI_INDEX));
    }

    /// Issue 9, item 12: members of any shape (a hostile registry's) give an error or an
    /// unchanged member, never a panic.
    #[test]
    fn docker_to_oci_survives_hostile_shapes() {
        let none = std::collections::HashMap::new();
        let child: Digest = D1.parse().unwrap();
        let some = [(child, (child_digest(), 7u64))].into();
        let cases: &[(&str, bool)] = &[
            (r#"{"schemaVersion":2,"config":1,"layers":[0]}"#, true),
            (r#"{"config":"x","layers":{"a":1}}"#, true),
            (r#"{"layers":[null,[],"s",{"mediaType":7}]}"#, true),
            (
                r#"{"manifests":[1,{"digest":5},{"digest":"nope"},[]]}"#,
                true,
            ),
            (r#"{"mediaType":["a"],"manifests":7}"#, true),
            (r#"[1,2]"#, false),
            (r#"1"#, false),
            (r#""s""#, false),
            (r#"null"#, false),
            (r#"{"#, false),
        ];
        for (input, ok) in cases {
            for children in [&none, &some] {
                let got = docker_to_oci(input.as_bytes(), children);
                assert_eq!(got.is_ok(), *ok, "{input}: {got:?}");
            }
        }
        let out = docker_to_oci(
            format!(r#"{{"manifests":[3,{{"digest":"{D1}","size":1}}]}}"#).as_bytes(),
            &some,
        )
        .unwrap();
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["manifests"][0], 3);
        assert_eq!(v["manifests"][1]["size"], 7);
    }

    #[test]
    fn subset_index_keeps_only_the_chosen_entries() {
        let a = crate::digest::digest_bytes(crate::digest::Algorithm::Sha256, b"a");
        let b = crate::digest::digest_bytes(crate::digest::Algorithm::Sha256, b"b");
        let doc = serde_json::json!({
            "schemaVersion": 2, "mediaType": OCI_INDEX, "annotations": {"k": "v"},
            "manifests": [
                {"mediaType": OCI_MANIFEST, "digest": a.to_string(), "size": 1},
                {"mediaType": OCI_MANIFEST, "digest": b.to_string(), "size": 2},
                {"digest": "not a digest"}, 7,
            ],
        });
        let keep = [b.clone()].into();
        let out = subset_index(doc.to_string().as_bytes(), &keep).unwrap();
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["manifests"].as_array().unwrap().len(), 1);
        assert_eq!(v["manifests"][0]["digest"], b.to_string());
        assert_eq!(v["annotations"]["k"], "v");
        assert!(subset_index(b"[1]", &keep).is_err());
        assert!(subset_index(br#"{"manifests":3}"#, &keep).is_err());
    }

    fn child_digest() -> Digest {
        crate::digest::digest_bytes(crate::digest::Algorithm::Sha256, b"child")
    }

    #[test]
    fn platform_specs() {
        let good: &[(&str, &str)] = &[
            ("linux/amd64", "linux/amd64"),
            ("linux/x86_64", "linux/amd64"),
            ("Linux/AArch64", "linux/arm64"),
            ("linux/arm64/v8", "linux/arm64/v8"),
            ("linux/arm/v7", "linux/arm/v7"),
            ("linux/armhf", "linux/arm/v7"),
            ("windows/amd64", "windows/amd64"),
        ];
        for (input, want) in good {
            assert_eq!(
                input.parse::<PlatformSpec>().unwrap().to_string(),
                *want,
                "{input}"
            );
        }
        for bad in ["", "linux", "linux/", "/amd64", "a/b/c/d", "linux/amd 64"] {
            let err = bad.parse::<PlatformSpec>().unwrap_err().to_string();
            assert!(err.contains("expected os/arch"), "{bad}: {err}");
        }
        let host = PlatformSpec::host();
        assert_eq!(host.os, std::env::consts::OS);
        assert!(!host.architecture.is_empty());
        #[cfg(all(target_os = "linux", target_arch = "x86_64"))]
        assert_eq!(host.to_string(), "linux/amd64");
    }

    #[test]
    fn choosing_a_platform() {
        let body = index_json(
            Some(OCI_INDEX),
            &[
                "linux/amd64",
                "linux/arm/v6",
                "linux/arm/v7",
                "linux/arm64/v8",
                "windows/amd64",
                "unknown/unknown",
            ],
        );
        let Manifest::Index { index, .. } = parse(body.as_bytes(), None).unwrap() else {
            panic!("an index")
        };
        let cases: &[(&str, Option<u64>)] = &[
            ("linux/amd64", Some(0)),
            ("linux/arm", Some(2)),
            ("linux/arm/v6", Some(1)),
            ("linux/arm/v7", Some(2)),
            ("linux/arm64", Some(3)),
            ("linux/aarch64/v8", Some(3)),
            ("linux/arm64/v9", None),
            ("windows/amd64", Some(4)),
            ("linux/s390x", None),
            ("darwin/amd64", None),
        ];
        for (want, size) in cases {
            let spec: PlatformSpec = want.parse().unwrap();
            assert_eq!(spec.choose(&index).map(|d| d.size), *size, "{want}");
        }
        // arm64 without a variant in the index is v8.
        let body = index_json(None, &["linux/arm64"]);
        let Manifest::Index { index, .. } = parse(body.as_bytes(), None).unwrap() else {
            panic!("an index")
        };
        let spec: PlatformSpec = "linux/arm64/v8".parse().unwrap();
        assert!(spec.choose(&index).is_some());
        assert_eq!(
            index.manifests[0].platform.as_ref().unwrap().to_string(),
            "linux/arm64"
        );
    }
}
