//! Pull-through (`serve --upstream`, issue 13): a cache in front of other registries.
//!
//! A blob or a manifest by digest that is cached is served from the cache, with no upstream
//! request (content addressing makes it the same bytes). A miss goes to the upstream the request
//! names (containerd's `?ns=<registry>`; without it, the first upstream given): a blob through
//! the transfer path `fetch` uses (verified, resumable, retried, locked), one transfer per digest
//! however many clients ask (`flight`), streamed to each of them while it arrives; a manifest by
//! digest is fetched, verified and stored before it is served. Tags are revalidated after
//! `tag_ttl` with a HEAD (`tags`); while the upstream is down, cached tags are served with a
//! `Warning: 299` saying they may be stale, and uncached content gets a 502 naming the upstream.
//!
//! Credentials: requests upstream carry what the client's credential sources give for the
//! upstream's own host (docker config, helpers, anonymous tokens); a downstream request's
//! `Authorization` is never forwarded, and nothing of the upstream's auth reaches a client.

pub(super) mod flight;
pub(super) mod tags;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::Semaphore;

use axum::body::Body;
use axum::http::Response;
use axum::http::header::HeaderMap;

use super::metrics::CacheStatus;
use super::routing::App;
use super::{ApiError, manifests};
use crate::client::Client;
use crate::client::retry::{self, RetryPolicy};
use crate::digest::Digest;
use crate::reference::{Reference, Registry};
use crate::store::{ContentStore, ns_registry};

/// One upstream registry of a pull-through cache.
#[derive(Debug, Clone)]
pub struct Upstream {
    /// The registry it stands for: what `?ns=` names and what tags are recorded under
    /// (`docker.io` for `https://registry-1.docker.io`).
    pub ns: Registry,
    /// The registry its requests go to (the URL's host), whose credentials they use.
    pub api: Registry,
    /// The URL as given, for errors, metrics and logs.
    pub url: String,
}

impl Upstream {
    /// Parses `URL` or `REGISTRY=URL` (`docker.io=https://registry-1.docker.io`). The URL is
    /// `http(s)://host[:port]` with no path: the registry API lives at its root.
    pub fn parse(spec: &str) -> Result<Upstream, String> {
        let (name, url) = match spec.split_once('=') {
            Some((name, url)) if !name.contains("://") => (Some(name), url),
            _ => (None, spec),
        };
        let parsed = reqwest::Url::parse(url)
            .map_err(|e| format!("`{url}` is no URL ({e}): give http(s)://HOST[:PORT]"))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(format!("`{url}` is no http(s) URL"));
        }
        if parsed.path() != "/" || parsed.query().is_some() || !parsed.username().is_empty() {
            return Err(format!(
                "`{url}` has a path, query or user: give http(s)://HOST[:PORT] (credentials come from the docker config or --username)"
            ));
        }
        let host = match (parsed.host_str(), parsed.port()) {
            (Some(h), Some(p)) => format!("{h}:{p}"),
            (Some(h), None) => h.to_owned(),
            (None, _) => return Err(format!("`{url}` names no host")),
        };
        let api = Registry::parse(&host.to_ascii_lowercase())
            .map_err(|e| format!("`{url}`: the host is no registry name ({e})"))?;
        let ns = match name {
            Some(n) => Registry::parse(&n.to_ascii_lowercase())
                .map_err(|e| format!("`{n}` in `{spec}` is no registry name ({e})"))?,
            // Docker Hub's API host stands for `docker.io`, the name clients use.
            None if api.as_str() == "registry-1.docker.io" => Registry::parse("docker.io")
                .map_err(|e| format!("`docker.io` is no registry name ({e})"))?,
            None => api.clone(),
        };
        Ok(Upstream {
            ns,
            api,
            url: parsed.as_str().trim_end_matches('/').to_owned(),
        })
    }

    /// Whether the URL's scheme is plain http.
    pub fn is_plain_http(&self) -> bool {
        self.url.starts_with("http://")
    }

    /// `name` in this upstream's registry, at `tail` (`@sha256:…` or `:tag`).
    fn reference(&self, name: &str, tail: &str) -> Result<Reference, String> {
        format!("{}/{name}{tail}", self.api.as_str())
            .parse::<Reference>()
            .map_err(|e| e.to_string())
    }
}

/// What a pull-through server needs to reach its upstreams.
#[derive(Clone)]
pub struct PullThrough {
    /// The upstreams; the first serves requests that name none.
    pub upstreams: Vec<Upstream>,
    /// The client every upstream request goes through (credentials, TLS, pools).
    pub client: Client,
    /// How long a tag is trusted before it is checked again.
    pub tag_ttl: Duration,
    /// How upstream requests are retried.
    pub retry: RetryPolicy,
    /// Largest blob fetched from upstream.
    pub max_blob_size: u64,
    /// Mark blobs and manifests as used when they are served (at most once a minute each), so
    /// that an eviction by least recent use (`--max-size`) keeps what clients ask for.
    pub touch_served: bool,
}

