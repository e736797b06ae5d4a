//! `layerget push` and `copy` against the reference registry: an image pulled from one registry
//! is pushed into another and read back by `skopeo` byte for byte with the same manifest
//! digest; a Docker image goes out with its original bytes; a second push sends no blob bytes
//! (HEAD-skip); a push within one registry mounts; a chunked upload cut mid-body resumes from
//! the session's `Range`; wrong credentials exit 4, a destination that lies about the digest
//! exit 5, a cache missing a blob exit 3 before any request.

use std::fs;

use serde_json::Value;

use crate::support::*;

fn run(cache: &TempCache, args: &[&str]) -> assert_cmd::assert::Assert {
    layerget()
        .arg("--cache-dir")
        .arg(cache.path())
        .args(args)
        .assert()
}

fn json(a: &assert_cmd::assert::Assert) -> Value {
    serde_json::from_str(stdout(a).trim()).unwrap_or_else(|e| panic!("{e}: {}", stdout(a)))
}

/// `skopeo copy docker://… dir:…`: the files skopeo wrote (name → bytes).
fn skopeo_dir(reference: &str) -> Vec<(String, Vec<u8>)> {
    let dir = tempfile::tempdir().unwrap();
    let out = skopeo()
        .args(["copy", "--src-tls-verify=false", "--retry-times", "0"])
        .arg(format!("docker://{reference}"))
        .arg(format!("dir:{}", dir.path().display()))
        .output()
        .expect("run skopeo (apt-get install skopeo)");
    assert!(
        out.status.success(),
        "skopeo copy {reference}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut files: Vec<(String, Vec<u8>)> = fs::read_dir(dir.path())
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            (
                e.file_name().to_string_lossy().into_owned(),
                fs::read(e.path()).unwrap(),
            )
        })
        .collect();
    files.sort();
    files
}

/// Asserts the registry serves `image` at `reference`: the same manifest bytes (so the same
/// digest), and config and layers that hash to their digests.
fn assert_served(reference: &str, image: &Image) {
    assert_eq!(
        skopeo_raw(reference),
        image.manifest,
        "{reference}: manifest"
    );
    let files = skopeo_dir(reference);
    for d in std::iter::once(&image.config).chain(&image.layers) {
        let hex = d.split_once(':').unwrap().1;
        let (_, bytes) = files
            .iter()
            .find(|(n, _)| n == hex)
            .unwrap_or_else(|| panic!("{reference}: skopeo wrote no {d}"));
        assert_eq!(sha256_digest(bytes), *d, "{reference}: {d}");
    }
}

/// Blob bytes sent upstream through `proxy` (PATCH and PUT bodies).
fn upload_requests(proxy: &FaultProxy) -> Vec<RecordedRequest> {
    proxy
        .requests()
        .into_iter()
        .filter(|r| matches!(r.method.as_str(), "PATCH" | "PUT") && r.path.contains("/blobs/"))
        .collect()
}

fn pulled(
    registry: &TestRegistry,
    repo: &str,
    tag: &str,
    docker: bool,
) -> (TempCache, Image, String) {
    let image = push_image(
        registry,
        repo,
        Some(tag),
        docker,
        "amd64",
        &[layer(11, 300_000), layer(12, 5000)],
    );
    let cache = TempCache::new();
    let name = format!("{}/{repo}:{tag}", registry.addr());
    run(&cache, &["pull", &name]).success();
    (cache, image, name)
}

