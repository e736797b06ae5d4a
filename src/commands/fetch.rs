//! `layerget fetch REF...`: download blobs by digest into the cache, then print their paths, or
//! copy them to `-o PATH` / stdout. All REFs are parsed before any request; up to `--jobs` run
//! at once, and results are reported in the order given.
//!
//! A failed blob does not stop the others (the exit code is the first failure's category),
//! but a broken pipe on stdout (`-o - | head`) ends the command at once.

use std::fs;
use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context as _;
use futures_util::StreamExt as _;

use super::place::link_or_copy;
use super::{Common, Outcome, UsageError, report_item_error};
use crate::cli::FetchArgs;
use crate::client::Client;
use crate::output::{Printer, human_bytes};
use crate::reference::Reference;
use crate::store::ContentStore;
use crate::transfer::{
    DEFAULT_SEGMENTS, FetchOptions, FetchOutcome, SizeLimit, fetch_blob, segments_for,
};

/// Where verified copies go besides the cache.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OutputTarget {
    /// Only the cache; print each blob's cache path.
    None,
    /// The bytes, on stdout.
    Stdout,
    /// This file (one REF).
    File(PathBuf),
    /// This directory, files named by digest hex (several REFs).
    Dir(PathBuf),
}

/// Validated `fetch` settings.
#[derive(Debug, Clone)]
pub struct FetchSettings {
    /// The references, each as given and parsed.
    pub refs: Vec<(String, Reference)>,
    /// Where copies go.
    pub output: OutputTarget,
    /// Transfers at once.
    pub jobs: usize,
    /// Re-hash cached blobs first.
    pub verify_cached: bool,
    /// Parallel Range requests per big blob; `None` picks per registry.
    pub segments: Option<u32>,
    /// Smallest blob fetched in segments.
    pub segment_min: u64,
    /// Largest blob accepted.
    pub max_size: u64,
}

