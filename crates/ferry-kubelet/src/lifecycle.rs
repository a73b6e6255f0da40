//! The pod status state machine of a simulated kubelet.
//!
//! [`next_status`] is a pure function of the pod, the node's image cache, the timing configuration and the
//! current time. Every anchor it needs is kept in the pod's own status (`startTime`, a container's
//! `state.running.startedAt`, `lastState.terminated.finishedAt` of a restart), so a restarted kubelet
//! carries on where it left off. The runtime calls it whenever a pod changes or a wake-up falls due,
//! writes the status if it differs, and records pulled images in the node's cache.
//!
//! Timeline of a container (all delays are simulated seconds × [`SimConfig::speed`]):
//! 1. a new pod (first run): volumes are set up, then the pod sandbox (pause container, network, IP);
//!    an in-place restart (changed image): the old container is stopped gracefully first;
//! 2. waiting `ContainerCreating` while the image is pulled and the container is created. A node pulls
//!    an image once: a pod whose image is cached on its node skips the pull, and a pod whose image is
//!    being pulled on its node for another pod waits for that pull to finish instead of starting its own;
//! 3. running (`started: true`);
//! 4. ready once the readiness probe's `initialDelaySeconds` has passed (immediately without a probe).
//!
//! # The delay model ([`SimConfig::default`], what `--sim-speed 1` runs)
//!
//! | stage | seconds | paid by | where the value comes from |
//! |---|---|---|---|
//! | scheduling (`schedule_seconds`) | 0.1 | new pods | kube-scheduler binds a pod in milliseconds to ~100 ms on a small cluster (its `scheduling_attempt_duration_seconds` histogram); the informer round trips make up the rest |
//! | volume setup (`volume_seconds`) | 0.5 | new pods | the kubelet volume manager's 100 ms reconcile loops plus mounting the projected service-account token and ConfigMaps (kubelet `WaitForAttachAndMount`) |
//! | pod sandbox + IP (`sandbox_seconds`) | 1.0 | new pods | CRI `RunPodSandbox`: pause container plus CNI ADD (IP allocation), typically 0.5–2 s |
//! | image pull (`pull_seconds`) | 3.0 | once per node and image | a ~50–100 MB image from a nearby registry; concurrent pulls of one image on a node share one pull (containerd deduplicates them) |
//! | container create + start (`create_seconds`) | 0.5 | every (re)start | CRI `CreateContainer` + `StartContainer` |
//! | graceful stop (`stop_seconds`) | 1.0 | deleted pods, in-place restarts | an application that exits promptly on SIGTERM (well inside the 30 s grace period) |
//!
//! The sums stay within Kubernetes' pod-startup SLO (stateless pods, image pull excluded: p99 ≤ 5 s from
//! creation to running; here 0.1 + 0.5 + 1.0 + 0.5 = 2.1 s). What a real cluster saves with an in-place
//! update is exactly what this model charges only to new pods: no deletion of the old pod, no
//! scheduling, no sandbox/IP and no volume setup — the in-place restart stops and recreates one container
//! on the same node, where the new image is pulled once for all its pods (or is already cached).
//!
//! The pod is Ready when every container is ready **and** every `readinessGates` condition is True —
//! this is what lets Kruise's `InPlaceUpdateReady` gate hold a pod out of service during an in-place update.
//! A changed image in the spec restarts that container in place: `restartCount + 1`, a new `imageID`,
//! the old run in `lastState`, and no pull delay when the node already has the new image.
//!
//! Failure injection (documented in the README):
//! - an image whose registry host ends in `.invalid` (RFC 2606) never pulls: `ErrImagePull`, then
//!   `ImagePullBackOff`;
//! - annotation `sim.ferry.dev/fail: ErrImagePull | CrashLoopBackOff | NeverReady`;
//! - pods with restartPolicy `Never`/`OnFailure` run for `sim.ferry.dev/run-seconds` (default 1) and exit
//!   with `sim.ferry.dev/exit-code` (default 0).
//!
//! Run-to-completion pods with several containers (a Tekton TaskRun's Pod: one container per step)
//! terminate container by container, in spec order, each after its own run time, as Tekton's step
//! wrapper makes them; init containers complete before any container starts. Per-container outcomes:
//! - `sim.ferry.dev/exit-code.<container>`: that container's exit code (else `sim.ferry.dev/exit-code`);
//!   its terminated state has reason `Completed` (0) or `Error`, `startedAt` and `finishedAt`;
//! - `sim.ferry.dev/termination-message.<container>`: its `terminated.message` (what the container
//!   wrote to its `terminationMessagePath`, e.g. Tekton's results JSON);
//! - `sim.ferry.dev/run-seconds.<container>`: its own run time (else `sim.ferry.dev/run-seconds`);
//! - an init container with a non-zero `sim.ferry.dev/exit-code.<init container>` fails the pod:
//!   phase `Failed`, that init container terminated with `Error`, the containers waiting `PodInitializing`.

use std::collections::{BTreeMap, BTreeSet};

use jiff::{SignedDuration, Timestamp};
use serde_json::{Map, Value, json};

use crate::image;

