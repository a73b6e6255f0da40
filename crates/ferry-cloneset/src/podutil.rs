//! Pod predicates the CloneSet arithmetic is built on (readiness, availability, revision, lifecycle).

use ferry_types::kruise::{CloneSet, LifecycleHook};
use k8s_openapi::api::core::v1::{Pod, PodCondition};
use k8s_openapi::jiff::{SignedDuration, Timestamp};

use crate::labels::{
    INPLACE_UPDATE_READY, LIFECYCLE_STATE_LABEL, REVISION_HASH_LABEL, SPECIFIED_DELETE_LABEL, state,
};

/// The pod's name (empty when missing).
pub fn name(pod: &Pod) -> &str {
    pod.metadata.name.as_deref().unwrap_or_default()
}

/// A label value of the pod.
pub fn label<'a>(pod: &'a Pod, key: &str) -> Option<&'a str> {
    pod.metadata.labels.as_ref()?.get(key).map(String::as_str)
}

/// An annotation value of the pod.
pub fn annotation<'a>(pod: &'a Pod, key: &str) -> Option<&'a str> {
    pod.metadata.annotations.as_ref()?.get(key).map(String::as_str)
}

/// The pod's phase ("" when unknown).
pub fn phase(pod: &Pod) -> &str {
    pod.status
        .as_ref()
        .and_then(|s| s.phase.as_deref())
        .unwrap_or_default()
}

/// A pod condition by type.
pub fn condition<'a>(pod: &'a Pod, type_: &str) -> Option<&'a PodCondition> {
    pod.status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == type_)
}

/// Active = not Succeeded/Failed and not being deleted (counted in `status.replicas`).
pub fn is_active(pod: &Pod) -> bool {
    let phase = phase(pod);
    phase != "Succeeded" && phase != "Failed" && pod.metadata.deletion_timestamp.is_none()
}

/// `PodReady` condition is True.
pub fn is_pod_ready(pod: &Pod) -> bool {
    condition(pod, "Ready").is_some_and(|c| c.status == "True")
}

/// Kubernetes `IsPodAvailable`: Ready, and Ready for longer than `min_ready_seconds` (strictly).
pub fn is_ready_for(pod: &Pod, min_ready_seconds: i32, now: Timestamp) -> bool {
    let Some(ready) = condition(pod, "Ready").filter(|c| c.status == "True") else {
        return false;
    };
    if min_ready_seconds <= 0 {
        return true;
    }
    match &ready.last_transition_time {
        Some(time) => time.0 + SignedDuration::from_secs(i64::from(min_ready_seconds)) < now,
        None => false,
    }
}

/// Kruise `IsPodUpdateReady`: Running, ready (for `min_ready_seconds`), and the InPlaceUpdateReady
/// condition, if present, is True. Lifecycle state is not checked (that is [`is_available`]).
pub fn is_update_ready(pod: &Pod, min_ready_seconds: i32, now: Timestamp) -> bool {
    if phase(pod) != "Running" || !is_ready_for(pod, min_ready_seconds, now) {
        return false;
    }
    condition(pod, INPLACE_UPDATE_READY).is_none_or(|c| c.status == "True")
}

/// Lifecycle state label ("" when absent).
pub fn lifecycle_state(pod: &Pod) -> &str {
    label(pod, LIFECYCLE_STATE_LABEL).unwrap_or_default()
}

/// Kruise `IsPodAvailable`: lifecycle "" or Normal, and [`is_update_ready`].
pub fn is_available(pod: &Pod, min_ready_seconds: i32, now: Timestamp) -> bool {
    let state = lifecycle_state(pod);
    (state.is_empty() || state == state::NORMAL) && is_update_ready(pod, min_ready_seconds, now)
}

/// The last `-` segment of a revision name or hash.
pub fn short_hash(hash: &str) -> &str {
    hash.rsplit('-').next().unwrap_or(hash)
}

/// The pod's `controller-revision-hash` label ("" when absent).
pub fn revision_of(pod: &Pod) -> &str {
    label(pod, REVISION_HASH_LABEL).unwrap_or_default()
}

/// Kruise `EqualToRevisionHash`: full revision names or their short hashes match.
pub fn is_at_revision(pod: &Pod, revision: &str) -> bool {
    let own = revision_of(pod);
    own == revision || (!own.is_empty() && short_hash(own) == short_hash(revision))
}

