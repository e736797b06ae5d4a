//! The pure decisions of a transfer: what a blob response means for a download that has some
//! bytes on disk already, and whether what it declares (digest, size) may be accepted before
//! its body is read. No I/O; table-tested below.
//!
//! The answers it must survive are real ones: servers that ignore `Range` (a 200 with the
//! whole blob), answer another range than the one asked for, or answer a resume with 416.

use super::{SizeLimit, TransferError};
use crate::client::BlobResponse;
use crate::digest::Digest;

/// What to do with a blob response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Plan {
    /// Write the body from byte `start`; `size` is the blob size if the response tells it.
    /// `start` is 0 (a full body: any partial is dropped) or the offset asked from.
    Stream { start: u64, size: Option<u64> },
    /// 416 to a resume request: the partial may be the whole blob already. Only the verifying
    /// commit can tell; nothing the response says is trusted.
    AlreadyComplete,
}

/// Decides what a blob response means for a transfer that has `offset` bytes on disk.
pub(super) fn plan(
    digest: &Digest,
    offset: u64,
    r: &BlobResponse,
    url: &str,
) -> Result<Plan, TransferError> {
    // Every refusal names the digest, the offset asked from and the URL that answered.
    let bad = |answer: String| TransferError::BadRange {
        digest: digest.clone(),
        offset,
        answer,
        url: url.to_owned(),
    };
    match r.status {
        // A full answer: to a resume request it means the range was ignored. `size` is the
        // Content-Length, absent for a body without one (chunked, say).
        200 => Ok(Plan::Stream {
            start: 0,
            size: r.content_length,
        }),
        206 => {
            // A 206 must say which bytes it holds (RFC 9110 §15.3.7): without Content-Range
            // there is no knowing where they go.
            let Some(cr) = r.content_range else {
                return Err(bad("206 without Content-Range".into()));
            };
            match cr.range {
                // Only a range that starts where the partial ends continues it. One that ends
                // before the blob does is taken: when the size is known, the download counts
                // the early end as an interruption and resumes after it.
                Some((first, last)) if first == offset => {
                    // The complete length, not this part's; `None` for `*`.
                    let size = cr.total;
                    // No underflow (a parsed `ContentRange` never has last < first); `checked_add`
                    // covers `0-18446744073709551615`.
                    if let Some(len) = r.content_length
                        && Some(len) != (last - first).checked_add(1)
                    {
                        return Err(bad(format!(
                            "206 whose Content-Length {len} disagrees with Content-Range {first}-{last}"
                        )));
                    }
                    Ok(Plan::Stream {
                        start: offset,
                        size,
                    })
                }
                // Another start, or the unsatisfied form `*/total`: written at `offset`, its
                // bytes would corrupt the partial.
                _ => Err(bad(format!("206 for a different range ({cr:?})"))),
            }
        }
        // `download` sends Range only to resume, so a 416 to a plain GET is no answer to act on.
        416 if offset > 0 => Ok(Plan::AlreadyComplete),
        // `Client::get_blob` lets only 200, 206 and 416 through; this keeps the function total.
        other => Err(bad(format!("HTTP {other}"))),
    }
}

/// A `Docker-Content-Digest` of the same algorithm must equal the digest asked for. One of
/// another algorithm cannot be checked without hashing twice, and is ignored. A mismatch means
/// the registry says it is sending another blob: refused before a byte of the body is read.
pub(super) fn check_declared_digest(
    digest: &Digest,
    r: &BlobResponse,
    url: &str,
) -> Result<(), TransferError> {
    let Some(declared) = &r.digest else {
        return Ok(());
    };
    let same_algorithm = declared
        .split_once(':')
        .is_some_and(|(alg, _)| alg == digest.algorithm().as_str());
    // Compared as strings, after trimming: the algorithm name as sent (`SHA256:` counts as
    // another algorithm) and the hex too, which the OCI grammar makes lower-case.
    if same_algorithm && declared.trim() != digest.to_string() {
        return Err(TransferError::DeclaredDigestMismatch {
            expected: digest.clone(),
            declared: declared.clone(),
            url: url.to_owned(),
        });
    }
    Ok(())
}

