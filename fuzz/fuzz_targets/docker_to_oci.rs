//! Docker manifest (list) to OCI conversion, run on documents a registry sent. Never a panic;
//! the output is JSON that converts to itself (a second conversion changes nothing).
#![no_main]

use std::collections::HashMap;

use layerget::digest::{Algorithm, Digest, digest_bytes};
use layerget::manifest;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // One converted child, so the rewrite of list entries runs too: whatever the input names
    // with the digest of the empty string.
    let empty = digest_bytes(Algorithm::Sha256, b"");
    let children: HashMap<Digest, (Digest, u64)> =
        HashMap::from([(empty, (digest_bytes(Algorithm::Sha256, b"{}"), 2))]);
    let Ok(oci) = manifest::docker_to_oci(data, &children) else {
        return;
    };
    let again = manifest::docker_to_oci(&oci, &HashMap::new()).expect("the output is JSON");
    assert_eq!(again, oci, "a converted document is already OCI");
    let _ = manifest::parse(&oci, None);
});
