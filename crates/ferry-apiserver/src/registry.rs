//! The resource registry: every served group/version/resource, built-in or from a CRD.

use std::{
    collections::BTreeMap,
    sync::{Arc, RwLock},
};

use serde_json::{Value, json};

/// Where `/scale` reads and writes replicas on a resource.
#[derive(Debug, Clone, PartialEq)]
pub struct ScalePaths {
    pub spec_replicas: String,
    pub status_replicas: String,
    pub label_selector: Option<String>,
}

/// One served resource at one version.
#[derive(Debug, Clone, PartialEq)]
pub struct ResourceInfo {
    pub group: String,
    pub version: String,
    pub plural: String,
    pub singular: String,
    pub kind: String,
    pub namespaced: bool,
    pub short_names: Vec<String>,
    pub categories: Vec<String>,
    pub has_status: bool,
    pub scale: Option<ScalePaths>,
    /// A CRD version's `additionalPrinterColumns` as written (None for built-ins, whose columns
    /// come from `ferry_apimachinery::table`, and for CRDs without any, which show Age).
    pub printer_columns: Option<Vec<Value>>,
    /// The CRD's `openAPIV3Schema` for this version (None for built-ins).
    pub schema: Option<Value>,
    /// Whether `metadata.generation` tracks spec changes.
    pub tracks_generation: bool,
    /// True for custom resources.
    pub custom: bool,
    /// Pods accept `/binding`.
    pub has_binding: bool,
}

impl ResourceInfo {
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.clone()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    /// Whether this is events.k8s.io/v1 Event, a view of the core/v1 Event storage.
    pub fn is_events_v1_event(&self) -> bool {
        self.group == "events.k8s.io" && self.kind == "Event"
    }

    /// Storage prefix of all objects of this resource (all versions share it; events.k8s.io
    /// Events share core/v1 Events' storage, as in kube-apiserver).
    pub fn prefix(&self) -> String {
        let group = if self.group.is_empty() || self.is_events_v1_event() {
            "core"
        } else {
            &self.group
        };
        format!("/{group}/{}/", self.plural)
    }

    pub fn namespace_prefix(&self, namespace: Option<&str>) -> String {
        match (self.namespaced, namespace) {
            (true, Some(ns)) => format!("{}{ns}/", self.prefix()),
            _ => self.prefix(),
        }
    }

    pub fn key(&self, namespace: Option<&str>, name: &str) -> String {
        match (self.namespaced, namespace) {
            (true, Some(ns)) => format!("{}{ns}/{name}", self.prefix()),
            _ => format!("{}{name}", self.prefix()),
        }
    }

    /// This resource as `ferry_apimachinery::openapi` describes it.
    pub fn description(&self) -> ferry_apimachinery::openapi::ResourceDescription {
        let mut subresources = Vec::new();
        if self.has_status {
            subresources.push("status".to_string());
        }
        if self.scale.is_some() {
            subresources.push("scale".to_string());
        }
        if self.has_binding {
            subresources.push("binding".to_string());
        }
        ferry_apimachinery::openapi::ResourceDescription {
            group: self.group.clone(),
            version: self.version.clone(),
            kind: self.kind.clone(),
            plural: self.plural.clone(),
            singular: self.singular.clone(),
            namespaced: self.namespaced,
            verbs: self.verbs().into_iter().map(str::to_string).collect(),
            short_names: self.short_names.clone(),
            categories: self.categories.clone(),
            subresources,
            schema: self.schema.clone(),
            builtin: !self.custom,
        }
    }

    pub fn verbs(&self) -> Vec<&'static str> {
        vec![
            "create",
            "delete",
            "deletecollection",
            "get",
            "list",
            "patch",
            "update",
            "watch",
        ]
    }
}

struct Builtin {
    group: &'static str,
    version: &'static str,
    plural: &'static str,
    kind: &'static str,
    namespaced: bool,
    short: &'static [&'static str],
    categories: &'static [&'static str],
    status: bool,
    scale: bool,
    generation: bool,
}

