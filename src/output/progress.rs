//! Progress on stderr: the per-blob reporters each display mode hands the transfer code
//! (bars, plain lines every few seconds, or only the messages), the total bar summing every
//! blob's bytes, and taking the bars off the screen on Ctrl-C. `--progress json`'s reporter is
//! in `events`.

use std::io::{self, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressFinish, ProgressStyle};

use super::{Display, Printer, events, human_bytes};
use crate::text::{Lines, sanitize};
use crate::transfer::{Progress, Retry};

/// How often `--progress plain` prints a line per active blob.
const PLAIN_INTERVAL: Duration = Duration::from_secs(3);

/// The total bar and whether it is on screen yet.
pub(super) struct Total {
    bar: ProgressBar,
    shown: bool,
}

impl Printer {
    /// Shows a total bar under the per-blob bars (for commands that move several blobs), from
    /// the moment the first blob's size is known.
    pub fn show_total(&self) {
        if self.display != Display::Bars {
            return;
        }
        // Hidden until revealed: a bar with its own stderr target would draw once outside the
        // multi and leave a stale line, and one added now would draw `0 B/0 B`.
        let bar = cleared_when_dropped();
        bar.set_length(0);
        bar.set_style(bar_style());
        bar.set_prefix("total".to_owned());
        self.keep_track(&bar);
        *self.total.lock().unwrap_or_else(PoisonError::into_inner) =
            Some(Total { bar, shown: false });
    }

    /// The total bar, when there is one (on screen or not yet).
    fn total_bar(&self) -> Option<ProgressBar> {
        self.total
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .as_ref()
            .map(|t| t.bar.clone())
    }

    /// The total bar if it is on screen, for placing blob bars above it.
    fn shown_total_bar(&self) -> Option<ProgressBar> {
        self.total
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .as_ref()
            .filter(|t| t.shown)
            .map(|t| t.bar.clone())
    }

    /// Puts the total bar on screen (below every blob bar so far).
    fn reveal_total(&self) {
        let mut total = self.total.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(t) = total.as_mut().filter(|t| !t.shown) {
            t.shown = true;
            self.multi.add(t.bar.clone());
        }
    }

    /// Removes the total bar.
    pub fn finish_total(&self) {
        if let Some(t) = self
            .total
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
        {
            t.bar.finish_and_clear();
            self.multi.remove(&t.bar);
        }
    }

    fn keep_track(&self, bar: &ProgressBar) {
        let mut live = self.live.lock().unwrap_or_else(PoisonError::into_inner);
        live.retain(|b| b.upgrade().is_some());
        live.push(bar.downgrade());
    }

    /// Takes every bar off the screen (on Ctrl-C, before the last message), so none is left
    /// behind half drawn.
    pub fn clear_progress(&self) {
        let live = std::mem::take(&mut *self.live.lock().unwrap_or_else(PoisonError::into_inner));
        let bars: Vec<ProgressBar> = live.iter().filter_map(|b| b.upgrade()).collect();
        if self.display == Display::Bars
            && bars.iter().any(|b| !b.is_finished())
            && echoes_control_keys(&io::stderr())
        {
            // indicatif pads its last line to the terminal's width, leaving the cursor at the
            // right edge so that the next output starts a new line; the terminal's echo of
            // Ctrl-C (`^C`, ECHOCTL) therefore wrapped onto a line of its own. Erase that line
            // and step back up, where indicatif believes the cursor is, so its clear removes
            // the bars and not the line below them.
            let _ = write!(io::stderr().lock(), "\r\x1b[2K\x1b[1A");
        }
        for bar in &bars {
            bar.finish_and_clear();
        }
        let _ = self.multi.clear();
        // Bars still alive (their transfers were cut short, not finished) would be drawn again
        // by the next message: from here on, nothing is drawn.
        self.multi.set_draw_target(ProgressDrawTarget::hidden());
    }

