//! Manifests from upstream: by digest, fetched once and kept (content addressing: they never
//! change); by tag, kept for `tag_ttl`, then checked with a HEAD (Docker Hub meters manifest GETs,
//! not HEADs) and fetched again only when the digest moved. An upstream that cannot be asked
//! leaves the cached tag in service, marked stale.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use bytes::Bytes;

use super::{Upstream, upstream_error};
use crate::client::manifest::ManifestTarget;
use crate::client::mirror::Source;
use crate::client::retry::{self, Request};
use crate::digest::Digest;
use crate::exit::Category;
use crate::reference::Reference;
use crate::server::ApiError;
use crate::server::manifests::record_tags;
use crate::server::routing::App;
use crate::store::ContentStore;
use crate::store::content::put_bytes;

/// Tags whose check time is remembered; when full, the table starts over (every tag is then
/// checked once more).
const CHECKED_ENTRIES: usize = 100_000;

/// When each tag (upstream, repository, tag) was last found current upstream.
#[derive(Default)]
pub(crate) struct Checked {
    table: Mutex<HashMap<(usize, String, String), Instant>>,
}

impl Checked {
    fn fresh(&self, key: &(usize, String, String), ttl: std::time::Duration) -> bool {
        let table = self.table.lock().unwrap_or_else(|e| e.into_inner());
        table.get(key).is_some_and(|at| at.elapsed() < ttl)
    }

    fn mark(&self, key: (usize, String, String)) {
        let mut table = self.table.lock().unwrap_or_else(|e| e.into_inner());
        if table.len() >= CHECKED_ENTRIES {
            table.clear();
        }
        table.insert(key, Instant::now());
    }
}

/// The digest the cache holds for `name:tag` of `upstream`, if its manifest is there.
async fn cached_tag<S: ContentStore>(
    app: &App<S>,
    upstream: &Upstream,
    name: &str,
    tag: &str,
) -> Result<Option<Digest>, ApiError> {
    let refs = app.source.refs().await?;
    let Some(entry) = refs.tag(name, tag, Some(upstream.ns.api_host())) else {
        return Ok(None);
    };
    let digest = entry.digest.clone();
    Ok(app.source.stat(&digest).await?.map(|_| digest))
}

/// Makes the cache's `name:tag` of upstream number `index` current (see the module docs).
/// `Ok(None)`: the cache holds the upstream's answer; `Ok(Some(reason))`: the upstream could
/// not be asked and the cached tag stands, maybe stale. A tag the upstream does not know is
/// `MANIFEST_UNKNOWN`; one it could not be asked for and the cache lacks, a 502.
pub(crate) async fn refresh_tag<S: ContentStore>(
    app: &Arc<App<S>>,
    index: usize,
    name: &str,
    tag: &str,
) -> Result<Option<String>, ApiError> {
    let pull = app.pull()?;
    let config = &pull.config;
    let upstream = pull.upstream(index)?;
    let key = (index, name.to_owned(), tag.to_owned());
    if pull.tags.fresh(&key, config.tag_ttl)
        && cached_tag(app, upstream, name, tag).await?.is_some()
    {
        return Ok(None);
    }
    // One check per tag at a time: clients that ask meanwhile get its answer.
    let _guard = pull.keyed.lock(format!("tag {index} {name}:{tag}")).await;
    let cached = cached_tag(app, upstream, name, tag).await?;
    if cached.is_some() && pull.tags.fresh(&key, config.tag_ttl) {
        return Ok(None);
    }
    let reference = upstream
        .reference(name, &format!(":{tag}"))
        .map_err(|e| upstream_error(upstream, &e))?;
    let client = &config.client;
    let target = ManifestTarget::Tag(tag);
    let what = format!("manifest `{tag}` of `{}`", reference.location());
    let request = config.request(client.manifest_url(&reference, target), &what);
    let head = retry::run(&request, super::log_retry, |_| {
        client.head_manifest(&reference, target)
    })
    .await;
    let failed = |reason: String| -> Result<Option<String>, ApiError> {
        app.metrics.upstream_failed(index);
        match cached {
            Some(_) => {
                tracing::warn!(
                    "upstream `{}` could not be asked for {name}:{tag}; serving the cached tag: {reason}",
                    upstream.url
                );
                Ok(Some(reason))
            }
            None => Err(upstream_error(upstream, &reason)),
        }
    };
    match head {
        Ok(Some(digest)) if cached.as_ref() == Some(&digest) => {
            pull.tags.mark(key);
            return Ok(None);
        }
        Ok(_) => {}
        Err(e) if e.last.category() == Category::NotFound => {
            return Err(ApiError::ManifestUnknown {
                name: name.to_owned(),
                reference: tag.to_owned(),
            });
        }
        Err(e) => return failed(e.to_string()),
    }
    match fetch(app, upstream, &reference, target, &request).await {
        Ok((digest, media_type, bytes)) => {
            let full = format!("{}/{name}:{tag}", upstream.ns.as_str());
            let size = bytes.len() as u64;
            record_tags(&app.source, vec![full], &media_type, &digest, size).await?;
            pull.tags.mark(key);
            Ok(None)
        }
        Err(Fetched::NotFound) => Err(ApiError::ManifestUnknown {
            name: name.to_owned(),
            reference: tag.to_owned(),
        }),
        Err(Fetched::Api(e)) => Err(e),
        Err(Fetched::Failed(reason)) => failed(reason),
    }
}

