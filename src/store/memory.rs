//! A [`ContentStore`] in memory: the second implementation, so that the interface is honest
//! (nothing in it may assume files), and the store of the server's and transfer code's unit
//! tests. It keeps every promise the local layout keeps: partials are invisible until a
//! commit that verifies size and digest, a digest has one writer at a time, deletes leave a
//! locked digest alone, and reference updates are atomic.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};

use bytes::Bytes;
use tokio::sync::Notify;

use std::time::SystemTime;

use super::content::{
    Blob, BlobWriter, Checkpoint, ContentStore, Deleted, Partial, StoredBlob, WriterAttempt,
};
use super::{LayoutIndex, Mismatch, Refs, StoreError, UploadId, UploadInfo};
use crate::digest::{Algorithm, Digest, digest_bytes};

/// What a writer writes: a digest's partial or an upload session.
/// Ordered digests first, so that one sorted map lists partials by digest and sessions by id.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum Key {
    /// A blob's partial, under the digest it must become.
    Digest(Digest),
    /// An upload session, whose digest is told only at commit.
    Upload(UploadId),
}

/// A partial blob: its bytes, its checkpoint (with the size it was declared to have), its
/// upload's algorithm (for sessions) and when it last changed.
#[derive(Debug, Clone)]
struct Part {
    /// The bytes written so far; the writer's offset is their length.
    bytes: Vec<u8>,
    /// What a later writer is told; its `size` is what commit will require (always `None` for
    /// an upload session).
    note: Checkpoint,
    /// The algorithm an upload session was started with; `None` for a digest's partial.
    algorithm: Option<Algorithm>,
    /// Set by every write: `uploads()` reports it as the session's last activity.
    updated: SystemTime,
}

/// Everything a store holds, behind one mutex that no method keeps across an `await`.
#[derive(Debug, Default)]
struct State {
    /// Verified blobs, sorted so that `blobs()` lists them in digest order. `Bytes`, so that
    /// `open` hands out a reference-counted view rather than a copy.
    blobs: BTreeMap<Digest, Bytes>,
    /// Partials at rest: `hold` takes one out for its writer, whose drop puts it back.
    partials: BTreeMap<Key, Part>,
    /// Blobs taken out of service: kept, as the local store's `quarantine/` keeps them, but
    /// no longer found by `stat` or `open`.
    quarantined: HashMap<Digest, Bytes>,
    /// Partials a writer holds.
    locked: HashSet<Key>,
    /// Replaced whole on each change, never edited in place: a reader's `Arc` stays a
    /// consistent snapshot however long it is used.
    refs: Arc<Refs>,
}

/// Blobs, partials and references held in memory.
/// Clones share one state: a test can hand a clone to the server and keep one to inspect.
#[derive(Debug, Default, Clone)]
pub struct MemoryStore {
    state: Arc<Mutex<State>>,
    /// How many times [`ContentStore::open`] was called (tests of caching count reads).
    opens: Arc<std::sync::atomic::AtomicUsize>,
    /// Woken when a digest's lock is released (`notify_waiters` wakes every waiter; each
    /// checks its own key again).
    released: Arc<Notify>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> MemoryStore {
        MemoryStore::default()
    }

    /// A store holding these blobs (stored under their sha256) and this `index.json`. For
    /// tests: an `index.json` that does not parse means an empty one, which the test's
    /// assertions then show.
    pub fn with(blobs: impl IntoIterator<Item = Vec<u8>>, index_json: &[u8]) -> MemoryStore {
        let store = MemoryStore::new();
        {
            let mut state = store.lock();
            for b in blobs {
                state
                    .blobs
                    // Named by their own hash here, so they need no verifying commit.
                    .insert(digest_bytes(Algorithm::Sha256, &b), b.into());
            }
            state.refs = Arc::new(Refs::parse(index_json).unwrap_or_default());
        }
        store
    }

