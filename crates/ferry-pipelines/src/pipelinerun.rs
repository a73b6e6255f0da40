//! The PipelineRun state machine, pure: `(PipelineRun, Pipeline, Tasks, child TaskRuns,
//! now) → (TaskRuns to create, TaskRuns to cancel, status to write)`.
//!
//! It follows Tekton's reconciler: DAG scheduling from `runAfter` and result references,
//! when expressions with skip reasons, `finally`, timeouts (pipeline / tasks / finally and
//! per task), cancellation through `spec.status`, matrix fan-out and pipeline results.
//! Retries belong to the TaskRun ([`crate::taskrun`]). The controller calls [`reconcile`]
//! on every change of the PipelineRun or one of its TaskRuns and when `requeue_after`
//! elapses; calling it again with the same inputs yields the same plan.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use ferry_types::tekton::v1::{PipelineRun, PipelineRunStatus, PipelineTaskRunSpec, TaskRun, TaskRunSpec};
use ferry_types::tekton::{
    ChildStatusReference, EmbeddedMetadata, Param, ParamValue, PipelineSpec, PipelineTask, SkippedTask,
    TaskSpec, WhenExpression, WorkspaceBinding,
};
use jiff::Timestamp;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use serde_json::json;

use crate::conditions::{self, pipeline_run as reason};
use crate::dag::{Dag, result_references};
use crate::names::{child_name, fnv1a};
use crate::substitution::Replacements;
use crate::taskrun::EngineConfig;

/// Where the Pipeline came from.
#[derive(Clone, Debug)]
pub enum PipelineSource {
    /// The spec, and the Pipeline's name when it came from `pipelineRef`.
    Found {
        name: Option<String>,
        spec: Box<PipelineSpec>,
    },
    /// `pipelineRef` could not be fetched (message names the Pipeline).
    NotFound { message: String },
}

/// Everything one reconcile needs.
#[derive(Clone, Debug)]
pub struct PipelineRunInput<'a> {
    pub run: &'a PipelineRun,
    pub pipeline: PipelineSource,
    /// Task specs by name, for every `taskRef` the Pipeline uses (missing ones fail the run
    /// with `CouldntGetTask`).
    pub tasks: &'a BTreeMap<String, TaskSpec>,
    /// TaskRuns owned by this PipelineRun (label `tekton.dev/pipelineRun`).
    pub children: &'a [TaskRun],
    pub now: Timestamp,
}

/// Ask the TaskRun controller to cancel a child.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CancelRequest {
    pub name: String,
    /// Goes into the child's `spec.statusMessage`.
    pub message: String,
}

/// The outcome of one reconcile.
#[derive(Clone, Debug, PartialEq)]
pub struct PipelineRunPlan {
    pub status: PipelineRunStatus,
    pub create: Vec<TaskRun>,
    pub cancel: Vec<CancelRequest>,
    /// Reconcile again after this long even if nothing changes (the next timeout).
    pub requeue_after: Option<Duration>,
}

const CANCELLED_BY_TIMEOUT: &str = "TaskRun cancelled as the PipelineRun it belongs to has timed out.";
const CANCELLED_BY_USER: &str = "TaskRun cancelled as the PipelineRun it belongs to has been cancelled.";

mod skip {
    pub const WHEN: &str = "When Expressions evaluated to false";
    pub const PARENT: &str = "Parent Tasks were skipped";
    pub const RESULTS_MISSING: &str = "Results were missing";
    pub const STOPPING: &str = "PipelineRun was stopping";
    pub const PIPELINE_TIMEOUT: &str = "PipelineRun timeout has been reached";
    pub const TASKS_TIMEOUT: &str = "PipelineRun Tasks timeout has been reached";
    pub const FINALLY_TIMEOUT: &str = "PipelineRun Finally timeout has been reached";
    pub const GRACEFULLY_CANCELLED: &str = "PipelineRun was gracefully cancelled";
    pub const GRACEFULLY_STOPPED: &str = "PipelineRun was gracefully stopped";
    pub const EMPTY_MATRIX: &str = "Matrix Parameters have an empty array";
}

/// State of one pipeline task in this reconcile.
#[derive(Clone, Debug, PartialEq)]
enum TaskState {
    NotStarted,
    Running,
    Succeeded,
    Failed {
        ignored: bool,
    },
    Cancelled,
    Skipped {
        reason: &'static str,
        when: Vec<WhenExpression>,
    },
}

impl TaskState {
    fn is_done(&self) -> bool {
        !matches!(self, TaskState::NotStarted | TaskState::Running)
    }
}

fn finish(
    mut status: PipelineRunStatus,
    status_value: &str,
    why: &str,
    message: String,
    now: Timestamp,
) -> PipelineRunPlan {
    status.completion_time = Some(conditions::time(now));
    conditions::set_succeeded(
        &mut status.conditions,
        conditions::succeeded(status_value, why, message, now),
    );
    PipelineRunPlan {
        status,
        create: Vec::new(),
        cancel: Vec::new(),
        requeue_after: None,
    }
}

fn elapsed_since(
    start: Option<&k8s_openapi::apimachinery::pkg::apis::meta::v1::Time>,
    now: Timestamp,
) -> Duration {
    start
        .map(|t| now.as_millisecond().saturating_sub(t.0.as_millisecond()))
        .map(|ms| Duration::from_millis(u64::try_from(ms).unwrap_or(0)))
        .unwrap_or_default()
}

fn parse_timeout(text: Option<&String>, field: &str) -> Result<Option<Duration>, String> {
    text.map(|t| crate::duration::parse(t).map_err(|e| format!("{e}: spec.timeouts.{field}")))
        .transpose()
}