#[test]
fn push_to_another_registry_reads_back_identical_and_a_second_push_sends_no_blob() {
    let source = TestRegistry::start();
    let (cache, image, name) = pulled(&source, "team/app", "v1", false);
    let dest = TestRegistry::start();
    let proxy = FaultProxy::start(&dest.addr());

    // Without a tag, the source's tag is used.
    let target = format!("{}/mirror/app", proxy.addr());
    let a = run(&cache, &["--json", "push", &name, &target]).success();
    let doc = json(&a);
    assert_eq!(doc["ref"], name.as_str());
    assert_eq!(doc["dest"], format!("{target}:v1").as_str());
    assert_eq!(doc["digest"], image.digest.as_str());
    assert_eq!(doc["blobs_pushed"], 3, "{doc}");
    assert_eq!(doc["blobs_mounted"], 0);
    assert_eq!(doc["blobs_present"], 0);
    assert!(doc["bytes_uploaded"].as_u64().unwrap() >= 305_000, "{doc}");
    assert!(doc["duration_ms"].is_u64());
    assert_served(&format!("{}/mirror/app:v1", dest.addr()), &image);
    assert_eq!(upload_requests(&proxy).len(), 3);

    // Again: every blob is there (HEAD), no blob bytes are sent; the line says `present`.
    let before = upload_requests(&proxy).len();
    let a = run(&cache, &["push", &name, &target]).success();
    let line = stdout(&a);
    let line = line.trim();
    assert!(
        line.starts_with(&format!("{target}:v1 {} 2 layers, ", image.digest))
            && line.ends_with(" present"),
        "{line}"
    );
    assert_eq!(
        upload_requests(&proxy).len(),
        before,
        "blob bytes sent again"
    );
    let heads = proxy
        .requests()
        .iter()
        .filter(|r| r.method == "HEAD" && r.path.contains("/blobs/"))
        .count();
    assert!(heads >= 6, "{heads} HEADs");

    // Another tag, explicitly.
    let tagged = format!("{}/mirror/app:stable", dest.addr());
    run(&cache, &["push", &name, &tagged]).success();
    assert_eq!(skopeo_raw(&tagged), image.manifest);
}

/// `layerget push` into `layerget serve --allow-push` (issue 11's registry): skopeo reads the
/// same manifest and blobs back, a second push sends no blob bytes, and `layerget pull` from it
/// into another cache records the same digest.
#[test]
fn push_into_serve_reads_back_identical_and_pulls_again() {
    let source = TestRegistry::start();
    let (cache, image, name) = pulled(&source, "team/app", "v1", false);
    let served = TempCache::new();
    let serve = Serve::start(served.path(), &["--allow-push"]);
    let target = format!("{}/team/app:v1", serve.addr);
    let a = run(&cache, &["--json", "push", &name, &target]).success();
    let doc = json(&a);
    assert_eq!(doc["digest"], image.digest.as_str(), "{doc}");
    assert_eq!(doc["blobs_pushed"], 3, "{doc}");
    assert_served(&target, &image);
    let a = run(&cache, &["--json", "push", &name, &target]).success();
    let doc = json(&a);
    assert_eq!(
        (doc["blobs_pushed"].as_u64(), doc["blobs_present"].as_u64()),
        (Some(0), Some(3)),
        "{doc}"
    );
    let again = TempCache::new();
    let a = run(&again, &["--json", "pull", &target]).success();
    assert_eq!(json(&a)["digest"], image.digest.as_str());
}

#[test]
fn a_docker_image_is_pushed_as_the_registry_s_original_bytes() {
    let source = TestRegistry::start();
    let (cache, image, name) = pulled(&source, "legacy/app", "1.0", true);
    let dest = TestRegistry::start();
    let target = format!("{}/legacy/app", dest.addr());
    let a = run(&cache, &["--json", "push", &name, &target]).success();
    let doc = json(&a);
    assert_eq!(doc["digest"], image.digest.as_str(), "{doc}");
    assert_eq!(doc["media_type"], DOCKER_MANIFEST);
    assert_served(&format!("{target}:1.0"), &image);
}

#[test]
fn a_push_within_one_registry_mounts_the_blobs() {
    let registry = TestRegistry::start();
    // Pulled and pushed through the proxy, which records the requests (the registry's own
    // access log is off in the tests).
    let proxy = FaultProxy::start(&registry.addr());
    let image = push_image(
        &registry,
        "team/app",
        Some("v1"),
        false,
        "amd64",
        &[layer(13, 4000)],
    );
    let cache = TempCache::new();
    let name = format!("{}/team/app:v1", proxy.addr());
    run(&cache, &["pull", &name]).success();
    let target = format!("{}/team/copy:v1", proxy.addr());
    let a = run(&cache, &["--json", "push", &name, &target]).success();
    let doc = json(&a);
    assert_eq!(doc["blobs_mounted"], 2, "{doc}");
    assert_eq!(doc["blobs_pushed"], 0, "{doc}");
    let mounts: Vec<String> = proxy
        .requests()
        .into_iter()
        .filter(|r| r.method == "POST")
        .map(|r| r.path)
        .collect();
    assert_eq!(mounts.len(), 2, "{mounts:?}");
    assert!(
        mounts
            .iter()
            .all(|p| p.contains("mount=sha256") && p.contains("from=team%2Fapp")),
        "{mounts:?}"
    );
    assert!(upload_requests(&proxy).is_empty());
    assert_served(&format!("{}/team/copy:v1", registry.addr()), &image);
}

