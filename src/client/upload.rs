//! The registry's upload protocol, client side (OCI Distribution Specification, "Pushing
//! blobs" and "Pushing manifests"): is a blob there (`HEAD`), open a session or mount a blob
//! from another repository (`POST …/blobs/uploads/`, with `?mount=&from=`), send bytes (`PATCH`
//! chunks, or one `PUT`), ask a session how far it got (`GET <location>` → `Range`), close it
//! (`PUT <location>?digest=`), and put a manifest.
//!
//! Every request carries the push scope ([`push_scope`]) through the one send loop
//! (`Client::send_as`), so tokens and credentials stay per registry origin as for pulls.
//! `Location` is opaque: it may be relative or absolute and may carry a query (distribution's
//! `_state`), so it is resolved against the URL that answered and its query is kept; the
//! latest one a registry sent is always the one used next. What the registry says it holds
//! (`Range`) is the truth, not what was sent. Retrying, resuming and streaming from the cache
//! are `transfer::push`'s job: this module makes one request per call.

use reqwest::header::{self, HeaderMap, HeaderValue};
use reqwest::{Method, Url};

use super::headers::{header_str, header_u64, redact};
use super::{BodyFn, Client, RegistryError, status_error};
use crate::digest::Digest;
use crate::reference::{Endpoint, Reference};

/// The token scope of a push into `reference`'s repository (the pull right is needed too:
/// `HEAD` of a blob, and distribution asks for both).
pub fn push_scope(reference: &Reference) -> String {
    format!("repository:{}:pull,push", reference.repository())
}

/// What opening an upload gave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Started {
    /// The blob was mounted from the other repository (201): nothing to send.
    Mounted,
    /// A session to send the bytes to.
    Session {
        /// Where the next request goes (`Location`, resolved).
        location: Url,
        /// `OCI-Chunk-Min-Length`: chunks (but the last) must be at least this long.
        min_chunk: Option<u64>,
    },
}

/// What a manifest `PUT` was answered with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManifestPut {
    /// `Docker-Content-Digest`, as sent.
    pub digest: Option<String>,
}

/// Why an upload cannot go on (kept apart from [`RegistryError`] so the caller can tell a lost
/// session, which restarts the blob, from a failure).
#[derive(Debug, thiserror::Error)]
pub enum UploadError {
    /// The registry forgot the session (404 `BLOB_UPLOAD_UNKNOWN`, or it expired).
    #[error("the registry no longer knows the upload session at `{0}`")]
    SessionLost(String),
    /// Any other failure.
    #[error(transparent)]
    Registry(#[from] RegistryError),
}

/// The `Location` of a response, resolved against the URL that answered.
fn location_of(response: &reqwest::Response) -> Result<Url, RegistryError> {
    let answered = response.url();
    let value = header_str(response.headers(), header::LOCATION).ok_or_else(|| {
        RegistryError::Protocol {
            url: redact(answered),
            reason: "an upload answer without a Location header".into(),
        }
    })?;
    answered
        .join(value.trim())
        .map_err(|e| RegistryError::Protocol {
            url: redact(answered),
            reason: format!("unusable upload Location ({e})"),
        })
}

/// The offset after the last byte a session holds, from its `Range: 0-N` (`bytes=0-N` is
/// accepted too). distribution answers `0-0` for an empty session, so `0-0` is read as empty:
/// a session of exactly one byte then gets that byte again, which it refuses (416) and the
/// caller asks again.
pub fn parse_upload_range(value: &str) -> Option<u64> {
    let v = value.trim();
    let v = v.strip_prefix("bytes=").unwrap_or(v);
    let (start, end) = v.split_once('-')?;
    let (start, end) = (
        start.trim().parse::<u64>().ok()?,
        end.trim().parse::<u64>().ok()?,
    );
    if start != 0 || end < start {
        return None;
    }
    Some(if end == 0 { 0 } else { end + 1 })
}

/// What a session holds after a chunk `start..start+len` was accepted: the registry's word
/// (`Range`); without one, what was sent. `0-0` after the first byte was sent means that byte
/// (distribution writes `0-0` for both an empty session and one of one byte).
fn held_after_patch(range: Option<&str>, start: u64, len: u64) -> u64 {
    match range.and_then(parse_upload_range) {
        Some(0) if start + len == 1 => 1,
        Some(held) => held,
        None => start + len,
    }
}

fn header_value(name: &str, value: &str) -> Result<HeaderValue, RegistryError> {
    HeaderValue::from_str(value)
        .map_err(|e| RegistryError::Setup(format!("the {name} header `{value}`: {e}")))
}

impl Client {
    /// `HEAD` of a blob in the destination: its size when the registry has it, `None` on 404.
    pub async fn blob_present(
        &self,
        dest: &Reference,
        digest: &Digest,
    ) -> Result<Option<u64>, RegistryError> {
        let url = self.url(dest, Endpoint::Blob(digest));
        let response = self
            .send_as(
                dest,
                &push_scope(dest),
                Method::HEAD,
                &url,
                HeaderMap::new(),
                None,
            )
            .await?;
        let status = response.status().as_u16();
        match status {
            200..=299 => Ok(Some(
                header_u64(response.headers(), header::CONTENT_LENGTH).unwrap_or(0),
            )),
            404 => Ok(None),
            _ => {
                Err(status_error(format!("blob {digest}"), dest.location(), response, false).await)
            }
        }
    }

