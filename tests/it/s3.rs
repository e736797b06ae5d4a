//! The cache in an S3 bucket (issue 14), on a real Garage node: `fetch` and `pull` into
//! `s3://`, `-o` streamed back out of it, `serve s3://` answering what `serve` of a local cache
//! with the same content answers, and wrong credentials (exit 4). The store contract itself
//! runs on Garage in the unit tests (`store::s3`).

use std::path::Path;

use crate::support::*;

/// `layerget` with the node's credentials and endpoint.
fn on_s3(node: &Garage) -> assert_cmd::Command {
    let mut cmd = layerget();
    for (k, v) in node.env() {
        cmd.env(k, v);
    }
    cmd
}

/// The headers that must agree between the two servers.
const SAME_HEADERS: &[&str] = &[
    "content-length",
    "content-type",
    "content-range",
    "docker-content-digest",
    "accept-ranges",
    "etag",
];

#[test]
fn fetch_and_pull_into_s3_and_serve_it_like_a_local_cache() {
    let Some(node) = Garage::start_or_skip() else {
        return;
    };
    let bucket = node.bucket("layerget");
    let registry = TestRegistry::start();
    // Larger than one part (8 MiB): a multipart upload with a tail.
    let size = 20 << 20;
    let digest = registry.push_generated_blob("team/app", size, 7);
    let image = push_image(
        &registry,
        "team/app",
        Some("v1"),
        false,
        "amd64",
        &[layer(1, 3000), layer(2, 100)],
    );
    let blob_ref = registry.reference("team/app", &digest);
    let image_ref = format!("{}/team/app:v1", registry.addr());
    let local = TempCache::new();
    for cache in [bucket.as_str(), local.path().to_str().unwrap()] {
        let a = on_s3(&node)
            .args(["--cache-dir", cache, "fetch", &blob_ref])
            .assert()
            .success();
        // Where it is: a path, or the object's URL.
        let hex = digest.trim_start_matches("sha256:");
        assert_eq!(
            String::from_utf8_lossy(&a.get_output().stdout).trim(),
            format!("{cache}/blobs/sha256/{hex}")
        );
        on_s3(&node)
            .args(["--cache-dir", cache, "pull", &image_ref])
            .assert()
            .success();
    }
    // Cached now: -o copies it out of the bucket, verified on the way.
    let out = tempfile::tempdir().unwrap();
    let file = out.path().join("blob");
    let a = on_s3(&node)
        .args(["--cache-dir", &bucket, "fetch", &blob_ref, "-o"])
        .arg(&file)
        .assert()
        .success();
    let stderr = String::from_utf8_lossy(&a.get_output().stderr).into_owned();
    assert!(stderr.contains("in the cache"), "{stderr}");
    assert_eq!(sha256_digest(&std::fs::read(&file).unwrap()), digest);
    let a = on_s3(&node)
        .args([
            "--cache-dir",
            &bucket,
            "fetch",
            &image_ref.replace(":v1", &format!("@{}", image.config)),
            "-o",
            "-",
        ])
        .assert()
        .success();
    assert_eq!(sha256_digest(&a.get_output().stdout), image.config);

    let s3 = Serve::start_env(Path::new(&bucket), &[], &node.env());
    let disk = Serve::start(local.path(), &[]);
    let blob = format!("/v2/team/app/blobs/{digest}");
    let missing = format!("/v2/team/app/blobs/sha256:{}", "0".repeat(64));
    type Request<'a> = (&'a str, String, Vec<(&'a str, &'a str)>);
    let requests: Vec<Request> = vec![
        ("GET", "/v2/".into(), vec![]),
        ("HEAD", blob.clone(), vec![]),
        ("GET", blob.clone(), vec![]),
        (
            "GET",
            blob.clone(),
            vec![("Range", "bytes=9000000-9000099")],
        ),
        ("GET", blob.clone(), vec![("Range", "bytes=99999999-")]),
        ("GET", missing, vec![]),
        ("GET", "/v2/team/app/manifests/v1".into(), vec![]),
        (
            "HEAD",
            format!("/v2/team/app/manifests/{}", image.digest),
            vec![],
        ),
        ("GET", "/v2/team/app/tags/list".into(), vec![]),
        ("GET", "/v2/team/other/manifests/v1".into(), vec![]),
    ];
    for (method, target, headers) in &requests {
        let (a, b) = (
            s3.request(method, target, headers),
            disk.request(method, target, headers),
        );
        assert_eq!(a.status, b.status, "{method} {target}");
        assert!(a.body == b.body, "{method} {target}: the bodies differ");
        for h in SAME_HEADERS {
            assert_eq!(a.header(h), b.header(h), "{method} {target}: {h}");
        }
    }
}

