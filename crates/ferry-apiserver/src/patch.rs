//! Patches and field ownership: JSON merge patch, JSON patch, strategic merge patch for built-in types
//! and server-side apply with `managedFields`.
//!
//! ferry-apimachinery does not provide SMP/SSA yet, so this module carries a compact implementation:
//! list merge keys come from a table of the built-in patch metadata (`patchMergeKey`) and, for custom
//! resources, from `x-kubernetes-list-type: map` / `x-kubernetes-list-map-keys` in the CRD schema.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value, json};

/// Why a patch could not be applied (answered as 422 or 400 by the caller).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PatchError {
    #[error("the patch is not a JSON object")]
    NotAnObject,
    #[error("json patch: {0}")]
    JsonPatch(String),
    #[error("strategic merge patch: {0}")]
    Strategic(String),
}

/// Merge keys of built-in list fields, by field name (the parent decides for `ports`).
pub fn builtin_merge_key(path: &[String]) -> Option<&'static str> {
    let last = path.last()?.as_str();
    let parent = path
        .len()
        .checked_sub(2)
        .and_then(|i| path.get(i))
        .map(String::as_str);
    Some(match last {
        "containers" | "initContainers" | "ephemeralContainers" | "env" | "volumes" | "imagePullSecrets" => {
            "name"
        }
        "volumeMounts" => "mountPath",
        "volumeDevices" => "devicePath",
        "conditions" => "type",
        "ownerReferences" => "uid",
        "hostAliases" => "ip",
        "ports" if parent == Some("spec") => "port",
        "ports" => "containerPort",
        _ => return None,
    })
}

/// Lists merged as sets of scalars in SMP (`patchStrategy: merge` on a primitive list).
fn builtin_set_list(path: &[String]) -> bool {
    matches!(path.last().map(String::as_str), Some("finalizers"))
}

/// Where list keys come from: built-in metadata, or a CRD schema.
#[derive(Clone, Copy)]
pub enum ListKeys<'a> {
    Builtin,
    Schema(&'a Value),
    None,
}

fn schema_at<'a>(schema: &'a Value, path: &[String]) -> Option<&'a Value> {
    let mut cur = schema;
    for seg in path {
        cur = if let Some(items) = cur.get("items") {
            // Path segments never index into arrays here; a list's element schema is `items`.
            items
                .get("properties")
                .and_then(|p| p.get(seg))
                .or_else(|| cur.get("properties")?.get(seg))?
        } else {
            cur.get("properties")?.get(seg)?
        };
    }
    Some(cur)
}

impl ListKeys<'_> {
    /// The key fields identifying elements of the list at `path` (field names only, no indexes).
    pub fn keys(&self, path: &[String]) -> Option<Vec<String>> {
        match self {
            ListKeys::Builtin => builtin_merge_key(path).map(|k| vec![k.to_string()]),
            ListKeys::Schema(schema) => {
                if path.first().map(String::as_str) == Some("metadata") {
                    return builtin_merge_key(path).map(|k| vec![k.to_string()]);
                }
                let s = schema_at(schema, path)?;
                if s.get("x-kubernetes-list-type").and_then(Value::as_str) != Some("map") {
                    return None;
                }
                let keys = s.get("x-kubernetes-list-map-keys")?.as_array()?;
                Some(
                    keys.iter()
                        .filter_map(Value::as_str)
                        .map(str::to_string)
                        .collect(),
                )
            }
            ListKeys::None => None,
        }
    }

    fn is_set(&self, path: &[String]) -> bool {
        match self {
            ListKeys::Schema(schema) if path.first().map(String::as_str) != Some("metadata") => {
                schema_at(schema, path)
                    .and_then(|s| s.get("x-kubernetes-list-type"))
                    .and_then(Value::as_str)
                    == Some("set")
            }
            _ => builtin_set_list(path),
        }
    }
}

fn element_key(item: &Value, keys: &[String]) -> Option<Map<String, Value>> {
    let obj = item.as_object()?;
    let mut out = Map::new();
    for k in keys {
        out.insert(k.clone(), obj.get(k)?.clone());
    }
    Some(out)
}

