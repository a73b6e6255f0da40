//! Job planning, following kube-controller-manager 1.33's job controller for NonIndexed jobs:
//! completions, parallelism, backoffLimit (including container restarts under `OnFailure`),
//! activeDeadlineSeconds, suspend, and the interim `SuccessCriteriaMet` / `FailureTarget`
//! conditions that become `Complete` / `Failed` once no pod is still terminating.

use std::collections::BTreeMap;

use jiff::{SignedDuration, Timestamp};
use k8s_openapi::api::batch::v1::{Job, JobCondition, JobStatus, UncountedTerminatedPods};
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use crate::replicaset::{BURST_REPLICAS, PodRef, deletion_order};
use crate::util;

/// Labels the job controller puts on its pods (both the prefixed and the legacy spelling).
pub const JOB_NAME_LABEL: &str = "batch.kubernetes.io/job-name";
/// Legacy job-name label.
pub const LEGACY_JOB_NAME_LABEL: &str = "job-name";
/// Controller uid label.
pub const CONTROLLER_UID_LABEL: &str = "batch.kubernetes.io/controller-uid";
/// Legacy controller uid label.
pub const LEGACY_CONTROLLER_UID_LABEL: &str = "controller-uid";

const DEFAULT_BACKOFF_LIMIT: i32 = 6;
/// First delay before replacing a failed pod; doubles per failure up to [`MAX_POD_BACKOFF`].
const POD_BACKOFF_BASE: SignedDuration = SignedDuration::from_secs(10);
const MAX_POD_BACKOFF: SignedDuration = SignedDuration::from_secs(360);

/// Reasons and messages of the terminal conditions, as Kubernetes writes them.
pub const BACKOFF_LIMIT_EXCEEDED: (&str, &str) = (
    "BackoffLimitExceeded",
    "Job has reached the specified backoff limit",
);
/// Written when activeDeadlineSeconds passes.
pub const DEADLINE_EXCEEDED: (&str, &str) = (
    "DeadlineExceeded",
    "Job was active longer than specified deadline",
);
/// Written when enough pods succeeded.
pub const COMPLETIONS_REACHED: (&str, &str) =
    ("CompletionsReached", "Reached expected number of succeeded pods");

/// What the Job controller should do next.
#[derive(Debug, Clone, PartialEq)]
pub struct JobPlan {
    /// How many pods to create from [`pod_for`].
    pub create: i32,
    /// Pods to delete.
    pub delete: Vec<PodRef>,
    /// The status to write.
    pub status: JobStatus,
    /// Reconcile again after this long (pod backoff, active deadline).
    pub requeue_after: Option<SignedDuration>,
}

fn condition_true(conditions: &[JobCondition], type_: &str) -> Option<JobCondition> {
    conditions
        .iter()
        .find(|c| c.type_ == type_ && c.status == "True")
        .cloned()
}

fn set_condition(
    conditions: &mut Vec<JobCondition>,
    type_: &str,
    status: &str,
    (reason, message): (&str, &str),
    now: Timestamp,
) {
    if let Some(existing) = conditions.iter_mut().find(|c| c.type_ == type_) {
        if existing.status == status && existing.reason.as_deref() == Some(reason) {
            return;
        }
        if existing.status != status {
            existing.last_transition_time = Some(util::time(now));
        }
        existing.status = status.to_string();
        existing.reason = Some(reason.to_string());
        existing.message = Some(message.to_string());
        existing.last_probe_time = Some(util::time(now));
        return;
    }
    conditions.push(JobCondition {
        type_: type_.to_string(),
        status: status.to_string(),
        reason: Some(reason.to_string()),
        message: Some(message.to_string()),
        last_probe_time: Some(util::time(now)),
        last_transition_time: Some(util::time(now)),
    });
}

fn nonzero(n: i32) -> Option<i32> {
    (n != 0).then_some(n)
}

