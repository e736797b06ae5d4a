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
fn committed_completions_and_man_pages_are_up_to_date() {
    let dir = tempfile::tempdir().unwrap();
    layerget()
        .arg("generate")
        .arg(dir.path())
        .assert()
        .success();
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    for (sub, at_least) in [("completions", 5), ("man", 10)] {
        let list = |d: &std::path::Path| -> Vec<_> {
            let mut names: Vec<_> = std::fs::read_dir(d)
                .map(|r| r.map(|e| e.unwrap().file_name()).collect())
                .unwrap_or_default();
            names.sort();
            names
        };
        let names = list(&dir.path().join(sub));
        assert!(names.len() >= at_least, "{sub}: {names:?}");
        assert_eq!(
            names,
            list(&root.join(sub)),
            "{sub}/ has other files than `cargo run -- generate` writes"
        );
        for name in names {
            let fresh = std::fs::read(dir.path().join(sub).join(&name)).unwrap();
            let old = std::fs::read(root.join(sub).join(&name)).unwrap_or_default();
            assert!(
                fresh == old,
                "{sub}/{} is stale: run `cargo run -- generate` and commit it",
                name.to_string_lossy()
            );
        }
    }
}

#[test]
fn completions_for_one_shell_go_to_stdout() {
    for (shell, marker) in [
        ("bash", "_layerget()"),
        ("zsh", "#compdef layerget"),
        ("fish", "complete -c layerget"),
    ] {
        let out = layerget().args(["completions", shell]).output().unwrap();
        assert!(out.status.success(), "{out:?}");
        let text = String::from_utf8(out.stdout).unwrap();
        assert!(
            text.contains(marker),
            "{shell}: {}",
            &text[..text.len().min(200)]
        );
    }
    layerget().args(["completions", "tcsh"]).assert().code(2);
}

/// Issue 15, item 5: colour only on a terminal (and without `NO_COLOR`), or when asked for.
#[test]
fn logs_are_coloured_only_on_a_terminal_or_when_asked() {
    let cache = TempCache::new();
    let unreachable =
        "127.0.0.1:1/a@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
    let run = |extra: &[&str]| {
        let out = layerget()
            .env_remove("NO_COLOR")
            .args(["-vv", "--retries", "0", "--cache-dir"])
            .arg(cache.path())
            .args(extra)
            .args(["fetch", unreachable])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(6), "{out:?}");
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let auto = run(&[]);
    assert!(auto.contains("DEBUG"), "{auto}");
    assert!(!auto.contains('\u{1b}'), "a pipe is not a terminal: {auto}");
    assert!(!run(&["--color", "never"]).contains('\u{1b}'));
    assert!(run(&["--color", "always"]).contains("\u{1b}["));
}

/// Issue 15, item 9: an OS error quoted by its wrapper is not printed twice.
#[test]
fn an_os_error_is_printed_once() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("file");
    std::fs::write(&file, b"").unwrap();
    let out = layerget()
        .arg("--cache-dir")
        .arg(file.join("sub"))
        .args([
            "fetch",
            "127.0.0.1:1/a@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(8), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.matches("os error 20").count(), 1, "{stderr}");
}

/// Issue 15, item 6: each subcommand's help shows the options it uses, grouped, with examples.
/// The snapshots are in `tests/it/snapshots/`; refresh them with `INSTA_UPDATE=always cargo
/// test --test it help_` and review the diff.
#[test]
fn help_of_every_subcommand() {
    let commands: &[&[&str]] = &[
        &[],
        &["fetch"],
        &["head"],
        &["pull"],
        &["push"],
        &["copy"],
        &["sync"],
        &["serve"],
        &["cache"],
        &["cache", "ls"],
        &["cache", "du"],
        &["cache", "verify"],
        &["cache", "gc"],
        &["cache", "prune"],
        &["cache", "rm"],
        &["cache", "path"],
        &["completions"],
    ];
    for words in commands {
        let out = layerget()
            .env("LAYERGET_CACHE_DIR", "/somewhere")
            .args(*words)
            .arg("--help")
            .output()
            .unwrap();
        assert!(out.status.success(), "{words:?}: {out:?}");
        let help = String::from_utf8(out.stdout).unwrap();
        let name = if words.is_empty() {
            "help".to_owned()
        } else {
            format!("help_{}", words.join("_"))
        };
        let talks_to_registries = matches!(
            words.first(),
            None | Some(&"fetch" | &"head" | &"pull" | &"push" | &"copy" | &"sync" | &"serve")
        );
        for client_only in [
            "--retries",
            "--plain-http",
            "--username",
            "--ca-file",
            "--insecure",
        ] {
            // As a whole flag: `serve --insecure-allow-anonymous-push` is no `--insecure`.
            let has_flag = help
                .match_indices(client_only)
                .any(|(at, _)| !help[at + client_only.len()..].starts_with('-'));
            assert_eq!(
                has_flag, talks_to_registries,
                "{words:?} and {client_only}:\n{help}"
            );
        }
        if talks_to_registries {
            assert!(
                help.contains("\nRegistry:\n") && help.contains("\nTransfer:\n"),
                "{help}"
            );
        }
        if matches!(words, [w] if ["fetch", "head", "pull", "serve"].contains(w)) {
            assert!(help.contains("\nExamples:\n"), "{words:?}:\n{help}");
        }
        assert!(!help.contains("one JSON object per REF"), "{help}");
        insta::assert_snapshot!(name, help);
    }
}

/// Issue 15, item 6: a cache dir from the environment is not shown as a given argument.
#[test]
fn usage_lines_do_not_show_environment_settings() {
    let out = layerget()
        .env("LAYERGET_CACHE_DIR", "/somewhere")
        .env("LAYERGET_REGISTRY_AUTH", "ghcr.io")
        .arg("fetch")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("Usage: layerget fetch <REF>..."),
        "{stderr}"
    );
}
