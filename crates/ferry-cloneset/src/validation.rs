//! Kruise's CloneSet validating webhook (reference §1.1) as a pure function returning field errors in
//! Kubernetes' `field.Error` shape, for the embedded API server's validating-admission step.

use std::collections::BTreeSet;

pub use ferry_apimachinery::{FieldError, FieldErrorType};

use ferry_types::kruise::{
    CloneSet, CloneSetSpec, UPDATE_IN_PLACE_IF_POSSIBLE, UPDATE_IN_PLACE_ONLY, UPDATE_RECREATE,
};
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use serde_json::Value;

use crate::intstr;
use crate::selector;

/// Builds a field error in the argument order the checks below read best in.
fn field_error(
    kind: FieldErrorType,
    field: impl Into<String>,
    value: Option<Value>,
    detail: impl Into<String>,
) -> FieldError {
    FieldError::new(field, kind, value, detail)
}

/// Looks up a pod of the CloneSet's namespace by name (for `podsToDelete` checks on UPDATE).
pub trait PodLookup {
    /// The pod, when it exists.
    fn pod(&self, name: &str) -> Option<Pod>;
}

impl PodLookup for Vec<Pod> {
    fn pod(&self, name: &str) -> Option<Pod> {
        self.iter()
            .find(|p| p.metadata.name.as_deref() == Some(name))
            .cloned()
    }
}

/// Adapts a closure (e.g. a store lookup in the API server) to [`PodLookup`].
pub struct LookupFn<F>(pub F);

impl<F: Fn(&str) -> Option<Pod>> PodLookup for LookupFn<F> {
    fn pod(&self, name: &str) -> Option<Pod> {
        (self.0)(name)
    }
}

/// Validates a CloneSet on CREATE (`old` None) or UPDATE. `pods` resolves names newly added to
/// `scaleStrategy.podsToDelete`; pass an empty `Vec` when unavailable (then every added name is reported
/// as not found, as upstream does when the lookup fails).
pub fn validate_cloneset(obj: &Value, old: Option<&Value>, pods: &dyn PodLookup) -> Vec<FieldError> {
    let cloneset: CloneSet = match serde_json::from_value(obj.clone()) {
        Ok(cloneset) => cloneset,
        Err(e) => {
            return vec![field_error(
                FieldErrorType::Invalid,
                "spec",
                None,
                format!("cannot decode CloneSet: {e}"),
            )];
        }
    };
    let old_cloneset: Option<CloneSet> = old.and_then(|o| serde_json::from_value(o.clone()).ok());
    let mut errors = Vec::new();
    if let Some(old) = &old_cloneset {
        validate_update(&cloneset, old, obj, old_json_spec(old), &mut errors);
    }
    validate_metadata(&cloneset, &mut errors);
    validate_spec(&cloneset, old_cloneset.as_ref(), obj, pods, &mut errors);
    errors
}

fn old_json_spec(old: &CloneSet) -> Value {
    serde_json::to_value(&old.spec).unwrap_or(Value::Null)
}

fn is_dns_subdomain(name: &str) -> bool {
    !name.is_empty() && name.len() <= 253 && name.split('.').all(|part| is_dns_label_like(part, 253))
}

fn is_dns_label_like(part: &str, max: usize) -> bool {
    let bytes = part.as_bytes();
    !bytes.is_empty()
        && part.len() <= max
        && bytes
            .iter()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-')
        && bytes.first().is_some_and(|b| b.is_ascii_alphanumeric())
        && bytes.last().is_some_and(|b| b.is_ascii_alphanumeric())
}

fn is_dns_label(name: &str) -> bool {
    is_dns_label_like(name, 63)
}

fn validate_metadata(cloneset: &CloneSet, errors: &mut Vec<FieldError>) {
    match (&cloneset.metadata.name, &cloneset.metadata.generate_name) {
        (Some(name), _) if !name.is_empty() => {
            if !is_dns_subdomain(name) {
                errors.push(field_error(
                    FieldErrorType::Invalid,
                    "metadata.name",
                    Some(Value::String(name.clone())),
                    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character",
                ));
            }
        }
        (_, Some(prefix)) if !prefix.is_empty() => {}
        _ => errors.push(field_error(
            FieldErrorType::Required,
            "metadata.name",
            None,
            "name or generateName is required",
        )),
    }
}

