//! The HTTP API driven with raw requests: bad input gets the right code and a Status naming the object
//! and field, and the server keeps serving; plus paging, watch semantics, dry run, finalizers and GC.

mod common;

use std::sync::Arc;

use serde_json::{Value, json};

use common::http::RawHttp as Http;

async fn plain_server(storage: Arc<dyn ferry_store::Storage>) -> (common::Server, Http) {
    let s = common::start_with(storage, tempfile::tempdir().unwrap(), false).await;
    let http = Http {
        addr: s.running.addr,
        token: s.running.token.clone(),
    };
    (s, http)
}

const CMS: &str = "/api/v1/namespaces/default/configmaps";
const CLONESETS: &str = "/apis/apps.kruise.io/v1alpha1/namespaces/default/clonesets";

fn cloneset(name: &str, replicas: Value) -> Value {
    json!({"apiVersion": "apps.kruise.io/v1alpha1", "kind": "CloneSet", "metadata": {"name": name},
        "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": "x"}},
            "template": {"metadata": {"labels": {"app": "x"}}, "spec": {"containers": [{"name": "c", "image": "i"}]}}}})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_gets_status_errors_and_the_server_keeps_serving() {
    let (s, http) = plain_server(Arc::new(ferry_store::MemStore::default())).await;
    let anon = http.send("GET", CMS, "application/json", b"", false).await;
    assert_eq!(anon.code, 401);
    assert_eq!(anon.json()["reason"], "Unauthorized");

    let malformed = http
        .send("POST", CMS, "application/json", b"{\"metadata\": ", true)
        .await;
    assert_eq!(malformed.code, 400);
    assert!(
        malformed.json()["message"]
            .as_str()
            .unwrap()
            .contains("ConfigMap"),
        "{}",
        malformed.body
    );
    let bad_yaml = http
        .send("POST", CMS, "application/yaml", b"metadata: [unclosed", true)
        .await;
    assert_eq!(bad_yaml.code, 400, "{}", bad_yaml.body);
    let wrong_type = http.send("POST", CMS, "text/plain", b"hello", true).await;
    assert_eq!(wrong_type.code, 415);
    assert_eq!(wrong_type.json()["reason"], "UnsupportedMediaType");

    assert_eq!(http.get("/api/v1/namespaces/default/widgets").await.code, 404);
    assert_eq!(
        http.get("/apis/apps/v9/namespaces/default/deployments")
            .await
            .code,
        404
    );
    let wrong_kind = http
        .post(
            CMS,
            &json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "x"}}),
        )
        .await;
    assert_eq!(wrong_kind.code, 400, "{}", wrong_kind.body);

    let bad_name = http.post(CMS, &json!({"metadata": {"name": "Bad_Name"}})).await;
    assert_eq!(bad_name.code, 422);
    let st = bad_name.json();
    assert_eq!(st["reason"], "Invalid");
    assert_eq!(st["details"]["name"], "Bad_Name");
    assert_eq!(st["details"]["kind"], "ConfigMap");
    assert_eq!(st["details"]["causes"][0]["field"], "metadata.name");

    let created = http
        .post(CMS, &json!({"metadata": {"name": "cm"}, "data": {"a": "1"}}))
        .await;
    assert_eq!(created.code, 201);
    let dup = http.post(CMS, &json!({"metadata": {"name": "cm"}})).await;
    assert_eq!(dup.code, 409);
    assert_eq!(dup.json()["reason"], "AlreadyExists");
    let mut stale = created.json();
    stale["metadata"]["resourceVersion"] = json!("1");
    stale["data"]["a"] = json!("2");
    let put = http
        .send(
            "PUT",
            &format!("{CMS}/cm"),
            "application/json",
            stale.to_string().as_bytes(),
            true,
        )
        .await;
    assert_eq!(put.code, 409);
    assert!(
        put.json()["message"]
            .as_str()
            .unwrap()
            .contains("configmaps \"cm\""),
        "{}",
        put.body
    );

    let schema = http.post(CLONESETS, &cloneset("bad", json!("three"))).await;
    assert_eq!(schema.code, 422, "{}", schema.body);
    let st = schema.json();
    assert_eq!(st["details"]["causes"][0]["field"], "spec.replicas");
    assert!(
        st["message"]
            .as_str()
            .unwrap()
            .contains("CloneSet.apps.kruise.io \"bad\" is invalid"),
        "{}",
        schema.body
    );
    let mut unknown = cloneset("strict", json!(1));
    unknown["spec"]["bogus"] = json!(true);
    let strict = http
        .send(
            "POST",
            &format!("{CLONESETS}?fieldValidation=Strict"),
            "application/json",
            unknown.to_string().as_bytes(),
            true,
        )
        .await;
    assert_eq!(strict.code, 400);
    assert!(
        strict.json()["message"]
            .as_str()
            .unwrap()
            .contains("unknown field \"spec.bogus\""),
        "{}",
        strict.body
    );
    let pruned = http.post(CLONESETS, &unknown).await;
    assert_eq!(pruned.code, 201);
    assert!(
        pruned.json()["spec"].get("bogus").is_none(),
        "unknown fields are pruned"
    );

    let missing_ns = http
        .post(
            "/api/v1/namespaces/nowhere/configmaps",
            &json!({"metadata": {"name": "x"}}),
        )
        .await;
    assert_eq!(missing_ns.code, 404);
    assert!(
        missing_ns.json()["message"]
            .as_str()
            .unwrap()
            .contains("namespaces \"nowhere\" not found")
    );

    let huge = vec![b'a'; 4 * 1024 * 1024];
    let too_big = http.send("POST", CMS, "application/json", &huge, true).await;
    assert_eq!(too_big.code, 413);
    let deep = format!("{}{}", "[".repeat(5000), "]".repeat(5000));
    let nested = http
        .send("POST", CMS, "application/json", deep.as_bytes(), true)
        .await;
    assert_eq!(nested.code, 400);

    let bad_patch = http
        .send(
            "PATCH",
            &format!("{CMS}/cm"),
            "application/json-patch+json",
            b"[{\"op\":\"explode\"}]",
            true,
        )
        .await;
    assert!(
        bad_patch.code == 400 || bad_patch.code == 422,
        "{}",
        bad_patch.code
    );
    let smp_on_crd = http
        .send(
            "PATCH",
            &format!("{CLONESETS}/strict"),
            "application/strategic-merge-patch+json",
            b"{}",
            true,
        )
        .await;
    assert_eq!(smp_on_crd.code, 415);

    // Still serving.
    assert_eq!(http.get("/healthz").await.code, 200);
    assert_eq!(http.get(&format!("{CMS}/cm")).await.json()["data"]["a"], "1");
    s.running.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paging_generate_name_dry_run_and_deletecollection() {
    let (s, http) = plain_server(Arc::new(ferry_store::MemStore::default())).await;
    for i in 0..7 {
        let labels = if i % 2 == 0 {
            json!({"even": "yes"})
        } else {
            json!({"even": "no"})
        };
        assert_eq!(
            http.post(
                CMS,
                &json!({"metadata": {"name": format!("cm-{i}"), "labels": labels}})
            )
            .await
            .code,
            201
        );
    }
    let mut names = Vec::new();
    let mut cont = String::new();
    for _ in 0..10 {
        let page = http.get(&format!("{CMS}?limit=3&continue={cont}")).await.json();
        assert!(page["metadata"]["resourceVersion"].as_str().is_some());
        names.extend(
            page["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|i| i["metadata"]["name"].as_str().unwrap().to_string()),
        );
        match page["metadata"]["continue"].as_str() {
            Some(c) => cont = c.to_string(),
            None => break,
        }
    }
    assert_eq!(names, (0..7).map(|i| format!("cm-{i}")).collect::<Vec<_>>());
    let even = http
        .get(&format!("{CMS}?labelSelector=even%3Dyes&limit=2"))
        .await
        .json();
    assert_eq!(even["items"].as_array().unwrap().len(), 2);
    assert!(even["metadata"]["continue"].is_string());

    let generated = http
        .post(CMS, &json!({"metadata": {"generateName": "gen-"}}))
        .await
        .json();
    let name = generated["metadata"]["name"].as_str().unwrap();
    assert!(name.starts_with("gen-") && name.len() == 9, "{name}");

    let dry = http
        .send(
            "POST",
            &format!("{CMS}?dryRun=All"),
            "application/json",
            json!({"metadata": {"name": "dry"}}).to_string().as_bytes(),
            true,
        )
        .await;
    assert_eq!(dry.code, 201);
    assert_eq!(http.get(&format!("{CMS}/dry")).await.code, 404);

    let dc = http
        .send(
            "DELETE",
            &format!("{CMS}?labelSelector=even%3Dno"),
            "application/json",
            b"",
            true,
        )
        .await;
    assert_eq!(dc.code, 200);
    let left = http.get(&format!("{CMS}?labelSelector=even")).await.json();
    assert_eq!(left["items"].as_array().unwrap().len(), 4);

    let table = http.send("GET", CMS, "application/json", b"", true).await;
    assert_eq!(table.code, 200);
    s.running.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_resumes_bookmarks_and_gone() {
    let (s, http) = plain_server(Arc::new(ferry_store::MemStore::with_history(4))).await;
    let first = http.post(CMS, &json!({"metadata": {"name": "w0"}})).await.json();
    let rv0: u64 = first["metadata"]["resourceVersion"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    http.post(CMS, &json!({"metadata": {"name": "w1"}})).await;
    // Resume from rv0: only the later event, then the stream ends at timeoutSeconds.
    let resumed = http
        .get(&format!(
            "{CMS}?watch=true&resourceVersion={rv0}&timeoutSeconds=1"
        ))
        .await;
    let events: Vec<Value> = resumed
        .body
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(events.len(), 1, "{}", resumed.body);
    assert_eq!(
        (
            events[0]["type"].as_str(),
            events[0]["object"]["metadata"]["name"].as_str()
        ),
        (Some("ADDED"), Some("w1"))
    );

    // Streaming list: initial ADDED events then the initial-events-end bookmark.
    let streaming = http
        .get(&format!("{CMS}?watch=true&sendInitialEvents=true&resourceVersionMatch=NotOlderThan&allowWatchBookmarks=true&timeoutSeconds=1"))
        .await;
    let events: Vec<Value> = streaming
        .body
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(
        events.iter().filter(|e| e["type"] == "ADDED").count(),
        2,
        "{}",
        streaming.body
    );
    let bookmark = events
        .iter()
        .find(|e| e["type"] == "BOOKMARK")
        .expect("bookmark sent");
    assert_eq!(
        bookmark["object"]["metadata"]["annotations"]["k8s.io/initial-events-end"],
        "true"
    );
    // Without allowWatchBookmarks no bookmark is sent.
    let plain = http.get(&format!("{CMS}?watch=true&timeoutSeconds=1")).await;
    assert!(!plain.body.contains("BOOKMARK"), "{}", plain.body);

    // Beyond the history window: an ERROR event with 410.
    for i in 2..8 {
        http.post(CMS, &json!({"metadata": {"name": format!("w{i}")}}))
            .await;
    }
    let gone = http
        .get(&format!(
            "{CMS}?watch=true&resourceVersion={rv0}&timeoutSeconds=1"
        ))
        .await;
    let event: Value = serde_json::from_str(gone.body.lines().next().unwrap_or("{}")).unwrap();
    assert_eq!(event["type"], "ERROR", "{}", gone.body);
    assert_eq!(event["object"]["code"], 410);

    // A label-filtered watch reports an object leaving the selector as DELETED.
    let rv = http.get(CMS).await.json()["metadata"]["resourceVersion"]
        .as_str()
        .unwrap()
        .to_string();
    http.send(
        "PATCH",
        &format!("{CMS}/w7"),
        "application/merge-patch+json",
        br#"{"metadata":{"labels":{"k":"v"}}}"#,
        true,
    )
    .await;
    http.send(
        "PATCH",
        &format!("{CMS}/w7"),
        "application/merge-patch+json",
        br#"{"metadata":{"labels":{"k":null}}}"#,
        true,
    )
    .await;
    let filtered = http
        .get(&format!(
            "{CMS}?watch=true&resourceVersion={rv}&labelSelector=k%3Dv&timeoutSeconds=1"
        ))
        .await;
    let types: Vec<String> = filtered
        .body
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["type"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(types, ["ADDED", "DELETED"]);
    s.running.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn finalizers_and_garbage_collection() {
    let (s, http) = plain_server(Arc::new(ferry_store::MemStore::default())).await;
    // Finalizer: delete marks, removal of the last finalizer deletes.
    http.post(
        CMS,
        &json!({"metadata": {"name": "held", "finalizers": ["example.com/hold"]}}),
    )
    .await;
    let marked = http
        .send("DELETE", &format!("{CMS}/held"), "application/json", b"", true)
        .await
        .json();
    assert!(marked["metadata"]["deletionTimestamp"].is_string());
    assert_eq!(http.get(&format!("{CMS}/held")).await.code, 200);
    let released = http
        .send(
            "PATCH",
            &format!("{CMS}/held"),
            "application/merge-patch+json",
            br#"{"metadata":{"finalizers":null}}"#,
            true,
        )
        .await;
    assert_eq!(released.code, 200, "{}", released.body);
    assert_eq!(http.get(&format!("{CMS}/held")).await.code, 404);

    let owner_ref = |owner: &Value, block: bool| json!([{"apiVersion": "v1", "kind": "ConfigMap", "name": owner["metadata"]["name"], "uid": owner["metadata"]["uid"], "blockOwnerDeletion": block}]);
    // Background: dependents of a deleted owner are collected.
    let owner = http
        .post(CMS, &json!({"metadata": {"name": "owner-bg"}}))
        .await
        .json();
    http.post(
        CMS,
        &json!({"metadata": {"name": "dep-bg", "ownerReferences": owner_ref(&owner, false)}}),
    )
    .await;
    http.send(
        "DELETE",
        &format!("{CMS}/owner-bg"),
        "application/json",
        br#"{"propagationPolicy":"Background"}"#,
        true,
    )
    .await;
    common::eventually("background dependent collected", || async {
        http.get(&format!("{CMS}/dep-bg")).await.code == 404
    })
    .await;

    // Orphan: dependents stay, without the owner reference.
    let owner = http
        .post(CMS, &json!({"metadata": {"name": "owner-or"}}))
        .await
        .json();
    http.post(
        CMS,
        &json!({"metadata": {"name": "dep-or", "ownerReferences": owner_ref(&owner, false)}}),
    )
    .await;
    http.send(
        "DELETE",
        &format!("{CMS}/owner-or"),
        "application/json",
        br#"{"propagationPolicy":"Orphan"}"#,
        true,
    )
    .await;
    common::eventually("orphaning owner deleted", || async {
        http.get(&format!("{CMS}/owner-or")).await.code == 404
    })
    .await;
    let dep = http.get(&format!("{CMS}/dep-or")).await.json();
    assert!(dep["metadata"].get("ownerReferences").is_none(), "{dep}");

    // Foreground: the owner waits (deletionTimestamp set) until blocking dependents are gone.
    let owner = http
        .post(CMS, &json!({"metadata": {"name": "owner-fg"}}))
        .await
        .json();
    http.post(CMS, &json!({"metadata": {"name": "dep-fg", "finalizers": ["example.com/slow"], "ownerReferences": owner_ref(&owner, true)}})).await;
    let fg = http
        .send(
            "DELETE",
            &format!("{CMS}/owner-fg"),
            "application/json",
            br#"{"propagationPolicy":"Foreground"}"#,
            true,
        )
        .await
        .json();
    assert!(
        fg["metadata"]["finalizers"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f == "foregroundDeletion")
    );
    common::eventually("dependent marked for deletion", || async {
        http.get(&format!("{CMS}/dep-fg")).await.json()["metadata"]["deletionTimestamp"].is_string()
    })
    .await;
    assert_eq!(
        http.get(&format!("{CMS}/owner-fg")).await.code,
        200,
        "owner waits for its blocking dependent"
    );
    http.send(
        "PATCH",
        &format!("{CMS}/dep-fg"),
        "application/merge-patch+json",
        br#"{"metadata":{"finalizers":null}}"#,
        true,
    )
    .await;
    common::eventually("foreground owner deleted", || async {
        http.get(&format!("{CMS}/owner-fg")).await.code == 404
    })
    .await;

    // Preconditions.
    http.post(CMS, &json!({"metadata": {"name": "pre"}})).await;
    let pre = http
        .send(
            "DELETE",
            &format!("{CMS}/pre"),
            "application/json",
            br#"{"preconditions":{"uid":"not-it"}}"#,
            true,
        )
        .await;
    assert_eq!(pre.code, 409);

    // A terminating namespace refuses new content.
    http.post("/api/v1/namespaces", &json!({"metadata": {"name": "closing"}}))
        .await;
    http.post(
        "/api/v1/namespaces/closing/configmaps",
        &json!({"metadata": {"name": "held", "finalizers": ["example.com/hold"]}}),
    )
    .await;
    http.send(
        "DELETE",
        "/api/v1/namespaces/closing",
        "application/json",
        b"",
        true,
    )
    .await;
    let refused = http
        .post(
            "/api/v1/namespaces/closing/configmaps",
            &json!({"metadata": {"name": "late"}}),
        )
        .await;
    assert_eq!(refused.code, 403, "{}", refused.body);
    assert!(
        refused.json()["message"]
            .as_str()
            .unwrap()
            .contains("being terminated")
    );
    http.send(
        "PATCH",
        "/api/v1/namespaces/closing/configmaps/held",
        "application/merge-patch+json",
        br#"{"metadata":{"finalizers":null}}"#,
        true,
    )
    .await;
    common::eventually("namespace removed", || async {
        http.get("/api/v1/namespaces/closing").await.code == 404
    })
    .await;
    s.running.shutdown().await;
}

struct LabelEverything;

impl ferry_apiserver::MutatingAdmission for LabelEverything {
    fn name(&self) -> &str {
        "label-everything"
    }
    fn admit(
        &self,
        req: &ferry_apiserver::AdmissionRequest<'_>,
        object: &mut Value,
    ) -> Result<(), ferry_apiserver::AdmissionError> {
        if req.resource.kind == "ConfigMap"
            && let Some(meta) = object.get_mut("metadata").and_then(Value::as_object_mut)
        {
            let labels = meta.entry("labels").or_insert_with(|| json!({}));
            if let Some(l) = labels.as_object_mut() {
                l.insert("admitted".into(), json!(format!("{:?}", req.operation)));
            }
        }
        Ok(())
    }
}

struct RefuseForbiddenNames;

impl ferry_apiserver::ValidatingAdmission for RefuseForbiddenNames {
    fn name(&self) -> &str {
        "refuse-forbidden"
    }
    fn validate(
        &self,
        _req: &ferry_apiserver::AdmissionRequest<'_>,
        object: &Value,
    ) -> Result<(), ferry_apiserver::AdmissionError> {
        if object.pointer("/metadata/name").and_then(Value::as_str) == Some("forbidden") {
            return Err(ferry_apiserver::AdmissionError::Invalid(vec![
                ferry_apimachinery::FieldError::forbidden("metadata.name", "this name is reserved"),
            ]));
        }
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admission_hooks_runtime_crds_and_pod_binding() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = ferry_apiserver::Config::new(
        "127.0.0.1:0".parse().unwrap(),
        dir.path().to_path_buf(),
        Arc::new(ferry_store::MemStore::default()),
    );
    config.tls = false;
    config.mutating_admission.push(Arc::new(LabelEverything));
    config.validating_admission.push(Arc::new(RefuseForbiddenNames));
    let running = ferry_apiserver::start(config).await.unwrap();
    let http = Http {
        addr: running.addr,
        token: running.token.clone(),
    };

    let created = http
        .post(CMS, &json!({"metadata": {"name": "hooked"}}))
        .await
        .json();
    assert_eq!(created["metadata"]["labels"]["admitted"], "Create");
    let updated = http
        .send(
            "PATCH",
            &format!("{CMS}/hooked"),
            "application/merge-patch+json",
            br#"{"data":{"a":"1"}}"#,
            true,
        )
        .await
        .json();
    assert_eq!(updated["metadata"]["labels"]["admitted"], "Update");
    let refused = http.post(CMS, &json!({"metadata": {"name": "forbidden"}})).await;
    assert_eq!(refused.code, 422);
    assert_eq!(refused.json()["details"]["causes"][0]["field"], "metadata.name");

    // A CRD created at runtime is served at once, with status, scale and discovery.
    let crd = json!({"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": "widgets.example.com"},
        "spec": {"group": "example.com", "scope": "Namespaced",
            "names": {"plural": "widgets", "singular": "widget", "kind": "Widget", "shortNames": ["wd"]},
            "versions": [{"name": "v1", "served": true, "storage": true,
                "schema": {"openAPIV3Schema": {"type": "object", "properties": {
                    "spec": {"type": "object", "properties": {"replicas": {"type": "integer"}}},
                    "status": {"type": "object", "properties": {"replicas": {"type": "integer"}}}}}},
                "subresources": {"status": {}, "scale": {"specReplicasPath": ".spec.replicas", "statusReplicasPath": ".status.replicas"}}}]}});
    assert_eq!(
        http.post("/apis/apiextensions.k8s.io/v1/customresourcedefinitions", &crd)
            .await
            .code,
        201
    );
    let widgets = "/apis/example.com/v1/namespaces/default/widgets";
    let w = http.post(widgets, &json!({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}, "spec": {"replicas": 1}})).await;
    assert_eq!(w.code, 201, "{}", w.body);
    let discovery = http.get("/apis/example.com/v1").await.json();
    let names: Vec<&str> = discovery["resources"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|r| r["name"].as_str())
        .collect();
    assert_eq!(names, ["widgets", "widgets/status", "widgets/scale"]);
    let scale = http
        .send("PUT", &format!("{widgets}/w/scale"), "application/json", br#"{"kind":"Scale","apiVersion":"autoscaling/v1","metadata":{"name":"w"},"spec":{"replicas":4}}"#, true)
        .await;
    assert_eq!(scale.code, 200, "{}", scale.body);
    assert_eq!(
        http.get(&format!("{widgets}/w")).await.json()["spec"]["replicas"],
        4
    );
    // Deleting the CRD stops serving it.
    http.send(
        "DELETE",
        "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/widgets.example.com",
        "application/json",
        b"",
        true,
    )
    .await;
    assert_eq!(http.get(widgets).await.code, 404);
    // …and its objects are gone when it is created again.
    assert_eq!(
        http.post("/apis/apiextensions.k8s.io/v1/customresourcedefinitions", &crd)
            .await
            .code,
        201
    );
    common::eventually("custom objects removed with their CRD", || async {
        http.get(widgets).await.json()["items"]
            .as_array()
            .is_some_and(Vec::is_empty)
    })
    .await;

    // Pods: defaults, then scheduling through /binding.
    let pods = "/api/v1/namespaces/default/pods";
    let pod = http
        .post(
            pods,
            &json!({"metadata": {"name": "p"}, "spec": {"containers": [{"name": "c", "image": "busybox"}]}}),
        )
        .await
        .json();
    assert_eq!(pod["spec"]["containers"][0]["imagePullPolicy"], "Always");
    assert_eq!(pod["status"]["phase"], "Pending");
    let bound = http.post(&format!("{pods}/p/binding"), &json!({"apiVersion": "v1", "kind": "Binding", "metadata": {"name": "p"}, "target": {"kind": "Node", "name": "node-1"}})).await;
    assert_eq!(bound.code, 201, "{}", bound.body);
    assert_eq!(
        http.get(&format!("{pods}/p")).await.json()["spec"]["nodeName"],
        "node-1"
    );
    let on_node = http
        .get(&format!("{pods}?fieldSelector=spec.nodeName%3Dnode-1"))
        .await
        .json();
    assert_eq!(on_node["items"].as_array().unwrap().len(), 1);
    let missing_image = http
        .post(
            pods,
            &json!({"metadata": {"name": "q"}, "spec": {"containers": [{"name": "c"}]}}),
        )
        .await;
    assert_eq!(missing_image.code, 422);
    assert_eq!(
        missing_image.json()["details"]["causes"][0]["field"],
        "spec.containers[0].image"
    );
    running.shutdown().await;
}
