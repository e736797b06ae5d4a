//! Hostile input never panics: property tests for every parser of untrusted input, run by CI
//! in place of the fuzzer (`scripts/fuzz`, whose targets in `fuzz/fuzz_targets/` check the same
//! things with coverage guidance). Each parser gets arbitrary bytes or strings and inputs shaped
//! like what it expects (JSON of random shapes drawn from the manifest, index and config
//! vocabulary; header values built from their grammar's pieces), and, where a format is written
//! back, the round trip.
//!
//! Crashes the fuzzer found stay here as plain regression tests with the minimised input.

use std::collections::HashMap;
use std::path::Path;
use std::time::{Duration, SystemTime};

use layerget::client::ContentRange;
use layerget::client::challenge;
use layerget::client::credentials;
use layerget::client::retry::{self, Failure, RetryPolicy};
use layerget::config::Config;
use layerget::digest::{Algorithm, Digest, digest_bytes};
use layerget::envelope::{self, ErrorBody};
use layerget::manifest::{self, Descriptor, Manifest, PlatformSpec};
use layerget::reference::{self, ApiRoute, Endpoint, Reference, Registry};
use layerget::server::Htpasswd;
use layerget::server::range::{self, RangeDecision};
use layerget::store::{LayoutIndex, Refs as Index};
use proptest::prelude::*;
use serde_json::Value;

const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
const REF_NAME: &str = "org.opencontainers.image.ref.name";

fn sha256(data: &[u8]) -> String {
    digest_bytes(Algorithm::Sha256, data).to_string()
}

/// Words the parsers look for, so random documents hit their branches, not only `Err`.
fn word() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("mediaType".to_owned()),
        Just("schemaVersion".to_owned()),
        Just("config".to_owned()),
        Just("layers".to_owned()),
        Just("manifests".to_owned()),
        Just("digest".to_owned()),
        Just("size".to_owned()),
        Just("platform".to_owned()),
        Just("architecture".to_owned()),
        Just("os".to_owned()),
        Just("variant".to_owned()),
        Just("annotations".to_owned()),
        Just("subject".to_owned()),
        Just("urls".to_owned()),
        Just("errors".to_owned()),
        Just("code".to_owned()),
        Just("message".to_owned()),
        Just("detail".to_owned()),
        Just(REF_NAME.to_owned()),
        Just("dev.layerget.source.ref.name".to_owned()),
        Just(OCI_MANIFEST.to_owned()),
        Just(OCI_INDEX.to_owned()),
        Just(DOCKER_MANIFEST.to_owned()),
        Just(DOCKER_LIST.to_owned()),
        Just("application/vnd.docker.container.image.v1+json".to_owned()),
        Just("application/vnd.docker.image.rootfs.diff.tar.gzip".to_owned()),
        Just("application/vnd.docker.image.rootfs.foreign.diff.tar.gzip".to_owned()),
        Just(sha256(b"")),
        Just(sha256(b"a")),
        Just("linux".to_owned()),
        Just("amd64".to_owned()),
        Just("arm".to_owned()),
        Just("v7".to_owned()),
        Just("registry.example/team/app:v1".to_owned()),
        Just("docker.io/library/alpine:3.20".to_owned()),
        Just("BLOB_UNKNOWN".to_owned()),
        Just("TOOMANYREQUESTS".to_owned()),
        "\\PC{0,12}",
    ]
}

/// JSON values of random shapes, built from [`word`]s and awkward numbers.
fn json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        Just(Value::from(2)),
        Just(Value::from(u64::MAX)),
        Just(Value::from(i64::MIN)),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        word().prop_map(Value::from),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::from),
            proptest::collection::vec((word(), inner), 0..6)
                .prop_map(|kv| Value::Object(kv.into_iter().collect())),
        ]
    })
}

