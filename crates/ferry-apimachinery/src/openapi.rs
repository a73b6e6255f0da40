//! OpenAPI v3 documents as kube-apiserver serves them under `/openapi/v3`: an index and one
//! document per group-version, good enough for kubectl 1.33 (`apply` with server-side field
//! validation, `explain` for custom resources).
//!
//! Input is a list of [`ResourceDescription`]s (one per served resource and version); output
//! is an [`OpenApiV3`] with the index JSON and every per-GV document keyed by its path
//! (`api/v1`, `apis/apps/v1`). Rebuild it when the set of resources changes (a CRD is
//! created/updated/deleted).
//!
//! What kubectl checks: a PATCH operation carrying `x-kubernetes-group-version-kind` and a
//! `fieldValidation` query parameter (then it sends `fieldValidation=Strict`), and a kind schema
//! in `components.schemas` with `x-kubernetes-group-version-kind` (for `explain`). Built-in
//! kinds get their full upstream schemas from [`crate::builtin_schema`] (descriptions, `$ref`s,
//! patch and list extensions), so `kubectl explain pod.spec.containers` works as on a real
//! cluster; custom resources get their CRD's `openAPIV3Schema`.
//!
//! Documents are large (core/v1 is a few MiB): a server builds each lazily and keeps it, keyed
//! by [`inputs_hash`], which changes whenever the resources of a group-version change, without
//! building the document ([`build_index`] needs only those hashes).

use serde_json::{Map, Value, json};
use std::collections::BTreeMap;

use crate::builtin_schema::builtin_schemas;

/// The Kubernetes version Ferry reports in `/version` and in OpenAPI `info.version`.
pub const KUBERNETES_VERSION: &str = "v1.33.0";

/// One served resource in one version.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ResourceDescription {
    /// API group (`""` for core).
    pub group: String,
    /// Version (`v1`, `v1alpha1`).
    pub version: String,
    /// Kind (`ConfigMap`, `CloneSet`).
    pub kind: String,
    /// Lower-case plural resource name (`configmaps`, `clonesets`).
    pub plural: String,
    /// Lower-case singular name (`configmap`).
    pub singular: String,
    /// Namespaced or cluster-scoped.
    pub namespaced: bool,
    /// Verbs (`get`, `list`, `watch`, `create`, `update`, `patch`, `delete`, `deletecollection`).
    pub verbs: Vec<String>,
    /// Short names (`cm`, `clone`).
    pub short_names: Vec<String>,
    /// Categories (`all`).
    pub categories: Vec<String>,
    /// Subresources served (`status`, `scale`).
    pub subresources: Vec<String>,
    /// The structural schema (a CRD version's `openAPIV3Schema`); `None` for a minimal
    /// built-in schema (apiVersion, kind, metadata, and free-form spec/status).
    pub schema: Option<Value>,
    /// Whether this is a built-in (compiled-in) kind rather than a custom resource.
    pub builtin: bool,
}

impl ResourceDescription {
    /// `v1` or `apps/v1`.
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.clone()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    /// The OpenAPI path key of the group-version: `api/v1` or `apis/apps/v1`.
    pub fn gv_path(&self) -> String {
        gv_path(&self.group, &self.version)
    }

    /// The schema name in `components.schemas`: `io.k8s.api.core.v1.ConfigMap` for built-ins,
    /// reversed group for custom resources (`io.kruise.apps.v1alpha1.CloneSet`).
    pub fn schema_name(&self) -> String {
        schema_prefix(&self.group, &self.version, self.builtin) + "." + &self.kind
    }

    fn has_verb(&self, v: &str) -> bool {
        self.verbs.iter().any(|x| x == v)
    }
}

/// `api/v1` or `apis/<group>/<version>`.
pub fn gv_path(group: &str, version: &str) -> String {
    if group.is_empty() {
        format!("api/{version}")
    } else {
        format!("apis/{group}/{version}")
    }
}

fn schema_prefix(group: &str, version: &str, builtin: bool) -> String {
    if builtin {
        let g = match group {
            "" => "core".to_string(),
            g => g.strip_suffix(".k8s.io").unwrap_or(g).to_string(),
        };
        if group == "apiextensions.k8s.io" {
            return format!("io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.{version}");
        }
        return format!("io.k8s.api.{g}.{version}");
    }
    let mut parts: Vec<&str> = group.split('.').collect();
    parts.reverse();
    format!("{}.{version}", parts.join("."))
}

