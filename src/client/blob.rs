//! The blob endpoints (`/v2/<name>/blobs/<digest>`): HEAD, ranged GET, and the one-byte probe
//! that tells whether a registry honours `Range`. Reading the body is the caller's job.

use std::fmt;

use reqwest::header::{self, HeaderMap};
use reqwest::{Method, Url};

use super::headers::{ContentRange, RateLimit, Trail, header_str, header_u64, redact};
use super::{Client, RegistryError, Source, status_error};
use crate::digest::Digest;
use crate::reference::{Endpoint, Reference};

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

impl Client {
    /// The URL of a blob: `<scheme>://<registry>/v2/<name>/blobs/<digest>`.
    pub fn blob_url(&self, reference: &Reference, digest: &Digest) -> Url {
        self.url(reference, Endpoint::Blob(digest))
    }

    /// Sends HEAD for a blob to `source`. A failure status is an error whose category says
    /// which.
    pub async fn head_blob(
        &self,
        reference: &Reference,
        source: &Source,
        digest: &Digest,
    ) -> Result<BlobHead, RegistryError> {
        let url = self.url_at(reference, source, Endpoint::Blob(digest));
        let response = self
            .send_at(reference, source, Method::HEAD, &url, HeaderMap::new())
            .await?;
        let status = response.status();
        if !status.is_success() {
            let subject = format!("blob {digest}");
            return Err(status_error(subject, source.location(reference), response, false).await);
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
        source: &Source,
        digest: &Digest,
    ) -> Result<RangeSupport, RegistryError> {
        let answer = self
            .get_blob(reference, source, digest, Some((0, Some(0))))
            .await?;
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

    /// Sends GET for a blob to `source`; `range` asks for bytes `first..=last` (`last` open
    /// when `None`). Resumes send a closed range when the size is known, which some servers
    /// insist on.
    pub async fn get_blob(
        &self,
        reference: &Reference,
        source: &Source,
        digest: &Digest,
        range: Option<(u64, Option<u64>)>,
    ) -> Result<BlobResponse, RegistryError> {
        let url = self.url_at(reference, source, Endpoint::Blob(digest));
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
        let response = self
            .send_at(reference, source, Method::GET, &url, headers)
            .await?;
        let status = response.status().as_u16();
        if !matches!(status, 200 | 206 | 416) {
            let subject = format!("blob {digest}");
            return Err(status_error(subject, source.location(reference), response, true).await);
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
}
