//! Field sets in the `FieldsV1` format and `metadata.managedFields` bookkeeping for Update
//! operations (create/update/patch other than apply).
//!
//! A [`FieldSet`] is a tree keyed by `FieldsV1` path elements: `f:<field>`, `k:{"name":"x"}`
//! (an item of a list merged by keys), `v:<json>` (an item of a set) and `i:<n>`. A node is a
//! *member* when the field itself is owned: a leaf `{}` or a node with `".": {}`.
//!
//! Entry points: [`FieldSet::from_fields_v1`]/[`FieldSet::to_fields_v1`], [`fields_of`] (what an
//! applied configuration sets), [`changed_fields`] (what an update changed),
//! [`ManagedFieldsEntry`], [`read_managed_fields`]/[`write_managed_fields`],
//! [`update_managed_fields`] and [`manager_from_user_agent`].

use crate::typeinfo::{FieldShape, ListType, Shape};
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;

/// A problem with `metadata.managedFields` or a FieldsV1 document.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ManagedFieldsError {
    /// A malformed managedFields list or entry.
    #[error("metadata.managedFields: Invalid value: {0}")]
    Invalid(String),
}

/// A set of field paths, as a tree.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FieldSet {
    /// Whether the path leading to this node is itself a member.
    pub member: bool,
    /// Children keyed by FieldsV1 element (`f:name`, `k:{…}`, `v:…`, `i:…`), sorted.
    pub children: BTreeMap<String, FieldSet>,
}

impl FieldSet {
    /// True when no path is a member.
    pub fn is_empty(&self) -> bool {
        !self.member && self.children.values().all(FieldSet::is_empty)
    }

    /// Parses a `fieldsV1` object.
    pub fn from_fields_v1(v: &Value) -> Result<Self, ManagedFieldsError> {
        let mut root = Self::parse_node(v)?;
        // The root stands for the whole object, which is never itself a member.
        root.member = false;
        Ok(root)
    }

    fn parse_node(v: &Value) -> Result<Self, ManagedFieldsError> {
        let Value::Object(m) = v else {
            return Err(ManagedFieldsError::Invalid(format!(
                "fieldsV1 must be an object, got {v}"
            )));
        };
        let mut node = FieldSet {
            member: m.is_empty(),
            children: BTreeMap::new(),
        };
        for (k, child) in m {
            if k == "." {
                node.member = true;
                continue;
            }
            if !(k.starts_with("f:") || k.starts_with("k:") || k.starts_with("v:") || k.starts_with("i:")) {
                return Err(ManagedFieldsError::Invalid(format!(
                    "fieldsV1 key {k:?} must start with f:, k:, v: or i:"
                )));
            }
            node.children.insert(k.clone(), FieldSet::parse_node(child)?);
        }
        Ok(node)
    }

    /// Serializes as a `fieldsV1` object (`"."` first, then keys in sorted order).
    pub fn to_fields_v1(&self) -> Value {
        let mut m = Map::new();
        if self.member && !self.children.is_empty() {
            m.insert(".".into(), json!({}));
        }
        for (k, c) in &self.children {
            if !c.is_empty() {
                m.insert(k.clone(), c.to_fields_v1());
            }
        }
        Value::Object(m)
    }

    fn child(&mut self, key: String) -> &mut FieldSet {
        self.children.entry(key).or_default()
    }

    /// Every member path (a list of FieldsV1 elements).
    pub fn members(&self) -> Vec<Vec<String>> {
        let mut out = Vec::new();
        self.collect_members(&mut Vec::new(), &mut out);
        out
    }

    fn collect_members(&self, prefix: &mut Vec<String>, out: &mut Vec<Vec<String>>) {
        if self.member && !prefix.is_empty() {
            out.push(prefix.clone());
        }
        for (k, c) in &self.children {
            prefix.push(k.clone());
            c.collect_members(prefix, out);
            prefix.pop();
        }
    }

    /// Whether `path` is a member.
    pub fn contains(&self, path: &[String]) -> bool {
        match path.split_first() {
            None => self.member,
            Some((first, rest)) => self.children.get(first).is_some_and(|c| c.contains(rest)),
        }
    }

