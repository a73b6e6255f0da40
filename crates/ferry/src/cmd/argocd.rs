//! `argocd`: Ferry answering to Argo CD's CLI name, so scripts written for Argo CD (like the seed's Tekton
//! step) run unchanged. The binary dispatches here when invoked as `argocd` (a symlink or copy).
//!
//! This build knows `version`; the application verbs (`login`, `app create|sync|wait|list|get`) arrive with
//! Ferry's GitOps server. Until then every other verb fails loudly, naming itself, with Argo CD's generic
//! error exit code (20), rather than pretending to succeed.

use std::{ffi::OsString, process::ExitCode};

use clap::{Parser, Subcommand};

/// Exit code of Argo CD's `errors.CheckError`.
const EXIT_GENERIC_ERROR: u8 = 20;

/// The verbs scripts call that this build does not serve yet.
const PLANNED: &[&str] = &[
    "login", "logout", "app", "proj", "repo", "cluster", "account", "context",
];

#[derive(Debug, Parser)]
#[command(
    name = "argocd",
    about = "Ferry's Argo CD-compatible CLI",
    disable_version_flag = true
)]
struct ArgocdCli {
    #[command(subcommand)]
    command: Verb,
}

#[derive(Debug, Subcommand)]
enum Verb {
    /// Print version information.
    Version {
        /// Only the client version (no server is contacted).
        #[arg(long)]
        client: bool,
        /// Print only the version string.
        #[arg(long)]
        short: bool,
    },
    #[command(external_subcommand)]
    Other(Vec<OsString>),
}

/// Runs the `argocd` personality with the full argv (argv[0] included).
pub fn run(args: impl IntoIterator<Item = OsString>) -> ExitCode {
    let cli = match ArgocdCli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() {
                ExitCode::FAILURE
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    match cli.command {
        Verb::Version { client: _, short } => {
            let version = format!("v{}+ferry", env!("CARGO_PKG_VERSION"));
            if short {
                println!("argocd: {version}");
            } else {
                println!("argocd: {version}");
                println!("  BuildDate: (Ferry build)");
                println!("  Platform: {}/{}", std::env::consts::OS, std::env::consts::ARCH);
            }
            ExitCode::SUCCESS
        }
        Verb::Other(words) => {
            let verb = words
                .first()
                .map(|w| w.to_string_lossy().into_owned())
                .unwrap_or_default();
            if PLANNED.contains(&verb.as_str()) {
                eprintln!(
                    "argocd {verb}: not available in this Ferry build yet (supported: version). \
                     The Argo CD application commands arrive with Ferry's GitOps server."
                );
            } else {
                eprintln!("argocd: unknown command \"{verb}\"");
            }
            ExitCode::from(EXIT_GENERIC_ERROR)
        }
    }
}
