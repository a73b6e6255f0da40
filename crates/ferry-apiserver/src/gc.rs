//! The API server's own controllers: namespace lifecycle and ownerReference garbage collection.
//!
//! One pass scans the current state (reads are from memory) and acts; passes run when a deletion
//! wakes the collector and at a slow period as a safety net.

use std::{
    collections::{BTreeMap, BTreeSet},
    sync::Arc,
    time::Duration,
};

use serde_json::{Value, json};

use crate::{
    app::{
        App, CRD_CLEANUP_FINALIZER, DeleteOptions, FOREGROUND_FINALIZER, NAMESPACE_FINALIZER,
        ORPHAN_FINALIZER, WriteOptions, finalizers, meta_str,
    },
    registry::ResourceInfo,
};

const SAFETY_PERIOD: Duration = Duration::from_secs(5);

struct Obj {
    info: Arc<ResourceInfo>,
    namespace: Option<String>,
    name: String,
    value: Value,
}

fn owner_uids(v: &Value) -> Vec<(String, bool)> {
    v.pointer("/metadata/ownerReferences")
        .and_then(Value::as_array)
        .map(|refs| {
            refs.iter()
                .filter_map(|r| {
                    Some((
                        r.get("uid")?.as_str()?.to_string(),
                        r.get("blockOwnerDeletion")
                            .and_then(Value::as_bool)
                            .unwrap_or(false),
                    ))
                })
                .collect()
        })
        .unwrap_or_default()
}

fn snapshot(app: &App) -> Vec<Obj> {
    let infos = app.registry.distinct_storage();
    let by_prefix: BTreeMap<String, Arc<ResourceInfo>> = infos.into_iter().map(|i| (i.prefix(), i)).collect();
    let page = app.store.list("/", None, None);
    page.entries
        .into_iter()
        .filter_map(|e| {
            let segs: Vec<&str> = e.key.trim_start_matches('/').split('/').collect();
            let prefix = format!("/{}/{}/", segs.first()?, segs.get(1)?);
            let info = by_prefix.get(&prefix)?.clone();
            let (namespace, name) = if info.namespaced {
                (Some(segs.get(2)?.to_string()), segs.get(3)?.to_string())
            } else {
                (None, segs.get(2)?.to_string())
            };
            let value = app.present(&info, &e);
            Some(Obj {
                info,
                namespace,
                name,
                value,
            })
        })
        .collect()
}

async fn delete_quietly(app: &App, o: &Obj, propagation: &str) {
    let opts = DeleteOptions {
        propagation: Some(propagation.into()),
        ..Default::default()
    };
    if let Err(e) = app.delete(&o.info, o.namespace.as_deref(), &o.name, &opts).await
        && e.code != 404
    {
        tracing::debug!(object = %o.name, error = %e, "garbage collector could not delete");
    }
}

async fn remove_finalizer(app: &App, o: &Obj, finalizer: &str) {
    let opts = WriteOptions {
        field_manager: "ferry-garbage-collector".into(),
        ..Default::default()
    };
    let result = app
        .update_with(&o.info, o.namespace.as_deref(), &o.name, &opts, |cur| {
            let mut next = cur.clone();
            let kept: Vec<String> = finalizers(cur).into_iter().filter(|f| f != finalizer).collect();
            crate::app::set_finalizers(&mut next, &kept);
            Ok(next)
        })
        .await;
    if let Err(e) = result
        && e.code != 404
    {
        tracing::debug!(object = %o.name, error = %e, "could not remove finalizer");
    }
}

/// One condition as kube's namespace controller and CRD finalizer write them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Condition {
    pub kind: &'static str,
    pub status: &'static str,
    pub reason: &'static str,
    pub message: String,
}

fn condition(
    kind: &'static str,
    status: &'static str,
    reason: &'static str,
    message: impl Into<String>,
) -> Condition {
    Condition {
        kind,
        status,
        reason,
        message: message.into(),
    }
}

