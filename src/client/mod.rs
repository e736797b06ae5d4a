//! HTTP access to a registry's endpoints (blobs: HEAD and ranged GET; manifests), redirects,
//! authentication, and turning failed responses into [`RegistryError`]s that read as sentences.
//!
//! One scheme decision ([`Client::scheme_for`]) and one URL builder ([`Client::url`]) serve
//! every endpoint. Redirects are followed here, hop by hop, rather than by reqwest, because
//! each hop is judged by its origin (scheme, host, port): only the registry's own origin gets
//! its credentials, its TLS exceptions (`--insecure`, a config file's `insecure`) and the
//! right to teach an authentication challenge. A storage host or CDN that answers 401 gets
//! nothing and changes nothing; a token realm or redirect target on another origin is verified
//! normally (the CA files given for the registry are trusted there too: they only add roots).
//!
//! The client knows URLs, headers and statuses; it does not know the cache. Streaming a body
//! into the store and deciding what to do with a partial answer is `transfer`'s job.
//!
//! This file holds the [`Client`] itself (options, per-registry pools, the send loop that
//! answers challenges); the rest is split by concern: `blob` (the blob endpoints), `error`
//! ([`RegistryError`] and its messages), `headers` (pure header parsing, redaction), `http`
//! (building connection pools, following redirects), `manifest`, `auth`, `challenge`,
//! `credentials` and `retry`. Their public items are re-exported here.

pub mod auth;
pub mod challenge;
pub mod credentials;
pub mod manifest;
pub mod mirror;
pub mod retry;

mod blob;
mod error;
mod headers;
mod http;
mod upload;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use reqwest::header::{self, HeaderMap};
use reqwest::{Method, Url};

use self::auth::Auth;
use self::credentials::{Explicit, Sources};
use self::headers::SharedWarnings;
use crate::reference::{Endpoint, Origin, Reference, Registry, api_url};

pub use self::blob::{BlobHead, BlobResponse, RangeSupport};
pub(crate) use self::error::status_error;
pub use self::error::{RegistryError, TransportKind, error_text, transport_error};
pub(crate) use self::headers::header_str;
pub use self::headers::{ContentRange, RateLimit, host_port, parse_warnings, redact};
pub use self::http::HttpSetupError;
pub(crate) use self::http::{BodyFn, Pools, follow};
pub use self::mirror::{MirrorOptions, Named, Source};
pub use self::upload::{ManifestPut, Started, UploadError, push_scope};

/// Most redirects followed for one request (the same cap as curl's and reqwest's default).
pub const MAX_REDIRECTS: usize = 10;

/// The `User-Agent` layerget sends.
pub const USER_AGENT: &str = concat!("layerget/", env!("CARGO_PKG_VERSION"));

/// How to talk to registries.
#[derive(Debug, Clone)]
pub struct ClientOptions {
    /// Use http even for registries that are not loopback.
    pub plain_http: bool,
    /// Give up on a connection attempt after this long.
    pub connect_timeout: Duration,
    /// Give up on a response (headers or the next body bytes) after this long without data.
    pub stall_timeout: Duration,
    /// Credentials from flags or environment variables, for the one registry they name.
    pub credentials: Option<Explicit>,
    /// Extra trusted roots (PEM); implies https, loopback included.
    pub ca_file: Option<std::path::PathBuf>,
    /// Accept any certificate; implies https, loopback included.
    pub insecure: bool,
    /// Per-registry settings from the config file (flags win).
    pub registries: std::collections::BTreeMap<String, crate::config::RegistrySettings>,
    /// Mirror flags (`--mirror`, `--mirror-only`, `--mirror-tags`).
    pub mirrors: MirrorOptions,
}

impl ClientOptions {
    /// Whether a TLS option asks for https even where http is the default.
    pub fn wants_tls(&self) -> bool {
        self.ca_file.is_some() || self.insecure
    }
}

impl Default for ClientOptions {
    fn default() -> Self {
        ClientOptions {
            plain_http: false,
            connect_timeout: Duration::from_secs(15),
            stall_timeout: Duration::from_secs(30),
            credentials: None,
            ca_file: None,
            insecure: false,
            registries: Default::default(),
            mirrors: MirrorOptions::default(),
        }
    }
}

