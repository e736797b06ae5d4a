//! `layerget cache …` on caches filled by `pull` from the reference registry: a corrupted blob
//! is found and quarantined, `gc` and `prune` remove what they may and keep what they must
//! (current images, shared layers, blobs a fetch holds, loose blobs without `--loose`), `rm`,
//! `path`, `ls`, `du`; and `serve` serves what `pull` recorded.

use std::fs::{self, File, FileTimes, OpenOptions};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::{Duration, SystemTime};

use predicates::prelude::*;
use serde_json::Value;

use crate::support::*;

fn cache_cmd(cache: &TempCache, args: &[&str]) -> assert_cmd::assert::Assert {
    layerget()
        .arg("--cache-dir")
        .arg(cache.path())
        .args(args)
        .assert()
}

fn out(a: &assert_cmd::assert::Assert) -> String {
    String::from_utf8_lossy(&a.get_output().stdout).into_owned()
}

fn json_lines(a: &assert_cmd::assert::Assert) -> Vec<Value> {
    out(a)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// Sets a file's (or directory's) access and modification times to `age` ago.
fn age(path: &Path, age: Duration) {
    let t = SystemTime::now() - age;
    File::open(path)
        .unwrap()
        .set_times(FileTimes::new().set_accessed(t).set_modified(t))
        .unwrap();
}

fn corrupt(path: &Path) {
    let mut perms = fs::metadata(path).unwrap().permissions();
    perms.set_mode(0o644);
    fs::set_permissions(path, perms).unwrap();
    let mut bytes = fs::read(path).unwrap();
    bytes[0] ^= 0xff;
    fs::write(path, bytes).unwrap();
}

/// Pushes `repo:tag` with a shared base layer plus one of its own, and pulls it into `cache`.
fn pulled(
    registry: &TestRegistry,
    cache: &TempCache,
    repo: &str,
    tag: &str,
    seed: u64,
) -> (String, Image) {
    let image = push_image(
        registry,
        repo,
        Some(tag),
        false,
        "amd64",
        &[layer(1000, 4000), layer(seed, 2000)],
    );
    let name = format!("{}/{repo}:{tag}", registry.addr());
    cache_cmd(cache, &["-q", "pull", &name]).success();
    (name, image)
}

#[test]
fn verify_quarantines_a_corrupted_blob_and_pull_repairs_it() {
    let registry = TestRegistry::start();
    let cache = TempCache::new();
    let (name, image) = pulled(&registry, &cache, "v/app", "v1", 1);
    let a = cache_cmd(&cache, &["--json", "cache", "verify"]).success();
    let lines = json_lines(&a);
    assert_eq!(lines.len(), 4);
    assert!(lines.iter().all(|l| l["ok"] == true));

    let bad = &image.layers[1];
    corrupt(&cache.blob_path(bad));
    let a = cache_cmd(&cache, &["cache", "verify"])
        .code(5)
        .stderr(predicate::str::contains("3 good, 1 bad"));
    let text = out(&a);
    let hex = bad.split_once(':').unwrap().1;
    assert!(
        text.starts_with(&format!("{bad} bad: its 2008 bytes hash to sha256:")),
        "{text}"
    );
    assert!(text.contains(&format!("quarantine/sha256/{hex}")), "{text}");
    assert!(!cache.blob_path(bad).exists());
    assert!(cache.path().join("quarantine/sha256").join(hex).is_file());
    // Verified again: nothing bad is left; a named blob that is gone is "not found".
    cache_cmd(&cache, &["cache", "verify"]).success();
    cache_cmd(&cache, &["cache", "verify", bad]).code(3);
    cache_cmd(&cache, &["cache", "verify", "sha256:nope"]).code(2);
    cache_cmd(&cache, &["cache", "ls"])
        .success()
        .stdout(predicate::str::contains("incomplete (1 blob missing"));

    // The next pull fetches it again; gc empties the quarantine.
    cache_cmd(&cache, &["pull", &name])
        .success()
        .stdout(predicate::str::contains(" fetched, ").and(predicate::str::ends_with(" cached\n")));
    cache_cmd(&cache, &["cache", "verify", bad, &image.digest]).success();
    cache_cmd(&cache, &["cache", "gc"])
        .success()
        .stdout(predicate::str::contains("1 quarantined"));
    assert!(!cache.path().join("quarantine/sha256").join(hex).exists());
    assert_skopeo_reads(cache.path(), &name, &image);
}

#[test]
fn gc_removes_only_what_no_reference_needs() {
    let registry = TestRegistry::start();
    let cache = TempCache::new();
    let (name, old) = pulled(&registry, &cache, "g/app", "v1", 1);
    // The tag moves: the old manifest, config and own layer become garbage; the base stays.
    let (_, new) = pulled(&registry, &cache, "g/app", "v1", 2);
    // A blob fetched by digest alone is "loose".
    let loose = registry.push_blob("g/app", b"fetched by digest alone");
    cache_cmd(&cache, &["fetch", &registry.reference("g/app", &loose)]).success();
    // A stale partial download and a fresh one.
    let ingest = cache.path().join("ingest/sha256");
    let (stale, fresh) = (ingest.join("a".repeat(64)), ingest.join("b".repeat(64)));
    for dir in [&stale, &fresh] {
        fs::create_dir_all(dir).unwrap();
        fs::write(dir.join("data"), b"partial").unwrap();
        fs::write(dir.join("state.json"), b"{}").unwrap();
    }
    for p in [stale.join("data"), stale.join("state.json"), stale.clone()] {
        age(&p, Duration::from_secs(8 * 86400));
    }
    // A running fetch holds the lock of one garbage blob.
    let held = &old.layers[1];
    let lock_path = ingest.join(format!("{}.lock", held.split_once(':').unwrap().1));
    let lock = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .unwrap();
    lock.lock().unwrap();

    // The old config goes; the old manifest stays while a blob it names is held (else that
    // blob would look loose to the next gc).
    let a = cache_cmd(&cache, &["--json", "cache", "gc", "--dry-run"]).success();
    let doc = &json_lines(&a)[0];
    let removed: Vec<&str> = doc["removed_blobs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["digest"].as_str().unwrap())
        .collect();
    assert_eq!(removed, [old.config.as_str()], "{doc}");
    assert!(
        cache.blob_path(&old.config).is_file(),
        "the dry run removed it"
    );
    assert_eq!(doc["in_use"], serde_json::json!([held]));
    assert!(stale.exists());

    let a = cache_cmd(&cache, &["--json", "cache", "gc"]).success();
    let doc = &json_lines(&a)[0];
    assert_eq!(doc["kept_loose"], serde_json::json!([loose]));
    assert_eq!(doc["removed_ingest"].as_array().unwrap().len(), 1, "{doc}");
    assert!(!cache.blob_path(&old.config).exists());
    assert!(cache.blob_path(held).is_file(), "a locked blob was removed");
    assert!(cache.blob_path(&old.digest).is_file());
    for d in new.blobs() {
        assert!(
            cache.blob_path(&d).is_file(),
            "{d} of the current image removed"
        );
    }
    assert!(cache.blob_path(&loose).is_file());
    assert!(!stale.exists() && fresh.exists());
    assert_skopeo_reads(cache.path(), &name, &new);

    drop(lock);
    cache_cmd(&cache, &["cache", "gc"])
        .success()
        .stdout(predicate::str::starts_with("removed 2 blobs"));
    assert!(!cache.blob_path(held).exists() && !cache.blob_path(&old.digest).exists());
    cache_cmd(&cache, &["cache", "gc", "--loose", "--ingest-age", "0"])
        .success()
        .stdout(predicate::str::starts_with("removed 1 blob ("));
    assert!(!cache.blob_path(&loose).exists() && !fresh.exists());
    assert_skopeo_reads(cache.path(), &name, &new);
    cache_cmd(&cache, &["cache", "gc", "--ingest-age", "7w"]).code(2);
}

#[test]
fn prune_evicts_least_recently_used_images_and_keeps_shared_layers() {
    let registry = TestRegistry::start();
    let cache = TempCache::new();
    let (old_name, old) = pulled(&registry, &cache, "p/old", "v1", 1);
    let (new_name, new) = pulled(&registry, &cache, "p/new", "v1", 2);
    // The old image was last used a day ago.
    for d in old.blobs() {
        age(&cache.blob_path(&d), Duration::from_secs(86400));
    }
    let size = |d: &String| fs::metadata(cache.blob_path(d)).unwrap().len();
    let new_size: u64 = new.blobs().iter().map(size).sum();

    let a = cache_cmd(
        &cache,
        &[
            "--json",
            "cache",
            "prune",
            "--max-size",
            &new_size.to_string(),
            "--dry-run",
        ],
    )
    .success();
    let doc = &json_lines(&a)[0];
    assert_eq!(doc["evicted_refs"], serde_json::json!([old_name]));
    assert!(cache.blob_path(&old.digest).is_file());

    cache_cmd(
        &cache,
        &["cache", "prune", "--max-size", &new_size.to_string()],
    )
    .success()
    .stdout(predicate::str::starts_with(
        "evicted 1 reference and 3 blobs",
    ));
    assert_eq!(recorded(cache.path(), &old_name), None);
    for d in [&old.digest, &old.config, &old.layers[1]] {
        assert!(!cache.blob_path(d).exists(), "{d} kept");
    }
    // The base layer is still the new image's.
    assert!(cache.blob_path(&old.layers[0]).is_file());
    assert_skopeo_reads(cache.path(), &new_name, &new);

    // Already small enough: nothing happens. Then everything goes.
    cache_cmd(&cache, &["cache", "prune", "--max-size", "1M"])
        .success()
        .stdout(predicate::str::starts_with(
            "evicted 0 references and 0 blobs",
        ));
    cache_cmd(&cache, &["cache", "prune", "--max-size", "0"]).success();
    assert!(entries(cache.path()).is_empty());
    assert_eq!(
        fs::read_dir(cache.path().join("blobs/sha256"))
            .unwrap()
            .count(),
        0
    );
    cache_cmd(&cache, &["cache", "prune", "--max-size", "1X"]).code(2);
    cache_cmd(&cache, &["cache", "prune"]).code(2);
}

#[test]
fn rm_path_ls_and_du() {
    let registry = TestRegistry::start();
    let cache = TempCache::new();
    let (a_name, a) = pulled(&registry, &cache, "r/a", "v1", 1);
    let (b_name, b) = pulled(&registry, &cache, "r/b", "v1", 2);

    let ls = out(&cache_cmd(&cache, &["cache", "ls"]).success());
    assert_eq!(ls.lines().count(), 2, "{ls}");
    assert!(ls.contains(&format!("{a_name} {} ", a.digest)), "{ls}");
    let blobs = json_lines(&cache_cmd(&cache, &["--json", "cache", "ls", "--blobs"]).success());
    assert_eq!(blobs.len(), 7); // shared base + 2 × (manifest, config, own layer)
    assert!(blobs[0]["last_use"].as_str().unwrap().ends_with('Z'));
    let du = &json_lines(&cache_cmd(&cache, &["--json", "cache", "du"]).success())[0];
    assert_eq!(du["blob_count"], 7);
    assert_eq!(
        du["blob_bytes"].as_u64().unwrap(),
        blobs
            .iter()
            .map(|b| b["size"].as_u64().unwrap())
            .sum::<u64>()
    );

    let path = out(&cache_cmd(&cache, &["cache", "path", &a.layers[1]]).success());
    assert_eq!(Path::new(path.trim()), cache.blob_path(&a.layers[1]));
    cache_cmd(
        &cache,
        &["cache", "path", &format!("sha256:{}", "0".repeat(64))],
    )
    .code(3);
    cache_cmd(&cache, &["cache", "path", "nope"]).code(2);

    // rm REF: its own blobs go, the shared base stays with b.
    let short = format!("{}/r/a", registry.addr()); // means :latest, which is not there
    cache_cmd(&cache, &["cache", "rm", &short]).code(3);
    cache_cmd(&cache, &["cache", "rm", &a_name])
        .success()
        .stdout(predicate::str::contains("removed 1 reference and 3 blobs"));
    assert_eq!(recorded(cache.path(), &a_name), None);
    assert!(cache.blob_path(&a.layers[0]).is_file());
    assert_skopeo_reads(cache.path(), &b_name, &b);

    // rm DIGEST: the blob goes; the reference that needs it is now incomplete.
    cache_cmd(&cache, &["--json", "cache", "rm", &b.config]).success();
    assert!(!cache.blob_path(&b.config).exists());
    cache_cmd(&cache, &["cache", "ls"])
        .success()
        .stdout(predicate::str::contains("incomplete"));
    cache_cmd(&cache, &["cache", "rm", &b.config]).code(3);
}

#[test]
fn serve_serves_pulled_references_by_tag() {
    let registry = TestRegistry::start();
    let first = TempCache::new();
    let (_, image) = pulled(&registry, &first, "team/sub/app", "v1", 1);
    let server = Serve::start(first.path(), &[]);
    let second = TempCache::new();
    let name = format!("{}/team/sub/app:v1", server.addr);
    cache_cmd(&second, &["pull", &name]).success();
    assert_eq!(recorded(second.path(), &name), Some(image.digest.clone()));
    for d in image.blobs() {
        assert_eq!(
            fs::read(second.blob_path(&d)).unwrap(),
            fs::read(first.blob_path(&d)).unwrap()
        );
    }
}

/// Issue 15, item 1: only fetch and pull create a cache, and only in a missing or empty
/// directory; `cache` and `serve` of a missing cache say so (exit 2); a directory of other
/// things is refused and left untouched; an `index.json` that is no OCI index is an error.
#[test]
fn only_fetch_and_pull_create_a_cache_and_only_where_nothing_is() {
    let dir = tempfile::tempdir().unwrap();
    let listing = |d: &std::path::Path| -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(d)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    };
    // A directory of other things.
    let docs = dir.path().join("docs");
    std::fs::create_dir(&docs).unwrap();
    std::fs::write(docs.join("f"), b"hi").unwrap();
    let digest = format!("sha256:{}", "a".repeat(64));
    for args in [
        vec!["cache", "ls"],
        vec!["cache", "gc"],
        vec![
            "fetch",
            "127.0.0.1:1/a/b@sha256:0000000000000000000000000000000000000000000000000000000000000000",
        ],
    ] {
        let out = layerget()
            .arg("--cache-dir")
            .arg(&docs)
            .args(&args)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}: {out:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("hint:"), "{stderr}");
        assert_eq!(listing(&docs), ["f"], "{args:?} wrote into it");
    }
    let out = layerget().arg("serve").arg(&docs).output().unwrap();
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert_eq!(listing(&docs), ["f"]);
    // A missing cache: named, nothing created.
    let typo = dir.path().join("typo");
    for args in [
        vec!["cache", "ls"],
        vec!["cache", "path", digest.as_str()],
        vec!["cache", "du"],
    ] {
        let out = layerget()
            .arg("--cache-dir")
            .arg(&typo)
            .args(&args)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}: {out:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains("no layerget cache") && stderr.contains("hint:"),
            "{stderr}"
        );
        assert!(!typo.exists(), "{args:?} created it");
    }
    let out = layerget().arg("serve").arg(&typo).output().unwrap();
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(!typo.exists());
    // fetch creates one in a new directory and in an empty one.
    let registry = TestRegistry::start();
    let blob = registry.push_blob("c/new", b"creates");
    let empty = dir.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    for d in [dir.path().join("new"), empty] {
        layerget()
            .arg("--cache-dir")
            .arg(&d)
            .args(["fetch", &registry.reference("c/new", &blob)])
            .assert()
            .success();
        assert!(d.join("oci-layout").is_file());
        layerget()
            .arg("--cache-dir")
            .arg(&d)
            .args(["cache", "ls"])
            .assert()
            .success();
    }
    // An index.json that is not an OCI index is an error naming it.
    let bad = dir.path().join("new");
    std::fs::write(bad.join("index.json"), br#"{"hello":"world"}"#).unwrap();
    let out = layerget()
        .arg("--cache-dir")
        .arg(&bad)
        .args(["cache", "ls"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("index.json") && stderr.contains("not an OCI image index"),
        "{stderr}"
    );
}

/// Issue 15: `cache ls` on an empty cache says so (on stderr, stdout stays empty), and
/// `cache ls --blobs` shows human sizes unless `--bytes`.
#[test]
fn ls_says_when_empty_and_shows_human_sizes() {
    let registry = TestRegistry::start();
    let cache = TempCache::new();
    let digest = registry.push_blob("c/ls", &vec![7u8; 3000]);
    // A cache with nothing in it yet: `fetch` of a missing blob creates it and fails.
    layerget()
        .args(["--retries", "0", "--cache-dir"])
        .arg(cache.path())
        .args([
            "fetch",
            &registry.reference("c/ls", &format!("sha256:{}", "0".repeat(64))),
        ])
        .assert()
        .code(3);
    for args in [&["cache", "ls"][..], &["cache", "ls", "--blobs"]] {
        let out = layerget()
            .arg("--cache-dir")
            .arg(cache.path())
            .args(args)
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        assert!(out.stdout.is_empty());
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.starts_with("no "), "{args:?}: {stderr}");
    }
    layerget()
        .arg("--cache-dir")
        .arg(cache.path())
        .args(["fetch", &registry.reference("c/ls", &digest)])
        .assert()
        .success();
    let human = layerget()
        .arg("--cache-dir")
        .arg(cache.path())
        .args(["cache", "ls", "--blobs"])
        .output()
        .unwrap();
    let line = String::from_utf8_lossy(&human.stdout).into_owned();
    assert!(line.starts_with(&format!("{digest} 2.9 KiB ")), "{line}");
    let raw = layerget()
        .arg("--cache-dir")
        .arg(cache.path())
        .args(["cache", "ls", "--blobs", "--bytes"])
        .output()
        .unwrap();
    let line = String::from_utf8_lossy(&raw.stdout).into_owned();
    assert!(line.starts_with(&format!("{digest} 3000 ")), "{line}");
}