#[allow(clippy::too_many_arguments)] // a table row constructor: one argument per column
const fn b(
    group: &'static str,
    version: &'static str,
    plural: &'static str,
    kind: &'static str,
    namespaced: bool,
    short: &'static [&'static str],
    categories: &'static [&'static str],
    status: bool,
    scale: bool,
    generation: bool,
) -> Builtin {
    Builtin {
        group,
        version,
        plural,
        kind,
        namespaced,
        short,
        categories,
        status,
        scale,
        generation,
    }
}

const ALL: &[&str] = &["all"];
const NONE: &[&str] = &[];

const BUILTINS: &[Builtin] = &[
    b(
        "",
        "v1",
        "namespaces",
        "Namespace",
        false,
        &["ns"],
        NONE,
        true,
        false,
        false,
    ),
    b("", "v1", "pods", "Pod", true, &["po"], ALL, true, false, false),
    b(
        "",
        "v1",
        "services",
        "Service",
        true,
        &["svc"],
        ALL,
        true,
        false,
        false,
    ),
    b(
        "",
        "v1",
        "endpoints",
        "Endpoints",
        true,
        &["ep"],
        NONE,
        false,
        false,
        false,
    ),
    b(
        "",
        "v1",
        "configmaps",
        "ConfigMap",
        true,
        &["cm"],
        NONE,
        false,
        false,
        false,
    ),
    b(
        "", "v1", "secrets", "Secret", true, NONE, NONE, false, false, false,
    ),
    b(
        "",
        "v1",
        "serviceaccounts",
        "ServiceAccount",
        true,
        &["sa"],
        NONE,
        false,
        false,
        false,
    ),
    b(
        "",
        "v1",
        "events",
        "Event",
        true,
        &["ev"],
        NONE,
        false,
        false,
        false,
    ),
    b(
        "",
        "v1",
        "persistentvolumeclaims",
        "PersistentVolumeClaim",
        true,
        &["pvc"],
        NONE,
        true,
        false,
        false,
    ),
    b(
        "",
        "v1",
        "nodes",
        "Node",
        false,
        &["no"],
        NONE,
        true,
        false,
        false,
    ),
    b(
        "apps",
        "v1",
        "deployments",
        "Deployment",
        true,
        &["deploy"],
        ALL,
        true,
        true,
        true,
    ),
    b(
        "apps",
        "v1",
        "replicasets",
        "ReplicaSet",
        true,
        &["rs"],
        ALL,
        true,
        true,
        true,
    ),
    b(
        "apps",
        "v1",
        "statefulsets",
        "StatefulSet",
        true,
        &["sts"],
        ALL,
        true,
        true,
        true,
    ),
    b(
        "apps",
        "v1",
        "daemonsets",
        "DaemonSet",
        true,
        &["ds"],
        ALL,
        true,
        false,
        true,
    ),
    b(
        "apps",
        "v1",
        "controllerrevisions",
        "ControllerRevision",
        true,
        NONE,
        NONE,
        false,
        false,
        false,
    ),
    b("batch", "v1", "jobs", "Job", true, NONE, ALL, true, false, true),
    b(
        "batch",
        "v1",
        "cronjobs",
        "CronJob",
        true,
        &["cj"],
        ALL,
        true,
        false,
        true,
    ),
    b(
        "networking.k8s.io",
        "v1",
        "ingresses",
        "Ingress",
        true,
        &["ing"],
        NONE,
        true,
        false,
        true,
    ),
    b(
        "coordination.k8s.io",
        "v1",
        "leases",
        "Lease",
        true,
        NONE,
        NONE,
        false,
        false,
        false,
    ),
    b(
        "events.k8s.io",
        "v1",
        "events",
        "Event",
        true,
        &["ev"],
        NONE,
        false,
        false,
        false,
    ),
    b(
        "apiextensions.k8s.io",
        "v1",
        "customresourcedefinitions",
        "CustomResourceDefinition",
        false,
        &["crd", "crds"],
        &["api-extensions"],
        true,
        false,
        true,
    ),
];

fn singular_of(kind: &str) -> String {
    kind.to_ascii_lowercase()
}

