//! `layerget serve` against hostile clients (issue 9, items 15 and 16). Every client here is
//! written in this file and labelled HOSTILE where it misbehaves on purpose: one that asks for
//! a config blob as a manifest hoping for `text/html`, slow readers that try to hold every
//! connection slot, and a flood of wrong passwords aimed at the bcrypt checks. The server is
//! the real binary on 127.0.0.1; the cache is written directly in OCI layout, as `pull` would
//! leave it.
//!
//! No timed assertions: each test waits for a condition (a connection closed, an answer read),
//! with a generous bound only so that a regression fails instead of hanging.

use std::fs;
use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::{Value, json};

use crate::support::*;

const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
/// Size of the blob slow readers ask for: far more than loopback socket buffers hold (a few
/// MiB each way), so the server really has to wait for them.
const BIG: u64 = 48 << 20;
/// Upper bound for waiting on a condition (never reached when things work).
const BOUND: Duration = Duration::from_secs(90);

/// A cache holding `blobs` (placed as verified blobs) and an `index.json` tagging `tagged`
/// (digest, media type) as `reg.example/team/app:v1`.
fn cache_with(blobs: &[&[u8]], tagged: Option<(&str, &str)>) -> TempCache {
    let cache = TempCache::new().with_layout();
    for blob in blobs {
        let path = cache.blob_path(&sha256_digest(blob));
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, blob).unwrap();
    }
    let manifests: Vec<Value> = tagged
        .into_iter()
        .map(|(digest, media_type)| {
            json!({"mediaType": media_type, "digest": digest, "size": 1,
                   "annotations": {"org.opencontainers.image.ref.name": "reg.example/team/app:v1"}})
        })
        .collect();
    let index = json!({"schemaVersion": 2, "manifests": manifests});
    fs::write(cache.path().join("index.json"), index.to_string()).unwrap();
    cache
}

/// Adds a generated blob of `size` bytes to the cache; its digest.
fn add_generated(cache: &TempCache, size: u64, seed: u64) -> String {
    let digest = generated_digest(size, seed);
    let path = cache.blob_path(&digest);
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    write_generated_file(&path, size, seed);
    digest
}

fn code(r: &HttpResponse) -> String {
    let v: Value = serde_json::from_slice(&r.body).unwrap_or(Value::Null);
    v.pointer("/errors/0/code")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_owned()
}

#[test]
fn a_config_blob_claiming_text_html_is_no_manifest() {
    // HOSTILE content: a config blob (any JSON a registry accepted) whose `mediaType` says
    // HTML, so that `/manifests/<its digest>` would hand a browser a page on our origin.
    let html =
        br#"{"mediaType":"text/html","architecture":"<script>alert(document.domain)</script>"}"#;
    // A blob that names a manifest type but is no manifest (no config, no layers).
    let fake = br#"{"mediaType":"application/vnd.oci.image.manifest.v1+json","x":"<b>hi</b>"}"#;
    let config = br#"{"architecture":"amd64","os":"linux"}"#;
    let config_digest = sha256_digest(config);
    let manifest = json!({
        "schemaVersion": 2, "mediaType": OCI_MANIFEST,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                   "digest": config_digest, "size": config.len()},
        "layers": [],
    })
    .to_string()
    .into_bytes();
    let manifest_digest = sha256_digest(&manifest);
    // The index even records the HTML blob under a manifest type: its bytes still decide.
    let html_digest = sha256_digest(html);
    let cache = cache_with(
        &[html, fake, config, &manifest],
        Some((&html_digest, OCI_MANIFEST)),
    );
    let serve = Serve::start(cache.path(), &[]);

    for digest in [&html_digest, &sha256_digest(fake), &config_digest] {
        for method in ["GET", "HEAD"] {
            let r = serve.request(method, &format!("/v2/team/app/manifests/{digest}"), &[]);
            assert_eq!(r.status, 404, "{method} {digest}: {}", r.text());
            assert_ne!(r.header("content-type"), Some("text/html"));
            assert_eq!(r.header("x-content-type-options"), Some("nosniff"));
            if method == "GET" {
                assert_eq!(code(&r), "MANIFEST_UNKNOWN", "{}", r.text());
            }
        }
    }
    // ... also by the tag the index gives it.
    let r = serve.request("GET", "/v2/team/app/manifests/v1", &[]);
    assert_eq!((r.status, code(&r).as_str()), (404, "MANIFEST_UNKNOWN"));

    // A real manifest is served, by digest, GET and HEAD alike, with its type and nosniff.
    for method in ["GET", "HEAD", "GET", "HEAD"] {
        let r = serve.request(
            method,
            &format!("/v2/team/app/manifests/{manifest_digest}"),
            &[],
        );
        assert_eq!(r.status, 200, "{method}: {}", r.text());
        assert_eq!(r.header("content-type"), Some(OCI_MANIFEST));
        assert_eq!(r.content_length(), Some(manifest.len() as u64));
        assert_eq!(r.header("x-content-type-options"), Some("nosniff"));
        if method == "GET" {
            assert_eq!(r.body, manifest);
        }
    }
    // Every other answer carries nosniff too: blobs (served as octet-stream), errors, /v2/.
    let blob = serve.request("GET", &format!("/v2/team/app/blobs/{html_digest}"), &[]);
    assert_eq!(blob.status, 200);
    assert_eq!(
        blob.header("content-type"),
        Some("application/octet-stream")
    );
    for r in [
        blob,
        serve.request("GET", "/v2/", &[]),
        serve.request("GET", "/nowhere", &[]),
    ] {
        assert_eq!(r.header("x-content-type-options"), Some("nosniff"));
    }
}

