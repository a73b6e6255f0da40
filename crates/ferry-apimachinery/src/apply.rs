//! Server-side apply (`application/apply-patch+yaml`): merges an applied configuration into
//! the live object, removes fields the manager applied before and no longer applies (unless
//! another manager owns them), detects conflicts with other managers (409 unless `force`),
//! and maintains `metadata.managedFields`.
//!
//! Entry point: [`server_side_apply`]. The caller parses the body (YAML or JSON), checks
//! `apiVersion`/`kind`/`name` against the URL, and afterwards resets fields the endpoint does
//! not own (e.g. `status` on the main resource) before storing.

use crate::managed_fields::{
    FieldSet, ManagedFieldsEntry, ManagedFieldsError, changed_fields, fields_of, key_element, path_string,
    read_managed_fields, strip_untracked, write_managed_fields,
};
use crate::typeinfo::{FieldShape, ListType, Shape};
use serde_json::{Map, Value, json};

/// One field that another manager owns with a different value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conflict {
    /// How Kubernetes names the other manager: `"mgr"` or `"mgr" using v1`.
    pub manager: String,
    /// The field, e.g. `.data.key`.
    pub path: String,
}

/// Why an apply failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApplyError {
    /// Conflicts with other managers (HTTP 409, reason Conflict); use [`conflict_status`].
    #[error("Apply failed with {} conflict{}: {}", .0.len(), if .0.len() == 1 { "" } else { "s" }, conflict_message(.0))]
    Conflicts(Vec<Conflict>),
    /// Bad request (HTTP 400/422): missing field manager, body not an object, bad managedFields.
    #[error("{0}")]
    Invalid(String),
}

impl From<ManagedFieldsError> for ApplyError {
    fn from(e: ManagedFieldsError) -> Self {
        ApplyError::Invalid(e.to_string())
    }
}

/// Kubernetes' conflict message: one conflict inline, several grouped by manager.
pub fn conflict_message(conflicts: &[Conflict]) -> String {
    if let [c] = conflicts {
        return format!("conflict with {}: {}", c.manager, c.path);
    }
    let mut managers: Vec<&str> = conflicts.iter().map(|c| c.manager.as_str()).collect();
    managers.sort_unstable();
    managers.dedup();
    let mut lines = Vec::new();
    for m in managers {
        lines.push(format!("conflicts with {m}:"));
        lines.extend(
            conflicts
                .iter()
                .filter(|c| c.manager == m)
                .map(|c| format!("- {}", c.path)),
        );
    }
    lines.join("\n")
}

/// The 409 Status body for apply conflicts (reason Conflict, causes of type FieldManagerConflict).
pub fn conflict_status(conflicts: &[Conflict]) -> Value {
    let causes: Vec<Value> = conflicts
        .iter()
        .map(|c| json!({"reason": "FieldManagerConflict", "message": format!("conflict with {}", c.manager), "field": c.path}))
        .collect();
    json!({
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": ApplyError::Conflicts(conflicts.to_vec()).to_string(),
        "reason": "Conflict",
        "details": {"causes": causes},
        "code": 409
    })
}

/// One apply request.
#[derive(Debug, Clone, Copy)]
pub struct ApplyRequest<'a> {
    /// The stored object, or `None` when apply creates it.
    pub live: Option<&'a Value>,
    /// The applied configuration (the request body, parsed).
    pub applied: &'a Value,
    /// `fieldManager` (required for apply).
    pub manager: &'a str,
    /// `force=true`: take ownership of conflicting fields instead of failing.
    pub force: bool,
    /// apiVersion of the applied configuration.
    pub api_version: &'a str,
    /// `""`, `status` or `scale`.
    pub subresource: &'a str,
    /// RFC 3339 time of the request.
    pub time: &'a str,
    /// The object's shape (built-in table or CRD schema).
    pub shape: Shape<'a>,
}