/// RFC 7386 JSON merge patch.
pub fn merge_patch(target: &mut Value, patch: &Value) {
    json_patch::merge(target, patch);
}

/// RFC 6902 JSON patch.
pub fn json_patch(target: &mut Value, patch: &Value) -> Result<(), PatchError> {
    let ops: json_patch::Patch =
        serde_json::from_value(patch.clone()).map_err(|e| PatchError::JsonPatch(e.to_string()))?;
    json_patch::patch(target, &ops).map_err(|e| PatchError::JsonPatch(e.to_string()))
}

/// Strategic merge patch (the subset kubectl and client libraries send): maps merge, `null` deletes,
/// keyed lists merge by their patch merge key, `$patch: delete|replace`, `$retainKeys`,
/// `$deleteFromPrimitiveList/...`; `$setElementOrder/...` reorders keyed lists.
pub fn strategic_merge(target: &Value, patch: &Value, keys: ListKeys<'_>) -> Result<Value, PatchError> {
    if !patch.is_object() {
        return Err(PatchError::NotAnObject);
    }
    Ok(smp_value(target, patch, keys, &mut Vec::new()))
}

fn smp_value(target: &Value, patch: &Value, keys: ListKeys<'_>, path: &mut Vec<String>) -> Value {
    let (Some(t), Some(p)) = (target.as_object(), patch.as_object()) else {
        return strip_directives(patch);
    };
    if p.get("$patch").and_then(Value::as_str) == Some("replace") {
        let mut replaced = p.clone();
        replaced.remove("$patch");
        return strip_directives(&Value::Object(replaced));
    }
    let mut out = t.clone();
    if let Some(retain) = p.get("$retainKeys").and_then(Value::as_array) {
        let retain: BTreeSet<&str> = retain.iter().filter_map(Value::as_str).collect();
        out.retain(|k, _| retain.contains(k.as_str()));
    }
    let mut orders: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    for (k, pv) in p {
        if let Some(field) = k.strip_prefix("$setElementOrder/") {
            if let Some(order) = pv.as_array() {
                orders.insert(field.to_string(), order.clone());
            }
            continue;
        }
        if let Some(field) = k.strip_prefix("$deleteFromPrimitiveList/") {
            if let (Some(Value::Array(list)), Some(del)) = (out.get_mut(field), pv.as_array()) {
                list.retain(|v| !del.contains(v));
            }
            continue;
        }
        if k.starts_with('$') {
            continue;
        }
        if pv.is_null() {
            out.remove(k);
            continue;
        }
        path.push(k.clone());
        let merged = match (out.get(k), pv) {
            (Some(tv @ Value::Object(_)), Value::Object(_)) => smp_value(tv, pv, keys, path),
            (Some(Value::Array(tl)), Value::Array(pl)) => smp_list(tl, pl, keys, path),
            (None, Value::Array(pl)) => smp_list(&[], pl, keys, path),
            _ => strip_directives(pv),
        };
        path.pop();
        out.insert(k.clone(), merged);
    }
    for (field, order) in orders {
        path.push(field.clone());
        if let (Some(Value::Array(list)), Some(mk)) = (out.get_mut(&field), keys.keys(path)) {
            let mut sorted = Vec::with_capacity(list.len());
            for o in &order {
                let ok = element_key(o, &mk);
                if let Some(pos) = list
                    .iter()
                    .position(|e| ok.is_some() && element_key(e, &mk) == ok)
                {
                    sorted.push(list.remove(pos));
                }
            }
            sorted.append(list);
            *list = sorted;
        }
        path.pop();
    }
    Value::Object(out)
}

