//! `tkn`-style commands: `ferry pipeline|pipelinerun|task|taskrun …`, also reachable as
//! `tkn …` when the binary is invoked under that name.
//!
//! Objects are read and written through the API server with kube-rs (kubeconfig from
//! `--kubeconfig`, else `$KUBECONFIG`, else `~/.kube/config`), always at the
//! `tekton.dev/v1` endpoint. The CRDs convert nothing, so a body keeps the shape of the
//! version it was created in; the fields shown here are the same in both versions, and
//! the few that differ (service account, timeouts) are read from either place.
//!
//! Step logs: the run controller writes them to files
//! `<data dir>/logs/<namespace>/<taskrun>/<step>.log` and serves them nowhere else, so
//! `logs` reads those files. The data dir is `--data-dir` (or `$FERRY_DATA_DIR`); without
//! it, the directory holding the kubeconfig in use when that directory has a `logs/`
//! (`ferry up --data-dir DIR` writes `DIR/kubeconfig`, which is also the kubeconfig steps
//! get); else `.ferry`, the default data dir of `ferry up`.

pub mod format;
mod logs;

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::{Args, Parser, Subcommand, ValueEnum};
use ferry_pipelines::controller::versions::{TektonKind, api_resource};
use ferry_types::tekton::convert::ApiVersion;
use jiff::Timestamp;
use kube::api::{Api, DynamicObject, ListParams, Patch, PatchParams, PostParams};
use serde_json::{Value, json};

use format::{UNSET, age, param_value_text, run_duration, status_text, str_at, table, timestamp_at};

/// Flags every `tkn`-style command takes.
#[derive(Debug, Clone, Args)]
pub struct GlobalArgs {
    /// Namespace to use (default: the kubeconfig context's, else `default`).
    #[arg(short = 'n', long, global = true)]
    pub namespace: Option<String>,
    /// Kubeconfig file (default: $KUBECONFIG, else ~/.kube/config).
    #[arg(long, global = true)]
    pub kubeconfig: Option<PathBuf>,
    /// The data dir of `ferry up`, where step logs are kept (`<dir>/logs`).
    #[arg(long, global = true, env = "FERRY_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// Disable colour and emoji.
    #[arg(short = 'C', long, global = true)]
    pub no_color: bool,
}

/// Output formats of `-o`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    Json,
    Yaml,
    Name,
}

#[derive(Debug, Clone, Args)]
pub struct ListArgs {
    /// List across all namespaces.
    #[arg(short = 'A', long)]
    pub all_namespaces: bool,
    /// Output format.
    #[arg(short = 'o', long)]
    pub output: Option<OutputFormat>,
    /// Show at most this many runs.
    #[arg(long)]
    pub limit: Option<usize>,
}

#[derive(Debug, Clone, Args)]
pub struct DescribeArgs {
    /// The object to describe.
    pub name: Option<String>,
    /// Describe the most recent run.
    #[arg(short = 'L', long)]
    pub last: bool,
    /// Output format.
    #[arg(short = 'o', long)]
    pub output: Option<OutputFormat>,
}

#[derive(Debug, Clone, Args)]
pub struct StartArgs {
    /// The Pipeline or Task to start.
    pub name: String,
    /// Params: `-p name=value`, `-p arr=a,b`, `-p obj="k:v, k2:v2"`.
    #[arg(short = 'p', long = "param")]
    pub params: Vec<String>,
    /// Workspaces: `-w name=ws,emptyDir=` / `secret=s` / `config=cm` / `claimName=pvc[,subPath=d]`.
    #[arg(short = 'w', long = "workspace")]
    pub workspaces: Vec<String>,
    /// Service account of the run.
    #[arg(short = 's', long)]
    pub serviceaccount: Option<String>,
    /// Labels of the run: `-l k=v`.
    #[arg(short = 'l', long = "labels")]
    pub labels: Vec<String>,
    /// Timeout of the run (`--pipeline-timeout` for pipelines, `--timeout` for tasks).
    #[arg(long = "timeout", alias = "pipeline-timeout")]
    pub timeout: Option<String>,
    /// Prefix of the generated run name (default `<name>-run`).
    #[arg(long)]
    pub prefix_name: Option<String>,
    /// Follow the run's logs once started.
    #[arg(long)]
    pub showlog: bool,
    /// With `--showlog`, exit with the run's outcome: 0 succeeded, 1 failed, 2 not finished.
    #[arg(short = 'E', long = "exit-with-pipelinerun-error")]
    pub exit_with_error: bool,
    /// Print the run instead of creating it.
    #[arg(long)]
    pub dry_run: bool,
    /// Output format of the created run.
    #[arg(short = 'o', long)]
    pub output: Option<OutputFormat>,
}

#[derive(Debug, Clone, Args)]
pub struct LogsArgs {
    /// The run whose logs to print.
    pub name: Option<String>,
    /// Show logs of the most recent run.
    #[arg(short = 'L', long)]
    pub last: bool,
    /// Keep printing as the run progresses, until it finishes.
    #[arg(short = 'f', long)]
    pub follow: bool,
    /// Only these pipeline tasks (`-t a,b`).
    #[arg(short = 't', long = "task", value_delimiter = ',')]
    pub tasks: Vec<String>,
    /// Prefix each line with `[task : step]`.
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    pub prefix: bool,
    /// Exit with the run's outcome: 0 succeeded, 1 failed, 2 not finished.
    #[arg(short = 'E', long = "exit-with-pipelinerun-error")]
    pub exit_with_error: bool,
}

#[derive(Debug, Clone, Args)]
pub struct NameArg {
    pub name: String,
}

#[derive(Debug, Clone, Args)]
pub struct RunListArgs {
    /// Only runs of this Pipeline/Task.
    pub owner: Option<String>,
    #[command(flatten)]
    pub list: ListArgs,
}

