//! `layerget serve` end to end: the same requests against the reference registry and against
//! `serve` over a cache holding the same content (differential), real clients (`skopeo`,
//! `layerget fetch`), hostile requests, and a graceful shutdown.
//!
//! Deliberate differences from distribution 2.8.2 (each case below says which applies):
//!
//! - D1 error bodies: ours are always the JSON envelope with `Content-Type: application/json`
//!   and a matching `Content-Length`; the registry answers router misses with Go's plain
//!   `404 page not found`, and 416 with text whose length is not its `Content-Length`.
//! - D2 bad names and bad last segments: ours are 400 `NAME_INVALID` / `DIGEST_INVALID`; the
//!   registry's router does not match them (404 text), and it redirects `..` paths (301).
//! - D3 several ranges: both send `multipart/byteranges` with the same parts and length; the
//!   boundaries are random, so `Content-Type` differs.
//! - D4 a malformed `Range` or another unit: ours ignores it (200, RFC 9110 section 14.2); Go's
//!   `ServeContent` answers 416.
//! - D5 `Cache-Control`: ours `public, max-age=31536000, immutable`; the registry's
//!   `max-age=31536000`.
//! - D6 pagination: 2.8.2 ignores `n` and `last` on tag lists; ours pages and validates them.
//! - D7 writes: ours 405 `UNSUPPORTED` with `Allow` (read-only); the registry accepts uploads.
//! - D8 blobs are shared by all names (the cache is one content-addressed store); the registry
//!   scopes them to the repository they were pushed to.
//! - D9 referrers: ours 200 with an empty index; 2.8.2 predates the referrers API (404).
//! - D11 the catalog (`serve_mirror.rs` compares pages): ours lists the repositories that have a
//!   tag in `index.json` (blobs belong to no repository in the cache); the registry lists every
//!   repository pushed to, and may cap an answer without `n` at its configured maximum.
//! - D12 `?ns=` (containerd's mirror mode, `serve_mirror.rs`): ours picks the registry's entry;
//!   the registry ignores the parameter.

use std::fs;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::thread;
use std::time::Duration;

use serde_json::{Value, json};

use crate::support::*;

pub(crate) const REPO: &str = "team/sub/app";
const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";

/// The registry and a cache holding the same image: a config, a small layer, a layer bigger
/// than the server's in-memory limit, an empty blob and an OCI manifest tagged `v1`.
pub(crate) struct World {
    registry: TestRegistry,
    pub(crate) cache: TempCache,
    pub(crate) small: Vec<u8>,
    small_digest: String,
    big_digest: String,
    empty_digest: String,
    pub(crate) manifest: Vec<u8>,
    manifest_digest: String,
    pub(crate) digests: Vec<String>,
}

pub(crate) fn world() -> World {
    let registry = TestRegistry::start();
    let small: Vec<u8> = (0..49).collect();
    let mut big = Vec::new();
    generated_bytes(300_000, 5).read_to_end(&mut big).unwrap();
    let config =
        br#"{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}"#;
    let small_digest = registry.push_blob(REPO, &small);
    let big_digest = registry.push_blob(REPO, &big);
    let empty_digest = registry.push_blob(REPO, b"");
    let config_digest = registry.push_blob(REPO, config);
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                   "digest": config_digest, "size": config.len()},
        "layers": [
            {"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": small_digest, "size": small.len()},
            {"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": big_digest, "size": big.len()},
        ],
    })
    .to_string()
    .into_bytes();
    let manifest_digest = registry.push_manifest(REPO, "v1", OCI_MANIFEST, &manifest);
    let digests = vec![
        small_digest.clone(),
        big_digest.clone(),
        empty_digest.clone(),
        config_digest,
        manifest_digest.clone(),
    ];
    let cache = TempCache::new();
    fill_cache(&cache, &registry.addr(), &digests[..4]);
    // `pull` does not exist yet, and distribution 2.8.2 links a manifest under the repository's
    // manifests, not its layers, so `/blobs/<manifest digest>` is 404 there: place the manifest
    // as pull will (its digest was checked by push_manifest), and record the tag with a full
    // reference.
    let path = cache.blob_path(&manifest_digest);
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(&path, &manifest).unwrap();
    let index = json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [{
            "mediaType": OCI_MANIFEST,
            "digest": manifest_digest,
            "size": manifest.len(),
            "annotations": {"org.opencontainers.image.ref.name": format!("{}/{REPO}:v1", registry.addr())},
        }],
    });
    fs::write(cache.path().join("index.json"), index.to_string()).unwrap();
    World {
        registry,
        cache,
        small,
        small_digest,
        big_digest,
        empty_digest,
        manifest,
        manifest_digest,
        digests,
    }
}

