//! The content store in an S3 bucket (issue 14): the third [`ContentStore`], for several
//! `serve` replicas (or CLI runs on several machines) sharing one cache on an object store.
//!
//! Layout below `s3://bucket/prefix/`, mirroring the OCI image layout so that a bucket synced
//! to disk is one (`oci-layout`, `blobs/<alg>/<hex>`), plus:
//!
//! ```text
//! oci-layout                          {"imageLayoutVersion":"1.0.0"}
//! blobs/<alg>/<hex>                   verified content, written only by a verifying commit
//! refs/<sha256 of the name>.json      one reference's index entries (see "Refs" below)
//! ingest/<alg>/<hex>/state.json       a partial blob: its multipart upload and hasher state
//! ingest/<alg>/<hex>/tail             the bytes after the last uploaded part
//! ingest/<alg>/<hex>/piece-<start>    bytes written ahead of the rest (segments), kept aside
//! uploads/<id>/…                      an upload session: the same, whose multipart upload
//!                                     targets uploads/<id>/data until its digest is known
//! quarantine/<alg>/<hex>              blobs taken out of service
//! ```
//!
//! What is promised, and how:
//!
//! - *Verified content only.* A writer streams into a multipart upload whose target is the
//!   blob's own key, hashing each part as it goes; the upload is completed only when size
//!   and digest match, and aborted otherwise, so a mismatch leaves neither an object under
//!   the key nor a multipart upload. Two writers of one digest (two replicas) complete the
//!   same bytes under the same key: harmless, and the later one sees the blob and aborts.
//! - *Resume.* A writer's state (the multipart upload id, its parts' ETags, the hasher's saved
//!   state) is a small object beside its tail; a later writer, in this process or after a
//!   kill, continues from the last recorded part.
//! - *Locks* are per process: within one process a digest has one writer at a time, as the
//!   contract says. Across replicas nothing is locked: two replicas fetching one cold blob
//!   both transfer it (the duplicate transfer the issue allows), and the second commit is a
//!   no-op. They must not resume one partial at the same moment: each replica resumes only what
//!   it (or a killed run) left, which the state object's writer id makes visible to `cache ls`.
//! - *Refs.* Each reference is its own object, written whole; [`ContentStore::refs`] lists
//!   them. Updates of different references by different replicas never lose each other; two
//!   replicas moving the same tag at the same moment: the last write wins, as a registry's
//!   tag PUT does. Within a process updates are serialised.
//! - *Reads* are ranged GETs ([`RemoteBody`]); [`ContentStore::locate`] hands out a presigned
//!   GET URL when the store was opened for redirects (`serve --redirect`).

mod any;
mod maintain;
mod profile;
mod uploads;
mod writer;

use std::collections::HashSet;
use std::fmt;
use std::io;
use std::ops::Range;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use bytes::Bytes;
use futures_util::{StreamExt as _, TryStreamExt as _};
use object_store::aws::{AmazonS3, AmazonS3Builder, AmazonS3ConfigKey};
use object_store::path::Path;
use object_store::signer::Signer as _;
use object_store::{GetOptions, GetRange, ObjectStore, ObjectStoreExt as _, PutPayload};
use tokio::sync::Notify;

pub use any::{AnyStore, AnyWriter};
pub use writer::S3Writer;

use super::content::{
    Blob, ByteStream, ContentStore, Deleted, Location, Partial, RemoteBody, StoredBlob,
    WriterAttempt,
};
use super::{LAYOUT_VERSION, LayoutIndex, Refs, StoreError, UploadId, UploadInfo};
use crate::digest::{Algorithm, Digest};

/// The most a layout marker, state object or reference object may hold.
const SMALL_OBJECT: u64 = 4 << 20;

/// How long a presigned URL from [`ContentStore::locate`] stays valid.
const PRESIGN_FOR: Duration = Duration::from_secs(15 * 60);

