//! The reference registry: a real `docker-registry` (distribution 2.8.2) started on
//! `127.0.0.1` with a temp config and storage, stopped by pid, with helpers that push through its
//! upload API; and `skopeo`, the reference client, reading a cache as an OCI layout.

use std::fs::{self, File};
use std::io::{self, Read};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::Value;
use sha2::{Digest as _, Sha256};
use tempfile::TempDir;

use super::cli::isolated_home;
use super::generate::{
    DOCKER_MANIFEST, HashingReader, Image, OCI_MANIFEST, generated_bytes, sha256_digest,
    sha512_digest,
};
use super::http::{HttpResponse, http_request, send_request, try_http_request};

/// How long the registry may take to answer `GET /v2/` after being spawned.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(20);

/// Size of each chunked `PATCH` in [`TestRegistry::push_generated_blob`].
const PATCH_CHUNK: u64 = 32 << 20;

/// Test user accepted by a registry built with [`RegistryBuilder::basic_auth`].
pub const BASIC_USER: &str = "layerget-test";
/// Password of [`BASIC_USER`].
pub const BASIC_PASS: &str = "not-a-secret";
/// `Authorization` value for [`BASIC_USER`]:[`BASIC_PASS`] (precomputed: no base64 crate here).
pub const BASIC_AUTHORIZATION: &str = "Basic bGF5ZXJnZXQtdGVzdDpub3QtYS1zZWNyZXQ=";
/// htpasswd line for [`BASIC_USER`]; distribution only accepts bcrypt, cost 4 keeps logins fast.
const HTPASSWD_LINE: &str =
    "layerget-test:$2y$04$EQReFMPjlp9Nik4pmKzjtOT59bQdfJxnDmNrPuOnNbTifh/7V81kK\n";

/// Builder for a [`TestRegistry`] with extra configuration (auth, TLS, shared storage).
#[derive(Debug, Default)]
pub struct RegistryBuilder {
    /// Lines appended under `http:` (indented here), `{dir}` = the temp dir.
    http_yaml: Vec<String>,
    /// Top-level YAML sections appended to the config, `{dir}` = the temp dir.
    yaml: Vec<String>,
    /// Files written into the temp dir before start (htpasswd, certificates).
    files: Vec<(String, Vec<u8>)>,
    /// Storage root to use instead of a fresh one (to serve another registry's content).
    storage: Option<PathBuf>,
    /// Whether htpasswd auth for [`BASIC_USER`] is configured.
    basic_auth: bool,
    /// Whether `http.tls` is configured (the plain-HTTP helpers cannot talk to it).
    tls: bool,
    /// Whether the access log is on (one line per request in [`TestRegistry::log`]).
    access_log: bool,
}

impl RegistryBuilder {
    /// Add YAML lines under `http:` (written with two extra spaces of indentation).
    pub fn http_yaml(mut self, yaml: &str) -> Self {
        self.http_yaml.push(yaml.to_owned());
        self
    }

    /// Add top-level YAML (e.g. an `auth:` section); must not repeat `http:`, `storage:` or `log:`.
    pub fn yaml(mut self, yaml: &str) -> Self {
        self.yaml.push(yaml.to_owned());
        self
    }

    /// Write a file into the registry's temp dir, referenced in YAML as `{dir}/<name>`.
    pub fn file(mut self, name: &str, contents: impl Into<Vec<u8>>) -> Self {
        self.files.push((name.to_owned(), contents.into()));
        self
    }

    /// Serve an existing storage root, e.g. [`TestRegistry::storage_dir`] of a plain registry
    /// used for seeding: the helpers cannot push to a TLS or token-auth registry.
    pub fn storage_dir(mut self, path: &Path) -> Self {
        self.storage = Some(path.to_owned());
        self
    }

    /// Require HTTP basic auth for [`BASIC_USER`]; the registry's own helpers send it.
    pub fn basic_auth(mut self) -> Self {
        self.basic_auth = true;
        self.file("htpasswd", HTPASSWD_LINE)
            .yaml("auth:\n  htpasswd:\n    realm: layerget-test\n    path: \"{dir}/htpasswd\"")
    }

