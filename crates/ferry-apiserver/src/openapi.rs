//! OpenAPI v3: an index and one document per group-version. Real enough that kubectl's
//! server-side field validation check passes (PATCH operations declare `fieldValidation`) and
//! `kubectl explain` works for custom resources (their `openAPIV3Schema`).

use serde_json::{Map, Value, json};

use crate::registry::{Registry, ResourceInfo};

fn gv_path(group: &str, version: &str) -> String {
    if group.is_empty() {
        format!("api/{version}")
    } else {
        format!("apis/{group}/{version}")
    }
}

/// A stable FNV-1a hash, so clients can cache documents by `?hash=`.
fn fnv(s: &str) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in s.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    format!("{h:016X}")
}

pub fn index(registry: &Registry) -> Value {
    let mut paths = Map::new();
    for (group, versions) in registry.groups() {
        for v in versions {
            let path = gv_path(&group, &v);
            let hash = document(registry, &path)
                .map(|d| fnv(&d.to_string()))
                .unwrap_or_default();
            paths.insert(
                path.clone(),
                json!({"serverRelativeURL": format!("/openapi/v3/{path}?hash={hash}")}),
            );
        }
    }
    json!({"paths": paths})
}

/// The schema name kubectl looks up (`io.k8s.api.core.v1.ConfigMap`, or reversed group for CRDs).
fn schema_name(r: &ResourceInfo) -> String {
    if r.custom {
        let reversed: Vec<&str> = r.group.split('.').rev().collect();
        format!("{}.{}.{}", reversed.join("."), r.version, r.kind)
    } else {
        let g = if r.group.is_empty() {
            "core".to_string()
        } else {
            r.group.split('.').next().unwrap_or("").to_string()
        };
        format!("io.k8s.api.{g}.{}.{}", r.version, r.kind)
    }
}

fn object_meta_schema() -> Value {
    json!({
        "description": "Standard object's metadata.",
        "type": "object",
        "properties": {
            "name": {"type": "string", "description": "Name must be unique within a namespace."},
            "namespace": {"type": "string", "description": "Namespace defines the space within which each name must be unique."},
            "labels": {"type": "object", "additionalProperties": {"type": "string"}, "description": "Map of string keys and values that can be used to organize and categorize objects."},
            "annotations": {"type": "object", "additionalProperties": {"type": "string"}, "description": "Annotations is an unstructured key value map."},
            "generateName": {"type": "string", "description": "Optional prefix used to generate a unique name."},
            "uid": {"type": "string", "description": "UID is the unique in time and space value for this object."},
            "resourceVersion": {"type": "string", "description": "An opaque value that represents the internal version of this object."},
            "generation": {"type": "integer", "format": "int64", "description": "A sequence number representing a specific generation of the desired state."},
            "creationTimestamp": {"type": "string", "format": "date-time", "description": "Time this object was created."},
            "deletionTimestamp": {"type": "string", "format": "date-time", "description": "Time at which this resource will be deleted."},
            "finalizers": {"type": "array", "items": {"type": "string"}, "description": "Must be empty before the object is deleted from the registry."},
            "ownerReferences": {"type": "array", "items": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}, "description": "List of objects depended by this object."},
            "managedFields": {"type": "array", "items": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}, "description": "Field ownership."}
        }
    })
}

fn resource_schema(r: &ResourceInfo) -> Option<Value> {
    let schema = r.schema.as_ref()?;
    let mut s = schema.clone();
    let m = s.as_object_mut()?;
    let props = m.entry("properties").or_insert_with(|| json!({}));
    if let Some(p) = props.as_object_mut() {
        p.insert("apiVersion".into(), json!({"type": "string", "description": "APIVersion defines the versioned schema of this representation of an object."}));
        p.insert("kind".into(), json!({"type": "string", "description": "Kind is a string value representing the REST resource this object represents."}));
        p.insert("metadata".into(), json!({"allOf": [{"$ref": "#/components/schemas/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"}], "description": "Standard object's metadata."}));
    }
    m.insert(
        "x-kubernetes-group-version-kind".into(),
        json!([{"group": r.group, "version": r.version, "kind": r.kind}]),
    );
    Some(s)
}

fn query_param(name: &str, description: &str) -> Value {
    json!({"name": name, "in": "query", "description": description, "schema": {"type": "string", "uniqueItems": true}})
}

