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
use super::referrers::referrers;
use super::uploads::{Sessions, sweep, upload};
use super::{
    API_VERSION, Access, ApiError, Htpasswd, NOSNIFF, READ_METHODS, Verdict, Writes,
    error_response, json_response,
};
use crate::digest::Digest;
use crate::reference::{ApiRoute, parse_api_path};
use crate::store::ContentStore;

/// Blobs whose manifest classification is remembered (then one is forgotten per new one).
const CLASSIFIED_ENTRIES: usize = 4096;

/// The server's state: where content comes from, who may read it, and what is known about
/// blobs asked for as manifests.
pub(super) struct App<S> {
    pub(super) source: S,
    htpasswd: Option<Arc<Htpasswd>>,
    classified: Mutex<HashMap<Digest, Classified>>,
    pub(super) classifying: Semaphore,
    /// What clients may change.
    pub(super) writes: Writes,
    /// The upload sessions open, for `--max-upload-sessions`.
    pub(super) sessions: Sessions,
}

impl<S: ContentStore> App<S> {
    pub(super) fn new(source: S, htpasswd: Option<Arc<Htpasswd>>, writes: Writes) -> Arc<App<S>> {
        Arc::new(App {
            source,
            htpasswd,
            classified: Mutex::new(HashMap::new()),
            classifying: Semaphore::new(CLASSIFYING),
            writes,
            sessions: Sessions::default(),
        })
    }

    pub(super) fn remembered(&self, digest: &Digest, size: u64) -> Option<Classified> {
        let classified = self.classified.lock().unwrap_or_else(|e| e.into_inner());
        classified.get(digest).copied().filter(|c| c.size == size)
    }

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
    let app = App::new(source, access.htpasswd.clone(), access.writes);
    if app.writes.push {
        // It holds the app weakly, so it ends with the server.
        tokio::spawn(sweep(Arc::downgrade(&app)));
    }
    Router::new()
        .route("/v2", any(handle::<S>))
        .route("/v2/", any(handle::<S>))
        .route("/v2/{*rest}", any(handle::<S>))
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
    let (verdict, user) = match &app.htpasswd {
        None => (Ok(()), None),
        Some(_) if anonymous => (Ok(()), None),
        Some(h) => {
            let credentials = parts.headers.get(header::AUTHORIZATION);
            match h.authorized(credentials.map(HeaderValue::as_bytes)).await {
                Verdict::Granted(user) => (Ok(()), Some(user)),
                Verdict::Denied => (Err(ApiError::Unauthorized), None),
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
    let headers = response.headers_mut();
    headers.insert(API_VERSION, HeaderValue::from_static("registry/2.0"));
    // Never let a browser guess a type other than the one sent (issue 9, item 15).
    headers.insert(NOSNIFF, HeaderValue::from_static("nosniff"));
    if tracing::enabled!(tracing::Level::INFO) {
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
            started,
        };
        response = response.map(|body| Body::new(LoggedBody { inner: body, log }));
    }
    response
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
    if path == "/v2/_catalog" {
        return match *method {
            Method::GET | Method::HEAD => catalog(source, &query).await,
            _ => Err(ApiError::Unsupported {
                allow: READ_METHODS,
            }),
        };
    }
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
                return delete_manifest(source, name, reference).await;
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
        ApiRoute::Blob { digest, .. } => {
            let digest: Digest = digest.parse().map_err(ApiError::DigestInvalid)?;
            blob(source, &digest, head, headers).await
        }
        ApiRoute::Manifest { name, reference } => {
            manifest(app, name, reference, head, headers, query.ns.as_deref()).await
        }
        ApiRoute::TagsList { name } => tags_list(source, name, &query).await,
        ApiRoute::Referrers { digest, .. } => {
            let digest: Digest = digest.parse().map_err(ApiError::DigestInvalid)?;
            // 200 with an image index, even when none exist ("Listing Referrers").
            referrers(source, &digest, raw_query).await
        }
        ApiRoute::Upload { .. } => Err(ApiError::Unsupported { allow: "" }),
    }
}
