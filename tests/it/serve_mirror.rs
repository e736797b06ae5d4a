//! `layerget serve` as a mirror of the registries the cache was pulled from (issue 16): a tag
//! is answered with the bytes the source registry served (Docker v2 manifests, the index a
//! platform was chosen from), containerd's `?ns=<registry>` picks among registries that
//! recorded the same `name:tag`, the access log shows query strings with other values hidden;
//! and the serve parts of issue 15: `/v2/_catalog` and several ranges compared with the
//! reference registry, `--listen :PORT` / `localhost:PORT`, and a port in use.
//!
//! Real parts: the reference registry (`TestRegistry`), `layerget pull`, `layerget serve` and
//! skopeo. containerd is not installed here, so its mirror requests are sent as it sends them
//! (`hosts.toml` mirror mode: `?ns=` with the registry host percent-encoded by Go's
//! `url.Values`, its `Accept` list).

use std::net::TcpListener;
use std::path::Path;
use std::process::{Command, Stdio};

use serde_json::Value;

use crate::support::*;

/// What containerd 1.6 sends as `Accept` when it resolves a tag.
const CONTAINERD_ACCEPT: &str = "application/vnd.docker.distribution.manifest.v2+json, application/vnd.docker.distribution.manifest.list.v2+json, application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json, */*";

fn pull(cache: &TempCache, args: &[&str]) {
    layerget()
        .arg("--cache-dir")
        .arg(cache.path())
        .arg("pull")
        .args(args)
        .assert()
        .success();
}

