//! Pure header parsing and the small helpers every response goes through: `Content-Range`,
//! `Warning`, the rate-limit headers, and URLs made fit to print ([`redact`], [`host_port`]).
//! Nothing here sends a request.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use reqwest::Url;
use reqwest::header::{self, HeaderMap};

use super::retry;

/// What a registry says about its rate limit (`RateLimit-Limit`, `RateLimit-Remaining`, as
/// Docker Hub sends them, and `Retry-After`), as sent but sanitised (one line, no controls).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RateLimit {
    /// `RateLimit-Limit` (`100;w=21600`).
    pub limit: Option<String>,
    /// `RateLimit-Remaining`.
    pub remaining: Option<String>,
    /// `Retry-After`.
    pub retry_after: Option<String>,
}

impl RateLimit {
    /// Whether no header was sent.
    pub fn is_empty(&self) -> bool {
        self.limit.is_none() && self.remaining.is_none() && self.retry_after.is_none()
    }

    /// Fills what is still missing from `headers`.
    pub(crate) fn fill_from(&mut self, headers: &HeaderMap) {
        for (slot, name) in [
            (&mut self.limit, "ratelimit-limit"),
            (&mut self.remaining, "ratelimit-remaining"),
            (&mut self.retry_after, "retry-after"),
        ] {
            if slot.is_none() {
                *slot = header_text(headers, name);
            }
        }
    }
}

/// Where one request went: attached to the response by `follow` (in `http.rs`).
#[derive(Debug, Clone, Default)]
pub(crate) struct Trail {
    /// `host[:port]` of every hop, the registry first.
    pub(crate) hops: Vec<String>,
    /// Rate-limit headers, from the first hop that sent each.
    pub(crate) rate_limit: RateLimit,
}

/// `Warning: 299` texts (RFC 9111 §5.5; "miscellaneous persistent warning", which registries
/// use for deprecations) seen by any request of a run, each kept once, sanitised.
#[derive(Debug, Default)]
pub(crate) struct Warnings {
    /// Every text seen so far (each is shown once per run).
    pub(crate) seen: HashSet<String>,
    /// Texts not handed out yet (`Client::take_warnings`).
    pub(crate) pending: Vec<String>,
}

/// The shared warning set of one [`Client`] (and all its pools).
pub(crate) type SharedWarnings = Arc<Mutex<Warnings>>;

pub(crate) fn note_warnings(warnings: &SharedWarnings, headers: &HeaderMap) {
    let texts: Vec<String> = headers
        .get_all(header::WARNING)
        .iter()
        .flat_map(|v| parse_warnings(&String::from_utf8_lossy(v.as_bytes())))
        .filter(|(code, _)| code == "299")
        .map(|(_, text)| crate::text::sanitize(&text, crate::text::Lines::Escape).into_owned())
        .collect();
    if texts.is_empty() {
        return;
    }
    let mut w = warnings
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    for text in texts {
        if w.seen.insert(text.clone()) {
            w.pending.push(text);
        }
    }
}

pub(crate) fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    header_str(headers, header::RETRY_AFTER)
        .and_then(|v| retry::parse_retry_after(&v, SystemTime::now()))
}

pub(crate) fn header_str(headers: &HeaderMap, name: impl header::AsHeaderName) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

/// A header as text fit to show: non-UTF-8 bytes replaced, controls escaped, one line.
pub(crate) fn header_text(headers: &HeaderMap, name: impl header::AsHeaderName) -> Option<String> {
    headers.get(name).map(|v| {
        crate::text::sanitize(
            &String::from_utf8_lossy(v.as_bytes()),
            crate::text::Lines::Escape,
        )
        .into_owned()
    })
}

/// Parses a `Warning` header value (RFC 9111 §5.5: `1#( warn-code SP warn-agent SP
/// warn-text [ SP warn-date ] )`, warn-text a quoted-string) into (code, text) pairs, the
/// text unquoted. Lenient: a value that breaks the grammar gives the pairs before it.
pub fn parse_warnings(value: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut chars = value.chars().peekable();
    let token = |chars: &mut std::iter::Peekable<std::str::Chars<'_>>| {
        let mut t = String::new();
        while let Some(&c) = chars.peek() {
            if c == ' ' || c == '\t' || c == ',' || c == '"' {
                break;
            }
            t.push(c);
            chars.next();
        }
        t
    };
    let spaces = |chars: &mut std::iter::Peekable<std::str::Chars<'_>>| {
        while chars.next_if(|c| *c == ' ' || *c == '\t').is_some() {}
    };
    let quoted = |chars: &mut std::iter::Peekable<std::str::Chars<'_>>| {
        chars.next_if_eq(&'"')?;
        let mut t = String::new();
        loop {
            match chars.next()? {
                '"' => return Some(t),
                '\\' => t.push(chars.next()?),
                c => t.push(c),
            }
        }
    };
    loop {
        while chars.next_if(|c| matches!(c, ' ' | '\t' | ',')).is_some() {}
        if chars.peek().is_none() {
            return out;
        }
        let code = token(&mut chars);
        spaces(&mut chars);
        let _agent = token(&mut chars);
        spaces(&mut chars);
        let Some(text) = quoted(&mut chars) else {
            return out;
        };
        spaces(&mut chars);
        if chars.peek() == Some(&'"') && quoted(&mut chars).is_none() {
            return out;
        }
        // Whatever else is there up to the next value is not ours to read.
        while chars.next_if(|c| *c != ',').is_some() {}
        out.push((code, text));
    }
}

