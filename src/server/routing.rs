//! The router, the credential check every request passes, and the dispatch of a path to its
//! answer (paths are parsed by [`crate::reference::parse_api_path`], the grammar the client's
//! URL builder writes).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::header::{self, HeaderMap, HeaderValue};
use axum::http::{Method, Response, StatusCode};
use axum::routing::any;
use tokio::sync::Semaphore;

use super::blobs::blob;
use super::deletes::{delete_blob, delete_manifest};
use super::listing::{Query, catalog, tags_list};
use super::log::{AccessLog, LoggedBody, escape_for_log, query_for_log};
use super::manifests::{CLASSIFYING, Classified, manifest, put_manifest};
use super::metrics::{CacheStatus, Metrics};
use super::referrers::referrers;
use super::scope::Scope;
use super::uploads::{Sessions, sweep, upload};
use super::upstream::{self, Puller};
use super::{
    API_VERSION, Access, ApiError, Htpasswd, NOSNIFF, READ_METHODS, Verdict, Writes,
    error_response, json_response,
};
use crate::digest::Digest;
use crate::reference::{ApiRoute, parse_api_path};
use crate::store::ContentStore;

/// Blobs whose manifest classification is remembered (then one is forgotten per new one).
/// An entry is a digest and a few words: a few hundred KiB at most.
const CLASSIFIED_ENTRIES: usize = 4096;

/// The server's state: where content comes from, who may read it, and what is known about
/// blobs asked for as manifests.
pub(super) struct App<S> {
    /// The store every answer reads from.
    pub(super) source: S,
    /// `None`: no credentials are asked for.
    htpasswd: Option<Arc<Htpasswd>>,
    /// Manifest classifications by digest, at most [`CLASSIFIED_ENTRIES`].
    classified: Mutex<HashMap<Digest, Classified>>,
    /// Bounds the classifications running at once ([`CLASSIFYING`]).
    pub(super) classifying: Semaphore,
    /// What clients may change.
    pub(super) writes: Writes,
    /// The upload sessions open, for `--max-upload-sessions`.
    pub(super) sessions: Sessions,
    /// Which repository holds what, for mounts and deletes (see `scope`).
    pub(super) scope: Scope,
    /// With `--upstream`: the upstreams and the transfers from them.
    pub(super) pull: Option<Puller>,
    /// What `/metrics` shows.
    pub(super) metrics: Metrics,
}

impl<S: ContentStore> App<S> {
    pub(super) fn new(source: S, access: &Access) -> Arc<App<S>> {
        let upstreams = access.pull_through.iter().flat_map(|p| &p.upstreams);
        Arc::new(App {
            source,
            htpasswd: access.htpasswd.clone(),
            classified: Mutex::new(HashMap::new()),
            classifying: Semaphore::new(CLASSIFYING),
            writes: access.writes,
            sessions: Sessions::default(),
            scope: Scope::default(),
            metrics: Metrics::new(upstreams.map(|u| u.url.clone())),
            pull: access.pull_through.clone().map(Puller::new),
        })
    }

    /// The pull-through state; an internal error for a server without upstreams (callers
    /// only get here after [`App::upstream_for`] found one).
    pub(super) fn pull(&self) -> Result<&Puller, ApiError> {
        self.pull
            .as_ref()
            .ok_or_else(|| ApiError::Internal(std::io::Error::other("no upstream is configured")))
    }

    /// The number of the upstream that serves a request with this `ns`, if any.
    pub(super) fn upstream_for(&self, ns: Option<&str>) -> Option<usize> {
        self.pull.as_ref()?.config.choose(ns).map(|(i, _)| i)
    }

    /// What is known about `digest` as a manifest, if it was classified at this `size`: bytes
    /// named by their digest do not change, but a blob replaced by one of another size (a
    /// damaged copy) is classified again.
    pub(super) fn remembered(&self, digest: &Digest, size: u64) -> Option<Classified> {
        let classified = self.classified.lock().unwrap_or_else(|e| e.into_inner());
        classified.get(digest).copied().filter(|c| c.size == size)
    }

    /// Remembers a classification, forgetting another when the table is full.
    pub(super) fn remember(&self, digest: &Digest, class: Classified) {
        let mut classified = self.classified.lock().unwrap_or_else(|e| e.into_inner());
        if classified.len() >= CLASSIFIED_ENTRIES && !classified.contains_key(digest) {
            // Bounded: forget one (any) entry; it is cheap to learn again.
            if let Some(old) = classified.keys().next().cloned() {
                classified.remove(&old);
            }
        }
        classified.insert(digest.clone(), class);
    }
}

