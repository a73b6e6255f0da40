//! Rendering a chart tree the way `helm template` does: dependency
//! processing, values coalescing, built-in objects, template execution,
//! manifest splitting, hook separation and install ordering.

use gotmpl::Value;
use serde_json::{Map, Value as Json};
use std::sync::Arc;

use crate::chart::{Chart, Dependency};
use crate::engine::{TemplateSet, object};
use crate::state::Special;
use crate::values;

/// Helm 4.1.4's `.Capabilities.APIVersions` without `--api-versions`.
pub const DEFAULT_API_VERSIONS: &[&str] = &[
    "v1",
    "admissionregistration.k8s.io/v1",
    "admissionregistration.k8s.io/v1alpha1",
    "admissionregistration.k8s.io/v1beta1",
    "internal.apiserver.k8s.io/v1alpha1",
    "apps/v1",
    "apps/v1beta1",
    "apps/v1beta2",
    "authentication.k8s.io/v1",
    "authentication.k8s.io/v1alpha1",
    "authentication.k8s.io/v1beta1",
    "authorization.k8s.io/v1",
    "authorization.k8s.io/v1beta1",
    "autoscaling/v1",
    "autoscaling/v2",
    "autoscaling/v2beta1",
    "autoscaling/v2beta2",
    "batch/v1",
    "batch/v1beta1",
    "certificates.k8s.io/v1",
    "certificates.k8s.io/v1beta1",
    "certificates.k8s.io/v1alpha1",
    "coordination.k8s.io/v1alpha2",
    "coordination.k8s.io/v1beta1",
    "coordination.k8s.io/v1",
    "discovery.k8s.io/v1",
    "discovery.k8s.io/v1beta1",
    "events.k8s.io/v1",
    "events.k8s.io/v1beta1",
    "extensions/v1beta1",
    "flowcontrol.apiserver.k8s.io/v1",
    "flowcontrol.apiserver.k8s.io/v1beta1",
    "flowcontrol.apiserver.k8s.io/v1beta2",
    "flowcontrol.apiserver.k8s.io/v1beta3",
    "networking.k8s.io/v1",
    "networking.k8s.io/v1beta1",
    "node.k8s.io/v1",
    "node.k8s.io/v1alpha1",
    "node.k8s.io/v1beta1",
    "policy/v1",
    "policy/v1beta1",
    "rbac.authorization.k8s.io/v1",
    "rbac.authorization.k8s.io/v1beta1",
    "rbac.authorization.k8s.io/v1alpha1",
    "resource.k8s.io/v1",
    "resource.k8s.io/v1beta2",
    "resource.k8s.io/v1beta1",
    "resource.k8s.io/v1alpha3",
    "scheduling.k8s.io/v1alpha1",
    "scheduling.k8s.io/v1beta1",
    "scheduling.k8s.io/v1",
    "storage.k8s.io/v1beta1",
    "storage.k8s.io/v1",
    "storage.k8s.io/v1alpha1",
    "storagemigration.k8s.io/v1beta1",
    "apiextensions.k8s.io/v1beta1",
    "apiextensions.k8s.io/v1",
];

/// Helm 4.1.4's `.Capabilities.KubeVersion` without `--kube-version`.
pub const DEFAULT_KUBE_VERSION: &str = "v1.35.0";

/// Helm's install order of kinds; unknown kinds go last, alphabetically.
pub const INSTALL_ORDER: &[&str] = &[
    "PriorityClass",
    "Namespace",
    "NetworkPolicy",
    "ResourceQuota",
    "LimitRange",
    "PodSecurityPolicy",
    "PodDisruptionBudget",
    "ServiceAccount",
    "Secret",
    "SecretList",
    "ConfigMap",
    "StorageClass",
    "PersistentVolume",
    "PersistentVolumeClaim",
    "CustomResourceDefinition",
    "ClusterRole",
    "ClusterRoleList",
    "ClusterRoleBinding",
    "ClusterRoleBindingList",
    "Role",
    "RoleList",
    "RoleBinding",
    "RoleBindingList",
    "Service",
    "DaemonSet",
    "Pod",
    "ReplicationController",
    "ReplicaSet",
    "Deployment",
    "HorizontalPodAutoscaler",
    "StatefulSet",
    "Job",
    "CronJob",
    "IngressClass",
    "Ingress",
    "APIService",
    "MutatingWebhookConfiguration",
    "ValidatingWebhookConfiguration",
];

