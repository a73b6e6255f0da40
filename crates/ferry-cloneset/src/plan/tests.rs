//! Planner tests: single-round tables and multi-round scenarios against a tiny simulated cluster.

use std::collections::BTreeMap;

use ferry_types::kruise::{CloneSet, LifecycleHook, UPDATE_IN_PLACE_ONLY, UPDATE_RECREATE};
use k8s_openapi::api::apps::v1::ControllerRevision;
use k8s_openapi::api::core::v1::{ContainerStatus, PersistentVolumeClaim, Pod};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use serde_json::json;

use super::*;
use crate::labels::{
    INPLACE_UPDATE_READY, INPLACE_UPDATE_STATE_ANNOTATION, INSTANCE_ID_LABEL, SPECIFIED_DELETE_LABEL,
};
use crate::podutil::testpods::{PodBuilder, now};
use crate::revision::new_revision;
use crate::testcs::{seed_cloneset, with_image};

/// A tiny in-memory cluster: applies plans and plays a kubelet that makes pods Running and Ready.
struct World {
    cloneset: CloneSet,
    pods: Vec<Pod>,
    pvcs: Vec<PersistentVolumeClaim>,
    revisions: Vec<ControllerRevision>,
    now: Timestamp,
    seed: u64,
    created: usize,
    deleted: Vec<String>,
    events: Vec<PlannedEvent>,
    /// Pods the kubelet leaves not ready.
    broken: Vec<String>,
}

impl World {
    fn new(cloneset: CloneSet) -> Self {
        Self {
            cloneset,
            pods: Vec::new(),
            pvcs: Vec::new(),
            revisions: Vec::new(),
            now: now(),
            seed: 1,
            created: 0,
            deleted: Vec::new(),
            events: Vec::new(),
            broken: Vec::new(),
        }
    }

    fn plan(&self) -> Plan {
        plan(PlanInput {
            cloneset: &self.cloneset,
            pods: &self.pods,
            pvcs: &self.pvcs,
            revisions: &self.revisions,
            now: self.now,
            id_seed: self.seed,
        })
        .expect("plan")
    }

    fn apply(&mut self, plan: &Plan) {
        match &plan.revision_action {
            RevisionAction::Reuse => {}
            RevisionAction::Create(revision) => self.revisions.push((**revision).clone()),
            RevisionAction::Renumber { name, revision, .. } => {
                for r in &mut self.revisions {
                    if r.metadata.name.as_deref() == Some(name.as_str()) {
                        r.revision = *revision;
                    }
                }
            }
        }
        self.pvcs.extend(plan.pvcs_to_create.iter().cloned());
        for pod in &plan.pods_to_create {
            let mut pod = pod.clone();
            pod.metadata.uid = Some(format!("uid-{}", podutil::name(&pod)));
            pod.metadata.creation_timestamp = Some(Time(self.now));
            self.pods.push(pod);
            self.created += 1;
        }
        for write in &plan.pod_writes {
            if let Some(existing) = self.pods.iter_mut().find(|p| podutil::name(p) == write.name) {
                if write.object_changed {
                    existing.metadata = write.pod.metadata.clone();
                    existing.spec = write.pod.spec.clone();
                }
                if write.status_changed {
                    existing.status = write.pod.status.clone();
                }
            }
        }
        for deletion in &plan.pods_to_delete {
            self.pods.retain(|p| podutil::name(p) != deletion.name);
            self.pvcs.retain(|c| {
                !deletion
                    .pvcs
                    .contains(&c.metadata.name.clone().unwrap_or_default())
            });
            self.deleted.push(deletion.name.clone());
        }
        if plan.write_status {
            self.cloneset.status = Some(plan.status.clone());
        } else if let Some(status) = self.cloneset.status.as_mut() {
            // Conditions ride along with the next real write; keep the computed ones for inspection.
            status.conditions = plan.status.conditions.clone();
        }
        if let Some(names) = &plan.pods_to_delete_spec {
            self.cloneset.spec.scale_strategy.pods_to_delete = names.clone();
        }
        self.revisions.retain(|r| {
            !plan
                .revisions_to_delete
                .contains(&r.metadata.name.clone().unwrap_or_default())
        });
        self.events.extend(plan.events.iter().cloned());
    }