fn child_state(child: &TaskRun, on_error_continue: bool) -> TaskState {
    let Some(status) = &child.status else {
        return TaskState::Running;
    };
    match conditions::succeeded_status(&status.conditions) {
        Some("True") => TaskState::Succeeded,
        Some("False") => {
            if conditions::succeeded_reason(&status.conditions)
                == Some(crate::conditions::task_run::CANCELLED)
            {
                TaskState::Cancelled
            } else {
                TaskState::Failed {
                    ignored: on_error_continue,
                }
            }
        }
        _ => TaskState::Running,
    }
}

fn combine_states(states: Vec<TaskState>) -> TaskState {
    if states
        .iter()
        .any(|s| matches!(s, TaskState::Running | TaskState::NotStarted))
    {
        return TaskState::Running;
    }
    if states.contains(&TaskState::Cancelled) {
        return TaskState::Cancelled;
    }
    if let Some(failed) = states.iter().find(|s| matches!(s, TaskState::Failed { .. })) {
        return failed.clone();
    }
    TaskState::Succeeded
}

/// Pipeline-level variables: params, context and (filled in as tasks finish) results.
struct Scope {
    params: Replacements,
    context: Replacements,
    results: Replacements,
    /// Results per task, to tell a missing result from a present one.
    task_results: BTreeMap<String, BTreeMap<String, ParamValue>>,
}

fn evaluate_when(when: &[WhenExpression], scope: &Scope) -> (bool, Vec<WhenExpression>) {
    let resolved: Vec<WhenExpression> = when
        .iter()
        .map(|w| {
            let apply = |s: &str| scope.results.apply(&scope.context.apply(&scope.params.apply(s)));
            let values = scope.params.apply_list(&w.values);
            let values = scope.context.apply_list(&values);
            let values = scope.results.apply_list(&values);
            WhenExpression {
                input: apply(&w.input),
                operator: w.operator.clone(),
                values,
                cel: w.cel.clone(),
            }
        })
        .collect();
    let pass = resolved.iter().all(|w| match w.operator.as_str() {
        "in" => w.values.contains(&w.input),
        "notin" => !w.values.contains(&w.input),
        // CEL is not supported (Tekton gates it behind `enable-cel-in-whenexpression`).
        _ => false,
    });
    (pass, resolved)
}

fn substitute_value(value: &ParamValue, passes: &[&Replacements]) -> ParamValue {
    passes.iter().fold(value.clone(), |v, pass| pass.apply_value(&v))
}

/// Matrix combinations (cartesian product of `matrix.params`, then `include`).
fn matrix_combinations(
    task: &PipelineTask,
    passes: &[&Replacements],
) -> Option<Result<Vec<Vec<Param>>, &'static str>> {
    let matrix = task.matrix.as_ref()?;
    let mut combos: Vec<Vec<Param>> = vec![Vec::new()];
    for param in &matrix.params {
        let values = match substitute_value(&param.value, passes) {
            ParamValue::Array(items) => items,
            ParamValue::String(s) => vec![s],
            ParamValue::Object(_) => return Some(Err(reason::INVALID_MATRIX_PARAMETER_TYPES)),
        };
        if values.is_empty() {
            return Some(Ok(Vec::new()));
        }
        combos = combos
            .into_iter()
            .flat_map(|combo| {
                values.iter().map(move |v| {
                    let mut next = combo.clone();
                    next.push(Param {
                        name: param.name.clone(),
                        value: ParamValue::String(v.clone()),
                    });
                    next
                })
            })
            .collect();
    }
    if matrix.params.is_empty() {
        combos.clear();
    }
    let matrix_names: BTreeSet<&str> = matrix.params.iter().map(|p| p.name.as_str()).collect();
    for include in &matrix.include {
        let params: Vec<Param> = include
            .params
            .iter()
            .map(|p| Param {
                name: p.name.clone(),
                value: substitute_value(&p.value, passes),
            })
            .collect();
        let keys: Vec<&Param> = params
            .iter()
            .filter(|p| matrix_names.contains(p.name.as_str()))
            .collect();
        let matching: Vec<usize> = if keys.is_empty() && !combos.is_empty() && !matrix_names.is_empty() {
            (0..combos.len()).collect()
        } else if keys.is_empty() {
            Vec::new()
        } else {
            combos
                .iter()
                .enumerate()
                .filter(|(_, combo)| {
                    keys.iter()
                        .all(|k| combo.iter().any(|c| c.name == k.name && c.value == k.value))
                })
                .map(|(i, _)| i)
                .collect()
        };
        if matching.is_empty() {
            combos.push(params);
        } else {
            for i in matching {
                if let Some(combo) = combos.get_mut(i) {
                    for p in &params {
                        if !combo.iter().any(|c| c.name == p.name) {
                            combo.push(p.clone());
                        }
                    }
                }
            }
        }
    }
    Some(Ok(combos))
}

