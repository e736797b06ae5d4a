//! `layerget fetch` end to end, against the real reference registry (and, for what a registry
//! will not do on demand, the fault proxy and fake servers in `support`).

use std::fs;
use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use predicates::prelude::*;
use serde_json::Value;

use crate::support::*;

/// The fetch command for `cache`, with quiet progress.
fn fetch(cache: &TempCache) -> assert_cmd::Command {
    let mut cmd = layerget();
    cmd.arg("--cache-dir").arg(cache.path()).arg("fetch");
    cmd
}

/// The binary as a `std::process::Command` (for tests that signal or race processes), with the
/// same clean environment as `support::layerget`.
fn layerget_process() -> Command {
    let home = isolated_home();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_layerget"));
    for var in [
        "LAYERGET_CACHE_DIR",
        "http_proxy",
        "HTTP_PROXY",
        "https_proxy",
        "HTTPS_PROXY",
        "all_proxy",
        "ALL_PROXY",
    ] {
        cmd.env_remove(var);
    }
    cmd.env("RUST_BACKTRACE", "0")
        .env("NO_COLOR", "1")
        .env("HOME", &home)
        .env("DOCKER_CONFIG", home.join("docker"));
    cmd
}

/// Files under `dir`, except the cache-wide lock file (`ingest/cache.lock`), which stays.
fn files_under(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    if let Ok(entries) = fs::read_dir(dir) {
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(files_under(&p));
            } else if p.file_name().is_none_or(|n| n != "cache.lock") {
                out.push(p);
            }
        }
    }
    out
}

fn json_lines(stdout: &[u8]) -> Vec<Value> {
    String::from_utf8_lossy(stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON: {l}: {e}")))
        .collect()
}

#[test]
fn small_blobs_land_verified_in_order_under_nested_names() {
    let registry = TestRegistry::start();
    let cache = TempCache::new();
    let blobs: Vec<Vec<u8>> = vec![Vec::new(), (0..1024u32).map(|i| (i * 7) as u8).collect(), {
        let mut v = Vec::new();
        generated_bytes(1 << 20, 3).read_to_end(&mut v).unwrap();
        v
    }];
    let digests: Vec<String> = blobs
        .iter()
        .map(|b| registry.push_blob("team/sub/app", b))
        .collect();
    let refs: Vec<String> = digests
        .iter()
        .map(|d| registry.reference("team/sub/app", d))
        .collect();
    let out = fetch(&cache)
        .args(&refs)
        .args(["-j", "2"])
        .assert()
        .success();
    let stdout = String::from_utf8(out.get_output().stdout.clone()).unwrap();
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 3, "{stdout}");
    for ((line, digest), bytes) in lines.iter().zip(&digests).zip(&blobs) {
        assert_eq!(std::path::Path::new(line), cache.blob_path(digest));
        assert_eq!(&fs::read(line).unwrap(), bytes);
    }
    // The cache is an OCI image layout with nothing left in ingest.
    let layout: Value =
        serde_json::from_slice(&fs::read(cache.path().join("oci-layout")).unwrap()).unwrap();
    assert_eq!(layout["imageLayoutVersion"], "1.0.0");
    assert!(cache.path().join("index.json").is_file());
    assert!(cache.path().join("CACHEDIR.TAG").is_file());
    assert_eq!(
        files_under(&cache.path().join("ingest")),
        Vec::<std::path::PathBuf>::new()
    );
}

#[test]
fn large_blob_streams_through_and_verifies() {
    let registry = TestRegistry::start();
    let cache = TempCache::new();
    let size = 256 << 20;
    let digest = registry.push_generated_blob("big/blob", size, 42);
    let out = fetch(&cache)
        .arg("--json")
        .arg(registry.reference("big/blob", &digest))
        .assert()
        .success();
    let line = &json_lines(&out.get_output().stdout)[0];
    assert_eq!(line["size"], size);
    assert_eq!(line["cached"], false);
    assert_eq!(line["bytes_transferred"], size);
    assert_eq!(sha256_file(&cache.blob_path(&digest)), digest);
}