impl std::fmt::Debug for PullThrough {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PullThrough")
            .field("upstreams", &self.upstreams)
            .field("tag_ttl", &self.tag_ttl)
            .finish_non_exhaustive()
    }
}

impl PullThrough {
    /// An upstream request to `url` for the retry driver, `what` naming it in the log.
    pub(super) fn request<'a>(&'a self, url: reqwest::Url, what: &'a str) -> retry::Request<'a> {
        retry::Request {
            client: &self.client,
            policy: self.retry,
            url,
            what,
        }
    }

    /// The upstream for a request: the one `ns` names, else (no `ns`) the first. A request
    /// naming a registry that is no upstream gets none (the cache alone answers it), so that
    /// a name is never fetched from another registry than the one it belongs to.
    pub(super) fn choose(&self, ns: Option<&str>) -> Option<(usize, &Upstream)> {
        match ns {
            None => self.upstreams.first().map(|u| (0, u)),
            Some(ns) => {
                let wanted = ns_registry(ns).unwrap_or_else(|| ns.to_owned());
                self.upstreams
                    .iter()
                    .enumerate()
                    .find(|(_, u)| u.ns.api_host() == wanted)
            }
        }
    }
}

/// The pull-through state of a running server.
pub(super) struct Puller {
    pub(super) config: PullThrough,
    /// Blob transfers in progress, by digest.
    pub(super) flights: flight::Flights,
    /// When each tag was last checked upstream.
    pub(super) tags: tags::Checked,
    /// One upstream request at a time per manifest or tag: the others wait for its answer.
    pub(super) keyed: KeyedLocks,
    /// When each digest was last marked used ([`PullThrough::touch_served`]).
    touched: Mutex<HashMap<Digest, std::time::Instant>>,
    /// Upstream requests a client waits for, at once ([`detach`]).
    pub(super) requests: Arc<Semaphore>,
    /// Blob transfers from upstream, at once ([`detach`]); more wait for a slot.
    pub(super) transfers: Arc<Semaphore>,
}

/// Upstream requests clients wait for (HEADs, manifests, far ranges) running at once.
const REQUEST_SLOTS: usize = 256;
/// Blob transfers from upstream running at once.
const TRANSFER_SLOTS: usize = 64;

impl Puller {
    /// Upstream number `index` (as [`PullThrough::choose`] gave it).
    pub(super) fn upstream(&self, index: usize) -> Result<&Upstream, ApiError> {
        self.config.upstreams.get(index).ok_or_else(|| {
            ApiError::Internal(std::io::Error::other(format!("no upstream number {index}")))
        })
    }

    pub(super) fn new(config: PullThrough) -> Puller {
        Puller {
            config,
            flights: flight::Flights::default(),
            tags: tags::Checked::default(),
            keyed: KeyedLocks::default(),
            touched: Mutex::default(),
            requests: Arc::new(Semaphore::new(REQUEST_SLOTS)),
            transfers: Arc::new(Semaphore::new(TRANSFER_SLOTS)),
        }
    }

    /// Whether `digest`, just served, should be marked used now (see
    /// [`PullThrough::touch_served`]): not when it was within the last minute.
    pub(super) fn should_touch(&self, digest: &Digest) -> bool {
        const EVERY: Duration = Duration::from_secs(60);
        const ENTRIES: usize = 100_000;
        if !self.config.touch_served {
            return false;
        }
        let mut touched = self.touched.lock().unwrap_or_else(|e| e.into_inner());
        if touched.get(digest).is_some_and(|at| at.elapsed() < EVERY) {
            return false;
        }
        if touched.len() >= ENTRIES {
            touched.clear();
        }
        touched.insert(digest.clone(), std::time::Instant::now());
        true
    }
}

/// Per-key async locks, dropped from the table when the last holder lets go.
#[derive(Default)]
pub(super) struct KeyedLocks {
    table: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

/// A held [`KeyedLocks`] lock.
pub(super) struct KeyedGuard<'a> {
    locks: &'a KeyedLocks,
    key: String,
    lock: Option<tokio::sync::OwnedMutexGuard<()>>,
}

impl KeyedLocks {
    /// Waits for `key`'s lock.
    pub(super) async fn lock(&self, key: String) -> KeyedGuard<'_> {
        let mutex = {
            let mut table = self.table.lock().unwrap_or_else(|e| e.into_inner());
            table.entry(key.clone()).or_default().clone()
        };
        let lock = mutex.lock_owned().await;
        KeyedGuard {
            locks: self,
            key,
            lock: Some(lock),
        }
    }
}