fn smp_list(target: &[Value], patch: &[Value], keys: ListKeys<'_>, path: &mut Vec<String>) -> Value {
    if let Some(mk) = keys.keys(path) {
        if patch
            .iter()
            .any(|p| p.get("$patch").and_then(Value::as_str) == Some("replace"))
        {
            return Value::Array(
                patch
                    .iter()
                    .filter(|p| p.get("$patch").is_none())
                    .map(strip_directives)
                    .collect(),
            );
        }
        let mut out: Vec<Value> = target.to_vec();
        for pe in patch {
            let Some(pk) = element_key(pe, &mk) else {
                out.push(strip_directives(pe));
                continue;
            };
            let pos = out.iter().position(|e| element_key(e, &mk).as_ref() == Some(&pk));
            let delete = pe.get("$patch").and_then(Value::as_str) == Some("delete");
            match (pos, delete) {
                (Some(i), true) => {
                    out.remove(i);
                }
                (None, true) => {}
                (Some(i), false) => {
                    if let Some(slot) = out.get_mut(i) {
                        *slot = smp_value(slot, pe, keys, path);
                    }
                }
                (None, false) => out.push(strip_directives(pe)),
            }
        }
        return Value::Array(out);
    }
    if keys.is_set(path) {
        let mut out: Vec<Value> = target.to_vec();
        for v in patch {
            if !out.contains(v) {
                out.push(v.clone());
            }
        }
        return Value::Array(out);
    }
    Value::Array(patch.iter().map(strip_directives).collect())
}

fn strip_directives(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .filter(|(k, v)| !k.starts_with('$') && !v.is_null())
                .map(|(k, v)| (k.clone(), strip_directives(v)))
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(strip_directives).collect()),
        other => other.clone(),
    }
}

// ---------------------------------------------------------------------------------------------------
// Field sets (managedFields `FieldsV1`) and server-side apply.

/// One step of a field path: `f:name`, `k:{...}` (keyed list element) or `v:...` (set element).
pub type FieldPath = Vec<String>;

/// Metadata fields never tracked by field management.
fn untracked(path: &[String]) -> bool {
    matches!(
        path,
        [m, f, ..] if m == "f:metadata" && matches!(f.as_str(),
            "f:managedFields" | "f:resourceVersion" | "f:uid" | "f:creationTimestamp" | "f:generation"
            | "f:deletionTimestamp" | "f:deletionGracePeriodSeconds" | "f:selfLink")
    ) || matches!(path, [f] if f == "f:apiVersion" || f == "f:kind")
        || matches!(path, [m, f] if m == "f:metadata" && (f == "f:name" || f == "f:namespace"))
}

/// The leaf fields `obj` sets, as `FieldsV1` path steps.
pub fn field_set(obj: &Value, keys: ListKeys<'_>) -> BTreeSet<FieldPath> {
    let mut out = BTreeSet::new();
    collect_fields(obj, keys, &mut Vec::new(), &mut Vec::new(), &mut out);
    out.retain(|p| !untracked(p));
    out
}

fn collect_fields(
    v: &Value,
    keys: ListKeys<'_>,
    schema_path: &mut Vec<String>,
    path: &mut FieldPath,
    out: &mut BTreeSet<FieldPath>,
) {
    match v {
        Value::Object(m) if !m.is_empty() => {
            for (k, child) in m {
                schema_path.push(k.clone());
                path.push(format!("f:{k}"));
                collect_fields(child, keys, schema_path, path, out);
                path.pop();
                schema_path.pop();
            }
        }
        Value::Array(items) if !items.is_empty() => {
            if let Some(mk) = keys.keys(schema_path)
                && items.iter().all(|i| element_key(i, &mk).is_some())
            {
                for item in items {
                    let key = element_key(item, &mk).unwrap_or_default();
                    path.push(format!("k:{}", Value::Object(key)));
                    out.insert(path.clone());
                    collect_fields(item, keys, schema_path, path, out);
                    path.pop();
                }
                return;
            }
            if keys.is_set(schema_path) && items.iter().all(|i| !i.is_object() && !i.is_array()) {
                for item in items {
                    path.push(format!("v:{item}"));
                    out.insert(path.clone());
                    path.pop();
                }
                return;
            }
            out.insert(path.clone());
        }
        _ => {
            out.insert(path.clone());
        }
    }
}

/// Encodes a field set as a `fieldsV1` object.
pub fn to_fields_v1(set: &BTreeSet<FieldPath>) -> Value {
    let mut root = Map::new();
    for path in set {
        let mut cur = &mut root;
        for (i, step) in path.iter().enumerate() {
            let entry = cur.entry(step.clone()).or_insert_with(|| json!({}));
            let Some(next) = entry.as_object_mut() else { break };
            if i + 1 == path.len() && (step.starts_with("k:")) {
                next.insert(".".into(), json!({}));
            }
            cur = next;
        }
    }
    Value::Object(root)
}

