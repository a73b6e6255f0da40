//! The TaskRun state machine, pure: from a TaskRun and its Task to the spec the executor
//! runs, and from the executor's outcome to the status Tekton would write (reasons,
//! messages, `steps[]`, `results`, retries, timeout, cancellation).

use std::collections::BTreeMap;
use std::time::Duration;

use ferry_types::tekton::v1::{TaskRun, TaskRunStatus};
use ferry_types::tekton::{ParamType, ParamValue, RunResult, StepState, TaskSpec};
use jiff::Timestamp;
use k8s_openapi::api::core::v1::{ContainerStateTerminated, ContainerStateWaiting};

use crate::conditions::{self, task_run as reason};
use crate::resolve::{self, TaskRunContext, WorkspaceVariables};

/// Engine settings shared by the run state machines.
#[derive(Clone, Debug)]
pub struct EngineConfig {
    /// `default-timeout-minutes` (60 in Tekton); zero means no timeout.
    pub default_timeout: Duration,
    /// Largest result a step may write, in bytes (Tekton's sidecar-logs `max-result-size`
    /// default is 4096; locally we allow more by default).
    pub max_result_size: usize,
    /// At most this many TaskRuns of one PipelineRun running at once (Tekton has no cap).
    pub max_parallel_tasks: Option<usize>,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            default_timeout: Duration::from_secs(3600),
            max_result_size: 1024 * 1024,
            max_parallel_tasks: None,
        }
    }
}

/// A TaskRun ready for an executor: everything substituted.
#[derive(Clone, Debug, PartialEq)]
pub struct PreparedTaskRun {
    pub name: String,
    pub namespace: String,
    /// The Task with params, context, paths and workspaces substituted and
    /// `stepTemplate` merged into each step; steps keep their order.
    pub spec: TaskSpec,
    /// Step names as Tekton names containers (without the `step-` prefix).
    pub step_names: Vec<String>,
    /// Whole-TaskRun timeout; `None` for no timeout.
    pub timeout: Option<Duration>,
    pub workspaces: Vec<WorkspaceVariables>,
}

/// A TaskRun that cannot start: the reason and message for its `Succeeded=False`.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{reason}: {message}")]
pub struct TaskRunFailure {
    pub reason: &'static str,
    pub message: String,
}

/// Timeout of a TaskRun: `spec.timeout`, else the configured default; `0s` means none.
pub fn task_run_timeout(run: &TaskRun, config: &EngineConfig) -> Result<Option<Duration>, TaskRunFailure> {
    let timeout = match &run.spec.timeout {
        Some(text) => crate::duration::parse(text).map_err(|e| TaskRunFailure {
            reason: reason::VALIDATION_FAILED,
            message: format!(
                "invalid TaskRun {:?}: {e}: spec.timeout",
                run.metadata.name.as_deref().unwrap_or_default()
            ),
        })?,
        None => config.default_timeout,
    };
    Ok((!timeout.is_zero()).then_some(timeout))
}

