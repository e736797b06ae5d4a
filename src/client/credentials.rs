//! Where credentials for a registry come from, first match wins:
//!
//! 1. `--username` with `--password-stdin` (read by the command layer), for the one registry
//!    they are scoped to ([`Explicit`]: `--registry-auth HOST`, else the first REF's registry),
//! 2. `LAYERGET_USERNAME` / `LAYERGET_PASSWORD` (likewise),
//! 3. Docker's config (`$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`):
//!    `credHelpers` for the registry, then `auths` (`auth` = base64 `user:pass`, or
//!    `identitytoken`), then `credsStore`; helpers speak the docker-credential protocol,
//! 4. Podman/skopeo's `auth.json` (`$REGISTRY_AUTH_FILE`, else
//!    `$XDG_RUNTIME_DIR/containers/auth.json`),
//! 5. anonymous.
//!
//! Written here rather than with the `docker_credential` crate because that crate runs
//! helpers without a timeout, does not read podman's file, and fails hard where layerget
//! warns and goes on anonymously (public content must keep working when a helper is broken,
//! which crane and oras users complain about).
//!
//! Helpers run as tokio child processes: their stdout and stderr are read while they run (a
//! helper writing more than a pipe holds would otherwise block until the timeout), and the
//! wait is a timer, not a polling loop on a runtime thread.

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use base64::Engine as _;
use serde::Deserialize;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::process::Command;

use crate::reference::Registry;

/// How long a credential helper may take.
const HELPER_TIMEOUT: Duration = Duration::from_secs(15);
/// The most of a helper's stdout (and of its stderr) that is kept; the rest is read and dropped
/// so the helper never blocks on a full pipe.
const MAX_HELPER_OUTPUT: u64 = 1024 * 1024;

/// A secret that never shows in `Debug` output.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret.
    pub fn new(s: impl Into<String>) -> Secret {
        Secret(s.into())
    }
    /// The secret itself, for building a request.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(…)")
    }
}

/// Credentials for one registry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credentials {
    /// A user name and password (or personal access token).
    Basic {
        /// The user.
        username: String,
        /// The password.
        password: Secret,
    },
    /// An OAuth2 refresh token (`identitytoken` in Docker's config).
    IdentityToken {
        /// The user, when known.
        username: Option<String>,
        /// The token.
        token: Secret,
    },
}

impl Credentials {
    /// The user name, for messages.
    pub fn username(&self) -> &str {
        match self {
            Credentials::Basic { username, .. } => username,
            Credentials::IdentityToken { username, .. } => username.as_deref().unwrap_or("<token>"),
        }
    }
}

/// Where a credential was found, for messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    /// The credentials.
    pub credentials: Credentials,
    /// Where they came from (`--username`, `docker config`, `docker-credential-pass`…).
    pub source: String,
}

/// Credentials from flags or environment variables, and the one registry they belong to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Explicit {
    /// The registry (`host[:port]` as in references) the credentials are for; every other
    /// registry gets its own docker/podman credentials or none.
    pub registry: Registry,
    /// The credentials.
    pub found: Found,
}

impl Explicit {
    /// Whether these credentials belong to `registry` (compared as Docker's config keys are:
    /// `docker.io` and its API hosts are one).
    pub fn is_for(&self, registry: &str) -> bool {
        normalize(self.registry.as_str()) == normalize(registry)
    }
}

/// The places credentials are looked up in, besides explicit ones.
#[derive(Debug, Clone, Default)]
pub struct Sources {
    /// From flags or environment variables, for one registry.
    pub explicit: Option<Explicit>,
    /// Docker's `config.json`.
    pub docker_config: Option<PathBuf>,
    /// Podman's `auth.json`.
    pub podman_auth: Option<PathBuf>,
}

