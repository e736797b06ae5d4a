//! The `layerget` binary: parse arguments, set up logging and the runtime, run the command,
//! print the error chain and pick the exit code. Everything else lives in the library.

use std::io::IsTerminal as _;
use std::process::ExitCode;

use clap::Parser as _;
use layerget::cli::Cli;
use layerget::commands::{self, Outcome};
use layerget::output::Printer;
use layerget::text::{Lines, sanitize};
use tracing_subscriber::filter::LevelFilter;

/// Exit code after Ctrl-C (128 + SIGINT), as shells expect.
const INTERRUPTED: u8 = 130;

fn main() -> ExitCode {
    // A usage error makes clap print it and exit 2, the documented usage code, before
    // anything else starts; `--help` and `--version` exit 0 here too.
    let cli = Cli::parse();
    // Warnings by default; `-v` adds INFO, which is where `serve`'s access log goes.
    let level = match (cli.global.quiet, cli.global.verbose) {
        (true, _) => LevelFilter::ERROR,
        (false, 0) => LevelFilter::WARN,
        (false, 1) => LevelFilter::INFO,
        (false, 2) => LevelFilter::DEBUG,
        _ => LevelFilter::TRACE,
    };
    tracing_subscriber::fmt()
        .with_max_level(level)
        // stderr: stdout carries only data.
        .with_writer(std::io::stderr)
        .with_ansi(cli.global.color.enabled(
            std::io::stderr().is_terminal(),
            // no-color.org: only a non-empty NO_COLOR counts.
            std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty()),
        ))
        .with_target(false)
        .fmt_fields(safe_fields())
        .init();
    // Before the runtime, so that even its failure is reported through the printer.
    let printer = Printer::new(cli.global.progress, cli.global.quiet);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            printer.error(&anyhow::Error::new(e).context("starting the async runtime"));
            return ExitCode::from(1);
        }
    };
    // `serve` handles SIGINT itself, to finish in-flight responses before it exits.
    let handles_signals = matches!(cli.command, layerget::cli::Command::Serve(_));
    let result = runtime.block_on(async {
        if handles_signals {
            return Some(commands::run(cli, &printer).await);
        }
        // Pinned out here so that on Ctrl-C the bars are cleared while their transfers (and
        // so the bars) are still alive: `select!` drops the futures it owns first.
        let run = commands::run(cli, &printer);
        tokio::pin!(run);
        tokio::select! {
            result = &mut run => Some(result),
            _ = tokio::signal::ctrl_c() => {
                printer.clear_progress();
                None
            }
        }
    });
    // Do not wait for blocking tasks (a writer thread, a lock wait) on the way out.
    runtime.shutdown_background();
    match result {
        None => {
            printer.fail_pending(
                i32::from(INTERRUPTED),
                "interrupted",
                "interrupted before this REF finished",
            );
            printer.warn("interrupted; partial downloads are kept and resume on the next fetch");
            ExitCode::from(INTERRUPTED)
        }
        Some(Ok(Outcome::Success)) => ExitCode::SUCCESS,
        Some(Ok(Outcome::Failed(category))) => exit_code(category.exit_code()),
        // A closed stdout (`| head`) is the reader's choice, not a failure: exit 0 silently.
        Some(Err(err)) if commands::is_broken_pipe(&err) => ExitCode::SUCCESS,
        Some(Err(err)) => {
            let category = commands::category_of(&err);
            // With `--json`, every REF not yet reported gets its error line before the message.
            printer.fail_pending(
                category.exit_code(),
                category.as_str(),
                &layerget::output::error_chain(&err),
            );
            printer.error(&err);
            exit_code(category.exit_code())
        }
    }
}

/// Log fields written through the one sanitiser (`layerget::text`): a log line quotes what
/// servers, clients and credential helpers said, and must not carry their control sequences to
/// the terminal or into a log file. (tracing-subscriber's own escaping leaves `CR` and most C0
/// controls alone.) Each field stays on its line.
fn safe_fields() -> impl for<'w> tracing_subscriber::fmt::FormatFields<'w> {
    use tracing_subscriber::field::MakeExt as _;
    tracing_subscriber::fmt::format::debug_fn(|writer, field, value| {
        let text = format!("{value:?}");
        let text = sanitize(&text, Lines::Escape);
        if field.name() == "message" {
            write!(writer, "{text}")
        } else {
            write!(writer, "{field}={text}")
        }
    })
    .delimited(" ")
}

/// A category's exit code; one outside `0..=255` (none is) would be 1, "other".
fn exit_code(code: i32) -> ExitCode {
    ExitCode::from(u8::try_from(code).unwrap_or(1))
}
