//! Custom-resource handling against a CRD version's structural `openAPIV3Schema`, in the order
//! kube-apiserver applies it: prune unknown fields ([`prune`]), apply schema defaults
//! ([`apply_schema_defaults`]), then validate ([`validate`]), each error a [`FieldError`] with a
//! Kubernetes-style message such as
//! `spec.replicas: Invalid value: "string": spec.replicas in body must be of type integer: "string"`.
//!
//! [`process_custom_resource`] runs all three with a [`FieldValidation`] mode
//! (`fieldValidation=Strict|Warn|Ignore`): Strict fails on unknown fields, Warn returns them as
//! warnings (`unknown field "spec.foo"`), Ignore prunes silently.
//!
//! Supported keywords: `type`, `properties`, `required`, `items`, `additionalProperties`, `enum`,
//! `pattern`, `minimum`/`maximum` (+ `exclusive*`), `multipleOf`, `minLength`/`maxLength`,
//! `minItems`/`maxItems`, `uniqueItems`, `minProperties`/`maxProperties`, `nullable`, `default`,
//! `allOf`/`anyOf`/`oneOf`/`not`, `x-kubernetes-int-or-string`, `x-kubernetes-preserve-unknown-fields`,
//! `x-kubernetes-embedded-resource`, and `x-kubernetes-list-type` set/map uniqueness.
//! Not supported: `format` checks and CEL `x-kubernetes-validations` (ignored).

use crate::field_error::{FieldError, FieldErrorType};
use serde_json::{Map, Value, json};

/// `fieldValidation` query parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FieldValidation {
    /// Drop unknown fields silently.
    Ignore,
    /// Drop unknown fields and report each as a warning (the default since Kubernetes 1.27).
    #[default]
    Warn,
    /// Reject the request (400) when any field is unknown.
    Strict,
}

impl FieldValidation {
    /// Parses the query value; absent/empty is `Warn`. Anything else is an error message for a 400.
    pub fn parse(value: Option<&str>) -> Result<Self, String> {
        match value.unwrap_or("") {
            "" | "Warn" => Ok(Self::Warn),
            "Ignore" => Ok(Self::Ignore),
            "Strict" => Ok(Self::Strict),
            other => Err(format!(
                "fieldValidation: Unsupported value: {other:?}: supported values: \"Ignore\", \"Strict\", \"Warn\""
            )),
        }
    }
}

/// Why a custom resource was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SchemaError {
    /// `fieldValidation=Strict` and unknown fields were present (HTTP 400 BadRequest).
    #[error("strict decoding error: {}", .0.iter().map(|f| format!("unknown field {f:?}")).collect::<Vec<_>>().join(", "))]
    UnknownFields(Vec<String>),
    /// Schema violations (HTTP 422 Invalid; build the body with [`crate::field_error::invalid_status`]).
    #[error("{}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join(", "))]
    Invalid(Vec<FieldError>),
}

/// Prunes, defaults and validates a custom resource in place. Returns the warnings to send
/// (`unknown field "…"`) in Warn mode.
pub fn process_custom_resource(
    obj: &mut Value,
    schema: &Value,
    mode: FieldValidation,
) -> Result<Vec<String>, SchemaError> {
    let unknown = prune(obj, schema);
    if mode == FieldValidation::Strict && !unknown.is_empty() {
        return Err(SchemaError::UnknownFields(unknown));
    }
    apply_schema_defaults(obj, schema);
    let errors = validate(obj, schema);
    if !errors.is_empty() {
        return Err(SchemaError::Invalid(errors));
    }
    Ok(match mode {
        FieldValidation::Warn => unknown.iter().map(|f| format!("unknown field {f:?}")).collect(),
        _ => Vec::new(),
    })
}

fn join(path: &str, field: &str) -> String {
    if path.is_empty() {
        field.to_string()
    } else {
        format!("{path}.{field}")
    }
}

fn preserves_unknown(schema: &Value) -> bool {
    schema
        .get("x-kubernetes-preserve-unknown-fields")
        .and_then(Value::as_bool)
        == Some(true)
}

fn is_embedded(schema: &Value) -> bool {
    schema
        .get("x-kubernetes-embedded-resource")
        .and_then(Value::as_bool)
        == Some(true)
}

