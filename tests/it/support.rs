//! Shared fixtures for the integration tests: the reference registry, a fault-injecting proxy, a
//! scripted fake server, deterministic blob content and the `layerget` command.
//!
//! Everything here is synchronous std code (threads, `TcpStream`, a tiny HTTP/1.1 client) so that
//! tests stay plain `#[test]` functions and never depend on the code under test. All sockets are
//! on `127.0.0.1`, every server gets its own port, and every child process is stopped by pid.

// Not every helper is used by every test module yet; the harness tests cover them all.
#![allow(dead_code)]

use std::collections::VecDeque;
use std::fs::{self, File};
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use sha2::{Digest as _, Sha256, Sha512};
use tempfile::TempDir;

/// How long the registry may take to answer `GET /v2/` after being spawned.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(20);

/// Socket read timeout for the test client and the fakes: long enough for a 1 GiB upload to be
/// committed, short enough that a hung peer fails the test instead of hanging the run.
const IO_TIMEOUT: Duration = Duration::from_secs(120);

/// Size of each chunked `PATCH` in [`TestRegistry::push_generated_blob`].
const PATCH_CHUNK: u64 = 32 << 20;

/// Buffer size used when streaming bodies (generator, proxy).
const COPY_BUF: usize = 64 << 10;

/// Test user accepted by a registry built with [`RegistryBuilder::basic_auth`].
pub const BASIC_USER: &str = "layerget-test";
/// Password of [`BASIC_USER`].
pub const BASIC_PASS: &str = "not-a-secret";
/// `Authorization` value for [`BASIC_USER`]:[`BASIC_PASS`] (precomputed: no base64 crate here).
pub const BASIC_AUTHORIZATION: &str = "Basic bGF5ZXJnZXQtdGVzdDpub3QtYS1zZWNyZXQ=";
/// htpasswd line for [`BASIC_USER`]; distribution only accepts bcrypt, cost 4 keeps logins fast.
const HTPASSWD_LINE: &str =
    "layerget-test:$2y$04$EQReFMPjlp9Nik4pmKzjtOT59bQdfJxnDmNrPuOnNbTifh/7V81kK\n";

// ---------------------------------------------------------------------------------------------
// Minimal HTTP/1.1 client
// ---------------------------------------------------------------------------------------------

/// A response read by the test client; the body is whatever arrived before the peer closed.
#[derive(Debug, Clone)]
pub struct HttpResponse {
    /// Status code.
    pub status: u16,
    /// Headers in arrival order, names as sent.
    pub headers: Vec<(String, String)>,
    /// Body bytes actually received (may be shorter than `Content-Length` if the peer cut it).
    pub body: Vec<u8>,
}

impl HttpResponse {
    /// First header with this name, compared case-insensitively.
    pub fn header(&self, name: &str) -> Option<&str> {
        find_header(&self.headers, name)
    }

    /// The `Content-Length` header parsed as a number.
    pub fn content_length(&self) -> Option<u64> {
        self.header("content-length")?.trim().parse().ok()
    }