    /// The simulated kubelet: schedules, runs, restarts containers whose image changed, and sets
    /// Ready from the readiness gates.
    fn kubelet(&mut self) {
        for pod in &mut self.pods {
            let name = podutil::name(pod).to_string();
            let Some(spec) = pod.spec.as_mut() else { continue };
            if spec.node_name.is_none() {
                spec.node_name = Some("node-1".to_string());
            }
            let containers = spec.containers.clone();
            let gates: Vec<String> = spec
                .readiness_gates
                .iter()
                .flatten()
                .map(|g| g.condition_type.clone())
                .collect();
            let status = pod.status.get_or_insert_with(Default::default);
            status.phase = Some("Running".to_string());
            let statuses = status.container_statuses.get_or_insert_with(Vec::new);
            for container in &containers {
                let image = container.image.clone().unwrap_or_default();
                match statuses.iter_mut().find(|s| s.name == container.name) {
                    Some(existing) if existing.image != image => {
                        existing.image = image.clone();
                        existing.image_id = format!("sha256:{image}");
                        existing.restart_count += 1;
                    }
                    Some(_) => {}
                    None => statuses.push(ContainerStatus {
                        name: container.name.clone(),
                        image: image.clone(),
                        image_id: format!("sha256:{image}"),
                        ready: true,
                        ..Default::default()
                    }),
                }
            }
            let now = self.now;
            let containers_ready = !self.broken.contains(&name);
            let mut probe = pod.clone();
            let gates_ok = gates
                .iter()
                .all(|g| podutil::condition(&probe, g).is_some_and(|c| c.status == "True"));
            inplace::set_condition(
                &mut probe,
                "ContainersReady",
                if containers_ready { "True" } else { "False" },
                None,
                None,
                now,
            );
            inplace::set_condition(
                &mut probe,
                "Ready",
                if containers_ready && gates_ok {
                    "True"
                } else {
                    "False"
                },
                None,
                None,
                now,
            );
            pod.status = probe.status;
        }
    }

    /// Reconcile and kubelet rounds until nothing changes (bounded), advancing time a second per round.
    fn settle(&mut self) -> usize {
        for round in 0..50 {
            let before = (self.pods.clone(), self.cloneset.clone());
            let plan = self.plan();
            self.apply(&plan);
            self.kubelet();
            self.now += SignedDuration::from_secs(1);
            self.seed += 1;
            if before == (self.pods.clone(), self.cloneset.clone()) {
                return round;
            }
        }
        panic!("did not settle in 50 rounds");
    }

    fn status(&self) -> CloneSetStatus {
        self.cloneset.status.clone().unwrap_or_default()
    }

    fn pod_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.pods.iter().map(|p| podutil::name(p).to_string()).collect();
        names.sort();
        names
    }

    fn set_template(&mut self, cloneset: CloneSet) {
        let generation = self.cloneset.metadata.generation.unwrap_or(1) + 1;
        let status = self.cloneset.status.clone();
        self.cloneset = cloneset;
        self.cloneset.metadata.generation = Some(generation);
        self.cloneset.status = status;
    }
}

fn counts(status: &CloneSetStatus) -> [i32; 5] {
    [
        status.replicas,
        status.updated_replicas,
        status.updated_ready_replicas,
        status.ready_replicas,
        status.expected_updated_replicas,
    ]
}

fn restart_count(pod: &Pod) -> i32 {
    podutil::max_restarts(pod)
}

fn image(pod: &Pod) -> String {
    pod.spec
        .as_ref()
        .and_then(|s| s.containers.first())
        .and_then(|c| c.image.clone())
        .unwrap_or_default()
}

#[test]
fn seed_scenario_in_place_rollout_with_partition() {
    let mut world = World::new(seed_cloneset());
    world.settle();
    let status = world.status();
    // kubectl get cloneset: DESIRED 2 UPDATED 2 UPDATED_READY 2 READY 2 TOTAL 2.
    assert_eq!(counts(&status), [2, 2, 2, 2, 1]);
    assert_eq!(status.current_revision, status.update_revision);
    assert!(
        world
            .pods
            .iter()
            .all(|p| podutil::lifecycle_state(p) == state::NORMAL)
    );
    assert!(
        world
            .pods
            .iter()
            .all(|p| podutil::condition(p, INPLACE_UPDATE_READY).is_some_and(|c| c.status == "True"))
    );
    let original_names = world.pod_names();
    let original_uids: Vec<Option<String>> = world.pods.iter().map(|p| p.metadata.uid.clone()).collect();

    // New image with partition 1: exactly one pod is updated in place.
    world.set_template(with_image(&world.cloneset, "openkruise/kruise:hello_world-new"));
    world.settle();
    let status = world.status();
    assert_eq!(counts(&status), [2, 1, 1, 2, 1]);
    assert_ne!(status.current_revision, status.update_revision);
    assert_eq!(world.pod_names(), original_names, "same pods, updated in place");
    assert_eq!(
        world
            .pods
            .iter()
            .map(|p| p.metadata.uid.clone())
            .collect::<Vec<_>>(),
        original_uids
    );
    let updated: Vec<&Pod> = world
        .pods
        .iter()
        .filter(|p| image(p) == "openkruise/kruise:hello_world-new")
        .collect();
    assert_eq!(updated.len(), 1);
    assert_eq!(restart_count(updated[0]), 1);
    assert!(podutil::annotation(updated[0], INPLACE_UPDATE_STATE_ANNOTATION).is_some());
    assert_eq!(world.created, 2, "no pod was recreated");
    assert!(
        world
            .events
            .iter()
            .any(|e| e.reason == "SuccessfulUpdatePodInPlace")
    );

    // Partition 0: the other pod follows.
    world.cloneset.spec.update_strategy.partition = Some(IntOrString::Int(0));
    world.settle();
    let status = world.status();
    assert_eq!(counts(&status), [2, 2, 2, 2, 2]);
    assert_eq!(status.current_revision, status.update_revision);
    assert!(world.pods.iter().all(|p| restart_count(p) == 1));
    assert_eq!(world.pod_names(), original_names);
    assert_eq!(world.created, 2);
}

