//! `ferry health`: evaluate health checks and run Argo CD-format health test suites.

use std::process::ExitCode;

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Print the health of each object in a file.
    Eval {
        #[arg(short = 'f', long = "filename")]
        file: std::path::PathBuf,
    },
}

pub fn run(_command: Command) -> anyhow::Result<ExitCode> {
    anyhow::bail!("ferry health is not implemented yet")
}
