//! One reconcile round as data (reference §2): revisions, Scale (§2.4) or Update (§2.6), status (§1.2),
//! podsToDelete truncation and history truncation. The reconciler executes the plan in field order.

use std::collections::{BTreeMap, BTreeSet};

use ferry_types::kruise::{
    CloneSet, CloneSetStatus, LifecycleHook, UPDATE_IN_PLACE_IF_POSSIBLE, UPDATE_IN_PLACE_ONLY,
};
use k8s_openapi::api::apps::v1::ControllerRevision;
use k8s_openapi::api::core::v1::{PersistentVolumeClaim, Pod, PodTemplateSpec};
use k8s_openapi::jiff::Timestamp;
use serde_json::{Map, Value};

use crate::diffs::{self, Diffs};
use crate::inplace::{self, GraceOutcome};
use crate::labels::{
    INPLACE_UPDATE_READY, INSTANCE_ID_LABEL, KRUISE_POD_READY, LIFECYCLE_STATE_LABEL,
    LIFECYCLE_TIMESTAMP_ANNOTATION, POD_TEMPLATE_HASH_LABEL, SPECIFIED_DELETE_LABEL, state,
};
use crate::pod::{self, IdGenerator, rfc3339};
use crate::podutil;
use crate::revision::{self, ResolvedRevisions, RevisionAction, RevisionError};
use crate::selector;
use crate::sort;
use crate::status;

/// What the planner needs: a snapshot of the CloneSet and the objects it owns.
#[derive(Debug, Clone, Copy)]
pub struct PlanInput<'a> {
    /// The CloneSet (defaulted by admission).
    pub cloneset: &'a CloneSet,
    /// Pods whose controller ownerRef is this CloneSet, in any phase.
    pub pods: &'a [Pod],
    /// PVCs owned by this CloneSet.
    pub pvcs: &'a [PersistentVolumeClaim],
    /// ControllerRevisions matching the selector (owned or ownerless).
    pub revisions: &'a [ControllerRevision],
    /// The current time.
    pub now: Timestamp,
    /// Seed for new instance ids (random in production, fixed in tests).
    pub id_seed: u64,
}

/// Why a pod is written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PodWriteReason {
    /// InPlaceUpdateReady set to True (update finished, or a new pod).
    InPlaceUpdateReady,
    /// A grace period ended (images patched) or a stale grace annotation was dropped.
    GraceFinished,
    /// Lifecycle state moved to the given state.
    Lifecycle(String),
    /// The missing `pod-template-hash` label was added.
    TemplateHashLabel,
    /// An in-place update started towards the given revision.
    InPlaceUpdate(String),
    /// Marked `apps.kruise.io/specified-delete` so it is recreated at the given revision.
    Recreate(String),
}

/// A pod to write: first its status (when `status_changed`), then the object (when `object_changed`).
#[derive(Debug, Clone, PartialEq)]
pub struct PodWrite {
    /// Pod name.
    pub name: String,
    /// What changed, in order.
    pub reasons: Vec<PodWriteReason>,
    /// Conditions changed: write `/status`.
    pub status_changed: bool,
    /// Labels, annotations, finalizers or spec changed: update the pod.
    pub object_changed: bool,
    /// The desired pod.
    pub pod: Pod,
}

/// A pod to delete together with the PVCs of its instance id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodDeletion {
    /// Pod name.
    pub name: String,
    /// Pod UID (a precondition for the DELETE).
    pub uid: Option<String>,
    /// Names of the PVCs with the same instance id.
    pub pvcs: Vec<String>,
}

/// Hand a PVC over to the (terminated) pod of its instance id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PvcReown {
    /// PVC name.
    pub pvc: String,
    /// Pod name.
    pub pod: String,
    /// Pod UID for the new ownerReference.
    pub pod_uid: String,
}

/// Reference §2 step 4 (`disablePVCReuse`): PVCs of inactive pods are re-owned to the pod; PVCs whose
/// instance id has no pod are deleted.
fn pvcs_without_reuse(pods: &[Pod], pvcs: &[PersistentVolumeClaim]) -> (Vec<PvcReown>, Vec<String>) {
    let mut reown = Vec::new();
    let mut delete = Vec::new();
    for claim in pvcs {
        let Some(name) = claim.metadata.name.clone() else {
            continue;
        };
        let Some(id) = claim
            .metadata
            .labels
            .as_ref()
            .and_then(|l| l.get(INSTANCE_ID_LABEL))
        else {
            continue;
        };
        let owners: Vec<&Pod> = pods
            .iter()
            .filter(|p| podutil::label(p, INSTANCE_ID_LABEL) == Some(id.as_str()))
            .collect();
        if owners.is_empty() {
            delete.push(name);
        } else if !owners.iter().any(|p| podutil::is_active(p))
            && let Some(inactive) = owners.first()
        {
            let already = claim
                .metadata
                .owner_references
                .iter()
                .flatten()
                .any(|r| Some(&r.uid) == inactive.metadata.uid.as_ref());
            if !already {
                reown.push(PvcReown {
                    pvc: name,
                    pod: podutil::name(inactive).to_string(),
                    pod_uid: inactive.metadata.uid.clone().unwrap_or_default(),
                });
            }
        }
    }
    (reown, delete)
}