#[test]
fn sha512_digests_are_fetched_and_verified() {
    let registry = TestRegistry::start();
    let cache = TempCache::new();
    let data = b"sha512 content for layerget".repeat(100);
    let digest = match registry.push_blob_sha512("algo/test", &data) {
        Ok(d) => d,
        Err(why) => {
            panic!("the reference registry took sha512 uploads when this test was written: {why}")
        }
    };
    assert!(digest.starts_with("sha512:"));
    fetch(&cache)
        .arg(registry.reference("algo/test", &digest))
        .assert()
        .success();
    assert_eq!(fs::read(cache.blob_path(&digest)).unwrap(), data);
}

#[test]
fn unknown_blob_exits_3_with_the_decoded_message() {
    let registry = TestRegistry::start();
    let cache = TempCache::new();
    let digest = format!("sha256:{}", "ab".repeat(32));
    let r = registry.reference("team/sub/app", &digest);
    fetch(&cache).arg(&r).assert().code(3).stderr(predicate::str::contains(format!(
        "error: blob {digest} not found in {}/team/sub/app (BLOB_UNKNOWN: blob unknown to registry)",
        registry.addr()
    )));
    // A 404 leaves nothing behind, not even an empty ingest entry.
    assert!(
        files_under(cache.path())
            .iter()
            .all(|p| !p.starts_with(cache.path().join("ingest")))
    );
    assert!(files_under(&cache.path().join("blobs")).is_empty());
}

#[test]
fn malformed_references_exit_2_before_any_request() {
    let server = RecordingServer::fixed(ScriptedResponse::new(200, "x"));
    let cache = TempCache::new();
    let good = server.reference("app", &sha256_digest(b"x"));
    let bad_digests = [
        format!("{}/app@sha256:{}", server.addr(), "a".repeat(63)),
        format!("{}/app@sha256:{}", server.addr(), "A".repeat(64)),
        format!("{}/app@md5:{}", server.addr(), "a".repeat(32)),
        format!("{}/App@sha256:{}", server.addr(), "a".repeat(64)),
        format!("{}/app:latest", server.addr()),
    ];
    for bad in &bad_digests {
        fetch(&cache)
            .arg(&good)
            .arg(bad)
            .assert()
            .code(2)
            .stderr(predicate::str::contains("error: invalid reference"));
    }
    fetch(&cache)
        .arg(format!("{}/app:latest", server.addr()))
        .assert()
        .code(2)
        .stderr(predicate::str::contains("has no digest"));
    assert!(server.requests().is_empty(), "{:?}", server.requests());
}

#[test]
fn cache_hit_makes_no_request() {
    let mut registry = TestRegistry::start();
    let cache = TempCache::new();
    let digest = registry.push_blob("hit/me", b"cached content");
    let r = registry.reference("hit/me", &digest);
    fetch(&cache).arg(&r).assert().success();
    registry.stop();
    let out = fetch(&cache).arg("--json").arg(&r).assert().success();
    let line = &json_lines(&out.get_output().stdout)[0];
    assert_eq!(line["cached"], true);
    assert_eq!(line["bytes_transferred"], 0);
    let keys: Vec<&String> = line.as_object().unwrap().keys().collect();
    assert_eq!(
        keys,
        [
            "bytes_transferred",
            "cached",
            "digest",
            "duration_ms",
            "path",
            "ref",
            "size"
        ]
    );
    assert_eq!(line["ref"], r.as_str());
}

#[test]
fn verify_cached_replaces_a_corrupted_cache_file() {
    let registry = TestRegistry::start();
    let cache = TempCache::new();
    let digest = registry.push_blob("v/c", b"the real bytes");
    let r = registry.reference("v/c", &digest);
    fetch(&cache).arg(&r).assert().success();
    let path = cache.blob_path(&digest);
    let mut perms = fs::metadata(&path).unwrap().permissions();
    #[allow(clippy::permissions_set_readonly_false)]
    perms.set_readonly(false);
    fs::set_permissions(&path, perms).unwrap();
    fs::write(&path, b"the fake bytes").unwrap();
    fetch(&cache)
        .arg("--verify-cached")
        .arg(&r)
        .assert()
        .success();
    assert_eq!(fs::read(&path).unwrap(), b"the real bytes");
}

