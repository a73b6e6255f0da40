//! Watch: newline-delimited JSON events, resumable from a resourceVersion, with bookmarks,
//! `sendInitialEvents`, 410 Gone and Table rows for `kubectl get -w`.

use std::{sync::Arc, time::Duration};

use axum::{
    body::Body,
    http::{HeaderValue, StatusCode, header},
    response::Response,
};
use bytes::Bytes;
use ferry_apimachinery::{
    selector::{FieldSelector, LabelSelector},
    table::IncludeObject,
};
use ferry_store::{EventKind, StoreError};
use serde_json::{Value, json};
use tokio::sync::mpsc;

use crate::{
    app::App,
    errors::{ApiError, ApiResult},
    registry::ResourceInfo,
    rest::{Query, selectors, to_table},
};

/// Longest a watch is held open when the client gives no `timeoutSeconds`.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(1800);
const BOOKMARK_EVERY: Duration = Duration::from_secs(10);

struct Filter {
    label: LabelSelector,
    field: FieldSelector,
}

impl Filter {
    fn matches(&self, obj: &Value) -> bool {
        self.label.matches_object(obj) && self.field.matches_object(obj)
    }
}

struct Encoder {
    info: Arc<ResourceInfo>,
    /// `Some(includeObject)` for `as=Table` watches.
    as_table: Option<IncludeObject>,
    first_table: bool,
}

impl Encoder {
    fn line(&mut self, kind: &str, object: Value) -> Bytes {
        let object = if let Some(include) = self.as_table.filter(|_| kind != "BOOKMARK" && kind != "ERROR") {
            let meta = json!({"resourceVersion": object.pointer("/metadata/resourceVersion").cloned().unwrap_or(Value::Null)});
            let t = to_table(&self.info, &[object], meta, include, self.first_table);
            self.first_table = false;
            t
        } else {
            object
        };
        let mut s = json!({"type": kind, "object": object}).to_string();
        s.push('\n');
        Bytes::from(s)
    }
}

fn bookmark(info: &ResourceInfo, rv: u64, initial_end: bool) -> Value {
    let mut meta = json!({"resourceVersion": rv.to_string()});
    if initial_end && let Some(m) = meta.as_object_mut() {
        m.insert("annotations".into(), json!({"k8s.io/initial-events-end": "true"}));
    }
    json!({"kind": info.kind, "apiVersion": info.api_version(), "metadata": meta})
}