/// Removes fields the schema does not declare and returns their paths (`spec.foo`,
/// `spec.items[0].bar`). At the root, `apiVersion`, `kind` and `metadata` are always kept.
pub fn prune(obj: &mut Value, schema: &Value) -> Vec<String> {
    let mut unknown = Vec::new();
    prune_node(obj, schema, "", true, &mut unknown);
    unknown
}

fn prune_node(v: &mut Value, schema: &Value, path: &str, resource_root: bool, unknown: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            let props = schema.get("properties").and_then(Value::as_object);
            let additional = schema.get("additionalProperties").filter(|a| a.is_object());
            let keep_unknown =
                preserves_unknown(schema) || schema.get("additionalProperties") == Some(&Value::Bool(true));
            let embedded = resource_root || is_embedded(schema);
            let keys: Vec<String> = m.keys().cloned().collect();
            for k in keys {
                if embedded && (k == "apiVersion" || k == "kind") {
                    continue;
                }
                if embedded && k == "metadata" {
                    // Resource (and embedded resource) metadata is always ObjectMeta, whatever the schema says.
                    if let Some(child) = m.get_mut(&k) {
                        unknown.extend(prune_object_meta(child, &join(path, &k)));
                    }
                    continue;
                }
                let sub = props.and_then(|p| p.get(&k)).or(additional);
                match sub {
                    Some(sub) => {
                        if let Some(child) = m.get_mut(&k) {
                            prune_node(child, sub, &join(path, &k), false, unknown);
                        }
                    }
                    None if keep_unknown => {}
                    None => {
                        m.shift_remove(&k);
                        unknown.push(join(path, &k));
                    }
                }
            }
        }
        Value::Array(items) => {
            if let Some(item_schema) = schema.get("items") {
                for (i, item) in items.iter_mut().enumerate() {
                    prune_node(item, item_schema, &format!("{path}[{i}]"), false, unknown);
                }
            }
        }
        _ => {}
    }
}

/// The fields of `metadata` (ObjectMeta) Kubernetes knows.
pub const OBJECT_META_FIELDS: &[&str] = &[
    "name",
    "generateName",
    "namespace",
    "selfLink",
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "labels",
    "annotations",
    "ownerReferences",
    "finalizers",
    "managedFields",
];

/// Removes unknown fields of an object's `metadata` (at `path`, usually `metadata`) and returns
/// their paths; usable for built-in kinds too (`fieldValidation=Strict|Warn`).
pub fn prune_object_meta(meta: &mut Value, path: &str) -> Vec<String> {
    let mut unknown = Vec::new();
    if let Value::Object(m) = meta {
        m.retain(|k, _| {
            let known = OBJECT_META_FIELDS.contains(&k.as_str());
            if !known {
                unknown.push(join(path, k));
            }
            known
        });
    }
    unknown
}

/// Sets `default` values of absent properties (recursively, including inside array items and
/// additionalProperties values), as structural-schema defaulting does.
pub fn apply_schema_defaults(v: &mut Value, schema: &Value) {
    match v {
        Value::Object(m) => {
            if let Some(props) = schema.get("properties").and_then(Value::as_object) {
                for (k, sub) in props {
                    if !m.contains_key(k)
                        && let Some(d) = sub.get("default")
                    {
                        m.insert(k.clone(), d.clone());
                    }
                    if let Some(child) = m.get_mut(k) {
                        apply_schema_defaults(child, sub);
                    }
                }
            }
            if let Some(add) = schema.get("additionalProperties").filter(|a| a.is_object()) {
                let declared = schema.get("properties").and_then(Value::as_object);
                for (k, child) in m.iter_mut() {
                    if !declared.is_some_and(|p| p.contains_key(k)) {
                        apply_schema_defaults(child, add);
                    }
                }
            }
        }
        Value::Array(items) => {
            if let Some(item_schema) = schema.get("items") {
                for item in items.iter_mut() {
                    apply_schema_defaults(item, item_schema);
                }
            }
        }
        _ => {}
    }
}

/// The JSON type name kube-openapi reports for a value.
pub fn json_type_name(v: &Value) -> &'static str {
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

/// Validates `obj` against `schema` and returns every violation.
pub fn validate(obj: &Value, schema: &Value) -> Vec<FieldError> {
    let mut errs = Vec::new();
    validate_node(obj, schema, "", true, &mut errs);
    errs
}

fn type_error(path: &str, v: &Value, want: &str) -> FieldError {
    let got = json_type_name(v);
    FieldError::new(
        path,
        FieldErrorType::TypeInvalid,
        Some(json!(got)),
        format!("{path} in body must be of type {want}: {got:?}"),
    )
}

