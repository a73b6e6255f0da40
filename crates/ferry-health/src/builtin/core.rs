//! Core-group and networking checks: Pod (`health_pod.go`), Service, PersistentVolumeClaim and
//! Ingress (`health_service.go`, `health_pvc.go`, `health_ingress.go`).

use serde_json::Value;

use super::{CheckResult, FieldError, Fields, conditions};
use crate::status::HealthStatus;

/// True when the object carries an Argo CD or Helm hook annotation.
pub(crate) fn is_hook(obj: &Value) -> bool {
    let annotations = obj.pointer("/metadata/annotations");
    ["argocd.argoproj.io/hook", "helm.sh/hook"]
        .iter()
        .any(|key| annotations.and_then(|a| a.get(key)).is_some())
}

/// Pod:
/// * With `restartPolicy: Always` (or the `argocd.argoproj.io/ignore-restart-policy: "true"`
///   annotation on a non-hook pod), a container waiting with a reason starting with `Err` or ending
///   with `Error`/`BackOff` → Degraded, the waiting messages joined by ", ".
/// * Pending → Progressing; Succeeded → Healthy; Failed → Degraded with the first useful message
///   (`status.message`, a terminated container's message, `OOMKilled`, or the exit code).
/// * Running with `Always`: Ready → Healthy; a container that terminated before → Degraded; else
///   Progressing. Running with `OnFailure`/`Never` → Progressing (hook-like pods).
/// * Anything else → Unknown. Messages default to `status.message`.
pub(crate) fn pod(obj: &Value) -> CheckResult {
    let f = Fields::new(obj);
    let restart_policy = f.str(&["spec", "restartPolicy"])?;
    let ignore_restart_policy = f.str(&[
        "metadata",
        "annotations",
        "argocd.argoproj.io/ignore-restart-policy",
    ])? == "true";
    let container_statuses = f.array(&["status", "containerStatuses"])?;
    if restart_policy == "Always" || (ignore_restart_policy && !is_hook(obj)) {
        let mut messages = Vec::new();
        for (index, status) in container_statuses.iter().enumerate() {
            let container = Fields::new(status);
            let Some(_) = container.get(&["state", "waiting"]) else {
                continue;
            };
            let field = |name: &str| FieldError {
                field: format!("status.containerStatuses[{index}].state.waiting.{name}"),
                expected: "a string",
            };
            let reason = container
                .str(&["state", "waiting", "reason"])
                .map_err(|_| field("reason"))?;
            if reason.starts_with("Err") || reason.ends_with("Error") || reason.ends_with("BackOff") {
                let message = container
                    .str(&["state", "waiting", "message"])
                    .map_err(|_| field("message"))?;
                messages.push(message);
            }
        }
        if !messages.is_empty() {
            return Ok(HealthStatus::degraded(messages.join(", ")));
        }
    }

    let message = f.str(&["status", "message"])?;
    match f.str(&["status", "phase"])? {
        "Pending" => Ok(HealthStatus::progressing(message)),
        "Succeeded" => Ok(HealthStatus::healthy(message)),
        "Failed" => {
            if !message.is_empty() {
                return Ok(HealthStatus::degraded(message));
            }
            let init_statuses = f.array(&["status", "initContainerStatuses"])?;
            for status in init_statuses.iter().chain(container_statuses) {
                if let Some(text) = failure_message(status)? {
                    return Ok(HealthStatus::degraded(text));
                }
            }
            Ok(HealthStatus::degraded(""))
        }
        "Running" => match restart_policy {
            "Always" => {
                let ready = conditions(&f, &["status", "conditions"])?
                    .iter()
                    .any(|c| c.kind == "Ready" && c.status == "True");
                if ready {
                    return Ok(HealthStatus::healthy(message));
                }
                let restarted = container_statuses
                    .iter()
                    .any(|status| Fields::new(status).is_present(&["lastState", "terminated"]));
                if restarted {
                    Ok(HealthStatus::degraded(message))
                } else {
                    Ok(HealthStatus::progressing(message))
                }
            }
            "OnFailure" | "Never" => Ok(HealthStatus::progressing(message)),
            _ => Ok(HealthStatus::unknown(message)),
        },
        _ => Ok(HealthStatus::unknown(message)),
    }
}

