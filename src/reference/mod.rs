//! Image references (`[host[:port]/]name[:tag][@digest]`) and the registry URLs built from them.
//!
//! Pure code: strings in, values out. The grammar is the one of distribution's `reference`
//! package (the Docker rules): the first path component is a registry host when it contains `.`
//! or `:` or is `localhost`; otherwise the registry is `docker.io`, whose API lives at
//! `registry-1.docker.io`, and a one-component name gets `library/`. Repository names follow the
//! OCI Distribution Specification ("Pulling blobs": `<name>` is
//! `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*(\/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*)*`).
//!
//! [`api_url`] is the single place that turns a repository and an [`Endpoint`] into a
//! `/v2/<name>/…` URL, and [`parse_api_path`] routes the same paths for the server (both in
//! `reference/endpoint.rs`, with [`validate_name`] as their name grammar).
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

mod endpoint;

pub use self::endpoint::{ApiRoute, Endpoint, api_url, parse_api_path};

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
    /// A REF that does not parse, with an example of one that does (only REFs given by a
    /// person get this: the server's path parsing reports the bare error).
    #[error(
        "{0}\nhint: a REF looks like `127.0.0.1:5000/team/app@sha256:<64 hex digits>` or `ghcr.io/org/app:1.0` (registry host, repository, then `:tag` and/or `@digest`)"
    )]
    WithExample(Box<ReferenceError>),
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
        is_loopback_host(self.host())
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
    #[allow(
        clippy::expect_used,
        reason = "registry hosts are validated to form URLs (fuzzed: fuzz/fuzz_targets/reference.rs)"
    )]
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

/// Where a URL's requests go, as the web's same-origin rule sees it (RFC 6454): scheme, host
/// and port (the scheme's default when none is written). Credentials, learned challenges and
/// TLS exceptions belong to one origin; nothing of one is offered to another.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Origin {
    scheme: String,
    host: String,
    port: u16,
}

impl Origin {
    /// The origin of an `http` or `https` URL; `None` for other schemes or URLs without a host.
    pub fn of(url: &Url) -> Option<Origin> {
        let scheme = url.scheme();
        if scheme != "http" && scheme != "https" {
            return None;
        }
        Some(Origin {
            scheme: scheme.to_owned(),
            host: url.host_str()?.to_ascii_lowercase(),
            port: url.port_or_known_default()?,
        })
    }

    /// `http` or `https`.
    pub fn scheme(&self) -> &str {
        &self.scheme
    }

    /// Whether the host is loopback (`localhost`, `127.0.0.0/8`, `[::1]`): traffic to it never
    /// leaves the machine.
    pub fn is_loopback(&self) -> bool {
        is_loopback_host(&self.host)
    }
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}://{}:{}", self.scheme, self.host, self.port)
    }
}

fn is_loopback_host(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost")
        || host == "[::1]"
        || host.parse::<Ipv4Addr>().is_ok_and(|ip| ip.is_loopback())
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

/// A scheme in front of a pasted REF (`https://ghcr.io/org/app@sha256:…`, or skopeo's
/// `docker://` transport), which parsing drops: the scheme is decided in one place, by the
/// client (https; http for loopback registries or with `--plain-http`), never by the REF.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PastedScheme {
    /// `http://`.
    Http,
    /// `https://`.
    Https,
    /// `docker://`, as skopeo writes references.
    Docker,
}

impl PastedScheme {
    /// The prefix as written (`https://`).
    pub fn prefix(self) -> &'static str {
        match self {
            PastedScheme::Http => "http://",
            PastedScheme::Https => "https://",
            PastedScheme::Docker => "docker://",
        }
    }
}

/// `s` without a leading `http://`, `https://` or `docker://` (any case), and which one it
/// was.
pub fn strip_scheme(s: &str) -> (&str, Option<PastedScheme>) {
    for scheme in [
        PastedScheme::Https,
        PastedScheme::Http,
        PastedScheme::Docker,
    ] {
        let prefix = scheme.prefix();
        if let (Some(head), Some(rest)) = (s.get(..prefix.len()), s.get(prefix.len()..))
            && head.eq_ignore_ascii_case(prefix)
        {
            return (rest, Some(scheme));
        }
    }
    (s, None)
}

/// The note a command prints for a REF given with a scheme (parsing drops it silently), or
/// `None` when `given` has none. What layerget does instead: the usual scheme rule.
pub fn scheme_note(given: &str) -> Option<String> {
    let (_, scheme) = strip_scheme(given);
    let prefix = scheme?.prefix();
    let what = match scheme? {
        PastedScheme::Docker => " (skopeo's transport prefix)",
        _ => "",
    };
    let plain = match scheme? {
        PastedScheme::Http => {
            "; for a plain-http registry that is not on loopback, add --plain-http"
        }
        _ => "",
    };
    Some(format!(
        "ignoring `{prefix}`{what} in `{given}`: layerget picks the scheme itself (https, http for loopback registries){plain}"
    ))
}

impl FromStr for Reference {
    type Err = ReferenceError;