fn num(v: &Value) -> Option<f64> {
    v.as_f64()
}

fn fmt_num(x: f64) -> String {
    if x.fract() == 0.0 && x.abs() < 1e15 {
        format!("{}", x as i64)
    } else {
        x.to_string()
    }
}

fn validate_node(v: &Value, schema: &Value, path: &str, resource_root: bool, errs: &mut Vec<FieldError>) {
    let Some(s) = schema.as_object() else { return };
    let display = if path.is_empty() {
        "<root>".to_string()
    } else {
        path.to_string()
    };
    if v.is_null() {
        if s.get("nullable").and_then(Value::as_bool) == Some(true) {
            return;
        }
        if let Some(t) = s.get("type").and_then(Value::as_str) {
            errs.push(type_error(&display, v, t));
        }
        return;
    }
    let int_or_string = s.get("x-kubernetes-int-or-string").and_then(Value::as_bool) == Some(true);
    if int_or_string {
        if !matches!(json_type_name(v), "integer" | "string") {
            errs.push(type_error(&display, v, "integer,string"));
            return;
        }
    } else if let Some(t) = s.get("type").and_then(Value::as_str) {
        let got = json_type_name(v);
        let ok = got == t || (t == "number" && got == "integer");
        if !ok {
            errs.push(type_error(&display, v, t));
            return;
        }
    }
    if let Some(Value::Array(allowed)) = s.get("enum")
        && !allowed.contains(v)
    {
        let names: Vec<String> = allowed
            .iter()
            .map(|a| a.as_str().map(str::to_string).unwrap_or_else(|| a.to_string()))
            .collect();
        errs.push(FieldError::not_supported(display.clone(), v.clone(), &names));
    }
    match v {
        Value::String(text) => validate_string(text, s, &display, errs),
        Value::Number(_) => validate_number(v, s, &display, errs),
        Value::Array(items) => validate_array(items, s, path, &display, errs),
        Value::Object(m) => validate_object(m, s, path, &display, resource_root, errs),
        _ => {}
    }
    validate_combinators(v, s, path, &display, errs);
}

fn validate_string(text: &str, s: &Map<String, Value>, display: &str, errs: &mut Vec<FieldError>) {
    let len = text.chars().count() as u64;
    if let Some(max) = s.get("maxLength").and_then(Value::as_u64)
        && len > max
    {
        errs.push(FieldError::new(
            display,
            FieldErrorType::TooLong,
            None,
            format!("may not be more than {max} bytes"),
        ));
    }
    if let Some(min) = s.get("minLength").and_then(Value::as_u64)
        && len < min
    {
        errs.push(FieldError::invalid(
            display,
            json!(text),
            format!("{display} in body should be at least {min} chars long"),
        ));
    }
    if let Some(pattern) = s.get("pattern").and_then(Value::as_str) {
        match regex::Regex::new(pattern) {
            Ok(re) if !re.is_match(text) => {
                errs.push(FieldError::invalid(
                    display,
                    json!(text),
                    format!("{display} in body should match '{pattern}'"),
                ));
            }
            Ok(_) => {}
            Err(_) => errs.push(FieldError::new(
                display,
                FieldErrorType::Internal,
                None,
                format!("the schema pattern '{pattern}' is not a valid regular expression"),
            )),
        }
    }
}

fn validate_number(v: &Value, s: &Map<String, Value>, display: &str, errs: &mut Vec<FieldError>) {
    let Some(x) = num(v) else { return };
    if let Some(min) = s.get("minimum").and_then(num) {
        let exclusive = s.get("exclusiveMinimum").and_then(Value::as_bool) == Some(true);
        if (exclusive && x <= min) || (!exclusive && x < min) {
            let rel = if exclusive {
                "greater than"
            } else {
                "greater than or equal to"
            };
            errs.push(FieldError::invalid(
                display,
                v.clone(),
                format!("{display} in body should be {rel} {}", fmt_num(min)),
            ));
        }
    }
    if let Some(max) = s.get("maximum").and_then(num) {
        let exclusive = s.get("exclusiveMaximum").and_then(Value::as_bool) == Some(true);
        if (exclusive && x >= max) || (!exclusive && x > max) {
            let rel = if exclusive {
                "less than"
            } else {
                "less than or equal to"
            };
            errs.push(FieldError::invalid(
                display,
                v.clone(),
                format!("{display} in body should be {rel} {}", fmt_num(max)),
            ));
        }
    }
    if let Some(m) = s.get("multipleOf").and_then(num)
        && m > 0.0
        && ((x / m).round() - x / m).abs() > 1e-9
    {
        errs.push(FieldError::invalid(
            display,
            v.clone(),
            format!("{display} in body should be a multiple of {}", fmt_num(m)),
        ));
    }
}

