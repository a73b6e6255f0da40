//! The kube-rs side: watch caches, reconcilers that apply the planners' plans, and
//! [`run_all`]. Each controller reads from the watch cache whose events trigger it, so a
//! reconcile never sees a cache older than the event that woke it; expectations keep a lagging
//! cache from causing duplicate creations or deletions.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use futures::future::{BoxFuture, Shared};
use futures::{FutureExt, StreamExt, stream};
use jiff::Timestamp;
use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{Endpoints, ObjectReference, Pod, Service};
use kube::api::{DeleteParams, Patch, PatchParams, PostParams, Preconditions};
use kube::runtime::controller::Action;
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use kube::runtime::reflector::{self, ObjectRef, Store, reflector};
use kube::runtime::{Controller, WatchStreamExt, watcher};
use kube::{Api, Client, Resource, ResourceExt};
use serde::Serialize;
use serde_json::{Value, json};

use crate::deployment::{self, DeploymentAction};
use crate::endpoints;
use crate::expectations::{Expectations, Expected, status_merge_patch};
use crate::job;
use crate::replicaset::{self, PodRef};
use crate::util::{self, SpecError};

/// Field manager recorded on every write.
pub const FIELD_MANAGER: &str = "ferry-workloads";
/// Concurrent requests when creating a batch of pods.
const CREATE_CONCURRENCY: usize = 32;
/// How soon to look again while expectations are outstanding.
const EXPECTATION_POLL: Duration = Duration::from_secs(1);

