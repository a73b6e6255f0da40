//! End to end: the Tekton run controller inside `ferry up`, driven with the real `kubectl`.
//! Steps run in the local executor's sandbox (user + mount namespaces via `unshare`); on a
//! machine that cannot create namespaces the tests print a notice and return, as the
//! executor's own tests do.

mod common;

use std::path::Path;
use std::time::Duration;

use common::{Cluster, TempDir, succeeded, wait_finished};
use serde_json::Value;

const SEED: &str = include_str!("fixtures/pipelines/seed.yaml");
const SEED_RUN: &str = include_str!("fixtures/pipelines/seed-pipelinerun.yaml");
const V1: &str = include_str!("fixtures/pipelines/v1.yaml");
const FAILURES: &str = include_str!("fixtures/pipelines/failures.yaml");
const STILL_SERVING: &str = include_str!("fixtures/pipelines/still-serving.yaml");
const SLOW: &str = include_str!("fixtures/pipelines/slow.yaml");
const RESTART: &str = include_str!("fixtures/pipelines/restart.yaml");
const DELETED: &str = include_str!("fixtures/pipelines/deleted.yaml");
const ARGOCD_STUB: &str = include_str!("fixtures/pipelines/argocd-stub.sh");

const RUN_TIMEOUT: Duration = Duration::from_secs(90);

/// Whether this machine lets an unprivileged process create the sandbox's namespaces.
fn sandbox_available() -> bool {
    let works = |args: &[&str]| {
        std::process::Command::new("unshare")
            .args(args)
            .arg("true")
            .status()
            .is_ok_and(|s| s.success())
    };
    let available =
        works(&["--mount", "--pid", "--fork", "--map-root-user"]) || works(&["--mount", "--pid", "--fork"]);
    if !available {
        eprintln!("notice: skipping: `unshare` cannot create mount/pid namespaces here");
    }
    available
}

/// Every step log of a TaskRun, concatenated in step-name order.
fn task_run_logs(data_dir: &Path, namespace: &str, task_run: &str) -> String {
    let dir = data_dir.join("logs").join(namespace).join(task_run);
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "log"))
        .collect();
    files.sort();
    files
        .iter()
        .map(|path| std::fs::read_to_string(path).unwrap_or_default())
        .collect()
}

/// The argument lines the `argocd` stub recorded.
fn argocd_calls(log: &str) -> Vec<String> {
    log.lines()
        .filter_map(|line| line.strip_prefix("ARGOCD-CALL: "))
        .map(str::to_string)
        .collect()
}

fn label<'a>(object: &'a Value, key: &str) -> Option<&'a str> {
    object
        .pointer("/metadata/labels")
        .and_then(|labels| labels.get(key))
        .and_then(Value::as_str)
}

/// A tools dir holding the recording `argocd` stub, for `FERRY_TOOLS_DIR`.
fn stub_tools() -> TempDir {
    use std::os::unix::fs::PermissionsExt;
    let tools = TempDir::new("pipelines-tools");
    let stub = tools.0.join("argocd");
    std::fs::write(&stub, ARGOCD_STUB).expect("write the argocd stub");
    std::fs::set_permissions(&stub, std::fs::Permissions::from_mode(0o755)).expect("chmod the argocd stub");
    tools
}