#[derive(Debug, Clone, Subcommand)]
pub enum PipelineCommand {
    /// Lists Pipelines with their last run.
    #[command(visible_alias = "ls")]
    List(ListArgs),
    /// Describes a Pipeline: params, tasks and runs.
    #[command(visible_alias = "desc")]
    Describe(DescribeArgs),
    /// Starts a Pipeline: creates a PipelineRun.
    Start(StartArgs),
}

#[derive(Debug, Clone, Subcommand)]
pub enum PipelineRunCommand {
    /// Lists PipelineRuns, newest first.
    #[command(visible_alias = "ls")]
    List(RunListArgs),
    /// Describes a PipelineRun: status, params and TaskRuns.
    #[command(visible_alias = "desc")]
    Describe(DescribeArgs),
    /// Prints the step logs of a PipelineRun, `[task : step]` prefixed.
    Logs(LogsArgs),
    /// Cancels a PipelineRun (`spec.status: Cancelled`).
    Cancel(NameArg),
}

#[derive(Debug, Clone, Subcommand)]
pub enum TaskCommand {
    /// Lists Tasks.
    #[command(visible_alias = "ls")]
    List(ListArgs),
    /// Describes a Task: params, steps and runs.
    #[command(visible_alias = "desc")]
    Describe(DescribeArgs),
    /// Starts a Task: creates a TaskRun.
    Start(StartArgs),
}

#[derive(Debug, Clone, Subcommand)]
pub enum TaskRunCommand {
    /// Lists TaskRuns, newest first.
    #[command(visible_alias = "ls")]
    List(RunListArgs),
    /// Describes a TaskRun: status, params and steps.
    #[command(visible_alias = "desc")]
    Describe(DescribeArgs),
    /// Prints the step logs of a TaskRun, `[step]` prefixed.
    Logs(LogsArgs),
    /// Cancels a TaskRun (`spec.status: TaskRunCancelled`).
    Cancel(NameArg),
}

#[derive(Debug, Clone, Args)]
pub struct PipelineArgs {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: PipelineCommand,
}

#[derive(Debug, Clone, Args)]
pub struct PipelineRunArgs {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: PipelineRunCommand,
}

#[derive(Debug, Clone, Args)]
pub struct TaskArgs {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: TaskCommand,
}

#[derive(Debug, Clone, Args)]
pub struct TaskRunArgs {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: TaskRunCommand,
}

/// The four resources, as `tkn` names them.
#[derive(Debug, Clone, Subcommand)]
pub enum TknCommand {
    /// Manage Pipelines.
    #[command(visible_aliases = ["p", "pipelines"])]
    Pipeline(PipelineArgs),
    /// Manage PipelineRuns.
    #[command(visible_aliases = ["pr", "pipelineruns"])]
    Pipelinerun(PipelineRunArgs),
    /// Manage Tasks.
    #[command(visible_aliases = ["t", "tasks"])]
    Task(TaskArgs),
    /// Manage TaskRuns.
    #[command(visible_aliases = ["tr", "taskruns"])]
    Taskrun(TaskRunArgs),
}

/// Ferry's binary invoked as `tkn`.
#[derive(Debug, Parser)]
#[command(name = "tkn", about = "Tekton-style CLI of Ferry's pipeline runner")]
struct TknCli {
    #[command(subcommand)]
    command: TknCommand,
}

/// Entry point when the binary is invoked as `tkn`.
pub fn run_as_tkn(args: impl IntoIterator<Item = OsString>) -> ExitCode {
    let cli = TknCli::parse_from(args);
    finish(run_with_program(cli.command, "tkn"))
}

/// Entry point of `ferry pipeline|pipelinerun|task|taskrun`.
pub fn run(command: TknCommand) -> anyhow::Result<ExitCode> {
    run_with_program(command, "ferry")
}

