//! `serve`'s request headers about ranges: `Range` against a blob size, `If-Range` and
//! `If-None-Match` against an ETag. Input: 8 bytes of size (big endian), then the header value.
//! A partial answer (or each part of a multipart one) is never empty and never leaves the blob.
#![no_main]

use layerget::server::range::{self, RangeDecision};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let (size, rest) = match data.split_first_chunk::<8>() {
        Some((size, rest)) => (u64::from_be_bytes(*size), rest),
        None => (0, data),
    };
    let Ok(value) = std::str::from_utf8(rest) else {
        return;
    };
    // Real sizes are small; also try the input's own length so both ends get exercised.
    for size in [size, rest.len() as u64, 0, 1] {
        match range::decide(Some(value), size) {
            RangeDecision::Partial(r) => {
                assert!(
                    r.start < r.end && r.end <= size,
                    "{value:?} on {size}: {r:?}"
                );
            }
            RangeDecision::Multiple(parts) => {
                assert!(parts.len() >= 2, "{value:?} on {size}: {parts:?}");
                for r in parts {
                    assert!(
                        r.start < r.end && r.end <= size,
                        "{value:?} on {size}: {r:?}"
                    );
                }
            }
            RangeDecision::Full | RangeDecision::Unsatisfiable => {}
        }
    }
    let etag = "\"sha256:0123\"";
    let _ = range::if_range_matches(value, etag);
    let _ = range::if_none_match(value, etag);
});
