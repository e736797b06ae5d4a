//! HTTP access to a registry's blob endpoints: HEAD and ranged GET, redirects, and turning
//! failed responses into [`RegistryError`]s that read as sentences.
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
//! into the store and deciding what to do with a partial answer is `transfer`'s job. Pure
//! header parsing lives at the bottom of this file with its tests.

pub mod auth;
pub mod challenge;
pub mod credentials;
pub mod manifest;
pub mod retry;

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use reqwest::header::{self, HeaderMap};
use reqwest::{Method, StatusCode, Url, redirect};

use self::auth::{Auth, AuthContext};
use self::credentials::{Explicit, Sources};
use crate::digest::Digest;
use crate::envelope::{Category, ErrorBody, MAX_BODY};
use crate::reference::{Endpoint, Origin, Reference, Registry, api_url};

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
        }
    }
}

/// What went wrong talking to a registry.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// The registry answered with a failure status.
    #[error("{}", status_message(.subject, .location, *.status, .body, .auth.as_deref()))]
    Status {
        /// What was asked for (`blob sha256:…`).
        subject: String,
        /// `registry/repository`.
        location: String,
        /// The HTTP status.
        status: u16,
        /// The decoded body.
        body: ErrorBody,
        /// `Retry-After`, when sent.
        retry_after: Option<Duration>,
        /// For 401/403: what the request was authenticated with.
        auth: Option<Box<AuthContext>>,
    },
    /// No usable HTTP exchange happened (DNS, connect, TLS, reset, timeout).
    #[error("cannot get `{url}`: {}", transport_message(*.kind, .address, .reason))]
    Transport {
        /// The URL, with credentials and query removed.
        url: String,
        /// `host[:port]` of the URL.
        address: String,
        /// Which kind of failure, for the retry policy and the hint.
        kind: TransportKind,
        /// The cause, from the error chain.
        reason: String,
    },
    /// The registry answered something a correct registry never does.
    #[error("invalid response from `{url}`: {reason}")]
    Protocol {
        /// The URL, with credentials and query removed.
        url: String,
        /// What was wrong.
        reason: String,
    },
    /// Credentials would go to a token realm in clear text.
    #[error(
        "refusing to send the credentials for `{registry}` to the token realm `{realm}` over plain http\n\
         hint: the registry names a token service anyone on the network can read; ask its operator for an https realm"
    )]
    ClearTextRealm {
        /// The registry (`host[:port]`).
        registry: String,
        /// The realm URL (redacted).
        realm: String,
    },
    /// The HTTP client could not be set up.
    #[error("cannot set up the HTTP client: {0}")]
    Setup(String),
}

impl RegistryError {
    /// The error's category (and so exit code).
    pub fn category(&self) -> Category {
        match self {
            RegistryError::Status { status, body, .. } => {
                crate::envelope::categorize(*status, body)
            }
            RegistryError::Transport { .. } | RegistryError::Protocol { .. } => Category::Network,
            RegistryError::ClearTextRealm { .. } => Category::Auth,
            RegistryError::Setup(_) => Category::Other,
        }
    }

    /// What the retry policy needs to know about this error.
    pub fn failure(&self) -> retry::Failure<'_> {
        match self {
            RegistryError::Status {
                status,
                body,
                retry_after,
                ..
            } => retry::Failure::Status {
                status: *status,
                body,
                retry_after: *retry_after,
            },
            RegistryError::Transport { kind, .. } => match kind {
                TransportKind::Unresolvable => retry::Failure::Unresolvable,
                TransportKind::Refused => retry::Failure::Refused,
                TransportKind::Other => retry::Failure::Transport,
            },
            RegistryError::Protocol { .. }
            | RegistryError::ClearTextRealm { .. }
            | RegistryError::Setup(_) => retry::Failure::Final,
        }
    }
}