    /// Opens an upload session in `dest`'s repository, or with `mount` = (digest, source
    /// repository) asks to mount the blob from that repository of the same registry. A
    /// registry that cannot mount opens a session instead (202), which the caller uses.
    pub async fn start_upload(
        &self,
        dest: &Reference,
        mount: Option<(&Digest, &str)>,
    ) -> Result<Started, RegistryError> {
        let mut url = self.url(dest, Endpoint::Uploads);
        let mut scope = push_scope(dest);
        if let Some((digest, from)) = mount {
            url.query_pairs_mut()
                .append_pair("mount", &digest.to_string())
                .append_pair("from", from);
            scope = format!("{scope} repository:{from}:pull");
        }
        let mut headers = HeaderMap::new();
        headers.insert(header::CONTENT_LENGTH, HeaderValue::from_static("0"));
        let response = self
            .send_as(dest, &scope, Method::POST, &url, headers, None)
            .await?;
        match response.status().as_u16() {
            201 if mount.is_some() => Ok(Started::Mounted),
            201 | 202 => Ok(Started::Session {
                location: location_of(&response)?,
                min_chunk: header_u64(response.headers(), "oci-chunk-min-length"),
            }),
            _ => {
                Err(status_error("a blob upload".to_owned(), dest.location(), response, true).await)
            }
        }
    }

    /// Asks a session how much it holds (`GET <location>`, 204 with `Range`): the offset to
    /// go on from, and the session's latest location.
    pub async fn upload_offset(
        &self,
        dest: &Reference,
        location: &Url,
    ) -> Result<(u64, Url), UploadError> {
        let response = self
            .send_as(
                dest,
                &push_scope(dest),
                Method::GET,
                location,
                HeaderMap::new(),
                None,
            )
            .await?;
        let status = response.status().as_u16();
        if status == 404 {
            return Err(UploadError::SessionLost(redact(location)));
        }
        if !(200..300).contains(&status) {
            return Err(status_error(
                "an upload session".to_owned(),
                dest.location(),
                response,
                true,
            )
            .await
            .into());
        }
        let offset = match header_str(response.headers(), header::RANGE) {
            None => 0,
            Some(v) => parse_upload_range(&v).ok_or_else(|| RegistryError::Protocol {
                url: redact(location),
                reason: format!("malformed upload Range header `{v}`"),
            })?,
        };
        let next = location_of(&response).unwrap_or_else(|_| location.clone());
        Ok((offset, next))
    }

    /// Sends bytes `start..start+len` of a blob to a session (`PATCH` with `Content-Range:
    /// start-end`, no `bytes ` prefix, as the spec writes it). Returns the offset the registry
    /// says it now holds and the session's new location.
    pub(crate) async fn patch_chunk(
        &self,
        dest: &Reference,
        location: &Url,
        start: u64,
        len: u64,
        body: &BodyFn<'_>,
    ) -> Result<(u64, Url), UploadError> {
        let mut headers = HeaderMap::new();
        let range = format!("{start}-{}", (start + len).saturating_sub(1));
        headers.insert(
            header::CONTENT_RANGE,
            header_value("Content-Range", &range)?,
        );
        headers.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/octet-stream"),
        );
        let response = self
            .send_as(
                dest,
                &push_scope(dest),
                Method::PATCH,
                location,
                headers,
                Some(body),
            )
            .await?;
        let status = response.status().as_u16();
        if status == 404 {
            return Err(UploadError::SessionLost(redact(location)));
        }
        if status != 202 {
            return Err(status_error(
                "a blob upload chunk".to_owned(),
                dest.location(),
                response,
                true,
            )
            .await
            .into());
        }
        let next = location_of(&response)?;
        let range = header_str(response.headers(), header::RANGE);
        Ok((held_after_patch(range.as_deref(), start, len), next))
    }

