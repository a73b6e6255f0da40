//! The in-place update protocol (reference §3): what qualifies, starting an update, the grace period,
//! and completion.

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::api::apps::v1::ControllerRevision;
use k8s_openapi::api::core::v1::{Pod, PodCondition};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::labels::{
    INPLACE_UPDATE_GRACE_ANNOTATION, INPLACE_UPDATE_GRACE_ANNOTATION_OLD, INPLACE_UPDATE_READY,
    INPLACE_UPDATE_STATE_ANNOTATION, INPLACE_UPDATE_STATE_ANNOTATION_OLD, POD_TEMPLATE_HASH_LABEL,
    REVISION_HASH_LABEL,
};
use crate::pod::rfc3339;
use crate::podutil;
use crate::revision::template_of;

/// Label, annotation and finalizer changes between two template revisions.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MetadataChanges {
    /// Labels to set (Some) or remove (None).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, Option<String>>,
    /// Annotations to set (Some) or remove (None).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, Option<String>>,
    /// Finalizers to add.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub add_finalizers: Vec<String>,
    /// Finalizers to remove.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub remove_finalizers: Vec<String>,
}

impl MetadataChanges {
    /// No change at all.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
            && self.annotations.is_empty()
            && self.add_finalizers.is_empty()
            && self.remove_finalizers.is_empty()
    }

    /// Applies the changes to a pod's metadata.
    pub fn apply(&self, pod: &mut Pod) {
        apply_map(&mut pod.metadata.labels, &self.labels);
        apply_map(&mut pod.metadata.annotations, &self.annotations);
        if !self.add_finalizers.is_empty() || !self.remove_finalizers.is_empty() {
            let finalizers = pod.metadata.finalizers.get_or_insert_with(Vec::new);
            finalizers.retain(|f| !self.remove_finalizers.contains(f));
            for finalizer in &self.add_finalizers {
                if !finalizers.contains(finalizer) {
                    finalizers.push(finalizer.clone());
                }
            }
        }
    }
}

fn apply_map(target: &mut Option<BTreeMap<String, String>>, changes: &BTreeMap<String, Option<String>>) {
    if changes.is_empty() {
        return;
    }
    let map = target.get_or_insert_with(BTreeMap::new);
    for (key, value) in changes {
        match value {
            Some(value) => {
                map.insert(key.clone(), value.clone());
            }
            None => {
                map.remove(key);
            }
        }
    }
}

/// What an in-place update changes (upstream `UpdateSpec`); also the grace annotation's content.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InPlaceUpdateSpec {
    /// Target revision name.
    pub revision: String,
    /// New image per container name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub container_images: BTreeMap<String, String>,
    /// Template metadata changes.
    #[serde(
        default,
        rename = "metaDataPatch",
        skip_serializing_if = "MetadataChanges::is_empty"
    )]
    pub metadata: MetadataChanges,
    /// Grace seconds before the images are patched.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub grace_seconds: i32,
}

fn is_zero(value: &i32) -> bool {
    *value == 0
}

fn is_false(value: &bool) -> bool {
    !*value
}

/// Computes the in-place update from `old` to `new`, or None when the change needs a recreate:
/// only template metadata and `spec.containers[*].image` may differ.
pub fn calculate_spec(
    old: Option<&ControllerRevision>,
    new: &ControllerRevision,
) -> Option<InPlaceUpdateSpec> {
    let old_template = template_of(old?)?;
    let new_template = template_of(new)?;
    let (Value::Object(old_map), Value::Object(new_map)) = (&old_template, &new_template) else {
        return None;
    };
    // Anything besides metadata and spec at the template's top level is not in-place updatable.
    let keys: BTreeSet<&String> = old_map.keys().chain(new_map.keys()).collect();
    if keys
        .iter()
        .any(|k| k.as_str() != "metadata" && k.as_str() != "spec" && old_map.get(*k) != new_map.get(*k))
    {
        return None;
    }
    let container_images = image_changes(old_template.get("spec"), new_template.get("spec"))?;
    let metadata = metadata_changes(old_template.get("metadata"), new_template.get("metadata"));
    Some(InPlaceUpdateSpec {
        revision: new.metadata.name.clone().unwrap_or_default(),
        container_images,
        metadata,
        grace_seconds: 0,
    })
}

