//! Registry error bodies (`{"errors":[{"code","message","detail"}]}`) decoded into values that
//! read as sentences, and the error category (and so exit code) each status or code maps to.
//!
//! Pure code. The OCI Distribution Specification ("Error Codes") defines the envelope; real
//! registries add codes of their own, send `detail` as any JSON value, or answer with HTML from
//! a proxy, so decoding is lenient: unknown codes stay strings, and a body that is not an
//! envelope becomes a short excerpt. Reading the body (at most [`MAX_BODY`]) is the client's job.

use std::fmt;

use serde::Deserialize;

use crate::text::{Lines, sanitize};

/// The most bytes of an error body anyone should read.
pub const MAX_BODY: usize = 64 * 1024;
/// How much of a non-envelope body is shown.
const EXCERPT_CHARS: usize = 200;

use crate::exit::Category;

/// What HTTP statuses and envelope codes mean, as exit categories.
impl Category {
    /// The category an HTTP status alone implies.
    pub fn from_status(status: u16) -> Category {
        match status {
            404 => Category::NotFound,
            401 | 403 => Category::Auth,
            429 => Category::RateLimited,
            408 | 500..=599 => Category::Network,
            _ => Category::Other,
        }
    }

    /// The category an envelope code implies, if it implies one.
    pub fn from_code(code: &str) -> Option<Category> {
        Some(match code {
            "BLOB_UNKNOWN" | "NAME_UNKNOWN" | "MANIFEST_UNKNOWN" | "MANIFEST_BLOB_UNKNOWN" => {
                Category::NotFound
            }
            "UNAUTHORIZED" | "DENIED" => Category::Auth,
            "TOOMANYREQUESTS" => Category::RateLimited,
            "UNAVAILABLE" => Category::Network,
            "DIGEST_INVALID" | "NAME_INVALID" | "TAG_INVALID" | "SIZE_INVALID" => Category::Usage,
            _ => return None,
        })
    }
}

/// One entry of an error envelope.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct ErrorEntry {
    /// The code, e.g. `BLOB_UNKNOWN`; unknown codes are kept as they are.
    #[serde(default)]
    pub code: String,
    /// The registry's message.
    #[serde(default)]
    pub message: String,
    /// Free-form detail, any JSON value.
    #[serde(default)]
    pub detail: Option<serde_json::Value>,
}

#[derive(Deserialize)]
struct Envelope {
    errors: Vec<ErrorEntry>,
}

/// A decoded error body.
#[derive(Debug, Clone, PartialEq)]
pub enum ErrorBody {
    /// No body (HEAD, or an empty answer).
    Empty,
    /// An error envelope with at least one entry.
    Envelope(Vec<ErrorEntry>),
    /// Anything else: a short, single-line excerpt.
    Excerpt(String),
}

impl ErrorBody {
    /// Decodes a body (already capped at [`MAX_BODY`] by the reader).
    pub fn decode(body: &[u8]) -> ErrorBody {
        let trimmed = body.trim_ascii();
        if trimmed.is_empty() {
            return ErrorBody::Empty;
        }
        if let Ok(env) = serde_json::from_slice::<Envelope>(trimmed)
            && !env.errors.is_empty()
        {
            return ErrorBody::Envelope(env.errors);
        }
        let text = String::from_utf8_lossy(trimmed);
        let mut excerpt: String = text
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
            .chars()
            .take(EXCERPT_CHARS)
            .collect();
        if text.chars().count() > EXCERPT_CHARS {
            excerpt.push('…');
        }
        ErrorBody::Excerpt(excerpt)
    }

    /// The category the body's codes imply, if any does (the first entry that has one wins).
    pub fn category(&self) -> Option<Category> {
        match self {
            ErrorBody::Envelope(entries) => {
                entries.iter().find_map(|e| Category::from_code(&e.code))
            }
            _ => None,
        }
    }

    /// The codes in the envelope.
    pub fn codes(&self) -> Vec<&str> {
        match self {
            ErrorBody::Envelope(entries) => entries.iter().map(|e| e.code.as_str()).collect(),
            _ => Vec::new(),
        }
    }
}

impl fmt::Display for ErrorBody {
    /// `BLOB_UNKNOWN: blob unknown to registry; DENIED: …`, or the excerpt. Every part came
    /// from the server, so control characters and line breaks are escaped (issue 9, item 13):
    /// the text stays on the line of the message that quotes it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let safe = |s: &str| sanitize(s, Lines::Escape).into_owned();
        match self {
            ErrorBody::Empty => f.write_str("no body"),
            ErrorBody::Excerpt(s) => write!(f, "body: {}", safe(s)),
            ErrorBody::Envelope(entries) => {
                for (i, e) in entries.iter().enumerate() {
                    if i > 0 {
                        f.write_str("; ")?;
                    }
                    let (code, message) = (safe(&e.code), safe(&e.message));
                    match (code.is_empty(), message.is_empty()) {
                        (false, false) => write!(f, "{code}: {message}")?,
                        (false, true) => f.write_str(&code)?,
                        (true, false) => f.write_str(&message)?,
                        (true, true) => f.write_str("unspecified error")?,
                    }
                    if let Some(detail) = e.detail.as_ref().and_then(detail_text) {
                        write!(f, " ({})", safe(&detail))?;
                    }
                }
                Ok(())
            }
        }
    }
}

