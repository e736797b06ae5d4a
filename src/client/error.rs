//! What can go wrong talking to a registry, as [`RegistryError`]s that read as sentences:
//! the status messages (what was asked, where, and the envelope's words), the transport
//! failures with their hints, and the error category each maps to.

use std::time::Duration;

use reqwest::{StatusCode, Url};

use super::auth::AuthContext;
use super::headers::{host_port, redact};
use super::http::HttpSetupError;
use super::retry;
use crate::envelope::{ErrorBody, MAX_BODY};
use crate::exit::Category;

/// What went wrong talking to a registry.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// The registry answered with a failure status.
    #[error("{}", status_message(.subject, .location, *.status, .body, .auth.as_deref()))]
    Status {
        /// What was asked for (`blob sha256:…`).
        subject: String,
        /// `registry/repository`.
        location: String,
        /// The HTTP status.
        status: u16,
        /// The decoded body.
        body: ErrorBody,
        /// `Retry-After`, when sent.
        retry_after: Option<Duration>,
        /// For 401/403: what the request was authenticated with.
        auth: Option<Box<AuthContext>>,
    },
    /// No usable HTTP exchange happened (DNS, connect, TLS, reset, timeout).
    #[error("cannot get `{url}`: {}", transport_message(*.kind, .address, .reason))]
    Transport {
        /// The URL, with credentials and query removed.
        url: String,
        /// `host[:port]` of the URL.
        address: String,
        /// Which kind of failure, for the retry policy and the hint.
        kind: TransportKind,
        /// The cause, from the error chain.
        reason: String,
    },
    /// The registry answered something a correct registry never does.
    #[error("invalid response from `{url}`: {reason}")]
    Protocol {
        /// The URL, with credentials and query removed.
        url: String,
        /// What was wrong.
        reason: String,
    },
    /// Credentials would go to a token realm in clear text.
    #[error(
        "refusing to send the credentials for `{registry}` to the token realm `{realm}` over plain http\n\
         hint: the registry names a token service anyone on the network can read; ask its operator for an https realm"
    )]
    ClearTextRealm {
        /// The registry (`host[:port]`).
        registry: String,
        /// The realm URL (redacted).
        realm: String,
    },
    /// The HTTP client could not be set up (an internal error: a header or URL that cannot
    /// be formed).
    #[error("cannot set up the HTTP client: {0}")]
    Setup(String),
    /// The connection pools cannot be built with the settings asked for (a CA file that
    /// cannot be read or holds no certificates); the cause is the source.
    #[error("cannot set up the HTTP client")]
    HttpSetup(#[from] HttpSetupError),
}

impl RegistryError {
    /// The error's category (and so exit code).
    pub fn category(&self) -> Category {
        match self {
            RegistryError::Status { status, body, .. } => {
                crate::envelope::categorize(*status, body)
            }
            RegistryError::Transport { .. } | RegistryError::Protocol { .. } => Category::Network,
            RegistryError::ClearTextRealm { .. } => Category::Auth,
            RegistryError::Setup(_) | RegistryError::HttpSetup(_) => Category::Other,
        }
    }

    /// What the retry policy needs to know about this error.
    pub fn failure(&self) -> retry::Failure<'_> {
        match self {
            RegistryError::Status {
                status,
                body,
                retry_after,
                ..
            } => retry::Failure::Status {
                status: *status,
                body,
                retry_after: *retry_after,
            },
            RegistryError::Transport { kind, .. } => match kind {
                TransportKind::Unresolvable => retry::Failure::Unresolvable,
                TransportKind::Refused => retry::Failure::Refused,
                TransportKind::Other => retry::Failure::Transport,
            },
            RegistryError::Protocol { .. }
            | RegistryError::ClearTextRealm { .. }
            | RegistryError::Setup(_)
            | RegistryError::HttpSetup(_) => retry::Failure::Final,
        }
    }
}

impl RegistryError {
    /// One short line for a retry message: what failed, without the URL and the cause chain
    /// the final error shows (`connection refused by 127.0.0.1:5499`, `HTTP 503 Service
    /// Unavailable`).
    pub fn short(&self) -> String {
        match self {
            RegistryError::Status { status, body, .. } => {
                let reason = status_reason(*status);
                match body.codes().first() {
                    Some(code) => format!("{reason}, {code}"),
                    None => reason,
                }
            }
            RegistryError::Transport {
                address,
                kind,
                reason,
                ..
            } => match kind {
                TransportKind::Unresolvable => format!("`{}` does not resolve", host_of(address)),
                TransportKind::Refused => format!("connection refused by {address}"),
                // The summary and the innermost cause: `timed out`, `connection failed:
                // Connection reset by peer (os error 104)`.
                TransportKind::Other => {
                    let first = reason.split(": ").next().unwrap_or_default();
                    match reason.rsplit(": ").next() {
                        Some(last) if last != first => format!("{first}: {last}"),
                        _ => first.to_owned(),
                    }
                }
            },
            RegistryError::Protocol { reason, .. } => reason.clone(),
            other => other.to_string(),
        }
    }
}

