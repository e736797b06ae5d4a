//! `layerget copy SRC DEST [--all-platforms]`: an image from one registry to another, through
//! the cache (a directory or an `s3://` bucket). SRC is pulled as `pull` pulls it (verified,
//! recorded), and each config and layer is pushed on as soon as it is verified in the cache,
//! while the others still download (so each byte is read from the source once, and the two
//! directions overlap). A large layer is pushed while it downloads, through the cache's tee
//! (`transfer::tee`), its upload closed only once the cache verified it; when that cannot be,
//! it is pushed from the cache afterwards. When the pull is done, the image is pushed as `push`
//! pushes it, which finds those blobs there (`HEAD`) and sends the manifests, the tag last.

use std::time::Instant;

use anyhow::Context as _;
use std::collections::HashMap;

use futures_util::StreamExt as _;
use futures_util::stream::FuturesUnordered;
use tokio::sync::{Semaphore, oneshot};

use super::{Common, Outcome, parse_image_reference, report_item_error};
use crate::cli::CopyArgs;
use crate::client::Client;
use crate::digest::Digest;
use crate::manifest::Descriptor;
use crate::manifest::PlatformSpec;
use crate::output::Printer;
use crate::reference::Reference;
use crate::transfer::FetchOptions;
use crate::transfer::image::{PlatformChoice, PullOptions, pull_with};
use crate::transfer::push::{BlobOutcome, PushOptions, push_blob, push_image, resolve};
use crate::transfer::tee::{self, Tap, TeeStore, Teed};

/// What the pulling side tells the pushing side, in order.
enum Event {
    /// A blob's fetch started with a tap: it can be pushed as it comes.
    Tap(Tap),
    /// A blob is verified in the cache.
    Verified(Descriptor),
}

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
    let store = common.open_any_store_shared(printer).await?;
    let client = Client::new(common.client.clone())?;
    let (given, source) = &settings.source;
    let (dest_given, dest) = &settings.dest;
    let limiter = Semaphore::new(settings.push.jobs);
    // Pushes from the cache at once (tees are bounded by the fetches, which `limiter` bounds).
    let pushers = &Semaphore::new(settings.push.jobs.max(1));
    let options = PullOptions {
        platforms: settings.platforms.clone(),
        fetch: FetchOptions {
            retry: common.retry,
            // One stream per blob: a layer in segments arrives out of order and cannot be teed.
            // The push is the slower side of a copy, so the tee is worth more than segments.
            segments: 1,
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
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Event>();
    // Layers of at least a chunk (and larger than any manifest) are pushed while they are
    // fetched; smaller ones once they are verified.
    let tee_min = settings
        .push
        .chunk_size
        .max(crate::manifest::MAX_MANIFEST as u64 + 1);
    let (client, store, limiter, progress, push_options) =
        (&client, &store, &limiter, &progress, &settings.push);
    let pulling = async move {
        // Owned here, so that its sender goes with the pull, like `on_blob`'s.
        let taps = tx.clone();
        let teed = TeeStore::new(
            store.clone(),
            tee_min,
            Box::new(move |tap| taps.send(Event::Tap(tap)).is_ok()),
        );
        let on_blob = move |d: &Descriptor| {
            // The receiver lives as long as this future does; a failed send means the
            // pushing side failed, which ends the copy anyway.
            let _ = tx.send(Event::Verified(d.clone()));
        };
        let pulled = pull_with(client, &teed, source, &options, limiter, progress, &on_blob)
            .await
            .with_context(|| format!("pulling `{given}`"));
        // Closes the channel: the pushing side ends once its work is done.
        drop((on_blob, teed));
        pulled
    };
    let pushing = async {
        // Taps and verified blobs come in one channel, in the order they happened: a blob's
        // tap (at its writer's start) always before its verification.
        let mut waiting: HashMap<Digest, oneshot::Receiver<Teed>> = HashMap::new();
        // Tees, and the blobs verified (each taking its tee's result, or pushed from the cache).
        let mut tees = FuturesUnordered::new();
        let mut pushes = FuturesUnordered::new();
        let mut early = Early::default();
        let mut open = true;
        while open || !tees.is_empty() || !pushes.is_empty() {
            tokio::select! {
                event = rx.recv(), if open => match event {
                    None => open = false,
                    Some(Event::Tap(tap)) => {
                        let (done, result) = oneshot::channel();
                        waiting.insert(tap.digest.clone(), result);
                        tees.push(async move {
                            let p = progress(&tap.digest.short());
                            let teed = tee::upload(client, dest, tap, mount_from, push_options, &*p).await;
                            let _ = done.send(teed);
                        });
                    }
                    Some(Event::Verified(d)) => {
                        let result = waiting.remove(&d.digest);
                        pushes.push(async move {
                            if let Some(result) = result
                                && let Ok(teed) = result.await
                            {
                                match teed {
                                    Teed::Done(blob) => return Ok(blob),
                                    Teed::FallBack(why) => tracing::info!(
                                        "{}: not pushed while fetched ({why}); pushing it from the cache",
                                        d.digest
                                    ),
                                }
                            }
                            let _permit = pushers.acquire().await;
                            let p = progress(&d.digest.short());
                            push_blob(client, store, dest, &d.digest, mount_from, push_options, &*p)
                                .await
                        });
                    }
                },
                Some(()) = tees.next() => {}
                Some(result) = pushes.next() => {
                    let blob = result.with_context(|| format!("pushing `{given}` to `{dest_given}`"))?;
                    early.bytes += blob.bytes_uploaded;
                    match blob.outcome {
                        BlobOutcome::Pushed => early.pushed += 1,
                        BlobOutcome::Mounted => early.mounted += 1,
                        BlobOutcome::Present => {}
                    }
                }
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
