//! Built-in defaulting for the common fields, as kube-apiserver does, so diffs behave as on a real
//! cluster. (ferry-apimachinery does not provide defaulting yet; this is the server's own table.)

use serde_json::{Map, Value, json};

fn obj_mut<'a>(v: &'a mut Value, key: &str) -> Option<&'a mut Map<String, Value>> {
    let m = v.as_object_mut()?;
    m.entry(key.to_string()).or_insert_with(|| json!({}));
    m.get_mut(key)?.as_object_mut()
}

fn set_default(m: &mut Map<String, Value>, key: &str, value: Value) {
    m.entry(key.to_string()).or_insert(value);
}

/// `imagePullPolicy` from the image tag: `Always` for `:latest` or no tag, else `IfNotPresent`.
pub fn pull_policy_for(image: &str) -> &'static str {
    let without_digest = image.split('@').next().unwrap_or(image);
    let last = without_digest.rsplit('/').next().unwrap_or(without_digest);
    match last.rsplit_once(':') {
        Some((_, tag)) if tag != "latest" => "IfNotPresent",
        _ if image.contains('@') => "IfNotPresent",
        _ => "Always",
    }
}

fn default_container(c: &mut Value) {
    let Some(m) = c.as_object_mut() else { return };
    set_default(m, "terminationMessagePath", json!("/dev/termination-log"));
    set_default(m, "terminationMessagePolicy", json!("File"));
    if let Some(image) = m.get("image").and_then(Value::as_str).map(str::to_string) {
        set_default(m, "imagePullPolicy", json!(pull_policy_for(&image)));
    }
    if let Some(ports) = m.get_mut("ports").and_then(Value::as_array_mut) {
        for p in ports.iter_mut().filter_map(Value::as_object_mut) {
            set_default(p, "protocol", json!("TCP"));
        }
    }
    set_default(m, "resources", json!({}));
}

/// Pod spec defaults (also used for templates in workload kinds).
pub fn default_pod_spec(spec: &mut Value) {
    let Some(m) = spec.as_object_mut() else { return };
    set_default(m, "restartPolicy", json!("Always"));
    set_default(m, "dnsPolicy", json!("ClusterFirst"));
    set_default(m, "schedulerName", json!("default-scheduler"));
    set_default(m, "terminationGracePeriodSeconds", json!(30));
    set_default(m, "securityContext", json!({}));
    for field in ["containers", "initContainers"] {
        if let Some(list) = m.get_mut(field).and_then(Value::as_array_mut) {
            list.iter_mut().for_each(default_container);
        }
    }
}

fn default_template(obj: &mut Value) {
    if let Some(spec) = obj.pointer_mut("/spec/template/spec") {
        default_pod_spec(spec);
    }
}