/// The index plus per-group-version documents.
#[derive(Debug, Clone, PartialEq)]
pub struct OpenApiV3 {
    /// `GET /openapi/v3` body.
    pub index: Value,
    /// `GET /openapi/v3/<key>` bodies, keyed by `api/v1`, `apis/apps/v1`, ….
    pub documents: BTreeMap<String, Value>,
}

/// A stable hash of what a group-version document is built from (the resources' descriptions,
/// the Kubernetes version and Ferry's version), for the index's `?hash=` and ETags; computing
/// it does not build the document.
pub fn inputs_hash(resources: &[&ResourceDescription]) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut feed = |text: &str| {
        for b in text.bytes() {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
    };
    feed(KUBERNETES_VERSION);
    feed(env!("CARGO_PKG_VERSION"));
    for r in resources {
        feed(&format!("{r:?}"));
    }
    format!("{h:016X}")
}

/// Groups resources by their OpenAPI path key (`api/v1`, `apis/apps/v1`).
pub fn by_group_version(resources: &[ResourceDescription]) -> BTreeMap<String, Vec<&ResourceDescription>> {
    let mut by_gv: BTreeMap<String, Vec<&ResourceDescription>> = BTreeMap::new();
    for r in resources {
        by_gv.entry(r.gv_path()).or_default().push(r);
    }
    by_gv
}

/// The `/openapi/v3` index from (path key, hash) pairs.
pub fn build_index<'a>(hashes: impl IntoIterator<Item = (&'a str, &'a str)>) -> Value {
    let mut paths = Map::new();
    for (key, hash) in hashes {
        paths.insert(
            key.to_string(),
            json!({"serverRelativeURL": format!("/openapi/v3/{key}?hash={hash}")}),
        );
    }
    json!({"paths": paths})
}

/// Builds the index and every per-group-version document of `resources` (eagerly; a server
/// should rather build documents on demand, see [`inputs_hash`]).
pub fn build_openapi_v3(resources: &[ResourceDescription]) -> OpenApiV3 {
    let by_gv = by_group_version(resources);
    let hashes: Vec<(String, String)> = by_gv
        .iter()
        .map(|(key, rs)| (key.clone(), inputs_hash(rs)))
        .collect();
    let documents = by_gv
        .iter()
        .map(|(key, rs)| (key.clone(), group_version_document(rs)))
        .collect();
    OpenApiV3 {
        index: build_index(hashes.iter().map(|(k, h)| (k.as_str(), h.as_str()))),
        documents,
    }
}

const META: &str = "io.k8s.apimachinery.pkg.apis.meta.v1";

fn meta_ref(name: &str) -> Value {
    json!({"$ref": format!("#/components/schemas/{META}.{name}")})
}

fn query_param(name: &str, description: &str) -> Value {
    json!({"name": name, "in": "query", "description": description, "schema": {"type": "string", "uniqueItems": true}})
}

fn path_param(name: &str, description: &str) -> Value {
    json!({"name": name, "in": "path", "description": description, "required": true, "schema": {"type": "string", "uniqueItems": true}})
}

fn gvk_ext(r: &ResourceDescription, kind: &str) -> Value {
    json!({"group": r.group, "version": r.version, "kind": kind})
}

fn json_content(schema: Value) -> Value {
    json!({"application/json": {"schema": schema.clone()}, "application/yaml": {"schema": schema}})
}

fn operation(
    r: &ResourceDescription,
    action: &str,
    op_id: &str,
    description: &str,
    params: Vec<Value>,
    body: Option<Value>,
    response: Value,
) -> Value {
    let mut op = Map::new();
    op.insert("tags".into(), json!([tag(r)]));
    op.insert("description".into(), json!(description));
    op.insert("operationId".into(), json!(op_id));
    if !params.is_empty() {
        op.insert("parameters".into(), Value::Array(params));
    }
    if let Some(b) = body {
        op.insert("requestBody".into(), json!({"content": b, "required": true}));
    }
    op.insert("responses".into(), json!({"200": {"description": "OK", "content": json_content(response)}, "401": {"description": "Unauthorized"}}));
    op.insert("x-kubernetes-action".into(), json!(action));
    op.insert("x-kubernetes-group-version-kind".into(), gvk_ext(r, &r.kind));
    Value::Object(op)
}