/// HOSTILE client: asks for `digest`, reads the response head, then reads the body at
/// `bytes_per_tick` per 100 ms (0: not at all) until the server drops the connection. Returns
/// how many body bytes it got, or `None` if it was never dropped. Waits at `ready` once the head arrived (the server then counts
/// the connection as its own).
///
/// The server drops a too-slow connection with a reset (zero linger), which the socket reports
/// through `SO_ERROR` at once, even while unread body bytes are still buffered here; that error
/// (or an EOF) is the condition waited for.
fn slow_reader(
    addr: &str,
    digest: &str,
    bytes_per_tick: usize,
    ready: Arc<Barrier>,
) -> thread::JoinHandle<Option<u64>> {
    let mut s = TcpStream::connect(addr).unwrap();
    let digest = digest.to_owned();
    thread::spawn(move || {
        write!(
            s,
            "GET /v2/team/app/blobs/{digest} HTTP/1.1\r\nHost: x\r\n\r\n"
        )
        .unwrap();
        s.set_read_timeout(Some(BOUND)).unwrap();
        let mut head = [0u8; 512];
        let n = s.read(&mut head).unwrap();
        assert!(head[..n].starts_with(b"HTTP/1.1 200"));
        ready.wait();
        let started = Instant::now();
        let mut got = 0u64;
        let mut buf = vec![0u8; bytes_per_tick];
        // BOUND only stops a regression from hanging the test.
        while started.elapsed() < BOUND {
            if let Ok(Some(e)) = s.take_error() {
                assert_eq!(e.kind(), ErrorKind::ConnectionReset, "{e}");
                return Some(got);
            }
            if bytes_per_tick > 0 {
                match s.read(&mut buf) {
                    Ok(0) | Err(_) => return Some(got),
                    Ok(n) => got += n as u64,
                }
            }
            thread::sleep(Duration::from_millis(100));
        }
        None
    })
}

