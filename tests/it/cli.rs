//! The command line itself: help, exit codes, completions, global options.

use predicates::prelude::*;

use crate::support::*;

#[test]
fn help_lists_the_exit_codes() {
    layerget()
        .arg("--help")
        .assert()
        .success()
        .stdout(predicate::str::contains("Exit codes"))
        .stdout(predicate::str::contains("5  integrity"))
        .stdout(predicate::str::contains("8  local storage"));
}

#[test]
fn unknown_flags_are_usage_errors() {
    layerget()
        .args(["fetch", "--no-such-flag", "x"])
        .assert()
        .code(2);
    layerget().arg("fetch").assert().code(2);
}

#[test]
fn global_options_work_before_and_after_the_subcommand() {
    let registry = TestRegistry::start();
    let digest = registry.push_blob("g/o", b"global");
    let r = registry.reference("g/o", &digest);
    for cache in [TempCache::new(), TempCache::new()] {
        let c = cache.path().to_str().unwrap().to_owned();
        let (before, after) = (
            vec!["--cache-dir", c.as_str(), "--json", "fetch", r.as_str()],
            vec!["fetch", r.as_str(), "--json", "--cache-dir", c.as_str()],
        );
        for args in [before, after] {
            layerget()
                .args(&args)
                .assert()
                .success()
                .stdout(predicate::str::starts_with("{"));
        }
        assert!(cache.blob_path(&digest).is_file());
    }
    // The environment variable works too.
    let cache = TempCache::new();
    layerget()
        .env("LAYERGET_CACHE_DIR", cache.path())
        .args(["fetch", &r])
        .assert()
        .success();
    assert!(cache.blob_path(&digest).is_file());
}

#[test]
fn committed_completions_are_up_to_date() {
    let dir = tempfile::tempdir().unwrap();
    layerget()
        .arg("generate")
        .arg(dir.path())
        .assert()
        .success();
    let committed = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("completions");
    let mut names: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    names.sort();
    assert_eq!(names.len(), 5, "{names:?}");
    for name in names {
        let fresh = std::fs::read(dir.path().join(&name)).unwrap();
        let old = std::fs::read(committed.join(&name)).unwrap_or_default();
        assert!(
            fresh == old,
            "completions/{} is stale: run `cargo run -- generate completions` and commit it",
            name.to_string_lossy()
        );
    }
}
