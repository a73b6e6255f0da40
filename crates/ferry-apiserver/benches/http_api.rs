//! End-to-end benchmark (not a test) of Ferry's Kubernetes HTTP API over real HTTPS on 127.0.0.1, with
//! etcd 3.4 (Debian's `etcd-server`) run side by side in the same run with the same keys and writers.
//!
//! Run: `cargo bench -p ferry-apiserver --bench http_api`. It starts the API server in-process (SQLite
//! store in a temp dir, TLS on, bearer token), and — when the `etcd` binary is on PATH — an etcd on
//! 127.0.0.1:23791, then measures, each phase bounded in time:
//! - durable creates/s and updates/s of 1 KiB ConfigMaps with 16 concurrent writers (one keep-alive
//!   connection each). Ferry: `POST` and `PUT` with the resourceVersion (compare-and-swap) through the full
//!   API (auth, admission, defaulting, managedFields). etcd: the transactions kube-apiserver sends it — a
//!   create guarded by `create_revision == 0` and an update guarded by `mod_revision` — through etcd's
//!   HTTP/JSON gateway (no gRPC stack in Ferry's dependency tree; the gateway costs etcd some CPU);
//! - one list of all 10,000 objects (median of 5): Ferry `GET …/configmaps`, etcd a prefix range;
//! - resident memory with 10,000 objects (after creates and updates, before and after the list phase).
//!   Ferry's server runs in the bench process, so its figure is the bench process's VmRSS (server + bench
//!   clients); the VmRSS before the server started is printed too. etcd's is its own process's VmRSS;
//! - watch delivery latency with 100 concurrent watchers (one connection each): paced (one writer, a
//!   write every 5 ms), 1000/s (16 writers, together offering about 1,000 writes/s) and burst (16 writers
//!   as fast as they go, so the faster store also has more to fan out). Latency is measured per event and
//!   watcher from the write's acknowledgement to the watcher reading the event (0 when the event arrived
//!   first), and from the write's submission (includes the durable commit).
//!
//! Environment: `FERRY_BENCH_OBJECTS` (10000), `FERRY_BENCH_WRITERS` (16), `FERRY_BENCH_WATCHERS` (100),
//! `FERRY_BENCH_SYNC=normal` (SQLite `synchronous=NORMAL`; default FULL), `FERRY_BENCH_ETCD=0` skips etcd.

use std::{
    collections::HashMap,
    net::SocketAddr,
    path::Path,
    process::{Command, Stdio},
    sync::Arc,
    time::{Duration, Instant},
};

use base64::Engine as _;
use bytes::Bytes;
use ferry_store::{SqliteOptions, SqliteStore, Synchronous};
use http_body_util::{BodyExt as _, Full};
use hyper::{
    Method, Request, StatusCode,
    body::Incoming,
    header::{AUTHORIZATION, CONTENT_TYPE, HOST},
};
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use tokio::{net::TcpStream, task::JoinSet};

type BenchResult<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

#[path = "../../ferry-store/benches/support/etcd_process.rs"]
mod etcd_process;
use etcd_process::EtcdProcess;

const NAMESPACE: &str = "bench";
const ETCD_CLIENT: &str = "127.0.0.1:23791";
const ETCD_PEER: &str = "127.0.0.1:23801";
/// etcd keys as kube-apiserver lays them out.
const ETCD_PREFIX: &str = "/registry/configmaps/bench/";
const WRITE_PHASE_LIMIT: Duration = Duration::from_secs(240);
const SHORT_PHASE_LIMIT: Duration = Duration::from_secs(90);

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn object_name(i: usize) -> String {
    format!("cm-{i:05}")
}

/// A ConfigMap whose JSON encoding is 1 KiB (before the server adds uid, timestamps, managedFields).
fn config_map(name: &str, generation: usize, resource_version: Option<&str>) -> Value {
    let mut value = json!({
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": NAMESPACE, "labels": {"app": "bench", "gen": generation.to_string()}},
        "data": {"payload": ""},
    });
    let len = serde_json::to_vec(&value).map_or(0, |v| v.len());
    value["data"]["payload"] = Value::String("x".repeat(1024usize.saturating_sub(len)));
    if let Some(rv) = resource_version {
        value["metadata"]["resourceVersion"] = Value::String(rv.to_string());
    }
    value
}

fn vm_rss_mib(status_path: &str) -> f64 {
    let status = std::fs::read_to_string(status_path).unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kib| kib / 1024.0)
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// The first key after every key starting with `prefix` (etcd's `range_end` for a prefix).
fn prefix_end(prefix: &str) -> Vec<u8> {
    let mut end = prefix.as_bytes().to_vec();
    if let Some(last) = end.last_mut() {
        *last = last.saturating_add(1);
    }
    end
}

