//! `layerget serve`: a cache served back as a read-only registry (OCI Distribution
//! Specification, pull side).
//!
//! This module owns the HTTP side: routing (through [`crate::reference::parse_api_path`]), the
//! answers to each endpoint, the mapping of every failure to a status and error envelope (one
//! function, [`error_response`]), the access log, and the accept loop with its limits. What is
//! read comes through a [`BlobSource`] (the cache on disk, or memory in tests), which alone
//! decides what may be served; Range and validator rules live in [`range`]. Nothing here
//! prints: the command reports through its `Printer`, and the access log goes to `tracing`.
//!
//! The cache is content-addressed and shared by all repositories (as in crane's registry), so
//! a blob or a manifest by digest is served under any valid name; only tags are per
//! repository. Limits: a request head must arrive within `header_timeout` (against slowloris;
//! hyper also applies it to an idle keep-alive connection), heads are capped at
//! [`MAX_HEADER_BYTES`], and at most `max_connections` are served at once (the rest wait in
//! the kernel's accept queue). So that a few clients cannot hold all of those (issue 9, item
//! 16), one address gets at most `max_per_ip` of them (more get 503 `UNAVAILABLE` with
//! `Retry-After`), and the watchdog of `conn` drops a connection that moves no byte for
//! `idle_timeout` or reads a response slower than `min_send_rate` for `send_rate_window`.
//!
//! Manifests (issue 9, item 15): `/manifests/<reference>` serves only a blob whose bytes parse
//! as one of the four manifest and index media types of [`crate::manifest`], with that type;
//! any other blob is `MANIFEST_UNKNOWN`, whatever its JSON claims, so no cached config can be
//! served as `text/html`. A blob is classified once, off the runtime threads, and the answer
//! is remembered by digest (content-addressed, so it cannot change), so a HEAD reads nothing
//! and a GET only the bytes it sends. Every answer says `X-Content-Type-Options: nosniff`.
//!
//! Tags (issue 16): a tag resolves to the registry's own document when `pull` recorded one
//! beside its recording (a Docker manifest converted to OCI, the index a platform was chosen
//! from), so the digest a client gets is the source registry's; children of an index that were
//! not pulled are simply unknown (a client whose `Accept` takes no index gets the platform's
//! manifest, under its own digest). `?ns=<registry>` (containerd's mirror mode) picks the entry
//! recorded from that registry, and nothing else; without it the latest recorded wins
//! ([`Index::tag`]). `/v2/_catalog` lists repositories with tags; several ranges get
//! `multipart/byteranges` ([`range`]). The access log shows the query with only `ns`, `n` and
//! `last` visible.
//!
//! Optional [`Access`] settings add TLS ([`tls`]; the handshake runs in the connection's task
//! under `header_timeout`) and HTTP Basic authentication against an htpasswd file ([`auth`]):
//! then every request, `/v2/` included (as distribution does), needs credentials, and a
//! request without valid ones gets 401 `UNAUTHORIZED` with a `WWW-Authenticate` challenge.

pub mod auth;
mod conn;
pub mod range;
pub mod source;
pub mod tls;

use std::collections::HashMap;
use std::future::Future;
use std::io::{self, Seek, SeekFrom};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::{Body, HttpBody};
use axum::extract::{Request, State};
use axum::http::header::{self, HeaderMap, HeaderName, HeaderValue};
use axum::http::{Method, Response, StatusCode};
use axum::routing::any;
use bytes::Bytes;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_util::io::ReaderStream;

pub use auth::{Htpasswd, Verdict};

use crate::digest::{Digest, DigestError};
use crate::manifest::{DOCKER_LIST, DOCKER_MANIFEST, OCI_INDEX, OCI_MANIFEST};
use crate::reference::{ApiRoute, ReferenceError, is_tag, parse_api_path};
pub use source::{BlobSource, Content, DiskSource, Index, MemorySource, OpenBlob};

/// Largest request head (request line and headers) accepted; more gets 431.
pub const MAX_HEADER_BYTES: usize = 16 * 1024;
/// Largest manifest served (distribution's own limit is 4 MiB).
const MAX_MANIFEST: u64 = crate::manifest::MAX_MANIFEST as u64;
/// Blobs whose manifest classification is remembered (then one is forgotten per new one).
const CLASSIFIED_ENTRIES: usize = 4096;
/// Classifications running at once: each may hold a manifest of up to 4 MiB in memory.
const CLASSIFYING: usize = 4;
/// Refused connections being answered at once; beyond that they are closed unanswered.
const REFUSING: usize = 64;
/// `Retry-After` seconds for 429 and 503.
const RETRY_AFTER: u64 = 1;
/// Bodies up to this size are read with one `pread` and sent from memory.
const INLINE_BODY: u64 = 64 << 10;
/// Read size when streaming bigger bodies (measured in CRATES.md: 256 KiB reaches ~2.6 GB/s).
const STREAM_CHUNK: usize = 256 << 10;
/// `Cache-Control` for content addressed by digest, which can never change.
const IMMUTABLE: &str = "public, max-age=31536000, immutable";
const API_VERSION: HeaderName = HeaderName::from_static("docker-distribution-api-version");
const CONTENT_DIGEST: HeaderName = HeaderName::from_static("docker-content-digest");
const NOSNIFF: HeaderName = HeaderName::from_static("x-content-type-options");
const READ_METHODS: &str = "GET, HEAD";
/// The media types `/manifests/` may be served with: those [`crate::manifest`] understands.
const MANIFEST_TYPES: [&str; 4] = [OCI_MANIFEST, OCI_INDEX, DOCKER_MANIFEST, DOCKER_LIST];

