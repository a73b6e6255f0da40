use super::*;

fn def<'a>(name: &str) -> &'a Value {
    builtin_schemas()
        .definitions
        .get(name)
        .unwrap_or_else(|| panic!("no definition {name}"))
}

#[test]
fn every_served_kind_has_a_described_schema_with_its_gvk() {
    let s = builtin_schemas();
    for (group, version, kind, _) in KINDS {
        let name = s
            .schema_name(group, version, kind)
            .unwrap_or_else(|| panic!("{group}/{version} {kind}"));
        let schema = def(name);
        let gvk = &schema["x-kubernetes-group-version-kind"][0];
        assert_eq!(gvk["kind"], *kind, "{name}");
        assert_eq!(gvk["version"], *version, "{name}");
        assert!(
            schema["description"].as_str().is_some_and(|d| !d.is_empty()),
            "{name}"
        );
        let required = schema["required"].as_array().cloned().unwrap_or_default();
        assert!(!required.contains(&json!("metadata")), "{name}");
    }
    assert_eq!(
        s.schema_name("apps", "v1", "Deployment"),
        Some("io.k8s.api.apps.v1.Deployment")
    );
}

#[test]
fn schemas_carry_patch_and_list_markers() {
    let containers = &def("io.k8s.api.core.v1.PodSpec")["properties"]["containers"];
    assert_eq!(containers["x-kubernetes-patch-merge-key"], "name");
    assert_eq!(containers["x-kubernetes-patch-strategy"], "merge");
    assert_eq!(containers["x-kubernetes-list-type"], "map");
    assert_eq!(containers["x-kubernetes-list-map-keys"], json!(["name"]));
    assert!(
        containers["description"]
            .as_str()
            .is_some_and(|d| d.contains("containers"))
    );
    assert_eq!(
        containers["items"]["$ref"],
        "#/components/schemas/io.k8s.api.core.v1.Container"
    );
    let ports = &def("io.k8s.api.core.v1.Container")["properties"]["ports"];
    assert_eq!(
        ports["x-kubernetes-list-map-keys"],
        json!(["containerPort", "protocol"])
    );
    let volumes = &def("io.k8s.api.core.v1.PodSpec")["properties"]["volumes"];
    assert_eq!(volumes["x-kubernetes-patch-strategy"], "merge,retainKeys");
    // A $ref with a description of its own is wrapped in allOf, as kube-apiserver does.
    let strategy = &def("io.k8s.api.apps.v1.DeploymentSpec")["properties"]["strategy"];
    assert_eq!(
        strategy["allOf"][0]["$ref"],
        "#/components/schemas/io.k8s.api.apps.v1.DeploymentStrategy"
    );
    assert!(strategy["description"].as_str().is_some());
    let rolling = &def("io.k8s.api.apps.v1.DeploymentStrategy")["properties"];
    assert!(rolling.get("rollingUpdate").is_some() && rolling.get("type").is_some());
}

#[test]
fn closure_resolves_every_reference() {
    let s = builtin_schemas();
    let names = ["io.k8s.api.core.v1.Pod"];
    let closure = s.closure(&names);
    let included: Vec<&str> = closure.iter().map(|(n, _)| *n).collect();
    for n in [
        "io.k8s.api.core.v1.Pod",
        "io.k8s.api.core.v1.Container",
        "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta",
        "io.k8s.apimachinery.pkg.util.intstr.IntOrString",
    ] {
        assert!(included.contains(&n), "{n} missing");
    }
    for (_, schema) in &closure {
        let mut refs = Vec::new();
        collect_refs(schema, &mut refs);
        for r in refs {
            assert!(included.contains(&r.as_str()), "dangling {r}");
        }
    }
}