impl Drop for KeyedGuard<'_> {
    fn drop(&mut self) {
        drop(self.lock.take());
        let mut table = self.locks.table.lock().unwrap_or_else(|e| e.into_inner());
        // Only the table holds it now: nobody waits, so the entry goes.
        if table
            .get(&self.key)
            .is_some_and(|m| Arc::strong_count(m) == 1)
        {
            table.remove(&self.key);
        }
    }
}

/// Reports an upstream attempt that failed and is tried again (a function, not a closure: the
/// transfers run in tasks of their own, which need it general over the error's lifetime).
fn log_retry<E: std::fmt::Display>(attempt: u32, wait: Duration, error: &E) {
    tracing::info!(
        "upstream request: attempt {attempt} failed ({error}); retrying in {:.1} s",
        wait.as_secs_f64()
    );
}

/// An upstream failure as the client sees it: 502 naming the upstream, the reason stripped of
/// control characters.
pub(super) fn upstream_error(upstream: &Upstream, reason: &dyn std::fmt::Display) -> ApiError {
    let reason = reason.to_string();
    ApiError::Upstream {
        upstream: upstream.url.clone(),
        reason: crate::text::sanitize(&reason, crate::text::Lines::Escape).into_owned(),
    }
}

/// `name@digest` at `upstream`, or the 400 a name that makes no reference there gets.
pub(super) fn blob_reference(
    upstream: &Upstream,
    name: &str,
    digest: &Digest,
) -> Result<Reference, ApiError> {
    upstream
        .reference(name, &format!("@{digest}"))
        .map_err(|e| upstream_error(upstream, &e))
}

/// `GET`/`HEAD /v2/<name>/manifests/<reference>` with upstream number `index`: a digest the
/// cache lacks is fetched first; a tag is made current first ([`tags`]), and answered with a
/// `Warning` when the upstream could not be asked.
pub(super) async fn manifest<S: ContentStore>(
    app: &Arc<App<S>>,
    index: usize,
    name: &str,
    reference: &str,
    head: bool,
    headers: &HeaderMap,
) -> Result<Response<Body>, ApiError> {
    let slots = app.pull()?.requests.clone();
    let (app, name, reference, headers) = (
        app.clone(),
        name.to_owned(),
        reference.to_owned(),
        headers.clone(),
    );
    spawned(&slots, move || async move {
        manifest_owned(&app, index, &name, &reference, head, &headers).await
    })
    .await
}

async fn manifest_owned<S: ContentStore>(
    app: &Arc<App<S>>,
    index: usize,
    name: &str,
    reference: &str,
    head: bool,
    headers: &HeaderMap,
) -> Result<Response<Body>, ApiError> {
    let pull = app.pull()?;
    let upstream = pull.upstream(index)?;
    // Tags are looked up among the upstream's own (recorded under its registry name).
    let ns = Some(upstream.ns.api_host());
    if reference.contains(':') {
        let digest: Digest = reference.parse().map_err(ApiError::DigestInvalid)?;
        return match manifests::manifest(app, name, reference, head, headers, ns).await {
            Err(ApiError::ManifestUnknown { .. })
                if app.source.stat(&digest).await?.is_none()
                    && tags::manifest_by_digest(app, index, name, &digest).await? =>
            {
                let mut response =
                    manifests::manifest(app, name, reference, head, headers, ns).await?;
                response.extensions_mut().insert(CacheStatus::Miss);
                Ok(response)
            }
            answer => answer.map(mark(CacheStatus::Hit)),
        };
    }
    if !crate::reference::is_tag(reference) {
        return manifests::manifest(app, name, reference, head, headers, ns).await;
    }
    let stale = tags::refresh_tag(app, index, name, reference).await?;
    let mut response = manifests::manifest(app, name, reference, head, headers, ns).await?;
    match stale {
        None => response.extensions_mut().insert(CacheStatus::Hit),
        Some(reason) => {
            let text = format!(
                "299 layerget \"the upstream {} could not be asked, this tag may be stale: {}\"",
                upstream.url,
                crate::text::sanitize(&reason, crate::text::Lines::Escape).replace('"', "'")
            );
            response.headers_mut().insert(
                axum::http::header::WARNING,
                super::value(text.chars().filter(char::is_ascii).take(1000).collect()),
            );
            response.extensions_mut().insert(CacheStatus::Stale)
        }
    };
    Ok(response)
}

