//! The CloneSet reconciler: a kube-runtime [`Controller`] over CloneSets that owns Pods, PVCs and
//! ControllerRevisions. Each round reads what the CloneSet owns from watch caches (reflector stores fed
//! by the same watches that trigger rounds), asks [`plan::plan`] what to do and applies the plan in the
//! documented order (see the crate docs).
//!
//! A cache can trail the controller's own writes. The [`Expectations`] kept per CloneSet make a round
//! wait until every pod/PVC it created or deleted, and every pod version it wrote, shows in the cache,
//! so a stale cache never leads to a second create or delete. Writes of one step go out concurrently,
//! at most [`MAX_CONCURRENT_WRITES`] at a time; creations in Kruise's slow-start batches (1, 2, 4, …),
//! stopping at the first batch with a failure.
//!
//! It talks to the cluster only through the Kubernetes API, so it runs the same against Ferry's
//! embedded API server and a real cluster.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::future::Future;
use std::hash::{BuildHasher, Hasher};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ferry_types::kruise::CloneSet;
use futures::StreamExt;
use k8s_openapi::api::apps::v1::ControllerRevision;
use k8s_openapi::api::core::v1::{PersistentVolumeClaim, Pod};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams, Preconditions};
use kube::runtime::WatchStreamExt;
use kube::runtime::controller::{Action, Controller};
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use kube::runtime::reflector::{self, Store};
use kube::runtime::watcher;
use kube::{Client, Resource, ResourceExt};
use serde_json::json;
use tokio::sync::Notify;

use crate::expectations::{self, Expectations, Readiness};
use crate::labels::VCT_HASH_ANNOTATION;
use crate::plan::{self, Plan, PlanInput};
use crate::revision::RevisionAction;
use crate::selector;

/// Name under which the controller reports events (`kubectl describe` "From" column).
pub const CONTROLLER_NAME: &str = "cloneset-controller";
/// Retry delay after a failed round.
const ERROR_REQUEUE: Duration = Duration::from_secs(2);
/// Retry delay after an optimistic-concurrency conflict or a revision collision.
const CONFLICT_REQUEUE: Duration = Duration::from_millis(200);
/// Fallback re-check while waiting for the caches to show earlier writes (their watch events trigger a
/// round sooner).
const EXPECTATIONS_REQUEUE: Duration = Duration::from_millis(500);
/// Bound on API writes in flight at once within one step of a round (creates of one slow-start batch,
/// pod updates, deletes, events).
pub const MAX_CONCURRENT_WRITES: usize = 32;

/// Why a reconcile round failed (the round is retried after [`ERROR_REQUEUE`]).
#[derive(Debug, thiserror::Error)]
pub enum ReconcileError {
    /// An API call failed.
    #[error("CloneSet {cloneset}: {action}: {source}")]
    Api {
        /// `namespace/name` of the CloneSet.
        cloneset: String,
        /// What was being done, naming the object.
        action: String,
        /// The client error.
        #[source]
        source: kube::Error,
    },
    /// The planner refused the CloneSet.
    #[error("CloneSet {cloneset}: planning: {source}")]
    Plan {
        /// `namespace/name` of the CloneSet.
        cloneset: String,
        /// The planner's error.
        #[source]
        source: plan::PlanError,
    },
}

/// State shared by all reconcile rounds.
struct Context {
    client: Client,
    recorder: Recorder,
    /// Per CloneSet (`namespace/name`): writes sent but not yet seen in the caches.
    expectations: Mutex<HashMap<String, Expectations>>,
    /// Watch caches of all pods, PVCs and ControllerRevisions (filtered by owner per round).
    pods: Store<Pod>,
    pvcs: Store<PersistentVolumeClaim>,
    revisions: Store<ControllerRevision>,
}

/// A running CloneSet controller.
pub struct CloneSetController {
    stop: Arc<Notify>,
    task: tokio::task::JoinHandle<()>,
}

impl CloneSetController {
    /// Starts the controller on the current tokio runtime.
    pub fn start(client: Client) -> CloneSetController {
        let stop = Arc::new(Notify::new());
        let signal = stop.clone();
        let task = tokio::spawn(run(client, async move { signal.notified().await }));
        CloneSetController { stop, task }
    }