fn tag(r: &ResourceDescription) -> String {
    let g = if r.group.is_empty() {
        "core".to_string()
    } else {
        r.group.replace('.', "")
    };
    format!("{g}_{}", r.version)
}

fn write_params() -> Vec<Value> {
    vec![
        query_param(
            "dryRun",
            "When present, indicates that modifications should not be persisted. Valid values: All",
        ),
        query_param(
            "fieldManager",
            "fieldManager is a name associated with the actor or entity that is making these changes.",
        ),
        query_param(
            "fieldValidation",
            "fieldValidation instructs the server on how to handle objects in the request containing unknown or duplicate fields. Valid values: Ignore, Warn (default), Strict",
        ),
    ]
}

fn list_params() -> Vec<Value> {
    [
        "allowWatchBookmarks",
        "continue",
        "fieldSelector",
        "labelSelector",
        "limit",
        "resourceVersion",
        "resourceVersionMatch",
        "sendInitialEvents",
        "timeoutSeconds",
        "watch",
    ]
    .iter()
    .map(|p| query_param(p, p))
    .collect()
}

fn add_resource_paths(r: &ResourceDescription, paths: &mut Map<String, Value>) {
    let prefix = format!("/{}", r.gv_path());
    let ns_prefix = if r.namespaced {
        format!("{prefix}/namespaces/{{namespace}}")
    } else {
        prefix.clone()
    };
    let scope = if r.namespaced { "Namespaced" } else { "" };
    let kind_ref = json!({"$ref": format!("#/components/schemas/{}", r.schema_name())});
    let list_ref = json!({"$ref": format!("#/components/schemas/{}List", r.schema_name())});
    let mut common = vec![query_param(
        "pretty",
        "If 'true', then the output is pretty printed.",
    )];
    if r.namespaced {
        common.push(path_param(
            "namespace",
            "object name and auth scope, such as for teams and projects",
        ));
    }
    let kind = &r.kind;

    // Collection path.
    let mut coll = Map::new();
    if r.has_verb("list") {
        coll.insert(
            "get".into(),
            operation(
                r,
                "list",
                &format!("list{scope}{kind}"),
                &format!("list or watch objects of kind {kind}"),
                list_params(),
                None,
                list_ref.clone(),
            ),
        );
    }
    if r.has_verb("create") {
        coll.insert(
            "post".into(),
            operation(
                r,
                "post",
                &format!("create{scope}{kind}"),
                &format!("create a {kind}"),
                write_params(),
                Some(json_content(kind_ref.clone())),
                kind_ref.clone(),
            ),
        );
    }
    if r.has_verb("deletecollection") {
        coll.insert(
            "delete".into(),
            operation(
                r,
                "deletecollection",
                &format!("deleteCollection{scope}{kind}"),
                &format!("delete collection of {kind}"),
                list_params(),
                None,
                meta_ref("Status"),
            ),
        );
    }
    if !coll.is_empty() {
        coll.insert("parameters".into(), Value::Array(common.clone()));
        paths.insert(format!("{ns_prefix}/{}", r.plural), Value::Object(coll));
    }
    if r.namespaced && r.has_verb("list") {
        let all = json!({
            "get": operation(r, "list", &format!("list{kind}ForAllNamespaces"), &format!("list or watch objects of kind {kind}"), list_params(), None, list_ref),
            "parameters": [query_param("pretty", "If 'true', then the output is pretty printed.")]
        });
        paths.insert(format!("{prefix}/{}", r.plural), all);
    }

    // Item path, then subresources.
    let mut item_params = common.clone();
    item_params.push(path_param("name", &format!("name of the {kind}")));
    let patch_body = json!({
        "application/apply-patch+yaml": {"schema": meta_ref("Patch")},
        "application/json-patch+json": {"schema": meta_ref("Patch")},
        "application/merge-patch+json": {"schema": meta_ref("Patch")}
    });
    let mut patch_params = write_params();
    patch_params.push(query_param(
        "force",
        "Force is going to \"force\" Apply requests.",
    ));
    for sub in std::iter::once("").chain(r.subresources.iter().map(String::as_str)) {
        let (suffix, what) = if sub.is_empty() {
            (String::new(), kind.clone())
        } else {
            (format!("/{sub}"), format!("{sub} of the specified {kind}"))
        };
        let op_kind = if sub.is_empty() {
            kind.clone()
        } else {
            format!("{kind}{}", capitalize(sub))
        };
        let response = if sub == "scale" {
            json!({"$ref": "#/components/schemas/io.k8s.api.autoscaling.v1.Scale"})
        } else {
            kind_ref.clone()
        };
        let mut item = Map::new();
        if r.has_verb("get") {
            item.insert(
                "get".into(),
                operation(
                    r,
                    "get",
                    &format!("read{scope}{op_kind}"),
                    &format!("read {what}"),
                    vec![],
                    None,
                    response.clone(),
                ),
            );
        }
        if r.has_verb("update") {
            item.insert(
                "put".into(),
                operation(
                    r,
                    "put",
                    &format!("replace{scope}{op_kind}"),
                    &format!("replace {what}"),
                    write_params(),
                    Some(json_content(response.clone())),
                    response.clone(),
                ),
            );
        }
        if r.has_verb("patch") {
            item.insert(
                "patch".into(),
                operation(
                    r,
                    "patch",
                    &format!("patch{scope}{op_kind}"),
                    &format!("partially update {what}"),
                    patch_params.clone(),
                    Some(patch_body.clone()),
                    response.clone(),
                ),
            );
        }
        if sub.is_empty() && r.has_verb("delete") {
            item.insert(
                "delete".into(),
                operation(
                    r,
                    "delete",
                    &format!("delete{scope}{op_kind}"),
                    &format!("delete a {kind}"),
                    vec![
                        query_param("propagationPolicy", "propagationPolicy"),
                        query_param("gracePeriodSeconds", "gracePeriodSeconds"),
                    ],
                    None,
                    meta_ref("Status"),
                ),
            );
        }
        if sub == "scale" {
            for op in item.values_mut() {
                if let Some(o) = op.as_object_mut() {
                    o.insert(
                        "x-kubernetes-group-version-kind".into(),
                        json!({"group": "autoscaling", "version": "v1", "kind": "Scale"}),
                    );
                }
            }
        }
        if !item.is_empty() {
            item.insert("parameters".into(), Value::Array(item_params.clone()));
            paths.insert(
                format!("{ns_prefix}/{}/{{name}}{suffix}", r.plural),
                Value::Object(item),
            );
        }
    }
}

