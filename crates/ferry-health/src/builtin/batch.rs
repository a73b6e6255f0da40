//! `batch/Job` (gitops-engine `health_job.go`) and `batch/CronJob` (Argo CD's built-in Lua script
//! since 3.2, reimplemented in Rust with the same statuses and messages).

use serde_json::Value;

use super::{CheckResult, Fields, conditions};
use crate::status::HealthStatus;

/// Job: scans the conditions by type (their `status` is not consulted, except for `Suspended`):
/// `Failed` → Degraded with its message; `Suspended` with status True → Suspended; `Complete` →
/// Healthy; none of the three → Progressing.
pub(crate) fn job(obj: &Value) -> CheckResult {
    let f = Fields::new(obj);
    let mut failed = None;
    let mut complete = false;
    let mut suspended = false;
    let mut message = "";
    for condition in conditions(&f, &["status", "conditions"])? {
        match condition.kind {
            "Failed" => {
                complete = true;
                failed = Some(condition.message);
            }
            "Complete" => {
                complete = true;
                message = condition.message;
            }
            "Suspended" => {
                complete = true;
                message = condition.message;
                suspended |= condition.status == "True";
            }
            _ => {}
        }
    }
    Ok(if !complete {
        HealthStatus::progressing(message)
    } else if let Some(failure) = failed {
        HealthStatus::degraded(failure)
    } else if suspended {
        HealthStatus::suspended(message)
    } else {
        HealthStatus::healthy(message)
    })
}

/// CronJob:
/// 1. `spec.suspend` → Healthy "CronJob is Suspended" (deliberately not Suspended, argo-cd#24428).
/// 2. No status → Progressing "Waiting for CronJob".
/// 3. Never scheduled → Healthy "CronJob has not been scheduled yet".
/// 4. Scheduled but never succeeded → Healthy (first run may still be going).
/// 5. Active jobs → Healthy (argo-cd#24429).
/// 6. `lastSuccessfulTime < lastScheduleTime` (RFC 3339 text compares in time order) → Degraded.
/// 7. Else Healthy "CronJob has completed its last execution successfully".
pub(crate) fn cron_job(obj: &Value) -> CheckResult {
    let f = Fields::new(obj);
    if f.bool(&["spec", "suspend"])? {
        return Ok(HealthStatus::healthy("CronJob is Suspended"));
    }
    if !f.is_present(&["status"]) {
        return Ok(HealthStatus::progressing("Waiting for CronJob"));
    }
    let Some(last_schedule) = f.opt_str(&["status", "lastScheduleTime"])? else {
        return Ok(HealthStatus::healthy("CronJob has not been scheduled yet"));
    };
    let Some(last_success) = f.opt_str(&["status", "lastSuccessfulTime"])? else {
        return Ok(HealthStatus::healthy(
            "The CronJob never completed successfully. It may not be healthy",
        ));
    };
    if !f.array(&["status", "active"])?.is_empty() {
        return Ok(HealthStatus::healthy(
            "The job is running. Its last execution may not have been successful",
        ));
    }
    if last_success < last_schedule {
        return Ok(HealthStatus::degraded(
            "CronJob has not completed its last execution successfully",
        ));
    }
    Ok(HealthStatus::healthy(
        "CronJob has completed its last execution successfully",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::builtin::test_support::run_table;
    use crate::status::HealthStatusCode::*;

    #[test]
    fn job_table() {
        run_table(
            job,
            &[
                ("running", "status: {active: 1}", Progressing, ""),
                (
                    "failed",
                    "status: {conditions: [{type: Failed, status: 'True', message: BackoffLimitExceeded}]}",
                    Degraded,
                    "BackoffLimitExceeded",
                ),
                (
                    "complete",
                    "status: {conditions: [{type: Complete, status: 'True', message: done}]}",
                    Healthy,
                    "done",
                ),
                (
                    "suspended",
                    "status: {conditions: [{type: Suspended, status: 'True', message: Job suspended}]}",
                    Suspended,
                    "Job suspended",
                ),
                (
                    "resumed",
                    "status: {conditions: [{type: Suspended, status: 'False', message: Job resumed}]}",
                    Healthy,
                    "Job resumed",
                ),
            ],
        );
    }

    #[test]
    fn cron_job_table() {
        run_table(
            cron_job,
            &[
                (
                    "suspended",
                    "spec: {suspend: true}",
                    Healthy,
                    "CronJob is Suspended",
                ),
                ("no status", "spec: {}", Progressing, "Waiting for CronJob"),
                (
                    "never scheduled",
                    "status: {}",
                    Healthy,
                    "CronJob has not been scheduled yet",
                ),
                (
                    "never succeeded",
                    "status: {lastScheduleTime: '2024-01-01T00:00:00Z'}",
                    Healthy,
                    "The CronJob never completed successfully. It may not be healthy",
                ),
                (
                    "running",
                    "status: {lastScheduleTime: '2024-01-02T00:00:00Z', lastSuccessfulTime: '2024-01-01T00:00:10Z', active: [{name: j}]}",
                    Healthy,
                    "The job is running. Its last execution may not have been successful",
                ),
                (
                    "last failed",
                    "status: {lastScheduleTime: '2024-01-02T00:00:00Z', lastSuccessfulTime: '2024-01-01T00:00:10Z'}",
                    Degraded,
                    "CronJob has not completed its last execution successfully",
                ),
                (
                    "last succeeded",
                    "status: {lastScheduleTime: '2024-01-02T00:00:00Z', lastSuccessfulTime: '2024-01-02T00:00:09Z'}",
                    Healthy,
                    "CronJob has completed its last execution successfully",
                ),
            ],
        );
    }
}