/// The abuse limits of a running server.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Connections served at once; more wait to be accepted.
    pub max_connections: usize,
    /// Time allowed for a request head to arrive (and for an idle keep-alive connection).
    pub header_timeout: Duration,
    /// A connection that moves no byte for this long is closed.
    pub idle_timeout: Duration,
    /// Connections one client address (an IPv6 /64) may hold; more are refused with 503.
    pub max_per_ip: usize,
    /// Least bytes per second a client must read while the server waits on it (0: no limit).
    pub min_send_rate: u64,
    /// How long a client may read slower than `min_send_rate` before it is dropped.
    pub send_rate_window: Duration,
    /// How long shutdown waits for in-flight responses.
    pub shutdown_grace: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_connections: 512,
            header_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            max_per_ip: 64,
            min_send_rate: 16 << 10,
            send_rate_window: Duration::from_secs(30),
            shutdown_grace: Duration::from_secs(30),
        }
    }
}

/// Everything that can go wrong in a request, before it becomes a status and an envelope in
/// [`error_response`].
#[derive(Debug)]
pub enum ApiError {
    /// The repository name breaks the grammar.
    NameInvalid(ReferenceError),
    /// The digest in the path is malformed or of an unsupported algorithm.
    DigestInvalid(DigestError),
    /// No such blob in the cache.
    BlobUnknown(Digest),
    /// No such manifest (unknown tag or digest, or the blob is no manifest).
    ManifestUnknown {
        /// The repository asked.
        name: String,
        /// The tag or digest asked.
        reference: String,
    },
    /// The cache has no tags for this repository.
    NameUnknown(String),
    /// A method this read-only registry does not allow here.
    Unsupported {
        /// The `Allow` header value.
        allow: &'static str,
    },
    /// No requested range overlaps the blob.
    RangeNotSatisfiable {
        /// The blob's size, for `Content-Range: bytes */size`.
        size: u64,
    },
    /// `n` of a tag list is no number.
    PaginationNumberInvalid(String),
    /// The path is no registry endpoint.
    NotFound,
    /// No valid credentials, and the server requires them.
    Unauthorized,
    /// The credential checks are all busy: come back later (429).
    TooManyRequests,
    /// This client address holds all the connections it may (503).
    Unavailable {
        /// The per-address limit.
        limit: usize,
    },
    /// Reading the cache failed.
    Internal(io::Error),
}

/// Who may connect and how: optional TLS and optional htpasswd authentication.
#[derive(Debug, Clone, Default)]
pub struct Access {
    /// Serve HTTPS with this configuration.
    pub tls: Option<Arc<rustls::ServerConfig>>,
    /// Require Basic credentials from this file.
    pub htpasswd: Option<Arc<Htpasswd>>,
}

impl From<io::Error> for ApiError {
    fn from(e: io::Error) -> Self {
        ApiError::Internal(e)
    }
}

/// The one place where failures become statuses, codes and envelopes (OCI Distribution
/// Specification, "Error Codes"). HEAD gets the same status and headers and no body.
pub fn error_response(err: &ApiError) -> Response<Body> {
    use serde_json::{Value, json};
    let (status, code, message, detail): (StatusCode, &str, &str, Value) = match err {
        ApiError::NameInvalid(e) => (
            StatusCode::BAD_REQUEST,
            "NAME_INVALID",
            "invalid repository name",
            json!(e.to_string()),
        ),
        ApiError::DigestInvalid(e) => (
            StatusCode::BAD_REQUEST,
            "DIGEST_INVALID",
            "invalid digest",
            json!(e.to_string()),
        ),
        ApiError::BlobUnknown(d) => (
            StatusCode::NOT_FOUND,
            "BLOB_UNKNOWN",
            "blob unknown to registry",
            json!(d.to_string()),
        ),
        ApiError::ManifestUnknown { name, reference } => (
            StatusCode::NOT_FOUND,
            "MANIFEST_UNKNOWN",
            "manifest unknown",
            // distribution's detail shapes, which clients may show.
            if reference.contains(':') {
                json!({ "Name": name, "Revision": reference })
            } else {
                json!({ "Tag": reference })
            },
        ),
        ApiError::NameUnknown(n) => (
            StatusCode::NOT_FOUND,
            "NAME_UNKNOWN",
            "repository name not known to registry",
            json!({ "name": n }),
        ),
        ApiError::Unsupported { .. } => (
            StatusCode::METHOD_NOT_ALLOWED,
            "UNSUPPORTED",
            "the operation is unsupported: this registry is read-only",
            Value::Null,
        ),
        ApiError::RangeNotSatisfiable { size } => (
            StatusCode::RANGE_NOT_SATISFIABLE,
            "RANGE_INVALID",
            "requested range not satisfiable",
            json!({ "size": size }),
        ),
        ApiError::PaginationNumberInvalid(n) => (
            StatusCode::BAD_REQUEST,
            "PAGINATION_NUMBER_INVALID",
            "invalid number of results requested",
            json!(n),
        ),
        ApiError::Unauthorized => (
            StatusCode::UNAUTHORIZED,
            "UNAUTHORIZED",
            "authentication required",
            Value::Null,
        ),
        ApiError::TooManyRequests => (
            StatusCode::TOO_MANY_REQUESTS,
            "TOOMANYREQUESTS",
            "too many requests: the credential checks are busy",
            Value::Null,
        ),
        ApiError::Unavailable { limit } => (
            StatusCode::SERVICE_UNAVAILABLE,
            "UNAVAILABLE",
            "too many connections from this address",
            json!({ "limit": limit }),
        ),
        ApiError::NotFound => (
            StatusCode::NOT_FOUND,
            "NOT_FOUND",
            "no such registry API endpoint",
            Value::Null,
        ),
        ApiError::Internal(e) => {
            // The detail stays in the log: it may name paths on this machine.
            tracing::error!("serving a request failed: {e}");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "UNKNOWN",
                "unknown error",
                Value::Null,
            )
        }
    };
    let entry = if detail.is_null() {
        json!({ "code": code, "message": message })
    } else {
        json!({ "code": code, "message": message, "detail": detail })
    };
    let body = json!({ "errors": [entry] }).to_string();
    let mut response = Response::new(Body::from(body.clone()));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(body.len()));
    match err {
        ApiError::Unsupported { allow } => {
            headers.insert(header::ALLOW, HeaderValue::from_static(allow));
        }
        ApiError::RangeNotSatisfiable { size } => {
            headers.insert(header::CONTENT_RANGE, value(format!("bytes */{size}")));
        }
        ApiError::Unauthorized => {
            headers.insert(
                header::WWW_AUTHENTICATE,
                value(format!("Basic realm=\"{}\"", auth::REALM)),
            );
        }
        ApiError::TooManyRequests | ApiError::Unavailable { .. } => {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(RETRY_AFTER));
        }
        _ => {}
    }
    response
}

