//! Kruise's CloneSet mutating-webhook defaults (reference §1.3), applied to the raw JSON object so
//! unknown fields survive. The embedded API server's mutating-admission hook calls [`default_cloneset`].

use serde_json::{Map, Value, json};

use ferry_types::kruise::{UPDATE_IN_PLACE_IF_POSSIBLE, UPDATE_IN_PLACE_ONLY, UPDATE_RECREATE};

/// Applies Kruise's CloneSet defaults to `obj` (an `apps.kruise.io/v1alpha1` CloneSet as JSON).
///
/// - Always: `replicas: 1`, `revisionHistoryLimit: 10`, `updateStrategy.type: ReCreate` (and
///   `inPlaceUpdateStrategy: {}` for the in-place types), `partition: 0`, `maxUnavailable: "20%"`,
///   `maxSurge: 0`, plus the shape Go's re-encoding gives (`scaleStrategy: {}`, template
///   `metadata.creationTimestamp: null`, `resources: {}` on containers).
/// - Pod-template and volumeClaimTemplate defaults only when `template_no_defaults` is false and this is
///   a CREATE (`old` is None) or an UPDATE whose `spec.template` differs from `old`'s.
///
/// Parts of the object with the wrong JSON type are left alone for validation to report.
pub fn default_cloneset(obj: &mut Value, old: Option<&Value>, template_no_defaults: bool) {
    let template_changed = match old {
        None => true,
        Some(old) => obj.pointer("/spec/template") != old.pointer("/spec/template"),
    };
    let inject_template_defaults = !template_no_defaults && template_changed;

    let Some(root) = obj.as_object_mut() else {
        return;
    };
    let Some(spec) = root.entry("spec").or_insert_with(|| json!({})).as_object_mut() else {
        return;
    };
    if spec.get("replicas").is_none_or(Value::is_null) {
        spec.insert("replicas".to_string(), json!(1));
    }
    if spec.get("revisionHistoryLimit").is_none_or(Value::is_null) {
        spec.insert("revisionHistoryLimit".to_string(), json!(10));
    }

    if inject_template_defaults {
        if let Some(template) = object_entry(spec, "template")
            && let Some(pod_spec) = object_entry(template, "spec")
        {
            default_pod_spec(pod_spec);
        }
        if let Some(Value::Array(claims)) = spec.get_mut("volumeClaimTemplates") {
            for claim in claims.iter_mut().filter_map(Value::as_object_mut) {
                default_claim_template(claim);
            }
        }
    }

    if let Some(strategy) = object_entry(spec, "updateStrategy") {
        let strategy_type = strategy
            .get("type")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        if strategy_type.is_empty() {
            strategy.insert("type".to_string(), json!(UPDATE_RECREATE));
        } else if (strategy_type == UPDATE_IN_PLACE_IF_POSSIBLE || strategy_type == UPDATE_IN_PLACE_ONLY)
            && strategy.get("inPlaceUpdateStrategy").is_none_or(Value::is_null)
        {
            strategy.insert("inPlaceUpdateStrategy".to_string(), json!({}));
        }
        set_if_absent(strategy, "partition", json!(0));
        set_if_absent(strategy, "maxUnavailable", json!("20%"));
        set_if_absent(strategy, "maxSurge", json!(0));
    }
    object_entry(spec, "scaleStrategy");
    go_shape_template(spec);
}

/// Fields Go's encoding of the typed template always emits.
fn go_shape_template(spec: &mut Map<String, Value>) {
    let Some(template) = object_entry(spec, "template") else {
        return;
    };
    if let Some(metadata) = object_entry(template, "metadata") {
        metadata.entry("creationTimestamp").or_insert(Value::Null);
    }
    if let Some(Value::Object(pod_spec)) = template.get_mut("spec") {
        for list in ["containers", "initContainers"] {
            for container in objects_in(pod_spec, list) {
                container.entry("resources").or_insert_with(|| json!({}));
            }
        }
    }
}

/// The object under `key`, created as `{}` when missing or null; None when it has another type.
fn object_entry<'a>(map: &'a mut Map<String, Value>, key: &str) -> Option<&'a mut Map<String, Value>> {
    let entry = map.entry(key).or_insert_with(|| json!({}));
    if entry.is_null() {
        *entry = json!({});
    }
    entry.as_object_mut()
}

fn set_if_absent(map: &mut Map<String, Value>, key: &str, value: Value) {
    if map.get(key).is_none_or(Value::is_null) {
        map.insert(key.to_string(), value);
    }
}

