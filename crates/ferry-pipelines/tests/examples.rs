//! The example suite under `examples/pipelines/`: every scenario must reach the final
//! condition its annotations name, in tekton.dev/v1 and in tekton.dev/v1beta1 (each
//! object converted with `ferry_types::tekton::convert`). Runs real sandboxed steps.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use ferry_pipelines::executor::StaticObjects;
use ferry_pipelines::executor::local::{LocalExecutor, LocalExecutorConfig};
use ferry_pipelines::local_run::{Catalog, execute_task_run, run_pipeline_run};
use ferry_pipelines::taskrun::EngineConfig;
use ferry_types::tekton::convert::{
    ApiVersion, parse_pipeline, parse_pipeline_run, parse_task, parse_task_run, render_pipeline,
    render_pipeline_run, render_task, render_task_run,
};
use ferry_types::tekton::{Condition, ParamValue, RunResult};
use serde_json::Value;

fn sandbox_available() -> bool {
    std::process::Command::new("unshare")
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
        .is_ok_and(|s| s.success())
}

fn examples_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/pipelines")
}

/// Re-renders a Tekton object in `version` (through v1), so both conversions run.
fn in_version(doc: &Value, version: ApiVersion) -> Value {
    let kind = doc["kind"].as_str().unwrap_or_default();
    let converted = match kind {
        "Task" => parse_task(doc.clone()).map(|(o, _)| render_task(&o, version)),
        "Pipeline" => parse_pipeline(doc.clone()).map(|(o, _)| render_pipeline(&o, version)),
        "PipelineRun" => parse_pipeline_run(doc.clone()).map(|(o, _)| render_pipeline_run(&o, version)),
        "TaskRun" => parse_task_run(doc.clone()).map(|(o, _)| render_task_run(&o, version)),
        _ => return doc.clone(),
    };
    converted.unwrap_or_else(|e| panic!("{kind}: {e}"))
}

fn string_map(value: &Value) -> Vec<(String, String)> {
    value
        .as_object()
        .map(|m| {
            m.iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                .collect()
        })
        .unwrap_or_default()
}

struct Expectation {
    status: String,
    reason: String,
    message: Option<String>,
    results: Vec<(String, String)>,
    set_status: Option<(String, Duration)>,
}

fn expectation(run: &Value, file: &str) -> Expectation {
    let annotation = |key: &str| run["metadata"]["annotations"][key].as_str().map(str::to_string);
    let results = annotation("ferry.dev/expect-results")
        .map(|json| string_map(&serde_json::from_str(&json).unwrap_or_else(|e| panic!("{file}: {e}"))))
        .unwrap_or_default();
    let set_status = annotation("ferry.dev/test-set-status").map(|status| {
        let after = annotation("ferry.dev/test-set-status-after").unwrap_or_else(|| "0s".into());
        (
            status,
            ferry_pipelines::duration::parse(&after).unwrap_or_default(),
        )
    });
    Expectation {
        status: annotation("ferry.dev/expect-status").unwrap_or_else(|| panic!("{file}: no expect-status")),
        reason: annotation("ferry.dev/expect-reason").unwrap_or_else(|| panic!("{file}: no expect-reason")),
        message: annotation("ferry.dev/expect-message"),
        results,
        set_status,
    }
}

fn check(
    file: &str,
    version: ApiVersion,
    conditions: &[Condition],
    results: &[RunResult],
    expected: &Expectation,
) -> Result<(), String> {
    let condition = conditions
        .iter()
        .find(|c| c.type_ == "Succeeded")
        .ok_or_else(|| format!("{file} ({version:?}): no condition"))?;
    let message = condition.message.clone().unwrap_or_default();
    let got = (
        condition.status.as_str(),
        condition.reason.as_deref().unwrap_or_default(),
    );
    if got != (expected.status.as_str(), expected.reason.as_str()) {
        return Err(format!(
            "{file} ({version:?}): got {got:?} {message:?}, expected ({:?}, {:?})",
            expected.status, expected.reason
        ));
    }
    if let Some(part) = &expected.message
        && !message.contains(part.as_str())
    {
        return Err(format!(
            "{file} ({version:?}): message {message:?} does not contain {part:?}"
        ));
    }
    for (name, value) in &expected.results {
        let found = results.iter().find(|r| &r.name == name).map(|r| r.value.clone());
        if found != Some(ParamValue::String(value.clone())) {
            return Err(format!(
                "{file} ({version:?}): result {name} = {found:?}, expected {value:?}"
            ));
        }
    }
    Ok(())
}

