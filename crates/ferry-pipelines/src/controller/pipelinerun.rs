//! PipelineRun rounds: read the inputs from the API, run the pure state machine, apply
//! its plan.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use ferry_types::tekton::TaskSpec;
use ferry_types::tekton::convert::{
    parse_pipeline, parse_pipeline_run, parse_task, parse_task_run, render_pipeline_run, render_task_run,
};
use ferry_types::tekton::v1::{PipelineRun, TaskRun};
use jiff::Timestamp;
use kube::api::DynamicObject;
use kube::core::ApiResource;
use kube::runtime::controller::Action;
use kube::runtime::reflector::ObjectRef;
use serde_json::json;

use super::objects::{create_tekton, get_tekton, list_tekton, patch_spec, patch_status, tekton_value};
use super::versions::TektonKind;
use super::{Context, ControllerError, object_ref};
use crate::pipelinerun::{PipelineRunInput, PipelineSource};

/// The label naming a child TaskRun's PipelineRun.
pub(super) const PIPELINE_RUN_LABEL: &str = "tekton.dev/pipelineRun";
const SPEC_TASK_RUN_CANCELLED: &str = "TaskRunCancelled";
/// Shortest requeue, so a zero-length requeue cannot spin.
const MIN_REQUEUE: Duration = Duration::from_millis(10);

/// The PipelineRun a child TaskRun belongs to.
pub(super) fn parent_of(child: &DynamicObject, resource: &ApiResource) -> Option<ObjectRef<DynamicObject>> {
    let parent = child.metadata.labels.as_ref()?.get(PIPELINE_RUN_LABEL)?;
    Some(object_ref(parent, child.metadata.namespace.as_deref(), resource))
}

/// One round of a PipelineRun.
pub(super) async fn reconcile(
    object: Arc<DynamicObject>,
    context: Arc<Context>,
) -> Result<Action, ControllerError> {
    let (value, version) = tekton_value(TektonKind::PipelineRun, &object);
    let (mut run, _) = parse_pipeline_run(value)?;
    let finished = run
        .status
        .as_ref()
        .is_some_and(|status| crate::conditions::is_done(&status.conditions));
    if finished {
        return Ok(Action::await_change());
    }
    let namespace = run.metadata.namespace.clone().unwrap_or_else(|| "default".into());
    let name = run.metadata.name.clone().unwrap_or_default();
    let client = &context.client;

    let pipeline = pipeline_source(context.as_ref(), &run, &namespace).await?;
    let tasks = tasks_in(context.as_ref(), &namespace).await?;
    let children = children_of(context.as_ref(), &run, &namespace, &name).await?;
    let plan = crate::pipelinerun::reconcile(
        &PipelineRunInput {
            run: &run,
            pipeline,
            tasks: &tasks,
            children: &children,
            now: Timestamp::now(),
        },
        &context.engine,
    );

    for child in &plan.create {
        create_tekton(
            client,
            TektonKind::TaskRun,
            &namespace,
            version,
            render_task_run(child, version),
        )
        .await?;
    }
    for cancel in &plan.cancel {
        let already = children
            .iter()
            .find(|child| child.metadata.name.as_deref() == Some(cancel.name.as_str()))
            .is_some_and(|child| child.spec.status.as_deref() == Some(SPEC_TASK_RUN_CANCELLED));
        if !already {
            let spec = json!({"status": SPEC_TASK_RUN_CANCELLED, "statusMessage": cancel.message});
            patch_spec(client, TektonKind::TaskRun, &namespace, &cancel.name, spec).await?;
        }
    }

    let old_status = render_pipeline_run(&run, version).get("status").cloned();
    run.status = Some(plan.status);
    let new_status = render_pipeline_run(&run, version).get("status").cloned();
    if new_status != old_status {
        patch_status(
            client,
            TektonKind::PipelineRun,
            &namespace,
            &name,
            version,
            new_status.unwrap_or_default(),
        )
        .await?;
    }
    Ok(match plan.requeue_after {
        Some(after) => Action::requeue(after.max(MIN_REQUEUE)),
        None => Action::await_change(),
    })
}

