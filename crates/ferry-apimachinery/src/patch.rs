//! The three non-apply PATCH content types:
//!
//! * [`json_merge_patch`] — RFC 7386 (`application/merge-patch+json`);
//! * [`json_patch`] — RFC 6902 (`application/json-patch+json`);
//! * [`strategic_merge_patch`] — Kubernetes' strategic merge patch
//!   (`application/strategic-merge-patch+json`), honouring `patchStrategy`/`patchMergeKey` of
//!   built-in types (see [`crate::typeinfo`]) and the directives `$patch: replace|delete|merge`,
//!   `$retainKeys`, `$setElementOrder/<field>` and `$deleteFromPrimitiveList/<field>`.
//!
//! Custom resources do not support strategic merge patch: check
//! [`crate::typeinfo::is_strategic_merge_capable`] and answer 415 when it is false.

use crate::typeinfo::{FieldShape, Shape};
use serde_json::{Map, Value};

/// The PATCH content types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatchType {
    /// `application/json-patch+json`
    Json,
    /// `application/merge-patch+json`
    Merge,
    /// `application/strategic-merge-patch+json`
    Strategic,
    /// `application/apply-patch+yaml` (server-side apply; body is YAML or JSON)
    Apply,
}

impl PatchType {
    /// Parses a `Content-Type` header value (parameters such as `; charset=utf-8` are ignored).
    /// `None` means 415 Unsupported Media Type.
    pub fn from_content_type(content_type: &str) -> Option<Self> {
        let media = content_type
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        match media.as_str() {
            "application/json-patch+json" => Some(Self::Json),
            "application/merge-patch+json" => Some(Self::Merge),
            "application/strategic-merge-patch+json" => Some(Self::Strategic),
            "application/apply-patch+yaml" => Some(Self::Apply),
            _ => None,
        }
    }

    /// The media type string.
    pub fn content_type(self) -> &'static str {
        match self {
            Self::Json => "application/json-patch+json",
            Self::Merge => "application/merge-patch+json",
            Self::Strategic => "application/strategic-merge-patch+json",
            Self::Apply => "application/apply-patch+yaml",
        }
    }
}

/// A patch that cannot be applied. `Malformed` is a 400 Bad Request; `Failed` (a JSON patch
/// operation that does not apply, or a failed `test`) and `Strategic` are 422 in kube-apiserver.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PatchError {
    /// The patch document itself is not well-formed.
    #[error("invalid patch: {0}")]
    Malformed(String),
    /// A JSON patch operation that does not apply to the object.
    #[error("{op} operation does not apply: {path}: {reason}")]
    Failed {
        /// `add`, `remove`, …
        op: String,
        /// The JSON pointer.
        path: String,
        /// Why.
        reason: String,
    },
    /// A strategic merge patch that does not fit the object's type.
    #[error("strategic merge patch: {path}: {reason}")]
    Strategic {
        /// Dotted path of the field at fault.
        path: String,
        /// Why.
        reason: String,
    },
}

// ---------------------------------------------------------------------------------------------
// RFC 7386

