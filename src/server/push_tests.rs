//! The write side (`--allow-push`, `--allow-delete`) against an in-memory store: uploads,
//! manifest PUTs, referrers and deletes, statuses, headers and envelopes, without sockets.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::header::{HeaderName, HeaderValue};
use axum::http::{HeaderMap, Method, StatusCode};

use super::Writes;
use super::error_response;
use super::routing::{App, answer};
use super::uploads::sweep_once;
use crate::digest::{Algorithm, Digest, digest_bytes};
use crate::manifest::{OCI_INDEX, OCI_MANIFEST};
use crate::store::{ContentStore, MemoryStore};

/// Settings with these writes and nothing else.
fn access(writes: Writes) -> super::Access {
    super::Access {
        writes,
        ..super::Access::default()
    }
}

fn app_with(writes: Writes) -> Arc<App<MemoryStore>> {
    App::new(MemoryStore::new(), &access(writes))
}

fn app() -> Arc<App<MemoryStore>> {
    app_with(Writes {
        push: true,
        delete: true,
        ..Writes::default()
    })
}

struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: Vec<u8>,
}

impl Answer {
    fn h(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(|v| v.to_str().unwrap())
    }

    fn code(&self) -> String {
        let v: serde_json::Value = serde_json::from_slice(&self.body).unwrap();
        v["errors"][0]["code"].as_str().unwrap().to_owned()
    }
}

async fn req(
    app: &Arc<App<MemoryStore>>,
    method: Method,
    target: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Answer {
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
    let body = Body::from(body.to_vec());
    let response = match answer(app, &method, path, query, &map, body).await {
        Ok(r) => r,
        Err(e) => error_response(&e),
    };
    let (parts, body) = response.into_parts();
    let bytes = axum::body::to_bytes(body, usize::MAX).await.unwrap();
    Answer {
        status: parts.status,
        headers: parts.headers,
        body: bytes.to_vec(),
    }
}

/// Opens a session in `name`; returns its Location.
async fn open(app: &Arc<App<MemoryStore>>, name: &str) -> String {
    let a = req(
        app,
        Method::POST,
        &format!("/v2/{name}/blobs/uploads/"),
        &[],
        b"",
    )
    .await;
    assert_eq!(a.status, StatusCode::ACCEPTED);
    a.h("location").unwrap().to_owned()
}

async fn stored(app: &Arc<App<MemoryStore>>, d: &Digest) -> Option<Vec<u8>> {
    let blob = app.source.open(d).await.unwrap()?;
    Some(blob.read_range(0..blob.size()).unwrap().to_vec())
}

#[tokio::test]
async fn a_monolithic_post_and_put_store_the_blob() {
    let app = app();
    let data = b"one whole blob".to_vec();
    let d = digest_bytes(Algorithm::Sha256, &data);
    let len = data.len().to_string();
    let a = req(
        &app,
        Method::POST,
        &format!("/v2/team/app/blobs/uploads/?digest={d}"),
        &[("content-length", &len)],
        &data,
    )
    .await;
    assert_eq!(a.status, StatusCode::CREATED);
    assert_eq!(a.h("location").unwrap(), format!("/v2/team/app/blobs/{d}"));
    assert_eq!(a.h("docker-content-digest").unwrap(), d.to_string());
    assert_eq!(stored(&app, &d).await.unwrap(), data);
    assert!(app.source.uploads().await.unwrap().is_empty());

    // POST, then one PUT with the whole body (the digest percent-encoded, as Go clients send it).
    let data = b"put whole".to_vec();
    let d = digest_bytes(Algorithm::Sha256, &data);
    let location = open(&app, "team/app").await;
    let encoded = d.to_string().replace(':', "%3A");
    let a = req(
        &app,
        Method::PUT,
        &format!("{location}?digest={encoded}"),
        &[],
        &data,
    )
    .await;
    assert_eq!(a.status, StatusCode::CREATED, "{:?}", a.body);
    assert_eq!(stored(&app, &d).await.unwrap(), data);
    // The blob is then served as any other.
    let a = req(
        &app,
        Method::GET,
        &format!("/v2/team/app/blobs/{d}"),
        &[],
        b"",
    )
    .await;
    assert_eq!((a.status, a.body), (StatusCode::OK, data));
}

#[tokio::test]
async fn chunked_uploads_follow_the_content_range_rules() {
    let app = app();
    let data: Vec<u8> = (0..100u8).collect();
    let d = digest_bytes(Algorithm::Sha256, &data);
    let a = req(&app, Method::POST, "/v2/team/app/blobs/uploads/", &[], b"").await;
    assert_eq!(a.status, StatusCode::ACCEPTED);
    assert_eq!(a.h("range"), Some("0-0"));
    let location = a.h("location").unwrap().to_owned();
    let uuid = a.h("docker-upload-uuid").unwrap();
    assert!(location.ends_with(uuid), "{location} {uuid}");
    assert!(location.starts_with("/v2/team/app/blobs/uploads/"));

    let a = req(
        &app,
        Method::PATCH,
        &location,
        &[("content-range", "0-39"), ("content-length", "40")],
        &data[..40],
    )
    .await;
    assert_eq!(a.status, StatusCode::ACCEPTED);
    assert_eq!(a.h("range"), Some("0-39"));
    assert_eq!(a.h("location"), Some(location.as_str()));

    // Out of order (a gap, an overlap): 416 with where to resume.
    for range in ["50-59", "30-39", "0-9"] {
        let a = req(
            &app,
            Method::PATCH,
            &location,
            &[("content-range", range), ("content-length", "10")],
            &data[..10],
        )
        .await;
        assert_eq!(a.status, StatusCode::RANGE_NOT_SATISFIABLE, "{range}");
        assert_eq!(a.code(), "RANGE_INVALID");
        assert_eq!(a.h("range"), Some("0-39"));
    }
    // Malformed, negative or huge ranges are refused the same way, never a panic.
    for range in ["x", "-5-9", "40-", "99999999999999999999-1", "45-40"] {
        let a = req(
            &app,
            Method::PATCH,
            &location,
            &[("content-range", range)],
            b"",
        )
        .await;
        assert_eq!(a.status, StatusCode::RANGE_NOT_SATISFIABLE, "{range}");
    }
    // A length that does not match the range.
    let a = req(
        &app,
        Method::PATCH,
        &location,
        &[("content-range", "40-49"), ("content-length", "5")],
        &data[40..45],
    )
    .await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST);
    assert_eq!(a.code(), "SIZE_INVALID");

    // A streamed PATCH (no Content-Range) appends.
    let a = req(&app, Method::PATCH, &location, &[], &data[40..70]).await;
    assert_eq!(a.status, StatusCode::ACCEPTED);
    assert_eq!(a.h("range"), Some("0-69"));

    // Status.
    let a = req(&app, Method::GET, &location, &[], b"").await;
    assert_eq!(a.status, StatusCode::NO_CONTENT);
    assert_eq!(a.h("range"), Some("0-69"));
    assert_eq!(a.h("docker-upload-uuid"), Some(uuid_of(&location)));

    // The PUT carries the last chunk.
    let a = req(
        &app,
        Method::PUT,
        &format!("{location}?digest={d}"),
        &[("content-range", "70-99"), ("content-length", "30")],
        &data[70..],
    )
    .await;
    assert_eq!(a.status, StatusCode::CREATED);
    assert_eq!(stored(&app, &d).await.unwrap(), data);
    // The session is over: a PATCH or GET after the PUT is unknown.
    let a = req(&app, Method::PATCH, &location, &[], b"more").await;
    assert_eq!(a.status, StatusCode::NOT_FOUND);
    assert_eq!(a.code(), "BLOB_UPLOAD_UNKNOWN");
    let a = req(&app, Method::GET, &location, &[], b"").await;
    assert_eq!(a.status, StatusCode::NOT_FOUND);
}

