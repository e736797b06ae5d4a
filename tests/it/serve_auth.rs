//! `layerget serve --tls-cert/--tls-key` and `--htpasswd` against real clients: `layerget
//! fetch` (`--ca-file`, `--username --password-stdin`) and `skopeo` (`--src-cert-dir`,
//! `--src-creds`), alone and together, and the startup errors for unusable files.

use std::fs;
use std::path::Path;

use base64::Engine as _;
use serde_json::Value;

use crate::auth_support::{https_get_status, test_data};
use crate::serve::{REPO, dir_files, world};
use crate::support::*;

const USER: &str = "reader";
const PASSWORD: &str = "correct horse: battery";

/// `--tls-cert`/`--tls-key` arguments for the test server certificate (IP:127.0.0.1).
fn tls_args() -> Vec<String> {
    vec![
        "--tls-cert".into(),
        test_data("tls-server.pem").display().to_string(),
        "--tls-key".into(),
        test_data("tls-server.key.pem").display().to_string(),
    ]
}

/// An htpasswd file with `USER` (bcrypt, cost 5 as `htpasswd -B` writes by default, `$2y$`
/// as it spells it) and a second user, in a temp dir kept alive by the caller.
fn htpasswd_file() -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    let hash = bcrypt::hash(PASSWORD, 5)
        .unwrap()
        .replacen("$2b$", "$2y$", 1);
    let other = bcrypt::hash("other", 4).unwrap();
    let path = dir.path().join("htpasswd");
    fs::write(&path, format!("# readers\n{USER}:{hash}\nother:{other}\n")).unwrap();
    let path = path.display().to_string();
    (dir, path)
}

fn basic(user: &str, password: &str) -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    format!("Basic {b64}")
}

fn start(cache: &Path, extra: &[String]) -> Serve {
    let extra: Vec<&str> = extra.iter().map(String::as_str).collect();
    Serve::start(cache, &extra)
}

/// `skopeo copy docker://ADDR/REPO:v1 dir:DEST` with extra source options; the result.
fn skopeo(addr: &str, dest: &Path, options: &[&str]) -> std::process::Output {
    crate::support::skopeo()
        .args(["copy", "--retry-times", "0"])
        .args(options)
        .arg(format!("docker://{addr}/{REPO}:v1"))
        .arg(format!("dir:{}", dest.display()))
        .output()
        .expect("run skopeo (apt-get install skopeo)")
}

fn assert_skopeo_ok(out: &std::process::Output, dest: &Path, manifest: &[u8]) {
    assert!(
        out.status.success(),
        "skopeo: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(dir_files(dest).iter().any(|(_, bytes)| bytes == manifest));
}

/// A `--src-cert-dir` trusting the test CA (`*.crt` files are CA roots to containers/image).
fn cert_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    fs::copy(test_data("tls-ca.pem"), dir.path().join("ca.crt")).unwrap();
    dir
}

/// `layerget [global…] --cache-dir CACHE fetch` of every digest of the world from `addr`.
fn fetch(
    cache: &TempCache,
    addr: &str,
    digests: &[String],
    global: &[&str],
) -> assert_cmd::Command {
    let mut cmd = layerget();
    cmd.args(global)
        .arg("--cache-dir")
        .arg(cache.path())
        .arg("fetch")
        .args(digests.iter().map(|d| format!("{addr}/{REPO}@{d}")));
    cmd
}

fn assert_same_blobs(a: &TempCache, b: &TempCache, digests: &[String]) {
    for d in digests {
        assert_eq!(
            fs::read(a.blob_path(d)).unwrap(),
            fs::read(b.blob_path(d)).unwrap(),
            "{d}"
        );
    }
}