#[test]
fn env_change_under_in_place_if_possible_recreates() {
    let mut world = World::new(seed_cloneset());
    world.cloneset.spec.update_strategy.partition = Some(IntOrString::Int(0));
    world.settle();
    let before = world.pod_names();
    let mut changed = world.cloneset.clone();
    if let Some(container) = changed
        .spec
        .template
        .spec
        .as_mut()
        .and_then(|s| s.containers.first_mut())
    {
        container.env = Some(vec![
            serde_json::from_value(json!({"name": "MODE", "value": "blue"})).unwrap_or_default(),
        ]);
    }
    world.set_template(changed);
    world.settle();
    assert_eq!(counts(&world.status()), [2, 2, 2, 2, 2]);
    assert!(
        world.pod_names().iter().all(|n| !before.contains(n)),
        "all pods recreated"
    );
    assert_eq!(world.created, 4);
    assert!(
        world
            .events
            .iter()
            .any(|e| e.reason == "SuccessfulUpdatePodReCreate")
    );
}

#[test]
fn recreate_strategy_recreates_on_image_change() {
    let mut cloneset = seed_cloneset();
    cloneset.spec.update_strategy.type_ = UPDATE_RECREATE.to_string();
    cloneset.spec.update_strategy.partition = Some(IntOrString::Int(0));
    let mut world = World::new(cloneset);
    world.settle();
    let before = world.pod_names();
    world.set_template(with_image(&world.cloneset, "nginx:2"));
    world.settle();
    assert_eq!(counts(&world.status()), [2, 2, 2, 2, 2]);
    assert!(world.pod_names().iter().all(|n| !before.contains(n)));
    assert!(
        world
            .pods
            .iter()
            .all(|p| image(p) == "nginx:2" && restart_count(p) == 0)
    );
}

#[test]
fn in_place_only_refuses_non_image_changes_with_a_condition() {
    let mut cloneset = seed_cloneset();
    cloneset.spec.update_strategy.type_ = UPDATE_IN_PLACE_ONLY.to_string();
    cloneset.spec.update_strategy.partition = Some(IntOrString::Int(0));
    let mut world = World::new(cloneset);
    world.settle();
    let before = world.pod_names();
    let mut changed = world.cloneset.clone();
    if let Some(container) = changed
        .spec
        .template
        .spec
        .as_mut()
        .and_then(|s| s.containers.first_mut())
    {
        container.command = Some(vec!["/bin/other".to_string()]);
    }
    world.set_template(changed);
    world.settle();
    assert_eq!(world.pod_names(), before, "no pod recreated");
    let condition = world
        .status()
        .conditions
        .into_iter()
        .find(|c| c.type_ == "FailedUpdate");
    let message = condition.map(|c| c.message).unwrap_or_default();
    assert!(
        message.contains("update strategy is InPlaceOnly but can not update in-place"),
        "{message}"
    );
    assert_eq!(world.status().updated_replicas, 0);
}

#[test]
fn paused_stops_updates_but_not_scaling() {
    let mut world = World::new(seed_cloneset());
    world.cloneset.spec.update_strategy.partition = Some(IntOrString::Int(0));
    world.settle();
    world.cloneset.spec.update_strategy.paused = true;
    world.set_template(with_image(&world.cloneset, "nginx:2"));
    world.cloneset.spec.replicas = Some(4);
    world.settle();
    let status = world.status();
    // Two new pods at the update revision (above the partition), the old two untouched.
    assert_eq!(status.replicas, 4);
    assert_eq!(status.updated_replicas, 2);
    assert_eq!(world.pods.iter().filter(|p| image(p) == "nginx:2").count(), 2);
    assert!(world.pods.iter().all(|p| restart_count(p) == 0));
    // All four pods became ready (the InPlaceUpdateReady refresh still runs while paused, issue #892).
    assert_eq!(status.ready_replicas, 4);
}

#[test]
fn scale_down_removes_not_ready_and_old_revision_pods_first() {
    let mut cloneset = seed_cloneset();
    cloneset.spec.replicas = Some(2);
    let update = new_revision(&cloneset, 2, 0).expect("rev");
    let old = new_revision(&with_image(&cloneset, "nginx:old"), 1, 0).expect("rev");
    let update_name = update.metadata.name.clone().unwrap_or_default();
    let old_name = old.metadata.name.clone().unwrap_or_default();
    cloneset.status = Some(CloneSetStatus {
        current_revision: old_name.clone(),
        ..Default::default()
    });
    cloneset.spec.update_strategy.partition = Some(IntOrString::Int(1));
    let pods = vec![
        PodBuilder::ready("cs-new1", &update_name).build(),
        PodBuilder::ready("cs-new2", &update_name).not_ready().build(),
        PodBuilder::ready("cs-old1", &old_name).build(),
        PodBuilder::ready("cs-old2", &old_name).build(),
    ];
    let pods: Vec<Pod> = pods
        .into_iter()
        .map(|p| PodBuilder(p).label("app", "helloworld-server").build())
        .collect();
    let plan = plan(PlanInput {
        cloneset: &cloneset,
        pods: &pods,
        pvcs: &[],
        revisions: &[old, update],
        now: now(),
        id_seed: 1,
    })
    .expect("plan");
    // 4 pods, 2 wanted, partition 1: one old pod and then the not-ready new pod go first.
    let mut deleted: Vec<&str> = plan.pods_to_delete.iter().map(|d| d.name.as_str()).collect();
    deleted.sort();
    assert_eq!(deleted.len(), 2);
    assert!(deleted.contains(&"cs-new2"), "not-ready pod deleted: {deleted:?}");
    assert!(
        deleted.iter().any(|n| n.starts_with("cs-old")),
        "an old-revision pod deleted: {deleted:?}"
    );
    assert!(
        plan.pod_writes.iter().all(|w| !w.object_changed),
        "no update in a scaling round"
    );
}

