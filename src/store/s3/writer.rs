//! The S3 store's writer: a multipart upload fed while hashing, resumable from a small state
//! object.
//!
//! Bytes arrive at the *frontier* (the end of the contiguous prefix). Each full [`PART`] is
//! hashed and uploaded as the next part of a multipart upload whose target is the blob's own
//! key, up to [`IN_FLIGHT`] parts at once; the rest waits in memory as the tail. S3 wants every
//! part but the last to be at least 5 MiB, so a writer that stops keeps its tail as an object
//! of its own (`tail`) rather than as a short part. Bytes written ahead of the frontier (a
//! download in segments) wait in memory and, past [`SPILL_AT`] or when the writer stops, as
//! `piece-<start>` objects, until the frontier reaches them.
//!
//! `state.json` is the commit point of a stop: the upload id, the parts' ETags, the hasher's
//! saved state after the last part, the tail's length, the pieces and the checkpoint. It is
//! written after the tail and the pieces, so what it names exists.

use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use futures_util::StreamExt as _;
use object_store::multipart::{MultipartStore as _, PartId};
use object_store::path::Path;
use object_store::{ObjectStore as _, ObjectStoreExt as _, PutMode, PutOptions, PutPayload};
use serde::{Deserialize, Serialize};
use tokio::task::JoinHandle;

use super::{Held, S3Store};
use crate::digest::{Algorithm, Digest, Verifier};
use crate::store::content::{BlobWriter, Checkpoint, check_commit_target};
use crate::store::{Mismatch, Segment, StoreError, UploadId};

/// The size of every part but the last (S3's minimum is 5 MiB).
pub(super) const PART: u64 = 8 << 20;
/// Parts uploaded at once by one writer.
const IN_FLIGHT: usize = 4;
/// Bytes written ahead of the frontier that are held in memory before they go to a piece.
const SPILL_AT: u64 = 64 << 20;
/// How often a queued checkpoint is made durable.
const SAVE_EVERY: Duration = Duration::from_secs(1);

/// What a writer writes: a digest's partial or an upload session.
#[derive(Debug, Clone)]
pub(super) enum Name {
    /// A blob's partial, under the digest it must become.
    Digest(Digest),
    /// An upload session, whose digest is told only at commit.
    Upload(UploadId),
}

impl Name {
    /// The in-process lock's name.
    pub(super) fn lock_name(&self) -> String {
        S3Store::ingest_dir(self)
    }
}

/// `state.json`: what a later writer needs to continue.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(super) struct State {
    /// The multipart upload, once a part was uploaded.
    upload: Option<String>,
    /// The ETags of the uploaded parts, each [`PART`] bytes, in order.
    parts: Vec<String>,
    /// The hasher's saved state after the parts (hex), empty before the first.
    hashed: String,
    /// The length of the `tail` object.
    tail: u64,
    /// Pieces written ahead: start and length.
    pieces: Vec<(u64, u64)>,
    /// Where the next write goes.
    pub(super) offset: u64,
    /// The checkpoint's fields.
    size: Option<u64>,
    source: Option<String>,
    segments: Option<Vec<Segment>>,
    /// An upload session's algorithm.
    algorithm: Option<String>,
    /// Seconds since the epoch of the last save.
    updated: u64,
}

impl State {
    /// The state of `name`'s partial, `None` when there is none (or it is unreadable: a
    /// garbled state is a partial to start over).
    pub(super) async fn read(store: &S3Store, name: &Name) -> Result<Option<State>, StoreError> {
        let path = store.key(&format!("{}/state.json", S3Store::ingest_dir(name)));
        Ok(store
            .get_small(&path, super::SMALL_OBJECT)
            .await?
            .and_then(|b| serde_json::from_slice(&b).ok()))
    }

    /// The multipart upload a saved state names, if it is readable and names one.
    pub(super) fn upload_of(bytes: &[u8]) -> Option<String> {
        serde_json::from_slice::<State>(bytes).ok()?.upload
    }

    /// An upload session's algorithm.
    pub(super) fn algorithm(&self) -> Option<Algorithm> {
        match self.algorithm.as_deref() {
            Some("sha256") => Some(Algorithm::Sha256),
            Some("sha512") => Some(Algorithm::Sha512),
            _ => None,
        }
    }

