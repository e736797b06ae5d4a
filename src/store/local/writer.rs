//! Writing into the local store: [`LocalWriter`], over the ingest area (`ingest/`), for a
//! digest's partial or an upload session.
//!
//! A writer appends (through the ingest's writer thread, which hashes what it writes) or writes
//! at offsets (through the ingest's positional writer, whose follower thread hashes the
//! contiguous prefix by reading it back as it grows). Going from one to the other hands the
//! hash over when it covers exactly what the file holds, and re-hashes the file once otherwise;
//! nothing is ever hashed from a caller's say-so.

use bytes::Bytes;

use super::off_runtime;
use crate::digest::Digest;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use crate::store::content::{Blob, BlobWriter, Checkpoint, Growing, GrowingCounters};
use crate::store::ingest::{Extents, PositionalWriter};
use crate::store::{
    Commit, Hashed, Ingest, IngestLock, IngestState, IngestWriter, PrefixHasher, Store, StoreError,
    UploadId, is_valid_plan,
};

/// What a [`LocalWriter`] writes.
#[derive(Debug, Clone)]
pub(super) enum Key {
    /// A blob of known digest (`ingest/<alg>/<hex>/`).
    Digest(Digest),
    /// An upload session (`ingest/uploads/<id>/`).
    Upload(UploadId),
}

/// A [`BlobWriter`] into the local layout's ingest area (see the module docs).
pub struct LocalWriter {
    /// The store written into: its locks and blob paths.
    store: Store,
    /// What is written; an upload becomes a digest only at commit.
    key: Key,
    /// Where the next append goes: what the file held at the start, plus appended bytes, or
    /// the end of the furthest positional write if that is further.
    offset: u64,
    /// What a later writer is told (kept in `state.json` with the ingest's own fields).
    note: Checkpoint,
    /// `None` only while a blocking task has it.
    ingest: Option<Ingest>,
    /// The appending writer, once [`BlobWriter::write`] was called.
    sequential: Option<IngestWriter>,
    /// The positional writer, once [`BlobWriter::write_at`] was called.
    positional: Option<PositionalWriter>,
    /// The hash of the written prefix that the last positional writer's follower reached.
    prefix: Option<PrefixHasher>,
    /// The proof the last appending writer left of what the file held when it finished (until
    /// a positional write or a truncation changes the file).
    appended: Option<Hashed>,
    /// Which bytes of the data file are known written (by this writer or, per the checkpoint's
    /// segments, an earlier one). Maintained by the positional writer while it runs.
    extents: Extents,
    /// The digest's lock; `None` once commit, abort or close has handed it on.
    lock: Option<IngestLock>,
    /// How much of the data file a reader sees written ([`ContentStore::growing`]): kept by
    /// the appending writer's thread, clipped by a truncation.
    counters: Arc<GrowingCounters>,
    /// The entry that shows the blob to readers while this writer lives.
    _shown: Option<Shown>,
}

/// A blob shown in its store's table of growing blobs; leaves it when dropped.
struct Shown {
    store: Store,
    digest: Digest,
    counters: Arc<GrowingCounters>,
}

impl Shown {
    /// Shows the data file of `ingest` (a blob of `size` bytes) as `digest`, growing as
    /// `counters` say; `None` when the file cannot be opened for reading.
    fn new(
        store: &Store,
        digest: &Digest,
        size: u64,
        ingest: &Ingest,
        counters: &Arc<GrowingCounters>,
    ) -> Option<Shown> {
        // The data file may not exist yet (nothing written): made empty, so that readers hold
        // the file the writer appends to.
        let path = ingest.data_path();
        let made = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(false)
            .open(path);
        drop(made.ok()?);
        let file = std::fs::File::open(path).ok()?;
        let growing = Growing::new(Blob::file(file, size), counters.clone());
        store.growing_table().insert(digest.clone(), growing);
        Some(Shown {
            store: store.clone(),
            digest: digest.clone(),
            counters: counters.clone(),
        })
    }
}

impl Drop for Shown {
    fn drop(&mut self) {
        let mut table = self.store.growing_table();
        // Only its own entry: a later writer of the digest may have shown its own.
        if table
            .get(&self.digest)
            .is_some_and(|g| Arc::ptr_eq(g.counters(), &self.counters))
        {
            table.remove(&self.digest);
        }
    }
}

impl Drop for LocalWriter {
    fn drop(&mut self) {
        // The writer threads may still hold queued bytes: keep the digest locked until they are
        // on disk, so that the next writer resumes from a file nobody writes to.
        let (sequential, positional) = (self.sequential.take(), self.positional.take());
        if sequential.is_none() && positional.is_none() {
            return;
        }
        let lock = self.lock.take();
        // A thread of its own, not `spawn_blocking`: a drop cannot await, and may run while
        // the runtime shuts down.
        std::thread::spawn(move || {
            if let Some(writer) = sequential
                && let Err(e) = writer.finish()
            {
                tracing::warn!("finishing an abandoned write: {e}");
            }
            if let Some(writer) = positional
                && let (_, Err(e)) = writer.finish()
            {
                tracing::warn!("finishing abandoned positional writes: {e}");
            }
            drop(lock);
        });
    }
}

