//! `layerget pull` against the reference registry: OCI and Docker v2 images, a two-platform
//! index, by tag and by digest, each platform and all of them; the resulting layout is read by
//! `skopeo` (`oci:` transport); concurrent pulls into one cache keep every reference.
//!
//! Images are pushed through the registry's upload API with `support::generate::push_image`.

use std::fs;
use std::process::{Command, Stdio};

use serde_json::{Value, json};

use crate::support::*;

fn pull(cache: &TempCache, args: &[&str]) -> assert_cmd::assert::Assert {
    layerget()
        .arg("--cache-dir")
        .arg(cache.path())
        .arg("pull")
        .args(args)
        .assert()
}

#[test]
fn oci_image_by_tag_and_by_digest_is_a_layout_skopeo_reads() {
    let registry = TestRegistry::start();
    let repo = "team/sub/app";
    let image = push_image(
        &registry,
        repo,
        Some("v1"),
        false,
        "amd64",
        &[layer(1, 3000), layer(2, 100)],
    );
    let cache = TempCache::new();
    let name = format!("{}/{repo}:v1", registry.addr());

    let a = pull(&cache, &[&name]).success();
    let out = stdout(&a);
    let line = out.trim();
    assert!(
        line.starts_with(&format!("{name} {} 2 layers, ", image.digest))
            && line.ends_with(" fetched"),
        "{line}"
    );
    for d in image.blobs() {
        assert!(cache.blob_path(&d).is_file(), "{d} not cached");
    }
    let index = index_json(cache.path());
    assert_eq!(
        index["manifests"][0],
        json!({"mediaType": OCI_MANIFEST, "digest": image.digest, "size": image.manifest.len(),
               "annotations": {REF_NAME: name}})
    );
    assert_skopeo_reads(cache.path(), &name, &image);

    // Again: everything is cached, and the entry is not duplicated.
    let a = pull(&cache, &[&name]).success();
    assert!(stdout(&a).trim().ends_with(" cached"), "{}", stdout(&a));
    assert_eq!(entries(cache.path()).len(), 1);

    // By digest, with --json: recorded under the digest reference too, and skopeo reads it.
    let by_digest = format!("{}/{repo}@{}", registry.addr(), image.digest);
    let a = layerget()
        .args([
            "--cache-dir",
            cache.path().to_str().unwrap(),
            "--json",
            "pull",
            &by_digest,
        ])
        .assert()
        .success();
    let doc: Value = serde_json::from_str(stdout(&a).trim()).unwrap();
    assert_eq!(doc["name"], by_digest.as_str());
    assert_eq!(doc["digest"], image.digest.as_str());
    assert_eq!(doc["media_type"], OCI_MANIFEST);
    assert_eq!(doc["layers"], 2);
    assert_eq!(doc["cached"], true);
    assert_eq!(
        recorded(cache.path(), &by_digest),
        Some(image.digest.clone())
    );
    assert_eq!(entries(cache.path()).len(), 2);
    assert_skopeo_reads(cache.path(), &by_digest, &image);

    // A short reference is recorded by its full normalized name.
    let tagless = format!("{}/{repo}", registry.addr());
    push_image(
        &registry,
        repo,
        Some("latest"),
        false,
        "amd64",
        &[layer(3, 10)],
    );
    pull(&cache, &[&tagless]).success();
    assert!(recorded(cache.path(), &format!("{tagless}:latest")).is_some());
}