/// `layerget fetch` every digest of `REPO` from `addr` into `cache`.
fn fill_cache(cache: &TempCache, addr: &str, digests: &[String]) {
    let refs: Vec<String> = digests
        .iter()
        .map(|d| format!("{addr}/{REPO}@{d}"))
        .collect();
    layerget()
        .arg("--cache-dir")
        .arg(cache.path())
        .arg("fetch")
        .args(&refs)
        .assert()
        .success();
}

/// How the two answers must relate.
enum Expect {
    /// Same status, same key headers, same body.
    Same,
    /// Same status and `Content-Range`; bodies and other headers may differ (reason given).
    SameStatus(&'static str),
    /// Same status only (reason given).
    StatusOnly(&'static str),
    /// Different statuses: (registry, ours, reason).
    Differs(u16, u16, &'static str),
}

/// Headers whose values must agree when both answers succeed.
const KEY_HEADERS: &[&str] = &[
    "content-length",
    "content-type",
    "docker-content-digest",
    "content-range",
    "accept-ranges",
    "etag",
    "docker-distribution-api-version",
];

/// One request of the differential table: sent to both servers, the answers compared.
struct Row<'a> {
    method: &'static str,
    target: String,
    headers: Vec<(&'static str, &'a str)>,
    expect: Expect,
}

/// A [`Row`] (shorthand that keeps the table one line per request where it fits).
fn row<'a>(
    method: &'static str,
    target: impl Into<String>,
    headers: &[(&'static str, &'a str)],
    expect: Expect,
) -> Row<'a> {
    Row {
        method,
        target: target.into(),
        headers: headers.to_vec(),
        expect,
    }
}

/// Sends row `index` of the table to the registry and to serve and checks how the answers
/// relate; every failure names the row.
fn compare(w: &World, serve: &Serve, index: usize, row: &Row) {
    let Row {
        method,
        target,
        headers,
        expect,
    } = row;
    let (method, target, headers) = (*method, target.as_str(), headers.as_slice());
    let theirs = w.registry.request(method, target, headers);
    let ours = serve.request(method, target, headers);
    let why = match expect {
        Expect::Same => "",
        Expect::SameStatus(r) | Expect::StatusOnly(r) | Expect::Differs(_, _, r) => r,
    };
    let what = format!("row {index}: {method} {target} {headers:?} ({why})");
    assert_eq!(
        ours.header("docker-distribution-api-version"),
        Some("registry/2.0"),
        "{what}"
    );
    if ours.status >= 400 {
        // D1: every error of ours is a well-formed envelope.
        assert_eq!(
            ours.header("content-type"),
            Some("application/json"),
            "{what}"
        );
        if method != "HEAD" {
            assert_eq!(
                ours.content_length(),
                Some(ours.body.len() as u64),
                "{what}"
            );
            let v: Value =
                serde_json::from_slice(&ours.body).unwrap_or_else(|e| panic!("{what}: {e}"));
            assert!(v["errors"][0]["code"].is_string(), "{what}");
        }
    }
    match expect {
        Expect::Same => {
            assert_eq!(ours.status, theirs.status, "{what}: {}", ours.text());
            let json = ours.header("content-type") == Some("application/json");
            for h in KEY_HEADERS {
                // Go ends JSON bodies with a newline; the parsed JSON is compared instead.
                if json && *h == "content-length" {
                    continue;
                }
                let (a, b) = (theirs.header(h), ours.header(h));
                // Go writes `application/json; charset=utf-8`; ours has no parameter.
                let norm =
                    |v: Option<&str>| v.map(|v| v.trim_end_matches("; charset=utf-8").to_owned());
                assert_eq!(norm(b), norm(a), "{what}: header {h}");
            }
            if json && !ours.body.is_empty() {
                let (a, b): (Value, Value) = (
                    serde_json::from_slice(&theirs.body).unwrap(),
                    serde_json::from_slice(&ours.body).unwrap(),
                );
                assert_eq!(b, a, "{what}");
            } else {
                assert!(ours.body == theirs.body, "{what}: bodies differ");
            }
        }
        Expect::SameStatus(_) => {
            assert_eq!(ours.status, theirs.status, "{what}: {}", ours.text());
            assert_eq!(
                ours.header("content-range"),
                theirs.header("content-range"),
                "{what}"
            );
        }
        Expect::StatusOnly(_) => assert_eq!(ours.status, theirs.status, "{what}: {}", ours.text()),
        Expect::Differs(registry, serve_status, _) => {
            assert_eq!(theirs.status, *registry, "{what}: registry");
            assert_eq!(ours.status, *serve_status, "{what}: serve: {}", ours.text());
        }
    }
}

