//! Diagnostics a user sees when something is off (issue 15): a registry name that does not
//! resolve, a port with nothing listening, a pasted `https://` REF, and `head` as a probe
//! (Range, redirect chain, rate-limit headers, `Warning: 299`).
//!
//! Name resolution is never probed for real (this machine's resolver is not ours): the names
//! listed in `LAYERGET_TEST_UNRESOLVABLE` fail inside layerget's test-only resolver, as a
//! lookup of a name that does not exist would. The fakes below are labelled as such; the
//! Range check runs against the real reference registry.

use std::net::TcpListener;

use predicates::prelude::*;
use serde_json::Value;

use crate::support::*;

/// A digest nobody has pushed; these tests never get as far as the blob.
fn some_digest() -> String {
    sha256_digest(b"diagnostics")
}

/// A loopback port with nothing listening (bound, then released).
fn closed_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

fn retry_lines(stderr: &str) -> Vec<&str> {
    stderr.lines().filter(|l| l.contains("retrying")).collect()
}

#[test]
fn a_name_that_does_not_resolve_fails_at_once_with_a_hint() {
    let cache = TempCache::new();
    let r = format!("registry.invalid:5450/team/app@{}", some_digest());
    let out = layerget()
        .env("LAYERGET_TEST_UNRESOLVABLE", "registry.invalid")
        .arg("--cache-dir")
        .arg(cache.path())
        .args(["fetch", &r])
        .assert()
        .code(6);
    let stderr = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    assert!(
        stderr.contains("hint: is the registry name right?"),
        "{stderr}"
    );
    assert!(
        stderr.contains("`registry.invalid` does not resolve"),
        "{stderr}"
    );
    assert!(retry_lines(&stderr).is_empty(), "{stderr}");
    // `head` decides the same way.
    let out = layerget()
        .env("LAYERGET_TEST_UNRESOLVABLE", "registry.invalid")
        .args(["head", &r])
        .assert()
        .code(6);
    let stderr = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    assert!(
        stderr.contains("hint: is the registry name right?"),
        "{stderr}"
    );
    assert!(retry_lines(&stderr).is_empty(), "{stderr}");
}

#[test]
fn connection_refused_gets_a_short_retry_and_a_hint() {
    let port = closed_port();
    let r = format!("127.0.0.1:{port}/team/app@{}", some_digest());
    let hint = format!("hint: is a registry listening at 127.0.0.1:{port}?");
    let cache = TempCache::new();
    let out = layerget()
        .arg("--cache-dir")
        .arg(cache.path())
        .args(["fetch", &r])
        .assert()
        .code(6);
    let stderr = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    assert!(stderr.contains(&hint), "{stderr}");
    let retries = retry_lines(&stderr);
    assert!(retries.len() <= 2, "{stderr}");
    for line in &retries {
        // One short line: the reason, not the whole error chain again.
        assert!(line.contains("connection refused"), "{line}");
        assert!(!line.contains("os error"), "{line}");
        assert!(!line.contains("cannot get"), "{line}");
    }
    let out = layerget().args(["head", &r]).assert().code(6);
    let stderr = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    assert!(stderr.contains(&hint), "{stderr}");
    let retries = retry_lines(&stderr);
    assert!(retries.len() <= 2, "{stderr}");
    for line in &retries {
        assert!(!line.contains("os error"), "{line}");
    }
}

#[test]
fn a_pasted_url_ref_is_accepted_with_a_note() {
    let registry = TestRegistry::start();
    let digest = registry.push_blob("team/app", b"pasted from a browser");
    for scheme in ["https://", "http://", "docker://"] {
        let pasted = format!("{scheme}{}/team/app@{digest}", registry.addr());
        let out = layerget().args(["head", &pasted]).assert().success();
        let stderr = String::from_utf8_lossy(&out.get_output().stderr).to_string();
        assert!(
            stderr.contains(&format!("note: ignoring `{scheme}`")),
            "{scheme}: {stderr}"
        );
        let stdout = String::from_utf8_lossy(&out.get_output().stdout).to_string();
        assert!(stdout.contains("size:         21"), "{stdout}");
    }
}

#[test]
fn a_malformed_ref_error_shows_an_example() {
    layerget()
        .args(["head", "127.0.0.1:5000/Team/App@sha256:abc"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "hint: a REF looks like `127.0.0.1:5000/team/app@sha256:",
        ));
}

#[test]
fn head_check_range_against_the_real_registry() {
    let registry = TestRegistry::start();
    let digest = registry.push_blob("team/app", &[3u8; 1000]);
    let r = registry.reference("team/app", &digest);
    let out = layerget()
        .args(["head", "--json", "--check-range", &r])
        .assert()
        .success();
    let v: Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    assert_eq!(v.get("range_honoured"), Some(&Value::Bool(true)), "{v}");
    assert_eq!(v.get("redirects"), Some(&serde_json::json!([])), "{v}");
    assert_eq!(v.get("warnings"), Some(&serde_json::json!([])), "{v}");
    // Without the flag, no ranged request is made and the key says so.
    let out = layerget().args(["head", "--json", &r]).assert().success();
    let v: Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    assert_eq!(v.get("range_honoured"), Some(&Value::Null), "{v}");
    layerget()
        .args(["head", "--check-range", &r])
        .assert()
        .success()
        .stdout(predicate::str::contains("range:        honoured"));
}