impl RegistryError {
    /// One short line for a retry message: what failed, without the URL and the cause chain
    /// the final error shows (`connection refused by 127.0.0.1:5499`, `HTTP 503 Service
    /// Unavailable`).
    pub fn short(&self) -> String {
        match self {
            RegistryError::Status { status, body, .. } => {
                let reason = status_reason(*status);
                match body.codes().first() {
                    Some(code) => format!("{reason}, {code}"),
                    None => reason,
                }
            }
            RegistryError::Transport {
                address,
                kind,
                reason,
                ..
            } => match kind {
                TransportKind::Unresolvable => format!("`{}` does not resolve", host_of(address)),
                TransportKind::Refused => format!("connection refused by {address}"),
                // The summary and the innermost cause: `timed out`, `connection failed:
                // Connection reset by peer (os error 104)`.
                TransportKind::Other => {
                    let first = reason.split(": ").next().unwrap_or_default();
                    match reason.rsplit(": ").next() {
                        Some(last) if last != first => format!("{first}: {last}"),
                        _ => first.to_owned(),
                    }
                }
            },
            RegistryError::Protocol { reason, .. } => reason.clone(),
            other => other.to_string(),
        }
    }
}

/// Why no HTTP exchange happened, as far as retrying and hints care.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransportKind {
    /// The host name does not resolve: most likely a typo, never retried.
    Unresolvable,
    /// The connection was refused: nothing listens there (yet).
    Refused,
    /// Anything else (TLS, reset, timeout, a body that broke off).
    Other,
}

impl TransportKind {
    /// Classifies an error by its source chain. hyper-util reports every failed lookup as a
    /// `ConnectError` whose text is `dns error` (its type is private, so the text is the
    /// mark), wrapping the resolver's error (`failed to lookup address information: …` from
    /// getaddrinfo); a refused connection is an `io::Error` of kind `ConnectionRefused`.
    pub fn of(e: &(dyn std::error::Error + 'static)) -> TransportKind {
        let mut next: Option<&(dyn std::error::Error + 'static)> = Some(e);
        while let Some(err) = next {
            if let Some(io) = err.downcast_ref::<std::io::Error>()
                && io.kind() == std::io::ErrorKind::ConnectionRefused
            {
                return TransportKind::Refused;
            }
            let text = err.to_string();
            if text == "dns error" || text.starts_with("failed to lookup address") {
                return TransportKind::Unresolvable;
            }
            next = err.source();
        }
        TransportKind::Other
    }
}

/// The host of `host[:port]` (IPv6 literals keep their brackets).
fn host_of(address: &str) -> &str {
    match address.rsplit_once(':') {
        Some((host, port))
            if !host.is_empty() && port.bytes().all(|b| b.is_ascii_digit()) && !port.is_empty() =>
        {
            host
        }
        _ => address,
    }
}

fn transport_message(kind: TransportKind, address: &str, reason: &str) -> String {
    match kind {
        TransportKind::Unresolvable => format!(
            "`{}` does not resolve ({reason})\nhint: is the registry name right?",
            host_of(address)
        ),
        TransportKind::Refused => {
            format!("{reason}\nhint: is a registry listening at {address}?")
        }
        TransportKind::Other => reason.to_owned(),
    }
}

fn status_reason(status: u16) -> String {
    StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .map(|r| format!("HTTP {status} {r}"))
        .unwrap_or_else(|| format!("HTTP {status}"))
}

fn status_message(
    subject: &str,
    location: &str,
    status: u16,
    body: &ErrorBody,
    auth: Option<&AuthContext>,
) -> String {
    let detail = match body {
        ErrorBody::Empty => String::new(),
        body => format!(" ({body})"),
    };
    let reason = status_reason(status);
    match crate::envelope::categorize(status, body) {
        Category::NotFound if !matches!(body, ErrorBody::Empty) => {
            format!("{subject} not found in {location}{detail}")
        }
        Category::NotFound => format!("{subject} not found in {location} ({reason})"),
        Category::Auth => {
            let why = auth.map(AuthContext::explain).unwrap_or_default();
            format!("{location} refused access to {subject} ({reason}){detail}{why}")
        }
        Category::RateLimited => {
            format!("{location} is rate limiting requests for {subject} ({reason}){detail}")
        }
        Category::Network => format!("{location} failed to serve {subject} ({reason}){detail}"),
        _ => format!("{location} answered {reason} for {subject}{detail}"),
    }
}

/// The answer to a HEAD request for a blob.
#[derive(Debug, Clone)]
pub struct BlobHead {
    /// The final status (after redirects).
    pub status: u16,
    /// `Content-Length`, when sent.
    pub size: Option<u64>,
    /// `Docker-Content-Digest`, as sent.
    pub digest: Option<String>,
    /// `Content-Type`, as sent.
    pub content_type: Option<String>,
    /// The URL that answered (after redirects).
    pub final_url: Url,
}

/// A blob GET whose headers arrived. The body is still unread.
pub struct BlobResponse {
    /// 200, 206 or 416; other statuses become errors.
    pub status: u16,
    /// The `Content-Length` header.
    pub content_length: Option<u64>,
    /// The parsed `Content-Range` header.
    pub content_range: Option<ContentRange>,
    /// `Docker-Content-Digest`, as sent.
    pub digest: Option<String>,
    /// The URL that answered (after redirects).
    pub final_url: Url,
    /// The response, for streaming its body.
    pub response: reqwest::Response,
}

impl fmt::Debug for BlobResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BlobResponse")
            .field("status", &self.status)
            .field("content_length", &self.content_length)
            .field("content_range", &self.content_range)
            .field("final_url", &redact(&self.final_url))
            .finish()
    }
}

