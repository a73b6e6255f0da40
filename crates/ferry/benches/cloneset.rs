//! CloneSet benchmark against the embedded cluster (issue 3, Performance).
//!
//! Starts `ferry up` as a child process and drives it over HTTP with kube-rs, like any client of a real
//! cluster. The `ferry` binary is the one Cargo builds for this package: `env!("CARGO_BIN_EXE_ferry")`
//! is set for bench targets, and `cargo bench` builds it with the bench profile (optimised, like
//! `--release`), so no separate build step is needed.
//!
//! Phases, each bounded by [`PHASE_LIMIT`] and reported as "did not finish" when it runs out:
//! 1. `--sim-speed 0`: create a 1,000-replica CloneSet (InPlaceIfPossible, maxUnavailable 20%) and wait
//!    until `status.readyReplicas` and `status.updatedReadyReplicas` are both 1,000.
//! 2. Same cluster: change the image and wait until all 1,000 pods are updated and ready again; then
//!    check that the pods kept their uids and restarted in place (restartCount 1, new image).
//! 3. `--sim-speed 1` (realistic delays), 50 replicas: the same image rollout under InPlaceIfPossible and
//!    under ReCreate, each in a fresh cluster so neither profits from the other's node image cache, and
//!    the ratio of their wall times.
//!
//! API requests are counted by the server: `apiserver_request_total` from `GET /metrics` (Prometheus
//! text, kube-apiserver's metric and labels) is read before and after each phase and the difference is
//! printed by verb. It covers every client of the cluster — the CloneSet controller, the simulated
//! kubelet, the other built-in controllers, and this benchmark's own writes and status polls (one GET of
//! the CloneSet every 100 ms, listed separately). The `/metrics` reads themselves are non-resource
//! requests and left out.
//!
//! Run with `cargo bench -p ferry --bench cloneset`; it prints a table and exits by itself.

use std::{
    collections::BTreeMap,
    time::{Duration, Instant},
};

use anyhow::Context;
use k8s_openapi::api::core::v1::Pod;
use kube::{
    Api, Client,
    api::{DynamicObject, GetParams, ListParams, Patch, PatchParams, PostParams},
    core::{ApiResource, GroupVersionKind},
};
use serde_json::{Value, json};

mod support;
use support::Cluster;

/// Upper bound on every timed phase.
const PHASE_LIMIT: Duration = Duration::from_secs(120);
/// How often the CloneSet status is polled while a phase runs.
const POLL_INTERVAL: Duration = Duration::from_millis(100);
const NAMESPACE: &str = "default";
const OLD_IMAGE: &str = "openkruise/kruise:hello_world-d92ae174b";
const NEW_IMAGE: &str = "openkruise/kruise:hello_world-8a3d1c5e7";

/// `apiserver_request_total` by (verb, resource, subresource, code), resource requests only.
#[derive(Debug, Clone, Default)]
struct ServerCounts(BTreeMap<(String, String, String, String), u64>);

impl ServerCounts {
    /// Reads the server's counter from `GET /metrics`.
    async fn read(client: &Client) -> anyhow::Result<ServerCounts> {
        let request = kube::core::Request::new("")
            .get("metrics", &GetParams::default())
            .context("building the /metrics request")?;
        let text = client.request_text(request).await.context("reading /metrics")?;
        Ok(ServerCounts::parse(&text))
    }

    /// Parses the Prometheus text format lines of `apiserver_request_total`.
    fn parse(text: &str) -> ServerCounts {
        let mut counts = BTreeMap::new();
        for line in text.lines() {
            let Some(rest) = line.strip_prefix("apiserver_request_total{") else {
                continue;
            };
            let Some((labels, value)) = rest.rsplit_once("} ") else {
                continue;
            };
            let Ok(value) = value.trim().parse::<u64>() else {
                continue;
            };
            let label = |name: &str| {
                labels
                    .split(',')
                    .find_map(|pair| pair.strip_prefix(&format!("{name}=\"")))
                    .and_then(|v| v.strip_suffix('"'))
                    .unwrap_or_default()
                    .to_string()
            };
            if label("resource").is_empty() {
                continue;
            }
            counts.insert(
                (
                    label("verb"),
                    label("resource"),
                    label("subresource"),
                    label("code"),
                ),
                value,
            );
        }
        ServerCounts(counts)
    }

