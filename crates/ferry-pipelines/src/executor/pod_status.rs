//! A TaskRun's Pod → the TaskRun's status, as Tekton reads it (pure).
//!
//! [`observe`] classifies the Pod:
//! - still going: `Unknown` with `Pending` (pod pending; `pod status "PodScheduled":"False";
//!   message: …` when unschedulable, `ExceededNodeResources` when for lack of resources),
//!   `PullImageFailed` (an image pull is being retried) or `Running`, and `steps[]` with the
//!   containers' waiting/running/terminated states;
//! - finished: an [`ExecutionOutcome`] for [`crate::taskrun::finish_attempt`] (the same
//!   reasons as the local executor: `Succeeded`, `StepFailed` naming the step,
//!   `TaskRunTimeout`, results with their size limit, retries), plus the containers'
//!   details (termination message, container and image ids) laid over `steps[]` by
//!   [`overlay_containers`]. Pod-level failures end the attempt with Tekton's reasons:
//!   `TaskRunImagePullFailed` (ImagePullBackOff / InvalidImageName),
//!   `CreateContainerConfigError`, `InitContainerFailed` / `InitContainerOOM`, `PodEvicted`,
//!   and `TaskRunTimeout` when the Pod's `activeDeadlineSeconds` ran out.
//!
//! Each step container's termination message is the wrapper's JSON
//! (`[{"key","value","type"}]`, see [`crate::entrypoint`]): type-1 entries are task results,
//! `StartedAt` replaces the container's start, `ExitCode` marks an `onError: continue`
//! failure, `Reason` says `Skipped` / `TimeoutExceeded` / `Cancelled`. A step after a failed
//! one is reported `Skipped` even without the wrapper's word (the wrapper would have skipped it).

use std::collections::BTreeMap;

use ferry_types::tekton::StepState;
use ferry_types::tekton::v1::TaskRunStatus;
use jiff::Timestamp;
use k8s_openapi::api::core::v1::{ContainerState, ContainerStatus, Pod};

use crate::conditions::{self, task_run as reason};
use crate::entrypoint::{INTERNAL_RESULT_TYPE, MessageEntry, TASK_RESULT_TYPE};
use crate::taskrun::{ExecutionOutcome, PreparedTaskRun, StepEnd, StepOutcome, TaskRunFailure};

/// A step container's details that only the Pod knows.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ContainerDetail {
    pub container: String,
    pub message: Option<String>,
    pub container_id: Option<String>,
    pub image_id: Option<String>,
    /// The kubelet's reason (`Completed`, `Error`, `OOMKilled`…).
    pub reason: Option<String>,
}

/// What a Pod says about its TaskRun.
#[derive(Clone, Debug, PartialEq)]
pub enum PodView {
    /// Not finished: the `Unknown` reason and message, and the steps as they are.
    Running {
        reason: &'static str,
        message: String,
        steps: Vec<StepState>,
    },
    /// The attempt is over.
    Finished {
        outcome: ExecutionOutcome,
        containers: Vec<ContainerDetail>,
    },
}

fn statuses(list: Option<&Vec<ContainerStatus>>) -> &[ContainerStatus] {
    list.map(Vec::as_slice).unwrap_or_default()
}

fn parse_message(message: Option<&str>) -> Vec<MessageEntry> {
    message
        .and_then(|text| serde_json::from_str::<Vec<MessageEntry>>(text).ok())
        .unwrap_or_default()
}

fn internal<'a>(entries: &'a [MessageEntry], key: &str) -> Option<&'a str> {
    entries
        .iter()
        .find(|e| e.type_ == INTERNAL_RESULT_TYPE && e.key == key)
        .map(|e| e.value.as_str())
}

fn finished(outcome: ExecutionOutcome, containers: Vec<ContainerDetail>) -> PodView {
    PodView::Finished { outcome, containers }
}

