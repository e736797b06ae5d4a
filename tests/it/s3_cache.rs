//! Every `cache` subcommand on an S3 cache (issue 14), on a real Garage node, side by side
//! with a local cache holding the same content: `ls`, `path`, `gc` (its grace period, then
//! exactly the blobs no reference reaches), `prune`, `rm`, with the same output for both, and
//! what is in the bucket checked by S3 requests of its own (curl with SigV4), not by layerget.

use std::time::Duration;

use serde_json::Value;

use crate::support::*;

/// `layerget --cache-dir CACHE ARGS…` with the node's credentials and endpoint.
fn run(node: &Garage, cache: &str, args: &[&str]) -> assert_cmd::assert::Assert {
    let mut cmd = layerget();
    for (k, v) in node.env() {
        cmd.env(k, v);
    }
    cmd.args(["--cache-dir", cache]).args(args).assert()
}

fn json_lines(a: &assert_cmd::assert::Assert) -> Vec<Value> {
    stdout(a)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// Runs the same command on both caches, expects success, and returns both stdouts.
fn both(node: &Garage, caches: [&str; 2], args: &[&str]) -> [String; 2] {
    caches.map(|c| stdout(&run(node, c, args).success()))
}

/// Whether the bucket holds `blobs/<alg>/<hex>` of `digest` below the prefix `cache/`, by a
/// HEAD of our own (curl with SigV4): 200 yes, 404 no, anything else fails the test.
fn in_bucket(node: &Garage, bucket: &str, digest: &str) -> bool {
    let key = format!("cache/blobs/{}", digest.replacen(':', "/", 1));
    let out = node
        .curl(&format!("{bucket}/{key}"))
        .args(["-s", "-I", "-o", "/dev/null", "-w", "%{http_code}"])
        .output()
        .unwrap();
    match String::from_utf8_lossy(&out.stdout).as_ref() {
        "200" => true,
        "404" => false,
        other => panic!("HEAD {key}: status {other}"),
    }
}

#[test]
fn every_cache_subcommand_on_s3_does_what_it_does_on_a_local_cache() {
    let Some(node) = Garage::start_or_skip() else {
        return;
    };
    let bucket = node.bucket("s3cache");
    let registry = TestRegistry::start();
    let local = TempCache::new();
    let caches = [bucket.as_str(), local.path().to_str().unwrap()];
    let in_s3 = |d: &str| in_bucket(&node, "s3cache", d);

    // Two images sharing a base layer, pulled into both caches.
    let base = layer(1, 3000);
    let a = push_image(
        &registry,
        "team/app",
        Some("v1"),
        false,
        "amd64",
        &[base.clone(), layer(2, 100)],
    );
    let b = push_image(
        &registry,
        "team/app",
        Some("v2"),
        false,
        "amd64",
        &[base.clone(), layer(3, 200)],
    );
    let (v1, v2) = (
        format!("{}/team/app:v1", registry.addr()),
        format!("{}/team/app:v2", registry.addr()),
    );
    for image in [&v2, &v1] {
        both(&node, caches, &["pull", image]);
        // Object times have a resolution of a second: apart, so that prune's order is sure.
        std::thread::sleep(Duration::from_millis(1100));
    }

    // ls: the same lines, sizes and completeness.
    let [s3, disk] = both(&node, caches, &["cache", "ls"]);
    assert_eq!(s3, disk);
    assert_eq!(s3.lines().count(), 2, "{s3}");
    assert!(s3.contains(&format!("{v1} {}", a.digest)), "{s3}");
    let ls = caches.map(|c| json_lines(&run(&node, c, &["--json", "cache", "ls"]).success()));
    assert_eq!(ls[0], ls[1]);
    assert!(ls[0].iter().all(|r| r["complete"] == true), "{:?}", ls[0]);

    // path: the object's URL (the file's path locally); with --json the same size.
    let own = &a.layers[1];
    let [s3, disk] = both(&node, caches, &["cache", "path", own]);
    let hex = own.trim_start_matches("sha256:");
    assert_eq!(s3.trim(), format!("{bucket}/blobs/sha256/{hex}"));
    assert_eq!(disk.trim(), format!("{}/blobs/sha256/{hex}", caches[1]));
    let sizes = caches.map(|c| {
        json_lines(&run(&node, c, &["--json", "cache", "path", own]).success())[0]["size"].clone()
    });
    let size = Value::from(layer(2, 100).len());
    assert_eq!(sizes, [size.clone(), size]);
    let a_missing = run(
        &node,
        caches[0],
        &["cache", "path", &format!("sha256:{}", "0".repeat(64))],
    );
    a_missing.code(3);

    // v1 moves to a new image: the old one's manifest, config and own layer are garbage,
    // the shared base is not. A fetch by digest alone leaves a loose blob.
    let moved = push_image(
        &registry,
        "team/app",
        Some("v1"),
        false,
        "arm64",
        &[base.clone(), layer(4, 300)],
    );
    let loose = registry.push_blob("team/app", &layer(5, 50));
    for cache in caches {
        run(&node, cache, &["pull", &v1]).success();
        run(
            &node,
            cache,
            &["fetch", &registry.reference("team/app", &loose)],
        )
        .success();
    }
    let live: Vec<String> = moved.blobs().into_iter().chain(b.blobs()).collect();
    let garbage: Vec<String> = a
        .blobs()
        .into_iter()
        .filter(|d| !live.contains(d))
        .collect();
    assert_eq!(garbage.len(), 3, "{garbage:?}");
    assert!(garbage.iter().all(|d| in_s3(d)));

    // On the bucket no lock keeps pulls away: by default (--ingest-age 7d) nothing that
    // young goes, and it says so.
    let kept = run(&node, caches[0], &["cache", "gc"]).success();
    assert!(
        stdout(&kept).starts_with("removed 0 blobs (0 B)"),
        "{}",
        stdout(&kept)
    );
    assert!(
        stderr(&kept).contains("kept 3 recent blobs"),
        "{}",
        stderr(&kept)
    );
    assert!(garbage.iter().all(|d| in_s3(d)));
    // A dry run says what a real one removes, on both, and removes nothing.
    let dry = caches.map(|c| {
        json_lines(
            &run(
                &node,
                c,
                &["--json", "cache", "gc", "--dry-run", "--ingest-age", "0"],
            )
            .success(),
        )
        .remove(0)
    });
    assert_eq!(dry[0], dry[1]);
    let mut planned: Vec<&str> = dry[0]["removed_blobs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["digest"].as_str().unwrap())
        .collect();
    planned.sort();
    let mut want: Vec<&str> = garbage.iter().map(String::as_str).collect();
    want.sort();
    assert_eq!(planned, want);
    assert!(garbage.iter().all(|d| in_s3(d)));
    // Without a grace: exactly the unshared blobs of the old image, the same report as on
    // disk; the loose blob stays (no manifest names it), the live images are whole.
    let [s3, disk] = both(&node, caches, &["cache", "gc", "--ingest-age", "0"]);
    assert_eq!(s3, disk);
    assert!(s3.starts_with("removed 3 blobs"), "{s3}");
    assert!(s3.contains("kept 1 loose blob"), "{s3}");
    assert!(garbage.iter().all(|d| !in_s3(d)));
    assert!(live.iter().all(|d| in_s3(d)), "a live blob went");
    assert!(in_s3(&loose));
    let [s3, disk] = both(
        &node,
        caches,
        &["cache", "gc", "--loose", "--ingest-age", "0"],
    );
    assert_eq!(s3, disk);
    assert!(s3.starts_with("removed 1 blob ("), "{s3}");
    assert!(!in_s3(&loose));
    let [s3, disk] = both(&node, caches, &["cache", "ls"]);
    assert_eq!(s3, disk);

    // prune: the least recently pulled reference (v2) goes first, with only its own blobs.
    let du = |c: &str| {
        json_lines(&run(&node, c, &["--json", "cache", "du"]).success())[0]["blob_bytes"]
            .as_u64()
            .unwrap()
    };
    let bytes = du(caches[0]);
    assert_eq!(bytes, du(caches[1]));
    let limit = (bytes - 1).to_string();
    let [s3, disk] = both(
        &node,
        caches,
        &["cache", "prune", "--dry-run", "--max-size", &limit],
    );
    assert_eq!(s3, disk);
    assert!(
        s3.starts_with("would evict 1 reference and 3 blobs"),
        "{s3}"
    );
    let plans = caches.map(|c| {
        json_lines(
            &run(
                &node,
                c,
                &[
                    "--json",
                    "cache",
                    "prune",
                    "--dry-run",
                    "--max-size",
                    &limit,
                ],
            )
            .success(),
        )[0]["evicted_refs"]
            .clone()
    });
    assert_eq!(plans, [serde_json::json!([v2]), serde_json::json!([v2])]);
    assert!(
        b.blobs().iter().all(|d| in_s3(d)),
        "a dry run removed something"
    );
    let [s3, disk] = both(&node, caches, &["cache", "prune", "--max-size", &limit]);
    assert_eq!(s3, disk);
    let b_own: Vec<String> = b
        .blobs()
        .into_iter()
        .filter(|d| !moved.blobs().contains(d))
        .collect();
    assert_eq!(b_own.len(), 3);
    assert!(b_own.iter().all(|d| !in_s3(d)));
    assert!(moved.blobs().iter().all(|d| in_s3(d)));

    // rm: a reference and the blobs only it reaches; then a blob by digest (exit 3 once
    // gone); an unknown name is "not found".
    both(&node, caches, &["pull", &v2]);
    let [s3, disk] = both(&node, caches, &["cache", "rm", &v1]);
    assert_eq!(s3, disk);
    assert_eq!(s3.trim(), format!("{v1}: removed 1 reference and 3 blobs"));
    assert!(
        moved
            .blobs()
            .iter()
            .filter(|d| !b.blobs().contains(d))
            .all(|d| !in_s3(d))
    );
    assert!(b.blobs().iter().all(|d| in_s3(d)), "rm took a shared blob");
    let [s3, disk] = both(&node, caches, &["cache", "rm", &b.config]);
    assert_eq!(s3, disk);
    assert!(!in_s3(&b.config));
    for cache in caches {
        run(&node, cache, &["cache", "rm", &b.config]).code(3);
        run(&node, cache, &["cache", "rm", "nobody/here:v9"]).code(3);
    }
    let [s3, disk] = both(&node, caches, &["cache", "ls"]);
    assert_eq!(s3, disk);
    assert!(
        s3.contains("incomplete (1 blob missing; pull again)"),
        "{s3}"
    );
}