/// Decodes a `fieldsV1` object into the set of leaf paths (and keyed elements) it names.
pub fn from_fields_v1(v: &Value) -> BTreeSet<FieldPath> {
    fn walk(v: &Value, path: &mut FieldPath, out: &mut BTreeSet<FieldPath>) {
        let Some(m) = v.as_object() else { return };
        let children: Vec<_> = m.iter().filter(|(k, _)| k.as_str() != ".").collect();
        if (children.is_empty() || m.contains_key(".")) && !path.is_empty() {
            out.insert(path.clone());
        }
        for (k, child) in children {
            path.push(k.clone());
            walk(child, path, out);
            path.pop();
        }
    }
    let mut out = BTreeSet::new();
    walk(v, &mut Vec::new(), &mut out);
    out
}

/// The value at a field path, if present.
fn value_at<'a>(obj: &'a Value, path: &[String]) -> Option<&'a Value> {
    let mut cur = obj;
    for step in path {
        cur = if let Some(f) = step.strip_prefix("f:") {
            cur.get(f)?
        } else if let Some(k) = step.strip_prefix("k:") {
            let key: Map<String, Value> = serde_json::from_str(k).ok()?;
            cur.as_array()?
                .iter()
                .find(|e| key.iter().all(|(kk, kv)| e.get(kk) == Some(kv)))?
        } else if let Some(v) = step.strip_prefix("v:") {
            let val: Value = serde_json::from_str(v).ok()?;
            cur.as_array()?.iter().find(|e| **e == val)?
        } else {
            return None;
        };
    }
    Some(cur)
}

fn remove_at(obj: &mut Value, path: &[String]) {
    let Some((last, parent_path)) = path.split_last() else {
        return;
    };
    let mut cur = obj;
    for step in parent_path {
        let next = if let Some(f) = step.strip_prefix("f:") {
            cur.get_mut(f)
        } else if let Some(k) = step.strip_prefix("k:") {
            let Ok(key) = serde_json::from_str::<Map<String, Value>>(k) else {
                return;
            };
            cur.as_array_mut().and_then(|a| {
                a.iter_mut()
                    .find(|e| key.iter().all(|(kk, kv)| e.get(kk) == Some(kv)))
            })
        } else {
            None
        };
        let Some(next) = next else { return };
        cur = next;
    }
    if let Some(f) = last.strip_prefix("f:") {
        if let Some(m) = cur.as_object_mut() {
            m.remove(f);
        }
    } else if let Some(k) = last.strip_prefix("k:") {
        if let (Ok(key), Some(a)) = (serde_json::from_str::<Map<String, Value>>(k), cur.as_array_mut()) {
            a.retain(|e| !key.iter().all(|(kk, kv)| e.get(kk) == Some(kv)));
        }
    } else if let Some(v) = last.strip_prefix("v:")
        && let (Ok(val), Some(a)) = (serde_json::from_str::<Value>(v), cur.as_array_mut())
    {
        a.retain(|e| *e != val);
    }
}

/// Deep merge used by apply: maps recurse, keyed lists merge by key, everything else is replaced.
pub fn apply_merge(live: &Value, applied: &Value, keys: ListKeys<'_>, path: &mut Vec<String>) -> Value {
    match (live, applied) {
        (Value::Object(l), Value::Object(a)) => {
            let mut out = l.clone();
            for (k, av) in a {
                path.push(k.clone());
                let merged = match out.get(k) {
                    Some(lv) => apply_merge(lv, av, keys, path),
                    None => av.clone(),
                };
                path.pop();
                out.insert(k.clone(), merged);
            }
            Value::Object(out)
        }
        (Value::Array(l), Value::Array(a)) => {
            if let Some(mk) = keys.keys(path) {
                let mut out = l.clone();
                for ae in a {
                    let ak = element_key(ae, &mk);
                    match out.iter().position(|e| ak.is_some() && element_key(e, &mk) == ak) {
                        Some(i) => {
                            if let Some(slot) = out.get_mut(i) {
                                *slot = apply_merge(slot, ae, keys, path);
                            }
                        }
                        None => out.push(ae.clone()),
                    }
                }
                return Value::Array(out);
            }
            if keys.is_set(path) {
                let mut out = l.clone();
                for v in a {
                    if !out.contains(v) {
                        out.push(v.clone());
                    }
                }
                return Value::Array(out);
            }
            applied.clone()
        }
        _ => applied.clone(),
    }
}

