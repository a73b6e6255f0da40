//! The example suite under `examples/pipelines/` through the real API: one `ferry up`, every
//! scenario applied with the real `kubectl apply` in tekton.dev/v1 and, converted, in
//! tekton.dev/v1beta1 (the same conversion `crates/ferry-pipelines/tests/examples.rs` uses
//! in-process), and its run read back with `kubectl get … -o json` in the version it was
//! created in. Each scenario's annotations (see `examples/pipelines/README.md`) state the final
//! `Succeeded` status and reason, optionally a message fragment, run results and a
//! `spec.status` to patch in (cancellation).
//!
//! Scenarios run concurrently, each variant in its own namespace, so the whole suite takes about
//! as long as its slowest scenario. A scenario whose expectations depend on the namespace
//! (`$(context.*.namespace)`, expected as `default`) runs in `default`, its two variants one after
//! the other. Steps run in the local executor's sandbox; on a machine that cannot create the
//! namespaces the test prints a notice and returns, as the other pipeline e2e tests do.

mod common;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::Cluster;
use ferry_types::tekton::convert::{
    ApiVersion, parse_pipeline, parse_pipeline_run, parse_task, parse_task_run, render_pipeline,
    render_pipeline_run, render_task, render_task_run,
};
use serde_json::Value;

/// Bound on the whole suite, from the first apply to the last run's final condition.
const SUITE_LIMIT: Duration = Duration::from_secs(100);
/// How often the runs are listed while waiting.
const POLL_INTERVAL: Duration = Duration::from_millis(250);
/// Scenarios applied at the same time (each apply is a `kubectl` process).
const APPLY_WORKERS: usize = 6;

/// Whether this machine lets an unprivileged process create the sandbox's namespaces.
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
        eprintln!("notice: skipping: `unshare` cannot create mount/pid namespaces here");
    }
    available
}

fn examples_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/pipelines")
}

/// The suite's recording `argocd` stub (the seed scenario calls `argocd login …`), the one the
/// in-process suite uses too; handed to `ferry up` as `FERRY_TOOLS_DIR`.
fn stub_tools_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../ferry-pipelines/tests/fixtures/tools")
}

fn version_label(version: ApiVersion) -> &'static str {
    match version {
        ApiVersion::V1 => "v1",
        ApiVersion::V1beta1 => "v1beta1",
    }
}

/// Which kind of run a scenario ends with.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum RunKind {
    PipelineRun,
    TaskRun,
}

impl RunKind {
    /// The fully qualified resource, so `kubectl` reads and writes it in `version`.
    fn resource(self, version: ApiVersion) -> String {
        let plural = match self {
            RunKind::PipelineRun => "pipelineruns",
            RunKind::TaskRun => "taskruns",
        };
        format!("{plural}.{}.tekton.dev", version_label(version))
    }

    /// Where the run's results live in `version` (renamed in v1).
    fn results_field(self, version: ApiVersion) -> &'static str {
        match (self, version) {
            (_, ApiVersion::V1) => "results",
            (RunKind::PipelineRun, ApiVersion::V1beta1) => "pipelineResults",
            (RunKind::TaskRun, ApiVersion::V1beta1) => "taskResults",
        }
    }
}

/// What a scenario's run must end with, from its `ferry.dev/*` annotations.
#[derive(Clone, Debug)]
struct Expectation {
    status: String,
    reason: String,
    message: Option<String>,
    results: BTreeMap<String, String>,
    /// `spec.status` to patch in, and how long after the apply.
    set_status: Option<(String, Duration)>,
}

fn expectation(run: &Value) -> Result<Expectation, String> {
    let annotation = |key: &str| {
        run.pointer("/metadata/annotations")
            .and_then(|a| a.get(key))
            .and_then(Value::as_str)
            .map(str::to_string)
    };
    let results = match annotation("ferry.dev/expect-results") {
        Some(json) => {
            let parsed: BTreeMap<String, Value> =
                serde_json::from_str(&json).map_err(|e| format!("ferry.dev/expect-results: {e}"))?;
            parsed
                .into_iter()
                .map(|(name, value)| (name, value.as_str().unwrap_or_default().to_string()))
                .collect()
        }
        None => BTreeMap::new(),
    };
    let set_status = match annotation("ferry.dev/test-set-status") {
        Some(status) => {
            let after = annotation("ferry.dev/test-set-status-after").unwrap_or_else(|| "0s".into());
            let after = ferry_pipelines::duration::parse(&after)
                .map_err(|e| format!("ferry.dev/test-set-status-after {after:?}: {e}"))?;
            Some((status, after))
        }
        None => None,
    };
    Ok(Expectation {
        status: annotation("ferry.dev/expect-status").ok_or("no ferry.dev/expect-status annotation")?,
        reason: annotation("ferry.dev/expect-reason").ok_or("no ferry.dev/expect-reason annotation")?,
        message: annotation("ferry.dev/expect-message"),
        results,
        set_status,
    })
}