const HOOK_EVENTS: &[&str] = &[
    "pre-install",
    "post-install",
    "pre-delete",
    "post-delete",
    "pre-upgrade",
    "post-upgrade",
    "pre-rollback",
    "post-rollback",
    "test",
    "test-success",
];

/// What a render needs besides the chart and values (`helm template` flags).
#[derive(Debug, Clone)]
pub struct RenderOptions {
    pub release_name: String,
    pub namespace: String,
    /// `--kube-version` (e.g. `1.29.3` or `v1.29.3`); Helm's default if None.
    pub kube_version: Option<String>,
    /// `--api-versions`, appended to Helm's defaults.
    pub api_versions: Vec<String>,
    pub include_crds: bool,
    pub skip_tests: bool,
    pub skip_schema_validation: bool,
    /// `--no-hooks`: leave hooks out of the output.
    pub no_hooks: bool,
    pub is_upgrade: bool,
}

impl Default for RenderOptions {
    fn default() -> Self {
        RenderOptions {
            release_name: "release-name".to_string(),
            namespace: "default".to_string(),
            kube_version: None,
            api_versions: Vec::new(),
            include_crds: false,
            skip_tests: false,
            skip_schema_validation: false,
            no_hooks: false,
            is_upgrade: false,
        }
    }
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum RenderError {
    #[error("{0}")]
    Template(String),
    #[error("YAML parse error on {source_path}: {message}")]
    ManifestYaml { source_path: String, message: String },
    #[error("chart requires kubeVersion: {constraint} which is incompatible with Kubernetes {version}")]
    KubeVersion { constraint: String, version: String },
    #[error("invalid kube version {0:?}: {1}")]
    InvalidKubeVersion(String, String),
    #[error("found in Chart.yaml, but missing in charts/ directory: {0}")]
    MissingDependency(String),
    #[error("values don't meet the specifications of the schema(s) in the following chart(s):\n{0}")]
    Schema(String),
    #[error("{0}")]
    Values(String),
}

/// One rendered document.
#[derive(Debug, Clone, PartialEq)]
pub struct Manifest {
    /// `# Source:` path (`chart/templates/x.yaml`).
    pub source: String,
    /// The document text, trimmed as Helm does.
    pub content: String,
    pub kind: String,
    pub name: String,
}

/// The result of a render, in `helm template` order.
#[derive(Debug, Clone, Default)]
pub struct Rendered {
    /// CRDs from `crds/` directories (only filled with `include_crds`).
    pub crds: Vec<Manifest>,
    /// Regular manifests in install order.
    pub manifests: Vec<Manifest>,
    /// Hook manifests (`helm.sh/hook`), in file order.
    pub hooks: Vec<Manifest>,
    /// The root chart's rendered NOTES.txt.
    pub notes: String,
}

impl Rendered {
    /// The text `helm template` prints (without `--show-only`).
    pub fn to_helm_output(&self) -> String {
        let mut out = String::new();
        for m in self.crds.iter().chain(&self.manifests).chain(&self.hooks) {
            out.push_str("---\n# Source: ");
            out.push_str(&m.source);
            out.push('\n');
            out.push_str(&m.content);
            out.push('\n');
        }
        out
    }

    /// Every document (CRDs, manifests, hooks) in output order.
    pub fn all(&self) -> impl Iterator<Item = &Manifest> {
        self.crds.iter().chain(&self.manifests).chain(&self.hooks)
    }
}

/// A chart in the effective tree: its (possibly aliased) name.
struct Node<'a> {
    chart: &'a Chart,
    name: String,
    children: Vec<Node<'a>>,
}