/// A header value from text we built ourselves (digests, numbers, validated names); should
/// one ever not be a valid header value, an empty one is sent rather than a panic.
fn value(s: String) -> HeaderValue {
    HeaderValue::try_from(s).unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// Text from a client (a path, a user name) made safe for a log line through the one
/// sanitiser (`crate::text`): control characters (C0, DEL, C1: terminal escapes among them)
/// and bidirectional controls escaped, backslashes doubled first so the escapes stay
/// unambiguous, at most `max` characters kept.
fn escape_for_log(text: &str, max: usize) -> String {
    let cut: String = text.chars().take(max).collect();
    crate::text::sanitize(&cut.replace('\\', "\\\\"), crate::text::Lines::Escape).into_owned()
}

/// What `/manifests/` knows about a blob once it has read it: a manifest of this type, or no
/// manifest; and the size it had then (a different size means different bytes on disk).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Classified {
    media_type: Option<&'static str>,
    size: u64,
}

/// The server's state: where content comes from, who may read it, and what is known about
/// blobs asked for as manifests.
struct App<S> {
    source: S,
    htpasswd: Option<Arc<Htpasswd>>,
    classified: Mutex<HashMap<Digest, Classified>>,
    classifying: Semaphore,
}

impl<S: BlobSource> App<S> {
    fn new(source: S, htpasswd: Option<Arc<Htpasswd>>) -> Arc<App<S>> {
        Arc::new(App {
            source,
            htpasswd,
            classified: Mutex::new(HashMap::new()),
            classifying: Semaphore::new(CLASSIFYING),
        })
    }

    fn remembered(&self, digest: &Digest, size: u64) -> Option<Classified> {
        let classified = self.classified.lock().unwrap_or_else(|e| e.into_inner());
        classified.get(digest).copied().filter(|c| c.size == size)
    }

    fn remember(&self, digest: &Digest, class: Classified) {
        let mut classified = self.classified.lock().unwrap_or_else(|e| e.into_inner());
        if classified.len() >= CLASSIFIED_ENTRIES && !classified.contains_key(digest) {
            // Bounded: forget one (any) entry; it is cheap to learn again.
            if let Some(old) = classified.keys().next().cloned() {
                classified.remove(&old);
            }
        }
        classified.insert(digest.clone(), class);
    }
}

/// The router: `/v2/` and the catch-all `/v2/{*rest}` (names contain `/`, so the path is
/// routed by [`parse_api_path`], suffixes from the right); anything else gets a 404 envelope.
fn router<S: BlobSource>(source: S, htpasswd: Option<Arc<Htpasswd>>) -> Router {
    let app = App::new(source, htpasswd);
    Router::new()
        .route("/v2", any(handle::<S>))
        .route("/v2/", any(handle::<S>))
        .route("/v2/{*rest}", any(handle::<S>))
        .fallback(handle::<S>)
        .with_state(app)
}

/// Every request: check credentials, answer, add the headers every answer has, and log it.
async fn handle<S: BlobSource>(State(app): State<Arc<App<S>>>, request: Request) -> Response<Body> {
    let started = Instant::now();
    let (parts, _body) = request.into_parts();
    let (verdict, user) = match &app.htpasswd {
        None => (Ok(()), None),
        Some(h) => {
            let credentials = parts.headers.get(header::AUTHORIZATION);
            match h.authorized(credentials.map(HeaderValue::as_bytes)).await {
                Verdict::Granted(user) => (Ok(()), Some(user)),
                Verdict::Denied => (Err(ApiError::Unauthorized), None),
                Verdict::Busy => (Err(ApiError::TooManyRequests), None),
            }
        }
    };
    let answered = match verdict {
        Ok(()) => {
            answer(
                &app,
                &parts.method,
                parts.uri.path(),
                parts.uri.query(),
                &parts.headers,
            )
            .await
        }
        Err(e) => Err(e),
    };
    let mut response = answered.unwrap_or_else(|e| error_response(&e));
    let headers = response.headers_mut();
    headers.insert(API_VERSION, HeaderValue::from_static("registry/2.0"));
    // Never let a browser guess a type other than the one sent (issue 9, item 15).
    headers.insert(NOSNIFF, HeaderValue::from_static("nosniff"));
    if tracing::enabled!(tracing::Level::INFO) {
        let declared = response
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok()?.parse().ok());
        let log = AccessLog {
            method: escape_for_log(parts.method.as_str(), 20),
            path: escape_for_log(parts.uri.path(), 300),
            query: parts.uri.query().map(query_for_log),
            user: user.map(|u| escape_for_log(&u, 100)),
            status: response.status().as_u16(),
            bytes: 0,
            head: parts.method == Method::HEAD,
            declared,
            started,
        };
        response = response.map(|body| Body::new(LoggedBody { inner: body, log }));
    }
    response
}

