//! The optional config file: per-registry connection settings.
//!
//! `$XDG_CONFIG_HOME/layerget/config.toml` (through `directories`), or the file named by
//! `LAYERGET_CONFIG`. Flags win over the file: a flag applies to every registry, the file to the
//! registry it names.
//!
//! ```toml
//! [registry."registry.internal:5443"]
//! ca-file = "/etc/ssl/internal-ca.pem"
//!
//! [registry."127.0.0.1:5000"]
//! insecure = true        # or plain-http = true
//!
//! [registry."docker.io"]
//! mirrors = ["https://mirror.internal", "http://10.0.0.5:5000/hub"]   # tried in order
//! ```
//!
//! A mirror is a base URL ([`Mirror`]): `http(s)://host[:port][/prefix]`. Its credentials,
//! TLS exceptions and connection pools are those of its own host (a `[registry."host:port"]`
//! entry of its own), never the registry's.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::exit::Category;
use crate::reference::{ReferenceError, Registry};

/// Connection settings for one registry.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RegistrySettings {
    /// Extra trusted roots (PEM); implies https.
    pub ca_file: Option<PathBuf>,
    /// Accept any certificate; implies https.
    #[serde(default)]
    pub insecure: bool,
    /// Speak plain http.
    #[serde(default)]
    pub plain_http: bool,
    /// Mirrors tried in order for blobs and manifests by digest, before the registry itself.
    #[serde(default)]
    pub mirrors: Vec<Mirror>,
}

/// A mirror of a registry: the base URL its `/v2/` API lives under, `http(s)://host[:port]`
/// with an optional path prefix (`https://proxy.example/hub` serves
/// `https://proxy.example/hub/v2/…`, as containerd's `hosts.toml` and
/// `layerget serve --upstream` prefixes allow). Parsed from flags and the config file, so every
/// rule is checked here: no user info (credentials in a URL end up in logs: they come from the
/// mirror host's own credential sources), no query or fragment.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Deserialize)]
#[serde(try_from = "String")]
pub struct Mirror(reqwest::Url);

/// Why a mirror URL is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "invalid mirror `{given}`: {reason}\nhint: a mirror looks like `https://mirror.example` or `http://127.0.0.1:5000/prefix`"
)]
pub struct MirrorError {
    /// What was given (control characters escaped).
    pub given: String,
    /// What is wrong with it.
    pub reason: &'static str,
}

impl Mirror {
    /// Parses and validates a mirror URL.
    pub fn parse(s: &str) -> Result<Mirror, MirrorError> {
        let fail = |reason| MirrorError {
            given: crate::text::sanitize(s, crate::text::Lines::Escape).into_owned(),
            reason,
        };
        let mut url = reqwest::Url::parse(s).map_err(|_| fail("not a URL"))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(fail("the scheme must be http or https"));
        }
        if url.host_str().is_none_or(str::is_empty) {
            return Err(fail("no host"));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(fail(
                "credentials do not belong in the URL (they come from docker login for the mirror's host)",
            ));
        }
        if url.query().is_some() || url.fragment().is_some() {
            return Err(fail("a mirror URL has no query or fragment"));
        }
        // `/v2/` is appended to the prefix; a trailing `/` keeps the last segment of it.
        if !url.path().ends_with('/') {
            let path = format!("{}/", url.path());
            url.set_path(&path);
        }
        Ok(Mirror(url))
    }

    /// The base URL (ends with `/`).
    pub fn base(&self) -> &reqwest::Url {
        &self.0
    }

    /// `host[:port]`: the name its credentials and config-file settings are looked up by.
    pub fn host_port(&self) -> String {
        let host = self.0.host_str().unwrap_or_default();
        match self.0.port() {
            Some(port) => format!("{host}:{port}"),
            None => host.to_owned(),
        }
    }
}

impl TryFrom<String> for Mirror {
    type Error = MirrorError;
    fn try_from(s: String) -> Result<Mirror, MirrorError> {
        Mirror::parse(&s)
    }
}

