//! The registry API's paths, both ways: [`api_url`] builds `/v2/<name>/…` URLs for the
//! client (one builder for every [`Endpoint`]), and [`parse_api_path`] routes the same paths for
//! the server. Pure code; the name grammar is the parent module's [`validate_name`].

use reqwest::Url;

use super::{ReferenceError, validate_name};
use crate::digest::Digest;

/// A registry API endpoint under `/v2/<name>/` (OCI Distribution Specification, "Endpoints":
/// end-2 to end-12). The server routes the same paths with [`ApiRoute`].
#[derive(Debug, Clone, Copy)]
pub enum Endpoint<'a> {
    /// `/v2/<name>/blobs/<digest>`.
    Blob(&'a Digest),
    /// `/v2/<name>/manifests/<tag or digest>`.
    Manifest(&'a str),
    /// `/v2/<name>/tags/list`.
    Tags,
    /// `/v2/<name>/blobs/uploads/`: where an upload session is opened (POST); the trailing
    /// `/` is the spec's.
    Uploads,
    /// `/v2/<name>/referrers/<digest>`: the manifests whose `subject` is the digest.
    Referrers(&'a Digest),
}

/// Builds `<base>/v2/<name>/<endpoint>` for a validated repository name. Any path prefix of
/// `base` is kept (so a registry behind `https://proxy/mirror/` works), which `Url::join` with
/// an absolute path would drop.
#[allow(
    clippy::expect_used,
    reason = "every base URL is an http(s) URL (`Registry::base_url`), and those have paths"
)]
pub fn api_url(base: &Url, repository: &str, endpoint: Endpoint<'_>) -> Url {
    let mut url = base.clone();
    {
        let mut segments = url
            .path_segments_mut()
            .expect("registry base URLs are http(s) URLs, which have paths");
        segments.pop_if_empty().push("v2");
        segments.extend(repository.split('/'));
        match endpoint {
            Endpoint::Blob(digest) => segments.push("blobs").push(&digest.to_string()),
            Endpoint::Manifest(r) => segments.push("manifests").push(r),
            Endpoint::Tags => segments.push("tags").push("list"),
            // The empty last segment gives the trailing `/`.
            Endpoint::Uploads => segments.push("blobs").push("uploads").push(""),
            Endpoint::Referrers(digest) => segments.push("referrers").push(&digest.to_string()),
        };
    }
    url
}

/// A request path of the registry API, as the server routes it (pull and push).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApiRoute<'a> {
    /// `/v2/` (or `/v2`): the API version check.
    Base,
    /// `/v2/<name>/blobs/<digest>`; the digest is not validated yet.
    Blob {
        /// The repository name (validated).
        name: &'a str,
        /// The last path segment, as sent.
        digest: &'a str,
    },
    /// `/v2/<name>/manifests/<tag or digest>`; the reference is not validated yet.
    Manifest {
        /// The repository name (validated).
        name: &'a str,
        /// The last path segment, as sent.
        reference: &'a str,
    },
    /// `/v2/<name>/tags/list`.
    TagsList {
        /// The repository name (validated).
        name: &'a str,
    },
    /// `/v2/<name>/referrers/<digest>`; the digest is not validated yet.
    Referrers {
        /// The repository name (validated).
        name: &'a str,
        /// The last path segment, as sent.
        digest: &'a str,
    },
    /// `/v2/<name>/blobs/uploads/` (no session: where one is opened) and
    /// `/v2/<name>/blobs/uploads/<session>`.
    Upload {
        /// The repository name (validated).
        name: &'a str,
        /// The last path segment after `uploads/`, as sent (not validated yet).
        session: Option<&'a str>,
    },
}

