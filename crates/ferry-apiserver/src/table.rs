//! `as=Table` output: server-side printer columns for built-ins and CRDs.

use serde_json::{Value, json};

use crate::registry::{PrinterColumn, ResourceInfo};

/// Evaluates the simple JSONPath forms printer columns use: `.a.b`, `.a[0].b`, `.a[*].b`,
/// `.a[?(@.type=="Ready")].status`. Multiple results are joined with commas.
pub fn eval_path(obj: &Value, path: &str) -> Vec<Value> {
    let path = path
        .trim()
        .trim_start_matches('{')
        .trim_end_matches('}')
        .trim_start_matches('$');
    let mut current = vec![obj.clone()];
    let mut rest = path;
    while !rest.is_empty() {
        if let Some(r) = rest.strip_prefix('.') {
            let end = r.find(['.', '[']).unwrap_or(r.len());
            let (field, tail) = r.split_at(end);
            if !field.is_empty() {
                current = current.iter().filter_map(|v| v.get(field).cloned()).collect();
            }
            rest = tail;
        } else if let Some(r) = rest.strip_prefix('[') {
            let Some(end) = r.find(']') else { return vec![] };
            let (inner, tail) = r.split_at(end);
            rest = &tail[1..];
            let mut next = Vec::new();
            for v in &current {
                let Some(items) = v.as_array() else { continue };
                if inner == "*" {
                    next.extend(items.iter().cloned());
                } else if let Ok(i) = inner.parse::<usize>() {
                    next.extend(items.get(i).cloned());
                } else if let Some(filter) = inner.strip_prefix("?(@.").and_then(|f| f.strip_suffix(')')) {
                    let Some((field, value)) = filter.split_once("==") else {
                        continue;
                    };
                    let value = value.trim().trim_matches(['"', '\'']);
                    next.extend(
                        items
                            .iter()
                            .filter(|i| {
                                crate::table::eval_path(i, &format!(".{}", field.trim()))
                                    .first()
                                    .map(scalar_text)
                                    == Some(value.to_string())
                            })
                            .cloned(),
                    );
                }
            }
            current = next;
        } else {
            return vec![];
        }
    }
    current
}

fn scalar_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// Human age like kubectl's `HumanDuration` (`45s`, `5m`, `3h`, `2d`).
pub fn human_age(seconds: i64) -> String {
    let s = seconds.max(0);
    if s < 120 {
        format!("{s}s")
    } else if s < 600 {
        let m = s / 60;
        let rs = s % 60;
        if rs == 0 {
            format!("{m}m")
        } else {
            format!("{m}m{rs}s")
        }
    } else if s < 3 * 3600 {
        format!("{}m", s / 60)
    } else if s < 8 * 3600 {
        let h = s / 3600;
        let m = (s % 3600) / 60;
        if m == 0 {
            format!("{h}h")
        } else {
            format!("{h}h{m}m")
        }
    } else if s < 48 * 3600 {
        format!("{}h", s / 3600)
    } else if s < 8 * 86400 {
        let d = s / 86400;
        let h = (s % 86400) / 3600;
        if h == 0 {
            format!("{d}d")
        } else {
            format!("{d}d{h}h")
        }
    } else {
        format!("{}d", s / 86400)
    }
}

fn age_of(obj: &Value, now: jiff::Timestamp) -> String {
    let Some(ts) = obj.pointer("/metadata/creationTimestamp").and_then(Value::as_str) else {
        return "<unknown>".into();
    };
    match ts.parse::<jiff::Timestamp>() {
        Ok(t) => human_age(now.as_second() - t.as_second()),
        Err(_) => "<invalid>".into(),
    }
}

