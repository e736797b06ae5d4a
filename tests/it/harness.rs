//! Tests of the test support code itself, and a record of how the reference registry
//! (distribution 2.8.2, Debian's `docker-registry`) behaves at the edges later tests rely on.
//!
//! Observed facts (each is asserted below):
//!
//! - Range: `bytes=10-19` gives 206 with `Content-Range: bytes 10-19/SIZE`; an end past the blob
//!   is clipped (`bytes=40-100` on 49 bytes gives `bytes 40-48/49`).
//! - Unsatisfiable range (`bytes=N-` with N >= SIZE, *including N == SIZE*, i.e. a resume whose
//!   partial is already complete): 416, `Content-Range: bytes */SIZE`, `Content-Type:
//!   text/plain`, and `Content-Length: SIZE` (the blob's length, left over from Go 1.19's
//!   `http.ServeContent`) while the body is only `invalid range: failed to overlap\n` (33 bytes),
//!   after which the connection is closed. A client that reads a 416 body to its
//!   `Content-Length` therefore sees an unexpected EOF: read at most a little of it, or none.
//!   HEAD gets the same headers and no body. A 0-byte blob with `bytes=0-` gives 416 with
//!   `Content-Range: bytes */0` and `Content-Length: 0`.
//! - Malformed digest in the path (`sha256:abc`, uppercase hex, `md5:…`): 400, JSON envelope
//!   `DIGEST_INVALID`, message "provided digest did not match uploaded content" (misleading for
//!   a GET), `detail` is `{}`.
//! - A last segment with no `alg:` part (`notadigest`) or an invalid repository name (uppercase)
//!   does not match the router at all: 404, `text/plain`, body `404 page not found\n` — no
//!   envelope.
//! - Unknown blob: 404, JSON `BLOB_UNKNOWN`, message "blob unknown to registry", `detail` is the
//!   digest string. Blobs are scoped to a repository: a blob pushed to `a/b` is 404 in `c`. HEAD
//!   on an unknown blob: 404 with `Content-Length: 157` and no body.
//! - sha512: a monolithic upload with `?digest=sha512:…` is accepted (201; wrong content gives 400
//!   `DIGEST_INVALID`), but the registry stores it under its sha256 digest: the 201's
//!   `Docker-Content-Digest` and `Location`, and a later `GET /blobs/sha512:…` (200, right bytes)
//!   all carry the *sha256* digest in `Docker-Content-Digest` and `Etag`. So that header need not
//!   equal the requested digest: compare it only when the algorithms match.
//! - Header names come canonicalised by Go (`Docker-Distribution-Api-Version`).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use crate::support::{
    BASIC_AUTHORIZATION, Fault, FaultProxy, RecordingServer, ScriptedResponse, TempCache,
    TestRegistry, generated_bytes, generated_digest, http_request, layerget, lying_blob_server,
    redirect_target, sha256_digest, sha256_reader, try_http_request,
};

/// 1 MiB of generated content: several proxy buffers long, cheap to hold in memory.
fn mib() -> Vec<u8> {
    let mut data = Vec::new();
    generated_bytes(1 << 20, 42)
        .read_to_end(&mut data)
        .expect("generate");
    data
}

/// `/v2/<repo>/blobs/<digest>`.
fn blob_path(repo: &str, digest: &str) -> String {
    format!("/v2/{repo}/blobs/{digest}")
}

/// A registry holding [`mib`] in `test/blob`, a proxy in front of it, and the blob's path.
fn proxied_blob() -> (TestRegistry, FaultProxy, Vec<u8>, String) {
    let registry = TestRegistry::start();
    let data = mib();
    let digest = registry.push_blob("test/blob", &data);
    let proxy = FaultProxy::start(&registry.addr());
    (registry, proxy, data, blob_path("test/blob", &digest))
}

#[test]
fn registry_serves_pushed_blob_with_digest_header() {
    let registry = TestRegistry::start();
    let data = b"hello, layerget".to_vec();
    let digest = registry.push_blob("team/app", &data);
    assert_eq!(digest, sha256_digest(&data));

    let r = registry.get_blob("team/app", &digest);
    assert_eq!(r.status, 200);
    assert_eq!(r.body, data);
    assert_eq!(r.header("docker-content-digest"), Some(digest.as_str()));
    assert_eq!(r.content_length(), Some(data.len() as u64));
    assert_eq!(r.header("accept-ranges"), Some("bytes"));

    let r = registry.head(&blob_path("team/app", &digest));
    assert_eq!(r.status, 200);
    assert!(r.body.is_empty());
    assert_eq!(r.content_length(), Some(data.len() as u64));
}

