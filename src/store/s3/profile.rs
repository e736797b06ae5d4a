//! AWS shared config and credentials files (`~/.aws/config`, `~/.aws/credentials`), read the
//! way the AWS CLI reads them, for an S3 cache whose credentials are not in the environment.
//! `object_store` reads only the environment variables; this module fills in what they leave
//! out, and leaves the signing, and every other credential source, to it.
//!
//! The rules followed (AWS CLI v2, "Configuration and credential file settings"):
//!
//! - The profile is `AWS_PROFILE`, else `default`.
//! - The files are `AWS_SHARED_CREDENTIALS_FILE` (else `~/.aws/credentials`) and
//!   `AWS_CONFIG_FILE` (else `~/.aws/config`). A missing file is no error.
//! - In the credentials file a profile is `[name]`; in the config file it is `[profile name]`,
//!   except `[default]` (`[profile default]` is accepted too). Keys found in the credentials
//!   file win over the config file's.
//! - Environment variables win over both: `AWS_ACCESS_KEY_ID` with `AWS_SECRET_ACCESS_KEY`
//!   (and `AWS_SESSION_TOKEN`), `AWS_REGION` or `AWS_DEFAULT_REGION`, and `AWS_ENDPOINT_URL`.
//! - A profile named by `AWS_PROFILE` that neither file has is an error, as is one that gets
//!   its keys some way layerget does not follow (`credential_process`, SSO, `role_arn`,
//!   `web_identity_token_file`): saying so beats signing with no keys.
//!
//! Parsing is pure (text in, sections out) so that it is tested with tables; [`resolve`] takes
//! the environment and the file reader as functions for the same reason.

use std::collections::HashMap;
use std::io;
use std::path::{Path, PathBuf};

/// What a profile (with the environment over it) says; `None` where neither says anything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Profile {
    /// The profile's name (for messages).
    pub name: String,
    /// The access key id and secret, when they come from a file (not the environment).
    pub keys: Option<(String, String)>,
    /// The session token that goes with `keys`.
    pub token: Option<String>,
    /// The region, when it comes from the config file.
    pub region: Option<String>,
    /// The endpoint (`endpoint_url`), when it comes from the config file.
    pub endpoint: Option<String>,
}

/// Why the profile cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ProfileError {
    /// A file exists but cannot be read.
    #[error("cannot read `{}`: {source}", .path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: io::Error,
    },
    /// A line that is neither a section, a setting, a comment nor blank.
    #[error("`{}` line {line}: not `[section]` or `key = value`", .path.display())]
    Syntax {
        /// The file.
        path: PathBuf,
        /// Its line number, from 1.
        line: usize,
    },
    /// `AWS_PROFILE` names a profile neither file has.
    #[error("the AWS profile `{name}` (AWS_PROFILE) is in neither `{}` nor `{}`", .credentials.display(), .config.display())]
    NotFound {
        /// The profile.
        name: String,
        /// The credentials file looked in.
        credentials: PathBuf,
        /// The config file looked in.
        config: PathBuf,
    },
    /// The profile has one of its two keys only.
    #[error("the AWS profile `{name}` has `{has}` but not `{missing}`")]
    HalfKey {
        /// The profile.
        name: String,
        /// The key it has.
        has: &'static str,
        /// The key it lacks.
        missing: &'static str,
    },
    /// The profile gets its credentials in a way layerget does not follow.
    #[error(
        "the AWS profile `{name}` gets its credentials through `{setting}`, which layerget does not follow; give it `aws_access_key_id` and `aws_secret_access_key`, or set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"
    )]
    Unsupported {
        /// The profile.
        name: String,
        /// The setting (`credential_process`, `sso_session`…).
        setting: String,
    },
}

/// Settings that hand credentials to a process, SSO or a role: not followed here.
const UNSUPPORTED: &[&str] = &[
    "credential_process",
    "sso_session",
    "sso_start_url",
    "sso_account_id",
    "role_arn",
    "web_identity_token_file",
    "credential_source",
];

