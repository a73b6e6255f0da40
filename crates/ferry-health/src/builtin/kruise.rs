//! Ferry's own checks for OpenKruise workloads: CloneSet, Advanced StatefulSet and Advanced
//! DaemonSet (`apps.kruise.io`).
//!
//! Argo CD ships Lua scripts for these kinds. They keep that vocabulary ("Cloneset is paused",
//! "Cloneset needs manual intervention", "All Cloneset workloads are ready and updated") but fix
//! the scripts' known quirks. All three kinds share one rule list, applied in order:
//!
//! 1. No `status` → Progressing "Waiting for initialization".
//! 2. `status.observedGeneration < metadata.generation` → Progressing (the status describes an
//!    older spec). Upstream waits for equality too, but with a generic message.
//! 3. A `Progressing` condition with reason `ProgressDeadlineExceeded` → Degraded.
//! 4. `paused` → Suspended "<Kind> is paused".
//! 5. The rollout is still moving — fewer updated pods than expected (`replicas − partition`),
//!    extra pods still terminating, updated pods not yet available, or fewer available pods than
//!    desired. Then a True `FailedUpdate`/`FailedScale` condition makes it Degraded (these
//!    conditions are never cleared by Kruise, so they only count while the rollout is stuck);
//!    otherwise Progressing with a message saying which count lags. Upstream reports Degraded for
//!    any lag; here lag is Progressing, because a rolling update is not a failure.
//! 6. Everything the partition allows is done but some pods are held back → Suspended
//!    "<Kind> needs manual intervention: N of R pods wait behind partition P; lower
//!    spec.updateStrategy.partition to continue the rollout". When every pod is already updated
//!    (e.g. a first deployment, where Kruise creates all pods at the update revision), the
//!    partition holds nothing and the workload is Healthy.
//! 7. Otherwise Healthy "All <Kind> workloads are ready and updated".
//!
//! Zero counters are omitted by Kruise (`omitempty`) and read as 0; a scaled-to-zero workload is
//! Healthy (upstream: Suspended). `partition` may be an integer or a percentage string; percentages
//! round up against `replicas`, and below "100%" at least one pod updates (Kruise ≥ 1.2, PR #954).

use serde_json::Value;

use super::{CheckResult, FieldError, Fields, conditions};
use crate::status::HealthStatus;

/// What keeps pods on the old revision once the rollout went as far as it may.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Hold {
    /// `partition` as written in the spec (`"3"`, `"20%"`).
    Partition { written: String, field: &'static str },
    /// Updates only happen when pods are deleted by hand; nothing is waiting on Ferry's side.
    OnDelete,
}

/// The numbers the shared rules look at, read from one workload.
#[derive(Debug)]
struct RolloutView<'a> {
    /// "Cloneset", "StatefulSet" or "DaemonSet", used in messages.
    label: &'static str,
    name: &'a str,
    desired: i64,
    /// Pods the partition allows on the new revision.
    expected_updated: i64,
    hold: Hold,
    paused: bool,
    total: Option<i64>,
    updated: i64,
    updated_available: Option<i64>,
    available: i64,
}

