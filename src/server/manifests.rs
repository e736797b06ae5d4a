//! `GET`/`HEAD /v2/<name>/manifests/<tag or digest>`: only blobs whose bytes are a manifest
//! (classified once, by [`crate::manifest::classify`], and remembered), tags through the
//! store's reference table.

use std::io;
use std::sync::Arc;

use axum::body::Body;
use axum::http::Response;
use axum::http::header::{self, HeaderMap, HeaderValue};
use bytes::Bytes;

use super::blobs::body;
use super::routing::App;
use super::{ApiError, content_headers, not_modified, not_modified_response};
use crate::digest::Digest;
use crate::reference::is_tag;
use crate::store::{BlobWriter, ContentStore};

/// Largest manifest served (distribution's own limit is 4 MiB).
const MAX_MANIFEST: u64 = crate::manifest::MAX_MANIFEST as u64;
/// Classifications running at once: each may hold a manifest of up to 4 MiB in memory.
pub(super) const CLASSIFYING: usize = 4;

/// What `/manifests/` knows about a blob once it has read it: a manifest of this type, or no
/// manifest; and the size it had then (a different size means different bytes on disk).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Classified {
    pub(super) media_type: Option<&'static str>,
    pub(super) size: u64,
}

/// `GET`/`HEAD /v2/<name>/manifests/<tag or digest>`: the stored bytes, whatever the client's
/// `Accept` says (a cache holds one form of each manifest; converting is not our business),
/// if they are a manifest; see the module docs.
pub(super) async fn manifest<S: ContentStore>(
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
        // Deleted from this repository, though kept for another (`scope`).
        if app.scope.is_deleted(name, &digest) {
            return Err(unknown());
        }
        (digest, None, true)
    } else {
        if !is_tag(reference) {
            return Err(unknown());
        }
        let index = source.refs().await?;
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
            if source.stat(&e.digest).await?.is_some() {
                found = Some((e.digest.clone(), e.media_type.clone(), false));
                break;
            }
        }
        found.ok_or_else(unknown)?
    };
    // HEAD needs the size only; GET opens the blob it may send.
    let (size, open) = if head {
        (source.stat(&digest).await?.ok_or_else(unknown)?, None)
    } else {
        let blob = source.open(&digest).await?.ok_or_else(unknown)?;
        (blob.size(), Some(blob))
    };
    if size > MAX_MANIFEST {
        return Err(unknown());
    }
    let (class, read) = match app.remembered(&digest, size) {
        Some(class) => (class, None),
        None => {
            let hint = match recorded_type {
                Some(t) => Some(t),
                None => source.refs().await?.media_type(&digest).map(str::to_owned),
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
pub(super) fn accepts(headers: &HeaderMap, media_type: Option<&str>) -> bool {
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
async fn classify_off_runtime<S: ContentStore>(
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
    let Some(blob) = app.source.open(digest).await? else {
        return Ok(None);
    };
    let size = blob.size();
    let read = tokio::task::spawn_blocking(move || -> io::Result<(Classified, Bytes)> {
        if size > MAX_MANIFEST {
            let class = Classified {
                media_type: None,
                size,
            };
            return Ok((class, Bytes::new()));
        }
        let bytes = blob.read_range(0..size)?;
        let class = Classified {
            media_type: crate::manifest::classify(&bytes, hint.as_deref()),
            size,
        };
        Ok((class, bytes))
    })
    .await
    .map_err(|e| ApiError::Internal(io::Error::other(e)))??;
    let read = Some(read);
    Ok(read.map(|(class, bytes)| {
        app.remember(digest, class);
        (class, Some(bytes))
    }))
}

/// `PUT /v2/<name>/manifests/<tag or digest>` with `--allow-push` ("Pushing Manifests"): the
/// exact bytes are stored under their digest (sha256, or the algorithm of a digest in the
/// path), once they parse as a manifest whose `mediaType` agrees with `Content-Type` and every
/// blob and child manifest they name is in the store (a `subject` need not be). A tag is then
/// recorded in `index.json` as `pull` records names, `<host>/<name>:<tag>` with the request's
/// `Host` (so `skopeo copy oci:<cache>:<host>/<name>:<tag>` reads it); the last PUT of a tag
/// wins. A manifest with a `subject` is recorded as its referrer ([`super::referrers`]).
pub(super) async fn put_manifest<S: ContentStore>(
    app: &Arc<App<S>>,
    name: &str,
    reference: &str,
    query: Option<&str>,
    headers: &HeaderMap,
    body: Body,
) -> Result<Response<Body>, ApiError> {
    use crate::digest::{Algorithm, digest_bytes};
    // `?tag=` (several allowed; distribution-spec 1.1's "push a manifest with tags"): more
    // tags for the same bytes, each confirmed by an `OCI-Tag` header.
    let mut extra_tags: Vec<String> = super::listing::query_pairs(query.unwrap_or(""))
        .filter(|(k, _)| k == "tag")
        .map(|(_, v)| v)
        .collect();
    if let Some(bad) = extra_tags.iter().find(|t| !is_tag(t)) {
        return Err(ApiError::ManifestInvalid(format!(
            "`?tag={}` is no valid tag",
            super::log::escape_for_log(bad, 200)
        )));
    }
    let (claimed, tag) = if reference.contains(':') {
        let digest: Digest = reference.parse().map_err(ApiError::DigestInvalid)?;
        (Some(digest), None)
    } else if is_tag(reference) {
        (None, Some(reference))
    } else {
        return Err(ApiError::ManifestInvalid(format!(
            "`{}` is neither a tag nor a digest",
            super::log::escape_for_log(reference, 200)
        )));
    };
    let bytes = read_manifest_body(headers, body).await?;
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok());
    let parsed = crate::manifest::parse(&bytes, content_type)
        .map_err(|e| ApiError::ManifestInvalid(e.to_string()))?;
    let media_type = parsed.media_type().to_owned();
    let algorithm = claimed
        .as_ref()
        .map_or(Algorithm::Sha256, Digest::algorithm);
    let digest = digest_bytes(algorithm, &bytes);
    if let Some(claimed) = &claimed
        && *claimed != digest
    {
        return Err(ApiError::DigestRejected(format!(
            "the manifest's bytes hash to {digest}, not {claimed}"
        )));
    }
    let source = &app.source;
    for child in parsed.children() {
        if !child.is_non_distributable() && source.stat(&child.digest).await?.is_none() {
            return Err(ApiError::ManifestBlobUnknown(child.digest.clone()));
        }
    }
    let size = bytes.len() as u64;
    let subject = super::referrers::subject_of(&bytes);
    if source.stat(&digest).await?.is_none() {
        let mut writer = source.writer(&digest, Some(size)).await?;
        writer.write(bytes.clone()).await?;
        writer.commit(&digest).await?;
    }
    let host = host_of(headers);
    let tag_params = !extra_tags.is_empty();
    if let Some(tag) = tag
        && !extra_tags.iter().any(|t| t == tag)
    {
        extra_tags.insert(0, tag.to_owned());
    }
    if !extra_tags.is_empty() {
        let names = extra_tags
            .iter()
            .map(|tag| format!("{host}/{name}:{tag}"))
            .collect();
        record_tags(source, names, &media_type, &digest, size).await?;
    }
    if let Some(subject) = &subject {
        super::referrers::record(source, subject, &digest, &media_type, size, &bytes).await?;
    }
    app.scope.link(name, &digest);
    let mut response = Response::new(Body::empty());
    *response.status_mut() = axum::http::StatusCode::CREATED;
    let h = response.headers_mut();
    h.insert(
        header::LOCATION,
        super::value(format!("/v2/{name}/manifests/{digest}")),
    );
    h.insert(super::CONTENT_DIGEST, super::value(digest.to_string()));
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(0));
    // Only for `?tag=`: the tags of the request's query, as the spec's `OCI-Tag` confirms them.
    if tag_params {
        for tag in &extra_tags {
            h.append(
                axum::http::HeaderName::from_static("oci-tag"),
                super::value(tag.clone()),
            );
        }
    }
    if let Some(subject) = subject {
        h.insert(
            axum::http::HeaderName::from_static("oci-subject"),
            super::value(subject.to_string()),
        );
    }
    Ok(response)
}

/// Records each of `names` (full references with a tag) for the manifest `digest`, in one
/// atomic update of the reference table; a name's earlier entries are replaced.
pub(super) async fn record_tags<S: ContentStore>(
    source: &S,
    names: Vec<String>,
    media_type: &str,
    digest: &Digest,
    size: u64,
) -> Result<(), ApiError> {
    let named: Vec<(String, crate::manifest::Descriptor)> = names
        .into_iter()
        .map(|full| {
            let descriptor = crate::manifest::Descriptor {
                media_type: media_type.to_owned(),
                digest: digest.clone(),
                size,
                platform: None,
                annotations: [(crate::manifest::REF_NAME.to_owned(), full.clone())].into(),
                extra: Default::default(),
            };
            (full, descriptor)
        })
        .collect();
    source
        .update_refs(move |index| {
            for (full, descriptor) in named {
                index.set_ref(&full, vec![descriptor]);
            }
            ((), true)
        })
        .await?;
    Ok(())
}

/// The registry part of names pushed tags are recorded under: the request's `Host` when it
/// is a valid registry name, else `localhost`.
fn host_of(headers: &HeaderMap) -> String {
    headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .map(str::to_ascii_lowercase)
        .filter(|h| crate::reference::Registry::parse(h).is_ok())
        .unwrap_or_else(|| "localhost".to_owned())
}

/// A manifest body, at most [`MAX_MANIFEST`] bytes (more is 413, refused before reading when
/// `Content-Length` says so).
async fn read_manifest_body(headers: &HeaderMap, body: Body) -> Result<Bytes, ApiError> {
    use futures_util::StreamExt as _;
    let too_large = ApiError::TooLarge { max: MAX_MANIFEST };
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.trim().parse::<u64>().ok());
    if declared.is_some_and(|d| d > MAX_MANIFEST) {
        return Err(too_large);
    }
    let mut out = bytes::BytesMut::new();
    let mut stream = body.into_data_stream();
    while let Some(chunk) = stream.next().await {
        let chunk =
            chunk.map_err(|e| ApiError::ManifestInvalid(format!("the body stopped: {e}")))?;
        if (out.len() + chunk.len()) as u64 > MAX_MANIFEST {
            return Err(too_large);
        }
        out.extend_from_slice(&chunk);
    }
    Ok(out.freeze())
}
