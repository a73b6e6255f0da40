//! Namespace and CRD deletion honour the finalizers of what they contain, driven with real kubectl:
//! the namespace (or CRD) stays Terminating, with kube's conditions, until the last finalizer is gone.

mod common;

use std::time::Duration;

use common::{eventually, kubectl, kubectl_ok};
use serde_json::Value;

async fn get_json(server: &common::Server, args: &[&str]) -> Option<Value> {
    let mut full = vec!["get"];
    full.extend_from_slice(args);
    full.extend_from_slice(&["-o", "json"]);
    let out = kubectl(server, &full, None).await;
    out.ok
        .then(|| serde_json::from_str(&out.stdout).expect("kubectl -o json prints JSON"))
}

fn condition<'v>(obj: &'v Value, kind: &str) -> &'v Value {
    obj.pointer("/status/conditions")
        .and_then(Value::as_array)
        .and_then(|cs| cs.iter().find(|c| c["type"] == kind))
        .unwrap_or_else(|| panic!("no {kind} condition in {obj}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_finalizer_keeps_the_namespace_terminating_until_it_is_removed() {
    let s = common::start().await;
    kubectl_ok(&s, &["create", "namespace", "doomed"], None).await;
    kubectl_ok(
        &s,
        &["apply", "-f", "-"],
        Some(
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: held\n  namespace: doomed\n  finalizers: [example.com/hold]\ndata: {k: v}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: free\n  namespace: doomed\n",
        ),
    )
    .await;
    kubectl_ok(&s, &["delete", "namespace", "doomed", "--wait=false"], None).await;

    eventually("the namespace reports the held ConfigMap", || async {
        get_json(&s, &["namespace", "doomed"]).await.is_some_and(|ns| {
            ns.pointer("/status/conditions")
                .and_then(Value::as_array)
                .is_some_and(|cs| {
                    cs.iter()
                        .any(|c| c["type"] == "NamespaceFinalizersRemaining" && c["status"] == "True")
                })
        })
    })
    .await;
    let ns = get_json(&s, &["namespace", "doomed"])
        .await
        .expect("namespace still there");
    assert_eq!(ns["status"]["phase"], "Terminating");
    let content = condition(&ns, "NamespaceContentRemaining");
    assert_eq!(
        (&content["status"], &content["reason"], &content["message"]),
        (
            &Value::from("True"),
            &Value::from("SomeResourcesRemain"),
            &Value::from("Some resources are remaining: configmaps. has 1 resource instances")
        )
    );
    let finalizers = condition(&ns, "NamespaceFinalizersRemaining");
    assert_eq!(finalizers["reason"], "SomeFinalizersRemain");
    assert_eq!(
        finalizers["message"],
        "Some content in the namespace has finalizers remaining: example.com/hold in 1 resource instances"
    );
    let failure = condition(&ns, "NamespaceDeletionContentFailure");
    assert_eq!(
        (&failure["status"], &failure["reason"]),
        (&Value::from("False"), &Value::from("ContentDeleted"))
    );
    // The free ConfigMap is gone; the held one is marked for deletion and stays.
    assert!(
        get_json(&s, &["configmap", "free", "-n", "doomed"])
            .await
            .is_none()
    );
    let held = get_json(&s, &["configmap", "held", "-n", "doomed"])
        .await
        .expect("held stays");
    assert!(held["metadata"]["deletionTimestamp"].is_string(), "{held}");
    let refused = kubectl(&s, &["create", "configmap", "late", "-n", "doomed"], None).await;
    assert!(
        !refused.ok && refused.stderr.contains("being terminated"),
        "{}",
        refused.stderr
    );

    // Still there a while later: nothing but the finalizer's owner may release it.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(get_json(&s, &["namespace", "doomed"]).await.is_some());

    kubectl_ok(
        &s,
        &[
            "patch",
            "configmap",
            "held",
            "-n",
            "doomed",
            "--type=merge",
            "-p",
            r#"{"metadata":{"finalizers":null}}"#,
        ],
        None,
    )
    .await;
    kubectl_ok(
        &s,
        &["wait", "--for=delete", "namespace/doomed", "--timeout=20s"],
        None,
    )
    .await;
}

const WIDGET_CRD: &str = r#"apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.example.com
spec:
  group: example.com
  scope: Namespaced
  names: {plural: widgets, singular: widget, kind: Widget}
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec: {type: object, x-kubernetes-preserve-unknown-fields: true}
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_crd_waits_for_its_custom_resources_finalizers() {
    let s = common::start().await;
    kubectl_ok(&s, &["apply", "-f", "-"], Some(WIDGET_CRD)).await;
    eventually("widgets are served", || async {
        kubectl(&s, &["get", "widgets"], None).await.ok
    })
    .await;
    kubectl_ok(
        &s,
        &["apply", "-f", "-"],
        Some(
            "apiVersion: example.com/v1\nkind: Widget\nmetadata:\n  name: held\n  finalizers: [example.com/hold]\nspec: {}\n---\napiVersion: example.com/v1\nkind: Widget\nmetadata:\n  name: free\nspec: {}\n",
        ),
    )
    .await;
    kubectl_ok(
        &s,
        &["delete", "crd", "widgets.example.com", "--wait=false"],
        None,
    )
    .await;

    eventually(
        "the free widget is deleted and the CRD reports progress",
        || async {
            let crd = get_json(&s, &["crd", "widgets.example.com"]).await;
            let terminating = crd.as_ref().is_some_and(|crd| {
                crd.pointer("/status/conditions")
                    .and_then(Value::as_array)
                    .is_some_and(|cs| {
                        cs.iter().any(|c| {
                            c["type"] == "Terminating" && c["reason"] == "InstanceDeletionInProgress"
                        })
                    })
            });
            terminating && get_json(&s, &["widget", "free"]).await.is_none()
        },
    )
    .await;
    let crd = get_json(&s, &["crd", "widgets.example.com"])
        .await
        .expect("CRD stays");
    assert!(crd["metadata"]["deletionTimestamp"].is_string());
    assert_eq!(condition(&crd, "Terminating")["status"], "True");
    let held = get_json(&s, &["widget", "held"])
        .await
        .expect("held widget stays");
    assert!(held["metadata"]["deletionTimestamp"].is_string(), "{held}");
    let refused = kubectl(
        &s,
        &["apply", "-f", "-"],
        Some("apiVersion: example.com/v1\nkind: Widget\nmetadata:\n  name: late\nspec: {}\n"),
    )
    .await;
    assert!(!refused.ok, "{}", refused.stdout);
    assert!(refused.stderr.contains("terminating"), "{}", refused.stderr);

    kubectl_ok(
        &s,
        &[
            "patch",
            "widget",
            "held",
            "--type=merge",
            "-p",
            r#"{"metadata":{"finalizers":null}}"#,
        ],
        None,
    )
    .await;
    kubectl_ok(
        &s,
        &["wait", "--for=delete", "crd/widgets.example.com", "--timeout=20s"],
        None,
    )
    .await;
    let gone = kubectl(&s, &["get", "widgets"], None).await;
    assert!(!gone.ok, "{}", gone.stdout);
}