/// An event to record on the CloneSet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedEvent {
    /// `Normal` or `Warning`.
    pub type_: &'static str,
    /// Reason, e.g. `SuccessfulCreate`.
    pub reason: &'static str,
    /// Message.
    pub message: String,
}

/// The result of planning one round.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    /// Make the update revision exist (create or renumber) before anything else.
    pub revision_action: RevisionAction,
    /// Name of the update revision.
    pub update_revision: String,
    /// Name of the current revision.
    pub current_revision: String,
    /// Owned pods that no longer match the selector: remove their controller ownerRef.
    pub released_pods: Vec<String>,
    /// With `disablePVCReuse`: PVCs of terminated pods get that pod as their owner (so they go with it).
    pub pvcs_to_reown: Vec<PvcReown>,
    /// With `disablePVCReuse`: PVCs whose instance id has no pod at all.
    pub pvcs_to_delete: Vec<String>,
    /// PVCs to create before the pods.
    pub pvcs_to_create: Vec<PersistentVolumeClaim>,
    /// Pods to create (the reconciler batches them 1, 2, 4, … and stops at the first failing batch).
    pub pods_to_create: Vec<Pod>,
    /// Pods to write, in order.
    pub pod_writes: Vec<PodWrite>,
    /// Pods to delete.
    pub pods_to_delete: Vec<PodDeletion>,
    /// Events to record.
    pub events: Vec<PlannedEvent>,
    /// The computed status.
    pub status: CloneSetStatus,
    /// Whether the status must be written (upstream `inconsistentStatus`).
    pub write_status: bool,
    /// New `spec.scaleStrategy.podsToDelete` when names of vanished pods must be dropped.
    pub pods_to_delete_spec: Option<Vec<String>>,
    /// ControllerRevisions to delete (history beyond the limit).
    pub revisions_to_delete: Vec<String>,
    /// Requeue after this many seconds (minReadySeconds, grace periods).
    pub requeue_after_seconds: Option<i64>,
}

/// Errors that stop planning altogether.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    /// Revision resolution failed.
    #[error(transparent)]
    Revision(#[from] RevisionError),
}

struct Builder<'a> {
    cloneset: &'a CloneSet,
    now: Timestamp,
    resolved: ResolvedRevisions,
    writes: Vec<PodWrite>,
    creates: Vec<Pod>,
    pvc_creates: Vec<PersistentVolumeClaim>,
    deletes: Vec<PodDeletion>,
    events: Vec<PlannedEvent>,
    requeue: Option<i64>,
}

impl<'a> Builder<'a> {
    fn write_for(&mut self, pod: &Pod) -> &mut PodWrite {
        let name = podutil::name(pod).to_string();
        let position = match self.writes.iter().position(|w| w.name == name) {
            Some(position) => position,
            None => {
                self.writes.push(PodWrite {
                    name,
                    reasons: Vec::new(),
                    status_changed: false,
                    object_changed: false,
                    pod: pod.clone(),
                });
                self.writes.len() - 1
            }
        };
        &mut self.writes[position]
    }

    fn requeue_after(&mut self, seconds: i64) {
        if seconds > 0 {
            self.requeue = Some(self.requeue.map_or(seconds, |current| current.min(seconds)));
        }
    }

    fn event(&mut self, type_: &'static str, reason: &'static str, message: String) {
        self.events.push(PlannedEvent {
            type_,
            reason,
            message,
        });
    }

