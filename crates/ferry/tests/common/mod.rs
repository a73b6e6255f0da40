//! A real embedded cluster for end-to-end tests: `ferry up` as a child process, driven with the real
//! `kubectl` on PATH. The process is killed when the handle drops, even when a test fails.
#![allow(dead_code)] // Each test binary uses a different part of this helper.

use std::{
    net::TcpListener,
    path::{Path, PathBuf},
    process::{Child, Command, Output, Stdio},
    time::{Duration, Instant},
};

pub struct Cluster {
    child: Child,
    pub data_dir: PathBuf,
    _tmp: Option<TempDir>,
}

/// A directory removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(label: &str) -> TempDir {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let path = std::env::temp_dir().join(format!("ferry-{label}-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&path).expect("create temp dir");
        TempDir(path)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

impl Cluster {
    /// `ferry up --sim-speed 0` in a fresh data dir, plus `extra` flags; waits until the API answers.
    pub fn start(label: &str, extra: &[&str]) -> Cluster {
        let tmp = TempDir::new(label);
        let data_dir = tmp.0.clone();
        let mut cluster = Cluster::start_in(&data_dir, extra);
        cluster._tmp = Some(tmp);
        cluster
    }

    /// Like [`Cluster::start`], with extra environment variables for `ferry up`.
    pub fn start_with_env(label: &str, extra: &[&str], env: &[(&str, &std::ffi::OsStr)]) -> Cluster {
        let tmp = TempDir::new(label);
        let data_dir = tmp.0.clone();
        let mut cluster = Cluster::start_in_with_env(&data_dir, extra, env);
        cluster._tmp = Some(tmp);
        cluster
    }

    /// `ferry up` on an existing data dir (a restart keeps the state).
    pub fn start_in(data_dir: &Path, extra: &[&str]) -> Cluster {
        Cluster::start_in_with_env(data_dir, extra, &[])
    }

    /// [`Cluster::start_in`] with extra environment variables for `ferry up`.
    pub fn start_in_with_env(data_dir: &Path, extra: &[&str], env: &[(&str, &std::ffi::OsStr)]) -> Cluster {
        let port = free_port();
        let listen = format!("127.0.0.1:{port}");
        let mut args = vec![
            "up",
            "--data-dir",
            data_dir.to_str().expect("utf-8 path"),
            "--listen",
            &listen,
        ];
        if !extra.contains(&"--sim-speed") {
            args.extend(["--sim-speed", "0"]);
        }
        args.extend(extra);
        let log = std::fs::File::create(data_dir.join("ferry-up.log")).expect("log file");
        let child = Command::new(env!("CARGO_BIN_EXE_ferry"))
            .args(&args)
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log handle"))
            .stderr(log)
            .spawn()
            .expect("spawn ferry up");
        let cluster = Cluster {
            child,
            data_dir: data_dir.to_path_buf(),
            _tmp: None,
        };
        cluster.wait_for("the API server and nodes", Duration::from_secs(60), || {
            let out = cluster.kubectl(&["get", "nodes", "--no-headers"]);
            out.status.success() && String::from_utf8_lossy(&out.stdout).contains(" Ready")
        });
        cluster
    }

    pub fn kubeconfig(&self) -> PathBuf {
        self.data_dir.join("kubeconfig")
    }

    pub fn kubectl(&self, args: &[&str]) -> Output {
        Command::new("kubectl")
            .args(args)
            .env("KUBECONFIG", self.kubeconfig())
            .env("HOME", &self.data_dir)
            .output()
            .expect("run kubectl")
    }

    /// Runs kubectl and returns stdout, failing the test with stderr on a non-zero exit.
    pub fn kubectl_ok(&self, args: &[&str]) -> String {
        let out = self.kubectl(args);
        assert!(
            out.status.success(),
            "kubectl {} failed: {}\n{}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr),
            self.log_tail()
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// `kubectl apply -f -` with `yaml` on stdin.
    pub fn apply(&self, yaml: &str) -> String {
        use std::io::Write;
        let mut child = Command::new("kubectl")
            .args(["apply", "-f", "-"])
            .env("KUBECONFIG", self.kubeconfig())
            .env("HOME", &self.data_dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run kubectl apply");
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(yaml.as_bytes())
            .expect("write yaml");
        let out = child.wait_with_output().expect("kubectl apply");
        assert!(
            out.status.success(),
            "kubectl apply failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// `kubectl get … -o json` parsed.
    pub fn get_json(&self, args: &[&str]) -> serde_json::Value {
        let mut all = vec!["get"];
        all.extend(args);
        all.extend(["-o", "json"]);
        serde_json::from_str(&self.kubectl_ok(&all)).expect("kubectl printed JSON")
    }

    /// Polls `check` every 100 ms until it holds, failing the test after `timeout`.
    pub fn wait_for(&self, what: &str, timeout: Duration, mut check: impl FnMut() -> bool) {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if check() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!(
            "timed out after {timeout:?} waiting for {what}\n{}",
            self.log_tail()
        );
    }

    pub fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(self.data_dir.join("ferry-up.log")).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        format!(
            "--- ferry up log (tail) ---\n{}",
            lines[lines.len().saturating_sub(40)..].join("\n")
        )
    }

    /// Kills the process (as `kill -9` would) and waits for it.
    pub fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Bound on a Tekton run reaching its final condition in [`wait_finished`].
pub const RUN_FINISH_LIMIT: Duration = Duration::from_secs(90);

/// `(status, reason, message)` of a Tekton run's `Succeeded` condition (empty strings when absent).
pub fn succeeded(object: &serde_json::Value) -> (String, String, String) {
    let condition = object
        .pointer("/status/conditions")
        .and_then(serde_json::Value::as_array)
        .and_then(|conditions| {
            conditions
                .iter()
                .find(|c| c.get("type").and_then(serde_json::Value::as_str) == Some("Succeeded"))
        });
    let field = |name: &str| {
        condition
            .and_then(|c| c.get(name))
            .and_then(serde_json::Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    (field("status"), field("reason"), field("message"))
}

/// Waits until the run's `Succeeded` condition is True or False and returns the object.
pub fn wait_finished(cluster: &Cluster, resource: &str, name: &str) -> serde_json::Value {
    let mut last = serde_json::Value::Null;
    cluster.wait_for(&format!("{resource} {name} to finish"), RUN_FINISH_LIMIT, || {
        let out = cluster.kubectl(&["get", resource, name, "-o", "json"]);
        if !out.status.success() {
            return false;
        }
        last = serde_json::from_slice(&out.stdout).unwrap_or(serde_json::Value::Null);
        matches!(succeeded(&last).0.as_str(), "True" | "False")
    });
    last
}
