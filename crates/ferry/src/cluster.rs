//! The embedded cluster assembled: the API server with Ferry's admission plug-ins, the simulated nodes
//! and the controllers, all in one process. Controllers reach the API server only over HTTP (kube-rs),
//! exactly as they would a real cluster.

use std::{collections::BTreeMap, sync::Arc};

use anyhow::Context;
use ferry_apiserver::{AdmissionError, AdmissionRequest, MutatingAdmission, Operation, ValidatingAdmission};
use ferry_store::Storage;
use k8s_openapi::api::core::v1::Pod;
use serde_json::Value;

const KRUISE_GROUP: &str = "apps.kruise.io";

fn is_cloneset(req: &AdmissionRequest<'_>) -> bool {
    req.resource.group == KRUISE_GROUP && req.resource.kind == "CloneSet" && req.subresource.is_none()
}

/// Kruise's CloneSet defaulting webhook, honouring the `TemplateNoDefaults` feature gate.
pub struct CloneSetDefaulting {
    pub template_no_defaults: bool,
}

impl MutatingAdmission for CloneSetDefaulting {
    fn name(&self) -> &str {
        "kruise-cloneset-defaulting"
    }

    fn admit(&self, req: &AdmissionRequest<'_>, object: &mut Value) -> Result<(), AdmissionError> {
        if is_cloneset(req) {
            let old = match req.operation {
                Operation::Create => None,
                Operation::Update => req.old,
            };
            ferry_cloneset::defaults::default_cloneset(object, old, self.template_no_defaults);
        }
        Ok(())
    }
}

/// Kruise's CloneSet validating webhook. `podsToDelete` names are checked against stored pods.
pub struct CloneSetValidation {
    pub storage: Arc<dyn Storage>,
}

/// Pods of one namespace, read straight from storage (the plug-in runs inside the API server).
struct StoredPods<'a> {
    storage: &'a dyn Storage,
    namespace: &'a str,
}

impl ferry_cloneset::validation::PodLookup for StoredPods<'_> {
    fn pod(&self, name: &str) -> Option<Pod> {
        let key = format!("/core/pods/{}/{name}", self.namespace);
        self.storage
            .get(&key)
            .and_then(|entry| serde_json::from_value((*entry.value).clone()).ok())
    }
}

impl ValidatingAdmission for CloneSetValidation {
    fn name(&self) -> &str {
        "kruise-cloneset-validation"
    }

    fn validate(&self, req: &AdmissionRequest<'_>, object: &Value) -> Result<(), AdmissionError> {
        if !is_cloneset(req) {
            return Ok(());
        }
        let pods = StoredPods {
            storage: self.storage.as_ref(),
            namespace: req.namespace.unwrap_or("default"),
        };
        let old = match req.operation {
            Operation::Create => None,
            Operation::Update => req.old,
        };
        let errors = ferry_cloneset::validation::validate_cloneset(object, old, &pods);
        if errors.is_empty() {
            return Ok(());
        }
        Err(AdmissionError::Invalid(errors))
    }
}

/// What `ferry up` runs besides the API server.
#[derive(Debug, Clone)]
pub struct ClusterOptions {
    pub nodes: usize,
    /// Multiplier on simulated delays: 0 = instant, 1 = realistic.
    pub sim_speed: f64,
    /// The data dir: pipeline step logs go to `<data_dir>/logs`.
    pub data_dir: std::path::PathBuf,
    /// The embedded cluster's kubeconfig, given to pipeline steps as `KUBECONFIG`.
    pub kubeconfig: std::path::PathBuf,
    /// Where pipeline steps run (`--pipelines-executor`).
    pub pipelines_executor: ferry_pipelines::controller::ExecutorKind,
}

/// The mutating and validating admission plug-ins, in the order they run.
pub type AdmissionPlugins = (Vec<Arc<dyn MutatingAdmission>>, Vec<Arc<dyn ValidatingAdmission>>);