/// A proxy before the registry that refuses bodies over 3 MiB (as nginx's
/// `client_max_body_size` does) gets chunks half as large and the push goes on; one that refuses
/// everything over 512 KiB is refused in turn with its 413 (exit 2 or 7, never a loop).
#[test]
fn a_413_for_a_large_body_halves_the_chunks() {
    let dest = TestRegistry::start();
    let proxy = FaultProxy::start(&dest.addr());
    let cache = TempCache::new();
    let size: u64 = 10 << 20;
    let source = TestRegistry::start();
    let digest = source.push_generated_blob("blobs/src", size, 4);
    run(&cache, &["fetch", &source.reference("blobs/src", &digest)]).success();
    proxy.set_default(Fault::MaxBody(3 << 20));
    let push = |repo: &str| {
        layerget()
            .arg("--cache-dir")
            .arg(cache.path())
            .args(["--json", "push", "--blob", &digest])
            .arg(format!("{}/{repo}", proxy.addr()))
            .args(["--chunk-size", "8M"])
            .assert()
    };
    let doc = json(&push("blobs/big").success());
    assert_eq!(doc["blobs_pushed"], 1, "{doc}");
    let patches: Vec<u64> = proxy
        .requests()
        .iter()
        .filter(|r| r.method == "PATCH")
        .filter_map(|r| r.header("content-length")?.parse().ok())
        .collect();
    // 8 MiB refused, 4 MiB refused, then 2 MiB chunks to the end.
    assert_eq!(patches[..2], [8 << 20, 4 << 20], "{patches:?}");
    assert!(patches[2..].iter().all(|&n| n <= 2 << 20), "{patches:?}");
    assert_eq!(
        patches[2..].iter().sum::<u64>(),
        size,
        "the rest went in the smaller chunks: {patches:?}"
    );
    // The registry has it: a fetch through it verifies.
    run(
        &TempCache::new(),
        &["fetch", &dest.reference("blobs/big", &digest)],
    )
    .success();

    proxy.set_default(Fault::MaxBody(512 << 10));
    let refused = push("blobs/small").failure();
    assert!(stderr(&refused).contains("413"), "{}", stderr(&refused));
}

#[test]
fn push_blob_chunked_resumes_after_a_cut_from_the_session_range() {
    let dest = TestRegistry::start();
    let proxy = FaultProxy::start(&dest.addr());
    let cache = TempCache::new();
    let size: u64 = 5 << 20;
    let source = TestRegistry::start();
    let digest = source.push_generated_blob("blobs/src", size, 3);
    run(&cache, &["fetch", &source.reference("blobs/src", &digest)]).success();

    // HEAD, POST, PATCH 0-1M: faithful; the second PATCH is cut after 300 KB, before the
    // registry saw it; everything after is faithful.
    for _ in 0..3 {
        proxy.push_fault(Fault::None);
    }
    proxy.push_fault(Fault::CutRequestAfter(300_000));
    let target = format!("{}/blobs/dest", proxy.addr());
    let a = run(
        &cache,
        &[
            "--json",
            "push",
            "--blob",
            &digest,
            &target,
            "--chunk-size",
            "1M",
            "--progress",
            "json",
        ],
    )
    .success();
    let doc = json(&a);
    assert_eq!(doc["blobs_pushed"], 1, "{doc}");
    let sent = doc["bytes_uploaded"].as_u64().unwrap();
    // Each byte about once: the cut chunk is sent again, nothing else.
    assert!(sent >= size && sent <= size + (1 << 20) + 300_000, "{sent}");
    // Progress follows the bytes sent, set back to what the session holds after the cut: it
    // ends at the blob's size, never beyond it.
    let events: Vec<Value> = stderr(&a)
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    let done: Vec<&Value> = events.iter().filter(|e| e["event"] == "done").collect();
    assert_eq!(done.len(), 1, "{events:?}");
    assert_eq!(done[0]["bytes"], size, "{events:?}");
    assert!(
        events
            .iter()
            .filter(|e| e["event"] == "progress")
            .all(|e| e["bytes"].as_u64().unwrap() <= size),
        "{events:?}"
    );
    let requests = proxy.requests();
    let methods: Vec<&str> = requests.iter().map(|r| r.method.as_str()).collect();
    // After the cut: the session is asked what it holds (GET), and the upload goes on.
    let cut = methods
        .iter()
        .enumerate()
        .filter(|(_, m)| **m == "PATCH")
        .nth(1)
        .unwrap()
        .0;
    assert_eq!(methods.get(cut + 1), Some(&"GET"), "{methods:?}");
    let patches = upload_requests(&proxy)
        .iter()
        .filter(|r| r.method == "PATCH")
        .map(|r| r.header("content-range").unwrap().to_owned())
        .collect::<Vec<_>>();
    assert_eq!(patches.first().map(String::as_str), Some("0-1048575"));
    assert_eq!(patches.get(1).map(String::as_str), Some("1048576-2097151"));
    assert_eq!(patches.get(2).map(String::as_str), Some("1048576-2097151"));
    assert_eq!(patches.len(), 6, "{patches:?}");
    let r = dest.get_blob("blobs/dest", &digest);
    assert_eq!(r.status, 200);
    assert_eq!(sha256_digest(&r.body), digest);
}

