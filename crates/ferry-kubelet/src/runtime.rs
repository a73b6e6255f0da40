//! The simulated kubelet at work: registers nodes, schedules pending pods, and reports pod status through
//! the Kubernetes API (kube-rs), so the same code runs against Ferry's embedded API server or a real one.

use std::{
    collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque},
    sync::Arc,
    time::Duration,
};

use futures::{StreamExt, stream::FuturesUnordered};
use jiff::Timestamp;
use k8s_openapi::api::core::v1::{Namespace, Node, Pod};
use kube::{
    Api, Client,
    api::{DeleteParams, Patch, PatchParams, PostParams},
    runtime::watcher,
};
use serde_json::{Value, json};
use tokio::sync::Notify;

use crate::{
    image,
    lifecycle::{self, NodeView, SimConfig},
    schedule::{self, NodeInfo},
};

const FIELD_MANAGER: &str = "ferry-kubelet";
const LEASE_NAMESPACE: &str = "kube-node-lease";
const HEARTBEAT: Duration = Duration::from_secs(10);

/// How many nodes, and how fast time passes.
#[derive(Debug, Clone)]
pub struct KubeletConfig {
    pub nodes: usize,
    pub sim: SimConfig,
    /// Capacity of each node.
    pub cpu: String,
    pub memory: String,
    pub max_pods: u32,
}

