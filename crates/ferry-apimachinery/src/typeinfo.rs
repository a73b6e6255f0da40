//! Structural knowledge about object shapes that patches and server-side apply need:
//! which lists merge by which key (`patchMergeKey`/`patchStrategy` for strategic merge patch,
//! `x-kubernetes-list-type`/`x-kubernetes-list-map-keys` for server-side apply) and which
//! objects are free-form maps (`labels`, `data`) rather than structs.
//!
//! Built-in kinds use a hand-written table of the commonly patched core/apps/batch types
//! (from the Kubernetes API's struct tags). Custom resources use their `openAPIV3Schema`
//! via [`Shape::Schema`]. Anything not described is [`Shape::Unknown`]: objects merge
//! field by field and lists are atomic (replaced whole), which is Kubernetes' default too.

use serde_json::Value;

/// How a list is merged by server-side apply (`x-kubernetes-list-type`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListType {
    /// Replaced as a whole (the default).
    Atomic,
    /// A set of scalars, merged by value.
    Set,
    /// A list of objects merged by the given key fields.
    Map(&'static [&'static str]),
    /// As `Map`, with keys taken from a CRD schema (owned strings).
    MapOwned(Vec<String>),
}

impl ListType {
    /// The key fields of a map list (empty otherwise).
    pub fn keys(&self) -> Vec<&str> {
        match self {
            Self::Map(k) => k.to_vec(),
            Self::MapOwned(k) => k.iter().map(String::as_str).collect(),
            _ => Vec::new(),
        }
    }
}

/// The shape of a value: a built-in type from the table, a CRD schema node, or unknown.
#[derive(Debug, Clone, Copy)]
pub enum Shape<'a> {
    /// A named built-in type (`PodSpec`, …) or `"map"` for a string-keyed free-form map.
    Builtin(&'static str),
    /// A node of an OpenAPI v3 (structural) schema.
    Schema(&'a Value),
    /// Nothing known.
    Unknown,
}

/// What is known about one field (for lists: about its elements).
#[derive(Debug, Clone)]
pub struct FieldShape<'a> {
    /// Shape of the value, or of each element for lists.
    pub shape: Shape<'a>,
    /// Server-side apply list semantics (meaningful only when the value is a list).
    pub list_type: ListType,
    /// Strategic-merge-patch `patchStrategy` (`""`, `merge`, `retainKeys`, `merge,retainKeys`, `replace`).
    pub patch_strategy: &'a str,
    /// Strategic-merge-patch `patchMergeKey` (`""` if none).
    pub merge_key: &'a str,
}

impl FieldShape<'_> {
    fn unknown() -> Self {
        Self {
            shape: Shape::Unknown,
            list_type: ListType::Atomic,
            patch_strategy: "",
            merge_key: "",
        }
    }
}

struct F {
    name: &'static str,
    ty: &'static str,
    strategy: &'static str,
    key: &'static str,
    list: ListType,
}

const fn s(name: &'static str, ty: &'static str) -> F {
    F {
        name,
        ty,
        strategy: "",
        key: "",
        list: ListType::Atomic,
    }
}
/// A list merged by key for both SMP (merge key) and SSA (list-map keys).
const fn lm(
    name: &'static str,
    ty: &'static str,
    strategy: &'static str,
    key: &'static str,
    keys: &'static [&'static str],
) -> F {
    F {
        name,
        ty,
        strategy,
        key,
        list: ListType::Map(keys),
    }
}
/// A list of scalars merged as a set.
const fn set(name: &'static str) -> F {
    F {
        name,
        ty: "",
        strategy: "merge",
        key: "",
        list: ListType::Set,
    }
}
/// A field with only an SMP strategy (e.g. retainKeys on a struct).
const fn strat(name: &'static str, ty: &'static str, strategy: &'static str) -> F {
    F {
        name,
        ty,
        strategy,
        key: "",
        list: ListType::Atomic,
    }
}

const NAME: &[&str] = &["name"];
const TYPE: &[&str] = &["type"];