/// JSON objects that look like manifests, indexes and lists: the right keys with values of
/// random shapes (`"config": 1`, `"layers": [0]`, …) next to well-formed ones.
fn document() -> impl Strategy<Value = Value> {
    let descriptor = prop_oneof![
        json(),
        (word(), json(), json(), proptest::option::of(json())).prop_map(|(mt, d, s, p)| {
            let mut o = serde_json::json!({ "mediaType": mt, "digest": d, "size": s });
            if let Some(p) = p {
                o["platform"] = p;
            }
            o
        }),
        Just(serde_json::json!({
            "mediaType": DOCKER_MANIFEST, "digest": sha256(b""), "size": 2,
            "platform": { "os": "linux", "architecture": "arm64", "variant": "v8" },
        })),
    ];
    (
        proptest::option::of(prop_oneof![Just(Value::from(2)), json()]),
        proptest::option::of(word().prop_map(Value::from)),
        proptest::option::of(descriptor.clone()),
        proptest::option::of(proptest::collection::vec(descriptor.clone(), 0..4)),
        proptest::option::of(proptest::collection::vec(descriptor, 0..4)),
        proptest::collection::vec((word(), json()), 0..3),
    )
        .prop_map(|(version, media_type, config, layers, manifests, extra)| {
            let mut o = serde_json::Map::new();
            for (k, v) in extra {
                o.insert(k, v);
            }
            let mut put = |k: &str, v: Option<Value>| {
                if let Some(v) = v {
                    o.insert(k.to_owned(), v);
                }
            };
            put("schemaVersion", version);
            put("mediaType", media_type);
            put("config", config);
            put("layers", layers.map(Value::from));
            put("manifests", manifests.map(Value::from));
            Value::Object(o)
        })
}

fn bytes() -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(any::<u8>(), 0..300)
}

fn content_type() -> impl Strategy<Value = Option<String>> {
    proptest::option::of(prop_oneof![
        Just(OCI_MANIFEST.to_owned()),
        Just(OCI_INDEX.to_owned()),
        Just(DOCKER_MANIFEST.to_owned()),
        Just(format!("{DOCKER_LIST}; charset=utf-8")),
        Just("application/json".to_owned()),
        Just(String::new()),
        "\\PC{0,30}",
    ])
}

/// Pieces of references, joined at random, so the parser sees near misses of its grammar.
fn reference_like() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        Just("ghcr.io".to_owned()),
        Just("127.0.0.1:5000".to_owned()),
        Just("[::1]:5000".to_owned()),
        Just("[::1".to_owned()),
        Just("localhost".to_owned()),
        Just("host:99999".to_owned()),
        Just("library".to_owned()),
        Just("a__b".to_owned()),
        Just("a---b".to_owned()),
        Just("Upper".to_owned()),
        Just("/".to_owned()),
        Just(":".to_owned()),
        Just("@".to_owned()),
        Just(".".to_owned()),
        Just(sha256(b"x")),
        Just("sha512:".to_owned()),
        "[a-z0-9._:/@-]{0,12}",
        "\\PC{0,4}",
    ];
    proptest::collection::vec(piece, 0..8).prop_map(|p| p.concat())
}

fn check_reference(s: &str) -> Result<(), TestCaseError> {
    let _ = reference::validate_name(s);
    let _ = reference::is_tag(s);
    if let Ok(registry) = Registry::parse(s) {
        let _ = registry.base_url(registry.scheme(false, false));
        let _ = registry.is_loopback();
    }
    let _ = Reference::parse_with_digest(s);
    if let Ok(r) = s.parse::<Reference>() {
        let again: Reference = r.to_string().parse().map_err(|e| {
            TestCaseError::fail(format!("`{r}` (from {s:?}) does not parse again: {e}"))
        })?;
        prop_assert_eq!(&again, &r);
        let base = r.registry().base_url(r.registry().scheme(false, false));
        let _ = reference::api_url(&base, r.repository(), Endpoint::Manifest("latest"));
        if let Some(d) = r.digest() {
            let _ = reference::api_url(&base, r.repository(), Endpoint::Blob(d));
        }
    }
    Ok(())
}