/// Render `chart` with user-supplied `user_values` (already merged from
/// `-f` files and `--set` flags).
pub fn render(
    chart: &Chart,
    user_values: Map<String, Json>,
    options: &RenderOptions,
) -> Result<Rendered, RenderError> {
    let kube_version = normalise_kube_version(options.kube_version.as_deref())?;
    if !chart.kube_version.is_empty() {
        let constraint = crate::semver::Constraints::parse(&chart.kube_version)
            .map_err(|e| RenderError::Values(format!("invalid kubeVersion in Chart.yaml: {e}")))?;
        let version = crate::semver::Version::parse(&kube_version)
            .map_err(|e| RenderError::InvalidKubeVersion(kube_version.clone(), e))?;
        if !constraint.matches(&version) {
            return Err(RenderError::KubeVersion {
                constraint: chart.kube_version.clone(),
                version: kube_version,
            });
        }
    }

    // Dependencies: decide which subcharts are enabled with the values
    // coalesced over the full tree, then coalesce again over what remains.
    let full_tree = build_tree(chart, chart.name.clone(), &|_, _| true)?;
    let full_values = coalesce_node(&full_tree, user_values.clone());
    let tree = build_tree(chart, chart.name.clone(), &|path: &str, dep: &Dependency| {
        dependency_enabled(&full_values, path, dep)
    })?;
    let mut top_values = coalesce_node(&tree, user_values);
    import_values(&tree, &mut top_values);

    if !options.skip_schema_validation {
        crate::schema::validate_tree(&tree_schemas(&tree), &top_values).map_err(RenderError::Schema)?;
    }

    // Collect templates of every chart with their scope.
    let mut entries: Vec<TemplateEntry> = Vec::new();
    let top_values = Json::Object(top_values);
    collect_templates(&tree, "", &mut entries);
    // Helm parses deeper paths first, and within a depth in reverse
    // lexical order, so the root chart's `define`s win.
    entries.sort_by(|a, b| {
        let da = a.path.matches('/').count();
        let db = b.path.matches('/').count();
        db.cmp(&da).then_with(|| b.path.cmp(&a.path))
    });
    let sources: Vec<(String, String)> = entries
        .iter()
        .map(|e| {
            (
                e.path.clone(),
                e.chart
                    .templates
                    .get(&e.template_key)
                    .cloned()
                    .unwrap_or_default(),
            )
        })
        .collect();
    let set = TemplateSet::parse(&sources).map_err(|e| RenderError::Template(e.0))?;
    let renderer = set.renderer();

    let release = object(vec![
        ("Name", s(&options.release_name)),
        ("Namespace", s(&options.namespace)),
        ("IsInstall", Value::Bool(!options.is_upgrade)),
        ("IsUpgrade", Value::Bool(options.is_upgrade)),
        ("Revision", Value::Int(1)),
        ("Service", s("Helm")),
    ]);
    let capabilities = capabilities_value(&renderer, &kube_version, &options.api_versions);

    let mut scopes = std::collections::HashMap::new();
    let shared = ScopeShared {
        state: &renderer.state,
        release: &release,
        capabilities: &capabilities,
    };
    chart_scope(&tree, "", &top_values, &shared, &mut scopes);

    let mut outputs: Vec<(String, String)> = Vec::new();
    for entry in &entries {
        let base = entry.path.rsplit('/').next().unwrap_or("");
        if base.starts_with('_') || (entry.chart.is_library()) {
            continue;
        }
        let chart_id = entry
            .base_path
            .strip_suffix("/templates")
            .unwrap_or(&entry.base_path);
        let mut data = match scopes.get(chart_id) {
            Some(Value::Map(scope)) => (**scope).clone(),
            _ => Default::default(),
        };
        data.insert(
            Arc::from("Template"),
            object(vec![("Name", s(&entry.path)), ("BasePath", s(&entry.base_path))]),
        );
        let data = Value::Map(Arc::new(data));
        let out = renderer
            .execute(&entry.path, &data)
            .map_err(|e| RenderError::Template(e.0))?;
        outputs.push((entry.path.clone(), out));
    }

    let mut rendered = Rendered::default();
    let notes_path = format!("{}/templates/NOTES.txt", tree.name);
    outputs.retain(|(path, out)| {
        if path.ends_with("NOTES.txt") {
            if *path == notes_path {
                rendered.notes = out.clone();
            }
            return false;
        }
        true
    });
    outputs.sort_by(|a, b| a.0.cmp(&b.0));
    for (path, out) in &outputs {
        for doc in split_manifests(out) {
            let head = crate::yaml::parse_yaml(&doc).map_err(|e| RenderError::ManifestYaml {
                source_path: path.clone(),
                message: e.to_string(),
            })?;
            let kind = head.field("kind").map(crate::funcs::strval).unwrap_or_default();
            let name = head
                .field("metadata")
                .and_then(|m| m.field("name"))
                .map(crate::funcs::strval)
                .unwrap_or_default();
            let hook = head
                .field("metadata")
                .and_then(|m| m.field("annotations"))
                .and_then(|a| a.field("helm.sh/hook"))
                .map(crate::funcs::strval);
            let manifest = Manifest {
                source: path.clone(),
                content: doc,
                kind,
                name,
            };
            match hook {
                None => rendered.manifests.push(manifest),
                Some(events) => {
                    let events: Vec<String> = events.split(',').map(|e| e.trim().to_lowercase()).collect();
                    if events.iter().any(|e| !HOOK_EVENTS.contains(&e.as_str())) {
                        continue;
                    }
                    let is_test = events.iter().any(|e| e == "test" || e == "test-success");
                    if options.no_hooks || (options.skip_tests && is_test) {
                        continue;
                    }
                    rendered.hooks.push(manifest);
                }
            }
        }
    }
    rendered.manifests.sort_by(|a, b| kind_order(&a.kind, &b.kind));
    rendered.hooks.sort_by(|a, b| kind_order(&a.kind, &b.kind));
    if options.include_crds {
        collect_crds(&tree, "", &mut rendered.crds);
    }
    Ok(rendered)
}

