//! OpenKruise `apps.kruise.io/v1alpha1` CloneSet: spec and status types plus the CRD Ferry installs.
//!
//! Field names, optionality and `omitempty` behaviour follow Kruise's Go types, so objects written by
//! Ferry's controller look like those written by kruise-manager (Argo CD health checks read them).

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{PersistentVolumeClaim, PodTemplateSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, Time};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kube::CustomResource;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// API group of the CloneSet.
pub const GROUP: &str = "apps.kruise.io";
/// API version served (and stored) by Ferry.
pub const VERSION: &str = "v1alpha1";
/// `apiVersion` string of a CloneSet.
pub const API_VERSION: &str = "apps.kruise.io/v1alpha1";
/// Kind name.
pub const KIND: &str = "CloneSet";

/// Update strategy type: delete old pods and create new ones (the webhook default).
pub const UPDATE_RECREATE: &str = "ReCreate";
/// Update strategy type: update in place when only images/metadata changed, otherwise recreate.
pub const UPDATE_IN_PLACE_IF_POSSIBLE: &str = "InPlaceIfPossible";
/// Update strategy type: update in place only; refuse other template changes.
pub const UPDATE_IN_PLACE_ONLY: &str = "InPlaceOnly";

/// Desired state of a CloneSet (`cloneset_types.go` CloneSetSpec).
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[kube(
    group = "apps.kruise.io",
    version = "v1alpha1",
    kind = "CloneSet",
    plural = "clonesets",
    namespaced,
    status = "CloneSetStatus",
    shortname = "clone",
    category = "all",
    schema = "disabled",
    derive = "PartialEq",
    derive = "Default"
)]
#[serde(rename_all = "camelCase")]
pub struct CloneSetSpec {
    /// Desired number of pods; the webhook defaults it to 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replicas: Option<i32>,
    /// Label query over pods; required and immutable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selector: Option<LabelSelector>,
    /// Pod template the CloneSet creates pods from.
    #[serde(default)]
    pub template: PodTemplateSpec,
    /// PVC templates; each pod gets `<vct.name>-<cloneset>-<instance-id>`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub volume_claim_templates: Vec<PersistentVolumeClaim>,
    /// How pods are added and removed.
    #[serde(default)]
    pub scale_strategy: CloneSetScaleStrategy,
    /// How pods move to a new revision.
    #[serde(default)]
    pub update_strategy: CloneSetUpdateStrategy,
    /// Number of old ControllerRevisions kept; the webhook defaults it to 10.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision_history_limit: Option<i32>,
    /// Seconds a pod must be ready before it counts as available.
    #[serde(default, skip_serializing_if = "is_zero_i32")]
    pub min_ready_seconds: i32,
    /// Lifecycle hooks (preDelete, inPlaceUpdate, preNormal).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lifecycle: Option<Lifecycle>,
    /// Seconds before a stalled rollout is reported (v1.9+; accepted and stored, not yet acted on).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub progress_deadline_seconds: Option<i32>,
}

fn is_zero_i32(value: &i32) -> bool {
    *value == 0
}

fn is_false(value: &bool) -> bool {
    !*value
}

/// `spec.scaleStrategy`.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct CloneSetScaleStrategy {
    /// Names of pods to delete (then replaced if replicas stay the same).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pods_to_delete: Vec<String>,
    /// Limit on unavailable pods while scaling up; nil means unlimited.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_unavailable: Option<IntOrString>,
    /// Do not reuse PVCs of deleted pods.
    #[serde(default, rename = "disablePVCReuse", skip_serializing_if = "is_false")]
    pub disable_pvc_reuse: bool,
}

/// `spec.updateStrategy`.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct CloneSetUpdateStrategy {
    /// `ReCreate`, `InPlaceIfPossible` or `InPlaceOnly`.
    #[serde(default, rename = "type", skip_serializing_if = "String::is_empty")]
    pub type_: String,
    /// Number or percent of pods kept at old revisions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partition: Option<IntOrString>,
    /// Maximum unavailable pods during an update (default 20%).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_unavailable: Option<IntOrString>,
    /// Pods created above replicas during an update (default 0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_surge: Option<IntOrString>,
    /// Stop updating pods (scaling continues).
    #[serde(default, skip_serializing_if = "is_false")]
    pub paused: bool,
    /// Order in which pods are updated, by weight or by ordered label keys.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority_strategy: Option<UpdatePriorityStrategy>,
    /// Spread updated pods over label values.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub scatter_strategy: Vec<UpdateScatterTerm>,
    /// In-place update options; injected as `{}` for the in-place types.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub in_place_update_strategy: Option<InPlaceUpdateStrategy>,
}