    /// Adds `path` as a member.
    pub fn insert(&mut self, path: &[String]) {
        match path.split_first() {
            None => self.member = true,
            Some((first, rest)) => self.child(first.clone()).insert(rest),
        }
    }

    /// Removes `path` as a member (children stay).
    pub fn remove(&mut self, path: &[String]) {
        match path.split_first() {
            None => self.member = false,
            Some((first, rest)) => {
                if let Some(c) = self.children.get_mut(first) {
                    c.remove(rest);
                    if c.is_empty() {
                        self.children.remove(first);
                    }
                }
            }
        }
    }

    /// `self ∪ other`.
    pub fn union(&self, other: &FieldSet) -> FieldSet {
        let mut out = self.clone();
        out.union_in_place(other);
        out.member = false;
        out
    }

    fn union_in_place(&mut self, other: &FieldSet) {
        self.member |= other.member;
        for (k, c) in &other.children {
            self.children.entry(k.clone()).or_default().union_in_place(c);
        }
    }

    /// `self − other` (member-wise).
    pub fn difference(&self, other: &FieldSet) -> FieldSet {
        let mut out = self.difference_node(Some(other));
        out.member = false;
        out
    }

    fn difference_node(&self, other: Option<&FieldSet>) -> FieldSet {
        let Some(other) = other else { return self.clone() };
        let mut out = FieldSet {
            member: self.member && !other.member,
            children: BTreeMap::new(),
        };
        for (k, c) in &self.children {
            let d = c.difference_node(other.children.get(k));
            if !d.is_empty() {
                out.children.insert(k.clone(), d);
            }
        }
        out
    }

    /// `self ∩ other` (member-wise).
    pub fn intersection(&self, other: &FieldSet) -> FieldSet {
        let mut out = self.intersection_node(other);
        out.member = false;
        out
    }

    fn intersection_node(&self, other: &FieldSet) -> FieldSet {
        let mut out = FieldSet {
            member: self.member && other.member,
            children: BTreeMap::new(),
        };
        for (k, c) in &self.children {
            if let Some(o) = other.children.get(k) {
                let i = c.intersection_node(o);
                if !i.is_empty() {
                    out.children.insert(k.clone(), i);
                }
            }
        }
        out
    }

    /// Drops every path that does not exist in `obj`.
    pub fn retain_existing(&mut self, obj: &Value) {
        self.children.retain(|k, c| match locate(obj, k) {
            Some(v) => {
                c.retain_existing(v);
                !c.is_empty()
            }
            None => false,
        });
    }
}

/// Finds the child of `v` named by one FieldsV1 element.
fn locate<'v>(v: &'v Value, elem: &str) -> Option<&'v Value> {
    if let Some(f) = elem.strip_prefix("f:") {
        return v.get(f);
    }
    let list = v.as_array()?;
    if let Some(k) = elem.strip_prefix("k:") {
        let keys: Map<String, Value> = serde_json::from_str(k).ok()?;
        return list.iter().find(|item| {
            keys.iter()
                .all(|(kk, kv)| key_field(item, kk).as_ref() == Some(kv))
        });
    }
    if let Some(val) = elem.strip_prefix("v:") {
        let want: Value = serde_json::from_str(val).ok()?;
        return list.iter().find(|x| **x == want);
    }
    if let Some(i) = elem.strip_prefix("i:") {
        return list.get(i.parse::<usize>().ok()?);
    }
    None
}

/// A key field of a list item; `protocol` defaults to `TCP` as in the Kubernetes schema.
fn key_field(item: &Value, key: &str) -> Option<Value> {
    match item.get(key) {
        Some(v) => Some(v.clone()),
        None if key == "protocol" => Some(Value::String("TCP".into())),
        None => None,
    }
}

/// The `k:{…}` element for `item` in a list keyed by `keys`; `None` when a key field is missing.
pub fn key_element(item: &Value, keys: &[&str]) -> Option<String> {
    let mut sorted: Vec<&str> = keys.to_vec();
    sorted.sort_unstable();
    let mut m = Map::new();
    for k in sorted {
        m.insert(k.to_string(), key_field(item, k)?);
    }
    Some(format!("k:{}", Value::Object(m)))
}