fn judge(view: &RolloutView<'_>, f: &Fields<'_>) -> CheckResult {
    let label = view.label;
    let conditions = conditions(f, &["status", "conditions"])?;
    if conditions
        .iter()
        .any(|c| c.kind == "Progressing" && c.reason == "ProgressDeadlineExceeded")
    {
        return Ok(HealthStatus::degraded(format!(
            "{label} {:?} exceeded its progress deadline",
            view.name
        )));
    }
    if view.paused {
        return Ok(HealthStatus::suspended(format!("{label} is paused")));
    }

    let lag = if view.updated < view.expected_updated {
        Some(format!(
            "Waiting for rollout to finish: {} out of {} new replicas have been updated...",
            view.updated, view.expected_updated
        ))
    } else if let Some(total) = view.total.filter(|total| *total > view.desired) {
        Some(format!(
            "Waiting for rollout to finish: {} extra replicas are pending termination...",
            total.saturating_sub(view.desired)
        ))
    } else if let Some(ready) = view
        .updated_available
        .filter(|ready| *ready < view.expected_updated)
    {
        Some(format!(
            "Waiting for rollout to finish: {ready} of {} updated replicas are available...",
            view.expected_updated
        ))
    } else if view.available < view.desired {
        Some(format!(
            "Waiting for rollout to finish: {} of {} replicas are available...",
            view.available, view.desired
        ))
    } else {
        None
    };
    if let Some(lag) = lag {
        let failure = conditions
            .iter()
            .find(|c| matches!(c.kind, "FailedUpdate" | "FailedScale") && c.status == "True");
        return Ok(match failure {
            Some(c) => HealthStatus::degraded(format!("{}: {}", c.kind, c.message)),
            None => HealthStatus::progressing(lag),
        });
    }

    if view.updated < view.desired {
        let waiting = view.desired.saturating_sub(view.updated);
        return Ok(match &view.hold {
            Hold::Partition { written, field } => HealthStatus::suspended(format!(
                "{label} needs manual intervention: {waiting} of {} pods wait behind partition {written}; lower {field} to continue the rollout",
                view.desired
            )),
            Hold::OnDelete => HealthStatus::healthy(format!(
                "{label} has {} available pods; {waiting} pods update when deleted (updateStrategy OnDelete)",
                view.available
            )),
        });
    }
    Ok(HealthStatus::healthy(format!(
        "All {label} workloads are ready and updated"
    )))
}

/// Steps 1 and 2 of the rules: status present and generation observed.
fn initial_checks(f: &Fields<'_>, label: &str) -> Result<Option<HealthStatus>, FieldError> {
    if !f.is_present(&["status"]) {
        return Ok(Some(HealthStatus::progressing("Waiting for initialization")));
    }
    let generation = f.int(&["metadata", "generation"])?;
    let observed = f.int(&["status", "observedGeneration"])?;
    if observed < generation {
        return Ok(Some(HealthStatus::progressing(format!(
            "Waiting for rollout to finish: observed {label} generation less than desired generation"
        ))));
    }
    Ok(None)
}

/// Resolves an IntOrString partition against `replicas` as Kruise does; returns the number of pods
/// kept on the old revision and the value as written.
pub(crate) fn resolve_partition(
    value: Option<&Value>,
    replicas: i64,
    field: &'static str,
) -> Result<(i64, String), FieldError> {
    let error = || FieldError {
        field: field.to_owned(),
        expected: "an integer or a percentage such as \"20%\"",
    };
    let Some(value) = value.filter(|v| !v.is_null()) else {
        return Ok((0, "0".to_owned()));
    };
    match value {
        Value::Number(number) => {
            let int = number
                .as_i64()
                .or_else(|| number.as_f64().filter(|f| f.fract() == 0.0).map(|f| f as i64))
                .ok_or_else(error)?;
            Ok((int.clamp(0, replicas.max(0)), int.to_string()))
        }
        Value::String(text) => {
            let percent: i64 = text
                .strip_suffix('%')
                .and_then(|digits| digits.trim().parse().ok())
                .filter(|p| *p >= 0)
                .ok_or_else(error)?;
            let replicas = replicas.max(0);
            // ceil(replicas * percent / 100) in integers.
            let mut kept = replicas.saturating_mul(percent).saturating_add(99) / 100;
            kept = kept.min(replicas);
            if replicas > 1 && kept == replicas && percent != 100 {
                kept = replicas - 1;
            }
            Ok((kept, text.clone()))
        }
        _ => Err(error()),
    }
}