/// Applies the defaults of `group`/`kind` to `obj`. `allocate_ip` hands out ClusterIPs.
pub fn apply_builtin_defaults(
    group: &str,
    kind: &str,
    obj: &mut Value,
    allocate_ip: &mut dyn FnMut() -> String,
) {
    match (group, kind) {
        ("", "Pod") => {
            if let Some(spec) = obj.get_mut("spec") {
                default_pod_spec(spec);
                if let Some(m) = spec.as_object_mut() {
                    set_default(m, "enableServiceLinks", json!(true));
                    set_default(m, "preemptionPolicy", json!("PreemptLowerPriority"));
                    set_default(m, "priority", json!(0));
                    set_default(m, "serviceAccountName", json!("default"));
                }
            }
        }
        ("", "Service") => {
            let Some(spec) = obj_mut(obj, "spec") else { return };
            set_default(spec, "type", json!("ClusterIP"));
            set_default(spec, "sessionAffinity", json!("None"));
            let headless = spec.get("clusterIP").and_then(Value::as_str) == Some("None");
            let external = spec.get("type").and_then(Value::as_str) == Some("ExternalName");
            if !external && !spec.contains_key("clusterIP") {
                spec.insert("clusterIP".into(), json!(allocate_ip()));
            }
            if !external && let Some(ip) = spec.get("clusterIP").cloned() {
                set_default(spec, "clusterIPs", json!([ip]));
                set_default(spec, "ipFamilies", json!(["IPv4"]));
                set_default(spec, "ipFamilyPolicy", json!("SingleStack"));
                set_default(spec, "internalTrafficPolicy", json!("Cluster"));
            }
            let _ = headless;
            if let Some(ports) = spec.get_mut("ports").and_then(Value::as_array_mut) {
                for p in ports.iter_mut().filter_map(Value::as_object_mut) {
                    set_default(p, "protocol", json!("TCP"));
                    if let Some(port) = p.get("port").cloned() {
                        set_default(p, "targetPort", port);
                    }
                }
            }
        }
        ("apps", "Deployment") => {
            if let Some(spec) = obj_mut(obj, "spec") {
                set_default(spec, "replicas", json!(1));
                set_default(spec, "revisionHistoryLimit", json!(10));
                set_default(spec, "progressDeadlineSeconds", json!(600));
                set_default(
                    spec,
                    "strategy",
                    json!({"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"}}),
                );
            }
            default_template(obj);
        }
        ("apps", "ReplicaSet") | ("apps", "StatefulSet") | ("apps", "DaemonSet") => {
            if kind != "DaemonSet"
                && let Some(spec) = obj_mut(obj, "spec")
            {
                set_default(spec, "replicas", json!(1));
            }
            if kind == "StatefulSet"
                && let Some(spec) = obj_mut(obj, "spec")
            {
                set_default(spec, "podManagementPolicy", json!("OrderedReady"));
                set_default(spec, "revisionHistoryLimit", json!(10));
                set_default(
                    spec,
                    "updateStrategy",
                    json!({"type": "RollingUpdate", "rollingUpdate": {"partition": 0}}),
                );
            }
            default_template(obj);
        }
        ("batch", "Job") => {
            if let Some(spec) = obj_mut(obj, "spec") {
                set_default(spec, "backoffLimit", json!(6));
                set_default(spec, "completionMode", json!("NonIndexed"));
                set_default(spec, "suspend", json!(false));
            }
            if let Some(spec) = obj.pointer_mut("/spec/template/spec") {
                if let Some(m) = spec.as_object_mut() {
                    set_default(m, "restartPolicy", json!("Never"));
                }
                default_pod_spec(spec);
            }
        }
        ("", "Secret") => {
            if let Some(m) = obj.as_object_mut() {
                // Protobuf clients send an empty type, which means Opaque too.
                if m.get("type").and_then(Value::as_str).is_none_or(str::is_empty) {
                    m.insert("type".into(), json!("Opaque"));
                }
            }
        }
        ("", "Namespace") => {
            if let Some(spec) = obj_mut(obj, "spec") {
                set_default(spec, "finalizers", json!(["kubernetes"]));
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pull_policies() {
        for (image, want) in [
            ("nginx", "Always"),
            ("nginx:latest", "Always"),
            ("nginx:1.25", "IfNotPresent"),
            ("registry:5000/app", "Always"),
            ("registry:5000/app:v2", "IfNotPresent"),
            ("app@sha256:abc", "IfNotPresent"),
        ] {
            assert_eq!(pull_policy_for(image), want, "{image}");
        }
    }

    #[test]
    fn pod_and_service_defaults() {
        let mut pod = json!({"spec": {"containers": [{"name": "c", "image": "nginx:1", "ports": [{"containerPort": 80}]}]}});
        apply_builtin_defaults("", "Pod", &mut pod, &mut || "10.0.0.1".into());
        assert_eq!(pod["spec"]["restartPolicy"], "Always");
        assert_eq!(pod["spec"]["containers"][0]["imagePullPolicy"], "IfNotPresent");
        assert_eq!(pod["spec"]["containers"][0]["ports"][0]["protocol"], "TCP");
        assert_eq!(pod["spec"]["securityContext"], json!({}));
        let mut svc = json!({"spec": {"ports": [{"port": 80}]}});
        apply_builtin_defaults("", "Service", &mut svc, &mut || "10.96.0.10".into());
        assert_eq!(svc["spec"]["clusterIP"], "10.96.0.10");
        assert_eq!(svc["spec"]["ports"][0]["targetPort"], 80);
        assert_eq!(svc["spec"]["type"], "ClusterIP");
    }
}
