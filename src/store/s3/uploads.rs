//! Multipart uploads no state object names (issue 14): a writer killed after
//! CreateMultipartUpload but before it saved `state.json` leaves an upload that holds its parts'
//! bytes (and is billed for them) but no object shows. `cache gc` finds them with S3's
//! ListMultipartUploads below the store's prefix and aborts those initiated more than
//! `--ingest-age` ago that no `state.json` names and no writer of this process holds.
//!
//! `object_store` has no call to list uploads, so this module sends the one request itself:
//! `GET /?uploads&prefix=…`, signed with `object_store`'s own SigV4 signer
//! ([`AwsAuthorizer`]) and the store's own credential provider, so the keys, session token and
//! region are the ones every other request uses. Aborting goes through `object_store` again.
//! The answer is parsed by a pure function ([`parse_page`]), tested with tables of good and
//! hostile bodies.

use std::collections::HashSet;
use std::time::{Duration, SystemTime};

use object_store::aws::AwsAuthorizer;
use object_store::client::HttpRequestBody;
use object_store::multipart::MultipartStore as _;
use object_store::path::Path;
use serde::Deserialize;

use super::writer::{Name, State};
use super::{S3Store, blob_digest};
use crate::store::{IngestInfo, StoreError};

/// The most one page of the listing may hold (1000 uploads are about 400 KiB).
const PAGE_MAX: usize = 8 << 20;
/// The most pages read (of 1000 uploads each): a server that keeps saying "truncated" with
/// the same markers must not keep gc listing for ever.
const PAGES_MAX: usize = 1000;

/// How the listing request is sent: where the bucket is and who signs.
#[derive(Debug)]
pub(super) struct Lister {
    http: reqwest::Client,
    /// The bucket's URL (`http://127.0.0.1:3900/bucket`, `https://bucket.s3.region.amazonaws.com`).
    bucket_url: String,
    region: String,
}

impl Lister {
    /// The lister of bucket `bucket`, as `object_store` would address it with these settings
    /// (`AmazonS3Builder::build`'s rule for the bucket endpoint).
    pub(super) fn new(
        bucket: &str,
        endpoint: Option<&str>,
        path_style: bool,
        region: &str,
    ) -> Result<Lister, reqwest::Error> {
        let bucket_url = match (endpoint, path_style) {
            (Some(e), false) => e.trim_end_matches('/').to_owned(),
            (Some(e), true) => format!("{}/{bucket}", e.trim_end_matches('/')),
            (None, false) => format!("https://{bucket}.s3.{region}.amazonaws.com"),
            (None, true) => format!("https://s3.{region}.amazonaws.com/{bucket}"),
        };
        let http = reqwest::Client::builder()
            .no_gzip()
            .no_brotli()
            .no_deflate()
            .no_zstd()
            .referer(false)
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(Duration::from_secs(30))
            .read_timeout(Duration::from_secs(60))
            .build()?;
        Ok(Lister {
            http,
            bucket_url,
            region: region.to_owned(),
        })
    }
}

/// One multipart upload under way.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Upload {
    /// Its target key (the whole key, prefix included).
    pub key: String,
    /// Its id.
    pub id: String,
    /// When it was initiated.
    pub initiated: SystemTime,
}