fn failure(reason: &'static str, message: String) -> ExecutionOutcome {
    ExecutionOutcome {
        steps: Vec::new(),
        results: BTreeMap::new(),
        setup_failure: Some(TaskRunFailure { reason, message }),
        timed_out: false,
        cancelled: false,
    }
}

/// The step containers' details of a Pod, in step order.
pub fn container_details(pod: &Pod, prepared: &PreparedTaskRun) -> Vec<ContainerDetail> {
    let status = pod.status.as_ref();
    let containers = statuses(status.and_then(|s| s.container_statuses.as_ref()));
    prepared
        .step_names
        .iter()
        .map(|name| {
            let container = format!("step-{name}");
            let found = containers.iter().find(|c| c.name == container);
            let terminated = found
                .and_then(|c| c.state.as_ref())
                .and_then(|s| s.terminated.as_ref());
            ContainerDetail {
                message: terminated.and_then(|t| t.message.clone()),
                container_id: found.and_then(|c| c.container_id.clone()),
                image_id: found.map(|c| c.image_id.clone()).filter(|i| !i.is_empty()),
                reason: terminated.and_then(|t| t.reason.clone()),
                container,
            }
        })
        .collect()
}

/// The image a container of the Pod runs.
fn image_of(pod: &Pod, container: &str) -> String {
    let spec = pod.spec.as_ref();
    spec.into_iter()
        .flat_map(|s| s.containers.iter().chain(s.init_containers.iter().flatten()))
        .find(|c| c.name == container)
        .and_then(|c| c.image.clone())
        .unwrap_or_default()
}

/// Reads the Pod of `prepared`'s attempt.
pub fn observe(pod: &Pod, prepared: &PreparedTaskRun) -> PodView {
    let task_run = prepared.name.as_str();
    let status = pod.status.clone().unwrap_or_default();
    let phase = status.phase.as_deref().unwrap_or("Pending");
    let inits = statuses(status.init_container_statuses.as_ref());
    let containers = statuses(status.container_statuses.as_ref());

    // Pod-level failures first.
    if status.reason.as_deref() == Some("Evicted") {
        let message = status
            .message
            .clone()
            .unwrap_or_else(|| "the pod was evicted".into());
        return finished(
            failure(reason::POD_EVICTED, message),
            container_details(pod, prepared),
        );
    }
    if phase == "Failed" && status.reason.as_deref() == Some("DeadlineExceeded") {
        let mut outcome = outcome_so_far(pod, prepared);
        outcome.timed_out = true;
        return finished(outcome, container_details(pod, prepared));
    }
    for init in inits {
        if let Some(terminated) = init.state.as_ref().and_then(|s| s.terminated.as_ref())
            && terminated.exit_code != 0
        {
            let oom = terminated.reason.as_deref() == Some("OOMKilled");
            let why = if oom {
                reason::INIT_CONTAINER_OOM
            } else {
                reason::INIT_CONTAINER_FAILED
            };
            let message = format!(
                "init container {:?} exited with code {}: {}",
                init.name,
                terminated.exit_code,
                terminated.reason.as_deref().unwrap_or("Error")
            );
            return finished(failure(why, message), container_details(pod, prepared));
        }
    }
    let mut pull_retry = None;
    for (kind, container) in inits
        .iter()
        .map(|c| ("init container", c))
        .chain(containers.iter().map(|c| ("step", c)))
    {
        let Some(waiting) = container.state.as_ref().and_then(|s| s.waiting.as_ref()) else {
            continue;
        };
        let detail = waiting.message.clone().unwrap_or_default();
        match waiting.reason.as_deref() {
            Some("CreateContainerConfigError" | "CreateContainerError") => {
                let message = format!(
                    "Failed to create pod due to config error: container {:?}: {detail}",
                    container.name
                );
                return finished(
                    failure(reason::CREATE_CONTAINER_CONFIG_ERROR, message),
                    container_details(pod, prepared),
                );
            }
            Some("ImagePullBackOff" | "InvalidImageName") => {
                let name = container.name.strip_prefix("step-").unwrap_or(&container.name);
                let message = format!(
                    "the {kind} {name:?} in TaskRun {task_run:?} failed to pull the image {:?}. The pod errored with the message: \"{detail}.\"",
                    image_of(pod, &container.name)
                );
                return finished(
                    failure(reason::IMAGE_PULL_FAILED, message),
                    container_details(pod, prepared),
                );
            }
            Some("ErrImagePull") if pull_retry.is_none() => {
                pull_retry = Some(format!(
                    "build step {:?} is pending with reason {detail:?}",
                    container.name
                ));
            }
            _ => {}
        }
    }

    let steps_done = !prepared.step_names.is_empty()
        && prepared.step_names.iter().all(|name| {
            containers.iter().any(|c| {
                c.name == format!("step-{name}") && c.state.as_ref().is_some_and(|s| s.terminated.is_some())
            })
        });
    if steps_done || phase == "Succeeded" || phase == "Failed" {
        return finished(outcome_so_far(pod, prepared), container_details(pod, prepared));
    }

    let steps = running_steps(pod, prepared);
    if let Some(message) = pull_retry {
        return PodView::Running {
            reason: reason::PULL_IMAGE_FAILED,
            message,
            steps,
        };
    }
    if phase == "Running" {
        return PodView::Running {
            reason: reason::RUNNING,
            message: reason::RUNNING_MESSAGE.into(),
            steps,
        };
    }
    let unschedulable = status
        .conditions
        .iter()
        .flatten()
        .find(|c| c.type_ == "PodScheduled" && c.status == "False");
    if let Some(condition) = unschedulable {
        let text = condition.message.clone().unwrap_or_default();
        if text.contains("Insufficient") {
            return PodView::Running {
                reason: reason::EXCEEDED_NODE_RESOURCES,
                message: "TaskRun Pod exceeded available resources".into(),
                steps,
            };
        }
        return PodView::Running {
            reason: reason::PENDING,
            message: format!("pod status \"PodScheduled\":\"False\"; message: {text:?}"),
            steps,
        };
    }
    let waiting = containers.iter().find_map(|c| {
        let w = c.state.as_ref()?.waiting.as_ref()?;
        let message = w.message.as_ref().or(w.reason.as_ref())?;
        Some(format!(
            "build step {:?} is pending with reason {message:?}",
            c.name
        ))
    });
    PodView::Running {
        reason: reason::PENDING,
        message: waiting.unwrap_or_else(|| "Pending".into()),
        steps,
    }
}

