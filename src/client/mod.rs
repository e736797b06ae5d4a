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
    /// `host[:port]` of every hop, the registry first and the host that answered last.
    pub hops: Vec<String>,
    /// Rate-limit headers, from the first hop that sent each.
    pub rate_limit: RateLimit,
}

/// What a registry says about its rate limit (`RateLimit-Limit`, `RateLimit-Remaining`, as
/// Docker Hub sends them, and `Retry-After`), as sent but sanitised (one line, no controls).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RateLimit {
    /// `RateLimit-Limit` (`100;w=21600`).
    pub limit: Option<String>,
    /// `RateLimit-Remaining`.
    pub remaining: Option<String>,
    /// `Retry-After`.
    pub retry_after: Option<String>,
}

impl RateLimit {
    /// Whether no header was sent.
    pub fn is_empty(&self) -> bool {
        self.limit.is_none() && self.remaining.is_none() && self.retry_after.is_none()
    }

    /// Fills what is still missing from `headers`.
    fn fill_from(&mut self, headers: &HeaderMap) {
        for (slot, name) in [
            (&mut self.limit, "ratelimit-limit"),
            (&mut self.remaining, "ratelimit-remaining"),
            (&mut self.retry_after, "retry-after"),
        ] {
            if slot.is_none() {
                *slot = header_text(headers, name);
            }
        }
    }
}

/// Where one request went: attached to the response by [`follow`].
#[derive(Debug, Clone, Default)]
struct Trail {
    hops: Vec<String>,
    rate_limit: RateLimit,
}

/// Whether the registry honours `Range`, from a 1-byte ranged GET.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RangeSupport {
    /// 206 with `Content-Range: bytes 0-0/…`.
    Honoured,
    /// Anything else that is a success (usually 200 with the whole body): resumes and
    /// segments cannot work.
    Ignored {
        /// The status.
        status: u16,
    },
    /// 416: the blob is empty, so no byte range exists to ask for.
    Unsatisfiable,
}

/// `Warning: 299` texts (RFC 9111 §5.5; "miscellaneous persistent warning", which registries
/// use for deprecations) seen by any request of a run, each kept once, sanitised.
#[derive(Debug, Default)]
struct Warnings {
    seen: std::collections::HashSet<String>,
    pending: Vec<String>,
}

/// The shared warning set of one [`Client`] (and all its pools).
type SharedWarnings = Arc<Mutex<Warnings>>;

fn note_warnings(warnings: &SharedWarnings, headers: &HeaderMap) {
    let texts: Vec<String> = headers
        .get_all(header::WARNING)
        .iter()
        .flat_map(|v| parse_warnings(&String::from_utf8_lossy(v.as_bytes())))
        .filter(|(code, _)| code == "299")
        .map(|(_, text)| crate::text::sanitize(&text, crate::text::Lines::Escape).into_owned())
        .collect();
    if texts.is_empty() {
        return;
    }
    let mut w = warnings
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    for text in texts {
        if w.seen.insert(text.clone()) {
            w.pending.push(text);
        }
    }
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
    /// The client's `Warning: 299` texts (shared by all pools of one client).
    warnings: SharedWarnings,
}

impl Pools {
    /// Builds the pools for these TLS settings.
    fn build(
        options: &ClientOptions,
        ca_file: Option<&std::path::Path>,
        insecure: bool,
        warnings: &SharedWarnings,
    ) -> Result<Pools, RegistryError> {
        let own = build_http(options, ca_file, insecure)?;
        let other = if insecure {
            build_http(options, ca_file, false)?
        } else {
            own.clone()
        };
        Ok(Pools {
            own,
            other,
            warnings: warnings.clone(),
        })
    }

