//! Client mirrors: which sources a request for a registry's content may go to, in order.
//!
//! Mirrors (`--mirror URL`, or `mirrors = […]` in the registry's config-file entry; flags win)
//! are tried first for what is named by digest (blobs, manifests by digest), then the registry
//! itself, unless `--mirror-only`. A tag is resolved at the registry unless `--mirror-tags`:
//! mirrors may hold a stale tag, and a digest cannot be stale. The order is the user's.
//!
//! Mirrors are untrusted: what they send goes through the same verifying commit as the
//! registry's bytes, and a mirror that sent bytes which failed it is banned for the rest of the
//! run ([`Client::ban`]). A mirror is an origin of its own: it gets the credentials, TLS
//! settings and connection pools of its own host (`Client::home_at`), never the registry's,
//! so the registry's token is never offered to it.
//!
//! A blob continued across sources is judged whole at the commit; a mismatch is laid at the
//! source that finished it (banned, when a mirror), and the blob is fetched afresh from the
//! next one, so a wrong ban costs speed, never correctness.
//!
//! How a request moves from one source to the next (the failover rules) is the retry driver's
//! (`retry::run_over`); this module only answers "where, in which order".

use std::fmt;

use reqwest::Url;

use super::headers::redact;
use super::{Client, Home, RegistryError};
use crate::config::Mirror;
use crate::reference::{Endpoint, Origin, Reference, api_url};

/// The mirror settings of a run (flags).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MirrorOptions {
    /// `--mirror`: for every registry read from, instead of its config-file list.
    pub mirrors: Vec<Mirror>,
    /// `--mirror-only`: never fall back to the registry for content by digest.
    pub only: bool,
    /// `--mirror-tags`: resolve tags at the mirrors too.
    pub tags: bool,
}

/// Where one request goes: the registry of the reference, or one of its mirrors.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Source {
    /// The registry the reference names.
    Registry,
    /// A mirror of it.
    Mirror(Mirror),
}

impl Source {
    /// The mirror, when this is one.
    pub fn mirror(&self) -> Option<&Mirror> {
        match self {
            Source::Registry => None,
            Source::Mirror(m) => Some(m),
        }
    }

    /// `where/repository` for messages: the registry's `reg/name`, or `mirror-url/name`.
    pub fn location(&self, reference: &Reference) -> String {
        match self {
            Source::Registry => reference.location(),
            Source::Mirror(m) => format!("{m}/{}", reference.repository()),
        }
    }

    /// Short name for logs and reports: `the registry` or ``mirror `URL` ``.
    pub fn describe(&self) -> SourceName<'_> {
        SourceName(self)
    }
}

/// [`Source::describe`]'s text.
pub struct SourceName<'a>(&'a Source);

impl fmt::Display for SourceName<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Source::Registry => f.write_str("the registry"),
            Source::Mirror(m) => write!(f, "mirror `{m}`"),
        }
    }
}

/// What a request asks for, as far as mirrors care.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Named {
    /// Content by digest: the same bytes wherever they come from.
    ByDigest,
    /// A tag: mirrors may be stale.
    ByTag,
}

impl Client {
    /// The mirrors configured for `reference`'s registry: `--mirror`'s when given, else its
    /// config-file entry's.
    fn mirrors_of(&self, reference: &Reference) -> &[Mirror] {
        let o = &self.options;
        if !o.mirrors.mirrors.is_empty() {
            return &o.mirrors.mirrors;
        }
        o.registries
            .get(reference.registry().as_str())
            .map_or(&[], |s| s.mirrors.as_slice())
    }

    /// The sources to try for `reference`'s content, in order: the mirrors not banned, then
    /// the registry (not with `--mirror-only`; a tag goes only to the registry unless
    /// `--mirror-tags`). Never empty: when `--mirror-only` leaves only banned mirrors, they are
    /// tried again (the verifying commit still judges their bytes).
    pub fn sources(&self, reference: &Reference, named: Named) -> Vec<Source> {
        let o = &self.options.mirrors;
        let mirrors = self.mirrors_of(reference);
        if named == Named::ByTag && !o.tags {
            return vec![Source::Registry];
        }
        let banned = self
            .banned
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone();
        let mut list: Vec<Source> = mirrors
            .iter()
            .filter(|m| !banned.contains(*m))
            .cloned()
            .map(Source::Mirror)
            .collect();
        if o.only && !mirrors.is_empty() {
            if list.is_empty() {
                list = mirrors.iter().cloned().map(Source::Mirror).collect();
            }
            return list;
        }
        list.push(Source::Registry);
        list
    }

