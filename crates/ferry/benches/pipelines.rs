//! Pipeline latency through the API server and the run controller (issue 6, Performance).
//!
//! Starts `ferry up --sim-speed 0` as a child process (as the `cloneset` bench does) and drives it
//! over HTTP with kube-rs like any client: PipelineRuns (tekton.dev/v1, inline `pipelineSpec`) are
//! created through the API, the controller inside `ferry up` creates their TaskRuns, and the local
//! executor runs the steps in its sandbox (`ferry sandbox-init`). `cargo bench` builds the `ferry`
//! binary in the bench profile (optimised), so no separate build step is needed.
//!
//! How time is taken:
//! - "Created" is the moment the create request's response arrives (the API server has stored the
//!   run). The request's own round trip is reported next to it.
//! - A step's start is read from the step itself: the step *is* `date +%s%N` (its `command`, no
//!   shell), which prints the wall clock in nanoseconds as soon as it is exec'd inside the sandbox;
//!   the bench reads it from the step's log file (`<data dir>/logs/<ns>/<taskrun>/<step>.log`)
//!   and compares it with its own wall clock (same host, same clock). The TaskRun status'
//!   `startedAt` cannot be used: Kubernetes timestamps have one-second resolution.
//! - A run's end is the moment a GET (every [`FINISH_POLL`]) first shows `Succeeded=True`: up to
//!   that interval later than the status write.
//!
//! Phases, sequential (one run at a time, on an otherwise idle controller), each run bounded by
//! [`RUN_LIMIT`]:
//! 1. [`FIRST_STEP_RUNS`] one-task runs: created → first step start.
//! 2. [`CHAIN_RUNS`] 10-task chains (`runAfter`) of `true` steps (`script: "true"`, as the in-process
//!    bench): created → `Succeeded` seen. Overhead per task = (total − 10 × the step's own runtime)
//!    / 10, where the step's runtime is taken as a bare `sh -c true` on the host (fork, exec, exit;
//!    measured here), an upper bound of what `true` itself costs.
//! 3. The same chain with `date +%s%N` steps: where the time goes (created → first step, step start
//!    → next step start, last step start → `Succeeded` seen).
//!
//! Two warm-up runs precede the measurements (first watch events, first sandbox). Run with
//! `cargo bench -p ferry --bench pipelines`; it prints a table and exits by itself.

use std::{
    path::PathBuf,
    process::Command,
    time::{Duration, Instant, SystemTime},
};

use anyhow::Context;
use kube::{
    Api,
    api::{DynamicObject, PostParams},
    core::{ApiResource, GroupVersionKind},
};
use serde_json::{Value, json};

mod support;
use support::Cluster;

/// Bound on one run, from the create request to its final condition.
const RUN_LIMIT: Duration = Duration::from_secs(30);
/// How often a run's status is read while waiting for its end.
const FINISH_POLL: Duration = Duration::from_millis(5);
const FIRST_STEP_RUNS: usize = 20;
const CHAIN_RUNS: usize = 5;
const CHAIN_LENGTH: usize = 10;
const WARM_UP_RUNS: usize = 2;
const NAMESPACE: &str = "default";

/// The log directory of one TaskRun.
fn task_run_logs(cluster: &Cluster, task_run: &str) -> PathBuf {
    cluster.data_dir.join("logs").join(NAMESPACE).join(task_run)
}

/// A step of the benchmark's runs.
#[derive(Clone, Copy)]
enum Step {
    /// `script: "true"` (the trivial step).
    True,
    /// `command: [date, +%s%N]`: prints its own start time.
    Stamp,
}

impl Step {
    fn spec(self) -> Value {
        match self {
            Step::True => json!({"name": "s", "image": "alpine", "script": "true"}),
            Step::Stamp => json!({"name": "s", "image": "alpine", "command": ["date", "+%s%N"]}),
        }
    }
}

/// A PipelineRun of `tasks` tasks `t0`, `t1`, … (chained with `runAfter` when `chained`).
fn pipeline_run(name: &str, tasks: usize, chained: bool, step: Step) -> Value {
    let tasks: Vec<Value> = (0..tasks)
        .map(|i| {
            let mut task = json!({"name": format!("t{i}"), "taskSpec": {"steps": [step.spec()]}});
            if chained && i > 0 {
                task["runAfter"] = json!([format!("t{}", i - 1)]);
            }
            task
        })
        .collect();
    json!({
        "apiVersion": "tekton.dev/v1",
        "kind": "PipelineRun",
        "metadata": {"name": name, "namespace": NAMESPACE},
        "spec": {"pipelineSpec": {"tasks": tasks}}
    })
}

