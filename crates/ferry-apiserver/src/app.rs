//! Shared server state and the object lifecycle (create, update, delete) every verb goes through.

use std::{
    collections::BTreeMap,
    sync::{
        Arc, Mutex,
        atomic::{AtomicU32, Ordering},
    },
};

use ferry_apimachinery::{
    FieldError,
    apply::{self, ApplyError, ApplyRequest},
    defaults, event_conversion,
    managed_fields::{self, UpdateOp},
    names,
    schema::{self, SchemaError},
    typeinfo::Shape,
    validation,
};
use ferry_store::{Entry, Storage, StoreError};
use serde_json::{Map, Value, json};
use tokio::sync::Notify;

use crate::{
    admission::{AdmissionError, AdmissionRequest, MutatingAdmission, Operation, ValidatingAdmission},
    errors::{ApiError, ApiResult, Subject},
    registry::{Registry, ResourceInfo},
    watch_cache::WatchEncodings,
};

/// How unknown fields are treated (`fieldValidation`).
pub use ferry_apimachinery::schema::FieldValidation;

/// Options shared by writes.
#[derive(Debug, Clone, Default)]
pub struct WriteOptions {
    pub dry_run: bool,
    pub field_manager: String,
    pub field_validation: FieldValidation,
    pub subresource: Option<String>,
}

/// Options of a delete.
#[derive(Debug, Clone, Default)]
pub struct DeleteOptions {
    pub dry_run: bool,
    /// `Foreground`, `Background` or `Orphan`.
    pub propagation: Option<String>,
    pub precondition_uid: Option<String>,
    pub precondition_rv: Option<String>,
}

/// A write's result: the object and any warnings for the `Warning` header.
#[derive(Debug, Clone)]
pub struct Written {
    pub object: Value,
    pub warnings: Vec<String>,
    /// True when a create happened (201).
    pub created: bool,
}

pub const FOREGROUND_FINALIZER: &str = "foregroundDeletion";
pub const ORPHAN_FINALIZER: &str = "orphan";
pub const NAMESPACE_FINALIZER: &str = "kubernetes";
/// Holds a deleting CRD until its custom resources are gone (kube-apiextensions' finalizer).
pub const CRD_CLEANUP_FINALIZER: &str = "customresourcecleanup.apiextensions.k8s.io";

/// Everything the HTTP layer and the server's own controllers share.
pub struct App {
    pub store: Arc<dyn Storage>,
    pub registry: Registry,
    pub token: Option<String>,
    /// Verifies client certificates against the cluster CA (TLS servers only); a verified
    /// certificate authenticates like the token.
    pub client_certs: Option<crate::tls::ClientCertAuthenticator>,
    pub mutating: Vec<Arc<dyn MutatingAdmission>>,
    pub validating: Vec<Arc<dyn ValidatingAdmission>>,
    pub feature_gates: BTreeMap<String, bool>,
    pub max_body_bytes: usize,
    rng: Mutex<names::SplitMix64>,
    next_ip: AtomicU32,
    /// Wakes the garbage collector and namespace controller.
    pub gc_wake: Notify,
    /// Presented and encoded watch events shared among watchers.
    pub watch_encodings: WatchEncodings,
}

pub fn now_rfc3339() -> String {
    jiff::Timestamp::now()
        .round(jiff::Unit::Second)
        .map(|t| t.to_string())
        .unwrap_or_default()
}

pub fn meta(obj: &Value) -> Option<&Map<String, Value>> {
    obj.get("metadata")?.as_object()
}

pub fn meta_str<'a>(obj: &'a Value, field: &str) -> Option<&'a str> {
    meta(obj)?.get(field)?.as_str()
}

pub fn meta_mut(obj: &mut Value) -> Option<&mut Map<String, Value>> {
    let m = obj.as_object_mut()?;
    m.entry("metadata").or_insert_with(|| json!({}));
    m.get_mut("metadata")?.as_object_mut()
}

pub fn finalizers(obj: &Value) -> Vec<String> {
    meta(obj)
        .and_then(|m| m.get("finalizers"))
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).map(str::to_string).collect())
        .unwrap_or_default()
}

pub fn set_finalizers(obj: &mut Value, list: &[String]) {
    if let Some(m) = meta_mut(obj) {
        if list.is_empty() {
            m.remove("finalizers");
        } else {
            m.insert("finalizers".into(), json!(list));
        }
    }
}

/// The object without metadata and status: what `generation` tracks.
fn spec_part(obj: &Value) -> Value {
    let mut v = obj.clone();
    if let Some(m) = v.as_object_mut() {
        m.remove("metadata");
        m.remove("status");
        m.remove("apiVersion");
        m.remove("kind");
    }
    v
}

fn comparable(obj: &Value) -> Value {
    let mut v = obj.clone();
    if let Some(m) = meta_mut(&mut v) {
        m.remove("resourceVersion");
        m.remove("managedFields");
    }
    v
}

/// The `fieldManager` value that marks update_with calls made by server-side apply (which
/// maintains managedFields itself). It cannot collide with a client's: those are printable.
const APPLY_MANAGER: &str = "\0apply";

/// Records a non-apply write (create, update, patch) in `metadata.managedFields`.
fn record_update(
    info: &ResourceInfo,
    old: Option<&Value>,
    new: &mut Value,
    opts: &WriteOptions,
    now: &str,
    shape: Shape<'_>,
) -> ApiResult<()> {
    let api_version = info.api_version();
    managed_fields::update_managed_fields(
        old,
        new,
        UpdateOp {
            manager: &opts.field_manager,
            api_version: &api_version,
            subresource: opts.subresource.as_deref().unwrap_or(""),
            time: now,
        },
        shape,
    )
    .map_err(|e| {
        ApiError::bad_request(format!(
            "{} \"{}\": metadata.managedFields: {e}",
            info.kind,
            meta_str(new, "name").unwrap_or_default()
        ))
    })
}

/// A top-level string field of `obj` (`apiVersion`, `kind`).
fn meta_free_str(obj: &Value, field: &str) -> Option<String> {
    obj.get(field).and_then(Value::as_str).map(str::to_string)
}