/// Plans one sync of `job` given every pod in its namespace (it uses the ones it controls).
pub fn plan(job: &Job, pods: &[Pod], now: Timestamp) -> JobPlan {
    let uid = job.metadata.uid.as_deref().unwrap_or_default();
    let spec = job.spec.clone().unwrap_or_default();
    let previous = job.status.clone().unwrap_or_default();
    let mut conditions = previous.conditions.clone().unwrap_or_default();

    let owned: Vec<&Pod> = pods
        .iter()
        .filter(|p| util::controlled_by(&p.metadata, uid))
        .collect();
    let count =
        |f: &dyn Fn(&Pod) -> bool| i32::try_from(owned.iter().filter(|p| f(p)).count()).unwrap_or(i32::MAX);
    let mut active: Vec<&Pod> = owned.iter().copied().filter(|p| util::pod_active(p)).collect();
    let mut terminating = count(&|p: &Pod| !util::pod_finished(p) && p.metadata.deletion_timestamp.is_some());
    let succeeded = count(&|p: &Pod| util::pod_phase(p) == "Succeeded").max(previous.succeeded.unwrap_or(0));
    let failed = count(&|p: &Pod| util::pod_phase(p) == "Failed").max(previous.failed.unwrap_or(0));

    let finished =
        condition_true(&conditions, "Complete").is_some() || condition_true(&conditions, "Failed").is_some();
    if finished {
        return JobPlan {
            create: 0,
            delete: Vec::new(),
            status: previous,
            requeue_after: None,
        };
    }

    let suspended = spec.suspend == Some(true);
    let mut start_time = previous.start_time.clone();
    let mut requeue_after = None;
    let mut create = 0;
    let mut delete = Vec::new();
    let mut completion_time = previous.completion_time.clone();

    let backoff_limit = spec.backoff_limit.unwrap_or(DEFAULT_BACKOFF_LIMIT).max(0);
    let parallelism = spec.parallelism.unwrap_or(1).max(0);

    // Decide whether the job has reached an end (the interim condition first).
    if condition_true(&conditions, "FailureTarget").is_none()
        && condition_true(&conditions, "SuccessCriteriaMet").is_none()
        && !suspended
    {
        let restart_policy = spec
            .template
            .spec
            .as_ref()
            .and_then(|s| s.restart_policy.as_deref())
            .unwrap_or("Never");
        let active_count = i32::try_from(active.len()).unwrap_or(i32::MAX);
        let past_deadline = match (spec.active_deadline_seconds, start_time.as_ref()) {
            (Some(seconds), Some(start)) => util::add_secs(start.0, seconds) <= now,
            _ => false,
        };
        let complete = match spec.completions {
            Some(completions) => succeeded >= completions,
            None => succeeded > 0 && active_count == 0,
        };
        if failed > backoff_limit || past_backoff_limit_on_failure(restart_policy, &active, backoff_limit) {
            set_condition(
                &mut conditions,
                "FailureTarget",
                "True",
                BACKOFF_LIMIT_EXCEEDED,
                now,
            );
        } else if past_deadline {
            set_condition(&mut conditions, "FailureTarget", "True", DEADLINE_EXCEEDED, now);
        } else if complete {
            set_condition(
                &mut conditions,
                "SuccessCriteriaMet",
                "True",
                COMPLETIONS_REACHED,
                now,
            );
        }
    }

    let failure_target = condition_true(&conditions, "FailureTarget");
    let success_met = condition_true(&conditions, "SuccessCriteriaMet");
    if failure_target.is_some() || success_met.is_some() {
        // Remove what is still running; the terminal condition waits until nothing terminates.
        terminating += i32::try_from(active.len()).unwrap_or(i32::MAX);
        delete = active.iter().map(|p| PodRef::of(p)).collect();
        active.clear();
        if terminating == 0 {
            if let Some(target) = failure_target {
                let reason = target.reason.clone().unwrap_or_default();
                let message = target.message.clone().unwrap_or_default();
                set_condition(&mut conditions, "Failed", "True", (&reason, &message), now);
            } else if let Some(met) = success_met {
                let reason = met.reason.clone().unwrap_or_default();
                let message = met.message.clone().unwrap_or_default();
                set_condition(&mut conditions, "Complete", "True", (&reason, &message), now);
                completion_time = Some(util::time(now));
            }
        }
    } else if suspended {
        delete = active.iter().map(|p| PodRef::of(p)).collect();
        terminating += i32::try_from(active.len()).unwrap_or(i32::MAX);
        active.clear();
        set_condition(
            &mut conditions,
            "Suspended",
            "True",
            ("JobSuspended", "Job suspended"),
            now,
        );
    } else {
        if condition_true(&conditions, "Suspended").is_some() {
            set_condition(
                &mut conditions,
                "Suspended",
                "False",
                ("JobResumed", "Job resumed"),
                now,
            );
            // A resumed job starts its clock (and its active deadline) again.
            start_time = None;
        }
        if start_time.is_none() {
            start_time = Some(util::time(now));
        }
        let active_count = i32::try_from(active.len()).unwrap_or(i32::MAX);
        let want = match spec.completions {
            Some(completions) => (completions - succeeded).min(parallelism).max(0),
            // Work-queue jobs: once one pod succeeded no new pods start.
            None if succeeded > 0 => active_count,
            None => parallelism,
        };
        if active_count > want {
            let mut ranked = active.clone();
            ranked.sort_by(|a, b| deletion_order(a, b, now));
            let excess = usize::try_from(active_count - want).unwrap_or(0);
            delete = ranked.into_iter().take(excess).map(PodRef::of).collect();
        } else if active_count < want {
            match backoff_remaining(&owned, failed, now) {
                Some(wait) => requeue_after = Some(wait),
                None => create = (want - active_count).min(BURST_REPLICAS),
            }
        }
        if let (Some(seconds), Some(start)) = (spec.active_deadline_seconds, start_time.as_ref()) {
            let due = util::add_secs(start.0, seconds);
            let wait = now.duration_until(due).max(SignedDuration::ZERO);
            requeue_after = Some(requeue_after.map_or(wait, |r: SignedDuration| r.min(wait)));
        }
    }

    let ready = i32::try_from(active.iter().filter(|p| util::pod_ready(p)).count()).unwrap_or(i32::MAX);
    let status = JobStatus {
        active: nonzero(i32::try_from(active.len()).unwrap_or(i32::MAX)),
        succeeded: nonzero(succeeded),
        failed: nonzero(failed),
        ready: Some(ready),
        terminating: Some(terminating),
        start_time,
        completion_time,
        conditions: (!conditions.is_empty()).then_some(conditions),
        uncounted_terminated_pods: Some(UncountedTerminatedPods::default()),
        completed_indexes: previous.completed_indexes,
        failed_indexes: previous.failed_indexes,
    };
    JobPlan {
        create,
        delete,
        status,
        requeue_after,
    }
}

