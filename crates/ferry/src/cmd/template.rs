//! `ferry template`: render a chart as `helm template` does.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use ferry_helm::{RenderOptions, TemplateRequest, UserValues};

/// Arguments of `ferry template` (mirrors `helm template`).
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Release name and chart (`[NAME] CHART`); CHART is a directory or a `.tgz`.
    #[arg(num_args = 1..=2, value_names = ["NAME", "CHART"])]
    pub names: Vec<String>,
    /// Specify values in a YAML file (can specify multiple).
    #[arg(short = 'f', long = "values")]
    pub values: Vec<String>,
    /// Set values on the command line (key1=val1,key2=val2).
    #[arg(long = "set")]
    pub set: Vec<String>,
    /// Set STRING values on the command line.
    #[arg(long = "set-string")]
    pub set_string: Vec<String>,
    /// Set JSON values on the command line.
    #[arg(long = "set-json")]
    pub set_json: Vec<String>,
    /// Set values from respective files (key1=path1).
    #[arg(long = "set-file")]
    pub set_file: Vec<String>,
    /// Set a literal STRING value on the command line.
    #[arg(long = "set-literal")]
    pub set_literal: Vec<String>,
    /// Namespace scope for this request.
    #[arg(
        short = 'n',
        long = "namespace",
        default_value = "default",
        env = "HELM_NAMESPACE"
    )]
    pub namespace: String,
    /// Kubernetes version used for Capabilities.KubeVersion.
    #[arg(long = "kube-version")]
    pub kube_version: Option<String>,
    /// Kubernetes api versions used for Capabilities.APIVersions (repeatable, comma-separated).
    #[arg(short = 'a', long = "api-versions", value_delimiter = ',')]
    pub api_versions: Vec<String>,
    /// Include CRDs in the templated output.
    #[arg(long = "include-crds")]
    pub include_crds: bool,
    /// Skip tests from templated output.
    #[arg(long = "skip-tests")]
    pub skip_tests: bool,
    /// Only show manifests rendered from the given templates.
    #[arg(short = 's', long = "show-only")]
    pub show_only: Vec<String>,
    /// Release name (alternative to the positional NAME).
    #[arg(long = "release-name")]
    pub release_name: Option<String>,
    /// Prevent hooks from running (and being printed).
    #[arg(long = "no-hooks")]
    pub no_hooks: bool,
    /// Disable JSON schema validation.
    #[arg(long = "skip-schema-validation")]
    pub skip_schema_validation: bool,
    /// Set .Release.IsUpgrade instead of .Release.IsInstall.
    #[arg(long = "is-upgrade")]
    pub is_upgrade: bool,
    /// Accepted for compatibility; CRDs are never installed by `template`.
    #[arg(long = "skip-crds")]
    pub skip_crds: bool,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let (name, chart_path) = match args.names.as_slice() {
        [chart] => (
            args.release_name
                .clone()
                .unwrap_or_else(|| "release-name".to_string()),
            chart.clone(),
        ),
        [name, chart] => (name.clone(), chart.clone()),
        _ => anyhow::bail!("\"ferry template\" requires at least 1 argument: [NAME] CHART"),
    };
    let mut user = UserValues::default();
    for file in &args.values {
        let text = std::fs::read_to_string(file).map_err(|e| anyhow::anyhow!("open {file}: {e}"))?;
        user.files.push((file.clone(), text));
    }
    user.set = args.set;
    user.set_string = args.set_string;
    user.set_json = args.set_json;
    user.set_file = args.set_file;
    user.set_literal = args.set_literal;
    let request = TemplateRequest {
        chart: PathBuf::from(chart_path),
        values: user,
        options: RenderOptions {
            release_name: name,
            namespace: args.namespace,
            kube_version: args.kube_version,
            api_versions: args.api_versions,
            include_crds: args.include_crds,
            skip_tests: args.skip_tests,
            skip_schema_validation: args.skip_schema_validation,
            no_hooks: args.no_hooks,
            is_upgrade: args.is_upgrade,
        },
        show_only: args.show_only,
    };
    let output = ferry_helm::template(&request)?;
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(output.as_bytes())?;
    stdout.flush()?;
    Ok(ExitCode::SUCCESS)
}