/// One registry as its requests see it: the name credentials are stored under, the origin
/// everything of it belongs to, and its pools.
#[derive(Debug)]
pub(crate) struct Home<'a> {
    /// `host[:port]` as in references (a mirror's own, computed).
    pub name: std::borrow::Cow<'a, str>,
    /// The origin of its API base URL.
    pub origin: Origin,
    /// Its connection pools.
    pub pools: &'a Pools,
}

/// A registry client. Cheap to clone; clones share connections and rate-limit state.
#[derive(Debug, Clone)]
pub struct Client {
    pools: Pools,
    per_registry: HashMap<String, Pools>,
    options: ClientOptions,
    auth: Arc<Auth>,
    /// Per `host:port`, no request before this instant: a 429 on one transfer slows every
    /// transfer to that host, not only the one that got it.
    throttle: Arc<Mutex<HashMap<String, Instant>>>,
    /// `Warning: 299` texts from every request (see [`Client::take_warnings`]).
    warnings: SharedWarnings,
    /// Mirrors whose bytes failed verification in this run ([`Client::ban`]).
    banned: Arc<Mutex<std::collections::HashSet<crate::config::Mirror>>>,
}

impl Client {
    /// Builds a client.
    pub fn new(options: ClientOptions) -> Result<Client, RegistryError> {
        // reqwest is built without a default crypto provider (see Cargo.toml); install ring
        // once. A second install fails harmlessly.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let warnings = SharedWarnings::default();
        let pools = Pools::build(
            &options,
            options.ca_file.as_deref(),
            options.insecure,
            &warnings,
        )?;
        // Registries whose config-file entry asks for other TLS settings get their own
        // connection pools; flags win over the file.
        let mut per_registry = HashMap::new();
        for (name, settings) in &options.registries {
            let ca = options.ca_file.as_deref().or(settings.ca_file.as_deref());
            let insecure = options.insecure || settings.insecure;
            if ca != options.ca_file.as_deref() || insecure != options.insecure {
                per_registry.insert(
                    name.clone(),
                    Pools::build(&options, ca, insecure, &warnings)?,
                );
            }
        }
        let auth = Arc::new(Auth::new(Sources::from_env(options.credentials.clone())));
        Ok(Client {
            pools,
            per_registry,
            options,
            auth,
            throttle: Arc::default(),
            warnings,
            banned: Arc::default(),
        })
    }

    /// The `Warning: 299` texts received since the last call, each only once per client
    /// (so once per run): sanitised, ready to print. Commands print them after each REF.
    pub fn take_warnings(&self) -> Vec<String> {
        let mut w = self
            .warnings
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        std::mem::take(&mut w.pending)
    }

    /// The connection pools for a registry (its own when the config file gives it other TLS
    /// settings).
    fn pools_for(&self, registry: &str) -> &Pools {
        self.per_registry.get(registry).unwrap_or(&self.pools)
    }