fn validate_array(
    items: &[Value],
    s: &Map<String, Value>,
    path: &str,
    display: &str,
    errs: &mut Vec<FieldError>,
) {
    let n = items.len() as u64;
    if let Some(max) = s.get("maxItems").and_then(Value::as_u64)
        && n > max
    {
        errs.push(FieldError::new(
            display,
            FieldErrorType::TooMany,
            Some(json!(n)),
            format!("must have at most {max} items"),
        ));
    }
    if let Some(min) = s.get("minItems").and_then(Value::as_u64)
        && n < min
    {
        errs.push(FieldError::invalid(
            display,
            json!(n),
            format!("{display} in body should have at least {min} items"),
        ));
    }
    let list_type = s.get("x-kubernetes-list-type").and_then(Value::as_str);
    if s.get("uniqueItems").and_then(Value::as_bool) == Some(true) || list_type == Some("set") {
        for (i, item) in items.iter().enumerate() {
            if items.iter().take(i).any(|x| x == item) {
                errs.push(FieldError::new(
                    format!("{path}[{i}]"),
                    FieldErrorType::Duplicate,
                    Some(item.clone()),
                    "",
                ));
            }
        }
    }
    if list_type == Some("map")
        && let Some(Value::Array(keys)) = s.get("x-kubernetes-list-map-keys")
    {
        let key_of = |item: &Value| -> Vec<Value> {
            keys.iter()
                .filter_map(Value::as_str)
                .map(|k| item.get(k).cloned().unwrap_or(Value::Null))
                .collect()
        };
        for (i, item) in items.iter().enumerate() {
            let k = key_of(item);
            if items.iter().take(i).any(|x| key_of(x) == k) {
                let shown = if k.len() == 1 {
                    k.first().cloned().unwrap_or(Value::Null)
                } else {
                    Value::Array(k)
                };
                errs.push(FieldError::new(
                    format!("{path}[{i}]"),
                    FieldErrorType::Duplicate,
                    Some(shown),
                    "",
                ));
            }
        }
    }
    if let Some(item_schema) = s.get("items") {
        for (i, item) in items.iter().enumerate() {
            validate_node(item, item_schema, &format!("{path}[{i}]"), false, errs);
        }
    }
}

fn validate_object(
    m: &Map<String, Value>,
    s: &Map<String, Value>,
    path: &str,
    display: &str,
    resource_root: bool,
    errs: &mut Vec<FieldError>,
) {
    if let Some(Value::Array(required)) = s.get("required") {
        for r in required.iter().filter_map(Value::as_str) {
            if m.get(r).is_none() {
                errs.push(FieldError::required(join(path, r), ""));
            }
        }
    }
    let n = m.len() as u64;
    if let Some(max) = s.get("maxProperties").and_then(Value::as_u64)
        && n > max
    {
        errs.push(FieldError::new(
            display,
            FieldErrorType::TooMany,
            Some(json!(n)),
            format!("must have at most {max} items"),
        ));
    }
    if let Some(min) = s.get("minProperties").and_then(Value::as_u64)
        && n < min
    {
        errs.push(FieldError::invalid(
            display,
            json!(n),
            format!("{display} in body should have at least {min} properties"),
        ));
    }
    if s.get("x-kubernetes-embedded-resource").and_then(Value::as_bool) == Some(true) {
        for k in ["apiVersion", "kind"] {
            if m.get(k).and_then(Value::as_str).is_none_or(str::is_empty) {
                errs.push(FieldError::required(join(path, k), "must not be empty"));
            }
        }
    }
    let props = s.get("properties").and_then(Value::as_object);
    let additional = s.get("additionalProperties");
    for (k, child) in m {
        if resource_root && (k == "apiVersion" || k == "kind" || k == "metadata") {
            continue;
        }
        let cpath = join(path, k);
        match (props.and_then(|p| p.get(k)), additional) {
            (Some(sub), _) => validate_node(child, sub, &cpath, false, errs),
            (None, Some(add @ Value::Object(_))) => validate_node(child, add, &cpath, false, errs),
            (None, Some(Value::Bool(false))) if props.is_some() => errs.push(FieldError::forbidden(
                cpath,
                "additional properties are not allowed",
            )),
            _ => {}
        }
    }
}

