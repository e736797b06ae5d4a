//! The server's answers, against an in-memory source: statuses, headers and bodies per
//! endpoint, without sockets.

use axum::http::{HeaderMap, Method};

use std::sync::Arc;

use axum::http::StatusCode;
use axum::http::header::{self, HeaderName, HeaderValue};

use axum::body::Body;
use axum::extract::{Request, State};

use super::listing::{Query, form_encode};
use super::log::{escape_for_log, query_for_log};
use super::manifests::accepts;
use super::routing::{App, answer, handle};
use super::{IMMUTABLE, error_response};
use crate::digest::{Algorithm, Digest, digest_bytes};
use crate::manifest::{DOCKER_LIST, DOCKER_MANIFEST, OCI_INDEX, OCI_MANIFEST, REF_NAME, classify};
use crate::store::MemoryStore;

const MANIFEST_TYPE: &str = "application/vnd.docker.distribution.manifest.v2+json";

/// HOSTILE content: a config blob whose JSON names `text/html` as its media type.
const HTML_CONFIG: &[u8] =
    br#"{"mediaType":"text/html","architecture":"<script>alert(document.domain)</script>"}"#;

struct Fixture {
    app: Arc<App<MemoryStore>>,
    blob: Vec<u8>,
    digest: Digest,
    manifest: Vec<u8>,
    manifest_digest: Digest,
    untyped_digest: Digest,
}

fn fixture() -> Fixture {
    let blob: Vec<u8> = (0..49).collect();
    let big: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    let digest = digest_bytes(Algorithm::Sha256, &blob);
    let config = format!(
        r#"{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"{digest}","size":49}}"#
    );
    let manifest = format!(
        r#"{{"schemaVersion":2,"mediaType":"{MANIFEST_TYPE}","config":{config},"layers":[]}}"#
    )
    .into_bytes();
    // An OCI manifest without `mediaType`: the index's descriptor or its shape tells.
    let untyped = format!(r#"{{"schemaVersion":2,"config":{config},"layers":[]}}"#).into_bytes();
    let manifest_digest = digest_bytes(Algorithm::Sha256, &manifest);
    let untyped_digest = digest_bytes(Algorithm::Sha256, &untyped);
    let tags: Vec<_> = ["a", "b", "c", "d"]
        .iter()
        .map(|t| {
            serde_json::json!({"digest": untyped_digest.to_string(), "size": 1,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "annotations": {REF_NAME: format!("127.0.0.1:5000/team/app:{t}")}})
        })
        .chain([
            serde_json::json!({"digest": manifest_digest.to_string(), "size": 1,
            "annotations": {REF_NAME: "docker.io/library/alpine:3.20"}}),
        ])
        .collect();
    let index = serde_json::json!({"schemaVersion": 2, "manifests": tags}).to_string();
    Fixture {
        app: App::new(
            MemoryStore::with(
                [
                    blob.clone(),
                    big,
                    manifest.clone(),
                    untyped,
                    HTML_CONFIG.to_vec(),
                ],
                index.as_bytes(),
            ),
            &super::Access::default(),
        ),
        blob,
        digest,
        manifest,
        manifest_digest,
        untyped_digest,
    }
}

/// Answers a request the way `handle` does, and collects the body.
async fn call(
    f: &Fixture,
    method: Method,
    target: &str,
    headers: &[(&str, &str)],
) -> (StatusCode, HeaderMap, Vec<u8>) {
    let mut map = HeaderMap::new();
    for (k, v) in headers {
        map.insert(
            HeaderName::try_from(*k).unwrap(),
            HeaderValue::try_from(*v).unwrap(),
        );
    }
    let (path, query) = match target.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (target, None),
    };
    let response = match answer(&f.app, &method, path, query, &map, Body::empty()).await {
        Ok(r) => r,
        Err(e) => error_response(&e),
    };
    let (parts, body) = response.into_parts();
    let bytes = axum::body::to_bytes(body, usize::MAX).await.unwrap();
    (parts.status, parts.headers, bytes.to_vec())
}

fn h<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).map(|v| v.to_str().unwrap())
}

