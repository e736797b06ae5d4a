//! Hand-written test server: a Docker token server (the token flow of distribution's
//! `docs/spec/auth/token.md`, plus the OAuth2 `POST` of `oauth.md`), and helpers that run the
//! reference registry in token-auth and TLS modes around it, seeded through a plain registry on
//! the same storage.
//!
//! The token server signs RS256 JWTs with `ring`, using the test-only key and self-signed
//! certificate committed in `tests/data/` (see its README; no `openssl` at test time). The
//! registry trusts that certificate through `auth.token.rootcertbundle` and finds it in each
//! token's `x5c` header. Grants: [`ALICE_USER`] gets whatever she asks for on any repository;
//! anyone, even anonymous, gets `pull` on repositories under `public/`; everyone else gets a token
//! with an empty `access` list, which the registry refuses with `insufficient_scope`. Wrong
//! credentials get a 401 with a JSON body and no token.
//!
//! Facts about distribution 2.8.2 that the harness tests at the bottom check:
//! - the challenge is `Bearer realm="…",service="…",scope="repository:<name>:pull"` (no scope
//!   for `GET /v2/`), and a token lacking the scope gets the same challenge plus
//!   `error="insufficient_scope"`;
//! - `exp` and `nbf` are checked with 60 s of leeway, so a token expired 30 s ago still works: a
//!   client renewing tokens is visible at the token server, not as registry refusals.

// Not every helper is used until `mod auth;` is enabled.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::fs;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ring::rand::SystemRandom;
use ring::signature::{RSA_PKCS1_SHA256, RsaKeyPair};
use serde_json::{Value, json};

use crate::support::*;

/// The user the token server grants everything to.
pub const ALICE_USER: &str = "alice";
/// [`ALICE_USER`]'s password.
pub const ALICE_PASS: &str = "wonderland-secret";
/// An identity (refresh) token standing for [`ALICE_USER`]: accepted as the password of any
/// username in `GET /token`, and as `refresh_token` in the OAuth2 `POST /token`.
pub const ALICE_IDENTITY_TOKEN: &str = "alice-identity-token-7c1f0e";
/// `service` of the token registry (the JWT audience).
pub const TOKEN_SERVICE: &str = "layerget-test";
/// `iss` of the tokens, as the registry is told to expect.
pub const TOKEN_ISSUER: &str = "layerget-test-issuer";
/// Default `expires_in` of issued tokens, in seconds.
pub const DEFAULT_EXPIRES_IN: u64 = 300;

/// A path under `tests/data/` (committed, test-only keys and certificates).
pub fn test_data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name)
}

// ---------------------------------------------------------------------------------------------
// Encoding helpers (no base64 crate among the dev-dependencies)
// ---------------------------------------------------------------------------------------------

/// Base64 with the standard alphabet and `=` padding (RFC 4648, section 4), as Docker's
/// `config.json` `auth` field and HTTP Basic use.
pub fn base64(data: &[u8]) -> String {
    encode64(
        data,
        b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/",
        true,
    )
}

/// Base64url without padding (RFC 4648, section 5), as JWTs use (RFC 7515, section 2).
pub fn base64url(data: &[u8]) -> String {
    encode64(
        data,
        b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_",
        false,
    )
}

/// Three bytes in, four symbols out; the last group is padded or cut short.
fn encode64(data: &[u8], alphabet: &[u8; 64], pad: bool) -> String {
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = u32::from(b[0]) << 16 | u32::from(b[1]) << 8 | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(alphabet[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else if pad {
                out.push('=');
            }
        }
    }
    out
}

/// Base64 decoding of either alphabet, padding optional; `None` on any other byte.
fn decode64(text: &str) -> Option<Vec<u8>> {
    let mut bits = 0u32;
    let mut nbits = 0;
    let mut out = Vec::new();
    for c in text.trim_end_matches('=').bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' | b'-' => 62,
            b'/' | b'_' => 63,
            _ => return None,
        };
        bits = bits << 6 | u32::from(v);
        nbits += 6;
        if nbits >= 8 {
            nbits -= 8;
            out.push((bits >> nbits) as u8);
        }
    }
    Some(out)
}

/// `Authorization: Basic …` value for `user:pass`.
pub fn basic_authorization(user: &str, pass: &str) -> String {
    format!("Basic {}", base64(format!("{user}:{pass}").as_bytes()))
}