fn set_if_empty_string(map: &mut Map<String, Value>, key: &str, value: &str) {
    if map.get(key).and_then(Value::as_str).is_none_or(str::is_empty) {
        map.insert(key.to_string(), json!(value));
    }
}

/// Mutable objects of the array under `key` (non-objects skipped).
fn objects_in<'a>(
    map: &'a mut Map<String, Value>,
    key: &str,
) -> impl Iterator<Item = &'a mut Map<String, Value>> {
    map.get_mut(key)
        .and_then(Value::as_array_mut)
        .into_iter()
        .flatten()
        .filter_map(Value::as_object_mut)
}

/// Kubernetes `SetDefaults_PodSpec` plus Kruise's `SetDefaultPodSpec`.
fn default_pod_spec(spec: &mut Map<String, Value>) {
    set_if_empty_string(spec, "dnsPolicy", "ClusterFirst");
    set_if_empty_string(spec, "restartPolicy", "Always");
    set_if_absent(spec, "securityContext", json!({}));
    set_if_absent(spec, "terminationGracePeriodSeconds", json!(30));
    set_if_empty_string(spec, "schedulerName", "default-scheduler");
    for volume in objects_in(spec, "volumes") {
        default_volume(volume);
    }
    for container in objects_in(spec, "initContainers") {
        if container
            .get("imagePullPolicy")
            .and_then(Value::as_str)
            .is_none_or(str::is_empty)
        {
            let image = container.get("image").and_then(Value::as_str).unwrap_or_default();
            let policy = if image_tag(image) == "latest" {
                "Always"
            } else {
                "IfNotPresent"
            };
            container.insert("imagePullPolicy".to_string(), json!(policy));
        }
        default_container(container);
    }
    for container in objects_in(spec, "containers") {
        // Kruise: containers always pull, whatever the tag, so in-place image changes take effect.
        set_if_empty_string(container, "imagePullPolicy", "Always");
        default_container(container);
    }
    for container in objects_in(spec, "ephemeralContainers") {
        default_ports_env_probes(container);
    }
    normalize_resource_list(spec.get_mut("overhead"));
}

/// The tag Kubernetes' image parser reports: "latest" when there is neither tag nor digest.
fn image_tag(image: &str) -> &str {
    if image.contains('@') {
        let before_digest = image.split('@').next().unwrap_or_default();
        return tag_of(before_digest).unwrap_or_default();
    }
    tag_of(image).unwrap_or("latest")
}

fn tag_of(reference: &str) -> Option<&str> {
    let last_segment = reference.rsplit('/').next().unwrap_or(reference);
    last_segment.split_once(':').map(|(_, tag)| tag)
}

/// `SetDefaults_Container` (without the pull policy) and the per-field defaults.
fn default_container(container: &mut Map<String, Value>) {
    set_if_empty_string(container, "terminationMessagePath", "/dev/termination-log");
    set_if_empty_string(container, "terminationMessagePolicy", "File");
    default_ports_env_probes(container);
}

/// `SetDefaults_ResourceList`: quantities rounded up to milli precision and written canonically.
/// Values that do not parse are left for validation.
fn normalize_resource_list(list: Option<&mut Value>) {
    let Some(Value::Object(list)) = list else {
        return;
    };
    for value in list.values_mut() {
        let text = match value {
            Value::String(text) => text.clone(),
            Value::Number(number) => number.to_string(),
            _ => continue,
        };
        if let Some(canonical) = crate::quantity::canonical(&text) {
            *value = Value::String(canonical);
        }
    }
}

fn normalize_requirements(resources: Option<&mut Value>) {
    if let Some(Value::Object(resources)) = resources {
        normalize_resource_list(resources.get_mut("limits"));
        normalize_resource_list(resources.get_mut("requests"));
    }
}

fn default_ports_env_probes(container: &mut Map<String, Value>) {
    normalize_requirements(container.get_mut("resources"));
    for port in objects_in(container, "ports") {
        set_if_empty_string(port, "protocol", "TCP");
    }
    for env in objects_in(container, "env") {
        if let Some(Value::Object(field_ref)) = env.get_mut("valueFrom").and_then(|v| v.get_mut("fieldRef")) {
            set_if_empty_string(field_ref, "apiVersion", "v1");
        }
    }
    for probe_name in ["livenessProbe", "readinessProbe", "startupProbe"] {
        if let Some(Value::Object(probe)) = container.get_mut(probe_name) {
            set_if_absent(probe, "timeoutSeconds", json!(1));
            set_if_absent(probe, "periodSeconds", json!(10));
            set_if_absent(probe, "successThreshold", json!(1));
            set_if_absent(probe, "failureThreshold", json!(3));
            if let Some(Value::Object(http_get)) = probe.get_mut("httpGet") {
                default_http_get(http_get);
            }
        }
    }
    if let Some(Value::Object(lifecycle)) = container.get_mut("lifecycle") {
        for handler in ["postStart", "preStop"] {
            if let Some(Value::Object(http_get)) =
                lifecycle.get_mut(handler).and_then(|h| h.get_mut("httpGet"))
            {
                default_http_get(http_get);
            }
        }
    }
}

