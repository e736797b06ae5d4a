//! `layerget cache ls|du|verify|gc|prune|rm|path`: look at and look after the cache.
//!
//! The store does the work and plans removals; this file takes the cache-wide lock where
//! something is removed (so no pull is between fetching and recording), carries plans out
//! (never touching a blob whose fetch lock is held), and reports. With `--json`, `ls` and
//! `verify` print one document per item, the others one document in all.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::PathBuf;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use anyhow::Context as _;
use futures_util::StreamExt as _;
use serde_json::json;

use super::{Common, NotFoundError, Outcome, UsageError};
use crate::cli::{CacheCommand, CacheGcArgs, CachePruneArgs};
use crate::digest::Digest;
use crate::envelope::Category;
use crate::manifest::REF_NAME;
use crate::output::{Printer, count, human_bytes};
use crate::store::{
    BlobInfo, CacheLockMode, Check, Closure, LayoutIndex, Store, owner, plan_prune,
};

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
    // Looking after a cache never creates one.
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
    match command {
        CacheCommand::Ls(args) if args.blobs => ls_blobs(common, &store, args.bytes, printer),
        CacheCommand::Ls(_) => ls_refs(common, &store, printer),
        CacheCommand::Du => du(common, &store, printer),
        CacheCommand::Verify(args) => {
            let digests = args
                .digests
                .iter()
                .map(|s| parse_digest(s))
                .collect::<anyhow::Result<Vec<_>>>()?;
            let jobs = args.jobs.map_or_else(
                || std::thread::available_parallelism().map_or(2, |n| n.get()),
                usize::from,
            );
            verify(common, &store, digests, jobs, printer).await
        }
        CacheCommand::Gc(args) => gc(common, &store, &args, printer).await,
        CacheCommand::Prune(args) => prune(common, &store, &args, printer).await,
        CacheCommand::Rm(args) => rm(common, &store, &args.targets, printer).await,
        CacheCommand::Path(args) => {
            let digest = parse_digest(&args.digest)?;
            let Some(size) = store.lookup(&digest)? else {
                return Err(NotFoundError(format!("blob {digest} is not in the cache")).into());
            };
            let path = store.blob_path(&digest);
            // Asking for the path is a use (the caller is about to read it).
            store.touch_blob(&digest)?;
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

/// `sha256:…` or `NAME@sha256:…`.
fn parse_digest(s: &str) -> anyhow::Result<Digest> {
    let d = s.rsplit_once('@').map_or(s, |(_, d)| d);
    d.parse::<Digest>()
        .with_context(|| format!("invalid digest `{s}`"))
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> anyhow::Result<T> {
    Ok(tokio::task::spawn_blocking(f).await?)
}

/// RFC 3339 in UTC, to the second.
fn rfc3339(t: SystemTime) -> String {
    let secs = t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let (days, rem) = (secs / 86400, secs % 86400);
    // Howard Hinnant's days-to-civil algorithm.
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

fn ls_blobs(
    common: &Common,
    store: &Store,
    bytes: bool,
    printer: &Printer,
) -> anyhow::Result<Outcome> {
    let (blobs, strange) = store.blobs()?;
    if blobs.is_empty() && !common.json {
        printer.info(&format!(
            "no blobs in the cache `{}`",
            store.root().display()
        ));
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
    for path in strange {
        printer.warn(&format!("`{}` is not a blob", path.display()));
    }
    Ok(Outcome::Success)
}

/// One reference as `cache ls` shows it.
struct RefRow {
    name: String,
    digest: Digest,
    media_type: String,
    platform: Option<String>,
    size: u64,
    missing: usize,
}

fn ref_rows(store: &Store, index: &LayoutIndex) -> anyhow::Result<Vec<RefRow>> {
    let (blobs, _) = store.blobs()?;
    let sizes: HashMap<&Digest, u64> = blobs.iter().map(|b| (&b.digest, b.size)).collect();
    let mut rows: BTreeMap<String, RefRow> = BTreeMap::new();
    let mut extra: HashMap<String, Vec<Digest>> = HashMap::new();
    for d in index.entries() {
        let named = d.annotations.get(REF_NAME).cloned();
        let Some(name) = named.clone().or_else(|| owner(&d).map(str::to_owned)) else {
            let name = d.digest.to_string();
            let closure = store.closure(std::slice::from_ref(&d))?;
            rows.insert(name.clone(), row(name, &d, &closure, &sizes));
            continue;
        };
        if named.is_some() {
            // Completeness and size follow the named entry; an index recorded beside a chosen
            // platform adds only its own bytes (its other platforms were never pulled).
            let closure = store.closure(std::slice::from_ref(&d))?;
            rows.insert(name.clone(), row(name, &d, &closure, &sizes));
        } else {
            extra.entry(name).or_default().push(d.digest);
        }
    }
    for (name, digests) in extra {
        if let Some(r) = rows.get_mut(&name) {
            r.size += digests.iter().filter_map(|d| sizes.get(d)).sum::<u64>();
        }
    }
    Ok(rows.into_values().collect())
}

fn row(
    name: String,
    d: &crate::manifest::Descriptor,
    closure: &Closure,
    sizes: &HashMap<&Digest, u64>,
) -> RefRow {
    RefRow {
        name,
        digest: d.digest.clone(),
        media_type: d.media_type.clone(),
        platform: d.platform.as_ref().map(ToString::to_string),
        size: closure.present.iter().filter_map(|x| sizes.get(x)).sum(),
        missing: closure.missing.len(),
    }
}

fn ls_refs(common: &Common, store: &Store, printer: &Printer) -> anyhow::Result<Outcome> {
    let index = store.read_index()?;
    let rows = ref_rows(store, &index)?;
    if rows.is_empty() && !common.json {
        // Said on stderr: stdout stays empty for scripts.
        printer.info(&format!(
            "no references in the cache `{}` (`layerget pull` records them; `cache ls --blobs` lists blobs)",
            store.root().display()
        ));
    }
    for r in rows {
        if common.json {
            printer.json_line(&json!({
                "ref": r.name,
                "digest": r.digest.to_string(),
                "media_type": r.media_type,
                "platform": r.platform,
                "size": r.size,
                "complete": r.missing == 0,
                "missing_blobs": r.missing,
            }))?;
        } else {
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
                r.digest,
                human_bytes(r.size)
            ))?;
        }
    }
    Ok(Outcome::Success)
}

fn du(common: &Common, store: &Store, printer: &Printer) -> anyhow::Result<Outcome> {
    let (blobs, _) = store.blobs()?;
    let ingest = store.ingests()?;
    let quarantine = store.quarantined()?;
    let blob_bytes: u64 = blobs.iter().map(|b| b.size).sum();
    let ingest_bytes: u64 = ingest.iter().map(|i| i.size).sum();
    let partials = ingest.iter().filter(|i| i.path.is_dir()).count();
    let quarantine_bytes: u64 = quarantine.iter().map(|q| q.1).sum();
    let total = blob_bytes + ingest_bytes + quarantine_bytes;
    if common.json {
        printer.json_line(&json!({
            "path": store.root(),
            "total_bytes": total,
            "blob_bytes": blob_bytes,
            "blob_count": blobs.len(),
            "ingest_bytes": ingest_bytes,
            "ingest_count": partials,
            "quarantine_bytes": quarantine_bytes,
            "quarantine_count": quarantine.len(),
        }))?;
    } else {
        printer.data_line(&format!(
            "{} ({total} bytes) in {}: {} {}, {} {}, {} quarantined {}",
            human_bytes(total),
            store.root().display(),
            count(blobs.len(), "blob"),
            human_bytes(blob_bytes),
            count(partials, "partial download"),
            human_bytes(ingest_bytes),
            quarantine.len(),
            human_bytes(quarantine_bytes),
        ))?;
    }
    Ok(Outcome::Success)
}

async fn verify(
    common: &Common,
    store: &Store,
    digests: Vec<Digest>,
    jobs: usize,
    printer: &Printer,
) -> anyhow::Result<Outcome> {
    let started = Instant::now();
    let all = digests.is_empty();
    let digests = if all {
        let (blobs, strange) = store.blobs()?;
        for path in strange {
            printer.warn(&format!("`{}` is not a blob (left alone)", path.display()));
        }
        blobs.into_iter().map(|b| b.digest).collect()
    } else {
        digests
    };
    let mut results = futures_util::stream::iter(digests.iter().cloned())
        .map(|d| {
            let s = store.clone();
            // Hashing is CPU and disk: one blocking thread per blob in flight.
            tokio::task::spawn_blocking(move || {
                let size = s.lookup(&d)?;
                let (check, moved) = s.verify_and_quarantine(&d)?;
                Ok::<_, crate::store::StoreError>((d, size.unwrap_or(0), check, moved))
            })
        })
        .buffered(jobs.max(1));
    let (mut good, mut bad, mut bytes) = (0usize, 0usize, 0u64);
    let mut first_failure = None;
    while let Some(result) = results.next().await {
        let (digest, size, check, moved) = result??;
        bytes += size;
        match check {
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

async fn gc(
    common: &Common,
    store: &Store,
    args: &CacheGcArgs,
    printer: &Printer,
) -> anyhow::Result<Outcome> {
    let (s, loose, age) = (store.clone(), args.loose, args.ingest_age);
    let plan = blocking(move || s.plan_gc(loose, age))
        .await?
        .context("planning the collection (nothing was removed)")?;
    let mut removed: Vec<&BlobInfo> = Vec::new();
    let mut in_use: Vec<String> = Vec::new();
    let mut removed_ingest = Vec::new();
    let mut removed_quarantine: Vec<&PathBuf> = Vec::new();
    for b in &plan.blobs {
        if plan.manifests.contains(&b.digest) && !in_use.is_empty() {
            // Its content may not all be gone: keep the manifest that says it is garbage, so
            // the next gc finds that content again (rather than taking it for loose blobs).
            continue;
        }
        let gone = if args.dry_run {
            !store.is_locked(&b.digest)?
        } else {
            store.remove_blob_unless_locked(&b.digest)?
        };
        if gone {
            removed.push(b);
        } else {
            in_use.push(b.digest.to_string());
        }
    }
    for i in &plan.ingest {
        if args.dry_run || store.remove_ingest_unless_locked(i)? {
            removed_ingest.push(i);
        } else {
            in_use.push(i.path.display().to_string());
        }
    }
    for (path, _) in &plan.quarantine {
        if !args.dry_run {
            std::fs::remove_file(path)
                .or_else(|_| std::fs::remove_dir_all(path))
                .with_context(|| format!("removing `{}`", path.display()))?;
        }
        removed_quarantine.push(path);
    }
    let blob_bytes: u64 = removed.iter().map(|b| b.size).sum();
    let ingest_bytes: u64 = removed_ingest.iter().map(|i| i.size).sum();
    let quarantine_bytes: u64 = plan.quarantine.iter().map(|q| q.1).sum();
    let loose_bytes: u64 = plan.loose_kept.iter().map(|b| b.size).sum();
    if common.json {
        printer.json_line(&json!({
            "dry_run": args.dry_run,
            "removed_blobs": removed.iter().map(|b| json!({"digest": b.digest.to_string(), "size": b.size})).collect::<Vec<_>>(),
            "removed_ingest": removed_ingest.iter().map(|i| json!({"path": i.path, "digest": i.digest.as_ref().map(ToString::to_string), "size": i.size})).collect::<Vec<_>>(),
            "removed_quarantine": removed_quarantine,
            "freed_bytes": blob_bytes + ingest_bytes + quarantine_bytes,
            "kept_loose": plan.loose_kept.iter().map(|b| b.digest.to_string()).collect::<Vec<_>>(),
            "in_use": in_use,
        }))?;
    } else {
        let verb = if args.dry_run {
            "would remove"
        } else {
            "removed"
        };
        for b in &removed {
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
            if plan.loose_kept.is_empty() || args.loose {
                ""
            } else {
                " (--loose removes them)"
            },
        ))?;
        for what in &in_use {
            printer.info(&format!("kept `{what}`: a running fetch holds its lock"));
        }
    }
    Ok(Outcome::Success)
}

/// Removes the entries of one reference group (named, or an unnamed entry by digest).
fn remove_group(index: &mut LayoutIndex, name: &str) -> usize {
    let digest = name.parse::<Digest>().ok();
    index
        .remove_where(|d| match owner(d) {
            Some(o) => o == name,
            None => digest.as_ref() == Some(&d.digest),
        })
        .len()
}

async fn prune(
    common: &Common,
    store: &Store,
    args: &CachePruneArgs,
    printer: &Printer,
) -> anyhow::Result<Outcome> {
    let s = store.clone();
    let (blobs, closures) =
        blocking(move || Ok::<_, anyhow::Error>((s.blobs()?.0, s.reference_closures()?))).await??;
    let plan = plan_prune(&blobs, &closures, args.max_size);
    let mut in_use = Vec::new();
    let mut freed = 0;
    if !args.dry_run {
        // References go first: interrupted, the cache has fewer references, never a broken one.
        let (s, names) = (store.clone(), plan.references.clone());
        blocking(move || {
            s.update_index(|index| {
                let n: usize = names.iter().map(|name| remove_group(index, name)).sum();
                ((), n > 0)
            })
        })
        .await??;
    }
    for b in &plan.blobs {
        let gone = if args.dry_run {
            !store.is_locked(&b.digest)?
        } else {
            store.remove_blob_unless_locked(&b.digest)?
        };
        if gone {
            freed += b.size;
        } else {
            in_use.push(b.digest.to_string());
        }
    }
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
    if after > args.max_size {
        printer.warn(&format!(
            "blobs/ still holds {} (more than {}): {} in use by running fetches",
            human_bytes(after),
            human_bytes(args.max_size),
            count(in_use.len(), "blob")
        ));
    }
    Ok(Outcome::Success)
}

async fn rm(
    common: &Common,
    store: &Store,
    targets: &[String],
    printer: &Printer,
) -> anyhow::Result<Outcome> {
    let mut first_failure = None;
    for given in targets {
        match rm_one(store, given).await {
            Ok((refs, removed, in_use)) => {
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
/// the entries that point at it). Returns the references dropped, the blobs removed and the
/// blobs left because a fetch holds them.
async fn rm_one(
    store: &Store,
    given: &str,
) -> anyhow::Result<(Vec<String>, Vec<Digest>, Vec<Digest>)> {
    let s = store.clone();
    let closures = blocking(move || s.reference_closures()).await??;
    // A name recorded in index.json wins; else a reference normalizes to one; else a digest.
    let name = if closures.contains_key(given) {
        Some(given.to_owned())
    } else {
        super::pull::parse_image_reference(given)
            .ok()
            .map(|r| r.to_string())
            .filter(|n| closures.contains_key(n))
    };
    if let Some(name) = name {
        let others: HashSet<&Digest> = closures
            .iter()
            .filter(|(n, _)| **n != name)
            .flat_map(|(_, c)| &c.blobs)
            .collect();
        // `name` was found among `closures` above.
        let mut mine: Vec<Digest> = closures
            .get(&name)
            .into_iter()
            .flat_map(|c| &c.blobs)
            .filter(|d| !others.contains(d))
            .cloned()
            .collect();
        mine.sort();
        let (s, n) = (store.clone(), name.clone());
        blocking(move || s.update_index(|index| ((), remove_group(index, &n) > 0))).await??;
        let (mut removed, mut in_use) = (Vec::new(), Vec::new());
        for d in mine {
            if store.remove_blob_unless_locked(&d)? {
                removed.push(d);
            } else {
                in_use.push(d);
            }
        }
        return Ok((vec![name], removed, in_use));
    }
    let digest = given
        .parse::<Digest>()
        .or_else(|_| parse_digest(given))
        .map_err(|_| {
            NotFoundError(format!(
                "`{given}` is neither a reference in the cache (see `layerget cache ls`) nor a digest"
            ))
        })?;
    let (s, d) = (store.clone(), digest.clone());
    let refs: Vec<String> = blocking(move || {
        s.update_index(|index| {
            let removed: Vec<String> = index
                .remove_where(|e| e.digest == d)
                .iter()
                .map(|e| owner(e).map_or_else(|| e.digest.to_string(), str::to_owned))
                .collect();
            let changed = !removed.is_empty();
            (removed, changed)
        })
    })
    .await??;
    if store.lookup(&digest)?.is_none() {
        if refs.is_empty() {
            return Err(NotFoundError(format!("blob {digest} is not in the cache")).into());
        }
        return Ok((refs, Vec::new(), Vec::new()));
    }
    if store.remove_blob_unless_locked(&digest)? {
        Ok((refs, vec![digest], Vec::new()))
    } else {
        Err(UsageError(format!(
            "blob {digest} is being fetched by another layerget (its lock is held); try again later"
        ))
        .into())
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn timestamps() {
        let t = |s| rfc3339(UNIX_EPOCH + Duration::from_secs(s));
        assert_eq!(t(0), "1970-01-01T00:00:00Z");
        assert_eq!(t(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(t(1_767_225_599), "2025-12-31T23:59:59Z");
    }

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
