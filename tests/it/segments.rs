//! Segmented downloads of one big blob: parallel closed ranges, per-segment resume, fallback
//! when a server ignores Range, and the same integrity rules as one stream. The blobs here are
//! small and `--segment-min` is lowered, so the tests stay fast.

use std::process::Stdio;
use std::time::{Duration, Instant};

use predicates::prelude::*;
use serde_json::Value;

use crate::support::*;

const SIZE: u64 = 8 << 20;

fn segmented(cache: &TempCache) -> assert_cmd::Command {
    let mut cmd = layerget();
    cmd.arg("--cache-dir").arg(cache.path()).args([
        "fetch",
        "--segments",
        "4",
        "--segment-min",
        "1M",
        "--json",
    ]);
    cmd
}

fn gets(proxy: &FaultProxy) -> Vec<RecordedRequest> {
    proxy
        .requests()
        .into_iter()
        .filter(|r| r.method == "GET")
        .collect()
}

fn transferred(out: &assert_cmd::assert::Assert) -> u64 {
    let v: Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    v["bytes_transferred"].as_u64().unwrap()
}

#[test]
fn a_big_blob_is_fetched_in_closed_ranges() {
    let registry = TestRegistry::start();
    let proxy = FaultProxy::start(&registry.addr());
    let cache = TempCache::new();
    let digest = registry.push_generated_blob("s/ok", SIZE, 31);
    let out = segmented(&cache)
        .arg(proxy.reference("s/ok", &digest))
        .assert()
        .success();
    assert_eq!(transferred(&out), SIZE);
    let mut ranges: Vec<Option<String>> = gets(&proxy)
        .iter()
        .map(|r| r.header("range").map(str::to_owned))
        .collect();
    ranges.sort();
    let q = SIZE / 4;
    assert_eq!(
        ranges,
        vec![
            None,
            Some(format!("bytes={q}-{}", 2 * q - 1)),
            Some(format!("bytes={}-{}", 2 * q, 3 * q - 1)),
            Some(format!("bytes={}-{}", 3 * q, SIZE - 1)),
        ]
    );
    assert_eq!(sha256_file(&cache.blob_path(&digest)), digest);
}

#[test]
fn blobs_below_segment_min_use_one_stream() {
    let registry = TestRegistry::start();
    let proxy = FaultProxy::start(&registry.addr());
    let cache = TempCache::new();
    let digest = registry.push_generated_blob("s/small", SIZE, 32);
    layerget()
        .arg("--cache-dir")
        .arg(cache.path())
        .args(["fetch", "--segments", "4", "--segment-min", "16M"])
        .arg(proxy.reference("s/small", &digest))
        .assert()
        .success();
    assert_eq!(gets(&proxy).len(), 1);
}

#[test]
fn a_cut_segment_resumes_on_its_own() {
    let registry = TestRegistry::start();
    let proxy = FaultProxy::start(&registry.addr());
    let cache = TempCache::new();
    let digest = registry.push_generated_blob("s/cut", SIZE, 33);
    // The second request is one of the ranged segments; cut it half way.
    proxy.push_fault(Fault::None);
    proxy.push_fault(Fault::CutAfter(1 << 20));
    let out = segmented(&cache)
        .arg(proxy.reference("s/cut", &digest))
        .assert()
        .success();
    // Bytes already written are not fetched again (segments cancelled mid-flight may repeat
    // what was in their socket buffers, no more).
    assert!(
        transferred(&out) < SIZE + (2 << 20),
        "{}",
        transferred(&out)
    );
    let resumed: Vec<String> = gets(&proxy)
        .iter()
        .skip(4)
        .filter_map(|r| r.header("range").map(str::to_owned))
        .collect();
    assert!(!resumed.is_empty());
    assert_eq!(sha256_file(&cache.blob_path(&digest)), digest);
}

#[test]
fn a_server_that_ignores_range_falls_back_to_one_stream() {
    let registry = TestRegistry::start();
    let proxy = FaultProxy::start(&registry.addr());
    let cache = TempCache::new();
    let digest = registry.push_generated_blob("s/ign", SIZE, 34);
    proxy.set_default(Fault::IgnoreRange);
    segmented(&cache)
        .arg(proxy.reference("s/ign", &digest))
        .assert()
        .success()
        .stderr(predicate::str::contains("ignored a Range request"));
    assert_eq!(sha256_file(&cache.blob_path(&digest)), digest);
}

#[test]
fn a_corrupt_segment_exits_5_and_publishes_nothing() {
    let registry = TestRegistry::start();
    let proxy = FaultProxy::start(&registry.addr());
    let cache = TempCache::new();
    let digest = registry.push_generated_blob("s/bad", SIZE, 35);
    proxy.push_fault(Fault::None);
    proxy.push_fault(Fault::CorruptByte(777));
    segmented(&cache)
        .arg(proxy.reference("s/bad", &digest))
        .assert()
        .code(5);
    assert!(!cache.blob_path(&digest).exists());
    assert!(
        !cache
            .path()
            .join("ingest/sha256")
            .join(digest.split_once(':').unwrap().1)
            .exists()
    );
}