    /// Stops watching and waits for in-flight rounds to finish.
    pub async fn shutdown(self) {
        self.stop.notify_one();
        let _ = self.task.await;
    }
}

/// Runs the controller until `shutdown` completes.
pub async fn run(client: Client, shutdown: impl Future<Output = ()> + Send + Sync + 'static) {
    let (pods, pod_writer) = reflector::store();
    let (pvcs, pvc_writer) = reflector::store();
    let (revisions, revision_writer) = reflector::store();
    // One watch per kind feeds both the cache and the owner-triggered rounds. Cached objects drop
    // managedFields: nothing here reads them, and they are most of what copying a pod costs per round.
    let pod_stream = reflector::reflector(
        pod_writer,
        watcher(Api::<Pod>::all(client.clone()), watcher::Config::default())
            .modify(|pod| pod.metadata.managed_fields = None),
    )
    .default_backoff()
    .touched_objects();
    let pvc_stream = reflector::reflector(
        pvc_writer,
        watcher(
            Api::<PersistentVolumeClaim>::all(client.clone()),
            watcher::Config::default(),
        )
        .modify(|claim| claim.metadata.managed_fields = None),
    )
    .default_backoff()
    .touched_objects();
    let revision_stream = reflector::reflector(
        revision_writer,
        watcher(
            Api::<ControllerRevision>::all(client.clone()),
            watcher::Config::default(),
        )
        .modify(|revision| revision.metadata.managed_fields = None),
    )
    .default_backoff()
    .touched_objects();
    let context = Arc::new(Context {
        client: client.clone(),
        recorder: Recorder::new(
            client.clone(),
            Reporter {
                controller: CONTROLLER_NAME.to_string(),
                instance: None,
            },
        ),
        expectations: Mutex::new(HashMap::new()),
        pods,
        pvcs,
        revisions,
    });
    let config = kube::runtime::Config::default().debounce(Duration::from_millis(20));
    Controller::new(Api::<CloneSet>::all(client), watcher::Config::default())
        .owns_stream(pod_stream)
        .owns_stream(pvc_stream)
        .owns_stream(revision_stream)
        .with_config(config)
        .graceful_shutdown_on(shutdown)
        .run(reconcile, error_policy, context)
        .for_each(|result| async move {
            if let Err(error) = result {
                tracing::debug!(%error, "cloneset reconcile");
            }
        })
        .await;
}

fn error_policy(cloneset: Arc<CloneSet>, error: &ReconcileError, _: Arc<Context>) -> Action {
    tracing::warn!(cloneset = %key_of(&cloneset), %error, "cloneset reconcile failed");
    Action::requeue(ERROR_REQUEUE)
}

fn key_of(cloneset: &CloneSet) -> String {
    format!(
        "{}/{}",
        cloneset.metadata.namespace.as_deref().unwrap_or_default(),
        cloneset.metadata.name.as_deref().unwrap_or_default()
    )
}

/// Whether `meta` names the object with `uid` as its controller.
fn controlled_by(meta: &ObjectMeta, uid: &str) -> bool {
    meta.owner_references
        .iter()
        .flatten()
        .any(|r| r.controller == Some(true) && r.uid == uid)
}

fn has_controller(meta: &ObjectMeta) -> bool {
    meta.owner_references
        .iter()
        .flatten()
        .any(|r| r.controller == Some(true))
}

/// Revisions the planner may use: those this CloneSet controls, plus ownerless ones its selector matches
/// (upstream adopts those).
fn revisions_of(cloneset: &CloneSet, uid: &str, listed: Vec<ControllerRevision>) -> Vec<ControllerRevision> {
    let selector = cloneset.spec.selector.clone().unwrap_or_default();
    let compiled = selector::Compiled::new(&selector);
    let no_labels = BTreeMap::new();
    listed
        .into_iter()
        .filter(|r| {
            controlled_by(&r.metadata, uid)
                || (!has_controller(&r.metadata)
                    && !selector::is_empty(&selector)
                    && compiled.matches(r.metadata.labels.as_ref().unwrap_or(&no_labels)))
        })
        .collect()
}

