//! `layerget pull REF...`: whole images into the cache, recorded in `index.json`. All REFs are
//! parsed (and the platform checked) before any request; images are pulled concurrently, with
//! at most `--jobs` blob transfers in flight over all of them, and reported in the order given.
//!
//! A failed image does not stop the others: each REF gets its own line (or `--json` document),
//! and the exit code is the category of the first failure.

use std::time::Instant;

use anyhow::Context as _;
use futures_util::StreamExt as _;
use tokio::sync::Semaphore;

use super::{Common, Outcome, report_item_error};
use crate::cli::PullArgs;
use crate::client::Client;
use crate::manifest::PlatformSpec;
use crate::output::{Printer, human_bytes};
use crate::reference::Reference;
use crate::transfer::image::{PlatformChoice, PullError, PullOptions, PulledImage, pull};
use crate::transfer::{FetchOptions, segments_for};

/// Validated `pull` settings.
#[derive(Debug, Clone)]
pub struct PullSettings {
    /// The references as given, and parsed (with `latest` when neither tag nor digest was).
    pub refs: Vec<(String, Reference)>,
    /// Which platforms to take from an index.
    pub platforms: PlatformChoice,
    /// Blob transfers at once, over all images (`--jobs`, 1 to 256).
    pub jobs: usize,
    /// Re-hash cached blobs first.
    pub verify_cached: bool,
}

impl PullSettings {
    /// Parses every reference and the platform (a usage error, before any request).
    pub fn from_args(args: PullArgs) -> anyhow::Result<PullSettings> {
        let refs = args
            .refs
            .iter()
            .map(|s| parse_image_reference(s).map(|r| (s.clone(), r)))
            .collect::<anyhow::Result<Vec<_>>>()?;
        let platforms = if args.all_platforms {
            PlatformChoice::All
        } else {
            let mut specs: Vec<PlatformSpec> = Vec::new();
            // `--platform a,,b` or a trailing comma gives empty items: they mean nothing.
            for p in args.platform.iter().filter(|p| !p.trim().is_empty()) {
                let spec = p.trim().parse::<PlatformSpec>()?;
                // Compared once parsed, which normalizes (`linux/x86_64` is `linux/amd64`):
                // a platform given twice is pulled and recorded once.
                if !specs.contains(&spec) {
                    specs.push(spec);
                }
            }
            // One platform records its image manifest under the name; several record an index
            // of just those. None given means this machine's, as `docker pull` does.
            match specs.len() {
                0 => PlatformChoice::One(PlatformSpec::host()),
                1 => PlatformChoice::One(specs.remove(0)),
                _ => PlatformChoice::Several(specs),
            }
        };
        Ok(PullSettings {
            refs,
            platforms,
            jobs: usize::from(args.jobs),
            verify_cached: args.verify_cached,
        })
    }
}

/// Parses an image reference; without a tag or digest it means `:latest`, as for Docker.
/// [`crate::transfer::image::pull`] relies on this (every reference it gets has a tag or a
/// digest), and `cache rm` uses it to find the name a pull recorded.
pub fn parse_image_reference(s: &str) -> anyhow::Result<Reference> {
    let r: Reference = s
        .parse()
        .with_context(|| format!("invalid reference `{s}`"))?;
    // `NAME@DIGEST` gets no tag: the digest already says which manifest.
    if r.tag().is_none() && r.digest().is_none() {
        return format!("{r}:latest")
            .parse()
            .with_context(|| format!("invalid reference `{s}`"));
    }
    Ok(r)
}

/// Runs `pull`.
pub async fn run(
    common: &Common,
    settings: PullSettings,
    printer: &Printer,
) -> anyhow::Result<Outcome> {
    // Held until the end: `cache gc` must not remove what is fetched but not yet recorded.
    let store = common.open_any_store_shared(printer).await?;
    // One client for every image: credentials, learned auth schemes, tokens and connection
    // pools are shared by all transfers to a registry.
    let client = Client::new(common.client.clone())?;
    // The one bound on blob transfers, shared by every image in flight; each image's own
    // `jobs` only caps its share.
    let limiter = Semaphore::new(settings.jobs);
    let options = PullOptions {
        platforms: settings.platforms.clone(),
        fetch: FetchOptions {
            verify_cached: settings.verify_cached,
            retry: common.retry,
            ..FetchOptions::default()
        },
        jobs: settings.jobs,
    };
    // Images have several blobs each: a total bar sums them.
    printer.show_total();
    let progress = |label: &str| printer.progress(label);
    let (store, client, limiter, options, progress) =
        (&store, &client, &limiter, &options, &progress);
    let mut results = futures_util::stream::iter(settings.refs.iter())
        .map(|(_, reference)| async move {
            let started = Instant::now();
            let mut options = options.clone();
            // `pull` has no --segments: each registry gets the default (one stream on
            // loopback, where segments only add work).
            options.fetch.segments = segments_for(reference, None);
            let image = pull(client, store, reference, &options, limiter, progress).await?;
            Ok::<_, PullError>((image, started.elapsed().as_millis()))
        })
        // Up to `jobs` images resolve their manifests at once; the semaphore, not this,
        // bounds the blobs.
        .buffered(settings.jobs);

    let mut first_failure = None;
    // Results come in the order given (`buffered`), one per REF.
    let mut givens = settings.refs.iter().map(|(given, _)| given);
    while let Some(result) = results.next().await {
        // Never short (one result per REF); the `else` only keeps this total.
        let Some(given) = givens.next() else { break };
        match result {
            Ok((image, millis)) => report(common, given, &image, millis, printer)?,
            Err(err) => {
                let err = anyhow::Error::new(err).context(format!("pulling `{given}`"));
                report_item_error(common, given, &err, printer, &mut first_failure)?;
            }
        }
        // Registry warnings (deprecations) seen so far, each once, between the REFs' lines.
        super::show_registry_warnings(client, printer);
    }
    printer.finish_total();
    Ok(first_failure.map_or(Outcome::Success, Outcome::Failed))
}