fn validate_selector(path: &str, selector: &LabelSelector, errors: &mut Vec<FieldError>) {
    for (index, requirement) in selector.match_expressions.iter().flatten().enumerate() {
        let field = format!("{path}.matchExpressions[{index}]");
        let values = requirement.values.as_deref().unwrap_or_default();
        match requirement.operator.as_str() {
            "In" | "NotIn" if values.is_empty() => errors.push(field_error(
                FieldErrorType::Required,
                format!("{field}.values"),
                None,
                "must be specified when `operator` is 'In' or 'NotIn'",
            )),
            "Exists" | "DoesNotExist" if !values.is_empty() => errors.push(field_error(
                FieldErrorType::Forbidden,
                format!("{field}.values"),
                None,
                "may not be specified when `operator` is 'Exists' or 'DoesNotExist'",
            )),
            "In" | "NotIn" | "Exists" | "DoesNotExist" => {}
            other => errors.push(field_error(
                FieldErrorType::Invalid,
                format!("{field}.operator"),
                Some(Value::String(other.to_string())),
                "not a valid selector operator",
            )),
        }
    }
}

fn validate_spec(
    cloneset: &CloneSet,
    old: Option<&CloneSet>,
    obj: &Value,
    pods: &dyn PodLookup,
    errors: &mut Vec<FieldError>,
) {
    let spec = &cloneset.spec;
    let replicas = spec.replicas.unwrap_or(1);
    if replicas < 0 {
        errors.push(field_error(
            FieldErrorType::Invalid,
            "spec.replicas",
            Some(replicas.into()),
            "must be greater than or equal to 0",
        ));
    }
    match &spec.selector {
        None => errors.push(field_error(FieldErrorType::Required, "spec.selector", None, "")),
        Some(selector_value) => {
            validate_selector("spec.selector", selector_value, errors);
            if selector::is_empty(selector_value) {
                errors.push(field_error(
                    FieldErrorType::Invalid,
                    "spec.selector",
                    serde_json::to_value(selector_value).ok(),
                    "empty selector is invalid for cloneset",
                ));
            } else {
                let labels = spec
                    .template
                    .metadata
                    .as_ref()
                    .and_then(|m| m.labels.clone())
                    .unwrap_or_default();
                if !selector::matches(selector_value, &labels) {
                    errors.push(field_error(
                        FieldErrorType::Invalid,
                        "spec.template.metadata.labels",
                        serde_json::to_value(&labels).ok(),
                        "`selector` does not match template `labels`",
                    ));
                }
            }
        }
    }
    validate_template(spec, obj, errors);

    let restart_policy = spec
        .template
        .spec
        .as_ref()
        .and_then(|s| s.restart_policy.as_deref())
        .unwrap_or_default();
    if !restart_policy.is_empty() && restart_policy != "Always" {
        errors.push(field_error(
            FieldErrorType::NotSupported,
            "spec.template.spec.restartPolicy",
            Some(Value::String(restart_policy.to_string())),
            "supported values: \"Always\"",
        ));
    }
    if spec
        .template
        .spec
        .as_ref()
        .is_some_and(|s| s.active_deadline_seconds.is_some())
    {
        errors.push(field_error(
            FieldErrorType::Forbidden,
            "spec.template.spec.activeDeadlineSeconds",
            None,
            "activeDeadlineSeconds in cloneset is not Supported",
        ));
    }

    validate_pods_to_delete(cloneset, old, pods, errors);
    validate_update_strategy(spec, replicas, errors);

    if let Some(deadline) = spec.progress_deadline_seconds
        && deadline != i32::MAX
    {
        if deadline < 0 {
            errors.push(field_error(
                FieldErrorType::Invalid,
                "spec.progressDeadlineSeconds",
                Some(deadline.into()),
                "must be greater than or equal to 0",
            ));
        } else if deadline <= spec.min_ready_seconds {
            errors.push(field_error(
                FieldErrorType::Invalid,
                "spec.progressDeadlineSeconds",
                Some(deadline.into()),
                "must be greater than minReadySeconds",
            ));
        }
    }
}

