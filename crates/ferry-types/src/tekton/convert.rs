//! Conversion between tekton.dev/v1beta1 and tekton.dev/v1, and parsing of objects of
//! either version.
//!
//! Renamed fields (from Tekton's migration guide): PipelineRun `timeout` → `timeouts.pipeline`,
//! `serviceAccountName`/`podTemplate` → `taskRunTemplate`, `taskRunSpecs[].taskServiceAccountName`
//! / `taskPodTemplate` → `serviceAccountName` / `podTemplate`, `stepOverrides`/`sidecarOverrides`
//! → `stepSpecs`/`sidecarSpecs`, steps' `resources` → `computeResources`, status
//! `taskResults`/`pipelineResults` → `results`, `taskRef.bundle` → the `bundles` resolver.
//! Fields with no v1 counterpart (PipelineResources) are kept in the `extra` maps, so a
//! v1beta1 → v1 → v1beta1 round trip is lossless.

use serde::de::DeserializeOwned;
use serde_json::Value;

use super::common::*;
use super::{V1, V1BETA1, v1, v1beta1};

/// A served version of the tekton.dev group.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ApiVersion {
    V1,
    V1beta1,
}

impl ApiVersion {
    pub fn as_str(self) -> &'static str {
        match self {
            ApiVersion::V1 => V1,
            ApiVersion::V1beta1 => V1BETA1,
        }
    }

    /// The version named by an `apiVersion` string.
    pub fn parse(api_version: &str) -> Option<ApiVersion> {
        match api_version {
            V1 => Some(ApiVersion::V1),
            V1BETA1 => Some(ApiVersion::V1beta1),
            _ => None,
        }
    }
}