/// Decode `application/x-www-form-urlencoded` text (queries and OAuth2 bodies) into pairs.
fn form_decode(text: &str) -> Vec<(String, String)> {
    let unescape = |s: &str| -> String {
        let s = s.as_bytes();
        let mut out = Vec::with_capacity(s.len());
        let mut i = 0;
        while i < s.len() {
            match s[i] {
                b'+' => out.push(b' '),
                b'%' if i + 2 < s.len() && s[i + 1..i + 3].iter().all(u8::is_ascii_hexdigit) => {
                    let hex = std::str::from_utf8(&s[i + 1..i + 3]).expect("ASCII hex digits");
                    out.push(u8::from_str_radix(hex, 16).expect("two hex digits"));
                    i += 2;
                }
                c => out.push(c),
            }
            i += 1;
        }
        String::from_utf8_lossy(&out).into_owned()
    };
    text.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| match p.split_once('=') {
            Some((k, v)) => (unescape(k), unescape(v)),
            None => (unescape(p), String::new()),
        })
        .collect()
}

/// Seconds since the Unix epoch.
pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs()
}

/// RFC 3339 UTC timestamp (`2024-05-01T12:00:00Z`) for Unix seconds, via Howard Hinnant's
/// days-to-civil algorithm.
pub fn rfc3339(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

// ---------------------------------------------------------------------------------------------
// JWTs
// ---------------------------------------------------------------------------------------------

/// The committed signing certificate as PEM (the registry's `rootcertbundle`).
fn signing_cert_pem() -> String {
    fs::read_to_string(test_data("token-signing.crt.pem")).expect("read token-signing.crt.pem")
}

/// Sign a JWT for `subject` granting `access` (`(repository, actions)` pairs), issued at `iat`
/// and expiring at `exp` (Unix seconds). Public so tests can mint tokens the server would not
/// (e.g. already expired ones).
pub fn mint_token(subject: &str, access: &[(String, Vec<String>)], iat: u64, exp: u64) -> String {
    static JTI: AtomicU64 = AtomicU64::new(0);
    // The PEM body is already the standard base64 of the DER certificate that `x5c` wants
    // (RFC 7515, section 4.1.6).
    let x5c: String = signing_cert_pem()
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .collect();
    let header = json!({"typ": "JWT", "alg": "RS256", "x5c": [x5c]});
    let access: Vec<Value> = access
        .iter()
        .map(|(name, actions)| json!({"type": "repository", "name": name, "actions": actions}))
        .collect();
    let claims = json!({
        "iss": TOKEN_ISSUER,
        "sub": subject,
        "aud": TOKEN_SERVICE,
        "exp": exp,
        "nbf": iat,
        "iat": iat,
        "jti": format!("layerget-test-{iat}-{}", JTI.fetch_add(1, Ordering::SeqCst)),
        "access": access,
    });
    let signing_input = format!(
        "{}.{}",
        base64url(header.to_string().as_bytes()),
        base64url(claims.to_string().as_bytes())
    );
    let key = fs::read(test_data("token-signing.pk8")).expect("read token-signing.pk8");
    let key = RsaKeyPair::from_pkcs8(&key).expect("token-signing.pk8 is a PKCS#8 RSA key");
    let mut signature = vec![0; key.public().modulus_len()];
    key.sign(
        &RSA_PKCS1_SHA256,
        &SystemRandom::new(),
        signing_input.as_bytes(),
        &mut signature,
    )
    .expect("RS256 signing");
    format!("{signing_input}.{}", base64url(&signature))
}

/// The claims of a JWT, decoded without checking the signature (for assertions).
pub fn token_claims(token: &str) -> Value {
    let claims = token.split('.').nth(1).expect("a JWT has three parts");
    serde_json::from_slice(&decode64(claims).expect("claims are base64url")).expect("JSON claims")
}

// ---------------------------------------------------------------------------------------------
// The token server
// ---------------------------------------------------------------------------------------------

/// Settings of a [`TokenServer`].
#[derive(Debug, Clone)]
pub struct TokenOptions {
    /// `expires_in` of issued tokens (and `exp - iat` of the JWT), in seconds.
    pub expires_in: u64,
}

impl Default for TokenOptions {
    fn default() -> Self {
        TokenOptions {
            expires_in: DEFAULT_EXPIRES_IN,
        }
    }
}

/// Who a token request was served as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Caller {
    /// No credentials.
    Anonymous,
    /// [`ALICE_USER`] with [`ALICE_PASS`].
    Alice,
    /// [`ALICE_IDENTITY_TOKEN`] (as a Basic password or an OAuth2 refresh token).
    AliceByIdentityToken,
    /// Credentials were sent but are wrong: answered 401, no token.
    Refused,
}

