//! `layerget cache ls|du|verify|gc|prune|rm|path`: look at and look after the cache.
//!
//! The store does the work: it plans removals and carries them out (never touching a blob
//! whose fetch lock is held). This file asks it for the cache-wide lock in the mode each
//! subcommand needs (exclusive where something is removed, so no pull is between fetching and
//! recording), calls it, and reports. With `--json`, `ls` and `verify` print one document per
//! item, the others one document in all.
//!
//! A multi-item subcommand (`verify`, `rm`) goes on past a failed item and exits with the
//! category of the first failure; data goes to stdout, per-item chatter to stderr.

use std::path::PathBuf;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use anyhow::Context as _;
use futures_util::StreamExt as _;
use serde_json::json;

use super::{Common, NotFoundError, Outcome, UsageError};
use crate::cli::{CacheCommand, CacheGcArgs, CachePruneArgs};
use crate::digest::Digest;
use crate::exit::Category;
use crate::output::{Printer, count, human_bytes};
use crate::store::{
    BlobInfo, CacheLockMode, Check, ContentStore as _, Maintained, Removal, S3Store, Store, Usage,
};

/// Runs `$body` with `$s` bound to the cache's store, whichever backend it is: the code is
/// generic over [`Maintained`], and each backend gets its own copy of it.
macro_rules! with_store {
    ($cache:expr, $s:ident => $body:expr) => {
        match $cache {
            Cache::Local($s) => $body,
            Cache::S3($s) => $body,
        }
    };
}

/// Runs a `cache` subcommand.
pub async fn run(
    common: &Common,
    command: CacheCommand,
    printer: &Printer,
) -> anyhow::Result<Outcome> {
    // gc, prune and rm remove things: they hold the cache alone, once running fetches and
    // pulls (which hold it shared) are done. Everything else shares it.
    let mode = match command {
        CacheCommand::Gc(_) | CacheCommand::Prune(_) | CacheCommand::Rm(_) => {
            CacheLockMode::Exclusive
        }
        _ => CacheLockMode::Shared,
    };
    // An S3 cache: the same subcommands, from the bucket. It has no cache-wide lock: the
    // store keeps what a pull beside it may need (see `store/s3/maintain.rs`).
    if let Some(config) = common.s3_config(&common.cache_dir) {
        let cache = Cache::S3(Common::open_s3(config?, false).await?);
        return run_on(common, &cache, command, printer).await;
    }
    // Looking after a cache never creates one. The callback runs only when the lock is busy,
    // so an uncontended command says nothing about it.
    let store = Store::open_existing_for(&common.cache_dir, mode, || {
        printer.info(match mode {
            CacheLockMode::Exclusive => {
                "waiting for running fetches and pulls (or another cache command) to finish"
            }
            CacheLockMode::Shared => "waiting for a `layerget cache` command that holds the cache",
        });
    })
    .await
    .with_context(|| format!("opening the cache `{}`", common.cache_dir.display()))?;
    run_on(common, &Cache::Local(store), command, printer).await
}