    /// When it was last saved.
    pub(super) fn updated(&self) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(self.updated)
    }
}

/// Aborts the multipart upload `state` names (`cache gc` of a stale partial). An upload that
/// is gone already is fine.
pub(super) async fn abort_upload_of(store: &S3Store, name: &Name, state: &State) {
    let Some(id) = &state.upload else { return };
    let target = match name {
        Name::Digest(d) => store.blob_key(d),
        Name::Upload(_) => store.key(&format!("{}/data", S3Store::ingest_dir(name))),
    };
    if let Err(e) = store.inner.s3.abort_multipart(&target, id).await {
        tracing::debug!("aborting multipart upload of {target}: {e}");
    }
}

/// Writes one blob (or upload session) into the bucket. See the module docs.
#[derive(Debug)]
pub struct S3Writer {
    guts: Option<Guts>,
}

struct Guts {
    store: S3Store,
    name: Name,
    _held: Held,
    /// The multipart upload's target key.
    target: Path,
    /// The algorithm the bytes are hashed with as they come.
    algorithm: Algorithm,
    /// Whether this is an upload session (no size, digest told at commit).
    session: bool,
    note: Checkpoint,
    upload: Option<String>,
    /// ETags of the parts whose upload finished.
    parts: Vec<String>,
    /// Part uploads under way, oldest first.
    in_flight: VecDeque<JoinHandle<Result<PartId, object_store::Error>>>,
    /// Hashes every byte handed to a part (finished or in flight).
    verifier: Verifier,
    /// Bytes handed to parts.
    parted: u64,
    /// The tail: bytes after the parts, not yet a part.
    /// A deque: a part takes its chunks from the front, one at a time (a `Vec`'s
    /// `remove(0)` moved the whole tail for each of a part's ~500 chunks).
    buf: VecDeque<Bytes>,
    buf_len: u64,
    /// Bytes written ahead of the frontier, in memory, by start.
    pending: BTreeMap<u64, Bytes>,
    pending_len: u64,
    /// Bytes written ahead of the frontier, as piece objects: start and length.
    spilled: BTreeMap<u64, u64>,
    last_save: Instant,
    /// Whether anything changed since the state was last saved (or resumed).
    dirty: bool,
    /// The `state.json` of this partial as last saved (or resumed), `None` when there is none.
    saved: Option<State>,
    /// Whether another writer (another replica on the bucket) published the blob while this
    /// one was under way, ending our multipart upload: bytes written since are dropped (the
    /// frontier still advances) and the commit leaves the blob as it is.
    superseded: bool,
}

impl std::fmt::Debug for Guts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Guts")
            .field("name", &self.name)
            .field("frontier", &self.frontier())
            .finish_non_exhaustive()
    }
}

impl S3Writer {
    /// A writer of a digest's partial, resuming what an earlier writer left.
    pub(super) async fn resume(
        store: S3Store,
        digest: &Digest,
        held: Held,
        size: Option<u64>,
    ) -> Result<S3Writer, StoreError> {
        let name = Name::Digest(digest.clone());
        let target = store.blob_key(digest);
        let algorithm = digest.algorithm();
        let state = State::read(&store, &name).await?;
        let mut guts = Guts::fresh(store, name, held, target, algorithm, false);
        if let Some(state) = state {
            let other_size = size.is_some() && state.size.is_some_and(|s| Some(s) != size);
            if other_size || !guts.restore(&state).await? {
                // Recorded for another size (no prefix of this blob), or unusable: start over.
                guts.forget(&state).await?;
            }
        }
        guts.note.size = size.or(guts.note.size);
        Ok(S3Writer { guts: Some(guts) })
    }

