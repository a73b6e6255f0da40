//! Throughput and latency of the full HTTP API on the durable SQLite store (plain HTTP/1.1 keep-alive,
//! so TLS cost is excluded). Run: `cargo bench -p ferry-apiserver --bench api`.
//!
//! Measures: durable creates/s of 1 KiB ConfigMaps with 16 concurrent writers; list of 10,000 objects;
//! watch delivery latency p50/p99 with 100 concurrent watchers; resident memory with 10,000 objects
//! (whole process: server + bench clients).

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use serde_json::{Value, json};
use tokio::{
    io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader},
    net::TcpStream,
};

const WRITERS: usize = 16;
const JSON: &str = "application/json";
const OBJECTS: usize = 10_000;
const WATCHERS: usize = 100;
const WATCH_SAMPLES: usize = 200;

/// A keep-alive HTTP/1.1 connection.
struct Conn {
    stream: BufReader<TcpStream>,
    token: String,
}

impl Conn {
    async fn open(addr: std::net::SocketAddr, token: &str) -> Conn {
        let s = TcpStream::connect(addr).await.expect("connect");
        s.set_nodelay(true).ok();
        Conn {
            stream: BufReader::new(s),
            token: token.to_string(),
        }
    }

    async fn call(&mut self, method: &str, path: &str, content_type: &str, body: &str) -> (u16, Vec<u8>) {
        let head = format!(
            "{method} {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\r\n",
            self.token,
            body.len()
        );
        let s = self.stream.get_mut();
        s.write_all(head.as_bytes()).await.expect("write");
        s.write_all(body.as_bytes()).await.expect("write body");
        let mut code = 0;
        let mut length = 0usize;
        let mut line = String::new();
        loop {
            line.clear();
            self.stream.read_line(&mut line).await.expect("read head");
            let l = line.trim_end();
            if l.is_empty() {
                break;
            }
            if l.starts_with("HTTP/1.1") {
                code = l
                    .split_whitespace()
                    .nth(1)
                    .and_then(|c| c.parse().ok())
                    .unwrap_or(0);
            } else if let Some(v) = l.to_ascii_lowercase().strip_prefix("content-length:") {
                length = v.trim().parse().unwrap_or(0);
            }
        }
        let mut buf = vec![0; length];
        self.stream.read_exact(&mut buf).await.expect("read body");
        (code, buf)
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted.get(idx).copied().unwrap_or_default()
}

fn rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("VmRSS:")).map(str::to_string))
        .and_then(|l| l.split_whitespace().nth(1).and_then(|kb| kb.parse::<f64>().ok()))
        .map_or(0.0, |kb| kb / 1024.0)
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(run());
}

