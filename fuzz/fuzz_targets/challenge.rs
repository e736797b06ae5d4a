//! `WWW-Authenticate` values from a registry or a redirect target: one header value per line.
//! Never a panic; every parameter can be looked up.
#![no_main]

use layerget::client::challenge;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    let challenges = challenge::parse(s.split('\n'));
    for c in &challenges {
        let _ = c.is("bearer") || c.is("basic");
        for name in ["realm", "service", "scope", "error", ""] {
            let _ = c.param(name);
        }
        for (name, _) in &c.params {
            assert!(c.param(name).is_some());
        }
    }
});