    /// A writer of upload session `name`: `start` creates it, `None` resumes it.
    pub(super) async fn session(
        store: S3Store,
        name: Name,
        held: Held,
        start: Option<Algorithm>,
    ) -> Result<Option<S3Writer>, StoreError> {
        let target = store.key(&format!("{}/data", S3Store::ingest_dir(&name)));
        let state = State::read(&store, &name).await?;
        let guts = match (state, start) {
            (Some(_), Some(_)) => {
                return Err(StoreError::Corrupt {
                    path: store.display(&target).into(),
                    reason: "an upload session of this id exists already".into(),
                });
            }
            (Some(state), None) => {
                let Some(algorithm) = state.algorithm() else {
                    return Ok(None);
                };
                let mut guts = Guts::fresh(store, name, held, target, algorithm, true);
                if !guts.restore(&state).await? {
                    guts.forget(&state).await?;
                }
                guts
            }
            (None, Some(algorithm)) => {
                let mut guts = Guts::fresh(store, name, held, target, algorithm, true);
                guts.persist().await?;
                guts
            }
            (None, None) => return Ok(None),
        };
        Ok(Some(S3Writer { guts: Some(guts) }))
    }

    fn guts(&mut self) -> Result<&mut Guts, StoreError> {
        self.guts.as_mut().ok_or_else(|| StoreError::Corrupt {
            path: "an S3 writer".into(),
            reason: "it was committed, aborted or closed".into(),
        })
    }

    fn take(&mut self) -> Result<Guts, StoreError> {
        self.guts.take().ok_or_else(|| StoreError::Corrupt {
            path: "an S3 writer".into(),
            reason: "it was committed, aborted or closed".into(),
        })
    }
}

impl Drop for S3Writer {
    fn drop(&mut self) {
        // A close nobody awaits: the lock (in the guts) is held until the state is saved.
        if let Some(mut guts) = self.guts.take().filter(|g| g.dirty)
            && let Ok(handle) = tokio::runtime::Handle::try_current()
        {
            handle.spawn(async move {
                if let Err(e) = guts.persist().await {
                    tracing::warn!("saving a dropped S3 writer's partial: {e}");
                }
            });
        }
    }
}

impl Guts {
    fn fresh(
        store: S3Store,
        name: Name,
        held: Held,
        target: Path,
        algorithm: Algorithm,
        session: bool,
    ) -> Guts {
        Guts {
            store,
            name,
            _held: held,
            target,
            algorithm,
            session,
            note: Checkpoint::default(),
            upload: None,
            parts: Vec::new(),
            in_flight: VecDeque::new(),
            verifier: algorithm.verifier(),
            parted: 0,
            buf: VecDeque::new(),
            buf_len: 0,
            pending: BTreeMap::new(),
            pending_len: 0,
            spilled: BTreeMap::new(),
            last_save: Instant::now(),
            dirty: false,
            saved: None,
            superseded: false,
        }
    }

    fn dir(&self) -> String {
        S3Store::ingest_dir(&self.name)
    }

    fn object(&self, leaf: &str) -> Path {
        self.store.key(&format!("{}/{leaf}", self.dir()))
    }

    fn piece_key(&self, start: u64) -> Path {
        self.object(&format!("piece-{start}"))
    }

    /// The end of the contiguous prefix.
    fn frontier(&self) -> u64 {
        self.parted + self.buf_len
    }

    fn offset(&self) -> u64 {
        let pending = self
            .pending
            .iter()
            .map(|(s, b)| s.saturating_add(b.len() as u64));
        // Pieces come from `state.json`, which is in the bucket: no arithmetic may overflow.
        let spilled = self.spilled.iter().map(|(s, l)| s.saturating_add(*l));
        pending.chain(spilled).fold(self.frontier(), u64::max)
    }

    /// Takes over a saved state; `false` when its objects do not match it.
    async fn restore(&mut self, state: &State) -> Result<bool, StoreError> {
        let verifier = if state.parts.is_empty() {
            Some(self.algorithm.verifier())
        } else {
            hex::decode(&state.hashed)
                .ok()
                .and_then(|saved| Verifier::from_saved(self.algorithm, &saved))
        };
        let Some(verifier) = verifier else {
            return Ok(false);
        };
        let tail = if state.tail > 0 {
            // A tail of another length (another writer's, saved since) is no tail of this state.
            match self.store.get_small(&self.object("tail"), PART).await? {
                Some(t) if t.len() as u64 == state.tail => t,
                _ => return Ok(false),
            }
        } else {
            Bytes::new()
        };
        self.verifier = verifier;
        self.upload = state.upload.clone();
        self.parts = state.parts.clone();
        self.parted = state.parts.len() as u64 * PART;
        self.buf_len = tail.len() as u64;
        self.buf = VecDeque::from([tail]);
        self.spilled = state.pieces.iter().copied().collect();
        self.note = Checkpoint {
            size: state.size,
            source: state.source.clone(),
            segments: state.segments.clone(),
        };
        self.saved = Some(state.clone());
        Ok(true)
    }