fn validate_combinators(
    v: &Value,
    s: &Map<String, Value>,
    path: &str,
    display: &str,
    errs: &mut Vec<FieldError>,
) {
    let sub_ok = |sub: &Value| {
        let mut e = Vec::new();
        validate_node(v, sub, path, false, &mut e);
        e
    };
    if let Some(Value::Array(all)) = s.get("allOf") {
        for sub in all {
            errs.extend(sub_ok(sub));
        }
    }
    if let Some(Value::Array(any)) = s.get("anyOf")
        && !any.is_empty()
        && !any.iter().any(|sub| sub_ok(sub).is_empty())
    {
        errs.push(FieldError::invalid(
            display,
            v.clone(),
            format!("{display} in body must match at least one schema (anyOf)"),
        ));
    }
    if let Some(Value::Array(one)) = s.get("oneOf")
        && !one.is_empty()
    {
        let matching = one.iter().filter(|sub| sub_ok(sub).is_empty()).count();
        if matching != 1 {
            errs.push(FieldError::invalid(
                display,
                v.clone(),
                format!("{display} in body must match exactly one schema (oneOf)"),
            ));
        }
    }
    if let Some(not) = s.get("not")
        && sub_ok(not).is_empty()
    {
        errs.push(FieldError::invalid(
            display,
            v.clone(),
            format!("{display} in body should not match the schema (not)"),
        ));
    }
}

/// Checks that a CRD version's `openAPIV3Schema` is structural, as kube-apiserver requires
/// when a CustomResourceDefinition is created or updated. `base` is the field path of the
/// schema (e.g. `spec.versions[0].schema.openAPIV3Schema`); errors name sub-paths the way
/// Kubernetes does (`…properties[spec].type: Required value: must not be empty for specified object fields`).
pub fn validate_structural_schema(schema: &Value, base: &str) -> Vec<FieldError> {
    let mut errs = Vec::new();
    if schema.get("type").and_then(Value::as_str) != Some("object") {
        errs.push(FieldError::new(
            format!("{base}.type"),
            FieldErrorType::Invalid,
            Some(schema.get("type").cloned().unwrap_or(json!(""))),
            "must be object at the root",
        ));
    }
    structural_node(schema, base, &mut errs);
    errs
}

