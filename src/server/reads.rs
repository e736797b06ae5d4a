//! Reading blob bytes for response bodies (issue 13: memory with many streams, warm speed):
//! chunks of a blob read off the runtime, a few at a time, into buffers that go round.
//!
//! Why not one `spawn_blocking` per chunk into a fresh buffer, as before: 64 streams in flight
//! grew the blocking pool to 64 threads, each with a malloc arena of its own that keeps the
//! chunks it freed (87 MiB peak), and every chunk cost an allocation, zeroing or a copy
//! (tokio's `File` reads into a buffer of its own, then copies). Here at most [`READ_SLOTS`]
//! reads run at once, server-wide (a read from the page cache takes tens of microseconds; a
//! disk gets a queue of that depth), each into a buffer from [`POOL`], which is written by
//! `pread` and nothing else, then handed to hyper as [`Bytes`] whose drop (once the socket
//! took it) puts the buffer back. The pool keeps at most [`POOLED`] buffers; past that a
//! buffer is freed as usual, so a burst costs memory only while it lasts. The callers own
//! which bytes to read and when: `blobs` (whole files and ranges over TLS, multipart), the
//! `sendfile` bodies (the parts of a file not in the page cache) and the pull-through `flight`
//! (a blob still arriving).

use std::io;
use std::ops::Range;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use tokio::sync::Semaphore;

use crate::store::Blob;
use crate::store::content::STREAM_CHUNK;

/// Reads running at once, server-wide (and so blocking-pool threads busy with them).
const READ_SLOTS: usize = 8;
/// Buffers of [`STREAM_CHUNK`] kept for reuse: 16 MiB at most.
const POOLED: usize = 64;

/// The permits for [`READ_SLOTS`]. Process-wide, as the blocking pool and the allocator are.
static READS: Semaphore = Semaphore::const_new(READ_SLOTS);
/// The buffers of every body.
static POOL: Pool = Pool::new();

/// Buffers of exactly [`STREAM_CHUNK`] bytes, initialised once, waiting for their next read.
struct Pool {
    bufs: Mutex<Vec<Vec<u8>>>,
}

impl Pool {
    const fn new() -> Pool {
        Pool {
            bufs: Mutex::new(Vec::new()),
        }
    }

    /// A buffer of [`STREAM_CHUNK`] bytes: a pooled one, or a new one.
    fn take(&self) -> Vec<u8> {
        let pooled = self.bufs.lock().unwrap_or_else(|e| e.into_inner()).pop();
        pooled.unwrap_or_else(|| vec![0; STREAM_CHUNK])
    }

    /// Keeps `buf` for the next read, unless [`POOLED`] are kept already.
    fn give(&self, buf: Vec<u8>) {
        if buf.len() != STREAM_CHUNK {
            return;
        }
        let mut bufs = self.bufs.lock().unwrap_or_else(|e| e.into_inner());
        if bufs.len() < POOLED {
            bufs.push(buf);
        }
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.bufs.lock().unwrap().len()
    }
}

/// A pooled buffer holding `len` bytes of a blob; back to its pool when dropped.
struct Chunk {
    pool: &'static Pool,
    buf: Vec<u8>,
    len: usize,
}

impl AsRef<[u8]> for Chunk {
    fn as_ref(&self) -> &[u8] {
        // `len` is at most the buffer's length (`read` makes sure): the fallback is never taken.
        self.buf.get(..self.len).unwrap_or_default()
    }
}

impl Drop for Chunk {
    fn drop(&mut self) {
        self.pool.give(std::mem::take(&mut self.buf));
    }
}

/// The bytes of `span` of `blob`, at most [`STREAM_CHUNK`] of them (the rest of a longer span is
/// not read: callers loop), read on the blocking pool once a read slot is free. A span that
/// does not lie within the blob is an error.
pub(super) async fn read(blob: Arc<Blob>, span: Range<u64>) -> io::Result<Bytes> {
    let len = span.end.saturating_sub(span.start).min(STREAM_CHUNK as u64) as usize;
    if len == 0 {
        return Ok(Bytes::new());
    }
    // Never fails: the semaphore is never closed.
    let permit = READS.acquire().await.map_err(io::Error::other)?;
    let read = tokio::task::spawn_blocking(move || {
        // The permit goes with the read: a client that leaves meanwhile does not free the
        // slot before the thread does.
        let _permit = permit;
        let mut chunk = Chunk {
            pool: &POOL,
            buf: POOL.take(),
            len,
        };
        let into = chunk
            .buf
            .get_mut(..len)
            .ok_or_else(|| io::Error::other("a read longer than a buffer"))?;
        blob.read_exact_at(into, span.start)?;
        Ok::<_, io::Error>(chunk)
    })
    .await
    .map_err(io::Error::other)??;
    Ok(Bytes::from_owner(read))
}