/// Runs server-side apply and returns the new object with `metadata.managedFields` updated.
/// Identity fields (`apiVersion`, `kind`, `metadata.name`…) come from the applied
/// configuration on create and from the live object otherwise.
pub fn server_side_apply(req: ApplyRequest<'_>) -> Result<Value, ApplyError> {
    if req.manager.is_empty() {
        return Err(ApplyError::Invalid(
            "metadata.managedFields.fieldManager: Required value: is required for apply patch".into(),
        ));
    }
    if !req.applied.is_object() {
        return Err(ApplyError::Invalid(
            "the applied configuration must be an object".into(),
        ));
    }
    if req
        .applied
        .pointer("/metadata/managedFields")
        .is_some_and(|m| !m.is_null())
    {
        return Err(ApplyError::Invalid("metadata.managedFields must be nil".into()));
    }
    let mut entries = match req.live {
        Some(l) => read_managed_fields(l)?,
        None => Vec::new(),
    };
    let applied = drop_nulls(&strip_untracked(req.applied));
    let applied_set = fields_of(&applied, req.shape);
    let me = ManagedFieldsEntry {
        manager: req.manager.to_string(),
        operation: "Apply".into(),
        api_version: req.api_version.to_string(),
        time: Some(req.time.to_string()),
        subresource: req.subresource.to_string(),
        fields: FieldSet::default(),
    };
    let previous = entries
        .iter()
        .find(|e| e.same_identity(&me))
        .map(|e| e.fields.clone())
        .unwrap_or_default();
    let others_union = entries
        .iter()
        .filter(|e| !e.same_identity(&me))
        .fold(FieldSet::default(), |acc, e| acc.union(&e.fields));

    let live_full = req.live.cloned().unwrap_or_else(|| req.applied.clone());
    let live_tracked = req.live.map(strip_untracked).unwrap_or_else(|| json!({}));
    let mut merged = merge(
        &live_tracked,
        &applied,
        &FieldShape {
            shape: req.shape,
            list_type: ListType::Atomic,
            patch_strategy: "",
            merge_key: "",
        },
    );
    let to_remove = previous.difference(&applied_set).difference(&others_union);
    let mut removal_paths = to_remove.members();
    // Remove outermost paths first: a keyed list item must be found by its key fields before
    // those fields are removed; paths inside an already-removed item are then simply absent.
    removal_paths.sort_by_key(Vec::len);
    for p in &removal_paths {
        remove_path(&mut merged, p);
    }

    // Conflicts: fields this apply changes that another manager owns.
    let changed = changed_fields(Some(&live_tracked), &merged, req.shape);
    let mut conflicts = Vec::new();
    for e in entries.iter().filter(|e| !e.same_identity(&me)) {
        for p in e
            .fields
            .intersection(&changed)
            .intersection(&applied_set)
            .members()
        {
            conflicts.push(Conflict {
                manager: e.describe(),
                path: path_string(&p),
            });
        }
    }
    if !conflicts.is_empty() && !req.force {
        return Err(ApplyError::Conflicts(conflicts));
    }
    let mut found = false;
    for e in entries.iter_mut() {
        if e.same_identity(&me) {
            found = true;
            e.fields = applied_set.clone();
            e.api_version = req.api_version.to_string();
            e.time = Some(req.time.to_string());
        } else if req.force {
            e.fields = e.fields.difference(&changed.intersection(&applied_set));
        }
        e.fields.retain_existing(&merged);
    }
    if !found {
        entries.push(ManagedFieldsEntry {
            fields: applied_set,
            ..me
        });
    }
    entries.retain(|e| !e.fields.is_empty());

    // Re-attach the untracked identity fields from the live object (or the applied config on create).
    let mut out = restore_untracked(&live_full, merged);
    write_managed_fields(&mut out, &mut entries);
    Ok(out)
}

/// Nulls in an applied configuration mean "not set by me".
fn drop_nulls(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k.clone(), drop_nulls(v)))
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(drop_nulls).collect()),
        other => other.clone(),
    }
}

