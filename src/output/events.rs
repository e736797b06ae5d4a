//! `--progress json`: one JSON object per line on stderr, for CI systems and GUIs following a
//! long transfer. Every event has `event` and `elapsed_ms` (since layerget started); the rest
//! depends on the event:
//!
//! | event      | members                                                    |
//! |------------|------------------------------------------------------------|
//! | `start`    | `blob`, `total` (bytes or null), `resumed_from` (bytes on disk already) |
//! | `progress` | `blob`, `bytes` (done), `total`, `rate` (bytes/s moved since start) |
//! | `retry`    | `blob`, `attempt`, `wait_ms`, `reason`                     |
//! | `restart`  | `blob`, `reason` (earlier bytes were dropped)              |
//! | `waiting`  | `blob`, `pid` (another layerget holds the blob's lock)     |
//! | `done`     | `blob`, `bytes`, `transferred` (bytes that moved in this run) |
//! | `error`    | `ref`, `exit_code`, `category`, `message`                  |
//! | `message`  | `level` (`info`, `warning`, `error`), `text`               |
//!
//! `progress` comes at most every [`INTERVAL`] per blob. `blob` is the label the other displays
//! show.

use std::sync::Mutex;
use std::sync::PoisonError;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::Printer;
use crate::transfer::{Progress, Retry};

/// Least time between two `progress` events of one blob.
pub const INTERVAL: Duration = Duration::from_millis(500);

/// A [`Progress`] that writes events.
pub(super) struct EventProgress<'a> {
    pub(super) printer: &'a Printer,
    pub(super) label: String,
    pub(super) total: Mutex<Option<u64>>,
    pub(super) done: AtomicU64,
    /// Bytes on disk when the current attempt started, and when that was.
    pub(super) state: Mutex<(u64, Instant, Instant)>,
}

impl<'a> EventProgress<'a> {
    pub(super) fn new(printer: &'a Printer, label: &str) -> EventProgress<'a> {
        let now = Instant::now();
        EventProgress {
            printer,
            label: label.to_owned(),
            total: Mutex::new(None),
            done: AtomicU64::new(0),
            state: Mutex::new((0, now, now)),
        }
    }

    fn emit(&self, event: &str, mut members: Value) {
        if let Some(m) = members.as_object_mut() {
            m.insert("blob".into(), self.label.clone().into());
        }
        self.printer.event(event, members);
    }

    fn total(&self) -> Option<u64> {
        *self.total.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Progress for EventProgress<'_> {
    fn waiting_for_lock(&self, holder: Option<u32>) {
        self.emit("waiting", json!({ "pid": holder }));
    }
    fn started(&self, total: Option<u64>, done: u64) {
        *self.total.lock().unwrap_or_else(PoisonError::into_inner) = total;
        self.done.store(done, Ordering::Relaxed);
        let now = Instant::now();
        *self.state.lock().unwrap_or_else(PoisonError::into_inner) = (done, now, now);
        self.emit("start", json!({ "total": total, "resumed_from": done }));
    }
    fn advanced(&self, bytes: u64) {
        let done = self.done.fetch_add(bytes, Ordering::Relaxed) + bytes;
        let rate = {
            let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
            let (at_start, started, last) = *state;
            if last.elapsed() < INTERVAL {
                return;
            }
            state.2 = Instant::now();
            let secs = started.elapsed().as_secs_f64().max(1e-3);
            (done.saturating_sub(at_start) as f64 / secs) as u64
        };
        self.emit(
            "progress",
            json!({ "bytes": done, "total": self.total(), "rate": rate }),
        );
    }
    fn restarted(&self, reason: &str) {
        self.done.store(0, Ordering::Relaxed);
        self.emit("restart", json!({ "reason": reason }));
    }
    fn retrying(&self, retry: &Retry<'_>) {
        self.emit(
            "retry",
            json!({
                "attempt": retry.attempt,
                "wait_ms": retry.wait.as_millis() as u64,
                "reason": retry.error.to_string(),
            }),
        );
    }
    fn finished(&self) {
        let done = self.done.load(Ordering::Relaxed);
        let at_start = self.state.lock().unwrap_or_else(PoisonError::into_inner).0;
        self.emit(
            "done",
            json!({ "bytes": done, "transferred": done.saturating_sub(at_start) }),
        );
    }
}