    /// Parses a REF; a pasted scheme (`https://`, `http://`, `docker://`) is dropped (see
    /// [`scheme_note`]), and an error carries an example of a good REF.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (s, _) = strip_scheme(s);
        parse_reference(s).map_err(|e| ReferenceError::WithExample(Box::new(e)))
    }
}

impl ReferenceError {
    /// The error's category (and so exit code): a REF or name given by the user is malformed.
    pub fn category(&self) -> crate::exit::Category {
        crate::exit::Category::Usage
    }

    /// The error without the example [`Reference::from_str`] adds.
    pub fn bare(&self) -> &ReferenceError {
        match self {
            ReferenceError::WithExample(inner) => inner.bare(),
            other => other,
        }
    }
}

fn parse_reference(s: &str) -> Result<Reference, ReferenceError> {
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
    let is_alnum = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    if !bytes.first().is_some_and(|&b| is_alnum(b)) || !bytes.last().is_some_and(|&b| is_alnum(b)) {
        return Some("each path component must start and end with a letter or digit");
    }
    // Between alphanumeric runs: exactly one `.`, one or two `_`, or any number of `-`.
    let separators = c.split(|ch: char| ch.is_ascii_lowercase() || ch.is_ascii_digit());
    for sep in separators.filter(|s| !s.is_empty()) {
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
        && b.first()
            .is_some_and(|f| f.is_ascii_alphanumeric() || *f == b'_')
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
                && b.first().is_some_and(u8::is_ascii_alphanumeric)
                && b.last().is_some_and(u8::is_ascii_alphanumeric)
                && b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'-')
        })
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
    fn origins_are_scheme_host_and_port() {
        let o = |s: &str| Origin::of(&Url::parse(s).unwrap());
        let reg = o("https://ghcr.io/v2/a/blobs/x").unwrap();
        assert_eq!(reg, o("https://GHCR.io:443/token?x=1").unwrap());
        assert_eq!(reg.to_string(), "https://ghcr.io:443");
        // Another scheme, port or host is another origin.
        assert_ne!(Some(reg.clone()), o("http://ghcr.io/v2/"));
        assert_ne!(Some(reg.clone()), o("https://ghcr.io:8443/v2/"));
        assert_ne!(
            Some(reg),
            o("https://pkg-containers.githubusercontent.com/")
        );
        assert_eq!(o("ftp://ghcr.io/"), None);
        assert!(o("http://127.0.0.2:5000/").unwrap().is_loopback());
        assert!(o("http://[::1]:5000/").unwrap().is_loopback());
        assert!(o("http://LOCALHOST/").unwrap().is_loopback());
        assert!(!o("http://10.0.0.1/").unwrap().is_loopback());
        assert!(!o("http://127.0.0.1.example/").unwrap().is_loopback());
    }

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
    fn pasted_schemes_are_dropped_with_a_note() {
        let d = format!("sha256:{HEX}");
        let plain: Reference = format!("ghcr.io/org/app@{d}").parse().unwrap();
        for (given, scheme) in [
            (format!("https://ghcr.io/org/app@{d}"), PastedScheme::Https),
            (format!("HTTPS://ghcr.io/org/app@{d}"), PastedScheme::Https),
            (format!("http://ghcr.io/org/app@{d}"), PastedScheme::Http),
            (
                format!("docker://ghcr.io/org/app@{d}"),
                PastedScheme::Docker,
            ),
        ] {
            assert_eq!(strip_scheme(&given).1, Some(scheme), "{given}");
            assert_eq!(given.parse::<Reference>().as_ref(), Ok(&plain), "{given}");
            let note = scheme_note(&given).unwrap();
            assert!(note.starts_with("ignoring `"), "{note}");
            assert!(note.contains(&given), "{note}");
            assert_eq!(
                note.contains("--plain-http"),
                scheme == PastedScheme::Http,
                "{note}"
            );
        }
        assert_eq!(scheme_note(&format!("ghcr.io/org/app@{d}")), None);
        assert_eq!(strip_scheme("ftp://x/y"), ("ftp://x/y", None));
        // Nothing is left after the scheme: still an error, not a panic.
        assert!("https://".parse::<Reference>().is_err());
        assert!("h".parse::<Reference>().is_ok());
    }

    #[test]
    fn errors_show_an_example_but_the_server_path_does_not() {
        let err = "127.0.0.1:5000/Team/app:v1"
            .parse::<Reference>()
            .unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("\nhint: a REF looks like `127.0.0.1:5000/team/app@sha256:"),
            "{text}"
        );
        assert!(
            matches!(err.bare(), ReferenceError::InvalidName { .. }),
            "{err:?}"
        );
        let err = parse_api_path("/v2/Team/blobs/x").unwrap_err();
        assert!(!err.to_string().contains("hint:"), "{err}");
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
        fn parse_never_panics(s in "\\PC{0,80}") {
            if let Ok(r) = s.parse::<Reference>() {
                prop_assert_eq!(r.to_string().parse::<Reference>().unwrap(), r);
            }
        }
    }
}