// --- A lean HTTP/1.1 client: hyper's connection API over TCP, or TLS with rustls ---

#[derive(Clone)]
struct Endpoint {
    addr: SocketAddr,
    tls: Option<tokio_rustls::TlsConnector>,
    token: Option<String>,
}

struct Conn {
    sender: hyper::client::conn::http1::SendRequest<Full<Bytes>>,
    token: Option<String>,
}

impl Endpoint {
    async fn connect(&self) -> BenchResult<Conn> {
        let tcp = TcpStream::connect(self.addr).await?;
        tcp.set_nodelay(true)?;
        let sender = match &self.tls {
            Some(tls) => {
                let name = rustls::pki_types::ServerName::from(self.addr.ip());
                let stream = tls.connect(name, tcp).await?;
                let (sender, connection) =
                    hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
                tokio::spawn(async move {
                    let _ = connection.await;
                });
                sender
            }
            None => {
                let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(tcp)).await?;
                tokio::spawn(async move {
                    let _ = connection.await;
                });
                sender
            }
        };
        Ok(Conn {
            sender,
            token: self.token.clone(),
        })
    }
}

impl Conn {
    async fn send(
        &mut self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> BenchResult<hyper::Response<Incoming>> {
        self.sender.ready().await?;
        let mut request = Request::builder()
            .method(method)
            .uri(path)
            .header(HOST, "127.0.0.1");
        if body.is_some() {
            request = request.header(CONTENT_TYPE, "application/json");
        }
        if let Some(token) = &self.token {
            request = request.header(AUTHORIZATION, format!("Bearer {token}"));
        }
        let body = match body {
            Some(value) => Bytes::from(serde_json::to_vec(value)?),
            None => Bytes::new(),
        };
        Ok(self.sender.send_request(request.body(Full::new(body))?).await?)
    }

    /// Sends and reads the whole response; anything but `expected` is an error naming the request.
    async fn call(
        &mut self,
        method: Method,
        path: &str,
        body: Option<&Value>,
        expected: StatusCode,
    ) -> BenchResult<Bytes> {
        let response = self.send(method.clone(), path, body).await?;
        let status = response.status();
        let bytes = response.into_body().collect().await?.to_bytes();
        if status != expected {
            return Err(format!(
                "{method} {path}: HTTP {status} (expected {expected}): {}",
                String::from_utf8_lossy(&bytes[..bytes.len().min(400)])
            )
            .into());
        }
        Ok(bytes)
    }
}

// --- The two systems under test, driven with the same operations ---

#[derive(serde::Deserialize)]
struct ListCount {
    #[serde(default)]
    items: Vec<serde::de::IgnoredAny>,
    #[serde(default)]
    kvs: Vec<serde::de::IgnoredAny>,
}

#[derive(serde::Deserialize)]
struct FerryWatchEvent {
    #[serde(rename = "type")]
    kind: String,
    object: NamedObject,
}

#[derive(serde::Deserialize)]
struct NamedObject {
    metadata: ObjectName,
}

#[derive(serde::Deserialize)]
struct ObjectName {
    name: String,
}

#[derive(serde::Deserialize, Default)]
struct EtcdWatchLine {
    #[serde(default)]
    result: EtcdWatchResult,
}

#[derive(serde::Deserialize, Default)]
struct EtcdWatchResult {
    #[serde(default)]
    events: Vec<EtcdWatchEvent>,
}

#[derive(serde::Deserialize)]
struct EtcdWatchEvent {
    kv: EtcdKey,
}

#[derive(serde::Deserialize)]
struct EtcdKey {
    key: String,
}

#[derive(Clone, Copy, PartialEq)]
enum System {
    Ferry,
    Etcd,
}

struct Target {
    system: System,
    endpoint: Endpoint,
}

fn json_str<'a>(value: &'a Value, pointer: &str) -> BenchResult<&'a str> {
    value
        .pointer(pointer)
        .and_then(Value::as_str)
        .ok_or_else(|| format!("response has no string at {pointer}: {value}").into())
}

impl Target {
    fn collection(&self) -> String {
        format!("/api/v1/namespaces/{NAMESPACE}/configmaps")
    }