/// One request the token server received.
#[derive(Debug, Clone)]
pub struct TokenRequest {
    /// `GET` or `POST`.
    pub method: String,
    /// Path and query as sent.
    pub target: String,
    /// Whether an `Authorization` header was present.
    pub authorization: bool,
    /// Who it was served as.
    pub caller: Caller,
    /// The `service` parameter.
    pub service: Option<String>,
    /// Every scope asked for, decoded (`scope` may repeat and hold several, space-separated).
    pub scopes: Vec<String>,
    /// `grant_type` of an OAuth2 `POST`.
    pub grant_type: Option<String>,
    /// Status answered.
    pub status: u16,
}

/// A token the server issued, with its claims.
#[derive(Debug, Clone)]
pub struct IssuedToken {
    /// The JWT.
    pub token: String,
    /// Its claims (`sub`, `access`, `exp`, …).
    pub claims: Value,
}

/// State shared with the connection threads.
struct TokenState {
    /// Settings.
    options: TokenOptions,
    /// Every request, in arrival order.
    requests: Mutex<Vec<TokenRequest>>,
    /// Every token issued.
    issued: Mutex<Vec<IssuedToken>>,
}

/// The hand-written token server on `127.0.0.1`: thread per connection, one request per
/// connection, `GET /token` and `POST /token` only. Dropping it stops the accept loop.
pub struct TokenServer {
    /// `127.0.0.1:PORT`.
    addr: String,
    /// Shared state.
    state: Arc<TokenState>,
    /// Tells the accept loop to stop.
    stop: Arc<AtomicBool>,
    /// The accept loop, joined on drop.
    accept: Option<JoinHandle<()>>,
}

impl TokenServer {
    /// Start with [`TokenOptions::default`].
    pub fn start() -> TokenServer {
        Self::start_with(TokenOptions::default())
    }

    /// Start on `127.0.0.1:0` with these options.
    pub fn start_with(options: TokenOptions) -> TokenServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("local addr").to_string();
        let state = Arc::new(TokenState {
            options,
            requests: Mutex::new(Vec::new()),
            issued: Mutex::new(Vec::new()),
        });
        let stop = Arc::new(AtomicBool::new(false));
        let accept = {
            let (state, stop) = (state.clone(), stop.clone());
            thread::spawn(move || {
                for stream in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(stream) = stream else { continue };
                    let state = state.clone();
                    thread::spawn(move || {
                        let _ = serve_connection(stream, &state);
                    });
                }
            })
        };
        TokenServer {
            addr,
            state,
            stop,
            accept: Some(accept),
        }
    }

    /// `127.0.0.1:PORT`.
    pub fn addr(&self) -> String {
        self.addr.clone()
    }

    /// The realm the registry announces: `http://127.0.0.1:PORT/token`.
    pub fn realm(&self) -> String {
        format!("http://{}/token", self.addr)
    }

    /// Every request so far.
    pub fn requests(&self) -> Vec<TokenRequest> {
        self.state.requests.lock().unwrap().clone()
    }

    /// Every token issued so far.
    pub fn issued(&self) -> Vec<IssuedToken> {
        self.state.issued.lock().unwrap().clone()
    }
}

impl Drop for TokenServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // `accept` blocks; a throwaway connection wakes it so it sees the flag.
        let _ = TcpStream::connect(&self.addr);
        if let Some(accept) = self.accept.take() {
            let _ = accept.join();
        }
    }
}

/// Read one request (head and a `Content-Length` body of at most 64 KiB), answer, close.
fn serve_connection(stream: TcpStream, state: &TokenState) -> io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    let mut reader = BufReader::new(&stream);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let mut parts = line.split_whitespace();
    let (method, target) = (
        parts.next().unwrap_or_default().to_owned(),
        parts.next().unwrap_or_default().to_owned(),
    );
    let mut headers = BTreeMap::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 || line.trim().is_empty() {
            break;
        }
        if let Some((k, v)) = line.split_once(':') {
            headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_owned());
        }
    }
    let len: u64 = headers
        .get("content-length")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let mut body = Vec::new();
    reader.take(len.min(64 << 10)).read_to_end(&mut body)?;
    let (status, json) = answer(state, &method, &target, &headers, &body);
    let body = json.to_string();
    let head = format!(
        "HTTP/1.1 {status} {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n",
        if status == 200 { "OK" } else { "Error" },
        body.len()
    );
    let mut out = &stream;
    out.write_all(head.as_bytes())?;
    out.write_all(body.as_bytes())?;
    out.flush()?;
    stream.shutdown(Shutdown::Write)
}