/// `skopeo` with no policy file or credentials, from a plain-HTTP registry.
fn skopeo(args: &[&str]) -> Result<Vec<u8>, String> {
    let out = crate::support::skopeo()
        .args(args)
        .output()
        .expect("run skopeo (apt-get install skopeo)");
    if out.status.success() {
        Ok(out.stdout)
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

/// The manifest skopeo gets for `docker://addr/name`, byte for byte.
fn skopeo_raw(addr: &str, name: &str) -> Vec<u8> {
    skopeo(&[
        "inspect",
        "--raw",
        "--tls-verify=false",
        "--retry-times",
        "0",
        &format!("docker://{addr}/{name}"),
    ])
    .unwrap_or_else(|e| panic!("skopeo inspect --raw docker://{addr}/{name}: {e}"))
}

fn get_manifest(addr: &str, target: &str) -> HttpResponse {
    http_request(addr, "GET", target, &[("Accept", CONTAINERD_ACCEPT)], b"")
}

fn error_code(r: &HttpResponse) -> String {
    let v: Value = serde_json::from_slice(&r.body).unwrap_or(Value::Null);
    v["errors"][0]["code"].as_str().unwrap_or("").to_owned()
}

#[test]
fn a_docker_v2_tag_is_served_as_the_source_registry_served_it() {
    let registry = TestRegistry::start();
    let image = push_image(
        &registry,
        "legacy/app",
        Some("v2s2"),
        true,
        "amd64",
        &[layer(7, 500)],
    );
    let cache = TempCache::new();
    let name = format!("{}/legacy/app:v2s2", registry.addr());
    pull(&cache, &[&name]);
    let serve = Serve::start(cache.path(), &[]);

    // The same answer as the source registry, by GET and HEAD.
    let target = "/v2/legacy/app/manifests/v2s2";
    for method in ["GET", "HEAD"] {
        let headers = [("Accept", CONTAINERD_ACCEPT)];
        let theirs = registry.request(method, target, &headers);
        let ours = serve.request(method, target, &headers);
        assert_eq!(ours.status, 200, "{method}: {}", ours.text());
        for h in ["docker-content-digest", "content-type", "content-length"] {
            assert_eq!(ours.header(h), theirs.header(h), "{method} {h}");
        }
        assert_eq!(ours.body, theirs.body, "{method}");
    }
    // A client that takes only OCI manifests gets the OCI recording, under its own digest.
    let oci = serve.request("GET", target, &[("Accept", OCI_MANIFEST)]);
    assert_eq!(oci.header("content-type"), Some(OCI_MANIFEST));
    assert_eq!(
        oci.header("docker-content-digest").map(str::to_owned),
        Some(sha256_digest(&oci.body))
    );
    assert_ne!(
        oci.header("docker-content-digest"),
        Some(image.digest.as_str())
    );
    let ours = serve.request("GET", target, &[]);
    assert_eq!(
        ours.header("docker-content-digest"),
        Some(image.digest.as_str())
    );
    assert_eq!(ours.header("content-type"), Some(DOCKER_MANIFEST));
    assert!(ours.body == image.manifest);

    // A real client pulls the source's digest from serve.
    let raw = skopeo_raw(&serve.addr, "legacy/app:v2s2");
    assert_eq!(sha256_digest(&raw), image.digest);
    let out = tempfile::tempdir().unwrap();
    skopeo(&[
        "copy",
        "--src-tls-verify=false",
        "--retry-times",
        "0",
        &format!("docker://{}/legacy/app:v2s2", serve.addr),
        &format!("dir:{}", out.path().display()),
    ])
    .unwrap();
    assert!(std::fs::read(out.path().join("manifest.json")).unwrap() == image.manifest);

    // The layout is still what skopeo's oci: reader needs (the OCI recording).
    assert_skopeo_reads(cache.path(), &name, &image);
}

#[test]
fn a_platform_pull_serves_the_source_index_and_what_of_it_is_cached() {
    let registry = TestRegistry::start();
    let repo = "multi/app";
    let amd = push_image(&registry, repo, None, false, "amd64", &[layer(1, 50)]);
    let arm = push_image(&registry, repo, None, false, "arm64", &[layer(2, 60)]);
    let (index_digest, index) = push_index(
        &registry,
        repo,
        "v2",
        false,
        &[("linux/amd64", &amd), ("linux/arm64", &arm)],
    );
    let cache = TempCache::new();
    let name = format!("{}/{repo}:v2", registry.addr());
    pull(&cache, &[&name, "--platform", "linux/amd64"]);
    let serve = Serve::start(cache.path(), &[]);

    let r = get_manifest(&serve.addr, &format!("/v2/{repo}/manifests/v2"));
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        r.header("docker-content-digest"),
        Some(index_digest.as_str())
    );
    assert_eq!(r.header("content-type"), Some(OCI_INDEX));
    assert!(r.body == index);
    // A client that takes no index gets the pulled platform's manifest, under its digest.
    let single = http_request(
        &serve.addr,
        "GET",
        &format!("/v2/{repo}/manifests/v2"),
        &[(
            "Accept",
            "application/vnd.oci.image.manifest.v1+json; q=0.9",
        )],
        b"",
    );
    assert_eq!(
        single.header("docker-content-digest"),
        Some(amd.digest.as_str())
    );
    assert!(single.body == amd.manifest);
    // The cached platform is there; the other one is not, and says so.
    let child = |d: &str| get_manifest(&serve.addr, &format!("/v2/{repo}/manifests/{d}"));
    assert_eq!(child(&amd.digest).status, 200);
    let missing = child(&arm.digest);
    assert_eq!(
        (missing.status, error_code(&missing).as_str()),
        (404, "MANIFEST_UNKNOWN")
    );
    let blob = http_request(
        &serve.addr,
        "GET",
        &format!("/v2/{repo}/blobs/{}", arm.layers[0]),
        &[],
        b"",
    );
    assert_eq!(
        (blob.status, error_code(&blob).as_str()),
        (404, "BLOB_UNKNOWN")
    );

    // skopeo sees the source's index digest and copies the cached (host) platform.
    assert_eq!(
        sha256_digest(&skopeo_raw(&serve.addr, &format!("{repo}:v2"))),
        index_digest
    );
    #[cfg(all(target_os = "linux", target_arch = "x86_64"))]
    {
        let out = tempfile::tempdir().unwrap();
        skopeo(&[
            "copy",
            "--src-tls-verify=false",
            "--retry-times",
            "0",
            &format!("docker://{}/{repo}:v2", serve.addr),
            &format!("dir:{}", out.path().display()),
        ])
        .unwrap();
        assert!(std::fs::read(out.path().join("manifest.json")).unwrap() == amd.manifest);
    }
    assert_skopeo_reads(cache.path(), &name, &amd);
}

/// Pushes `same/app:v1` with a layer of its own to a new registry.
fn registry_with_same_name(seed: u64) -> (TestRegistry, Image) {
    let registry = TestRegistry::start();
    let image = push_image(
        &registry,
        "same/app",
        Some("v1"),
        false,
        "amd64",
        &[layer(seed, 100)],
    );
    (registry, image)
}

/// `?ns=` as Go's `url.Values` encodes a registry host.
fn ns(registry: &TestRegistry) -> String {
    registry.addr().replace(':', "%3A")
}

#[test]
fn ns_tells_two_registries_with_the_same_name_and_tag_apart() {
    let (a, image_a) = registry_with_same_name(1);
    let (b, image_b) = registry_with_same_name(2);
    let cache = TempCache::new();
    pull(&cache, &[&format!("{}/same/app:v1", a.addr())]);
    pull(&cache, &[&format!("{}/same/app:v1", b.addr())]);
    let serve = Serve::start(cache.path(), &[]);
    let tag = "/v2/same/app/manifests/v1";

    for (registry, image) in [(&a, &image_a), (&b, &image_b)] {
        // containerd: HEAD to resolve, then GET by digest, then blobs, each with ?ns=.
        let q = format!("?ns={}", ns(registry));
        let head = http_request(
            &serve.addr,
            "HEAD",
            &format!("{tag}{q}"),
            &[("Accept", CONTAINERD_ACCEPT)],
            b"",
        );
        assert_eq!(head.status, 200);
        assert_eq!(
            head.header("docker-content-digest"),
            Some(image.digest.as_str())
        );
        let get = get_manifest(&serve.addr, &format!("{tag}{q}"));
        assert!(get.body == image.manifest);
        let by_digest = get_manifest(
            &serve.addr,
            &format!("/v2/same/app/manifests/{}{q}", image.digest),
        );
        assert_eq!(by_digest.status, 200);
        let layer = http_request(
            &serve.addr,
            "GET",
            &format!("/v2/same/app/blobs/{}{q}", image.layers[0]),
            &[],
            b"",
        );
        assert_eq!(layer.status, 200);
        // Also unencoded, and a registry's tags only.
        let plain = get_manifest(&serve.addr, &format!("{tag}?ns={}", registry.addr()));
        assert_eq!(
            plain.header("docker-content-digest"),
            Some(image.digest.as_str())
        );
        let tags = http_request(
            &serve.addr,
            "GET",
            &format!("/v2/same/app/tags/list{q}"),
            &[],
            b"",
        );
        assert_eq!(tags.status, 200);
    }
    // A registry the cache has no entry of: 404, not another registry's image.
    for absent in ["127.0.0.1%3A1", "docker.io", "not%20a%20registry"] {
        let r = get_manifest(&serve.addr, &format!("{tag}?ns={absent}"));
        assert_eq!(
            (r.status, error_code(&r).as_str()),
            (404, "MANIFEST_UNKNOWN"),
            "{absent}"
        );
    }
    // Without ns: the name recorded last (b's).
    let r = get_manifest(&serve.addr, tag);
    assert_eq!(
        r.header("docker-content-digest"),
        Some(image_b.digest.as_str())
    );

    // The access log shows the query, with other values hidden.
    let r = get_manifest(
        &serve.addr,
        &format!("{tag}?ns={}&X-Amz-Signature=s3cr3t&token", ns(&a)),
    );
    assert_eq!(r.status, 200);
    let wanted = format!("GET {tag}?ns={}&X-Amz-Signature=…&… 200", ns(&a));
    let log = wait_for_log(&serve, &wanted);
    assert!(!log.contains("s3cr3t"), "{log}");
}

/// The access log once it holds `line` (the line is written when the body is done).
fn wait_for_log(serve: &Serve, line: &str) -> String {
    for _ in 0..200 {
        let log = serve.log();
        if log.contains(line) {
            return log;
        }
        // A condition with no event to wait on: the log comes from another process.
        std::thread::sleep(std::time::Duration::from_millis(25));
    }
    panic!("no `{line}` in the access log:\n{}", serve.log());
}

#[test]
fn catalog_pages_like_the_reference_registry() {
    let registry = TestRegistry::start();
    let cache = TempCache::new();
    let repos = ["alpha", "beta/one", "beta/two", "gamma"];
    for (i, repo) in repos.iter().enumerate() {
        push_image(
            &registry,
            repo,
            Some("v1"),
            false,
            "amd64",
            &[layer(i as u64, 10)],
        );
        pull(&cache, &[&format!("{}/{repo}:v1", registry.addr())]);
    }
    let serve = Serve::start(cache.path(), &[]);
    for target in [
        "/v2/_catalog",
        "/v2/_catalog?n=2",
        "/v2/_catalog?n=2&last=beta/one",
        "/v2/_catalog?last=beta/two&n=2",
        "/v2/_catalog?n=10",
        "/v2/_catalog?last=gamma",
        "/v2/_catalog?last=b",
        "/v2/_catalog?n=0",
        "/v2/_catalog?n=1&last=zzz",
    ] {
        let theirs = registry.get(target);
        let ours = serve.request("GET", target, &[]);
        assert_eq!(ours.status, theirs.status, "{target}: {}", ours.text());
        let (a, b): (Value, Value) = (
            serde_json::from_slice(&theirs.body).unwrap(),
            serde_json::from_slice(&ours.body).unwrap(),
        );
        assert_eq!(b, a, "{target}");
        assert_eq!(ours.header("link"), theirs.header("link"), "{target}");
    }
    let bad = serve.request("GET", "/v2/_catalog?n=x", &[]);
    assert_eq!(
        (bad.status, error_code(&bad).as_str()),
        (400, "PAGINATION_NUMBER_INVALID")
    );
    let post = serve.request("POST", "/v2/_catalog", &[]);
    assert_eq!(post.status, 405);
}

/// Starts `layerget serve CACHE --listen LISTEN` (not through `Serve`, which picks the address)
/// and returns the child and the address it reports, or its exit code and stderr.
fn serve_listen(
    cache: &Path,
    listen: &str,
) -> Result<(std::process::Child, String, String), (i32, String)> {
    use std::io::{BufRead, BufReader, Read};
    let mut child = Command::new(env!("CARGO_BIN_EXE_layerget"))
        .arg("serve")
        .arg(cache)
        .args(["--listen", listen])
        .env("RUST_BACKTRACE", "0")
        .env("NO_COLOR", "1")
        .env("HOME", isolated_home())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn layerget serve");
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut seen = String::new();
    let mut line = String::new();
    while stderr.read_line(&mut line).unwrap_or(0) > 0 {
        seen.push_str(&line);
        if let Some(rest) = line.split(" on http://").nth(1) {
            let addr = rest.trim().trim_end_matches("/v2/").to_owned();
            return Ok((child, addr, seen));
        }
        line.clear();
    }
    let _ = stderr.read_to_string(&mut seen);
    let status = child.wait().unwrap();
    Err((status.code().unwrap_or(-1), seen))
}

#[test]
fn listen_takes_the_reference_registry_forms_and_a_port_in_use_exits_1() {
    let cache = TempCache::new();
    pull_nothing(&cache);
    // `:PORT` is every interface (with the non-loopback warning), `localhost:PORT` loopback.
    let (mut child, addr, seen) = serve_listen(cache.path(), ":0").unwrap();
    assert!(addr.starts_with("0.0.0.0:"), "{seen}");
    assert!(seen.contains("which is not loopback"), "{seen}");
    let port = addr.rsplit_once(':').unwrap().1;
    let r = http_request(&format!("127.0.0.1:{port}"), "GET", "/v2/", &[], b"");
    assert_eq!(r.status, 200);
    let _ = child.kill();
    let _ = child.wait();

    let (mut child, addr, seen) = serve_listen(cache.path(), "localhost:0").unwrap();
    assert!(addr.starts_with("127.0.0.1:"), "{seen}");
    assert!(!seen.contains("not loopback"), "{seen}");
    let _ = child.kill();
    let _ = child.wait();

    // A port in use: exit 1 (not 8, local storage), the OS cause once, and a hint.
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let (code, stderr) = serve_listen(cache.path(), &addr).expect_err("bind must fail");
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains(&format!("cannot listen on `{addr}`")),
        "{stderr}"
    );
    assert_eq!(stderr.matches("os error").count(), 1, "{stderr}");
    assert!(stderr.contains("hint: "), "{stderr}");

    // A host name is refused at parse time with the forms it takes.
    layerget()
        .args(["serve", "--listen", "example.com:5000"])
        .arg(cache.path())
        .assert()
        .code(2)
        .stderr(predicates::str::contains(":PORT"));
}

/// A cache with a layout in it, for tests that serve without content.
fn pull_nothing(cache: &TempCache) {
    let registry = TestRegistry::start();
    let digest = registry.push_blob("x/y", b"x");
    layerget()
        .arg("--cache-dir")
        .arg(cache.path())
        .arg("fetch")
        .arg(registry.reference("x/y", &digest))
        .assert()
        .success();
}