#[test]
fn output_file_dir_and_stdout_are_byte_exact() {
    let registry = TestRegistry::start();
    let cache = TempCache::new();
    let out_dir = tempfile::tempdir().unwrap();
    let a: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    let b = b"second blob".to_vec();
    let (da, db) = (registry.push_blob("o/x", &a), registry.push_blob("o/x", &b));
    let (ra, rb) = (
        registry.reference("o/x", &da),
        registry.reference("o/x", &db),
    );

    let file = out_dir.path().join("layer.bin");
    fetch(&cache)
        .arg(&ra)
        .arg("-o")
        .arg(&file)
        .assert()
        .success()
        .stdout("");
    assert_eq!(fs::read(&file).unwrap(), a);
    // Writing it again over the existing file works.
    fetch(&cache)
        .arg(&ra)
        .arg("-o")
        .arg(&file)
        .assert()
        .success();
    assert_eq!(fs::read(&file).unwrap(), a);

    let out = fetch(&cache).arg(&ra).args(["-o", "-"]).assert().success();
    assert_eq!(out.get_output().stdout, a);

    let dir = out_dir.path().join("many");
    fetch(&cache)
        .arg(&ra)
        .arg(&rb)
        .arg("-o")
        .arg(&dir)
        .assert()
        .success()
        .stdout("");
    assert_eq!(
        fs::read(dir.join(da.split_once(':').unwrap().1)).unwrap(),
        a
    );
    assert_eq!(
        fs::read(dir.join(db.split_once(':').unwrap().1)).unwrap(),
        b
    );

    fetch(&cache)
        .arg(&ra)
        .arg(&rb)
        .args(["-o", "-"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("-o must be a directory"));
    fetch(&cache)
        .arg(&ra)
        .arg(&rb)
        .arg("-o")
        .arg(&file)
        .assert()
        .code(2)
        .stderr(predicate::str::contains("is not a directory"));
}

#[test]
fn lying_server_exits_5_and_publishes_nothing() {
    let server = lying_blob_server(b"these are not the bytes you are looking for".to_vec());
    let cache = TempCache::new();
    let digest = sha256_digest(b"the real content");
    fetch(&cache)
        .arg(server.reference("lie/to/me", &digest))
        .assert()
        .code(5)
        .stderr(predicate::str::contains(format!("blob {digest}")))
        .stderr(predicate::str::contains("does not match its digest"));
    assert!(files_under(&cache.path().join("blobs")).is_empty());
    assert!(
        files_under(&cache.path().join("ingest"))
            .iter()
            .all(|p| p.extension().is_some_and(|e| e == "lock"))
    );
}

#[test]
fn a_wrong_docker_content_digest_header_is_refused() {
    let data = b"honest bytes, dishonest header".to_vec();
    let digest = sha256_digest(&data);
    let server = RecordingServer::fixed(
        ScriptedResponse::new(200, data)
            .header("Docker-Content-Digest", &sha256_digest(b"something else")),
    );
    let cache = TempCache::new();
    fetch(&cache)
        .arg(server.reference("h/d", &digest))
        .assert()
        .code(5)
        .stderr(predicate::str::contains("Docker-Content-Digest"));
    assert!(files_under(&cache.path().join("blobs")).is_empty());
}

#[test]
fn several_refs_each_get_a_line_and_the_first_failure_code_wins() {
    let registry = TestRegistry::start();
    let cache = TempCache::new();
    let good = registry.push_blob("m/r", b"good");
    let missing = format!("sha256:{}", "cd".repeat(32));
    let refs = [
        registry.reference("m/r", &missing),
        registry.reference("m/r", &good),
    ];
    let out = fetch(&cache).arg("--json").args(&refs).assert().code(3);
    let lines = json_lines(&out.get_output().stdout);
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0]["ref"], refs[0].as_str());
    assert_eq!(lines[0]["error"]["exit_code"], 3);
    assert_eq!(lines[0]["error"]["category"], "not_found");
    assert!(
        lines[0]["error"]["message"]
            .as_str()
            .unwrap()
            .contains("BLOB_UNKNOWN")
    );
    assert_eq!(lines[1]["digest"], good.as_str());
}