#[test]
fn registry_serves_empty_blob() {
    let registry = TestRegistry::start();
    let digest = registry.push_blob("team/app", b"");
    let r = registry.get_blob("team/app", &digest);
    assert_eq!(r.status, 200);
    assert_eq!(r.content_length(), Some(0));
    assert!(r.body.is_empty());

    let path = blob_path("team/app", &digest);
    let r = registry.request("GET", &path, &[("Range", "bytes=0-")]);
    assert_eq!(r.status, 416);
    assert_eq!(r.header("content-range"), Some("bytes */0"));
    assert_eq!(r.content_length(), Some(0));
}

#[test]
fn registry_answers_ranges() {
    let registry = TestRegistry::start();
    let data: Vec<u8> = (0..49).collect();
    let path = blob_path("team/app", &registry.push_blob("team/app", &data));

    let r = registry.request("GET", &path, &[("Range", "bytes=10-19")]);
    assert_eq!(r.status, 206);
    assert_eq!(r.header("content-range"), Some("bytes 10-19/49"));
    assert_eq!(r.body, &data[10..20]);

    let r = registry.request("GET", &path, &[("Range", "bytes=40-100")]);
    assert_eq!(r.status, 206);
    assert_eq!(r.header("content-range"), Some("bytes 40-48/49"));
    assert_eq!(r.body, &data[40..]);
}

#[test]
fn registry_416_declares_blob_length_but_sends_short_text() {
    let registry = TestRegistry::start();
    let data: Vec<u8> = (0..49).collect();
    let path = blob_path("team/app", &registry.push_blob("team/app", &data));

    // 49 is exactly the blob size: the "partial is already complete" resume case.
    for range in ["bytes=49-", "bytes=100-", "bytes=100-200"] {
        let r = registry.request("GET", &path, &[("Range", range)]);
        assert_eq!(r.status, 416, "{range}");
        assert_eq!(r.header("content-range"), Some("bytes */49"), "{range}");
        assert_eq!(r.header("content-type"), Some("text/plain; charset=utf-8"));
        assert_eq!(r.content_length(), Some(49), "{range}");
        assert_eq!(r.text(), "invalid range: failed to overlap\n", "{range}");
        assert_eq!(r.body.len(), 33, "body is cut short of Content-Length");
    }

    let r = registry.request("HEAD", &path, &[("Range", "bytes=100-")]);
    assert_eq!(r.status, 416);
    assert_eq!(r.content_length(), Some(49));
    assert!(r.body.is_empty());
}

#[test]
fn registry_error_bodies() {
    let registry = TestRegistry::start();
    let digest = registry.push_blob("team/app", b"scoped");

    let invalid = r#"{"errors":[{"code":"DIGEST_INVALID","message":"provided digest did not match uploaded content","detail":{}}]}"#;
    let upper = digest.to_uppercase().replace("SHA256", "sha256");
    for bad in [
        "sha256:abc",
        upper.as_str(),
        "md5:d41d8cd98f00b204e9800998ecf8427e",
    ] {
        let r = registry.get_blob("team/app", bad);
        assert_eq!(r.status, 400, "{bad}");
        assert_eq!(
            r.header("content-type"),
            Some("application/json; charset=utf-8")
        );
        assert_eq!(r.text().trim_end(), invalid, "{bad}");
    }

    // Paths the router does not match get Go's plain 404, not an envelope.
    for path in [
        blob_path("team/app", "notadigest"),
        blob_path("Team/App", &digest),
    ] {
        let r = registry.get(&path);
        assert_eq!(r.status, 404, "{path}");
        assert_eq!(r.header("content-type"), Some("text/plain; charset=utf-8"));
        assert_eq!(r.text(), "404 page not found\n");
    }

    let unknown = format!("sha256:{}", "0".repeat(64));
    for (repo, digest) in [("team/app", unknown.as_str()), ("other", digest.as_str())] {
        let r = registry.get_blob(repo, digest);
        assert_eq!(r.status, 404);
        let expected = format!(
            r#"{{"errors":[{{"code":"BLOB_UNKNOWN","message":"blob unknown to registry","detail":"{digest}"}}]}}"#
        );
        assert_eq!(r.text().trim_end(), expected);
    }

    let r = registry.head(&blob_path("team/app", &unknown));
    assert_eq!(r.status, 404);
    assert_eq!(r.content_length(), Some(157));
    assert!(r.body.is_empty());
}