fn capitalize(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().collect::<String>() + c.as_str(),
        None => String::new(),
    }
}

/// The kind schema placed in `components.schemas`: the given schema (or a minimal one) with
/// `apiVersion`/`kind` described, `metadata` referring to ObjectMeta, and the GVK extension.
fn kind_schema(r: &ResourceDescription) -> Value {
    if let Some(def) = builtin_definition(r) {
        return def.clone();
    }
    let mut s = match &r.schema {
        Some(Value::Object(m)) => m.clone(),
        _ => {
            let mut m = Map::new();
            m.insert("type".into(), json!("object"));
            m.insert(
                "description".into(),
                json!(format!(
                    "{} is a built-in Kubernetes kind served by Ferry.",
                    r.kind
                )),
            );
            let mut props = Map::new();
            for f in ["spec", "status"] {
                props.insert(
                    f.into(),
                    json!({"type": "object", "x-kubernetes-preserve-unknown-fields": true}),
                );
            }
            m.insert("properties".into(), Value::Object(props));
            m
        }
    };
    s.entry("type").or_insert(json!("object"));
    let props = s.entry("properties").or_insert_with(|| json!({}));
    if let Value::Object(p) = props {
        p.insert(
            "apiVersion".into(),
            json!({"type": "string", "description": "APIVersion defines the versioned schema of this representation of an object. Servers should convert recognized schemas to the latest internal value, and may reject unrecognized values."}),
        );
        p.insert(
            "kind".into(),
            json!({"type": "string", "description": "Kind is a string value representing the REST resource this object represents. Servers may infer this from the endpoint the client submits requests to. In CamelCase."}),
        );
        p.insert(
            "metadata".into(),
            json!({"allOf": [meta_ref("ObjectMeta")], "default": {}, "description": "Standard object's metadata. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata"}),
        );
    }
    s.insert(
        "x-kubernetes-group-version-kind".into(),
        json!([gvk_ext(r, &r.kind)]),
    );
    Value::Object(s)
}

