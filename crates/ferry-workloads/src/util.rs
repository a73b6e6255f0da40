//! Helpers shared by the planners: int-or-percent arithmetic, label selectors, pod readiness,
//! owner references, condition bookkeeping and the pod-template hash.

use std::collections::BTreeMap;

use jiff::{SignedDuration, Timestamp};
use k8s_openapi::api::core::v1::{Pod, PodTemplateSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{
    LabelSelector, LabelSelectorRequirement, ObjectMeta, OwnerReference, Time,
};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use serde_json::Value;

/// A spec field the planners cannot interpret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SpecError {
    /// An int-or-string field holds a string that is not a percentage.
    #[error(
        "{kind} {object}: field {field} has invalid value {value:?}: must be an integer or a percentage such as \"25%\""
    )]
    InvalidIntOrPercent {
        /// Kind of the object at fault.
        kind: &'static str,
        /// `namespace/name` of the object at fault.
        object: String,
        /// JSON path of the field.
        field: &'static str,
        /// The rejected text.
        value: String,
    },
    /// A label selector uses an operator Kubernetes does not define.
    #[error("{kind} {object}: field {field} has unknown selector operator {operator:?}")]
    InvalidSelectorOperator {
        /// Kind of the object at fault.
        kind: &'static str,
        /// `namespace/name` of the object at fault.
        object: String,
        /// JSON path of the field.
        field: &'static str,
        /// The rejected operator.
        operator: String,
    },
}

/// `namespace/name` of an object, for error messages and keys.
pub fn object_key(meta: &ObjectMeta) -> String {
    format!(
        "{}/{}",
        meta.namespace.as_deref().unwrap_or_default(),
        meta.name.as_deref().unwrap_or_default()
    )
}

/// Kubernetes' `GetScaledValueFromIntOrPercent`: an integer is used as is, `"N%"` is N·total/100
/// rounded up or down. Anything else is an error naming the field.
pub fn scaled_value(
    value: &IntOrString,
    total: i32,
    round_up: bool,
    kind: &'static str,
    meta: &ObjectMeta,
    field: &'static str,
) -> Result<i32, SpecError> {
    match value {
        IntOrString::Int(n) => Ok(*n),
        IntOrString::String(text) => {
            let invalid = || SpecError::InvalidIntOrPercent {
                kind,
                object: object_key(meta),
                field,
                value: text.clone(),
            };
            let percent: i64 = text
                .strip_suffix('%')
                .ok_or_else(invalid)?
                .parse()
                .map_err(|_| invalid())?;
            let product = percent.saturating_mul(i64::from(total));
            let scaled = if round_up {
                -((-product).div_euclid(100))
            } else {
                product.div_euclid(100)
            };
            Ok(i32::try_from(scaled).unwrap_or(if scaled < 0 { i32::MIN } else { i32::MAX }))
        }
    }
}

/// Whether `labels` satisfy `selector` (matchLabels and matchExpressions). An empty selector
/// matches everything, as in Kubernetes.
pub fn selector_matches(
    selector: &LabelSelector,
    labels: &BTreeMap<String, String>,
    kind: &'static str,
    meta: &ObjectMeta,
) -> Result<bool, SpecError> {
    if let Some(match_labels) = &selector.match_labels {
        for (key, value) in match_labels {
            if labels.get(key) != Some(value) {
                return Ok(false);
            }
        }
    }
    for requirement in selector.match_expressions.iter().flatten() {
        if !requirement_matches(requirement, labels, kind, meta)? {
            return Ok(false);
        }
    }
    Ok(true)
}

fn requirement_matches(
    requirement: &LabelSelectorRequirement,
    labels: &BTreeMap<String, String>,
    kind: &'static str,
    meta: &ObjectMeta,
) -> Result<bool, SpecError> {
    let value = labels.get(&requirement.key);
    let values = requirement.values.as_deref().unwrap_or_default();
    Ok(match requirement.operator.as_str() {
        "In" => value.is_some_and(|v| values.contains(v)),
        "NotIn" => value.is_none_or(|v| !values.contains(v)),
        "Exists" => value.is_some(),
        "DoesNotExist" => value.is_none(),
        other => {
            return Err(SpecError::InvalidSelectorOperator {
                kind,
                object: object_key(meta),
                field: "spec.selector.matchExpressions",
                operator: other.to_string(),
            });
        }
    })
}