pub fn builtin_resources() -> Vec<ResourceInfo> {
    BUILTINS
        .iter()
        .map(|bi| ResourceInfo {
            group: bi.group.into(),
            version: bi.version.into(),
            plural: bi.plural.into(),
            singular: singular_of(bi.kind),
            kind: bi.kind.into(),
            namespaced: bi.namespaced,
            short_names: bi.short.iter().map(|s| s.to_string()).collect(),
            categories: bi.categories.iter().map(|s| s.to_string()).collect(),
            has_status: bi.status,
            scale: bi.scale.then(|| ScalePaths {
                spec_replicas: ".spec.replicas".into(),
                status_replicas: ".status.replicas".into(),
                label_selector: Some(".status.selector".into()),
            }),
            printer_columns: None,
            schema: None,
            tracks_generation: bi.generation,
            custom: false,
            has_binding: bi.plural == "pods",
        })
        .collect()
}

fn strings(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).map(str::to_string).collect())
        .unwrap_or_default()
}

/// Why a CRD cannot be served.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("CustomResourceDefinition {name:?}: {field}: {message}")]
pub struct CrdError {
    pub name: String,
    pub field: String,
    pub message: String,
}

/// The resources a CRD object serves (one per served version).
pub fn crd_resources(crd: &Value) -> Result<Vec<ResourceInfo>, CrdError> {
    let name = crd
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let err = |field: &str, message: &str| CrdError {
        name: name.clone(),
        field: field.into(),
        message: message.into(),
    };
    let spec = crd.get("spec").ok_or_else(|| err("spec", "Required value"))?;
    let group = spec
        .get("group")
        .and_then(Value::as_str)
        .ok_or_else(|| err("spec.group", "Required value"))?;
    let names = spec
        .get("names")
        .ok_or_else(|| err("spec.names", "Required value"))?;
    let plural = names
        .get("plural")
        .and_then(Value::as_str)
        .ok_or_else(|| err("spec.names.plural", "Required value"))?;
    let kind = names
        .get("kind")
        .and_then(Value::as_str)
        .ok_or_else(|| err("spec.names.kind", "Required value"))?;
    let singular = names
        .get("singular")
        .and_then(Value::as_str)
        .map(str::to_string)
        .unwrap_or_else(|| singular_of(kind));
    let namespaced = match spec.get("scope").and_then(Value::as_str) {
        Some("Namespaced") => true,
        Some("Cluster") => false,
        _ => {
            return Err(err(
                "spec.scope",
                "Unsupported value: must be Namespaced or Cluster",
            ));
        }
    };
    if format!("{plural}.{group}") != name {
        return Err(err("metadata.name", "must be spec.names.plural+\".\"+spec.group"));
    }
    let versions = spec
        .get("versions")
        .and_then(Value::as_array)
        .ok_or_else(|| err("spec.versions", "Required value"))?;
    let mut out = Vec::new();
    for (i, v) in versions.iter().enumerate() {
        let vname = v
            .get("name")
            .and_then(Value::as_str)
            .ok_or_else(|| err(&format!("spec.versions[{i}].name"), "Required value"))?;
        if v.get("served").and_then(Value::as_bool) == Some(false) {
            continue;
        }
        let sub = v.get("subresources");
        let scale = sub.and_then(|s| s.get("scale")).map(|s| ScalePaths {
            spec_replicas: s
                .get("specReplicasPath")
                .and_then(Value::as_str)
                .unwrap_or(".spec.replicas")
                .into(),
            status_replicas: s
                .get("statusReplicasPath")
                .and_then(Value::as_str)
                .unwrap_or(".status.replicas")
                .into(),
            label_selector: s
                .get("labelSelectorPath")
                .and_then(Value::as_str)
                .map(str::to_string),
        });
        let printer_columns = v
            .get("additionalPrinterColumns")
            .and_then(Value::as_array)
            .filter(|cols| !cols.is_empty())
            .cloned();
        out.push(ResourceInfo {
            group: group.into(),
            version: vname.into(),
            plural: plural.into(),
            singular: singular.clone(),
            kind: kind.into(),
            namespaced,
            short_names: strings(names.get("shortNames")),
            categories: strings(names.get("categories")),
            has_status: sub.and_then(|s| s.get("status")).is_some(),
            scale,
            printer_columns,
            schema: v.pointer("/schema/openAPIV3Schema").cloned(),
            tracks_generation: true,
            custom: true,
            has_binding: false,
        });
    }
    Ok(out)
}