/// One conflict of an apply with another manager.
#[derive(Debug, Clone, PartialEq)]
pub struct ApplyConflict {
    pub manager: String,
    pub api_version: String,
    /// Dotted field path, e.g. `.data.key`.
    pub field: String,
}

/// Formats a field path like structured-merge-diff does (`.spec.containers[name="app"].image`).
pub fn dotted(path: &[String]) -> String {
    let mut s = String::new();
    for step in path {
        if let Some(f) = step.strip_prefix("f:") {
            s.push('.');
            s.push_str(f);
        } else if let Some(k) = step.strip_prefix("k:") {
            let key: Map<String, Value> = serde_json::from_str(k).unwrap_or_default();
            let parts: Vec<String> = key.iter().map(|(a, b)| format!("{a}={b}")).collect();
            s.push_str(&format!("[{}]", parts.join(",")));
        } else if let Some(v) = step.strip_prefix("v:") {
            s.push_str(&format!("[={v}]"));
        }
    }
    s
}

/// One `managedFields` entry, decoded.
#[derive(Debug, Clone, PartialEq)]
pub struct ManagedEntry {
    pub manager: String,
    pub operation: String,
    pub api_version: String,
    pub time: String,
    pub subresource: Option<String>,
    pub fields: BTreeSet<FieldPath>,
}

pub fn read_managed(obj: &Value) -> Vec<ManagedEntry> {
    obj.pointer("/metadata/managedFields")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|e| {
                    Some(ManagedEntry {
                        manager: e.get("manager")?.as_str()?.to_string(),
                        operation: e
                            .get("operation")
                            .and_then(Value::as_str)
                            .unwrap_or("Update")
                            .to_string(),
                        api_version: e
                            .get("apiVersion")
                            .and_then(Value::as_str)
                            .unwrap_or_default()
                            .to_string(),
                        time: e
                            .get("time")
                            .and_then(Value::as_str)
                            .unwrap_or_default()
                            .to_string(),
                        subresource: e.get("subresource").and_then(Value::as_str).map(str::to_string),
                        fields: e.get("fieldsV1").map(from_fields_v1).unwrap_or_default(),
                    })
                })
                .collect()
        })
        .unwrap_or_default()
}

pub fn write_managed(obj: &mut Value, entries: &[ManagedEntry]) {
    let list: Vec<Value> = entries
        .iter()
        .filter(|e| !e.fields.is_empty())
        .map(|e| {
            let mut v = json!({
                "manager": e.manager,
                "operation": e.operation,
                "apiVersion": e.api_version,
                "time": e.time,
                "fieldsType": "FieldsV1",
                "fieldsV1": to_fields_v1(&e.fields),
            });
            if let (Some(sub), Some(m)) = (&e.subresource, v.as_object_mut()) {
                m.insert("subresource".into(), json!(sub));
            }
            v
        })
        .collect();
    if let Some(meta) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
        if list.is_empty() {
            meta.remove("managedFields");
        } else {
            meta.insert("managedFields".into(), Value::Array(list));
        }
    }
}

