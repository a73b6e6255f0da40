//! Crash safety: `kill -9` the server (SQLite store) during a stream of writes from several clients;
//! after restart every acknowledged write is present and resourceVersions keep increasing.

use std::{process::Stdio, time::Duration};

use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};

async fn start(dir: &std::path::Path, listen: &str) -> (tokio::process::Child, String) {
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_ferry-apiserver"))
        .args([
            "--data-dir",
            &dir.display().to_string(),
            "--listen",
            listen,
            "--insecure-http",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("server starts");
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = BufReader::new(stdout).lines();
    let url = tokio::time::timeout(Duration::from_secs(30), async {
        while let Ok(Some(line)) = lines.next_line().await {
            if let Some(url) = line.strip_prefix("API server: ") {
                return url.to_string();
            }
        }
        panic!("server exited before printing its URL");
    })
    .await
    .expect("server ready within 30 s");
    // Keep draining stdout: the server prints more after its URL, and a closed pipe would make
    // that print fail and take the server down.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    (child, url.trim_start_matches("http://").to_string())
}

async fn request(
    addr: &str,
    token: &str,
    method: &str,
    path: &str,
    body: Option<&Value>,
) -> Option<(u16, Value)> {
    let mut stream = tokio::net::TcpStream::connect(addr).await.ok()?;
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nAuthorization: Bearer {token}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(head.as_bytes()).await.ok()?;
    let mut raw = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut raw))
        .await
        .ok()?
        .ok()?;
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n")?;
    let code = head.split_whitespace().nth(1)?.parse().ok()?;
    Some((code, serde_json::from_str(body).ok()?))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_writes_survive_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let (mut child, addr) = start(dir.path(), "127.0.0.1:0").await;
    let token = std::fs::read_to_string(dir.path().join("pki/token"))
        .unwrap()
        .trim()
        .to_string();

    // Kill once the writers have had a fair number of writes acknowledged (not after a fixed time:
    // on a loaded machine a time window may hold too few writes to mean anything).
    let acknowledged = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut writers = Vec::new();
    for w in 0..4 {
        let (addr, token) = (addr.clone(), token.clone());
        let acknowledged = acknowledged.clone();
        writers.push(tokio::spawn(async move {
            let mut acked = Vec::new();
            for i in 0.. {
                let name = format!("w{w}-{i}");
                let body = json!({"metadata": {"name": name}, "data": {"payload": "x".repeat(512)}});
                match request(
                    &addr,
                    &token,
                    "POST",
                    "/api/v1/namespaces/default/configmaps",
                    Some(&body),
                )
                .await
                {
                    Some((201, obj)) => {
                        let rv: u64 = obj["metadata"]["resourceVersion"]
                            .as_str()
                            .and_then(|r| r.parse().ok())
                            .unwrap_or(0);
                        acked.push((name, rv));
                        acknowledged.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    }
                    _ => break,
                }
            }
            acked
        }));
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while acknowledged.load(std::sync::atomic::Ordering::Relaxed) < 60
        && tokio::time::Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    child.start_kill().expect("SIGKILL sent");
    let _ = child.wait().await;
    let mut acked = Vec::new();
    for w in writers {
        acked.extend(w.await.unwrap());
    }
    assert!(acked.len() > 20, "writers made progress ({} writes)", acked.len());
    let max_rv = acked.iter().map(|(_, rv)| *rv).max().unwrap_or(0);

    let (mut child, addr) = start(dir.path(), "127.0.0.1:0").await;
    let (code, list) = request(
        &addr,
        &token,
        "GET",
        "/api/v1/namespaces/default/configmaps",
        None,
    )
    .await
    .expect("list");
    assert_eq!(code, 200);
    let present: std::collections::BTreeSet<String> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|i| i["metadata"]["name"].as_str().map(str::to_string))
        .collect();
    let lost: Vec<&String> = acked
        .iter()
        .map(|(n, _)| n)
        .filter(|n| !present.contains(*n))
        .collect();
    assert!(
        lost.is_empty(),
        "acknowledged writes lost after kill -9: {lost:?}"
    );
    let (code, next) = request(
        &addr,
        &token,
        "POST",
        "/api/v1/namespaces/default/configmaps",
        Some(&json!({"metadata": {"name": "after"}})),
    )
    .await
    .expect("write after restart");
    assert_eq!(code, 201);
    let rv: u64 = next["metadata"]["resourceVersion"]
        .as_str()
        .and_then(|r| r.parse().ok())
        .unwrap_or(0);
    assert!(
        rv > max_rv,
        "resourceVersion {rv} after restart must exceed {max_rv}"
    );
    child.start_kill().ok();
    let _ = child.wait().await;
}