static TYPES: &[(&str, &[F])] = &[
    (
        "ObjectMeta",
        &[
            s("labels", "map"),
            s("annotations", "map"),
            set("finalizers"),
            lm("ownerReferences", "", "merge", "uid", &["uid"]),
        ],
    ),
    ("LabelSelector", &[s("matchLabels", "map")]),
    // core/v1
    (
        "Pod",
        &[
            s("metadata", "ObjectMeta"),
            s("spec", "PodSpec"),
            s("status", "PodStatus"),
        ],
    ),
    (
        "PodTemplate",
        &[s("metadata", "ObjectMeta"), s("template", "PodTemplateSpec")],
    ),
    (
        "PodTemplateSpec",
        &[s("metadata", "ObjectMeta"), s("spec", "PodSpec")],
    ),
    (
        "PodSpec",
        &[
            lm("containers", "Container", "merge", "name", NAME),
            lm("initContainers", "Container", "merge", "name", NAME),
            lm("ephemeralContainers", "Container", "merge", "name", NAME),
            lm("volumes", "Volume", "merge,retainKeys", "name", NAME),
            lm("imagePullSecrets", "", "merge", "name", NAME),
            lm("hostAliases", "", "merge", "ip", &["ip"]),
            lm(
                "topologySpreadConstraints",
                "",
                "merge",
                "topologyKey",
                &["topologyKey", "whenUnsatisfiable"],
            ),
            lm("schedulingGates", "", "merge", "name", NAME),
            lm("resourceClaims", "", "merge,retainKeys", "name", NAME),
            s("nodeSelector", "atomicmap"),
            s("overhead", "map"),
        ],
    ),
    (
        "Container",
        &[
            lm("env", "EnvVar", "merge", "name", NAME),
            lm(
                "ports",
                "",
                "merge",
                "containerPort",
                &["containerPort", "protocol"],
            ),
            lm("volumeMounts", "", "merge", "mountPath", &["mountPath"]),
            lm("volumeDevices", "", "merge", "devicePath", &["devicePath"]),
            s("resources", "ResourceRequirements"),
        ],
    ),
    ("EnvVar", &[]),
    ("Volume", &[]),
    (
        "ResourceRequirements",
        &[
            s("limits", "map"),
            s("requests", "map"),
            lm("claims", "", "", "", NAME),
        ],
    ),
    (
        "PodStatus",
        &[
            lm("conditions", "", "merge", "type", TYPE),
            lm("podIPs", "", "merge", "ip", &["ip"]),
            lm("hostIPs", "", "merge", "ip", &["ip"]),
        ],
    ),
    (
        "Service",
        &[
            s("metadata", "ObjectMeta"),
            s("spec", "ServiceSpec"),
            s("status", "ServiceStatus"),
        ],
    ),
    (
        "ServiceSpec",
        &[
            lm("ports", "", "merge", "port", &["port", "protocol"]),
            s("selector", "atomicmap"),
        ],
    ),
    ("ServiceStatus", &[lm("conditions", "", "merge", "type", TYPE)]),
    (
        "ConfigMap",
        &[
            s("metadata", "ObjectMeta"),
            s("data", "map"),
            s("binaryData", "map"),
        ],
    ),
    (
        "Secret",
        &[
            s("metadata", "ObjectMeta"),
            s("data", "map"),
            s("stringData", "map"),
        ],
    ),
    (
        "Namespace",
        &[s("metadata", "ObjectMeta"), s("status", "NamespaceStatus")],
    ),
    ("NamespaceStatus", &[lm("conditions", "", "merge", "type", TYPE)]),
    (
        "Node",
        &[
            s("metadata", "ObjectMeta"),
            s("spec", "NodeSpec"),
            s("status", "NodeStatus"),
        ],
    ),
    ("NodeSpec", &[set("podCIDRs")]),
    (
        "NodeStatus",
        &[
            lm("conditions", "", "merge", "type", TYPE),
            lm("addresses", "", "merge", "type", TYPE),
            s("capacity", "map"),
            s("allocatable", "map"),
        ],
    ),
    (
        "ServiceAccount",
        &[
            s("metadata", "ObjectMeta"),
            lm("secrets", "", "merge", "name", NAME),
        ],
    ),
    (
        "PersistentVolumeClaim",
        &[
            s("metadata", "ObjectMeta"),
            s("spec", "PVCSpec"),
            s("status", "PVCStatus"),
        ],
    ),
    (
        "PVCSpec",
        &[
            s("resources", "ResourceRequirements"),
            s("selector", "LabelSelector"),
        ],
    ),
    (
        "PVCStatus",
        &[lm("conditions", "", "merge", "type", TYPE), s("capacity", "map")],
    ),
    ("Generic", &[s("metadata", "ObjectMeta")]),
    (
        "ReplicationController",
        &[
            s("metadata", "ObjectMeta"),
            s("spec", "ReplicationControllerSpec"),
            s("status", "WorkloadStatus"),
        ],
    ),
    (
        "ReplicationControllerSpec",
        &[s("selector", "atomicmap"), s("template", "PodTemplateSpec")],
    ),
    // A struct whose fields are not described (non-pointer Go structs: never "added" as a whole).
    ("Struct", &[]),
    // apps/v1
    (
        "Deployment",
        &[
            s("metadata", "ObjectMeta"),
            s("spec", "DeploymentSpec"),
            s("status", "WorkloadStatus"),
        ],
    ),
    (
        "DeploymentSpec",
        &[
            s("selector", "LabelSelector"),
            s("template", "PodTemplateSpec"),
            strat("strategy", "Struct", "retainKeys"),
        ],
    ),
    ("WorkloadStatus", &[lm("conditions", "", "merge", "type", TYPE)]),
    (
        "ReplicaSet",
        &[
            s("metadata", "ObjectMeta"),
            s("spec", "ReplicaSetSpec"),
            s("status", "WorkloadStatus"),
        ],
    ),
    (
        "ReplicaSetSpec",
        &[s("selector", "LabelSelector"), s("template", "PodTemplateSpec")],
    ),
    (
        "StatefulSet",
        &[
            s("metadata", "ObjectMeta"),
            s("spec", "StatefulSetSpec"),
            s("status", "WorkloadStatus"),
        ],
    ),
    (
        "StatefulSetSpec",
        &[
            s("selector", "LabelSelector"),
            s("template", "PodTemplateSpec"),
            s("updateStrategy", "Struct"),
        ],
    ),
    (
        "DaemonSet",
        &[
            s("metadata", "ObjectMeta"),
            s("spec", "DaemonSetSpec"),
            s("status", "WorkloadStatus"),
        ],
    ),
    (
        "DaemonSetSpec",
        &[
            s("selector", "LabelSelector"),
            s("template", "PodTemplateSpec"),
            s("updateStrategy", "Struct"),
        ],
    ),
    // batch/v1 (Job conditions: patchStrategy merge by type, but listType atomic for apply)
    (
        "Job",
        &[
            s("metadata", "ObjectMeta"),
            s("spec", "JobSpec"),
            s("status", "JobStatus"),
        ],
    ),
    (
        "JobSpec",
        &[s("selector", "LabelSelector"), s("template", "PodTemplateSpec")],
    ),
    (
        "JobStatus",
        &[F {
            name: "conditions",
            ty: "",
            strategy: "merge",
            key: "type",
            list: ListType::Atomic,
        }],
    ),
    (
        "CronJob",
        &[s("metadata", "ObjectMeta"), s("spec", "CronJobSpec")],
    ),
    ("CronJobSpec", &[s("jobTemplate", "JobTemplateSpec")]),
    (
        "JobTemplateSpec",
        &[s("metadata", "ObjectMeta"), s("spec", "JobSpec")],
    ),
];

