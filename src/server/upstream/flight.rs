//! One upstream transfer per blob, however many clients ask, streamed to all of them as it
//! arrives.
//!
//! The first miss of a digest starts a [`Flight`]: a task of its own (it goes on when the
//! client that started it leaves, so the blob still lands in the cache) that asks the upstream
//! for the blob's size (HEAD), then fetches it with [`fetch_blob`] into the store, as `fetch`
//! does: retried, resumable, verified by the store's commit. Every client that asks meanwhile
//! joins the flight and reads the bytes as they land, through the store's view of the growing
//! blob ([`ContentStore::growing`]), each from its own `Range`. Integrity: until the commit
//! succeeded, no client is sent a blob's last byte, so none ever holds the full length of bytes
//! that then fail their digest; when the transfer fails (a mismatch, the upstream gone), every
//! client's body ends short, nothing is published, and the next request starts a new flight.
//! A range that starts far beyond what has arrived ([`FAR`]) is asked of the upstream directly
//! (and passed on unverified, as any proxy's range), while the flight goes on.

use std::collections::HashMap;
use std::io;
use std::ops::Range;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use axum::http::header::HeaderMap;
use axum::http::{Response, StatusCode};
use bytes::Bytes;
use tokio::sync::watch;

use super::{Upstream, blob_reference, upstream_error};
use crate::client::mirror::Source as At;
use crate::client::retry;
use crate::digest::Digest;
use crate::exit::Category;
use crate::server::blobs::{asked_range, blob as cached_blob, span_response};
use crate::server::metrics::CacheStatus;
use crate::server::range::RangeDecision;
use crate::server::routing::App;
use crate::server::{ApiError, not_modified, not_modified_response};
use crate::store::content::STREAM_CHUNK;
use crate::store::{Blob, ContentStore, Growing};
use crate::transfer::{FetchOptions, Progress, SizeLimit, fetch_blob};

/// A range starting this far beyond the bytes arrived is fetched from upstream directly.
pub(super) const FAR: u64 = 16 << 20;
/// How long a reader that caught up with the transfer waits before it looks again (it is also
/// woken when the transfer ends).
const POLL: Duration = Duration::from_millis(20);

/// The transfers in progress, by digest.
#[derive(Default)]
pub(crate) struct Flights {
    table: Mutex<HashMap<Digest, Arc<Flight>>>,
}

impl Flights {
    /// How many run now.
    pub(crate) fn len(&self) -> usize {
        self.table.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    fn get(&self, digest: &Digest) -> Option<Arc<Flight>> {
        let table = self.table.lock().unwrap_or_else(|e| e.into_inner());
        table.get(digest).cloned()
    }
}

/// One blob's transfer from upstream.
pub(crate) struct Flight {
    state: watch::Sender<State>,
}

/// What a flight's clients know of it.
#[derive(Debug, Clone, Default)]
struct State {
    /// The blob's size, once the upstream said.
    size: Option<u64>,
    /// How it ended, once it did.
    end: Option<End>,
}

#[derive(Debug, Clone)]
enum End {
    /// The blob is in the store, verified.
    Committed,
    /// The upstream has no such blob.
    NotFound,
    /// Why it failed (for the 502 of clients still waiting for headers).
    Failed(String),
}

/// The flight of `digest` from upstream number `index`: the running one, or a new one.
fn join<S: ContentStore>(
    app: &Arc<App<S>>,
    index: usize,
    name: &str,
    digest: &Digest,
) -> Result<Arc<Flight>, ApiError> {
    let pull = app.pull()?;
    let upstream = pull.upstream(index)?.clone();
    let reference = blob_reference(&upstream, name, digest)?;
    let mut table = pull.flights.table.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(flight) = table.get(digest) {
        return Ok(flight.clone());
    }
    let flight = Arc::new(Flight {
        state: watch::channel(State::default()).0,
    });
    table.insert(digest.clone(), flight.clone());
    drop(table);
    let (app, digest, ours) = (app.clone(), digest.clone(), flight.clone());
    super::detach(&pull.transfers, move || async move {
        let end = transfer(&app, &upstream, &reference, &digest, &ours).await;
        match &end {
            End::Failed(reason) => {
                app.metrics.upstream_failed(index);
                tracing::warn!(
                    "pull-through of {digest} from `{}` failed: {reason}",
                    upstream.url
                );
            }
            End::NotFound | End::Committed => {}
        }
        if let Ok(pull) = app.pull() {
            let mut table = pull.flights.table.lock().unwrap_or_else(|e| e.into_inner());
            // Out of the table first: a request from now on starts afresh (and finds the
            // blob cached, or tries the upstream again).
            if table.get(&digest).is_some_and(|f| Arc::ptr_eq(f, &ours)) {
                table.remove(&digest);
            }
        }
        ours.state.send_modify(|s| s.end = Some(end));
    });
    Ok(flight)
}

/// Counts the bytes a transfer receives into the server's metrics.
struct Counting<'a>(&'a crate::server::metrics::Metrics);