fn computed(obj: &Value, which: &str) -> Value {
    let i = |p: &str| obj.pointer(p).and_then(Value::as_i64).unwrap_or(0);
    match which {
        "<pod-ready>" => {
            let statuses = obj.pointer("/status/containerStatuses").and_then(Value::as_array);
            let total = obj
                .pointer("/spec/containers")
                .and_then(Value::as_array)
                .map_or(0, Vec::len);
            let ready = statuses.map_or(0, |s| {
                s.iter().filter(|c| c.get("ready") == Some(&json!(true))).count()
            });
            json!(format!("{ready}/{total}"))
        }
        "<pod-status>" => {
            if obj.pointer("/metadata/deletionTimestamp").is_some() {
                return json!("Terminating");
            }
            let waiting = obj
                .pointer("/status/containerStatuses")
                .and_then(Value::as_array)
                .and_then(|s| {
                    s.iter().find_map(|c| {
                        c.pointer("/state/waiting/reason")
                            .and_then(Value::as_str)
                            .map(str::to_string)
                    })
                });
            json!(waiting.unwrap_or_else(|| {
                obj.pointer("/status/phase")
                    .and_then(Value::as_str)
                    .unwrap_or("Pending")
                    .to_string()
            }))
        }
        "<pod-restarts>" => {
            let n: i64 = obj
                .pointer("/status/containerStatuses")
                .and_then(Value::as_array)
                .map_or(0, |s| {
                    s.iter()
                        .filter_map(|c| c.get("restartCount").and_then(Value::as_i64))
                        .sum()
                });
            json!(n.to_string())
        }
        "<svc-external-ip>" => {
            let ips: Vec<String> = obj
                .pointer("/status/loadBalancer/ingress")
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(|i| i.get("ip").and_then(Value::as_str).map(str::to_string))
                        .collect()
                })
                .unwrap_or_default();
            json!(if ips.is_empty() {
                "<none>".to_string()
            } else {
                ips.join(",")
            })
        }
        "<svc-ports>" => {
            let ports: Vec<String> = obj
                .pointer("/spec/ports")
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .map(|p| {
                            let port = p.get("port").map(scalar_text).unwrap_or_default();
                            let proto = p.get("protocol").and_then(Value::as_str).unwrap_or("TCP");
                            match p.get("nodePort") {
                                Some(np) => format!("{port}:{}/{proto}", scalar_text(np)),
                                None => format!("{port}/{proto}"),
                            }
                        })
                        .collect()
                })
                .unwrap_or_default();
            json!(if ports.is_empty() {
                "<none>".to_string()
            } else {
                ports.join(",")
            })
        }
        "<data-count>" => {
            let n = obj.get("data").and_then(Value::as_object).map_or(0, |m| m.len())
                + obj
                    .get("binaryData")
                    .and_then(Value::as_object)
                    .map_or(0, |m| m.len());
            json!(n)
        }
        "<node-status>" => {
            let ready = eval_path(obj, ".status.conditions[?(@.type==\"Ready\")].status");
            json!(if ready.first().map(scalar_text).as_deref() == Some("True") {
                "Ready"
            } else {
                "NotReady"
            })
        }
        "<ready-of-replicas>" => json!(format!("{}/{}", i("/status/readyReplicas"), i("/spec/replicas"))),
        "<event-object>" => {
            let kind = obj
                .pointer("/involvedObject/kind")
                .and_then(Value::as_str)
                .unwrap_or_default();
            let name = obj
                .pointer("/involvedObject/name")
                .and_then(Value::as_str)
                .unwrap_or_default();
            json!(format!("{}/{name}", kind.to_ascii_lowercase()))
        }
        _ => Value::Null,
    }
}

fn cell(obj: &Value, column: &PrinterColumn, now: jiff::Timestamp) -> Value {
    if column.json_path.starts_with('<') {
        return computed(obj, &column.json_path);
    }
    let values = eval_path(obj, &column.json_path);
    if column.type_ == "date" {
        return match values
            .first()
            .and_then(Value::as_str)
            .and_then(|s| s.parse::<jiff::Timestamp>().ok())
        {
            Some(t) => json!(human_age(now.as_second() - t.as_second())),
            None => Value::Null,
        };
    }
    match values.len() {
        0 => Value::Null,
        1 => values.into_iter().next().unwrap_or(Value::Null),
        _ => json!(values.iter().map(scalar_text).collect::<Vec<_>>().join(",")),
    }
}

