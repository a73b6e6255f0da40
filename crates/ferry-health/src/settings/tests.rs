use std::collections::BTreeMap;

use super::*;

fn data(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn split_keys_resolve_groups_core_kinds_and_all() {
    let overrides = ResourceOverrides::from_config_data(&data(&[
        (
            "resource.customizations.health.apps.kruise.io_CloneSet",
            "return {status='Healthy'}",
        ),
        (
            "resource.customizations.useOpenLibs.apps.kruise.io_CloneSet",
            "true",
        ),
        (
            "resource.customizations.health.PersistentVolumeClaim",
            "return nil",
        ),
        (
            "resource.customizations.ignoreDifferences.all",
            "jsonPointers:\n- /status\n",
        ),
        (
            "resource.customizations.knownTypeFields.apps_Deployment",
            "- field: spec.template.spec\n  type: core/v1/PodSpec\n",
        ),
    ]));
    assert!(overrides.warnings().is_empty(), "{:?}", overrides.warnings());
    let script = overrides.health_script("apps.kruise.io", "CloneSet").unwrap();
    assert_eq!(script.libraries, Libraries::Open);
    assert_eq!(script.key, "apps.kruise.io/CloneSet");
    let pvc = overrides.health_script("", "PersistentVolumeClaim").unwrap();
    assert_eq!(pvc.libraries, Libraries::Restricted);
    assert_eq!(
        overrides.get("*/*").unwrap().ignore_differences.json_pointers,
        ["/status"]
    );
    assert_eq!(
        overrides.get("apps/Deployment").unwrap().known_type_fields,
        [KnownTypeField {
            field: "spec.template.spec".into(),
            type_name: "core/v1/PodSpec".into()
        }]
    );
    assert!(overrides.health_script("apps", "Deployment").is_none());
}

#[test]
fn malformed_keys_and_broken_scripts_are_reported_not_silently_ignored() {
    let overrides = ResourceOverrides::from_config_data(&data(&[
        (
            "resource.customizations.health.apps.kruise.io-CloneSet",
            "return nil",
        ),
        ("resource.customizations.health.a_b_C", "return nil"),
        ("resource.customizations.colour.apps_Deployment", "red"),
        ("resource.customizations.useOpenLibs.apps_Deployment", "maybe"),
        ("resource.customizations.health.apps_StatefulSet", "if then"),
    ]));
    let keys: Vec<&str> = overrides.warnings().iter().map(|w| w.key.as_str()).collect();
    assert_eq!(
        keys,
        [
            "resource.customizations.colour.apps_Deployment",
            "resource.customizations.health.a_b_C",
            "resource.customizations.health.apps.kruise.io-CloneSet",
            "resource.customizations.useOpenLibs.apps_Deployment",
            "resource.customizations.health.apps_StatefulSet",
        ]
    );
    let dash = &overrides.warnings()[2];
    assert!(dash.message.contains("<group>_<Kind>"), "{}", dash.message);
    assert!(
        overrides.warnings()[0]
            .message
            .contains("type colour not supported")
    );
    assert!(overrides.warnings()[4].message.contains("does not compile"));
    // The broken script is dropped, so the built-in check applies again.
    assert!(overrides.health_script("apps", "StatefulSet").is_none());
}

#[test]
fn block_form_with_wildcards_and_split_keys_overriding_field_by_field() {
    let block = r#"
"*.crossplane.io/*":
  health.lua: |
    return {status = "Progressing", message = "generic"}
"*.aws.crossplane.io/*":
  health.lua: |
    return {status = "Healthy", message = "aws"}
  health.lua.useOpenLibs: true
apps/Deployment:
  health.lua: |
    return {status = "Suspended"}
  ignoreDifferences: |
    jsonPointers:
    - /spec/replicas
"#;
    let overrides = ResourceOverrides::from_config_data(&data(&[
        ("resource.customizations", block),
        (
            "resource.customizations.health.apps_Deployment",
            "return {status = 'Degraded'}",
        ),
    ]));
    assert!(overrides.warnings().is_empty(), "{:?}", overrides.warnings());
    let aws = overrides
        .health_script("ec2.aws.crossplane.io", "Instance")
        .unwrap();
    assert_eq!(aws.key, "*.aws.crossplane.io/*");
    assert_eq!(aws.libraries, Libraries::Open);
    let gcp = overrides
        .health_script("compute.gcp.crossplane.io", "Network")
        .unwrap();
    assert_eq!(gcp.key, "*.crossplane.io/*");
    assert!(overrides.health_script("apps.kruise.io", "CloneSet").is_none());
    let deployment = overrides.get("apps/Deployment").unwrap();
    assert_eq!(deployment.health_lua, "return {status = 'Degraded'}");
    assert_eq!(deployment.ignore_differences.json_pointers, ["/spec/replicas"]);
}

#[test]
fn glob_matching() {
    for (pattern, text, expected) in [
        ("*/*", "apps/Deployment", true),
        ("*/*", "Pod", false),
        ("*.crossplane.io/*", "ec2.aws.crossplane.io/Instance", true),
        ("*.crossplane.io/*", "crossplane.io/X", false),
        ("apps/?eployment", "apps/Deployment", true),
        ("a*b*c", "aXbYbZc", true),
        ("a*b*c", "aXbYbZ", false),
    ] {
        assert_eq!(glob_match(pattern, text), expected, "{pattern} vs {text}");
    }
}

#[test]
fn seed_config_map_parses_and_yields_the_clone_set_script() {
    let text = include_str!("../../testdata/seed/argocd-cm.yaml");
    let config_map: serde_json::Value = serde_saphyr::from_str(text).unwrap();
    let overrides = ResourceOverrides::from_config_map(&config_map);
    assert!(overrides.warnings().is_empty(), "{:?}", overrides.warnings());
    let script = overrides.health_script("apps.kruise.io", "CloneSet").unwrap();
    assert_eq!(script.libraries, Libraries::Restricted);
    assert!(script.script.contains("obj.spec.updateStrategy.paused"));
}

#[test]
fn actions_are_found_and_parsed_per_kind() {
    let actions = "discovery.lua: |\n  return {restart = {}}\ndefinitions:\n- name: restart\n  action.lua: |\n    return obj\n";
    let overrides = ResourceOverrides::from_config_data(&data(&[
        ("resource.customizations.actions.apps_Deployment", actions),
        (
            "resource.customizations.actions.apps_StatefulSet",
            "discovery.lua: |\n  return {\n",
        ),
    ]));
    let config = overrides.actions("apps", "Deployment").unwrap().unwrap();
    assert_eq!(config.definitions[0].name, "restart");
    assert!(overrides.actions("apps", "DaemonSet").is_none());
    let warning = overrides
        .warnings()
        .iter()
        .find(|w| w.key.ends_with("apps_StatefulSet"))
        .unwrap();
    assert!(
        warning.message.contains("discovery.lua does not compile"),
        "{}",
        warning.message
    );
}
