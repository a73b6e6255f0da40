//! Admission hook points: the embedded cluster registers mutating and validating plug-ins
//! (e.g. CloneSet defaulting under the `TemplateNoDefaults` gate).

use serde_json::Value;

use crate::registry::ResourceInfo;

/// What is being admitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    Create,
    Update,
}

/// The request an admission plug-in sees.
#[derive(Debug, Clone, Copy)]
pub struct AdmissionRequest<'a> {
    pub operation: Operation,
    pub resource: &'a ResourceInfo,
    /// `status`, `scale`… for subresource writes.
    pub subresource: Option<&'a str>,
    pub namespace: Option<&'a str>,
    /// The stored object, for updates.
    pub old: Option<&'a Value>,
    pub dry_run: bool,
}

/// A refusal from a plug-in; answered as 422 Invalid (with field errors) or 403 Forbidden.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum AdmissionError {
    #[error("invalid: {0:?}")]
    Invalid(Vec<ferry_apimachinery::FieldError>),
    #[error("forbidden: {0}")]
    Forbidden(String),
}

/// Changes objects before validation and storage (runs in registration order).
pub trait MutatingAdmission: Send + Sync + 'static {
    /// A short name for logs.
    fn name(&self) -> &str;
    /// Mutates `object` in place; called only for resources the plug-in cares about (it checks `req.resource`).
    fn admit(&self, req: &AdmissionRequest<'_>, object: &mut Value) -> Result<(), AdmissionError>;
}

/// Checks objects after mutation; may refuse but not change them.
pub trait ValidatingAdmission: Send + Sync + 'static {
    fn name(&self) -> &str;
    fn validate(&self, req: &AdmissionRequest<'_>, object: &Value) -> Result<(), AdmissionError>;
}