impl Sources {
    /// The standard locations, from the environment.
    pub fn from_env(explicit: Option<Explicit>) -> Sources {
        let docker_config = std::env::var_os("DOCKER_CONFIG")
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".docker")))
            .map(|d| d.join("config.json"));
        let podman_auth = std::env::var_os("REGISTRY_AUTH_FILE")
            .map(PathBuf::from)
            .or_else(|| {
                std::env::var_os("XDG_RUNTIME_DIR")
                    .map(|d| Path::new(&d).join("containers").join("auth.json"))
            });
        Sources {
            explicit,
            docker_config,
            podman_auth,
        }
    }

    /// Looks up credentials for `registry` (`host[:port]` as in references). Problems with a
    /// configured source (unreadable file, failing helper) come back as warnings; the lookup
    /// then goes on with the next source.
    pub async fn lookup(&self, registry: &str) -> (Option<Found>, Vec<String>) {
        let mut warnings = Vec::new();
        if let Some(explicit) = self.explicit.as_ref().filter(|e| e.is_for(registry)) {
            return (Some(explicit.found.clone()), warnings);
        }
        let key = normalize(registry);
        let files = [
            (&self.docker_config, "docker config"),
            (&self.podman_auth, "podman auth file"),
        ];
        for (path, what) in files {
            let Some(path) = path else { continue };
            let plan = match read_config(path).await {
                Ok(Some(config)) => from_config(&config, &key, what),
                Ok(None) => Plan::Nothing,
                Err(e) => {
                    warnings.push(format!("ignoring `{}`: {e}", path.display()));
                    Plan::Nothing
                }
            };
            let found = match plan {
                Plan::Found(found) => Some(found),
                Plan::Helper(name) => run_helper(&name, &key, &mut warnings).await,
                Plan::Nothing => None,
            };
            if found.is_some() {
                return (found, warnings);
            }
        }
        (None, warnings)
    }
}

/// What a config file says about one registry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Plan {
    /// Credentials stored in the file itself.
    Found(Found),
    /// Ask this credential helper (`docker-credential-<name>`).
    Helper(String),
    /// Nothing for this registry.
    Nothing,
}

#[derive(Debug, Default, Deserialize)]
struct Config {
    #[serde(default)]
    auths: HashMap<String, AuthEntry>,
    #[serde(default, rename = "credHelpers")]
    cred_helpers: HashMap<String, String>,
    #[serde(default, rename = "credsStore")]
    creds_store: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
struct AuthEntry {
    #[serde(default)]
    auth: Option<String>,
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    password: Option<String>,
    #[serde(default)]
    identitytoken: Option<String>,
}

async fn read_config(path: &Path) -> Result<Option<Config>, String> {
    match tokio::fs::read(path).await {
        Ok(bytes) => parse_config(&bytes).map(Some),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e.to_string()),
    }
}

/// Parses Docker's `config.json` or podman's `auth.json`.
fn parse_config(bytes: &[u8]) -> Result<Config, String> {
    serde_json::from_slice(bytes).map_err(|e| format!("not valid JSON ({e})"))
}

/// What the bytes of a Docker `config.json` or podman `auth.json` say about `registry`
/// (`host[:port]`): pure, no helper is run (for tests and fuzzing).
pub fn plan_from_bytes(bytes: &[u8], registry: &str) -> Result<Plan, String> {
    Ok(from_config(
        &parse_config(bytes)?,
        &normalize(registry),
        "config",
    ))
}

/// `https://index.docker.io/v1/` → `docker.io`; `https://127.0.0.1:5000/v2/` → `127.0.0.1:5000`.
pub fn normalize(key: &str) -> String {
    let k = key.trim();
    let k = k
        .strip_prefix("https://")
        .or_else(|| k.strip_prefix("http://"))
        .unwrap_or(k);
    let host = k.split('/').next().unwrap_or(k).to_ascii_lowercase();
    match host.as_str() {
        "index.docker.io" | "registry-1.docker.io" | "registry.hub.docker.com" => {
            "docker.io".to_owned()
        }
        _ => host,
    }
}

/// The server URL a helper is asked about (Docker Hub's is historical).
fn helper_server(key: &str) -> String {
    if key == "docker.io" {
        "https://index.docker.io/v1/".to_owned()
    } else {
        key.to_owned()
    }
}