    /// The body as (lossy) UTF-8, for assertions and panic messages.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// Case-insensitive header lookup shared by responses and recorded requests.
fn find_header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// Send one request (`Connection: close`) to `addr` and read the whole response; panics on I/O
/// errors before the status line. `target` is an origin-form path (`/v2/...?query`).
pub fn http_request(
    addr: &str,
    method: &str,
    target: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> HttpResponse {
    try_http_request(addr, method, target, headers, body)
        .unwrap_or_else(|e| panic!("{method} http://{addr}{target} failed: {e}"))
}

/// Like [`http_request`] but returns connection errors instead of panicking.
pub fn try_http_request(
    addr: &str,
    method: &str,
    target: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> io::Result<HttpResponse> {
    let mut body = body;
    let len = body.len() as u64;
    send_request(addr, method, target, headers, len, &mut body)
}

/// Core of the client: writes the head, streams exactly `len` body bytes from `body`, then reads
/// the response. `Content-Length` is always sent for methods that may carry a body, even when
/// it is 0: without it (or chunking) a request has no body (RFC 9112, section 6.3).
fn send_request(
    addr: &str,
    method: &str,
    target: &str,
    headers: &[(&str, &str)],
    len: u64,
    body: &mut dyn Read,
) -> io::Result<HttpResponse> {
    let stream = TcpStream::connect(addr)?;
    stream.set_read_timeout(Some(IO_TIMEOUT))?;
    stream.set_write_timeout(Some(IO_TIMEOUT))?;
    let mut head = format!("{method} {target} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    if len > 0 || matches!(method, "POST" | "PUT" | "PATCH") {
        head.push_str(&format!("Content-Length: {len}\r\n"));
    }
    head.push_str("\r\n");
    let mut writer = io::BufWriter::with_capacity(COPY_BUF, &stream);
    writer.write_all(head.as_bytes())?;
    let copied = io::copy(&mut body.take(len), &mut writer)?;
    assert_eq!(copied, len, "request body source ended early");
    writer.flush()?;
    drop(writer);
    read_response(BufReader::new(stream), method == "HEAD")
}

/// Read a status line, headers and body. The body is read leniently: up to `Content-Length`,
/// to the end of a chunked body, or to EOF; a reset or early EOF just ends it, so tests can see
/// exactly what a cut or lying server sent.
fn read_response(mut reader: impl BufRead, head_only: bool) -> io::Result<HttpResponse> {
    let status_line = read_line(&mut reader)?;
    let status = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| io::Error::other(format!("bad status line {status_line:?}")))?;
    let headers = read_headers(&mut reader)?;
    let mut response = HttpResponse {
        status,
        headers,
        body: Vec::new(),
    };
    if head_only || status == 204 || status == 304 || (100..200).contains(&status) {
        return Ok(response);
    }
    let chunked = response
        .header("transfer-encoding")
        .is_some_and(|v| v.eq_ignore_ascii_case("chunked"));
    response.body = if chunked {
        read_chunked(&mut reader)
    } else if let Some(len) = response.content_length() {
        read_lenient(&mut reader.take(len))
    } else {
        read_lenient(&mut reader)
    };
    Ok(response)
}

/// Read one CRLF-terminated line without the terminator; EOF before any byte is an error.
fn read_line(reader: &mut impl BufRead) -> io::Result<String> {
    let mut line = String::new();
    if reader.read_line(&mut line)? == 0 {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "connection closed before a complete head",
        ));
    }
    Ok(line.trim_end_matches(['\r', '\n']).to_owned())
}

/// Read header lines up to the blank line.
fn read_headers(reader: &mut impl BufRead) -> io::Result<Vec<(String, String)>> {
    let mut headers = Vec::new();
    loop {
        let line = read_line(reader)?;
        if line.is_empty() {
            return Ok(headers);
        }
        let (k, v) = line
            .split_once(':')
            .ok_or_else(|| io::Error::other(format!("bad header line {line:?}")))?;
        headers.push((k.trim().to_owned(), v.trim().to_owned()));
    }
}

/// Read until EOF or error, keeping what arrived.
fn read_lenient(reader: &mut impl Read) -> Vec<u8> {
    let mut body = Vec::new();
    let mut buf = vec![0; COPY_BUF];
    loop {
        match reader.read(&mut buf) {
            Ok(0) | Err(_) => return body,
            Ok(n) => body.extend_from_slice(&buf[..n]),
        }
    }
}

