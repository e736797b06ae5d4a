//! One blob out of the cache: `HEAD`, mount or upload (monolithic below the chunk size, else
//! chunked), through the one retry driver. A blob with a file on this machine (the local
//! layout) is streamed from it by a read-ahead thread; any other (an S3 cache's object) from
//! [`ContentStore::open`]'s [`Blob::stream`](crate::store::Blob::stream), ranged GETs of just
//! the span each request sends, so a resumed session reads only what is left.

use super::*;

/// Bytes read from the cache file per read, and so per chunk handed to the connection: few
/// enough wake-ups and syscalls, small enough to keep memory flat (see [`READ_AHEAD`]).
const READ_CHUNK: usize = 1 << 20;

/// Chunks a body's reader thread keeps ready ahead of the connection, so reading the cache
/// file overlaps with sending (at most `READ_AHEAD + 1` chunks per blob in memory).
const READ_AHEAD: usize = 4;

/// How often a blob's progress is brought up to what its bodies have handed the connection.
const PROGRESS_TICK: Duration = Duration::from_millis(100);

/// What the bodies of one blob have handed to the connection.
#[derive(Debug, Default)]
struct Sent {
    /// Bytes over all requests (`bytes_uploaded`).
    total: AtomicU64,
    /// Where in the blob the request being sent is: its start offset plus what it sent. Set
    /// back to the registry's word after each answer (see [`push_blob`]).
    at: AtomicU64,
}

/// A request body of bytes `start..start+len` of a cached blob, read as it is sent; every
/// byte handed to the connection counts into `sent`.
///
/// A blocking thread reads the file ahead of the socket, [`READ_CHUNK`] at a time straight
/// into the buffers that are sent (no copy, no zeroing), and the kernel is told the file is
/// read sequentially (a cold cache file is read ahead on disk too). Measured with
/// scripts/bench-push: tokio's `File` behind a `ReaderStream` read 256 KiB per blocking-pool
/// hop, copied each chunk once more and read only when the connection asked, which cost CPU
/// the destination registry needed on a 2-core machine.
fn file_body(
    path: PathBuf,
    start: u64,
    len: u64,
    sent: Arc<Sent>,
) -> impl Fn() -> Result<reqwest::Body, RegistryError> + Send + Sync {
    move || {
        use std::os::unix::fs::OpenOptionsExt as _;
        let unreadable = |e: std::io::Error| {
            RegistryError::Setup(format!(
                "cannot read the cached blob `{}`: {e}",
                path.display()
            ))
        };
        // Never through a symlink, as every read of `blobs/` (store::local::read).
        let mut file = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(rustix::fs::OFlags::NOFOLLOW.bits() as i32)
            .open(&path)
            .map_err(unreadable)?;
        file.seek(SeekFrom::Start(start)).map_err(unreadable)?;
        // Advice only: a file system that ignores it reads as before.
        let _ = rustix::fs::fadvise(
            &file,
            start,
            std::num::NonZeroU64::new(len),
            rustix::fs::Advice::Sequential,
        );
        let (tx, rx) = tokio::sync::mpsc::channel::<std::io::Result<bytes::Bytes>>(READ_AHEAD);
        tokio::task::spawn_blocking(move || read_ahead(&file, len, &tx));
        let counter = sent.clone();
        counter.at.store(start, Ordering::Relaxed);
        let stream = futures_util::stream::unfold(rx, |mut rx| async move {
            rx.recv().await.map(|chunk| (chunk, rx))
        })
        .inspect(move |chunk| {
            if let Ok(c) = chunk {
                counter.total.fetch_add(c.len() as u64, Ordering::Relaxed);
                counter.at.fetch_add(c.len() as u64, Ordering::Relaxed);
            }
        });
        Ok(reqwest::Body::wrap_stream(stream))
    }
}