/// The pod-template checks Ferry performs (a subset of `ValidatePodTemplateSpec`): containers present,
/// names valid and unique, images set, volume names unique, and volume mounts pointing at a volume
/// (volumeClaimTemplates count as volumes, as upstream mocks them).
fn validate_template(spec: &CloneSetSpec, obj: &Value, errors: &mut Vec<FieldError>) {
    let base = "spec.template.spec";
    let Some(pod_spec) = obj.pointer("/spec/template/spec") else {
        errors.push(field_error(
            FieldErrorType::Required,
            "spec.template.spec.containers",
            None,
            "",
        ));
        return;
    };
    let mut volumes: BTreeSet<String> = BTreeSet::new();
    for (index, volume) in pod_spec
        .get("volumes")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
    {
        let name = volume.get("name").and_then(Value::as_str).unwrap_or_default();
        let field = format!("{base}.volumes[{index}].name");
        if name.is_empty() {
            errors.push(field_error(FieldErrorType::Required, field, None, ""));
        } else if !volumes.insert(name.to_string()) {
            errors.push(field_error(
                FieldErrorType::Duplicate,
                field,
                Some(Value::String(name.to_string())),
                "",
            ));
        }
    }
    for claim in &spec.volume_claim_templates {
        volumes.insert(claim.metadata.name.clone().unwrap_or_default());
    }
    let containers = pod_spec
        .get("containers")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if containers.is_empty() {
        errors.push(field_error(
            FieldErrorType::Required,
            format!("{base}.containers"),
            None,
            "",
        ));
    }
    let mut names: BTreeSet<String> = BTreeSet::new();
    for list in ["initContainers", "containers"] {
        for (index, container) in pod_spec
            .get(list)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .enumerate()
        {
            let field = format!("{base}.{list}[{index}]");
            let name = container.get("name").and_then(Value::as_str).unwrap_or_default();
            if name.is_empty() {
                errors.push(field_error(
                    FieldErrorType::Required,
                    format!("{field}.name"),
                    None,
                    "",
                ));
            } else if !is_dns_label(name) {
                errors.push(field_error(
                    FieldErrorType::Invalid,
                    format!("{field}.name"),
                    Some(Value::String(name.to_string())),
                    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character",
                ));
            } else if !names.insert(name.to_string()) {
                errors.push(field_error(
                    FieldErrorType::Duplicate,
                    format!("{field}.name"),
                    Some(Value::String(name.to_string())),
                    "",
                ));
            }
            if container
                .get("image")
                .and_then(Value::as_str)
                .is_none_or(|i| i.trim().is_empty())
            {
                errors.push(field_error(
                    FieldErrorType::Required,
                    format!("{field}.image"),
                    None,
                    "",
                ));
            }
            for (mount_index, mount) in container
                .get("volumeMounts")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .enumerate()
            {
                let mount_name = mount.get("name").and_then(Value::as_str).unwrap_or_default();
                if !volumes.contains(mount_name) {
                    errors.push(field_error(
                        FieldErrorType::NotFound,
                        format!("{field}.volumeMounts[{mount_index}].name"),
                        Some(Value::String(mount_name.to_string())),
                        "",
                    ));
                }
            }
            for (port_index, port) in container
                .get("ports")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .enumerate()
            {
                let number = port.get("containerPort").and_then(Value::as_i64).unwrap_or(0);
                if !(1..=65535).contains(&number) {
                    errors.push(field_error(
                        FieldErrorType::Invalid,
                        format!("{field}.ports[{port_index}].containerPort"),
                        Some(number.into()),
                        "must be between 1 and 65535, inclusive",
                    ));
                }
            }
        }
    }
}

fn validate_pods_to_delete(
    cloneset: &CloneSet,
    old: Option<&CloneSet>,
    pods: &dyn PodLookup,
    errors: &mut Vec<FieldError>,
) {
    let field = "spec.scaleStrategy.podsToDelete";
    let listed = &cloneset.spec.scale_strategy.pods_to_delete;
    let mut seen = BTreeSet::new();
    let duplicates: BTreeSet<&String> = listed.iter().filter(|n| !seen.insert(n.as_str())).collect();
    if !duplicates.is_empty() {
        let names: Vec<&str> = duplicates.iter().map(|s| s.as_str()).collect();
        errors.push(field_error(
            FieldErrorType::Invalid,
            field,
            serde_json::to_value(listed).ok(),
            format!("duplicated items [{}]", names.join(" ")),
        ));
        return;
    }
    let before: BTreeSet<&String> = old
        .map(|o| o.spec.scale_strategy.pods_to_delete.iter().collect())
        .unwrap_or_default();
    let added: BTreeSet<&String> = listed.iter().filter(|n| !before.contains(n)).collect();
    let uid = cloneset.metadata.uid.as_deref();
    for name in added {
        let value = Some(Value::String(name.clone()));
        match pods.pod(name) {
            None => errors.push(field_error(
                FieldErrorType::Invalid,
                field,
                value,
                format!("find pod {name} failed: not found"),
            )),
            Some(pod) if pod.metadata.deletion_timestamp.is_some() => errors.push(field_error(
                FieldErrorType::Invalid,
                field,
                value,
                format!("find pod {name} already terminating"),
            )),
            Some(pod) => {
                let owner = pod
                    .metadata
                    .owner_references
                    .iter()
                    .flatten()
                    .find(|r| r.controller == Some(true));
                if owner.is_none_or(|o| Some(o.uid.as_str()) != uid) {
                    errors.push(field_error(
                        FieldErrorType::Invalid,
                        field,
                        value,
                        format!("find pod {name} owner is not this CloneSet"),
                    ));
                }
            }
        }
    }
}

