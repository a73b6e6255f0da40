//! Ferry's own checks for Tekton runs (`tekton.dev` PipelineRun and TaskRun, v1beta1 and v1).
//!
//! Both kinds report a single `Succeeded` condition (knative duck type):
//! * no condition yet → Progressing "Waiting for <Kind> to start";
//! * `True` → Healthy with the condition's message (e.g. "Tasks Completed: 3 (Failed: 0, ...)");
//! * `False` → Degraded "<reason>: <message>" (failed, cancelled, timed out, invalid);
//! * `Unknown` with reason `PipelineRunPending`/`TaskRunPending` (the user set
//!   `spec.status: …Pending`) → Suspended;
//! * any other `Unknown` (Started, Running, ToBeRetried, …) → Progressing with the message.

use serde_json::Value;

use super::{CheckResult, Condition, Fields, conditions};
use crate::status::HealthStatus;

fn run_health(obj: &Value, kind: &str, pending_reason: &str) -> CheckResult {
    let f = Fields::new(obj);
    let succeeded = conditions(&f, &["status", "conditions"])?
        .into_iter()
        .find(|c| c.kind == "Succeeded");
    let Some(condition) = succeeded else {
        return Ok(HealthStatus::progressing(format!("Waiting for {kind} to start")));
    };
    let text = |c: &Condition<'_>| {
        if c.message.is_empty() {
            c.reason.to_owned()
        } else {
            c.message.to_owned()
        }
    };
    Ok(match condition.status {
        "True" => HealthStatus::healthy(text(&condition)),
        "False" if condition.reason.is_empty() => HealthStatus::degraded(text(&condition)),
        "False" => HealthStatus::degraded(format!("{}: {}", condition.reason, condition.message)),
        _ if condition.reason == pending_reason => HealthStatus::suspended(text(&condition)),
        _ => HealthStatus::progressing(text(&condition)),
    })
}

pub(crate) fn pipeline_run(obj: &Value) -> CheckResult {
    run_health(obj, "PipelineRun", "PipelineRunPending")
}

pub(crate) fn task_run(obj: &Value) -> CheckResult {
    run_health(obj, "TaskRun", "TaskRunPending")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::builtin::test_support::run_table;
    use crate::status::HealthStatusCode::*;

    #[test]
    fn pipeline_run_table() {
        run_table(
            pipeline_run,
            &[
                ("new", "spec: {}", Progressing, "Waiting for PipelineRun to start"),
                (
                    "running",
                    "status: {conditions: [{type: Succeeded, status: Unknown, reason: Running, message: 'Tasks Completed: 0 (Failed: 0, Cancelled 0), Incomplete: 1, Skipped: 0'}]}",
                    Progressing,
                    "Tasks Completed: 0 (Failed: 0, Cancelled 0), Incomplete: 1, Skipped: 0",
                ),
                (
                    "pending",
                    "status: {conditions: [{type: Succeeded, status: Unknown, reason: PipelineRunPending, message: ''}]}",
                    Suspended,
                    "PipelineRunPending",
                ),
                (
                    "succeeded",
                    "status: {conditions: [{type: Succeeded, status: 'True', reason: Succeeded, message: 'Tasks Completed: 1 (Failed: 0, Cancelled 0), Skipped: 0'}]}",
                    Healthy,
                    "Tasks Completed: 1 (Failed: 0, Cancelled 0), Skipped: 0",
                ),
                (
                    "failed",
                    "status: {conditions: [{type: Succeeded, status: 'False', reason: ParameterMissing, message: 'missing param x'}]}",
                    Degraded,
                    "ParameterMissing: missing param x",
                ),
            ],
        );
    }

    #[test]
    fn task_run_table() {
        run_table(
            task_run,
            &[
                (
                    "running",
                    "status: {conditions: [{type: Succeeded, status: Unknown, reason: Running, message: Not all Steps in the Task have finished executing}]}",
                    Progressing,
                    "Not all Steps in the Task have finished executing",
                ),
                (
                    "pending",
                    "status: {conditions: [{type: Succeeded, status: Unknown, reason: TaskRunPending}]}",
                    Suspended,
                    "TaskRunPending",
                ),
                (
                    "step failed",
                    "status: {conditions: [{type: Succeeded, status: 'False', reason: StepFailed, message: '\"step-build\" exited with code 2'}]}",
                    Degraded,
                    "StepFailed: \"step-build\" exited with code 2",
                ),
                (
                    "succeeded",
                    "status: {conditions: [{type: Succeeded, status: 'True', reason: Succeeded, message: All Steps have completed executing}]}",
                    Healthy,
                    "All Steps have completed executing",
                ),
            ],
        );
    }
}