#[test]
fn max_surge_creates_before_deleting() {
    let mut cloneset = seed_cloneset();
    cloneset.spec.update_strategy.type_ = UPDATE_RECREATE.to_string();
    cloneset.spec.update_strategy.partition = Some(IntOrString::Int(0));
    cloneset.spec.update_strategy.max_surge = Some(IntOrString::Int(1));
    cloneset.spec.update_strategy.max_unavailable = Some(IntOrString::Int(0));
    cloneset.spec.replicas = Some(3);
    let mut world = World::new(cloneset);
    world.settle();
    world.set_template(with_image(&world.cloneset, "nginx:2"));
    // Round 1: a surge pod is created while all 3 old pods stay.
    let plan = world.plan();
    assert_eq!(plan.pods_to_create.len(), 1);
    assert!(plan.pods_to_delete.is_empty());
    world.apply(&plan);
    assert_eq!(world.pods.len(), 4);
    world.kubelet();
    world.settle();
    assert_eq!(counts(&world.status()), [3, 3, 3, 3, 3]);
    assert!(world.pods.iter().all(|p| image(p) == "nginx:2"));
}

#[test]
fn specified_delete_and_pods_to_delete_are_replaced() {
    let mut world = World::new(seed_cloneset());
    world.cloneset.spec.update_strategy.partition = Some(IntOrString::Int(0));
    world.settle();
    let victim = world.pod_names()[0].clone();
    world.cloneset.spec.scale_strategy.pods_to_delete = vec![victim.clone(), "not-a-pod".to_string()];
    world.settle();
    assert!(!world.pod_names().contains(&victim));
    assert_eq!(world.pods.len(), 2);
    assert!(
        world.cloneset.spec.scale_strategy.pods_to_delete.is_empty(),
        "vanished names truncated"
    );
    assert_eq!(world.deleted, vec![victim]);
}

#[test]
fn percent_partition_and_max_unavailable_round_as_upstream() {
    let mut cloneset = seed_cloneset();
    cloneset.spec.replicas = Some(10);
    cloneset.spec.update_strategy.partition = Some(IntOrString::String("25%".to_string()));
    let mut world = World::new(cloneset);
    world.settle();
    world.set_template(with_image(&world.cloneset, "nginx:2"));
    // maxUnavailable 20% of 10 = 2: the first round updates 2 pods in place.
    let plan = world.plan();
    let started = plan
        .pod_writes
        .iter()
        .filter(|w| {
            w.reasons
                .iter()
                .any(|r| matches!(r, PodWriteReason::InPlaceUpdate(_)))
        })
        .count();
    assert_eq!(started, 2);
    world.apply(&plan);
    world.settle();
    // 25% of 10 rounds up to 3 kept back: 7 updated.
    let status = world.status();
    assert_eq!(
        (status.updated_replicas, status.expected_updated_replicas),
        (7, 7)
    );
}

#[test]
fn scale_max_unavailable_limits_creation() {
    let mut cloneset = seed_cloneset();
    cloneset.spec.replicas = Some(5);
    cloneset.spec.scale_strategy.max_unavailable = Some(IntOrString::Int(2));
    let world = World::new(cloneset);
    let plan = world.plan();
    assert_eq!(plan.pods_to_create.len(), 2);
    assert!(plan.events.iter().any(|e| e.reason == "ScaleUpLimited"));
}

#[test]
fn min_ready_seconds_requeues_and_gates_availability() {
    let mut cloneset = seed_cloneset();
    cloneset.spec.min_ready_seconds = 30;
    let mut world = World::new(cloneset);
    world.settle();
    let plan = world.plan();
    assert_eq!(
        (plan.status.ready_replicas, plan.status.available_replicas),
        (2, 0)
    );
    assert_eq!(plan.requeue_after_seconds, Some(30));
    world.now += SignedDuration::from_secs(31);
    assert_eq!(world.plan().status.available_replicas, 2);
}

#[test]
fn grace_period_delays_the_image_patch() {
    let mut cloneset = seed_cloneset();
    cloneset.spec.update_strategy.partition = Some(IntOrString::Int(0));
    cloneset.spec.update_strategy.in_place_update_strategy =
        Some(ferry_types::kruise::InPlaceUpdateStrategy {
            grace_period_seconds: 10,
        });
    cloneset.spec.update_strategy.max_unavailable = Some(IntOrString::Int(2));
    let mut world = World::new(cloneset);
    world.settle();
    world.set_template(with_image(&world.cloneset, "nginx:2"));
    let plan = world.plan();
    assert_eq!(plan.requeue_after_seconds, Some(10));
    world.apply(&plan);
    world.kubelet();
    assert!(
        world.pods.iter().all(|p| image(p) != "nginx:2"),
        "images wait for the grace period"
    );
    assert!(
        world.pods.iter().all(|p| !podutil::is_pod_ready(p)),
        "pods marked not ready first"
    );
    world.now += SignedDuration::from_secs(11);
    world.settle();
    assert!(world.pods.iter().all(|p| image(p) == "nginx:2"));
    assert_eq!(counts(&world.status()), [2, 2, 2, 2, 2]);
}