impl Progress for Counting<'_> {
    fn advanced(&self, bytes: u64) {
        self.0.fetched(bytes);
    }
}

/// The transfer itself: the size from a HEAD, then the blob into the store.
async fn transfer<S: ContentStore>(
    app: &Arc<App<S>>,
    upstream: &Upstream,
    reference: &crate::reference::Reference,
    digest: &Digest,
    flight: &Flight,
) -> End {
    let Ok(pull) = app.pull() else {
        return End::Failed("the server is not a pull-through cache".into());
    };
    let config = &pull.config;
    let client = &config.client;
    let size = match head_size(config, reference, digest).await {
        Ok(size) => size,
        Err(e) if e.last.category() == Category::NotFound => return End::NotFound,
        Err(e) => return End::Failed(e.to_string()),
    };
    let limit = match size {
        Some(n) if n > config.max_blob_size => {
            return End::Failed(format!(
                "the blob is {n} bytes, more than --max-blob-size ({})",
                config.max_blob_size
            ));
        }
        Some(n) => SizeLimit::Exact(n),
        None => SizeLimit::AtMost(config.max_blob_size),
    };
    flight.state.send_modify(|s| s.size = size);
    let options = FetchOptions {
        verify_cached: false,
        retry: config.retry,
        // One stream: its bytes land in order, so clients can read them as they come.
        segments: 1,
        size: limit,
        ..FetchOptions::default()
    };
    let fetched = fetch_blob(
        client,
        &app.source,
        reference,
        digest,
        options,
        &Counting(&app.metrics),
    )
    .await;
    for warning in client.take_warnings() {
        tracing::warn!("upstream `{}`: {warning}", upstream.url);
    }
    match fetched {
        Ok(_) => End::Committed,
        Err(e) if e.category() == Category::NotFound => End::NotFound,
        Err(e) => End::Failed(e.to_string()),
    }
}

/// `GET`/`HEAD` of a blob the cache does not hold, from upstream number `index` (see the
/// module docs).
pub(crate) async fn blob<S: ContentStore>(
    app: &Arc<App<S>>,
    index: usize,
    name: &str,
    digest: &Digest,
    head: bool,
    headers: &HeaderMap,
) -> Result<Response<Body>, ApiError> {
    let pull = app.pull()?;
    let upstream = pull.upstream(index)?;
    // A HEAD starts no transfer: Docker asks HEAD before it decides to GET.
    let flight = match (head, pull.flights.get(digest)) {
        (_, Some(flight)) => flight,
        (true, None) => return head_upstream(app, index, name, digest, headers).await,
        (false, None) => join(app, index, name, digest)?,
    };
    let mut rx = flight.state.subscribe();
    let state = rx
        .wait_for(|s| s.size.is_some() || s.end.is_some())
        .await
        .map_err(|_| upstream_error(upstream, &"the transfer ended unexpectedly"))?
        .clone();
    let size = match (state.end, state.size) {
        // Done before its size was known (or without one): the cache answers now.
        (Some(End::Committed), _) | (None, None) => {
            return cached_blob(&app.source, digest, head, headers).await;
        }
        (Some(End::NotFound), _) => return Err(ApiError::BlobUnknown(digest.clone())),
        (Some(End::Failed(reason)), _) => return Err(upstream_error(upstream, &reason)),
        (None, Some(size)) => size,
    };
    let etag = format!("\"{digest}\"");
    if not_modified(headers, &etag) {
        return Ok(not_modified_response(digest, &etag, true));
    }
    let (status, span) = match asked_range(headers, size, &etag) {
        RangeDecision::Full => (StatusCode::OK, 0..size),
        RangeDecision::Partial(r) => (StatusCode::PARTIAL_CONTENT, r),
        RangeDecision::Unsatisfiable => return Err(ApiError::RangeNotSatisfiable { size }),
        // Several ranges of a blob still arriving: answered from the cache once it is there.
        RangeDecision::Multiple(_) => {
            let end = rx
                .wait_for(|s| s.end.is_some())
                .await
                .map(|s| s.end.clone());
            return match end {
                Ok(Some(End::Committed)) => cached_blob(&app.source, digest, head, headers).await,
                Ok(Some(End::NotFound)) => Err(ApiError::BlobUnknown(digest.clone())),
                Ok(Some(End::Failed(reason))) => Err(upstream_error(upstream, &reason)),
                _ => Err(upstream_error(upstream, &"the transfer ended unexpectedly")),
            };
        }
    };
    let arrived = app.source.growing(digest).map_or(0, |g| g.readable());
    if !head && span.start > arrived.saturating_add(FAR) {
        return direct(app, index, name, digest, span, size).await;
    }
    let mut response = span_response(status, &span, size, digest, &etag);
    response.extensions_mut().insert(CacheStatus::Miss);
    if !head {
        let follower = Follower {
            app: app.clone(),
            rx,
            digest: digest.clone(),
            pos: span.start,
            read_to: 0,
            end: span.end,
            size,
            source: None,
        };
        let stream = futures_util::stream::unfold(follower, |mut f| async move {
            f.next().await.map(|chunk| (chunk, f))
        });
        *response.body_mut() = Body::from_stream(stream);
    }
    Ok(response)
}

