//! Everything layerget prints. Data (paths, blob bytes, `--json` lines) goes to stdout;
//! messages, errors and progress go to stderr. This is the only module allowed to print
//! (clippy's `print_stdout`/`print_stderr` lints enforce it elsewhere). The per-blob progress
//! reporters and the bars are in `progress`, `--progress json`'s events in `events`.

#![allow(clippy::print_stdout, clippy::print_stderr)]

mod events;
mod progress;

use std::fs::File;
use std::io::{self, IsTerminal, Write};
use std::path::Path;
use std::sync::{Mutex, PoisonError};
use std::time::Instant;

use indicatif::{MultiProgress, ProgressDrawTarget};

use crate::cli::ProgressMode;
use crate::text::{Lines, sanitize, sanitize_json};
use progress::Total;

/// What kind of progress display is in effect, resolved against the terminal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Display {
    Bars,
    Plain,
    /// `--progress json`: events, and messages as events too.
    Events,
    Silent,
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
        category: &crate::exit::Category,
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

    /// Writes blob bytes to stdout (`-o -` from a cache without files), flushed.
    pub fn write_stdout(&self, data: &[u8]) -> io::Result<()> {
        let mut out = self.stdout.lock().unwrap_or_else(PoisonError::into_inner);
        out.write_all(data)?;
        out.flush()
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
