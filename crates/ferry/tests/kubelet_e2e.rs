//! The simulated kubelet inside `ferry up`, seen through real `kubectl`: nodes, scheduling, pod status,
//! in-place container restarts, run-to-completion pods and deletion.

mod common;

use std::time::Duration;

use common::Cluster;

const WAIT: Duration = Duration::from_secs(30);

#[test]
fn nodes_register_and_pods_run() {
    let cluster = Cluster::start("kubelet", &["--nodes", "2"]);
    let nodes = cluster.get_json(&["nodes"]);
    let names: Vec<&str> = nodes["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|n| n["metadata"]["name"].as_str())
        .collect();
    assert_eq!(names, ["ferry-node-1", "ferry-node-2"]);
    let leases = cluster.kubectl_ok(&["get", "leases", "-n", "kube-node-lease", "--no-headers"]);
    assert_eq!(
        leases.lines().count(),
        2,
        "one heartbeat lease per node: {leases}"
    );

    cluster.kubectl_ok(&["run", "web", "--image=nginx:1.25"]);
    cluster.wait_for("pod web Ready", WAIT, || {
        let pod = cluster.get_json(&["pod", "web"]);
        pod["status"]["conditions"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|c| c["type"] == "Ready" && c["status"] == "True")
    });
    let pod = cluster.get_json(&["pod", "web"]);
    assert!(
        pod["spec"]["nodeName"]
            .as_str()
            .unwrap()
            .starts_with("ferry-node-")
    );
    assert_eq!(pod["status"]["phase"], "Running");
    let status = &pod["status"]["containerStatuses"][0];
    assert!(
        status["imageID"]
            .as_str()
            .unwrap()
            .starts_with("docker.io/library/nginx@sha256:"),
        "{status}"
    );
    assert!(pod["status"]["podIP"].as_str().unwrap().starts_with("10.244."));

    // Changing the image restarts the container in place: same pod, restartCount 1, new imageID.
    let uid = pod["metadata"]["uid"].clone();
    let old_image_id = status["imageID"].clone();
    cluster.kubectl_ok(&["set", "image", "pod/web", "web=nginx:1.26"]);
    cluster.wait_for("in-place restart", WAIT, || {
        let pod = cluster.get_json(&["pod", "web"]);
        let s = &pod["status"]["containerStatuses"][0];
        s["restartCount"] == 1 && s["ready"] == true && s["image"] == "nginx:1.26"
    });
    let pod = cluster.get_json(&["pod", "web"]);
    assert_eq!(pod["metadata"]["uid"], uid);
    assert_ne!(pod["status"]["containerStatuses"][0]["imageID"], old_image_id);

    cluster.kubectl_ok(&["delete", "pod", "web", "--wait=true", "--timeout=30s"]);
    let out = cluster.kubectl(&["get", "pod", "web"]);
    assert!(!out.status.success(), "pod deleted");
}

#[test]
fn unschedulable_and_completed_pods() {
    let cluster = Cluster::start("kubelet-sched", &[]);
    cluster.apply(
        r#"
apiVersion: v1
kind: Pod
metadata: {name: picky}
spec:
  nodeSelector: {disktype: ssd}
  containers: [{name: c, image: busybox:1.36}]
---
apiVersion: v1
kind: Pod
metadata:
  name: batch
  annotations: {sim.ferry.dev/exit-code: "3"}
spec:
  restartPolicy: Never
  containers: [{name: c, image: busybox:1.36}]
"#,
    );
    cluster.wait_for("Unschedulable condition", WAIT, || {
        let pod = cluster.get_json(&["pod", "picky"]);
        pod["status"]["conditions"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|c| {
                c["type"] == "PodScheduled"
                    && c["reason"] == "Unschedulable"
                    && c["message"]
                        == "0/3 nodes are available: 3 node(s) didn't match Pod's node affinity/selector."
            })
    });
    cluster.wait_for("batch pod Failed with exit code 3", WAIT, || {
        let pod = cluster.get_json(&["pod", "batch"]);
        pod["status"]["phase"] == "Failed"
            && pod["status"]["containerStatuses"][0]["state"]["terminated"]["exitCode"] == 3
    });
    // Labelling a node makes room for the picky pod.
    cluster.kubectl_ok(&["label", "node", "ferry-node-2", "disktype=ssd"]);
    cluster.wait_for("picky scheduled on the labelled node", WAIT, || {
        cluster.get_json(&["pod", "picky"])["spec"]["nodeName"] == "ferry-node-2"
    });
}