/// What `config` says for the registry `key` (normalized): its `credHelpers` entry, else its
/// `auths` entry, else the `credsStore`.
fn from_config(config: &Config, key: &str, what: &str) -> Plan {
    if let Some((_, helper)) = config
        .cred_helpers
        .iter()
        .find(|(k, _)| normalize(k) == key)
    {
        return Plan::Helper(helper.clone());
    }
    if let Some((_, entry)) = config.auths.iter().find(|(k, _)| normalize(k) == key)
        && let Some(credentials) = entry_credentials(entry)
    {
        return Plan::Found(Found {
            credentials,
            source: what.to_owned(),
        });
    }
    if let Some(store) = config.creds_store.as_deref().filter(|s| !s.is_empty()) {
        return Plan::Helper(store.to_owned());
    }
    Plan::Nothing
}

fn entry_credentials(entry: &AuthEntry) -> Option<Credentials> {
    let (mut username, mut password) = (entry.username.clone(), entry.password.clone());
    if let Some(auth) = entry.auth.as_deref().filter(|a| !a.is_empty())
        && let Some(decoded) = base64_decode(auth)
        && let Ok(text) = String::from_utf8(decoded)
        && let Some((u, p)) = text.split_once(':')
    {
        username = Some(u.to_owned());
        password = Some(p.to_owned());
    }
    if let Some(token) = entry.identitytoken.as_deref().filter(|t| !t.is_empty()) {
        return Some(Credentials::IdentityToken {
            username,
            token: Secret::new(token),
        });
    }
    match (username, password) {
        (Some(username), Some(password)) if !username.is_empty() => Some(Credentials::Basic {
            username,
            password: Secret::new(password),
        }),
        _ => None,
    }
}

#[derive(Deserialize)]
struct HelperAnswer {
    #[serde(rename = "Username", default)]
    username: String,
    #[serde(rename = "Secret", default)]
    secret: String,
}

/// Runs `docker-credential-<name> get`, with the server on stdin, its stdout and stderr read
/// while it runs, and a timeout (after which it is killed).
async fn run_helper(name: &str, key: &str, warnings: &mut Vec<String>) -> Option<Found> {
    // A name is looked up on PATH; one with a `/` would be a path (relative to wherever
    // layerget runs), which no helper installation uses.
    if name.is_empty() || name.contains(['/', '\\']) {
        warnings.push(format!(
            "credential helper name `{}` for {key} is not a plain name; going on without credentials",
            name.escape_debug()
        ));
        return None;
    }
    let program = format!("docker-credential-{name}");
    let mut child = match Command::new(&program)
        .arg("get")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
    {
        Ok(c) => c,
        Err(e) => {
            warnings.push(format!(
                "credential helper `{program}` for {key} cannot be run ({e}); going on without credentials"
            ));
            return None;
        }
    };
    let (stdin, stdout, stderr) = (child.stdin.take(), child.stdout.take(), child.stderr.take());
    let server = helper_server(key);
    let talk = async {
        let write = async {
            if let Some(mut stdin) = stdin {
                // A helper that exits without reading closes the pipe: not our problem.
                let _ = stdin.write_all(server.as_bytes()).await;
            }
        };
        let ((), out, err, status) = tokio::join!(
            write,
            read_capped(stdout),
            read_capped(stderr),
            child.wait()
        );
        (out, err, status)
    };
    let (out, err, status) = match tokio::time::timeout(HELPER_TIMEOUT, talk).await {
        Ok((out, err, Ok(status))) => (out, err, status),
        Ok((_, _, Err(e))) => {
            warnings.push(format!("credential helper `{program}` failed: {e}"));
            return None;
        }
        Err(_) => {
            // Dropping the child (kill_on_drop) kills it; tokio reaps it.
            warnings.push(format!(
                "credential helper `{program}` for {key} did not answer within {} s; going on without credentials",
                HELPER_TIMEOUT.as_secs()
            ));
            return None;
        }
    };
    if !status.success() {
        // The protocol's way of saying "nothing stored for this server" is not a problem.
        let text = format!("{out} {err}");
        if !text.contains("credentials not found") {
            let first = text.split_whitespace().collect::<Vec<_>>().join(" ");
            let first: String = first.chars().take(200).collect();
            warnings.push(format!(
                "credential helper `{program}` for {key} failed ({status}: {first}); going on without credentials"
            ));
        }
        return None;
    }
    match serde_json::from_str::<HelperAnswer>(&out) {
        Ok(a) if a.secret.is_empty() => None,
        Ok(a) if a.username == "<token>" => Some(Found {
            credentials: Credentials::IdentityToken {
                username: None,
                token: Secret::new(a.secret),
            },
            source: program,
        }),
        Ok(a) => Some(Found {
            credentials: Credentials::Basic {
                username: a.username,
                password: Secret::new(a.secret),
            },
            source: program,
        }),
        Err(e) => {
            warnings.push(format!(
                "credential helper `{program}` for {key} answered something that is not JSON ({e}); going on without credentials"
            ));
            None
        }
    }
}