/// The connection pools for one registry's requests: `own` with the registry's TLS settings,
/// for its own origin only; `other` for every other origin it sends us to (token realm,
/// redirect targets), which never skips verification. Neither follows redirects: [`follow`]
/// does, choosing the pool per hop.
#[derive(Debug, Clone)]
pub(crate) struct Pools {
    own: reqwest::Client,
    other: reqwest::Client,
}

impl Pools {
    /// Builds the pools for these TLS settings.
    fn build(
        options: &ClientOptions,
        ca_file: Option<&std::path::Path>,
        insecure: bool,
    ) -> Result<Pools, RegistryError> {
        let own = build_http(options, ca_file, insecure)?;
        let other = if insecure {
            build_http(options, ca_file, false)?
        } else {
            own.clone()
        };
        Ok(Pools { own, other })
    }

    /// The pool for a request to `url` made for the registry at `home`.
    pub(crate) fn for_url(&self, home: &Origin, url: &Url) -> &reqwest::Client {
        if Origin::of(url).as_ref() == Some(home) {
            &self.own
        } else {
            &self.other
        }
    }
}

/// One registry as its requests see it: the name credentials are stored under, the origin
/// everything of it belongs to, and its pools.
#[derive(Debug)]
pub(crate) struct Home<'a> {
    /// `host[:port]` as in references.
    pub name: &'a str,
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
}

