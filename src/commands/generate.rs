//! `layerget generate DIR`: shell completions from the clap definition, for `completions/`.
//! A test regenerates them and fails when the committed files are stale.

use std::fs;
use std::path::Path;

use anyhow::Context as _;
use clap::CommandFactory;
use clap_complete::Shell;

use crate::cli::Cli;

/// Writes completion scripts for bash, zsh, fish, elvish and PowerShell into `dir`.
pub fn run(dir: &Path) -> anyhow::Result<()> {
    fs::create_dir_all(dir).with_context(|| format!("creating `{}`", dir.display()))?;
    let mut cmd = Cli::command();
    for shell in [
        Shell::Bash,
        Shell::Zsh,
        Shell::Fish,
        Shell::Elvish,
        Shell::PowerShell,
    ] {
        clap_complete::generate_to(shell, &mut cmd, "layerget", dir)
            .with_context(|| format!("writing {shell} completions into `{}`", dir.display()))?;
    }
    Ok(())
}
