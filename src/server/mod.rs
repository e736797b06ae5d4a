//! `layerget serve`: a cache served back as a registry (OCI Distribution Specification): the
//! pull side always, the push side (uploads, manifest PUTs, referrers) and deletes when
//! [`Writes`] allows them (issue 11; read-only by default, every write then 405).
//!
//! This module owns the HTTP side: routing (through [`crate::reference::parse_api_path`]), the
//! answers to each endpoint, the mapping of every failure to a status and error envelope (one
//! function, [`error_response`]), the access log, and the accept loop with its limits. What is
//! read comes through the store's [`ContentStore`](crate::store::ContentStore) interface (the cache
//! on disk, or memory in tests), which alone decides what may be served; Range and validator rules live in [`range`]. Nothing here
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
//! ([`Refs::tag`](crate::store::Refs::tag)). `/v2/_catalog` lists repositories with tags; several ranges get
//! `multipart/byteranges` ([`range`]). The access log shows the query with only `ns`, `n` and
//! `last` visible.
//!
//! Optional [`Access`] settings add TLS ([`tls`]; the handshake runs in the connection's task
//! under `header_timeout`) and HTTP Basic authentication against an htpasswd file ([`auth`]):
//! then every request, `/v2/` included (as distribution does), needs credentials, and a
//! request without valid ones gets 401 `UNAUTHORIZED` with a `WWW-Authenticate` challenge.

//! Files: `routing` (the router, credentials, the per-request dispatch), `blobs`, `manifests`
//! and `listing` (the answers), `error` (failures as statuses and envelopes), `log` (the
//! access log), `listen` (the accept loop and its limits) with `conn` (per-connection I/O
//! accounting), `range` (Range and validators, pure), `auth` (htpasswd), `tls`; with writes
//! allowed, `uploads` (blob upload sessions and their sweep), `referrers` (the subject index)
//! and `deletes` (what may be deleted), with `scope` (which repository holds what: mounts
//! from a repository, manifests deleted in one); manifest PUTs are in `manifests`. With [`Writes::anonymous_pull`], GET and HEAD skip the credential check.

pub mod auth;
mod blobs;
mod conn;
mod deletes;
mod error;
mod listen;
mod listing;
mod log;
mod manifests;
mod metrics;
pub mod range;
mod reads;
mod referrers;
mod routing;
mod scope;
mod sendfile;
pub mod tls;
mod uploads;
pub mod upstream;

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::header::{self, HeaderMap, HeaderName, HeaderValue};
use axum::http::{Response, StatusCode};

pub use auth::{Htpasswd, Verdict};
pub use error::{ApiError, error_response};
pub use listen::{run, run_with};
pub use upstream::{PullThrough, Upstream};

use crate::digest::Digest;

/// Largest request head (request line and headers) accepted; more gets 431.
pub const MAX_HEADER_BYTES: usize = 16 * 1024;
/// `Retry-After` seconds for 429 and 503.
const RETRY_AFTER: u64 = 1;
/// `Cache-Control` for content addressed by digest, which can never change.
const IMMUTABLE: &str = "public, max-age=31536000, immutable";
const API_VERSION: HeaderName = HeaderName::from_static("docker-distribution-api-version");
const CONTENT_DIGEST: HeaderName = HeaderName::from_static("docker-content-digest");
const NOSNIFF: HeaderName = HeaderName::from_static("x-content-type-options");
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

/// Who may connect and how: optional TLS and optional htpasswd authentication.
#[derive(Debug, Clone, Default)]
pub struct Access {
    /// Serve HTTPS with this configuration.
    pub tls: Option<Arc<rustls::ServerConfig>>,
    /// Require Basic credentials from this file.
    pub htpasswd: Option<Arc<Htpasswd>>,
    /// What clients may change (nothing by default).
    pub writes: Writes,
    /// Upstream registries a miss is fetched from (`--upstream`; none by default).
    pub pull_through: Option<PullThrough>,
}

/// What a server lets clients change (issue 11). The default is read-only: every write gets
/// 405 `UNSUPPORTED`.
#[derive(Debug, Clone, Copy)]
pub struct Writes {
    /// Blob uploads and manifest PUTs.
    pub push: bool,
    /// DELETE of tags, manifests and blobs.
    pub delete: bool,
    /// With htpasswd: reads need no credentials (writes still do).
    pub anonymous_pull: bool,
    /// An upload session idle this long is aborted.
    pub upload_ttl: Duration,
    /// Upload sessions open at once; more get 429.
    pub max_upload_sessions: usize,
    /// Largest blob (and so upload) accepted; more gets 413.
    pub max_blob_size: u64,
}

impl Default for Writes {
    fn default() -> Self {
        Writes {
            push: false,
            delete: false,
            anonymous_pull: false,
            upload_ttl: Duration::from_secs(3600),
            max_upload_sessions: 1000,
            max_blob_size: 10 << 30,
        }
    }
}

/// A header value from text we built ourselves (digests, numbers, validated names); should
/// one ever not be a valid header value, an empty one is sent rather than a panic.
fn value(s: String) -> HeaderValue {
    HeaderValue::try_from(s).unwrap_or_else(|_| HeaderValue::from_static(""))
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

#[cfg(test)]
mod push_tests;
#[cfg(test)]
mod tests;