/// Re-renders a Tekton object in `version` (through v1), so both conversions run, as the
/// in-process suite does; other kinds pass through.
fn in_version(doc: &Value, version: ApiVersion) -> Result<Value, String> {
    let kind = doc.get("kind").and_then(Value::as_str).unwrap_or_default();
    let converted = match kind {
        "Task" => parse_task(doc.clone()).map(|(o, _)| render_task(&o, version)),
        "Pipeline" => parse_pipeline(doc.clone()).map(|(o, _)| render_pipeline(&o, version)),
        "PipelineRun" => parse_pipeline_run(doc.clone()).map(|(o, _)| render_pipeline_run(&o, version)),
        "TaskRun" => parse_task_run(doc.clone()).map(|(o, _)| render_task_run(&o, version)),
        _ => return Ok(doc.clone()),
    };
    converted.map_err(|e| format!("converting the {kind}: {e}"))
}

/// One scenario in one API version.
#[derive(Clone, Debug)]
struct Scenario {
    file: String,
    version: ApiVersion,
    namespace: String,
    /// The objects as applied: a YAML stream of JSON documents.
    manifest: String,
    kind: RunKind,
    name: String,
    expected: Expectation,
}

impl Scenario {
    fn label(&self) -> String {
        format!("{} ({})", self.file, version_label(self.version))
    }

    fn key(&self) -> (String, String, String) {
        (
            self.kind.resource(self.version),
            self.namespace.clone(),
            self.name.clone(),
        )
    }
}

/// Whether a scenario's expectations name the namespace it runs in (written for `default`).
fn needs_default_namespace(text: &str) -> bool {
    text.contains("context.pipelineRun.namespace") || text.contains("context.taskRun.namespace")
}

fn load_scenario(file: &Path, version: ApiVersion) -> Result<Scenario, String> {
    let name = file
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default()
        .to_string();
    let stem = name.trim_end_matches(".yaml");
    let text = std::fs::read_to_string(file).map_err(|e| format!("{name}: {e}"))?;
    let docs: Vec<Value> = serde_saphyr::from_multiple(&text).map_err(|e| format!("{name}: {e}"))?;
    let mut rendered = Vec::new();
    let mut run = None;
    for doc in docs.iter().filter(|d| !d.is_null()) {
        let doc = in_version(doc, version).map_err(|e| format!("{name}: {e}"))?;
        let kind = match doc.get("kind").and_then(Value::as_str) {
            Some("PipelineRun") => Some(RunKind::PipelineRun),
            Some("TaskRun") => Some(RunKind::TaskRun),
            _ => None,
        };
        if let Some(kind) = kind {
            if run.is_some() {
                return Err(format!("{name}: more than one run"));
            }
            run = Some((kind, doc.clone()));
        }
        rendered.push(serde_json::to_string(&doc).map_err(|e| format!("{name}: {e}"))?);
    }
    let (kind, run) = run.ok_or_else(|| format!("{name}: no PipelineRun or TaskRun"))?;
    if run.get("apiVersion").and_then(Value::as_str) != Some(version.as_str()) {
        return Err(format!(
            "{name}: the run was not converted to {}",
            version.as_str()
        ));
    }
    let run_name = run
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .ok_or_else(|| format!("{name}: the run has no name"))?
        .to_string();
    let namespace = if needs_default_namespace(&text) {
        "default".to_string()
    } else {
        format!("{stem}-{}", version_label(version))
    };
    Ok(Scenario {
        file: name.clone(),
        version,
        namespace,
        manifest: rendered.join("\n---\n"),
        kind,
        name: run_name,
        expected: expectation(&run).map_err(|e| format!("{name}: {e}"))?,
    })
}

