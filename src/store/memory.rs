//! A [`ContentStore`] in memory: the second implementation, so that the interface is honest
//! (nothing in it may assume files), and the store of the server's and transfer code's unit
//! tests. It keeps every promise the local layout keeps: partials are invisible until a
//! commit that verifies size and digest, a digest has one writer at a time, deletes leave a
//! locked digest alone, and reference updates are atomic.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};

use bytes::Bytes;
use tokio::sync::Notify;

use super::content::{Blob, BlobWriter, ContentStore, Deleted, Partial, StoredBlob};
use super::{LayoutIndex, Mismatch, Refs, StoreError};
use crate::digest::{Algorithm, Digest, digest_bytes};

#[derive(Debug, Default)]
struct State {
    blobs: BTreeMap<Digest, Bytes>,
    partials: BTreeMap<Digest, (Vec<u8>, Option<u64>)>,
    quarantined: HashMap<Digest, Bytes>,
    /// Digests a writer holds.
    locked: HashSet<Digest>,
    refs: Arc<Refs>,
}

/// Blobs, partials and references held in memory.
#[derive(Debug, Default, Clone)]
pub struct MemoryStore {
    state: Arc<Mutex<State>>,
    /// Woken when a digest's lock is released.
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
                    .insert(digest_bytes(Algorithm::Sha256, &b), b.into());
            }
            state.refs = Arc::new(Refs::parse(index_json).unwrap_or_default());
        }
        store
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl ContentStore for MemoryStore {
    type Writer = MemoryWriter;

    async fn stat(&self, digest: &Digest) -> Result<Option<u64>, StoreError> {
        Ok(self.lock().blobs.get(digest).map(|b| b.len() as u64))
    }

    async fn open(&self, digest: &Digest) -> Result<Option<Blob>, StoreError> {
        Ok(self.lock().blobs.get(digest).cloned().map(Blob::memory))
    }

    async fn writer(&self, digest: &Digest, size: Option<u64>) -> Result<MemoryWriter, StoreError> {
        loop {
            let released = self.released.notified();
            {
                let mut state = self.lock();
                if state.locked.insert(digest.clone()) {
                    let (mut bytes, recorded) = state.partials.remove(digest).unwrap_or_default();
                    if size.is_some() && recorded.is_some_and(|r| Some(r) != size) {
                        bytes.clear();
                    }
                    return Ok(MemoryWriter {
                        store: self.clone(),
                        digest: digest.clone(),
                        size: size.or(recorded),
                        bytes,
                        done: false,
                    });
                }
            }
            released.await;
        }
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
            .map(|(digest, (b, _))| Partial {
                digest: digest.clone(),
                bytes: b.len() as u64,
            })
            .collect())
    }

    async fn delete(&self, digest: &Digest) -> Result<Deleted, StoreError> {
        let mut state = self.lock();
        if !state.blobs.contains_key(digest) {
            return Ok(Deleted::Missing);
        }
        if state.locked.contains(digest) {
            return Ok(Deleted::Busy);
        }
        state.blobs.remove(digest);
        Ok(Deleted::Removed)
    }

    async fn quarantine(&self, digest: &Digest) -> Result<(), StoreError> {
        let mut state = self.lock();
        if let Some(b) = state.blobs.remove(digest) {
            state.quarantined.insert(digest.clone(), b);
        }
        Ok(())
    }

    async fn refs(&self) -> Result<Arc<Refs>, StoreError> {
        Ok(self.lock().refs.clone())
    }

    async fn update_refs<T, F>(&self, change: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut LayoutIndex) -> (T, bool) + Send + 'static,
    {
        // One lock around read, change and write: updates are serialised, none is lost.
        let mut state = self.lock();
        let mut layout = state.refs.layout().clone();
        let (result, changed) = change(&mut layout);
        if changed {
            state.refs = Arc::new(Refs::new(layout));
        }
        Ok(result)
    }
}

/// A [`BlobWriter`] into a [`MemoryStore`].
#[derive(Debug)]
pub struct MemoryWriter {
    store: MemoryStore,
    digest: Digest,
    size: Option<u64>,
    bytes: Vec<u8>,
    /// Committed or aborted: nothing to keep on drop.
    done: bool,
}

impl MemoryWriter {
    fn check_room(&self, end: u64) -> Result<usize, StoreError> {
        match self.size {
            Some(size) if end > size => Err(StoreError::WrongSize {
                digest: self.digest.clone(),
                expected: size,
                actual: end,
            }),
            _ => usize::try_from(end).map_err(|_| StoreError::TooLarge {
                digest: self.digest.clone(),
                size: end,
                max: usize::MAX as u64,
            }),
        }
    }
}

impl Drop for MemoryWriter {
    fn drop(&mut self) {
        let mut state = self.store.lock();
        if !self.done {
            let bytes = std::mem::take(&mut self.bytes);
            state
                .partials
                .insert(self.digest.clone(), (bytes, self.size));
        }
        state.locked.remove(&self.digest);
        drop(state);
        self.store.released.notify_waiters();
    }
}

impl BlobWriter for MemoryWriter {
    fn digest(&self) -> &Digest {
        &self.digest
    }

    fn offset(&self) -> u64 {
        self.bytes.len() as u64
    }

    async fn write(&mut self, chunk: Bytes) -> Result<(), StoreError> {
        self.check_room(self.offset() + chunk.len() as u64)?;
        self.bytes.extend_from_slice(&chunk);
        Ok(())
    }

    async fn write_at(&mut self, at: u64, bytes: Bytes) -> Result<(), StoreError> {
        let end = self.check_room(at.saturating_add(bytes.len() as u64))?;
        if self.bytes.len() < end {
            self.bytes.resize(end, 0);
        }
        // `at..end` lies within `self.bytes` now.
        if let Some(slot) = self.bytes.get_mut(end - bytes.len()..end) {
            slot.copy_from_slice(&bytes);
        }
        Ok(())
    }

    async fn commit(mut self) -> Result<(), StoreError> {
        self.done = true;
        let bytes = std::mem::take(&mut self.bytes);
        let len = bytes.len() as u64;
        if let Some(expected) = self.size
            && expected != len
        {
            let mismatch = Mismatch::Size {
                expected,
                actual: len,
            };
            return Err(StoreError::rejected(self.digest.clone(), mismatch));
        }
        let actual = digest_bytes(self.digest.algorithm(), &bytes);
        if actual != self.digest {
            let mismatch = Mismatch::Digest { actual, bytes: len };
            return Err(StoreError::rejected(self.digest.clone(), mismatch));
        }
        self.store
            .lock()
            .blobs
            .entry(self.digest.clone())
            .or_insert_with(|| bytes.into());
        Ok(())
    }

    async fn abort(mut self) -> Result<(), StoreError> {
        self.done = true;
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

    #[tokio::test]
    async fn keeps_the_content_store_contract() {
        super::super::content::contract::check(MemoryStore::new()).await;
    }

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