/// Image changes per container name when the pod specs differ only in container images.
fn image_changes(old: Option<&Value>, new: Option<&Value>) -> Option<BTreeMap<String, String>> {
    let (Some(Value::Object(old)), Some(Value::Object(new))) = (old, new) else {
        return if old == new { Some(BTreeMap::new()) } else { None };
    };
    let keys: BTreeSet<&String> = old.keys().chain(new.keys()).collect();
    if keys
        .iter()
        .any(|k| k.as_str() != "containers" && old.get(*k) != new.get(*k))
    {
        return None;
    }
    let empty = Vec::new();
    let old_containers = old.get("containers").and_then(Value::as_array).unwrap_or(&empty);
    let new_containers = new.get("containers").and_then(Value::as_array).unwrap_or(&empty);
    if old_containers.len() != new_containers.len() {
        return None;
    }
    let mut images = BTreeMap::new();
    for (old_container, new_container) in old_containers.iter().zip(new_containers) {
        let (Value::Object(o), Value::Object(n)) = (old_container, new_container) else {
            return None;
        };
        let keys: BTreeSet<&String> = o.keys().chain(n.keys()).collect();
        for key in keys {
            if o.get(key) == n.get(key) {
                continue;
            }
            // Only a replace of an existing image qualifies (not adding or removing one).
            let (Some(Value::String(_)), Some(Value::String(image))) = (o.get(key), n.get(key)) else {
                return None;
            };
            if key != "image" {
                return None;
            }
            let name = o.get("name").and_then(Value::as_str).unwrap_or_default();
            images.insert(name.to_string(), image.clone());
        }
    }
    Some(images)
}

fn string_map(value: Option<&Value>) -> BTreeMap<String, String> {
    value
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| v.as_str().map(|s| (k.clone(), s.to_string())))
                .collect()
        })
        .unwrap_or_default()
}

fn map_changes(
    old: &BTreeMap<String, String>,
    new: &BTreeMap<String, String>,
) -> BTreeMap<String, Option<String>> {
    let mut changes = BTreeMap::new();
    for (key, value) in new {
        if old.get(key) != Some(value) {
            changes.insert(key.clone(), Some(value.clone()));
        }
    }
    for key in old.keys() {
        if !new.contains_key(key) {
            changes.insert(key.clone(), None);
        }
    }
    changes
}

fn metadata_changes(old: Option<&Value>, new: Option<&Value>) -> MetadataChanges {
    let field = |meta: Option<&Value>, key: &str| meta.and_then(|m| m.get(key)).cloned();
    let finalizers = |meta: Option<&Value>| -> Vec<String> {
        field(meta, "finalizers")
            .and_then(|v| serde_json::from_value::<Vec<String>>(v).ok())
            .unwrap_or_default()
    };
    let (old_finalizers, new_finalizers) = (finalizers(old), finalizers(new));
    MetadataChanges {
        labels: map_changes(
            &string_map(field(old, "labels").as_ref()),
            &string_map(field(new, "labels").as_ref()),
        ),
        annotations: map_changes(
            &string_map(field(old, "annotations").as_ref()),
            &string_map(field(new, "annotations").as_ref()),
        ),
        add_finalizers: new_finalizers
            .iter()
            .filter(|f| !old_finalizers.contains(f))
            .cloned()
            .collect(),
        remove_finalizers: old_finalizers
            .iter()
            .filter(|f| !new_finalizers.contains(f))
            .cloned()
            .collect(),
    }
}

/// The image ID a container had when its in-place update began.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LastContainerStatus {
    /// Image ID before the update.
    #[serde(default, rename = "imageID", skip_serializing_if = "String::is_empty")]
    pub image_id: String,
}

/// One batch of containers patched together.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContainerBatch {
    /// When the batch was patched (RFC 3339).
    pub timestamp: String,
    /// Container names.
    pub containers: Vec<String>,
}