#[test]
fn registry_accepts_sha512_but_answers_with_sha256() {
    let registry = TestRegistry::start();
    let data = b"content pushed only under sha512";
    let digest = registry
        .push_blob_sha512("team/app", data)
        .expect("2.8.2 accepts sha512 uploads");
    assert!(digest.starts_with("sha512:") && digest.len() == 7 + 128);

    let r = registry.get_blob("team/app", &digest);
    assert_eq!(r.status, 200);
    assert_eq!(r.body, data);
    let canonical = sha256_digest(data);
    assert_eq!(r.header("docker-content-digest"), Some(canonical.as_str()));
}

#[test]
fn generated_bytes_do_not_depend_on_read_sizes() {
    // Crosses the generator's 1 MiB block boundaries at odd offsets.
    let size = (2 << 20) + 3;
    let mut whole = Vec::new();
    generated_bytes(size, 9).read_to_end(&mut whole).unwrap();
    assert_eq!(whole.len() as u64, size);

    for piece in [7, 4093] {
        let mut pieces = Vec::new();
        let mut reader = generated_bytes(size, 9);
        let mut buf = vec![0; piece];
        loop {
            let n = reader.read(&mut buf).unwrap();
            if n == 0 {
                break;
            }
            pieces.extend_from_slice(&buf[..n]);
        }
        assert!(pieces == whole, "reads of {piece} bytes differ");
    }

    let (first, second) = whole.split_at(1 << 20);
    assert_ne!(first, &second[..1 << 20], "blocks repeat");
    let mut other = Vec::new();
    generated_bytes(size, 10).read_to_end(&mut other).unwrap();
    assert!(other != whole, "seeds give the same bytes");
}

#[test]
fn push_generated_blob_matches_generated_bytes_through_proxy() {
    let registry = TestRegistry::start();
    let size = 64 << 20;
    let digest = registry.push_generated_blob("big/blob", size, 7);
    assert_eq!(digest, generated_digest(size, 7));

    // The same bytes come back through the streaming proxy.
    let proxy = FaultProxy::start(&registry.addr());
    let r = http_request(
        &proxy.addr(),
        "GET",
        &blob_path("big/blob", &digest),
        &[],
        b"",
    );
    assert_eq!(r.status, 200);
    assert_eq!(r.body.len() as u64, size);
    assert_eq!(sha256_reader(&mut r.body.as_slice()), digest);
}

#[test]
fn push_manifest_round_trips() {
    let registry = TestRegistry::start();
    let config =
        br#"{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}"#;
    let config_digest = registry.push_blob("team/app", config);
    let layer_digest = registry.push_blob("team/app", b"layer");
    let media_type = "application/vnd.oci.image.manifest.v1+json";
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": media_type,
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            "digest": config_digest,
            "size": config.len(),
        },
        "layers": [{
            "mediaType": "application/vnd.oci.image.layer.v1.tar",
            "digest": layer_digest,
            "size": 5,
        }],
    })
    .to_string();
    let digest = registry.push_manifest("team/app", "v1", media_type, manifest.as_bytes());

    let r = registry.request(
        "GET",
        "/v2/team/app/manifests/v1",
        &[("Accept", media_type)],
    );
    assert_eq!(r.status, 200);
    assert_eq!(r.body, manifest.as_bytes());
    assert_eq!(r.header("docker-content-digest"), Some(digest.as_str()));
}