    /// Serve HTTPS with this PEM certificate and key; readiness then only checks that the port
    /// answers, and the push/get helpers must not be used (seed via [`Self::storage_dir`]).
    pub fn tls(mut self, cert_pem: &[u8], key_pem: &[u8]) -> Self {
        self.tls = true;
        self.file("cert.pem", cert_pem)
            .file("key.pem", key_pem)
            .http_yaml("tls:\n  certificate: \"{dir}/cert.pem\"\n  key: \"{dir}/key.pem\"")
    }

    /// Turn the access log on: each request's line (method, target with its query, status)
    /// goes to [`TestRegistry::log`], for tests that check what the registry itself saw.
    pub fn access_log(mut self) -> Self {
        self.access_log = true;
        self
    }

    /// Write the config and start the registry (see [`TestRegistry::start`]).
    pub fn start(self) -> TestRegistry {
        let dir = TempDir::new().expect("create registry temp dir");
        for (name, contents) in &self.files {
            fs::write(dir.path().join(name), contents).expect("write registry file");
        }
        let storage = match &self.storage {
            Some(path) => path.clone(),
            None => {
                let path = dir.path().join("storage");
                fs::create_dir(&path).expect("create registry storage");
                path
            }
        };
        let mut registry = TestRegistry {
            dir,
            storage,
            addr: String::new(),
            child: None,
            authorization: self.basic_auth.then(|| BASIC_AUTHORIZATION.to_owned()),
        };
        // A port found free can be taken before the registry binds it; retry with another.
        for attempt in 1..=5 {
            let port = free_port();
            registry.addr = format!("127.0.0.1:{port}");
            fs::write(registry.config_path(), self.config(&registry, port))
                .expect("write registry config");
            match registry.spawn_and_wait(self.tls) {
                Ok(()) => return registry,
                Err(log) if log.contains("address already in use") && attempt < 5 => continue,
                Err(log) => panic!("docker-registry did not start:\n{log}"),
            }
        }
        unreachable!("the last attempt panics or returns")
    }

    /// The YAML config text. No health checks, no access log (unless asked), a fixed secret (else it warns),
    /// and no upload purging, whose background goroutine only adds noise.
    fn config(&self, registry: &TestRegistry, port: u16) -> String {
        let dir = registry.dir.path().display().to_string();
        let mut config = format!(
            "version: 0.1\n\
             log:\n  level: warn\n  accesslog:\n    disabled: {}\n\
             storage:\n  filesystem:\n    rootdirectory: \"{}\"\n  delete:\n    enabled: true\n  \
             maintenance:\n    uploadpurging:\n      enabled: false\n\
             http:\n  addr: 127.0.0.1:{port}\n  secret: layerget-test-secret\n",
            !self.access_log,
            registry.storage.display()
        );
        for extra in &self.http_yaml {
            for line in extra.lines() {
                config.push_str(&format!("  {line}\n"));
            }
        }
        for extra in &self.yaml {
            config.push_str(extra.trim_end());
            config.push('\n');
        }
        config.replace("{dir}", &dir)
    }
}

/// A running `docker-registry` (distribution 2.8.2) on `127.0.0.1` with temp config and storage;
/// dropping it kills the process by pid.
#[derive(Debug)]
pub struct TestRegistry {
    /// Holds config.yml, registry.log, storage/ and any extra files.
    dir: TempDir,
    /// Storage root (inside `dir` unless shared via [`RegistryBuilder::storage_dir`]).
    storage: PathBuf,
    /// `127.0.0.1:PORT`.
    addr: String,
    /// The registry process, `None` once stopped.
    child: Option<Child>,
    /// `Authorization` sent by the helpers when auth is configured.
    authorization: Option<String>,
}

/// Ask the kernel for a free port by binding port 0 and releasing it.
fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    listener.local_addr().expect("local addr").port()
}

impl TestRegistry {
    /// Start a plain registry: no auth, no TLS, fresh storage.
    pub fn start() -> TestRegistry {
        Self::builder().start()
    }

    /// A builder for registries with auth, TLS or shared storage.
    pub fn builder() -> RegistryBuilder {
        RegistryBuilder::default()
    }

