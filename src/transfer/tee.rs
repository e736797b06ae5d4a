//! `copy`'s tee: a large layer is pushed while it is still being fetched, from the same bytes,
//! so that a copy takes about as long as the slower direction rather than the sum of both.
//!
//! [`TeeStore`] is a [`ContentStore`] around the cache: every writer of a blob at least
//! `min_size` large that starts from nothing hands each chunk it accepts (in order, after the
//! store took it) to a [`Tap`], and tells it when the store's verifying commit succeeded. The
//! uploader ([`upload`]) sends the chunks to the destination as `PATCH` requests while they
//! come, and closes the upload (`PUT ?digest=`) only after that commit: the destination never
//! completes a blob this side did not verify (and it checks the digest itself too).
//!
//! Anything out of the ordinary ends the tee: a resumed partial, a positional write (segments),
//! a truncation (a restart), a failed request, a registry that holds other than was sent. The
//! blob is then pushed as `push` pushes it, from the verified cache (a file, or an S3 object),
//! once the fetch is done (the caller's fallback): the tee only ever saves time. The chunk queue is bounded, so a
//! destination slower than the source slows the fetch to its pace instead of filling memory.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use bytes::Bytes;
use tokio::sync::mpsc;

use super::Progress;
use super::push::{BlobOutcome, PushOptions, PushedBlob, check_declared};
use crate::client::{Client, RegistryError, Started};
use crate::digest::{Algorithm, Digest};
use crate::reference::Reference;
use crate::store::content::{
    Blob, BlobWriter, Checkpoint, ContentStore, Deleted, Location, Partial, StoredBlob, UploadInfo,
    WriterAttempt,
};
use crate::store::{LayoutIndex, Refs, StoreError, UploadId};

/// Chunks queued between a writer and its uploader: network chunks of up to a few hundred KiB,
/// so a few MiB per teed blob at most (as the store's own write queue).
const TAP_QUEUE: usize = crate::store::WRITE_QUEUE;

/// What a writer hands its tap.
enum Feed {
    /// The next bytes of the blob.
    Bytes(Bytes),
    /// The store's verifying commit published the blob.
    Committed,
}

/// A blob being fetched whose bytes can be pushed as they come (see the module docs).
pub struct Tap {
    /// The blob.
    pub digest: Digest,
    /// Its size (the descriptor's).
    pub size: u64,
    feed: mpsc::Receiver<Feed>,
}

/// A [`ContentStore`] that taps the writers of large blobs (see the module docs); everything
/// else goes straight to the store inside.
pub struct TeeStore<S> {
    inner: S,
    min_size: u64,
    on_tap: OnTap,
}

/// Takes a new tap; `false` when nobody will read it.
pub type OnTap = Box<dyn Fn(Tap) -> bool + Send + Sync>;

impl<S: ContentStore> TeeStore<S> {
    /// Taps writers of blobs of at least `min_size` bytes, handing each tap to `on_tap`.
    pub fn new(inner: S, min_size: u64, on_tap: OnTap) -> TeeStore<S> {
        TeeStore {
            inner,
            min_size,
            on_tap,
        }
    }

    /// Wraps a writer, with a tap when its blob is large and it starts from nothing.
    fn wrap(&self, digest: &Digest, size: Option<u64>, writer: S::Writer) -> TeeWriter<S::Writer> {
        let tap = match size {
            Some(size) if size >= self.min_size && writer.offset() == 0 => {
                let (tx, feed) = mpsc::channel(TAP_QUEUE);
                let tap = Tap {
                    digest: digest.clone(),
                    size,
                    feed,
                };
                // Nobody listening (the copy is ending): no tap.
                (self.on_tap)(tap).then_some(tx)
            }
            _ => None,
        };
        TeeWriter { inner: writer, tap }
    }
}

impl<S: ContentStore> ContentStore for TeeStore<S> {
    type Writer = TeeWriter<S::Writer>;

    async fn stat(&self, digest: &Digest) -> Result<Option<u64>, StoreError> {
        self.inner.stat(digest).await
    }

    async fn open(&self, digest: &Digest) -> Result<Option<Blob>, StoreError> {
        self.inner.open(digest).await
    }

    async fn locate(&self, digest: &Digest) -> Result<Location, StoreError> {
        self.inner.locate(digest).await
    }

    async fn writer(&self, digest: &Digest, size: Option<u64>) -> Result<Self::Writer, StoreError> {
        let writer = self.inner.writer(digest, size).await?;
        Ok(self.wrap(digest, size, writer))
    }