/// Admission plug-ins of the embedded cluster.
pub fn admission(storage: Arc<dyn Storage>, feature_gates: &BTreeMap<String, bool>) -> AdmissionPlugins {
    let template_no_defaults = feature_gates.get("TemplateNoDefaults").copied().unwrap_or(false);
    (
        vec![Arc::new(CloneSetDefaulting { template_no_defaults })],
        vec![Arc::new(CloneSetValidation { storage })],
    )
}

/// A kube-rs client for the embedded API server, from the kubeconfig it wrote.
pub async fn client(kubeconfig: &std::path::Path) -> anyhow::Result<kube::Client> {
    let kubeconfig = kube::config::Kubeconfig::read_from(kubeconfig)
        .with_context(|| format!("reading {}", kubeconfig.display()))?;
    let config =
        kube::Config::from_custom_kubeconfig(kubeconfig, &kube::config::KubeConfigOptions::default())
            .await
            .context("loading the kubeconfig")?;
    kube::Client::try_from(config).context("building the API client")
}

/// The controllers and simulated nodes of a running embedded cluster.
pub struct Controllers {
    kubelet: ferry_kubelet::runtime::Kubelet,
    cloneset: ferry_cloneset::controller::CloneSetController,
    pipelines: ferry_pipelines::controller::PipelinesController,
    /// Deployment, ReplicaSet, Job and Endpoints controllers: a stop signal and their task.
    workloads: (tokio::sync::oneshot::Sender<()>, tokio::task::JoinHandle<()>),
    /// Reports unusable `argocd-cm` customizations (events and Application conditions).
    argocd_settings: crate::argocd_settings::SettingsWatcher,
}

impl Controllers {
    pub async fn start(client: kube::Client, options: &ClusterOptions) -> anyhow::Result<Controllers> {
        let sim = ferry_kubelet::lifecycle::SimConfig {
            speed: options.sim_speed,
            ..Default::default()
        };
        let kubelet_config = ferry_kubelet::runtime::KubeletConfig {
            nodes: options.nodes,
            sim,
            ..Default::default()
        };
        let kubelet = ferry_kubelet::runtime::Kubelet::start(client.clone(), kubelet_config)
            .await
            .context("starting the simulated nodes")?;
        let mut pipelines_config = ferry_pipelines::controller::ControllerConfig::from_env(
            &options.data_dir,
            Some(options.kubeconfig.clone()),
        );
        // Steps set up their sandbox with `ferry sandbox-init` (mount + chroot in-process, then exec),
        // several times faster than the shell-script fallback.
        pipelines_config.executor.init_program = std::env::current_exe()
            .ok()
            .map(|exe| vec![exe.to_string_lossy().into_owned(), "sandbox-init".to_string()]);
        pipelines_config.executor_kind = options.pipelines_executor;
        let pipelines =
            ferry_pipelines::controller::PipelinesController::start(client.clone(), pipelines_config);
        let (stop_workloads, stopped) = tokio::sync::oneshot::channel::<()>();
        let workloads = tokio::spawn(ferry_workloads::run_all(client.clone(), async move {
            let _ = stopped.await;
        }));
        let argocd_settings = crate::argocd_settings::SettingsWatcher::start(
            client.clone(),
            crate::argocd_settings::ARGOCD_NAMESPACE,
        );
        let cloneset = ferry_cloneset::controller::CloneSetController::start(client);
        Ok(Controllers {
            kubelet,
            cloneset,
            pipelines,
            workloads: (stop_workloads, workloads),
            argocd_settings,
        })
    }

    pub async fn shutdown(self) {
        let (stop_workloads, workloads) = self.workloads;
        let _ = stop_workloads.send(());
        let _ = workloads.await;
        self.argocd_settings.shutdown().await;
        self.pipelines.shutdown().await;
        self.cloneset.shutdown().await;
        self.kubelet.shutdown().await;
    }
}
