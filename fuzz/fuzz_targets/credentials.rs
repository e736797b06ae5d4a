//! Docker's `config.json` and podman's `auth.json` (one format), read through the public, pure
//! lookup `plan_from_bytes`: what a lookup of the registry would do (credentials found in the
//! file, a helper to ask, or nothing), without running any helper. Input: the registry
//! (`host[:port]`) on the first line, the file after it. Never a panic, and secrets never show
//! in Debug output.
#![no_main]

use layerget::client::credentials::{self, Plan};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let (first, body) = match data.iter().position(|b| *b == b'\n') {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (&b"registry.example"[..], data),
    };
    let Ok(registry) = std::str::from_utf8(first) else {
        return;
    };
    let _ = credentials::normalize(registry);
    if let Ok(Plan::Found(found)) = credentials::plan_from_bytes(body, registry) {
        let _ = found.credentials.username();
        let debug = format!("{:?}", found.credentials);
        assert!(!debug.contains("Secret(\""), "{debug}");
    }
    if let Ok(text) = std::str::from_utf8(body) {
        let _ = credentials::base64_decode(text);
    }
});