/// A labelled fake (what a registry will not do on demand): the registry redirects to `hop`,
/// which redirects (with a presigned-looking query) to `cdn`, which ignores Range, sends
/// rate-limit headers and a `Warning: 299` whose text carries C1 CSI controls (U+009B; a
/// raw ESC is not a legal header byte, so hyper would refuse the response before we saw it).
/// Every hop sends the same warning, so it must still be shown only once.
#[test]
fn head_probe_reports_chain_rate_limits_and_warnings_from_a_fake() {
    let data = vec![9u8; 64];
    let warning = "299 - \"this registry is \u{9b}31mdeprecated\u{9b}0m, use \\\"v2\\\"\"";
    let cdn = {
        let data = data.clone();
        let warning = warning.to_owned();
        RecordingServer::start(move |_| {
            ScriptedResponse::new(200, data.clone())
                .header("Content-Type", "application/octet-stream")
                .header("RateLimit-Limit", "100;w=21600")
                .header("RateLimit-Remaining", "76;w=21600")
                .header("Retry-After", "30")
                .header("Warning", &warning)
        })
    };
    let cdn_location = format!("{}?X-Amz-Signature=secret-token", cdn.url("/blob"));
    let hop = {
        let warning = warning.to_owned();
        RecordingServer::start(move |_| {
            ScriptedResponse::new(307, "")
                .header("Location", &cdn_location)
                .header("Warning", &warning)
        })
    };
    let hop_location = hop.url("/redirect?token=secret-token");
    let front = {
        let warning = warning.to_owned();
        RecordingServer::start(move |_| {
            ScriptedResponse::new(307, "")
                .header("Location", &hop_location)
                .header("Warning", &warning)
        })
    };
    let r = front.reference("team/app", &sha256_digest(&data));
    let out = layerget()
        .args(["head", "--json", "--check-range", &r])
        .assert()
        .success();
    let stdout = String::from_utf8_lossy(&out.get_output().stdout).to_string();
    assert!(!stdout.contains("secret-token"), "{stdout}");
    let v: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(v.get("final_host"), Some(&Value::from(cdn.addr())), "{v}");
    assert_eq!(
        v.get("redirects"),
        Some(&serde_json::json!([hop.addr(), cdn.addr()])),
        "{v}"
    );
    assert_eq!(v.get("range_honoured"), Some(&Value::Bool(false)), "{v}");
    assert_eq!(
        v.get("rate_limit"),
        Some(&serde_json::json!({
            "limit": "100;w=21600",
            "remaining": "76;w=21600",
            "retry_after": "30",
        })),
        "{v}"
    );
    let warnings = v.get("warnings").and_then(Value::as_array).cloned();
    assert_eq!(
        warnings,
        Some(vec![Value::from(
            "this registry is \\u{9b}31mdeprecated\\u{9b}0m, use \"v2\""
        )]),
        "{v}"
    );
    // The text form: the same facts, escapes neutralised, the warning once.
    let out = layerget()
        .args(["head", "--check-range", &r])
        .assert()
        .success();
    let stdout = String::from_utf8_lossy(&out.get_output().stdout).to_string();
    let stderr = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    for text in [&stdout, &stderr] {
        assert!(!text.contains('\u{9b}'), "{text}");
        assert!(!text.contains("secret-token"), "{text}");
    }
    assert!(
        stdout.contains(&format!(
            "redirects:    {} -> {} -> {}",
            front.addr(),
            hop.addr(),
            cdn.addr()
        )),
        "{stdout}"
    );
    assert!(
        stdout.contains("range:        ignored (HTTP 200"),
        "{stdout}"
    );
    assert!(
        stdout.contains("rate-limit:   limit 100;w=21600, remaining 76;w=21600, retry-after 30"),
        "{stdout}"
    );
    assert_eq!(
        stdout.matches("warning:      this registry is").count(),
        1,
        "{stdout}"
    );
    assert!(!stderr.contains("this registry is"), "{stderr}");
}

/// `Warning: 299` from a blob registry reaches `fetch` users too, once per run however many
/// responses carry it (a hand-written fake: the reference registry sends none).
#[test]
fn fetch_shows_each_registry_warning_once() {
    let body = b"a blob with a warning".to_vec();
    let digest = sha256_digest(&body);
    let server = RecordingServer::start(move |_| {
        ScriptedResponse::new(200, body.clone())
            .header("Content-Type", "application/octet-stream")
            .header("Warning", r#"299 - "this registry is deprecated""#)
    });
    let other = sha256_digest(b"x");
    let cache = TempCache::new();
    let out = layerget()
        .args(["fetch", "--cache-dir"])
        .arg(cache.path())
        .arg(server.reference("w/f", &digest))
        .arg(server.reference("w/f", &digest))
        .arg(server.reference("w/f", &other))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        stderr.matches("this registry is deprecated").count(),
        1,
        "{stderr}"
    );
}
