//! `layerget copy`'s tee against two reference registries: a large layer is pushed while it is
//! still being fetched (its first chunk reaches the destination while the source's body is held
//! back by a stalling proxy), the destination ends with the same bytes and digest, a fetch cut
//! mid-body resumes without breaking the tee, and every byte is uploaded once; within one
//! registry a teed layer is mounted, and one the destination has is skipped.

use serde_json::Value;

use crate::support::*;

/// Layers this large (above the 4 MiB manifest bound and `--chunk-size 1M`) are teed.
const BIG: usize = 6 << 20;

fn copy(cache: &TempCache, from: &str, to: &str) -> Value {
    let a = layerget()
        .arg("--cache-dir")
        .arg(cache.path())
        .args(["--json", "copy", "--chunk-size", "1M", from, to])
        .assert()
        .success();
    let out = String::from_utf8_lossy(&a.get_output().stdout).into_owned();
    serde_json::from_str(out.trim()).unwrap_or_else(|e| panic!("{e}: {out}"))
}

/// Copies `repo:v1` from the source behind `from` into a fresh registry (behind a recording
/// proxy): the same digest, and each byte uploaded once (`size` counts the image's blobs and
/// manifest once each).
fn copy_via(from: &FaultProxy, repo: &str, image: &Image) -> (TestRegistry, FaultProxy, Value) {
    let dest = TestRegistry::start();
    let watch = FaultProxy::start(&dest.addr());
    let cache = TempCache::new();
    let doc = copy(
        &cache,
        &format!("{}/{repo}:v1", from.addr()),
        &format!("{}/copied/{repo}", watch.addr()),
    );
    assert_eq!(doc["digest"], image.digest.as_str(), "{doc}");
    assert_eq!(doc["bytes_uploaded"], doc["size"], "each byte once: {doc}");
    (dest, watch, doc)
}

/// The first chunk the destination received.
fn first_patch(watch: &FaultProxy) -> RecordedRequest {
    watch
        .requests()
        .into_iter()
        .find(|r| r.method == "PATCH")
        .expect("the layer went up in chunks")
}

/// Every blob of `image` is served by `dest` with the right bytes (a fetch verifies them).
fn assert_has_blobs(dest: &TestRegistry, repo: &str, image: &Image) {
    let cache = TempCache::new();
    for digest in image.blobs().iter().skip(1) {
        layerget()
            .arg("--cache-dir")
            .arg(cache.path())
            .args(["fetch", &dest.reference(repo, digest)])
            .assert()
            .success();
    }
}

#[test]
fn a_large_layer_is_pushed_while_it_is_fetched() {
    let source = TestRegistry::start();
    let layers = [layer(31, BIG), layer(32, 3000)];
    let image = push_image(&source, "team/big", Some("v1"), false, "amd64", &layers);
    // The source holds every body back for 3 s after its first 3 MiB: a tee sends the first
    // chunks on meanwhile, a push after verification could not.
    let slow = FaultProxy::start(&source.addr());
    slow.set_default(Fault::Stall {
        after: 3 << 20,
        secs: 3,
    });
    let (dest, watch, doc) = copy_via(&slow, "team/big", &image);
    assert_eq!(doc["blobs_pushed"], 3, "two layers and the config: {doc}");
    let big = &image.layers[0];
    let get = slow
        .requests()
        .into_iter()
        .find(|r| r.method == "GET" && r.path.ends_with(big.as_str()))
        .expect("the layer was fetched");
    let first_patch = first_patch(&watch);
    assert!(
        first_patch.at < get.at + std::time::Duration::from_secs(3),
        "the first chunk went up {:?} after the fetch began, not while its body was held back",
        first_patch.at - get.at
    );
    assert_has_blobs(&dest, "copied/team/big", &image);
}

#[test]
fn a_fetch_cut_mid_body_resumes_and_the_tee_goes_on() {
    let source = TestRegistry::start();
    let layers = [layer(33, BIG)];
    let image = push_image(&source, "team/cut", Some("v1"), false, "amd64", &layers);
    let cut = FaultProxy::start(&source.addr());
    // The manifest and config come whole; each answer for the layer stops after 2 MiB.
    cut.set_default(Fault::CutAfter(2 << 20));
    let (dest, watch, _) = copy_via(&cut, "team/cut", &image);
    let gets: Vec<_> = cut
        .requests()
        .into_iter()
        .filter(|r| r.path.ends_with(image.layers[0].as_str()))
        .collect();
    let last = gets.last().expect("the layer was fetched");
    assert!(
        last.header("range").is_some(),
        "the cut fetch resumed with Range"
    );
    // The first chunk went up before the fetch was cut (a push from the cache starts only
    // after the last request of the fetch), and the same upload went on.
    assert!(
        first_patch(&watch).at < last.at,
        "the tee did not start before the cut"
    );
    // One upload session for the layer: the tee went on rather than falling back.
    let sessions = watch
        .requests()
        .iter()
        .filter(|r| r.method == "POST")
        .count();
    assert_eq!(sessions, 2, "config and layer: {:?}", watch.requests());
    assert_has_blobs(&dest, "copied/team/cut", &image);
}

/// Within one registry a large layer is mounted, not sent, even though its fetch was tapped;
/// copied again, everything is found there (`HEAD`) and nothing is sent.
#[test]
fn a_teed_layer_is_mounted_within_a_registry_and_skipped_when_present() {
    let registry = TestRegistry::start();
    let image = push_image(
        &registry,
        "team/src",
        Some("v1"),
        false,
        "amd64",
        &[layer(34, BIG)],
    );
    let watch = FaultProxy::start(&registry.addr());
    let (from, to) = (
        format!("{}/team/src:v1", watch.addr()),
        format!("{}/team/dst", watch.addr()),
    );
    let doc = copy(&TempCache::new(), &from, &to);
    assert_eq!(doc["digest"], image.digest.as_str(), "{doc}");
    assert_eq!(doc["blobs_mounted"], 2, "layer and config: {doc}");
    assert_eq!(doc["blobs_pushed"], 0, "{doc}");
    assert!(
        !watch.requests().iter().any(|r| r.method == "PATCH"),
        "no bytes went up"
    );
    let again = copy(&TempCache::new(), &from, &to);
    assert_eq!(again["blobs_present"], 2, "{again}");
    assert_eq!(again["bytes_uploaded"], 0, "{again}");
    assert_has_blobs(&registry, "team/dst", &image);
}
