//! Client mirrors (`--mirror`, `mirrors = […]` in config.toml) end to end (issue 13, "Client
//! mirrors"): a mirror is a second reference registry serving the same storage, fronted by the
//! fault proxy to cut it, corrupt it or refuse; the registry is fronted by another proxy, so
//! both sides' requests are counted.

use predicates::prelude::*;
use serde_json::Value;

use crate::support::*;

/// The command for `cache`.
fn run(cache: &TempCache, command: &str) -> assert_cmd::Command {
    let mut cmd = layerget();
    cmd.arg("--cache-dir").arg(cache.path()).arg(command);
    cmd
}

fn json_lines(stdout: &[u8]) -> Vec<Value> {
    String::from_utf8_lossy(stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn stderr(a: &assert_cmd::assert::Assert) -> String {
    String::from_utf8_lossy(&a.get_output().stderr).into_owned()
}

/// A registry, a mirror of it (another reference registry on the same storage), each behind a
/// fault proxy of its own.
struct Setup {
    registry: TestRegistry,
    _mirror: TestRegistry,
    /// In front of the registry: REFs name it.
    at_registry: FaultProxy,
    /// In front of the mirror.
    at_mirror: FaultProxy,
}

impl Setup {
    fn start() -> Setup {
        Self::with(TestRegistry::builder(), TestRegistry::builder())
    }

    fn with(registry: RegistryBuilder, mirror: RegistryBuilder) -> Setup {
        let registry = registry.start();
        let mirror = mirror.storage_dir(&registry.storage_dir()).start();
        Setup {
            at_registry: FaultProxy::start(&registry.addr()),
            at_mirror: FaultProxy::start(&mirror.addr()),
            registry,
            _mirror: mirror,
        }
    }

    fn mirror_url(&self) -> String {
        format!("http://{}", self.at_mirror.addr())
    }
}

/// The blob GETs a proxy saw, with their `Range` headers.
fn blob_gets(proxy: &FaultProxy) -> Vec<(String, Option<String>)> {
    proxy
        .requests()
        .into_iter()
        .filter(|r| r.method == "GET" && r.path.contains("/blobs/"))
        .map(|r| (r.path.clone(), r.header("range").map(str::to_owned)))
        .collect()
}

#[test]
fn a_mirror_that_cuts_mid_blob_hands_over_to_the_registry_with_range() {
    let s = Setup::start();
    let cache = TempCache::new();
    let size: u64 = 8 << 20;
    let digest = s.registry.push_generated_blob("team/app", size, 31);
    let cut = (4 << 20) + 12345;
    s.at_mirror.push_fault(Fault::CutAfter(cut));
    let out = run(&cache, "fetch")
        .args(["--json", "--mirror", &s.mirror_url()])
        .arg(s.at_registry.reference("team/app", &digest))
        .assert()
        .success();
    assert_eq!(sha256_file(&cache.blob_path(&digest)), digest);
    let line = &json_lines(&out.get_output().stdout)[0];
    assert_eq!(line["bytes_transferred"], size, "{line}");
    // One GET at the mirror (cut), then one at the registry asking for the rest only.
    let mirror = blob_gets(&s.at_mirror);
    assert_eq!(mirror.len(), 1, "{mirror:?}");
    assert_eq!(mirror[0].1, None);
    let registry = blob_gets(&s.at_registry);
    assert_eq!(registry.len(), 1, "{registry:?}");
    let range = registry[0]
        .1
        .clone()
        .expect("the registry was asked with Range");
    let from: u64 = range
        .strip_prefix("bytes=")
        .and_then(|r| r.split('-').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{range}"));
    assert_eq!(range, format!("bytes={from}-{}", size - 1));
    // Bytes sent twice: what the mirror sent beyond the byte the registry was asked from.
    let resent = cut - from;
    assert!(
        resent * 100 <= size,
        "re-sent {resent} of {size} bytes (resumed at {from})"
    );
}

#[test]
fn a_mirror_that_sends_bad_bytes_is_banned_for_the_run() {
    let s = Setup::start();
    let cache = TempCache::new();
    let a = s.registry.push_generated_blob("team/app", 300_000, 1);
    let b = s.registry.push_generated_blob("team/app", 200_000, 2);
    s.at_mirror.set_default(Fault::CorruptByte(1000));
    let out = run(&cache, "fetch")
        .args(["-v", "-j", "1", "--mirror", &s.mirror_url()])
        .arg(s.at_registry.reference("team/app", &a))
        .arg(s.at_registry.reference("team/app", &b))
        .assert()
        .success();
    for d in [&a, &b] {
        assert_eq!(sha256_file(&cache.blob_path(d)), *d);
    }
    // The first blob's bad bytes banned the mirror: the second never went there.
    let mirror = blob_gets(&s.at_mirror);
    assert_eq!(mirror.len(), 1, "{mirror:?}");
    assert!(mirror[0].0.ends_with(&a), "{mirror:?}");
    let registry: Vec<String> = blob_gets(&s.at_registry)
        .into_iter()
        .map(|(p, _)| p)
        .collect();
    assert_eq!(registry.len(), 2, "{registry:?}");
    // The refetch started from zero: nothing of the mirror's bytes was kept.
    assert!(blob_gets(&s.at_registry).iter().all(|(_, r)| r.is_none()));
    assert!(
        stderr(&out).contains("not using it for the rest of this run"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn mirror_only_never_asks_the_registry_and_names_what_it_tried() {
    let s = Setup::start();
    let cache = TempCache::new();
    let digest = s.registry.push_blob("team/app", b"only from mirrors");
    let r = s.at_registry.reference("team/app", &digest);
    s.at_mirror
        .set_default(Fault::status(503, "busy\u{1b}[2J mirror"));
    let empty = TestRegistry::start();
    let first = format!("http://{}/prefix", empty.addr());
    let out = run(&cache, "fetch")
        .args(["--retries", "1", "--mirror-only", "--mirror", &first])
        .args(["--mirror", &s.mirror_url()])
        .arg(&r)
        .assert()
        .code(6);
    let err = stderr(&out);
    assert!(s.at_registry.requests().is_empty());
    // The first mirror (404) is named with its last error; the last one's error is the error.
    assert!(
        err.contains(&format!("tried before: mirror `{first}`: ")) && err.contains("404"),
        "{err}"
    );
    assert!(err.contains("503"), "{err}");
    assert!(!err.contains('\u{1b}'), "{err:?}");
    assert!(!cache.blob_path(&digest).exists());
    // The same with the registry allowed: it serves.
    run(&cache, "fetch")
        .args([
            "--retries",
            "1",
            "--mirror",
            &first,
            "--mirror",
            &s.mirror_url(),
        ])
        .arg(&r)
        .assert()
        .success();
    assert_eq!(blob_gets(&s.at_registry).len(), 1);
    // No mirror at all for the REF's registry: a usage error, not a silent registry fetch.
    run(&cache, "fetch")
        .args(["--mirror-only"])
        .arg(&r)
        .assert()
        .code(2)
        .stderr(predicate::str::contains("has no mirror"));
}

#[test]
fn a_mirror_never_sees_the_registrys_authorization() {
    // Both ask for Basic credentials; only the registry's are given (for its host), and the
    // mirror is asked first.
    let s = Setup::with(
        TestRegistry::builder().basic_auth(),
        TestRegistry::builder().basic_auth(),
    );
    let cache = TempCache::new();
    let digest = s.registry.push_blob("team/private", b"private layer");
    let out = run(&cache, "fetch")
        .env("LAYERGET_USERNAME", BASIC_USER)
        .env("LAYERGET_PASSWORD", BASIC_PASS)
        .args(["--mirror", &s.mirror_url()])
        .arg(s.at_registry.reference("team/private", &digest))
        .assert()
        .success();
    assert_eq!(
        sha256_file(&cache.blob_path(&digest)),
        digest,
        "{}",
        stderr(&out)
    );
    let at_mirror = s.at_mirror.requests();
    assert!(!at_mirror.is_empty(), "the mirror was asked first");
    for r in &at_mirror {
        assert_eq!(r.header("authorization"), None, "{} {}", r.method, r.path);
    }
    let at_registry = s.at_registry.requests();
    assert!(
        at_registry
            .iter()
            .any(|r| r.header("authorization") == Some(BASIC_AUTHORIZATION)),
        "the registry got its credentials"
    );
}

#[test]
fn pull_takes_content_from_mirrors_and_the_tag_from_the_registry() {
    let s = Setup::start();
    let image = push_image(
        &s.registry,
        "team/app",
        Some("v1"),
        false,
        "amd64",
        &[layer(1, 3000), layer(2, 100)],
    );
    // Two mirrors: an empty one (404 for everything), then the full one; the config file's
    // list for the registry.
    let empty = TestRegistry::start();
    let home = tempfile::tempdir().unwrap();
    let config = home.path().join("config.toml");
    std::fs::write(
        &config,
        format!(
            "[registry.\"{}\"]\nmirrors = [\"http://{}\", \"{}\"]\n",
            s.at_registry.addr(),
            empty.addr(),
            s.mirror_url()
        ),
    )
    .unwrap();
    let name = format!("{}/team/app:v1", s.at_registry.addr());
    let cache = TempCache::new();
    run(&cache, "pull")
        .env("LAYERGET_CONFIG", &config)
        .arg(&name)
        .assert()
        .success();
    for d in image.blobs() {
        assert!(cache.blob_path(&d).is_file(), "{d}");
    }
    // The registry resolved the tag and served nothing else.
    let at_registry: Vec<String> = s
        .at_registry
        .requests()
        .into_iter()
        .map(|r| format!("{} {}", r.method, r.path))
        .collect();
    assert_eq!(
        at_registry,
        ["GET /v2/team/app/manifests/v1"],
        "{at_registry:?}"
    );
    let mirror = blob_gets(&s.at_mirror);
    assert_eq!(mirror.len(), 3, "config and two layers: {mirror:?}");
    // --mirror-tags: the tag too comes from the mirror, and the registry is not asked at all.
    let cache = TempCache::new();
    run(&cache, "pull")
        .env("LAYERGET_CONFIG", &config)
        .args(["--mirror-tags", "--mirror-only"])
        .arg(&name)
        .assert()
        .success();
    assert_eq!(s.at_registry.requests().len(), 1);
    assert!(cache.blob_path(&image.digest).is_file());
}

#[test]
fn head_asks_the_mirror_first_and_says_so() {
    let s = Setup::start();
    let digest = s.registry.push_blob("team/app", b"headed");
    let r = s.at_registry.reference("team/app", &digest);
    let out = layerget()
        .args(["head", "--check-range", "--mirror", &s.mirror_url(), &r])
        .assert()
        .success();
    let text = String::from_utf8_lossy(&out.get_output().stdout).into_owned();
    // The mirror's own host is no redirect; the source line names it.
    assert!(text.contains("redirected:   no"), "{text}");
    assert!(
        text.contains(&format!("source:       mirror {}", s.mirror_url())),
        "{text}"
    );
    assert!(text.contains("range:        honoured"), "{text}");
    assert!(s.at_registry.requests().is_empty());
    // The JSON keys stay as they were; `final_host` is the host that answered.
    let out = layerget()
        .args(["head", "--json", "--mirror", &s.mirror_url(), &r])
        .assert()
        .success();
    let v: Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    assert_eq!(v["final_host"], s.at_mirror.addr());
}

#[test]
fn a_stalled_mirror_hands_over_to_the_registry_from_the_byte_reached() {
    let s = Setup::start();
    let cache = TempCache::new();
    let size: u64 = 3 << 20;
    let digest = s.registry.push_generated_blob("team/app", size, 32);
    s.at_mirror.push_fault(Fault::Stall {
        after: 1 << 20,
        secs: 30,
    });
    run(&cache, "fetch")
        .args(["--stall-timeout", "1", "--mirror", &s.mirror_url()])
        .arg(s.at_registry.reference("team/app", &digest))
        .assert()
        .success();
    assert_eq!(sha256_file(&cache.blob_path(&digest)), digest);
    let registry = blob_gets(&s.at_registry);
    assert_eq!(registry.len(), 1, "{registry:?}");
    // Everything the mirror sent before it stalled was kept.
    assert_eq!(
        registry[0].1.as_deref(),
        Some(format!("bytes={}-{}", 1 << 20, size - 1).as_str())
    );
}

#[test]
fn the_registrys_token_never_goes_to_a_mirror() {
    // A token-auth registry (anonymous tokens for `public/…`) and a plain mirror holding only
    // the second blob: the first comes from the registry (a token is fetched), the second from
    // the mirror, after the token exists.
    let setup = crate::auth_support::TokenRegistry::start();
    let a = setup.push_blob("public/app", b"first layer, registry only");
    let mirror = TestRegistry::start();
    let b = mirror.push_blob("public/app", b"second layer, on the mirror");
    setup.push_blob("public/app", b"second layer, on the mirror");
    let at_mirror = FaultProxy::start(&mirror.addr());
    let cache = TempCache::new();
    run(&cache, "fetch")
        .args([
            "-j",
            "1",
            "--mirror",
            &format!("http://{}", at_mirror.addr()),
        ])
        .arg(setup.reference("public/app", &a))
        .arg(setup.reference("public/app", &b))
        .assert()
        .success();
    for d in [&a, &b] {
        assert_eq!(sha256_file(&cache.blob_path(d)), *d);
    }
    assert!(
        !setup
            .token_requests_for("repository:public/app:pull")
            .is_empty()
    );
    let seen = at_mirror.requests();
    assert_eq!(seen.len(), 2, "a 404 for the first blob, the second blob");
    for r in &seen {
        assert_eq!(r.header("authorization"), None, "{} {}", r.method, r.path);
    }
}

#[test]
fn copy_reads_its_source_from_the_mirror() {
    let s = Setup::start();
    let image = push_image(
        &s.registry,
        "team/app",
        Some("v1"),
        false,
        "amd64",
        &[layer(3, 5000)],
    );
    let dest = TestRegistry::start();
    let at_dest = FaultProxy::start(&dest.addr());
    let cache = TempCache::new();
    run(&cache, "copy")
        .args(["--mirror", &s.mirror_url()])
        .arg(format!("{}/team/app:v1", s.at_registry.addr()))
        .arg(format!("{}/team/copied:v1", at_dest.addr()))
        .assert()
        .success();
    // The source registry resolved the tag only; its blobs came from the mirror.
    assert!(blob_gets(&s.at_registry).is_empty());
    assert_eq!(blob_gets(&s.at_mirror).len(), 2, "config and layer");
    // The destination holds the image and was never asked through a mirror.
    let got = dest.request(
        "GET",
        &format!("/v2/team/copied/manifests/{}", image.digest),
        &[("Accept", OCI_MANIFEST)],
    );
    assert_eq!(got.status, 200);
    assert!(blob_gets(&at_dest).is_empty());
}

#[test]
fn layerget_serve_of_a_cache_is_a_mirror() {
    let s = Setup::start();
    let image = push_image(
        &s.registry,
        "team/app",
        Some("v1"),
        false,
        "amd64",
        &[layer(4, 4000), layer(5, 400)],
    );
    let name = format!("{}/team/app:v1", s.at_registry.addr());
    // One cache pulled from the registry and served; another pulls through it.
    let warm = TempCache::new();
    run(&warm, "pull").arg(&name).assert().success();
    let serve = Serve::start(warm.path(), &[]);
    let before = s.at_registry.requests().len();
    let cold = TempCache::new();
    run(&cold, "pull")
        .args([
            "--mirror-only",
            "--mirror",
            &format!("http://{}", serve.addr),
        ])
        .arg(&name)
        .assert()
        .success();
    for d in image.blobs() {
        assert_eq!(sha256_file(&cold.blob_path(&d)), d);
    }
    // The registry was asked for the tag only.
    let after: Vec<String> = s.at_registry.requests()[before..]
        .iter()
        .map(|r| format!("{} {}", r.method, r.path))
        .collect();
    assert_eq!(after, ["GET /v2/team/app/manifests/v1"], "{after:?}");
}