    /// Creates object `name`; returns its resourceVersion (etcd: the revision of the write).
    async fn create(&self, conn: &mut Conn, name: &str) -> BenchResult<String> {
        let object = config_map(name, 1, None);
        match self.system {
            System::Ferry => {
                let body = conn
                    .call(
                        Method::POST,
                        &self.collection(),
                        Some(&object),
                        StatusCode::CREATED,
                    )
                    .await?;
                let created: Value = serde_json::from_slice(&body)?;
                Ok(json_str(&created, "/metadata/resourceVersion")?.to_string())
            }
            System::Etcd => {
                let key = b64(format!("{ETCD_PREFIX}{name}").as_bytes());
                let txn = json!({
                    "compare": [{"key": key, "target": "CREATE", "result": "EQUAL", "create_revision": "0"}],
                    "success": [{"request_put": {"key": key, "value": b64(&serde_json::to_vec(&object)?)}}],
                });
                etcd_txn(conn, name, &txn).await
            }
        }
    }

    /// Compare-and-swap update of `name` at `resource_version`.
    async fn update(&self, conn: &mut Conn, name: &str, resource_version: &str) -> BenchResult<()> {
        let object = config_map(name, 2, Some(resource_version));
        match self.system {
            System::Ferry => {
                conn.call(
                    Method::PUT,
                    &format!("{}/{name}", self.collection()),
                    Some(&object),
                    StatusCode::OK,
                )
                .await?;
            }
            System::Etcd => {
                let key = b64(format!("{ETCD_PREFIX}{name}").as_bytes());
                let txn = json!({
                    "compare": [{"key": key, "target": "MOD", "result": "EQUAL", "mod_revision": resource_version}],
                    "success": [{"request_put": {"key": key, "value": b64(&serde_json::to_vec(&object)?)}}],
                });
                etcd_txn(conn, name, &txn).await?;
            }
        }
        Ok(())
    }

    /// Lists every object; returns how many came back and the response size in bytes.
    async fn list_all(&self, conn: &mut Conn) -> BenchResult<(usize, usize)> {
        let body = match self.system {
            System::Ferry => {
                conn.call(Method::GET, &self.collection(), None, StatusCode::OK)
                    .await?
            }
            System::Etcd => {
                let range =
                    json!({"key": b64(ETCD_PREFIX.as_bytes()), "range_end": b64(&prefix_end(ETCD_PREFIX))});
                conn.call(Method::POST, "/v3/kv/range", Some(&range), StatusCode::OK)
                    .await?
            }
        };
        // Counted without building a tree of the items, so the bench's own allocations stay small.
        // A Ferry list has `items`, an etcd range `kvs`.
        let listed: ListCount = serde_json::from_slice(&body)?;
        let count = listed.items.len() + listed.kvs.len();
        Ok((count, body.len()))
    }

    /// Opens a watch on the collection for changes after now.
    async fn open_watch(&self, conn: &mut Conn, resource_version: &str) -> BenchResult<Incoming> {
        let response = match self.system {
            System::Ferry => {
                let path = format!(
                    "{}?watch=true&resourceVersion={resource_version}&timeoutSeconds=600",
                    self.collection()
                );
                conn.send(Method::GET, &path, None).await?
            }
            System::Etcd => {
                let request = json!({"create_request": {"key": b64(ETCD_PREFIX.as_bytes()), "range_end": b64(&prefix_end(ETCD_PREFIX))}});
                conn.send(Method::POST, "/v3/watch", Some(&request)).await?
            }
        };
        if response.status() != StatusCode::OK {
            return Err(format!("watch: HTTP {}", response.status()).into());
        }
        Ok(response.into_body())
    }

    /// Names of objects created, as one line of the watch stream reports them. Decoded into small
    /// typed structs so the bench's own parsing (in the server's process) stays cheap.
    fn created_names(&self, line: &[u8]) -> Vec<String> {
        match self.system {
            System::Ferry => match serde_json::from_slice::<FerryWatchEvent>(line) {
                Ok(event) if event.kind == "ADDED" => vec![event.object.metadata.name],
                _ => Vec::new(),
            },
            System::Etcd => serde_json::from_slice::<EtcdWatchLine>(line)
                .map(|line| line.result.events)
                .unwrap_or_default()
                .into_iter()
                .filter_map(|event| {
                    base64::engine::general_purpose::STANDARD
                        .decode(event.kv.key)
                        .ok()
                })
                .filter_map(|key| {
                    String::from_utf8(key)
                        .ok()?
                        .strip_prefix(ETCD_PREFIX)
                        .map(str::to_string)
                })
                .collect(),
        }
    }