#[test]
fn seed_pipelinerun_succeeds_with_the_articles_argocd_calls() {
    if !sandbox_available() {
        return;
    }
    let tools = stub_tools();
    let cluster = Cluster::start_with_env("pipelines-seed", &[], &[("FERRY_TOOLS_DIR", tools.0.as_os_str())]);
    cluster.apply(SEED);
    cluster.apply(SEED_RUN);
    cluster.apply(V1);

    // The article's v1beta1 PipelineRun.
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
    assert!(run.pointer("/status/startTime").is_some() && run.pointer("/status/completionTime").is_some());

    let child_name = "helloworld-pipeline-run-1-helloworld-argocd";
    let references = run
        .pointer("/status/childReferences")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    assert_eq!(references.len(), 1, "{run}");
    assert_eq!(references[0]["name"], child_name);
    assert_eq!(references[0]["pipelineTaskName"], "helloworld-argocd");
    assert_eq!(references[0]["kind"], "TaskRun");

    let child = cluster.get_json(&["taskruns.v1beta1.tekton.dev", child_name]);
    assert_eq!(
        label(&child, "tekton.dev/pipelineRun"),
        Some("helloworld-pipeline-run-1")
    );
    assert_eq!(
        label(&child, "tekton.dev/pipelineTask"),
        Some("helloworld-argocd")
    );
    assert_eq!(label(&child, "tekton.dev/pipeline"), Some("helloworld-pipeline"));
    assert_eq!(label(&child, "tekton.dev/task"), Some("helloworld-argocd"));
    let owner = &child["metadata"]["ownerReferences"][0];
    assert_eq!(owner["kind"], "PipelineRun");
    assert_eq!(owner["name"], "helloworld-pipeline-run-1");
    assert_eq!(owner["uid"], run["metadata"]["uid"]);
    let (status, reason, _) = succeeded(&child);
    assert_eq!((status.as_str(), reason.as_str()), ("True", "Succeeded"));
    assert_eq!(child["status"]["steps"][0]["name"], "argocd-deploy");
    assert_eq!(child["status"]["steps"][0]["terminated"]["exitCode"], 0);

    // The step read /var/secret/{username,password,server} (decoded) and every
    // $(params.*) was substituted: the recorded calls are the article's.
    let log = task_run_logs(&cluster.data_dir, "default", child_name);
    assert!(log.contains("upgrade app helloworld"), "{log}");
    assert_eq!(
        argocd_calls(&log),
        [
            "login argocd-server.argocd.svc --insecure --username admin --password s3cret-pass",
            "app create helloworld --upsert --repo https://github.com/zmberg/samples.git \
             --path helloworld/charts --dest-namespace helloworld \
             --dest-server https://kubernetes.default.svc --revision hello_world \
             --helm-set image.repository=zhaomingshan/kruise \
             --helm-set image.tag=hello_world-d92ae174b \
             --helm-set installation.namespace=helloworld",
            "app list",
            "app sync helloworld",
            "app wait helloworld --health",
        ],
        "{log}"
    );

    // The v1 PipelineRun of the same Pipeline, next to it.
    let run_v1 = wait_finished(
        &cluster,
        "pipelineruns.v1.tekton.dev",
        "helloworld-pipeline-run-v1",
    );
    let (status, reason, message) = succeeded(&run_v1);
    assert_eq!(
        (status.as_str(), reason.as_str()),
        ("True", "Succeeded"),
        "{message}"
    );
    assert_eq!(run_v1["spec"]["timeouts"]["pipeline"], "10m");
    assert!(run_v1["spec"].get("timeout").is_none(), "{run_v1}");
    let log_v1 = task_run_logs(
        &cluster.data_dir,
        "default",
        "helloworld-pipeline-run-v1-helloworld-argocd",
    );
    let calls_v1 = argocd_calls(&log_v1);
    assert_eq!(calls_v1.len(), 5, "{log_v1}");
    assert!(
        calls_v1[1].starts_with("app create helloworld-v1 --upsert")
            && calls_v1[1].contains("--helm-set image.tag=hello_world-e03bf7a21"),
        "{log_v1}"
    );

    // Status is written in the version each TaskRun was created in.
    let result_v1 = wait_finished(&cluster, "taskruns.v1.tekton.dev", "emit-result-v1");
    assert_eq!(succeeded(&result_v1).0, "True", "{result_v1}");
    assert_eq!(result_v1["status"]["results"][0]["name"], "greeting");
    assert_eq!(result_v1["status"]["results"][0]["value"], "hello");
    assert!(result_v1["status"].get("taskResults").is_none(), "{result_v1}");
    let result_v1beta1 = wait_finished(&cluster, "taskruns.v1beta1.tekton.dev", "emit-result-v1beta1");
    assert_eq!(succeeded(&result_v1beta1).0, "True", "{result_v1beta1}");
    assert_eq!(result_v1beta1["status"]["taskResults"][0]["name"], "greeting");
    assert_eq!(result_v1beta1["status"]["taskResults"][0]["value"], "hello");
    assert!(
        result_v1beta1["status"].get("results").is_none(),
        "{result_v1beta1}"
    );

    // The Secret's data never reaches the server's own log.
    let server_log = std::fs::read_to_string(cluster.data_dir.join("ferry-up.log")).unwrap_or_default();
    assert!(!server_log.contains("s3cret-pass") && !server_log.contains("czNjcmV0LXBhc3M="));
}

