//! argoproj.io/v1alpha1 `Application` and `AppProject`, as Argo CD defines them.
//!
//! The structs cover the fields Ferry's app controller and CLI read and write; fields they don't know are
//! kept in `extra` maps so a round trip through Ferry loses nothing a user wrote.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

pub const GROUP: &str = "argoproj.io";
pub const VERSION: &str = "v1alpha1";
/// The in-cluster destination server, as Argo CD names it.
pub const IN_CLUSTER_SERVER: &str = "https://kubernetes.default.svc";
pub const IN_CLUSTER_NAME: &str = "in-cluster";
pub const DEFAULT_PROJECT: &str = "default";
/// Deleting an Application with this finalizer deletes its resources first (cascade).
pub const RESOURCES_FINALIZER: &str = "resources-finalizer.argocd.argoproj.io";

/// An Argo CD Application: what to deploy (source) where (destination), and how (sync policy).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Application {
    #[serde(default = "application_api_version")]
    pub api_version: String,
    #[serde(default = "application_kind")]
    pub kind: String,
    pub metadata: k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta,
    pub spec: ApplicationSpec,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<ApplicationStatus>,
    /// A requested operation (sync), written by the CLI/API and cleared by the controller when it starts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operation: Option<Value>,
}

fn application_api_version() -> String {
    format!("{GROUP}/{VERSION}")
}

