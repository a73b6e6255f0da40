//! Which served version an object was written in, and the API resources of both versions.
//!
//! The CRDs use conversion strategy `None`: the API server returns the stored body under
//! whatever version the client asked for, only rewriting `apiVersion`. The body keeps the
//! shape it was created with, so the controller must know that version to parse it and to
//! write status back in the same shape. The creator's `managedFields` entry records it.

use ferry_types::tekton::GROUP;
use ferry_types::tekton::convert::ApiVersion;
use kube::core::ApiResource;
use serde_json::Value;

/// The four Tekton kinds the controller reads or writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TektonKind {
    Task,
    Pipeline,
    PipelineRun,
    TaskRun,
}

impl TektonKind {
    pub fn kind(self) -> &'static str {
        match self {
            TektonKind::Task => "Task",
            TektonKind::Pipeline => "Pipeline",
            TektonKind::PipelineRun => "PipelineRun",
            TektonKind::TaskRun => "TaskRun",
        }
    }

    pub fn plural(self) -> &'static str {
        match self {
            TektonKind::Task => "tasks",
            TektonKind::Pipeline => "pipelines",
            TektonKind::PipelineRun => "pipelineruns",
            TektonKind::TaskRun => "taskruns",
        }
    }
}

/// The API resource of `kind` served at `version`.
pub fn api_resource(kind: TektonKind, version: ApiVersion) -> ApiResource {
    let api_version = version.as_str();
    ApiResource {
        group: GROUP.to_string(),
        version: api_version
            .strip_prefix(&format!("{GROUP}/"))
            .unwrap_or(api_version)
            .to_string(),
        api_version: api_version.to_string(),
        kind: kind.kind().to_string(),
        plural: kind.plural().to_string(),
    }
}

/// The version `object` was created in: the `apiVersion` of its first `managedFields`
/// entry that is not a subresource write (the creator's), else the version its body's
/// shape reveals, else v1.
pub fn created_version(kind: TektonKind, object: &Value) -> ApiVersion {
    let from_managed_fields = object
        .pointer("/metadata/managedFields")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|entry| {
            entry
                .get("subresource")
                .and_then(Value::as_str)
                .is_none_or(str::is_empty)
        })
        .find_map(|entry| {
            entry
                .get("apiVersion")
                .and_then(Value::as_str)
                .and_then(ApiVersion::parse)
        });
    from_managed_fields.unwrap_or_else(|| shape_version(kind, object))
}

/// Fields only a v1beta1 body has (renamed or removed in v1).
fn shape_version(kind: TektonKind, object: &Value) -> ApiVersion {
    let has = |pointer: &str| object.pointer(pointer).is_some();
    let v1beta1_only = match kind {
        TektonKind::Task => has("/spec/resources"),
        TektonKind::Pipeline => has("/spec/resources"),
        TektonKind::PipelineRun => {
            has("/spec/timeout")
                || has("/spec/serviceAccountName")
                || has("/spec/podTemplate")
                || has("/status/pipelineResults")
                || has("/status/taskRuns")
        }
        TektonKind::TaskRun => has("/status/taskResults") || has("/spec/resources"),
    };
    if v1beta1_only {
        ApiVersion::V1beta1
    } else {
        ApiVersion::V1
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn created_version_cases() {
        let cases = [
            (
                "creator's entry wins over the controller's status writes",
                TektonKind::PipelineRun,
                json!({"metadata": {"managedFields": [
                    {"manager": "kubectl-client-side-apply", "operation": "Update", "apiVersion": "tekton.dev/v1beta1"},
                    {"manager": "ferry-pipelines", "operation": "Update", "apiVersion": "tekton.dev/v1", "subresource": "status"}
                ]}}),
                ApiVersion::V1beta1,
            ),
            (
                "a status-only entry is skipped",
                TektonKind::TaskRun,
                json!({"metadata": {"managedFields": [
                    {"manager": "ferry-pipelines", "apiVersion": "tekton.dev/v1beta1", "subresource": "status"},
                    {"manager": "kubectl", "apiVersion": "tekton.dev/v1"}
                ]}}),
                ApiVersion::V1,
            ),
            (
                "no managedFields, v1beta1 timeout field",
                TektonKind::PipelineRun,
                json!({"spec": {"timeout": "1h"}}),
                ApiVersion::V1beta1,
            ),
            (
                "no managedFields, v1 shape",
                TektonKind::PipelineRun,
                json!({"spec": {"timeouts": {"pipeline": "1h"}}}),
                ApiVersion::V1,
            ),
            (
                "unknown versions in managedFields fall back to the shape",
                TektonKind::TaskRun,
                json!({"metadata": {"managedFields": [{"apiVersion": "tekton.dev/v1alpha1"}]},
                       "status": {"taskResults": []}}),
                ApiVersion::V1beta1,
            ),
        ];
        for (what, kind, object, expected) in cases {
            assert_eq!(created_version(kind, &object), expected, "{what}");
        }
    }

    #[test]
    fn api_resources_name_group_version_and_plural() {
        let resource = api_resource(TektonKind::PipelineRun, ApiVersion::V1beta1);
        assert_eq!(resource.group, "tekton.dev");
        assert_eq!(resource.version, "v1beta1");
        assert_eq!(resource.api_version, "tekton.dev/v1beta1");
        assert_eq!(resource.kind, "PipelineRun");
        assert_eq!(resource.plural, "pipelineruns");
    }
}