impl FetchSettings {
    /// Parses every reference (a usage error, before any request, if one is bad) and checks
    /// `-o` against the number of REFs.
    pub fn from_args(args: FetchArgs) -> anyhow::Result<FetchSettings> {
        let refs = args
            .refs
            .iter()
            .map(|s| {
                // `fetch` resolves no tags: a REF without a digest is a usage error here,
                // before any request.
                Reference::parse_with_digest(s)
                    .map(|r| (s.clone(), r))
                    .with_context(|| format!("invalid reference `{s}`"))
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        let several = refs.len() > 1;
        let output = match args.output {
            None => OutputTarget::None,
            // Stdout can carry the bytes of one blob only.
            Some(p) if p.as_os_str() == "-" => {
                if several {
                    return Err(UsageError(
                        "`-o -` takes a single REF: with several REFs, -o must be a directory"
                            .into(),
                    )
                    .into());
                }
                OutputTarget::Stdout
            }
            // A directory for several REFs, or when PATH is one already (as for `cp`); `run`
            // creates it when it is missing.
            Some(p) if several || p.is_dir() => {
                if p.exists() && !p.is_dir() {
                    return Err(UsageError(format!(
                        "`{}` is not a directory: with several REFs, -o must be a directory",
                        p.display()
                    ))
                    .into());
                }
                OutputTarget::Dir(p)
            }
            // Else PATH names the file. Its directory must exist: the copy is made under a
            // temporary name beside it.
            Some(p) => OutputTarget::File(p),
        };
        Ok(FetchSettings {
            refs,
            output,
            jobs: usize::from(args.jobs),
            verify_cached: args.verify_cached,
            segments: args.segments,
            segment_min: args.segment_min,
            max_size: args.max_size,
        })
    }
}

/// A fetched (or cached) blob, and how long it took.
struct TimedOutcome {
    outcome: FetchOutcome,
    millis: u128,
}

/// Runs `fetch`.
pub async fn run(
    common: &Common,
    settings: FetchSettings,
    printer: &Printer,
) -> anyhow::Result<Outcome> {
    // Held until the end: `cache gc` must not remove a blob between its commit and its copy.
    let store = common.open_any_store_shared(printer).await?;
    let client = Client::new(common.client.clone())?;
    // Before any transfer, so an unusable -o fails before bytes are fetched.
    if let OutputTarget::Dir(dir) = &settings.output {
        fs::create_dir_all(dir).with_context(|| format!("creating `{}`", dir.display()))?;
    }
    let options = FetchOptions {
        verify_cached: settings.verify_cached,
        retry: common.retry,
        // Set per REF below: it depends on the registry.
        segments: DEFAULT_SEGMENTS,
        segment_min: settings.segment_min,
        // No descriptor gives the size here: --max-size bounds what a server may send.
        size: SizeLimit::AtMost(settings.max_size),
    };
    let (store, client) = (&store, &client);
    // A total bar only when there are several bars to sum.
    if settings.refs.len() > 1 {
        printer.show_total();
    }
    let mut results = futures_util::stream::iter(settings.refs.iter())
        .map(|(_, reference)| async move {
            // `from_args` made sure every REF has a digest; this only keeps the closure total.
            let digest = reference
                .digest()
                .ok_or_else(|| UsageError(format!("`{reference}` names no digest")))?;
            let progress = printer.progress(&digest.short());
            let started = Instant::now();
            let options = FetchOptions {
                segments: segments_for(reference, settings.segments),
                ..options
            };
            let outcome = fetch_blob(client, store, reference, digest, options, &*progress).await?;
            Ok::<_, anyhow::Error>(TimedOutcome {
                outcome,
                millis: started.elapsed().as_millis(),
            })
        })
        .buffered(settings.jobs);

    let mut first_failure = None;
    // Results come in the order given (`buffered`), one per REF.
    let mut givens = settings.refs.iter().map(|(given, _)| given);
    while let Some(result) = results.next().await {
        let Some(given) = givens.next() else { break };
        // Copies are made here, one at a time in REF order: stdout gets whole blobs, one
        // after another.
        let result = match result {
            Ok(done) => place(store, &settings.output, &done.outcome, printer)
                .await
                .map(|()| done),
            Err(e) => Err(e),
        };
        match result {
            Ok(done) => {
                // A blob with no file here (an s3:// cache) is named by its object's URL.
                let location = done
                    .outcome
                    .path
                    .as_ref()
                    .map(|p| p.display().to_string())
                    .or_else(|| store.blob_url(&done.outcome.digest));
                report(common, given, &done, location, &settings.output, printer)?
            }
            Err(err) => {
                // Whoever read stdout has gone: nothing more can be delivered, so stop now
                // (main exits 0, quietly).
                if super::is_broken_pipe(&err) {
                    return Err(err);
                }
                // Transfer errors already name the blob, the repository and the URL.
                report_item_error(common, given, &err, printer, &mut first_failure)?;
            }
        }
        super::show_registry_warnings(client, printer);
    }
    printer.finish_total();
    Ok(first_failure.map_or(Outcome::Success, Outcome::Failed))
}

/// Copies a fetched blob to where `-o` says. Nothing reaches PATH or stdout unverified: the
/// source is the committed cache file.
async fn place<S: ContentStore>(
    store: &S,
    target: &OutputTarget,
    outcome: &FetchOutcome,
    printer: &Printer,
) -> anyhow::Result<()> {
    if *target == OutputTarget::None {
        return Ok(());
    }
    // A cache without files (s3://) is read back through the store.
    let Some(src) = outcome.path.clone() else {
        return place_streamed(store, target, outcome, printer).await;
    };
    let dest = match target {
        OutputTarget::None => return Ok(()),
        OutputTarget::Stdout => {
            printer.copy_to_stdout(&src)?;
            return Ok(());
        }
        OutputTarget::File(p) => p.clone(),
        // Named by the hex alone: its length says the algorithm (64 for sha256, 128 for
        // sha512).
        OutputTarget::Dir(d) => d.join(outcome.digest.hex()),
    };
    let dest2 = dest.clone();
    // Linking, or copying and fsyncing, blocks: off the runtime.
    tokio::task::spawn_blocking(move || link_or_copy(&src, &dest2))
        .await?
        .with_context(|| format!("writing `{}`", dest.display()))
}

/// [`place`] for a blob with no file on this machine (an `s3://` cache): streamed from the
/// store and hashed on the way, so a copy damaged in transit fails. A file is written under a
/// temporary name and renamed only once it verified; stdout cannot be taken back, so there
/// the error comes after the bytes.
async fn place_streamed<S: ContentStore>(
    store: &S,
    target: &OutputTarget,
    outcome: &FetchOutcome,
    printer: &Printer,
) -> anyhow::Result<()> {
    use tokio::io::AsyncWriteExt as _;
    let digest = &outcome.digest;
    let blob = store
        .open(digest)
        .await?
        .with_context(|| format!("blob {digest} is no longer in the cache"))?;
    let size = blob.size();
    let mut stream = std::pin::pin!(
        blob.stream(0..size)
            .with_context(|| format!("reading blob {digest}"))?
    );
    let dest = match target {
        OutputTarget::None => return Ok(()),
        OutputTarget::Stdout => None,
        OutputTarget::File(p) => Some(p.clone()),
        OutputTarget::Dir(d) => Some(d.join(digest.hex())),
    };
    let tmp = dest.as_ref().map(|d| {
        let name = d
            .file_name()
            .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
        d.with_file_name(format!(".{name}.{}.part", std::process::id()))
    });
    let mut file = match &tmp {
        Some(t) => Some(
            tokio::fs::File::create(t)
                .await
                .with_context(|| format!("creating `{}`", t.display()))?,
        ),
        None => None,
    };
    let mut verifier = digest.algorithm().verifier();
    let copied = async {
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.with_context(|| format!("reading blob {digest}"))?;
            verifier.update(&chunk);
            match file.as_mut() {
                Some(f) => f.write_all(&chunk).await?,
                None => printer.write_stdout(&chunk)?,
            }
        }
        if let Some(f) = file.as_mut() {
            f.sync_all().await?;
        }
        let actual = verifier.finish();
        if actual != *digest {
            anyhow::bail!("blob {digest} read back from the cache hashes to {actual}");
        }
        anyhow::Ok(())
    }
    .await;
    match (copied, tmp, dest) {
        (Ok(()), Some(tmp), Some(dest)) => tokio::fs::rename(&tmp, &dest)
            .await
            .with_context(|| format!("writing `{}`", dest.display())),
        (Ok(()), _, _) => Ok(()),
        (Err(e), tmp, _) => {
            if let Some(t) = tmp {
                let _ = tokio::fs::remove_file(t).await;
            }
            Err(e)
        }
    }
}

/// Reports one blob: its `--json` document, or its cache path when there is no `-o`, on
/// stdout; whether it was cached, or how fast it came, on stderr.
fn report(
    common: &Common,
    given: &str,
    done: &TimedOutcome,
    location: Option<String>,
    target: &OutputTarget,
    printer: &Printer,
) -> anyhow::Result<()> {
    let o = &done.outcome;
    // Without -o the cache path is the data; with -o the copy is the point, and stdout may be
    // carrying the blob itself.
    if common.json {
        printer.json_line(&serde_json::json!({
            "ref": given,
            "digest": o.digest.to_string(),
            "size": o.size,
            "path": o.path,
            "cached": o.cached,
            "bytes_transferred": o.bytes_transferred,
            "duration_ms": done.millis,
        }))?;
    } else if *target == OutputTarget::None
        && let Some(location) = &location
    {
        printer.data_line(location)?;
    }
    if o.cached {
        printer.info(&format!(
            "{}: in the cache ({})",
            o.digest.short(),
            human_bytes(o.size)
        ));
    } else {
        // At least 1 ms, so the rate is never a division by zero.
        let secs = (done.millis as f64 / 1000.0).max(0.001);
        printer.info(&format!(
            "{}: fetched {} in {:.2} s ({}/s)",
            o.digest.short(),
            human_bytes(o.bytes_transferred),
            secs,
            human_bytes((o.bytes_transferred as f64 / secs) as u64)
        ));
    }
    Ok(())
}