fn s(text: &str) -> Value {
    Value::String(Arc::from(text))
}

fn kind_order(a: &str, b: &str) -> std::cmp::Ordering {
    let pa = INSTALL_ORDER.iter().position(|k| *k == a);
    let pb = INSTALL_ORDER.iter().position(|k| *k == b);
    match (pa, pb) {
        (Some(x), Some(y)) => x.cmp(&y),
        (Some(_), None) => std::cmp::Ordering::Less,
        (None, Some(_)) => std::cmp::Ordering::Greater,
        (None, None) => a.cmp(b),
    }
}

/// Helm's `SplitManifests`: split on `---` lines, trim, drop empty docs.
pub fn split_manifests(text: &str) -> Vec<String> {
    static SEPARATOR: std::sync::OnceLock<Option<regex::Regex>> = std::sync::OnceLock::new();
    let Some(sep) = SEPARATOR
        .get_or_init(|| regex::Regex::new(r"(?:^|\s*\n)---\s*").ok())
        .as_ref()
    else {
        return vec![text.trim().to_string()];
    };
    sep.split(text.trim())
        .map(str::trim)
        .filter(|d| !d.is_empty())
        .map(ToString::to_string)
        .collect()
}

fn normalise_kube_version(flag: Option<&str>) -> Result<String, RenderError> {
    let Some(raw) = flag else {
        return Ok(DEFAULT_KUBE_VERSION.to_string());
    };
    let v = crate::semver::Version::parse(raw)
        .map_err(|e| RenderError::InvalidKubeVersion(raw.to_string(), e))?;
    Ok(format!("v{}.{}.{}", v.major, v.minor, v.patch))
}