    /// A progress reporter for one blob, labelled `label`.
    pub fn progress(&self, label: &str) -> Box<dyn Progress + '_> {
        let label = &*sanitize(label, Lines::Escape);
        match self.display {
            Display::Bars => Box::new(BarProgress {
                bar: std::sync::OnceLock::new(),
                counted: AtomicU64::new(0),
                printer: self,
                label: label.to_owned(),
            }),
            Display::Plain => Box::new(PlainProgress {
                printer: self,
                label: label.to_owned(),
                total: AtomicU64::new(0),
                done: AtomicU64::new(0),
                state: Mutex::new(PlainState {
                    started: Instant::now(),
                    last: Instant::now(),
                    at_start: 0,
                }),
            }),
            Display::Events => Box::new(events::EventProgress::new(self, label)),
            Display::Silent => Box::new(QuietProgress {
                printer: self,
                label: label.to_owned(),
            }),
        }
    }
}

fn bar_style() -> ProgressStyle {
    ProgressStyle::with_template(
        "{prefix} [{bar:28}] {bytes}/{total_bytes} {binary_bytes_per_sec} eta {eta}",
    )
    // A constant template, checked by every test that shows a bar.
    .unwrap_or_else(|_| ProgressStyle::default_bar())
    .progress_chars("=> ")
}

/// Whether `stream` is a terminal that echoes control keys such as Ctrl-C as `^C`.
fn echoes_control_keys(stream: &impl std::os::fd::AsFd) -> bool {
    use rustix::termios::{LocalModes, tcgetattr};
    tcgetattr(stream).is_ok_and(|t| {
        t.local_modes
            .contains(LocalModes::ECHO | LocalModes::ECHOCTL)
    })
}

/// A hidden bar (the multi gives it its target) that leaves the screen when it is dropped
/// unfinished, as on Ctrl-C: indicatif's default leaves it drawn.
fn cleared_when_dropped() -> ProgressBar {
    ProgressBar::hidden().with_finish(ProgressFinish::AndClear)
}

/// A blob whose size is not known (yet): bytes and rate.
fn unsized_style() -> ProgressStyle {
    ProgressStyle::with_template("{prefix} {bytes} {binary_bytes_per_sec}")
        // A constant template, checked by every test that shows a bar.
        .unwrap_or_else(|_| ProgressStyle::default_bar())
}

fn retry_message(label: &str, retry: &Retry<'_>) -> String {
    // One short line: the final error gives the URL and the whole cause chain.
    format!(
        "{label}: attempt {} failed ({}); retrying in {:.1} s",
        retry.attempt,
        retry.short,
        retry.wait.as_secs_f64()
    )
}

fn waiting_message(label: &str, holder: Option<u32>) -> String {
    match holder {
        Some(pid) => {
            format!("{label}: waiting for another layerget (pid {pid}) fetching the same blob")
        }
        None => format!("{label}: waiting for another layerget fetching the same blob"),
    }
}

struct QuietProgress<'a> {
    printer: &'a Printer,
    label: String,
}

impl Progress for QuietProgress<'_> {
    fn waiting_for_lock(&self, holder: Option<u32>) {
        self.printer.info(&waiting_message(&self.label, holder));
    }
    fn restarted(&self, reason: &str) {
        self.printer.info(&format!("{}: {reason}", self.label));
    }
    fn retrying(&self, retry: &Retry<'_>) {
        self.printer.info(&retry_message(&self.label, retry));
    }
}

struct BarProgress<'a> {
    /// Added to the display when the body starts, so queued blobs show no empty bars.
    bar: std::sync::OnceLock<ProgressBar>,
    /// The length this blob added to the total bar.
    counted: AtomicU64,
    printer: &'a Printer,
    label: String,
}

impl BarProgress<'_> {
    fn bar(&self) -> &ProgressBar {
        self.bar.get_or_init(|| {
            let bar = match self.printer.shown_total_bar() {
                // Per-blob bars go above the total.
                Some(total) => self
                    .printer
                    .multi
                    .insert_before(&total, cleared_when_dropped()),
                None => self.printer.multi.add(cleared_when_dropped()),
            };
            bar.set_style(unsized_style());
            bar.set_prefix(self.label.clone());
            self.printer.keep_track(&bar);
            bar
        })
    }

    /// Moves this blob's bar to `position`, and the total bar by the same amount.
    fn move_to(&self, bar: &ProgressBar, position: u64) {
        let old = bar.position();
        bar.set_position(position);
        if let Some(sum) = self.printer.total_bar() {
            if position >= old {
                sum.inc(position - old);
            } else {
                sum.set_position(sum.position().saturating_sub(old - position));
            }
        }
    }
}