#[test]
fn an_unreachable_registry_exits_6() {
    let cache = TempCache::new();
    // Bind and drop to find a port nobody listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    fetch(&cache)
        .args(["--retries", "1"])
        .arg(format!("127.0.0.1:{port}/x@{}", sha256_digest(b"x")))
        .assert()
        .code(6)
        .stderr(predicate::str::contains(format!("127.0.0.1:{port}")))
        .stderr(predicate::str::contains("gave up after 2 attempts"));
}

#[test]
fn a_broken_body_keeps_the_partial_and_the_next_fetch_resumes_it() {
    let registry = TestRegistry::start();
    let proxy = FaultProxy::start(&registry.addr());
    let cache = TempCache::new();
    let size = 4 << 20;
    let digest = registry.push_generated_blob("r/s", size, 7);
    let r = proxy.reference("r/s", &digest);
    proxy.push_fault(Fault::CutAfter(1 << 20));
    fetch(&cache)
        .args(["--retries", "0"])
        .arg(&r)
        .assert()
        .code(6)
        .stderr(predicate::str::contains("partial download is kept"));
    assert!(!cache.blob_path(&digest).exists());
    let out = fetch(&cache).arg("--json").arg(&r).assert().success();
    let line = &json_lines(&out.get_output().stdout)[0];
    let range = proxy
        .requests()
        .last()
        .unwrap()
        .header("range")
        .map(str::to_owned);
    let resumed_at = size - line["bytes_transferred"].as_u64().unwrap();
    assert!(resumed_at >= 1 << 19, "resumed at {resumed_at}");
    assert_eq!(range, Some(format!("bytes={resumed_at}-{}", size - 1)));
    assert_eq!(sha256_file(&cache.blob_path(&digest)), digest);
}

#[test]
fn a_server_that_ignores_range_makes_the_resume_start_over() {
    let registry = TestRegistry::start();
    let proxy = FaultProxy::start(&registry.addr());
    let cache = TempCache::new();
    let digest = registry.push_generated_blob("r/i", 2 << 20, 8);
    let r = proxy.reference("r/i", &digest);
    proxy.push_fault(Fault::CutAfter(1 << 20));
    fetch(&cache)
        .args(["--retries", "0"])
        .arg(&r)
        .assert()
        .code(6);
    proxy.push_fault(Fault::IgnoreRange);
    let out = fetch(&cache).arg("--json").arg(&r).assert().success();
    assert_eq!(
        json_lines(&out.get_output().stdout)[0]["bytes_transferred"],
        2 << 20
    );
    assert_eq!(sha256_file(&cache.blob_path(&digest)), digest);
}