fn capabilities_value(renderer: &crate::engine::Renderer, kube_version: &str, extra: &[String]) -> Value {
    let parsed = crate::semver::Version::parse(kube_version).ok();
    let (major, minor) = parsed
        .map(|v| (v.major.to_string(), v.minor.to_string()))
        .unwrap_or_default();
    let kube = object(vec![
        ("Version", s(kube_version)),
        ("Major", s(&major)),
        ("Minor", s(&minor)),
        ("GitVersion", s(kube_version)),
    ]);
    // Printed as Go prints the struct: {Version GitVersion Major Minor}.
    renderer.tag(
        &kube,
        Special::Stringer(Arc::from(format!(
            "{{{kube_version} {kube_version} {major} {minor}}}"
        ))),
    );
    let mut versions: Vec<Value> = DEFAULT_API_VERSIONS.iter().map(|v| s(v)).collect();
    versions.extend(extra.iter().map(|v| s(v)));
    let api_versions = Value::List(Arc::from(versions));
    renderer.tag(&api_versions, Special::VersionSet);
    let helm = object(vec![
        ("Version", s("v4.1.4")),
        ("GitCommit", s("05fa37973dc9e42b76e1d2883494c87174b6074f")),
        ("GitTreeState", s("clean")),
        ("GoVersion", s("go1.25.9")),
        ("KubeClientVersion", s("v1.35")),
    ]);
    renderer.tag(
        &helm,
        Special::Stringer(Arc::from(
            "{v4.1.4 05fa37973dc9e42b76e1d2883494c87174b6074f clean go1.25.9 v1.35}",
        )),
    );
    object(vec![
        ("KubeVersion", kube),
        ("APIVersions", api_versions),
        ("HelmVersion", helm),
    ])
}

/// `.Chart`: Helm 4 exposes the metadata as a map with Go field names.
fn chart_value(chart: &Chart, name: &str, is_root: bool) -> Value {
    let m = &chart.metadata;
    let text = |k: &str| -> Value {
        match m.get(k) {
            Some(Json::String(v)) => s(v),
            Some(Json::Number(n)) => s(&crate::gofmt::format_float_g(n.as_f64().unwrap_or(0.0))),
            Some(Json::Bool(b)) => s(&b.to_string()),
            _ => s(""),
        }
    };
    let list_or_empty = |k: &str| -> Value {
        match m.get(k) {
            Some(v @ Json::Array(_)) => values::to_template_value(v),
            _ => Value::List(Arc::from(Vec::new())),
        }
    };
    let maintainers = match m.get("maintainers") {
        Some(Json::Array(items)) => Value::List(
            items
                .iter()
                .map(|i| {
                    let get = |k: &str| i.get(k).and_then(Json::as_str).map(s).unwrap_or_else(|| s(""));
                    object(vec![
                        ("Name", get("name")),
                        ("Email", get("email")),
                        ("URL", get("url")),
                    ])
                })
                .collect(),
        ),
        _ => Value::List(Arc::from(Vec::new())),
    };
    let dependencies = Value::List(
        chart
            .dependencies_meta
            .iter()
            .map(|d| {
                object(vec![
                    ("Name", s(&d.name)),
                    ("Version", s(&d.version)),
                    ("Repository", s(&d.repository)),
                    ("Condition", s(&d.condition)),
                    ("Tags", Value::List(d.tags.iter().map(|t| s(t)).collect())),
                    ("Enabled", Value::Bool(d.enabled)),
                    (
                        "ImportValues",
                        Value::List(d.import_values.iter().map(values::to_template_value).collect()),
                    ),
                    ("Alias", s(&d.alias)),
                ])
            })
            .collect(),
    );
    let annotations = match m.get("annotations") {
        Some(v @ Json::Object(_)) => values::to_template_value(v),
        _ => Value::Map(Arc::new(Default::default())),
    };
    object(vec![
        ("APIVersion", text("apiVersion")),
        ("Annotations", annotations),
        ("AppVersion", text("appVersion")),
        ("Condition", text("condition")),
        ("Dependencies", dependencies),
        (
            "Deprecated",
            Value::Bool(matches!(m.get("deprecated"), Some(Json::Bool(true)))),
        ),
        ("Description", text("description")),
        ("Home", text("home")),
        ("Icon", text("icon")),
        ("IsRoot", Value::Bool(is_root)),
        ("Keywords", list_or_empty("keywords")),
        ("KubeVersion", text("kubeVersion")),
        ("Maintainers", maintainers),
        ("Name", s(name)),
        ("Sources", list_or_empty("sources")),
        ("Tags", text("tags")),
        ("Type", text("type")),
        ("Version", text("version")),
    ])
}

