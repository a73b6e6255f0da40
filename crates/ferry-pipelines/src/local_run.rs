//! Drives runs to completion in-process, with no API server: the same state machines
//! the controller uses ([`crate::pipelinerun`], [`crate::taskrun`]) wired to the local
//! executor. The kube-rs controller replaces the in-memory store with the API; this loop
//! is what the example suite and the benchmarks run.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use ferry_types::tekton::v1::{PipelineRun, TaskRun};
use ferry_types::tekton::{PipelineSpec, TaskSpec};
use jiff::Timestamp;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;

use crate::conditions;
use crate::executor::ObjectSource;
use crate::executor::local::{LocalExecutor, LogLine, RunControl};
use crate::pipelinerun::{self, PipelineRunInput, PipelineSource};
use crate::taskrun::{self, EngineConfig, TaskRunFailure};

/// Tasks and Pipelines by name (one namespace).
#[derive(Clone, Debug, Default)]
pub struct Catalog {
    pub tasks: BTreeMap<String, TaskSpec>,
    pub pipelines: BTreeMap<String, PipelineSpec>,
}

/// Finds the spec a TaskRun runs and the name `$(context.task.name)` reports.
pub fn resolve_task(catalog: &Catalog, run: &TaskRun) -> Result<(TaskSpec, String), TaskRunFailure> {
    let run_name = run.metadata.name.clone().unwrap_or_default();
    match (&run.spec.task_ref, &run.spec.task_spec) {
        (_, Some(spec)) => Ok((spec.clone(), run_name)),
        (Some(task_ref), None) => catalog
            .tasks
            .get(&task_ref.name)
            .map(|spec| (spec.clone(), task_ref.name.clone()))
            .ok_or_else(|| TaskRunFailure {
                reason: conditions::task_run::RESOLUTION_FAILED,
                message: format!(
                    "error when listing tasks for taskRun {run_name}: tasks.tekton.dev {:?} not found",
                    task_ref.name
                ),
            }),
        (None, None) => Err(TaskRunFailure {
            reason: conditions::task_run::VALIDATION_FAILED,
            message: "invalid TaskRun: expected exactly one, got neither: spec.taskRef, spec.taskSpec"
                .to_string(),
        }),
    }
}

/// Runs a TaskRun, with retries, until it finishes; returns it with its final status.
pub async fn execute_task_run<S: ObjectSource>(
    executor: &LocalExecutor<S>,
    catalog: &Catalog,
    mut run: TaskRun,
    config: &EngineConfig,
    cancel: watch::Receiver<bool>,
    logs: Option<mpsc::UnboundedSender<LogLine>>,
) -> TaskRun {
    if run.spec.status.as_deref() == Some("TaskRunCancelled") {
        let name = run.metadata.name.clone().unwrap_or_default();
        let extra = run
            .spec
            .status_message
            .as_deref()
            .map(|m| format!(" {m}"))
            .unwrap_or_default();
        let failure = TaskRunFailure {
            reason: conditions::task_run::CANCELLED,
            message: format!("TaskRun {name:?} was cancelled.{extra}"),
        };
        run.status = Some(taskrun::failed_status(
            run.status.as_ref(),
            &failure,
            Timestamp::now(),
        ));
        return run;
    }
    let (spec, task_name) = match resolve_task(catalog, &run) {
        Ok(found) => found,
        Err(failure) => {
            run.status = Some(taskrun::failed_status(
                run.status.as_ref(),
                &failure,
                Timestamp::now(),
            ));
            return run;
        }
    };
    loop {
        let prepared = match taskrun::prepare(&run, &spec, &task_name, config) {
            Ok(prepared) => prepared,
            Err(failure) => {
                run.status = Some(taskrun::failed_status(
                    run.status.as_ref(),
                    &failure,
                    Timestamp::now(),
                ));
                return run;
            }
        };
        run.status = Some(taskrun::running_status(
            run.status.as_ref(),
            &prepared.step_names,
            Timestamp::now(),
        ));
        if let Some(status) = run.status.as_mut()
            && status.task_spec.is_none()
        {
            status.task_spec = Some(spec.clone());
        }
        let control = RunControl {
            cancel: cancel.clone(),
            logs: logs.clone(),
        };
        let outcome = executor.run(&run, &prepared, control).await;
        let attempt = taskrun::finish_attempt(&run, &prepared, &outcome, config, Timestamp::now());
        run.status = Some(attempt.status);
        if !attempt.retry {
            return run;
        }
    }
}