/// Applies an RFC 7386 JSON merge patch to `target` in place: objects merge recursively,
/// `null` deletes, anything else (including arrays) replaces.
pub fn json_merge_patch(target: &mut Value, patch: &Value) {
    let Value::Object(p) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    if let Value::Object(t) = target {
        for (k, v) in p {
            if v.is_null() {
                t.remove(k);
            } else {
                json_merge_patch(t.entry(k.clone()).or_insert(Value::Null), v);
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// RFC 6902

fn parse_pointer(p: &str) -> Result<Vec<String>, String> {
    if p.is_empty() {
        return Ok(Vec::new());
    }
    let Some(rest) = p.strip_prefix('/') else {
        return Err(format!("JSON pointer must start with '/': {p:?}"));
    };
    rest.split('/')
        .map(|t| {
            if t.contains('~') && !t.replace("~0", "").replace("~1", "").chars().all(|c| c != '~') {
                return Err(format!("invalid escape in JSON pointer {p:?}"));
            }
            Ok(t.replace("~1", "/").replace("~0", "~"))
        })
        .collect()
}

fn array_index(token: &str, len: usize, allow_end: bool) -> Result<usize, String> {
    if allow_end && token == "-" {
        return Ok(len);
    }
    if token.is_empty()
        || (token.len() > 1 && token.starts_with('0'))
        || !token.bytes().all(|b| b.is_ascii_digit())
    {
        return Err(format!("invalid array index {token:?}"));
    }
    let i: usize = token
        .parse()
        .map_err(|_| format!("invalid array index {token:?}"))?;
    let max = if allow_end { len } else { len.saturating_sub(1) };
    if i > max || (!allow_end && len == 0) {
        return Err(format!("array index {i} out of bounds (length {len})"));
    }
    Ok(i)
}

fn resolve_mut<'v>(doc: &'v mut Value, tokens: &[String]) -> Result<&'v mut Value, String> {
    let mut cur = doc;
    for t in tokens {
        cur = match cur {
            Value::Object(m) => m.get_mut(t).ok_or_else(|| format!("missing key {t:?}"))?,
            Value::Array(a) => {
                let i = array_index(t, a.len(), false)?;
                a.get_mut(i)
                    .ok_or_else(|| format!("array index {i} out of bounds"))?
            }
            _ => return Err(format!("cannot traverse into a scalar at {t:?}")),
        };
    }
    Ok(cur)
}

fn pointer_add(doc: &mut Value, tokens: &[String], value: Value) -> Result<(), String> {
    let Some((last, parent)) = tokens.split_last() else {
        *doc = value;
        return Ok(());
    };
    match resolve_mut(doc, parent)? {
        Value::Object(m) => {
            m.insert(last.clone(), value);
            Ok(())
        }
        Value::Array(a) => {
            let i = array_index(last, a.len(), true)?;
            a.insert(i, value);
            Ok(())
        }
        _ => Err("parent is not an object or array".into()),
    }
}

fn pointer_remove(doc: &mut Value, tokens: &[String]) -> Result<Value, String> {
    let Some((last, parent)) = tokens.split_last() else {
        return Err("cannot remove the whole document".into());
    };
    match resolve_mut(doc, parent)? {
        Value::Object(m) => m
            .shift_remove(last)
            .ok_or_else(|| format!("missing key {last:?}")),
        Value::Array(a) => {
            let i = array_index(last, a.len(), false)?;
            Ok(a.remove(i))
        }
        _ => Err("parent is not an object or array".into()),
    }
}

/// Applies an RFC 6902 JSON patch (an array of operations) to a copy of `target`.
/// All operations apply or none: the result is returned only on success.
pub fn json_patch(target: &Value, patch: &Value) -> Result<Value, PatchError> {
    let Value::Array(ops) = patch else {
        return Err(PatchError::Malformed(
            "a JSON patch must be a JSON array of operations".into(),
        ));
    };
    let mut doc = target.clone();
    for (i, op) in ops.iter().enumerate() {
        let Some(name) = op.get("op").and_then(Value::as_str) else {
            return Err(PatchError::Malformed(format!("operation {i}: missing \"op\"")));
        };
        let Some(path) = op.get("path").and_then(Value::as_str) else {
            return Err(PatchError::Malformed(format!(
                "operation {i} ({name}): missing \"path\""
            )));
        };
        let tokens = parse_pointer(path).map_err(PatchError::Malformed)?;
        let fail = |reason: String| PatchError::Failed {
            op: name.to_string(),
            path: path.to_string(),
            reason,
        };
        let value = || {
            op.get("value").cloned().ok_or_else(|| {
                PatchError::Malformed(format!("operation {i} ({name} {path}): missing \"value\""))
            })
        };
        let from = || -> Result<(String, Vec<String>), PatchError> {
            let f = op.get("from").and_then(Value::as_str).ok_or_else(|| {
                PatchError::Malformed(format!("operation {i} ({name} {path}): missing \"from\""))
            })?;
            Ok((f.to_string(), parse_pointer(f).map_err(PatchError::Malformed)?))
        };
        match name {
            "add" => pointer_add(&mut doc, &tokens, value()?).map_err(fail)?,
            "remove" => {
                pointer_remove(&mut doc, &tokens).map_err(fail)?;
            }
            "replace" => {
                let v = value()?;
                *resolve_mut(&mut doc, &tokens).map_err(fail)? = v;
            }
            "move" => {
                let (from_str, from_tokens) = from()?;
                if tokens.len() > from_tokens.len() && tokens.starts_with(&from_tokens) {
                    return Err(fail(format!("cannot move {from_str:?} into its own child")));
                }
                let v = pointer_remove(&mut doc, &from_tokens)
                    .map_err(|e| fail(format!("from {from_str:?}: {e}")))?;
                pointer_add(&mut doc, &tokens, v).map_err(fail)?;
            }
            "copy" => {
                let (from_str, from_tokens) = from()?;
                let v = resolve_mut(&mut doc, &from_tokens)
                    .map_err(|e| fail(format!("from {from_str:?}: {e}")))?
                    .clone();
                pointer_add(&mut doc, &tokens, v).map_err(fail)?;
            }
            "test" => {
                let want = value()?;
                let got = resolve_mut(&mut doc, &tokens).map_err(fail)?;
                if !json_equal(got, &want) {
                    return Err(fail(format!("test failed: value is {got}, expected {want}")));
                }
            }
            other => {
                return Err(PatchError::Malformed(format!(
                    "operation {i}: unknown op {other:?}"
                )));
            }
        }
    }
    Ok(doc)
}

/// JSON equality where `1` and `1.0` are equal (as numbers compare in JSON).
fn json_equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => {
            x == y || x.as_f64().zip(y.as_f64()).is_some_and(|(x, y)| x == y)
        }
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(x, y)| json_equal(x, y))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| json_equal(v, w)))
        }
        _ => a == b,
    }
}

