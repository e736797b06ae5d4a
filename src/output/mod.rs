//! Everything layerget prints. Data (paths, blob bytes, `--json` lines) goes to stdout;
//! messages, errors and progress go to stderr. This is the only module allowed to print
//! (clippy's `print_stdout`/`print_stderr` lints enforce it elsewhere).

#![allow(clippy::print_stdout, clippy::print_stderr)]

mod events;

use std::fs::File;
use std::io::{self, IsTerminal, Write};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressFinish, ProgressStyle};

use crate::cli::ProgressMode;
use crate::text::{Lines, sanitize, sanitize_json};
use crate::transfer::{Progress, TransferError};

/// How often `--progress plain` prints a line per active blob.
const PLAIN_INTERVAL: Duration = Duration::from_secs(3);

/// What kind of progress display is in effect, resolved against the terminal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Display {
    Bars,
    Plain,
    /// `--progress json`: events, and messages as events too.
    Events,
    Silent,
}

/// The total bar and whether it is on screen yet.
struct Total {
    bar: ProgressBar,
    shown: bool,
}

/// Prints data and messages, and makes progress reporters.
pub struct Printer {
    quiet: bool,
    display: Display,
    multi: MultiProgress,
    /// A bar summing every blob's bytes, shown when several blobs move at once; it appears
    /// when the first blob's size is known, so no frame shows an empty `0 B/0 B` total.
    total: Mutex<Option<Total>>,
    stdout: Mutex<io::Stdout>,
    /// Every bar made, to take them off the screen on Ctrl-C.
    live: Mutex<Vec<indicatif::WeakProgressBar>>,
    /// When layerget started, for `--progress json`'s `elapsed_ms`.
    started: Instant,
    /// With `--json`: the REFs of the command that have had no line yet, in order, so that
    /// each gets exactly one even when the command fails as a whole or is interrupted.
    pending: Mutex<std::collections::VecDeque<String>>,
}

impl Printer {
    /// A printer for these settings. Bars appear only when stderr is a terminal.
    pub fn new(mode: ProgressMode, quiet: bool) -> Printer {
        let tty = io::stderr().is_terminal();
        let display = match mode {
            _ if quiet => Display::Silent,
            ProgressMode::Auto | ProgressMode::Bar if tty => Display::Bars,
            ProgressMode::Plain => Display::Plain,
            ProgressMode::Json => Display::Events,
            _ => Display::Silent,
        };
        let multi = MultiProgress::with_draw_target(if display == Display::Bars {
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::hidden()
        });
        Printer {
            quiet,
            display,
            multi,
            total: Mutex::new(None),
            stdout: Mutex::new(io::stdout()),
            live: Mutex::default(),
            started: Instant::now(),
            pending: Mutex::default(),
        }
    }

    /// Writes a `--progress json` event on stderr (see [`events`]).
    fn event(&self, event: &str, members: serde_json::Value) {
        let mut line = serde_json::json!({
            "event": event,
            "elapsed_ms": self.started.elapsed().as_millis() as u64,
        });
        if let (Some(line), serde_json::Value::Object(members)) = (line.as_object_mut(), members) {
            line.extend(members);
        }
        let text = line.to_string();
        let _ = writeln!(io::stderr().lock(), "{}", sanitize_json(&text));
    }

    /// Reports a failed item: an `error` event under `--progress json`, else the error
    /// message on stderr.
    pub fn item_error(
        &self,
        reference: &str,
        err: &anyhow::Error,
        category: &crate::envelope::Category,
    ) {
        if self.display == Display::Events {
            self.event(
                "error",
                serde_json::json!({
                    "ref": reference,
                    "exit_code": category.exit_code(),
                    "category": category.as_str(),
                    "message": error_chain(err),
                }),
            );
        } else {
            self.error(err);
        }
    }

    /// Writes one line of data to stdout.
    pub fn data_line(&self, line: &str) -> io::Result<()> {
        let line = sanitize(line, Lines::Keep);
        let mut out = self.stdout.lock().unwrap_or_else(PoisonError::into_inner);
        self.multi.suspend(|| {
            writeln!(out, "{line}")?;
            out.flush()
        })
    }

    /// With `--json`, the REFs a command was given: each is owed one line (see
    /// [`Printer::json_line`] and [`Printer::fail_pending`]).
    pub fn expect_items(&self, refs: &[String]) {
        let mut pending = self.pending.lock().unwrap_or_else(PoisonError::into_inner);
        pending.extend(refs.iter().cloned());
    }

    /// Writes an error line for every REF that has had none (the command failed as a whole, or
    /// was interrupted with `category` `interrupted` and exit code 130).
    pub fn fail_pending(&self, exit_code: i32, category: &str, message: &str) {
        let refs: Vec<String> = self
            .pending
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .drain(..)
            .collect();
        for reference in refs {
            let _ = self.write_json(&serde_json::json!({
                "ref": reference,
                "error": {"exit_code": exit_code, "category": category, "message": message},
            }));
        }
    }

    /// Writes one JSON document as a line to stdout. A line with a `ref` member settles that
    /// REF's debt (see [`Printer::expect_items`]).
    pub fn json_line(&self, value: &serde_json::Value) -> io::Result<()> {
        if let Some(reference) = value.get("ref").and_then(serde_json::Value::as_str) {
            let mut pending = self.pending.lock().unwrap_or_else(PoisonError::into_inner);
            if let Some(i) = pending.iter().position(|r| r == reference) {
                pending.remove(i);
            }
        }
        self.write_json(value)
    }

    fn write_json(&self, value: &serde_json::Value) -> io::Result<()> {
        let line = value.to_string();
        let mut out = self.stdout.lock().unwrap_or_else(PoisonError::into_inner);
        self.multi.suspend(|| {
            writeln!(out, "{}", sanitize_json(&line))?;
            out.flush()
        })
    }

