//! `serve --tls-cert PEM --tls-key PEM`: the rustls server configuration (ring provider, TLS
//! 1.2 and 1.3, HTTP/1.1 by ALPN). The handshake itself runs in each connection's task in
//! [`super::run_with`], under the header-read timeout.

use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// Why a certificate and key cannot be served.
#[derive(Debug, thiserror::Error)]
pub enum TlsSetupError {
    /// The certificate file holds no PEM certificate.
    #[error("`--tls-cert` holds no PEM certificate (`-----BEGIN CERTIFICATE-----`){0}")]
    NoCertificate(String),
    /// The key file holds no usable PEM private key.
    #[error("`--tls-key` holds no PEM private key (PKCS#8, PKCS#1 or SEC1){0}")]
    NoKey(String),
    /// rustls refused the pair (mismatched key, unsupported key type…).
    #[error("the certificate and key cannot be used together: {0}")]
    Rejected(String),
}

/// A server configuration from the PEM text of a certificate chain (leaf first) and its key.
pub fn server_config(
    cert_pem: &[u8],
    key_pem: &[u8],
) -> Result<Arc<rustls::ServerConfig>, TlsSetupError> {
    let chain = CertificateDer::pem_slice_iter(cert_pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TlsSetupError::NoCertificate(format!(": {e}")))?;
    if chain.is_empty() {
        return Err(TlsSetupError::NoCertificate(String::new()));
    }
    let key = PrivateKeyDer::from_pem_slice(key_pem).map_err(|e| {
        TlsSetupError::NoKey(match e {
            rustls::pki_types::pem::Error::NoItemsFound => String::new(),
            e => format!(": {e}"),
        })
    })?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsSetupError::Rejected(e.to_string()))?
        .with_no_client_auth()
        // Checks that the key matches the leaf certificate's public key.
        .with_single_cert(chain, key)
        .map_err(|e| TlsSetupError::Rejected(e.to_string()))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(name: &str) -> Vec<u8> {
        std::fs::read(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("tests/data")
                .join(name),
        )
        .unwrap()
    }

    #[test]
    fn accepts_the_test_pair_and_refuses_bad_ones() {
        let (cert, key) = (data("tls-server.pem"), data("tls-server.key.pem"));
        assert!(server_config(&cert, &key).is_ok());
        // Swapped files.
        assert!(matches!(
            server_config(&key, &cert),
            Err(TlsSetupError::NoCertificate(_))
        ));
        assert!(matches!(
            server_config(&cert, &cert),
            Err(TlsSetupError::NoKey(_))
        ));
        // A key that is not the certificate's.
        let other = data("token-signing.pk8");
        let other_pem = format!(
            "-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n",
            base64::Engine::encode(&base64::engine::general_purpose::STANDARD, other)
        );
        let err = server_config(&cert, other_pem.as_bytes()).unwrap_err();
        assert!(matches!(err, TlsSetupError::Rejected(_)), "{err}");
    }
}