#[test]
fn tls_serves_layerget_fetch_and_skopeo() {
    let w = world();
    let serve = start(w.cache.path(), &tls_args());
    let ca = test_data("tls-ca.pem");
    assert_eq!(https_get_status(&serve.addr, "/v2/", &ca), Ok(200));
    let err = https_get_status(&serve.addr, "/v2/", &test_data("other-ca.pem")).unwrap_err();
    assert!(err.contains("UnknownIssuer"), "{err}");

    let second = TempCache::new();
    let ca_arg = ca.display().to_string();
    fetch(&second, &serve.addr, &w.digests, &["--ca-file", &ca_arg])
        .assert()
        .success();
    assert_same_blobs(&w.cache, &second, &w.digests);

    let certs = cert_dir();
    let dest = tempfile::tempdir().unwrap();
    let cert_arg = format!("--src-cert-dir={}", certs.path().display());
    let out = skopeo(
        &serve.addr,
        dest.path(),
        &["--src-tls-verify=true", &cert_arg],
    );
    assert_skopeo_ok(&out, dest.path(), &w.manifest);
    // Without the CA, verification fails.
    let dest = tempfile::tempdir().unwrap();
    let out = skopeo(&serve.addr, dest.path(), &["--src-tls-verify=true"]);
    assert!(!out.status.success());
    // Plain HTTP to the TLS port gets no HTTP answer, and the server keeps serving.
    assert!(
        try_http_request(&serve.addr, "GET", "/v2/", &[], b"").map_or(true, |r| r.status >= 400)
    );
    assert_eq!(https_get_status(&serve.addr, "/v2/", &ca), Ok(200));
    assert!(serve.log().contains("GET /v2/ 200"), "{}", serve.log());
}