pub const FAIL_ANNOTATION: &str = "sim.ferry.dev/fail";
pub const RUN_SECONDS_ANNOTATION: &str = "sim.ferry.dev/run-seconds";
pub const EXIT_CODE_ANNOTATION: &str = "sim.ferry.dev/exit-code";
/// Per-container forms: `<prefix>.<container name>`.
pub const TERMINATION_MESSAGE_ANNOTATION: &str = "sim.ferry.dev/termination-message";

/// A per-container annotation (`<key>.<container>`), else the pod-wide `<key>`.
fn container_annotation<'a>(pod: &'a Value, key: &str, container: &str) -> Option<&'a str> {
    annotation(pod, &format!("{key}.{container}")).or_else(|| annotation(pod, key))
}

/// How long a run-to-completion container runs.
fn run_seconds_of(pod: &Value, container: &str, cfg: &SimConfig) -> f64 {
    container_annotation(pod, RUN_SECONDS_ANNOTATION, container)
        .and_then(|s| s.parse::<f64>().ok())
        .unwrap_or(cfg.run_seconds)
}

/// The first init container told to fail (`sim.ferry.dev/exit-code.<name>` non-zero): index and code.
fn failed_init_container(pod: &Value) -> Option<(usize, i64)> {
    pod["spec"]["initContainers"]
        .as_array()?
        .iter()
        .enumerate()
        .find_map(|(index, c)| {
            let name = c["name"].as_str().unwrap_or_default();
            let code = annotation(pod, &format!("{EXIT_CODE_ANNOTATION}.{name}"))?
                .parse::<i64>()
                .ok()?;
            (code != 0).then_some((index, code))
        })
}

/// Simulated durations in seconds, scaled by `speed` (0 = instant, 1 = as written).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SimConfig {
    pub speed: f64,
    pub pull_seconds: f64,
    pub create_seconds: f64,
    pub stop_seconds: f64,
    /// From first sight of an unscheduled pod to its binding (applied by the runtime's scheduler).
    pub schedule_seconds: f64,
    /// Volume setup of a new pod, before its sandbox.
    pub volume_seconds: f64,
    /// Pod sandbox creation (pause container, CNI network, IP) of a new pod.
    pub sandbox_seconds: f64,
    pub run_seconds: f64,
    /// Time between two restarts of a crashing container.
    pub backoff_seconds: f64,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            speed: 1.0,
            pull_seconds: 3.0,
            create_seconds: 0.5,
            stop_seconds: 1.0,
            schedule_seconds: 0.1,
            volume_seconds: 0.5,
            sandbox_seconds: 1.0,
            run_seconds: 1.0,
            backoff_seconds: 5.0,
        }
    }
}

impl SimConfig {
    /// `seconds` of simulated time at this speed.
    pub fn scaled(&self, seconds: f64) -> SignedDuration {
        let secs = (seconds * self.speed).max(0.0);
        SignedDuration::try_from_secs_f64(secs).unwrap_or(SignedDuration::MAX)
    }
}

/// The node a pod runs on, as far as status goes.
#[derive(Debug, Clone, Copy)]
pub struct NodeView<'a> {
    pub host_ip: &'a str,
    pub pod_ip: &'a str,
    /// Normalised references of the images present on the node.
    pub images: &'a BTreeSet<String>,
    /// Images being pulled on the node (normalised reference → when the pull finishes).
    pub pulling: &'a BTreeMap<String, Timestamp>,
}

/// What the kubelet should do for a pod now.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    /// The status the pod should have now (write it if it differs from the stored one).
    pub status: Value,
    /// Images that finished pulling and now belong in the node's cache.
    pub pulled: Vec<String>,
    /// Pulls this pod started on its node (normalised reference, when it finishes): other pods needing
    /// the same image wait for it.
    pub pulls_started: Vec<(String, Timestamp)>,
    /// When to evaluate again (None: nothing will change with time alone).
    pub wake_at: Option<Timestamp>,
    /// The pod is terminating and its containers have stopped: delete it for good.
    pub finalize_deletion: bool,
}

fn ts(value: &Value) -> Option<Timestamp> {
    value.as_str().and_then(|s| s.parse().ok())
}

fn fmt(t: Timestamp) -> String {
    t.round(jiff::Unit::Second).unwrap_or(t).to_string()
}

fn earliest(a: Option<Timestamp>, b: Option<Timestamp>) -> Option<Timestamp> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

fn annotation<'a>(pod: &'a Value, key: &str) -> Option<&'a str> {
    pod["metadata"]["annotations"][key].as_str()
}

fn unpullable(reference: &str) -> bool {
    let normalized = image::normalize(reference);
    let host = normalized.split('/').next().unwrap_or_default();
    host.split(':').next().unwrap_or_default().ends_with(".invalid")
}

/// Per-container inputs the timeline needs.
struct ContainerPlan<'a> {
    name: &'a str,
    image: &'a str,
    readiness_delay: Option<f64>,
    /// Run-to-completion pods: run time of the containers before this one (they finish in order).
    run_before: f64,
}

/// Computes one container's status at `now`, given when its current run began (`anchor`).
struct ContainerState {
    status: Value,
    ready: bool,
    running: bool,
    /// The container has exited for good (run-to-completion pods).
    exited: Option<i64>,
    wake_at: Option<Timestamp>,
    pulled: Option<String>,
    pull_started: Option<(String, Timestamp)>,
}

