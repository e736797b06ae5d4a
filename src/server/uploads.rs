//! Blob uploads, with `--allow-push` (OCI Distribution Specification 1.1, "Pushing blobs"):
//! `POST /v2/<name>/blobs/uploads/` opens a session (or, with `?digest=`, is the whole upload;
//! with `?mount=`, links a blob the registry holds), `PATCH` appends a chunk, `GET` tells how
//! much arrived, `PUT ?digest=` closes it, `DELETE` cancels it.
//!
//! Every body is streamed into the store's upload writer ([`ContentStore::upload`]), which
//! hashes as it writes: memory stays flat in the blob's size, and the one verifying, fsyncing
//! [`BlobWriter::commit`] is the only way into `blobs/`. Sessions live in the store (the local
//! layout's `ingest/uploads/<id>/`), so they survive a restart of `serve`; a session idle for
//! longer than the upload TTL is aborted by [`sweep`].
//!
//! Session ids are `<32 random hex>-<16 hex>`, the second part a hash of the repository and the
//! first: an id is bound to the repository it was opened in without any table to keep (a
//! restart loses nothing), and an id used under another name is simply unknown.
//!
//! Repository scoping of mounts (see `scope`): `?mount=D&from=R` succeeds (201) when the store
//! holds `D` and `D` is available to `R` (pushed into `R` while this server ran, or listed by a
//! manifest `index.json` records under `R`); `?mount=D` without `from` whenever the store
//! holds `D` (the cache is one content-addressed store, and reads by digest already ignore
//! the name). Anything else gets a new session (202), as the spec requires. Every finished
//! upload and mount links the blob to its repository.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use axum::body::Body;
use axum::http::header::{self, HeaderMap, HeaderName, HeaderValue};
use axum::http::{Method, Response, StatusCode};
use futures_util::StreamExt as _;

use super::listing::query_pairs;
use super::routing::App;
use super::{ApiError, CONTENT_DIGEST, value};
use crate::digest::{Algorithm, Digest, digest_bytes};
use crate::store::{BlobWriter, ContentStore, StoreError, UploadId};

const UPLOAD_UUID: HeaderName = HeaderName::from_static("docker-upload-uuid");
/// Methods on a session's URL.
const SESSION_METHODS: &str = "GET, HEAD, PATCH, PUT, DELETE";

/// The upload sessions this server knows of, with when each last moved: the count that
/// `--max-upload-sessions` bounds. Rebuilt from the store by each [`sweep`], so sessions of an
/// earlier run count too.
#[derive(Debug, Default)]
pub(super) struct Sessions {
    live: Mutex<HashMap<UploadId, SystemTime>>,
}

impl Sessions {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<UploadId, SystemTime>> {
        self.live.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Counts a new session, unless `limit` are open already.
    fn open(&self, id: &UploadId, limit: usize) -> Result<(), ApiError> {
        let mut live = self.lock();
        if live.len() >= limit {
            return Err(ApiError::TooManyUploads { limit });
        }
        live.insert(id.clone(), SystemTime::now());
        Ok(())
    }

    fn touch(&self, id: &UploadId) {
        self.lock().insert(id.clone(), SystemTime::now());
    }