// ---------------------------------------------------------------------------------------------
// Strategic merge patch

const DIRECTIVE: &str = "$patch";
const RETAIN_KEYS: &str = "$retainKeys";
const SET_ELEMENT_ORDER: &str = "$setElementOrder/";
const DELETE_FROM_PRIMITIVE_LIST: &str = "$deleteFromPrimitiveList/";

fn join(path: &str, field: &str) -> String {
    if path.is_empty() {
        field.to_string()
    } else {
        format!("{path}.{field}")
    }
}

fn serr(path: &str, reason: impl Into<String>) -> PatchError {
    PatchError::Strategic {
        path: if path.is_empty() {
            "<root>".into()
        } else {
            path.to_string()
        },
        reason: reason.into(),
    }
}

/// Applies a strategic merge patch to `original` (an object of the kind `shape` describes, e.g.
/// `Shape::for_builtin("apps", "Deployment")`) and returns the patched object.
pub fn strategic_merge_patch(original: &Value, patch: &Value, shape: Shape<'_>) -> Result<Value, PatchError> {
    let Value::Object(p) = patch else {
        return Err(PatchError::Malformed(
            "a strategic merge patch must be a JSON object".into(),
        ));
    };
    let orig = match original {
        Value::Object(o) => o.clone(),
        Value::Null => Map::new(),
        _ => return Err(serr("", "the object being patched is not a JSON object")),
    };
    Ok(merge_map(orig, p, shape, "")?
        .map(Value::Object)
        .unwrap_or(Value::Object(Map::new())))
}