fn int_or_string_value(value: &IntOrString) -> Value {
    match value {
        IntOrString::Int(n) => Value::from(*n),
        IntOrString::String(s) => Value::String(s.clone()),
    }
}

fn validate_update_strategy(spec: &CloneSetSpec, replicas: i32, errors: &mut Vec<FieldError>) {
    let strategy = &spec.update_strategy;
    let base = "spec.updateStrategy";
    if ![UPDATE_RECREATE, UPDATE_IN_PLACE_IF_POSSIBLE, UPDATE_IN_PLACE_ONLY]
        .contains(&strategy.type_.as_str())
    {
        errors.push(field_error(
            FieldErrorType::Invalid,
            format!("{base}.type"),
            Some(Value::String(strategy.type_.clone())),
            "must be 'ReCreate', InPlaceIfPossible or 'InPlaceOnly'",
        ));
    }
    if let Some(partition) = &strategy.partition {
        match intstr::scaled_value(partition, replicas, true, true) {
            Err(e) => errors.push(field_error(
                FieldErrorType::Invalid,
                format!("{base}.partition"),
                Some(int_or_string_value(partition)),
                format!("failed getValueFromIntOrPercent for partition: {e}"),
            )),
            Ok(value) if value < 0 => errors.push(field_error(
                FieldErrorType::Invalid,
                format!("{base}.partition"),
                Some(value.into()),
                "must be greater than or equal to 0",
            )),
            Ok(_) => {}
        }
    }
    if let Some(priority) = &strategy.priority_strategy {
        let problem = if !priority.weight_priority.is_empty() && !priority.order_priority.is_empty() {
            Some("only one of weightPriority and orderPriority can be used".to_string())
        } else if priority
            .weight_priority
            .iter()
            .any(|w| !(0..=100).contains(&w.weight))
        {
            Some("weight must be valid number in the range 1-100".to_string())
        } else if priority
            .weight_priority
            .iter()
            .any(|w| selector::is_empty(&w.match_selector))
        {
            Some("selector can not be empty".to_string())
        } else if priority.order_priority.iter().any(|o| o.ordered_key.is_empty()) {
            Some("order key can not be empty".to_string())
        } else {
            None
        };
        if let Some(problem) = problem {
            errors.push(field_error(
                FieldErrorType::Required,
                format!("{base}.priorityStrategy"),
                None,
                problem,
            ));
        }
    }
    let mut terms = BTreeSet::new();
    for term in &strategy.scatter_strategy {
        let problem = if term.key.is_empty() {
            Some("key should not be empty".to_string())
        } else if !terms.insert((term.key.as_str(), term.value.as_str())) {
            Some(format!("duplicated key={} value={}", term.key, term.value))
        } else {
            None
        };
        if let Some(problem) = problem {
            errors.push(field_error(
                FieldErrorType::Required,
                format!("{base}.scatterStrategy"),
                None,
                problem,
            ));
            break;
        }
    }
    let mut max_unavailable = 0;
    if let Some(value) = &strategy.max_unavailable {
        match intstr::scaled_value(value, replicas, true, false) {
            Ok(v) => max_unavailable = v,
            Err(e) => errors.push(field_error(
                FieldErrorType::Invalid,
                format!("{base}.maxUnavailable"),
                Some(int_or_string_value(value)),
                format!("failed getValueFromIntOrPercent for maxUnavailable: {e}"),
            )),
        }
    }
    let mut max_surge = 0;
    if let Some(value) = &strategy.max_surge {
        match intstr::scaled_value(value, replicas, true, false) {
            Ok(v) => max_surge = v,
            Err(e) => errors.push(field_error(
                FieldErrorType::Invalid,
                format!("{base}.maxSurge"),
                Some(int_or_string_value(value)),
                format!("failed getValueFromIntOrPercent for maxSurge: {e}"),
            )),
        }
        if strategy.type_ == UPDATE_IN_PLACE_ONLY && max_surge > 0 {
            errors.push(field_error(
                FieldErrorType::Invalid,
                format!("{base}.maxSurge"),
                Some(int_or_string_value(value)),
                "can not use maxSurge with strategy type InPlaceOnly",
            ));
        }
    }
    if replicas > 0 && max_unavailable < 1 && max_surge < 1 {
        errors.push(field_error(
            FieldErrorType::Invalid,
            format!("{base}.maxUnavailable"),
            strategy.max_unavailable.as_ref().map(int_or_string_value),
            "maxUnavailable and maxSurge should not both be less than 1",
        ));
    }
}

