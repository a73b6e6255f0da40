//! `values.schema.json` validation across a chart tree, reporting every
//! failing path in Helm 4's style (`- at '/replicas': minimum: got 0, want 1`).
//!
//! Supported keywords: type, required, properties, additionalProperties,
//! patternProperties, items, enum, const, minimum/maximum (and exclusive),
//! multipleOf, minLength/maxLength, pattern, minItems/maxItems, uniqueItems,
//! minProperties/maxProperties, allOf/anyOf/oneOf/not, if/then/else, local
//! `$ref` (`#/definitions/…`, `#/$defs/…`).

use serde_json::{Map, Value as Json};

/// Validate the coalesced top-level values against every chart's schema
/// (each at its values path). Returns Helm's multi-chart error text.
pub fn validate_tree(
    schemas: &[(String, String, Vec<String>)],
    top: &Map<String, Json>,
) -> Result<(), String> {
    let mut report = String::new();
    let top_value = Json::Object(top.clone());
    for (chart_id, schema_text, path) in schemas {
        let schema: Json = match serde_json::from_str(schema_text) {
            Ok(s) => s,
            Err(e) => {
                report.push_str(&format!("{chart_id}:\n- invalid values.schema.json: {e}\n"));
                continue;
            }
        };
        let mut scope = &top_value;
        for part in path {
            scope = scope.get(part).unwrap_or(&Json::Null);
        }
        let scoped = match scope {
            Json::Null => Json::Object(Map::new()),
            other => other.clone(),
        };
        let mut errors = Vec::new();
        validate(&schema, &schema, &scoped, "", &mut errors, 0);
        if !errors.is_empty() {
            errors.sort();
            errors.dedup();
            report.push_str(&format!("{chart_id}:\n"));
            for e in errors {
                report.push_str(&format!("- {e}\n"));
            }
        }
    }
    if report.is_empty() { Ok(()) } else { Err(report) }
}

fn type_name(v: &Json) -> &'static str {
    match v {
        Json::Null => "null",
        Json::Bool(_) => "boolean",
        Json::Number(_) => "number",
        Json::String(_) => "string",
        Json::Array(_) => "array",
        Json::Object(_) => "object",
    }
}

fn is_type(v: &Json, t: &str) -> bool {
    match t {
        "integer" => v.as_f64().is_some_and(|f| f.fract() == 0.0),
        "number" => v.is_number(),
        other => type_name(v) == other,
    }
}

fn show(v: &Json) -> String {
    match v {
        Json::String(s) => format!("'{s}'"),
        Json::Number(n) => crate::json::json_float(n.as_f64().unwrap_or(0.0)),
        other => other.to_string(),
    }
}

fn num(v: &Json) -> String {
    crate::json::json_float(v.as_f64().unwrap_or(0.0))
}

fn resolve<'a>(root: &'a Json, reference: &str) -> Option<&'a Json> {
    let pointer = reference.strip_prefix('#')?;
    root.pointer(pointer)
}

fn at(path: &str, message: String) -> String {
    format!("at '{path}': {message}")
}