/// The list keys to use for `items`, or `None` when the list must be treated atomically
/// (not a map list, or some item lacks a key field).
fn usable_keys<'s>(lt: &'s ListType, items: &[Value]) -> Option<Vec<&'s str>> {
    let keys = lt.keys();
    if keys.is_empty() || !items.iter().all(|i| key_element(i, &keys).is_some()) {
        return None;
    }
    Some(keys)
}

/// Prints a path the way Kubernetes prints conflicts: `.spec.containers[name="web"].image`.
pub fn path_string(path: &[String]) -> String {
    let mut s = String::new();
    for e in path {
        if let Some(f) = e.strip_prefix("f:") {
            s.push('.');
            s.push_str(f);
        } else if let Some(k) = e.strip_prefix("k:") {
            let parts: Vec<String> = serde_json::from_str::<Map<String, Value>>(k)
                .map(|m| m.iter().map(|(kk, v)| format!("{kk}={v}")).collect())
                .unwrap_or_else(|_| vec![k.to_string()]);
            s.push_str(&format!("[{}]", parts.join(",")));
        } else if let Some(v) = e.strip_prefix("v:") {
            s.push_str(&format!("[={v}]"));
        } else if let Some(i) = e.strip_prefix("i:") {
            s.push_str(&format!("[{i}]"));
        }
    }
    s
}

/// Top-level and metadata fields that are never tracked in managedFields.
pub fn strip_untracked(obj: &Value) -> Value {
    let mut v = obj.clone();
    if let Value::Object(m) = &mut v {
        m.shift_remove("apiVersion");
        m.shift_remove("kind");
        if let Some(Value::Object(md)) = m.get_mut("metadata") {
            for f in [
                "name",
                "namespace",
                "uid",
                "resourceVersion",
                "generation",
                "creationTimestamp",
                "deletionTimestamp",
                "deletionGracePeriodSeconds",
                "managedFields",
                "selfLink",
                "generateName",
            ] {
                md.shift_remove(f);
            }
            if md.is_empty() {
                m.shift_remove("metadata");
            }
        }
    }
    v
}

/// The set of fields an applied configuration sets (server-side apply's `ToFieldSet`):
/// leaves, list items of keyed lists (with `"."`) and set items. Call on [`strip_untracked`] output.
pub fn fields_of(obj: &Value, shape: Shape<'_>) -> FieldSet {
    let mut root = FieldSet::default();
    if let Value::Object(m) = obj {
        fill_object(m, shape, &mut root);
    }
    root
}

fn field_shape<'a>(shape: Shape<'a>, key: &str) -> FieldShape<'a> {
    if shape.is_map() {
        FieldShape {
            shape: Shape::Unknown,
            list_type: ListType::Atomic,
            patch_strategy: "",
            merge_key: "",
        }
    } else {
        shape.field(key)
    }
}

fn fill_object(m: &Map<String, Value>, shape: Shape<'_>, node: &mut FieldSet) {
    for (k, v) in m {
        let fs = field_shape(shape, k);
        fill_value(v, &fs, node.child(format!("f:{k}")));
    }
}

fn fill_value(v: &Value, fs: &FieldShape<'_>, node: &mut FieldSet) {
    match v {
        Value::Object(m) if !m.is_empty() && !fs.shape.is_atomic() => fill_object(m, fs.shape, node),
        Value::Array(items) if !items.is_empty() => {
            match (&fs.list_type, usable_keys(&fs.list_type, items)) {
                (_, Some(keys)) => {
                    for item in items {
                        if let Some(k) = key_element(item, &keys) {
                            let child = node.child(k);
                            child.member = true;
                            if let Value::Object(im) = item {
                                fill_object(im, fs.shape, child);
                            }
                        }
                    }
                }
                (ListType::Set, None) => {
                    for item in items {
                        node.child(format!("v:{item}")).member = true;
                    }
                }
                _ => node.member = true,
            }
        }
        _ => node.member = true,
    }
}

