//! `push`, `copy` and `sync` with an `s3://` cache (issue 14), on a real Garage node and the
//! reference registry: an image pulled into the bucket is pushed from it (its blobs streamed
//! out of the objects by ranged GETs), and skopeo and `layerget pull` read it back identical;
//! a second push sends nothing, a push within one registry mounts, `--verify-cached` re-hashes
//! the objects; `copy` tees a large layer into the bucket while it pushes it; `sync` pushes what
//! the bucket records; a chunked push from the bucket cut mid-body resumes from the session's
//! `Range`; a bucket prefix without a cache is refused before any request; an object changed
//! behind layerget's back is never accepted as the blob.

use serde_json::Value;

use crate::support::*;

/// `layerget --cache-dir CACHE` with the node's credentials and endpoint.
fn on(node: &Garage, cache: &str) -> assert_cmd::Command {
    let mut cmd = layerget();
    for (k, v) in node.env() {
        cmd.env(k, v);
    }
    cmd.args(["--cache-dir", cache]);
    cmd
}

/// The `--json` lines of a command.
fn lines(a: &assert_cmd::assert::Assert) -> Vec<Value> {
    stdout(a)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

fn json(a: &assert_cmd::assert::Assert) -> Value {
    let mut docs = lines(a);
    assert_eq!(docs.len(), 1, "{docs:?}");
    docs.remove(0)
}

/// `skopeo copy docker://REFERENCE dir:…`: the blobs skopeo wrote, each checked against the
/// digest it is named by (skopeo names a blob file by its hex digest).
fn assert_skopeo_reads(reference: &str, image: &Image) {
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
    // Not the manifest (the first): skopeo writes it as `manifest.json`.
    for d in image.blobs().iter().skip(1) {
        let hex = d.split_once(':').unwrap().1;
        let bytes = std::fs::read(dir.path().join(hex))
            .unwrap_or_else(|e| panic!("{reference}: skopeo wrote no {d}: {e}"));
        assert_eq!(sha256_digest(&bytes), *d, "{reference}: {d}");
    }
}

/// `layerget pull REFERENCE` into a fresh local cache: the digest it reports, and the blobs it
/// fetched (verified on the way in) as skopeo reads them out of that cache.
fn assert_pulled_back(reference: &str, image: &Image) {
    let cache = TempCache::new();
    let a = layerget()
        .arg("--cache-dir")
        .arg(cache.path())
        .args(["--json", "pull", reference])
        .assert()
        .success();
    assert_eq!(json(&a)["digest"], image.digest.as_str(), "{}", stdout(&a));
    for d in image.blobs() {
        let hex = d.split_once(':').unwrap().1;
        let bytes = std::fs::read(cache.path().join("blobs/sha256").join(hex)).unwrap();
        assert_eq!(sha256_digest(&bytes), *d);
    }
}

/// The upload requests (PATCH, PUT) that went through `proxy`.
fn uploads(proxy: &FaultProxy) -> Vec<RecordedRequest> {
    proxy
        .requests()
        .into_iter()
        .filter(|r| matches!(r.method.as_str(), "PATCH" | "PUT") && r.path.contains("/blobs/"))
        .collect()
}

#[test]
fn an_image_pulled_into_s3_is_pushed_from_it_and_reads_back_identical() {
    let Some(node) = Garage::start_or_skip() else {
        return;
    };
    let bucket = node.bucket("push");
    let source = TestRegistry::start();
    // A layer of several multipart parts (8 MiB) and chunks (1 MiB), a small one, and an
    // empty one.
    let image = push_image(
        &source,
        "team/app",
        Some("v1"),
        false,
        "amd64",
        &[layer(41, 9 << 20), layer(42, 3000), Vec::new()],
    );
    let docker = push_image(
        &source,
        "team/docker",
        Some("v2"),
        true,
        "amd64",
        &[layer(43, 2 << 20)],
    );
    for name in ["team/app:v1", "team/docker:v2"] {
        on(&node, &bucket)
            .args(["pull", &format!("{}/{name}", source.addr())])
            .assert()
            .success();
    }

    let dest = TestRegistry::start();
    let watch = FaultProxy::start(&dest.addr());
    let push = |name: &str, to: &str, extra: &[&str]| {
        on(&node, &bucket)
            .args(["--json", "push", "--chunk-size", "1M"])
            .args(extra)
            .arg(format!("{}/{name}", source.addr()))
            .arg(to)
            .assert()
            .success()
    };
    let to = format!("{}/copied/app:v1", watch.addr());
    let doc = json(&push("team/app:v1", &to, &["--verify-cached"]));
    assert_eq!(doc["digest"], image.digest.as_str(), "{doc}");
    assert_eq!(doc["blobs_pushed"], 4, "three layers and the config: {doc}");
    assert_eq!(doc["bytes_uploaded"], doc["size"], "each byte once: {doc}");
    // The large layer went in 1 MiB chunks, every one of them whole.
    let patches: Vec<String> = uploads(&watch)
        .iter()
        .filter(|r| r.method == "PATCH")
        .map(|r| r.header("content-range").unwrap().to_owned())
        .collect();
    // 9 MiB and the 8 bytes of its seed: nine whole chunks and a short one.
    assert_eq!(patches.len(), 10, "{patches:?}");
    assert_eq!(
        patches[9],
        format!("{}-{}", 9 << 20, (9 << 20) + 7),
        "{patches:?}"
    );
    let there = format!("{}/copied/app:v1", dest.addr());
    assert_eq!(skopeo_raw(&there), image.manifest);
    assert_skopeo_reads(&there, &image);
    assert_pulled_back(&there, &image);

    // A Docker image goes back out with its original bytes (and so its digest).
    let to = format!("{}/copied/docker:v2", dest.addr());
    let doc = json(&push("team/docker:v2", &to, &[]));
    assert_eq!(doc["digest"], docker.digest.as_str(), "{doc}");
    assert_eq!(skopeo_raw(&to), docker.manifest);
    assert_skopeo_reads(&to, &docker);

    // Pushed again: every blob is found there, nothing is sent.
    let before = uploads(&watch).len();
    let to = format!("{}/copied/app:v1", watch.addr());
    let doc = json(&push("team/app:v1", &to, &[]));
    assert_eq!(
        (&doc["blobs_present"], &doc["bytes_uploaded"]),
        (&Value::from(4), &Value::from(0)),
        "{doc}"
    );
    assert_eq!(uploads(&watch).len(), before, "no new upload");

    // Within the source registry, the blobs are mounted from the repository they came from.
    let to = format!("{}/team/mounted:v1", source.addr());
    let doc = json(&push("team/app:v1", &to, &[]));
    assert_eq!(doc["blobs_mounted"], 4, "{doc}");
    assert_eq!(skopeo_raw(&to), image.manifest);

    // One blob alone, streamed out of its object in one PUT.
    let small = &image.layers[1];
    let a = on(&node, &bucket)
        .args([
            "push",
            "--blob",
            small,
            &format!("{}/blobs/one", dest.addr()),
        ])
        .assert()
        .success();
    assert!(stdout(&a).trim().ends_with(" pushed"), "{}", stdout(&a));
    assert_eq!(
        sha256_digest(&dest.get_blob("blobs/one", small).body),
        *small
    );

    // A prefix of the bucket that holds no cache is refused before any request (exit 2), not
    // taken for an empty cache.
    let empty = bucket.replace("/cache", "/nothing-here");
    let a = on(&node, &empty)
        .args([
            "push",
            "--blob",
            small,
            &format!("{}/blobs/two", watch.addr()),
        ])
        .assert()
        .code(2);
    assert!(stderr(&a).contains("no layerget cache"), "{}", stderr(&a));
    let a = on(&node, &empty)
        .args(["sync", &format!("{}/mirror", watch.addr())])
        .assert()
        .code(2);
    assert!(stderr(&a).contains("no layerget cache"), "{}", stderr(&a));
}

#[test]
fn copy_tees_a_large_layer_into_s3_while_it_pushes_it() {
    let Some(node) = Garage::start_or_skip() else {
        return;
    };
    let bucket = node.bucket("copy");
    let source = TestRegistry::start();
    // Above the 4 MiB manifest bound and the 1 MiB chunk: teed.
    let image = push_image(
        &source,
        "team/big",
        Some("v1"),
        false,
        "amd64",
        &[layer(44, 10 << 20), layer(45, 3000)],
    );
    let dest = TestRegistry::start();
    let watch = FaultProxy::start(&dest.addr());
    let to = format!("{}/copied/big:v1", watch.addr());
    let a = on(&node, &bucket)
        .args(["--json", "copy", "--chunk-size", "1M"])
        .arg(format!("{}/team/big:v1", source.addr()))
        .arg(&to)
        .assert()
        .success();
    let doc = json(&a);
    assert_eq!(doc["digest"], image.digest.as_str(), "{doc}");
    assert_eq!(doc["blobs_pushed"], 3, "two layers and the config: {doc}");
    assert_eq!(doc["bytes_uploaded"], doc["size"], "each byte once: {doc}");
    // One session per blob: the large layer was sent as it came, not again from the bucket.
    let sessions = watch
        .requests()
        .iter()
        .filter(|r| r.method == "POST")
        .count();
    assert_eq!(sessions, 3, "{:?}", watch.requests());
    let there = format!("{}/copied/big:v1", dest.addr());
    assert_eq!(skopeo_raw(&there), image.manifest);
    assert_skopeo_reads(&there, &image);

    // The bucket holds the image, verified: pushed from it elsewhere, it is the same image.
    let a = on(&node, &bucket)
        .args(["cache", "ls", "--blobs"])
        .assert()
        .success();
    for d in image.blobs() {
        assert!(stdout(&a).contains(d.as_str()), "{d}: {}", stdout(&a));
    }
    let other = TestRegistry::start();
    let to = format!("{}/again/big:v1", other.addr());
    on(&node, &bucket)
        .args(["push", &format!("{}/team/big:v1", source.addr()), &to])
        .assert()
        .success();
    assert_pulled_back(&to, &image);
}

#[test]
fn sync_pushes_what_an_s3_cache_records() {
    let Some(node) = Garage::start_or_skip() else {
        return;
    };
    let bucket = node.bucket("sync");
    let source = TestRegistry::start();
    let a = push_image(
        &source,
        "team/a",
        Some("v1"),
        false,
        "amd64",
        &[layer(46, 5 << 20)],
    );
    let b = push_image(
        &source,
        "team/b",
        Some("1.0"),
        true,
        "amd64",
        &[layer(47, 3000)],
    );
    for name in ["team/a:v1", "team/b:1.0"] {
        on(&node, &bucket)
            .args(["pull", &format!("{}/{name}", source.addr())])
            .assert()
            .success();
    }
    let dest = TestRegistry::start();
    let prefix = format!("{}/mirror", dest.addr());
    let sync = || {
        on(&node, &bucket)
            .args(["--json", "sync", &prefix])
            .assert()
            .success()
    };
    let docs = lines(&sync());
    assert_eq!(docs.len(), 2, "{docs:?}");
    for (doc, (name, image)) in docs.iter().zip([("team/a:v1", &a), ("team/b:1.0", &b)]) {
        assert_eq!(doc["dest"], format!("{prefix}/{name}").as_str(), "{doc}");
        assert_eq!(doc["digest"], image.digest.as_str(), "{doc}");
        let there = format!("{prefix}/{name}");
        assert_eq!(skopeo_raw(&there), image.manifest, "{there}");
        assert_skopeo_reads(&there, image);
    }
    // Again: everything is there, no blob bytes are sent.
    for doc in lines(&sync()) {
        assert_eq!(doc["bytes_uploaded"], 0, "{doc}");
    }
}

#[test]
fn a_chunked_push_from_s3_cut_mid_body_resumes_from_the_session_range() {
    let Some(node) = Garage::start_or_skip() else {
        return;
    };
    let bucket = node.bucket("resume");
    let source = TestRegistry::start();
    let size: u64 = 5 << 20;
    let digest = source.push_generated_blob("blobs/src", size, 9);
    on(&node, &bucket)
        .args(["fetch", &source.reference("blobs/src", &digest)])
        .assert()
        .success();
    let dest = TestRegistry::start();
    let proxy = FaultProxy::start(&dest.addr());
    // HEAD, POST, PATCH 0-1M: faithful; the second PATCH is cut after 300 KB, before the
    // registry saw it; everything after is faithful.
    for _ in 0..3 {
        proxy.push_fault(Fault::None);
    }
    proxy.push_fault(Fault::CutRequestAfter(300_000));
    let target = format!("{}/blobs/dest", proxy.addr());
    let a = on(&node, &bucket)
        .args([
            "--json",
            "push",
            "--blob",
            &digest,
            &target,
            "--chunk-size",
            "1M",
        ])
        .assert()
        .success();
    let doc = json(&a);
    assert_eq!(doc["blobs_pushed"], 1, "{doc}");
    let sent = doc["bytes_uploaded"].as_u64().unwrap();
    // Each byte about once: the cut chunk is sent again (read again from its offset in the
    // object), nothing else.
    assert!(sent >= size && sent <= size + (1 << 20) + 300_000, "{sent}");
    let methods: Vec<String> = proxy.requests().iter().map(|r| r.method.clone()).collect();
    let cut = methods
        .iter()
        .enumerate()
        .filter(|(_, m)| *m == "PATCH")
        .nth(1)
        .unwrap()
        .0;
    // After the cut: the session is asked what it holds (GET), and the upload goes on.
    assert_eq!(
        methods.get(cut + 1).map(String::as_str),
        Some("GET"),
        "{methods:?}"
    );
    let patches: Vec<String> = uploads(&proxy)
        .iter()
        .filter(|r| r.method == "PATCH")
        .map(|r| r.header("content-range").unwrap().to_owned())
        .collect();
    assert_eq!(
        patches,
        [
            "0-1048575",
            "1048576-2097151",
            "1048576-2097151",
            "2097152-3145727",
            "3145728-4194303",
            "4194304-5242879"
        ],
    );
    let r = dest.get_blob("blobs/dest", &digest);
    assert_eq!(r.status, 200);
    assert_eq!(sha256_digest(&r.body), digest);
}

/// A layer object overwritten in the bucket with other bytes of the same length: with
/// `--verify-cached` the push re-reads it, refuses (exit 5) and sends nothing; without, the
/// destination checks the digest and the blob never appears there.
#[test]
fn a_changed_object_in_the_bucket_is_never_pushed_as_the_blob() {
    let Some(node) = Garage::start_or_skip() else {
        return;
    };
    let bucket = node.bucket("changed");
    let source = TestRegistry::start();
    let image = push_image(
        &source,
        "team/app",
        Some("v1"),
        false,
        "amd64",
        &[layer(48, 2 << 20)],
    );
    let name = format!("{}/team/app:v1", source.addr());
    on(&node, &bucket).args(["pull", &name]).assert().success();
    let digest = &image.layers[0];
    let key = format!(
        "cache/blobs/sha256/{}",
        digest.trim_start_matches("sha256:")
    );
    let mut other = layer(48, 2 << 20);
    other[1000] ^= 0xff;
    node.put_object("changed", &key, &other);

    let dest = TestRegistry::start();
    let watch = FaultProxy::start(&dest.addr());
    let to = format!("{}/copied/app:v1", watch.addr());
    let a = on(&node, &bucket)
        .args(["push", "--verify-cached", &name, &to])
        .assert()
        .code(5);
    assert!(
        stderr(&a).contains(&format!("the cached blob {digest} hashes to")),
        "{}",
        stderr(&a)
    );
    assert!(watch.requests().is_empty(), "{:?}", watch.requests());

    // The destination's DIGEST_INVALID is the error.
    let a = on(&node, &bucket)
        .args(["push", "--retries", "0", &name, &to])
        .assert()
        .failure();
    assert!(stderr(&a).contains("DIGEST_INVALID"), "{}", stderr(&a));
    assert_eq!(dest.get_blob("copied/app", digest).status, 404);
    let manifest = dest.get(&format!("/v2/copied/app/manifests/{}", image.digest));
    assert_eq!(manifest.status, 404, "no manifest over a missing layer");
}
