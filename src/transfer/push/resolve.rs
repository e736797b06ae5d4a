//! What a push sends: a cache name resolved to its top manifest (the registry's own document
//! when the cache kept it beside a conversion), and the tree of manifests and blobs it names,
//! all checked to be in the cache before the first request.

use super::*;

/// What a cache name resolves to for a push.
#[derive(Debug, Clone)]
pub struct Resolved {
    /// The name (normalized reference, or the digest).
    pub name: String,
    /// The reference it was pulled from, when it is one (for the tag and for mounts).
    pub source: Option<Reference>,
    /// The top manifest to push.
    pub digest: Digest,
    /// Its media type.
    pub media_type: String,
}

/// Picks what to push for `name` (a reference as `cache ls` shows it, or a manifest digest):
/// the registry's own document kept beside a conversion when all it names is cached, else the
/// entry carrying the name (see the module docs).
pub async fn resolve<S: ContentStore>(store: &S, name: &str) -> Result<Resolved, PushError> {
    let refs = store.refs().await?;
    if let Ok(digest) = name.parse::<Digest>() {
        let media_type = match refs.media_type(&digest) {
            Some(mt) => mt.to_owned(),
            None => {
                let bytes = read_small(store, &digest, MAX_MANIFEST as u64)
                    .await?
                    .ok_or_else(|| PushError::NotCached { name: name.into() })?;
                manifest::classify(&bytes, None)
                    .ok_or_else(|| PushError::NotCached { name: name.into() })?
                    .to_owned()
            }
        };
        return Ok(Resolved {
            name: name.to_owned(),
            source: None,
            digest,
            media_type,
        });
    }
    let mut source: Reference = name
        .parse()
        .map_err(|_| PushError::NotCached { name: name.into() })?;
    if source.tag().is_none() && source.digest().is_none() {
        // As for `pull`: no tag and no digest means `latest`.
        source = format!("{source}:latest")
            .parse()
            .map_err(|_| PushError::NotCached { name: name.into() })?;
    }
    let full = source.to_string();
    let entries = refs.layout().entries();
    let named = entries
        .iter()
        .find(|d| d.annotations.get(REF_NAME) == Some(&full));
    let kept = entries
        .iter()
        .find(|d| d.annotations.get(SOURCE_OF) == Some(&full));
    let Some(named) = named else {
        return Err(PushError::NotCached { name: full });
    };
    let mut choice = named;
    if let Some(kept) = kept {
        if complete(store, &kept.digest, &kept.media_type).await? {
            choice = kept;
        } else if manifest::kind_of(&kept.media_type) == Some(Kind::Index)
            && let Some(child) = platform_original(store, kept, named).await?
        {
            // One platform of an index was pulled and converted: its original document is
            // the index's entry for that platform.
            return Ok(Resolved {
                name: full,
                source: Some(source),
                digest: child.digest,
                media_type: child.media_type,
            });
        }
    }
    Ok(Resolved {
        name: full,
        source: Some(source),
        digest: choice.digest.clone(),
        media_type: choice.media_type.clone(),
    })
}

/// The entry of the cached index `kept` for the platform of `named`, when it differs from
/// `named` and all it names is cached.
async fn platform_original<S: ContentStore>(
    store: &S,
    kept: &Descriptor,
    named: &Descriptor,
) -> Result<Option<Descriptor>, PushError> {
    let (Some(platform), Some(bytes)) = (
        named.platform.as_ref(),
        read_small(store, &kept.digest, MAX_MANIFEST as u64).await?,
    ) else {
        return Ok(None);
    };
    let Ok(Manifest::Index { index, .. }) = manifest::parse(&bytes, Some(&kept.media_type)) else {
        return Ok(None);
    };
    for child in index.manifests {
        if child.platform.as_ref() == Some(platform)
            && child.digest != named.digest
            && complete(store, &child.digest, &child.media_type).await?
        {
            return Ok(Some(child));
        }
    }
    Ok(None)
}

/// Whether everything the manifest names is cached.
async fn complete<S: ContentStore>(
    store: &S,
    digest: &Digest,
    media_type: &str,
) -> Result<bool, PushError> {
    match tree(store, "", digest, media_type).await {
        Ok(t) => Ok(t.missing.is_empty()),
        Err(PushError::Manifest { .. } | PushError::TooDeep { .. }) => Ok(false),
        Err(e) => Err(e),
    }
}

/// One cached manifest of a tree.
#[derive(Debug, Clone)]
pub(super) struct CachedManifest {
    pub(super) digest: Digest,
    pub(super) media_type: String,
    pub(super) bytes: bytes::Bytes,
}

/// Everything a manifest names, as the cache has it.
#[derive(Debug, Default)]
pub(super) struct Tree {
    /// Manifests in push order: children before the indexes naming them, the top last.
    pub(super) manifests: Vec<CachedManifest>,
    /// Configs and layers, each once.
    pub(super) blobs: BTreeMap<Digest, u64>,
    /// Layers over all image manifests.
    pub(super) layers: usize,
    /// What is not in the cache.
    pub(super) missing: Vec<Digest>,
}

/// Reads the tree of `digest` from the cache (`name` for messages).
pub(super) async fn tree<S: ContentStore>(
    store: &S,
    name: &str,
    digest: &Digest,
    media_type: &str,
) -> Result<Tree, PushError> {
    let mut t = Tree::default();
    let mut seen = HashSet::new();
    visit(store, name, digest, media_type, 0, &mut seen, &mut t).await?;
    Ok(t)
}

/// Depth-first: children are pushed first, so they are visited first.
fn visit<'a, S: ContentStore>(
    store: &'a S,
    name: &'a str,
    digest: &'a Digest,
    media_type: &'a str,
    depth: usize,
    seen: &'a mut HashSet<Digest>,
    t: &'a mut Tree,
) -> futures_util::future::BoxFuture<'a, Result<(), PushError>> {
    Box::pin(async move {
        if depth > MAX_DEPTH {
            return Err(PushError::TooDeep { name: name.into() });
        }
        if !seen.insert(digest.clone()) {
            return Ok(());
        }
        let Some(bytes) = read_small(store, digest, MAX_MANIFEST as u64).await? else {
            t.missing.push(digest.clone());
            return Ok(());
        };
        let actual = digest_bytes(digest.algorithm(), &bytes);
        if actual != *digest {
            return Err(PushError::Corrupt {
                digest: digest.clone(),
                actual,
            });
        }
        let hint = (!media_type.is_empty()).then_some(media_type);
        let parsed = manifest::parse(&bytes, hint).map_err(|reason| PushError::Manifest {
            digest: digest.clone(),
            reason,
        })?;
        match &parsed {
            Manifest::Index { index, .. } => {
                for child in &index.manifests {
                    visit(
                        store,
                        name,
                        &child.digest,
                        &child.media_type,
                        depth + 1,
                        seen,
                        t,
                    )
                    .await?;
                }
            }
            Manifest::Image { manifest: m, .. } => {
                t.layers += m.layers.len();
                for blob in m.blobs() {
                    // Non-distributable layers live elsewhere: registries do not hold them.
                    if blob.is_non_distributable() {
                        continue;
                    }
                    if store.stat(&blob.digest).await?.is_none() {
                        if !t.missing.contains(&blob.digest) {
                            t.missing.push(blob.digest.clone());
                        }
                        continue;
                    }
                    t.blobs.insert(blob.digest.clone(), blob.size);
                }
            }
        }
        t.manifests.push(CachedManifest {
            digest: digest.clone(),
            media_type: parsed.media_type().to_owned(),
            bytes,
        });
        Ok(())
    })
}