fn check_manifest(body: &[u8], content_type: Option<&str>) -> Result<(), TestCaseError> {
    if let Some(ct) = content_type {
        let _ = (manifest::kind_of(ct), manifest::essence(ct));
        if let Ok(spec) = ct.parse::<PlatformSpec>() {
            prop_assert_eq!(spec.to_string().parse::<PlatformSpec>().ok(), Some(spec));
        }
    }
    let Ok(m) = manifest::parse(body, content_type) else {
        return Ok(());
    };
    prop_assert!(manifest::kind_of(m.media_type()).is_some());
    for d in m.children() {
        let json = serde_json::to_vec(d).unwrap();
        prop_assert_eq!(&serde_json::from_slice::<Descriptor>(&json).unwrap(), d);
        if let Some(p) = &d.platform {
            let _ = p.to_string();
        }
    }
    if let Manifest::Index { index, .. } = &m {
        let _ = PlatformSpec::host().choose(index);
    }
    Ok(())
}

fn check_docker_to_oci(body: &[u8]) -> Result<(), TestCaseError> {
    let children = HashMap::from([(
        digest_bytes(Algorithm::Sha256, b""),
        (digest_bytes(Algorithm::Sha256, b"{}"), 2),
    )]);
    if let Ok(oci) = manifest::docker_to_oci(body, &children) {
        if manifest::parse(body, None).is_ok() {
            prop_assert!(
                manifest::parse(&oci, None).is_ok(),
                "it parses, its conversion does not: {}",
                String::from_utf8_lossy(&oci)
            );
        }
        // serde_json (without `float_roundtrip`) may read a float one bit off, so a second
        // pass can print it differently; manifests hold no floats.
        if !has_float(&serde_json::from_slice(&oci).unwrap()) {
            let again = manifest::docker_to_oci(&oci, &HashMap::new()).ok();
            prop_assert_eq!(again, Some(oci), "converting twice changes nothing");
        }
    }
    Ok(())
}

fn has_float(v: &Value) -> bool {
    match v {
        Value::Number(n) => n.is_f64(),
        Value::Array(a) => a.iter().any(has_float),
        Value::Object(o) => o.values().any(has_float),
        _ => false,
    }
}

fn check_range(value: &str, size: u64) -> Result<(), TestCaseError> {
    if let RangeDecision::Partial(r) = range::decide(Some(value), size) {
        prop_assert!(
            r.start < r.end && r.end <= size,
            "{:?} on {}: {:?}",
            value,
            size,
            r
        );
    }
    let _ = range::if_range_matches(value, "\"x\"");
    let _ = range::if_none_match(value, "\"x\"");
    Ok(())
}

fn check_content_range(value: &str) -> Result<(), TestCaseError> {
    if let Some(cr) = ContentRange::parse(value) {
        prop_assert!(cr.range.is_some() || cr.total.is_some());
        if let Some((first, last)) = cr.range {
            prop_assert!(first <= last);
            prop_assert!(cr.total.is_none_or(|t| last < t));
        }
    }
    Ok(())
}

fn check_api_path(path: &str) -> Result<(), TestCaseError> {
    let Ok(Some(route)) = reference::parse_api_path(path) else {
        return Ok(());
    };
    let name = match route {
        ApiRoute::Base => return Ok(()),
        ApiRoute::Blob { name, digest } | ApiRoute::Referrers { name, digest } => {
            let _ = digest.parse::<Digest>();
            name
        }
        ApiRoute::Manifest { name, reference } => {
            let _ = reference.parse::<Digest>();
            name
        }
        ApiRoute::TagsList { name } | ApiRoute::Upload { name, .. } => name,
    };
    prop_assert!(
        reference::validate_name(name).is_ok(),
        "{:?} -> {:?}",
        path,
        name
    );
    Ok(())
}