fn uuid_of(location: &str) -> &str {
    location.rsplit('/').next().unwrap()
}

/// A session opened without `digest-algorithm` (hashed as sha256 while the bytes come) may be
/// closed with the sha512 digest of its bytes, as the conformance suite's sha512 checks do.
#[tokio::test]
async fn a_default_session_may_close_with_a_sha512_digest() {
    let app = app();
    let d512 = digest_bytes(Algorithm::Sha512, b"bytes");
    let location = open(&app, "team/app").await;
    let a = req(&app, Method::PATCH, &location, &[], b"bytes").await;
    assert_eq!(a.status, StatusCode::ACCEPTED);
    let a = req(
        &app,
        Method::PUT,
        &format!("{location}?digest={d512}"),
        &[],
        b"",
    )
    .await;
    assert_eq!(a.status, StatusCode::CREATED);
    let a = req(
        &app,
        Method::GET,
        &format!("/v2/team/app/blobs/{d512}"),
        &[],
        b"",
    )
    .await;
    assert_eq!((a.status, &a.body[..]), (StatusCode::OK, &b"bytes"[..]));
}

#[tokio::test]
async fn wrong_or_missing_digests_discard_the_upload() {
    let app = app();
    let other = digest_bytes(Algorithm::Sha256, b"something else");
    let cases = [
        format!("?digest={other}"),
        String::new(),
        "?digest=sha256:nothex".to_owned(),
        format!(
            "?digest={}",
            digest_bytes(Algorithm::Sha512, b"other bytes")
        ),
    ];
    for query in cases {
        let location = open(&app, "team/app").await;
        let a = req(&app, Method::PATCH, &location, &[], b"bytes").await;
        assert_eq!(a.status, StatusCode::ACCEPTED);
        let a = req(&app, Method::PUT, &format!("{location}{query}"), &[], b"").await;
        assert_eq!(a.status, StatusCode::BAD_REQUEST, "{query}");
        assert_eq!(a.code(), "DIGEST_INVALID", "{query}");
        let a = req(&app, Method::GET, &location, &[], b"").await;
        assert_eq!(
            a.status,
            StatusCode::NOT_FOUND,
            "{query}: the session is gone"
        );
        assert!(app.source.blobs().await.unwrap().is_empty());
    }
    // A monolithic POST with the wrong digest stores nothing either.
    let a = req(
        &app,
        Method::POST,
        &format!("/v2/team/app/blobs/uploads/?digest={other}"),
        &[],
        b"bytes",
    )
    .await;
    assert_eq!(a.code(), "DIGEST_INVALID");
    assert!(app.source.blobs().await.unwrap().is_empty());
    assert!(app.source.uploads().await.unwrap().is_empty());
}

