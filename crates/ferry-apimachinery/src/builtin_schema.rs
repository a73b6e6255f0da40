//! OpenAPI v3 schemas of the built-in kinds Ferry serves, and unknown-field detection
//! (`fieldValidation`) driven by them.
//!
//! The schemas come from k8s-openapi's `JsonSchema` impls (its `schemars` feature: types and
//! upstream descriptions for Kubernetes 1.33), generated once per process. They are completed
//! with what kube-apiserver publishes and k8s-openapi leaves out: `x-kubernetes-patch-merge-key`,
//! `x-kubernetes-patch-strategy`, `x-kubernetes-list-type` and `x-kubernetes-list-map-keys`
//! (from the Go markers in [`crate::protobuf::MESSAGES`]), and `x-kubernetes-group-version-kind`
//! on each kind.
//!
//! From the same definitions a compact field tree is compiled once; [`prune_unknown_fields`]
//! walks an object against it, removes fields the kind does not declare and returns their paths
//! (`spec.template.spec.containers[0].imagePullPolicyy`), which is what kube-apiserver's strict
//! decoding reports.

use std::{collections::HashMap, sync::OnceLock};

use k8s_openapi::{
    api::{apps, autoscaling, batch, coordination, core, events, networking},
    apiextensions_apiserver::pkg::apis::apiextensions,
    apimachinery::pkg::apis::meta,
};
use schemars::{JsonSchema, SchemaGenerator, generate::SchemaSettings};
use serde_json::{Map, Value, json};

use crate::protobuf::{self, Message, Ty};

type Generate = fn(&mut SchemaGenerator) -> schemars::Schema;

fn schema_of<T: JsonSchema>(g: &mut SchemaGenerator) -> schemars::Schema {
    g.subschema_for::<T>()
}

/// Every built-in kind with a schema: (group, version, kind, generator).
const KINDS: &[(&str, &str, &str, Generate)] = &[
    ("", "v1", "Namespace", schema_of::<core::v1::Namespace>),
    ("", "v1", "Pod", schema_of::<core::v1::Pod>),
    ("", "v1", "Service", schema_of::<core::v1::Service>),
    ("", "v1", "Endpoints", schema_of::<core::v1::Endpoints>),
    ("", "v1", "ConfigMap", schema_of::<core::v1::ConfigMap>),
    ("", "v1", "Secret", schema_of::<core::v1::Secret>),
    ("", "v1", "ServiceAccount", schema_of::<core::v1::ServiceAccount>),
    ("", "v1", "Event", schema_of::<core::v1::Event>),
    (
        "",
        "v1",
        "PersistentVolumeClaim",
        schema_of::<core::v1::PersistentVolumeClaim>,
    ),
    ("", "v1", "Node", schema_of::<core::v1::Node>),
    ("", "v1", "Binding", schema_of::<core::v1::Binding>),
    ("apps", "v1", "Deployment", schema_of::<apps::v1::Deployment>),
    ("apps", "v1", "ReplicaSet", schema_of::<apps::v1::ReplicaSet>),
    ("apps", "v1", "StatefulSet", schema_of::<apps::v1::StatefulSet>),
    ("apps", "v1", "DaemonSet", schema_of::<apps::v1::DaemonSet>),
    (
        "apps",
        "v1",
        "ControllerRevision",
        schema_of::<apps::v1::ControllerRevision>,
    ),
    ("batch", "v1", "Job", schema_of::<batch::v1::Job>),
    ("batch", "v1", "CronJob", schema_of::<batch::v1::CronJob>),
    (
        "networking.k8s.io",
        "v1",
        "Ingress",
        schema_of::<networking::v1::Ingress>,
    ),
    (
        "coordination.k8s.io",
        "v1",
        "Lease",
        schema_of::<coordination::v1::Lease>,
    ),
    ("events.k8s.io", "v1", "Event", schema_of::<events::v1::Event>),
    (
        "apiextensions.k8s.io",
        "v1",
        "CustomResourceDefinition",
        schema_of::<apiextensions::v1::CustomResourceDefinition>,
    ),
    ("autoscaling", "v1", "Scale", schema_of::<autoscaling::v1::Scale>),
    ("meta.k8s.io", "v1", "Status", schema_of::<meta::v1::Status>),
    ("meta.k8s.io", "v1", "Patch", schema_of::<meta::v1::Patch>),
    ("meta.k8s.io", "v1", "ListMeta", schema_of::<meta::v1::ListMeta>),
    (
        "meta.k8s.io",
        "v1",
        "DeleteOptions",
        schema_of::<meta::v1::DeleteOptions>,
    ),
];