/// The conditions of a terminating namespace, from what is left in it: objects per resource
/// (`"configmaps."`, `"clonesets.apps.kruise.io"`: resource and group joined by a dot, as upstream
/// prints them) and objects per finalizer still on them. Deletion requests never fail here (they
/// are local), so the discovery/parsing/deletion-failure conditions are always False.
pub fn namespace_conditions(
    remaining: &BTreeMap<String, usize>,
    finalizers: &BTreeMap<String, usize>,
) -> Vec<Condition> {
    let content = if remaining.is_empty() {
        condition(
            "NamespaceContentRemaining",
            "False",
            "ContentRemoved",
            "All content successfully removed",
        )
    } else {
        let parts: Vec<String> = remaining
            .iter()
            .map(|(resource, n)| format!("{resource} has {n} resource instances"))
            .collect();
        condition(
            "NamespaceContentRemaining",
            "True",
            "SomeResourcesRemain",
            format!("Some resources are remaining: {}", parts.join(", ")),
        )
    };
    let finalizing = if finalizers.is_empty() {
        condition(
            "NamespaceFinalizersRemaining",
            "False",
            "ContentHasNoFinalizers",
            "All content-preserving finalizers finished",
        )
    } else {
        let parts: Vec<String> = finalizers
            .iter()
            .map(|(finalizer, n)| format!("{finalizer} in {n} resource instances"))
            .collect();
        condition(
            "NamespaceFinalizersRemaining",
            "True",
            "SomeFinalizersRemain",
            format!(
                "Some content in the namespace has finalizers remaining: {}",
                parts.join(", ")
            ),
        )
    };
    vec![
        condition(
            "NamespaceDeletionDiscoveryFailure",
            "False",
            "ResourcesDiscovered",
            "All resources successfully discovered",
        ),
        condition(
            "NamespaceDeletionGroupVersionParsingFailure",
            "False",
            "ParsedGroupVersions",
            "All legacy kube types successfully parsed",
        ),
        condition(
            "NamespaceDeletionContentFailure",
            "False",
            "ContentDeleted",
            "All content successfully deleted, may be waiting on finalization",
        ),
        content,
        finalizing,
    ]
}

/// `existing` conditions (a JSON array, possibly absent) with `desired` set: other types kept, a
/// condition whose status did not change keeps its lastTransitionTime. None when nothing changed.
pub fn merge_conditions(existing: Option<&Value>, desired: &[Condition], now: &str) -> Option<Value> {
    let existing: Vec<Value> = existing.and_then(Value::as_array).cloned().unwrap_or_default();
    let find = |kind: &str| {
        existing
            .iter()
            .find(|c| c.get("type").and_then(Value::as_str) == Some(kind))
    };
    let unchanged = desired.iter().all(|d| {
        find(d.kind).is_some_and(|c| {
            c.get("status").and_then(Value::as_str) == Some(d.status)
                && c.get("reason").and_then(Value::as_str) == Some(d.reason)
                && c.get("message").and_then(Value::as_str) == Some(d.message.as_str())
        })
    });
    if unchanged {
        return None;
    }
    let mut merged: Vec<Value> = existing
        .iter()
        .filter(|c| {
            let kind = c.get("type").and_then(Value::as_str);
            !desired.iter().any(|d| Some(d.kind) == kind)
        })
        .cloned()
        .collect();
    for d in desired {
        let since = find(d.kind)
            .filter(|c| c.get("status").and_then(Value::as_str) == Some(d.status))
            .and_then(|c| c.get("lastTransitionTime").cloned())
            .unwrap_or_else(|| json!(now));
        merged.push(json!({"type": d.kind, "status": d.status, "lastTransitionTime": since, "reason": d.reason, "message": d.message}));
    }
    Some(Value::Array(merged))
}

/// Writes `conditions` into `o`'s status (through `/status`) when they differ from what it has.
async fn set_conditions(app: &App, o: &Obj, conditions: &[Condition], manager: &str) {
    let opts = WriteOptions {
        field_manager: manager.into(),
        subresource: Some("status".into()),
        ..Default::default()
    };
    let now = crate::app::now_rfc3339();
    let result = app
        .update_with(&o.info, o.namespace.as_deref(), &o.name, &opts, |cur| {
            let mut next = cur.clone();
            let merged = merge_conditions(cur.pointer("/status/conditions"), conditions, &now);
            if let (Some(merged), Some(m)) = (merged, next.as_object_mut()) {
                let status = m.entry("status").or_insert_with(|| json!({}));
                if let Some(status) = status.as_object_mut() {
                    status.insert("conditions".into(), merged);
                }
            }
            Ok(next)
        })
        .await;
    if let Err(e) = result
        && e.code != 404
    {
        tracing::debug!(object = %o.name, error = %e, "could not update conditions");
    }
}