/// Runs `command` on an opened cache (holding the cache-wide lock, for a local one).
async fn run_on(
    common: &Common,
    cache: &Cache,
    command: CacheCommand,
    printer: &Printer,
) -> anyhow::Result<Outcome> {
    match command {
        CacheCommand::Ls(args) if args.blobs => ls_blobs(common, cache, args.bytes, printer).await,
        CacheCommand::Ls(_) => ls_refs(common, cache, printer).await,
        CacheCommand::Du => du(common, cache, printer).await,
        CacheCommand::Verify(args) => {
            let digests = verify_targets(&args.digests)?;
            let jobs = args.jobs.map(usize::from).unwrap_or_else(|| match cache {
                // Hashing is bound by CPU and disk: one blob per CPU by default (2 when the
                // count cannot be read).
                Cache::Local(_) => std::thread::available_parallelism().map_or(2, |n| n.get()),
                // Reading is the network's work here: 4 blobs at a time by default.
                Cache::S3(_) => 4,
            });
            verify(common, cache, digests, jobs, printer).await
        }
        CacheCommand::Gc(args) => gc(common, cache, &args, printer).await,
        CacheCommand::Prune(args) => {
            with_store!(cache, s => prune(common, s, &args, printer).await)
        }
        CacheCommand::Rm(args) => {
            with_store!(cache, s => rm(common, s, &args.targets, printer).await)
        }
        CacheCommand::Path(args) => {
            let digest = parse_digest(&args.digest)?;
            // A path is printed only for a blob that is there: `present` also refuses a
            // `blobs/` entry that is not a file (a directory, say).
            let Some(size) = with_store!(cache, s => s.present(&digest).await?) else {
                return Err(NotFoundError(format!("blob {digest} is not in the cache")).into());
            };
            let path = cache.blob_path(&digest);
            // Asking for the path is a use (the caller is about to read it); a bucket keeps
            // no use but the object's write.
            with_store!(cache, s => s.touch(&digest).await?);
            if common.json {
                printer.json_line(
                    &json!({"digest": digest.to_string(), "size": size, "path": path}),
                )?;
            } else {
                printer.data_line(&path.display().to_string())?;
            }
            Ok(Outcome::Success)
        }
    }
}

/// The cache the subcommands look at: the local layout, or an S3 bucket. Each method is the
/// backend's listing or check; what is printed is the same code for both.
enum Cache {
    Local(Store),
    S3(S3Store),
}

impl Cache {
    /// The cache's location as people name it.
    fn location(&self) -> String {
        match self {
            Cache::Local(s) => s.root().display().to_string(),
            Cache::S3(s) => s.url(),
        }
    }

    /// Every blob, and what under `blobs/` is not one (the local layout only).
    async fn blobs(&self) -> anyhow::Result<(Vec<BlobInfo>, Vec<PathBuf>)> {
        Ok(match self {
            Cache::Local(s) => s.blobs()?,
            Cache::S3(s) => (s.blob_infos().await?, Vec::new()),
        })
    }

    /// Where a blob is.
    fn blob_path(&self, digest: &Digest) -> PathBuf {
        match self {
            Cache::Local(s) => s.blob_path(digest),
            Cache::S3(s) => s.blob_url(digest),
        }
    }

    async fn usage(&self) -> anyhow::Result<Usage> {
        Ok(match self {
            Cache::Local(s) => s.usage()?,
            Cache::S3(s) => s.usage().await?,
        })
    }

    /// Re-hashes one blob, quarantining it when bad: its size (0 when missing), the check,
    /// and where a bad one went.
    async fn verify_one(&self, d: Digest) -> anyhow::Result<(Digest, u64, Check, Option<PathBuf>)> {
        match self {
            Cache::Local(s) => {
                let s = s.clone();
                // Hashing is CPU and disk: one blocking thread per blob in flight.
                let done = tokio::task::spawn_blocking(move || {
                    // The size is for the report only: a blob gone between this and the hash
                    // is reported as missing, with size 0.
                    let size = s.lookup(&d)?;
                    let (check, moved) = s.verify_and_quarantine(&d)?;
                    Ok::<_, crate::store::StoreError>((d, size.unwrap_or(0), check, moved))
                })
                .await??;
                Ok(done)
            }
            Cache::S3(s) => {
                let (size, check, moved) = s.verify_and_quarantine(&d).await?;
                Ok((d, size, check, moved))
            }
        }
    }
}

/// `cache verify`'s arguments, every one parsed before any hashing, so that a typo is a usage
/// error at once rather than after minutes of work on the others.
fn verify_targets(given: &[String]) -> anyhow::Result<Vec<Digest>> {
    given.iter().map(|s| parse_digest(s)).collect()
}

/// `sha256:…` or `NAME@sha256:…`. The name is dropped unchecked: the cache is shared by all
/// names, so only the digest locates content. (The last `@` splits: a digest holds none.)
fn parse_digest(s: &str) -> anyhow::Result<Digest> {
    let d = s.rsplit_once('@').map_or(s, |(_, d)| d);
    d.parse::<Digest>()
        .with_context(|| format!("invalid digest `{s}`"))
}

