//! The manifests of a pull. They come from the manifests endpoint (a registry need not serve
//! them as blobs; distribution 2.8.2 does not), through the retry driver, are verified by
//! `client::manifest`, and are stored as blobs through the store's verifying commit like
//! everything else. A manifest asked for by digest that is in the cache already is read from
//! there (at most [`MAX_MANIFEST`] bytes, re-hashed first: a bad one is removed and fetched
//! again): content addressing makes it the same document. A tag is always asked again, since
//! tags move.

use super::image::{BlobTotals, PullError, PullOptions};
use crate::client::manifest::{ManifestResponse, ManifestTarget};
use crate::client::retry::{self, Request};
use crate::client::{Client, Named};
use crate::digest::Digest;
use crate::manifest::{self, Descriptor, MAX_MANIFEST, Manifest};
use crate::reference::Reference;
use crate::store::ContentStore;
use crate::store::content::{put_bytes, read_verified};

/// A manifest fetched (or read from the cache), parsed and stored.
pub(super) struct FetchedManifest {
    /// The verified digest: the one asked for, or for a tag the one `client::manifest`
    /// checked the bytes against (the registry's `Docker-Content-Digest`, else their SHA-256).
    pub(super) digest: Digest,
    /// Its length in bytes.
    pub(super) size: u64,
    /// The exact bytes, as stored: anything re-serialized would have another digest.
    pub(super) bytes: Vec<u8>,
    /// The parsed document.
    pub(super) manifest: Manifest,
}

/// Gets a manifest (from the cache when asked by a digest it holds), parses it, stores it.
/// `expected` is the size a descriptor gave, checked when known.
pub(super) async fn fetch_manifest<S: ContentStore>(
    client: &Client,
    store: &S,
    reference: &Reference,
    target: ManifestTarget<'_>,
    hint: Option<&str>,
    options: &PullOptions,
    totals: &mut BlobTotals,
) -> Result<FetchedManifest, PullError> {
    let name = reference.to_string();
    if let ManifestTarget::Digest(d) = target {
        // Bounded and re-hashed: the cache is a file system others can write to. A bad one is
        // removed, so the one fetched below replaces it.
        let cached = read_verified(store, d, MAX_MANIFEST as u64)
            .await?
            // A file has no Content-Type: the descriptor's media type, if any, stands in.
            .and_then(|bytes| {
                let parsed = manifest::parse(&bytes, hint).ok();
                parsed.map(|m| (bytes.to_vec(), m))
            });
        // A cached blob that is no manifest we can read is asked for again, and then parsed
        // with the registry's Content-Type, which gives a precise error.
        if let Some((bytes, manifest)) = cached {
            let size = bytes.len() as u64;
            // Counted as cached: no bytes came over the network.
            totals.add(d, size, false, 0);
            return Ok(FetchedManifest {
                digest: d.clone(),
                size,
                bytes,
                manifest,
            });
        }
    }
    let response = request_manifest(client, reference, target, options).await?;
    // The registry's Content-Type first; the descriptor's media type only when it sent none.
    let content_type = response.content_type.as_deref().or(hint);
    let manifest =
        manifest::parse(&response.bytes, content_type).map_err(|reason| PullError::Manifest {
            reference: name.clone(),
            digest: response.digest.clone(),
            reason,
        })?;
    let size = response.bytes.len() as u64;
    // Through the verifying commit, like every blob. `cached` when the cache had it already
    // (a tag asked again whose manifest did not change, or another pull's).
    let bytes = bytes::Bytes::from(response.bytes.clone());
    let cached = put_bytes(store, &response.digest, bytes).await?;
    // The bytes came over the network either way; `fetched` says whether they were new.
    totals.add(&response.digest, size, !cached, size);
    Ok(FetchedManifest {
        digest: response.digest,
        size,
        bytes: response.bytes,
        manifest,
    })
}

/// Gets a manifest an index lists, checking the size its descriptor gives.
pub(super) async fn fetch_child<S: ContentStore>(
    client: &Client,
    store: &S,
    reference: &Reference,
    d: &Descriptor,
    options: &PullOptions,
    totals: &mut BlobTotals,
) -> Result<FetchedManifest, PullError> {
    // An empty mediaType says nothing.
    let hint = Some(d.media_type.as_str()).filter(|m| !m.is_empty());
    let got = fetch_manifest(
        client,
        store,
        reference,
        ManifestTarget::Digest(&d.digest),
        hint,
        options,
        totals,
    )
    .await?;
    // The digest vouched for the bytes; this checks the index. OCI image spec, descriptor
    // `size`: if the length of the content does not match, it SHOULD NOT be trusted.
    if got.size != d.size {
        return Err(PullError::SizeMismatch {
            what: "manifest",
            reference: reference.to_string(),
            digest: d.digest.clone(),
            expected: d.size,
            actual: got.size,
        });
    }
    // Compared only for the four manifest types: an entry of any other type (an artifact's)
    // names nothing this could check.
    if let Some(h) = hint
        && manifest::kind_of(h).is_some()
        && h != got.manifest.media_type()
    {
        return Err(PullError::UnexpectedKind {
            reference: reference.to_string(),
            digest: d.digest.clone(),
            found: format!(
                "`{}` although its index entry says `{h}`",
                got.manifest.media_type()
            ),
        });
    }
    Ok(got)
}

/// One manifest GET, retried by the same driver and policy as blobs.
async fn request_manifest(
    client: &Client,
    reference: &Reference,
    target: ManifestTarget<'_>,
    options: &PullOptions,
) -> Result<ManifestResponse, PullError> {
    let what = format!("manifest of `{reference}`");
    let request = Request {
        client,
        policy: options.fetch.retry,
        url: client.manifest_url(reference, target),
        what: &what,
    };
    // By digest, mirrors first; a tag at the registry unless `--mirror-tags`.
    let named = match target {
        ManifestTarget::Digest(_) => Named::ByDigest,
        ManifestTarget::Tag(_) => Named::ByTag,
    };
    let sources = client.sources(reference, named);
    retry::run_over(
        &request,
        &sources,
        // A manifest has no progress bar: its retries go to the log.
        |attempt, wait, error| {
            tracing::info!(
                "{what}: attempt {attempt} failed ({error}); retrying in {:.1} s",
                wait.as_secs_f64()
            )
        },
        async |_, source| Ok(client.get_manifest(reference, source, target).await?),
    )
    .await
    .map_err(|gave_up| gave_up.report(PullError::Exhausted))
}