fn default_http_get(http_get: &mut Map<String, Value>) {
    set_if_empty_string(http_get, "path", "/");
    set_if_empty_string(http_get, "scheme", "HTTP");
}

/// `SetDefaults_Volume` and the per-source defaults of `SetDefaultPodVolumes`.
fn default_volume(volume: &mut Map<String, Value>) {
    if volume.keys().all(|k| k == "name") {
        volume.insert("emptyDir".to_string(), json!({}));
    }
    let mode_420 = |source: &mut Map<String, Value>| set_if_absent(source, "defaultMode", json!(420));
    if let Some(Value::Object(host_path)) = volume.get_mut("hostPath") {
        set_if_absent(host_path, "type", json!(""));
    }
    if let Some(Value::Object(secret)) = volume.get_mut("secret") {
        mode_420(secret);
    }
    if let Some(Value::Object(config_map)) = volume.get_mut("configMap") {
        mode_420(config_map);
    }
    if let Some(Value::Object(iscsi)) = volume.get_mut("iscsi") {
        set_if_empty_string(iscsi, "iscsiInterface", "default");
    }
    if let Some(Value::Object(rbd)) = volume.get_mut("rbd") {
        set_if_empty_string(rbd, "pool", "rbd");
        set_if_empty_string(rbd, "user", "admin");
        set_if_empty_string(rbd, "keyring", "/etc/ceph/keyring");
    }
    if let Some(Value::Object(downward)) = volume.get_mut("downwardAPI") {
        mode_420(downward);
        default_field_ref_items(downward);
    }
    if let Some(Value::Object(azure)) = volume.get_mut("azureDisk") {
        set_if_absent(azure, "cachingMode", json!("ReadWrite"));
        set_if_absent(azure, "fsType", json!("ext4"));
        set_if_absent(azure, "readOnly", json!(false));
        set_if_absent(azure, "kind", json!("Shared"));
    }
    if let Some(Value::Object(projected)) = volume.get_mut("projected") {
        mode_420(projected);
        for source in objects_in(projected, "sources") {
            if let Some(Value::Object(downward)) = source.get_mut("downwardAPI") {
                default_field_ref_items(downward);
            }
            if let Some(Value::Object(token)) = source.get_mut("serviceAccountToken") {
                set_if_absent(token, "expirationSeconds", json!(3600));
            }
        }
    }
    if let Some(Value::Object(scale_io)) = volume.get_mut("scaleIO") {
        set_if_empty_string(scale_io, "storageMode", "ThinProvisioned");
        set_if_empty_string(scale_io, "fsType", "xfs");
    }
}

fn default_field_ref_items(source: &mut Map<String, Value>) {
    for item in objects_in(source, "items") {
        if let Some(Value::Object(field_ref)) = item.get_mut("fieldRef") {
            set_if_empty_string(field_ref, "apiVersion", "v1");
        }
    }
}