    async fn try_writer(
        &self,
        digest: &Digest,
        size: Option<u64>,
    ) -> Result<WriterAttempt<Self::Writer>, StoreError> {
        Ok(match self.inner.try_writer(digest, size).await? {
            WriterAttempt::Ready(w) => WriterAttempt::Ready(self.wrap(digest, size, w)),
            WriterAttempt::Busy { holder } => WriterAttempt::Busy { holder },
        })
    }

    async fn upload(
        &self,
        id: &UploadId,
        start: Option<Algorithm>,
    ) -> Result<Option<Self::Writer>, StoreError> {
        let writer = self.inner.upload(id, start).await?;
        Ok(writer.map(|inner| TeeWriter { inner, tap: None }))
    }

    async fn uploads(&self) -> Result<Vec<UploadInfo>, StoreError> {
        self.inner.uploads().await
    }

    async fn blobs(&self) -> Result<Vec<StoredBlob>, StoreError> {
        self.inner.blobs().await
    }

    async fn partials(&self) -> Result<Vec<Partial>, StoreError> {
        self.inner.partials().await
    }

    async fn delete(&self, digest: &Digest) -> Result<Deleted, StoreError> {
        self.inner.delete(digest).await
    }

    async fn touch(&self, digest: &Digest) -> Result<(), StoreError> {
        self.inner.touch(digest).await
    }

    fn local_path(&self, digest: &Digest) -> Option<std::path::PathBuf> {
        self.inner.local_path(digest)
    }

    fn growing(&self, digest: &Digest) -> Option<crate::store::content::Growing> {
        self.inner.growing(digest)
    }

    async fn quarantine(&self, digest: &Digest) -> Result<(), StoreError> {
        self.inner.quarantine(digest).await
    }

    async fn refs(&self) -> Result<Arc<Refs>, StoreError> {
        self.inner.refs().await
    }

    async fn update_refs<T, F>(&self, change: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut LayoutIndex) -> (T, bool) + Send + 'static,
    {
        self.inner.update_refs(change).await
    }
}

/// A writer of a [`TeeStore`]: the store's own, plus its tap while the tap lasts.
pub struct TeeWriter<W> {
    inner: W,
    tap: Option<mpsc::Sender<Feed>>,
}

impl<W: BlobWriter> BlobWriter for TeeWriter<W> {
    fn digest(&self) -> Option<&Digest> {
        self.inner.digest()
    }

    fn offset(&self) -> u64 {
        self.inner.offset()
    }

    async fn write(&mut self, chunk: Bytes) -> Result<(), StoreError> {
        // The store first: only bytes it took go on.
        self.inner.write(chunk.clone()).await?;
        if let Some(tap) = &self.tap
            && tap.send(Feed::Bytes(chunk)).await.is_err()
        {
            // The uploader gave up; the blob is pushed from the cache afterwards.
            self.tap = None;
        }
        Ok(())
    }

    async fn write_at(&mut self, at: u64, bytes: Bytes) -> Result<(), StoreError> {
        // Bytes out of order cannot be streamed: the tap ends.
        self.tap = None;
        self.inner.write_at(at, bytes).await
    }

    fn checkpoint(&self) -> &Checkpoint {
        self.inner.checkpoint()
    }

    async fn save_checkpoint(&mut self, checkpoint: Checkpoint) -> Result<(), StoreError> {
        self.inner.save_checkpoint(checkpoint).await
    }

    async fn queue_checkpoint(&mut self, checkpoint: Checkpoint) {
        self.inner.queue_checkpoint(checkpoint).await;
    }

    async fn truncate(&mut self, len: u64) -> Result<(), StoreError> {
        if len != self.inner.offset() {
            // A restart: what was streamed is no longer the blob's prefix.
            self.tap = None;
        }
        self.inner.truncate(len).await
    }

    async fn commit(mut self, digest: &Digest) -> Result<(), StoreError> {
        let tap = self.tap.take();
        self.inner.commit(digest).await?;
        if let Some(tap) = tap {
            let _ = tap.send(Feed::Committed).await;
        }
        Ok(())
    }

    async fn abort(self) -> Result<(), StoreError> {
        self.inner.abort().await
    }

    async fn close(self) -> Result<u64, StoreError> {
        self.inner.close().await
    }
}

/// How a tee ended.
pub enum Teed {
    /// The blob is in the destination.
    Done(PushedBlob),
    /// It is not: push it from the cache once it is verified. The reason, for the log.
    FallBack(String),
}

/// The feed, shared by the bodies of one upload's `PATCH` requests in turn.
struct FeedState {
    feed: mpsc::Receiver<Feed>,
    /// Bytes received but beyond the chunk being sent: the start of the next one.
    carry: Option<Bytes>,
}

