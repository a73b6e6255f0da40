//! A raw HTTP/1.1 client for tests that need exact control over a request (content types, headers,
//! bodies the typed clients never send, no credentials) and see the response as the wire carries it.

use std::{net::SocketAddr, time::Duration};

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// One connection per request (`Connection: close`), against a plain-HTTP test server.
pub struct RawHttp {
    pub addr: SocketAddr,
    pub token: String,
}

/// A response: status code, header block and (de-chunked) body.
pub struct Reply {
    pub code: u16,
    pub head: String,
    pub body: String,
}

impl Reply {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }

    /// The newline-delimited JSON events of a watch response.
    pub fn events(&self) -> Vec<Value> {
        self.body
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
            .collect()
    }

    /// Every value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Vec<String> {
        let prefix = format!("{}:", name.to_ascii_lowercase());
        self.head
            .lines()
            .filter(|l| l.to_ascii_lowercase().starts_with(&prefix))
            .map(|l| l[prefix.len()..].trim().to_string())
            .collect()
    }
}

impl RawHttp {
    pub fn of(server: &super::Server) -> RawHttp {
        RawHttp {
            addr: server.running.addr,
            token: server.running.token.clone(),
        }
    }

    /// A request with one content type, with or without the bearer token.
    pub async fn send(&self, method: &str, path: &str, content_type: &str, body: &[u8], auth: bool) -> Reply {
        self.request(method, path, &[("Content-Type", content_type)], body, auth)
            .await
    }

    /// A request with exactly these extra headers and the bearer token.
    pub async fn send_with(&self, method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Reply {
        self.request(method, path, headers, body, true).await
    }

    /// A JSON request with the bearer token.
    pub async fn send_json(&self, method: &str, path: &str, body: &[u8]) -> Reply {
        self.send(method, path, "application/json", body, true).await
    }

    pub async fn get(&self, path: &str) -> Reply {
        self.send("GET", path, "application/json", b"", true).await
    }

    pub async fn post(&self, path: &str, body: &Value) -> Reply {
        self.send(
            "POST",
            path,
            "application/json",
            body.to_string().as_bytes(),
            true,
        )
        .await
    }

    async fn request(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
        auth: bool,
    ) -> Reply {
        let mut stream = tokio::net::TcpStream::connect(self.addr).await.expect("connect");
        let mut head = format!(
            "{method} {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nContent-Length: {}\r\n",
            body.len()
        );
        if auth {
            head.push_str(&format!("Authorization: Bearer {}\r\n", self.token));
        }
        for (name, value) in headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        head.push_str("\r\n");
        stream.write_all(head.as_bytes()).await.expect("write head");
        // A server may answer (413) before reading a large body; ignore write errors after that.
        let _ = stream.write_all(body).await;
        let mut raw = Vec::new();
        // A reset after the response (same 413 case) still leaves the response in `raw`.
        let _ = tokio::time::timeout(Duration::from_secs(20), stream.read_to_end(&mut raw))
            .await
            .expect("response within 20 s");
        let text = String::from_utf8_lossy(&raw).into_owned();
        let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
        let code = head
            .split_whitespace()
            .nth(1)
            .and_then(|c| c.parse().ok())
            .unwrap_or(0);
        let body = if head.to_ascii_lowercase().contains("transfer-encoding: chunked") {
            dechunk(body)
        } else {
            body.to_string()
        };
        Reply {
            code,
            head: head.to_string(),
            body,
        }
    }
}

/// The payload of a chunked body (chunk sizes in hex, up to the terminating empty chunk).
fn dechunk(raw: &str) -> String {
    let mut out = String::new();
    let mut rest = raw;
    while let Some((size_line, tail)) = rest.split_once("\r\n") {
        let Ok(size) = usize::from_str_radix(size_line.trim(), 16) else {
            break;
        };
        if size == 0 || tail.len() < size {
            break;
        }
        out.push_str(&tail[..size]);
        rest = tail[size..].trim_start_matches("\r\n");
    }
    out
}
