//! `layerget serve --upstream` as a pull-through cache (issue 13): the reference registry is the
//! upstream, behind the counting fault proxy (the hand-written part: it counts the body bytes
//! the upstream sends, and corrupts or refuses on demand); clients are plain HTTP requests,
//! skopeo and `layerget pull`.

use std::io::Read as _;
use std::thread;
use std::time::{Duration, Instant};

use crate::support::*;

/// The bytes of a generated blob.
fn bytes_of(size: u64, seed: u64) -> Vec<u8> {
    let mut out = Vec::with_capacity(size as usize);
    generated_bytes(size, seed).read_to_end(&mut out).unwrap();
    out
}

/// An empty cache served with the proxy as its upstream (no retries: failures show at once).
fn mirror(cache: &TempCache, proxy: &FaultProxy, extra: &[&str]) -> Serve {
    let upstream = format!("http://{}", proxy.addr());
    let mut args = vec!["--upstream", upstream.as_str(), "--retries", "0"];
    args.extend_from_slice(extra);
    Serve::start(cache.path(), &args)
}

#[test]
fn eight_cold_clients_get_one_upstream_transfer_then_the_cache_answers() {
    let registry = TestRegistry::start();
    let proxy = FaultProxy::start(&registry.addr());
    let size = 64 << 20;
    let digest = registry.push_generated_blob("team/big", size, 13);
    let expected = bytes_of(size, 13);
    let cache = TempCache::new();
    let serve = mirror(&cache, &proxy, &[]);
    let target = format!("/v2/team/big/blobs/{digest}");
    let clients: Vec<_> = (0..8)
        .map(|i| {
            let (addr, target) = (serve.addr.clone(), target.clone());
            thread::spawn(move || {
                // One client sends credentials of its own: they must not go upstream.
                let auth = [("Authorization", "Basic ZG93bnN0cmVhbTpzZWNyZXQ=")];
                let headers: &[(&str, &str)] = if i == 0 { &auth } else { &[] };
                http_request(&addr, "GET", &target, headers, b"")
            })
        })
        .collect();
    for c in clients {
        let r = c.join().unwrap();
        assert_eq!(r.status, 200, "{}", r.text());
        assert_eq!(r.content_length(), Some(size));
        assert_eq!(r.body.len() as u64, size, "a client got a short body");
        assert!(r.body == expected, "a client got other bytes");
    }
    let upstream = proxy.body_bytes();
    assert!(
        upstream as f64 <= size as f64 * 1.05,
        "the upstream sent {upstream} bytes for one {size}-byte blob"
    );
    assert!(
        proxy.requests().iter().all(|r| !r
            .headers
            .iter()
            .any(|(_, v)| v.contains("ZG93bnN0cmVhbTpzZWNyZXQ="))),
        "a downstream Authorization went upstream"
    );
    assert_eq!(sha256_file(&cache.blob_path(&digest)), digest);
    // Warm: the cache answers, the upstream is not asked.
    let asked = proxy.requests().len();
    let r = serve.request("GET", &target, &[]);
    assert_eq!((r.status, r.body.len() as u64), (200, size));
    assert_eq!(proxy.requests().len(), asked, "a cached blob went upstream");
    let metrics = serve.request("GET", "/metrics", &[]).text();
    for line in [
        "layerget_cache_requests_total{result=\"miss\"} 8",
        "layerget_cache_requests_total{result=\"hit\"} 1",
        "layerget_upstream_transfers_in_flight 0",
    ] {
        assert!(metrics.lines().any(|l| l == line), "{line} in\n{metrics}");
    }
    assert!(serve.log().contains(" miss"), "{}", serve.log());
}

