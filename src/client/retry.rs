//! The one retry policy, and the one driver every retried request goes through.
//!
//! The policy is pure code, table-tested. Retried: connection errors, timeouts, resets, a body
//! that broke off, HTTP 408, 429, 500, 502, 503, 504, and the envelope codes `TOOMANYREQUESTS`
//! and `UNAVAILABLE`. Everything else (404, 401, a digest mismatch, a full disk) is final. The
//! wait is capped exponential backoff with full jitter, unless the server sent `Retry-After`,
//! which is honoured up to `max_wait`.
//!
//! Two transport failures are not worth the long backoff (issue 15): a registry name that does
//! not resolve is a typo far more often than a DNS hiccup, so it is final; a refused connection
//! (nothing listening) gets at most [`RetryPolicy::refused_retries`] quick retries, which covers
//! a registry that is just starting, and then fails within about a second.
//!
//! The driver, [`run`], is what blob GETs (and with them their segments), manifest GETs and
//! `head` share: it makes the attempts, asks the policy, holds back the host after a 429, waits,
//! and counts attempts and time, so that the final error reports them the same way everywhere
//! ([`GaveUp`]). It is generic over the error ([`Retryable`]), so uploads can use it too. (Its
//! model is uv's `uv-client/src/retry.rs`.)
//!
//! Mirrors plug in here too ([`run_over`]): a request for content by digest has several
//! sources, and after each failure [`step`] says whether to retry the source or hand over to
//! the next. The attempt keeps its own state (a blob's writer), so the next source continues
//! the same ingest with `Range` from the byte reached.

use std::fmt;
use std::time::Instant;

use reqwest::Url;

use super::{Client, Source};
use crate::exit::Category;
use crate::text;
use std::hash::{BuildHasher, Hasher};
use std::time::{Duration, SystemTime};

use crate::envelope::ErrorBody;

/// Retry settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Retries after the first attempt (so `retries + 1` attempts at most).
    pub retries: u32,
    /// The first backoff; it doubles with each attempt.
    pub base: Duration,
    /// The longest backoff.
    pub cap: Duration,
    /// The longest wait a `Retry-After` may impose.
    pub max_wait: Duration,
    /// Retries after a refused connection (never more than `retries`).
    pub refused_retries: u32,
    /// The first wait after a refused connection; it doubles with each attempt.
    pub refused_base: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            retries: 5,
            base: Duration::from_millis(500),
            cap: Duration::from_secs(20),
            max_wait: Duration::from_secs(120),
            // 2 retries after 0.1-0.2 s and 0.2-0.4 s: under 1 s in all.
            refused_retries: 2,
            refused_base: Duration::from_millis(200),
        }
    }
}

/// What went wrong, as far as the policy cares.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Failure<'a> {
    /// No HTTP answer: connect, TLS, reset, timeout, or a body that broke off.
    Transport,
    /// The connection was refused: nothing listens at the address (yet).
    Refused,
    /// The registry's name does not resolve: never retried.
    Unresolvable,
    /// An HTTP answer with a failure status.
    Status {
        /// The status.
        status: u16,
        /// Its decoded body.
        body: &'a ErrorBody,
        /// `Retry-After`, parsed.
        retry_after: Option<Duration>,
    },
    /// Anything else: never retried.
    Final,
}

impl RetryPolicy {
    /// Whether `failure` deserves another attempt.
    pub fn is_retryable(&self, failure: Failure<'_>) -> bool {
        match failure {
            Failure::Transport | Failure::Refused => true,
            Failure::Status { status, body, .. } => {
                matches!(status, 408 | 429 | 500 | 502 | 503 | 504)
                    || body
                        .codes()
                        .iter()
                        .any(|c| matches!(*c, "TOOMANYREQUESTS" | "UNAVAILABLE"))
            }
            Failure::Unresolvable | Failure::Final => false,
        }
    }

    /// How long to wait before attempt number `attempt` + 1 (`attempt` counts from 1), or
    /// `None` when no attempt is left or the failure is final.
    pub fn delay(&self, attempt: u32, failure: Failure<'_>) -> Option<Duration> {
        if attempt > self.retries || !self.is_retryable(failure) {
            return None;
        }
        if failure == Failure::Refused {
            if attempt > self.refused_retries {
                return None;
            }
            return Some(jittered(
                self.refused_base.saturating_mul(1 << (attempt - 1).min(8)),
            ));
        }
        if let Failure::Status {
            retry_after: Some(wait),
            ..
        } = failure
        {
            return Some(wait.min(self.max_wait));
        }
        Some(self.backoff(attempt))
    }

