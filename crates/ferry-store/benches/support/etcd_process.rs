//! Debian's etcd as a benchmark peer: a one-member cluster with its data under the bench's temp dir,
//! killed when dropped. Shared by ferry-store's and ferry-apiserver's benchmarks (included with
//! `#[path]`); each waits for readiness with its own client.

use std::{
    path::Path,
    process::{Child, Command, Stdio},
};

pub struct EtcdProcess(Child);

impl EtcdProcess {
    /// Starts `etcd` serving clients on `client` and peers on `peer` (both `host:port`).
    pub fn spawn(dir: &Path, client: &str, peer: &str) -> std::io::Result<EtcdProcess> {
        let client_url = format!("http://{client}");
        let peer_url = format!("http://{peer}");
        let child = Command::new("etcd")
            .args(["--name", "bench", "--data-dir"])
            .arg(dir.join("etcd"))
            .args([
                "--listen-client-urls",
                &client_url,
                "--advertise-client-urls",
                &client_url,
            ])
            .args([
                "--listen-peer-urls",
                &peer_url,
                "--initial-advertise-peer-urls",
                &peer_url,
            ])
            .args(["--initial-cluster", &format!("bench={peer_url}")])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?;
        Ok(EtcdProcess(child))
    }

    /// The process id (for its RSS in `/proc/<pid>/status`).
    #[allow(dead_code)] // ferry-store's bench does not read it.
    pub fn id(&self) -> u32 {
        self.0.id()
    }
}

impl Drop for EtcdProcess {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