impl Client {
    /// Builds a client.
    pub fn new(options: ClientOptions) -> Result<Client, RegistryError> {
        // reqwest is built without a default crypto provider (see Cargo.toml); install ring
        // once. A second install fails harmlessly.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let pools = Pools::build(&options, options.ca_file.as_deref(), options.insecure)?;
        // Registries whose config-file entry asks for other TLS settings get their own
        // connection pools; flags win over the file.
        let mut per_registry = HashMap::new();
        for (name, settings) in &options.registries {
            let ca = options.ca_file.as_deref().or(settings.ca_file.as_deref());
            let insecure = options.insecure || settings.insecure;
            if ca != options.ca_file.as_deref() || insecure != options.insecure {
                per_registry.insert(name.clone(), Pools::build(&options, ca, insecure)?);
            }
        }
        let auth = Arc::new(Auth::new(Sources::from_env(options.credentials.clone())));
        Ok(Client {
            pools,
            per_registry,
            options,
            auth,
            throttle: Arc::default(),
        })
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
            name: registry.as_str(),
            origin,
            pools: self.pools_for(registry.as_str()),
        })
    }

    /// Holds back every request to `url`'s host for `wait` (after a 429 there).
    pub fn throttle(&self, url: &Url, wait: Duration) {
        let until = Instant::now() + wait;
        let mut map = self.throttle.lock().expect("throttle lock poisoned");
        let entry = map.entry(host_port(url)).or_insert(until);
        *entry = (*entry).max(until);
    }

    async fn wait_for_host(&self, url: &Url) {
        let until = {
            let map = self.throttle.lock().expect("throttle lock poisoned");
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

    /// The URL of a blob: `<scheme>://<registry>/v2/<name>/blobs/<digest>`.
    pub fn blob_url(&self, reference: &Reference, digest: &Digest) -> Url {
        self.url(reference, Endpoint::Blob(digest))
    }

    /// Sends HEAD for a blob. A failure status is an error whose category says which.
    pub async fn head_blob(
        &self,
        reference: &Reference,
        digest: &Digest,
    ) -> Result<BlobHead, RegistryError> {
        let url = self.blob_url(reference, digest);
        let response = self
            .send(reference, Method::HEAD, &url, HeaderMap::new())
            .await?;
        let status = response.status();
        if !status.is_success() {
            return Err(RegistryError::Status {
                subject: format!("blob {digest}"),
                location: reference.location(),
                status: status.as_u16(),
                body: ErrorBody::Empty,
                retry_after: retry_after(response.headers()),
                auth: auth_context(&response),
            });
        }
        let headers = response.headers();
        Ok(BlobHead {
            status: status.as_u16(),
            size: header_u64(headers, header::CONTENT_LENGTH),
            digest: header_str(headers, "docker-content-digest"),
            content_type: header_str(headers, header::CONTENT_TYPE),
            final_url: response.url().clone(),
        })
    }

    /// Sends GET for a blob; `range` asks for bytes `first..=last` (`last` open when `None`).
    /// Resumes send a closed range when the size is known, which some servers insist on.
    pub async fn get_blob(
        &self,
        reference: &Reference,
        digest: &Digest,
        range: Option<(u64, Option<u64>)>,
    ) -> Result<BlobResponse, RegistryError> {
        let url = self.blob_url(reference, digest);
        let mut headers = HeaderMap::new();
        if let Some((first, last)) = range {
            let range = match last {
                Some(last) => format!("bytes={first}-{last}"),
                None => format!("bytes={first}-"),
            };
            headers.insert(
                header::RANGE,
                range.parse().expect("a formatted range is a valid header"),
            );
        }
        let response = self.send(reference, Method::GET, &url, headers).await?;
        let status = response.status().as_u16();
        if !matches!(status, 200 | 206 | 416) {
            let retry_after = retry_after(response.headers());
            let auth = auth_context(&response);
            let body = read_error_body(response).await;
            return Err(RegistryError::Status {
                subject: format!("blob {digest}"),
                location: reference.location(),
                status,
                body,
                retry_after,
                auth,
            });
        }
        let final_url = response.url().clone();
        let headers = response.headers();
        let content_range =
            match headers.get(header::CONTENT_RANGE) {
                None => None,
                Some(v) => Some(v.to_str().ok().and_then(ContentRange::parse).ok_or_else(
                    || RegistryError::Protocol {
                        url: redact(&final_url),
                        reason: format!("malformed Content-Range header `{v:?}`"),
                    },
                )?),
            };
        Ok(BlobResponse {
            status,
            content_length: header_u64(headers, header::CONTENT_LENGTH),
            content_range,
            digest: header_str(headers, "docker-content-digest"),
            final_url,
            response,
        })
    }

    /// Sends one request to `reference`'s registry (the URL must be on it), honouring the
    /// per-host rate-limit hold, following redirects, and answering an authentication
    /// challenge for the repository. Every registry request goes through here.
    ///
    /// A challenge is learned only from a response of the registry's own origin; a 401 from a
    /// redirect target is returned as it is (an error for the caller), and nothing is offered
    /// to it.
    pub(crate) async fn send(
        &self,
        reference: &Reference,
        method: Method,
        url: &Url,
        headers: HeaderMap,
    ) -> Result<reqwest::Response, RegistryError> {
        let home = self.home(reference)?;
        let scope = format!("repository:{}:pull", reference.repository());
        let mut authorization = self.auth.authorize(&home, &scope).await?;
        let mut answered_challenge = false;
        loop {
            self.wait_for_host(url).await;
            let credential = authorization.as_ref().map(|a| (&a.origin, &a.header));
            let mut response = follow(
                home.pools,
                &home.origin,
                method.clone(),
                url,
                &headers,
                credential,
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
                        None => self.auth.anonymous_context(home.name, &home.origin, &scope),
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
                    let context = self.auth.anonymous_context(home.name, &home.origin, &scope);
                    response.extensions_mut().insert(context);
                    return Ok(response);
                }
            }
        }
    }
}