impl std::fmt::Debug for LocalWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalWriter")
            .field("key", &self.key)
            .field("offset", &self.offset)
            .field("note", &self.note)
            .finish_non_exhaustive()
    }
}

impl LocalWriter {
    /// A writer over `ingest`, holding `lock`, resuming what the data file holds. For a digest,
    /// the ingest's state is the checkpoint; the written ranges are the segments it records
    /// (when they form a plan for its size), else the whole file.
    pub(super) fn new(
        store: Store,
        key: Key,
        ingest: Ingest,
        lock: IngestLock,
    ) -> Result<LocalWriter, StoreError> {
        let offset = ingest.partial_len()?;
        let state = &ingest.state;
        let note = match key {
            Key::Digest(_) => Checkpoint {
                size: state.size,
                source: state.source.clone(),
                segments: state.segments.clone(),
            },
            Key::Upload(_) => Checkpoint::default(),
        };
        let extents = match (&note.segments, note.size) {
            (Some(segments), Some(size)) if is_valid_plan(segments, size) => {
                let mut e = Extents::default();
                for s in segments {
                    e.add(s.start, s.start.saturating_add(s.written).min(offset));
                }
                e
            }
            _ => Extents::prefix(offset),
        };
        let counters = Arc::new(GrowingCounters::default());
        counters.readable.store(offset, Ordering::Release);
        let shown = match (&key, note.size) {
            (Key::Digest(d), Some(size)) => Shown::new(&store, d, size, &ingest, &counters),
            // An upload has no name a reader could ask by; a blob of unknown size no length.
            _ => None,
        };
        Ok(LocalWriter {
            store,
            key,
            offset,
            note,
            ingest: Some(ingest),
            sequential: None,
            positional: None,
            prefix: None,
            appended: None,
            extents,
            lock: Some(lock),
            counters,
            _shown: shown,
        })
    }

    fn ingest(&self) -> Result<&Ingest, StoreError> {
        self.ingest.as_ref().ok_or_else(|| self.gone())
    }

    /// The error once a write failed part way (a writer thread stopped, or a blocking task
    /// that had the ingest failed): what the data file holds is then unknown to this writer.
    fn gone(&self) -> StoreError {
        let what = match &self.key {
            Key::Digest(d) => format!("ingest of {d}"),
            Key::Upload(id) => format!("upload {id}"),
        };
        StoreError::Corrupt {
            path: what.into(),
            reason: "an earlier write failed part way".into(),
        }
    }

    /// Refuses a write that would end past the declared size, before anything is written.
    fn check_room(&self, end: u64) -> Result<(), StoreError> {
        match (self.note.size, &self.key) {
            // An upload has no declared size: its commit names the blob.
            (Some(size), Key::Digest(digest)) if end > size => Err(StoreError::WrongSize {
                digest: digest.clone(),
                expected: size,
                actual: end,
            }),
            _ => Ok(()),
        }
    }

    /// Waits for the appending writer to finish (everything it was given on disk): `None` when
    /// none runs, otherwise its proof of what the file holds.
    async fn finish_sequential(&mut self) -> Result<Option<Hashed>, StoreError> {
        let Some(writer) = self.sequential.take() else {
            return Ok(None);
        };
        let path = self.ingest()?.data_path().to_owned();
        let hashed = off_runtime("write", move || {
            writer.finish().map_err(StoreError::io("write", &path))
        })
        .await?;
        self.extents = Extents::prefix(hashed.bytes());
        self.appended = Some(hashed.clone());
        Ok(Some(hashed))
    }

    /// Waits for the positional writer to finish (everything it was given durable, its last
    /// checkpoint recorded); keeps its follower's hash and the written ranges.
    async fn finish_positional(&mut self) -> Result<(), StoreError> {
        let Some(writer) = self.positional.take() else {
            return Ok(());
        };
        let path = self.ingest()?.data_path().to_owned();
        let (done, written) = off_runtime("write", move || Ok(writer.finish())).await?;
        self.prefix = done.hasher;
        self.extents = done.extents;
        written.map_err(StoreError::io("write", &path))
    }

    /// Records the checkpoint and the offset in the ingest's state file.
    async fn record(&mut self) -> Result<(), StoreError> {
        let state = self.state_to_record()?;
        self.with_ingest(move |ingest| {
            ingest.state = state;
            ingest.save_state()
        })
        .await
    }