#[test]
fn docker_v2_image_is_pulled_and_read_by_skopeo() {
    let registry = TestRegistry::start();
    let image = push_image(
        &registry,
        "legacy/app",
        Some("1.0"),
        true,
        "amd64",
        &[layer(7, 500)],
    );
    let cache = TempCache::new();
    let name = format!("{}/legacy/app:1.0", registry.addr());
    pull(&cache, &[&name]).success();
    // The OCI equivalent carries the name (skopeo's oci: transport reads only OCI media
    // types); the registry's manifest is kept beside it, byte for byte.
    let e = entries(cache.path());
    assert_eq!(e.len(), 2, "{e:?}");
    assert_eq!(
        (e[0].0.as_str(), e[0].2.as_str()),
        (name.as_str(), OCI_MANIFEST)
    );
    assert_eq!(
        e[1],
        (
            name.clone(),
            image.digest.clone(),
            DOCKER_MANIFEST.to_owned()
        )
    );
    assert_eq!(
        fs::read(cache.blob_path(&image.digest)).unwrap(),
        image.manifest
    );
    assert_skopeo_reads(cache.path(), &name, &image);
    // Pulling again converts to the same bytes: nothing new is recorded.
    pull(&cache, &[&name]).success();
    assert_eq!(entries(cache.path()), e);

    // A Docker manifest list: one platform, and all of them.
    let amd = push_image(
        &registry,
        "legacy/multi",
        None,
        true,
        "amd64",
        &[layer(8, 70)],
    );
    let arm = push_image(
        &registry,
        "legacy/multi",
        None,
        true,
        "arm64",
        &[layer(9, 80)],
    );
    let (list, _) = push_index(
        &registry,
        "legacy/multi",
        "2.0",
        true,
        &[("linux/amd64", &amd), ("linux/arm64", &arm)],
    );
    let name = format!("{}/legacy/multi:2.0", registry.addr());
    pull(&cache, &[&name, "--platform", "linux/arm64"]).success();
    assert_skopeo_reads(cache.path(), &name, &arm);
    pull(&cache, &[&name, "--all-platforms"]).success();
    let e: Vec<_> = entries(cache.path())
        .into_iter()
        .filter(|e| e.0 == name)
        .collect();
    assert_eq!(e.len(), 2, "{e:?}");
    assert_eq!(e[0].2, OCI_INDEX);
    assert_eq!(e[1], (name.clone(), list, DOCKER_LIST.to_owned()));
    #[cfg(all(target_os = "linux", target_arch = "x86_64"))]
    assert_skopeo_reads(cache.path(), &name, &amd);
    layerget()
        .args([
            "--cache-dir",
            cache.path().to_str().unwrap(),
            "cache",
            "verify",
        ])
        .assert()
        .success();
}

