//! The hand-written Docker token server (distribution's `docs/spec/auth/token.md` and the
//! OAuth2 `POST` of `oauth.md`) and the RS256 JWTs it signs with the committed test key.

use std::collections::BTreeMap;
use std::fs;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use ring::rand::SystemRandom;
use ring::signature::{RSA_PKCS1_SHA256, RsaKeyPair};
use serde_json::{Value, json};

use super::*;

// ---------------------------------------------------------------------------------------------
// JWTs
// ---------------------------------------------------------------------------------------------

/// The committed signing certificate as PEM (the registry's `rootcertbundle`).
pub(super) fn signing_cert_pem() -> String {
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