    /// The ingest state as it is to be recorded: the checkpoint's fields and the offset.
    fn state_to_record(&self) -> Result<IngestState, StoreError> {
        let mut state = self.ingest()?.state.clone();
        apply(&self.note, self.offset, &mut state);
        Ok(state)
    }

    /// Runs `work` on the ingest off the runtime, and takes the ingest back.
    async fn with_ingest<T: Send + 'static>(
        &mut self,
        work: impl FnOnce(&mut Ingest) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        // Should the task itself fail (a panic), the ingest goes with it: later calls get
        // `gone`, and the lock is released when the writer drops.
        let mut ingest = self.ingest.take().ok_or_else(|| self.gone())?;
        let (ingest, result) = off_runtime("write", move || {
            let result = work(&mut ingest);
            Ok((ingest, result))
        })
        .await?;
        self.ingest = Some(ingest);
        result
    }

    /// The proof of what the first `len` bytes of the data file hash to: the follower's hash
    /// when it covers them (or can be finished over what it has not read yet), else a kept
    /// hash of exactly that file, else one read of the file. Stops every writer first.
    async fn hashed(&mut self, len: u64) -> Result<Hashed, StoreError> {
        self.finish_sequential().await?;
        self.finish_positional().await?;
        if let Some(hashed) = self.appended.take()
            && hashed.bytes() == len
        {
            return Ok(hashed);
        }
        let prefix = self.prefix.take();
        self.with_ingest(move |ingest| {
            if let Some(mut hasher) = prefix
                && hasher.bytes() <= len
                && ingest.partial_len()? == len
            {
                let path = ingest.data_path().to_owned();
                hasher.hash_to(len).map_err(StoreError::io("read", &path))?;
                return hasher.finish();
            }
            match ingest.saved_hashed()? {
                Some(h) if h.bytes() == len => Ok(h),
                _ => ingest.rehash(len),
            }
        })
        .await
    }
}

/// Writes `note` and `offset` into an ingest's state (what `state.json` records).
fn apply(note: &Checkpoint, offset: u64, state: &mut IngestState) {
    state.size = note.size;
    state.source = note.source.clone();
    state.segments = note.segments.clone();
    state.bytes = offset;
}

impl BlobWriter for LocalWriter {
    fn digest(&self) -> Option<&Digest> {
        match &self.key {
            Key::Digest(d) => Some(d),
            Key::Upload(_) => None,
        }
    }

    fn offset(&self) -> u64 {
        self.offset
    }

    async fn write(&mut self, chunk: Bytes) -> Result<(), StoreError> {
        self.check_room(self.offset.saturating_add(chunk.len() as u64))?;
        if self.sequential.is_none() {
            // Continue the hash from what the file holds (a resumed partial, positional
            // writes): handed over or read back once, then hashed as the bytes pass. From here
            // on only the appending writer touches the file; `append` drops whatever lies past
            // the offset, so file and hash agree from the first byte appended.
            let hashed = self.hashed(self.offset).await?;
            let counters = self.counters.clone();
            let writer = self
                .with_ingest(move |ingest| ingest.append(hashed, counters))
                .await?;
            self.sequential = Some(writer);
        }
        let len = chunk.len() as u64;
        let accepted = match self.sequential.as_mut() {
            Some(writer) => writer.write(chunk).await,
            None => false,
        };
        if !accepted {
            // The writer thread stopped: its finish says why.
            self.finish_sequential().await?;
            return Err(self.gone());
        }
        // Counted once queued: `close` and `commit` wait for the writer thread before they
        // rely on the bytes being there.
        self.offset += len;
        Ok(())
    }

    async fn write_at(&mut self, at: u64, bytes: Bytes) -> Result<(), StoreError> {
        let end = at.saturating_add(bytes.len() as u64);
        self.check_room(end)?;
        if self.positional.is_none() {
            // Queued appends land first, so positional writes never race the appending thread;
            // their hash no longer covers the file once it is written at offsets.
            self.finish_sequential().await?;
            self.appended = None;
            let (prefix, extents) = (self.prefix.take(), self.extents.clone());
            let writer = self
                .with_ingest(move |ingest| ingest.positional_writer(prefix, extents))
                .await?;
            self.positional = Some(writer);
        }
        let accepted = match self.positional.as_mut() {
            Some(writer) => writer.write_at(at, bytes).await,
            None => false,
        };
        if !accepted {
            self.finish_positional().await?;
            return Err(self.gone());
        }
        // The contract: the offset becomes the end of the furthest write.
        self.offset = self.offset.max(end);
        Ok(())
    }

    fn checkpoint(&self) -> &Checkpoint {
        &self.note
    }