#[test]
fn pre_delete_hook_holds_pods_in_preparing_delete() {
    let mut cloneset = seed_cloneset();
    cloneset.spec.lifecycle = Some(ferry_types::kruise::Lifecycle {
        pre_delete: Some(LifecycleHook {
            labels_handler: [("protect".to_string(), "true".to_string())]
                .into_iter()
                .collect(),
            ..Default::default()
        }),
        ..Default::default()
    });
    let mut world = World::new(cloneset);
    world.settle();
    for pod in &mut world.pods {
        pod.metadata
            .labels
            .get_or_insert_with(BTreeMap::new)
            .insert("protect".into(), "true".into());
    }
    world.cloneset.spec.replicas = Some(1);
    world.settle();
    assert_eq!(world.pods.len(), 2, "the hooked pod is not deleted");
    let preparing: Vec<&Pod> = world
        .pods
        .iter()
        .filter(|p| podutil::lifecycle_state(p) == state::PREPARING_DELETE)
        .collect();
    assert_eq!(preparing.len(), 1);
    let name = podutil::name(preparing[0]).to_string();
    assert_eq!(
        world.status().replicas,
        2,
        "PreparingDelete pods count in replicas"
    );
    // The hook is released: the pod is deleted.
    if let Some(pod) = world.pods.iter_mut().find(|p| podutil::name(p) == name) {
        pod.metadata
            .labels
            .get_or_insert_with(BTreeMap::new)
            .remove("protect");
    }
    world.settle();
    assert_eq!(world.pod_names().len(), 1);
    assert!(!world.pod_names().contains(&name));
}

#[test]
fn in_place_update_hook_waits_in_preparing_update() {
    let mut cloneset = seed_cloneset();
    cloneset.spec.update_strategy.partition = Some(IntOrString::Int(0));
    cloneset.spec.update_strategy.max_unavailable = Some(IntOrString::Int(2));
    cloneset.spec.lifecycle = Some(ferry_types::kruise::Lifecycle {
        in_place_update: Some(LifecycleHook {
            finalizers_handler: vec!["example.com/drain".into()],
            ..Default::default()
        }),
        ..Default::default()
    });
    let mut world = World::new(cloneset);
    world.settle();
    for pod in &mut world.pods {
        pod.metadata.finalizers = Some(vec!["example.com/drain".into()]);
    }
    world.set_template(with_image(&world.cloneset, "nginx:2"));
    world.settle();
    assert!(
        world
            .pods
            .iter()
            .all(|p| podutil::lifecycle_state(p) == state::PREPARING_UPDATE)
    );
    assert!(world.pods.iter().all(|p| image(p) != "nginx:2"));
    // Hook released: update proceeds, then the pods wait in Updated until the hook is back.
    for pod in &mut world.pods {
        pod.metadata.finalizers = None;
    }
    world.settle();
    assert!(world.pods.iter().all(|p| image(p) == "nginx:2"));
    assert!(
        world
            .pods
            .iter()
            .all(|p| podutil::lifecycle_state(p) == state::UPDATED)
    );
    for pod in &mut world.pods {
        pod.metadata.finalizers = Some(vec!["example.com/drain".into()]);
    }
    world.settle();
    assert!(
        world
            .pods
            .iter()
            .all(|p| podutil::lifecycle_state(p) == state::NORMAL)
    );
}

#[test]
fn volume_claim_templates_create_pvcs_and_recreate_deletes_them() {
    let mut cloneset = seed_cloneset();
    cloneset.spec.update_strategy.type_ = UPDATE_RECREATE.to_string();
    cloneset.spec.update_strategy.partition = Some(IntOrString::Int(0));
    cloneset.spec.volume_claim_templates = vec![
        serde_json::from_value(
            json!({"metadata": {"name": "data"}, "spec": {"accessModes": ["ReadWriteOnce"]}}),
        )
        .unwrap_or_default(),
    ];
    let mut world = World::new(cloneset);
    world.settle();
    assert_eq!(world.pvcs.len(), 2);
    for pod in &world.pods {
        let id = podutil::label(pod, INSTANCE_ID_LABEL).unwrap_or_default();
        let expected = format!("data-helloworld-server-{id}");
        assert!(
            world
                .pvcs
                .iter()
                .any(|c| c.metadata.name.as_deref() == Some(expected.as_str()))
        );
    }
    world.set_template(with_image(&world.cloneset, "nginx:2"));
    world.settle();
    // Controller-deleted pods take their PVCs along; the new pods got new ones.
    assert_eq!(world.pvcs.len(), 2);
    let ids: Vec<&str> = world
        .pods
        .iter()
        .filter_map(|p| podutil::label(p, INSTANCE_ID_LABEL))
        .collect();
    assert!(world.pvcs.iter().all(|c| {
        ids.iter()
            .any(|id| c.metadata.name.as_deref().unwrap_or_default().ends_with(id))
    }));
}