/// Settles the CloneSet's expectations against the cached pods and PVCs it controls.
fn observe(expectations: &mut Expectations, pods: &[Pod], pvcs: &[PersistentVolumeClaim]) {
    let mut live: BTreeSet<String> = BTreeSet::new();
    let mut present: BTreeSet<String> = BTreeSet::new();
    let mut uids: BTreeSet<String> = BTreeSet::new();
    let metas = pods
        .iter()
        .map(|p| &p.metadata)
        .chain(pvcs.iter().map(|c| &c.metadata));
    for meta in metas {
        let Some(name) = meta.name.clone() else { continue };
        if let (Some(uid), Some(version)) = (&meta.uid, &meta.resource_version) {
            expectations.observe_version(uid, version);
            uids.insert(uid.clone());
        }
        if meta.deletion_timestamp.is_none() {
            live.insert(name.clone());
        }
        present.insert(name);
    }
    expectations.retain_versions(&uids);
    let created: Vec<String> = expectations
        .pending_creations()
        .filter(|n| present.contains(*n))
        .map(str::to_string)
        .collect();
    for name in created {
        expectations.observe_present(&name);
    }
    let gone: Vec<String> = expectations
        .pending_deletions()
        .filter(|n| !live.contains(*n))
        .map(str::to_string)
        .collect();
    for name in gone {
        expectations.observe_absent(&name);
    }
}

/// A random seed for instance ids (std's per-process random hasher keys, mixed with the clock).
fn random_seed() -> u64 {
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_i128(Timestamp::now().as_nanosecond());
    hasher.finish()
}

/// Runs `tasks` with at most `limit` in flight; results in the order of `tasks`.
async fn run_bounded<F: Future>(tasks: Vec<F>, limit: usize) -> Vec<F::Output> {
    let total = tasks.len();
    let mut waiting = tasks.into_iter().enumerate();
    let mut running = futures::stream::FuturesUnordered::new();
    let indexed = |(index, task): (usize, F)| async move { (index, task.await) };
    running.extend(waiting.by_ref().take(limit.max(1)).map(indexed));
    let mut done: Vec<Option<F::Output>> = (0..total).map(|_| None).collect();
    while let Some((index, output)) = running.next().await {
        if let Some(slot) = done.get_mut(index) {
            *slot = Some(output);
        }
        running.extend(waiting.next().map(indexed));
    }
    done.into_iter().flatten().collect()
}

fn is_status(error: &kube::Error, code: u16) -> bool {
    matches!(error, kube::Error::Api(status) if status.code == code)
}

/// One round for one CloneSet: the API calls around the pure planner.
struct Round<'a> {
    ctx: &'a Context,
    cloneset: &'a CloneSet,
    key: String,
    namespace: String,
    name: String,
}