    fn lifecycle(&self) -> Option<&'a ferry_types::kruise::Lifecycle> {
        self.cloneset.spec.lifecycle.as_ref()
    }

    fn hook(
        &self,
        pick: fn(&ferry_types::kruise::Lifecycle) -> &Option<LifecycleHook>,
    ) -> Option<&'a LifecycleHook> {
        self.lifecycle().and_then(|l| pick(l).as_ref())
    }

    /// Upstream `UpdatePodLifecycle`: moves the pod to `new_state` (label + timestamp annotation) and, with
    /// `mark_not_ready`, sets KruisePodReady. Returns whether the state label changed.
    fn set_lifecycle(&mut self, pod: &Pod, new_state: &str, mark_not_ready: bool) -> bool {
        let now = self.now;
        let kruise_gate = podutil::has_readiness_gate(pod, KRUISE_POD_READY);
        let current = podutil::lifecycle_state(pod).to_string();
        let write = self.write_for(pod);
        // Pods carrying the KruisePodReady gate: hooks with markPodNotReady hold it False while the pod
        // waits in PreparingDelete/PreparingUpdate; every other state makes it True so the pod can be Ready.
        if kruise_gate {
            let holding = new_state == state::PREPARING_DELETE || new_state == state::PREPARING_UPDATE;
            if !holding || mark_not_ready {
                let status = if holding { "False" } else { "True" };
                write.status_changed |=
                    inplace::set_condition(&mut write.pod, KRUISE_POD_READY, status, None, None, now);
            }
        }
        if current == new_state && podutil::lifecycle_state(&write.pod) == new_state {
            return false;
        }
        let labels = write.pod.metadata.labels.get_or_insert_with(BTreeMap::new);
        labels.insert(LIFECYCLE_STATE_LABEL.to_string(), new_state.to_string());
        write
            .pod
            .metadata
            .annotations
            .get_or_insert_with(BTreeMap::new)
            .insert(LIFECYCLE_TIMESTAMP_ANNOTATION.to_string(), rfc3339(now));
        write.object_changed = true;
        write
            .reasons
            .push(PodWriteReason::Lifecycle(new_state.to_string()));
        true
    }

    fn template_of(&self, revision: &ControllerRevision) -> PodTemplateSpec {
        revision::template_of(revision)
            .and_then(|t| serde_json::from_value(t).ok())
            .unwrap_or_default()
    }

    /// Upstream `deletePods`: hooked pods go to PreparingDelete, the others are deleted with their PVCs.
    fn delete_pods(&mut self, pods: &[&Pod], pvcs: &[PersistentVolumeClaim]) -> bool {
        let pre_delete = self.hook(|l| &l.pre_delete);
        let mut modified = false;
        for pod in pods {
            if let Some(hook) = pre_delete.filter(|h| podutil::is_hooked(Some(h), pod)) {
                modified |= self.set_lifecycle(pod, state::PREPARING_DELETE, hook.mark_pod_not_ready);
                continue;
            }
            let name = podutil::name(pod).to_string();
            let instance = podutil::label(pod, INSTANCE_ID_LABEL).unwrap_or_default();
            let claim_names = pvcs
                .iter()
                .filter(|c| {
                    !instance.is_empty()
                        && c.metadata
                            .labels
                            .as_ref()
                            .and_then(|l| l.get(INSTANCE_ID_LABEL))
                            .map(String::as_str)
                            == Some(instance)
                })
                .filter_map(|c| c.metadata.name.clone())
                .collect();
            self.deletes.push(PodDeletion {
                name: name.clone(),
                uid: pod.metadata.uid.clone(),
                pvcs: claim_names,
            });
            self.event(
                "Normal",
                "SuccessfulDelete",
                format!("succeed to delete pod {name}"),
            );
            modified = true;
        }
        modified
    }
}

/// RFC 7386 JSON merge patch turning `old` into `new` (null removes a key; arrays are replaced).
pub fn merge_patch(old: &Value, new: &Value) -> Value {
    match (old, new) {
        (Value::Object(old), Value::Object(new)) => {
            let mut patch = Map::new();
            for (key, new_value) in new {
                match old.get(key) {
                    Some(old_value) if old_value == new_value => {}
                    Some(old_value) if old_value.is_object() && new_value.is_object() => {
                        patch.insert(key.clone(), merge_patch(old_value, new_value));
                    }
                    _ => {
                        patch.insert(key.clone(), new_value.clone());
                    }
                }
            }
            for key in old.keys() {
                if !new.contains_key(key) {
                    patch.insert(key.clone(), Value::Null);
                }
            }
            Value::Object(patch)
        }
        _ => new.clone(),
    }
}

impl PodWrite {
    /// Merge patch of the pod object (metadata and spec) from `original` to the desired pod.
    pub fn object_patch(&self, original: &Pod) -> Value {
        let strip = |pod: &Pod| {
            let mut value = serde_json::to_value(pod).unwrap_or(Value::Null);
            if let Value::Object(map) = &mut value {
                map.remove("status");
            }
            value
        };
        merge_patch(&strip(original), &strip(&self.pod))
    }
}