/// The object's labels (empty when absent).
pub fn labels_of(meta: &ObjectMeta) -> BTreeMap<String, String> {
    meta.labels.clone().unwrap_or_default()
}

/// The pod's phase, or "" when unknown.
pub fn pod_phase(pod: &Pod) -> &str {
    pod.status
        .as_ref()
        .and_then(|s| s.phase.as_deref())
        .unwrap_or_default()
}

/// A pod that has finished (Succeeded or Failed).
pub fn pod_finished(pod: &Pod) -> bool {
    matches!(pod_phase(pod), "Succeeded" | "Failed")
}

/// Kubernetes' `IsPodActive`: not finished and not being deleted.
pub fn pod_active(pod: &Pod) -> bool {
    !pod_finished(pod) && pod.metadata.deletion_timestamp.is_none()
}

/// The pod's `Ready` condition, if any.
fn ready_condition(pod: &Pod) -> Option<&k8s_openapi::api::core::v1::PodCondition> {
    pod.status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == "Ready")
}

/// The pod's `Ready` condition is True.
pub fn pod_ready(pod: &Pod) -> bool {
    ready_condition(pod).is_some_and(|c| c.status == "True")
}

/// Since when the pod has been ready, when known.
pub fn pod_ready_since(pod: &Pod) -> Option<Timestamp> {
    ready_condition(pod)
        .filter(|c| c.status == "True")
        .and_then(|c| c.last_transition_time.as_ref())
        .map(|t| t.0)
}

/// Kubernetes' `IsPodAvailable`: ready for at least `min_ready_seconds`. A ready pod without a
/// transition time counts as available only when `min_ready_seconds` is 0.
pub fn pod_available(pod: &Pod, min_ready_seconds: i32, now: Timestamp) -> bool {
    if !pod_ready(pod) {
        return false;
    }
    if min_ready_seconds <= 0 {
        return true;
    }
    pod_ready_since(pod).is_some_and(|since| add_secs(since, i64::from(min_ready_seconds)) <= now)
}

/// When a ready-but-not-yet-available pod becomes available (for requeueing).
pub fn pod_available_at(pod: &Pod, min_ready_seconds: i32) -> Option<Timestamp> {
    if min_ready_seconds <= 0 {
        return None;
    }
    pod_ready_since(pod).map(|since| add_secs(since, i64::from(min_ready_seconds)))
}

/// `at + secs`, saturating at the representable range instead of failing.
pub fn add_secs(at: Timestamp, secs: i64) -> Timestamp {
    at.checked_add(SignedDuration::from_secs(secs))
        .unwrap_or(if secs < 0 { Timestamp::MIN } else { Timestamp::MAX })
}

/// Sum of container (and init container) restarts of a pod.
pub fn pod_restarts(pod: &Pod) -> i32 {
    let Some(status) = pod.status.as_ref() else {
        return 0;
    };
    status
        .container_statuses
        .iter()
        .flatten()
        .chain(status.init_container_statuses.iter().flatten())
        .map(|c| c.restart_count)
        .fold(0, i32::saturating_add)
}

/// The controller owner reference of an object, if any.
pub fn controller_of(meta: &ObjectMeta) -> Option<&OwnerReference> {
    meta.owner_references
        .as_ref()?
        .iter()
        .find(|r| r.controller == Some(true))
}

/// Whether `meta` is controlled by the object with `uid`.
pub fn controlled_by(meta: &ObjectMeta, uid: &str) -> bool {
    controller_of(meta).is_some_and(|r| r.uid == uid)
}