/// Reads `len` bytes of `file` from its position into `tx`, [`READ_CHUNK`] at a time; stops
/// early when the body is dropped (the request ended). A file shorter than `len` ends the
/// body with an error, so the request fails rather than sending a short body.
///
/// The buffers go round: a chunk the connection has written comes back (see [`Pooled`]) and
/// is read into again, so a blob needs a handful of buffers, not a fresh 1 MiB allocation per
/// chunk (each of which the kernel had to fault in and zero: 15 % of push's CPU in `perf`).
fn read_ahead(
    file: &std::fs::File,
    len: u64,
    tx: &tokio::sync::mpsc::Sender<std::io::Result<bytes::Bytes>>,
) {
    use std::io::Read as _;
    let (back, free) = std::sync::mpsc::sync_channel::<Vec<u8>>(READ_AHEAD + 4);
    let mut left = len;
    while left > 0 {
        let want = left.min(READ_CHUNK as u64);
        let mut buf = free
            .try_recv()
            .unwrap_or_else(|_| Vec::with_capacity(READ_CHUNK));
        buf.clear();
        // `read_to_end` on a `Take` reads into the spare capacity without zeroing it first.
        let chunk = match file.take(want).read_to_end(&mut buf) {
            Ok(0) => Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                format!("the cached blob ended {left} bytes early"),
            )),
            Ok(n) => {
                left -= n as u64;
                Ok(bytes::Bytes::from_owner(Pooled {
                    buf,
                    back: back.clone(),
                }))
            }
            Err(e) => Err(e),
        };
        let failed = chunk.is_err();
        if tx.blocking_send(chunk).is_err() || failed {
            return;
        }
    }
}

/// A chunk's buffer, handed back to its reader when the last `Bytes` of it is dropped.
struct Pooled {
    buf: Vec<u8>,
    back: std::sync::mpsc::SyncSender<Vec<u8>>,
}

impl AsRef<[u8]> for Pooled {
    fn as_ref(&self) -> &[u8] {
        &self.buf
    }
}

impl Drop for Pooled {
    fn drop(&mut self) {
        // Full (more buffers out than the reader keeps) or the reader is done: just free it.
        let _ = self.back.try_send(std::mem::take(&mut self.buf));
    }
}

/// A request body of bytes `start..start+len` of a blob that has no file here (an S3 cache's
/// object), opened through the store when the request is sent and read as it goes
/// ([`Blob::stream`](crate::store::Blob::stream): one ranged GET, resumed from where it broke).
/// Opened anew for each request, so a redirect or an answer to a challenge sends the same span
/// again; bytes count into `sent` as [`file_body`]'s do. A blob that is gone or shorter than
/// the span ends the body with an error, so the request fails rather than sending a short body.
fn store_body<S: ContentStore + Clone>(
    store: S,
    digest: Digest,
    start: u64,
    len: u64,
    sent: Arc<Sent>,
) -> impl Fn() -> Result<reqwest::Body, RegistryError> + Send + Sync {
    move || {
        use futures_util::TryStreamExt as _;
        let (store, digest) = (store.clone(), digest.clone());
        let counter = sent.clone();
        counter.at.store(start, Ordering::Relaxed);
        let opened = async move {
            let gone = || {
                std::io::Error::new(
                    std::io::ErrorKind::NotFound,
                    format!("the cached blob {digest} is gone"),
                )
            };
            let blob = store
                .open(&digest)
                .await
                .map_err(std::io::Error::other)?
                .ok_or_else(gone)?;
            blob.stream(start..start + len)
        };
        let stream = futures_util::stream::once(opened)
            .try_flatten()
            .inspect(move |chunk| {
                if let Ok(c) = chunk {
                    counter.total.fetch_add(c.len() as u64, Ordering::Relaxed);
                    counter.at.fetch_add(c.len() as u64, Ordering::Relaxed);
                }
            });
        Ok(reqwest::Body::wrap_stream(stream))
    }
}

/// Where a blob's request bodies come from: its file, when the store has one (the fast path,
/// measured in scripts/bench-push), else the store's own reads.
fn body_of<S: ContentStore + Clone>(
    store: &S,
    path: Option<&PathBuf>,
    digest: &Digest,
    start: u64,
    len: u64,
    sent: &Arc<Sent>,
) -> Box<BodyFn<'static>> {
    match path {
        Some(path) => Box::new(file_body(path.clone(), start, len, sent.clone())),
        None => Box::new(store_body(
            store.clone(),
            digest.clone(),
            start,
            len,
            sent.clone(),
        )),
    }
}

