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
        App, DeleteOptions, FOREGROUND_FINALIZER, NAMESPACE_FINALIZER, ORPHAN_FINALIZER, WriteOptions,
        finalizers, meta_str,
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
