//! Built-in defaulting, as kube-apiserver's `SetDefaults_*` functions (plus the default
//! admission plugins whose effect shows on every Pod: priority, default tolerations,
//! service account) fill the common fields.
//!
//! Entry points: [`apply_defaults`] for any built-in object, and [`set_service_cluster_ip`]
//! for the Service fields that depend on the IP the server allocates. Fields already set are
//! never changed; values of the wrong JSON type are left for validation to report.

use serde_json::{Map, Value, json};

fn obj_mut<'v>(v: &'v mut Value, key: &str) -> Option<&'v mut Map<String, Value>> {
    let Value::Object(m) = v else { return None };
    let child = m.entry(key.to_string()).or_insert_with(|| json!({}));
    child.as_object_mut()
}

fn existing_obj_mut<'v>(v: &'v mut Value, key: &str) -> Option<&'v mut Map<String, Value>> {
    v.get_mut(key).and_then(Value::as_object_mut)
}

fn set_default(m: &mut Map<String, Value>, key: &str, value: Value) {
    if m.get(key).is_none_or(Value::is_null) {
        m.insert(key.to_string(), value);
    }
}

fn each_object_in(m: &mut Map<String, Value>, key: &str, f: impl Fn(&mut Map<String, Value>)) {
    if let Some(Value::Array(items)) = m.get_mut(key) {
        for item in items.iter_mut() {
            if let Value::Object(im) = item {
                f(im);
            }
        }
    }
}

/// Fills defaults of a built-in object of `group`/`version`/`kind` in place. Unknown kinds
/// (custom resources) are left unchanged: their defaults come from their schema.
pub fn apply_defaults(group: &str, version: &str, kind: &str, obj: &mut Value) {
    if !obj.is_object() {
        return;
    }
    match (group, version, kind) {
        ("", "v1", "Pod") => default_pod(obj),
        ("", "v1", "PodTemplate") => {
            if let Some(t) = obj.get_mut("template") {
                default_pod_template(t);
            }
        }
        ("", "v1", "ReplicationController") => {
            if let Some(spec) = obj_mut(obj, "spec") {
                set_default(spec, "replicas", json!(1));
            }
            template_of(obj, &["spec", "template"]).map(default_pod_template);
        }
        ("", "v1", "Service") => default_service(obj),
        ("", "v1", "Secret") => {
            // SetDefaults_Secret: an empty type (as protobuf clients send) is Opaque too.
            if let Value::Object(m) = obj
                && m.get("type").and_then(Value::as_str).is_none_or(str::is_empty)
            {
                m.insert("type".into(), json!("Opaque"));
            }
        }
        ("", "v1", "Namespace") => default_namespace(obj),
        ("", "v1", "PersistentVolumeClaim") => {
            if let Some(spec) = obj_mut(obj, "spec") {
                set_default(spec, "volumeMode", json!("Filesystem"));
            }
        }
        ("", "v1", "Endpoints") => {
            if let Some(Value::Array(subsets)) = obj.get_mut("subsets") {
                for s in subsets.iter_mut().filter_map(Value::as_object_mut) {
                    each_object_in(s, "ports", |p| set_default(p, "protocol", json!("TCP")));
                }
            }
        }
        ("apps", "v1", "Deployment") => default_deployment(obj),
        ("apps", "v1", "ReplicaSet") => {
            if let Some(spec) = obj_mut(obj, "spec") {
                set_default(spec, "replicas", json!(1));
            }
            template_of(obj, &["spec", "template"]).map(default_pod_template);
        }
        ("apps", "v1", "StatefulSet") => default_statefulset(obj),
        ("apps", "v1", "DaemonSet") => default_daemonset(obj),
        ("batch", "v1", "Job") => default_job(obj),
        ("batch", "v1", "CronJob") => default_cronjob(obj),
        _ => {}
    }
}

fn template_of<'v>(obj: &'v mut Value, path: &[&str]) -> Option<&'v mut Value> {
    let mut cur = obj;
    for p in path {
        cur = cur.get_mut(*p)?;
    }
    cur.is_object().then_some(cur)
}

