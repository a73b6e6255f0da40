//! Health of one live object: the entry point the app controller calls.
//!
//! Order (Argo CD `GetResourceHealth`):
//! 1. `metadata.deletionTimestamp` set and no `argocd.argoproj.io/hook-finalizer` → Progressing
//!    "Pending deletion".
//! 2. A Lua override from `argocd-cm` (exact key, then wildcard). Its result is the health; `nil` or
//!    `{}` means no health; an error (runtime, time-out, memory, wrong return type) is Unknown with
//!    the error text.
//! 3. Ferry's built-in check for the kind (see [`crate::builtin`]). A field of the wrong type is
//!    Unknown with a message naming the object and the field.
//! 4. No check: `None` (the resource does not count towards application health).

use serde_json::Value;

use crate::builtin::builtin_check;
use crate::lua::LuaRuntime;
use crate::script::eval_health_script;
use crate::settings::ResourceOverrides;
use crate::status::HealthStatus;

pub const HOOK_FINALIZER: &str = "argocd.argoproj.io/hook-finalizer";

/// Splits `apiVersion` into its group (`""` for the core group `v1`).
pub fn api_group(api_version: &str) -> &str {
    match api_version.split_once('/') {
        Some((group, _version)) => group,
        None => "",
    }
}

/// Assesses `obj` with the default Lua limits.
pub fn assess(obj: &Value, overrides: &ResourceOverrides) -> Option<HealthStatus> {
    assess_with(obj, overrides, &LuaRuntime::default())
}

/// Assesses `obj` with an explicit Lua runtime (limits).
pub fn assess_with(obj: &Value, overrides: &ResourceOverrides, runtime: &LuaRuntime) -> Option<HealthStatus> {
    if is_pending_deletion(obj) {
        return Some(HealthStatus::progressing("Pending deletion"));
    }
    let kind = obj.get("kind").and_then(Value::as_str)?;
    let group = api_group(obj.get("apiVersion").and_then(Value::as_str).unwrap_or(""));
    if let Some(script) = overrides.health_script(group, kind) {
        return match eval_health_script(runtime, script.script, script.libraries, obj) {
            Ok(health) => health,
            Err(err) => Some(HealthStatus::unknown(err.to_string())),
        };
    }
    let check = builtin_check(group, kind)?;
    Some(match check(obj) {
        Ok(health) => health,
        Err(err) => HealthStatus::unknown(format!("{} {}: {err}", kind, object_name(obj))),
    })
}

/// Assesses with Ferry's built-in checks only (no overrides).
pub fn assess_builtin(obj: &Value) -> Option<HealthStatus> {
    assess(obj, &ResourceOverrides::default())
}

fn is_pending_deletion(obj: &Value) -> bool {
    let Some(metadata) = obj.get("metadata") else {
        return false;
    };
    let deleting = metadata
        .get("deletionTimestamp")
        .is_some_and(|stamp| !stamp.is_null());
    let hook_finalizer = metadata
        .get("finalizers")
        .and_then(Value::as_array)
        .is_some_and(|items| items.iter().any(|f| f.as_str() == Some(HOOK_FINALIZER)));
    deleting && !hook_finalizer
}

/// `namespace/name` (or `name` when cluster-scoped), quoted.
pub(crate) fn object_name(obj: &Value) -> String {
    let name = obj
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("");
    match obj.pointer("/metadata/namespace").and_then(Value::as_str) {
        Some(namespace) if !namespace.is_empty() => format!("{:?}", format!("{namespace}/{name}")),
        _ => format!("{name:?}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::status::HealthStatusCode;
    use serde_json::json;

    #[test]
    fn pending_deletion_wins_unless_hook_finalizer() {
        let deleting = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"deletionTimestamp": "2024-01-01T00:00:00Z"}});
        assert_eq!(
            assess_builtin(&deleting),
            Some(HealthStatus::progressing("Pending deletion"))
        );
        let hook = json!({"apiVersion": "batch/v1", "kind": "Job", "metadata": {"deletionTimestamp": "2024-01-01T00:00:00Z", "finalizers": [HOOK_FINALIZER]}, "status": {"conditions": [{"type": "Complete", "status": "True"}]}});
        assert_eq!(assess_builtin(&hook), Some(HealthStatus::healthy("")));
    }

    #[test]
    fn kinds_without_checks_have_no_health() {
        assert_eq!(
            assess_builtin(&json!({"apiVersion": "v1", "kind": "ConfigMap"})),
            None
        );
        assert_eq!(assess_builtin(&json!({"apiVersion": "v1"})), None);
    }

    #[test]
    fn lua_override_beats_builtin_and_errors_become_unknown() {
        let obj = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"}, "spec": {"paused": true}});
        assert_eq!(assess_builtin(&obj).unwrap().status, HealthStatusCode::Suspended);
        let overrides = ResourceOverrides::with_health_script(
            "apps/Deployment",
            "return {status = 'Healthy', message = 'lua'}",
            false,
        );
        assert_eq!(assess(&obj, &overrides), Some(HealthStatus::healthy("lua")));
        let broken =
            ResourceOverrides::with_health_script("apps/Deployment", "return obj.nope.deeper", false);
        let got = assess(&obj, &broken).unwrap();
        assert_eq!(got.status, HealthStatusCode::Unknown);
        assert!(got.message.contains("attempt to index"), "{}", got.message);
        let silent = ResourceOverrides::with_health_script("apps/Deployment", "return nil", false);
        assert_eq!(assess(&obj, &silent), None);
    }

    #[test]
    fn builtin_field_errors_name_the_object_and_field() {
        let obj = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": "prod"}, "spec": {"replicas": "two"}});
        assert_eq!(
            assess_builtin(&obj),
            Some(HealthStatus::unknown(
                "Deployment \"prod/web\": field spec.replicas: expected an integer"
            ))
        );
    }
}
