//! Acceptance: kube-rs 5 (client + runtime) against the in-process server, unchanged.

mod common;

use std::{sync::Arc, time::Duration};

use futures::StreamExt;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::{
    Api, Client, Discovery, ResourceExt,
    api::{DynamicObject, GroupVersionKind, Patch, PatchParams, PostParams},
    config::{KubeConfigOptions, Kubeconfig},
    runtime::{WatchStreamExt, reflector, watcher},
};
use serde_json::json;

async fn client(kubeconfig: &std::path::Path) -> Client {
    let kc = Kubeconfig::read_from(kubeconfig).expect("kubeconfig parses");
    let config = kube::Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default())
        .await
        .expect("config");
    Client::try_from(config).expect("client")
}

fn cloneset(name: &str, replicas: i64) -> serde_json::Value {
    json!({
        "apiVersion": "apps.kruise.io/v1alpha1", "kind": "CloneSet",
        "metadata": {"name": name},
        "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
            "template": {"metadata": {"labels": {"app": name}}, "spec": {"containers": [{"name": "main", "image": "nginx:1"}]}}}
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn discovery_dynamic_objects_patches_and_status() {
    let s = common::start().await;
    let c = client(&s.kubeconfig()).await;
    let discovery = Discovery::new(c.clone())
        .run_aggregated()
        .await
        .expect("aggregated discovery");
    let kruise = discovery
        .groups()
        .find(|g| g.name() == "apps.kruise.io")
        .expect("kruise group served");
    let (ar, caps) = kruise
        .recommended_resources()
        .into_iter()
        .find(|(ar, _)| ar.kind == "CloneSet")
        .expect("CloneSet discovered");
    assert_eq!(ar.plural, "clonesets");
    assert_eq!(caps.scope, kube::discovery::Scope::Namespaced);
    assert!(
        caps.subresources
            .iter()
            .any(|(sub, _)| sub.plural == "clonesets/status" || sub.plural == "status"),
        "{:?}",
        caps.subresources
    );
    let (pinned, _) = kube::discovery::pinned_kind(
        &c,
        &GroupVersionKind::gvk("apps.kruise.io", "v1alpha1", "CloneSet"),
    )
    .await
    .expect("pinned kind");
    assert_eq!(pinned.plural, "clonesets");

    let api: Api<DynamicObject> = Api::namespaced_with(c.clone(), "default", &ar);
    let obj: DynamicObject = serde_json::from_value(cloneset("web", 2)).unwrap();
    let created = api.create(&PostParams::default(), &obj).await.expect("create");
    assert_eq!(created.metadata.generation, Some(1));
    assert!(created.metadata.uid.is_some());
    let listed = api.list(&Default::default()).await.expect("list");
    assert!(listed.metadata.resource_version.is_some());
    assert_eq!(listed.items.len(), 1);

    // Merge patch of spec bumps generation.
    let merged = api
        .patch(
            "web",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"replicas": 3}})),
        )
        .await
        .expect("merge patch");
    assert_eq!(merged.data["spec"]["replicas"], 3);
    assert_eq!(merged.metadata.generation, Some(2));
    // JSON patch.
    let jp: json_patch::Patch =
        serde_json::from_value(json!([{"op": "replace", "path": "/spec/replicas", "value": 4}])).unwrap();
    let patched = api
        .patch("web", &PatchParams::default(), &Patch::<()>::Json(jp))
        .await
        .expect("json patch");
    assert_eq!(patched.data["spec"]["replicas"], 4);
    // Status through the subresource: stored, and generation unchanged.
    let status = api
        .patch_status(
            "web",
            &PatchParams::default(),
            &Patch::Merge(json!({"status": {"replicas": 4, "readyReplicas": 4}})),
        )
        .await
        .expect("patch_status");
    assert_eq!(status.data["status"]["readyReplicas"], 4);
    assert_eq!(status.metadata.generation, Some(3));
    // The main resource ignores status changes.
    let ignored = api
        .patch(
            "web",
            &PatchParams::default(),
            &Patch::Merge(json!({"status": {"replicas": 99}})),
        )
        .await
        .expect("patch");
    assert_eq!(ignored.data["status"]["replicas"], 4);

    // Stale resourceVersion → 409.
    let mut stale = created.clone();
    stale.data["spec"]["replicas"] = json!(7);
    match api.replace("web", &PostParams::default(), &stale).await {
        Err(kube::Error::Api(s)) => assert_eq!(s.code, 409, "{s:?}"),
        other => panic!("expected a conflict, got {other:?}"),
    }
    s.running.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_side_apply_detects_conflicts() {
    let s = common::start().await;
    let c = client(&s.kubeconfig()).await;
    let cms: Api<ConfigMap> = Api::namespaced(c, "default");
    let desired =
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "ssa"}, "data": {"k": "a"}});
    let first = cms
        .patch("ssa", &PatchParams::apply("first"), &Patch::Apply(&desired))
        .await
        .expect("apply creates");
    assert_eq!(
        first.data.as_ref().and_then(|d| d.get("k")).map(String::as_str),
        Some("a")
    );
    let mf = first.metadata.managed_fields.clone().unwrap_or_default();
    assert_eq!(
        mf.first().and_then(|m| m.operation.clone()).as_deref(),
        Some("Apply")
    );

    let other =
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "ssa"}, "data": {"k": "b"}});
    match cms
        .patch("ssa", &PatchParams::apply("second"), &Patch::Apply(&other))
        .await
    {
        Err(kube::Error::Api(st)) => {
            assert_eq!(st.code, 409);
            assert!(st.message.contains("conflict with \"first\""), "{}", st.message);
        }
        other => panic!("expected a conflict, got {other:?}"),
    }
    let forced = cms
        .patch(
            "ssa",
            &PatchParams::apply("second").force(),
            &Patch::Apply(&other),
        )
        .await
        .expect("forced");
    assert_eq!(
        forced.data.as_ref().and_then(|d| d.get("k")).map(String::as_str),
        Some("b")
    );
    // A manager dropping a field it alone owned removes it.
    let with_extra = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "ssa"}, "data": {"k": "b", "extra": "1"}});
    cms.patch("ssa", &PatchParams::apply("second"), &Patch::Apply(&with_extra))
        .await
        .expect("apply extra");
    let without = cms
        .patch("ssa", &PatchParams::apply("second"), &Patch::Apply(&other))
        .await
        .expect("apply without");
    assert!(
        without.data.as_ref().is_some_and(|d| !d.contains_key("extra")),
        "{:?}",
        without.data
    );
    // dryRun=All changes nothing.
    let dry =
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "ssa"}, "data": {"k": "dry"}});
    let mut pp = PatchParams::apply("second");
    pp.dry_run = true;
    let dry_out = cms.patch("ssa", &pp, &Patch::Apply(&dry)).await.expect("dry run");
    assert_eq!(
        dry_out.data.as_ref().and_then(|d| d.get("k")).map(String::as_str),
        Some("dry")
    );
    let now = cms.get("ssa").await.expect("get");
    assert_eq!(
        now.data.as_ref().and_then(|d| d.get("k")).map(String::as_str),
        Some("b")
    );
    s.running.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reflector_stays_in_sync_across_a_server_restart() {
    let storage: Arc<dyn ferry_store::Storage> = Arc::new(ferry_store::MemStore::default());
    let dir = tempfile::tempdir().unwrap();
    let dir_path = dir.path().to_path_buf();
    let s = common::start_with(storage.clone(), dir, true).await;
    let addr = s.running.addr;
    let c = client(&s.kubeconfig()).await;
    let cms: Api<ConfigMap> = Api::namespaced(c.clone(), "default");
    let (reader, writer) = reflector::store::<ConfigMap>();
    let stream = reflector(writer, watcher(cms.clone(), watcher::Config::default())).applied_objects();
    let task = tokio::spawn(async move {
        let mut stream = std::pin::pin!(stream);
        while stream.next().await.is_some() {}
    });
    tokio::time::timeout(Duration::from_secs(10), reader.wait_until_ready())
        .await
        .expect("ready in time")
        .unwrap();

    let mk = |name: &str, v: &str| -> ConfigMap {
        serde_json::from_value(json!({"metadata": {"name": name}, "data": {"v": v}})).unwrap()
    };
    let value_of = |name: &str| {
        reader
            .state()
            .iter()
            .find(|o| o.name_any() == name)
            .and_then(|o| o.data.as_ref().and_then(|d| d.get("v").cloned()))
    };
    cms.create(&PostParams::default(), &mk("one", "1")).await.unwrap();
    cms.create(&PostParams::default(), &mk("two", "1")).await.unwrap();
    common::eventually("two objects reflected", || async {
        value_of("one").is_some() && value_of("two").is_some()
    })
    .await;
    cms.patch(
        "one",
        &PatchParams::default(),
        &Patch::Merge(json!({"data": {"v": "2"}})),
    )
    .await
    .unwrap();
    cms.delete("two", &Default::default()).await.unwrap();
    common::eventually("update and delete reflected", || async {
        value_of("one").as_deref() == Some("2") && value_of("two").is_none()
    })
    .await;

    // Restart on the same address and storage; the watcher reconnects and catches up.
    s.running.shutdown().await;
    let mut config = ferry_apiserver::Config::new(addr, dir_path.clone(), storage.clone());
    config.tls = true;
    let restarted = ferry_apiserver::start(config).await.expect("restart");
    cms.create(&PostParams::default(), &mk("three", "3"))
        .await
        .expect("write after restart");
    cms.patch(
        "one",
        &PatchParams::default(),
        &Patch::Merge(json!({"data": {"v": "3"}})),
    )
    .await
    .unwrap();
    common::eventually("changes after restart reflected", || async {
        value_of("three").as_deref() == Some("3") && value_of("one").as_deref() == Some("3")
    })
    .await;
    task.abort();
    restarted.shutdown().await;
}