/// Decode a chunked body, stopping quietly at the first framing problem.
fn read_chunked(reader: &mut impl BufRead) -> Vec<u8> {
    let mut body = Vec::new();
    while let Ok(line) = read_line(reader) {
        let size = line.split(';').next().unwrap_or("").trim();
        let Ok(size) = u64::from_str_radix(size, 16) else {
            break;
        };
        if size == 0 {
            break;
        }
        body.extend(read_lenient(&mut reader.take(size)));
        if read_line(reader).is_err() {
            break;
        }
    }
    body
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
// Deterministic content
// ---------------------------------------------------------------------------------------------

/// Block size of [`GeneratedBytes`]: each block is a window into the seed's table.
const GEN_BLOCK: u64 = 1 << 20;

/// How far a block's window may be shifted into the table.
const GEN_SLACK: u64 = 64 << 10;

/// Deterministic pseudo-random bytes: byte `i` depends only on `(seed, i)`, so any reader
/// buffer size yields the same stream and a test can regenerate what it pushed.
///
/// The test crate is built unoptimised, where generating every word (splitmix64) ran at
/// ~5 ns/byte, 5 s per GiB. Instead a table of `GEN_BLOCK + GEN_SLACK` splitmix bytes is made
/// once, and each 1 MiB block is a window into it at a pseudo-random shift, with a per-block
/// stamp XORed over its first 8 bytes so no two blocks are equal: a memcpy per block.
#[derive(Debug, Clone)]
pub struct GeneratedBytes {
    /// Seed chosen by the test.
    seed: u64,
    /// Position of the next byte.
    pos: u64,
    /// Total length.
    size: u64,
    /// The seed's random table.
    table: Vec<u8>,
}

/// splitmix64 evaluated at counter `n` (it is counter-based, so random access is free).
fn splitmix64(seed: u64, n: u64) -> u64 {
    let mut z = seed.wrapping_add(n.wrapping_add(1).wrapping_mul(0x9E37_79B9_7F4A_7C15));
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

impl Read for GeneratedBytes {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = buf.len().min((self.size - self.pos) as usize);
        let mut i = 0;
        while i < n {
            let p = self.pos + i as u64;
            let block = p / GEN_BLOCK;
            let within = (p % GEN_BLOCK) as usize;
            let take = (n - i).min(GEN_BLOCK as usize - within);
            let mix = splitmix64(!self.seed, block);
            let start = (mix % GEN_SLACK) as usize + within;
            buf[i..i + take].copy_from_slice(&self.table[start..start + take]);
            for (j, b) in mix.to_le_bytes().iter().enumerate().skip(within).take(take) {
                buf[i + j - within] ^= b;
            }
            i += take;
        }
        self.pos += n as u64;
        Ok(n)
    }
}

/// The exact bytes that [`TestRegistry::push_generated_blob`] pushes for `(size, seed)`.
pub fn generated_bytes(size: u64, seed: u64) -> GeneratedBytes {
    let table = (0..(GEN_BLOCK + GEN_SLACK) / 8)
        .flat_map(|n| splitmix64(seed, n).to_le_bytes())
        .collect();
    GeneratedBytes {
        seed,
        pos: 0,
        size,
        table,
    }
}

/// The `sha256:<hex>` digest of [`generated_bytes`], computed by streaming.
pub fn generated_digest(size: u64, seed: u64) -> String {
    sha256_reader(&mut generated_bytes(size, seed))
}

/// Write [`generated_bytes`] to `path` (e.g. to compare with a fetched file or pre-seed a cache).
pub fn write_generated_file(path: &Path, size: u64, seed: u64) {
    let mut file = io::BufWriter::new(File::create(path).expect("create generated file"));
    io::copy(&mut generated_bytes(size, seed), &mut file).expect("write generated file");
    file.flush().expect("flush generated file");
}

/// `sha256:<hex>` of a byte slice.
pub fn sha256_digest(data: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(data)))
}

/// `sha512:<hex>` of a byte slice.
pub fn sha512_digest(data: &[u8]) -> String {
    format!("sha512:{}", hex::encode(Sha512::digest(data)))
}

/// `sha256:<hex>` of everything a reader yields.
pub fn sha256_reader(reader: &mut impl Read) -> String {
    let mut hasher = Sha256::new();
    let mut buf = vec![0; 1 << 20];
    loop {
        let n = reader.read(&mut buf).expect("read for hashing");
        if n == 0 {
            return format!("sha256:{}", hex::encode(hasher.finalize()));
        }
        hasher.update(&buf[..n]);
    }
}

/// `sha256:<hex>` of a file, streamed.
pub fn sha256_file(path: &Path) -> String {
    sha256_reader(&mut File::open(path).expect("open file for hashing"))
}

/// Reader adapter feeding everything read through a hasher, so uploads hash as they stream.
struct HashingReader<'a, R> {
    /// Source of the bytes.
    inner: R,
    /// Hasher updated with each chunk.
    hasher: &'a mut Sha256,
}

impl<R: Read> Read for HashingReader<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
}

