//! The `ferry` binary: a thin command line over Ferry's library crates.
//!
//! One subcommand per capability; each lives in its own module under `cmd/`.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod argocd_settings;
mod cluster;
mod cmd;

/// Ferry carries a commit from git to running workloads.
#[derive(Debug, Parser)]
#[command(name = "ferry", version, about, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Start the embedded single-machine cluster with all controllers.
    Up(cmd::up::Args),
    /// Run the embedded Kubernetes-compatible API server alone.
    Apiserver(cmd::up::ApiserverArgs),
    /// Print the kubeconfig of an embedded cluster.
    Kubeconfig(cmd::up::KubeconfigArgs),
    /// Render a Helm chart locally, like `helm template`.
    Template(cmd::template::Args),
    /// Evaluate resource health as Argo CD does (built-in checks and Lua).
    #[command(subcommand)]
    Health(cmd::health::Command),
    /// Tekton Pipelines, like `tkn pipeline`.
    #[command(visible_alias = "p")]
    Pipeline(cmd::tkn::PipelineArgs),
    /// Tekton PipelineRuns, like `tkn pipelinerun`.
    #[command(visible_alias = "pr")]
    Pipelinerun(cmd::tkn::PipelineRunArgs),
    /// Tekton Tasks, like `tkn task`.
    #[command(visible_alias = "t")]
    Task(cmd::tkn::TaskArgs),
    /// Tekton TaskRuns, like `tkn taskrun`.
    #[command(visible_alias = "tr")]
    Taskrun(cmd::tkn::TaskRunArgs),
    /// Internal: the Pod executor's step wrapper (Tekton's entrypoint flags; `init`,
    /// `place-scripts`). Installed in a Pod as `/tekton/bin/entrypoint`.
    #[command(hide = true)]
    Entrypoint {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Internal: set up a pipeline step's sandbox inside its namespaces, then exec the step.
    #[command(hide = true)]
    SandboxInit {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
}

/// The name the binary was invoked under (`argocd` when called through a symlink of that name).
fn invoked_as() -> Option<String> {
    let argv0 = std::env::args_os().next()?;
    let name = std::path::Path::new(&argv0)
        .file_stem()?
        .to_string_lossy()
        .into_owned();
    Some(name)
}

fn main() -> ExitCode {
    cmd::init_tracing();
    if invoked_as().as_deref() == Some("argocd") {
        return cmd::argocd::run(std::env::args_os());
    }
    if invoked_as().as_deref() == Some("entrypoint") {
        // Lossy, not `env::args()`: a non-UTF-8 argument must not panic the step wrapper.
        let args = std::env::args_os()
            .skip(1)
            .map(|a| a.to_string_lossy().into_owned());
        return cmd::entrypoint::run(args.collect());
    }
    if invoked_as().as_deref() == Some("tkn") {
        return cmd::tkn::run_as_tkn(std::env::args_os());
    }
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Up(args) => cmd::up::run_up(args),
        Command::Apiserver(args) => cmd::up::run_apiserver(args),
        Command::Kubeconfig(args) => cmd::up::run_kubeconfig(args),
        Command::Template(args) => cmd::template::run(args),
        Command::Health(command) => cmd::health::run(command),
        Command::Pipeline(args) => cmd::tkn::run(cmd::tkn::TknCommand::Pipeline(args)),
        Command::Pipelinerun(args) => cmd::tkn::run(cmd::tkn::TknCommand::Pipelinerun(args)),
        Command::Task(args) => cmd::tkn::run(cmd::tkn::TknCommand::Task(args)),
        Command::Taskrun(args) => cmd::tkn::run(cmd::tkn::TknCommand::Taskrun(args)),
        Command::Entrypoint { args } => return cmd::entrypoint::run(args),
        Command::SandboxInit { args } => match ferry_pipelines::executor::init::sandbox_init(&args) {
            Ok(never) => match never {},
            Err(message) => {
                eprintln!("ferry sandbox: {message}");
                // 127: the step's command could not be started, as a shell reports it.
                return ExitCode::from(127);
            }
        },
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            eprintln!("Error: {err:#}");
            ExitCode::FAILURE
        }
    }
}
