//! Transfers that survive the real world: retries, resume inside one process, stalls,
//! rate limits and redirects. The real reference registry holds the content; the fault proxy
//! in `support` misbehaves on demand in front of it.

use std::time::Duration;

use predicates::prelude::*;
use serde_json::Value;

use crate::support::*;

fn fetch(cache: &TempCache) -> assert_cmd::Command {
    let mut cmd = layerget();
    cmd.arg("--cache-dir").arg(cache.path()).arg("fetch");
    cmd
}

fn json(out: &assert_cmd::assert::Assert) -> Value {
    serde_json::from_slice(&out.get_output().stdout).unwrap()
}

fn gets(proxy: &FaultProxy) -> Vec<RecordedRequest> {
    proxy
        .requests()
        .into_iter()
        .filter(|r| r.method == "GET")
        .collect()
}

#[test]
fn two_cuts_then_success_resume_with_closed_ranges() {
    let registry = TestRegistry::start();
    let proxy = FaultProxy::start(&registry.addr());
    let cache = TempCache::new();
    let size: u64 = 6 << 20;
    let digest = registry.push_generated_blob("t/cut", size, 21);
    proxy.push_fault(Fault::CutAfter(1 << 20));
    proxy.push_fault(Fault::CutAfter(2 << 20));
    let out = fetch(&cache)
        .arg("--json")
        .arg(proxy.reference("t/cut", &digest))
        .assert()
        .success()
        .stderr(predicate::str::contains("attempt 1 failed"))
        .stderr(predicate::str::contains("attempt 2 failed"));
    let line = json(&out);
    let requests = gets(&proxy);
    assert_eq!(requests.len(), 3);
    assert_eq!(requests[0].header("range"), None);
    // Each resume asks for exactly the rest, as a closed range, from what is on disk.
    let r1 = requests[1].header("range").unwrap().to_owned();
    let r2 = requests[2].header("range").unwrap().to_owned();
    let start = |r: &str| -> u64 {
        r.strip_prefix("bytes=")
            .unwrap()
            .split('-')
            .next()
            .unwrap()
            .parse()
            .unwrap()
    };
    assert_eq!(r1, format!("bytes={}-{}", start(&r1), size - 1));
    assert_eq!(r2, format!("bytes={}-{}", start(&r2), size - 1));
    assert!(
        start(&r1) >= 1 << 19 && start(&r2) > start(&r1),
        "{r1} {r2}"
    );
    // Nothing already verified was sent twice: total bytes = size (+ what was cut in flight).
    let transferred = line["bytes_transferred"].as_u64().unwrap();
    assert!(transferred <= size + (2 << 20), "{transferred}");
    assert_eq!(sha256_file(&cache.blob_path(&digest)), digest);
}

#[test]
fn a_stalled_body_times_out_and_resumes() {
    let registry = TestRegistry::start();
    let proxy = FaultProxy::start(&registry.addr());
    let cache = TempCache::new();
    let digest = registry.push_generated_blob("t/stall", 3 << 20, 22);
    proxy.push_fault(Fault::Stall {
        after: 1 << 20,
        secs: 30,
    });
    fetch(&cache)
        .args(["--stall-timeout", "1"])
        .arg(proxy.reference("t/stall", &digest))
        .timeout(Duration::from_secs(25))
        .assert()
        .success()
        .stderr(predicate::str::contains("timed out"));
    let requests = gets(&proxy);
    assert_eq!(requests.len(), 2);
    assert!(requests[1].header("range").is_some());
    assert_eq!(sha256_file(&cache.blob_path(&digest)), digest);
}

#[test]
fn ignored_range_in_the_same_process_starts_over() {
    let registry = TestRegistry::start();
    let proxy = FaultProxy::start(&registry.addr());
    let cache = TempCache::new();
    let size: u64 = 2 << 20;
    let digest = registry.push_generated_blob("t/ign", size, 23);
    proxy.push_fault(Fault::CutAfter(1 << 20));
    proxy.push_fault(Fault::IgnoreRange);
    fetch(&cache)
        .arg(proxy.reference("t/ign", &digest))
        .assert()
        .success()
        .stderr(predicate::str::contains("ignored the Range request"));
    assert_eq!(sha256_file(&cache.blob_path(&digest)), digest);
}