#[test]
fn push_blob_small_is_one_put_and_then_present() {
    let dest = TestRegistry::start();
    let cache = TempCache::new();
    let source = TestRegistry::start();
    let digest = source.push_blob("a/b", b"one small blob");
    run(&cache, &["fetch", &source.reference("a/b", &digest)]).success();
    let target = format!("{}/x/y", dest.addr());
    let a = run(&cache, &["push", "--blob", &digest, &target]).success();
    assert!(stdout(&a).trim().ends_with(" pushed"), "{}", stdout(&a));
    let a = run(&cache, &["push", "--blob", &digest, &target]).success();
    assert!(stdout(&a).trim().ends_with(" present"), "{}", stdout(&a));
    assert_eq!(dest.get_blob("x/y", &digest).body, b"one small blob");
    // In 1-byte chunks: the first answer is `Range: 0-0`, which distribution also sends for
    // an empty session.
    let chunked = format!("{}/x/z", dest.addr());
    run(
        &cache,
        &["push", "--blob", &digest, &chunked, "--chunk-size", "1"],
    )
    .success();
    assert_eq!(dest.get_blob("x/z", &digest).body, b"one small blob");
    // A tag on a blob destination is a usage error.
    run(
        &cache,
        &["push", "--blob", &digest, &format!("{target}:v1")],
    )
    .code(2);
}

#[test]
fn wrong_credentials_exit_4_naming_the_registry() {
    let source = TestRegistry::start();
    let (cache, _, name) = pulled(&source, "team/app", "v1", false);
    let dest = TestRegistry::builder().basic_auth().start();
    let a = layerget()
        .arg("--cache-dir")
        .arg(cache.path())
        .args(["push", &name, &format!("{}/team/app", dest.addr())])
        .args(["--username", BASIC_USER])
        .env("LAYERGET_PASSWORD", "wrong")
        .assert()
        .code(4);
    assert!(stderr(&a).contains(&dest.addr()), "{}", stderr(&a));
    // The right ones work.
    layerget()
        .arg("--cache-dir")
        .arg(cache.path())
        .args(["push", &name, &format!("{}/team/app", dest.addr())])
        .args(["--username", BASIC_USER])
        .env("LAYERGET_PASSWORD", BASIC_PASS)
        .assert()
        .success();
}

#[test]
fn a_destination_that_lies_about_the_manifest_digest_exits_5() {
    let source = TestRegistry::start();
    let (cache, image, name) = pulled(&source, "team/app", "v1", false);
    let lie = format!("sha256:{}", "0".repeat(64));
    let fake = {
        let lie = lie.clone();
        // Has every blob; answers the manifest PUT with another digest.
        RecordingServer::start(move |r| match r.method.as_str() {
            "PUT" if r.path.contains("/manifests/") => {
                ScriptedResponse::new(201, "").header("Docker-Content-Digest", &lie)
            }
            _ => ScriptedResponse::new(200, ""),
        })
    };
    let a = run(
        &cache,
        &["push", &name, &format!("{}/team/app", fake.addr())],
    )
    .code(5);
    let err = stderr(&a);
    assert!(err.contains(&lie) && err.contains(&image.digest), "{err}");
}

