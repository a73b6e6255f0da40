//! API errors rendered as `metav1.Status` bodies with the HTTP code Kubernetes uses.

use axum::{
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use ferry_apimachinery::FieldError;
use serde_json::{Value, json};

/// An error answered to a client as a `Status` object.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{code} {reason}: {message}")]
pub struct ApiError {
    pub code: u16,
    pub reason: &'static str,
    pub message: String,
    pub details: Option<Value>,
}

/// Who the error is about: group, kind (or resource) and name, as `Status.details` names them.
#[derive(Debug, Clone, Default)]
pub struct Subject<'a> {
    pub group: &'a str,
    /// The resource (plural) for NotFound/AlreadyExists/Conflict, the kind for Invalid.
    pub kind: &'a str,
    pub name: &'a str,
}

fn qualified(group: &str, resource: &str) -> String {
    if group.is_empty() {
        resource.to_string()
    } else {
        format!("{resource}.{group}")
    }
}

fn details(s: &Subject<'_>) -> Value {
    json!({"name": s.name, "group": s.group, "kind": s.kind})
}

impl ApiError {
    pub fn new(code: u16, reason: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            code,
            reason,
            message: message.into(),
            details: None,
        }
    }

    pub fn not_found(s: Subject<'_>) -> Self {
        let mut e = Self::new(
            404,
            "NotFound",
            format!("{} \"{}\" not found", qualified(s.group, s.kind), s.name),
        );
        e.details = Some(details(&s));
        e
    }

    pub fn already_exists(s: Subject<'_>) -> Self {
        let mut e = Self::new(
            409,
            "AlreadyExists",
            format!("{} \"{}\" already exists", qualified(s.group, s.kind), s.name),
        );
        e.details = Some(details(&s));
        e
    }

    pub fn conflict(s: Subject<'_>, why: &str) -> Self {
        let mut e = Self::new(
            409,
            "Conflict",
            format!(
                "Operation cannot be fulfilled on {} \"{}\": {why}",
                qualified(s.group, s.kind),
                s.name
            ),
        );
        e.details = Some(details(&s));
        e
    }

    pub fn stale(s: Subject<'_>) -> Self {
        Self::conflict(
            s,
            "the object has been modified; please apply your changes to the latest version and try again",
        )
    }

    /// 422 Invalid listing every field error (`kind` is the Kind, e.g. `ConfigMap`).
    pub fn invalid(s: Subject<'_>, errors: &[FieldError]) -> Self {
        let status = ferry_apimachinery::invalid_status(s.group, s.kind, s.name, errors);
        let message = status
            .get("message")
            .and_then(Value::as_str)
            .unwrap_or("invalid")
            .to_string();
        ApiError {
            code: 422,
            reason: "Invalid",
            message,
            details: status.get("details").cloned(),
        }
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(400, "BadRequest", message)
    }

    pub fn gone(message: impl Into<String>) -> Self {
        Self::new(410, "Expired", message)
    }

    pub fn method_not_allowed(message: impl Into<String>) -> Self {
        Self::new(405, "MethodNotAllowed", message)
    }

    pub fn unsupported_media_type(content_type: &str) -> Self {
        Self::new(
            415,
            "UnsupportedMediaType",
            format!(
                "the body of the request was in an unknown format - accepted media types include: application/json, application/yaml, application/json-patch+json, application/merge-patch+json, application/strategic-merge-patch+json, application/apply-patch+yaml (got {content_type:?})"
            ),
        )
    }

    pub fn too_large(limit: usize) -> Self {
        Self::new(
            413,
            "RequestEntityTooLarge",
            format!("the request body is larger than the limit of {limit} bytes"),
        )
    }

    pub fn unauthorized() -> Self {
        Self::new(401, "Unauthorized", "Unauthorized")
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(403, "Forbidden", message)
    }

    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(500, "InternalError", message)
    }

    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::new(503, "ServiceUnavailable", message)
    }

    pub fn to_status(&self) -> Value {
        let mut v = json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        });
        if let (Some(d), Some(obj)) = (&self.details, v.as_object_mut()) {
            obj.insert("details".into(), d.clone());
        }
        v
    }
}

impl From<ferry_store::StoreError> for ApiError {
    fn from(e: ferry_store::StoreError) -> Self {
        match e {
            ferry_store::StoreError::Compacted { requested, oldest } => {
                Self::gone(format!("too old resource version: {requested} ({oldest})"))
            }
            other => Self::internal(other.to_string()),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let code = StatusCode::from_u16(self.code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut resp = (code, self.to_status().to_string()).into_response();
        resp.headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
        resp
    }
}

pub type ApiResult<T> = Result<T, ApiError>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_name_the_object() {
        let s = || Subject {
            group: "apps",
            kind: "deployments",
            name: "web",
        };
        let cases = [
            (
                ApiError::not_found(s()),
                404,
                "NotFound",
                "deployments.apps \"web\" not found",
            ),
            (
                ApiError::already_exists(s()),
                409,
                "AlreadyExists",
                "deployments.apps \"web\" already exists",
            ),
            (
                ApiError::stale(s()),
                409,
                "Conflict",
                "Operation cannot be fulfilled on deployments.apps \"web\": the object has been modified; please apply your changes to the latest version and try again",
            ),
        ];
        for (err, code, reason, message) in cases {
            let st = err.to_status();
            assert_eq!(st["code"], code);
            assert_eq!(st["reason"], reason);
            assert_eq!(st["message"], message);
            assert_eq!(st["details"]["name"], "web");
        }
    }

    #[test]
    fn invalid_lists_fields() {
        let errs = [FieldError::required("spec.containers", "")];
        let st = ApiError::invalid(
            Subject {
                group: "",
                kind: "Pod",
                name: "p",
            },
            &errs,
        )
        .to_status();
        assert_eq!(st["code"], 422);
        assert_eq!(st["details"]["causes"][0]["field"], "spec.containers");
        assert!(
            st["message"]
                .as_str()
                .unwrap_or_default()
                .contains("Pod \"p\" is invalid")
        );
    }
}