    fn forget(&self, id: &UploadId) {
        self.lock().remove(id);
    }
}

/// The id of a new session in repository `name`.
fn new_session(name: &str) -> Result<UploadId, ApiError> {
    let random = UploadId::random()?;
    format!("{random}-{}", binding(name, random.as_str()))
        .parse()
        .map_err(|e: String| ApiError::Internal(std::io::Error::other(e)))
}

/// The part of a session id that binds it to its repository.
fn binding(name: &str, random: &str) -> String {
    let d = digest_bytes(
        Algorithm::Sha256,
        format!("layerget upload\0{name}\0{random}").as_bytes(),
    );
    d.hex().chars().take(16).collect()
}

/// The session a path names in repository `name`; anything malformed, or opened under another
/// name, is unknown (the id is never used as a path before it parses as an [`UploadId`]).
fn session_of(name: &str, text: &str) -> Result<UploadId, ApiError> {
    let id: UploadId = text.parse().map_err(|_| ApiError::BlobUploadUnknown)?;
    match id.as_str().split_once('-') {
        Some((random, bound)) if random.len() == 32 && bound == binding(name, random) => Ok(id),
        _ => Err(ApiError::BlobUploadUnknown),
    }
}

/// The query parameters of the upload endpoints, percent-decoded.
#[derive(Debug, Default)]
struct UploadQuery {
    digest: Option<String>,
    mount: Option<String>,
    /// The repository a mount comes from.
    from: Option<String>,
    algorithm: Option<String>,
}

impl UploadQuery {
    fn parse(query: Option<&str>) -> UploadQuery {
        let mut q = UploadQuery::default();
        for (k, v) in query_pairs(query.unwrap_or("")) {
            match k.as_str() {
                "digest" => q.digest = Some(v),
                "mount" => q.mount = Some(v),
                "digest-algorithm" => q.algorithm = Some(v),
                "from" => q.from = Some(v),
                _ => {}
            }
        }
        q
    }
}

/// Any request to `/v2/<name>/blobs/uploads/[<session>]` once pushes are allowed.
pub(super) async fn upload<S: ContentStore>(
    app: &Arc<App<S>>,
    method: &Method,
    name: &str,
    session: Option<&str>,
    query: Option<&str>,
    headers: &HeaderMap,
    body: Body,
) -> Result<Response<Body>, ApiError> {
    let query = UploadQuery::parse(query);
    let Some(session) = session.filter(|s| !s.is_empty()) else {
        return match *method {
            Method::POST => start(app, name, &query, headers, body).await,
            _ => Err(ApiError::Unsupported { allow: "POST" }),
        };
    };
    let id = session_of(name, session)?;
    match *method {
        Method::GET | Method::HEAD => status(app, name, &id).await,
        Method::PATCH => patch(app, name, &id, headers, body).await,
        Method::PUT => finish(app, name, &id, &query, headers, body).await,
        Method::DELETE => cancel(app, &id).await,
        _ => Err(ApiError::Unsupported {
            allow: SESSION_METHODS,
        }),
    }
}

/// `POST …/uploads/`: a mount, a whole blob (`?digest=`), or a new session.
async fn start<S: ContentStore>(
    app: &Arc<App<S>>,
    name: &str,
    query: &UploadQuery,
    headers: &HeaderMap,
    body: Body,
) -> Result<Response<Body>, ApiError> {
    if let Some(mount) = &query.mount
        // A malformed or absent digest falls back to a session, as any failed mount does.
        && let Ok(digest) = mount.parse::<Digest>()
        && app.source.stat(&digest).await?.is_some()
    {
        let available = match query.from.as_deref() {
            // A name that is no repository holds nothing: it matches no link or entry.
            Some(from) => app.scope.holds(&app.source, from, &digest).await?,
            None => true,
        };
        if available {
            app.scope.link(name, &digest);
            return Ok(created(name, &digest));
        }
    }
    let digest = match &query.digest {
        Some(text) => Some(text.parse::<Digest>().map_err(ApiError::DigestInvalid)?),
        None => None,
    };
    let algorithm = match (query.algorithm.as_deref(), &digest) {
        (_, Some(d)) => d.algorithm(),
        (None | Some("sha256"), None) => Algorithm::Sha256,
        (Some("sha512"), None) => Algorithm::Sha512,
        (Some(_), None) => {
            return Err(ApiError::DigestRejected(
                "unsupported digest-algorithm: sha256 and sha512 are supported".into(),
            ));
        }
    };
    let length = content_length(headers)?;
    if digest.is_some() {
        check_size(app, 0, length)?;
    }
    let id = new_session(name)?;
    app.sessions.open(&id, app.writes.max_upload_sessions)?;
    let mut writer = match app.source.upload(&id, Some(algorithm)).await {
        Ok(Some(w)) => w,
        Ok(None) => {
            app.sessions.forget(&id);
            return Err(ApiError::BlobUploadUnknown);
        }
        Err(e) => {
            app.sessions.forget(&id);
            return Err(e.into());
        }
    };
    let Some(digest) = digest else {
        // The body of a POST that opens a session carries nothing (the spec sends none).
        writer.close().await?;
        return Ok(accepted(name, &id, 0));
    };
    // Monolithic: the body is the blob.
    if let Err(e) = pour(app, &mut writer, body, length).await {
        return Err(give_up(app, &id, writer, e).await);
    }
    commit(app, name, &id, writer, &digest).await
}

/// `GET …/uploads/<id>`: 204 with how much arrived.
async fn status<S: ContentStore>(
    app: &Arc<App<S>>,
    name: &str,
    id: &UploadId,
) -> Result<Response<Body>, ApiError> {
    let writer = resume(app, id).await?;
    let offset = writer.close().await?;
    let mut response = accepted(name, id, offset);
    *response.status_mut() = StatusCode::NO_CONTENT;
    Ok(response)
}

/// `PATCH …/uploads/<id>`: a chunk (`Content-Range: a-b`, which must start where the session
/// ends) or, without `Content-Range`, a stream appended whole.
async fn patch<S: ContentStore>(
    app: &Arc<App<S>>,
    name: &str,
    id: &UploadId,
    headers: &HeaderMap,
    body: Body,
) -> Result<Response<Body>, ApiError> {
    let writer = resume(app, id).await?;
    app.sessions.touch(id);
    let writer = receive(app, id, writer, headers, body).await?;
    let offset = writer.close().await?;
    Ok(accepted(name, id, offset))
}

/// `PUT …/uploads/<id>?digest=D`, with an optional last chunk: publishes the blob if the bytes
/// are `D`. A missing, malformed or wrong digest discards the session.
async fn finish<S: ContentStore>(
    app: &Arc<App<S>>,
    name: &str,
    id: &UploadId,
    query: &UploadQuery,
    headers: &HeaderMap,
    body: Body,
) -> Result<Response<Body>, ApiError> {
    let writer = resume(app, id).await?;
    app.sessions.touch(id);
    let digest = match query.digest.as_deref().map(str::parse::<Digest>) {
        Some(Ok(d)) => d,
        Some(Err(e)) => {
            return Err(give_up(app, id, writer, Pour::Refused(ApiError::DigestInvalid(e))).await);
        }
        None => {
            let e = ApiError::DigestRejected("a PUT that closes an upload needs ?digest=".into());
            return Err(give_up(app, id, writer, Pour::Refused(e)).await);
        }
    };
    let writer = receive(app, id, writer, headers, body).await?;
    commit(app, name, id, writer, &digest).await
}

/// `DELETE …/uploads/<id>`: 204, the session and its bytes gone.
async fn cancel<S: ContentStore>(
    app: &Arc<App<S>>,
    id: &UploadId,
) -> Result<Response<Body>, ApiError> {
    let writer = resume(app, id).await?;
    writer.abort().await?;
    app.sessions.forget(id);
    let mut response = Response::new(Body::empty());
    *response.status_mut() = StatusCode::NO_CONTENT;
    response
        .headers_mut()
        .insert(header::CONTENT_LENGTH, HeaderValue::from(0));
    Ok(response)
}

/// Publishes a session as `digest`: 201 on success; a digest the bytes are not is 400
/// `DIGEST_INVALID` (the store has discarded them).
async fn commit<S: ContentStore>(
    app: &Arc<App<S>>,
    name: &str,
    id: &UploadId,
    writer: S::Writer,
    digest: &Digest,
) -> Result<Response<Body>, ApiError> {
    let committed = writer.commit(digest).await;
    app.sessions.forget(id);
    match committed {
        Ok(()) => {
            app.scope.link(name, digest);
            Ok(created(name, digest))
        }
        Err(e @ (StoreError::Mismatch { .. } | StoreError::WrongSize { .. })) => {
            Err(ApiError::DigestRejected(e.to_string()))
        }
        Err(e) => Err(e.into()),
    }
}

/// Opens session `id` for this request: 404 `BLOB_UPLOAD_UNKNOWN` when there is none (never
/// started, finished, cancelled or expired).
async fn resume<S: ContentStore>(app: &Arc<App<S>>, id: &UploadId) -> Result<S::Writer, ApiError> {
    app.source
        .upload(id, None)
        .await?
        .ok_or(ApiError::BlobUploadUnknown)
}

/// Takes the request's body as the session's next chunk (its `Content-Range` and
/// `Content-Length` checked, `--max-blob-size` kept). A chunk that does not fit where the
/// session ends leaves the session as it was; any other refusal ends as [`give_up`] says.
async fn receive<S: ContentStore>(
    app: &Arc<App<S>>,
    id: &UploadId,
    mut writer: S::Writer,
    headers: &HeaderMap,
    body: Body,
) -> Result<S::Writer, ApiError> {
    let declared = match chunk_length(headers, writer.offset()) {
        Ok(declared) => declared,
        Err(e) => {
            writer.close().await?;
            return Err(e);
        }
    };
    if let Err(e) = check_size(app, writer.offset(), declared) {
        return Err(give_up(app, id, writer, Pour::Refused(e)).await);
    }
    if let Err(e) = pour(app, &mut writer, body, declared).await {
        return Err(give_up(app, id, writer, e).await);
    }
    Ok(writer)
}

/// Why a body was not taken whole.
enum Pour {
    /// The client stopped sending (or the connection broke): the session keeps what arrived.
    Stopped(String),
    /// The store failed: the session keeps what it holds.
    Store(StoreError),
    /// The request can never succeed (too large, a wrong length, a bad digest): the session
    /// is discarded.
    Refused(ApiError),
}

/// Ends a request that failed while it held the session's writer: see [`Pour`] for what
/// becomes of the session. Returns the error to answer with.
async fn give_up<S: ContentStore>(
    app: &Arc<App<S>>,
    id: &UploadId,
    writer: S::Writer,
    why: Pour,
) -> ApiError {
    match why {
        Pour::Stopped(e) => {
            let kept = writer.close().await;
            tracing::info!("upload {id}: the body stopped ({e}); {kept:?} bytes kept");
            ApiError::BlobUploadInvalid(format!("the body stopped: {e}"))
        }
        Pour::Store(e) => {
            let _ = writer.close().await;
            e.into()
        }
        Pour::Refused(e) => {
            if let Err(abort) = writer.abort().await {
                tracing::warn!("upload {id}: discarding it failed: {abort}");
            }
            app.sessions.forget(id);
            e
        }
    }
}

/// Streams a request body into `writer`, at most `declared` bytes when that is known and never
/// past `--max-blob-size`.
async fn pour<S: ContentStore>(
    app: &Arc<App<S>>,
    writer: &mut S::Writer,
    body: Body,
    declared: Option<u64>,
) -> Result<(), Pour> {
    let start = writer.offset();
    let max = app.writes.max_blob_size;
    let mut stream = body.into_data_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| Pour::Stopped(e.to_string()))?;
        let end = writer.offset().saturating_add(chunk.len() as u64);
        if let Some(d) = declared
            && end - start > d
        {
            return Err(Pour::Refused(ApiError::SizeInvalid(format!(
                "the body is longer than the {d} bytes declared"
            ))));
        }
        if end > max {
            return Err(Pour::Refused(ApiError::TooLarge { max }));
        }
        writer.write(chunk).await.map_err(Pour::Store)?;
    }
    let got = writer.offset() - start;
    match declared {
        Some(d) if got != d => Err(Pour::Stopped(format!(
            "{got} of the {d} bytes declared arrived"
        ))),
        _ => Ok(()),
    }
}

