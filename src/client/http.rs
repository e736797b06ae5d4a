//! Connection pools and the redirect loop: how a request reaches a registry (and wherever it
//! sends us), with which TLS settings, and which hops see the `Authorization`.

use reqwest::header::{self, HeaderMap};
use reqwest::{Method, Url, redirect};

use super::headers::{SharedWarnings, Trail, host_port, note_warnings, redact};
use std::path::PathBuf;

use super::{ClientOptions, MAX_REDIRECTS, RegistryError, USER_AGENT, transport_error};
use crate::reference::Origin;

/// Why the connection pools for a registry cannot be built: the CA file of `--ca-file` or a
/// config file's `ca-file`, or the HTTP client itself. The cause stays the source, so the
/// printed chain ends with the OS's or the PEM parser's words.
#[derive(Debug, thiserror::Error)]
pub enum HttpSetupError {
    /// The CA file cannot be read.
    #[error("cannot read the CA file `{}`", .path.display())]
    ReadCaFile {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The CA file is not PEM that rustls can use.
    #[error("`{}` holds no usable PEM certificates", .path.display())]
    UnusableCaFile {
        /// The file.
        path: PathBuf,
        /// The parser's error.
        source: reqwest::Error,
    },
    /// The CA file parses but holds no certificate.
    #[error("`{}` holds no PEM certificates", .path.display())]
    EmptyCaFile {
        /// The file.
        path: PathBuf,
    },
    /// reqwest refused the settings.
    #[error(transparent)]
    Build(reqwest::Error),
}

/// The connection pools for one registry's requests: `own` with the registry's TLS settings,
/// for its own origin only; `other` for every other origin it sends us to (token realm,
/// redirect targets), which never skips verification. Neither follows redirects: [`follow`]
/// does, choosing the pool per hop.
#[derive(Debug, Clone)]
pub(crate) struct Pools {
    own: reqwest::Client,
    other: reqwest::Client,
    /// The client's `Warning: 299` texts (shared by all pools of one client).
    warnings: SharedWarnings,
}

impl Pools {
    /// Builds the pools for these TLS settings.
    pub(crate) fn build(
        options: &ClientOptions,
        ca_file: Option<&std::path::Path>,
        insecure: bool,
        warnings: &SharedWarnings,
    ) -> Result<Pools, RegistryError> {
        let own = build_http(options, ca_file, insecure)?;
        let other = if insecure {
            build_http(options, ca_file, false)?
        } else {
            own.clone()
        };
        Ok(Pools {
            own,
            other,
            warnings: warnings.clone(),
        })
    }

    /// Keeps the `Warning: 299` texts of a response (any request, any hop).
    pub(crate) fn note_warnings(&self, headers: &HeaderMap) {
        note_warnings(&self.warnings, headers);
    }

    /// The pool for a request to `url` made for the registry at `home`.
    pub(crate) fn for_url(&self, home: &Origin, url: &Url) -> &reqwest::Client {
        if Origin::of(url).as_ref() == Some(home) {
            &self.own
        } else {
            &self.other
        }
    }
}

/// Sends a bodiless request and follows up to [`MAX_REDIRECTS`] redirects, hop by hop: each
/// hop uses the registry's own pool only on the registry's origin `home`, and `credential`
/// (an `Authorization` and the origin it belongs to) only on that origin. Other headers
/// (`Range`, `Accept`) go along, as reqwest's own redirect handling did. Returns the first
/// response that is not a redirect (a redirect without `Location` is returned as it is).
pub(crate) async fn follow(
    pools: &Pools,
    home: &Origin,
    method: Method,
    url: &Url,
    headers: &HeaderMap,
    credential: Option<(&Origin, &header::HeaderValue)>,
) -> Result<reqwest::Response, RegistryError> {
    follow_with(pools, home, method, url, headers, credential, None).await
}

/// Makes a request body, once per request sent (an upload's bytes, streamed from the cache).
pub(crate) type BodyFn<'a> = dyn Fn() -> Result<reqwest::Body, RegistryError> + Send + Sync + 'a;

/// [`follow`] with a request body: each hop gets a fresh one from `body` (a 307 or 308 asks for
/// the same request again, body included).
pub(crate) async fn follow_with(
    pools: &Pools,
    home: &Origin,
    method: Method,
    url: &Url,
    headers: &HeaderMap,
    credential: Option<(&Origin, &header::HeaderValue)>,
    body: Option<&BodyFn<'_>>,
) -> Result<reqwest::Response, RegistryError> {
    let mut visited = vec![url.clone()];
    let mut current = url.clone();
    let mut trail = Trail::default();
    loop {
        let mut request = pools
            .for_url(home, &current)
            .request(method.clone(), current.clone())
            .headers(headers.clone());
        if let Some((origin, value)) = credential
            && Origin::of(&current).as_ref() == Some(origin)
        {
            request = request.header(header::AUTHORIZATION, value.clone());
        }
        if let Some(make) = body {
            request = request.body(make()?);
        }
        let mut response = request
            .send()
            .await
            .map_err(|e| transport_error(&current, &e))?;
        pools.note_warnings(response.headers());
        trail.hops.push(host_port(&current));
        trail.rate_limit.fill_from(response.headers());
        let location = response
            .headers()
            .get(header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let (true, Some(location)) = (
            matches!(response.status().as_u16(), 301 | 302 | 303 | 307 | 308),
            location,
        ) else {
            response.extensions_mut().insert(trail);
            return Ok(response);
        };
        let next = current
            .join(&location)
            .map_err(|e| RegistryError::Protocol {
                url: redact(&current),
                reason: format!("unusable redirect location ({e})"),
            })?;
        check_redirect(&visited, &next).map_err(|reason| RegistryError::Protocol {
            url: redact(&current),
            reason,
        })?;
        visited.push(next.clone());
        current = next;
    }
}

/// Builds a connection pool with these TLS settings.
fn build_http(
    options: &ClientOptions,
    ca_file: Option<&std::path::Path>,
    insecure: bool,
) -> Result<reqwest::Client, RegistryError> {
    let mut builder = reqwest::Client::builder();
    if let Some(path) = ca_file {
        let pem = std::fs::read(path).map_err(|source| HttpSetupError::ReadCaFile {
            path: path.to_owned(),
            source,
        })?;
        let certs = reqwest::Certificate::from_pem_bundle(&pem).map_err(|source| {
            HttpSetupError::UnusableCaFile {
                path: path.to_owned(),
                source,
            }
        })?;
        if certs.is_empty() {
            return Err(HttpSetupError::EmptyCaFile {
                path: path.to_owned(),
            }
            .into());
        }
        builder = builder.tls_certs_merge(certs);
    }
    if insecure {
        builder = builder
            .tls_danger_accept_invalid_certs(true)
            .tls_danger_accept_invalid_hostnames(true);
    }
    #[cfg(debug_assertions)]
    if let Some(resolver) = test_resolver::from_env() {
        builder = builder.dns_resolver(resolver);
    }
    builder
        .user_agent(USER_AGENT)
        // Hashed bytes must be the served bytes: never decode Content-Encoding.
        .no_gzip()
        .no_brotli()
        .no_deflate()
        .no_zstd()
        .referer(false)
        // Redirects are followed by `follow`, which picks the pool and the credentials per hop.
        .redirect(redirect::Policy::none())
        .connect_timeout(options.connect_timeout)
        .read_timeout(options.stall_timeout)
        .build()
        .map_err(|e| HttpSetupError::Build(e).into())
}

/// A test-only resolver, compiled into debug builds alone (release builds never read the
/// variable): the host names listed, comma-separated, in `LAYERGET_TEST_UNRESOLVABLE` fail
/// to resolve the way a name that does not exist does, so tests can see what a mistyped
/// registry name does without asking this machine's DNS. Every other name goes to the
/// system resolver (getaddrinfo, through tokio), as without the override.
#[cfg(debug_assertions)]
mod test_resolver {
    use std::sync::Arc;

    use reqwest::dns::{Addrs, Name, Resolve, Resolving};

    /// The variable's name.
    const VAR: &str = "LAYERGET_TEST_UNRESOLVABLE";

    #[derive(Debug, thiserror::Error)]
    #[error(
        "failed to lookup address information: Name or service not known (`{0}` is listed in {VAR})"
    )]
    struct Unresolvable(String);