/// Runs `kubectl` against the cluster with `stdin`, returning stdout or a message with stderr.
fn kubectl(cluster: &Cluster, args: &[&str], stdin: Option<&str>) -> Result<String, String> {
    let mut child = Command::new("kubectl")
        .args(args)
        .env("KUBECONFIG", cluster.kubeconfig())
        .env("HOME", &cluster.data_dir)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("kubectl {}: {e}", args.join(" ")))?;
    if let (Some(text), Some(mut pipe)) = (stdin, child.stdin.take()) {
        pipe.write_all(text.as_bytes())
            .map_err(|e| format!("kubectl {}: writing stdin: {e}", args.join(" ")))?;
    }
    let out = child
        .wait_with_output()
        .map_err(|e| format!("kubectl {}: {e}", args.join(" ")))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(format!(
            "kubectl {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// The `Succeeded` condition's `(status, reason, message)`.
fn succeeded(object: &Value) -> Option<(String, String, String)> {
    let condition = object
        .pointer("/status/conditions")
        .and_then(Value::as_array)?
        .iter()
        .find(|c| c.get("type").and_then(Value::as_str) == Some("Succeeded"))?;
    let field = |name: &str| {
        condition
            .get(name)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    Some((field("status"), field("reason"), field("message")))
}

fn is_finished(object: &Value) -> bool {
    succeeded(object).is_some_and(|(status, _, _)| status == "True" || status == "False")
}

/// A result's value as the expectations write it (strings as they are, others as JSON).
fn result_text(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

/// The `N` of a `Skipped: N` the expected message states.
fn stated_skipped_count(message: &str) -> Option<usize> {
    let rest = &message[message.find("Skipped: ")? + "Skipped: ".len()..];
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

/// Compares the run as read back through the API with the scenario's expectations; each
/// mismatch names the object and the field.
fn check(scenario: &Scenario, object: &Value) -> Vec<String> {
    let what = format!(
        "{}: {} {}/{}",
        scenario.label(),
        scenario.kind.resource(scenario.version),
        scenario.namespace,
        scenario.name
    );
    let mut failures = Vec::new();
    let Some((status, reason, message)) = succeeded(object) else {
        return vec![format!("{what}: status.conditions has no Succeeded condition")];
    };
    let expected = &scenario.expected;
    if (status.as_str(), reason.as_str()) != (expected.status.as_str(), expected.reason.as_str()) {
        failures.push(format!(
            "{what}: status.conditions[Succeeded] expected status {:?} reason {:?}, got status {status:?} \
             reason {reason:?} (message {message:?})",
            expected.status, expected.reason
        ));
    }
    if let Some(part) = &expected.message
        && !message.contains(part.as_str())
    {
        failures.push(format!(
            "{what}: status.conditions[Succeeded].message expected to contain {part:?}, got {message:?}"
        ));
    }
    let results_field = scenario.kind.results_field(scenario.version);
    let results: HashMap<String, String> = object
        .pointer(&format!("/status/{results_field}"))
        .and_then(Value::as_array)
        .map(|results| {
            results
                .iter()
                .filter_map(|r| {
                    let name = r.get("name").and_then(Value::as_str)?;
                    Some((name.to_string(), result_text(r.get("value")?)))
                })
                .collect()
        })
        .unwrap_or_default();
    for (name, value) in &expected.results {
        if results.get(name) != Some(value) {
            failures.push(format!(
                "{what}: status.{results_field}[{name}] expected {value:?}, got {:?}",
                results.get(name)
            ));
        }
    }
    // Tekton's message counts the skipped tasks that status.skippedTasks lists.
    if scenario.kind == RunKind::PipelineRun
        && let Some(count) = expected.message.as_deref().and_then(stated_skipped_count)
    {
        let listed = object
            .pointer("/status/skippedTasks")
            .and_then(Value::as_array)
            .map_or(0, Vec::len);
        if listed != count {
            failures.push(format!(
                "{what}: status.skippedTasks expected {count} entries (the message says \"Skipped: {count}\"), \
                 got {listed}: {}",
                object.pointer("/status/skippedTasks").unwrap_or(&Value::Null)
            ));
        }
    }
    failures
}

/// Shared state of the suite: scenarios waiting for their final condition, their last seen and
/// final objects, and failures found on the way.
#[derive(Default)]
struct Progress {
    /// Indexes of applied scenarios whose run has not finished yet.
    pending: HashSet<usize>,
    /// The last object seen for each scenario (finished or not).
    seen: HashMap<usize, Value>,
    finished: HashSet<usize>,
    /// Scenarios that could not be applied or patched, with the reason.
    broken: HashMap<usize, String>,
    /// When each scenario was applied, and when its final condition was first seen.
    applied_at: HashMap<usize, Instant>,
    finished_at: HashMap<usize, Instant>,
}

type Shared = Arc<Mutex<Progress>>;

fn lock(progress: &Shared) -> std::sync::MutexGuard<'_, Progress> {
    progress.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Applies a scenario and, for a cancellation scenario, patches `spec.status` after its delay.
fn apply_scenario(cluster: &Cluster, scenario: &Scenario, index: usize, progress: &Shared) {
    let applied = kubectl(
        cluster,
        &["apply", "-n", &scenario.namespace, "-f", "-"],
        Some(&scenario.manifest),
    );
    let applied_at = Instant::now();
    if let Err(error) = applied {
        lock(progress).broken.insert(index, error);
        return;
    }
    {
        let mut state = lock(progress);
        state.applied_at.insert(index, applied_at);
        state.pending.insert(index);
    }
    if let Some((status, after)) = &scenario.expected.set_status {
        std::thread::sleep(after.saturating_sub(applied_at.elapsed()));
        let patch = serde_json::json!({"spec": {"status": status}}).to_string();
        let resource = scenario.kind.resource(scenario.version);
        let patched = kubectl(
            cluster,
            &[
                "patch",
                &resource,
                &scenario.name,
                "-n",
                &scenario.namespace,
                "--type",
                "merge",
                "-p",
                &patch,
            ],
            None,
        );
        if let Err(error) = patched {
            lock(progress).broken.insert(index, error);
        }
    }
}

/// Lists every run kind/version a pending scenario waits for, records what it sees and marks
/// the runs that reached a final condition.
fn poll_once(cluster: &Cluster, scenarios: &[Scenario], progress: &Shared) {
    let wanted: HashSet<String> = {
        let state = lock(progress);
        state
            .pending
            .iter()
            .filter_map(|&i| scenarios.get(i))
            .map(|s| s.kind.resource(s.version))
            .collect()
    };
    for resource in wanted {
        let listed = kubectl(cluster, &["get", &resource, "-A", "-o", "json"], None)
            .and_then(|text| serde_json::from_str::<Value>(&text).map_err(|e| e.to_string()));
        let items = match listed {
            Ok(list) => list
                .get("items")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default(),
            Err(error) => {
                eprintln!("notice: listing {resource}: {error}");
                continue;
            }
        };
        let mut state = lock(progress);
        let pending: Vec<usize> = state.pending.iter().copied().collect();
        for index in pending {
            let Some(scenario) = scenarios.get(index) else {
                continue;
            };
            let (scenario_resource, namespace, name) = scenario.key();
            if scenario_resource != resource {
                continue;
            }
            let found = items.iter().find(|item| {
                item.pointer("/metadata/namespace").and_then(Value::as_str) == Some(namespace.as_str())
                    && item.pointer("/metadata/name").and_then(Value::as_str) == Some(name.as_str())
            });
            if let Some(object) = found {
                if is_finished(object) {
                    state.pending.remove(&index);
                    state.finished.insert(index);
                    state.finished_at.insert(index, Instant::now());
                }
                state.seen.insert(index, object.clone());
            }
        }
    }
}

/// Runs the scenarios that must use `default` one after the other: apply, wait for the
/// final condition (recorded by the poller), delete the run and its TaskRuns, next.
fn run_in_default_namespace(
    cluster: &Cluster,
    scenarios: &[Scenario],
    indexes: &[usize],
    progress: &Shared,
    deadline: Instant,
) {
    for (position, &index) in indexes.iter().enumerate() {
        let Some(scenario) = scenarios.get(index) else {
            continue;
        };
        apply_scenario(cluster, scenario, index, progress);
        while Instant::now() < deadline {
            let state = lock(progress);
            if !state.pending.contains(&index) {
                break;
            }
            drop(state);
            std::thread::sleep(POLL_INTERVAL);
        }
        if position + 1 == indexes.len() || !lock(progress).finished.contains(&index) {
            continue;
        }
        // The next variant reuses the names: remove this one's run and children first.
        let resource = scenario.kind.resource(scenario.version);
        let selector = format!(
            "tekton.dev/{}={}",
            match scenario.kind {
                RunKind::PipelineRun => "pipelineRun",
                RunKind::TaskRun => "taskRun",
            },
            scenario.name
        );
        let deleted = kubectl(
            cluster,
            &["delete", &resource, &scenario.name, "-n", "default"],
            None,
        )
        .and_then(|_| {
            kubectl(
                cluster,
                &["delete", "taskruns.tekton.dev", "-n", "default", "-l", &selector],
                None,
            )
        });
        if let Err(error) = deleted {
            lock(progress)
                .broken
                .insert(index, format!("cleaning up for the next variant: {error}"));
        }
    }
}

#[test]
fn every_example_reaches_its_expected_condition_through_kubectl_in_both_versions() {
    if !sandbox_available() {
        return;
    }
    let mut files: Vec<PathBuf> = std::fs::read_dir(examples_dir())
        .expect("examples/pipelines")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    assert!(files.len() >= 25, "the suite has {} examples", files.len());
    let scenarios: Vec<Scenario> = files
        .iter()
        .flat_map(|file| [ApiVersion::V1, ApiVersion::V1beta1].map(|v| (file, v)))
        .map(|(file, version)| load_scenario(file, version).unwrap_or_else(|e| panic!("{e}")))
        .collect();

    let cluster = Cluster::start_with_env(
        "pipeline-examples",
        &[],
        &[("FERRY_TOOLS_DIR", stub_tools_dir().as_os_str())],
    );
    let namespaces: Vec<String> = scenarios
        .iter()
        .map(|s| s.namespace.clone())
        .filter(|ns| ns != "default")
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .map(|ns| {
            serde_json::json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}).to_string()
        })
        .collect();
    kubectl(&cluster, &["apply", "-f", "-"], Some(&namespaces.join("\n---\n")))
        .unwrap_or_else(|e| panic!("creating the namespaces: {e}\n{}", cluster.log_tail()));

    let started = Instant::now();
    let deadline = started + SUITE_LIMIT;
    let progress: Shared = Arc::default();
    let (in_default, mut concurrent): (Vec<usize>, Vec<usize>) =
        (0..scenarios.len()).partition(|&i| scenarios[i].namespace == "default");
    // Cancellation scenarios first, so their patch lands while their run is still early.
    concurrent.sort_by_key(|&i| scenarios[i].expected.set_status.is_none());
    let queue = Mutex::new(concurrent.into_iter().collect::<std::collections::VecDeque<_>>());
    let all_applied = std::sync::atomic::AtomicUsize::new(0);
    std::thread::scope(|scope| {
        for _ in 0..APPLY_WORKERS {
            scope.spawn(|| {
                loop {
                    let next = queue
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner)
                        .pop_front();
                    let Some(index) = next else { break };
                    apply_scenario(&cluster, &scenarios[index], index, &progress);
                }
                all_applied.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            });
        }
        scope.spawn(|| {
            run_in_default_namespace(&cluster, &scenarios, &in_default, &progress, deadline);
            all_applied.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        });
        loop {
            poll_once(&cluster, &scenarios, &progress);
            let done = {
                let state = lock(&progress);
                all_applied.load(std::sync::atomic::Ordering::SeqCst) == APPLY_WORKERS + 1
                    && state.pending.is_empty()
            };
            if done || Instant::now() >= deadline {
                break;
            }
            std::thread::sleep(POLL_INTERVAL);
        }
    });
    let elapsed = started.elapsed();

    let state = lock(&progress);
    let mut failures = Vec::new();
    let mut slowest: Vec<(Duration, String)> = Vec::new();
    for (index, scenario) in scenarios.iter().enumerate() {
        if let Some(error) = state.broken.get(&index) {
            failures.push(format!("{}: {error}", scenario.label()));
        } else if state.finished.contains(&index) {
            failures.extend(check(scenario, &state.seen[&index]));
            if let (Some(applied), Some(finished)) =
                (state.applied_at.get(&index), state.finished_at.get(&index))
            {
                slowest.push((finished.duration_since(*applied), scenario.label()));
            }
        } else {
            let last = state
                .seen
                .get(&index)
                .and_then(succeeded)
                .map_or_else(|| "no Succeeded condition".to_string(), |c| format!("{c:?}"));
            failures.push(format!(
                "{}: {} {}/{} did not reach a final condition within {SUITE_LIMIT:?} (last: {last})",
                scenario.label(),
                scenario.kind.resource(scenario.version),
                scenario.namespace,
                scenario.name
            ));
        }
    }
    slowest.sort();
    eprintln!(
        "{} scenario runs in {elapsed:.1?}; slowest: {:?}",
        scenarios.len(),
        slowest.iter().rev().take(3).collect::<Vec<_>>()
    );
    assert!(
        failures.is_empty(),
        "{} of {} scenario runs failed through the API:\n{}\n{}",
        failures.len(),
        scenarios.len(),
        failures.join("\n"),
        cluster.log_tail()
    );
}

mod unit {
    use super::*;

    #[test]
    fn skipped_count_is_read_from_tektons_message() {
        let cases = [
            ("Tasks Completed: 3 (Failed: 1, Cancelled 0), Skipped: 1", Some(1)),
            ("Skipped: 12", Some(12)),
            ("Tasks Completed: 2 (Failed: 0, Cancelled 0)", None),
            ("Skipped: x", None),
        ];
        for (message, expected) in cases {
            assert_eq!(stated_skipped_count(message), expected, "{message}");
        }
    }

    #[test]
    fn results_field_follows_the_version() {
        let cases = [
            (RunKind::PipelineRun, ApiVersion::V1, "results"),
            (RunKind::PipelineRun, ApiVersion::V1beta1, "pipelineResults"),
            (RunKind::TaskRun, ApiVersion::V1, "results"),
            (RunKind::TaskRun, ApiVersion::V1beta1, "taskResults"),
        ];
        for (kind, version, field) in cases {
            assert_eq!(kind.results_field(version), field);
        }
    }

    fn scenario(version: ApiVersion) -> Scenario {
        Scenario {
            file: "pr-x.yaml".into(),
            version,
            namespace: "pr-x-ns".into(),
            manifest: String::new(),
            kind: RunKind::PipelineRun,
            name: "x".into(),
            expected: Expectation {
                status: "False".into(),
                reason: "Failed".into(),
                message: Some("Skipped: 1".into()),
                results: BTreeMap::from([("out".to_string(), "yes".to_string())]),
                set_status: None,
            },
        }
    }

    #[test]
    fn check_names_the_field_that_differs() {
        let condition = |status: &str, reason: &str, message: &str| serde_json::json!([{"type": "Succeeded", "status": status, "reason": reason, "message": message}]);
        let skipped = serde_json::json!([{"name": "t", "reason": "When Expressions evaluated to false"}]);
        let good_v1 = serde_json::json!({"status": {
            "conditions": condition("False", "Failed", "Tasks Completed: 1 (Failed: 1, Cancelled 0), Skipped: 1"),
            "results": [{"name": "out", "value": "yes"}],
            "skippedTasks": skipped,
        }});
        let good_v1beta1 = serde_json::json!({"status": {
            "conditions": condition("False", "Failed", "Skipped: 1"),
            "pipelineResults": [{"name": "out", "value": "yes"}],
            "skippedTasks": skipped,
        }});
        let cases: [(ApiVersion, Value, &[&str]); 6] = [
            (ApiVersion::V1, good_v1.clone(), &[]),
            (ApiVersion::V1beta1, good_v1beta1, &[]),
            // v1 field names read as v1beta1: the result is missing there.
            (
                ApiVersion::V1beta1,
                good_v1,
                &["status.pipelineResults[out] expected \"yes\", got None"],
            ),
            (
                ApiVersion::V1,
                serde_json::json!({"status": {
                    "conditions": condition("False", "PipelineRunTimeout", "Skipped: 1"),
                    "results": [{"name": "out", "value": "no"}],
                    "skippedTasks": skipped,
                }}),
                &[
                    "reason \"Failed\", got status \"False\" reason \"PipelineRunTimeout\"",
                    "status.results[out] expected \"yes\", got Some(\"no\")",
                ],
            ),
            (
                ApiVersion::V1,
                serde_json::json!({"status": {
                    "conditions": condition("False", "Failed", "Skipped: 0"),
                    "results": [{"name": "out", "value": "yes"}],
                }}),
                &[
                    "message expected to contain \"Skipped: 1\"",
                    "status.skippedTasks expected 1 entries",
                ],
            ),
            (
                ApiVersion::V1,
                serde_json::json!({"status": {}}),
                &["has no Succeeded condition"],
            ),
        ];
        for (version, object, expected) in cases {
            let failures = check(&scenario(version), &object);
            assert_eq!(failures.len(), expected.len(), "{object}: {failures:?}");
            for (failure, part) in failures.iter().zip(expected) {
                assert!(failure.contains(part), "{failure:?} should contain {part:?}");
                assert!(failure.contains("pr-x-ns/x"), "{failure:?} names the object");
            }
        }
    }

    #[test]
    fn namespace_sensitive_scenarios_are_recognised() {
        assert!(needs_default_namespace("x $(context.taskRun.namespace) y"));
        assert!(needs_default_namespace("$(context.pipelineRun.namespace)"));
        assert!(!needs_default_namespace("$(context.pipelineRun.name)"));
    }
}