    /// Bans a mirror for the rest of the run (it sent bytes that failed verification); the
    /// registry is never banned.
    pub fn ban(&self, source: &Source) {
        if let Source::Mirror(m) = source {
            tracing::warn!(
                "{}: its bytes failed verification; not using it for the rest of this run",
                source.describe()
            );
            self.banned
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .insert(m.clone());
        }
    }

    /// The URL of an endpoint of `reference`'s repository at `source` (a mirror's path prefix
    /// is kept).
    pub fn url_at(&self, reference: &Reference, source: &Source, endpoint: Endpoint<'_>) -> Url {
        match source {
            Source::Registry => self.url(reference, endpoint),
            Source::Mirror(m) => api_url(m.base(), reference.repository(), endpoint),
        }
    }

    /// `source` as its requests see it. A mirror is its own home: the name its credentials and
    /// config-file settings are looked up by is its `host[:port]`, its origin its URL's.
    pub(crate) fn home_at<'a>(
        &'a self,
        reference: &'a Reference,
        source: &Source,
    ) -> Result<Home<'a>, RegistryError> {
        let Source::Mirror(m) = source else {
            return self.home(reference);
        };
        let origin = Origin::of(m.base()).ok_or_else(|| {
            RegistryError::Setup(format!("`{}` has no http(s) origin", redact(m.base())))
        })?;
        let name = m.host_port();
        let pools = self.pools_for(&name);
        Ok(Home {
            name: std::borrow::Cow::Owned(name),
            origin,
            pools,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::ClientOptions;
    use crate::config::RegistrySettings;

    fn mirror(s: &str) -> Mirror {
        Mirror::parse(s).unwrap()
    }

    #[test]
    fn sources_in_order() {
        let a = mirror("http://127.0.0.1:6001");
        let b = mirror("http://127.0.0.1:6002/pre");
        let file = RegistrySettings {
            mirrors: vec![a.clone(), b.clone()],
            ..RegistrySettings::default()
        };
        let options = ClientOptions {
            registries: [("reg.example".to_owned(), file)].into(),
            ..ClientOptions::default()
        };
        let r: Reference = "reg.example/team/app:1".parse().unwrap();
        let other: Reference = "other.example/app:1".parse().unwrap();
        let m = |x: &Mirror| Source::Mirror(x.clone());
        let client = Client::new(options.clone()).unwrap();
        use Named::*;
        assert_eq!(
            client.sources(&r, ByDigest),
            [m(&a), m(&b), Source::Registry]
        );
        assert_eq!(client.sources(&r, ByTag), [Source::Registry]);
        assert_eq!(client.sources(&other, ByDigest), [Source::Registry]);
        // A ban is for the rest of the run, for every request of the client's clones.
        client.clone().ban(&m(&a));
        client.ban(&Source::Registry);
        assert_eq!(client.sources(&r, ByDigest), [m(&b), Source::Registry]);
        // Flags replace the file's list, for every registry; --mirror-only drops the registry,
        // --mirror-tags lets tags go to mirrors.
        let c = mirror("https://c.example");
        let flags = ClientOptions {
            mirrors: MirrorOptions {
                mirrors: vec![c.clone()],
                only: true,
                tags: true,
            },
            ..options
        };
        let client = Client::new(flags).unwrap();
        assert_eq!(client.sources(&r, ByDigest), [m(&c)]);
        assert_eq!(client.sources(&other, ByTag), [m(&c)]);
        // Only banned mirrors left under --mirror-only: they are tried again, never the
        // registry.
        client.ban(&m(&c));
        assert_eq!(client.sources(&r, ByDigest), [m(&c)]);
    }

    #[test]
    fn urls_and_homes_of_mirrors() {
        let client = Client::new(ClientOptions::default()).unwrap();
        let r: Reference = "reg.example/team/app:1".parse().unwrap();
        let m = Source::Mirror(mirror("http://127.0.0.1:6002/pre"));
        assert_eq!(
            client.url_at(&r, &m, Endpoint::Manifest("1")).as_str(),
            "http://127.0.0.1:6002/pre/v2/team/app/manifests/1"
        );
        assert_eq!(
            client.url_at(&r, &Source::Registry, Endpoint::Manifest("1")),
            client.url(&r, Endpoint::Manifest("1"))
        );
        let home = client.home_at(&r, &m).unwrap();
        assert_eq!(&*home.name, "127.0.0.1:6002");
        assert_eq!(home.origin.to_string(), "http://127.0.0.1:6002");
        let home = client.home_at(&r, &Source::Registry).unwrap();
        assert_eq!(&*home.name, "reg.example");
        assert_eq!(m.location(&r), "http://127.0.0.1:6002/pre/team/app");
        assert_eq!(
            m.describe().to_string(),
            "mirror `http://127.0.0.1:6002/pre`"
        );
    }
}
