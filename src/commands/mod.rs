//! The subcommands. Each gets plain, validated settings and a [`Printer`], does its work through
//! the library, and reports per-item results itself; [`run`] dispatches and [`category_of`]
//! turns any error into the category that decides the exit code.

mod cache;
mod copy;
mod fetch;
mod generate;
mod head;
mod place;
mod pull;
mod push;
mod serve;
mod sync;

use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context as _;

use crate::cli::{Cli, Command};
use crate::client::credentials::{Credentials, Explicit, Found, Secret, normalize};
use crate::client::retry::RetryPolicy;
use crate::client::{ClientOptions, MirrorOptions, RegistryError};
use crate::config::ConfigError;
use crate::digest::DigestError;
use crate::exit::Category;
use crate::manifest::PlatformError;
use crate::output::Printer;
use crate::reference::{Reference, ReferenceError, Registry};
use crate::store::StoreError;
use crate::transfer::TransferError;

pub use fetch::{FetchSettings, OutputTarget};
pub use pull::{PullSettings, parse_image_reference};

/// Bad arguments found after parsing (exit 2).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

/// `--registry-auth` (or `LAYERGET_REGISTRY_AUTH`) names no registry (exit 2). The parse
/// error is kept, and shown inline because the hint must come after it (so it is not also
/// the source, which would print it twice).
#[derive(Debug, thiserror::Error)]
#[error(
    "--registry-auth: {0}\nhint: name the registry as in a REF, e.g. `ghcr.io` or `127.0.0.1:5000`"
)]
pub struct RegistryAuthError(pub ReferenceError);

impl RegistryAuthError {
    /// The error's category (and so exit code): a bad flag value.
    pub fn category(&self) -> Category {
        Category::Usage
    }
}

/// Something asked for is not in the cache (exit 3).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct NotFoundError(pub String);

/// How a command ended when it did not fail as a whole.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Everything worked.
    Success,
    /// Some items failed and were reported; exit with this category's code.
    Failed(Category),
}

/// Settings every command shares.
#[derive(Debug, Clone)]
pub struct Common {
    /// The cache root: a directory, or `s3://bucket/prefix` (see `Common::s3_config`).
    pub cache_dir: PathBuf,
    /// `--s3-endpoint` (or its variables).
    pub s3_endpoint: Option<String>,
    /// `--s3-path-style`.
    pub s3_path_style: bool,
    /// `--json` output.
    pub json: bool,
    /// How to reach registries.
    pub client: ClientOptions,
    /// When to try again.
    pub retry: RetryPolicy,
}

impl Common {
    /// Opens the cache (a directory or an `s3://` bucket) for a command that puts content into
    /// it (`fetch`, `pull`, `copy`), creating it if needed. A local cache is held with the
    /// cache-wide lock shared until the store is dropped: `cache gc`, `prune` and `rm` (which
    /// hold it exclusively) then never remove a blob between its commit and its use. Says so
    /// once if such a command holds the cache and this one waits.
    pub(crate) async fn open_any_store_shared(
        &self,
        printer: &Printer,
    ) -> anyhow::Result<crate::store::AnyStore> {
        self.open_store(printer, true).await
    }

    /// [`Common::open_any_store_shared`] for a command that only reads a cache that must exist
    /// (`push`, `sync`): a missing cache (or a bucket prefix without a layout) is an error, not
    /// an empty new one.
    pub(crate) async fn open_existing_store_shared(
        &self,
        printer: &Printer,
    ) -> anyhow::Result<crate::store::AnyStore> {
        self.open_store(printer, false).await
    }

    /// The S3 store `dir` names (`s3://bucket/prefix`), with the endpoint options; `None`
    /// for a directory.
    pub(crate) fn s3_config(&self, dir: &Path) -> Option<anyhow::Result<crate::store::S3Config>> {
        let text = dir.to_str()?;
        Some(match crate::store::S3Config::parse_url(text)? {
            Ok(mut config) => {
                config.endpoint = self.s3_endpoint.clone();
                config.path_style = self.s3_path_style;
                Ok(config)
            }
            Err(e) => Err(UsageError(e).into()),
        })
    }

