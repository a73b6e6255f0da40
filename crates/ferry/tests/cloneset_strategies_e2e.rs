//! CloneSet update and scale strategies inside `ferry up --sim-speed 0`, driven with the real `kubectl`:
//! InPlaceOnly refusals, ReCreate, the not-ready window of an in-place update, scale-down order, maxSurge,
//! and percent rounding of partition and maxUnavailable (reference §2.3–§2.6, §3).

mod common;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use common::Cluster;
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(30);
const OLD_IMAGE: &str = "openkruise/kruise:hello_world-d92ae174b";
const NEW_IMAGE: &str = "openkruise/kruise:hello_world-8a3d1c5e7";
const THIRD_IMAGE: &str = "openkruise/kruise:hello_world-3f0b9e2a1";

/// A CloneSet `name` selecting `app=<name>`, with the given update strategy and pod template annotations.
fn cloneset(name: &str, replicas: u32, strategy: Value, annotations: Value) -> String {
    json!({
        "apiVersion": "apps.kruise.io/v1alpha1",
        "kind": "CloneSet",
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "updateStrategy": strategy,
            "template": {
                "metadata": {"labels": {"app": name}, "annotations": annotations},
                "spec": {"containers": [{"name": "main", "image": OLD_IMAGE}]}
            }
        }
    })
    .to_string()
}

/// The CloneSet's pods without a deletionTimestamp, sorted by name.
fn active_pods(cluster: &Cluster, name: &str) -> Vec<Value> {
    let list = cluster.get_json(&["pods", "-l", &format!("app={name}")]);
    let mut items: Vec<Value> = list["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|p| p["metadata"]["deletionTimestamp"].is_null())
        .cloned()
        .collect();
    items.sort_by(|a, b| {
        a["metadata"]["name"]
            .as_str()
            .cmp(&b["metadata"]["name"].as_str())
    });
    items
}

fn condition<'a>(pod: &'a Value, type_: &str) -> Option<&'a str> {
    pod["status"]["conditions"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|c| c["type"] == type_)
        .and_then(|c| c["status"].as_str())
}

fn is_ready(pod: &Value) -> bool {
    condition(pod, "Ready") == Some("True")
}

fn image(pod: &Value) -> &str {
    pod["spec"]["containers"][0]["image"].as_str().unwrap_or_default()
}

fn uid(pod: &Value) -> String {
    pod["metadata"]["uid"].as_str().unwrap_or_default().to_string()
}

fn pod_name(pod: &Value) -> String {
    pod["metadata"]["name"].as_str().unwrap_or_default().to_string()
}

fn uids(pods: &[Value]) -> BTreeSet<String> {
    pods.iter().map(uid).collect()
}

fn restart_count(pod: &Value) -> i64 {
    pod["status"]["containerStatuses"][0]["restartCount"]
        .as_i64()
        .unwrap_or(-1)
}

fn cloneset_json(cluster: &Cluster, name: &str) -> Value {
    cluster.get_json(&["cloneset", name])
}

/// The status, once the controller has observed the current generation.
fn observed_status(cluster: &Cluster, name: &str) -> Option<Value> {
    let object = cloneset_json(cluster, name);
    (object["status"]["observedGeneration"] == object["metadata"]["generation"])
        .then(|| object["status"].clone())
}

fn patch(cluster: &Cluster, name: &str, kind: &str, patch: &str) {
    cluster.kubectl_ok(&["patch", "cloneset", name, "--type", kind, "-p", patch]);
}