#[test]
fn answers_like_the_reference_registry() {
    let w = world();
    let serve = Serve::start(w.cache.path(), &[]);
    answers_like(&w, &serve);
}

/// The same table, the cache in an S3 bucket on Garage filled by `layerget pull` of the tag and
/// `fetch` of the blobs: the same requests get the same answers as from the local cache.
#[test]
fn answers_like_the_reference_registry_from_an_s3_cache() {
    let Some(node) = Garage::start_or_skip() else {
        return;
    };
    let w = world();
    let bucket = node.bucket("served");
    let on_bucket = || {
        let mut cmd = layerget();
        cmd.envs(node.env()).args(["--cache-dir", &bucket]);
        cmd
    };
    let addr = w.registry.addr();
    on_bucket()
        .args(["pull", &format!("{addr}/{REPO}:v1")])
        .assert()
        .success();
    let refs: Vec<String> = (w.digests[..4].iter())
        .map(|d| format!("{addr}/{REPO}@{d}"))
        .collect();
    on_bucket().arg("fetch").args(&refs).assert().success();
    let serve = Serve::start_env(Path::new(&bucket), &[], &node.env());
    answers_like(&w, &serve);
}

/// Compares `serve` with the reference registry over `w`'s content, request by request.
fn answers_like(w: &World, serve: &Serve) {
    let blob = |d: &str| format!("/v2/{REPO}/blobs/{d}");
    let small = blob(&w.small_digest);
    let big = blob(&w.big_digest);
    let etag = format!("\"{}\"", w.small_digest);
    let unknown = format!("sha256:{}", "0".repeat(64));
    let accept = [("Accept", OCI_MANIFEST)];
    use Expect::*;

    let manifests = |r: &str| format!("/v2/{REPO}/manifests/{r}");
    let mut rows = vec![
        row("GET", "/v2/", &[], Same),
        // D8: the manifest is in the registry's repository as a manifest only.
        row(
            "GET",
            blob(&w.manifest_digest),
            &[],
            Differs(404, 200, "D8"),
        ),
    ];
    for d in &w.digests[..4] {
        rows.push(row(
            "GET",
            blob(d),
            &[],
            SameStatus("D5: Cache-Control differs; content checked below"),
        ));
        rows.push(row("HEAD", blob(d), &[], Same));
    }
    rows.push(row("GET", &small, &[], Same));
    rows.push(row("GET", &big, &[], Same));
    for range in [
        "bytes=10-19",
        "bytes=0-0",
        "bytes=40-100",
        "bytes=-5",
        "bytes=-100",
        "bytes=45-",
        "bytes=0-",
    ] {
        rows.push(row("GET", &small, &[("Range", range)], Same));
        rows.push(row("HEAD", &small, &[("Range", range)], Same));
    }
    rows.push(row("GET", &big, &[("Range", "bytes=70000-299999")], Same));
    rows.push(row("GET", &big, &[("Range", "bytes=1-")], Same));
    // 416: same status and `Content-Range: bytes */size`; D1 for the body.
    for range in ["bytes=49-", "bytes=100-200"] {
        rows.push(row("GET", &small, &[("Range", range)], SameStatus("D1")));
        rows.push(row("HEAD", &small, &[("Range", range)], SameStatus("D1")));
    }
    let empty = blob(&w.empty_digest);
    let other_etag = [("Range", "bytes=1-2"), ("If-Range", "\"sha256:other\"")];
    rows.extend([
        row("GET", &empty, &[("Range", "bytes=0-")], SameStatus("D1")),
        row(
            "GET",
            &small,
            &[("Range", "bytes=20-10")],
            StatusOnly("D1, D10"),
        ),
        row(
            "GET",
            &small,
            &[("Range", "bytes=x-y")],
            Differs(416, 200, "D4"),
        ),
        row(
            "GET",
            &small,
            &[("Range", "items=0-1")],
            Differs(416, 200, "D4"),
        ),
        row("GET", &small, &other_etag, Same),
        row(
            "GET",
            &small,
            &[("Range", "bytes=1-2"), ("If-Range", &etag)],
            Same,
        ),
        row(
            "GET",
            &small,
            &[("If-None-Match", &etag)],
            SameStatus("304"),
        ),
        row(
            "GET",
            &small,
            &[("If-None-Match", "\"sha256:other\"")],
            Same,
        ),
        // Unknown and malformed digests.
        row("GET", blob(&unknown), &[], Same),
        row(
            "HEAD",
            blob(&unknown),
            &[],
            SameStatus("D1: lengths of different bodies"),
        ),
    ]);
    for bad in [
        "sha256:abc",
        &format!("sha256:{}", "A".repeat(64)),
        "md5:d41d8cd98f00b204e9800998ecf8427e",
    ] {
        rows.push(row(
            "GET",
            blob(bad),
            &[],
            SameStatus("D1: our message names the problem"),
        ));
    }
    let small_in = |name: &str| format!("/v2/{name}/blobs/{}", w.small_digest);
    rows.extend([
        row("GET", blob("notadigest"), &[], Differs(404, 400, "D2")),
        // Bad names.
        row("GET", small_in("Team/App"), &[], Differs(404, 400, "D2")),
        row("GET", small_in("team/../app"), &[], Differs(301, 400, "D2")),
        row("GET", small_in("other"), &[], Differs(404, 200, "D8")),
        // Manifests, by tag and by digest.
        row("GET", manifests("v1"), &accept, Same),
        row("HEAD", manifests("v1"), &accept, Same),
        row("GET", manifests(&w.manifest_digest), &accept, Same),
        row("HEAD", manifests(&w.manifest_digest), &accept, Same),
        row("GET", manifests("v2"), &accept, Same),
        row("GET", manifests(&unknown), &accept, Same),
        row(
            "GET",
            manifests("sha256:abc"),
            &accept,
            Differs(500, 400, "D11"),
        ),
        // Tags.
        row("GET", format!("/v2/{REPO}/tags/list"), &[], Same),
        row("GET", "/v2/nobody/tags/list", &[], Same),
        row(
            "GET",
            format!("/v2/{REPO}/tags/list?n=x"),
            &[],
            Differs(200, 400, "D6"),
        ),
        row(
            "GET",
            format!("/v2/{REPO}/referrers/{}", w.manifest_digest),
            &[],
            Differs(404, 200, "D9"),
        ),
    ]);
    for (index, r) in rows.iter().enumerate() {
        compare(w, serve, index, r);
    }

    // D3: the same parts in the same order (Go's rules: unmerged, past-the-end ones dropped,
    // more bytes than the blob ignored).
    for (target, range) in [
        (&small, "bytes=0-1,5-6"),
        (&small, "bytes=5-6,0-1,0-1"),
        (&small, "bytes=-2,40-"),
        (&small, "bytes=0-1,100-,3-3"),
        (&small, "bytes=0-1,100-"),
        (&small, "bytes=0-30,10-40"),
        (&big, "bytes=0-9,200000-299999,1-1"),
    ] {
        let theirs = w.registry.request("GET", target, &[("Range", range)]);
        let ours = serve.request("GET", target, &[("Range", range)]);
        assert_eq!(ours.status, theirs.status, "{range}: {}", ours.text());
        assert_eq!(byteranges(&ours), byteranges(&theirs), "{range}");
        // Boundaries of the same length (60 hex digits, as Go's): the same Content-Length.
        assert_eq!(ours.content_length(), theirs.content_length(), "{range}");
        let head = serve.request("HEAD", target, &[("Range", range)]);
        assert_eq!(head.status, ours.status, "HEAD {range}");
        assert_eq!(
            head.content_length(),
            Some(ours.body.len() as u64),
            "HEAD {range}"
        );
    }

    // Bodies of the tagged manifest and the blobs are the cache's bytes.
    let r = serve.request("GET", &format!("/v2/{REPO}/manifests/v1"), &[]);
    assert_eq!(r.body, w.manifest);
    assert_eq!(
        r.header("content-type"),
        Some(OCI_MANIFEST),
        "served without a matching Accept"
    );
    assert_eq!(serve.request("GET", &small, &[]).body, w.small);

    // D7: read-only. (DELETE is not sent to the registry: its storage allows deletes.)
    for method in ["POST", "PUT", "PATCH", "DELETE"] {
        let r = serve.request(method, &small, &[]);
        assert_eq!(r.status, 405, "{method}");
        assert_eq!(r.header("allow"), Some("GET, HEAD"));
        let r = serve.request(method, &format!("/v2/{REPO}/blobs/uploads/"), &[]);
        assert_eq!(r.status, 405, "{method}");
    }
    assert!(
        serve.log().contains(&format!("GET {small} 200 49B")),
        "{}",
        serve.log()
    );
}

