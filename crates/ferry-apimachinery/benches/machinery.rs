//! Rough throughput of the hot paths the API server calls per request or per listed object.
//! Run: `cargo bench -p ferry-apimachinery` (prints one line per case; no assertions).

use ferry_apimachinery::apply::{ApplyRequest, server_side_apply};
use ferry_apimachinery::managed_fields::{UpdateOp, update_managed_fields};
use ferry_apimachinery::patch::strategic_merge_patch;
use ferry_apimachinery::selector::LabelSelector;
use ferry_apimachinery::table::{IncludeObject, to_table};
use ferry_apimachinery::typeinfo::Shape;
use serde_json::{Value, json};
use std::hint::black_box;
use std::time::Instant;

fn report(name: &str, n: usize, f: impl FnOnce()) {
    let start = Instant::now();
    f();
    let el = start.elapsed();
    println!(
        "{name:<45} {n:>6} ops  {:>9.2} ms total  {:>8.2} µs/op",
        el.as_secs_f64() * 1e3,
        el.as_secs_f64() * 1e6 / n as f64
    );
}

fn deployment(image: &str) -> Value {
    json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": "default", "labels": {"app": "web"}},
        "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "web"}}, "template": {"metadata": {"labels": {"app": "web"}}, "spec": {
            "containers": [{"name": "web", "image": image, "ports": [{"containerPort": 80}], "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}]},
                           {"name": "side", "image": "busybox", "args": ["sleep", "1000"]}]}}}})
}

fn main() {
    let cms: Vec<Value> = (0..10_000)
        .map(|i| json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": format!("cm-{i}"), "namespace": "default",
            "labels": {"app": if i % 2 == 0 { "a" } else { "b" }, "idx": i.to_string()}, "creationTimestamp": "2026-11-30T11:00:00Z"},
            "data": {"k": "x".repeat(1000)}}))
        .collect();
    report("table: 10k ConfigMaps (as=Table, Metadata)", 1, || {
        black_box(to_table(
            "",
            "ConfigMap",
            &cms,
            None,
            json!({"resourceVersion": "1"}),
            IncludeObject::Metadata,
            1_796_040_000,
        ));
    });
    let sel = LabelSelector::parse("app=a,idx notin (1,2,3)").unwrap_or_default();
    report("label selector over 10k objects", 10_000, || {
        black_box(cms.iter().filter(|o| sel.matches_object(o)).count());
    });
    let shape = Shape::for_builtin("apps", "Deployment");
    let live = deployment("nginx:1");
    let patch =
        json!({"spec": {"template": {"spec": {"containers": [{"name": "web", "image": "nginx:2"}]}}}});
    report("strategic merge patch (Deployment)", 1000, || {
        for _ in 0..1000 {
            black_box(strategic_merge_patch(&live, &patch, shape).ok());
        }
    });
    let mut created = live.clone();
    let _ = update_managed_fields(
        None,
        &mut created,
        UpdateOp {
            manager: "kubectl-client-side-apply",
            api_version: "apps/v1",
            subresource: "",
            time: "t",
        },
        shape,
    );
    report("managedFields for an update (Deployment)", 1000, || {
        for _ in 0..1000 {
            let mut next = deployment("nginx:2");
            black_box(
                update_managed_fields(
                    Some(&created),
                    &mut next,
                    UpdateOp {
                        manager: "kubectl",
                        api_version: "apps/v1",
                        subresource: "",
                        time: "t",
                    },
                    shape,
                )
                .ok(),
            );
        }
    });
    let applied = deployment("nginx:3");
    report("server-side apply, forced (Deployment)", 1000, || {
        for _ in 0..1000 {
            black_box(
                server_side_apply(ApplyRequest {
                    live: Some(&created),
                    applied: &applied,
                    manager: "mgr",
                    force: true,
                    api_version: "apps/v1",
                    subresource: "",
                    time: "t",
                    shape,
                })
                .ok(),
            );
        }
    });

    field_validation_cases();
}

/// The per-write cost of `fieldValidation` for built-in kinds: parsing the body with duplicate
/// detection (vs serde_json's own parser) and the unknown-field walk (vs the metadata-only check
/// it replaced).
fn field_validation_cases() {
    use ferry_apimachinery::{builtin_schema::prune_unknown_fields, schema::prune_object_meta, strict_json};
    let cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cm-1", "namespace": "bench",
        "labels": {"app": "bench"}}, "data": {"k": "x".repeat(1000)}});
    let cm_bytes = cm.to_string().into_bytes();
    let n = 10_000;
    report("parse 1 KiB ConfigMap: serde_json", n, || {
        for _ in 0..n {
            black_box(serde_json::from_slice::<Value>(&cm_bytes).ok());
        }
    });
    report("parse 1 KiB ConfigMap: reporting duplicates", n, || {
        for _ in 0..n {
            black_box(strict_json::from_slice_reporting_duplicates(&cm_bytes).ok());
        }
    });
    // Warm the lazily built schemas outside the timings.
    black_box(prune_unknown_fields("", "v1", "ConfigMap", &mut cm.clone()));
    report("unknown fields, metadata only (old): ConfigMap", n, || {
        for _ in 0..n {
            let mut obj = cm.clone();
            black_box(obj.get_mut("metadata").map(|m| prune_object_meta(m, "metadata")));
        }
    });
    report("unknown fields, full schema: ConfigMap", n, || {
        for _ in 0..n {
            let mut obj = cm.clone();
            black_box(prune_unknown_fields("", "v1", "ConfigMap", &mut obj));
        }
    });
    let deploy = deployment("nginx:1");
    report("unknown fields, full schema: Deployment", n, || {
        for _ in 0..n {
            let mut obj = deploy.clone();
            black_box(prune_unknown_fields("apps", "v1", "Deployment", &mut obj));
        }
    });
    report("clone only (baseline of the two above): Deployment", n, || {
        for _ in 0..n {
            black_box(deploy.clone());
        }
    });
}
