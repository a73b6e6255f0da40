//! `ferry health`: evaluate health checks and run Argo CD-format health test suites.
//!
//! Thin over `ferry_health`: `eval` assesses each object of a YAML file (built-in checks, a
//! `--script`, or the customizations of an `--argocd-cm`); `test` runs the suites under a
//! directory and ends with `N passed, N failed` (exit 1 on any failure).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;
use ferry_health::script::eval_health_script;
use ferry_health::suite::run_suites;
use ferry_health::{HealthStatus, Libraries, LuaRuntime, ResourceOverrides, assess};
use serde::Serialize;
use serde_json::Value;

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Print the health of each object in a file.
    Eval(EvalArgs),
    /// Run Argo CD-format health and action test suites found under a directory.
    Test {
        /// Directory holding `<group>/<Kind>/health_test.yaml` (and `actions/action_test.yaml`).
        dir: PathBuf,
    },
}

#[derive(Debug, clap::Args)]
pub struct EvalArgs {
    /// YAML file with one or more objects (`---`-separated, or a `kind: List`).
    #[arg(short = 'f', long = "filename")]
    file: PathBuf,
    /// Judge every object with this Lua health script.
    #[arg(long, conflicts_with = "argocd_cm")]
    script: Option<PathBuf>,
    /// Open the full (safe) standard libraries for `--script`, as `useOpenLibs` does.
    #[arg(long, requires = "script")]
    use_open_libs: bool,
    /// Use the health customizations of this `argocd-cm` ConfigMap.
    #[arg(long = "argocd-cm")]
    argocd_cm: Option<PathBuf>,
    /// Output format.
    #[arg(short = 'o', long = "output", value_enum, default_value_t = Output::Text)]
    output: Output,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Output {
    Text,
    Json,
    Yaml,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct ObjectHealth {
    api_version: String,
    kind: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    namespace: String,
    name: String,
    /// `None` when the kind has no health check (or the script returned nil).
    health: Option<HealthStatus>,
}

pub fn run(command: Command) -> anyhow::Result<ExitCode> {
    match command {
        Command::Eval(args) => eval(args),
        Command::Test { dir } => {
            anyhow::ensure!(dir.is_dir(), "{} is not a directory", dir.display());
            let report = run_suites(&dir, &LuaRuntime::default());
            print!("{}", report.render());
            Ok(if report.failed() == 0 {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
    }
}

fn eval(args: EvalArgs) -> anyhow::Result<ExitCode> {
    let objects = read_objects(&args.file)?;
    let runtime = LuaRuntime::default();
    let script = match &args.script {
        Some(path) => Some(read_text(path)?),
        None => None,
    };
    let overrides = match &args.argocd_cm {
        Some(path) => {
            let config_map = read_objects(path)?
                .into_iter()
                .next()
                .with_context(|| format!("{} holds no ConfigMap", path.display()))?;
            let overrides = ResourceOverrides::from_config_map(&config_map);
            for warning in overrides.warnings() {
                eprintln!("warning: {warning}");
            }
            overrides
        }
        None => ResourceOverrides::default(),
    };
    let mut results = Vec::with_capacity(objects.len());
    for obj in &objects {
        let health = match &script {
            Some(script) => {
                let libraries = Libraries::from_open_libs(args.use_open_libs);
                eval_health_script(&runtime, script, libraries, obj)
                    .unwrap_or_else(|err| Some(HealthStatus::unknown(err.to_string())))
            }
            None => assess(obj, &overrides),
        };
        let text = |pointer: &str| {
            obj.pointer(pointer)
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_owned()
        };
        results.push(ObjectHealth {
            api_version: text("/apiVersion"),
            kind: text("/kind"),
            namespace: text("/metadata/namespace"),
            name: text("/metadata/name"),
            health,
        });
    }
    match args.output {
        Output::Json => println!("{}", serde_json::to_string_pretty(&results)?),
        Output::Yaml => print!("{}", serde_saphyr::to_string(&results)?),
        Output::Text => {
            for result in &results {
                let name = if result.namespace.is_empty() {
                    result.name.clone()
                } else {
                    format!("{}/{}", result.namespace, result.name)
                };
                let (status, message) = match &result.health {
                    Some(health) => (health.status.as_str(), health.message.as_str()),
                    None => ("-", "no health check"),
                };
                println!("{} {name}\t{status}\t{message}", result.kind);
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn read_text(path: &Path) -> anyhow::Result<String> {
    std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))
}

/// Every object in a YAML stream; `kind: List` documents are expanded.
fn read_objects(path: &Path) -> anyhow::Result<Vec<Value>> {
    let text = read_text(path)?;
    let documents: Vec<Value> =
        serde_saphyr::from_multiple(&text).with_context(|| format!("invalid YAML in {}", path.display()))?;
    let mut objects = Vec::new();
    for document in documents {
        match document {
            Value::Null => {}
            Value::Object(ref fields) if fields.get("kind").and_then(Value::as_str) == Some("List") => {
                if let Some(Value::Array(items)) = fields.get("items") {
                    objects.extend(items.iter().cloned());
                }
            }
            other => objects.push(other),
        }
    }
    Ok(objects)
}
