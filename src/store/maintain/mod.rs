//! Looking after the cache: what it holds (blobs, partial downloads, quarantine), what is
//! reachable from `index.json`, re-hashing and quarantine, and the plans of `cache gc`,
//! `cache prune` and `cache rm` and carrying them out.
//!
//! Everything here blocks and prints nothing. Removing a blob always goes through
//! [`Store::remove_blob_unless_locked`]: a blob whose per-digest lock a fetch holds is left
//! alone. The cache-wide lock that keeps maintenance and fetches apart is taken when the store
//! is opened for use (`Store::open_for`, `Store::open_existing_for`); the functions that
//! remove things expect it held exclusively. Planning is separate from doing, so that
//! `--dry-run` shows exactly what a real run would remove, and so the plans can be tested as
//! plain functions.
//!
//! - `walk`: listing `blobs/`, `ingest/` and `quarantine/`; checking, quarantining and
//!   removing one item under its lock.
//! - `reach`: reading manifests and following them from `index.json` (reachability).
//! - `gc`, `prune`, `rm`: each command's plan and its execution.

#[cfg(test)]
mod fixtures;
mod gc;
mod prune;
mod reach;
mod rm;
mod walk;

pub use gc::{GcPlan, GcReport};
pub use prune::{PrunePlan, PruneReport, PruneUnit, plan_eviction};
pub use reach::{Reachable, ReferenceBlobs, ReferenceSummary};
pub use rm::Removal;
pub use walk::{BlobInfo, Check, IngestInfo, Usage};
