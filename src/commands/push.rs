//! `layerget push NAME DEST` and `push --blob DIGEST DEST_REPO`: content out of the cache into a
//! registry (issue 12). The work is `transfer::push`'s; this file parses the settings, opens the
//! cache, a directory (shared lock, so `cache gc` cannot remove what is being sent) or an
//! `s3://` bucket (issue 14), and prints one line.

use std::time::Instant;

use anyhow::Context as _;
use tokio::sync::Semaphore;

use super::{Common, Outcome, UsageError, report_item_error};
use crate::cli::PushArgs;
use crate::client::Client;
use crate::digest::Digest;
use crate::output::{Printer, human_bytes};
use crate::reference::Reference;
use crate::transfer::push::{
    BlobOutcome, PushOptions, PushedImage, push_blob, push_image, resolve,
};

/// What to push.
#[derive(Debug, Clone)]
pub enum PushSource {
    /// An image recorded in the cache: a reference as `cache ls` shows it, or a digest.
    Image(String),
    /// One cached blob.
    Blob(Digest),
}

/// Validated `push` settings.
#[derive(Debug, Clone)]
pub struct PushSettings {
    /// What to push, as given and parsed.
    pub source: (String, PushSource),
    /// Where to, as given and parsed.
    pub dest: (String, Reference),
    /// How to push.
    pub options: PushOptions,
}

impl PushSettings {
    /// Parses the source and destination (usage errors, before any request).
    pub fn from_args(args: PushArgs, common: &Common) -> anyhow::Result<PushSettings> {
        let source = if args.blob {
            let d: Digest = args
                .source
                .parse()
                .with_context(|| format!("invalid blob digest `{}`", args.source))?;
            PushSource::Blob(d)
        } else {
            PushSource::Image(args.source.clone())
        };
        let dest: Reference = args
            .dest
            .parse()
            .with_context(|| format!("invalid destination `{}`", args.dest))?;
        if args.blob && (dest.tag().is_some() || dest.digest().is_some()) {
            return Err(UsageError(format!(
                "with --blob, DEST is a repository (`{}`), without a tag or digest",
                dest.location()
            ))
            .into());
        }
        Ok(PushSettings {
            source: (args.source, source),
            dest: (args.dest, dest),
            options: PushOptions {
                chunk_size: args.chunk_size,
                jobs: usize::from(args.jobs),
                retry: common.retry,
                verify_cached: args.verify_cached,
            },
        })
    }
}

/// Runs `push`.
pub async fn run(
    common: &Common,
    settings: PushSettings,
    printer: &Printer,
) -> anyhow::Result<Outcome> {
    let store = common.open_existing_store_shared(printer).await?;
    let client = Client::new(common.client.clone())?;
    let (given, source) = &settings.source;
    let (_, dest) = &settings.dest;
    let started = Instant::now();
    let result = match source {
        PushSource::Blob(digest) => {
            let p = printer.progress(&digest.short());
            push_blob(&client, &store, dest, digest, None, &settings.options, &*p)
                .await
                .map(|b| {
                    let (pushed, mounted, present) = match b.outcome {
                        BlobOutcome::Pushed => (1, 0, 0),
                        BlobOutcome::Mounted => (0, 1, 0),
                        BlobOutcome::Present => (0, 0, 1),
                    };
                    PushedImage {
                        name: digest.to_string(),
                        dest: format!("{}@{digest}", dest.location()),
                        digest: digest.clone(),
                        media_type: String::new(),
                        layers: 0,
                        size: b.size,
                        blobs_pushed: pushed,
                        blobs_mounted: mounted,
                        blobs_present: present,
                        bytes_uploaded: b.bytes_uploaded,
                        manifests_pushed: 0,
                    }
                })
        }
        PushSource::Image(name) => {
            printer.show_total();
            let limiter = Semaphore::new(settings.options.jobs);
            let progress = |label: &str| printer.progress(label);
            let pushed = async {
                let resolved = resolve(&store, name).await?;
                push_image(
                    &client,
                    &store,
                    &resolved,
                    dest,
                    &settings.options,
                    &limiter,
                    &progress,
                )
                .await
            }
            .await;
            printer.finish_total();
            pushed
        }
    };
    let mut first_failure = None;
    match result {
        Ok(pushed) => report(
            common,
            given,
            &pushed,
            started.elapsed().as_millis(),
            printer,
        )?,
        Err(err) => {
            let err = anyhow::Error::new(err)
                .context(format!("pushing `{given}` to `{}`", settings.dest.0));
            report_item_error(common, given, &err, printer, &mut first_failure)?;
        }
    }
    super::show_registry_warnings(&client, printer);
    Ok(first_failure.map_or(Outcome::Success, Outcome::Failed))
}

/// Prints what a push did: `DEST DIGEST N layers SIZE pushed|present` (or the `--json` line).
pub(crate) fn report(
    common: &Common,
    given: &str,
    pushed: &PushedImage,
    millis: u128,
    printer: &Printer,
) -> anyhow::Result<()> {
    let sent = pushed.blobs_pushed + pushed.blobs_mounted + pushed.manifests_pushed > 0;
    if common.json {
        printer.json_line(&serde_json::json!({
            "ref": given,
            "name": pushed.name,
            "dest": pushed.dest,
            "digest": pushed.digest.to_string(),
            "media_type": pushed.media_type,
            "layers": pushed.layers,
            "size": pushed.size,
            "blobs_pushed": pushed.blobs_pushed,
            "blobs_mounted": pushed.blobs_mounted,
            "blobs_present": pushed.blobs_present,
            "bytes_uploaded": pushed.bytes_uploaded,
            "manifests_pushed": pushed.manifests_pushed,
            "duration_ms": millis,
        }))?;
    } else {
        printer.data_line(&format!(
            "{} {} {}, {} {}",
            pushed.dest,
            pushed.digest,
            crate::output::count(pushed.layers, "layer"),
            human_bytes(pushed.size),
            if sent { "pushed" } else { "present" }
        ))?;
    }
    if sent {
        let secs = (millis as f64 / 1000.0).max(0.001);
        printer.info(&format!(
            "{}: {} pushed, {} mounted, {} present; {} sent in {:.2} s",
            pushed.dest,
            pushed.blobs_pushed,
            pushed.blobs_mounted,
            pushed.blobs_present,
            human_bytes(pushed.bytes_uploaded),
            secs
        ));
    }
    Ok(())
}