    /// The current resourceVersion / revision, from which a watch sees only later writes.
    async fn current_revision(&self, conn: &mut Conn) -> BenchResult<String> {
        match self.system {
            System::Ferry => {
                let body = conn
                    .call(
                        Method::GET,
                        &format!("{}?limit=1", self.collection()),
                        None,
                        StatusCode::OK,
                    )
                    .await?;
                let listed: Value = serde_json::from_slice(&body)?;
                Ok(json_str(&listed, "/metadata/resourceVersion")?.to_string())
            }
            System::Etcd => {
                let range = json!({"key": b64(b"/health-probe")});
                let body = conn
                    .call(Method::POST, "/v3/kv/range", Some(&range), StatusCode::OK)
                    .await?;
                let listed: Value = serde_json::from_slice(&body)?;
                Ok(json_str(&listed, "/header/revision")?.to_string())
            }
        }
    }
}

/// Runs an etcd transaction; a failed compare is an error. Returns the revision of the write.
async fn etcd_txn(conn: &mut Conn, name: &str, txn: &Value) -> BenchResult<String> {
    let body = conn
        .call(Method::POST, "/v3/kv/txn", Some(txn), StatusCode::OK)
        .await?;
    let response: Value = serde_json::from_slice(&body)?;
    if response.get("succeeded").and_then(Value::as_bool) != Some(true) {
        return Err(format!("etcd txn on {name}: compare failed: {response}").into());
    }
    Ok(json_str(&response, "/header/revision")?.to_string())
}

// --- Phases ---

/// `objects` creates split over `writers` connections; returns creates/s and each object's version.
async fn bench_creates(
    target: &Arc<Target>,
    objects: usize,
    writers: usize,
) -> BenchResult<(f64, Vec<String>)> {
    let mut conns = Vec::with_capacity(writers);
    for _ in 0..writers {
        conns.push(target.endpoint.connect().await?);
    }
    let started = Instant::now();
    let mut tasks = JoinSet::new();
    for (writer, mut conn) in conns.into_iter().enumerate() {
        let target = target.clone();
        tasks.spawn(async move {
            let mut versions = Vec::new();
            for i in (writer..objects).step_by(writers) {
                versions.push((i, target.create(&mut conn, &object_name(i)).await?));
            }
            BenchResult::Ok(versions)
        });
    }
    let mut versions = vec![String::new(); objects];
    while let Some(done) = tasks.join_next().await {
        for (i, version) in done?? {
            if let Some(slot) = versions.get_mut(i) {
                *slot = version;
            }
        }
    }
    Ok((objects as f64 / started.elapsed().as_secs_f64(), versions))
}

async fn bench_updates(target: &Arc<Target>, versions: Vec<String>, writers: usize) -> BenchResult<f64> {
    let objects = versions.len();
    let versions = Arc::new(versions);
    let mut conns = Vec::with_capacity(writers);
    for _ in 0..writers {
        conns.push(target.endpoint.connect().await?);
    }
    let started = Instant::now();
    let mut tasks = JoinSet::new();
    for (writer, mut conn) in conns.into_iter().enumerate() {
        let (target, versions) = (target.clone(), versions.clone());
        tasks.spawn(async move {
            for (i, version) in versions.iter().enumerate().skip(writer).step_by(writers) {
                target.update(&mut conn, &object_name(i), version).await?;
            }
            BenchResult::Ok(())
        });
    }
    while let Some(done) = tasks.join_next().await {
        done??;
    }
    Ok(objects as f64 / started.elapsed().as_secs_f64())
}

/// Median and fastest of five full lists, in milliseconds, and the response size.
async fn bench_list(target: &Target, expected: usize) -> BenchResult<(f64, f64, usize)> {
    let mut conn = target.endpoint.connect().await?;
    let mut timings = Vec::new();
    let mut size = 0;
    for _ in 0..5 {
        let started = Instant::now();
        let (count, bytes) = target.list_all(&mut conn).await?;
        timings.push(started.elapsed().as_secs_f64() * 1000.0);
        if count != expected {
            return Err(format!("list returned {count} objects, expected {expected}").into());
        }
        size = bytes;
    }
    timings.sort_by(f64::total_cmp);
    Ok((
        timings.get(timings.len() / 2).copied().unwrap_or(0.0),
        timings.first().copied().unwrap_or(0.0),
        size,
    ))
}

/// p50, p99 and max of a sample, in milliseconds.
#[derive(Clone, Copy, Default)]
struct Percentiles {
    p50: f64,
    p99: f64,
    max: f64,
}

impl Percentiles {
    fn of(mut sample: Vec<f64>) -> Self {
        sample.sort_by(f64::total_cmp);
        let at = |q: f64| {
            sample
                .get(((sample.len().saturating_sub(1)) as f64 * q).round() as usize)
                .copied()
                .unwrap_or(0.0)
        };
        Percentiles {
            p50: at(0.5),
            p99: at(0.99),
            max: at(1.0),
        }
    }
}