/// Routes and answers one request.
async fn answer<S: BlobSource>(
    app: &Arc<App<S>>,
    method: &Method,
    path: &str,
    query: Option<&str>,
    headers: &HeaderMap,
) -> Result<Response<Body>, ApiError> {
    let source = &app.source;
    let query = Query::parse(query);
    if path == "/v2/_catalog" {
        return match *method {
            Method::GET | Method::HEAD => catalog(source, &query),
            _ => Err(ApiError::Unsupported {
                allow: READ_METHODS,
            }),
        };
    }
    let route = parse_api_path(path)
        .map_err(ApiError::NameInvalid)?
        .ok_or(ApiError::NotFound)?;
    let head = match *method {
        // Uploads do not exist here; an empty Allow says no method is allowed (RFC 9110, 10.2.1).
        _ if matches!(route, ApiRoute::Upload { .. }) => {
            return Err(ApiError::Unsupported { allow: "" });
        }
        Method::GET => false,
        Method::HEAD => true,
        _ => {
            return Err(ApiError::Unsupported {
                allow: READ_METHODS,
            });
        }
    };
    match route {
        ApiRoute::Base => Ok(json_response(
            StatusCode::OK,
            "application/json",
            "{}".into(),
        )),
        ApiRoute::Blob { digest, .. } => {
            let digest: Digest = digest.parse().map_err(ApiError::DigestInvalid)?;
            blob(source, &digest, head, headers)
        }
        ApiRoute::Manifest { name, reference } => {
            manifest(app, name, reference, head, headers, query.ns.as_deref()).await
        }
        ApiRoute::TagsList { name } => tags_list(source, name, &query),
        ApiRoute::Referrers { digest, .. } => {
            digest.parse::<Digest>().map_err(ApiError::DigestInvalid)?;
            // The cache records no referrers yet: an empty index is the correct answer
            // ("Listing Referrers": 200 with an image index, even when none exist).
            let body = format!(r#"{{"schemaVersion":2,"mediaType":"{OCI_INDEX}","manifests":[]}}"#);
            Ok(json_response(StatusCode::OK, OCI_INDEX, body))
        }
        ApiRoute::Upload { .. } => Err(ApiError::Unsupported { allow: "" }),
    }
}

fn json_response(status: StatusCode, content_type: &'static str, body: String) -> Response<Body> {
    let mut response = Response::new(Body::empty());
    *response.status_mut() = status;
    let h = response.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(body.len()));
    *response.body_mut() = Body::from(body);
    response
}

/// Headers every answer about content by digest carries.
fn content_headers(h: &mut HeaderMap, digest: &Digest, etag: &str, immutable: bool) {
    h.insert(CONTENT_DIGEST, value(digest.to_string()));
    h.insert(header::ETAG, value(etag.to_owned()));
    if immutable {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static(IMMUTABLE));
    }
}

/// 304 when `If-None-Match` matches (RFC 9110, 13.1.2: GET and HEAD get 304, not 412).
fn not_modified(headers: &HeaderMap, etag: &str) -> bool {
    headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| range::if_none_match(v, etag))
}

fn not_modified_response(digest: &Digest, etag: &str, immutable: bool) -> Response<Body> {
    let mut response = Response::new(Body::empty());
    *response.status_mut() = StatusCode::NOT_MODIFIED;
    content_headers(response.headers_mut(), digest, etag, immutable);
    response
}

/// `GET`/`HEAD /v2/<name>/blobs/<digest>`.
fn blob<S: BlobSource>(
    source: &S,
    digest: &Digest,
    head: bool,
    headers: &HeaderMap,
) -> Result<Response<Body>, ApiError> {
    let (size, open) = if head {
        (source.stat(digest)?, None)
    } else {
        match source.open(digest)? {
            Some(b) => (Some(b.size), Some(b)),
            None => (None, None),
        }
    };
    let size = size.ok_or_else(|| ApiError::BlobUnknown(digest.clone()))?;
    let etag = format!("\"{digest}\"");
    if not_modified(headers, &etag) {
        return Ok(not_modified_response(digest, &etag, true));
    }
    let range_header = headers.get(header::RANGE).and_then(|v| v.to_str().ok());
    // If-Range: the Range applies only while the representation is the one the client has.
    let range_applies = headers
        .get(header::IF_RANGE)
        .is_none_or(|v| v.to_str().is_ok_and(|v| range::if_range_matches(v, &etag)));
    let decision = match range_header {
        Some(r) if range_applies => range::decide(Some(r), size),
        _ => range::RangeDecision::Full,
    };
    let (status, span) = match decision {
        range::RangeDecision::Full => (StatusCode::OK, 0..size),
        range::RangeDecision::Partial(r) => (StatusCode::PARTIAL_CONTENT, r),
        range::RangeDecision::Multiple(ranges) => {
            return multipart(digest, &etag, size, &ranges, open);
        }
        range::RangeDecision::Unsatisfiable => return Err(ApiError::RangeNotSatisfiable { size }),
    };
    let mut response = Response::new(Body::empty());
    *response.status_mut() = status;
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    h.insert(
        header::CONTENT_LENGTH,
        HeaderValue::from(span.end.saturating_sub(span.start)),
    );
    h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    content_headers(h, digest, &etag, true);
    if status == StatusCode::PARTIAL_CONTENT {
        h.insert(
            header::CONTENT_RANGE,
            value(format!(
                "bytes {}-{}/{size}",
                span.start,
                span.end.saturating_sub(1)
            )),
        );
    }
    if let Some(blob) = open {
        *response.body_mut() = body(blob, span)?;
    }
    Ok(response)
}

