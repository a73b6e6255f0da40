//! Built-in health checks, written in Rust.
//!
//! * `core`, `apps`, `batch`, `autoscaling`, `networking` and `apiregistration` reproduce the
//!   Go-coded checks of Argo CD's gitops-engine (`pkg/health`) with the same statuses and message
//!   strings; `batch/CronJob` reproduces Argo CD's built-in CronJob Lua script.
//! * `kruise` and `tekton` are Ferry's own checks for OpenKruise and Tekton kinds.
//!
//! Every check reads the object as JSON. Absent fields take Kubernetes' zero values (counters are
//! `omitempty` in the APIs); a field of the wrong JSON type is an error naming the field, which the
//! caller turns into `Unknown`, as Argo CD does when its typed conversion fails.

mod apps;
mod batch;
pub(crate) mod core;
mod kruise;
mod misc;
mod tekton;

use serde_json::Value;

use crate::status::HealthStatus;

/// A field that a built-in check could not read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("field {field}: expected {expected}")]
pub struct FieldError {
    /// Dotted path of the field, e.g. `spec.updateStrategy.partition`.
    pub field: String,
    pub expected: &'static str,
}

pub(crate) type CheckResult = Result<HealthStatus, FieldError>;

type CheckFn = fn(&Value) -> CheckResult;

/// The built-in check for `group`/`kind`, if Ferry has one.
pub(crate) fn builtin_check(group: &str, kind: &str) -> Option<CheckFn> {
    let check: CheckFn = match (group, kind) {
        ("apps", "Deployment") => apps::deployment,
        ("apps", "StatefulSet") => apps::stateful_set,
        ("apps", "DaemonSet") => apps::daemon_set,
        ("apps", "ReplicaSet") => apps::replica_set,
        ("", "Pod") => core::pod,
        ("", "Service") => core::service,
        ("", "PersistentVolumeClaim") => core::persistent_volume_claim,
        ("extensions" | "networking.k8s.io", "Ingress") => core::ingress,
        ("batch", "Job") => batch::job,
        ("batch", "CronJob") => batch::cron_job,
        ("autoscaling", "HorizontalPodAutoscaler") => misc::horizontal_pod_autoscaler,
        ("apiregistration.k8s.io", "APIService") => misc::api_service,
        ("argoproj.io", "Workflow") => misc::workflow,
        ("apps.kruise.io", "CloneSet") => kruise::clone_set,
        ("apps.kruise.io", "StatefulSet") => kruise::advanced_stateful_set,
        ("apps.kruise.io", "DaemonSet") => kruise::advanced_daemon_set,
        ("tekton.dev", "PipelineRun") => tekton::pipeline_run,
        ("tekton.dev", "TaskRun") => tekton::task_run,
        _ => return None,
    };
    Some(check)
}

/// Typed, error-reporting access to fields of a JSON object.
pub(crate) struct Fields<'a> {
    root: &'a Value,
}

impl<'a> Fields<'a> {
    pub(crate) fn new(root: &'a Value) -> Self {
        Fields { root }
    }

    /// The value at `path`, treating JSON `null` as absent.
    pub(crate) fn get(&self, path: &[&str]) -> Option<&'a Value> {
        let mut current = self.root;
        for key in path {
            current = current.get(key)?;
        }
        (!current.is_null()).then_some(current)
    }

    fn error(path: &[&str], expected: &'static str) -> FieldError {
        FieldError {
            field: path.join("."),
            expected,
        }
    }

    /// An integer field; absent → `None`. Integral floats (`2.0`) are accepted, as JSON numbers are.
    pub(crate) fn opt_int(&self, path: &[&str]) -> Result<Option<i64>, FieldError> {
        match self.get(path) {
            None => Ok(None),
            Some(value) => json_int(value)
                .map(Some)
                .ok_or_else(|| Self::error(path, "an integer")),
        }
    }

    /// An integer field with Kubernetes' zero default.
    pub(crate) fn int(&self, path: &[&str]) -> Result<i64, FieldError> {
        Ok(self.opt_int(path)?.unwrap_or(0))
    }

    pub(crate) fn opt_str(&self, path: &[&str]) -> Result<Option<&'a str>, FieldError> {
        match self.get(path) {
            None => Ok(None),
            Some(Value::String(text)) => Ok(Some(text)),
            Some(_) => Err(Self::error(path, "a string")),
        }
    }

    /// A string field, empty when absent.
    pub(crate) fn str(&self, path: &[&str]) -> Result<&'a str, FieldError> {
        Ok(self.opt_str(path)?.unwrap_or(""))
    }

    pub(crate) fn bool(&self, path: &[&str]) -> Result<bool, FieldError> {
        match self.get(path) {
            None => Ok(false),
            Some(Value::Bool(flag)) => Ok(*flag),
            Some(_) => Err(Self::error(path, "a boolean")),
        }
    }

    /// An array field, empty when absent.
    pub(crate) fn array(&self, path: &[&str]) -> Result<&'a [Value], FieldError> {
        match self.get(path) {
            None => Ok(&[]),
            Some(Value::Array(items)) => Ok(items),
            Some(_) => Err(Self::error(path, "a list")),
        }
    }

    pub(crate) fn is_present(&self, path: &[&str]) -> bool {
        self.get(path).is_some()
    }
}