    /// Deletes what `state` names (its upload, tail, pieces and itself).
    async fn forget(&mut self, state: &State) -> Result<(), StoreError> {
        if let Some(id) = &state.upload {
            self.abort_upload(id).await;
        }
        for (start, _) in &state.pieces {
            self.store.remove(&self.piece_key(*start)).await?;
        }
        self.store.remove(&self.object("tail")).await?;
        self.store.remove(&self.object("state.json")).await?;
        self.saved = None;
        Ok(())
    }

    async fn abort_upload(&self, id: &str) {
        // Aborting an upload that is gone already (another replica, an earlier gc) is fine.
        if let Err(e) = self
            .store
            .inner
            .s3
            .abort_multipart(&self.target, &id.to_owned())
            .await
        {
            tracing::debug!("aborting multipart upload of {}: {e}", self.target);
        }
    }

    /// Throws everything away (and starts over: the writer stays usable at offset 0).
    async fn discard(&mut self) -> Result<(), StoreError> {
        // Parts under way finish (or fail) before their upload is aborted, so none outlives it.
        while let Some(task) = self.in_flight.pop_front() {
            let _ = task.await;
        }
        let state = self.state();
        self.forget(&state).await?;
        let note = std::mem::take(&mut self.note);
        self.upload = None;
        self.parts.clear();
        self.parted = 0;
        self.verifier = self.algorithm.verifier();
        self.buf.clear();
        self.buf_len = 0;
        self.pending.clear();
        self.pending_len = 0;
        self.spilled.clear();
        self.note = note;
        Ok(())
    }

    fn check_room(&self, end: u64) -> Result<(), StoreError> {
        match (&self.name, self.note.size) {
            (Name::Digest(digest), Some(size)) if end > size => Err(StoreError::WrongSize {
                digest: digest.clone(),
                expected: size,
                actual: end,
            }),
            _ => Ok(()),
        }
    }

    async fn write_at(&mut self, at: u64, mut bytes: Bytes) -> Result<(), StoreError> {
        let end = at.saturating_add(bytes.len() as u64);
        self.check_room(end)?;
        if self.superseded {
            if at <= self.frontier() {
                self.parted = self.parted.max(end.saturating_sub(self.buf_len));
            }
            return Ok(());
        }
        self.dirty = true;
        let frontier = self.frontier();
        if end <= frontier {
            // Bytes the prefix has already (a segment's retry); the commit's digest decides.
            return Ok(());
        }
        let mut at = at;
        if at < frontier {
            // `frontier - at` is less than the length, a usize: the cast is exact.
            let _ = bytes.split_to((frontier - at) as usize);
            at = frontier;
        }
        if at == frontier {
            self.append(bytes).await?;
            self.drain().await?;
        } else {
            self.pending_len += bytes.len() as u64;
            if let Some(old) = self.pending.insert(at, bytes) {
                self.pending_len -= old.len() as u64;
            }
            if self.pending_len > SPILL_AT {
                self.spill().await?;
            }
        }
        Ok(())
    }

    /// Appends at the frontier, uploading every full part.
    async fn append(&mut self, bytes: Bytes) -> Result<(), StoreError> {
        self.buf_len += bytes.len() as u64;
        self.buf.push_back(bytes);
        while self.buf_len >= PART {
            let mut part = Vec::new();
            let mut need = PART;
            while need > 0 {
                let Some(mut chunk) = self.buf.pop_front() else {
                    break;
                };
                if chunk.len() as u64 > need {
                    // `need` is less than the chunk's length: the cast is exact.
                    let rest = chunk.split_off(need as usize);
                    self.buf.push_front(rest);
                }
                need -= chunk.len() as u64;
                part.push(chunk);
            }
            self.buf_len -= PART;
            self.upload_part(part).await?;
        }
        Ok(())
    }

