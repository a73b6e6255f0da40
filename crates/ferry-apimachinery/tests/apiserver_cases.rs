//! Cases the API server's former private copies of patch, managedFields, apply and CRD schema
//! handling were tested with, kept here so the shared implementation answers them the same way
//! (and the way Kubernetes does).

use ferry_apimachinery::{
    apply::{ApplyError, ApplyRequest, Conflict, server_side_apply},
    managed_fields::{UpdateOp, read_managed_fields, update_managed_fields},
    patch::strategic_merge_patch,
    schema::{FieldValidation, SchemaError, process_custom_resource},
    typeinfo::Shape,
};
use serde_json::{Value, json};

fn pod_smp(target: Value, patch: Value) -> Value {
    match strategic_merge_patch(&target, &patch, Shape::for_builtin("", "Pod")) {
        Ok(v) => v,
        Err(e) => panic!("patch {patch} failed: {e}"),
    }
}

#[test]
fn strategic_merge_patch_of_pods() {
    let cases = [
        (
            // containers merge by name, new ones are appended
            json!({"spec": {"containers": [{"name": "a", "image": "x:1"}, {"name": "b", "image": "y:1"}]}}),
            json!({"spec": {"containers": [{"name": "b", "image": "y:2"}, {"name": "c", "image": "z"}]}}),
            json!({"spec": {"containers": [{"name": "a", "image": "x:1"}, {"name": "b", "image": "y:2"}, {"name": "c", "image": "z"}]}}),
        ),
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
            // metadata.finalizers has patchStrategy merge: a set of strings
            json!({"metadata": {"finalizers": ["a"]}}),
            json!({"metadata": {"finalizers": ["b"]}}),
            json!({"metadata": {"finalizers": ["a", "b"]}}),
        ),
    ];
    for (target, patch, want) in cases {
        assert_eq!(pod_smp(target, patch.clone()), want, "patch {patch}");
    }
}

#[test]
fn strategic_merge_patch_replaces_lists_without_a_strategy() {
    let target = json!({"data": {"k": "v"}, "binaryData": {}, "immutable": false});
    let out = strategic_merge_patch(
        &target,
        &json!({"data": {"j": "w"}}),
        Shape::for_builtin("", "ConfigMap"),
    );
    assert_eq!(
        out,
        Ok(json!({"data": {"k": "v", "j": "w"}, "binaryData": {}, "immutable": false}))
    );
    let args = json!({"spec": {"containers": [{"name": "a", "args": ["1", "2"]}]}});
    let out = pod_smp(
        args,
        json!({"spec": {"containers": [{"name": "a", "args": ["3"]}]}}),
    );
    assert_eq!(out["spec"]["containers"][0]["args"], json!(["3"]));
}

const NOW: &str = "2026-01-01T00:00:00Z";

fn configmap(data: Value) -> Value {
    json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}, "data": data})
}

fn apply(live: Option<&Value>, applied: &Value, manager: &str, force: bool) -> Result<Value, ApplyError> {
    server_side_apply(ApplyRequest {
        live,
        applied,
        manager,
        force,
        api_version: "v1",
        subresource: "",
        time: NOW,
        shape: Shape::for_builtin("", "ConfigMap"),
    })
}

fn managers(obj: &Value) -> Vec<(String, String)> {
    read_managed_fields(obj)
        .unwrap_or_default()
        .into_iter()
        .map(|e| (e.manager, e.operation))
        .collect()
}

#[test]
fn apply_conflicts_then_force_moves_ownership() {
    let mut live = configmap(json!({"k": "a"}));
    let op = UpdateOp {
        manager: "kubectl-client-side-apply",
        api_version: "v1",
        subresource: "",
        time: NOW,
    };
    assert_eq!(
        update_managed_fields(None, &mut live, op, Shape::for_builtin("", "ConfigMap")),
        Ok(())
    );
    let applied = configmap(json!({"k": "b"}));
    assert_eq!(
        apply(Some(&live), &applied, "other", false),
        Err(ApplyError::Conflicts(vec![Conflict {
            manager: "\"kubectl-client-side-apply\" using v1".into(),
            path: ".data.k".into(),
        }]))
    );
    let forced = apply(Some(&live), &applied, "other", true).unwrap_or_default();
    assert_eq!(forced["data"]["k"], "b");
    // The updater loses data.k but keeps the `data` map itself (its "." member), as
    // structured-merge-diff does: `f:data: {}`.
    assert_eq!(
        managers(&forced),
        [
            ("other".to_string(), "Apply".to_string()),
            ("kubectl-client-side-apply".to_string(), "Update".to_string())
        ]
    );
    assert_eq!(
        forced.pointer("/metadata/managedFields/1/fieldsV1"),
        Some(&json!({"f:data": {}}))
    );
}

#[test]
fn apply_removes_fields_the_manager_stopped_applying() {
    let live = apply(None, &configmap(json!({"a": "1", "b": "2"})), "m", false).unwrap_or_default();
    let out = apply(Some(&live), &configmap(json!({"a": "1"})), "m", false).unwrap_or_default();
    assert_eq!(out["data"], json!({"a": "1"}));
}