/// Where the store is and how to reach it: `s3://bucket/prefix` plus the endpoint options.
/// Credentials and region come from the standard AWS environment variables
/// (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`, `AWS_REGION` or
/// `AWS_DEFAULT_REGION`, `AWS_ENDPOINT_URL`), as `object_store` reads them, and what they
/// leave out from the AWS profile files (`profile.rs`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Config {
    /// The bucket.
    pub bucket: String,
    /// The key prefix everything lives below (no leading or trailing `/`; may be empty).
    pub prefix: String,
    /// The S3 endpoint (`http://127.0.0.1:3900` for a local Garage); AWS's when `None`.
    pub endpoint: Option<String>,
    /// Path-style requests (`endpoint/bucket/key`), as most S3-compatible servers want,
    /// rather than virtual-hosted style (`bucket.endpoint/key`).
    pub path_style: bool,
    /// Whether [`ContentStore::locate`] hands out presigned URLs (`serve --redirect`).
    pub presign: bool,
    /// The region, when not from the environment.
    pub region: Option<String>,
    /// An access key id and secret, when not from the environment (tests).
    pub keys: Option<(String, String)>,
}

impl S3Config {
    /// Parses `s3://bucket[/prefix]`; `None` when `url` is not an `s3://` URL at all, an
    /// error when it is one but malformed.
    pub fn parse_url(url: &str) -> Option<Result<S3Config, String>> {
        let rest = url.strip_prefix("s3://")?;
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        let prefix = prefix.trim_matches('/');
        // S3's bucket naming rules: 3 to 63 of lowercase letters, digits, `.` and `-`.
        let bucket_ok = (3..=63).contains(&bucket.len())
            && bucket
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-');
        if !bucket_ok {
            return Some(Err(format!(
                "`{url}` does not name a bucket: a bucket name is 3 to 63 of [a-z0-9.-]"
            )));
        }
        if prefix.split('/').any(|s| s == "." || s == "..") || prefix.contains("//") {
            return Some(Err(format!(
                "`{url}` has an empty, `.` or `..` path segment"
            )));
        }
        Some(Ok(S3Config {
            bucket: bucket.to_owned(),
            prefix: prefix.to_owned(),
            endpoint: None,
            path_style: false,
            presign: false,
            region: None,
            keys: None,
        }))
    }

    /// The store's URL, `s3://bucket/prefix`.
    pub fn url(&self) -> String {
        if self.prefix.is_empty() {
            format!("s3://{}", self.bucket)
        } else {
            format!("s3://{}/{}", self.bucket, self.prefix)
        }
    }
}

/// A content store in an S3 bucket. Clones share one client and one set of locks.
#[derive(Clone)]
pub struct S3Store {
    inner: Arc<Inner>,
}

struct Inner {
    s3: Arc<AmazonS3>,
    config: S3Config,
    /// Digests (and upload sessions) a writer of this process holds.
    locked: Mutex<HashSet<String>>,
    /// Woken when a lock is released; each waiter checks its own key again.
    released: Notify,
    /// Serialises this process's reference updates.
    refs_lock: tokio::sync::Mutex<()>,
    /// Sends the one request `object_store` has no call for (ListMultipartUploads).
    lister: uploads::Lister,
}

impl fmt::Debug for S3Store {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("S3Store")
            .field("url", &self.inner.config.url())
            .finish_non_exhaustive()
    }
}