/// Sends a bodiless request and follows up to [`MAX_REDIRECTS`] redirects, hop by hop: each
/// hop uses the registry's own pool only on the registry's origin `home`, and `credential`
/// (an `Authorization` and the origin it belongs to) only on that origin. Other headers
/// (`Range`, `Accept`) go along, as reqwest's own redirect handling did. Returns the first
/// response that is not a redirect (a redirect without `Location` is returned as it is).
pub(crate) async fn follow(
    pools: &Pools,
    home: &Origin,
    method: Method,
    url: &Url,
    headers: &HeaderMap,
    credential: Option<(&Origin, &header::HeaderValue)>,
) -> Result<reqwest::Response, RegistryError> {
    let mut visited = vec![url.clone()];
    let mut current = url.clone();
    loop {
        let mut request = pools
            .for_url(home, &current)
            .request(method.clone(), current.clone())
            .headers(headers.clone());
        if let Some((origin, value)) = credential
            && Origin::of(&current).as_ref() == Some(origin)
        {
            request = request.header(header::AUTHORIZATION, value.clone());
        }
        let response = request
            .send()
            .await
            .map_err(|e| transport_error(&current, &e))?;
        if !matches!(response.status().as_u16(), 301 | 302 | 303 | 307 | 308) {
            return Ok(response);
        }
        let Some(location) = response
            .headers()
            .get(header::LOCATION)
            .and_then(|v| v.to_str().ok())
        else {
            return Ok(response);
        };
        let next = current
            .join(location)
            .map_err(|e| RegistryError::Protocol {
                url: redact(&current),
                reason: format!("unusable redirect location ({e})"),
            })?;
        check_redirect(&visited, &next).map_err(|reason| RegistryError::Protocol {
            url: redact(&current),
            reason,
        })?;
        visited.push(next.clone());
        current = next;
    }
}

fn auth_context(response: &reqwest::Response) -> Option<Box<AuthContext>> {
    response
        .extensions()
        .get::<AuthContext>()
        .cloned()
        .map(Box::new)
}

