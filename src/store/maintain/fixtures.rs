//! Test helpers shared by the maintenance tests: blobs, images and references in a store.

use std::time::{Duration, SystemTime};

use crate::digest::{Algorithm, Digest, digest_bytes};
use crate::manifest::{Descriptor, OCI_MANIFEST, REF_NAME};
use crate::store::Store;
use crate::store::maintain::BlobInfo;

/// A blob as `blobs()` would list it, last used `age` seconds before a fixed time.
pub fn blob(content: &str, size: u64, age: u64) -> BlobInfo {
    BlobInfo {
        digest: digest_bytes(Algorithm::Sha256, content.as_bytes()),
        size,
        // A fixed instant, not the clock, so that tests of age order are repeatable; `age`
        // must stay below 1 000 000 s.
        last_use: SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000 - age),
    }
}

/// Stores `bytes`; returns their digest.
pub fn put(store: &Store, bytes: &[u8]) -> Digest {
    let d = digest_bytes(Algorithm::Sha256, bytes);
    // Through the store's writer and verifying commit, as any blob enters the store (on a
    // runtime of its own: the maintenance tests are plain tests).
    let bytes = bytes::Bytes::copy_from_slice(bytes);
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
        .block_on(crate::store::content::put_bytes(store, &d, bytes))
        .unwrap();
    d
}

/// Stores an OCI image (config, layers, manifest); returns the manifest's digest and size.
pub fn image(store: &Store, config: &[u8], layers: &[&[u8]]) -> (Digest, u64) {
    let c = put(store, config);
    let layers: Vec<serde_json::Value> = layers
        .iter()
        .map(|l| serde_json::json!({"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": put(store, l), "size": l.len()}))
        .collect();
    let m = serde_json::json!({
        "schemaVersion": 2, "mediaType": OCI_MANIFEST,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": c, "size": config.len()},
        "layers": layers,
    })
    .to_string();
    // The size of the bytes stored, which the `index.json` descriptor must state.
    (put(store, m.as_bytes()), m.len() as u64)
}

/// Records the manifest `digest` in `index.json` as reference `name`.
pub fn record(store: &Store, name: &str, digest: &Digest, size: u64) {
    let d = Descriptor {
        media_type: OCI_MANIFEST.into(),
        digest: digest.clone(),
        size,
        platform: None,
        annotations: [(REF_NAME.to_owned(), name.to_owned())].into(),
        extra: serde_json::Map::new(),
    };
    // Replaces what `name` recorded before, as a pull of a moved tag does.
    store
        .update_index(|i| (i.set_ref(name, vec![d]), true))
        .unwrap();
}