fn code(body: &[u8]) -> String {
    let v: serde_json::Value = serde_json::from_slice(body).unwrap();
    v["errors"][0]["code"].as_str().unwrap().to_owned()
}

/// `/v2/` answers 200 with the API version header: how clients find out that this is a
/// registry (and, with authentication on, where they are challenged first).
#[tokio::test]
async fn base_endpoint() {
    let f = fixture();
    for path in ["/v2/", "/v2"] {
        let (status, headers, body) = call(&f, Method::GET, path, &[]).await;
        assert_eq!(status, 200);
        assert_eq!(body, b"{}");
        assert_eq!(h(&headers, "content-type"), Some("application/json"));
    }
}

/// Blob GET and HEAD: the exact bytes and headers (length, digest, ETag, immutable caching),
/// single ranges in each RFC 9110 form, If-Range, If-None-Match, and 416 with `bytes */size`.
#[tokio::test]
async fn blob_get_head_and_ranges() {
    let f = fixture();
    let path = format!("/v2/any/name/blobs/{}", f.digest);
    let etag = format!("\"{}\"", f.digest);
    let (status, headers, body) = call(&f, Method::GET, &path, &[]).await;
    assert_eq!(status, 200);
    assert_eq!(body, f.blob);
    assert_eq!(h(&headers, "content-length"), Some("49"));
    assert_eq!(
        h(&headers, "content-type"),
        Some("application/octet-stream")
    );
    assert_eq!(
        h(&headers, "docker-content-digest"),
        Some(f.digest.to_string().as_str())
    );
    assert_eq!(h(&headers, "etag"), Some(etag.as_str()));
    assert_eq!(h(&headers, "accept-ranges"), Some("bytes"));
    assert_eq!(h(&headers, "cache-control"), Some(IMMUTABLE));

    let (status, headers, body) = call(&f, Method::HEAD, &path, &[]).await;
    assert_eq!((status, body.len()), (StatusCode::OK, 0));
    assert_eq!(h(&headers, "content-length"), Some("49"));

    // (request headers, status, Content-Range, bytes of the blob)
    type Case<'a> = (
        &'a [(&'a str, &'a str)],
        u16,
        Option<&'a str>,
        std::ops::Range<usize>,
    );
    let cases: &[Case<'_>] = &[
        (
            &[("range", "bytes=10-19")],
            206,
            Some("bytes 10-19/49"),
            10..20,
        ),
        (
            &[("range", "bytes=40-100")],
            206,
            Some("bytes 40-48/49"),
            40..49,
        ),
        (
            &[("range", "bytes=-5")],
            206,
            Some("bytes 44-48/49"),
            44..49,
        ),
        (&[("range", "bytes=0-")], 206, Some("bytes 0-48/49"), 0..49),
        // Ranges adding up to more than the blob are ignored.
        (&[("range", "bytes=0-40,1-30")], 200, None, 0..49),
        (&[("range", "bytes=x")], 200, None, 0..49),
        (
            &[("range", "bytes=1-2"), ("if-range", "\"other\"")],
            200,
            None,
            0..49,
        ),
        (
            &[("range", "bytes=1-2"), ("if-range", &etag)],
            206,
            Some("bytes 1-2/49"),
            1..3,
        ),
    ];
    for (headers_in, want, content_range, span) in cases {
        let (status, headers, body) = call(&f, Method::GET, &path, headers_in).await;
        assert_eq!(status.as_u16(), *want, "{headers_in:?}");
        assert_eq!(
            h(&headers, "content-range"),
            *content_range,
            "{headers_in:?}"
        );
        assert_eq!(body, f.blob[span.clone()], "{headers_in:?}");
        assert_eq!(
            h(&headers, "content-length"),
            Some(span.len().to_string().as_str())
        );
    }

    for range in ["bytes=49-", "bytes=20-10", "bytes=-0"] {
        let (status, headers, body) = call(&f, Method::GET, &path, &[("range", range)]).await;
        assert_eq!(status, 416, "{range}");
        assert_eq!(h(&headers, "content-range"), Some("bytes */49"));
        assert_eq!(h(&headers, "content-type"), Some("application/json"));
        assert_eq!(
            h(&headers, "content-length"),
            Some(body.len().to_string().as_str())
        );
        assert_eq!(code(&body), "RANGE_INVALID");
    }

    let (status, headers, body) = call(&f, Method::GET, &path, &[("if-none-match", &etag)]).await;
    assert_eq!((status, body.len()), (StatusCode::NOT_MODIFIED, 0));
    assert_eq!(h(&headers, "etag"), Some(etag.as_str()));
}