#[test]
fn server_errors_are_retried() {
    let registry = TestRegistry::start();
    let proxy = FaultProxy::start(&registry.addr());
    let cache = TempCache::new();
    let digest = registry.push_blob("t/5xx", b"eventually served");
    proxy.push_fault(Fault::status(503, "busy"));
    proxy.push_fault(Fault::status(
        503,
        r#"{"errors":[{"code":"UNAVAILABLE","message":"later"}]}"#,
    ));
    fetch(&cache)
        .arg(proxy.reference("t/5xx", &digest))
        .assert()
        .success();
    assert_eq!(gets(&proxy).len(), 3);
    assert_eq!(
        std::fs::read(cache.blob_path(&digest)).unwrap(),
        b"eventually served"
    );
}

#[test]
fn persistent_server_errors_exit_6_and_say_how_long_it_tried() {
    let registry = TestRegistry::start();
    let proxy = FaultProxy::start(&registry.addr());
    let cache = TempCache::new();
    let digest = registry.push_blob("t/down", b"never served");
    proxy.set_default(Fault::status(502, "bad gateway"));
    fetch(&cache)
        .args(["--retries", "2"])
        .arg(proxy.reference("t/down", &digest))
        .assert()
        .code(6)
        .stderr(predicate::str::contains("HTTP 502 Bad Gateway"))
        .stderr(predicate::str::contains("gave up after 3 attempts over"));
    assert_eq!(gets(&proxy).len(), 3);
}

#[test]
fn final_errors_are_not_retried() {
    let registry = TestRegistry::start();
    let proxy = FaultProxy::start(&registry.addr());
    let cache = TempCache::new();
    let digest = sha256_digest(b"missing");
    fetch(&cache)
        .arg(proxy.reference("t/404", &digest))
        .assert()
        .code(3);
    assert_eq!(gets(&proxy).len(), 1);
}

fn too_many(after: &str) -> Fault {
    Fault::Status {
        code: 429,
        headers: vec![("Retry-After".into(), after.into())],
        body: r#"{"errors":[{"code":"TOOMANYREQUESTS","message":"slow down"}]}"#.into(),
    }
}

#[test]
fn retry_after_is_honoured() {
    let registry = TestRegistry::start();
    let proxy = FaultProxy::start(&registry.addr());
    let cache = TempCache::new();
    let digest = registry.push_blob("t/429", b"rate limited content");
    proxy.push_fault(too_many("1"));
    fetch(&cache)
        .arg(proxy.reference("t/429", &digest))
        .assert()
        .success()
        .stderr(predicate::str::contains("retrying in 1.0 s"));
    let requests = gets(&proxy);
    assert_eq!(requests.len(), 2);
    let waited = requests[1].at - requests[0].at;
    assert!(
        waited >= Duration::from_millis(950),
        "waited only {waited:?}"
    );
}

#[test]
fn persistent_rate_limiting_exits_7() {
    let registry = TestRegistry::start();
    let proxy = FaultProxy::start(&registry.addr());
    let cache = TempCache::new();
    let digest = registry.push_blob("t/429x", b"x");
    proxy.set_default(too_many("0"));
    fetch(&cache)
        .args(["--retries", "1"])
        .arg(proxy.reference("t/429x", &digest))
        .assert()
        .code(7)
        .stderr(predicate::str::contains("rate limiting"))
        .stderr(predicate::str::contains("TOOMANYREQUESTS: slow down"));
}

#[test]
fn a_429_slows_every_transfer_to_that_host() {
    let registry = TestRegistry::start();
    let proxy = FaultProxy::start(&registry.addr());
    let cache = TempCache::new();
    let digests: Vec<String> = (0..3u8)
        .map(|i| registry.push_blob("t/host", &[i; 100]))
        .collect();
    proxy.push_fault(too_many("2"));
    let refs: Vec<String> = digests
        .iter()
        .map(|d| proxy.reference("t/host", d))
        .collect();
    fetch(&cache)
        .args(["-j", "2"])
        .args(&refs)
        .assert()
        .success();
    let mut requests = gets(&proxy);
    requests.sort_by_key(|r| r.at);
    assert_eq!(requests.len(), 4, "three blobs plus one retry");
    // The first request got the 429; the one running beside it was already in flight. Every
    // request that started later, for any blob, waited out the Retry-After.
    let t0 = requests[0].at;
    for later in &requests[2..] {
        let waited = later.at - t0;
        assert!(
            waited >= Duration::from_millis(1900),
            "{} after {waited:?}",
            later.path
        );
    }
}