/// The fields an update from `old` (None = create) to `new` added or modified, as Kubernetes
/// records them for an `Update` operation (newly added maps and list items also own `"."`).
/// Both objects should be [`strip_untracked`] output.
pub fn changed_fields(old: Option<&Value>, new: &Value, shape: Shape<'_>) -> FieldSet {
    let mut root = FieldSet::default();
    if let Value::Object(n) = new {
        diff_object(old.and_then(Value::as_object), n, shape, &mut root);
    }
    root
}

fn is_builtin_struct(shape: Shape<'_>) -> bool {
    matches!(shape, Shape::Builtin(t) if t != "map")
}

fn diff_object(
    old: Option<&Map<String, Value>>,
    new: &Map<String, Value>,
    shape: Shape<'_>,
    node: &mut FieldSet,
) {
    for (k, nv) in new {
        let ov = old.and_then(|o| o.get(k));
        if ov == Some(nv) {
            continue;
        }
        let fs = field_shape(shape, k);
        let key = format!("f:{k}");
        let mut child = FieldSet::default();
        diff_value(ov, nv, &fs, &mut child);
        if !child.is_empty() {
            node.children.insert(key, child);
        }
    }
}

fn diff_value(old: Option<&Value>, new: &Value, fs: &FieldShape<'_>, node: &mut FieldSet) {
    match new {
        Value::Object(n) if !n.is_empty() && !fs.shape.is_atomic() => {
            let o = old.and_then(Value::as_object);
            if o.is_none() && !is_builtin_struct(fs.shape) {
                node.member = true;
            }
            diff_object(o, n, fs.shape, node);
        }
        Value::Array(items) if !items.is_empty() => {
            match (&fs.list_type, usable_keys(&fs.list_type, items)) {
                (_, Some(keys)) => {
                    let old_items = old.and_then(Value::as_array);
                    for item in items {
                        let Some(k) = key_element(item, &keys) else {
                            continue;
                        };
                        let before = old_items
                            .and_then(|l| l.iter().find(|o| key_element(o, &keys).as_ref() == Some(&k)));
                        if before == Some(item) {
                            continue;
                        }
                        let child = node.child(k.clone());
                        if before.is_none() {
                            child.member = true;
                        }
                        if let Value::Object(im) = item {
                            diff_object(before.and_then(Value::as_object), im, fs.shape, child);
                        }
                        if child.is_empty() {
                            node.children.remove(&k);
                        }
                    }
                }
                (ListType::Set, None) => {
                    let old_items = old.and_then(Value::as_array);
                    for item in items {
                        if !old_items.is_some_and(|l| l.contains(item)) {
                            node.child(format!("v:{item}")).member = true;
                        }
                    }
                }
                _ => node.member = true,
            }
        }
        _ => node.member = true,
    }
}

/// One `metadata.managedFields` entry.
#[derive(Debug, Clone, PartialEq)]
pub struct ManagedFieldsEntry {
    /// The field manager (`kubectl`, `kubectl-client-side-apply`, …).
    pub manager: String,
    /// `Apply` or `Update`.
    pub operation: String,
    /// apiVersion the manager used.
    pub api_version: String,
    /// RFC 3339 time of the last change by this manager.
    pub time: Option<String>,
    /// `""` for the main resource, `status`/`scale` for subresources.
    pub subresource: String,
    /// The owned fields.
    pub fields: FieldSet,
}

impl ManagedFieldsEntry {
    /// Whether two entries are the same manager identity (Kubernetes' manager identifier:
    /// manager, operation, subresource, and apiVersion for Update only).
    pub fn same_identity(&self, other: &ManagedFieldsEntry) -> bool {
        self.manager == other.manager
            && self.operation == other.operation
            && self.subresource == other.subresource
            && (self.operation == "Apply" || self.api_version == other.api_version)
    }

    /// How conflicts name this manager: `"mgr"` for appliers, `"mgr" using v1` for updaters.
    pub fn describe(&self) -> String {
        let mut s = format!("{:?}", self.manager);
        if !self.subresource.is_empty() {
            s.push_str(&format!(" with subresource {:?}", self.subresource));
        }
        if self.operation == "Update" {
            s.push_str(&format!(" using {}", self.api_version));
        }
        s
    }