/// A blob above the inline threshold is streamed from the store, and a range of it is
/// exactly the bytes asked for: the streaming path, not only the one-`pread` path.
#[tokio::test]
async fn big_blobs_stream_exact_ranges() {
    let f = fixture();
    let big: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    let d = digest_bytes(Algorithm::Sha256, &big);
    let path = format!("/v2/a/blobs/{d}");
    let (status, _, body) = call(&f, Method::GET, &path, &[]).await;
    assert_eq!(status, 200);
    assert!(body == big);
    let (status, _, body) = call(&f, Method::GET, &path, &[("range", "bytes=1000-150000")]).await;
    assert_eq!(status, 206);
    assert!(body == big[1000..150_001]);
}

/// Several ranges get one `multipart/byteranges` body whose length is announced up front
/// and whose parts are the blob's bytes, as Go's `net/http` lays them out.
#[tokio::test]
async fn several_ranges_get_multipart_byteranges() {
    let f = fixture();
    let big: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    let d = digest_bytes(Algorithm::Sha256, &big);
    let path = format!("/v2/a/blobs/{d}");
    // Bigger than one read chunk, in the order asked, unmerged.
    let ranges = [(1000u64, 150_000u64), (10, 19), (10, 19)];
    let header = "bytes=1000-150000,10-19,10-19";
    let (status, headers, body) = call(&f, Method::GET, &path, &[("range", header)]).await;
    assert_eq!(status, 206);
    let ct = h(&headers, "content-type").unwrap().to_owned();
    let boundary = ct
        .strip_prefix("multipart/byteranges; boundary=")
        .unwrap()
        .to_owned();
    assert_eq!(boundary.len(), 60);
    assert_eq!(
        h(&headers, "content-length"),
        Some(body.len().to_string().as_str())
    );
    let mut want = Vec::new();
    for (i, (a, b)) in ranges.iter().enumerate() {
        if i > 0 {
            want.extend_from_slice(b"\r\n");
        }
        want.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Range: bytes {a}-{b}/200000\r\nContent-Type: application/octet-stream\r\n\r\n"
            )
            .as_bytes(),
        );
        want.extend_from_slice(&big[*a as usize..=*b as usize]);
    }
    want.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    assert!(body == want, "multipart body differs");
    // HEAD: the same headers, no body; a new boundary each time.
    let (status, headers, body) = call(&f, Method::HEAD, &path, &[("range", header)]).await;
    assert_eq!((status.as_u16(), body.len()), (206, 0));
    assert_eq!(
        h(&headers, "content-length"),
        Some(want.len().to_string().as_str())
    );
    assert_ne!(h(&headers, "content-type"), Some(ct.as_str()));
}

/// The error envelope for each way a blob request can be wrong: bad name, bad digest,
/// unknown blob; each with the status the OCI spec gives it.
#[tokio::test]
async fn blob_errors() {
    let f = fixture();
    let unknown = format!("sha256:{}", "0".repeat(64));
    let cases = [
        (format!("/v2/a/blobs/{unknown}"), 404, "BLOB_UNKNOWN"),
        ("/v2/a/blobs/sha256:abc".into(), 400, "DIGEST_INVALID"),
        ("/v2/a/blobs/notadigest".into(), 400, "DIGEST_INVALID"),
        (
            format!("/v2/a/blobs/md5:{}", "0".repeat(32)),
            400,
            "DIGEST_INVALID",
        ),
        (
            format!("/v2/a/blobs/sha256:{}", "A".repeat(64)),
            400,
            "DIGEST_INVALID",
        ),
        (format!("/v2/Team/blobs/{unknown}"), 400, "NAME_INVALID"),
        (format!("/v2/a/../b/blobs/{unknown}"), 400, "NAME_INVALID"),
        (format!("/v2/%2e%2e/blobs/{unknown}"), 400, "NAME_INVALID"),
        ("/v2/a/b".into(), 404, "NOT_FOUND"),
        ("/etc/passwd".into(), 404, "NOT_FOUND"),
    ];
    for (path, status, want) in cases {
        let (s, headers, body) = call(&f, Method::GET, &path, &[]).await;
        assert_eq!(s.as_u16(), status, "{path}");
        assert_eq!(code(&body), want, "{path}");
        assert_eq!(h(&headers, "content-type"), Some("application/json"));
    }
}

