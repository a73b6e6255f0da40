//! The `Succeeded` condition and the reason strings Tekton writes.

use ferry_types::tekton::Condition;
use jiff::Timestamp;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

/// Reasons on PipelineRuns.
pub mod pipeline_run {
    pub const STARTED: &str = "Started";
    pub const RUNNING: &str = "Running";
    pub const PENDING: &str = "PipelineRunPending";
    pub const STOPPING: &str = "PipelineRunStopping";
    pub const CANCELLED_RUNNING_FINALLY: &str = "CancelledRunningFinally";
    pub const STOPPED_RUNNING_FINALLY: &str = "StoppedRunningFinally";
    pub const TIMEOUT_RUNNING_FINALLY: &str = "PipelineRunTimeoutRunningFinally";
    pub const SUCCEEDED: &str = "Succeeded";
    pub const COMPLETED: &str = "Completed";
    pub const FAILED: &str = "Failed";
    pub const CANCELLED: &str = "Cancelled";
    pub const TIMEOUT: &str = "PipelineRunTimeout";
    pub const VALIDATION_FAILED: &str = "PipelineValidationFailed";
    pub const INVALID_GRAPH: &str = "PipelineInvalidGraph";
    pub const COULDNT_GET_PIPELINE: &str = "CouldntGetPipeline";
    pub const COULDNT_GET_TASK: &str = "CouldntGetTask";
    pub const PARAMETER_MISSING: &str = "ParameterMissing";
    pub const PARAMETER_TYPE_MISMATCH: &str = "ParameterTypeMismatch";
    pub const OBJECT_PARAMETER_MISS_KEYS: &str = "ObjectParameterMissKeys";
    pub const PARAM_ARRAY_INDEXING_INVALID: &str = "ParamArrayIndexingInvalid";
    pub const INVALID_TASK_RESULT_REFERENCE: &str = "InvalidTaskResultReference";
    pub const INVALID_WORKSPACE_BINDINGS: &str = "InvalidWorkspaceBindings";
    pub const INVALID_MATRIX_PARAMETER_TYPES: &str = "InvalidMatrixParameterTypes";
    pub const CREATE_RUN_FAILED: &str = "CreateRunFailed";
}

/// Reasons on TaskRuns.
pub mod task_run {
    pub const STARTED: &str = "Started";
    pub const PENDING: &str = "Pending";
    pub const RUNNING: &str = "Running";
    pub const TO_BE_RETRIED: &str = "ToBeRetried";
    pub const TASK_RUN_PENDING: &str = "TaskRunPending";
    pub const SUCCEEDED: &str = "Succeeded";
    pub const FAILED: &str = "Failed";
    pub const STEP_FAILED: &str = "StepFailed";
    pub const CANCELLED: &str = "TaskRunCancelled";
    pub const TIMEOUT: &str = "TaskRunTimeout";
    pub const VALIDATION_FAILED: &str = "TaskRunValidationFailed";
    pub const TASK_VALIDATION_FAILED: &str = "TaskValidationFailed";
    pub const RESOLUTION_FAILED: &str = "TaskRunResolutionFailed";
    pub const RESULT_TOO_LARGE: &str = "TaskRunResultLargerThanAllowedLimit";
    pub const CREATE_CONTAINER_CONFIG_ERROR: &str = "CreateContainerConfigError";
    pub const FAILURE_IGNORED: &str = "FailureIgnored";
    pub const IMAGE_PULL_FAILED: &str = "TaskRunImagePullFailed";
    pub const PULL_IMAGE_FAILED: &str = "PullImageFailed";
    pub const EXCEEDED_NODE_RESOURCES: &str = "ExceededNodeResources";
    pub const INIT_CONTAINER_FAILED: &str = "InitContainerFailed";
    pub const INIT_CONTAINER_OOM: &str = "InitContainerOOM";
    pub const POD_EVICTED: &str = "PodEvicted";
    pub const POD_CREATION_FAILED: &str = "PodCreationFailed";
    pub const RUNNING_MESSAGE: &str = "Not all Steps in the Task have finished executing";
    pub const SUCCEEDED_MESSAGE: &str = "All Steps have completed executing";
}

/// Converts a timestamp to the Kubernetes wire type.
pub fn time(at: Timestamp) -> Time {
    Time(at)
}

