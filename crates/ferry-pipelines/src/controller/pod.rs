//! The Pod executor's attempt runner: creates the TaskRun's Pod
//! ([`crate::executor::pod::build_pod`]), watches it, writes the running status as the
//! Pod moves ([`crate::executor::pod_status`]), and ends the attempt when the Pod
//! finishes. Cancellation, the TaskRun's timeout and failures that leave the Pod pending
//! (image pull, config error) delete the Pod (Tekton does the same; its logs go with it). A Pod that already exists and belongs to this TaskRun is adopted,
//! so a restarted controller carries on watching it.

use std::time::Duration;

use ferry_types::tekton::convert::ApiVersion;
use ferry_types::tekton::v1::TaskRun;
use futures::StreamExt;
use jiff::Timestamp;
use k8s_openapi::api::core::v1::Pod;
use kube::Api;
use kube::api::{DeleteParams, PostParams};
use tokio::sync::watch;

use super::Context;
use super::objects::{FIELD_MANAGER, api_error_summary};
use super::taskrun::write_status;
use crate::conditions::task_run as reason;
use crate::executor::pod::build_pod;
use crate::executor::pod_status::{self, ContainerDetail, PodView};
use crate::taskrun::{ExecutionOutcome, PreparedTaskRun, TaskRunFailure};

/// What the attempt leaves for the final status: the Pod's name and its step containers.
pub(super) type PodDetails = (String, Vec<ContainerDetail>);

fn failed(reason: &'static str, message: String) -> ExecutionOutcome {
    ExecutionOutcome {
        steps: Vec::new(),
        results: Default::default(),
        setup_failure: Some(TaskRunFailure { reason, message }),
        timed_out: false,
        cancelled: false,
    }
}

/// Creates the Pod, or adopts the one a previous runner created.
async fn create_or_adopt(api: &Api<Pod>, pod: &Pod, run: &TaskRun) -> Result<(), String> {
    let name = pod.metadata.name.clone().unwrap_or_default();
    let params = PostParams {
        field_manager: Some(FIELD_MANAGER.to_string()),
        ..Default::default()
    };
    let mut delay = Duration::from_millis(100);
    for attempt in 0..4 {
        match api.create(&params, pod).await {
            Ok(_) => return Ok(()),
            Err(kube::Error::Api(status)) if status.code == 409 => {
                let existing = api.get(&name).await.map_err(|e| api_error_summary(&e))?;
                let ours = existing
                    .metadata
                    .owner_references
                    .iter()
                    .flatten()
                    .any(|o| o.kind == "TaskRun" && Some(&o.uid) == run.metadata.uid.as_ref());
                return if ours {
                    Ok(())
                } else {
                    Err(format!(
                        "pod {name:?} already exists and is not owned by this TaskRun"
                    ))
                };
            }
            Err(kube::Error::Api(status)) if (400..500).contains(&status.code) => {
                return Err(format!("{} ({})", status.message, status.code));
            }
            Err(error) if attempt == 3 => return Err(api_error_summary(&error)),
            Err(error) => {
                tracing::debug!(pod = %name, error = %api_error_summary(&error), "retrying pod creation");
                tokio::time::sleep(delay).await;
                delay *= 2;
            }
        }
    }
    Err("pod creation kept failing".into())
}

async fn delete_pod(api: &Api<Pod>, name: &str) {
    match api.delete(name, &DeleteParams::default()).await {
        Ok(_) => {}
        Err(kube::Error::Api(status)) if status.code == 404 => {}
        Err(error) => tracing::warn!(pod = %name, error = %api_error_summary(&error), "cannot delete pod"),
    }
}