/// Whether `o`'s status already has exactly these conditions (so no write is needed).
fn has_conditions(o: &Obj, conditions: &[Condition]) -> bool {
    merge_conditions(o.value.pointer("/status/conditions"), conditions, "").is_none()
}

/// The name of a resource in namespace conditions: `resource.group` (a trailing dot for core).
fn resource_label(info: &ResourceInfo) -> String {
    format!("{}.{}", info.plural, info.group)
}

/// A deleting CRD: delete its custom resources (honouring their finalizers), report progress in its
/// `Terminating` condition, and release the CRD once none is left. Returns whether it acted.
async fn finalize_crd(app: &App, crd: &Obj, objects: &[Obj]) -> bool {
    let Some(prefix) = crate::registry::crd_resources(&crd.value)
        .ok()
        .and_then(|r| r.first().map(|i| i.prefix()))
    else {
        remove_finalizer(app, crd, CRD_CLEANUP_FINALIZER).await;
        return true;
    };
    let instances: Vec<&Obj> = objects.iter().filter(|o| o.info.prefix() == prefix).collect();
    let mut acted = false;
    for o in &instances {
        if o.value.pointer("/metadata/deletionTimestamp").is_none() {
            delete_quietly(app, o, "Background").await;
            acted = true;
        }
    }
    // Instances without finalizers are gone now; the rest wait for their finalizers.
    let left = instances
        .iter()
        .filter(|o| !finalizers(&o.value).is_empty())
        .count();
    if left == 0 {
        let done = [condition(
            "Terminating",
            "False",
            "InstanceDeletionCompleted",
            "removed all instances",
        )];
        set_conditions(app, crd, &done, "ferry-crd-finalizer").await;
        remove_finalizer(app, crd, CRD_CLEANUP_FINALIZER).await;
        return true;
    }
    let progress = [condition(
        "Terminating",
        "True",
        "InstanceDeletionInProgress",
        format!("CustomResource deletion is in progress: {left} instances remaining"),
    )];
    if !has_conditions(crd, &progress) {
        set_conditions(app, crd, &progress, "ferry-crd-finalizer").await;
        acted = true;
    }
    acted
}