/// `pastBackoffLimitOnFailure`: with `OnFailure` the kubelet restarts containers in place, so
/// restarts of running and pending pods count against the backoff limit.
fn past_backoff_limit_on_failure(restart_policy: &str, active: &[&Pod], backoff_limit: i32) -> bool {
    if restart_policy != "OnFailure" {
        return false;
    }
    let restarts: i32 = active
        .iter()
        .filter(|p| matches!(util::pod_phase(p), "Running" | "Pending"))
        .map(|p| util::pod_restarts(p))
        .fold(0, i32::saturating_add);
    if backoff_limit == 0 {
        restarts > 0
    } else {
        restarts >= backoff_limit
    }
}

/// The pod backoff after failures: 10s doubled per failure (max 6 min), measured from the
/// most recent pod failure. `None` when a replacement may start now.
fn backoff_remaining(owned: &[&Pod], failed: i32, now: Timestamp) -> Option<SignedDuration> {
    if failed <= 0 {
        return None;
    }
    let last_failure = owned
        .iter()
        .filter(|p| util::pod_phase(p) == "Failed")
        .filter_map(|p| failure_time(p))
        .max()?;
    let exponent = u32::try_from(failed - 1).unwrap_or(0).min(16);
    let delay = POD_BACKOFF_BASE
        .checked_mul(1_i32 << exponent)
        .unwrap_or(MAX_POD_BACKOFF)
        .min(MAX_POD_BACKOFF);
    let due = last_failure.checked_add(delay).unwrap_or(Timestamp::MAX);
    (due > now).then(|| now.duration_until(due))
}

/// When a failed pod finished: the latest container termination, else its last condition change.
fn failure_time(pod: &Pod) -> Option<Timestamp> {
    let status = pod.status.as_ref()?;
    let finished = status
        .container_statuses
        .iter()
        .flatten()
        .filter_map(|c| c.state.as_ref()?.terminated.as_ref()?.finished_at.as_ref())
        .map(|t| t.0)
        .max();
    finished.or_else(|| {
        status
            .conditions
            .iter()
            .flatten()
            .filter_map(|c| c.last_transition_time.as_ref())
            .map(|t| t.0)
            .max()
    })
}