    /// Capped exponential backoff with full jitter: uniform in `[ceiling/2, ceiling]`, where
    /// the ceiling is `base * 2^(attempt-1)` up to `cap`. (Half the ceiling is kept so a retry
    /// is never immediate.)
    pub fn backoff(&self, attempt: u32) -> Duration {
        let factor = 1u32 << attempt.saturating_sub(1).min(16);
        jittered(self.base.saturating_mul(factor).min(self.cap))
    }
}

/// Uniform in `[ceiling/2, ceiling]`.
fn jittered(ceiling: Duration) -> Duration {
    let half = ceiling / 2;
    half + half.mul_f64(jitter())
}

/// A number in `[0, 1)` from the standard library's per-process random hash keys (no RNG
/// crate needed for jitter).
fn jitter() -> f64 {
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    (h.finish() >> 11) as f64 / (1u64 << 53) as f64
}

/// Parses `Retry-After` (RFC 9110 §10.2.3): delay-seconds or an HTTP-date, relative to `now`.
/// A date in the past means no wait.
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let when = httpdate::parse_http_date(value).ok()?;
    Some(when.duration_since(now).unwrap_or(Duration::ZERO))
}

/// An error an attempt can end with, as the driver sees it.
pub trait Retryable: fmt::Display {
    /// What the policy needs to know.
    fn failure(&self) -> Failure<'_>;
    /// The error's category: a [`Category::RateLimited`] one holds back the host.
    fn category(&self) -> Category;
    /// The error in one line, for the list of sources given up on (the source is named
    /// beside it): by default the first line of its text, without the hint.
    fn summary(&self) -> String {
        first_line(&self)
    }
}

/// The last failure of a request that was tried more than once, with how often and for how
/// long: `… (gave up after 3 attempts over 2.5 s)`. After a failover, the sources tried before
/// the last one and their last errors follow.
#[derive(Debug)]
pub struct GaveUp<E> {
    /// The last attempt's error.
    pub last: E,
    /// Attempts made.
    pub attempts: u32,
    /// Time from the first attempt to the end of the last.
    pub elapsed: Duration,
    /// The sources given up on before the last, each with its last error (sanitised): empty
    /// when there was one source.
    pub tried: Vec<String>,
}

impl<E> GaveUp<E> {
    /// The error to return: after a single attempt the error alone (there is nothing to
    /// report), after several `wrap` of this report (each error type has a variant for it).
    pub fn report(self, wrap: impl FnOnce(Box<GaveUp<E>>) -> E) -> E {
        if self.attempts > 1 {
            wrap(Box::new(self))
        } else {
            self.last
        }
    }
}

impl<E: fmt::Display> fmt::Display for GaveUp<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} (gave up after {} attempts over {:.1} s",
            self.last,
            self.attempts,
            self.elapsed.as_secs_f64()
        )?;
        if !self.tried.is_empty() {
            write!(f, "; tried before: {}", self.tried.join("; "))?;
        }
        f.write_str(")")
    }
}

// No `source`: the message already carries the last error's.
impl<E: std::error::Error> std::error::Error for GaveUp<E> {}

/// One request to retry: where it goes, and by which policy.
#[derive(Debug, Clone)]
pub struct Request<'a> {
    /// The client whose per-host throttle a 429 sets.
    pub client: &'a Client,
    /// When and how long to wait before trying again.
    pub policy: RetryPolicy,
    /// Where the attempts go at the registry (a 429 holds back this URL's host).
    pub url: Url,
    /// What is asked for, for the log (``blob `sha256:…` of `reg/name` ``).
    pub what: &'a str,
}

impl Request<'_> {
    /// The URL whose host a 429 from `source` holds back: the registry's, or the mirror's.
    fn url_for<'u>(&'u self, source: &'u Source) -> &'u Url {
        match source.mirror() {
            Some(m) => m.base(),
            None => &self.url,
        }
    }
}

/// Retries at a mirror with a next source after it: it is one of several ways to the same
/// bytes, so a mirror that answers 503 is given up on sooner than the registry.
pub const MIRROR_RETRIES: u32 = 2;

/// The longest wait for a mirror with a next source after it (a longer `Retry-After` moves on).
pub const MIRROR_MAX_WAIT: Duration = Duration::from_secs(5);