fn validate(root: &Json, schema: &Json, value: &Json, path: &str, errors: &mut Vec<String>, depth: usize) {
    if depth > 64 {
        return;
    }
    let Json::Object(s) = schema else {
        if schema == &Json::Bool(false) {
            errors.push(at(path, "false schema".to_string()));
        }
        return;
    };
    if let Some(Json::String(reference)) = s.get("$ref")
        && let Some(target) = resolve(root, reference)
    {
        validate(root, target, value, path, errors, depth + 1);
    }
    if let Some(t) = s.get("type") {
        let allowed: Vec<&str> = match t {
            Json::String(one) => vec![one.as_str()],
            Json::Array(many) => many.iter().filter_map(Json::as_str).collect(),
            _ => Vec::new(),
        };
        if !allowed.is_empty() && !allowed.iter().any(|t| is_type(value, t)) {
            errors.push(at(
                path,
                format!("got {}, want {}", type_name(value), allowed.join(" or ")),
            ));
            return;
        }
    }
    if let Some(Json::Array(options)) = s.get("enum")
        && !options.contains(value)
    {
        let shown: Vec<String> = options.iter().map(show).collect();
        errors.push(at(path, format!("value must be one of {}", shown.join(", "))));
    }
    if let Some(c) = s.get("const")
        && c != value
    {
        errors.push(at(path, format!("value must be {}", show(c))));
    }
    if let Some(f) = value.as_f64() {
        let bound = |k: &str| s.get(k).and_then(Json::as_f64);
        if let Some(min) = bound("minimum")
            && f < min
        {
            errors.push(at(
                path,
                format!("minimum: got {}, want {}", num(value), num(&s["minimum"])),
            ));
        }
        if let Some(max) = bound("maximum")
            && f > max
        {
            errors.push(at(
                path,
                format!("maximum: got {}, want {}", num(value), num(&s["maximum"])),
            ));
        }
        if let Some(min) = bound("exclusiveMinimum")
            && f <= min
        {
            errors.push(at(
                path,
                format!(
                    "exclusiveMinimum: got {}, want {}",
                    num(value),
                    num(&s["exclusiveMinimum"])
                ),
            ));
        }
        if let Some(max) = bound("exclusiveMaximum")
            && f >= max
        {
            errors.push(at(
                path,
                format!(
                    "exclusiveMaximum: got {}, want {}",
                    num(value),
                    num(&s["exclusiveMaximum"])
                ),
            ));
        }
        if let Some(m) = bound("multipleOf")
            && m != 0.0
            && (f / m).fract() != 0.0
        {
            errors.push(at(
                path,
                format!("{} not multipleOf {}", num(value), num(&s["multipleOf"])),
            ));
        }
    }
    if let Json::String(text) = value {
        let len = text.chars().count() as u64;
        if let Some(min) = s.get("minLength").and_then(Json::as_u64)
            && len < min
        {
            errors.push(at(path, format!("minLength: got {len}, want {min}")));
        }
        if let Some(max) = s.get("maxLength").and_then(Json::as_u64)
            && len > max
        {
            errors.push(at(path, format!("maxLength: got {len}, want {max}")));
        }
        if let Some(Json::String(pattern)) = s.get("pattern")
            && let Ok(re) = regex::Regex::new(pattern)
            && !re.is_match(text)
        {
            errors.push(at(path, format!("'{text}' does not match pattern '{pattern}'")));
        }
    }
    if let Json::Array(items) = value {
        let len = items.len() as u64;
        if let Some(min) = s.get("minItems").and_then(Json::as_u64)
            && len < min
        {
            errors.push(at(path, format!("minItems: got {len}, want {min}")));
        }
        if let Some(max) = s.get("maxItems").and_then(Json::as_u64)
            && len > max
        {
            errors.push(at(path, format!("maxItems: got {len}, want {max}")));
        }
        if s.get("uniqueItems") == Some(&Json::Bool(true)) {
            for (i, a) in items.iter().enumerate() {
                if let Some(j) = items.iter().skip(i + 1).position(|b| b == a) {
                    errors.push(at(path, format!("items at {i} and {} are equal", i + 1 + j)));
                    break;
                }
            }
        }
        match s.get("items") {
            Some(item_schema @ Json::Object(_)) | Some(item_schema @ Json::Bool(_)) => {
                for (i, item) in items.iter().enumerate() {
                    validate(root, item_schema, item, &format!("{path}/{i}"), errors, depth + 1);
                }
            }
            Some(Json::Array(tuple)) => {
                for (i, (item, item_schema)) in items.iter().zip(tuple).enumerate() {
                    validate(root, item_schema, item, &format!("{path}/{i}"), errors, depth + 1);
                }
            }
            _ => {}
        }
    }
    if let Json::Object(obj) = value {
        if let Some(Json::Array(required)) = s.get("required") {
            let missing: Vec<String> = required
                .iter()
                .filter_map(Json::as_str)
                .filter(|k| !obj.contains_key(*k))
                .map(|k| format!("'{k}'"))
                .collect();
            match missing.len() {
                0 => {}
                1 => errors.push(at(path, format!("missing property {}", missing.join(", ")))),
                _ => errors.push(at(path, format!("missing properties {}", missing.join(", ")))),
            }
        }
        let len = obj.len() as u64;
        if let Some(min) = s.get("minProperties").and_then(Json::as_u64)
            && len < min
        {
            errors.push(at(path, format!("minProperties: got {len}, want {min}")));
        }
        if let Some(max) = s.get("maxProperties").and_then(Json::as_u64)
            && len > max
        {
            errors.push(at(path, format!("maxProperties: got {len}, want {max}")));
        }
        let properties = s.get("properties").and_then(Json::as_object);
        let patterns: Vec<(regex::Regex, &Json)> = s
            .get("patternProperties")
            .and_then(Json::as_object)
            .map(|m| {
                m.iter()
                    .filter_map(|(p, sch)| regex::Regex::new(p).ok().map(|re| (re, sch)))
                    .collect()
            })
            .unwrap_or_default();
        let mut additional = Vec::new();
        for (key, child) in obj {
            let child_path = format!("{path}/{}", key.replace('~', "~0").replace('/', "~1"));
            let mut matched = false;
            if let Some(prop_schema) = properties.and_then(|p| p.get(key)) {
                matched = true;
                validate(root, prop_schema, child, &child_path, errors, depth + 1);
            }
            for (re, sch) in &patterns {
                if re.is_match(key) {
                    matched = true;
                    validate(root, sch, child, &child_path, errors, depth + 1);
                }
            }
            if !matched {
                match s.get("additionalProperties") {
                    Some(Json::Bool(false)) => additional.push(format!("'{key}'")),
                    Some(extra @ Json::Object(_)) => {
                        validate(root, extra, child, &child_path, errors, depth + 1)
                    }
                    _ => {}
                }
            }
        }
        if !additional.is_empty() {
            errors.push(at(
                path,
                format!("additional properties {} not allowed", additional.join(", ")),
            ));
        }
    }
    if let Some(Json::Array(all)) = s.get("allOf") {
        for sub in all {
            validate(root, sub, value, path, errors, depth + 1);
        }
    }
    if let Some(Json::Array(any)) = s.get("anyOf") {
        let ok = any.iter().any(|sub| {
            let mut e = Vec::new();
            validate(root, sub, value, path, &mut e, depth + 1);
            e.is_empty()
        });
        if !ok {
            errors.push(at(path, "anyOf failed".to_string()));
        }
    }
    if let Some(Json::Array(one)) = s.get("oneOf") {
        let passing = one
            .iter()
            .filter(|sub| {
                let mut e = Vec::new();
                validate(root, sub, value, path, &mut e, depth + 1);
                e.is_empty()
            })
            .count();
        if passing != 1 {
            errors.push(at(path, format!("oneOf failed, {passing} subschemas matched")));
        }
    }
    if let Some(not) = s.get("not") {
        let mut e = Vec::new();
        validate(root, not, value, path, &mut e, depth + 1);
        if e.is_empty() {
            errors.push(at(path, "not failed".to_string()));
        }
    }
    if let Some(cond) = s.get("if") {
        let mut e = Vec::new();
        validate(root, cond, value, path, &mut e, depth + 1);
        let branch = if e.is_empty() {
            s.get("then")
        } else {
            s.get("else")
        };
        if let Some(b) = branch {
            validate(root, b, value, path, errors, depth + 1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_every_failing_path_like_helm() {
        let schema = r#"{"type": "object", "required": ["name", "image"], "properties": {
            "replicas": {"type": "integer", "minimum": 1}, "name": {"type": "string"},
            "mode": {"enum": ["a","b"]},
            "image": {"type": "object", "properties": {"tag": {"type": "string", "pattern": "^v"}}}}}"#;
        let values: Map<String, Json> = serde_json::from_value(serde_json::json!({
            "replicas": 0.0, "mode": "c", "image": {"tag": 1.0}
        }))
        .unwrap_or_default();
        let e = validate_tree(&[("probe".to_string(), schema.to_string(), Vec::new())], &values)
            .expect_err("invalid");
        assert_eq!(
            e,
            "probe:\n- at '': missing property 'name'\n- at '/image/tag': got number, want string\n- at '/mode': value must be one of 'a', 'b'\n- at '/replicas': minimum: got 0, want 1\n"
        );
    }
}
