//! TaskRun rounds and attempt runners.

use std::sync::Arc;
use std::time::Duration;

use ferry_types::tekton::TaskSpec;
use ferry_types::tekton::convert::{ApiVersion, parse_task, parse_task_run, render_task_run};
use ferry_types::tekton::v1::TaskRun;
use jiff::Timestamp;
use kube::api::DynamicObject;
use kube::runtime::controller::Action;
use tokio::sync::watch;

use super::objects::{get_tekton, is_not_found, patch_status, tekton_value};
use super::versions::TektonKind;
use super::{Context, ControllerError, ExecutorKind, key_of};
use crate::conditions::task_run as reason;
use crate::executor::local::RunControl;
use crate::executor::pod_status::overlay_containers;
use crate::local_run::{Catalog, resolve_task};
use crate::taskrun::{self, TaskRunFailure};

/// `spec.status` values of a TaskRun.
const SPEC_CANCELLED: &str = "TaskRunCancelled";
const SPEC_PENDING: &str = "TaskRunPending";

/// What the controller knows about a TaskRun it has started.
pub(super) enum Attempt {
    /// A runner is working on it; sending `true` cancels it.
    Running(watch::Sender<bool>),
    /// The runner wrote the final status; kept until a round sees it, so a round on a
    /// stale cached copy does not start the TaskRun again.
    Finished,
}

/// One round: start a runner for a TaskRun that is not done, or pass on a cancellation.
pub(super) async fn reconcile(
    object: Arc<DynamicObject>,
    context: Arc<Context>,
) -> Result<Action, ControllerError> {
    let (value, version) = tekton_value(TektonKind::TaskRun, &object);
    let (run, _) = parse_task_run(value)?;
    let Some(uid) = run.metadata.uid.clone() else {
        return Ok(Action::await_change());
    };
    if taskrun::is_done(&run) {
        context.running().remove(&uid);
        return Ok(Action::await_change());
    }
    let cancelled = run.spec.status.as_deref() == Some(SPEC_CANCELLED);
    {
        let mut running = context.running();
        match running.get(&uid) {
            Some(Attempt::Running(cancel)) => {
                if cancelled {
                    let _ = cancel.send(true);
                }
                return Ok(Action::await_change());
            }
            Some(Attempt::Finished) => return Ok(Action::await_change()),
            None if run.spec.status.as_deref() == Some(SPEC_PENDING) => {
                return Ok(Action::await_change());
            }
            None => {}
        }
        let (sender, receiver) = watch::channel(cancelled);
        running.insert(uid.clone(), Attempt::Running(sender));
        let runner_context = context.clone();
        context.runners().spawn(async move {
            run_attempts(&runner_context, run, version, receiver).await;
            // Unless the TaskRun was deleted meanwhile (its entry is then gone).
            if let Some(attempt) = runner_context.running().get_mut(&uid) {
                *attempt = Attempt::Finished;
            }
        });
    }
    tracing::debug!(taskrun = %key_of(&object), "taskrun started");
    Ok(Action::await_change())
}

/// Runs a TaskRun's attempts to the end, writing its status as it goes.
async fn run_attempts(
    context: &Context,
    mut run: TaskRun,
    version: ApiVersion,
    cancel: watch::Receiver<bool>,
) {
    let name = run.metadata.name.clone().unwrap_or_default();
    if *cancel.borrow() {
        let extra = run
            .spec
            .status_message
            .as_deref()
            .map(|m| format!(" {m}"))
            .unwrap_or_default();
        let failure = TaskRunFailure {
            reason: reason::CANCELLED,
            message: format!("TaskRun {name:?} was cancelled.{extra}"),
        };
        run.status = Some(taskrun::failed_status(
            run.status.as_ref(),
            &failure,
            Timestamp::now(),
        ));
        write_status(context, &run, version).await;
        return;
    }
    let (spec, task_name) = match resolve(context, &run).await {
        Ok(found) => found,
        Err(failure) => {
            run.status = Some(taskrun::failed_status(
                run.status.as_ref(),
                &failure,
                Timestamp::now(),
            ));
            write_status(context, &run, version).await;
            return;
        }
    };
    loop {
        let prepared = match taskrun::prepare(&run, &spec, &task_name, &context.engine) {
            Ok(prepared) => prepared,
            Err(failure) => {
                run.status = Some(taskrun::failed_status(
                    run.status.as_ref(),
                    &failure,
                    Timestamp::now(),
                ));
                write_status(context, &run, version).await;
                return;
            }
        };
        let mut status = taskrun::running_status(run.status.as_ref(), &prepared.step_names, Timestamp::now());
        if status.task_spec.is_none() {
            status.task_spec = Some(spec.clone());
        }
        run.status = Some(status);
        if !write_status(context, &run, version).await {
            return;
        }
        let (outcome, pod) = match context.executor_kind {
            ExecutorKind::Local => {
                let control = RunControl {
                    cancel: cancel.clone(),
                    logs: None,
                };
                (context.executor.run(&run, &prepared, control).await, None)
            }
            ExecutorKind::Pod => {
                super::pod::run_attempt(context, &run, version, &prepared, cancel.clone()).await
            }
        };
        if outcome.cancelled {
            // The cancelling update may carry a `statusMessage` the runner's copy predates.
            refresh_status_message(context, &mut run).await;
        }
        let mut attempt =
            taskrun::finish_attempt(&run, &prepared, &outcome, &context.engine, Timestamp::now());
        if let Some((pod_name, containers)) = &pod {
            // A retried attempt is archived in retriesStatus: the Pod belongs there.
            let target = if attempt.retry {
                attempt.status.retries_status.last_mut()
            } else {
                Some(&mut attempt.status)
            };
            if let Some(status) = target {
                overlay_containers(status, pod_name, containers);
            }
        }
        run.status = Some(attempt.status);
        if !write_status(context, &run, version).await || !attempt.retry {
            return;
        }
    }
}