    /// Writes bytes to stdout as they are (a completion script).
    pub fn data_bytes(&self, bytes: &[u8]) -> io::Result<()> {
        let mut out = self.stdout.lock().unwrap_or_else(PoisonError::into_inner);
        out.write_all(bytes)?;
        out.flush()
    }

    /// Copies a file to stdout (blob bytes for `-o -`).
    pub fn copy_to_stdout(&self, path: &Path) -> io::Result<u64> {
        let mut file = File::open(path)?;
        let mut out = self.stdout.lock().unwrap_or_else(PoisonError::into_inner);
        let n = io::copy(&mut file, &mut *out)?;
        out.flush()?;
        Ok(n)
    }

    /// An informational message on stderr (suppressed by `--quiet`).
    pub fn info(&self, msg: &str) {
        if self.quiet {
        } else if self.display == Display::Events {
            self.message("info", msg);
        } else {
            self.stderr_line(msg);
        }
    }

    fn message(&self, level: &str, text: &str) {
        self.event("message", serde_json::json!({"level": level, "text": text}));
    }

    /// A warning on stderr (shown even with `--quiet`).
    pub fn warn(&self, msg: &str) {
        if self.display == Display::Events {
            self.message("warning", msg);
        } else {
            self.stderr_line(&format!("warning: {msg}"));
        }
    }

    /// An error with its whole cause chain, on stderr. A `hint:` part of the message goes on
    /// its own line.
    pub fn error(&self, err: &anyhow::Error) {
        if self.display == Display::Events {
            self.message("error", &error_chain(err));
        } else {
            self.stderr_line(&format!("error: {}", error_chain(err)));
        }
    }

    /// Every message goes out through here, so nothing a server put into one (an envelope
    /// message, a header, a helper's stderr) reaches the terminal as a control sequence.
    fn stderr_line(&self, msg: &str) {
        let msg = sanitize(msg, Lines::Keep);
        self.multi.suspend(|| {
            let _ = writeln!(io::stderr().lock(), "{msg}");
        });
    }

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

fn retry_message(label: &str, attempt: u32, wait: Duration, error: &TransferError) -> String {
    // One short line: the final error gives the URL and the whole cause chain.
    let error = match error {
        TransferError::Registry(e) => e.short(),
        other => other.to_string(),
    };
    format!(
        "{label}: attempt {attempt} failed ({error}); retrying in {:.1} s",
        wait.as_secs_f64()
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
    fn retrying(&self, attempt: u32, wait: Duration, error: &TransferError) {
        self.printer
            .info(&retry_message(&self.label, attempt, wait, error));
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
    fn retrying(&self, attempt: u32, wait: Duration, error: &TransferError) {
        self.printer
            .info(&retry_message(&self.label, attempt, wait, error));
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
    fn retrying(&self, attempt: u32, wait: Duration, error: &TransferError) {
        self.printer
            .info(&retry_message(&self.label, attempt, wait, error));
    }
}

/// An error and its causes, joined by `: ` as anyhow's `{:#}` does, but without a cause whose
/// text the message before it already ends with: errors that quote their source (`cannot
/// open `x`: Permission denied (os error 13)`) and also return it as `source()` would
/// otherwise print the OS error twice (issue 15, item 9).
pub fn error_chain(err: &anyhow::Error) -> String {
    let mut text = String::new();
    for cause in err.chain() {
        let part = cause.to_string();
        if text.ends_with(&part) {
            continue;
        }
        if !text.is_empty() {
            text.push_str(": ");
        }
        text.push_str(&part);
    }
    text
}

/// `1 blob`, `2 blobs`, `3 entries`: a count with its noun, for every message that counts
/// (`noun` is the singular; the plural adds `s`, or turns a final consonant + `y` into `ies`).
pub fn count(n: usize, noun: &str) -> String {
    if n == 1 {
        return format!("1 {noun}");
    }
    match noun.strip_suffix('y') {
        Some(stem) if !stem.ends_with(['a', 'e', 'o', 'u']) => format!("{n} {stem}ies"),
        _ => format!("{n} {noun}s"),
    }
}

/// `1.5 MiB`-style sizes for messages.
pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = n as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    match UNITS.get(unit) {
        Some(_) if unit == 0 => format!("{n} B"),
        Some(name) => format!("{value:.1} {name}"),
        None => format!("{n} B"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn error_chains_say_each_cause_once() {
        let os = std::io::Error::from_raw_os_error(13);
        let store = crate::store::StoreError::Io {
            action: "open",
            path: "/c/blobs".into(),
            source: os,
        };
        let err = anyhow::Error::new(store).context("reading the cache");
        assert_eq!(
            error_chain(&err),
            "reading the cache: cannot open `/c/blobs`: Permission denied (os error 13)"
        );
        let plain = anyhow::anyhow!("inner").context("outer");
        assert_eq!(error_chain(&plain), "outer: inner");
    }

    #[test]
    fn counts() {
        assert_eq!(count(0, "blob"), "0 blobs");
        assert_eq!(count(1, "blob"), "1 blob");
        assert_eq!(count(2, "partial download"), "2 partial downloads");
        assert_eq!(count(1, "ingest entry"), "1 ingest entry");
        assert_eq!(count(3, "ingest entry"), "3 ingest entries");
        assert_eq!(count(2, "key"), "2 keys");
    }

    #[test]
    fn sizes() {
        assert_eq!(human_bytes(0), "0 B");
        assert_eq!(human_bytes(1023), "1023 B");
        assert_eq!(human_bytes(1536), "1.5 KiB");
        assert_eq!(human_bytes(1 << 30), "1.0 GiB");
    }
}