/// Decide who is asking and what they get; records the request.
fn answer(
    state: &TokenState,
    method: &str,
    target: &str,
    headers: &BTreeMap<String, String>,
    body: &[u8],
) -> (u16, Value) {
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let mut params = form_decode(query);
    if method == "POST" {
        params.extend(form_decode(&String::from_utf8_lossy(body)));
    }
    let param = |name: &str| {
        params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    let scopes: Vec<String> = params
        .iter()
        .filter(|(k, _)| k == "scope")
        .flat_map(|(_, v)| v.split(' ').map(str::to_owned).collect::<Vec<_>>())
        .filter(|s| !s.is_empty())
        .collect();
    let grant_type = if method == "POST" {
        param("grant_type")
    } else {
        None
    };
    let caller = match (method, grant_type.as_deref()) {
        ("POST", Some("refresh_token")) => match param("refresh_token") {
            Some(t) if t == ALICE_IDENTITY_TOKEN => Caller::AliceByIdentityToken,
            _ => Caller::Refused,
        },
        ("POST", Some("password")) => {
            check_password(param("username").as_deref(), param("password").as_deref())
        }
        ("POST", _) => Caller::Refused,
        _ => match headers.get("authorization") {
            None => Caller::Anonymous,
            Some(value) => {
                let decoded = value
                    .strip_prefix("Basic ")
                    .and_then(|b| decode64(b.trim()))
                    .map(|b| String::from_utf8_lossy(&b).into_owned());
                match decoded.as_deref().and_then(|d| d.split_once(':')) {
                    Some((user, pass)) => check_password(Some(user), Some(pass)),
                    None => Caller::Refused,
                }
            }
        },
    };
    let (status, json) = if path != "/token" || !matches!(method, "GET" | "POST") {
        (
            404,
            json!({"errors": [{"code": "NOT_FOUND", "message": "only /token"}]}),
        )
    } else if caller == Caller::Refused {
        // As Docker Hub's auth server does: 401 with an error body and no token.
        (
            401,
            json!({"errors": [{"code": "UNAUTHORIZED", "message": "incorrect username or password"}]}),
        )
    } else {
        let access: Vec<(String, Vec<String>)> =
            scopes.iter().filter_map(|s| grant(caller, s)).collect();
        let iat = unix_now();
        let expires_in = state.options.expires_in;
        let subject = match caller {
            Caller::Anonymous => "",
            _ => ALICE_USER,
        };
        let token = mint_token(subject, &access, iat, iat + expires_in);
        state.issued.lock().unwrap().push(IssuedToken {
            token: token.clone(),
            claims: token_claims(&token),
        });
        let mut json = json!({
            "token": token,
            "access_token": token,
            "expires_in": expires_in,
            "issued_at": rfc3339(iat),
        });
        if method == "POST" {
            json["scope"] = json!(scopes.join(" "));
        }
        (200, json)
    };
    state.requests.lock().unwrap().push(TokenRequest {
        method: method.to_owned(),
        target: target.to_owned(),
        authorization: headers.contains_key("authorization"),
        caller,
        service: param("service"),
        scopes,
        grant_type,
        status,
    });
    (status, json)
}

/// [`ALICE_USER`]/[`ALICE_PASS`], or any username with [`ALICE_IDENTITY_TOKEN`].
fn check_password(user: Option<&str>, pass: Option<&str>) -> Caller {
    match (user, pass) {
        (Some(ALICE_USER), Some(ALICE_PASS)) => Caller::Alice,
        (_, Some(ALICE_IDENTITY_TOKEN)) => Caller::AliceByIdentityToken,
        _ => Caller::Refused,
    }
}

/// The access entry `caller` gets for one `repository:<name>:<actions>` scope, if any.
fn grant(caller: Caller, scope: &str) -> Option<(String, Vec<String>)> {
    let rest = scope.strip_prefix("repository:")?;
    let (name, actions) = rest.rsplit_once(':')?;
    let actions: Vec<String> = actions
        .split(',')
        .filter(|a| match caller {
            Caller::Alice | Caller::AliceByIdentityToken => true,
            _ => *a == "pull" && name.starts_with("public/"),
        })
        .map(str::to_owned)
        .collect();
    (!actions.is_empty()).then(|| (name.to_owned(), actions))
}

// ---------------------------------------------------------------------------------------------
// Registries in token and TLS mode
// ---------------------------------------------------------------------------------------------

/// A token-auth reference registry with its token server and a plain registry on the same
/// storage for seeding. Fields drop in order, so the registries stop before the token server.
pub struct TokenRegistry {
    /// The registry under test (`auth: token`).
    pub registry: TestRegistry,
    /// Plain registry on the same storage: push content through it.
    pub seed: TestRegistry,
    /// The token server the registry's challenges point to.
    pub tokens: TokenServer,
}

/// The `auth: token` YAML for a token server.
pub fn token_auth_yaml(tokens: &TokenServer) -> String {
    format!(
        "auth:\n  token:\n    realm: {}\n    service: {TOKEN_SERVICE}\n    issuer: {TOKEN_ISSUER}\n    \
         rootcertbundle: \"{{dir}}/token-signing.crt.pem\"",
        tokens.realm()
    )
}

impl TokenRegistry {
    /// Token server with default options, registry without extra config.
    pub fn start() -> TokenRegistry {
        Self::start_with(TokenOptions::default(), |b| b)
    }

    /// Start a token server with `options`, a plain seed registry and the token-auth registry
    /// on its storage; `configure` may add YAML (e.g. [`redirect_middleware_yaml`]).
    pub fn start_with(
        options: TokenOptions,
        configure: impl FnOnce(RegistryBuilder) -> RegistryBuilder,
    ) -> TokenRegistry {
        let tokens = TokenServer::start_with(options);
        let seed = TestRegistry::start();
        let builder = TestRegistry::builder()
            .storage_dir(&seed.storage_dir())
            .file("token-signing.crt.pem", signing_cert_pem())
            .yaml(&token_auth_yaml(&tokens));
        let registry = configure(builder).start();
        TokenRegistry {
            registry,
            seed,
            tokens,
        }
    }

    /// Push `data` to `repo` through the seed registry; returns the digest.
    pub fn push_blob(&self, repo: &str, data: &[u8]) -> String {
        self.seed.push_blob(repo, data)
    }

    /// `127.0.0.1:PORT` of the token-auth registry.
    pub fn addr(&self) -> String {
        self.registry.addr()
    }

    /// `127.0.0.1:PORT/repo@digest` on the token-auth registry.
    pub fn reference(&self, repo: &str, digest: &str) -> String {
        self.registry.reference(repo, digest)
    }

    /// Token requests that asked for `scope` (e.g. `repository:team/app:pull`).
    pub fn token_requests_for(&self, scope: &str) -> Vec<TokenRequest> {
        self.tokens
            .requests()
            .into_iter()
            .filter(|r| r.scopes.iter().any(|s| s == scope))
            .collect()
    }
}

/// YAML for distribution's `redirect` storage middleware: blob GET/HEAD answer 307 to the
/// scheme and host of `base_url` (2.8.2 drops its path) + the storage path
/// (`/docker/registry/v2/blobs/sha256/ab/ab…/data`), as with S3 or a CDN: the real registry
/// does the redirect, after checking the token.
pub fn redirect_middleware_yaml(base_url: &str) -> String {
    format!(
        "middleware:\n  storage:\n    - name: redirect\n      options:\n        baseurl: {base_url}"
    )
}

/// An HTTPS reference registry (committed test-only CA and `127.0.0.1` certificate) and the
/// plain registry that seeds its storage.
pub struct TlsRegistry {
    /// The registry under test (`http.tls`).
    pub registry: TestRegistry,
    /// Plain registry on the same storage: push content through it.
    pub seed: TestRegistry,
}

impl TlsRegistry {
    /// Start the seed registry and an HTTPS one on its storage.
    pub fn start() -> TlsRegistry {
        let seed = TestRegistry::start();
        let read = |name| fs::read(test_data(name)).expect("read TLS test data");
        let registry = TestRegistry::builder()
            .storage_dir(&seed.storage_dir())
            .tls(&read("tls-server.pem"), &read("tls-server.key.pem"))
            .start();
        TlsRegistry { registry, seed }
    }

    /// The CA that signed the registry's certificate, for `--ca-file`.
    pub fn ca_file(&self) -> PathBuf {
        test_data("tls-ca.pem")
    }

    /// A CA that did not: `--ca-file` with it must still fail verification.
    pub fn unrelated_ca_file(&self) -> PathBuf {
        test_data("other-ca.pem")
    }

    /// Push `data` to `repo` through the seed registry; returns the digest.
    pub fn push_blob(&self, repo: &str, data: &[u8]) -> String {
        self.seed.push_blob(repo, data)
    }

    /// `127.0.0.1:PORT/repo@digest` on the HTTPS registry.
    pub fn reference(&self, repo: &str, digest: &str) -> String {
        self.registry.reference(repo, digest)
    }
}

/// `GET target` over HTTPS trusting only the CA in `ca_file`, with rustls (a dependency, not
/// layerget code). Returns the status, or the TLS error as text.
pub fn https_get_status(addr: &str, target: &str, ca_file: &Path) -> Result<u16, String> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, ServerName};
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(ca_file).map_err(|e| e.to_string())? {
        roots
            .add(cert.map_err(|e| e.to_string())?)
            .map_err(|e| e.to_string())?;
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| e.to_string())?
    .with_root_certificates(roots)
    .with_no_client_auth();
    let host = addr.rsplit_once(':').map_or(addr, |(h, _)| h).to_owned();
    let name = ServerName::try_from(host).map_err(|e| e.to_string())?;
    let conn = rustls::ClientConnection::new(Arc::new(config), name).map_err(|e| e.to_string())?;
    let tcp = TcpStream::connect(addr).map_err(|e| e.to_string())?;
    tcp.set_read_timeout(Some(Duration::from_secs(10)))
        .map_err(|e| e.to_string())?;
    let mut tls = rustls::StreamOwned::new(conn, tcp);
    tls.write_all(
        format!("GET {target} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").as_bytes(),
    )
    .map_err(|e| e.to_string())?;
    let mut response = Vec::new();
    // Go may close without close_notify; what arrived is enough for the status line.
    if let Err(e) = tls.read_to_end(&mut response)
        && response.is_empty()
    {
        return Err(e.to_string());
    }
    String::from_utf8_lossy(&response)
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| "no status line".to_owned())
}

