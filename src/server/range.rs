//! Byte ranges and validators for `serve` (RFC 9110, sections 13 and 14): which part of a blob a
//! request gets. Pure code: header values and a size in, a decision out.
//!
//! The rules, and where we use the freedom RFC 9110 gives a server:
//!
//! - One range, `a-b`, `a-` or `-n`, is answered with 206; `b` past the end is clipped to the
//!   last byte, and a suffix longer than the blob selects all of it (section 14.1.2).
//! - `b < a` (an invalid range-spec), `a >= size`, `-0`, or any range of an empty blob cannot be
//!   satisfied: 416 with `Content-Range: bytes */size` (section 15.5.17). A server "MAY ignore
//!   or reject" an invalid range-spec (section 14.2); issue 6 asks for the rejection.
//! - A header that is not `bytes=…` at all, or does not parse, is ignored: 200 with the whole
//!   blob ("An origin server MUST ignore a Range header field that contains a range unit it
//!   does not understand", section 14.2).
//! - Several ranges (issue 15) get 206 `multipart/byteranges` (section 14.6), as Go's
//!   `http.ServeContent` sends them for the reference registry: ranges are sent in the order
//!   asked, neither sorted nor merged; those starting past the end are dropped (416 when none
//!   is left, a single part when one is); an invalid range-spec (`b < a`) anywhere gets 416;
//!   and ranges adding up to more than the blob are ignored (200 with everything: section
//!   14.2's "MAY ignore", which Go uses against overlapping-range floods).
//! - `If-Range` (section 13.1.5) must match the strong ETag exactly; a weak tag, another tag or
//!   a date (we send no `Last-Modified`) means the range is ignored and the whole blob is sent.
//! - `If-None-Match` (section 13.1.2) uses the weak comparison; a match, or `*`, gives 304.

use std::ops::Range;

/// What part of a representation of `size` bytes to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RangeDecision {
    /// 200 with everything.
    Full,
    /// 206 with these bytes (`start..end`, end exclusive, never empty).
    Partial(Range<u64>),
    /// 206 `multipart/byteranges` with these parts (two or more, each never empty).
    Multiple(Vec<Range<u64>>),
    /// 416 with `Content-Range: bytes */size`.
    Unsatisfiable,
}

/// One parsed range-spec, before it meets the representation's size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Spec {
    /// `first-last` (last inclusive) or `first-` (`None`).
    From(u64, Option<u64>),
    /// `-n`: the last n bytes.
    Suffix(u64),
}

/// Decides what to send for a `Range` header value (if any) on a blob of `size` bytes.
pub fn decide(range: Option<&str>, size: u64) -> RangeDecision {
    let Some(value) = range else {
        return RangeDecision::Full;
    };
    let Some(specs) = parse(value) else {
        return RangeDecision::Full;
    };
    if specs
        .iter()
        .any(|s| matches!(s, Spec::From(a, Some(b)) if b < a))
    {
        return RangeDecision::Unsatisfiable;
    }
    let mut ranges: Vec<Range<u64>> = specs.iter().filter_map(|s| resolve(*s, size)).collect();
    let total = ranges
        .iter()
        .fold(0u64, |sum, r| sum.saturating_add(r.end - r.start));
    match ranges.len() {
        0 => RangeDecision::Unsatisfiable,
        1 => RangeDecision::Partial(ranges.remove(0)),
        _ if total > size => RangeDecision::Full,
        _ => RangeDecision::Multiple(ranges),
    }
}

/// The parts of a `multipart/byteranges` body (RFC 9110, section 14.6) laid out as Go's
/// `mime/multipart` writes them: each part's head (`--boundary`, `Content-Range`,
/// `Content-Type`, a blank line) is followed by its bytes, and `tail` closes the body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Multipart {
    /// Each part's head and the bytes of the blob it carries.
    pub parts: Vec<(String, Range<u64>)>,
    /// The closing delimiter.
    pub tail: String,
}

impl Multipart {
    /// Lays out `ranges` of a blob of `size` bytes sent as `content_type`, with `boundary`
    /// (which the caller picks at random, so no blob can contain it on purpose).
    pub fn new(ranges: &[Range<u64>], size: u64, content_type: &str, boundary: &str) -> Multipart {
        let parts = ranges
            .iter()
            .enumerate()
            .map(|(i, r)| {
                let lead = if i == 0 { "" } else { "\r\n" };
                let head = format!(
                    "{lead}--{boundary}\r\nContent-Range: bytes {}-{}/{size}\r\nContent-Type: {content_type}\r\n\r\n",
                    r.start,
                    r.end.saturating_sub(1)
                );
                (head, r.clone())
            })
            .collect();
        Multipart {
            parts,
            tail: format!("\r\n--{boundary}--\r\n"),
        }
    }