    /// Hashes `part` and starts its upload, waiting for the oldest when [`IN_FLIGHT`] are.
    async fn upload_part(&mut self, part: Vec<Bytes>) -> Result<(), StoreError> {
        let id = match &self.upload {
            Some(id) => id.clone(),
            None => {
                let id = self
                    .store
                    .inner
                    .s3
                    .create_multipart(&self.target)
                    .await
                    .map_err(
                        self.store
                            .remote("start a multipart upload of", &self.target),
                    )?;
                self.upload = Some(id.clone());
                self.name_upload(&id).await?;
                id
            }
        };
        let mut len = 0;
        for chunk in &part {
            self.verifier.update(chunk);
            len += chunk.len() as u64;
        }
        self.parted += len;
        let index = self.parts.len() + self.in_flight.len();
        let (s3, target) = (self.store.inner.s3.clone(), self.target.clone());
        self.in_flight.push_back(tokio::spawn(async move {
            s3.put_part(
                &target,
                &id,
                index,
                part.into_iter().collect::<PutPayload>(),
            )
            .await
        }));
        if self.in_flight.len() >= IN_FLIGHT {
            self.finish_oldest().await?;
        }
        Ok(())
    }

    /// Saves `state.json` again, now naming the multipart upload just created, so that a
    /// writer killed before its next save (a single-stream fetch saves only when it stops)
    /// leaves an upload that `cache gc` aborts with this partial rather than one no object
    /// names. What is saved is the last saved state (or, before any, an empty one) plus the
    /// upload: still true of the bucket, since an upload without parts adds no bytes, as long as
    /// the pieces it names were not merged (and deleted) since; when they were, the state is
    /// left for the next save, and gc's listing of uploads (`uploads.rs`) covers the gap.
    async fn name_upload(&mut self, id: &str) -> Result<(), StoreError> {
        let mut state = match &self.saved {
            Some(saved)
                if saved.upload.is_none()
                    && saved
                        .pieces
                        .iter()
                        .all(|(start, _)| self.spilled.contains_key(start)) =>
            {
                saved.clone()
            }
            Some(_) => return Ok(()),
            None => State {
                size: self.note.size,
                source: self.note.source.clone(),
                algorithm: self.session.then(|| self.algorithm.as_str().to_owned()),
                ..State::default()
            },
        };
        state.upload = Some(id.to_owned());
        state.updated = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let bytes = serde_json::to_vec(&state).unwrap_or_default();
        self.store
            .put(&self.object("state.json"), bytes.into())
            .await?;
        self.saved = Some(state);
        Ok(())
    }

    async fn finish_oldest(&mut self) -> Result<(), StoreError> {
        let Some(task) = self.in_flight.pop_front() else {
            return Ok(());
        };
        let part = match task.await {
            Ok(Ok(part)) => part,
            Ok(Err(_)) if self.superseded => return Ok(()),
            Ok(Err(e)) if self.published_elsewhere().await => {
                tracing::debug!("{}: {e}; another writer published the blob", self.target);
                self.superseded = true;
                self.dirty = false;
                return Ok(());
            }
            Ok(Err(e)) => return Err(self.store.remote("upload a part of", &self.target)(e)),
            Err(e) => {
                return Err(self.store.remote("upload a part of", &self.target)(
                    e.into(),
                ));
            }
        };
        self.parts.push(part.content_id);
        Ok(())
    }

    /// Whether this blob's key holds an object of the blob's size now, written by another
    /// writer (another replica): Garage ends a multipart upload when a newer one of the same
    /// key completes. Never true of an upload session, whose target is its own; a digest's
    /// target is the blob's key.
    async fn published_elsewhere(&self) -> bool {
        if !matches!(self.name, Name::Digest(_)) {
            return false;
        }
        match self.store.head(&self.target).await {
            Ok(Some(size)) => self.note.size.is_none_or(|n| n == size),
            _ => false,
        }
    }

    /// Waits for every part upload under way.
    async fn settle(&mut self) -> Result<(), StoreError> {
        let mut first = Ok(());
        while !self.in_flight.is_empty() {
            if let Err(e) = self.finish_oldest().await
                && first.is_ok()
            {
                first = Err(e);
            }
        }
        if first.is_err() {
            // A part that failed leaves a gap: the parts after it cannot be used either, and
            // the bytes are gone. Start over (the caller's retry resumes from 0).
            let mut note = std::mem::take(&mut self.note);
            note.segments = None;
            self.in_flight.clear();
            self.discard().await.ok();
            self.note = note;
        }
        first
    }