/// A short rendering of `detail`, or `None` when it adds nothing.
fn detail_text(detail: &serde_json::Value) -> Option<String> {
    let text = match detail {
        serde_json::Value::Null => return None,
        serde_json::Value::String(s) if s.is_empty() => return None,
        // distribution puts the digest in `detail` of BLOB_UNKNOWN; the message names it already.
        serde_json::Value::String(s) if s.parse::<crate::digest::Digest>().is_ok() => return None,
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Array(a) if a.is_empty() => return None,
        serde_json::Value::Object(o) if o.is_empty() => return None,
        other => other.to_string(),
    };
    let mut short: String = text.chars().take(EXCERPT_CHARS).collect();
    if text.chars().count() > EXCERPT_CHARS {
        short.push('…');
    }
    Some(format!("detail: {short}"))
}

/// The category of a failed response: an envelope code decides when it implies one, the status
/// otherwise.
pub fn categorize(status: u16, body: &ErrorBody) -> Category {
    body.category()
        .unwrap_or_else(|| Category::from_status(status))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decode_table() {
        let cases: &[(&str, &str, Option<Category>)] = &[
            (
                r#"{"errors":[{"code":"BLOB_UNKNOWN","message":"blob unknown to registry","detail":"sha256:ab"}]}"#,
                "BLOB_UNKNOWN: blob unknown to registry (detail: sha256:ab)",
                Some(Category::NotFound),
            ),
            (
                r#"{"errors":[{"code":"BLOB_UNKNOWN","message":"blob unknown to registry","detail":"sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"}]}"#,
                "BLOB_UNKNOWN: blob unknown to registry",
                Some(Category::NotFound),
            ),
            (
                r#"{"errors":[{"code":"UNAUTHORIZED","message":"authentication required","detail":[{"Type":"repository","Name":"x","Action":"pull"}]}]}"#,
                r#"UNAUTHORIZED: authentication required (detail: [{"Action":"pull","Name":"x","Type":"repository"}])"#,
                Some(Category::Auth),
            ),
            (
                r#"{"errors":[{"code":"SOMETHING_NEW","message":"shiny"},{"code":"DENIED","message":"no"}]}"#,
                "SOMETHING_NEW: shiny; DENIED: no",
                Some(Category::Auth),
            ),
            (
                r#"{"errors":[{"code":"TOOMANYREQUESTS"}]}"#,
                "TOOMANYREQUESTS",
                Some(Category::RateLimited),
            ),
            (
                r#"{"errors":[{"message":"only a message","detail":null}]}"#,
                "only a message",
                None,
            ),
            (r#"{"errors":[]}"#, r#"body: {"errors":[]}"#, None),
            ("", "no body", None),
            ("  \n", "no body", None),
            (
                "<html>\n<body>502   Bad Gateway</body></html>",
                "body: <html> <body>502 Bad Gateway</body></html>",
                None,
            ),
            ("not json {", "body: not json {", None),
        ];
        for (body, text, cat) in cases {
            let decoded = ErrorBody::decode(body.as_bytes());
            assert_eq!(decoded.to_string(), *text, "{body}");
            assert_eq!(decoded.category(), *cat, "{body}");
        }
    }

    #[test]
    fn long_bodies_are_cut() {
        let body = "x".repeat(10_000);
        let s = ErrorBody::decode(body.as_bytes()).to_string();
        assert!(s.len() < 300 && s.ends_with('…'), "{s}");
        let bin = [0xffu8, 0xfe, 0x00, b'a'];
        assert!(matches!(ErrorBody::decode(&bin), ErrorBody::Excerpt(_)));
    }

    #[test]
    fn categories() {
        let empty = ErrorBody::Empty;
        for (status, cat, code) in [
            (404, Category::NotFound, 3),
            (401, Category::Auth, 4),
            (403, Category::Auth, 4),
            (429, Category::RateLimited, 7),
            (500, Category::Network, 6),
            (503, Category::Network, 6),
            (400, Category::Other, 1),
        ] {
            assert_eq!(categorize(status, &empty), cat, "{status}");
            assert_eq!(cat.exit_code(), code);
        }
        // An envelope code beats the status (Docker Hub sends 429 with TOOMANYREQUESTS, but
        // some proxies answer 403 with TOOMANYREQUESTS).
        let body = ErrorBody::decode(br#"{"errors":[{"code":"TOOMANYREQUESTS"}]}"#);
        assert_eq!(categorize(403, &body), Category::RateLimited);
    }
}