fn build_tree<'a>(
    chart: &'a Chart,
    name: String,
    enabled: &dyn Fn(&str, &Dependency) -> bool,
) -> Result<Node<'a>, RenderError> {
    build_tree_at(chart, name, "", enabled)
}

fn build_tree_at<'a>(
    chart: &'a Chart,
    name: String,
    path: &str,
    enabled: &dyn Fn(&str, &Dependency) -> bool,
) -> Result<Node<'a>, RenderError> {
    let mut children = Vec::new();
    let mut referenced = vec![false; chart.subcharts.len()];
    for dep in &chart.dependencies_meta {
        let Some(index) = chart.subcharts.iter().position(|c| c.name == dep.name) else {
            return Err(RenderError::MissingDependency(dep.name.clone()));
        };
        if let Some(r) = referenced.get_mut(index) {
            *r = true;
        }
        if !enabled(path, dep) {
            continue;
        }
        let child_name = if dep.alias.is_empty() {
            dep.name.clone()
        } else {
            dep.alias.clone()
        };
        let Some(sub) = chart.subcharts.get(index) else {
            continue;
        };
        let child_path = format!("{path}{child_name}.");
        children.push(build_tree_at(sub, child_name, &child_path, enabled)?);
    }
    for (i, sub) in chart.subcharts.iter().enumerate() {
        if !referenced.get(i).copied().unwrap_or(false) {
            let child_path = format!("{path}{}.", sub.name);
            children.push(build_tree_at(sub, sub.name.clone(), &child_path, enabled)?);
        }
    }
    Ok(Node {
        chart,
        name,
        children,
    })
}

/// Helm's condition/tags rule: the first condition path that holds a
/// boolean decides; otherwise any tag set to true enables, all false
/// disables; otherwise enabled.
fn dependency_enabled(top: &Map<String, Json>, path: &str, dep: &Dependency) -> bool {
    if !dep.condition.is_empty() {
        for condition in dep.condition.split(',') {
            let full = format!("{path}{}", condition.trim());
            if let Some(Json::Bool(b)) = lookup_path(top, &full) {
                return *b;
            }
        }
    }
    if !dep.tags.is_empty() {
        let tags = top.get("tags").and_then(Json::as_object);
        let mut any_true = false;
        let mut any_set = false;
        for tag in &dep.tags {
            if let Some(Json::Bool(b)) = tags.and_then(|t| t.get(tag)) {
                any_set = true;
                any_true |= *b;
            }
        }
        if any_set {
            return any_true;
        }
    }
    true
}

fn lookup_path<'a>(map: &'a Map<String, Json>, path: &str) -> Option<&'a Json> {
    let mut parts = path.split('.');
    let first = parts.next()?;
    let mut current = map.get(first)?;
    for part in parts {
        current = current.as_object()?.get(part)?;
    }
    Some(current)
}

/// Coalesce user values with the chart tree's defaults (Helm's
/// `CoalesceValues`): chart defaults under user values, subchart sections
/// under parent sections, globals flowing down.
fn coalesce_node(node: &Node, mut dest: Map<String, Json>) -> Map<String, Json> {
    values::coalesce_tables(&mut dest, &node.chart.values);
    for child in &node.children {
        let mut sub = match dest.remove(&child.name) {
            Some(Json::Object(m)) => m,
            _ => Map::new(),
        };
        coalesce_globals(&mut sub, &dest);
        let sub = coalesce_node(child, sub);
        dest.insert(child.name.clone(), Json::Object(sub));
    }
    dest
}

