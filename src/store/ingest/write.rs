//! The write machinery of an ingest: [`IngestWriter`] appends on a thread of its own, hashing
//! on the way in; [`PrefixHasher`] hashes what positional writers (segments) have filled;
//! [`Flusher`] starts writeback while a download runs. The first two hand back the [`Hashed`]
//! proof that [`Ingest::commit`](super::Ingest::commit) requires; only this module and its
//! parent can make one.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::os::unix::fs::FileExt;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use bytes::Bytes;
use tokio::sync::mpsc;

use super::{Hashed, Stamp};
use crate::digest::Verifier;
use crate::store::{GrowingCounters, READ_BUF, StoreError};

/// Chunks queued between the caller (the network task) and the writer thread. Chunks are at
/// most a few hundred KiB, so this bounds memory to a few MiB however large the blob is. (The
/// queue fills while an early-writeback fdatasync holds the file: at 32, peak RSS of a 1 GiB
/// fetch was 27 MiB; at 16 it is 16 MiB, at the same speed within the noise.)
pub const WRITE_QUEUE: usize = 16;
/// Writer-side buffer, so that small network chunks (a slow link) become fewer writes. Chunks
/// at least this large (hyper reads up to ~400 KiB at a time on a fast link) bypass it rather
/// than being copied once more: profiling a 1 GiB fetch showed that copy at 5% of all CPU.
const WRITE_BUF: usize = 64 << 10;
/// How many bytes are written between two early-writeback kicks (see [`Flusher`]).
const FLUSH_EVERY: u64 = 32 << 20;

/// Hashes a data file's prefix in order while positional writers fill it out of order (a
/// segmented download): [`PrefixHasher::hash_to`] reads what the writers report done.
pub struct PrefixHasher {
    file: File,
    path: PathBuf,
    verifier: Verifier,
    buf: Vec<u8>,
}

impl PrefixHasher {
    pub(super) fn new(file: File, path: PathBuf, verifier: Verifier) -> PrefixHasher {
        PrefixHasher {
            file,
            path,
            verifier,
            buf: vec![0u8; READ_BUF],
        }
    }

    /// Bytes hashed so far.
    pub fn bytes(&self) -> u64 {
        self.verifier.bytes()
    }

    /// Hashes the file from where it stopped up to byte `end`. An error of kind
    /// `UnexpectedEof` means the file ends before `end`: it does not hold what was recorded.
    pub fn hash_to(&mut self, end: u64) -> io::Result<()> {
        while self.verifier.bytes() < end {
            let want = usize::try_from(end - self.verifier.bytes())
                .unwrap_or(usize::MAX)
                .min(self.buf.len());
            let chunk = self.buf.get_mut(..want).unwrap_or_default();
            self.file.read_exact_at(chunk, self.verifier.bytes())?;
            self.verifier.update(chunk);
        }
        Ok(())
    }

    /// The proof for [`Ingest::commit`](super::Ingest::commit): call it once every write is
    /// done.
    pub fn finish(self) -> Result<Hashed, StoreError> {
        let stamp = Stamp::of(&self.file, &self.path)?;
        Ok(Hashed {
            verifier: self.verifier,
            stamp,
        })
    }
}

/// Appends to a data file on a thread of its own, hashing each chunk on the way in (see
/// [`Ingest::append`](super::Ingest::append)). Dropped without [`IngestWriter::finish`], its
/// thread stops after the chunks queued so far (the channel closes).
pub struct IngestWriter {
    verifier: Verifier,
    path: PathBuf,
    tx: Option<mpsc::Sender<Bytes>>,
    thread: Option<std::thread::JoinHandle<io::Result<File>>>,
}

