//! End-to-end tests of `ferry health eval|test`.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn ferry(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ferry"))
        .args(args)
        .output()
        .expect("run ferry")
}

fn testdata(sub: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../ferry-health/testdata")
        .join(sub)
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
fn test_subcommand_passes_project_suites() {
    for dir in ["builtin", "seed", "lua-edge-cases", "actions"] {
        let output = ferry(&["health", "test", testdata(dir).to_str().unwrap()]);
        let text = stdout(&output);
        assert!(output.status.success(), "{dir}: {text}");
        assert!(text.trim_end().ends_with(" passed, 0 failed"), "{dir}: {text}");
    }
}

#[test]
fn test_subcommand_reports_failures_and_exits_1() {
    let dir = std::env::temp_dir().join(format!("ferry-health-cli-{}", std::process::id()));
    let kind = dir.join("example.com/Thing");
    std::fs::create_dir_all(kind.join("testdata")).unwrap();
    std::fs::write(
        kind.join("health.lua"),
        "return {status = 'Degraded', message = 'x'}",
    )
    .unwrap();
    std::fs::write(kind.join("testdata/a.yaml"), "kind: Thing\n").unwrap();
    std::fs::write(
        kind.join("health_test.yaml"),
        "tests:\n- healthStatus: {status: Healthy}\n  inputPath: testdata/a.yaml\n",
    )
    .unwrap();
    let output = ferry(&["health", "test", dir.to_str().unwrap()]);
    std::fs::remove_dir_all(&dir).unwrap();
    let text = stdout(&output);
    assert_eq!(output.status.code(), Some(1), "{text}");
    assert!(text.contains("expected: {status: \"Healthy\""), "{text}");
    assert!(text.trim_end().ends_with("0 passed, 1 failed"), "{text}");
}

#[test]
fn eval_with_seed_argocd_cm_prints_status_per_object_as_json() {
    let output = ferry(&[
        "health",
        "eval",
        "-f",
        testdata("seed/apps.kruise.io/CloneSet/testdata/paused.yaml")
            .to_str()
            .unwrap(),
        "--argocd-cm",
        testdata("seed/argocd-cm.yaml").to_str().unwrap(),
        "-o",
        "json",
    ]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let parsed: serde_json::Value = serde_json::from_str(&stdout(&output)).unwrap();
    assert_eq!(parsed[0]["name"], "helloworld-server");
    assert_eq!(parsed[0]["health"]["status"], "Suspended");
    assert_eq!(parsed[0]["health"]["message"], "CloneSet is Suspended");
}

#[test]
fn eval_builtin_and_script_in_text_and_yaml() {
    let file = testdata("builtin/apps.kruise.io/CloneSet/testdata/partition-reached.yaml");
    let output = ferry(&["health", "eval", "-f", file.to_str().unwrap()]);
    let text = stdout(&output);
    assert!(output.status.success());
    assert!(
        text.starts_with(
            "CloneSet helloworld/helloworld-server\tSuspended\tCloneset needs manual intervention"
        ),
        "{text}"
    );

    let script = testdata("seed/apps.kruise.io/CloneSet/health.lua");
    let output = ferry(&[
        "health",
        "eval",
        "-f",
        file.to_str().unwrap(),
        "--script",
        script.to_str().unwrap(),
        "-o",
        "yaml",
    ]);
    let text = stdout(&output);
    assert!(output.status.success());
    assert!(text.contains("status: Progressing"), "{text}");
}