/// `Always` for `:latest` or untagged images, `IfNotPresent` otherwise (digests count as pinned).
pub fn default_image_pull_policy(image: &str) -> &'static str {
    if image.contains('@') {
        return "IfNotPresent";
    }
    let last = image.rsplit('/').next().unwrap_or(image);
    match last.split_once(':') {
        Some((_, tag)) if tag != "latest" => "IfNotPresent",
        _ => "Always",
    }
}

fn default_probe(p: &mut Map<String, Value>) {
    set_default(p, "timeoutSeconds", json!(1));
    set_default(p, "periodSeconds", json!(10));
    set_default(p, "successThreshold", json!(1));
    set_default(p, "failureThreshold", json!(3));
    if let Some(Value::Object(h)) = p.get_mut("httpGet") {
        set_default(h, "path", json!("/"));
        set_default(h, "scheme", json!("HTTP"));
    }
}

fn default_container(c: &mut Map<String, Value>) {
    set_default(c, "terminationMessagePath", json!("/dev/termination-log"));
    set_default(c, "terminationMessagePolicy", json!("File"));
    if let Some(image) = c.get("image").and_then(Value::as_str) {
        let policy = default_image_pull_policy(image);
        set_default(c, "imagePullPolicy", json!(policy));
    }
    set_default(c, "resources", json!({}));
    each_object_in(c, "ports", |p| set_default(p, "protocol", json!("TCP")));
    for probe in ["livenessProbe", "readinessProbe", "startupProbe"] {
        if let Some(Value::Object(p)) = c.get_mut(probe) {
            default_probe(p);
        }
    }
    each_object_in(c, "env", |e| {
        if let Some(Value::Object(fr)) = e.get_mut("valueFrom").and_then(|v| v.get_mut("fieldRef")) {
            set_default(fr, "apiVersion", json!("v1"));
        }
    });
}

fn default_volume(v: &mut Map<String, Value>) {
    for (source, mode_key) in [
        ("secret", "defaultMode"),
        ("configMap", "defaultMode"),
        ("projected", "defaultMode"),
        ("downwardAPI", "defaultMode"),
    ] {
        if let Some(Value::Object(s)) = v.get_mut(source) {
            set_default(s, mode_key, json!(420));
        }
    }
    if let Some(Value::Object(h)) = v.get_mut("hostPath") {
        set_default(h, "type", json!(""));
    }
}

/// Defaults of a PodSpec (used for Pods and every pod template).
pub fn default_pod_spec(spec: &mut Map<String, Value>) {
    set_default(spec, "restartPolicy", json!("Always"));
    set_default(spec, "dnsPolicy", json!("ClusterFirst"));
    set_default(spec, "terminationGracePeriodSeconds", json!(30));
    set_default(spec, "securityContext", json!({}));
    set_default(spec, "schedulerName", json!("default-scheduler"));
    each_object_in(spec, "containers", default_container);
    each_object_in(spec, "initContainers", default_container);
    each_object_in(spec, "volumes", default_volume);
}

fn default_pod_template(template: &mut Value) {
    if let Some(spec) = existing_obj_mut(template, "spec") {
        default_pod_spec(spec);
    }
}

