//! Executors run a prepared TaskRun's steps. [`local`] runs them as sandboxed host
//! processes (the embedded default); [`pod`] builds the Pod a TaskRun runs as on a cluster
//! and [`pod_status`] reads its status back.

pub mod init;
pub mod local;
pub mod pod;
pub mod pod_status;
pub mod sandbox;

use std::collections::BTreeMap;
use std::future::Future;

/// Secret and ConfigMap data the executor needs (volumes, `valueFrom`, `envFrom`,
/// workspace bindings). The controller implements it with the Kubernetes API; tests use
/// [`StaticObjects`]. `Ok(None)` means the object does not exist.
pub trait ObjectSource: Send + Sync {
    /// Decoded `data` (and `stringData`) of a Secret.
    fn secret(
        &self,
        namespace: &str,
        name: &str,
    ) -> impl Future<Output = Result<Option<BTreeMap<String, Vec<u8>>>, String>> + Send;
    /// `data` (and `binaryData`) of a ConfigMap.
    fn config_map(
        &self,
        namespace: &str,
        name: &str,
    ) -> impl Future<Output = Result<Option<BTreeMap<String, Vec<u8>>>, String>> + Send;
}

/// An in-memory [`ObjectSource`]: `(namespace, name) → key → bytes`.
#[derive(Clone, Debug, Default)]
pub struct StaticObjects {
    pub secrets: BTreeMap<(String, String), BTreeMap<String, Vec<u8>>>,
    pub config_maps: BTreeMap<(String, String), BTreeMap<String, Vec<u8>>>,
}

impl StaticObjects {
    pub fn with_secret(mut self, namespace: &str, name: &str, data: &[(&str, &str)]) -> Self {
        self.secrets.insert(
            (namespace.to_string(), name.to_string()),
            data.iter()
                .map(|(k, v)| (k.to_string(), v.as_bytes().to_vec()))
                .collect(),
        );
        self
    }

    pub fn with_config_map(mut self, namespace: &str, name: &str, data: &[(&str, &str)]) -> Self {
        self.config_maps.insert(
            (namespace.to_string(), name.to_string()),
            data.iter()
                .map(|(k, v)| (k.to_string(), v.as_bytes().to_vec()))
                .collect(),
        );
        self
    }
}

impl ObjectSource for StaticObjects {
    async fn secret(&self, namespace: &str, name: &str) -> Result<Option<BTreeMap<String, Vec<u8>>>, String> {
        Ok(self
            .secrets
            .get(&(namespace.to_string(), name.to_string()))
            .cloned())
    }

    async fn config_map(
        &self,
        namespace: &str,
        name: &str,
    ) -> Result<Option<BTreeMap<String, Vec<u8>>>, String> {
        Ok(self
            .config_maps
            .get(&(namespace.to_string(), name.to_string()))
            .cloned())
    }
}
