//! `GET`/`HEAD /v2/<name>/blobs/<digest>`: whole, one range, or several as
//! `multipart/byteranges`, streamed from the store.

use std::io;
use std::sync::Arc;

use axum::body::Body;
use axum::http::header::{self, HeaderMap, HeaderValue};
use axum::http::{Response, StatusCode};
use bytes::Bytes;

use super::{ApiError, content_headers, not_modified, not_modified_response, range, value};
use crate::digest::Digest;
use crate::store::content::STREAM_CHUNK;
use crate::store::{Blob, ContentStore, Location};

/// Bodies up to this size are read with one `pread` and sent from memory.
/// Larger ones are streamed in chunks of [`STREAM_CHUNK`].
pub(super) const INLINE_BODY: u64 = 64 << 10;

/// `GET`/`HEAD /v2/<name>/blobs/<digest>`.
pub(super) async fn blob<S: ContentStore>(
    source: &S,
    digest: &Digest,
    head: bool,
    headers: &HeaderMap,
) -> Result<Response<Body>, ApiError> {
    // A HEAD needs only the size: no descriptor is opened. A GET takes the size from the
    // file it opened, so the headers and the bytes sent describe the same file even if
    // `cache gc` removes the name meanwhile.
    let (size, open) = if head {
        (source.stat(digest).await?, None)
    } else if let Location::Url(url) = source.locate(digest).await?
        && source.stat(digest).await?.is_some()
    {
        // The store hands out URLs of its own (`serve --redirect` on S3): 307, so the client
        // fetches straight from the object store, which answers Range itself (distribution-spec
        // "API redirects"; 307 keeps the method). Only for a blob that is here: a presigned URL
        // of a missing object would fail at the object store, not as BLOB_UNKNOWN. (`locate`
        // first: it costs a local store nothing, where a `stat` would be one more syscall.)
        return Ok(redirect(digest, &url));
    } else {
        match source.open(digest).await? {
            Some(b) => (Some(b.size()), Some(b)),
            None => (None, None),
        }
    };
    let size = size.ok_or_else(|| ApiError::BlobUnknown(digest.clone()))?;
    // A strong validator: content named by its digest never changes. Checked only once the
    // blob is known to be here, so no 304 is ever sent for a missing one.
    let etag = format!("\"{digest}\"");
    if not_modified(headers, &etag) {
        return Ok(not_modified_response(digest, &etag, true));
    }
    let (status, span) = match asked_range(headers, size, &etag) {
        range::RangeDecision::Full => (StatusCode::OK, 0..size),
        range::RangeDecision::Partial(r) => (StatusCode::PARTIAL_CONTENT, r),
        range::RangeDecision::Multiple(ranges) => {
            return multipart(digest, &etag, size, &ranges, open);
        }
        // 416 with `Content-Range: bytes */size`, through the one error function.
        range::RangeDecision::Unsatisfiable => return Err(ApiError::RangeNotSatisfiable { size }),
    };
    let mut response = span_response(status, &span, size, digest, &etag);
    // A HEAD sends the headers a GET would, `Content-Length` included, and no body.
    if let Some(blob) = open {
        *response.body_mut() = body(blob, span)?;
    }
    Ok(response)
}

/// What the request's `Range` asks of a blob of `size` bytes whose validator is `etag`.
pub(super) fn asked_range(headers: &HeaderMap, size: u64, etag: &str) -> range::RangeDecision {
    // A Range value that is not visible ASCII is ignored, as `range::decide` ignores one it
    // cannot parse: the whole blob is sent (RFC 9110, 14.2 lets a server ignore Range).
    let range_header = headers.get(header::RANGE).and_then(|v| v.to_str().ok());
    // If-Range: the Range applies only while the representation is the one the client has.
    // An If-Range that cannot be read matches nothing, so the whole blob is sent.
    let range_applies = headers
        .get(header::IF_RANGE)
        .is_none_or(|v| v.to_str().is_ok_and(|v| range::if_range_matches(v, etag)));
    match range_header {
        Some(r) if range_applies => range::decide(Some(r), size),
        _ => range::RangeDecision::Full,
    }
}

/// The headers of a 200 (the whole blob) or a 206 of one `span` of a blob of `size` bytes,
/// without a body yet.
pub(super) fn span_response(
    status: StatusCode,
    span: &std::ops::Range<u64>,
    size: u64,
    digest: &Digest,
    etag: &str,
) -> Response<Body> {
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
    content_headers(h, digest, etag, true);
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
    response
}

/// 307 to `url`, with the digest the target will serve.
fn redirect(digest: &Digest, url: &str) -> Response<Body> {
    let mut response = Response::new(Body::empty());
    *response.status_mut() = StatusCode::TEMPORARY_REDIRECT;
    let h = response.headers_mut();
    h.insert(header::LOCATION, value(url.to_owned()));
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(0));
    if let Ok(v) = HeaderValue::from_str(&digest.to_string()) {
        h.insert("docker-content-digest", v);
    }
    response
}

/// 206 `multipart/byteranges` with `ranges` of a blob of `size` bytes (see [`range`]); a HEAD
/// (`open` is `None`) gets the same headers.
fn multipart(
    digest: &Digest,
    etag: &str,
    size: u64,
    ranges: &[std::ops::Range<u64>],
    open: Option<Blob>,
) -> Result<Response<Body>, ApiError> {
    // Content-Length is known before a byte is read: `Multipart` lays out every part's head.
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

/// Streams a multipart body: each part's head, then its bytes read with `pread` through
/// [`reads`](super::reads) (the parts share one file, so no seek position is shared), then
/// the tail.
fn multipart_body(blob: Blob, layout: range::Multipart) -> Body {
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
    // `then` runs one read at a time: a response holds at most one chunk in memory. A
    // failed read ends the body early; the client sees fewer bytes than Content-Length.
    let stream = futures_util::stream::iter(pieces).then(move |piece| {
        let blob = blob.clone();
        async move {
            match piece {
                Piece::Text(text) => Ok::<Bytes, io::Error>(text),
                Piece::Blob(span) => super::reads::read(blob, span).await,
            }
        }
    });
    Body::from_stream(stream)
}

/// The body for `span` (within the blob) of an open blob: from memory when small, streamed
/// otherwise (a file by [`sendfile`](super::sendfile) on plain HTTP, else through
/// [`reads`](super::reads); memory and remote blobs by the store's own stream: slices without
/// a copy, one GET rather than one per chunk).
pub(super) fn body(blob: Blob, span: std::ops::Range<u64>) -> io::Result<Body> {
    let len = span.end.saturating_sub(span.start);
    if len <= INLINE_BODY {
        // One pread on a page-cache hit takes microseconds: cheaper than a thread hop.
        return Ok(Body::from(blob.read_range(span)?));
    }
    if span.start > span.end || span.end > blob.size() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "a span outside the blob",
        ));
    }
    if blob.is_file() {
        let blob = Arc::new(blob);
        // Plain HTTP: by `sendfile`; otherwise read into buffers.
        if let Some(body) = super::sendfile::body(&blob, &span) {
            return Ok(body);
        }
        return Ok(Body::from_stream(super::reads::stream(blob, span)));
    }
    Ok(Body::from_stream(blob.stream(span)?))
}
