//! Shared helpers: an in-process server on 127.0.0.1:0 and bounded runs of external clients.
#![allow(dead_code)]

pub mod http;

use std::{path::PathBuf, process::Stdio, sync::Arc, time::Duration};

use ferry_apiserver::{Config, Running};
use ferry_store::{MemStore, Storage};

pub struct Server {
    pub running: Running,
    pub dir: tempfile::TempDir,
}

impl Server {
    pub fn kubeconfig(&self) -> PathBuf {
        self.running.kubeconfig.clone()
    }
}

pub async fn start_with(storage: Arc<dyn Storage>, dir: tempfile::TempDir, tls: bool) -> Server {
    let mut config = Config::new("127.0.0.1:0".parse().unwrap(), dir.path().to_path_buf(), storage);
    config.tls = tls;
    let running = ferry_apiserver::start(config).await.expect("server starts");
    Server { running, dir }
}

pub async fn start() -> Server {
    start_with(Arc::new(MemStore::default()), tempfile::tempdir().unwrap(), true).await
}

/// Output of an external command.
#[derive(Debug)]
pub struct Out {
    pub ok: bool,
    pub stdout: String,
    pub stderr: String,
}

/// Runs `kubectl` against `server` with a private discovery cache, bounded to 60 s.
pub async fn kubectl(server: &Server, args: &[&str], stdin: Option<&str>) -> Out {
    let cache = server.dir.path().join("kube-cache");
    let mut cmd = tokio::process::Command::new("kubectl");
    cmd.args(args)
        .arg(format!("--cache-dir={}", cache.display()))
        .env("KUBECONFIG", server.kubeconfig())
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    run(cmd, stdin).await
}

pub async fn run(mut cmd: tokio::process::Command, stdin: Option<&str>) -> Out {
    let mut child = cmd.spawn().expect("command starts");
    if let (Some(input), Some(mut pipe)) = (stdin, child.stdin.take()) {
        use tokio::io::AsyncWriteExt;
        pipe.write_all(input.as_bytes()).await.expect("stdin written");
        drop(pipe);
    }
    let output = tokio::time::timeout(Duration::from_secs(60), child.wait_with_output())
        .await
        .expect("command finished within 60 s")
        .expect("command ran");
    Out {
        ok: output.status.success(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// Asserts success and returns stdout.
pub async fn kubectl_ok(server: &Server, args: &[&str], stdin: Option<&str>) -> String {
    let out = kubectl(server, args, stdin).await;
    assert!(out.ok, "kubectl {args:?} failed: {}\n{}", out.stderr, out.stdout);
    out.stdout
}

/// Polls `check` every 50 ms for up to 10 s.
pub async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    for _ in 0..200 {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("timed out waiting for {what}");
}
