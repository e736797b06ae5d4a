//! `layerget sync` against the reference registry: a cache holding several images (OCI and
//! Docker, from two repositories) is pushed under a prefix, each readable there with its
//! original digest; a repeated sync sends no blob bytes; `--match` picks names.

use serde_json::Value;

use crate::support::*;

fn lines(out: &[u8]) -> Vec<Value> {
    String::from_utf8_lossy(out)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

#[test]
fn sync_pushes_every_recorded_reference_and_again_sends_nothing() {
    let source = TestRegistry::start();
    let a = push_image(
        &source,
        "team/a",
        Some("v1"),
        false,
        "amd64",
        &[layer(31, 2000)],
    );
    let b = push_image(
        &source,
        "team/b",
        Some("1.0"),
        true,
        "amd64",
        &[layer(32, 3000)],
    );
    let cache = TempCache::new();
    for name in ["team/a:v1", "team/b:1.0"] {
        layerget()
            .arg("--cache-dir")
            .arg(cache.path())
            .args(["pull", &format!("{}/{name}", source.addr())])
            .assert()
            .success();
    }
    let dest = TestRegistry::start();
    let proxy = FaultProxy::start(&dest.addr());
    let prefix = format!("{}/mirror", proxy.addr());
    let sync = |extra: &[&str]| {
        layerget()
            .arg("--cache-dir")
            .arg(cache.path())
            .args(["--json", "sync", &prefix])
            .args(extra)
            .assert()
            .success()
    };
    let out = sync(&[]);
    let docs = lines(&out.get_output().stdout);
    assert_eq!(docs.len(), 2, "{docs:?}");
    assert_eq!(docs[0]["dest"], format!("{prefix}/team/a:v1").as_str());
    assert_eq!(docs[0]["digest"], a.digest.as_str());
    assert_eq!(docs[1]["dest"], format!("{prefix}/team/b:1.0").as_str());
    assert_eq!(docs[1]["digest"], b.digest.as_str());
    for (path, image) in [("team/a", &a), ("team/b", &b)] {
        let tag = if path == "team/a" { "v1" } else { "1.0" };
        let r = dest.request(
            "GET",
            &format!("/v2/mirror/{path}/manifests/{tag}"),
            &[("Accept", "application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json")],
        );
        assert_eq!(r.status, 200, "{path}");
        assert_eq!(r.body, image.manifest, "{path}");
    }

    let uploads = || {
        proxy
            .requests()
            .iter()
            .filter(|r| {
                matches!(r.method.as_str(), "PATCH" | "PUT" | "POST") && r.path.contains("/blobs/")
            })
            .count()
    };
    let before = uploads();
    let docs = lines(&sync(&[]).get_output().stdout);
    assert!(
        docs.iter()
            .all(|d| d["blobs_pushed"] == 0 && d["bytes_uploaded"].as_u64() < Some(10_000)),
        "{docs:?}"
    );
    assert_eq!(uploads(), before, "a repeated sync sent blobs");

    let docs = lines(&sync(&["--match", "*/team/b:*"]).get_output().stdout);
    assert_eq!(docs.len(), 1, "{docs:?}");
    assert_eq!(docs[0]["digest"], b.digest.as_str());
}

#[test]
fn sync_to_a_bare_host_uses_the_explicit_credentials_there() {
    let source = TestRegistry::start();
    let image = push_image(
        &source,
        "team/c",
        Some("v3"),
        false,
        "amd64",
        &[layer(33, 1000)],
    );
    let cache = TempCache::new();
    layerget()
        .arg("--cache-dir")
        .arg(cache.path())
        .args(["pull", &format!("{}/team/c:v3", source.addr())])
        .assert()
        .success();
    let dest = TestRegistry::builder().basic_auth().start();
    let sync = |password: &str| {
        layerget()
            .arg("--cache-dir")
            .arg(cache.path())
            .args(["sync", &dest.addr(), "--username", BASIC_USER])
            .env("LAYERGET_PASSWORD", password)
            .assert()
    };
    sync("wrong").code(4);
    let out = sync(BASIC_PASS).success();
    let line = String::from_utf8_lossy(&out.get_output().stdout).into_owned();
    assert!(
        line.starts_with(&format!("{}/team/c:v3 {} ", dest.addr(), image.digest)),
        "{line}"
    );
}