impl std::fmt::Display for Percentiles {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "p50 {:.2} ms  p99 {:.2} ms  max {:.2} ms",
            self.p50, self.p99, self.max
        )
    }
}

struct WatchResult {
    after_ack: Percentiles,
    after_submit: Percentiles,
    deliveries: usize,
    expected: usize,
}

/// `watchers` watchers each on its own connection; `writers` writers create `writes` objects, pausing
/// `pause` between writes. Every (event, watcher) pair is one latency sample.
async fn bench_watch(
    target: &Arc<Target>,
    tag: &str,
    watchers: usize,
    writers: usize,
    writes: usize,
    pause: Duration,
) -> BenchResult<WatchResult> {
    let mut conn = target.endpoint.connect().await?;
    let revision = target.current_revision(&mut conn).await?;
    let mut watch_tasks = JoinSet::new();
    for _ in 0..watchers {
        let mut watch_conn = target.endpoint.connect().await?;
        let mut body = target.open_watch(&mut watch_conn, &revision).await?;
        let target = target.clone();
        watch_tasks.spawn(async move {
            let _keep_open = watch_conn;
            let mut received: Vec<(String, Instant)> = Vec::with_capacity(writes);
            let mut pending: Vec<u8> = Vec::new();
            while received.len() < writes {
                let frame = match tokio::time::timeout(Duration::from_secs(20), body.frame()).await {
                    Ok(Some(Ok(frame))) => frame,
                    Ok(Some(Err(e))) => return Err(format!("watch stream: {e}")),
                    Ok(None) | Err(_) => break,
                };
                let arrived = Instant::now();
                let Ok(data) = frame.into_data() else {
                    continue;
                };
                pending.extend_from_slice(&data);
                while let Some(end) = pending.iter().position(|b| *b == b'\n') {
                    let line: Vec<u8> = pending.drain(..=end).collect();
                    for name in target.created_names(&line) {
                        received.push((name, arrived));
                    }
                }
            }
            Ok(received)
        });
    }
    // Let every watch register before the first write.
    tokio::time::sleep(Duration::from_millis(500)).await;

    let mut conns = Vec::with_capacity(writers);
    for _ in 0..writers {
        conns.push(target.endpoint.connect().await?);
    }
    let mut write_tasks = JoinSet::new();
    for (writer, mut conn) in conns.into_iter().enumerate() {
        let target = target.clone();
        let tag = tag.to_string();
        write_tasks.spawn(async move {
            let mut acks = Vec::new();
            for i in (writer..writes).step_by(writers) {
                let name = format!("watch-{tag}-{i:05}");
                let submitted = Instant::now();
                target.create(&mut conn, &name).await?;
                acks.push((name, (submitted, Instant::now())));
                if !pause.is_zero() {
                    tokio::time::sleep(pause).await;
                }
            }
            BenchResult::Ok(acks)
        });
    }
    let mut acks: HashMap<String, (Instant, Instant)> = HashMap::with_capacity(writes);
    while let Some(done) = write_tasks.join_next().await {
        acks.extend(done??);
    }
    let mut after_ack = Vec::with_capacity(writes * watchers);
    let mut after_submit = Vec::with_capacity(writes * watchers);
    while let Some(done) = watch_tasks.join_next().await {
        for (name, arrived) in done?? {
            if let Some((submitted, acked)) = acks.get(&name) {
                after_ack.push(arrived.saturating_duration_since(*acked).as_secs_f64() * 1000.0);
                after_submit.push(arrived.saturating_duration_since(*submitted).as_secs_f64() * 1000.0);
            }
        }
    }
    Ok(WatchResult {
        deliveries: after_ack.len(),
        expected: writes * watchers,
        after_ack: Percentiles::of(after_ack),
        after_submit: Percentiles::of(after_submit),
    })
}

async fn bounded<T>(
    limit: Duration,
    phase: &str,
    work: impl Future<Output = BenchResult<T>>,
) -> BenchResult<T> {
    match tokio::time::timeout(limit, work).await {
        Ok(result) => result.map_err(|e| format!("{phase}: {e}").into()),
        Err(_) => Err(format!("{phase}: did not finish within {} s", limit.as_secs()).into()),
    }
}

// --- etcd process ---

