//! End to end: the Pod executor (`ferry up --pipelines-executor pod`). Each TaskRun becomes a
//! Pod laid out as Tekton does; the simulated kubelet runs it container by container, with
//! per-container exit codes and termination messages injected through `sim.ferry.dev/*`
//! annotations on the run (they flow onto the TaskRun and its Pod). Checked here: the Pod's
//! layout for the seed's Task, Succeeded/StepFailed mapping, and results from a termination
//! message reaching the TaskRun status and a dependent task's param.

mod common;

use std::time::Duration;

use common::{Cluster, succeeded, wait_finished};
use serde_json::Value;

const SEED: &str = include_str!("fixtures/pipelines/seed.yaml");
const SEED_RUN: &str = include_str!("fixtures/pipelines/seed-pipelinerun.yaml");

const RUN_TIMEOUT: Duration = Duration::from_secs(60);

/// A two-step TaskRun whose first step is told to exit 1.
const FAILING: &str = r#"
apiVersion: tekton.dev/v1
kind: TaskRun
metadata:
  name: fails-in-build
  annotations:
    sim.ferry.dev/exit-code.step-build: "1"
spec:
  taskSpec:
    steps:
    - name: build
      image: alpine
      script: exit 1
    - name: push
      image: alpine
      command: ["echo", "pushed"]
"#;

/// Failures of the Pod itself: an image that cannot be pulled, an init container that fails.
const POD_FAILURES: &str = r#"
apiVersion: tekton.dev/v1
kind: TaskRun
metadata:
  name: bad-image
spec:
  taskSpec:
    steps:
    - name: pull
      image: registry.invalid/tools:1
      command: ["true"]
---
apiVersion: tekton.dev/v1
kind: TaskRun
metadata:
  name: bad-init
  annotations:
    sim.ferry.dev/exit-code.prepare: "1"
spec:
  taskSpec:
    steps:
    - name: never
      image: alpine
      command: ["true"]
"#;

/// A result written by `produce` (through its termination message) feeds `consume`.
const RESULTS: &str = r#"
apiVersion: tekton.dev/v1
kind: Task
metadata:
  name: produce
spec:
  results:
  - name: digest
  steps:
  - name: write
    image: alpine
    script: printf sha256:feed > $(results.digest.path)
---
apiVersion: tekton.dev/v1
kind: Task
metadata:
  name: consume
spec:
  params:
  - name: digest
  steps:
  - name: read
    image: alpine
    command: ["echo"]
    args: ["deploying $(params.digest)"]
---
apiVersion: tekton.dev/v1
kind: Pipeline
metadata:
  name: build-and-deploy
spec:
  tasks:
  - name: produce
    taskRef:
      name: produce
  - name: consume
    taskRef:
      name: consume
    params:
    - name: digest
      value: $(tasks.produce.results.digest)
---
apiVersion: tekton.dev/v1
kind: PipelineRun
metadata:
  name: results-flow
  annotations:
    sim.ferry.dev/termination-message.step-write: '[{"key":"StartedAt","value":"2026-01-01T00:00:00.000Z","type":3},{"key":"digest","value":"sha256:feed","type":1}]'
spec:
  pipelineRef:
    name: build-and-deploy
"#;

fn str_at<'a>(object: &'a Value, pointer: &str) -> &'a str {
    object
        .pointer(pointer)
        .and_then(Value::as_str)
        .unwrap_or_default()
}

/// The array at `pointer` (empty when absent), borrowed from `object`.
fn array_at<'a>(object: &'a Value, pointer: &str) -> &'a [Value] {
    object
        .pointer(pointer)
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}

