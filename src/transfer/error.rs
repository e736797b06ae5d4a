//! Why a transfer failed: the one error type of `transfer`, its exit category and what the
//! retry policy makes of it.

use std::io;
use std::path::PathBuf;

use crate::client::RegistryError;
use crate::client::retry::{Failure, GaveUp, Retryable};
use crate::digest::Digest;
use crate::exit::Category;
use crate::store::StoreError;

/// Why a fetch failed.
#[derive(Debug, thiserror::Error)]
pub enum TransferError {
    /// The registry refused, or could not be reached before the body.
    #[error(transparent)]
    Registry(#[from] RegistryError),
    /// The cache failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The bytes hash to something else. Nothing was published, and the partial was deleted.
    #[error(
        "blob {expected} from `{url}` does not match its digest: the {bytes} bytes received hash to {actual}; nothing was saved"
    )]
    DigestMismatch {
        /// The digest asked for.
        expected: Digest,
        /// What the bytes hash to.
        actual: Digest,
        /// How many bytes.
        bytes: u64,
        /// Where they came from (redacted).
        url: String,
    },
    /// The registry declares a different digest than the one asked for.
    #[error(
        "`{url}` answered for blob {expected} with Docker-Content-Digest {declared}; nothing was saved"
    )]
    DeclaredDigestMismatch {
        /// The digest asked for.
        expected: Digest,
        /// The header's value.
        declared: String,
        /// Where (redacted).
        url: String,
    },
    /// The body is longer than the size the server declared (or the descriptor gave).
    #[error(
        "blob {digest} from `{url}` is longer than the {expected} bytes it should have; nothing was saved"
    )]
    TooLong {
        /// The blob.
        digest: Digest,
        /// The declared size.
        expected: u64,
        /// Where (redacted).
        url: String,
    },
    /// The blob is larger than the limit (`--max-size`).
    #[error(
        "blob {digest} from `{url}` is larger than {limit} bytes (--max-size); nothing was saved\nhint: raise --max-size if the blob is really that large"
    )]
    TooLarge {
        /// The blob.
        digest: Digest,
        /// The limit.
        limit: u64,
        /// Where (redacted).
        url: String,
    },
    /// The blob has another size than it must have (its descriptor's, or the one its response
    /// declared).
    #[error(
        "blob {digest} from `{url}` is {actual} bytes, but {expected} were expected; nothing was saved"
    )]
    SizeMismatch {
        /// The blob.
        digest: Digest,
        /// The size it must have.
        expected: u64,
        /// The size it has (or its response declares).
        actual: u64,
        /// Where (redacted).
        url: String,
    },
    /// The partial download holds fewer bytes than its recorded progress claims (a crash
    /// before the data reached the disk, or a file cut short): it was dropped.
    #[error(
        "the partial download of blob {digest} ends after {bytes} bytes, before the {claimed} its recorded progress claims; it was dropped, and the next fetch starts over"
    )]
    PartialShort {
        /// The blob.
        digest: Digest,
        /// Bytes the data file holds.
        bytes: u64,
        /// Bytes recorded as written.
        claimed: u64,
    },
    /// The body stopped early; the partial is kept for the next attempt.
    #[error(
        "download of blob {digest} from `{url}` broke off after {received} of {} bytes: {reason}; the partial download is kept and the next fetch resumes it",
        .expected.map_or_else(|| "?".to_owned(), |e| e.to_string())
    )]
    Interrupted {
        /// The blob.
        digest: Digest,
        /// Bytes on disk now.
        received: u64,
        /// The expected size, if known.
        expected: Option<u64>,
        /// Where (redacted).
        url: String,
        /// Why.
        reason: String,
    },
    /// A range answer that does not fit what was asked.
    #[error("`{url}` answered a request for bytes {offset}- of blob {digest} with {answer}")]
    BadRange {
        /// The blob.
        digest: Digest,
        /// The offset asked for.
        offset: u64,
        /// What came back.
        answer: String,
        /// Where (redacted).
        url: String,
    },
    /// Writing the partial download failed (disk full, permissions).
    #[error("cannot write the partial download `{}`: {source}", .path.display())]
    Write {
        /// The data file.
        path: PathBuf,
        /// The OS error.
        source: io::Error,
    },
    /// A blocking task died.
    #[error("internal error: {0}")]
    Internal(String),
    /// Every attempt failed; this is the last failure, with the attempts and their time.
    #[error(transparent)]
    Exhausted(Box<GaveUp<TransferError>>),
}

impl TransferError {
    /// The error's category (and so exit code).
    pub fn category(&self) -> Category {
        match self {
            TransferError::Registry(e) => e.category(),
            TransferError::Store(e) => e.category(),
            TransferError::DigestMismatch { .. }
            | TransferError::DeclaredDigestMismatch { .. }
            | TransferError::TooLong { .. }
            | TransferError::TooLarge { .. }
            | TransferError::SizeMismatch { .. }
            | TransferError::PartialShort { .. } => Category::Integrity,
            TransferError::Interrupted { .. } | TransferError::BadRange { .. } => Category::Network,
            TransferError::Write { .. } => Category::Storage,
            TransferError::Internal(_) => Category::Other,
            TransferError::Exhausted(gave_up) => gave_up.last.category(),
        }
    }

    /// What the retry policy needs to know: a broken body is a transport failure (the retry
    /// resumes it); integrity and storage failures are final.
    pub fn failure(&self) -> Failure<'_> {
        match self {
            TransferError::Registry(e) => e.failure(),
            TransferError::Interrupted { .. } => Failure::Transport,
            _ => Failure::Final,
        }
    }
}

impl Retryable for TransferError {
    fn failure(&self) -> Failure<'_> {
        TransferError::failure(self)
    }
    fn category(&self) -> Category {
        TransferError::category(self)
    }
    // A mirror's refusal in the list of sources tried: the status or transport failure alone
    // (the source is named beside it).
    fn summary(&self) -> String {
        match self {
            TransferError::Registry(e) => e.short(),
            other => other
                .to_string()
                .lines()
                .next()
                .unwrap_or_default()
                .to_owned(),
        }
    }
}