/// Starts a watch response.
pub fn serve(
    app: Arc<App>,
    info: Arc<ResourceInfo>,
    ns: Option<String>,
    q: &Query,
    as_table: Option<IncludeObject>,
) -> ApiResult<Response> {
    let (label, field) = selectors(&info, q)?;
    let filter = Filter { label, field };
    let bookmarks = matches!(
        q.get("allowWatchBookmarks").map(String::as_str),
        Some("true" | "1")
    );
    let send_initial = q.get("sendInitialEvents").map(String::as_str);
    let timeout = q
        .get("timeoutSeconds")
        .and_then(|t| t.parse::<u64>().ok())
        .map(Duration::from_secs)
        .unwrap_or(DEFAULT_TIMEOUT)
        .min(DEFAULT_TIMEOUT);
    let rv = q.get("resourceVersion").filter(|s| !s.is_empty()).cloned();
    let parsed_rv = match rv.as_deref() {
        None | Some("0") => None,
        Some(s) => Some(
            s.parse::<u64>()
                .map_err(|_| ApiError::bad_request(format!("invalid resource version {s:?}")))?,
        ),
    };
    // No RV (or "0"), or sendInitialEvents=true: synthetic ADDED events for the current state first.
    let initial = send_initial == Some("true") || (parsed_rv.is_none() && send_initial != Some("false"));
    let prefix = info.namespace_prefix(ns.as_deref());
    let (start_rv, initial_objects) = if initial {
        let page = app.store.list(&prefix, None, None);
        let objects: Vec<Value> = page
            .entries
            .iter()
            .map(|e| app.present(&info, e))
            .filter(|o| filter.matches(o))
            .collect();
        (page.revision, objects)
    } else {
        (
            parsed_rv.unwrap_or_else(|| app.store.current_revision()),
            Vec::new(),
        )
    };
    let stream = app.store.watch(&prefix, start_rv);
    let (tx, rx) = mpsc::channel::<Bytes>(256);
    let mut enc = Encoder {
        info: info.clone(),
        as_table,
        first_table: true,
    };
    let initial_end_bookmark = send_initial == Some("true") && bookmarks;
    tokio::spawn(async move {
        let mut stream = match stream {
            Ok(s) => s,
            Err(e @ StoreError::Compacted { .. }) => {
                let status = ApiError::from(e).to_status();
                let _ = tx.send(enc.line("ERROR", status)).await;
                return;
            }
            Err(e) => {
                let _ = tx
                    .send(enc.line("ERROR", ApiError::internal(e.to_string()).to_status()))
                    .await;
                return;
            }
        };
        for obj in initial_objects {
            if tx.send(enc.line("ADDED", obj)).await.is_err() {
                return;
            }
        }
        if initial_end_bookmark
            && tx
                .send(enc.line("BOOKMARK", bookmark(&info, start_rv, true)))
                .await
                .is_err()
        {
            return;
        }
        let deadline = tokio::time::Instant::now() + timeout;
        let mut last_rv = start_rv;
        let mut ticker = tokio::time::interval(BOOKMARK_EVERY);
        ticker.tick().await;
        loop {
            tokio::select! {
                _ = tokio::time::sleep_until(deadline) => return,
                _ = ticker.tick() => {
                    if bookmarks {
                        if tx.send(enc.line("BOOKMARK", bookmark(&info, last_rv, false))).await.is_err() {
                            return;
                        }
                    } else if tx.is_closed() {
                        return;
                    }
                }
                _ = tx.closed() => return,
                next = stream.next() => {
                    let event = match next {
                        None => return,
                        Some(Err(e)) => {
                            let status = match e {
                                StoreError::WatcherLagged => ApiError::gone("watch fell behind; relist"),
                                other => ApiError::from(other),
                            };
                            let _ = tx.send(enc.line("ERROR", status.to_status())).await;
                            return;
                        }
                        Some(Ok(event)) => event,
                    };
                    last_rv = event.entry.mod_revision;
                    let mut obj = app.present(&info, &event.entry);
                    let now_matches = filter.matches(&obj);
                    let was_matching = event.prev.as_ref().map(|p| filter.matches(p));
                    let kind = match (event.kind, was_matching, now_matches) {
                        (EventKind::Created, _, true) => "ADDED",
                        (EventKind::Updated, Some(true), true) => "MODIFIED",
                        (EventKind::Updated, Some(false) | None, true) => "ADDED",
                        (EventKind::Updated, Some(true), false) => "DELETED",
                        (EventKind::Deleted, _, true) => "DELETED",
                        _ => continue,
                    };
                    if kind == "DELETED" && event.kind == EventKind::Updated {
                        // Left the selector: report its last matching state at this revision.
                        if let Some(prev) = &event.prev {
                            obj = (**prev).clone();
                            if let Some(m) = crate::app::meta_mut(&mut obj) {
                                m.insert("resourceVersion".into(), json!(event.entry.mod_revision.to_string()));
                            }
                            if let Some(m) = obj.as_object_mut() {
                                m.insert("apiVersion".into(), json!(info.api_version()));
                                m.insert("kind".into(), json!(info.kind));
                            }
                        }
                    }
                    if tx.send(enc.line(kind, obj)).await.is_err() {
                        return;
                    }
                }
            }
        }
    });
    let body = Body::from_stream(futures::stream::unfold(rx, |mut rx| async move {
        rx.recv()
            .await
            .map(|b| (Ok::<Bytes, std::convert::Infallible>(b), rx))
    }));
    let mut resp = Response::new(body);
    *resp.status_mut() = StatusCode::OK;
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    resp.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("no-cache, private"),
    );
    Ok(resp)
}