/// The part of an applied configuration the endpoint owns, as kube-apiserver's reset-fields
/// strategies cut it: the main resource of a kind with a status subresource never takes
/// `status`; the status subresource takes only `status` (plus the identifying fields).
fn applicable_part(info: &ResourceInfo, subresource: &str, mut applied: Value) -> Value {
    if let Some(m) = applied.as_object_mut() {
        match subresource {
            "status" => m.retain(|k, _| matches!(k.as_str(), "apiVersion" | "kind" | "metadata" | "status")),
            "" if info.has_status => {
                m.remove("status");
            }
            _ => {}
        }
    }
    applied
}

/// Every served version's `openAPIV3Schema` of a CRD must be structural.
fn crd_schema_errors(crd: &Value) -> Vec<FieldError> {
    let versions = crd
        .pointer("/spec/versions")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    versions
        .iter()
        .enumerate()
        .filter_map(|(i, v)| Some((i, v.pointer("/schema/openAPIV3Schema")?)))
        .flat_map(|(i, schema)| {
            schema::validate_structural_schema(schema, &format!("spec.versions[{i}].schema.openAPIV3Schema"))
        })
        .collect()
}

/// kube-apiserver's 400 for `fieldValidation=Strict` with unknown fields.
fn strict_decoding_error(info: &ResourceInfo, e: SchemaError) -> ApiError {
    ApiError::bad_request(format!(
        "{kind} in version {version:?} cannot be handled as a {kind}: {e}",
        kind = info.kind,
        version = info.version,
    ))
}

fn admission_error(info: &ResourceInfo, name: &str, e: AdmissionError) -> ApiError {
    match e {
        AdmissionError::Invalid(errs) => ApiError::invalid(
            Subject {
                group: &info.group,
                kind: &info.kind,
                name,
            },
            &errs,
        ),
        AdmissionError::Forbidden(msg) => ApiError::forbidden(msg),
    }
}

impl App {
    pub fn new(store: Arc<dyn Storage>, token: Option<String>) -> Self {
        let seed = jiff::Timestamp::now().as_nanosecond() as u64;
        App {
            store,
            registry: Registry::with_builtins(),
            token,
            client_certs: None,
            mutating: Vec::new(),
            validating: Vec::new(),
            feature_gates: BTreeMap::new(),
            max_body_bytes: 3 * 1024 * 1024,
            rng: Mutex::new(names::SplitMix64(seed)),
            next_ip: AtomicU32::new(10),
            gc_wake: Notify::new(),
            watch_encodings: WatchEncodings::default(),
        }
    }

    fn random_u64(&self) -> u64 {
        self.rng.lock().map(|mut r| r.next_u64()).unwrap_or(0)
    }

    fn allocate_ip(&self) -> String {
        let n = self.next_ip.fetch_add(1, Ordering::Relaxed);
        format!("10.96.{}.{}", (n >> 8) & 0xff, n & 0xff)
    }