#[test]
fn a_corrupted_byte_exits_5_publishes_nothing_and_a_clean_retry_succeeds() {
    let registry = TestRegistry::start();
    let proxy = FaultProxy::start(&registry.addr());
    let cache = TempCache::new();
    let digest = registry.push_generated_blob("t/bad", 1 << 20, 24);
    let r = proxy.reference("t/bad", &digest);
    proxy.push_fault(Fault::CorruptByte(12345));
    fetch(&cache)
        .arg(&r)
        .assert()
        .code(5)
        .stderr(predicate::str::contains("does not match its digest"));
    assert!(!cache.blob_path(&digest).exists());
    assert_eq!(gets(&proxy).len(), 1, "an integrity failure is not retried");
    fetch(&cache).arg(&r).assert().success();
    assert_eq!(sha256_file(&cache.blob_path(&digest)), digest);
}

#[test]
fn a_redirect_to_object_storage_gets_no_authorization_or_referer() {
    let registry = TestRegistry::start();
    let proxy = FaultProxy::start(&registry.addr());
    let cache = TempCache::new();
    let data = b"layer bytes that live in object storage".repeat(1000);
    let digest = registry.push_blob("t/cdn", &data);
    let storage = redirect_target(data.clone());
    // A relative redirect on the registry first, then one to the storage host with a
    // presigned-looking query.
    proxy.push_fault(Fault::Redirect {
        location: format!("/v2/t/cdn/blobs/{digest}?hop=1"),
        status: 307,
    });
    proxy.push_fault(Fault::Redirect {
        location: format!("{}?X-Amz-Signature=secret", storage.url("/bucket/blob")),
        status: 307,
    });
    fetch(&cache)
        .arg(proxy.reference("t/cdn", &digest))
        .assert()
        .success()
        .stderr(predicate::str::contains("secret").not());
    assert_eq!(std::fs::read(cache.blob_path(&digest)).unwrap(), data);
    let at_storage = storage.requests();
    assert_eq!(at_storage.len(), 1);
    assert_eq!(at_storage[0].header("authorization"), None);
    assert_eq!(at_storage[0].header("referer"), None);
}

#[test]
fn a_cut_at_object_storage_resumes_through_the_registry() {
    let registry = TestRegistry::start();
    let front = FaultProxy::start(&registry.addr());
    // Stands in for object storage: serves the same content, cuts the first body.
    let storage = FaultProxy::start(&registry.addr());
    let cache = TempCache::new();
    let size: u64 = 3 << 20;
    let digest = registry.push_generated_blob("t/presigned", size, 25);
    let presigned = format!(
        "http://{}/v2/t/presigned/blobs/{digest}?sig=abc",
        storage.addr()
    );
    for _ in 0..2 {
        front.push_fault(Fault::Redirect {
            location: presigned.clone(),
            status: 307,
        });
    }
    storage.push_fault(Fault::CutAfter(1 << 20));
    fetch(&cache)
        .arg(front.reference("t/presigned", &digest))
        .assert()
        .success();
    // Presigned URLs expire: the resume asked the registry again for a fresh redirect.
    let at_front = gets(&front);
    assert_eq!(at_front.len(), 2);
    assert!(at_front[1].header("range").is_some());
    let at_storage = gets(&storage);
    assert_eq!(at_storage.len(), 2);
    assert_eq!(at_storage[1].header("range"), at_front[1].header("range"));
    assert_eq!(sha256_file(&cache.blob_path(&digest)), digest);
}

#[test]
fn redirect_loops_are_cut_off() {
    let registry = TestRegistry::start();
    let proxy = FaultProxy::start(&registry.addr());
    let cache = TempCache::new();
    let digest = sha256_digest(b"loop");
    proxy.set_default(Fault::Redirect {
        location: format!("/v2/t/loop/blobs/{digest}"),
        status: 302,
    });
    fetch(&cache)
        .args(["--retries", "0"])
        .arg(proxy.reference("t/loop", &digest))
        .assert()
        .failure()
        .stderr(predicate::str::contains("redirect"));
    assert_eq!(proxy.requests().len(), 11);
}
