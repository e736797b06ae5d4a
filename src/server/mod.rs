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
//! hyper also applies it to an idle keep-alive connection), a connection that moves no byte
//! for `idle_timeout` is dropped, heads are capped at [`MAX_HEADER_BYTES`], and at most
//! `max_connections` are served at once (the rest wait in the kernel's accept queue).
//!
//! Optional [`Access`] settings add TLS ([`tls`]; the handshake runs in the connection's task
//! under `header_timeout`) and HTTP Basic authentication against an htpasswd file ([`auth`]):
//! then every request, `/v2/` included (as distribution does), needs credentials, and a
//! request without valid ones gets 401 `UNAUTHORIZED` with a `WWW-Authenticate` challenge.

pub mod auth;
pub mod range;
pub mod source;
pub mod tls;

use std::future::Future;
use std::io::{self, Seek, SeekFrom};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
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
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio_util::io::ReaderStream;

pub use auth::Htpasswd;

use crate::digest::{Digest, DigestError};
use crate::reference::{ApiRoute, ReferenceError, is_tag, parse_api_path};
pub use source::{BlobSource, Content, DiskSource, Index, MemorySource, OpenBlob};

/// Largest request head (request line and headers) accepted; more gets 431.
pub const MAX_HEADER_BYTES: usize = 16 * 1024;
/// Largest manifest served (distribution's own limit is 4 MiB).
const MAX_MANIFEST: u64 = 4 << 20;
/// Bodies up to this size are read with one `pread` and sent from memory.
const INLINE_BODY: u64 = 64 << 10;
/// Read size when streaming bigger bodies (measured in CRATES.md: 256 KiB reaches ~2.6 GB/s).
const STREAM_CHUNK: usize = 256 << 10;
/// `Cache-Control` for content addressed by digest, which can never change.
const IMMUTABLE: &str = "public, max-age=31536000, immutable";
const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const API_VERSION: HeaderName = HeaderName::from_static("docker-distribution-api-version");
const CONTENT_DIGEST: HeaderName = HeaderName::from_static("docker-content-digest");
const READ_METHODS: &str = "GET, HEAD";

/// The abuse limits of a running server.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Connections served at once; more wait to be accepted.
    pub max_connections: usize,
    /// Time allowed for a request head to arrive (and for an idle keep-alive connection).
    pub header_timeout: Duration,
    /// A connection that moves no byte for this long is closed.
    pub idle_timeout: Duration,
    /// How long shutdown waits for in-flight responses.
    pub shutdown_grace: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_connections: 512,
            header_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
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
    let mut entry = json!({ "code": code, "message": message });
    if !detail.is_null() {
        entry["detail"] = detail;
    }
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
        _ => {}
    }
    response
}

/// A header value from text we built ourselves (digests, numbers, validated names).
fn value(s: String) -> HeaderValue {
    HeaderValue::try_from(s).expect("values built from validated input are valid headers")
}

/// The server's state: where content comes from, and who may read it.
struct App<S> {
    source: S,
    htpasswd: Option<Arc<Htpasswd>>,
}

/// The router: `/v2/` and the catch-all `/v2/{*rest}` (names contain `/`, so the path is
/// routed by [`parse_api_path`], suffixes from the right); anything else gets a 404 envelope.
fn router<S: BlobSource>(source: S, htpasswd: Option<Arc<Htpasswd>>) -> Router {
    let app = Arc::new(App { source, htpasswd });
    Router::new()
        .route("/v2", any(handle::<S>))
        .route("/v2/", any(handle::<S>))
        .route("/v2/{*rest}", any(handle::<S>))
        .fallback(handle::<S>)
        .with_state(app)
}