/// Merges patch map `patch` into `orig`; `None` means the map was deleted (`$patch: delete`).
fn merge_map(
    mut orig: Map<String, Value>,
    patch: &Map<String, Value>,
    shape: Shape<'_>,
    path: &str,
) -> Result<Option<Map<String, Value>>, PatchError> {
    match patch.get(DIRECTIVE) {
        None => {}
        Some(Value::String(d)) if d == "merge" => {}
        Some(Value::String(d)) if d == "delete" => return Ok(None),
        Some(Value::String(d)) if d == "replace" => {
            let mut rest = patch.clone();
            rest.shift_remove(DIRECTIVE);
            return merge_map(Map::new(), &rest, shape, path);
        }
        Some(other) => {
            return Err(serr(
                path,
                format!("unknown patch directive {DIRECTIVE}: {other}"),
            ));
        }
    }
    let retain_keys = match patch.get(RETAIN_KEYS) {
        None => None,
        Some(Value::Array(keys)) => Some(
            keys.iter()
                .map(|k| k.as_str().map(str::to_string))
                .collect::<Option<Vec<_>>>()
                .ok_or_else(|| serr(path, format!("{RETAIN_KEYS} must be a list of strings")))?,
        ),
        Some(_) => return Err(serr(path, format!("{RETAIN_KEYS} must be a list of strings"))),
    };
    let mut orders: Vec<(&str, &Value)> = Vec::new();
    let mut deletions: Vec<(&str, &Value)> = Vec::new();
    let is_map = shape.is_map();
    // `$setElementOrder` interleaves server-only items by their original positions.
    let server_order: Vec<(String, Vec<Value>)> = patch
        .keys()
        .filter_map(|k| k.strip_prefix(SET_ELEMENT_ORDER))
        .filter_map(|f| match orig.get(f) {
            Some(Value::Array(l)) => Some((f.to_string(), l.clone())),
            _ => None,
        })
        .collect();
    for (k, v) in patch {
        if k == DIRECTIVE || k == RETAIN_KEYS {
            continue;
        }
        if let Some(field) = k.strip_prefix(SET_ELEMENT_ORDER) {
            orders.push((field, v));
            continue;
        }
        if let Some(field) = k.strip_prefix(DELETE_FROM_PRIMITIVE_LIST) {
            deletions.push((field, v));
            continue;
        }
        let fpath = join(path, k);
        if v.is_null() {
            orig.shift_remove(k);
            continue;
        }
        let field = if is_map {
            FieldShape {
                shape: Shape::Unknown,
                list_type: crate::typeinfo::ListType::Atomic,
                patch_strategy: "",
                merge_key: "",
            }
        } else {
            shape.field(k)
        };
        let current = orig.shift_remove(k);
        let merged = match (current, v) {
            (Some(Value::Object(o)), Value::Object(pm)) => {
                merge_map(o, pm, field.shape, &fpath)?.map(Value::Object)
            }
            (Some(Value::Array(o)), Value::Array(pl)) => {
                Some(Value::Array(merge_list(o, pl, &field, &fpath)?))
            }
            (_, Value::Object(pm)) => merge_map(Map::new(), pm, field.shape, &fpath)?.map(Value::Object),
            (_, Value::Array(pl)) => Some(Value::Array(merge_list(Vec::new(), pl, &field, &fpath)?)),
            (_, scalar) => Some(scalar.clone()),
        };
        if let Some(m) = merged {
            orig.insert(k.clone(), m);
        }
    }
    for (field, values) in deletions {
        let Value::Array(del) = values else {
            return Err(serr(
                &join(path, field),
                format!("{DELETE_FROM_PRIMITIVE_LIST}{field} must be a list"),
            ));
        };
        if let Some(Value::Array(list)) = orig.get_mut(field) {
            list.retain(|x| !del.contains(x));
        }
    }
    for (field, order) in orders {
        let Value::Array(order) = order else {
            return Err(serr(
                &join(path, field),
                format!("{SET_ELEMENT_ORDER}{field} must be a list"),
            ));
        };
        let merge_key = if is_map { "" } else { shape.field(field).merge_key };
        let server = server_order
            .iter()
            .find(|(f, _)| f == field)
            .map(|(_, l)| l.as_slice())
            .unwrap_or(&[]);
        if let Some(Value::Array(list)) = orig.get_mut(field) {
            reorder(list, order, server, merge_key);
        }
    }
    if let Some(keep) = retain_keys {
        orig.retain(|k, _| keep.iter().any(|x| x == k));
    }
    Ok(Some(orig))
}

/// Orders a merged list as Kubernetes does for `$setElementOrder`: items named in `order` are
/// sorted by it; the remaining (server-only) items keep their original relative order and are
/// interleaved by their positions in the original list `server`.
fn reorder(list: &mut Vec<Value>, order: &[Value], server: &[Value], merge_key: &str) {
    let ident = |v: &Value| -> Value {
        if merge_key.is_empty() {
            v.clone()
        } else {
            v.get(merge_key).cloned().unwrap_or(Value::Null)
        }
    };
    let server_index = |v: &Value| server.iter().position(|s| ident(s) == ident(v));
    let mut rest = std::mem::take(list);
    let mut ordered = Vec::new();
    for o in order {
        let want = ident(o);
        if let Some(pos) = rest.iter().position(|x| ident(x) == want) {
            ordered.push(rest.remove(pos));
        }
    }
    // `rest` now holds server-only items (in their merged order); merge the two sorted runs.
    let (mut left, mut right) = (rest.into_iter().peekable(), ordered.into_iter().peekable());
    loop {
        let take_left = match (left.peek(), right.peek()) {
            (None, None) => break,
            (Some(_), None) => true,
            (None, Some(_)) => false,
            (Some(l), Some(r)) => {
                matches!((server_index(l), server_index(r)), (Some(li), Some(ri)) if li < ri)
            }
        };
        let next = if take_left { left.next() } else { right.next() };
        list.extend(next);
    }
}