#[tokio::test]
async fn cancel_sha512_and_sessions_of_other_repositories() {
    let app = app();
    let location = open(&app, "team/app").await;
    req(&app, Method::PATCH, &location, &[], b"abc").await;
    let a = req(&app, Method::DELETE, &location, &[], b"").await;
    assert_eq!(a.status, StatusCode::NO_CONTENT);
    assert!(app.source.uploads().await.unwrap().is_empty());
    let a = req(&app, Method::DELETE, &location, &[], b"").await;
    assert_eq!(a.code(), "BLOB_UPLOAD_UNKNOWN");

    let a = req(
        &app,
        Method::POST,
        "/v2/team/app/blobs/uploads/?digest-algorithm=sha512",
        &[],
        b"",
    )
    .await;
    assert_eq!(a.status, StatusCode::ACCEPTED);
    let location = a.h("location").unwrap().to_owned();
    let d = digest_bytes(Algorithm::Sha512, b"sha512 content");
    req(&app, Method::PATCH, &location, &[], b"sha512 content").await;
    let a = req(
        &app,
        Method::PUT,
        &format!("{location}?digest={d}"),
        &[],
        b"",
    )
    .await;
    assert_eq!(a.status, StatusCode::CREATED);
    assert_eq!(a.h("docker-content-digest").unwrap(), d.to_string());
    let a = req(
        &app,
        Method::POST,
        "/v2/team/app/blobs/uploads/?digest-algorithm=md5",
        &[],
        b"",
    )
    .await;
    assert_eq!(a.code(), "DIGEST_INVALID");

    // A session is bound to its repository; hostile ids are unknown, not paths.
    let location = open(&app, "team/app").await;
    let id = uuid_of(&location);
    for target in [
        format!("/v2/team/other/blobs/uploads/{id}"),
        "/v2/team/app/blobs/uploads/%2e%2e".to_owned(),
        "/v2/team/app/blobs/uploads/..".to_owned(),
        format!("/v2/team/app/blobs/uploads/{}", "a".repeat(300)),
    ] {
        let a = req(&app, Method::PATCH, &target, &[], b"x").await;
        assert_eq!(a.status, StatusCode::NOT_FOUND, "{target}");
    }
    let a = req(&app, Method::GET, &location, &[], b"").await;
    assert_eq!(a.h("range"), Some("0-0"), "nothing reached the session");
}

#[tokio::test]
async fn mounts_link_present_blobs_and_else_open_a_session() {
    let app = app();
    let data = b"mounted".to_vec();
    let d = digest_bytes(Algorithm::Sha256, &data);
    let a = req(
        &app,
        Method::POST,
        &format!("/v2/a/blobs/uploads/?mount={d}&from=b"),
        &[],
        b"",
    )
    .await;
    assert_eq!(a.status, StatusCode::ACCEPTED, "absent: a session instead");
    assert!(a.h("docker-upload-uuid").is_some());
    req(
        &app,
        Method::POST,
        &format!("/v2/b/blobs/uploads/?digest={d}"),
        &[],
        &data,
    )
    .await;
    for query in [format!("mount={d}&from=b"), format!("mount={d}")] {
        let a = req(
            &app,
            Method::POST,
            &format!("/v2/a/blobs/uploads/?{query}"),
            &[],
            b"",
        )
        .await;
        assert_eq!(a.status, StatusCode::CREATED, "{query}");
        assert_eq!(a.h("location").unwrap(), format!("/v2/a/blobs/{d}"));
    }
    // Issue 11: a repository that never had the blob cannot lend it, though the cache holds it.
    let a = req(
        &app,
        Method::POST,
        &format!("/v2/c/blobs/uploads/?mount={d}&from=nobody"),
        &[],
        b"",
    )
    .await;
    assert_eq!(
        a.status,
        StatusCode::ACCEPTED,
        "from a repository without it"
    );
    assert!(a.h("docker-upload-uuid").is_some());
    // A mount links it: `a` now lends it too.
    let a = req(
        &app,
        Method::POST,
        &format!("/v2/c/blobs/uploads/?mount={d}&from=a"),
        &[],
        b"",
    )
    .await;
    assert_eq!(
        a.status,
        StatusCode::CREATED,
        "from a repository it was mounted into"
    );
}