/// 206 `multipart/byteranges` with `ranges` of a blob of `size` bytes (see [`range`]); a HEAD
/// (`open` is `None`) gets the same headers.
fn multipart(
    digest: &Digest,
    etag: &str,
    size: u64,
    ranges: &[std::ops::Range<u64>],
    open: Option<OpenBlob>,
) -> Result<Response<Body>, ApiError> {
    let boundary = boundary()?;
    let layout = range::Multipart::new(ranges, size, "application/octet-stream", &boundary);
    let mut response = Response::new(Body::empty());
    *response.status_mut() = StatusCode::PARTIAL_CONTENT;
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        value(format!("multipart/byteranges; boundary={boundary}")),
    );
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(layout.len()));
    h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    content_headers(h, digest, etag, true);
    if let Some(blob) = open {
        *response.body_mut() = multipart_body(blob, layout);
    }
    Ok(response)
}

/// A random `multipart/byteranges` boundary (60 hex digits, as Go's), so that no cached blob can
/// hold it on purpose.
fn boundary() -> Result<String, ApiError> {
    let mut bytes = [0u8; 30];
    rustls::crypto::ring::default_provider()
        .secure_random
        .fill(&mut bytes)
        .map_err(|_| ApiError::Internal(io::Error::other("no random bytes for a boundary")))?;
    Ok(hex::encode(bytes))
}

/// Streams a multipart body: each part's head, then its bytes read with `pread` (the parts
/// share one file, so no seek position is shared), then the tail.
fn multipart_body(blob: OpenBlob, layout: range::Multipart) -> Body {
    use futures_util::StreamExt as _;
    enum Piece {
        /// Our own text: a part's head or the tail.
        Text(Bytes),
        /// Bytes of the blob, at most [`STREAM_CHUNK`].
        Blob(std::ops::Range<u64>),
    }
    let blob = Arc::new(blob);
    let pieces = layout
        .parts
        .into_iter()
        .flat_map(|(head, span)| {
            let chunks = (span.start..span.end)
                .step_by(STREAM_CHUNK)
                .map(move |at| Piece::Blob(at..(at + STREAM_CHUNK as u64).min(span.end)));
            std::iter::once(Piece::Text(Bytes::from(head))).chain(chunks)
        })
        .chain(std::iter::once(Piece::Text(Bytes::from(layout.tail))));
    let stream = futures_util::stream::iter(pieces).then(move |piece| {
        let blob = blob.clone();
        async move {
            match piece {
                Piece::Text(text) => Ok::<Bytes, io::Error>(text),
                Piece::Blob(span) => tokio::task::spawn_blocking(move || blob.read_range(span))
                    .await
                    .map_err(io::Error::other)?,
            }
        }
    });
    Body::from_stream(stream)
}

/// The body for `span` (within the blob) of an open blob: from memory when small, streamed
/// otherwise.
fn body(blob: OpenBlob, span: std::ops::Range<u64>) -> io::Result<Body> {
    let len = span.end.saturating_sub(span.start);
    if len <= INLINE_BODY {
        // One pread on a page-cache hit takes microseconds: cheaper than a thread hop.
        return Ok(Body::from(blob.read_range(span)?));
    }
    match blob.content {
        Content::Memory(_) => Ok(Body::from(blob.read_range(span)?)),
        Content::File(mut file) => {
            file.seek(SeekFrom::Start(span.start))?;
            let file = tokio::fs::File::from_std(file);
            let reader = tokio::io::AsyncReadExt::take(file, len);
            Ok(Body::from_stream(ReaderStream::with_capacity(
                reader,
                STREAM_CHUNK,
            )))
        }
    }
}

/// The manifest media type of a blob's bytes, `None` when they are no manifest or index that
/// [`crate::manifest::parse`] accepts. `hint` is what `index.json` records for the digest; it
/// only helps a document without `mediaType` of its own, and only if it is a manifest type.
fn classify(bytes: &[u8], hint: Option<&str>) -> Option<&'static str> {
    let hint = hint
        .map(crate::manifest::essence)
        .filter(|h| crate::manifest::kind_of(h).is_some());
    let parsed = match hint {
        Some(h) => {
            crate::manifest::parse(bytes, Some(&h)).or_else(|_| crate::manifest::parse(bytes, None))
        }
        None => crate::manifest::parse(bytes, None),
    }
    .ok()?;
    MANIFEST_TYPES
        .into_iter()
        .find(|known| *known == parsed.media_type())
}

/// `GET`/`HEAD /v2/<name>/manifests/<tag or digest>`: the stored bytes, whatever the client's
/// `Accept` says (a cache holds one form of each manifest; converting is not our business),
/// if they are a manifest; see the module docs.
async fn manifest<S: BlobSource>(
    app: &Arc<App<S>>,
    name: &str,
    reference: &str,
    head: bool,
    headers: &HeaderMap,
    ns: Option<&str>,
) -> Result<Response<Body>, ApiError> {
    let unknown = || ApiError::ManifestUnknown {
        name: name.to_owned(),
        reference: reference.to_owned(),
    };
    let source = &app.source;
    let (digest, recorded_type, by_digest) = if reference.contains(':') {
        let digest: Digest = reference.parse().map_err(ApiError::DigestInvalid)?;
        (digest, None, true)
    } else {
        if !is_tag(reference) {
            return Err(unknown());
        }
        let index = source.index()?;
        let entry = index.tag(name, reference, ns).ok_or_else(unknown)?;
        // The registry's own document, else (its blob gone) layerget's recording of it, which
        // is then served under its own digest: never one document under another's digest.
        // A client whose `Accept` rules out the original's type but takes the recording's (an
        // index to a client that takes only image manifests, as distribution falls back to one
        // platform for such clients) gets the recording first.
        let mut order = vec![entry];
        if let Some(recording) = entry.recording.as_deref() {
            if !accepts(headers, entry.media_type.as_deref())
                && accepts(headers, recording.media_type.as_deref())
            {
                order.insert(0, recording);
            } else {
                order.push(recording);
            }
        }
        let mut found = None;
        for e in order {
            if source.stat(&e.digest)?.is_some() {
                found = Some((e.digest.clone(), e.media_type.clone(), false));
                break;
            }
        }
        found.ok_or_else(unknown)?
    };
    // HEAD needs the size only; GET opens the blob it may send.
    let (size, open) = if head {
        (source.stat(&digest)?.ok_or_else(unknown)?, None)
    } else {
        let blob = source.open(&digest)?.ok_or_else(unknown)?;
        (blob.size, Some(blob))
    };
    if size > MAX_MANIFEST {
        return Err(unknown());
    }
    let (class, read) = match app.remembered(&digest, size) {
        Some(class) => (class, None),
        None => {
            let hint = match recorded_type {
                Some(t) => Some(t),
                None => source.index()?.media_type(&digest).map(str::to_owned),
            };
            classify_off_runtime(app, &digest, size, hint)
                .await?
                .ok_or_else(unknown)?
        }
    };
    // A blob that changed size since it was opened is treated as absent; the next request
    // classifies it again.
    let media_type = class
        .media_type
        .filter(|_| class.size == size)
        .ok_or_else(unknown)?;
    let etag = format!("\"{digest}\"");
    if not_modified(headers, &etag) {
        return Ok(not_modified_response(&digest, &etag, by_digest));
    }
    let mut response = Response::new(Body::empty());
    let h = response.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(media_type));
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(size));
    content_headers(h, &digest, &etag, by_digest);
    if let Some(blob) = open {
        *response.body_mut() = match read {
            // Just read to classify it: send those bytes.
            Some(bytes) => Body::from(bytes),
            None => body(blob, 0..size)?,
        };
    }
    Ok(response)
}