/// Records an Update by `manager`: it now owns every field that changed from `old` to `new`
/// (other managers lose those fields), like the API server's managedFields maintenance.
pub fn record_update(
    old: Option<&Value>,
    new: &mut Value,
    manager: &str,
    api_version: &str,
    now: &str,
    subresource: Option<&str>,
    keys: ListKeys<'_>,
) {
    let mut entries = old.map(read_managed).unwrap_or_default();
    let new_set = field_set(new, keys);
    let changed: BTreeSet<FieldPath> = match old {
        None => new_set.clone(),
        Some(old) => new_set
            .iter()
            .filter(|p| value_at(old, p) != value_at(new, p))
            .cloned()
            .collect(),
    };
    for e in &mut entries {
        if e.manager != manager || e.operation != "Update" {
            e.fields.retain(|p| !changed.contains(p));
        }
        // Fields no longer present are owned by nobody.
        e.fields.retain(|p| new_set.contains(p));
    }
    if !changed.is_empty() {
        match entries.iter_mut().find(|e| {
            e.manager == manager && e.operation == "Update" && e.subresource.as_deref() == subresource
        }) {
            Some(e) => {
                e.fields.extend(changed);
                e.time = now.to_string();
                e.api_version = api_version.to_string();
            }
            None => entries.push(ManagedEntry {
                manager: manager.to_string(),
                operation: "Update".into(),
                api_version: api_version.to_string(),
                time: now.to_string(),
                subresource: subresource.map(str::to_string),
                fields: changed,
            }),
        }
    }
    write_managed(new, &entries);
}