/// A response that declares a size (`Content-Length` of a full answer, the total of a
/// `Content-Range`) is refused before its body when the size cannot be right: another size than
/// a descriptor's exact one, or more than the limit.
pub(super) fn check_declared_size(
    digest: &Digest,
    limit: SizeLimit,
    declared: Option<u64>,
    url: &str,
) -> Result<(), TransferError> {
    match (limit, declared) {
        // The descriptor's size is part of what was asked for: another one is another blob,
        // or a lie.
        (SizeLimit::Exact(n), Some(declared)) if declared != n => {
            Err(TransferError::SizeMismatch {
                digest: digest.clone(),
                expected: n,
                actual: declared,
                url: url.to_owned(),
            })
        }
        // Refused before the disk fills, rather than once the stream reaches the cap.
        (SizeLimit::AtMost(limit), Some(declared)) if declared > limit => {
            Err(TransferError::TooLarge {
                digest: digest.clone(),
                limit,
                url: url.to_owned(),
            })
        }
        // Nothing declared: the stream itself stops at the limit.
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::ContentRange;

    const URL: &str = "https://r.example/v2/a/blobs/x";

    fn digest() -> Digest {
        crate::digest::digest_bytes(crate::digest::Algorithm::Sha256, b"blob")
    }

    /// A response with these headers and an empty body.
    fn response(
        status: u16,
        content_length: Option<u64>,
        content_range: Option<&str>,
        declared: Option<&str>,
    ) -> BlobResponse {
        BlobResponse {
            status,
            content_length,
            content_range: content_range.map(|v| ContentRange::parse(v).unwrap()),
            digest: declared.map(str::to_owned),
            final_url: URL.parse().unwrap(),
            response: reqwest::Response::from(axum::http::Response::new("")),
        }
    }

    /// What a decision came to, in a form a table can hold.
    #[derive(Debug, PartialEq, Eq)]
    enum Decided {
        Stream {
            start: u64,
            size: Option<u64>,
        },
        AlreadyComplete,
        /// `BadRange`, with its answer text.
        BadRange(&'static str),
    }

    /// offset, status, `Content-Length`, `Content-Range` => decision.
    type Row = (u64, u16, Option<u64>, Option<&'static str>, Decided);

    /// Each status and header combination a fresh or resumed download can meet, with the
    /// decision it must give.
    #[test]
    fn what_a_response_means() {
        use Decided::*;
        let stream = |start, size| Stream { start, size };
        #[rustfmt::skip]
        let rows: &[Row] = &[
            // offset, status, Content-Length, Content-Range => decision
            // A full answer starts from zero, fresh or resumed (the range was ignored).
            (0,   200, Some(100), None,                    stream(0, Some(100))),
            (0,   200, None,      None,                    stream(0, None)),
            (40,  200, Some(100), None,                    stream(0, Some(100))),
            // A Content-Range on a 200 does not make it partial.
            (40,  200, Some(100), Some("bytes 40-99/100"), stream(0, Some(100))),
            // A 206 that starts where we are continues; its total is the size.
            (40,  206, Some(60),  Some("bytes 40-99/100"), stream(40, Some(100))),
            (40,  206, None,      Some("bytes 40-99/100"), stream(40, Some(100))),
            (40,  206, Some(60),  Some("bytes 40-99/*"),   stream(40, None)),
            (0,   206, Some(100), Some("bytes 0-99/100"),  stream(0, Some(100))),
            // One that ends early is taken too: the download resumes after its end.
            (40,  206, Some(10),  Some("bytes 40-49/100"), stream(40, Some(100))),
            // A 206 that does not fit what was asked is refused.
            (40,  206, Some(60),  None,                    BadRange("206 without Content-Range")),
            (40,  206, Some(60),  Some("bytes 41-99/100"), BadRange("206 for a different range")),
            (40,  206, Some(60),  Some("bytes 0-99/100"),  BadRange("206 for a different range")),
            (40,  206, None,      Some("bytes */100"),     BadRange("206 for a different range")),
            (40,  206, Some(59),  Some("bytes 40-99/100"), BadRange("206 whose Content-Length 59 disagrees with Content-Range 40-99")),
            (40,  206, Some(61),  Some("bytes 40-99/100"), BadRange("206 whose Content-Length 61 disagrees with Content-Range 40-99")),
            // 416 to a resume: the partial may be complete (the commit decides).
            (40,  416, Some(33),  Some("bytes */40"),      AlreadyComplete),
            (1,   416, None,      None,                    AlreadyComplete),
            // 416 without a resume, or any other status, is not an answer to act on.
            (0,   416, None,      Some("bytes */0"),       BadRange("HTTP 416")),
            (0,   204, None,      None,                    BadRange("HTTP 204")),
            (40,  304, None,      None,                    BadRange("HTTP 304")),
        ];
        for (offset, status, length, range, expected) in rows {
            let r = response(*status, *length, *range, None);
            let decided = match plan(&digest(), *offset, &r, URL) {
                Ok(Plan::Stream { start, size }) => Stream { start, size },
                Ok(Plan::AlreadyComplete) => AlreadyComplete,
                Err(TransferError::BadRange {
                    answer,
                    offset: o,
                    url,
                    ..
                }) => {
                    assert_eq!((o, url.as_str()), (*offset, URL));
                    let BadRange(prefix) = expected else {
                        panic!("{offset} {status} {length:?} {range:?}: refused with {answer}");
                    };
                    assert!(answer.starts_with(prefix), "{answer}");
                    BadRange(prefix)
                }
                Err(e) => panic!("{offset} {status} {length:?} {range:?}: {e}"),
            };
            assert_eq!(&decided, expected, "{offset} {status} {length:?} {range:?}");
        }
    }

    /// A declared digest of the algorithm asked for must match exactly (after trimming); one
    /// of another algorithm, or unreadable, is ignored.
    #[test]
    fn what_a_declared_digest_means() {
        let d = digest();
        let other = crate::digest::digest_bytes(crate::digest::Algorithm::Sha256, b"other");
        let sha512 = crate::digest::digest_bytes(crate::digest::Algorithm::Sha512, b"blob");
        let (same, padded) = (d.to_string(), format!(" {d} "));
        let (wrong, upper) = (other.to_string(), d.to_string().to_uppercase());
        let (of_512, unknown) = (sha512.to_string(), format!("md5:{}", d.hex()));
        let rows: &[(Option<&str>, bool)] = &[
            // Docker-Content-Digest => accepted
            (None, true),
            (Some(&same), true),
            (Some(&padded), true),
            // The same algorithm must give the same digest.
            (Some(&wrong), false),
            (Some("sha256:"), false),
            (Some("sha256:abc"), false),
            // Another algorithm (or none) cannot be checked without hashing twice: ignored.
            (Some(&of_512), true),
            (Some(&unknown), true),
            (Some(&upper), true),
            (Some("garbage"), true),
            (Some(""), true),
        ];
        for (declared, accepted) in rows {
            let r = response(200, Some(4), None, *declared);
            match check_declared_digest(&d, &r, URL) {
                Ok(()) => assert!(accepted, "{declared:?} accepted"),
                Err(TransferError::DeclaredDigestMismatch {
                    expected,
                    declared: got,
                    url,
                }) => {
                    assert!(!accepted, "{declared:?} refused");
                    assert_eq!(
                        (expected, Some(got.as_str()), url.as_str()),
                        (d.clone(), *declared, URL)
                    );
                }
                Err(e) => panic!("{declared:?}: {e}"),
            }
        }
    }

    /// An exact limit refuses any other declared size, `AtMost` only a larger one, and no
    /// declared size passes either (the stream is bounded instead).
    #[test]
    fn what_a_declared_size_means() {
        use SizeLimit::{AtMost, Exact};
        #[derive(Debug, PartialEq, Eq)]
        enum Verdict {
            Ok,
            SizeMismatch { expected: u64, actual: u64 },
            TooLarge { limit: u64 },
        }
        let rows: &[(SizeLimit, Option<u64>, Verdict)] = &[
            // limit, declared size => verdict
            (Exact(10), Some(10), Verdict::Ok),
            (Exact(10), None, Verdict::Ok),
            (
                Exact(10),
                Some(9),
                Verdict::SizeMismatch {
                    expected: 10,
                    actual: 9,
                },
            ),
            (
                Exact(10),
                Some(11),
                Verdict::SizeMismatch {
                    expected: 10,
                    actual: 11,
                },
            ),
            (
                Exact(0),
                Some(u64::MAX),
                Verdict::SizeMismatch {
                    expected: 0,
                    actual: u64::MAX,
                },
            ),
            (AtMost(10), Some(10), Verdict::Ok),
            (AtMost(10), Some(0), Verdict::Ok),
            (AtMost(10), None, Verdict::Ok),
            (AtMost(10), Some(11), Verdict::TooLarge { limit: 10 }),
            (AtMost(0), Some(1), Verdict::TooLarge { limit: 0 }),
            (AtMost(u64::MAX), Some(u64::MAX), Verdict::Ok),
        ];
        for (limit, declared, expected) in rows {
            let verdict = match check_declared_size(&digest(), *limit, *declared, URL) {
                Ok(()) => Verdict::Ok,
                Err(TransferError::SizeMismatch {
                    expected, actual, ..
                }) => Verdict::SizeMismatch { expected, actual },
                Err(TransferError::TooLarge { limit, .. }) => Verdict::TooLarge { limit },
                Err(e) => panic!("{limit:?} {declared:?}: {e}"),
            };
            assert_eq!(&verdict, expected, "{limit:?} {declared:?}");
        }
    }
}
