//! Building the pods and PVCs a CloneSet creates.

use std::collections::BTreeSet;

use ferry_types::kruise::CloneSet;
use k8s_openapi::api::core::v1::{
    PersistentVolumeClaim, PersistentVolumeClaimVolumeSource, Pod, PodReadinessGate, PodTemplateSpec, Volume,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::jiff::Timestamp;

use crate::labels::{
    INPLACE_UPDATE_READY, INSTANCE_ID_LABEL, KRUISE_POD_READY, LIFECYCLE_STATE_LABEL,
    LIFECYCLE_TIMESTAMP_ANNOTATION, POD_TEMPLATE_HASH_LABEL, REVISION_HASH_LABEL, state,
};
use crate::podutil;
use crate::revision::owner_reference;

/// Alphabet of Kubernetes `rand.String` (no vowels, no confusable digits).
const ID_ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
/// Length of a CloneSet instance id.
pub const INSTANCE_ID_LENGTH: usize = 5;

/// A small deterministic generator (SplitMix64) so planning stays a pure function of its seed.
#[derive(Debug, Clone)]
pub struct IdGenerator(u64);

impl IdGenerator {
    /// A generator starting from `seed` (the reconciler passes a random seed).
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A random 5-character id.
    pub fn next_id(&mut self) -> String {
        (0..INSTANCE_ID_LENGTH)
            .map(|_| {
                let index = usize::try_from(self.next_u64() % ID_ALPHABET.len() as u64).unwrap_or(0);
                char::from(ID_ALPHABET[index])
            })
            .collect()
    }
}

/// Instance ids for `count` new pods: ids of PVCs without a pod first (PVC reuse, sorted), then fresh
/// random ids that clash with no pod or PVC.
pub fn available_ids(
    count: usize,
    active_pods: &[Pod],
    pvcs: &[PersistentVolumeClaim],
    reuse_pvcs: bool,
    generator: &mut IdGenerator,
) -> Vec<String> {
    let pvc_id = |pvc: &PersistentVolumeClaim| {
        pvc.metadata
            .labels
            .as_ref()
            .and_then(|l| l.get(INSTANCE_ID_LABEL))
            .filter(|id| !id.is_empty())
            .cloned()
    };
    let pod_ids: BTreeSet<String> = active_pods
        .iter()
        .filter_map(|p| podutil::label(p, INSTANCE_ID_LABEL))
        .map(str::to_string)
        .collect();
    let mut existing: BTreeSet<String> = pvcs.iter().filter_map(pvc_id).collect();
    let mut free: Vec<String> = if reuse_pvcs {
        existing
            .iter()
            .filter(|id| !pod_ids.contains(*id))
            .cloned()
            .collect()
    } else {
        Vec::new()
    };
    existing.extend(pod_ids);
    let mut ids = Vec::with_capacity(count);
    free.reverse();
    while ids.len() < count {
        if let Some(id) = free.pop() {
            ids.push(id);
            continue;
        }
        let id = generator.next_id();
        if existing.insert(id.clone()) {
            ids.push(id);
        }
    }
    ids.sort();
    ids
}

/// PVC name for a claim template and instance: `<vct>-<cloneset>-<id>`.
pub fn pvc_name(template_name: &str, cloneset_name: &str, instance_id: &str) -> String {
    format!("{template_name}-{cloneset_name}-{instance_id}")
}

/// The PVCs a pod with `instance_id` uses (one per volumeClaimTemplate).
pub fn claims_for(cloneset: &CloneSet, instance_id: &str) -> Vec<PersistentVolumeClaim> {
    let cloneset_name = cloneset.metadata.name.as_deref().unwrap_or_default();
    let selector_labels = cloneset
        .spec
        .selector
        .as_ref()
        .and_then(|s| s.match_labels.clone())
        .unwrap_or_default();
    cloneset
        .spec
        .volume_claim_templates
        .iter()
        .map(|template| {
            let template_name = template.metadata.name.as_deref().unwrap_or_default();
            let mut labels = template.metadata.labels.clone().unwrap_or_default();
            labels.extend(selector_labels.clone());
            labels.insert(INSTANCE_ID_LABEL.to_string(), instance_id.to_string());
            PersistentVolumeClaim {
                metadata: ObjectMeta {
                    name: Some(pvc_name(template_name, cloneset_name, instance_id)),
                    namespace: cloneset.metadata.namespace.clone(),
                    labels: Some(labels),
                    annotations: template.metadata.annotations.clone(),
                    owner_references: Some(vec![owner_reference(cloneset)]),
                    ..Default::default()
                },
                spec: template.spec.clone(),
                status: None,
            }
        })
        .collect()
}

/// Whether any lifecycle hook asks to mark pods not ready (then pods carry the KruisePodReady gate).
pub fn uses_kruise_pod_ready(cloneset: &CloneSet) -> bool {
    cloneset.spec.lifecycle.as_ref().is_some_and(|l| {
        [&l.pre_delete, &l.in_place_update]
            .into_iter()
            .flatten()
            .any(|hook| hook.mark_pod_not_ready)
    })
}

/// The pod the controller creates for `instance_id` from `template` (the template of `revision`).
pub fn new_pod(
    cloneset: &CloneSet,
    template: &PodTemplateSpec,
    revision: &str,
    instance_id: &str,
    now: Timestamp,
) -> Pod {
    let cloneset_name = cloneset.metadata.name.as_deref().unwrap_or_default();
    let template_meta = template.metadata.clone().unwrap_or_default();
    let mut labels = template_meta.labels.unwrap_or_default();
    labels.insert(REVISION_HASH_LABEL.to_string(), revision.to_string());
    labels.insert(
        POD_TEMPLATE_HASH_LABEL.to_string(),
        podutil::short_hash(revision).to_string(),
    );
    labels.insert(INSTANCE_ID_LABEL.to_string(), instance_id.to_string());
    labels.insert(
        LIFECYCLE_STATE_LABEL.to_string(),
        state::PREPARING_NORMAL.to_string(),
    );
    let mut annotations = template_meta.annotations.unwrap_or_default();
    annotations.insert(LIFECYCLE_TIMESTAMP_ANNOTATION.to_string(), rfc3339(now));

    let mut spec = template.spec.clone().unwrap_or_default();
    let gates = spec.readiness_gates.get_or_insert_with(Vec::new);
    let mut wanted = vec![INPLACE_UPDATE_READY];
    if uses_kruise_pod_ready(cloneset) {
        wanted.push(KRUISE_POD_READY);
    }
    for gate in wanted {
        if !gates.iter().any(|g| g.condition_type == gate) {
            gates.push(PodReadinessGate {
                condition_type: gate.to_string(),
            });
        }
    }
    if !cloneset.spec.volume_claim_templates.is_empty() {
        let volumes = spec.volumes.get_or_insert_with(Vec::new);
        for claim_template in &cloneset.spec.volume_claim_templates {
            let claim_template_name = claim_template.metadata.name.clone().unwrap_or_default();
            volumes.retain(|v| v.name != claim_template_name);
            volumes.push(Volume {
                name: claim_template_name.clone(),
                persistent_volume_claim: Some(PersistentVolumeClaimVolumeSource {
                    claim_name: pvc_name(&claim_template_name, cloneset_name, instance_id),
                    read_only: None,
                }),
                ..Default::default()
            });
        }
    }

    Pod {
        metadata: ObjectMeta {
            name: Some(format!("{cloneset_name}-{instance_id}")),
            generate_name: Some(format!("{cloneset_name}-")),
            namespace: cloneset.metadata.namespace.clone(),
            labels: Some(labels),
            annotations: Some(annotations),
            finalizers: template_meta.finalizers,
            owner_references: Some(vec![owner_reference(cloneset)]),
            ..Default::default()
        },
        spec: Some(spec),
        status: None,
    }
}

/// RFC 3339 with second precision, as Go's `metav1.Time` and `time.RFC3339` print UTC times.
pub fn rfc3339(time: Timestamp) -> String {
    time.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::podutil::testpods::{PodBuilder, now};
    use crate::testcs::seed_cloneset;
    use serde_json::json;

    #[test]
    fn seed_pod_shape() {
        let cloneset = seed_cloneset();
        let template = cloneset.spec.template.clone();
        let pod = new_pod(
            &cloneset,
            &template,
            "helloworld-server-5b9c4d7f8",
            "x7k2p",
            now(),
        );
        let value = serde_json::to_value(&pod).unwrap_or_default();
        assert_eq!(value["metadata"]["name"], "helloworld-server-x7k2p");
        assert_eq!(value["metadata"]["generateName"], "helloworld-server-");
        assert_eq!(value["metadata"]["namespace"], "default");
        assert_eq!(
            value["metadata"]["labels"],
            json!({
                "app": "helloworld-server",
                "apps.kruise.io/cloneset-instance-id": "x7k2p",
                "controller-revision-hash": "helloworld-server-5b9c4d7f8",
                "lifecycle.apps.kruise.io/state": "PreparingNormal",
                "pod-template-hash": "5b9c4d7f8"
            })
        );
        assert_eq!(
            value["metadata"]["annotations"]["lifecycle.apps.kruise.io/timestamp"],
            "2027-01-15T08:00:00Z"
        );
        assert_eq!(
            value["metadata"]["ownerReferences"],
            json!([{"apiVersion": "apps.kruise.io/v1alpha1", "kind": "CloneSet", "name": "helloworld-server", "uid": "cs-uid", "controller": true, "blockOwnerDeletion": true}])
        );
        assert_eq!(
            value["spec"]["readinessGates"],
            json!([{"conditionType": "InPlaceUpdateReady"}])
        );
        assert_eq!(
            value["spec"]["containers"][0]["image"],
            "openkruise/kruise:hello_world-d92ae174b"
        );
    }

    #[test]
    fn volume_claim_templates_become_pvcs_and_volumes() {
        let mut cloneset = seed_cloneset();
        cloneset.spec.volume_claim_templates = vec![
            serde_json::from_value(
                json!({"metadata": {"name": "data"}, "spec": {"accessModes": ["ReadWriteOnce"]}}),
            )
            .unwrap_or_default(),
        ];
        if let Some(spec) = cloneset.spec.template.spec.as_mut() {
            spec.volumes = Some(vec![
                serde_json::from_value(json!({"name": "data", "emptyDir": {}})).unwrap_or_default(),
            ]);
        }
        let template = cloneset.spec.template.clone();
        let pod = new_pod(&cloneset, &template, "helloworld-server-abc", "q2w4e", now());
        let volumes = serde_json::to_value(pod.spec.and_then(|s| s.volumes)).unwrap_or_default();
        assert_eq!(
            volumes,
            json!([{"name": "data", "persistentVolumeClaim": {"claimName": "data-helloworld-server-q2w4e"}}])
        );
        let claims = claims_for(&cloneset, "q2w4e");
        let claim = serde_json::to_value(&claims).unwrap_or_default();
        assert_eq!(claim[0]["metadata"]["name"], "data-helloworld-server-q2w4e");
        assert_eq!(
            claim[0]["metadata"]["labels"],
            json!({"app": "helloworld-server", "apps.kruise.io/cloneset-instance-id": "q2w4e"})
        );
    }

    #[test]
    fn ids_reuse_free_pvcs_then_generate_unique_ones() {
        let pod = PodBuilder::ready("cs-aaaaa", "cs-1")
            .label(INSTANCE_ID_LABEL, "aaaaa")
            .build();
        let pvc = |id: &str| PersistentVolumeClaim {
            metadata: ObjectMeta {
                labels: Some(
                    [(INSTANCE_ID_LABEL.to_string(), id.to_string())]
                        .into_iter()
                        .collect(),
                ),
                ..Default::default()
            },
            ..Default::default()
        };
        let pvcs = [pvc("aaaaa"), pvc("bbbbb")];
        let mut generator = IdGenerator::new(7);
        let ids = available_ids(3, std::slice::from_ref(&pod), &pvcs, true, &mut generator);
        assert_eq!(ids.len(), 3);
        assert!(ids.contains(&"bbbbb".to_string()));
        assert!(!ids.contains(&"aaaaa".to_string()));
        assert!(
            ids.iter()
                .all(|id| id.len() == 5 && id.bytes().all(|b| ID_ALPHABET.contains(&b)))
        );
        let unique: BTreeSet<&String> = ids.iter().collect();
        assert_eq!(unique.len(), 3);
        // Without reuse the PVC id is not handed out again.
        let ids = available_ids(2, &[pod], &pvcs, false, &mut IdGenerator::new(7));
        assert!(!ids.contains(&"bbbbb".to_string()));
    }
}
