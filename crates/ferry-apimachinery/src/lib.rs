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

pub mod field_error;
pub mod names;
pub mod selector;

pub use field_error::{FieldError, FieldErrorType, invalid_status};