/// The `apps.kruise.io/inplace-update-state` annotation, with upstream's field order and omissions.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InPlaceUpdateState {
    /// Target revision.
    pub revision: String,
    /// When the update started (RFC 3339).
    pub update_timestamp: String,
    /// Image IDs before the update; `null` while in the grace period.
    #[serde(default)]
    pub last_container_statuses: Option<BTreeMap<String, LastContainerStatus>>,
    /// Containers restart for label/annotation env changes (not produced by Ferry yet).
    #[serde(default, skip_serializing_if = "is_false")]
    pub update_env_from_metadata: bool,
    /// Resources are resized (not produced by Ferry yet).
    #[serde(default, skip_serializing_if = "is_false")]
    pub update_resources: bool,
    /// Images are updated.
    #[serde(default, skip_serializing_if = "is_false")]
    pub update_images: bool,
    /// Images of lower-priority containers waiting for the next batch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_container_images: Option<BTreeMap<String, String>>,
    /// Batches already patched.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub container_batches_record: Vec<ContainerBatch>,
}

/// The in-place state of a pod (new key first, then the old one).
pub fn state_of(pod: &Pod) -> Option<Result<InPlaceUpdateState, serde_json::Error>> {
    let text = podutil::annotation(pod, INPLACE_UPDATE_STATE_ANNOTATION)
        .or_else(|| podutil::annotation(pod, INPLACE_UPDATE_STATE_ANNOTATION_OLD))?;
    Some(serde_json::from_str(text))
}

/// The pending grace-period update of a pod, if any.
pub fn grace_of(pod: &Pod) -> Option<Result<InPlaceUpdateSpec, serde_json::Error>> {
    let text = podutil::annotation(pod, INPLACE_UPDATE_GRACE_ANNOTATION)
        .or_else(|| podutil::annotation(pod, INPLACE_UPDATE_GRACE_ANNOTATION_OLD))
        .filter(|t| !t.is_empty())?;
    Some(serde_json::from_str(text))
}

fn set_annotation(pod: &mut Pod, key: &str, value: String) {
    pod.metadata
        .annotations
        .get_or_insert_with(BTreeMap::new)
        .insert(key.to_string(), value);
}

fn remove_annotation(pod: &mut Pod, key: &str) {
    if let Some(annotations) = pod.metadata.annotations.as_mut() {
        annotations.remove(key);
    }
}

fn set_label(pod: &mut Pod, key: &str, value: &str) {
    pod.metadata
        .labels
        .get_or_insert_with(BTreeMap::new)
        .insert(key.to_string(), value.to_string());
}

/// Sets a pod condition; returns whether anything changed. The transition time moves only when the
/// status changes.
pub fn set_condition(
    pod: &mut Pod,
    type_: &str,
    status: &str,
    reason: Option<&str>,
    message: Option<&str>,
    now: Timestamp,
) -> bool {
    let conditions = pod
        .status
        .get_or_insert_with(Default::default)
        .conditions
        .get_or_insert_with(Vec::new);
    let reason = reason.map(str::to_string);
    let message = message.map(str::to_string);
    match conditions.iter_mut().find(|c| c.type_ == type_) {
        Some(existing) => {
            if existing.status == status && existing.reason == reason && existing.message == message {
                return false;
            }
            if existing.status != status {
                existing.last_transition_time = Some(Time(now));
            }
            existing.status = status.to_string();
            existing.reason = reason;
            existing.message = message;
            true
        }
        None => {
            conditions.push(PodCondition {
                type_: type_.to_string(),
                status: status.to_string(),
                reason,
                message,
                last_transition_time: Some(Time(now)),
                ..Default::default()
            });
            true
        }
    }
}

/// Patches the spec's images and metadata into `pod` and records the containers' image IDs.
fn patch_spec_to_pod(
    pod: &mut Pod,
    spec: &InPlaceUpdateSpec,
    state: &mut InPlaceUpdateState,
    now: Timestamp,
) {
    spec.metadata.apply(pod);
    let mut updated: Vec<String> = Vec::new();
    if let Some(pod_spec) = pod.spec.as_mut() {
        for container in pod_spec.containers.iter_mut() {
            if let Some(image) = spec.container_images.get(&container.name) {
                container.image = Some(image.clone());
                updated.push(container.name.clone());
            }
        }
    }
    let statuses = pod
        .status
        .as_ref()
        .and_then(|s| s.container_statuses.clone())
        .unwrap_or_default();
    let mut last = BTreeMap::new();
    for status in statuses.iter().filter(|s| updated.contains(&s.name)) {
        last.insert(
            status.name.clone(),
            LastContainerStatus {
                image_id: status.image_id.clone(),
            },
        );
    }
    updated.sort();
    state.last_container_statuses = Some(last);
    state.container_batches_record.push(ContainerBatch {
        timestamp: rfc3339(now),
        containers: updated,
    });
}