/// `updateStrategy.priorityStrategy`.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct UpdatePriorityStrategy {
    /// Weighted selectors; a pod's priority is the sum of the weights it matches.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub weight_priority: Vec<UpdatePriorityWeightTerm>,
    /// Label keys whose trailing integers order the pods.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub order_priority: Vec<UpdatePriorityOrderTerm>,
}

/// One weighted selector of a priority strategy.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct UpdatePriorityWeightTerm {
    /// Weight in 0..=100.
    #[serde(default)]
    pub weight: i32,
    /// Pods matching this selector get the weight.
    #[serde(default)]
    pub match_selector: LabelSelector,
}

/// One ordered key of a priority strategy.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct UpdatePriorityOrderTerm {
    /// Label key whose value's trailing integer gives the order (higher first).
    #[serde(default)]
    pub ordered_key: String,
}

/// One `key: value` term of a scatter strategy.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
pub struct UpdateScatterTerm {
    /// Label key.
    #[serde(default)]
    pub key: String,
    /// Label value.
    #[serde(default)]
    pub value: String,
}

/// `updateStrategy.inPlaceUpdateStrategy`.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct InPlaceUpdateStrategy {
    /// Seconds between marking the pod not-ready and patching its images.
    #[serde(default, skip_serializing_if = "is_zero_i32")]
    pub grace_period_seconds: i32,
}

/// `spec.lifecycle`.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Lifecycle {
    /// Hook that holds a pod in PreparingDelete before deletion.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pre_delete: Option<LifecycleHook>,
    /// Hook that holds a pod in PreparingUpdate before an in-place update.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub in_place_update: Option<LifecycleHook>,
    /// Hook that holds a new pod in PreparingNormal.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pre_normal: Option<LifecycleHook>,
}

/// A lifecycle hook: labels and finalizers that mark a pod as hooked.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct LifecycleHook {
    /// Labels whose presence (with these values) hooks the pod.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels_handler: BTreeMap<String, String>,
    /// Finalizers whose presence hooks the pod.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub finalizers_handler: Vec<String>,
    /// Also set the `KruisePodReady` condition to False while hooked.
    #[serde(default, skip_serializing_if = "is_false")]
    pub mark_pod_not_ready: bool,
}

/// Observed state of a CloneSet (`cloneset_types.go` CloneSetStatus); `omitempty` as upstream.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct CloneSetStatus {
    /// Generation of the spec this status describes.
    #[serde(default, skip_serializing_if = "is_zero_i64")]
    pub observed_generation: i64,
    /// Active pods (not terminal, not deleting).
    #[serde(default)]
    pub replicas: i32,
    /// Running, ready pods whose InPlaceUpdateReady is not False.
    #[serde(default)]
    pub ready_replicas: i32,
    /// Ready for minReadySeconds, lifecycle Normal.
    #[serde(default)]
    pub available_replicas: i32,
    /// Pods at the update revision.
    #[serde(default)]
    pub updated_replicas: i32,
    /// Updated and ready.
    #[serde(default)]
    pub updated_ready_replicas: i32,
    /// Updated and available (omitted when 0, as upstream).
    #[serde(default, skip_serializing_if = "is_zero_i32")]
    pub updated_available_replicas: i32,
    /// replicas − partition.
    #[serde(default, skip_serializing_if = "is_zero_i32")]
    pub expected_updated_replicas: i32,
    /// Name of the ControllerRevision of the current template.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub update_revision: String,
    /// Name of the revision the rollout started from.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub current_revision: String,
    /// Hash-collision counter used when naming revisions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub collision_count: Option<i32>,
    /// FailedScale / FailedUpdate conditions.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<CloneSetCondition>,
    /// Selector string for the `/scale` subresource, e.g. `app=sample`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub label_selector: String,
}

fn is_zero_i64(value: &i64) -> bool {
    *value == 0
}