/// Why no HTTP exchange happened, as far as retrying and hints care.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransportKind {
    /// The host name does not resolve: most likely a typo, never retried.
    Unresolvable,
    /// The connection was refused: nothing listens there (yet).
    Refused,
    /// Anything else (TLS, reset, timeout, a body that broke off).
    Other,
}

impl TransportKind {
    /// Classifies an error by its source chain. hyper-util reports every failed lookup as a
    /// `ConnectError` whose text is `dns error` (its type is private, so the text is the
    /// mark), wrapping the resolver's error (`failed to lookup address information: …` from
    /// getaddrinfo); a refused connection is an `io::Error` of kind `ConnectionRefused`.
    pub fn of(e: &(dyn std::error::Error + 'static)) -> TransportKind {
        let mut next: Option<&(dyn std::error::Error + 'static)> = Some(e);
        while let Some(err) = next {
            if let Some(io) = err.downcast_ref::<std::io::Error>()
                && io.kind() == std::io::ErrorKind::ConnectionRefused
            {
                return TransportKind::Refused;
            }
            let text = err.to_string();
            if text == "dns error" || text.starts_with("failed to lookup address") {
                return TransportKind::Unresolvable;
            }
            next = err.source();
        }
        TransportKind::Other
    }
}

/// The host of `host[:port]` (IPv6 literals keep their brackets).
fn host_of(address: &str) -> &str {
    match address.rsplit_once(':') {
        Some((host, port))
            if !host.is_empty() && port.bytes().all(|b| b.is_ascii_digit()) && !port.is_empty() =>
        {
            host
        }
        _ => address,
    }
}

fn transport_message(kind: TransportKind, address: &str, reason: &str) -> String {
    match kind {
        TransportKind::Unresolvable => format!(
            "`{}` does not resolve ({reason})\nhint: is the registry name right?",
            host_of(address)
        ),
        TransportKind::Refused => {
            format!("{reason}\nhint: is a registry listening at {address}?")
        }
        TransportKind::Other => reason.to_owned(),
    }
}

fn status_reason(status: u16) -> String {
    StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .map(|r| format!("HTTP {status} {r}"))
        .unwrap_or_else(|| format!("HTTP {status}"))
}

fn status_message(
    subject: &str,
    location: &str,
    status: u16,
    body: &ErrorBody,
    auth: Option<&AuthContext>,
) -> String {
    let detail = match body {
        ErrorBody::Empty => String::new(),
        body => format!(" ({body})"),
    };
    let reason = status_reason(status);
    match crate::envelope::categorize(status, body) {
        Category::NotFound if !matches!(body, ErrorBody::Empty) => {
            format!("{subject} not found in {location}{detail}")
        }
        Category::NotFound => format!("{subject} not found in {location} ({reason})"),
        Category::Auth => {
            let why = auth.map(AuthContext::explain).unwrap_or_default();
            format!("{location} refused access to {subject} ({reason}){detail}{why}")
        }
        Category::RateLimited => {
            format!("{location} is rate limiting requests for {subject} ({reason}){detail}")
        }
        Category::Network => format!("{location} failed to serve {subject} ({reason}){detail}"),
        _ => format!("{location} answered {reason} for {subject}{detail}"),
    }
}

/// Turns a reqwest error into a [`RegistryError::Transport`] that names the URL without
/// credentials or query.
pub fn transport_error(url: &Url, e: &reqwest::Error) -> RegistryError {
    let shown = e.url().unwrap_or(url);
    RegistryError::Transport {
        url: redact(shown),
        address: host_port(shown),
        kind: TransportKind::of(e),
        reason: error_text(e),
    }
}

/// The messages of an error's source chain, joined by `: `, with the URL reqwest likes to
/// print left out (it may hold a presigned query).
pub fn error_text(e: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut next: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = next {
        let text = match err.downcast_ref::<reqwest::Error>() {
            Some(r) if r.is_timeout() => "timed out".to_owned(),
            Some(r) if r.is_redirect() => "too many redirects or a refused redirect".to_owned(),
            Some(r) if r.is_connect() => "connection failed".to_owned(),
            Some(r) if r.is_body() || r.is_decode() => "error reading the body".to_owned(),
            Some(r) if r.is_request() => "request failed".to_owned(),
            _ => err.to_string(),
        };
        if !parts.iter().any(|p| p == &text) && !text.is_empty() {
            parts.push(text);
        }
        next = err.source();
    }
    parts.join(": ")
}

/// Reads at most [`MAX_BODY`] bytes of an error body and decodes it.
async fn read_error_body(mut response: reqwest::Response) -> ErrorBody {
    let mut body = Vec::new();
    while body.len() < MAX_BODY {
        match response.chunk().await {
            Ok(Some(chunk)) => {
                let room = MAX_BODY.saturating_sub(body.len());
                body.extend_from_slice(chunk.get(..chunk.len().min(room)).unwrap_or_default())
            }
            _ => break,
        }
    }
    ErrorBody::decode(&body)
}

/// A failure status of `location` (`registry/repository`) as a [`RegistryError::Status`]
/// about `subject`: its body read (at most [`MAX_BODY`]) and decoded, `Retry-After` and what
/// the request was authenticated with kept. `with_body` is false for HEAD, which has none.
pub(crate) async fn status_error(
    subject: String,
    location: String,
    response: reqwest::Response,
    with_body: bool,
) -> RegistryError {
    let status = response.status().as_u16();
    let retry_after = super::headers::retry_after(response.headers());
    let auth = auth_context(&response);
    let body = if with_body {
        read_error_body(response).await
    } else {
        ErrorBody::Empty
    };
    RegistryError::Status {
        subject,
        location,
        status,
        body,
        retry_after,
        auth,
    }
}

/// What a 401/403 response was authenticated with, as the send loop attached it.
fn auth_context(response: &reqwest::Response) -> Option<Box<AuthContext>> {
    response
        .extensions()
        .get::<AuthContext>()
        .cloned()
        .map(Box::new)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transport_kinds() {
        let refused = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
        assert_eq!(TransportKind::of(&refused), TransportKind::Refused);
        let lookup = std::io::Error::other(
            "failed to lookup address information: Name or service not known",
        );
        assert_eq!(TransportKind::of(&lookup), TransportKind::Unresolvable);
        let reset = std::io::Error::from(std::io::ErrorKind::ConnectionReset);
        assert_eq!(TransportKind::of(&reset), TransportKind::Other);
        let e = |kind, reason: &str| RegistryError::Transport {
            url: "http://127.0.0.1:5499/v2/".into(),
            address: "127.0.0.1:5499".into(),
            kind,
            reason: reason.into(),
        };
        let refused = e(
            TransportKind::Refused,
            "connection failed: Connection refused (os error 111)",
        );
        assert_eq!(refused.short(), "connection refused by 127.0.0.1:5499");
        assert!(
            refused
                .to_string()
                .ends_with("\nhint: is a registry listening at 127.0.0.1:5499?")
        );
        assert_eq!(refused.failure(), retry::Failure::Refused);
        let dns = e(TransportKind::Unresolvable, "dns error");
        assert_eq!(dns.short(), "`127.0.0.1` does not resolve");
        assert!(
            dns.to_string()
                .ends_with("\nhint: is the registry name right?")
        );
        assert_eq!(dns.failure(), retry::Failure::Unresolvable);
        let other = e(
            TransportKind::Other,
            "connection failed: client error (Connect): Connection reset by peer (os error 104)",
        );
        assert_eq!(
            other.short(),
            "connection failed: Connection reset by peer (os error 104)"
        );
        assert_eq!(e(TransportKind::Other, "timed out").short(), "timed out");
        assert_eq!(host_of("[::1]:5000"), "[::1]");
        assert_eq!(host_of("ghcr.io"), "ghcr.io");
    }

    #[test]
    fn status_messages() {
        let hex = "a".repeat(64);
        let body = ErrorBody::decode(
            br#"{"errors":[{"code":"BLOB_UNKNOWN","message":"blob unknown to registry","detail":null}]}"#,
        );
        let msg = status_message(
            &format!("blob sha256:{hex}"),
            "127.0.0.1:5000/team/sub/app",
            404,
            &body,
            None,
        );
        assert_eq!(
            msg,
            format!(
                "blob sha256:{hex} not found in 127.0.0.1:5000/team/sub/app (BLOB_UNKNOWN: blob unknown to registry)"
            )
        );
        let msg = status_message("blob x", "r/a", 404, &ErrorBody::Empty, None);
        assert_eq!(msg, "blob x not found in r/a (HTTP 404 Not Found)");
        let msg = status_message("blob x", "r/a", 401, &ErrorBody::Empty, None);
        assert_eq!(msg, "r/a refused access to blob x (HTTP 401 Unauthorized)");
        let msg = status_message("blob x", "r/a", 503, &ErrorBody::decode(b"down"), None);
        assert_eq!(
            msg,
            "r/a failed to serve blob x (HTTP 503 Service Unavailable) (body: down)"
        );
    }
}