impl S3Store {
    /// Connects to the bucket and checks (or, with `create`, writes) its `oci-layout`. This
    /// first request is where wrong credentials show ([`StoreError::Remote`], category auth).
    pub async fn open(config: S3Config, create: bool) -> Result<S3Store, StoreError> {
        // object_store builds its own reqwest client, which (like ours, `client/mod.rs`)
        // needs the process's rustls provider: ring. A provider set already is kept.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let mut builder = AmazonS3Builder::from_env()
            .with_bucket_name(&config.bucket)
            .with_virtual_hosted_style_request(!config.path_style);
        // The profile files fill in what neither the environment nor the options say, as
        // the AWS CLI reads them; keys given in the options (tests) leave them unread.
        let profile = match &config.keys {
            Some(_) => profile::Profile::default(),
            None => profile::from_env().map_err(|e| StoreError::Remote {
                action: "find credentials for",
                key: config.url(),
                source: object_store::Error::Unauthenticated {
                    path: config.url(),
                    source: Box::new(e),
                },
            })?,
        };
        let endpoint = config.endpoint.clone().or(profile.endpoint);
        if let Some(endpoint) = &endpoint {
            builder = builder
                .with_endpoint(endpoint)
                .with_allow_http(endpoint.starts_with("http://"));
        }
        if let Some(region) = config.region.as_ref().or(profile.region.as_ref()) {
            builder = builder.with_region(region);
        }
        if let Some((id, secret)) = config.keys.as_ref().or(profile.keys.as_ref()) {
            builder = builder
                .with_access_key_id(id)
                .with_secret_access_key(secret);
        }
        if let Some(token) = &profile.token {
            builder = builder.with_token(token);
        }
        // SigV4 signs a hash of each body by default: a second SHA-256 pass over every part
        // (the writer hashes them already, with the blob's digest). Where the connection
        // itself protects the body (TLS, or loopback) `UNSIGNED-PAYLOAD` is sent instead, as
        // the AWS CLI does over HTTPS; plain HTTP to another host keeps the signed hash.
        let unsigned = match &endpoint {
            None => true,
            Some(e) => payload_is_protected(e),
        };
        builder = builder.with_unsigned_payload(unsigned);
        // object_store's own default, which its requests are signed with.
        let region = builder
            .get_config_value(&AmazonS3ConfigKey::Region)
            .unwrap_or_else(|| "us-east-1".to_owned());
        let endpoint = builder.get_config_value(&AmazonS3ConfigKey::Endpoint);
        let lister = uploads::Lister::new(
            &config.bucket,
            endpoint.as_deref(),
            config.path_style,
            &region,
        )
        .map_err(|e| StoreError::Remote {
            action: "set up a client for",
            key: config.url(),
            source: object_store::Error::Generic {
                store: "S3",
                source: Box::new(e),
            },
        })?;
        let s3 = builder.build().map_err(|source| StoreError::Remote {
            action: "set up a client for",
            key: config.url(),
            source,
        })?;
        let store = S3Store {
            inner: Arc::new(Inner {
                s3: Arc::new(s3),
                config,
                locked: Mutex::new(HashSet::new()),
                released: Notify::new(),
                refs_lock: tokio::sync::Mutex::new(()),
                lister,
            }),
        };
        store.check_layout(create).await?;
        Ok(store)
    }

    /// The store's URL, `s3://bucket/prefix`.
    pub fn url(&self) -> String {
        self.inner.config.url()
    }