/// Builds a connection pool with these TLS settings.
fn build_http(
    options: &ClientOptions,
    ca_file: Option<&std::path::Path>,
    insecure: bool,
) -> Result<reqwest::Client, RegistryError> {
    let mut builder = reqwest::Client::builder();
    if let Some(path) = ca_file {
        let pem = std::fs::read(path).map_err(|e| {
            RegistryError::Setup(format!("cannot read the CA file `{}`: {e}", path.display()))
        })?;
        let certs = reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| {
            RegistryError::Setup(format!(
                "`{}` holds no usable PEM certificates: {}",
                path.display(),
                error_text(&e)
            ))
        })?;
        if certs.is_empty() {
            return Err(RegistryError::Setup(format!(
                "`{}` holds no PEM certificates",
                path.display()
            )));
        }
        builder = builder.tls_certs_merge(certs);
    }
    if insecure {
        builder = builder
            .tls_danger_accept_invalid_certs(true)
            .tls_danger_accept_invalid_hostnames(true);
    }
    #[cfg(debug_assertions)]
    if let Some(resolver) = test_resolver::from_env() {
        builder = builder.dns_resolver(resolver);
    }
    builder
        .user_agent(USER_AGENT)
        // Hashed bytes must be the served bytes: never decode Content-Encoding.
        .no_gzip()
        .no_brotli()
        .no_deflate()
        .no_zstd()
        .referer(false)
        // Redirects are followed by `follow`, which picks the pool and the credentials per hop.
        .redirect(redirect::Policy::none())
        .connect_timeout(options.connect_timeout)
        .read_timeout(options.stall_timeout)
        .build()
        .map_err(|e| RegistryError::Setup(error_text(&e)))
}

/// A test-only resolver, compiled into debug builds alone (release builds never read the
/// variable): the host names listed, comma-separated, in `LAYERGET_TEST_UNRESOLVABLE` fail
/// to resolve the way a name that does not exist does, so tests can see what a mistyped
/// registry name does without asking this machine's DNS. Every other name goes to the
/// system resolver (getaddrinfo, through tokio), as without the override.
#[cfg(debug_assertions)]
mod test_resolver {
    use std::sync::Arc;

    use reqwest::dns::{Addrs, Name, Resolve, Resolving};

    /// The variable's name.
    const VAR: &str = "LAYERGET_TEST_UNRESOLVABLE";

    #[derive(Debug, thiserror::Error)]
    #[error(
        "failed to lookup address information: Name or service not known (`{0}` is listed in {VAR})"
    )]
    struct Unresolvable(String);

    struct Resolver {
        names: Vec<String>,
    }

    impl Resolve for Resolver {
        fn resolve(&self, name: Name) -> Resolving {
            let host = name.as_str().to_ascii_lowercase();
            let fails = self.names.contains(&host);
            Box::pin(async move {
                if fails {
                    return Err(Box::new(Unresolvable(host)) as _);
                }
                let addrs: Vec<_> = tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
                Ok(Box::new(addrs.into_iter()) as Addrs)
            })
        }
    }

    /// The resolver, when the variable lists any name.
    pub(super) fn from_env() -> Option<Arc<dyn Resolve>> {
        let names: Vec<String> = std::env::var(VAR)
            .ok()?
            .split(',')
            .map(|n| n.trim().to_ascii_lowercase())
            .filter(|n| !n.is_empty())
            .collect();
        if names.is_empty() {
            return None;
        }
        Some(Arc::new(Resolver { names }))
    }
}

/// Turns a reqwest error into a [`RegistryError::Transport`] that names the URL without
/// credentials or query.
pub fn transport_error(url: &Url, e: &reqwest::Error) -> RegistryError {
    let shown = e.url().unwrap_or(url);
    RegistryError::Transport {
        url: redact(shown),
        address: host_port(shown),
        kind: TransportKind::of(e),
        reason: error_text(e),
    }
}

/// The messages of an error's source chain, joined by `: `, with the URL reqwest likes to
/// print left out (it may hold a presigned query).
pub fn error_text(e: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut next: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = next {
        let text = match err.downcast_ref::<reqwest::Error>() {
            Some(r) if r.is_timeout() => "timed out".to_owned(),
            Some(r) if r.is_redirect() => "too many redirects or a refused redirect".to_owned(),
            Some(r) if r.is_connect() => "connection failed".to_owned(),
            Some(r) if r.is_body() || r.is_decode() => "error reading the body".to_owned(),
            Some(r) if r.is_request() => "request failed".to_owned(),
            _ => err.to_string(),
        };
        if !parts.iter().any(|p| p == &text) && !text.is_empty() {
            parts.push(text);
        }
        next = err.source();
    }
    parts.join(": ")
}

