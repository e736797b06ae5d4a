//! `fetch_blob` into the in-memory store, from layerget's own server (serving another in-memory
//! store) on 127.0.0.1: the transfer code keeps its promises on any [`ContentStore`], not only
//! on the local layout. (The integration tests cover the local layout against the reference
//! registry and hostile servers.)

use std::sync::Mutex;
use std::time::Duration;

use bytes::Bytes;

use super::*;
use crate::client::ClientOptions;
use crate::digest::{Algorithm, digest_bytes};
use crate::store::{BlobWriter, Checkpoint, MemoryStore, Segment};

/// What a transfer reported, in order.
#[derive(Default)]
struct Recorded(Mutex<Vec<String>>);

impl Recorded {
    fn events(&self) -> Vec<String> {
        self.0.lock().unwrap().clone()
    }
}

impl Progress for Recorded {
    fn waiting_for_lock(&self, holder: Option<u32>) {
        self.0.lock().unwrap().push(format!("waiting {holder:?}"));
    }
    fn started(&self, total: Option<u64>, done: u64) {
        self.0
            .lock()
            .unwrap()
            .push(format!("started {total:?} {done}"));
    }
    fn restarted(&self, reason: &str) {
        self.0.lock().unwrap().push(format!("restarted: {reason}"));
    }
}

/// `layerget serve` over `source` on a free loopback port; stopped when the runtime ends.
async fn serve(source: MemoryStore) -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(crate::server::run(
        listener,
        source,
        crate::server::Limits::default(),
        std::future::pending(),
    ));
    addr
}

fn blob(len: usize, seed: u32) -> Vec<u8> {
    (0..len as u32)
        .map(|i| (i.wrapping_mul(2_654_435_761).wrapping_add(seed) >> 13) as u8)
        .collect()
}

struct Setup {
    client: Client,
    reference: Reference,
    digest: Digest,
    data: Vec<u8>,
}

async fn setup(len: usize) -> Setup {
    let data = blob(len, 7);
    let digest = digest_bytes(Algorithm::Sha256, &data);
    let addr = serve(MemoryStore::with([data.clone()], b"")).await;
    let reference: Reference = format!("{addr}/team/app@{digest}").parse().unwrap();
    Setup {
        client: Client::new(ClientOptions::default()).unwrap(),
        reference,
        digest,
        data,
    }
}

impl Setup {
    /// Fetches the blob into `store`.
    async fn fetch(
        &self,
        store: &MemoryStore,
        options: FetchOptions,
        progress: &dyn Progress,
    ) -> Result<FetchOutcome, TransferError> {
        fetch_blob(
            &self.client,
            store,
            &self.reference,
            &self.digest,
            options,
            progress,
        )
        .await
    }
}

fn options(segments: u32) -> FetchOptions {
    FetchOptions {
        segments,
        segment_min: 1 << 20,
        retry: RetryPolicy {
            retries: 0,
            ..RetryPolicy::default()
        },
        ..FetchOptions::default()
    }
}