pub(crate) fn header_u64(headers: &HeaderMap, name: impl header::AsHeaderName) -> Option<u64> {
    header_str(headers, name).and_then(|v| v.trim().parse().ok())
}

/// A URL fit for messages: no user info, no query (presigned URLs carry credentials there),
/// no fragment.
pub fn redact(url: &Url) -> String {
    let mut url = url.clone();
    let _ = url.set_username("");
    let _ = url.set_password(None);
    let had_query = url.query().is_some();
    url.set_query(None);
    url.set_fragment(None);
    let mut s = url.to_string();
    if had_query {
        s.push_str("?…");
    }
    s
}

/// `host[:port]` of a URL, for showing where a request ended up.
pub fn host_port(url: &Url) -> String {
    match (url.host_str(), url.port()) {
        (Some(h), Some(p)) => format!("{h}:{p}"),
        (Some(h), None) => h.to_owned(),
        _ => String::new(),
    }
}

/// A parsed `Content-Range: bytes first-last/total` (RFC 9110 §14.4); `total` is `None` for
/// `*`. The unsatisfied form `bytes */total` has no first and last.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ContentRange {
    /// First byte and last byte (inclusive), absent in `bytes */total`.
    pub range: Option<(u64, u64)>,
    /// The complete length, when known.
    pub total: Option<u64>,
}

impl ContentRange {
    /// Parses the header value; `None` when malformed.
    pub fn parse(value: &str) -> Option<ContentRange> {
        let rest = value.trim().strip_prefix("bytes")?.trim_start();
        let (range, total) = rest.split_once('/')?;
        let total = match total.trim() {
            "*" => None,
            t => Some(parse_digits(t)?),
        };
        let range = match range.trim() {
            "*" => None,
            r => {
                let (first, last) = r.split_once('-')?;
                let (first, last) = (parse_digits(first)?, parse_digits(last)?);
                if last < first || total.is_some_and(|t| last >= t) {
                    return None;
                }
                Some((first, last))
            }
        };
        if range.is_none() && total.is_none() {
            return None;
        }
        Some(ContentRange { range, total })
    }
}

fn parse_digits(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_range_table() {
        let ok = |first, last, total| ContentRange {
            range: Some((first, last)),
            total,
        };
        let cases: &[(&str, Option<ContentRange>)] = &[
            ("bytes 0-9/10", Some(ok(0, 9, Some(10)))),
            ("bytes 10-19/*", Some(ok(10, 19, None))),
            ("bytes  5-5/6", Some(ok(5, 5, Some(6)))),
            (
                "bytes */100",
                Some(ContentRange {
                    range: None,
                    total: Some(100),
                }),
            ),
            ("bytes 9-0/10", None),
            ("bytes 0-10/10", None),
            ("bytes */*", None),
            ("bytes 0-9", None),
            ("items 0-9/10", None),
            ("bytes -1-9/10", None),
            ("bytes 0-+9/10", None),
            ("", None),
        ];
        for (input, want) in cases {
            assert_eq!(ContentRange::parse(input), *want, "{input}");
        }
    }

    #[test]
    fn warning_headers() {
        let pair = |c: &str, t: &str| (c.to_owned(), t.to_owned());
        let cases: &[(&str, Vec<(String, String)>)] = &[
            (r#"299 - "deprecated""#, vec![pair("299", "deprecated")]),
            (
                r#"299 registry.example:443 "a, b \"c\"" "Tue, 01 Dec 2026 00:00:00 GMT""#,
                vec![pair("299", r#"a, b "c""#)],
            ),
            (
                r#"110 - "stale", 299 - "old API""#,
                vec![pair("110", "stale"), pair("299", "old API")],
            ),
            (r#"299 - "unterminated"#, vec![]),
            (r#"299 - no quotes"#, vec![]),
            (r#"299 - "ok", garbage"#, vec![pair("299", "ok")]),
            ("", vec![]),
            (r#"299 - "trailing\"#, vec![]),
        ];
        for (input, want) in cases {
            assert_eq!(&parse_warnings(input), want, "{input}");
        }
    }

    #[test]
    fn warnings_are_kept_once_and_sanitised() {
        let warnings = SharedWarnings::default();
        let mut headers = HeaderMap::new();
        headers.append(
            header::WARNING,
            header::HeaderValue::from_bytes("299 - \"x \u{9b}2J\"".as_bytes()).unwrap(),
        );
        headers.append(
            header::WARNING,
            header::HeaderValue::from_static(r#"110 - "not persistent""#),
        );
        note_warnings(&warnings, &headers);
        note_warnings(&warnings, &headers);
        let pending = std::mem::take(&mut warnings.lock().unwrap().pending);
        assert_eq!(pending, vec![r"x \u{9b}2J".to_owned()]);
        note_warnings(&warnings, &headers);
        assert!(warnings.lock().unwrap().pending.is_empty());
    }

    #[test]
    fn redaction() {
        let u =
            Url::parse("https://user:secret@cdn.example:8443/blob?X-Amz-Signature=abc#f").unwrap();
        assert_eq!(redact(&u), "https://cdn.example:8443/blob?…");
        assert_eq!(host_port(&u), "cdn.example:8443");
        let plain = Url::parse("http://127.0.0.1:5000/v2/").unwrap();
        assert_eq!(redact(&plain), "http://127.0.0.1:5000/v2/");
    }
}