/// The steps of an unfinished Pod, with the containers' current states.
fn running_steps(pod: &Pod, prepared: &PreparedTaskRun) -> Vec<StepState> {
    let containers = statuses(pod.status.as_ref().and_then(|s| s.container_statuses.as_ref()));
    prepared
        .step_names
        .iter()
        .map(|name| {
            let container = format!("step-{name}");
            let found = containers.iter().find(|c| c.name == container);
            let state = found.and_then(|c| c.state.clone()).unwrap_or(ContainerState {
                waiting: Some(k8s_openapi::api::core::v1::ContainerStateWaiting {
                    reason: Some("PodInitializing".into()),
                    message: None,
                }),
                ..Default::default()
            });
            StepState {
                waiting: state.waiting,
                running: state.running,
                terminated: state.terminated,
                name: name.clone(),
                container,
                image_id: found.map(|c| c.image_id.clone()).unwrap_or_default(),
                ..Default::default()
            }
        })
        .collect()
}

/// Step outcomes and results of a Pod as it is now; steps that have not ended count as
/// killed (or skipped after a failed step), for a Pod being stopped.
pub fn outcome_so_far(pod: &Pod, prepared: &PreparedTaskRun) -> ExecutionOutcome {
    let containers = statuses(pod.status.as_ref().and_then(|s| s.container_statuses.as_ref()));
    let mut results = BTreeMap::new();
    let mut failed_before = false;
    let mut steps = Vec::new();
    for name in &prepared.step_names {
        let container = format!("step-{name}");
        let terminated = containers
            .iter()
            .find(|c| c.name == container)
            .and_then(|c| c.state.as_ref())
            .and_then(|s| s.terminated.as_ref());
        let entries = parse_message(terminated.and_then(|t| t.message.as_deref()));
        for entry in entries.iter().filter(|e| e.type_ == TASK_RESULT_TYPE) {
            results.insert(entry.key.clone(), entry.value.clone());
        }
        let end = match terminated {
            None if failed_before => StepEnd::Skipped,
            None => StepEnd::Killed,
            Some(terminated) => match internal(&entries, "Reason") {
                Some("Skipped") => StepEnd::Skipped,
                Some("TimeoutExceeded") => StepEnd::TimedOut,
                Some("Cancelled") => StepEnd::Killed,
                _ if failed_before => StepEnd::Skipped,
                _ => match internal(&entries, "ExitCode").and_then(|c| c.parse::<i32>().ok()) {
                    Some(code) => StepEnd::Exited {
                        code,
                        continued: true,
                    },
                    None => StepEnd::Exited {
                        code: terminated.exit_code,
                        continued: false,
                    },
                },
            },
        };
        if matches!(end, StepEnd::TimedOut)
            || matches!(end, StepEnd::Exited { continued: false, code } if code != 0)
        {
            failed_before = true;
        }
        let started_at = internal(&entries, "StartedAt")
            .and_then(|t| t.parse::<Timestamp>().ok())
            .or_else(|| terminated.and_then(|t| t.started_at.as_ref()).map(|t| t.0));
        steps.push(StepOutcome {
            name: name.clone(),
            image: image_of(pod, &container),
            end,
            started_at,
            finished_at: terminated.and_then(|t| t.finished_at.as_ref()).map(|t| t.0),
        });
    }
    ExecutionOutcome {
        steps,
        results,
        setup_failure: None,
        timed_out: false,
        cancelled: false,
    }
}