fn crd_schema() -> Value {
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
fn custom_resources_get_defaults_and_lose_unknown_fields() {
    let mut obj = json!({"apiVersion": "x/v1", "kind": "X", "metadata": {"name": "a", "bogus": 1},
        "spec": {"replicas": 1, "bogus": 1, "free": {"any": 1}, "port": "http", "labels": {"a": "b"}}, "top": 1});
    let warnings = process_custom_resource(&mut obj, &crd_schema(), FieldValidation::Warn);
    assert_eq!(
        warnings,
        Ok(vec![
            "unknown field \"metadata.bogus\"".to_string(),
            "unknown field \"spec.bogus\"".to_string(),
            "unknown field \"top\"".to_string(),
        ])
    );
    assert_eq!(obj["spec"]["mode"], "A");
    assert_eq!(obj["spec"]["free"]["any"], 1);
    assert_eq!(obj.get("top"), None);
    let mut strict = json!({"spec": {"replicas": 1, "bogus": 1}});
    assert_eq!(
        process_custom_resource(&mut strict, &crd_schema(), FieldValidation::Strict),
        Err(SchemaError::UnknownFields(vec!["spec.bogus".into()]))
    );
}

#[test]
fn custom_resource_errors_name_each_field() {
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
        let fields = match process_custom_resource(&mut obj, &crd_schema(), FieldValidation::Strict) {
            Err(SchemaError::Invalid(errs)) => errs.into_iter().map(|e| e.field).collect::<Vec<_>>(),
            other => panic!("{obj}: expected Invalid, got {other:?}"),
        };
        assert_eq!(fields, [field], "{obj}");
    }
}

#[test]
fn table_ages_and_json_paths() {
    use ferry_apimachinery::table::{human_duration, jsonpath};
    for (seconds, want) in [
        (5, "5s"),
        (150, "2m30s"),
        (700, "11m"),
        (4 * 3600 + 60, "4h1m"),
        (10 * 3600, "10h"),
        (3 * 86400, "3d"),
        (20 * 86400, "20d"),
    ] {
        assert_eq!(human_duration(seconds), want, "{seconds}s");
    }
    let obj = json!({"spec": {"replicas": 3}, "status": {"conditions": [{"type": "A", "status": "False"}, {"type": "Ready", "status": "True"}], "list": [{"n": 1}, {"n": 2}]}});
    let cases = [
        (".spec.replicas", vec![json!(3)]),
        (
            ".status.conditions[?(@.type==\"Ready\")].status",
            vec![json!("True")],
        ),
        (".status.list[*].n", vec![json!(1), json!(2)]),
        (".status.list[1].n", vec![json!(2)]),
        (".missing.x", vec![]),
    ];
    for (path, want) in cases {
        assert_eq!(jsonpath(&obj, path), Ok(want), "{path}");
    }
}

#[test]
fn crd_printer_columns_replace_the_default_age() {
    use ferry_apimachinery::table::{IncludeObject, parse_rfc3339, to_table};
    let columns = [
        json!({"name": "DESIRED", "type": "integer", "jsonPath": ".spec.replicas"}),
        json!({"name": "AGE", "type": "date", "jsonPath": ".metadata.creationTimestamp"}),
    ];
    let obj = json!({"metadata": {"name": "web", "creationTimestamp": "2026-01-01T00:00:00Z"}, "spec": {"replicas": 5}});
    let now = parse_rfc3339("2026-01-01T00:01:00Z").unwrap_or_default();
    let t = to_table(
        "apps.kruise.io",
        "CloneSet",
        &[obj],
        Some(&columns),
        json!({}),
        IncludeObject::Metadata,
        now,
    );
    let names: Vec<&Value> = t["columnDefinitions"]
        .as_array()
        .map(|cols| cols.iter().map(|c| &c["name"]).collect())
        .unwrap_or_default();
    assert_eq!(names, [&json!("Name"), &json!("DESIRED"), &json!("AGE")]);
    assert_eq!(t["rows"][0]["cells"], json!(["web", 5, "60s"]));
}

#[test]
fn builtin_defaults_of_pods_and_services() {
    use ferry_apimachinery::defaults::{apply_defaults, service_needs_cluster_ip, set_service_cluster_ip};
    let mut pod = json!({"spec": {"containers": [{"name": "c", "image": "nginx:1", "ports": [{"containerPort": 80}]}]}});
    apply_defaults("", "v1", "Pod", &mut pod);
    assert_eq!(pod["spec"]["restartPolicy"], "Always");
    assert_eq!(pod["spec"]["containers"][0]["imagePullPolicy"], "IfNotPresent");
    assert_eq!(pod["spec"]["containers"][0]["ports"][0]["protocol"], "TCP");
    assert_eq!(pod["spec"]["securityContext"], json!({}));
    let mut svc = json!({"spec": {"ports": [{"port": 80}]}});
    apply_defaults("", "v1", "Service", &mut svc);
    assert!(service_needs_cluster_ip(&svc));
    set_service_cluster_ip(&mut svc, "10.96.0.10");
    assert_eq!(svc["spec"]["clusterIP"], "10.96.0.10");
    assert_eq!(svc["spec"]["clusterIPs"], json!(["10.96.0.10"]));
    assert_eq!(svc["spec"]["ports"][0]["targetPort"], 80);
    assert_eq!(svc["spec"]["type"], "ClusterIP");
    assert!(!service_needs_cluster_ip(&svc));
}