#[test]
fn a_cached_image_missing_a_blob_is_refused_before_any_request() {
    let source = TestRegistry::start();
    let (cache, image, name) = pulled(&source, "team/app", "v1", false);
    let layer = cache.blob_path(&image.layers[0]);
    fs::remove_file(&layer).unwrap();
    let fake = RecordingServer::fixed(ScriptedResponse::new(500, "no"));
    let a = run(
        &cache,
        &["push", &name, &format!("{}/team/app", fake.addr())],
    )
    .code(3);
    assert!(stderr(&a).contains(&image.layers[0]), "{}", stderr(&a));
    assert!(fake.requests().is_empty(), "{:?}", fake.requests());
    // Not in the cache at all: exit 3 too.
    run(
        &cache,
        &["push", "127.0.0.1:1/none:v1", &format!("{}/x", fake.addr())],
    )
    .code(3);
}

#[test]
fn copy_between_two_registries_gives_the_same_digest() {
    let source = TestRegistry::start();
    let image = push_image(
        &source,
        "team/app",
        Some("v2"),
        false,
        "amd64",
        &[layer(21, 70_000)],
    );
    let dest = TestRegistry::start();
    let cache = TempCache::new();
    let from = format!("{}/team/app:v2", source.addr());
    let to = format!("{}/copied/app", dest.addr());
    let a = run(&cache, &["--json", "copy", &from, &to]).success();
    let doc = json(&a);
    assert_eq!(doc["digest"], image.digest.as_str(), "{doc}");
    assert_eq!(doc["dest"], format!("{to}:v2").as_str());
    // Each blob pushed once, as soon as it was verified; the final pass found them there.
    assert_eq!(doc["blobs_pushed"], 2, "{doc}");
    assert_eq!(doc["blobs_present"], 0, "{doc}");
    assert_served(&format!("{to}:v2"), &image);
    // Again: everything is there.
    let doc = json(&run(&cache, &["--json", "copy", &from, &to]).success());
    assert_eq!(doc["blobs_pushed"], 0, "{doc}");
    assert_eq!(doc["blobs_present"], 2, "{doc}");
}

#[test]
fn push_into_a_token_registry_asks_for_the_push_scope() {
    let source = TestRegistry::start();
    let (cache, image, name) = pulled(&source, "team/app", "v1", false);
    let setup = crate::auth_support::TokenRegistry::start();
    let target = format!("{}/team/app", setup.addr());
    layerget()
        .arg("--cache-dir")
        .arg(cache.path())
        .args(["push", &name, &target])
        .args(["--username", crate::auth_support::ALICE_USER])
        .env("LAYERGET_PASSWORD", crate::auth_support::ALICE_PASS)
        .assert()
        .success();
    assert!(
        !setup
            .token_requests_for("repository:team/app:pull,push")
            .is_empty(),
        "{:?}",
        setup.tokens.requests()
    );
    // Read back through the plain registry on the same storage.
    assert_served(&format!("{}/team/app:v1", setup.seed.addr()), &image);
    // Anonymous: the token has no push right, the registry refuses: exit 4.
    let a = run(
        &cache,
        &["push", &name, &format!("{}/team/other", setup.addr())],
    )
    .code(4);
    assert!(stderr(&a).contains(&setup.addr()), "{}", stderr(&a));
}