    /// Moves pending pieces and spilled pieces that the frontier reached into the prefix.
    async fn drain(&mut self) -> Result<(), StoreError> {
        loop {
            let frontier = self.frontier();
            if let Some((&start, _)) = self.pending.first_key_value()
                && start <= frontier
            {
                let Some(mut bytes) = self.pending.remove(&start) else {
                    continue;
                };
                self.pending_len -= bytes.len() as u64;
                let skip = (frontier - start).min(bytes.len() as u64);
                // `skip` is at most the length, a usize: the cast is exact.
                let _ = bytes.split_to(skip as usize);
                if !bytes.is_empty() {
                    self.append(bytes).await?;
                }
                continue;
            }
            if let Some((&start, _)) = self.spilled.first_key_value()
                && start <= frontier
            {
                let len = self.spilled.remove(&start).unwrap_or(0);
                let key = self.piece_key(start);
                if let Some(mut bytes) = self.store.get_small(&key, len).await? {
                    let skip = (frontier - start).min(bytes.len() as u64);
                    // As above.
                    let _ = bytes.split_to(skip as usize);
                    if !bytes.is_empty() {
                        self.append(bytes).await?;
                    }
                }
                self.store.remove(&key).await?;
                continue;
            }
            return Ok(());
        }
    }

    /// Writes the pending pieces out as piece objects (contiguous ones merged).
    async fn spill(&mut self) -> Result<(), StoreError> {
        let pending = std::mem::take(&mut self.pending);
        self.pending_len = 0;
        let mut runs: Vec<(u64, Vec<Bytes>, u64)> = Vec::new();
        for (start, bytes) in pending {
            match runs.last_mut() {
                Some((s, chunks, len)) if s.saturating_add(*len) == start => {
                    *len += bytes.len() as u64;
                    chunks.push(bytes);
                }
                _ => runs.push((start, vec![bytes.clone()], bytes.len() as u64)),
            }
        }
        for (start, chunks, len) in runs {
            let key = self.piece_key(start);
            self.store
                .inner
                .s3
                .put(&key, chunks.into_iter().collect::<PutPayload>())
                .await
                .map_err(self.store.remote("write", &key))?;
            let old = self.spilled.insert(start, len);
            debug_assert!(old.is_none_or(|o| o <= len));
        }
        Ok(())
    }

    fn state(&self) -> State {
        State {
            upload: self.upload.clone(),
            parts: self.parts.clone(),
            hashed: if self.parts.is_empty() {
                String::new()
            } else {
                hex::encode(self.verifier.save())
            },
            tail: self.buf_len,
            pieces: self.spilled.iter().map(|(s, l)| (*s, *l)).collect(),
            offset: self.offset(),
            size: self.note.size,
            source: self.note.source.clone(),
            segments: self.note.segments.clone(),
            algorithm: self.session.then(|| self.algorithm.as_str().to_owned()),
            updated: SystemTime::now()
                .duration_since(SystemTime::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs()),
        }
    }

    /// Makes every byte written and the checkpoint durable.
    async fn persist(&mut self) -> Result<(), StoreError> {
        self.settle().await?;
        if self.superseded {
            // Nothing of ours to keep: the blob is published.
            return Ok(());
        }
        self.spill().await?;
        let tail = self.object("tail");
        if self.buf_len > 0 {
            let payload: PutPayload = self.buf.iter().cloned().collect();
            self.store
                .inner
                .s3
                .put(&tail, payload)
                .await
                .map_err(self.store.remote("write", &tail))?;
        } else {
            self.store.remove(&tail).await?;
        }
        let state = self.state();
        let bytes = serde_json::to_vec(&state).unwrap_or_default();
        self.store
            .put(&self.object("state.json"), bytes.into())
            .await?;
        self.last_save = Instant::now();
        self.dirty = false;
        self.saved = Some(state);
        Ok(())
    }

