//! Every failure of a request, and the one function that turns it into a status, a code and
//! an error envelope.

use std::io;

use axum::body::Body;
use axum::http::header::{self, HeaderValue};
use axum::http::{Response, StatusCode};

use super::{RETRY_AFTER, auth, value};
use crate::digest::{Digest, DigestError};
use crate::reference::ReferenceError;
use crate::store::StoreError;

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
    /// A method this registry does not allow here (read-only, or deletes not allowed).
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
    /// No such upload session in this repository (never started, finished, cancelled or
    /// expired).
    BlobUploadUnknown,
    /// An upload request that cannot be taken (a PATCH without a body length, a malformed
    /// `Content-Range`).
    BlobUploadInvalid(String),
    /// The digest a client gave does not name the bytes it sent (or it gave none).
    DigestRejected(String),
    /// A chunk that does not start where the session's bytes end (416).
    ChunkOutOfOrder {
        /// Bytes the session holds.
        offset: u64,
    },
    /// A body whose length is not the one declared.
    SizeInvalid(String),
    /// A body over a size limit (413).
    TooLarge {
        /// The limit in bytes.
        max: u64,
    },
    /// The server holds as many upload sessions as it may (429).
    TooManyUploads {
        /// The limit.
        limit: usize,
    },
    /// A manifest that cannot be stored as sent.
    ManifestInvalid(String),
    /// A manifest naming a blob or child manifest the registry does not hold.
    ManifestBlobUnknown(Digest),
    /// A delete of content something still uses (409).
    InUse {
        /// What was to be deleted.
        digest: Digest,
        /// The manifest that uses it (itself, when a writer holds it).
        by: Digest,
    },
    /// A pull-through miss the upstream could not answer (502): what was asked of which
    /// upstream, and why it failed (the upstream's text, control characters stripped).
    Upstream {
        /// The upstream's URL.
        upstream: String,
        /// What went wrong.
        reason: String,
    },
    /// Reading the cache failed.
    Internal(io::Error),
    /// The store failed.
    Store(StoreError),
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        ApiError::Store(e)
    }
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
            "the operation is unsupported here (writes need serve --allow-push, deletes --allow-delete)",
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
        ApiError::Upstream { upstream, reason } => (
            StatusCode::BAD_GATEWAY,
            "UNAVAILABLE",
            "the upstream registry did not answer: nothing cached was served",
            json!({ "upstream": upstream, "reason": reason }),
        ),
        ApiError::Unavailable { limit } => (
            StatusCode::SERVICE_UNAVAILABLE,
            "UNAVAILABLE",
            "too many connections from this address",
            json!({ "limit": limit }),
        ),
        ApiError::BlobUploadUnknown => (
            StatusCode::NOT_FOUND,
            "BLOB_UPLOAD_UNKNOWN",
            "blob upload unknown to registry",
            Value::Null,
        ),
        ApiError::BlobUploadInvalid(why) => (
            StatusCode::BAD_REQUEST,
            "BLOB_UPLOAD_INVALID",
            "blob upload invalid",
            json!(why),
        ),
        ApiError::DigestRejected(why) => (
            StatusCode::BAD_REQUEST,
            "DIGEST_INVALID",
            "provided digest did not match uploaded content",
            json!(why),
        ),
        ApiError::ChunkOutOfOrder { offset } => (
            StatusCode::RANGE_NOT_SATISFIABLE,
            "RANGE_INVALID",
            "a chunk must start where the upload's bytes end",
            json!({ "offset": offset }),
        ),
        ApiError::SizeInvalid(why) => (
            StatusCode::BAD_REQUEST,
            "SIZE_INVALID",
            "provided length did not match content length",
            json!(why),
        ),
        ApiError::TooLarge { max } => (
            StatusCode::PAYLOAD_TOO_LARGE,
            "SIZE_INVALID",
            "the content is larger than this registry accepts",
            json!({ "max": max }),
        ),
        ApiError::TooManyUploads { limit } => (
            StatusCode::TOO_MANY_REQUESTS,
            "TOOMANYREQUESTS",
            "too many upload sessions are open: finish or cancel some",
            json!({ "limit": limit }),
        ),
        ApiError::ManifestInvalid(why) => (
            StatusCode::BAD_REQUEST,
            "MANIFEST_INVALID",
            "manifest invalid",
            json!(why),
        ),
        ApiError::ManifestBlobUnknown(d) => (
            StatusCode::BAD_REQUEST,
            "MANIFEST_BLOB_UNKNOWN",
            "manifest references a manifest or blob unknown to registry",
            json!({ "digest": d.to_string() }),
        ),
        ApiError::InUse { digest, by } => (
            StatusCode::CONFLICT,
            "DENIED",
            "the content is still in use and was not deleted",
            json!({ "digest": digest.to_string(), "usedBy": by.to_string() }),
        ),
        ApiError::NotFound => (
            StatusCode::NOT_FOUND,
            "NOT_FOUND",
            "no such registry API endpoint",
            Value::Null,
        ),
        ApiError::Internal(_) | ApiError::Store(_) => {
            // The detail stays in the log: it may name paths on this machine.
            let reason: &dyn std::fmt::Display = match err {
                ApiError::Store(e) => e,
                ApiError::Internal(e) => e,
                _ => &"",
            };
            tracing::error!("serving a request failed: {reason}");
            // A full disk is named (issue 11, "Robustness"): the client learns it is the
            // registry's storage, not its request; nothing was published.
            let full = matches!(err, ApiError::Store(StoreError::Io { source, .. })
                if matches!(source.kind(), io::ErrorKind::StorageFull | io::ErrorKind::QuotaExceeded));
            if full {
                (
                    StatusCode::INSUFFICIENT_STORAGE,
                    "UNKNOWN",
                    "the registry's storage is full: nothing was stored",
                    Value::Null,
                )
            } else {
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "UNKNOWN",
                    "unknown error",
                    Value::Null,
                )
            }
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
        ApiError::ChunkOutOfOrder { offset } => {
            // Where the client should resume ("Range: 0-<last byte>", 0-0 when empty).
            headers.insert(
                header::RANGE,
                value(format!("0-{}", offset.saturating_sub(1))),
            );
        }
        ApiError::TooManyRequests
        | ApiError::Unavailable { .. }
        | ApiError::TooManyUploads { .. } => {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(RETRY_AFTER));
        }
        _ => {}
    }
    response
}