fn table(ty: &str) -> Option<&'static [F]> {
    TYPES.iter().find(|(n, _)| *n == ty).map(|(_, f)| *f)
}

/// The built-in kinds ([group, kind]) Ferry serves; their patches may be strategic.
const BUILTIN_KINDS: &[(&str, &str)] = &[
    ("", "Namespace"),
    ("", "Pod"),
    ("", "Service"),
    ("", "Endpoints"),
    ("", "ConfigMap"),
    ("", "Secret"),
    ("", "ServiceAccount"),
    ("", "Event"),
    ("", "PersistentVolumeClaim"),
    ("", "PersistentVolume"),
    ("", "Node"),
    ("", "PodTemplate"),
    ("", "ReplicationController"),
    ("", "LimitRange"),
    ("", "ResourceQuota"),
    ("apps", "Deployment"),
    ("apps", "ReplicaSet"),
    ("apps", "StatefulSet"),
    ("apps", "DaemonSet"),
    ("apps", "ControllerRevision"),
    ("batch", "Job"),
    ("batch", "CronJob"),
    ("networking.k8s.io", "Ingress"),
    ("networking.k8s.io", "IngressClass"),
    ("networking.k8s.io", "NetworkPolicy"),
    ("coordination.k8s.io", "Lease"),
    ("events.k8s.io", "Event"),
    ("apiextensions.k8s.io", "CustomResourceDefinition"),
    ("rbac.authorization.k8s.io", "Role"),
    ("rbac.authorization.k8s.io", "RoleBinding"),
    ("rbac.authorization.k8s.io", "ClusterRole"),
    ("rbac.authorization.k8s.io", "ClusterRoleBinding"),
    ("policy", "PodDisruptionBudget"),
    ("autoscaling", "HorizontalPodAutoscaler"),
];