/// The blob's size as the upstream's HEAD declares it (retried).
async fn head_size(
    config: &super::PullThrough,
    reference: &crate::reference::Reference,
    digest: &Digest,
) -> Result<Option<u64>, retry::GaveUp<crate::client::RegistryError>> {
    let client = &config.client;
    let what = format!("blob `{digest}` of `{}`", reference.location());
    let request = config.request(client.blob_url(reference, digest), &what);
    let head = retry::run(&request, super::log_retry, move |_| {
        client.head_blob(reference, &At::Registry, digest)
    })
    .await?;
    Ok(head.size)
}

/// The HEAD of a blob nobody is fetching: asked of the upstream, nothing is fetched.
async fn head_upstream<S: ContentStore>(
    app: &Arc<App<S>>,
    index: usize,
    name: &str,
    digest: &Digest,
    headers: &HeaderMap,
) -> Result<Response<Body>, ApiError> {
    let pull = app.pull()?;
    let upstream = pull.upstream(index)?;
    let reference = blob_reference(upstream, name, digest)?;
    let size = match head_size(&pull.config, &reference, digest).await {
        Ok(size) => size,
        Err(e) if e.last.category() == Category::NotFound => {
            return Err(ApiError::BlobUnknown(digest.clone()));
        }
        Err(e) => {
            app.metrics.upstream_failed(index);
            return Err(upstream_error(upstream, &e));
        }
    };
    // Without a size there are no headers to give: the blob is fetched and the cache answers.
    let Some(size) = size else {
        let flight = join(app, index, name, digest)?;
        let _ = flight.state.subscribe().wait_for(|s| s.end.is_some()).await;
        return cached_blob(&app.source, digest, true, headers).await;
    };
    let etag = format!("\"{digest}\"");
    let mut response = span_response(StatusCode::OK, &(0..size), size, digest, &etag);
    response.extensions_mut().insert(CacheStatus::Miss);
    Ok(response)
}

/// A range far beyond what has arrived, asked of the upstream itself (see the module docs).
async fn direct<S: ContentStore>(
    app: &Arc<App<S>>,
    index: usize,
    name: &str,
    digest: &Digest,
    span: Range<u64>,
    size: u64,
) -> Result<Response<Body>, ApiError> {
    use futures_util::StreamExt as _;
    let pull = app.pull()?;
    let upstream = pull.upstream(index)?;
    let reference = blob_reference(upstream, name, digest)?;
    let client = &pull.config.client;
    let what = format!("a range of blob `{digest}` of `{}`", reference.location());
    let request = pull
        .config
        .request(client.blob_url(&reference, digest), &what);
    let last = span.end.saturating_sub(1);
    let answer = retry::run(&request, super::log_retry, |_| {
        client.get_blob(
            &reference,
            &At::Registry,
            digest,
            Some((span.start, Some(last))),
        )
    })
    .await
    .map_err(|e| {
        app.metrics.upstream_failed(index);
        upstream_error(upstream, &e)
    })?;
    let honoured = answer.status == 206
        && answer
            .content_range
            .as_ref()
            .is_some_and(|r| r.range == Some((span.start, last)));
    if !honoured {
        return Err(upstream_error(
            upstream,
            &format!(
                "asked for bytes {}-{last}, it answered {} without that range",
                span.start, answer.status
            ),
        ));
    }
    let etag = format!("\"{digest}\"");
    let mut response = span_response(StatusCode::PARTIAL_CONTENT, &span, size, digest, &etag);
    response.extensions_mut().insert(CacheStatus::Miss);
    // At most the range's length is passed on, whatever the upstream sends after it.
    let mut left = span.end - span.start;
    let app = app.clone();
    let stream = answer.response.bytes_stream().map(move |chunk| {
        let mut chunk = chunk.map_err(io::Error::other)?;
        let keep = (chunk.len() as u64).min(left);
        chunk.truncate(keep as usize);
        left -= keep;
        app.metrics.fetched(keep);
        Ok::<Bytes, io::Error>(chunk)
    });
    *response.body_mut() = Body::from_stream(stream);
    Ok(response)
}

