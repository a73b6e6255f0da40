//! `apps/*` workload checks, as gitops-engine's `health_deployment.go`, `health_statefulset.go`,
//! `health_daemonset.go` and `health_replicaset.go` (themselves derived from `kubectl rollout status`).

use serde_json::Value;

use super::{CheckResult, Fields, conditions};
use crate::status::HealthStatus;

/// Deployment:
/// 1. `spec.paused` → Suspended "Deployment is paused".
/// 2. Once the generation is observed: a Progressing condition with reason
///    `ProgressDeadlineExceeded` → Degraded; fewer updated replicas than `spec.replicas`, old replicas
///    still running, or updated replicas not yet available → Progressing (kubectl's messages).
/// 3. Generation not observed yet → Progressing.
/// 4. Otherwise Healthy with an empty message.
pub(crate) fn deployment(obj: &Value) -> CheckResult {
    let f = Fields::new(obj);
    if f.bool(&["spec", "paused"])? {
        return Ok(HealthStatus::suspended("Deployment is paused"));
    }
    let generation = f.int(&["metadata", "generation"])?;
    let observed = f.int(&["status", "observedGeneration"])?;
    if generation > observed {
        return Ok(HealthStatus::progressing(
            "Waiting for rollout to finish: observed deployment generation less than desired generation",
        ));
    }
    let progressing = conditions(&f, &["status", "conditions"])?
        .into_iter()
        .find(|c| c.kind == "Progressing");
    if progressing.is_some_and(|c| c.reason == "ProgressDeadlineExceeded") {
        let name = f.str(&["metadata", "name"])?;
        return Ok(HealthStatus::degraded(format!(
            "Deployment {name:?} exceeded its progress deadline"
        )));
    }
    let spec_replicas = f.opt_int(&["spec", "replicas"])?;
    let updated = f.int(&["status", "updatedReplicas"])?;
    let replicas = f.int(&["status", "replicas"])?;
    let available = f.int(&["status", "availableReplicas"])?;
    if let Some(desired) = spec_replicas
        && updated < desired
    {
        return Ok(HealthStatus::progressing(format!(
            "Waiting for rollout to finish: {updated} out of {desired} new replicas have been updated..."
        )));
    }
    if replicas > updated {
        return Ok(HealthStatus::progressing(format!(
            "Waiting for rollout to finish: {} old replicas are pending termination...",
            replicas.saturating_sub(updated)
        )));
    }
    if available < updated {
        return Ok(HealthStatus::progressing(format!(
            "Waiting for rollout to finish: {available} of {updated} updated replicas are available..."
        )));
    }
    Ok(HealthStatus::healthy(""))
}

/// StatefulSet:
/// 1. `observedGeneration` 0 or behind → Progressing.
/// 2. Fewer ready replicas than `spec.replicas` → Progressing "Waiting for N pods to be ready...".
/// 3. RollingUpdate with a `rollingUpdate` block: behind the partition → Progressing, else Healthy
///    "partitioned roll out complete" (also without a partition, as upstream does).
/// 4. OnDelete → Healthy "statefulset has N ready pods".
/// 5. `updateRevision != currentRevision` → Progressing; else Healthy with the revision.
pub(crate) fn stateful_set(obj: &Value) -> CheckResult {
    let f = Fields::new(obj);
    let generation = f.int(&["metadata", "generation"])?;
    let observed = f.int(&["status", "observedGeneration"])?;
    if observed == 0 || generation > observed {
        return Ok(HealthStatus::progressing(
            "Waiting for statefulset spec update to be observed...",
        ));
    }
    let spec_replicas = f.opt_int(&["spec", "replicas"])?;
    let ready = f.int(&["status", "readyReplicas"])?;
    if let Some(desired) = spec_replicas
        && ready < desired
    {
        return Ok(HealthStatus::progressing(format!(
            "Waiting for {} pods to be ready...",
            desired.saturating_sub(ready)
        )));
    }
    let strategy = f.str(&["spec", "updateStrategy", "type"])?;
    let updated = f.int(&["status", "updatedReplicas"])?;
    if strategy == "RollingUpdate" && f.is_present(&["spec", "updateStrategy", "rollingUpdate"]) {
        let partition = f.opt_int(&["spec", "updateStrategy", "rollingUpdate", "partition"])?;
        if let (Some(desired), Some(partition)) = (spec_replicas, partition)
            && updated < desired.saturating_sub(partition)
        {
            return Ok(HealthStatus::progressing(format!(
                "Waiting for partitioned roll out to finish: {updated} out of {} new pods have been updated...",
                desired.saturating_sub(partition)
            )));
        }
        return Ok(HealthStatus::healthy(format!(
            "partitioned roll out complete: {updated} new pods have been updated..."
        )));
    }
    if strategy == "OnDelete" {
        return Ok(HealthStatus::healthy(format!(
            "statefulset has {ready} ready pods"
        )));
    }
    let update_revision = f.str(&["status", "updateRevision"])?;
    let current_revision = f.str(&["status", "currentRevision"])?;
    if update_revision != current_revision {
        return Ok(HealthStatus::progressing(format!(
            "waiting for statefulset rolling update to complete {updated} pods at revision {update_revision}..."
        )));
    }
    let current = f.int(&["status", "currentReplicas"])?;
    Ok(HealthStatus::healthy(format!(
        "statefulset rolling update complete {current} pods at revision {current_revision}..."
    )))
}