fn list_schema(r: &ResourceDescription) -> Value {
    json!({
        "type": "object",
        "description": format!("{}List is a list of {}", r.kind, r.kind),
        "required": ["items"],
        "properties": {
            "apiVersion": {"type": "string"},
            "kind": {"type": "string"},
            "items": {"type": "array", "items": {"$ref": format!("#/components/schemas/{}", r.schema_name())}},
            "metadata": {"allOf": [meta_ref("ListMeta")], "default": {}}
        },
        "x-kubernetes-group-version-kind": [gvk_ext(r, &format!("{}List", r.kind))]
    })
}

/// The shared meta/v1 schemas every document references.
fn meta_schemas() -> Vec<(String, Value)> {
    let string_map = json!({"type": "object", "additionalProperties": {"type": "string", "default": ""}});
    vec![
        (
            format!("{META}.ObjectMeta"),
            json!({
                "type": "object",
                "description": "ObjectMeta is metadata that all persisted resources must have, which includes all objects users must create.",
                "properties": {
                    "name": {"type": "string", "description": "Name must be unique within a namespace."},
                    "generateName": {"type": "string", "description": "GenerateName is an optional prefix, used by the server, to generate a unique name ONLY IF the Name field has not been provided."},
                    "namespace": {"type": "string", "description": "Namespace defines the space within which each name must be unique."},
                    "uid": {"type": "string"},
                    "resourceVersion": {"type": "string"},
                    "generation": {"type": "integer", "format": "int64"},
                    "creationTimestamp": {"type": "string", "format": "date-time"},
                    "deletionTimestamp": {"type": "string", "format": "date-time"},
                    "deletionGracePeriodSeconds": {"type": "integer", "format": "int64"},
                    "labels": string_map.clone(),
                    "annotations": string_map,
                    "finalizers": {"type": "array", "items": {"type": "string", "default": ""}, "x-kubernetes-list-type": "set", "x-kubernetes-patch-strategy": "merge"},
                    "ownerReferences": {"type": "array", "items": {"type": "object", "x-kubernetes-preserve-unknown-fields": true},
                        "x-kubernetes-list-map-keys": ["uid"], "x-kubernetes-list-type": "map", "x-kubernetes-patch-merge-key": "uid", "x-kubernetes-patch-strategy": "merge"},
                    "managedFields": {"type": "array", "items": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}, "x-kubernetes-list-type": "atomic"},
                    "selfLink": {"type": "string"}
                }
            }),
        ),
        (
            format!("{META}.ListMeta"),
            json!({"type": "object", "properties": {"continue": {"type": "string"}, "remainingItemCount": {"type": "integer", "format": "int64"}, "resourceVersion": {"type": "string"}, "selfLink": {"type": "string"}}}),
        ),
        (
            format!("{META}.Patch"),
            json!({"type": "object", "description": "Patch is provided to give a concrete name and type to the Kubernetes PATCH request body."}),
        ),
        (
            format!("{META}.Status"),
            json!({"type": "object", "properties": {"apiVersion": {"type": "string"}, "code": {"type": "integer"}, "details": {"type": "object", "x-kubernetes-preserve-unknown-fields": true},
                "kind": {"type": "string"}, "message": {"type": "string"}, "metadata": {"allOf": [meta_ref("ListMeta")]}, "reason": {"type": "string"}, "status": {"type": "string"}},
                "x-kubernetes-group-version-kind": [{"group": "", "kind": "Status", "version": "v1"}]}),
        ),
        (
            "io.k8s.api.autoscaling.v1.Scale".to_string(),
            json!({"type": "object", "properties": {"apiVersion": {"type": "string"}, "kind": {"type": "string"}, "metadata": {"allOf": [meta_ref("ObjectMeta")]},
                "spec": {"type": "object", "properties": {"replicas": {"type": "integer", "format": "int32"}}},
                "status": {"type": "object", "properties": {"replicas": {"type": "integer", "format": "int32"}, "selector": {"type": "string"}}}},
                "x-kubernetes-group-version-kind": [{"group": "autoscaling", "kind": "Scale", "version": "v1"}]}),
        ),
    ]
}

