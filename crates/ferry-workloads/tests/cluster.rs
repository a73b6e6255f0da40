//! End to end against the embedded API server over HTTP: the simulated kubelet (sim speed 0)
//! runs the pods, `run_all` runs the workload controllers. Every wait is bounded.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use ferry_kubelet::lifecycle::SimConfig;
use ferry_kubelet::runtime::{Kubelet, KubeletConfig};
use futures::StreamExt;
use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{Endpoints, Pod, Service};
use k8s_openapi::api::events::v1::Event;
use kube::api::{ListParams, Patch, PatchParams, PostParams};
use kube::runtime::watcher;
use kube::{Api, Client};
use serde_json::json;

const WAIT: Duration = Duration::from_secs(60);

struct Cluster {
    client: Client,
    server: Option<ferry_apiserver::Running>,
    kubelet: Option<Kubelet>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    controllers: Option<tokio::task::JoinHandle<()>>,
    _dir: tempfile::TempDir,
}

impl Cluster {
    async fn start() -> Cluster {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_test_writer()
            .try_init();
        let dir = tempfile::tempdir().expect("temp dir");
        let storage = Arc::new(ferry_store::MemStore::default());
        let mut config = ferry_apiserver::Config::new(
            "127.0.0.1:0".parse().expect("address"),
            dir.path().to_path_buf(),
            storage,
        );
        config.tls = false;
        config.require_auth = false;
        let server = ferry_apiserver::start(config).await.expect("api server starts");
        let client_config = kube::Config::new(server.url.parse().expect("server url"));
        let client = Client::try_from(client_config).expect("client");
        let kubelet = Kubelet::start(
            client.clone(),
            KubeletConfig {
                nodes: 2,
                sim: SimConfig {
                    speed: 0.0,
                    ..SimConfig::default()
                },
                ..KubeletConfig::default()
            },
        )
        .await
        .expect("kubelet starts");
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let controllers = tokio::spawn(ferry_workloads::run_all(client.clone(), async move {
            let _ = stopped.await;
        }));
        Cluster {
            client,
            server: Some(server),
            kubelet: Some(kubelet),
            stop: Some(stop),
            controllers: Some(controllers),
            _dir: dir,
        }
    }

    /// Stops the workload controllers and starts fresh ones (empty caches and expectations).
    async fn restart_controllers(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.controllers.take() {
            tokio::time::timeout(Duration::from_secs(10), task)
                .await
                .expect("controllers stop within 10s")
                .expect("controllers task");
        }
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        self.controllers = Some(tokio::spawn(ferry_workloads::run_all(
            self.client.clone(),
            async move {
                let _ = stopped.await;
            },
        )));
        self.stop = Some(stop);
    }

    async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.controllers.take() {
            let _ = tokio::time::timeout(Duration::from_secs(10), task).await;
        }
        if let Some(kubelet) = self.kubelet.take() {
            kubelet.shutdown().await;
        }
        if let Some(server) = self.server.take() {
            server.shutdown().await;
        }
    }
}

/// Polls `check` until it returns `Some`, failing the test with `what` after [`WAIT`].
async fn eventually<T, F, Fut>(what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn deployment(name: &str, image: &str, replicas: i32) -> Deployment {
    serde_json::from_value(json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "app", "image": image, "ports": [{"name": "http", "containerPort": 8080}]}]}
            }
        }
    }))
    .expect("deployment manifest")
}

fn condition(d: &Deployment, type_: &str) -> Option<(String, String, String)> {
    let c = d
        .status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == type_)?;
    Some((
        c.status.clone(),
        c.reason.clone().unwrap_or_default(),
        c.message.clone().unwrap_or_default(),
    ))
}

/// Waits for an event about `name` with `reason` and returns its note.
async fn event_note(client: &Client, name: &str, reason: &str) -> String {
    let events: Api<Event> = Api::namespaced(client.clone(), "default");
    eventually(&format!("{reason} event for {name}"), || async {
        let list = events.list(&ListParams::default()).await.ok()?.items;
        list.into_iter()
            .find(|e| {
                e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some(name)
                    && e.reason.as_deref() == Some(reason)
            })
            .and_then(|e| e.note)
    })
    .await
}

