//! `ferry template`: render a chart as `helm template` does.

use std::process::ExitCode;

/// Arguments of `ferry template` (mirrors `helm template`).
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Release name and chart (`[NAME] CHART`).
    #[arg(num_args = 1..=2)]
    pub names: Vec<String>,
}

pub fn run(_args: Args) -> anyhow::Result<ExitCode> {
    anyhow::bail!("ferry template is not implemented yet")
}