/// The sections of an INI-style AWS file: section name → its top-level settings. Keys are
/// lowercased; a nested block (`s3 =` followed by indented lines) is skipped, as its settings
/// belong to one service only.
pub(super) fn parse(
    text: &str,
    path: &Path,
) -> Result<HashMap<String, HashMap<String, String>>, ProfileError> {
    let mut sections: HashMap<String, HashMap<String, String>> = HashMap::new();
    let mut current: Option<String> = None;
    let mut nested = false;
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        let indented = raw.starts_with([' ', '\t']);
        if let Some(name) = line.strip_prefix('[') {
            let name = name.strip_suffix(']').ok_or_else(|| ProfileError::Syntax {
                path: path.to_owned(),
                line: i + 1,
            })?;
            let name = name.trim().to_owned();
            sections.entry(name.clone()).or_default();
            current = Some(name);
            nested = false;
            continue;
        }
        let Some((key, value)) = line.split_once('=') else {
            return Err(ProfileError::Syntax {
                path: path.to_owned(),
                line: i + 1,
            });
        };
        if indented && nested {
            // A setting of the nested block above.
            continue;
        }
        let (key, value) = (key.trim().to_ascii_lowercase(), value.trim());
        nested = value.is_empty();
        let Some(section) = &current else {
            // Settings before any section belong to no profile; the CLI ignores them too.
            continue;
        };
        if !nested {
            sections
                .entry(section.clone())
                .or_default()
                .insert(key, value.to_owned());
        }
    }
    Ok(sections)
}

/// Reads the profile the environment picks. `env` looks a variable up (the process's
/// environment in use); `read` returns a file's text, `None` when it does not exist; `home`
/// is the home directory.
pub fn resolve(
    env: impl Fn(&str) -> Option<String>,
    read: impl Fn(&Path) -> io::Result<Option<String>>,
    home: Option<PathBuf>,
) -> Result<Profile, ProfileError> {
    let set = |name: &str| env(name).filter(|v| !v.is_empty());
    let explicit = set("AWS_PROFILE");
    let name = explicit.clone().unwrap_or_else(|| "default".to_owned());
    // Without a home directory only the files the variables name are read (never a relative
    // `.aws/` of the working directory).
    let aws_dir = home.map(|h| h.join(".aws"));
    let credentials_path = set("AWS_SHARED_CREDENTIALS_FILE")
        .map(PathBuf::from)
        .or_else(|| aws_dir.as_ref().map(|d| d.join("credentials")));
    let config_path = set("AWS_CONFIG_FILE")
        .map(PathBuf::from)
        .or_else(|| aws_dir.as_ref().map(|d| d.join("config")));
    let load =
        |path: &Option<PathBuf>| -> Result<Option<HashMap<String, HashMap<String, String>>>, _> {
            let Some(path) = path else {
                return Ok(None);
            };
            match read(path) {
                Ok(Some(text)) => parse(&text, path).map(Some),
                Ok(None) => Ok(None),
                Err(source) => Err(ProfileError::Read {
                    path: path.to_owned(),
                    source,
                }),
            }
        };
    let credentials = load(&credentials_path)?
        .and_then(|mut s| s.remove(&name))
        .map(|s| (s, "credentials"));
    let config = load(&config_path)?.and_then(|mut s| {
        let plain = s.remove(&format!("profile {name}"));
        // `[default]` is the config file's spelling of the default profile.
        plain.or_else(|| (name == "default").then(|| s.remove("default")).flatten())
    });
    if credentials.is_none() && config.is_none() {
        if explicit.is_some() {
            let unset = || PathBuf::from("(no home directory)");
            return Err(ProfileError::NotFound {
                name,
                credentials: credentials_path.unwrap_or_else(unset),
                config: config_path.unwrap_or_else(unset),
            });
        }
        return Ok(Profile {
            name,
            ..Profile::default()
        });
    }
    let (credentials, config) = (
        credentials.map(|(s, _)| s).unwrap_or_default(),
        config.unwrap_or_default(),
    );
    // The credentials file's keys win; the config file's are used when it has none.
    let from = if credentials.contains_key("aws_access_key_id")
        || credentials.contains_key("aws_secret_access_key")
    {
        &credentials
    } else {
        &config
    };
    let get = |key: &str| from.get(key).filter(|v| !v.is_empty()).cloned();
    let keys = match (get("aws_access_key_id"), get("aws_secret_access_key")) {
        (Some(id), Some(secret)) => Some((id, secret)),
        (Some(_), None) => {
            return Err(ProfileError::HalfKey {
                name,
                has: "aws_access_key_id",
                missing: "aws_secret_access_key",
            });
        }
        (None, Some(_)) => {
            return Err(ProfileError::HalfKey {
                name,
                has: "aws_secret_access_key",
                missing: "aws_access_key_id",
            });
        }
        (None, None) => None,
    };
    let env_keys = set("AWS_ACCESS_KEY_ID").is_some() && set("AWS_SECRET_ACCESS_KEY").is_some();
    if keys.is_none() && !env_keys {
        let other = credentials.keys().chain(config.keys());
        if let Some(setting) = other
            .filter(|k| UNSUPPORTED.contains(&k.as_str()))
            .min()
            .cloned()
        {
            return Err(ProfileError::Unsupported { name, setting });
        }
    }
    let token = keys.as_ref().and_then(|_| get("aws_session_token"));
    let region = config.get("region").filter(|v| !v.is_empty()).cloned();
    let endpoint = config
        .get("endpoint_url")
        .filter(|v| !v.is_empty())
        .cloned();
    Ok(Profile {
        // The environment's settings win over the files'.
        keys: keys.filter(|_| !env_keys),
        token: token.filter(|_| !env_keys),
        region: region
            .filter(|_| set("AWS_REGION").is_none() && set("AWS_DEFAULT_REGION").is_none()),
        endpoint: endpoint.filter(|_| set("AWS_ENDPOINT_URL").is_none()),
        name,
    })
}