impl IngestWriter {
    /// Starts the thread; `shown.readable` is kept at the length of the file's data that was
    /// handed to the kernel (so a reader of the file sees it), from what `verifier` hashed on.
    pub(super) fn start(
        file: File,
        path: PathBuf,
        verifier: Verifier,
        shown: Arc<GrowingCounters>,
    ) -> Result<IngestWriter, StoreError> {
        let (tx, mut rx) = mpsc::channel::<Bytes>(WRITE_QUEUE);
        let mut flusher = Flusher::new(&file).map_err(StoreError::io("open", &path))?;
        let mut total = verifier.bytes();
        shown.readable.store(total, Ordering::Release);
        let thread = std::thread::spawn(move || -> io::Result<File> {
            let mut out = BufWriter::with_capacity(WRITE_BUF, &file);
            loop {
                // Batch writes while data flows; flush whenever the queue runs dry, so that a
                // stalled or killed transfer has everything it received on disk for the resume.
                let chunk = match rx.try_recv() {
                    Ok(chunk) => chunk,
                    Err(mpsc::error::TryRecvError::Empty) => {
                        out.flush()?;
                        shown.readable.store(total, Ordering::Release);
                        match rx.blocking_recv() {
                            Some(chunk) => chunk,
                            None => break,
                        }
                    }
                    Err(mpsc::error::TryRecvError::Disconnected) => break,
                };
                out.write_all(&chunk)?;
                total += chunk.len() as u64;
                // What the buffer still holds is not in the file yet.
                shown
                    .readable
                    .store(total - out.buffer().len() as u64, Ordering::Release);
                flusher.wrote(chunk.len() as u64);
            }
            out.flush()?;
            shown.readable.store(total, Ordering::Release);
            drop(out);
            flusher.finish()?;
            file.sync_all()?;
            Ok(file)
        });
        Ok(IngestWriter {
            verifier,
            path,
            tx: Some(tx),
            thread: Some(thread),
        })
    }

    /// Bytes in the data file once everything queued is written (hashed so far).
    pub fn bytes(&self) -> u64 {
        self.verifier.bytes()
    }

    /// Hashes `chunk` and queues it for writing. `false` when the writer thread has stopped
    /// (a write failed): [`IngestWriter::finish`] then says why.
    pub async fn write(&mut self, chunk: Bytes) -> bool {
        let Some(tx) = &self.tx else {
            return false;
        };
        self.verifier.update(&chunk);
        tx.send(chunk).await.is_ok()
    }

    /// Waits until every queued byte is written and fsynced; returns the proof of what the
    /// data file now holds. Blocks: async callers use `spawn_blocking`.
    pub fn finish(mut self) -> io::Result<Hashed> {
        self.tx.take();
        let file = match self.thread.take().map(std::thread::JoinHandle::join) {
            Some(Ok(result)) => result?,
            _ => return Err(io::Error::other("the writer thread panicked")),
        };
        let stamp = Stamp::of(&file, &self.path).map_err(|e| match e {
            StoreError::Io { source, .. } => source,
            other => io::Error::other(other.to_string()),
        })?;
        if stamp.len != self.verifier.bytes() {
            return Err(io::Error::other(format!(
                "{} bytes were written but the file holds {}",
                self.verifier.bytes(),
                stamp.len
            )));
        }
        Ok(Hashed {
            verifier: self.verifier,
            stamp,
        })
    }
}

/// Starts writeback while a download is still running. The kernel would otherwise keep a
/// whole blob dirty in the page cache (the background threshold is a share of RAM) and write all
/// of it in the final fsync, after the network is done: download time plus disk time. A second
/// thread calls `fdatasync` every `FLUSH_EVERY` (32 MiB) on a clone of the file, so the disk works
/// while the network does, and the final fsync has little left. Measured on this project's
/// 2-core VM (`scripts/bench-fetch`): see the README's Speed section.
pub struct Flusher {
    kick: Option<std::sync::mpsc::SyncSender<()>>,
    thread: Option<std::thread::JoinHandle<io::Result<()>>>,
    pending: u64,
}

impl Flusher {
    /// Starts the writeback thread for `file`.
    pub fn new(file: &File) -> io::Result<Flusher> {
        let file = file.try_clone()?;
        // One queued kick at most: kicks that arrive while a sync runs are merged into it.
        let (kick, rx) = std::sync::mpsc::sync_channel::<()>(1);
        let thread = std::thread::spawn(move || {
            while rx.recv().is_ok() {
                file.sync_data()?;
            }
            Ok(())
        });
        Ok(Flusher {
            kick: Some(kick),
            thread: Some(thread),
            pending: 0,
        })
    }

    /// Counts written bytes and kicks a writeback every `FLUSH_EVERY` bytes.
    pub fn wrote(&mut self, bytes: u64) {
        self.pending += bytes;
        if self.pending >= FLUSH_EVERY {
            self.pending = 0;
            if let Some(kick) = &self.kick {
                let _ = kick.try_send(());
            }
        }
    }

    /// Waits for the sync in progress; the caller's final fsync follows.
    pub fn finish(mut self) -> io::Result<()> {
        self.kick.take();
        match self.thread.take().map(std::thread::JoinHandle::join) {
            Some(Ok(result)) => result,
            Some(Err(_)) => Err(io::Error::other("the writeback thread panicked")),
            None => Ok(()),
        }
    }
}

impl Drop for Flusher {
    fn drop(&mut self) {
        // On an early return the thread ends by itself once the sender is gone.
        self.kick.take();
    }
}