#[test]
fn htpasswd_challenges_and_admits_the_right_password() {
    let w = world();
    let (_dir, htpasswd) = htpasswd_file();
    let serve = start(w.cache.path(), &["--htpasswd".into(), htpasswd]);
    let blob = format!("/v2/{REPO}/blobs/{}", w.digests[0]);

    // Anonymous: 401 with the challenge and the envelope, on /v2/ too.
    for target in ["/v2/", blob.as_str(), "/v2/nothing/here", "/elsewhere"] {
        let r = serve.request("GET", target, &[]);
        assert_eq!(r.status, 401, "{target}");
        assert_eq!(
            r.header("www-authenticate"),
            Some(r#"Basic realm="layerget""#)
        );
        assert_eq!(r.header("content-type"), Some("application/json"));
        assert_eq!(
            r.header("content-length"),
            Some(r.body.len().to_string().as_str())
        );
        let body: Value = serde_json::from_slice(&r.body).unwrap();
        assert_eq!(body["errors"][0]["code"], "UNAUTHORIZED", "{body}");
    }
    let head = serve.request("HEAD", &blob, &[]);
    assert_eq!(head.status, 401);
    assert!(head.header("www-authenticate").is_some());
    // Writes are refused as unauthorized before anything else.
    assert_eq!(serve.request("DELETE", &blob, &[]).status, 401);

    // Wrong password, unknown user, another scheme: 401.
    for value in [
        basic(USER, "wrong"),
        basic("nobody", PASSWORD),
        format!("Bearer {PASSWORD}"),
        "Basic ###".into(),
    ] {
        let r = serve.request("GET", "/v2/", &[("Authorization", &value)]);
        assert_eq!(r.status, 401, "{value}");
    }
    // The right one, twice (the second from memory).
    let good = basic(USER, PASSWORD);
    for _ in 0..2 {
        let r = serve.request("GET", &blob, &[("Authorization", &good)]);
        assert_eq!(r.status, 200);
        assert_eq!(r.body, w.small);
    }

    // layerget fetch: anonymous fails with the auth exit code; with credentials it works.
    let anonymous = TempCache::new();
    fetch(&anonymous, &serve.addr, &w.digests, &[])
        .assert()
        .code(4);
    let wrong = TempCache::new();
    fetch(
        &wrong,
        &serve.addr,
        &w.digests,
        &["--username", USER, "--password-stdin"],
    )
    .write_stdin("wrong\n")
    .assert()
    .code(4);
    let second = TempCache::new();
    fetch(
        &second,
        &serve.addr,
        &w.digests,
        &["--username", USER, "--password-stdin"],
    )
    .write_stdin(format!("{PASSWORD}\n"))
    .assert()
    .success();
    assert_same_blobs(&w.cache, &second, &w.digests);

    // skopeo: no credentials and wrong ones fail; --src-creds works.
    let dest = tempfile::tempdir().unwrap();
    let out = skopeo(&serve.addr, dest.path(), &["--src-tls-verify=false"]);
    assert!(!out.status.success());
    let out = skopeo(
        &serve.addr,
        dest.path(),
        &[
            "--src-tls-verify=false",
            "--src-creds",
            &format!("{USER}:nope"),
        ],
    );
    assert!(!out.status.success());
    let dest = tempfile::tempdir().unwrap();
    let creds = format!("{USER}:{PASSWORD}");
    let out = skopeo(
        &serve.addr,
        dest.path(),
        &["--src-tls-verify=false", "--src-creds", &creds],
    );
    assert_skopeo_ok(&out, dest.path(), &w.manifest);

    // The log never holds credentials.
    let log = serve.log();
    assert!(log.contains("GET /v2/ 401"), "{log}");
    assert!(
        !log.contains(PASSWORD) && !log.contains(&good[6..]),
        "{log}"
    );
}

#[test]
fn tls_and_htpasswd_together() {
    let w = world();
    let (_dir, htpasswd) = htpasswd_file();
    let mut args = tls_args();
    args.extend(["--htpasswd".into(), htpasswd]);
    let serve = start(w.cache.path(), &args);
    let ca = test_data("tls-ca.pem");
    assert_eq!(https_get_status(&serve.addr, "/v2/", &ca), Ok(401));

    let ca_arg = ca.display().to_string();
    let second = TempCache::new();
    fetch(
        &second,
        &serve.addr,
        &w.digests,
        &["--ca-file", &ca_arg, "--username", USER, "--password-stdin"],
    )
    .write_stdin(format!("{PASSWORD}\n"))
    .assert()
    .success();
    assert_same_blobs(&w.cache, &second, &w.digests);

    let certs = cert_dir();
    let cert_arg = format!("--src-cert-dir={}", certs.path().display());
    let creds = format!("{USER}:{PASSWORD}");
    let dest = tempfile::tempdir().unwrap();
    let out = skopeo(
        &serve.addr,
        dest.path(),
        &[&cert_arg, "--src-creds", &creds],
    );
    assert_skopeo_ok(&out, dest.path(), &w.manifest);
    let dest = tempfile::tempdir().unwrap();
    let out = skopeo(&serve.addr, dest.path(), &[&cert_arg]);
    assert!(!out.status.success());
}

fn serve_fails(extra: &[&str], code: i32, needle: &str) {
    let cache = TempCache::new().with_layout();
    let out = layerget()
        .arg("serve")
        .arg(cache.path())
        .args(["--listen", "127.0.0.1:0"])
        .args(extra)
        .assert()
        .code(code);
    let err = String::from_utf8_lossy(&out.get_output().stderr).into_owned();
    assert!(err.contains(needle), "{needle}: {err}");
}

#[test]
fn unusable_tls_and_htpasswd_files_stop_serve_at_startup() {
    let cert = test_data("tls-server.pem").display().to_string();
    let key = test_data("tls-server.key.pem").display().to_string();
    let other = test_data("other-ca.pem").display().to_string();
    // Swapped: no key in the key file.
    serve_fails(
        &["--tls-cert", &key, "--tls-key", &cert],
        2,
        "no PEM certificate",
    );
    serve_fails(&["--tls-cert", &cert, "--tls-key", &other], 2, "--tls-key");
    // A key that is not the certificate's.
    let dir = tempfile::tempdir().unwrap();
    let wrong_key = dir.path().join("wrong.key.pem");
    let der = fs::read(test_data("token-signing.pk8")).unwrap();
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let lines: Vec<&str> = b64
        .as_bytes()
        .chunks(64)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect();
    fs::write(
        &wrong_key,
        format!(
            "-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n",
            lines.join("\n")
        ),
    )
    .unwrap();
    let wrong_key = wrong_key.display().to_string();
    serve_fails(
        &["--tls-cert", &cert, "--tls-key", &wrong_key],
        2,
        "cannot be used together",
    );
    serve_fails(
        &["--tls-cert", &cert, "--tls-key", "/nonexistent/key.pem"],
        8,
        "/nonexistent/key.pem",
    );
    serve_fails(&["--tls-cert", &cert], 2, "--tls-key");

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("htpasswd");
    let hash = bcrypt::hash("x", 4).unwrap();
    fs::write(
        &path,
        format!("ok:{hash}\nmd5:$apr1$Vp9pNDEg$ATBhV3GcNUqbaGHCCC/sE/\n"),
    )
    .unwrap();
    let p = path.display().to_string();
    serve_fails(&["--htpasswd", &p], 2, "line 2");
    serve_fails(&["--htpasswd", &p], 2, "htpasswd -B");
    serve_fails(
        &["--htpasswd", "/nonexistent/htpasswd"],
        8,
        "/nonexistent/htpasswd",
    );
}
