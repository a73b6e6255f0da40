//! The CloneSet controller inside `ferry up`, driven with the real `kubectl`: the seed's CloneSet, in-place
//! rollout in batches, recreate on env change, `/scale`, `paused`, the `TemplateNoDefaults` gate and a
//! controller restart mid-rollout.

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::Cluster;
use serde_json::Value;

const WAIT: Duration = Duration::from_secs(30);
const SEED_CLONESET: &str = include_str!("fixtures/seed-cloneset.yaml");
const CLONESET: &str = "helloworld-server";
const OLD_IMAGE: &str = "openkruise/kruise:hello_world-d92ae174b";
const NEW_IMAGE: &str = "openkruise/kruise:hello_world-8a3d1c5e7";

/// The CloneSet's pods (active and terminating), sorted by name.
fn pods(cluster: &Cluster) -> Vec<Value> {
    let list = cluster.get_json(&["pods", "-l", "app=helloworld-server"]);
    let mut items = list["items"].as_array().cloned().unwrap_or_default();
    items.sort_by(|a, b| {
        a["metadata"]["name"]
            .as_str()
            .cmp(&b["metadata"]["name"].as_str())
    });
    items
}

fn active_pods(cluster: &Cluster) -> Vec<Value> {
    pods(cluster)
        .into_iter()
        .filter(|p| p["metadata"]["deletionTimestamp"].is_null())
        .collect()
}

fn is_ready(pod: &Value) -> bool {
    pod["status"]["conditions"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|c| c["type"] == "Ready" && c["status"] == "True")
}

fn image(pod: &Value) -> &str {
    pod["spec"]["containers"][0]["image"].as_str().unwrap_or_default()
}

/// The pod runs `image` after one in-place container restart and is Ready.
fn restarted_on(pod: &Value, image: &str) -> bool {
    let container = &pod["status"]["containerStatuses"][0];
    container["image"] == image
        && container["restartCount"] == 1
        && container["ready"] == true
        && is_ready(pod)
}

fn uid(pod: &Value) -> String {
    pod["metadata"]["uid"].as_str().unwrap_or_default().to_string()
}

fn status(cluster: &Cluster) -> Value {
    cluster.get_json(&["cloneset", CLONESET])["status"].clone()
}

/// `kubectl get cloneset` columns after NAME: DESIRED UPDATED UPDATED_READY UPDATED_AVAILABLE READY TOTAL.
fn printed_columns(cluster: &Cluster) -> Vec<String> {
    let out = cluster.kubectl_ok(&["get", "cloneset", CLONESET, "--no-headers"]);
    out.split_whitespace()
        .skip(1)
        .take(6)
        .map(str::to_string)
        .collect()
}

fn merge_patch(cluster: &Cluster, patch: &str) {
    cluster.kubectl_ok(&["patch", "cloneset", CLONESET, "--type", "merge", "-p", patch]);
}

/// A JSON patch (`kubectl set image/env` only know built-in kinds, not custom resources).
fn json_patch(cluster: &Cluster, patch: &str) {
    cluster.kubectl_ok(&["patch", "cloneset", CLONESET, "--type", "json", "-p", patch]);
}