#[test]
fn wrong_credentials_exit_4_with_a_hint() {
    let Some(node) = Garage::start_or_skip() else {
        return;
    };
    let bucket = node.bucket("locked");
    let a = on_s3(&node)
        .env("AWS_SECRET_ACCESS_KEY", "f".repeat(64))
        .args([
            "--cache-dir",
            &bucket,
            "fetch",
            "127.0.0.1:1/x@sha256:0000000000000000000000000000000000000000000000000000000000000000",
        ])
        .assert()
        .code(4);
    let stderr = String::from_utf8_lossy(&a.get_output().stderr).into_owned();
    assert!(stderr.contains("s3://locked/cache/oci-layout"), "{stderr}");
    assert!(stderr.contains("hint: check AWS_ACCESS_KEY_ID"), "{stderr}");
}

/// Splits `http://host:port/path?query` into the address and the request target.
fn split_url(url: &str) -> (String, String) {
    let rest = url.strip_prefix("http://").expect("an http URL");
    let slash = rest.find('/').expect("a path");
    (rest[..slash].to_owned(), rest[slash..].to_owned())
}

#[test]
fn a_push_to_one_replica_is_pulled_from_another_and_redirects_go_to_the_bucket() {
    let Some(node) = Garage::start_or_skip() else {
        return;
    };
    let bucket = node.bucket("shared");
    let writer = Serve::start_env(Path::new(&bucket), &["--allow-push"], &node.env());
    let reader = Serve::start_env(Path::new(&bucket), &[], &node.env());
    let redirecting = Serve::start_env(Path::new(&bucket), &["--redirect"], &node.env());
    // A config pushed in one request, a layer of two parts in a chunked session.
    let config =
        br#"{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}"#;
    let config_digest = sha256_digest(config);
    let r = http_request(
        &writer.addr,
        "POST",
        &format!("/v2/team/app/blobs/uploads/?digest={config_digest}"),
        &[],
        config,
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let layer_bytes = layer(3, 12 << 20);
    let layer_digest = sha256_digest(&layer_bytes);
    let r = http_request(
        &writer.addr,
        "POST",
        "/v2/team/app/blobs/uploads/",
        &[],
        b"",
    );
    assert_eq!(r.status, 202, "{}", r.text());
    let location = r.header("location").unwrap().to_owned();
    let r = http_request(&writer.addr, "PATCH", &location, &[], &layer_bytes);
    assert_eq!(r.status, 202, "{}", r.text());
    let location = r.header("location").unwrap().to_owned();
    let sep = if location.contains('?') { '&' } else { '?' };
    let r = http_request(
        &writer.addr,
        "PUT",
        &format!("{location}{sep}digest={layer_digest}"),
        &[],
        b"",
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                   "digest": config_digest, "size": config.len()},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar",
                    "digest": layer_digest, "size": layer_bytes.len()}],
    })
    .to_string();
    let r = http_request(
        &writer.addr,
        "PUT",
        "/v2/team/app/manifests/v1",
        &[("Content-Type", OCI_MANIFEST)],
        manifest.as_bytes(),
    );
    assert_eq!(r.status, 201, "{}", r.text());

    // The other replica has it all: the tag, the manifest, the blobs.
    let r = reader.request("GET", "/v2/team/app/manifests/v1", &[]);
    assert_eq!((r.status, r.body.as_slice()), (200, manifest.as_bytes()));
    let r = reader.request("GET", "/v2/team/app/tags/list", &[]);
    assert!(r.text().contains("\"v1\""), "{}", r.text());
    let r = reader.request("GET", &format!("/v2/team/app/blobs/{layer_digest}"), &[]);
    assert_eq!(r.status, 200);
    assert!(r.body == layer_bytes, "the layer read back differs");
    // And `layerget pull` from it into a local cache verifies every byte.
    let local = TempCache::new();
    layerget()
        .args(["--cache-dir", local.path().to_str().unwrap(), "pull"])
        .arg(format!("{}/team/app:v1", reader.addr))
        .assert()
        .success();

    // --redirect: a 307 to a presigned URL of the object, which answers Range itself.
    let target = format!("/v2/team/app/blobs/{layer_digest}");
    let r = redirecting.request("GET", &target, &[]);
    assert_eq!(r.status, 307, "{}", r.text());
    assert_eq!(
        r.header("docker-content-digest"),
        Some(layer_digest.as_str())
    );
    let (addr, path) = split_url(r.header("location").unwrap());
    let r = http_request(
        &addr,
        "GET",
        &path,
        &[("Range", "bytes=9000000-9000099")],
        b"",
    );
    assert_eq!(r.status, 206);
    assert!(
        r.body == layer_bytes[9_000_000..9_000_100],
        "the range differs"
    );
    // HEAD and missing blobs are answered by the replica itself.
    assert_eq!(redirecting.request("HEAD", &target, &[]).status, 200);
    let missing = format!("/v2/team/app/blobs/sha256:{}", "0".repeat(64));
    assert_eq!(redirecting.request("GET", &missing, &[]).status, 404);
    // A client follows it into a cache of its own.
    let local = TempCache::new();
    layerget()
        .args(["--cache-dir", local.path().to_str().unwrap(), "pull"])
        .arg(format!("{}/team/app:v1", redirecting.addr))
        .assert()
        .success();
}