#[test]
fn a_slow_reader_is_disconnected_and_a_fast_one_is_not() {
    let cache = cache_with(&[], None);
    let big = add_generated(&cache, BIG, 3);
    // The idle timeout is out of the way: only the minimum send rate can drop the reader.
    let serve = Serve::start(
        cache.path(),
        &[
            "--min-send-rate",
            "1M",
            "--send-rate-window",
            "2",
            "--idle-timeout",
            "3600",
        ],
    );
    // HOSTILE: 16 KiB per 100 ms = 160 KiB/s, never idle long, always slower than 1 MiB/s.
    let ready = Arc::new(Barrier::new(2));
    let slow = slow_reader(&serve.addr, &big, 16 << 10, ready.clone());
    ready.wait();
    let got = slow.join().unwrap();
    let got = got.expect("the slow reader was never dropped");
    assert!(got < BIG, "the slow reader got all {got} bytes");
    // A client that reads at full speed gets the whole blob under the same rule.
    let r = serve.request("GET", &format!("/v2/team/app/blobs/{big}"), &[]);
    assert_eq!(r.status, 200);
    assert_eq!(r.body.len() as u64, BIG);
    assert_eq!(sha256_digest(&r.body), big);
}

#[test]
fn connections_beyond_the_per_ip_limit_are_refused_until_slow_ones_are_dropped() {
    let cache = cache_with(&[b"small"], None);
    let small = sha256_digest(b"small");
    let big = add_generated(&cache, BIG, 4);
    let serve = Serve::start(
        cache.path(),
        &[
            "--max-connections-per-ip",
            "3",
            "--min-send-rate",
            "1M",
            "--send-rate-window",
            "2",
            "--idle-timeout",
            "3600",
        ],
    );
    // HOSTILE: three readers that take the big blob's head and then read nothing, holding
    // every slot this address may have.
    let ready = Arc::new(Barrier::new(4));
    let slow: Vec<_> = (0..3)
        .map(|_| slow_reader(&serve.addr, &big, 0, ready.clone()))
        .collect();
    ready.wait();
    // A fourth connection from the same address is refused at once: 503 with Retry-After
    // (over plain HTTP the refusal is answered; only a flood of refusals is just closed).
    let r = try_http_request(&serve.addr, "GET", "/v2/", &[], b"").expect("a 503 answer");
    assert_eq!(r.status, 503, "{}", r.text());
    assert_eq!(r.header("retry-after"), Some("1"));
    assert_eq!(r.header("x-content-type-options"), Some("nosniff"));
    assert_eq!(code(&r), "UNAVAILABLE", "{}", r.text());
    // The minimum send rate drops the slow readers (the condition waited on)...
    for reader in slow {
        assert!(
            reader.join().unwrap().is_some(),
            "a slow reader was never dropped"
        );
    }
    // ...and then this address is served again.
    let r = serve.request("GET", &format!("/v2/team/app/blobs/{small}"), &[]);
    assert_eq!((r.status, r.body.as_slice()), (200, b"small".as_slice()));
    assert!(
        serve.log().contains("connections from 127.0.0.1"),
        "{}",
        serve.log()
    );
}

fn basic(user: &str, password: &str) -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    format!("Basic {b64}")
}