/// Reconciles a PipelineRun once.
pub fn reconcile(input: &PipelineRunInput<'_>, config: &EngineConfig) -> PipelineRunPlan {
    let run = input.run;
    let now = input.now;
    let name = run.metadata.name.clone().unwrap_or_default();
    let namespace = run
        .metadata
        .namespace
        .clone()
        .unwrap_or_else(|| "default".to_string());
    let mut status = run.status.clone().unwrap_or_default();
    if conditions::is_done(&status.conditions) {
        return PipelineRunPlan {
            status,
            create: Vec::new(),
            cancel: Vec::new(),
            requeue_after: None,
        };
    }
    if status.start_time.is_none() && run.spec.status.as_deref() == Some(reason::PENDING) {
        conditions::set_succeeded(
            &mut status.conditions,
            conditions::succeeded(
                "Unknown",
                reason::PENDING,
                format!("PipelineRun {name:?} is pending"),
                now,
            ),
        );
        return PipelineRunPlan {
            status,
            create: Vec::new(),
            cancel: Vec::new(),
            requeue_after: None,
        };
    }
    if status.start_time.is_none() {
        status.start_time = Some(conditions::time(now));
    }

    let (pipeline_name, spec) = match &input.pipeline {
        PipelineSource::Found { name, spec } => (name.clone(), (**spec).clone()),
        PipelineSource::NotFound { message } => {
            return finish(
                status,
                "False",
                reason::COULDNT_GET_PIPELINE,
                message.clone(),
                now,
            );
        }
    };
    let pipeline_label = pipeline_name.clone().unwrap_or_else(|| name.clone());
    let pipeline_id = format!("{namespace}/{pipeline_label}");
    let run_id = format!("{namespace}/{name}");
    status.pipeline_spec = Some(spec.clone());

    if let Err(errors) = crate::validate::validate_pipeline_spec(&spec) {
        let graph_error = errors
            .0
            .iter()
            .any(|e| e.message.contains("cycle detected") || e.message.contains("couldn't add link"));
        let (why, message) = if graph_error {
            (
                reason::INVALID_GRAPH,
                format!("PipelineRun {run_id}'s Pipeline DAG is invalid: {errors}"),
            )
        } else {
            (
                reason::VALIDATION_FAILED,
                format!("Pipeline {pipeline_id} can't be Run; it has an invalid spec: {errors}"),
            )
        };
        return finish(status, "False", why, message, now);
    }
    let dag = match Dag::build(&spec.tasks) {
        Ok(dag) => dag,
        Err(e) => {
            return finish(
                status,
                "False",
                reason::INVALID_GRAPH,
                format!("PipelineRun {run_id}'s Pipeline DAG is invalid: {e}"),
                now,
            );
        }
    };
    let param_values = match crate::params::resolve(&spec.params, &run.spec.params) {
        Ok(values) => values,
        Err(crate::params::ParamError::Missing(names)) => {
            return finish(
                status,
                "False",
                reason::PARAMETER_MISSING,
                format!(
                    "PipelineRun {run_id} is missing some parameters required by Pipeline {pipeline_id}: pipelineRun missing parameters: {}",
                    crate::params::go_list(&names)
                ),
                now,
            );
        }
        Err(crate::params::ParamError::TypeMismatch(names)) => {
            return finish(
                status,
                "False",
                reason::PARAMETER_TYPE_MISMATCH,
                format!(
                    "PipelineRun {run_id} parameters have mismatching types with Pipeline {pipeline_id}'s parameters: {}",
                    crate::params::go_list(&names)
                ),
                now,
            );
        }
        Err(e @ crate::params::ParamError::ObjectKeysMissing(_)) => {
            return finish(
                status,
                "False",
                reason::OBJECT_PARAMETER_MISS_KEYS,
                format!(
                    "PipelineRun {run_id} parameters is missing object keys required by Pipeline {pipeline_id}'s parameters: {e}"
                ),
                now,
            );
        }
    };
    for declared in &spec.workspaces {
        if !declared.optional && !run.spec.workspaces.iter().any(|b| b.name == declared.name) {
            return finish(
                status,
                "False",
                reason::INVALID_WORKSPACE_BINDINGS,
                format!(
                    "PipelineRun {run_id} doesn't bind Pipeline {pipeline_id}'s Workspaces correctly: pipeline requires workspace with name {:?} be provided by pipelinerun",
                    declared.name
                ),
                now,
            );
        }
    }
    for task in spec.tasks.iter().chain(spec.finally.iter()) {
        if let Some(task_ref) = &task.task_ref {
            if let Some(resolver) = &task_ref.resolver {
                return finish(
                    status,
                    "False",
                    reason::COULDNT_GET_TASK,
                    format!(
                        "Pipeline {pipeline_id} can't be Run; it contains Tasks that don't exist: Couldn't retrieve Task {:?}: remote resolver {resolver:?} is not supported by Ferry",
                        task.name
                    ),
                    now,
                );
            }
            if !task_ref.name.contains("$(") && !input.tasks.contains_key(&task_ref.name) {
                return finish(
                    status,
                    "False",
                    reason::COULDNT_GET_TASK,
                    format!(
                        "Pipeline {pipeline_id} can't be Run; it contains Tasks that don't exist: Couldn't retrieve Task {:?}: tasks.tekton.dev {:?} not found",
                        task_ref.name, task_ref.name
                    ),
                    now,
                );
            }
        }
    }

    // ---- timeouts -------------------------------------------------------------------
    let timeouts = run.spec.timeouts.clone().unwrap_or_default();
    let parsed = (|| -> Result<_, String> {
        Ok((
            parse_timeout(timeouts.pipeline.as_ref(), "pipeline")?,
            parse_timeout(timeouts.tasks.as_ref(), "tasks")?,
            parse_timeout(timeouts.finally.as_ref(), "finally")?,
        ))
    })();
    let (pipeline_timeout, tasks_timeout, finally_timeout) = match parsed {
        Ok(t) => t,
        Err(message) => {
            return finish(
                status,
                "False",
                reason::VALIDATION_FAILED,
                format!("PipelineRun {run_id}: invalid value: {message}"),
                now,
            );
        }
    };
    let pipeline_timeout = pipeline_timeout.unwrap_or(config.default_timeout);
    let elapsed = elapsed_since(status.start_time.as_ref(), now);
    let pipeline_timed_out = !pipeline_timeout.is_zero() && elapsed >= pipeline_timeout;
    let tasks_timed_out = tasks_timeout.is_some_and(|t| !t.is_zero() && elapsed >= t);
    let finally_elapsed = elapsed_since(status.finally_start_time.as_ref(), now);
    let finally_timed_out = status.finally_start_time.is_some()
        && finally_timeout.is_some_and(|t| !t.is_zero() && finally_elapsed >= t);

    // ---- children -------------------------------------------------------------------
    let mut children_by_task: BTreeMap<&str, Vec<&TaskRun>> = BTreeMap::new();
    for child in input.children {
        if let Some(task) = child
            .metadata
            .labels
            .as_ref()
            .and_then(|l| l.get("tekton.dev/pipelineTask"))
        {
            children_by_task.entry(task.as_str()).or_default().push(child);
        }
    }
    for list in children_by_task.values_mut() {
        list.sort_by_key(|c| {
            let name = c.metadata.name.clone().unwrap_or_default();
            let index = name
                .rsplit('-')
                .next()
                .and_then(|i| i.parse::<usize>().ok())
                .unwrap_or(0);
            (index, name)
        });
    }

    let spec_status = run.spec.status.as_deref();
    if spec_status == Some("Cancelled") {
        let cancel = input
            .children
            .iter()
            .filter(|c| !crate::taskrun::is_done(c))
            .filter_map(|c| c.metadata.name.clone())
            .map(|name| CancelRequest {
                name,
                message: CANCELLED_BY_USER.to_string(),
            })
            .collect();
        let mut plan = finish(
            status,
            "False",
            reason::CANCELLED,
            format!("PipelineRun {name:?} was cancelled"),
            now,
        );
        plan.cancel = cancel;
        return plan;
    }
    if pipeline_timed_out {
        status.skipped_tasks = spec
            .tasks
            .iter()
            .chain(spec.finally.iter())
            .filter(|t| !children_by_task.contains_key(t.name.as_str()))
            .map(|t| SkippedTask {
                name: t.name.clone(),
                reason: skip::PIPELINE_TIMEOUT.to_string(),
                when_expressions: Vec::new(),
            })
            .collect();
        let cancel = input
            .children
            .iter()
            .filter(|c| !crate::taskrun::is_done(c))
            .filter_map(|c| c.metadata.name.clone())
            .map(|name| CancelRequest {
                name,
                message: CANCELLED_BY_TIMEOUT.to_string(),
            })
            .collect();
        let mut plan = finish(
            status,
            "False",
            reason::TIMEOUT,
            format!(
                "PipelineRun {name:?} failed to finish within {:?}",
                crate::duration::format(pipeline_timeout)
            ),
            now,
        );
        plan.cancel = cancel;
        return plan;
    }

    // ---- scope ----------------------------------------------------------------------
    let mut scope = Scope {
        params: crate::params::replacements(&param_values),
        context: Replacements::new(),
        results: Replacements::new(),
        task_results: BTreeMap::new(),
    };
    scope.context.insert("context.pipelineRun.name", &name);
    scope.context.insert("context.pipelineRun.namespace", &namespace);
    scope.context.insert(
        "context.pipelineRun.uid",
        run.metadata.uid.clone().unwrap_or_default(),
    );
    scope.context.insert("context.pipeline.name", &pipeline_label);
    for declared in &spec.workspaces {
        let bound = run.spec.workspaces.iter().any(|b| b.name == declared.name);
        scope
            .context
            .insert(format!("workspaces.{}.bound", declared.name), bound.to_string());
    }

    let mut states: BTreeMap<String, TaskState> = BTreeMap::new();
    let all_tasks: Vec<(&PipelineTask, bool)> = spec
        .tasks
        .iter()
        .map(|t| (t, false))
        .chain(spec.finally.iter().map(|t| (t, true)))
        .collect();
    for (task, _) in &all_tasks {
        let state = match children_by_task.get(task.name.as_str()) {
            Some(children) if !children.is_empty() => {
                let on_error_continue = task.on_error.as_deref() == Some("continue");
                combine_states(
                    children
                        .iter()
                        .map(|c| child_state(c, on_error_continue))
                        .collect(),
                )
            }
            _ => TaskState::NotStarted,
        };
        // Results of finished children (aggregated to arrays for matrix tasks).
        if let Some(children) = children_by_task.get(task.name.as_str()) {
            let mut results: BTreeMap<String, ParamValue> = BTreeMap::new();
            if task.matrix.is_some() {
                let mut arrays: BTreeMap<String, Vec<String>> = BTreeMap::new();
                for child in children {
                    for r in child.status.iter().flat_map(|s| s.results.iter()) {
                        if let ParamValue::String(s) = &r.value {
                            arrays.entry(r.name.clone()).or_default().push(s.clone());
                        }
                    }
                }
                results.extend(arrays.into_iter().map(|(k, v)| (k, ParamValue::Array(v))));
                scope.context.insert(
                    format!("tasks.{}.matrix.length", task.name),
                    children.len().to_string(),
                );
            } else {
                for r in children
                    .iter()
                    .flat_map(|c| c.status.iter())
                    .flat_map(|s| s.results.iter())
                {
                    results.insert(r.name.clone(), r.value.clone());
                }
            }
            let in_finally = spec.finally.iter().any(|f| f.name == task.name);
            for (result, value) in &results {
                scope
                    .results
                    .add_value(&format!("tasks.{}.results", task.name), result, value);
                if in_finally {
                    scope
                        .results
                        .add_value(&format!("finally.{}.results", task.name), result, value);
                }
            }
            scope.task_results.insert(task.name.clone(), results);
        }
        states.insert(task.name.clone(), state);
    }

    // ---- DAG tasks ------------------------------------------------------------------
    let stopping = spec.tasks.iter().any(|t| {
        matches!(
            states.get(&t.name),
            Some(TaskState::Failed { ignored: false } | TaskState::Cancelled)
        )
    });
    let graceful_skip = match spec_status {
        Some("CancelledRunFinally") => Some(skip::GRACEFULLY_CANCELLED),
        Some("StoppedRunFinally") => Some(skip::GRACEFULLY_STOPPED),
        _ => None,
    };
    let mut cancel: Vec<CancelRequest> = Vec::new();
    if spec_status == Some("CancelledRunFinally") || tasks_timed_out {
        let message = if tasks_timed_out {
            CANCELLED_BY_TIMEOUT
        } else {
            CANCELLED_BY_USER
        };
        for task in &spec.tasks {
            for child in children_by_task.get(task.name.as_str()).into_iter().flatten() {
                if !crate::taskrun::is_done(child)
                    && let Some(child_name) = &child.metadata.name
                {
                    cancel.push(CancelRequest {
                        name: child_name.clone(),
                        message: message.to_string(),
                    });
                }
            }
        }
    }
    if finally_timed_out {
        for task in &spec.finally {
            for child in children_by_task.get(task.name.as_str()).into_iter().flatten() {
                if !crate::taskrun::is_done(child)
                    && let Some(child_name) = &child.metadata.name
                {
                    cancel.push(CancelRequest {
                        name: child_name.clone(),
                        message: CANCELLED_BY_TIMEOUT.to_string(),
                    });
                }
            }
        }
    }

    let running_count = states.values().filter(|s| **s == TaskState::Running).count();
    let mut slots = config
        .max_parallel_tasks
        .map(|cap| cap.saturating_sub(running_count));
    let mut create: Vec<TaskRun> = Vec::new();
    let mut new_children: BTreeMap<String, Vec<(String, Vec<WhenExpression>)>> = BTreeMap::new();
    let mut when_for_children: BTreeMap<String, Vec<WhenExpression>> = BTreeMap::new();

    // Visit DAG tasks in dependency order so skips propagate within one reconcile.
    let mut order: Vec<&PipelineTask> = Vec::new();
    let mut placed: BTreeSet<&str> = BTreeSet::new();
    while order.len() < spec.tasks.len() {
        let before = order.len();
        for task in &spec.tasks {
            if !placed.contains(task.name.as_str())
                && dag.parents_of(&task.name).all(|p| placed.contains(p.as_str()))
            {
                placed.insert(task.name.as_str());
                order.push(task);
            }
        }
        if order.len() == before {
            break;
        }
    }

    let mut invalid_result_reference: Option<String> = None;
    let mut create_task = |task: &PipelineTask,
                           finally: bool,
                           states: &mut BTreeMap<String, TaskState>,
                           scope: &Scope,
                           slots: &mut Option<usize>,
                           when_resolved: Vec<WhenExpression>| {
        if slots.is_some_and(|s| s == 0) {
            return;
        }
        let passes = [&scope.params, &scope.context, &scope.results];
        let combos = match matrix_combinations(task, &passes) {
            None => vec![Vec::new()],
            Some(Ok(combos)) if combos.is_empty() => {
                states.insert(
                    task.name.clone(),
                    TaskState::Skipped {
                        reason: skip::EMPTY_MATRIX,
                        when: Vec::new(),
                    },
                );
                return;
            }
            Some(Ok(combos)) => combos,
            Some(Err(_)) => {
                states.insert(task.name.clone(), TaskState::Failed { ignored: false });
                return;
            }
        };
        let matrix = task.matrix.is_some();
        for (index, combo) in combos.into_iter().enumerate() {
            let child = if matrix {
                child_name(&name, &format!("{}-{index}", task.name))
            } else {
                child_name(&name, &task.name)
            };
            let task_run = build_task_run(
                input,
                &pipeline_label,
                task,
                finally,
                &child,
                &combo,
                scope,
                (
                    pipeline_timeout,
                    tasks_timeout,
                    finally_timeout,
                    elapsed,
                    finally_elapsed,
                ),
            );
            create.push(task_run);
            new_children
                .entry(task.name.clone())
                .or_default()
                .push((child, when_resolved.clone()));
        }
        if let Some(s) = slots.as_mut() {
            *s = s.saturating_sub(1);
        }
        states.insert(task.name.clone(), TaskState::Running);
    };

    for task in order {
        if states.get(&task.name) != Some(&TaskState::NotStarted) {
            continue;
        }
        if let Some(why) = graceful_skip {
            states.insert(
                task.name.clone(),
                TaskState::Skipped {
                    reason: why,
                    when: Vec::new(),
                },
            );
            continue;
        }
        if tasks_timed_out {
            states.insert(
                task.name.clone(),
                TaskState::Skipped {
                    reason: skip::TASKS_TIMEOUT,
                    when: Vec::new(),
                },
            );
            continue;
        }
        if stopping {
            states.insert(
                task.name.clone(),
                TaskState::Skipped {
                    reason: skip::STOPPING,
                    when: Vec::new(),
                },
            );
            continue;
        }
        let parents: Vec<&TaskState> = dag.parents_of(&task.name).filter_map(|p| states.get(p)).collect();
        if !parents.iter().all(|s| s.is_done()) {
            continue;
        }
        // A parent skipped for any reason but its own when expressions skips its children.
        let parent_skipped = parents
            .iter()
            .any(|s| matches!(s, TaskState::Skipped { reason, .. } if *reason != skip::WHEN));
        if parent_skipped {
            states.insert(
                task.name.clone(),
                TaskState::Skipped {
                    reason: skip::PARENT,
                    when: Vec::new(),
                },
            );
            continue;
        }
        let refs = result_references(task);
        let producer_missing = refs
            .iter()
            .any(|(producer, _)| !matches!(states.get(producer), Some(TaskState::Succeeded)));
        if producer_missing {
            states.insert(
                task.name.clone(),
                TaskState::Skipped {
                    reason: skip::RESULTS_MISSING,
                    when: Vec::new(),
                },
            );
            continue;
        }
        if let Some((producer, result)) = refs.iter().find(|(producer, result)| {
            !scope
                .task_results
                .get(producer)
                .is_some_and(|r| r.contains_key(result))
        }) {
            invalid_result_reference.get_or_insert_with(|| {
                format!("Invalid task result reference: task {producer:?} completed successfully but did not emit the result {result:?}, which is referenced by task {:?}", task.name)
            });
            continue;
        }
        let (pass, resolved_when) = evaluate_when(&task.when, &scope);
        if !pass {
            states.insert(
                task.name.clone(),
                TaskState::Skipped {
                    reason: skip::WHEN,
                    when: resolved_when,
                },
            );
            continue;
        }
        when_for_children.insert(task.name.clone(), resolved_when.clone());
        create_task(task, false, &mut states, &scope, &mut slots, resolved_when);
    }

    if let Some(message) = invalid_result_reference {
        let mut plan = finish(
            status,
            "False",
            reason::INVALID_TASK_RESULT_REFERENCE,
            message,
            now,
        );
        plan.cancel = cancel;
        return plan;
    }

    // ---- finally --------------------------------------------------------------------
    let dag_done = spec
        .tasks
        .iter()
        .all(|t| states.get(&t.name).is_some_and(TaskState::is_done));
    if dag_done && !spec.finally.is_empty() {
        let mut status_scope = Replacements::new();
        let mut any_failed = false;
        let mut any_skipped = false;
        for task in &spec.tasks {
            let (task_status, task_reason) = match states.get(&task.name) {
                Some(TaskState::Succeeded) => ("Succeeded", "Succeeded"),
                Some(TaskState::Failed { .. }) => {
                    any_failed = true;
                    ("Failed", "Failed")
                }
                Some(TaskState::Cancelled) => {
                    any_failed = true;
                    ("Failed", "TaskRunCancelled")
                }
                _ => {
                    any_skipped = true;
                    ("None", "None")
                }
            };
            status_scope.insert(format!("tasks.{}.status", task.name), task_status);
            status_scope.insert(format!("tasks.{}.reason", task.name), task_reason);
        }
        let aggregate = if any_failed {
            "Failed"
        } else if any_skipped {
            "Completed"
        } else {
            "Succeeded"
        };
        status_scope.insert("tasks.status", aggregate);
        let mut finally_scope = Scope {
            params: scope.params.clone(),
            context: scope.context.clone(),
            results: scope.results.clone(),
            task_results: scope.task_results.clone(),
        };
        // The status variables are one more pass, after results.
        for (k, v) in status_scope.strings_iter() {
            finally_scope.context.insert(k.clone(), v.clone());
        }
        let mut started_finally = false;
        for task in &spec.finally {
            if states.get(&task.name) != Some(&TaskState::NotStarted) {
                continue;
            }
            if finally_timed_out {
                states.insert(
                    task.name.clone(),
                    TaskState::Skipped {
                        reason: skip::FINALLY_TIMEOUT,
                        when: Vec::new(),
                    },
                );
                continue;
            }
            let refs = result_references(task);
            if refs.iter().any(|(producer, result)| {
                !finally_scope
                    .task_results
                    .get(producer)
                    .is_some_and(|r| r.contains_key(result))
            }) {
                states.insert(
                    task.name.clone(),
                    TaskState::Skipped {
                        reason: skip::RESULTS_MISSING,
                        when: Vec::new(),
                    },
                );
                continue;
            }
            let (pass, resolved_when) = evaluate_when(&task.when, &finally_scope);
            if !pass {
                states.insert(
                    task.name.clone(),
                    TaskState::Skipped {
                        reason: skip::WHEN,
                        when: resolved_when,
                    },
                );
                continue;
            }
            when_for_children.insert(task.name.clone(), resolved_when.clone());
            create_task(task, true, &mut states, &finally_scope, &mut slots, resolved_when);
            started_finally = true;
        }
        if started_finally && status.finally_start_time.is_none() {
            status.finally_start_time = Some(conditions::time(now));
        }
    }

    // ---- status ---------------------------------------------------------------------
    let mut child_references = Vec::new();
    for (task, _) in &all_tasks {
        let when = when_for_children.get(&task.name).cloned().unwrap_or_else(|| {
            status
                .child_references
                .iter()
                .find(|c| c.pipeline_task_name == task.name)
                .map(|c| c.when_expressions.clone())
                .unwrap_or_default()
        });
        for child in children_by_task.get(task.name.as_str()).into_iter().flatten() {
            child_references.push(ChildStatusReference {
                api_version: ferry_types::tekton::V1.to_string(),
                kind: "TaskRun".to_string(),
                name: child.metadata.name.clone().unwrap_or_default(),
                display_name: task.display_name.clone(),
                pipeline_task_name: task.name.clone(),
                when_expressions: when.clone(),
            });
        }
        for (child, when) in new_children.get(&task.name).into_iter().flatten() {
            child_references.push(ChildStatusReference {
                api_version: ferry_types::tekton::V1.to_string(),
                kind: "TaskRun".to_string(),
                name: child.clone(),
                display_name: task.display_name.clone(),
                pipeline_task_name: task.name.clone(),
                when_expressions: when.clone(),
            });
        }
    }
    status.child_references = child_references;
    status.skipped_tasks = all_tasks
        .iter()
        .filter_map(|(task, _)| match states.get(&task.name) {
            Some(TaskState::Skipped { reason, when }) => Some(SkippedTask {
                name: task.name.clone(),
                reason: reason.to_string(),
                when_expressions: when.clone(),
            }),
            _ => None,
        })
        .collect();

    let mut succeeded = 0;
    let mut failed = 0;
    let mut ignored = 0;
    let mut cancelled = 0;
    let mut skipped = 0;
    let mut skipped_by_timeout = 0;
    let mut incomplete = 0;
    for (task, _) in &all_tasks {
        match states.get(&task.name) {
            Some(TaskState::Succeeded) => succeeded += 1,
            Some(TaskState::Failed { ignored: was_ignored }) => {
                failed += 1;
                if *was_ignored {
                    ignored += 1;
                }
            }
            Some(TaskState::Cancelled) => cancelled += 1,
            Some(TaskState::Skipped { reason, .. }) => {
                skipped += 1;
                if reason.contains("timeout") {
                    skipped_by_timeout += 1;
                }
            }
            _ => incomplete += 1,
        }
    }
    let completed = succeeded + failed + cancelled;
    let failed_text = if ignored > 0 {
        format!("{failed} (Ignored: {ignored})")
    } else {
        failed.to_string()
    };
    let all_done = incomplete == 0 && create.is_empty();
    if all_done {
        let (status_value, why, message) = if failed - ignored > 0 || skipped_by_timeout > 0 {
            ("False", reason::FAILED, None)
        } else if graceful_skip.is_some() {
            (
                "False",
                reason::CANCELLED,
                Some(format!("PipelineRun {name:?} was cancelled")),
            )
        } else if cancelled > 0 {
            ("False", reason::CANCELLED, None)
        } else if skipped > 0 {
            ("True", reason::COMPLETED, None)
        } else {
            ("True", reason::SUCCEEDED, None)
        };
        let message = message.unwrap_or_else(|| format!("Tasks Completed: {completed} (Failed: {failed_text}, Cancelled {cancelled}), Skipped: {skipped}"));
        status.results = pipeline_results(&spec, &scope);
        let mut plan = finish(status, status_value, why, message, now);
        plan.cancel = cancel;
        return plan;
    }
    let running_reason = if spec_status == Some("CancelledRunFinally") {
        reason::CANCELLED_RUNNING_FINALLY
    } else if spec_status == Some("StoppedRunFinally") {
        reason::STOPPED_RUNNING_FINALLY
    } else if tasks_timed_out {
        reason::TIMEOUT_RUNNING_FINALLY
    } else if stopping {
        reason::STOPPING
    } else {
        reason::RUNNING
    };
    conditions::set_succeeded(
        &mut status.conditions,
        conditions::succeeded(
            "Unknown",
            running_reason,
            format!(
                "Tasks Completed: {completed} (Failed: {failed_text}, Cancelled {cancelled}), Incomplete: {incomplete}, Skipped: {skipped}"
            ),
            now,
        ),
    );
    let mut deadlines: Vec<Duration> = Vec::new();
    if !pipeline_timeout.is_zero() {
        deadlines.push(pipeline_timeout.saturating_sub(elapsed));
    }
    if let Some(t) = tasks_timeout.filter(|t| !t.is_zero() && !tasks_timed_out) {
        deadlines.push(t.saturating_sub(elapsed));
    }
    if let (Some(t), Some(_)) = (
        finally_timeout.filter(|t| !t.is_zero()),
        &status.finally_start_time,
    ) {
        deadlines.push(t.saturating_sub(finally_elapsed));
    }
    PipelineRunPlan {
        status,
        create,
        cancel,
        requeue_after: deadlines.into_iter().min(),
    }
}

