//! Repository scoping of writes (issue 11): which repository holds which blob and manifest,
//! as far as a mount and a delete need to know.
//!
//! The cache is one content-addressed store shared by every name, and reads stay that way (a
//! blob or manifest by digest is served under any valid name, see the module docs of
//! `server`). Two rules of a registry that accepts pushes need more:
//!
//! - **Mount from a repository** (`POST …/uploads/?mount=D&from=R`) succeeds (201) only when
//!   `D` is available to `R`: it was pushed into `R` (a finished upload, a mount, a manifest
//!   PUT) while this server ran, or a manifest recorded under `R` in `index.json` (a tag of
//!   `R`, or an index such a tag names) lists it. Otherwise the mount falls back to a new
//!   session (202), as the spec says. Without `from`, any blob the cache holds is mounted.
//! - **A manifest deleted by digest** in `R` is not found in `R` by the next request, even
//!   when its bytes stay because another repository (or tag) still uses them: `R` keeps a
//!   tombstone of it until the digest is pushed into `R` again. Another repository is never
//!   touched.
//!
//! Both tables live in memory, bounded ([`MAX_LINKS`] and [`MAX_DELETED`], the oldest dropped
//! first), and start empty on a restart. Forgetting a link is always safe: the mount becomes
//! an upload, and what `index.json` records is still found. Forgetting a tombstone is not
//! quite: after a restart, a manifest deleted by digest in one repository but kept for another
//! is found by digest in both again. A per-repository link table in the store (distribution's
//! `_layers` and `_manifests`) would keep both across restarts; that is the store's to add.
//!
//! A mount that no link answers walks the manifests `index.json` records under `R` (reading
//! each, to the depth `deletes` walks): a cost per mount that grows with `R`'s tags.

use std::collections::{HashSet, VecDeque};
use std::sync::Mutex;

use crate::digest::Digest;
use crate::manifest::Descriptor;
use crate::reference::Reference;
use crate::store::content::read_small;
use crate::store::{ContentStore, StoreError, owner};

/// Links (repository, digest) remembered; about 150 bytes each, so a few MiB at most.
pub(super) const MAX_LINKS: usize = 16_384;
/// Tombstones remembered.
pub(super) const MAX_DELETED: usize = 4096;

/// A bounded set of (repository, digest), oldest dropped first.
#[derive(Debug)]
struct Bounded {
    max: usize,
    set: HashSet<(String, Digest)>,
    order: VecDeque<(String, Digest)>,
}

impl Bounded {
    fn new(max: usize) -> Bounded {
        Bounded {
            max,
            set: HashSet::new(),
            order: VecDeque::new(),
        }
    }

    fn insert(&mut self, name: &str, digest: &Digest) {
        let key = (name.to_owned(), digest.clone());
        if self.set.contains(&key) {
            return;
        }
        while self.set.len() >= self.max {
            match self.order.pop_front() {
                Some(old) => {
                    self.set.remove(&old);
                }
                None => break,
            }
        }
        self.order.push_back(key.clone());
        self.set.insert(key);
    }

    fn remove(&mut self, name: &str, digest: &Digest) {
        let key = (name.to_owned(), digest.clone());
        if self.set.remove(&key) {
            self.order.retain(|k| *k != key);
        }
    }

    fn contains(&self, name: &str, digest: &Digest) -> bool {
        self.set.contains(&(name.to_owned(), digest.clone()))
    }
}

/// What this server knows about which repository holds what (see the module docs).
#[derive(Debug)]
pub(super) struct Scope {
    tables: Mutex<(Bounded, Bounded)>,
}

impl Default for Scope {
    fn default() -> Self {
        Scope {
            tables: Mutex::new((Bounded::new(MAX_LINKS), Bounded::new(MAX_DELETED))),
        }
    }
}

impl Scope {
    fn lock(&self) -> std::sync::MutexGuard<'_, (Bounded, Bounded)> {
        self.tables.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// `digest` was pushed into `name` (an upload, a mount, a manifest): available to mounts
    /// from `name`, and no longer deleted there.
    pub(super) fn link(&self, name: &str, digest: &Digest) {
        let mut tables = self.lock();
        tables.0.insert(name, digest);
        tables.1.remove(name, digest);
    }

