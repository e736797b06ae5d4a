//! The access log: one line per response, logged when its body is done or dropped, with
//! every piece of client text escaped and secret query values hidden.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

use axum::body::{Body, HttpBody};
use bytes::Bytes;

/// Text from a client (a path, a user name) made safe for a log line through the one
/// sanitiser (`crate::text`): control characters (C0, DEL, C1: terminal escapes among them)
/// and bidirectional controls escaped, backslashes doubled first so the escapes stay
/// unambiguous, at most `max` characters kept.
pub(super) fn escape_for_log(text: &str, max: usize) -> String {
    let cut: String = text.chars().take(max).collect();
    crate::text::sanitize(&cut.replace('\\', "\\\\"), crate::text::Lines::Escape).into_owned()
}

/// The query string for the access log: `ns`, `n` and `last` as sent (escaped), any other
/// parameter's value as `…`, since it could be a token or a signature.
pub(super) fn query_for_log(query: &str) -> String {
    let shown = query
        .split('&')
        .filter(|p| !p.is_empty())
        .take(20)
        .map(|pair| match pair.split_once('=') {
            Some((k, v)) if matches!(k, "ns" | "n" | "last") => format!("{k}={v}"),
            Some((k, _)) => format!("{k}=…"),
            None => "…".to_owned(),
        })
        .collect::<Vec<_>>()
        .join("&");
    escape_for_log(&shown, 300)
}

/// What the access log records about one response; logged when its body is done or dropped.
/// Text from the client is escaped already ([`escape_for_log`]).
pub(super) struct AccessLog {
    pub(super) method: String,
    pub(super) path: String,
    /// The query string, with the values of parameters other than `ns`, `n` and `last` hidden.
    pub(super) query: Option<String>,
    /// The user whose credentials were accepted, if the server requires them.
    pub(super) user: Option<String>,
    pub(super) status: u16,
    pub(super) bytes: u64,
    pub(super) head: bool,
    pub(super) declared: Option<u64>,
    pub(super) started: Instant,
    /// `hit`, `miss` or `stale` for content answers.
    pub(super) cache: Option<&'static str>,
}

impl Drop for AccessLog {
    fn drop(&mut self) {
        // HEAD sends no body: report what it announced. Never the headers or other query
        // values, which could carry credentials.
        let bytes = if self.head {
            self.declared.unwrap_or(0)
        } else {
            self.bytes
        };
        let user = match &self.user {
            Some(u) => format!("{u} "),
            None => String::new(),
        };
        let query = match &self.query {
            Some(q) => format!("?{q}"),
            None => String::new(),
        };
        let cache = match self.cache {
            Some(c) => format!(" {c}"),
            None => String::new(),
        };
        tracing::info!(
            "{user}{} {}{query} {} {}B {:.1}ms{cache}",
            self.method,
            self.path,
            self.status,
            bytes,
            self.started.elapsed().as_secs_f64() * 1e3
        );
    }
}

/// A response body that counts what it sends for the access log.
pub(super) struct LoggedBody {
    pub(super) inner: Body,
    pub(super) log: AccessLog,
}

impl HttpBody for LoggedBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, axum::Error>>> {
        let poll = Pin::new(&mut self.inner).poll_frame(cx);
        if let Poll::Ready(Some(Ok(frame))) = &poll
            && let Some(data) = frame.data_ref()
        {
            self.log.bytes += data.len() as u64;
        }
        poll
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}