/// apps.kruise.io/CloneSet (rules in the module documentation).
pub(crate) fn clone_set(obj: &Value) -> CheckResult {
    let f = Fields::new(obj);
    const LABEL: &str = "Cloneset";
    if let Some(early) = initial_checks(&f, "CloneSet")? {
        return Ok(early);
    }
    let desired = f.opt_int(&["spec", "replicas"])?.unwrap_or(1);
    let field = "spec.updateStrategy.partition";
    let (kept, written) = resolve_partition(f.get(&["spec", "updateStrategy", "partition"]), desired, field)?;
    let view = RolloutView {
        label: LABEL,
        name: f.str(&["metadata", "name"])?,
        desired,
        expected_updated: desired.saturating_sub(kept),
        hold: Hold::Partition { written, field },
        paused: f.bool(&["spec", "updateStrategy", "paused"])?,
        total: Some(f.int(&["status", "replicas"])?),
        updated: f.int(&["status", "updatedReplicas"])?,
        updated_available: Some(f.int(&["status", "updatedAvailableReplicas"])?),
        available: f.int(&["status", "availableReplicas"])?,
    };
    judge(&view, &f)
}

/// apps.kruise.io/StatefulSet (Advanced StatefulSet): the same rules, with the partition and
/// `paused` under `spec.updateStrategy.rollingUpdate`; `OnDelete` holds pods without suspending.
pub(crate) fn advanced_stateful_set(obj: &Value) -> CheckResult {
    let f = Fields::new(obj);
    if let Some(early) = initial_checks(&f, "StatefulSet")? {
        return Ok(early);
    }
    let desired = f.opt_int(&["spec", "replicas"])?.unwrap_or(1);
    let field = "spec.updateStrategy.rollingUpdate.partition";
    let on_delete = f.str(&["spec", "updateStrategy", "type"])? == "OnDelete";
    let (kept, hold) = if on_delete {
        (desired, Hold::OnDelete)
    } else {
        let (kept, written) = resolve_partition(
            f.get(&["spec", "updateStrategy", "rollingUpdate", "partition"]),
            desired,
            field,
        )?;
        (kept, Hold::Partition { written, field })
    };
    let updated_available = match f.opt_int(&["status", "updatedAvailableReplicas"])? {
        // Older Kruise versions lack the field; fall back to updatedReadyReplicas.
        Some(count) => count,
        None => f.int(&["status", "updatedReadyReplicas"])?,
    };
    let view = RolloutView {
        label: "StatefulSet",
        name: f.str(&["metadata", "name"])?,
        desired,
        expected_updated: desired.saturating_sub(kept),
        hold,
        paused: f.bool(&["spec", "updateStrategy", "rollingUpdate", "paused"])?,
        total: Some(f.int(&["status", "replicas"])?),
        updated: f.int(&["status", "updatedReplicas"])?,
        updated_available: Some(updated_available),
        available: f.int(&["status", "availableReplicas"])?,
    };
    judge(&view, &f)
}

