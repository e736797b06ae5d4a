//! `layerget head` against the real reference registry and a redirecting fake.

use predicates::prelude::*;
use serde_json::Value;

use crate::support::*;

#[test]
fn head_json_reports_size_digest_type_and_host() {
    let registry = TestRegistry::start();
    let data = vec![7u8; 4096];
    let digest = registry.push_blob("team/sub/app", &data);
    let r = registry.reference("team/sub/app", &digest);
    let out = layerget().args(["head", "--json", &r]).assert().success();
    let v: Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    assert_eq!(
        v,
        serde_json::json!({
            "ref": r,
            "status": 200,
            "size": 4096,
            "digest": digest,
            "content_type": "application/octet-stream",
            "final_host": registry.addr(),
            "redirects": [],
            "range_honoured": null,
            "rate_limit": {"limit": null, "remaining": null, "retry_after": null},
            "warnings": [],
        })
    );
    // The human form says the same on stdout.
    layerget()
        .args(["head", &r])
        .assert()
        .success()
        .stdout(predicate::str::contains("size:         4096"))
        .stdout(predicate::str::contains(format!("digest:       {digest}")))
        .stdout(predicate::str::contains("redirected:   no"));
}

#[test]
fn head_of_a_missing_blob_exits_3() {
    let registry = TestRegistry::start();
    let digest = sha256_digest(b"never pushed");
    let r = registry.reference("team/app", &digest);
    layerget()
        .args(["head", &r])
        .assert()
        .code(3)
        .stderr(predicate::str::contains(format!(
            "blob {digest} not found in {}/team/app",
            registry.addr()
        )));
    let out = layerget().args(["head", "--json", &r]).assert().code(3);
    let v: Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    assert_eq!(v["error"]["category"], "not_found");
}

#[test]
fn head_names_the_redirect_host_without_its_query() {
    let data = b"behind a cdn".to_vec();
    let target = redirect_target(data.clone());
    let location = format!("{}?X-Amz-Signature=secret-token", target.url("/blob"));
    let front =
        RecordingServer::fixed(ScriptedResponse::new(307, "").header("Location", &location));
    let r = front.reference("cdn/app", &sha256_digest(&data));
    let out = layerget().args(["head", &r]).assert().success();
    let stdout = String::from_utf8_lossy(&out.get_output().stdout).to_string();
    assert!(
        stdout.contains(&format!("redirected:   yes, to {}", target.addr())),
        "{stdout}"
    );
    assert!(!stdout.contains("secret-token"));
    let out = layerget().args(["head", "--json", &r]).assert().success();
    let v: Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    assert_eq!(v["final_host"], target.addr());
    assert!(!String::from_utf8_lossy(&out.get_output().stdout).contains("secret-token"));
}