    async fn check_layout(&self, create: bool) -> Result<(), StoreError> {
        let path = self.key("oci-layout");
        match self.get_small(&path, SMALL_OBJECT).await? {
            Some(bytes) => super::check_layout(std::path::Path::new(&self.display(&path)), &bytes),
            None if create => {
                let body = format!(r#"{{"imageLayoutVersion":"{LAYOUT_VERSION}"}}"#);
                self.put(&path, Bytes::from(body)).await
            }
            None => Err(StoreError::NoCache {
                path: self.url().into(),
            }),
        }
    }

    /// The object key of `rel` below the prefix.
    fn key(&self, rel: &str) -> Path {
        if self.inner.config.prefix.is_empty() {
            Path::from(rel)
        } else {
            Path::from(format!("{}/{rel}", self.inner.config.prefix))
        }
    }

    /// `rel` of a key below the prefix.
    fn rel<'a>(&self, path: &'a Path) -> Option<&'a str> {
        let prefix = &self.inner.config.prefix;
        if prefix.is_empty() {
            Some(path.as_ref())
        } else {
            path.as_ref()
                .strip_prefix(prefix.as_str())?
                .strip_prefix('/')
        }
    }

    /// How a key is named in messages: `s3://bucket/key`.
    fn display(&self, path: &Path) -> String {
        format!("s3://{}/{path}", self.inner.config.bucket)
    }

    fn remote(
        &self,
        action: &'static str,
        path: &Path,
    ) -> impl FnOnce(object_store::Error) -> StoreError {
        let key = self.display(path);
        move |source| StoreError::Remote {
            action,
            key,
            source,
        }
    }

    fn blob_key(&self, digest: &Digest) -> Path {
        self.key(&format!("blobs/{}/{}", digest.algorithm(), digest.hex()))
    }

    /// An object's size, `None` when there is none.
    async fn head(&self, path: &Path) -> Result<Option<u64>, StoreError> {
        match self.inner.s3.head(path).await {
            Ok(meta) => Ok(Some(meta.size)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(self.remote("look up", path)(e)),
        }
    }

    /// A small object's bytes, `None` when there is none. One larger than `max` is refused
    /// before its body is read: the bucket is shared, and what is in it is not trusted to be
    /// of the size our own writes give it.
    async fn get_small(&self, path: &Path, max: u64) -> Result<Option<Bytes>, StoreError> {
        let got = match self.inner.s3.get(path).await {
            Ok(got) => got,
            Err(object_store::Error::NotFound { .. }) => return Ok(None),
            Err(e) => return Err(self.remote("read", path)(e)),
        };
        if got.meta.size > max {
            return Err(StoreError::Corrupt {
                path: self.display(path).into(),
                reason: format!(
                    "it is {} bytes, more than the {max} expected",
                    got.meta.size
                ),
            });
        }
        got.bytes()
            .await
            .map(Some)
            .map_err(self.remote("read", path))
    }

    async fn put(&self, path: &Path, bytes: Bytes) -> Result<(), StoreError> {
        self.inner
            .s3
            .put(path, PutPayload::from(bytes))
            .await
            .map(drop)
            .map_err(self.remote("write", path))
    }

    /// Deletes an object; missing is fine.
    async fn remove(&self, path: &Path) -> Result<(), StoreError> {
        match self.inner.s3.delete(path).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(self.remote("delete", path)(e)),
        }
    }

    /// Every object below `rel/`, with its size.
    async fn list(&self, rel: &str) -> Result<Vec<(Path, u64)>, StoreError> {
        let prefix = self.key(rel);
        self.inner
            .s3
            .list(Some(&prefix))
            .map_ok(|meta| (meta.location, meta.size))
            .try_collect()
            .await
            .map_err(self.remote("list", &prefix))
    }

    /// Takes the in-process lock of `name` if nobody holds it.
    fn try_hold(&self, name: String) -> Option<Held> {
        if !self.locked().insert(name.clone()) {
            return None;
        }
        Some(Held {
            store: self.clone(),
            name,
        })
    }

    /// Takes the in-process lock of `name`, waiting while a writer holds it.
    async fn hold(&self, name: String) -> Held {
        loop {
            // Created before the check, so a release in between still wakes this waiter.
            let released = self.inner.released.notified();
            if let Some(held) = self.try_hold(name.clone()) {
                return held;
            }
            released.await;
        }
    }

    fn locked(&self) -> MutexGuard<'_, HashSet<String>> {
        // No critical section leaves the set half-changed: a poisoned lock's data is good.
        self.inner.locked.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The ingest directory of a digest's partial, or of an upload session.
    fn ingest_dir(name: &writer::Name) -> String {
        match name {
            writer::Name::Digest(d) => format!("ingest/{}/{}", d.algorithm(), d.hex()),
            writer::Name::Upload(id) => format!("uploads/{id}"),
        }
    }

    /// The reference table's object for one reference (its index entries' owner name).
    fn ref_key(&self, name: &str) -> Path {
        let hash = crate::digest::digest_bytes(Algorithm::Sha256, name.as_bytes());
        self.key(&format!("refs/{}.json", hash.hex()))
    }

    /// Builds the reference table from the per-reference objects.
    async fn read_refs(&self) -> Result<LayoutIndex, StoreError> {
        let mut objects = self.list("refs").await?;
        objects.sort();
        let mut manifests = Vec::new();
        for (path, _) in objects {
            let Some(bytes) = self.get_small(&path, SMALL_OBJECT).await? else {
                // Removed since the listing: that reference is gone.
                continue;
            };
            let entries: RefObject =
                serde_json::from_slice(&bytes).map_err(|e| StoreError::Corrupt {
                    path: self.display(&path).into(),
                    reason: e.to_string(),
                })?;
            manifests.extend(entries.manifests);
        }
        let doc = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": crate::manifest::OCI_INDEX,
            "manifests": manifests,
        });
        LayoutIndex::parse(doc.to_string().as_bytes()).map_err(|reason| StoreError::Corrupt {
            path: format!("{}/refs", self.url()).into(),
            reason,
        })
    }
}