impl std::str::FromStr for Mirror {
    type Err = MirrorError;
    fn from_str(s: &str) -> Result<Mirror, MirrorError> {
        Mirror::parse(s)
    }
}

impl fmt::Display for Mirror {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Validated: no user info and no query, so nothing to redact.
        f.write_str(self.0.as_str().trim_end_matches('/'))
    }
}

/// The whole file.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Settings by registry (`host[:port]` as in references).
    #[serde(default)]
    pub registry: BTreeMap<String, RegistrySettings>,
}

/// Why the config file cannot be used. Each variant names the file and keeps the cause as
/// its source (the printed chain shows both); all are usage errors (exit 2).
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// It cannot be read.
    #[error("cannot read the config file `{}`", .path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// It is not TOML of the expected shape.
    #[error("invalid config file `{}`", .path.display())]
    Syntax {
        /// The file.
        path: PathBuf,
        /// The TOML parser's error (with line and column).
        source: TomlError,
    },
    /// A `[registry."…"]` table names no valid registry.
    #[error("invalid config file `{}`", .path.display())]
    Registry {
        /// The file.
        path: PathBuf,
        /// What is wrong with the name.
        source: ReferenceError,
    },
}

impl ConfigError {
    /// The error's category (and so exit code): the user's file is wrong.
    pub fn category(&self) -> Category {
        Category::Usage
    }
}

/// A TOML parse error, shown on one line (the parser's own text spans several, with a
/// snippet of the file).
#[derive(Debug)]
pub struct TomlError(pub toml::de::Error);

impl fmt::Display for TomlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0.to_string().trim().replace('\n', " "))
    }
}

impl std::error::Error for TomlError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        // The one-line text above already is the parser's message; its own source (if any)
        // is the next link.
        std::error::Error::source(&self.0)
    }
}

impl Config {
    /// Parses the file's text; `path` is for messages and for resolving relative `ca-file`
    /// paths (relative to the file's directory).
    pub fn parse(text: &str, path: &Path) -> Result<Config, ConfigError> {
        let mut config: Config = toml::from_str(text).map_err(|e| ConfigError::Syntax {
            path: path.to_owned(),
            source: TomlError(e),
        })?;
        let base = path.parent().unwrap_or(Path::new("."));
        for (name, settings) in &mut config.registry {
            Registry::parse(name).map_err(|source| ConfigError::Registry {
                path: path.to_owned(),
                source,
            })?;
            if let Some(ca) = &settings.ca_file
                && ca.is_relative()
            {
                settings.ca_file = Some(base.join(ca));
            }
        }
        Ok(config)
    }

    /// Loads the file at `LAYERGET_CONFIG`, else the user config dir's `config.toml`; a missing
    /// default file is an empty config, a missing `LAYERGET_CONFIG` file an error.
    pub fn load() -> Result<Config, ConfigError> {
        let (path, must_exist) = match std::env::var_os("LAYERGET_CONFIG") {
            Some(p) => (PathBuf::from(p), true),
            None => match directories::ProjectDirs::from("", "", "layerget") {
                Some(d) => (d.config_dir().join("config.toml"), false),
                None => return Ok(Config::default()),
            },
        };
        match std::fs::read_to_string(&path) {
            Ok(text) => Config::parse(&text, &path),
            Err(e) if !must_exist && default_is_absent(&path, &e) => Ok(Config::default()),
            Err(source) => Err(ConfigError::Read { path, source }),
        }
    }
}

