//! Deployment planning, following kube-controller-manager's deployment controller: ReplicaSets
//! named `<deployment>-<pod-template-hash>`, RollingUpdate (maxSurge rounds up, maxUnavailable
//! rounds down) and Recreate, revisions, paused, history cleanup, status and the Progressing /
//! Available conditions with Kubernetes' reasons and messages.

use std::collections::BTreeMap;

use jiff::{SignedDuration, Timestamp};
use k8s_openapi::api::apps::v1::{
    Deployment, DeploymentCondition, DeploymentStatus, ReplicaSet, ReplicaSetSpec,
};
use k8s_openapi::api::core::v1::{Pod, PodTemplateSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use crate::util::{self, SpecError};

/// Label (and selector key) that ties a ReplicaSet and its pods to one pod template.
pub const POD_TEMPLATE_HASH: &str = "pod-template-hash";
/// Revision annotation on Deployments and their ReplicaSets.
pub const REVISION: &str = "deployment.kubernetes.io/revision";
/// Desired replicas of the Deployment when the ReplicaSet was last scaled.
pub const DESIRED_REPLICAS: &str = "deployment.kubernetes.io/desired-replicas";
/// Deployment replicas plus maxSurge when the ReplicaSet was last scaled.
pub const MAX_REPLICAS: &str = "deployment.kubernetes.io/max-replicas";
/// Revisions this ReplicaSet held before (set when a rollback reuses it).
pub const REVISION_HISTORY: &str = "deployment.kubernetes.io/revision-history";

/// Annotations of the Deployment that are not copied onto its ReplicaSets.
const NOT_COPIED: [&str; 5] = [
    "kubectl.kubernetes.io/last-applied-configuration",
    REVISION,
    REVISION_HISTORY,
    DESIRED_REPLICAS,
    MAX_REPLICAS,
];

const DEFAULT_PROGRESS_DEADLINE: i32 = 600;
const DEFAULT_HISTORY_LIMIT: i32 = 10;

/// A change the Deployment controller makes to the world.
#[derive(Debug, Clone, PartialEq)]
pub enum DeploymentAction {
    /// Create this ReplicaSet.
    CreateReplicaSet(Box<ReplicaSet>),
    /// Patch an owned ReplicaSet: new replicas and/or annotations (merged) and/or minReadySeconds.
    UpdateReplicaSet {
        /// ReplicaSet name.
        name: String,
        /// New `spec.replicas`, when it changes.
        replicas: Option<i32>,
        /// Annotations to set.
        annotations: BTreeMap<String, String>,
        /// New `spec.minReadySeconds`, when it changes.
        min_ready_seconds: Option<i32>,
    },
    /// Delete an old ReplicaSet beyond `revisionHistoryLimit`.
    DeleteReplicaSet {
        /// ReplicaSet name.
        name: String,
        /// ReplicaSet uid (precondition).
        uid: String,
    },
}

/// The outcome of planning one Deployment sync.
#[derive(Debug, Clone, PartialEq)]
pub struct DeploymentPlan {
    /// Changes to ReplicaSets, in order.
    pub actions: Vec<DeploymentAction>,
    /// The Deployment status to write.
    pub status: DeploymentStatus,
    /// The Deployment's `deployment.kubernetes.io/revision` annotation, when it must change.
    pub revision: Option<String>,
    /// Reconcile again after this long (progress deadline checks).
    pub requeue_after: Option<SignedDuration>,
}

/// The resolved rollout parameters of a Deployment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Strategy {
    recreate: bool,
    max_surge: i32,
    max_unavailable: i32,
}

/// Resolves maxSurge (rounded up) and maxUnavailable (rounded down) as `ResolveFenceposts` does:
/// if both are zero, maxUnavailable becomes 1.
fn strategy(d: &Deployment, replicas: i32) -> Result<Strategy, SpecError> {
    let strategy = d.spec.as_ref().and_then(|s| s.strategy.as_ref());
    if strategy.and_then(|s| s.type_.as_deref()) == Some("Recreate") {
        return Ok(Strategy {
            recreate: true,
            max_surge: 0,
            max_unavailable: 0,
        });
    }
    let rolling = strategy.and_then(|s| s.rolling_update.as_ref());
    let default = IntOrString::String("25%".into());
    let surge = rolling.and_then(|r| r.max_surge.as_ref()).unwrap_or(&default);
    let unavailable = rolling
        .and_then(|r| r.max_unavailable.as_ref())
        .unwrap_or(&default);
    let meta = &d.metadata;
    let max_surge = util::scaled_value(
        surge,
        replicas,
        true,
        "Deployment",
        meta,
        "spec.strategy.rollingUpdate.maxSurge",
    )?
    .max(0);
    let mut max_unavailable = util::scaled_value(
        unavailable,
        replicas,
        false,
        "Deployment",
        meta,
        "spec.strategy.rollingUpdate.maxUnavailable",
    )?
    .max(0);
    if max_surge == 0 && max_unavailable == 0 {
        max_unavailable = 1;
    }
    Ok(Strategy {
        recreate: false,
        max_surge,
        max_unavailable,
    })
}

impl Strategy {
    /// `MaxUnavailable(deployment)`: 0 for Recreate or zero replicas, else at most `replicas`.
    fn availability_budget(self, replicas: i32) -> i32 {
        if self.recreate || replicas == 0 {
            0
        } else {
            self.max_unavailable.min(replicas)
        }
    }
}

fn spec_replicas(rs: &ReplicaSet) -> i32 {
    rs.spec.as_ref().and_then(|s| s.replicas).unwrap_or(0)
}

fn status_of(rs: &ReplicaSet) -> (i32, i32, i32) {
    rs.status.as_ref().map_or((0, 0, 0), |s| {
        (
            s.replicas,
            s.ready_replicas.unwrap_or(0),
            s.available_replicas.unwrap_or(0),
        )
    })
}

fn revision_of(meta: &ObjectMeta) -> i64 {
    meta.annotations
        .as_ref()
        .and_then(|a| a.get(REVISION))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

fn annotation_number(rs: &ReplicaSet, key: &str) -> Option<i32> {
    rs.metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(key))
        .and_then(|v| v.parse().ok())
}

/// One owned ReplicaSet in the working state: the new one or an old one by index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Slot {
    New,
    Old(usize),
}

fn rs_name(rs: &ReplicaSet) -> String {
    rs.metadata.name.clone().unwrap_or_default()
}

/// `ReplicaSetsByCreationTimestamp`: oldest first, then by name.
fn by_creation(a: &ReplicaSet, b: &ReplicaSet) -> std::cmp::Ordering {
    util::created_at(&a.metadata)
        .cmp(&util::created_at(&b.metadata))
        .then_with(|| a.metadata.name.cmp(&b.metadata.name))
}

/// The working state of one sync: the owned ReplicaSets as they will be after the planned
/// actions (spec changes applied in memory, status as observed).
struct Sync<'a> {
    d: &'a Deployment,
    now: Timestamp,
    replicas: i32,
    strategy: Strategy,
    progress_deadline: Option<i32>,
    new_rs: Option<ReplicaSet>,
    old: Vec<ReplicaSet>,
    conditions: Vec<DeploymentCondition>,
    collision_count: Option<i32>,
    actions: Vec<DeploymentAction>,
}

