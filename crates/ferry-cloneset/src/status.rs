//! CloneSet status arithmetic (reference §1.2) and the "does it need writing" rule.

use ferry_types::kruise::{CloneSet, CloneSetCondition, CloneSetStatus};
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;

use crate::intstr;
use crate::podutil;
use crate::selector;

/// Computes the status from the CloneSet's **active** pods and the resolved revisions.
pub fn calculate(
    cloneset: &CloneSet,
    active_pods: &[Pod],
    update_revision: &str,
    current_revision: &str,
    collision_count: i32,
    now: Timestamp,
) -> CloneSetStatus {
    let old = cloneset.status.clone().unwrap_or_default();
    let replicas = cloneset.spec.replicas.unwrap_or(1);
    let min_ready = cloneset.spec.min_ready_seconds;
    let mut status = CloneSetStatus {
        observed_generation: cloneset.metadata.generation.unwrap_or(0),
        update_revision: update_revision.to_string(),
        current_revision: current_revision.to_string(),
        collision_count: Some(collision_count),
        conditions: old.conditions,
        label_selector: cloneset
            .spec
            .selector
            .as_ref()
            .map(selector::to_string)
            .unwrap_or_default(),
        ..Default::default()
    };
    for pod in active_pods {
        let updated = podutil::is_at_revision(pod, update_revision);
        let ready = podutil::is_update_ready(pod, 0, now);
        let available = podutil::is_available(pod, min_ready, now);
        status.replicas += 1;
        status.ready_replicas += i32::from(ready);
        status.available_replicas += i32::from(available);
        status.updated_replicas += i32::from(updated);
        status.updated_ready_replicas += i32::from(updated && ready);
        status.updated_available_replicas += i32::from(updated && available);
    }
    // All pods at the update revision and the count right: the rollout is done, readiness not needed.
    if status.updated_replicas == status.replicas && status.replicas == replicas {
        status.current_revision = status.update_revision.clone();
    }
    if let Ok(partition) =
        intstr::partition_replicas(cloneset.spec.update_strategy.partition.as_ref(), replicas)
    {
        status.expected_updated_replicas = replicas - partition;
    }
    status
}

/// Upstream `inconsistentStatus`: write only when the generation grew or a counter, a revision or the
/// selector changed. Conditions alone do not trigger a write.
pub fn needs_write(old: &CloneSetStatus, new: &CloneSetStatus) -> bool {
    new.observed_generation > old.observed_generation
        || new.replicas != old.replicas
        || new.ready_replicas != old.ready_replicas
        || new.available_replicas != old.available_replicas
        || new.updated_ready_replicas != old.updated_ready_replicas
        || new.updated_replicas != old.updated_replicas
        || new.updated_available_replicas != old.updated_available_replicas
        || new.expected_updated_replicas != old.expected_updated_replicas
        || new.update_revision != old.update_revision
        || new.current_revision != old.current_revision
        || new.label_selector != old.label_selector
}