/// One `status.conditions` entry.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct CloneSetCondition {
    /// `FailedScale`, `FailedUpdate` (or `Progressing`).
    #[serde(rename = "type")]
    pub type_: String,
    /// `True`, `False` or `Unknown`.
    pub status: String,
    /// When the status last changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_transition_time: Option<Time>,
    /// Machine-readable reason.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub reason: String,
    /// Human-readable message.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub message: String,
}

fn int_or_string_schema(description: &str) -> Value {
    json!({
        "description": description,
        "anyOf": [{"type": "integer"}, {"type": "string"}],
        "x-kubernetes-int-or-string": true
    })
}

fn label_selector_schema(description: &str) -> Value {
    json!({
        "description": description,
        "type": "object",
        "properties": {
            "matchLabels": {
                "description": "matchLabels is a map of {key,value} pairs.",
                "type": "object",
                "additionalProperties": {"type": "string"}
            },
            "matchExpressions": {
                "description": "matchExpressions is a list of label selector requirements. The requirements are ANDed.",
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["key", "operator"],
                    "properties": {
                        "key": {"type": "string", "description": "key is the label key that the selector applies to."},
                        "operator": {"type": "string", "description": "operator is one of In, NotIn, Exists and DoesNotExist."},
                        "values": {"type": "array", "items": {"type": "string"}, "description": "values is an array of string values."}
                    }
                }
            }
        },
        "x-kubernetes-map-type": "atomic"
    })
}

fn lifecycle_hook_schema(description: &str) -> Value {
    json!({
        "description": description,
        "type": "object",
        "properties": {
            "labelsHandler": {
                "description": "Labels that mark the pod as hooked; the pod waits while any is present.",
                "type": "object",
                "additionalProperties": {"type": "string"}
            },
            "finalizersHandler": {
                "description": "Finalizers that mark the pod as hooked.",
                "type": "array",
                "items": {"type": "string"}
            },
            "markPodNotReady": {
                "description": "Set the KruisePodReady condition to False while the pod is hooked (preDelete and inPlaceUpdate only).",
                "type": "boolean"
            }
        }
    })
}