/// The pod the Job creates: `generateName: <job>-`, the template's labels plus the job labels,
/// and a controller owner reference.
pub fn pod_for(job: &Job) -> Pod {
    let template = job.spec.as_ref().map(|s| s.template.clone()).unwrap_or_default();
    let template_meta = template.metadata.unwrap_or_default();
    let name = job.metadata.name.clone().unwrap_or_default();
    let uid = job.metadata.uid.clone().unwrap_or_default();
    let mut labels: BTreeMap<String, String> = template_meta.labels.unwrap_or_default();
    for (key, value) in [
        (CONTROLLER_UID_LABEL, &uid),
        (LEGACY_CONTROLLER_UID_LABEL, &uid),
        (JOB_NAME_LABEL, &name),
        (LEGACY_JOB_NAME_LABEL, &name),
    ] {
        labels.entry(key.to_string()).or_insert_with(|| value.clone());
    }
    Pod {
        metadata: ObjectMeta {
            generate_name: Some(format!("{name}-")),
            namespace: job.metadata.namespace.clone(),
            labels: Some(labels),
            annotations: template_meta.annotations,
            finalizers: template_meta.finalizers,
            owner_references: Some(vec![util::controller_ref("batch/v1", "Job", &job.metadata)]),
            ..ObjectMeta::default()
        },
        spec: template.spec,
        status: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{PodState, at, pod};
    use k8s_openapi::api::batch::v1::JobSpec;
    use k8s_openapi::api::core::v1::{
        ContainerState, ContainerStateTerminated, ContainerStatus, PodSpec, PodTemplateSpec,
    };

    fn job(completions: Option<i32>, parallelism: i32, backoff: i32, restart: &str) -> Job {
        Job {
            metadata: ObjectMeta {
                name: Some("migrate".into()),
                namespace: Some("default".into()),
                uid: Some("job-uid".into()),
                ..ObjectMeta::default()
            },
            spec: Some(JobSpec {
                completions,
                parallelism: Some(parallelism),
                backoff_limit: Some(backoff),
                template: PodTemplateSpec {
                    metadata: Some(ObjectMeta {
                        labels: Some([("app".into(), "migrate".into())].into()),
                        ..ObjectMeta::default()
                    }),
                    spec: Some(PodSpec {
                        restart_policy: Some(restart.into()),
                        ..PodSpec::default()
                    }),
                },
                ..JobSpec::default()
            }),
            status: None,
        }
    }

    fn owned(name: &str, state: PodState) -> Pod {
        let mut p = pod(name, state);
        p.metadata.owner_references = Some(vec![util::controller_ref(
            "batch/v1",
            "Job",
            &job(None, 1, 0, "Never").metadata,
        )]);
        p
    }

    fn failed_at(name: &str, secs: i64) -> Pod {
        let mut p = owned(name, PodState::phase("Failed"));
        p.status.as_mut().unwrap().container_statuses = Some(vec![ContainerStatus {
            state: Some(ContainerState {
                terminated: Some(ContainerStateTerminated {
                    exit_code: 1,
                    finished_at: Some(util::time(at(secs))),
                    ..ContainerStateTerminated::default()
                }),
                ..ContainerState::default()
            }),
            ..ContainerStatus::default()
        }]);
        p
    }

    fn cond<'a>(status: &'a JobStatus, type_: &str) -> Option<&'a JobCondition> {
        status.conditions.as_ref()?.iter().find(|c| c.type_ == type_)
    }

    #[test]
    fn creates_up_to_parallelism_and_remaining_completions() {
        // (completions, parallelism, succeeded pods, running pods, want created)
        let cases = [
            (Some(1), 1, 0, 0, 1),
            (Some(5), 2, 0, 0, 2),
            (Some(5), 2, 4, 0, 1),
            (Some(5), 3, 2, 1, 2),
            (None, 3, 0, 0, 3),
            (None, 3, 1, 1, 0),
        ];
        for (completions, parallelism, done, running, want) in cases {
            let mut pods: Vec<Pod> = (0..done)
                .map(|i| owned(&format!("done-{i}"), PodState::phase("Succeeded")))
                .collect();
            pods.extend((0..running).map(|i| owned(&format!("run-{i}"), PodState::ready_at(0))));
            let plan = plan(&job(completions, parallelism, 6, "Never"), &pods, at(10));
            assert_eq!(
                plan.create, want,
                "{completions:?} {parallelism} {done} {running}"
            );
            assert_eq!(plan.status.start_time, Some(util::time(at(10))));
            assert_eq!(plan.status.ready, Some(running));
        }
    }

    #[test]
    fn lowered_parallelism_deletes_not_ready_pods_first() {
        let pods = vec![
            owned("ready", PodState::ready_at(0)),
            owned("pending", PodState::phase("Pending")),
        ];
        let plan = plan(&job(Some(5), 1, 6, "Never"), &pods, at(10));
        assert_eq!(
            plan.delete.iter().map(|p| p.name.as_str()).collect::<Vec<_>>(),
            vec!["pending"]
        );
    }

    #[test]
    fn completion_writes_success_criteria_then_complete() {
        let pods = vec![
            owned("a", PodState::phase("Succeeded")),
            owned("b", PodState::phase("Succeeded")),
        ];
        let plan = plan(&job(Some(2), 2, 6, "Never"), &pods, at(20));
        let s = &plan.status;
        assert_eq!(
            (s.succeeded, s.active, s.failed, s.terminating),
            (Some(2), None, None, Some(0))
        );
        for type_ in ["SuccessCriteriaMet", "Complete"] {
            let c = cond(s, type_).unwrap();
            assert_eq!(
                (c.status.as_str(), c.reason.as_deref(), c.message.as_deref()),
                ("True", Some(COMPLETIONS_REACHED.0), Some(COMPLETIONS_REACHED.1)),
                "{type_}"
            );
        }
        assert_eq!(s.completion_time, Some(util::time(at(20))));
        assert_eq!(plan.create, 0);
    }

    #[test]
    fn work_queue_job_completes_when_one_succeeded_and_none_active() {
        let still_running = vec![
            owned("a", PodState::phase("Succeeded")),
            owned("b", PodState::ready_at(0)),
        ];
        let p = plan(&job(None, 2, 6, "Never"), &still_running, at(5));
        assert!(cond(&p.status, "Complete").is_none());
        assert_eq!(p.create, 0);
        let all_done = vec![
            owned("a", PodState::phase("Succeeded")),
            owned("b", PodState::phase("Succeeded")),
        ];
        let p = plan(&job(None, 2, 6, "Never"), &all_done, at(6));
        assert!(cond(&p.status, "Complete").is_some());
    }

    #[test]
    fn backoff_limit_exceeded_fails_after_active_pods_terminate() {
        let pods = vec![
            failed_at("f1", 1),
            failed_at("f2", 2),
            owned("run", PodState::ready_at(3)),
        ];
        let j = job(Some(3), 2, 1, "Never");
        let first = plan(&j, &pods, at(10));
        let target = cond(&first.status, "FailureTarget").unwrap();
        assert_eq!(
            (target.reason.as_deref(), target.message.as_deref()),
            (
                Some("BackoffLimitExceeded"),
                Some("Job has reached the specified backoff limit")
            )
        );
        // The running pod is deleted; Failed waits for it to terminate.
        assert_eq!(
            first.delete.iter().map(|p| p.name.as_str()).collect::<Vec<_>>(),
            vec!["run"]
        );
        assert!(cond(&first.status, "Failed").is_none());
        assert_eq!(first.status.terminating, Some(1));

        let mut after = j.clone();
        after.status = Some(first.status.clone());
        let second = plan(&after, &pods[..2], at(11));
        let failed = cond(&second.status, "Failed").unwrap();
        assert_eq!(
            (
                failed.status.as_str(),
                failed.reason.as_deref(),
                failed.message.as_deref()
            ),
            (
                "True",
                Some("BackoffLimitExceeded"),
                Some("Job has reached the specified backoff limit")
            )
        );
        assert_eq!(second.status.failed, Some(2));
        assert_eq!(second.status.completion_time, None);
        assert_eq!(second.create, 0);
    }

    #[test]
    fn on_failure_restarts_count_against_the_backoff_limit() {
        let mut restarting = owned("r", PodState::running_not_ready());
        restarting.status.as_mut().unwrap().container_statuses = Some(vec![ContainerStatus {
            restart_count: 2,
            ..ContainerStatus::default()
        }]);
        let cases = [
            ("OnFailure", 2, true),
            ("OnFailure", 3, false),
            ("Never", 2, false),
            ("OnFailure", 0, true),
        ];
        for (policy, limit, want) in cases {
            let plan = plan(
                &job(Some(1), 1, limit, policy),
                std::slice::from_ref(&restarting),
                at(5),
            );
            assert_eq!(
                cond(&plan.status, "FailureTarget").is_some(),
                want,
                "{policy} limit {limit}"
            );
        }
    }

    #[test]
    fn replacement_after_failure_waits_for_backoff() {
        // (failed pods, now, want create, want wait)
        let cases = [
            (vec![failed_at("f1", 100)], 105, 0, Some(5)),
            (vec![failed_at("f1", 100)], 110, 1, None),
            (vec![failed_at("f1", 90), failed_at("f2", 100)], 115, 0, Some(5)),
            (vec![failed_at("f1", 90), failed_at("f2", 100)], 120, 1, None),
        ];
        for (pods, now, want_create, want_wait) in cases {
            let plan = plan(&job(Some(1), 1, 6, "Never"), &pods, at(now));
            assert_eq!(plan.create, want_create, "at {now}");
            assert_eq!(
                plan.requeue_after,
                want_wait.map(SignedDuration::from_secs),
                "at {now}"
            );
        }
    }

    #[test]
    fn active_deadline_fails_the_job() {
        let mut j = job(Some(1), 1, 6, "Never");
        j.spec.as_mut().unwrap().active_deadline_seconds = Some(30);
        j.status = Some(JobStatus {
            start_time: Some(util::time(at(0))),
            ..JobStatus::default()
        });
        let pods = vec![owned("run", PodState::ready_at(1))];
        let early = plan(&j, &pods, at(10));
        assert!(cond(&early.status, "FailureTarget").is_none());
        assert_eq!(early.requeue_after, Some(SignedDuration::from_secs(20)));
        let late = plan(&j, &pods, at(31));
        let target = cond(&late.status, "FailureTarget").unwrap();
        assert_eq!(target.reason.as_deref(), Some(DEADLINE_EXCEEDED.0));
        assert_eq!(late.delete.len(), 1);
    }

    #[test]
    fn finished_job_is_left_alone() {
        let mut j = job(Some(1), 1, 6, "Never");
        j.status = Some(JobStatus {
            conditions: Some(vec![JobCondition {
                type_: "Complete".into(),
                status: "True".into(),
                ..JobCondition::default()
            }]),
            succeeded: Some(1),
            ..JobStatus::default()
        });
        let plan = plan(&j, &[], at(50));
        assert_eq!((plan.create, plan.delete.len()), (0, 0));
        assert_eq!(plan.status, j.status.clone().unwrap());
    }

    #[test]
    fn suspended_job_deletes_active_pods_and_resumes() {
        let mut j = job(Some(1), 1, 6, "Never");
        j.spec.as_mut().unwrap().suspend = Some(true);
        let pods = vec![owned("run", PodState::ready_at(1))];
        let suspended = plan(&j, &pods, at(5));
        assert_eq!(suspended.delete.len(), 1);
        assert_eq!(
            cond(&suspended.status, "Suspended").unwrap().reason.as_deref(),
            Some("JobSuspended")
        );
        j.spec.as_mut().unwrap().suspend = Some(false);
        j.status = Some(suspended.status);
        let resumed = plan(&j, &[], at(6));
        let c = cond(&resumed.status, "Suspended").unwrap();
        assert_eq!(
            (c.status.as_str(), c.reason.as_deref()),
            ("False", Some("JobResumed"))
        );
        assert_eq!(resumed.create, 1);
    }

    #[test]
    fn job_pods_carry_job_labels_and_owner() {
        let pod = pod_for(&job(Some(1), 1, 6, "Never"));
        assert_eq!(pod.metadata.generate_name.as_deref(), Some("migrate-"));
        let labels = pod.metadata.labels.unwrap();
        for (key, value) in [
            ("app", "migrate"),
            (JOB_NAME_LABEL, "migrate"),
            (LEGACY_JOB_NAME_LABEL, "migrate"),
            (CONTROLLER_UID_LABEL, "job-uid"),
            (LEGACY_CONTROLLER_UID_LABEL, "job-uid"),
        ] {
            assert_eq!(labels.get(key).map(String::as_str), Some(value), "{key}");
        }
        let owner = &pod.metadata.owner_references.unwrap()[0];
        assert_eq!(
            (owner.kind.as_str(), owner.controller, owner.block_owner_deletion),
            ("Job", Some(true), Some(true))
        );
    }
}