/// Validates params and applies every substitution. `task_name` is the Task's name for
/// messages and `$(context.task.name)`.
pub fn prepare(
    run: &TaskRun,
    spec: &TaskSpec,
    task_name: &str,
    config: &EngineConfig,
) -> Result<PreparedTaskRun, TaskRunFailure> {
    let name = run.metadata.name.clone().unwrap_or_default();
    let inline = run.spec.task_spec.is_some();
    if let Err(errors) = crate::validate::validate_task_spec(spec, inline) {
        return Err(TaskRunFailure {
            reason: reason::TASK_VALIDATION_FAILED,
            message: errors.to_string(),
        });
    }
    let params = crate::params::resolve(&spec.params, &run.spec.params).map_err(|e| TaskRunFailure {
        reason: reason::VALIDATION_FAILED,
        message: format!("[User error] invalid input params for task {task_name}: {e}"),
    })?;
    check_array_indexing(spec, &params).map_err(|message| TaskRunFailure {
        reason: reason::VALIDATION_FAILED,
        message,
    })?;
    let mut workspaces = Vec::new();
    for declared in &spec.workspaces {
        let binding = run.spec.workspaces.iter().find(|b| b.name == declared.name);
        if binding.is_none() && !declared.optional {
            return Err(TaskRunFailure {
                reason: reason::VALIDATION_FAILED,
                message: format!(
                    "[User error] invalid input params for task {task_name}: bind workspace {:?} is required but not provided",
                    declared.name
                ),
            });
        }
        workspaces.push(WorkspaceVariables {
            name: declared.name.clone(),
            path: if binding.is_some() {
                declared.effective_mount_path()
            } else {
                String::new()
            },
            bound: binding.is_some(),
            claim: binding
                .and_then(|b| b.persistent_volume_claim.as_ref())
                .and_then(|c| c.get("claimName"))
                .and_then(|c| c.as_str())
                .unwrap_or_default()
                .to_string(),
            volume: binding
                .map(|_| format!("ws-{}", declared.name))
                .unwrap_or_default(),
        });
    }
    let context = TaskRunContext {
        name: name.clone(),
        namespace: run
            .metadata
            .namespace
            .clone()
            .unwrap_or_else(|| "default".to_string()),
        uid: run.metadata.uid.clone().unwrap_or_default(),
        task_name: task_name.to_string(),
        retry_count: run.status.as_ref().map_or(0, |s| s.retries_status.len()),
    };
    let applied = resolve::apply_task_spec(spec, &params, &context, &workspaces);
    let mut merged = applied.clone();
    merged.steps = applied
        .steps
        .iter()
        .map(|s| resolve::merge_step_template(applied.step_template.as_ref(), s))
        .collect();
    let step_names = merged
        .steps
        .iter()
        .enumerate()
        .map(|(i, s)| resolve::step_name(s, i))
        .collect();
    Ok(PreparedTaskRun {
        name,
        namespace: context.namespace,
        spec: merged,
        step_names,
        timeout: task_run_timeout(run, config)?,
        workspaces,
    })
}

/// `$(params.a[i])` with `i` past the end of the array (Tekton: `ParamArrayIndexingInvalid`).
fn check_array_indexing(spec: &TaskSpec, params: &BTreeMap<String, ParamValue>) -> Result<(), String> {
    let texts = spec.steps.iter().flat_map(|s| {
        s.args
            .iter()
            .chain(s.command.iter())
            .chain(s.script.iter())
            .map(String::as_str)
            .collect::<Vec<_>>()
    });
    let mut invalid = Vec::new();
    for text in texts {
        for reference in crate::substitution::references(text) {
            if let Some(parsed) = crate::substitution::parse_param_reference(reference)
                && let Some(crate::substitution::ParamIndex::Element(i)) = parsed.index
                && let Some(ParamValue::Array(items)) = params.get(parsed.name)
                && i >= items.len()
            {
                invalid.push(format!("$({reference})"));
            }
        }
    }
    if invalid.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "[User error] invalid input params for task: non-existent param references: {}",
            crate::params::go_list(&invalid)
        ))
    }
}

/// How a step ended, as the executor reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StepEnd {
    /// Exited; `continued` when `onError: continue` swallowed a non-zero code.
    Exited { code: i32, continued: bool },
    /// Never ran because an earlier step failed.
    Skipped,
    /// Killed at its own `timeout`.
    TimedOut,
    /// Killed because the TaskRun timed out or was cancelled.
    Killed,
}

/// One step's outcome.
#[derive(Clone, Debug, PartialEq)]
pub struct StepOutcome {
    pub name: String,
    pub image: String,
    pub end: StepEnd,
    pub started_at: Option<Timestamp>,
    pub finished_at: Option<Timestamp>,
}

/// What the executor reports for a whole attempt.
#[derive(Clone, Debug, PartialEq)]
pub struct ExecutionOutcome {
    pub steps: Vec<StepOutcome>,
    /// Raw contents of `/tekton/results/<name>` for each file written.
    pub results: BTreeMap<String, String>,
    /// The attempt could not run at all (e.g. a missing Secret): reason and message.
    pub setup_failure: Option<TaskRunFailure>,
    pub timed_out: bool,
    pub cancelled: bool,
}