/// 413 when `offset` bytes plus `more` would pass `--max-blob-size`.
fn check_size<S: ContentStore>(
    app: &Arc<App<S>>,
    offset: u64,
    more: Option<u64>,
) -> Result<(), ApiError> {
    let max = app.writes.max_blob_size;
    match more {
        Some(more) if offset.saturating_add(more) > max => Err(ApiError::TooLarge { max }),
        _ => Ok(()),
    }
}

/// `Content-Length`, if sent: a number, or the request is invalid.
fn content_length(headers: &HeaderMap) -> Result<Option<u64>, ApiError> {
    match headers.get(header::CONTENT_LENGTH) {
        None => Ok(None),
        Some(v) => v
            .to_str()
            .ok()
            .and_then(|v| v.trim().parse().ok())
            .map(Some)
            .ok_or_else(|| ApiError::BlobUploadInvalid("a malformed Content-Length".into())),
    }
}

/// How many bytes a chunk request for a session holding `offset` bytes declares: with
/// `Content-Range: a-b` (the spec's form, without `bytes `; the `bytes a-b/*` form some
/// clients send is taken too) `a` must be `offset` (else 416) and `Content-Length`, if sent,
/// `b - a + 1` (else 400 `SIZE_INVALID`); without it, `Content-Length` or nothing (a stream).
fn chunk_length(headers: &HeaderMap, offset: u64) -> Result<Option<u64>, ApiError> {
    let length = content_length(headers)?;
    let Some(range) = headers.get(header::CONTENT_RANGE) else {
        return Ok(length);
    };
    let (start, end) = range
        .to_str()
        .ok()
        .and_then(parse_content_range)
        .ok_or(ApiError::ChunkOutOfOrder { offset })?;
    if start != offset {
        return Err(ApiError::ChunkOutOfOrder { offset });
    }
    let chunk = end - start + 1;
    if length.is_some_and(|l| l != chunk) {
        return Err(ApiError::SizeInvalid(format!(
            "Content-Range names {chunk} bytes, Content-Length {}",
            length.unwrap_or(0)
        )));
    }
    Ok(Some(chunk))
}

