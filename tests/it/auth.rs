//! Authentication and TLS end to end (issue 4), against the real reference registry in token,
//! htpasswd and TLS modes. The token server, registry setups and test-only keys are in
//! `auth_support` and `tests/data/`; credential helpers are shell scripts written per test.
//!
//! Every test also checks that no password, identity token or issued token reaches stdout or
//! stderr.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use assert_cmd::assert::Assert;
use predicates::prelude::*;
use serde_json::{Value, json};
use tempfile::TempDir;

use crate::auth_support::*;
use crate::support::*;

/// A client side for one test: its own cache, Docker config dir, and a bin dir put first on
/// `PATH` for fake `docker-credential-*` helpers.
struct Client {
    /// `--cache-dir`.
    cache: TempCache,
    /// `DOCKER_CONFIG`.
    docker: TempDir,
    /// Helper scripts.
    bin: TempDir,
}

impl Client {
    fn new() -> Client {
        Client {
            cache: TempCache::new(),
            docker: TempDir::new().unwrap(),
            bin: TempDir::new().unwrap(),
        }
    }

    /// `layerget --cache-dir … fetch` with this client's Docker config and `PATH`.
    fn fetch(&self) -> assert_cmd::Command {
        let mut cmd = layerget();
        let path = std::env::var_os("PATH").unwrap_or_default();
        let mut paths = vec![self.bin.path().to_owned()];
        paths.extend(std::env::split_paths(&path));
        cmd.env("DOCKER_CONFIG", self.docker.path())
            .env("PATH", std::env::join_paths(paths).unwrap())
            .arg("--cache-dir")
            .arg(self.cache.path())
            .arg("fetch");
        cmd
    }

    /// Write `$DOCKER_CONFIG/config.json`.
    fn docker_config(&self, config: Value) {
        fs::write(self.docker.path().join("config.json"), config.to_string()).unwrap();
    }

    /// Write an executable `docker-credential-<name>` into the bin dir.
    fn helper(&self, name: &str, script: &str) {
        use std::os::unix::fs::PermissionsExt;
        let path = self.bin.path().join(format!("docker-credential-{name}"));
        fs::write(&path, script).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).unwrap();
    }

    /// A helper answering `get` with `user`/`secret` and logging each call (`args stdin`) to
    /// [`Client::helper_log`].
    fn fake_helper(&self, name: &str, user: &str, secret: &str) {
        let log = self.helper_log(name);
        self.helper(
            name,
            &format!(
                "#!/bin/sh\n# Fake credential helper (test only): the docker-credential-helpers protocol.\n\
                 read -r server\n\
                 printf '%s %s\\n' \"$*\" \"$server\" >> '{}'\n\
                 [ \"$1\" = get ] || exit 1\n\
                 printf '{{\"ServerURL\":\"%s\",\"Username\":\"{user}\",\"Secret\":\"{secret}\"}}\\n' \"$server\"\n",
                log.display()
            ),
        );
    }

    /// Where [`Client::fake_helper`] logs its calls.
    fn helper_log(&self, name: &str) -> PathBuf {
        self.bin.path().join(format!("{name}.log"))
    }

    /// A cached blob's bytes.
    fn cached(&self, digest: &str) -> Vec<u8> {
        fs::read(self.cache.blob_path(digest)).unwrap()
    }
}

/// `auths` entry value: base64 of `user:pass`.
fn auth_entry(user: &str, pass: &str) -> Value {
    json!({ "auth": base64(format!("{user}:{pass}").as_bytes()) })
}