/// In token mode too, a push into another repository of the registry the image came from
/// mounts every blob: the token request carries the source's pull scope beside the
/// destination's push scope, and the registry's own access log shows the mounts (answered
/// 201), with no blob bytes uploaded.
#[test]
fn a_push_within_a_token_registry_mounts_with_the_source_s_pull_scope() {
    let setup =
        crate::auth_support::TokenRegistry::start_with(Default::default(), |b| b.access_log());
    let image = push_image(
        &setup.seed,
        "team/app",
        Some("v1"),
        false,
        "amd64",
        &[layer(14, 4000)],
    );
    let cache = TempCache::new();
    let as_alice = |args: &[&str]| {
        layerget()
            .arg("--cache-dir")
            .arg(cache.path())
            .args(args)
            .args(["--username", crate::auth_support::ALICE_USER])
            .env("LAYERGET_PASSWORD", crate::auth_support::ALICE_PASS)
            .assert()
            .success()
    };
    let name = format!("{}/team/app:v1", setup.addr());
    as_alice(&["pull", &name]);
    let a = as_alice(&[
        "--json",
        "push",
        &name,
        &format!("{}/team/copy:v1", setup.addr()),
    ]);
    let doc = json(&a);
    assert_eq!(doc["blobs_mounted"], 2, "{doc}");
    assert_eq!(doc["blobs_pushed"], 0, "{doc}");
    // One token request asks for both: push on the destination, pull on the source.
    let both: Vec<_> = setup
        .tokens
        .requests()
        .into_iter()
        .filter(|r| {
            r.scopes
                .iter()
                .any(|s| s == "repository:team/copy:pull,push")
                && r.scopes.iter().any(|s| s == "repository:team/app:pull")
        })
        .collect();
    assert!(!both.is_empty(), "{:?}", setup.tokens.requests());
    assert!(both.iter().all(|r| r.status == 200), "{both:?}");
    // A GET names each scope in a `scope` parameter of its own (the token spec; Docker Hub's
    // token service reads them so).
    for r in both.iter().filter(|r| r.method == "GET") {
        assert_eq!(r.target.matches("scope=").count(), 2, "{}", r.target);
    }
    // The registry's access log: each blob mounted (201), nothing uploaded into team/copy.
    let log = setup.registry.log();
    let mounts: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("\"POST /v2/team/copy/blobs/uploads/?") && l.contains("mount="))
        .collect();
    assert_eq!(mounts.len(), 2, "{log}");
    assert!(
        mounts
            .iter()
            .all(|l| l.contains("from=team%2Fapp") && l.contains("\" 201 ")),
        "{mounts:?}"
    );
    assert!(
        !log.lines()
            .any(|l| l.contains("\"PATCH /v2/team/copy/")
                || l.contains("\"PUT /v2/team/copy/blobs/")),
        "{log}"
    );
    assert_served(&format!("{}/team/copy:v1", setup.seed.addr()), &image);
}

#[test]
fn a_503_and_a_429_mid_push_are_retried() {
    let source = TestRegistry::start();
    let (cache, image, name) = pulled(&source, "team/app", "v1", false);
    let dest = TestRegistry::start();
    let proxy = FaultProxy::start(&dest.addr());
    // One blob at a time: HEAD, then the POST gets a 503, the retried POST a 429
    // (Retry-After: 0); everything after is faithful.
    proxy.push_fault(Fault::None);
    proxy.push_fault(Fault::status(503, "busy"));
    proxy.push_fault(Fault::Status {
        code: 429,
        headers: vec![("Retry-After".into(), "0".into())],
        body: String::new(),
    });
    let target = format!("{}/team/app:v1", proxy.addr());
    let a = run(&cache, &["push", "-j", "1", &name, &target]).success();
    assert_served(&format!("{}/team/app:v1", dest.addr()), &image);
    // Both shown, as a fetch shows its retries.
    let err = stderr(&a);
    let retries: Vec<&str> = err.lines().filter(|l| l.contains("retrying in")).collect();
    assert_eq!(retries.len(), 2, "{err}");
    assert!(
        retries[0].contains(": attempt 1 failed (HTTP 503 Service Unavailable)"),
        "{err}"
    );
    assert!(
        retries[1].contains(": attempt 2 failed (HTTP 429 Too Many Requests)"),
        "{err}"
    );
    let posts = proxy
        .requests()
        .iter()
        .filter(|r| r.method == "POST")
        .count();
    assert_eq!(posts, 3 + 2, "two refused POSTs, then one per blob");
}

