//! Storage-layer benchmark (not a test): durable creates/updates per second of 1 KiB ConfigMaps with 16
//! concurrent writers, list of 10,000 objects, resident memory with 10,000 objects, and the same write
//! load against a local etcd (Debian's `etcd-server`, if installed) in the same run.
//!
//! Run: `cargo bench -p ferry-store --bench store_throughput`. Environment:
//! - `FERRY_BENCH_OBJECTS` (default 10000), `FERRY_BENCH_WRITERS` (default 16);
//! - `FERRY_BENCH_ROUNDS` (default 3): Ferry and etcd alternate round by round and medians are reported,
//!   so load from other processes on the machine hits both alike;
//! - `FERRY_BENCH_ETCD=0` skips etcd. Otherwise etcd is driven through its HTTP/JSON gateway (no gRPC stack
//!   in Ferry's dependency tree), which costs etcd extra CPU and so flatters Ferry;
//! - `FERRY_BENCH_ETCD_GRPC=<binary>` also drives etcd over native gRPC with `tools/etcd-grpc-bench` (a
//!   separate crate, as it needs protoc to build): the fair comparison;
//! - `FERRY_BENCH_ETCD_CHECK_PERF=l` also runs `etcdctl check perf --load=l` (about a minute).

use std::{
    path::Path,
    process::Command,
    sync::Arc,
    time::{Duration, Instant},
};

use ferry_store::{SqliteOptions, SqliteStore, Storage, Synchronous};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};

type BenchResult<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn key(i: usize) -> String {
    format!("/registry/configmaps/bench/cm-{i:05}")
}

/// A ConfigMap whose JSON encoding is 1 KiB.
fn config_map(i: usize, generation: usize) -> Value {
    let mut value = json!({
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": format!("cm-{i:05}"), "namespace": "bench", "labels": {"app": "bench", "gen": generation.to_string()}},
        "data": {"payload": ""},
    });
    let len = serde_json::to_vec(&value).map_or(0, |v| v.len());
    value["data"]["payload"] = Value::String("x".repeat(1024usize.saturating_sub(len)));
    value
}

fn rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let kib = status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .unwrap_or(0.0);
    kib / 1024.0
}

/// Runs `objects` operations split over `writers` tasks; returns operations per second.
async fn run_writers<F, Fut>(objects: usize, writers: usize, op: F) -> BenchResult<f64>
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = BenchResult<()>> + Send,
{
    let op = Arc::new(op);
    let started = Instant::now();
    let tasks: Vec<_> = (0..writers)
        .map(|writer| {
            let op = op.clone();
            tokio::spawn(async move {
                for i in (writer..objects).step_by(writers) {
                    op(i).await?;
                }
                BenchResult::Ok(())
            })
        })
        .collect();
    for task in tasks {
        task.await??;
    }
    Ok(objects as f64 / started.elapsed().as_secs_f64())
}

struct WriteRates {
    creates: f64,
    updates: f64,
}

async fn bench_ferry(
    path: &Path,
    synchronous: Synchronous,
    objects: usize,
    writers: usize,
) -> BenchResult<WriteRates> {
    let store = Arc::new(SqliteStore::open(
        path,
        SqliteOptions {
            synchronous,
            ..SqliteOptions::default()
        },
    )?);
    let creator = store.clone();
    let creates = run_writers(objects, writers, move |i| {
        let store = creator.clone();
        async move {
            store.create(key(i), config_map(i, 1)).await?;
            Ok(())
        }
    })
    .await?;
    let updater = store.clone();
    let updates = run_writers(objects, writers, move |i| {
        let store = updater.clone();
        async move {
            let expected = store.get(&key(i)).map(|e| e.mod_revision);
            store.update(key(i), config_map(i, 2), expected).await?;
            Ok(())
        }
    })
    .await?;
    Ok(WriteRates { creates, updates })
}

/// One durable write at a time: the commit latency floor.
async fn bench_single_writer(dir: &Path, synchronous: Synchronous, writes: usize) -> BenchResult<f64> {
    let path = dir.join(format!("single-{synchronous:?}.db"));
    let store = SqliteStore::open(
        &path,
        SqliteOptions {
            synchronous,
            ..SqliteOptions::default()
        },
    )?;
    let started = Instant::now();
    for i in 0..writes {
        store.create(key(i), config_map(i, 1)).await?;
    }
    Ok(writes as f64 / started.elapsed().as_secs_f64())
}

