//! Image references (`[host[:port]/]name[:tag][@digest]`) and the registry URLs built from them.
//!
//! Pure code: strings in, values out. The grammar is the one of distribution's `reference`
//! package (the Docker rules): the first path component is a registry host when it contains `.`
//! or `:` or is `localhost`; otherwise the registry is `docker.io`, whose API lives at
//! `registry-1.docker.io`, and a one-component name gets `library/`. Repository names follow the
//! OCI Distribution Specification ("Pulling blobs": `<name>` is
//! `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*(\/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*)*`).
//!
//! [`api_url`] is the single place that turns a repository and an endpoint into a
//! `/v2/<name>/…` URL; the server's routing uses the same grammar through [`validate_name`].
//!
//! ```
//! use layerget::reference::{Endpoint, Reference, api_url};
//!
//! let r: Reference = "127.0.0.1:5000/team/sub/app@sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
//!     .parse()
//!     .unwrap();
//! assert_eq!(r.registry().as_str(), "127.0.0.1:5000");
//! assert_eq!(r.repository(), "team/sub/app");
//! let base = r.registry().base_url(r.registry().scheme(false, false));
//! let url = api_url(&base, r.repository(), Endpoint::Blob(r.digest().unwrap()));
//! assert_eq!(url.path(), "/v2/team/sub/app/blobs/sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
//!
//! // Docker's defaults: no host means Docker Hub, and one component gets `library/`.
//! let hub: Reference = "alpine:3.20".parse().unwrap();
//! assert_eq!(hub.to_string(), "docker.io/library/alpine:3.20");
//! assert_eq!(hub.registry().api_host(), "registry-1.docker.io");
//! ```

use std::fmt;
use std::net::Ipv4Addr;
use std::str::FromStr;

use reqwest::Url;

use crate::digest::{Digest, DigestError};

/// Docker Hub's canonical registry name, used when a reference names no host.
pub const DOCKER_HUB: &str = "docker.io";
/// The host that actually serves Docker Hub's registry API.
pub const DOCKER_HUB_API: &str = "registry-1.docker.io";
/// Longest repository name accepted (distribution's `NameTotalLengthMax`).
pub const NAME_MAX: usize = 255;
/// Longest tag accepted by the distribution grammar.
pub const TAG_MAX: usize = 128;

/// Why a string is not a usable reference.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReferenceError {
    /// Nothing was given.
    #[error("empty reference")]
    Empty,
    /// The registry part is not `host[:port]`.
    #[error(
        "invalid registry host `{0}` (expected host[:port], e.g. `127.0.0.1:5000` or `ghcr.io`)"
    )]
    InvalidRegistry(String),
    /// The repository name breaks the distribution grammar.
    #[error("invalid repository name `{name}`: {reason}")]
    InvalidName {
        /// The name as given.
        name: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The tag breaks `[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`.
    #[error(
        "invalid tag `{0}` (tags are 1-128 characters of letters, digits, `_`, `.` and `-`, not starting with `.` or `-`)"
    )]
    InvalidTag(String),
    /// The digest part is malformed or uses an unknown algorithm.
    #[error(transparent)]
    Digest(#[from] DigestError),
    /// A command that moves blobs got a reference without a digest.
    #[error("`{0}` has no digest: this command needs `NAME@sha256:<64 hex digits>`, not a tag")]
    MissingDigest(String),
}

/// A registry host with an optional port, as written in a reference (`127.0.0.1:5000`,
/// `[::1]:5000`, `ghcr.io`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Registry(String);

impl Registry {
    /// Parses and validates `host[:port]`.
    pub fn parse(s: &str) -> Result<Registry, ReferenceError> {
        // The URL parser reads a host whose last label is numeric (`foo.1`) as IPv4 and
        // refuses it, and `base_url` relies on every accepted registry forming a URL.
        if is_valid_registry(s) && Url::parse(&format!("http://{s}/")).is_ok() {
            Ok(Registry(s.to_owned()))
        } else {
            Err(ReferenceError::InvalidRegistry(s.to_owned()))
        }
    }

