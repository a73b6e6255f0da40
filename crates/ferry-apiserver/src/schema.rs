//! CRD structural-schema validation, pruning of unknown fields and schema defaults.
//!
//! ferry-apimachinery does not offer this yet; it lives here behind [`validate_and_prune`].

use ferry_apimachinery::{FieldError, FieldErrorType};
use serde_json::{Map, Value};

/// The outcome of checking an object against its CRD schema.
#[derive(Debug, Default)]
pub struct SchemaReport {
    pub errors: Vec<FieldError>,
    /// Paths of fields removed because the schema does not declare them.
    pub pruned: Vec<String>,
}

fn join(path: &str, field: &str) -> String {
    if path.is_empty() {
        field.to_string()
    } else {
        format!("{path}.{field}")
    }
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Applies schema defaults, prunes unknown fields and validates `obj` (a whole custom resource) against
/// `schema` (the version's `openAPIV3Schema`). `apiVersion`, `kind` and `metadata` are left to the
/// generic checks.
pub fn validate_and_prune(obj: &mut Value, schema: &Value) -> SchemaReport {
    let mut report = SchemaReport::default();
    let Some(map) = obj.as_object_mut() else {
        report.errors.push(FieldError::new(
            "",
            FieldErrorType::TypeInvalid,
            None,
            "must be an object",
        ));
        return report;
    };
    let props = schema.get("properties").and_then(Value::as_object);
    let preserve = schema
        .get("x-kubernetes-preserve-unknown-fields")
        .and_then(Value::as_bool)
        == Some(true);
    if let Some(props) = props {
        for (name, sub) in props {
            if matches!(name.as_str(), "apiVersion" | "kind" | "metadata") {
                continue;
            }
            if !map.contains_key(name)
                && let Some(d) = sub.get("default")
            {
                map.insert(name.clone(), d.clone());
            }
        }
    }
    let keys: Vec<String> = map.keys().cloned().collect();
    for key in keys {
        if matches!(key.as_str(), "apiVersion" | "kind" | "metadata") {
            continue;
        }
        match props.and_then(|p| p.get(&key)) {
            Some(sub) => {
                if let Some(v) = map.get_mut(&key) {
                    check(v, sub, &key, &mut report);
                }
            }
            None if preserve => {}
            None => {
                map.remove(&key);
                report.pruned.push(key);
            }
        }
    }
    check_required(map, schema, "", &mut report);
    report
}

fn check_required(map: &Map<String, Value>, schema: &Value, path: &str, report: &mut SchemaReport) {
    if let Some(req) = schema.get("required").and_then(Value::as_array) {
        for r in req.iter().filter_map(Value::as_str) {
            if !map.contains_key(r) {
                report.errors.push(FieldError::required(join(path, r), ""));
            }
        }
    }
}

fn check(v: &mut Value, schema: &Value, path: &str, report: &mut SchemaReport) {
    if v.is_null() {
        if schema.get("nullable").and_then(Value::as_bool) == Some(true) {
            return;
        }
        // Kubernetes drops nulls for non-nullable fields before validation (when they have no default).
        if let Some(d) = schema.get("default") {
            *v = d.clone();
        } else {
            return;
        }
    }
    let int_or_string = schema.get("x-kubernetes-int-or-string").and_then(Value::as_bool) == Some(true);
    if int_or_string {
        if !matches!(type_name(v), "integer" | "string") {
            report.errors.push(FieldError::new(
                path,
                FieldErrorType::Invalid,
                Some(v.clone()),
                "must be an integer or a string",
            ));
        }
        return;
    }
    let declared = schema.get("type").and_then(Value::as_str);
    if let Some(t) = declared {
        let actual = type_name(v);
        let ok = actual == t || (t == "number" && actual == "integer");
        if !ok {
            report.errors.push(FieldError::new(
                path,
                FieldErrorType::Invalid,
                Some(v.clone()),
                format!("{path} in body must be of type {t}: \"{actual}\""),
            ));
            return;
        }
    }
    if let Some(allowed) = schema.get("enum").and_then(Value::as_array)
        && !allowed.contains(v)
    {
        let names: Vec<String> = allowed
            .iter()
            .map(|a| a.as_str().map(str::to_string).unwrap_or(a.to_string()))
            .collect();
        report
            .errors
            .push(FieldError::not_supported(path, v.clone(), &names));
    }
    match v {
        Value::String(s) => {
            if let Some(p) = schema.get("pattern").and_then(Value::as_str)
                && let Ok(re) = regex::Regex::new(p)
                && !re.is_match(s)
            {
                report.errors.push(FieldError::invalid(
                    path,
                    Value::String(s.clone()),
                    format!("{path} in body should match '{p}'"),
                ));
            }
            if let Some(max) = schema.get("maxLength").and_then(Value::as_u64)
                && s.chars().count() as u64 > max
            {
                report.errors.push(FieldError::new(
                    path,
                    FieldErrorType::TooLong,
                    None,
                    format!("may not be more than {max} bytes"),
                ));
            }
            if let Some(min) = schema.get("minLength").and_then(Value::as_u64)
                && (s.chars().count() as u64) < min
            {
                report.errors.push(FieldError::invalid(
                    path,
                    Value::String(s.clone()),
                    format!("{path} in body should be at least {min} chars long"),
                ));
            }
        }
        Value::Number(n) => {
            let x = n.as_f64().unwrap_or(0.0);
            if let Some(min) = schema.get("minimum").and_then(Value::as_f64)
                && x < min
            {
                report.errors.push(FieldError::invalid(
                    path,
                    v.clone(),
                    format!("{path} in body should be greater than or equal to {min}"),
                ));
            }
            if let Some(max) = schema.get("maximum").and_then(Value::as_f64)
                && x > max
            {
                report.errors.push(FieldError::invalid(
                    path,
                    v.clone(),
                    format!("{path} in body should be less than or equal to {max}"),
                ));
            }
        }
        Value::Array(items) => {
            if let Some(item_schema) = schema.get("items") {
                for (i, item) in items.iter_mut().enumerate() {
                    check(item, item_schema, &format!("{path}[{i}]"), report);
                }
            }
        }
        Value::Object(map) => {
            if schema
                .get("x-kubernetes-embedded-resource")
                .and_then(Value::as_bool)
                == Some(true)
                && schema.get("properties").is_none()
            {
                return;
            }
            let preserve = schema
                .get("x-kubernetes-preserve-unknown-fields")
                .and_then(Value::as_bool)
                == Some(true);
            let props = schema.get("properties").and_then(Value::as_object);
            let additional = schema.get("additionalProperties");
            if let Some(props) = props {
                for (name, sub) in props {
                    if !map.contains_key(name)
                        && let Some(d) = sub.get("default")
                    {
                        map.insert(name.clone(), d.clone());
                    }
                }
            }
            let keys: Vec<String> = map.keys().cloned().collect();
            for key in keys {
                let child_path = join(path, &key);
                let sub = props.and_then(|p| p.get(&key)).or(match additional {
                    Some(Value::Object(_)) => additional,
                    _ => None,
                });
                match sub {
                    Some(sub) => {
                        if let Some(child) = map.get_mut(&key) {
                            check(child, sub, &child_path, report);
                        }
                    }
                    None if preserve || additional == Some(&Value::Bool(true)) => {}
                    None if props.is_none() && additional.is_none() && declared.is_none() => {}
                    None => {
                        map.remove(&key);
                        report.pruned.push(child_path);
                    }
                }
            }
            check_required(map, schema, path, report);
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn schema() -> Value {
        json!({"type": "object", "properties": {
            "spec": {"type": "object", "required": ["replicas"], "properties": {
                "replicas": {"type": "integer", "minimum": 0},
                "mode": {"type": "string", "enum": ["A", "B"], "default": "A"},
                "name": {"type": "string", "pattern": "^[a-z]+$"},
                "port": {"x-kubernetes-int-or-string": true},
                "free": {"type": "object", "x-kubernetes-preserve-unknown-fields": true},
                "labels": {"type": "object", "additionalProperties": {"type": "string"}}
            }},
            "status": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}
        }})
    }

    #[test]
    fn valid_objects_get_defaults_and_lose_unknown_fields() {
        let mut obj = json!({"apiVersion": "x/v1", "kind": "X", "metadata": {}, "spec": {"replicas": 1, "bogus": 1, "free": {"any": 1}, "port": "http", "labels": {"a": "b"}}, "top": 1});
        let report = validate_and_prune(&mut obj, &schema());
        assert!(report.errors.is_empty(), "{:?}", report.errors);
        assert_eq!(report.pruned, ["spec.bogus", "top"]);
        assert_eq!(obj["spec"]["mode"], "A");
        assert_eq!(obj["spec"]["free"]["any"], 1);
    }

    #[test]
    fn errors_name_each_field() {
        let cases = [
            (json!({"spec": {"replicas": "x"}}), "spec.replicas"),
            (json!({"spec": {}}), "spec.replicas"),
            (json!({"spec": {"replicas": 1, "mode": "C"}}), "spec.mode"),
            (json!({"spec": {"replicas": 1, "name": "UP"}}), "spec.name"),
            (json!({"spec": {"replicas": -1}}), "spec.replicas"),
            (json!({"spec": {"replicas": 1, "port": true}}), "spec.port"),
            (
                json!({"spec": {"replicas": 1, "labels": {"a": 1}}}),
                "spec.labels.a",
            ),
        ];
        for (mut obj, field) in cases {
            let report = validate_and_prune(&mut obj, &schema());
            assert_eq!(
                report.errors.iter().map(|e| e.field.as_str()).collect::<Vec<_>>(),
                [field],
                "{obj}"
            );
        }
    }
}
