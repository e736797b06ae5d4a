//! Positional writes into an ingest's data file (a download in segments, several Range
//! requests at once), on a thread of their own, with a "hash follower" that hashes the
//! contiguous prefix in order as it grows.
//!
//! SHA-256 cannot take bytes out of order, so the follower thread re-reads the file (from the
//! page cache) behind the writer: when the last segment lands, almost everything is hashed
//! already, and the commit does not read the blob a second time. [`Extents`] says which bytes
//! of the file are known to be written; the follower never reads past the first gap.
//!
//! Checkpoints (a segment plan with its progress) are queued behind the writes: when the writer
//! thread reaches one, every byte before it has been written, and a syncer thread records it
//! only after an `fdatasync` of the file, while the writes go on. So recorded progress never
//! runs ahead of the disk, and a rerun after `kill -9` asks only for what no segment had
//! written.

use std::collections::BTreeMap;
use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::mpsc;

use super::{Flusher, IngestState, PrefixHasher, WRITE_QUEUE, write_state};

/// How long the follower sleeps when no new contiguous bytes arrived (a wake-up comes sooner
/// after each write).
const FOLLOWER_NAP: Duration = Duration::from_millis(50);

/// Which byte ranges of a data file are known to hold written data: disjoint, merged, sorted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Extents {
    /// start → end (exclusive).
    ranges: BTreeMap<u64, u64>,
}

impl Extents {
    /// The first `len` bytes.
    pub fn prefix(len: u64) -> Extents {
        let mut e = Extents::default();
        e.add(0, len);
        e
    }

    /// Marks `start..end` written.
    pub fn add(&mut self, start: u64, end: u64) {
        if end <= start {
            return;
        }
        let (mut start, mut end) = (start, end);
        // Merge with every range that touches or overlaps `start..end`.
        let touching: Vec<(u64, u64)> = self
            .ranges
            .range(..=end)
            .rev()
            .take_while(|&(_, &e)| e >= start)
            .map(|(&s, &e)| (s, e))
            .collect();
        for (s, e) in touching {
            self.ranges.remove(&s);
            start = start.min(s);
            end = end.max(e);
        }
        self.ranges.insert(start, end);
    }

    /// Forgets everything from `len` on.
    pub fn clip(&mut self, len: u64) {
        self.ranges.retain(|&s, _| s < len);
        for e in self.ranges.values_mut() {
            *e = (*e).min(len);
        }
    }

    /// Length of the written prefix: where the first gap starts.
    pub fn contiguous(&self) -> u64 {
        self.ranges.get(&0).copied().unwrap_or(0)
    }
}

/// A queued operation for the writer thread.
enum Op {
    Write(u64, Bytes),
    Checkpoint(IngestState),
}

/// Shared between the writer thread, the follower and the syncer.
struct Shared {
    extents: Mutex<Extents>,
    /// `extents.contiguous()`, readable without the lock.
    contiguous: AtomicU64,
    /// No more writes will come (the writer thread ended, either way).
    done: AtomicBool,
    wake: Condvar,
    /// The newest checkpoint the writer thread reached, for the syncer.
    pending: Mutex<Option<IngestState>>,
    kick: Condvar,
}

impl Shared {
    fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
        m.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn end(&self) {
        self.done.store(true, Ordering::Release);
        // Under each condvar's mutex, so that no waiter misses it between its check and wait.
        let _e = Shared::lock(&self.extents);
        self.wake.notify_all();
        drop(_e);
        let _p = Shared::lock(&self.pending);
        self.kick.notify_all();
    }
}

/// Positional writes on a thread of their own, hashed by a follower (see the module docs).
pub struct PositionalWriter {
    tx: Option<mpsc::Sender<Op>>,
    path: PathBuf,
    shared: Arc<Shared>,
    writer: Option<std::thread::JoinHandle<io::Result<()>>>,
    follower: Option<std::thread::JoinHandle<io::Result<PrefixHasher>>>,
    syncer: Option<std::thread::JoinHandle<()>>,
}

/// What a finished [`PositionalWriter`] leaves: the follower's hasher (at the end of the
/// contiguous prefix, `None` after a read error) and what is known written.
pub struct Positioned {
    /// The follower's hash state.
    pub hasher: Option<PrefixHasher>,
    /// The written ranges.
    pub extents: Extents,
}

impl PositionalWriter {
    /// Starts the threads. `hasher` continues from where it stopped (at most at the end of the
    /// contiguous prefix of `extents`); `state_dir` is where checkpoints are recorded.
    pub(super) fn start(
        file: File,
        path: PathBuf,
        state_dir: PathBuf,
        hasher: PrefixHasher,
        extents: Extents,
    ) -> io::Result<PositionalWriter> {
        let file = Arc::new(file);
        let shared = Arc::new(Shared {
            contiguous: AtomicU64::new(extents.contiguous()),
            extents: Mutex::new(extents),
            done: AtomicBool::new(false),
            wake: Condvar::new(),
            pending: Mutex::new(None),
            kick: Condvar::new(),
        });
        let (tx, rx) = mpsc::channel::<Op>(WRITE_QUEUE);
        let mut flusher = Flusher::new(&file)?;
        let writer = {
            let (file, shared) = (file.clone(), shared.clone());
            std::thread::spawn(move || {
                let result = write_loop(&file, &shared, rx, &mut flusher);
                let result = result.and(flusher.finish());
                shared.end();
                result
            })
        };
        let follower = {
            let shared = shared.clone();
            std::thread::spawn(move || follow(hasher, &shared))
        };
        let syncer = {
            let shared = shared.clone();
            std::thread::spawn(move || sync_checkpoints(&file, &state_dir, &shared))
        };
        Ok(PositionalWriter {
            tx: Some(tx),
            path,
            shared,
            writer: Some(writer),
            follower: Some(follower),
            syncer: Some(syncer),
        })
    }

