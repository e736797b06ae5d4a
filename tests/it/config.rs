//! The config file: per-registry TLS settings, flags winning over it, and clear errors.

use predicates::prelude::*;

use crate::auth_support::TlsRegistry;
use crate::support::*;

/// Writes a config file into a temp dir and returns both (the dir must outlive the test).
fn config(text: &str) -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.toml");
    std::fs::write(&path, text).unwrap();
    (dir, path)
}

fn registry_key(r: &str) -> String {
    r.split('/').next().unwrap().to_owned()
}

#[test]
fn a_ca_file_in_the_config_makes_a_tls_registry_work_without_flags() {
    let tls = TlsRegistry::start();
    let digest = tls.push_blob("conf/tls", b"served over https");
    let r = tls.reference("conf/tls", &digest);
    let cache = TempCache::new();
    // Without the config, loopback means http, which the TLS port refuses.
    layerget()
        .arg("--cache-dir")
        .arg(cache.path())
        .args(["--retries", "0", "fetch", &r])
        .assert()
        .failure();
    let (_dir, path) = config(&format!(
        "[registry.\"{}\"]\nca-file = \"{}\"\n",
        registry_key(&r),
        tls.ca_file().display()
    ));
    layerget()
        .env("LAYERGET_CONFIG", &path)
        .arg("--cache-dir")
        .arg(cache.path())
        .args(["fetch", &r])
        .assert()
        .success();
    assert_eq!(
        std::fs::read(cache.blob_path(&digest)).unwrap(),
        b"served over https"
    );
}

#[test]
fn insecure_in_the_config_applies_to_its_registry_only() {
    let tls = TlsRegistry::start();
    let digest = tls.push_blob("conf/insecure", b"x");
    let r = tls.reference("conf/insecure", &digest);
    let (_dir, path) = config(&format!(
        "[registry.\"{}\"]\ninsecure = true\n",
        registry_key(&r)
    ));
    let cache = TempCache::new();
    layerget()
        .env("LAYERGET_CONFIG", &path)
        .arg("--cache-dir")
        .arg(cache.path())
        .args(["fetch", &r])
        .assert()
        .success();
    let (_dir2, other) = config("[registry.\"127.0.0.9:1\"]\ninsecure = true\n");
    layerget()
        .env("LAYERGET_CONFIG", &other)
        .arg("--cache-dir")
        .arg(TempCache::new().path())
        .args(["--retries", "0", "fetch", &r])
        .assert()
        .failure();
}

#[test]
fn flags_win_over_the_config() {
    let tls = TlsRegistry::start();
    let digest = tls.push_blob("conf/flags", b"y");
    let r = tls.reference("conf/flags", &digest);
    // The file names a CA that did not sign the registry's certificate; the flag's CA wins.
    let (_dir, path) = config(&format!(
        "[registry.\"{}\"]\nca-file = \"{}\"\n",
        registry_key(&r),
        tls.unrelated_ca_file().display()
    ));
    layerget()
        .env("LAYERGET_CONFIG", &path)
        .arg("--ca-file")
        .arg(tls.ca_file())
        .arg("--cache-dir")
        .arg(TempCache::new().path())
        .args(["fetch", &r])
        .assert()
        .success();
}

#[test]
fn a_broken_config_is_a_usage_error_naming_the_file() {
    let (_dir, path) = config("[registry.\"a.example\"]\ninsecur = true\n");
    layerget()
        .env("LAYERGET_CONFIG", &path)
        .args(["fetch", &format!("a.example/x@{}", sha256_digest(b"x"))])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(path.display().to_string()))
        .stderr(predicate::str::contains("unknown field"));
    layerget()
        .env("LAYERGET_CONFIG", "/nonexistent/layerget.toml")
        .args(["fetch", &format!("a.example/x@{}", sha256_digest(b"x"))])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("cannot read the config file"));
}

/// Issue 15, item 9: a config directory that cannot hold a file (its parent is a file here;
/// an unreadable `$HOME` is the same for the lookup) means no config file, not an error.
#[test]
fn a_config_dir_that_cannot_exist_means_no_config() {
    let registry = TestRegistry::start();
    let digest = registry.push_blob("conf/none", b"no config at all");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("not-a-dir");
    std::fs::write(&file, b"").unwrap();
    let cache = TempCache::new();
    layerget()
        .env("XDG_CONFIG_HOME", file.join("config"))
        .arg("--cache-dir")
        .arg(cache.path())
        .args(["fetch", &registry.reference("conf/none", &digest)])
        .assert()
        .success()
        .stderr(predicate::str::contains("config").not());
}
