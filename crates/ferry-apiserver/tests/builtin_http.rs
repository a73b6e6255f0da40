//! Raw HTTP checks for built-in kinds: OpenAPI v3 caching (hash, ETag, 304, 301), strict
//! decoding of duplicate and unknown fields, and protobuf bodies (good and malformed).

mod common;

use std::{sync::Arc, time::Duration};

use serde_json::json;

use common::http::RawHttp as Http;

async fn server() -> (common::Server, Http) {
    let s = common::start_with(
        Arc::new(ferry_store::MemStore::default()),
        tempfile::tempdir().unwrap(),
        false,
    )
    .await;
    let http = Http {
        addr: s.running.addr,
        token: s.running.token.clone(),
    };
    (s, http)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openapi_documents_are_cached_by_hash_with_etags() {
    let (_s, http) = server().await;
    let index = http.send_with("GET", "/openapi/v3", &[], b"").await;
    assert_eq!(index.code, 200);
    let url = index.json()["paths"]["apis/apps/v1"]["serverRelativeURL"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let hash = url.rsplit("hash=").next().unwrap_or_default().to_string();
    assert!(
        url.starts_with("/openapi/v3/apis/apps/v1?hash=") && hash.len() == 16,
        "{url}"
    );

    let doc = http.send_with("GET", &url, &[], b"").await;
    assert_eq!(doc.code, 200);
    assert_eq!(doc.header("etag"), vec![format!("\"{hash}\"")]);
    assert_eq!(doc.header("cache-control"), vec!["public, immutable"]);
    let schemas = &doc.json()["components"]["schemas"];
    assert_eq!(
        schemas["io.k8s.api.apps.v1.Deployment"]["x-kubernetes-group-version-kind"][0]["kind"],
        "Deployment"
    );
    assert_eq!(
        schemas["io.k8s.api.core.v1.PodSpec"]["properties"]["containers"]["x-kubernetes-patch-merge-key"],
        "name"
    );

    // The same bytes again; a matching If-None-Match gets 304 without a body.
    let again = http.send_with("GET", &url, &[], b"").await;
    assert_eq!(again.body, doc.body);
    let etag = format!("\"{hash}\"");
    let not_modified = http
        .send_with("GET", &url, &[("If-None-Match", etag.as_str())], b"")
        .await;
    assert_eq!(not_modified.code, 304);
    assert!(not_modified.body.is_empty());

    // A stale hash is redirected to the current document.
    let stale = http
        .send_with("GET", "/openapi/v3/apis/apps/v1?hash=0000000000000000", &[], b"")
        .await;
    assert_eq!(stale.code, 301);
    assert_eq!(stale.header("location"), vec![url.clone()]);
    let missing = http.send_with("GET", "/openapi/v3/apis/nope/v1", &[], b"").await;
    assert_eq!(missing.code, 404);

    // A new CRD adds a document; the built-in ones keep their hash.
    let crd = json!({"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": "widgets.example.com"},
        "spec": {"group": "example.com", "scope": "Namespaced",
            "names": {"plural": "widgets", "singular": "widget", "kind": "Widget"},
            "versions": [{"name": "v1", "served": true, "storage": true,
                "schema": {"openAPIV3Schema": {"type": "object", "properties": {"spec": {"type": "object",
                    "properties": {"size": {"type": "integer"}}}}}}}]}});
    let created = http
        .send_with(
            "POST",
            "/apis/apiextensions.k8s.io/v1/customresourcedefinitions",
            &[("Content-Type", "application/json")],
            crd.to_string().as_bytes(),
        )
        .await;
    assert_eq!(created.code, 201, "{}", created.body);
    let mut found = false;
    for _ in 0..100 {
        let index = http.send_with("GET", "/openapi/v3", &[], b"").await.json();
        if index["paths"].get("apis/example.com/v1").is_some() {
            assert_eq!(index["paths"]["apis/apps/v1"]["serverRelativeURL"], url.as_str());
            found = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(found, "the CRD's group-version never appeared in the index");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duplicate_and_unknown_fields_follow_field_validation() {
    let (_s, http) = server().await;
    let path = "/apis/apps/v1/namespaces/default/deployments";
    let body = |name: &str| {
        format!(
            r#"{{"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {{"name": "{name}"}},
            "spec": {{"replicas": 1, "replicas": 2, "selector": {{"matchLabels": {{"app": "d"}}}}, "paused": false, "pauzed": true,
              "template": {{"metadata": {{"labels": {{"app": "d"}}}}, "spec": {{"containers": [{{"name": "c", "image": "i"}}]}}}}}}}}"#
        )
    };
    let json_ct = [("Content-Type", "application/json")];
    let strict = http
        .send_with(
            "POST",
            &format!("{path}?fieldValidation=Strict"),
            &json_ct,
            body("d1").as_bytes(),
        )
        .await;
    assert_eq!(strict.code, 400, "{}", strict.body);
    assert_eq!(
        strict.json()["message"],
        r#"Deployment in version "v1" cannot be handled as a Deployment: strict decoding error: duplicate field "spec.replicas", unknown field "spec.pauzed""#
    );

    let warn = http
        .send_with(
            "POST",
            &format!("{path}?fieldValidation=Warn"),
            &json_ct,
            body("d2").as_bytes(),
        )
        .await;
    assert_eq!(warn.code, 201, "{}", warn.body);
    assert_eq!(
        warn.header("warning"),
        vec![
            r#"299 - "duplicate field \"spec.replicas\"""#.to_string(),
            r#"299 - "unknown field \"spec.pauzed\"""#.to_string(),
        ]
    );
    let stored = warn.json();
    assert_eq!(stored["spec"]["replicas"], 2, "the last duplicate wins");
    assert!(stored["spec"].get("pauzed").is_none());

    let ignore = http
        .send_with(
            "POST",
            &format!("{path}?fieldValidation=Ignore"),
            &json_ct,
            body("d3").as_bytes(),
        )
        .await;
    assert_eq!(ignore.code, 201, "{}", ignore.body);
    assert!(ignore.header("warning").is_empty());
    assert!(ignore.json()["spec"].get("pauzed").is_none());

    // Unknown fields of a built-in kind on update (PUT) too.
    let mut current = ignore.json();
    current["spec"]["template"]["spec"]["containers"][0]["imagee"] = json!("x");
    let put = http
        .send_with(
            "PUT",
            &format!("{path}/d3?fieldValidation=Strict"),
            &json_ct,
            current.to_string().as_bytes(),
        )
        .await;
    assert_eq!(put.code, 400, "{}", put.body);
    assert!(
        put.json()["message"]
            .as_str()
            .is_some_and(|m| m.ends_with(r#"unknown field "spec.template.spec.containers[0].imagee""#)),
        "{}",
        put.body
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn protobuf_bodies_decode_or_fail_cleanly() {
    let (_s, http) = server().await;
    let proto_ct = [
        ("Content-Type", "application/vnd.kubernetes.protobuf"),
        ("Accept", "application/vnd.kubernetes.protobuf, application/json"),
    ];
    // runtime.Unknown{typeMeta{v1, ConfigMap}, raw: ConfigMap{metadata{name: pb}, data{k: v}}}.
    let cm = [
        &[0x0a, 0x04][..],
        b"\x0a\x02pb",
        &[0x12, 0x06],
        b"\x0a\x01k\x12\x01v",
    ]
    .concat();
    let type_meta = [&b"\x0a\x02v1"[..], b"\x12\x09ConfigMap"].concat();
    let mut envelope = b"k8s\0".to_vec();
    envelope.extend([0x0a, type_meta.len() as u8]);
    envelope.extend(&type_meta);
    envelope.extend([0x12, cm.len() as u8]);
    envelope.extend(&cm);
    let created = http
        .send_with(
            "POST",
            "/api/v1/namespaces/default/configmaps",
            &proto_ct,
            &envelope,
        )
        .await;
    assert_eq!(created.code, 201, "{}", created.body);
    assert_eq!(created.header("content-type"), vec!["application/json"]);
    assert_eq!(created.json()["data"], json!({"k": "v"}));
    assert_eq!(created.json()["metadata"]["name"], "pb");

    let truncated = &envelope[..envelope.len() - 2];
    let bad = http
        .send_with(
            "POST",
            "/api/v1/namespaces/default/configmaps",
            &proto_ct,
            truncated,
        )
        .await;
    assert_eq!(bad.code, 400, "{}", bad.body);
    let not_k8s = http
        .send_with(
            "POST",
            "/api/v1/namespaces/default/configmaps",
            &proto_ct,
            b"hello",
        )
        .await;
    assert_eq!(not_k8s.code, 400, "{}", not_k8s.body);
    // The server keeps serving.
    let list = http
        .send_with("GET", "/api/v1/namespaces/default/configmaps", &[], b"")
        .await;
    assert_eq!(list.code, 200);
}
