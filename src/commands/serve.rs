//! `layerget serve [CACHE_DIR]`: the cache as a read-only registry until SIGINT or SIGTERM.
//! The HTTP side is `server`'s; this opens the cache, binds, reports where it listens, and
//! turns signals into a graceful shutdown.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context as _;

use super::{Common, Outcome, UsageError};
use crate::cli::ServeArgs;
use crate::output::Printer;
use crate::server::{self, Access, Htpasswd, Limits, Writes};
use crate::store::{AnyStore, CacheLockMode, Store};

/// Validated settings for `serve`.
#[derive(Debug, Clone)]
pub struct ServeSettings {
    /// The cache to serve, if given as an argument (else the common cache dir).
    pub dir: Option<PathBuf>,
    /// Where to listen.
    pub listen: SocketAddr,
    /// Abuse limits.
    pub limits: Limits,
    /// TLS certificate chain and key (PEM files), if HTTPS.
    pub tls: Option<(PathBuf, PathBuf)>,
    /// htpasswd file, if authentication is required.
    pub htpasswd: Option<PathBuf>,
    /// Requests that may wait for or run a password check at once.
    pub auth_queue: usize,
    /// What clients may change (issue 11).
    pub writes: Writes,
    /// `--insecure-allow-anonymous-push`: pushes without --htpasswd on a non-loopback address.
    pub insecure_anonymous_push: bool,
    /// `--upstream`: registries a miss is fetched from.
    pub upstreams: Vec<server::Upstream>,
    /// `--tag-ttl`.
    pub tag_ttl: Duration,
    /// `--max-size`: evict down to this many bytes of blobs.
    pub max_size: Option<u64>,
    /// `--redirect`: blob GETs of an S3 cache answer 307 to a presigned URL.
    pub redirect: bool,
}

impl From<ServeArgs> for ServeSettings {
    /// Seconds become durations. The counts are `u32` that clap has bounded (1 and up), so the
    /// casts to `usize` are exact.
    fn from(args: ServeArgs) -> Self {
        ServeSettings {
            dir: args.dir,
            listen: args.listen,
            limits: Limits {
                max_connections: args.max_connections as usize,
                header_timeout: Duration::from_secs(args.header_timeout),
                idle_timeout: Duration::from_secs(args.idle_timeout),
                max_per_ip: args.max_connections_per_ip as usize,
                min_send_rate: args.min_send_rate,
                send_rate_window: Duration::from_secs(args.send_rate_window),
                // No flag for the shutdown grace: the default's 30 s.
                ..Limits::default()
            },
            // clap requires the two together, so one alone never reaches here.
            tls: args.tls_cert.zip(args.tls_key),
            htpasswd: args.htpasswd,
            auth_queue: args.auth_queue as usize,
            writes: Writes {
                push: args.allow_push,
                delete: args.allow_delete,
                anonymous_pull: args.anonymous_pull,
                upload_ttl: args.upload_ttl,
                max_upload_sessions: args.max_upload_sessions as usize,
                max_blob_size: args.max_blob_size,
            },
            insecure_anonymous_push: args.insecure_allow_anonymous_push,
            upstreams: args.upstream,
            tag_ttl: args.tag_ttl,
            max_size: args.max_size,
            redirect: args.redirect,
        }
    }
}

