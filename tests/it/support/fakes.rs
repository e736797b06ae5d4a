//! Hand-written fake servers, for the parts a real registry cannot play: each says in its doc
//! what it does that distribution will not do on demand (lie about content, reject
//! credentials the way a CDN does). Everything else is tested against the real registry.

use std::sync::Arc;

use super::http::{Conn, Handler, RecordedRequest, ServerCore};

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
/// A real registry verifies every upload against its digest, so it never serves such a blob.
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
/// Distribution's redirect middleware only points at such a host; it cannot be one.
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
