//! Where credentials for a registry come from, first match wins:
//!
//! 1. `--username` with `--password-stdin` (read by the command layer),
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

use std::collections::HashMap;
use std::fmt;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde::Deserialize;

/// How long a credential helper may take.
const HELPER_TIMEOUT: Duration = Duration::from_secs(15);

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

/// The places credentials are looked up in, besides explicit ones.
#[derive(Debug, Clone, Default)]
pub struct Sources {
    /// From flags or environment variables (apply to every registry).
    pub explicit: Option<Found>,
    /// Docker's `config.json`.
    pub docker_config: Option<PathBuf>,
    /// Podman's `auth.json`.
    pub podman_auth: Option<PathBuf>,
}

impl Sources {
    /// The standard locations, from the environment.
    pub fn from_env(explicit: Option<Found>) -> Sources {
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
    pub fn lookup(&self, registry: &str) -> (Option<Found>, Vec<String>) {
        let mut warnings = Vec::new();
        if let Some(found) = &self.explicit {
            return (Some(found.clone()), warnings);
        }
        let key = normalize(registry);
        if let Some(path) = &self.docker_config {
            match read_config(path) {
                Ok(Some(config)) => {
                    if let Some(found) = from_config(&config, &key, "docker config", &mut warnings)
                    {
                        return (Some(found), warnings);
                    }
                }
                Ok(None) => {}
                Err(e) => warnings.push(format!("ignoring `{}`: {e}", path.display())),
            }
        }
        if let Some(path) = &self.podman_auth {
            match read_config(path) {
                Ok(Some(config)) => {
                    if let Some(found) =
                        from_config(&config, &key, "podman auth file", &mut warnings)
                    {
                        return (Some(found), warnings);
                    }
                }
                Ok(None) => {}
                Err(e) => warnings.push(format!("ignoring `{}`: {e}", path.display())),
            }
        }
        (None, warnings)
    }
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

fn read_config(path: &Path) -> Result<Option<Config>, String> {
    match std::fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| format!("not valid JSON ({e})")),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e.to_string()),
    }
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

fn from_config(
    config: &Config,
    key: &str,
    what: &str,
    warnings: &mut Vec<String>,
) -> Option<Found> {
    if let Some((_, helper)) = config
        .cred_helpers
        .iter()
        .find(|(k, _)| normalize(k) == key)
    {
        return run_helper(helper, key, warnings);
    }
    if let Some((_, entry)) = config.auths.iter().find(|(k, _)| normalize(k) == key)
        && let Some(credentials) = entry_credentials(entry)
    {
        return Some(Found {
            credentials,
            source: what.to_owned(),
        });
    }
    if let Some(store) = config.creds_store.as_deref().filter(|s| !s.is_empty()) {
        return run_helper(store, key, warnings);
    }
    None
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

/// Runs `docker-credential-<name> get`, with the server on stdin and a timeout.
fn run_helper(name: &str, key: &str, warnings: &mut Vec<String>) -> Option<Found> {
    let program = format!("docker-credential-{name}");
    let mut child = match Command::new(&program)
        .arg("get")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
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
    if let Some(mut stdin) = child.stdin.take() {
        let _ = stdin.write_all(helper_server(key).as_bytes());
    }
    let started = Instant::now();
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if started.elapsed() > HELPER_TIMEOUT => {
                let _ = child.kill();
                let _ = child.wait();
                warnings.push(format!(
                    "credential helper `{program}` for {key} did not answer within {} s; going on without credentials",
                    HELPER_TIMEOUT.as_secs()
                ));
                return None;
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(10)),
            Err(e) => {
                warnings.push(format!("credential helper `{program}` failed: {e}"));
                return None;
            }
        }
    };
    let mut out = String::new();
    let mut err = String::new();
    if let Some(mut s) = child.stdout.take() {
        let _ = s.read_to_string(&mut out);
    }
    if let Some(mut s) = child.stderr.take() {
        let _ = s.read_to_string(&mut err);
    }
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

/// Standard base64 (with or without padding), for `auth` entries.
pub fn base64_decode(s: &str) -> Option<Vec<u8>> {
    let val = |c: u8| -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' | b'-' => 62,
            b'/' | b'_' => 63,
            _ => return None,
        } as u32)
    };
    let bytes: Vec<u8> = s.trim().bytes().filter(|b| *b != b'=').collect();
    let mut out = Vec::with_capacity(bytes.len() * 3 / 4);
    for chunk in bytes.chunks(4) {
        let mut acc = 0u32;
        for (i, b) in chunk.iter().enumerate() {
            acc |= val(*b)? << (18 - 6 * i);
        }
        let n = match chunk.len() {
            4 => 3,
            3 => 2,
            2 => 1,
            _ => return None,
        };
        out.extend_from_slice(&acc.to_be_bytes()[1..1 + n]);
    }
    Some(out)
}

/// Standard base64 with padding, for `Authorization: Basic`.
pub fn base64_encode(data: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = u32::from_be_bytes([0, b[0], b[1], b[2]]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
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

    fn sources(dir: &Path, config: &str) -> Sources {
        let path = dir.join("config.json");
        std::fs::write(&path, config).unwrap();
        Sources {
            explicit: None,
            docker_config: Some(path),
            podman_auth: None,
        }
    }

    #[test]
    fn docker_config_entries() {
        let dir = tempfile::tempdir().unwrap();
        let s = sources(
            dir.path(),
            r#"{"auths":{"https://index.docker.io/v1/":{"auth":"YWxpY2U6d29uZGVy"},
                "reg.example:5000":{"identitytoken":"tok"},"empty.example":{}}}"#,
        );
        let (found, w) = s.lookup("docker.io");
        assert!(w.is_empty());
        assert_eq!(
            found.unwrap().credentials,
            Credentials::Basic {
                username: "alice".into(),
                password: Secret::new("wonder")
            }
        );
        let (found, _) = s.lookup("reg.example:5000");
        assert!(matches!(
            found.unwrap().credentials,
            Credentials::IdentityToken { .. }
        ));
        assert_eq!(s.lookup("empty.example").0, None);
        assert_eq!(s.lookup("other.example").0, None);
    }

    #[test]
    fn missing_helpers_warn_and_fall_through() {
        let dir = tempfile::tempdir().unwrap();
        let s = sources(
            dir.path(),
            r#"{"credsStore":"layerget-test-no-such-helper"}"#,
        );
        let (found, warnings) = s.lookup("ghcr.io");
        assert_eq!(found, None);
        assert_eq!(warnings.len(), 1);
        assert!(
            warnings[0].contains("docker-credential-layerget-test-no-such-helper"),
            "{warnings:?}"
        );
        let s = sources(dir.path(), "{not json");
        let (found, warnings) = s.lookup("ghcr.io");
        assert_eq!(found, None);
        assert!(warnings[0].contains("not valid JSON"));
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