/// Starts an in-place update of `pod` to `spec` (reference §3 steps 1–2). Returns the desired pod;
/// the first value says whether the status (conditions) changed.
pub fn start_update(pod: &Pod, spec: &InPlaceUpdateSpec, grace_seconds: i32, now: Timestamp) -> (bool, Pod) {
    let mut desired = pod.clone();
    let mut status_changed = false;
    if podutil::has_readiness_gate(pod, INPLACE_UPDATE_READY) {
        status_changed |= set_condition(
            &mut desired,
            INPLACE_UPDATE_READY,
            "False",
            Some("StartInPlaceUpdate"),
            None,
            now,
        );
        if podutil::condition(pod, "ContainersReady").is_some_and(|c| c.status == "True") {
            let message = format!(
                "the status of pod readiness gate \"{INPLACE_UPDATE_READY}\" is not \"True\", but False"
            );
            status_changed |= set_condition(
                &mut desired,
                "Ready",
                "False",
                Some("ReadinessGatesNotReady"),
                Some(&message),
                now,
            );
        }
    }
    set_label(&mut desired, REVISION_HASH_LABEL, &spec.revision);
    set_label(
        &mut desired,
        POD_TEMPLATE_HASH_LABEL,
        podutil::short_hash(&spec.revision),
    );
    let mut state = InPlaceUpdateState {
        revision: spec.revision.clone(),
        update_timestamp: rfc3339(now),
        update_images: !spec.container_images.is_empty(),
        ..Default::default()
    };
    remove_annotation(&mut desired, INPLACE_UPDATE_STATE_ANNOTATION_OLD);
    if grace_seconds <= 0 {
        patch_spec_to_pod(&mut desired, spec, &mut state, now);
        remove_annotation(&mut desired, INPLACE_UPDATE_GRACE_ANNOTATION);
        remove_annotation(&mut desired, INPLACE_UPDATE_GRACE_ANNOTATION_OLD);
    } else {
        let pending = InPlaceUpdateSpec {
            grace_seconds,
            ..spec.clone()
        };
        set_annotation(
            &mut desired,
            INPLACE_UPDATE_GRACE_ANNOTATION,
            serde_json::to_string(&pending).unwrap_or_default(),
        );
    }
    set_annotation(
        &mut desired,
        INPLACE_UPDATE_STATE_ANNOTATION,
        serde_json::to_string(&state).unwrap_or_default(),
    );
    (status_changed, desired)
}

/// Outcome of the grace-period check for one pod.
#[derive(Debug, Clone, PartialEq)]
pub enum GraceOutcome {
    /// No grace annotation.
    None,
    /// Still waiting; requeue after this many seconds.
    Wait(i64),
    /// The pod must be written as given (images patched or a stale grace annotation dropped).
    Write(Box<Pod>),
}

fn parse_time(text: &str) -> Option<Timestamp> {
    text.parse::<Timestamp>().ok()
}

/// Reference §3 step 3: finishes the grace period of `pod` when it is over.
pub fn finish_grace(pod: &Pod, now: Timestamp) -> GraceOutcome {
    let Some(parsed) = grace_of(pod) else {
        return GraceOutcome::None;
    };
    let mut desired = pod.clone();
    let drop_grace = |pod: &mut Pod| {
        remove_annotation(pod, INPLACE_UPDATE_GRACE_ANNOTATION);
        remove_annotation(pod, INPLACE_UPDATE_GRACE_ANNOTATION_OLD);
    };
    let Ok(spec) = parsed else {
        drop_grace(&mut desired);
        return GraceOutcome::Write(Box::new(desired));
    };
    if podutil::revision_of(pod) != spec.revision {
        drop_grace(&mut desired);
        return GraceOutcome::Write(Box::new(desired));
    }
    let mut state = match state_of(pod) {
        Some(Ok(state)) => state,
        _ => InPlaceUpdateState {
            revision: spec.revision.clone(),
            update_timestamp: rfc3339(now),
            ..Default::default()
        },
    };
    let started = parse_time(&state.update_timestamp).unwrap_or(now);
    let grace_end = started + SignedDuration::from_secs(i64::from(spec.grace_seconds));
    if now < grace_end {
        let remaining = grace_end.duration_since(now).as_secs().max(1);
        return GraceOutcome::Wait(remaining);
    }
    patch_spec_to_pod(&mut desired, &spec, &mut state, now);
    drop_grace(&mut desired);
    set_annotation(
        &mut desired,
        INPLACE_UPDATE_STATE_ANNOTATION,
        serde_json::to_string(&state).unwrap_or_default(),
    );
    GraceOutcome::Write(Box::new(desired))
}