    /// What happened between `before` and `self`.
    fn since(&self, before: &ServerCounts) -> ServerCounts {
        ServerCounts(
            self.0
                .iter()
                .map(|(k, v)| (k.clone(), v.saturating_sub(before.0.get(k).copied().unwrap_or(0))))
                .filter(|(_, v)| *v > 0)
                .collect(),
        )
    }

    fn total(&self) -> u64 {
        self.0.values().sum()
    }

    /// Requests per verb, most first.
    fn by_verb(&self) -> Vec<(String, u64)> {
        let mut verbs: BTreeMap<&str, u64> = BTreeMap::new();
        for ((verb, ..), n) in &self.0 {
            *verbs.entry(verb).or_insert(0) += n;
        }
        let mut list: Vec<(String, u64)> = verbs.into_iter().map(|(v, n)| (v.to_string(), n)).collect();
        list.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        list
    }

    /// Requests per `verb resource[/subresource]`, most first.
    fn by_resource(&self) -> Vec<(String, u64)> {
        let mut kinds: BTreeMap<String, u64> = BTreeMap::new();
        for ((verb, resource, subresource, _), n) in &self.0 {
            let name = if subresource.is_empty() {
                format!("{verb} {resource}")
            } else {
                format!("{verb} {resource}/{subresource}")
            };
            *kinds.entry(name).or_insert(0) += n;
        }
        let mut list: Vec<(String, u64)> = kinds.into_iter().collect();
        list.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        list
    }

    /// Responses with code 409 (optimistic-concurrency conflicts, already-exists).
    fn conflicts(&self) -> u64 {
        self.0
            .iter()
            .filter(|((_, _, _, code), _)| code == "409")
            .map(|(_, n)| n)
            .sum()
    }
}

/// The benchmark's view of one CloneSet, counting every request it sends.
struct Driver {
    client: Client,
    clonesets: Api<DynamicObject>,
    pods: Api<Pod>,
    name: String,
    requests: u64,
}

/// The outcome of one timed phase.
struct PhaseResult {
    elapsed: Duration,
    finished: bool,
    /// The benchmark's own requests (its writes and status polls).
    requests: u64,
    /// Every request the server answered during the phase (the benchmark's included).
    server: ServerCounts,
    note: String,
}

impl Driver {
    fn new(client: Client, name: &str) -> Driver {
        let gvk = GroupVersionKind::gvk("apps.kruise.io", "v1alpha1", "CloneSet");
        let resource = ApiResource::from_gvk_with_plural(&gvk, "clonesets");
        Driver {
            client: client.clone(),
            clonesets: Api::namespaced_with(client.clone(), NAMESPACE, &resource),
            pods: Api::namespaced(client, NAMESPACE),
            name: name.to_string(),
            requests: 0,
        }
    }

    async fn create(&mut self, replicas: u32, strategy: &str) -> anyhow::Result<()> {
        let manifest = json!({
            "apiVersion": "apps.kruise.io/v1alpha1",
            "kind": "CloneSet",
            "metadata": {"name": self.name, "labels": {"app": self.name}},
            "spec": {
                "replicas": replicas,
                "selector": {"matchLabels": {"app": self.name}},
                "updateStrategy": {"type": strategy, "maxUnavailable": "20%"},
                "template": {
                    "metadata": {"labels": {"app": self.name}},
                    "spec": {"containers": [{"name": "app", "image": OLD_IMAGE}]}
                }
            }
        });
        let object: DynamicObject = serde_json::from_value(manifest).context("building the CloneSet")?;
        self.requests += 1;
        self.clonesets
            .create(&PostParams::default(), &object)
            .await
            .with_context(|| format!("creating CloneSet {}", self.name))?;
        Ok(())
    }

