//! The referrers API (OCI Distribution Specification 1.1, "Listing Referrers"): a pushed
//! manifest with a `subject` is recorded in `index.json` as an entry annotated
//! [`REFERRER_OF`] = the subject's digest (no `ref.name`, so it names no tag, and a `cache gc`
//! that keeps what `index.json` lists keeps it), carrying the manifest's `artifactType`.
//! `GET /v2/<name>/referrers/<digest>` lists those entries as an OCI index, always 200 (an
//! empty index when there are none), with the manifests' own annotations, filtered by
//! `?artifactType=` (then `OCI-Filters-Applied: artifactType`).

use axum::body::Body;
use axum::http::header::HeaderValue;
use axum::http::{HeaderName, Response, StatusCode};
use serde_json::{Value, json};

use super::listing::query_pairs;
use super::{ApiError, json_response};
use crate::digest::Digest;
use crate::manifest::{Descriptor, OCI_INDEX};
use crate::store::ContentStore;
use crate::store::content::read_small;

/// The annotation of an `index.json` entry recorded for a manifest with a `subject`.
pub const REFERRER_OF: &str = "dev.layerget.referrer.of";

/// The `subject` digest of a manifest's bytes, if it has a valid one.
pub(super) fn subject_of(bytes: &[u8]) -> Option<Digest> {
    let doc: Value = serde_json::from_slice(bytes).ok()?;
    doc.get("subject")?.get("digest")?.as_str()?.parse().ok()
}

/// The artifact type a referrer is listed with: its `artifactType`, else (an image manifest)
/// its config's media type, as the spec says.
fn artifact_type(doc: &Value) -> Option<String> {
    doc.get("artifactType")
        .and_then(Value::as_str)
        .or_else(|| doc.get("config")?.get("mediaType")?.as_str())
        .map(str::to_owned)
}

/// Records manifest `digest` (of `media_type`, `size` bytes, `bytes`) as a referrer of
/// `subject`, once.
pub(super) async fn record<S: ContentStore>(
    source: &S,
    subject: &Digest,
    digest: &Digest,
    media_type: &str,
    size: u64,
    bytes: &[u8],
) -> Result<(), ApiError> {
    let doc: Value = serde_json::from_slice(bytes).unwrap_or(Value::Null);
    let mut extra = serde_json::Map::new();
    if let Some(t) = artifact_type(&doc) {
        extra.insert("artifactType".into(), Value::String(t));
    }
    let entry = Descriptor {
        media_type: media_type.to_owned(),
        digest: digest.clone(),
        size,
        platform: None,
        annotations: [(REFERRER_OF.to_owned(), subject.to_string())].into(),
        extra,
    };
    let subject = subject.to_string();
    source
        .update_refs(move |index| {
            index.remove_where(|d| {
                d.digest == entry.digest && d.annotations.get(REFERRER_OF) == Some(&subject)
            });
            // Appends: no entry is owned by this name (it is no reference), so none is replaced.
            index.set_ref(&format!("{REFERRER_OF}={subject}"), vec![entry]);
            ((), true)
        })
        .await?;
    Ok(())
}

/// `GET /v2/<name>/referrers/<digest>[?artifactType=T]`.
pub(super) async fn referrers<S: ContentStore>(
    source: &S,
    subject: &Digest,
    query: Option<&str>,
) -> Result<Response<Body>, ApiError> {
    let wanted = query_pairs(query.unwrap_or(""))
        .find(|(k, _)| k == "artifactType")
        .map(|(_, v)| v);
    let refs = source.refs().await?;
    let subject_text = subject.to_string();
    let mut manifests = Vec::new();
    for d in refs.layout().entries() {
        if d.annotations.get(REFERRER_OF) != Some(&subject_text) {
            continue;
        }
        let artifact = d.extra.get("artifactType").and_then(Value::as_str);
        if wanted.as_deref().is_some_and(|w| Some(w) != artifact) {
            continue;
        }
        // A deleted manifest is no referrer; its own annotations are listed with it.
        let Some(bytes) = read_small(source, &d.digest, crate::manifest::MAX_MANIFEST as u64)
            .await
            .ok()
            .flatten()
        else {
            continue;
        };
        let doc: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        let mut listed = json!({
            "mediaType": d.media_type,
            "digest": d.digest.to_string(),
            "size": d.size,
        });
        if let Some(obj) = listed.as_object_mut() {
            if let Some(a) = artifact {
                obj.insert("artifactType".into(), json!(a));
            }
            if let Some(annotations) = doc.get("annotations").filter(|a| a.is_object()) {
                obj.insert("annotations".into(), annotations.clone());
            }
        }
        if !manifests.contains(&listed) {
            manifests.push(listed);
        }
    }
    let body = json!({ "schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": manifests });
    let mut response = json_response(StatusCode::OK, OCI_INDEX, body.to_string());
    if wanted.is_some() {
        response.headers_mut().insert(
            HeaderName::from_static("oci-filters-applied"),
            HeaderValue::from_static("artifactType"),
        );
    }
    Ok(response)
}