/// Spec fields that may change on UPDATE.
const MUTABLE_SPEC_FIELDS: [&str; 9] = [
    "replicas",
    "template",
    "scaleStrategy",
    "updateStrategy",
    "minReadySeconds",
    "lifecycle",
    "revisionHistoryLimit",
    "volumeClaimTemplates",
    "progressDeadlineSeconds",
];

/// The first JSON-patch style difference between two values: `(op, path)`.
fn first_difference(old: &Value, new: &Value, path: &str) -> Option<(&'static str, String)> {
    match (old, new) {
        (a, b) if a == b => None,
        (Value::Object(a), Value::Object(b)) => {
            let keys: BTreeSet<&String> = a.keys().chain(b.keys()).collect();
            keys.into_iter().find_map(|key| {
                let child = format!("{path}/{key}");
                match (a.get(key), b.get(key)) {
                    (Some(x), Some(y)) => first_difference(x, y, &child),
                    (None, Some(_)) => Some(("add", child)),
                    (Some(_), None) => Some(("remove", child)),
                    (None, None) => None,
                }
            })
        }
        (Value::Array(a), Value::Array(b)) if a.len() == b.len() => a
            .iter()
            .zip(b)
            .enumerate()
            .find_map(|(index, (x, y))| first_difference(x, y, &format!("{path}/{index}"))),
        _ => Some(("replace", path.to_string())),
    }
}

fn is_image_replace(op: &str, path: &str) -> bool {
    let Some(rest) = path.strip_prefix("/containers/") else {
        return false;
    };
    let Some((index, field)) = rest.split_once('/') else {
        return false;
    };
    op == "replace" && field == "image" && !index.is_empty() && index.bytes().all(|b| b.is_ascii_digit())
}

