//! `layerget generate [DIR]`: shell completions and man pages from the clap definition, into
//! `DIR/completions/` and `DIR/man/` (run from the repository root to refresh the committed
//! files; a test regenerates them and fails when they are stale). `layerget completions SHELL`
//! prints one shell's completions on stdout, the conventional way to install them.

use std::fs;
use std::path::Path;

use anyhow::Context as _;
use clap::CommandFactory;
use clap_complete::Shell;

use crate::cli::Cli;
use crate::output::Printer;

/// The shells whose completions are committed.
const SHELLS: [Shell; 5] = [
    Shell::Bash,
    Shell::Zsh,
    Shell::Fish,
    Shell::Elvish,
    Shell::PowerShell,
];

/// Writes completion scripts for bash, zsh, fish, elvish and PowerShell into `dir/completions`
/// and a man page per command (`layerget.1`, `layerget-fetch.1`, …) into `dir/man`.
pub fn run(dir: &Path) -> anyhow::Result<()> {
    let completions = dir.join("completions");
    fs::create_dir_all(&completions)
        .with_context(|| format!("creating `{}`", completions.display()))?;
    let mut cmd = Cli::command();
    for shell in SHELLS {
        clap_complete::generate_to(shell, &mut cmd, "layerget", &completions).with_context(
            || {
                format!(
                    "writing {shell} completions into `{}`",
                    completions.display()
                )
            },
        )?;
    }
    let man = dir.join("man");
    fs::create_dir_all(&man).with_context(|| format!("creating `{}`", man.display()))?;
    clap_mangen::generate_to(Cli::command(), &man)
        .with_context(|| format!("writing man pages into `{}`", man.display()))?;
    Ok(())
}

/// Prints `shell`'s completions on stdout.
pub fn completions(shell: Shell, printer: &Printer) -> anyhow::Result<()> {
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), "layerget", &mut script);
    printer.data_bytes(&script)?;
    Ok(())
}