#[test]
fn a_client_gets_the_bytes_while_the_upstream_is_still_sending() {
    use std::io::Write as _;
    let registry = TestRegistry::start();
    let proxy = FaultProxy::start(&registry.addr());
    let size = 16 << 20;
    let digest = registry.push_generated_blob("team/slow", size, 61);
    let cache = TempCache::new();
    let serve = mirror(&cache, &proxy, &[]);
    // The HEAD goes through; the GET stalls after 8 MiB, for longer than this test runs.
    proxy.push_fault(Fault::None);
    proxy.push_fault(Fault::Stall {
        after: 8 << 20,
        secs: 600,
    });
    let mut conn = std::net::TcpStream::connect(&serve.addr).unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    write!(
        conn,
        "GET /v2/team/slow/blobs/{digest} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    // The head and the first 4 MiB arrive while the upstream holds back the rest.
    let mut got = Vec::new();
    let mut buf = vec![0; 64 << 10];
    let head_end = loop {
        let n = conn
            .read(&mut buf)
            .expect("bytes while the upstream stalls");
        assert!(n > 0, "serve closed the connection: {}", serve.log());
        got.extend_from_slice(&buf[..n]);
        if let Some(i) = got.windows(4).position(|w| w == b"\r\n\r\n")
            && got.len() - (i + 4) >= 4 << 20
        {
            break i + 4;
        }
    };
    let head = String::from_utf8_lossy(&got[..head_end]).to_string();
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(got[head_end..] == bytes_of(size, 61)[..got.len() - head_end]);
    assert!(
        !cache.blob_path(&digest).exists(),
        "the blob was complete already"
    );
}

#[test]
fn cold_ranges_are_answered_with_their_bytes() {
    let registry = TestRegistry::start();
    let proxy = FaultProxy::start(&registry.addr());
    let size = 64 << 20;
    let near = registry.push_generated_blob("team/r", size, 21);
    let far = registry.push_generated_blob("team/r", size, 22);
    let cache = TempCache::new();
    let serve = mirror(&cache, &proxy, &[]);
    let r = try_http_request(
        &serve.addr,
        "GET",
        &format!("/v2/team/r/blobs/{near}"),
        &[("Range", "bytes=1000-1999")],
        b"",
    )
    .unwrap_or_else(|e| panic!("{e}\n{}", serve.log()));
    assert_eq!(r.status, 206, "{}", r.text());
    assert_eq!(
        r.header("content-range"),
        Some(format!("bytes 1000-1999/{size}").as_str())
    );
    assert!(r.body == bytes_of(size, 21)[1000..2000], "{}", serve.log());
    // Far beyond anything arrived: asked of the upstream with that Range.
    let (start, end) = (60_000_000u64, 60_000_999u64);
    let r = serve.request(
        "GET",
        &format!("/v2/team/r/blobs/{far}"),
        &[("Range", &format!("bytes={start}-{end}"))],
    );
    assert_eq!(r.status, 206, "{}", r.text());
    assert!(r.body == bytes_of(size, 22)[start as usize..=end as usize]);
    assert!(
        proxy
            .requests()
            .iter()
            .any(|q| q.header("range") == Some(&format!("bytes={start}-{end}"))),
        "the far range was not asked of the upstream"
    );
    // Both blobs still land in the cache.
    for d in [&near, &far] {
        wait_until("the blob is cached", || cache.blob_path(d).exists());
        assert_eq!(sha256_file(&cache.blob_path(d)), *d);
    }
}

#[test]
fn a_corrupted_byte_reaches_no_client_in_full_and_nothing_is_cached() {
    let registry = TestRegistry::start();
    let proxy = FaultProxy::start(&registry.addr());
    let size = 8 << 20;
    let digest = registry.push_generated_blob("team/bad", size, 31);
    let cache = TempCache::new();
    let serve = mirror(&cache, &proxy, &[]);
    proxy.set_default(Fault::CorruptByte(size - 10));
    let target = format!("/v2/team/bad/blobs/{digest}");
    let r = serve.request("GET", &target, &[]);
    assert!(
        (r.body.len() as u64) < size,
        "a client got all {size} bytes of a blob that fails its digest (status {})",
        r.status
    );
    assert!(!cache.blob_path(&digest).exists(), "a bad blob was cached");
    assert!(serve.log().contains("does not match"), "{}", serve.log());
    // The next request tries the upstream again, which now sends the right bytes.
    proxy.set_default(Fault::None);
    let r = serve.request("GET", &target, &[]);
    assert_eq!(
        (r.status, r.body.len() as u64),
        (200, size),
        "{}",
        serve.log()
    );
    assert_eq!(sha256_digest(&r.body), digest);
    assert_eq!(sha256_file(&cache.blob_path(&digest)), digest);
}

#[test]
fn tags_are_revalidated_after_the_ttl_and_served_stale_while_the_upstream_is_down() {
    let mut registry = TestRegistry::start();
    let proxy = FaultProxy::start(&registry.addr());
    let first = push_image(
        &registry,
        "team/app",
        Some("v1"),
        false,
        "amd64",
        &[layer(41, 3000)],
    );
    let cache = TempCache::new();
    let ttl = 3;
    let serve = mirror(&cache, &proxy, &["--tag-ttl", &ttl.to_string()]);
    let manifest = |serve: &Serve| {
        serve.request(
            "GET",
            "/v2/team/app/manifests/v1",
            &[("Accept", "application/vnd.oci.image.manifest.v1+json")],
        )
    };
    let fetched = Instant::now();
    let r = manifest(&serve);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        r.header("docker-content-digest"),
        Some(first.digest.as_str())
    );
    assert!(r.body == first.manifest);
    for blob in first.blobs().iter().skip(1) {
        let r = serve.request("GET", &format!("/v2/team/app/blobs/{blob}"), &[]);
        assert_eq!(r.status, 200, "{blob}: {}", r.text());
        assert_eq!(sha256_digest(&r.body), *blob);
    }
    // The tag moves upstream: within the TTL the cached answer stands, after it the new one.
    let second = push_image(
        &registry,
        "team/app",
        Some("v1"),
        false,
        "amd64",
        &[layer(42, 3000)],
    );
    let r = manifest(&serve);
    if fetched.elapsed() < Duration::from_secs(ttl) {
        assert_eq!(
            r.header("docker-content-digest"),
            Some(first.digest.as_str())
        );
    }
    thread::sleep(Duration::from_secs(ttl) + Duration::from_millis(200));
    let heads_before = proxy
        .requests()
        .iter()
        .filter(|q| q.method == "HEAD")
        .count();
    let r = manifest(&serve);
    assert_eq!(
        r.header("docker-content-digest"),
        Some(second.digest.as_str())
    );
    assert!(
        proxy
            .requests()
            .iter()
            .filter(|q| q.method == "HEAD")
            .count()
            > heads_before,
        "the tag was not checked with a HEAD"
    );
    // The upstream goes away: the cached tag is served, marked stale; cached blobs are served;
    // what was never cached is a 502 naming the upstream.
    registry.stop();
    thread::sleep(Duration::from_secs(ttl) + Duration::from_millis(200));
    let r = manifest(&serve);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        r.header("docker-content-digest"),
        Some(second.digest.as_str())
    );
    let warning = r.header("warning").unwrap_or_default().to_owned();
    assert!(
        warning.starts_with("299 ") && warning.contains("stale"),
        "{warning}"
    );
    let r = serve.request(
        "GET",
        &format!("/v2/team/app/blobs/{}", first.layers[0]),
        &[],
    );
    assert_eq!(r.status, 200);
    let missing = sha256_digest(b"never pushed anywhere");
    let r = serve.request("GET", &format!("/v2/team/app/blobs/{missing}"), &[]);
    assert_eq!(r.status, 502, "{}", r.text());
    assert!(r.text().contains(&proxy.addr()), "{}", r.text());
}