#[test]
fn rollback_reuses_the_old_revision_and_truncates_history() {
    let mut cloneset = seed_cloneset();
    cloneset.spec.update_strategy.partition = Some(IntOrString::Int(0));
    cloneset.spec.revision_history_limit = Some(1);
    let mut world = World::new(cloneset);
    world.settle();
    let first = world.status().update_revision;
    for image in ["nginx:2", "nginx:3", "nginx:4"] {
        world.set_template(with_image(&world.cloneset, image));
        world.settle();
    }
    // Live: the update revision; history limited to 1 more.
    assert_eq!(world.revisions.len(), 2);
    world.set_template(with_image(&world.cloneset, "nginx:3"));
    world.settle();
    assert!(world.revisions.len() <= 2);
    assert_ne!(world.status().update_revision, first);
    assert!(world.pods.iter().all(|p| image(p) == "nginx:3"));
}

#[test]
fn released_pods_and_terminal_pods_are_not_counted() {
    let cloneset = seed_cloneset();
    let revision = new_revision(&cloneset, 1, 0).expect("rev");
    let name = revision.metadata.name.clone().unwrap_or_default();
    let pods = vec![
        PodBuilder::ready("a", &name)
            .label("app", "helloworld-server")
            .build(),
        PodBuilder::ready("b", &name).label("app", "other").build(),
        PodBuilder::ready("c", &name)
            .label("app", "helloworld-server")
            .phase("Failed")
            .build(),
        PodBuilder::ready("d", &name)
            .label("app", "helloworld-server")
            .deleting()
            .build(),
    ];
    let plan = plan(PlanInput {
        cloneset: &cloneset,
        pods: &pods,
        pvcs: &[],
        revisions: &[revision],
        now: now(),
        id_seed: 3,
    })
    .expect("plan");
    assert_eq!(plan.released_pods, vec!["b".to_string()]);
    assert_eq!(plan.status.replicas, 1);
    assert_eq!(
        plan.pods_to_create.len(),
        1,
        "a replacement is created for the missing replica"
    );
}

#[test]
fn recreate_marks_specified_delete_then_scale_deletes() {
    let mut cloneset = seed_cloneset();
    cloneset.spec.update_strategy.type_ = UPDATE_RECREATE.to_string();
    cloneset.spec.update_strategy.partition = Some(IntOrString::Int(0));
    let mut world = World::new(cloneset);
    world.settle();
    world.set_template(with_image(&world.cloneset, "nginx:2"));
    let plan = world.plan();
    // maxUnavailable 20% of 2 rounds up to 1: one pod is marked.
    let marked: Vec<&PodWrite> = plan
        .pod_writes
        .iter()
        .filter(|w| podutil::label(&w.pod, SPECIFIED_DELETE_LABEL) == Some("true"))
        .collect();
    assert_eq!(marked.len(), 1);
    let patch = marked[0].object_patch(
        world
            .pods
            .iter()
            .find(|p| podutil::name(p) == marked[0].name)
            .expect("pod"),
    );
    assert_eq!(
        patch,
        json!({"metadata": {"labels": {SPECIFIED_DELETE_LABEL: "true"}}})
    );
    world.apply(&plan);
    let next = world.plan();
    assert_eq!(next.pods_to_delete.len(), 1);
    assert_eq!(next.pods_to_delete[0].name, marked[0].name);
}

#[test]
fn merge_patch_table() {
    let cases = [
        (json!({"a": 1}), json!({"a": 1}), json!({})),
        (json!({"a": 1}), json!({"a": 2}), json!({"a": 2})),
        (json!({"a": 1, "b": 2}), json!({"a": 1}), json!({"b": null})),
        (
            json!({"m": {"x": 1, "y": 2}}),
            json!({"m": {"x": 1, "y": 3}}),
            json!({"m": {"y": 3}}),
        ),
        (json!({"l": [1, 2]}), json!({"l": [1, 3]}), json!({"l": [1, 3]})),
    ];
    for (old, new, expected) in cases {
        assert_eq!(merge_patch(&old, &new), expected);
    }
}

fn pvc(name: &str, id: &str) -> PersistentVolumeClaim {
    serde_json::from_value(json!({"metadata": {"name": name, "labels": {INSTANCE_ID_LABEL: id}}}))
        .unwrap_or_default()
}