    /// How many times a blob was opened, by any clone of this store.
    pub fn opens(&self) -> usize {
        // A counter read after the fact: no ordering with other memory is needed.
        self.opens.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Whether a writer holds `digest` now (`cache gc --dry-run` on this store).
    pub(crate) fn is_held_now(&self, digest: &Digest) -> bool {
        self.lock().locked.contains(&Key::Digest(digest.clone()))
    }

    /// The state, even after a thread panicked while holding it (a failed assertion in a
    /// test task): no critical section here leaves the maps half-changed, so the data is good.
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A writer of the held `key`, resuming `part`. Recorded for another size: no prefix of
    /// this blob, so it starts over (as the local store does). A writer told no size keeps the
    /// one recorded before.
    fn resume(
        &self,
        key: Key,
        mut part: Option<Part>,
        held: Held,
        size: Option<u64>,
    ) -> MemoryWriter {
        let part = part.get_or_insert_with(|| Part::new(None));
        if size.is_some() && part.note.size.is_some_and(|r| Some(r) != size) {
            part.bytes.clear();
            part.note.segments = None;
        }
        part.note.size = size.or(part.note.size);
        MemoryWriter::new(self, key, part.clone(), held)
    }

    /// Takes the lock of `key` if no writer holds it (see [`MemoryStore::hold`]).
    fn try_hold(&self, key: Key) -> Option<(Option<Part>, Held)> {
        let mut state = self.lock();
        if !state.locked.insert(key.clone()) {
            return None;
        }
        let part = state.partials.remove(&key);
        Some((
            part,
            Held {
                store: self.clone(),
                key,
            },
        ))
    }

    /// Takes the lock of `key`, waiting while a writer holds it; returns its partial (taken
    /// out: the writer gives it back) and a guard that releases the lock when dropped.
    async fn hold(&self, key: Key) -> (Option<Part>, Held) {
        loop {
            // Created before the check: a release between the check and the `await` still wakes
            // this waiter (a `Notified` receives every `notify_waiters` made after its creation).
            let released = self.released.notified();
            {
                // Out of the map while held: a partial in use is not listed as one at rest.
                if let Some(held) = self.try_hold(key.clone()) {
                    return held;
                }
            }
            released.await;
        }
    }
}

impl ContentStore for MemoryStore {
    type Writer = MemoryWriter;

    async fn stat(&self, digest: &Digest) -> Result<Option<u64>, StoreError> {
        Ok(self.lock().blobs.get(digest).map(|b| b.len() as u64))
    }

    async fn open(&self, digest: &Digest) -> Result<Option<Blob>, StoreError> {
        self.opens
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Ok(self.lock().blobs.get(digest).cloned().map(Blob::memory))
    }

    async fn writer(&self, digest: &Digest, size: Option<u64>) -> Result<MemoryWriter, StoreError> {
        let key = Key::Digest(digest.clone());
        let (part, held) = self.hold(key.clone()).await;
        Ok(self.resume(key, part, held, size))
    }

    async fn try_writer(
        &self,
        digest: &Digest,
        size: Option<u64>,
    ) -> Result<WriterAttempt<MemoryWriter>, StoreError> {
        let key = Key::Digest(digest.clone());
        Ok(match self.try_hold(key.clone()) {
            Some((part, held)) => WriterAttempt::Ready(self.resume(key, part, held, size)),
            // The holder is in this process: there is no other pid to name.
            None => WriterAttempt::Busy { holder: None },
        })
    }

    async fn upload(
        &self,
        id: &UploadId,
        start: Option<Algorithm>,
    ) -> Result<Option<MemoryWriter>, StoreError> {
        let key = Key::Upload(id.clone());
        let (part, held) = self.hold(key.clone()).await;
        let part = match (part, start) {
            (Some(part), Some(_)) => {
                // Starting a session under an id in use would mix two clients' bytes: refuse,
                // and put the partial back as it was before the lock is released.
                self.lock().partials.insert(key, part);
                drop(held);
                return Err(StoreError::Corrupt {
                    path: format!("upload {id}").into(),
                    reason: "an upload session of this id exists already".into(),
                });
            }
            (Some(part), None) => part,
            (None, Some(algorithm)) => Part::new(Some(algorithm)),
            // Resuming a session that does not exist: the lock goes with `held`.
            (None, None) => return Ok(None),
        };
        Ok(Some(MemoryWriter::new(self, key, part, held)))
    }

    async fn uploads(&self) -> Result<Vec<UploadInfo>, StoreError> {
        let state = self.lock();
        Ok(state
            .partials
            .iter()
            // A session a writer holds is changing under it: listed only when at rest, as the
            // contract says.
            .filter(|(key, _)| !state.locked.contains(*key))
            .filter_map(|(key, part)| match (key, part.algorithm) {
                (Key::Upload(id), Some(algorithm)) => Some(UploadInfo {
                    id: id.clone(),
                    algorithm,
                    bytes: part.bytes.len() as u64,
                    updated: part.updated,
                }),
                _ => None,
            })
            .collect())
    }

    async fn blobs(&self) -> Result<Vec<StoredBlob>, StoreError> {
        Ok(self
            .lock()
            .blobs
            .iter()
            .map(|(digest, b)| StoredBlob {
                digest: digest.clone(),
                size: b.len() as u64,
            })
            .collect())
    }

    async fn partials(&self) -> Result<Vec<Partial>, StoreError> {
        Ok(self
            .lock()
            .partials
            .iter()
            .filter_map(|(key, part)| match key {
                Key::Digest(digest) => Some(Partial {
                    digest: digest.clone(),
                    bytes: part.bytes.len() as u64,
                }),
                // Sessions have no digest yet: `uploads()` lists them.
                Key::Upload(_) => None,
            })
            .collect())
    }