/// Runs `serve` until a signal asks it to stop; in-flight responses are finished first.
pub async fn run(
    common: &Common,
    settings: ServeSettings,
    printer: &Printer,
) -> anyhow::Result<Outcome> {
    let dir = settings
        .dir
        .clone()
        .unwrap_or_else(|| common.cache_dir.clone());
    let writes = settings.writes;
    let pulls_through = !settings.upstreams.is_empty();
    // A server that takes pushes, or fetches from upstream, puts content in its cache.
    let fills = writes.push || pulls_through;
    let source = if let Some(config) = common.s3_config(&dir) {
        // An S3 cache: no cache-wide lock there (several replicas share the bucket); one that
        // takes pushes may start empty.
        let mut config = config?;
        config.presign = settings.redirect;
        if settings.max_size.is_some() {
            return Err(UsageError(
                "--max-size needs a local cache: an s3:// bucket is sized by its own lifecycle rules".into(),
            )
            .into());
        }
        AnyStore::S3(Common::open_s3(config, fills).await?)
    } else if settings.redirect {
        return Err(UsageError(format!(
            "--redirect needs an s3:// cache; `{}` is a directory",
            dir.display()
        ))
        .into());
    } else {
        AnyStore::Local(open_local(&dir, writes, fills, printer).await?)
    };
    // Before binding: a bad certificate or htpasswd file fails without taking the port.
    let mut access = access(&settings)?;
    access.pull_through = pull_through(common, &settings)?;
    let listener = tokio::net::TcpListener::bind(settings.listen)
        .await
        .map_err(|e| ListenError::new(settings.listen, &e))?;
    // The address really bound (`--listen :0` picks a port): the one printed below, which
    // scripts and the integration tests read.
    let addr = listener
        .local_addr()
        .context("reading the listening address")?;
    if (writes.push || writes.delete)
        && access.htpasswd.is_none()
        && !addr.ip().is_loopback()
        && !settings.insecure_anonymous_push
    {
        return Err(UsageError(format!(
            "refusing to accept writes on `{addr}` without authentication: anyone who can reach it could push to (or delete from) the cache\nhint: add --htpasswd FILE, listen on 127.0.0.1, or accept the risk with --insecure-allow-anonymous-push"
        ))
        .into());
    }
    // Loopback needs no warning: only this machine can reach it.
    if !addr.ip().is_loopback() {
        let exposure = match (access.tls.is_some(), access.htpasswd.is_some()) {
            (false, false) => Some(
                "anyone who can reach it can read every blob in the cache (there is no TLS or authentication)",
            ),
            (true, false) => Some(
                "anyone who can reach it can read every blob in the cache (there is no authentication: see --htpasswd)",
            ),
            (false, true) => {
                Some("passwords cross the network in clear text (there is no TLS: see --tls-cert)")
            }
            (true, true) => None,
        };
        if let Some(exposure) = exposure {
            printer.warn(&format!(
                "listening on `{addr}`, which is not loopback: {exposure}"
            ));
        }
    }
    let scheme = if access.tls.is_some() {
        "https"
    } else {
        "http"
    };
    if let Some(h) = &access.htpasswd {
        printer.info(&format!(
            "requiring authentication ({} user(s) in the htpasswd file)",
            h.len()
        ));
    }
    let mode = match (writes.push, writes.delete) {
        (false, false) => None,
        (true, false) => Some("accepting pushes"),
        (false, true) => Some("accepting deletes"),
        (true, true) => Some("accepting pushes and deletes"),
    };
    if let Some(mode) = mode {
        printer.info(mode);
    }
    if let Some(p) = &access.pull_through {
        for (i, u) in p.upstreams.iter().enumerate() {
            let default = if i == 0 {
                ", and for requests that name none"
            } else {
                ""
            };
            printer.info(&format!(
                "pulling through from `{}` for `{}`{default}",
                u.url,
                u.ns.as_str()
            ));
        }
    }
    printer.info(&format!(
        "serving `{}` on {scheme}://{addr}/v2/",
        dir.display()
    ));
    if let (Some(max), AnyStore::Local(store)) = (settings.max_size, &source) {
        printer.info(&format!(
            "keeping the cache's blobs under {max} bytes, evicting the least recently served first"
        ));
        // It ends with the runtime, when `serve` returns.
        tokio::spawn(evict(store.clone(), max));
    }
    server::run_with(listener, source, settings.limits, access, shutdown_signal())
        .await
        .context("serving")?;
    // Only after the graceful shutdown: in-flight responses finished, or the grace ran out.
    printer.info("stopped");
    Ok(Outcome::Success)
}

/// How often `--max-size` checks the cache.
const EVICT_EVERY: Duration = Duration::from_secs(2);