    /// Opens the S3 store `config` names (creating its layout marker with `create`).
    pub(crate) async fn open_s3(
        config: crate::store::S3Config,
        create: bool,
    ) -> anyhow::Result<crate::store::S3Store> {
        let url = config.url();
        crate::store::S3Store::open(config, create)
            .await
            .with_context(|| format!("opening the cache `{url}`"))
    }

    /// Opens the cache (either kind). An S3 cache has no cache-wide lock: `cache gc` there
    /// removes only what is old enough (see the README), so nothing waits.
    async fn open_store(
        &self,
        printer: &Printer,
        create: bool,
    ) -> anyhow::Result<crate::store::AnyStore> {
        use crate::store::{AnyStore, CacheLockMode, Store};
        if let Some(config) = self.s3_config(&self.cache_dir) {
            return Ok(AnyStore::S3(Common::open_s3(config?, create).await?));
        }
        let waiting =
            || printer.info("waiting for a `layerget cache` command that holds the cache");
        let dir = &self.cache_dir;
        let opened = if create {
            Store::open_for(dir, CacheLockMode::Shared, waiting).await
        } else {
            Store::open_existing_for(dir, CacheLockMode::Shared, waiting).await
        };
        opened
            .map(AnyStore::Local)
            .with_context(|| format!("opening the cache `{}`", dir.display()))
    }
}

/// Explicit credentials: `--username` with `--password-stdin` (or `LAYERGET_PASSWORD`), else
/// `LAYERGET_USERNAME` with `LAYERGET_PASSWORD`.
fn explicit_credentials(g: &crate::cli::RegistryArgs) -> anyhow::Result<Option<Found>> {
    let env = |name| std::env::var(name).ok().filter(|v: &String| !v.is_empty());
    let (username, password, source) = match &g.username {
        Some(user) if g.password_stdin => {
            let mut password = String::new();
            std::io::stdin()
                .read_to_string(&mut password)
                .context("reading the password from stdin")?;
            // One trailing newline is the shell's, not the password's (as docker does).
            let password = password
                .strip_suffix("\r\n")
                .or_else(|| password.strip_suffix('\n'))
                .unwrap_or(&password)
                .to_owned();
            (user.clone(), password, "--username and --password-stdin")
        }
        Some(user) => match env("LAYERGET_PASSWORD") {
            Some(p) => (user.clone(), p, "--username and LAYERGET_PASSWORD"),
            None => {
                return Err(UsageError(
                    "--username needs a password: pass --password-stdin or set LAYERGET_PASSWORD"
                        .into(),
                )
                .into());
            }
        },
        None => match (env("LAYERGET_USERNAME"), env("LAYERGET_PASSWORD")) {
            (Some(u), Some(p)) => (u, p, "LAYERGET_USERNAME and LAYERGET_PASSWORD"),
            _ => return Ok(None),
        },
    };
    if password.is_empty() {
        return Err(UsageError(format!("the password given for `{username}` is empty")).into());
    }
    Ok(Some(Found {
        credentials: Credentials::Basic {
            username,
            password: Secret::new(password),
        },
        source: source.to_owned(),
    }))
}