    async fn set_image(&mut self, image: &str) -> anyhow::Result<()> {
        let patch =
            json!({"spec": {"template": {"spec": {"containers": [{"name": "app", "image": image}]}}}});
        self.requests += 1;
        self.clonesets
            .patch(&self.name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .with_context(|| format!("patching the image of CloneSet {}", self.name))?;
        Ok(())
    }

    /// Polls the CloneSet until the controller has observed the latest spec and every replica is updated
    /// and ready, or [`PHASE_LIMIT`] passes. The clock starts at `started`.
    async fn wait_all_updated_ready(
        &mut self,
        replicas: i64,
        started: Instant,
    ) -> anyhow::Result<(Duration, bool)> {
        while started.elapsed() < PHASE_LIMIT {
            self.requests += 1;
            let object = self
                .clonesets
                .get(&self.name)
                .await
                .with_context(|| format!("reading CloneSet {}", self.name))?;
            let generation = object.metadata.generation.unwrap_or(0);
            let status = object.data.get("status").cloned().unwrap_or(Value::Null);
            let field = |name: &str| status.get(name).and_then(Value::as_i64).unwrap_or(-1);
            if field("observedGeneration") >= generation
                && field("replicas") == replicas
                && field("readyReplicas") == replicas
                && field("updatedReplicas") == replicas
                && field("updatedReadyReplicas") == replicas
            {
                return Ok((started.elapsed(), true));
            }
            tokio::time::sleep(POLL_INTERVAL).await;
        }
        Ok((started.elapsed(), false))
    }

    /// Pod uid by pod name (not counted: bookkeeping outside the timed window).
    async fn pod_uids(&self) -> anyhow::Result<BTreeMap<String, String>> {
        let list = self
            .pods
            .list(&ListParams::default().labels(&format!("app={}", self.name)))
            .await
            .context("listing pods")?;
        Ok(list
            .items
            .into_iter()
            .filter(|p| p.metadata.deletion_timestamp.is_none())
            .filter_map(|p| Some((p.metadata.name?, p.metadata.uid?)))
            .collect())
    }

    /// How many pods kept their uid and run `image` after exactly one in-place restart.
    async fn in_place_count(&self, before: &BTreeMap<String, String>, image: &str) -> anyhow::Result<usize> {
        let list = self
            .pods
            .list(&ListParams::default().labels(&format!("app={}", self.name)))
            .await
            .context("listing pods")?;
        Ok(list
            .items
            .iter()
            .filter(|pod| {
                let same_uid = pod
                    .metadata
                    .name
                    .as_ref()
                    .and_then(|n| before.get(n))
                    .is_some_and(|uid| pod.metadata.uid.as_ref() == Some(uid));
                let restarted = pod
                    .status
                    .as_ref()
                    .and_then(|s| s.container_statuses.as_ref())
                    .and_then(|cs| cs.first())
                    .is_some_and(|c| c.restart_count == 1 && c.image == image);
                same_uid && restarted
            })
            .count())
    }
}

/// Creates the CloneSet and times it until every replica is ready.
async fn timed_create(driver: &mut Driver, replicas: u32, strategy: &str) -> anyhow::Result<PhaseResult> {
    let before = driver.requests;
    let server_before = ServerCounts::read(&driver.client).await?;
    let started = Instant::now();
    driver.create(replicas, strategy).await?;
    let (elapsed, finished) = driver
        .wait_all_updated_ready(i64::from(replicas), started)
        .await?;
    let server = ServerCounts::read(&driver.client).await?.since(&server_before);
    Ok(PhaseResult {
        elapsed,
        finished,
        requests: driver.requests - before,
        server,
        note: String::new(),
    })
}

/// Changes the image and times it until every replica is updated and ready; then counts in-place pods.
async fn timed_rollout(driver: &mut Driver, replicas: u32) -> anyhow::Result<PhaseResult> {
    let uids = driver.pod_uids().await?;
    let before = driver.requests;
    let server_before = ServerCounts::read(&driver.client).await?;
    let started = Instant::now();
    driver.set_image(NEW_IMAGE).await?;
    let (elapsed, finished) = driver
        .wait_all_updated_ready(i64::from(replicas), started)
        .await?;
    let server = ServerCounts::read(&driver.client).await?.since(&server_before);
    let requests = driver.requests - before;
    let in_place = driver.in_place_count(&uids, NEW_IMAGE).await?;
    Ok(PhaseResult {
        elapsed,
        finished,
        requests,
        server,
        note: format!("{in_place}/{replicas} pods same uid, restartCount 1, new image"),
    })
}

fn describe(result: &PhaseResult) -> String {
    if result.finished {
        format!("{:.2} s", result.elapsed.as_secs_f64())
    } else {
        format!("did not finish in {} s", PHASE_LIMIT.as_secs())
    }
}

/// Phases 1 and 2: 1,000 replicas at `--sim-speed 0`.
async fn scale_phases() -> anyhow::Result<Vec<(String, PhaseResult)>> {
    const REPLICAS: u32 = 1000;
    const NODES: usize = 12;
    let cluster = Cluster::start("scale", "0", NODES)?;
    let client = cluster.client(NODES).await?;
    let mut driver = Driver::new(client, "bench-1000");
    let create = timed_create(&mut driver, REPLICAS, "InPlaceIfPossible").await?;
    let mut rows = vec![("sim-speed 0: create 1000 (InPlaceIfPossible)".to_string(), create)];
    if rows.iter().all(|(_, r)| r.finished) {
        let rollout = timed_rollout(&mut driver, REPLICAS).await?;
        rows.push((
            "sim-speed 0: in-place image rollout 1000, maxUnavailable 20%".to_string(),
            rollout,
        ));
    }
    Ok(rows)
}

/// Phase 3: one image rollout at `--sim-speed 1` in a fresh cluster; returns (create, rollout).
async fn realistic_rollout(strategy: &str) -> anyhow::Result<(PhaseResult, Option<PhaseResult>)> {
    const REPLICAS: u32 = 50;
    const NODES: usize = 3;
    let cluster = Cluster::start(&strategy.to_lowercase(), "1", NODES)?;
    let client = cluster.client(NODES).await?;
    let mut driver = Driver::new(client, &format!("bench-{}", strategy.to_lowercase()));
    let create = timed_create(&mut driver, REPLICAS, strategy).await?;
    if !create.finished {
        return Ok((create, None));
    }
    let rollout = timed_rollout(&mut driver, REPLICAS).await?;
    Ok((create, Some(rollout)))
}

fn print_row(label: &str, result: &PhaseResult) {
    println!(
        "{label:<62} {:>26} {:>8} {:>8} {:>6}  {}",
        describe(result),
        result.server.total(),
        result.requests,
        result.server.conflicts(),
        result.note
    );
    let verbs: Vec<String> = result
        .server
        .by_verb()
        .iter()
        .map(|(verb, n)| format!("{verb} {n}"))
        .collect();
    println!("    by verb: {}", verbs.join(", "));
    let kinds: Vec<String> = result
        .server
        .by_resource()
        .iter()
        .take(8)
        .map(|(kind, n)| format!("{kind} {n}"))
        .collect();
    println!("    top: {}", kinds.join(", "));
}

/// `date` and the 1/5/15-minute load averages, to judge how loaded the (shared) machine was.
fn machine_note() -> String {
    let load = std::fs::read_to_string("/proc/loadavg")
        .ok()
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|| "unknown".to_string());
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    format!("unix time {now}, load average {load}")
}