/// One reference's object below `refs/`: its name and its entries of the layout's index.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct RefObject {
    name: String,
    manifests: Vec<serde_json::Value>,
}

/// A held in-process lock; dropping it releases the lock and wakes the waiters.
struct Held {
    store: S3Store,
    name: String,
}

impl Drop for Held {
    fn drop(&mut self) {
        self.store.locked().remove(&self.name);
        self.store.inner.released.notify_waiters();
    }
}

/// A blob's object, read by ranged GETs.
#[derive(Debug)]
struct Object {
    s3: Arc<AmazonS3>,
    path: Path,
}

impl RemoteBody for Object {
    fn get(
        &self,
        range: Range<u64>,
    ) -> futures_util::future::BoxFuture<'static, io::Result<ByteStream>> {
        let (s3, path) = (self.s3.clone(), self.path.clone());
        Box::pin(async move {
            let options = GetOptions {
                range: Some(GetRange::Bounded(range)),
                ..GetOptions::default()
            };
            let got = s3
                .get_opts(&path, options)
                .await
                .map_err(io::Error::other)?;
            Ok(got.into_stream().map_err(io::Error::other).boxed())
        })
    }
}

/// Parses `…/blobs/<alg>/<hex>` (the part after the prefix) into a digest.
fn blob_digest(rel: &str, dir: &str) -> Option<Digest> {
    let rest = rel.strip_prefix(dir)?.strip_prefix('/')?;
    let (alg, hex) = rest.split_once('/')?;
    format!("{alg}:{hex}").parse().ok()
}

impl ContentStore for S3Store {
    type Writer = S3Writer;

    async fn stat(&self, digest: &Digest) -> Result<Option<u64>, StoreError> {
        self.head(&self.blob_key(digest)).await
    }

    async fn open(&self, digest: &Digest) -> Result<Option<Blob>, StoreError> {
        let path = self.blob_key(digest);
        Ok(self.head(&path).await?.map(|size| {
            let object = Object {
                s3: self.inner.s3.clone(),
                path,
            };
            Blob::remote(Arc::new(object), size)
        }))
    }

    async fn locate(&self, digest: &Digest) -> Result<Location, StoreError> {
        if !self.inner.config.presign {
            return Ok(Location::Here);
        }
        let path = self.blob_key(digest);
        let url = self
            .inner
            .s3
            .signed_url(http_method_get(), &path, PRESIGN_FOR)
            .await
            .map_err(self.remote("presign a URL for", &path))?;
        Ok(Location::Url(url.to_string()))
    }

    async fn writer(&self, digest: &Digest, size: Option<u64>) -> Result<S3Writer, StoreError> {
        let name = writer::Name::Digest(digest.clone());
        let held = self.hold(name.lock_name()).await;
        S3Writer::resume(self.clone(), digest, held, size).await
    }

    async fn try_writer(
        &self,
        digest: &Digest,
        size: Option<u64>,
    ) -> Result<WriterAttempt<S3Writer>, StoreError> {
        let name = writer::Name::Digest(digest.clone());
        match self.try_hold(name.lock_name()) {
            Some(held) => Ok(WriterAttempt::Ready(
                S3Writer::resume(self.clone(), digest, held, size).await?,
            )),
            None => Ok(WriterAttempt::Busy { holder: None }),
        }
    }