/// Whether a failure to read the default config file means there is none to read: it does
/// not exist, a parent is not a directory, or a parent cannot be read (an unreadable `$HOME`),
/// so nobody could have put one there for us. A file that is there and unreadable is an error.
fn default_is_absent(path: &Path, e: &std::io::Error) -> bool {
    use std::io::ErrorKind;
    match e.kind() {
        ErrorKind::NotFound | ErrorKind::NotADirectory => true,
        ErrorKind::PermissionDenied => path
            .parent()
            .is_some_and(|dir| std::fs::read_dir(dir).is_err()),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mirror_urls() {
        let good = [
            ("https://m.example", "https://m.example/", "m.example"),
            (
                "http://127.0.0.1:5001/hub",
                "http://127.0.0.1:5001/hub/",
                "127.0.0.1:5001",
            ),
            (
                "http://[::1]:5001/a/b/",
                "http://[::1]:5001/a/b/",
                "[::1]:5001",
            ),
            ("HTTPS://M.example:443/", "https://m.example/", "m.example"),
        ];
        for (given, base, host) in good {
            let m = Mirror::parse(given).unwrap();
            assert_eq!(m.base().as_str(), base, "{given}");
            assert_eq!(m.host_port(), host, "{given}");
            // Display gives back what parses to the same mirror.
            assert_eq!(Mirror::parse(&m.to_string()).unwrap(), m, "{given}");
        }
        let bad = [
            ("m.example", "not a URL"),
            ("ftp://m.example", "the scheme"),
            ("file:///tmp", "the scheme"),
            ("http://user:pw@m.example", "credentials"),
            ("http://m.example/?ns=docker.io", "no query"),
            ("http://m.example/#x", "no query"),
            ("http://", "not a URL"),
        ];
        for (given, want) in bad {
            let e = Mirror::parse(given).unwrap_err();
            assert!(e.to_string().contains(want), "{given}: {e}");
        }
        // Control characters of a hostile value are escaped in the message.
        let e = Mirror::parse("http://a\u{1b}[31m/")
            .unwrap_err()
            .to_string();
        assert!(!e.contains('\u{1b}'), "{e:?}");
    }

    #[test]
    fn parses_registry_tables() {
        let c = Config::parse(
            r#"
            [registry."reg.internal:5443"]
            ca-file = "certs/ca.pem"
            [registry."127.0.0.1:5000"]
            insecure = true
            [registry.localhost]
            plain-http = true
            "#,
            Path::new("/etc/layerget/config.toml"),
        )
        .unwrap();
        assert_eq!(
            c.registry["reg.internal:5443"].ca_file.as_deref(),
            Some(Path::new("/etc/layerget/certs/ca.pem"))
        );
        assert!(c.registry["127.0.0.1:5000"].insecure);
        assert!(c.registry["localhost"].plain_http);
        assert!(c.registry["localhost"].mirrors.is_empty());
        let c = Config::parse(
            "[registry.\"docker.io\"]\nmirrors = [\"https://m.example\", \"http://127.0.0.1:5001/hub\"]",
            Path::new("c.toml"),
        )
        .unwrap();
        let mirrors: Vec<String> = c.registry["docker.io"]
            .mirrors
            .iter()
            .map(|m| m.base().to_string())
            .collect();
        assert_eq!(
            mirrors,
            ["https://m.example/", "http://127.0.0.1:5001/hub/"]
        );
        assert_eq!(
            Config::parse("", Path::new("x")).unwrap(),
            Config::default()
        );
    }

    #[test]
    fn rejects_what_it_does_not_understand() {
        for (text, want) in [
            ("[registry.\"a.b\"]\ninsecur = true", "unknown field"),
            ("[registries]", "unknown field"),
            ("[registry.\"a.b\"]\ninsecure = \"yes\"", "invalid type"),
            ("[registry.\"bad host!\"]", "invalid registry host"),
            ("[registry", "invalid config file"),
            (
                "[registry.\"a.b\"]\nmirrors = [\"ftp://m\"]",
                "invalid mirror `ftp://m`",
            ),
            ("[registry.\"a.b\"]\nmirrors = \"http://m\"", "invalid type"),
        ] {
            let err = Config::parse(text, Path::new("c.toml")).unwrap_err();
            assert_eq!(err.category(), Category::Usage);
            // What the user reads: the whole chain, as `main` prints it.
            let err = crate::output::error_chain(&anyhow::Error::new(err));
            assert!(err.contains(want), "{text:?}: {err}");
            assert!(!err.contains('\n'), "{text:?}: {err}");
        }
    }
}