    /// `127.0.0.1:PORT`.
    pub fn addr(&self) -> String {
        self.addr.clone()
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// A `registry/name@digest` reference as the CLI takes it.
    pub fn reference(&self, repo: &str, digest: &str) -> String {
        format!("{}/{repo}@{digest}", self.addr)
    }

    /// The storage root, to share it with another registry.
    pub fn storage_dir(&self) -> PathBuf {
        self.storage.clone()
    }

    /// The registry's log so far (stdout and stderr).
    pub fn log(&self) -> String {
        fs::read_to_string(self.dir.path().join("registry.log")).unwrap_or_default()
    }

    /// Kill the process and reap it; calling it again does nothing.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            // Child::kill signals this child's pid (SIGKILL); storage is throwaway, so no
            // graceful shutdown is needed.
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Path of the generated config file.
    fn config_path(&self) -> PathBuf {
        self.dir.path().join("config.yml")
    }

    /// Spawn with a cleared environment and poll `GET /v2/` until it answers. Returns the log
    /// on failure (the process is then already stopped).
    fn spawn_and_wait(&mut self, tls: bool) -> Result<(), String> {
        let log = File::create(self.dir.path().join("registry.log")).expect("create registry log");
        // env_clear: distribution overrides any config key from `REGISTRY_*` variables (checked:
        // REGISTRY_HTTP_ADDR moved the listener), and proxies must not apply either.
        let child = Command::new("docker-registry")
            .arg("serve")
            .arg(self.config_path())
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("clone log handle"))
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot run docker-registry ({e}); install it: apt-get install docker-registry"
                )
            });
        self.child = Some(child);
        let deadline = Instant::now() + STARTUP_TIMEOUT;
        loop {
            if let Some(status) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                self.child = None;
                return Err(format!("exited with {status}\n{}", self.log()));
            }
            match try_http_request(&self.addr, "GET", "/v2/", &self.auth_headers(), b"") {
                // Go's TLS server answers a plain-HTTP request with a 400: the port is ready.
                Ok(_) if tls => return Ok(()),
                // 401: auth configured through `yaml` (e.g. token) that the helpers cannot
                // satisfy; a registry without auth never sends it.
                Ok(r) if r.status == 200 || r.status == 401 => return Ok(()),
                Ok(r) => {
                    self.stop();
                    return Err(format!("GET /v2/ answered {}\n{}", r.status, self.log()));
                }
                Err(_) if Instant::now() < deadline => thread::sleep(Duration::from_millis(25)),
                Err(e) => {
                    self.stop();
                    return Err(format!(
                        "no answer within {STARTUP_TIMEOUT:?}: {e}\n{}",
                        self.log()
                    ));
                }
            }
        }
    }

    /// Headers the helpers add (only `Authorization`, when auth is configured).
    fn auth_headers(&self) -> Vec<(&str, &str)> {
        match &self.authorization {
            Some(value) => vec![("Authorization", value.as_str())],
            None => Vec::new(),
        }
    }

    /// Send a request to the registry with the helpers' credentials (if any) plus `headers`.
    pub fn request(&self, method: &str, target: &str, headers: &[(&str, &str)]) -> HttpResponse {
        let mut all = self.auth_headers();
        all.extend_from_slice(headers);
        http_request(&self.addr, method, target, &all, b"")
    }

    /// `GET target`.
    pub fn get(&self, target: &str) -> HttpResponse {
        self.request("GET", target, &[])
    }

    /// `HEAD target`.
    pub fn head(&self, target: &str) -> HttpResponse {
        self.request("HEAD", target, &[])
    }

    /// `GET /v2/<repo>/blobs/<digest>`.
    pub fn get_blob(&self, repo: &str, digest: &str) -> HttpResponse {
        self.get(&format!("/v2/{repo}/blobs/{digest}"))
    }

    /// `POST /v2/<repo>/blobs/uploads/`, returning the upload `Location` (absolute or relative).
    fn start_upload(&self, repo: &str) -> String {
        let mut headers = self.auth_headers();
        headers.push(("Content-Type", "application/octet-stream"));
        let target = format!("/v2/{repo}/blobs/uploads/");
        let r = http_request(&self.addr, "POST", &target, &headers, b"");
        assert_eq!(r.status, 202, "POST {target}: {}", r.text());
        r.header("location")
            .expect("upload POST without Location")
            .to_owned()
    }

    /// Send one upload request with a streamed body to an upload `Location`.
    fn upload_request(
        &self,
        method: &str,
        location: &str,
        extra: &[(&str, &str)],
        len: u64,
        body: &mut dyn Read,
    ) -> HttpResponse {
        let (addr, target) = split_location(&self.addr, location);
        let mut headers = self.auth_headers();
        headers.push(("Content-Type", "application/octet-stream"));
        headers.extend_from_slice(extra);
        send_request(&addr, method, &target, &headers, len, body)
            .unwrap_or_else(|e| panic!("{method} {location} failed: {e}"))
    }

    /// Monolithic upload claiming `digest`; `Err` holds the registry's answer if it is not 201.
    fn try_push_blob_as(
        &self,
        repo: &str,
        data: &[u8],
        digest: &str,
    ) -> Result<HttpResponse, HttpResponse> {
        let location = self.start_upload(repo);
        let target = with_query(&location, &format!("digest={digest}"));
        let mut body = data;
        let r = self.upload_request("PUT", &target, &[], data.len() as u64, &mut body);
        if r.status == 201 { Ok(r) } else { Err(r) }
    }

    /// Push `data` as a blob (POST then a single PUT) and return its `sha256:<hex>` digest.
    pub fn push_blob(&self, repo: &str, data: &[u8]) -> String {
        let digest = sha256_digest(data);
        let r = self
            .try_push_blob_as(repo, data, &digest)
            .unwrap_or_else(|r| panic!("push {digest}: {} {}", r.status, r.text()));
        assert_eq!(r.header("docker-content-digest"), Some(digest.as_str()));
        digest
    }

    /// Push `data` claiming a `sha512:<hex>` digest and return that digest, or the registry's
    /// status and body. Distribution 2.8.2 accepts it (see harness.rs for what it then serves).
    pub fn push_blob_sha512(&self, repo: &str, data: &[u8]) -> Result<String, String> {
        let digest = sha512_digest(data);
        match self.try_push_blob_as(repo, data, &digest) {
            Ok(_) => Ok(digest),
            Err(r) => Err(format!("{} {}", r.status, r.text())),
        }
    }

    /// Push [`generated_bytes`]`(size, seed)` with chunked `PATCH`es and a final `PUT ?digest=`,
    /// hashing as it streams: nothing close to `size` is held in memory. Returns the digest.
    pub fn push_generated_blob(&self, repo: &str, size: u64, seed: u64) -> String {
        let mut source = generated_bytes(size, seed);
        let mut hasher = Sha256::new();
        let mut location = self.start_upload(repo);
        let mut offset = 0;
        while offset < size {
            let len = PATCH_CHUNK.min(size - offset);
            // 2.8.2 ignores Content-Range on PATCH (checked: it appends), but the spec's
            // chunked upload sends it, in this `start-end` form without a unit.
            let range = format!("{}-{}", offset, offset + len - 1);
            let mut body = HashingReader {
                inner: (&mut source).take(len),
                hasher: &mut hasher,
            };
            let r = self.upload_request(
                "PATCH",
                &location,
                &[("Content-Range", &range)],
                len,
                &mut body,
            );
            assert_eq!(r.status, 202, "PATCH {range}: {}", r.text());
            location = r
                .header("location")
                .expect("PATCH without Location")
                .to_owned();
            offset += len;
        }
        let digest = format!("sha256:{}", hex::encode(hasher.finalize()));
        let target = with_query(&location, &format!("digest={digest}"));
        let r = self.upload_request("PUT", &target, &[], 0, &mut io::empty());
        assert_eq!(r.status, 201, "final PUT {digest}: {}", r.text());
        digest
    }

    /// `PUT /v2/<repo>/manifests/<reference>` with this media type; returns the digest.
    pub fn push_manifest(
        &self,
        repo: &str,
        reference: &str,
        media_type: &str,
        bytes: &[u8],
    ) -> String {
        let mut headers = self.auth_headers();
        headers.push(("Content-Type", media_type));
        let target = format!("/v2/{repo}/manifests/{reference}");
        let r = http_request(&self.addr, "PUT", &target, &headers, bytes);
        assert_eq!(r.status, 201, "PUT {target}: {}", r.text());
        let digest = sha256_digest(bytes);
        assert_eq!(r.header("docker-content-digest"), Some(digest.as_str()));
        digest
    }
}