impl Round<'_> {
    fn api_error(&self, action: String) -> impl FnOnce(kube::Error) -> ReconcileError + '_ {
        move |source| ReconcileError::Api {
            cloneset: self.key.clone(),
            action,
            source,
        }
    }

    fn pods(&self) -> Api<Pod> {
        Api::namespaced(self.ctx.client.clone(), &self.namespace)
    }

    fn pvcs(&self) -> Api<PersistentVolumeClaim> {
        Api::namespaced(self.ctx.client.clone(), &self.namespace)
    }

    fn revisions(&self) -> Api<ControllerRevision> {
        Api::namespaced(self.ctx.client.clone(), &self.namespace)
    }

    fn clonesets(&self) -> Api<CloneSet> {
        Api::namespaced(self.ctx.client.clone(), &self.namespace)
    }

    fn with_expectations<T>(&self, f: impl FnOnce(&mut Expectations) -> T) -> T {
        let mut all = self
            .ctx
            .expectations
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        f(all.entry(self.key.clone()).or_default())
    }

    async fn publish(&self, type_: &str, reason: &str, message: &str) {
        let event = Event {
            type_: if type_ == "Warning" {
                EventType::Warning
            } else {
                EventType::Normal
            },
            reason: reason.to_string(),
            note: Some(message.to_string()),
            // The Recorder aggregates events by (type, reason, action) and keeps the first note; a
            // per-message action keeps "created pod a" and "created pod b" apart (128 chars at most).
            action: message.chars().take(128).collect(),
            secondary: None,
        };
        let reference = self.cloneset.object_ref(&());
        if let Err(error) = self.ctx.recorder.publish(&event, &reference).await {
            tracing::debug!(cloneset = %self.key, %error, reason, "publishing event");
        }
    }

    /// Step 1. Returns false when the round must stop and be retried (a revision name collision).
    async fn apply_revision(&self, plan: &Plan) -> Result<bool, ReconcileError> {
        match &plan.revision_action {
            RevisionAction::Reuse => Ok(true),
            RevisionAction::Renumber {
                name,
                revision,
                vct_hash,
            } => {
                let patch = json!({
                    "metadata": {"annotations": {VCT_HASH_ANNOTATION: vct_hash}},
                    "revision": revision,
                });
                self.revisions()
                    .patch(name, &PatchParams::default(), &Patch::Merge(&patch))
                    .await
                    .map_err(self.api_error(format!("renumbering ControllerRevision {name}")))?;
                Ok(true)
            }
            RevisionAction::Create(revision) => {
                let name = revision.metadata.name.clone().unwrap_or_default();
                match self.revisions().create(&PostParams::default(), revision).await {
                    Ok(_) => Ok(true),
                    Err(error) if is_status(&error, 409) => {
                        let existing = self
                            .revisions()
                            .get(&name)
                            .await
                            .map_err(self.api_error(format!("reading ControllerRevision {name}")))?;
                        if crate::revision::same_data(&existing, revision) {
                            return Ok(true);
                        }
                        // Another object holds this name with other data: probe the next hash.
                        let collisions = plan.status.collision_count.unwrap_or(0).saturating_add(1);
                        let patch = json!({"status": {"collisionCount": collisions}});
                        self.clonesets()
                            .patch_status(&self.name, &PatchParams::default(), &Patch::Merge(&patch))
                            .await
                            .map_err(self.api_error("raising status.collisionCount".to_string()))?;
                        Ok(false)
                    }
                    Err(error) => Err(self.api_error(format!("creating ControllerRevision {name}"))(
                        error,
                    )),
                }
            }
        }
    }

    /// Step 2: release pods that left the selector; hand PVCs over or delete them (disablePVCReuse).
    async fn apply_releases(&self, plan: &Plan, pods: &[Pod], uid: &str) -> Result<(), ReconcileError> {
        for name in &plan.released_pods {
            let Some(pod) = pods.iter().find(|p| p.metadata.name.as_deref() == Some(name)) else {
                continue;
            };
            let remaining: Vec<&OwnerReference> = pod
                .metadata
                .owner_references
                .iter()
                .flatten()
                .filter(|r| r.uid != uid)
                .collect();
            let patch = json!({"metadata": {
                "ownerReferences": remaining,
                "resourceVersion": pod.metadata.resource_version,
            }});
            match self
                .pods()
                .patch(name, &PatchParams::default(), &Patch::Merge(&patch))
                .await
            {
                Ok(_) => {}
                Err(error) if is_status(&error, 404) || is_status(&error, 409) => {}
                Err(error) => return Err(self.api_error(format!("releasing Pod {name}"))(error)),
            }
        }
        for reown in &plan.pvcs_to_reown {
            let owner = json!({
                "apiVersion": "v1", "kind": "Pod", "name": reown.pod, "uid": reown.pod_uid,
                "controller": true, "blockOwnerDeletion": true,
            });
            let patch = json!({"metadata": {"ownerReferences": [owner]}});
            match self
                .pvcs()
                .patch(&reown.pvc, &PatchParams::default(), &Patch::Merge(&patch))
                .await
            {
                Ok(_) => {}
                Err(error) if is_status(&error, 404) => {}
                Err(error) => {
                    return Err(self
                        .api_error(format!("re-owning PersistentVolumeClaim {}", reown.pvc))(
                        error,
                    ));
                }
            }
        }
        for name in &plan.pvcs_to_delete {
            self.delete_pvc(name).await?;
        }
        Ok(())
    }

    async fn delete_pvc(&self, name: &str) -> Result<(), ReconcileError> {
        match self.pvcs().delete(name, &DeleteParams::background()).await {
            Ok(_) => Ok(()),
            Err(error) if is_status(&error, 404) => Ok(()),
            Err(error) => Err(self.api_error(format!("deleting PersistentVolumeClaim {name}"))(
                error,
            )),
        }
    }

    /// Step 3: PVCs, then pods in slow-start batches. Returns the names of pods that were not created.
    async fn apply_creates(&self, plan: &Plan) -> Result<BTreeSet<String>, ReconcileError> {
        for claim in &plan.pvcs_to_create {
            let name = claim.metadata.name.clone().unwrap_or_default();
            match self.pvcs().create(&PostParams::default(), claim).await {
                Ok(_) => {}
                Err(error) if is_status(&error, 409) => {}
                Err(error) => {
                    return Err(self.api_error(format!("creating PersistentVolumeClaim {name}"))(
                        error,
                    ));
                }
            }
        }
        let mut not_created: BTreeSet<String> = BTreeSet::new();
        let mut remaining = plan.pods_to_create.iter();
        let mut failed = false;
        for size in expectations::slow_start_batches(plan.pods_to_create.len()) {
            let batch: Vec<&Pod> = remaining.by_ref().take(size).collect();
            if failed {
                not_created.extend(batch.iter().filter_map(|p| p.metadata.name.clone()));
                continue;
            }
            let now = Timestamp::now();
            self.with_expectations(|e| {
                for pod in &batch {
                    e.expect_creation(pod.metadata.name.as_deref().unwrap_or_default(), now);
                }
            });
            let api = self.pods();
            let params = PostParams::default();
            let creates: Vec<_> = batch.iter().map(|pod| api.create(&params, pod)).collect();
            let results = run_bounded(creates, MAX_CONCURRENT_WRITES).await;
            for (pod, result) in batch.iter().zip(results) {
                let name = pod.metadata.name.clone().unwrap_or_default();
                if let Err(error) = result {
                    failed = true;
                    self.with_expectations(|e| e.forget(&name));
                    self.publish(
                        "Warning",
                        "FailedCreate",
                        &format!("failed to create pod {name}: {error}"),
                    )
                    .await;
                    not_created.insert(name);
                }
            }
        }
        Ok(not_created)
    }

    /// Step 4: for each pod, conditions through `/status` first, then the object; pods concurrently.
    /// Returns whether a write hit a conflict (the round is retried soon).
    async fn apply_pod_writes(&self, plan: &Plan, pods: &[Pod]) -> Result<bool, ReconcileError> {
        let by_name: HashMap<&str, &Pod> = pods
            .iter()
            .filter_map(|p| Some((p.metadata.name.as_deref()?, p)))
            .collect();
        let writes: Vec<_> = plan
            .pod_writes
            .iter()
            .filter_map(|write| Some(self.write_pod(write, by_name.get(write.name.as_str())?)))
            .collect();
        let results = run_bounded(writes, MAX_CONCURRENT_WRITES).await;
        let mut conflicted = false;
        for result in results {
            conflicted |= result?;
        }
        Ok(conflicted)
    }

    /// One pod of step 4. Returns whether a write hit a conflict.
    async fn write_pod(&self, write: &plan::PodWrite, original: &Pod) -> Result<bool, ReconcileError> {
        let uid = original.metadata.uid.clone().unwrap_or_default();
        if write.status_changed {
            // A full replace carries the cached resourceVersion, so a concurrent kubelet write is not lost.
            let mut desired = write.pod.clone();
            desired.metadata.resource_version = original.metadata.resource_version.clone();
            match self
                .pods()
                .replace_status(&write.name, &PostParams::default(), &desired)
                .await
            {
                Ok(written) => {
                    let version = written.metadata.resource_version.unwrap_or_default();
                    self.with_expectations(|e| e.expect_version(&uid, &version, Timestamp::now()));
                }
                // The object update was planned against the same stale copy: skip it too.
                Err(error) if is_status(&error, 409) || is_status(&error, 404) => return Ok(true),
                Err(error) => {
                    return Err(self.api_error(format!("writing status of Pod {}", write.name))(
                        error,
                    ));
                }
            }
        }
        if write.object_changed {
            let patch = write.object_patch(original);
            match self
                .pods()
                .patch(&write.name, &PatchParams::default(), &Patch::Merge(&patch))
                .await
            {
                Ok(written) => {
                    let version = written.metadata.resource_version.unwrap_or_default();
                    self.with_expectations(|e| e.expect_version(&uid, &version, Timestamp::now()));
                }
                Err(error) if is_status(&error, 409) || is_status(&error, 404) => return Ok(true),
                Err(error) => return Err(self.api_error(format!("updating Pod {}", write.name))(error)),
            }
        }
        Ok(false)
    }

    /// Step 5: deletions with a UID precondition, each with its instance's PVCs; pods concurrently.
    /// Returns the names of pods that were not deleted.
    async fn apply_deletes(&self, plan: &Plan) -> Result<BTreeSet<String>, ReconcileError> {
        let deletes: Vec<_> = plan.pods_to_delete.iter().map(|d| self.delete_pod(d)).collect();
        let results = run_bounded(deletes, MAX_CONCURRENT_WRITES).await;
        let mut not_deleted = BTreeSet::new();
        for result in results {
            not_deleted.extend(result?);
        }
        Ok(not_deleted)
    }

    /// One pod of step 5: `Some(name)` when the pod was not deleted (gone already, or another uid).
    async fn delete_pod(&self, deletion: &plan::PodDeletion) -> Result<Option<String>, ReconcileError> {
        let params = DeleteParams {
            preconditions: deletion.uid.clone().map(|uid| Preconditions {
                uid: Some(uid),
                resource_version: None,
            }),
            ..DeleteParams::background()
        };
        self.with_expectations(|e| e.expect_deletion(&deletion.name, Timestamp::now()));
        match self.pods().delete(&deletion.name, &params).await {
            Ok(_) => {}
            Err(error) if is_status(&error, 404) || is_status(&error, 409) => {
                self.with_expectations(|e| e.forget(&deletion.name));
                return Ok(Some(deletion.name.clone()));
            }
            Err(error) => {
                self.with_expectations(|e| e.forget(&deletion.name));
                return Err(self.api_error(format!("deleting Pod {}", deletion.name))(error));
            }
        }
        for claim in &deletion.pvcs {
            self.delete_pvc(claim).await?;
        }
        Ok(None)
    }

    /// Step 6: events, status, podsToDelete truncation, history cleanup.
    async fn apply_tail(&self, plan: &Plan, skipped: &BTreeSet<String>) -> Result<bool, ReconcileError> {
        // A planned create/delete that did not happen is not announced.
        let announced = plan.events.iter().filter(|event| {
            let is_pod_action = event.reason == "SuccessfulCreate" || event.reason == "SuccessfulDelete";
            !(is_pod_action
                && skipped
                    .iter()
                    .any(|name| event.message.ends_with(&format!("pod {name}"))))
        });
        let publishes: Vec<_> = announced
            .map(|event| self.publish(event.type_, event.reason, &event.message))
            .collect();
        run_bounded(publishes, MAX_CONCURRENT_WRITES).await;
        let mut conflicted = false;
        if plan.write_status {
            let mut updated = self.cloneset.clone();
            updated.status = Some(plan.status.clone());
            match self
                .clonesets()
                .replace_status(&self.name, &PostParams::default(), &updated)
                .await
            {
                Ok(_) => {}
                Err(error) if is_status(&error, 409) || is_status(&error, 404) => conflicted = true,
                Err(error) => return Err(self.api_error("writing status".to_string())(error)),
            }
        }
        if let Some(names) = &plan.pods_to_delete_spec {
            let patch = json!({
                "metadata": {"resourceVersion": self.cloneset.metadata.resource_version},
                "spec": {"scaleStrategy": {"podsToDelete": names}},
            });
            match self
                .clonesets()
                .patch(&self.name, &PatchParams::default(), &Patch::Merge(&patch))
                .await
            {
                Ok(_) => {}
                Err(error) if is_status(&error, 409) || is_status(&error, 404) => conflicted = true,
                Err(error) => {
                    return Err(self
                        .api_error("truncating spec.scaleStrategy.podsToDelete".to_string())(
                        error,
                    ));
                }
            }
        }
        for name in &plan.revisions_to_delete {
            match self.revisions().delete(name, &DeleteParams::background()).await {
                Ok(_) => {}
                Err(error) if is_status(&error, 404) => {}
                Err(error) => {
                    return Err(self.api_error(format!("deleting ControllerRevision {name}"))(
                        error,
                    ));
                }
            }
        }
        Ok(conflicted)
    }
}