    /// The registry as written (`docker.io`, `127.0.0.1:5000`).
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The `host[:port]` that serves the API (Docker Hub's API is not at `docker.io`).
    pub fn api_host(&self) -> &str {
        match self.0.as_str() {
            DOCKER_HUB | "index.docker.io" => DOCKER_HUB_API,
            other => other,
        }
    }

    /// The host without the port (IPv6 keeps its brackets).
    pub fn host(&self) -> &str {
        split_port(&self.0).0
    }

    /// Whether the host is loopback (`localhost`, `127.0.0.0/8`, `[::1]`): such registries are
    /// spoken to over plain HTTP unless TLS is asked for.
    pub fn is_loopback(&self) -> bool {
        let host = self.host();
        host.eq_ignore_ascii_case("localhost")
            || host == "[::1]"
            || host.parse::<Ipv4Addr>().is_ok_and(|ip| ip.is_loopback())
    }

    /// The scheme to use: `http` for loopback or when `plain_http` is set, unless `tls` (an
    /// explicit TLS option such as `--ca-file` or `--insecure`) asks for https.
    pub fn scheme(&self, plain_http: bool, tls: bool) -> &'static str {
        if tls {
            "https"
        } else if plain_http || self.is_loopback() {
            "http"
        } else {
            "https"
        }
    }

    /// The base URL (`scheme://api_host/`).
    pub fn base_url(&self, scheme: &str) -> Url {
        Url::parse(&format!("{scheme}://{}/", self.api_host()))
            .expect("a validated registry host always forms a URL")
    }
}

impl fmt::Display for Registry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A parsed, normalized reference: registry, repository, and a tag and/or digest.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Reference {
    registry: Registry,
    repository: String,
    tag: Option<String>,
    digest: Option<Digest>,
}

impl Reference {
    /// The registry.
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// The repository name (`team/sub/app`, `library/alpine`).
    pub fn repository(&self) -> &str {
        &self.repository
    }

    /// The tag, if one was given.
    pub fn tag(&self) -> Option<&str> {
        self.tag.as_deref()
    }

    /// The digest, if one was given.
    pub fn digest(&self) -> Option<&Digest> {
        self.digest.as_ref()
    }

    /// `registry/repository`, the name messages use for "where".
    pub fn location(&self) -> String {
        format!("{}/{}", self.registry, self.repository)
    }

    /// Parses a reference that must carry a digest (blob commands).
    pub fn parse_with_digest(s: &str) -> Result<Reference, ReferenceError> {
        let r: Reference = s.parse()?;
        if r.digest.is_none() {
            return Err(ReferenceError::MissingDigest(s.to_owned()));
        }
        Ok(r)
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.registry, self.repository)?;
        if let Some(tag) = &self.tag {
            write!(f, ":{tag}")?;
        }
        if let Some(digest) = &self.digest {
            write!(f, "@{digest}")?;
        }
        Ok(())
    }
}

impl FromStr for Reference {
    type Err = ReferenceError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.is_empty() {
            return Err(ReferenceError::Empty);
        }
        let (rest, digest) = match s.split_once('@') {
            Some((rest, d)) => (rest, Some(d.parse::<Digest>()?)),
            None => (s, None),
        };
        // A tag's `:` comes after the last `/`; a port's `:` comes before it.
        let last_slash = rest.rfind('/').map_or(0, |i| i + 1);
        let (name, tag) = match rest[last_slash..].rfind(':') {
            Some(i) => {
                let tag = &rest[last_slash + i + 1..];
                if !is_valid_tag(tag) {
                    return Err(ReferenceError::InvalidTag(tag.to_owned()));
                }
                (&rest[..last_slash + i], Some(tag.to_owned()))
            }
            None => (rest, None),
        };
        let (registry, repository) = match name.split_once('/') {
            Some((first, path))
                if first.contains('.') || first.contains(':') || first == "localhost" =>
            {
                (Registry::parse(first)?, path.to_owned())
            }
            _ => {
                let repository = if name.contains('/') {
                    name.to_owned()
                } else {
                    format!("library/{name}")
                };
                (Registry(DOCKER_HUB.to_owned()), repository)
            }
        };
        validate_name(&repository)?;
        Ok(Reference {
            registry,
            repository,
            tag,
            digest,
        })
    }
}