#[test]
fn kill_9_during_segments_resends_only_what_no_segment_wrote() {
    let registry = TestRegistry::start();
    let proxy = FaultProxy::start(&registry.addr());
    let cache = TempCache::new();
    let digest = registry.push_generated_blob("s/kill", SIZE, 36);
    let r = proxy.reference("s/kill", &digest);
    // Every segment sends 1 MiB, then stalls.
    proxy.set_default(Fault::Stall {
        after: 1 << 20,
        secs: 30,
    });
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_layerget"))
        .env("HOME", isolated_home())
        .arg("--cache-dir")
        .arg(cache.path())
        .args(["-q", "fetch", "--segments", "4", "--segment-min", "1M", &r])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let state = cache
        .path()
        .join("ingest/sha256")
        .join(digest.split_once(':').unwrap().1)
        .join("state.json");
    let deadline = Instant::now() + Duration::from_secs(20);
    let recorded = loop {
        let written: u64 = std::fs::read(&state)
            .ok()
            .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
            .and_then(|v| {
                v["segments"]
                    .as_array()
                    .map(|a| a.iter().map(|s| s["written"].as_u64().unwrap_or(0)).sum())
            })
            .unwrap_or(0);
        if written >= 4 << 20 || Instant::now() > deadline {
            break written;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let _ = child.kill();
    let _ = child.wait();
    assert!(
        recorded >= 4 << 20,
        "segments recorded only {recorded} bytes"
    );
    assert!(!cache.blob_path(&digest).exists());
    proxy.set_default(Fault::None);
    let out = segmented(&cache).arg(&r).assert().success();
    assert!(
        transferred(&out) <= SIZE - (4 << 20),
        "re-sent {}",
        transferred(&out)
    );
    assert_eq!(sha256_file(&cache.blob_path(&digest)), digest);
}

/// Faults on the ranged segment requests (the second request is the first of them) behave as
/// in single-stream mode: retried, resumed, and the blob verifies.
fn segment_fault_is_survived(fault: Fault, extra_args: &[&str]) -> Vec<RecordedRequest> {
    let registry = TestRegistry::start();
    let proxy = FaultProxy::start(&registry.addr());
    let cache = TempCache::new();
    let digest = registry.push_generated_blob("s/fault", SIZE, 37);
    proxy.push_fault(Fault::None);
    proxy.push_fault(fault);
    segmented(&cache)
        .args(extra_args)
        .arg(proxy.reference("s/fault", &digest))
        .timeout(Duration::from_secs(60))
        .assert()
        .success();
    assert_eq!(sha256_file(&cache.blob_path(&digest)), digest);
    gets(&proxy)
}

#[test]
fn a_503_on_a_segment_is_retried() {
    let requests = segment_fault_is_survived(Fault::status(503, "busy"), &[]);
    assert!(requests.len() >= 5, "{}", requests.len());
}

#[test]
fn a_429_on_a_segment_waits_for_retry_after() {
    let requests = segment_fault_is_survived(
        Fault::Status {
            code: 429,
            headers: vec![("Retry-After".into(), "1".into())],
            body: String::new(),
        },
        &[],
    );
    // The first 4 requests are the first attempt (one full GET, three segments); the rest are
    // retries, and there must be some, each sent after Retry-After.
    let first = requests[0].at;
    let retries = retried(&requests);
    assert!(!retries.is_empty(), "the 429 was not retried: {requests:?}");
    for r in retries {
        assert!(
            r.at - first >= Duration::from_millis(900),
            "a request went out before Retry-After elapsed: {r:?}"
        );
    }
}

/// The requests after the first attempt's 4 (one full GET, three segments).
fn retried(requests: &[RecordedRequest]) -> &[RecordedRequest] {
    requests.get(4..).unwrap_or_default()
}

/// Where a request's `Range: bytes=N-…` starts.
fn range_start(r: &RecordedRequest) -> Option<u64> {
    let spec = r.header("range")?.strip_prefix("bytes=")?;
    spec.split_once('-')?.0.parse().ok()
}

#[test]
fn a_stalled_segment_times_out_and_resumes() {
    let requests = segment_fault_is_survived(
        Fault::Stall {
            after: 1 << 19,
            secs: 30,
        },
        &["--stall-timeout", "1"],
    );
    // It timed out (so it was retried), and a retry resumed a segment past what it had written
    // (the stalled one had half a MiB): a range that starts inside a segment, not at its start.
    let retries = retried(&requests);
    assert!(
        !retries.is_empty(),
        "the stall was not retried: {requests:?}"
    );
    let segment = SIZE / 4;
    assert!(
        retries
            .iter()
            .filter_map(range_start)
            .any(|start| start % segment != 0),
        "no retry resumed inside a segment: {retries:?}"
    );
}

#[test]
fn segments_follow_redirects_to_storage_without_credentials() {
    let registry = TestRegistry::start();
    let front = FaultProxy::start(&registry.addr());
    let storage = FaultProxy::start(&registry.addr());
    let cache = TempCache::new();
    let digest = registry.push_generated_blob("s/cdn", SIZE, 38);
    let presigned = format!("http://{}/v2/s/cdn/blobs/{digest}?sig=abc", storage.addr());
    front.set_default(Fault::Redirect {
        location: presigned,
        status: 307,
    });
    segmented(&cache)
        .arg(front.reference("s/cdn", &digest))
        .assert()
        .success();
    let at_storage = gets(&storage);
    assert_eq!(at_storage.len(), 4);
    assert!(
        at_storage
            .iter()
            .all(|r| r.header("authorization").is_none())
    );
    assert_eq!(
        at_storage
            .iter()
            .filter(|r| r.header("range").is_some())
            .count(),
        3
    );
    assert_eq!(sha256_file(&cache.blob_path(&digest)), digest);
}