/// Plans one reconcile round for the CloneSet.
pub fn plan(input: PlanInput<'_>) -> Result<Plan, PlanError> {
    let cloneset = input.cloneset;
    let resolved = revision::resolve(cloneset, input.revisions)?;
    let update_name = resolved.update.metadata.name.clone().unwrap_or_default();
    let current_name = resolved.current.metadata.name.clone().unwrap_or_default();

    // Active pods matching the selector; owned pods that stopped matching are released, not managed.
    let selector = cloneset.spec.selector.clone().unwrap_or_default();
    let empty_labels = BTreeMap::new();
    let mut released = Vec::new();
    let mut active: Vec<Pod> = Vec::new();
    let compiled = selector::Compiled::new(&selector);
    for pod in input.pods.iter().filter(|p| podutil::is_active(p)) {
        if selector::is_empty(&selector)
            || compiled.matches(pod.metadata.labels.as_ref().unwrap_or(&empty_labels))
        {
            active.push(pod.clone());
        } else {
            released.push(podutil::name(pod).to_string());
        }
    }
    let mut pvcs: Vec<PersistentVolumeClaim> = input
        .pvcs
        .iter()
        .filter(|c| c.metadata.deletion_timestamp.is_none())
        .cloned()
        .collect();
    let (pvcs_to_reown, pvcs_to_delete) = if cloneset.spec.scale_strategy.disable_pvc_reuse {
        let (reown, delete) = pvcs_without_reuse(input.pods, &pvcs);
        pvcs.retain(|c| {
            let name = c.metadata.name.clone().unwrap_or_default();
            !delete.contains(&name) && !reown.iter().any(|r| r.pvc == name)
        });
        (reown, delete)
    } else {
        (Vec::new(), Vec::new())
    };

    let mut builder = Builder {
        cloneset,
        now: input.now,
        resolved,
        writes: Vec::new(),
        creates: Vec::new(),
        pvc_creates: Vec::new(),
        deletes: Vec::new(),
        events: Vec::new(),
        requeue: None,
    };
    let mut failure: Option<(&'static str, String)> = None;
    if cloneset.metadata.deletion_timestamp.is_none() {
        let mut ids = IdGenerator::new(input.id_seed);
        let scaled = scale(
            &mut builder,
            &active,
            &pvcs,
            &current_name,
            &update_name,
            &mut ids,
        );
        match scaled {
            Err(message) => failure = Some(("FailedScale", message)),
            Ok(true) => {}
            Ok(false) => {
                if let Err(message) = update(&mut builder, &active, &current_name, &update_name) {
                    failure = Some(("FailedUpdate", message));
                }
            }
        }
    }

    let old_status = cloneset.status.clone().unwrap_or_default();
    let mut new_status = status::calculate(
        cloneset,
        &active,
        &update_name,
        &current_name,
        builder.resolved.collision_count,
        input.now,
    );
    if let Some((type_, message)) = &failure {
        status::set_failure_condition(&mut new_status, type_, message, input.now);
        builder.event(
            "Warning",
            if *type_ == "FailedScale" {
                "FailedScale"
            } else {
                "FailedUpdate"
            },
            message.clone(),
        );
    }
    let write_status = status::needs_write(&old_status, &new_status);

    let existing: BTreeSet<&str> = active.iter().map(podutil::name).collect();
    let listed = &cloneset.spec.scale_strategy.pods_to_delete;
    let kept: Vec<String> = listed
        .iter()
        .filter(|n| existing.contains(n.as_str()))
        .cloned()
        .collect();
    let pods_to_delete_spec = (kept.len() != listed.len()).then_some(kept);

    let revisions_to_delete = revision::history_to_delete(
        cloneset,
        &builder.resolved.all,
        &current_name,
        &update_name,
        &active,
    );
    if cloneset.spec.min_ready_seconds > 0 && new_status.available_replicas != new_status.ready_replicas {
        builder.requeue_after(i64::from(cloneset.spec.min_ready_seconds));
    }

    Ok(Plan {
        revision_action: builder.resolved.action.clone(),
        update_revision: update_name,
        current_revision: current_name,
        released_pods: released,
        pvcs_to_reown,
        pvcs_to_delete,
        pvcs_to_create: builder.pvc_creates,
        pods_to_create: builder.creates,
        pod_writes: builder.writes,
        pods_to_delete: builder.deletes,
        events: builder.events,
        status: new_status,
        write_status,
        pods_to_delete_spec,
        revisions_to_delete,
        requeue_after_seconds: builder.requeue,
    })
}

/// Reference §2.4. Returns whether anything was changed (then Update waits for the next round).
fn scale(
    b: &mut Builder<'_>,
    pods: &[Pod],
    pvcs: &[PersistentVolumeClaim],
    current: &str,
    update: &str,
    ids: &mut IdGenerator,
) -> Result<bool, String> {
    let cloneset = b.cloneset;
    let replicas = cloneset.spec.replicas.unwrap_or(1);
    let specified: Vec<&Pod> = pods
        .iter()
        .filter(|p| podutil::is_specified_delete(cloneset, p))
        .collect();
    let preparing: Vec<&Pod> = pods
        .iter()
        .filter(|p| podutil::lifecycle_state(p) == state::PREPARING_DELETE)
        .collect();
    let planned: BTreeSet<&str> = specified
        .iter()
        .chain(preparing.iter())
        .map(|p| podutil::name(p))
        .collect();
    let num_to_delete = diffs::len_i32(planned.len());

    // 1. Replicas went back up: cancel PreparingDelete of pods nobody asked to delete.
    let marks_not_ready = [b.hook(|l| &l.pre_delete), b.hook(|l| &l.in_place_update)]
        .into_iter()
        .flatten()
        .any(|h| h.mark_pod_not_ready);
    if !marks_not_ready {
        let mut diff = replicas - diffs::len_i32(pods.len()) + num_to_delete;
        let mut modified = false;
        for pod in preparing
            .iter()
            .filter(|p| !podutil::is_specified_delete(cloneset, p))
        {
            if diff <= 0 {
                break;
            }
            modified |= b.set_lifecycle(pod, state::PREPARING_NORMAL, false);
            diff -= 1;
        }
        if modified {
            return Ok(true);
        }
    }

    // 2. The numbers.
    let diffs = diffs::calculate_diffs(cloneset, pods, current, update, b.now);

    // 3. Scale out.
    if diffs.scale_up_num > 0 {
        if diffs.scale_up_num > diffs.scale_up_limit {
            b.event(
                "Warning",
                "ScaleUpLimited",
                format!(
                    "scaleUp is limited because of scaleStrategy.maxUnavailable, limit: {}",
                    diffs.scale_up_limit
                ),
            );
        }
        return Ok(create_pods(b, &diffs, pods, pvcs, current, update, ids));
    }

    // 4. Pods already in PreparingDelete: deleted once their hook no longer matches.
    if !preparing.is_empty() && b.delete_pods(&preparing, pvcs) {
        return Ok(true);
    }

    let mut delete_ready_limit = diffs.delete_ready_limit;
    let now = b.now;

    // 5. Specified deletes (not in PreparingDelete): not-ready always, ready ones within the limit.
    let specified_only: Vec<&Pod> = specified
        .iter()
        .filter(|p| podutil::lifecycle_state(p) != state::PREPARING_DELETE)
        .copied()
        .collect();
    if !specified_only.is_empty() {
        let (new, old): (Vec<&Pod>, Vec<&Pod>) = specified_only
            .iter()
            .partition(|p| podutil::is_at_revision(p, update));
        let chosen = ready_filter(new.into_iter().chain(old).collect(), &mut delete_ready_limit, now);
        if b.delete_pods(&chosen, pvcs) {
            return Ok(true);
        }
    }

    // 6. Scale in, only when nothing is already being deleted.
    if diffs.scale_down_num > 0 {
        if num_to_delete > 0 {
            return Ok(false);
        }
        let (updated, not_updated): (Vec<Pod>, Vec<Pod>) = pods
            .iter()
            .cloned()
            .partition(|p| podutil::is_at_revision(p, update));
        let min_ready = cloneset.spec.min_ready_seconds;
        let choose = |group: &[Pod], count: i32| -> Vec<Pod> {
            let count = usize::try_from(count.max(0)).unwrap_or(0);
            let order = sort::scale_in_order(group, min_ready, b.now);
            order
                .into_iter()
                .take(count)
                .filter_map(|i| group.get(i).cloned())
                .collect()
        };
        let total = diffs.scale_down_num;
        let old_count = diffs.scale_down_num_old_revision;
        let chosen: Vec<Pod> = if old_count >= total {
            choose(&not_updated, total)
        } else if old_count > 0 {
            let mut chosen = choose(&not_updated, old_count);
            chosen.extend(choose(&updated, total - old_count));
            chosen
        } else {
            choose(&updated, total)
        };
        let filtered: Vec<&Pod> = ready_filter(chosen.iter().collect(), &mut delete_ready_limit, now);
        let filtered: Vec<Pod> = filtered.into_iter().cloned().collect();
        let refs: Vec<&Pod> = filtered.iter().collect();
        return Ok(b.delete_pods(&refs, pvcs));
    }
    Ok(false)
}

/// Not-ready pods may always be deleted; ready ones only while the limit lasts ("ready" ignores
/// minReadySeconds here).
fn ready_filter<'p>(candidates: Vec<&'p Pod>, delete_ready_limit: &mut i32, now: Timestamp) -> Vec<&'p Pod> {
    let mut chosen = Vec::new();
    for pod in candidates {
        if !podutil::is_available(pod, 0, now) {
            chosen.push(pod);
        } else if *delete_ready_limit > 0 {
            chosen.push(pod);
            *delete_ready_limit -= 1;
        }
    }
    chosen
}

