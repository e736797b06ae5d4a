//! `layerget serve [CACHE_DIR]`: the cache as a read-only registry until SIGINT or SIGTERM.
//! The HTTP side is `server`'s; this opens the cache, binds, reports where it listens, and
//! turns signals into a graceful shutdown.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;

use super::{Common, Outcome, UsageError};
use crate::cli::ServeArgs;
use crate::output::Printer;
use crate::server::{self, DiskSource, Limits};
use crate::store::Store;

/// Validated settings for `serve`.
#[derive(Debug, Clone)]
pub struct ServeSettings {
    /// The cache to serve, if given as an argument (else the common cache dir).
    pub dir: Option<PathBuf>,
    /// Where to listen.
    pub listen: SocketAddr,
    /// Abuse limits.
    pub limits: Limits,
}

impl From<ServeArgs> for ServeSettings {
    fn from(args: ServeArgs) -> Self {
        ServeSettings {
            dir: args.dir,
            listen: args.listen,
            limits: Limits {
                max_connections: args.max_connections as usize,
                header_timeout: Duration::from_secs(args.header_timeout),
                idle_timeout: Duration::from_secs(args.idle_timeout),
                ..Limits::default()
            },
        }
    }
}

/// Runs `serve` until a signal asks it to stop; in-flight responses are finished first.
pub async fn run(
    common: &Common,
    settings: ServeSettings,
    printer: &Printer,
) -> anyhow::Result<Outcome> {
    let dir = settings.dir.unwrap_or_else(|| common.cache_dir.clone());
    if !dir.is_dir() {
        return Err(UsageError(format!(
            "no cache at `{}`\nhint: fetch something into it first, or name the cache directory to serve",
            dir.display()
        ))
        .into());
    }
    // Checks the layout version and completes a half-made layout; it never touches blobs/.
    Store::open(&dir).with_context(|| format!("opening the cache `{}`", dir.display()))?;
    let source =
        DiskSource::open(&dir).with_context(|| format!("opening the cache `{}`", dir.display()))?;
    let listener = tokio::net::TcpListener::bind(settings.listen)
        .await
        .with_context(|| format!("listening on `{}`", settings.listen))?;
    let addr = listener
        .local_addr()
        .context("reading the listening address")?;
    if !addr.ip().is_loopback() {
        printer.warn(&format!(
            "listening on `{addr}`, which is not loopback: anyone who can reach it can read every blob in the cache (there is no TLS or authentication)"
        ));
    }
    printer.info(&format!("serving `{}` on http://{addr}/v2/", dir.display()));
    server::run(listener, source, settings.limits, shutdown_signal())
        .await
        .context("serving")?;
    printer.info("stopped");
    Ok(Outcome::Success)
}

/// Completes on SIGINT or SIGTERM.
async fn shutdown_signal() {
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
