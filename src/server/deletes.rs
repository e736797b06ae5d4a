//! `DELETE` of tags, manifests and blobs, with `--allow-delete` ("Content Management").
//!
//! Repository scoping: the cache is content-addressed and shared by every name, while tags
//! belong to one repository. So a delete never removes content something else still uses:
//!
//! - `DELETE …/manifests/<tag>` removes the tag (every registry's entry of `<name>:<tag>`)
//!   from `index.json`, atomically; the manifest's bytes stay (content, not a name);
//! - `DELETE …/manifests/<digest>` removes this repository's tags of the digest and its
//!   referrer entries, then the manifest's blob unless another entry of `index.json` (another
//!   repository's tag, a manifest that lists it) still uses it; kept or not, the repository
//!   no longer finds it by digest ([`Scope::delete`]), while another repository still does;
//! - `DELETE …/blobs/<digest>` removes the blob unless a manifest `index.json` lists uses it
//!   (then 409 `DENIED`, naming that manifest), or a writer holds it.
//!
//! Each answers 202; what was deleted is not found by the very next request.

use axum::body::Body;
use axum::http::header::{self, HeaderValue};
use axum::http::{Response, StatusCode};

use super::ApiError;
use super::referrers::REFERRER_OF;
use super::scope::{Scope, lists};
use crate::digest::Digest;
use crate::manifest::Descriptor;
use crate::reference::{Reference, is_tag};
use crate::store::{ContentStore, Deleted, owner};

/// Whether an `index.json` entry is a tag `tag` (any, when `None`) of repository `name`.
fn is_tag_of(d: &Descriptor, name: &str, tag: Option<&str>) -> bool {
    owner(d)
        .and_then(|o| o.parse::<Reference>().ok())
        .is_some_and(|r| {
            r.repository() == name && r.tag().is_some_and(|t| tag.is_none_or(|w| t == w))
        })
}

fn accepted() -> Response<Body> {
    let mut response = Response::new(Body::empty());
    *response.status_mut() = StatusCode::ACCEPTED;
    response
        .headers_mut()
        .insert(header::CONTENT_LENGTH, HeaderValue::from(0));
    response
}

/// `DELETE /v2/<name>/manifests/<tag or digest>`.
pub(super) async fn delete_manifest<S: ContentStore>(
    source: &S,
    scope: &Scope,
    name: &str,
    reference: &str,
) -> Result<Response<Body>, ApiError> {
    let unknown = || ApiError::ManifestUnknown {
        name: name.to_owned(),
        reference: reference.to_owned(),
    };
    if !reference.contains(':') {
        if !is_tag(reference) {
            return Err(unknown());
        }
        let (n, t) = (name.to_owned(), reference.to_owned());
        let removed = source
            .update_refs(move |index| {
                let removed = index
                    .remove_where(|d| is_tag_of(d, &n, Some(t.as_str())))
                    .len();
                (removed, removed > 0)
            })
            .await?;
        return if removed > 0 {
            Ok(accepted())
        } else {
            Err(unknown())
        };
    }
    let digest: Digest = reference.parse().map_err(ApiError::DigestInvalid)?;
    if scope.is_deleted(name, &digest) || source.stat(&digest).await?.is_none() {
        return Err(unknown());
    }
    let (n, d) = (name.to_owned(), digest.clone());
    source
        .update_refs(move |index| {
            let removed = index
                .remove_where(|e| {
                    e.digest == d
                        && (is_tag_of(e, &n, None) || e.annotations.contains_key(REFERRER_OF))
                })
                .len();
            ((), removed > 0)
        })
        .await?;
    // Before the bytes go: from the next request on, this repository does not find it, even
    // if the bytes stay for another.
    scope.delete(name, &digest);
    if used_by(source, &digest).await?.is_none() {
        // Busy (a writer holds it) or gone meanwhile: either way it is no longer served by
        // this repository's tags; the bytes go with the next delete or `cache gc`.
        source.delete(&digest).await?;
    }
    Ok(accepted())
}

/// `DELETE /v2/<name>/blobs/<digest>`.
pub(super) async fn delete_blob<S: ContentStore>(
    source: &S,
    digest: &Digest,
) -> Result<Response<Body>, ApiError> {
    if source.stat(digest).await?.is_none() {
        return Err(ApiError::BlobUnknown(digest.clone()));
    }
    if let Some(user) = used_by(source, digest).await? {
        return Err(ApiError::InUse {
            digest: digest.clone(),
            by: user,
        });
    }
    match source.delete(digest).await? {
        Deleted::Removed => Ok(accepted()),
        Deleted::Missing => Err(ApiError::BlobUnknown(digest.clone())),
        Deleted::Busy => Err(ApiError::InUse {
            digest: digest.clone(),
            by: digest.clone(),
        }),
    }
}

/// The first manifest listed in `index.json` that is `target` or uses it: as one of its
/// blobs or children, or (for an index) a blob of one of its children.
async fn used_by<S: ContentStore>(source: &S, target: &Digest) -> Result<Option<Digest>, ApiError> {
    let refs = source.refs().await?;
    for entry in refs.layout().entries() {
        if lists(source, std::iter::once(entry.digest.clone()), target).await? {
            return Ok(Some(entry.digest));
        }
    }
    Ok(None)
}
