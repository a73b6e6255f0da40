//! Acceptance: the real `kubectl` on PATH (dispatching to 1.33) against the in-process server.

mod common;

use common::{kubectl, kubectl_ok, start};
use serde_json::Value;

const MANIFESTS: &str = r#"
apiVersion: v1
kind: ConfigMap
metadata:
  name: demo
  labels: {app: demo}
data:
  a: "1"
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - name: nginx
        image: nginx:1.25
        ports: [{containerPort: 80}]
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apply_get_patch_label_and_delete() {
    let s = start().await;
    let version = kubectl_ok(&s, &["version", "-o", "json"], None).await;
    let v: Value = serde_json::from_str(&version).unwrap();
    assert_eq!(v["serverVersion"]["minor"], "33");

    let first = kubectl_ok(&s, &["apply", "-f", "-"], Some(MANIFESTS)).await;
    assert!(
        first.contains("configmap/demo created") && first.contains("deployment.apps/web created"),
        "{first}"
    );
    let second = kubectl_ok(&s, &["apply", "-f", "-"], Some(MANIFESTS)).await;
    assert!(
        second.contains("configmap/demo unchanged") && second.contains("deployment.apps/web unchanged"),
        "{second}"
    );

    // Defaults as a real API server sets them; generation starts at 1.
    let deploy: Value =
        serde_json::from_str(&kubectl_ok(&s, &["get", "deploy", "web", "-o", "json"], None).await).unwrap();
    assert_eq!(deploy["spec"]["strategy"]["type"], "RollingUpdate");
    assert_eq!(
        deploy["spec"]["template"]["spec"]["containers"][0]["imagePullPolicy"],
        "IfNotPresent"
    );
    assert_eq!(deploy["metadata"]["generation"], 1);

    let changed = MANIFESTS
        .replace("a: \"1\"", "a: \"2\"")
        .replace("replicas: 2", "replicas: 3");
    let third = kubectl_ok(&s, &["apply", "-f", "-"], Some(&changed)).await;
    assert!(third.contains("configmap/demo configured"), "{third}");
    let gen_replicas = kubectl_ok(
        &s,
        &[
            "get",
            "deploy",
            "web",
            "-o",
            "jsonpath={.metadata.generation} {.spec.replicas}",
        ],
        None,
    )
    .await;
    assert_eq!(gen_replicas, "2 3");

    let yaml = kubectl_ok(&s, &["get", "cm", "demo", "-o", "yaml"], None).await;
    assert!(
        yaml.contains("a: \"2\"") && yaml.contains("kind: ConfigMap"),
        "{yaml}"
    );
    let table = kubectl_ok(&s, &["get", "deploy"], None).await;
    assert!(
        table.starts_with("NAME") && table.contains("READY") && table.contains("web"),
        "{table}"
    );
    let by_label = kubectl_ok(&s, &["get", "cm", "-l", "app=demo", "-o", "name"], None).await;
    assert_eq!(by_label.trim(), "configmap/demo");
    let none = kubectl_ok(&s, &["get", "cm", "-l", "app in (other)", "-o", "name"], None).await;
    assert_eq!(none.trim(), "");
    let by_field = kubectl_ok(
        &s,
        &[
            "get",
            "cm",
            "--field-selector",
            "metadata.name=demo",
            "-o",
            "name",
        ],
        None,
    )
    .await;
    assert_eq!(by_field.trim(), "configmap/demo");
    let describe = kubectl_ok(&s, &["describe", "cm", "demo"], None).await;
    assert!(
        describe.contains("Name:         demo") && describe.contains("Labels:       app=demo"),
        "{describe}"
    );

    kubectl_ok(&s, &["label", "cm", "demo", "tier=x"], None).await;
    kubectl_ok(&s, &["annotate", "cm", "demo", "note=hi"], None).await;
    let meta = kubectl_ok(
        &s,
        &[
            "get",
            "cm",
            "demo",
            "-o",
            "jsonpath={.metadata.labels.tier} {.metadata.annotations.note}",
        ],
        None,
    )
    .await;
    assert_eq!(meta, "x hi");

    kubectl_ok(
        &s,
        &[
            "patch",
            "cm",
            "demo",
            "--type=merge",
            "-p",
            r#"{"data":{"m":"1"}}"#,
        ],
        None,
    )
    .await;
    kubectl_ok(
        &s,
        &[
            "patch",
            "cm",
            "demo",
            "--type=json",
            "-p",
            r#"[{"op":"add","path":"/data/j","value":"2"}]"#,
        ],
        None,
    )
    .await;
    kubectl_ok(
        &s,
        &[
            "patch",
            "deploy",
            "web",
            "-p",
            r#"{"spec":{"template":{"spec":{"containers":[{"name":"nginx","image":"nginx:1.26"}]}}}}"#,
        ],
        None,
    )
    .await;
    let data = kubectl_ok(
        &s,
        &["get", "cm", "demo", "-o", "jsonpath={.data.a}{.data.m}{.data.j}"],
        None,
    )
    .await;
    assert_eq!(data, "212");
    // Strategic merge kept the container's other fields (merge by name).
    let container = kubectl_ok(&s, &["get", "deploy", "web", "-o", "jsonpath={.spec.template.spec.containers[0].image} {.spec.template.spec.containers[0].ports[0].containerPort}"], None).await;
    assert_eq!(container, "nginx:1.26 80");

    // Typed `kubectl create` sends protobuf bodies.
    kubectl_ok(&s, &["create", "namespace", "made-by-create"], None).await;
    kubectl_ok(
        &s,
        &[
            "create",
            "configmap",
            "made",
            "-n",
            "made-by-create",
            "--from-literal=k=v",
        ],
        None,
    )
    .await;
    kubectl_ok(
        &s,
        &[
            "create",
            "secret",
            "generic",
            "sec",
            "-n",
            "made-by-create",
            "--from-literal=p=s3cret",
        ],
        None,
    )
    .await;
    let made = kubectl_ok(
        &s,
        &[
            "get",
            "cm",
            "made",
            "-n",
            "made-by-create",
            "-o",
            "jsonpath={.data.k}",
        ],
        None,
    )
    .await;
    assert_eq!(made, "v");
    let secret = kubectl_ok(
        &s,
        &[
            "get",
            "secret",
            "sec",
            "-n",
            "made-by-create",
            "-o",
            "jsonpath={.data.p} {.type}",
        ],
        None,
    )
    .await;
    assert_eq!(secret, "czNjcmV0 Opaque");

    let deleted = kubectl_ok(&s, &["delete", "cm", "demo"], None).await;
    assert!(deleted.contains("configmap \"demo\" deleted"), "{deleted}");
    let gone = kubectl(&s, &["get", "cm", "demo"], None).await;
    assert!(!gone.ok && gone.stderr.contains("NotFound"), "{}", gone.stderr);
    s.running.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_side_apply_conflicts_and_force() {
    let s = start().await;
    kubectl_ok(&s, &["apply", "-f", "-"], Some(MANIFESTS)).await;
    let ssa = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: demo\ndata:\n  a: \"3\"\n";
    let conflict = kubectl(&s, &["apply", "--server-side", "-f", "-"], Some(ssa)).await;
    assert!(!conflict.ok);
    assert!(
        conflict
            .stderr
            .contains("conflict with \"kubectl-client-side-apply\"")
            && conflict.stderr.contains(".data.a"),
        "{}",
        conflict.stderr
    );
    let forced = kubectl_ok(
        &s,
        &["apply", "--server-side", "--force-conflicts", "-f", "-"],
        Some(ssa),
    )
    .await;
    assert!(forced.contains("serverside-applied"), "{forced}");
    let cm: Value = serde_json::from_str(
        &kubectl_ok(
            &s,
            &["get", "cm", "demo", "-o", "json", "--show-managed-fields"],
            None,
        )
        .await,
    )
    .unwrap();
    assert_eq!(cm["data"]["a"], "3");
    let managers: Vec<&str> = cm["metadata"]["managedFields"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| m["manager"].as_str())
        .collect();
    assert!(managers.contains(&"kubectl"), "{managers:?}");
    // A fresh object through server-side apply only.
    let fresh = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: fresh\ndata:\n  k: v\n";
    let out = kubectl_ok(&s, &["apply", "--server-side", "-f", "-"], Some(fresh)).await;
    assert!(out.contains("configmap/fresh serverside-applied"), "{out}");
    s.running.shutdown().await;
}

const CLONESET: &str = r#"
apiVersion: v1
kind: Namespace
metadata:
  name: demo-ns
---
apiVersion: apps.kruise.io/v1alpha1
kind: CloneSet
metadata:
  name: sample
  namespace: demo-ns
spec:
  replicas: 2
  selector:
    matchLabels: {app: sample}
  template:
    metadata:
      labels: {app: sample}
    spec:
      containers:
      - name: main
        image: nginx:alpine
  updateStrategy:
    type: InPlaceIfPossible
    partition: 1
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cloneset_scale_explain_wait_watch_and_namespace_cascade() {
    let s = start().await;
    let resources = kubectl_ok(&s, &["api-resources"], None).await;
    let clone_line = resources
        .lines()
        .find(|l| l.starts_with("clonesets"))
        .expect("clonesets listed");
    assert!(
        clone_line.contains("clone")
            && clone_line.contains("apps.kruise.io/v1alpha1")
            && clone_line.contains("CloneSet")
    );
    assert!(
        resources
            .lines()
            .any(|l| l.starts_with("configmaps") && l.contains(" cm "))
    );

    let applied = kubectl_ok(&s, &["apply", "-f", "-"], Some(CLONESET)).await;
    assert!(
        applied.contains("cloneset.apps.kruise.io/sample created"),
        "{applied}"
    );
    let again = kubectl_ok(&s, &["apply", "-f", "-"], Some(CLONESET)).await;
    assert!(
        again.contains("cloneset.apps.kruise.io/sample unchanged"),
        "{again}"
    );
    let table = kubectl_ok(&s, &["get", "clone", "-n", "demo-ns"], None).await;
    let header = table.lines().next().unwrap_or_default();
    for col in [
        "DESIRED",
        "UPDATED",
        "UPDATED_READY",
        "UPDATED_AVAILABLE",
        "READY",
        "TOTAL",
        "AGE",
    ] {
        assert!(header.contains(col), "missing {col} in {header}");
    }
    kubectl_ok(
        &s,
        &["scale", "clone", "sample", "-n", "demo-ns", "--replicas=5"],
        None,
    )
    .await;
    let replicas = kubectl_ok(
        &s,
        &[
            "get",
            "clone",
            "sample",
            "-n",
            "demo-ns",
            "-o",
            "jsonpath={.spec.replicas} {.metadata.generation}",
        ],
        None,
    )
    .await;
    assert_eq!(replicas, "5 2");

    let explain = kubectl_ok(&s, &["explain", "cloneset.spec"], None).await;
    assert!(
        explain.contains("KIND:       CloneSet") && explain.contains("replicas"),
        "{explain}"
    );

    // wait --for=condition returns once a status patch sets the condition.
    let waiter = {
        let kubeconfig = s.kubeconfig();
        let cache = s.dir.path().join("kube-cache");
        let mut cmd = tokio::process::Command::new("kubectl");
        cmd.args([
            "wait",
            "--for=condition=Ready",
            "clone/sample",
            "-n",
            "demo-ns",
            "--timeout=20s",
        ])
        .arg(format!("--cache-dir={}", cache.display()))
        .env("KUBECONFIG", kubeconfig)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true);
        tokio::spawn(common::run(cmd, None))
    };
    tokio::time::sleep(std::time::Duration::from_millis(700)).await;
    kubectl_ok(
        &s,
        &[
            "patch",
            "clone",
            "sample",
            "-n",
            "demo-ns",
            "--subresource=status",
            "--type=merge",
            "-p",
            r#"{"status":{"replicas":5,"conditions":[{"type":"Ready","status":"True"}]}}"#,
        ],
        None,
    )
    .await;
    let waited = waiter.await.unwrap();
    assert!(waited.ok && waited.stdout.contains("condition met"), "{waited:?}");
    // Status writes do not bump generation.
    let gen_after = kubectl_ok(
        &s,
        &[
            "get",
            "clone",
            "sample",
            "-n",
            "demo-ns",
            "-o",
            "jsonpath={.metadata.generation}",
        ],
        None,
    )
    .await;
    assert_eq!(gen_after, "2");

    // get -w prints a row for a change made while watching.
    let watcher = {
        let mut cmd = tokio::process::Command::new("kubectl");
        cmd.args(["get", "cm", "-n", "demo-ns", "-w", "--request-timeout=3s"])
            .arg(format!(
                "--cache-dir={}",
                s.dir.path().join("kube-cache").display()
            ))
            .env("KUBECONFIG", s.kubeconfig())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .kill_on_drop(true);
        tokio::spawn(common::run(cmd, None))
    };
    tokio::time::sleep(std::time::Duration::from_millis(1000)).await;
    kubectl_ok(
        &s,
        &["apply", "-n", "demo-ns", "-f", "-"],
        Some("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: watched}\ndata: {x: \"1\"}\n"),
    )
    .await;
    let watched = watcher.await.unwrap();
    assert!(
        watched.stdout.lines().any(|l| l.starts_with("watched")),
        "{watched:?}"
    );

    let deleted = kubectl_ok(&s, &["delete", "ns", "demo-ns", "--timeout=20s"], None).await;
    assert!(deleted.contains("namespace \"demo-ns\" deleted"), "{deleted}");
    let left = kubectl_ok(&s, &["get", "clone,cm", "-n", "demo-ns", "-o", "name"], None).await;
    assert_eq!(left.trim(), "");
    let ns = kubectl(&s, &["get", "ns", "demo-ns"], None).await;
    assert!(!ns.ok && ns.stderr.contains("NotFound"), "{}", ns.stderr);
    s.running.shutdown().await;
}