// ---------------------------------------------------------------------------------------------
// The reference registry
// ---------------------------------------------------------------------------------------------

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

    /// The YAML config text. No health checks, no access log, a fixed secret (else it warns),
    /// and no upload purging, whose background goroutine only adds noise.
    fn config(&self, registry: &TestRegistry, port: u16) -> String {
        let dir = registry.dir.path().display().to_string();
        let mut config = format!(
            "version: 0.1\n\
             log:\n  level: warn\n  accesslog:\n    disabled: true\n\
             storage:\n  filesystem:\n    rootdirectory: \"{}\"\n  delete:\n    enabled: true\n  \
             maintenance:\n    uploadpurging:\n      enabled: false\n\
             http:\n  addr: 127.0.0.1:{port}\n  secret: layerget-test-secret\n",
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

// ---------------------------------------------------------------------------------------------
// Tiny servers: shared accept loop and request recording
// ---------------------------------------------------------------------------------------------

/// A request as a fake server or proxy received it.
#[derive(Debug, Clone)]
pub struct RecordedRequest {
    /// Method, e.g. `GET`.
    pub method: String,
    /// Request target with its query, e.g. `/v2/r/blobs/sha256:…`.
    pub path: String,
    /// Headers in arrival order, names as sent.
    pub headers: Vec<(String, String)>,
    /// When the request head had arrived (for asserting waits and backoff).
    pub at: std::time::Instant,
}

impl RecordedRequest {
    /// First header with this name, compared case-insensitively.
    pub fn header(&self, name: &str) -> Option<&str> {
        find_header(&self.headers, name)
    }

    /// The declared request body length (0 if none).
    fn content_length(&self) -> u64 {
        self.header("content-length")
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0)
    }
}

/// A connection after its request head was parsed and recorded.
struct Conn {
    /// Buffered client stream; the request body (if any) is still unread in it.
    reader: BufReader<TcpStream>,
    /// The parsed head.
    request: RecordedRequest,
    /// Set when the owning server is dropped, so long stalls end early.
    stop: Arc<AtomicBool>,
}

impl Conn {
    /// The raw stream, for writing the response.
    fn stream(&self) -> &TcpStream {
        self.reader.get_ref()
    }

    /// Read and discard the request body, so closing does not reset the connection (unread
    /// input makes the kernel send RST, which can destroy the response in flight).
    fn drain_body(&mut self) {
        let len = self.request.content_length();
        let _ = io::copy(&mut (&mut self.reader).take(len), &mut io::sink());
    }

    /// Send a complete response with `Connection: close` and close; `Content-Length` is added
    /// unless the caller set one (to let fakes lie about it). HEAD gets no body.
    fn respond(mut self, status: u16, headers: &[(String, String)], body: &[u8]) {
        self.drain_body();
        let mut head = format!("HTTP/1.1 {status} {}\r\n", reason(status));
        for (k, v) in headers {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
        if find_header(headers, "content-length").is_none() {
            head.push_str(&format!("Content-Length: {}\r\n", body.len()));
        }
        head.push_str("Connection: close\r\n\r\n");
        let mut stream = self.stream();
        let _ = stream.write_all(head.as_bytes());
        if self.request.method != "HEAD" {
            let _ = stream.write_all(body);
        }
        let _ = stream.flush();
        let _ = stream.shutdown(Shutdown::Write);
    }
}

/// Reason phrase for the statuses tests use (clients ignore it, but logs read better).
fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        206 => "Partial Content",
        301 => "Moved Permanently",
        302 => "Found",
        303 => "See Other",
        307 => "Temporary Redirect",
        308 => "Permanent Redirect",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        408 => "Request Timeout",
        416 => "Range Not Satisfiable",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "Status",
    }
}

/// Accept loop shared by [`FaultProxy`] and [`RecordingServer`]: thread per connection, one
/// request per connection, every request recorded before it is handled.
struct ServerCore {
    /// `127.0.0.1:PORT`.
    addr: String,
    /// Tells the accept loop and stalled handlers to stop.
    stop: Arc<AtomicBool>,
    /// Every request head received, in arrival order.
    requests: Arc<Mutex<Vec<RecordedRequest>>>,
    /// The accept loop, joined on drop.
    accept: Option<JoinHandle<()>>,
}

/// What a server does with each parsed connection.
type Handler = Arc<dyn Fn(Conn) + Send + Sync>;