#[test]
fn two_platform_index_each_platform_and_all() {
    let registry = TestRegistry::start();
    let repo = "multi/app";
    let shared = layer(100, 2000);
    let amd = push_image(
        &registry,
        repo,
        None,
        false,
        "amd64",
        &[shared.clone(), layer(1, 50)],
    );
    let arm = push_image(
        &registry,
        repo,
        None,
        false,
        "arm64",
        &[shared, layer(2, 60)],
    );
    let (index_digest, _) = push_index(
        &registry,
        repo,
        "v2",
        false,
        &[("linux/amd64", &amd), ("linux/arm64", &arm)],
    );
    let name = format!("{}/{repo}:v2", registry.addr());
    let cache = TempCache::new();

    // The host's platform (this test machine is linux/amd64) by default: the name is on the
    // platform manifest, the index is kept beside it.
    let a = pull(&cache, &[&name, "--platform", "linux/amd64"]).success();
    assert!(
        stdout(&a).starts_with(&format!("{name} {index_digest} 2 layers")),
        "{}",
        stdout(&a)
    );
    assert_eq!(recorded(cache.path(), &name), Some(amd.digest.clone()));
    let e = entries(cache.path());
    assert_eq!(e.len(), 2);
    assert!(e.contains(&(name.clone(), index_digest.clone(), OCI_INDEX.to_owned())));
    assert!(cache.blob_path(&index_digest).is_file());
    assert!(!cache.blob_path(&arm.layers[1]).exists());
    assert_skopeo_reads(cache.path(), &name, &amd);
    #[cfg(all(target_os = "linux", target_arch = "x86_64"))]
    {
        let cache = TempCache::new();
        pull(&cache, &[&name]).success();
        assert_eq!(recorded(cache.path(), &name), Some(amd.digest.clone()));
    }

    // Another platform under the same name replaces the entry; skopeo gets that image
    // whatever the host is.
    pull(&cache, &[&name, "--platform", "linux/arm64/v8"]).success();
    assert_eq!(recorded(cache.path(), &name), Some(arm.digest.clone()));
    assert_eq!(entries(cache.path()).len(), 2);
    assert_skopeo_reads(cache.path(), &name, &arm);

    // A platform the index lacks: not found, and the message lists what there is.
    pull(&cache, &[&name, "--platform", "linux/s390x"])
        .code(3)
        .stderr(predicates::str::contains(
            "has no image for linux/s390x (it has linux/amd64, linux/arm64)",
        ));
    pull(&cache, &[&name, "--platform", "linux"]).code(2);

    // By digest, one platform: recorded under the digest reference.
    let by_digest = format!("{}/{repo}@{index_digest}", registry.addr());
    pull(&cache, &[&by_digest, "--platform", "linux/arm64"]).success();
    assert_eq!(recorded(cache.path(), &by_digest), Some(arm.digest.clone()));
    assert_skopeo_reads(cache.path(), &by_digest, &arm);

    // Every platform: the index itself carries the name; skopeo picks the host's image.
    let all = TempCache::new();
    let a = layerget()
        .args([
            "--cache-dir",
            all.path().to_str().unwrap(),
            "--json",
            "pull",
            "--all-platforms",
            &name,
        ])
        .assert()
        .success();
    let doc: Value = serde_json::from_str(stdout(&a).trim()).unwrap();
    assert_eq!(doc["layers"], 4);
    assert_eq!(doc["manifests"][0]["platform"], "linux/amd64");
    assert_eq!(doc["manifests"][1]["platform"], "linux/arm64");
    assert_eq!(
        entries(all.path()),
        [(name.clone(), index_digest.clone(), OCI_INDEX.to_owned())]
    );
    for d in amd.blobs().into_iter().chain(arm.blobs()) {
        assert!(all.blob_path(&d).is_file(), "{d}");
    }
    #[cfg(all(target_os = "linux", target_arch = "x86_64"))]
    assert_skopeo_reads(all.path(), &name, &amd);
}

#[test]
fn a_moved_tag_replaces_its_entry() {
    let registry = TestRegistry::start();
    let first = push_image(
        &registry,
        "app",
        Some("v1"),
        false,
        "amd64",
        &[layer(1, 10)],
    );
    let cache = TempCache::new();
    let name = format!("{}/app:v1", registry.addr());
    pull(&cache, &[&name]).success();
    let second = push_image(
        &registry,
        "app",
        Some("v1"),
        false,
        "amd64",
        &[layer(2, 10)],
    );
    pull(&cache, &[&name])
        .success()
        .stderr(predicates::str::contains(format!(
            "moved from {}",
            first.digest
        )));
    assert_eq!(
        entries(cache.path()),
        [(name.clone(), second.digest.clone(), OCI_MANIFEST.to_owned())]
    );
    assert_skopeo_reads(cache.path(), &name, &second);
}