/// What the driver does after a failed attempt.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Step {
    /// Try the same source again after this wait.
    Retry(Duration),
    /// Go on to the next source at once (the writer, and so the bytes reached, go along).
    Next,
    /// The source sent bytes that failed verification: ban it for the run, go on to the next.
    Ban,
    /// No attempt is left.
    GiveUp,
}

/// The failover rule, pure: after the `tries`-th failed attempt at a source, whether to wait
/// and try it again, or go on. The last source gets the whole policy. One with a next source
/// (a mirror) is left at once when the connection broke, was refused or stalled (the next
/// source continues the same ingest with `Range`), when it answered a final status (404, 401:
/// it does not have the blob, or is not ours to use), or when its bytes failed verification
/// (banned); retryable statuses (503, 429) get [`MIRROR_RETRIES`] short retries first.
pub fn step(
    policy: &RetryPolicy,
    has_next: bool,
    tries: u32,
    failure: Failure<'_>,
    category: Category,
) -> Step {
    if !has_next {
        return policy
            .delay(tries, failure)
            .map_or(Step::GiveUp, Step::Retry);
    }
    if category == Category::Integrity {
        return Step::Ban;
    }
    if !matches!(failure, Failure::Status { .. }) || tries > MIRROR_RETRIES {
        return Step::Next;
    }
    match policy.delay(tries, failure) {
        Some(wait) if wait <= MIRROR_MAX_WAIT => Step::Retry(wait),
        _ => Step::Next,
    }
}

/// Makes `attempt` (given its number, from 1) until it succeeds or `request.policy` gives up,
/// calling `on_retry(attempt, wait, error)` before each wait. After a rate-limit answer the
/// host is held back for the wait (`Retry-After` when sent), for every request of this client.
/// On failure, the last error with the attempts made and the time they took. The one-source
/// form of [`run_over`].
pub async fn run<T, E: Retryable>(
    request: &Request<'_>,
    on_retry: impl FnMut(u32, Duration, &E),
    mut attempt: impl AsyncFnMut(u32) -> Result<T, E>,
) -> Result<T, GaveUp<E>> {
    run_over(request, &[Source::Registry], on_retry, async |number, _| {
        attempt(number).await
    })
    .await
}

/// [`run`] over several sources in order (mirrors, then usually the registry): each attempt is
/// given its number and its source, and [`step`] decides after each failure whether to retry
/// the source or go on to the next (which the attempt continues from the bytes reached: its
/// state is the caller's). `on_retry` is told of retries with a wait only: a handover is no
/// retry of the same request, and goes to the log (`-v`), as does the source that served. The
/// final error names every source tried and its last error.
pub async fn run_over<T, E: Retryable>(
    request: &Request<'_>,
    sources: &[Source],
    mut on_retry: impl FnMut(u32, Duration, &E),
    mut attempt: impl AsyncFnMut(u32, &Source) -> Result<T, E>,
) -> Result<T, GaveUp<E>> {
    let started = Instant::now();
    let registry = Source::Registry;
    let mut remaining = sources.iter();
    // No source given: the registry.
    let mut source = remaining.next().unwrap_or(&registry);
    let mut number = 1;
    let mut tries = 1;
    let mut tried = Vec::new();
    loop {
        let next = remaining.clone().next();
        let error = match attempt(number, source).await {
            Ok(done) => {
                if sources.len() > 1 {
                    tracing::info!("{}: served by {}", request.what, source.describe());
                }
                return Ok(done);
            }
            Err(e) => e,
        };
        let step = step(
            &request.policy,
            next.is_some(),
            tries,
            error.failure(),
            error.category(),
        );
        let wait = match step {
            Step::GiveUp => {
                return Err(GaveUp {
                    last: error,
                    attempts: number,
                    elapsed: started.elapsed(),
                    tried,
                });
            }
            Step::Retry(wait) => wait,
            Step::Next | Step::Ban => {
                // `step` hands over only when there is a next source.
                let Some(next) = remaining.next() else {
                    return Err(GaveUp {
                        last: error,
                        attempts: number,
                        elapsed: started.elapsed(),
                        tried,
                    });
                };
                if step == Step::Ban {
                    request.client.ban(source);
                }
                let summary = error.summary();
                let text = text::sanitize(&summary, text::Lines::Escape);
                tried.push(format!("{}: {text}", source.describe()));
                tracing::info!(
                    "{}: {} failed ({text}); going on with {}",
                    request.what,
                    source.describe(),
                    next.describe()
                );
                source = next;
                tries = 1;
                number += 1;
                continue;
            }
        };
        if error.category() == Category::RateLimited {
            request.client.throttle(request.url_for(source), wait);
        }
        tracing::debug!(
            "{}: attempt {number} failed ({error}); retrying in {:.1} s",
            request.what,
            wait.as_secs_f64()
        );
        on_retry(number, wait, &error);
        tokio::time::sleep(wait).await;
        number += 1;
        tries += 1;
    }
}