/// DaemonSet: generation behind → Progressing; OnDelete → Healthy with the update count; fewer
/// updated or available pods than desired → Progressing; otherwise Healthy.
pub(crate) fn daemon_set(obj: &Value) -> CheckResult {
    let f = Fields::new(obj);
    let generation = f.int(&["metadata", "generation"])?;
    let observed = f.int(&["status", "observedGeneration"])?;
    if generation > observed {
        return Ok(HealthStatus::progressing(
            "Waiting for rollout to finish: observed daemon set generation less than desired generation",
        ));
    }
    let updated = f.int(&["status", "updatedNumberScheduled"])?;
    let desired = f.int(&["status", "desiredNumberScheduled"])?;
    let available = f.int(&["status", "numberAvailable"])?;
    if f.str(&["spec", "updateStrategy", "type"])? == "OnDelete" {
        return Ok(HealthStatus::healthy(format!(
            "daemon set {updated} out of {desired} new pods have been updated"
        )));
    }
    let name = f.str(&["metadata", "name"])?;
    if updated < desired {
        return Ok(HealthStatus::progressing(format!(
            "Waiting for daemon set {name:?} rollout to finish: {updated} out of {desired} new pods have been updated..."
        )));
    }
    if available < desired {
        return Ok(HealthStatus::progressing(format!(
            "Waiting for daemon set {name:?} rollout to finish: {available} of {desired} updated pods are available..."
        )));
    }
    Ok(HealthStatus::healthy(""))
}