/// Runs upstream work (`make`'s future) to its end on a thread of the blocking pool, driven by
/// the server's runtime, once `slots` has room; `None` when the work could not run (the server
/// is stopping, or it panicked).
///
/// Why not `tokio::spawn`: the retry driver's attempts are `AsyncFnMut` futures, and rustc cannot
/// prove such a future `Send` for every lifetime (rust-lang/rust#110338), which `spawn` and the
/// router's handlers require. `Handle::block_on` asks no `Send` of the future, only of what makes
/// it. Each piece of work holds a pool thread, and needs more of them for its file work: the
/// slots ([`REQUEST_SLOTS`], [`TRANSFER_SLOTS`]) keep enough of the pool's 512 free for that. A
/// client that goes away cuts no transfer, tag check or manifest fetch short.
pub(super) fn detach<T, F>(
    slots: &Arc<Semaphore>,
    make: impl FnOnce() -> F + Send + 'static,
) -> tokio::task::JoinHandle<Option<T>>
where
    T: Send + 'static,
    F: std::future::Future<Output = T>,
{
    let (handle, slots) = (tokio::runtime::Handle::current(), slots.clone());
    tokio::spawn(async move {
        let _slot = slots.acquire_owned().await.ok()?;
        tokio::task::spawn_blocking(move || handle.block_on(make()))
            .await
            .ok()
    })
}

/// [`detach`] in `slots`, waited for.
async fn spawned<T, F>(
    slots: &Arc<Semaphore>,
    make: impl FnOnce() -> F + Send + 'static,
) -> Result<T, ApiError>
where
    T: Send + 'static,
    F: std::future::Future<Output = Result<T, ApiError>>,
{
    let stopped = || ApiError::Internal(std::io::Error::other("the upstream request did not run"));
    detach(slots, make)
        .await
        .map_err(|_| stopped())?
        .ok_or_else(stopped)?
}

/// A blob the cache lacks, from upstream number `index` ([`flight::blob`]).
pub(super) async fn blob<S: ContentStore>(
    app: &Arc<App<S>>,
    index: usize,
    name: &str,
    digest: &Digest,
    head: bool,
    headers: &HeaderMap,
) -> Result<Response<Body>, ApiError> {
    let slots = app.pull()?.requests.clone();
    let (app, name, digest, headers) = (
        app.clone(),
        name.to_owned(),
        digest.clone(),
        headers.clone(),
    );
    spawned(&slots, move || async move {
        flight::blob(&app, index, &name, &digest, head, &headers).await
    })
    .await
}

/// Marks a response's relation to the cache (when it is a success).
fn mark(status: CacheStatus) -> impl FnOnce(Response<Body>) -> Response<Body> {
    move |mut response| {
        response.extensions_mut().insert(status);
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upstream_specs() {
        let u = Upstream::parse("https://registry-1.docker.io").unwrap();
        assert_eq!(
            (u.ns.as_str(), u.api.as_str()),
            ("docker.io", "registry-1.docker.io")
        );
        let u = Upstream::parse("ghcr.io=https://ghcr.io/").unwrap();
        assert_eq!(
            (u.ns.as_str(), u.api.as_str(), u.url.as_str()),
            ("ghcr.io", "ghcr.io", "https://ghcr.io")
        );
        let u = Upstream::parse("http://127.0.0.1:5001").unwrap();
        assert_eq!((u.ns.as_str(), u.is_plain_http()), ("127.0.0.1:5001", true));
        let u = Upstream::parse("docker.io=http://127.0.0.1:5001").unwrap();
        assert_eq!(
            (u.ns.as_str(), u.api.as_str()),
            ("docker.io", "127.0.0.1:5001")
        );
        for bad in [
            "registry-1.docker.io",
            "ftp://x",
            "https://h/prefix",
            "https://u:p@h",
            "https://h/?q=1",
            "BAD NAME=https://h",
        ] {
            assert!(Upstream::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_upstream_of_a_request() {
        let config = |specs: &[&str]| PullThrough {
            upstreams: specs.iter().map(|s| Upstream::parse(s).unwrap()).collect(),
            client: Client::new(Default::default()).unwrap(),
            tag_ttl: Duration::from_secs(300),
            retry: RetryPolicy::default(),
            max_blob_size: 1 << 30,
            touch_served: false,
        };
        let c = config(&["https://registry-1.docker.io", "ghcr.io=https://ghcr.io"]);
        assert_eq!(c.choose(None).map(|(i, _)| i), Some(0));
        assert_eq!(c.choose(Some("docker.io")).map(|(i, _)| i), Some(0));
        assert_eq!(c.choose(Some("ghcr.io")).map(|(i, _)| i), Some(1));
        assert_eq!(c.choose(Some("quay.io")).map(|(i, _)| i), None);
        assert_eq!(config(&[]).choose(None).map(|(i, _)| i), None);
    }
}
