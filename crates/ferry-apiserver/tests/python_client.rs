//! Acceptance: the official Python `kubernetes` client (install with scripts/install-test-tools.sh).

mod common;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_client_create_list_patch_watch_delete() {
    let s = common::start().await;
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/python/client_flow.py");
    let mut cmd = tokio::process::Command::new(std::env::var("PYTHON").unwrap_or_else(|_| "python3".into()));
    cmd.arg(script)
        .arg(s.kubeconfig())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true);
    let out = common::run(cmd, None).await;
    assert!(
        !out.stderr.contains("No module named 'kubernetes'"),
        "the Python kubernetes client is missing: run scripts/install-test-tools.sh"
    );
    assert!(
        out.ok,
        "python client flow failed:\n{}\n{}",
        out.stdout, out.stderr
    );
    for step in [
        "create:",
        "list: 1",
        "patch:",
        "strategic-merge:",
        "delete: 404",
        "invalid: 422",
        "watch:",
    ] {
        assert!(out.stdout.contains(step), "missing {step:?} in\n{}", out.stdout);
    }
    s.running.shutdown().await;
}