/// Status at the start of an attempt.
pub fn running_status(
    previous: Option<&TaskRunStatus>,
    step_names: &[String],
    now: Timestamp,
) -> TaskRunStatus {
    let mut status = previous.cloned().unwrap_or_default();
    if status.start_time.is_none() {
        status.start_time = Some(conditions::time(now));
    }
    status.steps = step_names
        .iter()
        .map(|name| StepState {
            name: name.clone(),
            container: format!("step-{name}"),
            waiting: Some(ContainerStateWaiting {
                reason: Some("PodInitializing".into()),
                message: None,
            }),
            ..Default::default()
        })
        .collect();
    conditions::set_succeeded(
        &mut status.conditions,
        conditions::succeeded("Unknown", reason::RUNNING, reason::RUNNING_MESSAGE, now),
    );
    status
}

/// A failure before any step ran.
pub fn failed_status(
    previous: Option<&TaskRunStatus>,
    failure: &TaskRunFailure,
    now: Timestamp,
) -> TaskRunStatus {
    let mut status = previous.cloned().unwrap_or_default();
    if status.start_time.is_none() {
        status.start_time = Some(conditions::time(now));
    }
    status.completion_time = Some(conditions::time(now));
    conditions::set_succeeded(
        &mut status.conditions,
        conditions::succeeded("False", failure.reason, failure.message.clone(), now),
    );
    status
}

fn step_state(outcome: &StepOutcome) -> (StepState, Option<String>) {
    let container = format!("step-{}", outcome.name);
    let (exit_code, k8s_reason, termination_reason, message) = match &outcome.end {
        StepEnd::Exited { code: 0, .. } => (0, "Completed", "Completed", None),
        StepEnd::Exited {
            code,
            continued: true,
        } => (*code, "Completed", "Continued", None),
        StepEnd::Exited {
            code,
            continued: false,
        } => (
            *code,
            "Error",
            "Error",
            Some(format!("{container:?} exited with code {code}: Error")),
        ),
        StepEnd::Skipped => (1, "Error", "Skipped", None),
        StepEnd::TimedOut => (
            1,
            "Error",
            "TimeoutExceeded",
            Some(format!(
                "{container:?} exited because the step exceeded the specified timeout limit"
            )),
        ),
        StepEnd::Killed => (1, "TaskRunCancelled", "Cancelled", None),
    };
    let state = StepState {
        terminated: Some(ContainerStateTerminated {
            exit_code,
            reason: Some(k8s_reason.to_string()),
            message: None,
            started_at: outcome.started_at.map(conditions::time),
            finished_at: outcome.finished_at.map(conditions::time),
            container_id: None,
            signal: None,
        }),
        name: outcome.name.clone(),
        container,
        image_id: outcome.image.clone(),
        termination_reason: Some(termination_reason.to_string()),
        ..Default::default()
    };
    (state, message)
}

/// Typed results: declared array/object results are JSON in the file.
fn parse_results(
    spec: &TaskSpec,
    raw: &BTreeMap<String, String>,
    limit: usize,
    run_name: &str,
) -> Result<Vec<RunResult>, TaskRunFailure> {
    let mut out = Vec::new();
    for (name, text) in raw {
        if text.len() > limit {
            return Err(TaskRunFailure {
                reason: reason::RESULT_TOO_LARGE,
                message: format!(
                    "TaskRun {run_name:?} failed to create results: result {name:?} is {} bytes, larger than the allowed size of {limit} bytes",
                    text.len()
                ),
            });
        }
        let declared = spec.results.iter().find(|r| &r.name == name);
        let type_ = declared.map_or(ParamType::String, |r| r.effective_type());
        let value = match type_ {
            ParamType::String => ParamValue::String(text.clone()),
            _ => match serde_json::from_str::<serde_json::Value>(text)
                .ok()
                .and_then(|v| ParamValue::try_from(v).ok())
            {
                Some(v) if v.param_type() == type_ => v,
                _ => {
                    return Err(TaskRunFailure {
                        reason: reason::FAILED,
                        message: format!(
                            "TaskRun {run_name:?} failed: result {name:?} is declared as {type_} but {text:?} is not a JSON {type_}"
                        ),
                    });
                }
            },
        };
        out.push(RunResult {
            name: name.clone(),
            type_: Some(type_),
            value,
        });
    }
    Ok(out)
}