/// The full schema of a built-in kind (from [`builtin_schemas`]), if it is one.
fn builtin_definition(r: &ResourceDescription) -> Option<&'static Value> {
    if !r.builtin || r.schema.is_some() {
        return None;
    }
    let schemas = builtin_schemas();
    schemas
        .schema_name(&r.group, &r.version, &r.kind)
        .filter(|name| *name == r.schema_name())
        .and_then(|name| schemas.definitions.get(name))
}

/// The OpenAPI v3 document of one group-version (all of `resources` must share it).
pub fn group_version_document(resources: &[&ResourceDescription]) -> Value {
    let mut paths = Map::new();
    let mut schemas = Map::new();
    // Built-in kinds bring their full definitions and everything those reference; every
    // document gets the real meta/v1 types (and Scale for `/scale`).
    let mut referenced: Vec<String> = ["ObjectMeta", "ListMeta", "Status", "Patch", "DeleteOptions"]
        .iter()
        .map(|n| format!("{META}.{n}"))
        .collect();
    referenced.push("io.k8s.api.autoscaling.v1.Scale".to_string());
    for r in resources {
        add_resource_paths(r, &mut paths);
        if builtin_definition(r).is_some() {
            referenced.push(r.schema_name());
        }
        schemas.insert(r.schema_name(), kind_schema(r));
        schemas.insert(format!("{}List", r.schema_name()), list_schema(r));
    }
    let names: Vec<&str> = referenced.iter().map(String::as_str).collect();
    for (name, s) in builtin_schemas().closure(&names) {
        schemas.entry(name.to_string()).or_insert_with(|| s.clone());
    }
    for (name, s) in meta_schemas() {
        schemas.entry(name).or_insert(s);
    }
    let mut sorted: Vec<(String, Value)> = schemas.into_iter().collect();
    sorted.sort_by(|a, b| a.0.cmp(&b.0));
    json!({
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": KUBERNETES_VERSION},
        "paths": paths,
        "components": {"schemas": Map::from_iter(sorted)}
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn verbs() -> Vec<String> {
        [
            "get",
            "list",
            "watch",
            "create",
            "update",
            "patch",
            "delete",
            "deletecollection",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect()
    }

    fn resources() -> Vec<ResourceDescription> {
        vec![
            ResourceDescription {
                group: "".into(),
                version: "v1".into(),
                kind: "Namespace".into(),
                plural: "namespaces".into(),
                singular: "namespace".into(),
                namespaced: false,
                verbs: verbs(),
                short_names: vec!["ns".into()],
                builtin: true,
                subresources: vec!["status".into()],
                ..Default::default()
            },
            ResourceDescription {
                group: "".into(),
                version: "v1".into(),
                kind: "ConfigMap".into(),
                plural: "configmaps".into(),
                singular: "configmap".into(),
                namespaced: true,
                verbs: verbs(),
                builtin: true,
                ..Default::default()
            },
            ResourceDescription {
                group: "apps.kruise.io".into(),
                version: "v1alpha1".into(),
                kind: "CloneSet".into(),
                plural: "clonesets".into(),
                singular: "cloneset".into(),
                namespaced: true,
                verbs: verbs(),
                subresources: vec!["status".into(), "scale".into()],
                schema: Some(
                    json!({"type": "object", "properties": {"spec": {"type": "object", "description": "CloneSetSpec defines the desired state", "properties": {"replicas": {"type": "integer"}}}}}),
                ),
                ..Default::default()
            },
        ]
    }

    #[test]
    fn index_lists_each_group_version() {
        let api = build_openapi_v3(&resources());
        let keys: Vec<&String> = api.documents.keys().collect();
        assert_eq!(keys, vec!["api/v1", "apis/apps.kruise.io/v1alpha1"]);
        let url = api
            .index
            .pointer("/paths/api~1v1/serverRelativeURL")
            .and_then(Value::as_str)
            .unwrap_or("");
        assert!(url.starts_with("/openapi/v3/api/v1?hash="), "{url}");
        assert_eq!(
            url.rsplit('=').next(),
            Some(inputs_hash(&by_group_version(&resources())["api/v1"])).as_deref()
        );
    }

    #[test]
    fn patch_operations_carry_gvk_and_field_validation() {
        let api = build_openapi_v3(&resources());
        let core = &api.documents["api/v1"];
        let cases = [
            ("/api/v1/namespaces/{name}", "Namespace"),
            ("/api/v1/namespaces/{namespace}/configmaps/{name}", "ConfigMap"),
        ];
        for (path, kind) in cases {
            let patch = &core["paths"][path]["patch"];
            assert_eq!(patch["x-kubernetes-group-version-kind"]["kind"], kind, "{path}");
            let params: Vec<&str> = patch["parameters"]
                .as_array()
                .map(|a| a.iter().filter_map(|p| p["name"].as_str()).collect())
                .unwrap_or_default();
            assert!(params.contains(&"fieldValidation"), "{path}: {params:?}");
            assert!(
                patch["requestBody"]["content"]
                    .get("application/strategic-merge-patch+json")
                    .is_none()
            );
        }
        assert!(
            core["paths"].get("/api/v1/configmaps").is_some(),
            "all-namespaces list"
        );
        let schema = &core["components"]["schemas"]["io.k8s.api.core.v1.ConfigMap"];
        assert_eq!(schema["x-kubernetes-group-version-kind"][0]["kind"], "ConfigMap");
    }

    #[test]
    fn crd_document_for_explain() {
        let api = build_openapi_v3(&resources());
        let doc = &api.documents["apis/apps.kruise.io/v1alpha1"];
        let schema = &doc["components"]["schemas"]["io.kruise.apps.v1alpha1.CloneSet"];
        assert_eq!(
            schema["x-kubernetes-group-version-kind"],
            json!([{"group": "apps.kruise.io", "version": "v1alpha1", "kind": "CloneSet"}])
        );
        assert_eq!(
            schema["properties"]["spec"]["description"],
            "CloneSetSpec defines the desired state"
        );
        assert_eq!(
            schema["properties"]["metadata"]["allOf"][0]["$ref"],
            "#/components/schemas/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"
        );
        assert!(
            doc["components"]["schemas"]
                .get("io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta")
                .is_some()
        );
        let scale = &doc["paths"]["/apis/apps.kruise.io/v1alpha1/namespaces/{namespace}/clonesets/{name}/scale"]
            ["patch"];
        assert_eq!(scale["x-kubernetes-group-version-kind"]["kind"], "Scale");
        let status = &doc["paths"]["/apis/apps.kruise.io/v1alpha1/namespaces/{namespace}/clonesets/{name}/status"]
            ["patch"];
        assert_eq!(status["x-kubernetes-group-version-kind"]["kind"], "CloneSet");
        // Every $ref resolves inside the document.
        let text = doc.to_string();
        for piece in text.split("\"$ref\":\"#/components/schemas/").skip(1) {
            let name = piece.split('"').next().unwrap_or("");
            assert!(
                doc["components"]["schemas"].get(name).is_some(),
                "dangling $ref {name}"
            );
        }
    }

    #[test]
    fn schema_names() {
        let cases = [
            ("", "v1", true, "io.k8s.api.core.v1"),
            ("apps", "v1", true, "io.k8s.api.apps.v1"),
            ("networking.k8s.io", "v1", true, "io.k8s.api.networking.v1"),
            (
                "apiextensions.k8s.io",
                "v1",
                true,
                "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1",
            ),
            ("tekton.dev", "v1", false, "dev.tekton.v1"),
            ("argoproj.io", "v1alpha1", false, "io.argoproj.v1alpha1"),
        ];
        for (g, v, builtin, want) in cases {
            assert_eq!(schema_prefix(g, v, builtin), want);
        }
        // Verbs limit the operations: a read-only resource has no patch.
        let ro = ResourceDescription {
            version: "v1".into(),
            kind: "Event".into(),
            plural: "events".into(),
            namespaced: true,
            verbs: vec!["get".into(), "list".into()],
            builtin: true,
            ..Default::default()
        };
        let doc = group_version_document(&[&ro]);
        assert!(
            doc["paths"]["/api/v1/namespaces/{namespace}/events/{name}"]
                .get("patch")
                .is_none()
        );
        assert!(
            doc["paths"]["/api/v1/namespaces/{namespace}/events/{name}"]
                .get("get")
                .is_some()
        );
    }
}