fn coalesce_globals(dest: &mut Map<String, Json>, parent: &Map<String, Json>) {
    let mut dest_globals = match dest.remove("global") {
        Some(Json::Object(m)) => m,
        _ => Map::new(),
    };
    if let Some(Json::Object(parent_globals)) = parent.get("global") {
        for (key, value) in parent_globals {
            match (value, dest_globals.get(key)) {
                (Json::Object(pv), Some(Json::Object(dv))) => {
                    let mut merged = pv.clone();
                    values::coalesce_tables(&mut merged, dv);
                    dest_globals.insert(key.clone(), Json::Object(merged));
                }
                (Json::Object(_), Some(_)) => {}
                (_, Some(Json::Object(_))) => {}
                (v, _) => {
                    dest_globals.insert(key.clone(), v.clone());
                }
            }
        }
    }
    dest.insert("global".to_string(), Json::Object(dest_globals));
}

/// `import-values`: copy a child's exported values into the parent; the
/// parent's own values win.
fn import_values(node: &Node, values_here: &mut Map<String, Json>) {
    for child in &node.children {
        if let Some(Json::Object(child_values)) = values_here.get_mut(&child.name) {
            let mut owned = std::mem::take(child_values);
            import_values(child, &mut owned);
            if let Some(Json::Object(slot)) = values_here.get_mut(&child.name) {
                *slot = owned;
            }
        }
    }
    let mut imported = Map::new();
    for dep in &node.chart.dependencies_meta {
        let child_name = if dep.alias.is_empty() {
            &dep.name
        } else {
            &dep.alias
        };
        let Some(Json::Object(child_values)) = values_here.get(child_name) else {
            continue;
        };
        for import in &dep.import_values {
            let (child_path, parent_path) = match import {
                Json::String(name) => (format!("exports.{name}"), String::new()),
                Json::Object(m) => (
                    m.get("child")
                        .and_then(Json::as_str)
                        .unwrap_or_default()
                        .to_string(),
                    m.get("parent")
                        .and_then(Json::as_str)
                        .unwrap_or_default()
                        .to_string(),
                ),
                _ => continue,
            };
            // Helm imports tables only; a scalar at the child path is skipped.
            let Some(found @ Json::Object(_)) = lookup_path(child_values, &child_path).cloned() else {
                continue;
            };
            let mut nested = found;
            for part in parent_path.split('.').filter(|p| !p.is_empty()).rev() {
                let mut m = Map::new();
                m.insert(part.to_string(), nested);
                nested = Json::Object(m);
            }
            if let Json::Object(m) = nested {
                values::merge_maps(&mut imported, m);
            }
        }
    }
    if !imported.is_empty() {
        values::coalesce_tables(values_here, &imported);
    }
}

struct TemplateEntry<'a> {
    path: String,
    base_path: String,
    template_key: String,
    chart: &'a Chart,
}

fn collect_templates<'a>(node: &Node<'a>, parent: &str, out: &mut Vec<TemplateEntry<'a>>) {
    let id = if parent.is_empty() {
        node.name.clone()
    } else {
        format!("{parent}/charts/{}", node.name)
    };
    for key in node.chart.templates.keys() {
        out.push(TemplateEntry {
            path: format!("{id}/{key}"),
            base_path: format!("{id}/templates"),
            template_key: key.clone(),
            chart: node.chart,
        });
    }
    for child in &node.children {
        collect_templates(child, &id, out);
    }
}

/// What every chart's scope shares.
struct ScopeShared<'a> {
    state: &'a crate::state::State,
    release: &'a Value,
    capabilities: &'a Value,
}

/// A chart's top-level object (without `.Template`), as Helm builds it:
/// `.Subcharts` holds each enabled subchart's own top-level object by name.
/// Every object is also recorded by chart id (`parent/charts/name`).
fn chart_scope(
    node: &Node,
    parent: &str,
    scope_values: &Json,
    shared: &ScopeShared,
    scopes: &mut std::collections::HashMap<String, Value>,
) -> Value {
    let id = if parent.is_empty() {
        node.name.clone()
    } else {
        format!("{parent}/charts/{}", node.name)
    };
    let mut subcharts = crate::state::GoMap::new();
    for child in &node.children {
        let child_values = scope_values
            .get(&child.name)
            .cloned()
            .unwrap_or_else(|| Json::Object(Map::new()));
        let child_scope = chart_scope(child, &id, &child_values, shared, scopes);
        subcharts.insert(Arc::from(child.name.as_str()), child_scope);
    }
    let scope = object(vec![
        ("Values", values::to_template_value(scope_values)),
        ("Chart", chart_value(node.chart, &node.name, parent.is_empty())),
        (
            "Files",
            crate::files::files_value(shared.state, Arc::clone(&node.chart.files)),
        ),
        ("Release", shared.release.clone()),
        ("Capabilities", shared.capabilities.clone()),
        ("Subcharts", Value::Map(Arc::new(subcharts))),
    ]);
    scopes.insert(id, scope.clone());
    scope
}

