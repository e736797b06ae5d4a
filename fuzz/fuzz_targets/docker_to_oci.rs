//! Docker manifest (list) to OCI conversion, run on documents a registry sent. Never a panic;
//! a document that parses still parses after the conversion; the output is JSON that converts to itself (a second conversion changes nothing), except
//! where the document holds floats: serde_json (without `float_roundtrip`) may read a float
//! one bit off, so a second pass can print it differently. Manifests hold no floats.
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
    let doc: serde_json::Value = serde_json::from_slice(&oci).expect("the output is JSON");
    if !has_float(&doc) {
        assert_eq!(
            String::from_utf8_lossy(&again),
            String::from_utf8_lossy(&oci),
            "a converted document is already OCI"
        );
    }
    // What could be read before the conversion can be read after it.
    if manifest::parse(data, None).is_ok() {
        if let Err(e) = manifest::parse(&oci, None) {
            panic!(
                "{:?} parses, its conversion {:?} does not: {e}",
                String::from_utf8_lossy(data),
                String::from_utf8_lossy(&oci)
            );
        }
    }
});

fn has_float(v: &serde_json::Value) -> bool {
    match v {
        serde_json::Value::Number(n) => n.is_f64(),
        serde_json::Value::Array(a) => a.iter().any(has_float),
        serde_json::Value::Object(o) => o.values().any(has_float),
        _ => false,
    }
}
