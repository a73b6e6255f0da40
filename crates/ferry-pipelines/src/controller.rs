//! The run controller: kube-rs watchers over PipelineRuns and TaskRuns (both served
//! versions) that drive the pure state machines ([`crate::pipelinerun`],
//! [`crate::taskrun`]) and run steps with the local executor.
//!
//! - A PipelineRun round reads the Pipeline, the namespace's Tasks and the run's child
//!   TaskRuns (label `tekton.dev/pipelineRun`) from the API, calls
//!   [`crate::pipelinerun::reconcile`], creates the TaskRuns it plans (named
//!   `<pipelinerun>-<pipelinetask>`, owned by the run), cancels those it asks to cancel
//!   (`spec.status: TaskRunCancelled`) and writes the status when it changed. A change of
//!   a child TaskRun triggers its PipelineRun; timeouts come back as requeues.
//! - A TaskRun round starts an attempt runner on a background task (one per TaskRun uid);
//!   the runner resolves `taskRef`, prepares, runs the steps — in the local sandbox, or as a
//!   Pod with [`ExecutorKind::Pod`] (created, watched and deleted on cancel/timeout through
//!   the API) — and writes the Running and the final status (with retries). `spec.status: TaskRunCancelled` stops a
//!   running attempt through its cancel channel.
//!
//! Objects are read through the v1 endpoint and parsed in the version they were created
//! in ([`versions::created_version`]); status is written back in that version. Child
//! TaskRuns are created in their PipelineRun's version. Step logs are kept under
//! `<data dir>/logs/<namespace>/<taskrun>/<step>.log`, cut at 10 MiB each.

mod objects;
mod pipelinerun;
mod pod;
mod taskrun;
pub mod tools;
pub mod versions;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ferry_types::tekton::convert::ApiVersion;
use futures::StreamExt;
use kube::Client;
use kube::api::DynamicObject;
use kube::runtime::controller::{Action, Controller};
use kube::runtime::reflector::ObjectRef;
use kube::runtime::watcher;
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::executor::local::{LocalExecutor, LocalExecutorConfig};
use crate::executor::pod::PodConfig;
use crate::taskrun::EngineConfig;
pub use objects::ApiObjects;
use versions::{TektonKind, api_resource};

/// What the controller failed to do; each names the object at fault.
#[derive(Debug, thiserror::Error)]
pub enum ControllerError {
    #[error("{action}: {}", objects::api_error_summary(source))]
    Api {
        action: String,
        #[source]
        source: kube::Error,
    },
    #[error(transparent)]
    Convert(#[from] ferry_types::tekton::convert::ConvertError),
    #[error("encoding {what}: {source}")]
    Encode {
        what: String,
        #[source]
        source: serde_json::Error,
    },
}

/// Where a TaskRun's steps run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ExecutorKind {
    /// Sandboxed processes on this machine (the embedded default; no container engine).
    #[default]
    Local,
    /// A Pod per TaskRun, laid out as Tekton does, run by the cluster's kubelets (the mode
    /// for real clusters; on the embedded cluster the simulated kubelet runs it).
    Pod,
}

/// Environment variable naming the image with Ferry's binary for the Pod executor.
pub const ENTRYPOINT_IMAGE_ENV: &str = "FERRY_ENTRYPOINT_IMAGE";

/// Settings of the run controller.
#[derive(Clone, Debug)]
pub struct ControllerConfig {
    /// Engine settings (default timeout, result size, concurrency cap).
    pub engine: EngineConfig,
    /// Which executor runs TaskRuns.
    pub executor_kind: ExecutorKind,
    /// The local executor's directories, tools and kubeconfig.
    pub executor: LocalExecutorConfig,
    /// The Pod executor's image and release.
    pub pod: PodConfig,
}