    /// The object shape of `info`'s kind: list merge keys and types for patches and managedFields.
    pub fn shape<'a>(&self, info: &'a ResourceInfo) -> Shape<'a> {
        match (&info.schema, info.custom) {
            (Some(schema), true) => Shape::for_schema(schema),
            (None, true) => Shape::Unknown,
            _ => Shape::for_builtin(&info.group, &info.kind),
        }
    }

    /// The stored object as clients see it: resourceVersion stamped, apiVersion of the requested version.
    pub fn present(&self, info: &ResourceInfo, entry: &Entry) -> Value {
        self.present_value(info, &entry.value, entry.mod_revision)
    }

    /// A stored value as clients of `info` see it at revision `revision`.
    pub fn present_value(&self, info: &ResourceInfo, stored: &Value, revision: u64) -> Value {
        let mut v = if info.is_events_v1_event() {
            event_conversion::core_to_events_v1(stored)
        } else {
            stored.clone()
        };
        if let Some(m) = v.as_object_mut() {
            m.insert("apiVersion".into(), json!(info.api_version()));
            m.insert("kind".into(), json!(info.kind));
        }
        if let Some(m) = meta_mut(&mut v) {
            m.insert("resourceVersion".into(), json!(revision.to_string()));
        }
        v
    }

    /// `obj` (as clients of `info` wrote it) in its storage form.
    fn to_storage(info: &ResourceInfo, obj: Value) -> Value {
        if info.is_events_v1_event() {
            event_conversion::events_v1_to_core(&obj)
        } else {
            obj
        }
    }

    pub fn get_entry(&self, info: &ResourceInfo, ns: Option<&str>, name: &str) -> ApiResult<Entry> {
        self.store.get(&info.key(ns, name)).ok_or_else(|| {
            ApiError::not_found(Subject {
                group: &info.group,
                kind: &info.plural,
                name,
            })
        })
    }

    /// Defaults of a built-in kind plus the registry-side fills kube-apiserver does on write:
    /// a Service's cluster IP (kept from the old object on update, else allocated) and a Job's
    /// generated selector on create.
    fn apply_builtin_defaults(
        &self,
        info: &ResourceInfo,
        op: Operation,
        old: Option<&Value>,
        obj: &mut Value,
    ) {
        defaults::apply_defaults(&info.group, &info.version, &info.kind, obj);
        match (info.group.as_str(), info.kind.as_str()) {
            ("", "Service") if defaults::service_needs_cluster_ip(obj) => {
                let kept = old
                    .and_then(|o| o.pointer("/spec/clusterIP"))
                    .and_then(Value::as_str)
                    .filter(|ip| !ip.is_empty())
                    .map(str::to_string);
                let ip = kept.unwrap_or_else(|| self.allocate_ip());
                defaults::set_service_cluster_ip(obj, &ip);
            }
            ("batch", "Job") if op == Operation::Create => {
                if let Some(uid) = meta_str(obj, "uid").map(str::to_string) {
                    defaults::generate_job_selector(obj, &uid);
                }
            }
            _ => {}
        }
    }

    /// Mutating admission, defaults, schema validation/pruning and name checks.
    fn admit(
        &self,
        info: &ResourceInfo,
        op: Operation,
        ns: Option<&str>,
        old: Option<&Value>,
        obj: &mut Value,
        opts: &WriteOptions,
    ) -> ApiResult<Vec<String>> {
        let name = meta_str(obj, "name").unwrap_or_default().to_string();
        let req = AdmissionRequest {
            operation: op,
            resource: info,
            subresource: opts.subresource.as_deref(),
            namespace: ns,
            old,
            dry_run: opts.dry_run,
        };
        for hook in &self.mutating {
            hook.admit(&req, obj)
                .map_err(|e| admission_error(info, &name, e))?;
        }
        if !info.custom {
            self.apply_builtin_defaults(info, op, old, obj);
        }
        let mut warnings = Vec::new();
        let mut errors: Vec<FieldError> = Vec::new();
        if info.custom {
            if let Some(schema) = &info.schema {
                match schema::process_custom_resource(obj, schema, opts.field_validation) {
                    Ok(w) => warnings.extend(w),
                    Err(SchemaError::UnknownFields(fields)) => {
                        return Err(strict_decoding_error(info, SchemaError::UnknownFields(fields)));
                    }
                    Err(SchemaError::Invalid(errs)) => errors.extend(errs),
                }
            }
            if op == Operation::Create {
                let rule = names::name_rule_for(&info.group, &info.kind);
                errors.extend(names::validate_object_name(&name, rule));
            }
            if let Some(labels) = meta(obj).and_then(|m| m.get("labels")).and_then(Value::as_object) {
                errors.extend(names::validate_labels(labels, "metadata.labels"));
            }
        } else {
            // Unknown fields anywhere in a built-in object (its upstream schema decides), as
            // kube-apiserver's strict decoding reports them; only metadata for kinds without one.
            let unknown = ferry_apimachinery::builtin_schema::prune_unknown_fields(
                &info.group,
                &info.version,
                &info.kind,
                obj,
            )
            .unwrap_or_else(|| {
                obj.get_mut("metadata")
                    .map(|m| schema::prune_object_meta(m, "metadata"))
                    .unwrap_or_default()
            });
            if !unknown.is_empty() {
                match opts.field_validation {
                    FieldValidation::Strict => {
                        return Err(strict_decoding_error(info, SchemaError::UnknownFields(unknown)));
                    }
                    FieldValidation::Warn => {
                        warnings.extend(unknown.iter().map(|f| format!("unknown field {f:?}")));
                    }
                    FieldValidation::Ignore => {}
                }
            }
            errors.extend(validation::validate_builtin(&info.group, &info.kind, obj));
            if info.group == "apiextensions.k8s.io" && info.kind == "CustomResourceDefinition" {
                errors.extend(crd_schema_errors(obj));
            }
        }
        if !errors.is_empty() {
            return Err(ApiError::invalid(
                Subject {
                    group: &info.group,
                    kind: &info.kind,
                    name: &name,
                },
                &errors,
            ));
        }
        for hook in &self.validating {
            hook.validate(&req, obj)
                .map_err(|e| admission_error(info, &name, e))?;
        }
        Ok(warnings)
    }

    fn check_namespace_open(&self, info: &ResourceInfo, ns: Option<&str>) -> ApiResult<()> {
        // Custom resources of a deleting CRD are refused, as kube-apiextensions does.
        if info.custom
            && let Some(crd) = self.store.get(&format!(
                "/apiextensions.k8s.io/customresourcedefinitions/{}.{}",
                info.plural, info.group
            ))
            && crd.value.pointer("/metadata/deletionTimestamp").is_some()
        {
            return Err(ApiError::method_not_allowed(
                "create not allowed while custom resource definition is terminating",
            ));
        }
        let Some(ns) = ns.filter(|_| info.namespaced) else {
            return Ok(());
        };
        let key = format!("/core/namespaces/{ns}");
        match self.store.get(&key) {
            None => Err(ApiError::not_found(Subject {
                group: "",
                kind: "namespaces",
                name: ns,
            })),
            Some(e) if e.value.pointer("/metadata/deletionTimestamp").is_some() => {
                Err(ApiError::forbidden(format!(
                    "{} \"{}\" is forbidden: unable to create new content in namespace {ns} because it is being terminated",
                    info.plural,
                    meta_str(&e.value, "name").unwrap_or_default()
                )))
            }
            Some(_) => Ok(()),
        }
    }

    /// Creates `obj` (already parsed) in `ns`.
    pub async fn create(
        &self,
        info: &ResourceInfo,
        ns: Option<&str>,
        mut obj: Value,
        opts: &WriteOptions,
    ) -> ApiResult<Written> {
        if !obj.is_object() {
            return Err(ApiError::bad_request(format!(
                "{} in body must be a JSON object",
                info.kind
            )));
        }
        check_type(info, &obj)?;
        // An empty namespace in the body means "not set" (kubectl's generators send "").
        let body_ns = meta_str(&obj, "namespace")
            .filter(|n| !n.is_empty())
            .map(str::to_string);
        if let (Some(path_ns), Some(body_ns)) = (ns, body_ns.as_deref())
            && info.namespaced
            && path_ns != body_ns
        {
            return Err(ApiError::bad_request(
                "the namespace of the provided object does not match the namespace sent on the request",
            ));
        }
        let now = now_rfc3339();
        {
            let m = meta_mut(&mut obj).ok_or_else(|| ApiError::bad_request("metadata must be an object"))?;
            let name_empty = m.get("name").and_then(Value::as_str).is_none_or(str::is_empty);
            if name_empty
                && let Some(base) = m.get("generateName").and_then(Value::as_str).map(str::to_string)
            {
                let generated = names::generate_name(&base, &mut || self.random_u64());
                m.insert("name".into(), json!(generated));
            }
            if info.namespaced {
                if let Some(ns) = ns {
                    m.insert("namespace".into(), json!(ns));
                }
            } else {
                m.remove("namespace");
            }
            m.insert("uid".into(), json!(uuid::Uuid::new_v4().to_string()));
            m.insert("creationTimestamp".into(), json!(now));
            m.remove("resourceVersion");
            m.remove("deletionTimestamp");
            m.remove("deletionGracePeriodSeconds");
            m.remove("selfLink");
            m.remove("managedFields");
            if info.tracks_generation {
                m.insert("generation".into(), json!(1));
            } else {
                m.remove("generation");
            }
        }
        if let Some(m) = obj.as_object_mut() {
            m.insert("apiVersion".into(), json!(info.api_version()));
            m.insert("kind".into(), json!(info.kind));
        }
        reset_status_on_create(info, &mut obj);
        let ns = if info.namespaced {
            ns.or(body_ns.as_deref())
        } else {
            None
        };
        if info.namespaced && ns.is_none() {
            return Err(ApiError::bad_request(format!(
                "{} is namespaced: a namespace is required",
                info.kind
            )));
        }
        let warnings = self.admit(info, Operation::Create, ns, None, &mut obj, opts)?;
        self.check_namespace_open(info, ns)?;
        let name = meta_str(&obj, "name").unwrap_or_default().to_string();
        record_update(info, None, &mut obj, opts, &now, self.shape(info))?;
        self.finish_create(info, ns, &name, obj, opts, warnings).await
    }

    async fn finish_create(
        &self,
        info: &ResourceInfo,
        ns: Option<&str>,
        name: &str,
        obj: Value,
        opts: &WriteOptions,
        warnings: Vec<String>,
    ) -> ApiResult<Written> {
        if opts.dry_run {
            if self.store.get(&info.key(ns, name)).is_some() {
                return Err(ApiError::already_exists(Subject {
                    group: &info.group,
                    kind: &info.plural,
                    name,
                }));
            }
            return Ok(Written {
                object: obj,
                warnings,
                created: true,
            });
        }
        if info.group == "apiextensions.k8s.io" {
            self.registry.install_crd(&obj).map_err(|e| {
                ApiError::invalid(
                    Subject {
                        group: &info.group,
                        kind: &info.kind,
                        name,
                    },
                    &[FieldError::invalid(
                        e.field.clone(),
                        Value::Null,
                        e.message.clone(),
                    )],
                )
            })?;
        }
        match self
            .store
            .create(info.key(ns, name), Self::to_storage(info, obj))
            .await
        {
            Ok(entry) => Ok(Written {
                object: self.present(info, &entry),
                warnings,
                created: true,
            }),
            Err(StoreError::AlreadyExists(_)) => Err(ApiError::already_exists(Subject {
                group: &info.group,
                kind: &info.plural,
                name,
            })),
            Err(e) => Err(e.into()),
        }
    }

    /// Read-modify-write of one object: `change` maps the current object (as clients see it) to the desired
    /// one. Retries on storage conflicts unless the desired object pins a different resourceVersion.
    pub async fn update_with<F>(
        &self,
        info: &ResourceInfo,
        ns: Option<&str>,
        name: &str,
        opts: &WriteOptions,
        mut change: F,
    ) -> ApiResult<Written>
    where
        F: FnMut(&Value) -> ApiResult<Value>,
    {
        for _ in 0..16 {
            let entry = self.get_entry(info, ns, name)?;
            let current = self.present(info, &entry);
            let desired = change(&current)?;
            match self
                .update_once(info, ns, name, &entry, &current, desired, opts)
                .await
            {
                Err(UpdateError::Retry) => continue,
                Err(UpdateError::Api(e)) => return Err(e),
                Ok(w) => return Ok(w),
            }
        }
        Err(ApiError::stale(Subject {
            group: &info.group,
            kind: &info.plural,
            name,
        }))
    }

    #[allow(clippy::too_many_arguments)]
    async fn update_once(
        &self,
        info: &ResourceInfo,
        ns: Option<&str>,
        name: &str,
        entry: &Entry,
        current: &Value,
        mut desired: Value,
        opts: &WriteOptions,
    ) -> Result<Written, UpdateError> {
        let subject = || Subject {
            group: &info.group,
            kind: &info.plural,
            name,
        };
        if !desired.is_object() {
            return Err(ApiError::bad_request(format!("{} in body must be a JSON object", info.kind)).into());
        }
        check_type(info, &desired)?;
        if let Some(body_name) = meta_str(&desired, "name")
            && body_name != name
        {
            return Err(ApiError::bad_request(format!(
                "the name of the object ({body_name}) does not match the name on the URL ({name})"
            ))
            .into());
        }
        match meta_str(&desired, "resourceVersion") {
            Some(rv) if !rv.is_empty() && rv != entry.mod_revision.to_string() => {
                return Err(ApiError::stale(subject()).into());
            }
            _ => {}
        }
        if let Some(uid) = meta_str(&desired, "uid")
            && Some(uid) != meta_str(current, "uid")
        {
            return Err(ApiError::conflict(
                subject(),
                &format!(
                    "Precondition failed: UID in precondition: {uid}, UID in object meta: {}",
                    meta_str(current, "uid").unwrap_or_default()
                ),
            )
            .into());
        }
        let sub = opts.subresource.as_deref();
        // Status writes change only status; main-resource writes never change status when it is a subresource.
        if sub == Some("status") {
            let status = desired.get("status").cloned();
            desired = current.clone();
            if let Some(m) = desired.as_object_mut() {
                match status {
                    Some(s) => m.insert("status".into(), s),
                    None => m.remove("status"),
                };
            }
        } else if info.has_status {
            let status = current.get("status").cloned();
            if let Some(m) = desired.as_object_mut() {
                match status {
                    Some(s) => m.insert("status".into(), s),
                    None => m.remove("status"),
                };
            }
        }
        if let Some(m) = desired.as_object_mut() {
            m.insert("apiVersion".into(), json!(info.api_version()));
            m.insert("kind".into(), json!(info.kind));
        }
        let current_meta = meta(current).cloned().unwrap_or_default();
        if let Some(m) = meta_mut(&mut desired) {
            for keep in [
                "uid",
                "creationTimestamp",
                "deletionTimestamp",
                "deletionGracePeriodSeconds",
                "generation",
                "namespace",
            ] {
                match current_meta.get(keep) {
                    Some(v) => m.insert(keep.into(), v.clone()),
                    None => m.remove(keep),
                };
            }
            m.insert("name".into(), json!(name));
            m.remove("resourceVersion");
            if !m.contains_key("managedFields")
                && let Some(mf) = current_meta.get("managedFields")
            {
                m.insert("managedFields".into(), mf.clone());
            }
        }
        // Once deletion started, finalizers may only be removed.
        if current_meta.contains_key("deletionTimestamp") {
            let old: Vec<String> = finalizers(current);
            let new: Vec<String> = finalizers(&desired);
            if new.iter().any(|f| !old.contains(f)) {
                return Err(ApiError::invalid(
                    Subject {
                        group: &info.group,
                        kind: &info.kind,
                        name,
                    },
                    &[FieldError::forbidden(
                        "metadata.finalizers",
                        "no new finalizers can be added if the object is being deleted",
                    )],
                )
                .into());
            }
        }
        let warnings = self.admit(info, Operation::Update, ns, Some(current), &mut desired, opts)?;
        if info.tracks_generation && spec_part(current) != spec_part(&desired) {
            let g = current_meta
                .get("generation")
                .and_then(Value::as_i64)
                .unwrap_or(0);
            if let Some(m) = meta_mut(&mut desired) {
                m.insert("generation".into(), json!(g + 1));
            }
        }
        if opts.field_manager != APPLY_MANAGER {
            record_update(
                info,
                Some(current),
                &mut desired,
                opts,
                &now_rfc3339(),
                self.shape(info),
            )?;
        }
        if comparable(current) == comparable(&desired) {
            return Ok(Written {
                object: current.clone(),
                warnings,
                created: false,
            });
        }
        if opts.dry_run {
            let mut out = desired;
            if let Some(m) = meta_mut(&mut out) {
                m.insert("resourceVersion".into(), json!(entry.mod_revision.to_string()));
            }
            return Ok(Written {
                object: out,
                warnings,
                created: false,
            });
        }
        let key = info.key(ns, name);
        let spec_finalizers_left = info.group.is_empty()
            && info.plural == "namespaces"
            && desired
                .pointer("/spec/finalizers")
                .and_then(Value::as_array)
                .is_some_and(|a| !a.is_empty());
        if current_meta.contains_key("deletionTimestamp")
            && finalizers(&desired).is_empty()
            && !spec_finalizers_left
        {
            return match self.store.delete(key, Some(entry.mod_revision)).await {
                Ok(gone) => {
                    self.after_delete(info, &gone);
                    let mut out = desired;
                    if let Some(m) = meta_mut(&mut out) {
                        m.insert("resourceVersion".into(), json!(gone.mod_revision.to_string()));
                    }
                    Ok(Written {
                        object: out,
                        warnings,
                        created: false,
                    })
                }
                Err(StoreError::Conflict { .. }) => Err(UpdateError::Retry),
                Err(StoreError::NotFound(_)) => Err(ApiError::not_found(subject()).into()),
                Err(e) => Err(ApiError::from(e).into()),
            };
        }
        if info.group == "apiextensions.k8s.io" && !opts.dry_run {
            self.registry.install_crd(&desired).map_err(|e| {
                ApiError::invalid(
                    Subject {
                        group: &info.group,
                        kind: &info.kind,
                        name,
                    },
                    &[FieldError::invalid(
                        e.field.clone(),
                        Value::Null,
                        e.message.clone(),
                    )],
                )
            })?;
        }
        match self
            .store
            .update(key, Self::to_storage(info, desired), Some(entry.mod_revision))
            .await
        {
            Ok(e) => Ok(Written {
                object: self.present(info, &e),
                warnings,
                created: false,
            }),
            Err(StoreError::Conflict { .. }) => Err(UpdateError::Retry),
            Err(StoreError::NotFound(_)) => Err(ApiError::not_found(subject()).into()),
            Err(e) => Err(ApiError::from(e).into()),
        }
    }

    /// Server-side apply (`application/apply-patch+yaml`): creates on first apply.
    pub async fn apply(
        &self,
        info: &ResourceInfo,
        ns: Option<&str>,
        name: &str,
        applied: Value,
        force: bool,
        opts: &WriteOptions,
    ) -> ApiResult<Written> {
        if !applied.is_object() {
            return Err(ApiError::bad_request("the apply configuration must be an object"));
        }
        check_type(info, &applied)?;
        let shape = self.shape(info);
        let manager = opts.field_manager.clone();
        let sub = opts.subresource.as_deref().unwrap_or("");
        let api_version = meta_free_str(&applied, "apiVersion").unwrap_or_else(|| info.api_version());
        let applied = applicable_part(info, sub, applied);
        let apply_error = |e: ApplyError| match e {
            ApplyError::Conflicts(conflicts) => {
                let status = apply::conflict_status(&conflicts);
                let mut e = ApiError::new(
                    409,
                    "Conflict",
                    status
                        .get("message")
                        .and_then(Value::as_str)
                        .unwrap_or("Apply failed with conflicts")
                        .to_string(),
                );
                e.details = Some(json!({
                    "name": name, "group": info.group, "kind": info.plural,
                    "causes": status.pointer("/details/causes").cloned().unwrap_or(json!([])),
                }));
                e
            }
            ApplyError::Invalid(message) => ApiError::bad_request(message),
        };
        if self.store.get(&info.key(ns, name)).is_none() {
            if opts.subresource.is_some() {
                return Err(ApiError::not_found(Subject {
                    group: &info.group,
                    kind: &info.plural,
                    name,
                }));
            }
            let now = now_rfc3339();
            let mut obj = apply::server_side_apply(ApplyRequest {
                live: None,
                applied: &applied,
                manager: &manager,
                force,
                api_version: &api_version,
                subresource: sub,
                time: &now,
                shape,
            })
            .map_err(apply_error)?;
            if let Some(m) = meta_mut(&mut obj) {
                m.insert("name".into(), json!(name));
            }
            let managed = obj.pointer("/metadata/managedFields").cloned();
            let mut create_opts = opts.clone();
            create_opts.field_manager = manager.clone();
            // Create, then restore the Apply entry (create records an Update entry).
            let mut obj_for_create = obj;
            if let Some(m) = meta_mut(&mut obj_for_create) {
                m.remove("managedFields");
            }
            let created = self
                .create_with_managed(info, ns, obj_for_create, &create_opts, managed)
                .await;
            match created {
                Err(e) if e.reason == "AlreadyExists" => {}
                other => return other,
            }
        }
        let mut apply_opts = opts.clone();
        apply_opts.field_manager = APPLY_MANAGER.into();
        self.update_with(info, ns, name, &apply_opts, |current| {
            let mut applied_for_merge = applied.clone();
            if let Some(m) = meta_mut(&mut applied_for_merge) {
                m.remove("resourceVersion");
            }
            let mut merged = apply::server_side_apply(ApplyRequest {
                live: Some(current),
                applied: &applied_for_merge,
                manager: &manager,
                force,
                api_version: &api_version,
                subresource: sub,
                time: &now_rfc3339(),
                shape,
            })
            .map_err(apply_error)?;
            if let (Some(rv), Some(m)) = (meta_str(&applied, "resourceVersion"), meta_mut(&mut merged)) {
                m.insert("resourceVersion".into(), json!(rv));
            }
            Ok(merged)
        })
        .await
    }

    async fn create_with_managed(
        &self,
        info: &ResourceInfo,
        ns: Option<&str>,
        obj: Value,
        opts: &WriteOptions,
        managed: Option<Value>,
    ) -> ApiResult<Written> {
        // Reuse create's checks, then swap in the Apply-operation managedFields before storing.
        let mut dry = opts.clone();
        dry.dry_run = true;
        let prepared = self.create(info, ns, obj, &dry).await?;
        let mut obj = prepared.object;
        if let (Some(mf), Some(m)) = (managed, meta_mut(&mut obj)) {
            m.insert("managedFields".into(), mf);
        }
        if opts.dry_run {
            return Ok(Written {
                object: obj,
                warnings: prepared.warnings,
                created: true,
            });
        }
        let name = meta_str(&obj, "name").unwrap_or_default().to_string();
        let ns = if info.namespaced {
            meta_str(&obj, "namespace").map(str::to_string)
        } else {
            None
        };
        self.finish_create(info, ns.as_deref(), &name, obj, opts, prepared.warnings)
            .await
    }

    /// Deletes one object, honouring finalizers, propagation policy and preconditions.
    pub async fn delete(
        &self,
        info: &ResourceInfo,
        ns: Option<&str>,
        name: &str,
        opts: &DeleteOptions,
    ) -> ApiResult<Value> {
        let subject = || Subject {
            group: &info.group,
            kind: &info.plural,
            name,
        };
        for _ in 0..16 {
            let entry = self.get_entry(info, ns, name)?;
            let current = self.present(info, &entry);
            if let Some(uid) = &opts.precondition_uid
                && Some(uid.as_str()) != meta_str(&current, "uid")
            {
                return Err(ApiError::conflict(
                    subject(),
                    &format!(
                        "Precondition failed: UID in precondition: {uid}, UID in object meta: {}",
                        meta_str(&current, "uid").unwrap_or_default()
                    ),
                ));
            }
            if let Some(rv) = &opts.precondition_rv
                && *rv != entry.mod_revision.to_string()
            {
                return Err(ApiError::conflict(
                    subject(),
                    &format!(
                        "Precondition failed: ResourceVersion in precondition: {rv}, ResourceVersion in object meta: {}",
                        entry.mod_revision
                    ),
                ));
            }
            let mut fin = finalizers(&current);
            let is_namespace = info.group.is_empty() && info.plural == "namespaces";
            match opts.propagation.as_deref() {
                Some("Orphan") if !fin.iter().any(|f| f == ORPHAN_FINALIZER) => {
                    fin.push(ORPHAN_FINALIZER.into())
                }
                Some("Foreground") if !fin.iter().any(|f| f == FOREGROUND_FINALIZER) => {
                    fin.push(FOREGROUND_FINALIZER.into())
                }
                _ => {}
            }
            // A CRD goes only after its custom resources: the CRD finalizer (in gc) deletes them first.
            let is_crd = info.group == "apiextensions.k8s.io" && info.plural == "customresourcedefinitions";
            if is_crd
                && current.pointer("/metadata/deletionTimestamp").is_none()
                && !fin.iter().any(|f| f == CRD_CLEANUP_FINALIZER)
            {
                fin.push(CRD_CLEANUP_FINALIZER.into());
            }
            let has_spec_finalizers = is_namespace
                && current
                    .pointer("/spec/finalizers")
                    .and_then(Value::as_array)
                    .is_some_and(|a| !a.is_empty());
            if fin.is_empty() && !has_spec_finalizers {
                if opts.dry_run {
                    return Ok(current);
                }
                return match self
                    .store
                    .delete(info.key(ns, name), Some(entry.mod_revision))
                    .await
                {
                    Ok(gone) => {
                        self.after_delete(info, &gone);
                        Ok(current)
                    }
                    Err(StoreError::Conflict { .. }) => continue,
                    Err(StoreError::NotFound(_)) => Err(ApiError::not_found(subject())),
                    Err(e) => Err(e.into()),
                };
            }
            // Graceful: mark for deletion and let finalizers (and the GC/namespace controller) finish.
            let mut next = current.clone();
            set_finalizers(&mut next, &fin);
            if let Some(m) = meta_mut(&mut next) {
                m.entry("deletionTimestamp")
                    .or_insert_with(|| json!(now_rfc3339()));
                m.entry("deletionGracePeriodSeconds").or_insert(json!(0));
                m.remove("resourceVersion");
            }
            if is_namespace && let Some(m) = next.as_object_mut() {
                m.insert("status".into(), json!({"phase": "Terminating"}));
            }
            if is_crd && current.pointer("/metadata/deletionTimestamp").is_none() {
                let pending = [crate::gc::Condition {
                    kind: "Terminating",
                    status: "True",
                    reason: "InstanceDeletionPending",
                    message: "CustomResourceDefinition marked for deletion; CustomResource deletion will begin soon"
                        .into(),
                }];
                let merged =
                    crate::gc::merge_conditions(next.pointer("/status/conditions"), &pending, &now_rfc3339());
                if let (Some(merged), Some(status)) = (
                    merged,
                    next.as_object_mut()
                        .map(|m| m.entry("status").or_insert_with(|| json!({})))
                        .and_then(Value::as_object_mut),
                ) {
                    status.insert("conditions".into(), merged);
                }
            }
            if comparable(&next) == comparable(&current) {
                return Ok(current);
            }
            if opts.dry_run {
                return Ok(next);
            }
            match self
                .store
                .update(info.key(ns, name), next, Some(entry.mod_revision))
                .await
            {
                Ok(e) => {
                    self.gc_wake.notify_one();
                    return Ok(self.present(info, &e));
                }
                Err(StoreError::Conflict { .. }) => continue,
                Err(StoreError::NotFound(_)) => return Err(ApiError::not_found(subject())),
                Err(e) => return Err(e.into()),
            }
        }
        Err(ApiError::stale(subject()))
    }

    fn after_delete(&self, info: &ResourceInfo, gone: &Entry) {
        if info.group == "apiextensions.k8s.io"
            && let Some(name) = meta_str(&gone.value, "name")
        {
            // The CRD's objects go with it (all versions share one storage prefix).
            let prefix = crate::registry::crd_resources(&gone.value)
                .ok()
                .and_then(|r| r.first().map(|i| i.prefix()));
            self.registry.remove_crd(name);
            if let Some(prefix) = prefix {
                let store = self.store.clone();
                tokio::spawn(async move {
                    for entry in store.list(&prefix, None, None).entries {
                        let _ = store.delete(entry.key, Some(entry.mod_revision)).await;
                    }
                });
            }
        }
        self.gc_wake.notify_one();
    }
}

