//! Discovery: legacy (`/api`, `/apis`, `/api/v1`, `/apis/G/V`) and aggregated (apidiscovery.k8s.io/v2).

use axum::{
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::Response,
};
use ferry_apimachinery::openapi;
use serde_json::{Value, json};
use std::sync::{Arc, OnceLock};

use crate::{
    errors::{ApiError, ApiResult},
    registry::{Registry, ResourceInfo, scale_kind},
    rest::json_response,
};

const AGGREGATED_V2: &str = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList";

fn wants_aggregated(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|a| a.to_str().ok())
        .is_some_and(|accept| {
            accept.split(',').any(|part| {
                let p = part.replace(' ', "");
                p.contains("g=apidiscovery.k8s.io") && p.contains("v=v2;")
                    || p.ends_with("v=v2") && p.contains("apidiscovery")
            })
        })
}

fn sub_verbs(sub: &str) -> Vec<&'static str> {
    match sub {
        "binding" => vec!["create"],
        "finalize" => vec!["update"],
        _ => vec!["get", "patch", "update"],
    }
}

fn subresources(r: &ResourceInfo) -> Vec<&'static str> {
    let mut subs = Vec::new();
    if r.has_status {
        subs.push("status");
    }
    if r.scale.is_some() {
        subs.push("scale");
    }
    if r.has_binding {
        subs.push("binding");
    }
    if r.group.is_empty() && r.plural == "namespaces" {
        subs.push("finalize");
    }
    subs
}

fn legacy_resource_list(registry: &Registry, group: &str, version: &str) -> Option<Value> {
    let mut resources: Vec<_> = registry
        .all()
        .into_iter()
        .filter(|r| r.group == group && r.version == version)
        .collect();
    if resources.is_empty() {
        return None;
    }
    resources.sort_by(|a, b| a.plural.cmp(&b.plural));
    let mut list = Vec::new();
    for r in &resources {
        let mut entry = json!({
            "name": r.plural, "singularName": r.singular, "namespaced": r.namespaced, "kind": r.kind,
            "verbs": r.verbs(), "storageVersionHash": "",
        });
        if let Some(m) = entry.as_object_mut() {
            if !r.short_names.is_empty() {
                m.insert("shortNames".into(), json!(r.short_names));
            }
            if !r.categories.is_empty() {
                m.insert("categories".into(), json!(r.categories));
            }
        }
        list.push(entry);
        for sub in subresources(r) {
            let (kind, group, version) = if sub == "scale" {
                ("Scale", "autoscaling", "v1")
            } else if sub == "binding" {
                ("Binding", "", "v1")
            } else {
                (r.kind.as_str(), r.group.as_str(), r.version.as_str())
            };
            let mut e = json!({"name": format!("{}/{sub}", r.plural), "singularName": "", "namespaced": r.namespaced, "kind": kind, "verbs": sub_verbs(sub)});
            if sub == "scale"
                && let Some(m) = e.as_object_mut()
            {
                m.insert("group".into(), json!(group));
                m.insert("version".into(), json!(version));
            }
            list.push(e);
        }
    }
    let gv = if group.is_empty() {
        version.to_string()
    } else {
        format!("{group}/{version}")
    };
    Some(json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv, "resources": list}))
}

fn aggregated_group(registry: &Registry, group: &str, versions: &[String]) -> Value {
    let versions: Vec<Value> = versions
        .iter()
        .map(|v| {
            let mut resources: Vec<_> = registry
                .all()
                .into_iter()
                .filter(|r| r.group == group && &r.version == v)
                .collect();
            resources.sort_by(|a, b| a.plural.cmp(&b.plural));
            let list: Vec<Value> = resources
                .iter()
                .map(|r| {
                    let subs: Vec<Value> = subresources(r)
                        .into_iter()
                        .map(|sub| {
                            let kind = match sub {
                                "scale" => scale_kind(),
                                "binding" => json!({"group": "", "version": "v1", "kind": "Binding"}),
                                _ => json!({"group": r.group, "version": r.version, "kind": r.kind}),
                            };
                            json!({"subresource": sub, "responseKind": kind, "verbs": sub_verbs(sub)})
                        })
                        .collect();
                    let mut e = json!({
                        "resource": r.plural,
                        "responseKind": {"group": r.group, "version": r.version, "kind": r.kind},
                        "scope": if r.namespaced { "Namespaced" } else { "Cluster" },
                        "singularResource": r.singular,
                        "verbs": r.verbs(),
                    });
                    if let Some(m) = e.as_object_mut() {
                        if !r.short_names.is_empty() {
                            m.insert("shortNames".into(), json!(r.short_names));
                        }
                        if !r.categories.is_empty() {
                            m.insert("categories".into(), json!(r.categories));
                        }
                        if !subs.is_empty() {
                            m.insert("subresources".into(), json!(subs));
                        }
                    }
                    e
                })
                .collect();
            json!({"version": v, "resources": list, "freshness": "Current"})
        })
        .collect();
    json!({"metadata": {"name": group, "creationTimestamp": null}, "versions": versions})
}

