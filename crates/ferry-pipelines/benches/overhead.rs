//! Latency and per-task overhead of the local executor (results in BENCHMARKS.md).
//!
//! `cargo bench -p ferry-pipelines --bench overhead` — needs `unshare` with mount and PID
//! namespaces (root, or unprivileged user namespaces).
//!
//! 1. PipelineRun handed to the runner → first output line of its first step.
//! 2. A 10-task chain (`runAfter`) of `true` steps: wall time / 10 = overhead per task.
//! 3. The same 10 tasks without edges (all start at once).
//! 4. One sandboxed step vs. the same process without a sandbox.

use std::sync::Arc;
use std::time::{Duration, Instant};

use ferry_pipelines::executor::StaticObjects;
use ferry_pipelines::executor::local::{LocalExecutor, LocalExecutorConfig};
use ferry_pipelines::local_run::{Catalog, run_pipeline_run};
use ferry_pipelines::taskrun::EngineConfig;
use ferry_types::tekton::convert::parse_pipeline_run;
use ferry_types::tekton::v1::PipelineRun;

fn pipeline_run(name: &str, tasks: usize, chained: bool, script: &str) -> PipelineRun {
    let tasks: Vec<serde_json::Value> = (0..tasks)
        .map(|i| {
            let mut task = serde_json::json!({
                "name": format!("t{i}"),
                "taskSpec": {"steps": [{"name": "s", "image": "alpine", "script": script}]}
            });
            if chained && i > 0 {
                task["runAfter"] = serde_json::json!([format!("t{}", i - 1)]);
            }
            task
        })
        .collect();
    let doc = serde_json::json!({
        "apiVersion": "tekton.dev/v1", "kind": "PipelineRun",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {"pipelineSpec": {"tasks": tasks}}
    });
    match parse_pipeline_run(doc) {
        Ok((run, _)) => run,
        Err(e) => panic!("benchmark input: {e}"),
    }
}

fn summary(mut samples: Vec<Duration>) -> String {
    samples.sort();
    let pick = |q: f64| {
        samples
            .get(((samples.len() as f64 - 1.0) * q).round() as usize)
            .copied()
            .unwrap_or_default()
    };
    format!(
        "median {:>7.1} ms, p90 {:>7.1} ms, min {:>7.1} ms (n={})",
        ms(pick(0.5)),
        ms(pick(0.9)),
        ms(pick(0.0)),
        samples.len()
    )
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn main() {
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => panic!("tokio runtime: {e}"),
    };
    let work = std::env::temp_dir().join(format!("ferry-pipelines-bench-{}", std::process::id()));
    let mut executor_config = LocalExecutorConfig::under(&work);
    executor_config.init_program = Some(vec![env!("CARGO_BIN_EXE_ferry-sandbox-init").to_string()]);
    let executor = Arc::new(LocalExecutor::new(executor_config, StaticObjects::default()));
    let catalog = Arc::new(Catalog::default());
    let config = EngineConfig::default();
    runtime.block_on(async {
        // 1. creation → first step output
        let mut first = Vec::new();
        for i in 0..20 {
            let run = pipeline_run(&format!("first-{i}"), 1, false, "echo started");
            let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
            let started = Instant::now();
            let first_line = async { rx.recv().await.map(|_| started.elapsed()) };
            let (latency, _) = tokio::join!(
                first_line,
                run_pipeline_run(executor.clone(), catalog.clone(), run, &config, None, Some(tx))
            );
            if let Some(latency) = latency {
                first.push(latency);
            }
        }
        println!("creation → first step output:        {}", summary(first));

        // 1b. one TaskRun end to end (sandbox set-up, step, teardown, status)
        let mut single = Vec::new();
        for i in 0..20 {
            let task_run = ferry_types::tekton::v1::TaskRun {
                metadata: k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta {
                    name: Some(format!("single-{i}")),
                    namespace: Some("default".into()),
                    ..Default::default()
                },
                spec: ferry_types::tekton::v1::TaskRunSpec {
                    task_spec: pipeline_run("x", 1, false, "true")
                        .spec
                        .pipeline_spec
                        .and_then(|p| p.tasks.into_iter().next())
                        .and_then(|t| t.task_spec)
                        .map(|t| t.spec),
                    ..Default::default()
                },
                ..Default::default()
            };
            let (_cancel, cancel_rx) = tokio::sync::watch::channel(false);
            let started = Instant::now();
            let _ = ferry_pipelines::local_run::execute_task_run(
                &executor, &catalog, task_run, &config, cancel_rx, None,
            )
            .await;
            single.push(started.elapsed());
        }
        println!("one TaskRun, end to end:              {}", summary(single));

        // 2. 10-task chain
        let mut chain = Vec::new();
        for i in 0..5 {
            let run = pipeline_run(&format!("chain-{i}"), 10, true, "true");
            let started = Instant::now();
            let (done, _) =
                run_pipeline_run(executor.clone(), catalog.clone(), run, &config, None, None).await;
            let ok = done
                .status
                .as_ref()
                .and_then(|s| s.succeeded())
                .is_some_and(|c| c.status == "True");
            assert!(ok, "chain run failed: {:?}", done.status);
            chain.push(started.elapsed() / 10);
        }
        println!("10-task chain, per task:              {}", summary(chain));

        // 3. 10 parallel tasks
        let mut parallel = Vec::new();
        for i in 0..5 {
            let run = pipeline_run(&format!("fan-{i}"), 10, false, "true");
            let started = Instant::now();
            let _ = run_pipeline_run(executor.clone(), catalog.clone(), run, &config, None, None).await;
            parallel.push(started.elapsed());
        }
        println!("10 parallel tasks, total:             {}", summary(parallel));
    });

    // 4. sandbox cost
    let mut bare = Vec::new();
    for _ in 0..20 {
        let started = Instant::now();
        let _ = std::process::Command::new("sh").args(["-c", "true"]).status();
        bare.push(started.elapsed());
    }
    println!("bare `sh -c true`:                    {}", summary(bare));
    let _ = std::fs::remove_dir_all(&work);
}