/// Checks a repository name against the distribution grammar and length limit.
pub fn validate_name(name: &str) -> Result<(), ReferenceError> {
    let bad = |reason| {
        Err(ReferenceError::InvalidName {
            name: name.to_owned(),
            reason,
        })
    };
    if name.is_empty() {
        return bad("it is empty");
    }
    if name.len() > NAME_MAX {
        return bad("it is longer than 255 characters");
    }
    for component in name.split('/') {
        if component.is_empty() {
            return bad("it has an empty path component");
        }
        if let Some(reason) = component_error(component) {
            return bad(reason);
        }
    }
    Ok(())
}

/// One path component: `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*`.
fn component_error(c: &str) -> Option<&'static str> {
    let bytes = c.as_bytes();
    if bytes
        .iter()
        .any(|b| b.is_ascii_uppercase() && b.is_ascii_alphabetic())
    {
        return Some("repository names must be lowercase");
    }
    if !bytes
        .iter()
        .all(|b| matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'.' | b'_' | b'-'))
    {
        return Some(
            "only lowercase letters, digits and the separators `.`, `_`, `__`, `-` are allowed",
        );
    }
    let is_alnum = |b: &u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    if !is_alnum(&bytes[0]) || !is_alnum(&bytes[bytes.len() - 1]) {
        return Some("each path component must start and end with a letter or digit");
    }
    // Between alphanumeric runs: exactly one `.`, one or two `_`, or any number of `-`.
    let mut i = 0;
    while i < bytes.len() {
        if is_alnum(&bytes[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < bytes.len() && !is_alnum(&bytes[i]) {
            i += 1;
        }
        let sep = &c[start..i];
        let ok = sep == "." || sep == "_" || sep == "__" || sep.bytes().all(|b| b == b'-');
        if !ok {
            return Some("separators must be a single `.`, `_` or `__`, or dashes (so no `..`)");
        }
    }
    None
}

fn is_valid_tag(tag: &str) -> bool {
    let b = tag.as_bytes();
    !b.is_empty()
        && b.len() <= TAG_MAX
        && (b[0].is_ascii_alphanumeric() || b[0] == b'_')
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'-'))
}

fn split_port(s: &str) -> (&str, Option<&str>) {
    if s.starts_with('[') {
        return match s.find(']') {
            Some(i) => {
                let (host, rest) = s.split_at(i + 1);
                (host, rest.strip_prefix(':'))
            }
            None => (s, None),
        };
    }
    match s.rsplit_once(':') {
        Some((h, p)) => (h, Some(p)),
        None => (s, None),
    }
}

fn is_valid_registry(s: &str) -> bool {
    let (host, port) = split_port(s);
    if let Some(p) = port
        && (p.is_empty()
            || p.len() > 5
            || !p.bytes().all(|b| b.is_ascii_digit())
            || p.parse::<u16>().is_err())
    {
        return false;
    }
    if let Some(inner) = host.strip_prefix('[') {
        return inner
            .strip_suffix(']')
            .is_some_and(|ip| ip.parse::<std::net::Ipv6Addr>().is_ok());
    }
    !host.is_empty()
        && host.len() <= 253
        && host.split('.').all(|label| {
            let b = label.as_bytes();
            !b.is_empty()
                && b.len() <= 63
                && b[0].is_ascii_alphanumeric()
                && b[b.len() - 1].is_ascii_alphanumeric()
                && b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'-')
        })
}