/// Plans one sync of `d`. `replica_sets` and `pods` are every ReplicaSet and pod in the
/// Deployment's namespace; the planner picks out the ones it controls.
pub fn plan(
    d: &Deployment,
    replica_sets: &[ReplicaSet],
    pods: &[Pod],
    now: Timestamp,
) -> Result<DeploymentPlan, SpecError> {
    let spec = d.spec.clone().unwrap_or_default();
    let replicas = spec.replicas.unwrap_or(1).max(0);
    let strategy = strategy(d, replicas)?;
    let progress_deadline = match spec.progress_deadline_seconds {
        Some(i32::MAX) => None,
        Some(seconds) => Some(seconds),
        None => Some(DEFAULT_PROGRESS_DEADLINE),
    };
    let uid = d.metadata.uid.as_deref().unwrap_or_default();
    let mut owned: Vec<ReplicaSet> = replica_sets
        .iter()
        .filter(|rs| util::controlled_by(&rs.metadata, uid))
        .cloned()
        .collect();
    owned.sort_by(by_creation);
    let wanted = util::template_without_label(&spec.template, POD_TEMPLATE_HASH);
    let new_index = owned.iter().position(|rs| {
        rs.spec
            .as_ref()
            .and_then(|s| s.template.as_ref())
            .is_some_and(|t| util::template_without_label(t, POD_TEMPLATE_HASH) == wanted)
    });
    let new_rs = new_index.map(|i| owned.remove(i));
    let previous = d.status.clone().unwrap_or_default();
    let mut sync = Sync {
        d,
        now,
        replicas,
        strategy,
        progress_deadline,
        new_rs,
        old: owned,
        conditions: previous.conditions.clone().unwrap_or_default(),
        collision_count: previous.collision_count,
        actions: Vec::new(),
    };

    let selector_empty = spec.selector.match_labels.as_ref().is_none_or(|m| m.is_empty())
        && spec
            .selector
            .match_expressions
            .as_ref()
            .is_none_or(|m| m.is_empty());
    if d.metadata.deletion_timestamp.is_some() || selector_empty {
        let status = sync.calculate_status();
        return Ok(sync.finish(status, None));
    }

    sync.check_paused_conditions();
    let paused = spec.paused == Some(true);
    if paused || sync.is_scaling_event() {
        // kube-controller-manager's `sync`: scale only, no rollout step, no new ReplicaSet.
        sync.sync_new_rs_annotations();
        sync.scale();
        if paused {
            sync.cleanup();
        }
        let status = sync.calculate_status();
        return Ok(sync.finish(status, None));
    }

    if strategy.recreate {
        sync.rollout_recreate(replica_sets, pods)
    } else {
        sync.rollout_rolling(replica_sets)
    }
}