fn collect_crds(node: &Node, parent: &str, out: &mut Vec<Manifest>) {
    let id = if parent.is_empty() {
        node.name.clone()
    } else {
        format!("{parent}/charts/{}", node.name)
    };
    for (path, data) in node.chart.files.iter() {
        let is_manifest = path.ends_with(".yaml") || path.ends_with(".yml") || path.ends_with(".json");
        if path.starts_with("crds/") && is_manifest {
            out.push(Manifest {
                source: format!("{id}/{path}"),
                content: String::from_utf8_lossy(data).into_owned(),
                kind: "CustomResourceDefinition".to_string(),
                name: String::new(),
            });
        }
    }
    for child in &node.children {
        collect_crds(child, &id, out);
    }
}

/// Schemas of the tree as (chart path, schema text, values path).
fn tree_schemas(node: &Node) -> Vec<(String, String, Vec<String>)> {
    let mut out = Vec::new();
    gather_schemas(node, &node.name, Vec::new(), &mut out);
    out
}

fn gather_schemas(node: &Node, id: &str, path: Vec<String>, out: &mut Vec<(String, String, Vec<String>)>) {
    if let Some(schema) = &node.chart.schema {
        out.push((id.to_string(), schema.clone(), path.clone()));
    }
    for child in &node.children {
        let mut child_path = path.clone();
        child_path.push(child.name.clone());
        gather_schemas(child, &format!("{id}/charts/{}", child.name), child_path, out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_manifests_trims_and_drops_empty_documents() {
        let docs = split_manifests("\n---\na: 1\n---\n# c\n---   \n\nb: 2\n  \n---\n");
        assert_eq!(
            docs,
            vec!["a: 1".to_string(), "# c".to_string(), "b: 2".to_string()]
        );
        // Go's regexp semantics: the separator's trailing `\s*` swallows the
        // newline a directly following `---` would need, so that one stays.
        let docs = split_manifests("a: 1\n---\n\n---\nb: 2");
        assert_eq!(docs, vec!["a: 1".to_string(), "---\nb: 2".to_string()]);
    }

    #[test]
    fn kinds_sort_in_install_order_unknown_last_alphabetically() {
        let mut kinds = vec!["Deployment", "Zeta", "Namespace", "Alpha", "Service"];
        kinds.sort_by(|a, b| kind_order(a, b));
        assert_eq!(kinds, vec!["Namespace", "Service", "Deployment", "Alpha", "Zeta"]);
    }

    #[test]
    fn conditions_and_tags_decide_enablement() {
        let top: Map<String, Json> = serde_json::from_value(serde_json::json!({
            "sub": {"enabled": false},
            "tags": {"front": true, "back": false}
        }))
        .unwrap_or_default();
        let dep = |condition: &str, tags: &[&str]| Dependency {
            name: "sub".to_string(),
            condition: condition.to_string(),
            tags: tags.iter().map(|t| t.to_string()).collect(),
            ..Dependency::default()
        };
        assert!(!dependency_enabled(&top, "", &dep("sub.enabled", &[])));
        assert!(dependency_enabled(&top, "", &dep("missing.enabled", &[])));
        assert!(dependency_enabled(&top, "", &dep("", &["front"])));
        assert!(!dependency_enabled(&top, "", &dep("", &["back"])));
        assert!(!dependency_enabled(&top, "", &dep("sub.enabled", &["front"])));
    }
}
