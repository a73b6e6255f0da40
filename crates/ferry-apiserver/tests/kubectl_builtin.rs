//! Acceptance with the real `kubectl` (1.33) for built-in kinds: `explain` from the full OpenAPI
//! schemas, strict field validation of typos, and the typed `create`/`expose` commands that send
//! protobuf bodies.

mod common;

use common::{Server, kubectl, kubectl_ok, start};
use serde_json::Value;

async fn get_json(s: &Server, args: &[&str]) -> Value {
    let mut all = vec!["get"];
    all.extend_from_slice(args);
    all.extend_from_slice(&["-o", "json"]);
    let out = kubectl_ok(s, &all, None).await;
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{args:?}: {e}: {out}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn explain_built_in_kinds_shows_fields_and_descriptions() {
    let s = start().await;
    let containers = kubectl_ok(&s, &["explain", "pod.spec.containers"], None).await;
    for want in [
        "KIND:       Pod",
        "FIELD: containers <[]Container>",
        "List of containers belonging to the pod.",
        "image\t<string>",
        "imagePullPolicy\t<string>",
        "ports\t<[]ContainerPort>",
        "name\t<string> -required-",
    ] {
        assert!(containers.contains(want), "missing {want:?} in:\n{containers}");
    }
    let strategy = kubectl_ok(&s, &["explain", "deployment.spec.strategy"], None).await;
    for want in [
        "GROUP:      apps",
        "FIELD: strategy <DeploymentStrategy>",
        "The deployment strategy to use to replace existing pods with new ones.",
        "rollingUpdate\t<RollingUpdateDeployment>",
        "type\t<string>",
    ] {
        assert!(strategy.contains(want), "missing {want:?} in:\n{strategy}");
    }
    // Every built-in kind the server serves is explainable at its top level.
    for kind in [
        "namespace",
        "service",
        "endpoints",
        "configmap",
        "secret",
        "serviceaccount",
        "events",
        "pvc",
        "node",
        "replicaset",
        "statefulset",
        "daemonset",
        "controllerrevision",
        "job",
        "cronjob",
        "ingress",
        "lease",
        "crd",
    ] {
        let out = kubectl(&s, &["explain", kind], None).await;
        assert!(
            out.ok && out.stdout.contains("FIELDS:") && out.stdout.contains("metadata\t<ObjectMeta>"),
            "explain {kind}: {}\n{}",
            out.stderr,
            out.stdout
        );
    }
    let events_v1 = kubectl_ok(&s, &["explain", "events", "--api-version=events.k8s.io/v1"], None).await;
    assert!(
        events_v1.contains("GROUP:      events.k8s.io") && events_v1.contains("note\t<string>"),
        "{events_v1}"
    );
    let recursive = kubectl_ok(&s, &["explain", "cronjob.spec", "--recursive"], None).await;
    assert!(
        recursive.contains("jobTemplate\t<JobTemplateSpec> -required-"),
        "{recursive}"
    );
}

const TYPO_DEPLOYMENT: &str = r#"
apiVersion: apps/v1
kind: Deployment
metadata:
  name: typo
spec:
  replicas: 1
  selector: {matchLabels: {app: typo}}
  template:
    metadata: {labels: {app: typo}}
    spec:
      containers:
      - name: nginx
        image: nginx:1.25
        imagePullPolicyy: Always
  strategyy: {}
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn strict_field_validation_rejects_typos_of_built_in_kinds() {
    let s = start().await;
    let rejected = kubectl(&s, &["apply", "-f", "-"], Some(TYPO_DEPLOYMENT)).await;
    assert!(!rejected.ok, "{}", rejected.stdout);
    assert!(
        rejected.stderr.contains(
            r#"Error from server (BadRequest): error when creating "STDIN": Deployment in version "v1" cannot be handled as a Deployment: strict decoding error: unknown field "spec.strategyy", unknown field "spec.template.spec.containers[0].imagePullPolicyy""#
        ),
        "{}",
        rejected.stderr
    );
    let missing = kubectl(&s, &["get", "deploy", "typo"], None).await;
    assert!(!missing.ok, "the rejected Deployment was stored");

    // --validate=warn: created, the typos dropped, each reported as a warning.
    let warned = kubectl(
        &s,
        &["create", "--validate=warn", "-f", "-"],
        Some(TYPO_DEPLOYMENT),
    )
    .await;
    assert!(warned.ok, "{}", warned.stderr);
    assert!(
        warned
            .stderr
            .contains(r#"Warning: unknown field "spec.template.spec.containers[0].imagePullPolicyy""#),
        "{}",
        warned.stderr
    );
    kubectl_ok(&s, &["delete", "deploy", "typo", "--wait=false"], None).await;

    // --validate=false: accepted, the unknown fields pruned silently.
    let accepted = kubectl(
        &s,
        &["apply", "--validate=false", "-f", "-"],
        Some(TYPO_DEPLOYMENT),
    )
    .await;
    assert!(accepted.ok, "{}", accepted.stderr);
    assert!(!accepted.stderr.contains("Warning"), "{}", accepted.stderr);
    let stored = get_json(&s, &["deploy", "typo"]).await;
    let container = &stored["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(container["image"], "nginx:1.25");
    assert!(container.get("imagePullPolicyy").is_none(), "{container}");
    assert!(stored["spec"].get("strategyy").is_none());
    assert_eq!(stored["spec"]["strategy"]["type"], "RollingUpdate");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn typed_create_commands_send_protobuf_and_work() {
    let s = start().await;
    kubectl_ok(
        &s,
        &[
            "create",
            "deployment",
            "web",
            "--image=nginx:1.25",
            "--replicas=2",
        ],
        None,
    )
    .await;
    let deploy = get_json(&s, &["deploy", "web"]).await;
    assert_eq!(deploy["spec"]["replicas"], 2);
    assert_eq!(deploy["spec"]["selector"]["matchLabels"]["app"], "web");
    let container = &deploy["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(container["name"], "nginx");
    assert_eq!(container["image"], "nginx:1.25");
    // Defaults applied as if the client had sent JSON (no Go zero values left behind).
    assert_eq!(container["imagePullPolicy"], "IfNotPresent");
    assert_eq!(container["terminationMessagePath"], "/dev/termination-log");
    assert_eq!(deploy["spec"]["template"]["spec"]["restartPolicy"], "Always");
    assert_eq!(deploy["spec"]["strategy"]["rollingUpdate"]["maxSurge"], "25%");
    assert!(container.get("workingDir").is_none(), "{container}");
    assert!(deploy["spec"]["template"]["spec"].get("hostNetwork").is_none());

    kubectl_ok(&s, &["create", "job", "j", "--image=busybox"], None).await;
    let job = get_json(&s, &["job", "j"]).await;
    assert_eq!(
        job["spec"]["template"]["spec"]["containers"][0]["image"],
        "busybox"
    );
    assert_eq!(job["spec"]["template"]["spec"]["restartPolicy"], "Never");

    kubectl_ok(
        &s,
        &[
            "create",
            "cronjob",
            "c",
            "--image=busybox",
            "--schedule=*/5 * * * *",
        ],
        None,
    )
    .await;
    let cron = get_json(&s, &["cronjob", "c"]).await;
    assert_eq!(cron["spec"]["schedule"], "*/5 * * * *");
    assert_eq!(
        cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]["image"],
        "busybox"
    );

    kubectl_ok(&s, &["create", "job", "from-cron", "--from=cronjob/c"], None).await;
    let from = get_json(&s, &["job", "from-cron"]).await;
    assert_eq!(
        from["metadata"]["annotations"]["cronjob.kubernetes.io/instantiate"],
        "manual"
    );
    assert_eq!(from["metadata"]["ownerReferences"][0]["kind"], "CronJob");
    assert_eq!(
        from["spec"]["template"]["spec"]["containers"][0]["image"],
        "busybox"
    );

    kubectl_ok(
        &s,
        &["create", "service", "clusterip", "s", "--tcp=80:8080"],
        None,
    )
    .await;
    let svc = get_json(&s, &["svc", "s"]).await;
    assert_eq!(svc["spec"]["ports"][0]["port"], 80);
    assert_eq!(svc["spec"]["ports"][0]["targetPort"], 8080);
    assert_eq!(svc["spec"]["ports"][0]["protocol"], "TCP");
    assert_eq!(svc["spec"]["selector"]["app"], "s");
    assert!(svc["spec"]["clusterIP"].as_str().is_some_and(|ip| !ip.is_empty()));

    kubectl_ok(&s, &["expose", "deployment", "web", "--port", "80"], None).await;
    let exposed = get_json(&s, &["svc", "web"]).await;
    assert_eq!(exposed["spec"]["selector"]["app"], "web");
    assert_eq!(exposed["spec"]["ports"][0]["port"], 80);
    assert_eq!(exposed["spec"]["ports"][0]["targetPort"], 80);

    kubectl_ok(
        &s,
        &[
            "create",
            "secret",
            "generic",
            "sec",
            "--from-literal=password=s3cr=t",
        ],
        None,
    )
    .await;
    let secret = get_json(&s, &["secret", "sec"]).await;
    assert_eq!(secret["data"]["password"], "czNjcj10");
    assert_eq!(secret["type"], "Opaque");
    kubectl_ok(&s, &["create", "configmap", "cfg", "--from-literal=k=v"], None).await;
    assert_eq!(get_json(&s, &["cm", "cfg"]).await["data"]["k"], "v");
    kubectl_ok(&s, &["create", "namespace", "team"], None).await;
    kubectl_ok(&s, &["create", "serviceaccount", "robot", "-n", "team"], None).await;
    assert_eq!(
        get_json(&s, &["sa", "robot", "-n", "team"]).await["metadata"]["namespace"],
        "team"
    );

    // Patch-based commands keep working on the created objects.
    kubectl_ok(&s, &["set", "image", "deployment/web", "nginx=nginx:1.26"], None).await;
    kubectl_ok(&s, &["rollout", "restart", "deployment/web"], None).await;
    let after = get_json(&s, &["deploy", "web"]).await;
    assert_eq!(
        after["spec"]["template"]["spec"]["containers"][0]["image"],
        "nginx:1.26"
    );
    assert!(
        after["spec"]["template"]["metadata"]["annotations"]["kubectl.kubernetes.io/restartedAt"]
            .as_str()
            .is_some()
    );
}