/// `SetDefaults_PersistentVolumeClaim` (status.phase Pending) and the claim spec's `volumeMode`.
fn default_claim_template(claim: &mut Map<String, Value>) {
    if let Some(spec) = object_entry(claim, "spec") {
        set_if_absent(spec, "volumeMode", json!("Filesystem"));
        normalize_requirements(spec.get_mut("resources"));
    }
    if let Some(status) = object_entry(claim, "status") {
        set_if_empty_string(status, "phase", "Pending");
        normalize_resource_list(status.get_mut("capacity"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seed() -> Value {
        json!({
            "apiVersion": "apps.kruise.io/v1alpha1",
            "kind": "CloneSet",
            "metadata": {"name": "helloworld-server"},
            "spec": {
                "updateStrategy": {"type": "InPlaceIfPossible", "partition": 1},
                "replicas": 2,
                "selector": {"matchLabels": {"app": "helloworld-server"}},
                "template": {
                    "metadata": {"labels": {"app": "helloworld-server"}},
                    "spec": {"containers": [{"name": "helloworld", "image": "openkruise/kruise:hello_world-d92ae174b"}]}
                }
            }
        })
    }

    #[test]
    fn seed_with_template_no_defaults() {
        let mut obj = seed();
        default_cloneset(&mut obj, None, true);
        assert_eq!(
            obj["spec"],
            json!({
                "updateStrategy": {
                    "type": "InPlaceIfPossible", "partition": 1, "inPlaceUpdateStrategy": {},
                    "maxUnavailable": "20%", "maxSurge": 0
                },
                "replicas": 2,
                "selector": {"matchLabels": {"app": "helloworld-server"}},
                "template": {
                    "metadata": {"labels": {"app": "helloworld-server"}, "creationTimestamp": null},
                    "spec": {"containers": [{"name": "helloworld", "image": "openkruise/kruise:hello_world-d92ae174b", "resources": {}}]}
                },
                "revisionHistoryLimit": 10,
                "scaleStrategy": {}
            })
        );
    }

    #[test]
    fn seed_with_template_defaults() {
        let mut obj = seed();
        default_cloneset(&mut obj, None, false);
        let pod_spec = &obj["spec"]["template"]["spec"];
        assert_eq!(pod_spec["dnsPolicy"], "ClusterFirst");
        assert_eq!(pod_spec["restartPolicy"], "Always");
        assert_eq!(pod_spec["securityContext"], json!({}));
        assert_eq!(pod_spec["terminationGracePeriodSeconds"], 30);
        assert_eq!(pod_spec["schedulerName"], "default-scheduler");
        let container = &pod_spec["containers"][0];
        assert_eq!(container["imagePullPolicy"], "Always");
        assert_eq!(container["terminationMessagePath"], "/dev/termination-log");
        assert_eq!(container["terminationMessagePolicy"], "File");
    }

    #[test]
    fn always_applied_defaults_table() {
        // (input spec, expected updateStrategy, expected replicas)
        let cases = [
            (
                json!({}),
                json!({"type": "ReCreate", "partition": 0, "maxUnavailable": "20%", "maxSurge": 0}),
                json!(1),
            ),
            (
                json!({"replicas": 0, "updateStrategy": {"type": "InPlaceOnly", "inPlaceUpdateStrategy": {"gracePeriodSeconds": 5}}}),
                json!({"type": "InPlaceOnly", "inPlaceUpdateStrategy": {"gracePeriodSeconds": 5}, "partition": 0, "maxUnavailable": "20%", "maxSurge": 0}),
                json!(0),
            ),
            (
                json!({"updateStrategy": {"partition": "50%", "maxUnavailable": 3, "maxSurge": "10%"}}),
                json!({"partition": "50%", "maxUnavailable": 3, "maxSurge": "10%", "type": "ReCreate"}),
                json!(1),
            ),
        ];
        for (spec, strategy, replicas) in cases {
            let mut obj = json!({"spec": spec});
            default_cloneset(&mut obj, None, true);
            assert_eq!(obj["spec"]["updateStrategy"], strategy);
            assert_eq!(obj["spec"]["replicas"], replicas);
            assert_eq!(obj["spec"]["revisionHistoryLimit"], 10);
        }
    }

    #[test]
    fn update_without_template_change_injects_nothing_into_template() {
        let mut old = seed();
        default_cloneset(&mut old, None, true);
        let mut new = old.clone();
        new["spec"]["replicas"] = json!(5);
        default_cloneset(&mut new, Some(&old), false);
        assert!(new["spec"]["template"]["spec"].get("dnsPolicy").is_none());
        // A template change on UPDATE does inject.
        let mut changed = old.clone();
        changed["spec"]["template"]["spec"]["containers"][0]["image"] = json!("nginx:2");
        default_cloneset(&mut changed, Some(&old), false);
        assert_eq!(changed["spec"]["template"]["spec"]["dnsPolicy"], "ClusterFirst");
    }

    #[test]
    fn container_level_defaults_table() {
        let mut obj = json!({"spec": {"template": {"spec": {
            "initContainers": [
                {"name": "a", "image": "busybox"},
                {"name": "b", "image": "busybox:1.36"},
                {"name": "c", "image": "registry:5000/busybox@sha256:abc"},
                {"name": "d", "image": "busybox:latest"}
            ],
            "containers": [{
                "name": "main", "image": "nginx:1.25", "imagePullPolicy": "IfNotPresent",
                "ports": [{"containerPort": 80}],
                "env": [{"name": "POD", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}],
                "readinessProbe": {"httpGet": {"port": 80}},
                "livenessProbe": {"tcpSocket": {"port": 80}, "periodSeconds": 5},
                "lifecycle": {"preStop": {"httpGet": {"port": 80, "path": "/stop"}}}
            }],
            "volumes": [
                {"name": "scratch"},
                {"name": "cfg", "configMap": {"name": "cfg"}},
                {"name": "sec", "secret": {"secretName": "s", "defaultMode": 256}},
                {"name": "host", "hostPath": {"path": "/tmp"}},
                {"name": "proj", "projected": {"sources": [{"serviceAccountToken": {"path": "token"}}]}}
            ]
        }}}});
        default_cloneset(&mut obj, None, false);
        let spec = &obj["spec"]["template"]["spec"];
        let pulls: Vec<&str> = (0..4)
            .filter_map(|i| spec["initContainers"][i]["imagePullPolicy"].as_str())
            .collect();
        assert_eq!(pulls, ["Always", "IfNotPresent", "IfNotPresent", "Always"]);
        let main = &spec["containers"][0];
        assert_eq!(main["imagePullPolicy"], "IfNotPresent");
        assert_eq!(main["ports"][0]["protocol"], "TCP");
        assert_eq!(main["env"][0]["valueFrom"]["fieldRef"]["apiVersion"], "v1");
        assert_eq!(
            main["readinessProbe"],
            json!({"httpGet": {"port": 80, "path": "/", "scheme": "HTTP"}, "timeoutSeconds": 1, "periodSeconds": 10, "successThreshold": 1, "failureThreshold": 3})
        );
        assert_eq!(main["livenessProbe"]["periodSeconds"], 5);
        assert_eq!(
            main["lifecycle"]["preStop"]["httpGet"],
            json!({"port": 80, "path": "/stop", "scheme": "HTTP"})
        );
        let volumes = &spec["volumes"];
        assert_eq!(volumes[0], json!({"name": "scratch", "emptyDir": {}}));
        assert_eq!(volumes[1]["configMap"]["defaultMode"], 420);
        assert_eq!(volumes[2]["secret"]["defaultMode"], 256);
        assert_eq!(volumes[3]["hostPath"]["type"], "");
        assert_eq!(volumes[4]["projected"]["defaultMode"], 420);
        assert_eq!(
            volumes[4]["projected"]["sources"][0]["serviceAccountToken"]["expirationSeconds"],
            3600
        );
    }

    #[test]
    fn volume_claim_templates_defaulted_only_with_template_defaults() {
        let base = json!({"spec": {"volumeClaimTemplates": [{"metadata": {"name": "data"}, "spec": {"accessModes": ["ReadWriteOnce"]}}]}});
        let mut with_defaults = base.clone();
        default_cloneset(&mut with_defaults, None, false);
        assert_eq!(
            with_defaults["spec"]["volumeClaimTemplates"][0]["spec"]["volumeMode"],
            "Filesystem"
        );
        assert_eq!(
            with_defaults["spec"]["volumeClaimTemplates"][0]["status"]["phase"],
            "Pending"
        );
        let mut without = base.clone();
        default_cloneset(&mut without, None, true);
        assert!(
            without["spec"]["volumeClaimTemplates"][0]["spec"]
                .get("volumeMode")
                .is_none()
        );
    }

    #[test]
    fn resource_lists_are_normalized_with_template_defaults_only() {
        let base = json!({"spec": {
            "template": {"spec": {"containers": [{"name": "c", "image": "i", "resources": {
                "limits": {"cpu": "1000m", "memory": "1024Mi"}, "requests": {"cpu": 0.5, "memory": "bogus"}
            }}]}},
            "volumeClaimTemplates": [{"metadata": {"name": "data"}, "spec": {"resources": {"requests": {"storage": "1.5Gi"}}}}]
        }});
        let mut with_defaults = base.clone();
        default_cloneset(&mut with_defaults, None, false);
        let resources = &with_defaults["spec"]["template"]["spec"]["containers"][0]["resources"];
        assert_eq!(resources["limits"], json!({"cpu": "1", "memory": "1Gi"}));
        assert_eq!(resources["requests"], json!({"cpu": "500m", "memory": "bogus"}));
        assert_eq!(
            with_defaults["spec"]["volumeClaimTemplates"][0]["spec"]["resources"]["requests"]["storage"],
            "1536Mi"
        );
        let mut without = base.clone();
        default_cloneset(&mut without, None, true);
        assert_eq!(
            without["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]["cpu"],
            "1000m"
        );
    }

    #[test]
    fn malformed_objects_do_not_panic() {
        for mut obj in [
            json!(null),
            json!([1]),
            json!({"spec": 3}),
            json!({"spec": {"template": "x", "updateStrategy": 1}}),
        ] {
            default_cloneset(&mut obj, None, false);
        }
    }
}