/// Starts a fetch through a proxy that stalls mid-body, waits until the partial is on disk, and
/// returns the child.
// The caller waits for the child it gets back; clippy cannot see that through the return.
#[allow(clippy::zombie_processes)]
fn start_stalled_fetch(cache: &TempCache, proxy: &FaultProxy, r: &str) -> std::process::Child {
    proxy.push_fault(Fault::Stall {
        after: 1 << 20,
        secs: 30,
    });
    let mut child = layerget_process()
        .arg("--cache-dir")
        .arg(cache.path())
        .args(["-q", "fetch", r])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let partial: u64 = files_under(&cache.path().join("ingest"))
            .iter()
            .filter(|p| p.ends_with("data"))
            .map(|p| fs::metadata(p).map_or(0, |m| m.len()))
            .sum();
        if partial >= 1 << 20 {
            return child;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the fetch never wrote its first MiB");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn signal(child: &std::process::Child, sig: &str) {
    let status = Command::new("kill")
        .args([sig, &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

#[test]
fn ctrl_c_exits_130_keeps_the_partial_and_publishes_nothing() {
    let registry = TestRegistry::start();
    let proxy = FaultProxy::start(&registry.addr());
    let cache = TempCache::new();
    let digest = registry.push_generated_blob("k/c", 3 << 20, 9);
    let r = proxy.reference("k/c", &digest);
    let mut child = start_stalled_fetch(&cache, &proxy, &r);
    signal(&child, "-INT");
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(130));
    assert!(files_under(&cache.path().join("blobs")).is_empty());
    // The rerun asks only for the rest.
    fetch(&cache).arg(&r).assert().success();
    let range = proxy
        .requests()
        .last()
        .unwrap()
        .header("range")
        .map(str::to_owned);
    assert!(range.is_some_and(|r| r.starts_with("bytes=") && !r.starts_with("bytes=0-")));
    assert_eq!(sha256_file(&cache.blob_path(&digest)), digest);
}

#[test]
fn kill_9_leaves_no_blob_and_the_rerun_resumes() {
    let registry = TestRegistry::start();
    let proxy = FaultProxy::start(&registry.addr());
    let cache = TempCache::new();
    let size = 3 << 20;
    let digest = registry.push_generated_blob("k/n", size, 10);
    let r = proxy.reference("k/n", &digest);
    let mut child = start_stalled_fetch(&cache, &proxy, &r);
    signal(&child, "-KILL");
    child.wait().unwrap();
    assert!(files_under(&cache.path().join("blobs")).is_empty());
    // The dead process's lock does not block the rerun.
    let out = fetch(&cache).arg("--json").arg(&r).assert().success();
    let transferred = json_lines(&out.get_output().stdout)[0]["bytes_transferred"]
        .as_u64()
        .unwrap();
    assert!(
        transferred <= size - (1 << 20),
        "re-sent {transferred} of {size}"
    );
    assert_eq!(sha256_file(&cache.blob_path(&digest)), digest);
}

#[test]
fn four_processes_fetching_one_blob_make_one_download() {
    let registry = TestRegistry::start();
    let proxy = FaultProxy::start(&registry.addr());
    let cache = TempCache::new();
    let digest = registry.push_generated_blob("c/p", 8 << 20, 11);
    let r = proxy.reference("c/p", &digest);
    // The first GET stalls a little, so the others find the lock taken.
    proxy.push_fault(Fault::Stall {
        after: 1 << 20,
        secs: 2,
    });
    let children: Vec<_> = (0..4)
        .map(|_| {
            layerget_process()
                .arg("--cache-dir")
                .arg(cache.path())
                .args(["fetch", &r])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let mut waited = 0;
    for child in children {
        let out = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{stderr}");
        assert_eq!(
            String::from_utf8_lossy(&out.stdout).trim(),
            cache.blob_path(&digest).to_str().unwrap()
        );
        if stderr.contains("waiting for another layerget (pid") {
            waited += 1;
        }
    }
    let gets = proxy
        .requests()
        .iter()
        .filter(|q| q.method == "GET")
        .count();
    assert_eq!(gets, 1, "{:?}", proxy.requests());
    assert!(waited >= 1, "no process said it was waiting");
    assert_eq!(sha256_file(&cache.blob_path(&digest)), digest);
}

#[test]
fn a_closed_stdout_is_not_an_error() {
    let registry = TestRegistry::start();
    let cache = TempCache::new();
    let digest = registry.push_generated_blob("p/p", 8 << 20, 12);
    let mut child = layerget_process()
        .arg("--cache-dir")
        .arg(cache.path())
        .args(["fetch", "-o", "-", &registry.reference("p/p", &digest)])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let mut first = [0u8; 16];
    stdout.read_exact(&mut first).unwrap();
    drop(stdout);
    let out = child.wait_with_output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn plain_progress_prints_lines_for_ci_logs() {
    let registry = TestRegistry::start();
    let proxy = FaultProxy::start(&registry.addr());
    let cache = TempCache::new();
    let size = 3 << 20;
    let digest = registry.push_generated_blob("p/plain", size, 13);
    proxy.push_fault(Fault::Stall {
        after: 1 << 20,
        secs: 4,
    });
    let short = &digest[..19];
    fetch(&cache)
        .args(["--progress", "plain"])
        .arg(proxy.reference("p/plain", &digest))
        .assert()
        .success()
        .stderr(predicate::str::contains(format!("{short}: ")))
        .stderr(predicate::str::contains(" of 3.0 MiB ("))
        .stderr(predicate::str::contains("/s"));
    // Without a terminal, the default shows no progress at all.
    let cache = TempCache::new();
    let out = fetch(&cache)
        .arg(registry.reference("p/plain", &digest))
        .assert()
        .success();
    let stderr = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    assert!(!stderr.contains(" of 3.0 MiB"), "{stderr}");
}