fn finish(result: anyhow::Result<ExitCode>) -> ExitCode {
    match result {
        Ok(code) => code,
        Err(err) => {
            eprintln!("Error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn run_with_program(command: TknCommand, program: &'static str) -> anyhow::Result<ExitCode> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(dispatch(command, program))
}

/// A connection to the cluster plus the settings every command shares.
struct Session {
    client: kube::Client,
    namespace: String,
    kubeconfig_path: Option<PathBuf>,
    data_dir: Option<PathBuf>,
    emoji: bool,
    program: &'static str,
}

impl Session {
    async fn connect(global: &GlobalArgs, program: &'static str) -> anyhow::Result<Session> {
        let options = kube::config::KubeConfigOptions::default();
        let (config, kubeconfig_path) = match &global.kubeconfig {
            Some(path) => {
                let kubeconfig = kube::config::Kubeconfig::read_from(path)
                    .with_context(|| format!("reading kubeconfig {}", path.display()))?;
                let config = kube::Config::from_custom_kubeconfig(kubeconfig, &options)
                    .await
                    .with_context(|| format!("loading kubeconfig {}", path.display()))?;
                (config, Some(path.clone()))
            }
            None => {
                let config = kube::Config::from_kubeconfig(&options)
                    .await
                    .context("loading the kubeconfig ($KUBECONFIG or ~/.kube/config)")?;
                (config, default_kubeconfig_path())
            }
        };
        let namespace = global
            .namespace
            .clone()
            .unwrap_or_else(|| config.default_namespace.clone());
        let client = kube::Client::try_from(config).context("creating the API client")?;
        Ok(Session {
            client,
            namespace,
            kubeconfig_path,
            data_dir: global.data_dir.clone(),
            emoji: !global.no_color && std::io::stdout().is_terminal(),
            program,
        })
    }

    fn api(&self, kind: TektonKind, all_namespaces: bool) -> Api<DynamicObject> {
        let resource = api_resource(kind, ApiVersion::V1);
        if all_namespaces {
            Api::all_with(self.client.clone(), &resource)
        } else {
            Api::namespaced_with(self.client.clone(), &self.namespace, &resource)
        }
    }

    async fn list(
        &self,
        kind: TektonKind,
        all_namespaces: bool,
        labels: Option<&str>,
    ) -> anyhow::Result<Vec<Value>> {
        let mut params = ListParams::default();
        if let Some(labels) = labels {
            params = params.labels(labels);
        }
        let list = self
            .api(kind, all_namespaces)
            .list(&params)
            .await
            .with_context(|| format!("listing {}s in namespace {}", kind.kind(), self.namespace))?;
        list.items
            .into_iter()
            .map(|item| serde_json::to_value(item).context("encoding an object"))
            .collect()
    }

    async fn get(&self, kind: TektonKind, name: &str) -> anyhow::Result<Value> {
        match self.api(kind, false).get_opt(name).await {
            Ok(Some(object)) => serde_json::to_value(object).context("encoding an object"),
            Ok(None) => bail!(
                "{} name {name} does not exist in namespace {}",
                kind.kind(),
                self.namespace
            ),
            Err(err) => Err(err).with_context(|| format!("reading {} {name}", kind.kind())),
        }
    }

    /// The run named, or with `--last` the most recently created one.
    async fn run_name(&self, kind: TektonKind, name: Option<&str>, last: bool) -> anyhow::Result<String> {
        if let Some(name) = name {
            return Ok(name.to_string());
        }
        if !last {
            bail!("a {} name is required (or --last)", kind.kind());
        }
        let mut runs = self.list(kind, false, None).await?;
        sort_newest_first(&mut runs);
        runs.first()
            .map(|run| str_at(run, "/metadata/name").to_string())
            .with_context(|| format!("No {}s found in namespace {}", kind.kind(), self.namespace))
    }

    /// Where step logs are: see the module documentation.
    fn logs_dir(&self) -> PathBuf {
        logs_dir_candidates(self.data_dir.as_deref(), self.kubeconfig_path.as_deref())
            .into_iter()
            .find(|dir| dir.is_dir())
            .unwrap_or_else(|| PathBuf::from(".ferry/logs"))
    }
}

/// `$KUBECONFIG`'s first file, else `~/.kube/config`.
fn default_kubeconfig_path() -> Option<PathBuf> {
    if let Some(list) = std::env::var_os("KUBECONFIG") {
        return std::env::split_paths(&list).find(|p| !p.as_os_str().is_empty());
    }
    std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".kube/config"))
}

/// Log directories to try, in order: the data dir given, the kubeconfig's directory.
fn logs_dir_candidates(data_dir: Option<&Path>, kubeconfig: Option<&Path>) -> Vec<PathBuf> {
    let mut candidates = Vec::new();
    if let Some(dir) = data_dir {
        candidates.push(dir.join("logs"));
    }
    if let Some(parent) = kubeconfig.and_then(Path::parent) {
        let parent = if parent.as_os_str().is_empty() {
            Path::new(".")
        } else {
            parent
        };
        candidates.push(parent.join("logs"));
    }
    candidates
}

/// Newest first by start time (runs not started yet first), then creation time.
fn sort_newest_first(runs: &mut [Value]) {
    runs.sort_by_key(|run| {
        std::cmp::Reverse((
            timestamp_at(run, "/status/startTime").map_or(i128::MAX, |t| t.as_nanosecond()),
            timestamp_at(run, "/metadata/creationTimestamp").map_or(0, |t| t.as_nanosecond()),
        ))
    });
}

async fn dispatch(command: TknCommand, program: &'static str) -> anyhow::Result<ExitCode> {
    match command {
        TknCommand::Pipeline(args) => {
            let session = Session::connect(&args.global, program).await?;
            match args.command {
                PipelineCommand::List(list) => pipeline_list(&session, &list).await,
                PipelineCommand::Describe(describe) => {
                    definition_describe(&session, TektonKind::Pipeline, &describe).await
                }
                PipelineCommand::Start(start) => start_run(&session, TektonKind::Pipeline, &start).await,
            }
        }
        TknCommand::Pipelinerun(args) => {
            let session = Session::connect(&args.global, program).await?;
            match args.command {
                PipelineRunCommand::List(list) => run_list(&session, TektonKind::PipelineRun, &list).await,
                PipelineRunCommand::Describe(describe) => {
                    run_describe(&session, TektonKind::PipelineRun, &describe).await
                }
                PipelineRunCommand::Logs(logs) => {
                    logs::run_logs(&session, TektonKind::PipelineRun, &logs).await
                }
                PipelineRunCommand::Cancel(name) => {
                    cancel(&session, TektonKind::PipelineRun, &name.name).await
                }
            }
        }
        TknCommand::Task(args) => {
            let session = Session::connect(&args.global, program).await?;
            match args.command {
                TaskCommand::List(list) => task_list(&session, &list).await,
                TaskCommand::Describe(describe) => {
                    definition_describe(&session, TektonKind::Task, &describe).await
                }
                TaskCommand::Start(start) => start_run(&session, TektonKind::Task, &start).await,
            }
        }
        TknCommand::Taskrun(args) => {
            let session = Session::connect(&args.global, program).await?;
            match args.command {
                TaskRunCommand::List(list) => run_list(&session, TektonKind::TaskRun, &list).await,
                TaskRunCommand::Describe(describe) => {
                    run_describe(&session, TektonKind::TaskRun, &describe).await
                }
                TaskRunCommand::Logs(logs) => logs::run_logs(&session, TektonKind::TaskRun, &logs).await,
                TaskRunCommand::Cancel(name) => cancel(&session, TektonKind::TaskRun, &name.name).await,
            }
        }
    }
}

/// Prints objects as `-o json|yaml|name` asks; `list_kind` wraps several in a List.
fn print_structured(objects: &[Value], list_kind: Option<&str>, format: OutputFormat) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    if format == OutputFormat::Name {
        for object in objects {
            let kind = str_at(object, "/kind").to_lowercase();
            writeln!(out, "{kind}.tekton.dev/{}", str_at(object, "/metadata/name"))?;
        }
        return Ok(());
    }
    let document = match (list_kind, objects) {
        (None, [single]) => single.clone(),
        (kind, items) => json!({
            "apiVersion": "tekton.dev/v1",
            "kind": kind.unwrap_or("List"),
            "items": items,
            "metadata": {},
        }),
    };
    match format {
        OutputFormat::Json => writeln!(out, "{}", serde_json::to_string_pretty(&document)?)?,
        _ => write!(out, "{}", serde_saphyr::to_string(&document)?)?,
    }
    Ok(())
}