fn cloneset_spec_schema() -> Value {
    json!({
        "description": "CloneSetSpec defines the desired state of CloneSet.",
        "type": "object",
        "required": ["selector", "template"],
        "properties": {
            "replicas": {
                "description": "Replicas is the desired number of replicas of the given Template. Defaults to 1.",
                "type": "integer", "format": "int32"
            },
            "selector": label_selector_schema("Selector is a label query over pods that should match the replica count. It must match the pod template's labels. Immutable."),
            "template": {
                "description": "Template describes the pods that will be created.",
                "type": "object",
                "x-kubernetes-preserve-unknown-fields": true
            },
            "volumeClaimTemplates": {
                "description": "VolumeClaimTemplates is a list of claims that pods are allowed to reference. Each pod gets a PVC named <template name>-<cloneset name>-<instance id>.",
                "type": "array",
                "items": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}
            },
            "scaleStrategy": {
                "description": "ScaleStrategy indicates the ScaleStrategy that will be employed to create and delete Pods in the CloneSet.",
                "type": "object",
                "properties": {
                    "podsToDelete": {
                        "description": "PodsToDelete is the names of Pod should be deleted. Note that this list will be truncated for non-existing pod names.",
                        "type": "array", "items": {"type": "string"}
                    },
                    "maxUnavailable": int_or_string_schema("The maximum number of pods that can be unavailable for scaled pods. It only limits scale-up; a percentage is rounded up. Defaults to unlimited."),
                    "disablePVCReuse": {
                        "description": "Do not reuse the PVCs of deleted pods (by default a recreated pod reuses them).",
                        "type": "boolean"
                    }
                }
            },
            "updateStrategy": {
                "description": "UpdateStrategy indicates the UpdateStrategy that will be employed to update Pods in the CloneSet when a revision is made to Template.",
                "type": "object",
                "properties": {
                    "type": {
                        "description": "Type indicates the type of the CloneSetUpdateStrategy. Default is ReCreate.",
                        "type": "string",
                        "enum": ["ReCreate", "InPlaceIfPossible", "InPlaceOnly"]
                    },
                    "partition": int_or_string_schema("Partition is the desired number or percent of Pods in old revisions. Defaults to 0."),
                    "maxUnavailable": int_or_string_schema("The maximum number of pods that can be unavailable during update or scale. Defaults to 20%."),
                    "maxSurge": int_or_string_schema("The maximum number of pods that can be scheduled above the desired replicas during update or specified delete. Defaults to 0."),
                    "paused": {
                        "description": "Paused indicates that the CloneSet is paused (pod updates stop, scaling continues).",
                        "type": "boolean"
                    },
                    "priorityStrategy": {
                        "description": "Priorities are the rules for calculating the priority of updating pods. Only one of weightPriority and orderPriority may be set.",
                        "type": "object",
                        "properties": {
                            "weightPriority": {
                                "description": "Weight priority terms; a pod's priority is the sum of the weights of the terms it matches.",
                                "type": "array",
                                "items": {
                                    "type": "object",
                                    "required": ["weight", "matchSelector"],
                                    "properties": {
                                        "weight": {"description": "Weight associated with matching the corresponding matchExpressions, in the range 1-100.", "type": "integer", "format": "int32"},
                                        "matchSelector": label_selector_schema("MatchSelector is used to select by pod's labels.")
                                    }
                                }
                            },
                            "orderPriority": {
                                "description": "Order priority terms; pods are sorted by the trailing integer of the value of each key, higher first.",
                                "type": "array",
                                "items": {
                                    "type": "object",
                                    "required": ["orderedKey"],
                                    "properties": {
                                        "orderedKey": {"description": "Calculates priority by value of this key.", "type": "string"}
                                    }
                                }
                            }
                        }
                    },
                    "scatterStrategy": {
                        "description": "ScatterStrategy defines the scatter rules to make pods been scattered when update.",
                        "type": "array",
                        "items": {
                            "type": "object",
                            "required": ["key", "value"],
                            "properties": {"key": {"type": "string"}, "value": {"type": "string"}}
                        }
                    },
                    "inPlaceUpdateStrategy": {
                        "description": "InPlaceUpdateStrategy contains strategies for in-place update.",
                        "type": "object",
                        "properties": {
                            "gracePeriodSeconds": {
                                "description": "GracePeriodSeconds is the timespan between set Pod status to not-ready and update images in Pod spec when in-place update a Pod.",
                                "type": "integer", "format": "int32"
                            }
                        }
                    }
                }
            },
            "revisionHistoryLimit": {
                "description": "RevisionHistoryLimit is the maximum number of revisions that will be maintained in the CloneSet's revision history. Defaults to 10.",
                "type": "integer", "format": "int32"
            },
            "minReadySeconds": {
                "description": "Minimum number of seconds for which a newly created pod should be ready without any of its container crashing, for it to be considered available. Defaults to 0.",
                "type": "integer", "format": "int32"
            },
            "lifecycle": {
                "description": "Lifecycle defines the lifecycle hooks of Pods: preDelete, inPlaceUpdate and preNormal.",
                "type": "object",
                "properties": {
                    "preDelete": lifecycle_hook_schema("PreDelete is the hook before Pod to be deleted."),
                    "inPlaceUpdate": lifecycle_hook_schema("InPlaceUpdate is the hook before Pod to update and after Pod has been updated."),
                    "preNormal": lifecycle_hook_schema("PreNormal is the hook after Pod to be created and ready to be serving.")
                }
            },
            "progressDeadlineSeconds": {
                "description": "The maximum time in seconds for a CloneSet to make progress before it is considered to be failed.",
                "type": "integer", "format": "int32"
            }
        }
    })
}