    async fn truncate(&mut self, len: u64) -> Result<(), StoreError> {
        self.dirty = true;
        if len == 0 {
            return self.discard().await;
        }
        // Pieces ahead of `len` go; a piece across it is cut (in memory) or dropped (spilled).
        let pending = std::mem::take(&mut self.pending);
        self.pending_len = 0;
        for (start, mut bytes) in pending {
            if start < len {
                // `len - start` is less than the length when it is cut: the cast is exact.
                bytes.truncate((len - start).min(bytes.len() as u64) as usize);
                self.pending_len += bytes.len() as u64;
                self.pending.insert(start, bytes);
            }
        }
        let spilled: Vec<u64> = self.spilled.keys().copied().collect();
        for start in spilled {
            if self
                .spilled
                .get(&start)
                .is_some_and(|l| start.saturating_add(*l) > len)
            {
                self.spilled.remove(&start);
                self.store.remove(&self.piece_key(start)).await?;
            }
        }
        let frontier = self.frontier();
        if len >= frontier {
            return Ok(());
        }
        if len < self.parted {
            return Err(StoreError::Corrupt {
                path: self.store.display(&self.target).into(),
                reason: format!(
                    "its first {} bytes are uploaded parts; it can be truncated to 0 or to {} bytes or more, not {len}",
                    self.parted, self.parted
                ),
            });
        }
        let mut keep = len - self.parted;
        let mut buf = VecDeque::new();
        for mut chunk in std::mem::take(&mut self.buf) {
            if keep == 0 {
                break;
            }
            // `keep` is less than the length when it is cut: the cast is exact.
            chunk.truncate(keep.min(chunk.len() as u64) as usize);
            keep -= chunk.len() as u64;
            buf.push_back(chunk);
        }
        self.buf = buf;
        self.buf_len = len - self.parted;
        Ok(())
    }

    /// Publishes the bytes as `digest` after checking size and digest.
    async fn commit(&mut self, digest: &Digest) -> Result<(), StoreError> {
        self.settle().await?;
        if self.superseded {
            return self.discard().await;
        }
        let frontier = self.frontier();
        let offset = self.offset();
        let expected = self.note.size.filter(|_| !self.session);
        let size_wrong = match expected {
            Some(size) => size != frontier,
            None => offset != frontier,
        };
        if size_wrong {
            self.discard().await?;
            let mismatch = Mismatch::Size {
                expected: expected.unwrap_or(offset),
                actual: frontier,
            };
            return Err(StoreError::rejected(digest.clone(), mismatch));
        }
        let blob = self.store.blob_key(digest);
        if self.store.head(&blob).await?.is_some() {
            // Another writer (another replica) published it: the same bytes, by their name.
            return self.discard().await;
        }
        let same_algorithm = digest.algorithm() == self.algorithm;
        if same_algorithm {
            let mut v = self.verifier.clone();
            for chunk in &self.buf {
                v.update(chunk);
            }
            let actual = v.finish();
            if actual != *digest {
                self.discard().await?;
                let mismatch = Mismatch::Digest {
                    actual,
                    bytes: frontier,
                };
                return Err(StoreError::rejected(digest.clone(), mismatch));
            }
        }
        // What the bytes are published under first: the blob's key when they are verified
        // and the upload targets it, else the target (a session's `data`), checked and copied.
        let direct = same_algorithm && (self.upload.is_none() || self.target == blob);
        let first = if self.upload.is_none() && direct {
            blob.clone()
        } else {
            self.target.clone()
        };
        let tail: PutPayload = self.buf.iter().cloned().collect();
        match self.upload.clone() {
            None if first == blob => {
                // If-None-Match: * where the store honours it (AWS S3 since 2024): a blob
                // another writer published meanwhile is left as it is, and its bytes are
                // ours. Garage 2.5 ignores the header and overwrites: the same bytes again.
                let opts = PutOptions {
                    mode: PutMode::Create,
                    ..PutOptions::default()
                };
                match self.store.inner.s3.put_opts(&first, tail, opts).await {
                    Ok(_) | Err(object_store::Error::AlreadyExists { .. }) => {}
                    Err(e) => return Err(self.store.remote("write", &first)(e)),
                }
            }
            None => {
                self.store
                    .inner
                    .s3
                    .put(&first, tail)
                    .await
                    .map_err(self.store.remote("write", &first))?;
            }
            Some(id) => {
                if self.buf_len > 0 || self.parts.is_empty() {
                    let part = self
                        .store
                        .inner
                        .s3
                        .put_part(&self.target, &id, self.parts.len(), tail)
                        .await
                        .map_err(self.store.remote("upload a part of", &self.target))?;
                    self.parts.push(part.content_id);
                }
                let parts = self
                    .parts
                    .iter()
                    .map(|c| PartId {
                        content_id: c.clone(),
                    })
                    .collect();
                let completed = self
                    .store
                    .inner
                    .s3
                    .complete_multipart(&self.target, &id, parts)
                    .await;
                if let Err(e) = completed {
                    // Another writer's upload of the same key completing may end ours (Garage
                    // does): when the blob is there now, it holds the same bytes, verified.
                    if self.published_elsewhere().await {
                        return self.discard().await;
                    }
                    let why = self
                        .store
                        .remote("complete the multipart upload of", &self.target);
                    return Err(why(e));
                }
                self.upload = None;
            }
        }
        if first != blob {
            if !same_algorithm {
                let actual = self.hash_object(&first, digest.algorithm()).await?;
                if actual != *digest {
                    self.store.remove(&first).await?;
                    self.discard().await?;
                    let mismatch = Mismatch::Digest {
                        actual,
                        bytes: frontier,
                    };
                    return Err(StoreError::rejected(digest.clone(), mismatch));
                }
            }
            self.store
                .inner
                .s3
                .copy(&first, &blob)
                .await
                .map_err(self.store.remote("copy into blobs/", &first))?;
            self.store.remove(&first).await?;
        }
        self.discard().await
    }