impl ServerCore {
    /// Bind `127.0.0.1:0` and start accepting.
    fn start(handler: Handler) -> ServerCore {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("local addr").to_string();
        let stop = Arc::new(AtomicBool::new(false));
        let requests = Arc::new(Mutex::new(Vec::new()));
        let accept = {
            let (stop, requests) = (stop.clone(), requests.clone());
            thread::spawn(move || {
                for stream in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(stream) = stream else { continue };
                    let (stop, requests, handler) =
                        (stop.clone(), requests.clone(), handler.clone());
                    // Detached: each ends when its response is written, its peer goes away, or
                    // (for stalls) `stop` is set; none blocks the test binary from exiting.
                    thread::spawn(move || {
                        let _ = stream.set_read_timeout(Some(IO_TIMEOUT));
                        let mut reader = BufReader::new(stream);
                        let Ok(request) = read_request_head(&mut reader) else {
                            return;
                        };
                        requests.lock().unwrap().push(request.clone());
                        handler(Conn {
                            reader,
                            request,
                            stop,
                        });
                    });
                }
            })
        };
        ServerCore {
            addr,
            stop,
            requests,
            accept: Some(accept),
        }
    }
}

impl Drop for ServerCore {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // `accept` blocks; a throwaway connection wakes it so it sees the flag.
        let _ = TcpStream::connect(&self.addr);
        if let Some(accept) = self.accept.take() {
            let _ = accept.join();
        }
    }
}

/// Parse a request line and headers.
fn read_request_head(reader: &mut impl BufRead) -> io::Result<RecordedRequest> {
    let line = read_line(reader)?;
    let mut parts = line.split_whitespace();
    let (Some(method), Some(path)) = (parts.next(), parts.next()) else {
        return Err(io::Error::other(format!("bad request line {line:?}")));
    };
    Ok(RecordedRequest {
        method: method.to_owned(),
        path: path.to_owned(),
        headers: read_headers(reader)?,
        at: std::time::Instant::now(),
    })
}

// ---------------------------------------------------------------------------------------------
// Fault-injecting proxy
// ---------------------------------------------------------------------------------------------

/// A fault the [`FaultProxy`] applies to one request. Body offsets count response body bytes as
/// sent on the wire (the registry's blob responses use `Content-Length`, not chunking).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Fault {
    /// Forward faithfully.
    #[default]
    None,
    /// Send the upstream headers and this many body bytes, then close.
    CutAfter(u64),
    /// Send the headers and `after` body bytes, pause `secs` seconds, then send the rest.
    Stall {
        /// Body bytes sent before the pause.
        after: u64,
        /// Length of the pause.
        secs: u64,
    },
    /// Drop the `Range` header upstream, so the full body comes back as a 200.
    IgnoreRange,
    /// Answer without asking upstream (e.g. 503, or 429 with `Retry-After`).
    Status {
        /// Status code.
        code: u16,
        /// Extra headers.
        headers: Vec<(String, String)>,
        /// Body text.
        body: String,
    },
    /// Flip every bit of the body byte at this offset.
    CorruptByte(u64),
    /// Answer with a redirect to `location`, without asking upstream.
    Redirect {
        /// Target URL.
        location: String,
        /// 301, 302, 303, 307 or 308.
        status: u16,
    },
    /// Close the connection without answering.
    Hangup,
}

impl Fault {
    /// Shorthand for a [`Fault::Status`] without extra headers.
    pub fn status(code: u16, body: &str) -> Fault {
        Fault::Status {
            code,
            headers: Vec::new(),
            body: body.to_owned(),
        }
    }
}

/// Script shared by the proxy handle and its connection threads.
#[derive(Default)]
struct FaultScript {
    /// Faults consumed one per request, in arrival order.
    queue: VecDeque<Fault>,
    /// Applied once the queue is empty.
    default: Fault,
}

/// A hand-written fault-injecting HTTP/1.1 proxy in front of a [`TestRegistry`]. It exists for
/// what a real registry will not do on demand: cut or stall a body, ignore `Range`, answer
/// 429/503, flip a byte, redirect. One request per connection, answered with `Connection: close`;
/// bodies are streamed, so 1 GiB passes through in 64 KiB pieces.
pub struct FaultProxy {
    /// Accept loop and recorded requests.
    core: ServerCore,
    /// Scripted faults.
    script: Arc<Mutex<FaultScript>>,
}