    /// The body's length in bytes, for `Content-Length`.
    pub fn len(&self) -> u64 {
        self.parts
            .iter()
            .map(|(head, r)| head.len() as u64 + (r.end - r.start))
            .sum::<u64>()
            + self.tail.len() as u64
    }

    /// Whether the body is empty (it never is: the tail is always there).
    pub fn is_empty(&self) -> bool {
        false
    }
}

/// Parses `bytes=<range-set>`; `None` when the header is to be ignored (another unit, or a
/// syntax error).
fn parse(value: &str) -> Option<Vec<Spec>> {
    let (unit, set) = value.trim().split_once('=')?;
    if !unit.trim().eq_ignore_ascii_case("bytes") {
        return None;
    }
    let mut specs = Vec::new();
    // range-set = 1#range-spec: empty list elements are allowed and skipped (RFC 9110, 5.6.1).
    for spec in set.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let (first, last) = spec.split_once('-')?;
        specs.push(match (first, last) {
            ("", n) => Spec::Suffix(number(n)?),
            (a, "") => Spec::From(number(a)?, None),
            (a, b) => Spec::From(number(a)?, Some(number(b)?)),
        });
        // More ranges than any real client sends: treat as hostile noise and ignore them.
        if specs.len() > 100 {
            return None;
        }
    }
    (!specs.is_empty()).then_some(specs)
}

