//! Issue 15, item 4: with `--json`, every REF gets exactly one line on stdout, in the order
//! given: when one REF is malformed (nothing is requested then), when the cache cannot be
//! opened, and when the command is interrupted.

use std::process::Stdio;

use crate::support::*;

fn lines(stdout: &[u8]) -> Vec<serde_json::Value> {
    String::from_utf8_lossy(stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect()
}

fn refs_of(lines: &[serde_json::Value]) -> Vec<String> {
    lines
        .iter()
        .map(|l| l["ref"].as_str().unwrap_or_default().to_owned())
        .collect()
}

#[test]
fn a_malformed_ref_among_good_ones_gives_every_ref_a_line() {
    let registry = TestRegistry::start();
    let good = registry.reference("j/l", &registry.push_blob("j/l", b"good"));
    let other = registry.reference("j/l", &registry.push_blob("j/l", b"other"));
    let bad = "127.0.0.1:1/UPPER@sha256:nothex".to_owned();
    for command in ["fetch", "pull"] {
        let cache = TempCache::new();
        let given = [good.clone(), bad.clone(), other.clone()];
        let out = layerget()
            .args([command, "--json", "--cache-dir"])
            .arg(cache.path())
            .args(&given)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{command}: {out:?}");
        let lines = lines(&out.stdout);
        assert_eq!(refs_of(&lines), given.to_vec(), "{command}");
        for line in &lines {
            assert_eq!(line["error"]["exit_code"], 2, "{line}");
            assert_eq!(line["error"]["category"], "usage", "{line}");
        }
    }
}

#[test]
fn a_cache_that_cannot_be_opened_gives_every_ref_a_line() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("file");
    std::fs::write(&file, b"").unwrap();
    let given = [
        format!("127.0.0.1:1/a@sha256:{}", "a".repeat(64)),
        format!("127.0.0.1:1/b@sha256:{}", "b".repeat(64)),
    ];
    let out = layerget()
        .args(["fetch", "--json", "--cache-dir"])
        .arg(file.join("sub"))
        .args(&given)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(8), "{out:?}");
    let lines = lines(&out.stdout);
    assert_eq!(refs_of(&lines), given.to_vec());
    assert!(
        lines.iter().all(|l| l["error"]["exit_code"] == 8),
        "{lines:?}"
    );
}

#[test]
fn an_interrupted_ref_gets_a_line() {
    let registry = TestRegistry::start();
    let proxy = FaultProxy::start(&registry.addr());
    let done = registry.reference("j/i", &registry.push_blob("j/i", b"small and done"));
    let digest = registry.push_generated_blob("j/i", 3 << 20, 21);
    proxy.push_fault(Fault::Stall {
        after: 1 << 20,
        secs: 30,
    });
    let stalled = proxy.reference("j/i", &digest);
    let cache = TempCache::new();
    let home = isolated_home();
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_layerget"))
        .env("HOME", &home)
        .env("DOCKER_CONFIG", home.join("docker"))
        .env_remove("LAYERGET_CACHE_DIR")
        .args(["fetch", "--json", "-q", "-j", "1", "--cache-dir"])
        .arg(cache.path())
        .args([&done, &stalled])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Interrupt once the stalled body has started arriving.
    wait_until("the stalled fetch to start", || {
        !proxy.requests().is_empty()
    });
    let status = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(130));
    let lines = lines(&out.stdout);
    assert_eq!(refs_of(&lines), vec![done, stalled]);
    assert!(lines[0]["error"].is_null(), "{}", lines[0]);
    assert_eq!(lines[1]["error"]["exit_code"], 130);
    assert_eq!(lines[1]["error"]["category"], "interrupted");
}