/// The registry explicit credentials are for: `--registry-auth HOST`, else the registry of the
/// first REF (as `crane auth login` and `oras login` are per host, one registry per login).
/// Returns it with a warning when the REFs name other registries too, which get docker/podman
/// credentials or none. `None` when the command names no registry (its REFs do not parse: the
/// command itself reports that).
fn credentials_registry(
    g: &crate::cli::RegistryArgs,
    command: &Command,
) -> anyhow::Result<(Option<Registry>, Option<String>)> {
    let registries: Vec<Registry> = command
        .refs()
        .iter()
        .filter_map(|r| r.parse::<Reference>().ok())
        .map(|r| r.registry().clone())
        .collect();
    if let Some(host) = &g.registry_auth {
        // Accept what `docker login` accepts too: `https://host/`, `index.docker.io`.
        let registry = Registry::parse(&normalize(host)).map_err(RegistryAuthError)?;
        let unused = !registries.is_empty()
            && !registries
                .iter()
                .any(|r| normalize(r.as_str()) == normalize(registry.as_str()));
        let warning = unused.then(|| {
            format!("--registry-auth `{registry}` is the registry of no REF: the explicit credentials are not used")
        });
        return Ok((Some(registry), warning));
    }
    let Some(first) = registries.first().cloned() else {
        return Ok((None, None));
    };
    let others: Vec<String> = registries
        .iter()
        .filter(|r| normalize(r.as_str()) != normalize(first.as_str()))
        .map(|r| format!("`{r}`"))
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    let warning = (!others.is_empty()).then(|| {
        format!(
            "the explicit credentials are used for `{first}` (the first REF's registry) only; {} get docker/podman credentials or none (name the registry with --registry-auth HOST)",
            others.join(", ")
        )
    });
    Ok((Some(first), warning))
}

/// The mirror flags of a command that reads content. `--mirror-only` for a REF whose registry
/// has no mirror (no `--mirror`, none in its config-file entry) is refused: it would otherwise
/// go to the registry it says never to use.
fn mirror_options(
    command: &Command,
    registries: &std::collections::BTreeMap<String, crate::config::RegistrySettings>,
) -> Result<MirrorOptions, UsageError> {
    let Some((m, read)) = command.mirrored() else {
        return Ok(MirrorOptions::default());
    };
    let options = MirrorOptions {
        mirrors: m.mirrors.clone(),
        only: m.mirror_only,
        tags: m.mirror_tags,
    };
    if options.only && options.mirrors.is_empty() {
        for given in read {
            // A REF that does not parse is the command's to report.
            let Ok(r) = given.parse::<crate::reference::Reference>() else {
                continue;
            };
            let name = r.registry().as_str();
            if registries.get(name).is_none_or(|s| s.mirrors.is_empty()) {
                return Err(UsageError(format!(
                    "--mirror-only, but `{name}` has no mirror\nhint: give --mirror URL, or `mirrors = [\"URL\"]` under [registry.\"{name}\"] in config.toml"
                )));
            }
        }
    }
    Ok(options)
}