const REF_PREFIX: &str = "#/components/schemas/";

/// The generated schemas and the compiled field tree (built once, on first use).
pub struct BuiltinSchemas {
    /// `components.schemas` entries of every built-in kind and everything they reference.
    pub definitions: Map<String, Value>,
    /// (group, version, kind) → schema name.
    kinds: HashMap<(&'static str, &'static str, &'static str), String>,
    tree: FieldTree,
}

/// The process-wide built-in schemas.
pub fn builtin_schemas() -> &'static BuiltinSchemas {
    static SCHEMAS: OnceLock<BuiltinSchemas> = OnceLock::new();
    SCHEMAS.get_or_init(BuiltinSchemas::generate)
}

impl BuiltinSchemas {
    fn generate() -> Self {
        let mut generator = SchemaSettings::openapi3().into_generator();
        let mut kinds = HashMap::new();
        for (group, version, kind, generate) in KINDS {
            let reference = generate(&mut generator);
            if let Some(name) = reference
                .get("$ref")
                .and_then(Value::as_str)
                .and_then(|r| r.strip_prefix(REF_PREFIX))
            {
                kinds.insert((*group, *version, *kind), name.to_string());
            }
        }
        let mut definitions = generator.take_definitions(true);
        for ((group, version, kind), name) in &kinds {
            if let Some(Value::Object(schema)) = definitions.get_mut(name) {
                complete_kind_schema(schema, group, version, kind);
            }
        }
        for (name, schema) in definitions.iter_mut() {
            if let Some(message) = protobuf::message_by_schema(name) {
                add_list_and_patch_markers(schema, message);
            }
        }
        let tree = FieldTree::compile(&definitions, &kinds);
        Self {
            definitions,
            kinds,
            tree,
        }
    }

    /// The schema name of a served built-in kind (`io.k8s.api.apps.v1.Deployment`).
    pub fn schema_name(&self, group: &str, version: &str, kind: &str) -> Option<&str> {
        self.kinds
            .iter()
            .find(|((g, v, k), _)| *g == group && *v == version && *k == kind)
            .map(|(_, name)| name.as_str())
    }

    /// `names` and every definition they reference, transitively (sorted by name).
    pub fn closure<'a>(&'a self, names: &[&str]) -> Vec<(&'a str, &'a Value)> {
        let mut seen: std::collections::BTreeMap<&'a str, &'a Value> = Default::default();
        let mut todo: Vec<String> = names.iter().map(|n| n.to_string()).collect();
        while let Some(name) = todo.pop() {
            let Some((key, schema)) = self.definitions.get_key_value(&name) else {
                continue;
            };
            if seen.insert(key.as_str(), schema).is_some() {
                continue;
            }
            collect_refs(schema, &mut todo);
        }
        seen.into_iter().collect()
    }
}

fn collect_refs(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            if let Some(r) = m
                .get("$ref")
                .and_then(Value::as_str)
                .and_then(|r| r.strip_prefix(REF_PREFIX))
            {
                out.push(r.to_string());
            }
            for child in m.values() {
                collect_refs(child, out);
            }
        }
        Value::Array(a) => a.iter().for_each(|c| collect_refs(c, out)),
        _ => {}
    }
}

