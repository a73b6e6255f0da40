//! The CustomResourceDefinitions of Task, Pipeline, PipelineRun and TaskRun, shaped as
//! Tekton ships them (`config/300-crds`): v1 is the storage version, v1beta1 is served too,
//! the same names, short names, categories and printer columns, a `status` subresource.
//!
//! Schemas: apiVersion/kind/metadata are typed, and `spec`/`status` keep unknown fields
//! (`x-kubernetes-preserve-unknown-fields`), as Tekton's run CRDs do at their root; Ferry's
//! validation happens in the controller, with Tekton's messages, not in the schema.
//! Conversion strategy is `None`: there is no conversion webhook on the embedded server, so
//! the controller reads both versions and converts itself ([`super::convert`]).

use serde_json::{Value, json};

fn schema() -> Value {
    json!({
        "openAPIV3Schema": {
            "type": "object",
            "properties": {
                "apiVersion": {"type": "string"},
                "kind": {"type": "string"},
                "metadata": {"type": "object"},
                "spec": {"type": "object", "x-kubernetes-preserve-unknown-fields": true},
                "status": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}
            },
            "x-kubernetes-preserve-unknown-fields": true
        }
    })
}

fn run_columns() -> Value {
    json!([
        {"name": "Succeeded", "type": "string", "jsonPath": ".status.conditions[?(@.type==\"Succeeded\")].status"},
        {"name": "Reason", "type": "string", "jsonPath": ".status.conditions[?(@.type==\"Succeeded\")].reason"},
        {"name": "StartTime", "type": "date", "jsonPath": ".status.startTime"},
        {"name": "CompletionTime", "type": "date", "jsonPath": ".status.completionTime"}
    ])
}

fn version(name: &str, storage: bool, columns: Option<&Value>) -> Value {
    let mut version = json!({
        "name": name,
        "served": true,
        "storage": storage,
        "schema": schema(),
        "subresources": {"status": {}}
    });
    if let (Some(columns), Some(map)) = (columns, version.as_object_mut()) {
        map.insert("additionalPrinterColumns".to_string(), columns.clone());
    }
    version
}

fn crd(kind: &str, plural: &str, short_names: &[&str], columns: Option<Value>) -> Value {
    let mut names = json!({
        "kind": kind,
        "plural": plural,
        "singular": kind.to_lowercase(),
        "categories": ["tekton", "tekton-pipelines"]
    });
    if !short_names.is_empty()
        && let Some(map) = names.as_object_mut()
    {
        map.insert("shortNames".to_string(), json!(short_names));
    }
    json!({
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {
            "name": format!("{plural}.{}", super::GROUP),
            "labels": {
                "app.kubernetes.io/instance": "default",
                "app.kubernetes.io/part-of": "tekton-pipelines"
            }
        },
        "spec": {
            "group": super::GROUP,
            "preserveUnknownFields": false,
            "versions": [
                version("v1beta1", false, columns.as_ref()),
                version("v1", true, columns.as_ref())
            ],
            "names": names,
            "scope": "Namespaced",
            "conversion": {"strategy": "None"}
        }
    })
}

/// CustomResourceDefinitions of the tekton.dev group, as JSON (apiextensions.k8s.io/v1).
pub fn crds() -> Vec<Value> {
    vec![
        crd("Task", "tasks", &[], None),
        crd("Pipeline", "pipelines", &[], None),
        crd("PipelineRun", "pipelineruns", &["pr", "prs"], Some(run_columns())),
        crd("TaskRun", "taskruns", &["tr", "trs"], Some(run_columns())),
    ]
}