/// The session an upload goes on in.
struct Session {
    location: Url,
    min_chunk: Option<u64>,
}

/// Pushes one cached blob into `dest`'s repository: `HEAD`, mount from `mount_from` (a
/// repository of the same registry) when given, else upload (see the module docs).
pub async fn push_blob<S: ContentStore + Clone>(
    client: &Client,
    store: &S,
    dest: &Reference,
    digest: &Digest,
    mount_from: Option<&str>,
    options: &PushOptions,
    progress: &dyn Progress,
) -> Result<PushedBlob, PushError> {
    let size = store
        .stat(digest)
        .await?
        .ok_or_else(|| PushError::NotCached {
            name: digest.to_string(),
        })?;
    let what = format!("blob {digest} to `{}`", dest.location());
    let request = Request {
        client,
        policy: options.retry,
        url: client.url(dest, Endpoint::Uploads),
        what: &what,
    };
    let on_retry = |attempt: u32, wait: Duration, e: &PushError| {
        progress.retrying(&Retry {
            attempt,
            wait,
            short: &e.short(),
            error: e,
        });
    };
    let present = retry::run(&request, on_retry, async |_| {
        Ok::<_, PushError>(client.blob_present(dest, digest).await?)
    })
    .await
    .map_err(|g| g.report(PushError::Exhausted))?;
    if present.is_some() {
        return Ok(PushedBlob {
            outcome: BlobOutcome::Present,
            size,
            bytes_uploaded: 0,
        });
    }
    progress.started(Some(size), 0);
    let sent = Arc::new(Sent::default());
    // Progress follows the bytes as they are handed to the connection (so a large chunk or a
    // monolithic PUT moves the bar too), set back to the registry's word after each answer.
    let shown = AtomicU64::new(0);
    let show = || {
        let at = sent.at.load(Ordering::Relaxed).min(size);
        let was = shown.swap(at, Ordering::Relaxed);
        if at > was {
            progress.advanced(at - was);
        } else if at < was {
            // A resumed session holds less than was sent: the bar goes back to its word.
            progress.started(Some(size), at);
        }
    };
    // A restart has set the bar to 0 itself.
    let restart = || {
        sent.at.store(0, Ordering::Relaxed);
        shown.store(0, Ordering::Relaxed);
    };
    let path = store.local_path(digest);
    let mut session: Option<Session> = None;
    // The chunk size a 413 brought down (see `too_large`), kept for the blob's later attempts.
    let mut limit: Option<u64> = None;
    let mut mount = mount_from.filter(|from| *from != dest.repository());
    let upload = retry::run(&request, on_retry, async |attempt| {
        let mut offset = 0;
        if attempt > 1
            && let Some(s) = &mut session
        {
            // The registry's answer is the truth: go on from what it holds.
            match client.upload_offset(dest, &s.location).await {
                Ok((held, next)) => {
                    offset = held;
                    sent.at.store(held, Ordering::Relaxed);
                    s.location = next;
                }
                Err(UploadError::SessionLost(_)) => {
                    progress.restarted("the registry lost the upload session; sending it again");
                    restart();
                    session = None;
                }
                Err(UploadError::Registry(e)) if matches!(e.failure(), Failure::Status { status, .. } if (400..500).contains(&status) && !matches!(status, 401 | 403 | 408 | 429)) =>
                {
                    // BLOB_UPLOAD_INVALID and the like: the session is unusable; start again.
                    progress.restarted(&format!(
                        "the upload session is unusable ({}); sending it again",
                        e.short()
                    ));
                    restart();
                    session = None;
                }
                Err(e) => return Err(e.into()),
            }
        }
        if session.is_none() {
            offset = 0;
            let started = match mount.take() {
                Some(from) => match client.start_upload(dest, Some((digest, from))).await {
                    // No pull right on the source repository (or a token service that does
                    // not take two scopes at once): upload instead.
                    Err(e) if e.category() == Category::Auth => {
                        tracing::info!("{what}: no mount from `{from}` ({e}); uploading");
                        client.start_upload(dest, None).await?
                    }
                    other => other?,
                },
                None => client.start_upload(dest, None).await?,
            };
            match started {
                Started::Mounted => return Ok(BlobOutcome::Mounted),
                Started::Session {
                    location,
                    min_chunk,
                } => {
                    session = Some(Session {
                        location,
                        min_chunk,
                    })
                }
            }
        }
        let Some(s) = session.as_mut() else {
            return Err(PushError::Internal("an upload without a session".into()));
        };
        if offset > size {
            return Err(PushError::Overrun {
                digest: digest.clone(),
                dest: dest.location(),
                held: offset,
                size,
            });
        }
        // A destination (or a proxy before it) that refuses a request body this large (413)
        // gets chunks half as large, down to `MIN_CHUNK`, for the rest of this blob.
        let chunk_size = limit.unwrap_or(options.chunk_size);
        let mut declared = None;
        let mut monolithic = size < chunk_size && offset == 0;
        if monolithic {
            let body = body_of(store, path.as_ref(), digest, 0, size, &sent);
            match client
                .finish_upload(dest, &s.location, digest, Some((size, &*body)))
                .await
            {
                Ok(d) => declared = d,
                Err(e) if too_large(&e) => {
                    limit = Some(smaller(size, s.min_chunk).ok_or(e)?);
                    sent.at.store(0, Ordering::Relaxed);
                    monolithic = false;
                }
                Err(e) => return Err(e.into()),
            }
        }
        if !monolithic {
            while offset < size {
                let chunk = limit
                    .unwrap_or(options.chunk_size)
                    .max(s.min_chunk.unwrap_or(0))
                    .max(1);
                let len = chunk.min(size - offset);
                let body = body_of(store, path.as_ref(), digest, offset, len, &sent);
                let answer = client
                    .patch_chunk(dest, &s.location, offset, len, &*body)
                    .await;
                let (held, next) = match answer {
                    Err(e) if too_large(&e) => {
                        limit = Some(smaller(len, s.min_chunk).ok_or(e)?);
                        sent.at.store(offset, Ordering::Relaxed);
                        continue;
                    }
                    other => other?,
                };
                s.location = next;
                if held > size {
                    return Err(PushError::Overrun {
                        digest: digest.clone(),
                        dest: dest.location(),
                        held,
                        size,
                    });
                }
                sent.at.store(held, Ordering::Relaxed);
                offset = held;
            }
            declared = client
                .finish_upload(dest, &s.location, digest, None)
                .await?;
        }
        check_declared(dest, "blob", digest, declared.as_deref())?;
        Ok(BlobOutcome::Pushed)
    });
    let mut upload = std::pin::pin!(upload);
    let mut tick = tokio::time::interval(PROGRESS_TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let outcome = loop {
        tokio::select! {
            done = &mut upload => break done,
            _ = tick.tick() => show(),
        }
    }
    .map_err(|g| g.report(PushError::Exhausted));
    if let Ok(BlobOutcome::Pushed) = outcome {
        sent.at.store(size, Ordering::Relaxed);
        show();
    }
    progress.finished();
    Ok(PushedBlob {
        outcome: outcome?,
        size,
        bytes_uploaded: sent.total.load(Ordering::Relaxed),
    })
}

/// Chunks are never made smaller than this for a 413: a destination that refuses 1 MiB bodies
/// is refused in turn, with its error.
const MIN_CHUNK: u64 = 1 << 20;

/// Whether the destination (or a proxy before it) refused the request body as too large.
fn too_large(e: &UploadError) -> bool {
    matches!(e, UploadError::Registry(e) if matches!(e.failure(), Failure::Status { status: 413, .. }))
}

/// Half of `len` for the next chunks, if that is still at least [`MIN_CHUNK`] and the
/// session's minimum.
fn smaller(len: u64, min_chunk: Option<u64>) -> Option<u64> {
    let half = len / 2;
    (half >= MIN_CHUNK.max(min_chunk.unwrap_or(0))).then_some(half)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::MemoryStore;
    use crate::store::content::{STREAM_CHUNK, put_bytes};

    /// Every byte of a request body, or its error.
    async fn collect(body: reqwest::Body) -> Result<Vec<u8>, reqwest::Error> {
        let mut body = std::pin::pin!(body);
        let mut out = Vec::new();
        while let Some(frame) =
            std::future::poll_fn(|cx| http_body::Body::poll_frame(body.as_mut(), cx)).await
        {
            if let Ok(data) = frame?.into_data() {
                out.extend_from_slice(&data);
            }
        }
        Ok(out)
    }

    /// A body read through the store (a store without files: here memory, for S3 the same
    /// path) gives just its span, each time it is asked for (a redirect sends it again), counts
    /// what it hands on, and ends in an error, not a short body, when the blob is gone.
    #[tokio::test]
    async fn store_bodies_give_their_span_each_time_and_fail_when_the_blob_is_gone() {
        let store = MemoryStore::new();
        let data: Vec<u8> = (0..(3 * STREAM_CHUNK + 11))
            .map(|i| (i % 253) as u8)
            .collect();
        let digest = digest_bytes(crate::digest::Algorithm::Sha256, &data);
        put_bytes(&store, &digest, bytes::Bytes::from(data.clone()))
            .await
            .unwrap();
        assert_eq!(store.local_path(&digest), None);
        let (start, len) = (1000u64, 2 * STREAM_CHUNK as u64 + 5);
        let sent = Arc::new(Sent::default());
        let body = store_body(store.clone(), digest.clone(), start, len, sent.clone());
        for round in 1..=2u64 {
            let got = collect(body().unwrap()).await.unwrap();
            assert_eq!(got[..], data[1000..1000 + len as usize], "round {round}");
            assert_eq!(sent.total.load(Ordering::Relaxed), round * len);
            assert_eq!(sent.at.load(Ordering::Relaxed), start + len);
        }
        // A span past the end is an error too.
        let over = store_body(
            store.clone(),
            digest.clone(),
            start,
            data.len() as u64,
            sent,
        );
        assert!(collect(over().unwrap()).await.is_err());
        store.delete(&digest).await.unwrap();
        assert!(collect(body().unwrap()).await.is_err());
    }

    #[test]
    fn read_ahead_gives_the_span_and_fails_short_files() {
        use std::io::Write as _;
        let data: Vec<u8> = (0..(READ_CHUNK * 5 / 2 + 7))
            .map(|i| (i % 251) as u8)
            .collect();
        let mut f = tempfile::tempfile().unwrap();
        f.write_all(&data).unwrap();
        let read = |start: u64, len: u64| {
            let mut file = f.try_clone().unwrap();
            file.seek(SeekFrom::Start(start)).unwrap();
            let (tx, mut rx) = tokio::sync::mpsc::channel(READ_AHEAD);
            let t = std::thread::spawn(move || read_ahead(&file, len, &tx));
            let mut got = Vec::new();
            let mut error = None;
            while let Some(chunk) = rx.blocking_recv() {
                match chunk {
                    // Dropped at once: its buffer goes back to the reader.
                    Ok(c) => got.extend_from_slice(&c),
                    Err(e) => error = Some(e),
                }
            }
            t.join().unwrap();
            (got, error)
        };
        let (got, error) = read(0, data.len() as u64);
        assert!(error.is_none());
        assert_eq!(got, data);
        let (got, error) = read(1000, 2 * READ_CHUNK as u64);
        assert!(error.is_none());
        assert_eq!(got[..], data[1000..1000 + 2 * READ_CHUNK]);
        let (got, error) = read(10, data.len() as u64);
        assert_eq!(got[..], data[10..]);
        assert_eq!(
            error.unwrap().kind(),
            std::io::ErrorKind::UnexpectedEof,
            "a short file is an error, not a short body"
        );
    }
}