    /// `http` or `https` for a registry: flags first, then its config-file entry, then the
    /// loopback rule. The one place the scheme is decided.
    pub fn scheme_for(&self, registry: &Registry) -> &'static str {
        let o = &self.options;
        if o.wants_tls() {
            return "https";
        }
        if o.plain_http {
            return "http";
        }
        let file = o.registries.get(registry.as_str());
        let tls = file.is_some_and(|s| s.ca_file.is_some() || s.insecure);
        let plain = file.is_some_and(|s| s.plain_http);
        registry.scheme(plain, tls)
    }

    /// The base URL of a registry's API (`<scheme>://<api host>/`).
    pub fn base_url(&self, registry: &Registry) -> Url {
        registry.base_url(self.scheme_for(registry))
    }

    /// The URL of an endpoint of `reference`'s repository: the one URL builder for blobs,
    /// manifests and whatever comes next.
    pub fn url(&self, reference: &Reference, endpoint: Endpoint<'_>) -> Url {
        api_url(
            &self.base_url(reference.registry()),
            reference.repository(),
            endpoint,
        )
    }

    /// The registry of `reference` as its requests see it.
    fn home<'a>(&'a self, reference: &'a Reference) -> Result<Home<'a>, RegistryError> {
        let registry = reference.registry();
        let base = self.base_url(registry);
        let origin = Origin::of(&base).ok_or_else(|| {
            RegistryError::Setup(format!("`{}` has no http(s) origin", redact(&base)))
        })?;
        Ok(Home {
            name: registry.as_str().into(),
            origin,
            pools: self.pools_for(registry.as_str()),
        })
    }

    /// Holds back every request to `url`'s host for `wait` (after a 429 there).
    pub fn throttle(&self, url: &Url, wait: Duration) {
        let until = Instant::now() + wait;
        let mut map = self
            .throttle
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let entry = map.entry(host_port(url)).or_insert(until);
        *entry = (*entry).max(until);
    }

    async fn wait_for_host(&self, url: &Url) {
        let until = {
            let map = self
                .throttle
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            map.get(&host_port(url)).copied()
        };
        if let Some(until) = until {
            tokio::time::sleep_until(until.into()).await;
        }
    }

    /// The options this client was built with.
    pub fn options(&self) -> &ClientOptions {
        &self.options
    }

    /// Sends one pull request for `reference`'s content to `source`, the registry or a mirror
    /// of it (the URL must be on the source), honouring the per-host rate-limit hold, following
    /// redirects, and answering an authentication challenge for the repository. Every request
    /// of a pull goes through here (uploads through [`Client::send_as`]).
    ///
    /// A challenge is learned only from a response of the source's own origin; a 401 from a
    /// redirect target is returned as it is (an error for the caller), and nothing is offered
    /// to it. A mirror is answered as a registry of its own (see `mirror`): its own
    /// credentials and challenges, nothing of the registry's.
    pub(crate) async fn send_at(
        &self,
        reference: &Reference,
        source: &Source,
        method: Method,
        url: &Url,
        headers: HeaderMap,
    ) -> Result<reqwest::Response, RegistryError> {
        let scope = format!("repository:{}:pull", reference.repository());
        let home = self.home_at(reference, source)?;
        self.send_home(home, &scope, method, url, headers, None)
            .await
    }

    /// [`Client::send_at`] the registry, for a token `scope` of the caller's (a push needs
    /// `repository:NAME:pull,push`) and, for uploads, a request body: `body` makes a fresh one
    /// for every request sent (a challenge answered or a redirect followed sends it again).
    pub(crate) async fn send_as(
        &self,
        reference: &Reference,
        scope: &str,
        method: Method,
        url: &Url,
        headers: HeaderMap,
        body: Option<&BodyFn<'_>>,
    ) -> Result<reqwest::Response, RegistryError> {
        let home = self.home(reference)?;
        self.send_home(home, scope, method, url, headers, body)
            .await
    }

    /// The send loop of [`Client::send_as`], for a home already chosen.
    async fn send_home(
        &self,
        home: Home<'_>,
        scope: &str,
        method: Method,
        url: &Url,
        headers: HeaderMap,
        body: Option<&BodyFn<'_>>,
    ) -> Result<reqwest::Response, RegistryError> {
        let scope = scope.to_owned();
        let mut authorization = self.auth.authorize(&home, &scope).await?;
        let mut answered_challenge = false;
        loop {
            self.wait_for_host(url).await;
            let credential = authorization.as_ref().map(|a| (&a.origin, &a.header));
            let mut response = http::follow_with(
                home.pools,
                &home.origin,
                method.clone(),
                url,
                &headers,
                credential,
                body,
            )
            .await?;
            let status = response.status().as_u16();
            let from_registry = Origin::of(response.url()).as_ref() == Some(&home.origin);
            let challenges = if status == 401 && from_registry && !answered_challenge {
                challenge::parse(
                    response
                        .headers()
                        .get_all(header::WWW_AUTHENTICATE)
                        .iter()
                        .filter_map(|v| v.to_str().ok()),
                )
            } else {
                Vec::new()
            };
            if challenges.is_empty() || !self.auth.learn(&home.origin, &challenges) {
                if matches!(status, 401 | 403) {
                    let mut context = match &authorization {
                        Some(a) => a.context.clone(),
                        None => self
                            .auth
                            .anonymous_context(&home.name, &home.origin, &scope),
                    };
                    if !from_registry {
                        context.redirect_target = Some(host_port(response.url()));
                    }
                    response.extensions_mut().insert(context);
                }
                return Ok(response);
            }
            // Answer the challenge once: a fresh token (the cached one may have been
            // revoked or expired early), the scope it says is missing, or Basic credentials.
            answered_challenge = true;
            if let Some(a) = &authorization {
                self.auth.forget(a).await;
            }
            let wanted = challenges
                .iter()
                .find(|c| c.param("error") == Some("insufficient_scope"))
                .and_then(|c| c.param("scope"))
                .unwrap_or(&scope)
                .to_owned();
            match self.auth.authorize(&home, &wanted).await? {
                Some(next) => authorization = Some(next),
                None => {
                    let context = self
                        .auth
                        .anonymous_context(&home.name, &home.origin, &scope);
                    response.extensions_mut().insert(context);
                    return Ok(response);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::RegistrySettings;
    use crate::digest::Digest;

    /// Every endpoint of one registry gets that registry's one scheme (`scheme_for`): the
    /// loopback rule, the config file's `plain-http`, and `--ca-file`/`--insecure` over both.
    #[test]
    fn one_scheme_per_registry_for_every_endpoint() {
        let d: Digest = format!(
            "sha256:{}",
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        )
        .parse()
        .unwrap();
        let plain = RegistrySettings {
            plain_http: true,
            ..RegistrySettings::default()
        };
        let options = ClientOptions {
            registries: [("plain.example".to_owned(), plain)].into(),
            ..ClientOptions::default()
        };
        let tls = ClientOptions {
            insecure: true,
            ..options.clone()
        };
        let cases = [
            (&options, "127.0.0.1:5000/a", "http"),
            (&options, "ghcr.io/a", "https"),
            (&options, "plain.example/a", "http"),
            (&tls, "127.0.0.1:5000/a", "https"),
            (&tls, "plain.example/a", "https"),
        ];
        for (options, reference, scheme) in cases {
            let client = Client::new(options.clone()).unwrap();
            let r: Reference = reference.parse().unwrap();
            assert_eq!(client.scheme_for(r.registry()), scheme, "{reference}");
            let endpoints = [
                Endpoint::Blob(&d),
                Endpoint::Manifest("latest"),
                Endpoint::Tags,
                Endpoint::Uploads,
                Endpoint::Referrers(&d),
            ];
            for endpoint in endpoints {
                let url = client.url(&r, endpoint);
                assert_eq!(url.scheme(), scheme, "{reference} {endpoint:?}");
                assert_eq!(url.host_str(), Some(r.registry().host()), "{reference}");
            }
            assert_eq!(client.blob_url(&r, &d), client.url(&r, Endpoint::Blob(&d)));
        }
    }

    /// A CA file that cannot be used keeps its cause as the source: the printed chain reads
    /// as the one-line message did, and the OS error is still there to be asked.
    #[test]
    fn ca_file_errors_keep_their_cause() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("missing.pem");
        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "not a certificate\n").unwrap();
        let client = |ca: &std::path::Path| {
            Client::new(ClientOptions {
                ca_file: Some(ca.to_owned()),
                ..ClientOptions::default()
            })
            .unwrap_err()
        };
        let err = client(&missing);
        assert_eq!(err.category(), crate::exit::Category::Other);
        assert_eq!(err.failure(), retry::Failure::Final);
        let chain = crate::output::error_chain(&anyhow::Error::new(client(&missing)));
        assert_eq!(
            chain,
            format!(
                "cannot set up the HTTP client: cannot read the CA file `{}`: No such file or directory (os error 2)",
                missing.display()
            )
        );
        let io = std::error::Error::source(&err)
            .and_then(std::error::Error::source)
            .and_then(|e| e.downcast_ref::<std::io::Error>());
        assert_eq!(
            io.map(std::io::Error::kind),
            Some(std::io::ErrorKind::NotFound)
        );
        let chain = crate::output::error_chain(&anyhow::Error::new(client(&empty)));
        assert_eq!(
            chain,
            format!(
                "cannot set up the HTTP client: `{}` holds no PEM certificates",
                empty.display()
            )
        );
    }
}