/// Wall-clock instants of one run, as the client saw them.
struct Timed {
    sent: SystemTime,
    created: SystemTime,
    created_instant: Instant,
    /// When a status read first showed `Succeeded=True`.
    finished_instant: Instant,
}

/// Creates a run, waits until it succeeded, and returns when that happened.
async fn run_to_end(runs: &Api<DynamicObject>, body: Value) -> anyhow::Result<Timed> {
    let name = body
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let object: DynamicObject = serde_json::from_value(body).context("encoding the PipelineRun")?;
    let sent = SystemTime::now();
    runs.create(&PostParams::default(), &object)
        .await
        .with_context(|| format!("creating PipelineRun {name}"))?;
    let created = SystemTime::now();
    let created_instant = Instant::now();
    loop {
        let current = runs
            .get(&name)
            .await
            .with_context(|| format!("reading PipelineRun {name}"))?;
        let condition = current
            .data
            .pointer("/status/conditions")
            .and_then(Value::as_array)
            .and_then(|cs| cs.iter().find(|c| c["type"] == "Succeeded"))
            .cloned();
        let status = condition
            .as_ref()
            .and_then(|c| c["status"].as_str())
            .unwrap_or_default();
        match status {
            "True" => {
                return Ok(Timed {
                    sent,
                    created,
                    created_instant,
                    finished_instant: Instant::now(),
                });
            }
            "False" => anyhow::bail!("PipelineRun {name} failed: {}", condition.unwrap_or_default()),
            _ => {}
        }
        if created_instant.elapsed() > RUN_LIMIT {
            anyhow::bail!("PipelineRun {name} did not finish within {RUN_LIMIT:?}");
        }
        tokio::time::sleep(FINISH_POLL).await;
    }
}

/// The wall-clock start a `date +%s%N` step printed into its log.
fn stamped_start(cluster: &Cluster, task_run: &str) -> anyhow::Result<SystemTime> {
    let dir = task_run_logs(cluster, task_run);
    let log = std::fs::read_dir(&dir)
        .with_context(|| format!("reading {}", dir.display()))?
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .find(|path| path.extension().is_some_and(|ext| ext == "log"))
        .with_context(|| format!("no step log in {}", dir.display()))?;
    let text = std::fs::read_to_string(&log).with_context(|| format!("reading {}", log.display()))?;
    let nanos: u64 = text
        .lines()
        .find_map(|line| line.trim().parse().ok())
        .with_context(|| format!("{}: no timestamp in {text:?}", log.display()))?;
    Ok(SystemTime::UNIX_EPOCH + Duration::from_nanos(nanos))
}

/// `later − earlier` in milliseconds, negative when `later` is earlier.
fn ms_between(earlier: SystemTime, later: SystemTime) -> f64 {
    match later.duration_since(earlier) {
        Ok(d) => d.as_secs_f64() * 1000.0,
        Err(e) => -e.duration().as_secs_f64() * 1000.0,
    }
}

/// p50 / p95 / min / max of samples in milliseconds (nearest rank).
fn summary(samples: &[f64]) -> String {
    let mut sorted = samples.to_vec();
    sorted.sort_by(f64::total_cmp);
    let rank = |q: f64| {
        let index = ((q * sorted.len() as f64).ceil() as usize).saturating_sub(1);
        sorted.get(index).copied().unwrap_or(f64::NAN)
    };
    format!(
        "p50 {:>7.1} ms   p95 {:>7.1} ms   min {:>7.1} ms   max {:>7.1} ms   (n={})",
        rank(0.5),
        rank(0.95),
        sorted.first().copied().unwrap_or(f64::NAN),
        sorted.last().copied().unwrap_or(f64::NAN),
        sorted.len()
    )
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|text| text.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".to_string())
}