/// stdout and stderr of a finished command.
fn output_text(assert: &Assert) -> String {
    let out = assert.get_output();
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn stderr(assert: &Assert) -> String {
    String::from_utf8_lossy(&assert.get_output().stderr).into_owned()
}

/// No password, identity token, Basic credential or issued token appears in the output.
fn assert_secret_free(assert: &Assert, tokens: Option<&TokenServer>) {
    assert_secret_free_in("", assert, tokens);
}

/// [`assert_secret_free`] for a table row: a failure starts with the row's `name`.
fn assert_secret_free_in(name: &str, assert: &Assert, tokens: Option<&TokenServer>) {
    let text = output_text(assert);
    let mut secrets = vec![
        ALICE_PASS.to_owned(),
        ALICE_IDENTITY_TOKEN.to_owned(),
        base64(format!("{ALICE_USER}:{ALICE_PASS}").as_bytes()),
        BASIC_PASS.to_owned(),
        BASIC_AUTHORIZATION["Basic ".len()..].to_owned(),
    ];
    for issued in tokens.map(TokenServer::issued).unwrap_or_default() {
        // The header part is the same for every token (and public); claims and signature are not.
        secrets.extend(issued.token.split('.').skip(1).map(str::to_owned));
    }
    for secret in secrets {
        assert!(
            !text.contains(&secret),
            "{name}: output reveals a secret ({}…):\n{text}",
            &secret[..4]
        );
    }
}

/// The exit-4 contract: realm, service and scope in the message, and a `hint:` line.
fn assert_refused(assert: &Assert, setup: &TokenRegistry, repo: &str) {
    let err = stderr(assert);
    assert!(err.contains(&setup.tokens.realm()), "no realm:\n{err}");
    assert!(err.contains(TOKEN_SERVICE), "no service:\n{err}");
    assert!(
        err.contains(&format!("repository:{repo}:pull")),
        "no scope:\n{err}"
    );
    // The hint says how to log in, so it names the registry (not the token service).
    assert!(
        err.lines()
            .any(|l| l.starts_with("hint:") && l.contains(&setup.addr())),
        "no hint line naming the registry:\n{err}"
    );
}

/// Callers seen by the token server for `repository:<repo>:pull`.
fn callers(setup: &TokenRegistry, repo: &str) -> Vec<Caller> {
    setup
        .token_requests_for(&format!("repository:{repo}:pull"))
        .iter()
        .map(|r| r.caller)
        .collect()
}

/// The token registry with `data` pushed to `repo`; returns the setup and the digest.
fn token_registry_with(repo: &str, data: &[u8]) -> (TokenRegistry, String) {
    let setup = TokenRegistry::start();
    let digest = setup.push_blob(repo, data);
    (setup, digest)
}

// ---------------------------------------------------------------------------------------------
// Token auth: anonymous
// ---------------------------------------------------------------------------------------------

#[test]
fn anonymous_fetch_of_a_public_repository_works() {
    let (setup, digest) = token_registry_with("public/app", b"public layer");
    let client = Client::new();
    let out = client
        .fetch()
        .arg(setup.reference("public/app", &digest))
        .assert()
        .success();
    assert_eq!(client.cached(&digest), b"public layer");
    let requests = setup.token_requests_for("repository:public/app:pull");
    assert_eq!(requests.len(), 1, "{requests:?}");
    assert_eq!(requests[0].caller, Caller::Anonymous);
    assert!(!requests[0].authorization);
    assert_eq!(requests[0].service.as_deref(), Some(TOKEN_SERVICE));
    assert_secret_free(&out, Some(&setup.tokens));
}

#[test]
fn anonymous_fetch_of_a_private_repository_exits_4_with_challenge_and_hint() {
    let (setup, digest) = token_registry_with("private/app", b"private layer");
    let client = Client::new();
    let out = client
        .fetch()
        .arg(setup.reference("private/app", &digest))
        .assert()
        .code(4);
    assert_refused(&out, &setup, "private/app");
    assert!(!client.cache.blob_path(&digest).exists());
    // The token was granted (with empty access) and refused by the registry with
    // `insufficient_scope`; the scope is the same, so asking again cannot help.
    assert!(callers(&setup, "private/app").len() <= 2);
    assert_secret_free(&out, Some(&setup.tokens));
}

// ---------------------------------------------------------------------------------------------
// Token auth: every credential source
// ---------------------------------------------------------------------------------------------

#[test]
fn username_flag_with_password_on_stdin_works_before_the_subcommand() {
    let (setup, digest) = token_registry_with("private/stdin", b"stdin layer");
    let client = Client::new();
    let mut cmd = layerget();
    let out = cmd
        .env("DOCKER_CONFIG", client.docker.path())
        .args(["--username", ALICE_USER, "--password-stdin", "--cache-dir"])
        .arg(client.cache.path())
        .arg("fetch")
        .arg(setup.reference("private/stdin", &digest))
        .write_stdin(format!("{ALICE_PASS}\n"))
        .assert()
        .success();
    assert_eq!(client.cached(&digest), b"stdin layer");
    assert_eq!(callers(&setup, "private/stdin"), [Caller::Alice]);
    assert!(setup.tokens.requests()[0].authorization);
    assert_secret_free(&out, Some(&setup.tokens));
}

#[test]
fn password_stdin_after_the_subcommand_strips_one_crlf_only() {
    let (setup, digest) = token_registry_with("private/crlf", b"crlf layer");
    let client = Client::new();
    let out = client
        .fetch()
        .args(["--username", ALICE_USER, "--password-stdin"])
        .arg(setup.reference("private/crlf", &digest))
        .write_stdin(format!("{ALICE_PASS}\r\n"))
        .assert()
        .success();
    assert_secret_free(&out, Some(&setup.tokens));
    // Two newlines: only one is stripped, so the password is wrong.
    let client = Client::new();
    let out = client
        .fetch()
        .args(["--username", ALICE_USER, "--password-stdin"])
        .arg(setup.reference("private/crlf", &digest))
        .write_stdin(format!("{ALICE_PASS}\n\n"))
        .assert()
        .code(4);
    assert_secret_free(&out, Some(&setup.tokens));
    assert_eq!(
        callers(&setup, "private/crlf"),
        [Caller::Alice, Caller::Refused]
    );
}

#[test]
fn broken_or_missing_helpers_warn_once_and_public_content_still_works() {
    let setup = TokenRegistry::start();
    let digests = [
        setup.push_blob("public/helped", b"first public layer"),
        setup.push_blob("public/helped", b"second public layer"),
    ];
    let refs: Vec<String> = digests
        .iter()
        .map(|d| setup.reference("public/helped", d))
        .collect();
    for (name, config) in [
        (
            "broken",
            json!({ "credHelpers": { setup.addr(): "broken" } }),
        ),
        ("missing", json!({ "credsStore": "missing" })),
    ] {
        let client = Client::new();
        client.helper(
            "broken",
            "#!/bin/sh\necho 'keychain unavailable' >&2\nexit 1\n",
        );
        client.docker_config(config);
        let out = client.fetch().args(&refs).assert().success();
        let err = stderr(&out);
        // `warning: …` from the printer or a `WARN` log line: either way, once per run.
        let warnings: Vec<&str> = err
            .lines()
            .filter(|l| l.to_lowercase().contains("warn"))
            .collect();
        assert_eq!(warnings.len(), 1, "{name}: one warning expected:\n{err}");
        assert!(warnings[0].contains(name), "{name}:\n{err}");
        for digest in &digests {
            assert!(client.cache.blob_path(digest).is_file(), "{name}");
        }
        assert_secret_free(&out, Some(&setup.tokens));
    }
    assert!(
        setup
            .tokens
            .requests()
            .iter()
            .all(|r| r.caller == Caller::Anonymous)
    );
}

/// A credential source as a table row: how the client is set up to find Alice's credentials.
struct Source {
    /// Row name, in every failure message.
    name: &'static str,
    /// Repository (under `private/`, so only Alice gets a token) and its one blob.
    repo: &'static str,
    data: &'static [u8],
    /// Writes config or helpers (`scratch` is a temp dir for files outside the Docker config)
    /// and sets the command's environment.
    setup: fn(&Client, &TokenRegistry, &Path, &mut assert_cmd::Command),
    /// Whom the token server saw asking.
    caller: Caller,
    /// Whether the fake `docker-credential-fake` helper must have been asked (`get <registry>`).
    helper: bool,
}

/// A podman/containers `auth.json` with Alice's `auths` entry for the registry.
fn podman_auth(setup: &TokenRegistry) -> String {
    json!({ "auths": { setup.addr(): auth_entry(ALICE_USER, ALICE_PASS) } }).to_string()
}

#[test]
fn every_credential_source_works() {
    let sources = [
        Source {
            name: "LAYERGET_USERNAME/LAYERGET_PASSWORD",
            repo: "private/env",
            data: b"env layer",
            setup: |_, _, _, cmd| {
                cmd.env("LAYERGET_USERNAME", ALICE_USER)
                    .env("LAYERGET_PASSWORD", ALICE_PASS);
            },
            caller: Caller::Alice,
            helper: false,
        },
        Source {
            name: "Docker config auths",
            repo: "private/docker",
            data: b"docker layer",
            setup: |client, setup, _, _| {
                client.docker_config(
                    json!({ "auths": { setup.addr(): auth_entry(ALICE_USER, ALICE_PASS) } }),
                );
            },
            caller: Caller::Alice,
            helper: false,
        },
        Source {
            name: "Docker config identity token",
            repo: "private/idtoken",
            data: b"identity layer",
            // What `docker login` stores when the registry hands out an identity token: the
            // username with an empty password, plus the token. It is sent as a Basic password
            // on GET, or as the refresh token of the OAuth2 POST.
            setup: |client, setup, _, _| {
                client.docker_config(json!({ "auths": { setup.addr(): {
                    "auth": base64(format!("{ALICE_USER}:").as_bytes()),
                    "identitytoken": ALICE_IDENTITY_TOKEN,
                } } }));
            },
            caller: Caller::AliceByIdentityToken,
            helper: false,
        },
        Source {
            name: "credHelpers entry",
            repo: "private/helper",
            data: b"helper layer",
            setup: |client, setup, _, _| {
                client.fake_helper("fake", ALICE_USER, ALICE_PASS);
                client.docker_config(json!({ "credHelpers": { setup.addr(): "fake" } }));
            },
            caller: Caller::Alice,
            helper: true,
        },
        Source {
            name: "credsStore helper with an identity token",
            repo: "private/store",
            data: b"store layer",
            // Username `<token>`: the secret is an identity token (docker-credential-helpers
            // protocol).
            setup: |client, setup, _, _| {
                client.fake_helper("fake", "<token>", ALICE_IDENTITY_TOKEN);
                client
                    .docker_config(json!({ "credsStore": "fake", "auths": { setup.addr(): {} } }));
            },
            caller: Caller::AliceByIdentityToken,
            helper: true,
        },
        Source {
            name: "REGISTRY_AUTH_FILE",
            repo: "private/podman",
            data: b"podman layer",
            setup: |_, setup, scratch, cmd| {
                let file = scratch.join("auth.json");
                fs::write(&file, podman_auth(setup)).unwrap();
                cmd.env("REGISTRY_AUTH_FILE", &file);
            },
            caller: Caller::Alice,
            helper: false,
        },
        Source {
            name: "podman auth.json under XDG_RUNTIME_DIR",
            repo: "private/runtime",
            data: b"runtime layer",
            setup: |_, setup, scratch, cmd| {
                fs::create_dir(scratch.join("containers")).unwrap();
                fs::write(scratch.join("containers/auth.json"), podman_auth(setup)).unwrap();
                cmd.env("XDG_RUNTIME_DIR", scratch);
            },
            caller: Caller::Alice,
            helper: false,
        },
    ];
    // One registry for every row: each row has its own repository, and the token server's
    // requests are told apart by the repository in their scope.
    let setup = TokenRegistry::start();
    for source in &sources {
        let name = source.name;
        let digest = setup.push_blob(source.repo, source.data);
        let client = Client::new();
        let scratch = TempDir::new().unwrap();
        let mut cmd = client.fetch();
        (source.setup)(&client, &setup, scratch.path(), &mut cmd);
        let out = cmd
            .arg(setup.reference(source.repo, &digest))
            .assert()
            .success();
        assert_eq!(client.cached(&digest), source.data, "{name}");
        assert_eq!(callers(&setup, source.repo), [source.caller], "{name}");
        if source.helper {
            let log = fs::read_to_string(client.helper_log("fake")).unwrap();
            assert!(log.starts_with("get "), "{name}: {log}");
            assert!(log.contains(&setup.addr()), "{name}: {log}");
        }
        assert_secret_free_in(name, &out, Some(&setup.tokens));
    }
}

#[test]
fn sources_are_used_in_order_flags_env_docker_podman() {
    let (setup, digest) = token_registry_with("private/order", b"order layer");
    let reference = setup.reference("private/order", &digest);
    let dir = TempDir::new().unwrap();
    let podman = |pass: &str| {
        let file = dir.path().join(format!("auth-{pass}.json"));
        let config = json!({ "auths": { setup.addr(): auth_entry(ALICE_USER, pass) } });
        fs::write(&file, config.to_string()).unwrap();
        file
    };
    let docker = |client: &Client, pass: &str| {
        client.docker_config(json!({ "auths": { setup.addr(): auth_entry(ALICE_USER, pass) } }));
    };
    let wrong = "decoy-wrong-password";

    // Each case: the first source that has credentials is used, right or wrong.
    let client = Client::new();
    docker(&client, wrong);
    let out = client
        .fetch()
        .args(["--username", ALICE_USER, "--password-stdin"])
        .write_stdin(format!("{ALICE_PASS}\n"))
        .env("LAYERGET_USERNAME", ALICE_USER)
        .env("LAYERGET_PASSWORD", wrong)
        .env("REGISTRY_AUTH_FILE", podman(wrong))
        .arg(&reference)
        .assert()
        .success();
    assert_secret_free(&out, Some(&setup.tokens));

    let client = Client::new();
    docker(&client, wrong);
    let out = client
        .fetch()
        .env("LAYERGET_USERNAME", ALICE_USER)
        .env("LAYERGET_PASSWORD", ALICE_PASS)
        .env("REGISTRY_AUTH_FILE", podman(wrong))
        .arg(&reference)
        .assert()
        .success();
    assert_secret_free(&out, Some(&setup.tokens));

    let client = Client::new();
    docker(&client, ALICE_PASS);
    let out = client
        .fetch()
        .env("REGISTRY_AUTH_FILE", podman(wrong))
        .arg(&reference)
        .assert()
        .success();
    assert_secret_free(&out, Some(&setup.tokens));
    assert_eq!(
        callers(&setup, "private/order"),
        [Caller::Alice, Caller::Alice, Caller::Alice]
    );

    // A wrong higher source wins over a right lower one: env over Docker, Docker over podman.
    let client = Client::new();
    docker(&client, ALICE_PASS);
    let out = client
        .fetch()
        .env("LAYERGET_USERNAME", ALICE_USER)
        .env("LAYERGET_PASSWORD", wrong)
        .arg(&reference)
        .assert()
        .code(4);
    assert_secret_free(&out, Some(&setup.tokens));
    let client = Client::new();
    docker(&client, wrong);
    let out = client
        .fetch()
        .env("REGISTRY_AUTH_FILE", podman(ALICE_PASS))
        .arg(&reference)
        .assert()
        .code(4);
    assert!(!output_text(&out).contains(wrong));
    assert_secret_free(&out, Some(&setup.tokens));
}

#[test]
fn a_wrong_password_exits_4_with_challenge_and_hint() {
    let (setup, digest) = token_registry_with("private/wrong", b"wrong layer");
    let client = Client::new();
    let out = client
        .fetch()
        .env("LAYERGET_USERNAME", ALICE_USER)
        .env("LAYERGET_PASSWORD", "not-her-password")
        .arg(setup.reference("private/wrong", &digest))
        .assert()
        .code(4);
    assert_refused(&out, &setup, "private/wrong");
    assert!(!output_text(&out).contains("not-her-password"));
    assert!(callers(&setup, "private/wrong").contains(&Caller::Refused));
    assert!(!client.cache.blob_path(&digest).exists());
    assert_secret_free(&out, Some(&setup.tokens));
}

// ---------------------------------------------------------------------------------------------
// Token auth: caching and renewal
// ---------------------------------------------------------------------------------------------

#[test]
fn one_token_serves_several_blobs_fetched_in_parallel() {
    let setup = TokenRegistry::start();
    let digests: Vec<String> = (0..8u8)
        .map(|i| setup.push_blob("private/many", &vec![i; 64 << 10]))
        .collect();
    let client = Client::new();
    let out = client
        .fetch()
        .args(["-j", "4"])
        .env("LAYERGET_USERNAME", ALICE_USER)
        .env("LAYERGET_PASSWORD", ALICE_PASS)
        .args(digests.iter().map(|d| setup.reference("private/many", d)))
        .assert()
        .success();
    for (i, digest) in digests.iter().enumerate() {
        assert_eq!(client.cached(digest), vec![i as u8; 64 << 10]);
    }
    let requests = setup.tokens.requests();
    assert_eq!(requests.len(), 1, "one shared token: {requests:?}");
    assert_eq!(requests[0].scopes, ["repository:private/many:pull"]);
    assert_eq!(requests[0].caller, Caller::Alice);
    assert_secret_free(&out, Some(&setup.tokens));
}

#[test]
fn an_expired_token_is_renewed_between_blobs() {
    // Tokens live 1 s; each blob body stalls 2 s (after its first KiB, past any 401 body), so
    // the token is stale when the second blob is asked for. The registry itself would still
    // accept it (60 s leeway, see auth_support): renewal shows at the token server.
    let setup = TokenRegistry::start_with(TokenOptions { expires_in: 1 }, |b| b);
    let proxy = FaultProxy::start(&setup.addr());
    proxy.set_default(Fault::Stall {
        after: 1024,
        secs: 2,
    });
    let digests: Vec<String> = (0..2u8)
        .map(|i| setup.push_blob("private/renew", &vec![i; 8 << 10]))
        .collect();
    let client = Client::new();
    let out = client
        .fetch()
        .args(["-j", "1"])
        .env("LAYERGET_USERNAME", ALICE_USER)
        .env("LAYERGET_PASSWORD", ALICE_PASS)
        .args(digests.iter().map(|d| proxy.reference("private/renew", d)))
        .timeout(Duration::from_secs(60))
        .assert()
        .success();
    for digest in &digests {
        assert!(client.cache.blob_path(digest).is_file());
    }
    let renewals = callers(&setup, "private/renew");
    assert!(renewals.len() >= 2, "token not renewed: {renewals:?}");
    assert!(renewals.iter().all(|c| *c == Caller::Alice));
    // The blob GETs that carried a token did not all carry the same one.
    let mut bearers: Vec<String> = proxy
        .requests()
        .iter()
        .filter(|r| r.path.starts_with("/v2/private/renew/blobs/"))
        .filter_map(|r| r.header("authorization").map(str::to_owned))
        .collect();
    bearers.sort();
    bearers.dedup();
    assert!(bearers.len() >= 2, "one token for both blobs");
    assert_secret_free(&out, Some(&setup.tokens));
}

// ---------------------------------------------------------------------------------------------
// Basic auth (htpasswd)
// ---------------------------------------------------------------------------------------------

#[test]
fn htpasswd_registry_needs_the_right_credentials() {
    let registry = TestRegistry::builder().basic_auth().start();
    let digest = registry.push_blob("team/basic", b"basic layer");
    let reference = registry.reference("team/basic", &digest);

    let client = Client::new();
    let out = client.fetch().arg(&reference).assert().code(4);
    assert!(
        stderr(&out)
            .lines()
            .any(|l| l.starts_with("hint:") && l.contains(&registry.addr())),
        "{}",
        stderr(&out)
    );
    assert_secret_free(&out, None);

    let out = client
        .fetch()
        .env("LAYERGET_USERNAME", BASIC_USER)
        .env("LAYERGET_PASSWORD", "wrong-basic-password")
        .arg(&reference)
        .assert()
        .code(4);
    assert!(!output_text(&out).contains("wrong-basic-password"));
    assert_secret_free(&out, None);
    assert!(!client.cache.blob_path(&digest).exists());

    let out = client
        .fetch()
        .env("LAYERGET_USERNAME", BASIC_USER)
        .env("LAYERGET_PASSWORD", BASIC_PASS)
        .arg(&reference)
        .assert()
        .success();
    assert_eq!(client.cached(&digest), b"basic layer");
    assert_secret_free(&out, None);
}

// ---------------------------------------------------------------------------------------------
// Redirects: credentials stay with the registry
// ---------------------------------------------------------------------------------------------

#[test]
fn a_redirect_to_another_host_gets_no_bearer_token() {
    let data = b"layer served by object storage".repeat(100);
    let storage = redirect_target(data.clone());
    let setup = TokenRegistry::start_with(TokenOptions::default(), |b| {
        b.yaml(&redirect_middleware_yaml(&storage.url("/")))
    });
    let digest = setup.push_blob("private/cdn", &data);
    let client = Client::new();
    let out = client
        .fetch()
        .env("LAYERGET_USERNAME", ALICE_USER)
        .env("LAYERGET_PASSWORD", ALICE_PASS)
        .arg(setup.reference("private/cdn", &digest))
        .assert()
        .success();
    assert_eq!(client.cached(&digest), data);
    assert_eq!(callers(&setup, "private/cdn"), [Caller::Alice]);
    let at_storage = storage.requests();
    assert!(!at_storage.is_empty());
    assert!(
        at_storage
            .iter()
            .all(|r| r.header("authorization").is_none()),
        "{at_storage:?}"
    );
    assert_secret_free(&out, Some(&setup.tokens));
}

#[test]
fn a_redirect_to_another_host_gets_no_basic_credentials() {
    let data = b"basic layer served by object storage".repeat(100);
    let storage = redirect_target(data.clone());
    let registry = TestRegistry::builder()
        .basic_auth()
        .yaml(&redirect_middleware_yaml(&storage.url("/")))
        .start();
    let digest = registry.push_blob("team/cdn", &data);
    let client = Client::new();
    let out = client
        .fetch()
        .env("LAYERGET_USERNAME", BASIC_USER)
        .env("LAYERGET_PASSWORD", BASIC_PASS)
        .arg(registry.reference("team/cdn", &digest))
        .assert()
        .success();
    assert_eq!(client.cached(&digest), data);
    let at_storage = storage.requests();
    assert!(!at_storage.is_empty());
    assert!(
        at_storage
            .iter()
            .all(|r| r.header("authorization").is_none()),
        "{at_storage:?}"
    );
    assert_secret_free(&out, None);
}

// ---------------------------------------------------------------------------------------------
// TLS
// ---------------------------------------------------------------------------------------------

#[test]
fn ca_file_makes_the_tls_registry_trusted() {
    let tls = TlsRegistry::start();
    let digest = tls.push_blob("team/tls", b"tls layer");
    let client = Client::new();
    client
        .fetch()
        .arg("--ca-file")
        .arg(tls.ca_file())
        .arg(tls.reference("team/tls", &digest))
        .assert()
        .success()
        .stderr(predicate::str::contains("warning:").not());
    assert_eq!(client.cached(&digest), b"tls layer");
}

#[test]
fn tls_registry_fails_without_flags_and_with_an_unrelated_ca() {
    let tls = TlsRegistry::start();
    let digest = tls.push_blob("team/tls", b"tls layer");
    let client = Client::new();
    // Loopback defaults to plain HTTP, which a TLS port answers with 400.
    client
        .fetch()
        .arg(tls.reference("team/tls", &digest))
        .assert()
        .failure();
    // HTTPS, but the certificate is not signed by the given CA.
    let mut cmd = layerget();
    let out = cmd
        .arg("--ca-file")
        .arg(tls.unrelated_ca_file())
        .arg("--cache-dir")
        .arg(client.cache.path())
        .arg("fetch")
        .arg(tls.reference("team/tls", &digest))
        .assert()
        .failure();
    assert!(
        stderr(&out).to_lowercase().contains("certificate"),
        "{}",
        stderr(&out)
    );
    assert!(!client.cache.blob_path(&digest).exists());
}

#[test]
fn insecure_skips_verification_with_a_warning() {
    let tls = TlsRegistry::start();
    let digest = tls.push_blob("team/tls", b"insecure layer");
    let client = Client::new();
    client
        .fetch()
        .arg("--insecure")
        .arg(tls.reference("team/tls", &digest))
        .assert()
        .success()
        .stderr(predicate::str::contains("warning:"));
    assert_eq!(client.cached(&digest), b"insecure layer");
}

// ---------------------------------------------------------------------------------------------
// Other commands share the client
// ---------------------------------------------------------------------------------------------

#[test]
fn head_authenticates_like_fetch() {
    let (setup, digest) = token_registry_with("private/head", b"head layer");
    let reference = setup.reference("private/head", &digest);
    let client = Client::new();
    let out = layerget()
        .env("DOCKER_CONFIG", client.docker.path())
        .args(["head", &reference])
        .assert()
        .code(4);
    assert_refused(&out, &setup, "private/head");
    let out = layerget()
        .env("DOCKER_CONFIG", client.docker.path())
        .env("LAYERGET_USERNAME", ALICE_USER)
        .env("LAYERGET_PASSWORD", ALICE_PASS)
        .args(["head", &reference])
        .assert()
        .success();
    assert_secret_free(&out, Some(&setup.tokens));
    assert_eq!(callers(&setup, "private/head").last(), Some(&Caller::Alice));
}