impl Sync<'_> {
    fn name(&self) -> &str {
        self.d.metadata.name.as_deref().unwrap_or_default()
    }

    fn min_ready_seconds(&self) -> i32 {
        self.d
            .spec
            .as_ref()
            .and_then(|s| s.min_ready_seconds)
            .unwrap_or(0)
    }

    fn all(&self) -> impl Iterator<Item = &ReplicaSet> {
        self.new_rs.iter().chain(self.old.iter())
    }

    /// Sum of `spec.replicas` over every owned ReplicaSet.
    fn spec_total(&self) -> i32 {
        self.all().map(spec_replicas).sum()
    }

    fn rollout_rolling(mut self, replica_sets: &[ReplicaSet]) -> Result<DeploymentPlan, SpecError> {
        if self.new_rs.is_none() {
            let initial = self.new_rs_new_replicas(0);
            if !self.create_new_rs(replica_sets, initial) {
                let status = self.calculate_status();
                return Ok(self.finish(status, Some(SignedDuration::ZERO)));
            }
        } else {
            self.sync_new_rs_annotations();
        }
        // Scale up the new ReplicaSet first; one step per sync, like kube-controller-manager.
        let new_current = self.new_rs.as_ref().map_or(0, spec_replicas);
        let new_target = if new_current >= self.replicas {
            self.replicas
        } else {
            self.new_rs_new_replicas(new_current)
        };
        if new_target != new_current {
            self.scale_new(new_target);
            return Ok(self.sync_rollout_status());
        }
        if self.reconcile_old_replica_sets() {
            return Ok(self.sync_rollout_status());
        }
        if deployment_complete(self.d, &self.d.status.clone().unwrap_or_default(), self.replicas) {
            self.cleanup();
        }
        Ok(self.sync_rollout_status())
    }

    fn rollout_recreate(
        mut self,
        replica_sets: &[ReplicaSet],
        pods: &[Pod],
    ) -> Result<DeploymentPlan, SpecError> {
        if self.new_rs.is_some() {
            self.sync_new_rs_annotations();
        }
        // Scale every old ReplicaSet to zero and wait until their pods are gone.
        let mut scaled_down = false;
        for index in 0..self.old.len() {
            if self.old.get(index).is_some_and(|rs| spec_replicas(rs) > 0) {
                self.scale_old(index, 0);
                scaled_down = true;
            }
        }
        if scaled_down {
            return Ok(self.sync_rollout_status());
        }
        if self.old_pods_running(pods) {
            // Pod terminations do not touch the ReplicaSets: look again shortly.
            let mut plan = self.sync_rollout_status();
            let poll = SignedDuration::from_secs(1);
            plan.requeue_after = Some(plan.requeue_after.map_or(poll, |r| r.min(poll)));
            return Ok(plan);
        }
        if self.new_rs.is_none() {
            if !self.create_new_rs(replica_sets, self.replicas) {
                let status = self.calculate_status();
                return Ok(self.finish(status, Some(SignedDuration::ZERO)));
            }
        } else if self.new_rs.as_ref().map_or(0, spec_replicas) != self.replicas {
            self.scale_new(self.replicas);
            return Ok(self.sync_rollout_status());
        }
        if deployment_complete(self.d, &self.d.status.clone().unwrap_or_default(), self.replicas) {
            self.cleanup();
        }
        Ok(self.sync_rollout_status())
    }

    /// `oldPodsRunning`: an old ReplicaSet still reports pods, or a pod of one has not finished.
    fn old_pods_running(&self, pods: &[Pod]) -> bool {
        if self.old.iter().any(|rs| status_of(rs).0 > 0) {
            return true;
        }
        let old_uids: Vec<&str> = self
            .old
            .iter()
            .filter_map(|rs| rs.metadata.uid.as_deref())
            .collect();
        pods.iter().any(|pod| {
            util::controller_of(&pod.metadata).is_some_and(|o| old_uids.contains(&o.uid.as_str()))
                && !util::pod_finished(pod)
        })
    }

    /// `NewRSNewReplicas` for RollingUpdate: grow the new ReplicaSet up to replicas + maxSurge
    /// in total, never past `replicas` for the new one.
    fn new_rs_new_replicas(&self, new_current: i32) -> i32 {
        let max_total = self.replicas.saturating_add(self.strategy.max_surge);
        let current_total = self.spec_total();
        if current_total >= max_total {
            return new_current;
        }
        let scale_up = (max_total - current_total).min(self.replicas - new_current);
        new_current + scale_up.max(0)
    }

    fn scale_annotations(&self) -> BTreeMap<String, String> {
        let max_surge = if self.strategy.recreate {
            0
        } else {
            self.strategy.max_surge
        };
        BTreeMap::from([
            (DESIRED_REPLICAS.to_string(), self.replicas.to_string()),
            (
                MAX_REPLICAS.to_string(),
                self.replicas.saturating_add(max_surge).to_string(),
            ),
        ])
    }

    fn scale_new(&mut self, replicas: i32) {
        let annotations = self.scale_annotations();
        if let Some(rs) = self.new_rs.as_mut() {
            set_replicas(rs, replicas, &annotations);
            self.actions.push(DeploymentAction::UpdateReplicaSet {
                name: rs_name(rs),
                replicas: Some(replicas),
                annotations,
                min_ready_seconds: None,
            });
        }
    }

    fn scale_old(&mut self, index: usize, replicas: i32) {
        let annotations = self.scale_annotations();
        if let Some(rs) = self.old.get_mut(index) {
            set_replicas(rs, replicas, &annotations);
            self.actions.push(DeploymentAction::UpdateReplicaSet {
                name: rs_name(rs),
                replicas: Some(replicas),
                annotations,
                min_ready_seconds: None,
            });
        }
    }

    /// The next revision number: one past every old ReplicaSet's.
    fn next_revision(&self) -> i64 {
        self.old
            .iter()
            .map(|rs| revision_of(&rs.metadata))
            .max()
            .unwrap_or(0)
            + 1
    }

    /// Creates the new ReplicaSet `<name>-<hash>`. Returns false on a name collision (another
    /// ReplicaSet holds the name with a different template): the collision count is bumped so
    /// the next sync hashes differently.
    fn create_new_rs(&mut self, replica_sets: &[ReplicaSet], replicas: i32) -> bool {
        let spec = self.d.spec.clone().unwrap_or_default();
        let hash = util::pod_template_hash(&spec.template, self.collision_count);
        let name = format!("{}-{hash}", self.name());
        if replica_sets
            .iter()
            .any(|rs| rs.metadata.name.as_deref() == Some(name.as_str()))
        {
            self.collision_count = Some(self.collision_count.unwrap_or(0).saturating_add(1));
            return false;
        }
        let mut template: PodTemplateSpec = spec.template.clone();
        let template_meta = template.metadata.get_or_insert_with(ObjectMeta::default);
        template_meta
            .labels
            .get_or_insert_with(BTreeMap::new)
            .insert(POD_TEMPLATE_HASH.into(), hash.clone());
        let labels = template_meta.labels.clone();
        let mut selector: LabelSelector = spec.selector.clone();
        selector
            .match_labels
            .get_or_insert_with(BTreeMap::new)
            .insert(POD_TEMPLATE_HASH.into(), hash);
        let mut annotations = self.copied_annotations();
        annotations.insert(REVISION.into(), self.next_revision().to_string());
        annotations.extend(self.scale_annotations());
        let rs = ReplicaSet {
            metadata: ObjectMeta {
                name: Some(name.clone()),
                namespace: self.d.metadata.namespace.clone(),
                labels,
                annotations: Some(annotations),
                owner_references: Some(vec![util::controller_ref(
                    "apps/v1",
                    "Deployment",
                    &self.d.metadata,
                )]),
                creation_timestamp: Some(util::time(self.now)),
                ..ObjectMeta::default()
            },
            spec: Some(ReplicaSetSpec {
                replicas: Some(replicas),
                min_ready_seconds: Some(self.min_ready_seconds()),
                selector,
                template: Some(template),
            }),
            status: None,
        };
        self.actions
            .push(DeploymentAction::CreateReplicaSet(Box::new(rs.clone())));
        if self.progress_deadline.is_some() {
            self.set_condition(
                "Progressing",
                "True",
                "NewReplicaSetCreated",
                format!("Created new replica set \"{name}\""),
            );
        }
        self.new_rs = Some(rs);
        true
    }

    fn copied_annotations(&self) -> BTreeMap<String, String> {
        self.d
            .metadata
            .annotations
            .iter()
            .flatten()
            .filter(|(k, _)| !NOT_COPIED.contains(&k.as_str()))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }

    /// `SetNewReplicaSetAnnotations` for an existing new ReplicaSet: bump its revision past the
    /// old ones (a rollback to an earlier template), record the revisions it held, keep
    /// minReadySeconds in step, and note `FoundNewReplicaSet` when no Progressing condition exists.
    fn sync_new_rs_annotations(&mut self) {
        let next = self.next_revision();
        let min_ready = self.min_ready_seconds();
        let deadline = self.progress_deadline.is_some();
        let copied = self.copied_annotations();
        let Some(rs) = self.new_rs.as_mut() else {
            return;
        };
        let mut annotations = BTreeMap::new();
        let current = revision_of(&rs.metadata);
        if current < next {
            annotations.insert(REVISION.to_string(), next.to_string());
            if current > 0 {
                let history = rs
                    .metadata
                    .annotations
                    .as_ref()
                    .and_then(|a| a.get(REVISION_HISTORY))
                    .filter(|h| !h.is_empty())
                    .map_or(current.to_string(), |h| format!("{h},{current}"));
                annotations.insert(REVISION_HISTORY.to_string(), history);
            }
        }
        let existing = rs.metadata.annotations.clone().unwrap_or_default();
        for (key, value) in copied {
            if existing.get(&key) != Some(&value) {
                annotations.insert(key, value);
            }
        }
        let rs_min_ready = rs.spec.as_ref().and_then(|s| s.min_ready_seconds).unwrap_or(0);
        let min_ready_change = (rs_min_ready != min_ready).then_some(min_ready);
        if !annotations.is_empty() || min_ready_change.is_some() {
            rs.metadata
                .annotations
                .get_or_insert_with(BTreeMap::new)
                .extend(annotations.clone());
            if let (Some(value), Some(spec)) = (min_ready_change, rs.spec.as_mut()) {
                spec.min_ready_seconds = Some(value);
            }
            self.actions.push(DeploymentAction::UpdateReplicaSet {
                name: rs_name(rs),
                replicas: None,
                annotations,
                min_ready_seconds: min_ready_change,
            });
        }
        let name = rs_name(rs);
        if deadline && !self.conditions.iter().any(|c| c.type_ == "Progressing") {
            self.set_condition(
                "Progressing",
                "True",
                "FoundNewReplicaSet",
                format!("Found new replica set \"{name}\""),
            );
        }
    }

    fn slot(&self, slot: Slot) -> Option<&ReplicaSet> {
        match slot {
            Slot::New => self.new_rs.as_ref(),
            Slot::Old(index) => self.old.get(index),
        }
    }

    fn slot_replicas(&self, slot: Slot) -> i32 {
        self.slot(slot).map_or(0, spec_replicas)
    }

    fn scale_slot(&mut self, slot: Slot, replicas: i32) {
        match slot {
            Slot::New => self.scale_new(replicas),
            Slot::Old(index) => self.scale_old(index, replicas),
        }
    }

    fn slots(&self) -> Vec<Slot> {
        self.new_rs
            .iter()
            .map(|_| Slot::New)
            .chain((0..self.old.len()).map(Slot::Old))
            .collect()
    }

    /// `isScalingEvent`: an active ReplicaSet was last sized for a different `spec.replicas`.
    fn is_scaling_event(&self) -> bool {
        self.all()
            .filter(|rs| spec_replicas(rs) > 0)
            .filter_map(|rs| annotation_number(rs, DESIRED_REPLICAS))
            .any(|desired| desired != self.replicas)
    }

    /// kube-controller-manager's `scale`: one active (or the latest) ReplicaSet follows
    /// `spec.replicas`; a saturated new ReplicaSet retires the old ones; otherwise, under
    /// RollingUpdate, replicas are added or removed across the active ReplicaSets in proportion
    /// to their size (largest first; leftovers go to the first).
    fn scale(&mut self) {
        let active: Vec<Slot> = self
            .slots()
            .into_iter()
            .filter(|slot| self.slot_replicas(*slot) > 0)
            .collect();
        let active_or_latest = match active.as_slice() {
            [] if self.new_rs.is_some() => Some(Slot::New),
            [] => self.old.len().checked_sub(1).map(Slot::Old),
            [only] => Some(*only),
            _ => None,
        };
        if let Some(slot) = active_or_latest {
            if self.slot_replicas(slot) != self.replicas {
                self.scale_slot(slot, self.replicas);
            }
            return;
        }
        let saturated = self.new_rs.as_ref().is_some_and(|rs| {
            spec_replicas(rs) == self.replicas
                && annotation_number(rs, DESIRED_REPLICAS) == Some(self.replicas)
                && status_of(rs).2 == self.replicas
        });
        if saturated {
            for slot in active {
                if slot != Slot::New {
                    self.scale_slot(slot, 0);
                }
            }
            return;
        }
        if self.strategy.recreate {
            return;
        }
        let total: i32 = active.iter().map(|slot| self.slot_replicas(*slot)).sum();
        let allowed = if self.replicas > 0 {
            self.replicas.saturating_add(self.strategy.max_surge)
        } else {
            0
        };
        let to_add = allowed - total;
        let mut ordered = active;
        ordered.sort_by(|a, b| {
            let (ra, rb) = (self.slot(*a), self.slot(*b));
            let size = self.slot_replicas(*b).cmp(&self.slot_replicas(*a));
            let age = match (ra, rb) {
                (Some(x), Some(y)) => by_creation(x, y),
                _ => std::cmp::Ordering::Equal,
            };
            // Growing favours newer ReplicaSets on ties, shrinking older ones.
            size.then(if to_add > 0 { age.reverse() } else { age })
        });
        let mut added = 0;
        let mut sizes: Vec<(Slot, i32)> = Vec::new();
        for slot in &ordered {
            let current = self.slot_replicas(*slot);
            let share = if to_add != 0 {
                self.proportion(*slot, to_add, added)
            } else {
                0
            };
            added += share;
            sizes.push((*slot, current + share));
        }
        if to_add != 0
            && let Some(first) = sizes.first_mut()
        {
            first.1 = (first.1 + to_add - added).max(0);
        }
        for (slot, size) in sizes {
            let stale_annotation = self
                .slot(slot)
                .is_some_and(|rs| annotation_number(rs, DESIRED_REPLICAS) != Some(self.replicas));
            if size != self.slot_replicas(slot) || stale_annotation {
                self.scale_slot(slot, size);
            }
        }
    }

    /// `getProportion`: this ReplicaSet's share of the replicas being added (or removed).
    fn proportion(&self, slot: Slot, to_add: i32, added: i32) -> i32 {
        let current = self.slot_replicas(slot);
        if current == 0 || to_add == 0 || to_add == added {
            return 0;
        }
        let fraction = self.fraction(slot);
        let allowed = to_add - added;
        if to_add > 0 {
            fraction.min(allowed)
        } else {
            fraction.max(allowed)
        }
    }

    /// `getReplicaSetFraction`: how the ReplicaSet grows when the Deployment goes from the size
    /// recorded in its max-replicas annotation to replicas + maxSurge.
    fn fraction(&self, slot: Slot) -> i32 {
        let current = self.slot_replicas(slot);
        if self.replicas == 0 {
            return -current;
        }
        let target = self.replicas.saturating_add(self.strategy.max_surge);
        let annotated = self
            .slot(slot)
            .and_then(|rs| annotation_number(rs, MAX_REPLICAS))
            .unwrap_or_else(|| self.d.status.as_ref().and_then(|s| s.replicas).unwrap_or(0));
        if annotated <= 0 {
            return 0;
        }
        let size = (f64::from(current) * f64::from(target) / f64::from(annotated)).round();
        // The product of two i32 over a positive i32 always fits in i64; clamp into i32.
        let size = (size as i64).clamp(0, i64::from(i32::MAX));
        i32::try_from(size).unwrap_or(i32::MAX) - current
    }

    /// `reconcileOldReplicaSets`: scale old ReplicaSets down without dropping below
    /// replicas − maxUnavailable available pods, unhealthy ones first. Returns whether any
    /// ReplicaSet was scaled.
    fn reconcile_old_replica_sets(&mut self) -> bool {
        let old_total: i32 = self.old.iter().map(spec_replicas).sum();
        if old_total == 0 {
            return false;
        }
        let all_total = self.spec_total();
        let min_available = self.replicas - self.strategy.availability_budget(self.replicas);
        let new_unavailable = self
            .new_rs
            .as_ref()
            .map_or(0, |rs| spec_replicas(rs) - status_of(rs).2);
        let max_scaled_down = all_total - min_available - new_unavailable;
        if max_scaled_down <= 0 {
            return false;
        }
        // The old ReplicaSets are kept sorted oldest first.
        let mut scaled = 0;
        // Clean up unhealthy replicas first.
        for index in 0..self.old.len() {
            if scaled >= max_scaled_down {
                break;
            }
            let Some(rs) = self.old.get(index) else {
                continue;
            };
            let (current, available) = (spec_replicas(rs), status_of(rs).2);
            if current == 0 || current <= available {
                continue;
            }
            let down = (max_scaled_down - scaled).min(current - available);
            self.scale_old(index, current - down);
            scaled += down;
        }
        // Then scale down healthy replicas while availability allows.
        let available_total: i32 = self.all().map(|rs| status_of(rs).2).sum();
        let mut scaled_healthy = 0;
        if available_total > min_available {
            let budget = available_total - min_available;
            for index in 0..self.old.len() {
                if scaled_healthy >= budget {
                    break;
                }
                let current = self.old.get(index).map_or(0, spec_replicas);
                if current == 0 {
                    continue;
                }
                let down = current.min(budget - scaled_healthy);
                self.scale_old(index, current - down);
                scaled_healthy += down;
            }
        }
        scaled + scaled_healthy > 0
    }

    /// `cleanupDeployment`: delete the oldest fully scaled-down ReplicaSets beyond
    /// `revisionHistoryLimit`.
    fn cleanup(&mut self) {
        let limit = self
            .d
            .spec
            .as_ref()
            .and_then(|s| s.revision_history_limit)
            .unwrap_or(DEFAULT_HISTORY_LIMIT)
            .max(0);
        let mut alive: Vec<&ReplicaSet> = self
            .old
            .iter()
            .filter(|rs| rs.metadata.deletion_timestamp.is_none())
            .collect();
        let excess = alive.len().saturating_sub(usize::try_from(limit).unwrap_or(0));
        if excess == 0 {
            return;
        }
        alive.sort_by(|a, b| {
            revision_of(&a.metadata)
                .cmp(&revision_of(&b.metadata))
                .then_with(|| by_creation(a, b))
        });
        let mut deletions = Vec::new();
        for rs in alive.into_iter().take(excess) {
            let observed = rs.status.as_ref().and_then(|s| s.observed_generation);
            let settled = observed >= rs.metadata.generation;
            if status_of(rs).0 != 0 || spec_replicas(rs) != 0 || !settled {
                continue;
            }
            deletions.push(DeploymentAction::DeleteReplicaSet {
                name: rs_name(rs),
                uid: rs.metadata.uid.clone().unwrap_or_default(),
            });
        }
        self.actions.extend(deletions);
    }

    /// `checkPausedConditions`: Progressing Unknown with DeploymentPaused / DeploymentResumed.
    fn check_paused_conditions(&mut self) {
        if self.progress_deadline.is_none() {
            return;
        }
        let reason = self
            .conditions
            .iter()
            .find(|c| c.type_ == "Progressing")
            .and_then(|c| c.reason.clone());
        if reason.as_deref() == Some("ProgressDeadlineExceeded") {
            return;
        }
        let paused_cond = reason.as_deref() == Some("DeploymentPaused");
        let paused = self.d.spec.as_ref().and_then(|s| s.paused) == Some(true);
        if paused && !paused_cond {
            self.set_condition(
                "Progressing",
                "Unknown",
                "DeploymentPaused",
                "Deployment is paused".into(),
            );
        } else if !paused && paused_cond {
            self.set_condition(
                "Progressing",
                "Unknown",
                "DeploymentResumed",
                "Deployment is resumed".into(),
            );
        }
    }

    /// `SetDeploymentCondition`: no change when status and reason are the same; the transition
    /// time is kept while the status is unchanged; the condition moves to the end of the list.
    fn set_condition(&mut self, type_: &str, status: &str, reason: &str, message: String) {
        set_condition(&mut self.conditions, type_, status, reason, message, self.now);
    }

    /// `calculateStatus`.
    fn calculate_status(&mut self) -> DeploymentStatus {
        let (mut replicas, mut ready, mut available) = (0, 0, 0);
        for rs in self.all() {
            let (r, rd, av) = status_of(rs);
            replicas += r;
            ready += rd;
            available += av;
        }
        let updated = self.new_rs.as_ref().map_or(0, |rs| status_of(rs).0);
        let unavailable = (self.spec_total() - available).max(0);
        let min_available = self.replicas - self.strategy.availability_budget(self.replicas);
        if available >= min_available {
            self.set_condition(
                "Available",
                "True",
                "MinimumReplicasAvailable",
                "Deployment has minimum availability.".into(),
            );
        } else {
            self.set_condition(
                "Available",
                "False",
                "MinimumReplicasUnavailable",
                "Deployment does not have minimum availability.".into(),
            );
        }
        DeploymentStatus {
            observed_generation: self.d.metadata.generation,
            replicas: Some(replicas),
            updated_replicas: Some(updated),
            ready_replicas: Some(ready),
            available_replicas: Some(available),
            unavailable_replicas: Some(unavailable),
            terminating_replicas: None,
            collision_count: self.collision_count,
            conditions: Some(self.conditions.clone()),
        }
    }

    /// `syncRolloutStatus`: status plus the Progressing condition and the progress deadline.
    fn sync_rollout_status(mut self) -> DeploymentPlan {
        let mut status = self.calculate_status();
        let mut conditions = status.conditions.take().unwrap_or_default();
        let Some(deadline) = self.progress_deadline else {
            conditions.retain(|c| c.type_ != "Progressing");
            status.conditions = Some(conditions);
            return self.finish(status, None);
        };
        let previous = self.d.status.clone().unwrap_or_default();
        let current = conditions.iter().find(|c| c.type_ == "Progressing").cloned();
        let complete_already = status.replicas == status.updated_replicas
            && current
                .as_ref()
                .is_some_and(|c| c.reason.as_deref() == Some("NewReplicaSetAvailable"));
        let mut requeue = None;
        if !complete_already {
            let subject = match &self.new_rs {
                Some(rs) => format!("ReplicaSet \"{}\"", rs_name(rs)),
                None => format!("Deployment \"{}\"", self.name()),
            };
            let now = self.now;
            if deployment_complete(self.d, &status, self.replicas) {
                set_condition(
                    &mut conditions,
                    "Progressing",
                    "True",
                    "NewReplicaSetAvailable",
                    format!("{subject} has successfully progressed."),
                    now,
                );
            } else if deployment_progressing(&previous, &status) {
                let kept_transition = current
                    .as_ref()
                    .filter(|c| c.status == "True")
                    .and_then(|c| c.last_transition_time.clone());
                conditions.retain(|c| c.type_ != "Progressing");
                set_condition(
                    &mut conditions,
                    "Progressing",
                    "True",
                    "ReplicaSetUpdated",
                    format!("{subject} is progressing."),
                    now,
                );
                if let (Some(kept), Some(cond)) = (
                    kept_transition,
                    conditions.iter_mut().find(|c| c.type_ == "Progressing"),
                ) {
                    cond.last_transition_time = Some(kept);
                }
            } else if timed_out(&conditions, deadline, now) {
                set_condition(
                    &mut conditions,
                    "Progressing",
                    "False",
                    "ProgressDeadlineExceeded",
                    format!("{subject} has timed out progressing."),
                    now,
                );
            }
            // `requeueStuckDeployment`: look again when the deadline would pass.
            let old_cond = previous
                .conditions
                .iter()
                .flatten()
                .find(|c| c.type_ == "Progressing");
            if let Some(old_cond) = old_cond
                && !deployment_complete(self.d, &status, self.replicas)
                && old_cond.reason.as_deref() != Some("ProgressDeadlineExceeded")
            {
                let from = old_cond.last_update_time.as_ref().map_or(now, |t| t.0);
                let due = util::add_secs(from, i64::from(deadline));
                let after = now.duration_until(due);
                requeue = Some(if after < SignedDuration::from_secs(1) {
                    SignedDuration::ZERO
                } else {
                    after + SignedDuration::from_secs(1)
                });
            }
        }
        status.conditions = Some(conditions);
        self.finish(status, requeue)
    }

    fn finish(self, status: DeploymentStatus, requeue_after: Option<SignedDuration>) -> DeploymentPlan {
        let current = self
            .d
            .metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get(REVISION))
            .cloned();
        let revision = self
            .new_rs
            .as_ref()
            .map(|rs| revision_of(&rs.metadata).to_string())
            .filter(|r| current.as_ref() != Some(r));
        DeploymentPlan {
            actions: self.actions,
            status,
            revision,
            requeue_after,
        }
    }
}