/// ReplicaSet: once observed, a True `ReplicaFailure` condition → Degraded (its message), fewer
/// available replicas than desired → Progressing; generation behind → Progressing; else Healthy.
pub(crate) fn replica_set(obj: &Value) -> CheckResult {
    let f = Fields::new(obj);
    let generation = f.int(&["metadata", "generation"])?;
    let observed = f.int(&["status", "observedGeneration"])?;
    if generation > observed {
        return Ok(HealthStatus::progressing(
            "Waiting for rollout to finish: observed replica set generation less than desired generation",
        ));
    }
    let failure = conditions(&f, &["status", "conditions"])?
        .into_iter()
        .find(|c| c.kind == "ReplicaFailure");
    if let Some(failure) = failure
        && failure.status == "True"
    {
        return Ok(HealthStatus::degraded(failure.message));
    }
    let available = f.int(&["status", "availableReplicas"])?;
    if let Some(desired) = f.opt_int(&["spec", "replicas"])?
        && available < desired
    {
        return Ok(HealthStatus::progressing(format!(
            "Waiting for rollout to finish: {available} out of {desired} new replicas are available..."
        )));
    }
    Ok(HealthStatus::healthy(""))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::builtin::test_support::run_table;
    use crate::status::HealthStatusCode::*;

    #[test]
    fn deployment_table() {
        run_table(
            deployment,
            &[
                (
                    "paused",
                    "spec: {paused: true}",
                    Suspended,
                    "Deployment is paused",
                ),
                (
                    "generation ahead",
                    "metadata: {generation: 3}\nstatus: {observedGeneration: 2}",
                    Progressing,
                    "Waiting for rollout to finish: observed deployment generation less than desired generation",
                ),
                (
                    "deadline exceeded",
                    "metadata: {name: web, generation: 1}\nspec: {replicas: 2}\nstatus: {observedGeneration: 1, conditions: [{type: Progressing, status: 'False', reason: ProgressDeadlineExceeded}]}",
                    Degraded,
                    "Deployment \"web\" exceeded its progress deadline",
                ),
                (
                    "updating",
                    "metadata: {generation: 1}\nspec: {replicas: 3}\nstatus: {observedGeneration: 1, replicas: 3, updatedReplicas: 1}",
                    Progressing,
                    "Waiting for rollout to finish: 1 out of 3 new replicas have been updated...",
                ),
                (
                    "old pending termination",
                    "metadata: {generation: 1}\nspec: {replicas: 2}\nstatus: {observedGeneration: 1, replicas: 3, updatedReplicas: 2, availableReplicas: 2}",
                    Progressing,
                    "Waiting for rollout to finish: 1 old replicas are pending termination...",
                ),
                (
                    "not available",
                    "metadata: {generation: 1}\nspec: {replicas: 2}\nstatus: {observedGeneration: 1, replicas: 2, updatedReplicas: 2, availableReplicas: 1}",
                    Progressing,
                    "Waiting for rollout to finish: 1 of 2 updated replicas are available...",
                ),
                (
                    "healthy",
                    "metadata: {generation: 2}\nspec: {replicas: 2}\nstatus: {observedGeneration: 2, replicas: 2, updatedReplicas: 2, availableReplicas: 2}",
                    Healthy,
                    "",
                ),
                (
                    "no spec.replicas skips the update check",
                    "metadata: {generation: 1}\nstatus: {observedGeneration: 1}",
                    Healthy,
                    "",
                ),
            ],
        );
    }

    #[test]
    fn deployment_wrong_type_names_the_field() {
        let obj = serde_json::json!({"spec": {"replicas": "three"}, "status": {}});
        assert_eq!(
            deployment(&obj).unwrap_err().to_string(),
            "field spec.replicas: expected an integer"
        );
    }

    #[test]
    fn stateful_set_table() {
        run_table(
            stateful_set,
            &[
                (
                    "never observed",
                    "metadata: {generation: 1}\nstatus: {}",
                    Progressing,
                    "Waiting for statefulset spec update to be observed...",
                ),
                (
                    "not ready",
                    "metadata: {generation: 1}\nspec: {replicas: 3}\nstatus: {observedGeneration: 1, readyReplicas: 1}",
                    Progressing,
                    "Waiting for 2 pods to be ready...",
                ),
                (
                    "partition behind",
                    "metadata: {generation: 1}\nspec: {replicas: 3, updateStrategy: {type: RollingUpdate, rollingUpdate: {partition: 1}}}\nstatus: {observedGeneration: 1, readyReplicas: 3, updatedReplicas: 1}",
                    Progressing,
                    "Waiting for partitioned roll out to finish: 1 out of 2 new pods have been updated...",
                ),
                (
                    "partition done",
                    "metadata: {generation: 1}\nspec: {replicas: 3, updateStrategy: {type: RollingUpdate, rollingUpdate: {partition: 1}}}\nstatus: {observedGeneration: 1, readyReplicas: 3, updatedReplicas: 2}",
                    Healthy,
                    "partitioned roll out complete: 2 new pods have been updated...",
                ),
                (
                    "rollingUpdate without partition",
                    "metadata: {generation: 1}\nspec: {replicas: 1, updateStrategy: {type: RollingUpdate, rollingUpdate: {}}}\nstatus: {observedGeneration: 1, readyReplicas: 1, updatedReplicas: 1}",
                    Healthy,
                    "partitioned roll out complete: 1 new pods have been updated...",
                ),
                (
                    "on delete",
                    "metadata: {generation: 1}\nspec: {replicas: 2, updateStrategy: {type: OnDelete}}\nstatus: {observedGeneration: 1, readyReplicas: 2}",
                    Healthy,
                    "statefulset has 2 ready pods",
                ),
                (
                    "rolling",
                    "metadata: {generation: 1}\nspec: {replicas: 2, updateStrategy: {type: RollingUpdate}}\nstatus: {observedGeneration: 1, readyReplicas: 2, updatedReplicas: 1, updateRevision: web-2, currentRevision: web-1}",
                    Progressing,
                    "waiting for statefulset rolling update to complete 1 pods at revision web-2...",
                ),
                (
                    "complete",
                    "metadata: {generation: 1}\nspec: {replicas: 2, updateStrategy: {type: RollingUpdate}}\nstatus: {observedGeneration: 1, readyReplicas: 2, currentReplicas: 2, updateRevision: web-2, currentRevision: web-2}",
                    Healthy,
                    "statefulset rolling update complete 2 pods at revision web-2...",
                ),
            ],
        );
    }

    #[test]
    fn daemon_set_table() {
        run_table(
            daemon_set,
            &[
                (
                    "generation ahead",
                    "metadata: {generation: 2}\nstatus: {observedGeneration: 1}",
                    Progressing,
                    "Waiting for rollout to finish: observed daemon set generation less than desired generation",
                ),
                (
                    "on delete",
                    "metadata: {generation: 1}\nspec: {updateStrategy: {type: OnDelete}}\nstatus: {observedGeneration: 1, updatedNumberScheduled: 1, desiredNumberScheduled: 3}",
                    Healthy,
                    "daemon set 1 out of 3 new pods have been updated",
                ),
                (
                    "updating",
                    "metadata: {name: agent, generation: 1}\nstatus: {observedGeneration: 1, updatedNumberScheduled: 1, desiredNumberScheduled: 3}",
                    Progressing,
                    "Waiting for daemon set \"agent\" rollout to finish: 1 out of 3 new pods have been updated...",
                ),
                (
                    "not available",
                    "metadata: {name: agent, generation: 1}\nstatus: {observedGeneration: 1, updatedNumberScheduled: 3, desiredNumberScheduled: 3, numberAvailable: 2}",
                    Progressing,
                    "Waiting for daemon set \"agent\" rollout to finish: 2 of 3 updated pods are available...",
                ),
                (
                    "healthy",
                    "metadata: {name: agent, generation: 1}\nstatus: {observedGeneration: 1, updatedNumberScheduled: 3, desiredNumberScheduled: 3, numberAvailable: 3}",
                    Healthy,
                    "",
                ),
            ],
        );
    }

    #[test]
    fn replica_set_table() {
        run_table(
            replica_set,
            &[
                (
                    "generation ahead",
                    "metadata: {generation: 2}\nstatus: {observedGeneration: 1}",
                    Progressing,
                    "Waiting for rollout to finish: observed replica set generation less than desired generation",
                ),
                (
                    "failure",
                    "metadata: {generation: 1}\nspec: {replicas: 2}\nstatus: {observedGeneration: 1, conditions: [{type: ReplicaFailure, status: 'True', message: quota exceeded}]}",
                    Degraded,
                    "quota exceeded",
                ),
                (
                    "failure condition false is ignored",
                    "metadata: {generation: 1}\nspec: {replicas: 2}\nstatus: {observedGeneration: 1, availableReplicas: 2, conditions: [{type: ReplicaFailure, status: 'False', message: old}]}",
                    Healthy,
                    "",
                ),
                (
                    "not available",
                    "metadata: {generation: 1}\nspec: {replicas: 2}\nstatus: {observedGeneration: 1, availableReplicas: 1}",
                    Progressing,
                    "Waiting for rollout to finish: 1 out of 2 new replicas are available...",
                ),
            ],
        );
    }
}