fn restore_untracked(source: &Value, merged: Value) -> Value {
    let Value::Object(mut m) = merged else {
        return merged;
    };
    let mut out = Map::new();
    for k in ["apiVersion", "kind"] {
        if let Some(v) = source.get(k) {
            out.insert(k.to_string(), v.clone());
        }
    }
    let mut md = source
        .get("metadata")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    // Tracked metadata (labels, annotations, finalizers, ownerReferences) comes from the merge.
    for k in ["labels", "annotations", "finalizers", "ownerReferences"] {
        md.shift_remove(k);
    }
    if let Some(Value::Object(tracked)) = m.shift_remove("metadata") {
        for (k, v) in tracked {
            md.insert(k, v);
        }
    }
    out.insert("metadata".into(), Value::Object(md));
    for (k, v) in m {
        out.insert(k, v);
    }
    Value::Object(out)
}

/// Server-side apply's merge: objects merge field by field, keyed lists merge item by item,
/// sets union, everything else is replaced by the applied value.
fn merge(live: &Value, applied: &Value, fs: &FieldShape<'_>) -> Value {
    match (live, applied) {
        (Value::Object(l), Value::Object(a)) if !fs.shape.is_atomic() => {
            let mut out = l.clone();
            for (k, av) in a {
                let child = if fs.shape.is_map() {
                    FieldShape {
                        shape: Shape::Unknown,
                        list_type: ListType::Atomic,
                        patch_strategy: "",
                        merge_key: "",
                    }
                } else {
                    fs.shape.field(k)
                };
                let nv = match l.get(k) {
                    Some(lv) => merge(lv, av, &child),
                    None => av.clone(),
                };
                out.insert(k.clone(), nv);
            }
            Value::Object(out)
        }
        (Value::Array(l), Value::Array(a)) => {
            let keys = fs.list_type.keys();
            let keyed = !keys.is_empty() && l.iter().chain(a).all(|i| key_element(i, &keys).is_some());
            if keyed {
                let item_shape = FieldShape {
                    shape: fs.shape,
                    list_type: ListType::Atomic,
                    patch_strategy: "",
                    merge_key: "",
                };
                let mut out = l.clone();
                for item in a {
                    let k = key_element(item, &keys);
                    match out.iter().position(|o| key_element(o, &keys) == k) {
                        Some(p) => {
                            if let Some(slot) = out.get_mut(p) {
                                *slot = merge(slot, item, &item_shape);
                            }
                        }
                        None => out.push(item.clone()),
                    }
                }
                Value::Array(out)
            } else if fs.list_type == ListType::Set {
                let mut out = l.clone();
                for item in a {
                    if !out.contains(item) {
                        out.push(item.clone());
                    }
                }
                Value::Array(out)
            } else {
                applied.clone()
            }
        }
        _ => applied.clone(),
    }
}