/// `--max-size`: every [`EVICT_EVERY`], the `cache prune` plan down to `max` bytes, carried out.
/// The server holds the cache-wide lock shared (fetches and pulls may run beside it), so
/// eviction only ever removes blobs no writer holds: a blob being fetched is locked, and one a
/// client is reading stays readable through its open descriptor. A new blob is the most
/// recently used, so it goes last; a reference recorded by another process while it runs keeps
/// its blobs unless the cache cannot hold even those.
async fn evict(store: Store, max: u64) {
    loop {
        tokio::time::sleep(EVICT_EVERY).await;
        // The store's file work runs on the blocking pool (`Maintained for Store`).
        let done = async {
            let plan = crate::store::plan_prune(&store, max).await?;
            if plan.before <= max {
                return Ok(None);
            }
            let report = crate::store::prune(&store, &plan, false).await?;
            Ok::<_, crate::store::StoreError>(Some((plan, report)))
        }
        .await;
        match done {
            Ok(Some((plan, report))) => tracing::info!(
                "--max-size: evicted {} reference(s) and {} bytes of blobs ({} in use kept)",
                plan.references.len(),
                report.freed,
                report.in_use.len() + report.referenced.len()
            ),
            Ok(None) => {}
            Err(e) => tracing::warn!("--max-size: evicting failed: {e}"),
        }
    }
}

/// The upstream side of `--upstream`: a client with the common options (credentials, TLS,
/// timeouts), told to speak http to the upstreams given as `http://` URLs. An `https://` URL the
/// client would reach over http (a loopback registry without --ca-file) is refused: it would
/// not be what the user asked for.
fn pull_through(
    common: &Common,
    settings: &ServeSettings,
) -> anyhow::Result<Option<server::PullThrough>> {
    if settings.upstreams.is_empty() {
        return Ok(None);
    }
    let mut options = common.client.clone();
    for u in settings.upstreams.iter().filter(|u| u.is_plain_http()) {
        options
            .registries
            .entry(u.api.as_str().to_owned())
            .or_default()
            .plain_http = true;
    }
    let client = crate::client::Client::new(options)?;
    for u in &settings.upstreams {
        let scheme = client.scheme_for(&u.api);
        if !u.url.starts_with(&format!("{scheme}://")) {
            return Err(UsageError(format!(
                "--upstream `{}` would be reached over {scheme}\nhint: for https to a loopback registry give --ca-file, or use an http:// URL",
                u.url
            ))
            .into());
        }
    }
    Ok(Some(server::PullThrough {
        upstreams: settings.upstreams.clone(),
        client,
        tag_ttl: settings.tag_ttl,
        retry: common.retry,
        max_blob_size: settings.writes.max_blob_size,
        touch_served: settings.max_size.is_some(),
    }))
}

/// Opens the local cache `serve` serves, with the lock its writes need.
/// `fills`: the server puts content in it (pushes, or pull-through).
async fn open_local(
    dir: &Path,
    writes: Writes,
    fills: bool,
    printer: &Printer,
) -> anyhow::Result<Store> {
    // A registry that takes pushes, or fetches from upstream, may start empty: then a missing
    // or empty directory becomes a cache (as for `fetch`; a directory of other things is still
    // refused).
    if !dir.is_dir() && !fills {
        return Err(UsageError(format!(
            "no cache at `{}`\nhint: fetch something into it first, or name the cache directory to serve",
            dir.display()
        ))
        .into());
    }
    // Serving read-only never makes a cache: the directory must be one (or an OCI layout).
    // Checks the layout version and completes a half-made layout; it never touches blobs/.
    let waiting = || printer.info("waiting for another layerget command (cache gc?) to finish");
    if fills {
        // A server that writes holds the cache-wide lock shared, as fetch and pull do, so
        // `cache gc`/`prune`/`rm` never remove what a push is about to reference.
        Store::open_for(dir, CacheLockMode::Shared, waiting).await
    } else if writes.delete {
        Store::open_existing_for(dir, CacheLockMode::Shared, waiting).await
    } else {
        // Read-only: without the cache-wide lock. Serving reads only committed blobs, below
        // held descriptors, so fetches and `cache gc` may run beside it.
        Store::open_existing(dir)
    }
    .with_context(|| format!("opening the cache `{}`", dir.display()))
}

/// The `--listen` address cannot be bound (issue 15, item 9): exit 1, "other", since it is
/// neither local storage (8) nor a malformed argument (2) but a clash with another program or
/// a privilege. The OS cause is kept as text, once, so it does not map to storage.
#[derive(Debug, thiserror::Error)]
#[error("cannot listen on `{addr}`: {cause}\nhint: {hint}")]
pub struct ListenError {
    addr: SocketAddr,
    cause: String,
    hint: &'static str,
}

