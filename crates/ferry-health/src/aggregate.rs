//! Application health from resource health (Argo CD `setApplicationHealth`).
//!
//! * The worst status wins, in the order Healthy < Suspended < Progressing < Missing < Degraded <
//!   Unknown; an application with no counted resource is Healthy.
//! * Not counted: resources whose live object is missing (they are Missing on their own, but
//!   OutOfSync already says so), resources without a health check, hooks, resources annotated
//!   `argocd.argoproj.io/ignore-healthcheck: "true"`, and child `argoproj.io/Application`s that are
//!   Missing or Unknown.
//! * If every resource is missing, the application is Missing.
//! * When the result is not Healthy, the message names the resources that have the final status:
//!   "Caused by <group/Kind:namespace/name>, … and N more", at most 3 named.

use serde_json::Value;

use crate::assess::assess_with;
use crate::builtin::core::is_hook;
use crate::lua::LuaRuntime;
use crate::settings::ResourceOverrides;
use crate::status::{HealthStatus, HealthStatusCode};

pub const IGNORE_HEALTHCHECK_ANNOTATION: &str = "argocd.argoproj.io/ignore-healthcheck";
pub const MAX_HEALTH_CAUSES_SHOWN: usize = 3;

/// Identity of one managed resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourceRef {
    pub group: String,
    pub kind: String,
    pub namespace: String,
    pub name: String,
}

impl std::fmt::Display for ResourceRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if !self.group.is_empty() {
            write!(f, "{}/", self.group)?;
        }
        write!(f, "{}:", self.kind)?;
        if !self.namespace.is_empty() {
            write!(f, "{}/", self.namespace)?;
        }
        f.write_str(&self.name)
    }
}

/// How one resource enters aggregation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResourceHealthState {
    /// No live object.
    Missing,
    /// Hook, ignored by annotation, or without a health check.
    NotCounted,
    /// A live object's health.
    Assessed(HealthStatus),
}

/// Aggregates per-resource states into the application's health.
pub fn aggregate(resources: &[(ResourceRef, ResourceHealthState)]) -> HealthStatus {
    if !resources.is_empty()
        && resources
            .iter()
            .all(|(_, state)| *state == ResourceHealthState::Missing)
    {
        return HealthStatus::missing("");
    }
    let mut worst = HealthStatusCode::Healthy;
    for (resource, state) in resources {
        let ResourceHealthState::Assessed(health) = state else {
            continue;
        };
        if is_ignored_child_app(resource, health.status) {
            continue;
        }
        if health.status.is_worse_than(worst) {
            worst = health.status;
        }
    }
    if worst == HealthStatusCode::Healthy {
        return HealthStatus::healthy("");
    }
    let causes: Vec<String> = resources
        .iter()
        .filter(|(resource, state)| {
            matches!(state, ResourceHealthState::Assessed(h) if h.status == worst && !is_ignored_child_app(resource, h.status))
        })
        .map(|(resource, _)| resource.to_string())
        .collect();
    HealthStatus::new(worst, caused_by(&causes))
}

fn is_ignored_child_app(resource: &ResourceRef, status: HealthStatusCode) -> bool {
    resource.group == "argoproj.io"
        && resource.kind == "Application"
        && matches!(status, HealthStatusCode::Missing | HealthStatusCode::Unknown)
}

fn caused_by(causes: &[String]) -> String {
    if causes.is_empty() {
        return String::new();
    }
    let shown = &causes[..causes.len().min(MAX_HEALTH_CAUSES_SHOWN)];
    let mut message = format!("Caused by {}", shown.join(", "));
    if causes.len() > shown.len() {
        message.push_str(&format!(" and {} more", causes.len() - shown.len()));
    }
    message
}