/// `1*DIGIT`, without sign or spaces; overflow counts as a syntax error.
fn number(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// The bytes a spec selects in a representation of `size` bytes, if it can be satisfied.
fn resolve(spec: Spec, size: u64) -> Option<Range<u64>> {
    match spec {
        Spec::From(first, last) => {
            if first >= size || last.is_some_and(|l| l < first) {
                return None;
            }
            let end = last.map_or(size, |l| l.saturating_add(1).min(size));
            Some(first..end)
        }
        Spec::Suffix(n) => (n > 0 && size > 0).then(|| size - n.min(size)..size),
    }
}

/// Whether an `If-Range` value lets the `Range` apply to a representation whose strong ETag is
/// `etag` (quoted).
pub fn if_range_matches(value: &str, etag: &str) -> bool {
    // Strong comparison: a weak tag never matches; a date never does since we send no
    // Last-Modified.
    value.trim() == etag
}

/// Whether an `If-None-Match` value matches `etag` (quoted), with the weak comparison.
pub fn if_none_match(value: &str, etag: &str) -> bool {
    value
        .split(',')
        .map(str::trim)
        .any(|tag| tag == "*" || tag.strip_prefix("W/").unwrap_or(tag) == etag)
}

#[cfg(test)]
mod tests {
    use super::*;
    use RangeDecision::*;
    use proptest::prelude::*;

    #[test]
    fn range_table() {
        let cases: &[(Option<&str>, u64, RangeDecision)] = &[
            (None, 49, Full),
            (Some("bytes=10-19"), 49, Partial(10..20)),
            (Some("bytes=0-0"), 49, Partial(0..1)),
            (Some("bytes=0-"), 49, Partial(0..49)),
            (Some("bytes=48-"), 49, Partial(48..49)),
            (Some("bytes=40-100"), 49, Partial(40..49)),
            (Some("bytes=-5"), 49, Partial(44..49)),
            (Some("bytes=-49"), 49, Partial(0..49)),
            (Some("bytes=-100"), 49, Partial(0..49)),
            (Some("BYTES = 1-2"), 49, Partial(1..3)),
            (Some("bytes=1-2,"), 49, Partial(1..3)),
            (Some("bytes=0-18446744073709551615"), 49, Partial(0..49)),
            // Unsatisfiable: 416.
            (Some("bytes=49-"), 49, Unsatisfiable),
            (Some("bytes=100-200"), 49, Unsatisfiable),
            (Some("bytes=20-10"), 49, Unsatisfiable),
            (Some("bytes=-0"), 49, Unsatisfiable),
            (Some("bytes=0-"), 0, Unsatisfiable),
            (Some("bytes=-5"), 0, Unsatisfiable),
            (Some("bytes=50-60,70-"), 49, Unsatisfiable),
            (Some("bytes=0-1,20-10"), 49, Unsatisfiable),
            // Several ranges: multipart, in the order asked, unmerged.
            (Some("bytes=0-1,5-6"), 49, Multiple(vec![0..2, 5..7])),
            (
                Some("bytes=5-6,0-1,0-1"),
                49,
                Multiple(vec![5..7, 0..2, 0..2]),
            ),
            (Some("bytes=-2,40-"), 49, Multiple(vec![47..49, 40..49])),
            // Those past the end are dropped; one left is a single part.
            (Some("bytes=0-1, 100-"), 49, Partial(0..2)),
            (Some("bytes=0-1,100-,3-3"), 49, Multiple(vec![0..2, 3..4])),
            // More bytes than the blob: ignored.
            (Some("bytes=0-,0-"), 49, Full),
            (Some("bytes=0-30,10-40"), 49, Full),
            // Not understood: ignored.
            (Some("items=0-1"), 49, Full),
            (Some("bytes"), 49, Full),
            (Some("bytes="), 49, Full),
            (Some("bytes=a-b"), 49, Full),
            (Some("bytes=1"), 49, Full),
            (Some("bytes=--1"), 49, Full),
            (Some("bytes=+1-2"), 49, Full),
            (Some("bytes=1-2-3"), 49, Full),
            (Some("bytes= 1 - 2"), 49, Full),
            (Some("bytes=99999999999999999999-"), 49, Full),
            (Some(""), 49, Full),
        ];
        for (header, size, want) in cases {
            assert_eq!(decide(*header, *size), *want, "{header:?} on {size}");
        }
    }

    #[test]
    fn validators() {
        let etag = "\"sha256:ab\"";
        assert!(if_range_matches("\"sha256:ab\"", etag));
        assert!(if_range_matches(" \"sha256:ab\" ", etag));
        assert!(!if_range_matches("W/\"sha256:ab\"", etag));
        assert!(!if_range_matches("\"sha256:cd\"", etag));
        assert!(!if_range_matches("Wed, 21 Oct 2015 07:28:00 GMT", etag));

        assert!(if_none_match("*", etag));
        assert!(if_none_match("\"x\", W/\"sha256:ab\"", etag));
        assert!(if_none_match("\"sha256:ab\"", etag));
        assert!(!if_none_match("\"sha256:abc\"", etag));
        assert!(!if_none_match("", etag));
    }

    #[test]
    fn multipart_layout_is_go_s() {
        let m = Multipart::new(&[0..2, 5..7], 49, "application/octet-stream", "B");
        assert_eq!(
            m.parts[0].0,
            "--B\r\nContent-Range: bytes 0-1/49\r\nContent-Type: application/octet-stream\r\n\r\n"
        );
        assert!(
            m.parts[1]
                .0
                .starts_with("\r\n--B\r\nContent-Range: bytes 5-6/49\r\n")
        );
        assert_eq!(m.tail, "\r\n--B--\r\n");
        let heads: u64 = m.parts.iter().map(|(h, _)| h.len() as u64).sum();
        assert_eq!(m.len(), heads + 4 + m.tail.len() as u64);
    }

    proptest! {
        #[test]
        fn never_panics_and_partial_ranges_fit(header in "\\PC{0,40}", size in 0u64..1000) {
            match decide(Some(&header), size) {
                Partial(r) => prop_assert!(r.start < r.end && r.end <= size),
                Multiple(rs) => {
                    prop_assert!(rs.len() > 1);
                    prop_assert!(rs.iter().all(|r| r.start < r.end && r.end <= size));
                    prop_assert!(rs.iter().map(|r| r.end - r.start).sum::<u64>() <= size);
                }
                _ => {}
            }
        }

        #[test]
        fn single_ranges_fit(a in 0u64..2000, b in 0u64..2000, size in 0u64..1000) {
            let header = format!("bytes={a}-{b}");
            match decide(Some(&header), size) {
                Partial(r) => prop_assert_eq!(r, a..(b + 1).min(size)),
                Unsatisfiable => prop_assert!(a >= size || b < a),
                Full | Multiple(_) => prop_assert!(false, "a single valid range is never ignored"),
            }
        }
    }
}