/// kube-runtime's Recorder writes events.k8s.io/v1 Events (POST, then merge PATCHes of the
/// series); core/v1 readers — list with `involvedObject.*` field selectors and watch — see them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recorder_events_are_core_v1_events() {
    use k8s_openapi::api::core::v1::Event as CoreEvent;
    use kube::{
        Resource,
        api::{ListParams, WatchEvent, WatchParams},
        runtime::events::{Event, EventType, Recorder, Reporter},
    };

    let s = common::start().await;
    let c = client(&s.kubeconfig()).await;
    let cms: Api<ConfigMap> = Api::namespaced(c.clone(), "default");
    let cm: ConfigMap =
        serde_json::from_value(json!({"metadata": {"name": "recorded"}, "data": {"a": "1"}})).unwrap();
    let cm = cms
        .create(&PostParams::default(), &cm)
        .await
        .expect("configmap created");
    let recorder = Recorder::new(
        c.clone(),
        Reporter {
            controller: "ferry-test".into(),
            instance: Some("ferry-test-0".into()),
        },
    );
    let event = Event {
        type_: EventType::Warning,
        reason: "Drifted".into(),
        note: Some("live state differs".into()),
        action: "Compare".into(),
        secondary: None,
    };
    let reference = cm.object_ref(&());
    recorder
        .publish(&event, &reference)
        .await
        .expect("first publish (POST)");

    let core: Api<CoreEvent> = Api::namespaced(c.clone(), "default");
    let selector = format!(
        "involvedObject.kind=ConfigMap,involvedObject.name=recorded,involvedObject.uid={}",
        cm.uid().unwrap_or_default()
    );
    let listed = core
        .list(&ListParams::default().fields(&selector))
        .await
        .expect("core list");
    assert_eq!(listed.items.len(), 1, "{listed:?}");
    let first = &listed.items[0];
    assert_eq!(first.message.as_deref(), Some("live state differs"));
    assert_eq!(first.reporting_component.as_deref(), Some("ferry-test"));
    assert_eq!(first.reporting_instance.as_deref(), Some("ferry-test-0"));
    assert_eq!(first.type_.as_deref(), Some("Warning"));
    assert!(first.series.is_none());

    let mut watch = core
        .watch(
            &WatchParams::default().fields(&selector).timeout(10),
            &listed.metadata.resource_version.clone().unwrap_or_default(),
        )
        .await
        .expect("core watch")
        .boxed();
    recorder
        .publish(&event, &reference)
        .await
        .expect("second publish (PATCH series)");
    let modified = tokio::time::timeout(Duration::from_secs(10), watch.next())
        .await
        .expect("watch event in time")
        .expect("stream open")
        .expect("event decodes");
    let WatchEvent::Modified(ev) = modified else {
        panic!("expected MODIFIED, got {modified:?}");
    };
    assert_eq!(ev.series.as_ref().and_then(|s| s.count), Some(2), "{ev:?}");
    assert_eq!(ev.message.as_deref(), Some("live state differs"));
    s.running.shutdown().await;
}