fn check_indexes(bytes: &[u8]) -> Result<(), TestCaseError> {
    if let Ok(index) = Index::parse(bytes) {
        for repository in ["team/app", "library/alpine"] {
            for tag in index.tags(repository, None).into_iter().flatten() {
                prop_assert!(index.tag(repository, tag, None).is_some());
            }
        }
    }
    if let Ok(mut index) = LayoutIndex::parse(bytes) {
        let (len, entries) = (index.len(), index.entries());
        let again = LayoutIndex::parse(&index.to_bytes()).unwrap();
        prop_assert_eq!(again.len(), len);
        prop_assert_eq!(again.entries(), entries);
        let removed = index.remove_ref("registry.example/team/app:v1");
        prop_assert_eq!(index.len() + removed.len(), len);
    }
    Ok(())
}

/// Looks `registry` up in a Docker config or podman auth file holding `body`: the pure lookup
/// (`plan_from_bytes`) decides what a lookup would do, without running a helper.
fn check_credentials(body: &[u8], registry: &str) -> Result<(), TestCaseError> {
    let _ = credentials::plan_from_bytes(body, registry);
    Ok(())
}

/// Docker configs of random shapes. Helper names never name a program that exists (this
/// machine has `docker-credential-gcloud`): a lookup may try to run them, and must only warn.
fn docker_config() -> impl Strategy<Value = Value> {
    let helper = prop_oneof![
        "layerget-test-missing-[a-z]{1,6}".prop_map(Value::from),
        Just(Value::from("")),
        json().prop_filter("no strings", |v| !v.is_string()),
    ];
    let field = prop_oneof![
        Just(Value::from("dXNlcjpwYXNz")),
        Just(Value::from("bm9jb2xvbg==")),
        Just(Value::from("Og==")),
        "[A-Za-z0-9+/=_-]{0,12}".prop_map(Value::from),
        json(),
    ];
    let entry = prop_oneof![
        json(),
        proptest::collection::vec(
            (
                prop_oneof![
                    Just("auth"),
                    Just("username"),
                    Just("password"),
                    Just("identitytoken")
                ],
                field
            ),
            0..4
        )
        .prop_map(|kv| Value::Object(kv.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())),
    ];
    let key = prop_oneof![
        Just("registry.example".to_owned()),
        Just("https://index.docker.io/v1/".to_owned()),
        Just("http://registry.example:443/v2/".to_owned()),
        "\\PC{0,10}",
    ];
    (
        proptest::option::of(proptest::collection::vec((key.clone(), entry), 0..3)),
        proptest::option::of(proptest::collection::vec((key, helper.clone()), 0..2)),
        proptest::option::of(helper),
    )
        .prop_map(|(auths, helpers, store)| {
            let mut o = serde_json::Map::new();
            if let Some(a) = auths {
                o.insert("auths".into(), Value::Object(a.into_iter().collect()));
            }
            if let Some(h) = helpers {
                o.insert("credHelpers".into(), Value::Object(h.into_iter().collect()));
            }
            if let Some(s) = store {
                o.insert("credsStore".into(), s);
            }
            Value::Object(o)
        })
}

/// A `WWW-Authenticate` value assembled from the pieces of its grammar.
fn challenge_like() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        Just("Bearer ".to_owned()),
        Just("Basic ".to_owned()),
        Just("realm".to_owned()),
        Just("=".to_owned()),
        Just(",".to_owned()),
        Just(" ".to_owned()),
        Just("\"".to_owned()),
        Just("\\".to_owned()),
        Just("\"https://ghcr.io/token\"".to_owned()),
        Just("é".to_owned()),
        "[A-Za-z0-9!#$%&'*+.^_`|~=-]{0,8}",
        "\\PC{0,3}",
    ];
    proptest::collection::vec(piece, 0..14).prop_map(|p| p.concat())
}

/// A `Range` or `Content-Range` value assembled from the pieces of its grammar.
fn range_like() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        Just("bytes".to_owned()),
        Just("=".to_owned()),
        Just(" ".to_owned()),
        Just("-".to_owned()),
        Just(",".to_owned()),
        Just("/".to_owned()),
        Just("*".to_owned()),
        Just(u64::MAX.to_string()),
        Just("18446744073709551616".to_owned()),
        any::<u16>().prop_map(|n| n.to_string()),
        "\\PC{0,3}",
    ];
    proptest::collection::vec(piece, 0..10).prop_map(|p| p.concat())
}

