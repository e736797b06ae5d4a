//! A store picked at run time: the local layout or an S3 bucket, by what `--cache-dir` names
//! (a directory, or `s3://bucket/prefix`). The content-store trait is generic, not
//! object-safe (see `content.rs`), so a command that does not know its backend at compile time
//! holds this enum; every method is one `match` that hands the call on.

use std::sync::Arc;

use bytes::Bytes;

use super::S3Store;
use super::writer::S3Writer;
use crate::digest::{Algorithm, Digest};
use crate::store::content::{
    Blob, BlobWriter, Checkpoint, ContentStore, Deleted, Location, Partial, StoredBlob,
    WriterAttempt,
};
use crate::store::{LayoutIndex, LocalWriter, Refs, Store, StoreError, UploadId, UploadInfo};

/// The local layout or an S3 bucket.
#[derive(Debug, Clone)]
pub enum AnyStore {
    /// An OCI image layout on this machine.
    Local(Store),
    /// An S3 bucket.
    S3(S3Store),
}

/// The writer of an [`AnyStore`].
#[derive(Debug)]
#[allow(
    clippy::large_enum_variant,
    reason = "one writer per blob in flight, moved rarely: not worth a box per local writer"
)]
pub enum AnyWriter {
    /// A local layout's.
    Local(LocalWriter),
    /// An S3 bucket's.
    S3(S3Writer),
}

impl AnyStore {
    /// Where a blob of an S3 cache is (`s3://bucket/prefix/blobs/<alg>/<hex>`); `None` for a
    /// local cache, whose blobs have paths ([`ContentStore::local_path`]).
    pub fn blob_url(&self, digest: &Digest) -> Option<String> {
        match self {
            AnyStore::Local(_) => None,
            AnyStore::S3(s) => Some(s.blob_url(digest).display().to_string()),
        }
    }
}

/// Hands a call to whichever store (or writer) this is.
macro_rules! each {
    ($self:expr, $s:ident => $e:expr) => {
        match $self {
            Self::Local($s) => $e,
            Self::S3($s) => $e,
        }
    };
}

fn attempt<W>(a: WriterAttempt<W>, wrap: impl FnOnce(W) -> AnyWriter) -> WriterAttempt<AnyWriter> {
    match a {
        WriterAttempt::Ready(w) => WriterAttempt::Ready(wrap(w)),
        WriterAttempt::Busy { holder } => WriterAttempt::Busy { holder },
    }
}

impl ContentStore for AnyStore {
    type Writer = AnyWriter;

    async fn stat(&self, digest: &Digest) -> Result<Option<u64>, StoreError> {
        each!(self, s => ContentStore::stat(s, digest).await)
    }

    async fn open(&self, digest: &Digest) -> Result<Option<Blob>, StoreError> {
        each!(self, s => ContentStore::open(s, digest).await)
    }

    async fn locate(&self, digest: &Digest) -> Result<Location, StoreError> {
        each!(self, s => ContentStore::locate(s, digest).await)
    }

    async fn writer(&self, digest: &Digest, size: Option<u64>) -> Result<AnyWriter, StoreError> {
        Ok(match self {
            Self::Local(s) => AnyWriter::Local(ContentStore::writer(s, digest, size).await?),
            Self::S3(s) => AnyWriter::S3(ContentStore::writer(s, digest, size).await?),
        })
    }

    async fn try_writer(
        &self,
        digest: &Digest,
        size: Option<u64>,
    ) -> Result<WriterAttempt<AnyWriter>, StoreError> {
        Ok(match self {
            Self::Local(s) => attempt(
                ContentStore::try_writer(s, digest, size).await?,
                AnyWriter::Local,
            ),
            Self::S3(s) => attempt(
                ContentStore::try_writer(s, digest, size).await?,
                AnyWriter::S3,
            ),
        })
    }

    async fn upload(
        &self,
        id: &UploadId,
        start: Option<Algorithm>,
    ) -> Result<Option<AnyWriter>, StoreError> {
        Ok(match self {
            Self::Local(s) => ContentStore::upload(s, id, start)
                .await?
                .map(AnyWriter::Local),
            Self::S3(s) => ContentStore::upload(s, id, start).await?.map(AnyWriter::S3),
        })
    }

    async fn uploads(&self) -> Result<Vec<UploadInfo>, StoreError> {
        each!(self, s => ContentStore::uploads(s).await)
    }

    async fn blobs(&self) -> Result<Vec<StoredBlob>, StoreError> {
        each!(self, s => ContentStore::blobs(s).await)
    }

    async fn partials(&self) -> Result<Vec<Partial>, StoreError> {
        each!(self, s => ContentStore::partials(s).await)
    }

    async fn delete(&self, digest: &Digest) -> Result<Deleted, StoreError> {
        each!(self, s => ContentStore::delete(s, digest).await)
    }

    async fn touch(&self, digest: &Digest) -> Result<(), StoreError> {
        each!(self, s => ContentStore::touch(s, digest).await)
    }

    fn local_path(&self, digest: &Digest) -> Option<std::path::PathBuf> {
        each!(self, s => ContentStore::local_path(s, digest))
    }

    fn growing(&self, digest: &Digest) -> Option<crate::store::Growing> {
        each!(self, s => ContentStore::growing(s, digest))
    }

    async fn quarantine(&self, digest: &Digest) -> Result<(), StoreError> {
        each!(self, s => ContentStore::quarantine(s, digest).await)
    }

    async fn refs(&self) -> Result<Arc<Refs>, StoreError> {
        each!(self, s => ContentStore::refs(s).await)
    }

    async fn update_refs<T, F>(&self, change: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut LayoutIndex) -> (T, bool) + Send + 'static,
    {
        each!(self, s => ContentStore::update_refs(s, change).await)
    }
}

impl BlobWriter for AnyWriter {
    fn digest(&self) -> Option<&Digest> {
        each!(self, w => BlobWriter::digest(w))
    }

    fn offset(&self) -> u64 {
        each!(self, w => BlobWriter::offset(w))
    }

    async fn write(&mut self, chunk: Bytes) -> Result<(), StoreError> {
        each!(self, w => BlobWriter::write(w, chunk).await)
    }

    async fn write_at(&mut self, at: u64, bytes: Bytes) -> Result<(), StoreError> {
        each!(self, w => BlobWriter::write_at(w, at, bytes).await)
    }

    fn checkpoint(&self) -> &Checkpoint {
        each!(self, w => BlobWriter::checkpoint(w))
    }

    async fn save_checkpoint(&mut self, checkpoint: Checkpoint) -> Result<(), StoreError> {
        each!(self, w => BlobWriter::save_checkpoint(w, checkpoint).await)
    }

    async fn queue_checkpoint(&mut self, checkpoint: Checkpoint) {
        each!(self, w => BlobWriter::queue_checkpoint(w, checkpoint).await)
    }

    async fn truncate(&mut self, len: u64) -> Result<(), StoreError> {
        each!(self, w => BlobWriter::truncate(w, len).await)
    }

    async fn commit(self, digest: &Digest) -> Result<(), StoreError> {
        each!(self, w => BlobWriter::commit(w, digest).await)
    }

    async fn abort(self) -> Result<(), StoreError> {
        each!(self, w => BlobWriter::abort(w).await)
    }

    async fn close(self) -> Result<u64, StoreError> {
        each!(self, w => BlobWriter::close(w).await)
    }
}