/// `a-b` (inclusive, `a <= b`), optionally as `bytes a-b` or `bytes a-b/total`; digits only,
/// so a negative or huge number is no range.
fn parse_content_range(text: &str) -> Option<(u64, u64)> {
    let text = text.trim();
    let text = text.strip_prefix("bytes ").unwrap_or(text).trim();
    let text = text.split_once('/').map_or(text, |(r, _)| r);
    let (a, b) = text.split_once('-')?;
    let number = |s: &str| -> Option<u64> {
        (!s.is_empty() && s.len() <= 19 && s.bytes().all(|c| c.is_ascii_digit()))
            .then(|| s.parse().ok())
            .flatten()
    };
    let (a, b) = (number(a)?, number(b)?);
    (a <= b).then_some((a, b))
}

/// Where a session is: `Location`, `Range: 0-<last byte>` (0-0 when empty, as distribution
/// sends it) and `Docker-Upload-UUID`, with status 202.
fn accepted(name: &str, id: &UploadId, offset: u64) -> Response<Body> {
    let mut response = Response::new(Body::empty());
    *response.status_mut() = StatusCode::ACCEPTED;
    let h = response.headers_mut();
    h.insert(
        header::LOCATION,
        value(format!("/v2/{name}/blobs/uploads/{id}")),
    );
    h.insert(
        header::RANGE,
        value(format!("0-{}", offset.saturating_sub(1))),
    );
    h.insert(UPLOAD_UUID, value(id.to_string()));
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(0));
    response
}

