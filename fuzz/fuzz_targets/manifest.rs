//! Manifest and index documents from a registry (or the cache). Input: the `Content-Type` on
//! the first line (empty: none), the body after it. Never a panic; whatever parses can be
//! walked, its descriptors round-trip through serde, and a platform can be chosen from it.
//! The first line is also tried as a `--platform` value.
#![no_main]

use layerget::manifest::{self, Descriptor, Manifest, PlatformSpec};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let (first, body) = match data.iter().position(|b| *b == b'\n') {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (&b""[..], data),
    };
    let content_type = std::str::from_utf8(first).ok().filter(|s| !s.is_empty());
    if let Some(ct) = content_type {
        let _ = manifest::kind_of(ct);
        let _ = manifest::essence(ct);
        let _ = manifest::is_docker(ct);
        if let Ok(spec) = ct.parse::<PlatformSpec>() {
            let again: PlatformSpec = spec
                .to_string()
                .parse()
                .expect("a platform displays as it parses");
            assert_eq!(again, spec);
        }
    }
    let Ok(m) = manifest::parse(body, content_type) else {
        return;
    };
    assert!(manifest::kind_of(m.media_type()).is_some());
    for d in m.children() {
        let _ = d.is_non_distributable();
        if let Some(p) = &d.platform {
            let _ = p.to_string();
        }
        let json = serde_json::to_vec(d).expect("a descriptor serializes");
        let back: Descriptor =
            serde_json::from_slice(&json).expect("a serialized descriptor parses");
        assert_eq!(&back, d);
    }
    if let Manifest::Index { index, .. } = &m {
        let _ = PlatformSpec::host().choose(index);
        if let Some(spec) = content_type.and_then(|ct| ct.parse::<PlatformSpec>().ok()) {
            let _ = spec.choose(index);
        }
    }
});
