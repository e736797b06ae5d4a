//! Hostile registries and storage hosts against private credentials (issue 9, items 1-6 and 18).
//!
//! The partner that holds the secrets is always the real reference registry in token (or TLS)
//! mode with the token server of `auth_support`. The attackers are fakes, because a real registry
//! does not attack: [`RecordingServer`]s that answer with challenges naming another registry's
//! realm, a storage host that answers 401 with its own realm, a "network" (an HTTP proxy) that
//! sees a clear-text realm, and [`TlsFront`], a TLS terminator with a certificate the client
//! must not trust. Each test asserts what the attacker received.

use std::fs;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use assert_cmd::assert::Assert;
use serde_json::{Value, json};
use tempfile::TempDir;

use crate::auth_support::*;
use crate::support::*;

/// One client side: cache, Docker config dir, and a bin dir first on `PATH` for helpers.
struct Side {
    cache: TempCache,
    docker: TempDir,
    bin: TempDir,
}

impl Side {
    fn new() -> Side {
        Side {
            cache: TempCache::new(),
            docker: TempDir::new().unwrap(),
            bin: TempDir::new().unwrap(),
        }
    }

    /// `layerget --cache-dir …` with this side's Docker config and `PATH`.
    fn cmd(&self) -> assert_cmd::Command {
        let mut cmd = layerget();
        let path = std::env::var_os("PATH").unwrap_or_default();
        let mut paths = vec![self.bin.path().to_owned()];
        paths.extend(std::env::split_paths(&path));
        cmd.env("DOCKER_CONFIG", self.docker.path())
            .env("PATH", std::env::join_paths(paths).unwrap())
            .arg("--cache-dir")
            .arg(self.cache.path());
        cmd
    }

    fn docker_config(&self, config: Value) {
        fs::write(self.docker.path().join("config.json"), config.to_string()).unwrap();
    }

    /// An executable `docker-credential-<name>` in the bin dir.
    fn helper(&self, name: &str, script: &str) {
        use std::os::unix::fs::PermissionsExt;
        let path = self.bin.path().join(format!("docker-credential-{name}"));
        fs::write(&path, script).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).unwrap();
    }

    fn cached(&self, digest: &str) -> Option<Vec<u8>> {
        fs::read(self.cache.blob_path(digest)).ok()
    }
}

fn stderr(a: &Assert) -> String {
    String::from_utf8_lossy(&a.get_output().stderr).into_owned()
}

/// Every token the token server issued to alice (by password or identity token).
fn alice_tokens(tokens: &TokenServer) -> Vec<String> {
    tokens
        .issued()
        .into_iter()
        .filter(|t| t.claims["sub"] == ALICE_USER)
        .map(|t| t.token)
        .collect()
}

/// Asserts that no request an attacker recorded carries alice's password, identity token or
/// any token issued to her, and returns the `Authorization` headers it did get.
fn assert_nothing_of_alice(what: &str, requests: &[RecordedRequest], tokens: &TokenServer) {
    let secrets: Vec<String> = [
        ALICE_PASS.to_owned(),
        ALICE_IDENTITY_TOKEN.to_owned(),
        base64(format!("{ALICE_USER}:{ALICE_PASS}").as_bytes()),
    ]
    .into_iter()
    .chain(alice_tokens(tokens))
    .collect();
    for r in requests {
        let seen = format!("{} {:?}", r.path, r.headers);
        for s in &secrets {
            assert!(
                !seen.contains(s.as_str()),
                "{what} received a secret of alice ({}…) in {} {}",
                &s[..6],
                r.method,
                r.path
            );
        }
        if let Some(a) = r.header("authorization") {
            assert!(
                !a.starts_with("Basic"),
                "{what} received Basic credentials: {a}"
            );
        }
    }
}

/// A 401 with a Bearer challenge.
fn bearer_401(challenge: &str) -> ScriptedResponse {
    ScriptedResponse::new(
        401,
        r#"{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}"#,
    )
    .header("Content-Type", "application/json")
    .header("WWW-Authenticate", challenge)
}

// ---------------------------------------------------------------------------------------------
// Item 1: a registry naming another registry's realm gets no token of it
// ---------------------------------------------------------------------------------------------