/// The storage version of a CRD (the version written to storage): the one with `storage: true`.
pub fn crd_storage_version(crd: &Value) -> Option<String> {
    crd.pointer("/spec/versions")?
        .as_array()?
        .iter()
        .find(|v| v.get("storage").and_then(Value::as_bool) == Some(true))
        .and_then(|v| v.get("name")?.as_str().map(str::to_string))
}

/// (group, version, plural).
type ResourceKey = (String, String, String);

/// All served resources, keyed by (group, version, plural). CRD resources are swapped as CRDs change.
#[derive(Default)]
pub struct Registry {
    resources: RwLock<BTreeMap<(String, String, String), Arc<ResourceInfo>>>,
    /// CRD name → the keys it contributed.
    crds: RwLock<BTreeMap<String, Vec<ResourceKey>>>,
    /// The OpenAPI documents of the current set of resources, built on first request
    /// ([`crate::discovery::serve_openapi_v3`]); replaced when a CRD changes that set.
    pub(crate) openapi: std::sync::Mutex<Option<Arc<crate::discovery::OpenApiSnapshot>>>,
}

impl Registry {
    pub fn with_builtins() -> Self {
        let r = Registry::default();
        if let Ok(mut map) = r.resources.write() {
            for info in builtin_resources() {
                map.insert(
                    (info.group.clone(), info.version.clone(), info.plural.clone()),
                    Arc::new(info),
                );
            }
        }
        r
    }

    pub fn get(&self, group: &str, version: &str, plural: &str) -> Option<Arc<ResourceInfo>> {
        let map = self.resources.read().ok()?;
        map.get(&(group.to_string(), version.to_string(), plural.to_string()))
            .cloned()
    }

    pub fn all(&self) -> Vec<Arc<ResourceInfo>> {
        self.resources
            .read()
            .map(|m| m.values().cloned().collect())
            .unwrap_or_default()
    }

    /// The OpenAPI v3 index and documents of everything served now.
    pub fn openapi_v3(&self) -> ferry_apimachinery::openapi::OpenApiV3 {
        let descriptions: Vec<_> = self.all().iter().map(|r| r.description()).collect();
        ferry_apimachinery::openapi::build_openapi_v3(&descriptions)
    }

    /// One resource per storage prefix (for namespace cleanup and garbage collection).
    pub fn distinct_storage(&self) -> Vec<Arc<ResourceInfo>> {
        let mut seen = std::collections::BTreeSet::new();
        self.all()
            .into_iter()
            .filter(|r| seen.insert(r.prefix()))
            .collect()
    }

    pub fn find_kind(&self, api_version: &str, kind: &str) -> Option<Arc<ResourceInfo>> {
        let (group, version) = split_api_version(api_version);
        self.all()
            .into_iter()
            .find(|r| r.group == group && r.version == version && r.kind == kind)
    }

    /// Group → versions, in preference order (the CRD's declared order, "v1" first for built-ins).
    pub fn groups(&self) -> Vec<(String, Vec<String>)> {
        let mut out: Vec<(String, Vec<String>)> = Vec::new();
        for r in self.all() {
            match out.iter_mut().find(|(g, _)| *g == r.group) {
                Some((_, versions)) => {
                    if !versions.contains(&r.version) {
                        versions.push(r.version.clone());
                    }
                }
                None => out.push((r.group.clone(), vec![r.version.clone()])),
            }
        }
        for (_, versions) in &mut out {
            versions.sort_by_key(|v| std::cmp::Reverse(version_priority(v)));
        }
        out
    }

    pub fn install_crd(&self, crd: &Value) -> Result<(), CrdError> {
        let name = crd
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let infos = crd_resources(crd)?;
        self.remove_crd(&name);
        let mut keys = Vec::new();
        if let Ok(mut map) = self.resources.write() {
            for info in infos {
                let key = (info.group.clone(), info.version.clone(), info.plural.clone());
                keys.push(key.clone());
                map.insert(key, Arc::new(info));
            }
        }
        if let Ok(mut crds) = self.crds.write() {
            crds.insert(name, keys);
        }
        Ok(())
    }

    pub fn remove_crd(&self, name: &str) {
        let keys = self
            .crds
            .write()
            .ok()
            .and_then(|mut c| c.remove(name))
            .unwrap_or_default();
        if let Ok(mut map) = self.resources.write() {
            for k in keys {
                map.remove(&k);
            }
        }
    }
}