impl Progress for BarProgress<'_> {
    fn waiting_for_lock(&self, holder: Option<u32>) {
        self.printer.info(&waiting_message(&self.label, holder));
    }
    fn started(&self, total: Option<u64>, done: u64) {
        // The bar appears when the body starts, with its size when that is known: a blob of
        // unknown size shows bytes and rate, not `0 B/0 B`.
        let bar = self.bar();
        if let Some(t) = total {
            bar.set_style(bar_style());
            bar.set_length(t);
            let before = self.counted.swap(t, Ordering::Relaxed);
            if let Some(sum) = self.printer.total_bar() {
                sum.set_length((sum.length().unwrap_or(0) + t).saturating_sub(before));
                self.printer.reveal_total();
            }
        }
        self.move_to(bar, done);
        // Resumed bytes did not move now: the rates count only what arrives from here on.
        bar.reset_eta();
        if done > 0
            && let Some(sum) = self.printer.total_bar()
        {
            sum.reset_eta();
        }
    }
    fn advanced(&self, bytes: u64) {
        self.bar().inc(bytes);
        if let Some(sum) = self.printer.total_bar() {
            sum.inc(bytes);
        }
    }
    fn restarted(&self, reason: &str) {
        self.printer.info(&format!("{}: {reason}", self.label));
        if let Some(bar) = self.bar.get() {
            self.move_to(bar, 0);
        }
    }
    fn retrying(&self, retry: &Retry<'_>) {
        self.printer.info(&retry_message(&self.label, retry));
    }
    fn finished(&self) {
        if let Some(bar) = self.bar.get() {
            bar.finish_and_clear();
            self.printer.multi.remove(bar);
        }
    }
}

struct PlainState {
    started: Instant,
    last: Instant,
    at_start: u64,
}

struct PlainProgress<'a> {
    printer: &'a Printer,
    label: String,
    total: AtomicU64,
    done: AtomicU64,
    state: Mutex<PlainState>,
}

impl Progress for PlainProgress<'_> {
    fn waiting_for_lock(&self, holder: Option<u32>) {
        self.printer.info(&waiting_message(&self.label, holder));
    }
    fn started(&self, total: Option<u64>, done: u64) {
        self.total.store(total.unwrap_or(0), Ordering::Relaxed);
        self.done.store(done, Ordering::Relaxed);
        let mut st = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        *st = PlainState {
            started: Instant::now(),
            last: Instant::now(),
            at_start: done,
        };
    }
    fn advanced(&self, bytes: u64) {
        let done = self.done.fetch_add(bytes, Ordering::Relaxed) + bytes;
        let mut st = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        if st.last.elapsed() < PLAIN_INTERVAL {
            return;
        }
        st.last = Instant::now();
        let secs = st.started.elapsed().as_secs_f64().max(1e-3);
        let rate = (done - st.at_start) as f64 / secs;
        let total = self.total.load(Ordering::Relaxed);
        let of = if total > 0 {
            format!(" of {} ({}%)", human_bytes(total), done * 100 / total)
        } else {
            String::new()
        };
        self.printer.info(&format!(
            "{}: {}{of} at {}/s",
            self.label,
            human_bytes(done),
            human_bytes(rate as u64)
        ));
    }
    fn restarted(&self, reason: &str) {
        self.printer.info(&format!("{}: {reason}", self.label));
    }
    fn retrying(&self, retry: &Retry<'_>) {
        self.printer.info(&retry_message(&self.label, retry));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::ProgressMode;

    /// Issue 15, item 10: bytes a resumed download already had are not counted as moving, in
    /// the total bar either (they used to make a 20 MB/s link show 131 MiB/s). Right after a
    /// resume at 900 of 1000 bytes, neither bar has a rate yet.
    #[test]
    fn resumed_bytes_do_not_count_towards_the_rate() {
        let mut printer = Printer::new(ProgressMode::None, false);
        printer.display = Display::Bars;
        printer.show_total();
        let blob = printer.progress("sha256:abc");
        blob.started(Some(1000), 900);
        let total = printer.total_bar().expect("a total bar");
        assert_eq!(total.position(), 900);
        let rate = total.per_sec();
        // NaN (no time at all has passed) is no rate either.
        assert!(
            rate.is_nan() || rate <= 0.0,
            "the total counts resumed bytes: {rate} B/s"
        );
        blob.finished();
    }
}