/// What to do after an attempt ended.
#[derive(Clone, Debug, PartialEq)]
pub struct AttemptResult {
    pub status: TaskRunStatus,
    /// The attempt failed and a retry is due: run the TaskRun again.
    pub retry: bool,
}

/// Status after an attempt, with retries: a failed attempt with retries left is archived
/// into `retriesStatus` and the run goes `Unknown/ToBeRetried`.
pub fn finish_attempt(
    run: &TaskRun,
    prepared: &PreparedTaskRun,
    outcome: &ExecutionOutcome,
    config: &EngineConfig,
    now: Timestamp,
) -> AttemptResult {
    let name = prepared.name.clone();
    let mut status = run.status.clone().unwrap_or_default();
    if status.start_time.is_none() {
        status.start_time = Some(conditions::time(now));
    }
    status.completion_time = Some(conditions::time(now));
    let mut first_failure: Option<String> = None;
    status.steps = outcome
        .steps
        .iter()
        .map(|step| {
            let (state, message) = step_state(step);
            if first_failure.is_none() {
                first_failure = message;
            }
            state
        })
        .collect();
    let condition = if let Some(failure) = &outcome.setup_failure {
        conditions::succeeded("False", failure.reason, failure.message.clone(), now)
    } else if outcome.cancelled {
        let extra = run
            .spec
            .status_message
            .as_deref()
            .map(|m| format!(" {m}"))
            .unwrap_or_default();
        conditions::succeeded(
            "False",
            reason::CANCELLED,
            format!("TaskRun {name:?} was cancelled.{extra}"),
            now,
        )
    } else if outcome.timed_out {
        let limit = prepared.timeout.map(crate::duration::format).unwrap_or_default();
        conditions::succeeded(
            "False",
            reason::TIMEOUT,
            format!("TaskRun {name:?} failed to finish within {limit:?}"),
            now,
        )
    } else if let Some(message) = first_failure {
        conditions::succeeded("False", reason::STEP_FAILED, message, now)
    } else {
        match parse_results(&prepared.spec, &outcome.results, config.max_result_size, &name) {
            Ok(results) => {
                status.results = results;
                conditions::succeeded("True", reason::SUCCEEDED, reason::SUCCEEDED_MESSAGE, now)
            }
            Err(failure) => conditions::succeeded("False", failure.reason, failure.message, now),
        }
    };
    // Results of failed TaskRuns are still recorded.
    if condition.status == "False"
        && status.results.is_empty()
        && let Ok(results) = parse_results(&prepared.spec, &outcome.results, config.max_result_size, &name)
    {
        status.results = results;
    }
    let failed = condition.status == "False";
    conditions::set_succeeded(&mut status.conditions, condition);
    let retries = run.spec.retries.unwrap_or(0).max(0) as usize;
    let retriable = failed
        && !outcome.cancelled
        && outcome
            .setup_failure
            .as_ref()
            .is_none_or(|f| f.reason != reason::VALIDATION_FAILED);
    if retriable && status.retries_status.len() < retries {
        let mut archived = status.clone();
        archived.retries_status.clear();
        let mut next = TaskRunStatus {
            retries_status: status.retries_status.clone(),
            ..Default::default()
        };
        next.retries_status.push(archived);
        conditions::set_succeeded(
            &mut next.conditions,
            conditions::succeeded("Unknown", reason::TO_BE_RETRIED, "", now),
        );
        return AttemptResult {
            status: next,
            retry: true,
        };
    }
    AttemptResult { status, retry: false }
}