/// A request body of the next `len` bytes of the feed. It can be sent once: a request sent
/// again (a redirect, a new token) finds it used, and the tee falls back.
fn chunk_body(
    state: Arc<tokio::sync::Mutex<FeedState>>,
    len: u64,
    sent: Arc<AtomicU64>,
) -> impl Fn() -> Result<reqwest::Body, RegistryError> + Send + Sync {
    let used = AtomicBool::new(false);
    move || {
        if used.swap(true, Ordering::SeqCst) {
            return Err(RegistryError::Setup(
                "a streamed chunk cannot be sent twice".into(),
            ));
        }
        let (state, sent) = (state.clone(), sent.clone());
        let stream = futures_util::stream::unfold(len, move |left| {
            let (state, sent) = (state.clone(), sent.clone());
            async move {
                if left == 0 {
                    return None;
                }
                let mut s = state.lock().await;
                let next = match s.carry.take() {
                    Some(b) => Some(b),
                    None => match s.feed.recv().await {
                        Some(Feed::Bytes(b)) => Some(b),
                        // The commit came before the bytes did, or the fetch stopped.
                        Some(Feed::Committed) | None => None,
                    },
                };
                let Some(mut bytes) = next else {
                    let e = std::io::Error::other("the fetch stopped before the chunk was read");
                    return Some((Err(e), 0));
                };
                if bytes.len() as u64 > left {
                    // `left` is less than this chunk's length, a `usize`.
                    s.carry = Some(bytes.split_off(left as usize));
                }
                let n = bytes.len() as u64;
                sent.fetch_add(n, Ordering::Relaxed);
                Some((Ok(bytes), left - n))
            }
        });
        Ok(reqwest::Body::wrap_stream(stream))
    }
}

/// Pushes a tapped blob into `dest` as it is fetched (see the module docs): `HEAD` first, then a
/// mount from `mount_from` when given, else chunks as they come and the closing `PUT` once the
/// fetch verified the blob. One attempt: any failure falls back.
pub async fn upload(
    client: &Client,
    dest: &Reference,
    tap: Tap,
    mount_from: Option<&str>,
    options: &PushOptions,
    progress: &dyn Progress,
) -> Teed {
    let Tap { digest, size, feed } = tap;
    let state = Arc::new(tokio::sync::Mutex::new(FeedState { feed, carry: None }));
    let sent = Arc::new(AtomicU64::new(0));
    let result: Result<BlobOutcome, String> = async {
        let e = |e: &dyn std::fmt::Display| e.to_string();
        if client
            .blob_present(dest, &digest)
            .await
            .map_err(|x| e(&x))?
            .is_some()
        {
            return Ok(BlobOutcome::Present);
        }
        let mount = mount_from
            .filter(|from| *from != dest.repository())
            .map(|from| (&digest, from));
        let (mut location, min_chunk) = match client.start_upload(dest, mount).await {
            Ok(Started::Mounted) => return Ok(BlobOutcome::Mounted),
            Ok(Started::Session {
                location,
                min_chunk,
            }) => (location, min_chunk),
            Err(x) => return Err(e(&x)),
        };
        progress.started(Some(size), 0);
        let chunk = options.chunk_size.max(min_chunk.unwrap_or(0)).max(1);
        let mut offset = 0;
        while offset < size {
            let len = chunk.min(size - offset);
            let body = chunk_body(state.clone(), len, sent.clone());
            let (held, next) = client
                .patch_chunk(dest, &location, offset, len, &body)
                .await
                .map_err(|x| e(&x))?;
            if held != offset + len {
                return Err(format!(
                    "the registry holds {held} bytes after a chunk that ended at {}",
                    offset + len
                ));
            }
            location = next;
            progress.advanced(len);
            offset = held;
        }
        // Every byte is sent; the upload is closed only once this side verified them.
        {
            let mut s = state.lock().await;
            if s.carry.is_some() {
                return Err("the fetch gave more bytes than the blob has".into());
            }
            match s.feed.recv().await {
                Some(Feed::Committed) => {}
                Some(Feed::Bytes(_)) => {
                    return Err("the fetch gave more bytes than the blob has".into());
                }
                None => return Err("the fetch did not verify the blob".into()),
            }
        }
        let declared = client
            .finish_upload(dest, &location, &digest, None)
            .await
            .map_err(|x| e(&x))?;
        check_declared(dest, "blob", &digest, declared.as_deref()).map_err(|x| e(&x))?;
        Ok(BlobOutcome::Pushed)
    }
    .await;
    progress.finished();
    match result {
        Ok(outcome) => Teed::Done(PushedBlob {
            outcome,
            size,
            bytes_uploaded: sent.load(Ordering::Relaxed),
        }),
        Err(reason) => Teed::FallBack(reason),
    }
}
