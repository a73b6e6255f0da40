//! Kubernetes API machinery as pure functions (like `k8s.io/apimachinery`): no I/O, no HTTP.
//!
//! Public API (stable; the API server calls these):
//!
//! * [`field_error`]: `FieldError` (prints like `field.Error`), `invalid_status(group, kind, name, &errs)`
//!   → 422 Status JSON, `group_kind`.
//! * [`selector`]: `LabelSelector::{parse, from_label_selector, matches, matches_object, to_string}`,
//!   `FieldSelector::{parse, check_supported, matches, matches_object}`, `builtin_selectable_fields(group, kind)`,
//!   `field_value(obj, path)`, `SelectorError` (answer 400).
//! * [`names`]: `validate_dns1123_subdomain/label`, `validate_dns1035_label`, `validate_qualified_name`,
//!   `validate_label_value`, `name_rule_for(group, kind)`, `validate_object_name(name, rule)` → `Vec<FieldError>`,
//!   `validate_labels`, `generate_name(base, &mut next_u64)`, `SplitMix64`.
//! * [`typeinfo`]: `is_strategic_merge_capable(group, kind)` (false → answer 415 to SMP),
//!   `Shape::for_builtin(group, kind)`, `Shape::for_schema(&openAPIV3Schema)`.
//! * [`patch`]: `PatchType::from_content_type`, `json_merge_patch(&mut target, &patch)`,
//!   `json_patch(&target, &patch) -> Result<Value, PatchError>`,
//!   `strategic_merge_patch(&original, &patch, shape) -> Result<Value, PatchError>`.
//! * [`managed_fields`]: `update_managed_fields(old, &mut new, UpdateOp{manager, api_version, subresource, time}, shape)`
//!   for create/update/non-apply patch; `manager_from_user_agent(ua)`; `FieldSet` (FieldsV1),
//!   `read_managed_fields`/`write_managed_fields`.
//! * [`apply`]: `server_side_apply(ApplyRequest{live, applied, manager, force, api_version, subresource, time, shape})`
//!   → new object with managedFields, or `ApplyError::Conflicts` (→ `conflict_status(&conflicts)`, 409) /
//!   `ApplyError::Invalid` (400).
//! * [`defaults`]: `apply_defaults(group, version, kind, &mut obj)`, `service_needs_cluster_ip(&svc)`,
//!   `set_service_cluster_ip(&mut svc, ip)`, `generate_job_selector(&mut job, uid)`, `default_image_pull_policy`.
//! * [`schema`]: `FieldValidation::parse(query)`, `process_custom_resource(&mut obj, &schema, mode)` →
//!   warnings, or `SchemaError::UnknownFields` (400) / `SchemaError::Invalid(Vec<FieldError>)` (422);
//!   the steps alone: `prune`, `apply_schema_defaults`, `validate`; `prune_object_meta` (also for built-ins); `validate_structural_schema(&schema, base_path)`
//!   for CRD create/update.
//! * [`openapi`]: `ResourceDescription` (group, version, kind, plural, namespaced, verbs, schema, …),
//!   `by_group_version(&resources)`, `inputs_hash(&gv_resources)` (the `?hash=`/ETag, without building
//!   the document), `build_index(hashes)`, `group_version_document(&gv_resources)` (built-in kinds with
//!   their full schemas), `build_openapi_v3(&resources)` (everything at once); `KUBERNETES_VERSION`.
//! * [`builtin_schema`]: `builtin_schemas()` (k8s-openapi's schemas of the served built-in kinds plus
//!   `x-kubernetes-*` patch/list markers and GVKs, built once), `prune_unknown_fields(group, version, kind,
//!   &mut obj)` → unknown field paths (removed), `None` for kinds that are not built in.
//! * [`strict_json`]: `from_slice_reporting_duplicates(bytes)` → `(Value, duplicate key paths)`.
//! * [`protobuf`]: `decode(body)` of a `k8s\0` `runtime.Unknown` body of any served built-in kind → JSON
//!   (`ProtoError` otherwise); `MESSAGES` (generated field table, `tools/gen_builtin_fields.py`).
//! * [`validation`]: `validate_builtin(group, kind, &obj)` → `Vec<FieldError>` (run after defaulting) for
//!   metadata, pod specs/templates, workload selectors, Job/CronJob, Service, ConfigMap/Secret keys, Ingress.
//! * [`table`]: `to_table(group, kind, &objects, crd_printer_columns, list_metadata, IncludeObject::parse(q)?, now_unix)`
//!   → meta.k8s.io/v1 Table; `columns_for`, `row_cells`, `human_duration`, `age`, `parse_rfc3339`, `jsonpath`.
//!
//! How a request uses them (the API server owns storage, HTTP and status codes):
//!
//! * create: `defaults::apply_defaults` (+ `set_service_cluster_ip`) → `validation::validate_builtin`
//!   (built-ins) or `names::validate_object_name` + `schema::process_custom_resource` (custom resources) →
//!   `managed_fields::update_managed_fields(None, …)`.
//! * update: the same with `Some(&old)`.
//! * patch: `patch::PatchType::from_content_type` (None → 415); JSON → `json_patch`, merge → `json_merge_patch`,
//!   strategic → `typeinfo::is_strategic_merge_capable` (false → 415) then `strategic_merge_patch` with
//!   `Shape::for_builtin`; apply → `apply::server_side_apply` with `Shape::for_builtin` or `Shape::for_schema`
//!   (strip `status` from the applied config on the main resource of kinds with a status subresource
//!   yourself). Non-apply patches then go through defaults/validation and `update_managed_fields` like an update.
//! * list/watch: `selector::LabelSelector::parse`, `selector::FieldSelector::parse` +
//!   `check_supported(builtin_selectable_fields(g, k))`, then `matches_object`; `as=Table` → `table::to_table`.
//! * `/openapi/v3`: `openapi::build_openapi_v3` once per change of the served resources.

pub mod apply;
pub mod builtin_schema;
pub mod defaults;
pub mod event_conversion;
pub mod field_error;
pub mod managed_fields;
pub mod names;
pub mod openapi;
pub mod patch;
pub mod protobuf;
pub mod schema;
pub mod selector;
pub mod strict_json;
pub mod table;
pub mod typeinfo;
pub mod validation;

pub use field_error::{FieldError, FieldErrorType, invalid_status};