/// Fetches the manifest `digest` of `name` from upstream number `index` into the cache, once
/// however many clients ask. `Ok(false)`: the upstream does not have it.
pub(crate) async fn manifest_by_digest<S: ContentStore>(
    app: &Arc<App<S>>,
    index: usize,
    name: &str,
    digest: &Digest,
) -> Result<bool, ApiError> {
    let pull = app.pull()?;
    let upstream = pull.upstream(index)?;
    let _guard = pull.keyed.lock(format!("manifest {digest}")).await;
    if app.source.stat(digest).await?.is_some() {
        return Ok(true);
    }
    let reference = super::blob_reference(upstream, name, digest)?;
    let client = &pull.config.client;
    let target = ManifestTarget::Digest(digest);
    let what = format!("manifest `{digest}` of `{}`", reference.location());
    let request = pull
        .config
        .request(client.manifest_url(&reference, target), &what);
    match fetch(app, upstream, &reference, target, &request).await {
        Ok(_) => Ok(true),
        Err(Fetched::NotFound) => Ok(false),
        Err(Fetched::Api(e)) => Err(e),
        Err(Fetched::Failed(reason)) => {
            app.metrics.upstream_failed(index);
            Err(upstream_error(upstream, &reason))
        }
    }
}

/// Why [`fetch`] has no manifest.
enum Fetched {
    NotFound,
    /// The upstream failed (after retries), or sent no manifest.
    Failed(String),
    /// The cache failed.
    Api(ApiError),
}

/// GETs a manifest (verified by the client against the digest asked for or declared), checks
/// that it is one, and stores it: its digest, media type and bytes.
async fn fetch<S: ContentStore>(
    app: &Arc<App<S>>,
    upstream: &Upstream,
    reference: &Reference,
    target: ManifestTarget<'_>,
    request: &Request<'_>,
) -> Result<(Digest, String, Bytes), Fetched> {
    let client = request.client;
    let got = retry::run(request, super::log_retry, move |_| {
        client.get_manifest(reference, &Source::Registry, target)
    })
    .await;
    for warning in client.take_warnings() {
        tracing::warn!("upstream `{}`: {warning}", upstream.url);
    }
    let got = match got {
        Ok(got) => got,
        Err(e) if e.last.category() == Category::NotFound => return Err(Fetched::NotFound),
        Err(e) => return Err(Fetched::Failed(e.to_string())),
    };
    app.metrics.fetched(got.bytes.len() as u64);
    let parsed = crate::manifest::parse(&got.bytes, got.content_type.as_deref())
        .map_err(|e| Fetched::Failed(format!("it sent no manifest layerget can serve: {e}")))?;
    let media_type = parsed.media_type().to_owned();
    let bytes = Bytes::from(got.bytes);
    put_bytes(&app.source, &got.digest, bytes.clone())
        .await
        .map_err(|e| Fetched::Api(e.into()))?;
    Ok((got.digest, media_type, bytes))
}