/// One pass of the namespace controller and garbage collector. Returns whether it acted.
pub async fn run_pass(app: &App) -> bool {
    let objects = snapshot(app);
    let mut acted = false;
    let uids: BTreeSet<String> = objects
        .iter()
        .filter_map(|o| meta_str(&o.value, "uid").map(str::to_string))
        .collect();
    let mut dependents: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    for (i, o) in objects.iter().enumerate() {
        for (uid, _) in owner_uids(&o.value) {
            dependents.entry(uid).or_default().push(i);
        }
    }
    // Namespace lifecycle: empty terminating namespaces, then release them.
    for ns in objects
        .iter()
        .filter(|o| o.info.group.is_empty() && o.info.plural == "namespaces")
    {
        if ns.value.pointer("/metadata/deletionTimestamp").is_none() {
            continue;
        }
        let contents: Vec<&Obj> = objects
            .iter()
            .filter(|o| o.namespace.as_deref() == Some(&ns.name))
            .collect();
        for o in &contents {
            if o.value.pointer("/metadata/deletionTimestamp").is_none() {
                delete_quietly(app, o, "Background").await;
                acted = true;
            }
        }
        // What the deletions left: objects held by finalizers (the rest are gone now).
        let mut remaining: BTreeMap<String, usize> = BTreeMap::new();
        let mut finalizers_left: BTreeMap<String, usize> = BTreeMap::new();
        for o in &contents {
            let held_by = finalizers(&o.value);
            if held_by.is_empty() {
                continue;
            }
            *remaining.entry(resource_label(&o.info)).or_default() += 1;
            for f in held_by {
                *finalizers_left.entry(f).or_default() += 1;
            }
        }
        let conditions = namespace_conditions(&remaining, &finalizers_left);
        if !has_conditions(ns, &conditions) {
            set_conditions(app, ns, &conditions, "ferry-namespace-controller").await;
            acted = true;
        }
        if contents.is_empty() {
            let opts = WriteOptions {
                field_manager: "ferry-namespace-controller".into(),
                ..Default::default()
            };
            let _ = app
                .update_with(&ns.info, None, &ns.name, &opts, |cur| {
                    let mut next = cur.clone();
                    if let Some(spec) = next.get_mut("spec").and_then(Value::as_object_mut) {
                        let kept: Vec<Value> = spec
                            .get("finalizers")
                            .and_then(Value::as_array)
                            .map(|a| {
                                a.iter()
                                    .filter(|f| f.as_str() != Some(NAMESPACE_FINALIZER))
                                    .cloned()
                                    .collect()
                            })
                            .unwrap_or_default();
                        spec.insert("finalizers".into(), json!(kept));
                    }
                    Ok(next)
                })
                .await;
            if finalizers(&ns.value).is_empty()
                && let Some(entry) = app.store.get(&ns.info.key(None, &ns.name))
            {
                let _ = app
                    .store
                    .delete(entry.key.clone(), Some(entry.mod_revision))
                    .await;
            }
            acted = true;
        }
    }
    for crd in objects.iter().filter(|o| {
        o.info.group == "apiextensions.k8s.io"
            && o.value.pointer("/metadata/deletionTimestamp").is_some()
            && finalizers(&o.value).iter().any(|f| f == CRD_CLEANUP_FINALIZER)
    }) {
        acted |= finalize_crd(app, crd, &objects).await;
    }
    for o in &objects {
        let deleting = o.value.pointer("/metadata/deletionTimestamp").is_some();
        let fin = finalizers(&o.value);
        let uid = meta_str(&o.value, "uid").unwrap_or_default();
        // Orphan: detach dependents, then release the owner.
        if deleting && fin.iter().any(|f| f == ORPHAN_FINALIZER) {
            for &i in dependents.get(uid).map(Vec::as_slice).unwrap_or_default() {
                let Some(d) = objects.get(i) else { continue };
                let opts = WriteOptions {
                    field_manager: "ferry-garbage-collector".into(),
                    ..Default::default()
                };
                let _ = app
                    .update_with(&d.info, d.namespace.as_deref(), &d.name, &opts, |cur| {
                        let mut next = cur.clone();
                        if let Some(refs) = next
                            .pointer_mut("/metadata/ownerReferences")
                            .and_then(Value::as_array_mut)
                        {
                            refs.retain(|r| r.get("uid").and_then(Value::as_str) != Some(uid));
                        }
                        if next
                            .pointer("/metadata/ownerReferences")
                            .and_then(Value::as_array)
                            .is_some_and(Vec::is_empty)
                            && let Some(m) = next.get_mut("metadata").and_then(Value::as_object_mut)
                        {
                            m.remove("ownerReferences");
                        }
                        Ok(next)
                    })
                    .await;
            }
            remove_finalizer(app, o, ORPHAN_FINALIZER).await;
            acted = true;
        }
        // Foreground: delete dependents first; release the owner once no blocking dependent remains.
        if deleting && fin.iter().any(|f| f == FOREGROUND_FINALIZER) {
            let deps: Vec<&Obj> = dependents
                .get(uid)
                .map(|v| v.iter().filter_map(|&i| objects.get(i)).collect())
                .unwrap_or_default();
            for d in &deps {
                if d.value.pointer("/metadata/deletionTimestamp").is_none() {
                    delete_quietly(app, d, "Foreground").await;
                }
            }
            let blocking = deps
                .iter()
                .any(|d| owner_uids(&d.value).iter().any(|(u, block)| u == uid && *block));
            if !blocking {
                remove_finalizer(app, o, FOREGROUND_FINALIZER).await;
            }
            acted = true;
        }
        // Background: dependents whose owners are all gone are deleted.
        let owners = owner_uids(&o.value);
        if !owners.is_empty() && !deleting && owners.iter().all(|(u, _)| !uids.contains(u)) {
            delete_quietly(app, o, "Background").await;
            acted = true;
        }
    }
    acted
}