/// Whether the request's `Accept` takes `media_type`: no `Accept` (or an unknown type) takes
/// anything; otherwise the type, `type/*` or `*/*` must be listed (parameters are ignored, `q=0`
/// included: this only orders the two stored forms of a tag).
fn accepts(headers: &HeaderMap, media_type: Option<&str>) -> bool {
    let Some(media_type) = media_type else {
        return true;
    };
    let mut listed = headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|t| {
            t.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        })
        .filter(|t| !t.is_empty())
        .peekable();
    if listed.peek().is_none() {
        return true;
    }
    let wanted = media_type.to_ascii_lowercase();
    let family = wanted.split('/').next().unwrap_or("");
    listed.any(|t| t == wanted || t == "*/*" || t.strip_suffix("/*") == Some(family))
}

/// Reads a blob (at most [`MAX_MANIFEST`]) and classifies it on a blocking thread, at most
/// [`CLASSIFYING`] at once, and remembers the answer. Returns it with the bytes read (none
/// when another request classified it meanwhile), `None` when the blob is gone.
async fn classify_off_runtime<S: BlobSource>(
    app: &Arc<App<S>>,
    digest: &Digest,
    size: u64,
    hint: Option<String>,
) -> Result<Option<(Classified, Option<Bytes>)>, ApiError> {
    let _permit = app
        .classifying
        .acquire()
        .await
        .map_err(|_| ApiError::Internal(io::Error::other("the server is stopping")))?;
    // Requests for the same blob that waited here are answered by the first one's work.
    if let Some(class) = app.remembered(digest, size) {
        return Ok(Some((class, None)));
    }
    let (task_app, task_digest) = (app.clone(), digest.clone());
    let read = tokio::task::spawn_blocking(move || -> io::Result<Option<(Classified, Bytes)>> {
        let Some(blob) = task_app.source.open(&task_digest)? else {
            return Ok(None);
        };
        if blob.size > MAX_MANIFEST {
            let class = Classified {
                media_type: None,
                size: blob.size,
            };
            return Ok(Some((class, Bytes::new())));
        }
        let bytes = blob.read_range(0..blob.size)?;
        let class = Classified {
            media_type: classify(&bytes, hint.as_deref()),
            size: blob.size,
        };
        Ok(Some((class, bytes)))
    })
    .await
    .map_err(|e| ApiError::Internal(io::Error::other(e)))??;
    Ok(read.map(|(class, bytes)| {
        app.remember(digest, class);
        (class, Some(bytes))
    }))
}

/// `GET /v2/<name>/tags/list[?n=N&last=TAG]` ("Listing Tags"): sorted, `n` at most, after
/// `last`, with a `Link` to the next page when more remain.
fn tags_list<S: BlobSource>(
    source: &S,
    name: &str,
    query: &Query,
) -> Result<Response<Body>, ApiError> {
    let index = source.index()?;
    let tags = index
        .tags(name, query.ns.as_deref())
        .ok_or_else(|| ApiError::NameUnknown(name.to_owned()))?;
    let (page, more) = paginate(tags, query)?;
    let body = serde_json::json!({ "name": name, "tags": page }).to_string();
    let mut response = json_response(StatusCode::OK, "application/json", body);
    if let (true, Some(n), Some(last_tag)) = (more, query.n.as_deref(), page.last()) {
        // The name and tags are validated, so they need no escaping in a URL.
        let link = format!(
            "</v2/{name}/tags/list?n={n}&last={last_tag}{}>; rel=\"next\"",
            query.ns_param()
        );
        response.headers_mut().insert(header::LINK, value(link));
    }
    Ok(response)
}

/// `GET /v2/_catalog[?n=N&last=REPO]` ("Listing Repositories" of distribution's API): the
/// repositories with tags in the cache, sorted, paged as distribution pages them, with its
/// `Link` form (`last` before `n`).
fn catalog<S: BlobSource>(source: &S, query: &Query) -> Result<Response<Body>, ApiError> {
    let index = source.index()?;
    let (page, more) = paginate(index.repositories(query.ns.as_deref()), query)?;
    let body = serde_json::json!({ "repositories": page }).to_string();
    let mut response = json_response(StatusCode::OK, "application/json", body);
    if let (true, Some(n), Some(last)) = (more, query.n.as_deref(), page.last()) {
        let link = format!(
            "</v2/_catalog?last={}&n={n}{}>; rel=\"next\"",
            form_encode(last),
            query.ns_param()
        );
        response.headers_mut().insert(header::LINK, value(link));
    }
    Ok(response)
}