/// A read-only registry answers writes with 405 `UNSUPPORTED` and says in `Allow` what it
/// does allow (nothing, for the upload endpoints).
#[tokio::test]
async fn writes_are_refused_with_allow() {
    let f = fixture();
    let blob = format!("/v2/a/blobs/{}", f.digest);
    for method in [Method::POST, Method::PUT, Method::PATCH, Method::DELETE] {
        let (s, headers, body) = call(&f, method.clone(), &blob, &[]).await;
        assert_eq!(s, 405, "{method}");
        assert_eq!(h(&headers, "allow"), Some("GET, HEAD"));
        assert_eq!(code(&body), "UNSUPPORTED");
        let (s, headers, _) = call(&f, method.clone(), "/v2/a/blobs/uploads/", &[]).await;
        assert_eq!(s, 405, "{method}");
        assert_eq!(h(&headers, "allow"), Some(""));
    }
}

/// Manifests by tag (through the reference table, per registry with `?ns=`) and by digest:
/// the stored bytes under the type their bytes prove, never a type the client asked for.
#[tokio::test]
async fn manifests_by_tag_and_digest() {
    let f = fixture();
    // By digest, under any name: the JSON's mediaType.
    let (s, headers, body) = call(
        &f,
        Method::GET,
        &format!("/v2/x/manifests/{}", f.manifest_digest),
        &[],
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(body, f.manifest);
    assert_eq!(h(&headers, "content-type"), Some(MANIFEST_TYPE));
    assert_eq!(h(&headers, "cache-control"), Some(IMMUTABLE));
    // By tag: the host of the recorded reference does not matter.
    let (s, headers, body) = call(&f, Method::GET, "/v2/library/alpine/manifests/3.20", &[]).await;
    assert_eq!(s, 200);
    assert_eq!(body, f.manifest);
    assert_eq!(
        h(&headers, "docker-content-digest"),
        Some(f.manifest_digest.to_string().as_str())
    );
    assert_eq!(h(&headers, "cache-control"), None);
    // No mediaType in the JSON: the index.json descriptor's.
    let (s, headers, _) = call(&f, Method::HEAD, "/v2/team/app/manifests/b", &[]).await;
    assert_eq!(s, 200);
    assert_eq!(h(&headers, "content-type"), Some(OCI_MANIFEST));
    let (s, headers, _) = call(
        &f,
        Method::GET,
        &format!("/v2/z/manifests/{}", f.untyped_digest),
        &[],
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(h(&headers, "content-type"), Some(OCI_MANIFEST));

    let cases = [
        (
            "/v2/team/app/manifests/nope".to_owned(),
            404,
            "MANIFEST_UNKNOWN",
        ),
        ("/v2/other/manifests/a".to_owned(), 404, "MANIFEST_UNKNOWN"),
        (
            "/v2/team/app/manifests/-bad".to_owned(),
            404,
            "MANIFEST_UNKNOWN",
        ),
        (
            "/v2/team/app/manifests/sha256:1".to_owned(),
            400,
            "DIGEST_INVALID",
        ),
        // A layer is no manifest.
        (
            format!("/v2/team/app/manifests/{}", f.digest),
            404,
            "MANIFEST_UNKNOWN",
        ),
    ];
    for (path, status, want) in cases {
        let (s, _, body) = call(&f, Method::GET, &path, &[]).await;
        assert_eq!(s.as_u16(), status, "{path}");
        assert_eq!(code(&body), want, "{path}");
    }
}

/// Tag lists are sorted and paged with `n` and `last`, with a `Link` to the next page; a
/// bad `n` is `PAGINATION_NUMBER_INVALID`, an unknown repository `NAME_UNKNOWN`.
#[tokio::test]
async fn tags_list_pages() {
    let f = fixture();
    let list = |body: &[u8]| -> Vec<String> {
        let v: serde_json::Value = serde_json::from_slice(body).unwrap();
        assert_eq!(v["name"], "team/app");
        v["tags"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t.as_str().unwrap().to_owned())
            .collect()
    };
    let (s, headers, body) = call(&f, Method::GET, "/v2/team/app/tags/list", &[]).await;
    assert_eq!(s, 200);
    assert_eq!(list(&body), ["a", "b", "c", "d"]);
    assert_eq!(h(&headers, "link"), None);
    let (_, headers, body) = call(&f, Method::GET, "/v2/team/app/tags/list?n=2", &[]).await;
    assert_eq!(list(&body), ["a", "b"]);
    assert_eq!(
        h(&headers, "link"),
        Some("</v2/team/app/tags/list?n=2&last=b>; rel=\"next\"")
    );
    let (_, headers, body) = call(&f, Method::GET, "/v2/team/app/tags/list?n=2&last=b", &[]).await;
    assert_eq!(list(&body), ["c", "d"]);
    assert_eq!(h(&headers, "link"), None);
    let (_, _, body) = call(&f, Method::GET, "/v2/team/app/tags/list?last=c", &[]).await;
    assert_eq!(list(&body), ["d"]);
    let (_, _, body) = call(&f, Method::GET, "/v2/team/app/tags/list?n=0", &[]).await;
    assert!(list(&body).is_empty());
    for bad in ["n=-1", "n=x", "n=", "n=99999999999999999999999"] {
        let (s, _, body) = call(
            &f,
            Method::GET,
            &format!("/v2/team/app/tags/list?{bad}"),
            &[],
        )
        .await;
        assert_eq!(s, 400, "{bad}");
        assert_eq!(code(&body), "PAGINATION_NUMBER_INVALID");
    }
    let (s, _, body) = call(&f, Method::GET, "/v2/nobody/tags/list", &[]).await;
    assert_eq!(s, 404);
    assert_eq!(code(&body), "NAME_UNKNOWN");
}

/// The referrers endpoint always answers an OCI index (empty: nothing records referrers yet).
#[tokio::test]
async fn referrers_are_an_empty_index() {
    let f = fixture();
    let (s, headers, body) = call(
        &f,
        Method::GET,
        &format!("/v2/a/referrers/{}", f.digest),
        &[],
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(h(&headers, "content-type"), Some(OCI_INDEX));
    let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(v["manifests"], serde_json::json!([]));
    let (s, _, _) = call(&f, Method::GET, "/v2/a/referrers/sha256:zz", &[]).await;
    assert_eq!(s, 400);
}

/// HOSTILE: a config blob whose JSON claims `text/html` is never served from `/manifests/`,
/// so a cached blob cannot become a page in a browser.
#[tokio::test]
async fn a_blob_that_is_no_manifest_is_not_served_as_one() {
    let f = fixture();
    let html = digest_bytes(Algorithm::Sha256, HTML_CONFIG);
    for method in [Method::GET, Method::HEAD, Method::GET] {
        let (s, headers, body) =
            call(&f, method.clone(), &format!("/v2/a/manifests/{html}"), &[]).await;
        assert_eq!(s, 404, "{method}");
        assert_eq!(h(&headers, "content-type"), Some("application/json"));
        if method == Method::GET {
            assert_eq!(code(&body), "MANIFEST_UNKNOWN");
        }
    }
    // As a blob it is served, as bytes.
    let (s, headers, body) = call(&f, Method::GET, &format!("/v2/a/blobs/{html}"), &[]).await;
    assert_eq!((s, body.as_slice()), (StatusCode::OK, HTML_CONFIG));
    assert_eq!(
        h(&headers, "content-type"),
        Some("application/octet-stream")
    );
}

/// The sniffing table: which documents are manifests of which type, with and without the
/// media type the reference table recorded as a hint.
#[test]
fn classify_accepts_only_the_four_manifest_types() {
    let d = format!("sha256:{}", "a".repeat(64));
    let config = format!(
        r#"{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"{d}","size":1}}"#
    );
    let image = |mt: &str| {
        format!(r#"{{"schemaVersion":2,"mediaType":"{mt}","config":{config},"layers":[]}}"#)
    };
    let index = |mt: &str| format!(r#"{{"schemaVersion":2,"mediaType":"{mt}","manifests":[]}}"#);
    let untyped_image = format!(r#"{{"schemaVersion":2,"config":{config},"layers":[]}}"#);
    let cases: Vec<(String, Option<&str>, Option<&str>)> = vec![
        (image(OCI_MANIFEST), None, Some(OCI_MANIFEST)),
        (image(DOCKER_MANIFEST), None, Some(DOCKER_MANIFEST)),
        (index(OCI_INDEX), None, Some(OCI_INDEX)),
        (index(DOCKER_LIST), None, Some(DOCKER_LIST)),
        (untyped_image.clone(), None, Some(OCI_MANIFEST)),
        (
            untyped_image.clone(),
            Some(DOCKER_MANIFEST),
            Some(DOCKER_MANIFEST),
        ),
        // A hint that is no manifest type is ignored.
        (untyped_image, Some("text/html"), Some(OCI_MANIFEST)),
        // The document's own type wins over a hint that disagrees.
        (
            image(OCI_MANIFEST),
            Some(DOCKER_MANIFEST),
            Some(OCI_MANIFEST),
        ),
        (
            String::from_utf8(HTML_CONFIG.to_vec()).unwrap(),
            Some(OCI_MANIFEST),
            None,
        ),
        (image("text/html"), None, None),
        (
            image("application/vnd.oci.image.config.v1+json"),
            None,
            None,
        ),
        (
            r#"{"mediaType":"application/vnd.oci.image.manifest.v1+json"}"#.into(),
            None,
            None,
        ),
        (
            r#"{"schemaVersion":1,"config":{},"layers":[]}"#.into(),
            None,
            None,
        ),
        (
            r#"{"schemaVersion":2,"config":1,"layers":[0]}"#.into(),
            None,
            None,
        ),
        ("[]".into(), Some(OCI_MANIFEST), None),
        ("not json".into(), None, None),
        (String::new(), None, None),
    ];
    for (doc, hint, want) in cases {
        assert_eq!(classify(doc.as_bytes(), hint), want, "{doc} {hint:?}");
    }
}

/// A manifest's classification is remembered by digest: repeated HEADs open nothing, and a
/// GET opens the blob once, for the bytes it sends.
#[tokio::test]
async fn a_manifest_is_classified_once() {
    let f = fixture();
    let path = format!("/v2/x/manifests/{}", f.manifest_digest);
    let opens = || f.app.source.opens();
    let (s, headers, _) = call(&f, Method::HEAD, &path, &[]).await;
    assert_eq!(s, 200);
    assert_eq!(h(&headers, "content-type"), Some(MANIFEST_TYPE));
    assert_eq!(
        h(&headers, "content-length"),
        Some(f.manifest.len().to_string().as_str())
    );
    assert_eq!(opens(), 1, "classified by reading the blob once");
    // HEAD again reads nothing; GET opens only to send the bytes.
    let (s, _, _) = call(&f, Method::HEAD, &path, &[]).await;
    assert_eq!((s, opens()), (StatusCode::OK, 1));
    let (s, _, body) = call(&f, Method::GET, &path, &[]).await;
    assert_eq!((s, opens()), (StatusCode::OK, 2));
    assert_eq!(body, f.manifest);
    // A no-manifest answer is remembered too.
    let html = format!(
        "/v2/x/manifests/{}",
        digest_bytes(Algorithm::Sha256, HTML_CONFIG)
    );
    assert_eq!(call(&f, Method::HEAD, &html, &[]).await.0, 404);
    assert_eq!(call(&f, Method::HEAD, &html, &[]).await.0, 404);
    assert_eq!(opens(), 3);
}

/// Every answer, errors and refusals included, carries `X-Content-Type-Options: nosniff`.
#[tokio::test]
async fn every_answer_says_nosniff() {
    let f = fixture();
    for target in [
        "/v2/".to_owned(),
        format!("/v2/a/blobs/{}", f.digest),
        format!("/v2/a/manifests/{}", f.manifest_digest),
        format!(
            "/v2/a/manifests/{}",
            digest_bytes(Algorithm::Sha256, HTML_CONFIG)
        ),
        "/elsewhere".to_owned(),
    ] {
        let request = Request::builder()
            .uri(target.as_str())
            .body(Body::empty())
            .unwrap();
        let response = handle(State(f.app.clone()), request).await;
        assert_eq!(
            response
                .headers()
                .get("x-content-type-options")
                .map(HeaderValue::as_bytes),
            Some(b"nosniff".as_slice()),
            "{target}"
        );
    }
}

/// HOSTILE: client text in the access log cannot carry terminal escapes or bidi controls.
#[test]
fn log_text_has_control_characters_escaped() {
    let cases = [
        ("/v2/a/blobs/x", "/v2/a/blobs/x"),
        ("/v2/\u{1b}]52;c;aGk=\u{7}", "/v2/\\u{1b}]52;c;aGk=\\u{7}"),
        ("/v2/\u{9b}31m", "/v2/\\u{9b}31m"),
        ("a\\b\nc\u{7f}", "a\\\\b\\nc\\u{7f}"),
        ("caf\u{e9}", "caf\u{e9}"),
    ];
    for (raw, want) in cases {
        assert_eq!(escape_for_log(raw, 300), want);
    }
    assert_eq!(escape_for_log(&"x".repeat(500), 300).len(), 300);
}

/// Query strings are form-decoded for `ns`, `n` and `last`; any other value (a signature, a
/// token) is hidden in the log.
#[test]
fn queries_are_decoded_and_logged_without_secrets() {
    let q = Query::parse(Some("ns=127.0.0.1%3A5000&n=2&last=a%2Fb&x=1"));
    assert_eq!(q.ns.as_deref(), Some("127.0.0.1:5000"));
    assert_eq!(
        (q.n.as_deref(), q.last.as_deref()),
        (Some("2"), Some("a/b"))
    );
    assert_eq!(
        Query::parse(Some("ns=docker.io")).ns.as_deref(),
        Some("registry-1.docker.io")
    );
    assert_eq!(Query::parse(Some("ns=%zz+bad")).ns.as_deref(), Some(""));
    assert_eq!(Query::parse(None), Query::default());
    assert_eq!(
        query_for_log("ns=docker.io&X-Amz-Signature=abc&token&n=1&last=x"),
        "ns=docker.io&X-Amz-Signature=…&…&n=1&last=x"
    );
    assert_eq!(query_for_log("ns=\x1b[31m"), "ns=\\u{1b}[31m");
    assert_eq!(form_encode("beta/one:5000"), "beta%2Fone%3A5000");
}

/// `Accept` only orders the two stored forms of a tag (the registry's document and the
/// recording): the rules of `accepts`, wildcards and blanks included.
#[test]
fn accept_orders_the_two_forms_of_a_tag() {
    let with = |v: &str| {
        let mut h = HeaderMap::new();
        h.insert(header::ACCEPT, HeaderValue::from_str(v).unwrap());
        h
    };
    let none = HeaderMap::new();
    assert!(accepts(&none, Some(OCI_INDEX)));
    assert!(accepts(&with(OCI_MANIFEST), None));
    assert!(accepts(
        &with(&format!("{OCI_MANIFEST}, {OCI_INDEX};q=0.5")),
        Some(OCI_INDEX)
    ));
    assert!(!accepts(
        &with(&format!("{OCI_MANIFEST}; q=0.9")),
        Some(OCI_INDEX)
    ));
    assert!(accepts(&with("application/*"), Some(OCI_INDEX)));
    assert!(accepts(&with("*/*"), Some(DOCKER_LIST)));
    assert!(!accepts(&with("text/*"), Some(DOCKER_LIST)));
    assert!(accepts(&with(" , "), Some(DOCKER_LIST)));
}