fn create_pods(
    b: &mut Builder<'_>,
    diffs: &Diffs,
    pods: &[Pod],
    pvcs: &[PersistentVolumeClaim],
    current: &str,
    update: &str,
    ids: &mut IdGenerator,
) -> bool {
    let cloneset = b.cloneset;
    let count = usize::try_from(diffs.scale_up_limit.max(0)).unwrap_or(0);
    if count == 0 {
        return false;
    }
    let old_count = usize::try_from(diffs.scale_up_num_old_revision.max(0))
        .unwrap_or(0)
        .min(count);
    let reuse = !cloneset.spec.scale_strategy.disable_pvc_reuse;
    let instance_ids = pod::available_ids(count, pods, pvcs, reuse, ids);
    let current_template = b.template_of(&b.resolved.current);
    let update_template = b.template_of(&b.resolved.update);
    let existing_pvcs: BTreeSet<String> = pvcs.iter().filter_map(|c| c.metadata.name.clone()).collect();
    for (position, id) in instance_ids.iter().enumerate() {
        let (template, revision) = if position < old_count {
            (&current_template, current)
        } else {
            (&update_template, update)
        };
        let new_pod = pod::new_pod(cloneset, template, revision, id, b.now);
        for claim in pod::claims_for(cloneset, id) {
            if claim
                .metadata
                .name
                .as_ref()
                .is_some_and(|n| !existing_pvcs.contains(n))
            {
                b.pvc_creates.push(claim);
            }
        }
        let name = podutil::name(&new_pod).to_string();
        b.creates.push(new_pod);
        b.event(
            "Normal",
            "SuccessfulCreate",
            format!("succeed to create pod {name}"),
        );
    }
    true
}