enum UpdateError {
    Retry,
    Api(ApiError),
}

impl From<ApiError> for UpdateError {
    fn from(e: ApiError) -> Self {
        UpdateError::Api(e)
    }
}

/// The body's apiVersion/kind must name this resource when present.
fn check_type(info: &ResourceInfo, obj: &Value) -> ApiResult<()> {
    let api_version = obj.get("apiVersion").and_then(Value::as_str);
    let kind = obj.get("kind").and_then(Value::as_str);
    let av_ok = match api_version {
        None | Some("") => true,
        Some(av) => {
            let (g, _) = crate::registry::split_api_version(av);
            g == info.group
        }
    };
    let kind_ok = kind.is_none_or(|k| k.is_empty() || k == info.kind);
    if av_ok && kind_ok {
        Ok(())
    } else {
        Err(ApiError::bad_request(format!(
            "the API version in the data ({}) does not match the expected API version ({}), or kind {:?} is not {}",
            api_version.unwrap_or_default(),
            info.api_version(),
            kind.unwrap_or_default(),
            info.kind
        )))
    }
}

fn reset_status_on_create(info: &ResourceInfo, obj: &mut Value) {
    let Some(m) = obj.as_object_mut() else { return };
    match (info.group.as_str(), info.kind.as_str()) {
        ("", "Namespace") => {
            m.insert("status".into(), json!({"phase": "Active"}));
        }
        ("", "Pod") => {
            m.insert(
                "status".into(),
                json!({"phase": "Pending", "qosClass": "BestEffort"}),
            );
        }
        ("", "Node") => {}
        ("", "Service") => {
            m.insert("status".into(), json!({"loadBalancer": {}}));
        }
        ("apiextensions.k8s.io", _) => {
            m.insert(
                "status".into(),
                json!({"conditions": [
                    {"type": "NamesAccepted", "status": "True", "reason": "NoConflicts", "message": "no conflicts found", "lastTransitionTime": now_rfc3339()},
                    {"type": "Established", "status": "True", "reason": "InitialNamesAccepted", "message": "the initial names have been accepted", "lastTransitionTime": now_rfc3339()}
                ], "acceptedNames": obj_names(m), "storedVersions": stored_versions(m)}),
            );
        }
        _ if info.has_status => {
            m.remove("status");
        }
        _ => {}
    }
}