impl FaultProxy {
    /// Start a proxy on `127.0.0.1:0` forwarding to `upstream` (`host:port`).
    pub fn start(upstream: &str) -> FaultProxy {
        let script = Arc::new(Mutex::new(FaultScript::default()));
        let upstream = upstream.to_owned();
        let handler: Handler = {
            let script = script.clone();
            Arc::new(move |conn| {
                let fault = {
                    let mut script = script.lock().unwrap();
                    let default = script.default.clone();
                    script.queue.pop_front().unwrap_or(default)
                };
                proxy_one(conn, &upstream, &fault);
            })
        };
        FaultProxy {
            core: ServerCore::start(handler),
            script,
        }
    }

    /// `127.0.0.1:PORT`.
    pub fn addr(&self) -> String {
        self.core.addr.clone()
    }

    /// A `registry/name@digest` reference pointing at the proxy.
    pub fn reference(&self, repo: &str, digest: &str) -> String {
        format!("{}/{repo}@{digest}", self.core.addr)
    }

    /// Queue a fault for the next request not yet given one.
    pub fn push_fault(&self, fault: Fault) {
        self.script.lock().unwrap().queue.push_back(fault);
    }

    /// Fault applied to every request once the queue is empty (initially [`Fault::None`]).
    pub fn set_default(&self, fault: Fault) {
        self.script.lock().unwrap().default = fault;
    }

    /// Every request received so far, as the client sent it (before any fault rewrote it).
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.core.requests.lock().unwrap().clone()
    }
}

/// Handle one proxied request under `fault`.
fn proxy_one(mut conn: Conn, upstream: &str, fault: &Fault) {
    match fault {
        Fault::Status {
            code,
            headers,
            body,
        } => return conn.respond(*code, headers, body.as_bytes()),
        Fault::Redirect { location, status } => {
            return conn.respond(*status, &[("Location".into(), location.clone())], b"");
        }
        Fault::Hangup => {
            conn.drain_body();
            let _ = conn.stream().shutdown(Shutdown::Both);
            return;
        }
        _ => {}
    }
    if conn.request.header("transfer-encoding").is_some() {
        // Not needed by any test: layerget only fetches, and the registry is seeded directly.
        return conn.respond(
            501,
            &[],
            b"fault proxy: chunked request bodies are not supported",
        );
    }
    let Ok(upstream_stream) = TcpStream::connect(upstream) else {
        return conn.respond(502, &[], b"fault proxy: upstream unreachable");
    };
    let _ = upstream_stream.set_read_timeout(Some(IO_TIMEOUT));
    if forward_request(&mut conn, &upstream_stream, fault).is_err() {
        return conn.respond(502, &[], b"fault proxy: sending upstream failed");
    }
    let _ = forward_response(&conn, BufReader::new(upstream_stream), fault);
    let _ = conn.stream().shutdown(Shutdown::Write);
}