fn set_replicas(rs: &mut ReplicaSet, replicas: i32, annotations: &BTreeMap<String, String>) {
    rs.spec.get_or_insert_with(ReplicaSetSpec::default).replicas = Some(replicas);
    rs.metadata
        .annotations
        .get_or_insert_with(BTreeMap::new)
        .extend(annotations.clone());
}

fn set_condition(
    conditions: &mut Vec<DeploymentCondition>,
    type_: &str,
    status: &str,
    reason: &str,
    message: String,
    now: Timestamp,
) {
    let current = conditions.iter().find(|c| c.type_ == type_);
    if current.is_some_and(|c| c.status == status && c.reason.as_deref() == Some(reason)) {
        return;
    }
    let transition = current
        .filter(|c| c.status == status)
        .and_then(|c| c.last_transition_time.clone())
        .unwrap_or_else(|| util::time(now));
    conditions.retain(|c| c.type_ != type_);
    conditions.push(DeploymentCondition {
        type_: type_.to_string(),
        status: status.to_string(),
        reason: Some(reason.to_string()),
        message: Some(message),
        last_update_time: Some(util::time(now)),
        last_transition_time: Some(transition),
    });
}

/// `DeploymentComplete`: every replica updated and available, and the spec observed.
fn deployment_complete(d: &Deployment, status: &DeploymentStatus, replicas: i32) -> bool {
    status.updated_replicas.unwrap_or(0) == replicas
        && status.replicas.unwrap_or(0) == replicas
        && status.available_replicas.unwrap_or(0) == replicas
        && status.observed_generation >= d.metadata.generation
}