#[test]
fn bad_runs_end_with_tektons_reasons_and_the_controller_keeps_serving() {
    if !sandbox_available() {
        return;
    }
    let cluster = Cluster::start("pipelines-failures", &[]);
    cluster.apply(SEED);
    cluster.apply(FAILURES);

    let missing_param = wait_finished(&cluster, "pipelineruns.tekton.dev", "missing-param");
    let (status, reason, message) = succeeded(&missing_param);
    assert_eq!(
        (status.as_str(), reason.as_str()),
        ("False", "ParameterMissing"),
        "{message}"
    );
    assert!(message.contains("app_name"), "{message}");
    let children = cluster.get_json(&[
        "taskruns.tekton.dev",
        "-l",
        "tekton.dev/pipelineRun=missing-param",
    ]);
    assert_eq!(children["items"].as_array().map(Vec::len), Some(0));

    let step_fails = wait_finished(&cluster, "pipelineruns.tekton.dev", "step-exits-one");
    let (status, reason, message) = succeeded(&step_fails);
    assert_eq!(
        (status.as_str(), reason.as_str()),
        ("False", "Failed"),
        "{message}"
    );
    // The TaskRun's reason is `StepFailed` (Tekton ≥ 1.12; `Failed` before), the
    // PipelineRun's stays `Failed`.
    let failed_child = cluster.get_json(&["taskruns.tekton.dev", "step-exits-one-fails"]);
    let (status, reason, message) = succeeded(&failed_child);
    assert_eq!(
        (status.as_str(), reason.as_str()),
        ("False", "StepFailed"),
        "{message}"
    );
    assert!(message.contains("step-fail"), "{message}");
    assert_eq!(failed_child["status"]["steps"][0]["terminated"]["exitCode"], 1);
    let log = task_run_logs(&cluster.data_dir, "default", "step-exits-one-fails");
    assert!(
        log.contains("about to fail") && !log.contains("unreachable"),
        "{log}"
    );

    let missing_secret = wait_finished(&cluster, "taskruns.tekton.dev", "missing-secret");
    let (status, reason, message) = succeeded(&missing_secret);
    assert_eq!(
        (status.as_str(), reason.as_str()),
        ("False", "CreateContainerConfigError"),
        "{message}"
    );
    assert!(message.contains("no-such-secret"), "{message}");

    let missing_task = wait_finished(&cluster, "taskruns.tekton.dev", "missing-task");
    let (status, reason, message) = succeeded(&missing_task);
    assert_eq!(
        (status.as_str(), reason.as_str()),
        ("False", "TaskRunResolutionFailed"),
        "{message}"
    );
    assert!(message.contains("no-such-task"), "{message}");

    let missing_pipeline_task = wait_finished(&cluster, "pipelineruns.tekton.dev", "missing-pipeline-task");
    let (status, reason, message) = succeeded(&missing_pipeline_task);
    assert_eq!(
        (status.as_str(), reason.as_str()),
        ("False", "CouldntGetTask"),
        "{message}"
    );
    assert!(message.contains("no-such-task"), "{message}");

    cluster.apply(STILL_SERVING);
    let still = wait_finished(&cluster, "taskruns.tekton.dev", "still-serving");
    let (status, reason, message) = succeeded(&still);
    let log = task_run_logs(&cluster.data_dir, "default", "still-serving");
    assert_eq!(
        (status.as_str(), reason.as_str()),
        ("True", "Succeeded"),
        "{message}\n{log}"
    );
    assert!(log.contains("still serving"), "{log}");
    assert!(log.contains("user=admin region=eu-west"), "{log}");
    assert!(log.contains("+ferry"), "Ferry's argocd answered: {log}");
    assert!(
        log.contains("taskrun.tekton.dev/still-serving"),
        "kubectl reached the cluster: {log}"
    );
}