impl ControllerConfig {
    /// Everything under `data_dir`: step logs in `logs/`, sandbox scratch space in
    /// `pipelines/`. Steps get `kubeconfig` (the embedded cluster's) as `KUBECONFIG`, and
    /// the tools of [`tools`]: Ferry's own binary as `argocd`/`tkn`/`ferry`, the host's
    /// `kubectl`, overridden by the executables in `$FERRY_TOOLS_DIR` when it is set.
    pub fn from_env(data_dir: &std::path::Path, kubeconfig: Option<PathBuf>) -> ControllerConfig {
        let mut executor = LocalExecutorConfig::under(data_dir);
        executor.logs_dir = data_dir.join("logs");
        executor.kubeconfig = kubeconfig;
        let ferry_binary = std::env::current_exe().ok();
        let kubectl = tools::find_on_path("kubectl");
        let defaults = tools::default_tools(ferry_binary.as_deref(), kubectl.as_deref());
        let overrides = std::env::var_os(tools::TOOLS_DIR_ENV)
            .map(PathBuf::from)
            .and_then(|dir| match tools::files_in(&dir) {
                Ok(files) => Some(files),
                Err(error) => {
                    tracing::warn!(dir = %dir.display(), %error, "ignoring {}", tools::TOOLS_DIR_ENV);
                    None
                }
            })
            .unwrap_or_default();
        executor.tools = tools::with_overrides(defaults, overrides);
        let mut pod = PodConfig::default();
        if let Some(image) = std::env::var(ENTRYPOINT_IMAGE_ENV).ok().filter(|i| !i.is_empty()) {
            pod.entrypoint_image = image;
        }
        ControllerConfig {
            engine: EngineConfig::default(),
            executor_kind: ExecutorKind::Local,
            executor,
            pod,
        }
    }
}

/// State shared by every reconcile round and attempt runner.
struct Context {
    client: Client,
    engine: EngineConfig,
    executor_kind: ExecutorKind,
    executor: LocalExecutor<ApiObjects>,
    pod: PodConfig,
    /// TaskRuns this controller started, by uid.
    running: Mutex<HashMap<String, taskrun::Attempt>>,
    /// The attempt runners, aborted on shutdown.
    runners: Mutex<JoinSet<()>>,
}

impl Context {
    fn running(&self) -> std::sync::MutexGuard<'_, HashMap<String, taskrun::Attempt>> {
        self.running
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn runners(&self) -> std::sync::MutexGuard<'_, JoinSet<()>> {
        self.runners
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// A running pipelines controller.
pub struct PipelinesController {
    stop: watch::Sender<bool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    context: Arc<Context>,
}

impl PipelinesController {
    /// Starts the PipelineRun and TaskRun controllers on the current tokio runtime.
    pub fn start(client: Client, config: ControllerConfig) -> PipelinesController {
        let context = Arc::new(Context {
            client: client.clone(),
            engine: config.engine,
            executor_kind: config.executor_kind,
            executor: LocalExecutor::new(config.executor, ApiObjects { client }),
            pod: config.pod,
            running: Mutex::new(HashMap::new()),
            runners: Mutex::new(JoinSet::new()),
        });
        let (stop, stop_signal) = watch::channel(false);
        let tasks = vec![
            tokio::spawn(run_pipeline_runs(context.clone(), stopped(stop_signal.clone()))),
            tokio::spawn(run_task_runs(context.clone(), stopped(stop_signal.clone()))),
            tokio::spawn(cancel_deleted_task_runs(context.clone(), stopped(stop_signal))),
        ];
        PipelinesController { stop, tasks, context }
    }

    /// Stops watching, waits for in-flight rounds, and stops running attempts (their
    /// TaskRuns are picked up again by the next start).
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        for task in self.tasks {
            let _ = task.await;
        }
        let mut runners = std::mem::take(&mut *self.context.runners());
        runners.shutdown().await;
    }
}

/// Completes once `stop` is set (a watch channel, so a late listener still sees it).
async fn stopped(mut stop: watch::Receiver<bool>) {
    let _ = stop.wait_for(|stopped| *stopped).await;
}

const ERROR_REQUEUE: Duration = Duration::from_secs(2);

