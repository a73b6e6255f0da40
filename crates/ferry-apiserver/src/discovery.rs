//! Discovery: legacy (`/api`, `/apis`, `/api/v1`, `/apis/G/V`) and aggregated (apidiscovery.k8s.io/v2).

use axum::{
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::Response,
};
use serde_json::{Value, json};

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