/// p50, p99 and max of a sample, in milliseconds.
struct Percentiles(f64, f64, f64);

impl Percentiles {
    fn of(mut sample: Vec<f64>) -> Self {
        sample.sort_by(f64::total_cmp);
        let at = |q: f64| {
            sample
                .get(((sample.len().saturating_sub(1)) as f64 * q) as usize)
                .copied()
                .unwrap_or(0.0)
        };
        Percentiles(at(0.5), at(0.99), at(1.0))
    }
}

impl std::fmt::Display for Percentiles {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "p50 {:.2} ms  p99 {:.2} ms  max {:.2} ms",
            self.0, self.1, self.2
        )
    }
}

/// `watchers` watchers on the ConfigMap prefix while `writers` tasks write `writes` objects (durable,
/// `synchronous=FULL`). Measures, per event and watcher, the time from the write's acknowledgement to
/// the watcher receiving it (0 when the watcher got it first: events are published just before writers
/// are answered), and from the write's submission (which includes the durable commit).
async fn bench_watch_latency(
    dir: &Path,
    watchers: usize,
    writers: usize,
    writes: usize,
) -> BenchResult<(Percentiles, Percentiles)> {
    let store = Arc::new(SqliteStore::open(
        &dir.join("watch.db"),
        SqliteOptions::default(),
    )?);
    let start = store.current_revision();
    let watcher_tasks: Vec<_> = (0..watchers)
        .map(|_| {
            let mut watch = store.watch("/registry/configmaps/", start)?;
            Ok(tokio::spawn(async move {
                let mut received = Vec::with_capacity(writes);
                while received.len() < writes {
                    match tokio::time::timeout(Duration::from_secs(30), watch.next()).await {
                        Ok(Some(Ok(event))) => received.push((event.entry.mod_revision, Instant::now())),
                        Ok(Some(Err(e))) => return Err(e.to_string()),
                        Ok(None) | Err(_) => return Err("watch ended early".to_string()),
                    }
                }
                Ok(received)
            }))
        })
        .collect::<BenchResult<_>>()?;
    let acks = Arc::new(std::sync::Mutex::new(std::collections::HashMap::with_capacity(
        writes,
    )));
    let (writer_store, writer_acks) = (store.clone(), acks.clone());
    run_writers(writes, writers, move |i| {
        let (store, acks) = (writer_store.clone(), writer_acks.clone());
        async move {
            let submitted = Instant::now();
            let entry = store.create(key(i), config_map(i, 1)).await?;
            let acked = (submitted, Instant::now());
            acks.lock()
                .map_err(|_| "ack map poisoned")?
                .insert(entry.mod_revision, acked);
            Ok(())
        }
    })
    .await?;
    let acks = acks.lock().map_err(|_| "ack map poisoned")?.clone();
    let mut after_ack = Vec::with_capacity(writes * watchers);
    let mut after_submit = Vec::with_capacity(writes * watchers);
    for task in watcher_tasks {
        for (revision, received) in task.await?? {
            let (submitted, acked) = acks.get(&revision).ok_or("event for an unknown revision")?;
            after_ack.push(received.saturating_duration_since(*acked).as_secs_f64() * 1000.0);
            after_submit.push(received.saturating_duration_since(*submitted).as_secs_f64() * 1000.0);
        }
    }
    Ok((Percentiles::of(after_ack), Percentiles::of(after_submit)))
}

// --- etcd through its JSON gateway (HTTP/1.1 keep-alive, one connection per writer) ---

#[path = "support/etcd_process.rs"]
mod etcd_process;
use etcd_process::EtcdProcess;

const ETCD_CLIENT: &str = "127.0.0.1:23790";
const ETCD_PEER: &str = "127.0.0.1:23800";

fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for (i, shift) in [18, 12, 6, 0].into_iter().enumerate() {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[((n >> shift) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

struct EtcdConnection {
    stream: BufReader<tokio::net::TcpStream>,
}

impl EtcdConnection {
    async fn connect() -> BenchResult<Self> {
        let stream = tokio::net::TcpStream::connect(ETCD_CLIENT).await?;
        stream.set_nodelay(true)?;
        Ok(EtcdConnection {
            stream: BufReader::new(stream),
        })
    }

    async fn request(&mut self, method: &str, path: &str, body: &str) -> BenchResult<(u16, String)> {
        let request = format!(
            "{method} {path} HTTP/1.1\r\nHost: {ETCD_CLIENT}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        self.stream.get_mut().write_all(request.as_bytes()).await?;
        let mut status_line = String::new();
        self.stream.read_line(&mut status_line).await?;
        let status: u16 = status_line
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .ok_or("bad status line")?;
        let (mut length, mut chunked) = (0usize, false);
        loop {
            let mut line = String::new();
            self.stream.read_line(&mut line).await?;
            let line = line.trim_end();
            if line.is_empty() {
                break;
            }
            let lower = line.to_ascii_lowercase();
            if let Some(value) = lower.strip_prefix("content-length:") {
                length = value.trim().parse()?;
            } else if lower.starts_with("transfer-encoding:") && lower.contains("chunked") {
                chunked = true;
            }
        }
        let mut body = Vec::new();
        if chunked {
            loop {
                let mut size = String::new();
                self.stream.read_line(&mut size).await?;
                let size = usize::from_str_radix(size.trim(), 16)?;
                let mut chunk = vec![0; size + 2];
                self.stream.read_exact(&mut chunk).await?;
                if size == 0 {
                    break;
                }
                body.extend_from_slice(&chunk[..size]);
            }
        } else {
            body.resize(length, 0);
            self.stream.read_exact(&mut body).await?;
        }
        Ok((status, String::from_utf8_lossy(&body).into_owned()))
    }

    async fn put(&mut self, key: &str, value: &Value) -> BenchResult<()> {
        let body =
            json!({"key": base64(key.as_bytes()), "value": base64(&serde_json::to_vec(value)?)}).to_string();
        let (status, response) = self.request("POST", "/v3/kv/put", &body).await?;
        if status != 200 {
            return Err(format!("etcd put {key}: HTTP {status}: {response}").into());
        }
        Ok(())
    }
}

async fn start_etcd(dir: &Path) -> BenchResult<EtcdProcess> {
    let etcd = EtcdProcess::spawn(dir, ETCD_CLIENT, ETCD_PEER)?;
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Ok(mut conn) = EtcdConnection::connect().await
            && let Ok((200, body)) = conn.request("GET", "/health", "").await
            && body.contains("true")
        {
            return Ok(etcd);
        }
        if Instant::now() > deadline {
            return Err("etcd did not become healthy within 20 s".into());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The same load as [`bench_ferry`] against etcd; keys carry `round` so every round starts with creates.
async fn bench_etcd(round: usize, objects: usize, writers: usize) -> BenchResult<WriteRates> {
    let mut rates = Vec::new();
    for generation in [1, 2] {
        let mut connections = Vec::new();
        for _ in 0..writers {
            connections.push(Arc::new(tokio::sync::Mutex::new(
                EtcdConnection::connect().await?,
            )));
        }
        let connections = Arc::new(connections);
        let rate = run_writers(objects, writers, move |i| {
            let connection = connections[i % writers].clone();
            async move {
                let key = format!("{}-r{round}", key(i));
                connection
                    .lock()
                    .await
                    .put(&key, &config_map(i, generation))
                    .await
            }
        })
        .await?;
        rates.push(rate);
    }
    Ok(WriteRates {
        creates: rates[0],
        updates: rates.get(1).copied().unwrap_or(0.0),
    })
}

/// The same load through native gRPC, by the `tools/etcd-grpc-bench` load generator at `program`.
async fn bench_etcd_grpc(
    program: &str,
    round: usize,
    objects: usize,
    writers: usize,
) -> BenchResult<WriteRates> {
    let output = tokio::process::Command::new(program)
        .args([
            ETCD_CLIENT,
            &objects.to_string(),
            &writers.to_string(),
            &format!("/grpc/r{round}/cm-"),
        ])
        .output()
        .await?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() {
        return Err(format!(
            "{program} failed: {stdout}{}",
            String::from_utf8_lossy(&output.stderr)
        )
        .into());
    }
    let rate = |phase: &str| -> BenchResult<f64> {
        stdout
            .lines()
            .find_map(|line| line.strip_prefix(phase))
            .and_then(|rate| rate.trim().parse().ok())
            .ok_or_else(|| format!("{program} printed no `{phase}` rate: {stdout}").into())
    };
    Ok(WriteRates {
        creates: rate("creates ")?,
        updates: rate("updates ")?,
    })
}

fn median(mut sample: Vec<f64>) -> f64 {
    sample.sort_by(f64::total_cmp);
    sample.get(sample.len() / 2).copied().unwrap_or(0.0)
}

const MEMORY_CHILD_ENV: &str = "FERRY_BENCH_MEMORY_CHILD_DB";

/// In a fresh process: open a database of `objects` ConfigMaps, list it, and report resident memory after
/// loading and after updating every object once (which fills the watch history).
fn memory_child(path: &Path, objects: usize) -> BenchResult<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let before_open = rss_mib();
    let store = Arc::new(SqliteStore::open(path, SqliteOptions::default())?);
    let opened = rss_mib();
    let mut timings = Vec::new();
    let mut listed = 0;
    for _ in 0..20 {
        let started = Instant::now();
        let page = store.list("/registry/configmaps/", None, None);
        timings.push(started.elapsed());
        listed = page.entries.len();
    }
    timings.sort();
    println!(
        "list {listed} objects from the index:    p50 {:>7.2} ms  max {:.2} ms",
        timings[timings.len() / 2].as_secs_f64() * 1000.0,
        timings.last().map_or(0.0, |t| t.as_secs_f64() * 1000.0)
    );
    let started = Instant::now();
    let page = store.list("/registry/configmaps/", None, None);
    let encoded: usize = page
        .entries
        .iter()
        .map(|e| serde_json::to_vec(&*e.value).map_or(0, |v| v.len()))
        .sum();
    println!(
        "list {listed} objects + encode to JSON:    {:>7.2} ms ({:.1} MiB of JSON)",
        started.elapsed().as_secs_f64() * 1000.0,
        encoded as f64 / (1024.0 * 1024.0)
    );
    drop(page);
    let updater = store.clone();
    runtime.block_on(run_writers(objects, 16, move |i| {
        let store = updater.clone();
        async move {
            let expected = store.get(&key(i)).map(|e| e.mod_revision);
            store.update(key(i), config_map(i, 3), expected).await?;
            Ok(())
        }
    }))?;
    let updated = rss_mib();
    println!(
        "RSS: empty process {before_open:.1} MiB; {listed} objects loaded {opened:.1} MiB; \
         after {objects} more updates (watch history full) {updated:.1} MiB"
    );
    Ok(())
}

fn main() -> BenchResult<()> {
    if let Ok(path) = std::env::var(MEMORY_CHILD_ENV) {
        return memory_child(Path::new(&path), env_usize("FERRY_BENCH_OBJECTS", 10_000));
    }
    let objects = env_usize("FERRY_BENCH_OBJECTS", 10_000);
    let writers = env_usize("FERRY_BENCH_WRITERS", 16).max(1);
    let rounds = env_usize("FERRY_BENCH_ROUNDS", 3).max(1);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let dir = tempfile::tempdir()?;
    println!(
        "ferry-store benchmark: {objects} objects of {} bytes, {writers} concurrent writers, {} CPUs",
        serde_json::to_vec(&config_map(0, 1))?.len(),
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    runtime.block_on(async {
        let single = bench_single_writer(dir.path(), Synchronous::Full, 1000).await?;
        println!("single writer, synchronous=FULL:   {single:>9.0} durable writes/s (one commit each)");

        let (after_ack, after_submit) = bench_watch_latency(dir.path(), 100, writers, 2000).await?;
        println!("watch, 100 watchers, 2000 writes: ack -> event     {after_ack}");
        println!("                                  submit -> event  {after_submit}");

        // Rounds alternate Ferry and etcd so that load from other processes on the machine hits both
        // alike; the medians and their ratio are the result.
        let etcd = if std::env::var("FERRY_BENCH_ETCD").as_deref() == Ok("0") {
            None
        } else {
            match start_etcd(dir.path()).await {
                Ok(etcd) => Some(etcd),
                Err(e) => {
                    println!("etcd skipped: {e}");
                    None
                }
            }
        };
        let grpc_program = std::env::var("FERRY_BENCH_ETCD_GRPC").ok();
        let (mut full, mut normal, mut etcd_rates, mut grpc_rates) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for round in 0..rounds {
            let path = dir.path().join(format!("ferry-Full-{round}.db"));
            let rates = bench_ferry(&path, Synchronous::Full, objects, writers).await?;
            println!(
                "round {round}: ferry-store FULL     {:>9.0} creates/s  {:>9.0} updates/s",
                rates.creates, rates.updates
            );
            full.push(rates);
            let path = dir.path().join(format!("ferry-Normal-{round}.db"));
            let rates = bench_ferry(&path, Synchronous::Normal, objects, writers).await?;
            println!(
                "round {round}: ferry-store NORMAL   {:>9.0} creates/s  {:>9.0} updates/s",
                rates.creates, rates.updates
            );
            normal.push(rates);
            if etcd.is_some() {
                let rates = bench_etcd(round, objects, writers).await?;
                println!(
                    "round {round}: etcd (JSON gateway)  {:>9.0} puts/s     {:>9.0} overwrites/s",
                    rates.creates, rates.updates
                );
                etcd_rates.push(rates);
                if let Some(program) = &grpc_program {
                    let rates = bench_etcd_grpc(program, round, objects, writers).await?;
                    println!(
                        "round {round}: etcd (native gRPC)   {:>9.0} puts/s     {:>9.0} overwrites/s",
                        rates.creates, rates.updates
                    );
                    grpc_rates.push(rates);
                }
            }
        }
        let medians = |rates: &[WriteRates]| {
            (
                median(rates.iter().map(|r| r.creates).collect()),
                median(rates.iter().map(|r| r.updates).collect()),
            )
        };
        let (full, normal) = (medians(&full), medians(&normal));
        println!(
            "median ferry-store FULL:   {:>9.0} creates/s  {:>9.0} updates/s",
            full.0, full.1
        );
        println!(
            "median ferry-store NORMAL: {:>9.0} creates/s  {:>9.0} updates/s",
            normal.0, normal.1
        );
        if !etcd_rates.is_empty() {
            let etcd = medians(&etcd_rates);
            println!(
                "median etcd 3.4:           {:>9.0} puts/s     {:>9.0} overwrites/s",
                etcd.0, etcd.1
            );
            println!(
                "ratio ferry FULL / etcd:   {:>9.2} creates    {:>9.2} updates",
                full.0 / etcd.0,
                full.1 / etcd.1
            );
            println!(
                "ratio ferry NORMAL / etcd: {:>9.2} creates    {:>9.2} updates",
                normal.0 / etcd.0,
                normal.1 / etcd.1
            );
        }
        if !grpc_rates.is_empty() {
            let etcd = medians(&grpc_rates);
            println!(
                "median etcd 3.4 gRPC:      {:>9.0} puts/s     {:>9.0} overwrites/s",
                etcd.0, etcd.1
            );
            println!(
                "ratio ferry FULL / gRPC:   {:>9.2} creates    {:>9.2} updates",
                full.0 / etcd.0,
                full.1 / etcd.1
            );
            println!(
                "ratio ferry NORMAL / gRPC: {:>9.2} creates    {:>9.2} updates",
                normal.0 / etcd.0,
                normal.1 / etcd.1
            );
        }
        if etcd.is_some()
            && let Ok(load) = std::env::var("FERRY_BENCH_ETCD_CHECK_PERF")
        {
            let output = Command::new("etcdctl")
                .args(["--endpoints", ETCD_CLIENT, "check", "perf", "--load", &load])
                .output()?;
            // Drop the progress bar (redrawn with carriage returns); keep the verdict lines.
            let stdout = String::from_utf8_lossy(&output.stdout);
            let verdict: Vec<&str> = stdout
                .split(['\r', '\n'])
                .map(str::trim)
                .filter(|line| !line.is_empty() && !line.contains(" / 60"))
                .collect();
            println!("etcdctl check perf --load={load}: {}", verdict.join("; "));
        }
        drop(etcd);
        BenchResult::Ok(())
    })?;

    // List and memory: reopen the FULL database in a fresh process, as the API server does after a
    // restart, so earlier phases' allocations do not blur the numbers.
    let output = Command::new(std::env::current_exe()?)
        .env(MEMORY_CHILD_ENV, dir.path().join("ferry-Full-0.db"))
        .env("FERRY_BENCH_OBJECTS", objects.to_string())
        .output()?;
    print!("{}", String::from_utf8_lossy(&output.stdout));
    if !output.status.success() {
        return Err(format!("memory child failed: {}", String::from_utf8_lossy(&output.stderr)).into());
    }
    Ok(())
}