    async fn upload(
        &self,
        id: &UploadId,
        start: Option<Algorithm>,
    ) -> Result<Option<S3Writer>, StoreError> {
        let name = writer::Name::Upload(id.clone());
        let held = self.hold(name.lock_name()).await;
        S3Writer::session(self.clone(), name, held, start).await
    }

    async fn uploads(&self) -> Result<Vec<UploadInfo>, StoreError> {
        let mut out = Vec::new();
        for (path, _) in self.list("uploads").await? {
            let Some(rel) = self.rel(&path) else { continue };
            let Some(id) = rel
                .strip_prefix("uploads/")
                .and_then(|r| r.strip_suffix("/state.json"))
                .and_then(|id| id.parse::<UploadId>().ok())
            else {
                continue;
            };
            let name = writer::Name::Upload(id.clone());
            if self.locked().contains(&name.lock_name()) {
                continue;
            }
            if let Some(state) = writer::State::read(self, &name).await?
                && let Some(algorithm) = state.algorithm()
            {
                out.push(UploadInfo {
                    id,
                    algorithm,
                    bytes: state.offset,
                    updated: state.updated(),
                });
            }
        }
        out.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(out)
    }

    async fn blobs(&self) -> Result<Vec<StoredBlob>, StoreError> {
        let mut out: Vec<StoredBlob> = self
            .list("blobs")
            .await?
            .into_iter()
            .filter_map(|(path, size)| {
                let digest = blob_digest(self.rel(&path)?, "blobs")?;
                Some(StoredBlob { digest, size })
            })
            .collect();
        out.sort_by(|a, b| a.digest.cmp(&b.digest));
        Ok(out)
    }

    async fn partials(&self) -> Result<Vec<Partial>, StoreError> {
        let mut out = Vec::new();
        for (path, _) in self.list("ingest").await? {
            let Some(rel) = self.rel(&path) else { continue };
            let Some(digest) = rel
                .strip_suffix("/state.json")
                .and_then(|dir| blob_digest(dir, "ingest"))
            else {
                continue;
            };
            let name = writer::Name::Digest(digest.clone());
            if self.locked().contains(&name.lock_name()) {
                continue;
            }
            if let Some(state) = writer::State::read(self, &name).await? {
                out.push(Partial {
                    digest,
                    bytes: state.offset,
                });
            }
        }
        out.sort_by(|a, b| a.digest.cmp(&b.digest));
        Ok(out)
    }

    async fn delete(&self, digest: &Digest) -> Result<Deleted, StoreError> {
        let path = self.blob_key(digest);
        if self.head(&path).await?.is_none() {
            return Ok(Deleted::Missing);
        }
        if self
            .locked()
            .contains(&writer::Name::Digest(digest.clone()).lock_name())
        {
            return Ok(Deleted::Busy);
        }
        self.remove(&path).await?;
        Ok(Deleted::Removed)
    }

    async fn quarantine(&self, digest: &Digest) -> Result<(), StoreError> {
        let path = self.blob_key(digest);
        let aside = self.key(&format!(
            "quarantine/{}/{}",
            digest.algorithm(),
            digest.hex()
        ));
        match self.inner.s3.copy(&path, &aside).await {
            Ok(()) => self.remove(&path).await,
            // Missing is fine: there is nothing to take out of service.
            Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(self.remote("move to quarantine/", &path)(e)),
        }
    }

    async fn refs(&self) -> Result<Arc<Refs>, StoreError> {
        Ok(Arc::new(Refs::new(self.read_refs().await?)))
    }