#[test]
fn unknown_fields_anywhere_are_found_and_pruned() {
    struct Case {
        group: &'static str,
        kind: &'static str,
        obj: Value,
        unknown: &'static [&'static str],
        after: Value,
    }
    let cases = [
        Case {
            group: "apps",
            kind: "Deployment",
            obj: json!({
                "apiVersion": "apps/v1", "kind": "Deployment",
                "metadata": {"name": "web", "labels": {"a": "b"}, "colour": "x"},
                "spec": {
                    "replicas": 1, "replica": 2,
                    "selector": {"matchLabels": {"a": "b"}},
                    "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "surge": 1}},
                    "template": {"metadata": {"labels": {"a": "b"}}, "spec": {"containers": [
                        {"name": "c", "image": "nginx", "ports": [{"containerPort": 80, "hostname": "h"}],
                         "resources": {"limits": {"cpu": "1"}}},
                        {"name": "d", "image": "nginx", "imagePullPolicyy": "Always", "env": [{"name": "A", "value": "1"}]}
                    ]}}
                }
            }),
            unknown: &[
                "metadata.colour",
                "spec.replica",
                "spec.strategy.rollingUpdate.surge",
                "spec.template.spec.containers[0].ports[0].hostname",
                "spec.template.spec.containers[1].imagePullPolicyy",
            ],
            after: json!({
                "apiVersion": "apps/v1", "kind": "Deployment",
                "metadata": {"name": "web", "labels": {"a": "b"}},
                "spec": {
                    "replicas": 1,
                    "selector": {"matchLabels": {"a": "b"}},
                    "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%"}},
                    "template": {"metadata": {"labels": {"a": "b"}}, "spec": {"containers": [
                        {"name": "c", "image": "nginx", "ports": [{"containerPort": 80}],
                         "resources": {"limits": {"cpu": "1"}}},
                        {"name": "d", "image": "nginx", "env": [{"name": "A", "value": "1"}]}
                    ]}}
                }
            }),
        },
        Case {
            group: "",
            kind: "ConfigMap",
            obj: json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"},
                "data": {"any-key": "v", "spec": "x"}, "immutable": false}),
            unknown: &[],
            after: json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"},
                "data": {"any-key": "v", "spec": "x"}, "immutable": false}),
        },
        Case {
            group: "",
            kind: "Service",
            obj: json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s"},
                "spec": {"ports": [{"port": 80, "targetPort": "http"}], "selector": {"a": "b"}, "typ": "x"},
                "extra": {"deep": {"deeper": 1}}}),
            unknown: &["extra", "spec.typ"],
            after: json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s"},
                "spec": {"ports": [{"port": 80, "targetPort": "http"}], "selector": {"a": "b"}}}),
        },
        Case {
            group: "apiextensions.k8s.io",
            kind: "CustomResourceDefinition",
            obj: json!({"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
                "metadata": {"name": "widgets.example.com"},
                "spec": {"group": "example.com", "names": {"plural": "widgets", "kind": "Widget"}, "scope": "Namespaced",
                    "versions": [{"name": "v1", "served": true, "storage": true, "schema": {"openAPIV3Schema": {
                        "type": "object", "properties": {"spec": {"type": "object", "x-kubernetes-preserve-unknown-fields": true,
                            "properties": {"n": {"type": "integer", "minimum": 1, "bogus": 1}}}}}}}]}}),
            unknown: &["spec.versions[0].schema.openAPIV3Schema.properties.spec.properties.n.bogus"],
            after: Value::Null,
        },
    ];
    for c in cases {
        let mut obj = c.obj.clone();
        let version = "v1";
        let unknown = prune_unknown_fields(c.group, version, c.kind, &mut obj)
            .unwrap_or_else(|| panic!("{} not built in", c.kind));
        assert_eq!(unknown, c.unknown, "{}", c.kind);
        if !c.after.is_null() {
            assert_eq!(obj, c.after, "{}", c.kind);
        }
    }
    let mut custom = json!({"spec": {"x": 1}});
    assert_eq!(
        prune_unknown_fields("example.com", "v1", "Widget", &mut custom),
        None
    );
}