fn print_text(text: &str) -> anyhow::Result<ExitCode> {
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())?;
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

/// Adds a NAMESPACE column in front with `-A`.
fn with_namespace(all_namespaces: bool, object: &Value, row: Vec<String>) -> Vec<String> {
    if all_namespaces {
        let mut full = vec![str_at(object, "/metadata/namespace").to_string()];
        full.extend(row);
        full
    } else {
        row
    }
}

fn headers_for(all_namespaces: bool, headers: &[&'static str]) -> Vec<&'static str> {
    let mut full = Vec::new();
    if all_namespaces {
        full.push("NAMESPACE");
    }
    full.extend_from_slice(headers);
    full
}

async fn task_list(session: &Session, args: &ListArgs) -> anyhow::Result<ExitCode> {
    let mut tasks = session.list(TektonKind::Task, args.all_namespaces, None).await?;
    tasks.sort_by(|a, b| str_at(a, "/metadata/name").cmp(str_at(b, "/metadata/name")));
    if let Some(format) = args.output {
        print_structured(&tasks, Some("TaskList"), format)?;
        return Ok(ExitCode::SUCCESS);
    }
    let text = task_list_text(&tasks, args.all_namespaces, Timestamp::now());
    print_text(&text)
}

/// `tkn task list`: `NAME  DESCRIPTION  AGE`.
fn task_list_text(tasks: &[Value], all_namespaces: bool, now: Timestamp) -> String {
    if tasks.is_empty() {
        return "No Tasks found\n".to_string();
    }
    let headers = ["NAME", "DESCRIPTION", "AGE"];
    let rows: Vec<Vec<String>> = tasks
        .iter()
        .map(|task| {
            let row = vec![
                str_at(task, "/metadata/name").to_string(),
                truncate(
                    str_at(task, "/spec/description")
                        .lines()
                        .next()
                        .unwrap_or_default(),
                    20,
                ),
                age(timestamp_at(task, "/metadata/creationTimestamp"), now),
            ];
            with_namespace(all_namespaces, task, row)
        })
        .collect();
    table(&headers_for(all_namespaces, &headers), &rows)
}

/// tkn cuts descriptions to 20 characters with `...`.
fn truncate(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        text.to_string()
    } else {
        let kept: String = text.chars().take(max.saturating_sub(3)).collect();
        format!("{kept}...")
    }
}

async fn pipeline_list(session: &Session, args: &ListArgs) -> anyhow::Result<ExitCode> {
    let mut pipelines = session
        .list(TektonKind::Pipeline, args.all_namespaces, None)
        .await?;
    pipelines.sort_by(|a, b| str_at(a, "/metadata/name").cmp(str_at(b, "/metadata/name")));
    if let Some(format) = args.output {
        print_structured(&pipelines, Some("PipelineList"), format)?;
        return Ok(ExitCode::SUCCESS);
    }
    let runs = session
        .list(TektonKind::PipelineRun, args.all_namespaces, None)
        .await?;
    print_text(&pipeline_list_text(
        &pipelines,
        &runs,
        args.all_namespaces,
        Timestamp::now(),
    ))
}

/// The Pipeline a run belongs to: its `tekton.dev/pipeline` label, else its `pipelineRef`.
fn run_pipeline_name(run: &Value) -> &str {
    let label = str_at(run, "/metadata/labels/tekton.dev~1pipeline");
    if label.is_empty() {
        str_at(run, "/spec/pipelineRef/name")
    } else {
        label
    }
}

/// The Task a TaskRun belongs to: its `tekton.dev/task` label, else its `taskRef`.
fn run_task_name(run: &Value) -> &str {
    let label = str_at(run, "/metadata/labels/tekton.dev~1task");
    if label.is_empty() {
        str_at(run, "/spec/taskRef/name")
    } else {
        label
    }
}

/// `tkn pipeline list`: `NAME  AGE  LAST RUN  STARTED  DURATION  STATUS`.
fn pipeline_list_text(pipelines: &[Value], runs: &[Value], all_namespaces: bool, now: Timestamp) -> String {
    if pipelines.is_empty() {
        return "No Pipelines found\n".to_string();
    }
    let headers = ["NAME", "AGE", "LAST RUN", "STARTED", "DURATION", "STATUS"];
    let rows: Vec<Vec<String>> = pipelines
        .iter()
        .map(|pipeline| {
            let name = str_at(pipeline, "/metadata/name");
            let namespace = str_at(pipeline, "/metadata/namespace");
            let mut own: Vec<Value> = runs
                .iter()
                .filter(|run| {
                    run_pipeline_name(run) == name && str_at(run, "/metadata/namespace") == namespace
                })
                .cloned()
                .collect();
            sort_newest_first(&mut own);
            let mut row = vec![
                name.to_string(),
                age(timestamp_at(pipeline, "/metadata/creationTimestamp"), now),
            ];
            match own.first() {
                Some(last) => row.extend([
                    str_at(last, "/metadata/name").to_string(),
                    age(timestamp_at(last, "/status/startTime"), now),
                    run_duration(
                        timestamp_at(last, "/status/startTime"),
                        timestamp_at(last, "/status/completionTime"),
                    ),
                    status_text(last),
                ]),
                None => row.extend(std::iter::repeat_n(UNSET.to_string(), 4)),
            }
            with_namespace(all_namespaces, pipeline, row)
        })
        .collect();
    table(&headers_for(all_namespaces, &headers), &rows)
}

async fn run_list(session: &Session, kind: TektonKind, args: &RunListArgs) -> anyhow::Result<ExitCode> {
    let owner_of = match kind {
        TektonKind::PipelineRun => run_pipeline_name,
        _ => run_task_name,
    };
    let mut runs: Vec<Value> = session
        .list(kind, args.list.all_namespaces, None)
        .await?
        .into_iter()
        .filter(|run| args.owner.as_deref().is_none_or(|owner| owner_of(run) == owner))
        .collect();
    sort_newest_first(&mut runs);
    if let Some(limit) = args.list.limit {
        runs.truncate(limit);
    }
    if let Some(format) = args.list.output {
        print_structured(&runs, Some(&format!("{}List", kind.kind())), format)?;
        return Ok(ExitCode::SUCCESS);
    }
    print_text(&run_list_text(
        kind,
        &runs,
        args.list.all_namespaces,
        Timestamp::now(),
    ))
}

/// `tkn pr list` / `tkn tr list`: `NAME  STARTED  DURATION  STATUS`.
fn run_list_text(kind: TektonKind, runs: &[Value], all_namespaces: bool, now: Timestamp) -> String {
    if runs.is_empty() {
        return format!("No {}s found\n", kind.kind());
    }
    let headers = ["NAME", "STARTED", "DURATION", "STATUS"];
    let rows: Vec<Vec<String>> = runs
        .iter()
        .map(|run| {
            let row = vec![
                str_at(run, "/metadata/name").to_string(),
                age(timestamp_at(run, "/status/startTime"), now),
                run_duration(
                    timestamp_at(run, "/status/startTime"),
                    timestamp_at(run, "/status/completionTime"),
                ),
                status_text(run),
            ];
            with_namespace(all_namespaces, run, row)
        })
        .collect();
    table(&headers_for(all_namespaces, &headers), &rows)
}

/// `pipeline describe` / `task describe`: the definition and its runs.
async fn definition_describe(
    session: &Session,
    kind: TektonKind,
    args: &DescribeArgs,
) -> anyhow::Result<ExitCode> {
    let Some(name) = args.name.as_deref() else {
        bail!("a {} name is required", kind.kind());
    };
    let pipeline = session.get(kind, name).await?;
    if let Some(format) = args.output {
        print_structured(std::slice::from_ref(&pipeline), None, format)?;
        return Ok(ExitCode::SUCCESS);
    }
    // Filtered here rather than by label: a run carries `tekton.dev/pipeline` only once
    // the controller has labelled it, while its `pipelineRef` is there from the start.
    let (run_kind, owner_of): (TektonKind, fn(&Value) -> &str) = match kind {
        TektonKind::Task => (TektonKind::TaskRun, run_task_name),
        _ => (TektonKind::PipelineRun, run_pipeline_name),
    };
    let mut runs: Vec<Value> = session
        .list(run_kind, false, None)
        .await?
        .into_iter()
        .filter(|run| owner_of(run) == name)
        .collect();
    sort_newest_first(&mut runs);
    print_text(&definition_describe_text(
        session.emoji,
        kind,
        &pipeline,
        &runs,
        Timestamp::now(),
    ))
}

/// Indented `key: value` lines of a map (labels, annotations), or ` ---`.
fn map_lines(object: &Value, pointer: &str) -> String {
    match object.pointer(pointer).and_then(Value::as_object) {
        Some(map) if !map.is_empty() => map
            .iter()
            .map(|(k, v)| format!(" {k}={}\n", param_value_text(v)))
            .collect(),
        _ => " ---\n".to_string(),
    }
}

/// A bulleted table (`∙ ` before the first cell, one leading space) as tkn describe prints.
fn bullet_table(headers: &[&str], rows: Vec<Vec<String>>) -> String {
    let headers: Vec<String> = headers
        .iter()
        .enumerate()
        .map(|(i, h)| if i == 0 { format!(" {h}") } else { h.to_string() })
        .collect();
    let header_refs: Vec<&str> = headers.iter().map(String::as_str).collect();
    let rows: Vec<Vec<String>> = rows
        .into_iter()
        .map(|mut row| {
            if let Some(first) = row.first_mut() {
                *first = format!(" ∙ {first}");
            }
            row
        })
        .collect();
    table(&header_refs, &rows)
}

/// `tkn pipeline describe` / `tkn task describe`.
fn definition_describe_text(
    emoji: bool,
    kind: TektonKind,
    pipeline: &Value,
    runs: &[Value],
    now: Timestamp,
) -> String {
    let section = |icon: &str, title: &str| {
        if emoji {
            format!("{icon} {title}")
        } else {
            title.to_string()
        }
    };
    let mut out = String::new();
    out.push_str(&format!("Name:        {}\n", str_at(pipeline, "/metadata/name")));
    out.push_str(&format!(
        "Namespace:   {}\n",
        str_at(pipeline, "/metadata/namespace")
    ));
    let description = str_at(pipeline, "/spec/description");
    if !description.is_empty() {
        out.push_str(&format!("Description: {description}\n"));
    }

    out.push_str(&format!("\n{}\n\n", section("⚓", "Params")));
    let params = array_at(pipeline, "/spec/params");
    if params.is_empty() {
        out.push_str(" No params\n");
    } else {
        let rows = params
            .iter()
            .map(|p| {
                vec![
                    str_at(p, "/name").to_string(),
                    non_empty_or(str_at(p, "/type"), "string"),
                    non_empty_or(str_at(p, "/description"), UNSET),
                    p.get("default").map_or(UNSET.to_string(), param_value_text),
                ]
            })
            .collect();
        out.push_str(&bullet_table(
            &["NAME", "TYPE", "DESCRIPTION", "DEFAULT VALUE"],
            rows,
        ));
    }

    let results = array_at(pipeline, "/spec/results");
    if !results.is_empty() {
        out.push_str(&format!("\n{}\n\n", section("📝", "Results")));
        let rows = results
            .iter()
            .map(|r| {
                vec![
                    str_at(r, "/name").to_string(),
                    non_empty_or(str_at(r, "/description"), UNSET),
                ]
            })
            .collect();
        out.push_str(&bullet_table(&["NAME", "DESCRIPTION"], rows));
    }

    let workspaces = array_at(pipeline, "/spec/workspaces");
    if !workspaces.is_empty() {
        out.push_str(&format!("\n{}\n\n", section("📂", "Workspaces")));
        let rows = workspaces
            .iter()
            .map(|w| {
                vec![
                    str_at(w, "/name").to_string(),
                    non_empty_or(str_at(w, "/description"), UNSET),
                    w.get("optional")
                        .and_then(Value::as_bool)
                        .unwrap_or(false)
                        .to_string(),
                ]
            })
            .collect();
        out.push_str(&bullet_table(&["NAME", "DESCRIPTION", "OPTIONAL"], rows));
    }

    if kind == TektonKind::Task {
        out.push_str(&format!("\n{}\n\n", section("🦶", "Steps")));
        let steps = array_at(pipeline, "/spec/steps");
        if steps.is_empty() {
            out.push_str(" No steps\n");
        }
        for (index, step) in steps.iter().enumerate() {
            let name = non_empty_or(str_at(step, "/name"), &format!("unnamed-{index}"));
            out.push_str(&format!(" ∙ {name}\n"));
        }
    }
    let tasks = array_at(pipeline, "/spec/tasks");
    if kind == TektonKind::Task {
    } else if tasks.is_empty() {
        out.push_str(&format!("\n{}\n\n", section("🗒 ", "Tasks")));
        out.push_str(" No tasks\n");
    } else {
        out.push_str(&format!("\n{}\n\n", section("🗒 ", "Tasks")));
        out.push_str(&bullet_table(
            &["NAME", "TASKREF", "RUNAFTER", "TIMEOUT"],
            pipeline_task_rows(tasks),
        ));
    }
    let finally = array_at(pipeline, "/spec/finally");
    if !finally.is_empty() {
        out.push_str(&format!("\n{}\n\n", section("🗒 ", "Finally Tasks")));
        out.push_str(&bullet_table(
            &["NAME", "TASKREF", "RUNAFTER", "TIMEOUT"],
            pipeline_task_rows(finally),
        ));
    }

    let (icon, runs_title) = match kind {
        TektonKind::Task => ("🗂 ", "TaskRuns"),
        _ => ("⛩ ", "PipelineRuns"),
    };
    out.push_str(&format!("\n{}\n\n", section(icon, runs_title)));
    if runs.is_empty() {
        out.push_str(&format!(" No {}\n", runs_title.to_lowercase()));
    } else {
        let rows = runs
            .iter()
            .map(|run| {
                vec![
                    str_at(run, "/metadata/name").to_string(),
                    age(timestamp_at(run, "/status/startTime"), now),
                    run_duration(
                        timestamp_at(run, "/status/startTime"),
                        timestamp_at(run, "/status/completionTime"),
                    ),
                    status_text(run),
                ]
            })
            .collect();
        out.push_str(&bullet_table(&["NAME", "STARTED", "DURATION", "STATUS"], rows));
    }
    out
}

fn pipeline_task_rows(tasks: &[Value]) -> Vec<Vec<String>> {
    tasks
        .iter()
        .map(|t| {
            let run_after: Vec<&str> = array_at(t, "/runAfter")
                .iter()
                .filter_map(Value::as_str)
                .collect();
            let task_ref = match str_at(t, "/taskRef/name") {
                "" if t.get("taskSpec").is_some() => "(embedded)".to_string(),
                name => non_empty_or(name, UNSET),
            };
            vec![
                str_at(t, "/name").to_string(),
                task_ref,
                non_empty_or(&run_after.join(", "), UNSET),
                non_empty_or(str_at(t, "/timeout"), UNSET),
            ]
        })
        .collect()
}

fn array_at<'a>(object: &'a Value, pointer: &str) -> &'a [Value] {
    object
        .pointer(pointer)
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}

