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

    /// Fills what is still missing from `headers`: along a redirect chain each field keeps the
    /// first hop's value that had one (the registry comes first).
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

/// Distinct warning texts one client keeps; later new ones are dropped.
const MAX_WARNINGS: usize = 64;

/// The shared warning set of one [`Client`] (and all its pools).
pub(crate) type SharedWarnings = Arc<Mutex<Warnings>>;

/// Records the `Warning: 299` texts of one response. Only 299 is kept: registries use it for
/// deprecations, while the other codes mostly describe caches and proxies on the way. Values are read lossily
/// (a header may hold non-UTF-8 bytes) and sanitised before they are kept.
pub(crate) fn note_warnings(warnings: &SharedWarnings, headers: &HeaderMap) {
    let texts: Vec<String> = headers
        .get_all(header::WARNING)
        .iter()
        .flat_map(|v| parse_warnings(&String::from_utf8_lossy(v.as_bytes())))
        .filter(|(code, _)| code == "299")
        .map(|(_, text)| crate::text::sanitize(&text, crate::text::Lines::Escape).into_owned())
        .collect();
    // Most responses carry no Warning: then the shared lock is not taken at all.
    if texts.is_empty() {
        return;
    }
    let mut w = warnings
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    // Once per run: every blob of a pull may carry the same warning. Bounded, for a long-running
    // `serve --upstream` whose upstream could send a new text with every answer.
    for text in texts {
        if w.seen.len() < MAX_WARNINGS && w.seen.insert(text.clone()) {
            w.pending.push(text);
        }
    }
}

/// `Retry-After` as a wait from now (delay-seconds or an HTTP-date); `None` when absent or
/// unreadable.
pub(crate) fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    header_str(headers, header::RETRY_AFTER)
        .and_then(|v| retry::parse_retry_after(&v, SystemTime::now()))
}

/// A header's value when it is visible ASCII (what `HeaderValue::to_str` accepts), for values
/// that are parsed rather than shown; `None` when absent or holding other bytes.
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
    // warn-code and warn-agent: up to whitespace, a comma or a quote.
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
    // A quoted-string, unescaped; `None` when unterminated (a cut text is not shown).
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
        // The commas between warnings, and empty list elements.
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
        // The optional warn-date, quoted too: skipped; an unterminated one ends the parse.
        if chars.peek() == Some(&'"') && quoted(&mut chars).is_none() {
            return out;
        }
        // Whatever else is there up to the next value is not ours to read.
        while chars.next_if(|c| *c != ',').is_some() {}
        out.push((code, text));
    }
}

/// A header as a decimal number (`Content-Length`), surrounding whitespace allowed; `None`
/// when absent or not a number.
pub(crate) fn header_u64(headers: &HeaderMap, name: impl header::AsHeaderName) -> Option<u64> {
    header_str(headers, name).and_then(|v| v.trim().parse().ok())
}

/// A URL fit for messages: no user info, no query (presigned URLs carry credentials there),
/// no fragment.
pub fn redact(url: &Url) -> String {
    let mut url = url.clone();
    // These fail only for a URL that cannot have user info (one without a host, say): then
    // there is nothing to remove.
    let _ = url.set_username("");
    let _ = url.set_password(None);
    let had_query = url.query().is_some();
    url.set_query(None);
    url.set_fragment(None);
    let mut s = url.to_string();
    // Shows that a query was cut, rather than pretending there was none.
    if had_query {
        s.push_str("?…");
    }
    s
}

/// `host[:port]` of a URL, for showing where a request ended up. A default port is not shown
/// (`Url` drops it); a URL without a host gives an empty string.
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
        // Only the `bytes` unit means anything to a blob download.
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
                // RFC 9110 §14.4: invalid when last-pos is less than first-pos, or the
                // complete-length is less than or equal to last-pos.
                if last < first || total.is_some_and(|t| last >= t) {
                    return None;
                }
                Some((first, last))
            }
        };
        // `bytes */*` is no form of the grammar: the unsatisfied form needs the length.
        if range.is_none() && total.is_none() {
            return None;
        }
        Some(ContentRange { range, total })
    }
}

/// Digits only: `u64::from_str` also takes a leading `+`, which the grammar does not. More
/// than a `u64` holds is `None` as well.
fn parse_digits(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Good forms (closed, unknown length, extra spaces, unsatisfied) and bad ones: reversed or
    /// out-of-length ranges, `*/*`, no length, another unit, signs.
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

    /// One warning; one with an agent, a comma in its text and a date; two in one value; and
    /// broken values, which give only what came before the break.
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

    /// Only 299 texts are kept, each once however often it comes, with a C1 control (CSI,
    /// U+009B) escaped.
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

    /// User info, query and fragment go, a plain URL is unchanged, and `host_port` keeps a
    /// port that is not the default.
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
