//! `argocd-cm` warnings as Application status conditions and events.
//!
//! Argo CD silently ignores a malformed customization key and lets a script that does not compile
//! fail at evaluation; Ferry reports both. Each [`ConfigWarning`] becomes one Application condition
//! in Argo CD's `ApplicationCondition` shape (`type`, `message`, `lastTransitionTime`) of type
//! [`RESOURCE_CUSTOMIZATION_WARNING`] — Argo CD clients show condition types ending in `Warning`
//! as warnings — and one Warning event with reason [`INVALID_RESOURCE_CUSTOMIZATION`] on the
//! ConfigMap. When the ConfigMap is fixed the conditions are removed; conditions of other types
//! are never touched.

use serde_json::{Value, json};

use crate::settings::ConfigWarning;

/// The Application condition type for `argocd-cm` customizations Ferry could not use.
pub const RESOURCE_CUSTOMIZATION_WARNING: &str = "ResourceCustomizationWarning";
/// The reason of the Warning event recorded on the ConfigMap for each such customization.
pub const INVALID_RESOURCE_CUSTOMIZATION: &str = "InvalidResourceCustomization";

/// The message of the event and the condition for one warning: it names the key and the error.
pub fn warning_message(warning: &ConfigWarning) -> String {
    format!("argocd-cm key {:?} ignored: {}", warning.key, warning.message)
}

/// The conditions `warnings` call for, stamped `now` (RFC 3339), in the warnings' order.
pub fn warning_conditions(warnings: &[ConfigWarning], now: &str) -> Vec<Value> {
    warnings
        .iter()
        .map(|warning| {
            json!({
                "type": RESOURCE_CUSTOMIZATION_WARNING,
                "message": warning_message(warning),
                "lastTransitionTime": now,
            })
        })
        .collect()
}

/// An Application's new `status.conditions`: every condition of another type kept as is and in
/// place, followed by `desired` (the [`RESOURCE_CUSTOMIZATION_WARNING`] conditions). A desired
/// condition whose message is already present keeps its `lastTransitionTime`. Returns `None` when
/// nothing changes, so a watcher patches only on a real change.
pub fn reconcile_conditions(current: &[Value], desired: &[Value]) -> Option<Vec<Value>> {
    let is_ours = |condition: &Value| {
        condition.get("type").and_then(Value::as_str) == Some(RESOURCE_CUSTOMIZATION_WARNING)
    };
    let existing: Vec<&Value> = current.iter().filter(|condition| is_ours(condition)).collect();
    let mut updated: Vec<Value> = current
        .iter()
        .filter(|condition| !is_ours(condition))
        .cloned()
        .collect();
    let mut ours = Vec::with_capacity(desired.len());
    for condition in desired {
        let message = condition.get("message");
        let kept = existing
            .iter()
            .find(|old| old.get("message") == message)
            .map(|old| (*old).clone());
        ours.push(kept.unwrap_or_else(|| condition.clone()));
    }
    let unchanged = existing.len() == ours.len()
        && existing.iter().zip(&ours).all(|(old, new)| *old == new)
        && current
            .iter()
            .take(updated.len())
            .all(|condition| !is_ours(condition));
    if unchanged {
        return None;
    }
    updated.extend(ours);
    Some(updated)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn warning(key: &str, message: &str) -> ConfigWarning {
        ConfigWarning {
            key: key.into(),
            message: message.into(),
        }
    }

    fn ours(message: &str, time: &str) -> Value {
        json!({"type": RESOURCE_CUSTOMIZATION_WARNING, "message": message, "lastTransitionTime": time})
    }

    #[test]
    fn each_warning_becomes_a_condition_naming_key_and_error() {
        let warnings = [
            warning(
                "resource.customizations.health.apps.kruise.io-CloneSet",
                "malformed key",
            ),
            warning(
                "resource.customizations.health.apps_Deployment",
                "health script does not compile: <string>:1: unexpected symbol",
            ),
        ];
        let conditions = warning_conditions(&warnings, "2026-11-30T17:00:00Z");
        assert_eq!(
            conditions,
            vec![
                ours(
                    "argocd-cm key \"resource.customizations.health.apps.kruise.io-CloneSet\" ignored: malformed key",
                    "2026-11-30T17:00:00Z"
                ),
                ours(
                    "argocd-cm key \"resource.customizations.health.apps_Deployment\" ignored: health script does not compile: <string>:1: unexpected symbol",
                    "2026-11-30T17:00:00Z"
                ),
            ]
        );
        assert!(warning_conditions(&[], "t").is_empty());
    }

    #[test]
    fn reconciling_touches_only_our_condition_type() {
        let other = json!({"type": "ComparisonError", "message": "boom", "lastTransitionTime": "t0"});
        let sync = json!({"type": "SyncError", "message": "x", "lastTransitionTime": "t0"});
        /// (current, desired, expected new list or None for "no change")
        type Case = (Vec<Value>, Vec<Value>, Option<Vec<Value>>);
        let cases: Vec<Case> = vec![
            // Nothing before, nothing wanted.
            (vec![], vec![], None),
            // Others only, nothing wanted: untouched.
            (vec![other.clone()], vec![], None),
            // A new warning is appended after the other conditions.
            (
                vec![other.clone()],
                vec![ours("a", "t1")],
                Some(vec![other.clone(), ours("a", "t1")]),
            ),
            // The same message keeps its first transition time: no change.
            (vec![other.clone(), ours("a", "t1")], vec![ours("a", "t2")], None),
            // The ConfigMap was fixed: our condition goes, the others stay in order.
            (
                vec![other.clone(), ours("a", "t1"), sync.clone()],
                vec![],
                Some(vec![other.clone(), sync.clone()]),
            ),
            // One warning fixed, one new: the kept one keeps its time.
            (
                vec![ours("a", "t1"), ours("b", "t1")],
                vec![ours("b", "t3"), ours("c", "t3")],
                Some(vec![ours("b", "t1"), ours("c", "t3")]),
            ),
            // Ours not last (written by someone else): moved behind the others.
            (
                vec![ours("a", "t1"), other.clone()],
                vec![ours("a", "t2")],
                Some(vec![other.clone(), ours("a", "t1")]),
            ),
        ];
        for (index, (current, desired, expected)) in cases.into_iter().enumerate() {
            assert_eq!(reconcile_conditions(&current, &desired), expected, "case {index}");
        }
    }
}