impl Default for KubeletConfig {
    fn default() -> Self {
        KubeletConfig {
            nodes: 3,
            sim: SimConfig::default(),
            cpu: "8".into(),
            memory: "32Gi".into(),
            max_pods: 110,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum KubeletError {
    #[error("registering node {node}: {source}")]
    Register { node: String, source: kube::Error },
}

/// One simulated node's identity and image cache.
struct SimNode {
    info: NodeInfo,
    host_ip: String,
    pod_cidr_index: usize,
    images: BTreeSet<String>,
    /// Images being pulled → when the pull finishes (pods needing them wait for that one pull).
    pulling: BTreeMap<String, Timestamp>,
    next_ip: u32,
}

pub fn node_name(index: usize) -> String {
    format!("ferry-node-{}", index + 1)
}

fn node_object(index: usize) -> Value {
    let name = node_name(index);
    json!({
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "labels": {
                "kubernetes.io/hostname": name,
                "kubernetes.io/os": "linux",
                "kubernetes.io/arch": "amd64",
                "node.kubernetes.io/instance-type": "ferry-sim",
                "type": "ferry-sim"
            },
            "annotations": {"node.alpha.kubernetes.io/ttl": "0"}
        },
        "spec": {"podCIDR": format!("10.244.{index}.0/24"), "podCIDRs": [format!("10.244.{index}.0/24")]}
    })
}

fn node_status(index: usize, cfg: &KubeletConfig, images: &BTreeSet<String>, now: Timestamp) -> Value {
    let resources = json!({"cpu": cfg.cpu, "memory": cfg.memory, "pods": cfg.max_pods.to_string(), "ephemeral-storage": "100Gi"});
    let now = now.round(jiff::Unit::Second).unwrap_or(now).to_string();
    let condition = |kind: &str, status: &str, reason: &str, message: &str| {
        json!({"type": kind, "status": status, "reason": reason, "message": message,
               "lastHeartbeatTime": now, "lastTransitionTime": now})
    };
    json!({
        "capacity": resources,
        "allocatable": resources,
        "conditions": [
            condition("MemoryPressure", "False", "KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
            condition("DiskPressure", "False", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
            condition("PIDPressure", "False", "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
            condition("Ready", "True", "KubeletReady", "kubelet is posting ready status"),
        ],
        "addresses": [
            {"type": "InternalIP", "address": format!("172.18.0.{}", index + 2)},
            {"type": "Hostname", "address": node_name(index)}
        ],
        "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
        "nodeInfo": {
            "architecture": "amd64", "operatingSystem": "linux", "osImage": "Ferry simulated node",
            "kernelVersion": "sim", "kubeletVersion": "v1.33.0", "kubeProxyVersion": "v1.33.0",
            "containerRuntimeVersion": "ferry-sim://0.1.0", "machineID": node_name(index),
            "systemUUID": node_name(index), "bootID": node_name(index)
        },
        "images": images.iter().map(|i| json!({"names": [i], "sizeBytes": 10_000_000})).collect::<Vec<_>>()
    })
}

/// A running simulated kubelet; dropping the handle does not stop it, `shutdown` does.
pub struct Kubelet {
    stop: Arc<Notify>,
    task: tokio::task::JoinHandle<()>,
}

impl Kubelet {
    /// Registers the nodes and starts the scheduling and status loops.
    pub async fn start(client: Client, cfg: KubeletConfig) -> Result<Kubelet, KubeletError> {
        let mut nodes = Vec::new();
        for index in 0..cfg.nodes {
            let name = node_name(index);
            register_node(&client, index, &cfg)
                .await
                .map_err(|source| KubeletError::Register {
                    node: name.clone(),
                    source,
                })?;
            let info = NodeInfo::from_node(&json!({
                "metadata": node_object(index)["metadata"],
                "status": node_status(index, &cfg, &BTreeSet::new(), Timestamp::now())
            }));
            nodes.push(SimNode {
                info,
                host_ip: format!("172.18.0.{}", index + 2),
                pod_cidr_index: index,
                images: BTreeSet::new(),
                pulling: BTreeMap::new(),
                next_ip: 2,
            });
        }
        let stop = Arc::new(Notify::new());
        let task = tokio::spawn(run(client, cfg, nodes, stop.clone()));
        Ok(Kubelet { stop, task })
    }

    pub async fn shutdown(self) {
        self.stop.notify_one();
        let _ = self.task.await;
    }
}

async fn register_node(client: &Client, index: usize, cfg: &KubeletConfig) -> Result<(), kube::Error> {
    let nodes: Api<Node> = Api::all(client.clone());
    let name = node_name(index);
    let object: Node = serde_json::from_value(node_object(index)).map_err(kube::Error::SerdeError)?;
    match nodes.create(&PostParams::default(), &object).await {
        Ok(_) => {}
        Err(kube::Error::Api(status)) if status.code == 409 => {}
        Err(e) => return Err(e),
    }
    let status = node_status(index, cfg, &BTreeSet::new(), Timestamp::now());
    nodes
        .patch_status(&name, &manager(), &Patch::Merge(json!({"status": status})))
        .await?;
    let namespaces: Api<Namespace> = Api::all(client.clone());
    let ns = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": LEASE_NAMESPACE}});
    let ns: Namespace = serde_json::from_value(ns).map_err(kube::Error::SerdeError)?;
    match namespaces.create(&PostParams::default(), &ns).await {
        Ok(_) => {}
        Err(kube::Error::Api(status)) if status.code == 409 => {}
        Err(e) => return Err(e),
    }
    renew_lease(client, &name).await
}

async fn renew_lease(client: &Client, node: &str) -> Result<(), kube::Error> {
    let leases: Api<k8s_openapi::api::coordination::v1::Lease> =
        Api::namespaced(client.clone(), LEASE_NAMESPACE);
    let now = Timestamp::now();
    let micro = now
        .round(jiff::Unit::Microsecond)
        .unwrap_or(now)
        .strftime("%Y-%m-%dT%H:%M:%S%.6fZ")
        .to_string();
    let lease = json!({
        "apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
        "metadata": {"name": node, "namespace": LEASE_NAMESPACE},
        "spec": {"holderIdentity": node, "leaseDurationSeconds": 40, "renewTime": micro}
    });
    leases
        .patch(
            node,
            &PatchParams::apply(FIELD_MANAGER).force(),
            &Patch::Apply(lease),
        )
        .await
        .map(|_| ())
}

/// Patch parameters naming the kubelet as the field manager (shown in managedFields).
fn manager() -> PatchParams {
    PatchParams {
        field_manager: Some(FIELD_MANAGER.into()),
        ..PatchParams::default()
    }
}

type PodKey = (String, String);

/// Whether `incoming` is an older version of the object than `held`. Resource versions are opaque in
/// general, but integers on Ferry's API server (and etcd-backed ones); when either does not parse, the
/// incoming copy is taken as newer.
fn is_older(incoming: &Value, held: &Value) -> bool {
    let version = |v: &Value| {
        v["metadata"]["resourceVersion"]
            .as_str()
            .and_then(|s| s.parse::<u64>().ok())
    };
    matches!((version(incoming), version(held)), (Some(a), Some(b)) if a < b)
}

fn key_of(pod: &Value) -> PodKey {
    (
        pod["metadata"]["namespace"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
        pod["metadata"]["name"].as_str().unwrap_or_default().to_string(),
    )
}

/// Pod writes (bindings, status patches, final deletions) in flight at once. The loop keeps handling
/// watch events and wake-ups while they run.
const MAX_IN_FLIGHT: usize = 32;

/// A finished write, reported back to the loop.
struct WriteDone {
    key: PodKey,
    /// The pod as written (status patches), or nothing to keep (bindings, deletions).
    result: Result<Option<Value>, kube::Error>,
    /// For a binding: the resourceVersion of the copy that was bound locally, undone when the binding
    /// fails and the copy is still that one.
    bound_from: Option<Value>,
}

type WriteFuture = futures::future::BoxFuture<'static, WriteDone>;

struct State {
    client: Client,
    cfg: KubeletConfig,
    nodes: Vec<SimNode>,
    pods: HashMap<PodKey, Value>,
    wakeups: BTreeMap<Timestamp, HashSet<PodKey>>,
    /// Pods that could not be scheduled; retried when capacity frees up.
    pending: HashSet<PodKey>,
    /// Pods to look at, in arrival order (`queued` keeps them unique).
    queue: VecDeque<PodKey>,
    queued: HashSet<PodKey>,
    /// Pods with a write in flight; a change to one is looked at when its write returns (`redo`).
    busy: HashSet<PodKey>,
    redo: HashSet<PodKey>,
    in_flight: FuturesUnordered<WriteFuture>,
    /// When an unscheduled pod was first seen: the scheduling delay counts from there.
    first_seen: HashMap<PodKey, Timestamp>,
}

async fn run(client: Client, cfg: KubeletConfig, nodes: Vec<SimNode>, stop: Arc<Notify>) {
    let pods_api: Api<Pod> = Api::all(client.clone());
    let mut events = watcher(pods_api, watcher::Config::default()).boxed();
    let mut state = State {
        client: client.clone(),
        cfg,
        nodes,
        pods: HashMap::new(),
        wakeups: BTreeMap::new(),
        pending: HashSet::new(),
        queue: VecDeque::new(),
        queued: HashSet::new(),
        busy: HashSet::new(),
        redo: HashSet::new(),
        in_flight: FuturesUnordered::new(),
        first_seen: HashMap::new(),
    };
    let nodes_api: Api<Node> = Api::all(client.clone());
    let mut node_events = watcher(nodes_api, watcher::Config::default()).boxed();
    let mut init_buffer: Option<HashMap<PodKey, Value>> = None;
    let mut heartbeat = tokio::time::interval(HEARTBEAT);
    loop {
        state.drain();
        let next_wake = state.wakeups.keys().next().copied();
        let sleep = async {
            match next_wake {
                Some(at) => {
                    let wait = at.duration_since(Timestamp::now());
                    let wait = Duration::try_from(wait).unwrap_or(Duration::ZERO);
                    tokio::time::sleep(wait).await
                }
                None => std::future::pending().await,
            }
        };
        let writing = !state.in_flight.is_empty();
        tokio::select! {
            _ = stop.notified() => return,
            Some(done) = state.in_flight.next(), if writing => state.finish(done),
            Some(event) = node_events.next() => {
                // Labels, taints and cordons change what fits where: refresh and retry pending pods.
                if let Ok(watcher::Event::Apply(node) | watcher::Event::InitApply(node)) = event
                    && let Ok(value) = serde_json::to_value(&node)
                {
                    let fresh = NodeInfo::from_node(&value);
                    if let Some(sim) = state.nodes.iter_mut().find(|n| n.info.name == fresh.name) {
                        sim.info = NodeInfo { requested: sim.info.requested, ..fresh };
                        state.enqueue_pending();
                    }
                }
            }
            _ = heartbeat.tick() => {
                for index in 0..state.nodes.len() {
                    if let Err(e) = renew_lease(&state.client, &node_name(index)).await {
                        tracing::warn!(node = %node_name(index), error = %e, "lease renewal failed");
                    }
                }
            }
            _ = sleep => {
                let now = Timestamp::now();
                let due: Vec<Timestamp> = state.wakeups.range(..=now).map(|(t, _)| *t).collect();
                for t in due {
                    if let Some(keys) = state.wakeups.remove(&t) {
                        keys.into_iter().for_each(|key| state.enqueue(key));
                    }
                }
            }
            event = events.next() => match event {
                None => return,
                Some(Err(e)) => {
                    tracing::warn!(error = %e, "pod watch failed; retrying");
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                Some(Ok(event)) => match event {
                    watcher::Event::Init => init_buffer = Some(HashMap::new()),
                    watcher::Event::InitApply(pod) => {
                        if let (Some(buffer), Ok(value)) = (init_buffer.as_mut(), pod_value(pod)) {
                            buffer.insert(key_of(&value), value);
                        }
                    }
                    watcher::Event::InitDone => {
                        if let Some(buffer) = init_buffer.take() {
                            let keys: Vec<PodKey> = buffer.keys().cloned().collect();
                            state.pods = buffer;
                            state.pending.clear();
                            keys.into_iter().for_each(|key| state.enqueue(key));
                        }
                    }
                    watcher::Event::Apply(pod) => {
                        if let Ok(value) = pod_value(pod) {
                            let key = key_of(&value);
                            // A watch event can trail the copy we already hold from our own write's
                            // response; never let an older version replace a newer one.
                            let stale = state.pods.get(&key).is_some_and(|held| is_older(&value, held));
                            if !stale {
                                state.pods.insert(key.clone(), value);
                                state.enqueue(key);
                            }
                        }
                    }
                    watcher::Event::Delete(pod) => {
                        if let Ok(value) = serde_json::to_value(&pod) {
                            let key = key_of(&value);
                            state.pods.remove(&key);
                            state.first_seen.remove(&key);
                            // Freed capacity may let a pending pod fit.
                            state.enqueue_pending();
                        }
                    }
                },
            },
        }
    }
}

impl State {
    fn node_index(&self, name: &str) -> Option<usize> {
        self.nodes.iter().position(|n| n.info.name == name)
    }

    fn node_infos(&self) -> Vec<NodeInfo> {
        let mut infos: Vec<NodeInfo> = self.nodes.iter().map(|n| n.info.clone()).collect();
        for pod in self.pods.values() {
            let phase = pod["status"]["phase"].as_str().unwrap_or_default();
            if phase == "Succeeded" || phase == "Failed" {
                continue;
            }
            let Some(node) = pod["spec"]["nodeName"].as_str() else {
                continue;
            };
            if let Some(info) = infos.iter_mut().find(|i| i.name == node) {
                add_requests(info, pod);
            }
        }
        infos
    }

    fn enqueue(&mut self, key: PodKey) {
        if self.queued.insert(key.clone()) {
            self.queue.push_back(key);
        }
    }

    fn enqueue_pending(&mut self) {
        let pending: Vec<PodKey> = self.pending.iter().cloned().collect();
        pending.into_iter().for_each(|key| self.enqueue(key));
    }

    fn wake(&mut self, key: &PodKey, at: Timestamp) {
        self.wakeups.entry(at).or_default().insert(key.clone());
    }

    /// Looks at queued pods while write slots are free, starting their writes.
    fn drain(&mut self) {
        // Node loads, computed once per drain and kept current as pods are bound.
        let mut infos: Option<Vec<NodeInfo>> = None;
        while self.in_flight.len() < MAX_IN_FLIGHT {
            let Some(key) = self.queue.pop_front() else {
                break;
            };
            self.queued.remove(&key);
            if self.busy.contains(&key) {
                self.redo.insert(key);
                continue;
            }
            if let Some(write) = self.process(&key, &mut infos) {
                self.busy.insert(key);
                self.in_flight.push(write);
            }
        }
    }

    /// A write returned: keep what it wrote, retry what failed, look again at what changed meanwhile.
    fn finish(&mut self, done: WriteDone) {
        let WriteDone {
            key,
            result,
            bound_from,
        } = done;
        self.busy.remove(&key);
        match result {
            Ok(Some(written)) => {
                let stale = self.pods.get(&key).is_some_and(|held| is_older(&written, held));
                if !stale {
                    self.pods.insert(key.clone(), written);
                }
            }
            Ok(None) => {}
            Err(e) => {
                if let Some(version) = bound_from
                    && let Some(pod) = self.pods.get_mut(&key)
                    && pod["metadata"]["resourceVersion"] == version
                {
                    pod["spec"]["nodeName"] = Value::Null;
                }
                // Conflicts and races resolve on the next event; anything else is retried shortly.
                tracing::debug!(namespace = %key.0, pod = %key.1, error = %e, "pod sync failed; will retry");
                let retry = Timestamp::now() + jiff::SignedDuration::from_millis(500);
                self.wake(&key, retry);
            }
        }
        if self.redo.remove(&key) {
            self.enqueue(key);
        }
    }

    /// Decides what a pod needs now; returns the write to send, if any.
    fn process(&mut self, key: &PodKey, infos: &mut Option<Vec<NodeInfo>>) -> Option<WriteFuture> {
        let pod = self.pods.get(key)?.clone();
        match pod["spec"]["nodeName"].as_str().filter(|n| !n.is_empty()) {
            None => self.schedule(key, &pod, infos),
            Some(node) => match self.node_index(node) {
                Some(index) => self.report(key, &pod, index),
                None => None, // Bound to a node that isn't ours.
            },
        }
    }

    fn schedule(
        &mut self,
        key: &PodKey,
        pod: &Value,
        infos: &mut Option<Vec<NodeInfo>>,
    ) -> Option<WriteFuture> {
        if !pod["metadata"]["deletionTimestamp"].is_null() {
            return None;
        }
        if pod["spec"]["schedulerName"]
            .as_str()
            .is_some_and(|s| s != "default-scheduler")
        {
            return None;
        }
        let now = Timestamp::now();
        let seen = *self.first_seen.entry(key.clone()).or_insert(now);
        let due = seen + self.cfg.sim.scaled(self.cfg.sim.schedule_seconds);
        if now < due {
            self.wake(key, due);
            return None;
        }
        let api: Api<Pod> = Api::namespaced(self.client.clone(), &key.0);
        let loads = match infos {
            Some(loads) => loads,
            None => infos.insert(self.node_infos()),
        };
        match schedule::schedule(pod, loads) {
            Ok(node) => {
                self.pending.remove(key);
                self.first_seen.remove(key);
                // Count the pod on its node for the rest of this drain, and locally until the watch
                // brings the bound pod.
                if let Some(info) = loads.iter_mut().find(|i| i.name == node) {
                    add_requests(info, pod);
                }
                let bound_from = pod["metadata"]["resourceVersion"].clone();
                if let Some(p) = self.pods.get_mut(key) {
                    p["spec"]["nodeName"] = json!(node);
                }
                let binding = json!({
                    "apiVersion": "v1", "kind": "Binding",
                    "metadata": {"name": key.1, "namespace": key.0},
                    "target": {"apiVersion": "v1", "kind": "Node", "name": node}
                });
                let key = key.clone();
                Some(Box::pin(async move {
                    let result = api
                        .create_subresource::<Value, Value>(
                            "binding",
                            &key.1,
                            &PostParams::default(),
                            &binding,
                        )
                        .await
                        .map(|_| None);
                    WriteDone {
                        key,
                        result,
                        bound_from: Some(bound_from),
                    }
                }))
            }
            Err(unschedulable) => {
                self.pending.insert(key.clone());
                let already = pod["status"]["conditions"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .any(|c| {
                        c["type"] == "PodScheduled"
                            && c["status"] == "False"
                            && c["message"] == unschedulable.0
                    });
                if already {
                    return None;
                }
                let now = Timestamp::now()
                    .round(jiff::Unit::Second)
                    .unwrap_or_else(|_| Timestamp::now())
                    .to_string();
                let status = json!({"status": {"phase": "Pending", "conditions": [{
                    "type": "PodScheduled", "status": "False", "reason": "Unschedulable",
                    "message": unschedulable.0, "lastProbeTime": null, "lastTransitionTime": now
                }]}});
                Some(patch_status(api, key.clone(), status))
            }
        }
    }

    fn report(&mut self, key: &PodKey, pod: &Value, index: usize) -> Option<WriteFuture> {
        let api: Api<Pod> = Api::namespaced(self.client.clone(), &key.0);
        let now = Timestamp::now();
        let node = self.nodes.get_mut(index)?;
        let pod_ip = match pod["status"]["podIP"].as_str() {
            Some(ip) if !ip.is_empty() => ip.to_string(),
            _ => {
                let ip = format!("10.244.{}.{}", node.pod_cidr_index, node.next_ip);
                node.next_ip = if node.next_ip >= 254 { 2 } else { node.next_ip + 1 };
                ip
            }
        };
        // Pulls that have finished put their image in the node's cache.
        let images = &mut node.images;
        node.pulling.retain(|image, done| {
            let finished = *done <= now;
            if finished {
                images.insert(image.clone());
            }
            !finished
        });
        let view = NodeView {
            host_ip: &node.host_ip,
            pod_ip: &pod_ip,
            images: &node.images,
            pulling: &node.pulling,
        };
        let outcome = lifecycle::next_status(pod, view, &self.cfg.sim, now);
        if outcome.finalize_deletion {
            let dp = DeleteParams {
                grace_period_seconds: Some(0),
                ..DeleteParams::default()
            };
            let key = key.clone();
            return Some(Box::pin(async move {
                let result = match api.delete(&key.1, &dp).await {
                    Ok(_) => Ok(None),
                    Err(kube::Error::Api(s)) if s.code == 404 => Ok(None),
                    Err(e) => Err(e),
                };
                WriteDone {
                    key,
                    result,
                    bound_from: None,
                }
            }));
        }
        node.images
            .extend(outcome.pulled.iter().map(|i| image::normalize(i)));
        for (image, done) in outcome.pulls_started {
            node.pulling.entry(image).or_insert(done);
        }
        if let Some(at) = outcome.wake_at {
            self.wake(key, at);
        }
        if pod["status"] == outcome.status {
            return None;
        }
        // The status is computed from this copy of the pod (conditions owned by controllers, such as
        // Kruise's InPlaceUpdateReady, included), so the write is conditional on it still being
        // current: a stale copy gets 409 and the next watch event brings the fresh one.
        let patch = json!({
            "metadata": {"resourceVersion": pod["metadata"]["resourceVersion"]},
            "status": outcome.status
        });
        Some(patch_status(api, key.clone(), patch))
    }
}

/// A pod as the kubelet keeps it: JSON without managedFields (never read here, and the bulk of what
/// copying a pod costs).
fn pod_value(mut pod: Pod) -> Result<Value, serde_json::Error> {
    pod.metadata.managed_fields = None;
    serde_json::to_value(&pod)
}

/// Adds a pod's requests to a node's load.
fn add_requests(info: &mut NodeInfo, pod: &Value) {
    let requests = schedule::pod_requests(pod);
    info.requested.cpu_milli += requests.cpu_milli;
    info.requested.memory += requests.memory;
    info.requested.pods += 1;
}

/// A status merge patch as the kubelet's field manager; reports the written pod.
fn patch_status(api: Api<Pod>, key: PodKey, patch: Value) -> WriteFuture {
    Box::pin(async move {
        let result = api
            .patch_status(&key.1, &manager(), &Patch::Merge(patch))
            .await
            .map(|written| pod_value(written).ok());
        WriteDone {
            key,
            result,
            bound_from: None,
        }
    })
}