/// A 206/200 answer as (Content-Range, Content-Type, bytes) per part: one part for a single
/// range or a whole body, each part of a `multipart/byteranges` body otherwise.
fn byteranges(r: &HttpResponse) -> Vec<(String, String, Vec<u8>)> {
    let ct = r.header("content-type").unwrap_or("").to_owned();
    let Some(boundary) = ct.strip_prefix("multipart/byteranges; boundary=") else {
        let range = r.header("content-range").unwrap_or("").to_owned();
        return vec![(range, ct, r.body.clone())];
    };
    assert_eq!(r.content_length(), Some(r.body.len() as u64));
    let delimiter = format!("--{boundary}");
    let body = &r.body[..];
    let find = |from: usize, what: &[u8]| {
        body[from..]
            .windows(what.len())
            .position(|w| w == what)
            .map(|p| p + from)
    };
    let mut parts = Vec::new();
    let mut at = find(0, delimiter.as_bytes()).expect("a first delimiter");
    loop {
        at += delimiter.len();
        if body[at..].starts_with(b"--") {
            break;
        }
        let head_end = find(at, b"\r\n\r\n").expect("part head");
        let head = String::from_utf8_lossy(&body[at..head_end]).into_owned();
        let header = |name: &str| {
            head.lines()
                .find_map(|l| l.strip_prefix(name))
                .unwrap_or("")
                .trim()
                .to_owned()
        };
        let next = find(head_end, format!("\r\n{delimiter}").as_bytes()).expect("next delimiter");
        parts.push((
            header("Content-Range:"),
            header("Content-Type:"),
            body[head_end + 4..next].to_vec(),
        ));
        at = next + 2;
    }
    parts
}

