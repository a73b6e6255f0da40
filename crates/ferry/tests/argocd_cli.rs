//! `ferry` invoked as `argocd` answers with Argo CD's CLI personality.

use std::process::Command;

mod common;

fn argocd_link(dir: &std::path::Path) -> std::path::PathBuf {
    let link = dir.join("argocd");
    std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_ferry"), &link).expect("symlink argocd");
    link
}

#[test]
fn version_and_unsupported_verbs() {
    let tmp = common::TempDir::new("argocd");
    let argocd = argocd_link(&tmp.0);
    let out = Command::new(&argocd)
        .args(["version", "--client"])
        .output()
        .expect("run argocd");
    assert!(out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stdout).starts_with("argocd: v"),
        "{out:?}"
    );

    // Verbs not served yet fail loudly with Argo CD's generic error code, never a silent success.
    let out = Command::new(&argocd)
        .args(["app", "sync", "helloworld"])
        .output()
        .expect("run argocd");
    assert_eq!(out.status.code(), Some(20));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("argocd app: not available"),
        "{out:?}"
    );
}