fn pipeline_results(spec: &PipelineSpec, scope: &Scope) -> Vec<ferry_types::tekton::RunResult> {
    spec.results
        .iter()
        .filter_map(|result| {
            let value = scope.results.apply_value(&result.value);
            // A result whose references did not resolve is left out, as Tekton does.
            let unresolved = value
                .strings()
                .iter()
                .any(|s| s.contains("$(tasks.") || s.contains("$(finally."));
            (!unresolved).then(|| ferry_types::tekton::RunResult {
                name: result.name.clone(),
                type_: Some(value.param_type()),
                value,
            })
        })
        .collect()
}

#[allow(clippy::too_many_arguments)]
fn build_task_run(
    input: &PipelineRunInput<'_>,
    pipeline_label: &str,
    task: &PipelineTask,
    finally: bool,
    child: &str,
    matrix_params: &[Param],
    scope: &Scope,
    timing: (Duration, Option<Duration>, Option<Duration>, Duration, Duration),
) -> TaskRun {
    let run = input.run;
    let (pipeline_timeout, tasks_timeout, finally_timeout, elapsed, finally_elapsed) = timing;
    let passes = [&scope.params, &scope.context, &scope.results];
    let mut params: Vec<Param> = task
        .params
        .iter()
        .map(|p| Param {
            name: p.name.clone(),
            value: substitute_value(&p.value, &passes),
        })
        .collect();
    for p in matrix_params {
        params.retain(|existing| existing.name != p.name);
        params.push(p.clone());
    }
    let run_name = run.metadata.name.clone().unwrap_or_default();
    let mut labels: BTreeMap<String, String> = run.metadata.labels.clone().unwrap_or_default();
    labels.insert("tekton.dev/pipelineRun".into(), run_name.clone());
    labels.insert(
        "tekton.dev/pipelineRunUID".into(),
        run.metadata.uid.clone().unwrap_or_default(),
    );
    labels.insert("tekton.dev/pipelineTask".into(), task.name.clone());
    labels.insert(
        "tekton.dev/memberOf".into(),
        if finally { "finally" } else { "tasks" }.into(),
    );
    labels.insert("tekton.dev/pipeline".into(), pipeline_label.to_string());
    let mut annotations: BTreeMap<String, String> = run.metadata.annotations.clone().unwrap_or_default();
    annotations.remove("kubectl.kubernetes.io/last-applied-configuration");

    let task_run_spec: Option<&PipelineTaskRunSpec> = run
        .spec
        .task_run_specs
        .iter()
        .find(|s| s.pipeline_task_name == task.name);
    let (task_ref, task_spec) = match (&task.task_ref, &task.task_spec) {
        (Some(task_ref), _) => {
            let mut task_ref = task_ref.clone();
            task_ref.name = passes.iter().fold(task_ref.name.clone(), |n, p| p.apply(&n));
            labels.insert("tekton.dev/task".into(), task_ref.name.clone());
            (Some(task_ref), None)
        }
        (None, Some(embedded)) => {
            if let Some(EmbeddedMetadata {
                labels: l,
                annotations: a,
            }) = &embedded.metadata
            {
                labels.extend(l.clone());
                annotations.extend(a.clone());
            }
            (None, Some(propagate(&embedded.spec, scope)))
        }
        (None, None) => (None, None),
    };
    if let Some(meta) = task_run_spec.and_then(|s| s.metadata.as_ref()) {
        labels.extend(meta.labels.clone());
        annotations.extend(meta.annotations.clone());
    }
    let explicit_timeout = task_run_spec
        .and_then(|s| s.timeout.clone())
        .or_else(|| task.timeout.clone());
    let timeout = explicit_timeout.unwrap_or_else(|| {
        let remaining = if finally {
            match finally_timeout.filter(|t| !t.is_zero()) {
                Some(t) => Some(t.saturating_sub(finally_elapsed)),
                None => (!pipeline_timeout.is_zero()).then(|| pipeline_timeout.saturating_sub(elapsed)),
            }
        } else {
            match tasks_timeout.filter(|t| !t.is_zero()) {
                Some(t) => Some(t.saturating_sub(elapsed)),
                None => (!pipeline_timeout.is_zero()).then(|| pipeline_timeout.saturating_sub(elapsed)),
            }
        };
        match remaining {
            // Never hand out a zero timeout, which would mean "no timeout".
            Some(r) => crate::duration::format(r.max(Duration::from_millis(1))),
            None => "0s".to_string(),
        }
    });
    let template = run.spec.task_run_template.clone().unwrap_or_default();
    let workspaces = task
        .workspaces
        .iter()
        .filter_map(|binding| {
            let source = if binding.workspace.is_empty() {
                &binding.name
            } else {
                &binding.workspace
            };
            let bound = run.spec.workspaces.iter().find(|b| &b.name == source)?;
            let mut bound: WorkspaceBinding = bound.clone();
            if bound.volume_claim_template.take().is_some() {
                let claim = format!(
                    "pvc-{:010x}",
                    fnv1a(&format!(
                        "{}/{}/{source}",
                        run.metadata.uid.clone().unwrap_or_default(),
                        run_name
                    )) & 0xff_ffff_ffff
                );
                bound.persistent_volume_claim = Some(json!({"claimName": claim}));
            }
            bound.name = binding.name.clone();
            let sub_path = binding
                .sub_path
                .as_ref()
                .map(|p| passes.iter().fold(p.clone(), |s, pass| pass.apply(&s)));
            bound.sub_path = match (bound.sub_path.take(), sub_path) {
                (Some(a), Some(b)) => Some(format!("{a}/{b}")),
                (a, b) => a.or(b),
            };
            Some(bound)
        })
        .collect();
    TaskRun {
        api_version: ferry_types::tekton::V1.to_string(),
        kind: "TaskRun".to_string(),
        metadata: ObjectMeta {
            name: Some(child.to_string()),
            namespace: run.metadata.namespace.clone(),
            labels: Some(labels),
            annotations: (!annotations.is_empty()).then_some(annotations),
            owner_references: Some(vec![OwnerReference {
                api_version: ferry_types::tekton::V1.to_string(),
                kind: "PipelineRun".to_string(),
                name: run_name,
                uid: run.metadata.uid.clone().unwrap_or_default(),
                controller: Some(true),
                block_owner_deletion: Some(true),
            }]),
            ..Default::default()
        },
        spec: TaskRunSpec {
            params,
            service_account_name: task_run_spec
                .and_then(|s| s.service_account_name.clone())
                .or(template.service_account_name)
                .or_else(|| Some("default".to_string())),
            task_ref,
            task_spec,
            retries: task.retries.filter(|r| *r > 0),
            timeout: Some(timeout),
            pod_template: task_run_spec
                .and_then(|s| s.pod_template.clone())
                .or(template.pod_template),
            workspaces,
            step_specs: task_run_spec.map(|s| s.step_specs.clone()).unwrap_or_default(),
            sidecar_specs: task_run_spec.map(|s| s.sidecar_specs.clone()).unwrap_or_default(),
            compute_resources: task_run_spec.and_then(|s| s.compute_resources.clone()),
            ..Default::default()
        },
        status: None,
    }
}