/// The Pipeline of a run: inline, or fetched by `pipelineRef` in the run's namespace.
async fn pipeline_source(
    context: &Context,
    run: &PipelineRun,
    namespace: &str,
) -> Result<PipelineSource, ControllerError> {
    let run_name = run.metadata.name.as_deref().unwrap_or_default();
    let not_found = |detail: String| PipelineSource::NotFound {
        message: format!("Error retrieving pipeline for pipelinerun {namespace}/{run_name}: {detail}"),
    };
    match (&run.spec.pipeline_spec, &run.spec.pipeline_ref) {
        (Some(spec), _) => Ok(PipelineSource::Found {
            name: None,
            spec: Box::new(spec.clone()),
        }),
        (None, Some(reference)) => {
            if let Some(resolver) = &reference.resolver {
                return Ok(not_found(format!(
                    "resolver {resolver:?} is not supported by Ferry"
                )));
            }
            match get_tekton(&context.client, TektonKind::Pipeline, namespace, &reference.name).await? {
                Some((value, _)) => match parse_pipeline(value) {
                    Ok((pipeline, _)) => Ok(PipelineSource::Found {
                        name: Some(reference.name.clone()),
                        spec: Box::new(pipeline.spec),
                    }),
                    Err(error) => Ok(not_found(error.to_string())),
                },
                None => Ok(not_found(format!(
                    "pipelines.tekton.dev {:?} not found",
                    reference.name
                ))),
            }
        }
        (None, None) => Ok(PipelineSource::NotFound {
            message: "expected exactly one, got neither: spec.pipelineRef, spec.pipelineSpec".into(),
        }),
    }
}

/// Every Task of the namespace, by name. A Task that cannot be parsed is left out (the
/// run then reports it as not found, naming it).
async fn tasks_in(context: &Context, namespace: &str) -> Result<BTreeMap<String, TaskSpec>, ControllerError> {
    let mut tasks = BTreeMap::new();
    for (value, _) in list_tekton(&context.client, TektonKind::Task, namespace, "").await? {
        match parse_task(value) {
            Ok((task, _)) => {
                if let Some(name) = task.metadata.name.clone() {
                    tasks.insert(name, task.spec);
                }
            }
            Err(error) => tracing::warn!(%namespace, %error, "skipping a Task that cannot be read"),
        }
    }
    Ok(tasks)
}

/// The TaskRuns this run created (its label, and its uid as controller when set).
async fn children_of(
    context: &Context,
    run: &PipelineRun,
    namespace: &str,
    name: &str,
) -> Result<Vec<TaskRun>, ControllerError> {
    let selector = format!("{PIPELINE_RUN_LABEL}={name}");
    let mut children = Vec::new();
    for (value, _) in list_tekton(&context.client, TektonKind::TaskRun, namespace, &selector).await? {
        let (child, _) = parse_task_run(value)?;
        let owned = match (&run.metadata.uid, &child.metadata.owner_references) {
            (Some(uid), Some(owners)) => owners.iter().any(|owner| &owner.uid == uid),
            _ => true,
        };
        if owned {
            children.push(child);
        }
    }
    Ok(children)
}

#[cfg(test)]
mod tests {
    use ferry_types::tekton::convert::ApiVersion;
    use serde_json::json;

    use super::*;
    use crate::controller::versions::api_resource;

    #[test]
    fn child_task_runs_map_to_their_pipelinerun() {
        let resource = api_resource(TektonKind::PipelineRun, ApiVersion::V1);
        let cases = [
            (
                json!({"metadata": {"name": "pr-build", "namespace": "ci", "labels": {"tekton.dev/pipelineRun": "pr"}}}),
                Some(("pr", Some("ci"))),
            ),
            (json!({"metadata": {"name": "lonely", "namespace": "ci"}}), None),
            (
                json!({"metadata": {"name": "other", "namespace": "ci", "labels": {"app": "x"}}}),
                None,
            ),
        ];
        for (child, expected) in cases {
            let child: DynamicObject = serde_json::from_value(child).expect("a DynamicObject");
            let parent = parent_of(&child, &resource);
            assert_eq!(
                parent.as_ref().map(|p| (p.name.as_str(), p.namespace.as_deref())),
                expected,
                "{child:?}"
            );
        }
    }
}
