//! `layerget copy SRC DEST [--all-platforms]`: an image from one registry to another, through
//! the cache. SRC is pulled as `pull` pulls it (verified, recorded), and each config and layer
//! is pushed on as soon as it is verified in the cache, while the others still download (so
//! each byte is read from the source once, and the two directions overlap); when the pull is
//! done, the image is pushed as `push` pushes it, which finds those blobs there (`HEAD`) and
//! sends the manifests, the tag last.

use std::time::Instant;

use anyhow::Context as _;
use futures_util::StreamExt as _;
use tokio::sync::Semaphore;

use super::{Common, Outcome, parse_image_reference, report_item_error};
use crate::cli::CopyArgs;
use crate::client::Client;
use crate::manifest::Descriptor;
use crate::manifest::PlatformSpec;
use crate::output::Printer;
use crate::reference::Reference;
use crate::transfer::image::{PlatformChoice, PullOptions, pull_with};
use crate::transfer::push::{BlobOutcome, PushOptions, push_blob, push_image, resolve};
use crate::transfer::{FetchOptions, segments_for};

/// What the blobs pushed while the pull ran amounted to.
#[derive(Debug, Default)]
struct Early {
    pushed: usize,
    mounted: usize,
    bytes: u64,
}

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
    let store = common.open_store_shared(printer).await?;
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
    let mount_from = Some(source.repository()).filter(|_| {
        source.registry() == dest.registry() && source.repository() != dest.repository()
    });
    let (client, store, limiter, progress, push_options) =
        (&client, &store, &limiter, &progress, &settings.push);
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Descriptor>();
    let pulling = async move {
        let on_blob = move |d: &Descriptor| {
            // The receiver lives as long as this future does; a failed send means the
            // pushing side failed, which ends the copy anyway.
            let _ = tx.send(d.clone());
        };
        let pulled = pull_with(client, store, source, &options, limiter, progress, &on_blob)
            .await
            .with_context(|| format!("pulling `{given}`"));
        drop(on_blob); // closes the channel: the pushing side ends.
        pulled
    };
    let pushing = async {
        let blobs = futures_util::stream::poll_fn(|cx| rx.poll_recv(cx));
        let mut uploads = blobs
            .map(|d| async move {
                let p = progress(&d.digest.short());
                push_blob(
                    client,
                    store,
                    dest,
                    &d.digest,
                    mount_from,
                    push_options,
                    &*p,
                )
                .await
            })
            .buffer_unordered(push_options.jobs.max(1));
        let mut early = Early::default();
        while let Some(result) = uploads.next().await {
            let blob = result.with_context(|| format!("pushing `{given}` to `{dest_given}`"))?;
            early.bytes += blob.bytes_uploaded;
            match blob.outcome {
                BlobOutcome::Pushed => early.pushed += 1,
                BlobOutcome::Mounted => early.mounted += 1,
                BlobOutcome::Present => {}
            }
        }
        anyhow::Ok(early)
    };
    let result = async {
        let (pulled, early) = tokio::try_join!(pulling, pushing)?;
        let resolved = resolve(store, &pulled.name)
            .await
            .with_context(|| format!("reading `{}` from the cache", pulled.name))?;
        let mut pushed = push_image(
            client,
            store,
            &resolved,
            dest,
            push_options,
            limiter,
            progress,
        )
        .await
        .with_context(|| format!("pushing `{given}` to `{dest_given}`"))?;
        // What the first pass sent, the second found there.
        pushed.blobs_present = pushed
            .blobs_present
            .saturating_sub(early.pushed + early.mounted);
        pushed.blobs_pushed += early.pushed;
        pushed.blobs_mounted += early.mounted;
        pushed.bytes_uploaded += early.bytes;
        anyhow::Ok(pushed)
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
    super::show_registry_warnings(client, printer);
    Ok(first_failure.map_or(Outcome::Success, Outcome::Failed))
}