#[test]
fn a_registry_naming_another_registrys_realm_gets_none_of_its_tokens() {
    let real = TokenRegistry::start();
    let data = b"private layer of the real registry".repeat(20);
    let digest = real.push_blob("private/secret", &data);
    // The attacker: every request without a token gets the real registry's challenge for the
    // real repository, flagged `insufficient_scope` so that a client asks for exactly that scope.
    let challenge = format!(
        r#"Bearer realm="{}",service="{TOKEN_SERVICE}",scope="repository:private/secret:pull",error="insufficient_scope""#,
        real.tokens.realm()
    );
    let evil = RecordingServer::start(move |r| {
        if r.header("authorization").is_some() {
            ScriptedResponse::new(404, r#"{"errors":[{"code":"BLOB_UNKNOWN","message":"x"}]}"#)
        } else {
            bearer_401(&challenge)
        }
    });
    let side = Side::new();
    // Alice's credentials are stored for the real registry only (docker config is per host).
    side.docker_config(json!({"auths": {real.addr(): {
        "auth": base64(format!("{ALICE_USER}:{ALICE_PASS}").as_bytes())}}}));
    let other = sha256_digest(b"whatever");
    side.cmd()
        .args(["fetch", "--jobs", "1"])
        .arg(real.reference("private/secret", &digest))
        .arg(evil.reference("other/repo", &other))
        .assert()
        .failure();
    assert_eq!(side.cached(&digest), Some(data));
    assert!(!alice_tokens(&real.tokens).is_empty());
    assert_nothing_of_alice("the hostile registry", &evil.requests(), &real.tokens);
}

// ---------------------------------------------------------------------------------------------
// Item 2: a 401 from a redirect target is an error, not the registry's challenge
// ---------------------------------------------------------------------------------------------

#[test]
fn a_storage_host_answering_401_with_its_own_realm_gets_nothing_and_poisons_nothing() {
    let first = b"blob one, fetched before the attack".repeat(30);
    let attacked = b"blob two, whose storage host attacks".repeat(30);
    let last = b"blob three, fetched after the attack".repeat(30);
    let attacked_hex = sha256_digest(&attacked)["sha256:".len()..].to_owned();
    let (first_c, last_c) = (first.clone(), last.clone());
    // The storage host behind the registry's redirects: serves blobs one and three, but answers
    // 401 with a realm of its own for blob two, and hands out a token of its own at `/token`.
    let storage = Arc::new(Mutex::new(None::<String>));
    let storage_addr = storage.clone();
    let storage_server = RecordingServer::start(move |r| {
        if r.path.starts_with("/token") {
            return ScriptedResponse::new(200, r#"{"token":"storage-token"}"#)
                .header("Content-Type", "application/json");
        }
        if r.path.contains(&attacked_hex) {
            let addr = storage_addr.lock().unwrap().clone().unwrap_or_default();
            return bearer_401(&format!(
                r#"Bearer realm="http://{addr}/token",service="storage""#
            ));
        }
        let body = if r.path.contains(&sha256_digest(&first_c)["sha256:".len()..]) {
            first_c.clone()
        } else {
            last_c.clone()
        };
        ScriptedResponse::new(200, body).header("Content-Type", "application/octet-stream")
    });
    *storage.lock().unwrap() = Some(storage_server.addr());
    let real = TokenRegistry::start_with(TokenOptions::default(), |b| {
        b.yaml(&redirect_middleware_yaml(&storage_server.url("/")))
    });
    let digests: Vec<String> = [&first, &attacked, &last]
        .iter()
        .map(|d| real.push_blob("private/cdn", d))
        .collect();
    let side = Side::new();
    // An identity (refresh) token, the most valuable credential a storage host could steal.
    side.docker_config(json!({"auths": {real.addr(): {"identitytoken": ALICE_IDENTITY_TOKEN}}}));
    let out = side
        .cmd()
        .args(["fetch", "--jobs", "1"])
        .args(digests.iter().map(|d| real.reference("private/cdn", d)))
        .assert()
        .code(4);
    let err = stderr(&out);
    assert_eq!(side.cached(&digests[0]), Some(first));
    assert_eq!(side.cached(&digests[1]), None);
    // Not poisoned: blob three still authenticated at the registry's own token service.
    assert_eq!(side.cached(&digests[2]), Some(last), "{err}");
    // The error says who refused, and that it got nothing.
    assert!(
        err.contains(&storage_server.addr()) && err.contains("gets no credentials"),
        "{err}"
    );
    let at_storage = storage_server.requests();
    assert!(
        at_storage.iter().all(|r| !r.path.starts_with("/token")),
        "the storage host's realm was asked for a token: {at_storage:?}"
    );
    assert!(
        at_storage
            .iter()
            .all(|r| r.header("authorization").is_none()),
        "{at_storage:?}"
    );
    assert_nothing_of_alice("the storage host", &at_storage, &real.tokens);
}

// ---------------------------------------------------------------------------------------------
// Item 3: explicit credentials belong to one registry
// ---------------------------------------------------------------------------------------------

/// A fake registry asking for Basic credentials on every request (and recording them).
fn basic_asking_registry() -> RecordingServer {
    RecordingServer::start(|r| {
        if r.header("authorization").is_some() {
            return ScriptedResponse::new(
                404,
                r#"{"errors":[{"code":"BLOB_UNKNOWN","message":"x"}]}"#,
            );
        }
        ScriptedResponse::new(401, "").header("WWW-Authenticate", r#"Basic realm="evil""#)
    })
}

#[test]
fn explicit_credentials_go_to_the_first_refs_registry_only() {
    let real = TokenRegistry::start();
    let data = b"private layer for explicit credentials".repeat(10);
    let digest = real.push_blob("private/explicit", &data);
    let evil = basic_asking_registry();
    let side = Side::new();
    let out = side
        .cmd()
        .args(["--username", ALICE_USER, "--password-stdin", "fetch"])
        .arg(real.reference("private/explicit", &digest))
        .arg(evil.reference("x/y", &sha256_digest(b"y")))
        .write_stdin(ALICE_PASS)
        .assert()
        .failure();
    assert_eq!(side.cached(&digest), Some(data));
    assert_nothing_of_alice("the second registry", &evil.requests(), &real.tokens);
    let err = stderr(&out);
    assert!(
        err.contains("warning:") && err.contains("--registry-auth"),
        "no warning about several registries:\n{err}"
    );
}

#[test]
fn registry_auth_names_the_registry_explicit_credentials_are_for() {
    let real = TokenRegistry::start();
    let data = b"private layer for --registry-auth".repeat(10);
    let digest = real.push_blob("private/named", &data);
    let evil = basic_asking_registry();
    let side = Side::new();
    let out = side
        .cmd()
        .env("LAYERGET_USERNAME", ALICE_USER)
        .env("LAYERGET_PASSWORD", ALICE_PASS)
        .args(["--registry-auth", &real.addr(), "fetch", "--jobs", "1"])
        .arg(evil.reference("x/y", &sha256_digest(b"y")))
        .arg(real.reference("private/named", &digest))
        .assert()
        .failure();
    assert_eq!(side.cached(&digest), Some(data), "{}", stderr(&out));
    assert!(!evil.requests().is_empty());
    assert_nothing_of_alice("the other registry", &evil.requests(), &real.tokens);
    // Named explicitly: nothing to warn about.
    assert!(!stderr(&out).contains("warning:"), "{}", stderr(&out));
}

#[test]
fn credentials_named_for_another_registry_are_not_offered_to_the_ref() {
    let evil = basic_asking_registry();
    let side = Side::new();
    let out = side
        .cmd()
        .env("LAYERGET_USERNAME", ALICE_USER)
        .env("LAYERGET_PASSWORD", ALICE_PASS)
        .args([
            "--registry-auth",
            "https://registry.layerget-test.invalid/",
            "fetch",
        ])
        .arg(evil.reference("x/y", &sha256_digest(b"y")))
        .assert()
        .code(4);
    assert!(!evil.requests().is_empty());
    assert!(
        evil.requests()
            .iter()
            .all(|r| r.header("authorization").is_none()),
        "{:?}",
        evil.requests()
    );
    let err = stderr(&out);
    assert!(
        err.contains(
            "warning: --registry-auth `registry.layerget-test.invalid` is the registry of no REF"
        ),
        "{err}"
    );
}

// ---------------------------------------------------------------------------------------------
// Item 4: a clear-text realm gets no credentials
// ---------------------------------------------------------------------------------------------

#[test]
fn an_http_realm_of_an_https_registry_gets_no_credentials() {
    // The network between client and a clear-text realm: an HTTP proxy that records what passes
    // and hands out a token, as anyone on the path could.
    let network = RecordingServer::fixed(
        ScriptedResponse::new(200, r#"{"token":"from-the-network"}"#)
            .header("Content-Type", "application/json"),
    );
    let realm = "http://token.layerget-test.invalid/token";
    let read = |name| fs::read(test_data(name)).unwrap();
    let registry = TestRegistry::builder()
        .tls(&read("tls-server.pem"), &read("tls-server.key.pem"))
        .file("token-signing.crt.pem", read("token-signing.crt.pem"))
        .yaml(&format!(
            "auth:\n  token:\n    realm: {realm}\n    service: {TOKEN_SERVICE}\n    issuer: {TOKEN_ISSUER}\n    \
             rootcertbundle: \"{{dir}}/token-signing.crt.pem\""
        ))
        .start();
    let side = Side::new();
    let digest = sha256_digest(b"never fetched");
    let out = side
        .cmd()
        .env("HTTP_PROXY", format!("http://{}", network.addr()))
        .env("http_proxy", format!("http://{}", network.addr()))
        .env("NO_PROXY", "127.0.0.1")
        .env("no_proxy", "127.0.0.1")
        .env("LAYERGET_USERNAME", ALICE_USER)
        .env("LAYERGET_PASSWORD", ALICE_PASS)
        .arg("--ca-file")
        .arg(test_data("tls-ca.pem"))
        .arg("fetch")
        .arg(registry.reference("private/clear", &digest))
        .assert()
        .code(4);
    let err = stderr(&out);
    assert!(
        err.contains(realm),
        "the error does not name the realm:\n{err}"
    );
    let seen = network.requests();
    assert!(
        seen.iter().all(|r| r.header("authorization").is_none()),
        "credentials crossed the network in clear text: {seen:?}"
    );
}

#[test]
fn an_http_realm_off_the_machine_gets_no_credentials_of_a_loopback_registry() {
    // As above, but the registry is the plain-http loopback one: its own traffic never leaves
    // the machine, the realm's would.
    let network = RecordingServer::fixed(
        ScriptedResponse::new(200, r#"{"token":"from-the-network"}"#)
            .header("Content-Type", "application/json"),
    );
    let realm = "http://token.layerget-test.invalid/token";
    let registry = TestRegistry::builder()
        .file(
            "token-signing.crt.pem",
            fs::read(test_data("token-signing.crt.pem")).unwrap(),
        )
        .yaml(&format!(
            "auth:\n  token:\n    realm: {realm}\n    service: {TOKEN_SERVICE}\n    issuer: {TOKEN_ISSUER}\n    \
             rootcertbundle: \"{{dir}}/token-signing.crt.pem\""
        ))
        .start();
    let side = Side::new();
    let out = side
        .cmd()
        .env("HTTP_PROXY", format!("http://{}", network.addr()))
        .env("http_proxy", format!("http://{}", network.addr()))
        .env("NO_PROXY", "127.0.0.1")
        .env("no_proxy", "127.0.0.1")
        .env("LAYERGET_USERNAME", ALICE_USER)
        .env("LAYERGET_PASSWORD", ALICE_PASS)
        .arg("fetch")
        .arg(registry.reference("private/clear", &sha256_digest(b"never fetched")))
        .assert()
        .code(4);
    assert!(stderr(&out).contains(realm), "{}", stderr(&out));
    let seen = network.requests();
    assert!(
        seen.iter().all(|r| r.header("authorization").is_none()),
        "credentials crossed the network in clear text: {seen:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// Item 5: `insecure` is for the registry's own origin
// ---------------------------------------------------------------------------------------------

/// A TLS terminator on `127.0.0.1` with the committed `tls-server.pem` certificate (signed by a
/// CA no system trusts) in front of a plain HTTP backend: one request per connection. It counts
/// completed handshakes, so a test can tell whether a client accepted the certificate.
struct TlsFront {
    addr: String,
    handshakes: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
}

impl TlsFront {
    fn start(backend: String) -> TlsFront {
        use rustls::pki_types::pem::PemObject;
        use rustls::pki_types::{CertificateDer, PrivateKeyDer};
        let certs: Vec<CertificateDer<'static>> =
            CertificateDer::pem_file_iter(test_data("tls-server.pem"))
                .unwrap()
                .map(Result::unwrap)
                .collect();
        let key = PrivateKeyDer::from_pem_file(test_data("tls-server.key.pem")).unwrap();
        let config = Arc::new(
            rustls::ServerConfig::builder_with_provider(Arc::new(
                rustls::crypto::ring::default_provider(),
            ))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(certs, key)
            .unwrap(),
        );
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let handshakes = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (count, stopping) = (handshakes.clone(), stop.clone());
        thread::spawn(move || {
            for stream in listener.incoming() {
                if stopping.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(tcp) = stream else { continue };
                let (config, count, backend) = (config.clone(), count.clone(), backend.clone());
                thread::spawn(move || {
                    let _ = tcp.set_read_timeout(Some(Duration::from_secs(30)));
                    let Ok(conn) = rustls::ServerConnection::new(config) else {
                        return;
                    };
                    let mut tls = rustls::StreamOwned::new(conn, tcp);
                    while tls.conn.is_handshaking() {
                        if tls.conn.complete_io(&mut tls.sock).is_err() {
                            return;
                        }
                    }
                    count.fetch_add(1, Ordering::SeqCst);
                    let _ = relay_one(&mut tls, &backend);
                });
            }
        });
        TlsFront {
            addr,
            handshakes,
            stop,
        }
    }

    fn handshakes(&self) -> usize {
        self.handshakes.load(Ordering::SeqCst)
    }
}

impl Drop for TlsFront {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(&self.addr);
    }
}

/// Reads one request (head and `Content-Length` body) from `client`, sends it to `backend` and
/// copies the whole answer back.
fn relay_one(client: &mut impl ReadWrite, backend: &str) -> std::io::Result<()> {
    let mut reader = BufReader::new(&mut *client);
    let mut head = Vec::new();
    let mut length = 0usize;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            return Ok(());
        }
        if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
            length = v.trim().parse().unwrap_or(0);
        }
        head.extend_from_slice(line.as_bytes());
        if line == "\r\n" {
            break;
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body)?;
    drop(reader);
    let mut upstream = TcpStream::connect(backend)?;
    upstream.write_all(&head)?;
    upstream.write_all(&body)?;
    let mut answer = Vec::new();
    upstream.read_to_end(&mut answer)?;
    client.write_all(&answer)?;
    client.flush()
}

trait ReadWrite: Read + Write {}
impl<T: Read + Write> ReadWrite for T {}

#[test]
fn insecure_does_not_reach_a_token_realm_on_another_origin() {
    let tokens = TokenServer::start();
    let front = TlsFront::start(tokens.addr());
    let read = |name| fs::read(test_data(name)).unwrap();
    let registry = TestRegistry::builder()
        .tls(&read("tls-server.pem"), &read("tls-server.key.pem"))
        .file("token-signing.crt.pem", read("token-signing.crt.pem"))
        .yaml(&format!(
            "auth:\n  token:\n    realm: https://{}/token\n    service: {TOKEN_SERVICE}\n    issuer: {TOKEN_ISSUER}\n    \
             rootcertbundle: \"{{dir}}/token-signing.crt.pem\"",
            front.addr
        ))
        .start();
    let side = Side::new();
    let out = side
        .cmd()
        .env("LAYERGET_USERNAME", ALICE_USER)
        .env("LAYERGET_PASSWORD", ALICE_PASS)
        .arg("--insecure")
        .arg("fetch")
        .arg(registry.reference("private/realm", &sha256_digest(b"x")))
        .assert()
        .failure();
    let err = stderr(&out);
    assert!(err.to_lowercase().contains("certificate"), "{err}");
    assert_eq!(
        front.handshakes(),
        0,
        "the realm's certificate was accepted"
    );
    assert!(tokens.requests().is_empty(), "{:?}", tokens.requests());
}

/// The other side of the rule: a CA file only adds roots, so it is trusted for the token
/// realm too (an internal CA usually signs the token service as well), with verification.
#[test]
fn a_ca_file_is_trusted_for_a_token_realm_on_another_origin() {
    let tokens = TokenServer::start();
    let front = TlsFront::start(tokens.addr());
    let seed = TestRegistry::start();
    let read = |name| fs::read(test_data(name)).unwrap();
    let registry = TestRegistry::builder()
        .storage_dir(&seed.storage_dir())
        .tls(&read("tls-server.pem"), &read("tls-server.key.pem"))
        .file("token-signing.crt.pem", read("token-signing.crt.pem"))
        .yaml(&format!(
            "auth:\n  token:\n    realm: https://{}/token\n    service: {TOKEN_SERVICE}\n    issuer: {TOKEN_ISSUER}\n    \
             rootcertbundle: \"{{dir}}/token-signing.crt.pem\"",
            front.addr
        ))
        .start();
    let data = b"private layer, realm signed by the same CA".repeat(10);
    let digest = seed.push_blob("private/ca", &data);
    let side = Side::new();
    let out = side
        .cmd()
        .env("LAYERGET_USERNAME", ALICE_USER)
        .env("LAYERGET_PASSWORD", ALICE_PASS)
        .arg("--ca-file")
        .arg(test_data("tls-ca.pem"))
        .arg("fetch")
        .arg(registry.reference("private/ca", &digest))
        .assert();
    assert_eq!(side.cached(&digest), Some(data), "{}", stderr(&out));
    assert!(front.handshakes() > 0);
    assert!(tokens.requests().iter().any(|r| r.caller == Caller::Alice));
}

#[test]
fn config_insecure_does_not_reach_a_redirect_target_on_another_origin() {
    let data = b"layer behind an untrusted storage host".repeat(10);
    let storage = redirect_target(data.clone());
    let front = TlsFront::start(storage.addr());
    let seed = TestRegistry::start();
    let read = |name| fs::read(test_data(name)).unwrap();
    let registry = TestRegistry::builder()
        .storage_dir(&seed.storage_dir())
        .tls(&read("tls-server.pem"), &read("tls-server.key.pem"))
        .yaml(&redirect_middleware_yaml(&format!(
            "https://{}/",
            front.addr
        )))
        .start();
    let digest = seed.push_blob("team/cdn", &data);
    let side = Side::new();
    let config = side.docker.path().join("layerget.toml");
    fs::write(
        &config,
        format!("[registry.\"{}\"]\ninsecure = true\n", registry.addr()),
    )
    .unwrap();
    let out = side
        .cmd()
        .env("LAYERGET_CONFIG", &config)
        .arg("fetch")
        .arg(registry.reference("team/cdn", &digest))
        .assert()
        .failure();
    let err = stderr(&out);
    assert!(err.to_lowercase().contains("certificate"), "{err}");
    assert_eq!(
        front.handshakes(),
        0,
        "the storage certificate was accepted"
    );
    assert!(storage.requests().is_empty());
    assert_eq!(side.cached(&digest), None);
}

// ---------------------------------------------------------------------------------------------
// Item 6: one scheme decision for every endpoint
// ---------------------------------------------------------------------------------------------

#[test]
fn pull_from_a_tls_registry_with_ca_file_asks_for_the_manifest_over_https() {
    let tls = TlsRegistry::start();
    let image = push_image(
        &tls.seed,
        "team/tls",
        Some("1"),
        false,
        "amd64",
        &[b"tls layer".to_vec()],
    );
    let side = Side::new();
    let out = side
        .cmd()
        .arg("--ca-file")
        .arg(tls.ca_file())
        .arg("pull")
        .arg(format!("{}/team/tls:1", tls.registry.addr()))
        .assert();
    let err = stderr(&out);
    out.success();
    for digest in image.blobs() {
        assert!(
            side.cached(&digest).is_some(),
            "{digest} not cached:\n{err}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Item 18: credential helpers that write a lot
// ---------------------------------------------------------------------------------------------

#[test]
fn a_credential_helper_writing_more_than_a_pipe_holds_still_answers() {
    let real = TokenRegistry::start();
    let data = b"private layer behind a chatty helper".repeat(10);
    let digest = real.push_blob("private/helper", &data);
    let side = Side::new();
    // 200 KiB on stderr before the answer, and an answer of more than 64 KiB: a client that
    // reads the pipes only after the helper exits waits for its timeout.
    let padding = "p".repeat(100 * 1024);
    side.helper(
        "chatty",
        &format!(
            "#!/bin/sh\n# Fake credential helper (test only).\nread -r server\n\
             head -c 204800 /dev/zero | tr '\\0' x >&2\n\
             printf '{{\"ServerURL\":\"%s\",\"Padding\":\"{padding}\",\"Username\":\"{ALICE_USER}\",\"Secret\":\"{ALICE_PASS}\"}}\\n' \"$server\"\n"
        ),
    );
    side.docker_config(json!({"credHelpers": {real.addr(): "chatty"}}));
    let out = side
        .cmd()
        .arg("fetch")
        .arg(real.reference("private/helper", &digest))
        .assert();
    let err = stderr(&out);
    assert_eq!(side.cached(&digest), Some(data), "{err}");
    assert!(!err.contains("did not answer"), "{err}");
}

#[test]
fn pull_of_a_real_and_a_hostile_image_with_explicit_credentials_leaks_nothing() {
    let real = TokenRegistry::start();
    let image = push_image(
        &real.seed,
        "private/secret",
        Some("1"),
        false,
        "amd64",
        &[b"private image layer".to_vec()],
    );
    // The hostile registry answers every request without a token with the real registry's
    // challenge for the real repository, and records what it then gets.
    let challenge = format!(
        r#"Bearer realm="{}",service="{TOKEN_SERVICE}",scope="repository:private/secret:pull",error="insufficient_scope""#,
        real.tokens.realm()
    );
    let evil = RecordingServer::start(move |r| {
        if r.header("authorization").is_some() {
            ScriptedResponse::new(
                404,
                r#"{"errors":[{"code":"MANIFEST_UNKNOWN","message":"x"}]}"#,
            )
        } else {
            bearer_401(&challenge)
        }
    });
    let side = Side::new();
    let out = side
        .cmd()
        .args(["--username", ALICE_USER, "--password-stdin", "pull"])
        .arg(format!("{}/private/secret:1", real.addr()))
        .arg(format!("{}/other/repo:1", evil.addr()))
        .write_stdin(format!("{ALICE_PASS}\n"))
        .assert()
        .failure();
    for digest in image.blobs() {
        assert!(side.cached(&digest).is_some(), "{}", stderr(&out));
    }
    assert!(!evil.requests().is_empty());
    assert_nothing_of_alice("the hostile registry", &evil.requests(), &real.tokens);
    // What the hostile registry made the client ask for, it asked for anonymously.
    let for_evil = real.token_requests_for("repository:private/secret:pull");
    assert!(
        for_evil.iter().any(|r| r.caller == Caller::Anonymous),
        "{for_evil:?}"
    );
}

/// Not an issue item (reqwest already dropped `Authorization` here), but layerget now follows
/// redirects itself: a token realm that redirects elsewhere must not pass the credentials on.
#[test]
fn a_token_realm_redirecting_to_another_origin_does_not_pass_credentials_on() {
    let elsewhere = RecordingServer::fixed(
        ScriptedResponse::new(200, r#"{"token":"elsewhere"}"#)
            .header("Content-Type", "application/json"),
    );
    let target = elsewhere.url("/token");
    let realm = RecordingServer::start(move |r| {
        ScriptedResponse::new(307, "").header("Location", &format!("{target}?{}", query(&r.path)))
    });
    let realm_url = realm.url("/token");
    let registry = RecordingServer::start(move |r| {
        if r.header("authorization").is_some() {
            ScriptedResponse::new(404, r#"{"errors":[{"code":"BLOB_UNKNOWN","message":"x"}]}"#)
        } else {
            bearer_401(&format!(r#"Bearer realm="{realm_url}",service="svc""#))
        }
    });
    let side = Side::new();
    side.cmd()
        .env("LAYERGET_USERNAME", ALICE_USER)
        .env("LAYERGET_PASSWORD", ALICE_PASS)
        .arg("fetch")
        .arg(registry.reference("team/app", &sha256_digest(b"z")))
        .assert()
        .code(3);
    // The realm the registry named gets the registry's credentials (that is the protocol) ...
    let at_realm = realm.requests();
    assert!(
        at_realm.iter().any(|r| r
            .header("authorization")
            .is_some_and(|a| a.starts_with("Basic"))),
        "{at_realm:?}"
    );
    // ... where it sends us next does not.
    let at_elsewhere = elsewhere.requests();
    assert!(!at_elsewhere.is_empty());
    assert!(
        at_elsewhere
            .iter()
            .all(|r| r.header("authorization").is_none()),
        "{at_elsewhere:?}"
    );
    // And the token from there went only to the registry.
    let with_token: Vec<_> = registry
        .requests()
        .into_iter()
        .filter(|r| r.header("authorization") == Some("Bearer elsewhere"))
        .collect();
    assert_eq!(with_token.len(), 1);
}

/// The query of a request target (`/token?a=b` → `a=b`).
fn query(target: &str) -> String {
    target
        .split_once('?')
        .map(|(_, q)| q.to_owned())
        .unwrap_or_default()
}