async fn stored(store: &MemoryStore, digest: &Digest) -> Vec<u8> {
    let blob = store
        .open(digest)
        .await
        .unwrap()
        .expect("the blob is stored");
    blob.read_range(0..blob.size()).unwrap().to_vec()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fetches_into_memory_in_one_stream_and_in_segments_then_hits_the_cache() {
    let s = setup(3 << 20).await;
    for segments in [1, 4] {
        let store = MemoryStore::new();
        let progress = Recorded::default();
        let got = s.fetch(&store, options(segments), &progress).await.unwrap();
        assert_eq!((got.size, got.cached), (s.data.len() as u64, false));
        assert_eq!(got.bytes_transferred, s.data.len() as u64, "{segments}");
        assert_eq!(got.path, None, "a store without files has no path");
        assert_eq!(stored(&store, &s.digest).await, s.data);
        assert!(store.partials().await.unwrap().is_empty());
        let again = s
            .fetch(&store, options(segments), &NoProgress)
            .await
            .unwrap();
        assert!(again.cached);
        assert_eq!(again.bytes_transferred, 0);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resumes_a_partial_and_a_segment_plan_asking_only_for_the_rest() {
    let s = setup(4 << 20).await;
    let n = s.data.len() as u64;
    // One stream: the first MiB is there.
    let store = MemoryStore::new();
    let mut w = store.writer(&s.digest, None).await.unwrap();
    w.write(Bytes::copy_from_slice(&s.data[..1 << 20]))
        .await
        .unwrap();
    w.close().await.unwrap();
    let got = s.fetch(&store, options(1), &NoProgress).await.unwrap();
    assert_eq!(got.bytes_transferred, n - (1 << 20));
    assert_eq!(stored(&store, &s.digest).await, s.data);

    // Segments: a recorded plan of two halves, each half written in part.
    let store = MemoryStore::new();
    let half = n / 2;
    let mut w = store.writer(&s.digest, Some(n)).await.unwrap();
    w.write_at(0, Bytes::copy_from_slice(&s.data[..1000]))
        .await
        .unwrap();
    w.write_at(
        half,
        Bytes::copy_from_slice(&s.data[half as usize..half as usize + 3000]),
    )
    .await
    .unwrap();
    w.save_checkpoint(Checkpoint {
        size: Some(n),
        source: None,
        segments: Some(vec![
            Segment {
                start: 0,
                end: half,
                written: 1000,
            },
            Segment {
                start: half,
                end: n,
                written: 3000,
            },
        ]),
    })
    .await
    .unwrap();
    w.close().await.unwrap();
    let progress = Recorded::default();
    let got = s
        .fetch(
            &store,
            FetchOptions {
                size: SizeLimit::Exact(n),
                ..options(4)
            },
            &progress,
        )
        .await
        .unwrap();
    assert_eq!(got.bytes_transferred, n - 4000, "{:?}", progress.events());
    assert_eq!(
        progress.events(),
        vec![format!("started Some({n}) 4000")],
        "the recorded plan goes on in segments"
    );
    assert_eq!(stored(&store, &s.digest).await, s.data);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partial_that_is_no_prefix_restarts_once_and_progress_past_the_data_is_refused() {
    let s = setup(2 << 20).await;
    let n = s.data.len() as u64;
    let store = MemoryStore::new();
    let mut w = store.writer(&s.digest, None).await.unwrap();
    w.write(Bytes::from(vec![0u8; 1 << 20])).await.unwrap();
    w.close().await.unwrap();
    let progress = Recorded::default();
    let got = s.fetch(&store, options(1), &progress).await.unwrap();
    assert_eq!(got.bytes_transferred, (n - (1 << 20)) + n);
    assert!(
        progress
            .events()
            .iter()
            .any(|e| e.contains("did not verify; starting over")),
        "{:?}",
        progress.events()
    );
    assert_eq!(stored(&store, &s.digest).await, s.data);

    // Segment progress claiming bytes the partial does not hold: an integrity failure, and
    // nothing is kept.
    let store = MemoryStore::new();
    let mut w = store.writer(&s.digest, Some(n)).await.unwrap();
    w.write_at(0, Bytes::copy_from_slice(&s.data[..100]))
        .await
        .unwrap();
    w.save_checkpoint(Checkpoint {
        size: Some(n),
        source: None,
        segments: Some(vec![Segment {
            start: 0,
            end: n,
            written: 5000,
        }]),
    })
    .await
    .unwrap();
    w.close().await.unwrap();
    let err = s.fetch(&store, options(4), &NoProgress).await.unwrap_err();
    assert!(matches!(err, TransferError::PartialShort { .. }), "{err}");
    assert_eq!(err.category(), Category::Integrity);
    assert!(store.partials().await.unwrap().is_empty());
    assert_eq!(store.stat(&s.digest).await.unwrap(), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_held_digest_is_waited_for_and_then_found_published() {
    let s = setup(1 << 20).await;
    let store = MemoryStore::new();
    let holder = store.writer(&s.digest, None).await.unwrap();
    let progress = Recorded::default();
    let fetching = s.fetch(&store, options(1), &progress);
    let publish = async {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let mut holder = holder;
        holder.write(Bytes::copy_from_slice(&s.data)).await.unwrap();
        holder.commit(&s.digest).await.unwrap();
    };
    let (got, ()) = tokio::join!(fetching, publish);
    let got = got.unwrap();
    assert!(got.cached, "the holder published it");
    assert_eq!(progress.events(), vec!["waiting None".to_owned()]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_blob_leaves_no_partial() {
    let s = setup(10).await;
    let store = MemoryStore::new();
    let other = digest_bytes(Algorithm::Sha256, b"not on the server");
    let reference: Reference = format!("{}@{other}", s.reference.location())
        .parse()
        .unwrap();
    let err = fetch_blob(
        &s.client,
        &store,
        &reference,
        &other,
        options(1),
        &NoProgress,
    )
    .await
    .unwrap_err();
    assert_eq!(err.category(), Category::NotFound, "{err}");
    assert!(store.partials().await.unwrap().is_empty());
}

/// A whole image pulled from one in-memory store into another: manifest, config and layer
/// through the verifying commit, the tag recorded in the refs table; pulled again, nothing
/// comes over the network but the manifest.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pull_records_an_image_in_a_memory_store() {
    let layer = blob(2 << 20, 3);
    let config = br#"{"architecture":"amd64","os":"linux"}"#.to_vec();
    let (ld, cd) = (
        digest_bytes(Algorithm::Sha256, &layer),
        digest_bytes(Algorithm::Sha256, &config),
    );
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": crate::manifest::OCI_MANIFEST,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                   "digest": cd, "size": config.len()},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar",
                    "digest": ld, "size": layer.len()}],
    })
    .to_string()
    .into_bytes();
    let md = digest_bytes(Algorithm::Sha256, &manifest);
    let index = serde_json::json!({"schemaVersion": 2, "manifests": [{
        "mediaType": crate::manifest::OCI_MANIFEST, "digest": md, "size": manifest.len(),
        "annotations": {crate::manifest::REF_NAME: "registry.example/team/app:v1"}}]});
    let source = MemoryStore::with(
        [layer.clone(), config.clone(), manifest.clone()],
        index.to_string().as_bytes(),
    );
    let addr = serve(source).await;
    let client = Client::new(ClientOptions::default()).unwrap();
    let reference: Reference = format!("{addr}/team/app:v1").parse().unwrap();
    let store = MemoryStore::new();
    let options = image::PullOptions {
        platforms: image::PlatformChoice::All,
        fetch: options(1),
        jobs: 4,
    };
    let limiter = tokio::sync::Semaphore::new(4);
    let factory = |_: &str| -> Box<dyn Progress> { Box::new(NoProgress) };
    let pulled = image::pull(&client, &store, &reference, &options, &limiter, &factory)
        .await
        .unwrap();
    assert_eq!(pulled.digest, md);
    for (d, bytes) in [(&ld, &layer), (&cd, &config), (&md, &manifest)] {
        assert_eq!(&stored(&store, d).await, bytes);
    }
    let refs = store.refs().await.unwrap();
    assert_eq!(refs.tag("team/app", "v1", None).unwrap().digest, md);
    let again = image::pull(&client, &store, &reference, &options, &limiter, &factory)
        .await
        .unwrap();
    assert_eq!(again.digest, md);
    assert_eq!((pulled.blobs, pulled.fetched), (3, 3));
    assert_eq!(
        pulled.bytes_transferred,
        (layer.len() + config.len() + manifest.len()) as u64
    );
    assert_eq!(again.fetched, 0);
    assert_eq!(
        again.bytes_transferred,
        manifest.len() as u64,
        "a tag is asked again"
    );
    assert_eq!(store.blobs().await.unwrap().len(), 3);
}