/// Whether a redirect to `next` may be followed after visiting `previous` (the request's own
/// URL first): at most [`MAX_REDIRECTS`], and never from https down to http.
fn check_redirect(previous: &[Url], next: &Url) -> Result<(), String> {
    if previous.len() > MAX_REDIRECTS {
        return Err(format!("more than {MAX_REDIRECTS} redirects"));
    }
    if !matches!(next.scheme(), "http" | "https") {
        return Err(format!("refusing a redirect to `{}`", redact(next)));
    }
    if next.scheme() == "http" && previous.iter().any(|u| u.scheme() == "https") {
        return Err(format!(
            "refusing a redirect from https to http (`{}`)",
            redact(next)
        ));
    }
    Ok(())
}

/// Reads at most [`MAX_BODY`] bytes of an error body and decodes it.
async fn read_error_body(mut response: reqwest::Response) -> ErrorBody {
    let mut body = Vec::new();
    while body.len() < MAX_BODY {
        match response.chunk().await {
            Ok(Some(chunk)) => {
                body.extend_from_slice(&chunk[..chunk.len().min(MAX_BODY - body.len())])
            }
            _ => break,
        }
    }
    ErrorBody::decode(&body)
}

fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    header_str(headers, header::RETRY_AFTER)
        .and_then(|v| retry::parse_retry_after(&v, SystemTime::now()))
}

fn header_str(headers: &HeaderMap, name: impl header::AsHeaderName) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

fn header_u64(headers: &HeaderMap, name: impl header::AsHeaderName) -> Option<u64> {
    header_str(headers, name).and_then(|v| v.trim().parse().ok())
}

/// A URL fit for messages: no user info, no query (presigned URLs carry credentials there),
/// no fragment.
pub fn redact(url: &Url) -> String {
    let mut url = url.clone();
    let _ = url.set_username("");
    let _ = url.set_password(None);
    let had_query = url.query().is_some();
    url.set_query(None);
    url.set_fragment(None);
    let mut s = url.to_string();
    if had_query {
        s.push_str("?…");
    }
    s
}

/// `host[:port]` of a URL, for showing where a request ended up.
pub fn host_port(url: &Url) -> String {
    match (url.host_str(), url.port()) {
        (Some(h), Some(p)) => format!("{h}:{p}"),
        (Some(h), None) => h.to_owned(),
        _ => String::new(),
    }
}

/// A parsed `Content-Range: bytes first-last/total` (RFC 9110 §14.4); `total` is `None` for
/// `*`. The unsatisfied form `bytes */total` has no first and last.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ContentRange {
    /// First byte and last byte (inclusive), absent in `bytes */total`.
    pub range: Option<(u64, u64)>,
    /// The complete length, when known.
    pub total: Option<u64>,
}

impl ContentRange {
    /// Parses the header value; `None` when malformed.
    pub fn parse(value: &str) -> Option<ContentRange> {
        let rest = value.trim().strip_prefix("bytes")?.trim_start();
        let (range, total) = rest.split_once('/')?;
        let total = match total.trim() {
            "*" => None,
            t => Some(parse_digits(t)?),
        };
        let range = match range.trim() {
            "*" => None,
            r => {
                let (first, last) = r.split_once('-')?;
                let (first, last) = (parse_digits(first)?, parse_digits(last)?);
                if last < first || total.is_some_and(|t| last >= t) {
                    return None;
                }
                Some((first, last))
            }
        };
        if range.is_none() && total.is_none() {
            return None;
        }
        Some(ContentRange { range, total })
    }
}