#[test]
fn disabled_pvc_reuse_deletes_orphans_and_reowns_terminated_pods_claims() {
    let mut cloneset = seed_cloneset();
    cloneset.spec.scale_strategy.disable_pvc_reuse = true;
    let revision = new_revision(&cloneset, 1, 0).expect("rev");
    let name = revision.metadata.name.clone().unwrap_or_default();
    let pods = vec![
        PodBuilder::ready("cs-aaaaa", &name)
            .label("app", "helloworld-server")
            .label(INSTANCE_ID_LABEL, "aaaaa")
            .build(),
        PodBuilder::ready("cs-bbbbb", &name)
            .label("app", "helloworld-server")
            .label(INSTANCE_ID_LABEL, "bbbbb")
            .phase("Failed")
            .build(),
    ];
    let pvcs = vec![
        pvc("data-aaaaa", "aaaaa"),
        pvc("data-bbbbb", "bbbbb"),
        pvc("data-ccccc", "ccccc"),
    ];
    let input = PlanInput {
        cloneset: &cloneset,
        pods: &pods,
        pvcs: &pvcs,
        revisions: &[revision],
        now: now(),
        id_seed: 5,
    };
    let result = plan(input).expect("plan");
    assert_eq!(result.pvcs_to_delete, vec!["data-ccccc".to_string()]);
    assert_eq!(
        result.pvcs_to_reown,
        vec![PvcReown {
            pvc: "data-bbbbb".into(),
            pod: "cs-bbbbb".into(),
            pod_uid: "uid-cs-bbbbb".into()
        }]
    );
    // The replacement pod does not take over the orphan's instance id.
    assert_eq!(result.pods_to_create.len(), 1);
    let new_id = podutil::label(&result.pods_to_create[0], INSTANCE_ID_LABEL)
        .unwrap_or_default()
        .to_string();
    assert!(new_id != "ccccc" && new_id != "bbbbb");

    // With reuse (the default), the orphan's id is reused for the replacement.
    let mut reuse = cloneset.clone();
    reuse.spec.scale_strategy.disable_pvc_reuse = false;
    let result = plan(PlanInput {
        cloneset: &reuse,
        ..input
    })
    .expect("plan");
    assert!(result.pvcs_to_delete.is_empty());
    let ids: Vec<&str> = result
        .pods_to_create
        .iter()
        .filter_map(|p| podutil::label(p, INSTANCE_ID_LABEL))
        .collect();
    assert_eq!(ids, vec!["bbbbb"], "the first free PVC id (sorted) is reused");
}

#[test]
fn refresh_lifecycle_table() {
    // One replica and one pod, so the round is not a scaling round.
    let mut base = seed_cloneset();
    base.spec.replicas = Some(1);
    let revision = new_revision(&base, 1, 0).expect("rev");
    let rev = revision.metadata.name.clone().unwrap_or_default();
    let hook = |labels: &[(&str, &str)]| LifecycleHook {
        labels_handler: labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        ..Default::default()
    };
    let with_lifecycle = |lifecycle: ferry_types::kruise::Lifecycle| {
        let mut cloneset = base.clone();
        cloneset.spec.lifecycle = Some(lifecycle);
        cloneset
    };
    let pod = |state: &str| {
        PodBuilder::ready("helloworld-server-a", &rev)
            .label("app", "helloworld-server")
            .lifecycle(state)
    };
    // (label, cloneset, pod, expected lifecycle state after the round)
    let cases: Vec<(&str, CloneSet, Pod, &str)> = vec![
        (
            "scheduled PreparingNormal becomes Normal",
            base.clone(),
            pod(state::PREPARING_NORMAL).build(),
            state::NORMAL,
        ),
        (
            "unscheduled PreparingNormal waits (v1.9)",
            base.clone(),
            pod(state::PREPARING_NORMAL).node("").build(),
            state::PREPARING_NORMAL,
        ),
        (
            "preNormal hook not all present: waits",
            with_lifecycle(ferry_types::kruise::Lifecycle {
                pre_normal: Some(hook(&[("ready", "yes")])),
                ..Default::default()
            }),
            pod(state::PREPARING_NORMAL).build(),
            state::PREPARING_NORMAL,
        ),
        (
            "preNormal hook all present: Normal",
            with_lifecycle(ferry_types::kruise::Lifecycle {
                pre_normal: Some(hook(&[("ready", "yes")])),
                ..Default::default()
            }),
            pod(state::PREPARING_NORMAL).label("ready", "yes").build(),
            state::NORMAL,
        ),
        (
            "PreparingUpdate already at update revision (rollback #1156) without lifecycle: Normal",
            base.clone(),
            pod(state::PREPARING_UPDATE).build(),
            state::NORMAL,
        ),
        (
            "Updated without inPlaceUpdate hook: Normal",
            with_lifecycle(ferry_types::kruise::Lifecycle::default()),
            pod(state::UPDATED).build(),
            state::NORMAL,
        ),
        (
            "Updated with the hook missing: stays",
            with_lifecycle(ferry_types::kruise::Lifecycle {
                in_place_update: Some(hook(&[("hold", "1")])),
                ..Default::default()
            }),
            pod(state::UPDATED).build(),
            state::UPDATED,
        ),
    ];
    for (label, cloneset, pod, expected) in cases {
        let pods = [pod];
        let result = plan(PlanInput {
            cloneset: &cloneset,
            pods: &pods,
            pvcs: &[],
            revisions: std::slice::from_ref(&revision),
            now: now(),
            id_seed: 1,
        })
        .expect("plan");
        let state_after = result
            .pod_writes
            .iter()
            .find(|w| w.name == "helloworld-server-a")
            .map(|w| podutil::lifecycle_state(&w.pod).to_string())
            .unwrap_or_else(|| podutil::lifecycle_state(&pods[0]).to_string());
        assert_eq!(state_after, expected, "{label}");
    }
}