fn validate_update(
    cloneset: &CloneSet,
    old: &CloneSet,
    obj: &Value,
    old_spec: Value,
    errors: &mut Vec<FieldError>,
) {
    let new_spec = serde_json::to_value(&cloneset.spec).unwrap_or(Value::Null);
    let strip = |spec: &Value| {
        let mut spec = spec.clone();
        if let Value::Object(map) = &mut spec {
            for field in MUTABLE_SPEC_FIELDS {
                map.remove(field);
            }
        }
        spec
    };
    if strip(&new_spec) != strip(&old_spec) {
        errors.push(field_error(
            FieldErrorType::Forbidden,
            "spec",
            None,
            "updates to cloneset spec for fields other than 'replicas', 'template', 'lifecycle', 'scaleStrategy', 'updateStrategy', 'minReadySeconds', 'volumeClaimTemplates' and 'revisionHistoryLimit' are forbidden",
        ));
    }
    if cloneset.spec.update_strategy.type_ == UPDATE_IN_PLACE_ONLY {
        let new_template_spec = obj.pointer("/spec/template/spec").cloned().unwrap_or(Value::Null);
        let old_template_spec = serde_json::to_value(&old.spec.template.spec).unwrap_or(Value::Null);
        let normalized_new = serde_json::to_value(&cloneset.spec.template.spec).unwrap_or(new_template_spec);
        let mut remaining_old = old_template_spec.clone();
        // Apply image replacements one by one so every differing op is checked, not only the first.
        for _ in 0..1000 {
            let Some((op, path)) = first_difference(&remaining_old, &normalized_new, "") else {
                break;
            };
            if !is_image_replace(op, &path) {
                errors.push(field_error(
                    FieldErrorType::Forbidden,
                    "spec",
                    None,
                    format!("only allowed to update images in spec for {UPDATE_IN_PLACE_ONLY}, but found {op} {path}"),
                ));
                break;
            }
            if let (Some(target), Some(value)) =
                (remaining_old.pointer_mut(&path), normalized_new.pointer(&path))
            {
                *target = value.clone();
            } else {
                break;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::defaults::default_cloneset;
    use crate::podutil::testpods::PodBuilder;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
    use serde_json::json;

    fn seed() -> Value {
        let mut obj = json!({
            "apiVersion": "apps.kruise.io/v1alpha1",
            "kind": "CloneSet",
            "metadata": {"name": "helloworld-server", "namespace": "default", "uid": "cs-uid"},
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
        default_cloneset(&mut obj, None, true);
        obj
    }

    fn messages(errors: &[FieldError]) -> Vec<String> {
        errors.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn seed_is_valid() {
        let empty: &Vec<Pod> = &Vec::new();
        assert_eq!(
            messages(&validate_cloneset(&seed(), None, empty)),
            Vec::<String>::new()
        );
    }

    #[test]
    fn create_validation_table() {
        let empty: &Vec<Pod> = &Vec::new();
        let cases: Vec<(&str, Value, &str)> = vec![
            (
                "/spec/replicas",
                json!(-1),
                "spec.replicas: Invalid value: -1: must be greater than or equal to 0",
            ),
            (
                "/spec/selector",
                json!({}),
                "spec.selector: Invalid value: \"object\": empty selector is invalid for cloneset",
            ),
            (
                "/spec/selector",
                json!({"matchLabels": {"app": "other"}}),
                "spec.template.metadata.labels: Invalid value: \"object\": `selector` does not match template `labels`",
            ),
            (
                "/spec/template/spec/restartPolicy",
                json!("Never"),
                "spec.template.spec.restartPolicy: Unsupported value: \"Never\": supported values: \"Always\"",
            ),
            (
                "/spec/template/spec/activeDeadlineSeconds",
                json!(10),
                "spec.template.spec.activeDeadlineSeconds: Forbidden: activeDeadlineSeconds in cloneset is not Supported",
            ),
            (
                "/spec/updateStrategy/type",
                json!("OnDelete"),
                "spec.updateStrategy.type: Invalid value: \"OnDelete\": must be 'ReCreate', InPlaceIfPossible or 'InPlaceOnly'",
            ),
            (
                "/spec/updateStrategy/partition",
                json!(-3),
                "spec.updateStrategy.partition: Invalid value: -3: must be greater than or equal to 0",
            ),
            (
                "/spec/updateStrategy/maxUnavailable",
                json!(0),
                "spec.updateStrategy.maxUnavailable: Invalid value: 0: maxUnavailable and maxSurge should not both be less than 1",
            ),
            (
                "/spec/updateStrategy/maxUnavailable",
                json!("abc"),
                "spec.updateStrategy.maxUnavailable: Invalid value: \"abc\": failed getValueFromIntOrPercent for maxUnavailable: invalid value \"abc\" for an int-or-percent field: a string value must be a percentage such as \"20%\"",
            ),
            (
                "/spec/scaleStrategy/podsToDelete",
                json!(["a", "a"]),
                "spec.scaleStrategy.podsToDelete: Invalid value: \"array\": duplicated items [a]",
            ),
            (
                "/spec/scaleStrategy/podsToDelete",
                json!(["ghost"]),
                "spec.scaleStrategy.podsToDelete: Invalid value: \"ghost\": find pod ghost failed: not found",
            ),
            (
                "/spec/updateStrategy/scatterStrategy",
                json!([{"key": "zone", "value": "a"}, {"key": "zone", "value": "a"}]),
                "spec.updateStrategy.scatterStrategy: Required value: duplicated key=zone value=a",
            ),
            (
                "/spec/updateStrategy/priorityStrategy",
                json!({"weightPriority": [{"weight": 120, "matchSelector": {"matchLabels": {"a": "b"}}}]}),
                "spec.updateStrategy.priorityStrategy: Required value: weight must be valid number in the range 1-100",
            ),
            (
                "/spec/template/spec/containers",
                json!([]),
                "spec.template.spec.containers: Required value",
            ),
            (
                "/spec/template/spec/containers/0/volumeMounts",
                json!([{"name": "data", "mountPath": "/data"}]),
                "spec.template.spec.containers[0].volumeMounts[0].name: Not found: \"data\"",
            ),
            (
                "/metadata/name",
                json!("Bad_Name"),
                "metadata.name: Invalid value: \"Bad_Name\": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character",
            ),
        ];
        for (pointer, value, expected) in cases {
            let mut obj = seed();
            if let Some(target) = obj.pointer_mut(pointer) {
                *target = value;
            } else if let Some((parent, key)) = pointer.rsplit_once('/')
                && let Some(Value::Object(map)) = obj.pointer_mut(parent)
            {
                map.insert(key.to_string(), value);
            }
            let got = messages(&validate_cloneset(&obj, None, empty));
            assert!(
                got.contains(&expected.to_string()),
                "{pointer}: expected {expected:?}, got {got:?}"
            );
        }
    }

    #[test]
    fn in_place_only_and_max_surge() {
        let empty: &Vec<Pod> = &Vec::new();
        let mut obj = seed();
        obj["spec"]["updateStrategy"]["type"] = json!("InPlaceOnly");
        obj["spec"]["updateStrategy"]["maxSurge"] = json!("50%");
        let got = messages(&validate_cloneset(&obj, None, empty));
        assert!(got.contains(&"spec.updateStrategy.maxSurge: Invalid value: \"50%\": can not use maxSurge with strategy type InPlaceOnly".to_string()), "{got:?}");
    }

    #[test]
    fn update_rules() {
        let empty: &Vec<Pod> = &Vec::new();
        let old = seed();
        // Changing the selector is forbidden.
        let mut new = old.clone();
        new["spec"]["selector"] = json!({"matchLabels": {"app": "helloworld-server", "x": "y"}});
        new["spec"]["template"]["metadata"]["labels"]["x"] = json!("y");
        let got = messages(&validate_cloneset(&new, Some(&old), empty));
        assert!(
            got.iter()
                .any(|m| m.starts_with("spec: Forbidden: updates to cloneset spec for fields other than")),
            "{got:?}"
        );
        // Replicas, template and strategy changes are fine.
        let mut new = old.clone();
        new["spec"]["replicas"] = json!(5);
        new["spec"]["template"]["spec"]["containers"][0]["image"] = json!("nginx:2");
        assert!(validate_cloneset(&new, Some(&old), empty).is_empty());
        // InPlaceOnly: images may change, env may not.
        let mut in_place_only = old.clone();
        in_place_only["spec"]["updateStrategy"]["type"] = json!("InPlaceOnly");
        let mut image_change = in_place_only.clone();
        image_change["spec"]["template"]["spec"]["containers"][0]["image"] = json!("nginx:2");
        assert!(validate_cloneset(&image_change, Some(&in_place_only), empty).is_empty());
        let mut env_change = in_place_only.clone();
        env_change["spec"]["template"]["spec"]["containers"][0]["env"] = json!([{"name": "A", "value": "1"}]);
        let got = messages(&validate_cloneset(&env_change, Some(&in_place_only), empty));
        assert_eq!(got, vec!["spec: Forbidden: only allowed to update images in spec for InPlaceOnly, but found add /containers/0/env".to_string()]);
    }

    #[test]
    fn pods_to_delete_must_be_owned_and_alive() {
        let old = seed();
        let owned = |name: &str, uid: &str| {
            let mut pod = PodBuilder::ready(name, "r").build();
            pod.metadata.owner_references = Some(vec![OwnerReference {
                uid: uid.into(),
                controller: Some(true),
                ..Default::default()
            }]);
            pod
        };
        let pods = vec![
            owned("mine", "cs-uid"),
            owned("theirs", "other"),
            PodBuilder(owned("dying", "cs-uid")).deleting().build(),
        ];
        let mut new = old.clone();
        new["spec"]["scaleStrategy"]["podsToDelete"] = json!(["mine", "theirs", "dying"]);
        let got = messages(&validate_cloneset(&new, Some(&old), &pods));
        assert_eq!(
            got,
            vec![
                "spec.scaleStrategy.podsToDelete: Invalid value: \"dying\": find pod dying already terminating".to_string(),
                "spec.scaleStrategy.podsToDelete: Invalid value: \"theirs\": find pod theirs owner is not this CloneSet".to_string(),
            ]
        );
        // Names already listed before are not checked again.
        let got = messages(&validate_cloneset(&new, Some(&new), &pods));
        assert!(got.is_empty(), "{got:?}");
    }
}