/// The owner reference a controller puts on what it creates: controller and blockOwnerDeletion.
pub fn controller_ref(api_version: &str, kind: &str, owner: &ObjectMeta) -> OwnerReference {
    OwnerReference {
        api_version: api_version.to_string(),
        kind: kind.to_string(),
        name: owner.name.clone().unwrap_or_default(),
        uid: owner.uid.clone().unwrap_or_default(),
        controller: Some(true),
        block_owner_deletion: Some(true),
    }
}

/// Creation time, or the epoch when unknown (sorts first).
pub fn created_at(meta: &ObjectMeta) -> Timestamp {
    meta.creation_timestamp
        .as_ref()
        .map_or(Timestamp::UNIX_EPOCH, |t| t.0)
}

/// Wraps a timestamp for Kubernetes fields.
pub fn time(now: Timestamp) -> Time {
    Time(now)
}

/// 32-bit FNV-1a, the hasher Kubernetes uses for `pod-template-hash`.
pub fn fnv32a(bytes: &[u8]) -> u32 {
    let mut hash: u32 = 0x811c_9dc5;
    for byte in bytes {
        hash ^= u32::from(*byte);
        hash = hash.wrapping_mul(0x0100_0193);
    }
    hash
}

/// Kubernetes' `rand.SafeEncodeString`: maps each byte onto an alphabet without vowels or
/// look-alike characters, so hashes never spell words.
pub fn safe_encode(text: &str) -> String {
    const ALPHANUMS: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    text.bytes()
        .map(|b| {
            let index = usize::from(b) % ALPHANUMS.len();
            char::from(ALPHANUMS.get(index).copied().unwrap_or(b'b'))
        })
        .collect()
}

/// Removes nulls and empty maps/lists so two templates that differ only in absent-vs-empty
/// fields compare equal (the API server may drop or keep empty values).
pub fn normalize_json(value: &mut Value) {
    match value {
        Value::Object(map) => {
            for child in map.values_mut() {
                normalize_json(child);
            }
            map.retain(|_, v| !is_empty_json(v));
        }
        Value::Array(items) => {
            for child in items.iter_mut() {
                normalize_json(child);
            }
        }
        _ => {}
    }
}

fn is_empty_json(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::Object(map) => map.is_empty(),
        Value::Array(items) => items.is_empty(),
        _ => false,
    }
}

/// A pod template as normalized JSON with the given label removed, for equality checks.
pub fn template_without_label(template: &PodTemplateSpec, label: &str) -> Value {
    let mut copy = template.clone();
    if let Some(labels) = copy.metadata.as_mut().and_then(|m| m.labels.as_mut()) {
        labels.remove(label);
    }
    let mut value = serde_json::to_value(&copy).unwrap_or(Value::Null);
    normalize_json(&mut value);
    value
}

/// Kubernetes' `ComputeHash`: FNV-32a over the template (here: its normalized JSON) and the
/// collision count (little-endian u32), printed in decimal and safe-encoded.
pub fn pod_template_hash(template: &PodTemplateSpec, collision_count: Option<i32>) -> String {
    let mut value = serde_json::to_value(template).unwrap_or(Value::Null);
    normalize_json(&mut value);
    let mut bytes = serde_json::to_vec(&value).unwrap_or_default();
    if let Some(count) = collision_count {
        bytes.extend_from_slice(&count.cast_unsigned().to_le_bytes());
    }
    safe_encode(&fnv32a(&bytes).to_string())
}