fn structural_node(node: &Value, path: &str, errs: &mut Vec<FieldError>) {
    let Some(n) = node.as_object() else {
        errs.push(FieldError::invalid(
            path.to_string(),
            node.clone(),
            "must be a schema object",
        ));
        return;
    };
    let ty = n.get("type").and_then(Value::as_str).unwrap_or("");
    let int_or_string = n.get("x-kubernetes-int-or-string").and_then(Value::as_bool) == Some(true);
    let preserve = n
        .get("x-kubernetes-preserve-unknown-fields")
        .and_then(Value::as_bool)
        == Some(true);
    if ty.is_empty() && !int_or_string && !preserve {
        errs.push(FieldError::required(
            format!("{path}.type"),
            "must not be empty for specified object fields",
        ));
    }
    if !ty.is_empty()
        && !matches!(
            ty,
            "object" | "array" | "string" | "integer" | "number" | "boolean"
        )
    {
        errs.push(FieldError::not_supported(
            format!("{path}.type"),
            json!(ty),
            &["array", "boolean", "integer", "number", "object", "string"].map(String::from),
        ));
    }
    if n.contains_key("properties") && n.get("additionalProperties").is_some_and(|a| a.is_object()) {
        errs.push(FieldError::forbidden(
            format!("{path}.additionalProperties"),
            "additionalProperties and properties are mutual exclusive",
        ));
    }
    if ty == "array" && !n.contains_key("items") {
        errs.push(FieldError::required(format!("{path}.items"), "must be specified"));
    }
    if let Some(p) = n.get("pattern").and_then(Value::as_str)
        && regex::Regex::new(p).is_err()
    {
        errs.push(FieldError::invalid(
            format!("{path}.pattern"),
            json!(p),
            "must be a valid regular expression",
        ));
    }
    match n.get("x-kubernetes-list-type").and_then(Value::as_str) {
        None | Some("atomic") | Some("set") => {}
        Some("map") => {
            let keys = n
                .get("x-kubernetes-list-map-keys")
                .and_then(Value::as_array)
                .filter(|k| !k.is_empty());
            if keys.is_none() {
                errs.push(FieldError::required(
                    format!("{path}.x-kubernetes-list-map-keys"),
                    "must not be empty if x-kubernetes-list-type is map",
                ));
            }
            if node.pointer("/items/type").and_then(Value::as_str) != Some("object") {
                errs.push(FieldError::invalid(
                    format!("{path}.items.type"),
                    node.pointer("/items/type").cloned().unwrap_or(json!("")),
                    "must be object if parent array's x-kubernetes-list-type is map",
                ));
            }
        }
        Some(other) => errs.push(FieldError::not_supported(
            format!("{path}.x-kubernetes-list-type"),
            json!(other),
            &["atomic", "map", "set"].map(String::from),
        )),
    }
    if let Some(props) = n.get("properties") {
        match props.as_object() {
            Some(props) => {
                for (k, sub) in props {
                    structural_node(sub, &format!("{path}.properties[{k}]"), errs);
                }
            }
            None => errs.push(FieldError::invalid(
                format!("{path}.properties"),
                props.clone(),
                "must be an object",
            )),
        }
    }
    if let Some(items) = n.get("items") {
        structural_node(items, &format!("{path}.items"), errs);
    }
    if let Some(add) = n.get("additionalProperties").filter(|a| a.is_object()) {
        structural_node(add, &format!("{path}.additionalProperties"), errs);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schema() -> Value {
        json!({
            "type": "object",
            "required": ["spec"],
            "properties": {
                "spec": {
                    "type": "object",
                    "required": ["selector"],
                    "properties": {
                        "replicas": {"type": "integer", "minimum": 0, "maximum": 100, "default": 1},
                        "selector": {"type": "object", "properties": {"matchLabels": {"type": "object", "additionalProperties": {"type": "string"}}}},
                        "mode": {"type": "string", "enum": ["Recreate", "InPlaceIfPossible"]},
                        "name": {"type": "string", "pattern": "^[a-z]+$", "minLength": 2, "maxLength": 5},
                        "partition": {"x-kubernetes-int-or-string": true},
                        "ratio": {"type": "number", "exclusiveMinimum": true, "minimum": 0, "multipleOf": 0.5},
                        "tags": {"type": "array", "x-kubernetes-list-type": "set", "maxItems": 3, "minItems": 1, "items": {"type": "string"}},
                        "ports": {"type": "array", "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["port"], "items": {"type": "object", "properties": {"port": {"type": "integer"}, "name": {"type": "string"}}}},
                        "template": {"type": "object", "x-kubernetes-preserve-unknown-fields": true},
                        "opt": {"type": "string", "nullable": true},
                        "embedded": {"type": "object", "x-kubernetes-embedded-resource": true, "properties": {"metadata": {"type": "object"}, "spec": {"type": "object"}}},
                        "labels": {"type": "object", "maxProperties": 1, "additionalProperties": {"type": "string"}}
                    }
                },
                "status": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}
            }
        })
    }

    fn errors_for(spec: Value) -> Vec<String> {
        let obj = json!({"apiVersion": "x.io/v1", "kind": "X", "metadata": {"name": "a"}, "spec": spec});
        validate(&obj, &schema())
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    #[test]
    fn validation_messages() {
        let base = json!({"selector": {}});
        let with = |k: &str, v: Value| {
            let mut s = base.clone();
            s[k] = v;
            s
        };
        let cases: Vec<(Value, &str)> = vec![
            (
                with("replicas", json!("string")),
                r#"spec.replicas: Invalid value: "string": spec.replicas in body must be of type integer: "string""#,
            ),
            (
                with("replicas", json!(1.5)),
                r#"spec.replicas: Invalid value: "number": spec.replicas in body must be of type integer: "number""#,
            ),
            (
                with("replicas", json!(-1)),
                "spec.replicas: Invalid value: -1: spec.replicas in body should be greater than or equal to 0",
            ),
            (
                with("replicas", json!(101)),
                "spec.replicas: Invalid value: 101: spec.replicas in body should be less than or equal to 100",
            ),
            (
                with("mode", json!("Fast")),
                r#"spec.mode: Unsupported value: "Fast": supported values: "Recreate", "InPlaceIfPossible""#,
            ),
            (
                with("name", json!("ab1")),
                r#"spec.name: Invalid value: "ab1": spec.name in body should match '^[a-z]+$'"#,
            ),
            (
                with("name", json!("a")),
                r#"spec.name: Invalid value: "a": spec.name in body should be at least 2 chars long"#,
            ),
            (
                with("name", json!("abcdef")),
                "spec.name: Too long: may not be more than 5 bytes",
            ),
            (
                with("partition", json!(true)),
                r#"spec.partition: Invalid value: "boolean": spec.partition in body must be of type integer,string: "boolean""#,
            ),
            (
                with("ratio", json!(0)),
                "spec.ratio: Invalid value: 0: spec.ratio in body should be greater than 0",
            ),
            (
                with("ratio", json!(0.3)),
                "spec.ratio: Invalid value: 0.3: spec.ratio in body should be a multiple of 0.5",
            ),
            (
                with("tags", json!([])),
                "spec.tags: Invalid value: 0: spec.tags in body should have at least 1 items",
            ),
            (
                with("tags", json!(["a", "b", "c", "d"])),
                "spec.tags: Too many: 4: must have at most 3 items",
            ),
            (
                with("tags", json!(["a", "a"])),
                r#"spec.tags[1]: Duplicate value: "a""#,
            ),
            (
                with("ports", json!([{"port": 80}, {"port": 80, "name": "x"}])),
                "spec.ports[1]: Duplicate value: 80",
            ),
            (
                with("ports", json!([{"port": "80"}])),
                r#"spec.ports[0].port: Invalid value: "string": spec.ports[0].port in body must be of type integer: "string""#,
            ),
            (
                with("embedded", json!({"spec": {}})),
                "spec.embedded.apiVersion: Required value: must not be empty",
            ),
            (
                with("labels", json!({"a": "1", "b": "2"})),
                "spec.labels: Too many: 2: must have at most 1 items",
            ),
            (
                with("selector", json!({"matchLabels": {"a": 1}})),
                r#"spec.selector.matchLabels.a: Invalid value: "integer": spec.selector.matchLabels.a in body must be of type string: "integer""#,
            ),
            (json!({}), "spec.selector: Required value"),
            (
                json!("text"),
                r#"spec: Invalid value: "string": spec in body must be of type object: "string""#,
            ),
            (
                json!(null),
                r#"spec: Invalid value: "null": spec in body must be of type object: "null""#,
            ),
        ];
        for (spec, want) in cases {
            let got = errors_for(spec.clone());
            assert!(
                got.iter().any(|e| e == want),
                "{spec}: want {want:?}, got {got:?}"
            );
        }
        // valid objects pass; nullable accepts null; int-or-string accepts both
        for ok in [
            json!({"selector": {}, "replicas": 3, "opt": null, "partition": "50%", "ratio": 1.5, "tags": ["a"], "embedded": {"apiVersion": "v1", "kind": "Pod"}}),
            json!({"selector": {}, "partition": 2, "template": {"anything": [1, {"x": true}]}}),
        ] {
            assert_eq!(errors_for(ok.clone()), Vec::<String>::new(), "{ok}");
        }
        let missing_spec = validate(
            &json!({"apiVersion": "x.io/v1", "kind": "X", "metadata": {}}),
            &schema(),
        );
        assert_eq!(
            missing_spec.first().map(ToString::to_string).as_deref(),
            Some("spec: Required value")
        );
    }

    #[test]
    fn pruning_and_defaults() {
        let mut obj = json!({
            "apiVersion": "x.io/v1", "kind": "X", "metadata": {"name": "a", "labels": {"x": "y"}, "lables": {"t": "1"}},
            "spec": {"selector": {}, "bogus": 1, "template": {"keep": 1}, "ports": [{"port": 1, "extra": true}],
                     "embedded": {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": {}, "junk": 1}},
            "status": {"anything": 1},
            "topLevelJunk": true
        });
        let mut unknown = prune(&mut obj, &schema());
        unknown.sort();
        assert_eq!(
            unknown,
            vec![
                "metadata.lables",
                "spec.bogus",
                "spec.embedded.junk",
                "spec.ports[0].extra",
                "topLevelJunk"
            ]
        );
        assert_eq!(obj.pointer("/spec/template/keep"), Some(&json!(1)));
        assert_eq!(obj.pointer("/status/anything"), Some(&json!(1)));
        assert_eq!(obj.pointer("/metadata/labels/x"), Some(&json!("y")));
        assert_eq!(obj.pointer("/spec/embedded/metadata/name"), Some(&json!("p")));
        apply_schema_defaults(&mut obj, &schema());
        assert_eq!(obj.pointer("/spec/replicas"), Some(&json!(1)));
    }

    #[test]
    fn field_validation_modes() {
        let obj = json!({"apiVersion": "x.io/v1", "kind": "X", "metadata": {"name": "a"}, "spec": {"selector": {}, "foo": 1}});
        let mut o = obj.clone();
        assert_eq!(
            process_custom_resource(&mut o, &schema(), FieldValidation::Warn),
            Ok(vec!["unknown field \"spec.foo\"".to_string()])
        );
        assert!(o.pointer("/spec/foo").is_none());
        let mut o = obj.clone();
        assert_eq!(
            process_custom_resource(&mut o, &schema(), FieldValidation::Ignore),
            Ok(vec![])
        );
        let mut o = obj.clone();
        let err = process_custom_resource(&mut o, &schema(), FieldValidation::Strict).err();
        assert_eq!(
            err.map(|e| e.to_string()).as_deref(),
            Some("strict decoding error: unknown field \"spec.foo\"")
        );
        let mut bad = json!({"apiVersion": "x.io/v1", "kind": "X", "metadata": {}, "spec": {"selector": {}, "replicas": "x"}});
        assert!(
            matches!(process_custom_resource(&mut bad, &schema(), FieldValidation::Strict), Err(SchemaError::Invalid(e)) if e.len() == 1)
        );
        for (q, want) in [
            (None, Ok(FieldValidation::Warn)),
            (Some("Strict"), Ok(FieldValidation::Strict)),
            (Some("Ignore"), Ok(FieldValidation::Ignore)),
        ] {
            assert_eq!(FieldValidation::parse(q), want);
        }
        assert!(FieldValidation::parse(Some("strict")).is_err());
    }

    #[test]
    fn structural_schema_checks() {
        assert_eq!(
            validate_structural_schema(&schema(), "s"),
            Vec::<FieldError>::new()
        );
        let cases = [
            (
                json!({"type": "string"}),
                "s.type: Invalid value: \"string\": must be object at the root",
            ),
            (
                json!({"type": "object", "properties": {"spec": {"properties": {}}}}),
                "s.properties[spec].type: Required value: must not be empty for specified object fields",
            ),
            (
                json!({"type": "object", "properties": {"l": {"type": "array"}}}),
                "s.properties[l].items: Required value: must be specified",
            ),
            (
                json!({"type": "object", "properties": {"l": {"type": "array", "items": {"type": "string"}, "x-kubernetes-list-type": "map"}}}),
                "s.properties[l].x-kubernetes-list-map-keys: Required value: must not be empty if x-kubernetes-list-type is map",
            ),
            (
                json!({"type": "object", "properties": {"x": {"type": "object", "properties": {}, "additionalProperties": {"type": "string"}}}}),
                "s.properties[x].additionalProperties: Forbidden: additionalProperties and properties are mutual exclusive",
            ),
            (
                json!({"type": "object", "properties": {"x": {"type": "text"}}}),
                "s.properties[x].type: Unsupported value: \"text\"",
            ),
            (
                json!({"type": "object", "properties": {"x": {"type": "string", "pattern": "("}}}),
                "s.properties[x].pattern: Invalid value: \"(\": must be a valid regular expression",
            ),
        ];
        for (schema, want) in cases {
            let errs: Vec<String> = validate_structural_schema(&schema, "s")
                .iter()
                .map(ToString::to_string)
                .collect();
            assert!(
                errs.iter().any(|e| e.starts_with(want)),
                "{schema}: want {want:?}, got {errs:?}"
            );
        }
    }

    #[test]
    fn bad_schemas_do_not_panic() {
        let weird = [
            json!(null),
            json!("x"),
            json!({"type": "string", "pattern": "(unclosed"}),
            json!({"properties": 3, "items": "x", "required": "a"}),
        ];
        for s in weird {
            let mut v = json!({"a": "b", "l": [1]});
            let _ = prune(&mut v, &s);
            apply_schema_defaults(&mut v, &s);
            let _ = validate(&json!("text"), &s);
        }
        let errs = validate(&json!("x"), &json!({"type": "string", "pattern": "(unclosed"}));
        assert_eq!(errs.len(), 1);
    }
}