fn aggregated(registry: &Registry, legacy: bool) -> Value {
    let groups = registry.groups();
    let items: Vec<Value> = groups
        .iter()
        .filter(|(g, _)| g.is_empty() == legacy)
        .map(|(g, versions)| aggregated_group(registry, g, versions))
        .collect();
    json!({"kind": "APIGroupDiscoveryList", "apiVersion": "apidiscovery.k8s.io/v2", "metadata": {}, "items": items})
}

fn group_entry(group: &str, versions: &[String]) -> Value {
    let vs: Vec<Value> = versions
        .iter()
        .map(|v| json!({"groupVersion": format!("{group}/{v}"), "version": v}))
        .collect();
    let preferred = vs.first().cloned().unwrap_or(Value::Null);
    json!({"name": group, "versions": vs, "preferredVersion": preferred})
}

/// Serves a discovery path (`segs` is the split path).
pub fn serve(registry: &Registry, segs: &[&str], headers: &HeaderMap) -> ApiResult<Response> {
    let not_found = || {
        ApiError::new(
            404,
            "NotFound",
            "the server could not find the requested resource",
        )
    };
    match segs {
        ["api"] if wants_aggregated(headers) => Ok(aggregated_response(aggregated(registry, true))),
        ["apis"] if wants_aggregated(headers) => Ok(aggregated_response(aggregated(registry, false))),
        ["api"] => Ok(json_response(
            StatusCode::OK,
            &json!({"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": "127.0.0.1:6443"}]}),
        )),
        ["apis"] => {
            let groups: Vec<Value> = registry
                .groups()
                .iter()
                .filter(|(g, _)| !g.is_empty())
                .map(|(g, v)| group_entry(g, v))
                .collect();
            Ok(json_response(
                StatusCode::OK,
                &json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}),
            ))
        }
        ["api", v] => legacy_resource_list(registry, "", v)
            .map(|l| json_response(StatusCode::OK, &l))
            .ok_or_else(not_found),
        ["apis", g] => registry
            .groups()
            .iter()
            .find(|(name, _)| name == g)
            .map(|(name, v)| {
                let mut e = group_entry(name, v);
                if let Some(m) = e.as_object_mut() {
                    m.insert("kind".into(), json!("APIGroup"));
                    m.insert("apiVersion".into(), json!("v1"));
                }
                json_response(StatusCode::OK, &e)
            })
            .ok_or_else(not_found),
        ["apis", g, v] => legacy_resource_list(registry, g, v)
            .map(|l| json_response(StatusCode::OK, &l))
            .ok_or_else(not_found),
        _ => Err(not_found()),
    }
}

fn aggregated_response(body: Value) -> Response {
    let mut resp = json_response(StatusCode::OK, &body);
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(AGGREGATED_V2));
    resp
}

/// `/openapi/v3` and `/openapi/v3/<api/v1|apis/g/v>`.
///
/// Documents are built on first request and kept (core/v1 alone is several MiB of JSON) in a
/// snapshot tied to the exact set of served resources: a CRD change swaps a `ResourceInfo`, which
/// makes a new snapshot. The index advertises each document's [`openapi::inputs_hash`]; a
/// request with that `?hash=` is immutable (`Cache-Control: public, immutable`), a stale hash is
/// redirected to the current one (301, as kube-apiserver does), and `If-None-Match` with the
/// ETag gets 304.
pub fn serve_openapi_v3(
    registry: &Registry,
    rest: &[&str],
    query: &crate::rest::Query,
    headers: &HeaderMap,
) -> ApiResult<Response> {
    let snapshot = openapi_snapshot(registry);
    if rest.is_empty() {
        return Ok(bytes_response(
            StatusCode::OK,
            snapshot.index.clone(),
            None,
            false,
        ));
    }
    let key = rest.join("/");
    let Some(gv) = snapshot.group_versions.get(&key) else {
        return Err(ApiError::new(
            404,
            "NotFound",
            format!("no OpenAPI document for /openapi/v3/{key}"),
        ));
    };
    if let Some(asked) = query.get("hash")
        && *asked != gv.hash
    {
        let mut resp = Response::new(axum::body::Body::empty());
        *resp.status_mut() = StatusCode::MOVED_PERMANENTLY;
        if let Ok(v) = HeaderValue::from_str(&format!("/openapi/v3/{key}?hash={}", gv.hash)) {
            resp.headers_mut().insert(header::LOCATION, v);
        }
        return Ok(resp);
    }
    let etag = format!("\"{}\"", gv.hash);
    let immutable = query.contains_key("hash");
    let matches_etag = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag || t.trim() == "*"));
    if matches_etag {
        let mut resp = bytes_response(
            StatusCode::NOT_MODIFIED,
            bytes::Bytes::new(),
            Some(&etag),
            immutable,
        );
        resp.headers_mut().remove(header::CONTENT_TYPE);
        return Ok(resp);
    }
    let body = gv
        .document
        .get_or_init(|| {
            let rs: Vec<&openapi::ResourceDescription> = gv.resources.iter().collect();
            bytes::Bytes::from(openapi::group_version_document(&rs).to_string())
        })
        .clone();
    Ok(bytes_response(StatusCode::OK, body, Some(&etag), immutable))
}

