//! Runs the Argo CD-format suites under `testdata/` and the seed acceptance checks.

use std::path::Path;

use ferry_health::suite::run_suites;
use ferry_health::{HealthStatus, HealthStatusCode, LuaRuntime, ResourceOverrides, assess};

fn testdata(sub: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata").join(sub)
}

fn load(path: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(path).unwrap();
    serde_saphyr::from_str(&text).unwrap()
}

#[test]
fn every_project_suite_passes() {
    for (dir, cases) in [
        ("builtin", 20),
        ("seed", 8),
        ("lua-edge-cases", 7),
        ("actions", 4),
    ] {
        let report = run_suites(&testdata(dir), &LuaRuntime::default());
        assert_eq!(report.failed(), 0, "{dir}:\n{}", report.render());
        assert_eq!(report.passed(), cases, "{dir}:\n{}", report.render());
    }
}

#[test]
fn failures_are_rendered_with_expected_and_got() {
    let dir = std::env::temp_dir().join(format!("ferry-health-suite-{}", std::process::id()));
    let kind_dir = dir.join("example.com/Thing");
    std::fs::create_dir_all(kind_dir.join("testdata")).unwrap();
    std::fs::write(
        kind_dir.join("health.lua"),
        "return {status = 'Degraded', message = 'nope'}",
    )
    .unwrap();
    std::fs::write(kind_dir.join("testdata/t.yaml"), "kind: Thing\n").unwrap();
    std::fs::write(
        kind_dir.join("health_test.yaml"),
        "tests:\n- healthStatus: {status: Healthy, message: ok}\n  inputPath: testdata/t.yaml\n- healthStatus: {status: Degraded, message: nope}\n  INPUTPATH: testdata/t.yaml\n- healthStatus: {status: Healthy}\n  inputPath: testdata/missing.yaml\n",
    )
    .unwrap();
    let report = run_suites(&dir, &LuaRuntime::default());
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!((report.passed(), report.failed()), (1, 2));
    let text = report.render();
    assert!(
        text.contains("expected: {status: \"Healthy\", message: \"ok\"}"),
        "{text}"
    );
    assert!(
        text.contains("got:      {status: \"Degraded\", message: \"nope\"}"),
        "{text}"
    );
    assert!(text.contains("missing.yaml"), "{text}");
    assert!(text.ends_with("1 passed, 2 failed\n"), "{text}");
}

#[test]
fn seed_suite_script_is_the_seed_config_map_script() {
    let config_map = load(&testdata("seed/argocd-cm.yaml"));
    let overrides = ResourceOverrides::from_config_map(&config_map);
    let script = overrides.health_script("apps.kruise.io", "CloneSet").unwrap();
    let copy = std::fs::read_to_string(testdata("seed/apps.kruise.io/CloneSet/health.lua")).unwrap();
    assert_eq!(script.script, copy);
}

/// Acceptance: the seed's argocd-cm, parsed, judges CloneSets in every state through `assess`
/// (argocd-cm scripts run without open libraries, unlike the suite above).
#[test]
fn seed_config_map_judges_clone_sets_in_every_state() {
    let overrides = ResourceOverrides::from_config_map(&load(&testdata("seed/argocd-cm.yaml")));
    let progressing = "Waiting for rollout to finish: replicas hasn't finished updating...";
    let cases = [
        ("paused", HealthStatus::suspended("CloneSet is Suspended")),
        (
            "generation-ahead",
            HealthStatus::progressing(
                "Waiting for rollout to finish: observed cloneSet generation less then desired generation",
            ),
        ),
        ("partial-update", HealthStatus::progressing(progressing)),
        ("partial-ready", HealthStatus::progressing(progressing)),
        ("partition-reached", HealthStatus::progressing(progressing)),
        ("done", HealthStatus::healthy("")),
        ("no-status", HealthStatus::progressing("Waiting for cloneSet")),
        (
            "partial-ready-none",
            HealthStatus::unknown("<string>:23: attempt to compare nil with number"),
        ),
    ];
    for (state, expected) in cases {
        let obj = load(&testdata(&format!(
            "seed/apps.kruise.io/CloneSet/testdata/{state}.yaml"
        )));
        assert_eq!(assess(&obj, &overrides), Some(expected), "{state}");
    }
    // Without the override, Ferry's built-in check applies.
    let done = load(&testdata("seed/apps.kruise.io/CloneSet/testdata/done.yaml"));
    let builtin = assess(&done, &ResourceOverrides::default()).unwrap();
    assert_eq!(builtin.status, HealthStatusCode::Healthy);
}