/// kube-apiserver's shape of a kind's schema: the GVK extension, and `metadata` not required
/// (k8s-openapi marks it required because its Rust structs always carry one).
fn complete_kind_schema(schema: &mut Map<String, Value>, group: &str, version: &str, kind: &str) {
    if let Some(Value::Array(required)) = schema.get_mut("required") {
        required.retain(|r| r != "metadata");
        if required.is_empty() {
            schema.remove("required");
        }
    }
    let group = if group == "meta.k8s.io" { "" } else { group };
    schema.insert(
        "x-kubernetes-group-version-kind".into(),
        json!([{"group": group, "version": version, "kind": kind}]),
    );
}

/// Adds `x-kubernetes-patch-*` and `x-kubernetes-list-*` to the properties of a definition,
/// from the Go markers of its protobuf message (inline structs' fields included).
fn add_list_and_patch_markers(schema: &mut Value, message: &Message) {
    let Some(props) = schema.get_mut("properties").and_then(Value::as_object_mut) else {
        return;
    };
    let mut stack = vec![message];
    while let Some(m) = stack.pop() {
        for f in m.fields {
            if f.json.is_empty() {
                if let Ty::Message(i) = f.ty
                    && let Some(inner) = protobuf::MESSAGES.get(i)
                {
                    stack.push(inner);
                }
                continue;
            }
            let Some(Value::Object(prop)) = props.get_mut(f.json) else {
                continue;
            };
            if !f.merge_key.is_empty() {
                prop.insert("x-kubernetes-patch-merge-key".into(), json!(f.merge_key));
            }
            if !f.strategy.is_empty() {
                prop.insert("x-kubernetes-patch-strategy".into(), json!(f.strategy));
            }
            if !f.list_type.is_empty() {
                prop.insert("x-kubernetes-list-type".into(), json!(f.list_type));
            }
            if !f.map_keys.is_empty() {
                prop.insert("x-kubernetes-list-map-keys".into(), json!(f.map_keys));
            }
        }
    }
}

/// What is known about the shape of a value, compiled from the schemas.
#[derive(Debug)]
enum Node {
    /// Anything (scalars, int-or-string, quantities, free-form JSON).
    Any,
    /// A struct: its declared properties.
    Object(HashMap<String, usize>),
    /// A string-keyed map of values of one shape.
    Map(usize),
    /// A list of values of one shape.
    Array(usize),
    /// The same shape as another node (a `$ref` in a position that needs its own node).
    Alias(usize),
}

#[derive(Debug, Default)]
struct FieldTree {
    nodes: Vec<Node>,
    /// Schema name → node.
    named: HashMap<String, usize>,
}