    async fn update_refs<T, F>(&self, change: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut LayoutIndex) -> (T, bool) + Send + 'static,
    {
        let _serial = self.inner.refs_lock.lock().await;
        let before = self.read_refs().await?;
        let mut after = before.clone();
        let (result, changed) = change(&mut after);
        if !changed {
            return Ok(result);
        }
        // Only the references whose entries changed are written: another replica's edits of
        // other references, made since `before` was read, stay.
        let groups = |index: &LayoutIndex| {
            let mut map = std::collections::BTreeMap::<String, Vec<serde_json::Value>>::new();
            for d in index.entries() {
                if let Ok(v) = serde_json::to_value(&d) {
                    map.entry(super::index::group_name(&d)).or_default().push(v);
                }
            }
            map
        };
        let (old, new) = (groups(&before), groups(&after));
        for (name, manifests) in &new {
            if old.get(name) != Some(manifests) {
                let object = RefObject {
                    name: name.clone(),
                    manifests: manifests.clone(),
                };
                let bytes = serde_json::to_vec_pretty(&object).unwrap_or_default();
                self.put(&self.ref_key(name), bytes.into()).await?;
            }
        }
        for name in old.keys().filter(|n| !new.contains_key(*n)) {
            self.remove(&self.ref_key(name)).await?;
        }
        Ok(result)
    }
}

/// Whether requests to `endpoint` protect their bodies without a signed hash: HTTPS, or a
/// loopback address (the origin rules the credentials code uses).
fn payload_is_protected(endpoint: &str) -> bool {
    reqwest::Url::parse(endpoint)
        .ok()
        .and_then(|url| crate::reference::Origin::of(&url))
        .is_some_and(|origin| origin.scheme() == "https" || origin.is_loopback())
}

/// `GET`, as the signer's HTTP types (the `http` crate's, which reqwest re-exports) spell it.
fn http_method_get() -> reqwest::Method {
    reqwest::Method::GET
}