/// The pod status at `now`.
pub fn next_status(pod: &Value, node: NodeView<'_>, cfg: &SimConfig, now: Timestamp) -> Outcome {
    let old = &pod["status"];
    let spec = &pod["spec"];
    let start = ts(&old["startTime"]).unwrap_or(now);
    let restart_policy = spec["restartPolicy"].as_str().unwrap_or("Always");
    let fail = annotation(pod, FAIL_ANNOTATION).unwrap_or_default();
    let mut wake_at = None;
    let mut pulled = Vec::new();
    let mut pulls_started = Vec::new();

    let finalize_deletion = match ts(&pod["metadata"]["deletionTimestamp"]) {
        Some(deadline) => {
            let grace = pod["metadata"]["deletionGracePeriodSeconds"]
                .as_f64()
                .unwrap_or(30.0);
            let requested = deadline - SignedDuration::try_from_secs_f64(grace).unwrap_or_default();
            let stopped = requested + cfg.scaled(cfg.stop_seconds.min(grace));
            let done_at = stopped.min(deadline);
            if now < done_at {
                wake_at = Some(done_at);
            }
            now >= done_at
        }
        None => false,
    };

    let old_statuses: Vec<&Value> = old["containerStatuses"]
        .as_array()
        .map(|a| a.iter().collect())
        .unwrap_or_default();
    let mut statuses = Vec::new();
    let mut all_ready = true;
    let mut all_running = true;
    let mut exits = Vec::new();
    let init_failed = failed_init_container(pod);
    let mut run_before = 0.0;
    for container in spec["containers"].as_array().into_iter().flatten() {
        let plan = ContainerPlan {
            name: container["name"].as_str().unwrap_or_default(),
            image: container["image"].as_str().unwrap_or_default(),
            readiness_delay: container
                .get("readinessProbe")
                .filter(|p| p.is_object())
                .map(|p| p["initialDelaySeconds"].as_f64().unwrap_or(0.0)),
            run_before,
        };
        if restart_policy != "Always" {
            run_before += run_seconds_of(pod, plan.name, cfg);
        }
        if init_failed.is_some() {
            all_ready = false;
            all_running = false;
            statuses.push(json!({
                "name": plan.name, "image": plan.image, "imageID": "", "ready": false, "started": false,
                "restartCount": 0, "state": {"waiting": {"reason": "PodInitializing"}}, "lastState": {}
            }));
            continue;
        }
        let previous = old_statuses.iter().find(|s| s["name"] == plan.name).copied();
        let state = container_state(&plan, previous, start, node, cfg, now, restart_policy, fail, pod);
        all_ready &= state.ready;
        all_running &= state.running;
        if let Some(code) = state.exited {
            exits.push(code);
        }
        wake_at = earliest(wake_at, state.wake_at);
        pulled.extend(state.pulled);
        pulls_started.extend(state.pull_started);
        statuses.push(state.status);
    }

    let containers_total = statuses.len();
    let phase = if init_failed.is_some() {
        "Failed"
    } else if containers_total > 0 && exits.len() == containers_total {
        if exits.iter().all(|c| *c == 0) {
            "Succeeded"
        } else {
            "Failed"
        }
    } else if all_running && containers_total > 0 || !exits.is_empty() {
        "Running"
    } else {
        "Pending"
    };
    let terminal = phase == "Succeeded" || phase == "Failed";
    let containers_ready =
        all_ready && containers_total > 0 && !terminal && pod["metadata"]["deletionTimestamp"].is_null();
    let gates_ready = spec["readinessGates"]
        .as_array()
        .into_iter()
        .flatten()
        .all(|gate| {
            let gate_type = gate["conditionType"].as_str().unwrap_or_default();
            old["conditions"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|c| c["type"] == gate_type && c["status"] == "True")
        });
    let pod_ready = containers_ready && gates_ready;

    let mut conditions = Vec::new();
    let mut set_condition = |kind: &str, status: bool, reason: Option<&str>| {
        let status = if status { "True" } else { "False" };
        let previous = old["conditions"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|c| c["type"] == kind);
        let since = match previous {
            Some(p) if p["status"] == status => p["lastTransitionTime"].clone(),
            _ => json!(fmt(now)),
        };
        let mut condition =
            json!({"type": kind, "status": status, "lastProbeTime": null, "lastTransitionTime": since});
        if let Some(reason) = reason.filter(|_| status == "False") {
            condition["reason"] = json!(reason);
        }
        conditions.push(condition);
    };
    set_condition("PodReadyToStartContainers", true, None);
    set_condition("Initialized", true, None);
    let not_ready_reason = if terminal {
        "PodCompleted"
    } else {
        "ContainersNotReady"
    };
    set_condition(
        "Ready",
        pod_ready,
        Some(if containers_ready {
            "ReadinessGatesNotReady"
        } else {
            not_ready_reason
        }),
    );
    set_condition("ContainersReady", containers_ready, Some(not_ready_reason));
    set_condition("PodScheduled", true, None);
    // Conditions the kubelet does not own (readiness gates, set by controllers) are kept as they are.
    let ours = [
        "PodReadyToStartContainers",
        "Initialized",
        "Ready",
        "ContainersReady",
        "PodScheduled",
    ];
    for c in old["conditions"].as_array().into_iter().flatten() {
        if !ours.contains(&c["type"].as_str().unwrap_or_default()) {
            conditions.push(c.clone());
        }
    }

    let mut status = Map::new();
    status.insert("phase".into(), json!(phase));
    status.insert("conditions".into(), Value::Array(conditions));
    status.insert("hostIP".into(), json!(node.host_ip));
    status.insert("hostIPs".into(), json!([{"ip": node.host_ip}]));
    status.insert("podIP".into(), json!(node.pod_ip));
    status.insert("podIPs".into(), json!([{"ip": node.pod_ip}]));
    status.insert("startTime".into(), json!(fmt(start)));
    if let Some(inits) = spec["initContainers"].as_array().filter(|a| !a.is_empty()) {
        let init_statuses: Vec<Value> = inits
            .iter()
            .enumerate()
            .map(|(index, c)| {
                let image = c["image"].as_str().unwrap_or_default();
                let state = match init_failed {
                    Some((failed, code)) if failed == index => json!({"terminated": {
                        "exitCode": code, "reason": "Error", "startedAt": fmt(start), "finishedAt": fmt(start)
                    }}),
                    Some((failed, _)) if index > failed => json!({"waiting": {"reason": "PodInitializing"}}),
                    _ => json!({"terminated": {
                        "exitCode": 0, "reason": "Completed", "startedAt": fmt(start), "finishedAt": fmt(start)
                    }}),
                };
                json!({
                    "name": c["name"], "image": image, "imageID": image::image_id(image), "ready": state["terminated"]["exitCode"] == 0,
                    "restartCount": 0, "started": false, "state": state
                })
            })
            .collect();
        status.insert("initContainerStatuses".into(), Value::Array(init_statuses));
    }
    status.insert("containerStatuses".into(), Value::Array(statuses));
    status.insert("qosClass".into(), json!(qos_class(spec)));
    Outcome {
        status: Value::Object(status),
        pulled,
        pulls_started,
        wake_at,
        finalize_deletion,
    }
}