/// events.k8s.io/v1 and core/v1 Events are one storage: an event POSTed through the events API
/// (as kube-runtime's Recorder does) is listed by `kubectl describe`, which asks core/v1 for
/// events whose `involvedObject` is the described object.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_api_events_show_in_describe() {
    let s = start().await;
    kubectl_ok(
        &s,
        &["create", "configmap", "described", "--from-literal=a=1"],
        None,
    )
    .await;
    let uid = kubectl_ok(
        &s,
        &["get", "cm", "described", "-o", "jsonpath={.metadata.uid}"],
        None,
    )
    .await;
    let event = format!(
        r#"apiVersion: events.k8s.io/v1
kind: Event
metadata: {{name: described.1, namespace: default}}
eventTime: "2026-11-30T12:00:00.000000Z"
regarding: {{apiVersion: v1, kind: ConfigMap, name: described, namespace: default, uid: "{uid}"}}
reason: Synced
note: configmap synced by ferry
type: Normal
action: Sync
reportingController: ferry-controller
reportingInstance: ferry-0
"#
    );
    let created = kubectl_ok(&s, &["create", "-f", "-"], Some(&event)).await;
    assert!(
        created.contains("event.events.k8s.io/described.1 created"),
        "{created}"
    );

    let describe = kubectl_ok(&s, &["describe", "configmap", "described"], None).await;
    let events_section = describe
        .split_once("Events:")
        .map(|(_, rest)| rest)
        .unwrap_or_default();
    assert!(
        events_section.contains("Synced") && events_section.contains("configmap synced by ferry"),
        "{describe}"
    );
    assert!(events_section.contains("ferry-controller"), "{describe}");

    // The same object read through core/v1 has the core field names, selectable as such.
    let core = kubectl_ok(
        &s,
        &[
            "get",
            "events.v1.",
            "--field-selector",
            "involvedObject.name=described,involvedObject.kind=ConfigMap",
            "-o",
            "jsonpath={.items[*].message}/{.items[*].reportingComponent}",
        ],
        None,
    )
    .await;
    assert_eq!(core, "configmap synced by ferry/ferry-controller");
    // Created through core/v1, read through events.k8s.io/v1 with its own field selector.
    kubectl_ok(
        &s,
        &["create", "-f", "-"],
        Some(
            "apiVersion: v1\nkind: Event\nmetadata: {name: described.2}\n\
             involvedObject: {kind: ConfigMap, name: described, namespace: default}\n\
             reason: Legacy\nmessage: from core\ntype: Warning\ncount: 2\n\
             source: {component: old-controller}\n",
        ),
    )
    .await;
    let v1 = kubectl_ok(
        &s,
        &[
            "get",
            "events.v1.events.k8s.io",
            "--field-selector",
            "regarding.name=described,reason=Legacy",
            "-o",
            "jsonpath={.items[*].note}/{.items[*].deprecatedCount}/{.items[*].deprecatedSource.component}",
        ],
        None,
    )
    .await;
    assert_eq!(v1, "from core/2/old-controller");
    let table = kubectl_ok(&s, &["get", "events.v1.events.k8s.io"], None).await;
    assert!(
        table.contains("configmap/described") && table.contains("Legacy") && table.contains("Synced"),
        "{table}"
    );
    s.running.shutdown().await;
}