/// Reference §2.6. Errors become the FailedUpdate condition.
fn update(b: &mut Builder<'_>, pods: &[Pod], current: &str, update: &str) -> Result<(), String> {
    let cloneset = b.cloneset;

    // 1. Refresh every pod; lifecycle and hash-label patches postpone the rest.
    let mut modified = false;
    for pod in pods {
        modified |= refresh_pod(b, pod, update);
    }
    if modified {
        return Ok(());
    }

    // 2. Paused: no pod updates.
    if cloneset.spec.update_strategy.paused {
        return Ok(());
    }

    // 3. How many.
    let diffs = diffs::calculate_diffs(cloneset, pods, current, update, b.now);
    if diffs.update_num == 0 {
        return Ok(());
    }
    let target = if diffs.update_num > 0 { update } else { current };

    // 4. Candidates.
    let mut candidates: Vec<usize> = pods
        .iter()
        .enumerate()
        .filter(|(_, p)| {
            let waiting = if diffs.update_num > 0 {
                !podutil::is_at_revision(p, update)
            } else {
                podutil::is_at_revision(p, update)
            };
            waiting
                && podutil::lifecycle_state(p) != state::PREPARING_DELETE
                && inplace::grace_of(p).is_none()
        })
        .map(|(i, _)| i)
        .collect();

    // 5. Order: ActivePods, priority, scatter, PreparingUpdate first.
    candidates.sort_by(|&i, &j| {
        sort::active_pods_order(&pods[i], &pods[j])
            .then_with(|| podutil::name(&pods[i]).cmp(podutil::name(&pods[j])))
    });
    if let Some(priority) = &cloneset.spec.update_strategy.priority_strategy {
        sort::priority_sort(priority, pods, &mut candidates);
    }
    let mut candidates =
        sort::scatter_sort(&cloneset.spec.update_strategy.scatter_strategy, pods, candidates);
    candidates.sort_by_key(|&i| podutil::lifecycle_state(&pods[i]) != state::PREPARING_UPDATE);

    // 6. Limit by |updateNum| and the unavailable budget.
    let chosen = limit_candidates(cloneset, &diffs, &candidates, pods, target, b.now);

    // 7. Update each.
    for index in chosen {
        if let Some(pod) = pods.get(index) {
            update_pod(b, pod, target)?;
        }
    }
    Ok(())
}