/// Whether `group`/`kind` is a built-in (compiled-in) kind. Only these accept
/// `application/strategic-merge-patch+json`; custom resources answer 415 Unsupported Media Type.
pub fn is_strategic_merge_capable(group: &str, kind: &str) -> bool {
    BUILTIN_KINDS.iter().any(|(g, k)| *g == group && *k == kind)
}

impl<'a> Shape<'a> {
    /// The root shape of a built-in kind (`Unknown` fields beyond `metadata` for kinds not in the table).
    pub fn for_builtin(group: &str, kind: &str) -> Shape<'static> {
        if !is_strategic_merge_capable(group, kind) {
            return Shape::Unknown;
        }
        match table(kind) {
            Some(_) => Shape::Builtin(kind_type(kind)),
            None => Shape::Builtin("Generic"),
        }
    }

    /// The root shape for a custom resource from its version's `openAPIV3Schema`; `metadata`
    /// is always treated as ObjectMeta.
    pub fn for_schema(schema: &'a Value) -> Shape<'a> {
        Shape::Schema(schema)
    }

    /// True when this shape is a free-form string-keyed map (labels, data, additionalProperties).
    pub fn is_map(&self) -> bool {
        match self {
            Shape::Builtin(t) => *t == "map" || *t == "atomicmap",
            Shape::Schema(s) => {
                s.get("properties").is_none()
                    && s.get("additionalProperties")
                        .is_some_and(|a| a != &Value::Bool(false))
            }
            Shape::Unknown => false,
        }
    }

    /// True when server-side apply treats this object as one value (`+structType=atomic`,
    /// `+mapType=atomic`, `x-kubernetes-map-type: atomic`): owned and replaced as a whole.
    /// Strategic merge patch still merges such objects key by key, as upstream does.
    pub fn is_atomic(&self) -> bool {
        match self {
            Shape::Builtin(t) => matches!(*t, "atomicmap" | "LabelSelector"),
            Shape::Schema(s) => s.get("x-kubernetes-map-type").and_then(Value::as_str) == Some("atomic"),
            Shape::Unknown => false,
        }
    }

    /// What is known about field `name` of this (object) shape.
    pub fn field(&self, name: &str) -> FieldShape<'a> {
        match self {
            Shape::Builtin(ty) => {
                let Some(f) = table(ty).and_then(|fs| fs.iter().find(|f| f.name == name)) else {
                    return FieldShape::unknown();
                };
                let shape = if f.ty.is_empty() {
                    Shape::Unknown
                } else {
                    Shape::Builtin(f.ty)
                };
                FieldShape {
                    shape,
                    list_type: f.list.clone(),
                    patch_strategy: f.strategy,
                    merge_key: f.key,
                }
            }
            Shape::Schema(schema) => {
                if name == "metadata"
                    && schema
                        .get("properties")
                        .and_then(|p| p.get("metadata"))
                        .is_some_and(|m| m.get("properties").is_none())
                {
                    return FieldShape {
                        shape: Shape::Builtin("ObjectMeta"),
                        ..FieldShape::unknown()
                    };
                }
                let node = schema
                    .get("properties")
                    .and_then(|p| p.get(name))
                    .or_else(|| schema.get("additionalProperties").filter(|a| a.is_object()));
                match node {
                    None => {
                        if name == "metadata" {
                            FieldShape {
                                shape: Shape::Builtin("ObjectMeta"),
                                ..FieldShape::unknown()
                            }
                        } else {
                            FieldShape::unknown()
                        }
                    }
                    // A free-form `template` in a workload CRD (CloneSet's schema keeps the pod
                    // template as preserve-unknown-fields) is a pod template: merge its lists by
                    // the built-in keys, as the full upstream schema (listType=map) would.
                    Some(node) if name == "template" && is_free_form(node) => FieldShape {
                        shape: Shape::Builtin("PodTemplateSpec"),
                        ..FieldShape::unknown()
                    },
                    Some(node) => schema_field(node),
                }
            }
            Shape::Unknown => FieldShape::unknown(),
        }
    }
}

fn kind_type(kind: &str) -> &'static str {
    TYPES
        .iter()
        .find(|(n, _)| *n == kind)
        .map(|(n, _)| *n)
        .unwrap_or("Generic")
}

fn is_free_form(node: &Value) -> bool {
    node.get("properties").is_none()
        && node
            .get("x-kubernetes-preserve-unknown-fields")
            .and_then(Value::as_bool)
            == Some(true)
}