fn non_empty_or(text: &str, fallback: &str) -> String {
    if text.is_empty() {
        fallback.to_string()
    } else {
        text.to_string()
    }
}

async fn run_describe(session: &Session, kind: TektonKind, args: &DescribeArgs) -> anyhow::Result<ExitCode> {
    let name = session.run_name(kind, args.name.as_deref(), args.last).await?;
    let run = session.get(kind, &name).await?;
    if let Some(format) = args.output {
        print_structured(std::slice::from_ref(&run), None, format)?;
        return Ok(ExitCode::SUCCESS);
    }
    let children = if kind == TektonKind::PipelineRun {
        let mut children = session
            .list(
                TektonKind::TaskRun,
                false,
                Some(&format!("tekton.dev/pipelineRun={name}")),
            )
            .await?;
        sort_newest_first(&mut children);
        children
    } else {
        Vec::new()
    };
    print_text(&run_describe_text(
        session.emoji,
        kind,
        &run,
        &children,
        Timestamp::now(),
    ))
}

/// `tkn pr describe` / `tkn tr describe`.
fn run_describe_text(
    emoji: bool,
    kind: TektonKind,
    run: &Value,
    children: &[Value],
    now: Timestamp,
) -> String {
    let section = |icon: &str, title: &str| {
        if emoji {
            format!("{icon} {title}")
        } else {
            title.to_string()
        }
    };
    let mut out = String::new();
    let service_account = [
        "/spec/taskRunTemplate/serviceAccountName",
        "/spec/serviceAccountName",
    ]
    .iter()
    .map(|p| str_at(run, p))
    .find(|s| !s.is_empty())
    .unwrap_or("default");
    let mut header = vec![
        ("Name:", str_at(run, "/metadata/name").to_string()),
        ("Namespace:", str_at(run, "/metadata/namespace").to_string()),
    ];
    match kind {
        TektonKind::PipelineRun => {
            header.push(("Pipeline Ref:", non_empty_or(run_pipeline_name(run), UNSET)))
        }
        _ => header.push(("Task Ref:", non_empty_or(run_task_name(run), UNSET))),
    }
    header.push(("Service Account:", service_account.to_string()));
    let width = header.iter().map(|(k, _)| k.len()).max().unwrap_or(0) + 3;
    for (key, value) in header {
        out.push_str(&format!("{key:<width$}{value}\n"));
    }
    out.push_str("\nLabels:\n");
    out.push_str(&map_lines(run, "/metadata/labels"));

    out.push_str(&format!("\n{}\n\n", section("🌡️ ", "Status")));
    let start = timestamp_at(run, "/status/startTime");
    let end = timestamp_at(run, "/status/completionTime");
    out.push_str(&table(
        &["STARTED", "DURATION", "STATUS"],
        &[vec![age(start, now), run_duration(start, end), status_text(run)]],
    ));
    if let Some(message) = format::condition_message(run) {
        out.push_str(&format!("\n{}\n\n{message}\n", section("💌", "Message")));
    }

    let timeouts: Vec<(&str, &str)> = [
        ("Pipeline:", "/spec/timeouts/pipeline"),
        ("Pipeline:", "/spec/timeout"),
        ("Tasks:", "/spec/timeouts/tasks"),
        ("Finally:", "/spec/timeouts/finally"),
    ]
    .into_iter()
    .map(|(label, pointer)| (label, str_at(run, pointer)))
    .filter(|(_, value)| !value.is_empty())
    .collect();
    if !timeouts.is_empty() {
        out.push_str(&format!("\n{}\n", section("⏱ ", "Timeouts")));
        for (label, value) in timeouts {
            out.push_str(&format!(" {label:<10}{value}\n"));
        }
    }

    out.push_str(&format!("\n{}\n\n", section("⚓", "Params")));
    let params = array_at(run, "/spec/params");
    if params.is_empty() {
        out.push_str(" No params\n");
    } else {
        let rows = params
            .iter()
            .map(|p| {
                vec![
                    str_at(p, "/name").to_string(),
                    p.get("value").map_or(UNSET.to_string(), param_value_text),
                ]
            })
            .collect();
        out.push_str(&bullet_table(&["NAME", "VALUE"], rows));
    }

    let results = match kind {
        TektonKind::PipelineRun => [
            array_at(run, "/status/results"),
            array_at(run, "/status/pipelineResults"),
        ]
        .concat(),
        _ => [
            array_at(run, "/status/results"),
            array_at(run, "/status/taskResults"),
        ]
        .concat(),
    };
    if !results.is_empty() {
        out.push_str(&format!("\n{}\n\n", section("📝", "Results")));
        let rows = results
            .iter()
            .map(|r| {
                vec![
                    str_at(r, "/name").to_string(),
                    r.get("value")
                        .map_or(UNSET.to_string(), |v| param_value_text(v).trim_end().to_string()),
                ]
            })
            .collect();
        out.push_str(&bullet_table(&["NAME", "VALUE"], rows));
    }

    let workspaces = array_at(run, "/spec/workspaces");
    if !workspaces.is_empty() {
        out.push_str(&format!("\n{}\n\n", section("📂", "Workspaces")));
        let rows = workspaces
            .iter()
            .map(|w| {
                let binding = [
                    "emptyDir",
                    "secret",
                    "configMap",
                    "persistentVolumeClaim",
                    "volumeClaimTemplate",
                ]
                .into_iter()
                .find(|key| w.get(*key).is_some())
                .map_or(UNSET.to_string(), |key| {
                    let detail = w.get(key).map(Value::to_string).unwrap_or_default();
                    format!("{key} ({detail})")
                });
                vec![
                    str_at(w, "/name").to_string(),
                    non_empty_or(str_at(w, "/subPath"), UNSET),
                    binding,
                ]
            })
            .collect();
        out.push_str(&bullet_table(&["NAME", "SUB PATH", "WORKSPACE BINDING"], rows));
    }

    match kind {
        TektonKind::PipelineRun => {
            out.push_str(&format!("\n{}\n\n", section("🗂 ", "Taskruns")));
            if children.is_empty() {
                out.push_str(" No taskruns\n");
            } else {
                let rows = children
                    .iter()
                    .map(|tr| {
                        let start = timestamp_at(tr, "/status/startTime");
                        vec![
                            str_at(tr, "/metadata/name").to_string(),
                            non_empty_or(str_at(tr, "/metadata/labels/tekton.dev~1pipelineTask"), UNSET),
                            age(start, now),
                            run_duration(start, timestamp_at(tr, "/status/completionTime")),
                            status_text(tr),
                        ]
                    })
                    .collect();
                out.push_str(&bullet_table(
                    &["NAME", "TASK NAME", "STARTED", "DURATION", "STATUS"],
                    rows,
                ));
            }
            let skipped = array_at(run, "/status/skippedTasks");
            if !skipped.is_empty() {
                out.push_str(&format!("\n{}\n\n", section("⏭️ ", "Skipped Tasks")));
                let rows = skipped
                    .iter()
                    .map(|s| {
                        vec![
                            str_at(s, "/name").to_string(),
                            non_empty_or(str_at(s, "/reason"), UNSET),
                        ]
                    })
                    .collect();
                out.push_str(&bullet_table(&["NAME", "REASON"], rows));
            }
        }
        _ => {
            out.push_str(&format!("\n{}\n\n", section("🦶", "Steps")));
            let steps = array_at(run, "/status/steps");
            if steps.is_empty() {
                out.push_str(" No steps\n");
            } else {
                let rows = steps
                    .iter()
                    .map(|s| vec![str_at(s, "/name").to_string(), step_status(s)])
                    .collect();
                out.push_str(&bullet_table(&["NAME", "STATUS"], rows));
            }
        }
    }
    out
}