fn json_int(value: &Value) -> Option<i64> {
    if let Some(int) = value.as_i64() {
        return Some(int);
    }
    let float = value.as_f64()?;
    // Only exact integers in a sane range; `as` is safe after the range check.
    (float.fract() == 0.0 && float.abs() < 9.0e15).then_some(float as i64)
}

/// One entry of a `status.conditions` list, with absent fields empty.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Condition<'a> {
    pub kind: &'a str,
    pub status: &'a str,
    pub reason: &'a str,
    pub message: &'a str,
}

/// Reads the list at `path` as Kubernetes conditions (`type`, `status`, `reason`, `message`).
pub(crate) fn conditions<'a>(fields: &Fields<'a>, path: &[&str]) -> Result<Vec<Condition<'a>>, FieldError> {
    let items = fields.array(path)?;
    let mut out = Vec::with_capacity(items.len());
    for (index, item) in items.iter().enumerate() {
        let entry = Fields::new(item);
        let field_error = |field: &str| FieldError {
            field: format!("{}[{index}].{field}", path.join(".")),
            expected: "a string",
        };
        out.push(Condition {
            kind: entry.str(&["type"]).map_err(|_| field_error("type"))?,
            status: entry.str(&["status"]).map_err(|_| field_error("status"))?,
            reason: entry.str(&["reason"]).map_err(|_| field_error("reason"))?,
            message: entry.str(&["message"]).map_err(|_| field_error("message"))?,
        });
    }
    Ok(out)
}

#[cfg(test)]
pub(crate) mod test_support {
    use serde_json::Value;

    use crate::status::{HealthStatus, HealthStatusCode};

    /// Parses a YAML snippet into JSON for table tests.
    pub(crate) fn yaml(text: &str) -> Value {
        serde_saphyr::from_str(text).unwrap_or_else(|err| panic!("bad test YAML: {err}\n{text}"))
    }

    /// Runs `check` over `(name, yaml, status, message)` rows.
    pub(crate) fn run_table(
        check: fn(&Value) -> super::CheckResult,
        rows: &[(&str, &str, HealthStatusCode, &str)],
    ) {
        for (name, text, status, message) in rows {
            let got = check(&yaml(text)).unwrap_or_else(|err| panic!("{name}: {err}"));
            assert_eq!(got, HealthStatus::new(*status, *message), "case {name}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn fields_read_zero_defaults_and_report_wrong_types() {
        let obj = json!({"status": {"replicas": 3, "ready": 2.0, "bad": "x", "gone": null}});
        let fields = Fields::new(&obj);
        assert_eq!(fields.int(&["status", "replicas"]), Ok(3));
        assert_eq!(fields.int(&["status", "ready"]), Ok(2));
        assert_eq!(fields.int(&["status", "absent"]), Ok(0));
        assert_eq!(fields.int(&["status", "gone"]), Ok(0));
        assert_eq!(
            fields.int(&["status", "bad"]),
            Err(FieldError {
                field: "status.bad".into(),
                expected: "an integer"
            })
        );
        assert_eq!(
            fields.str(&["status", "replicas"]).unwrap_err().to_string(),
            "field status.replicas: expected a string"
        );
    }

    #[test]
    fn dispatch_knows_exactly_the_listed_kinds() {
        assert!(builtin_check("apps", "Deployment").is_some());
        assert!(builtin_check("networking.k8s.io", "Ingress").is_some());
        assert!(builtin_check("extensions", "Ingress").is_some());
        assert!(builtin_check("apps.kruise.io", "CloneSet").is_some());
        assert!(builtin_check("", "ConfigMap").is_none());
        assert!(builtin_check("apps", "Pod").is_none());
        assert!(builtin_check("argoproj.io", "Application").is_none());
    }
}

#[cfg(test)]
mod extreme_values {
    use serde_json::json;

    /// Every built-in check survives extreme and negative counters without panicking.
    #[test]
    fn no_check_panics_on_extreme_numbers() {
        let kinds = [
            ("apps", "Deployment"),
            ("apps", "StatefulSet"),
            ("apps", "DaemonSet"),
            ("apps", "ReplicaSet"),
            ("apps.kruise.io", "CloneSet"),
            ("apps.kruise.io", "StatefulSet"),
            ("apps.kruise.io", "DaemonSet"),
        ];
        for extreme in [i64::MIN, -1, i64::MAX] {
            let obj = json!({
                "metadata": {"generation": extreme},
                "spec": {"replicas": extreme, "updateStrategy": {"type": "RollingUpdate", "partition": extreme, "rollingUpdate": {"partition": extreme}}},
                "status": {"observedGeneration": extreme, "replicas": extreme, "readyReplicas": i64::MIN, "updatedReplicas": i64::MIN,
                           "availableReplicas": i64::MIN, "updatedAvailableReplicas": i64::MIN, "desiredNumberScheduled": extreme,
                           "updatedNumberScheduled": i64::MIN, "numberAvailable": i64::MIN}
            });
            for (group, kind) in kinds {
                let check = super::builtin_check(group, kind).unwrap();
                let _ = check(&obj);
            }
        }
    }
}