async fn run_example(file: PathBuf, version: ApiVersion, work: PathBuf) -> Result<(), String> {
    let name = file
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default()
        .to_string();
    let text = std::fs::read_to_string(&file).map_err(|e| format!("{name}: {e}"))?;
    let docs: Vec<Value> = serde_saphyr::from_multiple(&text).map_err(|e| format!("{name}: {e}"))?;
    let docs: Vec<Value> = docs
        .iter()
        .filter(|d| !d.is_null())
        .map(|d| in_version(d, version))
        .collect();
    let mut catalog = Catalog::default();
    let mut objects = StaticObjects::default();
    let mut run_doc = None;
    for doc in &docs {
        let object_name = doc["metadata"]["name"].as_str().unwrap_or_default().to_string();
        match doc["kind"].as_str().unwrap_or_default() {
            "Task" => {
                let (task, _) = parse_task(doc.clone()).map_err(|e| e.to_string())?;
                catalog.tasks.insert(object_name, task.spec);
            }
            "Pipeline" => {
                let (pipeline, _) = parse_pipeline(doc.clone()).map_err(|e| e.to_string())?;
                catalog.pipelines.insert(object_name, pipeline.spec);
            }
            "Secret" => {
                let data = string_map(&doc["stringData"]);
                let pairs: Vec<(&str, &str)> = data.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
                objects = objects.with_secret("default", &object_name, &pairs);
            }
            "ConfigMap" => {
                let data = string_map(&doc["data"]);
                let pairs: Vec<(&str, &str)> = data.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
                objects = objects.with_config_map("default", &object_name, &pairs);
            }
            "PipelineRun" | "TaskRun" => run_doc = Some(doc.clone()),
            other => return Err(format!("{name}: unexpected kind {other}")),
        }
    }
    let run_doc = run_doc.ok_or_else(|| format!("{name}: no run"))?;
    if run_doc["apiVersion"] != version.as_str() {
        return Err(format!("{name}: run was not converted to {version:?}"));
    }
    let expected = expectation(&run_doc, &name);
    let mut config = LocalExecutorConfig::under(&work);
    config.tools_dir = Some(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tools"));
    config.init_program = Some(vec![env!("CARGO_BIN_EXE_ferry-sandbox-init").to_string()]);
    let executor = Arc::new(LocalExecutor::new(config, objects));
    let engine = EngineConfig {
        max_result_size: 4096,
        ..Default::default()
    };
    let catalog = Arc::new(catalog);
    let deadline = Duration::from_secs(60);
    if run_doc["kind"] == "PipelineRun" {
        let (mut run, _) = parse_pipeline_run(run_doc).map_err(|e| e.to_string())?;
        run.metadata.namespace = Some("default".into());
        let (status_tx, status_rx) = tokio::sync::watch::channel(run.spec.status.clone());
        if let Some((status, after)) = expected.set_status.clone() {
            tokio::spawn(async move {
                tokio::time::sleep(after).await;
                let _ = status_tx.send(Some(status));
            });
        }
        let (run, _children) = tokio::time::timeout(
            deadline,
            run_pipeline_run(executor, catalog, run, &engine, Some(status_rx), None),
        )
        .await
        .map_err(|_| format!("{name} ({version:?}): did not finish within {deadline:?}"))?;
        let status = run.status.unwrap_or_default();
        check(&name, version, &status.conditions, &status.results, &expected)
    } else {
        let (mut run, _) = parse_task_run(run_doc).map_err(|e| e.to_string())?;
        run.metadata.namespace = Some("default".into());
        let (_cancel_tx, cancel_rx) = tokio::sync::watch::channel(false);
        let run = tokio::time::timeout(
            deadline,
            execute_task_run(&executor, &catalog, run, &engine, cancel_rx, None),
        )
        .await
        .map_err(|_| format!("{name} ({version:?}): did not finish within {deadline:?}"))?;
        let status = run.status.unwrap_or_default();
        check(&name, version, &status.conditions, &status.results, &expected)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_example_reaches_its_expected_condition_in_both_versions() {
    if !sandbox_available() {
        eprintln!("sandbox unavailable here (unshare --mount --pid failed); skipping the example suite");
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
    let work = std::env::temp_dir().join(format!("ferry-pipelines-examples-{}", std::process::id()));
    let mut set = tokio::task::JoinSet::new();
    for file in &files {
        for version in [ApiVersion::V1, ApiVersion::V1beta1] {
            let label = format!(
                "{}-{version:?}",
                file.file_name().and_then(|n| n.to_str()).unwrap_or_default()
            );
            set.spawn(run_example(file.clone(), version, work.join(label)));
        }
    }
    let mut failures = Vec::new();
    let mut passed = 0;
    while let Some(result) = set.join_next().await {
        match result {
            Ok(Ok(())) => passed += 1,
            Ok(Err(e)) => failures.push(e),
            Err(e) => failures.push(e.to_string()),
        }
    }
    let _ = std::fs::remove_dir_all(&work);
    failures.sort();
    assert!(
        failures.is_empty(),
        "{} passed, {} failed:\n{}",
        passed,
        failures.len(),
        failures.join("\n")
    );
    assert_eq!(passed, files.len() * 2);
}
