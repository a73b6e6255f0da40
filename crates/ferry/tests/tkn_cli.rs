//! End to end: the `tkn`-style commands (`ferry pipeline|pipelinerun|task|taskrun`, and the
//! binary invoked as `tkn`) against `ferry up`, with the real run controller.
//! The steps that need the local executor's sandbox (user + mount namespaces via
//! `unshare`) are skipped with a notice on machines that cannot create namespaces.

mod common;

use std::path::PathBuf;
use std::process::{Command, Output};
use std::time::Duration;

use common::{Cluster, TempDir};
use serde_json::Value;

const RUN_TIMEOUT: Duration = Duration::from_secs(60);

const OBJECTS: &str = r#"
apiVersion: tekton.dev/v1
kind: Task
metadata:
  name: greet
spec:
  description: Says hello
  params:
    - name: greeting
      type: string
      default: hello
  steps:
    - name: say
      image: alpine
      script: |
        echo "$(params.greeting) from say"
        echo second line
    - name: done
      image: alpine
      script: echo done
---
apiVersion: tekton.dev/v1
kind: Pipeline
metadata:
  name: build
spec:
  params:
    - name: greeting
      type: string
      default: hi
    - name: tags
      type: array
      default: []
  tasks:
    - name: hello
      taskRef:
        name: greet
      params:
        - name: greeting
          value: $(params.greeting)
---
apiVersion: tekton.dev/v1
kind: Task
metadata:
  name: fails
spec:
  steps:
    - name: boom
      image: alpine
      script: |
        echo about to fail
        exit 3
---
apiVersion: tekton.dev/v1
kind: Pipeline
metadata:
  name: idle
spec:
  tasks:
    - name: hello
      taskRef:
        name: greet
"#;

fn sandbox_available() -> bool {
    let works = |args: &[&str]| {
        Command::new("unshare")
            .args(args)
            .arg("true")
            .status()
            .is_ok_and(|s| s.success())
    };
    let available =
        works(&["--mount", "--pid", "--fork", "--map-root-user"]) || works(&["--mount", "--pid", "--fork"]);
    if !available {
        eprintln!("notice: skipping the log checks: `unshare` cannot create mount/pid namespaces here");
    }
    available
}

/// Runs `program args` with the cluster's kubeconfig, without the data dir: logs must be
/// found from the kubeconfig's directory.
fn run_cli(cluster: &Cluster, program: &PathBuf, args: &[&str]) -> Output {
    Command::new(program)
        .args(args)
        .env("KUBECONFIG", cluster.kubeconfig())
        .env("HOME", &cluster.data_dir)
        .env_remove("FERRY_DATA_DIR")
        .output()
        .expect("run the CLI")
}

fn ferry() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_ferry"))
}

/// Runs `ferry args`, failing the test on a non-zero exit; returns stdout.
fn ferry_ok(cluster: &Cluster, args: &[&str]) -> String {
    let out = run_cli(cluster, &ferry(), args);
    assert!(
        out.status.success(),
        "ferry {} failed: {}\n{}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr),
        cluster.log_tail()
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn condition_status(object: &Value) -> String {
    object
        .pointer("/status/conditions")
        .and_then(Value::as_array)
        .and_then(|c| c.iter().find(|c| c["type"] == "Succeeded"))
        .and_then(|c| c["status"].as_str())
        .unwrap_or_default()
        .to_string()
}

fn wait_finished(cluster: &Cluster, resource: &str, name: &str) -> Value {
    let mut last = Value::Null;
    cluster.wait_for(&format!("{resource} {name} to finish"), RUN_TIMEOUT, || {
        let out = cluster.kubectl(&["get", resource, name, "-o", "json"]);
        last = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
        matches!(condition_status(&last).as_str(), "True" | "False")
    });
    last
}

/// The run name in `PipelineRun started: <name>`.
fn started_name(stdout: &str, kind: &str) -> String {
    let prefix = format!("{kind} started: ");
    stdout
        .lines()
        .find_map(|line| line.strip_prefix(&prefix))
        .unwrap_or_else(|| panic!("no {prefix:?} line in {stdout:?}"))
        .trim()
        .to_string()
}

/// The data row of `name` in a table, split on runs of 2+ spaces.
fn row<'a>(table: &'a str, name: &str) -> Vec<&'a str> {
    table
        .lines()
        .find(|line| line.split_whitespace().next() == Some(name))
        .unwrap_or_else(|| panic!("no row {name:?} in\n{table}"))
        .split("  ")
        .map(str::trim)
        .filter(|cell| !cell.is_empty())
        .collect()
}