/// A 503 in the middle of a chunked upload is reported on stderr as a fetch reports a retry
/// (`LABEL: attempt 1 failed (HTTP 503 …); retrying in N s`, through `Progress::retrying`, not
/// only the log), in `--progress json` as a `retry` event, and the upload goes on from what the
/// session holds.
#[test]
fn a_503_mid_chunked_push_shows_the_retry_and_goes_on() {
    let source = TestRegistry::start();
    let cache = TempCache::new();
    let size: u64 = 3 << 20;
    let digest = source.push_generated_blob("blobs/src", size, 5);
    run(&cache, &["fetch", &source.reference("blobs/src", &digest)]).success();
    let label = format!("sha256:{}", &digest["sha256:".len()..][..12]);
    for json_progress in [false, true] {
        let dest = TestRegistry::start();
        let proxy = FaultProxy::start(&dest.addr());
        // HEAD, POST, PATCH 0-1M: faithful; the second PATCH is answered 503 by the proxy
        // (the registry never sees it); everything after is faithful.
        for _ in 0..3 {
            proxy.push_fault(Fault::None);
        }
        proxy.push_fault(Fault::status(503, "busy"));
        let target = format!("{}/blobs/dest", proxy.addr());
        let mut args = vec!["push", "--blob", &digest, &target, "--chunk-size", "1M"];
        if json_progress {
            args.extend(["--progress", "json"]);
        }
        let a = run(&cache, &args).success();
        let err = stderr(&a);
        if json_progress {
            let retries: Vec<Value> = err
                .lines()
                .filter_map(|l| serde_json::from_str::<Value>(l).ok())
                .filter(|e| e["event"] == "retry")
                .collect();
            assert_eq!(retries.len(), 1, "{err}");
            assert_eq!(retries[0]["blob"], label.as_str(), "{err}");
            assert_eq!(retries[0]["attempt"], 1, "{err}");
            assert!(retries[0]["wait_ms"].is_u64(), "{err}");
            assert!(
                retries[0]["reason"].as_str().unwrap().contains("503"),
                "{err}"
            );
        } else {
            let retries: Vec<&str> = err.lines().filter(|l| l.contains("retrying")).collect();
            assert_eq!(retries.len(), 1, "{err}");
            let want =
                format!("{label}: attempt 1 failed (HTTP 503 Service Unavailable); retrying in ");
            assert!(retries[0].starts_with(&want), "{err}");
        }
        // After the 503 the session is asked what it holds, and the rest follows.
        let methods: Vec<String> = proxy.requests().iter().map(|r| r.method.clone()).collect();
        assert_eq!(
            methods,
            [
                "HEAD", "POST", "PATCH", "PATCH", "GET", "PATCH", "PATCH", "PUT"
            ],
            "{methods:?}"
        );
        let r = dest.get_blob("blobs/dest", &digest);
        assert_eq!(r.status, 200);
        assert_eq!(sha256_digest(&r.body), digest);
    }
}

#[test]
fn a_multi_platform_index_is_pushed_whole_with_all_platforms() {
    let source = TestRegistry::start();
    let amd = push_image(
        &source,
        "multi/app",
        None,
        false,
        "amd64",
        &[layer(41, 900)],
    );
    let arm = push_image(
        &source,
        "multi/app",
        None,
        false,
        "arm64",
        &[layer(42, 800)],
    );
    let (index_digest, index) = push_index(
        &source,
        "multi/app",
        "v1",
        false,
        &[("linux/amd64", &amd), ("linux/arm64", &arm)],
    );
    let cache = TempCache::new();
    let name = format!("{}/multi/app:v1", source.addr());
    run(&cache, &["pull", "--all-platforms", &name]).success();
    let dest = TestRegistry::start();
    let target = format!("{}/multi/app", dest.addr());
    let a = run(&cache, &["--json", "push", &name, &target]).success();
    let doc = json(&a);
    assert_eq!(doc["digest"], index_digest.as_str(), "{doc}");
    assert_eq!(doc["manifests_pushed"], 3, "{doc}");
    assert_eq!(skopeo_raw(&format!("{target}:v1")), index);
    for image in [&amd, &arm] {
        assert_eq!(
            skopeo_raw(&format!("{target}@{}", image.digest)),
            image.manifest
        );
    }
    // copy --all-platforms between two registries gives the same index.
    let other = TestRegistry::start();
    let to = format!("{}/copied/multi:v1", other.addr());
    let a = run(
        &TempCache::new(),
        &["--json", "copy", "--all-platforms", &name, &to],
    )
    .success();
    assert_eq!(json(&a)["digest"], index_digest.as_str());
    assert_eq!(skopeo_raw(&to), index);
}