fn obj_names(m: &Map<String, Value>) -> Value {
    m.get("spec")
        .and_then(|s| s.get("names"))
        .cloned()
        .unwrap_or_else(|| json!({}))
}

fn stored_versions(m: &Map<String, Value>) -> Value {
    let v = Value::Object(m.clone());
    json!(
        crate::registry::crd_storage_version(&v)
            .into_iter()
            .collect::<Vec<_>>()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn app() -> App {
        App::new(Arc::new(ferry_store::MemStore::default()), None)
    }

    fn info(app: &App, group: &str, version: &str, plural: &str) -> Arc<ResourceInfo> {
        match app.registry.get(group, version, plural) {
            Some(i) => i,
            None => panic!("{group}/{version}/{plural} is not served"),
        }
    }

    fn opts(manager: &str, field_validation: FieldValidation) -> WriteOptions {
        WriteOptions {
            field_manager: manager.into(),
            field_validation,
            ..WriteOptions::default()
        }
    }

    async fn with_namespace(app: &App) {
        let ns = info(app, "", "v1", "namespaces");
        let created = app
            .create(
                &ns,
                None,
                json!({"metadata": {"name": "demo"}}),
                &opts("t", FieldValidation::Warn),
            )
            .await;
        assert!(created.is_ok(), "{:?}", created.err());
    }

    #[tokio::test]
    async fn field_validation_covers_builtin_metadata() {
        let app = app();
        with_namespace(&app).await;
        let cms = info(&app, "", "v1", "configmaps");
        let cm = json!({"metadata": {"name": "a", "bogus": 1}, "data": {"k": "v"}});
        let strict = app
            .create(
                &cms,
                Some("demo"),
                cm.clone(),
                &opts("t", FieldValidation::Strict),
            )
            .await
            .err()
            .map(|e| (e.code, e.message));
        assert_eq!(
            strict,
            Some((
                400,
                "ConfigMap in version \"v1\" cannot be handled as a ConfigMap: strict decoding error: unknown field \"metadata.bogus\"".to_string()
            ))
        );
        let warned = app
            .create(&cms, Some("demo"), cm, &opts("t", FieldValidation::Warn))
            .await
            .map(|w| (w.warnings, w.object.pointer("/metadata/bogus").cloned()));
        assert_eq!(
            warned.ok(),
            Some((vec!["unknown field \"metadata.bogus\"".to_string()], None))
        );
    }

    #[tokio::test]
    async fn builtin_validation_rejects_bad_specs() {
        let app = app();
        with_namespace(&app).await;
        let pods = info(&app, "", "v1", "pods");
        let pod = json!({"metadata": {"name": "p"}, "spec": {"restartPolicy": "Sometimes", "containers": [{"name": "c", "image": "nginx"}]}});
        let err = app
            .create(&pods, Some("demo"), pod, &opts("t", FieldValidation::Warn))
            .await
            .err()
            .map(|e| (e.code, e.message));
        let (code, message) = err.unwrap_or_default();
        assert_eq!(code, 422);
        assert!(
            message.contains("spec.restartPolicy: Unsupported value: \"Sometimes\""),
            "{message}"
        );
    }

    #[tokio::test]
    async fn every_write_records_managed_fields_and_services_keep_their_ip() {
        let app = app();
        with_namespace(&app).await;
        let svcs = info(&app, "", "v1", "services");
        let svc = json!({"metadata": {"name": "web"}, "spec": {"ports": [{"port": 80}]}});
        let created = app
            .create(
                &svcs,
                Some("demo"),
                svc.clone(),
                &opts("creator", FieldValidation::Warn),
            )
            .await
            .map(|w| w.object)
            .unwrap_or_default();
        let ip = created.pointer("/spec/clusterIP").cloned();
        assert!(
            ip.as_ref()
                .and_then(Value::as_str)
                .is_some_and(|ip| ip.starts_with("10.96."))
        );
        assert_eq!(
            created.pointer("/metadata/managedFields/0/manager"),
            Some(&json!("creator"))
        );
        // A replace without clusterIP (as `kubectl replace` of the original manifest sends) keeps it.
        let mut replaced = svc;
        replaced["metadata"]["labels"] = json!({"tier": "front"});
        let updated = app
            .update_with(
                &svcs,
                Some("demo"),
                "web",
                &opts("editor", FieldValidation::Warn),
                |_| Ok(replaced.clone()),
            )
            .await
            .map(|w| w.object)
            .unwrap_or_default();
        assert_eq!(updated.pointer("/spec/clusterIP").cloned(), ip);
        let managers: Vec<&Value> = updated
            .pointer("/metadata/managedFields")
            .and_then(Value::as_array)
            .map(|a| a.iter().map(|e| &e["manager"]).collect())
            .unwrap_or_default();
        assert_eq!(managers, [&json!("creator"), &json!("editor")]);
    }

    #[tokio::test]
    async fn apply_to_the_main_resource_ignores_status() {
        let app = app();
        with_namespace(&app).await;
        let deploys = info(&app, "apps", "v1", "deployments");
        let applied = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"},
            "spec": {"selector": {"matchLabels": {"a": "b"}}, "template": {"metadata": {"labels": {"a": "b"}},
                "spec": {"containers": [{"name": "c", "image": "nginx"}]}}},
            "status": {"replicas": 7}});
        let written = app
            .apply(
                &deploys,
                Some("demo"),
                "d",
                applied.clone(),
                false,
                &opts("mgr", FieldValidation::Strict),
            )
            .await
            .map(|w| w.object)
            .unwrap_or_default();
        assert_eq!(written.pointer("/status/replicas"), None, "{written}");
        assert_eq!(
            written.pointer("/spec/replicas"),
            Some(&json!(1)),
            "defaulted: {written}"
        );
        let entry = written
            .pointer("/metadata/managedFields/0")
            .cloned()
            .unwrap_or_default();
        assert_eq!(
            (&entry["manager"], &entry["operation"]),
            (&json!("mgr"), &json!("Apply"))
        );
        assert_eq!(entry.pointer("/fieldsV1/f:status"), None, "{entry}");
        // Applying the same configuration again changes nothing.
        let again = app
            .apply(
                &deploys,
                Some("demo"),
                "d",
                applied,
                false,
                &opts("mgr", FieldValidation::Strict),
            )
            .await
            .map(|w| w.object)
            .unwrap_or_default();
        assert_eq!(
            again.pointer("/metadata/resourceVersion"),
            written.pointer("/metadata/resourceVersion")
        );
    }

    #[tokio::test]
    async fn crds_need_structural_schemas() {
        let app = app();
        let crds = info(&app, "apiextensions.k8s.io", "v1", "customresourcedefinitions");
        let crd = |spec_schema: Value| {
            json!({"metadata": {"name": "widgets.example.com"}, "spec": {"group": "example.com", "scope": "Namespaced",
                "names": {"plural": "widgets", "singular": "widget", "kind": "Widget"},
                "versions": [{"name": "v1", "served": true, "storage": true,
                    "schema": {"openAPIV3Schema": {"type": "object", "properties": {"spec": spec_schema}}}}]}})
        };
        let bad = app
            .create(
                &crds,
                None,
                crd(json!({"properties": {"size": {"type": "integer"}}})),
                &opts("t", FieldValidation::Warn),
            )
            .await
            .err()
            .map(|e| (e.code, e.message));
        let (code, message) = bad.unwrap_or_default();
        assert_eq!(code, 422);
        assert!(
            message.contains("spec.versions[0].schema.openAPIV3Schema.properties[spec].type"),
            "{message}"
        );
        let good = app
            .create(
                &crds,
                None,
                crd(json!({"type": "object", "properties": {"size": {"type": "integer"}}})),
                &opts("t", FieldValidation::Warn),
            )
            .await;
        assert!(good.is_ok(), "{:?}", good.err());
    }
}