fn parse_digits(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_range_table() {
        let ok = |first, last, total| ContentRange {
            range: Some((first, last)),
            total,
        };
        let cases: &[(&str, Option<ContentRange>)] = &[
            ("bytes 0-9/10", Some(ok(0, 9, Some(10)))),
            ("bytes 10-19/*", Some(ok(10, 19, None))),
            ("bytes  5-5/6", Some(ok(5, 5, Some(6)))),
            (
                "bytes */100",
                Some(ContentRange {
                    range: None,
                    total: Some(100),
                }),
            ),
            ("bytes 9-0/10", None),
            ("bytes 0-10/10", None),
            ("bytes */*", None),
            ("bytes 0-9", None),
            ("items 0-9/10", None),
            ("bytes -1-9/10", None),
            ("bytes 0-+9/10", None),
            ("", None),
        ];
        for (input, want) in cases {
            assert_eq!(ContentRange::parse(input), *want, "{input}");
        }
    }

    #[test]
    fn redirects() {
        let u = |s: &str| Url::parse(s).unwrap();
        let https = u("https://reg.example/v2/a/blobs/x");
        let cdn = u("https://cdn.example/blob?sig=secret");
        assert_eq!(check_redirect(std::slice::from_ref(&https), &cdn), Ok(()));
        assert_eq!(
            check_redirect(
                &[u("http://127.0.0.1:5000/v2/")],
                &u("http://127.0.0.1:9/x")
            ),
            Ok(())
        );
        assert_eq!(check_redirect(&[u("http://a.example/")], &cdn), Ok(()));
        assert!(check_redirect(std::slice::from_ref(&https), &u("file:///etc/passwd")).is_err());
        let down = check_redirect(
            &[https.clone(), cdn.clone()],
            &u("http://cdn.example/blob?sig=secret"),
        );
        let msg = down.unwrap_err();
        assert!(msg.contains("from https to http"), "{msg}");
        assert!(!msg.contains("secret"), "{msg}");
        let ten: Vec<Url> = (0..=MAX_REDIRECTS)
            .map(|i| u(&format!("https://r.example/{i}")))
            .collect();
        assert!(check_redirect(&ten[..MAX_REDIRECTS], &https).is_ok());
        assert!(
            check_redirect(&ten, &https)
                .unwrap_err()
                .contains("more than 10")
        );
    }

    #[test]
    fn redaction() {
        let u =
            Url::parse("https://user:secret@cdn.example:8443/blob?X-Amz-Signature=abc#f").unwrap();
        assert_eq!(redact(&u), "https://cdn.example:8443/blob?…");
        assert_eq!(host_port(&u), "cdn.example:8443");
        let plain = Url::parse("http://127.0.0.1:5000/v2/").unwrap();
        assert_eq!(redact(&plain), "http://127.0.0.1:5000/v2/");
    }

    #[test]
    fn status_messages() {
        let hex = "a".repeat(64);
        let body = ErrorBody::decode(
            br#"{"errors":[{"code":"BLOB_UNKNOWN","message":"blob unknown to registry","detail":null}]}"#,
        );
        let msg = status_message(
            &format!("blob sha256:{hex}"),
            "127.0.0.1:5000/team/sub/app",
            404,
            &body,
            None,
        );
        assert_eq!(
            msg,
            format!(
                "blob sha256:{hex} not found in 127.0.0.1:5000/team/sub/app (BLOB_UNKNOWN: blob unknown to registry)"
            )
        );
        let msg = status_message("blob x", "r/a", 404, &ErrorBody::Empty, None);
        assert_eq!(msg, "blob x not found in r/a (HTTP 404 Not Found)");
        let msg = status_message("blob x", "r/a", 401, &ErrorBody::Empty, None);
        assert_eq!(msg, "r/a refused access to blob x (HTTP 401 Unauthorized)");
        let msg = status_message("blob x", "r/a", 503, &ErrorBody::decode(b"down"), None);
        assert_eq!(
            msg,
            "r/a failed to serve blob x (HTTP 503 Service Unavailable) (body: down)"
        );
    }
}