impl ListenError {
    fn new(addr: SocketAddr, e: &std::io::Error) -> ListenError {
        let hint = match e.kind() {
            std::io::ErrorKind::AddrInUse => {
                "another program listens there; pick another port with --listen (port 0 picks a free one)"
            }
            std::io::ErrorKind::PermissionDenied => {
                "ports below 1024 need privileges; pick a port of 1024 or more with --listen"
            }
            std::io::ErrorKind::AddrNotAvailable => {
                "that address is not one of this machine's; use 127.0.0.1, :PORT or an address it has"
            }
            _ => "pick another address with --listen",
        };
        ListenError {
            addr,
            cause: e.to_string(),
            hint,
        }
    }
}

/// Why `serve` cannot use the TLS or htpasswd files it was given: a usage error (exit 2), the
/// parser's own error kept as the source.
#[derive(Debug, thiserror::Error)]
pub enum ServeSetupError {
    /// rustls or the PEM parser refused the certificate and key.
    #[error("cannot serve TLS with `{}` and `{}`: {source}", .cert.display(), .key.display())]
    Tls {
        /// `--tls-cert`.
        cert: PathBuf,
        /// `--tls-key`.
        key: PathBuf,
        /// What was wrong with them.
        #[source]
        source: server::tls::TlsSetupError,
    },
    /// The htpasswd file is not text.
    #[error("--htpasswd `{}` is not UTF-8 text", .path.display())]
    HtpasswdNotText {
        /// The file.
        path: PathBuf,
    },
    /// A line of the htpasswd file cannot be used.
    #[error("--htpasswd `{}`: {source}", .path.display())]
    Htpasswd {
        /// The file.
        path: PathBuf,
        /// Which line, and why.
        #[source]
        source: server::auth::HtpasswdError,
    },
}

impl ServeSetupError {
    /// Always [`Category::Usage`]: the files are arguments the user chose.
    pub fn category(&self) -> crate::exit::Category {
        crate::exit::Category::Usage
    }
}

/// Loads the TLS and htpasswd files. A file that cannot be read is a storage error (exit 8);
/// one whose content is unusable is a usage error (exit 2) naming the option and the problem.
fn access(settings: &ServeSettings) -> anyhow::Result<Access> {
    let read = |option: &str, path: &PathBuf| {
        std::fs::read(path).with_context(|| format!("reading {option} `{}`", path.display()))
    };
    let tls = match &settings.tls {
        None => None,
        Some((cert, key)) => {
            let (cert_pem, key_pem) = (read("--tls-cert", cert)?, read("--tls-key", key)?);
            // reqwest is built without a default crypto provider; the server names ring
            // explicitly, but install it too as the client does, for anything that asks.
            // An error here only means a provider is installed already.
            let _ = rustls::crypto::ring::default_provider().install_default();
            Some(
                server::tls::server_config(&cert_pem, &key_pem).map_err(|source| {
                    ServeSetupError::Tls {
                        cert: cert.clone(),
                        key: key.clone(),
                        source,
                    }
                })?,
            )
        }
    };
    let htpasswd = match &settings.htpasswd {
        None => None,
        Some(path) => {
            let bytes = read("--htpasswd", path)?;
            let text = String::from_utf8(bytes)
                .map_err(|_| ServeSetupError::HtpasswdNotText { path: path.clone() })?;
            let parsed = Htpasswd::parse(&text).map_err(|source| ServeSetupError::Htpasswd {
                path: path.clone(),
                source,
            })?;
            Some(std::sync::Arc::new(parsed.with_queue(settings.auth_queue)))
        }
    };
    Ok(Access {
        pull_through: None,
        tls,
        htpasswd,
        writes: settings.writes,
    })
}

/// Completes on SIGINT or SIGTERM.
async fn shutdown_signal() {
    // Without a SIGTERM handler the server still stops on Ctrl-C: a warning, not a refusal
    // to serve.
    let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(s) => Some(s),
        Err(e) => {
            tracing::warn!("cannot listen for SIGTERM: {e}");
            None
        }
    };
    let term = async {
        match term.as_mut() {
            Some(t) => {
                t.recv().await;
            }
            None => std::future::pending().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        () = term => {}
    }
}