fn limit_candidates(
    cloneset: &CloneSet,
    diffs: &Diffs,
    candidates: &[usize],
    pods: &[Pod],
    target: &str,
    now: Timestamp,
) -> Vec<usize> {
    let min_ready = cloneset.spec.min_ready_seconds;
    let limit = usize::try_from(diffs.update_num.unsigned_abs()).unwrap_or(usize::MAX);
    let candidates: Vec<usize> = candidates.iter().copied().take(limit).collect();
    let mut unavailable = 0;
    let mut target_unavailable = 0;
    for pod in pods {
        if !podutil::is_available(pod, min_ready, now) {
            unavailable += 1;
            if podutil::is_at_revision(pod, target) {
                target_unavailable += 1;
            }
        }
    }
    let mut chosen = Vec::new();
    for index in candidates {
        if target_unavailable + diffs::len_i32(chosen.len()) >= diffs.update_max_unavailable {
            break;
        }
        if pods
            .get(index)
            .is_some_and(|p| podutil::is_available(p, min_ready, now))
        {
            if unavailable >= diffs.update_max_unavailable {
                break;
            }
            unavailable += 1;
        }
        chosen.push(index);
    }
    chosen
}

/// Upstream `refreshPodState` + in-place `Refresh`. Returns true when a lifecycle or hash-label patch
/// was planned (condition updates and grace completion do not count, as upstream).
fn refresh_pod(b: &mut Builder<'_>, pod: &Pod, update: &str) -> bool {
    let now = b.now;
    // In-place Refresh: grace period first, else the InPlaceUpdateReady condition.
    match inplace::finish_grace(pod, now) {
        GraceOutcome::Write(desired) => {
            let write = b.write_for(pod);
            write.pod.metadata = desired.metadata.clone();
            write.pod.spec = desired.spec.clone();
            write.object_changed = true;
            write.reasons.push(PodWriteReason::GraceFinished);
        }
        GraceOutcome::Wait(seconds) => b.requeue_after(seconds),
        GraceOutcome::None => {
            if podutil::has_readiness_gate(pod, INPLACE_UPDATE_READY)
                && inplace::check_completed(pod).is_ok()
                && podutil::condition(pod, INPLACE_UPDATE_READY).is_none_or(|c| c.status != "True")
            {
                let write = b.write_for(pod);
                if inplace::set_condition(&mut write.pod, INPLACE_UPDATE_READY, "True", None, None, now) {
                    write.status_changed = true;
                    write.reasons.push(PodWriteReason::InPlaceUpdateReady);
                }
            }
        }
    }

    let lifecycle = b.lifecycle();
    let in_place_hook = b.hook(|l| &l.in_place_update);
    let mark_not_ready = in_place_hook.is_some_and(|h| h.mark_pod_not_ready);
    let after_update_state = || {
        if lifecycle.is_some() && !podutil::is_all_hooked(in_place_hook, pod) {
            state::UPDATED
        } else {
            state::NORMAL
        }
    };
    let next_state = match podutil::lifecycle_state(pod) {
        state::PREPARING_NORMAL => {
            let pre_normal = b.hook(|l| &l.pre_normal);
            // v1.9 semantics: wait for scheduling before Normal.
            let hooks_ok = pre_normal.is_none() || podutil::is_all_hooked(pre_normal, pod);
            (hooks_ok && !podutil::node_name(pod).is_empty()).then_some(state::NORMAL)
        }
        state::PREPARING_UPDATE => podutil::is_at_revision(pod, update).then(after_update_state),
        state::UPDATING => inplace::check_completed(pod).is_ok().then(after_update_state),
        state::UPDATED => {
            (in_place_hook.is_none() || podutil::is_all_hooked(in_place_hook, pod)).then_some(state::NORMAL)
        }
        _ => None,
    };
    let mut modified = false;
    if let Some(next) = next_state {
        modified |= b.set_lifecycle(pod, next, mark_not_ready);
    }
    if podutil::label(pod, POD_TEMPLATE_HASH_LABEL).is_none() {
        let short = podutil::short_hash(podutil::revision_of(pod)).to_string();
        let write = b.write_for(pod);
        write
            .pod
            .metadata
            .labels
            .get_or_insert_with(BTreeMap::new)
            .insert(POD_TEMPLATE_HASH_LABEL.to_string(), short);
        write.object_changed = true;
        write.reasons.push(PodWriteReason::TemplateHashLabel);
        modified = true;
    }
    modified
}