    async fn delete(&self, digest: &Digest) -> Result<Deleted, StoreError> {
        let mut state = self.lock();
        if !state.blobs.contains_key(digest) {
            return Ok(Deleted::Missing);
        }
        // The contract: a digest a writer holds is left alone, even when its blob is complete.
        if state.locked.contains(&Key::Digest(digest.clone())) {
            return Ok(Deleted::Busy);
        }
        state.blobs.remove(digest);
        Ok(Deleted::Removed)
    }

    async fn quarantine(&self, digest: &Digest) -> Result<(), StoreError> {
        let mut state = self.lock();
        // Missing is fine: there is nothing to take out of service.
        if let Some(b) = state.blobs.remove(digest) {
            state.quarantined.insert(digest.clone(), b);
        }
        Ok(())
    }

    async fn refs(&self) -> Result<Arc<Refs>, StoreError> {
        // An `Arc` clone: no caller holds the state lock while it reads the table.
        Ok(self.lock().refs.clone())
    }

    async fn update_refs<T, F>(&self, change: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut LayoutIndex) -> (T, bool) + Send + 'static,
    {
        // One lock around read, change and write: updates are serialised, none is lost.
        let mut state = self.lock();
        // `change` edits a copy, so an unchanged (or panicking) edit leaves the table as it was.
        let mut layout = state.refs.layout().clone();
        let (result, changed) = change(&mut layout);
        if changed {
            state.refs = Arc::new(Refs::new(layout));
        }
        Ok(result)
    }
}

impl Part {
    /// An empty partial, changed now; `algorithm` only for an upload session.
    fn new(algorithm: Option<Algorithm>) -> Part {
        Part {
            bytes: Vec::new(),
            note: Checkpoint::default(),
            algorithm,
            updated: SystemTime::now(),
        }
    }
}

/// A held lock on a partial; dropping it releases the lock and wakes waiters.
#[derive(Debug)]
struct Held {
    store: MemoryStore,
    key: Key,
}

impl Drop for Held {
    fn drop(&mut self) {
        // Free the key first, then wake: a woken waiter must find it free.
        self.store.lock().locked.remove(&self.key);
        self.store.released.notify_waiters();
    }
}

/// A [`BlobWriter`] into a [`MemoryStore`].
#[derive(Debug)]
pub struct MemoryWriter {
    /// Which partial this writer holds, and whose lock `held` is.
    key: Key,
    /// `None` once committed or aborted: nothing to keep on drop.
    part: Option<Part>,
    /// Declared last, so that the partial is back in the store before the lock is released.
    held: Held,
}

impl MemoryWriter {
    fn new(store: &MemoryStore, key: Key, part: Part, held: Held) -> MemoryWriter {
        // The guard must belong to this very store: the drop puts the partial back through it.
        debug_assert!(Arc::ptr_eq(&store.state, &held.store.state));
        MemoryWriter {
            key,
            part: Some(part),
            held,
        }
    }

    /// The partial. It is `None` only inside `commit` and `abort`, which consume the writer,
    /// so the error is a guard rather than a state a caller can reach.
    fn part(&mut self) -> Result<&mut Part, StoreError> {
        self.part.as_mut().ok_or_else(|| StoreError::Corrupt {
            path: "a memory writer".into(),
            reason: "it was committed or aborted".into(),
        })
    }

    /// Refuses a write that would end past the declared size, before anything is written.
    fn check_room(&mut self, end: u64) -> Result<usize, StoreError> {
        let digest = match &self.key {
            Key::Digest(d) => Some(d.clone()),
            Key::Upload(_) => None,
        };
        // Only a digest's partial has a declared size; an upload's is known at commit. On a
        // 32-bit target an end past `usize::MAX` could not be held in memory at all.
        match (self.part()?.note.size, digest) {
            (Some(size), Some(digest)) if end > size => Err(StoreError::WrongSize {
                digest,
                expected: size,
                actual: end,
            }),
            _ => usize::try_from(end).map_err(|_| StoreError::Corrupt {
                path: "a memory writer".into(),
                reason: format!("{end} bytes do not fit in memory"),
            }),
        }
    }
}

impl Drop for MemoryWriter {
    fn drop(&mut self) {
        // Kept for the next writer (`held`, dropped after this, then releases the lock).
        if let Some(part) = self.part.take() {
            self.held
                .store
                .lock()
                .partials
                .insert(self.key.clone(), part);
        }
    }
}

impl BlobWriter for MemoryWriter {
    fn digest(&self) -> Option<&Digest> {
        match &self.key {
            Key::Digest(d) => Some(d),
            Key::Upload(_) => None,
        }
    }