/// A page of sorted `items`: those after `last`, at most `n`; and whether more remain.
fn paginate<'a>(
    items: impl Iterator<Item = &'a str>,
    query: &Query,
) -> Result<(Vec<&'a str>, bool), ApiError> {
    let n: Option<usize> = match query.n.as_deref() {
        None => None,
        Some(v) => Some(
            (!v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()))
                .then(|| v.parse().ok())
                .flatten()
                .ok_or_else(|| ApiError::PaginationNumberInvalid(v.to_owned()))?,
        ),
    };
    let last = query.last.as_deref();
    let mut after = items.filter(|t| last.is_none_or(|l| *t > l)).peekable();
    let page: Vec<&str> = match n {
        Some(n) => after.by_ref().take(n).collect(),
        None => after.by_ref().collect(),
    };
    Ok((page, after.peek().is_some()))
}

/// The query parameters `serve` understands, percent-decoded.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
struct Query {
    /// `ns`: the registry a containerd mirror asks for, normalized ([`source::ns_registry`]);
    /// an invalid one is the empty string, which names no registry.
    ns: Option<String>,
    /// The `ns` as sent (decoded), for `Link` headers.
    ns_raw: Option<String>,
    /// `n`, unparsed (pagination validates it).
    n: Option<String>,
    /// `last`.
    last: Option<String>,
}

impl Query {
    fn parse(query: Option<&str>) -> Query {
        let mut q = Query::default();
        for (k, v) in query_pairs(query.unwrap_or("")) {
            match k.as_str() {
                "ns" => {
                    q.ns = Some(source::ns_registry(&v).unwrap_or_default());
                    q.ns_raw = Some(v);
                }
                "n" => q.n = Some(v),
                "last" => q.last = Some(v),
                _ => {}
            }
        }
        q
    }

    /// `&ns=…` for a `Link` header when the request had one (only if it is a valid registry,
    /// which needs no escaping).
    fn ns_param(&self) -> String {
        match (&self.ns, &self.ns_raw) {
            (Some(ns), Some(raw)) if !ns.is_empty() => format!("&ns={}", form_encode(raw)),
            _ => String::new(),
        }
    }
}

/// A query value escaped as Go's `url.QueryEscape` does it for the text we put there (names,
/// registries): all but `A-Za-z0-9-_.~` as `%XX` (`beta/one` is `beta%2Fone`, as distribution
/// writes it).
fn form_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// `application/x-www-form-urlencoded` pairs of a query string: `+` is a space, `%XX` a byte
/// (an invalid escape is kept as it is), and the bytes are read as UTF-8 (lossily).
fn query_pairs(query: &str) -> impl Iterator<Item = (String, String)> + '_ {
    fn decode(s: &str) -> String {
        let bytes = s.as_bytes();
        let mut out = Vec::with_capacity(bytes.len());
        let mut i = 0;
        while let Some(&b) = bytes.get(i) {
            let hex = |j: usize| bytes.get(j).and_then(|c| (*c as char).to_digit(16));
            match b {
                b'+' => out.push(b' '),
                b'%' => {
                    if let (Some(h), Some(l)) = (hex(i + 1), hex(i + 2)) {
                        out.push((h * 16 + l) as u8);
                        i += 3;
                        continue;
                    }
                    out.push(b'%');
                }
                _ => out.push(b),
            }
            i += 1;
        }
        String::from_utf8_lossy(&out).into_owned()
    }
    query.split('&').filter(|p| !p.is_empty()).map(|pair| {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        (decode(k), decode(v))
    })
}

/// The query string for the access log: `ns`, `n` and `last` as sent (escaped), any other
/// parameter's value as `…`, since it could be a token or a signature.
fn query_for_log(query: &str) -> String {
    let shown = query
        .split('&')
        .filter(|p| !p.is_empty())
        .take(20)
        .map(|pair| match pair.split_once('=') {
            Some((k, v)) if matches!(k, "ns" | "n" | "last") => format!("{k}={v}"),
            Some((k, _)) => format!("{k}=…"),
            None => "…".to_owned(),
        })
        .collect::<Vec<_>>()
        .join("&");
    escape_for_log(&shown, 300)
}

/// What the access log records about one response; logged when its body is done or dropped.
/// Text from the client is escaped already ([`escape_for_log`]).
struct AccessLog {
    method: String,
    path: String,
    /// The query string, with the values of parameters other than `ns`, `n` and `last` hidden.
    query: Option<String>,
    /// The user whose credentials were accepted, if the server requires them.
    user: Option<String>,
    status: u16,
    bytes: u64,
    head: bool,
    declared: Option<u64>,
    started: Instant,
}

impl Drop for AccessLog {
    fn drop(&mut self) {
        // HEAD sends no body: report what it announced. Never the headers or other query
        // values, which could carry credentials.
        let bytes = if self.head {
            self.declared.unwrap_or(0)
        } else {
            self.bytes
        };
        let user = match &self.user {
            Some(u) => format!("{u} "),
            None => String::new(),
        };
        let query = match &self.query {
            Some(q) => format!("?{q}"),
            None => String::new(),
        };
        tracing::info!(
            "{user}{} {}{query} {} {}B {:.1}ms",
            self.method,
            self.path,
            self.status,
            bytes,
            self.started.elapsed().as_secs_f64() * 1e3
        );
    }
}

/// A response body that counts what it sends for the access log.
struct LoggedBody {
    inner: Body,
    log: AccessLog,
}