/// The router: `/v2/` and the catch-all `/v2/{*rest}` (names contain `/`, so the path is
/// routed by [`parse_api_path`], suffixes from the right); anything else gets a 404 envelope.
/// With pushes allowed, a task sweeps expired upload sessions for as long as the router lives.
pub(super) fn router<S: ContentStore>(source: S, access: &Access) -> Router {
    let app = App::new(source, access);
    if app.writes.push {
        // It holds the app weakly, so it ends with the server.
        tokio::spawn(sweep(Arc::downgrade(&app)));
    }
    Router::new()
        .route("/v2", any(handle::<S>))
        .route("/v2/", any(handle::<S>))
        .route("/v2/{*rest}", any(handle::<S>))
        // Unknown paths go through `handle` too: the same credential check, then a 404.
        .fallback(handle::<S>)
        .with_state(app)
}

/// Every request: check credentials, answer, add the headers every answer has, and log it.
pub(super) async fn handle<S: ContentStore>(
    State(app): State<Arc<App<S>>>,
    request: Request,
) -> Response<Body> {
    let started = Instant::now();
    let (parts, body) = request.into_parts();
    // `--anonymous-pull`: reads need no credentials, writes still do.
    let anonymous = app.writes.anonymous_pull && matches!(parts.method, Method::GET | Method::HEAD);
    // Credentials before routing: with an htpasswd file every path needs them (reads too,
    // unless `--anonymous-pull`), so a client without them learns nothing from which paths
    // exist.
    let (verdict, user) = match &app.htpasswd {
        None => (Ok(()), None),
        Some(_) if anonymous => (Ok(()), None),
        Some(h) => {
            let credentials = parts.headers.get(header::AUTHORIZATION);
            match h.authorized(credentials.map(HeaderValue::as_bytes)).await {
                Verdict::Granted(user) => (Ok(()), Some(user)),
                Verdict::Denied => (Err(ApiError::Unauthorized), None),
                // Too many password checks queued: 429 with `Retry-After` at once, not a wait.
                Verdict::Busy => (Err(ApiError::TooManyRequests), None),
            }
        }
    };
    let answered = match verdict {
        Ok(()) => {
            answer(
                &app,
                &parts.method,
                parts.uri.path(),
                parts.uri.query(),
                &parts.headers,
                body,
            )
            .await
        }
        Err(e) => Err(e),
    };
    let mut response = answered.unwrap_or_else(|e| error_response(&e));
    let cache = response.extensions().get::<CacheStatus>().copied();
    let served = match (&parts.method, response.status().is_success()) {
        (&Method::GET, true) => response
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok()?.parse().ok())
            .unwrap_or(0),
        _ => 0,
    };
    app.metrics.answered(cache, served);
    let headers = response.headers_mut();
    // Added here, after `error_response`, so that errors carry them as answers do.
    headers.insert(API_VERSION, HeaderValue::from_static("registry/2.0"));
    // Never let a browser guess a type other than the one sent (issue 9, item 15).
    headers.insert(NOSNIFF, HeaderValue::from_static("nosniff"));
    // The access log is at INFO (`-v`): below that, no wrapper body and no escaping.
    if tracing::enabled!(tracing::Level::INFO) {
        // A HEAD sends no body: its line reports the length it announced.
        let declared = response
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok()?.parse().ok());
        let log = AccessLog {
            method: escape_for_log(parts.method.as_str(), 20),
            path: escape_for_log(parts.uri.path(), 300),
            query: parts.uri.query().map(query_for_log),
            user: user.map(|u| escape_for_log(&u, 100)),
            status: response.status().as_u16(),
            bytes: 0,
            head: parts.method == Method::HEAD,
            declared,
            cache: cache.map(CacheStatus::as_str),
            started,
        };
        // The line is written when the body ends or is dropped, with the bytes it yielded.
        response = response.map(|body| Body::new(LoggedBody { inner: body, log }));
    }
    response
}

/// Marks an answer about content as served from the cache, unless it says otherwise already.
/// Only a pull-through cache tells hits from misses: a plain one has nothing else, and its hot
/// path stays free of the extension's allocation.
fn hit<S>(app: &App<S>) -> impl FnOnce(Response<Body>) -> Response<Body> + '_ {
    move |mut response| {
        if app.pull.is_some() && response.extensions().get::<CacheStatus>().is_none() {
            response.extensions_mut().insert(CacheStatus::Hit);
        }
        response
    }
}