/// The failure message of one container status, if it terminated badly.
fn failure_message(status: &Value) -> Result<Option<String>, FieldError> {
    let c = Fields::new(status);
    if !c.is_present(&["state", "terminated"]) {
        return Ok(None);
    }
    let message = c.str(&["state", "terminated", "message"])?;
    if !message.is_empty() {
        return Ok(Some(message.to_owned()));
    }
    if c.str(&["state", "terminated", "reason"])? == "OOMKilled" {
        return Ok(Some("OOMKilled".to_owned()));
    }
    let exit_code = c.int(&["state", "terminated", "exitCode"])?;
    if exit_code != 0 {
        let name = c.str(&["name"])?;
        return Ok(Some(format!(
            "container {name:?} failed with exit code {exit_code}"
        )));
    }
    Ok(None)
}

/// Service: a LoadBalancer without `status.loadBalancer.ingress` → Progressing; else Healthy.
pub(crate) fn service(obj: &Value) -> CheckResult {
    let f = Fields::new(obj);
    if f.str(&["spec", "type"])? == "LoadBalancer"
        && f.array(&["status", "loadBalancer", "ingress"])?.is_empty()
    {
        return Ok(HealthStatus::progressing(""));
    }
    Ok(HealthStatus::healthy(""))
}

/// Ingress (`extensions` and `networking.k8s.io`): load balancer ingress present → Healthy, else
/// Progressing.
pub(crate) fn ingress(obj: &Value) -> CheckResult {
    let f = Fields::new(obj);
    if f.array(&["status", "loadBalancer", "ingress"])?.is_empty() {
        Ok(HealthStatus::progressing(""))
    } else {
        Ok(HealthStatus::healthy(""))
    }
}