#[allow(clippy::too_many_arguments)]
fn container_state(
    plan: &ContainerPlan<'_>,
    previous: Option<&Value>,
    pod_start: Timestamp,
    node: NodeView<'_>,
    cfg: &SimConfig,
    now: Timestamp,
    restart_policy: &str,
    fail: &str,
    pod: &Value,
) -> ContainerState {
    let normalized = image::normalize(plan.image);
    let pod_uid = pod["metadata"]["uid"].as_str().unwrap_or_default();
    let mut restart_count = previous.and_then(|p| p["restartCount"].as_i64()).unwrap_or(0);
    let mut last_state = previous
        .map(|p| p["lastState"].clone())
        .unwrap_or_else(|| json!({}));
    // A different image than the one reported means the spec changed in place: restart the container.
    let reported_image = previous.and_then(|p| p["image"].as_str()).map(image::normalize);
    let image_changed = reported_image.as_ref().is_some_and(|r| *r != normalized);
    let mut anchor = pod_start;
    if image_changed {
        restart_count += 1;
        let old_state = previous.map(|p| p["state"].clone()).unwrap_or_default();
        let started_at = old_state["running"]["startedAt"].clone();
        // The old container gets its graceful stop before the new one is pulled and created.
        let stopped = now + cfg.scaled(cfg.stop_seconds);
        last_state = json!({"terminated": {
            "exitCode": 0, "reason": "Completed", "startedAt": started_at, "finishedAt": fmt(stopped)
        }});
        anchor = stopped;
    } else if restart_count > 0 {
        anchor = ts(&last_state["terminated"]["finishedAt"]).unwrap_or(pod_start);
    }

    let mut out = ContainerState {
        status: Value::Null,
        ready: false,
        running: false,
        exited: None,
        wake_at: None,
        pulled: None,
        pull_started: None,
    };
    let base = |state: Value, image_id: &str, ready: bool, started: bool, restarts: i64, last: &Value| {
        json!({
            "name": plan.name,
            "image": plan.image,
            "imageID": image_id,
            "containerID": if image_id.is_empty() {
                Value::Null
            } else {
                json!(format!("containerd://{}", image::sha256_hex(&format!("{pod_uid}/{}/{restarts}", plan.name))))
            },
            "ready": ready,
            "started": started,
            "restartCount": restarts,
            "state": state,
            "lastState": last,
        })
    };

    // Pulling.
    let cached = node.images.contains(&normalized);
    if unpullable(plan.image) || fail == "ErrImagePull" {
        let pull_done = anchor + cfg.scaled(cfg.pull_seconds);
        let reason = if now < pull_done {
            "ErrImagePull"
        } else {
            "ImagePullBackOff"
        };
        let message = format!("failed to pull and unpack image \"{normalized}\": not found");
        if now < pull_done {
            out.wake_at = Some(pull_done);
        }
        out.status = base(
            json!({"waiting": {"reason": reason, "message": message}}),
            "",
            false,
            false,
            restart_count,
            &last_state,
        );
        return out;
    }
    // Only a new pod's first run sets up volumes and a sandbox; restarts reuse them.
    let pull_start = if restart_count == 0 {
        anchor + cfg.scaled(cfg.volume_seconds) + cfg.scaled(cfg.sandbox_seconds)
    } else {
        anchor
    };
    let image_ready = if cached {
        pull_start
    } else if let Some(done) = node.pulling.get(&normalized) {
        (*done).max(pull_start)
    } else {
        let done = pull_start + cfg.scaled(cfg.pull_seconds);
        out.pull_started = Some((normalized.clone(), done));
        done
    };
    let started_at = image_ready + cfg.scaled(cfg.create_seconds);
    if now < started_at {
        out.wake_at = Some(started_at);
        out.status = base(
            json!({"waiting": {"reason": "ContainerCreating"}}),
            "",
            false,
            false,
            restart_count,
            &last_state,
        );
        return out;
    }
    if !cached {
        out.pulled = Some(normalized.clone());
    }
    let image_id = image::image_id(plan.image);
    let running = json!({"running": {"startedAt": fmt(started_at)}});

    // Run-to-completion and crash loops.
    let crashing = fail == "CrashLoopBackOff";
    if restart_policy != "Always" || crashing {
        let run_seconds = run_seconds_of(pod, plan.name, cfg);
        let exit_code = if crashing {
            1
        } else {
            container_annotation(pod, EXIT_CODE_ANNOTATION, plan.name)
                .and_then(|s| s.parse::<i64>().ok())
                .unwrap_or(0)
        };
        let finished_at = started_at + cfg.scaled(plan.run_before + run_seconds);
        if now < finished_at {
            out.running = true;
            out.ready = !crashing && ready_after(plan, started_at, cfg, now, &mut out.wake_at, fail);
            out.status = base(running, &image_id, out.ready, true, restart_count, &last_state);
            return out;
        }
        let mut terminated = json!({"terminated": {
            "exitCode": exit_code,
            "reason": if exit_code == 0 { "Completed" } else { "Error" },
            "startedAt": fmt(started_at),
            "finishedAt": fmt(finished_at)
        }});
        if let Some(message) = annotation(pod, &format!("{TERMINATION_MESSAGE_ANNOTATION}.{}", plan.name)) {
            terminated["terminated"]["message"] = json!(message);
        }
        let restarts = restart_policy == "Always" || (restart_policy == "OnFailure" && exit_code != 0);
        if !restarts {
            out.exited = Some(exit_code);
            out.status = base(terminated, &image_id, false, false, restart_count, &last_state);
            return out;
        }
        // Crash loop: back off, then the next run starts with restartCount + 1.
        let next_run = finished_at + cfg.scaled(cfg.backoff_seconds);
        if now < next_run {
            out.wake_at = Some(next_run);
            let waiting = json!({"waiting": {"reason": "CrashLoopBackOff", "message": format!("back-off restarting failed container {} in pod", plan.name)}});
            out.status = base(waiting, &image_id, false, false, restart_count, &terminated);
            return out;
        }
        // Record the finished run; the caller re-evaluates and the anchor moves to its end.
        terminated["terminated"]["finishedAt"] = json!(fmt(next_run));
        out.wake_at = Some(now);
        out.status = base(
            json!({"waiting": {"reason": "ContainerCreating"}}),
            "",
            false,
            false,
            restart_count + 1,
            &terminated,
        );
        return out;
    }

    out.running = true;
    out.ready = ready_after(plan, started_at, cfg, now, &mut out.wake_at, fail);
    out.status = base(running, &image_id, out.ready, true, restart_count, &last_state);
    out
}