fn column_definitions(info: &ResourceInfo) -> Vec<Value> {
    let def = |c: &PrinterColumn| json!({"name": c.name, "type": c.type_, "format": c.format, "description": c.description, "priority": c.priority});
    let mut cols = vec![
        json!({"name": "Name", "type": "string", "format": "name", "description": "Name must be unique within a namespace.", "priority": 0}),
    ];
    cols.extend(info.printer_columns.iter().map(def));
    if !info
        .printer_columns
        .iter()
        .any(|c| c.name.eq_ignore_ascii_case("age"))
    {
        cols.push(json!({"name": "Age", "type": "string", "format": "", "description": "CreationTimestamp is a timestamp representing the server time when this object was created.", "priority": 0}));
    }
    cols
}

fn row(info: &ResourceInfo, obj: &Value, now: jiff::Timestamp) -> Value {
    let mut cells = vec![obj.pointer("/metadata/name").cloned().unwrap_or(Value::Null)];
    cells.extend(info.printer_columns.iter().map(|c| cell(obj, c, now)));
    if !info
        .printer_columns
        .iter()
        .any(|c| c.name.eq_ignore_ascii_case("age"))
    {
        cells.push(json!(age_of(obj, now)));
    }
    json!({
        "cells": cells,
        "object": {
            "kind": "PartialObjectMetadata",
            "apiVersion": "meta.k8s.io/v1",
            "metadata": obj.get("metadata").cloned().unwrap_or_else(|| json!({})),
        }
    })
}

/// A `meta.k8s.io/v1` Table of `objects`; `with_columns` false omits the column definitions
/// (watch events after the first, as kube-apiserver does).
pub fn table(
    info: &ResourceInfo,
    objects: &[Value],
    list_meta: Value,
    with_columns: bool,
    now: jiff::Timestamp,
) -> Value {
    json!({
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": list_meta,
        "columnDefinitions": if with_columns { column_definitions(info) } else { vec![] },
        "rows": objects.iter().map(|o| row(info, o, now)).collect::<Vec<_>>(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_paths() {
        let obj = json!({"spec": {"replicas": 3}, "status": {"conditions": [{"type": "A", "status": "False"}, {"type": "Ready", "status": "True"}], "list": [{"n": 1}, {"n": 2}]}});
        let cases = [
            (".spec.replicas", vec![json!(3)]),
            (
                ".status.conditions[?(@.type==\"Ready\")].status",
                vec![json!("True")],
            ),
            (".status.list[*].n", vec![json!(1), json!(2)]),
            (".status.list[1].n", vec![json!(2)]),
            (".missing.x", vec![]),
        ];
        for (path, want) in cases {
            assert_eq!(eval_path(&obj, path), want, "{path}");
        }
    }

    #[test]
    fn ages() {
        for (s, want) in [
            (5, "5s"),
            (150, "2m30s"),
            (700, "11m"),
            (4 * 3600 + 60, "4h1m"),
            (10 * 3600, "10h"),
            (3 * 86400, "3d"),
            (20 * 86400, "20d"),
        ] {
            assert_eq!(human_age(s), want);
        }
    }

    #[test]
    fn crd_columns_render() {
        let crd = json!({"metadata": {"name": "clonesets.apps.kruise.io"}, "spec": {"group": "apps.kruise.io", "scope": "Namespaced",
            "names": {"plural": "clonesets", "kind": "CloneSet"},
            "versions": [{"name": "v1alpha1", "served": true, "storage": true,
                "additionalPrinterColumns": [{"name": "DESIRED", "type": "integer", "jsonPath": ".spec.replicas"}, {"name": "AGE", "type": "date", "jsonPath": ".metadata.creationTimestamp"}]}]}});
        let info = crate::registry::crd_resources(&crd).unwrap().remove(0);
        let now: jiff::Timestamp = "2026-01-01T00:01:00Z".parse().unwrap();
        let obj = json!({"metadata": {"name": "web", "creationTimestamp": "2026-01-01T00:00:00Z"}, "spec": {"replicas": 5}});
        let t = table(&info, &[obj], json!({}), true, now);
        let names: Vec<&str> = t["columnDefinitions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["Name", "DESIRED", "AGE"]);
        assert_eq!(t["rows"][0]["cells"], json!(["web", 5, "60s"]));
    }
}
