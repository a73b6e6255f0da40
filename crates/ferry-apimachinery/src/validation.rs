//! Validation of built-in objects for the common fields, with kube-apiserver's messages, so a bad
//! object gets the 422 `Invalid` Status a real cluster would give (e.g.
//! `spec.template.spec.restartPolicy: Unsupported value: "Always": supported values: "OnFailure", "Never"`).
//!
//! Entry point: [`validate_builtin`] (run after defaulting). Covers metadata (name, labels,
//! annotation keys), pod specs (Pod and every pod template), workload selectors and replicas,
//! Job/CronJob, Service, ConfigMap/Secret keys and Ingress paths. Not covered: resource quantities,
//! probes, security contexts, affinity, and update-only rules (immutable fields).

use crate::field_error::{FieldError, FieldErrorType};
use crate::names::{
    name_rule_for, validate_dns1123_label, validate_labels, validate_object_name, validate_qualified_name,
};
use crate::selector::LabelSelector;
use serde_json::{Map, Value, json};

fn supported(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

fn port_range(field: String, v: &Value, errs: &mut Vec<FieldError>) {
    match v.as_i64() {
        Some(p) if (1..=65535).contains(&p) => {}
        _ => errs.push(FieldError::invalid(
            field,
            v.clone(),
            "must be between 1 and 65535, inclusive",
        )),
    }
}

/// Validates a built-in object of `group`/`kind`; returns every problem found. Run it after
/// defaulting and after `generateName` has been turned into `metadata.name`.
pub fn validate_builtin(group: &str, kind: &str, obj: &Value) -> Vec<FieldError> {
    let mut errs = Vec::new();
    validate_metadata(group, kind, obj, &mut errs);
    let spec = obj.get("spec");
    match (group, kind) {
        ("", "Pod") => match spec {
            Some(s) => validate_pod_spec(s, "spec", &mut errs),
            None => errs.push(FieldError::required("spec", "")),
        },
        ("apps", "Deployment" | "ReplicaSet" | "StatefulSet" | "DaemonSet") => {
            validate_workload(kind, obj, &mut errs)
        }
        ("", "ReplicationController") => validate_template(
            obj.pointer("/spec/template"),
            "spec.template",
            &["Always"],
            &mut errs,
        ),
        ("batch", "Job") => validate_job_spec(spec, "spec", &mut errs),
        ("batch", "CronJob") => {
            if spec
                .and_then(|s| s.get("schedule"))
                .and_then(Value::as_str)
                .is_none_or(str::is_empty)
            {
                errs.push(FieldError::required("spec.schedule", ""));
            }
            if let Some(p) = spec
                .and_then(|s| s.get("concurrencyPolicy"))
                .and_then(Value::as_str)
                && !["Allow", "Forbid", "Replace"].contains(&p)
            {
                errs.push(FieldError::not_supported(
                    "spec.concurrencyPolicy",
                    json!(p),
                    &supported(&["Allow", "Forbid", "Replace"]),
                ));
            }
            validate_job_spec(
                spec.and_then(|s| s.pointer("/jobTemplate/spec")),
                "spec.jobTemplate.spec",
                &mut errs,
            );
        }
        ("", "Service") => validate_service(spec, &mut errs),
        ("", "ConfigMap") => validate_config_keys(obj, &["data", "binaryData"], &mut errs),
        ("", "Secret") => validate_config_keys(obj, &["data", "stringData"], &mut errs),
        ("networking.k8s.io", "Ingress") => validate_ingress(spec, &mut errs),
        _ => {}
    }
    errs
}

fn validate_metadata(group: &str, kind: &str, obj: &Value, errs: &mut Vec<FieldError>) {
    let name = obj
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("");
    errs.extend(validate_object_name(name, name_rule_for(group, kind)));
    if let Some(labels) = obj.pointer("/metadata/labels").and_then(Value::as_object) {
        errs.extend(validate_labels(labels, "metadata.labels"));
    }
    if let Some(annotations) = obj.pointer("/metadata/annotations").and_then(Value::as_object) {
        for k in annotations.keys() {
            for m in validate_qualified_name(&k.to_ascii_lowercase()) {
                errs.push(FieldError::invalid("metadata.annotations", json!(k), m));
            }
        }
        let total: usize = annotations
            .iter()
            .map(|(k, v)| k.len() + v.as_str().map_or(0, str::len))
            .sum();
        if total > 256 * 1024 {
            errs.push(FieldError::new(
                "metadata.annotations",
                FieldErrorType::TooLong,
                None,
                "must have at most 262144 bytes",
            ));
        }
    }
}

fn validate_container(c: &Value, path: &str, volumes: &[&str], errs: &mut Vec<FieldError>) {
    match c.get("name").and_then(Value::as_str) {
        None | Some("") => errs.push(FieldError::required(format!("{path}.name"), "")),
        Some(n) => {
            for m in validate_dns1123_label(n) {
                errs.push(FieldError::invalid(format!("{path}.name"), json!(n), m));
            }
        }
    }
    if c.get("image")
        .and_then(Value::as_str)
        .is_none_or(|i| i.trim().is_empty())
    {
        errs.push(FieldError::required(format!("{path}.image"), ""));
    }
    if let Some(p) = c.get("imagePullPolicy").and_then(Value::as_str)
        && !["Always", "IfNotPresent", "Never"].contains(&p)
    {
        errs.push(FieldError::not_supported(
            format!("{path}.imagePullPolicy"),
            json!(p),
            &supported(&["Always", "IfNotPresent", "Never"]),
        ));
    }
    for (i, port) in c
        .get("ports")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
    {
        let pp = format!("{path}.ports[{i}]");
        match port.get("containerPort") {
            None | Some(Value::Null) => errs.push(FieldError::required(format!("{pp}.containerPort"), "")),
            Some(v) => port_range(format!("{pp}.containerPort"), v, errs),
        }
        if let Some(proto) = port.get("protocol").and_then(Value::as_str)
            && !["SCTP", "TCP", "UDP"].contains(&proto)
        {
            errs.push(FieldError::not_supported(
                format!("{pp}.protocol"),
                json!(proto),
                &supported(&["SCTP", "TCP", "UDP"]),
            ));
        }
    }
    for (i, e) in c
        .get("env")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
    {
        if e.get("name").and_then(Value::as_str).is_none_or(str::is_empty) {
            errs.push(FieldError::required(format!("{path}.env[{i}].name"), ""));
        }
    }
    for (i, m) in c
        .get("volumeMounts")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
    {
        let mp = format!("{path}.volumeMounts[{i}]");
        match m.get("name").and_then(Value::as_str) {
            None | Some("") => errs.push(FieldError::required(format!("{mp}.name"), "")),
            Some(n) if !volumes.contains(&n) => errs.push(FieldError::new(
                format!("{mp}.name"),
                FieldErrorType::NotFound,
                Some(json!(n)),
                "",
            )),
            Some(_) => {}
        }
        if m.get("mountPath")
            .and_then(Value::as_str)
            .is_none_or(str::is_empty)
        {
            errs.push(FieldError::required(format!("{mp}.mountPath"), ""));
        }
    }
}

/// Validates a PodSpec at `path` (`spec`, `spec.template.spec`, …).
pub fn validate_pod_spec(spec: &Value, path: &str, errs: &mut Vec<FieldError>) {
    if !spec.is_object() {
        errs.push(FieldError::required(path.to_string(), ""));
        return;
    }
    let mut volume_names: Vec<&str> = Vec::new();
    for (i, v) in spec
        .get("volumes")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
    {
        match v.get("name").and_then(Value::as_str) {
            None | Some("") => errs.push(FieldError::required(format!("{path}.volumes[{i}].name"), "")),
            Some(n) if volume_names.contains(&n) => errs.push(FieldError::new(
                format!("{path}.volumes[{i}].name"),
                FieldErrorType::Duplicate,
                Some(json!(n)),
                "",
            )),
            Some(n) => volume_names.push(n),
        }
    }
    let containers = spec.get("containers").and_then(Value::as_array);
    if containers.is_none_or(Vec::is_empty) {
        errs.push(FieldError::required(format!("{path}.containers"), ""));
    }
    let mut names: Vec<&str> = Vec::new();
    for list in ["initContainers", "containers"] {
        for (i, c) in spec
            .get(list)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .enumerate()
        {
            let cp = format!("{path}.{list}[{i}]");
            validate_container(c, &cp, &volume_names, errs);
            if let Some(n) = c.get("name").and_then(Value::as_str).filter(|n| !n.is_empty()) {
                if names.contains(&n) {
                    errs.push(FieldError::new(
                        format!("{cp}.name"),
                        FieldErrorType::Duplicate,
                        Some(json!(n)),
                        "",
                    ));
                } else {
                    names.push(n);
                }
            }
        }
    }
    if let Some(p) = spec.get("restartPolicy").and_then(Value::as_str)
        && !["Always", "OnFailure", "Never"].contains(&p)
    {
        errs.push(FieldError::not_supported(
            format!("{path}.restartPolicy"),
            json!(p),
            &supported(&["Always", "OnFailure", "Never"]),
        ));
    }
    if let Some(p) = spec.get("dnsPolicy").and_then(Value::as_str)
        && !["ClusterFirstWithHostNet", "ClusterFirst", "Default", "None"].contains(&p)
    {
        errs.push(FieldError::not_supported(
            format!("{path}.dnsPolicy"),
            json!(p),
            &supported(&["ClusterFirstWithHostNet", "ClusterFirst", "Default", "None"]),
        ));
    }
    if let Some(g) = spec.get("terminationGracePeriodSeconds").and_then(Value::as_i64)
        && g < 0
    {
        errs.push(FieldError::invalid(
            format!("{path}.terminationGracePeriodSeconds"),
            json!(g),
            "must be greater than or equal to 0",
        ));
    }
}

/// Go's `%#v` of a `map[string]string`, as upstream prints template labels.
fn go_string_map(m: Option<&Map<String, Value>>) -> String {
    let mut parts: Vec<String> = m
        .into_iter()
        .flatten()
        .map(|(k, v)| format!("{k:?}:{:?}", v.as_str().unwrap_or("")))
        .collect();
    parts.sort();
    format!("map[string]string{{{}}}", parts.join(", "))
}

/// Validates the pod template found at `path` and that its restartPolicy is one of `restart_policies`.
fn validate_template(
    template: Option<&Value>,
    path: &str,
    restart_policies: &[&str],
    errs: &mut Vec<FieldError>,
) {
    let Some(template) = template else {
        errs.push(FieldError::required(path.to_string(), ""));
        return;
    };
    if let Some(labels) = template.pointer("/metadata/labels").and_then(Value::as_object) {
        errs.extend(validate_labels(labels, &format!("{path}.metadata.labels")));
    }
    let spec_path = format!("{path}.spec");
    match template.get("spec") {
        Some(spec) => {
            validate_pod_spec(spec, &spec_path, errs);
            match spec.get("restartPolicy").and_then(Value::as_str) {
                Some(p) if !restart_policies.contains(&p) => {
                    errs.push(FieldError::not_supported(
                        format!("{spec_path}.restartPolicy"),
                        json!(p),
                        &supported(restart_policies),
                    ));
                }
                None if !restart_policies.contains(&"Always") => {
                    let quoted: Vec<String> = restart_policies.iter().map(|p| format!("{p:?}")).collect();
                    errs.push(FieldError::required(
                        format!("{spec_path}.restartPolicy"),
                        format!("valid values: {}", quoted.join(", ")),
                    ));
                }
                _ => {}
            }
        }
        None => errs.push(FieldError::required(spec_path, "")),
    }
}

/// `selector` (a metav1.LabelSelector) must be present, non-empty and match the template `labels`.
fn validate_selector_matches(
    selector: Option<&Value>,
    labels: Option<&Map<String, Value>>,
    selector_path: &str,
    labels_path: &str,
    empty_msg: &str,
    errs: &mut Vec<FieldError>,
) {
    match selector {
        None | Some(Value::Null) => errs.push(FieldError::required(selector_path.to_string(), "")),
        Some(sel) => match LabelSelector::from_label_selector(sel) {
            Err(e) => errs.push(FieldError::invalid(
                selector_path.to_string(),
                sel.clone(),
                e.to_string(),
            )),
            Ok(s) if s.is_empty() => errs.push(FieldError::invalid(
                selector_path.to_string(),
                json!("{}"),
                empty_msg,
            )),
            Ok(s) => {
                let empty = Map::new();
                if !s.matches(labels.unwrap_or(&empty)) {
                    errs.push(FieldError::invalid(
                        labels_path.to_string(),
                        Value::String(go_string_map(labels)),
                        "`selector` does not match template `labels`",
                    ));
                }
            }
        },
    }
}

fn template_labels(template: Option<&Value>) -> Option<&Map<String, Value>> {
    template
        .and_then(|t| t.pointer("/metadata/labels"))
        .and_then(Value::as_object)
}

fn validate_workload(kind: &str, obj: &Value, errs: &mut Vec<FieldError>) {
    let template = obj.pointer("/spec/template");
    validate_selector_matches(
        obj.pointer("/spec/selector"),
        template_labels(template),
        "spec.selector",
        "spec.template.metadata.labels",
        &format!("empty selector is invalid for {}", kind.to_ascii_lowercase()),
        errs,
    );
    if let Some(r) = obj.pointer("/spec/replicas")
        && r.as_i64().is_none_or(|r| r < 0)
    {
        errs.push(FieldError::invalid(
            "spec.replicas",
            r.clone(),
            "must be greater than or equal to 0",
        ));
    }
    if kind == "Deployment"
        && let Some(t) = obj.pointer("/spec/strategy/type").and_then(Value::as_str)
        && !["Recreate", "RollingUpdate"].contains(&t)
    {
        errs.push(FieldError::not_supported(
            "spec.strategy.type",
            json!(t),
            &supported(&["Recreate", "RollingUpdate"]),
        ));
    }
    validate_template(template, "spec.template", &["Always"], errs);
}

fn validate_job_spec(spec: Option<&Value>, path: &str, errs: &mut Vec<FieldError>) {
    let Some(spec) = spec else {
        errs.push(FieldError::required(path.to_string(), ""));
        return;
    };
    for f in [
        "parallelism",
        "completions",
        "backoffLimit",
        "activeDeadlineSeconds",
    ] {
        if let Some(v) = spec.get(f).filter(|v| !v.is_null())
            && v.as_i64().is_none_or(|n| n < 0)
        {
            errs.push(FieldError::invalid(
                format!("{path}.{f}"),
                v.clone(),
                "must be greater than or equal to 0",
            ));
        }
    }
    let template = spec.get("template");
    // Without manualSelector the server generates the selector (see `defaults::generate_job_selector`).
    if spec.get("manualSelector").and_then(Value::as_bool) == Some(true) || spec.get("selector").is_some() {
        validate_selector_matches(
            spec.get("selector"),
            template_labels(template),
            &format!("{path}.selector"),
            &format!("{path}.template.metadata.labels"),
            "empty selector is invalid for job",
            errs,
        );
    }
    validate_template(
        template,
        &format!("{path}.template"),
        &["OnFailure", "Never"],
        errs,
    );
}

fn validate_service(spec: Option<&Value>, errs: &mut Vec<FieldError>) {
    let Some(spec) = spec else {
        errs.push(FieldError::required("spec", ""));
        return;
    };
    let ty = spec.get("type").and_then(Value::as_str).unwrap_or("ClusterIP");
    let types = ["ClusterIP", "ExternalName", "LoadBalancer", "NodePort"];
    if !types.contains(&ty) {
        errs.push(FieldError::not_supported(
            "spec.type",
            json!(ty),
            &supported(&types),
        ));
    }
    let headless = spec.get("clusterIP").and_then(Value::as_str) == Some("None");
    let ports = spec.get("ports").and_then(Value::as_array);
    if ty == "ExternalName" {
        if spec
            .get("externalName")
            .and_then(Value::as_str)
            .is_none_or(str::is_empty)
        {
            errs.push(FieldError::required("spec.externalName", ""));
        }
    } else if ports.is_none_or(Vec::is_empty) && !headless {
        errs.push(FieldError::required("spec.ports", ""));
    }
    let ports = ports.map(Vec::as_slice).unwrap_or(&[]);
    let mut seen: Vec<(i64, String)> = Vec::new();
    let mut names: Vec<&str> = Vec::new();
    for (i, p) in ports.iter().enumerate() {
        let pp = format!("spec.ports[{i}]");
        let name = p.get("name").and_then(Value::as_str).unwrap_or("");
        if ports.len() > 1 && name.is_empty() {
            errs.push(FieldError::required(format!("{pp}.name"), ""));
        } else if !name.is_empty() {
            if names.contains(&name) {
                errs.push(FieldError::new(
                    format!("{pp}.name"),
                    FieldErrorType::Duplicate,
                    Some(json!(name)),
                    "",
                ));
            }
            names.push(name);
        }
        match p.get("port") {
            None | Some(Value::Null) => errs.push(FieldError::required(format!("{pp}.port"), "")),
            Some(v) => port_range(format!("{pp}.port"), v, errs),
        }
        let proto = p
            .get("protocol")
            .and_then(Value::as_str)
            .unwrap_or("TCP")
            .to_string();
        if !["SCTP", "TCP", "UDP"].contains(&proto.as_str()) {
            errs.push(FieldError::not_supported(
                format!("{pp}.protocol"),
                json!(proto),
                &supported(&["SCTP", "TCP", "UDP"]),
            ));
        }
        if let Some(port) = p.get("port").and_then(Value::as_i64) {
            let key = (port, proto);
            if seen.contains(&key) {
                errs.push(FieldError::new(
                    pp.clone(),
                    FieldErrorType::Duplicate,
                    Some(json!(format!("{}/{}", key.0, key.1))),
                    "",
                ));
            }
            seen.push(key);
        }
        if let Some(tp) = p.get("targetPort") {
            match tp {
                Value::Number(_) => port_range(format!("{pp}.targetPort"), tp, errs),
                Value::String(s) if s.is_empty() || s.len() > 15 => {
                    errs.push(FieldError::invalid(
                        format!("{pp}.targetPort"),
                        tp.clone(),
                        "must contain at most 15 characters",
                    ));
                }
                _ => {}
            }
        }
        if ty == "ClusterIP"
            && p.get("nodePort")
                .is_some_and(|v| !v.is_null() && v.as_i64() != Some(0))
        {
            errs.push(FieldError::forbidden(
                format!("{pp}.nodePort"),
                "may not be used when `type` is 'ClusterIP'",
            ));
        }
    }
}

const CONFIG_KEY_MSG: &str = "a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')";

fn validate_config_keys(obj: &Value, fields: &[&str], errs: &mut Vec<FieldError>) {
    let mut seen: Vec<&str> = Vec::new();
    for f in fields {
        for k in obj
            .get(*f)
            .and_then(Value::as_object)
            .into_iter()
            .flat_map(Map::keys)
        {
            let ok = !k.is_empty()
                && k.len() <= 253
                && k.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
                && k != "."
                && k != "..";
            if !ok {
                errs.push(FieldError::invalid(format!("{f}[{k}]"), json!(k), CONFIG_KEY_MSG));
            }
            // A Secret's stringData overrides data by design; only ConfigMaps forbid overlaps.
            if seen.contains(&k.as_str()) && *f == "binaryData" {
                errs.push(FieldError::invalid(
                    format!("{f}[{k}]"),
                    json!(k),
                    "duplicate of key present in data",
                ));
            }
            seen.push(k);
        }
    }
}

fn validate_ingress(spec: Option<&Value>, errs: &mut Vec<FieldError>) {
    let Some(spec) = spec else { return };
    for (i, rule) in spec
        .get("rules")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
    {
        let paths = rule.pointer("/http/paths").and_then(Value::as_array);
        for (j, p) in paths.into_iter().flatten().enumerate() {
            let pp = format!("spec.rules[{i}].http.paths[{j}]");
            match p.get("pathType").and_then(Value::as_str) {
                None => errs.push(FieldError::required(
                    format!("{pp}.pathType"),
                    "pathType must be specified",
                )),
                Some(t) if !["Exact", "ImplementationSpecific", "Prefix"].contains(&t) => {
                    errs.push(FieldError::not_supported(
                        format!("{pp}.pathType"),
                        json!(t),
                        &supported(&["Exact", "ImplementationSpecific", "Prefix"]),
                    ));
                }
                Some(_) => {}
            }
            if p.get("backend").is_none() {
                errs.push(FieldError::required(format!("{pp}.backend"), ""));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::defaults::apply_defaults;

    fn errors(group: &str, kind: &str, mut obj: Value) -> Vec<String> {
        apply_defaults(group, "v1", kind, &mut obj);
        validate_builtin(group, kind, &obj)
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    fn deployment(selector: Value, labels: Value, containers: Value) -> Value {
        json!({"metadata": {"name": "web"}, "spec": {"selector": selector, "template": {"metadata": {"labels": labels}, "spec": {"containers": containers}}}})
    }

    #[test]
    fn valid_objects_pass() {
        let cases = [
            (
                "",
                "Pod",
                json!({"metadata": {"name": "p"}, "spec": {"containers": [{"name": "c", "image": "nginx", "ports": [{"containerPort": 80}]}]}}),
            ),
            (
                "apps",
                "Deployment",
                deployment(
                    json!({"matchLabels": {"app": "w"}}),
                    json!({"app": "w"}),
                    json!([{"name": "c", "image": "i"}]),
                ),
            ),
            (
                "batch",
                "Job",
                json!({"metadata": {"name": "j"}, "spec": {"template": {"spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "i"}]}}}}),
            ),
            (
                "",
                "Service",
                json!({"metadata": {"name": "s"}, "spec": {"ports": [{"port": 80, "name": "http"}, {"port": 443, "name": "https"}]}}),
            ),
            (
                "",
                "Service",
                json!({"metadata": {"name": "h"}, "spec": {"clusterIP": "None"}}),
            ),
            (
                "",
                "ConfigMap",
                json!({"metadata": {"name": "c"}, "data": {"app.properties": "x", "KEY_1": "y"}}),
            ),
            ("apps.kruise.io", "CloneSet", json!({"metadata": {"name": "x"}})),
        ];
        for (g, k, obj) in cases {
            assert_eq!(errors(g, k, obj), Vec::<String>::new(), "{k}");
        }
    }

    #[test]
    fn invalid_objects_get_kubernetes_messages() {
        let cases: Vec<(&str, &str, Value, &str)> = vec![
            (
                "",
                "Pod",
                json!({"metadata": {"name": "p"}, "spec": {"containers": []}}),
                "spec.containers: Required value",
            ),
            (
                "",
                "Pod",
                json!({"metadata": {"name": "p"}, "spec": {"containers": [{"name": "c"}]}}),
                "spec.containers[0].image: Required value",
            ),
            (
                "",
                "Pod",
                json!({"metadata": {"name": "p"}, "spec": {"containers": [{"name": "c", "image": "i"}, {"name": "c", "image": "i"}]}}),
                "spec.containers[1].name: Duplicate value: \"c\"",
            ),
            (
                "",
                "Pod",
                json!({"metadata": {"name": "p"}, "spec": {"containers": [{"name": "C_1", "image": "i"}]}}),
                "spec.containers[0].name: Invalid value: \"C_1\": a lowercase RFC 1123 label",
            ),
            (
                "",
                "Pod",
                json!({"metadata": {"name": "p"}, "spec": {"containers": [{"name": "c", "image": "i", "ports": [{"containerPort": 70000}]}]}}),
                "spec.containers[0].ports[0].containerPort: Invalid value: 70000: must be between 1 and 65535, inclusive",
            ),
            (
                "",
                "Pod",
                json!({"metadata": {"name": "p"}, "spec": {"restartPolicy": "Sometimes", "containers": [{"name": "c", "image": "i"}]}}),
                "spec.restartPolicy: Unsupported value: \"Sometimes\": supported values: \"Always\", \"OnFailure\", \"Never\"",
            ),
            (
                "",
                "Pod",
                json!({"metadata": {"name": "p"}, "spec": {"containers": [{"name": "c", "image": "i", "volumeMounts": [{"name": "v", "mountPath": "/x"}]}]}}),
                "spec.containers[0].volumeMounts[0].name: Not found: \"v\"",
            ),
            (
                "",
                "Pod",
                json!({"metadata": {"name": "Bad"}, "spec": {"containers": [{"name": "c", "image": "i"}]}}),
                "metadata.name: Invalid value: \"Bad\"",
            ),
            (
                "apps",
                "Deployment",
                deployment(
                    json!({"matchLabels": {"app": "w"}}),
                    json!({"app": "x"}),
                    json!([{"name": "c", "image": "i"}]),
                ),
                "spec.template.metadata.labels: Invalid value: \"map[string]string{\\\"app\\\":\\\"x\\\"}\": `selector` does not match template `labels`",
            ),
            (
                "apps",
                "Deployment",
                deployment(
                    json!({}),
                    json!({"app": "x"}),
                    json!([{"name": "c", "image": "i"}]),
                ),
                "spec.selector: Invalid value: \"{}\": empty selector is invalid for deployment",
            ),
            (
                "apps",
                "Deployment",
                json!({"metadata": {"name": "d"}, "spec": {"template": {"spec": {"containers": [{"name": "c", "image": "i"}]}}}}),
                "spec.selector: Required value",
            ),
            (
                "batch",
                "Job",
                json!({"metadata": {"name": "j"}, "spec": {"template": {"spec": {"containers": [{"name": "c", "image": "i"}]}}}}),
                "spec.template.spec.restartPolicy: Unsupported value: \"Always\": supported values: \"OnFailure\", \"Never\"",
            ),
            (
                "batch",
                "Job",
                json!({"metadata": {"name": "j"}, "spec": {"manualSelector": true, "selector": {"matchLabels": {"a": "b"}},
                "template": {"spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "i"}]}}}}),
                "spec.template.metadata.labels: Invalid value: \"map[string]string{}\": `selector` does not match template `labels`",
            ),
            (
                "batch",
                "CronJob",
                json!({"metadata": {"name": "cj"}, "spec": {"schedule": "* * * * *", "jobTemplate": {"spec": {"template": {"spec": {"containers": [{"name": "c", "image": "i"}]}}}}}}),
                "spec.jobTemplate.spec.template.spec.restartPolicy: Unsupported value: \"Always\"",
            ),
            (
                "batch",
                "CronJob",
                json!({"metadata": {"name": "cj"}, "spec": {"jobTemplate": {"spec": {"template": {"spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "i"}]}}}}}}),
                "spec.schedule: Required value",
            ),
            (
                "",
                "Service",
                json!({"metadata": {"name": "s"}, "spec": {}}),
                "spec.ports: Required value",
            ),
            (
                "",
                "Service",
                json!({"metadata": {"name": "s"}, "spec": {"ports": [{"port": 0}]}}),
                "spec.ports[0].port: Invalid value: 0: must be between 1 and 65535, inclusive",
            ),
            (
                "",
                "Service",
                json!({"metadata": {"name": "s"}, "spec": {"ports": [{"port": 80, "name": "a"}, {"port": 81}]}}),
                "spec.ports[1].name: Required value",
            ),
            (
                "",
                "Service",
                json!({"metadata": {"name": "s"}, "spec": {"type": "Magic", "ports": [{"port": 80}]}}),
                "spec.type: Unsupported value: \"Magic\"",
            ),
            (
                "",
                "Service",
                json!({"metadata": {"name": "1svc"}, "spec": {"ports": [{"port": 80}]}}),
                "metadata.name: Invalid value: \"1svc\": a DNS-1035 label",
            ),
            (
                "",
                "ConfigMap",
                json!({"metadata": {"name": "c"}, "data": {"bad key": "x"}}),
                "data[bad key]: Invalid value: \"bad key\": a valid config key must consist of alphanumeric characters",
            ),
            (
                "",
                "ConfigMap",
                json!({"metadata": {"name": "c", "labels": {"a": "-bad"}}}),
                "metadata.labels[a]: Invalid value: \"-bad\"",
            ),
            (
                "networking.k8s.io",
                "Ingress",
                json!({"metadata": {"name": "i"}, "spec": {"rules": [{"http": {"paths": [{"path": "/", "backend": {}}]}}]}}),
                "spec.rules[0].http.paths[0].pathType: Required value: pathType must be specified",
            ),
        ];
        for (g, k, obj, want) in cases {
            let got = errors(g, k, obj.clone());
            assert!(
                got.iter().any(|e| e.starts_with(want)),
                "{k} {obj}: want {want:?}, got {got:?}"
            );
        }
    }

    #[test]
    fn garbage_does_not_panic() {
        for (g, k) in [
            ("", "Pod"),
            ("apps", "Deployment"),
            ("batch", "Job"),
            ("batch", "CronJob"),
            ("", "Service"),
            ("", "ConfigMap"),
            ("networking.k8s.io", "Ingress"),
        ] {
            for v in [
                json!(null),
                json!({"spec": 3}),
                json!({"spec": {"containers": "x", "ports": 1, "template": []}}),
                json!([1]),
            ] {
                let _ = validate_builtin(g, k, &v);
            }
        }
    }
}