/// RFC 3339 in UTC, to the second. A time before 1970 (a file system may report one) prints
/// as the epoch.
fn rfc3339(t: SystemTime) -> String {
    let secs = t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let (days, rem) = (secs / 86400, secs % 86400);
    // Howard Hinnant's days-to-civil algorithm. The epoch moves to 0000-03-01, so that a
    // leap day is the last day of its (March-based) year and needs no special case.
    let z = days as i64 + 719_468;
    // 400-year eras of 146 097 days each; `doe` is the day within the era (0..=146 096).
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    // Year of the era (0..=399), day of its March-based year (0..=365), and month counted
    // from March (0..=11).
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    // Back to January-based months: January and February end the March-based year, so
    // they belong to the next civil year.
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// `cache ls --blobs`: one line per blob, `DIGEST SIZE LAST-USE`, in digest order. The last
/// use (the later of access and modification time) is what `cache prune` evicts by.
async fn ls_blobs(
    common: &Common,
    store: &Cache,
    bytes: bool,
    printer: &Printer,
) -> anyhow::Result<Outcome> {
    let (blobs, strange) = store.blobs().await?;
    // Said on stderr, and not at all with --json: an empty cache is simply no lines.
    if blobs.is_empty() && !common.json {
        printer.info(&format!("no blobs in the cache `{}`", store.location()));
    }
    for b in &blobs {
        if common.json {
            printer.json_line(&json!({
                "digest": b.digest.to_string(),
                "size": b.size,
                "last_use": rfc3339(b.last_use),
                "path": store.blob_path(&b.digest),
            }))?;
        } else {
            let size = if bytes {
                b.size.to_string()
            } else {
                human_bytes(b.size)
            };
            printer.data_line(&format!("{} {size} {}", b.digest, rfc3339(b.last_use)))?;
        }
    }
    // Unknown algorithms, directories and symlinks under `blobs/` name no digest we could
    // list: they are pointed out, and left as they are.
    for path in strange {
        printer.warn(&format!("`{}` is not a blob", path.display()));
    }
    Ok(Outcome::Success)
}

/// `cache ls`: one line per name recorded in the reference table (an unnamed entry by its
/// digest), with the digest its entry points at and the bytes present of the blobs it reaches.
/// A reference that reaches missing blobs (an interrupted pull, a blob removed or quarantined
/// since) says so.
async fn ls_refs(common: &Common, cache: &Cache, printer: &Printer) -> anyhow::Result<Outcome> {
    let rows = with_store!(cache, s => {
        let index = s.index().await?;
        let blobs = s.blob_infos().await?;
        crate::store::reference_summaries(s, &index, &blobs).await?
    });
    if rows.is_empty() && !common.json {
        // Said on stderr: stdout stays empty for scripts.
        printer.info(&format!(
            "no references in the cache `{}` (`layerget pull` records them; `cache ls --blobs` lists blobs)",
            cache.location()
        ));
    }
    for r in rows {
        if common.json {
            printer.json_line(&json!({
                "ref": r.name,
                "digest": r.entry.digest.to_string(),
                "media_type": r.entry.media_type,
                "platform": r.entry.platform.as_ref().map(ToString::to_string),
                "size": r.size,
                "complete": r.missing == 0,
                "missing_blobs": r.missing,
            }))?;
        } else {
            // Pulling again finishes it: a pull answers what it has from the cache and
            // fetches only what is missing.
            let state = if r.missing == 0 {
                String::new()
            } else {
                format!(
                    " incomplete ({} missing; pull again)",
                    count(r.missing, "blob")
                )
            };
            printer.data_line(&format!(
                "{} {} {}{state}",
                r.name,
                r.entry.digest,
                human_bytes(r.size)
            ))?;
        }
    }
    Ok(Outcome::Success)
}

/// `cache du`: bytes by area. Sizes are file lengths, so a segmented partial download with
/// holes counts at its full length. The total is what the cache occupies; `cache prune
/// --max-size` compares `blobs/` alone.
async fn du(common: &Common, store: &Cache, printer: &Printer) -> anyhow::Result<Outcome> {
    let u = store.usage().await?;
    let total = u.total();
    if common.json {
        printer.json_line(&json!({
            "path": store.location(),
            "total_bytes": total,
            "blob_bytes": u.blob_bytes,
            "blob_count": u.blobs,
            "ingest_bytes": u.ingest_bytes,
            "ingest_count": u.partials,
            "quarantine_bytes": u.quarantine_bytes,
            "quarantine_count": u.quarantined,
        }))?;
    } else {
        printer.data_line(&format!(
            "{} ({total} bytes) in {}: {} {}, {} {}, {} quarantined {}",
            human_bytes(total),
            store.location(),
            count(u.blobs, "blob"),
            human_bytes(u.blob_bytes),
            count(u.partials, "partial download"),
            human_bytes(u.ingest_bytes),
            u.quarantined,
            human_bytes(u.quarantine_bytes),
        ))?;
    }
    Ok(Outcome::Success)
}

/// `cache verify`: re-hashes `digests` (every blob when empty), `jobs` at a time. A bad blob
/// is moved to `quarantine/` rather than deleted, so it can be looked at; the run goes on, and
/// ends with the first failure's category (integrity for a bad blob, not found for a
/// missing one).
async fn verify(
    common: &Common,
    store: &Cache,
    digests: Vec<Digest>,
    jobs: usize,
    printer: &Printer,
) -> anyhow::Result<Outcome> {
    let started = Instant::now();
    // With no arguments, every blob the walk finds; what is not a blob is left alone.
    let all = digests.is_empty();
    let digests = if all {
        let (blobs, strange) = store.blobs().await?;
        for path in strange {
            printer.warn(&format!("`{}` is not a blob (left alone)", path.display()));
        }
        blobs.into_iter().map(|b| b.digest).collect()
    } else {
        digests
    };
    let mut results = futures_util::stream::iter(digests.iter().cloned())
        .map(|d| store.verify_one(d))
        // `buffered`, not `buffer_unordered`: lines come in the order of `digests` (the walk's
        // sorted one, or the command line's), whichever hash finishes first.
        .buffered(jobs.max(1));
    let (mut good, mut bad, mut bytes) = (0usize, 0usize, 0u64);
    let mut first_failure = None;
    while let Some(result) = results.next().await {
        // A task that died, or a blob that cannot be read, ends the command: neither says
        // whether the bytes are good.
        let (digest, size, check, moved) = result?;
        bytes += size;
        match check {
            // Good blobs print nothing without --json: the summary counts them.
            Check::Good => {
                good += 1;
                if common.json {
                    printer.json_line(
                        &json!({"digest": digest.to_string(), "size": size, "ok": true}),
                    )?;
                }
            }
            Check::Mismatch(actual) => {
                bad += 1;
                first_failure.get_or_insert(Category::Integrity);
                // Always `Some` for a mismatch (the store moved it there); the default only
                // keeps this total.
                let moved = moved.unwrap_or_default();
                if common.json {
                    printer.json_line(&json!({
                        "digest": digest.to_string(), "size": size, "ok": false,
                        "actual": actual.to_string(), "action": "quarantined", "path": moved,
                    }))?;
                } else {
                    printer.data_line(&format!(
                        "{digest} bad: its {size} bytes hash to {actual}; moved to {}",
                        moved.display()
                    ))?;
                }
            }
            // A digest asked for that is not cached, or a blob that went during the walk:
            // another `cache verify` or a `fetch --verify-cached` may move or remove one, as
            // both run beside this under the shared lock.
            Check::Missing => {
                first_failure.get_or_insert(Category::NotFound);
                let err =
                    anyhow::Error::new(NotFoundError(format!("blob {digest} is not in the cache")));
                printer.error(&err);
                if common.json {
                    printer.json_line(&super::json_error(&digest.to_string(), &err))?;
                }
            }
        }
    }
    // Missing blobs are not counted as verified (they were reported one by one above).
    printer.info(&format!(
        "verified {} ({}) in {:.2} s: {good} good, {bad} bad{}",
        count(good + bad, "blob"),
        human_bytes(bytes),
        started.elapsed().as_secs_f64(),
        if bad > 0 {
            " (moved to quarantine/; `pull` or `fetch` gets them again, `cache gc` deletes the quarantine)"
        } else {
            ""
        }
    ));
    Ok(first_failure.map_or(Outcome::Success, Outcome::Failed))
}

/// `cache gc`: plans and carries out the collection, under the exclusive cache lock [`run`]
/// took (a local cache). Partial downloads go once untouched for `--ingest-age`; the
/// quarantine goes whole. The store still leaves alone whatever a fetch's lock holds, and
/// whatever a reference recorded since the plan reaches; on a bucket also unreachable blobs
/// younger than `--ingest-age`.
async fn gc(
    common: &Common,
    store: &Cache,
    args: &CacheGcArgs,
    printer: &Printer,
) -> anyhow::Result<Outcome> {
    let (loose, age, dry_run) = (args.loose, args.ingest_age, args.dry_run);
    let (plan, done) = match store {
        Cache::Local(s) => {
            // A manifest that cannot be read fails the plan, before anything is removed:
            // guessing what it reaches could remove what a reference needs.
            let plan = s
                .plan_gc(loose, age)
                .await
                .context("planning the collection (nothing was removed)")?;
            let done = s.collect_garbage(&plan, dry_run).await?;
            (plan, done)
        }
        Cache::S3(s) => {
            // No lock keeps pulls away from a bucket: blobs younger than the grace are kept.
            let plan = s
                .plan_gc(loose, age)
                .await
                .context("planning the collection (nothing was removed)")?;
            let done = s.collect_garbage(&plan, dry_run).await?;
            (plan, done)
        }
    };
    let (removed, removed_ingest) = (&done.removed, &done.removed_ingest);
    let removed_quarantine = &done.removed_quarantine;
    // Blobs first, then partial downloads, as they were met.
    let in_use: Vec<String> = (done.blobs_in_use.iter().map(ToString::to_string))
        .chain(done.ingest_in_use.iter().map(|p| p.display().to_string()))
        .collect();
    let blob_bytes: u64 = removed.iter().map(|b| b.size).sum();
    let ingest_bytes: u64 = removed_ingest.iter().map(|i| i.size).sum();
    // The quarantine has no locks to respect: all of the plan's goes (or, dry, would go).
    let quarantine_bytes: u64 = plan.quarantine.iter().map(|q| q.1).sum();
    let loose_bytes: u64 = plan.loose_kept.iter().map(|b| b.size).sum();
    // With --dry-run the same report, of what would go.
    if common.json {
        printer.json_line(&json!({
            "dry_run": args.dry_run,
            "removed_blobs": removed.iter().map(|b| json!({"digest": b.digest.to_string(), "size": b.size})).collect::<Vec<_>>(),
            "removed_ingest": removed_ingest.iter().map(|i| json!({"path": i.path, "digest": i.digest.as_ref().map(ToString::to_string), "size": i.size})).collect::<Vec<_>>(),
            "removed_quarantine": removed_quarantine,
            "freed_bytes": blob_bytes + ingest_bytes + quarantine_bytes,
            "kept_loose": plan.loose_kept.iter().map(|b| b.digest.to_string()).collect::<Vec<_>>(),
            "kept_recent": plan.recent.iter().map(|b| b.digest.to_string()).collect::<Vec<_>>(),
            "kept_referenced": done.referenced.iter().map(ToString::to_string).collect::<Vec<_>>(),
            "in_use": in_use,
        }))?;
    } else {
        let verb = if args.dry_run {
            "would remove"
        } else {
            "removed"
        };
        // Each blob on stderr, the summary on stdout.
        for b in removed {
            printer.info(&format!("{verb} {} ({})", b.digest, human_bytes(b.size)));
        }
        printer.data_line(&format!(
            "{verb} {} ({}), {} ({}), {} quarantined ({}); kept {} ({}){}",
            count(removed.len(), "blob"),
            human_bytes(blob_bytes),
            count(removed_ingest.len(), "ingest entry"),
            human_bytes(ingest_bytes),
            removed_quarantine.len(),
            human_bytes(quarantine_bytes),
            count(plan.loose_kept.len(), "loose blob"),
            human_bytes(loose_bytes),
            // Blobs fetched by digest alone (`layerget fetch`) are kept by default: no
            // manifest in the cache names them, so nothing says they are garbage.
            if plan.loose_kept.is_empty() || args.loose {
                ""
            } else {
                " (--loose removes them)"
            },
        ))?;
        for what in &in_use {
            printer.info(&format!("kept `{what}`: a running fetch holds its lock"));
        }
        for d in &done.referenced {
            printer.info(&format!(
                "kept `{d}`: a reference recorded since the plan reaches it"
            ));
        }
        // Empty on a local cache (no grace there: its lock keeps pulls away).
        if !plan.recent.is_empty() {
            printer.info(&format!(
                "kept {} ({}) that no reference reaches but changed within --ingest-age (a pull beside this one may still record a reference to them)",
                count(plan.recent.len(), "recent blob"),
                human_bytes(plan.recent.iter().map(|b| b.size).sum()),
            ));
        }
    }
    Ok(Outcome::Success)
}

/// `cache prune`: evicts least recently used references (with the blobs only they use) and
/// unreachable blobs until `blobs/` fits `--max-size`. Partial downloads and the quarantine
/// are neither counted nor touched (`cache gc` is for them).
async fn prune<S: Maintained>(
    common: &Common,
    store: &S,
    args: &CachePruneArgs,
    printer: &Printer,
) -> anyhow::Result<Outcome> {
    let (max_size, dry_run) = (args.max_size, args.dry_run);
    // The store drops references before their blobs: an interrupted prune leaves fewer
    // references, never one whose blobs are gone.
    let plan = crate::store::plan_prune(store, max_size).await?;
    let done = crate::store::prune(store, &plan, dry_run).await?;
    let freed = done.freed;
    // Kept by a writer, or by a reference recorded since the plan (a pull beside this one
    // where there is no cache-wide lock: a bucket).
    let in_use: Vec<String> = (done.in_use.iter().chain(&done.referenced))
        .map(ToString::to_string)
        .collect();
    let after = plan.before - freed;
    if common.json {
        printer.json_line(&json!({
            "dry_run": args.dry_run,
            "max_size": args.max_size,
            "before_bytes": plan.before,
            "after_bytes": after,
            "evicted_refs": plan.references,
            "removed_blobs": plan.blobs.iter().map(|b| json!({"digest": b.digest.to_string(), "size": b.size, "last_use": rfc3339(b.last_use)})).collect::<Vec<_>>(),
            "in_use": in_use,
        }))?;
    } else {
        let verb = if args.dry_run {
            "would evict"
        } else {
            "evicted"
        };
        for name in &plan.references {
            printer.info(&format!("{verb} {name}"));
        }
        printer.data_line(&format!(
            "{verb} {} and {} ({}); blobs/ {} → {} (limit {})",
            count(plan.references.len(), "reference"),
            count(plan.blobs.len(), "blob"),
            human_bytes(freed),
            human_bytes(plan.before),
            human_bytes(after),
            human_bytes(args.max_size),
        ))?;
    }
    // Evicting every unit empties `blobs/`, so the plan always fits: only blobs a running
    // fetch holds can leave it over the limit.
    if after > args.max_size {
        printer.warn(&format!(
            "blobs/ still holds {} (more than {}): {} in use by running fetches or pulls",
            human_bytes(after),
            human_bytes(args.max_size),
            count(in_use.len(), "blob")
        ));
    }
    Ok(Outcome::Success)
}

/// `cache rm`: removes each target in turn. A failed one is reported and the rest still run;
/// the first failure's category is the exit code.
async fn rm<S: Maintained>(
    common: &Common,
    store: &S,
    targets: &[String],
    printer: &Printer,
) -> anyhow::Result<Outcome> {
    let mut first_failure = None;
    for given in targets {
        match rm_one(store, given).await {
            Ok(Removal {
                references: refs,
                removed,
                in_use,
            }) => {
                if common.json {
                    printer.json_line(&json!({
                        "target": given,
                        "removed_refs": refs,
                        "removed_blobs": removed.iter().map(ToString::to_string).collect::<Vec<_>>(),
                        "in_use": in_use.iter().map(ToString::to_string).collect::<Vec<_>>(),
                    }))?;
                } else {
                    printer.data_line(&format!(
                        "{given}: removed {} and {}{}",
                        count(refs.len(), "reference"),
                        count(removed.len(), "blob"),
                        if in_use.is_empty() {
                            String::new()
                        } else {
                            format!(" ({} kept: a running fetch holds them)", in_use.len())
                        }
                    ))?;
                }
            }
            Err(err) => {
                let category = super::category_of(&err);
                first_failure.get_or_insert(category);
                printer.error(&err);
                if common.json {
                    printer.json_line(&super::json_error(given, &err))?;
                }
            }
        }
    }
    Ok(first_failure.map_or(Outcome::Success, Outcome::Failed))
}

/// Removes a reference (its entries, and the blobs no other reference reaches) or a blob (and
/// the entries that point at it).
async fn rm_one<S: Maintained>(store: &S, given: &str) -> anyhow::Result<Removal> {
    // A name recorded in index.json wins; else a reference normalizes to one; else a digest.
    // The normalized form is the name `pull` records (registry and `:latest` filled in), so
    // `app` finds what `pull app` left; a target that is no reference adds nothing.
    let mut names = vec![given.to_owned()];
    names.extend(
        super::pull::parse_image_reference(given)
            .ok()
            .map(|r| r.to_string()),
    );
    // Only the blobs no other reference reaches go with a reference: shared layers stay.
    if let Some(removal) = crate::store::remove_reference(store, &names).await? {
        return Ok(removal);
    }
    // `sha256:…`, or `NAME@sha256:…` with the name unchecked (blobs belong to no name).
    let digest = given
        .parse::<Digest>()
        .or_else(|_| parse_digest(given))
        .map_err(|_| {
            NotFoundError(format!(
                "`{given}` is neither a reference in the cache (see `layerget cache ls`) nor a digest"
            ))
        })?;
    let removal = crate::store::remove_blob_and_entries(store, &digest).await?;
    // Not found only when nothing at all was there: neither the blob nor an entry naming it.
    let absent = removal.removed.is_empty() && removal.in_use.is_empty();
    if absent && removal.references.is_empty() {
        return Err(NotFoundError(format!("blob {digest} is not in the cache")).into());
    }
    // The one thing asked for was not done, so this is a failure (exit 2), not a partial
    // success. The entries naming it are gone already: a retry only has the blob left.
    if !removal.in_use.is_empty() {
        return Err(UsageError(format!(
            "blob {digest} is being fetched by another layerget (its lock is held); try again later"
        ))
        .into());
    }
    Ok(removal)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    /// The civil-date conversion at the epoch, on the leap day of a year divisible by 400, and
    /// on the last second of a year.
    #[test]
    fn timestamps() {
        let t = |s| rfc3339(UNIX_EPOCH + Duration::from_secs(s));
        assert_eq!(t(0), "1970-01-01T00:00:00Z");
        assert_eq!(t(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(t(1_767_225_599), "2025-12-31T23:59:59Z");
    }

    /// A `NAME@` prefix is dropped and the digest kept; a malformed digest is refused.
    #[test]
    fn digests_in_arguments() {
        let hex = "a".repeat(64);
        assert_eq!(
            parse_digest(&format!("r/a@sha256:{hex}")).unwrap().hex(),
            hex
        );
        assert!(parse_digest("sha256:zz").is_err());
    }
}