/// Server-side apply of `applied` by `manager` onto `live` (None = create). Returns the new object
/// with managedFields updated, or the conflicts with other managers when `force` is false.
pub fn server_side_apply(
    live: Option<&Value>,
    applied: &Value,
    manager: &str,
    force: bool,
    now: &str,
    keys: ListKeys<'_>,
) -> Result<Value, Vec<ApplyConflict>> {
    let api_version = applied
        .get("apiVersion")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let applied_set = field_set(applied, keys);
    let mut entries = live.map(read_managed).unwrap_or_default();
    let mut conflicts = Vec::new();
    if let Some(live) = live {
        for e in &entries {
            if e.manager == manager && e.operation == "Apply" {
                continue;
            }
            for p in e.fields.intersection(&applied_set) {
                if value_at(live, p) != value_at(applied, p) {
                    conflicts.push(ApplyConflict {
                        manager: e.manager.clone(),
                        api_version: e.api_version.clone(),
                        field: dotted(p),
                    });
                }
            }
        }
    }
    if !conflicts.is_empty() && !force {
        return Err(conflicts);
    }
    let previous: BTreeSet<FieldPath> = entries
        .iter()
        .find(|e| e.manager == manager && e.operation == "Apply")
        .map(|e| e.fields.clone())
        .unwrap_or_default();
    let others: BTreeSet<FieldPath> = entries
        .iter()
        .filter(|e| !(e.manager == manager && e.operation == "Apply"))
        .flat_map(|e| e.fields.iter().cloned())
        .collect();
    let mut result = live.cloned().unwrap_or_else(|| json!({}));
    for p in previous.difference(&applied_set) {
        if !others.contains(p) || force {
            remove_at(&mut result, p);
        }
    }
    result = apply_merge(&result, applied, keys, &mut Vec::new());
    for e in &mut entries {
        if !(e.manager == manager && e.operation == "Apply") {
            // Forced fields move to the applier; values that changed are no longer the others'.
            e.fields.retain(|p| {
                !applied_set.contains(p)
                    || (live.and_then(|l| value_at(l, p)) == value_at(applied, p) && !force)
            });
        }
    }
    match entries
        .iter_mut()
        .find(|e| e.manager == manager && e.operation == "Apply")
    {
        Some(e) => {
            e.fields = applied_set;
            e.time = now.to_string();
            e.api_version = api_version;
        }
        None => entries.push(ManagedEntry {
            manager: manager.to_string(),
            operation: "Apply".into(),
            api_version,
            time: now.to_string(),
            subresource: None,
            fields: applied_set,
        }),
    }
    write_managed(&mut result, &entries);
    Ok(result)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn smp_merges_containers_by_name() {
        let target =
            json!({"spec": {"containers": [{"name": "a", "image": "x:1"}, {"name": "b", "image": "y:1"}]}});
        let patch =
            json!({"spec": {"containers": [{"name": "b", "image": "y:2"}, {"name": "c", "image": "z"}]}});
        let out = strategic_merge(&target, &patch, ListKeys::Builtin).unwrap();
        assert_eq!(
            out,
            json!({"spec": {"containers": [{"name": "a", "image": "x:1"}, {"name": "b", "image": "y:2"}, {"name": "c", "image": "z"}]}})
        );
    }

    #[test]
    fn smp_directives() {
        let cases = [
            (
                json!({"spec": {"containers": [{"name": "a"}, {"name": "b"}]}}),
                json!({"spec": {"containers": [{"name": "a", "$patch": "delete"}]}}),
                json!({"spec": {"containers": [{"name": "b"}]}}),
            ),
            (
                json!({"metadata": {"labels": {"a": "1", "b": "2"}}}),
                json!({"metadata": {"labels": {"a": null, "c": "3"}}}),
                json!({"metadata": {"labels": {"b": "2", "c": "3"}}}),
            ),
            (
                json!({"spec": {"containers": [{"name": "a"}, {"name": "b"}]}}),
                json!({"spec": {"$setElementOrder/containers": [{"name": "b"}, {"name": "a"}], "containers": [{"name": "a", "image": "i"}]}}),
                json!({"spec": {"containers": [{"name": "b"}, {"name": "a", "image": "i"}]}}),
            ),
            (
                json!({"data": {"k": "v"}, "list": [1, 2]}),
                json!({"list": [3]}),
                json!({"data": {"k": "v"}, "list": [3]}),
            ),
            (
                json!({"metadata": {"finalizers": ["a"]}}),
                json!({"metadata": {"finalizers": ["b"]}}),
                json!({"metadata": {"finalizers": ["a", "b"]}}),
            ),
        ];
        for (target, patch, want) in cases {
            assert_eq!(
                strategic_merge(&target, &patch, ListKeys::Builtin).unwrap(),
                want,
                "patch {patch}"
            );
        }
    }

    #[test]
    fn fields_v1_round_trips() {
        let obj = json!({"data": {"a": "1"}, "spec": {"containers": [{"name": "c", "image": "i"}]}});
        let set = field_set(&obj, ListKeys::Builtin);
        let v1 = to_fields_v1(&set);
        assert_eq!(v1["f:data"]["f:a"], json!({}));
        assert_eq!(v1["f:spec"]["f:containers"]["k:{\"name\":\"c\"}"]["."], json!({}));
        assert_eq!(from_fields_v1(&v1), set);
    }

    #[test]
    fn apply_conflicts_then_force_moves_ownership() {
        let now = "2026-01-01T00:00:00Z";
        let mut live =
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}, "data": {"k": "a"}});
        record_update(
            None,
            &mut live,
            "kubectl-client-side-apply",
            "v1",
            now,
            None,
            ListKeys::Builtin,
        );
        let applied =
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}, "data": {"k": "b"}});
        let conflicts =
            server_side_apply(Some(&live), &applied, "other", false, now, ListKeys::Builtin).unwrap_err();
        assert_eq!(
            conflicts,
            [ApplyConflict {
                manager: "kubectl-client-side-apply".into(),
                api_version: "v1".into(),
                field: ".data.k".into()
            }]
        );
        let forced = server_side_apply(Some(&live), &applied, "other", true, now, ListKeys::Builtin).unwrap();
        assert_eq!(forced["data"]["k"], "b");
        let managers = read_managed(&forced);
        assert_eq!(managers.len(), 1, "{managers:?}");
        assert_eq!(managers[0].manager, "other");
    }

    #[test]
    fn apply_removes_fields_the_manager_dropped() {
        let now = "t";
        let first = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}, "data": {"a": "1", "b": "2"}});
        let live = server_side_apply(None, &first, "m", false, now, ListKeys::Builtin).unwrap();
        let second =
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}, "data": {"a": "1"}});
        let out = server_side_apply(Some(&live), &second, "m", false, now, ListKeys::Builtin).unwrap();
        assert_eq!(out["data"], json!({"a": "1"}));
    }

    #[test]
    fn schema_list_keys() {
        let schema = json!({"properties": {"spec": {"properties": {"items": {"type": "array", "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["id"], "items": {"properties": {"id": {}}}}}}}});
        let keys = ListKeys::Schema(&schema);
        assert_eq!(
            keys.keys(&["spec".into(), "items".into()]),
            Some(vec!["id".to_string()])
        );
        assert_eq!(keys.keys(&["spec".into()]), None);
    }
}