fn default_pod(pod: &mut Value) {
    let Some(spec) = obj_mut(pod, "spec") else { return };
    default_pod_spec(spec);
    set_default(spec, "enableServiceLinks", json!(true));
    // Effects of the default admission chain on Pods.
    set_default(spec, "serviceAccountName", json!("default"));
    set_default(
        spec,
        "serviceAccount",
        spec.get("serviceAccountName")
            .cloned()
            .unwrap_or(json!("default")),
    );
    set_default(spec, "priority", json!(0));
    set_default(spec, "preemptionPolicy", json!("PreemptLowerPriority"));
    // Requests default to limits for Pods.
    for list in ["containers", "initContainers"] {
        each_object_in(spec, list, |c| {
            if let Some(Value::Object(res)) = c.get_mut("resources")
                && let Some(Value::Object(limits)) = res.get("limits").cloned()
            {
                let requests = res.entry("requests").or_insert_with(|| json!({}));
                if let Value::Object(req) = requests {
                    for (k, v) in limits {
                        req.entry(k).or_insert(v);
                    }
                }
            }
        });
    }
    let tolerations = spec.entry("tolerations").or_insert_with(|| json!([]));
    if let Value::Array(ts) = tolerations {
        for key in ["node.kubernetes.io/not-ready", "node.kubernetes.io/unreachable"] {
            let present = ts.iter().any(|t| {
                let k = t.get("key").and_then(Value::as_str);
                let effect = t.get("effect").and_then(Value::as_str);
                (k == Some(key)
                    || (k.is_none() && t.get("operator").and_then(Value::as_str) == Some("Exists")))
                    && (effect.is_none() || effect == Some("NoExecute"))
            });
            if !present {
                ts.push(json!({"key": key, "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300}));
            }
        }
    }
}

fn default_service(svc: &mut Value) {
    let Some(spec) = obj_mut(svc, "spec") else { return };
    set_default(spec, "type", json!("ClusterIP"));
    set_default(spec, "sessionAffinity", json!("None"));
    let ty = spec
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or("ClusterIP")
        .to_string();
    if ty == "ExternalName" {
        return;
    }
    each_object_in(spec, "ports", |p| {
        set_default(p, "protocol", json!("TCP"));
        if let Some(port) = p.get("port").cloned() {
            set_default(p, "targetPort", port);
        }
    });
    set_default(spec, "internalTrafficPolicy", json!("Cluster"));
    if ty == "NodePort" || ty == "LoadBalancer" {
        set_default(spec, "externalTrafficPolicy", json!("Cluster"));
    }
    if ty == "LoadBalancer" {
        set_default(spec, "allocateLoadBalancerNodePorts", json!(true));
    }
    if spec.get("clusterIP").and_then(Value::as_str) == Some("None") {
        set_default(spec, "clusterIPs", json!(["None"]));
        set_default(spec, "ipFamilies", json!(["IPv4"]));
        set_default(spec, "ipFamilyPolicy", json!("SingleStack"));
    }
}

/// Whether the server must allocate a cluster IP for this Service (no `clusterIP` yet,
/// not headless, not ExternalName).
pub fn service_needs_cluster_ip(svc: &Value) -> bool {
    let ty = svc
        .pointer("/spec/type")
        .and_then(Value::as_str)
        .unwrap_or("ClusterIP");
    let ip = svc
        .pointer("/spec/clusterIP")
        .and_then(Value::as_str)
        .unwrap_or("");
    ty != "ExternalName" && ip.is_empty()
}

/// Records an allocated IPv4 cluster IP: `clusterIP`, `clusterIPs`, `ipFamilies: [IPv4]`,
/// `ipFamilyPolicy: SingleStack` (each only if unset).
pub fn set_service_cluster_ip(svc: &mut Value, ip: &str) {
    let Some(spec) = obj_mut(svc, "spec") else { return };
    let current = spec.get("clusterIP").and_then(Value::as_str).unwrap_or("");
    if current.is_empty() {
        spec.insert("clusterIP".into(), json!(ip));
    }
    let ip = spec.get("clusterIP").cloned().unwrap_or(json!(ip));
    set_default(spec, "clusterIPs", json!([ip]));
    set_default(spec, "ipFamilies", json!(["IPv4"]));
    set_default(spec, "ipFamilyPolicy", json!("SingleStack"));
}

fn default_namespace(ns: &mut Value) {
    let name = ns
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .map(str::to_string);
    if let (Some(name), Some(md)) = (name, obj_mut(ns, "metadata")) {
        let labels = md.entry("labels").or_insert_with(|| json!({}));
        if let Value::Object(l) = labels {
            l.insert("kubernetes.io/metadata.name".into(), json!(name));
        }
    }
    if let Some(spec) = obj_mut(ns, "spec") {
        set_default(spec, "finalizers", json!(["kubernetes"]));
    }
    if let Some(status) = obj_mut(ns, "status") {
        set_default(status, "phase", json!("Active"));
    }
}

fn default_deployment(d: &mut Value) {
    if let Some(spec) = obj_mut(d, "spec") {
        set_default(spec, "replicas", json!(1));
        set_default(spec, "revisionHistoryLimit", json!(10));
        set_default(spec, "progressDeadlineSeconds", json!(600));
        let strategy = spec.entry("strategy").or_insert_with(|| json!({}));
        if let Value::Object(st) = strategy {
            set_default(st, "type", json!("RollingUpdate"));
            if st.get("type").and_then(Value::as_str) == Some("RollingUpdate") {
                let ru = st.entry("rollingUpdate").or_insert_with(|| json!({}));
                if let Value::Object(ru) = ru {
                    set_default(ru, "maxUnavailable", json!("25%"));
                    set_default(ru, "maxSurge", json!("25%"));
                }
            }
        }
    }
    template_of(d, &["spec", "template"]).map(default_pod_template);
}

fn default_statefulset(s: &mut Value) {
    if let Some(spec) = obj_mut(s, "spec") {
        set_default(spec, "replicas", json!(1));
        set_default(spec, "podManagementPolicy", json!("OrderedReady"));
        set_default(spec, "revisionHistoryLimit", json!(10));
        set_default(
            spec,
            "persistentVolumeClaimRetentionPolicy",
            json!({"whenDeleted": "Retain", "whenScaled": "Retain"}),
        );
        let us = spec.entry("updateStrategy").or_insert_with(|| json!({}));
        if let Value::Object(us) = us {
            set_default(us, "type", json!("RollingUpdate"));
            if us.get("type").and_then(Value::as_str) == Some("RollingUpdate") {
                let ru = us.entry("rollingUpdate").or_insert_with(|| json!({}));
                if let Value::Object(ru) = ru {
                    set_default(ru, "partition", json!(0));
                }
            }
        }
        each_object_in(spec, "volumeClaimTemplates", |pvc| {
            if let Some(Value::Object(ps)) = pvc.get_mut("spec") {
                set_default(ps, "volumeMode", json!("Filesystem"));
            }
        });
    }
    template_of(s, &["spec", "template"]).map(default_pod_template);
}

fn default_daemonset(ds: &mut Value) {
    if let Some(spec) = obj_mut(ds, "spec") {
        set_default(spec, "revisionHistoryLimit", json!(10));
        let us = spec.entry("updateStrategy").or_insert_with(|| json!({}));
        if let Value::Object(us) = us {
            set_default(us, "type", json!("RollingUpdate"));
            if us.get("type").and_then(Value::as_str) == Some("RollingUpdate") {
                let ru = us.entry("rollingUpdate").or_insert_with(|| json!({}));
                if let Value::Object(ru) = ru {
                    set_default(ru, "maxUnavailable", json!(1));
                    set_default(ru, "maxSurge", json!(0));
                }
            }
        }
    }
    template_of(ds, &["spec", "template"]).map(default_pod_template);
}

fn default_job_spec(spec: &mut Map<String, Value>) {
    let completions_set = spec.get("completions").is_some_and(|v| !v.is_null());
    let parallelism_set = spec.get("parallelism").is_some_and(|v| !v.is_null());
    if !completions_set && !parallelism_set {
        spec.insert("completions".into(), json!(1));
        spec.insert("parallelism".into(), json!(1));
    }
    set_default(spec, "parallelism", json!(1));
    set_default(spec, "backoffLimit", json!(6));
    set_default(spec, "completionMode", json!("NonIndexed"));
    set_default(spec, "suspend", json!(false));
    if spec.get("podFailurePolicy").is_none() {
        set_default(spec, "podReplacementPolicy", json!("TerminatingOrFailed"));
    }
    if spec.get("completionMode").and_then(Value::as_str) == Some("Indexed") {
        set_default(spec, "backoffLimit", json!(6));
    }
}

fn default_job(job: &mut Value) {
    if let Some(spec) = obj_mut(job, "spec") {
        default_job_spec(spec);
    }
    template_of(job, &["spec", "template"]).map(default_pod_template);
}

fn default_cronjob(cj: &mut Value) {
    if let Some(spec) = obj_mut(cj, "spec") {
        set_default(spec, "concurrencyPolicy", json!("Allow"));
        set_default(spec, "suspend", json!(false));
        set_default(spec, "successfulJobsHistoryLimit", json!(3));
        set_default(spec, "failedJobsHistoryLimit", json!(1));
    }
    template_of(cj, &["spec", "jobTemplate", "spec", "template"]).map(default_pod_template);
}

/// Job registry behaviour on create: unless `spec.manualSelector` is true, Kubernetes sets
/// `spec.selector` to `batch.kubernetes.io/controller-uid=<uid>` and adds the
/// `batch.kubernetes.io/controller-uid`, `batch.kubernetes.io/job-name` (and legacy
/// `controller-uid`, `job-name`) labels to the pod template.
pub fn generate_job_selector(job: &mut Value, uid: &str) {
    if job.pointer("/spec/manualSelector").and_then(Value::as_bool) == Some(true) {
        return;
    }
    let name = job
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    if let Some(spec) = obj_mut(job, "spec") {
        set_default(
            spec,
            "selector",
            json!({"matchLabels": {"batch.kubernetes.io/controller-uid": uid}}),
        );
    }
    let Some(template) = template_of(job, &["spec", "template"]) else {
        return;
    };
    let Some(md) = obj_mut(template, "metadata") else {
        return;
    };
    let labels = md.entry("labels").or_insert_with(|| json!({}));
    if let Value::Object(l) = labels {
        for (k, v) in [
            ("batch.kubernetes.io/controller-uid", uid),
            ("batch.kubernetes.io/job-name", name.as_str()),
            ("controller-uid", uid),
            ("job-name", name.as_str()),
        ] {
            l.entry(k).or_insert(json!(v));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn defaulted(group: &str, kind: &str, mut obj: Value) -> Value {
        apply_defaults(group, "v1", kind, &mut obj);
        obj
    }

    #[test]
    fn pull_policy_from_tag() {
        let cases = [
            ("nginx", "Always"),
            ("nginx:latest", "Always"),
            ("nginx:1.25", "IfNotPresent"),
            ("localhost:5000/nginx", "Always"),
            ("localhost:5000/nginx:v2", "IfNotPresent"),
            ("nginx@sha256:abc", "IfNotPresent"),
            ("", "Always"),
        ];
        for (image, want) in cases {
            assert_eq!(default_image_pull_policy(image), want, "{image}");
        }
    }

    #[test]
    fn pod_defaults() {
        let pod = defaulted(
            "",
            "Pod",
            json!({"spec": {"containers": [
            {"name": "a", "image": "nginx:1.25", "ports": [{"containerPort": 80}], "readinessProbe": {"httpGet": {"port": 80}},
             "resources": {"limits": {"cpu": "1"}}},
            {"name": "b", "image": "busybox", "imagePullPolicy": "Never"}
        ], "restartPolicy": "Never", "volumes": [{"name": "s", "secret": {"secretName": "x"}}]}}),
        );
        let cases = [
            ("/spec/restartPolicy", json!("Never")),
            ("/spec/dnsPolicy", json!("ClusterFirst")),
            ("/spec/schedulerName", json!("default-scheduler")),
            ("/spec/terminationGracePeriodSeconds", json!(30)),
            ("/spec/securityContext", json!({})),
            ("/spec/enableServiceLinks", json!(true)),
            ("/spec/serviceAccountName", json!("default")),
            ("/spec/priority", json!(0)),
            (
                "/spec/containers/0/terminationMessagePath",
                json!("/dev/termination-log"),
            ),
            ("/spec/containers/0/terminationMessagePolicy", json!("File")),
            ("/spec/containers/0/imagePullPolicy", json!("IfNotPresent")),
            ("/spec/containers/0/ports/0/protocol", json!("TCP")),
            ("/spec/containers/0/readinessProbe/periodSeconds", json!(10)),
            ("/spec/containers/0/readinessProbe/httpGet/scheme", json!("HTTP")),
            ("/spec/containers/0/resources/requests", json!({"cpu": "1"})),
            ("/spec/containers/1/imagePullPolicy", json!("Never")),
            ("/spec/containers/1/resources", json!({})),
            ("/spec/volumes/0/secret/defaultMode", json!(420)),
            ("/spec/tolerations/0/key", json!("node.kubernetes.io/not-ready")),
            ("/spec/tolerations/1/tolerationSeconds", json!(300)),
        ];
        for (ptr, want) in cases {
            assert_eq!(pod.pointer(ptr), Some(&want), "{ptr}");
        }
        // Defaulting twice changes nothing.
        let again = defaulted("", "Pod", pod.clone());
        assert_eq!(again, pod);
    }

    #[test]
    fn workload_defaults() {
        let tmpl = json!({"metadata": {"labels": {"app": "w"}}, "spec": {"containers": [{"name": "c", "image": "nginx"}]}});
        let d = defaulted("apps", "Deployment", json!({"spec": {"template": tmpl.clone()}}));
        let cases = [
            (&d, "/spec/replicas", json!(1)),
            (&d, "/spec/revisionHistoryLimit", json!(10)),
            (&d, "/spec/progressDeadlineSeconds", json!(600)),
            (
                &d,
                "/spec/strategy",
                json!({"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"}}),
            ),
            (&d, "/spec/template/spec/restartPolicy", json!("Always")),
            (
                &d,
                "/spec/template/spec/containers/0/imagePullPolicy",
                json!("Always"),
            ),
        ];
        for (obj, ptr, want) in cases {
            assert_eq!(obj.pointer(ptr), Some(&want), "{ptr}");
        }
        assert!(
            d.pointer("/spec/template/spec/serviceAccountName").is_none(),
            "templates get no admission defaults"
        );
        let recreate = defaulted(
            "apps",
            "Deployment",
            json!({"spec": {"strategy": {"type": "Recreate"}}}),
        );
        assert_eq!(
            recreate.pointer("/spec/strategy"),
            Some(&json!({"type": "Recreate"}))
        );
        let sts = defaulted("apps", "StatefulSet", json!({"spec": {"template": tmpl.clone()}}));
        assert_eq!(
            sts.pointer("/spec/updateStrategy/rollingUpdate/partition"),
            Some(&json!(0))
        );
        assert_eq!(
            sts.pointer("/spec/podManagementPolicy"),
            Some(&json!("OrderedReady"))
        );
        let ds = defaulted("apps", "DaemonSet", json!({"spec": {"template": tmpl.clone()}}));
        assert_eq!(
            ds.pointer("/spec/updateStrategy/rollingUpdate/maxUnavailable"),
            Some(&json!(1))
        );
        let job = defaulted("batch", "Job", json!({"spec": {"template": tmpl.clone()}}));
        assert_eq!(job.pointer("/spec/backoffLimit"), Some(&json!(6)));
        assert_eq!(job.pointer("/spec/completions"), Some(&json!(1)));
        let job = defaulted("batch", "Job", json!({"spec": {"parallelism": 3}}));
        assert!(job.pointer("/spec/completions").is_none());
        let cj = defaulted(
            "batch",
            "CronJob",
            json!({"spec": {"jobTemplate": {"spec": {"template": tmpl}}}}),
        );
        assert_eq!(cj.pointer("/spec/concurrencyPolicy"), Some(&json!("Allow")));
        assert_eq!(
            cj.pointer("/spec/jobTemplate/spec/template/spec/dnsPolicy"),
            Some(&json!("ClusterFirst"))
        );
    }

    #[test]
    fn service_defaults_and_ip() {
        let mut svc = defaulted(
            "",
            "Service",
            json!({"spec": {"ports": [{"port": 80}, {"port": 53, "protocol": "UDP", "targetPort": "dns"}]}}),
        );
        assert!(service_needs_cluster_ip(&svc));
        set_service_cluster_ip(&mut svc, "10.96.0.10");
        let cases = [
            ("/spec/type", json!("ClusterIP")),
            ("/spec/sessionAffinity", json!("None")),
            ("/spec/internalTrafficPolicy", json!("Cluster")),
            ("/spec/ports/0/protocol", json!("TCP")),
            ("/spec/ports/0/targetPort", json!(80)),
            ("/spec/ports/1/targetPort", json!("dns")),
            ("/spec/clusterIP", json!("10.96.0.10")),
            ("/spec/clusterIPs", json!(["10.96.0.10"])),
            ("/spec/ipFamilies", json!(["IPv4"])),
            ("/spec/ipFamilyPolicy", json!("SingleStack")),
        ];
        for (ptr, want) in cases {
            assert_eq!(svc.pointer(ptr), Some(&want), "{ptr}");
        }
        assert!(!service_needs_cluster_ip(&svc));
        let headless = defaulted("", "Service", json!({"spec": {"clusterIP": "None"}}));
        assert!(!service_needs_cluster_ip(&headless));
        assert_eq!(headless.pointer("/spec/clusterIPs"), Some(&json!(["None"])));
        let ext = defaulted(
            "",
            "Service",
            json!({"spec": {"type": "ExternalName", "externalName": "x.com"}}),
        );
        assert!(!service_needs_cluster_ip(&ext));
        assert!(ext.pointer("/spec/internalTrafficPolicy").is_none());
        let lb = defaulted("", "Service", json!({"spec": {"type": "LoadBalancer"}}));
        assert_eq!(lb.pointer("/spec/externalTrafficPolicy"), Some(&json!("Cluster")));
    }

    #[test]
    fn other_kinds_and_bad_input() {
        let ns = defaulted("", "Namespace", json!({"metadata": {"name": "team"}}));
        assert_eq!(
            ns.pointer("/metadata/labels/kubernetes.io~1metadata.name"),
            Some(&json!("team"))
        );
        assert_eq!(ns.pointer("/spec/finalizers"), Some(&json!(["kubernetes"])));
        assert_eq!(ns.pointer("/status/phase"), Some(&json!("Active")));
        for (secret, want) in [
            (json!({}), "Opaque"),
            (json!({"type": ""}), "Opaque"),
            (json!({"type": null}), "Opaque"),
            (json!({"type": "kubernetes.io/tls"}), "kubernetes.io/tls"),
        ] {
            assert_eq!(
                defaulted("", "Secret", secret.clone()).pointer("/type"),
                Some(&json!(want)),
                "{secret}"
            );
        }
        // Custom resources and wrongly typed values are left alone, without panicking.
        let cr = json!({"spec": {"replicas": "x"}});
        assert_eq!(defaulted("apps.kruise.io", "CloneSet", cr.clone()), cr);
        let bad = json!({"spec": "nonsense"});
        assert_eq!(defaulted("apps", "Deployment", bad.clone()), bad);
        let bad = json!({"spec": {"containers": "x", "template": 3}});
        assert_eq!(
            defaulted("", "Pod", bad.clone()).pointer("/spec/containers"),
            Some(&json!("x"))
        );
        let mut s = json!([1]);
        apply_defaults("", "v1", "Pod", &mut s);
        assert_eq!(s, json!([1]));
    }

    #[test]
    fn job_selector_generation() {
        let mut job = json!({"metadata": {"name": "pi"}, "spec": {"template": {"spec": {}}}});
        generate_job_selector(&mut job, "u-1");
        assert_eq!(
            job.pointer("/spec/selector/matchLabels/batch.kubernetes.io~1controller-uid"),
            Some(&json!("u-1"))
        );
        assert_eq!(
            job.pointer("/spec/template/metadata/labels/job-name"),
            Some(&json!("pi"))
        );
        let mut manual = json!({"spec": {"manualSelector": true}});
        generate_job_selector(&mut manual, "u");
        assert!(manual.pointer("/spec/selector").is_none());
    }
}