/// A short debounce still folds the burst of watch events one status write causes into one round,
/// but every chained task pays it several times (TaskRun status → PipelineRun round → TaskRun
/// create → TaskRun round): 10 ms cost ~20 ms per task in `cargo bench -p ferry --bench pipelines`.
fn controller_config() -> kube::runtime::Config {
    kube::runtime::Config::default().debounce(Duration::from_millis(2))
}

async fn run_pipeline_runs(
    context: Arc<Context>,
    shutdown: impl Future<Output = ()> + Send + Sync + 'static,
) {
    let client = context.client.clone();
    let runs = api_resource(TektonKind::PipelineRun, ApiVersion::V1);
    let task_runs = api_resource(TektonKind::TaskRun, ApiVersion::V1);
    let owner_type = runs.clone();
    Controller::new_with(
        kube::Api::<DynamicObject>::all_with(client.clone(), &runs),
        watcher::Config::default(),
        runs,
    )
    .watches_with(
        kube::Api::<DynamicObject>::all_with(client, &task_runs),
        task_runs,
        watcher::Config::default().labels(pipelinerun::PIPELINE_RUN_LABEL),
        move |child: DynamicObject| pipelinerun::parent_of(&child, &owner_type),
    )
    .with_config(controller_config())
    .graceful_shutdown_on(shutdown)
    .run(pipelinerun::reconcile, error_policy, context)
    .for_each(|result| async move {
        if let Err(error) = result {
            tracing::debug!(%error, "pipelinerun reconcile");
        }
    })
    .await;
}

async fn run_task_runs(context: Arc<Context>, shutdown: impl Future<Output = ()> + Send + Sync + 'static) {
    let task_runs = api_resource(TektonKind::TaskRun, ApiVersion::V1);
    Controller::new_with(
        kube::Api::<DynamicObject>::all_with(context.client.clone(), &task_runs),
        watcher::Config::default(),
        task_runs,
    )
    .with_config(controller_config())
    .graceful_shutdown_on(shutdown)
    .run(taskrun::reconcile, error_policy, context)
    .for_each(|result| async move {
        if let Err(error) = result {
            tracing::debug!(%error, "taskrun reconcile");
        }
    })
    .await;
}

/// Stops the running attempt of a TaskRun that is deleted (reconcile rounds never see a
/// deleted object, so a plain watch does this).
async fn cancel_deleted_task_runs(
    context: Arc<Context>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    let task_runs = api_resource(TektonKind::TaskRun, ApiVersion::V1);
    let api = kube::Api::<DynamicObject>::all_with(context.client.clone(), &task_runs);
    let deletions = watcher::watcher(api, watcher::Config::default()).for_each(|event| {
        if let Ok(watcher::Event::Delete(object)) = event
            && let Some(uid) = object.metadata.uid.as_deref()
        {
            let attempt = context.running().remove(uid);
            if let Some(taskrun::Attempt::Running(cancel)) = attempt {
                tracing::info!(taskrun = %key_of(&object), "TaskRun deleted: stopping its steps");
                let _ = cancel.send(true);
            }
        }
        futures::future::ready(())
    });
    tokio::select! {
        () = deletions => {}
        () = shutdown => {}
    }
}

fn error_policy(object: Arc<DynamicObject>, error: &ControllerError, _: Arc<Context>) -> Action {
    tracing::warn!(
        namespace = object.metadata.namespace.as_deref().unwrap_or_default(),
        name = object.metadata.name.as_deref().unwrap_or_default(),
        %error,
        "pipelines reconcile failed"
    );
    Action::requeue(ERROR_REQUEUE)
}

/// `namespace/name` of an object, for logs.
fn key_of(object: &DynamicObject) -> String {
    format!(
        "{}/{}",
        object.metadata.namespace.as_deref().unwrap_or_default(),
        object.metadata.name.as_deref().unwrap_or_default()
    )
}

/// The reference a watch mapper returns.
fn object_ref(
    name: &str,
    namespace: Option<&str>,
    resource: &kube::core::ApiResource,
) -> ObjectRef<DynamicObject> {
    let reference = ObjectRef::new_with(name, resource.clone());
    match namespace {
        Some(namespace) => reference.within(namespace),
        None => reference,
    }
}
