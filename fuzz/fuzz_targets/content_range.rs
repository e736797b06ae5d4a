//! A registry's `Content-Range` answer to a ranged GET: never a panic, and an accepted range is
//! well formed (first <= last < total).
#![no_main]

use layerget::client::ContentRange;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    let Some(cr) = ContentRange::parse(s) else {
        return;
    };
    assert!(cr.range.is_some() || cr.total.is_some());
    if let Some((first, last)) = cr.range {
        assert!(first <= last, "{s:?}");
        if let Some(total) = cr.total {
            assert!(last < total, "{s:?}");
        }
    }
});