/// Specified for deletion: the `apps.kruise.io/specified-delete` label (any value) or listed in
/// `spec.scaleStrategy.podsToDelete`.
pub fn is_specified_delete(cloneset: &CloneSet, pod: &Pod) -> bool {
    label(pod, SPECIFIED_DELETE_LABEL).is_some()
        || cloneset
            .spec
            .scale_strategy
            .pods_to_delete
            .iter()
            .any(|n| n == name(pod))
}

/// Any of the hook's finalizers or labels (with the given value) is on the pod.
pub fn is_hooked(hook: Option<&LifecycleHook>, pod: &Pod) -> bool {
    let Some(hook) = hook else {
        return false;
    };
    let finalizers = pod.metadata.finalizers.as_deref().unwrap_or_default();
    hook.finalizers_handler.iter().any(|f| finalizers.contains(f))
        || hook
            .labels_handler
            .iter()
            .any(|(k, v)| label(pod, k) == Some(v.as_str()))
}

/// All of the hook's finalizers and labels are on the pod (false for no hook, as upstream).
pub fn is_all_hooked(hook: Option<&LifecycleHook>, pod: &Pod) -> bool {
    let Some(hook) = hook else {
        return false;
    };
    let finalizers = pod.metadata.finalizers.as_deref().unwrap_or_default();
    hook.finalizers_handler.iter().all(|f| finalizers.contains(f))
        && hook
            .labels_handler
            .iter()
            .all(|(k, v)| label(pod, k) == Some(v.as_str()))
}

/// The pod has the given readiness gate.
pub fn has_readiness_gate(pod: &Pod, condition_type: &str) -> bool {
    pod.spec
        .as_ref()
        .and_then(|s| s.readiness_gates.as_ref())
        .is_some_and(|gates| gates.iter().any(|g| g.condition_type == condition_type))
}

/// Highest restart count among the pod's containers.
pub fn max_restarts(pod: &Pod) -> i32 {
    pod.status
        .as_ref()
        .and_then(|s| s.container_statuses.as_ref())
        .and_then(|statuses| statuses.iter().map(|c| c.restart_count).max())
        .unwrap_or(0)
}

/// When the pod became Ready (None when not ready).
pub fn ready_since(pod: &Pod) -> Option<Timestamp> {
    condition(pod, "Ready")
        .filter(|c| c.status == "True")
        .and_then(|c| c.last_transition_time.as_ref())
        .map(|t| t.0)
}

/// Creation time of the pod.
pub fn created_at(pod: &Pod) -> Option<Timestamp> {
    pod.metadata.creation_timestamp.as_ref().map(|t| t.0)
}

/// The node the pod is bound to ("" when unscheduled).
pub fn node_name(pod: &Pod) -> &str {
    pod.spec
        .as_ref()
        .and_then(|s| s.node_name.as_deref())
        .unwrap_or_default()
}

#[cfg(test)]
pub(crate) mod testpods {
    //! Builders for pods in table-driven tests.

    use std::collections::BTreeMap;

    use k8s_openapi::api::core::v1::{
        Container, ContainerStatus, Pod, PodCondition, PodReadinessGate, PodSpec, PodStatus,
    };
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
    use k8s_openapi::jiff::{SignedDuration, Timestamp};

    use crate::labels::*;

    /// A fixed "now" for tests.
    pub fn now() -> Timestamp {
        Timestamp::from_second(1_800_000_000).unwrap_or(Timestamp::UNIX_EPOCH)
    }

    /// `now` minus `seconds`.
    pub fn ago(seconds: i64) -> Timestamp {
        now() - SignedDuration::from_secs(seconds)
    }

    /// A builder for a pod owned by a CloneSet.
    #[derive(Clone)]
    pub struct PodBuilder(pub Pod);

