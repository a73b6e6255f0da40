//! Kubernetes-style field errors (`k8s.io/apimachinery/pkg/util/validation/field`) and the
//! 422 `Invalid` Status body built from them.
//!
//! A [`FieldError`] prints exactly as Kubernetes prints `field.Error`:
//! `metadata.name: Invalid value: "Foo": a lowercase RFC 1123 subdomain …`.

use serde_json::{Value, json};
use std::fmt;

/// The kind of a field error; each maps to Kubernetes' `field.ErrorType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldErrorType {
    /// `Not found`
    NotFound,
    /// `Required value`
    Required,
    /// `Duplicate value`
    Duplicate,
    /// `Invalid value`
    Invalid,
    /// `Unsupported value` (an enum value not in the allowed set)
    NotSupported,
    /// `Forbidden`
    Forbidden,
    /// `Too long`
    TooLong,
    /// `Too many`
    TooMany,
    /// `Internal error`
    Internal,
    /// `Invalid value` (wrong JSON type)
    TypeInvalid,
}

impl FieldErrorType {
    /// The human text Kubernetes prints for this type.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::NotFound => "Not found",
            Self::Required => "Required value",
            Self::Duplicate => "Duplicate value",
            Self::Invalid | Self::TypeInvalid => "Invalid value",
            Self::NotSupported => "Unsupported value",
            Self::Forbidden => "Forbidden",
            Self::TooLong => "Too long",
            Self::TooMany => "Too many",
            Self::Internal => "Internal error",
        }
    }

    /// The `reason` of a `StatusCause` (`metav1.CauseType`).
    pub fn cause_reason(self) -> &'static str {
        match self {
            Self::NotFound => "FieldValueNotFound",
            Self::Required => "FieldValueRequired",
            Self::Duplicate => "FieldValueDuplicate",
            Self::Invalid => "FieldValueInvalid",
            Self::NotSupported => "FieldValueNotSupported",
            Self::Forbidden => "FieldValueForbidden",
            Self::TooLong => "FieldValueTooLong",
            Self::TooMany => "FieldValueTooMany",
            Self::Internal => "InternalError",
            Self::TypeInvalid => "FieldValueTypeInvalid",
        }
    }
}

/// One validation error on one field.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldError {
    /// Dotted field path, e.g. `spec.template.spec.containers[0].image`.
    pub field: String,
    /// What is wrong.
    pub error_type: FieldErrorType,
    /// The offending value, printed for Invalid/NotSupported/Duplicate/TypeInvalid/NotFound.
    pub bad_value: Option<Value>,
    /// Free-text detail.
    pub detail: String,
}

impl FieldError {
    /// A generic constructor.
    pub fn new(
        field: impl Into<String>,
        error_type: FieldErrorType,
        bad_value: Option<Value>,
        detail: impl Into<String>,
    ) -> Self {
        Self {
            field: field.into(),
            error_type,
            bad_value,
            detail: detail.into(),
        }
    }
    /// `Invalid value: <v>: detail`.
    pub fn invalid(field: impl Into<String>, value: Value, detail: impl Into<String>) -> Self {
        Self::new(field, FieldErrorType::Invalid, Some(value), detail)
    }
    /// `Required value[: detail]`.
    pub fn required(field: impl Into<String>, detail: impl Into<String>) -> Self {
        Self::new(field, FieldErrorType::Required, None, detail)
    }
    /// `Forbidden[: detail]`.
    pub fn forbidden(field: impl Into<String>, detail: impl Into<String>) -> Self {
        Self::new(field, FieldErrorType::Forbidden, None, detail)
    }
    /// `Unsupported value: <v>: supported values: "a", "b"`.
    pub fn not_supported(field: impl Into<String>, value: Value, allowed: &[String]) -> Self {
        let quoted: Vec<String> = allowed.iter().map(|a| format!("{a:?}")).collect();
        Self::new(
            field,
            FieldErrorType::NotSupported,
            Some(value),
            format!("supported values: {}", quoted.join(", ")),
        )
    }