/// Copy the request head (hop-by-hop headers replaced by `Connection: close`, `Range` dropped
/// for [`Fault::IgnoreRange`]) and its `Content-Length` body upstream. `Host` is kept, so
/// absolute URLs the registry builds point back at the proxy.
fn forward_request(conn: &mut Conn, mut upstream: &TcpStream, fault: &Fault) -> io::Result<()> {
    let request = &conn.request;
    let mut head = format!("{} {} HTTP/1.1\r\n", request.method, request.path);
    for (k, v) in &request.headers {
        let hop = ["connection", "keep-alive", "proxy-connection"]
            .iter()
            .any(|h| k.eq_ignore_ascii_case(h));
        let dropped_range = *fault == Fault::IgnoreRange && k.eq_ignore_ascii_case("range");
        if !hop && !dropped_range {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
    }
    head.push_str("Connection: close\r\n\r\n");
    upstream.write_all(head.as_bytes())?;
    let len = request.content_length();
    io::copy(&mut (&mut conn.reader).take(len), &mut upstream)?;
    upstream.flush()
}

/// Relay the upstream response: the head with `Connection: close`, then the body until the
/// upstream closes (it was asked to), applying body faults on the way.
fn forward_response(
    conn: &Conn,
    mut upstream: BufReader<TcpStream>,
    fault: &Fault,
) -> io::Result<()> {
    let status_line = read_line(&mut upstream)?;
    let headers = read_headers(&mut upstream)?;
    let mut head = format!("{status_line}\r\n");
    for (k, v) in headers
        .iter()
        .filter(|(k, _)| !k.eq_ignore_ascii_case("connection"))
    {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("Connection: close\r\n\r\n");
    let mut client = conn.stream();
    client.write_all(head.as_bytes())?;

    let mut buf = vec![0; COPY_BUF];
    let mut offset = 0u64;
    let mut stalled = false;
    loop {
        let n = match upstream.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        let chunk = &mut buf[..n];
        let end = offset + n as u64;
        match *fault {
            Fault::CorruptByte(at) if (offset..end).contains(&at) => {
                chunk[(at - offset) as usize] ^= 0xFF;
            }
            Fault::CutAfter(limit) if end >= limit => {
                client.write_all(&chunk[..(limit - offset) as usize])?;
                client.flush()?;
                // Shutdown instead of drop: the client must see a clean EOF, not a reset.
                return client.shutdown(Shutdown::Both);
            }
            Fault::Stall { after, secs } if !stalled && end > after => {
                let split = (after - offset) as usize;
                client.write_all(&chunk[..split])?;
                client.flush()?;
                stall(secs, &conn.stop);
                stalled = true;
                client.write_all(&chunk[split..])?;
                offset = end;
                continue;
            }
            _ => {}
        }
        client.write_all(chunk)?;
        offset = end;
    }
    client.flush()
}

/// Sleep `secs` seconds in short steps, ending early once the server is dropped.
fn stall(secs: u64, stop: &AtomicBool) {
    let until = Instant::now() + Duration::from_secs(secs);
    while Instant::now() < until && !stop.load(Ordering::SeqCst) {
        thread::sleep(Duration::from_millis(20));
    }
}

// ---------------------------------------------------------------------------------------------
// Scripted fake server
// ---------------------------------------------------------------------------------------------

/// A response a [`RecordingServer`] sends.
#[derive(Debug, Clone)]
pub struct ScriptedResponse {
    /// Status code.
    pub status: u16,
    /// Headers; `Content-Length` is added from the body unless set here.
    pub headers: Vec<(String, String)>,
    /// Body (not sent for HEAD).
    pub body: Vec<u8>,
}

impl ScriptedResponse {
    /// A response with this status and body and no headers yet.
    pub fn new(status: u16, body: impl Into<Vec<u8>>) -> ScriptedResponse {
        ScriptedResponse {
            status,
            headers: Vec::new(),
            body: body.into(),
        }
    }

    /// Add a header.
    pub fn header(mut self, name: &str, value: &str) -> ScriptedResponse {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }
}

/// A tiny standalone fake HTTP server (not a registry): answers each request with whatever its
/// script returns and records it. Used where the real registry cannot play the part: a CDN host
/// that rejects `Authorization`, or a server that lies about content.
pub struct RecordingServer {
    /// Accept loop and recorded requests.
    core: ServerCore,
}

impl RecordingServer {
    /// Start a server answering each request with `script(request)`.
    pub fn start(
        script: impl Fn(&RecordedRequest) -> ScriptedResponse + Send + Sync + 'static,
    ) -> RecordingServer {
        let handler: Handler = Arc::new(move |conn: Conn| {
            let response = script(&conn.request);
            conn.respond(response.status, &response.headers, &response.body);
        });
        RecordingServer {
            core: ServerCore::start(handler),
        }
    }

    /// Start a server giving every request the same response.
    pub fn fixed(response: ScriptedResponse) -> RecordingServer {
        Self::start(move |_| response.clone())
    }

    /// `127.0.0.1:PORT`.
    pub fn addr(&self) -> String {
        self.core.addr.clone()
    }

    /// `http://127.0.0.1:PORT` followed by `path`, e.g. for a [`Fault::Redirect`] location.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.core.addr)
    }

    /// A `registry/name@digest` reference pointing at this server.
    pub fn reference(&self, repo: &str, digest: &str) -> String {
        format!("{}/{repo}@{digest}", self.core.addr)
    }

    /// Every request received so far.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.core.requests.lock().unwrap().clone()
    }
}