/// A registry API endpoint under `/v2/<name>/`.
#[derive(Debug, Clone, Copy)]
pub enum Endpoint<'a> {
    /// `/v2/<name>/blobs/<digest>`.
    Blob(&'a Digest),
    /// `/v2/<name>/manifests/<tag or digest>`.
    Manifest(&'a str),
}

/// Builds `<base>/v2/<name>/<endpoint>` for a validated repository name. Any path prefix of
/// `base` is kept (so a registry behind `https://proxy/mirror/` works), which `Url::join` with
/// an absolute path would drop.
pub fn api_url(base: &Url, repository: &str, endpoint: Endpoint<'_>) -> Url {
    let mut url = base.clone();
    {
        let mut segments = url
            .path_segments_mut()
            .expect("registry base URLs are http(s) URLs, which have paths");
        segments.pop_if_empty().push("v2");
        segments.extend(repository.split('/'));
        match endpoint {
            Endpoint::Blob(digest) => segments.push("blobs").push(&digest.to_string()),
            Endpoint::Manifest(r) => segments.push("manifests").push(r),
        };
    }
    url
}

/// A request path of the registry API, as the server routes it (pull side, plus the upload
/// paths so they can be refused properly).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApiRoute<'a> {
    /// `/v2/` (or `/v2`): the API version check.
    Base,
    /// `/v2/<name>/blobs/<digest>`; the digest is not validated yet.
    Blob {
        /// The repository name (validated).
        name: &'a str,
        /// The last path segment, as sent.
        digest: &'a str,
    },
    /// `/v2/<name>/manifests/<tag or digest>`; the reference is not validated yet.
    Manifest {
        /// The repository name (validated).
        name: &'a str,
        /// The last path segment, as sent.
        reference: &'a str,
    },
    /// `/v2/<name>/tags/list`.
    TagsList {
        /// The repository name (validated).
        name: &'a str,
    },
    /// `/v2/<name>/referrers/<digest>`; the digest is not validated yet.
    Referrers {
        /// The repository name (validated).
        name: &'a str,
        /// The last path segment, as sent.
        digest: &'a str,
    },
    /// `/v2/<name>/blobs/uploads/` and `/v2/<name>/blobs/uploads/<id>`.
    Upload {
        /// The repository name (validated).
        name: &'a str,
    },
}

/// Routes a request path (as sent, never percent-decoded: an encoded `/`, `.` or NUL simply
/// fails the name grammar). `Ok(None)` means the path is no registry API endpoint.
///
/// `<name>` may itself contain `/` and components called `blobs`, `manifests` or `tags`, so
/// the known suffixes are matched from the right and everything before them is the name, which
/// must pass [`validate_name`] (OCI Distribution Specification, "Pulling manifests": the name
/// "MUST match the following regular expression").
pub fn parse_api_path(path: &str) -> Result<Option<ApiRoute<'_>>, ReferenceError> {
    if path == "/v2" || path == "/v2/" {
        return Ok(Some(ApiRoute::Base));
    }
    let Some(rest) = path.strip_prefix("/v2/") else {
        return Ok(None);
    };
    let route = if let Some(name) = rest.strip_suffix("/tags/list") {
        ApiRoute::TagsList { name }
    } else if let Some(name) = rest
        .strip_suffix("/blobs/uploads")
        .or_else(|| rest.strip_suffix("/blobs/uploads/"))
    {
        ApiRoute::Upload { name }
    } else {
        let Some((prefix, last)) = rest.rsplit_once('/') else {
            return Ok(None);
        };
        if let Some(name) = prefix.strip_suffix("/blobs/uploads") {
            ApiRoute::Upload { name }
        } else if let Some(name) = prefix.strip_suffix("/blobs") {
            ApiRoute::Blob { name, digest: last }
        } else if let Some(name) = prefix.strip_suffix("/manifests") {
            ApiRoute::Manifest {
                name,
                reference: last,
            }
        } else if let Some(name) = prefix.strip_suffix("/referrers") {
            ApiRoute::Referrers { name, digest: last }
        } else {
            return Ok(None);
        }
    };
    let (ApiRoute::Blob { name, .. }
    | ApiRoute::Manifest { name, .. }
    | ApiRoute::TagsList { name }
    | ApiRoute::Referrers { name, .. }
    | ApiRoute::Upload { name }) = route
    else {
        unreachable!("the base route returned early")
    };
    validate_name(name)?;
    Ok(Some(route))
}