#[test]
fn tkn_commands_against_the_embedded_cluster() {
    let cluster = Cluster::start("tkn-cli", &[]);
    cluster.apply(OBJECTS);

    // Lists of definitions, before any run.
    let tasks = ferry_ok(&cluster, &["task", "list"]);
    assert_eq!(
        tasks
            .lines()
            .next()
            .map(str::split_whitespace)
            .map(Vec::from_iter),
        Some(vec!["NAME", "DESCRIPTION", "AGE"])
    );
    let greet = row(&tasks, "greet");
    assert_eq!(greet.get(1), Some(&"Says hello"), "{tasks}");
    assert!(greet.get(2).is_some_and(|age| age.ends_with(" ago")), "{tasks}");
    let pipelines = ferry_ok(&cluster, &["pipeline", "list"]);
    assert!(pipelines.starts_with("NAME "), "{pipelines}");
    assert!(
        pipelines.contains("LAST RUN   STARTED   DURATION   STATUS"),
        "{pipelines}"
    );
    assert_eq!(
        row(&pipelines, "idle")[2..],
        ["---", "---", "---", "---"],
        "{pipelines}"
    );
    assert_eq!(ferry_ok(&cluster, &["pr", "list"]), "No PipelineRuns found\n");
    let task_describe = ferry_ok(&cluster, &["task", "describe", "greet"]);
    assert!(
        task_describe.contains("Steps\n\n ∙ say\n ∙ done\n"),
        "{task_describe}"
    );
    assert!(task_describe.contains(" No taskruns\n"), "{task_describe}");
    assert_eq!(
        ferry_ok(&cluster, &["task", "list", "-n", "elsewhere"]),
        "No Tasks found\n"
    );

    // `start` creates a run with the params given and prints tkn's hint.
    let started = ferry_ok(
        &cluster,
        &[
            "pipeline",
            "start",
            "build",
            "-p",
            "greeting=bonjour",
            "-p",
            "tags=a,b",
        ],
    );
    let run_name = started_name(&started, "PipelineRun");
    assert!(run_name.starts_with("build-run-"), "{run_name}");
    assert_eq!(
        started,
        format!(
            "PipelineRun started: {run_name}\n\nIn order to track the PipelineRun progress run:\n\
             ferry pipelinerun logs {run_name} -f -n default\n"
        )
    );
    let created = cluster.get_json(&["pipelinerun", &run_name]);
    assert_eq!(created["spec"]["pipelineRef"]["name"], "build");
    assert_eq!(
        created["spec"]["params"],
        serde_json::json!([{"name": "greeting", "value": "bonjour"}, {"name": "tags", "value": ["a", "b"]}])
    );
    let unknown = run_cli(
        &cluster,
        &ferry(),
        &["pipeline", "start", "build", "-p", "nope=1"],
    );
    assert!(!unknown.status.success());
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("param 'nope' not present in spec"));
    let missing = run_cli(&cluster, &ferry(), &["pipeline", "start", "ghost"]);
    assert!(
        String::from_utf8_lossy(&missing.stderr)
            .contains("Pipeline name ghost does not exist in namespace default")
    );

    // A run of a missing Pipeline fails with the controller's reason.
    cluster.apply(
        "apiVersion: tekton.dev/v1\nkind: PipelineRun\nmetadata: {name: orphan}\nspec: {pipelineRef: {name: ghost}}\n",
    );
    wait_finished(&cluster, "pipelinerun", "orphan");
    let runs = ferry_ok(&cluster, &["pipelinerun", "list"]);
    assert!(runs.starts_with("NAME"), "{runs}");
    assert_eq!(
        row(&runs, "orphan").last(),
        Some(&"Failed(CouldntGetPipeline)"),
        "{runs}"
    );
    let describe = ferry_ok(&cluster, &["pr", "describe", "orphan"]);
    for expected in [
        "Name:              orphan\n",
        "Pipeline Ref:      ghost\n",
        "STARTED",
        "Failed(CouldntGetPipeline)\n",
        "Message\n",
    ] {
        assert!(describe.contains(expected), "missing {expected:?} in\n{describe}");
    }
    let as_json: Value =
        serde_json::from_str(&ferry_ok(&cluster, &["pr", "describe", "orphan", "-o", "json"]))
            .expect("describe -o json prints JSON");
    assert_eq!(as_json["metadata"]["name"], "orphan");

    // Cancelling a pending run sets spec.status, and the controller ends it Cancelled.
    cluster.apply(
        "apiVersion: tekton.dev/v1\nkind: PipelineRun\nmetadata: {name: waiting}\n\
         spec: {pipelineRef: {name: idle}, status: PipelineRunPending}\n",
    );
    cluster.wait_for("the pending run's status", RUN_TIMEOUT, || {
        ferry_ok(&cluster, &["pr", "list"])
            .lines()
            .any(|l| l.starts_with("waiting ") && l.ends_with("Pending"))
    });
    assert_eq!(
        ferry_ok(&cluster, &["pr", "cancel", "waiting"]),
        "PipelineRun cancelled: waiting\n"
    );
    assert_eq!(
        cluster.get_json(&["pipelinerun", "waiting"])["spec"]["status"],
        "Cancelled"
    );
    wait_finished(&cluster, "pipelinerun", "waiting");
    assert_eq!(
        row(&ferry_ok(&cluster, &["pr", "list"]), "waiting").last(),
        Some(&"Cancelled")
    );
    let again = run_cli(&cluster, &ferry(), &["pr", "cancel", "waiting"]);
    assert!(String::from_utf8_lossy(&again.stderr).contains("PipelineRun has already finished execution"));

    // The started run: its status, and its logs once the controller ran the steps.
    let finished = wait_finished(&cluster, "pipelinerun", &run_name);
    if !sandbox_available() {
        return;
    }
    assert_eq!(condition_status(&finished), "True", "{finished}");
    let pipelines = ferry_ok(&cluster, &["pipeline", "list"]);
    let build = row(&pipelines, "build");
    assert_eq!(build.get(2), Some(&run_name.as_str()), "{pipelines}");
    assert_eq!(build.last(), Some(&"Succeeded"), "{pipelines}");
    let idle = row(&pipelines, "idle");
    assert_eq!(
        (idle.get(2), idle.last()),
        (Some(&"waiting"), Some(&"Cancelled")),
        "{pipelines}"
    );
    let describe = ferry_ok(&cluster, &["pipeline", "describe", "build"]);
    assert!(describe.contains(&format!(" ∙ {run_name}")), "{describe}");
    let logs = ferry_ok(&cluster, &["pipelinerun", "logs", &run_name]);
    assert_eq!(
        logs,
        "[hello : say] bonjour from say\n[hello : say] second line\n[hello : done] done\n"
    );

    // Invoked as `tkn`: the same commands without the `ferry` prefix, following a run.
    let bin_dir = TempDir::new("tkn-bin");
    let tkn = bin_dir.0.join("tkn");
    std::os::unix::fs::symlink(ferry(), &tkn).expect("symlink tkn");
    let out = run_cli(
        &cluster,
        &tkn,
        &["task", "start", "greet", "-p", "greeting=hey", "--showlog"],
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let task_run = started_name(&stdout, "TaskRun");
    assert!(task_run.starts_with("greet-run-"), "{task_run}");
    assert!(
        stdout.ends_with(
            "Waiting for logs to be available...\n[say] hey from say\n[say] second line\n[done] done\n"
        ),
        "{stdout}"
    );
    let followed = run_cli(&cluster, &tkn, &["pr", "logs", "-f", &run_name]);
    assert_eq!(String::from_utf8_lossy(&followed.stdout), logs);
    let task_runs = String::from_utf8_lossy(&run_cli(&cluster, &tkn, &["tr", "list"]).stdout).into_owned();
    assert_eq!(
        row(&task_runs, &task_run).last(),
        Some(&"Succeeded"),
        "{task_runs}"
    );
    // -E: the exit code reports the run's outcome.
    let failing = run_cli(&cluster, &tkn, &["task", "start", "fails", "--showlog", "-E"]);
    let failing_out = String::from_utf8_lossy(&failing.stdout);
    assert_eq!(failing.status.code(), Some(1), "{failing_out}");
    assert!(failing_out.ends_with("[boom] about to fail\n"), "{failing_out}");
    let failed_run = started_name(&failing_out, "TaskRun");
    let task_runs =
        String::from_utf8_lossy(&run_cli(&cluster, &tkn, &["tr", "list", "fails"]).stdout).into_owned();
    assert_eq!(
        task_runs.lines().count(),
        2,
        "only the runs of Task fails: {task_runs}"
    );
    assert!(
        row(&task_runs, &failed_run)
            .last()
            .is_some_and(|s| s.starts_with("Failed")),
        "{task_runs}"
    );
    let tr_logs = run_cli(&cluster, &tkn, &["taskrun", "logs", &task_run]);
    assert_eq!(
        String::from_utf8_lossy(&tr_logs.stdout),
        "[say] hey from say\n[say] second line\n[done] done\n"
    );
}