/// apps.kruise.io/DaemonSet (Advanced DaemonSet): desired pods come from
/// `status.desiredNumberScheduled`, updated from `updatedNumberScheduled`, available from
/// `numberAvailable`; partition and `paused` under `spec.updateStrategy.rollingUpdate`.
pub(crate) fn advanced_daemon_set(obj: &Value) -> CheckResult {
    let f = Fields::new(obj);
    if let Some(early) = initial_checks(&f, "DaemonSet")? {
        return Ok(early);
    }
    let desired = f.int(&["status", "desiredNumberScheduled"])?;
    let field = "spec.updateStrategy.rollingUpdate.partition";
    let on_delete = f.str(&["spec", "updateStrategy", "type"])? == "OnDelete";
    let (kept, hold) = if on_delete {
        (desired, Hold::OnDelete)
    } else {
        let (kept, written) = resolve_partition(
            f.get(&["spec", "updateStrategy", "rollingUpdate", "partition"]),
            desired,
            field,
        )?;
        (kept, Hold::Partition { written, field })
    };
    let view = RolloutView {
        label: "DaemonSet",
        name: f.str(&["metadata", "name"])?,
        desired,
        expected_updated: desired.saturating_sub(kept),
        hold,
        paused: f.bool(&["spec", "updateStrategy", "rollingUpdate", "paused"])?,
        total: None,
        updated: f.int(&["status", "updatedNumberScheduled"])?,
        updated_available: None,
        available: f.int(&["status", "numberAvailable"])?,
    };
    judge(&view, &f)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::builtin::test_support::run_table;
    use crate::status::HealthStatusCode::*;
    use serde_json::json;

    #[test]
    fn partition_resolution_follows_kruise_rounding() {
        let cases = [
            (json!(null), 5, 0),
            (json!(2), 5, 2),
            (json!(9), 5, 5),
            (json!(-1), 5, 0),
            (json!("90%"), 8, 7),
            (json!("99%"), 5, 4),
            (json!("25%"), 10, 3),
            (json!("50%"), 1, 1),
            (json!("100%"), 3, 3),
            (json!("0%"), 3, 0),
            (json!("20%"), 2, 1),
            // Above 100% the value is still not "100%": one pod updates (no overflow either).
            (json!("99999999999999999%"), 3, 2),
        ];
        for (value, replicas, kept) in cases {
            let got = resolve_partition(Some(&value), replicas, "p").unwrap().0;
            assert_eq!(got, kept, "{value} of {replicas}");
        }
        for bad in [json!("3"), json!("x%"), json!(true), json!(1.5)] {
            let err = resolve_partition(Some(&bad), 3, "spec.updateStrategy.partition").unwrap_err();
            assert_eq!(err.field, "spec.updateStrategy.partition", "{bad}");
        }
    }

    const META: &str = "metadata: {name: web, generation: 2}\n";

    fn cs(spec: &str, status: &str) -> String {
        format!("{META}spec: {spec}\nstatus: {status}")
    }

    #[test]
    fn clone_set_table() {
        let rows: Vec<(String, String, crate::status::HealthStatusCode, String)> = vec![
            ("no status".into(), format!("{META}spec: {{replicas: 2}}"), Progressing, "Waiting for initialization".into()),
            (
                "generation ahead".into(),
                cs("{replicas: 2}", "{observedGeneration: 1, replicas: 2, updatedReplicas: 2, updatedAvailableReplicas: 2, availableReplicas: 2}"),
                Progressing,
                "Waiting for rollout to finish: observed CloneSet generation less than desired generation".into(),
            ),
            (
                "paused".into(),
                cs("{replicas: 2, updateStrategy: {paused: true}}", "{observedGeneration: 2, replicas: 2, updatedReplicas: 1, availableReplicas: 2}"),
                Suspended,
                "Cloneset is paused".into(),
            ),
            (
                "deadline exceeded".into(),
                cs("{replicas: 2}", "{observedGeneration: 2, replicas: 2, conditions: [{type: Progressing, status: 'False', reason: ProgressDeadlineExceeded}]}"),
                Degraded,
                "Cloneset \"web\" exceeded its progress deadline".into(),
            ),
            (
                "partial update".into(),
                cs("{replicas: 4}", "{observedGeneration: 2, replicas: 4, updatedReplicas: 1, updatedAvailableReplicas: 1, availableReplicas: 4}"),
                Progressing,
                "Waiting for rollout to finish: 1 out of 4 new replicas have been updated...".into(),
            ),
            (
                "partial update with stuck FailedUpdate".into(),
                cs("{replicas: 4}", "{observedGeneration: 2, replicas: 4, updatedReplicas: 1, conditions: [{type: FailedUpdate, status: 'True', message: image not allowed}]}"),
                Degraded,
                "FailedUpdate: image not allowed".into(),
            ),
            (
                "stale FailedScale is ignored when done".into(),
                cs("{replicas: 2}", "{observedGeneration: 2, replicas: 2, updatedReplicas: 2, updatedAvailableReplicas: 2, availableReplicas: 2, conditions: [{type: FailedScale, status: 'True', message: quota}]}"),
                Healthy,
                "All Cloneset workloads are ready and updated".into(),
            ),
            (
                "surge pods terminating".into(),
                cs("{replicas: 2}", "{observedGeneration: 2, replicas: 3, updatedReplicas: 2, updatedAvailableReplicas: 2, availableReplicas: 3}"),
                Progressing,
                "Waiting for rollout to finish: 1 extra replicas are pending termination...".into(),
            ),
            (
                "partial ready (updated pods not available, zero omitted)".into(),
                cs("{replicas: 2}", "{observedGeneration: 2, replicas: 2, updatedReplicas: 2, readyReplicas: 1, availableReplicas: 1}"),
                Progressing,
                "Waiting for rollout to finish: 0 of 2 updated replicas are available...".into(),
            ),
            (
                "old pods behind partition not available".into(),
                cs("{replicas: 3, updateStrategy: {partition: 1}}", "{observedGeneration: 2, replicas: 3, updatedReplicas: 2, updatedAvailableReplicas: 2, availableReplicas: 2}"),
                Progressing,
                "Waiting for rollout to finish: 2 of 3 replicas are available...".into(),
            ),
            (
                "partition reached (seed: replicas 2, partition 1)".into(),
                cs("{replicas: 2, updateStrategy: {type: InPlaceIfPossible, partition: 1}}", "{observedGeneration: 2, replicas: 2, updatedReplicas: 1, updatedReadyReplicas: 1, updatedAvailableReplicas: 1, availableReplicas: 2, expectedUpdatedReplicas: 1}"),
                Suspended,
                "Cloneset needs manual intervention: 1 of 2 pods wait behind partition 1; lower spec.updateStrategy.partition to continue the rollout".into(),
            ),
            (
                "percent partition reached".into(),
                cs("{replicas: 10, updateStrategy: {partition: '25%'}}", "{observedGeneration: 2, replicas: 10, updatedReplicas: 7, updatedAvailableReplicas: 7, availableReplicas: 10}"),
                Suspended,
                "Cloneset needs manual intervention: 3 of 10 pods wait behind partition 25%; lower spec.updateStrategy.partition to continue the rollout".into(),
            ),
            (
                "first deploy with partition: all pods new".into(),
                cs("{replicas: 2, updateStrategy: {partition: 1}}", "{observedGeneration: 2, replicas: 2, updatedReplicas: 2, updatedReadyReplicas: 2, updatedAvailableReplicas: 2, availableReplicas: 2}"),
                Healthy,
                "All Cloneset workloads are ready and updated".into(),
            ),
            (
                "string 0% partition".into(),
                cs("{replicas: 2, updateStrategy: {partition: '0%'}}", "{observedGeneration: 2, replicas: 2, updatedReplicas: 2, updatedAvailableReplicas: 2, availableReplicas: 2}"),
                Healthy,
                "All Cloneset workloads are ready and updated".into(),
            ),
            (
                "scaled to zero, all fields omitted".into(),
                cs("{replicas: 0}", "{observedGeneration: 2}"),
                Healthy,
                "All Cloneset workloads are ready and updated".into(),
            ),
            (
                "done".into(),
                cs("{replicas: 2}", "{observedGeneration: 2, replicas: 2, updatedReplicas: 2, updatedReadyReplicas: 2, updatedAvailableReplicas: 2, availableReplicas: 2, readyReplicas: 2}"),
                Healthy,
                "All Cloneset workloads are ready and updated".into(),
            ),
            (
                "replicas defaults to 1".into(),
                cs("{}", "{observedGeneration: 2, replicas: 1, updatedReplicas: 1, updatedAvailableReplicas: 1, availableReplicas: 1}"),
                Healthy,
                "All Cloneset workloads are ready and updated".into(),
            ),
        ];
        for (name, text, status, message) in rows {
            let got = clone_set(&crate::builtin::test_support::yaml(&text))
                .unwrap_or_else(|err| panic!("{name}: {err}"));
            assert_eq!(got, HealthStatus::new(status, message), "case {name}");
        }
    }

    #[test]
    fn clone_set_bad_partition_is_an_error_naming_the_field() {
        let obj = json!({"metadata": {"generation": 1}, "spec": {"replicas": 2, "updateStrategy": {"partition": "half"}}, "status": {"observedGeneration": 1}});
        let err = clone_set(&obj).unwrap_err();
        assert_eq!(
            err.to_string(),
            "field spec.updateStrategy.partition: expected an integer or a percentage such as \"20%\""
        );
    }

    #[test]
    fn advanced_stateful_set_table() {
        run_table(
            advanced_stateful_set,
            &[
                (
                    "no status",
                    "spec: {replicas: 1}",
                    Progressing,
                    "Waiting for initialization",
                ),
                (
                    "paused",
                    "metadata: {generation: 1}\nspec: {replicas: 3, updateStrategy: {rollingUpdate: {paused: true}}}\nstatus: {observedGeneration: 1}",
                    Suspended,
                    "StatefulSet is paused",
                ),
                (
                    "partition reached",
                    "metadata: {generation: 1}\nspec: {replicas: 3, updateStrategy: {type: RollingUpdate, rollingUpdate: {partition: 2}}}\nstatus: {observedGeneration: 1, replicas: 3, updatedReplicas: 1, updatedAvailableReplicas: 1, availableReplicas: 3}",
                    Suspended,
                    "StatefulSet needs manual intervention: 2 of 3 pods wait behind partition 2; lower spec.updateStrategy.rollingUpdate.partition to continue the rollout",
                ),
                (
                    "updating, readiness from updatedReadyReplicas",
                    "metadata: {generation: 1}\nspec: {replicas: 3}\nstatus: {observedGeneration: 1, replicas: 3, updatedReplicas: 3, updatedReadyReplicas: 2, availableReplicas: 2}",
                    Progressing,
                    "Waiting for rollout to finish: 2 of 3 updated replicas are available...",
                ),
                (
                    "on delete",
                    "metadata: {generation: 1}\nspec: {replicas: 2, updateStrategy: {type: OnDelete}}\nstatus: {observedGeneration: 1, replicas: 2, updatedReplicas: 0, availableReplicas: 2}",
                    Healthy,
                    "StatefulSet has 2 available pods; 2 pods update when deleted (updateStrategy OnDelete)",
                ),
                (
                    "done",
                    "metadata: {generation: 1}\nspec: {replicas: 2}\nstatus: {observedGeneration: 1, replicas: 2, updatedReplicas: 2, updatedAvailableReplicas: 2, availableReplicas: 2}",
                    Healthy,
                    "All StatefulSet workloads are ready and updated",
                ),
            ],
        );
    }

    #[test]
    fn advanced_daemon_set_table() {
        run_table(
            advanced_daemon_set,
            &[
                (
                    "generation ahead",
                    "metadata: {generation: 2}\nstatus: {observedGeneration: 1}",
                    Progressing,
                    "Waiting for rollout to finish: observed DaemonSet generation less than desired generation",
                ),
                (
                    "updating",
                    "metadata: {generation: 1}\nstatus: {observedGeneration: 1, desiredNumberScheduled: 3, updatedNumberScheduled: 1, numberAvailable: 3}",
                    Progressing,
                    "Waiting for rollout to finish: 1 out of 3 new replicas have been updated...",
                ),
                (
                    "partition reached",
                    "metadata: {generation: 1}\nspec: {updateStrategy: {rollingUpdate: {partition: 1}}}\nstatus: {observedGeneration: 1, desiredNumberScheduled: 3, updatedNumberScheduled: 2, numberAvailable: 3}",
                    Suspended,
                    "DaemonSet needs manual intervention: 1 of 3 pods wait behind partition 1; lower spec.updateStrategy.rollingUpdate.partition to continue the rollout",
                ),
                (
                    "done",
                    "metadata: {generation: 1}\nstatus: {observedGeneration: 1, desiredNumberScheduled: 3, updatedNumberScheduled: 3, numberAvailable: 3}",
                    Healthy,
                    "All DaemonSet workloads are ready and updated",
                ),
            ],
        );
    }
}