fn cloneset_status_schema() -> Value {
    let count = |description: &str| json!({"description": description, "type": "integer", "format": "int32"});
    json!({
        "description": "CloneSetStatus defines the observed state of CloneSet.",
        "type": "object",
        "properties": {
            "observedGeneration": {"description": "ObservedGeneration is the most recent generation observed for this CloneSet.", "type": "integer", "format": "int64"},
            "replicas": count("Replicas is the number of Pods created by the CloneSet controller."),
            "readyReplicas": count("ReadyReplicas is the number of Pods created by the CloneSet controller that have a Ready Condition."),
            "availableReplicas": count("AvailableReplicas is the number of Pods created by the CloneSet controller that have a Ready Condition for at least minReadySeconds."),
            "updatedReplicas": count("UpdatedReplicas is the number of Pods created by the CloneSet controller from the CloneSet version indicated by updateRevision."),
            "updatedReadyReplicas": count("UpdatedReadyReplicas is the number of Pods created by the CloneSet controller from the CloneSet version indicated by updateRevision and have a Ready Condition."),
            "updatedAvailableReplicas": count("UpdatedAvailableReplicas is the number of Pods created by the CloneSet controller from the CloneSet version indicated by updateRevision and have a Ready Condition for at least minReadySeconds."),
            "expectedUpdatedReplicas": count("ExpectedUpdatedReplicas is the number of Pods that should be updated by CloneSet controller (replicas - partition)."),
            "updateRevision": {"description": "UpdateRevision, if not empty, indicates the latest revision of the CloneSet.", "type": "string"},
            "currentRevision": {"description": "CurrentRevision, if not empty, indicates the current revision version of the CloneSet.", "type": "string"},
            "collisionCount": count("CollisionCount is the count of hash collisions for the CloneSet."),
            "labelSelector": {"description": "LabelSelector is label selectors for query over pods that should match the replica count used by HPA.", "type": "string"},
            "conditions": {
                "description": "Conditions represents the latest available observations of a CloneSet's current state.",
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["type", "status"],
                    "properties": {
                        "type": {"type": "string"},
                        "status": {"type": "string"},
                        "lastTransitionTime": {"type": "string", "format": "date-time"},
                        "reason": {"type": "string"},
                        "message": {"type": "string"}
                    }
                }
            }
        }
    })
}

fn printer_columns() -> Value {
    let column = |name: &str, type_: &str, path: &str, description: &str, priority: i32| {
        let mut column = json!({"name": name, "type": type_, "jsonPath": path, "description": description});
        if priority > 0 {
            column["priority"] = json!(priority);
        }
        column
    };
    json!([
        column(
            "DESIRED",
            "integer",
            ".spec.replicas",
            "The desired number of pods.",
            0
        ),
        column(
            "UPDATED",
            "integer",
            ".status.updatedReplicas",
            "The number of pods updated.",
            0
        ),
        column(
            "UPDATED_READY",
            "integer",
            ".status.updatedReadyReplicas",
            "The number of pods updated and ready.",
            0
        ),
        column(
            "UPDATED_AVAILABLE",
            "integer",
            ".status.updatedAvailableReplicas",
            "The number of pods updated and available.",
            0
        ),
        column(
            "READY",
            "integer",
            ".status.readyReplicas",
            "The number of pods ready.",
            0
        ),
        column(
            "TOTAL",
            "integer",
            ".status.replicas",
            "The number of currently all pods.",
            0
        ),
        column(
            "AGE",
            "date",
            ".metadata.creationTimestamp",
            "CreationTimestamp is a timestamp representing the server time when this object was created.",
            0
        ),
        column(
            "CONTAINERS",
            "string",
            ".spec.template.spec.containers[*].name",
            "The containers of currently cloneset.",
            1
        ),
        column(
            "IMAGES",
            "string",
            ".spec.template.spec.containers[*].image",
            "The images of currently cloneset.",
            1
        ),
        column(
            "SELECTOR",
            "string",
            ".status.labelSelector",
            "The selector of currently cloneset.",
            1
        ),
    ])
}

/// The CloneSet CustomResourceDefinition (apiextensions.k8s.io/v1), as JSON.
pub fn cloneset_crd() -> Value {
    json!({
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "clonesets.apps.kruise.io"},
        "spec": {
            "group": GROUP,
            "names": {
                "kind": KIND,
                "listKind": "CloneSetList",
                "plural": "clonesets",
                "singular": "cloneset",
                "shortNames": ["clone"],
                "categories": ["all"]
            },
            "scope": "Namespaced",
            "versions": [{
                "name": VERSION,
                "served": true,
                "storage": true,
                "additionalPrinterColumns": printer_columns(),
                "subresources": {
                    "status": {},
                    "scale": {
                        "specReplicasPath": ".spec.replicas",
                        "statusReplicasPath": ".status.replicas",
                        "labelSelectorPath": ".status.labelSelector"
                    }
                },
                "schema": {
                    "openAPIV3Schema": {
                        "description": "CloneSet is the Schema for the clonesets API",
                        "type": "object",
                        "properties": {
                            "apiVersion": {"description": "APIVersion defines the versioned schema of this representation of an object.", "type": "string"},
                            "kind": {"description": "Kind is a string value representing the REST resource this object represents.", "type": "string"},
                            "metadata": {"type": "object"},
                            "spec": cloneset_spec_schema(),
                            "status": cloneset_status_schema()
                        }
                    }
                }
            }]
        }
    })
}