fn bytes_response(code: StatusCode, body: bytes::Bytes, etag: Option<&str>, immutable: bool) -> Response {
    let mut resp = Response::new(axum::body::Body::from(body));
    *resp.status_mut() = code;
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    if let Some(etag) = etag.and_then(|e| HeaderValue::from_str(e).ok()) {
        h.insert(header::ETAG, etag);
    }
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static(if immutable {
            "public, immutable"
        } else {
            "no-cache, private"
        }),
    );
    resp
}

/// One group-version's inputs, hash and (lazily) its serialized document.
struct GroupVersionDoc {
    resources: Vec<openapi::ResourceDescription>,
    hash: String,
    document: OnceLock<bytes::Bytes>,
}

/// The OpenAPI view of one exact set of served resources.
pub(crate) struct OpenApiSnapshot {
    /// The resources it was made from (compared by identity; held so identities stay unique).
    served: Vec<Arc<ResourceInfo>>,
    index: bytes::Bytes,
    group_versions: std::collections::BTreeMap<String, GroupVersionDoc>,
}

fn openapi_snapshot(registry: &Registry) -> Arc<OpenApiSnapshot> {
    let served = registry.all();
    let same = |s: &OpenApiSnapshot| {
        s.served.len() == served.len() && s.served.iter().zip(&served).all(|(a, b)| Arc::ptr_eq(a, b))
    };
    if let Ok(cache) = registry.openapi.lock()
        && let Some(s) = cache.as_ref().filter(|s| same(s))
    {
        return s.clone();
    }
    let descriptions: Vec<openapi::ResourceDescription> = served.iter().map(|r| r.description()).collect();
    let mut group_versions = std::collections::BTreeMap::new();
    for (key, rs) in openapi::by_group_version(&descriptions) {
        let hash = openapi::inputs_hash(&rs);
        group_versions.insert(
            key,
            GroupVersionDoc {
                resources: rs.into_iter().cloned().collect(),
                hash,
                document: OnceLock::new(),
            },
        );
    }
    let index = openapi::build_index(group_versions.iter().map(|(k, g)| (k.as_str(), g.hash.as_str())));
    let snapshot = Arc::new(OpenApiSnapshot {
        served,
        index: bytes::Bytes::from(index.to_string()),
        group_versions,
    });
    if let Ok(mut cache) = registry.openapi.lock() {
        *cache = Some(snapshot.clone());
    }
    snapshot
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn legacy_list_has_short_names_and_subresources() {
        let reg = Registry::with_builtins();
        let list = legacy_resource_list(&reg, "", "v1").unwrap();
        let res = list["resources"].as_array().unwrap();
        let cm = res.iter().find(|r| r["name"] == "configmaps").unwrap();
        assert_eq!(cm["shortNames"], json!(["cm"]));
        assert!(res.iter().any(|r| r["name"] == "pods/status"));
        assert!(res.iter().any(|r| r["name"] == "pods/binding"));
    }

    #[test]
    fn aggregated_lists_groups() {
        let reg = Registry::with_builtins();
        let apis = aggregated(&reg, false);
        let apps = apis["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|g| g["metadata"]["name"] == "apps")
            .unwrap();
        let deploy = apps["versions"][0]["resources"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["resource"] == "deployments")
            .unwrap();
        assert_eq!(deploy["shortNames"], json!(["deploy"]));
        assert_eq!(deploy["scope"], "Namespaced");
        assert!(
            deploy["subresources"]
                .as_array()
                .unwrap()
                .iter()
                .any(|s| s["subresource"] == "scale")
        );
    }
}