#[test]
fn a_lost_upload_session_starts_the_blob_again() {
    let dest = TestRegistry::start();
    let proxy = FaultProxy::start(&dest.addr());
    let source = TestRegistry::start();
    let size: u64 = 3 << 20;
    let digest = source.push_generated_blob("blobs/src", size, 4);
    let cache = TempCache::new();
    run(&cache, &["fetch", &source.reference("blobs/src", &digest)]).success();
    // HEAD, POST, PATCH 0-1M; the second PATCH is cut; the session query then says the
    // registry forgot the session (404 BLOB_UPLOAD_UNKNOWN): the blob starts again at 0.
    for _ in 0..3 {
        proxy.push_fault(Fault::None);
    }
    proxy.push_fault(Fault::CutRequestAfter(100_000));
    proxy.push_fault(Fault::Status {
        code: 404,
        headers: vec![("Content-Type".into(), "application/json".into())],
        body: r#"{"errors":[{"code":"BLOB_UPLOAD_UNKNOWN","message":"blob upload unknown"}]}"#
            .into(),
    });
    let target = format!("{}/blobs/dest", proxy.addr());
    let a = run(
        &cache,
        &[
            "--json",
            "push",
            "--blob",
            &digest,
            &target,
            "--chunk-size",
            "1M",
        ],
    )
    .success();
    let doc = json(&a);
    let sent = doc["bytes_uploaded"].as_u64().unwrap();
    assert!(sent >= size + (1 << 20), "{sent}");
    let posts = proxy
        .requests()
        .iter()
        .filter(|r| r.method == "POST")
        .count();
    assert_eq!(posts, 2, "a new session for the restart");
    assert!(
        stderr(&a).contains("the registry lost the upload session; sending it again"),
        "{}",
        stderr(&a)
    );
    assert_eq!(
        sha256_digest(&dest.get_blob("blobs/dest", &digest).body),
        digest
    );
}

#[test]
fn verify_cached_refuses_a_corrupt_blob_before_any_request() {
    let source = TestRegistry::start();
    let (cache, image, name) = pulled(&source, "team/app", "v1", false);
    let path = cache.blob_path(&image.layers[1]);
    let mut bytes = fs::read(&path).unwrap();
    bytes[0] ^= 0xff;
    let mut perms = fs::metadata(&path).unwrap().permissions();
    #[allow(clippy::permissions_set_readonly_false)]
    perms.set_readonly(false);
    fs::set_permissions(&path, perms).unwrap();
    fs::write(&path, &bytes).unwrap();
    let fake = RecordingServer::fixed(ScriptedResponse::new(500, "no"));
    let dest = format!("{}/team/app", fake.addr());
    let a = run(&cache, &["push", "--verify-cached", &name, &dest]).code(5);
    assert!(stderr(&a).contains(&image.layers[1]), "{}", stderr(&a));
    assert!(fake.requests().is_empty(), "{:?}", fake.requests());
}

#[test]
fn a_digest_destination_gets_the_manifest_by_digest_only() {
    let source = TestRegistry::start();
    let (cache, image, name) = pulled(&source, "team/app", "v1", false);
    let dest = TestRegistry::start();
    let target = format!("{}/team/app@{}", dest.addr(), image.digest);
    let a = run(&cache, &["--json", "push", &name, &target]).success();
    assert_eq!(json(&a)["dest"], target.as_str());
    assert_eq!(skopeo_raw(&target), image.manifest);
    let tags = dest.get("/v2/team/app/tags/list");
    assert!(!tags.text().contains("v1"), "{}", tags.text());
    // Another digest than the image's: a usage error.
    let other = format!("{}/team/app@sha256:{}", dest.addr(), "1".repeat(64));
    run(&cache, &["push", &name, &other]).code(2);
}

#[test]
fn a_destination_that_lies_about_a_blob_digest_exits_5() {
    let source = TestRegistry::start();
    let digest = source.push_blob("a/b", b"a blob to lie about");
    let cache = TempCache::new();
    run(&cache, &["fetch", &source.reference("a/b", &digest)]).success();
    let lie = format!("sha256:{}", "0".repeat(64));
    let fake = {
        let lie = lie.clone();
        // Knows no blob, opens a session, and answers the upload with another digest.
        RecordingServer::start(move |r| match r.method.as_str() {
            "HEAD" => ScriptedResponse::new(404, ""),
            "POST" => ScriptedResponse::new(202, "")
                .header("Location", "/v2/x/y/blobs/uploads/s1?_state=abc"),
            "PUT" => ScriptedResponse::new(201, "").header("Docker-Content-Digest", &lie),
            _ => ScriptedResponse::new(500, ""),
        })
    };
    let a = run(
        &cache,
        &["push", "--blob", &digest, &format!("{}/x/y", fake.addr())],
    )
    .code(5);
    assert!(stderr(&a).contains(&lie), "{}", stderr(&a));
    // The session's query was kept, the digest appended to it.
    let put = fake
        .requests()
        .into_iter()
        .find(|r| r.method == "PUT")
        .unwrap();
    assert_eq!(
        put.path,
        format!(
            "/v2/x/y/blobs/uploads/s1?_state=abc&digest={}",
            digest.replace(':', "%3A")
        )
    );
}
