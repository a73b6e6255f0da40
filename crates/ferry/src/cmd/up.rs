//! `ferry up`, `ferry apiserver` and `ferry kubeconfig`: the embedded cluster.

use std::{path::PathBuf, process::ExitCode};

/// Arguments of `ferry up`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub server: ApiserverArgs,
}

/// Arguments of `ferry apiserver`.
#[derive(Debug, clap::Args)]
pub struct ApiserverArgs {
    /// Where the embedded cluster keeps its state, certificates and kubeconfig.
    #[arg(long, default_value = ".ferry", env = "FERRY_DATA_DIR")]
    pub data_dir: PathBuf,
    /// Address the API server listens on.
    #[arg(long, default_value = "127.0.0.1:6443")]
    pub listen: String,
    /// Feature gates, e.g. `TemplateNoDefaults=true`.
    #[arg(long, value_delimiter = ',')]
    pub feature_gates: Vec<String>,
}

/// Arguments of `ferry kubeconfig`.
#[derive(Debug, clap::Args)]
pub struct KubeconfigArgs {
    #[arg(long, default_value = ".ferry", env = "FERRY_DATA_DIR")]
    pub data_dir: PathBuf,
}

pub fn run_up(_args: Args) -> anyhow::Result<ExitCode> {
    anyhow::bail!("ferry up is not implemented yet")
}

pub fn run_apiserver(_args: ApiserverArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("ferry apiserver is not implemented yet")
}

pub fn run_kubeconfig(args: KubeconfigArgs) -> anyhow::Result<ExitCode> {
    let path = args.data_dir.join("kubeconfig");
    let text = std::fs::read_to_string(&path)
        .map_err(|e| anyhow::anyhow!("reading {}: {e} (has `ferry up` run with this --data-dir?)", path.display()))?;
    print!("{text}");
    Ok(ExitCode::SUCCESS)
}