/// Runs the command line.
pub async fn run(mut cli: Cli, printer: &Printer) -> anyhow::Result<Outcome> {
    if let Command::Sync(a) = &mut cli.command {
        // A prefix may be a bare host, which as a reference would be a Docker Hub name: the
        // registry credentials are for is the prefix's (see `SyncArgs::dest_ref`).
        a.dest_ref = format!("{}/sync", a.dest_prefix.trim_end_matches('/'));
    }
    // These only print what the clap definition says: no config file, no credentials.
    match &cli.command {
        Command::Generate(args) => return generate::run(&args.dir).map(|()| Outcome::Success),
        Command::Completions(args) => {
            return generate::completions(args.shell, printer).map(|()| Outcome::Success);
        }
        _ => {}
    }
    let g = cli.global;
    if g.json {
        // Every REF gets one line, even when the command fails before reaching it.
        printer.expect_items(cli.command.refs());
    }
    // A pasted `https://host/name@digest` works; say what became of the scheme.
    // (`head` says it itself.)
    let pasted = match &cli.command {
        Command::Head(_) => &[],
        other => other.refs(),
    };
    for given in pasted {
        if let Some(note) = crate::reference::scheme_note(given) {
            printer.info(&format!("note: {note}"));
        }
    }
    // Registry and transfer options exist on the commands that talk to registries, and before
    // the subcommand; those after it win.
    let (mut r, t) = match cli.command.network() {
        Some((r, t)) => (r.clone().or(cli.registry), t.clone().or(cli.transfer)),
        None => (cli.registry, cli.transfer),
    };
    let env = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty());
    if r.registry_auth.is_none() {
        r.registry_auth = env("LAYERGET_REGISTRY_AUTH").map(|v| v.to_string_lossy().into_owned());
    }
    let cache_dir = g
        .cache_dir
        .clone()
        .or_else(|| env("LAYERGET_CACHE_DIR").map(PathBuf::from));
    if r.insecure {
        printer.warn("--insecure: TLS certificates are not verified; anyone on the path can read and change the traffic");
    }
    let credentials = match explicit_credentials(&r)? {
        None => None,
        Some(found) => match credentials_registry(&r, &cli.command)? {
            (Some(registry), warning) => {
                if let Some(w) = warning {
                    printer.warn(&w);
                }
                Some(Explicit { registry, found })
            }
            (None, _) => None,
        },
    };
    let registries = crate::config::Config::load()?.registry;
    let mirrors = mirror_options(&cli.command, &registries)?;
    let common = || -> anyhow::Result<Common> {
        Ok(Common {
            cache_dir: match cache_dir.clone() {
                Some(dir) => dir,
                None => default_cache_dir()?,
            },
            s3_endpoint: g
                .s3_endpoint
                .clone()
                .or_else(|| env("LAYERGET_S3_ENDPOINT").map(|v| v.to_string_lossy().into_owned()))
                .or_else(|| env("AWS_ENDPOINT_URL").map(|v| v.to_string_lossy().into_owned())),
            s3_path_style: g.s3_path_style
                || env("LAYERGET_S3_PATH_STYLE").is_some_and(|v| v != "0" && v != "false"),
            json: g.json,
            client: ClientOptions {
                plain_http: r.plain_http,
                stall_timeout: Duration::from_secs(t.stall_timeout()),
                credentials: credentials.clone(),
                ca_file: r.ca_file.clone(),
                insecure: r.insecure,
                registries: registries.clone(),
                mirrors: mirrors.clone(),
                ..ClientOptions::default()
            },
            retry: RetryPolicy {
                retries: t.retries(),
                max_wait: Duration::from_secs(t.max_wait()),
                ..RetryPolicy::default()
            },
        })
    };
    match cli.command {
        Command::Fetch(args) => {
            let settings = FetchSettings::from_args(args)?;
            fetch::run(&common()?, settings, printer).await
        }
        Command::Head(args) => {
            head::run(&common()?, &args.reference, args.check_range, printer).await
        }
        Command::Serve(args) => {
            serve::run(&common()?, serve::ServeSettings::from(args), printer).await
        }
        Command::Pull(args) => {
            let settings = PullSettings::from_args(args)?;
            pull::run(&common()?, settings, printer).await
        }
        Command::Push(args) => {
            let common = common()?;
            let settings = push::PushSettings::from_args(args, &common)?;
            push::run(&common, settings, printer).await
        }
        Command::Copy(args) => {
            let common = common()?;
            let settings = copy::CopySettings::from_args(args, &common)?;
            copy::run(&common, settings, printer).await
        }
        Command::Sync(args) => {
            let common = common()?;
            let settings = sync::SyncSettings::from_args(args, &common)?;
            sync::run(&common, settings, printer).await
        }
        Command::Cache(command) => cache::run(&common()?, command, printer).await,
        // Handled above.
        Command::Generate(_) | Command::Completions(_) => Ok(Outcome::Success),
    }
}

/// `~/.cache/layerget` on Linux (the `directories` crate follows XDG).
fn default_cache_dir() -> anyhow::Result<PathBuf> {
    directories::ProjectDirs::from("", "", "layerget")
        .map(|d| d.cache_dir().to_owned())
        .ok_or_else(|| UsageError("cannot find a user cache directory (is HOME set?)\nhint: pass --cache-dir DIR or set LAYERGET_CACHE_DIR".into()))
        .context("choosing the cache directory")
}

/// The category of an error: the first error in the chain that has one decides. Typed errors
/// say which they are in (their `category()`), so a cause is never flattened into a string
/// just to pick an exit code; a bare I/O error is local storage.
pub fn category_of(err: &anyhow::Error) -> Category {
    err.chain()
        .find_map(category_of_cause)
        .unwrap_or(Category::Other)
}

