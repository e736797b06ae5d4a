//! Docker's `config.json` and podman's `auth.json`, read through the public lookup. Input: the
//! registry (`host[:port]`) on the first line, the file after it. Never a panic.
//!
//! A config may name credential helpers (`credHelpers`, `credsStore`), which the lookup runs as
//! `docker-credential-<name>`: the target empties `PATH` and works in an empty directory first,
//! so no program can be found and each attempt only ends in a warning.
#![no_main]

use std::path::PathBuf;
use std::sync::OnceLock;

use layerget::client::credentials::Sources;
use libfuzzer_sys::fuzz_target;

static FILE: OnceLock<PathBuf> = OnceLock::new();

fn file() -> &'static PathBuf {
    FILE.get_or_init(|| {
        // Under `TMPDIR`: scripts/fuzz makes a scratch directory (in memory) for it.
        let dir =
            std::env::temp_dir().join(format!("layerget-fuzz-credentials-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("empty")).expect("a scratch directory");
        std::env::set_current_dir(dir.join("empty")).expect("cd into the scratch directory");
        // SAFETY: set once during initialisation, before any other thread could read it.
        unsafe { std::env::set_var("PATH", dir.join("empty")) };
        dir.join("config.json")
    })
}

fuzz_target!(|data: &[u8]| {
    let (first, body) = match data.iter().position(|b| *b == b'\n') {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (&b"registry.example"[..], data),
    };
    let Ok(registry) = std::str::from_utf8(first) else {
        return;
    };
    let path = file();
    std::fs::write(path, body).expect("writing the scratch config");
    let _ = layerget::client::credentials::normalize(registry);
    for sources in [
        Sources {
            explicit: None,
            docker_config: Some(path.clone()),
            podman_auth: None,
        },
        Sources {
            explicit: None,
            docker_config: None,
            podman_auth: Some(path.clone()),
        },
    ] {
        let (found, _warnings) = sources.lookup(registry);
        if let Some(found) = found {
            let _ = found.credentials.username();
            // Secrets never show in Debug output.
            let debug = format!("{:?}", found.credentials);
            assert!(!debug.contains("Secret(\""), "{debug}");
        }
    }
    if let Ok(text) = std::str::from_utf8(body) {
        let _ = layerget::client::credentials::base64_decode(text);
    }
});