#[test]
fn timeouts_and_cancellation_end_runs_with_tektons_reasons() {
    if !sandbox_available() {
        return;
    }
    let cluster = Cluster::start("pipelines-slow", &[]);
    cluster.apply(SLOW);

    let child = "cancelled-run-sleeps";
    cluster.wait_for("the cancelled run's TaskRun to be running", RUN_TIMEOUT, || {
        let out = cluster.kubectl(&["get", "taskruns.tekton.dev", child, "-o", "json"]);
        let object: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
        succeeded(&object).1 == "Running"
    });
    cluster.kubectl_ok(&[
        "patch",
        "pipelineruns.tekton.dev",
        "cancelled-run",
        "--type=merge",
        "-p",
        r#"{"spec":{"status":"Cancelled"}}"#,
    ]);
    let cancelled = wait_finished(&cluster, "pipelineruns.tekton.dev", "cancelled-run");
    let (status, reason, message) = succeeded(&cancelled);
    assert_eq!(
        (status.as_str(), reason.as_str()),
        ("False", "Cancelled"),
        "{message}"
    );
    let cancelled_child = wait_finished(&cluster, "taskruns.tekton.dev", child);
    let (status, reason, message) = succeeded(&cancelled_child);
    assert_eq!(
        (status.as_str(), reason.as_str()),
        ("False", "TaskRunCancelled"),
        "{message}"
    );
    assert_eq!(cancelled_child["spec"]["status"], "TaskRunCancelled");

    let timed_out = wait_finished(&cluster, "taskruns.tekton.dev", "times-out");
    let (status, reason, message) = succeeded(&timed_out);
    assert_eq!(
        (status.as_str(), reason.as_str()),
        ("False", "TaskRunTimeout"),
        "{message}"
    );
    assert!(message.contains("times-out"), "{message}");
}

#[test]
fn a_run_interrupted_by_a_restart_is_finished_by_the_next_controller() {
    if !sandbox_available() {
        return;
    }
    let data = TempDir::new("pipelines-restart");
    let cluster = Cluster::start_in(&data.0, &[]);
    cluster.apply(RESTART);
    cluster.wait_for("the TaskRun to be running", RUN_TIMEOUT, || {
        let out = cluster.kubectl(&[
            "get",
            "taskruns.tekton.dev",
            "survives-restart-slow",
            "-o",
            "json",
        ]);
        let object: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
        succeeded(&object).1 == "Running"
    });
    cluster.kill();

    let cluster = Cluster::start_in(&data.0, &[]);
    let run = wait_finished(&cluster, "pipelineruns.tekton.dev", "survives-restart");
    let (status, reason, message) = succeeded(&run);
    assert_eq!(
        (status.as_str(), reason.as_str()),
        ("True", "Succeeded"),
        "{message}"
    );
    let log = task_run_logs(&cluster.data_dir, "default", "survives-restart-slow");
    assert!(log.contains("done waiting"), "{log}");
}

#[test]
fn deleting_a_running_taskrun_stops_its_steps() {
    if !sandbox_available() {
        return;
    }
    let cluster = Cluster::start("pipelines-delete", &[]);
    cluster.apply(DELETED);
    let marker = cluster.data_dir.join("logs/default/deleted-while-running");
    cluster.wait_for("the step to print its first line", RUN_TIMEOUT, || {
        task_run_logs_if_any(&marker).contains("tick 1")
    });
    cluster.kubectl_ok(&[
        "delete",
        "taskruns.tekton.dev",
        "deleted-while-running",
        "--wait=false",
    ]);
    // The step ticks every 200 ms for 30 s; once stopped its log stops growing.
    cluster.wait_for("the step to stop", Duration::from_secs(10), || {
        let before = task_run_logs_if_any(&marker);
        std::thread::sleep(Duration::from_millis(600));
        task_run_logs_if_any(&marker) == before
    });
    assert!(!task_run_logs_if_any(&marker).contains("tick 150"));
    // The controller still serves.
    cluster.apply(SLOW);
    let timed_out = wait_finished(&cluster, "taskruns.tekton.dev", "times-out");
    assert_eq!(succeeded(&timed_out).1, "TaskRunTimeout");
}

/// The concatenated logs in `dir`, or "" when it does not exist yet.
fn task_run_logs_if_any(dir: &Path) -> String {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .map(|entries| entries.filter_map(Result::ok).map(|e| e.path()).collect())
        .unwrap_or_default();
    files.sort();
    files
        .iter()
        .map(|path| std::fs::read_to_string(path).unwrap_or_default())
        .collect()
}
