//! `GET /v2/<name>/manifests/<reference>`: one manifest, read into memory (at most
//! [`MAX_MANIFEST`] bytes) and verified against its digest.
//!
//! The digest is the one asked for when the reference is a digest, else the registry's
//! `Docker-Content-Digest` (OCI Distribution Specification, "Pulling manifests": a client
//! SHOULD verify the returned manifest against the digest), else the body's SHA-256. Interpreting
//! the bytes is `manifest`'s job; retrying is the caller's.

use reqwest::header::{self, HeaderMap, HeaderValue};
use reqwest::{Method, Url};

use super::{Client, RegistryError, Source, header_str, redact, retry, status_error};
use crate::digest::{Algorithm, Digest, digest_bytes};
use crate::exit::Category;
use crate::manifest::{ACCEPT, MAX_MANIFEST};
use crate::reference::{Endpoint, Reference};

/// Which manifest of a repository to get.
#[derive(Debug, Clone, Copy)]
pub enum ManifestTarget<'a> {
    /// By tag (the registry's `Docker-Content-Digest` then names the digest).
    Tag(&'a str),
    /// By digest (the bytes must hash to it).
    Digest(&'a Digest),
}

impl ManifestTarget<'_> {
    fn as_path(&self) -> String {
        match self {
            ManifestTarget::Tag(t) => (*t).to_owned(),
            ManifestTarget::Digest(d) => d.to_string(),
        }
    }
}

/// A manifest whose bytes match its digest.
#[derive(Debug, Clone)]
pub struct ManifestResponse {
    /// The body.
    pub bytes: Vec<u8>,
    /// The verified digest of the body.
    pub digest: Digest,
    /// `Content-Type`, as sent.
    pub content_type: Option<String>,
    /// The URL that answered (after redirects).
    pub final_url: Url,
}

/// Why a manifest could not be had.
#[derive(Debug, thiserror::Error)]
pub enum ManifestFetchError {
    /// The registry refused, could not be reached, or answered nonsense.
    #[error(transparent)]
    Registry(#[from] RegistryError),
    /// The body does not hash to the digest asked for or declared.
    #[error(
        "manifest from `{url}` does not match {source_of_digest} {expected}: its {bytes} bytes hash to {actual}"
    )]
    DigestMismatch {
        /// The URL (redacted).
        url: String,
        /// `the digest asked for` or `its Docker-Content-Digest`.
        source_of_digest: &'static str,
        /// The expected digest.
        expected: String,
        /// What the bytes hash to.
        actual: Digest,
        /// Body length.
        bytes: usize,
    },
}

impl ManifestFetchError {
    /// The error's category (and so exit code).
    pub fn category(&self) -> Category {
        match self {
            ManifestFetchError::Registry(e) => e.category(),
            ManifestFetchError::DigestMismatch { .. } => Category::Integrity,
        }
    }

    /// What the retry policy needs to know (a mismatch is final).
    pub fn failure(&self) -> retry::Failure<'_> {
        match self {
            ManifestFetchError::Registry(e) => e.failure(),
            ManifestFetchError::DigestMismatch { .. } => retry::Failure::Final,
        }
    }
}

impl Client {
    /// The URL of a manifest: `<scheme>://<registry>/v2/<name>/manifests/<tag or digest>`.
    /// Built by [`Client::url`], so the scheme is [`Client::scheme_for`]'s, as for blobs.
    pub fn manifest_url(&self, reference: &Reference, target: ManifestTarget<'_>) -> Url {
        self.url(reference, Endpoint::Manifest(&target.as_path()))
    }

