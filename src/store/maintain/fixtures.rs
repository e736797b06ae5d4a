//! Test helpers shared by the maintenance tests: blobs, images and references in any store.

use std::time::{Duration, SystemTime};

use crate::digest::{Algorithm, Digest, digest_bytes};
use crate::manifest::{Descriptor, OCI_MANIFEST, REF_NAME};
use crate::store::ContentStore;
use crate::store::maintain::BlobInfo;

/// A blob as a listing would show it, last used `age` seconds before a fixed time.
pub fn blob(content: &str, size: u64, age: u64) -> BlobInfo {
    BlobInfo {
        digest: digest_bytes(Algorithm::Sha256, content.as_bytes()),
        size,
        // A fixed instant, not the clock, so that tests of age order are repeatable; `age`
        // must stay below 1 000 000 s.
        last_use: SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000 - age),
    }
}

/// Stores `bytes` through the store's writer and verifying commit, as any blob enters a
/// store; returns their digest.
pub async fn put<S: ContentStore>(store: &S, bytes: &[u8]) -> Digest {
    let d = digest_bytes(Algorithm::Sha256, bytes);
    let bytes = bytes::Bytes::copy_from_slice(bytes);
    crate::store::content::put_bytes(store, &d, bytes)
        .await
        .unwrap();
    d
}

/// Stores an OCI image (config, layers, manifest); returns the manifest's digest and size.
pub async fn image<S: ContentStore>(store: &S, config: &[u8], layers: &[&[u8]]) -> (Digest, u64) {
    let c = put(store, config).await;
    let mut descriptors = Vec::new();
    for l in layers {
        descriptors.push(serde_json::json!({"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": put(store, l).await, "size": l.len()}));
    }
    let m = serde_json::json!({
        "schemaVersion": 2, "mediaType": OCI_MANIFEST,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": c, "size": config.len()},
        "layers": descriptors,
    })
    .to_string();
    // The size of the bytes stored, which the index descriptor must state.
    (put(store, m.as_bytes()).await, m.len() as u64)
}

/// Records the manifest `digest` in the reference table as reference `name`.
pub async fn record<S: ContentStore>(store: &S, name: &str, digest: &Digest, size: u64) {
    let d = Descriptor {
        media_type: OCI_MANIFEST.into(),
        digest: digest.clone(),
        size,
        platform: None,
        annotations: [(REF_NAME.to_owned(), name.to_owned())].into(),
        extra: serde_json::Map::new(),
    };
    let name = name.to_owned();
    // Replaces what `name` recorded before, as a pull of a moved tag does.
    store
        .update_refs(move |i| (i.set_ref(&name, vec![d]), true))
        .await
        .unwrap();
}

/// The store's reference table now.
pub async fn index<S: ContentStore>(store: &S) -> crate::store::LayoutIndex {
    store.refs().await.unwrap().layout().clone()
}

/// [`put`] from a plain (non-async) test, on a runtime of its own.
pub fn put_blocking<S: ContentStore>(store: &S, bytes: &[u8]) -> Digest {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
        .block_on(put(store, bytes))
}