/// A `Succeeded` condition.
pub fn succeeded(status: &str, reason: &str, message: impl Into<String>, now: Timestamp) -> Condition {
    Condition {
        type_: "Succeeded".to_string(),
        status: status.to_string(),
        reason: Some(reason.to_string()),
        message: Some(message.into()),
        last_transition_time: Some(time(now)),
        severity: None,
    }
}

/// Replaces the `Succeeded` condition, keeping `lastTransitionTime` when nothing changed.
pub fn set_succeeded(conditions: &mut Vec<Condition>, mut condition: Condition) {
    if let Some(existing) = conditions.iter_mut().find(|c| c.type_ == "Succeeded") {
        if existing.status == condition.status
            && existing.reason == condition.reason
            && existing.message == condition.message
        {
            condition.last_transition_time = existing.last_transition_time.clone();
        }
        *existing = condition;
    } else {
        conditions.push(condition);
    }
}

/// `True`, `False` or `Unknown` of the Succeeded condition, `None` if absent.
pub fn succeeded_status(conditions: &[Condition]) -> Option<&str> {
    conditions
        .iter()
        .find(|c| c.type_ == "Succeeded")
        .map(|c| c.status.as_str())
}

/// The Succeeded reason, if any.
pub fn succeeded_reason(conditions: &[Condition]) -> Option<&str> {
    conditions
        .iter()
        .find(|c| c.type_ == "Succeeded")
        .and_then(|c| c.reason.as_deref())
}

/// Whether the conditions say the run is finished (True or False).
pub fn is_done(conditions: &[Condition]) -> bool {
    matches!(succeeded_status(conditions), Some("True" | "False"))
}

/// How `tkn` prints a run's status: `Succeeded`, `Failed(Reason)`, `Running`, `Cancelled`…
pub fn tkn_status(conditions: &[Condition]) -> String {
    let Some(c) = conditions.iter().find(|c| c.type_ == "Succeeded") else {
        return "---".to_string();
    };
    let reason = c.reason.as_deref().unwrap_or_default();
    let base = match c.status.as_str() {
        "True" => "Succeeded",
        "False" if reason.contains("Cancelled") => "Cancelled",
        "False" => "Failed",
        _ if reason == pipeline_run::PENDING => return "Pending".to_string(),
        _ => "Running",
    };
    if reason.is_empty() || reason == base || (base == "Succeeded" && reason == pipeline_run::COMPLETED) {
        base.to_string()
    } else {
        format!("{base}({reason})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tkn_status_strings() {
        let now = Timestamp::UNIX_EPOCH;
        let cases = [
            (succeeded("True", "Succeeded", "", now), "Succeeded"),
            (succeeded("True", "Completed", "", now), "Succeeded"),
            (
                succeeded("False", "ParameterMissing", "", now),
                "Failed(ParameterMissing)",
            ),
            (succeeded("False", "Failed", "", now), "Failed"),
            (succeeded("False", "Cancelled", "", now), "Cancelled"),
            (
                succeeded("False", "TaskRunCancelled", "", now),
                "Cancelled(TaskRunCancelled)",
            ),
            (succeeded("Unknown", "Running", "", now), "Running"),
            (succeeded("Unknown", "Pending", "", now), "Running(Pending)"),
            (succeeded("Unknown", "PipelineRunPending", "", now), "Pending"),
        ];
        for (condition, expected) in cases {
            assert_eq!(tkn_status(&[condition]), expected);
        }
        assert_eq!(tkn_status(&[]), "---");
    }

    #[test]
    fn set_succeeded_keeps_transition_time_when_unchanged() {
        let t0 = Timestamp::UNIX_EPOCH;
        let t1 = Timestamp::from_second(10).expect("valid");
        let mut conditions = vec![succeeded("Unknown", "Running", "m", t0)];
        set_succeeded(&mut conditions, succeeded("Unknown", "Running", "m", t1));
        assert_eq!(conditions[0].last_transition_time, Some(time(t0)));
        set_succeeded(&mut conditions, succeeded("True", "Succeeded", "m", t1));
        assert_eq!(conditions.len(), 1);
        assert_eq!(conditions[0].last_transition_time, Some(time(t1)));
    }
}