/// Where a follower reads from.
enum Source {
    /// The store's view of the blob being written, and its writer's restart count then.
    Growing(Growing, u64),
    /// The committed blob.
    Committed(Arc<Blob>),
}

/// One client's body: `pos..end` of the blob, read as it lands.
struct Follower<S> {
    app: Arc<App<S>>,
    rx: watch::Receiver<State>,
    digest: Digest,
    pos: u64,
    /// The end of the bytes read so far (0 before the first read).
    read_to: u64,
    end: u64,
    size: u64,
    source: Option<Source>,
}

impl<S: ContentStore> Follower<S> {
    /// The next chunk; an error ends the body short (the client's connection is cut).
    async fn next(&mut self) -> Option<io::Result<Bytes>> {
        let next = self.step().await;
        if let Some(Err(e)) = &next {
            tracing::warn!(
                "a client's body of {} ends at byte {} of {}: {e}",
                self.digest,
                self.pos,
                self.size
            );
        }
        next
    }

    /// [`Follower::next`] before the log line of a body cut short.
    async fn step(&mut self) -> Option<io::Result<Bytes>> {
        let cut = |why: &str| Some(Err(io::Error::other(why.to_owned())));
        loop {
            if self.pos >= self.end {
                return None;
            }
            let state = self.rx.borrow_and_update().clone();
            let committed = matches!(state.end, Some(End::Committed));
            // The writer the store shows now (a retry may have opened a new one).
            if let Some(g) = self.app.source.growing(&self.digest) {
                let same = matches!(&self.source,
                    Some(Source::Growing(ours, _)) if Arc::ptr_eq(ours.counters(), g.counters()));
                if !same && !matches!(self.source, Some(Source::Committed(_))) {
                    // A new writer holds at least what was read (its file is the same one),
                    // unless it started over.
                    if g.readable() < self.read_to {
                        return cut("the upstream transfer started over");
                    }
                    let restarts = g.restarts();
                    self.source = Some(Source::Growing(g, restarts));
                }
            } else if committed && self.source.is_none() {
                match self.app.source.open(&self.digest).await {
                    Ok(Some(b)) if b.size() == self.size => {
                        self.source = Some(Source::Committed(Arc::new(b)));
                    }
                    _ => return cut("the blob is not in the cache after its transfer"),
                }
            }
            let (blob, limit) = match &self.source {
                Some(Source::Growing(g, restarts)) => {
                    if g.restarts() != *restarts {
                        return cut("the upstream transfer started over");
                    }
                    // The last byte waits for the verified commit.
                    let limit = match committed {
                        true => self.size,
                        false => g.readable().min(self.size.saturating_sub(1)),
                    };
                    (Some(g.blob().clone()), limit)
                }
                Some(Source::Committed(b)) => (Some(b.clone()), self.size),
                None => (None, 0),
            };
            let upto = limit.min(self.end);
            if let Some(blob) = blob
                && self.pos < upto
            {
                let span = self.pos..upto.min(self.pos + STREAM_CHUNK as u64);
                let bytes = match crate::server::reads::read(blob, span).await {
                    Ok(bytes) => bytes,
                    Err(e) => return Some(Err(e)),
                };
                if let Some(Source::Growing(g, restarts)) = &self.source
                    && g.restarts() != *restarts
                {
                    return cut("the upstream transfer started over");
                }
                self.pos += bytes.len() as u64;
                self.read_to = self.pos;
                return Some(Ok(bytes));
            }
            match &state.end {
                Some(End::Failed(reason)) => return cut(reason),
                Some(End::NotFound) => return cut("the upstream no longer has the blob"),
                Some(End::Committed) | None => {}
            }
            // Caught up: wait for more bytes, or for the end.
            let _ = tokio::time::timeout(POLL, self.rx.changed()).await;
        }
    }
}