    /// The text after `field: ` (Kubernetes' `ErrorBody`), used as a StatusCause message.
    pub fn body(&self) -> String {
        let mut s = self.error_type.as_str().to_string();
        let show_value = !matches!(
            self.error_type,
            FieldErrorType::Required
                | FieldErrorType::Forbidden
                | FieldErrorType::Internal
                | FieldErrorType::TooLong
        );
        if show_value && let Some(v) = &self.bad_value {
            s.push_str(": ");
            s.push_str(&go_value(v));
        }
        if !self.detail.is_empty() {
            s.push_str(": ");
            s.push_str(&self.detail);
        }
        s
    }
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.body())
    }
}

impl std::error::Error for FieldError {}

/// Formats a value the way Go's `%q`/`%d`/`%v` would inside a field error.
pub fn go_value(v: &Value) -> String {
    match v {
        Value::String(s) => format!("{s:?}"),
        Value::Null => "null".to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::Array(_) => "\"array\"".to_string(),
        Value::Object(_) => "\"object\"".to_string(),
    }
}

/// `Kind.group` as Kubernetes prints a GroupKind (`ConfigMap`, `Deployment.apps`).
pub fn group_kind(group: &str, kind: &str) -> String {
    if group.is_empty() {
        kind.to_string()
    } else {
        format!("{kind}.{group}")
    }
}

/// The 422 `Invalid` Status body for `errors` on object `name` of `group`/`kind`:
/// message `ConfigMap "x" is invalid: <err>` or `… is invalid: [<err1>, <err2>]`.
pub fn invalid_status(group: &str, kind: &str, name: &str, errors: &[FieldError]) -> Value {
    let joined = match errors {
        [one] => one.to_string(),
        many => format!(
            "[{}]",
            many.iter().map(|e| e.to_string()).collect::<Vec<_>>().join(", ")
        ),
    };
    let causes: Vec<Value> = errors
        .iter()
        .map(|e| json!({"reason": e.error_type.cause_reason(), "message": e.body(), "field": e.field}))
        .collect();
    json!({
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": format!("{} {:?} is invalid: {}", group_kind(group, kind), name, joined),
        "reason": "Invalid",
        "details": {"name": name, "group": group, "kind": kind, "causes": causes},
        "code": 422
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_matches_kubernetes() {
        let cases = [
            (
                FieldError::invalid("metadata.name", json!("Foo"), "bad"),
                r#"metadata.name: Invalid value: "Foo": bad"#,
            ),
            (
                FieldError::required("spec.containers", ""),
                "spec.containers: Required value",
            ),
            (
                FieldError::required("spec.x", "must be set"),
                "spec.x: Required value: must be set",
            ),
            (
                FieldError::invalid("spec.replicas", json!(3), "too big"),
                "spec.replicas: Invalid value: 3: too big",
            ),
            (
                FieldError::not_supported("spec.type", json!("X"), &["A".into(), "B".into()]),
                r#"spec.type: Unsupported value: "X": supported values: "A", "B""#,
            ),
        ];
        for (err, want) in cases {
            assert_eq!(err.to_string(), want);
        }
    }

    #[test]
    fn invalid_status_single_and_many() {
        let one = [FieldError::required("data", "")];
        let s = invalid_status("", "ConfigMap", "cm", &one);
        assert_eq!(s["message"], r#"ConfigMap "cm" is invalid: data: Required value"#);
        assert_eq!(s["code"], 422);
        assert_eq!(s["details"]["causes"][0]["reason"], "FieldValueRequired");
        let two = [FieldError::required("a", ""), FieldError::forbidden("b", "no")];
        let s = invalid_status("apps", "Deployment", "d", &two);
        assert_eq!(
            s["message"],
            r#"Deployment.apps "d" is invalid: [a: Required value, b: Forbidden: no]"#
        );
        assert_eq!(s["details"]["causes"].as_array().map(Vec::len), Some(2));
    }
}
