//! Registry error bodies (the `{"errors":[…]}` envelope, or anything else a server sends): the
//! decoder, its `Display`, and the category logic never panic.
#![no_main]

use layerget::envelope::{self, ErrorBody};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let body = ErrorBody::decode(data);
    let _ = body.to_string();
    let _ = body.codes();
    let _ = body.category();
    // The status comes from the same server; the first two bytes pick one.
    let status = match data {
        [a, b, ..] => u16::from_be_bytes([*a, *b]),
        _ => 500,
    };
    let _ = envelope::categorize(status, &body).exit_code();
});