/// Removes the value at a FieldsV1 path (a field, a keyed list item, a set item or an index).
fn remove_path(obj: &mut Value, path: &[String]) {
    let Some((first, rest)) = path.split_first() else {
        return;
    };
    if let Some(f) = first.strip_prefix("f:") {
        let Value::Object(m) = obj else { return };
        if rest.is_empty() {
            m.shift_remove(f);
        } else if let Some(child) = m.get_mut(f) {
            remove_path(child, rest);
        }
        return;
    }
    let Value::Array(list) = obj else { return };
    let pos = if let Some(k) = first.strip_prefix("k:") {
        let Ok(keys) = serde_json::from_str::<Map<String, Value>>(k) else {
            return;
        };
        let names: Vec<&str> = keys.keys().map(String::as_str).collect();
        list.iter()
            .position(|i| key_element(i, &names).as_deref() == Some(first.as_str()))
    } else if let Some(v) = first.strip_prefix("v:") {
        let Ok(want) = serde_json::from_str::<Value>(v) else {
            return;
        };
        list.iter().position(|i| *i == want)
    } else if let Some(i) = first.strip_prefix("i:") {
        i.parse::<usize>().ok().filter(|i| *i < list.len())
    } else {
        None
    };
    let Some(pos) = pos else { return };
    if rest.is_empty() {
        list.remove(pos);
    } else if let Some(child) = list.get_mut(pos) {
        remove_path(child, rest);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::managed_fields::{UpdateOp, update_managed_fields};

    fn apply(
        live: Option<&Value>,
        applied: &Value,
        manager: &str,
        force: bool,
        shape: Shape<'_>,
    ) -> Result<Value, ApplyError> {
        server_side_apply(ApplyRequest {
            live,
            applied,
            manager,
            force,
            api_version: "v1",
            subresource: "",
            time: "2026-11-30T12:00:00Z",
            shape,
        })
    }

    fn cm(data: Value) -> Value {
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": "default"}, "data": data})
    }

    fn entry(obj: &Value, manager: &str) -> Option<Value> {
        read_managed_fields(obj)
            .ok()?
            .into_iter()
            .find(|e| e.manager == manager)
            .map(|e| e.fields.to_fields_v1())
    }

    #[test]
    fn create_then_reapply_removes_dropped_fields() {
        let shape = Shape::for_builtin("", "ConfigMap");
        let created = apply(None, &cm(json!({"a": "1", "b": "2"})), "mgr", false, shape).unwrap_or_default();
        assert_eq!(created["data"], json!({"a": "1", "b": "2"}));
        assert_eq!(created["metadata"]["name"], "c");
        assert_eq!(created["metadata"]["managedFields"][0]["operation"], "Apply");
        assert_eq!(
            entry(&created, "mgr"),
            Some(json!({"f:data": {"f:a": {}, "f:b": {}}}))
        );
        let again = apply(Some(&created), &cm(json!({"a": "1"})), "mgr", false, shape).unwrap_or_default();
        assert_eq!(again["data"], json!({"a": "1"}));
        assert_eq!(entry(&again, "mgr"), Some(json!({"f:data": {"f:a": {}}})));
    }

    #[test]
    fn conflict_with_update_manager_then_force() {
        let shape = Shape::for_builtin("", "ConfigMap");
        let mut live = cm(json!({"key": "old"}));
        assert!(
            update_managed_fields(
                None,
                &mut live,
                UpdateOp {
                    manager: "kubectl-client-side-apply",
                    api_version: "v1",
                    subresource: "",
                    time: "t0"
                },
                shape
            )
            .is_ok()
        );
        let err = apply(Some(&live), &cm(json!({"key": "new"})), "kubectl", false, shape).err();
        assert_eq!(
            err.as_ref().map(|e| e.to_string()).as_deref(),
            Some(
                "Apply failed with 1 conflict: conflict with \"kubectl-client-side-apply\" using v1: .data.key"
            )
        );
        if let Some(ApplyError::Conflicts(c)) = &err {
            let status = conflict_status(c);
            assert_eq!(status["code"], 409);
            assert_eq!(status["details"]["causes"][0]["field"], ".data.key");
        }
        // Same value: no conflict, shared ownership.
        let shared = apply(Some(&live), &cm(json!({"key": "old"})), "kubectl", false, shape);
        assert!(shared.is_ok());
        // Force: ownership moves.
        let forced =
            apply(Some(&live), &cm(json!({"key": "new"})), "kubectl", true, shape).unwrap_or_default();
        assert_eq!(forced["data"]["key"], "new");
        assert_eq!(entry(&forced, "kubectl"), Some(json!({"f:data": {"f:key": {}}})));
        assert_eq!(
            entry(&forced, "kubectl-client-side-apply"),
            Some(json!({"f:data": {}}))
        );
    }

    #[test]
    fn two_appliers_keep_shared_fields() {
        let shape = Shape::for_builtin("", "ConfigMap");
        let a = apply(None, &cm(json!({"x": "1", "shared": "s"})), "a", false, shape).unwrap_or_default();
        let b = apply(Some(&a), &cm(json!({"shared": "s", "y": "2"})), "b", false, shape).unwrap_or_default();
        // a stops applying `shared`: b still owns it, so it stays; `x` goes.
        let a2 = apply(Some(&b), &cm(json!({"z": "3"})), "a", false, shape).unwrap_or_default();
        assert_eq!(a2["data"], json!({"shared": "s", "y": "2", "z": "3"}));
        let multi = apply(
            Some(&a2),
            &cm(json!({"shared": "other", "y": "other"})),
            "c",
            false,
            shape,
        );
        let msg = multi.err().map(|e| e.to_string()).unwrap_or_default();
        assert_eq!(
            msg,
            "Apply failed with 2 conflicts: conflicts with \"b\":\n- .data.shared\n- .data.y"
        );
    }

    #[test]
    fn keyed_lists_merge_by_name() {
        let shape = Shape::for_builtin("apps", "Deployment");
        let dep = |containers: Value| json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"}, "spec": {"template": {"spec": {"containers": containers}}}});
        let a = apply(
            None,
            &dep(json!([{"name": "web", "image": "nginx:1"}])),
            "a",
            false,
            shape,
        )
        .unwrap_or_default();
        let b = apply(
            Some(&a),
            &dep(json!([{"name": "side", "image": "busybox"}])),
            "b",
            false,
            shape,
        )
        .unwrap_or_default();
        assert_eq!(
            b.pointer("/spec/template/spec/containers")
                .and_then(Value::as_array)
                .map(Vec::len),
            Some(2)
        );
        // b changes web's image: conflict names the keyed path.
        let err = apply(
            Some(&b),
            &dep(json!([{"name": "web", "image": "nginx:2"}])),
            "b",
            false,
            shape,
        )
        .err()
        .map(|e| e.to_string());
        assert_eq!(
            err.as_deref(),
            Some(
                "Apply failed with 1 conflict: conflict with \"a\": .spec.template.spec.containers[name=\"web\"].image"
            )
        );
        // a drops its container: only a's item goes.
        let a2 = apply(Some(&b), &dep(json!([])), "a", false, shape).unwrap_or_default();
        assert_eq!(
            a2.pointer("/spec/template/spec/containers"),
            Some(&json!([{"name": "side", "image": "busybox"}]))
        );
    }

    #[test]
    fn crd_schema_lists_and_bad_input() {
        let schema = json!({"type": "object", "properties": {"spec": {"type": "object", "properties": {
            "tags": {"type": "array", "x-kubernetes-list-type": "set", "items": {"type": "string"}}}}}});
        let shape = Shape::for_schema(&schema);
        let obj = |tags: Value| json!({"apiVersion": "x.io/v1", "kind": "X", "metadata": {"name": "x"}, "spec": {"tags": tags}});
        let a = apply(None, &obj(json!(["a"])), "a", false, shape).unwrap_or_default();
        let b = apply(Some(&a), &obj(json!(["b"])), "b", false, shape).unwrap_or_default();
        assert_eq!(b.pointer("/spec/tags"), Some(&json!(["a", "b"])));
        assert_eq!(
            entry(&b, "b"),
            Some(json!({"f:spec": {"f:tags": {"v:\"b\"": {}}}}))
        );
        assert!(matches!(
            apply(None, &obj(json!([])), "", false, shape),
            Err(ApplyError::Invalid(_))
        ));
        assert!(matches!(
            apply(None, &json!("x"), "m", false, shape),
            Err(ApplyError::Invalid(_))
        ));
        let with_mf = json!({"metadata": {"name": "x", "managedFields": []}});
        let err = apply(None, &with_mf, "m", false, shape)
            .err()
            .map(|e| e.to_string());
        assert_eq!(err.as_deref(), Some("metadata.managedFields must be nil"));
        let broken = json!({"metadata": {"name": "x", "managedFields": [{"operation": "Nope"}]}});
        assert!(matches!(
            apply(Some(&broken), &obj(json!([])), "m", false, shape),
            Err(ApplyError::Invalid(_))
        ));
    }
}