/// The bytes of `span` of `blob` as a body stream of chunks of at most [`STREAM_CHUNK`], each
/// read when hyper asks for the next (so a connection holds only what its socket has not
/// taken yet).
pub(super) fn stream(
    blob: Arc<Blob>,
    span: Range<u64>,
) -> impl futures_util::Stream<Item = io::Result<Bytes>> + Send + 'static {
    futures_util::stream::try_unfold((blob, span), |(blob, span)| async move {
        if span.start >= span.end {
            return Ok(None);
        }
        let bytes = read(blob.clone(), span.clone()).await?;
        let next = span.start + bytes.len() as u64..span.end;
        Ok(Some((bytes, (blob, next))))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::TryStreamExt as _;

    fn pattern(n: usize) -> Vec<u8> {
        (0..n).map(|i| (i % 251) as u8).collect()
    }

    #[tokio::test]
    async fn file_spans_are_read_whole_and_buffers_go_round() {
        let data = pattern(3 * STREAM_CHUNK + 1234);
        let mut file = tempfile::tempfile().unwrap();
        std::io::Write::write_all(&mut file, &data).unwrap();
        let blob = Arc::new(Blob::file(file, data.len() as u64));
        let size = data.len() as u64;
        // (span) -> the bytes sent must be exactly those of the span.
        let spans = [
            0..size,
            1..size - 1,
            5..5,
            STREAM_CHUNK as u64 - 1..STREAM_CHUNK as u64 + 1,
            size - 1..size,
        ];
        for span in spans {
            let chunks: Vec<Bytes> = stream(blob.clone(), span.clone())
                .try_collect()
                .await
                .unwrap();
            assert!(
                chunks
                    .iter()
                    .all(|c| c.len() <= STREAM_CHUNK && !c.is_empty())
            );
            let got: Vec<u8> = chunks.concat();
            assert_eq!(
                got,
                &data[span.start as usize..span.end as usize],
                "{span:?}"
            );
        }
        // A reused buffer shows only what its last read put there.
        drop(read(blob.clone(), 0..STREAM_CHUNK as u64).await.unwrap());
        let again = read(blob.clone(), size - 3..size).await.unwrap();
        assert_eq!(&again[..], &data[data.len() - 3..]);
    }

    #[test]
    fn the_pool_keeps_at_most_pooled_buffers() {
        // A pool of its own: other tests' bodies use the server-wide one meanwhile.
        static OURS: Pool = Pool::new();
        let chunks = |n: usize| -> Vec<Bytes> {
            (0..n)
                .map(|_| {
                    Bytes::from_owner(Chunk {
                        pool: &OURS,
                        buf: OURS.take(),
                        len: 7,
                    })
                })
                .collect()
        };
        let three = chunks(3);
        assert!(three.iter().all(|c| c.len() == 7));
        assert_eq!(OURS.len(), 0, "all are in use");
        let clone = three[0].clone();
        drop(three);
        assert_eq!(OURS.len(), 2, "one is still referenced");
        drop(clone);
        assert_eq!(OURS.len(), 3);
        // Taken from the pool first, then new ones; no more than POOLED come back.
        let many = chunks(POOLED + 3);
        assert_eq!(OURS.len(), 0);
        drop(many);
        assert_eq!(OURS.len(), POOLED);
        // A buffer of another size is not kept.
        let _ = OURS.take();
        OURS.give(vec![0; 10]);
        assert_eq!(OURS.len(), POOLED - 1);
        assert_eq!(OURS.take().len(), STREAM_CHUNK);
    }

    #[tokio::test]
    async fn spans_outside_the_blob_are_errors() {
        let blob = Arc::new(Blob::file(tempfile::tempfile().unwrap(), 0));
        // The file is empty although the blob says 0 bytes: any non-empty span is outside.
        assert!(read(blob.clone(), 0..1).await.is_err());
        assert!(read(blob.clone(), u64::MAX - 1..u64::MAX).await.is_err());
        let short = Arc::new(Blob::file(tempfile::tempfile().unwrap(), 100));
        // The blob claims 100 bytes its file does not hold: a short read, an error, no panic.
        assert!(read(short, 0..100).await.is_err());
        let memory = Arc::new(Blob::memory(Bytes::from_static(b"abcdef")));
        assert_eq!(&read(memory.clone(), 2..5).await.unwrap()[..], b"cde");
        assert!(read(memory, 4..9).await.is_err());
    }
}
