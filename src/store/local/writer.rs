//! Writing into the local store: [`LocalWriter`], over the ingest area (`ingest.rs`), for a
//! digest's partial or an upload session.
//!
//! A writer appends (through the ingest's writer thread, which hashes what it writes) or writes
//! at offsets (hashed by reading the file back at commit). Going from positional writes back to
//! appending re-hashes the file once; nothing is ever hashed from a caller's say-so.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::sync::Arc;

use bytes::Bytes;

use super::off_runtime;
use crate::digest::Digest;
use crate::store::content::BlobWriter;
use crate::store::{Commit, Ingest, IngestLock, IngestWriter, Store, StoreError, UploadId};

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
    pub(super) store: Store,
    /// What is written; an upload becomes a digest only at commit.
    pub(super) key: Key,
    /// Where the next append goes: what the file held at the start, plus appended bytes, or
    /// the end of the furthest positional write if that is further.
    pub(super) offset: u64,
    /// `None` only while a blocking task has it.
    pub(super) ingest: Option<Ingest>,
    /// The appending writer, once [`BlobWriter::write`] was called.
    pub(super) sequential: Option<IngestWriter>,
    /// The data file opened for positional writes, once [`BlobWriter::write_at`] was called.
    pub(super) positional: Option<Arc<File>>,
    /// The digest's lock; `None` once commit, abort or close has handed it on.
    pub(super) lock: Option<IngestLock>,
}

impl Drop for LocalWriter {
    fn drop(&mut self) {
        // The writer thread may still hold queued bytes: keep the digest locked until they are
        // on disk, so that the next writer resumes from a file nobody appends to.
        if let (Some(writer), Some(lock)) = (self.sequential.take(), self.lock.take()) {
            // A thread of its own, not `spawn_blocking`: a drop cannot await, and may run while
            // the runtime shuts down. Positional writes need no such wait: each was done before
            // its `write_at` returned.
            std::thread::spawn(move || {
                if let Err(e) = writer.finish() {
                    tracing::warn!("finishing an abandoned write: {e}");
                }
                drop(lock);
            });
        }
    }
}

impl std::fmt::Debug for LocalWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalWriter")
            .field("key", &self.key)
            .field("offset", &self.offset)
            .finish_non_exhaustive()
    }
}

impl LocalWriter {
    fn ingest(&self) -> Result<&Ingest, StoreError> {
        self.ingest.as_ref().ok_or_else(|| self.gone())
    }

    /// The error once a write failed part way (the writer thread stopped, or a blocking task
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
        match (self.ingest()?.state.size, &self.key) {
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
    async fn finish_sequential(&mut self) -> Result<Option<crate::store::Hashed>, StoreError> {
        let Some(writer) = self.sequential.take() else {
            return Ok(None);
        };
        let path = self.ingest()?.data_path().to_owned();
        let hashed = off_runtime("write", move || {
            writer.finish().map_err(StoreError::io("write", &path))
        })
        .await?;
        Ok(Some(hashed))
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
            // writes): read back once, then hash as the bytes pass.
            // From here on only the appending writer touches the file. `rehash(offset)` drops
            // whatever lies past the offset, so file and hash agree from the first byte appended.
            self.positional = None;
            let offset = self.offset;
            let writer = self
                .with_ingest(move |ingest| {
                    let hashed = match ingest.saved_hashed()? {
                        Some(h) if h.bytes() == offset => h,
                        _ => ingest.rehash(offset)?,
                    };
                    ingest.append(hashed)
                })
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
        // Queued appends land first, so positional writes never race the writer thread.
        // Their hash is dropped: after a positional write, commit reads the file back.
        self.finish_sequential().await?;
        let file = match &self.positional {
            Some(f) => f.clone(),
            None => {
                let f = Arc::new(self.ingest()?.positional()?);
                self.positional = Some(f.clone());
                f
            }
        };
        let path = self.ingest()?.data_path().to_owned();
        let end = at.saturating_add(bytes.len() as u64);
        self.check_room(end)?;
        off_runtime("write", move || {
            file.write_all_at(&bytes, at)
                .map_err(StoreError::io("write", &path))
        })
        .await?;
        // The contract: the offset becomes the end of the furthest write.
        self.offset = self.offset.max(end);
        Ok(())
    }

    async fn commit(mut self, digest: &Digest) -> Result<(), StoreError> {
        crate::store::content::check_commit_target(self.digest(), digest)?;
        // Every queued byte on disk and fsynced; the appending writer's hash is the proof if
        // one still runs (a later `write_at` finished it and dropped its hash).
        let streamed = self.finish_sequential().await?;
        let offset = self.offset;
        let mut ingest = self.ingest.take().ok_or_else(|| self.gone())?;
        let (digest, lock) = (digest.clone(), self.lock.take());
        let (store, upload) = (self.store.clone(), matches!(self.key, Key::Upload(_)));
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
            let hashed = match streamed {
                Some(h) if hashed_with == digest.algorithm() => h,
                // Hashed with another algorithm: read back once with the digest's own.
                Some(_) => ingest.rehash(offset.max(ingest.partial_len()?))?,
                // Nothing streamed by this writer: a hash an earlier request of the push kept
                // (its last chunk, then `PUT ?digest=`), if the file is still exactly as it
                // left it; else (positional writes, or none at all) the file is read back
                // once. The longer of what was written and what the file holds (a resumed
                // partial not written to), so that no resumed byte is cut off before hashing.
                None => {
                    let len = offset.max(ingest.partial_len()?);
                    match ingest.saved_hashed()? {
                        Some(h) if h.bytes() == len => h,
                        _ => ingest.rehash(len)?,
                    }
                }
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
        // Whether the writer thread failed does not matter: its bytes are thrown away.
        self.finish_sequential().await.ok();
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
        // Positional bytes are written but not yet durable: `close` promises they are.
        if let Some(file) = self.positional.take() {
            let path = self.ingest()?.data_path().to_owned();
            off_runtime("sync", move || {
                file.sync_data().map_err(StoreError::io("sync", &path))
            })
            .await?;
        }
        let offset = self.offset;
        if matches!(self.key, Key::Digest(_)) {
            // An upload's progress is its data file's length and time.
            self.with_ingest(move |ingest| {
                ingest.state.bytes = offset;
                ingest.save_state()
            })
            .await?;
        }
        Ok(offset)
    }
}