async fn reconcile(cloneset: Arc<CloneSet>, ctx: Arc<Context>) -> Result<Action, ReconcileError> {
    let key = key_of(&cloneset);
    let round = Round {
        ctx: &ctx,
        cloneset: &cloneset,
        key: key.clone(),
        namespace: cloneset.namespace().unwrap_or_else(|| "default".to_string()),
        name: cloneset.name_any(),
    };
    let Some(uid) = cloneset.metadata.uid.clone() else {
        return Ok(Action::await_change());
    };

    // The caches must have listed everything once before a round may count what exists.
    for ready in [
        ctx.pods.wait_until_ready().await,
        ctx.pvcs.wait_until_ready().await,
        ctx.revisions.wait_until_ready().await,
    ] {
        if ready.is_err() {
            // A cache's writer is gone: the controller is shutting down.
            return Ok(Action::await_change());
        }
    }
    let namespace = round.namespace.clone();
    let in_namespace = |meta: &ObjectMeta| meta.namespace.as_deref() == Some(namespace.as_str());
    let pods: Vec<Pod> = ctx
        .pods
        .state()
        .iter()
        .filter(|p| in_namespace(&p.metadata) && controlled_by(&p.metadata, &uid))
        .map(|p| Pod::clone(p))
        .collect();
    let pvcs: Vec<PersistentVolumeClaim> = ctx
        .pvcs
        .state()
        .iter()
        .filter(|c| in_namespace(&c.metadata) && controlled_by(&c.metadata, &uid))
        .map(|c| PersistentVolumeClaim::clone(c))
        .collect();
    let revisions = revisions_of(
        &cloneset,
        &uid,
        ctx.revisions
            .state()
            .iter()
            .filter(|r| in_namespace(&r.metadata))
            .map(|r| ControllerRevision::clone(r))
            .collect(),
    );

    let now = Timestamp::now();
    let readiness = round.with_expectations(|e| {
        observe(e, &pods, &pvcs);
        e.readiness(now, expectations::DEFAULT_TIMEOUT_SECONDS)
    });
    match readiness {
        Readiness::Ready => {}
        Readiness::Wait(_) => return Ok(Action::requeue(EXPECTATIONS_REQUEUE)),
        Readiness::TimedOut => {
            tracing::warn!(cloneset = %key, "expectations timed out; reconciling anyway");
            round.with_expectations(|e| *e = Expectations::default());
        }
    }

    let plan = plan::plan(PlanInput {
        cloneset: &cloneset,
        pods: &pods,
        pvcs: &pvcs,
        revisions: &revisions,
        now,
        id_seed: random_seed(),
    })
    .map_err(|source| ReconcileError::Plan {
        cloneset: key.clone(),
        source,
    })?;

    if !round.apply_revision(&plan).await? {
        return Ok(Action::requeue(CONFLICT_REQUEUE));
    }
    round.apply_releases(&plan, &pods, &uid).await?;
    let mut skipped = round.apply_creates(&plan).await?;
    let pods_conflicted = round.apply_pod_writes(&plan, &pods).await?;
    skipped.extend(round.apply_deletes(&plan).await?);
    let tail_conflicted = round.apply_tail(&plan, &skipped).await?;

    if pods_conflicted || tail_conflicted || !skipped.is_empty() {
        return Ok(Action::requeue(CONFLICT_REQUEUE));
    }
    Ok(match plan.requeue_after_seconds {
        Some(seconds) => Action::requeue(Duration::from_secs(u64::try_from(seconds).unwrap_or(1).max(1))),
        None => Action::await_change(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(name: &str, owner: Option<(&str, bool)>, labels: &[(&str, &str)]) -> ObjectMeta {
        ObjectMeta {
            name: Some(name.to_string()),
            uid: Some(format!("uid-{name}")),
            resource_version: Some("7".to_string()),
            labels: Some(
                labels
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
            ),
            owner_references: owner.map(|(uid, controller)| {
                vec![OwnerReference {
                    uid: uid.to_string(),
                    controller: Some(controller),
                    ..Default::default()
                }]
            }),
            ..Default::default()
        }
    }

    #[test]
    fn revisions_owned_or_ownerless_matching() {
        let cloneset = crate::testcs::seed_cloneset();
        let app = [("app", "helloworld-server")];
        let listed = vec![
            ControllerRevision {
                metadata: meta("owned", Some(("cs-uid", true)), &[]),
                ..Default::default()
            },
            ControllerRevision {
                metadata: meta("orphan-matching", None, &app),
                ..Default::default()
            },
            ControllerRevision {
                metadata: meta("orphan-other", None, &[("app", "other")]),
                ..Default::default()
            },
            ControllerRevision {
                metadata: meta("foreign", Some(("other-uid", true)), &app),
                ..Default::default()
            },
        ];
        let names: Vec<String> = revisions_of(&cloneset, "cs-uid", listed)
            .into_iter()
            .filter_map(|r| r.metadata.name)
            .collect();
        assert_eq!(names, ["owned", "orphan-matching"]);
    }

    #[test]
    fn observe_settles_created_and_deleted_names() {
        let now = Timestamp::now();
        let mut expectations = Expectations::default();
        expectations.expect_creation("cs-a", now);
        expectations.expect_deletion("cs-b", now);
        expectations.expect_deletion("cs-c", now);
        let mut terminating = Pod {
            metadata: meta("cs-c", None, &[]),
            ..Default::default()
        };
        terminating.metadata.deletion_timestamp =
            Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(now));
        let listed_b = Pod {
            metadata: meta("cs-b", None, &[]),
            ..Default::default()
        };
        // cs-a not yet listed, cs-b still live: both pending.
        observe(&mut expectations, &[listed_b.clone(), terminating.clone()], &[]);
        assert!(matches!(expectations.readiness(now, 300), Readiness::Wait(_)));
        assert_eq!(expectations.pending_creations().collect::<Vec<_>>(), ["cs-a"]);
        assert_eq!(expectations.pending_deletions().collect::<Vec<_>>(), ["cs-b"]);
        let created = Pod {
            metadata: meta("cs-a", None, &[]),
            ..Default::default()
        };
        observe(&mut expectations, &[created, terminating], &[]);
        assert_eq!(expectations.readiness(now, 300), Readiness::Ready);
    }

    #[test]
    fn a_stale_cache_holds_the_round_until_written_versions_show() {
        let now = Timestamp::now();
        let mut expectations = Expectations::default();
        expectations.expect_version("uid-cs-a", "12", now);
        let mut cached = Pod {
            metadata: meta("cs-a", None, &[]),
            ..Default::default()
        };
        cached.metadata.resource_version = Some("11".to_string());
        // The cache still has the copy from before the write: wait.
        observe(&mut expectations, std::slice::from_ref(&cached), &[]);
        assert!(matches!(expectations.readiness(now, 300), Readiness::Wait(_)));
        cached.metadata.resource_version = Some("12".to_string());
        observe(&mut expectations, std::slice::from_ref(&cached), &[]);
        assert_eq!(expectations.readiness(now, 300), Readiness::Ready);
        // A pod deleted after the write leaves nothing to wait for.
        expectations.expect_version("uid-cs-a", "20", now);
        observe(&mut expectations, &[], &[]);
        assert_eq!(expectations.readiness(now, 300), Readiness::Ready);
    }

    #[tokio::test]
    async fn bounded_runs_keep_order_and_limit() {
        let in_flight = std::sync::atomic::AtomicUsize::new(0);
        let peak = std::sync::atomic::AtomicUsize::new(0);
        let tasks: Vec<_> = (0..20u64)
            .map(|i| {
                let (in_flight, peak) = (&in_flight, &peak);
                async move {
                    let now = in_flight.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
                    peak.fetch_max(now, std::sync::atomic::Ordering::SeqCst);
                    // Later tasks finish first, so completion order differs from task order.
                    tokio::time::sleep(Duration::from_millis(20 - i)).await;
                    in_flight.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
                    i * 10
                }
            })
            .collect();
        let results = run_bounded(tasks, 4).await;
        assert_eq!(results, (0..20u64).map(|i| i * 10).collect::<Vec<_>>());
        assert_eq!(peak.load(std::sync::atomic::Ordering::SeqCst), 4);
    }

    #[test]
    fn controller_reference_detection() {
        let owned = meta("p", Some(("cs-uid", true)), &[]);
        let merely_owned = meta("p", Some(("cs-uid", false)), &[]);
        assert!(controlled_by(&owned, "cs-uid"));
        assert!(!controlled_by(&owned, "other"));
        assert!(!controlled_by(&merely_owned, "cs-uid"));
        assert!(has_controller(&owned));
        assert!(!has_controller(&merely_owned));
    }
}
