//! `layerget copy SRC DEST [--all-platforms]`: an image from one registry to another, through
//! the cache. This first version pulls SRC (as `pull` does, recording it) and then pushes what
//! was recorded (as `push` does): every byte is verified on the way in and sent from the
//! verified cache file on the way out. Overlapping the two (each blob pushed as soon as it is
//! verified) is issue 12's next step.

use std::time::Instant;

use anyhow::Context as _;
use tokio::sync::Semaphore;

use super::{Common, Outcome, parse_image_reference, report_item_error};
use crate::cli::CopyArgs;
use crate::client::Client;
use crate::manifest::PlatformSpec;
use crate::output::Printer;
use crate::reference::Reference;
use crate::store::{CacheLockMode, Store};
use crate::transfer::image::{PlatformChoice, PullOptions, pull};
use crate::transfer::push::{PushOptions, push_image, resolve};
use crate::transfer::{FetchOptions, segments_for};

/// Validated `copy` settings.
#[derive(Debug, Clone)]
pub struct CopySettings {
    /// The source, as given and parsed (with `latest` when neither tag nor digest was).
    pub source: (String, Reference),
    /// The destination, as given and parsed.
    pub dest: (String, Reference),
    /// Platforms to take from an index.
    pub platforms: PlatformChoice,
    /// How to push.
    pub push: PushOptions,
}

impl CopySettings {
    /// Parses both references (usage errors, before any request).
    pub fn from_args(args: CopyArgs, common: &Common) -> anyhow::Result<CopySettings> {
        let source = parse_image_reference(&args.source)?;
        let dest: Reference = args
            .dest
            .parse()
            .with_context(|| format!("invalid destination `{}`", args.dest))?;
        Ok(CopySettings {
            source: (args.source, source),
            dest: (args.dest, dest),
            platforms: if args.all_platforms {
                PlatformChoice::All
            } else {
                PlatformChoice::One(PlatformSpec::host())
            },
            push: PushOptions {
                chunk_size: args.chunk_size,
                jobs: usize::from(args.jobs),
                retry: common.retry,
                verify_cached: false,
            },
        })
    }
}

/// Runs `copy`.
pub async fn run(
    common: &Common,
    settings: CopySettings,
    printer: &Printer,
) -> anyhow::Result<Outcome> {
    let store = Store::open_for(&common.cache_dir, CacheLockMode::Shared, || {
        printer.info("waiting for a `layerget cache` command that holds the cache");
    })
    .await
    .with_context(|| format!("opening the cache `{}`", common.cache_dir.display()))?;
    let client = Client::new(common.client.clone())?;
    let (given, source) = &settings.source;
    let (dest_given, dest) = &settings.dest;
    let limiter = Semaphore::new(settings.push.jobs);
    let options = PullOptions {
        platforms: settings.platforms.clone(),
        fetch: FetchOptions {
            retry: common.retry,
            segments: segments_for(source, None),
            ..FetchOptions::default()
        },
        jobs: settings.push.jobs,
    };
    printer.show_total();
    let progress = |label: &str| printer.progress(label);
    let started = Instant::now();
    let result = async {
        let pulled = pull(&client, &store, source, &options, &limiter, &progress)
            .await
            .with_context(|| format!("pulling `{given}`"))?;
        let resolved = resolve(&store, &pulled.name)
            .await
            .with_context(|| format!("reading `{}` from the cache", pulled.name))?;
        push_image(
            &client,
            &store,
            &resolved,
            dest,
            &settings.push,
            &limiter,
            &progress,
        )
        .await
        .with_context(|| format!("pushing `{given}` to `{dest_given}`"))
    }
    .await;
    printer.finish_total();
    let mut first_failure = None;
    match result {
        Ok(pushed) => super::push::report(
            common,
            given,
            &pushed,
            started.elapsed().as_millis(),
            printer,
        )?,
        Err(err) => {
            let err = err.context(format!("copying `{given}` to `{dest_given}`"));
            report_item_error(common, given, &err, printer, &mut first_failure)?;
        }
    }
    super::show_registry_warnings(&client, printer);
    Ok(first_failure.map_or(Outcome::Success, Outcome::Failed))
}