fn merge_list(
    orig: Vec<Value>,
    patch: &[Value],
    field: &FieldShape<'_>,
    path: &str,
) -> Result<Vec<Value>, PatchError> {
    if !field.patch_strategy.split(',').any(|s| s == "merge") {
        // Replace semantics: the patch list is the new value (directives inside elements still processed).
        return patch
            .iter()
            .enumerate()
            .map(|(i, v)| fresh(v, field, &format!("{path}[{i}]")))
            .filter_map(Result::transpose)
            .collect();
    }
    // A lone `{"$patch": "replace"}` element means: replace the whole list with the other elements.
    let replace_all = patch.iter().any(|e| {
        e.get(DIRECTIVE).and_then(Value::as_str) == Some("replace")
            && e.as_object().is_some_and(|m| m.len() == 1)
    });
    if replace_all {
        let rest: Vec<Value> = patch
            .iter()
            .filter(|e| e.get(DIRECTIVE).is_none())
            .cloned()
            .collect();
        return merge_list(Vec::new(), &rest, field, path);
    }
    let mut out = orig;
    if field.merge_key.is_empty() {
        // A set of primitives: union, original order first.
        for v in patch {
            if v.is_object() {
                return Err(serr(
                    path,
                    "list of objects with patch strategy merge needs a patchMergeKey",
                ));
            }
            if !out.contains(v) {
                out.push(v.clone());
            }
        }
        return Ok(out);
    }
    let key = field.merge_key;
    for (i, elem) in patch.iter().enumerate() {
        let epath = format!("{path}[{i}]");
        let Value::Object(em) = elem else {
            return Err(serr(
                &epath,
                format!("list element must be an object with merge key {key:?}, got {elem}"),
            ));
        };
        let Some(kv) = em.get(key) else {
            return Err(serr(
                &epath,
                format!("map: {elem} does not contain declared merge key: {key}"),
            ));
        };
        let pos = out.iter().position(|o| o.get(key) == Some(kv));
        if em.get(DIRECTIVE).and_then(Value::as_str) == Some("delete") {
            out.retain(|o| o.get(key) != Some(kv));
            continue;
        }
        match pos {
            Some(p) => {
                let base = match out.get(p) {
                    Some(Value::Object(m)) => m.clone(),
                    _ => Map::new(),
                };
                match merge_map(base, em, field.shape, &epath)? {
                    Some(m) => {
                        if let Some(slot) = out.get_mut(p) {
                            *slot = Value::Object(m);
                        }
                    }
                    None => {
                        out.remove(p);
                    }
                }
            }
            None => {
                if let Some(m) = merge_map(Map::new(), em, field.shape, &epath)? {
                    out.push(Value::Object(m));
                }
            }
        }
    }
    Ok(out)
}