fn operations(r: &ResourceInfo, item: bool) -> Value {
    let gvk = json!({"group": r.group, "version": r.version, "kind": r.kind});
    let schema_ref = json!({"$ref": format!("#/components/schemas/{}", schema_name(r))});
    let ok = |desc: &str| json!({"200": {"description": desc, "content": {"application/json": {"schema": schema_ref}}}});
    let params = vec![
        query_param(
            "dryRun",
            "When present, indicates that modifications should not be persisted.",
        ),
        query_param(
            "fieldManager",
            "fieldManager is a name associated with the actor or entity that is making these changes.",
        ),
        query_param(
            "fieldValidation",
            "fieldValidation instructs the server on how to handle objects in the request containing unknown or duplicate fields. Valid values are: Ignore, Warn, Strict.",
        ),
    ];
    let op = |verb: &str, action: &str| {
        json!({
            "operationId": format!("{verb}{}", r.kind),
            "parameters": params,
            "responses": ok("OK"),
            "x-kubernetes-action": action,
            "x-kubernetes-group-version-kind": gvk,
        })
    };
    if item {
        let mut patch = op("patch", "patch");
        if let Some(m) = patch.as_object_mut() {
            let mut p = params.clone();
            p.push(query_param(
                "force",
                "Force is going to \"force\" Apply requests.",
            ));
            m.insert("parameters".into(), json!(p));
            m.insert(
                "requestBody".into(),
                json!({"content": {
                    "application/apply-patch+yaml": {"schema": {"type": "object"}},
                    "application/json-patch+json": {"schema": {"type": "object"}},
                    "application/merge-patch+json": {"schema": {"type": "object"}},
                    "application/strategic-merge-patch+json": {"schema": {"type": "object"}}
                }}),
            );
        }
        json!({
            "get": {"operationId": format!("read{}", r.kind), "responses": ok("OK"), "x-kubernetes-action": "get", "x-kubernetes-group-version-kind": gvk},
            "put": op("replace", "put"),
            "patch": patch,
            "delete": {"operationId": format!("delete{}", r.kind), "responses": ok("OK"), "x-kubernetes-action": "delete", "x-kubernetes-group-version-kind": gvk, "parameters": [query_param("dryRun", "dry run")]},
        })
    } else {
        json!({
            "get": {"operationId": format!("list{}", r.kind), "responses": {"200": {"description": "OK"}}, "x-kubernetes-action": "list", "x-kubernetes-group-version-kind": gvk},
            "post": op("create", "post"),
        })
    }
}

/// The document for `path` (`api/v1`, `apis/apps/v1`), if that group-version is served.
pub fn document(registry: &Registry, path: &str) -> Option<Value> {
    let (group, version) = match path.split('/').collect::<Vec<_>>().as_slice() {
        ["api", v] => (String::new(), v.to_string()),
        ["apis", g, v] => (g.to_string(), v.to_string()),
        _ => return None,
    };
    let mut resources: Vec<_> = registry
        .all()
        .into_iter()
        .filter(|r| r.group == group && r.version == version)
        .collect();
    if resources.is_empty() {
        return None;
    }
    resources.sort_by(|a, b| a.plural.cmp(&b.plural));
    let base = format!("/{path}");
    let mut paths = Map::new();
    let mut schemas = Map::new();
    schemas.insert(
        "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta".into(),
        object_meta_schema(),
    );
    for r in &resources {
        let collection = if r.namespaced {
            format!("{base}/namespaces/{{namespace}}/{}", r.plural)
        } else {
            format!("{base}/{}", r.plural)
        };
        paths.insert(collection.clone(), operations(r, false));
        paths.insert(format!("{collection}/{{name}}"), operations(r, true));
        let schema = resource_schema(r).unwrap_or_else(|| {
            json!({"type": "object", "x-kubernetes-preserve-unknown-fields": true,
                "description": format!("{} ({})", r.kind, r.api_version())})
        });
        schemas.insert(schema_name(r), schema);
    }
    Some(json!({
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": "v1.33.1"},
        "paths": paths,
        "components": {"schemas": schemas},
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_points_at_documents_declaring_field_validation() {
        let reg = Registry::with_builtins();
        let idx = index(&reg);
        let url = idx["paths"]["api/v1"]["serverRelativeURL"].as_str().unwrap();
        assert!(url.starts_with("/openapi/v3/api/v1?hash="));
        let doc = document(&reg, "api/v1").unwrap();
        let patch = &doc["paths"]["/api/v1/namespaces/{name}"]["patch"];
        assert!(
            patch["parameters"]
                .as_array()
                .unwrap()
                .iter()
                .any(|p| p["name"] == "fieldValidation")
        );
        assert_eq!(patch["x-kubernetes-group-version-kind"]["kind"], "Namespace");
        assert!(document(&reg, "apis/nope/v1").is_none());
    }
}