/// Every request: answer, add the API version header, and log it.
async fn handle<S: BlobSource>(State(app): State<Arc<App<S>>>, request: Request) -> Response<Body> {
    let started = Instant::now();
    let (parts, _body) = request.into_parts();
    let authorized = match &app.htpasswd {
        None => true,
        Some(h) => {
            let credentials = parts.headers.get(header::AUTHORIZATION);
            h.authorized(credentials.map(HeaderValue::as_bytes)).await
        }
    };
    let answered = if authorized {
        answer(
            &app.source,
            &parts.method,
            parts.uri.path(),
            parts.uri.query(),
            &parts.headers,
        )
    } else {
        Err(ApiError::Unauthorized)
    };
    let mut response = answered.unwrap_or_else(|e| error_response(&e));
    response
        .headers_mut()
        .insert(API_VERSION, HeaderValue::from_static("registry/2.0"));
    if tracing::enabled!(tracing::Level::INFO) {
        let declared = response
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok()?.parse().ok());
        let log = AccessLog {
            method: parts.method.clone(),
            path: parts.uri.path().chars().take(300).collect(),
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
fn answer<S: BlobSource>(
    source: &S,
    method: &Method,
    path: &str,
    query: Option<&str>,
    headers: &HeaderMap,
) -> Result<Response<Body>, ApiError> {
    let route = parse_api_path(path)
        .map_err(ApiError::NameInvalid)?
        .ok_or(ApiError::NotFound)?;
    if let ApiRoute::Upload { .. } = route {
        // Uploads do not exist here; an empty Allow says no method is allowed (RFC 9110, 10.2.1).
        return Err(ApiError::Unsupported { allow: "" });
    }
    let head = match *method {
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
        ApiRoute::Manifest { name, reference } => manifest(source, name, reference, headers),
        ApiRoute::TagsList { name } => tags_list(source, name, query),
        ApiRoute::Referrers { digest, .. } => {
            digest.parse::<Digest>().map_err(ApiError::DigestInvalid)?;
            // The cache records no referrers yet: an empty index is the correct answer
            // ("Listing Referrers": 200 with an image index, even when none exist).
            let body = format!(r#"{{"schemaVersion":2,"mediaType":"{OCI_INDEX}","manifests":[]}}"#);
            Ok(json_response(StatusCode::OK, OCI_INDEX, body))
        }
        ApiRoute::Upload { .. } => unreachable!("answered above"),
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
        HeaderValue::from(span.end - span.start),
    );
    h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    content_headers(h, digest, &etag, true);
    if status == StatusCode::PARTIAL_CONTENT {
        h.insert(
            header::CONTENT_RANGE,
            value(format!("bytes {}-{}/{size}", span.start, span.end - 1)),
        );
    }
    if let Some(blob) = open {
        *response.body_mut() = body(blob, span)?;
    }
    Ok(response)
}

/// The body for `span` of an open blob: from memory when small, streamed otherwise.
fn body(blob: OpenBlob, span: std::ops::Range<u64>) -> io::Result<Body> {
    let len = span.end - span.start;
    if len <= INLINE_BODY {
        // One pread on a page-cache hit takes microseconds: cheaper than a thread hop.
        return Ok(Body::from(blob.read_range(span)?));
    }
    match blob.content {
        Content::Memory(bytes) => Ok(Body::from(
            bytes.slice(span.start as usize..span.end as usize),
        )),
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

/// `GET`/`HEAD /v2/<name>/manifests/<tag or digest>`: the stored bytes, whatever the client's
/// `Accept` says (a cache holds one form of each manifest; converting is not our business).
fn manifest<S: BlobSource>(
    source: &S,
    name: &str,
    reference: &str,
    headers: &HeaderMap,
) -> Result<Response<Body>, ApiError> {
    let unknown = || ApiError::ManifestUnknown {
        name: name.to_owned(),
        reference: reference.to_owned(),
    };
    let index;
    let (digest, recorded_type, by_digest) = if reference.contains(':') {
        let digest: Digest = reference.parse().map_err(ApiError::DigestInvalid)?;
        (digest, None, true)
    } else {
        index = source.index()?;
        if !is_tag(reference) {
            return Err(unknown());
        }
        let entry = index.tag(name, reference).ok_or_else(unknown)?;
        (entry.digest.clone(), entry.media_type.clone(), false)
    };
    let blob = source.open(&digest)?.ok_or_else(unknown)?;
    if blob.size > MAX_MANIFEST {
        return Err(unknown());
    }
    let bytes = blob.read_range(0..blob.size)?;
    let media_type = match media_type_of(&bytes) {
        Some(mt) => mt,
        None => match recorded_type {
            Some(mt) => mt,
            None => source
                .index()?
                .media_type(&digest)
                .map(str::to_owned)
                .or_else(|| sniff_media_type(&bytes))
                .ok_or_else(unknown)?,
        },
    };
    let etag = format!("\"{digest}\"");
    if not_modified(headers, &etag) {
        return Ok(not_modified_response(&digest, &etag, by_digest));
    }
    let mut response = Response::new(Body::empty());
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::try_from(media_type).map_err(|_| unknown())?,
    );
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(bytes.len()));
    content_headers(h, &digest, &etag, by_digest);
    *response.body_mut() = Body::from(bytes);
    Ok(response)
}

/// The `mediaType` field of a manifest's JSON, if it has one.
fn media_type_of(bytes: &[u8]) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct Typed {
        #[serde(rename = "mediaType")]
        media_type: Option<String>,
    }
    serde_json::from_slice::<Typed>(bytes).ok()?.media_type
}

/// An OCI manifest may omit `mediaType`; its shape tells (image-spec `manifest.md`,
/// `image-index.md`). Blobs that are no manifest get `None`.
fn sniff_media_type(bytes: &[u8]) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct Shape {
        #[serde(rename = "schemaVersion")]
        schema_version: Option<u32>,
        config: Option<serde_json::Value>,
        manifests: Option<serde_json::Value>,
    }
    let shape: Shape = serde_json::from_slice(bytes).ok()?;
    match shape {
        Shape {
            schema_version: Some(2),
            config: Some(_),
            ..
        } => Some(OCI_MANIFEST.into()),
        Shape {
            schema_version: Some(2),
            manifests: Some(_),
            ..
        } => Some(OCI_INDEX.into()),
        _ => None,
    }
}

/// `GET /v2/<name>/tags/list[?n=N&last=TAG]` ("Listing Tags"): sorted, `n` at most, after
/// `last`, with a `Link` to the next page when more remain.
fn tags_list<S: BlobSource>(
    source: &S,
    name: &str,
    query: Option<&str>,
) -> Result<Response<Body>, ApiError> {
    let mut n: Option<usize> = None;
    let mut last: Option<&str> = None;
    for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        match k {
            "n" => {
                let parsed = (!v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()))
                    .then(|| v.parse().ok())
                    .flatten();
                n = Some(parsed.ok_or_else(|| ApiError::PaginationNumberInvalid(v.to_owned()))?);
            }
            "last" => last = Some(v),
            _ => {}
        }
    }
    let index = source.index()?;
    let tags = index
        .tags(name)
        .ok_or_else(|| ApiError::NameUnknown(name.to_owned()))?;
    let mut after = tags.filter(|t| last.is_none_or(|l| *t > l)).peekable();
    let page: Vec<&str> = match n {
        Some(n) => after.by_ref().take(n).collect(),
        None => after.by_ref().collect(),
    };
    let more = after.peek().is_some();
    let body = serde_json::json!({ "name": name, "tags": page }).to_string();
    let mut response = json_response(StatusCode::OK, "application/json", body);
    if let (true, Some(n), Some(last_tag)) = (more, n, page.last()) {
        // The name and tags are validated, so they need no escaping in a URL.
        let link = format!("</v2/{name}/tags/list?n={n}&last={last_tag}>; rel=\"next\"");
        response.headers_mut().insert(header::LINK, value(link));
    }
    Ok(response)
}