    /// HEADs a manifest at the registry itself (Docker Hub meters GETs of manifests, not HEADs): the digest the
    /// registry declares for it (`Docker-Content-Digest`), `None` when it declares none or one
    /// that cannot be read (then only a GET can tell).
    pub async fn head_manifest(
        &self,
        reference: &Reference,
        target: ManifestTarget<'_>,
    ) -> Result<Option<Digest>, RegistryError> {
        let url = self.manifest_url(reference, target);
        let mut headers = HeaderMap::new();
        headers.insert(header::ACCEPT, HeaderValue::from_static(ACCEPT));
        let response = self
            .send_at(reference, &Source::Registry, Method::HEAD, &url, headers)
            .await?;
        if response.status().as_u16() != 200 {
            let subject = format!("manifest {}", target.as_path());
            return Err(status_error(subject, reference.location(), response, false).await);
        }
        Ok(header_str(response.headers(), "docker-content-digest")
            .and_then(|v| v.trim().parse::<Digest>().ok()))
    }

    /// GETs a manifest of `reference`'s repository from `source` (the registry or a mirror),
    /// with `Accept` listing the four manifest types, and verifies its bytes.
    pub async fn get_manifest(
        &self,
        reference: &Reference,
        source: &Source,
        target: ManifestTarget<'_>,
    ) -> Result<ManifestResponse, ManifestFetchError> {
        let url = self.url_at(reference, source, Endpoint::Manifest(&target.as_path()));
        let mut headers = HeaderMap::new();
        headers.insert(header::ACCEPT, HeaderValue::from_static(ACCEPT));
        let mut response = self
            .send_at(reference, source, Method::GET, &url, headers)
            .await?;
        let status = response.status().as_u16();
        let subject = format!("manifest {}", target.as_path());
        if status != 200 {
            return Err(
                status_error(subject, source.location(reference), response, true)
                    .await
                    .into(),
            );
        }
        let final_url = response.url().clone();
        let shown = redact(&final_url);
        let content_type = header_str(response.headers(), header::CONTENT_TYPE);
        let declared = header_str(response.headers(), "docker-content-digest");
        let too_large = || RegistryError::Protocol {
            url: shown.clone(),
            reason: format!("the manifest is larger than {MAX_MANIFEST} bytes"),
        };
        if response
            .content_length()
            .is_some_and(|n| n > MAX_MANIFEST as u64)
        {
            return Err(too_large().into());
        }
        let mut bytes = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| super::transport_error(&final_url, &e))?
        {
            if bytes.len() + chunk.len() > MAX_MANIFEST {
                return Err(too_large().into());
            }
            bytes.extend_from_slice(&chunk);
        }
        let (expected, source_of_digest) = match target {
            ManifestTarget::Digest(d) => (Some(d.clone()), "the digest asked for"),
            ManifestTarget::Tag(_) => match declared.as_deref().map(str::trim) {
                None | Some("") => (None, ""),
                Some(value) => match value.parse::<Digest>() {
                    Ok(d) => (Some(d), "its Docker-Content-Digest"),
                    Err(e) => {
                        return Err(RegistryError::Protocol {
                            url: shown,
                            reason: format!("unusable Docker-Content-Digest `{value}`: {e}"),
                        }
                        .into());
                    }
                },
            },
        };
        let algorithm = expected
            .as_ref()
            .map_or(Algorithm::Sha256, Digest::algorithm);
        let actual = digest_bytes(algorithm, &bytes);
        if let Some(expected) = expected
            && expected != actual
        {
            return Err(ManifestFetchError::DigestMismatch {
                url: shown,
                source_of_digest,
                expected: expected.to_string(),
                actual,
                bytes: bytes.len(),
            });
        }
        // When asked by digest, a Docker-Content-Digest that names another digest is a lie too.
        if let (ManifestTarget::Digest(_), Some(value)) = (target, declared.as_deref())
            && let Ok(d) = value.trim().parse::<Digest>()
            && d.algorithm() == actual.algorithm()
            && d != actual
        {
            return Err(ManifestFetchError::DigestMismatch {
                url: shown,
                source_of_digest: "its Docker-Content-Digest",
                expected: d.to_string(),
                actual,
                bytes: bytes.len(),
            });
        }
        Ok(ManifestResponse {
            bytes,
            digest: actual,
            content_type,
            final_url,
        })
    }
}