impl Retryable for super::RegistryError {
    fn failure(&self) -> Failure<'_> {
        super::RegistryError::failure(self)
    }
    fn category(&self) -> Category {
        super::RegistryError::category(self)
    }
    fn summary(&self) -> String {
        self.short()
    }
}

impl Retryable for super::manifest::ManifestFetchError {
    fn failure(&self) -> Failure<'_> {
        super::manifest::ManifestFetchError::failure(self)
    }
    fn category(&self) -> Category {
        super::manifest::ManifestFetchError::category(self)
    }
    fn summary(&self) -> String {
        match self {
            super::manifest::ManifestFetchError::Registry(e) => e.short(),
            other => first_line(other),
        }
    }
}

/// The first line of an error's text.
fn first_line(e: &dyn fmt::Display) -> String {
    let text = e.to_string();
    text.lines().next().unwrap_or_default().to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_is_retried() {
        let p = RetryPolicy::default();
        let empty = ErrorBody::Empty;
        let status = |status, body| Failure::Status {
            status,
            body,
            retry_after: None,
        };
        for s in [408, 429, 500, 502, 503, 504] {
            assert!(p.is_retryable(status(s, &empty)), "{s}");
        }
        for s in [400, 401, 403, 404, 405, 416, 501, 505] {
            assert!(!p.is_retryable(status(s, &empty)), "{s}");
        }
        let toomany = ErrorBody::decode(br#"{"errors":[{"code":"TOOMANYREQUESTS"}]}"#);
        let unavailable = ErrorBody::decode(br#"{"errors":[{"code":"UNAVAILABLE"}]}"#);
        let denied = ErrorBody::decode(br#"{"errors":[{"code":"DENIED"}]}"#);
        assert!(p.is_retryable(status(403, &toomany)));
        assert!(p.is_retryable(status(400, &unavailable)));
        assert!(!p.is_retryable(status(403, &denied)));
        assert!(p.is_retryable(Failure::Transport));
        assert!(p.is_retryable(Failure::Refused));
        assert!(!p.is_retryable(Failure::Unresolvable));
        assert!(!p.is_retryable(Failure::Final));
    }

    #[test]
    fn delays() {
        let p = RetryPolicy {
            retries: 3,
            base: Duration::from_millis(100),
            cap: Duration::from_millis(350),
            max_wait: Duration::from_secs(5),
            ..RetryPolicy::default()
        };
        for attempt in 1..=3 {
            let d = p.delay(attempt, Failure::Transport).unwrap();
            let ceiling = Duration::from_millis(100 * (1 << (attempt - 1))).min(p.cap);
            assert!(d >= ceiling / 2 && d <= ceiling, "{attempt}: {d:?}");
        }
        assert_eq!(p.delay(4, Failure::Transport), None);
        assert_eq!(p.delay(1, Failure::Final), None);
        let body = ErrorBody::Empty;
        let with_after = |secs| Failure::Status {
            status: 429,
            body: &body,
            retry_after: Some(Duration::from_secs(secs)),
        };
        assert_eq!(p.delay(1, with_after(2)), Some(Duration::from_secs(2)));
        assert_eq!(p.delay(1, with_after(600)), Some(Duration::from_secs(5)));
        // A name that does not resolve is final at once; a refused connection gets two quick
        // retries, under a second in all, and never more than `retries`.
        assert_eq!(p.delay(1, Failure::Unresolvable), None);
        let quick: Vec<Duration> = (1..=3)
            .filter_map(|a| p.delay(a, Failure::Refused))
            .collect();
        assert_eq!(quick.len(), 2, "{quick:?}");
        assert!(
            quick.iter().sum::<Duration>() <= Duration::from_secs(1),
            "{quick:?}"
        );
        let none = RetryPolicy {
            retries: 0,
            ..RetryPolicy::default()
        };
        assert_eq!(none.delay(1, Failure::Refused), None);
        // Huge attempt numbers neither overflow nor exceed the cap.
        assert!(RetryPolicy::default().backoff(1000) <= RetryPolicy::default().cap);
    }

    /// An attempt's error for the driver tests: a failure of this kind, named by a number.
    #[derive(Debug)]
    struct Failed(u32, Kind);
    #[derive(Debug, Clone, Copy, PartialEq)]
    enum Kind {
        Transport,
        Final,
        /// A 429 with `Retry-After: 0`.
        Throttled,
    }
    impl fmt::Display for Failed {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            write!(f, "attempt {} failed", self.0)
        }
    }
    static EMPTY: ErrorBody = ErrorBody::Empty;
    impl Retryable for Failed {
        fn failure(&self) -> Failure<'_> {
            match self.1 {
                Kind::Transport => Failure::Transport,
                Kind::Final => Failure::Final,
                Kind::Throttled => Failure::Status {
                    status: 429,
                    body: &EMPTY,
                    retry_after: Some(Duration::ZERO),
                },
            }
        }
        fn category(&self) -> Category {
            match self.1 {
                Kind::Throttled => Category::RateLimited,
                _ => Category::Network,
            }
        }
    }

    #[tokio::test]
    async fn the_driver_retries_what_the_policy_allows_and_reports_attempts() {
        let client = Client::new(super::super::ClientOptions::default()).unwrap();
        let policy = RetryPolicy {
            retries: 3,
            base: Duration::from_millis(1),
            cap: Duration::from_millis(2),
            ..RetryPolicy::default()
        };
        let request = Request {
            client: &client,
            policy,
            url: "http://127.0.0.1:9/v2/a/blobs/x".parse().unwrap(),
            what: "blob `x`",
        };
        // The failures attempts end with (an attempt past the list succeeds) => the result's
        // attempt count, whether it succeeded, and the retries announced.
        let rows: &[(&[Kind], u32, bool)] = &[
            (&[], 1, true),
            (&[Kind::Transport], 2, true),
            (&[Kind::Throttled, Kind::Transport], 3, true),
            (&[Kind::Final], 1, false),
            (&[Kind::Transport, Kind::Final], 2, false),
            // `retries: 3` is 4 attempts at most.
            (&[Kind::Transport; 4], 4, false),
            (&[Kind::Transport; 9], 4, false),
        ];
        for (failures, attempts, ok) in rows {
            let mut announced = Vec::new();
            let result = run(
                &request,
                |attempt, _wait, e: &Failed| announced.push((attempt, e.0)),
                async |n| match failures.get(n as usize - 1) {
                    Some(kind) => Err(Failed(n, *kind)),
                    None => Ok(n),
                },
            )
            .await;
            let made = match &result {
                Ok(n) => *n,
                Err(gave_up) => {
                    assert_eq!(gave_up.last.0, gave_up.attempts, "{failures:?}");
                    gave_up.attempts
                }
            };
            assert_eq!((made, result.is_ok()), (*attempts, *ok), "{failures:?}");
            // Every failed attempt but the last was announced before its retry.
            let expected: Vec<(u32, u32)> = (1..*attempts).map(|a| (a, a)).collect();
            assert_eq!(announced, expected, "{failures:?}");
        }
    }

    #[test]
    fn gave_up_reports_attempts_only_after_several() {
        let once = GaveUp {
            last: Failed(1, Kind::Final),
            attempts: 1,
            elapsed: Duration::from_millis(10),
            tried: Vec::new(),
        };
        let wrap = |g: Box<GaveUp<Failed>>| Failed(g.attempts * 100, g.last.1);
        assert_eq!(once.report(wrap).0, 1);
        let thrice = GaveUp {
            last: Failed(3, Kind::Transport),
            attempts: 3,
            elapsed: Duration::from_millis(2560),
            tried: Vec::new(),
        };
        assert_eq!(
            thrice.to_string(),
            "attempt 3 failed (gave up after 3 attempts over 2.6 s)"
        );
        assert_eq!(thrice.report(wrap).0, 300);
    }

    #[test]
    fn failover_steps() {
        let p = RetryPolicy::default();
        let empty = ErrorBody::Empty;
        let status = |status, retry_after| Failure::Status {
            status,
            body: &empty,
            retry_after,
        };
        let net = Category::Network;
        use Step::*;
        // (has a next source, tries so far, failure, category) => step
        type Row<'a> = (bool, u32, Failure<'a>, Category, fn(Step) -> bool);
        let rows: Vec<Row<'_>> = vec![
            // A mirror that breaks off, refuses, or does not have it: the next source at once.
            (true, 1, Failure::Transport, net, |s| s == Next),
            (true, 1, Failure::Refused, net, |s| s == Next),
            (true, 1, Failure::Unresolvable, net, |s| s == Next),
            (true, 1, status(404, None), Category::NotFound, |s| {
                s == Next
            }),
            (true, 1, status(401, None), Category::Auth, |s| s == Next),
            (true, 1, Failure::Final, Category::Integrity, |s| s == Ban),
            // 503 at a mirror: a few short retries, then the next source.
            (true, 1, status(503, None), net, |s| matches!(s, Retry(_))),
            (true, MIRROR_RETRIES, status(503, None), net, |s| {
                matches!(s, Retry(_))
            }),
            (true, MIRROR_RETRIES + 1, status(503, None), net, |s| {
                s == Next
            }),
            (
                true,
                1,
                status(429, Some(Duration::from_secs(60))),
                net,
                |s| s == Next,
            ),
            // The last source gets the whole policy, and an integrity failure is final there.
            (false, 1, Failure::Transport, net, |s| matches!(s, Retry(_))),
            (false, 5, status(503, None), net, |s| matches!(s, Retry(_))),
            (false, 6, status(503, None), net, |s| s == GiveUp),
            (false, 1, status(404, None), Category::NotFound, |s| {
                s == GiveUp
            }),
            (false, 1, Failure::Final, Category::Integrity, |s| {
                s == GiveUp
            }),
        ];
        for (has_next, tries, failure, category, ok) in rows {
            let got = step(&p, has_next, tries, failure, category);
            assert!(
                ok(got),
                "{has_next} {tries} {failure:?} {category:?}: {got:?}"
            );
        }
    }

    #[tokio::test]
    async fn the_driver_hands_over_and_names_every_source() {
        let client = Client::new(super::super::ClientOptions::default()).unwrap();
        let request = Request {
            client: &client,
            policy: RetryPolicy {
                retries: 1,
                base: Duration::from_millis(1),
                cap: Duration::from_millis(2),
                ..RetryPolicy::default()
            },
            url: "http://127.0.0.1:9/v2/a/blobs/x".parse().unwrap(),
            what: "blob `x`",
        };
        let m = |s: &str| Source::Mirror(crate::config::Mirror::parse(s).unwrap());
        let sources = [
            m("http://127.0.0.1:1"),
            m("http://127.0.0.1:2"),
            Source::Registry,
        ];
        let mut seen = Vec::new();
        let result: Result<(), _> = run_over(
            &request,
            &sources,
            |_, _, _: &Failed| {},
            async |n, source| {
                seen.push((n, source.clone()));
                Err(Failed(n, Kind::Transport))
            },
        )
        .await;
        let gave_up = result.unwrap_err();
        // One attempt per mirror (a broken connection hands over), then the registry's own
        // retry.
        let order: Vec<&Source> = seen.iter().map(|(_, s)| s).collect();
        assert_eq!(
            order,
            [
                &sources[0],
                &sources[1],
                &Source::Registry,
                &Source::Registry
            ]
        );
        assert_eq!(gave_up.attempts, 4);
        let text = gave_up.to_string();
        assert!(
            text.contains("tried before: mirror `http://127.0.0.1:1`: attempt 1 failed; mirror `http://127.0.0.1:2`: attempt 2 failed"),
            "{text}"
        );
        // A hostile error text reaches the report escaped.
        #[derive(Debug)]
        struct Hostile;
        impl fmt::Display for Hostile {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("bad\u{1b}[2Jtext")
            }
        }
        impl Retryable for Hostile {
            fn failure(&self) -> Failure<'_> {
                Failure::Final
            }
            fn category(&self) -> Category {
                Category::Network
            }
        }
        let result: Result<(), _> = run_over(
            &request,
            &sources[1..],
            |_, _, _| {},
            async |_, _| Err(Hostile),
        )
        .await;
        let tried = result.unwrap_err().tried;
        assert_eq!(tried.len(), 1);
        assert!(!tried[0].contains('\u{1b}'), "{tried:?}");
    }

    #[test]
    fn retry_after_forms() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        assert_eq!(parse_retry_after("3", now), Some(Duration::from_secs(3)));
        assert_eq!(parse_retry_after(" 0 ", now), Some(Duration::ZERO));
        let later = httpdate::fmt_http_date(now + Duration::from_secs(7));
        assert_eq!(parse_retry_after(&later, now), Some(Duration::from_secs(7)));
        let earlier = httpdate::fmt_http_date(now - Duration::from_secs(7));
        assert_eq!(parse_retry_after(&earlier, now), Some(Duration::ZERO));
        assert_eq!(parse_retry_after("soon", now), None);
        assert_eq!(parse_retry_after("-1", now), None);
    }
}