#[cfg(test)]
pub(crate) mod garage;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn s3_urls() {
        let c = S3Config::parse_url("s3://my-bucket/team/cache/")
            .unwrap()
            .unwrap();
        assert_eq!(
            (c.bucket.as_str(), c.prefix.as_str()),
            ("my-bucket", "team/cache")
        );
        assert_eq!(c.url(), "s3://my-bucket/team/cache");
        let c = S3Config::parse_url("s3://my-bucket").unwrap().unwrap();
        assert_eq!(
            (c.prefix.as_str(), c.url().as_str()),
            ("", "s3://my-bucket")
        );
        assert!(S3Config::parse_url("/var/cache").is_none());
        for bad in [
            "s3://",
            "s3://UPPER/x",
            "s3://ab",
            "s3://b_x/y",
            "s3://bucket/a/../b",
            "s3://bucket/a//b",
        ] {
            assert!(S3Config::parse_url(bad).unwrap().is_err(), "{bad}");
        }
    }

    #[test]
    fn unsigned_payloads_only_where_the_connection_protects_them() {
        for (endpoint, protected) in [
            ("https://s3.example", true),
            ("http://127.0.0.1:3900", true),
            ("http://127.8.0.1", true),
            ("http://[::1]:9000", true),
            ("http://localhost:9000", true),
            ("http://10.0.0.5:3900", false),
            ("http://s3.internal", false),
            ("not a url", false),
        ] {
            assert_eq!(payload_is_protected(endpoint), protected, "{endpoint}");
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn contract_on_garage() {
        let Some(node) = garage::Garage::start_or_skip().await else {
            return;
        };
        let store = node.store("contract").await;
        crate::store::content::contract::check(store).await;
    }

    /// Blobs of several parts: written in two sittings (parts, a tail object, a piece written
    /// ahead), resumed, committed and read back by range; a mismatch publishes nothing.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn multipart_blobs_on_garage() {
        use crate::digest::digest_bytes;
        use crate::store::BlobWriter as _;
        let Some(node) = garage::Garage::start_or_skip().await else {
            return;
        };
        let store = node.store("multipart").await;
        let data: Vec<u8> = (0..(20u32 << 20)).map(|i| (i % 253) as u8).collect();
        let d = digest_bytes(Algorithm::Sha256, &data);
        let mib = 1usize << 20;
        let mut w = store.writer(&d, Some(data.len() as u64)).await.unwrap();
        // 18..20 MiB first (held aside), then 0..10 MiB in 1 MiB chunks: one part and a tail.
        w.write_at(18 << 20, Bytes::copy_from_slice(&data[18 * mib..]))
            .await
            .unwrap();
        for at in (0..10 * mib).step_by(mib) {
            w.write_at(at as u64, Bytes::copy_from_slice(&data[at..at + mib]))
                .await
                .unwrap();
        }
        assert_eq!(w.close().await.unwrap(), 20 << 20);
        let partials = store.partials().await.unwrap();
        assert_eq!(partials.len(), 1);
        let mut w = store.writer(&d, Some(data.len() as u64)).await.unwrap();
        assert_eq!(w.offset(), 20 << 20);
        w.write_at(10 << 20, Bytes::copy_from_slice(&data[10 * mib..18 * mib]))
            .await
            .unwrap();
        w.commit(&d).await.unwrap();
        assert!(store.partials().await.unwrap().is_empty());
        assert_eq!(store.stat(&d).await.unwrap(), Some(data.len() as u64));
        let blob = store.open(&d).await.unwrap().unwrap();
        let range = (7 << 20) + 3..(17 << 20) + 5;
        let got = blob
            .read_range(range.start as u64..range.end as u64)
            .unwrap();
        assert_eq!(&got[..], &data[range]);
        assert_eq!(blob.hash(Algorithm::Sha256).unwrap(), d);
        // No stray objects: the blob and the layout marker only.
        let mut keys: Vec<String> = store
            .list("")
            .await
            .unwrap()
            .into_iter()
            .map(|(p, _)| p.to_string())
            .collect();
        keys.sort();
        assert_eq!(
            keys,
            vec![
                format!("cache/blobs/sha256/{}", d.hex()),
                "cache/oci-layout".into()
            ]
        );

        // Wrong bytes across several parts: nothing under the key.
        let mut wrong = data.clone();
        wrong[15 << 20] ^= 1;
        let mut w = store
            .writer(&digest_bytes(Algorithm::Sha256, b"x"), None)
            .await
            .unwrap();
        w.write(Bytes::from(wrong)).await.unwrap();
        let claimed = digest_bytes(Algorithm::Sha256, b"x");
        let err = w.commit(&claimed).await.unwrap_err();
        assert!(matches!(err, StoreError::Mismatch { .. }), "{err}");
        assert_eq!(store.stat(&claimed).await.unwrap(), None);
        assert_eq!(store.list("").await.unwrap().len(), 2);
    }

    /// Two replicas (two stores on one bucket) write one blob at once, the older upload
    /// finishing last: Garage ends it when the newer one completes, and the older writer's
    /// remaining writes and its commit succeed, leaving the published blob whole.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn two_writers_of_one_blob_on_one_bucket_both_succeed() {
        use crate::digest::digest_bytes;
        use crate::store::BlobWriter as _;
        let Some(node) = garage::Garage::start_or_skip().await else {
            return;
        };
        let a = node.store("race").await;
        let b = S3Store::open(node.config("race"), true).await.unwrap();
        let data: Vec<u8> = (0..(30u32 << 20)).map(|i| (i % 251) as u8).collect();
        let d = digest_bytes(Algorithm::Sha256, &data);
        let size = Some(data.len() as u64);
        let mib = 1usize << 20;
        let chunk = |at: usize| Bytes::copy_from_slice(&data[at..at + mib]);
        let mut older = b.writer(&d, size).await.unwrap();
        for at in (0..10 * mib).step_by(mib) {
            older.write(chunk(at)).await.unwrap();
        }
        let mut newer = a.writer(&d, size).await.unwrap();
        for at in (0..30 * mib).step_by(mib) {
            newer.write(chunk(at)).await.unwrap();
        }
        newer.commit(&d).await.unwrap();
        for at in (10 * mib..30 * mib).step_by(mib) {
            older.write(chunk(at)).await.unwrap();
        }
        assert_eq!(older.offset(), data.len() as u64);
        older.commit(&d).await.unwrap();
        for store in [&a, &b] {
            let blob = store.open(&d).await.unwrap().unwrap();
            assert_eq!(blob.hash(Algorithm::Sha256).unwrap(), d);
            assert!(store.partials().await.unwrap().is_empty());
        }
    }
}