/// `3 layers, 65.0 MiB: 1.7 KiB fetched, 65.0 MiB cached` (and `, 2.0 MiB resumed` when a
/// partial download was finished): what moved now, what was there, what was picked up.
fn summary(image: &PulledImage) -> String {
    let mut parts = Vec::new();
    // Bytes received, not blob sizes: a resumed blob sends only its rest.
    if image.fetched > 0 {
        parts.push(format!("{} fetched", human_bytes(image.bytes_transferred)));
    }
    if image.bytes_resumed > 0 {
        parts.push(format!("{} resumed", human_bytes(image.bytes_resumed)));
    }
    // Something is always said: an image of no bytes at all reads `0 B cached`.
    if image.bytes_cached > 0 || parts.is_empty() {
        parts.push(format!("{} cached", human_bytes(image.bytes_cached)));
    }
    format!(
        "{}, {}: {}",
        crate::output::count(image.layers(), "layer"),
        human_bytes(image.size),
        parts.join(", ")
    )
}

/// Reports one pulled image: its line (or `--json` document) on stdout, then on stderr how
/// long the transfer took, the layers left out, and what a moved tag pointed at before.
fn report(
    common: &Common,
    given: &str,
    image: &PulledImage,
    millis: u128,
    printer: &Printer,
) -> anyhow::Result<()> {
    // Every blob, manifests included, was in the cache already.
    let cached = image.fetched == 0;
    if common.json {
        let manifests: Vec<serde_json::Value> = image
            .images
            .iter()
            .map(|m| {
                serde_json::json!({
                    "digest": m.digest.to_string(),
                    "platform": m.platform.as_ref().map(ToString::to_string),
                    "layers": m.layers,
                })
            })
            .collect();
        printer.json_line(&serde_json::json!({
            "ref": given,
            "name": image.name,
            "digest": image.digest.to_string(),
            "media_type": image.media_type,
            "recorded": image.recorded.to_string(),
            "manifests": manifests,
            "layers": image.layers(),
            "blobs": image.blobs,
            "size": image.size,
            "cached": cached,
            "blobs_fetched": image.fetched,
            "bytes_transferred": image.bytes_transferred,
            "bytes_cached": image.bytes_cached,
            "bytes_resumed": image.bytes_resumed,
            "skipped_foreign": image.skipped,
            "replaced": image.replaced.iter().map(ToString::to_string).collect::<Vec<_>>(),
            "duration_ms": millis,
        }))?;
    } else {
        printer.data_line(&format!(
            "{} {} {}",
            image.name,
            image.digest,
            summary(image)
        ))?;
    }
    if !cached {
        let secs = (millis as f64 / 1000.0).max(0.001);
        printer.info(&format!(
            "{}: fetched {} of {} ({}) in {:.2} s",
            image.name,
            image.fetched,
            crate::output::count(image.blobs, "blob"),
            human_bytes(image.bytes_transferred),
            secs
        ));
    }
    // A warning, shown even with --quiet: the cache does not hold these layers (a client gets
    // them from the URLs their descriptors name).
    if image.skipped > 0 {
        printer.warn(&format!(
            "{}: {} not fetched (they live outside the registry)",
            image.name,
            crate::output::count(image.skipped, "non-distributable layer")
        ));
    }
    // The tag moved: what only the old image used stays in the cache until `cache gc`.
    for old in &image.replaced {
        printer.info(&format!(
            "{}: moved from {old} (`layerget cache gc` removes what only the old image used)",
            image.name
        ));
    }
    Ok(())
}