/// A request path assembled from API path segments.
fn api_path_like() -> impl Strategy<Value = String> {
    let segment = prop_oneof![
        Just("v2".to_owned()),
        Just("blobs".to_owned()),
        Just("manifests".to_owned()),
        Just("tags".to_owned()),
        Just("list".to_owned()),
        Just("uploads".to_owned()),
        Just("referrers".to_owned()),
        Just(sha256(b"x")),
        Just("..".to_owned()),
        Just("%2F".to_owned()),
        Just(String::new()),
        "[a-z0-9._-]{1,6}",
        "\\PC{0,4}",
    ];
    proptest::collection::vec(segment, 0..8).prop_map(|s| format!("/v2/{}", s.join("/")))
}

/// htpasswd files: comments, blank lines, malformed lines and bcrypt entries of cheap or
/// refused costs (04, 05, 18, 99; the costs between would only make the test slow).
fn htpasswd_like() -> impl Strategy<Value = String> {
    let line = prop_oneof![
        Just(String::new()),
        Just("# comment".to_owned()),
        Just("alice:$2y$04$AwS/s7V2TPsGhCUJUfS5a.zPkd4BUrKtLJGekagTJDsG6vEOndqe6".to_owned()),
        Just("bob:$2y$05$tmHnRrAaJVSHdO9uXwRhOO0fuALXMcKsT0lpaWqhuGcrFwJ6hsXWa".to_owned()),
        (
            "[a-z:]{0,5}",
            prop_oneof![Just("2y"), Just("2b"), Just("2a"), Just("2x"), Just("1")],
            prop_oneof![
                Just("04"),
                Just("05"),
                Just("18"),
                Just("99"),
                Just("+4"),
                Just("x")
            ],
            "[./A-Za-z0-9]{50,56}",
        )
            .prop_map(|(u, v, c, rest)| format!("{u}:${v}${c}${rest}")),
        "\\PC{0,20}",
    ];
    proptest::collection::vec(line, 0..4).prop_map(|l| l.join("\n"))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn references_never_panic_and_round_trip(s in prop_oneof![reference_like(), "\\PC{0,60}"]) {
        check_reference(&s)?;
    }

    #[test]
    fn digests_never_panic_and_round_trip(
        s in prop_oneof![
            "(sha256|sha512|md5|)(:|)[0-9a-fA-F]{0,130}",
            "\\PC{0,80}",
        ]
    ) {
        if let Ok(d) = s.parse::<Digest>() {
            prop_assert_eq!(d.to_string(), s.clone());
            let _ = d.short();
            let json = serde_json::to_string(&d).unwrap();
            prop_assert_eq!(serde_json::from_str::<Digest>(&json).unwrap(), d);
        }
        let _ = serde_json::from_str::<Digest>(&s);
    }

    #[test]
    fn error_bodies_never_panic(
        body in prop_oneof![
            bytes(),
            json().prop_map(|v| serde_json::to_vec(&v).unwrap()),
            proptest::collection::vec(json(), 0..4)
                .prop_map(|e| serde_json::to_vec(&serde_json::json!({ "errors": e })).unwrap()),
        ],
        status in any::<u16>(),
    ) {
        let decoded = ErrorBody::decode(&body);
        let _ = decoded.to_string();
        let _ = decoded.codes();
        let _ = envelope::categorize(status, &decoded).exit_code();
    }

    #[test]
    fn challenges_never_panic(values in proptest::collection::vec(prop_oneof![challenge_like(), "\\PC{0,40}"], 0..3)) {
        for c in challenge::parse(values.iter().map(String::as_str)) {
            for (name, _) in &c.params {
                prop_assert!(c.param(name).is_some());
            }
        }
    }

    #[test]
    fn ranges_never_panic_and_stay_inside_the_blob(
        value in prop_oneof![range_like(), "\\PC{0,30}"],
        size in prop_oneof![Just(0u64), Just(1), Just(u64::MAX), any::<u64>(), 0..2000u64],
    ) {
        check_range(&value, size)?;
    }

    #[test]
    fn content_ranges_never_panic_and_are_ordered(value in prop_oneof![range_like(), "\\PC{0,30}"]) {
        check_content_range(&value)?;
    }

    #[test]
    fn retry_after_never_panics_and_waits_are_capped(
        value in prop_oneof![
            "\\PC{0,40}",
            "[0-9 ]{0,25}",
            "(Mon|Sun|Sunday), [0-9]{1,2}[ -](Oct|Nov)[ -][0-9]{2,5} [0-9]{2}:[0-9]{2}:[0-9]{2} GMT",
        ],
        now in any::<u32>(),
    ) {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(now.into());
        let wait = retry::parse_retry_after(&value, now);
        let policy = RetryPolicy::default();
        let body = ErrorBody::Empty;
        let failure = Failure::Status { status: 429, body: &body, retry_after: wait };
        if let Some(d) = policy.delay(1, failure) {
            prop_assert!(d <= policy.max_wait.max(policy.cap));
        }
    }

    #[test]
    fn manifests_never_panic(
        body in prop_oneof![
            bytes(),
            document().prop_map(|v| serde_json::to_vec(&v).unwrap()),
            json().prop_map(|v| serde_json::to_vec(&v).unwrap()),
        ],
        content_type in content_type(),
    ) {
        check_manifest(&body, content_type.as_deref())?;
    }

    #[test]
    fn docker_to_oci_never_panics(
        body in prop_oneof![
            bytes(),
            document().prop_map(|v| serde_json::to_vec(&v).unwrap()),
            json().prop_map(|v| serde_json::to_vec(&v).unwrap()),
        ],
    ) {
        check_docker_to_oci(&body)?;
    }

    #[test]
    fn docker_to_oci_on_well_formed_documents_is_idempotent(
        media_type in prop_oneof![Just(DOCKER_MANIFEST), Just(DOCKER_LIST), Just(OCI_MANIFEST)],
        layers in proptest::collection::vec(word(), 0..4),
    ) {
        let layers: Vec<Value> = layers
            .into_iter()
            .map(|mt| serde_json::json!({ "mediaType": mt, "digest": sha256(b"a"), "size": 1 }))
            .collect();
        let doc = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": media_type,
            "config": { "mediaType": "application/vnd.docker.container.image.v1+json", "digest": sha256(b"c"), "size": 1 },
            "layers": layers,
            "manifests": [{ "mediaType": DOCKER_MANIFEST, "digest": sha256(b""), "size": 9 }],
        });
        check_docker_to_oci(&serde_json::to_vec(&doc).unwrap())?;
    }

    #[test]
    fn api_paths_never_panic_and_route_valid_names(path in prop_oneof![api_path_like(), "\\PC{0,60}"]) {
        check_api_path(&path)?;
    }

    #[test]
    fn index_json_never_panics_and_round_trips(
        body in prop_oneof![
            bytes(),
            json().prop_map(|v| serde_json::to_vec(&v).unwrap()),
            proptest::collection::vec(
                prop_oneof![
                    json(),
                    (word(), json(), word()).prop_map(|(mt, d, name)| serde_json::json!({
                        "mediaType": mt, "digest": d, "size": 1, "annotations": { REF_NAME: name },
                    })),
                ],
                0..5,
            )
            .prop_map(|m| serde_json::to_vec(&serde_json::json!({ "schemaVersion": 2, "manifests": m })).unwrap()),
        ],
    ) {
        check_indexes(&body)?;
    }

    #[test]
    fn configs_never_panic(s in prop_oneof![
        "\\PC{0,80}",
        "\\[registry\\.\"[a-z0-9.:\\[\\]]{0,12}\"\\]\n(plain-http|insecure|ca-file|x) = (true|\"a\"|1)\n",
    ]) {
        let _ = Config::parse(&s, Path::new("/home/u/.config/layerget/config.toml"));
    }
}