    impl PodBuilder {
        /// A Running, Ready (for an hour), Normal pod at `revision` with the InPlaceUpdateReady gate True.
        pub fn ready(name: &str, revision: &str) -> Self {
            let mut labels = BTreeMap::new();
            labels.insert("app".to_string(), "sample".to_string());
            labels.insert(REVISION_HASH_LABEL.to_string(), revision.to_string());
            labels.insert(
                POD_TEMPLATE_HASH_LABEL.to_string(),
                crate::podutil::short_hash(revision).to_string(),
            );
            labels.insert(LIFECYCLE_STATE_LABEL.to_string(), state::NORMAL.to_string());
            labels.insert(
                INSTANCE_ID_LABEL.to_string(),
                name.rsplit('-').next().unwrap_or(name).to_string(),
            );
            let condition = |type_: &str, status: &str| PodCondition {
                type_: type_.to_string(),
                status: status.to_string(),
                last_transition_time: Some(Time(ago(3600))),
                ..Default::default()
            };
            Self(Pod {
                metadata: ObjectMeta {
                    name: Some(name.to_string()),
                    namespace: Some("default".to_string()),
                    uid: Some(format!("uid-{name}")),
                    labels: Some(labels),
                    creation_timestamp: Some(Time(ago(7200))),
                    ..Default::default()
                },
                spec: Some(PodSpec {
                    node_name: Some("node-1".to_string()),
                    containers: vec![Container {
                        name: "main".to_string(),
                        image: Some("nginx:1".to_string()),
                        ..Default::default()
                    }],
                    readiness_gates: Some(vec![PodReadinessGate {
                        condition_type: INPLACE_UPDATE_READY.to_string(),
                    }]),
                    ..Default::default()
                }),
                status: Some(PodStatus {
                    phase: Some("Running".to_string()),
                    conditions: Some(vec![
                        condition("Ready", "True"),
                        condition("ContainersReady", "True"),
                        condition(INPLACE_UPDATE_READY, "True"),
                    ]),
                    container_statuses: Some(vec![ContainerStatus {
                        name: "main".to_string(),
                        image: "nginx:1".to_string(),
                        image_id: "docker-pullable://nginx@sha256:1".to_string(),
                        ready: true,
                        ..Default::default()
                    }]),
                    ..Default::default()
                }),
            })
        }

        /// Sets a pod condition's status (adding it when missing).
        pub fn condition(mut self, type_: &str, status: &str) -> Self {
            let conditions = self
                .0
                .status
                .get_or_insert_with(Default::default)
                .conditions
                .get_or_insert_with(Vec::new);
            match conditions.iter_mut().find(|c| c.type_ == type_) {
                Some(existing) => existing.status = status.to_string(),
                None => conditions.push(PodCondition {
                    type_: type_.to_string(),
                    status: status.to_string(),
                    last_transition_time: Some(Time(now())),
                    ..Default::default()
                }),
            }
            self
        }

        /// Not ready (Ready=False).
        pub fn not_ready(self) -> Self {
            self.condition("Ready", "False")
                .condition("ContainersReady", "False")
        }

        /// Ready since `seconds` ago.
        pub fn ready_for(mut self, seconds: i64) -> Self {
            if let Some(c) = self
                .0
                .status
                .as_mut()
                .and_then(|s| s.conditions.as_mut())
                .and_then(|cs| cs.iter_mut().find(|c| c.type_ == "Ready"))
            {
                c.status = "True".to_string();
                c.last_transition_time = Some(Time(ago(seconds)));
            }
            self
        }

        /// Sets the phase.
        pub fn phase(mut self, phase: &str) -> Self {
            self.0.status.get_or_insert_with(Default::default).phase = Some(phase.to_string());
            self
        }

        /// Sets a label.
        pub fn label(mut self, key: &str, value: &str) -> Self {
            self.0
                .metadata
                .labels
                .get_or_insert_with(Default::default)
                .insert(key.to_string(), value.to_string());
            self
        }

        /// Sets an annotation.
        pub fn annotation(mut self, key: &str, value: &str) -> Self {
            self.0
                .metadata
                .annotations
                .get_or_insert_with(Default::default)
                .insert(key.to_string(), value.to_string());
            self
        }

        /// Sets the lifecycle state label.
        pub fn lifecycle(self, value: &str) -> Self {
            self.label(LIFECYCLE_STATE_LABEL, value)
        }

        /// Sets the node.
        pub fn node(mut self, node: &str) -> Self {
            if let Some(spec) = self.0.spec.as_mut() {
                spec.node_name = if node.is_empty() {
                    None
                } else {
                    Some(node.to_string())
                };
            }
            self
        }

        /// Creation time `seconds` ago.
        pub fn created(mut self, seconds_ago: i64) -> Self {
            self.0.metadata.creation_timestamp = Some(Time(ago(seconds_ago)));
            self
        }

        /// Restart count of the first container.
        pub fn restarts(mut self, count: i32) -> Self {
            if let Some(status) = self
                .0
                .status
                .as_mut()
                .and_then(|s| s.container_statuses.as_mut())
                .and_then(|c| c.first_mut())
            {
                status.restart_count = count;
            }
            self
        }