/// [`resolve`] on this process's environment and file system.
pub fn from_env() -> Result<Profile, ProfileError> {
    resolve(
        |name| std::env::var(name).ok(),
        |path| match std::fs::read_to_string(path) {
            Ok(text) => Ok(Some(text)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        },
        std::env::var_os("HOME").map(PathBuf::from),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Resolves with `vars` as the environment and `files` (path → text) as the disk.
    fn run(vars: &[(&str, &str)], files: &[(&str, &str)]) -> Result<Profile, ProfileError> {
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        let files: HashMap<PathBuf, String> = files
            .iter()
            .map(|(k, v)| (PathBuf::from(k), (*v).to_owned()))
            .collect();
        resolve(
            |k| vars.get(k).cloned(),
            |p| Ok(files.get(p).cloned()),
            Some(PathBuf::from("/home/u")),
        )
    }

    const CREDS: &str = "/home/u/.aws/credentials";
    const CONFIG: &str = "/home/u/.aws/config";

    #[test]
    fn default_profile_from_both_files() {
        let p = run(
            &[],
            &[
                (
                    CREDS,
                    "# mine\n[default]\naws_access_key_id = AKID\naws_secret_access_key=SECRET\n\
                     aws_session_token = TOK\n\n[other]\naws_access_key_id = X\n",
                ),
                (
                    CONFIG,
                    "[default]\nregion = eu-west-1\ns3 =\n  endpoint_url = http://nested\n\
                     endpoint_url = http://127.0.0.1:3900\n[profile other]\nregion = us-east-2\n",
                ),
            ],
        )
        .unwrap();
        assert_eq!(
            p,
            Profile {
                name: "default".into(),
                keys: Some(("AKID".into(), "SECRET".into())),
                token: Some("TOK".into()),
                region: Some("eu-west-1".into()),
                endpoint: Some("http://127.0.0.1:3900".into()),
            }
        );
    }

    #[test]
    fn aws_profile_and_file_variables_pick_the_profile_and_files() {
        let p = run(
            &[
                ("AWS_PROFILE", "team"),
                ("AWS_SHARED_CREDENTIALS_FILE", "/etc/c"),
                ("AWS_CONFIG_FILE", "/etc/f"),
            ],
            &[
                (CREDS, "[team]\naws_access_key_id = WRONG\naws_secret_access_key = W\n"),
                ("/etc/c", "[default]\naws_access_key_id = D\naws_secret_access_key = D\n"),
                (
                    "/etc/f",
                    "[profile team]\nregion = garage\naws_access_key_id = T\naws_secret_access_key = TS\n",
                ),
            ],
        )
        .unwrap();
        // Only the config file has `team`: its keys are used.
        assert_eq!(p.keys, Some(("T".into(), "TS".into())));
        assert_eq!(p.region.as_deref(), Some("garage"));
        assert_eq!(p.name, "team");
        // `[team]` in the config file is not `[profile team]`.
        let p = run(
            &[("AWS_PROFILE", "team")],
            &[(CONFIG, "[team]\nregion = x\n[profile team]\nregion = y\n")],
        )
        .unwrap();
        assert_eq!(p.region.as_deref(), Some("y"));
    }

    #[test]
    fn the_environment_wins() {
        let files = [
            (
                CREDS,
                "[default]\naws_access_key_id = FILE\naws_secret_access_key = FILE\naws_session_token = T\n",
            ),
            (
                CONFIG,
                "[default]\nregion = file-region\nendpoint_url = http://file\n",
            ),
        ];
        let p = run(
            &[
                ("AWS_ACCESS_KEY_ID", "ENV"),
                ("AWS_SECRET_ACCESS_KEY", "ENV"),
                ("AWS_DEFAULT_REGION", "env-region"),
                ("AWS_ENDPOINT_URL", "http://env"),
            ],
            &files,
        )
        .unwrap();
        assert_eq!(
            (p.keys, p.token, p.region, p.endpoint),
            (None, None, None, None)
        );
        // An id alone in the environment is no key pair: the file's are used.
        let p = run(&[("AWS_ACCESS_KEY_ID", "ENV"), ("AWS_REGION", "r")], &files).unwrap();
        assert_eq!(p.keys, Some(("FILE".into(), "FILE".into())));
        assert_eq!(p.region, None);
        // The credentials file wins over the config file's keys.
        let p = run(
            &[],
            &[
                (
                    CREDS,
                    "[default]\naws_access_key_id = C\naws_secret_access_key = C\n",
                ),
                (
                    CONFIG,
                    "[default]\naws_access_key_id = F\naws_secret_access_key = F\n",
                ),
            ],
        )
        .unwrap();
        assert_eq!(p.keys, Some(("C".into(), "C".into())));
    }

    #[test]
    fn nothing_there_is_no_error_unless_a_profile_was_named() {
        let p = run(&[], &[]).unwrap();
        assert_eq!(
            p,
            Profile {
                name: "default".into(),
                ..Profile::default()
            }
        );
        let e = run(&[("AWS_PROFILE", "gone")], &[(CONFIG, "[default]\n")]).unwrap_err();
        assert_eq!(
            e.to_string(),
            "the AWS profile `gone` (AWS_PROFILE) is in neither `/home/u/.aws/credentials` nor `/home/u/.aws/config`"
        );
    }

    #[test]
    fn bad_profiles_say_what_is_wrong() {
        let cases: &[(&str, &str, &str)] = &[
            (
                CREDS,
                "[default]\naws_access_key_id = A\n",
                "has `aws_access_key_id` but not `aws_secret_access_key`",
            ),
            (
                CREDS,
                "[default]\naws_secret_access_key = A\n",
                "has `aws_secret_access_key` but not `aws_access_key_id`",
            ),
            (
                CONFIG,
                "[default]\ncredential_process = /bin/creds\n",
                "through `credential_process`",
            ),
            (
                CONFIG,
                "[default]\nrole_arn = arn:x\nsource_profile = b\n",
                "through `role_arn`",
            ),
            (
                CREDS,
                "[default\naws_access_key_id = A\n",
                "line 1: not `[section]`",
            ),
            (CREDS, "[default]\njust words\n", "line 2: not `[section]`"),
        ];
        for (file, text, want) in cases {
            let e = run(&[], &[(file, text)]).unwrap_err().to_string();
            assert!(e.contains(want), "{text:?}: {e}");
        }
        // A process profile is fine when the environment has the keys.
        let p = run(
            &[("AWS_ACCESS_KEY_ID", "E"), ("AWS_SECRET_ACCESS_KEY", "E")],
            &[(
                CONFIG,
                "[default]\ncredential_process = /bin/creds\nregion = r\n",
            )],
        )
        .unwrap();
        assert_eq!(p.region.as_deref(), Some("r"));
    }

    #[test]
    fn no_home_reads_only_the_named_files() {
        let read = |p: &Path| -> io::Result<Option<String>> {
            assert!(p.is_absolute(), "read {}", p.display());
            Ok((p == Path::new("/etc/c"))
                .then(|| "[default]\naws_access_key_id = A\naws_secret_access_key = B\n".into()))
        };
        let p = resolve(|_| None, read, None).unwrap();
        assert_eq!(p.keys, None);
        let env = |k: &str| (k == "AWS_SHARED_CREDENTIALS_FILE").then(|| "/etc/c".to_owned());
        let p = resolve(env, read, None).unwrap();
        assert_eq!(p.keys, Some(("A".into(), "B".into())));
    }

    #[test]
    fn hostile_text_never_panics() {
        for text in [
            "[",
            "]",
            "=",
            "[]\n=\n",
            " = x",
            "[a]\n\t=\n\t\t=",
            "\u{0}[\u{fffd}]=\u{7f}",
        ] {
            let _ = parse(text, Path::new("/x"));
        }
    }
}
