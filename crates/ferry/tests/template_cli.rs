//! `ferry template` end to end: the binary against real charts, and against
//! the helm oracle where it is installed (it is in CI).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn ferry(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ferry"))
        .arg("template")
        .args(args)
        .env_remove("HELM_NAMESPACE")
        .output()
        .expect("ferry runs")
}

fn charts() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../ferry-helm/testdata/charts")
}

fn chart(name: &str) -> String {
    charts().join(name).display().to_string()
}

fn oracle() -> Option<PathBuf> {
    let path = std::env::var_os("FERRY_HELM_ORACLE")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/.cache/helm-4.1.4/helm")
        });
    if path.is_file() {
        return Some(path);
    }
    if std::env::var("FERRY_SKIP_ORACLE").as_deref() == Ok("1") {
        return None;
    }
    panic!(
        "helm oracle not found at {}: run scripts/install-helm-oracle.sh (FERRY_SKIP_ORACLE=1 skips explicitly)",
        path.display()
    );
}

const SEED_ARGS: &[&str] = &[
    "--set",
    "image.repository=registry.example.com/demo/helloworld",
    "--set",
    "image.tag=main-d92ae17",
    "--set",
    "installation.namespace=helloworld",
];

#[test]
fn renders_the_seed_chart_with_helm_set_parameters() {
    let seed = chart("seed-helloworld");
    let mut args = vec!["helloworld", seed.as_str()];
    args.extend_from_slice(SEED_ARGS);
    let out = ferry(&args);
    assert!(
        out.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let sources: Vec<&str> = text.lines().filter(|l| l.starts_with("# Source: ")).collect();
    assert_eq!(
        sources,
        vec![
            "# Source: helloworld/templates/namespace.yaml",
            "# Source: helloworld/templates/service.yaml",
            "# Source: helloworld/templates/cloneset.yaml",
        ]
    );
    assert!(
        text.contains("image: \"registry.example.com/demo/helloworld:main-d92ae17\""),
        "{text}"
    );
}

#[test]
fn output_is_identical_to_helm_template() {
    let Some(helm) = oracle() else {
        return;
    };
    let seed = chart("seed-helloworld");
    let create = chart("helm-create");
    let cases: Vec<Vec<&str>> = vec![
        {
            let mut a = vec!["helloworld", seed.as_str()];
            a.extend_from_slice(SEED_ARGS);
            a
        },
        vec![create.as_str(), "--set", "ingress.enabled=true", "-n", "web"],
        vec!["rel", create.as_str(), "--show-only", "templates/service.yaml"],
    ];
    for args in cases {
        let ours = ferry(&args);
        let theirs = Command::new(&helm)
            .arg("template")
            .args(&args)
            .env("KUBECONFIG", "/dev/null")
            .env_remove("HELM_NAMESPACE")
            .output()
            .expect("helm runs");
        assert!(
            theirs.status.success(),
            "helm: {}",
            String::from_utf8_lossy(&theirs.stderr)
        );
        assert!(
            ours.status.success(),
            "ferry: {}",
            String::from_utf8_lossy(&ours.stderr)
        );
        assert_eq!(
            String::from_utf8_lossy(&ours.stdout),
            String::from_utf8_lossy(&theirs.stdout),
            "ferry template {}",
            args.join(" ")
        );
    }
}

#[test]
fn failures_exit_non_zero_with_helm_style_message() {
    let out = ferry(&["lr", &chart("lookup-required")]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.starts_with("Error: execution error at (lookupreq/templates/secret.yaml:"),
        "{stderr}"
    );
    assert!(stderr.contains("database.user is required"), "{stderr}");
}

#[test]
fn renders_a_packaged_chart_archive() {
    let archive = charts().join("subcharts/charts/extras-0.1.0.tgz");
    let out = ferry(&["pkg", &archive.display().to_string(), "--set", "global.env=test"]);
    assert!(
        out.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("# Source: extras/templates/cm.yaml"), "{text}");
    assert!(text.contains("env: \"test\""), "{text}");
}