/// Reads a helper's pipe to its end, keeping the first [`MAX_HELPER_OUTPUT`] bytes (as text).
async fn read_capped(pipe: Option<impl AsyncRead + Unpin>) -> String {
    let Some(pipe) = pipe else {
        return String::new();
    };
    let mut kept = Vec::new();
    let mut pipe = pipe.take(MAX_HELPER_OUTPUT);
    let _ = pipe.read_to_end(&mut kept).await;
    // Drain the rest, so the helper can finish writing and exit.
    let _ = tokio::io::copy(&mut pipe.into_inner(), &mut tokio::io::sink()).await;
    String::from_utf8_lossy(&kept).into_owned()
}

/// Base64 (standard or URL-safe alphabet, padding optional), for `auth` entries.
pub fn base64_decode(s: &str) -> Option<Vec<u8>> {
    use base64::engine::general_purpose::{STANDARD_PAD_INDIFFERENT, URL_SAFE_PAD_INDIFFERENT};
    let s = s.trim();
    STANDARD_PAD_INDIFFERENT
        .decode(s)
        .or_else(|_| URL_SAFE_PAD_INDIFFERENT.decode(s))
        .ok()
}

/// Standard base64 with padding, for `Authorization: Basic`.
pub fn base64_encode(data: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(data)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn keys_normalize() {
        assert_eq!(normalize("https://index.docker.io/v1/"), "docker.io");
        assert_eq!(normalize("registry-1.docker.io"), "docker.io");
        assert_eq!(normalize("https://127.0.0.1:5000/v2/"), "127.0.0.1:5000");
        assert_eq!(normalize("GHCR.io"), "ghcr.io");
    }

    #[test]
    fn base64() {
        assert_eq!(base64_encode(b"alice:wonder"), "YWxpY2U6d29uZGVy");
        assert_eq!(base64_encode(b"a"), "YQ==");
        assert_eq!(base64_decode("YWxpY2U6d29uZGVy").unwrap(), b"alice:wonder");
        assert_eq!(base64_decode("YQ==").unwrap(), b"a");
        assert_eq!(base64_decode("YQ").unwrap(), b"a");
        assert!(base64_decode("Y").is_none());
        assert!(base64_decode("a*b=").is_none());
    }

    proptest! {
        #[test]
        fn base64_round_trips(data in proptest::collection::vec(any::<u8>(), 0..64)) {
            prop_assert_eq!(base64_decode(&base64_encode(&data)).unwrap(), data);
        }
    }

    /// The user and password `YWxpY2U6d29uZGVy` (`alice:wonder`) encodes.
    const ALICE: &str = "YWxpY2U6d29uZGVy";

    fn basic(username: &str, password: &str, source: &str) -> Option<Found> {
        Some(Found {
            credentials: Credentials::Basic {
                username: username.into(),
                password: Secret::new(password),
            },
            source: source.into(),
        })
    }

    fn token(username: Option<&str>, token: &str, source: &str) -> Option<Found> {
        Some(Found {
            credentials: Credentials::IdentityToken {
                username: username.map(str::to_owned),
                token: Secret::new(token),
            },
            source: source.into(),
        })
    }

    /// One lookup: what the sources hold, which registry is asked for, and what comes back.
    struct Row {
        what: &'static str,
        /// Docker's `config.json` (`None`: the path is set but no file is there).
        docker: Option<String>,
        /// Podman's `auth.json` (`None`: likewise).
        podman: Option<String>,
        /// `--registry-auth` for alice's explicit credentials, when given.
        explicit: Option<&'static str>,
        registry: &'static str,
        found: Option<Found>,
        /// The one warning expected (a text it contains); `None`: no warning at all.
        warning: Option<&'static str>,
    }

    /// Every credential source in its order of precedence (explicit, then Docker's config:
    /// credHelpers, auths, credsStore, then podman's auth.json, then anonymous), and what a
    /// broken source does: a warning, and the lookup goes on.
    #[tokio::test]
    async fn credential_sources() {
        let hub_auths = format!(
            r#"{{"auths":{{"https://index.docker.io/v1/":{{"auth":"{ALICE}"}},
                "reg.example:5000":{{"identitytoken":"tok"}},"empty.example":{{}},
                "fields.example":{{"username":"carol","password":"pw"}}}}}}"#
        );
        let bob = r#"{"auths":{"other.example":{"auth":"Ym9iOmJ1aWxkZXI="}}}"#.to_owned();
        let podman = format!(r#"{{"auths":{{"podman.example":{{"auth":"{ALICE}"}}}}}}"#);
        let explicit_alice = basic("alice", "wonder", "--username and --password-stdin");
        let row = |what, docker: Option<&str>, registry, found, warning| Row {
            what,
            docker: docker.map(str::to_owned),
            podman: None,
            explicit: None,
            registry,
            found,
            warning,
        };
        let rows = vec![
            // Docker's `auths`: base64 `auth`, an identity token, plain fields, nothing usable.
            row(
                "auths: base64 auth, by Docker Hub's legacy key",
                Some(&hub_auths),
                "docker.io",
                basic("alice", "wonder", "docker config"),
                None,
            ),
            row(
                "auths: identitytoken",
                Some(&hub_auths),
                "reg.example:5000",
                token(None, "tok", "docker config"),
                None,
            ),
            row(
                "auths: username and password fields",
                Some(&hub_auths),
                "fields.example",
                basic("carol", "pw", "docker config"),
                None,
            ),
            row(
                "auths: an empty entry",
                Some(&hub_auths),
                "empty.example",
                None,
                None,
            ),
            row(
                "auths: no entry",
                Some(&hub_auths),
                "other.example",
                None,
                None,
            ),
            // Explicit credentials: for their registry only (Docker Hub's names are one).
            Row {
                explicit: Some("index.docker.io"),
                ..row(
                    "explicit, for docker.io",
                    Some(&bob),
                    "docker.io",
                    explicit_alice.clone(),
                    None,
                )
            },
            Row {
                explicit: Some("index.docker.io"),
                ..row(
                    "explicit, for Docker Hub's API host",
                    Some(&bob),
                    "registry-1.docker.io",
                    explicit_alice.clone(),
                    None,
                )
            },
            Row {
                explicit: Some("index.docker.io"),
                ..row(
                    "explicit elsewhere: the stored credentials",
                    Some(&bob),
                    "other.example",
                    basic("bob", "builder", "docker config"),
                    None,
                )
            },
            Row {
                explicit: Some("index.docker.io"),
                ..row(
                    "explicit elsewhere, nothing stored",
                    Some(&bob),
                    "ghcr.io",
                    None,
                    None,
                )
            },
            // Helpers (credHelpers and credsStore) that cannot run: a warning, then anonymous.
            row(
                "credsStore: a helper that is not installed",
                Some(r#"{"credsStore":"layerget-test-no-such-helper"}"#),
                "ghcr.io",
                None,
                Some("docker-credential-layerget-test-no-such-helper"),
            ),
            row(
                "credHelpers: a helper that is not installed",
                Some(r#"{"credHelpers":{"ghcr.io":"layerget-test-no-such-helper"}}"#),
                "ghcr.io",
                None,
                Some("docker-credential-layerget-test-no-such-helper"),
            ),
            row(
                "credsStore: a path, not a name",
                Some(r#"{"credsStore":"../../tmp/x"}"#),
                "ghcr.io",
                None,
                Some("not a plain name"),
            ),
            row(
                "docker config: not JSON",
                Some("{not json"),
                "ghcr.io",
                None,
                Some("not valid JSON"),
            ),
            // Podman's auth.json: after Docker's config, also when that is broken or absent.
            Row {
                podman: Some(podman.clone()),
                ..row(
                    "podman auth.json",
                    Some(&bob),
                    "podman.example",
                    basic("alice", "wonder", "podman auth file"),
                    None,
                )
            },
            Row {
                podman: Some(podman.clone()),
                ..row(
                    "podman auth.json, no docker config file",
                    None,
                    "podman.example",
                    basic("alice", "wonder", "podman auth file"),
                    None,
                )
            },
            Row {
                podman: Some(podman.clone()),
                ..row(
                    "podman auth.json after a broken docker config",
                    Some("{not json"),
                    "podman.example",
                    basic("alice", "wonder", "podman auth file"),
                    Some("not valid JSON"),
                )
            },
            Row {
                podman: Some(r#"{"auths":{"other.example":{"auth":"YTpi"}}}"#.to_owned()),
                ..row(
                    "docker config before podman",
                    Some(&bob),
                    "other.example",
                    basic("bob", "builder", "docker config"),
                    None,
                )
            },
        ];
        let dir = tempfile::tempdir().unwrap();
        for (i, row) in rows.into_iter().enumerate() {
            let file = |name: &str, text: &Option<String>| {
                let path = dir.path().join(format!("{i}-{name}"));
                if let Some(text) = text {
                    std::fs::write(&path, text).unwrap();
                }
                Some(path)
            };
            let sources = Sources {
                explicit: row.explicit.map(|host| Explicit {
                    registry: Registry::parse(host).unwrap(),
                    found: explicit_alice.clone().unwrap(),
                }),
                docker_config: file("config.json", &row.docker),
                podman_auth: file("auth.json", &row.podman),
            };
            let (found, warnings) = sources.lookup(row.registry).await;
            assert_eq!(found, row.found, "{}", row.what);
            match row.warning {
                None => assert!(warnings.is_empty(), "{}: {warnings:?}", row.what),
                Some(text) => {
                    assert_eq!(warnings.len(), 1, "{}: {warnings:?}", row.what);
                    assert!(warnings[0].contains(text), "{}: {warnings:?}", row.what);
                }
            }
        }
    }

    /// What a config file's bytes say about a registry, without running any helper.
    #[test]
    fn plans_name_helpers_without_running_them() {
        let config = format!(
            r#"{{"credHelpers":{{"ghcr.io":"gh"}},"credsStore":"desktop",
            "auths":{{"reg.example":{{"auth":"{ALICE}"}},"ghcr.io":{{"auth":"{ALICE}"}}}}}}"#
        );
        let cases: [(&[u8], &str, Result<Plan, ()>); 5] = [
            // credHelpers beats auths for the same registry.
            (config.as_bytes(), "ghcr.io", Ok(Plan::Helper("gh".into()))),
            (
                config.as_bytes(),
                "reg.example",
                Ok(Plan::Found(basic("alice", "wonder", "config").unwrap())),
            ),
            // credsStore is for every registry without an entry of its own.
            (
                config.as_bytes(),
                "other.example",
                Ok(Plan::Helper("desktop".into())),
            ),
            (b"{}", "x.example", Ok(Plan::Nothing)),
            (br#"{"auths":[]}"#, "x.example", Err(())),
        ];
        for (bytes, registry, want) in cases {
            let got = plan_from_bytes(bytes, registry).map_err(|_| ());
            assert_eq!(
                got,
                want,
                "{registry} in {}",
                String::from_utf8_lossy(bytes)
            );
        }
    }

    #[test]
    fn secrets_do_not_debug_print() {
        let c = Credentials::Basic {
            username: "u".into(),
            password: Secret::new("hunter2"),
        };
        assert!(!format!("{c:?}").contains("hunter2"));
    }
}