fn schema_field(node: &Value) -> FieldShape<'_> {
    if node.get("type").and_then(Value::as_str) == Some("array") {
        let item = node.get("items").map(Shape::Schema).unwrap_or(Shape::Unknown);
        let list_type = match node.get("x-kubernetes-list-type").and_then(Value::as_str) {
            Some("set") => ListType::Set,
            Some("map") => {
                let keys: Vec<String> = node
                    .get("x-kubernetes-list-map-keys")
                    .and_then(Value::as_array)
                    .map(|a| a.iter().filter_map(|k| k.as_str().map(str::to_string)).collect())
                    .unwrap_or_default();
                if keys.is_empty() {
                    ListType::Atomic
                } else {
                    ListType::MapOwned(keys)
                }
            }
            _ => ListType::Atomic,
        };
        return FieldShape {
            shape: item,
            list_type,
            patch_strategy: "",
            merge_key: "",
        };
    }
    let shape = if node.get("properties").is_none()
        && node.get("additionalProperties").is_none()
        && node.get("x-kubernetes-preserve-unknown-fields").is_some()
    {
        Shape::Unknown
    } else {
        Shape::Schema(node)
    };
    FieldShape {
        shape,
        list_type: ListType::Atomic,
        patch_strategy: "",
        merge_key: "",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn builtin_lookup() {
        let pod = Shape::for_builtin("", "Pod");
        let spec = pod.field("spec").shape;
        let containers = spec.field("containers");
        assert_eq!(containers.merge_key, "name");
        assert_eq!(containers.list_type.keys(), vec!["name"]);
        let ports = containers.shape.field("ports");
        assert_eq!(ports.merge_key, "containerPort");
        assert_eq!(ports.list_type.keys(), vec!["containerPort", "protocol"]);
        assert!(pod.field("metadata").shape.field("labels").shape.is_map());
        assert!(!pod.field("metadata").shape.field("labels").shape.is_atomic());
        assert!(spec.field("nodeSelector").shape.is_atomic());
        assert!(
            Shape::for_builtin("apps", "Deployment")
                .field("spec")
                .shape
                .field("selector")
                .shape
                .is_atomic()
        );
        assert_eq!(spec.field("tolerations").list_type, ListType::Atomic);
        assert_eq!(spec.field("tolerations").patch_strategy, "");
        let deploy = Shape::for_builtin("apps", "Deployment");
        let tmpl_containers = deploy
            .field("spec")
            .shape
            .field("template")
            .shape
            .field("spec")
            .shape
            .field("containers");
        assert_eq!(tmpl_containers.merge_key, "name");
        assert_eq!(
            deploy.field("spec").shape.field("strategy").patch_strategy,
            "retainKeys"
        );
        // Lease is served but not in the table: metadata still known.
        let lease = Shape::for_builtin("coordination.k8s.io", "Lease");
        assert_eq!(
            lease.field("metadata").shape.field("finalizers").list_type,
            ListType::Set
        );
        assert!(matches!(
            Shape::for_builtin("apps.kruise.io", "CloneSet"),
            Shape::Unknown
        ));
    }

    #[test]
    fn smp_capability() {
        for (g, k, want) in [
            ("", "ConfigMap", true),
            ("apps", "Deployment", true),
            ("apps.kruise.io", "CloneSet", false),
            ("tekton.dev", "Task", false),
            ("", "Nope", false),
        ] {
            assert_eq!(is_strategic_merge_capable(g, k), want, "{g}/{k}");
        }
    }

    #[test]
    fn schema_lookup() {
        let schema = json!({"type": "object", "properties": {
            "metadata": {"type": "object"},
            "spec": {"type": "object", "properties": {
                "items": {"type": "array", "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"], "items": {"type": "object"}},
                "tags": {"type": "array", "x-kubernetes-list-type": "set", "items": {"type": "string"}},
                "args": {"type": "array", "items": {"type": "string"}},
                "labels": {"type": "object", "additionalProperties": {"type": "string"}},
                "free": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}
            }}
        }});
        let root = Shape::for_schema(&schema);
        let spec = root.field("spec").shape;
        assert_eq!(spec.field("items").list_type.keys(), vec!["name"]);
        assert_eq!(spec.field("tags").list_type, ListType::Set);
        assert_eq!(spec.field("args").list_type, ListType::Atomic);
        assert!(spec.field("labels").shape.is_map());
        assert!(matches!(spec.field("free").shape, Shape::Unknown));
        assert!(matches!(spec.field("nope").shape, Shape::Unknown));
        assert!(matches!(
            root.field("metadata").shape,
            Shape::Builtin("ObjectMeta")
        ));
    }
}