        /// Marks the pod as being deleted.
        pub fn deleting(mut self) -> Self {
            self.0.metadata.deletion_timestamp = Some(Time(now()));
            self
        }

        /// Adds a finalizer.
        pub fn finalizer(mut self, finalizer: &str) -> Self {
            self.0
                .metadata
                .finalizers
                .get_or_insert_with(Vec::new)
                .push(finalizer.to_string());
            self
        }

        /// The built pod.
        pub fn build(self) -> Pod {
            self.0
        }
    }
}

#[cfg(test)]
mod tests {
    use super::testpods::*;
    use super::*;

    #[test]
    fn readiness_and_availability_table() {
        // (pod, minReadySeconds, update-ready, available)
        let cases = [
            (
                "ready normal pod",
                PodBuilder::ready("cs-a", "cs-1").build(),
                0,
                true,
                true,
            ),
            (
                "not running",
                PodBuilder::ready("cs-a", "cs-1").phase("Pending").build(),
                0,
                false,
                false,
            ),
            (
                "not ready",
                PodBuilder::ready("cs-a", "cs-1").not_ready().build(),
                0,
                false,
                false,
            ),
            (
                "in-place update not ready",
                PodBuilder::ready("cs-a", "cs-1")
                    .condition(INPLACE_UPDATE_READY, "False")
                    .build(),
                0,
                false,
                false,
            ),
            (
                "lifecycle PreparingNormal is ready but not available",
                PodBuilder::ready("cs-a", "cs-1")
                    .lifecycle(state::PREPARING_NORMAL)
                    .build(),
                0,
                true,
                false,
            ),
            (
                "ready 5s with minReady 10",
                PodBuilder::ready("cs-a", "cs-1").ready_for(5).build(),
                10,
                false,
                false,
            ),
            (
                "ready 10s with minReady 10 (strict)",
                PodBuilder::ready("cs-a", "cs-1").ready_for(10).build(),
                10,
                false,
                false,
            ),
            (
                "ready 11s with minReady 10",
                PodBuilder::ready("cs-a", "cs-1").ready_for(11).build(),
                10,
                true,
                true,
            ),
        ];
        for (label, pod, min_ready, update_ready, available) in cases {
            assert_eq!(
                is_update_ready(&pod, min_ready, now()),
                update_ready,
                "{label}: update-ready"
            );
            assert_eq!(
                is_available(&pod, min_ready, now()),
                available,
                "{label}: available"
            );
        }
    }

    #[test]
    fn revision_comparison_accepts_short_hashes() {
        let pod = PodBuilder::ready("cs-a", "cs-5f7d8b9c4").build();
        assert!(is_at_revision(&pod, "cs-5f7d8b9c4"));
        assert!(is_at_revision(&pod, "5f7d8b9c4"));
        assert!(!is_at_revision(&pod, "cs-6b8c9d"));
        let short = PodBuilder::ready("cs-a", "5f7d8b9c4").build();
        assert!(is_at_revision(&short, "cs-5f7d8b9c4"));
    }

    #[test]
    fn activity_table() {
        assert!(is_active(&PodBuilder::ready("a", "r").build()));
        assert!(!is_active(
            &PodBuilder::ready("a", "r").phase("Succeeded").build()
        ));
        assert!(!is_active(&PodBuilder::ready("a", "r").phase("Failed").build()));
        assert!(!is_active(&PodBuilder::ready("a", "r").deleting().build()));
    }

    #[test]
    fn hook_matching() {
        let hook = LifecycleHook {
            labels_handler: [("hold".to_string(), "true".to_string())].into_iter().collect(),
            finalizers_handler: vec!["example.com/block".to_string()],
            mark_pod_not_ready: false,
        };
        let plain = PodBuilder::ready("a", "r").build();
        let labelled = PodBuilder::ready("a", "r").label("hold", "true").build();
        let both = PodBuilder::ready("a", "r")
            .label("hold", "true")
            .finalizer("example.com/block")
            .build();
        let wrong_value = PodBuilder::ready("a", "r").label("hold", "false").build();
        assert!(!is_hooked(Some(&hook), &plain));
        assert!(is_hooked(Some(&hook), &labelled));
        assert!(!is_all_hooked(Some(&hook), &labelled));
        assert!(is_all_hooked(Some(&hook), &both));
        assert!(!is_hooked(Some(&hook), &wrong_value));
        assert!(!is_hooked(None, &labelled));
        assert!(!is_all_hooked(None, &both));
    }
}