impl Drop for TestRegistry {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Split a `Location` (absolute `http://host:port/path?q` or origin-relative `/path?q`) into the
/// address to connect to and the request target, keeping the query string.
fn split_location(default_addr: &str, location: &str) -> (String, String) {
    match location.strip_prefix("http://") {
        Some(rest) => match rest.find('/') {
            Some(i) => (rest[..i].to_owned(), rest[i..].to_owned()),
            None => (rest.to_owned(), "/".to_owned()),
        },
        None => (default_addr.to_owned(), location.to_owned()),
    }
}

/// Append `key=value` to a target that may already have a query (upload URLs carry `_state`).
fn with_query(target: &str, param: &str) -> String {
    let sep = if target.contains('?') { '&' } else { '?' };
    format!("{target}{sep}{param}")
}

// ---------------------------------------------------------------------------------------------
// skopeo
// ---------------------------------------------------------------------------------------------

/// `skopeo --insecure-policy` (no policy file needed) with the isolated home: no credentials,
/// no containers config and no proxies from the environment. Add the subcommand and run it
/// with `output()`.
pub fn skopeo() -> Command {
    let home = isolated_home();
    let mut cmd = Command::new("skopeo");
    cmd.arg("--insecure-policy")
        .env("HOME", &home)
        .env("XDG_RUNTIME_DIR", home.join("run"))
        .env("REGISTRY_AUTH_FILE", home.join("auth.json"))
        .stdin(Stdio::null());
    for var in ["http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY"] {
        cmd.env_remove(var);
    }
    cmd
}

/// `skopeo copy oci:<cache>:<name> dir:<out>`; returns the files of `out` (name → bytes).
pub fn skopeo_from_cache(cache: &Path, name: &str) -> Result<Vec<(String, Vec<u8>)>, String> {
    let out = tempfile::tempdir().unwrap();
    let result = skopeo()
        .arg("copy")
        .arg(format!("oci:{}:{name}", cache.display()))
        .arg(format!("dir:{}", out.path().display()))
        .output()
        .expect("run skopeo (apt-get install skopeo)");
    if !result.status.success() {
        return Err(String::from_utf8_lossy(&result.stderr).into_owned());
    }
    let mut files: Vec<(String, Vec<u8>)> = fs::read_dir(out.path())
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            (
                e.file_name().to_string_lossy().into_owned(),
                fs::read(e.path()).unwrap(),
            )
        })
        .collect();
    files.sort();
    Ok(files)
}