    /// Manifest `digest` was deleted from `name`: not found there until pushed again.
    pub(super) fn delete(&self, name: &str, digest: &Digest) {
        let mut tables = self.lock();
        tables.0.remove(name, digest);
        tables.1.insert(name, digest);
    }

    /// Whether manifest `digest` was deleted from `name` (and not pushed there since).
    pub(super) fn is_deleted(&self, name: &str, digest: &Digest) -> bool {
        self.lock().1.contains(name, digest)
    }

    /// Whether blob `digest` is available to repository `name` for a mount: linked by a push
    /// during this run, or listed by a manifest `index.json` records under `name`. (Whether
    /// the store still holds it is the caller's question.)
    pub(super) async fn holds<S: ContentStore>(
        &self,
        source: &S,
        name: &str,
        digest: &Digest,
    ) -> Result<bool, StoreError> {
        if self.lock().0.contains(name, digest) {
            return Ok(true);
        }
        if self.is_deleted(name, digest) {
            return Ok(false);
        }
        let refs = source.refs().await?;
        let roots = refs
            .layout()
            .entries()
            .into_iter()
            .filter(|e| is_of(e, name) && !self.is_deleted(name, &e.digest))
            .map(|e| e.digest)
            .collect::<Vec<_>>();
        lists(source, roots.into_iter(), digest).await
    }
}

/// Whether an `index.json` entry belongs to repository `name` (`<registry>/<name>:<tag>` or
/// `…@<digest>`, as `pull` and manifest pushes record them).
fn is_of(d: &Descriptor, name: &str) -> bool {
    owner(d)
        .and_then(|o| o.parse::<Reference>().ok())
        .is_some_and(|r| r.repository() == name)
}

/// Whether any of the manifests `roots` is `target` or lists it: as its config, a layer, a
/// child manifest, or (for an index) a blob of a child, to the depth `used_by` of `deletes`
/// walks. Manifests that are missing or unreadable list nothing.
pub(super) async fn lists<S: ContentStore>(
    source: &S,
    roots: impl Iterator<Item = Digest>,
    target: &Digest,
) -> Result<bool, StoreError> {
    const MAX: u64 = crate::manifest::MAX_MANIFEST as u64;
    for root in roots {
        if root == *target {
            return Ok(true);
        }
        let mut pending = vec![(root, 0)];
        while let Some((digest, depth)) = pending.pop() {
            let Some(bytes) = read_small(source, &digest, MAX).await.ok().flatten() else {
                continue;
            };
            let Ok(parsed) = crate::manifest::parse(&bytes, None) else {
                continue;
            };
            for child in parsed.children() {
                if child.digest == *target {
                    return Ok(true);
                }
                if depth < 2 && matches!(parsed, crate::manifest::Manifest::Index { .. }) {
                    pending.push((child.digest.clone(), depth + 1));
                }
            }
        }
    }
    Ok(false)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::digest::{Algorithm, digest_bytes};

    #[test]
    fn the_oldest_link_goes_first_and_a_push_lifts_a_tombstone() {
        let d = |i: u32| digest_bytes(Algorithm::Sha256, &i.to_le_bytes());
        let mut b = Bounded::new(2);
        b.insert("a", &d(1));
        b.insert("a", &d(2));
        b.insert("a", &d(1));
        b.insert("b", &d(3));
        assert!(!b.contains("a", &d(1)) && b.contains("a", &d(2)) && b.contains("b", &d(3)));
        b.remove("a", &d(2));
        assert_eq!((b.set.len(), b.order.len()), (1, 1));

        let scope = Scope::default();
        scope.link("r", &d(1));
        scope.delete("r", &d(1));
        assert!(scope.is_deleted("r", &d(1)) && !scope.is_deleted("s", &d(1)));
        assert!(!scope.lock().0.contains("r", &d(1)));
        scope.link("r", &d(1));
        assert!(!scope.is_deleted("r", &d(1)));
    }
}
