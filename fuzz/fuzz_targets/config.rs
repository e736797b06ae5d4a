//! layerget's own `config.toml` (per-registry settings): never a panic.
#![no_main]

use std::path::Path;

use layerget::config::Config;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = Config::parse(text, Path::new("/home/user/.config/layerget/config.toml"));
});
