//! ReplicaSet planning: keep `spec.replicas` active pods, following kube-controller-manager's
//! replica set controller (claiming, burst-limited creation, deletion ranking, status).

use std::cmp::Ordering;

use jiff::{SignedDuration, Timestamp};
use k8s_openapi::api::apps::v1::{ReplicaSet, ReplicaSetCondition, ReplicaSetStatus};
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use crate::util::{self, SpecError};

/// kube-controller-manager's `BurstReplicas`: at most this many creations or deletions per sync.
pub const BURST_REPLICAS: i32 = 500;

/// The annotation that makes a pod cheaper (lower) or dearer (higher) to delete.
pub const POD_DELETION_COST: &str = "controller.kubernetes.io/pod-deletion-cost";

/// A pod the plan acts on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodRef {
    /// Pod name.
    pub name: String,
    /// Pod uid (used as a precondition and to track the deletion).
    pub uid: String,
}

impl PodRef {
    /// The reference of a pod.
    pub fn of(pod: &Pod) -> Self {
        PodRef {
            name: pod.metadata.name.clone().unwrap_or_default(),
            uid: pod.metadata.uid.clone().unwrap_or_default(),
        }
    }
}

/// What the ReplicaSet controller should do next.
#[derive(Debug, Clone, PartialEq)]
pub struct ReplicaSetPlan {
    /// Orphan pods matching the selector to take ownership of.
    pub adopt: Vec<PodRef>,
    /// Owned pods that no longer match the selector, to release.
    pub release: Vec<PodRef>,
    /// How many pods to create from [`pod_for`].
    pub create: i32,
    /// Pods to delete, best candidates first.
    pub delete: Vec<PodRef>,
    /// The status to write.
    pub status: ReplicaSetStatus,
    /// Reconcile again after this long (a pod becomes available after minReadySeconds).
    pub requeue_after: Option<SignedDuration>,
}

/// Plans one sync of `rs` given every pod in its namespace (the planner claims the ones it owns
/// or may adopt).
pub fn plan(rs: &ReplicaSet, pods: &[Pod], now: Timestamp) -> Result<ReplicaSetPlan, SpecError> {
    let meta = &rs.metadata;
    let uid = meta.uid.as_deref().unwrap_or_default();
    let spec = rs.spec.as_ref();
    let desired = spec.and_then(|s| s.replicas).unwrap_or(1).max(0);
    let min_ready = spec.and_then(|s| s.min_ready_seconds).unwrap_or(0);
    let selector = spec.map(|s| s.selector.clone()).unwrap_or_default();
    let rs_deleting = meta.deletion_timestamp.is_some();

    let mut adopt = Vec::new();
    let mut release = Vec::new();
    let mut owned: Vec<&Pod> = Vec::new();
    for pod in pods {
        let labels = util::labels_of(&pod.metadata);
        // An empty selector would select everything: a ReplicaSet never claims with it.
        let selector_empty = selector.match_labels.as_ref().is_none_or(|m| m.is_empty())
            && selector.match_expressions.as_ref().is_none_or(|m| m.is_empty());
        let matches = !selector_empty && util::selector_matches(&selector, &labels, "ReplicaSet", meta)?;
        match util::controller_of(&pod.metadata) {
            Some(owner) if owner.uid == uid => {
                if matches {
                    owned.push(pod);
                } else if pod.metadata.deletion_timestamp.is_none() {
                    release.push(PodRef::of(pod));
                }
            }
            Some(_) => {}
            None => {
                if matches && !rs_deleting && pod.metadata.deletion_timestamp.is_none() {
                    adopt.push(PodRef::of(pod));
                    owned.push(pod);
                }
            }
        }
    }

    let active: Vec<&Pod> = owned.iter().copied().filter(|p| util::pod_active(p)).collect();
    let diff = i32::try_from(active.len()).unwrap_or(i32::MAX) - desired;
    let mut create = 0;
    let mut delete = Vec::new();
    if !rs_deleting {
        if diff < 0 {
            create = (-diff).min(BURST_REPLICAS);
        } else if diff > 0 {
            let count = usize::try_from(diff.min(BURST_REPLICAS)).unwrap_or_default();
            let mut ranked = active.clone();
            ranked.sort_by(|a, b| deletion_order(a, b, now));
            delete = ranked.into_iter().take(count).map(PodRef::of).collect();
        }
    }

    let status = status_for(rs, &active, min_ready, now);
    let requeue_after = active
        .iter()
        .filter(|p| util::pod_ready(p) && !util::pod_available(p, min_ready, now))
        .filter_map(|p| util::pod_available_at(p, min_ready))
        .min()
        .map(|at| now.duration_until(at).max(SignedDuration::from_millis(100)));

    Ok(ReplicaSetPlan {
        adopt,
        release,
        create,
        delete,
        status,
        requeue_after,
    })
}