#[test]
fn kruise_pod_ready_gate_follows_mark_pod_not_ready_hooks() {
    let mut cloneset = seed_cloneset();
    cloneset.spec.lifecycle = Some(ferry_types::kruise::Lifecycle {
        pre_delete: Some(LifecycleHook {
            labels_handler: [("protect".to_string(), "true".to_string())]
                .into_iter()
                .collect(),
            mark_pod_not_ready: true,
            ..Default::default()
        }),
        ..Default::default()
    });
    let mut world = World::new(cloneset);
    world.settle();
    // New pods carry the gate; reaching Normal sets it True, so they become Ready.
    assert!(
        world
            .pods
            .iter()
            .all(|p| podutil::has_readiness_gate(p, crate::labels::KRUISE_POD_READY))
    );
    assert_eq!(world.status().ready_replicas, 2);
    for pod in &mut world.pods {
        pod.metadata
            .labels
            .get_or_insert_with(BTreeMap::new)
            .insert("protect".into(), "true".into());
    }
    world.cloneset.spec.replicas = Some(1);
    world.settle();
    let held: Vec<&Pod> = world
        .pods
        .iter()
        .filter(|p| podutil::lifecycle_state(p) == state::PREPARING_DELETE)
        .collect();
    assert_eq!(held.len(), 1);
    assert_eq!(
        podutil::condition(held[0], crate::labels::KRUISE_POD_READY).map(|c| c.status.as_str()),
        Some("False"),
        "markPodNotReady holds KruisePodReady False"
    );
    assert!(!podutil::is_pod_ready(held[0]));
}

#[test]
fn missing_pod_template_hash_is_patched_before_updating() {
    let cloneset = seed_cloneset();
    let old = new_revision(&with_image(&cloneset, "nginx:0"), 1, 0).expect("rev");
    let old_name = old.metadata.name.clone().unwrap_or_default();
    let mut cloneset = cloneset;
    cloneset.spec.replicas = Some(1);
    cloneset.spec.update_strategy.partition = Some(IntOrString::Int(0));
    let mut pod = PodBuilder::ready("helloworld-server-a", &old_name)
        .label("app", "helloworld-server")
        .build();
    if let Some(labels) = pod.metadata.labels.as_mut() {
        labels.remove(crate::labels::POD_TEMPLATE_HASH_LABEL);
    }
    let pods = [pod];
    let result = plan(PlanInput {
        cloneset: &cloneset,
        pods: &pods,
        pvcs: &[],
        revisions: &[old],
        now: now(),
        id_seed: 1,
    })
    .expect("plan");
    assert_eq!(result.pod_writes.len(), 1);
    assert_eq!(
        result.pod_writes[0].reasons,
        vec![PodWriteReason::TemplateHashLabel]
    );
    assert_eq!(
        podutil::label(&result.pod_writes[0].pod, crate::labels::POD_TEMPLATE_HASH_LABEL),
        Some(podutil::short_hash(&old_name))
    );
}

#[test]
fn scale_up_under_max_unavailable_proceeds_as_pods_become_ready() {
    let mut cloneset = seed_cloneset();
    cloneset.spec.replicas = Some(5);
    cloneset.spec.scale_strategy.max_unavailable = Some(IntOrString::Int(2));
    let mut world = World::new(cloneset);
    let mut created_per_round = Vec::new();
    for _ in 0..10 {
        let plan = world.plan();
        created_per_round.push(plan.pods_to_create.len());
        world.apply(&plan);
        world.kubelet();
        world.now += SignedDuration::from_secs(1);
    }
    // Never more than 2 unavailable pods at once: 2, then 2 more once those are ready, then 1.
    let nonzero: Vec<usize> = created_per_round.into_iter().filter(|n| *n > 0).collect();
    assert_eq!(nonzero, vec![2, 2, 1]);
    assert_eq!(world.pods.len(), 5);
}

#[test]
fn weight_priority_chooses_which_pod_updates_first() {
    let mut cloneset = seed_cloneset();
    cloneset.spec.replicas = Some(3);
    cloneset.spec.update_strategy.partition = Some(IntOrString::Int(2));
    cloneset.spec.update_strategy.priority_strategy = Some(ferry_types::kruise::UpdatePriorityStrategy {
        weight_priority: vec![ferry_types::kruise::UpdatePriorityWeightTerm {
            weight: 50,
            match_selector: serde_json::from_value(json!({"matchLabels": {"canary": "true"}}))
                .unwrap_or_default(),
        }],
        order_priority: vec![],
    });
    let mut world = World::new(cloneset);
    world.settle();
    let canary = world.pod_names()[1].clone();
    if let Some(pod) = world.pods.iter_mut().find(|p| podutil::name(p) == canary) {
        pod.metadata
            .labels
            .get_or_insert_with(BTreeMap::new)
            .insert("canary".into(), "true".into());
    }
    world.set_template(with_image(&world.cloneset, "nginx:canary"));
    world.settle();
    let updated: Vec<String> = world
        .pods
        .iter()
        .filter(|p| image(p) == "nginx:canary")
        .map(|p| podutil::name(p).to_string())
        .collect();
    assert_eq!(updated, vec![canary]);
}