async fn rolled_out(api: &Api<Deployment>, name: &str, replicas: i32, generation: i64) -> Deployment {
    eventually(&format!("deployment {name} rolled out"), || async {
        let d = api.get(name).await.ok()?;
        let s = d.status.clone()?;
        let done = s.observed_generation >= Some(generation)
            && s.updated_replicas == Some(replicas)
            && s.available_replicas == Some(replicas)
            && s.replicas == Some(replicas)
            && condition(&d, "Progressing").is_some_and(|c| c.1 == "NewReplicaSetAvailable");
        done.then_some(d)
    })
    .await
}

fn active_pods(pods: &[Pod]) -> Vec<&Pod> {
    pods.iter()
        .filter(|p| p.metadata.deletion_timestamp.is_none())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deployment_rolls_out_and_endpoints_follow_ready_pods() {
    let cluster = Cluster::start().await;
    let client = cluster.client.clone();
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), "default");
    let replica_sets: Api<ReplicaSet> = Api::namespaced(client.clone(), "default");
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");

    deployments
        .create(&PostParams::default(), &deployment("web", "nginx:1.25", 2))
        .await
        .expect("create deployment");
    let d = rolled_out(&deployments, "web", 2, 1).await;
    let (_, _, message) = condition(&d, "Progressing").expect("progressing");
    let (status, reason, available) = condition(&d, "Available").expect("available");
    assert_eq!(
        (status.as_str(), reason.as_str()),
        ("True", "MinimumReplicasAvailable")
    );
    assert_eq!(available, "Deployment has minimum availability.");
    let revision = d.metadata.annotations.clone().unwrap_or_default();
    assert_eq!(
        revision
            .get("deployment.kubernetes.io/revision")
            .map(String::as_str),
        Some("1")
    );

    let rs_list = replica_sets
        .list(&ListParams::default())
        .await
        .expect("list rs")
        .items;
    assert_eq!(rs_list.len(), 1);
    let rs = &rs_list[0];
    let rs_name = rs.metadata.name.clone().unwrap_or_default();
    let hash = rs
        .metadata
        .labels
        .clone()
        .unwrap_or_default()
        .get("pod-template-hash")
        .cloned()
        .expect("hash label");
    assert_eq!(rs_name, format!("web-{hash}"));
    assert_eq!(
        message,
        format!("ReplicaSet \"{rs_name}\" has successfully progressed.")
    );
    let scaled = event_note(&client, "web", "ScalingReplicaSet").await;
    assert_eq!(scaled, format!("Scaled up replica set {rs_name} from 0 to 2"));
    let created = event_note(&client, &rs_name, "SuccessfulCreate").await;
    assert!(
        created.starts_with(&format!("Created pod: {rs_name}-")),
        "{created}"
    );
    let pod_list = pods.list(&ListParams::default()).await.expect("list pods").items;
    assert_eq!(pod_list.len(), 2, "exactly two pods, no duplicates");
    for pod in &pod_list {
        let name = pod.metadata.name.clone().unwrap_or_default();
        assert!(name.starts_with(&format!("{rs_name}-")), "{name}");
        assert_eq!(
            pod.metadata
                .labels
                .clone()
                .unwrap_or_default()
                .get("pod-template-hash"),
            Some(&hash)
        );
        let owner = &pod.metadata.owner_references.clone().unwrap_or_default()[0];
        assert_eq!(
            (owner.kind.as_str(), owner.controller, owner.block_owner_deletion),
            ("ReplicaSet", Some(true), Some(true))
        );
    }

    // A Service with a named target port gets the ready pods as endpoints.
    let services: Api<Service> = Api::namespaced(client.clone(), "default");
    let svc: Service = serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": "web", "namespace": "default"},
        "spec": {"selector": {"app": "web"}, "ports": [{"name": "http", "port": 80, "targetPort": "http"}]}
    }))
    .expect("service manifest");
    services
        .create(&PostParams::default(), &svc)
        .await
        .expect("create service");
    let endpoints: Api<Endpoints> = Api::namespaced(client.clone(), "default");
    let ep = eventually("endpoints with two addresses", || async {
        let ep = endpoints.get_opt("web").await.ok()??;
        let subsets = ep.subsets.clone()?;
        let count: usize = subsets
            .iter()
            .map(|s| s.addresses.as_ref().map_or(0, Vec::len))
            .sum();
        (count == 2).then_some(ep)
    })
    .await;
    let subset = &ep.subsets.unwrap_or_default()[0];
    assert_eq!(subset.ports.clone().unwrap_or_default()[0].port, 8080);

    // Change the image: a second ReplicaSet takes over, the first is scaled to zero.
    let patch =
        json!({"spec": {"template": {"spec": {"containers": [{"name": "app", "image": "nginx:1.26"}]}}}});
    deployments
        .patch("web", &PatchParams::default(), &Patch::Strategic(patch))
        .await
        .expect("patch image");
    let d = rolled_out(&deployments, "web", 2, 2).await;
    let annotations = d.metadata.annotations.clone().unwrap_or_default();
    assert_eq!(
        annotations
            .get("deployment.kubernetes.io/revision")
            .map(String::as_str),
        Some("2")
    );
    let rs_list = replica_sets
        .list(&ListParams::default())
        .await
        .expect("list rs")
        .items;
    assert_eq!(rs_list.len(), 2);
    let old = rs_list
        .iter()
        .find(|r| r.metadata.name.as_deref() == Some(rs_name.as_str()))
        .expect("old rs kept");
    assert_eq!(old.spec.as_ref().and_then(|s| s.replicas), Some(0));
    let pods_now = eventually("old pods gone", || async {
        let list = pods.list(&ListParams::default()).await.ok()?.items;
        (list.len() == 2).then_some(list)
    })
    .await;
    for pod in active_pods(&pods_now) {
        let image = pod
            .spec
            .as_ref()
            .and_then(|s| s.containers.first())
            .and_then(|c| c.image.clone());
        assert_eq!(image.as_deref(), Some("nginx:1.26"));
    }
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn job_runs_to_completion_and_unpullable_deployment_times_out() {
    let cluster = Cluster::start().await;
    let client = cluster.client.clone();
    let jobs: Api<Job> = Api::namespaced(client.clone(), "default");
    let job: Job = serde_json::from_value(json!({
        "apiVersion": "batch/v1", "kind": "Job",
        "metadata": {"name": "migrate", "namespace": "default"},
        "spec": {
            "completions": 2, "parallelism": 1, "backoffLimit": 2,
            "template": {"spec": {"restartPolicy": "Never", "containers": [{"name": "m", "image": "busybox"}]}}
        }
    }))
    .expect("job manifest");
    jobs.create(&PostParams::default(), &job)
        .await
        .expect("create job");

    // A deployment whose image never pulls: Progressing, then ProgressDeadlineExceeded.
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), "default");
    let mut stuck = deployment("stuck", "registry.invalid/nope:1", 1);
    if let Some(spec) = stuck.spec.as_mut() {
        spec.progress_deadline_seconds = Some(2);
    }
    deployments
        .create(&PostParams::default(), &stuck)
        .await
        .expect("create stuck deployment");

    let done = eventually("job complete", || async {
        let j = jobs.get("migrate").await.ok()?;
        let complete = j
            .status
            .as_ref()?
            .conditions
            .as_ref()?
            .iter()
            .any(|c| c.type_ == "Complete" && c.status == "True");
        complete.then_some(j)
    })
    .await;
    let status = done.status.clone().unwrap_or_default();
    assert_eq!(status.succeeded, Some(2));
    assert!(status.start_time.is_some() && status.completion_time.is_some());
    let conditions = status.conditions.unwrap_or_default();
    let complete = conditions
        .iter()
        .find(|c| c.type_ == "Complete")
        .expect("Complete");
    assert_eq!(complete.reason.as_deref(), Some("CompletionsReached"));
    assert!(
        conditions
            .iter()
            .any(|c| c.type_ == "SuccessCriteriaMet" && c.status == "True")
    );
    assert_eq!(event_note(&client, "migrate", "Completed").await, "Job completed");
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let job_pods = pods
        .list(&ListParams::default().labels("batch.kubernetes.io/job-name=migrate"))
        .await
        .expect("list job pods")
        .items;
    assert_eq!(job_pods.len(), 2, "one pod per completion, no duplicates");
    for pod in &job_pods {
        let name = pod.metadata.name.clone().unwrap_or_default();
        let suffix = name.strip_prefix("migrate-").unwrap_or_default();
        assert_eq!(suffix.len(), 5, "{name}");
        let labels = pod.metadata.labels.clone().unwrap_or_default();
        assert_eq!(labels.get("job-name").map(String::as_str), Some("migrate"));
        assert_eq!(labels.get("controller-uid"), done.metadata.uid.as_ref());
    }

    let stuck = eventually("stuck deployment times out", || async {
        let d = deployments.get("stuck").await.ok()?;
        condition(&d, "Progressing")
            .is_some_and(|c| c.1 == "ProgressDeadlineExceeded")
            .then_some(d)
    })
    .await;
    let (status, _, message) = condition(&stuck, "Progressing").expect("progressing");
    assert_eq!(status, "False");
    assert!(message.ends_with("has timed out progressing."), "{message}");
    let (available, reason, _) = condition(&stuck, "Available").expect("available");
    assert_eq!(
        (available.as_str(), reason.as_str()),
        ("False", "MinimumReplicasUnavailable")
    );
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recreate_deployment_replaces_all_pods() {
    let cluster = Cluster::start().await;
    let client = cluster.client.clone();
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), "default");
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let mut d = deployment("db", "postgres:16", 2);
    if let Some(spec) = d.spec.as_mut() {
        spec.strategy = serde_json::from_value(json!({"type": "Recreate"})).ok();
    }
    deployments
        .create(&PostParams::default(), &d)
        .await
        .expect("create deployment");
    rolled_out(&deployments, "db", 2, 1).await;
    let first: Vec<String> = pods
        .list(&ListParams::default())
        .await
        .expect("list pods")
        .items
        .iter()
        .filter_map(|p| p.metadata.name.clone())
        .collect();
    assert_eq!(first.len(), 2);
    let patch =
        json!({"spec": {"template": {"spec": {"containers": [{"name": "app", "image": "postgres:17"}]}}}});
    deployments
        .patch("db", &PatchParams::default(), &Patch::Strategic(patch))
        .await
        .expect("patch image");
    rolled_out(&deployments, "db", 2, 2).await;
    let now = eventually("only new pods", || async {
        let list = pods.list(&ListParams::default()).await.ok()?.items;
        (list.len() == 2).then_some(list)
    })
    .await;
    for pod in &now {
        let name = pod.metadata.name.clone().unwrap_or_default();
        assert!(!first.contains(&name), "{name} survived a Recreate rollout");
        let image = pod
            .spec
            .as_ref()
            .and_then(|s| s.containers.first())
            .and_then(|c| c.image.clone());
        assert_eq!(image.as_deref(), Some("postgres:17"));
    }
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_job_reaches_backoff_limit() {
    let cluster = Cluster::start().await;
    let jobs: Api<Job> = Api::namespaced(cluster.client.clone(), "default");
    let job: Job = serde_json::from_value(json!({
        "apiVersion": "batch/v1", "kind": "Job",
        "metadata": {"name": "broken", "namespace": "default"},
        "spec": {
            "backoffLimit": 0,
            "template": {
                "metadata": {"annotations": {"sim.ferry.dev/exit-code": "3"}},
                "spec": {"restartPolicy": "Never", "containers": [{"name": "m", "image": "busybox"}]}
            }
        }
    }))
    .expect("job manifest");
    jobs.create(&PostParams::default(), &job)
        .await
        .expect("create job");
    let failed = eventually("job failed", || async {
        let j = jobs.get("broken").await.ok()?;
        let conditions = j.status.as_ref()?.conditions.clone()?;
        conditions
            .into_iter()
            .find(|c| c.type_ == "Failed" && c.status == "True")
    })
    .await;
    assert_eq!(failed.reason.as_deref(), Some("BackoffLimitExceeded"));
    assert_eq!(
        failed.message.as_deref(),
        Some("Job has reached the specified backoff limit")
    );
    let j = jobs.get("broken").await.expect("get job");
    let status = j.status.unwrap_or_default();
    assert_eq!(status.failed, Some(1));
    assert!(
        status
            .conditions
            .unwrap_or_default()
            .iter()
            .any(|c| c.type_ == "FailureTarget")
    );
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn controller_restart_mid_rollout_creates_no_extra_pods() {
    let mut cluster = Cluster::start().await;
    let client = cluster.client.clone();
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), "default");
    let replica_sets: Api<ReplicaSet> = Api::namespaced(client.clone(), "default");
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let replicas = 6;
    deployments
        .create(&PostParams::default(), &deployment("api", "nginx:1.25", replicas))
        .await
        .expect("create deployment");
    rolled_out(&deployments, "api", replicas, 1).await;

    // Record every pod that ever exists during the rollout (a watch sees short-lived ones too).
    let observer_pods = pods.clone();
    let (done_tx, done_rx) = tokio::sync::oneshot::channel::<()>();
    let (listed_tx, listed_rx) = tokio::sync::oneshot::channel::<()>();
    let observer = tokio::spawn(async move {
        let mut seen = std::collections::BTreeSet::new();
        let mut listed = Some(listed_tx);
        let events = watcher(observer_pods, watcher::Config::default()).take_until(done_rx);
        futures::pin_mut!(events);
        while let Some(event) = events.next().await {
            match event {
                Ok(watcher::Event::Apply(pod) | watcher::Event::InitApply(pod)) => {
                    seen.extend(pod.metadata.name);
                }
                Ok(watcher::Event::InitDone) => {
                    if let Some(tx) = listed.take() {
                        let _ = tx.send(());
                    }
                }
                _ => {}
            }
        }
        seen
    });
    tokio::time::timeout(WAIT, listed_rx)
        .await
        .expect("pod watch lists within the wait")
        .expect("observer running");

    let patch =
        json!({"spec": {"template": {"spec": {"containers": [{"name": "app", "image": "nginx:1.26"}]}}}});
    deployments
        .patch("api", &PatchParams::default(), &Patch::Strategic(patch))
        .await
        .expect("patch image");
    // Restart as soon as the rollout has started.
    eventually("second replica set", || async {
        let list = replica_sets.list(&ListParams::default()).await.ok()?.items;
        (list.len() == 2).then_some(())
    })
    .await;
    cluster.restart_controllers().await;
    rolled_out(&deployments, "api", replicas, 2).await;
    let settled = eventually("old pods gone", || async {
        let list = pods.list(&ListParams::default()).await.ok()?.items;
        (list.len() == usize::try_from(replicas).unwrap_or_default()).then_some(list)
    })
    .await;
    let _ = done_tx.send(());
    let seen = observer.await.expect("observer");
    // Exactly one pod per replica was ever created for each ReplicaSet: no duplicates.
    for rs in replica_sets
        .list(&ListParams::default())
        .await
        .expect("list rs")
        .items
    {
        let prefix = format!("{}-", rs.metadata.name.unwrap_or_default());
        let created = seen.iter().filter(|name| name.starts_with(&prefix)).count();
        assert_eq!(created, 6, "pods created for {prefix}*: {seen:?}");
    }
    for pod in &settled {
        let image = pod
            .spec
            .as_ref()
            .and_then(|s| s.containers.first())
            .and_then(|c| c.image.clone());
        assert_eq!(image.as_deref(), Some("nginx:1.26"));
    }
    cluster.shutdown().await;
}