// ---------------------------------------------------------------------------------------------
// Harness tests: the token server, the registry's token auth, TLS (raw HTTP, no layerget)
// ---------------------------------------------------------------------------------------------

/// `GET /token` with optional Basic credentials; returns the response.
fn get_token(tokens: &TokenServer, query: &str, auth: Option<(&str, &str)>) -> HttpResponse {
    let authorization = auth.map(|(u, p)| basic_authorization(u, p));
    let headers: Vec<(&str, &str)> = authorization
        .iter()
        .map(|a| ("Authorization", a.as_str()))
        .collect();
    http_request(
        &tokens.addr(),
        "GET",
        &format!("/token?{query}"),
        &headers,
        b"",
    )
}

/// The `token` field of a 200 token response.
fn token_of(r: &HttpResponse) -> String {
    assert_eq!(r.status, 200, "{}", r.text());
    let json: Value = serde_json::from_slice(&r.body).unwrap();
    json["token"].as_str().unwrap().to_owned()
}

#[test]
fn encoders_match_rfc4648_vectors() {
    let vectors = [
        ("", "", ""),
        ("f", "Zg==", "Zg"),
        ("fo", "Zm8=", "Zm8"),
        ("foo", "Zm9v", "Zm9v"),
        ("foob", "Zm9vYg==", "Zm9vYg"),
        ("fooba", "Zm9vYmE=", "Zm9vYmE"),
        ("foobar", "Zm9vYmFy", "Zm9vYmFy"),
    ];
    for (plain, std, url) in vectors {
        assert_eq!(base64(plain.as_bytes()), std);
        assert_eq!(base64url(plain.as_bytes()), url);
        assert_eq!(decode64(std).unwrap(), plain.as_bytes());
    }
    assert_eq!(base64url(&[0xfb, 0xff]), "-_8");
    assert_eq!(base64(&[0xfb, 0xff]), "+/8=");
    assert_eq!(
        basic_authorization(BASIC_USER, BASIC_PASS),
        BASIC_AUTHORIZATION
    );
    assert_eq!(
        form_decode("scope=repository%3Aa%2Fb%3Apull+x&e=&f"),
        [
            ("scope".into(), "repository:a/b:pull x".into()),
            ("e".into(), String::new()),
            ("f".into(), String::new())
        ]
    );
    assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
    assert_eq!(rfc3339(951_782_400 + 3_723), "2000-02-29T01:02:03Z");
    assert_eq!(rfc3339(1_700_000_000), "2023-11-14T22:13:20Z");
}