fn ready_after(
    plan: &ContainerPlan<'_>,
    started_at: Timestamp,
    cfg: &SimConfig,
    now: Timestamp,
    wake_at: &mut Option<Timestamp>,
    fail: &str,
) -> bool {
    if fail == "NeverReady" {
        return false;
    }
    match plan.readiness_delay {
        None => true,
        Some(delay) => {
            let ready_at = started_at + cfg.scaled(delay);
            if now < ready_at {
                *wake_at = earliest(*wake_at, Some(ready_at));
            }
            now >= ready_at
        }
    }
}

/// Guaranteed when every container sets equal requests and limits for cpu and memory, BestEffort when none
/// sets any, Burstable otherwise.
pub fn qos_class(spec: &Value) -> &'static str {
    let containers: Vec<&Value> = spec["containers"].as_array().into_iter().flatten().collect();
    let mut any = false;
    let mut guaranteed = !containers.is_empty();
    for c in &containers {
        let requests = &c["resources"]["requests"];
        let limits = &c["resources"]["limits"];
        for res in ["cpu", "memory"] {
            any |= !requests[res].is_null() || !limits[res].is_null();
            let request = if requests[res].is_null() {
                &limits[res]
            } else {
                &requests[res]
            };
            guaranteed &= !limits[res].is_null() && request == &limits[res];
        }
    }
    if !any {
        "BestEffort"
    } else if guaranteed {
        "Guaranteed"
    } else {
        "Burstable"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(secs: f64) -> Timestamp {
        Timestamp::from_second(1_700_000_000).unwrap() + SignedDuration::from_secs_f64(secs)
    }

    fn pod(spec: Value) -> Value {
        json!({"metadata": {"name": "p", "uid": "u1"}, "spec": spec, "status": {}})
    }

    fn web(image: &str) -> Value {
        pod(json!({"containers": [{"name": "web", "image": image}]}))
    }

    fn run(pod: &Value, images: &BTreeSet<String>, cfg: &SimConfig, now: Timestamp) -> Outcome {
        run_pulling(pod, images, &BTreeMap::new(), cfg, now)
    }

    fn run_pulling(
        pod: &Value,
        images: &BTreeSet<String>,
        pulling: &BTreeMap<String, Timestamp>,
        cfg: &SimConfig,
        now: Timestamp,
    ) -> Outcome {
        let node = NodeView {
            host_ip: "172.18.0.2",
            pod_ip: "10.244.0.5",
            images,
            pulling,
        };
        next_status(pod, node, cfg, now)
    }

    /// Evaluates at t(0) (which anchors startTime), stores the status, then evaluates at `at`.
    fn run_from_start(pod: &mut Value, images: &BTreeSet<String>, cfg: &SimConfig, at: f64) -> Outcome {
        pod["status"] = run(pod, images, cfg, t(0.0)).status;
        run(pod, images, cfg, t(at))
    }

    fn condition<'a>(status: &'a Value, kind: &str) -> &'a Value {
        status["conditions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["type"] == kind)
            .unwrap()
    }

    #[test]
    fn pull_then_run_then_ready() {
        let cfg = SimConfig::default();
        let empty = BTreeSet::new();
        let mut p = web("nginx:1.25");
        let first = run(&p, &empty, &cfg, t(0.0));
        assert_eq!(first.status["phase"], "Pending");
        assert_eq!(
            first.status["containerStatuses"][0]["state"]["waiting"]["reason"],
            "ContainerCreating"
        );
        // Volumes 0.5 + sandbox 1.0 + pull 3.0 + create 0.5.
        assert_eq!(first.wake_at, Some(t(5.0)));
        assert!(first.pulled.is_empty());
        assert_eq!(
            first.pulls_started,
            vec![("docker.io/library/nginx:1.25".to_string(), t(4.5))]
        );
        let later = run_from_start(&mut p, &empty, &cfg, 5.0);
        assert_eq!(later.status["phase"], "Running");
        assert_eq!(later.pulled, vec!["docker.io/library/nginx:1.25".to_string()]);
        let cs = &later.status["containerStatuses"][0];
        assert_eq!(cs["ready"], true);
        assert_eq!(cs["imageID"], image::image_id("nginx:1.25"));
        assert_eq!(condition(&later.status, "Ready")["status"], "True");
        assert_eq!(later.wake_at, None);
    }

    #[test]
    fn cached_image_skips_the_pull_and_speed_zero_is_instant() {
        let images: BTreeSet<String> = [image::normalize("nginx:1.25")].into();
        let out = run(&web("nginx:1.25"), &images, &SimConfig::default(), t(0.5));
        assert_eq!(
            out.status["containerStatuses"][0]["state"]["waiting"]["reason"],
            "ContainerCreating"
        );
        let mut p = web("nginx:1.25");
        // Volumes 0.5 + sandbox 1.0 + create 0.5, no pull.
        assert_eq!(
            run_from_start(&mut p, &images, &SimConfig::default(), 2.0).status["phase"],
            "Running"
        );
        let instant = SimConfig {
            speed: 0.0,
            ..SimConfig::default()
        };
        let out = run(&web("nginx:1.25"), &BTreeSet::new(), &instant, t(0.0));
        assert_eq!(condition(&out.status, "Ready")["status"], "True");
    }

    #[test]
    fn readiness_probe_delay_and_gates() {
        let cfg = SimConfig {
            speed: 1.0,
            pull_seconds: 0.0,
            create_seconds: 0.0,
            volume_seconds: 0.0,
            sandbox_seconds: 0.0,
            ..SimConfig::default()
        };
        let images = BTreeSet::new();
        let mut p = pod(json!({
            "containers": [{"name": "web", "image": "a:1", "readinessProbe": {"initialDelaySeconds": 10}}],
            "readinessGates": [{"conditionType": "InPlaceUpdateReady"}]
        }));
        let early = run_from_start(&mut p, &images, &cfg, 5.0);
        assert_eq!(early.status["phase"], "Running");
        assert_eq!(condition(&early.status, "ContainersReady")["status"], "False");
        assert_eq!(early.wake_at, Some(t(10.0)));
        let ready = run(&p, &images, &cfg, t(10.0));
        assert_eq!(condition(&ready.status, "ContainersReady")["status"], "True");
        // The gate is not True yet, so the pod is not Ready.
        assert_eq!(condition(&ready.status, "Ready")["status"], "False");
        assert_eq!(
            condition(&ready.status, "Ready")["reason"],
            "ReadinessGatesNotReady"
        );
        let mut with_gate = ready.status.clone();
        with_gate["conditions"]
            .as_array_mut()
            .unwrap()
            .push(json!({"type": "InPlaceUpdateReady", "status": "True"}));
        p["status"] = with_gate;
        let gated = run(&p, &images, &cfg, t(11.0));
        assert_eq!(condition(&gated.status, "Ready")["status"], "True");
        assert_eq!(
            condition(&gated.status, "InPlaceUpdateReady")["status"],
            "True",
            "foreign conditions kept"
        );
    }

    #[test]
    fn image_change_restarts_in_place() {
        let cfg = SimConfig::default();
        let images: BTreeSet<String> = [image::normalize("app:v1"), image::normalize("app:v2")].into();
        let mut p = web("app:v1");
        let running = run_from_start(&mut p, &images, &cfg, 1.0);
        assert_eq!(running.status["containerStatuses"][0]["restartCount"], 0);
        p["status"] = running.status;
        p["spec"]["containers"][0]["image"] = json!("app:v2");
        let restarting = run(&p, &images, &cfg, t(20.0));
        let cs = &restarting.status["containerStatuses"][0];
        assert_eq!(cs["restartCount"], 1);
        assert_eq!(cs["state"]["waiting"]["reason"], "ContainerCreating");
        assert_eq!(cs["lastState"]["terminated"]["reason"], "Completed");
        assert_eq!(
            cs["lastState"]["terminated"]["finishedAt"],
            fmt(t(21.0)),
            "graceful stop"
        );
        p["status"] = restarting.status;
        assert_eq!(
            run(&p, &images, &cfg, t(21.4)).status["containerStatuses"][0]["ready"],
            false
        );
        // Cached image: the stop (1 s) and the create delay (0.5 s), no volumes or sandbox.
        let restarted = run(&p, &images, &cfg, t(21.5));
        let cs = &restarted.status["containerStatuses"][0];
        assert_eq!(
            (cs["restartCount"].as_i64(), cs["ready"].as_bool()),
            (Some(1), Some(true))
        );
        assert_eq!(cs["imageID"], image::image_id("app:v2"));
        assert_eq!(cs["image"], "app:v2");
    }

    #[test]
    fn pods_on_one_node_share_a_pull_in_progress() {
        let cfg = SimConfig::default();
        let empty = BTreeSet::new();
        let image = "docker.io/library/nginx:1.25".to_string();
        // Another pod's pull of the same image finishes at 2.5: this pod (pull would start at 1.5)
        // waits for it, then creates its container.
        let pulling: BTreeMap<String, Timestamp> = [(image.clone(), t(2.5))].into();
        let shared = run_pulling(&web("nginx:1.25"), &empty, &pulling, &cfg, t(0.0));
        assert_eq!(shared.wake_at, Some(t(3.0)));
        assert!(shared.pulls_started.is_empty());
        // A pull that finished before this pod needs the image costs nothing more.
        let done: BTreeMap<String, Timestamp> = [(image.clone(), t(-10.0))].into();
        let late = run_pulling(&web("nginx:1.25"), &empty, &done, &cfg, t(0.0));
        assert_eq!(late.wake_at, Some(t(2.0)));
        // An in-place image change pulls on the node after the graceful stop, with no sandbox.
        let v1: BTreeSet<String> = [image::normalize("app:v1")].into();
        let mut p = web("app:v1");
        p["status"] = run_from_start(&mut p, &v1, &cfg, 5.0).status;
        p["spec"]["containers"][0]["image"] = json!("app:v2");
        let restart = run(&p, &v1, &cfg, t(10.0));
        assert_eq!(restart.pulls_started, vec![(image::normalize("app:v2"), t(14.0))]);
        assert_eq!(restart.wake_at, Some(t(14.5)));
    }

    #[test]
    fn failure_injection() {
        let cfg = SimConfig::default();
        let empty = BTreeSet::new();
        let mut bad = web("registry.invalid/app:1");
        let first = run_from_start(&mut bad, &empty, &cfg, 1.0);
        assert_eq!(
            first.status["containerStatuses"][0]["state"]["waiting"]["reason"],
            "ErrImagePull"
        );
        assert_eq!(
            run(&bad, &empty, &cfg, t(10.0)).status["containerStatuses"][0]["state"]["waiting"]["reason"],
            "ImagePullBackOff"
        );

        let mut never = web("a:1");
        never["metadata"]["annotations"] = json!({FAIL_ANNOTATION: "NeverReady"});
        let out = run_from_start(&mut never, &empty, &cfg, 60.0);
        assert_eq!(out.status["phase"], "Running");
        assert_eq!(condition(&out.status, "Ready")["status"], "False");

        let mut crash = web("a:1");
        crash["metadata"]["annotations"] = json!({FAIL_ANNOTATION: "CrashLoopBackOff"});
        // Started at 5.0, exits after 1 s, backs off 5 s.
        let out = run_from_start(&mut crash, &empty, &cfg, 7.0);
        let cs = &out.status["containerStatuses"][0];
        assert_eq!(cs["state"]["waiting"]["reason"], "CrashLoopBackOff");
        assert_eq!(cs["lastState"]["terminated"]["exitCode"], 1);
    }

    #[test]
    fn run_to_completion() {
        let cfg = SimConfig {
            speed: 0.0,
            ..SimConfig::default()
        };
        let empty = BTreeSet::new();
        for (exit, phase) in [("0", "Succeeded"), ("3", "Failed")] {
            let mut job =
                pod(json!({"restartPolicy": "Never", "containers": [{"name": "c", "image": "busybox"}]}));
            job["metadata"]["annotations"] = json!({EXIT_CODE_ANNOTATION: exit});
            let out = run(&job, &empty, &cfg, t(0.0));
            assert_eq!(out.status["phase"], phase, "exit {exit}");
            assert_eq!(
                out.status["containerStatuses"][0]["state"]["terminated"]["exitCode"],
                exit.parse::<i64>().unwrap()
            );
            assert_eq!(condition(&out.status, "Ready")["reason"], "PodCompleted");
        }
    }

    #[test]
    fn deletion_finishes_after_stop_delay_or_grace() {
        let cfg = SimConfig::default();
        let empty = BTreeSet::new();
        let mut p = web("a:1");
        p["metadata"]["deletionTimestamp"] = json!(fmt(t(30.0)));
        p["metadata"]["deletionGracePeriodSeconds"] = json!(30);
        let during = run(&p, &empty, &cfg, t(0.5));
        assert!(!during.finalize_deletion);
        assert_eq!(during.wake_at, Some(t(1.0)));
        assert!(run(&p, &empty, &cfg, t(1.0)).finalize_deletion);
        p["metadata"]["deletionGracePeriodSeconds"] = json!(0);
        p["metadata"]["deletionTimestamp"] = json!(fmt(t(0.0)));
        assert!(run(&p, &empty, &cfg, t(0.0)).finalize_deletion);
    }

    #[test]
    fn qos_classes() {
        let cases = [
            (json!({"containers": [{}]}), "BestEffort"),
            (
                json!({"containers": [{"resources": {"limits": {"cpu": "1", "memory": "1Gi"}}}]}),
                "Guaranteed",
            ),
            (
                json!({"containers": [{"resources": {"requests": {"cpu": "1"}}}]}),
                "Burstable",
            ),
        ];
        for (spec, want) in cases {
            assert_eq!(qos_class(&spec), want, "{spec}");
        }
    }

    /// A Tekton-style pod: init containers, then steps that finish one after another with
    /// their own exit codes and termination messages.
    #[test]
    fn run_to_completion_containers_finish_in_order_with_their_own_outcomes() {
        let cfg = SimConfig {
            speed: 1.0,
            pull_seconds: 0.0,
            create_seconds: 0.0,
            volume_seconds: 0.0,
            sandbox_seconds: 0.0,
            run_seconds: 1.0,
            ..SimConfig::default()
        };
        let images = BTreeSet::new();
        let tekton_pod = |annotations: Value| {
            let mut p = pod(json!({
                "restartPolicy": "Never",
                "initContainers": [{"name": "prepare", "image": "ferry"}, {"name": "place-scripts", "image": "ferry"}],
                "containers": [{"name": "step-a", "image": "alpine"}, {"name": "step-b", "image": "alpine"}]
            }));
            p["metadata"]["annotations"] = annotations;
            p
        };
        let state = |outcome: &Outcome, i: usize| outcome.status["containerStatuses"][i]["state"].clone();

        let mut p = tekton_pod(json!({
            "sim.ferry.dev/exit-code.step-b": "3",
            "sim.ferry.dev/termination-message.step-a": "[{\"key\":\"digest\",\"value\":\"sha\",\"type\":1}]"
        }));
        // (seconds after start, phase, step-a terminated?, step-b terminated?)
        let cases = [
            (0.5, "Running", false, false),
            (1.5, "Running", true, false),
            (2.5, "Failed", true, true),
        ];
        for (at, phase, a_done, b_done) in cases {
            let outcome = run_from_start(&mut p, &images, &cfg, at);
            assert_eq!(outcome.status["phase"], phase, "at {at}");
            assert_eq!(
                state(&outcome, 0)["terminated"].is_object(),
                a_done,
                "step-a at {at}"
            );
            assert_eq!(
                state(&outcome, 1)["terminated"].is_object(),
                b_done,
                "step-b at {at}"
            );
            let inits = &outcome.status["initContainerStatuses"];
            assert_eq!(inits[0]["state"]["terminated"]["reason"], "Completed");
            assert_eq!(inits[1]["state"]["terminated"]["reason"], "Completed");
        }
        let done = run_from_start(&mut p, &images, &cfg, 2.5);
        let a = &state(&done, 0)["terminated"];
        assert_eq!(
            (a["exitCode"].clone(), a["reason"].clone()),
            (json!(0), json!("Completed"))
        );
        assert_eq!(
            a["message"],
            "[{\"key\":\"digest\",\"value\":\"sha\",\"type\":1}]"
        );
        assert_eq!(
            (a["startedAt"].clone(), a["finishedAt"].clone()),
            (json!(fmt(t(0.0))), json!(fmt(t(1.0))))
        );
        let b = &state(&done, 1)["terminated"];
        assert_eq!(
            (b["exitCode"].clone(), b["reason"].clone()),
            (json!(3), json!("Error"))
        );
        assert_eq!(b["finishedAt"], fmt(t(2.0)));
        assert!(b.get("message").is_none());

        // A failing init container fails the pod before any step runs.
        let mut p = tekton_pod(json!({"sim.ferry.dev/exit-code.prepare": "1"}));
        let failed = run_from_start(&mut p, &images, &cfg, 5.0);
        assert_eq!(failed.status["phase"], "Failed");
        let inits = &failed.status["initContainerStatuses"];
        assert_eq!(inits[0]["state"]["terminated"]["exitCode"], 1);
        assert_eq!(inits[0]["state"]["terminated"]["reason"], "Error");
        assert_eq!(inits[1]["state"]["waiting"]["reason"], "PodInitializing");
        assert_eq!(state(&failed, 0)["waiting"]["reason"], "PodInitializing");
        assert_eq!(state(&failed, 1)["waiting"]["reason"], "PodInitializing");
    }
}