/// A patch value placed where nothing was: directives and nulls inside it are processed.
fn fresh(v: &Value, field: &FieldShape<'_>, path: &str) -> Result<Option<Value>, PatchError> {
    Ok(match v {
        Value::Object(m) => merge_map(Map::new(), m, field.shape, path)?.map(Value::Object),
        other => Some(other.clone()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn content_types() {
        let cases = [
            ("application/json-patch+json", Some(PatchType::Json)),
            (
                "application/merge-patch+json; charset=utf-8",
                Some(PatchType::Merge),
            ),
            (
                "application/strategic-merge-patch+json",
                Some(PatchType::Strategic),
            ),
            ("application/apply-patch+yaml", Some(PatchType::Apply)),
            ("application/json", None),
            ("", None),
        ];
        for (ct, want) in cases {
            assert_eq!(PatchType::from_content_type(ct), want, "{ct}");
        }
    }

    #[test]
    fn merge_patch_rfc7386_examples() {
        // Cases from RFC 7386 appendix A.
        let cases = [
            (json!({"a": "b"}), json!({"a": "c"}), json!({"a": "c"})),
            (json!({"a": "b"}), json!({"b": "c"}), json!({"a": "b", "b": "c"})),
            (json!({"a": "b"}), json!({"a": null}), json!({})),
            (json!({"a": "b", "b": "c"}), json!({"a": null}), json!({"b": "c"})),
            (json!({"a": ["b"]}), json!({"a": "c"}), json!({"a": "c"})),
            (json!({"a": "c"}), json!({"a": ["b"]}), json!({"a": ["b"]})),
            (
                json!({"a": {"b": "c"}}),
                json!({"a": {"b": "d", "c": null}}),
                json!({"a": {"b": "d"}}),
            ),
            (json!({"a": [{"b": "c"}]}), json!({"a": [1]}), json!({"a": [1]})),
            (json!(["a", "b"]), json!(["c", "d"]), json!(["c", "d"])),
            (json!({"a": "b"}), json!(["c"]), json!(["c"])),
            (json!({"a": "foo"}), json!(null), json!(null)),
            (json!({"e": null}), json!({"a": 1}), json!({"e": null, "a": 1})),
            (json!([1, 2]), json!({"a": "b", "c": null}), json!({"a": "b"})),
            (
                json!({}),
                json!({"a": {"bb": {"ccc": null}}}),
                json!({"a": {"bb": {}}}),
            ),
        ];
        for (mut target, patch, want) in cases {
            json_merge_patch(&mut target, &patch);
            assert_eq!(target, want, "patch {patch}");
        }
    }

    #[test]
    fn json_patch_ops() {
        let doc = json!({"metadata": {"name": "x", "labels": {"a/b": "1"}}, "spec": {"list": [1, 2, 3]}});
        let cases = [
            (
                json!([{"op": "add", "path": "/spec/new", "value": 5}]),
                json!(5),
                "/spec/new",
            ),
            (
                json!([{"op": "add", "path": "/spec/list/-", "value": 4}]),
                json!([1, 2, 3, 4]),
                "/spec/list",
            ),
            (
                json!([{"op": "add", "path": "/spec/list/0", "value": 0}]),
                json!([0, 1, 2, 3]),
                "/spec/list",
            ),
            (
                json!([{"op": "remove", "path": "/spec/list/1"}]),
                json!([1, 3]),
                "/spec/list",
            ),
            (
                json!([{"op": "replace", "path": "/metadata/name", "value": "y"}]),
                json!("y"),
                "/metadata/name",
            ),
            (
                json!([{"op": "remove", "path": "/metadata/labels/a~1b"}]),
                json!({}),
                "/metadata/labels",
            ),
            (
                json!([{"op": "copy", "from": "/metadata/name", "path": "/spec/copied"}]),
                json!("x"),
                "/spec/copied",
            ),
            (
                json!([{"op": "move", "from": "/spec/list", "path": "/moved"}]),
                json!([1, 2, 3]),
                "/moved",
            ),
            (
                json!([{"op": "test", "path": "/spec/list/0", "value": 1.0}, {"op": "add", "path": "/t", "value": true}]),
                json!(true),
                "/t",
            ),
        ];
        for (patch, want, at) in cases {
            let got = json_patch(&doc, &patch).unwrap_or_else(|e| panic!("{patch}: {e}"));
            assert_eq!(got.pointer(at), Some(&want), "{patch}");
        }
    }

    #[test]
    fn json_patch_errors() {
        let doc = json!({"a": {"b": 1}, "l": [1]});
        let bad = [
            (json!({"op": "add"}), "invalid patch"),
            (json!([{"path": "/a"}]), "invalid patch"),
            (json!([{"op": "add", "path": "/a/c"}]), "invalid patch"),
            (json!([{"op": "jump", "path": "/a"}]), "invalid patch"),
            (json!([{"op": "add", "path": "a", "value": 1}]), "invalid patch"),
            (
                json!([{"op": "remove", "path": "/a/zz"}]),
                "remove operation does not apply: /a/zz",
            ),
            (
                json!([{"op": "replace", "path": "/x/y", "value": 1}]),
                "replace operation does not apply",
            ),
            (
                json!([{"op": "add", "path": "/l/5", "value": 1}]),
                "add operation does not apply",
            ),
            (
                json!([{"op": "add", "path": "/l/01", "value": 1}]),
                "add operation does not apply",
            ),
            (json!([{"op": "test", "path": "/a/b", "value": 2}]), "test failed"),
            (
                json!([{"op": "move", "from": "/a", "path": "/a/b/c"}]),
                "own child",
            ),
        ];
        for (patch, want) in bad {
            let err = json_patch(&doc, &patch)
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default();
            assert!(err.contains(want), "{patch}: got {err:?}");
        }
    }

    fn deploy() -> Value {
        json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "d", "labels": {"app": "web", "old": "x"}, "finalizers": ["a"]},
            "spec": {
                "replicas": 1,
                "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%"}},
                "template": {"spec": {
                    "containers": [
                        {"name": "web", "image": "nginx:1", "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}],
                         "ports": [{"containerPort": 80}], "args": ["x"]},
                        {"name": "side", "image": "busybox"}
                    ],
                    "tolerations": [{"key": "k1"}],
                    "volumes": [{"name": "v", "emptyDir": {}}]
                }}
            }
        })
    }

    fn smp(patch: Value) -> Result<Value, PatchError> {
        strategic_merge_patch(&deploy(), &patch, Shape::for_builtin("apps", "Deployment"))
    }

    #[test]
    fn strategic_merge_cases() {
        let cases: Vec<(Value, &str, Value)> = vec![
            // containers merge by name: only the image of "web" changes, "side" stays
            (
                json!({"spec": {"template": {"spec": {"containers": [{"name": "web", "image": "nginx:2"}]}}}}),
                "/spec/template/spec/containers",
                json!([{"name": "web", "image": "nginx:2", "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}], "ports": [{"containerPort": 80}], "args": ["x"]}, {"name": "side", "image": "busybox"}]),
            ),
            // env merges by name, new entries appended, null deletes a field
            (
                json!({"spec": {"template": {"spec": {"containers": [{"name": "web", "env": [{"name": "B", "value": null, "valueFrom": {"fieldRef": {"fieldPath": "x"}}}, {"name": "C", "value": "3"}]}]}}}}),
                "/spec/template/spec/containers/0/env",
                json!([{"name": "A", "value": "1"}, {"name": "B", "valueFrom": {"fieldRef": {"fieldPath": "x"}}}, {"name": "C", "value": "3"}]),
            ),
            // $patch: delete removes a list element
            (
                json!({"spec": {"template": {"spec": {"containers": [{"name": "side", "$patch": "delete"}]}}}}),
                "/spec/template/spec/containers/1",
                Value::Null,
            ),
            // list-level $patch: replace
            (
                json!({"spec": {"template": {"spec": {"containers": [{"$patch": "replace"}, {"name": "only", "image": "i"}]}}}}),
                "/spec/template/spec/containers",
                json!([{"name": "only", "image": "i"}]),
            ),
            // tolerations have no strategy: replaced
            (
                json!({"spec": {"template": {"spec": {"tolerations": [{"key": "k2"}]}}}}),
                "/spec/template/spec/tolerations",
                json!([{"key": "k2"}]),
            ),
            // args are atomic
            (
                json!({"spec": {"template": {"spec": {"containers": [{"name": "web", "args": ["y"]}]}}}}),
                "/spec/template/spec/containers/0/args",
                json!(["y"]),
            ),
            // finalizers merge as a set
            (
                json!({"metadata": {"finalizers": ["b", "a"]}}),
                "/metadata/finalizers",
                json!(["a", "b"]),
            ),
            // $deleteFromPrimitiveList
            (
                json!({"metadata": {"$deleteFromPrimitiveList/finalizers": ["a"]}}),
                "/metadata/finalizers",
                json!([]),
            ),
            // map $patch: replace
            (
                json!({"metadata": {"labels": {"$patch": "replace", "fresh": "1"}}}),
                "/metadata/labels",
                json!({"fresh": "1"}),
            ),
            // null deletes a label
            (
                json!({"metadata": {"labels": {"old": null}}}),
                "/metadata/labels",
                json!({"app": "web"}),
            ),
            // $retainKeys on the strategy (kubectl sends this when switching to Recreate)
            (
                json!({"spec": {"strategy": {"$retainKeys": ["type"], "type": "Recreate", "rollingUpdate": null}}}),
                "/spec/strategy",
                json!({"type": "Recreate"}),
            ),
            // $setElementOrder puts side first
            (
                json!({"spec": {"template": {"spec": {"$setElementOrder/containers": [{"name": "side"}, {"name": "web"}], "containers": [{"name": "web", "image": "nginx:3"}]}}}}),
                "/spec/template/spec/containers/0/name",
                json!("side"),
            ),
            // $setElementOrder: server-only "side" is compared by original position; "new" has none, so it goes first (as upstream)
            (
                json!({"spec": {"template": {"spec": {
                    "$setElementOrder/containers": [{"name": "web"}, {"name": "new"}],
                    "containers": [{"name": "new", "image": "n"}]}}}}),
                "/spec/template/spec/containers",
                json!([
                    {"name": "web", "image": "nginx:1", "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}],
                     "ports": [{"containerPort": 80}], "args": ["x"]},
                    {"name": "new", "image": "n"},
                    {"name": "side", "image": "busybox"}
                ]),
            ),
            // $setElementOrder reorders patch items; server-only "side" stays between them by its original index
            (
                json!({"spec": {"template": {"spec": {"$setElementOrder/containers": [{"name": "web"}], "containers": [{"name": "web", "image": "nginx:4"}]}}}}),
                "/spec/template/spec/containers/1/name",
                json!("side"),
            ),
            // map $patch: delete removes the whole map
            (
                json!({"spec": {"strategy": {"$patch": "delete"}}}),
                "/spec/strategy",
                Value::Null,
            ),
            // new key with nested directives/nulls: processed, not copied
            (
                json!({"spec": {"paused": true, "extra": {"a": null, "b": 1}}}),
                "/spec/extra",
                json!({"b": 1}),
            ),
        ];
        for (patch, at, want) in cases {
            let got = smp(patch.clone()).unwrap_or_else(|e| panic!("{patch}: {e}"));
            assert_eq!(
                got.pointer(at).cloned().unwrap_or(Value::Null),
                want,
                "patch {patch}"
            );
        }
    }

    #[test]
    fn strategic_merge_errors_name_the_path() {
        let cases = [
            (
                json!({"spec": {"template": {"spec": {"containers": [{"image": "x"}]}}}}),
                "spec.template.spec.containers[0]: map: {\"image\":\"x\"} does not contain declared merge key: name",
            ),
            (
                json!({"spec": {"template": {"spec": {"containers": ["x"]}}}}),
                "spec.template.spec.containers[0]: list element must be an object",
            ),
            (
                json!({"metadata": {"$patch": "explode"}}),
                "metadata: unknown patch directive",
            ),
            (
                json!({"metadata": {"$retainKeys": "x"}}),
                "metadata: $retainKeys must be a list",
            ),
            (
                json!({"metadata": {"finalizers": [{"a": 1}]}}),
                "metadata.finalizers: list of objects",
            ),
        ];
        for (patch, want) in cases {
            let err = smp(patch.clone())
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default();
            assert!(err.contains(want), "{patch}: got {err:?}");
        }
        assert!(matches!(smp(json!([1])), Err(PatchError::Malformed(_))));
    }

    #[test]
    fn strategic_merge_on_service_ports_and_configmap() {
        let svc = json!({"spec": {"ports": [{"port": 80, "targetPort": 8080}, {"port": 443}]}});
        let got = strategic_merge_patch(
            &svc,
            &json!({"spec": {"ports": [{"port": 80, "targetPort": 9090}]}}),
            Shape::for_builtin("", "Service"),
        );
        assert_eq!(
            got.ok().and_then(|v| v.pointer("/spec/ports").cloned()),
            Some(json!([{"port": 80, "targetPort": 9090}, {"port": 443}]))
        );
        let cm = json!({"data": {"a": "1"}});
        let got = strategic_merge_patch(
            &cm,
            &json!({"data": {"b": "2"}}),
            Shape::for_builtin("", "ConfigMap"),
        );
        assert_eq!(got.ok(), Some(json!({"data": {"a": "1", "b": "2"}})));
    }
}