    /// Keeps the `Warning: 299` texts of a response (any request, any hop).
    pub(crate) fn note_warnings(&self, headers: &HeaderMap) {
        note_warnings(&self.warnings, headers);
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
    /// `Warning: 299` texts from every request (see [`Client::take_warnings`]).
    warnings: SharedWarnings,
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
            name: registry.as_str(),
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
        let trail = response.extensions().get::<Trail>().cloned();
        let trail = trail.unwrap_or_default();
        Ok(BlobHead {
            status: status.as_u16(),
            size: header_u64(headers, header::CONTENT_LENGTH),
            digest: header_str(headers, "docker-content-digest"),
            content_type: header_str(headers, header::CONTENT_TYPE),
            final_url: response.url().clone(),
            hops: trail.hops,
            rate_limit: trail.rate_limit,
        })
    }

    /// Asks for the blob's first byte only: whether the registry (or where it redirects)
    /// honours `Range`, which resumes and segments need. The body is not read.
    pub async fn check_range(
        &self,
        reference: &Reference,
        digest: &Digest,
    ) -> Result<RangeSupport, RegistryError> {
        let answer = self.get_blob(reference, digest, Some((0, Some(0)))).await?;
        Ok(match (answer.status, answer.content_range) {
            (
                206,
                Some(ContentRange {
                    range: Some((0, 0)),
                    ..
                }),
            ) => RangeSupport::Honoured,
            (416, _) => RangeSupport::Unsatisfiable,
            (status, _) => RangeSupport::Ignored { status },
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
                range.parse().map_err(|e| {
                    RegistryError::Setup(format!("the Range header `{range}`: {e}"))
                })?,
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
    let mut trail = Trail::default();
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
        let mut response = request
            .send()
            .await
            .map_err(|e| transport_error(&current, &e))?;
        pools.note_warnings(response.headers());
        trail.hops.push(host_port(&current));
        trail.rate_limit.fill_from(response.headers());
        let location = response
            .headers()
            .get(header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let (true, Some(location)) = (
            matches!(response.status().as_u16(), 301 | 302 | 303 | 307 | 308),
            location,
        ) else {
            response.extensions_mut().insert(trail);
            return Ok(response);
        };
        let next = current
            .join(&location)
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
                let room = MAX_BODY.saturating_sub(body.len());
                body.extend_from_slice(chunk.get(..chunk.len().min(room)).unwrap_or_default())
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

/// A header as text fit to show: non-UTF-8 bytes replaced, controls escaped, one line.
fn header_text(headers: &HeaderMap, name: impl header::AsHeaderName) -> Option<String> {
    headers.get(name).map(|v| {
        crate::text::sanitize(
            &String::from_utf8_lossy(v.as_bytes()),
            crate::text::Lines::Escape,
        )
        .into_owned()
    })
}

/// Parses a `Warning` header value (RFC 9111 §5.5: `1#( warn-code SP warn-agent SP
/// warn-text [ SP warn-date ] )`, warn-text a quoted-string) into (code, text) pairs, the
/// text unquoted. Lenient: a value that breaks the grammar gives the pairs before it.
pub fn parse_warnings(value: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut chars = value.chars().peekable();
    let token = |chars: &mut std::iter::Peekable<std::str::Chars<'_>>| {
        let mut t = String::new();
        while let Some(&c) = chars.peek() {
            if c == ' ' || c == '\t' || c == ',' || c == '"' {
                break;
            }
            t.push(c);
            chars.next();
        }
        t
    };
    let spaces = |chars: &mut std::iter::Peekable<std::str::Chars<'_>>| {
        while chars.next_if(|c| *c == ' ' || *c == '\t').is_some() {}
    };
    let quoted = |chars: &mut std::iter::Peekable<std::str::Chars<'_>>| {
        chars.next_if_eq(&'"')?;
        let mut t = String::new();
        loop {
            match chars.next()? {
                '"' => return Some(t),
                '\\' => t.push(chars.next()?),
                c => t.push(c),
            }
        }
    };
    loop {
        while chars.next_if(|c| matches!(c, ' ' | '\t' | ',')).is_some() {}
        if chars.peek().is_none() {
            return out;
        }
        let code = token(&mut chars);
        spaces(&mut chars);
        let _agent = token(&mut chars);
        spaces(&mut chars);
        let Some(text) = quoted(&mut chars) else {
            return out;
        };
        spaces(&mut chars);
        if chars.peek() == Some(&'"') && quoted(&mut chars).is_none() {
            return out;
        }
        // Whatever else is there up to the next value is not ours to read.
        while chars.next_if(|c| *c != ',').is_some() {}
        out.push((code, text));
    }
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
    fn warning_headers() {
        let pair = |c: &str, t: &str| (c.to_owned(), t.to_owned());
        let cases: &[(&str, Vec<(String, String)>)] = &[
            (r#"299 - "deprecated""#, vec![pair("299", "deprecated")]),
            (
                r#"299 registry.example:443 "a, b \"c\"" "Tue, 01 Dec 2026 00:00:00 GMT""#,
                vec![pair("299", r#"a, b "c""#)],
            ),
            (
                r#"110 - "stale", 299 - "old API""#,
                vec![pair("110", "stale"), pair("299", "old API")],
            ),
            (r#"299 - "unterminated"#, vec![]),
            (r#"299 - no quotes"#, vec![]),
            (r#"299 - "ok", garbage"#, vec![pair("299", "ok")]),
            ("", vec![]),
            (r#"299 - "trailing\"#, vec![]),
        ];
        for (input, want) in cases {
            assert_eq!(&parse_warnings(input), want, "{input}");
        }
    }

    #[test]
    fn warnings_are_kept_once_and_sanitised() {
        let warnings = SharedWarnings::default();
        let mut headers = HeaderMap::new();
        headers.append(
            header::WARNING,
            header::HeaderValue::from_bytes("299 - \"x \u{9b}2J\"".as_bytes()).unwrap(),
        );
        headers.append(
            header::WARNING,
            header::HeaderValue::from_static(r#"110 - "not persistent""#),
        );
        note_warnings(&warnings, &headers);
        note_warnings(&warnings, &headers);
        let pending = std::mem::take(&mut warnings.lock().unwrap().pending);
        assert_eq!(pending, vec![r"x \u{9b}2J".to_owned()]);
        note_warnings(&warnings, &headers);
        assert!(warnings.lock().unwrap().pending.is_empty());
    }

    #[test]
    fn transport_kinds() {
        let refused = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
        assert_eq!(TransportKind::of(&refused), TransportKind::Refused);
        let lookup = std::io::Error::other(
            "failed to lookup address information: Name or service not known",
        );
        assert_eq!(TransportKind::of(&lookup), TransportKind::Unresolvable);
        let reset = std::io::Error::from(std::io::ErrorKind::ConnectionReset);
        assert_eq!(TransportKind::of(&reset), TransportKind::Other);
        let e = |kind, reason: &str| RegistryError::Transport {
            url: "http://127.0.0.1:5499/v2/".into(),
            address: "127.0.0.1:5499".into(),
            kind,
            reason: reason.into(),
        };
        let refused = e(
            TransportKind::Refused,
            "connection failed: Connection refused (os error 111)",
        );
        assert_eq!(refused.short(), "connection refused by 127.0.0.1:5499");
        assert!(
            refused
                .to_string()
                .ends_with("\nhint: is a registry listening at 127.0.0.1:5499?")
        );
        assert_eq!(refused.failure(), retry::Failure::Refused);
        let dns = e(TransportKind::Unresolvable, "dns error");
        assert_eq!(dns.short(), "`127.0.0.1` does not resolve");
        assert!(
            dns.to_string()
                .ends_with("\nhint: is the registry name right?")
        );
        assert_eq!(dns.failure(), retry::Failure::Unresolvable);
        let other = e(
            TransportKind::Other,
            "connection failed: client error (Connect): Connection reset by peer (os error 104)",
        );
        assert_eq!(
            other.short(),
            "connection failed: Connection reset by peer (os error 104)"
        );
        assert_eq!(e(TransportKind::Other, "timed out").short(), "timed out");
        assert_eq!(host_of("[::1]:5000"), "[::1]");
        assert_eq!(host_of("ghcr.io"), "ghcr.io");
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