#[tokio::test]
async fn limits_give_413_and_429() {
    let app = app_with(Writes {
        push: true,
        max_upload_sessions: 3,
        max_blob_size: 10,
        ..Writes::default()
    });
    let d = digest_bytes(Algorithm::Sha256, b"eleven byte");
    let a = req(
        &app,
        Method::POST,
        &format!("/v2/a/blobs/uploads/?digest={d}"),
        &[("content-length", "11")],
        b"eleven byte",
    )
    .await;
    assert_eq!(a.status, StatusCode::PAYLOAD_TOO_LARGE);
    // Streamed past the limit: 413 too, the session gone.
    let location = open(&app, "a").await;
    let a = req(&app, Method::PATCH, &location, &[], b"eleven byte").await;
    assert_eq!(a.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert!(app.source.blobs().await.unwrap().is_empty());
    let a = req(&app, Method::GET, &location, &[], b"").await;
    assert_eq!(a.status, StatusCode::NOT_FOUND);

    for _ in 0..3 {
        open(&app, "a").await;
    }
    let a = req(&app, Method::POST, "/v2/a/blobs/uploads/", &[], b"").await;
    assert_eq!(a.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(a.code(), "TOOMANYREQUESTS");
    assert!(a.h("retry-after").is_some());
}

#[tokio::test]
async fn idle_sessions_expire_and_sessions_of_an_earlier_run_count() {
    let app = app();
    let location = open(&app, "a").await;
    req(&app, Method::PATCH, &location, &[], b"abc").await;
    sweep_once(&app, Duration::from_secs(3600)).await.unwrap();
    assert_eq!(app.source.uploads().await.unwrap().len(), 1, "not idle yet");
    tokio::time::sleep(Duration::from_millis(20)).await;
    sweep_once(&app, Duration::from_millis(1)).await.unwrap();
    assert!(app.source.uploads().await.unwrap().is_empty());
    let a = req(&app, Method::GET, &location, &[], b"").await;
    assert_eq!(a.status, StatusCode::NOT_FOUND);

    // A session the store holds from before counts against the limit once swept.
    let store = MemoryStore::new();
    let id = crate::store::UploadId::random().unwrap();
    let w = store
        .upload(&id, Some(Algorithm::Sha256))
        .await
        .unwrap()
        .unwrap();
    crate::store::BlobWriter::close(w).await.unwrap();
    let app = App::new(
        store,
        &access(Writes {
            push: true,
            max_upload_sessions: 1,
            ..Writes::default()
        }),
    );
    sweep_once(&app, Duration::from_secs(3600)).await.unwrap();
    let a = req(&app, Method::POST, "/v2/a/blobs/uploads/", &[], b"").await;
    assert_eq!(a.status, StatusCode::TOO_MANY_REQUESTS);
}

#[tokio::test]
async fn read_only_by_default() {
    let app = app_with(Writes::default());
    for (method, target) in [
        (Method::POST, "/v2/a/blobs/uploads/"),
        (Method::PATCH, "/v2/a/blobs/uploads/x"),
        (Method::PUT, "/v2/a/manifests/v1"),
        (Method::DELETE, "/v2/a/manifests/v1"),
    ] {
        let a = req(&app, method.clone(), target, &[], b"{}").await;
        assert_eq!(
            a.status,
            StatusCode::METHOD_NOT_ALLOWED,
            "{method} {target}"
        );
        assert_eq!(a.code(), "UNSUPPORTED");
    }
    // Pushes without deletes: DELETE is still 405.
    let app = app_with(Writes {
        push: true,
        ..Writes::default()
    });
    let a = req(&app, Method::DELETE, "/v2/a/manifests/v1", &[], b"").await;
    assert_eq!(a.status, StatusCode::METHOD_NOT_ALLOWED);
}

/// Pushes a blob; returns its descriptor JSON.
async fn push_blob(app: &Arc<App<MemoryStore>>, media_type: &str, data: &[u8]) -> String {
    let d = digest_bytes(Algorithm::Sha256, data);
    let a = req(
        app,
        Method::POST,
        &format!("/v2/team/app/blobs/uploads/?digest={d}"),
        &[],
        data,
    )
    .await;
    assert_eq!(a.status, StatusCode::CREATED);
    format!(
        r#"{{"mediaType":"{media_type}","digest":"{d}","size":{}}}"#,
        data.len()
    )
}

async fn image(app: &Arc<App<MemoryStore>>) -> (Vec<u8>, Digest) {
    let config = push_blob(app, "application/vnd.oci.image.config.v1+json", b"{}").await;
    let layer = push_blob(app, "application/vnd.oci.image.layer.v1.tar", b"layer").await;
    let manifest = format!(
        r#"{{"schemaVersion":2,"mediaType":"{OCI_MANIFEST}","config":{config},"layers":[{layer}]}}"#
    )
    .into_bytes();
    let d = digest_bytes(Algorithm::Sha256, &manifest);
    (manifest, d)
}

#[tokio::test]
async fn manifest_puts_store_exact_bytes_and_tags() {
    let app = app();
    let (manifest, d) = image(&app).await;
    let a = req(
        &app,
        Method::PUT,
        "/v2/team/app/manifests/v1",
        &[("content-type", OCI_MANIFEST), ("host", "127.0.0.1:5000")],
        &manifest,
    )
    .await;
    assert_eq!(
        a.status,
        StatusCode::CREATED,
        "{}",
        String::from_utf8_lossy(&a.body)
    );
    assert_eq!(a.h("docker-content-digest").unwrap(), d.to_string());
    assert_eq!(
        a.h("location").unwrap(),
        format!("/v2/team/app/manifests/{d}")
    );
    for target in [
        "/v2/team/app/manifests/v1".to_owned(),
        format!("/v2/team/app/manifests/{d}"),
    ] {
        let a = req(&app, Method::GET, &target, &[], b"").await;
        assert_eq!(a.status, StatusCode::OK, "{target}");
        assert_eq!(a.body, manifest);
        assert_eq!(a.h("content-type"), Some(OCI_MANIFEST));
    }
    let refs = app.source.refs().await.unwrap();
    assert_eq!(refs.tag("team/app", "v1", None).unwrap().digest, d);
    assert!(
        refs.layout().entries().iter().any(|e| e
            .annotations
            .values()
            .any(|v| v == "127.0.0.1:5000/team/app:v1")),
        "named as pull names references"
    );
    let a = req(&app, Method::GET, "/v2/team/app/tags/list", &[], b"").await;
    assert!(String::from_utf8_lossy(&a.body).contains("\"v1\""));
    // By digest, with the right digest: 201; a tag moved by a second PUT.
    let a = req(
        &app,
        Method::PUT,
        &format!("/v2/team/app/manifests/{d}"),
        &[("content-type", OCI_MANIFEST)],
        &manifest,
    )
    .await;
    assert_eq!(a.status, StatusCode::CREATED);
}

#[tokio::test]
async fn manifest_validation_errors() {
    let app = app();
    let (manifest, _) = image(&app).await;
    let missing = digest_bytes(Algorithm::Sha256, b"not pushed");
    let dangling = format!(
        r#"{{"schemaVersion":2,"mediaType":"{OCI_MANIFEST}","config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"{missing}","size":10}},"layers":[]}}"#
    );
    let index = format!(
        r#"{{"schemaVersion":2,"mediaType":"{OCI_INDEX}","manifests":[{{"mediaType":"{OCI_MANIFEST}","digest":"{missing}","size":10}}]}}"#
    );
    let wrong = digest_bytes(Algorithm::Sha256, b"other");
    let big = vec![b' '; (4 << 20) + 1];
    let cases: Vec<(String, &str, Vec<u8>, StatusCode, &str)> = vec![
        (
            "v1".into(),
            OCI_MANIFEST,
            b"not json".to_vec(),
            StatusCode::BAD_REQUEST,
            "MANIFEST_INVALID",
        ),
        (
            "v1".into(),
            OCI_INDEX,
            manifest.clone(),
            StatusCode::BAD_REQUEST,
            "MANIFEST_INVALID",
        ),
        (
            "v1".into(),
            OCI_MANIFEST,
            dangling.into_bytes(),
            StatusCode::BAD_REQUEST,
            "MANIFEST_BLOB_UNKNOWN",
        ),
        (
            "v1".into(),
            OCI_INDEX,
            index.into_bytes(),
            StatusCode::BAD_REQUEST,
            "MANIFEST_BLOB_UNKNOWN",
        ),
        (
            wrong.to_string(),
            OCI_MANIFEST,
            manifest.clone(),
            StatusCode::BAD_REQUEST,
            "DIGEST_INVALID",
        ),
        (
            "v1".into(),
            OCI_MANIFEST,
            big,
            StatusCode::PAYLOAD_TOO_LARGE,
            "SIZE_INVALID",
        ),
        (
            "bad*tag".into(),
            OCI_MANIFEST,
            manifest.clone(),
            StatusCode::BAD_REQUEST,
            "MANIFEST_INVALID",
        ),
    ];
    for (reference, content_type, body, status, code) in cases {
        let a = req(
            &app,
            Method::PUT,
            &format!("/v2/team/app/manifests/{reference}"),
            &[("content-type", content_type)],
            &body,
        )
        .await;
        assert_eq!(
            (a.status, a.code()),
            (status, code.to_owned()),
            "{reference} {content_type}"
        );
    }
    assert!(app.source.refs().await.unwrap().is_empty());
}

#[tokio::test]
async fn referrers_list_pushed_manifests_with_a_subject() {
    let app = app();
    let (manifest, subject) = image(&app).await;
    req(
        &app,
        Method::PUT,
        "/v2/team/app/manifests/v1",
        &[("content-type", OCI_MANIFEST)],
        &manifest,
    )
    .await;
    let empty = push_blob(&app, "application/vnd.oci.empty.v1+json", b"{}").await;
    let mut digests = Vec::new();
    for artifact in [
        "application/vnd.example.sbom",
        "application/vnd.example.sig",
    ] {
        let referrer = format!(
            r#"{{"schemaVersion":2,"mediaType":"{OCI_MANIFEST}","artifactType":"{artifact}","config":{empty},"layers":[],"subject":{{"mediaType":"{OCI_MANIFEST}","digest":"{subject}","size":{}}},"annotations":{{"k":"v"}}}}"#,
            manifest.len()
        );
        let d = digest_bytes(Algorithm::Sha256, referrer.as_bytes());
        let a = req(
            &app,
            Method::PUT,
            &format!("/v2/team/app/manifests/{d}"),
            &[("content-type", OCI_MANIFEST)],
            referrer.as_bytes(),
        )
        .await;
        assert_eq!(a.status, StatusCode::CREATED);
        assert_eq!(a.h("oci-subject"), Some(subject.to_string().as_str()));
        digests.push(d);
    }
    let a = req(
        &app,
        Method::GET,
        &format!("/v2/team/app/referrers/{subject}"),
        &[],
        b"",
    )
    .await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(a.h("content-type"), Some(OCI_INDEX));
    let v: serde_json::Value = serde_json::from_slice(&a.body).unwrap();
    assert_eq!(v["manifests"].as_array().unwrap().len(), 2);
    assert_eq!(v["manifests"][0]["annotations"]["k"], "v");
    let a = req(
        &app,
        Method::GET,
        &format!("/v2/team/app/referrers/{subject}?artifactType=application/vnd.example.sig"),
        &[],
        b"",
    )
    .await;
    assert_eq!(a.h("oci-filters-applied"), Some("artifactType"));
    let v: serde_json::Value = serde_json::from_slice(&a.body).unwrap();
    assert_eq!(v["manifests"].as_array().unwrap().len(), 1);
    assert_eq!(v["manifests"][0]["digest"], digests[1].to_string());
    // No tag was made of a referrer; an unknown subject has an empty list.
    assert_eq!(
        app.source
            .refs()
            .await
            .unwrap()
            .tags("team/app", None)
            .unwrap()
            .count(),
        1
    );
    let a = req(
        &app,
        Method::GET,
        &format!("/v2/team/app/referrers/{}", digests[0]),
        &[],
        b"",
    )
    .await;
    let v: serde_json::Value = serde_json::from_slice(&a.body).unwrap();
    assert_eq!(v["manifests"].as_array().unwrap().len(), 0);
}

#[tokio::test]
async fn deletes_never_break_what_is_still_used() {
    let app = app();
    let (manifest, d) = image(&app).await;
    let v: serde_json::Value = serde_json::from_slice(&manifest).unwrap();
    let layer: Digest = v["layers"][0]["digest"].as_str().unwrap().parse().unwrap();
    for repo in ["team/app", "team/other"] {
        let a = req(
            &app,
            Method::PUT,
            &format!("/v2/{repo}/manifests/v1"),
            &[("content-type", OCI_MANIFEST)],
            &manifest,
        )
        .await;
        assert_eq!(a.status, StatusCode::CREATED);
    }
    // A layer a tagged manifest uses is not deleted.
    let a = req(
        &app,
        Method::DELETE,
        &format!("/v2/team/app/blobs/{layer}"),
        &[],
        b"",
    )
    .await;
    assert_eq!(
        (a.status, a.code()),
        (StatusCode::CONFLICT, "DENIED".to_owned())
    );
    // The tag goes; the other repository's stays.
    let a = req(&app, Method::DELETE, "/v2/team/app/manifests/v1", &[], b"").await;
    assert_eq!(a.status, StatusCode::ACCEPTED);
    let a = req(&app, Method::GET, "/v2/team/app/manifests/v1", &[], b"").await;
    assert_eq!(a.code(), "MANIFEST_UNKNOWN");
    let a = req(&app, Method::DELETE, "/v2/team/app/manifests/v1", &[], b"").await;
    assert_eq!(a.status, StatusCode::NOT_FOUND);
    let a = req(&app, Method::GET, "/v2/team/other/manifests/v1", &[], b"").await;
    assert_eq!(a.status, StatusCode::OK);
    // By digest in team/app: team/other still tags it, so its bytes stay.
    let a = req(
        &app,
        Method::DELETE,
        &format!("/v2/team/app/manifests/{d}"),
        &[],
        b"",
    )
    .await;
    assert_eq!(a.status, StatusCode::ACCEPTED);
    assert!(app.source.stat(&d).await.unwrap().is_some());
    // Once nothing uses them, the manifest and then its blobs go.
    let a = req(
        &app,
        Method::DELETE,
        &format!("/v2/team/other/manifests/{d}"),
        &[],
        b"",
    )
    .await;
    assert_eq!(a.status, StatusCode::ACCEPTED);
    let a = req(
        &app,
        Method::GET,
        &format!("/v2/team/other/manifests/{d}"),
        &[],
        b"",
    )
    .await;
    assert_eq!(a.status, StatusCode::NOT_FOUND);
    let a = req(
        &app,
        Method::DELETE,
        &format!("/v2/team/app/blobs/{layer}"),
        &[],
        b"",
    )
    .await;
    assert_eq!(a.status, StatusCode::ACCEPTED);
    let a = req(
        &app,
        Method::GET,
        &format!("/v2/team/app/blobs/{layer}"),
        &[],
        b"",
    )
    .await;
    assert_eq!(a.status, StatusCode::NOT_FOUND);
    let a = req(
        &app,
        Method::DELETE,
        &format!("/v2/team/app/blobs/{layer}"),
        &[],
        b"",
    )
    .await;
    assert_eq!(a.code(), "BLOB_UNKNOWN");
    let refs = app.source.refs().await.unwrap();
    assert_eq!(refs.tags("team/other", None).map_or(0, Iterator::count), 0);
}

#[test]
fn a_full_disk_is_named() {
    let e = super::ApiError::Store(crate::store::StoreError::Io {
        action: "write",
        path: "/cache/ingest/uploads/x/data".into(),
        source: std::io::Error::from(std::io::ErrorKind::StorageFull),
    });
    let response = error_response(&e);
    assert_eq!(response.status(), StatusCode::INSUFFICIENT_STORAGE);
}

#[tokio::test]
async fn concurrent_manifest_puts_lose_no_tag() {
    let app = app();
    let (manifest, d) = image(&app).await;
    let mut tasks = Vec::new();
    for i in 0..16 {
        let (app, manifest) = (app.clone(), manifest.clone());
        tasks.push(tokio::spawn(async move {
            // Half of them to one tag: the last writer wins, the others' tags stay.
            let tag = if i % 2 == 0 {
                format!("t{i}")
            } else {
                "same".into()
            };
            req(
                &app,
                Method::PUT,
                &format!("/v2/team/app/manifests/{tag}"),
                &[("content-type", OCI_MANIFEST)],
                &manifest,
            )
            .await
            .status
        }));
    }
    for t in tasks {
        assert_eq!(t.await.unwrap(), StatusCode::CREATED);
    }
    let refs = app.source.refs().await.unwrap();
    assert_eq!(refs.tags("team/app", None).unwrap().count(), 9);
    assert_eq!(refs.tag("team/app", "same", None).unwrap().digest, d);
}

#[tokio::test]
async fn tag_parameters_tag_one_push_several_times() {
    let app = app();
    let (manifest, d) = image(&app).await;
    let a = req(
        &app,
        Method::PUT,
        &format!("/v2/team/app/manifests/{d}?tag=a&tag=b"),
        &[("content-type", OCI_MANIFEST)],
        &manifest,
    )
    .await;
    assert_eq!(a.status, StatusCode::CREATED);
    let tags: Vec<_> = a
        .headers
        .get_all("oci-tag")
        .iter()
        .map(|v| v.to_str().unwrap())
        .collect();
    assert_eq!(tags, ["a", "b"]);
    let refs = app.source.refs().await.unwrap();
    assert_eq!(refs.tag("team/app", "b", None).unwrap().digest, d);
    let a = req(
        &app,
        Method::PUT,
        &format!("/v2/team/app/manifests/{d}?tag=bad*tag"),
        &[("content-type", OCI_MANIFEST)],
        &manifest,
    )
    .await;
    assert_eq!(a.code(), "MANIFEST_INVALID");
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]
    /// Hostile upload requests (issue 11, "Robustness"): any Content-Range, Content-Length,
    /// session id and query get an answer, never a panic, and never publish a blob.
    #[test]
    fn hostile_upload_requests_never_panic(
        range in "(bytes )?-?[0-9]{0,21}-?[0-9]{0,21}(/[0-9*]{0,3})?",
        length in "-?[0-9]{0,21}",
        session in "[a-zA-Z0-9._%/-]{0,70}",
        query in "(digest|mount|digest-algorithm|from)=[a-z0-9:%.]{0,80}",
        method in proptest::sample::select(vec!["POST", "PATCH", "PUT", "GET", "DELETE"]),
        own in proptest::bool::ANY,
    ) {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async {
            let app = app();
            let target = if own {
                format!("{}?{query}", open(&app, "a").await)
            } else {
                format!("/v2/a/blobs/uploads/{session}?{query}")
            };
            let method = Method::from_bytes(method.as_bytes()).unwrap();
            let mut headers = vec![("content-range", range.as_str())];
            if !length.is_empty() {
                headers.push(("content-length", length.as_str()));
            }
            let a = req(&app, method, &target, &headers, b"0123456789").await;
            assert!(a.status.as_u16() < 500, "{} {target}", a.status);
            if !a.status.is_success() {
                assert!(!a.code().is_empty());
            }
            // Nothing the body could be is published under a digest it is not.
            for b in app.source.blobs().await.unwrap() {
                let bytes = stored(&app, &b.digest).await.unwrap();
                assert_eq!(digest_bytes(b.digest.algorithm(), &bytes), b.digest);
            }
        });
    }
}