#[test]
fn concurrent_pulls_into_one_cache_keep_every_reference() {
    let registry = TestRegistry::start();
    let shared = layer(9, 200_000);
    let images: Vec<(String, Image)> = (0..6)
        .map(|i| {
            let tag = format!("t{i}");
            let image = push_image(
                &registry,
                "many",
                Some(&tag),
                false,
                "amd64",
                &[shared.clone(), layer(i, 1000)],
            );
            (format!("{}/many:{tag}", registry.addr()), image)
        })
        .collect();
    let cache = TempCache::new();
    for _round in 0..2 {
        let children: Vec<_> = images
            .iter()
            .map(|(name, _)| {
                let home = isolated_home();
                Command::new(env!("CARGO_BIN_EXE_layerget"))
                    .env_remove("LAYERGET_CACHE_DIR")
                    .env("HOME", &home)
                    .env("DOCKER_CONFIG", home.join("docker"))
                    .env("NO_COLOR", "1")
                    .arg("--cache-dir")
                    .arg(cache.path())
                    .args(["-q", "pull", name])
                    .stdout(Stdio::null())
                    .stderr(Stdio::piped())
                    .spawn()
                    .unwrap()
            })
            .collect();
        for child in children {
            let out = child.wait_with_output().unwrap();
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let e = entries(cache.path());
        assert_eq!(e.len(), images.len(), "{e:?}");
        for (name, image) in &images {
            assert_eq!(recorded(cache.path(), name), Some(image.digest.clone()));
        }
    }
    for (name, image) in images.iter().take(2) {
        assert_skopeo_reads(cache.path(), name, image);
    }
    layerget()
        .args([
            "--cache-dir",
            cache.path().to_str().unwrap(),
            "cache",
            "verify",
        ])
        .assert()
        .success();
}

#[test]
fn failures_have_their_exit_codes() {
    let registry = TestRegistry::start();
    push_image(
        &registry,
        "app",
        Some("v1"),
        false,
        "amd64",
        &[layer(1, 10)],
    );
    let cache = TempCache::new();
    let missing = format!("{}/app:nope", registry.addr());
    let good = format!("{}/app:v1", registry.addr());
    let a = layerget()
        .args([
            "--cache-dir",
            cache.path().to_str().unwrap(),
            "--json",
            "pull",
            &missing,
            &good,
        ])
        .assert()
        .code(3)
        .stderr(predicates::str::contains("manifest nope not found"));
    let lines: Vec<Value> = stdout(&a)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines[0]["error"]["category"], "not_found");
    assert_eq!(lines[1]["name"], good.as_str());
    pull(&cache, &["UPPER/case:v1"]).code(2);
    pull(&cache, &["127.0.0.1:1/app:v1", "--retries", "0"]).code(6);
}

#[test]
fn a_manifest_that_does_not_match_its_digest_is_refused() {
    let body = json!({"schemaVersion": 2, "mediaType": OCI_MANIFEST,
                      "config": {"mediaType": "x", "digest": sha256_digest(b"c"), "size": 1}, "layers": []})
    .to_string();
    let wrong = sha256_digest(b"something else");
    let server = RecordingServer::fixed(
        ScriptedResponse::new(200, body.clone())
            .header("Content-Type", OCI_MANIFEST)
            .header("Docker-Content-Digest", &wrong),
    );
    let cache = TempCache::new();
    pull(&cache, &[&format!("{}/app:v1", server.addr())])
        .code(5)
        .stderr(predicates::str::contains(format!(
            "does not match its Docker-Content-Digest {wrong}"
        )));
    // Asked by digest, a body with another digest is refused too, and nothing is recorded.
    pull(&cache, &[&format!("{}/app@{wrong}", server.addr())]).code(5);
    assert!(entries(cache.path()).is_empty());
    // The request asked for all four manifest types.
    let accept = server.requests()[0].header("accept").unwrap().to_owned();
    for t in [
        OCI_MANIFEST,
        OCI_INDEX,
        DOCKER_MANIFEST,
        "manifest.list.v2+json",
    ] {
        assert!(accept.contains(t), "{accept}");
    }
}

/// Issue 15, item 7: the summary says what moved, what was cached and what was resumed, not the
/// image's size as "fetched".
#[test]
fn the_summary_tells_fetched_from_cached_bytes() {
    let registry = TestRegistry::start();
    let shared = layer(41, 300_000);
    let a = push_image(
        &registry,
        "sum/a",
        Some("v1"),
        false,
        "amd64",
        std::slice::from_ref(&shared),
    );
    let b = push_image(
        &registry,
        "sum/b",
        Some("v1"),
        false,
        "amd64",
        &[shared, layer(42, 1000)],
    );
    let cache = TempCache::new();
    pull(&cache, &[&format!("{}/sum/a:v1", registry.addr())]).success();
    let out = pull(&cache, &[&format!("{}/sum/b:v1", registry.addr())]).success();
    let line = stdout(&out);
    let (_, summary) = line.trim().split_once(&b.digest).expect("the digest");
    assert!(summary.starts_with(" 2 layers, "), "{line}");
    // The shared 293 KiB layer was cached; the new layer, config and manifest moved.
    assert!(summary.contains(" fetched, 293.0 KiB cached"), "{line}");
    assert!(!summary.contains("MiB fetched"), "{line}");
    let again = pull(&cache, &[&format!("{}/sum/a:v1", registry.addr())]).success();
    assert!(
        stdout(&again).trim().ends_with(" cached"),
        "{}",
        stdout(&again)
    );
    assert!(!stdout(&again).contains("fetched"), "{}", stdout(&again));
    let _ = a;
}