/// Propagated params and context into an inline task spec: pipeline params the task does
/// not declare itself, and `$(context.pipelineRun.*)`.
fn propagate(spec: &TaskSpec, scope: &Scope) -> TaskSpec {
    let declared: BTreeSet<&str> = spec.params.iter().map(|p| p.name.as_str()).collect();
    let mut params = Replacements::new();
    for (key, value) in scope.params.strings_iter() {
        let name = crate::substitution::parse_param_reference(key).map(|r| r.name);
        if name.is_some_and(|n| !declared.contains(n)) {
            params.insert(key.clone(), value.clone());
        }
    }
    let mut out = spec.clone();
    for pass in [&params, &scope.context] {
        out.steps = out
            .steps
            .iter()
            .map(|s| ferry_types::tekton::Step {
                image: pass.apply(&s.image),
                command: pass.apply_list(&s.command),
                args: pass.apply_list(&s.args),
                script: s.script.as_deref().map(|x| pass.apply(x)),
                working_dir: s.working_dir.as_deref().map(|x| pass.apply(x)),
                env: s
                    .env
                    .iter()
                    .map(|e| k8s_openapi::api::core::v1::EnvVar {
                        value: e.value.as_deref().map(|v| pass.apply(v)),
                        ..e.clone()
                    })
                    .collect(),
                ..s.clone()
            })
            .collect();
    }
    out
}