fn strings(value: Option<&Value>) -> Vec<String> {
    value
        .and_then(Value::as_array)
        .map(|items| {
            items
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

/// The value following `flag` in a container's args.
fn flag<'a>(args: &'a [String], flag: &str) -> Option<&'a str> {
    let at = args.iter().position(|a| a == flag)?;
    args.get(at + 1).map(String::as_str)
}

#[test]
fn taskruns_run_as_tekton_pods_on_the_simulated_kubelet() {
    let cluster = Cluster::start("pipelines-pod", &["--pipelines-executor", "pod"]);
    cluster.apply(SEED);
    cluster.apply(SEED_RUN);
    cluster.apply(FAILING);
    cluster.apply(RESULTS);
    cluster.apply(POD_FAILURES);

    // The seed's PipelineRun succeeds through a Pod.
    let run = wait_finished(
        &cluster,
        "pipelineruns.v1beta1.tekton.dev",
        "helloworld-pipeline-run-1",
    );
    let (status, reason, message) = succeeded(&run);
    assert_eq!(
        (status.as_str(), reason.as_str()),
        ("True", "Succeeded"),
        "{message}\n{}",
        cluster.log_tail()
    );
    let task_run_name = "helloworld-pipeline-run-1-helloworld-argocd";
    let task_run = cluster.get_json(&["taskruns.v1.tekton.dev", task_run_name]);
    assert_eq!(
        str_at(&task_run, "/status/podName"),
        format!("{task_run_name}-pod")
    );
    assert_eq!(
        str_at(&task_run, "/status/steps/0/container"),
        "step-argocd-deploy"
    );
    assert_eq!(
        str_at(&task_run, "/status/steps/0/terminated/reason"),
        "Completed"
    );
    assert_eq!(
        str_at(&task_run, "/status/steps/0/terminationReason"),
        "Completed"
    );

    // The Pod, as Tekton lays it out.
    let pod = cluster.get_json(&["pod", &format!("{task_run_name}-pod")]);
    let labels = [
        ("tekton.dev/taskRun", task_run_name),
        ("tekton.dev/task", "helloworld-argocd"),
        ("tekton.dev/pipelineRun", "helloworld-pipeline-run-1"),
        ("tekton.dev/pipelineTask", "helloworld-argocd"),
        ("app.kubernetes.io/managed-by", "tekton-pipelines"),
    ];
    for (key, value) in labels {
        assert_eq!(
            pod.pointer("/metadata/labels")
                .and_then(|l| l.get(key))
                .and_then(Value::as_str),
            Some(value),
            "label {key}"
        );
    }
    assert_eq!(str_at(&pod, "/metadata/ownerReferences/0/kind"), "TaskRun");
    assert_eq!(str_at(&pod, "/metadata/ownerReferences/0/name"), task_run_name);
    assert_eq!(
        pod.pointer("/metadata/ownerReferences/0/controller"),
        Some(&Value::Bool(true))
    );
    assert_eq!(str_at(&pod, "/spec/restartPolicy"), "Never");
    assert_eq!(str_at(&pod, "/spec/initContainers/0/name"), "prepare");
    let containers = array_at(&pod, "/spec/containers");
    let names: Vec<&str> = containers.iter().map(|c| str_at(c, "/name")).collect();
    assert_eq!(names, ["step-argocd-deploy"]);
    let step = &containers[0];
    assert_eq!(str_at(step, "/image"), "argoproj/argocd:latest");
    assert_eq!(strings(step.get("command")), ["/tekton/bin/entrypoint"]);
    let args = strings(step.get("args"));
    assert_eq!(flag(&args, "-post_file"), Some("/tekton/run/0/out"));
    assert_eq!(flag(&args, "-termination_path"), Some("/tekton/termination"));
    assert_eq!(flag(&args, "-step_metadata_dir"), Some("/tekton/run/0/status"));
    assert_eq!(flag(&args, "-entrypoint"), Some("sh"));
    assert_eq!(flag(&args, "--"), Some("-ce"));
    let script = args.last().cloned().unwrap_or_default();
    assert!(
        script.contains("argocd app create helloworld --upsert --repo https://github.com/zmberg/samples.git"),
        "params substituted in the step: {script}"
    );
    assert_eq!(str_at(step, "/terminationMessagePolicy"), "FallbackToLogsOnError");
    let mounts = array_at(step, "/volumeMounts");
    let secret_mount = mounts
        .iter()
        .find(|m| str_at(m, "/mountPath") == "/var/secret")
        .expect("the Secret is mounted at /var/secret");
    assert_eq!(str_at(secret_mount, "/name"), "argocd-secret");
    let volumes = array_at(&pod, "/spec/volumes");
    let secret_volume = volumes
        .iter()
        .find(|v| str_at(v, "/name") == "argocd-secret")
        .expect("the Task's Secret volume");
    assert_eq!(str_at(secret_volume, "/secret/secretName"), "argosecret");
    for internal in [
        "tekton-internal-bin",
        "tekton-internal-run-0",
        "tekton-internal-results",
        "tekton-internal-workspace",
    ] {
        assert!(
            volumes.iter().any(|v| str_at(v, "/name") == internal),
            "volume {internal}"
        );
    }
    assert_eq!(str_at(&pod, "/status/phase"), "Succeeded");

    // An injected exit code 1 in the first step: StepFailed naming it, the next step skipped.
    let failed = wait_finished(&cluster, "taskruns.v1.tekton.dev", "fails-in-build");
    let (status, reason, message) = succeeded(&failed);
    assert_eq!(
        (status.as_str(), reason.as_str(), message.as_str()),
        ("False", "StepFailed", "\"step-build\" exited with code 1: Error"),
        "{}",
        cluster.log_tail()
    );
    assert_eq!(
        failed.pointer("/status/steps/0/terminated/exitCode"),
        Some(&Value::from(1))
    );
    assert_eq!(str_at(&failed, "/status/steps/1/terminationReason"), "Skipped");
    let failed_pod = cluster.get_json(&["pod", "fails-in-build-pod"]);
    assert_eq!(str_at(&failed_pod, "/status/phase"), "Failed");
    let script_arg = strings(failed_pod.pointer("/spec/containers/0/args"));
    assert!(
        flag(&script_arg, "-entrypoint").is_some_and(|e| e.starts_with("/tekton/scripts/script-0-")),
        "scripts run from /tekton/scripts: {script_arg:?}"
    );
    assert_eq!(
        flag(
            &strings(failed_pod.pointer("/spec/containers/1/args")),
            "-wait_file"
        ),
        Some("/tekton/run/0/out")
    );

    // Pod-level failures, with Tekton's reasons.
    let bad_image = wait_finished(&cluster, "taskruns.v1.tekton.dev", "bad-image");
    let (status, reason, message) = succeeded(&bad_image);
    assert_eq!(
        (status.as_str(), reason.as_str()),
        ("False", "TaskRunImagePullFailed"),
        "{message}"
    );
    assert!(
        message.starts_with(
            "the step \"pull\" in TaskRun \"bad-image\" failed to pull the image \"registry.invalid/tools:1\". The pod errored with the message: "
        ),
        "{message}"
    );
    let bad_init = wait_finished(&cluster, "taskruns.v1.tekton.dev", "bad-init");
    let (status, reason, message) = succeeded(&bad_init);
    assert_eq!(
        (status.as_str(), reason.as_str(), message.as_str()),
        (
            "False",
            "InitContainerFailed",
            "init container \"prepare\" exited with code 1: Error"
        )
    );

    // A result from the termination message: in the producer's status and the consumer's param.
    let pipeline_run = wait_finished(&cluster, "pipelineruns.v1.tekton.dev", "results-flow");
    let (status, reason, message) = succeeded(&pipeline_run);
    assert_eq!(
        (status.as_str(), reason.as_str()),
        ("True", "Succeeded"),
        "{message}\n{}",
        cluster.log_tail()
    );
    let producer = cluster.get_json(&["taskruns.v1.tekton.dev", "results-flow-produce"]);
    assert_eq!(str_at(&producer, "/status/results/0/name"), "digest");
    assert_eq!(str_at(&producer, "/status/results/0/value"), "sha256:feed");
    assert_eq!(
        str_at(&producer, "/status/steps/0/terminated/startedAt"),
        "2026-01-01T00:00:00Z",
        "StartedAt comes from the wrapper's message"
    );
    let consumer = cluster.get_json(&["taskruns.v1.tekton.dev", "results-flow-consume"]);
    assert_eq!(str_at(&consumer, "/spec/params/0/value"), "sha256:feed");
    let consumer_pod = cluster.get_json(&["pod", "results-flow-consume-pod"]);
    let consumer_args = strings(consumer_pod.pointer("/spec/containers/0/args"));
    assert_eq!(
        consumer_args.last().map(String::as_str),
        Some("deploying sha256:feed")
    );
}

/// Two TaskRuns on a cluster with realistic delays (the Pods are still starting when the
/// controller acts): one times out, one is cancelled. Both end with Tekton's reasons and
/// their Pods are deleted.
const STOPPED: &str = r#"
apiVersion: tekton.dev/v1
kind: TaskRun
metadata:
  name: times-out
spec:
  timeout: 1s
  taskSpec:
    steps:
    - name: slow
      image: alpine
      command: ["sleep", "60"]
---
apiVersion: tekton.dev/v1
kind: TaskRun
metadata:
  name: gets-cancelled
  annotations:
    sim.ferry.dev/run-seconds: "120"
spec:
  taskSpec:
    steps:
    - name: slow
      image: alpine
      command: ["sleep", "60"]
"#;

#[test]
fn timeouts_and_cancellation_delete_the_pod() {
    let cluster = Cluster::start(
        "pipelines-pod-stop",
        &["--pipelines-executor", "pod", "--sim-speed", "1"],
    );
    cluster.apply(STOPPED);
    cluster.wait_for("the pod of gets-cancelled", RUN_TIMEOUT, || {
        cluster
            .kubectl(&["get", "pod", "gets-cancelled-pod"])
            .status
            .success()
    });
    cluster.kubectl_ok(&[
        "patch",
        "taskruns.v1.tekton.dev",
        "gets-cancelled",
        "--type=merge",
        "-p",
        r#"{"spec":{"status":"TaskRunCancelled","statusMessage":"by the test"}}"#,
    ]);
    let cases = [
        (
            "times-out",
            "TaskRunTimeout",
            "TaskRun \"times-out\" failed to finish within \"1s\"",
        ),
        (
            "gets-cancelled",
            "TaskRunCancelled",
            "TaskRun \"gets-cancelled\" was cancelled. by the test",
        ),
    ];
    for (name, want_reason, want_message) in cases {
        let run = wait_finished(&cluster, "taskruns.v1.tekton.dev", name);
        let (status, reason, message) = succeeded(&run);
        assert_eq!(
            (status.as_str(), reason.as_str(), message.as_str()),
            ("False", want_reason, want_message),
            "{}",
            cluster.log_tail()
        );
        assert_eq!(str_at(&run, "/status/podName"), format!("{name}-pod"));
        let pod = format!("{name}-pod");
        cluster.wait_for(&format!("pod {pod} to be deleted"), RUN_TIMEOUT, || {
            let out = cluster.kubectl(&["get", "pod", &pod, "-o", "json"]);
            !out.status.success()
                || serde_json::from_slice::<Value>(&out.stdout)
                    .is_ok_and(|p| p.pointer("/metadata/deletionTimestamp").is_some())
        });
    }
}

/// The wrapper as the Pod runs it: Ferry's binary under the name `entrypoint`.
#[test]
fn the_ferry_binary_is_the_step_wrapper() {
    let dir = common::TempDir::new("entrypoint-cli");
    let wrapper = dir.0.join("entrypoint");
    std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_ferry"), &wrapper).expect("symlink");
    let d = dir.0.display().to_string();
    std::fs::create_dir_all(dir.0.join("results")).expect("results dir");
    let run = |program: &std::path::Path, prefix: &[&str], index: usize, extra: &[&str], script: &str| {
        let mut args: Vec<String> = prefix.iter().map(|s| s.to_string()).collect();
        args.extend(
            [
                "-post_file",
                &format!("{d}/run/{index}/out"),
                "-termination_path",
                &format!("{d}/termination-{index}"),
                "-step_metadata_dir",
                &format!("{d}/run/{index}/status"),
                "-results_dir",
                &format!("{d}/results"),
            ]
            .map(String::from),
        );
        args.extend(extra.iter().map(|s| s.to_string()));
        args.extend(["-entrypoint", "sh", "--", "-c", script].map(String::from));
        std::process::Command::new(program)
            .args(&args)
            .status()
            .expect("runs")
    };
    // Invoked as `entrypoint` (the installed name): a result and a zero exit.
    let status = run(
        &wrapper,
        &[],
        0,
        &["-results", "out"],
        &format!("printf v > {d}/results/out"),
    );
    assert_eq!(status.code(), Some(0));
    let message = std::fs::read_to_string(dir.0.join("termination-0")).expect("termination message");
    assert!(
        message.ends_with(r#"{"key":"out","value":"v","type":1}]"#),
        "{message}"
    );
    assert!(dir.0.join("run/0/out").exists());
    // As `ferry entrypoint`: the step's exit code passes through, the post file says failure.
    let ferry = std::path::Path::new(env!("CARGO_BIN_EXE_ferry"));
    let status = run(ferry, &["entrypoint"], 1, &[], "exit 3");
    assert_eq!(status.code(), Some(3));
    assert!(dir.0.join("run/1/out.err").exists());
    assert_eq!(
        std::fs::read_to_string(dir.0.join("run/1/status/exitCode")).expect("exitCode"),
        "3"
    );
}

/// A TaskRun whose Pod is still running when `ferry up` is killed: the next controller
/// adopts the same Pod (same uid) and finishes the run from it.
#[test]
fn a_restarted_controller_adopts_the_running_pod() {
    let data = common::TempDir::new("pipelines-pod-restart");
    let args = ["--pipelines-executor", "pod", "--sim-speed", "1"];
    let cluster = Cluster::start_in(&data.0, &args);
    cluster.apply(
        r#"
apiVersion: tekton.dev/v1
kind: TaskRun
metadata:
  name: survives-restart
  annotations:
    sim.ferry.dev/run-seconds: "2"
spec:
  taskSpec:
    steps:
    - name: work
      image: alpine
      command: ["true"]
"#,
    );
    let mut uid = String::new();
    cluster.wait_for("the pod of survives-restart", RUN_TIMEOUT, || {
        let out = cluster.kubectl(&["get", "pod", "survives-restart-pod", "-o", "json"]);
        let pod: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
        uid = str_at(&pod, "/metadata/uid").to_string();
        out.status.success() && !uid.is_empty()
    });
    cluster.kill();

    let cluster = Cluster::start_in(&data.0, &args);
    let run = wait_finished(&cluster, "taskruns.v1.tekton.dev", "survives-restart");
    let (status, reason, message) = succeeded(&run);
    assert_eq!(
        (status.as_str(), reason.as_str()),
        ("True", "Succeeded"),
        "{message}\n{}",
        cluster.log_tail()
    );
    let pod = cluster.get_json(&["pod", "survives-restart-pod"]);
    assert_eq!(str_at(&pod, "/metadata/uid"), uid, "the same Pod, adopted");
    assert_eq!(str_at(&run, "/status/podName"), "survives-restart-pod");
}