#[test]
fn skopeo_and_layerget_pull_an_image_through_the_mirror() {
    let registry = TestRegistry::start();
    let proxy = FaultProxy::start(&registry.addr());
    let image = push_image(
        &registry,
        "team/tools",
        Some("1.0"),
        true,
        "amd64",
        &[layer(51, 200_000), layer(52, 300_000)],
    );
    let cache = TempCache::new();
    let serve = mirror(&cache, &proxy, &[]);
    let out = tempfile::tempdir().unwrap();
    let dest = format!("oci:{}:t", out.path().join("img").display());
    let copied = skopeo()
        .args(["copy", "--src-tls-verify=false"])
        .arg(format!("docker://{}/team/tools:1.0", serve.addr))
        .arg(&dest)
        .output()
        .unwrap();
    assert!(
        copied.status.success(),
        "{}",
        String::from_utf8_lossy(&copied.stderr)
    );
    for blob in &image.layers {
        assert_eq!(sha256_file(&cache.blob_path(blob)), *blob);
    }
    // A second client, layerget, pulls the same image from the mirror: the upstream is asked
    // for the tag (at most), not for the blobs.
    let blob_gets_before = proxy
        .requests()
        .iter()
        .filter(|q| q.method == "GET" && q.path.contains("/blobs/"))
        .count();
    let other = TempCache::new();
    layerget()
        .args(["--cache-dir"])
        .arg(other.path())
        .args(["pull", &format!("{}/team/tools:1.0", serve.addr)])
        .assert()
        .success();
    let blob_gets_after = proxy
        .requests()
        .iter()
        .filter(|q| q.method == "GET" && q.path.contains("/blobs/"))
        .count();
    assert_eq!(
        blob_gets_before, blob_gets_after,
        "a cached blob went upstream"
    );
    for blob in &image.layers {
        assert_eq!(sha256_file(&other.blob_path(blob)), *blob);
    }
}