proptest! {
    // Each case writes two files and may try to run a (missing) credential helper.
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn docker_configs_never_panic(
        body in prop_oneof![
            bytes(),
            docker_config().prop_map(|v| serde_json::to_vec(&v).unwrap()),
        ],
        registry in prop_oneof![Just("registry.example"), Just("docker.io"), Just("")],
    ) {
        check_credentials(&body, registry)?;
        if let Ok(s) = std::str::from_utf8(&body) {
            let _ = credentials::base64_decode(s);
            let _ = credentials::normalize(s);
        }
    }

    // A valid file costs a bcrypt run (debug build: slow), so fewer cases.
    #[test]
    fn htpasswd_files_never_panic(text in prop_oneof![htpasswd_like(), "\\PC{0,80}"]) {
        if let Ok(h) = Htpasswd::parse(&text) {
            prop_assert!(!h.is_empty());
        }
    }
}

/// item 12: `docker_to_oci` indexed JSON values that need not be objects.
#[test]
fn docker_to_oci_takes_non_object_json() {
    for body in [
        &b"[]"[..],
        b"1",
        b"\"x\"",
        br#"{"config":1}"#,
        br#"{"layers":[0]}"#,
        br#"{"manifests":[0]}"#,
    ] {
        let _ = manifest::docker_to_oci(body, &HashMap::new());
    }
    let children = HashMap::from([(
        digest_bytes(Algorithm::Sha256, b""),
        (digest_bytes(Algorithm::Sha256, b"{}"), 2),
    )]);
    let list = format!(r#"{{"manifests":[{{"digest":"{}"}}, 0]}}"#, sha256(b""));
    let _ = manifest::docker_to_oci(list.as_bytes(), &children);
}

/// Found by `scripts/fuzz` (docker_to_oci): indexing with `doc["mediaType"] = …` inserts a
/// `"mediaType": null` where the document had none, and a null media type is no string, so a
/// Docker manifest whose config or layer omits it no longer parses once converted.
#[test]
fn docker_to_oci_adds_no_null_media_types() {
    let doc = format!(
        r#"{{"schemaVersion":2,"mediaType":"{DOCKER_MANIFEST}","config":{{"digest":"{d}","size":1}},"layers":[{{"digest":"{d}","size":1}}]}}"#,
        d = sha256(b"a")
    );
    manifest::parse(doc.as_bytes(), None).unwrap();
    let oci = manifest::docker_to_oci(doc.as_bytes(), &HashMap::new()).unwrap();
    let text = String::from_utf8(oci.clone()).unwrap();
    assert!(!text.contains("null"), "{text}");
    manifest::parse(&oci, None).unwrap();
}

/// Found by `scripts/fuzz` (reference): a host whose last label is numeric (`a127l.00`,
/// `foo.1`) passed the registry grammar, but the URL parser reads it as an IPv4 address and
/// refuses it, so `base_url`'s `expect` panicked: `layerget fetch foo.1/x@sha256:…` exited 101.
#[test]
fn registries_that_form_no_url_are_refused() {
    for host in [
        "a127l.00",
        "foo.1",
        "foo.1:5000",
        "1.2.3.999",
        "1.2.3.4.5",
        "x.0x1",
    ] {
        assert!(Registry::parse(host).is_err(), "{host}");
        let r = format!("{host}/team/app:v1");
        assert!(r.parse::<Reference>().is_err(), "{r}");
    }
    for host in [
        "127.0.0.1:5000",
        "[::1]:5000",
        "ghcr.io",
        "localhost",
        "a.b-c.d9",
        "1a.example",
    ] {
        let registry = Registry::parse(host).unwrap();
        let _ = registry.base_url("https");
    }
}