/// Median wall time of a bare `sh -c true` on the host, in milliseconds.
fn bare_true_ms() -> f64 {
    let mut samples: Vec<f64> = (0..20)
        .filter_map(|_| {
            let started = Instant::now();
            let ok = Command::new("sh")
                .args(["-c", "true"])
                .status()
                .is_ok_and(|s| s.success());
            ok.then(|| started.elapsed().as_secs_f64() * 1000.0)
        })
        .collect();
    samples.sort_by(f64::total_cmp);
    samples.get(samples.len() / 2).copied().unwrap_or(f64::NAN)
}

async fn run() -> anyhow::Result<()> {
    println!(
        "ferry pipelines benchmark through the API ({}; load average at start {})",
        jiff::Timestamp::now().strftime("%Y-%m-%d %H:%M UTC"),
        load_average()
    );
    let cluster = Cluster::start("pipelines", "0", 3)?;
    let client = cluster.client(1).await?;
    let resource = ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("tekton.dev", "v1", "PipelineRun"),
        "pipelineruns",
    );
    let runs: Api<DynamicObject> = Api::namespaced_with(client, NAMESPACE, &resource);

    for i in 0..WARM_UP_RUNS {
        run_to_end(
            &runs,
            pipeline_run(&format!("warm-up-{i}"), 1, false, Step::Stamp),
        )
        .await?;
    }

    // 1. created → first step start
    let mut from_response = Vec::new();
    let mut from_request = Vec::new();
    let mut create_round_trip = Vec::new();
    for i in 0..FIRST_STEP_RUNS {
        let name = format!("first-{i}");
        let timed = run_to_end(&runs, pipeline_run(&name, 1, false, Step::Stamp)).await?;
        let step_start = stamped_start(&cluster, &format!("{name}-t0"))?;
        from_response.push(ms_between(timed.created, step_start));
        from_request.push(ms_between(timed.sent, step_start));
        create_round_trip.push(ms_between(timed.sent, timed.created));
    }

    // 2. 10-task chain of `true` steps
    let step_ms = bare_true_ms();
    let mut chain_total = Vec::new();
    let mut chain_overhead = Vec::new();
    for i in 0..CHAIN_RUNS {
        let timed = run_to_end(
            &runs,
            pipeline_run(&format!("chain-{i}"), CHAIN_LENGTH, true, Step::True),
        )
        .await?;
        let total = timed
            .finished_instant
            .duration_since(timed.created_instant)
            .as_secs_f64()
            * 1000.0;
        chain_total.push(total);
        chain_overhead.push((total - CHAIN_LENGTH as f64 * step_ms) / CHAIN_LENGTH as f64);
    }

    // 3. the chain with stamping steps: where the time goes
    let mut to_first = Vec::new();
    let mut hand_over = Vec::new();
    let mut last_to_seen = Vec::new();
    for i in 0..CHAIN_RUNS {
        let name = format!("stamps-{i}");
        let timed = run_to_end(&runs, pipeline_run(&name, CHAIN_LENGTH, true, Step::Stamp)).await?;
        let finished = timed.created + timed.finished_instant.duration_since(timed.created_instant);
        let starts = (0..CHAIN_LENGTH)
            .map(|t| stamped_start(&cluster, &format!("{name}-t{t}")))
            .collect::<anyhow::Result<Vec<_>>>()?;
        if let (Some(first), Some(last)) = (starts.first(), starts.last()) {
            to_first.push(ms_between(timed.created, *first));
            last_to_seen.push(ms_between(*last, finished));
        }
        hand_over.extend(starts.windows(2).map(|pair| ms_between(pair[0], pair[1])));
    }

    println!();
    println!(
        "created (create response) → first step start:    {}",
        summary(&from_response)
    );
    println!(
        "create request sent → first step start:          {}",
        summary(&from_request)
    );
    println!(
        "create request round trip:                       {}",
        summary(&create_round_trip)
    );
    println!(
        "10-task chain of `true`, created → Succeeded:    {}",
        summary(&chain_total)
    );
    println!(
        "  overhead per task ((total − 10 × {step_ms:.1} ms) / 10): {}",
        summary(&chain_overhead)
    );
    println!(
        "stamped chain: created → first step start:       {}",
        summary(&to_first)
    );
    println!(
        "stamped chain: step start → next step start:     {}",
        summary(&hand_over)
    );
    println!(
        "stamped chain: last step start → Succeeded seen: {}",
        summary(&last_to_seen)
    );
    println!("load average at end: {}", load_average());
    Ok(())
}

fn main() -> std::process::ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("pipelines bench: building the tokio runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run()) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("pipelines bench: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