    async fn save_checkpoint(&mut self, checkpoint: Checkpoint) -> Result<(), StoreError> {
        // Every byte written so far durable first: progress on disk never runs ahead of it.
        // (A finished appending writer's hash is kept: the next `write` continues from it.)
        self.finish_sequential().await?;
        self.finish_positional().await?;
        self.note = checkpoint;
        self.record().await
    }

    async fn queue_checkpoint(&mut self, checkpoint: Checkpoint) {
        self.note = checkpoint;
        match (self.positional.as_mut(), self.ingest.as_ref()) {
            // Recorded by the positional writer's syncer once the writes before it are durable.
            (Some(writer), Some(ingest)) => {
                let mut state = ingest.state.clone();
                apply(&self.note, self.offset, &mut state);
                writer.checkpoint(state).await;
            }
            // Appends and a checkpoint: a kept state never counts more than the file holds
            // (the data file's length is the truth for a sequential resume anyway).
            _ => {
                let _ = self.record().await;
            }
        }
    }

    async fn truncate(&mut self, len: u64) -> Result<(), StoreError> {
        self.finish_sequential().await?;
        self.finish_positional().await?;
        let len = len.min(self.offset);
        self.counters.truncated(len);
        self.with_ingest(move |ingest| ingest.truncate(len)).await?;
        self.extents.clip(len);
        if self.prefix.as_ref().is_some_and(|h| h.bytes() > len) {
            self.prefix = None;
        }
        if self.appended.as_ref().is_some_and(|h| h.bytes() != len) {
            self.appended = None;
        }
        self.offset = len;
        Ok(())
    }

    async fn commit(mut self, digest: &Digest) -> Result<(), StoreError> {
        crate::store::content::check_commit_target(self.digest(), digest)?;
        // Every queued byte on disk; the proof of what the file holds is the writers' hash when
        // it covers the file, else a hash an earlier request of a push kept (its last chunk,
        // then `PUT ?digest=`), else one read of the file. The longer of what was written and
        // what the file holds (a resumed partial not written to), so that no resumed byte is
        // cut off before hashing.
        let upload = matches!(self.key, Key::Upload(_));
        // The file's length counts only once every queued byte is in it.
        self.finish_sequential().await?;
        self.finish_positional().await?;
        let len = self.offset.max(self.ingest()?.partial_len()?);
        let hashed = self.hashed(len).await?;
        let mut ingest = self.ingest.take().ok_or_else(|| self.gone())?;
        apply(&self.note, self.offset, &mut ingest.state);
        let (digest, lock, store) = (digest.clone(), self.lock.take(), self.store.clone());
        off_runtime("commit", move || {
            // An upload becomes `digest` under that digest's lock, as a fetch of it would.
            // The algorithm the bytes were hashed with as they came (an upload's is chosen
            // when it starts, and a client may still close it with a digest of another).
            let hashed_with = ingest.state.digest.algorithm();
            let digest_lock = match upload {
                true => {
                    ingest.name(&store, &digest);
                    Some(store.lock_blocking(&digest)?)
                }
                false => None,
            };
            let hashed = match hashed_with == digest.algorithm() {
                true => hashed,
                // Hashed with another algorithm: read back once with the digest's own.
                false => ingest.rehash(len)?,
            };
            let result = match ingest.commit(hashed)? {
                Commit::Published(_) => Ok(()),
                Commit::Rejected(ingest, mismatch) => {
                    // Bytes that are not the blob would fail again on resume: the partial goes.
                    ingest.discard()?;
                    Err(StoreError::rejected(digest, mismatch))
                }
            };
            // Nothing is left to resume: the lock files go too.
            for lock in [lock, digest_lock].into_iter().flatten() {
                lock.release_and_remove();
            }
            result
        })
        .await
    }

    async fn abort(mut self) -> Result<(), StoreError> {
        // Whether the writer threads failed does not matter: their bytes are thrown away.
        self.finish_sequential().await.ok();
        self.finish_positional().await.ok();
        let ingest = self.ingest.take().ok_or_else(|| self.gone())?;
        let lock = self.lock.take();
        off_runtime("remove", move || {
            let result = ingest.discard();
            if let Some(lock) = lock {
                lock.release_and_remove();
            }
            result
        })
        .await
    }

    async fn close(mut self) -> Result<u64, StoreError> {
        let hashed = self.finish_sequential().await?;
        if let (Some(hashed), Key::Upload(_)) = (hashed, &self.key) {
            // The next request of this push continues the hash from here (see `save_hashed`).
            self.with_ingest(move |ingest| ingest.save_hashed(&hashed))
                .await?;
        }
        // Positional bytes are durable once their writer finished: `close` promises it.
        self.finish_positional().await?;
        if matches!(self.key, Key::Digest(_)) {
            // An upload's progress is its data file's length and time.
            self.record().await?;
        }
        Ok(self.offset)
    }
}
