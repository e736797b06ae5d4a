//! `GET /metrics`: counters a mirror operator wants, in the Prometheus text format (version
//! 0.0.4): requests, cache hits and misses, bytes served and fetched upstream, transfers in
//! flight, and upstream errors per upstream. Counters are plain atomics bumped on the request
//! path; the page is written only when asked for.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};

/// A response's relation to the cache, for the access log and the counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum CacheStatus {
    /// Served from the cache.
    Hit,
    /// Fetched from upstream (or waited for a transfer of it).
    Miss,
    /// A cached tag served while its upstream could not be asked.
    Stale,
}

impl CacheStatus {
    pub(super) fn as_str(self) -> &'static str {
        match self {
            CacheStatus::Hit => "hit",
            CacheStatus::Miss => "miss",
            CacheStatus::Stale => "stale",
        }
    }
}

/// The server's counters.
#[derive(Debug, Default)]
pub(super) struct Metrics {
    requests: AtomicU64,
    hits: AtomicU64,
    misses: AtomicU64,
    stale: AtomicU64,
    /// Body bytes announced by GET answers (Content-Length of 200 and 206).
    served: AtomicU64,
    /// Blob and manifest bytes received from upstreams.
    pub(super) upstream_bytes: AtomicU64,
    /// Upstream failures, per upstream (by its index in the configuration).
    upstream_errors: Vec<(String, AtomicU64)>,
}

impl Metrics {
    /// Counters for a server with these upstreams (their URLs label the error counts).
    pub(super) fn new(upstreams: impl IntoIterator<Item = String>) -> Metrics {
        Metrics {
            upstream_errors: upstreams
                .into_iter()
                .map(|u| (u, AtomicU64::new(0)))
                .collect(),
            ..Metrics::default()
        }
    }

    /// One request answered: `cache` when it was about content, `served` its announced body.
    pub(super) fn answered(&self, cache: Option<CacheStatus>, served: u64) {
        self.requests.fetch_add(1, Ordering::Relaxed);
        self.served.fetch_add(served, Ordering::Relaxed);
        let counter = match cache {
            Some(CacheStatus::Hit) => &self.hits,
            Some(CacheStatus::Miss) => &self.misses,
            Some(CacheStatus::Stale) => &self.stale,
            None => return,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// Upstream number `index` failed.
    pub(super) fn upstream_failed(&self, index: usize) {
        if let Some((_, n)) = self.upstream_errors.get(index) {
            n.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// `n` more bytes came from upstream.
    pub(super) fn fetched(&self, n: u64) {
        self.upstream_bytes.fetch_add(n, Ordering::Relaxed);
    }

    /// The page, with `in_flight` transfers running now.
    pub(super) fn render(&self, in_flight: usize) -> String {
        let mut out = String::new();
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let mut metric = |name: &str, kind: &str, help: &str, rows: &[(String, u64)]| {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
            for (labels, value) in rows {
                let _ = writeln!(out, "{name}{labels} {value}");
            }
        };
        let one = |v: u64| vec![(String::new(), v)];
        metric(
            "layerget_requests_total",
            "counter",
            "Requests answered.",
            &one(get(&self.requests)),
        );
        metric(
            "layerget_cache_requests_total",
            "counter",
            "Blob and manifest requests by how the cache answered them.",
            &[
                ("{result=\"hit\"}".into(), get(&self.hits)),
                ("{result=\"miss\"}".into(), get(&self.misses)),
                ("{result=\"stale\"}".into(), get(&self.stale)),
            ],
        );
        metric(
            "layerget_served_bytes_total",
            "counter",
            "Body bytes announced by GET answers.",
            &one(get(&self.served)),
        );
        metric(
            "layerget_upstream_bytes_total",
            "counter",
            "Blob and manifest bytes received from upstream registries.",
            &one(get(&self.upstream_bytes)),
        );
        metric(
            "layerget_upstream_transfers_in_flight",
            "gauge",
            "Blob transfers from upstream running now.",
            &one(in_flight as u64),
        );
        let errors: Vec<(String, u64)> = self
            .upstream_errors
            .iter()
            .map(|(u, n)| (format!("{{upstream=\"{}\"}}", label(u)), get(n)))
            .collect();
        metric(
            "layerget_upstream_errors_total",
            "counter",
            "Upstream requests that failed after their retries, per upstream.",
            &errors,
        );
        out
    }
}

/// A label value as the text format needs it: backslash, quote and newline escaped.
fn label(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page() {
        let m = Metrics::new(["http://127.0.0.1:5001".to_owned()]);
        m.answered(Some(CacheStatus::Hit), 10);
        m.answered(Some(CacheStatus::Miss), 5);
        m.answered(None, 2);
        m.fetched(7);
        m.upstream_failed(0);
        m.upstream_failed(9);
        let page = m.render(3);
        for line in [
            "layerget_requests_total 3",
            "layerget_cache_requests_total{result=\"hit\"} 1",
            "layerget_cache_requests_total{result=\"miss\"} 1",
            "layerget_served_bytes_total 17",
            "layerget_upstream_bytes_total 7",
            "layerget_upstream_transfers_in_flight 3",
            "layerget_upstream_errors_total{upstream=\"http://127.0.0.1:5001\"} 1",
            "# TYPE layerget_upstream_transfers_in_flight gauge",
        ] {
            assert!(page.lines().any(|l| l == line), "{line} in\n{page}");
        }
        assert_eq!(label("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }
}