/// PersistentVolumeClaim: Bound → Healthy, Pending → Progressing, Lost → Degraded, else Unknown.
pub(crate) fn persistent_volume_claim(obj: &Value) -> CheckResult {
    let f = Fields::new(obj);
    Ok(match f.str(&["status", "phase"])? {
        "Bound" => HealthStatus::healthy(""),
        "Pending" => HealthStatus::progressing(""),
        "Lost" => HealthStatus::degraded(""),
        _ => HealthStatus::unknown(""),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::builtin::test_support::run_table;
    use crate::status::HealthStatusCode::*;

    #[test]
    fn pod_table() {
        run_table(
            pod,
            &[
                (
                    "image pull backoff",
                    "spec: {restartPolicy: Always}\nstatus: {phase: Pending, containerStatuses: [{name: a, state: {waiting: {reason: ImagePullBackOff, message: 'Back-off pulling image \"x\"'}}}, {name: b, state: {waiting: {reason: CrashLoopBackOff, message: crash}}}]}",
                    Degraded,
                    "Back-off pulling image \"x\", crash",
                ),
                (
                    "err prefix",
                    "spec: {restartPolicy: Always}\nstatus: {phase: Pending, containerStatuses: [{name: a, state: {waiting: {reason: ErrImagePull, message: no such image}}}]}",
                    Degraded,
                    "no such image",
                ),
                (
                    "creating is not an error",
                    "spec: {restartPolicy: Always}\nstatus: {phase: Pending, message: scheduling, containerStatuses: [{name: a, state: {waiting: {reason: ContainerCreating}}}]}",
                    Progressing,
                    "scheduling",
                ),
                (
                    "hook pod with backoff is not degraded",
                    "spec: {restartPolicy: Never}\nstatus: {phase: Pending, containerStatuses: [{name: a, state: {waiting: {reason: ImagePullBackOff, message: m}}}]}",
                    Progressing,
                    "",
                ),
                (
                    "ignore-restart-policy annotation",
                    "metadata: {annotations: {argocd.argoproj.io/ignore-restart-policy: 'true'}}\nspec: {restartPolicy: Never}\nstatus: {phase: Pending, containerStatuses: [{name: a, state: {waiting: {reason: ImagePullBackOff, message: m}}}]}",
                    Degraded,
                    "m",
                ),
                (
                    "annotation ignored on hooks",
                    "metadata: {annotations: {argocd.argoproj.io/ignore-restart-policy: 'true', argocd.argoproj.io/hook: PreSync}}\nspec: {restartPolicy: Never}\nstatus: {phase: Pending, containerStatuses: [{name: a, state: {waiting: {reason: ImagePullBackOff, message: m}}}]}",
                    Progressing,
                    "",
                ),
                ("succeeded", "status: {phase: Succeeded}", Healthy, ""),
                (
                    "failed with pod message",
                    "status: {phase: Failed, message: evicted}",
                    Degraded,
                    "evicted",
                ),
                (
                    "failed init container first",
                    "status: {phase: Failed, initContainerStatuses: [{name: init, state: {terminated: {exitCode: 3}}}], containerStatuses: [{name: main, state: {terminated: {message: main died}}}]}",
                    Degraded,
                    "container \"init\" failed with exit code 3",
                ),
                (
                    "failed terminated message",
                    "status: {phase: Failed, containerStatuses: [{name: main, state: {terminated: {exitCode: 1, message: bad config}}}]}",
                    Degraded,
                    "bad config",
                ),
                (
                    "failed oom",
                    "status: {phase: Failed, containerStatuses: [{name: main, state: {terminated: {exitCode: 137, reason: OOMKilled}}}]}",
                    Degraded,
                    "OOMKilled",
                ),
                ("failed without detail", "status: {phase: Failed}", Degraded, ""),
                (
                    "running ready",
                    "spec: {restartPolicy: Always}\nstatus: {phase: Running, conditions: [{type: Ready, status: 'True'}]}",
                    Healthy,
                    "",
                ),
                (
                    "running restarted",
                    "spec: {restartPolicy: Always}\nstatus: {phase: Running, conditions: [{type: Ready, status: 'False'}], containerStatuses: [{name: a, state: {running: {}}, lastState: {terminated: {exitCode: 1}}}]}",
                    Degraded,
                    "",
                ),
                (
                    "running not ready",
                    "spec: {restartPolicy: Always}\nstatus: {phase: Running, conditions: [{type: Ready, status: 'False'}]}",
                    Progressing,
                    "",
                ),
                (
                    "running job pod",
                    "spec: {restartPolicy: OnFailure}\nstatus: {phase: Running}",
                    Progressing,
                    "",
                ),
                (
                    "unknown phase",
                    "status: {phase: Unknown, message: node lost}",
                    Unknown,
                    "node lost",
                ),
            ],
        );
    }

    #[test]
    fn service_ingress_pvc_tables() {
        run_table(
            service,
            &[
                ("cluster ip", "spec: {type: ClusterIP}", Healthy, ""),
                (
                    "lb pending",
                    "spec: {type: LoadBalancer}\nstatus: {loadBalancer: {}}",
                    Progressing,
                    "",
                ),
                (
                    "lb ready",
                    "spec: {type: LoadBalancer}\nstatus: {loadBalancer: {ingress: [{ip: 10.0.0.1}]}}",
                    Healthy,
                    "",
                ),
            ],
        );
        run_table(
            ingress,
            &[
                ("pending", "status: {loadBalancer: {}}", Progressing, ""),
                (
                    "ready",
                    "status: {loadBalancer: {ingress: [{hostname: a.example}]}}",
                    Healthy,
                    "",
                ),
            ],
        );
        run_table(
            persistent_volume_claim,
            &[
                ("bound", "status: {phase: Bound}", Healthy, ""),
                ("pending", "status: {phase: Pending}", Progressing, ""),
                ("lost", "status: {phase: Lost}", Degraded, ""),
                ("none", "{}", Unknown, ""),
            ],
        );
    }
}