    /// Closes a session (`PUT <location>?digest=`, its query kept), with the last `len` bytes
    /// as the body when `body` is given (a monolithic upload sends them all here). Returns the
    /// registry's `Docker-Content-Digest`.
    pub(crate) async fn finish_upload(
        &self,
        dest: &Reference,
        location: &Url,
        digest: &Digest,
        body: Option<(u64, &BodyFn<'_>)>,
    ) -> Result<Option<String>, UploadError> {
        let mut url = location.clone();
        url.query_pairs_mut()
            .append_pair("digest", &digest.to_string());
        let mut headers = HeaderMap::new();
        headers.insert(
            header::CONTENT_LENGTH,
            HeaderValue::from(body.map_or(0, |(len, _)| len)),
        );
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/octet-stream"),
        );
        let response = self
            .send_as(
                dest,
                &push_scope(dest),
                Method::PUT,
                &url,
                headers,
                body.map(|(_, b)| b),
            )
            .await?;
        let status = response.status().as_u16();
        if status == 404
            && header_str(response.headers(), header::CONTENT_TYPE)
                .is_some_and(|t| t.contains("json"))
        {
            // BLOB_UPLOAD_UNKNOWN: the session is gone (a 404 for the blob itself cannot be).
            return Err(UploadError::SessionLost(redact(location)));
        }
        if !(200..300).contains(&status) {
            return Err(
                status_error(format!("blob {digest}"), dest.location(), response, true)
                    .await
                    .into(),
            );
        }
        Ok(header_str(response.headers(), "docker-content-digest"))
    }

    /// `HEAD /v2/<name>/manifests/<reference>` asking for `media_type`: the registry's
    /// `Docker-Content-Digest` when it has the manifest, `None` when it does not (404).
    pub async fn manifest_digest(
        &self,
        dest: &Reference,
        reference: &str,
        media_type: &str,
    ) -> Result<Option<String>, RegistryError> {
        let url = self.url(dest, Endpoint::Manifest(reference));
        let mut headers = HeaderMap::new();
        headers.insert(header::ACCEPT, header_value("Accept", media_type)?);
        let response = self
            .send_as(dest, &push_scope(dest), Method::HEAD, &url, headers, None)
            .await?;
        match response.status().as_u16() {
            200..=299 => Ok(header_str(response.headers(), "docker-content-digest")),
            404 => Ok(None),
            _ => Err(status_error(
                format!("manifest {reference}"),
                dest.location(),
                response,
                false,
            )
            .await),
        }
    }

    /// `PUT /v2/<name>/manifests/<reference>` with the bytes as they are and `media_type` as
    /// `Content-Type`.
    pub async fn put_manifest(
        &self,
        dest: &Reference,
        reference: &str,
        bytes: bytes::Bytes,
        media_type: &str,
    ) -> Result<ManifestPut, RegistryError> {
        let url = self.url(dest, Endpoint::Manifest(reference));
        let mut headers = HeaderMap::new();
        headers.insert(
            header::CONTENT_TYPE,
            header_value("Content-Type", media_type)?,
        );
        headers.insert(header::CONTENT_LENGTH, HeaderValue::from(bytes.len()));
        let body = move || Ok::<_, RegistryError>(reqwest::Body::from(bytes.clone()));
        let response = self
            .send_as(
                dest,
                &push_scope(dest),
                Method::PUT,
                &url,
                headers,
                Some(&body),
            )
            .await?;
        if !response.status().is_success() {
            return Err(status_error(
                format!("manifest {reference}"),
                dest.location(),
                response,
                true,
            )
            .await);
        }
        Ok(ManifestPut {
            digest: header_str(response.headers(), "docker-content-digest"),
        })
    }
}

impl UploadError {
    /// The error's category (and so exit code).
    pub fn category(&self) -> crate::exit::Category {
        match self {
            UploadError::SessionLost(_) => crate::exit::Category::Network,
            UploadError::Registry(e) => e.category(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upload_ranges() {
        let cases = [
            ("0-0", Some(0)),
            ("0-9", Some(10)),
            ("bytes=0-1048575", Some(1 << 20)),
            (" 0-41 ", Some(42)),
            ("5-9", None),
            ("0-", None),
            ("0-x", None),
            ("", None),
            ("9-0", None),
        ];
        for (value, want) in cases {
            assert_eq!(parse_upload_range(value), want, "{value}");
        }
    }

    #[test]
    fn what_a_session_holds_after_a_chunk() {
        let cases = [
            (Some("0-1048575"), 0, 1 << 20, 1 << 20),
            // The registry's word wins over what was sent.
            (Some("0-99"), 100, 100, 100),
            (None, 100, 100, 200),
            (Some("garbage"), 0, 10, 10),
            // `0-0` after one byte: that byte; after more: the registry holds nothing.
            (Some("0-0"), 0, 1, 1),
            (Some("0-0"), 0, 10, 0),
        ];
        for (range, start, len, want) in cases {
            assert_eq!(
                held_after_patch(range, start, len),
                want,
                "{range:?} {start} {len}"
            );
        }
    }

    #[test]
    fn push_scopes_ask_for_pull_and_push() {
        let r: Reference = "127.0.0.1:5000/team/app:v1".parse().unwrap();
        assert_eq!(push_scope(&r), "repository:team/app:pull,push");
    }
}