#[test]
fn token_server_grants_by_caller_and_records_requests() {
    let tokens = TokenServer::start_with(TokenOptions { expires_in: 7 });
    let q = |repo: &str| format!("service={TOKEN_SERVICE}&scope=repository%3A{repo}%3Apull%2Cpush");

    let r = get_token(&tokens, &q("private/app"), Some((ALICE_USER, ALICE_PASS)));
    let json: Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(json["token"], json["access_token"]);
    assert_eq!(json["expires_in"], 7);
    assert!(json["issued_at"].as_str().unwrap().ends_with('Z'));
    let claims = token_claims(&token_of(&r));
    assert_eq!(claims["sub"], ALICE_USER);
    assert_eq!(claims["aud"], TOKEN_SERVICE);
    assert_eq!(claims["iss"], TOKEN_ISSUER);
    assert_eq!(
        claims["exp"].as_u64().unwrap() - claims["iat"].as_u64().unwrap(),
        7
    );
    assert_eq!(
        claims["access"],
        json!([{"type": "repository", "name": "private/app", "actions": ["pull", "push"]}])
    );

    // Anonymous: pull only, only under public/; elsewhere an empty access list.
    let anon_public = token_claims(&token_of(&get_token(&tokens, &q("public/app"), None)));
    assert_eq!(anon_public["access"][0]["actions"], json!(["pull"]));
    assert_eq!(anon_public["sub"], "");
    let anon_private = token_claims(&token_of(&get_token(&tokens, &q("private/app"), None)));
    assert_eq!(anon_private["access"], json!([]));

    // The identity token works as a Basic password and as an OAuth2 refresh token.
    let r = get_token(&tokens, &q("x/y"), Some(("<token>", ALICE_IDENTITY_TOKEN)));
    assert_eq!(token_claims(&token_of(&r))["sub"], ALICE_USER);
    let form = format!(
        "grant_type=refresh_token&refresh_token={ALICE_IDENTITY_TOKEN}&service={TOKEN_SERVICE}\
         &scope=repository%3Ax%2Fy%3Apull&client_id=layerget"
    );
    let r = http_request(
        &tokens.addr(),
        "POST",
        "/token",
        &[("Content-Type", "application/x-www-form-urlencoded")],
        form.as_bytes(),
    );
    let json: Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(json["scope"], "repository:x/y:pull");
    assert_eq!(
        token_claims(json["access_token"].as_str().unwrap())["sub"],
        ALICE_USER
    );

    // A wrong password: 401 with a JSON body, no token.
    let r = get_token(&tokens, &q("private/app"), Some((ALICE_USER, "wrong")));
    assert_eq!(r.status, 401);
    let json: Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(json["errors"][0]["code"], "UNAUTHORIZED");
    assert!(json.get("token").is_none());

    let seen = tokens.requests();
    let callers: Vec<Caller> = seen.iter().map(|r| r.caller).collect();
    assert_eq!(
        callers,
        [
            Caller::Alice,
            Caller::Anonymous,
            Caller::Anonymous,
            Caller::AliceByIdentityToken,
            Caller::AliceByIdentityToken,
            Caller::Refused
        ]
    );
    assert_eq!(seen[0].scopes, ["repository:private/app:pull,push"]);
    assert_eq!(seen[0].service.as_deref(), Some(TOKEN_SERVICE));
    assert!(seen[0].authorization && !seen[1].authorization);
    assert_eq!(seen[4].grant_type.as_deref(), Some("refresh_token"));
    assert_eq!(seen[5].status, 401);
    assert_eq!(tokens.issued().len(), 5);
}