/// The category one link of an error chain claims, if it claims one.
fn category_of_cause(cause: &(dyn std::error::Error + 'static)) -> Option<Category> {
    // Each arm: a type whose `category()` decides.
    macro_rules! by_type {
        ($($ty:ty),* $(,)?) => {
            $(if let Some(e) = cause.downcast_ref::<$ty>() {
                return Some(e.category());
            })*
        };
    }
    by_type!(
        crate::transfer::image::PullError,
        crate::transfer::push::PushError,
        crate::client::UploadError,
        crate::client::manifest::ManifestFetchError,
        TransferError,
        RegistryError,
        StoreError,
        ConfigError,
        PlatformError,
        ReferenceError,
        DigestError,
        RegistryAuthError,
        serve::ServeSetupError,
    );
    if cause.is::<NotFoundError>() {
        return Some(Category::NotFound);
    }
    if cause.is::<UsageError>() {
        return Some(Category::Usage);
    }
    if cause.is::<std::io::Error>() {
        return Some(Category::Storage);
    }
    None
}

/// Shows the `Warning: 299` texts registries sent that were not shown yet (each once per run;
/// the client has escaped their control characters).
pub(crate) fn show_registry_warnings(client: &crate::client::Client, printer: &Printer) {
    for w in client.take_warnings() {
        printer.warn(&format!("the registry says: {w}"));
    }
}

/// Whether the error is a broken pipe on stdout (the reader went away: exit quietly).
pub fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

/// Reports one failed item of a multi-item command: the error on stderr, its `--json` line on
/// stdout, and its category if it is the first failure (whose exit code wins).
pub(crate) fn report_item_error(
    common: &Common,
    given: &str,
    err: &anyhow::Error,
    printer: &Printer,
    first_failure: &mut Option<Category>,
) -> anyhow::Result<()> {
    let category = category_of(err);
    first_failure.get_or_insert(category);
    printer.item_error(given, err, &category);
    if common.json {
        printer.json_line(&json_error(given, err))?;
    }
    Ok(())
}

/// The `error` member of a `--json` line for a failed item.
pub fn json_error(reference: &str, err: &anyhow::Error) -> serde_json::Value {
    let category = category_of(err);
    serde_json::json!({
        "ref": reference,
        "error": {
            "exit_code": category.exit_code(),
            "category": category.as_str(),
            "message": crate::output::error_chain(err),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::HttpSetupError;
    use crate::manifest::PlatformSpec;

    /// The first link that claims a category decides, so a typed error that keeps an I/O
    /// error as its source is still its own category, not local storage.
    #[test]
    fn categories_of_error_chains() {
        let io = || std::io::Error::from(std::io::ErrorKind::NotFound);
        let cases: Vec<(anyhow::Error, Category)> = vec![
            (anyhow::anyhow!("something else"), Category::Other),
            (UsageError("bad flag".into()).into(), Category::Usage),
            (
                NotFoundError("no such tag".into()).into(),
                Category::NotFound,
            ),
            (
                anyhow::Error::new(io()).context("writing"),
                Category::Storage,
            ),
            (
                anyhow::Error::new(crate::config::ConfigError::Read {
                    path: "c.toml".into(),
                    source: io(),
                })
                .context("loading the config"),
                Category::Usage,
            ),
            (
                RegistryError::from(HttpSetupError::ReadCaFile {
                    path: "ca.pem".into(),
                    source: io(),
                })
                .into(),
                Category::Other,
            ),
            (
                "linux".parse::<PlatformSpec>().unwrap_err().into(),
                Category::Usage,
            ),
            ("".parse::<Reference>().unwrap_err().into(), Category::Usage),
            (
                RegistryAuthError(Registry::parse("bad host!").unwrap_err()).into(),
                Category::Usage,
            ),
            (
                "sha256:1"
                    .parse::<crate::digest::Digest>()
                    .unwrap_err()
                    .into(),
                Category::Usage,
            ),
        ];
        for (err, want) in cases {
            assert_eq!(category_of(&err), want, "{err:#}");
        }
    }
}
