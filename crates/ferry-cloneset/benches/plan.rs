//! Planner cost at 1,000 pods: the first round of a fresh CloneSet (1,000 creations) and a round of an
//! in-place rollout with maxUnavailable 20%. Run with `cargo bench -p ferry-cloneset --bench plan`.

use std::time::Instant;

use ferry_cloneset::plan::{PlanInput, plan};
use ferry_cloneset::revision::new_revision;
use ferry_types::kruise::CloneSet;
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::jiff::Timestamp;
use serde_json::json;

fn cloneset(image: &str) -> CloneSet {
    serde_json::from_value(json!({
        "metadata": {"name": "bench", "namespace": "default", "uid": "cs-uid", "generation": 1},
        "spec": {
            "replicas": 1000,
            "selector": {"matchLabels": {"app": "bench"}},
            "updateStrategy": {"type": "InPlaceIfPossible", "partition": 0, "maxUnavailable": "20%", "maxSurge": 0},
            "template": {
                "metadata": {"labels": {"app": "bench"}},
                "spec": {"containers": [{"name": "main", "image": image}]}
            }
        }
    }))
    .unwrap_or_default()
}

fn ready_pod(index: usize, revision: &str) -> Pod {
    serde_json::from_value(json!({
        "metadata": {
            "name": format!("bench-{index:05}"), "namespace": "default", "uid": format!("uid-{index}"),
            "creationTimestamp": "2026-01-01T00:00:00Z",
            "labels": {
                "app": "bench", "controller-revision-hash": revision, "pod-template-hash": revision.rsplit('-').next(),
                "apps.kruise.io/cloneset-instance-id": format!("{index:05}"), "lifecycle.apps.kruise.io/state": "Normal"
            }
        },
        "spec": {
            "nodeName": "node-1",
            "containers": [{"name": "main", "image": "nginx:1"}],
            "readinessGates": [{"conditionType": "InPlaceUpdateReady"}]
        },
        "status": {
            "phase": "Running",
            "conditions": [
                {"type": "Ready", "status": "True", "lastTransitionTime": "2026-01-01T00:00:00Z"},
                {"type": "InPlaceUpdateReady", "status": "True", "lastTransitionTime": "2026-01-01T00:00:00Z"}
            ],
            "containerStatuses": [{"name": "main", "image": "nginx:1", "imageID": "sha256:1", "ready": true, "restartCount": 0}]
        }
    }))
    .unwrap_or_default()
}

fn time<T>(label: &str, rounds: u32, mut run: impl FnMut() -> T) {
    let start = Instant::now();
    for _ in 0..rounds {
        std::hint::black_box(run());
    }
    let per_round = start.elapsed() / rounds;
    println!("{label}: {per_round:?} per plan");
}

fn main() {
    let now = Timestamp::from_second(1_800_000_000).unwrap_or(Timestamp::UNIX_EPOCH);
    let fresh = cloneset("nginx:1");
    time("create 1000 pods (first round)", 5, || {
        plan(PlanInput {
            cloneset: &fresh,
            pods: &[],
            pvcs: &[],
            revisions: &[],
            now,
            id_seed: 1,
        })
        .map(|p| p.pods_to_create.len())
    });

    let Ok(old_revision) = new_revision(&fresh, 1, 0) else {
        return;
    };
    let old_name = old_revision.metadata.name.clone().unwrap_or_default();
    let pods: Vec<Pod> = (0..1000).map(|i| ready_pod(i, &old_name)).collect();
    let updated = cloneset("nginx:2");
    let revisions = [old_revision];
    time("in-place rollout round over 1000 ready pods", 5, || {
        plan(PlanInput {
            cloneset: &updated,
            pods: &pods,
            pvcs: &[],
            revisions: &revisions,
            now,
            id_seed: 1,
        })
        .map(|p| p.pod_writes.len())
    });
    if let Ok(result) = plan(PlanInput {
        cloneset: &updated,
        pods: &pods,
        pvcs: &[],
        revisions: &revisions,
        now,
        id_seed: 1,
    }) {
        println!(
            "pods updated in place in the first rollout round: {}",
            result.pod_writes.len()
        );
    }
}