fn set_image_op(image: &str) -> String {
    format!(r#"{{"op":"replace","path":"/spec/template/spec/containers/0/image","value":"{image}"}}"#)
}

/// Waits until `replicas` active pods are all Ready and the status of the current generation says so.
fn wait_settled(cluster: &Cluster, name: &str, replicas: usize) -> Vec<Value> {
    cluster.wait_for(&format!("{name}: {replicas} ready pods"), WAIT, || {
        let active = active_pods(cluster, name);
        active.len() == replicas
            && active.iter().all(is_ready)
            && observed_status(cluster, name)
                .is_some_and(|s| s["readyReplicas"] == replicas && s["replicas"] == replicas)
    });
    active_pods(cluster, name)
}

#[test]
fn in_place_only_refuses_non_image_changes_at_admission_and_in_the_controller() {
    let cluster = Cluster::start("cs-inplaceonly", &[]);
    let name = "only";
    cluster.apply(&cloneset(
        name,
        2,
        json!({"type": "InPlaceOnly", "partition": 0}),
        json!({}),
    ));
    let before = wait_settled(&cluster, name, 2);
    let generation = cloneset_json(&cluster, name)["metadata"]["generation"].clone();

    // Kruise's validating webhook: under InPlaceOnly only image replacements may change the template.
    let env_patch = r#"[{"op":"add","path":"/spec/template/spec/containers/0/env","value":[{"name":"GREETING","value":"hello"}]}]"#;
    let out = cluster.kubectl(&["patch", "cloneset", name, "--type", "json", "-p", env_patch]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "env change refused");
    assert!(
        stderr.contains("spec: Forbidden: only allowed to update images in spec for InPlaceOnly, but found add /containers/0/env"),
        "{stderr}"
    );
    assert_eq!(
        cloneset_json(&cluster, name)["metadata"]["generation"],
        generation,
        "nothing stored"
    );

    // The controller's own refusal: stage an env change while paused under InPlaceIfPossible, then switch the
    // type to InPlaceOnly (the template does not change in that update, so admission lets it through).
    patch(
        &cluster,
        name,
        "merge",
        r#"{"spec":{"updateStrategy":{"type":"InPlaceIfPossible","paused":true}}}"#,
    );
    patch(&cluster, name, "json", env_patch);
    patch(
        &cluster,
        name,
        "merge",
        r#"{"spec":{"updateStrategy":{"type":"InPlaceOnly","paused":false}}}"#,
    );
    cluster.wait_for("the FailedUpdate condition", WAIT, || {
        observed_status(&cluster, name).is_some_and(|status| {
            status["conditions"].as_array().into_iter().flatten().any(|c| {
                c["type"] == "FailedUpdate"
                    && c["message"].as_str().is_some_and(|m| {
                        m.contains("update strategy is InPlaceOnly but can not update in-place")
                    })
            })
        })
    });
    // Give a wrong recreate time to show, then check the pods were left alone.
    std::thread::sleep(Duration::from_millis(500));
    let after = active_pods(&cluster, name);
    assert_eq!(uids(&after), uids(&before), "no pod recreated");
    assert!(
        after
            .iter()
            .all(|p| p["spec"]["containers"][0]["env"].is_null() && restart_count(p) == 0 && is_ready(p)),
        "pods untouched: {after:?}"
    );
    let status = observed_status(&cluster, name).expect("status observed");
    assert_eq!(status["updatedReplicas"], 0);
    assert_ne!(status["currentRevision"], status["updateRevision"]);
}

#[test]
fn recreate_replaces_pods_on_an_image_change() {
    let cluster = Cluster::start("cs-recreate", &[]);
    let name = "recreate";
    cluster.apply(&cloneset(
        name,
        2,
        json!({"type": "ReCreate", "partition": 0}),
        json!({}),
    ));
    let before = wait_settled(&cluster, name, 2);
    let old_names: BTreeSet<String> = before.iter().map(pod_name).collect();

    patch(&cluster, name, "json", &format!("[{}]", set_image_op(NEW_IMAGE)));
    cluster.wait_for("pods recreated on the new image", WAIT, || {
        let active = active_pods(&cluster, name);
        active.len() == 2
            && active.iter().all(|p| image(p) == NEW_IMAGE && is_ready(p))
            && observed_status(&cluster, name).is_some_and(|s| s["updatedReadyReplicas"] == 2)
    });
    let after = active_pods(&cluster, name);
    assert!(
        uids(&before).is_disjoint(&uids(&after)),
        "new uids: {before:?} vs {after:?}"
    );
    let new_names: BTreeSet<String> = after.iter().map(pod_name).collect();
    assert!(old_names.is_disjoint(&new_names), "new pod names");
    assert!(
        after.iter().all(|p| restart_count(p) == 0),
        "fresh containers, not restarts"
    );
}

#[test]
fn in_place_update_goes_not_ready_during_the_grace_period_then_comes_back() {
    let cluster = Cluster::start("cs-grace", &[]);
    let name = "grace";
    cluster.apply(&cloneset(
        name,
        1,
        json!({"type": "InPlaceIfPossible", "partition": 0, "inPlaceUpdateStrategy": {"gracePeriodSeconds": 3}}),
        json!({}),
    ));
    let before = wait_settled(&cluster, name, 1);

    patch(&cluster, name, "json", &format!("[{}]", set_image_op(NEW_IMAGE)));
    // Within the grace period the pod is marked InPlaceUpdateReady=False, so it is not Ready, while its image is
    // still the old one (the grace annotation holds the pending change).
    cluster.wait_for("the pod marked not ready for the update", WAIT, || {
        active_pods(&cluster, name).first().is_some_and(|p| {
            condition(p, "InPlaceUpdateReady") == Some("False")
                && condition(p, "Ready") == Some("False")
                && image(p) == OLD_IMAGE
                && p["metadata"]["annotations"]["apps.kruise.io/inplace-update-grace"].is_string()
        })
    });
    cluster.wait_for("the pod back to Ready on the new image", WAIT, || {
        active_pods(&cluster, name).first().is_some_and(|p| {
            condition(p, "InPlaceUpdateReady") == Some("True")
                && is_ready(p)
                && image(p) == NEW_IMAGE
                && restart_count(p) == 1
        })
    });
    let after = active_pods(&cluster, name);
    assert_eq!(uids(&after), uids(&before), "updated in place");
    assert!(after[0]["metadata"]["annotations"]["apps.kruise.io/inplace-update-grace"].is_null());

    // Without a grace period the window is too short to poll at --sim-speed 0, so watch it instead: the
    // pod passes through InPlaceUpdateReady=False (and Ready=False) before it is Ready on the next image.
    let watch = PodWatch::start(&cluster, name);
    patch(
        &cluster,
        name,
        "json",
        &format!(
            r#"[{},{{"op":"replace","path":"/spec/updateStrategy/inPlaceUpdateStrategy/gracePeriodSeconds","value":0}}]"#,
            set_image_op(THIRD_IMAGE)
        ),
    );
    cluster.wait_for("the pod Ready on the third image", WAIT, || {
        active_pods(&cluster, name).first().is_some_and(|p| {
            condition(p, "InPlaceUpdateReady") == Some("True")
                && is_ready(p)
                && image(p) == THIRD_IMAGE
                && restart_count(p) == 2
        })
    });
    let seen = watch.stop();
    let not_ready_at = seen
        .iter()
        .position(|p| {
            condition(p, "InPlaceUpdateReady") == Some("False") && condition(p, "Ready") == Some("False")
        })
        .unwrap_or_else(|| panic!("no not-ready state among {} watched versions", seen.len()));
    let ready_again = seen[not_ready_at..].iter().any(|p| {
        condition(p, "InPlaceUpdateReady") == Some("True") && is_ready(p) && image(p) == THIRD_IMAGE
    });
    assert!(ready_again, "Ready again after the not-ready state: {seen:?}");
    assert!(
        seen.iter().all(|p| uid(p) == uid(&before[0])),
        "one pod object throughout"
    );
}

/// `kubectl get pods -w -o json` in the background, collecting every pod version it prints.
struct PodWatch {
    child: std::process::Child,
    reader: std::thread::JoinHandle<String>,
}

impl PodWatch {
    /// Starts the watch and returns once its initial listing has been printed, so no later change is missed.
    fn start(cluster: &Cluster, name: &str) -> PodWatch {
        use std::io::Read;
        let mut child = std::process::Command::new("kubectl")
            .args(["get", "pods", "-l", &format!("app={name}"), "-w", "-o", "json"])
            .env("KUBECONFIG", cluster.kubeconfig())
            .env("HOME", &cluster.data_dir)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("run kubectl get -w");
        let mut stdout = child.stdout.take().expect("watch stdout");
        let (first, first_seen) = std::sync::mpsc::channel();
        let reader = std::thread::spawn(move || {
            let mut text = Vec::new();
            let mut buf = [0u8; 4096];
            let mut signalled = false;
            while let Ok(n) = stdout.read(&mut buf) {
                if n == 0 {
                    break;
                }
                text.extend_from_slice(&buf[..n]);
                if !signalled {
                    signalled = true;
                    let _ = first.send(());
                }
            }
            String::from_utf8_lossy(&text).into_owned()
        });
        first_seen
            .recv_timeout(WAIT)
            .expect("the watch printed its initial listing");
        PodWatch { child, reader }
    }

    /// Stops kubectl and parses the concatenated JSON documents it printed.
    fn stop(mut self) -> Vec<Value> {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let text = self.reader.join().unwrap_or_default();
        serde_json::Deserializer::from_str(&text)
            .into_iter::<Value>()
            .map_while(Result::ok)
            .collect()
    }
}

#[test]
fn scale_down_removes_not_ready_then_old_revision_pods_first() {
    let cluster = Cluster::start("cs-scaledown", &[]);
    let name = "shrink";
    cluster.apply(&cloneset(
        name,
        3,
        json!({"type": "InPlaceIfPossible", "partition": 0}),
        json!({}),
    ));
    let three = wait_settled(&cluster, name, 3);

    // The middle pod (by name, so neither the oldest nor the newest by chance) stops being ready.
    let sick = pod_name(&three[1]);
    cluster.kubectl_ok(&["annotate", "pod", &sick, "sim.ferry.dev/fail=NeverReady"]);
    cluster.wait_for("the annotated pod not ready", WAIT, || {
        active_pods(&cluster, name)
            .iter()
            .any(|p| pod_name(p) == sick && !is_ready(p))
            && observed_status(&cluster, name).is_some_and(|s| s["readyReplicas"] == 2)
    });
    cluster.kubectl_ok(&["scale", "cloneset", name, "--replicas", "2"]);
    let two = wait_settled(&cluster, name, 2);
    let expected: BTreeSet<String> = three.iter().filter(|p| pod_name(p) != sick).map(uid).collect();
    assert_eq!(uids(&two), expected, "the not-ready pod {sick} went first");

    // Two pods on the old revision, two new ones at the update revision (partition 2 keeps the old ones).
    patch(
        &cluster,
        name,
        "json",
        &format!(
            r#"[{},{{"op":"replace","path":"/spec/updateStrategy/partition","value":2}},{{"op":"replace","path":"/spec/replicas","value":4}}]"#,
            set_image_op(NEW_IMAGE)
        ),
    );
    let four = wait_settled(&cluster, name, 4);
    let new_uids: BTreeSet<String> = four.iter().filter(|p| image(p) == NEW_IMAGE).map(uid).collect();
    let old_uids: BTreeSet<String> = four.iter().filter(|p| image(p) == OLD_IMAGE).map(uid).collect();
    assert_eq!(old_uids, uids(&two), "partition kept the old pods");
    assert_eq!(new_uids.len(), 2);

    // Scaling to 2 with partition 0: the old-revision pods go, the new ones are kept as they are.
    patch(
        &cluster,
        name,
        "merge",
        r#"{"spec":{"replicas":2,"updateStrategy":{"partition":0}}}"#,
    );
    let last = wait_settled(&cluster, name, 2);
    assert_eq!(uids(&last), new_uids, "old-revision pods removed first");
    assert!(
        last.iter().all(|p| restart_count(p) == 0),
        "no in-place update needed"
    );
}

#[test]
fn max_surge_creates_before_deleting_during_recreate() {
    let cluster = Cluster::start("cs-surge", &[]);
    let name = "surge";
    cluster.apply(&cloneset(
        name,
        3,
        json!({"type": "ReCreate", "partition": 0, "maxSurge": 1, "maxUnavailable": 0}),
        json!({}),
    ));
    let before = wait_settled(&cluster, name, 3);

    // The new revision never becomes ready, so the rollout stops right after its first step: with
    // maxUnavailable 0 that step must be the surge pod, created while every old pod still runs.
    patch(
        &cluster,
        name,
        "json",
        &format!(
            r#"[{},{{"op":"add","path":"/spec/template/metadata/annotations/sim.ferry.dev~1fail","value":"NeverReady"}}]"#,
            set_image_op(NEW_IMAGE)
        ),
    );
    cluster.wait_for("one surge pod next to the three old ones", WAIT, || {
        let active = active_pods(&cluster, name);
        active.len() == 4 && active.iter().filter(|p| image(p) == NEW_IMAGE).count() == 1
    });
    std::thread::sleep(Duration::from_millis(500));
    let surged = active_pods(&cluster, name);
    assert_eq!(surged.len(), 4, "replicas + maxSurge, no more: {surged:?}");
    let old: Vec<&Value> = surged.iter().filter(|p| image(p) == OLD_IMAGE).collect();
    assert_eq!(
        old.iter().map(|p| uid(p)).collect::<BTreeSet<_>>(),
        uids(&before),
        "no old pod deleted while the surge pod is unavailable"
    );
    assert!(old.iter().all(|p| is_ready(p)));
    let status = observed_status(&cluster, name).expect("status observed");
    assert_eq!(status["replicas"], 4);
    assert_eq!(status["updatedReplicas"], 1);
    assert_eq!(status["updatedReadyReplicas"], 0);

    // A healthy revision: the rollout completes and never exceeds replicas + maxSurge active pods.
    patch(
        &cluster,
        name,
        "json",
        r#"[{"op":"remove","path":"/spec/template/metadata/annotations/sim.ferry.dev~1fail"}]"#,
    );
    let deadline = Instant::now() + WAIT;
    loop {
        let active = active_pods(&cluster, name);
        assert!(active.len() <= 4, "at most 4 active pods: {}", active.len());
        let done = active.len() == 3
            && active.iter().all(|p| {
                image(p) == NEW_IMAGE
                    && is_ready(p)
                    && p["metadata"]["annotations"]["sim.ferry.dev/fail"].is_null()
            })
            && observed_status(&cluster, name).is_some_and(|s| s["updatedReadyReplicas"] == 3);
        if done {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "rollout did not finish: {active:?}\n{}",
            cluster.log_tail()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(uids(&active_pods(&cluster, name)).is_disjoint(&uids(&before)));
}

#[test]
fn percent_partition_and_max_unavailable_round_as_upstream() {
    let cluster = Cluster::start("cs-percent", &[]);
    let name = "percent";
    cluster.apply(&cloneset(
        name,
        5,
        json!({"type": "InPlaceIfPossible", "partition": "99%", "maxUnavailable": "50%",
               "inPlaceUpdateStrategy": {"gracePeriodSeconds": 3}}),
        json!({}),
    ));
    let before = wait_settled(&cluster, name, 5);

    // Reference §2.5: P = ceil(R·p/100); if that is R for a value below 100%, P = R − 1.
    for (partition, expected_updated) in [("99%", 1), ("100%", 0), ("50%", 2)] {
        patch(
            &cluster,
            name,
            "merge",
            &format!(r#"{{"spec":{{"updateStrategy":{{"partition":"{partition}"}}}}}}"#),
        );
        cluster.wait_for(&format!("expectedUpdatedReplicas for {partition}"), WAIT, || {
            // The field is `omitempty` upstream, so 0 is an absent field.
            observed_status(&cluster, name)
                .is_some_and(|s| s["expectedUpdatedReplicas"].as_i64().unwrap_or(0) == expected_updated)
        });
    }

    // 50% of 5 keeps 3 pods old: exactly 2 are updated, in place.
    patch(&cluster, name, "json", &format!("[{}]", set_image_op(NEW_IMAGE)));
    cluster.wait_for("two pods updated", WAIT, || {
        let active = active_pods(&cluster, name);
        active
            .iter()
            .filter(|p| image(p) == NEW_IMAGE && restart_count(p) == 1 && is_ready(p))
            .count()
            == 2
            && observed_status(&cluster, name).is_some_and(|s| {
                s["updatedReplicas"] == 2 && s["updatedReadyReplicas"] == 2 && s["readyReplicas"] == 5
            })
    });
    std::thread::sleep(Duration::from_millis(500));
    let partial = active_pods(&cluster, name);
    assert_eq!(partial.iter().filter(|p| image(p) == NEW_IMAGE).count(), 2);
    assert_eq!(uids(&partial), uids(&before));

    // partition 0: maxUnavailable 50% of 5 rounds up to 3 (maxSurge is 0), so the three remaining pods sit
    // in their grace period together.
    patch(
        &cluster,
        name,
        "merge",
        r#"{"spec":{"updateStrategy":{"partition":0}}}"#,
    );
    let mut most_not_ready = 0;
    let deadline = Instant::now() + WAIT;
    loop {
        let active = active_pods(&cluster, name);
        let not_ready = active.iter().filter(|p| !is_ready(p)).count();
        most_not_ready = most_not_ready.max(not_ready);
        let done = active.len() == 5
            && active.iter().all(|p| image(p) == NEW_IMAGE && is_ready(p))
            && observed_status(&cluster, name).is_some_and(|s| s["updatedReadyReplicas"] == 5);
        if done {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "rollout did not finish: {active:?}\n{}",
            cluster.log_tail()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(most_not_ready, 3, "ceil(50% of 5) pods unavailable at once");
    let last = active_pods(&cluster, name);
    assert_eq!(uids(&last), uids(&before), "all updated in place");
    assert!(last.iter().all(|p| restart_count(p) == 1));
}