/// What the access log records about one response; logged when its body is done or dropped.
struct AccessLog {
    method: Method,
    path: String,
    status: u16,
    bytes: u64,
    head: bool,
    declared: Option<u64>,
    started: Instant,
}

impl Drop for AccessLog {
    fn drop(&mut self) {
        // HEAD sends no body: report what it announced. Never the query or headers, which
        // could carry credentials.
        let bytes = if self.head {
            self.declared.unwrap_or(0)
        } else {
            self.bytes
        };
        tracing::info!(
            "{} {} {} {}B {:.1}ms",
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

/// A TCP stream that remembers when it last moved a byte, for the idle timeout (hyper has a
/// header-read timeout but nothing for a client that stops reading a response).
struct IdleIo {
    inner: TcpStream,
    epoch: Instant,
    last: Arc<AtomicU64>,
}

impl IdleIo {
    fn touch(&self) {
        self.last
            .store(self.epoch.elapsed().as_millis() as u64, Ordering::Relaxed);
    }
}

impl AsyncRead for IdleIo {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let poll = Pin::new(&mut self.inner).poll_read(cx, buf);
        if poll.is_ready() {
            self.touch();
        }
        poll
    }
}

impl AsyncWrite for IdleIo {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let poll = Pin::new(&mut self.inner).poll_write(cx, buf);
        if poll.is_ready() {
            self.touch();
        }
        poll
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let poll = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        if poll.is_ready() {
            self.touch();
        }
        poll
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
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
    tokio::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            permit = permits.clone().acquire_owned() => permit.expect("the semaphore is never closed"),
            () = &mut shutdown => break,
        };
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
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
        let last = Arc::new(AtomicU64::new(0));
        let io = IdleIo {
            inner: stream,
            epoch: Instant::now(),
            last: last.clone(),
        };
        let epoch = io.epoch;
        let idle = limits.idle_timeout;
        let watchdog = async move {
            loop {
                tokio::time::sleep(idle / 4).await;
                let quiet = epoch.elapsed().as_millis() as u64 - last.load(Ordering::Relaxed);
                if quiet >= idle.as_millis() as u64 {
                    return;
                }
            }
        };
        match &tls {
            None => {
                let conn = graceful.watch(http.serve_connection(TokioIo::new(io), service.clone()));
                tokio::spawn(async move {
                    let _permit = permit;
                    tokio::select! {
                        result = conn => if let Err(e) = result {
                            tracing::debug!("connection ended: {e}");
                        },
                        () = watchdog => tracing::debug!("closing a connection idle for {idle:?}"),
                    }
                });
            }
            Some(acceptor) => {
                // The handshake runs here, not in the accept loop, and must finish within the
                // header timeout: a slow TLS client holds one slot for that long at most.
                let handshake = tokio::time::timeout(limits.header_timeout, acceptor.accept(io));
                let (http, service, watcher) = (http.clone(), service.clone(), graceful.watcher());
                let header_timeout = limits.header_timeout;
                tokio::spawn(async move {
                    let _permit = permit;
                    let io = match handshake.await {
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
                    tokio::select! {
                        result = conn => if let Err(e) = result {
                            tracing::debug!("connection ended: {e}");
                        },
                        () = watchdog => tracing::debug!("closing a connection idle for {idle:?}"),
                    }
                });
            }
        }
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

#[cfg(test)]
mod tests;
