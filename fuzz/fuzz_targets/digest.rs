//! Digests (`sha256:<64 hex>`, `sha512:<128 hex>`) from headers, JSON and paths: never a panic,
//! `Display` and serde round-trip, and `short` works on everything accepted.
#![no_main]

use layerget::digest::Digest;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // As JSON (descriptors carry digests as strings).
    let _ = serde_json::from_slice::<Digest>(data);
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(d) = s.parse::<Digest>() else {
        return;
    };
    assert_eq!(d.to_string(), s, "a digest is displayed as it was accepted");
    assert_eq!(d.hex().len(), d.algorithm().hex_len());
    let _ = d.short();
    let json = serde_json::to_string(&d).expect("a digest serializes");
    assert_eq!(serde_json::from_str::<Digest>(&json).ok(), Some(d));
});