/// Lays the containers' details over `steps[]` (after
/// [`crate::taskrun::finish_attempt`]) and records the Pod's name.
pub fn overlay_containers(status: &mut TaskRunStatus, pod_name: &str, containers: &[ContainerDetail]) {
    status.pod_name = pod_name.to_string();
    for step in &mut status.steps {
        let Some(detail) = containers.iter().find(|d| d.container == step.container) else {
            continue;
        };
        if let Some(image_id) = &detail.image_id {
            step.image_id = image_id.clone();
        }
        if let Some(terminated) = step.terminated.as_mut() {
            terminated.message = detail.message.clone();
            terminated.container_id = detail.container_id.clone();
            if detail.reason.as_deref() == Some("OOMKilled") {
                terminated.reason = detail.reason.clone();
            }
        }
    }
}

/// The status of an attempt whose Pod is not finished.
pub fn running_status(
    previous: Option<&TaskRunStatus>,
    pod_name: &str,
    why: &str,
    message: &str,
    steps: Vec<StepState>,
    now: Timestamp,
) -> TaskRunStatus {
    let mut status = previous.cloned().unwrap_or_default();
    if status.start_time.is_none() {
        status.start_time = Some(conditions::time(now));
    }
    status.pod_name = pod_name.to_string();
    status.steps = steps;
    conditions::set_succeeded(
        &mut status.conditions,
        conditions::succeeded("Unknown", why, message, now),
    );
    status
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::taskrun::{EngineConfig, finish_attempt, prepare};
    use ferry_types::tekton::TaskSpec;
    use ferry_types::tekton::v1::TaskRun;
    use serde_json::{Value, json};

    fn setup() -> (TaskRun, PreparedTaskRun) {
        let run: TaskRun = serde_json::from_value(
            json!({"metadata": {"name": "tr", "namespace": "ns"}, "spec": {"timeout": "1m"}}),
        )
        .expect("run");
        let spec: TaskSpec = serde_json::from_value(json!({
            "results": [{"name": "digest"}, {"name": "list", "type": "array"}],
            "steps": [{"name": "build", "image": "alpine"}, {"name": "push", "image": "alpine"}]
        }))
        .expect("spec");
        let prepared = prepare(&run, &spec, "t", &EngineConfig::default()).expect("prepares");
        (run, prepared)
    }

    fn terminated(name: &str, code: i32, message: Option<&str>) -> Value {
        json!({"name": name, "image": "alpine", "imageID": "docker.io/library/alpine@sha256:1", "ready": false,
               "restartCount": 0, "containerID": format!("containerd://{name}"),
               "state": {"terminated": {"exitCode": code, "reason": if code == 0 { "Completed" } else { "Error" },
                         "message": message, "startedAt": "2026-01-01T00:00:01Z", "finishedAt": "2026-01-01T00:00:02Z"}}})
    }

    fn waiting(name: &str, why: &str, message: &str) -> Value {
        json!({"name": name, "image": "alpine", "imageID": "", "ready": false, "restartCount": 0,
               "state": {"waiting": {"reason": why, "message": message}}})
    }

    fn running(name: &str) -> Value {
        json!({"name": name, "image": "alpine", "imageID": "x", "ready": true, "restartCount": 0,
               "state": {"running": {"startedAt": "2026-01-01T00:00:01Z"}}})
    }

    fn pod(status: Value) -> Pod {
        serde_json::from_value(json!({
            "metadata": {"name": "tr-pod", "namespace": "ns"},
            "spec": {"containers": [{"name": "step-build", "image": "alpine"}, {"name": "step-push", "image": "alpine"}],
                     "initContainers": [{"name": "prepare", "image": "ferry"}]},
            "status": status
        }))
        .expect("pod")
    }

    const RESULTS: &str = r#"[{"key":"StartedAt","value":"2026-01-01T00:00:01.500Z","type":3},{"key":"digest","value":"sha256:abc","type":1},{"key":"list","value":"[\"a\",\"b\"]","type":1}]"#;
    const CONTINUED: &str = r#"[{"key":"ExitCode","value":"7","type":3}]"#;

    /// (pod status, final?, condition status, reason, message)
    fn cases() -> Vec<(Value, &'static str, &'static str, String)> {
        vec![
            (json!({"phase": "Pending"}), "Unknown", "Pending", "Pending".into()),
            (
                json!({"phase": "Pending", "conditions": [{"type": "PodScheduled", "status": "False", "reason": "Unschedulable", "message": "0/3 nodes are available: 3 node(s) didn't match Pod's node affinity."}]}),
                "Unknown",
                "Pending",
                "pod status \"PodScheduled\":\"False\"; message: \"0/3 nodes are available: 3 node(s) didn't match Pod's node affinity.\"".into(),
            ),
            (
                json!({"phase": "Pending", "conditions": [{"type": "PodScheduled", "status": "False", "reason": "Unschedulable", "message": "0/3 nodes are available: 3 Insufficient cpu."}]}),
                "Unknown",
                "ExceededNodeResources",
                "TaskRun Pod exceeded available resources".into(),
            ),
            (
                json!({"phase": "Pending", "containerStatuses": [waiting("step-build", "ErrImagePull", "not found"), waiting("step-push", "ContainerCreating", "")]}),
                "Unknown",
                "PullImageFailed",
                "build step \"step-build\" is pending with reason \"not found\"".into(),
            ),
            (
                json!({"phase": "Pending", "containerStatuses": [waiting("step-build", "ImagePullBackOff", "Back-off pulling image \"alpine\""), waiting("step-push", "ContainerCreating", "")]}),
                "False",
                "TaskRunImagePullFailed",
                "the step \"build\" in TaskRun \"tr\" failed to pull the image \"alpine\". The pod errored with the message: \"Back-off pulling image \"alpine\".\"".into(),
            ),
            (
                json!({"phase": "Pending", "containerStatuses": [waiting("step-build", "CreateContainerConfigError", "secret \"argosecret\" not found"), waiting("step-push", "ContainerCreating", "")]}),
                "False",
                "CreateContainerConfigError",
                "Failed to create pod due to config error: container \"step-build\": secret \"argosecret\" not found".into(),
            ),
            (
                json!({"phase": "Failed", "initContainerStatuses": [terminated("prepare", 1, None)]}),
                "False",
                "InitContainerFailed",
                "init container \"prepare\" exited with code 1: Error".into(),
            ),
            (
                json!({"phase": "Failed", "reason": "Evicted", "message": "The node was low on resource: memory."}),
                "False",
                "PodEvicted",
                "The node was low on resource: memory.".into(),
            ),
            (
                json!({"phase": "Running", "containerStatuses": [terminated("step-build", 0, None), running("step-push")]}),
                "Unknown",
                "Running",
                "Not all Steps in the Task have finished executing".into(),
            ),
            (
                json!({"phase": "Succeeded", "containerStatuses": [terminated("step-build", 0, Some(RESULTS)), terminated("step-push", 0, None)]}),
                "True",
                "Succeeded",
                "All Steps have completed executing".into(),
            ),
            (
                json!({"phase": "Failed", "containerStatuses": [terminated("step-build", 0, None), terminated("step-push", 1, None)]}),
                "False",
                "StepFailed",
                "\"step-push\" exited with code 1: Error".into(),
            ),
            (
                json!({"phase": "Succeeded", "containerStatuses": [terminated("step-build", 0, Some(CONTINUED)), terminated("step-push", 0, None)]}),
                "True",
                "Succeeded",
                "All Steps have completed executing".into(),
            ),
            (
                json!({"phase": "Failed", "reason": "DeadlineExceeded", "containerStatuses": [terminated("step-build", 137, None), waiting("step-push", "PodInitializing", "")]}),
                "False",
                "TaskRunTimeout",
                "TaskRun \"tr\" failed to finish within \"1m0s\"".into(),
            ),
        ]
    }

    #[test]
    fn pods_map_to_tekton_conditions() {
        let (run, prepared) = setup();
        let now = Timestamp::from_second(100).expect("time");
        for (status, want_status, want_reason, want_message) in cases() {
            let pod = pod(status.clone());
            let (got_status, got_reason, got_message) = match observe(&pod, &prepared) {
                PodView::Running {
                    reason,
                    message,
                    steps,
                } => {
                    assert_eq!(steps.len(), 2, "{status}");
                    ("Unknown".to_string(), reason.to_string(), message)
                }
                PodView::Finished { outcome, containers } => {
                    let mut result = finish_attempt(&run, &prepared, &outcome, &EngineConfig::default(), now);
                    overlay_containers(&mut result.status, "tr-pod", &containers);
                    assert_eq!(result.status.pod_name, "tr-pod");
                    let c = result.status.succeeded().cloned().expect("condition");
                    (
                        c.status,
                        c.reason.unwrap_or_default(),
                        c.message.unwrap_or_default(),
                    )
                }
            };
            assert_eq!(
                (got_status.as_str(), got_reason.as_str(), got_message.as_str()),
                (want_status, want_reason, want_message.as_str()),
                "{status}"
            );
        }
    }

    #[test]
    fn finished_pods_give_steps_and_results() {
        let (run, prepared) = setup();
        let now = Timestamp::from_second(100).expect("time");
        let finish = |status: Value| {
            let PodView::Finished { outcome, containers } = observe(&pod(status), &prepared) else {
                panic!("finished");
            };
            let mut result = finish_attempt(&run, &prepared, &outcome, &EngineConfig::default(), now);
            overlay_containers(&mut result.status, "tr-pod", &containers);
            result.status
        };
        let ok = finish(
            json!({"phase": "Succeeded", "containerStatuses": [terminated("step-build", 0, Some(RESULTS)), terminated("step-push", 0, Some(CONTINUED))]}),
        );
        let results: Vec<(String, Value)> = ok
            .results
            .iter()
            .map(|r| (r.name.clone(), serde_json::to_value(&r.value).unwrap_or_default()))
            .collect();
        assert_eq!(
            results,
            [
                ("digest".to_string(), json!("sha256:abc")),
                ("list".to_string(), json!(["a", "b"]))
            ]
        );
        type Row<'a> = (&'a str, &'a str, i32, Option<&'a str>, Option<&'a str>);
        let steps: Vec<Row<'_>> = ok
            .steps
            .iter()
            .map(|s| {
                let t = s.terminated.as_ref().expect("terminated");
                (
                    s.name.as_str(),
                    s.container.as_str(),
                    t.exit_code,
                    s.termination_reason.as_deref(),
                    t.container_id.as_deref(),
                )
            })
            .collect();
        assert_eq!(
            steps,
            [
                (
                    "build",
                    "step-build",
                    0,
                    Some("Completed"),
                    Some("containerd://step-build")
                ),
                (
                    "push",
                    "step-push",
                    7,
                    Some("Continued"),
                    Some("containerd://step-push")
                ),
            ]
        );
        let build = ok
            .steps
            .first()
            .and_then(|s| s.terminated.as_ref())
            .expect("build");
        assert_eq!(build.message.as_deref(), Some(RESULTS));
        assert_eq!(
            build.started_at.as_ref().map(|t| t.0.to_string()),
            Some("2026-01-01T00:00:01.5Z".to_string()),
            "StartedAt from the wrapper"
        );
        assert_eq!(
            ok.steps.first().map(|s| s.image_id.as_str()),
            Some("docker.io/library/alpine@sha256:1")
        );

        // The first failure names its step; the next one is skipped.
        let failed = finish(
            json!({"phase": "Failed", "containerStatuses": [terminated("step-build", 2, None), terminated("step-push", 0, None)]}),
        );
        let reasons: Vec<Option<&str>> = failed
            .steps
            .iter()
            .map(|s| s.termination_reason.as_deref())
            .collect();
        assert_eq!(reasons, [Some("Error"), Some("Skipped")]);
        assert_eq!(
            failed.succeeded().and_then(|c| c.message.as_deref()),
            Some("\"step-build\" exited with code 2: Error")
        );
        let timed_out = finish(json!({"phase": "Failed", "containerStatuses": [
            terminated("step-build", 1, Some(r#"[{"key":"Reason","value":"TimeoutExceeded","type":3}]"#)),
            terminated("step-push", 1, Some(r#"[{"key":"Reason","value":"Skipped","type":3}]"#))]}));
        assert_eq!(
            timed_out.succeeded().and_then(|c| c.message.as_deref()),
            Some("\"step-build\" exited because the step exceeded the specified timeout limit")
        );
        let reasons: Vec<Option<&str>> = timed_out
            .steps
            .iter()
            .map(|s| s.termination_reason.as_deref())
            .collect();
        assert_eq!(reasons, [Some("TimeoutExceeded"), Some("Skipped")]);
    }

    #[test]
    fn running_status_keeps_start_and_names_the_pod() {
        let (_, prepared) = setup();
        let pod = pod(
            json!({"phase": "Running", "containerStatuses": [running("step-build"), waiting("step-push", "ContainerCreating", "")]}),
        );
        let PodView::Running {
            reason,
            message,
            steps,
        } = observe(&pod, &prepared)
        else {
            panic!("running");
        };
        let status = running_status(
            None,
            "tr-pod",
            reason,
            &message,
            steps,
            Timestamp::from_second(5).expect("t"),
        );
        assert_eq!(status.pod_name, "tr-pod");
        assert!(status.start_time.is_some());
        assert!(status.steps.first().is_some_and(|s| s.running.is_some()));
        assert!(status.steps.get(1).is_some_and(|s| s.waiting.is_some()));
        assert_eq!(
            status.succeeded().and_then(|c| c.reason.as_deref()),
            Some("Running")
        );
    }
}
