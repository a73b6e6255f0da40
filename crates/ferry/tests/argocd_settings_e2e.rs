//! `argocd-cm` warnings inside `ferry up`, driven with the real `kubectl`: a malformed
//! customization key and a health script that does not compile are reported as Warning events on
//! the ConfigMap and as a `ResourceCustomizationWarning` condition on the Applications of the
//! `argocd` namespace; fixing the ConfigMap removes the condition and leaves other conditions alone.

mod common;

use std::time::Duration;

use common::Cluster;
use serde_json::Value;

const WAIT: Duration = Duration::from_secs(30);
const CONDITION: &str = "ResourceCustomizationWarning";
const MALFORMED_KEY: &str = "resource.customizations.health.apps.kruise.io-CloneSet";
const BROKEN_SCRIPT_KEY: &str = "resource.customizations.health.apps_Deployment";

const BROKEN_CM: &str = r#"
apiVersion: v1
kind: Namespace
metadata:
  name: argocd
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: argocd-cm
  namespace: argocd
data:
  resource.customizations.health.apps.kruise.io-CloneSet: |
    hs = {}
    hs.status = "Healthy"
    return hs
  resource.customizations.health.apps_Deployment: |
    hs = {
    return hs
"#;

const FIXED_CM: &str = r#"
apiVersion: v1
kind: ConfigMap
metadata:
  name: argocd-cm
  namespace: argocd
data:
  resource.customizations.health.apps.kruise.io_CloneSet: |
    hs = {}
    hs.status = "Healthy"
    return hs
"#;

const APPLICATION: &str = r#"
apiVersion: argoproj.io/v1alpha1
kind: Application
metadata:
  name: helloworld
  namespace: argocd
spec:
  project: default
  source:
    repoURL: https://example.invalid/helloworld.git
    path: chart
    targetRevision: HEAD
  destination:
    server: https://kubernetes.default.svc
    namespace: helloworld
"#;

fn conditions(cluster: &Cluster) -> Vec<Value> {
    let app = cluster.get_json(&["applications.argoproj.io", "helloworld", "-n", "argocd"]);
    app["status"]["conditions"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

fn warning_messages(cluster: &Cluster) -> Vec<String> {
    conditions(cluster)
        .iter()
        .filter(|c| c["type"] == CONDITION)
        .filter_map(|c| c["message"].as_str().map(str::to_owned))
        .collect()
}

#[test]
fn argocd_cm_warnings_become_events_and_application_conditions() {
    let cluster = Cluster::start("argocd-settings", &[]);
    cluster.apply(BROKEN_CM);
    cluster.apply(APPLICATION);

    // The condition appears on the Application, one per unusable key, naming key and error.
    cluster.wait_for("the warning conditions", WAIT, || {
        warning_messages(&cluster).len() == 2
    });
    let messages = warning_messages(&cluster);
    assert!(messages.iter().any(|m| m.contains(MALFORMED_KEY)), "{messages:?}");
    assert!(
        messages
            .iter()
            .any(|m| m.contains(BROKEN_SCRIPT_KEY) && m.contains("does not compile")),
        "{messages:?}"
    );
    for condition in conditions(&cluster).iter().filter(|c| c["type"] == CONDITION) {
        assert!(condition["lastTransitionTime"].is_string(), "{condition}");
    }

    // Warning events on the ConfigMap, visible to kubectl.
    cluster.wait_for("the warning events", WAIT, || {
        let events = cluster.kubectl_ok(&["get", "events", "-n", "argocd"]);
        events.contains("InvalidResourceCustomization")
            && events.contains(MALFORMED_KEY)
            && events.contains(BROKEN_SCRIPT_KEY)
    });
    let described = cluster.kubectl_ok(&["describe", "configmap", "argocd-cm", "-n", "argocd"]);
    assert!(described.contains("InvalidResourceCustomization"), "{described}");
    assert!(described.contains("Warning"), "{described}");

    // A condition of another type, written by someone else, is left alone.
    let other = r#"{"status":{"conditions":[{"type":"ComparisonError","message":"kept","lastTransitionTime":"2026-01-01T00:00:00Z"}]}}"#;
    cluster.kubectl_ok(&[
        "patch",
        "applications.argoproj.io",
        "helloworld",
        "-n",
        "argocd",
        "--type=merge",
        "-p",
        other,
    ]);
    // The watcher puts its conditions back behind the foreign one.
    cluster.wait_for("the conditions restored", WAIT, || {
        warning_messages(&cluster).len() == 2
    });

    // Fixing the ConfigMap removes our conditions, and only ours.
    cluster.apply(FIXED_CM);
    cluster.wait_for("the warning conditions cleared", WAIT, || {
        warning_messages(&cluster).is_empty()
    });
    let remaining = conditions(&cluster);
    assert_eq!(remaining.len(), 1, "{remaining:?}");
    assert_eq!(remaining[0]["type"], "ComparisonError");
    assert_eq!(remaining[0]["message"], "kept");

    // A ConfigMap that is not even valid customization data does not bring anything down.
    cluster.apply(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: argocd-cm\n  namespace: argocd\ndata:\n  resource.customizations: \"{{{ not yaml\"\n",
    );
    cluster.wait_for("the block-form warning", WAIT, || {
        warning_messages(&cluster)
            .iter()
            .any(|m| m.contains("\"resource.customizations\""))
    });
    cluster.kubectl_ok(&["get", "configmap", "argocd-cm", "-n", "argocd"]);
}
