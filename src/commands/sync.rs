//! `layerget sync DEST_PREFIX [--match GLOB]`: every reference recorded in the cache pushed under
//! DEST_PREFIX (see `transfer::sync` for where each goes), one after the other, one line each;
//! the first failure's category decides the exit code, and the others are still pushed.

use std::time::Instant;

use anyhow::Context as _;
use tokio::sync::Semaphore;

use super::{Common, Outcome, UsageError, report_item_error};
use crate::cli::SyncArgs;
use crate::client::Client;
use crate::output::Printer;
use crate::transfer::push::{PushOptions, push_image, resolve};
use crate::transfer::sync::{dest_for, recorded_names};

/// Validated `sync` settings.
#[derive(Debug, Clone)]
pub struct SyncSettings {
    /// `host[:port][/path]` every name goes under.
    pub prefix: String,
    /// Only names matching this glob.
    pub pattern: Option<String>,
    /// How to push.
    pub options: PushOptions,
}

impl SyncSettings {
    /// Checks the prefix names a registry (a usage error, before any request).
    pub fn from_args(args: SyncArgs, common: &Common) -> anyhow::Result<SyncSettings> {
        let probe = format!("{}/x", args.dest_prefix.trim_end_matches('/'));
        if probe.parse::<crate::reference::Reference>().is_err()
            || !args.dest_prefix.contains(['.', ':']) && !args.dest_prefix.starts_with("localhost")
        {
            return Err(UsageError(format!(
                "`{}` is not a destination prefix: give HOST[:PORT][/PATH], e.g. registry.internal/mirror",
                args.dest_prefix
            ))
            .into());
        }
        Ok(SyncSettings {
            prefix: args.dest_prefix,
            pattern: args.pattern,
            options: PushOptions {
                chunk_size: args.chunk_size,
                jobs: usize::from(args.jobs),
                retry: common.retry,
                verify_cached: args.verify_cached,
            },
        })
    }
}

/// Runs `sync`.
pub async fn run(
    common: &Common,
    settings: SyncSettings,
    printer: &Printer,
) -> anyhow::Result<Outcome> {
    let store = common.open_existing_store_shared(printer).await?;
    let client = Client::new(common.client.clone())?;
    let names = recorded_names(&store, settings.pattern.as_deref())
        .await
        .context("reading the cache's references")?;
    if names.is_empty() {
        printer.info("no recorded reference to sync");
    }
    let limiter = Semaphore::new(settings.options.jobs);
    printer.show_total();
    let progress = |label: &str| printer.progress(label);
    let mut first_failure = None;
    for (name, source) in &names {
        let started = Instant::now();
        let result = async {
            let dest = dest_for(&settings.prefix, source)
                .with_context(|| format!("`{name}` under `{}`", settings.prefix))?;
            let resolved = resolve(&store, name).await?;
            let pushed = push_image(
                &client,
                &store,
                &resolved,
                &dest,
                &settings.options,
                &limiter,
                &progress,
            )
            .await
            .with_context(|| format!("pushing `{name}` to `{dest}`"))?;
            anyhow::Ok(pushed)
        }
        .await;
        match result {
            Ok(pushed) => super::push::report(
                common,
                name,
                &pushed,
                started.elapsed().as_millis(),
                printer,
            )?,
            Err(err) => report_item_error(common, name, &err, printer, &mut first_failure)?,
        }
        super::show_registry_warnings(&client, printer);
    }
    printer.finish_total();
    Ok(first_failure.map_or(Outcome::Success, Outcome::Failed))
}
