//! HorizontalPodAutoscaler (`health_hpa.go`), APIService (`health_apiservice.go`) and
//! `argoproj.io/Workflow` (`health_argo.go`).

use serde_json::Value;

use super::{CheckResult, Condition, FieldError, Fields, conditions};
use crate::status::HealthStatus;

const HPA_V1_CONDITIONS_ANNOTATION: &str = "autoscaling.alpha.kubernetes.io/conditions";

/// (type, reason) pairs that mean the autoscaler cannot work.
const HPA_DEGRADED: [(&str, &str); 8] = [
    ("AbleToScale", "FailedGetScale"),
    ("AbleToScale", "FailedUpdateScale"),
    ("ScalingActive", "FailedGetResourceMetric"),
    ("ScalingActive", "FailedGetObjectMetric"),
    ("ScalingActive", "FailedGetPodsMetric"),
    ("ScalingActive", "FailedGetExternalMetric"),
    ("ScalingActive", "FailedComputeMetricsReplicas"),
    ("ScalingActive", "InvalidSelector"),
];

/// HorizontalPodAutoscaler: conditions come from `status.conditions` (v2) or, for
/// `autoscaling/v1`, from the JSON in the `autoscaling.alpha.kubernetes.io/conditions`
/// annotation. The first condition that is degraded (see `HPA_DEGRADED`) or healthy
/// (`AbleToScale`/`ScalingLimited` True) decides, with its message; otherwise Progressing
/// "Waiting to Autoscale".
pub(crate) fn horizontal_pod_autoscaler(obj: &Value) -> CheckResult {
    let f = Fields::new(obj);
    let is_v1 = f.str(&["apiVersion"])? == "autoscaling/v1";
    let annotation_json;
    let decided = if is_v1 {
        let Some(text) = f.opt_str(&["metadata", "annotations", HPA_V1_CONDITIONS_ANNOTATION])? else {
            return Ok(HealthStatus::progressing("Waiting to Autoscale"));
        };
        annotation_json = serde_json::from_str::<Value>(text).map_err(|_| FieldError {
            field: format!("metadata.annotations[{HPA_V1_CONDITIONS_ANNOTATION}]"),
            expected: "a JSON list of conditions",
        })?;
        let wrapped = serde_json::json!({ "conditions": annotation_json });
        decide_hpa(&conditions(&Fields::new(&wrapped), &["conditions"])?)
    } else {
        decide_hpa(&conditions(&f, &["status", "conditions"])?)
    };
    Ok(decided.unwrap_or_else(|| HealthStatus::progressing("Waiting to Autoscale")))
}

fn decide_hpa(conditions: &[Condition<'_>]) -> Option<HealthStatus> {
    conditions.iter().find_map(|c| {
        if HPA_DEGRADED.contains(&(c.kind, c.reason)) {
            Some(HealthStatus::degraded(c.message))
        } else if matches!(c.kind, "AbleToScale" | "ScalingLimited") && c.status == "True" {
            Some(HealthStatus::healthy(c.message))
        } else {
            None
        }
    })
}

/// APIService: the `Available` condition True → Healthy "<reason>: <message>", False/Unknown →
/// Progressing with the same text; without it → Progressing "Waiting to be processed".
pub(crate) fn api_service(obj: &Value) -> CheckResult {
    let f = Fields::new(obj);
    let available = conditions(&f, &["status", "conditions"])?
        .into_iter()
        .find(|c| c.kind == "Available");
    Ok(match available {
        Some(c) if c.status == "True" => HealthStatus::healthy(format!("{}: {}", c.reason, c.message)),
        Some(c) => HealthStatus::progressing(format!("{}: {}", c.reason, c.message)),
        None => HealthStatus::progressing("Waiting to be processed"),
    })
}

/// Argo Workflow: phase empty/Pending/Running → Progressing, Succeeded → Healthy,
/// Failed/Error → Degraded, else Unknown; the message is `status.message`.
pub(crate) fn workflow(obj: &Value) -> CheckResult {
    let f = Fields::new(obj);
    let message = f.str(&["status", "message"])?;
    Ok(match f.str(&["status", "phase"])? {
        "" | "Pending" | "Running" => HealthStatus::progressing(message),
        "Succeeded" => HealthStatus::healthy(message),
        "Failed" | "Error" => HealthStatus::degraded(message),
        _ => HealthStatus::unknown(message),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::builtin::test_support::run_table;
    use crate::status::HealthStatusCode::*;

    #[test]
    fn hpa_table() {
        run_table(
            horizontal_pod_autoscaler,
            &[
                (
                    "v2 degraded",
                    "apiVersion: autoscaling/v2\nstatus: {conditions: [{type: AbleToScale, status: 'True', reason: SucceededGetScale, message: ok}, {type: ScalingActive, status: 'False', reason: FailedGetResourceMetric, message: no metrics}]}",
                    Healthy,
                    "ok",
                ),
                (
                    "v2 degraded first",
                    "apiVersion: autoscaling/v2\nstatus: {conditions: [{type: ScalingActive, status: 'False', reason: FailedGetResourceMetric, message: no metrics}, {type: AbleToScale, status: 'True', message: ok}]}",
                    Degraded,
                    "no metrics",
                ),
                (
                    "v2 limited",
                    "apiVersion: autoscaling/v2\nstatus: {conditions: [{type: ScalingLimited, status: 'True', reason: TooFewReplicas, message: min}]}",
                    Healthy,
                    "min",
                ),
                (
                    "v2 nothing yet",
                    "apiVersion: autoscaling/v2\nstatus: {}",
                    Progressing,
                    "Waiting to Autoscale",
                ),
                (
                    "v1 annotation",
                    "apiVersion: autoscaling/v1\nmetadata: {annotations: {autoscaling.alpha.kubernetes.io/conditions: '[{\"type\":\"AbleToScale\",\"status\":\"False\",\"reason\":\"FailedGetScale\",\"message\":\"no scale\"}]'}}",
                    Degraded,
                    "no scale",
                ),
                (
                    "v1 without annotation",
                    "apiVersion: autoscaling/v1\nmetadata: {}",
                    Progressing,
                    "Waiting to Autoscale",
                ),
            ],
        );
        let bad = serde_json::json!({"apiVersion": "autoscaling/v1", "metadata": {"annotations": {HPA_V1_CONDITIONS_ANNOTATION: "{not json"}}});
        assert!(
            horizontal_pod_autoscaler(&bad)
                .unwrap_err()
                .field
                .contains(HPA_V1_CONDITIONS_ANNOTATION)
        );
    }

    #[test]
    fn api_service_and_workflow_tables() {
        run_table(
            api_service,
            &[
                (
                    "available",
                    "status: {conditions: [{type: Available, status: 'True', reason: Passed, message: all checks passed}]}",
                    Healthy,
                    "Passed: all checks passed",
                ),
                (
                    "unavailable",
                    "status: {conditions: [{type: Available, status: 'False', reason: MissingEndpoints, message: no endpoints}]}",
                    Progressing,
                    "MissingEndpoints: no endpoints",
                ),
                ("new", "status: {}", Progressing, "Waiting to be processed"),
            ],
        );
        run_table(
            workflow,
            &[
                ("empty", "{}", Progressing, ""),
                ("ok", "status: {phase: Succeeded}", Healthy, ""),
                ("error", "status: {phase: Error, message: boom}", Degraded, "boom"),
                ("odd", "status: {phase: Weird}", Unknown, ""),
            ],
        );
    }
}
