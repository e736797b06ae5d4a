//! The reference registry in token-auth and TLS modes around the token server, seeded through
//! a plain registry on the same storage, and an HTTPS status probe trusting only a given CA.

use std::fs;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use super::*;

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
