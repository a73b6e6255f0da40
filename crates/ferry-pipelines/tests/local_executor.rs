//! The local executor, end to end: real sandboxed processes (needs `unshare` with mount
//! and PID namespaces, i.e. root or unprivileged user namespaces; otherwise each test
//! says so and returns).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use ferry_pipelines::executor::StaticObjects;
use ferry_pipelines::executor::local::{LocalExecutor, LocalExecutorConfig, RunControl};
use ferry_pipelines::pipelinerun::{PipelineRunInput, PipelineSource, reconcile};
use ferry_pipelines::taskrun::{self, EngineConfig, ExecutionOutcome, StepEnd};
use ferry_types::tekton::convert::{parse_pipeline, parse_pipeline_run, parse_task, parse_task_run};
use ferry_types::tekton::v1::{TaskRun, TaskRunStatus};
use ferry_types::tekton::{ParamValue, TaskSpec};
use jiff::Timestamp;

fn sandbox_available() -> bool {
    let ok = std::process::Command::new("unshare")
        .args([
            "--mount",
            "--pid",
            "--fork",
            "--kill-child",
            "--propagation",
            "private",
            "true",
        ])
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        eprintln!("sandbox unavailable here (unshare --mount --pid failed); skipping");
    }
    ok
}

/// Whether no process has `marker` in its command line (waiting up to 2 s for the kernel).
async fn no_process_left(marker: &str) -> bool {
    for _ in 0..20 {
        let alive = std::fs::read_dir("/proc")
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| std::fs::read(e.path().join("cmdline")).ok())
            .any(|cmdline| String::from_utf8_lossy(&cmdline).contains(marker));
        if !alive {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    false
}

struct Fixture {
    dir: PathBuf,
    config: LocalExecutorConfig,
}

impl Fixture {
    fn new(test: &str) -> Fixture {
        let dir = std::env::temp_dir().join(format!("ferry-pipelines-test-{test}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let mut config = LocalExecutorConfig::under(&dir);
        config.tools_dir = Some(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tools"));
        config.init_program = Some(vec![env!("CARGO_BIN_EXE_ferry-sandbox-init").to_string()]);
        Fixture { dir, config }
    }

    fn log(&self, task_run: &str, step: &str) -> String {
        std::fs::read_to_string(self.config.log_path("default", task_run, step)).unwrap_or_default()
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn yaml(text: &str) -> serde_json::Value {
    serde_saphyr::from_str(text).expect("yaml")
}

/// Prepares, runs and finishes one attempt of a TaskRun with an inline taskSpec.
async fn run_task_run(
    fixture: &Fixture,
    objects: StaticObjects,
    task_run_yaml: &str,
) -> (TaskRun, ExecutionOutcome, TaskRunStatus) {
    let (task_run, _) = parse_task_run(yaml(task_run_yaml)).expect("taskrun");
    let spec: TaskSpec = task_run.spec.task_spec.clone().expect("inline spec");
    run_with_spec(fixture, objects, task_run, &spec, RunControl::detached()).await
}

async fn run_with_spec(
    fixture: &Fixture,
    objects: StaticObjects,
    task_run: TaskRun,
    spec: &TaskSpec,
    control: RunControl,
) -> (TaskRun, ExecutionOutcome, TaskRunStatus) {
    let config = EngineConfig {
        max_result_size: 4096,
        ..Default::default()
    };
    let prepared = taskrun::prepare(&task_run, spec, "t", &config).expect("prepares");
    let executor = LocalExecutor::new(fixture.config.clone(), objects);
    let outcome = executor.run(&task_run, &prepared, control).await;
    let status = taskrun::finish_attempt(&task_run, &prepared, &outcome, &config, Timestamp::now()).status;
    (task_run, outcome, status)
}

fn condition(status: &TaskRunStatus) -> (String, String, String) {
    let c = status.succeeded().expect("condition");
    (
        c.status.clone(),
        c.reason.clone().unwrap_or_default(),
        c.message.clone().unwrap_or_default(),
    )
}

#[tokio::test]
async fn seed_task_runs_argocd_with_the_articles_commands() {
    if !sandbox_available() {
        return;
    }
    let fixture = Fixture::new("seed");
    seed_with(&fixture).await;
    // The same with the shell-script setup instead of the init program, and the stub
    // mounted as a single tool file instead of a tools directory.
    let mut fixture = Fixture::new("seed-shell");
    fixture.config.init_program = None;
    fixture.config.tools_dir = None;
    fixture.config.tools.insert(
        "argocd".into(),
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tools/argocd"),
    );
    seed_with(&fixture).await;
}

async fn seed_with(fixture: &Fixture) {
    let docs: Vec<serde_json::Value> =
        serde_saphyr::from_multiple(include_str!("fixtures/seed.yaml")).expect("seed");
    let find = |kind: &str| docs.iter().find(|d| d["kind"] == kind).cloned().expect(kind);
    let (task, _) = parse_task(find("Task")).expect("task");
    let (pipeline, _) = parse_pipeline(find("Pipeline")).expect("pipeline");
    let (mut run, _) = parse_pipeline_run(find("PipelineRun")).expect("run");
    run.metadata.namespace = Some("default".into());
    let tasks: BTreeMap<String, TaskSpec> = [("helloworld-argocd".to_string(), task.spec.clone())]
        .into_iter()
        .collect();
    let plan = reconcile(
        &PipelineRunInput {
            run: &run,
            pipeline: PipelineSource::Found {
                name: pipeline.metadata.name.clone(),
                spec: Box::new(pipeline.spec.clone()),
            },
            tasks: &tasks,
            children: &[],
            now: Timestamp::now(),
        },
        &EngineConfig::default(),
    );
    let child = plan.create.first().cloned().expect("one TaskRun");
    let objects = StaticObjects::default().with_secret(
        "default",
        "argosecret",
        &[
            ("username", "admin"),
            ("password", "s3cret"),
            ("server", "argocd.example.com:443"),
        ],
    );
    let (child_run, outcome, status) =
        run_with_spec(fixture, objects, child, &task.spec, RunControl::detached()).await;
    assert_eq!(
        condition(&status).1,
        "Succeeded",
        "{:?} {}",
        outcome,
        fixture.log("helloworld-pipeline-run-1-helloworld-argocd", "argocd-deploy")
    );
    assert_eq!(
        status.steps[0].image_id, "argoproj/argocd:latest",
        "the image is recorded"
    );
    assert_eq!(status.steps[0].container, "step-argocd-deploy");
    let log = fixture.log(
        child_run.metadata.name.as_deref().unwrap_or_default(),
        "argocd-deploy",
    );
    let calls: Vec<&str> = log
        .lines()
        .filter_map(|l| l.strip_prefix("ARGOCD-CALL: "))
        .collect();
    assert_eq!(
        calls,
        [
            "login argocd.example.com:443 --insecure --username admin --password s3cret",
            "app create helloworld --upsert --repo https://github.com/zmberg/samples.git --path helloworld/charts --dest-namespace helloworld --dest-server https://kubernetes.default.svc --revision hello_world --helm-set image.repository=zhaomingshan/kruise --helm-set image.tag=hello_world-d92ae174b --helm-set installation.namespace=helloworld",
            "app list",
            "app sync helloworld",
            "app wait helloworld --health",
        ]
    );
    assert!(log.contains("upgrade app helloworld"), "{log}");
    assert!(
        !Path::new("/var/secret/username").exists(),
        "the secret never reaches the host's /var/secret"
    );
}

#[tokio::test]
async fn steps_share_workspace_and_results_and_see_exit_codes() {
    if !sandbox_available() {
        return;
    }
    let fixture = Fixture::new("paths");
    let (_, outcome, status) = run_task_run(
        &fixture,
        StaticObjects::default().with_config_map("default", "cfg", &[("greeting", "hi from configmap")]),
        r#"
apiVersion: tekton.dev/v1
kind: TaskRun
metadata: {name: paths, namespace: default}
spec:
  params: [{name: words, value: [a, b]}]
  workspaces: [{name: src, emptyDir: {}}]
  taskSpec:
    params: [{name: words, type: array}]
    workspaces: [{name: src}]
    results: [{name: joined}, {name: list, type: array}, {name: where}]
    stepTemplate:
      image: alpine
      env: [{name: FROM_TEMPLATE, value: template}]
    volumes: [{name: cfg, configMap: {name: cfg}}]
    steps:
    - name: write
      workingDir: sub/dir
      command: [sh, -c, 'printf "%s," "$@" > $(workspaces.src.path)/words; pwd > /workspace/pwd; exit 3', sh]
      args: ["$(params.words[*])"]
      onError: continue
    - name: read
      env:
      - {name: GREETING, valueFrom: {configMapKeyRef: {name: cfg, key: greeting}}}
      volumeMounts: [{name: cfg, mountPath: /config}]
      script: |
        #!/bin/sh
        set -e
        printf '%s' "$(cat $(workspaces.src.path)/words)" > $(results.joined.path)
        printf '["x","y"]' > $(results.list.path)
        printf '%s|%s|%s|%s|%s' "$(cat $(steps.step-write.exitCode.path))" "$(cat /workspace/pwd)" "$GREETING" "$(cat /config/greeting)" "$FROM_TEMPLATE" > $(results.where.path)
        test -d /tekton/home
        if touch /config/new 2>/dev/null; then echo "configmap volume is writable" >&2; exit 9; fi
        echo leaked > /etc/ferry-leak-test
"#,
    )
    .await;
    assert_eq!(
        condition(&status).1,
        "Succeeded",
        "{outcome:?} {}",
        fixture.log("paths", "read")
    );
    assert_eq!(
        outcome.steps[0].end,
        StepEnd::Exited {
            code: 3,
            continued: true
        }
    );
    assert_eq!(status.steps[0].termination_reason.as_deref(), Some("Continued"));
    assert_eq!(status.steps[0].terminated.as_ref().map(|t| t.exit_code), Some(3));
    let results: BTreeMap<&str, &ParamValue> = status
        .results
        .iter()
        .map(|r| (r.name.as_str(), &r.value))
        .collect();
    assert_eq!(results["joined"], &ParamValue::String("a,b,".into()));
    assert_eq!(results["list"], &ParamValue::Array(vec!["x".into(), "y".into()]));
    assert_eq!(
        results["where"],
        &ParamValue::String("3|/workspace/sub/dir|hi from configmap|hi from configmap|template".into())
    );
    assert!(
        !Path::new("/etc/ferry-leak-test").exists(),
        "writes outside the sandbox dirs stay in the sandbox"
    );
    let mut removed = false;
    for _ in 0..50 {
        if !fixture
            .config
            .work_dir
            .read_dir()
            .is_ok_and(|mut d| d.next().is_some())
        {
            removed = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(removed, "the TaskRun directory is removed (in the background)");
}

#[tokio::test]
async fn a_failing_step_skips_the_rest() {
    if !sandbox_available() {
        return;
    }
    let fixture = Fixture::new("fail");
    let (_, outcome, status) = run_task_run(
        &fixture,
        StaticObjects::default(),
        r#"
apiVersion: tekton.dev/v1
kind: TaskRun
metadata: {name: fail, namespace: default}
spec:
  taskSpec:
    steps:
    - {name: ok, image: alpine, script: "echo fine"}
    - {name: bad, image: alpine, script: "echo failing >&2; exit 1"}
    - {name: never, image: alpine, script: "echo never"}
"#,
    )
    .await;
    assert_eq!(
        condition(&status),
        (
            "False".into(),
            "StepFailed".into(),
            "\"step-bad\" exited with code 1: Error".into()
        )
    );
    assert_eq!(outcome.steps[2].end, StepEnd::Skipped);
    assert_eq!(status.steps[2].termination_reason.as_deref(), Some("Skipped"));
    assert_eq!(fixture.log("fail", "bad"), "failing\n");
    assert_eq!(fixture.log("fail", "never"), "");
}

#[tokio::test]
async fn step_and_task_run_timeouts_kill_the_process_tree() {
    if !sandbox_available() {
        return;
    }
    let fixture = Fixture::new("timeouts");
    let started = std::time::Instant::now();
    let (_, outcome, status) = run_task_run(
        &fixture,
        StaticObjects::default(),
        r#"
apiVersion: tekton.dev/v1
kind: TaskRun
metadata: {name: slow-step, namespace: default}
spec:
  taskSpec:
    steps:
    - {name: sleepy, image: alpine, timeout: 300ms, script: "sleep 31.4159 & sleep 31.4159; wait"}
    - {name: after, image: alpine, script: "true"}
"#,
    )
    .await;
    assert!(started.elapsed() < Duration::from_secs(10));
    assert!(
        no_process_left("31.4159").await,
        "the step's background processes were killed too"
    );
    assert_eq!(outcome.steps[0].end, StepEnd::TimedOut);
    assert_eq!(
        status.steps[0].termination_reason.as_deref(),
        Some("TimeoutExceeded")
    );
    assert_eq!(
        condition(&status).2,
        "\"step-sleepy\" exited because the step exceeded the specified timeout limit"
    );

    let (_, outcome, status) = run_task_run(
        &fixture,
        StaticObjects::default(),
        r#"
apiVersion: tekton.dev/v1
kind: TaskRun
metadata: {name: slow-run, namespace: default}
spec:
  timeout: 400ms
  taskSpec:
    steps:
    - {name: sleepy, image: alpine, script: "sleep 30"}
"#,
    )
    .await;
    assert!(outcome.timed_out);
    assert_eq!(
        condition(&status),
        (
            "False".into(),
            "TaskRunTimeout".into(),
            "TaskRun \"slow-run\" failed to finish within \"400ms\"".into()
        )
    );
    assert!(started.elapsed() < Duration::from_secs(20));
}

#[tokio::test]
async fn cancellation_and_live_logs() {
    if !sandbox_available() {
        return;
    }
    let fixture = Fixture::new("cancel");
    let (task_run, _) = parse_task_run(yaml(
        r#"
apiVersion: tekton.dev/v1
kind: TaskRun
metadata: {name: cancel-me, namespace: default}
spec:
  statusMessage: by test
  taskSpec:
    steps:
    - {name: loop, image: alpine, script: "echo started; sleep 32.718"}
"#,
    ))
    .expect("taskrun");
    let spec = task_run.spec.task_spec.clone().expect("spec");
    let (cancel_tx, cancel_rx) = tokio::sync::watch::channel(false);
    let (log_tx, mut log_rx) = tokio::sync::mpsc::unbounded_channel();
    let control = RunControl {
        cancel: cancel_rx,
        logs: Some(log_tx),
    };
    let canceller = tokio::spawn(async move {
        let first = tokio::time::timeout(Duration::from_secs(10), log_rx.recv()).await;
        let _ = cancel_tx.send(true);
        first
    });
    let (_, outcome, status) =
        run_with_spec(&fixture, StaticObjects::default(), task_run, &spec, control).await;
    let first = canceller
        .await
        .expect("join")
        .expect("a live line")
        .expect("line");
    assert_eq!((first.step.as_str(), first.line.as_str()), ("loop", "started"));
    assert!(outcome.cancelled);
    assert!(no_process_left("32.718").await);
    assert_eq!(
        condition(&status),
        (
            "False".into(),
            "TaskRunCancelled".into(),
            "TaskRun \"cancel-me\" was cancelled. by test".into()
        )
    );
}

#[tokio::test]
async fn a_missing_secret_fails_before_any_step_runs() {
    if !sandbox_available() {
        return;
    }
    let fixture = Fixture::new("nosecret");
    let (_, outcome, status) = run_task_run(
        &fixture,
        StaticObjects::default(),
        r#"
apiVersion: tekton.dev/v1
kind: TaskRun
metadata: {name: nosecret, namespace: default}
spec:
  taskSpec:
    volumes: [{name: creds, secret: {secretName: argosecret}}]
    steps:
    - {name: use, image: alpine, script: "cat /var/secret/username", volumeMounts: [{name: creds, mountPath: /var/secret}]}
"#,
    )
    .await;
    assert!(outcome.steps.is_empty());
    let (state, why, message) = condition(&status);
    assert_eq!(
        (state.as_str(), why.as_str()),
        ("False", "CreateContainerConfigError")
    );
    assert_eq!(
        message,
        "secret \"argosecret\" not found: volume \"creds\" of TaskRun \"nosecret\" cannot be mounted"
    );

    let (_, _, status) = run_task_run(
        &fixture,
        StaticObjects::default(),
        r#"
apiVersion: tekton.dev/v1
kind: TaskRun
metadata: {name: noenv, namespace: default}
spec:
  taskSpec:
    steps:
    - {name: use, image: alpine, script: "true", env: [{name: P, valueFrom: {secretKeyRef: {name: s, key: k}}}]}
"#,
    )
    .await;
    assert_eq!(
        condition(&status).2,
        "step \"step-use\": env \"P\": secret \"s\" not found"
    );
}

#[tokio::test]
async fn logs_are_bounded() {
    if !sandbox_available() {
        return;
    }
    let mut fixture = Fixture::new("bounded");
    fixture.config.max_log_bytes = 100;
    let (_, _, status) = run_task_run(
        &fixture,
        StaticObjects::default(),
        r#"
apiVersion: tekton.dev/v1
kind: TaskRun
metadata: {name: chatty, namespace: default}
spec:
  taskSpec:
    steps:
    - {name: talk, image: alpine, script: "seq 1 1000"}
"#,
    )
    .await;
    assert_eq!(condition(&status).1, "Succeeded");
    let log = fixture.log("chatty", "talk");
    assert!(log.len() < 200, "{}", log.len());
    assert!(log.ends_with("[ferry: log truncated]\n"));
    assert!(log.starts_with("1\n2\n3\n"));
    let path = fixture.config.log_path("default", "chatty", "talk");
    let (head, offset) = ferry_pipelines::executor::local::read_log_from(&path, 0)
        .await
        .expect("reads");
    assert_eq!(head, log.as_bytes());
    let (rest, same) = ferry_pipelines::executor::local::read_log_from(&path, offset)
        .await
        .expect("reads");
    assert!(rest.is_empty());
    assert_eq!(same, offset);
    let (tail, _) = ferry_pipelines::executor::local::read_log_from(&path, 2)
        .await
        .expect("reads");
    assert!(tail.starts_with(b"2\n3\n"));
    let missing = fixture.config.log_path("default", "chatty", "not-started");
    assert_eq!(
        ferry_pipelines::executor::local::read_log_from(&missing, 0)
            .await
            .expect("reads"),
        (Vec::new(), 0)
    );
}

#[tokio::test]
async fn stale_run_directories_are_swept() {
    let fixture = Fixture::new("sweep");
    std::fs::create_dir_all(fixture.config.work_dir.join("default_old_1/tekton/results")).expect("mkdir");
    std::fs::create_dir_all(fixture.config.work_dir.join("default_old_2")).expect("mkdir");
    let executor = LocalExecutor::new(fixture.config.clone(), StaticObjects::default());
    assert_eq!(executor.sweep_stale_runs().await.expect("sweeps"), 2);
    assert_eq!(
        std::fs::read_dir(&fixture.config.work_dir).expect("dir").count(),
        0
    );
    let missing = LocalExecutor::new(
        LocalExecutorConfig::under(&fixture.dir.join("nothing")),
        StaticObjects::default(),
    );
    assert_eq!(missing.sweep_stale_runs().await.expect("sweeps"), 0);
}