async fn run() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = ferry_store::SqliteStore::open(
        &dir.path().join("state.db"),
        ferry_store::SqliteOptions::default(),
    )
    .expect("store");
    let mut config = ferry_apiserver::Config::new(
        "127.0.0.1:0".parse().unwrap(),
        dir.path().to_path_buf(),
        Arc::new(store),
    );
    config.tls = false;
    let running = ferry_apiserver::start(config).await.expect("server");
    let (addr, token) = (running.addr, running.token.clone());
    let payload = "x".repeat(1024 - 120);
    let path = "/api/v1/namespaces/default/configmaps";

    // 1. Durable creates with 16 writers.
    let started = Instant::now();
    let mut tasks = Vec::new();
    for w in 0..WRITERS {
        let (token, payload) = (token.clone(), payload.clone());
        tasks.push(tokio::spawn(async move {
            let mut conn = Conn::open(addr, &token).await;
            for i in (w..OBJECTS).step_by(WRITERS) {
                let body = json!({"metadata": {"name": format!("cm-{i:05}")}, "data": {"payload": payload}})
                    .to_string();
                let (code, _) = conn.call("POST", path, JSON, &body).await;
                assert_eq!(code, 201);
            }
        }));
    }
    for t in tasks {
        t.await.expect("writer");
    }
    let elapsed = started.elapsed();
    println!(
        "creates: {OBJECTS} durable 1 KiB ConfigMaps, {WRITERS} writers: {:.0}/s ({elapsed:?})",
        OBJECTS as f64 / elapsed.as_secs_f64()
    );

    // 2. Updates with 16 writers.
    let started = Instant::now();
    let mut tasks = Vec::new();
    for w in 0..WRITERS {
        let token = token.clone();
        tasks.push(tokio::spawn(async move {
            let mut conn = Conn::open(addr, &token).await;
            for i in (w..OBJECTS).step_by(WRITERS) {
                let (code, _) = conn
                    .call(
                        "PATCH",
                        &format!("{path}/cm-{i:05}"),
                        "application/merge-patch+json",
                        r#"{"data":{"v":"2"}}"#,
                    )
                    .await;
                assert_eq!(code, 200);
            }
        }));
    }
    for t in tasks {
        t.await.expect("updater");
    }
    let elapsed = started.elapsed();
    println!(
        "updates: {OBJECTS} durable merge patches, {WRITERS} writers: {:.0}/s ({elapsed:?})",
        OBJECTS as f64 / elapsed.as_secs_f64()
    );

    // 3. List 10,000 objects.
    let mut conn = Conn::open(addr, &token).await;
    let mut best = Duration::MAX;
    for _ in 0..5 {
        let t = Instant::now();
        let (code, body) = conn.call("GET", path, JSON, "").await;
        let d = t.elapsed();
        assert_eq!(code, 200);
        let v: Value = serde_json::from_slice(&body).expect("list JSON");
        assert_eq!(v["items"].as_array().map(Vec::len), Some(OBJECTS));
        best = best.min(d);
    }
    println!("list: {OBJECTS} objects in {best:?} (best of 5)");
    println!(
        "rss: {:.0} MiB with {OBJECTS} objects (server and bench clients in one process)",
        rss_mib()
    );

    // 4. Watch latency, 100 watchers.
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Duration>();
    let rv = {
        let (_, body) = conn.call("GET", &format!("{path}?limit=1"), JSON, "").await;
        let v: Value = serde_json::from_slice(&body).expect("json");
        v["metadata"]["resourceVersion"]
            .as_str()
            .unwrap_or("0")
            .to_string()
    };
    let epoch = Instant::now();
    let mut watchers = Vec::new();
    for _ in 0..WATCHERS {
        let (tx, token, rv) = (tx.clone(), token.clone(), rv.clone());
        watchers.push(tokio::spawn(async move {
            let s = TcpStream::connect(addr).await.expect("connect");
            let mut r = BufReader::new(s);
            let head = format!(
                "GET {path}?watch=true&resourceVersion={rv}&labelSelector=bench%3Dwatch&timeoutSeconds=120 HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n\r\n"
            );
            r.get_mut().write_all(head.as_bytes()).await.expect("watch request");
            let mut line = String::new();
            loop {
                line.clear();
                if r.read_line(&mut line).await.unwrap_or(0) == 0 {
                    return;
                }
                // Event lines carry the send time (µs since epoch) in an annotation.
                if let Some(pos) = line.find("\"sent\":\"") {
                    let rest = &line[pos + 8..];
                    if let Some(end) = rest.find('"')
                        && let Ok(us) = rest[..end].parse::<u64>()
                    {
                        let now = epoch.elapsed();
                        let _ = tx.send(now.saturating_sub(Duration::from_micros(us)));
                    }
                }
            }
        }));
    }
    drop(tx);
    tokio::time::sleep(Duration::from_millis(500)).await;
    for i in 0..WATCH_SAMPLES {
        let sent = epoch.elapsed().as_micros().to_string();
        let body = json!({"metadata": {"name": format!("watched-{i}"), "labels": {"bench": "watch"}, "annotations": {"sent": sent}}}).to_string();
        let (code, _) = conn.call("POST", path, JSON, &body).await;
        assert_eq!(code, 201);
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let mut latencies = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    while latencies.len() < WATCHERS * WATCH_SAMPLES && Instant::now() < deadline {
        match tokio::time::timeout(Duration::from_secs(2), rx.recv()).await {
            Ok(Some(d)) => latencies.push(d),
            _ => break,
        }
    }
    latencies.sort();
    println!(
        "watch: {WATCHERS} watchers, {} deliveries: p50 {:?}, p99 {:?}",
        latencies.len(),
        percentile(&latencies, 0.50),
        percentile(&latencies, 0.99)
    );
    for w in watchers {
        w.abort();
    }
    running.shutdown().await;
}
