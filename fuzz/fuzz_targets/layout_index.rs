//! The cache's own `index.json` (the OCI layout's, which skopeo or oras may have written):
//! never a panic; what is written back parses again with the same entries, and a tag can be
//! recorded and removed again.
#![no_main]

use layerget::manifest::Descriptor;
use layerget::store::{self, LayoutIndex};
use libfuzzer_sys::fuzz_target;

const NAME: &str = "registry.example/team/app:v1";

fuzz_target!(|data: &[u8]| {
    let Ok(mut index) = LayoutIndex::parse(data) else {
        return;
    };
    let entries = index.entries();
    let len = index.len();
    assert!(entries.len() <= len);
    for d in &entries {
        let _ = store::owner(d);
    }
    let bytes = index.to_bytes();
    let again = LayoutIndex::parse(&bytes).expect("a written index.json parses");
    assert_eq!(again.len(), len);
    assert_eq!(again.entries(), entries);

    let ours: Descriptor = serde_json::from_str(&format!(
        r#"{{"mediaType":"application/vnd.oci.image.manifest.v1+json","size":2,
            "digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a",
            "annotations":{{"org.opencontainers.image.ref.name":"{NAME}"}}}}"#
    ))
    .expect("a valid descriptor");
    let replaced = index.set_ref(NAME, vec![ours.clone()]);
    assert_eq!(index.len(), len - replaced.len() + 1);
    assert_eq!(index.remove_ref(NAME), vec![ours]);
    assert_eq!(index.len(), len - replaced.len());
    let _ = index.is_empty();
});