/// A condition in the shape shared by Deployment, ReplicaSet and Job conditions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CondSpec {
    /// Condition type.
    pub type_: &'static str,
    /// "True", "False" or "Unknown".
    pub status: &'static str,
    /// CamelCase reason.
    pub reason: String,
    /// Human-readable message.
    pub message: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta() -> ObjectMeta {
        ObjectMeta {
            name: Some("web".into()),
            namespace: Some("default".into()),
            ..ObjectMeta::default()
        }
    }

    #[test]
    fn scaled_values_round_as_kubernetes() {
        let cases = [
            (IntOrString::Int(3), 10, true, 3),
            (IntOrString::String("25%".into()), 10, true, 3),
            (IntOrString::String("25%".into()), 10, false, 2),
            (IntOrString::String("0%".into()), 10, true, 0),
            (IntOrString::String("100%".into()), 7, false, 7),
            (IntOrString::String("33%".into()), 1, true, 1),
            (IntOrString::String("33%".into()), 1, false, 0),
        ];
        for (value, total, up, want) in cases {
            let got = scaled_value(&value, total, up, "Deployment", &meta(), "spec.x").unwrap();
            assert_eq!(got, want, "{value:?} of {total} up={up}");
        }
    }

    #[test]
    fn scaled_value_rejects_non_percent_strings_naming_the_field() {
        for text in ["3", "abc%", "%"] {
            let err = scaled_value(
                &IntOrString::String(text.into()),
                10,
                true,
                "Deployment",
                &meta(),
                "spec.strategy.rollingUpdate.maxSurge",
            )
            .unwrap_err();
            let message = err.to_string();
            assert!(message.contains("default/web"), "{message}");
            assert!(message.contains("maxSurge"), "{message}");
        }
    }

    #[test]
    fn selectors_match_labels_and_expressions() {
        let labels: BTreeMap<String, String> = [
            ("app".to_string(), "web".to_string()),
            ("tier".to_string(), "fe".to_string()),
        ]
        .into();
        let req = |key: &str, op: &str, values: &[&str]| LabelSelectorRequirement {
            key: key.into(),
            operator: op.into(),
            values: Some(values.iter().map(|v| v.to_string()).collect()),
        };
        let cases = [
            (LabelSelector::default(), true),
            (
                LabelSelector {
                    match_labels: Some([("app".into(), "web".into())].into()),
                    ..LabelSelector::default()
                },
                true,
            ),
            (
                LabelSelector {
                    match_labels: Some([("app".into(), "db".into())].into()),
                    ..LabelSelector::default()
                },
                false,
            ),
            (
                LabelSelector {
                    match_expressions: Some(vec![req("tier", "In", &["fe", "be"])]),
                    ..LabelSelector::default()
                },
                true,
            ),
            (
                LabelSelector {
                    match_expressions: Some(vec![req("tier", "NotIn", &["fe"])]),
                    ..LabelSelector::default()
                },
                false,
            ),
            (
                LabelSelector {
                    match_expressions: Some(vec![req("zone", "DoesNotExist", &[])]),
                    ..LabelSelector::default()
                },
                true,
            ),
            (
                LabelSelector {
                    match_expressions: Some(vec![req("zone", "Exists", &[])]),
                    ..LabelSelector::default()
                },
                false,
            ),
        ];
        for (selector, want) in cases {
            assert_eq!(
                selector_matches(&selector, &labels, "ReplicaSet", &meta()).unwrap(),
                want,
                "{selector:?}"
            );
        }
        let bad = LabelSelector {
            match_expressions: Some(vec![req("x", "Like", &[])]),
            ..LabelSelector::default()
        };
        assert!(selector_matches(&bad, &labels, "ReplicaSet", &meta()).is_err());
    }

    #[test]
    fn fnv_and_safe_encoding_match_known_values() {
        // FNV-1a test vectors.
        assert_eq!(fnv32a(b""), 0x811c_9dc5);
        assert_eq!(fnv32a(b"a"), 0xe40c_292c);
        // '0'..'9' are bytes 48..57; 48 % 27 = 21, and the alphabet's 22nd letter is '4'.
        assert_eq!(safe_encode("0123456789"), "456789bcdf");
    }

    #[test]
    fn template_hash_depends_on_template_and_collision_count() {
        let mut template = PodTemplateSpec::default();
        let base = pod_template_hash(&template, None);
        assert_eq!(base, pod_template_hash(&template, None));
        assert_ne!(base, pod_template_hash(&template, Some(1)));
        template.metadata = Some(ObjectMeta {
            labels: Some([("app".into(), "web".into())].into()),
            ..ObjectMeta::default()
        });
        assert_ne!(base, pod_template_hash(&template, None));
        assert!(
            pod_template_hash(&template, None)
                .chars()
                .all(|c| "bcdfghjklmnpqrstvwxz2456789".contains(c))
        );
    }
}