/// Why a reconcile failed; it is retried.
#[derive(Debug, thiserror::Error)]
pub enum ReconcileError {
    /// An API request failed.
    #[error("{action} {kind} {object}: {source}")]
    Api {
        /// What was attempted (create, patch, delete…).
        action: &'static str,
        /// Kind of the object acted on.
        kind: &'static str,
        /// `namespace/name` of the object acted on.
        object: String,
        /// The client error.
        #[source]
        source: kube::Error,
    },
    /// The owner's spec cannot be interpreted.
    #[error(transparent)]
    Spec(#[from] SpecError),
    /// A watch cache's writer stopped before the cache became ready.
    #[error("the {0} watch cache stopped before it was ready")]
    CacheClosed(&'static str),
    /// A status could not be encoded as JSON.
    #[error("{kind} {object}: cannot encode status: {source}")]
    Encode {
        /// Kind of the object.
        kind: &'static str,
        /// `namespace/name` of the object.
        object: String,
        /// The encoder error.
        #[source]
        source: serde_json::Error,
    },
}

fn api_error(
    action: &'static str,
    kind: &'static str,
    namespace: &str,
    name: &str,
) -> impl FnOnce(kube::Error) -> ReconcileError {
    let object = format!("{namespace}/{name}");
    move |source| ReconcileError::Api {
        action,
        kind,
        object,
        source,
    }
}

fn is_status(err: &kube::Error, code: u16) -> bool {
    matches!(err, kube::Error::Api(status) if status.code == code)
}

fn to_duration(d: jiff::SignedDuration) -> Duration {
    Duration::try_from(d).unwrap_or(Duration::ZERO)
}

fn in_namespace<K: Clone + Resource<DynamicType = ()>>(store: &Store<K>, namespace: &str) -> Vec<K> {
    store
        .state()
        .iter()
        .filter(|o| o.meta().namespace.as_deref() == Some(namespace))
        .map(|o| (**o).clone())
        .collect()
}

/// Writes `desired` as the status of `name` when it differs from `current`.
async fn write_status<K, S>(
    api: &Api<K>,
    kind: &'static str,
    namespace: &str,
    name: &str,
    current: &Option<S>,
    desired: &S,
) -> Result<(), ReconcileError>
where
    K: Clone + serde::de::DeserializeOwned + std::fmt::Debug,
    S: Serialize,
{
    let encode = |source| ReconcileError::Encode {
        kind,
        object: format!("{namespace}/{name}"),
        source,
    };
    let current = serde_json::to_value(current).map_err(encode)?;
    let desired = serde_json::to_value(desired).map_err(encode)?;
    let Some(patch) = status_merge_patch(&current, &desired) else {
        return Ok(());
    };
    match api
        .patch_status(name, &PatchParams::apply(FIELD_MANAGER), &Patch::Merge(patch))
        .await
    {
        Ok(_) => Ok(()),
        Err(err) if is_status(&err, 404) => Ok(()),
        Err(err) => Err(api_error("update status of", kind, namespace, name)(err)),
    }
}

/// Creates `count` copies of `pod`, in batches of 1, 2, 4… (kube-controller-manager's slow
/// start) so a failing request stops the burst early. Every created pod is recorded.
async fn create_pods(
    api: &Api<Pod>,
    pod: &Pod,
    count: i32,
    expectations: &Expectations,
    owner: (&str, &'static str, &ObjectReference),
    events: &Events,
) -> Result<(), ReconcileError> {
    let (owner_key, owner_kind, regarding) = owner;
    let mut remaining = count;
    let mut batch = 1;
    while remaining > 0 {
        let size = batch.min(remaining);
        let params = PostParams::default();
        let results: Vec<Result<Pod, kube::Error>> = stream::iter(0..size)
            .map(|_| api.create(&params, pod))
            .buffer_unordered(CREATE_CONCURRENCY)
            .collect()
            .await;
        let mut created = Vec::new();
        let mut failure = None;
        let mut names = Vec::new();
        for result in results {
            match result {
                Ok(p) => {
                    names.push(p.name_any());
                    created.push(Expected::Created { name: p.name_any() });
                }
                Err(err) => failure = failure.or(Some(err)),
            }
        }
        expectations.expect(owner_key, created, Timestamp::now());
        for name in names {
            events
                .publish(
                    regarding,
                    false,
                    "SuccessfulCreate",
                    format!("Created pod: {name}"),
                )
                .await;
        }
        if let Some(err) = failure {
            events
                .publish(regarding, true, "FailedCreate", format!("Error creating: {err}"))
                .await;
            return Err(ReconcileError::Api {
                action: "create pod for",
                kind: owner_kind,
                object: owner_key.to_string(),
                source: err,
            });
        }
        remaining -= size;
        batch = batch.saturating_mul(2);
    }
    Ok(())
}

/// Deletes pods by uid precondition; a pod already gone counts as deleted.
async fn delete_pods(
    api: &Api<Pod>,
    pods: &[PodRef],
    expectations: &Expectations,
    owner: (&str, &ObjectReference),
    events: &Events,
    namespace: &str,
) -> Result<(), ReconcileError> {
    let (owner_key, regarding) = owner;
    for pod in pods {
        let params = DeleteParams {
            preconditions: Some(Preconditions {
                uid: Some(pod.uid.clone()),
                resource_version: None,
            }),
            ..DeleteParams::default()
        };
        match api.delete(&pod.name, &params).await {
            Ok(_) => {
                expectations.expect(
                    owner_key,
                    [Expected::Deleted { uid: pod.uid.clone() }],
                    Timestamp::now(),
                );
                events
                    .publish(
                        regarding,
                        false,
                        "SuccessfulDelete",
                        format!("Deleted pod: {}", pod.name),
                    )
                    .await;
            }
            Err(err) if is_status(&err, 404) || is_status(&err, 409) => {}
            Err(err) => return Err(api_error("delete", "Pod", namespace, &pod.name)(err)),
        }
    }
    Ok(())
}

/// Whether the pod cache shows an expected creation or deletion.
fn pod_confirmed(expected: &Expected, pods: &[Pod]) -> bool {
    match expected {
        Expected::Created { name } => pods.iter().any(|p| p.metadata.name.as_ref() == Some(name)),
        Expected::Deleted { uid } => !pods
            .iter()
            .any(|p| p.metadata.uid.as_ref() == Some(uid) && p.metadata.deletion_timestamp.is_none()),
        Expected::Scaled { .. } => true,
    }
}

/// Sets the controller reference on an orphan (`adopt`) or removes it (`release`).
async fn set_pod_owner(
    api: &Api<Pod>,
    pods: &[Pod],
    target: &PodRef,
    owner_uid: &str,
    adopt: Option<k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference>,
    namespace: &str,
) -> Result<(), ReconcileError> {
    let Some(pod) = pods.iter().find(|p| p.metadata.uid.as_ref() == Some(&target.uid)) else {
        return Ok(());
    };
    let mut refs: Vec<_> = pod
        .metadata
        .owner_references
        .clone()
        .unwrap_or_default()
        .into_iter()
        .filter(|r| r.uid != owner_uid)
        .collect();
    refs.extend(adopt);
    let patch = json!({"metadata": {"uid": target.uid, "ownerReferences": refs}});
    match api
        .patch(&target.name, &PatchParams::default(), &Patch::Merge(patch))
        .await
    {
        Ok(_) => Ok(()),
        Err(err) if is_status(&err, 404) || is_status(&err, 409) => Ok(()),
        Err(err) => Err(api_error("set owner of", "Pod", namespace, &target.name)(err)),
    }
}

/// Readiness of a watch cache that any number of reconciles may await at once.
///
/// kube-runtime's `Store::wait_until_ready` keeps only the most recent waiter's waker, so with
/// several reconciles waiting concurrently some are never woken. One task awaits it here and
/// broadcasts the outcome.
#[derive(Clone)]
struct CacheReady {
    cache: &'static str,
    ready: tokio::sync::watch::Receiver<bool>,
}

impl CacheReady {
    fn watch<K>(cache: &'static str, store: Store<K>) -> CacheReady
    where
        K: Clone + Resource<DynamicType = ()> + Send + Sync + 'static,
    {
        let (tx, ready) = tokio::sync::watch::channel(false);
        tokio::spawn(async move {
            if store.wait_until_ready().await.is_ok() {
                let _ = tx.send(true);
            }
        });
        CacheReady { cache, ready }
    }

    async fn wait(&self) -> Result<(), ReconcileError> {
        let mut ready = self.ready.clone();
        ready
            .wait_for(|r| *r)
            .await
            .map(|_| ())
            .map_err(|_| ReconcileError::CacheClosed(self.cache))
    }
}

/// Publishes Kubernetes Events about one object (`kubectl describe` shows them).
struct Events {
    recorder: Recorder,
}

impl Events {
    fn new(client: &Client, component: &str) -> Events {
        Events {
            recorder: Recorder::new(
                client.clone(),
                Reporter {
                    controller: component.to_string(),
                    instance: None,
                },
            ),
        }
    }

    /// Best effort: a failed event write is logged, never fails the reconcile.
    async fn publish(&self, regarding: &ObjectReference, warning: bool, reason: &str, note: String) {
        let event = Event {
            type_: if warning {
                EventType::Warning
            } else {
                EventType::Normal
            },
            reason: reason.to_string(),
            note: Some(note),
            action: reason.to_string(),
            secondary: None,
        };
        if let Err(error) = self.recorder.publish(&event, regarding).await {
            tracing::debug!(%error, reason, "publishing event failed");
        }
    }
}

struct PodOwnerContext {
    client: Client,
    events: Events,
    pods: Store<Pod>,
    pods_ready: CacheReady,
    expectations: Expectations,
}

async fn reconcile_replicaset(
    rs: Arc<ReplicaSet>,
    ctx: Arc<PodOwnerContext>,
) -> Result<Action, ReconcileError> {
    ctx.pods_ready.wait().await?;
    let namespace = rs.namespace().unwrap_or_default();
    let name = rs.name_any();
    let key = util::object_key(&rs.metadata);
    let now = Timestamp::now();
    let pods = in_namespace(&ctx.pods, &namespace);
    let settled = ctx.expectations.satisfied(&key, now, |e| pod_confirmed(e, &pods));
    let plan = replicaset::plan(&rs, &pods, now)?;
    tracing::debug!(
        replicaset = %key,
        generation = ?rs.metadata.generation,
        replicas = ?rs.spec.as_ref().and_then(|s| s.replicas),
        settled,
        create = plan.create,
        delete = plan.delete.len(),
        "sync replicaset"
    );
    let mut manage_error = None;
    if settled {
        manage_error = manage_replicaset_pods(&ctx, &rs, &plan, &pods, &key).await.err();
    }
    // A failed creation or deletion shows as the ReplicaFailure condition until one succeeds.
    let failure = manage_error.as_ref().map(|error| {
        let reason = match error {
            ReconcileError::Api { action, .. } if action.starts_with("delete") => "FailedDelete",
            _ => "FailedCreate",
        };
        (reason, error.to_string())
    });
    let status = if settled {
        replicaset::with_replica_failure(plan.status.clone(), failure, now)
    } else {
        plan.status.clone()
    };
    let rs_api: Api<ReplicaSet> = Api::namespaced(ctx.client.clone(), &namespace);
    write_status(&rs_api, "ReplicaSet", &namespace, &name, &rs.status, &status).await?;
    if let Some(error) = manage_error {
        return Err(error);
    }
    Ok(next_action(settled, plan.requeue_after))
}

/// Adopts, releases, creates and deletes pods as the plan says.
async fn manage_replicaset_pods(
    ctx: &PodOwnerContext,
    rs: &ReplicaSet,
    plan: &replicaset::ReplicaSetPlan,
    pods: &[Pod],
    key: &str,
) -> Result<(), ReconcileError> {
    let namespace = rs.namespace().unwrap_or_default();
    let uid = rs.metadata.uid.clone().unwrap_or_default();
    let pod_api: Api<Pod> = Api::namespaced(ctx.client.clone(), &namespace);
    let owner = util::controller_ref("apps/v1", "ReplicaSet", &rs.metadata);
    for target in &plan.adopt {
        set_pod_owner(&pod_api, pods, target, &uid, Some(owner.clone()), &namespace).await?;
    }
    for target in &plan.release {
        set_pod_owner(&pod_api, pods, target, &uid, None, &namespace).await?;
    }
    let regarding = rs.object_ref(&());
    if plan.create > 0 {
        let pod = replicaset::pod_for(rs);
        let owner = (key, "ReplicaSet", &regarding);
        create_pods(&pod_api, &pod, plan.create, &ctx.expectations, owner, &ctx.events).await?;
    }
    let owner = (key, &regarding);
    delete_pods(
        &pod_api,
        &plan.delete,
        &ctx.expectations,
        owner,
        &ctx.events,
        &namespace,
    )
    .await?;
    Ok(())
}

fn next_action(settled: bool, requeue_after: Option<jiff::SignedDuration>) -> Action {
    match (settled, requeue_after) {
        (false, Some(after)) => Action::requeue(to_duration(after).min(EXPECTATION_POLL)),
        (false, None) => Action::requeue(EXPECTATION_POLL),
        (true, Some(after)) => Action::requeue(to_duration(after)),
        (true, None) => Action::await_change(),
    }
}

async fn reconcile_job(job: Arc<Job>, ctx: Arc<PodOwnerContext>) -> Result<Action, ReconcileError> {
    ctx.pods_ready.wait().await?;
    let namespace = job.namespace().unwrap_or_default();
    let name = job.name_any();
    let key = util::object_key(&job.metadata);
    let now = Timestamp::now();
    let pods = in_namespace(&ctx.pods, &namespace);
    let settled = ctx.expectations.satisfied(&key, now, |e| pod_confirmed(e, &pods));
    if !settled {
        return Ok(Action::requeue(EXPECTATION_POLL));
    }
    let plan = job::plan(&job, &pods, now);
    let pod_api: Api<Pod> = Api::namespaced(ctx.client.clone(), &namespace);
    let regarding = job.object_ref(&());
    if plan.create > 0 {
        let pod = job::pod_for(&job);
        let owner = (key.as_str(), "Job", &regarding);
        create_pods(&pod_api, &pod, plan.create, &ctx.expectations, owner, &ctx.events).await?;
    }
    let owner = (key.as_str(), &regarding);
    delete_pods(
        &pod_api,
        &plan.delete,
        &ctx.expectations,
        owner,
        &ctx.events,
        &namespace,
    )
    .await?;
    let job_api: Api<Job> = Api::namespaced(ctx.client.clone(), &namespace);
    write_status(&job_api, "Job", &namespace, &name, &job.status, &plan.status).await?;
    if let Some((warning, reason, note)) = job_finish_event(job.status.as_ref(), &plan.status) {
        ctx.events.publish(&regarding, warning, &reason, note).await;
    }
    Ok(next_action(true, plan.requeue_after))
}

/// The event for a job that just finished: `Completed` / "Job completed", or a warning with the
/// Failed condition's reason and message.
fn job_finish_event(
    previous: Option<&k8s_openapi::api::batch::v1::JobStatus>,
    next: &k8s_openapi::api::batch::v1::JobStatus,
) -> Option<(bool, String, String)> {
    let finished = |status: Option<&k8s_openapi::api::batch::v1::JobStatus>, type_: &str| {
        status
            .and_then(|s| s.conditions.as_ref())
            .and_then(|c| c.iter().find(|c| c.type_ == type_ && c.status == "True"))
            .cloned()
    };
    if finished(previous, "Complete").is_none() && finished(Some(next), "Complete").is_some() {
        return Some((false, "Completed".into(), "Job completed".into()));
    }
    if finished(previous, "Failed").is_none()
        && let Some(failed) = finished(Some(next), "Failed")
    {
        return Some((
            true,
            failed.reason.unwrap_or_default(),
            failed.message.unwrap_or_default(),
        ));
    }
    None
}

struct DeploymentContext {
    client: Client,
    events: Events,
    replica_sets: Store<ReplicaSet>,
    replica_sets_ready: CacheReady,
    pods: Store<Pod>,
    pods_ready: CacheReady,
    expectations: Expectations,
}

/// Whether the ReplicaSet cache shows an expected creation, scale or deletion.
fn replica_set_confirmed(expected: &Expected, replica_sets: &[ReplicaSet]) -> bool {
    let named = |name: &String| {
        replica_sets
            .iter()
            .find(|rs| rs.metadata.name.as_ref() == Some(name))
    };
    match expected {
        Expected::Created { name } => named(name).is_some(),
        Expected::Scaled { name, replicas } => {
            named(name).is_none_or(|rs| rs.spec.as_ref().and_then(|s| s.replicas) == Some(*replicas))
        }
        Expected::Deleted { uid } => !replica_sets
            .iter()
            .any(|rs| rs.metadata.uid.as_ref() == Some(uid) && rs.metadata.deletion_timestamp.is_none()),
    }
}

async fn reconcile_deployment(
    d: Arc<Deployment>,
    ctx: Arc<DeploymentContext>,
) -> Result<Action, ReconcileError> {
    ctx.replica_sets_ready.wait().await?;
    ctx.pods_ready.wait().await?;
    let namespace = d.namespace().unwrap_or_default();
    let name = d.name_any();
    let key = util::object_key(&d.metadata);
    let now = Timestamp::now();
    let replica_sets = in_namespace(&ctx.replica_sets, &namespace);
    if !ctx
        .expectations
        .satisfied(&key, now, |e| replica_set_confirmed(e, &replica_sets))
    {
        return Ok(Action::requeue(EXPECTATION_POLL));
    }
    let pods = in_namespace(&ctx.pods, &namespace);
    let plan = deployment::plan(&d, &replica_sets, &pods, now)?;
    tracing::debug!(deployment = %key, actions = ?plan.actions.len(), "sync deployment");
    let rs_api: Api<ReplicaSet> = Api::namespaced(ctx.client.clone(), &namespace);
    let regarding = d.object_ref(&());
    for action in &plan.actions {
        match action {
            DeploymentAction::CreateReplicaSet(rs) => {
                let rs_name = rs.name_any();
                let mut body = (**rs).clone();
                body.metadata.creation_timestamp = None;
                match rs_api.create(&PostParams::default(), &body).await {
                    Ok(_) => {}
                    Err(err) if is_status(&err, 409) => {}
                    Err(err) => {
                        return Err(api_error("create", "ReplicaSet", &namespace, &rs_name)(err));
                    }
                }
                let replicas = rs.spec.as_ref().and_then(|s| s.replicas).unwrap_or(0);
                ctx.events
                    .publish(
                        &regarding,
                        false,
                        "ScalingReplicaSet",
                        format!("Scaled up replica set {rs_name} from 0 to {replicas}"),
                    )
                    .await;
                ctx.expectations
                    .expect(&key, [Expected::Created { name: rs_name }], now);
            }
            DeploymentAction::UpdateReplicaSet {
                name: rs_name,
                replicas,
                annotations,
                min_ready_seconds,
            } => {
                let mut spec = serde_json::Map::new();
                if let Some(n) = replicas {
                    spec.insert("replicas".into(), json!(n));
                }
                if let Some(m) = min_ready_seconds {
                    spec.insert("minReadySeconds".into(), json!(m));
                }
                let mut patch = json!({"metadata": {"annotations": annotations}});
                if !spec.is_empty() {
                    patch["spec"] = Value::Object(spec);
                }
                rs_api
                    .patch(rs_name, &PatchParams::default(), &Patch::Merge(patch))
                    .await
                    .map_err(api_error("update", "ReplicaSet", &namespace, rs_name))?;
                let before = replica_sets
                    .iter()
                    .find(|r| r.metadata.name.as_ref() == Some(rs_name))
                    .and_then(|r| r.spec.as_ref().and_then(|s| s.replicas))
                    .unwrap_or(0);
                if let Some(n) = replicas.filter(|n| *n != before) {
                    let direction = if n > before { "up" } else { "down" };
                    ctx.events
                        .publish(
                            &regarding,
                            false,
                            "ScalingReplicaSet",
                            format!("Scaled {direction} replica set {rs_name} from {before} to {n}"),
                        )
                        .await;
                }
                if let Some(n) = replicas {
                    ctx.expectations.expect(
                        &key,
                        [Expected::Scaled {
                            name: rs_name.clone(),
                            replicas: *n,
                        }],
                        now,
                    );
                }
            }
            DeploymentAction::DeleteReplicaSet { name: rs_name, uid } => {
                let params = DeleteParams {
                    preconditions: Some(Preconditions {
                        uid: Some(uid.clone()),
                        resource_version: None,
                    }),
                    ..DeleteParams::background()
                };
                match rs_api.delete(rs_name, &params).await {
                    Ok(_) => ctx
                        .expectations
                        .expect(&key, [Expected::Deleted { uid: uid.clone() }], now),
                    Err(err) if is_status(&err, 404) || is_status(&err, 409) => {}
                    Err(err) => {
                        return Err(api_error("delete", "ReplicaSet", &namespace, rs_name)(err));
                    }
                }
            }
        }
    }
    let d_api: Api<Deployment> = Api::namespaced(ctx.client.clone(), &namespace);
    if let Some(revision) = &plan.revision {
        let patch = json!({"metadata": {"annotations": {deployment::REVISION: revision}}});
        d_api
            .patch(&name, &PatchParams::default(), &Patch::Merge(patch))
            .await
            .map_err(api_error("annotate", "Deployment", &namespace, &name))?;
    }
    write_status(&d_api, "Deployment", &namespace, &name, &d.status, &plan.status).await?;
    Ok(match plan.requeue_after {
        Some(after) => Action::requeue(to_duration(after)),
        None => Action::await_change(),
    })
}

struct EndpointsContext {
    client: Client,
    pods: Store<Pod>,
    pods_ready: CacheReady,
}

async fn reconcile_service(
    service: Arc<Service>,
    ctx: Arc<EndpointsContext>,
) -> Result<Action, ReconcileError> {
    ctx.pods_ready.wait().await?;
    let namespace = service.namespace().unwrap_or_default();
    let name = service.name_any();
    if service.metadata.deletion_timestamp.is_some() {
        return Ok(Action::await_change());
    }
    let pods = in_namespace(&ctx.pods, &namespace);
    let Some(desired) = endpoints::plan(&service, &pods) else {
        return Ok(Action::await_change());
    };
    let api: Api<Endpoints> = Api::namespaced(ctx.client.clone(), &namespace);
    let current = api
        .get_opt(&name)
        .await
        .map_err(api_error("get", "Endpoints", &namespace, &name))?;
    match current {
        None => match api.create(&PostParams::default(), &desired).await {
            Ok(_) => {}
            // Created concurrently: look again.
            Err(err) if is_status(&err, 409) => return Ok(Action::requeue(EXPECTATION_POLL)),
            Err(err) => return Err(api_error("create", "Endpoints", &namespace, &name)(err)),
        },
        Some(current) if !endpoints::up_to_date(&current, &desired) => {
            let mut updated = current.clone();
            updated.metadata.labels = desired.metadata.labels.clone();
            updated.subsets = desired.subsets.clone();
            match api.replace(&name, &PostParams::default(), &updated).await {
                Ok(_) => {}
                Err(err) if is_status(&err, 409) => return Ok(Action::requeue(EXPECTATION_POLL)),
                Err(err) => return Err(api_error("update", "Endpoints", &namespace, &name)(err)),
            }
        }
        Some(_) => {}
    }
    Ok(Action::await_change())
}

fn error_policy<K>(_object: Arc<K>, error: &ReconcileError, _ctx: Arc<impl Sized>) -> Action {
    tracing::warn!(%error, "reconcile failed; retrying");
    Action::requeue(Duration::from_secs(2))
}

/// A shareable shutdown signal for several controllers.
type ShutdownSignal = Shared<BoxFuture<'static, ()>>;

/// A pod watch feeding a cache; the returned stream must be polled (by a controller) for the
/// cache to fill.
fn pod_cache(
    client: &Client,
) -> (
    Store<Pod>,
    impl futures::Stream<Item = Result<Pod, watcher::Error>> + Send + 'static,
) {
    let (reader, writer) = reflector::store();
    let stream = reflector(
        writer,
        watcher(Api::<Pod>::all(client.clone()), watcher::Config::default()),
    )
    .default_backoff()
    .touched_objects();
    (reader, stream)
}

async fn drain<K: std::fmt::Debug, E: std::fmt::Display>(
    name: &'static str,
    results: impl futures::Stream<Item = Result<K, E>>,
) {
    results
        .for_each(|result| {
            if let Err(error) = result {
                tracing::debug!(controller = name, %error, "controller error");
            }
            futures::future::ready(())
        })
        .await;
}

/// The shared context of a controller that owns pods (ReplicaSet, Job), with the pod watch it consumes.
fn pod_owner_context(
    client: &Client,
    reporter: &str,
) -> (
    Arc<PodOwnerContext>,
    impl futures::Stream<Item = Result<Pod, watcher::Error>> + Send + 'static,
) {
    let (pods, pod_stream) = pod_cache(client);
    let ctx = Arc::new(PodOwnerContext {
        client: client.clone(),
        events: Events::new(client, reporter),
        pods_ready: CacheReady::watch("pod", pods.clone()),
        pods,
        expectations: Expectations::default(),
    });
    (ctx, pod_stream)
}

async fn run_replicasets(client: Client, shutdown: ShutdownSignal) {
    let (ctx, pod_stream) = pod_owner_context(&client, "replicaset-controller");
    let results = Controller::new(Api::<ReplicaSet>::all(client), watcher::Config::default())
        .owns_stream(pod_stream)
        .graceful_shutdown_on(shutdown)
        .run(reconcile_replicaset, error_policy, ctx);
    drain("replicaset", results).await;
}

async fn run_jobs(client: Client, shutdown: ShutdownSignal) {
    let (ctx, pod_stream) = pod_owner_context(&client, "job-controller");
    let results = Controller::new(Api::<Job>::all(client), watcher::Config::default())
        .owns_stream(pod_stream)
        .graceful_shutdown_on(shutdown)
        .run(reconcile_job, error_policy, ctx);
    drain("job", results).await;
}

async fn run_deployments(client: Client, shutdown: ShutdownSignal) {
    let (replica_sets, rs_writer) = reflector::store();
    let rs_stream = reflector(
        rs_writer,
        watcher(Api::<ReplicaSet>::all(client.clone()), watcher::Config::default()),
    )
    .default_backoff()
    .touched_objects();
    // Pods are only read (Recreate waits for old pods to finish); the planner polls while waiting.
    let (pods, pod_writer) = reflector::store();
    let pod_stream = reflector(
        pod_writer,
        watcher(Api::<Pod>::all(client.clone()), watcher::Config::default()),
    )
    .default_backoff();
    let ctx = Arc::new(DeploymentContext {
        client: client.clone(),
        events: Events::new(&client, "deployment-controller"),
        replica_sets_ready: CacheReady::watch("replicaset", replica_sets.clone()),
        replica_sets,
        pods_ready: CacheReady::watch("pod", pods.clone()),
        pods,
        expectations: Expectations::default(),
    });
    let controller = Controller::new(Api::<Deployment>::all(client), watcher::Config::default())
        .owns_stream(rs_stream)
        .graceful_shutdown_on(shutdown.clone())
        .run(reconcile_deployment, error_policy, ctx);
    let pod_feed = pod_stream
        .take_until(shutdown)
        .for_each(|_| futures::future::ready(()));
    futures::join!(drain("deployment", controller), pod_feed);
}

async fn run_endpoints(client: Client, shutdown: ShutdownSignal) {
    let (pods, pod_stream) = pod_cache(&client);
    let ctx = Arc::new(EndpointsContext {
        client: client.clone(),
        pods_ready: CacheReady::watch("pod", pods.clone()),
        pods,
    });
    let controller = Controller::new(Api::<Service>::all(client.clone()), watcher::Config::default());
    let services = controller.store();
    let results = controller
        .watches_stream(pod_stream, move |pod: Pod| {
            let labels = util::labels_of(&pod.metadata);
            services
                .state()
                .iter()
                .filter(|s| s.metadata.namespace == pod.metadata.namespace)
                .filter(|s| {
                    s.spec
                        .as_ref()
                        .and_then(|spec| spec.selector.as_ref())
                        .is_some_and(|sel| {
                            !sel.is_empty() && sel.iter().all(|(k, v)| labels.get(k) == Some(v))
                        })
                })
                .map(|s| ObjectRef::from_obj(&**s))
                .collect::<Vec<_>>()
        })
        .graceful_shutdown_on(shutdown.clone())
        .run(reconcile_service, error_policy, ctx);
    futures::join!(
        drain("endpoints", results),
        delete_endpoints_of_deleted_services(client, shutdown)
    );
}

/// Endpoints carry no owner reference, so the garbage collector does not remove them: delete
/// the Endpoints of a selector-managed Service when the Service goes away.
async fn delete_endpoints_of_deleted_services(client: Client, shutdown: ShutdownSignal) {
    let events = watcher(Api::<Service>::all(client.clone()), watcher::Config::default())
        .default_backoff()
        .take_until(shutdown);
    events
        .for_each(|event| {
            let client = client.clone();
            async move {
                let Ok(watcher::Event::Delete(service)) = event else {
                    return;
                };
                let managed = service
                    .spec
                    .as_ref()
                    .and_then(|s| s.selector.as_ref())
                    .is_some_and(|s| !s.is_empty());
                let namespace = service.namespace().unwrap_or_default();
                if managed {
                    let api: Api<Endpoints> = Api::namespaced(client, &namespace);
                    if let Err(error) = api.delete(&service.name_any(), &DeleteParams::default()).await
                        && !is_status(&error, 404)
                    {
                        tracing::warn!(%error, service = %service.name_any(), "deleting endpoints failed");
                    }
                }
            }
        })
        .await;
}

/// Runs the ReplicaSet, Deployment, Job and Endpoints controllers until `shutdown` completes.
pub async fn run_all(client: Client, shutdown: impl Future<Output = ()> + Send + 'static) {
    let shutdown: ShutdownSignal = shutdown.boxed().shared();
    futures::join!(
        run_replicasets(client.clone(), shutdown.clone()),
        run_deployments(client.clone(), shutdown.clone()),
        run_jobs(client.clone(), shutdown.clone()),
        run_endpoints(client, shutdown),
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{PodState, pod};
    use k8s_openapi::api::apps::v1::ReplicaSetSpec;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

    #[test]
    fn pod_expectations_are_confirmed_by_the_cache() {
        let mut deleting = pod("deleting", PodState::ready_at(0));
        deleting.metadata.deletion_timestamp = Some(util::time(crate::testutil::at(1)));
        let pods = vec![pod("seen", PodState::ready_at(0)), deleting];
        let cases = [
            (Expected::Created { name: "seen".into() }, true),
            (
                Expected::Created {
                    name: "unseen".into(),
                },
                false,
            ),
            (
                Expected::Deleted {
                    uid: "seen-uid".into(),
                },
                false,
            ),
            (
                Expected::Deleted {
                    uid: "deleting-uid".into(),
                },
                true,
            ),
            (
                Expected::Deleted {
                    uid: "gone-uid".into(),
                },
                true,
            ),
        ];
        for (expected, want) in cases {
            assert_eq!(pod_confirmed(&expected, &pods), want, "{expected:?}");
        }
    }

    #[test]
    fn replica_set_expectations_are_confirmed_by_the_cache() {
        let rs = ReplicaSet {
            metadata: ObjectMeta {
                name: Some("web-1".into()),
                uid: Some("u1".into()),
                ..ObjectMeta::default()
            },
            spec: Some(ReplicaSetSpec {
                replicas: Some(3),
                ..ReplicaSetSpec::default()
            }),
            status: None,
        };
        let cases = [
            (Expected::Created { name: "web-1".into() }, true),
            (Expected::Created { name: "web-2".into() }, false),
            (
                Expected::Scaled {
                    name: "web-1".into(),
                    replicas: 3,
                },
                true,
            ),
            (
                Expected::Scaled {
                    name: "web-1".into(),
                    replicas: 4,
                },
                false,
            ),
            (Expected::Deleted { uid: "u1".into() }, false),
            (Expected::Deleted { uid: "u9".into() }, true),
        ];
        for (expected, want) in cases {
            assert_eq!(
                replica_set_confirmed(&expected, std::slice::from_ref(&rs)),
                want,
                "{expected:?}"
            );
        }
    }

    #[test]
    fn job_finish_events_fire_once_on_the_transition() {
        use k8s_openapi::api::batch::v1::{JobCondition, JobStatus};
        let with = |type_: &str, reason: &str, message: &str| JobStatus {
            conditions: Some(vec![JobCondition {
                type_: type_.into(),
                status: "True".into(),
                reason: Some(reason.into()),
                message: Some(message.into()),
                ..JobCondition::default()
            }]),
            ..JobStatus::default()
        };
        let running = JobStatus::default();
        let complete = with(
            "Complete",
            "CompletionsReached",
            "Reached expected number of succeeded pods",
        );
        let failed = with(
            "Failed",
            "BackoffLimitExceeded",
            "Job has reached the specified backoff limit",
        );
        assert_eq!(
            job_finish_event(Some(&running), &complete),
            Some((false, "Completed".into(), "Job completed".into()))
        );
        assert_eq!(job_finish_event(Some(&complete), &complete), None);
        assert_eq!(
            job_finish_event(None, &failed),
            Some((
                true,
                "BackoffLimitExceeded".into(),
                "Job has reached the specified backoff limit".into()
            ))
        );
        assert_eq!(job_finish_event(Some(&running), &running), None);
    }

    #[test]
    fn next_action_polls_while_expectations_are_outstanding() {
        let five = jiff::SignedDuration::from_secs(5);
        assert_eq!(next_action(false, None), Action::requeue(EXPECTATION_POLL));
        assert_eq!(next_action(false, Some(five)), Action::requeue(EXPECTATION_POLL));
        assert_eq!(
            next_action(true, Some(five)),
            Action::requeue(Duration::from_secs(5))
        );
        assert_eq!(next_action(true, None), Action::await_change());
    }
}