async fn start_etcd(dir: &Path) -> BenchResult<(EtcdProcess, Endpoint)> {
    let etcd = EtcdProcess::spawn(dir, ETCD_CLIENT, ETCD_PEER)?;
    let endpoint = Endpoint {
        addr: ETCD_CLIENT.parse()?,
        tls: None,
        token: None,
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Ok(mut conn) = endpoint.connect().await
            && let Ok(body) = conn.call(Method::GET, "/health", None, StatusCode::OK).await
            && String::from_utf8_lossy(&body).contains("true")
        {
            return Ok((etcd, endpoint));
        }
        if Instant::now() > deadline {
            return Err("etcd did not become healthy within 20 s".into());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

// --- Report ---

struct Measurements {
    creates: BenchResult<f64>,
    updates: BenchResult<f64>,
    list: BenchResult<(f64, f64, usize)>,
    rss_mib: f64,
    rss_after_list_mib: f64,
    watch_paced: BenchResult<WatchResult>,
    watch_rate: BenchResult<WatchResult>,
    watch_loaded: BenchResult<WatchResult>,
}

fn cell<T>(result: &BenchResult<T>, show: impl Fn(&T) -> String) -> String {
    match result {
        Ok(value) => show(value),
        Err(_) => "failed".to_string(),
    }
}

fn ratio<T>(ferry: &BenchResult<T>, etcd: Option<&BenchResult<T>>, number: impl Fn(&T) -> f64) -> String {
    match (ferry, etcd) {
        (Ok(f), Some(Ok(e))) if number(e) > 0.0 => format!("{:.2}", number(f) / number(e)),
        _ => "-".to_string(),
    }
}

/// A memory row: Ferry's and etcd's resident MiB and their ratio.
fn rss_row(
    label: String,
    ferry: f64,
    etcd: Option<f64>,
    target: &str,
) -> (String, String, String, String, &str) {
    (
        label,
        format!("{ferry:.1}"),
        etcd.map_or("-".into(), |e| format!("{e:.1}")),
        etcd.filter(|e| *e > 0.0)
            .map_or("-".into(), |e| format!("{:.2}", ferry / e)),
        target,
    )
}

fn print_report(
    ferry: &Measurements,
    etcd: Option<&Measurements>,
    objects: usize,
    writers: usize,
    watchers: usize,
) {
    let rows: Vec<(String, String, String, String, &str)> = vec![
        (
            format!("durable creates/s ({writers} writers)"),
            cell(&ferry.creates, |r| format!("{r:.0}")),
            etcd.map_or("-".into(), |e| cell(&e.creates, |r| format!("{r:.0}"))),
            ratio(&ferry.creates, etcd.map(|e| &e.creates), |r| *r),
            ">= 7000",
        ),
        (
            format!("durable updates/s ({writers} writers, CAS)"),
            cell(&ferry.updates, |r| format!("{r:.0}")),
            etcd.map_or("-".into(), |e| cell(&e.updates, |r| format!("{r:.0}"))),
            ratio(&ferry.updates, etcd.map(|e| &e.updates), |r| *r),
            ">= 7000",
        ),
        (
            format!("list {objects} objects, median ms"),
            cell(&ferry.list, |l| format!("{:.1}", l.0)),
            etcd.map_or("-".into(), |e| cell(&e.list, |l| format!("{:.1}", l.0))),
            ratio(&ferry.list, etcd.map(|e| &e.list), |l| l.0),
            "< 100",
        ),
        (
            format!("list {objects} objects, response MiB"),
            cell(&ferry.list, |l| format!("{:.1}", l.2 as f64 / 1048576.0)),
            etcd.map_or("-".into(), |e| {
                cell(&e.list, |l| format!("{:.1}", l.2 as f64 / 1048576.0))
            }),
            ratio(&ferry.list, etcd.map(|e| &e.list), |l| l.2 as f64),
            "",
        ),
        rss_row(
            format!("RSS MiB, {objects} objects (Ferry: whole bench process)"),
            ferry.rss_mib,
            etcd.map(|e| e.rss_mib),
            "< 200",
        ),
        rss_row(
            format!("RSS MiB, {objects} objects, after the list phase"),
            ferry.rss_after_list_mib,
            etcd.map(|e| e.rss_after_list_mib),
            "",
        ),
    ];
    let mut rows = rows;
    for (label, pick) in [
        (
            "paced",
            (|m: &Measurements| &m.watch_paced) as fn(&Measurements) -> &BenchResult<WatchResult>,
        ),
        ("1000/s", |m: &Measurements| &m.watch_rate),
        ("burst", |m: &Measurements| &m.watch_loaded),
    ] {
        for (stat, value) in [
            (
                "ack->event p50",
                (|w: &WatchResult| w.after_ack.p50) as fn(&WatchResult) -> f64,
            ),
            ("ack->event p99", |w: &WatchResult| w.after_ack.p99),
            ("submit->event p50", |w: &WatchResult| w.after_submit.p50),
            ("submit->event p99", |w: &WatchResult| w.after_submit.p99),
        ] {
            rows.push((
                format!("watch {label}, {watchers} watchers, {stat} ms"),
                cell(pick(ferry), |w| format!("{:.2}", value(w))),
                etcd.map_or("-".into(), |e| cell(pick(e), |w| format!("{:.2}", value(w)))),
                ratio(pick(ferry), etcd.map(pick), value),
                if stat == "ack->event p99" { "< 10" } else { "" },
            ));
        }
    }
    println!();
    println!(
        "{:<58} {:>10} {:>10} {:>11} {:>8}",
        "measurement", "Ferry", "etcd", "Ferry/etcd", "target"
    );
    for (label, f, e, r, target) in rows {
        println!("{label:<58} {f:>10} {e:>10} {r:>11} {target:>8}");
    }
}

fn report_phase<T>(system: &str, phase: &str, result: &BenchResult<T>, show: impl Fn(&T) -> String) {
    match result {
        Ok(value) => println!("{system:<5} {phase:<34} {}", show(value)),
        Err(e) => println!("{system:<5} {phase:<34} FAILED: {e}"),
    }
}

async fn measure(
    name: &str,
    target: &Arc<Target>,
    objects: usize,
    writers: usize,
    watchers: usize,
    rss: impl Fn() -> f64,
) -> Measurements {
    let created = bounded(
        WRITE_PHASE_LIMIT,
        "creates",
        bench_creates(target, objects, writers),
    )
    .await;
    let (creates, versions) = match created {
        Ok((rate, versions)) => (Ok(rate), Some(versions)),
        Err(e) => (Err(e), None),
    };
    report_phase(name, "durable creates", &creates, |r| format!("{r:.0}/s"));
    let updates = match versions {
        Some(versions) => {
            bounded(
                WRITE_PHASE_LIMIT,
                "updates",
                bench_updates(target, versions, writers),
            )
            .await
        }
        None => Err("skipped: creates failed".into()),
    };
    report_phase(name, "durable CAS updates", &updates, |r| format!("{r:.0}/s"));
    // Before listing: the bench's own decoding of a 13 MiB list response inflates the process's RSS.
    let rss_mib = rss();
    println!("{name:<5} {:<34} {rss_mib:.1} MiB", "resident memory before list");
    let list = bounded(SHORT_PHASE_LIMIT, "list", bench_list(target, objects)).await;
    report_phase(name, "list all", &list, |l| {
        format!(
            "median {:.1} ms, best {:.1} ms, {:.1} MiB",
            l.0,
            l.1,
            l.2 as f64 / 1048576.0
        )
    });
    let rss_after_list_mib = rss();
    println!(
        "{name:<5} {:<34} {rss_after_list_mib:.1} MiB",
        "resident memory after list"
    );
    let watch_paced = bounded(
        SHORT_PHASE_LIMIT,
        "watch (paced)",
        bench_watch(target, "paced", watchers, 1, 200, Duration::from_millis(5)),
    )
    .await;
    report_phase(name, "watch paced, ack->event", &watch_paced, |w| {
        format!("{} ({}/{} deliveries)", w.after_ack, w.deliveries, w.expected)
    });
    report_phase(name, "watch paced, submit->event", &watch_paced, |w| {
        w.after_submit.to_string()
    });
    // The same offered load for both systems: each writer pauses so that together they submit at most
    // about 1,000 writes/s.
    let watch_rate = bounded(
        SHORT_PHASE_LIMIT,
        "watch (1000/s)",
        bench_watch(
            target,
            "rate",
            watchers,
            writers,
            1000,
            Duration::from_millis(writers as u64),
        ),
    )
    .await;
    report_phase(name, "watch 1000/s, ack->event", &watch_rate, |w| {
        format!("{} ({}/{} deliveries)", w.after_ack, w.deliveries, w.expected)
    });
    report_phase(name, "watch 1000/s, submit->event", &watch_rate, |w| {
        w.after_submit.to_string()
    });
    let watch_loaded = bounded(
        SHORT_PHASE_LIMIT,
        "watch (burst)",
        bench_watch(target, "burst", watchers, writers, 1000, Duration::ZERO),
    )
    .await;
    report_phase(name, "watch burst, ack->event", &watch_loaded, |w| {
        format!("{} ({}/{} deliveries)", w.after_ack, w.deliveries, w.expected)
    });
    report_phase(name, "watch burst, submit->event", &watch_loaded, |w| {
        w.after_submit.to_string()
    });
    Measurements {
        creates,
        updates,
        list,
        rss_mib,
        rss_after_list_mib,
        watch_paced,
        watch_rate,
        watch_loaded,
    }
}

fn client_tls(ca_pem: &str) -> BenchResult<tokio_rustls::TlsConnector> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls_pemfile::certs(&mut ca_pem.as_bytes()) {
        roots.add(cert?)?;
    }
    let config =
        rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()?
            .with_root_certificates(roots)
            .with_no_client_auth();
    Ok(tokio_rustls::TlsConnector::from(Arc::new(config)))
}

async fn run() -> BenchResult<()> {
    let objects = env_usize("FERRY_BENCH_OBJECTS", 10_000);
    let writers = env_usize("FERRY_BENCH_WRITERS", 16).max(1);
    let watchers = env_usize("FERRY_BENCH_WATCHERS", 100).max(1);
    let synchronous = match std::env::var("FERRY_BENCH_SYNC").as_deref() {
        Ok("normal") | Ok("NORMAL") => Synchronous::Normal,
        _ => Synchronous::Full,
    };
    let dir = tempfile::tempdir()?;
    println!(
        "ferry-apiserver HTTP benchmark: {objects} ConfigMaps of {} bytes, {writers} writers, {watchers} watchers, \
         {} CPUs, SQLite synchronous={synchronous:?}, HTTPS + bearer token, HTTP/1.1 keep-alive",
        serde_json::to_vec(&config_map(&object_name(0), 1, None))?.len(),
        std::thread::available_parallelism().map_or(0, |n| n.get()),
    );
    println!(
        "load average at start: {}",
        std::fs::read_to_string("/proc/loadavg")
            .unwrap_or_default()
            .trim()
    );

    let rss_before_server = vm_rss_mib("/proc/self/status");
    let store = SqliteStore::open(
        &dir.path().join("state.db"),
        SqliteOptions {
            synchronous,
            ..SqliteOptions::default()
        },
    )?;
    let config =
        ferry_apiserver::Config::new("127.0.0.1:0".parse()?, dir.path().join("ferry"), Arc::new(store));
    let running = ferry_apiserver::start(config).await?;
    let ca_pem = running.ca_pem.clone().ok_or("server started without TLS")?;
    let ferry = Arc::new(Target {
        system: System::Ferry,
        endpoint: Endpoint {
            addr: running.addr,
            tls: Some(client_tls(&ca_pem)?),
            token: Some(running.token.clone()),
        },
    });
    let mut conn = ferry.endpoint.connect().await?;
    conn.call(
        Method::POST,
        "/api/v1/namespaces",
        Some(&json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}})),
        StatusCode::CREATED,
    )
    .await?;
    drop(conn);
    println!(
        "Ferry API server in-process at {}; bench process RSS before the server started: {rss_before_server:.1} MiB",
        running.url
    );

    let etcd = if std::env::var("FERRY_BENCH_ETCD").as_deref() == Ok("0") {
        println!("etcd skipped (FERRY_BENCH_ETCD=0)");
        None
    } else if Command::new("etcd")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_err()
    {
        println!("etcd not installed: reporting Ferry only (apt-get install etcd-server etcd-client)");
        None
    } else {
        match start_etcd(dir.path()).await {
            Ok((process, endpoint)) => {
                println!("etcd at {ETCD_CLIENT} (pid {}), HTTP/JSON gateway", process.id());
                Some((
                    process,
                    Arc::new(Target {
                        system: System::Etcd,
                        endpoint,
                    }),
                ))
            }
            Err(e) => {
                println!("etcd skipped: {e}");
                None
            }
        }
    };

    let ferry_results = measure("ferry", &ferry, objects, writers, watchers, || {
        vm_rss_mib("/proc/self/status")
    })
    .await;
    let etcd_results = match &etcd {
        Some((process, target)) => {
            let status = format!("/proc/{}/status", process.id());
            Some(
                measure("etcd", target, objects, writers, watchers, move || {
                    vm_rss_mib(&status)
                })
                .await,
            )
        }
        None => None,
    };
    print_report(&ferry_results, etcd_results.as_ref(), objects, writers, watchers);
    println!(
        "load average at end: {}",
        std::fs::read_to_string("/proc/loadavg")
            .unwrap_or_default()
            .trim()
    );
    drop(etcd);
    running.shutdown().await;
    Ok(())
}

fn main() -> BenchResult<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(run())
}