/// Issue 15: `--platform` takes several values; the name goes on an index of just those
/// platforms (complete in the cache, read by skopeo), the registry's index is kept beside it
/// (and is what `serve` answers for the tag), and the other platforms are not fetched.
#[test]
fn several_platforms_are_recorded_as_an_index_of_just_those() {
    let registry = TestRegistry::start();
    let repo = "multi/some";
    for docker in [false, true] {
        let tag = if docker { "list" } else { "oci" };
        let images: Vec<(&str, Image)> = [
            ("linux/amd64", 11),
            ("linux/arm64", 12),
            ("linux/s390x", 13),
        ]
        .into_iter()
        .map(|(p, seed)| {
            let arch = p.split_once('/').unwrap().1;
            (
                p,
                push_image(
                    &registry,
                    repo,
                    None,
                    docker,
                    arch,
                    &[layer(seed + u64::from(docker) * 10, 80)],
                ),
            )
        })
        .collect();
        let refs: Vec<(&str, &Image)> = images.iter().map(|(p, i)| (*p, i)).collect();
        let (index_digest, _) = push_index(&registry, repo, tag, docker, &refs);
        let name = format!("{}/{repo}:{tag}", registry.addr());
        let cache = TempCache::new();
        pull(&cache, &[&name, "--platform", "linux/amd64,linux/arm64"]).success();
        // The recorded index lists exactly the two platforms, in OCI terms.
        let recorded_digest = recorded(cache.path(), &name).expect("the name is recorded");
        let doc: Value =
            serde_json::from_slice(&fs::read(cache.blob_path(&recorded_digest)).unwrap()).unwrap();
        assert_eq!(doc["mediaType"], OCI_INDEX, "{docker}: {doc}");
        let platforms: Vec<String> = doc["manifests"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["platform"]["architecture"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(platforms, ["amd64", "arm64"], "{docker}");
        // The registry's own index is kept beside it.
        assert!(
            entries(cache.path())
                .iter()
                .any(|(n, d, _)| *n == name && *d == index_digest),
            "{docker}: {:?}",
            entries(cache.path())
        );
        // Complete, and the third platform was never fetched.
        let ls = layerget()
            .arg("--cache-dir")
            .arg(cache.path())
            .args(["cache", "ls"])
            .output()
            .unwrap();
        let ls = String::from_utf8_lossy(&ls.stdout).into_owned();
        assert!(
            ls.contains(&name) && !ls.contains("incomplete"),
            "{docker}: {ls}"
        );
        assert!(!cache.blob_path(&images[2].1.config).exists(), "{docker}");
        // skopeo reads it (the host's platform, amd64, is in it).
        let copied = skopeo_from_cache(cache.path(), &name);
        assert!(copied.is_ok(), "{docker}: {copied:?}");
        // `serve` answers the tag with the registry's index.
        let serve = Serve::start(cache.path(), &[]);
        let accept = "application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.list.v2+json";
        let r = serve.request(
            "GET",
            &format!("/v2/{repo}/manifests/{tag}"),
            &[("Accept", accept)],
        );
        assert_eq!(r.status, 200, "{docker}: {}", r.text());
        assert_eq!(
            r.header("docker-content-digest"),
            Some(index_digest.as_str()),
            "{docker}"
        );
    }
    let cache = TempCache::new();
    let name = format!("{}/{repo}:oci", registry.addr());
    let out = layerget()
        .arg("--cache-dir")
        .arg(cache.path())
        .args([
            "pull",
            &name,
            "--platform",
            "linux/amd64",
            "--platform",
            "windows/amd64",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3), "{out:?}");
}