/// A step's state as tkn prints it: the terminated reason, `Running`, `Waiting`, or `---`.
fn step_status(step: &Value) -> String {
    if let Some(terminated) = step.get("terminated") {
        return non_empty_or(str_at(terminated, "/reason"), "Completed");
    }
    if step.get("running").is_some() {
        return "Running".to_string();
    }
    if step.get("waiting").is_some() {
        return non_empty_or(str_at(step, "/waiting/reason"), "Waiting");
    }
    UNSET.to_string()
}

/// The run `start` creates (`generateName: <name>-run-`, or `<prefix>-`).
fn build_run(
    kind: TektonKind,
    name: &str,
    namespace: &str,
    args: &StartArgs,
    declared: &BTreeMap<String, String>,
) -> anyhow::Result<Value> {
    let params = args
        .params
        .iter()
        .map(|arg| {
            format::parse_param(arg, declared).map(|(name, value)| json!({"name": name, "value": value}))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let workspaces = args
        .workspaces
        .iter()
        .map(|arg| format::parse_workspace(arg))
        .collect::<Result<Vec<_>, _>>()?;
    let mut labels = serde_json::Map::new();
    for label in &args.labels {
        let (key, value) = label
            .split_once('=')
            .with_context(|| format!("invalid label {label:?} (expected KEY=VALUE)"))?;
        labels.insert(key.to_string(), json!(value));
    }
    let prefix = args.prefix_name.clone().unwrap_or_else(|| format!("{name}-run"));
    let mut metadata = json!({"generateName": format!("{prefix}-"), "namespace": namespace});
    if !labels.is_empty() {
        metadata["labels"] = Value::Object(labels);
    }
    let mut spec = serde_json::Map::new();
    let (run_kind, reference) = match kind {
        TektonKind::Pipeline => ("PipelineRun", "pipelineRef"),
        _ => ("TaskRun", "taskRef"),
    };
    spec.insert(reference.into(), json!({"name": name}));
    if !params.is_empty() {
        spec.insert("params".into(), Value::Array(params));
    }
    if !workspaces.is_empty() {
        spec.insert("workspaces".into(), Value::Array(workspaces));
    }
    match (kind, &args.serviceaccount) {
        (TektonKind::Pipeline, Some(sa)) => {
            spec.insert("taskRunTemplate".into(), json!({"serviceAccountName": sa}));
        }
        (_, Some(sa)) => {
            spec.insert("serviceAccountName".into(), json!(sa));
        }
        _ => {}
    }
    match (kind, &args.timeout) {
        (TektonKind::Pipeline, Some(timeout)) => {
            spec.insert("timeouts".into(), json!({"pipeline": timeout}));
        }
        (_, Some(timeout)) => {
            spec.insert("timeout".into(), json!(timeout));
        }
        _ => {}
    }
    Ok(json!({
        "apiVersion": "tekton.dev/v1",
        "kind": run_kind,
        "metadata": metadata,
        "spec": Value::Object(spec),
    }))
}

async fn start_run(session: &Session, kind: TektonKind, args: &StartArgs) -> anyhow::Result<ExitCode> {
    let target = session.get(kind, &args.name).await?;
    let declared: BTreeMap<String, String> = array_at(&target, "/spec/params")
        .iter()
        .map(|p| {
            (
                str_at(p, "/name").to_string(),
                non_empty_or(str_at(p, "/type"), "string"),
            )
        })
        .collect();
    let run = build_run(kind, &args.name, &session.namespace, args, &declared)?;
    if args.dry_run {
        print_structured(
            std::slice::from_ref(&run),
            None,
            args.output.unwrap_or(OutputFormat::Yaml),
        )?;
        return Ok(ExitCode::SUCCESS);
    }
    let run_kind = match kind {
        TektonKind::Pipeline => TektonKind::PipelineRun,
        _ => TektonKind::TaskRun,
    };
    let object: DynamicObject = serde_json::from_value(run).context("building the run")?;
    let created = session
        .api(run_kind, false)
        .create(&PostParams::default(), &object)
        .await
        .with_context(|| format!("creating a {} of {}", run_kind.kind(), args.name))?;
    let created = serde_json::to_value(created).context("encoding the created run")?;
    let created_name = str_at(&created, "/metadata/name").to_string();
    if let Some(format) = args.output {
        print_structured(std::slice::from_ref(&created), None, format)?;
        return Ok(ExitCode::SUCCESS);
    }
    let resource = match run_kind {
        TektonKind::PipelineRun => "pipelinerun",
        _ => "taskrun",
    };
    if args.showlog {
        println!("{} started: {created_name}", run_kind.kind());
        println!("Waiting for logs to be available...");
        let logs = LogsArgs {
            name: Some(created_name),
            last: false,
            follow: true,
            tasks: Vec::new(),
            prefix: true,
            exit_with_error: args.exit_with_error,
        };
        return logs::run_logs(session, run_kind, &logs).await;
    }
    print_text(&format!(
        "{kind} started: {created_name}\n\nIn order to track the {kind} progress run:\n{program} {resource} logs {created_name} -f -n {namespace}\n",
        kind = run_kind.kind(),
        program = session.program,
        namespace = session.namespace,
    ))
}

/// The `spec.status` value that cancels a run.
fn cancel_status(kind: TektonKind) -> &'static str {
    match kind {
        TektonKind::PipelineRun => "Cancelled",
        _ => "TaskRunCancelled",
    }
}

async fn cancel(session: &Session, kind: TektonKind, name: &str) -> anyhow::Result<ExitCode> {
    let run = session.get(kind, name).await?;
    if format::is_done(&run) {
        bail!(
            "failed to cancel {kind} {name}: {kind} has already finished execution",
            kind = kind.kind()
        );
    }
    let patch = json!({"spec": {"status": cancel_status(kind)}});
    session
        .api(kind, false)
        .patch(name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .with_context(|| format!("failed to cancel {} {name}", kind.kind()))?;
    print_text(&format!("{} cancelled: {name}\n", kind.kind()))
}

#[cfg(test)]
mod tests;