/// Assesses one live object (or its absence) for aggregation: applies the hook and
/// `ignore-healthcheck` rules, then [`assess_with`].
pub fn resource_state(
    live: Option<&Value>,
    overrides: &ResourceOverrides,
    runtime: &LuaRuntime,
) -> ResourceHealthState {
    let Some(obj) = live else {
        return ResourceHealthState::Missing;
    };
    let ignored = obj
        .pointer("/metadata/annotations")
        .and_then(|a| a.get(IGNORE_HEALTHCHECK_ANNOTATION))
        .and_then(Value::as_str)
        == Some("true");
    if ignored || is_hook(obj) {
        return ResourceHealthState::NotCounted;
    }
    match assess_with(obj, overrides, runtime) {
        Some(health) => ResourceHealthState::Assessed(health),
        None => ResourceHealthState::NotCounted,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn r(group: &str, kind: &str, name: &str) -> ResourceRef {
        ResourceRef {
            group: group.into(),
            kind: kind.into(),
            namespace: "demo".into(),
            name: name.into(),
        }
    }

    fn assessed(status: HealthStatusCode) -> ResourceHealthState {
        ResourceHealthState::Assessed(HealthStatus::new(status, ""))
    }

    #[test]
    fn worst_status_wins_in_argo_order() {
        use HealthStatusCode::*;
        let order = [Healthy, Suspended, Progressing, Missing, Degraded, Unknown];
        for (i, better) in order.iter().enumerate() {
            for worse in &order[i..] {
                let got = aggregate(&[
                    (r("apps", "Deployment", "a"), assessed(*better)),
                    (r("apps", "Deployment", "b"), assessed(*worse)),
                ]);
                assert_eq!(got.status, *worse, "{better:?} + {worse:?}");
            }
        }
    }

    #[test]
    fn missing_and_uncounted_resources_do_not_count() {
        let got = aggregate(&[
            (r("apps", "Deployment", "a"), assessed(HealthStatusCode::Healthy)),
            (r("", "Service", "gone"), ResourceHealthState::Missing),
            (r("", "ConfigMap", "c"), ResourceHealthState::NotCounted),
        ]);
        assert_eq!(got, HealthStatus::healthy(""));
        let all_missing = aggregate(&[(r("", "Service", "gone"), ResourceHealthState::Missing)]);
        assert_eq!(all_missing.status, HealthStatusCode::Missing);
        assert_eq!(aggregate(&[]).status, HealthStatusCode::Healthy);
    }

    #[test]
    fn child_applications_missing_or_unknown_are_ignored() {
        let got = aggregate(&[
            (
                r("argoproj.io", "Application", "child"),
                assessed(HealthStatusCode::Unknown),
            ),
            (
                r("apps", "Deployment", "a"),
                assessed(HealthStatusCode::Progressing),
            ),
        ]);
        assert_eq!(got.status, HealthStatusCode::Progressing);
        assert_eq!(got.message, "Caused by apps/Deployment:demo/a");
    }

    #[test]
    fn caused_by_names_at_most_three() {
        let mut resources: Vec<_> = (0..5)
            .map(|i| {
                (
                    r("apps.kruise.io", "CloneSet", &format!("cs{i}")),
                    assessed(HealthStatusCode::Degraded),
                )
            })
            .collect();
        resources.push((r("", "Pod", "p"), assessed(HealthStatusCode::Progressing)));
        let got = aggregate(&resources);
        assert_eq!(
            got.message,
            "Caused by apps.kruise.io/CloneSet:demo/cs0, apps.kruise.io/CloneSet:demo/cs1, apps.kruise.io/CloneSet:demo/cs2 and 2 more"
        );
        let core = ResourceRef {
            group: String::new(),
            kind: "Namespace".into(),
            namespace: String::new(),
            name: "x".into(),
        };
        assert_eq!(core.to_string(), "Namespace:x");
    }

    #[test]
    fn resource_state_honours_ignore_annotation_and_hooks() {
        let runtime = LuaRuntime::default();
        let none = ResourceOverrides::default();
        let degraded_pod = json!({"apiVersion": "v1", "kind": "Pod", "status": {"phase": "Failed"}});
        assert!(
            matches!(resource_state(Some(&degraded_pod), &none, &runtime), ResourceHealthState::Assessed(h) if h.status == HealthStatusCode::Degraded)
        );
        let ignored = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"annotations": {IGNORE_HEALTHCHECK_ANNOTATION: "true"}}, "status": {"phase": "Failed"}});
        assert_eq!(
            resource_state(Some(&ignored), &none, &runtime),
            ResourceHealthState::NotCounted
        );
        let hook = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"annotations": {"argocd.argoproj.io/hook": "PreSync"}}, "status": {"phase": "Failed"}});
        assert_eq!(
            resource_state(Some(&hook), &none, &runtime),
            ResourceHealthState::NotCounted
        );
        assert_eq!(
            resource_state(None, &none, &runtime),
            ResourceHealthState::Missing
        );
        let config_map = json!({"apiVersion": "v1", "kind": "ConfigMap"});
        assert_eq!(
            resource_state(Some(&config_map), &none, &runtime),
            ResourceHealthState::NotCounted
        );
    }
}