    /// The JSON form.
    pub fn to_json(&self) -> Value {
        let mut m = Map::new();
        m.insert("manager".into(), json!(self.manager));
        m.insert("operation".into(), json!(self.operation));
        m.insert("apiVersion".into(), json!(self.api_version));
        if let Some(t) = &self.time {
            m.insert("time".into(), json!(t));
        }
        m.insert("fieldsType".into(), json!("FieldsV1"));
        m.insert("fieldsV1".into(), self.fields.to_fields_v1());
        if !self.subresource.is_empty() {
            m.insert("subresource".into(), json!(self.subresource));
        }
        Value::Object(m)
    }
}

/// Reads `metadata.managedFields` of `obj` (absent = empty).
pub fn read_managed_fields(obj: &Value) -> Result<Vec<ManagedFieldsEntry>, ManagedFieldsError> {
    let list = match obj.pointer("/metadata/managedFields") {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Array(l)) => l,
        Some(other) => {
            return Err(ManagedFieldsError::Invalid(format!(
                "must be a list, got {other}"
            )));
        }
    };
    list.iter()
        .enumerate()
        // `{}` is how a client asks to reset tracking; it owns nothing.
        .filter(|(_, e)| e.as_object().is_none_or(|m| !m.is_empty()))
        .map(|(i, e)| {
            let s = |k: &str| e.get(k).and_then(Value::as_str).map(str::to_string);
            let operation = s("operation")
                .ok_or_else(|| ManagedFieldsError::Invalid(format!("[{i}].operation is required")))?;
            if operation != "Apply" && operation != "Update" {
                return Err(ManagedFieldsError::Invalid(format!(
                    "[{i}].operation: {operation:?} must be Apply or Update"
                )));
            }
            if let Some(t) = s("fieldsType")
                && t != "FieldsV1"
            {
                return Err(ManagedFieldsError::Invalid(format!(
                    "[{i}].fieldsType: {t:?} must be FieldsV1"
                )));
            }
            let fields = match e.get("fieldsV1") {
                None | Some(Value::Null) => FieldSet::default(),
                Some(f) => FieldSet::from_fields_v1(f)?,
            };
            Ok(ManagedFieldsEntry {
                manager: s("manager").unwrap_or_default(),
                operation,
                api_version: s("apiVersion").unwrap_or_default(),
                time: s("time"),
                subresource: s("subresource").unwrap_or_default(),
                fields,
            })
        })
        .collect()
}

/// Writes `entries` into `obj.metadata.managedFields`, sorted as Kubernetes sorts them
/// (operation, time, manager, apiVersion); an empty list removes the field.
pub fn write_managed_fields(obj: &mut Value, entries: &mut [ManagedFieldsEntry]) {
    entries.sort_by(|a, b| {
        (
            a.operation.as_str(),
            a.time.as_deref().unwrap_or(""),
            a.manager.as_str(),
            a.api_version.as_str(),
        )
            .cmp(&(
                b.operation.as_str(),
                b.time.as_deref().unwrap_or(""),
                b.manager.as_str(),
                b.api_version.as_str(),
            ))
    });
    let Value::Object(root) = obj else { return };
    let md = root.entry("metadata").or_insert_with(|| json!({}));
    let Value::Object(md) = md else { return };
    if entries.is_empty() {
        md.shift_remove("managedFields");
    } else {
        md.insert(
            "managedFields".into(),
            Value::Array(entries.iter().map(ManagedFieldsEntry::to_json).collect()),
        );
    }
}

/// The field manager Kubernetes derives from a User-Agent when no `fieldManager` is given:
/// the part before the first `/`, at most 128 bytes (`kubectl/v1.33.1 (linux/amd64) …` → `kubectl`).
pub fn manager_from_user_agent(user_agent: &str) -> String {
    let prefix = user_agent.split('/').next().unwrap_or("");
    let mut cut = prefix.len().min(128);
    while !prefix.is_char_boundary(cut) {
        cut -= 1;
    }
    prefix[..cut].to_string()
}