/// Issue 11's repository scoping across a restart: links made by pushes are in memory, but a
/// blob listed by a manifest tagged in a repository is still lent by it; a repository whose
/// manifests do not list it does not lend it. A manifest deleted in one repository is gone
/// there at once, and still read in another that tags it.
#[tokio::test]
async fn mounts_and_deletes_are_scoped_to_a_repository() {
    let app = app();
    let (manifest, d) = image(&app).await;
    for target in ["/v2/team/app/manifests/v1", "/v2/team/other/manifests/v1"] {
        let a = req(
            &app,
            Method::PUT,
            target,
            &[("content-type", OCI_MANIFEST), ("host", "127.0.0.1:5000")],
            &manifest,
        )
        .await;
        assert_eq!(a.status, StatusCode::CREATED, "{target}");
    }
    let layer = digest_bytes(Algorithm::Sha256, b"layer");
    // A new server over the same store: nothing linked in memory.
    let restarted = App::new(app.source.clone(), &access(app.writes));
    for (from, want) in [
        ("team/app", StatusCode::CREATED),
        ("team/third", StatusCode::ACCEPTED),
    ] {
        let target = format!("/v2/team/new/blobs/uploads/?mount={layer}&from={from}");
        let a = req(&restarted, Method::POST, &target, &[], b"").await;
        assert_eq!(a.status, want, "{target}");
    }
    let by_digest = |repo: &str| format!("/v2/{repo}/manifests/{d}");
    let a = req(&restarted, Method::DELETE, &by_digest("team/app"), &[], b"").await;
    assert_eq!(a.status, StatusCode::ACCEPTED);
    for (repo, want) in [
        ("team/app", StatusCode::NOT_FOUND),
        ("team/other", StatusCode::OK),
    ] {
        let a = req(&restarted, Method::GET, &by_digest(repo), &[], b"").await;
        assert_eq!(a.status, want, "{repo}");
    }
    let a = req(&restarted, Method::DELETE, &by_digest("team/app"), &[], b"").await;
    assert_eq!(a.status, StatusCode::NOT_FOUND, "deleted already");
    // Pushed again, it is back.
    let a = req(
        &restarted,
        Method::PUT,
        &by_digest("team/app"),
        &[("content-type", OCI_MANIFEST)],
        &manifest,
    )
    .await;
    assert_eq!(a.status, StatusCode::CREATED);
    let a = req(&restarted, Method::GET, &by_digest("team/app"), &[], b"").await;
    assert_eq!(a.status, StatusCode::OK);
}
