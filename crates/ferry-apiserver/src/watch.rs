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
    watch_cache::{ViewKey, event_line, write_presented},
};

/// Longest a watch is held open when the client gives no `timeoutSeconds`.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(1800);
const BOOKMARK_EVERY: Duration = Duration::from_secs(10);
/// Most ready event lines joined into one body chunk.
const MAX_LINES_PER_CHUNK: usize = 256;

struct Filter {
    label: LabelSelector,
    field: FieldSelector,
}

impl Filter {
    fn matches(&self, obj: &Value) -> bool {
        self.label.matches_object(obj) && self.field.matches_object(obj)
    }

    fn matches_everything(&self) -> bool {
        self.label.is_empty() && self.field.is_empty()
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
    let api_version = info.api_version();
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
                    // Presented and encoded once per (object, revision, version), shared by all
                    // watchers; only the filter decision and the envelope are per watcher.
                    let cache = &app.watch_encodings;
                    let view_key = |previous| ViewKey {
                        storage_key: event.entry.key.clone(),
                        revision: event.entry.mod_revision,
                        api_version: api_version.clone(),
                        previous,
                    };
                    let now_view = cache.view(view_key(false));
                    // An unfiltered JSON watch needs only the bytes, which come straight from the
                    // stored encoding: no presented object at all.
                    if filter.matches_everything() && enc.as_table.is_none() {
                        let kind = match event.kind {
                            EventKind::Created => "ADDED",
                            EventKind::Updated => "MODIFIED",
                            EventKind::Deleted => "DELETED",
                        };
                        let json = cache.json_with(&now_view, || {
                            let mut out = Vec::with_capacity(event.entry.encoded.as_ref().map_or(1024, |e| e.len() + 64));
                            write_presented(&app, &info, &api_version, &event.entry, &mut out);
                            out
                        });
                        if tx.send(event_line(kind, &json)).await.is_err() {
                            return;
                        }
                        continue;
                    }
                    let now_matches = filter.matches(cache.value(&now_view, || app.present(&info, &event.entry)));
                    // An unfiltered watch never needs the previous state (nothing leaves it).
                    let prev_view = event.prev.as_ref().filter(|_| !filter.matches_everything()).map(|p| {
                        let view = cache.view(view_key(true));
                        cache.value(&view, || app.present_value(&info, &p.value, event.entry.mod_revision));
                        view
                    });
                    let was_matching = match &prev_view {
                        Some(v) => Some(v.presented().is_some_and(|p| filter.matches(p))),
                        None => event.prev.as_ref().map(|_| true),
                    };
                    let kind = match (event.kind, was_matching, now_matches) {
                        (EventKind::Created, _, true) => "ADDED",
                        (EventKind::Updated, Some(true), true) => "MODIFIED",
                        (EventKind::Updated, Some(false) | None, true) => "ADDED",
                        (EventKind::Updated, Some(true), false) => "DELETED",
                        (EventKind::Deleted, _, true) => "DELETED",
                        _ => continue,
                    };
                    // Left the selector: report its last matching state (stamped with this revision).
                    let view = match prev_view {
                        Some(prev) if kind == "DELETED" && event.kind == EventKind::Updated => prev,
                        _ => now_view,
                    };
                    let line = if enc.as_table.is_some() {
                        enc.line(kind, view.presented().cloned().unwrap_or(Value::Null))
                    } else {
                        event_line(kind, &cache.json(&view))
                    };
                    if tx.send(line).await.is_err() {
                        return;
                    }
                }
            }
        }
    });
    // Whatever lines are ready go out as one chunk: in a write burst a watcher then costs one TLS record
    // and one write per batch instead of per event.
    let body = Body::from_stream(futures::stream::unfold(rx, |mut rx| async move {
        let mut lines = Vec::with_capacity(16);
        if rx.recv_many(&mut lines, MAX_LINES_PER_CHUNK).await == 0 {
            return None;
        }
        let chunk = if lines.len() == 1 {
            lines.pop().unwrap_or_default()
        } else {
            let mut joined = bytes::BytesMut::with_capacity(lines.iter().map(Bytes::len).sum());
            for line in &lines {
                joined.extend_from_slice(line);
            }
            joined.freeze()
        };
        Some((Ok::<Bytes, std::convert::Infallible>(chunk), rx))
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

#[cfg(test)]
mod tests {
    use http_body_util::BodyExt;

    use super::*;

    async fn next_line(body: &mut Body) -> Value {
        let frame = tokio::time::timeout(Duration::from_secs(5), body.frame())
            .await
            .expect("watch event within 5 s")
            .expect("stream open")
            .expect("frame");
        let data = frame.into_data().expect("data frame");
        serde_json::from_slice(&data).expect("one JSON event per frame")
    }

    /// Twenty watchers (half filtered by a label) cost one presentation and one encoding per
    /// view of an event, and each still gets its own event type: an object leaving the selector
    /// is DELETED (with its last matching state) for the filtered half, MODIFIED for the rest.
    #[tokio::test]
    async fn watchers_share_encodings_and_keep_their_own_event_types() {
        let app = Arc::new(App::new(Arc::new(ferry_store::MemStore::default()), None));
        let info = app
            .registry
            .get("", "v1", "configmaps")
            .expect("configmaps served");
        app.store
            .create(
                "/core/namespaces/default".into(),
                json!({"metadata": {"name": "default"}}),
            )
            .await
            .unwrap();
        let rv = app.store.current_revision().to_string();
        let mut bodies = Vec::new();
        for i in 0..20 {
            let mut q = Query::new();
            q.insert("resourceVersion".into(), rv.clone());
            if i % 2 == 0 {
                q.insert("labelSelector".into(), "app=a".into());
            }
            let resp = serve(app.clone(), info.clone(), Some("default".into()), &q, None).unwrap();
            bodies.push((i % 2 == 0, resp.into_body()));
        }
        let key = info.key(Some("default"), "cm");
        let created = app
            .store
            .create(
                key.clone(),
                json!({"metadata": {"name": "cm", "namespace": "default", "labels": {"app": "a"}}}),
            )
            .await
            .unwrap();
        for (_, body) in &mut bodies {
            let ev = next_line(body).await;
            assert_eq!(ev["type"], "ADDED");
            assert_eq!(ev["object"]["apiVersion"], "v1");
            assert_eq!(
                ev["object"]["metadata"]["resourceVersion"],
                created.mod_revision.to_string()
            );
        }
        assert_eq!(app.watch_encodings.encodings(), 1);
        assert_eq!(app.watch_encodings.presentations(), 1);

        let updated = app
            .store
            .update(
                key,
                json!({"metadata": {"name": "cm", "namespace": "default", "labels": {"app": "b"}}}),
                Some(created.mod_revision),
            )
            .await
            .unwrap();
        for (filtered, body) in &mut bodies {
            let ev = next_line(body).await;
            let (kind, label) = if *filtered {
                ("DELETED", "a")
            } else {
                ("MODIFIED", "b")
            };
            assert_eq!(ev["type"], kind);
            assert_eq!(ev["object"]["metadata"]["labels"]["app"], label);
            assert_eq!(
                ev["object"]["metadata"]["resourceVersion"],
                updated.mod_revision.to_string()
            );
        }
        // The new state and (for the filtered half only) the previous state, each once.
        assert_eq!(app.watch_encodings.encodings(), 3);
        assert_eq!(app.watch_encodings.presentations(), 3);
    }
}