/// A fake registry that answers every blob request with `bytes`, claiming in
/// `Docker-Content-Digest` whatever digest the path asked for: content that does not match.
pub fn lying_blob_server(bytes: Vec<u8>) -> RecordingServer {
    RecordingServer::start(move |request| {
        if request.path == "/v2/" || request.path == "/v2" {
            return ScriptedResponse::new(200, "{}")
                .header("Content-Type", "application/json")
                .header("Docker-Distribution-API-Version", "registry/2.0");
        }
        let claimed = request
            .path
            .rsplit('/')
            .next()
            .unwrap_or_default()
            .to_owned();
        ScriptedResponse::new(200, bytes.clone())
            .header("Content-Type", "application/octet-stream")
            .header("Docker-Content-Digest", &claimed)
    })
}

/// A fake blob host (the CDN behind a redirect) serving `bytes` to any request, but answering
/// 403 with a `DENIED` envelope when an `Authorization` header is present, as S3 and GCS do.
pub fn redirect_target(bytes: Vec<u8>) -> RecordingServer {
    RecordingServer::start(move |request| {
        if request.header("authorization").is_some() {
            return ScriptedResponse::new(
                403,
                r#"{"errors":[{"code":"DENIED","message":"authorization sent to blob host"}]}"#,
            )
            .header("Content-Type", "application/json");
        }
        ScriptedResponse::new(200, bytes.clone()).header("Content-Type", "application/octet-stream")
    })
}

// ---------------------------------------------------------------------------------------------
// The CLI
// ---------------------------------------------------------------------------------------------

/// A fixed, empty home under cargo's per-target temp dir: `HOME`, `DOCKER_CONFIG` and the XDG
/// dirs point here so no test reads `~/.docker` or writes the real cache.
pub fn isolated_home() -> PathBuf {
    let home = Path::new(env!("CARGO_TARGET_TMPDIR")).join("layerget-home");
    fs::create_dir_all(home.join("docker")).expect("create isolated home");
    home
}

/// The built `layerget` binary with a clean, reproducible environment: no backtraces, no colour,
/// no proxies, no inherited cache dir, and an isolated home and Docker config.
pub fn layerget() -> assert_cmd::Command {
    let home = isolated_home();
    let mut cmd = assert_cmd::cargo::cargo_bin_cmd!("layerget");
    for var in [
        "LAYERGET_CACHE_DIR",
        "RUST_LOG",
        "http_proxy",
        "https_proxy",
        "all_proxy",
        "no_proxy",
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "ALL_PROXY",
        "NO_PROXY",
        "REGISTRY_AUTH_FILE",
        "XDG_RUNTIME_DIR",
    ] {
        cmd.env_remove(var);
    }
    cmd.env("RUST_BACKTRACE", "0")
        .env("RUST_LIB_BACKTRACE", "0")
        .env("NO_COLOR", "1")
        .env("HOME", &home)
        .env("DOCKER_CONFIG", home.join("docker"))
        .env("XDG_CACHE_HOME", home.join("cache"))
        .env("XDG_CONFIG_HOME", home.join("config"));
    cmd
}

/// A per-test cache directory, deleted when dropped.
#[derive(Debug)]
pub struct TempCache {
    /// The directory itself.
    dir: TempDir,
}

impl TempCache {
    /// Create an empty cache directory.
    pub fn new() -> TempCache {
        TempCache {
            dir: TempDir::new().expect("create temp cache"),
        }
    }

    /// The cache root, for `--cache-dir`.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Makes the directory an OCI image layout (`oci-layout`), as a test that plants content by
    /// hand needs: layerget opens only empty directories and layouts as caches. Returns the
    /// cache for chaining.
    pub fn with_layout(self) -> TempCache {
        fs::write(
            self.path().join("oci-layout"),
            br#"{"imageLayoutVersion":"1.0.0"}"#,
        )
        .expect("write oci-layout");
        self
    }

    /// Where a verified blob lives in the OCI layout: `blobs/<alg>/<hex>`.
    pub fn blob_path(&self, digest: &str) -> PathBuf {
        let (alg, hex) = digest.split_once(':').expect("digest has an algorithm");
        self.path().join("blobs").join(alg).join(hex)
    }
}

impl Default for TempCache {
    fn default() -> Self {
        Self::new()
    }
}