    fn offset(&self) -> u64 {
        self.part.as_ref().map_or(0, |p| p.bytes.len() as u64)
    }

    async fn write(&mut self, chunk: Bytes) -> Result<(), StoreError> {
        // Checked before anything is appended: a refused write leaves the partial as it was.
        self.check_room(self.offset() + chunk.len() as u64)?;
        let part = self.part()?;
        part.bytes.extend_from_slice(&chunk);
        part.updated = SystemTime::now();
        Ok(())
    }

    async fn write_at(&mut self, at: u64, bytes: Bytes) -> Result<(), StoreError> {
        let end = self.check_room(at.saturating_add(bytes.len() as u64))?;
        let part = self.part()?;
        // Segments may arrive out of order: the gap before a late one is zero-filled until its
        // bytes come, and commit's digest check decides whether the result is the blob.
        if part.bytes.len() < end {
            part.bytes.resize(end, 0);
        }
        // `end - len..end` lies within the bytes now.
        if let Some(slot) = part.bytes.get_mut(end - bytes.len()..end) {
            slot.copy_from_slice(&bytes);
        }
        part.updated = SystemTime::now();
        Ok(())
    }

    async fn commit(mut self, digest: &Digest) -> Result<(), StoreError> {
        crate::store::content::check_commit_target(self.digest(), digest)?;
        let part = self.part.take().ok_or_else(|| StoreError::Corrupt {
            path: "a memory writer".into(),
            reason: "it was committed or aborted".into(),
        })?;
        // From here on the partial is out of the writer: on a mismatch the drop that follows
        // discards it rather than keeping it. Size first: a wrong length is reported as such.
        let len = part.bytes.len() as u64;
        if let Some(expected) = part.note.size
            && expected != len
        {
            let mismatch = Mismatch::Size {
                expected,
                actual: len,
            };
            return Err(StoreError::rejected(digest.clone(), mismatch));
        }
        let actual = digest_bytes(digest.algorithm(), &part.bytes);
        // A session started for one algorithm is not committed under a digest of another.
        if actual != *digest {
            let mismatch = Mismatch::Digest { actual, bytes: len };
            return Err(StoreError::rejected(digest.clone(), mismatch));
        }
        self.held
            .store
            .lock()
            .blobs
            // A blob already present is success and keeps its bytes (the same ones, by digest).
            .entry(digest.clone())
            .or_insert_with(|| part.bytes.into());
        Ok(())
    }

    async fn abort(mut self) -> Result<(), StoreError> {
        // Nothing to put back: the drop only releases the lock.
        self.part = None;
        Ok(())
    }

    fn checkpoint(&self) -> &Checkpoint {
        static NONE: std::sync::LazyLock<Checkpoint> =
            std::sync::LazyLock::new(Checkpoint::default);
        self.part.as_ref().map_or(&NONE, |p| &p.note)
    }

    async fn save_checkpoint(&mut self, checkpoint: Checkpoint) -> Result<(), StoreError> {
        // Memory is as durable as it gets here: the next writer sees it.
        self.part()?.note = checkpoint;
        Ok(())
    }

    async fn queue_checkpoint(&mut self, checkpoint: Checkpoint) {
        if let Ok(part) = self.part() {
            part.note = checkpoint;
        }
    }

    async fn truncate(&mut self, len: u64) -> Result<(), StoreError> {
        let part = self.part()?;
        part.bytes
            .truncate(usize::try_from(len).unwrap_or(usize::MAX));
        part.updated = SystemTime::now();
        Ok(())
    }

    async fn close(self) -> Result<u64, StoreError> {
        // Drop keeps the bytes as a partial.
        Ok(self.offset())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The shared contract suite (`content::contract::check`) passes on the memory store.
    #[tokio::test]
    async fn keeps_the_content_store_contract() {
        super::super::content::contract::check(MemoryStore::new()).await;
    }

    /// A second writer of a digest waits until the first is dropped, then resumes at the byte
    /// the first one left.
    #[tokio::test]
    async fn a_second_writer_waits_for_the_first() {
        let store = MemoryStore::new();
        let d = digest_bytes(Algorithm::Sha256, b"ab");
        let mut first = store.writer(&d, Some(2)).await.unwrap();
        first.write(Bytes::from_static(b"a")).await.unwrap();
        let waiting = tokio::spawn({
            let (store, d) = (store.clone(), d.clone());
            async move { store.writer(&d, Some(2)).await.unwrap().offset() }
        });
        tokio::task::yield_now().await;
        drop(first);
        assert_eq!(
            waiting.await.unwrap(),
            1,
            "the second resumes the first's byte"
        );
    }
}