/// Why an object could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ConvertError {
    #[error("{kind}: unsupported apiVersion {api_version:?} (expected tekton.dev/v1 or tekton.dev/v1beta1)")]
    UnsupportedVersion { kind: &'static str, api_version: String },
    #[error("{kind}: expected kind {kind:?}, got {found:?}")]
    WrongKind { kind: &'static str, found: String },
    #[error("{kind} {name:?}: {source}")]
    Malformed {
        kind: &'static str,
        name: String,
        #[source]
        source: serde_json::Error,
    },
}

fn object_version(kind: &'static str, value: &Value) -> Result<ApiVersion, ConvertError> {
    let api_version = value.get("apiVersion").and_then(Value::as_str).unwrap_or(V1);
    let found = value.get("kind").and_then(Value::as_str).unwrap_or(kind);
    if found != kind {
        return Err(ConvertError::WrongKind {
            kind,
            found: found.to_string(),
        });
    }
    ApiVersion::parse(api_version).ok_or_else(|| ConvertError::UnsupportedVersion {
        kind,
        api_version: api_version.to_string(),
    })
}

fn decode<T: DeserializeOwned>(kind: &'static str, value: Value) -> Result<T, ConvertError> {
    let name = value
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    serde_json::from_value(value).map_err(|source| ConvertError::Malformed { kind, name, source })
}

fn encode<T: serde::Serialize>(object: &T) -> Value {
    // These types contain only maps with string keys, so serialisation cannot fail.
    serde_json::to_value(object).unwrap_or(Value::Null)
}

macro_rules! parse_and_render {
    ($parse:ident, $render:ident, $kind:literal, $ty:ident, $up:ident, $down:ident) => {
        /// Reads an object of either version and returns it as v1, with the version it
        /// was written in.
        pub fn $parse(value: Value) -> Result<(v1::$ty, ApiVersion), ConvertError> {
            match object_version($kind, &value)? {
                ApiVersion::V1 => Ok((decode::<v1::$ty>($kind, value)?, ApiVersion::V1)),
                ApiVersion::V1beta1 => Ok((
                    $up(decode::<v1beta1::$ty>($kind, value)?),
                    ApiVersion::V1beta1,
                )),
            }
        }

        /// Renders a v1 object as JSON in the requested version.
        pub fn $render(object: &v1::$ty, version: ApiVersion) -> Value {
            match version {
                ApiVersion::V1 => {
                    let mut object = object.clone();
                    object.api_version = V1.to_string();
                    object.kind = $kind.to_string();
                    encode(&object)
                }
                ApiVersion::V1beta1 => encode(&$down(object.clone())),
            }
        }
    };
}

parse_and_render!(parse_task, render_task, "Task", Task, task_to_v1, task_to_v1beta1);
parse_and_render!(
    parse_pipeline,
    render_pipeline,
    "Pipeline",
    Pipeline,
    pipeline_to_v1,
    pipeline_to_v1beta1
);
parse_and_render!(
    parse_pipeline_run,
    render_pipeline_run,
    "PipelineRun",
    PipelineRun,
    pipeline_run_to_v1,
    pipeline_run_to_v1beta1
);
parse_and_render!(
    parse_task_run,
    render_task_run,
    "TaskRun",
    TaskRun,
    task_run_to_v1,
    task_run_to_v1beta1
);

// ---- shared bodies ----------------------------------------------------------------------

fn rename_key(map: &mut Extra, from: &str, to: &str) {
    if let Some(value) = map.remove(from) {
        map.entry(to.to_string()).or_insert(value);
    }
}

fn step_up(mut step: Step) -> Step {
    if step.compute_resources.is_none() {
        step.compute_resources = step.extra.remove("resources");
    }
    step
}

fn step_down(mut step: Step) -> Step {
    if let Some(resources) = step.compute_resources.take() {
        step.extra.insert("resources".to_string(), resources);
    }
    step
}

fn sidecar_rename(mut sidecar: Value, from: &str, to: &str) -> Value {
    if let Some(map) = sidecar.as_object_mut() {
        rename_key(map, from, to);
    }
    sidecar
}

/// v1beta1 TaskSpec → v1 TaskSpec.
pub fn task_spec_to_v1(mut spec: TaskSpec) -> TaskSpec {
    spec.steps = spec.steps.into_iter().map(step_up).collect();
    if let Some(template) = spec.step_template.as_mut()
        && template.compute_resources.is_none()
    {
        template.compute_resources = template.extra.remove("resources");
    }
    spec.sidecars = spec
        .sidecars
        .into_iter()
        .map(|s| sidecar_rename(s, "resources", "computeResources"))
        .collect();
    spec
}

/// v1 TaskSpec → v1beta1 TaskSpec.
pub fn task_spec_to_v1beta1(mut spec: TaskSpec) -> TaskSpec {
    spec.steps = spec.steps.into_iter().map(step_down).collect();
    if let Some(template) = spec.step_template.as_mut()
        && let Some(resources) = template.compute_resources.take()
    {
        template.extra.insert("resources".to_string(), resources);
    }
    spec.sidecars = spec
        .sidecars
        .into_iter()
        .map(|s| sidecar_rename(s, "computeResources", "resources"))
        .collect();
    spec
}

fn task_ref_to_v1(mut task_ref: TaskRef) -> TaskRef {
    if let Some(Value::String(bundle)) = task_ref.extra.remove("bundle") {
        let kind = task_ref
            .kind
            .clone()
            .unwrap_or_else(|| "Task".to_string())
            .to_lowercase();
        task_ref.resolver = Some("bundles".to_string());
        task_ref.params = vec![
            Param {
                name: "bundle".into(),
                value: ParamValue::String(bundle),
            },
            Param {
                name: "name".into(),
                value: ParamValue::String(std::mem::take(&mut task_ref.name)),
            },
            Param {
                name: "kind".into(),
                value: ParamValue::String(kind),
            },
        ];
    }
    task_ref
}

fn pipeline_task_map(task: PipelineTask, spec_fn: fn(TaskSpec) -> TaskSpec, up: bool) -> PipelineTask {
    PipelineTask {
        task_spec: task.task_spec.map(|embedded| EmbeddedTask {
            metadata: embedded.metadata,
            spec: spec_fn(embedded.spec),
        }),
        task_ref: if up {
            task.task_ref.map(task_ref_to_v1)
        } else {
            task.task_ref
        },
        ..task
    }
}

/// v1beta1 PipelineSpec → v1 PipelineSpec.
pub fn pipeline_spec_to_v1(mut spec: PipelineSpec) -> PipelineSpec {
    spec.tasks = spec
        .tasks
        .into_iter()
        .map(|t| pipeline_task_map(t, task_spec_to_v1, true))
        .collect();
    spec.finally = spec
        .finally
        .into_iter()
        .map(|t| pipeline_task_map(t, task_spec_to_v1, true))
        .collect();
    spec
}

/// v1 PipelineSpec → v1beta1 PipelineSpec.
pub fn pipeline_spec_to_v1beta1(mut spec: PipelineSpec) -> PipelineSpec {
    spec.tasks = spec
        .tasks
        .into_iter()
        .map(|t| pipeline_task_map(t, task_spec_to_v1beta1, false))
        .collect();
    spec.finally = spec
        .finally
        .into_iter()
        .map(|t| pipeline_task_map(t, task_spec_to_v1beta1, false))
        .collect();
    spec
}

// ---- Task and Pipeline ------------------------------------------------------------------

pub fn task_to_v1(task: v1beta1::Task) -> v1::Task {
    v1::Task {
        api_version: V1.to_string(),
        kind: "Task".to_string(),
        metadata: task.metadata,
        spec: task_spec_to_v1(task.spec),
        status: task.status,
    }
}

pub fn task_to_v1beta1(task: v1::Task) -> v1beta1::Task {
    v1beta1::Task {
        api_version: V1BETA1.to_string(),
        kind: "Task".to_string(),
        metadata: task.metadata,
        spec: task_spec_to_v1beta1(task.spec),
        status: task.status,
    }
}

pub fn pipeline_to_v1(pipeline: v1beta1::Pipeline) -> v1::Pipeline {
    v1::Pipeline {
        api_version: V1.to_string(),
        kind: "Pipeline".to_string(),
        metadata: pipeline.metadata,
        spec: pipeline_spec_to_v1(pipeline.spec),
        status: pipeline.status,
    }
}

pub fn pipeline_to_v1beta1(pipeline: v1::Pipeline) -> v1beta1::Pipeline {
    v1beta1::Pipeline {
        api_version: V1BETA1.to_string(),
        kind: "Pipeline".to_string(),
        metadata: pipeline.metadata,
        spec: pipeline_spec_to_v1beta1(pipeline.spec),
        status: pipeline.status,
    }
}

// ---- PipelineRun ------------------------------------------------------------------------

fn child_references_from_embedded_map(map: &Value, kind: &str) -> Vec<ChildStatusReference> {
    let Some(entries) = map.as_object() else {
        return Vec::new();
    };
    entries
        .iter()
        .map(|(name, entry)| ChildStatusReference {
            api_version: V1.to_string(),
            kind: kind.to_string(),
            name: name.clone(),
            display_name: None,
            pipeline_task_name: entry
                .get("pipelineTaskName")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string(),
            when_expressions: entry
                .get("whenExpressions")
                .and_then(|w| serde_json::from_value(w.clone()).ok())
                .unwrap_or_default(),
        })
        .collect()
}

pub fn pipeline_run_to_v1(run: v1beta1::PipelineRun) -> v1::PipelineRun {
    let spec = run.spec;
    let mut timeouts = spec.timeouts;
    if let Some(timeout) = spec.timeout {
        let fields = timeouts.get_or_insert_with(Default::default);
        if fields.pipeline.is_none() {
            fields.pipeline = Some(timeout);
        }
    }
    let task_run_template = if spec.service_account_name.is_some() || spec.pod_template.is_some() {
        Some(v1::PipelineTaskRunTemplate {
            service_account_name: spec.service_account_name,
            pod_template: spec.pod_template,
        })
    } else {
        None
    };
    let status = run.status.map(|status| {
        let mut child_references = status.child_references;
        if child_references.is_empty() {
            if let Some(task_runs) = &status.task_runs {
                child_references.extend(child_references_from_embedded_map(task_runs, "TaskRun"));
            }
            if let Some(runs) = &status.runs {
                child_references.extend(child_references_from_embedded_map(runs, "CustomRun"));
            }
        }
        v1::PipelineRunStatus {
            observed_generation: status.observed_generation,
            conditions: status.conditions,
            annotations: status.annotations,
            start_time: status.start_time,
            completion_time: status.completion_time,
            results: status.pipeline_results,
            pipeline_spec: status.pipeline_spec.map(pipeline_spec_to_v1),
            skipped_tasks: status.skipped_tasks,
            child_references,
            finally_start_time: status.finally_start_time,
            provenance: status.provenance,
            span_context: status.span_context,
            extra: status.extra,
        }
    });
    v1::PipelineRun {
        api_version: V1.to_string(),
        kind: "PipelineRun".to_string(),
        metadata: run.metadata,
        spec: v1::PipelineRunSpec {
            pipeline_ref: spec.pipeline_ref.map(task_ref_to_v1),
            pipeline_spec: spec.pipeline_spec.map(pipeline_spec_to_v1),
            params: spec.params,
            status: spec.status,
            timeouts,
            task_run_template,
            workspaces: spec.workspaces,
            task_run_specs: spec
                .task_run_specs
                .into_iter()
                .map(|s| v1::PipelineTaskRunSpec {
                    pipeline_task_name: s.pipeline_task_name,
                    service_account_name: s.task_service_account_name,
                    pod_template: s.task_pod_template,
                    step_specs: s.step_overrides,
                    sidecar_specs: s.sidecar_overrides,
                    metadata: s.metadata,
                    compute_resources: s.compute_resources,
                    timeout: s.timeout,
                    extra: s.extra,
                })
                .collect(),
            managed_by: spec.managed_by,
            extra: spec.extra,
        },
        status,
    }
}

pub fn pipeline_run_to_v1beta1(run: v1::PipelineRun) -> v1beta1::PipelineRun {
    let spec = run.spec;
    let template = spec.task_run_template.unwrap_or_default();
    let status = run.status.map(|status| v1beta1::PipelineRunStatus {
        observed_generation: status.observed_generation,
        conditions: status.conditions,
        annotations: status.annotations,
        start_time: status.start_time,
        completion_time: status.completion_time,
        pipeline_results: status.results,
        pipeline_spec: status.pipeline_spec.map(pipeline_spec_to_v1beta1),
        skipped_tasks: status.skipped_tasks,
        child_references: status.child_references,
        finally_start_time: status.finally_start_time,
        task_runs: None,
        runs: None,
        provenance: status.provenance,
        span_context: status.span_context,
        extra: status.extra,
    });
    v1beta1::PipelineRun {
        api_version: V1BETA1.to_string(),
        kind: "PipelineRun".to_string(),
        metadata: run.metadata,
        spec: v1beta1::PipelineRunSpec {
            pipeline_ref: spec.pipeline_ref,
            pipeline_spec: spec.pipeline_spec.map(pipeline_spec_to_v1beta1),
            params: spec.params,
            service_account_name: template.service_account_name,
            status: spec.status,
            timeouts: spec.timeouts,
            // v1beta1 accepts `timeouts` too; writing both would be rejected upstream.
            timeout: None,
            pod_template: template.pod_template,
            workspaces: spec.workspaces,
            task_run_specs: spec
                .task_run_specs
                .into_iter()
                .map(|s| v1beta1::PipelineTaskRunSpec {
                    pipeline_task_name: s.pipeline_task_name,
                    task_service_account_name: s.service_account_name,
                    task_pod_template: s.pod_template,
                    step_overrides: s.step_specs,
                    sidecar_overrides: s.sidecar_specs,
                    metadata: s.metadata,
                    compute_resources: s.compute_resources,
                    timeout: s.timeout,
                    extra: s.extra,
                })
                .collect(),
            managed_by: spec.managed_by,
            extra: spec.extra,
        },
        status,
    }
}

// ---- TaskRun ----------------------------------------------------------------------------

fn task_run_status_to_v1(status: v1beta1::TaskRunStatus) -> v1::TaskRunStatus {
    v1::TaskRunStatus {
        observed_generation: status.observed_generation,
        conditions: status.conditions,
        annotations: status.annotations,
        pod_name: status.pod_name,
        start_time: status.start_time,
        completion_time: status.completion_time,
        steps: status.steps,
        retries_status: status
            .retries_status
            .into_iter()
            .map(task_run_status_to_v1)
            .collect(),
        results: status.task_results,
        artifacts: None,
        sidecars: status.sidecars,
        task_spec: status.task_spec.map(task_spec_to_v1),
        provenance: status.provenance,
        span_context: status.span_context,
        extra: status.extra,
    }
}

fn task_run_status_to_v1beta1(status: v1::TaskRunStatus) -> v1beta1::TaskRunStatus {
    let mut extra = status.extra;
    if let Some(artifacts) = status.artifacts {
        extra.insert("artifacts".to_string(), artifacts);
    }
    v1beta1::TaskRunStatus {
        observed_generation: status.observed_generation,
        conditions: status.conditions,
        annotations: status.annotations,
        pod_name: status.pod_name,
        start_time: status.start_time,
        completion_time: status.completion_time,
        steps: status.steps,
        retries_status: status
            .retries_status
            .into_iter()
            .map(task_run_status_to_v1beta1)
            .collect(),
        task_results: status.results,
        sidecars: status.sidecars,
        task_spec: status.task_spec.map(task_spec_to_v1beta1),
        provenance: status.provenance,
        span_context: status.span_context,
        extra,
    }
}

pub fn task_run_to_v1(run: v1beta1::TaskRun) -> v1::TaskRun {
    let spec = run.spec;
    v1::TaskRun {
        api_version: V1.to_string(),
        kind: "TaskRun".to_string(),
        metadata: run.metadata,
        spec: v1::TaskRunSpec {
            debug: spec.debug,
            params: spec.params,
            service_account_name: spec.service_account_name,
            task_ref: spec.task_ref.map(task_ref_to_v1),
            task_spec: spec.task_spec.map(task_spec_to_v1),
            status: spec.status,
            status_message: spec.status_message,
            retries: spec.retries,
            timeout: spec.timeout,
            pod_template: spec.pod_template,
            workspaces: spec.workspaces,
            step_specs: spec.step_overrides,
            sidecar_specs: spec.sidecar_overrides,
            compute_resources: spec.compute_resources,
            managed_by: spec.managed_by,
            extra: spec.extra,
        },
        status: run.status.map(task_run_status_to_v1),
    }
}

pub fn task_run_to_v1beta1(run: v1::TaskRun) -> v1beta1::TaskRun {
    let spec = run.spec;
    v1beta1::TaskRun {
        api_version: V1BETA1.to_string(),
        kind: "TaskRun".to_string(),
        metadata: run.metadata,
        spec: v1beta1::TaskRunSpec {
            debug: spec.debug,
            params: spec.params,
            service_account_name: spec.service_account_name,
            task_ref: spec.task_ref,
            task_spec: spec.task_spec.map(task_spec_to_v1beta1),
            status: spec.status,
            status_message: spec.status_message,
            retries: spec.retries,
            timeout: spec.timeout,
            pod_template: spec.pod_template,
            workspaces: spec.workspaces,
            step_overrides: spec.step_specs,
            sidecar_overrides: spec.sidecar_specs,
            compute_resources: spec.compute_resources,
            managed_by: spec.managed_by,
            extra: spec.extra,
        },
        status: run.status.map(task_run_status_to_v1beta1),
    }
}