/// Upstream `updatePod`: in place when possible (for the in-place types), else recreate.
fn update_pod(b: &mut Builder<'_>, pod: &Pod, target: &str) -> Result<(), String> {
    let cloneset = b.cloneset;
    let strategy = cloneset.spec.update_strategy.type_.as_str();
    let name = podutil::name(pod).to_string();
    let target_revision = b
        .resolved
        .all
        .iter()
        .find(|r| r.metadata.name.as_deref() == Some(target))
        .cloned()
        .unwrap_or_else(|| b.resolved.update.clone());
    if strategy == UPDATE_IN_PLACE_IF_POSSIBLE || strategy == UPDATE_IN_PLACE_ONLY {
        let old_revision = b
            .resolved
            .all
            .iter()
            .find(|r| podutil::is_at_revision(pod, r.metadata.name.as_deref().unwrap_or_default()))
            .cloned();
        if let Some(spec) = inplace::calculate_spec(old_revision.as_ref(), &target_revision) {
            let hook = b.hook(|l| &l.in_place_update);
            match podutil::lifecycle_state(pod) {
                "" | state::PREPARING_NORMAL | state::NORMAL => {
                    if let Some(hook) = hook.filter(|h| podutil::is_hooked(Some(h), pod)) {
                        b.set_lifecycle(pod, state::PREPARING_UPDATE, hook.mark_pod_not_ready);
                        return Ok(());
                    }
                }
                state::UPDATED => {
                    // Re-enter PreparingUpdate and put the hook's labels and finalizers back.
                    b.set_lifecycle(
                        pod,
                        state::PREPARING_UPDATE,
                        hook.is_some_and(|h| h.mark_pod_not_ready),
                    );
                    if let Some(hook) = hook {
                        let write = b.write_for(pod);
                        let labels = write.pod.metadata.labels.get_or_insert_with(BTreeMap::new);
                        labels.extend(hook.labels_handler.clone());
                        let finalizers = write.pod.metadata.finalizers.get_or_insert_with(Vec::new);
                        for finalizer in &hook.finalizers_handler {
                            if !finalizers.contains(finalizer) {
                                finalizers.push(finalizer.clone());
                            }
                        }
                        write.object_changed = true;
                    }
                    return Ok(());
                }
                state::PREPARING_UPDATE => {
                    if podutil::is_hooked(hook, pod) {
                        return Ok(());
                    }
                }
                state::UPDATING => {}
                other => {
                    return Err(format!(
                        "not allowed to in-place update pod {name} in state {other}"
                    ));
                }
            }
            let grace = cloneset
                .spec
                .update_strategy
                .in_place_update_strategy
                .as_ref()
                .map_or(0, |s| s.grace_period_seconds);
            let now = b.now;
            let write = b.write_for(pod);
            let (status_changed, mut desired) = inplace::start_update(&write.pod, &spec, grace, now);
            let labels = desired.metadata.labels.get_or_insert_with(BTreeMap::new);
            labels.insert(LIFECYCLE_STATE_LABEL.to_string(), state::UPDATING.to_string());
            desired
                .metadata
                .annotations
                .get_or_insert_with(BTreeMap::new)
                .insert(LIFECYCLE_TIMESTAMP_ANNOTATION.to_string(), rfc3339(now));
            write.pod = desired;
            write.status_changed |= status_changed;
            write.object_changed = true;
            write
                .reasons
                .push(PodWriteReason::InPlaceUpdate(target.to_string()));
            b.event(
                "Normal",
                "SuccessfulUpdatePodInPlace",
                format!("successfully update pod {name} in-place(revision {target})"),
            );
            if grace > 0 {
                b.requeue_after(i64::from(grace));
            }
            return Ok(());
        }
        if strategy == UPDATE_IN_PLACE_ONLY {
            return Err(format!(
                "find Pod {name} update strategy is InPlaceOnly but can not update in-place"
            ));
        }
    }
    if podutil::label(pod, SPECIFIED_DELETE_LABEL) != Some("true") {
        let write = b.write_for(pod);
        write
            .pod
            .metadata
            .labels
            .get_or_insert_with(BTreeMap::new)
            .insert(SPECIFIED_DELETE_LABEL.to_string(), "true".to_string());
        write.object_changed = true;
        write.reasons.push(PodWriteReason::Recreate(target.to_string()));
    }
    b.event(
        "Normal",
        "SuccessfulUpdatePodReCreate",
        format!("successfully patch pod {name} specified-delete for update(revision {target})"),
    );
    Ok(())
}

#[cfg(test)]
mod tests;