/// Sets (`Some((reason, message))`) or clears (`None`) the `ReplicaFailure` condition, as
/// kube-controller-manager does after a failed or successful round of creations/deletions. The
/// transition time is kept while the condition stays set.
pub fn with_replica_failure(
    mut status: ReplicaSetStatus,
    failure: Option<(&str, String)>,
    now: Timestamp,
) -> ReplicaSetStatus {
    let mut conditions = status.conditions.take().unwrap_or_default();
    match failure {
        Some((reason, message)) => {
            let since = conditions
                .iter()
                .find(|c| c.type_ == "ReplicaFailure" && c.status == "True")
                .and_then(|c| c.last_transition_time.clone())
                .unwrap_or_else(|| util::time(now));
            conditions.retain(|c| c.type_ != "ReplicaFailure");
            conditions.push(ReplicaSetCondition {
                type_: "ReplicaFailure".into(),
                status: "True".into(),
                reason: Some(reason.to_string()),
                message: Some(message),
                last_transition_time: Some(since),
            });
        }
        None => conditions.retain(|c| c.type_ != "ReplicaFailure"),
    }
    status.conditions = (!conditions.is_empty()).then_some(conditions);
    status
}

/// The ReplicaSet status for its active pods (kube-controller-manager's `calculateStatus`).
fn status_for(rs: &ReplicaSet, active: &[&Pod], min_ready: i32, now: Timestamp) -> ReplicaSetStatus {
    let template_labels = rs
        .spec
        .as_ref()
        .and_then(|s| s.template.as_ref())
        .and_then(|t| t.metadata.as_ref())
        .and_then(|m| m.labels.clone())
        .unwrap_or_default();
    let count =
        |f: &dyn Fn(&Pod) -> bool| i32::try_from(active.iter().filter(|p| f(p)).count()).unwrap_or(i32::MAX);
    let fully_labeled = count(&|p: &Pod| {
        let labels = util::labels_of(&p.metadata);
        template_labels.iter().all(|(k, v)| labels.get(k) == Some(v))
    });
    let previous = rs.status.clone().unwrap_or_default();
    ReplicaSetStatus {
        replicas: count(&|_| true),
        fully_labeled_replicas: Some(fully_labeled),
        ready_replicas: Some(count(&util::pod_ready)),
        available_replicas: Some(count(&|p: &Pod| util::pod_available(p, min_ready, now))),
        observed_generation: rs.metadata.generation,
        conditions: previous.conditions,
        terminating_replicas: None,
    }
}

/// kube-controller-manager's deletion ranking (`ActivePods.Less`): the pod that sorts first is
/// deleted first.
pub(crate) fn deletion_order(a: &Pod, b: &Pod, now: Timestamp) -> Ordering {
    let assigned = |p: &Pod| {
        p.spec
            .as_ref()
            .and_then(|s| s.node_name.as_deref())
            .is_some_and(|n| !n.is_empty())
    };
    let phase_rank = |p: &Pod| match util::pod_phase(p) {
        "Pending" => 0,
        "Unknown" => 1,
        "Running" => 2,
        _ => 3,
    };
    let deletion_cost = |p: &Pod| {
        p.metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get(POD_DELETION_COST))
            .and_then(|v| v.parse::<i32>().ok())
            .unwrap_or(0)
    };
    assigned(a)
        .cmp(&assigned(b))
        .then_with(|| phase_rank(a).cmp(&phase_rank(b)))
        .then_with(|| util::pod_ready(a).cmp(&util::pod_ready(b)))
        .then_with(|| deletion_cost(a).cmp(&deletion_cost(b)))
        .then_with(|| {
            // Both ready: the one ready for less time goes first (later ready time first).
            if util::pod_ready(a) && util::pod_ready(b) {
                let since = |p: &Pod| util::pod_ready_since(p).unwrap_or(now);
                since(b).cmp(&since(a))
            } else {
                Ordering::Equal
            }
        })
        .then_with(|| util::pod_restarts(b).cmp(&util::pod_restarts(a)))
        .then_with(|| util::created_at(&b.metadata).cmp(&util::created_at(&a.metadata)))
}