/// Runs one attempt of `run` as a Pod. `run.status` is the attempt's running status
/// (already written); updates go through `write_status` in `version`.
pub(super) async fn run_attempt(
    context: &Context,
    run: &TaskRun,
    version: ApiVersion,
    prepared: &PreparedTaskRun,
    mut cancel: watch::Receiver<bool>,
) -> (ExecutionOutcome, Option<PodDetails>) {
    let pod = match build_pod(run, prepared, &context.pod) {
        Ok(pod) => pod,
        Err(error) => return (failed(reason::POD_CREATION_FAILED, error.to_string()), None),
    };
    let pod_name = pod.metadata.name.clone().unwrap_or_default();
    let api: Api<Pod> = Api::namespaced(context.client.clone(), &prepared.namespace);
    if let Err(message) = create_or_adopt(&api, &pod, run).await {
        return (
            failed(
                reason::POD_CREATION_FAILED,
                format!("failed to create task run pod {pod_name:?}: {message}"),
            ),
            None,
        );
    }
    tracing::debug!(pod = %pod_name, taskrun = %prepared.name, "pod created");

    let started = run
        .status
        .as_ref()
        .and_then(|s| s.start_time.as_ref())
        .map_or_else(Timestamp::now, |t| t.0);
    let deadline = prepared.timeout.map(|timeout| {
        let elapsed = Timestamp::now().duration_since(started);
        let left = jiff::SignedDuration::try_from(timeout)
            .unwrap_or(jiff::SignedDuration::MAX)
            .checked_sub(elapsed)
            .unwrap_or_default();
        tokio::time::Instant::now() + Duration::try_from(left).unwrap_or_default()
    });
    let sleep_until_deadline = async {
        match deadline {
            Some(at) => tokio::time::sleep_until(at).await,
            None => std::future::pending().await,
        }
    };
    tokio::pin!(sleep_until_deadline);

    let mut updates = kube::runtime::watcher::watch_object(api.clone(), &pod_name).boxed();
    let mut current = run.clone();
    let mut last_pod: Option<Pod> = None;
    let mut last_written: Option<(String, String, Vec<u8>)> = None;
    loop {
        tokio::select! {
            changed = cancel.changed() => {
                if changed.is_err() || *cancel.borrow() {
                    delete_pod(&api, &pod_name).await;
                    let mut outcome = interrupted(last_pod.as_ref(), prepared);
                    outcome.cancelled = true;
                    return (outcome, Some((pod_name, details(last_pod.as_ref(), prepared))));
                }
            }
            () = &mut sleep_until_deadline => {
                delete_pod(&api, &pod_name).await;
                let mut outcome = interrupted(last_pod.as_ref(), prepared);
                outcome.timed_out = true;
                return (outcome, Some((pod_name, details(last_pod.as_ref(), prepared))));
            }
            event = updates.next() => match confirm_gone(&api, &pod_name, event).await {
                Some(Ok(Some(pod))) => {
                    match pod_status::observe(&pod, prepared) {
                        PodView::Finished { outcome, containers } => {
                            // A Pod stuck on a failure (image pull, config error) would stay
                            // pending for ever: Tekton deletes it when it fails the TaskRun.
                            let phase = pod.status.as_ref().and_then(|s| s.phase.as_deref());
                            if outcome.setup_failure.is_some() && !matches!(phase, Some("Succeeded" | "Failed")) {
                                delete_pod(&api, &pod_name).await;
                            }
                            return (outcome, Some((pod_name, containers)));
                        }
                        PodView::Running { reason, message, steps } => {
                            let key = (reason.to_string(), message.clone(), steps_fingerprint(&steps));
                            if last_written.as_ref() != Some(&key) {
                                current.status = Some(pod_status::running_status(
                                    current.status.as_ref(), &pod_name, reason, &message, steps, Timestamp::now(),
                                ));
                                if !write_status(context, &current, version).await {
                                    // The TaskRun is gone: nothing to report to.
                                    delete_pod(&api, &pod_name).await;
                                    return (interrupted(Some(&pod), prepared), None);
                                }
                                last_written = Some(key);
                            }
                        }
                    }
                    last_pod = Some(pod);
                }
                Some(Ok(None)) => {
                    return (
                        failed(reason::FAILED, format!("TaskRun {:?} failed: its pod {pod_name:?} was deleted", prepared.name)),
                        Some((pod_name, details(last_pod.as_ref(), prepared))),
                    );
                }
                Some(Err(error)) => {
                    tracing::debug!(pod = %pod_name, %error, "pod watch");
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
                None => {
                    tokio::time::sleep(Duration::from_millis(500)).await;
                    updates = kube::runtime::watcher::watch_object(api.clone(), &pod_name).boxed();
                }
            }
        }
    }
}

/// A watch that reports the Pod missing is checked with a direct read: a watch cache
/// that lags behind the creation must not end the attempt.
async fn confirm_gone(
    api: &Api<Pod>,
    name: &str,
    event: Option<Result<Option<Pod>, kube::runtime::watcher::Error>>,
) -> Option<Result<Option<Pod>, kube::runtime::watcher::Error>> {
    match event {
        Some(Ok(None)) => match api.get_opt(name).await {
            Ok(found) => Some(Ok(found)),
            Err(error) => {
                tracing::debug!(pod = %name, error = %api_error_summary(&error), "reading pod");
                Some(Ok(None))
            }
        },
        other => other,
    }
}

/// The steps' states (0 waiting, 1 running, 2 terminated), so unchanged rounds write nothing.
fn steps_fingerprint(steps: &[ferry_types::tekton::StepState]) -> Vec<u8> {
    steps
        .iter()
        .map(|s| {
            if s.terminated.is_some() {
                2
            } else {
                u8::from(s.running.is_some())
            }
        })
        .collect()
}

fn interrupted(pod: Option<&Pod>, prepared: &PreparedTaskRun) -> ExecutionOutcome {
    match pod {
        Some(pod) => pod_status::outcome_so_far(pod, prepared),
        None => ExecutionOutcome {
            steps: Vec::new(),
            results: Default::default(),
            setup_failure: None,
            timed_out: false,
            cancelled: false,
        },
    }
}

fn details(pod: Option<&Pod>, prepared: &PreparedTaskRun) -> Vec<ContainerDetail> {
    pod.map(|pod| pod_status::container_details(pod, prepared))
        .unwrap_or_default()
}