#[test]
fn registry_challenges_and_accepts_tokens_and_refuses_insufficient_scope() {
    let setup = TokenRegistry::start();
    let digest = setup.push_blob("private/app", b"private bytes");
    let public = setup.push_blob("public/app", b"public bytes");
    let addr = setup.addr();
    let realm = setup.tokens.realm();
    let bearer = |t: &str| format!("Bearer {t}");

    // Pinned challenge texts of distribution 2.8.2.
    let r = http_request(&addr, "GET", "/v2/", &[], b"");
    assert_eq!(r.status, 401);
    assert_eq!(
        r.header("www-authenticate").unwrap(),
        format!(r#"Bearer realm="{realm}",service="{TOKEN_SERVICE}""#)
    );
    let path = format!("/v2/private/app/blobs/{digest}");
    let r = http_request(&addr, "GET", &path, &[], b"");
    assert_eq!(r.status, 401);
    assert_eq!(
        r.header("www-authenticate").unwrap(),
        format!(
            r#"Bearer realm="{realm}",service="{TOKEN_SERVICE}",scope="repository:private/app:pull""#
        )
    );

    let query = format!("service={TOKEN_SERVICE}&scope=repository:private/app:pull");
    let alice = token_of(&get_token(
        &setup.tokens,
        &query,
        Some((ALICE_USER, ALICE_PASS)),
    ));
    let r = http_request(
        &addr,
        "GET",
        &path,
        &[("Authorization", &bearer(&alice))],
        b"",
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.body, b"private bytes");

    // A valid token without the scope: 401 with `error="insufficient_scope"`, not 403.
    let anon = token_of(&get_token(&setup.tokens, &query, None));
    let r = http_request(
        &addr,
        "GET",
        &path,
        &[("Authorization", &bearer(&anon))],
        b"",
    );
    assert_eq!(r.status, 401);
    assert_eq!(
        r.header("www-authenticate").unwrap(),
        format!(
            r#"Bearer realm="{realm}",service="{TOKEN_SERVICE}",scope="repository:private/app:pull",error="insufficient_scope""#
        )
    );
    let envelope: Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(envelope["errors"][0]["code"], "UNAUTHORIZED");

    let query = format!("service={TOKEN_SERVICE}&scope=repository:public/app:pull");
    let anon = token_of(&get_token(&setup.tokens, &query, None));
    let r = http_request(
        &addr,
        "GET",
        &format!("/v2/public/app/blobs/{public}"),
        &[("Authorization", &bearer(&anon))],
        b"",
    );
    assert_eq!(r.status, 200, "{}", r.text());

    // Something that is not a JWT signed by a trusted key is refused as invalid.
    let r = http_request(
        &addr,
        "GET",
        &path,
        &[("Authorization", "Bearer not.a.jwt")],
        b"",
    );
    assert_eq!(r.status, 401);
    assert!(
        r.header("www-authenticate")
            .unwrap()
            .ends_with(r#"error="invalid_token""#)
    );
}

#[test]
fn registry_allows_60_seconds_of_leeway_on_exp() {
    let setup = TokenRegistry::start();
    let digest = setup.push_blob("private/leeway", b"leeway");
    let path = format!("/v2/private/leeway/blobs/{digest}");
    let access = [("private/leeway".to_owned(), vec!["pull".to_owned()])];
    let now = unix_now();
    let status_with_exp = |exp: u64| {
        let token = mint_token(ALICE_USER, &access, exp - 120, exp);
        let auth = format!("Bearer {token}");
        http_request(
            &setup.addr(),
            "GET",
            &path,
            &[("Authorization", &auth)],
            b"",
        )
    };
    assert_eq!(status_with_exp(now + 60).status, 200);
    // Expired 30 s ago: still accepted (the leeway is 60 s, `token.Leeway` in 2.8.2).
    assert_eq!(status_with_exp(now - 30).status, 200);
    // Expired 90 s ago: refused as an invalid token.
    let r = status_with_exp(now - 90);
    assert_eq!(r.status, 401);
    assert!(
        r.header("www-authenticate")
            .unwrap()
            .ends_with(r#"error="invalid_token""#),
        "{:?}",
        r.headers
    );
}

#[test]
fn redirect_middleware_sends_blob_gets_to_another_host() {
    let target = redirect_target(b"cdn".to_vec());
    let setup = TokenRegistry::start_with(TokenOptions::default(), |b| {
        b.yaml(&redirect_middleware_yaml(&target.url("/")))
    });
    let digest = setup.push_blob("private/cdn", b"cdn");
    let query = format!("service={TOKEN_SERVICE}&scope=repository:private/cdn:pull");
    let token = token_of(&get_token(
        &setup.tokens,
        &query,
        Some((ALICE_USER, ALICE_PASS)),
    ));
    let r = http_request(
        &setup.addr(),
        "GET",
        &format!("/v2/private/cdn/blobs/{digest}"),
        &[("Authorization", &format!("Bearer {token}"))],
        b"",
    );
    assert_eq!(r.status, 307, "{}", r.text());
    let location = r.header("location").unwrap();
    // 2.8.2 keeps only the scheme and host of `baseurl`, then appends the storage path.
    let expected = target.url(&format!(
        "/docker/registry/v2/blobs/sha256/{}/{}/data",
        &digest[7..9],
        &digest[7..]
    ));
    assert_eq!(location, expected);
}

#[test]
fn tls_registry_is_trusted_with_the_test_ca_only() {
    let tls = TlsRegistry::start();
    let addr = tls.registry.addr();
    assert_eq!(https_get_status(&addr, "/v2/", &tls.ca_file()), Ok(200));
    let err = https_get_status(&addr, "/v2/", &tls.unrelated_ca_file()).unwrap_err();
    assert!(err.contains("UnknownIssuer"), "{err}");
    // Plain HTTP to the TLS port: Go answers 400 ("client sent an HTTP request to an HTTPS
    // server").
    assert_eq!(http_request(&addr, "GET", "/v2/", &[], b"").status, 400);
}