fn set_image(cluster: &Cluster, image: &str) {
    json_patch(
        cluster,
        &format!(r#"[{{"op":"replace","path":"/spec/template/spec/containers/0/image","value":"{image}"}}]"#),
    );
}

/// Waits until the CloneSet has `replicas` active pods, all Ready, and the status has caught up.
fn wait_settled(cluster: &Cluster, replicas: usize) {
    cluster.wait_for(&format!("{replicas} ready pods and status"), WAIT, || {
        let active = active_pods(cluster);
        let status = status(cluster);
        active.len() == replicas
            && active.iter().all(is_ready)
            && status["readyReplicas"] == replicas
            && status["replicas"] == replicas
            && status["observedGeneration"]
                == cluster.get_json(&["cloneset", CLONESET])["metadata"]["generation"]
    });
}

#[test]
fn seed_cloneset_rolls_out_in_place_in_batches() {
    let cluster = Cluster::start("cloneset-seed", &[]);
    cluster.apply(SEED_CLONESET);
    wait_settled(&cluster, 2);
    cluster.wait_for("kubectl get cloneset columns", WAIT, || {
        printed_columns(&cluster) == ["2", "2", "2", "2", "2", "2"]
    });
    let before = active_pods(&cluster);
    for pod in &before {
        assert_eq!(image(pod), OLD_IMAGE);
        assert_eq!(pod["metadata"]["ownerReferences"][0]["kind"], "CloneSet");
        let gates = pod["spec"]["readinessGates"].to_string();
        assert!(gates.contains("InPlaceUpdateReady"), "readiness gate on {pod}");
        assert!(pod["metadata"]["labels"]["controller-revision-hash"].is_string());
    }
    let revisions = cluster.kubectl_ok(&["get", "controllerrevisions", "--no-headers"]);
    assert_eq!(revisions.lines().count(), 1, "one revision: {revisions}");

    // partition 1 of 2: exactly one pod moves, in place.
    set_image(&cluster, NEW_IMAGE);
    // Wait for the end state (container restarted and Ready again), not just the counters.
    cluster.wait_for("one pod updated in place", WAIT, || {
        let restarted = active_pods(&cluster)
            .iter()
            .filter(|p| restarted_on(p, NEW_IMAGE))
            .count();
        let status = status(&cluster);
        restarted == 1
            && status["updatedReplicas"] == 1
            && status["updatedReadyReplicas"] == 1
            && status["expectedUpdatedReplicas"] == 1
            && status["readyReplicas"] == 2
    });
    let after = active_pods(&cluster);
    assert_eq!(after.len(), 2);
    let updated: Vec<&Value> = after.iter().filter(|p| image(p) == NEW_IMAGE).collect();
    assert_eq!(updated.len(), 1, "exactly one pod on the new image");
    let moved = updated[0];
    let original = before
        .iter()
        .find(|p| p["metadata"]["name"] == moved["metadata"]["name"])
        .expect("the updated pod kept its name");
    assert_eq!(uid(moved), uid(original), "same pod object");
    let container = &moved["status"]["containerStatuses"][0];
    assert_eq!(container["restartCount"], 1);
    assert_eq!(container["image"], NEW_IMAGE);
    assert_ne!(
        container["imageID"],
        original["status"]["containerStatuses"][0]["imageID"]
    );
    assert!(moved["metadata"]["annotations"]["apps.kruise.io/inplace-update-state"].is_string());
    let status_now = status(&cluster);
    assert_ne!(status_now["currentRevision"], status_now["updateRevision"]);

    // partition 0: the other follows, also in place.
    merge_patch(&cluster, r#"{"spec":{"updateStrategy":{"partition":0}}}"#);
    cluster.wait_for("both pods updated", WAIT, || {
        let restarted = active_pods(&cluster)
            .iter()
            .filter(|p| restarted_on(p, NEW_IMAGE))
            .count();
        let status = status(&cluster);
        restarted == 2
            && status["updatedReplicas"] == 2
            && status["updatedReadyReplicas"] == 2
            && status["readyReplicas"] == 2
    });
    let last = active_pods(&cluster);
    let uids_before: BTreeSet<String> = before.iter().map(uid).collect();
    let uids_after: BTreeSet<String> = last.iter().map(uid).collect();
    assert_eq!(uids_before, uids_after, "no pod was recreated");
    assert!(
        last.iter()
            .all(|p| image(p) == NEW_IMAGE && p["status"]["containerStatuses"][0]["restartCount"] == 1)
    );
    cluster.wait_for("currentRevision catches up", WAIT, || {
        let status = status(&cluster);
        status["currentRevision"] == status["updateRevision"]
    });
    cluster.wait_for("kubectl get cloneset columns after the rollout", WAIT, || {
        printed_columns(&cluster) == ["2", "2", "2", "2", "2", "2"]
    });

    // Events (events.k8s.io/v1, from kube-runtime's Recorder) name every pod created and updated.
    let events = cluster.get_json(&["events.v1.events.k8s.io"]);
    let notes: Vec<(String, String)> = events["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|e| e["regarding"]["kind"] == "CloneSet" && e["regarding"]["name"] == CLONESET)
        .map(|e| {
            let reason = e["reason"].as_str().unwrap_or_default().to_string();
            (reason, e["note"].as_str().unwrap_or_default().to_string())
        })
        .collect();
    for pod in &before {
        let name = pod["metadata"]["name"].as_str().unwrap_or_default();
        let created = format!("succeed to create pod {name}");
        assert!(
            notes.contains(&("SuccessfulCreate".to_string(), created)),
            "{name} created: {notes:?}"
        );
        let in_place = notes
            .iter()
            .any(|(reason, note)| reason == "SuccessfulUpdatePodInPlace" && note.contains(name));
        assert!(in_place, "{name} updated in place: {notes:?}");
    }
}

#[test]
fn env_change_recreates_and_scale_goes_through_the_scale_subresource() {
    let cluster = Cluster::start("cloneset-recreate", &[]);
    cluster.apply(&SEED_CLONESET.replace("partition: 1", "partition: 0"));
    wait_settled(&cluster, 2);
    let before: BTreeSet<String> = active_pods(&cluster).iter().map(uid).collect();

    // An env change cannot be applied in place: InPlaceIfPossible falls back to recreating.
    json_patch(
        &cluster,
        r#"[{"op":"add","path":"/spec/template/spec/containers/0/env","value":[{"name":"GREETING","value":"hello"}]}]"#,
    );
    cluster.wait_for("pods recreated with the env", WAIT, || {
        let active = active_pods(&cluster);
        let status = status(&cluster);
        active.len() == 2
            && active
                .iter()
                .all(|p| p["spec"]["containers"][0]["env"][0]["name"] == "GREETING" && is_ready(p))
            && status["updatedReadyReplicas"] == 2
    });
    let after: BTreeSet<String> = active_pods(&cluster).iter().map(uid).collect();
    assert!(
        before.is_disjoint(&after),
        "every pod is new: {before:?} vs {after:?}"
    );

    // `kubectl scale` writes /scale; the controller creates the third pod.
    cluster.kubectl_ok(&["scale", "cloneset", CLONESET, "--replicas", "3"]);
    wait_settled(&cluster, 3);
    cluster.wait_for("three replicas printed", WAIT, || {
        printed_columns(&cluster) == ["3", "3", "3", "3", "3", "3"]
    });
    let scale = cluster.kubectl_ok(&[
        "get",
        "--raw",
        "/apis/apps.kruise.io/v1alpha1/namespaces/default/clonesets/helloworld-server/scale",
    ]);
    let scale: Value = serde_json::from_str(&scale).expect("scale JSON");
    assert_eq!(scale["spec"]["replicas"], 3);
    assert_eq!(scale["status"]["selector"], "app=helloworld-server");

    cluster.kubectl_ok(&["scale", "cloneset", CLONESET, "--replicas", "1"]);
    wait_settled(&cluster, 1);
}

#[test]
fn paused_stops_updates_but_not_scaling() {
    let cluster = Cluster::start("cloneset-paused", &[]);
    cluster.apply(&SEED_CLONESET.replace("partition: 1", "partition: 0\n    paused: true"));
    // Paused does not hold back creation.
    wait_settled(&cluster, 2);
    set_image(&cluster, NEW_IMAGE);
    cluster.kubectl_ok(&["scale", "cloneset", CLONESET, "--replicas", "3"]);
    wait_settled(&cluster, 3);
    // Give the controller time to (wrongly) update; the status has already caught up with the generation.
    std::thread::sleep(Duration::from_millis(500));
    let active = active_pods(&cluster);
    let old = active.iter().filter(|p| image(p) == OLD_IMAGE).count();
    let new = active.iter().filter(|p| image(p) == NEW_IMAGE).count();
    // The pod created by the scale-up uses the update revision; existing pods stay where they were.
    assert_eq!((old, new), (2, 1), "paused: existing pods untouched");
    assert_eq!(status(&cluster)["updatedReplicas"], 1);

    merge_patch(&cluster, r#"{"spec":{"updateStrategy":{"paused":false}}}"#);
    cluster.wait_for("rollout resumes after unpause", WAIT, || {
        let status = status(&cluster);
        status["updatedReplicas"] == 3 && status["updatedReadyReplicas"] == 3
    });
    assert!(active_pods(&cluster).iter().all(|p| image(p) == NEW_IMAGE));

    // The validating admission step refuses a selector that does not match the template labels.
    let invalid = cluster.data_dir.join("invalid-cloneset.yaml");
    let yaml = SEED_CLONESET
        .replace("name: helloworld-server\n", "name: mismatched\n")
        .replace(
            "      labels:\n        app: helloworld-server",
            "      labels:\n        app: other",
        );
    std::fs::write(&invalid, yaml).expect("write manifest");
    let out = cluster.kubectl(&["apply", "-f", invalid.to_str().expect("utf-8 path")]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "refused");
    assert!(
        stderr.contains("spec.template.metadata.labels: Invalid value: \"object\": `selector` does not match template `labels`"),
        "{stderr}"
    );
}

#[test]
fn template_no_defaults_gate_is_visible_in_the_stored_cloneset() {
    for (gate, expect_defaults) in [(None, true), (Some("TemplateNoDefaults=true"), false)] {
        let extra: Vec<&str> = gate.map(|g| vec!["--feature-gates", g]).unwrap_or_default();
        let cluster = Cluster::start("cloneset-gate", &extra);
        cluster.apply(SEED_CLONESET);
        let yaml = cluster.kubectl_ok(&["get", "cloneset", CLONESET, "-o", "yaml"]);
        assert_eq!(
            yaml.contains("imagePullPolicy: Always"),
            expect_defaults,
            "gate {gate:?}: imagePullPolicy injected only without TemplateNoDefaults:\n{yaml}"
        );
        assert_eq!(
            yaml.contains("dnsPolicy: ClusterFirst"),
            expect_defaults,
            "gate {gate:?}"
        );
        // Spec-level defaults apply either way.
        assert!(yaml.contains("revisionHistoryLimit: 10"), "{yaml}");
        assert!(yaml.contains("maxUnavailable: 20%"), "{yaml}");
        // And the controller runs the CloneSet in both cases.
        wait_settled(&cluster, 2);
    }
}

#[test]
fn controller_restart_mid_rollout_resumes_without_duplicates() {
    // The data dir outlives both processes (removed when `data` drops, after the clusters).
    let data = common::TempDir::new("cloneset-restart");
    let first = Cluster::start_in(&data.0, &[]);
    let yaml = SEED_CLONESET
        .replace("partition: 1", "partition: 0\n    maxUnavailable: 1")
        .replace("replicas: 2", "replicas: 4");
    first.apply(&yaml);
    wait_settled(&first, 4);
    let before: BTreeSet<String> = active_pods(&first).iter().map(uid).collect();

    // Start a one-pod-at-a-time in-place rollout and kill the whole process while it runs.
    set_image(&first, NEW_IMAGE);
    std::thread::sleep(Duration::from_millis(150));
    first.kill();

    let second = Cluster::start_in(&data.0, &[]);
    second.wait_for("rollout finished after restart", WAIT, || {
        let all = pods(&second);
        assert!(all.len() <= 4, "never more than 4 pods: {}", all.len());
        let restarted = all.iter().filter(|p| restarted_on(p, NEW_IMAGE)).count();
        let status = status(&second);
        restarted == 4
            && status["updatedReplicas"] == 4
            && status["updatedReadyReplicas"] == 4
            && status["readyReplicas"] == 4
    });
    let after = active_pods(&second);
    let uids: BTreeSet<String> = after.iter().map(uid).collect();
    assert_eq!(uids, before, "the same four pods, updated in place");
    let ids: BTreeSet<&str> = after
        .iter()
        .filter_map(|p| p["metadata"]["labels"]["apps.kruise.io/cloneset-instance-id"].as_str())
        .collect();
    assert_eq!(ids.len(), 4, "instance ids are unique");
    assert!(
        after
            .iter()
            .all(|p| image(p) == NEW_IMAGE && p["status"]["containerStatuses"][0]["restartCount"] == 1)
    );
}