/// One Update-style write (create, update, merge/JSON/strategic patch).
#[derive(Debug, Clone, Copy)]
pub struct UpdateOp<'a> {
    /// The field manager.
    pub manager: &'a str,
    /// apiVersion of the request.
    pub api_version: &'a str,
    /// `""`, `status` or `scale`.
    pub subresource: &'a str,
    /// RFC 3339 time of the write.
    pub time: &'a str,
}

/// Maintains `metadata.managedFields` on `new` for an Update operation from `old` (None = create):
/// the manager gains every field it added or changed, other managers lose those fields, and
/// fields that no longer exist are dropped from everyone.
///
/// As in Kubernetes, a non-empty managedFields list sent by the client is taken as the starting
/// point (that is how clients such as kubectl migrate ownership), while an absent or empty list
/// keeps the stored one, so clients unaware of the field never strip it. Sending `[{}]` resets
/// tracking: the empty entry owns nothing and is dropped.
pub fn update_managed_fields(
    old: Option<&Value>,
    new: &mut Value,
    op: UpdateOp<'_>,
    shape: Shape<'_>,
) -> Result<(), ManagedFieldsError> {
    let sent_non_empty = new
        .pointer("/metadata/managedFields")
        .and_then(Value::as_array)
        .is_some_and(|a| !a.is_empty());
    let mut entries = if sent_non_empty {
        read_managed_fields(new)?
    } else {
        old.map(read_managed_fields).transpose()?.unwrap_or_default()
    };
    let old_s = old.map(strip_untracked);
    let new_s = strip_untracked(new);
    let changed = changed_fields(old_s.as_ref(), &new_s, shape);
    let me = ManagedFieldsEntry {
        manager: op.manager.to_string(),
        operation: "Update".into(),
        api_version: op.api_version.to_string(),
        time: Some(op.time.to_string()),
        subresource: op.subresource.to_string(),
        fields: FieldSet::default(),
    };
    let mut found = false;
    for e in entries.iter_mut() {
        if e.same_identity(&me) {
            found = true;
            if !changed.is_empty() {
                e.fields = e.fields.union(&changed);
                e.time = Some(op.time.to_string());
            }
        } else {
            e.fields = e.fields.difference(&changed);
        }
        e.fields.retain_existing(&new_s);
    }
    if !found && !changed.is_empty() {
        entries.push(ManagedFieldsEntry {
            fields: changed,
            ..me
        });
    }
    entries.retain(|e| !e.fields.is_empty());
    write_managed_fields(new, &mut entries);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_v1_roundtrip() {
        let cases = [
            json!({"f:data": {"f:key": {}}}),
            json!({"f:metadata": {"f:labels": {".": {}, "f:app": {}}}}),
            json!({"f:spec": {"f:containers": {"k:{\"name\":\"web\"}": {".": {}, "f:image": {}, "f:name": {}}}}}),
            json!({"f:metadata": {"f:finalizers": {"v:\"a\"": {}}}}),
        ];
        for c in cases {
            let fs = FieldSet::from_fields_v1(&c).unwrap_or_default();
            assert_eq!(fs.to_fields_v1(), c);
        }
        for bad in [json!([]), json!({"x:y": {}}), json!({"f:a": 3})] {
            assert!(FieldSet::from_fields_v1(&bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn set_algebra() {
        let parse = |v: Value| FieldSet::from_fields_v1(&v).unwrap_or_default();
        let a = parse(json!({"f:data": {".": {}, "f:a": {}, "f:b": {}}, "f:x": {}}));
        let b = parse(json!({"f:data": {"f:b": {}, "f:c": {}}}));
        let cases = [
            (
                a.union(&b),
                json!({"f:data": {".": {}, "f:a": {}, "f:b": {}, "f:c": {}}, "f:x": {}}),
            ),
            (
                a.difference(&b),
                json!({"f:data": {".": {}, "f:a": {}}, "f:x": {}}),
            ),
            (b.difference(&a), json!({"f:data": {"f:c": {}}})),
            (a.intersection(&b), json!({"f:data": {"f:b": {}}})),
            (a.difference(&a), json!({})),
        ];
        for (got, want) in cases {
            assert_eq!(got.to_fields_v1(), want);
        }
        assert!(a.difference(&a).is_empty());
        assert!(parse(json!({})).is_empty(), "an empty fieldsV1 owns nothing");
    }

    #[test]
    fn fields_of_applied_config() {
        let obj = json!({
            "metadata": {"labels": {"app": "web"}},
            "spec": {"replicas": 2, "template": {"spec": {"containers": [{"name": "web", "image": "nginx", "ports": [{"containerPort": 80}]}]}}}
        });
        let fs = fields_of(&obj, Shape::for_builtin("apps", "Deployment").field("x").shape);
        // Unknown shape: containers are atomic
        assert!(fs.contains(&[
            "f:spec".into(),
            "f:template".into(),
            "f:spec".into(),
            "f:containers".into()
        ]));
        let fs = fields_of(&obj, Shape::for_builtin("apps", "Deployment"));
        assert_eq!(
            fs.to_fields_v1(),
            json!({
                "f:metadata": {"f:labels": {"f:app": {}}},
                "f:spec": {"f:replicas": {}, "f:template": {"f:spec": {"f:containers": {"k:{\"name\":\"web\"}": {
                    ".": {}, "f:image": {}, "f:name": {},
                    "f:ports": {"k:{\"containerPort\":80,\"protocol\":\"TCP\"}": {".": {}, "f:containerPort": {}}}
                }}}}}
            })
        );
        let members: Vec<String> = fs.members().iter().map(|p| path_string(p)).collect();
        assert!(
            members.contains(&".spec.template.spec.containers[name=\"web\"].image".to_string()),
            "{members:?}"
        );
    }

    #[test]
    fn changed_fields_on_create_and_update() {
        let shape = Shape::for_builtin("", "ConfigMap");
        let created = json!({"metadata": {"labels": {"a": "1"}}, "data": {"k": "v"}});
        assert_eq!(
            changed_fields(None, &created, shape).to_fields_v1(),
            json!({"f:data": {".": {}, "f:k": {}}, "f:metadata": {"f:labels": {".": {}, "f:a": {}}}})
        );
        let updated = json!({"metadata": {"labels": {"a": "1"}}, "data": {"k": "v2", "n": "x"}});
        assert_eq!(
            changed_fields(Some(&created), &updated, shape).to_fields_v1(),
            json!({"f:data": {"f:k": {}, "f:n": {}}})
        );
        assert!(changed_fields(Some(&created), &created, shape).is_empty());
    }

    #[test]
    fn atomic_structs_and_maps_are_leaves() {
        let shape = Shape::for_builtin("apps", "Deployment");
        let d = json!({"spec": {"selector": {"matchLabels": {"app": "w"}}, "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1}},
            "template": {"spec": {"nodeSelector": {"disk": "ssd"}}}}});
        assert_eq!(
            changed_fields(None, &d, shape).to_fields_v1(),
            json!({"f:spec": {"f:selector": {}, "f:strategy": {"f:rollingUpdate": {".": {}, "f:maxSurge": {}}, "f:type": {}},
                "f:template": {"f:spec": {"f:nodeSelector": {}}}}})
        );
        assert_eq!(
            fields_of(&d, shape).to_fields_v1(),
            json!({"f:spec": {"f:selector": {}, "f:strategy": {"f:rollingUpdate": {"f:maxSurge": {}}, "f:type": {}},
                "f:template": {"f:spec": {"f:nodeSelector": {}}}}})
        );
    }

    #[test]
    fn update_moves_ownership_and_drops_removed_fields() {
        let shape = Shape::for_builtin("", "ConfigMap");
        let mut v1 = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"a": "1", "b": "2"}});
        let op = |m, t| UpdateOp {
            manager: m,
            api_version: "v1",
            subresource: "",
            time: t,
        };
        assert!(update_managed_fields(None, &mut v1, op("creator", "2026-01-01T00:00:00Z"), shape).is_ok());
        let mut v2 = v1.clone();
        v2["data"]["a"] = json!("changed");
        if let Some(d) = v2["data"].as_object_mut() {
            d.shift_remove("b");
        }
        assert!(
            update_managed_fields(Some(&v1), &mut v2, op("editor", "2026-01-01T00:01:00Z"), shape).is_ok()
        );
        let entries = read_managed_fields(&v2).unwrap_or_default();
        assert_eq!(entries.len(), 2);
        let creator = entries
            .iter()
            .find(|e| e.manager == "creator")
            .map(|e| e.fields.to_fields_v1());
        let editor = entries
            .iter()
            .find(|e| e.manager == "editor")
            .map(|e| e.fields.to_fields_v1());
        assert_eq!(creator, Some(json!({"f:data": {}})));
        assert_eq!(editor, Some(json!({"f:data": {"f:a": {}}})));
        // An unchanged update leaves managedFields alone.
        let mut v3 = v2.clone();
        assert!(
            update_managed_fields(Some(&v2), &mut v3, op("third", "2026-01-01T00:02:00Z"), shape).is_ok()
        );
        assert_eq!(v3["metadata"]["managedFields"], v2["metadata"]["managedFields"]);
        // An empty list keeps the stored entries; `[{}]` resets tracking.
        let mut v4 = v2.clone();
        v4["metadata"]["managedFields"] = json!([]);
        assert!(update_managed_fields(Some(&v2), &mut v4, op("third", "t"), shape).is_ok());
        assert_eq!(v4["metadata"]["managedFields"], v2["metadata"]["managedFields"]);
        let mut v5 = v2.clone();
        v5["metadata"]["managedFields"] = json!([{}]);
        assert!(update_managed_fields(Some(&v2), &mut v5, op("third", "t"), shape).is_ok());
        assert!(v5["metadata"].get("managedFields").is_none());
        // A client-supplied list (ownership migration) is taken as given.
        let mut v6 = v2.clone();
        v6["metadata"]["managedFields"] = json!([{"manager": "migrated", "operation": "Apply", "apiVersion": "v1",
            "fieldsType": "FieldsV1", "fieldsV1": {"f:data": {"f:a": {}}}}]);
        assert!(update_managed_fields(Some(&v2), &mut v6, op("third", "t"), shape).is_ok());
        let managers: Vec<String> = read_managed_fields(&v6)
            .unwrap_or_default()
            .into_iter()
            .map(|e| e.manager)
            .collect();
        assert_eq!(managers, vec!["migrated".to_string()]);
    }

    #[test]
    fn read_errors_and_user_agent() {
        let bad = [
            json!({"metadata": {"managedFields": {}}}),
            json!({"metadata": {"managedFields": [{"manager": "m"}]}}),
            json!({"metadata": {"managedFields": [{"manager": "m", "operation": "Delete"}]}}),
            json!({"metadata": {"managedFields": [{"manager": "m", "operation": "Apply", "fieldsType": "FieldsV2"}]}}),
            json!({"metadata": {"managedFields": [{"manager": "m", "operation": "Apply", "fieldsV1": {"bad": {}}}]}}),
        ];
        for b in bad {
            assert!(read_managed_fields(&b).is_err(), "{b}");
        }
        for (ua, want) in [
            ("kubectl/v1.33.1 (linux/amd64) kubernetes/abc", "kubectl"),
            ("OpenAPI-Generator/37.0.2/python", "OpenAPI-Generator"),
            ("", ""),
        ] {
            assert_eq!(manager_from_user_agent(ua), want);
        }
        assert_eq!(manager_from_user_agent(&"x".repeat(300)).len(), 128);
    }

    #[test]
    fn path_strings() {
        let cases: &[(&[&str], &str)] = &[
            (&["f:data", "f:key"], ".data.key"),
            (
                &[
                    "f:spec",
                    "f:ports",
                    "k:{\"port\":80,\"protocol\":\"TCP\"}",
                    "f:targetPort",
                ],
                ".spec.ports[port=80,protocol=\"TCP\"].targetPort",
            ),
            (
                &["f:metadata", "f:finalizers", "v:\"x\""],
                ".metadata.finalizers[=\"x\"]",
            ),
            (&["f:l", "i:3"], ".l[3]"),
        ];
        for (p, want) in cases {
            let p: Vec<String> = p.iter().map(|s| s.to_string()).collect();
            assert_eq!(path_string(&p), *want);
        }
    }
}