/// Whether the TaskRun is finished (its Succeeded condition is True or False).
pub fn is_done(run: &TaskRun) -> bool {
    run.status
        .as_ref()
        .is_some_and(|s| conditions::is_done(&s.conditions))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn run(value: serde_json::Value) -> TaskRun {
        serde_json::from_value(value).expect("taskrun")
    }

    fn spec(value: serde_json::Value) -> TaskSpec {
        serde_json::from_value(value).expect("spec")
    }

    fn at(second: i64) -> Timestamp {
        Timestamp::from_second(second).expect("valid")
    }

    fn exited(name: &str, code: i32) -> StepOutcome {
        StepOutcome {
            name: name.into(),
            image: "img".into(),
            end: StepEnd::Exited {
                code,
                continued: false,
            },
            started_at: Some(at(1)),
            finished_at: Some(at(2)),
        }
    }

    fn outcome(steps: Vec<StepOutcome>, results: &[(&str, &str)]) -> ExecutionOutcome {
        ExecutionOutcome {
            steps,
            results: results
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            setup_failure: None,
            timed_out: false,
            cancelled: false,
        }
    }

    #[test]
    fn prepare_reports_missing_and_mistyped_params() {
        let task = spec(
            json!({"params": [{"name": "a"}, {"name": "b", "type": "array"}], "steps": [{"image": "x", "args": ["$(params.b[*])"]}]}),
        );
        let tr = run(json!({"metadata": {"name": "tr"}, "spec": {"taskRef": {"name": "t"}}}));
        let err = prepare(&tr, &task, "t", &EngineConfig::default()).expect_err("missing");
        assert_eq!(err.reason, "TaskRunValidationFailed");
        assert_eq!(
            err.message,
            "[User error] invalid input params for task t: missing values for these params which have no default values: [a b]"
        );
        let tr = run(
            json!({"metadata": {"name": "tr"}, "spec": {"params": [{"name": "a", "value": "x"}, {"name": "b", "value": "y"}]}}),
        );
        let err = prepare(&tr, &task, "t", &EngineConfig::default()).expect_err("mismatch");
        assert_eq!(
            err.message,
            "[User error] invalid input params for task t: param types don't match the user-specified type: [b]"
        );
        let tr = run(
            json!({"metadata": {"name": "tr"}, "spec": {"timeout": "90s", "params": [{"name": "a", "value": "x"}, {"name": "b", "value": ["1", "2"]}]}}),
        );
        let prepared = prepare(&tr, &task, "t", &EngineConfig::default()).expect("prepares");
        assert_eq!(prepared.spec.steps[0].args, ["1", "2"]);
        assert_eq!(prepared.step_names, ["unnamed-0"]);
        assert_eq!(prepared.timeout, Some(Duration::from_secs(90)));
    }

    #[test]
    fn outcomes_map_to_tekton_reasons() {
        let task = spec(
            json!({"results": [{"name": "r"}, {"name": "arr", "type": "array"}], "steps": [{"name": "a", "image": "x"}, {"name": "b", "image": "x"}]}),
        );
        let tr = run(json!({"metadata": {"name": "tr"}, "spec": {"timeout": "1m"}}));
        let prepared = prepare(&tr, &task, "t", &EngineConfig::default()).expect("prepares");
        let config = EngineConfig::default();
        let skipped = StepOutcome {
            end: StepEnd::Skipped,
            ..exited("b", 0)
        };
        let timed_out = StepOutcome {
            end: StepEnd::TimedOut,
            ..exited("a", 0)
        };
        let continued = StepOutcome {
            end: StepEnd::Exited {
                code: 3,
                continued: true,
            },
            ..exited("a", 0)
        };
        let cases: Vec<(ExecutionOutcome, &str, &str, &str)> = vec![
            (
                outcome(
                    vec![exited("a", 0), exited("b", 0)],
                    &[("r", "v"), ("arr", "[\"x\",\"y\"]")],
                ),
                "True",
                "Succeeded",
                "All Steps have completed executing",
            ),
            (
                outcome(vec![exited("a", 2), skipped.clone()], &[]),
                "False",
                "StepFailed",
                "\"step-a\" exited with code 2: Error",
            ),
            (
                outcome(vec![continued, exited("b", 0)], &[]),
                "True",
                "Succeeded",
                "All Steps have completed executing",
            ),
            (
                outcome(vec![timed_out, skipped.clone()], &[]),
                "False",
                "StepFailed",
                "\"step-a\" exited because the step exceeded the specified timeout limit",
            ),
            (
                ExecutionOutcome {
                    timed_out: true,
                    ..outcome(vec![], &[])
                },
                "False",
                "TaskRunTimeout",
                "TaskRun \"tr\" failed to finish within \"1m0s\"",
            ),
            (
                ExecutionOutcome {
                    cancelled: true,
                    ..outcome(vec![], &[])
                },
                "False",
                "TaskRunCancelled",
                "TaskRun \"tr\" was cancelled.",
            ),
            (
                outcome(vec![exited("a", 0)], &[("arr", "not json")]),
                "False",
                "Failed",
                "TaskRun \"tr\" failed: result \"arr\" is declared as array but \"not json\" is not a JSON array",
            ),
        ];
        for (outcome, status, why, message) in cases {
            let result = finish_attempt(&tr, &prepared, &outcome, &config, at(5));
            let condition = result.status.succeeded().expect("condition");
            assert_eq!(
                (
                    condition.status.as_str(),
                    condition.reason.as_deref(),
                    condition.message.as_deref()
                ),
                (status, Some(why), Some(message))
            );
            assert!(!result.retry);
        }
        let ok = finish_attempt(
            &tr,
            &prepared,
            &outcome(
                vec![exited("a", 0), exited("b", 0)],
                &[("r", "v"), ("arr", "[\"x\"]")],
            ),
            &config,
            at(5),
        );
        assert_eq!(ok.status.results[0].value, ParamValue::Array(vec!["x".into()]));
        assert_eq!(ok.status.results[1].value, ParamValue::String("v".into()));
        let failed = finish_attempt(
            &tr,
            &prepared,
            &outcome(vec![exited("a", 2), skipped], &[]),
            &config,
            at(5),
        );
        let steps: Vec<(i32, Option<&str>)> = failed
            .status
            .steps
            .iter()
            .map(|s| {
                (
                    s.terminated.as_ref().map_or(-1, |t| t.exit_code),
                    s.termination_reason.as_deref(),
                )
            })
            .collect();
        assert_eq!(steps, [(2, Some("Error")), (1, Some("Skipped"))]);
    }

    #[test]
    fn oversized_results_fail_with_the_limit_reason() {
        let task = spec(json!({"results": [{"name": "r"}], "steps": [{"image": "x"}]}));
        let tr = run(json!({"metadata": {"name": "tr"}}));
        let config = EngineConfig {
            max_result_size: 4,
            ..Default::default()
        };
        let prepared = prepare(&tr, &task, "t", &config).expect("prepares");
        let result = finish_attempt(
            &tr,
            &prepared,
            &outcome(vec![exited("unnamed-0", 0)], &[("r", "12345")]),
            &config,
            at(1),
        );
        assert_eq!(
            result.status.succeeded().and_then(|c| c.reason.as_deref()),
            Some("TaskRunResultLargerThanAllowedLimit")
        );
    }

    #[test]
    fn failed_attempts_are_retried_then_fail() {
        let task = spec(json!({"steps": [{"name": "a", "image": "x"}]}));
        let mut tr = run(json!({"metadata": {"name": "tr"}, "spec": {"retries": 1}}));
        let config = EngineConfig::default();
        let prepared = prepare(&tr, &task, "t", &config).expect("prepares");
        let first = finish_attempt(
            &tr,
            &prepared,
            &outcome(vec![exited("a", 1)], &[]),
            &config,
            at(1),
        );
        assert!(first.retry);
        assert_eq!(
            first.status.succeeded().and_then(|c| c.reason.as_deref()),
            Some("ToBeRetried")
        );
        assert_eq!(first.status.retries_status.len(), 1);
        assert!(first.status.start_time.is_none());
        tr.status = Some(first.status);
        let prepared = prepare(&tr, &task, "t", &config).expect("prepares");
        let second = finish_attempt(
            &tr,
            &prepared,
            &outcome(vec![exited("a", 1)], &[]),
            &config,
            at(2),
        );
        assert!(!second.retry);
        assert_eq!(
            second.status.succeeded().and_then(|c| c.reason.as_deref()),
            Some("StepFailed")
        );
        assert_eq!(second.status.retries_status.len(), 1);
    }
}