/// Runs a PipelineRun to completion. `spec_status` lets the caller set `spec.status`
/// (`Cancelled`, `CancelledRunFinally`, `StoppedRunFinally`) while it runs. Returns the
/// PipelineRun with its final status and every child TaskRun.
pub async fn run_pipeline_run<S: ObjectSource + 'static>(
    executor: Arc<LocalExecutor<S>>,
    catalog: Arc<Catalog>,
    mut run: PipelineRun,
    config: &EngineConfig,
    mut spec_status: Option<watch::Receiver<Option<String>>>,
    logs: Option<mpsc::UnboundedSender<LogLine>>,
) -> (PipelineRun, Vec<TaskRun>) {
    let source = match (&run.spec.pipeline_spec, &run.spec.pipeline_ref) {
        (Some(spec), _) => PipelineSource::Found {
            name: None,
            spec: Box::new(spec.clone()),
        },
        (None, Some(r)) => match catalog.pipelines.get(&r.name) {
            Some(spec) => PipelineSource::Found {
                name: Some(r.name.clone()),
                spec: Box::new(spec.clone()),
            },
            None => PipelineSource::NotFound {
                message: format!(
                    "Error retrieving pipeline for pipelinerun {}/{}: pipelines.tekton.dev {:?} not found",
                    run.metadata.namespace.as_deref().unwrap_or("default"),
                    run.metadata.name.as_deref().unwrap_or_default(),
                    r.name
                ),
            },
        },
        (None, None) => PipelineSource::NotFound {
            message: "expected exactly one, got neither: spec.pipelineRef, spec.pipelineSpec".into(),
        },
    };
    let mut children: Vec<TaskRun> = Vec::new();
    let mut cancels: BTreeMap<String, watch::Sender<bool>> = BTreeMap::new();
    let mut running: JoinSet<TaskRun> = JoinSet::new();
    loop {
        if let Some(updates) = &spec_status {
            run.spec.status = updates.borrow().clone();
        }
        let plan = pipelinerun::reconcile(
            &PipelineRunInput {
                run: &run,
                pipeline: source.clone(),
                tasks: &catalog.tasks,
                children: &children,
                now: Timestamp::now(),
            },
            config,
        );
        run.status = Some(plan.status);
        for cancel in &plan.cancel {
            if let Some(child) = children
                .iter_mut()
                .find(|c| c.metadata.name.as_deref() == Some(cancel.name.as_str()))
            {
                child.spec.status = Some("TaskRunCancelled".into());
                child.spec.status_message = Some(cancel.message.clone());
            }
            if let Some(sender) = cancels.get(&cancel.name) {
                let _ = sender.send(true);
            }
        }
        for child in plan.create {
            let name = child.metadata.name.clone().unwrap_or_default();
            let (sender, receiver) = watch::channel(false);
            cancels.insert(name, sender);
            let mut started = child.clone();
            started.status = Some(taskrun::running_status(None, &[], Timestamp::now()));
            children.push(started);
            let executor = executor.clone();
            let catalog = catalog.clone();
            let config = config.clone();
            let logs = logs.clone();
            running.spawn(async move {
                execute_task_run(&executor, &catalog, child, &config, receiver, logs).await
            });
        }
        let done = run
            .status
            .as_ref()
            .is_some_and(|s| conditions::is_done(&s.conditions));
        if done {
            // Let cancelled children wind down so their final status is recorded.
            while let Ok(Some(Ok(finished))) =
                tokio::time::timeout(Duration::from_secs(5), running.join_next()).await
            {
                replace_child(&mut children, finished);
            }
            return (run, children);
        }
        let requeue = plan
            .requeue_after
            .unwrap_or(Duration::from_secs(3600))
            .max(Duration::from_millis(5));
        let status_changed = async {
            match spec_status.as_mut() {
                Some(updates) => {
                    if updates.changed().await.is_err() {
                        std::future::pending::<()>().await;
                    }
                }
                None => std::future::pending::<()>().await,
            }
        };
        tokio::select! {
            finished = running.join_next(), if !running.is_empty() => {
                if let Some(Ok(finished)) = finished {
                    replace_child(&mut children, finished);
                }
            }
            _ = tokio::time::sleep(requeue) => {}
            _ = status_changed => {}
        }
    }
}

fn replace_child(children: &mut [TaskRun], finished: TaskRun) {
    if let Some(slot) = children
        .iter_mut()
        .find(|c| c.metadata.name == finished.metadata.name)
    {
        *slot = finished;
    }
}