/// Runs passes until `stop` fires.
pub async fn run(app: Arc<App>, mut stop: tokio::sync::watch::Receiver<bool>) {
    loop {
        tokio::select! {
            _ = stop.changed() => return,
            _ = app.gc_wake.notified() => {}
            _ = tokio::time::sleep(SAFETY_PERIOD) => {}
        }
        // Settle quickly while there is work (cascades take a few passes).
        for _ in 0..20 {
            if !run_pass(&app).await {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counts(items: &[(&str, usize)]) -> BTreeMap<String, usize> {
        items.iter().map(|(k, n)| (k.to_string(), *n)).collect()
    }

    #[test]
    fn namespace_conditions_name_what_remains() {
        struct Case {
            name: &'static str,
            remaining: BTreeMap<String, usize>,
            finalizers: BTreeMap<String, usize>,
            /// (type, status, reason, message) of the last two conditions.
            content: (&'static str, &'static str, &'static str),
            finalizing: (&'static str, &'static str, &'static str),
        }
        let cases = [
            Case {
                name: "empty",
                remaining: counts(&[]),
                finalizers: counts(&[]),
                content: ("False", "ContentRemoved", "All content successfully removed"),
                finalizing: (
                    "False",
                    "ContentHasNoFinalizers",
                    "All content-preserving finalizers finished",
                ),
            },
            Case {
                name: "two resources, two finalizers, sorted",
                remaining: counts(&[("widgets.example.com", 2), ("configmaps.", 1)]),
                finalizers: counts(&[("b/x", 1), ("a/y", 2)]),
                content: (
                    "True",
                    "SomeResourcesRemain",
                    "Some resources are remaining: configmaps. has 1 resource instances, widgets.example.com has 2 resource instances",
                ),
                finalizing: (
                    "True",
                    "SomeFinalizersRemain",
                    "Some content in the namespace has finalizers remaining: a/y in 2 resource instances, b/x in 1 resource instances",
                ),
            },
        ];
        for case in cases {
            let conditions = namespace_conditions(&case.remaining, &case.finalizers);
            let kinds: Vec<&str> = conditions.iter().map(|c| c.kind).collect();
            assert_eq!(
                kinds,
                [
                    "NamespaceDeletionDiscoveryFailure",
                    "NamespaceDeletionGroupVersionParsingFailure",
                    "NamespaceDeletionContentFailure",
                    "NamespaceContentRemaining",
                    "NamespaceFinalizersRemaining"
                ],
                "case {}",
                case.name
            );
            let triple = |c: &Condition| (c.status, c.reason, c.message.clone());
            let expect = |t: (&'static str, &'static str, &'static str)| (t.0, t.1, t.2.to_string());
            assert_eq!(triple(&conditions[3]), expect(case.content), "case {}", case.name);
            assert_eq!(
                triple(&conditions[4]),
                expect(case.finalizing),
                "case {}",
                case.name
            );
        }
    }

    #[test]
    fn merge_conditions_keeps_other_types_and_unchanged_transition_times() {
        let existing = json!([
            {"type": "Other", "status": "True"},
            {"type": "A", "status": "True", "reason": "R", "message": "old", "lastTransitionTime": "t0"},
            {"type": "B", "status": "True", "reason": "R", "message": "m", "lastTransitionTime": "t0"},
        ]);
        let desired = [
            condition("A", "True", "R", "new"),
            condition("B", "False", "R2", "m2"),
        ];
        let merged = merge_conditions(Some(&existing), &desired, "t1").expect("changed");
        assert_eq!(
            merged,
            json!([
                {"type": "Other", "status": "True"},
                {"type": "A", "status": "True", "lastTransitionTime": "t0", "reason": "R", "message": "new"},
                {"type": "B", "status": "False", "lastTransitionTime": "t1", "reason": "R2", "message": "m2"},
            ])
        );
        assert_eq!(merge_conditions(Some(&merged), &desired, "t2"), None);
        assert!(merge_conditions(None, &desired, "t1").is_some());
    }
}