#[test]
fn basic_auth_registry_rejects_anonymous_and_helpers_authenticate() {
    let registry = TestRegistry::builder().basic_auth().start();
    let r = http_request(&registry.addr(), "GET", "/v2/", &[], b"");
    assert_eq!(r.status, 401);
    assert_eq!(
        r.header("www-authenticate"),
        Some(r#"Basic realm="layerget-test""#)
    );

    let digest = registry.push_blob("team/app", b"private");
    let path = blob_path("team/app", &digest);
    assert_eq!(registry.get(&path).body, b"private");
    let auth = [("Authorization", BASIC_AUTHORIZATION)];
    assert_eq!(
        http_request(&registry.addr(), "GET", &path, &auth, b"").status,
        200
    );
}

#[test]
fn stop_is_idempotent_and_frees_the_port() {
    let mut registry = TestRegistry::start();
    registry.stop();
    registry.stop();
    assert!(try_http_request(&registry.addr(), "GET", "/v2/", &[], b"").is_err());
}

#[test]
fn proxy_forwards_and_records_requests() {
    let (_registry, proxy, data, path) = proxied_blob();
    let r = http_request(&proxy.addr(), "GET", &path, &[("X-Probe", "1")], b"");
    assert_eq!(r.status, 200);
    assert_eq!(r.body, data);
    assert_eq!(r.header("connection"), Some("close"));

    let r = http_request(&proxy.addr(), "HEAD", &path, &[], b"");
    assert_eq!(r.status, 200);
    assert_eq!(r.content_length(), Some(data.len() as u64));
    assert!(r.body.is_empty());

    http_request(&proxy.addr(), "GET", "/v2/?probe=1", &[], b"");
    let requests = proxy.requests();
    assert_eq!(requests.len(), 3);
    assert_eq!(requests[0].method, "GET");
    assert_eq!(requests[0].path, path);
    assert_eq!(requests[0].header("x-probe"), Some("1"));
    assert_eq!(requests[1].method, "HEAD");
    assert_eq!(requests[2].path, "/v2/?probe=1");
}

#[test]
fn proxy_cut_after_closes_mid_body() {
    let (_registry, proxy, data, path) = proxied_blob();
    proxy.push_fault(Fault::CutAfter(100_000));
    let r = http_request(&proxy.addr(), "GET", &path, &[], b"");
    assert_eq!(r.status, 200);
    assert_eq!(r.content_length(), Some(data.len() as u64));
    assert_eq!(r.body, &data[..100_000]);

    // The queue is used up: the next request is clean.
    assert_eq!(
        http_request(&proxy.addr(), "GET", &path, &[], b"").body,
        data
    );
}

#[test]
fn proxy_ignore_range_returns_full_200() {
    let (_registry, proxy, data, path) = proxied_blob();
    proxy.push_fault(Fault::IgnoreRange);
    let r = http_request(
        &proxy.addr(),
        "GET",
        &path,
        &[("Range", "bytes=10-19")],
        b"",
    );
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-range"), None);
    assert_eq!(r.body, data);
    // Recorded as the client sent it.
    assert_eq!(proxy.requests()[0].header("RANGE"), Some("bytes=10-19"));
}

#[test]
fn proxy_status_answers_without_upstream() {
    let (_registry, proxy, _data, path) = proxied_blob();
    let body = r#"{"errors":[{"code":"TOOMANYREQUESTS","message":"slow down"}]}"#;
    proxy.push_fault(Fault::Status {
        code: 429,
        headers: vec![("Retry-After".into(), "1".into())],
        body: body.into(),
    });
    proxy.push_fault(Fault::status(503, "down"));
    let r = http_request(&proxy.addr(), "GET", &path, &[], b"");
    assert_eq!(r.status, 429);
    assert_eq!(r.header("retry-after"), Some("1"));
    assert_eq!(r.text(), body);

    let r = http_request(&proxy.addr(), "HEAD", &path, &[], b"");
    assert_eq!(r.status, 503);
    assert_eq!(r.content_length(), Some(4));
    assert!(r.body.is_empty());
}

#[test]
fn proxy_default_applies_after_queue() {
    let (_registry, proxy, data, path) = proxied_blob();
    proxy.set_default(Fault::status(503, ""));
    proxy.push_fault(Fault::None);
    let get = || http_request(&proxy.addr(), "GET", &path, &[], b"");
    assert_eq!(get().body, data);
    assert_eq!(get().status, 503);
    assert_eq!(get().status, 503);
    proxy.set_default(Fault::None);
    assert_eq!(get().status, 200);
}

#[test]
fn proxy_corrupt_byte_flips_exactly_one_byte() {
    let (_registry, proxy, data, path) = proxied_blob();
    let at = 500_000;
    proxy.push_fault(Fault::CorruptByte(at as u64));
    let r = http_request(&proxy.addr(), "GET", &path, &[], b"");
    assert_eq!(r.status, 200);
    assert_eq!(r.body.len(), data.len());
    let differing: Vec<usize> = (0..data.len()).filter(|&i| r.body[i] != data[i]).collect();
    assert_eq!(differing, [at]);
    assert_eq!(r.body[at], !data[at]);
}

#[test]
fn proxy_stall_pauses_then_completes() {
    let (_registry, proxy, data, path) = proxied_blob();
    proxy.push_fault(Fault::Stall {
        after: 100,
        secs: 2,
    });
    let mut stream = TcpStream::connect(proxy.addr()).unwrap();
    write!(stream, "GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let mut received = Vec::new();
    let mut buf = [0; 4096];
    let body_start = loop {
        let n = stream.read(&mut buf).unwrap();
        assert_ne!(n, 0, "closed before the stall");
        received.extend_from_slice(&buf[..n]);
        if let Some(i) = received.windows(4).position(|w| w == b"\r\n\r\n")
            && received.len() >= i + 4 + 100
        {
            break i + 4;
        }
    };
    // Exactly `after` bytes, then silence.
    assert_eq!(received.len() - body_start, 100);
    stream
        .set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    assert!(
        stream.read(&mut buf).is_err(),
        "data arrived during the stall"
    );
    stream.set_read_timeout(None).unwrap();
    stream.read_to_end(&mut received).unwrap();
    assert_eq!(&received[body_start..], data);
}

#[test]
fn proxy_hangup_sends_nothing() {
    let (_registry, proxy, _data, path) = proxied_blob();
    proxy.push_fault(Fault::Hangup);
    assert!(try_http_request(&proxy.addr(), "GET", &path, &[], b"").is_err());
}

#[test]
fn redirect_to_host_rejecting_authorization() {
    let (_registry, proxy, data, path) = proxied_blob();
    let cdn = redirect_target(data.clone());
    let location = cdn.url("/cdn/blob?sig=abc");
    proxy.push_fault(Fault::Redirect {
        location: location.clone(),
        status: 307,
    });
    let r = http_request(&proxy.addr(), "GET", &path, &[], b"");
    assert_eq!(r.status, 307);
    assert_eq!(r.header("location"), Some(location.as_str()));

    let r = http_request(&cdn.addr(), "GET", "/cdn/blob?sig=abc", &[], b"");
    assert_eq!(r.status, 200);
    assert_eq!(r.body, data);
    let auth = [("authorization", "Bearer secret")];
    let r = http_request(&cdn.addr(), "GET", "/cdn/blob?sig=abc", &auth, b"");
    assert_eq!(r.status, 403);
    assert!(r.text().contains("DENIED"));

    let requests = cdn.requests();
    assert_eq!(requests.len(), 2);
    assert_eq!(requests[0].path, "/cdn/blob?sig=abc");
    assert_eq!(requests[0].header("authorization"), None);
    assert_eq!(requests[1].header("Authorization"), Some("Bearer secret"));
}

#[test]
fn lying_server_claims_the_requested_digest() {
    let server = lying_blob_server(b"not what you asked for".to_vec());
    let digest = sha256_digest(b"what you asked for");
    let r = http_request(&server.addr(), "GET", &blob_path("x/y", &digest), &[], b"");
    assert_eq!(r.status, 200);
    assert_eq!(r.header("docker-content-digest"), Some(digest.as_str()));
    assert_eq!(r.body, b"not what you asked for");
    assert_eq!(
        http_request(&server.addr(), "GET", "/v2/", &[], b"").status,
        200
    );
}

#[test]
fn recording_server_may_lie_about_content_length() {
    let server = RecordingServer::fixed(
        ScriptedResponse::new(200, "short").header("Content-Length", "1000"),
    );
    let r = http_request(&server.addr(), "GET", "/anything", &[], b"");
    assert_eq!(r.content_length(), Some(1000));
    assert_eq!(r.body, b"short");
}

#[test]
fn layerget_runs_with_isolated_environment() {
    let cache = TempCache::new();
    assert!(cache.path().is_dir());
    assert!(cache.blob_path("sha256:ab").ends_with("blobs/sha256/ab"));
    layerget().arg("--help").assert().success();
}