/// One page of ListMultipartUploads: the uploads and, when truncated, the markers of the next.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Page {
    pub uploads: Vec<Upload>,
    pub next: Option<(String, String)>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ListXml {
    #[serde(default)]
    is_truncated: Option<String>,
    #[serde(default)]
    next_key_marker: Option<String>,
    #[serde(default)]
    next_upload_id_marker: Option<String>,
    #[serde(default, rename = "Upload")]
    uploads: Vec<UploadXml>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct UploadXml {
    key: String,
    upload_id: String,
    initiated: String,
}

/// Parses a `ListMultipartUploadsResult` body. An upload whose fields are malformed is an
/// error, not skipped: gc must not decide on a listing it half understood.
pub(super) fn parse_page(body: &[u8]) -> Result<Page, String> {
    let text = std::str::from_utf8(body).map_err(|e| format!("the listing is not UTF-8: {e}"))?;
    let doc: ListXml =
        quick_xml::de::from_str(text).map_err(|e| format!("the listing is not understood: {e}"))?;
    let mut uploads = Vec::with_capacity(doc.uploads.len());
    for u in doc.uploads {
        let initiated = chrono::DateTime::parse_from_rfc3339(u.initiated.trim())
            .map_err(|e| format!("upload `{}` has an unusable `Initiated` ({e})", u.upload_id))?;
        let secs = u64::try_from(initiated.timestamp()).unwrap_or(0);
        if u.key.is_empty() || u.upload_id.is_empty() {
            return Err("an upload without a key or id".into());
        }
        uploads.push(Upload {
            key: u.key,
            id: u.upload_id,
            initiated: SystemTime::UNIX_EPOCH + Duration::from_secs(secs),
        });
    }
    let truncated = doc
        .is_truncated
        .is_some_and(|t| t.trim().eq_ignore_ascii_case("true"));
    let next = if truncated {
        match (doc.next_key_marker, doc.next_upload_id_marker) {
            (Some(k), Some(u)) if !k.is_empty() => Some((k, u)),
            _ => return Err("a truncated listing without its next markers".into()),
        }
    } else {
        None
    };
    Ok(Page { uploads, next })
}

impl S3Store {
    /// Every multipart upload under way below the store's prefix.
    pub(super) async fn multipart_uploads(&self) -> Result<Vec<Upload>, StoreError> {
        let lister = &self.inner.lister;
        let prefix = if self.inner.config.prefix.is_empty() {
            String::new()
        } else {
            format!("{}/", self.inner.config.prefix)
        };
        let what = format!("{}?uploads", self.url());
        let fail = |source: object_store::Error| StoreError::Remote {
            action: "list the multipart uploads of",
            key: what.clone(),
            source,
        };
        let generic = |reason: String| object_store::Error::Generic {
            store: "S3",
            source: reason.into(),
        };
        let mut out = Vec::new();
        let mut marker: Option<(String, String)> = None;
        for _ in 0..PAGES_MAX {
            let mut url = reqwest::Url::parse(&format!("{}/", lister.bucket_url))
                .map_err(|e| fail(generic(format!("unusable bucket URL: {e}"))))?;
            {
                let mut q = url.query_pairs_mut();
                q.append_pair("uploads", "");
                if !prefix.is_empty() {
                    q.append_pair("prefix", &prefix);
                }
                if let Some((key, id)) = &marker {
                    q.append_pair("key-marker", key);
                    q.append_pair("upload-id-marker", id);
                }
            }
            let credential = self
                .inner
                .s3
                .credentials()
                .get_credential()
                .await
                .map_err(fail)?;
            let mut request = http::Request::builder()
                .method(http::Method::GET)
                .uri(url.as_str())
                .body(HttpRequestBody::empty())
                .map_err(|e| fail(generic(e.to_string())))?;
            AwsAuthorizer::new(&credential, "s3", &lister.region)
                .try_authorize(&mut request, None)
                .map_err(fail)?;
            let response = lister
                .http
                .get(url.clone())
                .headers(request.headers().clone())
                .send()
                .await
                .map_err(|e| fail(generic(e.to_string())))?;
            let status = response.status();
            let body = read_capped(response, PAGE_MAX)
                .await
                .map_err(|e| fail(generic(e)))?;
            if !status.is_success() {
                let text =
                    String::from_utf8_lossy(body.get(..body.len().min(300)).unwrap_or_default());
                let excerpt = crate::text::sanitize(&text, crate::text::Lines::Escape);
                let source: Box<dyn std::error::Error + Send + Sync> =
                    format!("{status}: {excerpt}").into();
                return Err(fail(match status.as_u16() {
                    401 => object_store::Error::Unauthenticated {
                        path: what.clone(),
                        source,
                    },
                    403 => object_store::Error::PermissionDenied {
                        path: what.clone(),
                        source,
                    },
                    _ => object_store::Error::Generic {
                        store: "S3",
                        source,
                    },
                }));
            }
            let page = parse_page(&body).map_err(|e| fail(generic(e)))?;
            out.extend(page.uploads);
            match page.next {
                Some(next) if marker.as_ref() != Some(&next) => marker = Some(next),
                Some(_) => return Err(fail(generic("the listing repeats its markers".into()))),
                None => return Ok(out),
            }
        }
        Err(fail(generic(format!("more than {PAGES_MAX} pages"))))
    }

    /// The upload ids every `state.json` (partials and upload sessions) names now.
    async fn named_uploads(&self) -> Result<HashSet<String>, StoreError> {
        let mut named = HashSet::new();
        for area in ["ingest", "uploads"] {
            for (path, _) in self.list(area).await? {
                if !path.as_ref().ends_with("/state.json") {
                    continue;
                }
                let Some(bytes) = self.get_small(&path, super::SMALL_OBJECT).await? else {
                    continue;
                };
                if let Some(id) = State::upload_of(&bytes) {
                    named.insert(id);
                }
            }
        }
        Ok(named)
    }

    /// The writer name whose upload targets `key`, if it is one of ours.
    fn name_of_target(&self, key: &str) -> Option<Name> {
        let rel = self.rel(&Path::parse(key).ok()?)?.to_owned();
        if let Some(d) = blob_digest(&rel, "blobs") {
            return Some(Name::Digest(d));
        }
        let id = rel.strip_prefix("uploads/")?.strip_suffix("/data")?;
        Some(Name::Upload(id.parse().ok()?))
    }

    /// How an orphaned upload is named in `cache gc`'s report: the URL S3 addresses it by.
    fn orphan_path(&self, key: &str, id: &str) -> String {
        format!("s3://{}/{key}?uploadId={id}", self.inner.config.bucket)
    }

    /// Plans `cache gc` of orphaned multipart uploads: those to a blob's or an upload
    /// session's key below the prefix, initiated more than `age` ago, that no `state.json`
    /// names. Each is an [`IngestInfo`] whose path is
    /// `s3://bucket/key?uploadId=ID` (its size is not known without listing its parts: 0).
    pub(super) async fn plan_orphaned_uploads(
        &self,
        age: Duration,
    ) -> Result<Vec<IngestInfo>, StoreError> {
        let uploads = self.multipart_uploads().await?;
        if uploads.is_empty() {
            return Ok(Vec::new());
        }
        let named = self.named_uploads().await?;
        let now = SystemTime::now();
        let mut out = Vec::new();
        for u in uploads {
            if named.contains(&u.id) || now.duration_since(u.initiated).unwrap_or_default() < age {
                continue;
            }
            // Only uploads to keys of ours: a bucket (or a prefix) may be shared with other
            // tools, whose uploads are theirs to finish.
            let (digest, upload) = match self.name_of_target(&u.key) {
                Some(Name::Digest(d)) => (Some(d), None),
                Some(Name::Upload(id)) => (None, Some(id)),
                None => continue,
            };
            out.push(IngestInfo {
                path: self.orphan_path(&u.key, &u.id).into(),
                digest,
                upload,
                size: 0,
                modified: u.initiated,
            });
        }
        Ok(out)
    }

    /// Carries out one item of [`S3Store::plan_orphaned_uploads`]: `None` when `item` is not
    /// one (a partial's directory), `Some(false)` when a writer of this process holds its
    /// target (it may be the one that started it), `Some(true)` when it was aborted (or, dry,
    /// would be).
    pub(super) async fn collect_orphaned_upload(
        &self,
        item: &IngestInfo,
        dry_run: bool,
    ) -> Result<Option<bool>, StoreError> {
        let path = item.path.to_string_lossy();
        let Some((url, id)) = path.rsplit_once("?uploadId=") else {
            return Ok(None);
        };
        let Some(key) = url.strip_prefix(&format!("s3://{}/", self.inner.config.bucket)) else {
            return Ok(None);
        };
        let Ok(target) = Path::parse(key) else {
            return Ok(None);
        };
        if self.orphan_path(key, id) != path || self.rel(&target).is_none() {
            return Ok(None);
        }
        // A writer of this process that just started the upload holds its name.
        let Some(name) = self.name_of_target(key) else {
            return Ok(None);
        };
        let Some(_held) = self.try_hold(name.lock_name()) else {
            return Ok(Some(false));
        };
        if !dry_run {
            match self.inner.s3.abort_multipart(&target, &id.to_owned()).await {
                // Gone already (another gc, its writer's own abort): nothing to do.
                Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
                Err(e) => return Err(self.remote("abort a multipart upload of", &target)(e)),
            }
        }
        Ok(Some(true))
    }
}

/// Reads a response body, refusing one past `max` bytes.
async fn read_capped(mut response: reqwest::Response, max: usize) -> Result<Vec<u8>, String> {
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| e.to_string())? {
        if body.len() + chunk.len() > max {
            return Err(format!("the answer is larger than {max} bytes"));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    const PAGE: &str = r#"<?xml version="1.0" encoding="UTF-8"?><ListMultipartUploadsResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Bucket>bkt1</Bucket><Prefix>cache/</Prefix><MaxUploads>1000</MaxUploads><IsTruncated>false</IsTruncated><Upload><Initiated>2026-12-03T11:33:44.233Z</Initiated><Initiator><DisplayName>Dummy Key</DisplayName><ID>GKDummyKey</ID></Initiator><Key>cache/blobs/sha256/ab</Key><UploadId>5d2b</UploadId><Owner><DisplayName>Dummy Key</DisplayName><ID>GKDummyKey</ID></Owner><StorageClass>STANDARD</StorageClass></Upload><Upload><Key>cache/uploads/x/data</Key><UploadId>77</UploadId><Initiated>2026-12-03T11:00:00Z</Initiated></Upload></ListMultipartUploadsResult>"#;

    #[test]
    fn pages_of_garage_and_aws() {
        let page = parse_page(PAGE.as_bytes()).unwrap();
        assert_eq!(page.next, None);
        assert_eq!(page.uploads.len(), 2);
        assert_eq!(page.uploads[0].key, "cache/blobs/sha256/ab");
        assert_eq!(page.uploads[0].id, "5d2b");
        let t = page.uploads[1]
            .initiated
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap();
        assert_eq!(t.as_secs(), 1_796_295_600);
        // None at all, and a truncated page (AWS's documented example shape).
        let empty = r#"<ListMultipartUploadsResult><IsTruncated>false</IsTruncated></ListMultipartUploadsResult>"#;
        assert_eq!(
            parse_page(empty.as_bytes()).unwrap(),
            Page {
                uploads: vec![],
                next: None
            }
        );
        let truncated = r#"<ListMultipartUploadsResult><NextKeyMarker>k2</NextKeyMarker><NextUploadIdMarker>u2</NextUploadIdMarker><IsTruncated>true</IsTruncated><Upload><Key>k1</Key><UploadId>u1</UploadId><Initiated>2010-11-10T20:48:33.000Z</Initiated></Upload></ListMultipartUploadsResult>"#;
        let page = parse_page(truncated.as_bytes()).unwrap();
        assert_eq!(page.next, Some(("k2".into(), "u2".into())));
    }

    #[test]
    fn hostile_pages_are_errors() {
        let bad: &[&[u8]] = &[
            b"",
            b"\xff\xfe",
            b"<html>nope</html",
            b"<ListMultipartUploadsResult><Upload><Key>k</Key><UploadId>u</UploadId><Initiated>yesterday</Initiated></Upload></ListMultipartUploadsResult>",
            b"<ListMultipartUploadsResult><Upload><Key></Key><UploadId>u</UploadId><Initiated>2010-11-10T20:48:33Z</Initiated></Upload></ListMultipartUploadsResult>",
            b"<ListMultipartUploadsResult><Upload><UploadId>u</UploadId></Upload></ListMultipartUploadsResult>",
            b"<ListMultipartUploadsResult><IsTruncated>true</IsTruncated></ListMultipartUploadsResult>",
        ];
        for body in bad {
            assert!(
                parse_page(body).is_err(),
                "{}",
                String::from_utf8_lossy(body)
            );
        }
    }

    #[test]
    fn bucket_urls_as_object_store_builds_them() {
        let url = |e, p| Lister::new("bkt", e, p, "eu-west-1").unwrap().bucket_url;
        assert_eq!(
            url(Some("http://127.0.0.1:3900/"), true),
            "http://127.0.0.1:3900/bkt"
        );
        assert_eq!(
            url(Some("https://bkt.example"), false),
            "https://bkt.example"
        );
        assert_eq!(url(None, false), "https://bkt.s3.eu-west-1.amazonaws.com");
        assert_eq!(url(None, true), "https://s3.eu-west-1.amazonaws.com/bkt");
    }

    /// On Garage: an upload no state names is planned and aborted; one a saved state names is
    /// not (it goes with its partial), nor one outside the prefix, nor one whose digest a
    /// writer of this process holds.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn orphaned_uploads_on_garage() {
        use crate::digest::{Algorithm, digest_bytes};
        use crate::store::{BlobWriter as _, ContentStore as _};
        use bytes::Bytes;
        let Some(node) = super::super::garage::Garage::start_or_skip().await else {
            return;
        };
        let store = node.store("orphans").await;
        let orphan = digest_bytes(Algorithm::Sha256, b"orphan");
        let held = digest_bytes(Algorithm::Sha256, b"held");
        let s3 = store.inner.s3.clone();
        let orphan_id = s3.create_multipart(&store.blob_key(&orphan)).await.unwrap();
        let held_id = s3.create_multipart(&store.blob_key(&held)).await.unwrap();
        let outside = Path::from("elsewhere/blobs/x");
        let outside_id = s3.create_multipart(&outside).await.unwrap();
        // Inside the prefix but not a key of ours (another tool's): not touched either.
        let foreign_id = s3
            .create_multipart(&Path::from("cache/notes/x"))
            .await
            .unwrap();
        // A partial of more than a part: its state names its upload.
        let data: Vec<u8> = (0..(9u32 << 20)).map(|i| (i % 251) as u8).collect();
        let named = digest_bytes(Algorithm::Sha256, &data);
        let mut w = store.writer(&named, Some(data.len() as u64)).await.unwrap();
        // As a fetch does: a checkpoint first (a state with no upload), then the body.
        let note = crate::store::Checkpoint {
            size: Some(data.len() as u64),
            ..Default::default()
        };
        w.save_checkpoint(note).await.unwrap();
        w.write(Bytes::from(data)).await.unwrap();
        // Its upload was named by a state saved right after it was created, before any
        // further checkpoint or close.
        assert_eq!(store.named_uploads().await.unwrap().len(), 1);
        w.close().await.unwrap();

        let ids = |v: Vec<Upload>| {
            let mut ids: Vec<String> = v.into_iter().map(|u| u.id).collect();
            ids.sort();
            ids
        };
        assert_eq!(ids(store.multipart_uploads().await.unwrap()).len(), 4);
        assert!(
            store
                .plan_orphaned_uploads(Duration::from_secs(3600))
                .await
                .unwrap()
                .is_empty()
        );
        let plan = store.plan_orphaned_uploads(Duration::ZERO).await.unwrap();
        let mut planned: Vec<String> = plan.iter().map(|i| i.path.display().to_string()).collect();
        planned.sort();
        let mut want = vec![
            format!(
                "s3://orphans/cache/blobs/sha256/{}?uploadId={orphan_id}",
                orphan.hex()
            ),
            format!(
                "s3://orphans/cache/blobs/sha256/{}?uploadId={held_id}",
                held.hex()
            ),
        ];
        want.sort();
        assert_eq!(planned, want);
        assert!(plan.iter().any(|i| i.digest.as_ref() == Some(&orphan)));

        // The whole gc: the held one stays (in use), the partial goes with its upload.
        let _writer = store.writer(&held, None).await.unwrap();
        let gc = store.plan_gc(false, Duration::ZERO).await.unwrap();
        let report = store.collect_garbage(&gc, false).await.unwrap();
        assert_eq!(report.removed_ingest.len(), 2, "{report:?}");
        assert_eq!(report.ingest_in_use.len(), 1, "{report:?}");
        let left = ids(store.multipart_uploads().await.unwrap());
        let mut want = vec![held_id.clone(), foreign_id];
        want.sort();
        assert_eq!(left, want);
        // Outside the prefix: not ours, not touched.
        let all = {
            let mut c = store.inner.config.clone();
            c.prefix = String::new();
            S3Store::open(c, true)
                .await
                .unwrap()
                .multipart_uploads()
                .await
                .unwrap()
        };
        assert!(all.iter().any(|u| u.id == outside_id), "{all:?}");
        assert!(!all.iter().any(|u| u.id == orphan_id), "{all:?}");
    }
}