/// Copies `spec.statusMessage` from the stored TaskRun (best effort: on errors the copy
/// keeps the one it had).
async fn refresh_status_message(context: &Context, run: &mut TaskRun) {
    let namespace = run.metadata.namespace.clone().unwrap_or_else(|| "default".into());
    let name = run.metadata.name.clone().unwrap_or_default();
    if let Ok(Some((value, _))) = get_tekton(&context.client, TektonKind::TaskRun, &namespace, &name).await
        && let Ok((stored, _)) = parse_task_run(value)
    {
        run.spec.status_message = stored.spec.status_message;
    }
}

/// The Task a TaskRun runs: its inline spec, or the Task its `taskRef` names in its
/// namespace. Remote resolution and cluster-scoped kinds are not supported.
async fn resolve(context: &Context, run: &TaskRun) -> Result<(TaskSpec, String), TaskRunFailure> {
    let name = run.metadata.name.clone().unwrap_or_default();
    let namespace = run.metadata.namespace.clone().unwrap_or_else(|| "default".into());
    let mut catalog = Catalog::default();
    if let (Some(task_ref), None) = (&run.spec.task_ref, &run.spec.task_spec) {
        if let Some(resolver) = &task_ref.resolver {
            return Err(TaskRunFailure {
                reason: reason::RESOLUTION_FAILED,
                message: format!(
                    "error requesting remote resource for taskRun {name}: resolver {resolver:?} is not supported by Ferry"
                ),
            });
        }
        if let Some(kind) = task_ref.kind.as_deref().filter(|kind| *kind != "Task") {
            return Err(TaskRunFailure {
                reason: reason::RESOLUTION_FAILED,
                message: format!(
                    "taskRun {name}: taskRef kind {kind:?} is not supported by Ferry (only Task)"
                ),
            });
        }
        let found =
            with_retries(|| get_tekton(&context.client, TektonKind::Task, &namespace, &task_ref.name))
                .await
                .map_err(|error| TaskRunFailure {
                    reason: reason::RESOLUTION_FAILED,
                    message: format!("error when listing tasks for taskRun {name}: {error}"),
                })?;
        if let Some((value, _)) = found {
            let (task, _) = parse_task(value).map_err(|error| TaskRunFailure {
                reason: reason::TASK_VALIDATION_FAILED,
                message: format!("taskRun {name}: {error}"),
            })?;
            catalog.tasks.insert(task_ref.name.clone(), task.spec);
        }
    }
    resolve_task(&catalog, run)
}

/// Calls `read` up to four times while the API answers with errors other than 404.
async fn with_retries<T, F, Fut>(mut read: F) -> Result<T, ControllerError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, ControllerError>>,
{
    let mut delay = Duration::from_millis(100);
    let mut tries = 0;
    loop {
        match read().await {
            Ok(value) => return Ok(value),
            Err(error) if tries >= 3 || is_not_found(&error) => return Err(error),
            Err(error) => {
                tracing::debug!(%error, "retrying");
                tries += 1;
                tokio::time::sleep(delay).await;
                delay *= 2;
            }
        }
    }
}

/// Writes the TaskRun's status in the version it was created in. Returns `false` when the
/// TaskRun is gone or the write kept failing (the runner then stops).
pub(super) async fn write_status(context: &Context, run: &TaskRun, version: ApiVersion) -> bool {
    let namespace = run.metadata.namespace.clone().unwrap_or_else(|| "default".into());
    let name = run.metadata.name.clone().unwrap_or_default();
    let status = render_task_run(run, version)
        .get("status")
        .cloned()
        .unwrap_or_default();
    let written = with_retries(|| {
        patch_status(
            &context.client,
            TektonKind::TaskRun,
            &namespace,
            &name,
            version,
            status.clone(),
        )
    })
    .await;
    match written {
        Ok(()) => true,
        Err(error) => {
            tracing::warn!(taskrun = %format!("{namespace}/{name}"), %error, "cannot write TaskRun status");
            false
        }
    }
}