/// Normalises an image reference for comparison: Docker Hub prefixes dropped, `:latest` when untagged.
fn normalize_image(image: &str) -> String {
    let trimmed = image
        .strip_prefix("docker.io/library/")
        .or_else(|| image.strip_prefix("docker.io/"))
        .unwrap_or(image);
    let (name, digest) = match trimmed.split_once('@') {
        Some((name, digest)) => (name, Some(digest)),
        None => (trimmed, None),
    };
    let last_segment = name.rsplit('/').next().unwrap_or(name);
    let name = if last_segment.contains(':') || digest.is_some() {
        name.to_string()
    } else {
        format!("{name}:latest")
    };
    match digest {
        Some(digest) => format!("{name}@{digest}"),
        None => name,
    }
}

/// Whether two image references name the same image.
pub fn same_image(a: &str, b: &str) -> bool {
    normalize_image(a) == normalize_image(b)
}

/// Reference §3 step 5: Ok when the pod's in-place update (if any) has completed.
pub fn check_completed(pod: &Pod) -> Result<(), String> {
    if grace_of(pod).is_some() {
        return Err("still in grace period of in-place update".to_string());
    }
    let Some(state) = state_of(pod) else {
        return Ok(());
    };
    let state = state.map_err(|e| format!("invalid in-place update state: {e}"))?;
    if state
        .next_container_images
        .as_ref()
        .is_some_and(|m| !m.is_empty())
    {
        return Err("waiting for the next batch of containers".to_string());
    }
    let statuses = pod
        .status
        .as_ref()
        .and_then(|s| s.container_statuses.as_deref())
        .unwrap_or_default();
    let containers = pod
        .spec
        .as_ref()
        .map(|s| s.containers.as_slice())
        .unwrap_or_default();
    for (name, last) in state.last_container_statuses.iter().flatten() {
        let Some(status) = statuses.iter().find(|s| &s.name == name) else {
            return Err(format!("container {name} has no status"));
        };
        let spec_image = containers
            .iter()
            .find(|c| &c.name == name)
            .and_then(|c| c.image.as_deref())
            .unwrap_or_default();
        if status.image_id == last.image_id && !same_image(spec_image, &status.image) {
            return Err(format!("container {name} imageID not changed"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::podutil::testpods::{PodBuilder, now};
    use crate::revision::new_revision;
    use crate::testcs::{seed_cloneset, with_image};
    use serde_json::json;

    fn revision_of(patch: impl FnOnce(&mut ferry_types::kruise::CloneSet)) -> ControllerRevision {
        let mut cloneset = seed_cloneset();
        patch(&mut cloneset);
        new_revision(&cloneset, 1, 0).unwrap_or_default()
    }

    #[test]
    fn what_qualifies_for_in_place() {
        let base = revision_of(|_| {});
        type Case = (&'static str, ControllerRevision, Option<BTreeMap<String, String>>);
        let cases: Vec<Case> = vec![
            ("nothing changed", revision_of(|_| {}), Some(BTreeMap::new())),
            (
                "image change",
                revision_of(|c| *c = with_image(c, "nginx:2")),
                Some(
                    [("helloworld".to_string(), "nginx:2".to_string())]
                        .into_iter()
                        .collect(),
                ),
            ),
            (
                "label change",
                revision_of(|c| {
                    if let Some(m) = c.spec.template.metadata.as_mut() {
                        m.labels
                            .get_or_insert_with(Default::default)
                            .insert("version".into(), "v2".into());
                    }
                }),
                Some(BTreeMap::new()),
            ),
            (
                "env change",
                revision_of(|c| {
                    if let Some(container) = c
                        .spec
                        .template
                        .spec
                        .as_mut()
                        .and_then(|s| s.containers.first_mut())
                    {
                        container.env = Some(vec![
                            serde_json::from_value(json!({"name": "A", "value": "1"})).unwrap_or_default(),
                        ]);
                    }
                }),
                None,
            ),
            (
                "container added",
                revision_of(|c| {
                    if let Some(spec) = c.spec.template.spec.as_mut() {
                        let mut extra = spec.containers[0].clone();
                        extra.name = "sidecar".into();
                        spec.containers.push(extra);
                    }
                }),
                None,
            ),
            (
                "pod spec field",
                revision_of(|c| {
                    if let Some(spec) = c.spec.template.spec.as_mut() {
                        spec.service_account_name = Some("robot".into());
                    }
                }),
                None,
            ),
            (
                "container renamed",
                revision_of(|c| {
                    if let Some(container) = c
                        .spec
                        .template
                        .spec
                        .as_mut()
                        .and_then(|s| s.containers.first_mut())
                    {
                        container.name = "other".into();
                    }
                }),
                None,
            ),
        ];
        for (label, target, expected) in cases {
            let spec = calculate_spec(Some(&base), &target);
            assert_eq!(spec.map(|s| s.container_images), expected, "{label}");
        }
        assert!(
            calculate_spec(None, &base).is_none(),
            "missing old revision forces recreate"
        );
    }

    #[test]
    fn metadata_changes_are_collected_and_applied() {
        let old = revision_of(|c| {
            if let Some(m) = c.spec.template.metadata.as_mut() {
                m.labels
                    .get_or_insert_with(Default::default)
                    .insert("gone".into(), "x".into());
            }
        });
        let new = revision_of(|c| {
            if let Some(m) = c.spec.template.metadata.as_mut() {
                m.annotations = Some([("note".to_string(), "hi".to_string())].into_iter().collect());
            }
        });
        let spec = calculate_spec(Some(&old), &new).unwrap_or_default();
        assert_eq!(
            spec.metadata.labels,
            [("gone".to_string(), None)].into_iter().collect()
        );
        assert_eq!(
            spec.metadata.annotations,
            [("note".to_string(), Some("hi".to_string()))]
                .into_iter()
                .collect()
        );
        let mut pod = PodBuilder::ready("cs-a", "cs-1").label("gone", "x").build();
        spec.metadata.apply(&mut pod);
        assert_eq!(podutil::label(&pod, "gone"), None);
        assert_eq!(podutil::annotation(&pod, "note"), Some("hi"));
    }

    fn image_spec() -> InPlaceUpdateSpec {
        InPlaceUpdateSpec {
            revision: "cs-new".into(),
            container_images: [("main".to_string(), "nginx:2".to_string())]
                .into_iter()
                .collect(),
            ..Default::default()
        }
    }

    #[test]
    fn start_update_without_grace_patches_images_and_records_state() {
        let pod = PodBuilder::ready("cs-a", "cs-old").build();
        let (status_changed, desired) = start_update(&pod, &image_spec(), 0, now());
        assert!(status_changed);
        assert_eq!(
            podutil::condition(&desired, INPLACE_UPDATE_READY).map(|c| c.status.as_str()),
            Some("False")
        );
        assert_eq!(
            podutil::condition(&desired, INPLACE_UPDATE_READY).and_then(|c| c.reason.as_deref()),
            Some("StartInPlaceUpdate")
        );
        assert_eq!(
            podutil::condition(&desired, "Ready").map(|c| c.status.as_str()),
            Some("False")
        );
        assert_eq!(podutil::revision_of(&desired), "cs-new");
        assert_eq!(podutil::label(&desired, POD_TEMPLATE_HASH_LABEL), Some("new"));
        assert_eq!(
            desired
                .spec
                .as_ref()
                .and_then(|s| s.containers[0].image.as_deref()),
            Some("nginx:2")
        );
        assert_eq!(
            podutil::annotation(&desired, INPLACE_UPDATE_STATE_ANNOTATION),
            Some(
                r#"{"revision":"cs-new","updateTimestamp":"2027-01-15T08:00:00Z","lastContainerStatuses":{"main":{"imageID":"docker-pullable://nginx@sha256:1"}},"updateImages":true,"containerBatchesRecord":[{"timestamp":"2027-01-15T08:00:00Z","containers":["main"]}]}"#
            )
        );
        assert!(
            check_completed(&desired).is_err(),
            "image ID unchanged and status image old"
        );
    }

    #[test]
    fn grace_period_defers_images() {
        let pod = PodBuilder::ready("cs-a", "cs-old").build();
        let (_, desired) = start_update(&pod, &image_spec(), 30, now());
        assert_eq!(
            desired
                .spec
                .as_ref()
                .and_then(|s| s.containers[0].image.as_deref()),
            Some("nginx:1")
        );
        assert_eq!(
            podutil::annotation(&desired, INPLACE_UPDATE_STATE_ANNOTATION),
            Some(
                r#"{"revision":"cs-new","updateTimestamp":"2027-01-15T08:00:00Z","lastContainerStatuses":null,"updateImages":true}"#
            )
        );
        assert_eq!(
            podutil::annotation(&desired, INPLACE_UPDATE_GRACE_ANNOTATION),
            Some(r#"{"revision":"cs-new","containerImages":{"main":"nginx:2"},"graceSeconds":30}"#)
        );
        assert!(check_completed(&desired).is_err());
        // Before the end: wait the remaining seconds.
        assert_eq!(
            finish_grace(&desired, now() + SignedDuration::from_secs(10)),
            GraceOutcome::Wait(20)
        );
        // After: images patched, grace dropped, image IDs recorded.
        let GraceOutcome::Write(done) = finish_grace(&desired, now() + SignedDuration::from_secs(30)) else {
            panic!("grace should finish");
        };
        assert_eq!(
            done.spec.as_ref().and_then(|s| s.containers[0].image.as_deref()),
            Some("nginx:2")
        );
        assert!(podutil::annotation(&done, INPLACE_UPDATE_GRACE_ANNOTATION).is_none());
        let state = state_of(&done).and_then(Result::ok).unwrap_or_default();
        assert_eq!(state.last_container_statuses.map(|m| m.len()), Some(1));
        // A revision change meanwhile just drops the grace annotation.
        let mut moved = desired.clone();
        set_label(&mut moved, REVISION_HASH_LABEL, "cs-other");
        let GraceOutcome::Write(dropped) = finish_grace(&moved, now()) else {
            panic!("grace should be dropped");
        };
        assert!(podutil::annotation(&dropped, INPLACE_UPDATE_GRACE_ANNOTATION).is_none());
        assert_eq!(
            dropped
                .spec
                .as_ref()
                .and_then(|s| s.containers[0].image.as_deref()),
            Some("nginx:1")
        );
    }

    #[test]
    fn completion_table() {
        let (_, updating) = start_update(
            &PodBuilder::ready("cs-a", "cs-old").build(),
            &image_spec(),
            0,
            now(),
        );
        let with_status = |image: &str, image_id: &str| {
            let mut pod = updating.clone();
            if let Some(status) = pod
                .status
                .as_mut()
                .and_then(|s| s.container_statuses.as_mut())
                .and_then(|c| c.first_mut())
            {
                status.image = image.to_string();
                status.image_id = image_id.to_string();
            }
            pod
        };
        let cases = [
            (
                "nothing changed yet",
                with_status("nginx:1", "docker-pullable://nginx@sha256:1"),
                false,
            ),
            (
                "new image id",
                with_status("nginx:1", "docker-pullable://nginx@sha256:2"),
                true,
            ),
            (
                "same id but status image is the spec image (#635)",
                with_status("docker.io/library/nginx:2", "docker-pullable://nginx@sha256:1"),
                true,
            ),
            (
                "no in-place state",
                PodBuilder::ready("cs-a", "cs-1").build(),
                true,
            ),
        ];
        for (label, pod, done) in cases {
            assert_eq!(check_completed(&pod).is_ok(), done, "{label}");
        }
        let mut missing = updating.clone();
        if let Some(status) = missing.status.as_mut() {
            status.container_statuses = Some(Vec::new());
        }
        assert!(
            check_completed(&missing).is_err(),
            "recorded container missing from status"
        );
    }

    #[test]
    fn image_comparison() {
        assert!(same_image("nginx", "docker.io/library/nginx:latest"));
        assert!(same_image("repo/app:1", "docker.io/repo/app:1"));
        assert!(!same_image("nginx:1", "nginx:2"));
        assert!(same_image("registry:5000/app", "registry:5000/app:latest"));
    }
}