    /// Reads an object back and hashes it (a session committed with another algorithm).
    async fn hash_object(&self, path: &Path, algorithm: Algorithm) -> Result<Digest, StoreError> {
        let got = self
            .store
            .inner
            .s3
            .get(path)
            .await
            .map_err(self.store.remote("read", path))?;
        let mut v = algorithm.verifier();
        let mut stream = got.into_stream();
        while let Some(chunk) = stream.next().await {
            v.update(&chunk.map_err(self.store.remote("read", path))?);
        }
        Ok(v.finish())
    }
}

impl BlobWriter for S3Writer {
    fn digest(&self) -> Option<&Digest> {
        match self.guts.as_ref().map(|g| &g.name) {
            Some(Name::Digest(d)) => Some(d),
            _ => None,
        }
    }

    fn offset(&self) -> u64 {
        self.guts.as_ref().map_or(0, Guts::offset)
    }

    async fn write(&mut self, chunk: Bytes) -> Result<(), StoreError> {
        let g = self.guts()?;
        let at = g.offset();
        g.write_at(at, chunk).await
    }

    async fn write_at(&mut self, at: u64, bytes: Bytes) -> Result<(), StoreError> {
        self.guts()?.write_at(at, bytes).await
    }

    fn checkpoint(&self) -> &Checkpoint {
        static NONE: std::sync::LazyLock<Checkpoint> =
            std::sync::LazyLock::new(Checkpoint::default);
        self.guts.as_ref().map_or(&NONE, |g| &g.note)
    }

    async fn save_checkpoint(&mut self, checkpoint: Checkpoint) -> Result<(), StoreError> {
        let g = self.guts()?;
        g.note = checkpoint;
        g.persist().await
    }

    async fn queue_checkpoint(&mut self, checkpoint: Checkpoint) {
        let Ok(g) = self.guts() else { return };
        g.note = checkpoint;
        g.dirty = true;
        if g.last_save.elapsed() >= SAVE_EVERY
            && let Err(e) = g.persist().await
        {
            // Best effort, as the contract says: a resume starts from an earlier save.
            tracing::debug!("saving an S3 partial's checkpoint: {e}");
        }
    }

    async fn truncate(&mut self, len: u64) -> Result<(), StoreError> {
        self.guts()?.truncate(len).await
    }

    async fn commit(mut self, digest: &Digest) -> Result<(), StoreError> {
        check_commit_target(self.digest(), digest)?;
        let mut g = self.take()?;
        g.commit(digest).await
    }

    async fn abort(mut self) -> Result<(), StoreError> {
        let mut g = self.take()?;
        g.discard().await
    }

    async fn close(mut self) -> Result<u64, StoreError> {
        let mut g = self.take()?;
        g.persist().await?;
        Ok(g.offset())
    }
}