/// Whether `tag` is a valid tag (`[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`).
pub fn is_tag(tag: &str) -> bool {
    is_valid_tag(tag)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const HEX: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    #[test]
    fn good_references() {
        let d = format!("sha256:{HEX}");
        let cases: Vec<(String, &str, &str, Option<&str>, bool)> = vec![
            (
                format!("127.0.0.1:5000/team/sub/app@{d}"),
                "127.0.0.1:5000",
                "team/sub/app",
                None,
                true,
            ),
            (
                format!("alpine@{d}"),
                "docker.io",
                "library/alpine",
                None,
                true,
            ),
            ("alpine".into(), "docker.io", "library/alpine", None, false),
            (
                "alpine:3.20".into(),
                "docker.io",
                "library/alpine",
                Some("3.20"),
                false,
            ),
            (
                "bitnami/redis:7".into(),
                "docker.io",
                "bitnami/redis",
                Some("7"),
                false,
            ),
            (format!("localhost/app@{d}"), "localhost", "app", None, true),
            (
                format!("localhost:5000/a/b:v1@{d}"),
                "localhost:5000",
                "a/b",
                Some("v1"),
                true,
            ),
            (format!("ghcr.io/o/r@{d}"), "ghcr.io", "o/r", None, true),
            (
                format!("[::1]:5000/app@{d}"),
                "[::1]:5000",
                "app",
                None,
                true,
            ),
            (
                "my-reg:443/a__b/c-d.e--f:latest".into(),
                "my-reg:443",
                "a__b/c-d.e--f",
                Some("latest"),
                false,
            ),
            (
                format!("reg.example/{}", "a".repeat(255)),
                "reg.example",
                "",
                None,
                false,
            ),
        ];
        for (input, registry, repo, tag, has_digest) in cases {
            let r: Reference = input.parse().unwrap_or_else(|e| panic!("{input}: {e}"));
            assert_eq!(r.registry().as_str(), registry, "{input}");
            if !repo.is_empty() {
                assert_eq!(r.repository(), repo, "{input}");
            }
            assert_eq!(r.tag(), tag, "{input}");
            assert_eq!(r.digest().is_some(), has_digest, "{input}");
        }
    }

    #[test]
    fn bad_references() {
        let d = format!("sha256:{HEX}");
        let cases: Vec<(String, &str)> = vec![
            (String::new(), "empty reference"),
            (format!("127.0.0.1:5000/Team/app@{d}"), "lowercase"),
            (format!("127.0.0.1:5000/team/../app@{d}"), "start and end"),
            (format!("127.0.0.1:5000/a..b@{d}"), "no `..`"),
            (
                format!("127.0.0.1:5000/team//app@{d}"),
                "empty path component",
            ),
            (
                format!("127.0.0.1:5000/team/app/@{d}"),
                "empty path component",
            ),
            (format!("127.0.0.1:5000/@{d}"), "empty"),
            (format!("127.0.0.1:5000/a___b@{d}"), "separators"),
            (
                format!("reg.example/{}@{d}", "a".repeat(256)),
                "longer than 255",
            ),
            (
                format!("127.0.0.1:5000/app@sha256:{}", &HEX[..63]),
                "63 hex digits",
            ),
            (format!("127.0.0.1:5000/app@sha256:{HEX}0"), "65 hex digits"),
            (
                format!("127.0.0.1:5000/app@sha256:{}", HEX.to_uppercase()),
                "lowercase hex",
            ),
            (
                format!("127.0.0.1:5000/app@md5:{}", &HEX[..32]),
                "unsupported algorithm",
            ),
            (format!("127.0.0.1:99999/app@{d}"), "invalid registry"),
            (format!("bad_host.example/app@{d}"), "invalid registry"),
            ("app:-bad".into(), "invalid tag"),
            (format!("app:{}", "t".repeat(129)), "invalid tag"),
            (format!("a b@{d}"), "only lowercase"),
        ];
        for (input, want) in cases {
            let err = input.parse::<Reference>().unwrap_err().to_string();
            assert!(err.contains(want), "{input:?}: got `{err}`, want `{want}`");
        }
    }

    #[test]
    fn blob_commands_need_a_digest() {
        let err = Reference::parse_with_digest("127.0.0.1:5000/app:v1").unwrap_err();
        assert!(err.to_string().contains("has no digest"), "{err}");
    }

    #[test]
    fn schemes() {
        let r = |s| Registry::parse(s).unwrap();
        assert_eq!(r("127.0.0.1:5000").scheme(false, false), "http");
        assert_eq!(r("127.8.9.10").scheme(false, false), "http");
        assert_eq!(r("localhost:5000").scheme(false, false), "http");
        assert_eq!(r("[::1]:5000").scheme(false, false), "http");
        assert_eq!(r("ghcr.io").scheme(false, false), "https");
        assert_eq!(r("128.0.0.1").scheme(false, false), "https");
        assert_eq!(r("ghcr.io").scheme(true, false), "http");
        assert_eq!(r("127.0.0.1:5000").scheme(false, true), "https");
        assert_eq!(r("127.0.0.1:5000").scheme(true, true), "https");
    }

    #[test]
    fn urls() {
        let d: Digest = format!("sha256:{HEX}").parse().unwrap();
        let r: Reference = format!("127.0.0.1:5000/team/sub/app@{d}").parse().unwrap();
        let base = r.registry().base_url("http");
        assert_eq!(
            api_url(&base, r.repository(), Endpoint::Blob(&d)).as_str(),
            format!("http://127.0.0.1:5000/v2/team/sub/app/blobs/{d}")
        );
        let hub: Reference = "alpine:3.20".parse().unwrap();
        let base = hub.registry().base_url("https");
        assert_eq!(
            api_url(&base, hub.repository(), Endpoint::Manifest("3.20")).as_str(),
            "https://registry-1.docker.io/v2/library/alpine/manifests/3.20"
        );
        let prefixed = Url::parse("https://proxy.example/mirror/").unwrap();
        assert_eq!(
            api_url(&prefixed, "a/b", Endpoint::Blob(&d)).as_str(),
            format!("https://proxy.example/mirror/v2/a/b/blobs/{d}")
        );
    }

    #[test]
    fn api_paths() {
        use ApiRoute::*;
        let d = format!("sha256:{HEX}");
        let blob = format!("/v2/team/sub/app/blobs/{d}");
        let tricky = format!("/v2/a/blobs/manifests/blobs/{d}");
        let upload_blob = format!("/v2/a/blobs/uploads/blobs/{d}");
        let referrers = format!("/v2/x/referrers/{d}");
        let cases: Vec<(&str, Option<ApiRoute<'_>>)> = vec![
            ("/v2/", Some(Base)),
            ("/v2", Some(Base)),
            (
                &blob,
                Some(Blob {
                    name: "team/sub/app",
                    digest: &d,
                }),
            ),
            // Names may contain the endpoint words; the rightmost suffix decides.
            (
                &tricky,
                Some(Blob {
                    name: "a/blobs/manifests",
                    digest: &d,
                }),
            ),
            (
                &upload_blob,
                Some(Blob {
                    name: "a/blobs/uploads",
                    digest: &d,
                }),
            ),
            (
                "/v2/a/manifests/v1",
                Some(Manifest {
                    name: "a",
                    reference: "v1",
                }),
            ),
            (
                "/v2/tags/list/manifests/latest",
                Some(Manifest {
                    name: "tags/list",
                    reference: "latest",
                }),
            ),
            // The reference and digest are checked by the handler, not the router.
            (
                "/v2/a/manifests/",
                Some(Manifest {
                    name: "a",
                    reference: "",
                }),
            ),
            ("/v2/a/b/tags/list", Some(TagsList { name: "a/b" })),
            (
                &referrers,
                Some(Referrers {
                    name: "x",
                    digest: &d,
                }),
            ),
            ("/v2/a/blobs/uploads", Some(Upload { name: "a" })),
            ("/v2/a/blobs/uploads/", Some(Upload { name: "a" })),
            ("/v2/a/blobs/uploads/0f1e-2d", Some(Upload { name: "a" })),
            ("/", None),
            ("/v1/a/blobs/x", None),
            ("/v2x/a/blobs/x", None),
            ("/v2/a", None),
            ("/v2/a/b/c", None),
            ("/v2/blobs/x", None),
            ("/v2/tags/list", None),
            ("/v2/_catalog", None),
        ];
        for (path, want) in cases {
            assert_eq!(parse_api_path(path).unwrap(), want, "{path}");
        }
    }

    #[test]
    fn api_paths_with_bad_names() {
        let long = format!("/v2/{}/tags/list", "a".repeat(256));
        let cases = [
            "/v2/../blobs/x",
            "/v2/a/../b/blobs/x",
            "/v2/%2e%2e/blobs/x",
            "/v2/a%2fb/blobs/x",
            "/v2/a%00/manifests/v1",
            "/v2/A/tags/list",
            "/v2//a/blobs/x",
            "/v2/a//blobs/x",
            "/v2/a/b//tags/list",
            "/v2/.a/manifests/v1",
            long.as_str(),
        ];
        for path in cases {
            assert!(
                matches!(
                    parse_api_path(path),
                    Err(ReferenceError::InvalidName { .. })
                ),
                "{path}: {:?}",
                parse_api_path(path)
            );
        }
    }

    fn component() -> impl Strategy<Value = String> {
        "[a-z0-9]{1,5}((\\.|_|__|-{1,3})[a-z0-9]{1,5}){0,2}"
    }

    proptest! {
        #[test]
        fn display_round_trips(
            host in prop_oneof![Just(None), Just(Some("127.0.0.1:5000")), Just(Some("ghcr.io")), Just(Some("[::1]:80"))],
            parts in proptest::collection::vec(component(), 1..4),
            tag in proptest::option::of("[A-Za-z0-9_][A-Za-z0-9_.-]{0,20}"),
            hex in proptest::option::of("[0-9a-f]{64}"),
        ) {
            // Without a host, a first component with a `.` is read as a registry host.
            prop_assume!(host.is_some() || !parts[0].contains('.'));
            let mut s = String::new();
            if let Some(h) = host { s.push_str(h); s.push('/'); }
            s.push_str(&parts.join("/"));
            if let Some(t) = &tag { s.push(':'); s.push_str(t); }
            if let Some(h) = &hex { s.push_str("@sha256:"); s.push_str(h); }
            let r: Reference = s.parse().unwrap();
            let again: Reference = r.to_string().parse().unwrap();
            prop_assert_eq!(&again, &r);
            if host.is_some() {
                prop_assert_eq!(r.to_string(), s);
            }
        }

        #[test]
        fn api_paths_never_panic_and_names_are_valid(s in "(/v2/)?[a-z/._:%A-Z0-9-]{0,60}") {
            if let Ok(Some(route)) = parse_api_path(&s) {
                let name = match route {
                    ApiRoute::Base => return Ok(()),
                    ApiRoute::Blob { name, .. }
                    | ApiRoute::Manifest { name, .. }
                    | ApiRoute::TagsList { name }
                    | ApiRoute::Referrers { name, .. }
                    | ApiRoute::Upload { name } => name,
                };
                prop_assert!(validate_name(name).is_ok());
            }
        }

        #[test]
        fn parse_never_panics(s in "\\PC{0,80}") {
            if let Ok(r) = s.parse::<Reference>() {
                prop_assert_eq!(r.to_string().parse::<Reference>().unwrap(), r);
            }
        }
    }
}