/// A `skopeo copy` to `dir:`, with no policy file or credentials needed.
fn skopeo_copy(addr: &str, dest: &Path) {
    let out = skopeo()
        .args(["copy", "--src-tls-verify=false", "--retry-times", "0"])
        .arg(format!("docker://{addr}/{REPO}:v1"))
        .arg(format!("dir:{}", dest.display()))
        .output()
        .expect("run skopeo (apt-get install skopeo)");
    assert!(
        out.status.success(),
        "skopeo from {addr}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

pub(crate) fn dir_files(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut files: Vec<_> = fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let p = e.unwrap().path();
            (p.file_name().unwrap().into(), fs::read(&p).unwrap())
        })
        .collect();
    files.sort();
    files
}

#[test]
fn skopeo_and_layerget_pull_the_same_image_from_serve() {
    let w = world();
    let serve = Serve::start(w.cache.path(), &[]);
    let (from_registry, from_serve) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    skopeo_copy(&w.registry.addr(), from_registry.path());
    skopeo_copy(&serve.addr, from_serve.path());
    let (a, b) = (
        dir_files(from_registry.path()),
        dir_files(from_serve.path()),
    );
    assert_eq!(
        a.iter().map(|f| &f.0).collect::<Vec<_>>(),
        b.iter().map(|f| &f.0).collect::<Vec<_>>()
    );
    assert!(a == b, "skopeo got different bytes");
    assert!(b.iter().any(|(_, bytes)| *bytes == w.manifest));

    // layerget fetch from serve fills a second cache with identical blobs.
    let second = TempCache::new();
    fill_cache(&second, &serve.addr, &w.digests);
    for d in &w.digests {
        assert_eq!(
            fs::read(second.blob_path(d)).unwrap(),
            fs::read(w.cache.blob_path(d)).unwrap(),
            "{d}"
        );
    }
}