/// Sets (adds or replaces) a condition of type `type_` with status True and `message`; FailedScale and
/// FailedUpdate are never cleared, as upstream.
pub fn set_failure_condition(status: &mut CloneSetStatus, type_: &str, message: &str, now: Timestamp) {
    let condition = CloneSetCondition {
        type_: type_.to_string(),
        status: "True".to_string(),
        last_transition_time: Some(Time(now)),
        reason: String::new(),
        message: message.to_string(),
    };
    match status.conditions.iter_mut().find(|c| c.type_ == type_) {
        Some(existing) if existing.status == condition.status && existing.message == condition.message => {}
        Some(existing) => *existing = condition,
        None => status.conditions.push(condition),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::labels::{INPLACE_UPDATE_READY, state};
    use crate::podutil::testpods::{PodBuilder, now};
    use crate::testcs::seed_cloneset;

    #[test]
    fn seed_status_table() {
        let cloneset = seed_cloneset();
        // (label, pods, update rev, current rev, expected (replicas, ready, available, updated, updatedReady, updatedAvailable, expected), current)
        type Row = (
            &'static str,
            Vec<Pod>,
            &'static str,
            &'static str,
            [i32; 7],
            &'static str,
        );
        let rows: Vec<Row> = vec![
            (
                "two fresh pods, PreparingNormal, not ready",
                vec![
                    PodBuilder::ready("a", "cs-1")
                        .lifecycle(state::PREPARING_NORMAL)
                        .phase("Pending")
                        .not_ready()
                        .build(),
                    PodBuilder::ready("b", "cs-1")
                        .lifecycle(state::PREPARING_NORMAL)
                        .phase("Pending")
                        .not_ready()
                        .build(),
                ],
                "cs-1",
                "cs-1",
                [2, 0, 0, 2, 0, 0, 1],
                "cs-1",
            ),
            (
                "two ready pods",
                vec![
                    PodBuilder::ready("a", "cs-1").build(),
                    PodBuilder::ready("b", "cs-1").build(),
                ],
                "cs-1",
                "cs-1",
                [2, 2, 2, 2, 2, 2, 1],
                "cs-1",
            ),
            (
                "image changed, one pod updated in place and ready",
                vec![
                    PodBuilder::ready("a", "cs-2").build(),
                    PodBuilder::ready("b", "cs-1").build(),
                ],
                "cs-2",
                "cs-1",
                [2, 2, 2, 1, 1, 1, 1],
                "cs-1",
            ),
            (
                "in-place update in progress",
                vec![
                    PodBuilder::ready("a", "cs-2")
                        .condition(INPLACE_UPDATE_READY, "False")
                        .lifecycle(state::UPDATING)
                        .build(),
                    PodBuilder::ready("b", "cs-1").build(),
                ],
                "cs-2",
                "cs-1",
                [2, 1, 1, 1, 0, 0, 1],
                "cs-1",
            ),
            (
                "all updated (not ready): current moves to update",
                vec![
                    PodBuilder::ready("a", "cs-2").not_ready().build(),
                    PodBuilder::ready("b", "cs-2").build(),
                ],
                "cs-2",
                "cs-1",
                [2, 1, 1, 2, 1, 1, 1],
                "cs-2",
            ),
            (
                "all updated but one pod missing: current stays",
                vec![PodBuilder::ready("a", "cs-2").build()],
                "cs-2",
                "cs-1",
                [1, 1, 1, 1, 1, 1, 1],
                "cs-1",
            ),
        ];
        for (label, pods, update, current, expected, expected_current) in rows {
            let status = calculate(&cloneset, &pods, update, current, 0, now());
            let got = [
                status.replicas,
                status.ready_replicas,
                status.available_replicas,
                status.updated_replicas,
                status.updated_ready_replicas,
                status.updated_available_replicas,
                status.expected_updated_replicas,
            ];
            assert_eq!(got, expected, "{label}");
            assert_eq!(status.current_revision, expected_current, "{label}");
            assert_eq!(status.label_selector, "app=helloworld-server");
            assert_eq!(status.observed_generation, 1);
        }
    }

    #[test]
    fn min_ready_seconds_delays_availability() {
        let mut cloneset = seed_cloneset();
        cloneset.spec.min_ready_seconds = 30;
        let pods = [
            PodBuilder::ready("a", "cs-1").ready_for(10).build(),
            PodBuilder::ready("b", "cs-1").ready_for(60).build(),
        ];
        let status = calculate(&cloneset, &pods, "cs-1", "cs-1", 0, now());
        assert_eq!((status.ready_replicas, status.available_replicas), (2, 1));
    }

    #[test]
    fn write_rule() {
        let base = CloneSetStatus {
            replicas: 2,
            observed_generation: 3,
            ..Default::default()
        };
        assert!(!needs_write(&base, &base.clone()));
        let mut only_condition = base.clone();
        set_failure_condition(&mut only_condition, "FailedUpdate", "boom", now());
        assert!(!needs_write(&base, &only_condition));
        assert!(needs_write(
            &base,
            &CloneSetStatus {
                observed_generation: 4,
                ..base.clone()
            }
        ));
        assert!(needs_write(
            &base,
            &CloneSetStatus {
                updated_available_replicas: 1,
                ..base.clone()
            }
        ));
        assert!(needs_write(
            &base,
            &CloneSetStatus {
                label_selector: "a=b".into(),
                ..base.clone()
            }
        ));
    }
}