#[test]
fn max_size_evicts_the_least_recently_served_blobs() {
    let registry = TestRegistry::start();
    let proxy = FaultProxy::start(&registry.addr());
    let size = 4 << 20;
    let blobs: Vec<String> = (0..3)
        .map(|i| registry.push_generated_blob("team/lru", size, 70 + i))
        .collect();
    let cache = TempCache::new();
    let serve = mirror(&cache, &proxy, &["--max-size", "10M"]);
    for d in &blobs {
        let r = serve.request("GET", &format!("/v2/team/lru/blobs/{d}"), &[]);
        assert_eq!((r.status, r.body.len() as u64), (200, size));
    }
    // Three blobs of 4 MiB do not fit in 10 MiB: the first one served goes.
    wait_until("the oldest blob is evicted", || {
        !cache.blob_path(&blobs[0]).exists()
    });
    for d in &blobs[1..] {
        assert_eq!(sha256_file(&cache.blob_path(d)), *d);
    }
    // Evicted is only uncached: it comes from upstream again.
    let r = serve.request("GET", &format!("/v2/team/lru/blobs/{}", blobs[0]), &[]);
    assert_eq!((r.status, r.body.len() as u64), (200, size));
    assert!(
        serve.log().contains("--max-size: evicted"),
        "{}",
        serve.log()
    );
}

#[test]
fn containerd_ns_picks_the_upstream_and_an_unknown_registry_is_never_fetched() {
    let registry = TestRegistry::start();
    let proxy = FaultProxy::start(&registry.addr());
    let image = push_image(
        &registry,
        "team/ns",
        Some("v1"),
        false,
        "amd64",
        &[layer(81, 500)],
    );
    let cache = TempCache::new();
    let upstream = format!("mirrored.example=http://{}", proxy.addr());
    let serve = Serve::start(cache.path(), &["--upstream", &upstream, "--retries", "0"]);
    let accept = [("Accept", "application/vnd.oci.image.manifest.v1+json")];
    // containerd's mirror mode names the registry it mirrors.
    let r = serve.request(
        "GET",
        "/v2/team/ns/manifests/v1?ns=mirrored.example",
        &accept,
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        r.header("docker-content-digest"),
        Some(image.digest.as_str())
    );
    let asked = proxy.requests().len();
    for target in [
        "/v2/team/ns/manifests/v1?ns=quay.io".to_owned(),
        format!("/v2/team/ns/blobs/{}?ns=quay.io", image.layers[0]),
    ] {
        let r = serve.request("GET", &target, &accept);
        assert_eq!(r.status, 404, "{target}: {}", r.text());
    }
    assert_eq!(
        proxy.requests().len(),
        asked,
        "another registry's name went upstream"
    );
    // The tag is recorded under the registry it stands for.
    assert_eq!(
        recorded(cache.path(), "mirrored.example/team/ns:v1").as_deref(),
        Some(image.digest.as_str())
    );
}