fn application_kind() -> String {
    "Application".to_string()
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApplicationSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<ApplicationSource>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sources: Vec<ApplicationSource>,
    pub destination: ApplicationDestination,
    #[serde(default)]
    pub project: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sync_policy: Option<SyncPolicy>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ignore_differences: Vec<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision_history_limit: Option<i64>,
    #[serde(flatten)]
    pub extra: BTreeMap<String, Value>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApplicationSource {
    #[serde(rename = "repoURL")]
    pub repo_url: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_revision: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chart: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub helm: Option<ApplicationSourceHelm>,
    #[serde(flatten)]
    pub extra: BTreeMap<String, Value>,
}

/// `spec.source.helm` of an Argo CD Application (argoproj.io/v1alpha1).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApplicationSourceHelm {
    /// Values files, relative to the chart directory.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub value_files: Vec<String>,
    /// `--set` (or `--set-string` with `forceString`) parameters.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub parameters: Vec<HelmParameter>,
    /// Defaults to the Application's name.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub release_name: String,
    /// Inline values (YAML text).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub values: String,
    /// `--set-file` parameters, paths relative to the chart directory.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub file_parameters: Vec<HelmFileParameter>,
    /// Helm version selector (`v3`); accepted and ignored.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub version: String,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub pass_credentials: bool,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub ignore_missing_value_files: bool,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub skip_crds: bool,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub skip_tests: bool,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub skip_schema_validation: bool,
    /// Inline values as an object; takes precedence over `values`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub values_object: Option<Value>,
    /// Overrides the destination namespace as `.Release.Namespace`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub namespace: String,
    /// Overrides the cluster's version for `.Capabilities.KubeVersion`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub kube_version: String,
    /// Overrides the cluster's API versions for `.Capabilities.APIVersions`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub api_versions: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HelmParameter {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub value: String,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub force_string: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HelmFileParameter {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub path: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApplicationDestination {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SyncPolicy {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub automated: Option<AutomatedSync>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sync_options: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry: Option<Value>,
    #[serde(flatten)]
    pub extra: BTreeMap<String, Value>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AutomatedSync {
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub prune: bool,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub self_heal: bool,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub allow_empty: bool,
}

/// `status`: the controller's view of the application. Unknown parts are kept verbatim.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApplicationStatus {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sync: Option<SyncStatus>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health: Option<HealthStatus>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resources: Vec<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operation_state: Option<Value>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Value>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub history: Vec<Value>,
    #[serde(flatten)]
    pub extra: BTreeMap<String, Value>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SyncStatus {
    /// `Synced`, `OutOfSync` or `Unknown`.
    pub status: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision: Option<String>,
    #[serde(flatten)]
    pub extra: BTreeMap<String, Value>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HealthStatus {
    /// `Healthy`, `Progressing`, `Suspended`, `Degraded`, `Missing` or `Unknown`.
    pub status: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_transition_time: Option<String>,
}

/// The open-ended object schema Argo CD uses for parts whose shape Ferry does not constrain.
fn open_object() -> Value {
    json!({"type": "object", "x-kubernetes-preserve-unknown-fields": true})
}

fn source_schema() -> Value {
    let string = json!({"type": "string"});
    let strings = json!({"type": "array", "items": {"type": "string"}});
    json!({
        "type": "object",
        "description": "Where the manifests come from: a git repository path or a Helm chart.",
        "required": ["repoURL"],
        "properties": {
            "repoURL": {"type": "string", "description": "URL of the git repository or Helm repository."},
            "path": {"type": "string", "description": "Directory in the repository holding the manifests or chart."},
            "targetRevision": {"type": "string", "description": "Branch, tag, commit or chart version to deploy (default HEAD)."},
            "chart": string,
            "ref": string,
            "name": string,
            "helm": {
                "type": "object",
                "description": "Helm rendering options.",
                "properties": {
                    "valueFiles": strings,
                    "parameters": {"type": "array", "items": {
                        "type": "object",
                        "properties": {"name": string, "value": string, "forceString": {"type": "boolean"}}
                    }},
                    "fileParameters": {"type": "array", "items": {
                        "type": "object",
                        "properties": {"name": string, "path": string}
                    }},
                    "releaseName": string,
                    "values": string,
                    "valuesObject": open_object(),
                    "version": string,
                    "passCredentials": {"type": "boolean"},
                    "ignoreMissingValueFiles": {"type": "boolean"},
                    "skipCrds": {"type": "boolean"},
                    "skipTests": {"type": "boolean"},
                    "skipSchemaValidation": {"type": "boolean"},
                    "namespace": string,
                    "kubeVersion": string,
                    "apiVersions": strings
                }
            },
            "kustomize": open_object(),
            "directory": open_object(),
            "plugin": open_object()
        }
    })
}

fn crd(kind: &str, plural: &str, short_names: &[&str], spec_schema: Value, columns: Value) -> Value {
    let singular = kind.to_lowercase();
    json!({
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {
            "name": format!("{plural}.{GROUP}"),
            "labels": {"app.kubernetes.io/name": format!("{plural}.{GROUP}"), "app.kubernetes.io/part-of": "argocd"}
        },
        "spec": {
            "group": GROUP,
            "names": {
                "kind": kind,
                "listKind": format!("{kind}List"),
                "plural": plural,
                "singular": singular,
                "shortNames": short_names
            },
            "scope": "Namespaced",
            "versions": [{
                "name": VERSION,
                "served": true,
                "storage": true,
                "additionalPrinterColumns": columns,
                "schema": {"openAPIV3Schema": {
                    "type": "object",
                    "required": ["metadata", "spec"],
                    "properties": {
                        "apiVersion": {"type": "string"},
                        "kind": {"type": "string"},
                        "metadata": {"type": "object"},
                        "spec": spec_schema,
                        "status": open_object(),
                        "operation": open_object()
                    }
                }}
                // Argo CD's CRDs declare no status subresource: the controller writes status with the object.
            }]
        }
    })
}

/// The Application and AppProject CRDs.
pub fn crds() -> Vec<Value> {
    let application_spec = json!({
        "type": "object",
        "required": ["destination", "project"],
        "properties": {
            "source": source_schema(),
            "sources": {"type": "array", "items": source_schema()},
            "destination": {
                "type": "object",
                "description": "The cluster (server URL or name) and namespace to deploy to.",
                "properties": {
                    "server": {"type": "string"},
                    "name": {"type": "string"},
                    "namespace": {"type": "string"}
                }
            },
            "project": {"type": "string", "description": "The AppProject this application belongs to (`default`)."},
            "syncPolicy": {
                "type": "object",
                "properties": {
                    "automated": {"type": "object", "properties": {
                        "prune": {"type": "boolean"},
                        "selfHeal": {"type": "boolean"},
                        "allowEmpty": {"type": "boolean"},
                        "enabled": {"type": "boolean"}
                    }},
                    "syncOptions": {"type": "array", "items": {"type": "string"}},
                    "retry": open_object(),
                    "managedNamespaceMetadata": open_object()
                }
            },
            "ignoreDifferences": {"type": "array", "items": open_object()},
            "info": {"type": "array", "items": open_object()},
            "revisionHistoryLimit": {"type": "integer", "format": "int64"},
            "sourceHydrator": open_object()
        }
    });
    let application_columns = json!([
        {"name": "Sync Status", "type": "string", "jsonPath": ".status.sync.status"},
        {"name": "Health Status", "type": "string", "jsonPath": ".status.health.status"},
        {"name": "Revision", "type": "string", "jsonPath": ".status.sync.revision", "priority": 10},
        {"name": "Project", "type": "string", "jsonPath": ".spec.project", "priority": 10}
    ]);
    let project_spec = json!({
        "type": "object",
        "properties": {
            "description": {"type": "string"},
            "sourceRepos": {"type": "array", "items": {"type": "string"}},
            "destinations": {"type": "array", "items": {"type": "object", "properties": {
                "server": {"type": "string"}, "name": {"type": "string"}, "namespace": {"type": "string"}
            }}},
            "clusterResourceWhitelist": {"type": "array", "items": open_object()},
            "namespaceResourceWhitelist": {"type": "array", "items": open_object()},
            "clusterResourceBlacklist": {"type": "array", "items": open_object()},
            "namespaceResourceBlacklist": {"type": "array", "items": open_object()},
            "roles": {"type": "array", "items": open_object()},
            "syncWindows": {"type": "array", "items": open_object()},
            "sourceNamespaces": {"type": "array", "items": {"type": "string"}},
            "orphanedResources": open_object(),
            "signatureKeys": {"type": "array", "items": open_object()}
        }
    });
    vec![
        crd(
            "Application",
            "applications",
            &["app", "apps"],
            application_spec,
            application_columns,
        ),
        crd(
            "AppProject",
            "appprojects",
            &["appproj", "appprojs"],
            project_spec,
            json!([]),
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seed_style_application_round_trips_with_unknown_fields() {
        let yaml = json!({
            "apiVersion": "argoproj.io/v1alpha1",
            "kind": "Application",
            "metadata": {"name": "helloworld", "namespace": "argocd"},
            "spec": {
                "project": "default",
                "source": {
                    "repoURL": "https://github.com/zmberg/samples.git",
                    "path": "helloworld/charts",
                    "targetRevision": "hello_world",
                    "helm": {"parameters": [
                        {"name": "image.repository", "value": "zhaomingshan/kruise"},
                        {"name": "image.tag", "value": "hello_world-d92ae174b", "forceString": true}
                    ]},
                    "kustomize": {"namePrefix": "x-"}
                },
                "destination": {"server": IN_CLUSTER_SERVER, "namespace": "helloworld"},
                "info": [{"name": "team", "value": "a"}]
            }
        });
        let app: Application = serde_json::from_value(yaml.clone()).expect("valid application");
        let helm = app
            .spec
            .source
            .as_ref()
            .and_then(|s| s.helm.as_ref())
            .expect("helm source");
        assert_eq!(helm.parameters[1].name, "image.tag");
        assert!(helm.parameters[1].force_string);
        assert_eq!(app.spec.destination.namespace.as_deref(), Some("helloworld"));
        // Fields Ferry has no struct field for survive a round trip.
        assert_eq!(serde_json::to_value(&app).expect("serialises"), yaml);
    }

    #[test]
    fn crds_name_their_group_and_short_names() {
        let crds = crds();
        let names: Vec<&str> = crds
            .iter()
            .filter_map(|c| c["metadata"]["name"].as_str())
            .collect();
        assert_eq!(names, ["applications.argoproj.io", "appprojects.argoproj.io"]);
        assert_eq!(crds[0]["spec"]["names"]["shortNames"], json!(["app", "apps"]));
        let columns = &crds[0]["spec"]["versions"][0]["additionalPrinterColumns"];
        assert_eq!(columns[0]["jsonPath"], ".status.sync.status");
        assert!(crds[0]["spec"]["versions"][0].get("subresources").is_none());
    }
}