async fn run() -> anyhow::Result<()> {
    println!("ferry CloneSet benchmark; start: {}", machine_note());
    let scale = scale_phases().await?;
    let in_place = realistic_rollout("InPlaceIfPossible").await?;
    let recreate = realistic_rollout("ReCreate").await?;

    println!("end: {}", machine_note());
    println!();
    println!(
        "{:<62} {:>26} {:>8} {:>8} {:>6}  note",
        "phase", "wall time", "server", "bench", "409s"
    );
    for (label, result) in &scale {
        print_row(label, result);
    }
    print_row("sim-speed 1: create 50 (InPlaceIfPossible)", &in_place.0);
    if let Some(rollout) = &in_place.1 {
        print_row("sim-speed 1: image rollout 50, InPlaceIfPossible", rollout);
    }
    print_row("sim-speed 1: create 50 (ReCreate)", &recreate.0);
    if let Some(rollout) = &recreate.1 {
        print_row("sim-speed 1: image rollout 50, ReCreate", rollout);
    }
    match (&in_place.1, &recreate.1) {
        (Some(fast), Some(slow)) if fast.finished && slow.finished && fast.elapsed > Duration::ZERO => {
            println!(
                "\nin-place advantage at sim-speed 1: ReCreate / InPlaceIfPossible = {:.2}x",
                slow.elapsed.as_secs_f64() / fast.elapsed.as_secs_f64()
            );
        }
        _ => println!("\nin-place advantage at sim-speed 1: not computed (a rollout did not finish)"),
    }
    Ok(())
}

fn main() -> std::process::ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("cloneset bench: building the tokio runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run()) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("cloneset bench: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