#[test]
fn a_flood_of_wrong_passwords_gets_429_and_right_ones_still_work() {
    // Cost 12: a few hundred milliseconds per check, far longer than sending the flood.
    let dir = tempfile::tempdir().unwrap();
    let htpasswd = dir.path().join("htpasswd");
    let alice = bcrypt::hash("alice-pw", 12).unwrap();
    let bob = bcrypt::hash("bob-pw", 12).unwrap();
    fs::write(&htpasswd, format!("alice:{alice}\nbob:{bob}\n")).unwrap();
    let cache = cache_with(&[], None);
    let serve = Serve::start(
        cache.path(),
        &[
            "--htpasswd",
            htpasswd.to_str().unwrap(),
            "--auth-queue",
            "2",
            "--max-connections-per-ip",
            "100",
        ],
    );
    let alice_auth = basic("alice", "alice-pw");
    // Alice logs in before the flood: her success is remembered and needs no bcrypt check.
    let r = serve.request("GET", "/v2/", &[("Authorization", &alice_auth)]);
    assert_eq!(r.status, 200, "{}", r.text());

    // HOSTILE: 24 wrong-password requests, each sent up to its last byte first, then all
    // completed at once so that they reach the checks together.
    let n = 24;
    let go = Arc::new(Barrier::new(n + 1));
    let flood: Vec<_> = (0..n)
        .map(|i| {
            let mut s = TcpStream::connect(&serve.addr).unwrap();
            let auth = basic("alice", &format!("guess-{i}"));
            let go = go.clone();
            write!(
                s,
                "GET /v2/ HTTP/1.1\r\nHost: x\r\nConnection: close\r\nAuthorization: {auth}\r\n"
            )
            .unwrap();
            thread::spawn(move || {
                go.wait();
                s.write_all(b"\r\n").unwrap();
                s.set_read_timeout(Some(BOUND)).unwrap();
                let mut out = Vec::new();
                let _ = s.read_to_end(&mut out);
                String::from_utf8_lossy(&out).into_owned()
            })
        })
        .collect();
    go.wait();
    // Remembered credentials are answered during the flood.
    let r = serve.request("GET", "/v2/", &[("Authorization", &alice_auth)]);
    assert_eq!(r.status, 200, "{}", r.text());
    let answers: Vec<String> = flood.into_iter().map(|t| t.join().unwrap()).collect();
    let busy: Vec<&String> = answers
        .iter()
        .filter(|a| a.starts_with("HTTP/1.1 429"))
        .collect();
    for a in &answers {
        assert!(
            a.starts_with("HTTP/1.1 429") || a.starts_with("HTTP/1.1 401"),
            "{a}"
        );
    }
    assert!(
        !busy.is_empty(),
        "no request was turned away: all {n} waited for bcrypt"
    );
    for a in busy {
        let lower = a.to_ascii_lowercase();
        assert!(lower.contains("\r\nretry-after: "), "{a}");
        assert!(a.contains("TOOMANYREQUESTS"), "{a}");
    }
    // Once the flood is answered, a user never seen before logs in (the queue drained).
    let r = serve.request("GET", "/v2/", &[("Authorization", &basic("bob", "bob-pw"))]);
    assert_eq!(r.status, 200, "{}", r.text());
    let r = serve.request("GET", "/v2/", &[("Authorization", &basic("bob", "nope"))]);
    assert_eq!(r.status, 401, "{}", r.text());
}

/// HOSTILE cache: a blob's file is cut short (truncated by someone else) while `serve` sends
/// it. The body ends early and the connection closes; every byte the client got is the blob's
/// own at its place (nothing made up for the missing part: no zeros of a stand-in, issue 13).
#[test]
fn a_blob_file_cut_short_while_it_is_sent_ends_the_body_early() {
    let cache = cache_with(&[], None);
    let digest = add_generated(&cache, BIG, 9);
    let mut original = Vec::new();
    generated_bytes(BIG, 9).read_to_end(&mut original).unwrap();
    let serve = Serve::start(cache.path(), &[]);
    let mut s = TcpStream::connect(&serve.addr).unwrap();
    s.set_read_timeout(Some(BOUND)).unwrap();
    write!(
        s,
        "GET /v2/team/app/blobs/{digest} HTTP/1.1\r\nHost: x\r\n\r\n"
    )
    .unwrap();
    // The head and the first bytes, then the file loses all but its first 8 MiB while the
    // server waits on the full socket.
    let mut got = vec![0u8; 1 << 20];
    s.read_exact(&mut got).unwrap();
    let head_end = got.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
    assert!(got.starts_with(b"HTTP/1.1 200"));
    let cut = 8u64 << 20;
    fs::OpenOptions::new()
        .write(true)
        .open(cache.blob_path(&digest))
        .unwrap()
        .set_len(cut)
        .unwrap();
    // To the end: an EOF or a reset ends it, never a whole blob.
    let mut buf = vec![0u8; 1 << 16];
    loop {
        match s.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
        }
    }
    let body = &got[head_end..];
    assert!(
        (body.len() as u64) < BIG,
        "a body of {} bytes from a cut file",
        body.len()
    );
    assert!(
        body == &original[..body.len()],
        "the {} bytes received are not the blob's",
        body.len()
    );
    // The server goes on serving.
    let r = serve.request("GET", "/v2/", &[]);
    assert_eq!(r.status, 200);
}