/// `DeploymentProgressing`: more updated, fewer old, more ready or more available pods than
/// the last written status.
fn deployment_progressing(old: &DeploymentStatus, new: &DeploymentStatus) -> bool {
    let v = |x: Option<i32>| x.unwrap_or(0);
    let old_old = v(old.replicas) - v(old.updated_replicas);
    let new_old = v(new.replicas) - v(new.updated_replicas);
    v(new.updated_replicas) > v(old.updated_replicas)
        || new_old < old_old
        || v(new.ready_replicas) > v(old.ready_replicas)
        || v(new.available_replicas) > v(old.available_replicas)
}

/// `DeploymentTimedOut`: the Progressing condition was last updated longer ago than the deadline.
fn timed_out(conditions: &[DeploymentCondition], deadline: i32, now: Timestamp) -> bool {
    let Some(cond) = conditions.iter().find(|c| c.type_ == "Progressing") else {
        return false;
    };
    match cond.reason.as_deref() {
        Some("NewReplicaSetAvailable") => false,
        Some("ProgressDeadlineExceeded") => true,
        _ => cond
            .last_update_time
            .as_ref()
            .is_some_and(|t| util::add_secs(t.0, i64::from(deadline)) < now),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::at;
    use k8s_openapi::api::apps::v1::{
        DeploymentSpec, DeploymentStrategy, ReplicaSetStatus, RollingUpdateDeployment,
    };
    use k8s_openapi::api::core::v1::{Container, PodSpec};

    fn deployment(replicas: i32, image: &str, strategy: DeploymentStrategy) -> Deployment {
        Deployment {
            metadata: ObjectMeta {
                name: Some("web".into()),
                namespace: Some("default".into()),
                uid: Some("d-uid".into()),
                generation: Some(1),
                ..ObjectMeta::default()
            },
            spec: Some(DeploymentSpec {
                replicas: Some(replicas),
                selector: LabelSelector {
                    match_labels: Some([("app".into(), "web".into())].into()),
                    ..LabelSelector::default()
                },
                template: PodTemplateSpec {
                    metadata: Some(ObjectMeta {
                        labels: Some([("app".into(), "web".into())].into()),
                        ..ObjectMeta::default()
                    }),
                    spec: Some(PodSpec {
                        containers: vec![Container {
                            name: "app".into(),
                            image: Some(image.into()),
                            ..Container::default()
                        }],
                        ..PodSpec::default()
                    }),
                },
                strategy: Some(strategy),
                ..DeploymentSpec::default()
            }),
            status: None,
        }
    }

    fn rolling(surge: IntOrString, unavailable: IntOrString) -> DeploymentStrategy {
        DeploymentStrategy {
            type_: Some("RollingUpdate".into()),
            rolling_update: Some(RollingUpdateDeployment {
                max_surge: Some(surge),
                max_unavailable: Some(unavailable),
            }),
        }
    }

    fn recreate() -> DeploymentStrategy {
        DeploymentStrategy {
            type_: Some("Recreate".into()),
            rolling_update: None,
        }
    }

    fn int(n: i32) -> IntOrString {
        IntOrString::Int(n)
    }
    fn pct(text: &str) -> IntOrString {
        IntOrString::String(text.into())
    }

    /// Applies the plan's ReplicaSet actions to an in-memory list, as the API server would.
    fn apply(rses: &mut Vec<ReplicaSet>, d: &mut Deployment, plan: &DeploymentPlan, uid_seq: &mut u32) {
        for action in &plan.actions {
            match action {
                DeploymentAction::CreateReplicaSet(rs) => {
                    let mut rs = (**rs).clone();
                    *uid_seq += 1;
                    rs.metadata.uid = Some(format!("rs-{uid_seq}"));
                    rs.metadata.creation_timestamp = Some(util::time(at(i64::from(*uid_seq))));
                    rses.push(rs);
                }
                DeploymentAction::UpdateReplicaSet {
                    name,
                    replicas,
                    annotations,
                    min_ready_seconds,
                } => {
                    let rs = rses
                        .iter_mut()
                        .find(|r| r.metadata.name.as_ref() == Some(name))
                        .unwrap();
                    let spec = rs.spec.get_or_insert_with(ReplicaSetSpec::default);
                    if let Some(n) = replicas {
                        spec.replicas = Some(*n);
                    }
                    if let Some(m) = min_ready_seconds {
                        spec.min_ready_seconds = Some(*m);
                    }
                    rs.metadata
                        .annotations
                        .get_or_insert_with(BTreeMap::new)
                        .extend(annotations.clone());
                }
                DeploymentAction::DeleteReplicaSet { name, .. } => {
                    rses.retain(|r| r.metadata.name.as_ref() != Some(name));
                }
            }
        }
        d.status = Some(plan.status.clone());
        if let Some(revision) = &plan.revision {
            d.metadata
                .annotations
                .get_or_insert_with(BTreeMap::new)
                .insert(REVISION.into(), revision.clone());
        }
    }

    /// The ReplicaSet controller and kubelet in one step: pods that existed last step are now
    /// available, new ones exist but are not yet available.
    fn settle(rses: &mut [ReplicaSet], become_available: bool) {
        for rs in rses {
            let spec = spec_replicas(rs);
            let previous = rs.status.clone().unwrap_or_default();
            let available = if become_available {
                spec.min(previous.replicas)
            } else {
                spec.min(previous.available_replicas.unwrap_or(0))
            };
            rs.status = Some(ReplicaSetStatus {
                replicas: spec,
                ready_replicas: Some(available),
                available_replicas: Some(available),
                observed_generation: rs.metadata.generation,
                ..ReplicaSetStatus::default()
            });
        }
    }

    fn condition<'a>(status: &'a DeploymentStatus, type_: &str) -> &'a DeploymentCondition {
        status
            .conditions
            .as_ref()
            .unwrap()
            .iter()
            .find(|c| c.type_ == type_)
            .unwrap()
    }

    /// Rolls `d` out from scratch to completion and returns the ReplicaSets.
    fn roll_out(d: &mut Deployment, rses: &mut Vec<ReplicaSet>, seq: &mut u32) {
        for step in 0..50 {
            let plan = plan(d, rses, &[], at(step)).unwrap();
            apply(rses, d, &plan, seq);
            settle(rses, true);
            if plan.actions.is_empty()
                && condition(&plan.status, "Progressing").reason.as_deref() == Some("NewReplicaSetAvailable")
            {
                return;
            }
        }
        panic!("rollout did not finish");
    }

    #[test]
    fn surge_rounds_up_and_unavailable_rounds_down() {
        let cases = [
            (10, pct("25%"), pct("25%"), 3, 2),
            (1, pct("25%"), pct("25%"), 1, 0),
            (3, int(0), int(0), 0, 1),
            (4, pct("0%"), pct("10%"), 0, 1),
            (5, int(2), pct("50%"), 2, 2),
        ];
        for (replicas, surge, unavailable, want_surge, want_unavailable) in cases {
            let d = deployment(replicas, "nginx:1", rolling(surge.clone(), unavailable.clone()));
            let got = strategy(&d, replicas).unwrap();
            assert_eq!(
                (got.max_surge, got.max_unavailable),
                (want_surge, want_unavailable),
                "{replicas} {surge:?} {unavailable:?}"
            );
        }
        let d = deployment(3, "nginx:1", rolling(pct("x"), int(1)));
        let err = plan(&d, &[], &[], at(0)).unwrap_err().to_string();
        assert!(err.contains("maxSurge") && err.contains("default/web"), "{err}");
    }

    #[test]
    fn first_sync_creates_hashed_replica_set_with_revision_one() {
        let d = deployment(3, "nginx:1", rolling(pct("25%"), pct("25%")));
        let plan = plan(&d, &[], &[], at(0)).unwrap();
        let [DeploymentAction::CreateReplicaSet(rs)] = plan.actions.as_slice() else {
            panic!("expected one creation: {:?}", plan.actions);
        };
        let hash = util::pod_template_hash(&d.spec.as_ref().unwrap().template, None);
        assert_eq!(rs.metadata.name.as_deref(), Some(format!("web-{hash}").as_str()));
        let spec = rs.spec.as_ref().unwrap();
        assert_eq!(spec.replicas, Some(3));
        assert_eq!(
            spec.selector
                .match_labels
                .as_ref()
                .unwrap()
                .get(POD_TEMPLATE_HASH),
            Some(&hash)
        );
        let template_labels = spec
            .template
            .as_ref()
            .unwrap()
            .metadata
            .as_ref()
            .unwrap()
            .labels
            .as_ref()
            .unwrap();
        assert_eq!(template_labels.get(POD_TEMPLATE_HASH), Some(&hash));
        assert_eq!(
            rs.metadata.labels.as_ref().unwrap().get(POD_TEMPLATE_HASH),
            Some(&hash)
        );
        let annotations = rs.metadata.annotations.as_ref().unwrap();
        assert_eq!(annotations.get(REVISION).map(String::as_str), Some("1"));
        assert_eq!(annotations.get(DESIRED_REPLICAS).map(String::as_str), Some("3"));
        assert_eq!(annotations.get(MAX_REPLICAS).map(String::as_str), Some("4"));
        let owner = &rs.metadata.owner_references.as_ref().unwrap()[0];
        assert_eq!(
            (owner.kind.as_str(), owner.controller, owner.block_owner_deletion),
            ("Deployment", Some(true), Some(true))
        );
        assert_eq!(plan.revision.as_deref(), Some("1"));
        let progressing = condition(&plan.status, "Progressing");
        assert_eq!(progressing.reason.as_deref(), Some("NewReplicaSetCreated"));
        assert_eq!(
            progressing.message,
            Some(format!("Created new replica set \"web-{hash}\""))
        );
        let available = condition(&plan.status, "Available");
        assert_eq!(
            (available.status.as_str(), available.reason.as_deref()),
            ("False", Some("MinimumReplicasUnavailable"))
        );
        assert_eq!(
            available.message.as_deref(),
            Some("Deployment does not have minimum availability.")
        );
    }

    #[test]
    fn rolling_update_respects_surge_and_unavailability_bounds() {
        let cases = [
            (4, pct("25%"), pct("25%")),
            (10, pct("25%"), pct("25%")),
            (3, int(1), int(0)),
            (3, int(0), int(1)),
            (5, pct("100%"), int(0)),
            (1, int(0), int(1)),
        ];
        for (replicas, surge, unavailable) in cases {
            let label = format!("{replicas} {surge:?} {unavailable:?}");
            let mut d = deployment(replicas, "nginx:1", rolling(surge.clone(), unavailable.clone()));
            let resolved = strategy(&d, replicas).unwrap();
            let (mut rses, mut seq) = (Vec::new(), 0);
            roll_out(&mut d, &mut rses, &mut seq);
            let first = rses[0].metadata.name.clone();
            // Change the image: roll to a second ReplicaSet.
            d.spec
                .as_mut()
                .unwrap()
                .template
                .spec
                .as_mut()
                .unwrap()
                .containers[0]
                .image = Some("nginx:2".into());
            d.metadata.generation = Some(2);
            let mut finished = false;
            for step in 100..200 {
                let plan = plan(&d, &rses, &[], at(step)).unwrap();
                apply(&mut rses, &mut d, &plan, &mut seq);
                let total: i32 = rses.iter().map(spec_replicas).sum();
                assert!(
                    total <= replicas + resolved.max_surge,
                    "{label}: {total} pods at step {step}"
                );
                settle(&mut rses, step % 2 == 0);
                let available: i32 = rses.iter().map(|rs| status_of(rs).2).sum();
                assert!(
                    available >= replicas - resolved.max_unavailable,
                    "{label}: {available} available at step {step}"
                );
                if condition(&plan.status, "Progressing").reason.as_deref() == Some("NewReplicaSetAvailable")
                {
                    finished = true;
                    break;
                }
            }
            assert!(finished, "{label}: rollout did not finish");
            let old = rses.iter().find(|r| r.metadata.name == first).unwrap();
            assert_eq!(spec_replicas(old), 0, "{label}");
            let new = rses.iter().find(|r| r.metadata.name != first).unwrap();
            assert_eq!(spec_replicas(new), replicas, "{label}");
            assert_eq!(
                new.metadata
                    .annotations
                    .as_ref()
                    .unwrap()
                    .get(REVISION)
                    .map(String::as_str),
                Some("2")
            );
            let status = d.status.as_ref().unwrap();
            let progressing = condition(status, "Progressing");
            assert_eq!(
                progressing.message,
                Some(format!(
                    "ReplicaSet \"{}\" has successfully progressed.",
                    new.metadata.name.as_ref().unwrap()
                ))
            );
            let available = condition(status, "Available");
            assert_eq!(available.reason.as_deref(), Some("MinimumReplicasAvailable"));
            assert_eq!(
                available.message.as_deref(),
                Some("Deployment has minimum availability.")
            );
            assert_eq!(
                (
                    status.replicas,
                    status.updated_replicas,
                    status.available_replicas,
                    status.unavailable_replicas
                ),
                (Some(replicas), Some(replicas), Some(replicas), Some(0)),
                "{label}"
            );
            assert_eq!(
                d.metadata
                    .annotations
                    .as_ref()
                    .unwrap()
                    .get(REVISION)
                    .map(String::as_str),
                Some("2")
            );
        }
    }

    #[test]
    fn status_counts_come_from_replica_sets() {
        let mut d = deployment(4, "nginx:1", rolling(int(1), int(1)));
        d.metadata.generation = Some(7);
        let (mut rses, mut seq) = (Vec::new(), 0);
        let first = plan(&d, &rses, &[], at(0)).unwrap();
        apply(&mut rses, &mut d, &first, &mut seq);
        rses[0].status = Some(ReplicaSetStatus {
            replicas: 4,
            ready_replicas: Some(3),
            available_replicas: Some(2),
            ..ReplicaSetStatus::default()
        });
        let plan = plan(&d, &rses, &[], at(1)).unwrap();
        let s = &plan.status;
        assert_eq!(
            (
                s.replicas,
                s.updated_replicas,
                s.ready_replicas,
                s.available_replicas,
                s.unavailable_replicas,
                s.observed_generation
            ),
            (Some(4), Some(4), Some(3), Some(2), Some(2), Some(7))
        );
        // 2 available < 4 - 1: not minimally available; progress was made: ReplicaSetUpdated.
        assert_eq!(condition(s, "Available").status, "False");
        let progressing = condition(s, "Progressing");
        assert_eq!(progressing.reason.as_deref(), Some("ReplicaSetUpdated"));
        let name = rses[0].metadata.name.clone().unwrap();
        assert_eq!(
            progressing.message,
            Some(format!("ReplicaSet \"{name}\" is progressing."))
        );
    }

    #[test]
    fn stuck_rollout_exceeds_progress_deadline() {
        let mut d = deployment(2, "nginx:1", rolling(pct("25%"), pct("25%")));
        d.spec.as_mut().unwrap().progress_deadline_seconds = Some(60);
        let (mut rses, mut seq) = (Vec::new(), 0);
        let first = plan(&d, &rses, &[], at(0)).unwrap();
        apply(&mut rses, &mut d, &first, &mut seq);
        // Pods exist but never become available (unpullable image).
        settle(&mut rses, false);
        let name = rses[0].metadata.name.clone().unwrap();
        let cases = [
            // The pods appeared: progress, and the deadline clock restarts at 1s.
            (
                1,
                "True",
                "ReplicaSetUpdated",
                format!("ReplicaSet \"{name}\" is progressing."),
            ),
            // Nothing changed since: the condition (and its update time) stays.
            (
                30,
                "True",
                "ReplicaSetUpdated",
                format!("ReplicaSet \"{name}\" is progressing."),
            ),
            (
                62,
                "False",
                "ProgressDeadlineExceeded",
                format!("ReplicaSet \"{name}\" has timed out progressing."),
            ),
            (
                90,
                "False",
                "ProgressDeadlineExceeded",
                format!("ReplicaSet \"{name}\" has timed out progressing."),
            ),
        ];
        let mut requeues = Vec::new();
        for (secs, status, reason, message) in cases {
            let plan = plan(&d, &rses, &[], at(secs)).unwrap();
            let progressing = condition(&plan.status, "Progressing");
            assert_eq!(
                (progressing.status.as_str(), progressing.reason.as_deref()),
                (status, Some(reason)),
                "at {secs}"
            );
            assert_eq!(progressing.message.as_deref(), Some(message.as_str()));
            requeues.push(plan.requeue_after);
            apply(&mut rses, &mut d, &plan, &mut seq);
        }
        // At 30s the deadline (last progress at 1s + 60s) is 31s away: look again just after it.
        assert_eq!(requeues[1], Some(SignedDuration::from_secs(32)));
        // Once timed out there is nothing to wait for.
        assert_eq!(requeues[3], None);
        assert_eq!(
            condition(d.status.as_ref().unwrap(), "Available")
                .reason
                .as_deref(),
            Some("MinimumReplicasUnavailable")
        );
    }

    #[test]
    fn recreate_scales_old_down_waits_for_pods_then_creates_new() {
        let mut d = deployment(3, "nginx:1", recreate());
        let (mut rses, mut seq) = (Vec::new(), 0);
        roll_out(&mut d, &mut rses, &mut seq);
        d.spec
            .as_mut()
            .unwrap()
            .template
            .spec
            .as_mut()
            .unwrap()
            .containers[0]
            .image = Some("nginx:2".into());
        // Step 1: old scaled to zero, nothing new yet.
        let p1 = plan(&d, &rses, &[], at(10)).unwrap();
        assert!(
            matches!(
                p1.actions.as_slice(),
                [DeploymentAction::UpdateReplicaSet {
                    replicas: Some(0),
                    ..
                }]
            ),
            "{:?}",
            p1.actions
        );
        apply(&mut rses, &mut d, &p1, &mut seq);
        // Step 2: the old ReplicaSet still reports pods: wait.
        let p2 = plan(&d, &rses, &[], at(11)).unwrap();
        assert!(p2.actions.is_empty(), "{:?}", p2.actions);
        // Step 3: status says zero but a pod of the old ReplicaSet is still running: wait.
        settle(&mut rses, true);
        let mut running = crate::testutil::pod("old-pod", crate::testutil::PodState::ready_at(0));
        running.metadata.owner_references = Some(vec![util::controller_ref(
            "apps/v1",
            "ReplicaSet",
            &rses[0].metadata,
        )]);
        let p3 = plan(&d, &rses, std::slice::from_ref(&running), at(12)).unwrap();
        assert!(p3.actions.is_empty(), "{:?}", p3.actions);
        // Step 4: the pod has terminated: create the new ReplicaSet at full size.
        let p4 = plan(&d, &rses, &[], at(13)).unwrap();
        let [DeploymentAction::CreateReplicaSet(rs)] = p4.actions.as_slice() else {
            panic!("{:?}", p4.actions);
        };
        assert_eq!(rs.spec.as_ref().unwrap().replicas, Some(3));
        assert_eq!(
            rs.metadata
                .annotations
                .as_ref()
                .unwrap()
                .get(MAX_REPLICAS)
                .map(String::as_str),
            Some("3")
        );
    }

    #[test]
    fn paused_deployment_scales_but_does_not_roll_out() {
        let mut d = deployment(2, "nginx:1", rolling(int(1), int(0)));
        let (mut rses, mut seq) = (Vec::new(), 0);
        roll_out(&mut d, &mut rses, &mut seq);
        let spec = d.spec.as_mut().unwrap();
        spec.paused = Some(true);
        spec.replicas = Some(5);
        spec.template.spec.as_mut().unwrap().containers[0].image = Some("nginx:2".into());
        let paused = plan(&d, &rses, &[], at(20)).unwrap();
        assert!(
            matches!(
                paused.actions.as_slice(),
                [DeploymentAction::UpdateReplicaSet {
                    replicas: Some(5),
                    ..
                }]
            ),
            "{:?}",
            paused.actions
        );
        let progressing = condition(&paused.status, "Progressing");
        assert_eq!(
            (
                progressing.status.as_str(),
                progressing.reason.as_deref(),
                progressing.message.as_deref()
            ),
            ("Unknown", Some("DeploymentPaused"), Some("Deployment is paused"))
        );
        apply(&mut rses, &mut d, &paused, &mut seq);
        d.spec.as_mut().unwrap().paused = Some(false);
        let resumed = plan(&d, &rses, &[], at(21)).unwrap();
        assert!(
            resumed
                .actions
                .iter()
                .any(|a| matches!(a, DeploymentAction::CreateReplicaSet(_)))
        );
        let progressing = condition(&resumed.status, "Progressing");
        // Resumed, then the new ReplicaSet's creation is recorded in the same sync.
        assert_eq!(progressing.reason.as_deref(), Some("NewReplicaSetCreated"));
    }

    #[test]
    fn resuming_without_template_change_reports_resumed() {
        let mut d = deployment(2, "nginx:1", rolling(int(1), int(0)));
        let (mut rses, mut seq) = (Vec::new(), 0);
        roll_out(&mut d, &mut rses, &mut seq);
        d.spec.as_mut().unwrap().paused = Some(true);
        let paused = plan(&d, &rses, &[], at(20)).unwrap();
        apply(&mut rses, &mut d, &paused, &mut seq);
        d.spec.as_mut().unwrap().paused = Some(false);
        let resumed = plan(&d, &rses, &[], at(21)).unwrap();
        let progressing = condition(&resumed.status, "Progressing");
        // DeploymentComplete holds, so the condition returns to NewReplicaSetAvailable.
        assert_eq!(progressing.reason.as_deref(), Some("NewReplicaSetAvailable"));
        assert!(resumed.actions.is_empty(), "{:?}", resumed.actions);
    }

    /// A rollout of `replicas` pods (maxSurge 1, maxUnavailable 0) interrupted right after the
    /// new ReplicaSet got its first (surge) pod: the Deployment, its ReplicaSets, the uid counter.
    fn mid_rollout(replicas: i32) -> (Deployment, Vec<ReplicaSet>, u32) {
        let mut d = deployment(replicas, "v1", rolling(int(1), int(0)));
        let (mut rses, mut seq) = (Vec::new(), 0);
        roll_out(&mut d, &mut rses, &mut seq);
        d.spec
            .as_mut()
            .unwrap()
            .template
            .spec
            .as_mut()
            .unwrap()
            .containers[0]
            .image = Some("v2".into());
        let step = plan(&d, &rses, &[], at(100)).unwrap();
        apply(&mut rses, &mut d, &step, &mut seq);
        settle(&mut rses, false);
        (d, rses, seq)
    }

    fn sizes(rses: &[ReplicaSet]) -> Vec<(i64, i32)> {
        let mut out: Vec<(i64, i32)> = rses
            .iter()
            .map(|r| (revision_of(&r.metadata), spec_replicas(r)))
            .collect();
        out.sort();
        out
    }

    #[test]
    fn scaling_mid_rollout_is_proportional() {
        // (new spec.replicas, want (revision, size) after one sync)
        let cases = [
            // +3 over 3:1 with max-replicas 4 -> 7 allowed: old 3*7/4=5.25->5, new 1*7/4=1.75->2.
            (6, vec![(1, 5), (2, 2)]),
            // -2: old 3*2/4=1.5->2 (-1), new 0.5->1 (0), leftover -1 to the largest (old).
            (1, vec![(1, 1), (2, 1)]),
            // Scaling to zero empties every ReplicaSet.
            (0, vec![(1, 0), (2, 0)]),
        ];
        for (target, want) in cases {
            let (mut d, mut rses, mut seq) = mid_rollout(3);
            assert_eq!(sizes(&rses), vec![(1, 3), (2, 1)]);
            d.spec.as_mut().unwrap().replicas = Some(target);
            let step = plan(&d, &rses, &[], at(200)).unwrap();
            assert!(
                step.actions
                    .iter()
                    .all(|a| !matches!(a, DeploymentAction::CreateReplicaSet(_)))
            );
            apply(&mut rses, &mut d, &step, &mut seq);
            assert_eq!(sizes(&rses), want, "scale to {target}");
            for rs in &rses {
                assert_eq!(annotation_number(rs, DESIRED_REPLICAS), Some(target));
            }
        }
    }

    #[test]
    fn scaling_a_finished_deployment_resizes_its_only_replica_set() {
        let mut d = deployment(3, "v1", rolling(int(1), int(0)));
        let (mut rses, mut seq) = (Vec::new(), 0);
        roll_out(&mut d, &mut rses, &mut seq);
        d.spec.as_mut().unwrap().replicas = Some(5);
        let step = plan(&d, &rses, &[], at(100)).unwrap();
        assert!(
            matches!(
                step.actions.as_slice(),
                [DeploymentAction::UpdateReplicaSet {
                    replicas: Some(5),
                    ..
                }]
            ),
            "{:?}",
            step.actions
        );
    }

    #[test]
    fn history_beyond_limit_is_deleted_oldest_revision_first() {
        let mut d = deployment(1, "v0", rolling(int(1), int(0)));
        d.spec.as_mut().unwrap().revision_history_limit = Some(2);
        let (mut rses, mut seq) = (Vec::new(), 0);
        for version in 0..5 {
            d.spec
                .as_mut()
                .unwrap()
                .template
                .spec
                .as_mut()
                .unwrap()
                .containers[0]
                .image = Some(format!("v{version}"));
            roll_out(&mut d, &mut rses, &mut seq);
        }
        // Four old ReplicaSets existed; cleanup happened as each rollout completed.
        let mut revisions: Vec<i64> = rses.iter().map(|r| revision_of(&r.metadata)).collect();
        revisions.sort();
        assert_eq!(revisions, vec![3, 4, 5]);
    }

    #[test]
    fn rolling_back_to_an_old_template_bumps_its_revision() {
        let mut d = deployment(1, "v1", rolling(int(1), int(0)));
        let (mut rses, mut seq) = (Vec::new(), 0);
        roll_out(&mut d, &mut rses, &mut seq);
        d.spec
            .as_mut()
            .unwrap()
            .template
            .spec
            .as_mut()
            .unwrap()
            .containers[0]
            .image = Some("v2".into());
        roll_out(&mut d, &mut rses, &mut seq);
        d.spec
            .as_mut()
            .unwrap()
            .template
            .spec
            .as_mut()
            .unwrap()
            .containers[0]
            .image = Some("v1".into());
        let plan = plan(&d, &rses, &[], at(300)).unwrap();
        let bump = plan.actions.iter().find_map(|a| match a {
            DeploymentAction::UpdateReplicaSet {
                annotations,
                replicas: None,
                ..
            } => Some(annotations.clone()),
            _ => None,
        });
        let bump = bump.expect("revision bump");
        assert_eq!(bump.get(REVISION).map(String::as_str), Some("3"));
        assert_eq!(bump.get(REVISION_HISTORY).map(String::as_str), Some("1"));
        assert_eq!(plan.revision.as_deref(), Some("3"));
    }

    #[test]
    fn name_collision_bumps_collision_count() {
        let d = deployment(1, "nginx:1", rolling(int(1), int(0)));
        let hash = util::pod_template_hash(&d.spec.as_ref().unwrap().template, None);
        let squatter = ReplicaSet {
            metadata: ObjectMeta {
                name: Some(format!("web-{hash}")),
                namespace: Some("default".into()),
                uid: Some("other".into()),
                ..ObjectMeta::default()
            },
            spec: None,
            status: None,
        };
        let plan = plan(&d, &[squatter], &[], at(0)).unwrap();
        assert!(plan.actions.is_empty(), "{:?}", plan.actions);
        assert_eq!(plan.status.collision_count, Some(1));
        assert_eq!(plan.requeue_after, Some(SignedDuration::ZERO));
        let mut next = d.clone();
        next.status = Some(plan.status.clone());
        let retry = super::plan(&next, &[], &[], at(1)).unwrap();
        let [DeploymentAction::CreateReplicaSet(rs)] = retry.actions.as_slice() else {
            panic!("{:?}", retry.actions);
        };
        assert_ne!(rs.metadata.name, Some(format!("web-{hash}")));
    }
}