/// CustomResourceDefinitions of this group, as JSON.
pub fn crds() -> Vec<Value> {
    vec![cloneset_crd()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crd_declares_scale_and_status_subresources() {
        let crd = cloneset_crd();
        let version = &crd["spec"]["versions"][0];
        assert_eq!(version["subresources"]["status"], json!({}));
        assert_eq!(
            version["subresources"]["scale"]["specReplicasPath"],
            ".spec.replicas"
        );
        assert_eq!(
            version["subresources"]["scale"]["statusReplicasPath"],
            ".status.replicas"
        );
        assert_eq!(
            version["subresources"]["scale"]["labelSelectorPath"],
            ".status.labelSelector"
        );
        assert_eq!(crd["spec"]["scope"], "Namespaced");
        assert_eq!(crd["spec"]["names"]["shortNames"], json!(["clone"]));
        assert_eq!(crd["spec"]["names"]["categories"], json!(["all"]));
    }

    #[test]
    fn crd_printer_columns_match_kruise() {
        let crd = cloneset_crd();
        let columns = crd["spec"]["versions"][0]["additionalPrinterColumns"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let default_names: Vec<&str> = columns
            .iter()
            .filter(|c| c.get("priority").is_none())
            .filter_map(|c| c["name"].as_str())
            .collect();
        assert_eq!(
            default_names,
            [
                "DESIRED",
                "UPDATED",
                "UPDATED_READY",
                "UPDATED_AVAILABLE",
                "READY",
                "TOTAL",
                "AGE"
            ]
        );
        let wide_names: Vec<&str> = columns
            .iter()
            .filter(|c| c["priority"] == json!(1))
            .filter_map(|c| c["name"].as_str())
            .collect();
        assert_eq!(wide_names, ["CONTAINERS", "IMAGES", "SELECTOR"]);
    }

    #[test]
    fn crd_schema_keeps_template_schemaless_and_marks_int_or_string() {
        let crd = cloneset_crd();
        let spec =
            &crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"];
        assert_eq!(spec["template"]["x-kubernetes-preserve-unknown-fields"], true);
        assert_eq!(
            spec["volumeClaimTemplates"]["items"]["x-kubernetes-preserve-unknown-fields"],
            true
        );
        for field in ["partition", "maxUnavailable", "maxSurge"] {
            assert_eq!(
                spec["updateStrategy"]["properties"][field]["x-kubernetes-int-or-string"], true,
                "{field}"
            );
        }
        assert_eq!(
            spec["scaleStrategy"]["properties"]["maxUnavailable"]["x-kubernetes-int-or-string"],
            true
        );
    }

    #[test]
    fn seed_cloneset_deserializes_and_round_trips() {
        let seed = json!({
            "apiVersion": "apps.kruise.io/v1alpha1",
            "kind": "CloneSet",
            "metadata": {"name": "helloworld-server", "labels": {"app": "helloworld-server"}},
            "spec": {
                "updateStrategy": {"type": "InPlaceIfPossible", "partition": 1},
                "replicas": 2,
                "selector": {"matchLabels": {"app": "helloworld-server"}},
                "template": {
                    "metadata": {"labels": {"app": "helloworld-server"}},
                    "spec": {"containers": [{"name": "helloworld", "image": "openkruise/kruise:hello_world-d92ae174b"}]}
                }
            }
        });
        let parsed: CloneSet = serde_json::from_value(seed).expect("seed CloneSet parses");
        assert_eq!(parsed.spec.replicas, Some(2));
        assert_eq!(parsed.spec.update_strategy.type_, UPDATE_IN_PLACE_IF_POSSIBLE);
        assert_eq!(parsed.spec.update_strategy.partition, Some(IntOrString::Int(1)));
        let back = serde_json::to_value(&parsed).expect("serializes");
        assert_eq!(back["spec"]["updateStrategy"]["partition"], json!(1));
        assert_eq!(back["apiVersion"], API_VERSION);
    }

    #[test]
    fn status_omits_empty_fields_like_upstream() {
        let status = CloneSetStatus {
            replicas: 2,
            ..Default::default()
        };
        let value = serde_json::to_value(&status).expect("serializes");
        assert_eq!(value["replicas"], 2);
        assert_eq!(value["readyReplicas"], 0);
        assert!(value.get("updatedAvailableReplicas").is_none());
        assert!(value.get("observedGeneration").is_none());
    }
}