/// Asserts that a read to the end of a connection ended because the server closed it (EOF or
/// reset), not because the client's own read timeout ran out.
fn assert_cut_by_server(end: &std::io::Result<()>, what: &str) {
    if let Err(e) = end {
        assert!(
            !matches!(
                e.kind(),
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
            ),
            "{what}: the server never closed the connection ({e})"
        );
    }
}

/// Sends raw bytes and reads whatever comes back until EOF or timeout.
fn raw(addr: &str, request: &[u8]) -> String {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let _ = s.write_all(request);
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    String::from_utf8_lossy(&out).into_owned()
}

fn status_of(response: &str) -> u16 {
    response
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

#[test]
fn hostile_requests_are_refused_and_the_server_keeps_serving() {
    let w = world();
    // Content that must never be served: a secret linked in under a digest's name, and a
    // partial download in ingest/.
    let secret_dir = tempfile::tempdir().unwrap();
    let secret = secret_dir.path().join("secret");
    fs::write(&secret, b"secret").unwrap();
    let secret_digest = sha256_digest(b"secret");
    std::os::unix::fs::symlink(&secret, w.cache.blob_path(&secret_digest)).unwrap();
    let partial_digest = sha256_digest(b"partial");
    let ingest = w
        .cache
        .path()
        .join("ingest/sha256")
        .join(&partial_digest[7..]);
    fs::create_dir_all(&ingest).unwrap();
    fs::write(ingest.join("data"), b"partial").unwrap();

    let serve = Serve::start(
        w.cache.path(),
        &["--header-timeout", "1", "--max-connections", "16"],
    );
    let addr = serve.addr.clone();
    let long_name = "a/".repeat(150) + "b";
    let cases: Vec<(String, &[u16])> = vec![
        (format!("/v2/{REPO}/blobs/{secret_digest}"), &[404]),
        (format!("/v2/{REPO}/blobs/{partial_digest}"), &[404]),
        ("/v2/../../etc/passwd".into(), &[404]),
        ("/v2/..%2f..%2fetc/passwd/blobs/x".into(), &[400]),
        (
            format!("/v2/{REPO}/blobs/..%2F..%2Fingest%2Fsha256"),
            &[400],
        ),
        (
            format!("/v2/%2e%2e/%2e%2e/blobs/{}", w.small_digest),
            &[400],
        ),
        (
            format!("/v2/{REPO}/blobs/sha256:{}", &partial_digest[7..])
                .replace("sha256:", "sha256%3a"),
            &[400],
        ),
        (format!("/v2/{long_name}/tags/list"), &[400]),
        ("/v2/a%00/tags/list".into(), &[400]),
        (format!("/v2/{REPO}/manifests/..%2f..%2findex.json"), &[404]),
        (
            format!("/v2/{REPO}/blobs/sha256:{}", "0".repeat(10_000)),
            &[400, 431],
        ),
    ];
    for (target, statuses) in &cases {
        let r = serve.request("GET", target, &[]);
        assert!(
            statuses.contains(&r.status),
            "{target}: {} {}",
            r.status,
            r.text()
        );
    }
    // Raw bytes no client library would send: a NUL in the request line, huge heads.
    let nul = raw(&addr, b"GET /v2/a\0b/tags/list HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(status_of(&nul), 400, "{nul}");
    let long_line = format!("GET /v2/{} HTTP/1.1\r\nHost: x\r\n\r\n", "a".repeat(40_000));
    assert_eq!(status_of(&raw(&addr, long_line.as_bytes())), 431);
    let mut many = String::from("GET /v2/ HTTP/1.1\r\nHost: x\r\n");
    for i in 0..200 {
        many.push_str(&format!("X-Filler-{i}: {}\r\n", "v".repeat(100)));
    }
    many.push_str("\r\n");
    let answer = raw(&addr, many.as_bytes());
    assert!(matches!(status_of(&answer), 431 | 400), "{answer}");

    // A slow client sending its head byte by byte (the 100 ms pauses are its slowness) is cut
    // off by the header timeout (1 s), and does not hold the server meanwhile.
    let (started_tx, started_rx) = std::sync::mpsc::channel();
    let slow = thread::spawn({
        let addr = addr.clone();
        move || {
            let mut s = TcpStream::connect(&addr).unwrap();
            let mut first = true;
            for b in b"GET /v2/ HTTP/1.1\r\nHost: x\r\nX-Slow: 1234567890\r\n\r\n" {
                if s.write_all(&[*b]).is_err() {
                    break;
                }
                if std::mem::take(&mut first) {
                    started_tx.send(()).unwrap();
                }
                thread::sleep(Duration::from_millis(100));
            }
            // Longer than the whole head takes to send: only a server that never cuts the
            // connection runs into it.
            s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
            let mut out = Vec::new();
            let end = s.read_to_end(&mut out).map(|_| ());
            (end, out)
        }
    });
    // The slow head has begun: the server is in the middle of reading it.
    started_rx.recv().unwrap();
    assert_eq!(
        serve.request("GET", "/v2/", &[]).status,
        200,
        "held by a slow client"
    );
    let (end, out) = slow.join().unwrap();
    assert!(
        !String::from_utf8_lossy(&out).contains("200 OK"),
        "slow head was served"
    );
    assert_cut_by_server(&end, "slow head");

    // Many idle connections, more than --max-connections: the excess waits, the idle ones are
    // cut by the header timeout, and a real request gets through.
    let idle: Vec<TcpStream> = (0..64)
        .map(|_| TcpStream::connect(&addr).unwrap())
        .collect();
    let r = serve.request("GET", &format!("/v2/{REPO}/blobs/{}", w.small_digest), &[]);
    assert_eq!(r.status, 200);
    for (i, mut s) in idle.into_iter().enumerate() {
        s.set_read_timeout(Some(WAIT_LIMIT)).unwrap();
        let end = s.read_to_end(&mut Vec::new()).map(|_| ());
        assert_cut_by_server(&end, &format!("idle connection {i}"));
    }

    // Still serving, and still exact.
    let r = serve.request(
        "GET",
        &format!("/v2/{REPO}/blobs/{}", w.small_digest),
        &[("Range", "bytes=1-2")],
    );
    assert_eq!((r.status, r.body.as_slice()), (206, &w.small[1..3]));
}

#[test]
fn sigterm_finishes_the_response_in_flight() {
    let registry = TestRegistry::start();
    let size = 32 << 20;
    let digest = registry.push_generated_blob(REPO, size, 11);
    let cache = TempCache::new();
    fill_cache(&cache, &registry.addr(), std::slice::from_ref(&digest));
    drop(registry);
    let serve = Serve::start(cache.path(), &[]);

    let mut s = TcpStream::connect(&serve.addr).unwrap();
    write!(
        s,
        "GET /v2/{REPO}/blobs/{digest} HTTP/1.1\r\nHost: x\r\n\r\n"
    )
    .unwrap();
    let mut first = [0u8; 4096];
    let n = s.read(&mut first).unwrap();
    assert!(String::from_utf8_lossy(&first[..n]).starts_with("HTTP/1.1 200"));
    let kill = Command::new("kill")
        .args(["-TERM", &serve.pid().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    // New connections are refused once shutdown starts...
    wait_until("serve to refuse new connections", || {
        try_http_request(&serve.addr, "GET", "/v2/", &[], b"").is_err()
    });
    // ...but the response in flight completes.
    let mut rest = first[..n].to_vec();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    s.read_to_end(&mut rest).unwrap();
    let body_start = rest.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
    assert_eq!(rest.len() - body_start, size as usize);
    assert_eq!(sha256_reader(&mut &rest[body_start..]), digest);

    let mut serve = serve;
    let status = serve.wait();
    assert!(status.success(), "{status}: {}", serve.log());
}

#[test]
fn serve_refuses_a_missing_cache() {
    let dir = tempfile::tempdir().unwrap();
    layerget()
        .arg("serve")
        .arg(dir.path().join("nope"))
        .args(["--listen", "127.0.0.1:0"])
        .assert()
        .code(2)
        .stderr(predicates::str::contains("no cache at"));
}

/// Reads one response off a kept-alive connection: its status, headers (lowercased names) and
/// `Content-Length` bytes of body (none for a HEAD).
fn read_kept_alive(
    reader: &mut impl std::io::BufRead,
    head_only: bool,
) -> (u16, Vec<(String, String)>, Vec<u8>) {
    let mut line = String::new();
    reader.read_line(&mut line).unwrap();
    let status = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    let mut headers = Vec::new();
    loop {
        line.clear();
        reader.read_line(&mut line).unwrap();
        let l = line.trim_end();
        if l.is_empty() {
            break;
        }
        let (k, v) = l.split_once(':').unwrap();
        headers.push((k.to_ascii_lowercase(), v.trim().to_owned()));
    }
    let len: usize = headers
        .iter()
        .find(|(k, _)| k == "content-length")
        .map_or(0, |(_, v)| v.parse().unwrap());
    let mut body = vec![0; if head_only { 0 } else { len }];
    reader.read_exact(&mut body).unwrap();
    (status, headers, body)
}

/// A pipelined request and what it must get: (blob, Range header, HEAD?, status, bytes).
type Pipelined = (usize, Option<String>, bool, u16, Vec<u8>);

/// Large bodies go out by `sendfile` on plain HTTP (issue 13): many of them, whole and ranged,
/// mixed with small, HEAD and multipart answers, pipelined on one connection, each with exactly
/// its own bytes (a stand-in out of order or unmatched would show as wrong or missing bytes).
#[test]
fn pipelined_big_and_small_answers_on_one_connection_each_carry_their_own_bytes() {
    let cache = TempCache::new().with_layout();
    fs::write(
        cache.path().join("index.json"),
        r#"{"schemaVersion":2,"manifests":[]}"#,
    )
    .unwrap();
    // Sizes around the server's 1 MiB sendfile jobs and 64 KiB inline bodies.
    let sizes = [(3 << 20) + 12_345, 1 << 20, 70_000, 5_000];
    let blobs: Vec<(String, Vec<u8>)> = sizes
        .iter()
        .enumerate()
        .map(|(seed, &size)| {
            let digest = generated_digest(size, seed as u64 + 40);
            let path = cache.blob_path(&digest);
            fs::create_dir_all(path.parent().unwrap()).unwrap();
            write_generated_file(&path, size, seed as u64 + 40);
            (digest, fs::read(&path).unwrap())
        })
        .collect();
    let serve = Serve::start(cache.path(), &[]);
    // (blob, Range header, HEAD?) -> expected status and bytes.
    let big = &blobs[0].1;
    let cases: Vec<Pipelined> = vec![
        (0, None, false, 200, big.clone()),
        (3, None, false, 200, blobs[3].1.clone()),
        (
            0,
            Some("bytes=1048000-2098000".into()),
            false,
            206,
            big[1_048_000..2_098_001].to_vec(),
        ),
        (0, None, true, 200, Vec::new()),
        (1, None, false, 200, blobs[1].1.clone()),
        (
            2,
            Some("bytes=100-".into()),
            false,
            206,
            blobs[2].1[100..].to_vec(),
        ),
        (
            0,
            Some("bytes=-70000".into()),
            false,
            206,
            big[big.len() - 70_000..].to_vec(),
        ),
        (0, None, false, 200, big.clone()),
    ];
    let mut stream = TcpStream::connect(&serve.addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    let mut requests = String::new();
    for (blob, range, head, _, _) in &cases {
        let method = if *head { "HEAD" } else { "GET" };
        requests.push_str(&format!(
            "{method} /v2/team/app/blobs/{} HTTP/1.1\r\nHost: x\r\n",
            blobs[*blob].0
        ));
        if let Some(r) = range {
            requests.push_str(&format!("Range: {r}\r\n"));
        }
        requests.push_str("\r\n");
    }
    // All at once: the server answers them in order on the one connection.
    stream.write_all(requests.as_bytes()).unwrap();
    let mut reader = std::io::BufReader::new(stream);
    for (i, (blob, range, head, status, want)) in cases.iter().enumerate() {
        let (got_status, headers, body) = read_kept_alive(&mut reader, *head);
        assert_eq!(got_status, *status, "answer {i} ({range:?})");
        assert!(
            body == *want,
            "answer {i}: the {} bytes received are not the {} wanted",
            body.len(),
            want.len()
        );
        if *head {
            let len = headers.iter().find(|(k, _)| k == "content-length").unwrap();
            assert_eq!(len.1, blobs[*blob].1.len().to_string());
        }
    }
}
