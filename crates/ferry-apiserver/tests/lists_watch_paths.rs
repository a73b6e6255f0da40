//! Lists as kube-apiserver serves them (a paginated list reads one snapshot, `remainingItemCount`,
//! `resourceVersion`/`resourceVersionMatch`, 410 for an expired continue token) and the deprecated
//! `/watch/` paths, driven with raw HTTP requests.

mod common;

use std::{sync::Arc, time::Duration};

use serde_json::{Value, json};

use common::http::{RawHttp as Http, Reply};

async fn create_cm(http: &Http, name: &str, data: &str) -> Value {
    let cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "labels": {"app": "x"}}, "data": {"v": data}});
    let reply = http.post(CMS, &cm).await;
    assert_eq!(reply.code, 201, "create {name}: {}", reply.body);
    reply.json()
}

async fn plain_server(storage: Arc<dyn ferry_store::Storage>) -> (common::Server, Http) {
    let s = common::start_with(storage, tempfile::tempdir().unwrap(), false).await;
    let http = Http {
        addr: s.running.addr,
        token: s.running.token.clone(),
    };
    (s, http)
}

const CMS: &str = "/api/v1/namespaces/default/configmaps";

fn names(list: &Value) -> Vec<String> {
    list["items"]
        .as_array()
        .map(|items| {
            items
                .iter()
                .filter_map(|i| i["metadata"]["name"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

fn query_escape(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// Objects created, updated or deleted after the first page neither appear, change nor disappear in
/// later pages; every page reports the first page's resourceVersion.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paginated_list_reads_the_first_pages_snapshot() {
    let (_s, http) = plain_server(Arc::new(ferry_store::MemStore::default())).await;
    for name in ["cm-a", "cm-b", "cm-c", "cm-d", "cm-e"] {
        create_cm(&http, name, "old").await;
    }
    let first = http.get(&format!("{CMS}?limit=2")).await.json();
    assert_eq!(names(&first), ["cm-a", "cm-b"]);
    assert_eq!(first["metadata"]["remainingItemCount"], 3, "{first}");
    let snapshot = first["metadata"]["resourceVersion"].as_str().unwrap().to_string();
    let token = first["metadata"]["continue"].as_str().unwrap().to_string();

    // Changes after the first page: a new object between the pages' keys, a deletion and an update ahead.
    create_cm(&http, "cm-bb", "new").await;
    assert_eq!(
        http.send_json("DELETE", &format!("{CMS}/cm-d"), b"").await.code,
        200
    );
    let current = http.get(&format!("{CMS}/cm-c")).await.json();
    let updated = http
        .send_json(
            "PUT",
            &format!("{CMS}/cm-c"),
            json!({"apiVersion": "v1", "kind": "ConfigMap",
                "metadata": {"name": "cm-c", "resourceVersion": current["metadata"]["resourceVersion"]},
                "data": {"v": "new"}})
            .to_string()
            .as_bytes(),
        )
        .await;
    assert_eq!(updated.code, 200, "{}", updated.body);

    let second = http
        .get(&format!("{CMS}?limit=2&continue={}", query_escape(&token)))
        .await
        .json();
    assert_eq!(names(&second), ["cm-c", "cm-d"], "{second}");
    assert_eq!(second["items"][0]["data"]["v"], "old");
    assert_eq!(second["metadata"]["resourceVersion"], snapshot.as_str());
    assert_eq!(second["metadata"]["remainingItemCount"], 1);
    let token = second["metadata"]["continue"].as_str().unwrap().to_string();
    let third = http
        .get(&format!("{CMS}?limit=2&continue={}", query_escape(&token)))
        .await
        .json();
    assert_eq!(names(&third), ["cm-e"]);
    assert!(third["metadata"].get("continue").is_none(), "{third}");
    assert!(third["metadata"].get("remainingItemCount").is_none(), "{third}");

    // A fresh list sees the changes.
    let fresh = http.get(CMS).await.json();
    assert_eq!(names(&fresh), ["cm-a", "cm-b", "cm-bb", "cm-c", "cm-e"]);
    assert_eq!(fresh["items"][3]["data"]["v"], "new");
    assert_eq!(
        fresh["items"][3]["metadata"]["resourceVersion"],
        updated.json()["metadata"]["resourceVersion"]
    );

    // With a selector the remainder is unknown, so no remainingItemCount (as upstream).
    let selected = http
        .get(&format!("{CMS}?limit=2&labelSelector=app%3Dx"))
        .await
        .json();
    assert_eq!(names(&selected), ["cm-a", "cm-b"]);
    assert!(selected["metadata"]["continue"].is_string());
    assert!(
        selected["metadata"].get("remainingItemCount").is_none(),
        "{selected}"
    );
}

/// A continue token whose snapshot left the history window gets kube's 410 Expired message.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn continue_token_of_a_compacted_snapshot_is_gone() {
    let (_s, http) = plain_server(Arc::new(ferry_store::MemStore::with_history(5))).await;
    for name in ["cm-a", "cm-b", "cm-c"] {
        create_cm(&http, name, "x").await;
    }
    let first = http.get(&format!("{CMS}?limit=1")).await.json();
    let token = first["metadata"]["continue"].as_str().unwrap().to_string();
    for i in 0..6 {
        create_cm(&http, &format!("later-{i}"), "x").await;
    }
    let expired = http
        .get(&format!("{CMS}?limit=1&continue={}", query_escape(&token)))
        .await;
    assert_eq!(expired.code, 410, "{}", expired.body);
    let status = expired.json();
    assert_eq!(status["reason"], "Expired");
    assert!(
        status["message"]
            .as_str()
            .unwrap()
            .starts_with("The provided continue parameter is too old to display a consistent list result."),
        "{status}"
    );
}

/// `resourceVersion` with `resourceVersionMatch`: Exact reads the past, NotOlderThan the present,
/// invalid combinations are 400, a revision not written yet is 504 after a bounded wait.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resource_version_match_semantics() {
    let (_s, http) = plain_server(Arc::new(ferry_store::MemStore::default())).await;
    let a = create_cm(&http, "cm-a", "x").await;
    let rv_a = a["metadata"]["resourceVersion"].as_str().unwrap().to_string();
    create_cm(&http, "cm-b", "x").await;

    let exact = http
        .get(&format!(
            "{CMS}?resourceVersion={rv_a}&resourceVersionMatch=Exact"
        ))
        .await
        .json();
    assert_eq!(names(&exact), ["cm-a"]);
    assert_eq!(exact["metadata"]["resourceVersion"], rv_a.as_str());
    // Legacy: a resourceVersion with a limit and no match is exact too.
    let legacy = http
        .get(&format!("{CMS}?resourceVersion={rv_a}&limit=10"))
        .await
        .json();
    assert_eq!(names(&legacy), ["cm-a"]);

    let not_older = http
        .get(&format!(
            "{CMS}?resourceVersion={rv_a}&resourceVersionMatch=NotOlderThan"
        ))
        .await
        .json();
    assert_eq!(names(&not_older), ["cm-a", "cm-b"]);
    let any = http.get(&format!("{CMS}?resourceVersion=0")).await.json();
    assert_eq!(names(&any), ["cm-a", "cm-b"]);

    for (query, message) in [
        (
            "resourceVersionMatch=Exact",
            "forbidden unless resourceVersion is provided",
        ),
        (
            "resourceVersion=0&resourceVersionMatch=Exact",
            "forbidden for resourceVersion \"0\"",
        ),
        (
            "resourceVersion=1&resourceVersionMatch=Newest",
            "Unsupported value",
        ),
        ("resourceVersion=abc", "invalid resource version"),
    ] {
        let reply = http.get(&format!("{CMS}?{query}")).await;
        assert_eq!(reply.code, 400, "{query}: {}", reply.body);
        assert!(
            reply.json()["message"].as_str().unwrap().contains(message),
            "{query}: {}",
            reply.body
        );
    }
    let paged = http.get(&format!("{CMS}?limit=1")).await.json();
    let token = paged["metadata"]["continue"].as_str().unwrap().to_string();
    let with_rv = http
        .get(&format!(
            "{CMS}?continue={}&resourceVersion={rv_a}",
            query_escape(&token)
        ))
        .await;
    assert_eq!(with_rv.code, 400, "{}", with_rv.body);

    let future = rv_a.parse::<u64>().unwrap() + 1000;
    let started = std::time::Instant::now();
    let too_new = http
        .get(&format!(
            "{CMS}?resourceVersion={future}&resourceVersionMatch=NotOlderThan"
        ))
        .await;
    assert_eq!(too_new.code, 504, "{}", too_new.body);
    assert!(
        too_new.json()["message"]
            .as_str()
            .unwrap()
            .contains("Too large resource version")
    );
    assert!(
        started.elapsed() >= Duration::from_secs(2),
        "waited for the revision first"
    );
}

/// `/api/v1/watch/namespaces/{ns}/{resource}[/{name}]`, `/apis/{g}/{v}/watch/…` and `watch=true` with
/// a `metadata.name` field selector.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn legacy_watch_paths_and_watch_by_name() {
    let (_s, http) = plain_server(Arc::new(ferry_store::MemStore::default())).await;
    let a = create_cm(&http, "cm-a", "x").await;
    create_cm(&http, "cm-b", "x").await;
    let event_names = |reply: &Reply| -> Vec<(String, String)> {
        reply
            .events()
            .iter()
            .map(|e| {
                (
                    e["type"].as_str().unwrap_or_default().to_string(),
                    e["object"]["metadata"]["name"]
                        .as_str()
                        .unwrap_or_default()
                        .to_string(),
                )
            })
            .collect()
    };
    let added = |names: &[&str]| -> Vec<(String, String)> {
        names
            .iter()
            .map(|n| ("ADDED".to_string(), n.to_string()))
            .collect()
    };

    let collection = http
        .get("/api/v1/watch/namespaces/default/configmaps?timeoutSeconds=1")
        .await;
    assert_eq!(collection.code, 200, "{}", collection.body);
    assert_eq!(event_names(&collection), added(&["cm-a", "cm-b"]));

    let one = http
        .get("/api/v1/watch/namespaces/default/configmaps/cm-b?timeoutSeconds=1")
        .await;
    assert_eq!(event_names(&one), added(&["cm-b"]));

    let all_namespaces = http.get("/api/v1/watch/configmaps?timeoutSeconds=1").await;
    assert_eq!(event_names(&all_namespaces), added(&["cm-a", "cm-b"]));

    let by_selector = http
        .get(&format!(
            "{CMS}?watch=true&fieldSelector=metadata.name%3Dcm-a&timeoutSeconds=1"
        ))
        .await;
    assert_eq!(event_names(&by_selector), added(&["cm-a"]));

    // A group's path, and live events after a resourceVersion: only the named object's changes.
    let rv = a["metadata"]["resourceVersion"].as_str().unwrap().to_string();
    let watch = tokio::spawn({
        let http = Http {
            addr: http.addr,
            token: http.token.clone(),
        };
        async move {
            http.get(&format!(
                "/apis/apps/v1/watch/namespaces/default/deployments/web?timeoutSeconds=2&resourceVersion={rv}"
            ))
            .await
        }
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    for name in ["other", "web"] {
        let deployment = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
            "spec": {"selector": {"matchLabels": {"app": name}},
                "template": {"metadata": {"labels": {"app": name}}, "spec": {"containers": [{"name": "c", "image": "nginx"}]}}}});
        let created = http
            .send_json(
                "POST",
                "/apis/apps/v1/namespaces/default/deployments",
                deployment.to_string().as_bytes(),
            )
            .await;
        assert_eq!(created.code, 201, "{}", created.body);
    }
    let reply = watch.await.expect("watch task");
    assert_eq!(reply.code, 200, "{}", reply.body);
    assert_eq!(event_names(&reply), added(&["web"]));

    let subresource = http
        .get("/api/v1/watch/namespaces/default/configmaps/cm-a/status?timeoutSeconds=1")
        .await;
    assert_eq!(subresource.code, 404);
    let post = http
        .send_json("POST", "/api/v1/watch/namespaces/default/configmaps", b"{}")
        .await;
    assert_eq!(post.code, 405);
}

/// A list large enough to be streamed in chunks is one valid JSON document whose items carry their own
/// resourceVersions, whether they go out as stored bytes or presented (a stored object without
/// apiVersion/kind).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_lists_stream_valid_json() {
    let (s, http) = plain_server(Arc::new(ferry_store::MemStore::default())).await;
    let store = s.running.app.store.clone();
    for i in 0..1500 {
        let name = format!("big-{i:04}");
        let value = if i == 7 {
            json!({"metadata": {"name": name, "namespace": "default"}, "data": {"i": i.to_string()}})
        } else {
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": "default"}, "data": {"i": i.to_string()}})
        };
        store
            .create(format!("/core/configmaps/default/{name}"), value)
            .await
            .expect("stored");
    }
    let reply = http.get(CMS).await;
    assert_eq!(reply.code, 200);
    let list = reply.json();
    assert_eq!(list["kind"], "ConfigMapList");
    let items = list["items"].as_array().expect("items");
    assert_eq!(items.len(), 1500);
    for (i, item) in items.iter().enumerate() {
        let entry = store
            .get(&format!("/core/configmaps/default/big-{i:04}"))
            .expect("stored");
        assert_eq!(
            item["metadata"]["resourceVersion"],
            entry.mod_revision.to_string()
        );
        assert_eq!(
            (&item["apiVersion"], &item["kind"]),
            (&json!("v1"), &json!("ConfigMap"))
        );
        assert_eq!(item["data"]["i"], i.to_string());
    }
}