impl FieldTree {
    fn compile(
        definitions: &Map<String, Value>,
        kinds: &HashMap<(&'static str, &'static str, &'static str), String>,
    ) -> Self {
        let mut tree = FieldTree::default();
        for name in kinds.values() {
            tree.named_node(name, definitions);
        }
        tree
    }

    fn push(&mut self, node: Node) -> usize {
        self.nodes.push(node);
        self.nodes.len() - 1
    }

    fn named_node(&mut self, name: &str, definitions: &Map<String, Value>) -> usize {
        if let Some(id) = self.named.get(name) {
            return *id;
        }
        // Reserve the id first: definitions are recursive (JSONSchemaProps).
        let id = self.push(Node::Any);
        self.named.insert(name.to_string(), id);
        if let Some(schema) = definitions.get(name) {
            let node = self.node_of(schema, definitions);
            if let Some(slot) = self.nodes.get_mut(id) {
                *slot = node;
            }
        }
        id
    }

    fn id_of(&mut self, schema: &Value, definitions: &Map<String, Value>) -> usize {
        if let Some(name) = ref_name(schema) {
            return self.named_node(name, definitions);
        }
        let node = self.node_of(schema, definitions);
        self.push(node)
    }

    fn node_of(&mut self, schema: &Value, definitions: &Map<String, Value>) -> Node {
        if let Some(name) = ref_name(schema) {
            return Node::Alias(self.named_node(name, definitions));
        }
        if schema.get("x-kubernetes-preserve-unknown-fields") == Some(&Value::Bool(true)) {
            return Node::Any;
        }
        if let Some(props) = schema.get("properties").and_then(Value::as_object) {
            let mut fields = HashMap::with_capacity(props.len());
            for (k, sub) in props {
                let id = self.id_of(sub, definitions);
                fields.insert(k.clone(), id);
            }
            return Node::Object(fields);
        }
        if let Some(additional) = schema.get("additionalProperties").filter(|a| a.is_object()) {
            return Node::Map(self.id_of(additional, definitions));
        }
        if let Some(items) = schema.get("items").filter(|i| i.is_object()) {
            return Node::Array(self.id_of(items, definitions));
        }
        Node::Any
    }
}

/// `$ref` name of a schema, also through kube's `allOf: [{$ref}]` wrapping.
fn ref_name(schema: &Value) -> Option<&str> {
    if let Some(r) = schema.get("$ref").and_then(Value::as_str) {
        return r.strip_prefix(REF_PREFIX);
    }
    match schema.get("allOf").and_then(Value::as_array).map(Vec::as_slice) {
        Some([only]) => ref_name(only),
        _ => None,
    }
}

/// Removes the fields of `obj` that built-in kind `group/version, kind` does not declare and
/// returns their paths in document order. `None` when the kind is not a built-in with a schema.
pub fn prune_unknown_fields(group: &str, version: &str, kind: &str, obj: &mut Value) -> Option<Vec<String>> {
    let schemas = builtin_schemas();
    let name = schemas.schema_name(group, version, kind)?;
    let root = *schemas.tree.named.get(name)?;
    let mut unknown = Vec::new();
    let mut path = String::new();
    schemas.tree.walk(root, obj, &mut path, &mut unknown, 0);
    Some(unknown)
}

const MAX_WALK_DEPTH: usize = 128;

impl FieldTree {
    fn resolve(&self, mut id: usize) -> Option<&Node> {
        // Aliases chain at most a few times; bound it anyway.
        for _ in 0..8 {
            match self.nodes.get(id)? {
                Node::Alias(next) => id = *next,
                node => return Some(node),
            }
        }
        None
    }

    fn walk(&self, id: usize, v: &mut Value, path: &mut String, unknown: &mut Vec<String>, depth: usize) {
        if depth > MAX_WALK_DEPTH {
            return;
        }
        let Some(node) = self.resolve(id) else { return };
        match (node, v) {
            (Node::Object(fields), Value::Object(m)) => {
                let undeclared: Vec<String> =
                    m.keys().filter(|k| !fields.contains_key(*k)).cloned().collect();
                for k in undeclared {
                    m.shift_remove(&k);
                    unknown.push(join(path, &k));
                }
                for (k, child) in m.iter_mut() {
                    let Some(child_id) = fields.get(k) else { continue };
                    if matches!(self.resolve(*child_id), Some(Node::Any) | None) {
                        continue;
                    }
                    let len = path.len();
                    if !path.is_empty() {
                        path.push('.');
                    }
                    path.push_str(k);
                    self.walk(*child_id, child, path, unknown, depth + 1);
                    path.truncate(len);
                }
            }
            (Node::Map(value_id), Value::Object(m)) => {
                if matches!(self.resolve(*value_id), Some(Node::Any) | None) {
                    return;
                }
                for (k, child) in m.iter_mut() {
                    let len = path.len();
                    path.push('.');
                    path.push_str(k);
                    self.walk(*value_id, child, path, unknown, depth + 1);
                    path.truncate(len);
                }
            }
            (Node::Array(item_id), Value::Array(items)) => {
                if matches!(self.resolve(*item_id), Some(Node::Any) | None) {
                    return;
                }
                for (i, child) in items.iter_mut().enumerate() {
                    let len = path.len();
                    path.push('[');
                    path.push_str(&i.to_string());
                    path.push(']');
                    self.walk(*item_id, child, path, unknown, depth + 1);
                    path.truncate(len);
                }
            }
            _ => {}
        }
    }
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

#[cfg(test)]
mod tests;