/// The pod the ReplicaSet creates: its template with `generateName: <rs>-` and a controller
/// owner reference.
pub fn pod_for(rs: &ReplicaSet) -> Pod {
    let template = rs
        .spec
        .as_ref()
        .and_then(|s| s.template.clone())
        .unwrap_or_default();
    let template_meta = template.metadata.unwrap_or_default();
    let name = rs.metadata.name.clone().unwrap_or_default();
    Pod {
        metadata: ObjectMeta {
            generate_name: Some(format!("{name}-")),
            namespace: rs.metadata.namespace.clone(),
            labels: template_meta.labels,
            annotations: template_meta.annotations,
            finalizers: template_meta.finalizers,
            owner_references: Some(vec![util::controller_ref("apps/v1", "ReplicaSet", &rs.metadata)]),
            ..ObjectMeta::default()
        },
        spec: template.spec,
        status: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::*;
    use k8s_openapi::api::apps::v1::ReplicaSetSpec;
    use k8s_openapi::api::core::v1::PodTemplateSpec;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;

    fn rs(replicas: i32, min_ready: i32) -> ReplicaSet {
        ReplicaSet {
            metadata: ObjectMeta {
                name: Some("web-abc".into()),
                namespace: Some("default".into()),
                uid: Some("rs-uid".into()),
                generation: Some(3),
                ..ObjectMeta::default()
            },
            spec: Some(ReplicaSetSpec {
                replicas: Some(replicas),
                min_ready_seconds: Some(min_ready),
                selector: LabelSelector {
                    match_labels: Some([("app".into(), "web".into())].into()),
                    ..LabelSelector::default()
                },
                template: Some(PodTemplateSpec {
                    metadata: Some(ObjectMeta {
                        labels: Some([("app".into(), "web".into()), ("tier".into(), "fe".into())].into()),
                        ..ObjectMeta::default()
                    }),
                    spec: None,
                }),
            }),
            status: None,
        }
    }

    fn owned(name: &str, state: PodState) -> Pod {
        let mut pod = pod(name, state);
        pod.metadata.owner_references = Some(vec![util::controller_ref(
            "apps/v1",
            "ReplicaSet",
            &rs(1, 0).metadata,
        )]);
        pod
    }

    fn names(refs: &[PodRef]) -> Vec<&str> {
        refs.iter().map(|r| r.name.as_str()).collect()
    }

    #[test]
    fn creates_missing_pods_and_caps_at_burst() {
        let cases = [(3, 0, 3), (3, 2, 1), (3, 3, 0), (800, 0, BURST_REPLICAS)];
        for (replicas, existing, want) in cases {
            let pods: Vec<Pod> = (0..existing)
                .map(|i| owned(&format!("p{i}"), PodState::ready_at(0)))
                .collect();
            let plan = plan(&rs(replicas, 0), &pods, at(100)).unwrap();
            assert_eq!(plan.create, want, "replicas {replicas} existing {existing}");
            assert!(plan.delete.is_empty());
        }
    }

    #[test]
    fn terminating_and_finished_pods_do_not_count_as_active() {
        let mut deleting = owned("gone", PodState::ready_at(0));
        deleting.metadata.deletion_timestamp = Some(util::time(at(50)));
        let pods = vec![
            deleting,
            owned("done", PodState::phase("Succeeded")),
            owned("ok", PodState::ready_at(0)),
        ];
        let plan = plan(&rs(2, 0), &pods, at(100)).unwrap();
        assert_eq!(plan.create, 1);
        assert_eq!(plan.status.replicas, 1);
    }

    #[test]
    fn deletes_unscheduled_then_pending_then_not_ready_then_newest() {
        let unscheduled = owned("unscheduled", PodState::unscheduled());
        let pending = owned("pending", PodState::phase("Pending"));
        let not_ready = owned("not-ready", PodState::running_not_ready());
        let mut old_ready = owned("old-ready", PodState::ready_at(10));
        old_ready.metadata.creation_timestamp = Some(util::time(at(1)));
        let mut new_ready = owned("new-ready", PodState::ready_at(20));
        new_ready.metadata.creation_timestamp = Some(util::time(at(2)));
        let pods = vec![
            old_ready.clone(),
            new_ready.clone(),
            not_ready.clone(),
            pending.clone(),
            unscheduled.clone(),
        ];
        let cases = [
            (4, vec!["unscheduled"]),
            (3, vec!["unscheduled", "pending"]),
            (2, vec!["unscheduled", "pending", "not-ready"]),
            (1, vec!["unscheduled", "pending", "not-ready", "new-ready"]),
            (
                0,
                vec!["unscheduled", "pending", "not-ready", "new-ready", "old-ready"],
            ),
        ];
        for (replicas, want) in cases {
            let plan = plan(&rs(replicas, 0), &pods, at(100)).unwrap();
            assert_eq!(names(&plan.delete), want, "replicas {replicas}");
            assert_eq!(plan.create, 0);
        }
    }

    #[test]
    fn deletion_cost_and_restarts_break_ties_between_ready_pods() {
        let mut cheap = owned("cheap", PodState::ready_at(10));
        cheap.metadata.annotations = Some([(POD_DELETION_COST.into(), "-5".into())].into());
        let mut restarted = owned("restarted", PodState::ready_at(10));
        restarted.status.as_mut().unwrap().container_statuses =
            Some(vec![k8s_openapi::api::core::v1::ContainerStatus {
                restart_count: 4,
                ..Default::default()
            }]);
        let plain = owned("plain", PodState::ready_at(10));
        let pods = vec![plain, restarted, cheap];
        let plan = plan(&rs(1, 0), &pods, at(100)).unwrap();
        assert_eq!(names(&plan.delete), vec!["cheap", "restarted"]);
    }

    #[test]
    fn status_counts_ready_available_and_fully_labeled() {
        let mut partial = owned("partial", PodState::ready_at(95));
        partial.metadata.labels = Some([("app".into(), "web".into())].into());
        let pods = vec![
            owned("a", PodState::ready_at(10)),
            owned("b", PodState::running_not_ready()),
            partial,
        ];
        let plan = plan(&rs(3, 30), &pods, at(100)).unwrap();
        let status = &plan.status;
        assert_eq!(status.replicas, 3);
        assert_eq!(status.ready_replicas, Some(2));
        // "partial" became ready at 95 with minReadySeconds 30: not yet available.
        assert_eq!(status.available_replicas, Some(1));
        assert_eq!(status.fully_labeled_replicas, Some(2));
        assert_eq!(status.observed_generation, Some(3));
        // It becomes available at 125: requeue after 25s.
        assert_eq!(plan.requeue_after, Some(SignedDuration::from_secs(25)));
    }

    #[test]
    fn adopts_matching_orphans_and_releases_non_matching_owned_pods() {
        let orphan = pod("orphan", PodState::ready_at(0));
        let mut stray = owned("stray", PodState::ready_at(0));
        stray.metadata.labels = Some([("app".into(), "other".into())].into());
        let mut foreign = pod("foreign", PodState::ready_at(0));
        foreign.metadata.owner_references = Some(vec![util::controller_ref(
            "apps/v1",
            "ReplicaSet",
            &ObjectMeta {
                name: Some("x".into()),
                uid: Some("other-uid".into()),
                ..ObjectMeta::default()
            },
        )]);
        let plan = plan(&rs(2, 0), &[orphan, stray, foreign], at(100)).unwrap();
        assert_eq!(names(&plan.adopt), vec!["orphan"]);
        assert_eq!(names(&plan.release), vec!["stray"]);
        assert_eq!(plan.create, 1);
        assert_eq!(plan.status.replicas, 1);
    }

    #[test]
    fn replica_failure_condition_is_set_kept_and_cleared() {
        let failed = with_replica_failure(
            ReplicaSetStatus::default(),
            Some(("FailedCreate", "pods \"x\" is forbidden".into())),
            at(10),
        );
        let cond = &failed.conditions.as_ref().unwrap()[0];
        assert_eq!(
            (cond.type_.as_str(), cond.status.as_str(), cond.reason.as_deref()),
            ("ReplicaFailure", "True", Some("FailedCreate"))
        );
        let again = with_replica_failure(failed.clone(), Some(("FailedCreate", "later".into())), at(20));
        let cond = &again.conditions.as_ref().unwrap()[0];
        assert_eq!(cond.last_transition_time, Some(util::time(at(10))));
        assert_eq!(cond.message.as_deref(), Some("later"));
        assert_eq!(with_replica_failure(again, None, at(30)).conditions, None);
    }

    #[test]
    fn created_pod_has_generate_name_labels_and_controller_owner() {
        let pod = pod_for(&rs(1, 0));
        assert_eq!(pod.metadata.generate_name.as_deref(), Some("web-abc-"));
        assert_eq!(
            pod.metadata
                .labels
                .as_ref()
                .and_then(|l| l.get("tier"))
                .map(String::as_str),
            Some("fe")
        );
        let owner = &pod.metadata.owner_references.as_ref().unwrap()[0];
        assert_eq!(
            (owner.kind.as_str(), owner.uid.as_str()),
            ("ReplicaSet", "rs-uid")
        );
        assert_eq!(owner.controller, Some(true));
        assert_eq!(owner.block_owner_deletion, Some(true));
    }
}