/// Kubernetes version ordering: GA > beta > alpha, higher numbers first.
pub fn version_priority(v: &str) -> (u8, u32, u32) {
    let Some(rest) = v.strip_prefix('v') else {
        return (0, 0, 0);
    };
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    let major = digits.parse().unwrap_or(0);
    let tail = &rest[digits.len()..];
    let (level, minor) = if tail.is_empty() {
        (3, 0)
    } else if let Some(n) = tail.strip_prefix("beta") {
        (2, n.parse().unwrap_or(0))
    } else if let Some(n) = tail.strip_prefix("alpha") {
        (1, n.parse().unwrap_or(0))
    } else {
        (0, 0)
    };
    (level, major, minor)
}

pub fn split_api_version(api_version: &str) -> (&str, &str) {
    match api_version.split_once('/') {
        Some((g, v)) => (g, v),
        None => ("", api_version),
    }
}

/// The `scale` subresource's response kind (autoscaling/v1 Scale).
pub fn scale_kind() -> Value {
    json!({"group": "autoscaling", "version": "v1", "kind": "Scale"})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crd_versions_become_resources() {
        let crd = json!({
            "metadata": {"name": "clonesets.apps.kruise.io"},
            "spec": {"group": "apps.kruise.io", "scope": "Namespaced",
                "names": {"plural": "clonesets", "kind": "CloneSet", "shortNames": ["clone"]},
                "versions": [{"name": "v1alpha1", "served": true, "storage": true,
                    "subresources": {"status": {}, "scale": {"specReplicasPath": ".spec.replicas", "statusReplicasPath": ".status.replicas", "labelSelectorPath": ".status.labelSelector"}},
                    "additionalPrinterColumns": [{"name": "DESIRED", "type": "integer", "jsonPath": ".spec.replicas"}]}]}
        });
        let infos = crd_resources(&crd).unwrap();
        assert_eq!(infos.len(), 1);
        let info = &infos[0];
        assert_eq!(
            (info.kind.as_str(), info.singular.as_str(), info.namespaced),
            ("CloneSet", "cloneset", true)
        );
        assert_eq!(info.short_names, ["clone"]);
        assert!(info.has_status);
        assert_eq!(
            info.scale
                .as_ref()
                .and_then(|s| s.label_selector.clone())
                .as_deref(),
            Some(".status.labelSelector")
        );
        assert_eq!(
            info.printer_columns
                .as_deref()
                .and_then(|c| c.first())
                .and_then(|c| c.get("name")),
            Some(&json!("DESIRED"))
        );
        assert_eq!(info.key(Some("ns"), "a"), "/apps.kruise.io/clonesets/ns/a");
    }

    #[test]
    fn openapi_index_points_at_documents_declaring_field_validation() {
        let reg = Registry::with_builtins();
        let api = reg.openapi_v3();
        let url = api.index["paths"]["api/v1"]["serverRelativeURL"]
            .as_str()
            .unwrap_or_default();
        assert!(url.starts_with("/openapi/v3/api/v1?hash="), "{url}");
        let patch = &api.documents["api/v1"]["paths"]["/api/v1/namespaces/{name}"]["patch"];
        assert!(
            patch["parameters"]
                .as_array()
                .is_some_and(|ps| ps.iter().any(|p| p["name"] == "fieldValidation")),
            "{patch}"
        );
        assert_eq!(patch["x-kubernetes-group-version-kind"]["kind"], "Namespace");
        assert!(!api.documents.contains_key("apis/nope/v1"));
    }

    #[test]
    fn bad_crds_name_the_field() {
        let crd = json!({"metadata": {"name": "x.y"}, "spec": {"group": "y", "scope": "Nowhere", "names": {"plural": "x", "kind": "X"}, "versions": []}});
        assert_eq!(crd_resources(&crd).unwrap_err().field, "spec.scope");
    }

    #[test]
    fn versions_sort_like_kubernetes() {
        let mut v = vec!["v1alpha1", "v1beta1", "v1", "v2beta1", "v2"];
        v.sort_by_key(|v| std::cmp::Reverse(version_priority(v)));
        assert_eq!(v, ["v2", "v1", "v2beta1", "v1beta1", "v1alpha1"]);
    }
}