/// Routes and answers one request.
pub(super) async fn answer<S: ContentStore>(
    app: &Arc<App<S>>,
    method: &Method,
    path: &str,
    query: Option<&str>,
    headers: &HeaderMap,
    body: Body,
) -> Result<Response<Body>, ApiError> {
    let source = &app.source;
    let raw_query = query;
    let query = Query::parse(query);
    // No part of the `parse_api_path` grammar (it names no repository): matched first.
    if path == "/metrics" {
        return match *method {
            Method::GET | Method::HEAD => {
                let in_flight = app.pull.as_ref().map_or(0, |p| p.flights.len());
                Ok(json_response(
                    StatusCode::OK,
                    "text/plain; version=0.0.4; charset=utf-8",
                    app.metrics.render(in_flight),
                ))
            }
            _ => Err(ApiError::Unsupported {
                allow: READ_METHODS,
            }),
        };
    }
    if path == "/v2/_catalog" {
        return match *method {
            Method::GET | Method::HEAD => catalog(source, &query).await,
            _ => Err(ApiError::Unsupported {
                allow: READ_METHODS,
            }),
        };
    }
    // A bad name is 400 `NAME_INVALID`; a path that is no endpoint, 404.
    let route = parse_api_path(path)
        .map_err(ApiError::NameInvalid)?
        .ok_or(ApiError::NotFound)?;
    if app.writes.push {
        match (&route, method) {
            (ApiRoute::Upload { name, session }, _) => {
                return upload(app, method, name, *session, raw_query, headers, body).await;
            }
            (ApiRoute::Manifest { name, reference }, &Method::PUT) => {
                return put_manifest(app, name, reference, raw_query, headers, body).await;
            }
            _ => {}
        }
    }
    if app.writes.delete && method == Method::DELETE {
        match &route {
            ApiRoute::Manifest { name, reference } => {
                return delete_manifest(source, &app.scope, name, reference).await;
            }
            ApiRoute::Blob { digest, .. } => {
                let digest: Digest = digest.parse().map_err(ApiError::DigestInvalid)?;
                return delete_blob(source, &digest).await;
            }
            _ => {}
        }
    }
    let head = match *method {
        // Uploads do not exist here; an empty Allow says no method is allowed (RFC 9110, 10.2.1).
        _ if matches!(route, ApiRoute::Upload { .. }) => {
            return Err(ApiError::Unsupported { allow: "" });
        }
        Method::GET => false,
        Method::HEAD => true,
        _ => {
            return Err(ApiError::Unsupported {
                allow: READ_METHODS,
            });
        }
    };
    match route {
        ApiRoute::Base => Ok(json_response(
            StatusCode::OK,
            "application/json",
            "{}".into(),
        )),
        ApiRoute::Blob { name, digest } => {
            // Found by digest alone: the cache is shared by all names. A malformed digest is 400
            // `DIGEST_INVALID` before the store is asked.
            let digest: Digest = digest.parse().map_err(ApiError::DigestInvalid)?;
            let answer = blob(source, &digest, head, headers).await;
            match (answer, app.upstream_for(query.ns.as_deref())) {
                // A miss, with an upstream to ask.
                (Err(ApiError::BlobUnknown(_)), Some(index)) => {
                    upstream::blob(app, index, name, &digest, head, headers).await
                }
                (answer, _) => {
                    if answer.is_ok() && app.pull.as_ref().is_some_and(|p| p.should_touch(&digest))
                    {
                        // Best effort: a blob that cannot be marked is still served.
                        let _ = source.touch(&digest).await;
                    }
                    answer.map(hit(app))
                }
            }
        }
        ApiRoute::Manifest { name, reference } => {
            let ns = query.ns.as_deref();
            let answer = match app.upstream_for(ns) {
                Some(index) => upstream::manifest(app, index, name, reference, head, headers).await,
                None => manifest(app, name, reference, head, headers, ns)
                    .await
                    .map(hit(app)),
            };
            // A reference's last use is its manifest's (`cache prune`).
            let served = answer.as_ref().ok().and_then(|r| {
                let d = r.headers().get(super::CONTENT_DIGEST)?.to_str().ok()?;
                d.parse::<Digest>().ok()
            });
            if let (Some(d), Some(pull)) = (served, &app.pull)
                && pull.should_touch(&d)
            {
                let _ = source.touch(&d).await;
            }
            answer
        }
        ApiRoute::TagsList { name } => tags_list(source, name, &query).await,
        ApiRoute::Referrers { digest, .. } => {
            let digest: Digest = digest.parse().map_err(ApiError::DigestInvalid)?;
            // 200 with an image index, even when none exist ("Listing Referrers").
            referrers(source, &digest, raw_query).await
        }
        // Answered above already; kept so that the match stays exhaustive.
        ApiRoute::Upload { .. } => Err(ApiError::Unsupported { allow: "" }),
    }
}