/// Routes a request path (as sent, never percent-decoded: an encoded `/`, `.` or NUL simply
/// fails the name grammar). `Ok(None)` means the path is no registry API endpoint.
///
/// `<name>` may itself contain `/` and components called `blobs`, `manifests` or `tags`, so
/// the known suffixes are matched from the right and everything before them is the name, which
/// must pass [`validate_name`] (OCI Distribution Specification, "Pulling manifests": the name
/// "MUST match the following regular expression").
pub fn parse_api_path(path: &str) -> Result<Option<ApiRoute<'_>>, ReferenceError> {
    if path == "/v2" || path == "/v2/" {
        return Ok(Some(ApiRoute::Base));
    }
    let Some(rest) = path.strip_prefix("/v2/") else {
        return Ok(None);
    };
    let route = if let Some(name) = rest.strip_suffix("/tags/list") {
        ApiRoute::TagsList { name }
    } else if let Some(name) = rest
        .strip_suffix("/blobs/uploads")
        .or_else(|| rest.strip_suffix("/blobs/uploads/"))
    {
        ApiRoute::Upload {
            name,
            session: None,
        }
    } else {
        let Some((prefix, last)) = rest.rsplit_once('/') else {
            return Ok(None);
        };
        if let Some(name) = prefix.strip_suffix("/blobs/uploads") {
            ApiRoute::Upload {
                name,
                session: Some(last),
            }
        } else if let Some(name) = prefix.strip_suffix("/blobs") {
            ApiRoute::Blob { name, digest: last }
        } else if let Some(name) = prefix.strip_suffix("/manifests") {
            ApiRoute::Manifest {
                name,
                reference: last,
            }
        } else if let Some(name) = prefix.strip_suffix("/referrers") {
            ApiRoute::Referrers { name, digest: last }
        } else {
            return Ok(None);
        }
    };
    let (ApiRoute::Blob { name, .. }
    | ApiRoute::Manifest { name, .. }
    | ApiRoute::TagsList { name }
    | ApiRoute::Referrers { name, .. }
    | ApiRoute::Upload { name, .. }) = route
    else {
        unreachable!("the base route returned early")
    };
    validate_name(name)?;
    Ok(Some(route))
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::reference::Reference;

    const HEX: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    #[test]
    fn urls() {
        let d: Digest = format!("sha256:{HEX}").parse().unwrap();
        let r: Reference = format!("127.0.0.1:5000/team/sub/app@{d}").parse().unwrap();
        let base = r.registry().base_url("http");
        assert_eq!(
            api_url(&base, r.repository(), Endpoint::Blob(&d)).as_str(),
            format!("http://127.0.0.1:5000/v2/team/sub/app/blobs/{d}")
        );
        let hub: Reference = "alpine:3.20".parse().unwrap();
        let base = hub.registry().base_url("https");
        assert_eq!(
            api_url(&base, hub.repository(), Endpoint::Manifest("3.20")).as_str(),
            "https://registry-1.docker.io/v2/library/alpine/manifests/3.20"
        );
        let prefixed = Url::parse("https://proxy.example/mirror/").unwrap();
        assert_eq!(
            api_url(&prefixed, "a/b", Endpoint::Blob(&d)).as_str(),
            format!("https://proxy.example/mirror/v2/a/b/blobs/{d}")
        );
    }

    #[test]
    fn endpoint_paths() {
        let d: Digest = format!("sha256:{HEX}").parse().unwrap();
        let d_text = d.to_string();
        let cases: [(Endpoint<'_>, String); 6] = [
            (Endpoint::Blob(&d), format!("/v2/team/app/blobs/{d}")),
            (
                Endpoint::Manifest("1.0"),
                "/v2/team/app/manifests/1.0".into(),
            ),
            (
                Endpoint::Manifest(&d_text),
                format!("/v2/team/app/manifests/{d}"),
            ),
            (Endpoint::Tags, "/v2/team/app/tags/list".into()),
            (Endpoint::Uploads, "/v2/team/app/blobs/uploads/".into()),
            (
                Endpoint::Referrers(&d),
                format!("/v2/team/app/referrers/{d}"),
            ),
        ];
        let bases = ["http://127.0.0.1:5000/", "https://proxy.example/mirror/"];
        for base in bases {
            let base = Url::parse(base).unwrap();
            let prefix = base.path().trim_end_matches('/').to_owned();
            for (endpoint, path) in &cases {
                let url = api_url(&base, "team/app", *endpoint);
                assert_eq!(url.path(), format!("{prefix}{path}"), "{endpoint:?}");
                assert_eq!(url.host_str(), base.host_str());
                // What the client builds, the server routes back to the same name.
                let route = parse_api_path(path).unwrap().unwrap();
                let name = match route {
                    ApiRoute::Blob { name, .. }
                    | ApiRoute::Manifest { name, .. }
                    | ApiRoute::TagsList { name }
                    | ApiRoute::Referrers { name, .. }
                    | ApiRoute::Upload { name, .. } => name,
                    ApiRoute::Base => "",
                };
                assert_eq!(name, "team/app", "{path}");
            }
        }
    }

    #[test]
    fn api_paths() {
        use ApiRoute::*;
        let d = format!("sha256:{HEX}");
        let blob = format!("/v2/team/sub/app/blobs/{d}");
        let tricky = format!("/v2/a/blobs/manifests/blobs/{d}");
        let upload_blob = format!("/v2/a/blobs/uploads/blobs/{d}");
        let referrers = format!("/v2/x/referrers/{d}");
        let cases: Vec<(&str, Option<ApiRoute<'_>>)> = vec![
            ("/v2/", Some(Base)),
            ("/v2", Some(Base)),
            (
                &blob,
                Some(Blob {
                    name: "team/sub/app",
                    digest: &d,
                }),
            ),
            // Names may contain the endpoint words; the rightmost suffix decides.
            (
                &tricky,
                Some(Blob {
                    name: "a/blobs/manifests",
                    digest: &d,
                }),
            ),
            (
                &upload_blob,
                Some(Blob {
                    name: "a/blobs/uploads",
                    digest: &d,
                }),
            ),
            (
                "/v2/a/manifests/v1",
                Some(Manifest {
                    name: "a",
                    reference: "v1",
                }),
            ),
            (
                "/v2/tags/list/manifests/latest",
                Some(Manifest {
                    name: "tags/list",
                    reference: "latest",
                }),
            ),
            // The reference and digest are checked by the handler, not the router.
            (
                "/v2/a/manifests/",
                Some(Manifest {
                    name: "a",
                    reference: "",
                }),
            ),
            ("/v2/a/b/tags/list", Some(TagsList { name: "a/b" })),
            (
                &referrers,
                Some(Referrers {
                    name: "x",
                    digest: &d,
                }),
            ),
            (
                "/v2/a/blobs/uploads",
                Some(Upload {
                    name: "a",
                    session: None,
                }),
            ),
            (
                "/v2/a/blobs/uploads/",
                Some(Upload {
                    name: "a",
                    session: None,
                }),
            ),
            (
                "/v2/a/blobs/uploads/0f1e-2d",
                Some(Upload {
                    name: "a",
                    session: Some("0f1e-2d"),
                }),
            ),
            // The session id is the handler's to check.
            (
                "/v2/a/blobs/uploads/%2e%2e",
                Some(Upload {
                    name: "a",
                    session: Some("%2e%2e"),
                }),
            ),
            ("/", None),
            ("/v1/a/blobs/x", None),
            ("/v2x/a/blobs/x", None),
            ("/v2/a", None),
            ("/v2/a/b/c", None),
            ("/v2/blobs/x", None),
            ("/v2/tags/list", None),
            ("/v2/_catalog", None),
        ];
        for (path, want) in cases {
            assert_eq!(parse_api_path(path).unwrap(), want, "{path}");
        }
    }

    #[test]
    fn api_paths_with_bad_names() {
        let long = format!("/v2/{}/tags/list", "a".repeat(256));
        let cases = [
            "/v2/../blobs/x",
            "/v2/a/../b/blobs/x",
            "/v2/%2e%2e/blobs/x",
            "/v2/a%2fb/blobs/x",
            "/v2/a%00/manifests/v1",
            "/v2/A/tags/list",
            "/v2//a/blobs/x",
            "/v2/a//blobs/x",
            "/v2/a/b//tags/list",
            "/v2/.a/manifests/v1",
            long.as_str(),
        ];
        for path in cases {
            assert!(
                matches!(
                    parse_api_path(path),
                    Err(ReferenceError::InvalidName { .. })
                ),
                "{path}: {:?}",
                parse_api_path(path)
            );
        }
    }

    proptest! {
        #[test]
        fn api_paths_never_panic_and_names_are_valid(s in "(/v2/)?[a-z/._:%A-Z0-9-]{0,60}") {
            if let Ok(Some(route)) = parse_api_path(&s) {
                let name = match route {
                    ApiRoute::Base => return Ok(()),
                    ApiRoute::Blob { name, .. }
                    | ApiRoute::Manifest { name, .. }
                    | ApiRoute::TagsList { name }
                    | ApiRoute::Referrers { name, .. }
                    | ApiRoute::Upload { name, .. } => name,
                };
                prop_assert!(validate_name(name).is_ok());
            }
        }
    }
}