/// Asserts skopeo copies `name` from the cache and gets exactly `image`'s manifest and blobs.
pub fn assert_skopeo_reads(cache: &Path, name: &str, image: &Image) {
    let files = skopeo_from_cache(cache, name)
        .unwrap_or_else(|e| panic!("skopeo copy oci:…:{name} failed: {e}"));
    let manifest = files.iter().find(|(n, _)| n == "manifest.json").unwrap();
    let want: Value = serde_json::from_slice(&image.manifest).unwrap();
    if want["mediaType"] == DOCKER_MANIFEST {
        // Recorded as its OCI equivalent: the same config and layers under OCI media types.
        let got: Value = serde_json::from_slice(&manifest.1).unwrap();
        assert_eq!(got["mediaType"], OCI_MANIFEST, "{name}");
        assert_eq!(got["config"]["digest"], want["config"]["digest"], "{name}");
        assert_eq!(
            got["layers"].as_array().unwrap().len(),
            want["layers"].as_array().unwrap().len()
        );
    } else {
        assert_eq!(manifest.1, image.manifest, "{name}: manifest");
    }
    for d in std::iter::once(&image.config).chain(&image.layers) {
        let hex = d.split_once(':').unwrap().1;
        let file = files
            .iter()
            .find(|(n, _)| n == hex)
            .unwrap_or_else(|| panic!("{name}: skopeo wrote no {d}"));
        assert_eq!(sha256_digest(&file.1), *d);
    }
}

/// `skopeo inspect --raw`: the manifest bytes the registry serves for `reference`.
pub fn skopeo_raw(reference: &str) -> Vec<u8> {
    let out = skopeo()
        .args([
            "inspect",
            "--raw",
            "--tls-verify=false",
            "--retry-times",
            "0",
        ])
        .arg(format!("docker://{reference}"))
        .output()
        .expect("run skopeo (apt-get install skopeo)");
    assert!(
        out.status.success(),
        "skopeo inspect {reference}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}