impl HttpBody for LoggedBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, axum::Error>>> {
        let poll = Pin::new(&mut self.inner).poll_frame(cx);
        if let Poll::Ready(Some(Ok(frame))) = &poll
            && let Some(data) = frame.data_ref()
        {
            self.log.bytes += data.len() as u64;
        }
        poll
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

/// Serves `source` on `listener` over plain HTTP without authentication until `shutdown`
/// completes, then lets in-flight responses finish (for at most `limits.shutdown_grace`).
pub async fn run<S: BlobSource>(
    listener: TcpListener,
    source: S,
    limits: Limits,
    shutdown: impl Future<Output = ()>,
) -> io::Result<()> {
    run_with(listener, source, limits, Access::default(), shutdown).await
}

/// [`run`] with TLS and authentication as `access` says.
pub async fn run_with<S: BlobSource>(
    listener: TcpListener,
    source: S,
    limits: Limits,
    access: Access,
    shutdown: impl Future<Output = ()>,
) -> io::Result<()> {
    let service =
        hyper_util::service::TowerToHyperService::new(router(source, access.htpasswd.clone()));
    let tls = access.tls.map(tokio_rustls::TlsAcceptor::from);
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .max_header_size(MAX_HEADER_BYTES);
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let permits = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let per_ip = conn::PerIp::new(limits.max_per_ip);
    let refusing = Arc::new(Semaphore::new(REFUSING));
    tokio::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            permit = permits.clone().acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => break, // never closed; stop rather than panic
            },
            () = &mut shutdown => break,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // EMFILE and friends: wait a little instead of spinning.
                    tracing::warn!("accepting a connection failed: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let Some(slot) = per_ip.try_acquire(peer.ip()) else {
            drop(permit);
            tracing::info!(
                "refusing a connection: {} connections from {} already",
                per_ip.limit(),
                peer.ip()
            );
            // Over TLS a plain-text answer would only be a handshake error: just close (a
            // handshake per refusal would be work an attacker could ask for).
            if tls.is_none() {
                refuse(stream, per_ip.limit(), &refusing, &limits, &http);
            }
            continue;
        };
        let meter = conn::Meter::new();
        let io = conn::ConnIo::new(stream, Some(slot), meter.clone());
        let watchdog = conn::watchdog(
            meter,
            limits.idle_timeout,
            limits.min_send_rate,
            limits.send_rate_window,
        );
        let (http, service, watcher) = (http.clone(), service.clone(), graceful.watcher());
        let (tls, header_timeout) = (tls.clone(), limits.header_timeout);
        tokio::spawn(async move {
            let _permit = permit;
            match tls {
                None => {
                    let conn = watcher.watch(http.serve_connection(TokioIo::new(io), service));
                    supervise(conn, watchdog, peer).await;
                }
                Some(acceptor) => {
                    // The handshake runs here, not in the accept loop, and must finish within
                    // the header timeout: a slow TLS client holds one slot for that long at most.
                    let io = match tokio::time::timeout(header_timeout, acceptor.accept(io)).await {
                        Ok(Ok(io)) => io,
                        Ok(Err(e)) => {
                            tracing::debug!("TLS handshake failed: {e}");
                            return;
                        }
                        Err(_) => {
                            tracing::debug!("TLS handshake unfinished after {header_timeout:?}");
                            return;
                        }
                    };
                    let conn = watcher.watch(http.serve_connection(TokioIo::new(io), service));
                    supervise(conn, watchdog, peer).await;
                }
            }
        });
    }
    drop(listener);
    tokio::select! {
        () = graceful.shutdown() => {}
        () = tokio::time::sleep(limits.shutdown_grace) => {
            tracing::warn!("stopping with responses still in flight after {:?}", limits.shutdown_grace);
        }
    }
    Ok(())
}

/// Runs a connection until it ends or its watchdog drops it (the connection's I/O is dropped
/// with it, which resets the socket).
async fn supervise<E: std::fmt::Display>(
    conn: impl Future<Output = Result<(), E>>,
    watchdog: impl Future<Output = conn::Dropped>,
    peer: std::net::SocketAddr,
) {
    let ip = peer.ip();
    tokio::select! {
        result = conn => if let Err(e) = result {
            tracing::debug!("connection ended: {e}");
        },
        dropped = watchdog => match dropped {
            conn::Dropped::Idle => tracing::debug!("closing a connection from {ip}: idle"),
            conn::Dropped::Slow { sent } => tracing::info!(
                "dropping a connection from {ip}: it read {sent}B in the last send-rate window, under the minimum rate"
            ),
        },
    }
}

/// Answers a plain-HTTP connection over the per-address limit (`limit`) with 503
/// `UNAVAILABLE` and closes it, within the header timeout, at most [`REFUSING`] at once
/// (beyond that it is just closed): the refusal itself must not become the resource a flood
/// exhausts.
fn refuse(
    stream: tokio::net::TcpStream,
    limit: usize,
    refusing: &Arc<Semaphore>,
    limits: &Limits,
    http: &hyper::server::conn::http1::Builder,
) {
    let Ok(permit) = refusing.clone().try_acquire_owned() else {
        return;
    };
    let mut http = http.clone();
    http.keep_alive(false);
    let timeout = limits.header_timeout;
    tokio::spawn(async move {
        let _permit = permit;
        let service = hyper::service::service_fn(move |_request| async move {
            let mut response = error_response(&ApiError::Unavailable { limit });
            let h = response.headers_mut();
            h.insert(API_VERSION, HeaderValue::from_static("registry/2.0"));
            h.insert(NOSNIFF, HeaderValue::from_static("nosniff"));
            Ok::<_, std::convert::Infallible>(response)
        });
        let conn = http.serve_connection(TokioIo::new(stream), service);
        let _ = tokio::time::timeout(timeout, conn).await;
    });
}

#[cfg(test)]
mod tests;