/// 201: the blob is at `Location`.
fn created(name: &str, digest: &Digest) -> Response<Body> {
    let mut response = Response::new(Body::empty());
    *response.status_mut() = StatusCode::CREATED;
    let h = response.headers_mut();
    h.insert(
        header::LOCATION,
        value(format!("/v2/{name}/blobs/{digest}")),
    );
    h.insert(CONTENT_DIGEST, value(digest.to_string()));
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(0));
    response
}

/// Aborts upload sessions idle for longer than `--upload-ttl`, and counts the others (those
/// an earlier run left too), every `ttl / 4` (at least each second, at most each minute),
/// for as long as the server runs (the app is gone once it stopped).
pub(super) async fn sweep<S: ContentStore>(app: std::sync::Weak<App<S>>) {
    loop {
        let Some(app) = app.upgrade() else {
            return;
        };
        let ttl = app.writes.upload_ttl;
        if let Err(e) = sweep_once(&app, ttl).await {
            tracing::warn!("sweeping expired upload sessions failed: {e}");
        }
        drop(app);
        let period = (ttl / 4).clamp(Duration::from_secs(1), Duration::from_secs(60));
        tokio::time::sleep(period).await;
    }
}

/// One pass of [`sweep`].
pub(super) async fn sweep_once<S: ContentStore>(
    app: &Arc<App<S>>,
    ttl: Duration,
) -> Result<(), StoreError> {
    let now = SystemTime::now();
    let idle = |t: SystemTime| now.duration_since(t).is_ok_and(|d| d > ttl);
    for info in app.source.uploads().await? {
        let touched = app.sessions.lock().get(&info.id).copied();
        let last = touched.map_or(info.updated, |t| t.max(info.updated));
        if !idle(last) {
            app.sessions.lock().insert(info.id, last);
            continue;
        }
        if let Some(writer) = app.source.upload(&info.id, None).await? {
            writer.abort().await?;
            tracing::info!("upload {}: expired after {ttl:?} idle", info.id);
        }
        app.sessions.forget(&info.id);
    }
    // Sessions gone some other way (or held for a whole TTL) stop counting.
    app.sessions.lock().retain(|_, t| !idle(*t));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_ranges() {
        let cases: [(&str, Option<(u64, u64)>); 12] = [
            ("0-0", Some((0, 0))),
            ("0-99", Some((0, 99))),
            ("bytes 10-19", Some((10, 19))),
            ("bytes 10-19/*", Some((10, 19))),
            (" 5-6 ", Some((5, 6))),
            ("9-3", None),
            ("-1-5", None),
            ("0--5", None),
            ("a-b", None),
            ("", None),
            ("99999999999999999999-99999999999999999999", None),
            ("0-18446744073709551615", None),
        ];
        for (text, want) in cases {
            assert_eq!(parse_content_range(text), want, "{text}");
        }
    }

    #[test]
    fn session_ids_are_bound_to_their_repository() {
        let id = new_session("team/app").unwrap();
        assert_eq!(session_of("team/app", id.as_str()).unwrap(), id);
        for (name, text) in [
            ("team/other", id.as_str()),
            ("team/app", "../x"),
            ("team/app", "%2e%2e"),
            ("team/app", "0123"),
            ("team/app", &id.as_str()[..40]),
        ] {
            assert!(
                matches!(session_of(name, text), Err(ApiError::BlobUploadUnknown)),
                "{name} {text}"
            );
        }
    }
}