    /// Queues `bytes` for writing at `at`. `false` when the writer thread has stopped (a write
    /// failed): [`PositionalWriter::finish`] then says why.
    pub async fn write_at(&mut self, at: u64, bytes: Bytes) -> bool {
        match &self.tx {
            Some(tx) => tx.send(Op::Write(at, bytes)).await.is_ok(),
            None => false,
        }
    }

    /// Queues `state` to be recorded once the writes queued before it are durable.
    pub async fn checkpoint(&mut self, state: IngestState) {
        if let Some(tx) = &self.tx {
            let _ = tx.send(Op::Checkpoint(state)).await;
        }
    }

    /// Waits until every queued write is done and durable, the last queued checkpoint recorded,
    /// and the follower at the end of the contiguous prefix. Blocks: async callers use
    /// `spawn_blocking`. A write error comes out here; the written ranges are returned either
    /// way through `Err`'s companion [`Positioned`].
    pub fn finish(mut self) -> (Positioned, io::Result<()>) {
        self.tx.take();
        let written = join(self.writer.take(), "writer");
        self.shared.end();
        if let Some(syncer) = self.syncer.take() {
            let _ = syncer.join();
        }
        let hasher = join(self.follower.take(), "hash follower").ok();
        let extents = Shared::lock(&self.shared.extents).clone();
        let path = self.path.clone();
        let written =
            written.map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", path.display())));
        (Positioned { hasher, extents }, written)
    }
}

impl Drop for PositionalWriter {
    fn drop(&mut self) {
        // An early drop: the threads end by themselves once the queue closes.
        self.tx.take();
        self.shared.end();
    }
}

fn join<T>(handle: Option<std::thread::JoinHandle<io::Result<T>>>, what: &str) -> io::Result<T> {
    match handle.map(std::thread::JoinHandle::join) {
        Some(Ok(result)) => result,
        Some(Err(_)) => Err(io::Error::other(format!("the {what} thread panicked"))),
        None => Err(io::Error::other(format!("the {what} thread is gone"))),
    }
}

fn write_loop(
    file: &File,
    shared: &Shared,
    mut rx: mpsc::Receiver<Op>,
    flusher: &mut Flusher,
) -> io::Result<()> {
    while let Some(op) = rx.blocking_recv() {
        match op {
            Op::Write(at, chunk) => {
                file.write_all_at(&chunk, at)?;
                let end = at.saturating_add(chunk.len() as u64);
                let mut extents = Shared::lock(&shared.extents);
                extents.add(at, end);
                shared
                    .contiguous
                    .store(extents.contiguous(), Ordering::Release);
                shared.wake.notify_all();
                drop(extents);
                flusher.wrote(chunk.len() as u64);
            }
            Op::Checkpoint(state) => {
                // Every write before it is done: the syncer makes them durable, then records it.
                *Shared::lock(&shared.pending) = Some(state);
                shared.kick.notify_all();
            }
        }
    }
    file.sync_data()
}

/// Records queued checkpoints, each after an `fdatasync` that covers the writes before it.
/// Failures are dropped: a checkpoint is an optimisation of the next resume.
fn sync_checkpoints(file: &File, state_dir: &std::path::Path, shared: &Shared) {
    loop {
        let state = {
            let mut pending = Shared::lock(&shared.pending);
            loop {
                if let Some(state) = pending.take() {
                    break Some(state);
                }
                if shared.done.load(Ordering::Acquire) {
                    break None;
                }
                pending = shared
                    .kick
                    .wait(pending)
                    .unwrap_or_else(PoisonError::into_inner);
            }
        };
        let Some(mut state) = state else { return };
        if file.sync_data().is_ok()
            && let Err(e) = write_state(state_dir, &mut state)
        {
            tracing::debug!("recording segment progress: {e}");
        }
    }
}

/// Hashes the contiguous prefix as it grows; returns the hasher once no more writes will come
/// and everything contiguous is hashed.
fn follow(mut hasher: PrefixHasher, shared: &Shared) -> io::Result<PrefixHasher> {
    loop {
        let available = shared.contiguous.load(Ordering::Acquire);
        if hasher.bytes() < available {
            hasher.hash_to(available)?;
            continue;
        }
        if shared.done.load(Ordering::Acquire) {
            // The writer's last update comes before `done`: one more look.
            if hasher.bytes() >= shared.contiguous.load(Ordering::Acquire) {
                return Ok(hasher);
            }
            continue;
        }
        let extents = Shared::lock(&shared.extents);
        // Re-checked under the lock, so a notify between the check and the wait is not lost.
        if shared.contiguous.load(Ordering::Acquire) == available
            && !shared.done.load(Ordering::Acquire)
        {
            let _ = shared.wake.wait_timeout(extents, FOLLOWER_NAP);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extents_merge_and_clip() {
        let mut e = Extents::default();
        e.add(10, 20);
        e.add(30, 40);
        assert_eq!(e.contiguous(), 0);
        e.add(0, 10);
        assert_eq!(e.contiguous(), 20);
        e.add(15, 35);
        assert_eq!(e.contiguous(), 40);
        e.add(50, 60);
        e.clip(55);
        assert_eq!(e.ranges.get(&50), Some(&55));
        e.clip(25);
        assert_eq!(e.contiguous(), 25);
        assert_eq!(e.ranges.len(), 1);
        e.add(5, 5);
        assert_eq!(Extents::prefix(0), Extents::default());
        assert_eq!(Extents::prefix(7).contiguous(), 7);
    }
}