#[test]
fn a_three_node_cluster_keeps_taking_a_blob_while_a_node_is_stopped() {
    let Some(mut nodes) = Garage::cluster_or_skip(3) else {
        return;
    };
    let bucket = nodes[0].bucket("cluster");
    let registry = TestRegistry::start();
    let size = 96 << 20;
    let digest = registry.push_generated_blob("team/app", size, 11);
    let fetch = std::process::Command::new(env!("CARGO_BIN_EXE_layerget"))
        .args(["--cache-dir", &bucket, "fetch"])
        .arg(registry.reference("team/app", &digest))
        .envs(nodes[0].env())
        .env("HOME", isolated_home())
        .env("RUST_BACKTRACE", "0")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Somewhere in the transfer (or after it, on a fast machine: the assertions hold either
    // way), one of the three replicas goes away; writes need two of three.
    std::thread::sleep(std::time::Duration::from_millis(300));
    nodes[2].kill();
    let out = fetch.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Served from the surviving nodes, every byte as pushed.
    let serve = Serve::start_env(Path::new(&bucket), &[], &nodes[0].env());
    let r = serve.request("GET", &format!("/v2/team/app/blobs/{digest}"), &[]);
    assert_eq!(r.status, 200);
    assert_eq!(sha256_digest(&r.body), digest);
}

#[test]
fn a_cut_fetch_into_s3_resumes_from_its_parts_and_tail() {
    let Some(node) = Garage::start_or_skip() else {
        return;
    };
    let bucket = node.bucket("resume");
    let registry = TestRegistry::start();
    let size = 40u64 << 20;
    let digest = registry.push_generated_blob("team/app", size, 5);
    let proxy = FaultProxy::start(&registry.addr());
    // Two parts and a tail of 4 MiB, then the connection breaks; no retry in this run.
    proxy.push_fault(Fault::CutAfter(20 << 20));
    on_s3(&node)
        .args(["--cache-dir", &bucket, "fetch", "--retries", "0"])
        .arg(proxy.reference("team/app", &digest))
        .assert()
        .failure();
    let a = on_s3(&node)
        .args(["--cache-dir", &bucket, "--json", "fetch"])
        .arg(proxy.reference("team/app", &digest))
        .assert()
        .success();
    let doc: serde_json::Value = serde_json::from_slice(&a.get_output().stdout).unwrap();
    assert_eq!(doc["bytes_transferred"], 20 << 20, "{doc}");
    let out = tempfile::tempdir().unwrap();
    let file = out.path().join("blob");
    on_s3(&node)
        .args(["--cache-dir", &bucket, "fetch"])
        .arg(proxy.reference("team/app", &digest))
        .arg("-o")
        .arg(&file)
        .assert()
        .success();
    assert_eq!(sha256_digest(&std::fs::read(&file).unwrap()), digest);
}

#[test]
fn cache_ls_du_verify_and_gc_on_s3() {
    let Some(node) = Garage::start_or_skip() else {
        return;
    };
    let bucket = node.bucket("looked-after");
    let registry = TestRegistry::start();
    let good = layer(9, 70_000);
    let digest = registry.push_blob("team/app", &good);
    on_s3(&node)
        .args(["--cache-dir", &bucket, "fetch"])
        .arg(registry.reference("team/app", &digest))
        .assert()
        .success();
    // Bytes under a name they do not hash to.
    let claimed = sha256_digest(b"what it claims to be");
    let key = format!(
        "cache/blobs/sha256/{}",
        claimed.trim_start_matches("sha256:")
    );
    node.put_object("looked-after", &key, b"something else");
    let cache = |args: &[&str]| {
        let mut cmd = on_s3(&node);
        cmd.args(["--cache-dir", &bucket, "cache"]).args(args);
        cmd
    };
    let a = cache(&["ls", "--blobs", "--bytes"]).assert().success();
    let out = String::from_utf8_lossy(&a.get_output().stdout).into_owned();
    assert_eq!(out.lines().count(), 2, "{out}");
    assert!(out.contains(&format!("{digest} {} ", good.len())), "{out}");
    let a = cache(&["du"]).assert().success();
    let out = String::from_utf8_lossy(&a.get_output().stdout).into_owned();
    assert!(out.contains("in s3://looked-after/cache: 2 blobs"), "{out}");
    let a = cache(&["verify"]).assert().code(5);
    let out = String::from_utf8_lossy(&a.get_output().stdout).into_owned();
    assert!(
        out.contains(&format!(
            "{claimed} bad: its 14 bytes hash to {}; moved to s3://looked-after/cache/quarantine/sha256/",
            sha256_digest(b"something else")
        )),
        "{out}"
    );
    let a = cache(&["ls", "--blobs"]).assert().success();
    let out = String::from_utf8_lossy(&a.get_output().stdout).into_owned();
    assert_eq!(out.lines().count(), 1, "{out}");
    cache(&["verify", &digest]).assert().success();

    // A fetch cut after two parts and a tail leaves a partial (and its multipart upload);
    // gc collects it with the quarantine, and leaves the blobs.
    let big = registry.push_generated_blob("team/app", 20 << 20, 3);
    let proxy = FaultProxy::start(&registry.addr());
    proxy.push_fault(Fault::CutAfter(18 << 20));
    on_s3(&node)
        .args(["--cache-dir", &bucket, "fetch", "--retries", "0"])
        .arg(proxy.reference("team/app", &big))
        .assert()
        .failure();
    let a = cache(&["du"]).assert().success();
    let out = String::from_utf8_lossy(&a.get_output().stdout).into_owned();
    assert!(
        out.contains("1 blob") && out.contains("1 partial download"),
        "{out}"
    );
    assert!(out.contains("1 quarantined"), "{out}");
    cache(&["gc"]).assert().success();
    let a = cache(&["du"]).assert().success();
    let out = String::from_utf8_lossy(&a.get_output().stdout).into_owned();
    assert!(
        out.contains("1 partial download"),
        "a fresh partial stays: {out}"
    );
    let a = cache(&["gc", "--ingest-age", "0"]).assert().success();
    let out = String::from_utf8_lossy(&a.get_output().stdout).into_owned();
    assert!(
        out.contains("removed 0 blobs (0 B), 1 ingest entry"),
        "{out}"
    );
    let a = cache(&["du"]).assert().success();
    let out = String::from_utf8_lossy(&a.get_output().stdout).into_owned();
    assert!(
        out.contains("1 blob")
            && out.contains("0 partial downloads")
            && out.contains("0 quarantined"),
        "{out}"
    );
    // The next fetch of it starts over and completes.
    on_s3(&node)
        .args(["--cache-dir", &bucket, "fetch"])
        .arg(registry.reference("team/app", &big))
        .assert()
        .success();
    // Blobs fetched by digest alone make no reference (`s3_cache.rs` tests the references).
    let a = cache(&["ls"]).assert().success();
    let err = String::from_utf8_lossy(&a.get_output().stderr).into_owned();
    assert!(
        err.contains("no references in the cache `s3://looked-after/cache`"),
        "{err}"
    );
}

/// Two pull-through replicas on one bucket (issue 13 with 14): both fetch one cold blob at
/// once. There is no lock across replicas: each may transfer it (the second commit finds the
/// object there), so the upstream sends it at most twice, and every client gets the right bytes;
/// afterwards either replica serves it from the bucket without asking upstream.
#[test]
fn two_pull_through_replicas_on_one_bucket_fetch_a_cold_blob() {
    let Some(node) = Garage::start_or_skip() else {
        return;
    };
    let registry = TestRegistry::start();
    let proxy = FaultProxy::start(&registry.addr());
    let size = 16 << 20;
    let digest = registry.push_generated_blob("team/shared", size, 91);
    let bucket = node.bucket("pullthrough");
    let upstream = format!("http://{}", proxy.addr());
    let args = ["--upstream", upstream.as_str(), "--retries", "0"];
    let replicas = [
        Serve::start_env(Path::new(&bucket), &args, &node.env()),
        Serve::start_env(Path::new(&bucket), &args, &node.env()),
    ];
    let target = format!("/v2/team/shared/blobs/{digest}");
    let clients: Vec<_> = (0..4)
        .map(|i| {
            let (addr, target) = (replicas[i % 2].addr.clone(), target.clone());
            std::thread::spawn(move || http_request(&addr, "GET", &target, &[], b""))
        })
        .collect();
    for c in clients {
        let r = c.join().unwrap();
        assert_eq!(
            (r.status, r.body.len() as u64),
            (200, size),
            "{}\nreplica 0:\n{}\nreplica 1:\n{}",
            r.text(),
            replicas[0].log(),
            replicas[1].log()
        );
        assert_eq!(sha256_digest(&r.body), digest);
    }
    let sent = proxy.body_bytes();
    assert!(
        sent <= 2 * size,
        "the upstream sent {sent} bytes for two replicas"
    );
    let asked = proxy.requests().len();
    for replica in &replicas {
        let r = replica.request("GET", &target, &[]);
        assert_eq!((r.status, r.body.len() as u64), (200, size));
    }
    assert_eq!(
        proxy.requests().len(),
        asked,
        "a blob in the bucket went upstream"
    );
}

/// A `curl --aws-sigv4` request to the node with the test key; the body it answered.
fn s3_curl(node: &Garage, method: &str, target: &str) -> String {
    let out = node
        .curl(target)
        .args(["-sf", "-X", method])
        .output()
        .unwrap();
    assert!(out.status.success(), "{method} {target}: {out:?}");
    String::from_utf8(out.stdout).unwrap()
}

/// The upload ids of ListMultipartUploads on bucket `bucket`, as curl sees them.
fn upload_ids(node: &Garage, bucket: &str) -> Vec<String> {
    let xml = s3_curl(node, "GET", &format!("{bucket}/?uploads="));
    xml.split("<UploadId>")
        .skip(1)
        .filter_map(|s| s.split_once("</UploadId>").map(|(id, _)| id.to_owned()))
        .collect()
}

/// A multipart upload started behind layerget's back and never saved in any state (what a
/// writer killed right after CreateMultipartUpload leaves): `cache gc` lists it with the
/// partials once older than `--ingest-age`, aborts it, and leaves an upload outside the
/// cache's prefix alone.
#[test]
fn gc_aborts_a_multipart_upload_no_state_names() {
    let Some(node) = Garage::start_or_skip() else {
        return;
    };
    let bucket = node.bucket("orphaned");
    let hex = "ab".repeat(32);
    let create = |key: &str| {
        let xml = s3_curl(&node, "POST", &format!("orphaned/{key}?uploads="));
        let id = xml.split_once("<UploadId>").unwrap().1;
        id.split_once("</UploadId>").unwrap().0.to_owned()
    };
    let ours = create(&format!("cache/blobs/sha256/{hex}"));
    let theirs = create("other/blobs/sha256/x");
    let cache = |args: &[&str]| {
        let mut cmd = on_s3(&node);
        cmd.args(["--cache-dir", &bucket, "cache", "gc"]).args(args);
        cmd
    };
    // An empty cache: its layout marker alone.
    node.put_object(
        "orphaned",
        "cache/oci-layout",
        br#"{"imageLayoutVersion":"1.0.0"}"#,
    );
    let a = cache(&[]).assert().success();
    let out = String::from_utf8_lossy(&a.get_output().stdout).into_owned();
    assert!(out.contains("0 ingest entries"), "a fresh one stays: {out}");
    let a = cache(&["--ingest-age", "0", "--dry-run", "--json"])
        .assert()
        .success();
    let doc: serde_json::Value = serde_json::from_slice(&a.get_output().stdout).unwrap();
    assert_eq!(
        doc["removed_ingest"][0]["path"],
        format!("s3://orphaned/cache/blobs/sha256/{hex}?uploadId={ours}"),
        "{doc}"
    );
    assert_eq!(doc["removed_ingest"][0]["digest"], format!("sha256:{hex}"));
    let mut ids = upload_ids(&node, "orphaned");
    ids.sort();
    let mut both = vec![ours.clone(), theirs.clone()];
    both.sort();
    assert_eq!(ids, both, "a dry run aborts nothing");
    let a = cache(&["--ingest-age", "0"]).assert().success();
    let out = String::from_utf8_lossy(&a.get_output().stdout).into_owned();
    assert!(out.contains("1 ingest entry"), "{out}");
    assert_eq!(upload_ids(&node, "orphaned"), vec![theirs]);
}

/// Credentials, region and endpoint from AWS profile files alone (no AWS_* variables, no
/// --s3-endpoint): the profile AWS_PROFILE names is read as the AWS CLI reads it; one that
/// is in neither file is an auth error that says so.
#[test]
fn a_profile_alone_reaches_the_bucket() {
    let Some(node) = Garage::start_or_skip() else {
        return;
    };
    let bucket = node.bucket("profiled");
    let registry = TestRegistry::start();
    let digest = registry.push_blob("team/app", &layer(4, 5000));
    let dir = tempfile::tempdir().unwrap();
    let (creds, config) = (dir.path().join("credentials"), dir.path().join("config"));
    std::fs::write(
        &creds,
        format!(
            "[default]\naws_access_key_id = WRONG\naws_secret_access_key = WRONG\n\n\
             [team]\naws_access_key_id = {KEY_ID}\naws_secret_access_key = {SECRET}\n"
        ),
    )
    .unwrap();
    std::fs::write(
        &config,
        format!(
            "[default]\nregion = us-east-1\n\n[profile team]\nregion = {REGION}\n\
             endpoint_url = {}\n",
            node.endpoint
        ),
    )
    .unwrap();
    let run = |profile: &str| {
        let mut cmd = layerget();
        for var in [
            "AWS_ACCESS_KEY_ID",
            "AWS_SECRET_ACCESS_KEY",
            "AWS_SESSION_TOKEN",
            "AWS_REGION",
            "AWS_DEFAULT_REGION",
            "AWS_ENDPOINT_URL",
            "AWS_ENDPOINT",
            "LAYERGET_S3_ENDPOINT",
        ] {
            cmd.env_remove(var);
        }
        cmd.env("AWS_PROFILE", profile)
            .env("AWS_SHARED_CREDENTIALS_FILE", &creds)
            .env("AWS_CONFIG_FILE", &config)
            .env("LAYERGET_S3_PATH_STYLE", "1")
            .args(["--cache-dir", &bucket, "fetch"])
            .arg(registry.reference("team/app", &digest));
        cmd
    };
    let a = run("team").assert().success();
    let hex = digest.trim_start_matches("sha256:");
    assert_eq!(
        String::from_utf8_lossy(&a.get_output().stdout).trim(),
        format!("{bucket}/blobs/sha256/{hex}")
    );
    let a = run("nobody").assert().code(4);
    let err = String::from_utf8_lossy(&a.get_output().stderr).into_owned();
    assert!(
        err.contains("the AWS profile `nobody` (AWS_PROFILE) is in neither"),
        "{err}"
    );
}
