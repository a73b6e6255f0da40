//! What the benchmarks against `ferry up` share: the cluster as a child process and a client that
//! waits for it to be ready. Included by each bench with `mod support;`.

use std::{
    net::TcpListener,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use anyhow::Context;
use k8s_openapi::api::core::v1::Node;
use kube::{Api, Client, api::ListParams};

/// Bound on starting `ferry up` until the API answers with Ready nodes.
const STARTUP_LIMIT: Duration = Duration::from_secs(60);

/// A `ferry up` child process in its own data directory; killed and cleaned up on drop.
pub struct Cluster {
    child: Child,
    /// The cluster's `--data-dir` (kubeconfig, step logs, `ferry-up.log`).
    pub data_dir: PathBuf,
}

impl Cluster {
    /// Starts `ferry up --sim-speed SIM_SPEED --nodes NODES` in a fresh temp data directory.
    pub fn start(label: &str, sim_speed: &str, nodes: usize) -> anyhow::Result<Cluster> {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let data_dir =
            std::env::temp_dir().join(format!("ferry-bench-{label}-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&data_dir).with_context(|| format!("creating {}", data_dir.display()))?;
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .context("finding a free port")?;
        let log_path = data_dir.join("ferry-up.log");
        let log =
            std::fs::File::create(&log_path).with_context(|| format!("creating {}", log_path.display()))?;
        let data_dir_arg = data_dir.to_str().context("temp dir is not UTF-8")?;
        let child = Command::new(env!("CARGO_BIN_EXE_ferry"))
            .args([
                "up",
                "--data-dir",
                data_dir_arg,
                "--listen",
                &format!("127.0.0.1:{port}"),
            ])
            .args(["--sim-speed", sim_speed, "--nodes", &nodes.to_string()])
            .stdin(Stdio::null())
            .stdout(log.try_clone().context("duplicating the log handle")?)
            .stderr(log)
            .spawn()
            .context("spawning ferry up")?;
        Ok(Cluster { child, data_dir })
    }

    pub fn kubeconfig(&self) -> PathBuf {
        self.data_dir.join("kubeconfig")
    }

    /// Waits until the kubeconfig exists, the API answers and at least `nodes` nodes are Ready.
    pub async fn client(&self, nodes: usize) -> anyhow::Result<Client> {
        let started = Instant::now();
        let mut last_error = String::from("no attempt yet");
        while started.elapsed() < STARTUP_LIMIT {
            match try_client(&self.kubeconfig(), nodes).await {
                Ok(Some(client)) => return Ok(client),
                Ok(None) => last_error = "nodes not Ready yet".to_string(),
                Err(e) => last_error = format!("{e:#}"),
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        anyhow::bail!(
            "ferry up did not become ready in {} s ({last_error}); log: {}",
            STARTUP_LIMIT.as_secs(),
            self.data_dir.join("ferry-up.log").display()
        )
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.data_dir);
    }
}

async fn try_client(kubeconfig: &Path, nodes: usize) -> anyhow::Result<Option<Client>> {
    if !kubeconfig.exists() {
        return Ok(None);
    }
    let config = kube::config::Kubeconfig::read_from(kubeconfig).context("reading the kubeconfig")?;
    let config = kube::Config::from_custom_kubeconfig(config, &kube::config::KubeConfigOptions::default())
        .await
        .context("loading the kubeconfig")?;
    let client = Client::try_from(config).context("building the client")?;
    let list = Api::<Node>::all(client.clone())
        .list(&ListParams::default())
        .await?;
    let ready = list
        .items
        .iter()
        .filter(|node| {
            node.status
                .as_ref()
                .and_then(|s| s.conditions.as_ref())
                .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
        })
        .count();
    Ok((ready >= nodes).then_some(client))
}