    struct Resolver {
        names: Vec<String>,
    }

    impl Resolve for Resolver {
        fn resolve(&self, name: Name) -> Resolving {
            let host = name.as_str().to_ascii_lowercase();
            let fails = self.names.contains(&host);
            Box::pin(async move {
                if fails {
                    return Err(Box::new(Unresolvable(host)) as _);
                }
                let addrs: Vec<_> = tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
                Ok(Box::new(addrs.into_iter()) as Addrs)
            })
        }
    }

    /// The resolver, when the variable lists any name.
    pub(super) fn from_env() -> Option<Arc<dyn Resolve>> {
        let names: Vec<String> = std::env::var(VAR)
            .ok()?
            .split(',')
            .map(|n| n.trim().to_ascii_lowercase())
            .filter(|n| !n.is_empty())
            .collect();
        if names.is_empty() {
            return None;
        }
        Some(Arc::new(Resolver { names }))
    }
}

/// Whether a redirect to `next` may be followed after visiting `previous` (the request's own
/// URL first): at most [`MAX_REDIRECTS`], and never from https down to http.
fn check_redirect(previous: &[Url], next: &Url) -> Result<(), String> {
    if previous.len() > MAX_REDIRECTS {
        return Err(format!("more than {MAX_REDIRECTS} redirects"));
    }
    if !matches!(next.scheme(), "http" | "https") {
        return Err(format!("refusing a redirect to `{}`", redact(next)));
    }
    if next.scheme() == "http" && previous.iter().any(|u| u.scheme() == "https") {
        return Err(format!(
            "refusing a redirect from https to http (`{}`)",
            redact(next)
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirects() {
        let u = |s: &str| Url::parse(s).unwrap();
        let https = u("https://reg.example/v2/a/blobs/x");
        let cdn = u("https://cdn.example/blob?sig=secret");
        assert_eq!(check_redirect(std::slice::from_ref(&https), &cdn), Ok(()));
        assert_eq!(
            check_redirect(
                &[u("http://127.0.0.1:5000/v2/")],
                &u("http://127.0.0.1:9/x")
            ),
            Ok(())
        );
        assert_eq!(check_redirect(&[u("http://a.example/")], &cdn), Ok(()));
        assert!(check_redirect(std::slice::from_ref(&https), &u("file:///etc/passwd")).is_err());
        let down = check_redirect(
            &[https.clone(), cdn.clone()],
            &u("http://cdn.example/blob?sig=secret"),
        );
        let msg = down.unwrap_err();
        assert!(msg.contains("from https to http"), "{msg}");
        assert!(!msg.contains("secret"), "{msg}");
        let ten: Vec<Url> = (0..=MAX_REDIRECTS)
            .map(|i| u(&format!("https://r.example/{i}")))
            .collect();
        assert!(check_redirect(&ten[..MAX_REDIRECTS], &https).is_ok());
        assert!(
            check_redirect(&ten, &https)
                .unwrap_err()
                .contains("more than 10")
        );
    }
}
