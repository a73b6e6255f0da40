//! Shared watch encodings: each stored object at one revision is presented (converted to the
//! requested version, resourceVersion stamped) and serialised to JSON once, and every watcher
//! whose filter matches reuses those bytes. Without it, N watchers cost N clones and N
//! serialisations per event, which dominated burst latency with 100 watchers.
//!
//! Only the per-watcher parts stay per watcher: the filter decision (ADDED/MODIFIED/DELETED),
//! the `{"type":…,"object":…}` envelope around the shared bytes, Table rows and bookmarks.

use std::{
    collections::{HashMap, VecDeque},
    sync::{
        Arc, Mutex, OnceLock,
        atomic::{AtomicU64, Ordering},
    },
};

use bytes::{BufMut, Bytes, BytesMut};
use ferry_store::Entry;
use serde_json::Value;

use crate::{app::App, registry::ResourceInfo};

/// How many views are kept. Watchers read events in revision order, so a view is needed only
/// until the slowest live watcher has passed it; one that falls further behind than this just
/// presents and encodes for itself again.
const DEFAULT_CAPACITY: usize = 4096;

/// Which view of a stored object: the object at `revision` as `api_version` presents it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ViewKey {
    pub storage_key: String,
    pub revision: u64,
    pub api_version: String,
    /// The object's state *before* the write at `revision` (used when it leaves a selector),
    /// stamped with `revision`.
    pub previous: bool,
}

/// One presented object and, once some watcher needed it, its JSON encoding.
#[derive(Debug, Default)]
pub struct View {
    value: OnceLock<Value>,
    json: OnceLock<Bytes>,
}

impl View {
    /// The presented object, once some watcher presented it.
    pub fn presented(&self) -> Option<&Value> {
        self.value.get()
    }
}

/// The cache of views shared by all watches of one API server.
#[derive(Debug)]
pub struct WatchEncodings {
    views: Mutex<Views>,
    capacity: usize,
    presentations: AtomicU64,
    encodings: AtomicU64,
}

#[derive(Debug, Default)]
struct Views {
    by_key: HashMap<ViewKey, Arc<View>>,
    /// Insertion order, for first-in-first-out eviction.
    order: VecDeque<ViewKey>,
}

impl Default for WatchEncodings {
    fn default() -> Self {
        Self::with_capacity(DEFAULT_CAPACITY)
    }
}

impl WatchEncodings {
    pub fn with_capacity(capacity: usize) -> Self {
        WatchEncodings {
            views: Mutex::new(Views::default()),
            capacity: capacity.max(1),
            presentations: AtomicU64::new(0),
            encodings: AtomicU64::new(0),
        }
    }

    /// The shared view for `key`, created empty if no watcher asked for it yet.
    pub fn view(&self, key: ViewKey) -> Arc<View> {
        let Ok(mut views) = self.views.lock() else {
            // A poisoned lock only means another watcher panicked mid-insert: serve this
            // watcher from a private view rather than failing it.
            return Arc::new(View::default());
        };
        if let Some(view) = views.by_key.get(&key) {
            return view.clone();
        }
        while views.order.len() >= self.capacity {
            if let Some(old) = views.order.pop_front() {
                views.by_key.remove(&old);
            }
        }
        let view = Arc::new(View::default());
        views.order.push_back(key.clone());
        views.by_key.insert(key, view.clone());
        view
    }

    /// The presented object of `view`, built by `present` the first time.
    pub fn value<'v>(&self, view: &'v View, present: impl FnOnce() -> Value) -> &'v Value {
        view.value.get_or_init(|| {
            self.presentations.fetch_add(1, Ordering::Relaxed);
            present()
        })
    }

    /// The JSON encoding of `view`'s object (which must have been presented), built the first time.
    pub fn json(&self, view: &View) -> Bytes {
        view.json
            .get_or_init(|| {
                self.encodings.fetch_add(1, Ordering::Relaxed);
                let value = view.value.get().unwrap_or(&Value::Null);
                Bytes::from(value.to_string())
            })
            .clone()
    }

    /// The JSON encoding of `view`'s object, built by `encode` the first time (for watchers that need
    /// only the bytes, not the presented object).
    pub fn json_with(&self, view: &View, encode: impl FnOnce() -> Vec<u8>) -> Bytes {
        view.json
            .get_or_init(|| {
                self.encodings.fetch_add(1, Ordering::Relaxed);
                Bytes::from(encode())
            })
            .clone()
    }

    /// How many objects were serialised so far (for tests and metrics).
    pub fn encodings(&self) -> u64 {
        self.encodings.load(Ordering::Relaxed)
    }

    /// How many objects were presented so far (for tests and metrics).
    pub fn presentations(&self) -> u64 {
        self.presentations.load(Ordering::Relaxed)
    }
}

/// One newline-terminated watch event line around already-encoded object JSON.
pub fn event_line(kind: &str, object_json: &[u8]) -> Bytes {
    const HEAD: &[u8] = b"{\"type\":";
    const MIDDLE: &[u8] = b",\"object\":";
    const TAIL: &[u8] = b"}\n";
    let kind_json = Value::from(kind).to_string();
    let mut line =
        BytesMut::with_capacity(HEAD.len() + kind_json.len() + MIDDLE.len() + object_json.len() + TAIL.len());
    line.put_slice(HEAD);
    line.put_slice(kind_json.as_bytes());
    line.put_slice(MIDDLE);
    line.put_slice(object_json);
    line.put_slice(TAIL);
    line.freeze()
}

/// Whether a stored entry's JSON bytes can go out as they are (with only the resourceVersion spliced
/// in): the stored object already carries the requested version's apiVersion and kind, and no
/// resourceVersion of its own.
fn servable_raw<'e>(info: &ResourceInfo, api_version: &str, entry: &'e Entry) -> Option<&'e [u8]> {
    let encoded = entry.encoded.as_deref()?;
    let stored = &*entry.value;
    (!info.is_events_v1_event()
        && stored.get("apiVersion").and_then(Value::as_str) == Some(api_version)
        && stored.get("kind").and_then(Value::as_str) == Some(info.kind.as_str())
        && stored.pointer("/metadata/resourceVersion").is_none())
    .then_some(encoded)
}

/// Appends `entry` as clients of `info` (at `api_version`) see it: the stored bytes with the
/// resourceVersion spliced in when they can go out as they are, else the presented object serialised.
pub fn write_presented(app: &App, info: &ResourceInfo, api_version: &str, entry: &Entry, out: &mut Vec<u8>) {
    if let Some(raw) = servable_raw(info, api_version, entry)
        && write_with_resource_version(raw, entry.mod_revision, out)
    {
        return;
    }
    let _ = serde_json::to_writer(&mut *out, &app.present(info, entry));
}

/// Appends `stored_json` (a stored object's JSON encoding, a JSON object without
/// `metadata.resourceVersion`) to `out` with `"resourceVersion":"<revision>"` inserted first into its
/// top-level `metadata` object, copying the bytes instead of re-serialising the object. Returns false
/// (and leaves `out` as it was) when the bytes have no top-level `metadata` object to insert into.
pub fn write_with_resource_version(stored_json: &[u8], revision: u64, out: &mut Vec<u8>) -> bool {
    let Some((at, empty)) = metadata_body_start(stored_json) else {
        return false;
    };
    let (head, tail) = stored_json.split_at(at);
    out.reserve(stored_json.len() + 40);
    out.extend_from_slice(head);
    out.extend_from_slice(b"\"resourceVersion\":\"");
    out.extend_from_slice(revision.to_string().as_bytes());
    out.push(b'"');
    if !empty {
        out.push(b',');
    }
    out.extend_from_slice(tail);
    true
}

fn skip_whitespace(json: &[u8], mut i: usize) -> usize {
    while json.get(i).is_some_and(|b| b.is_ascii_whitespace()) {
        i += 1;
    }
    i
}

/// The index just past a JSON string starting at `i` (which must be its opening quote).
fn skip_string(json: &[u8], i: usize) -> Option<usize> {
    let mut j = i + 1;
    loop {
        match json.get(j)? {
            b'\\' => j += 2,
            b'"' => return Some(j + 1),
            _ => j += 1,
        }
    }
}

/// The index just past the JSON value starting at `i`.
fn skip_value(json: &[u8], i: usize) -> Option<usize> {
    match json.get(i)? {
        b'"' => skip_string(json, i),
        b'{' | b'[' => {
            let mut depth = 0usize;
            let mut j = i;
            loop {
                match json.get(j)? {
                    b'"' => {
                        j = skip_string(json, j)?;
                        continue;
                    }
                    b'{' | b'[' => depth += 1,
                    b'}' | b']' => {
                        depth -= 1;
                        if depth == 0 {
                            return Some(j + 1);
                        }
                    }
                    _ => {}
                }
                j += 1;
            }
        }
        _ => {
            let mut j = i;
            while json
                .get(j)
                .is_some_and(|b| !matches!(b, b',' | b'}' | b']') && !b.is_ascii_whitespace())
            {
                j += 1;
            }
            (j > i).then_some(j)
        }
    }
}

/// Where the body of the top-level `metadata` object starts (just past its `{`), and whether the
/// object is empty. Walks only the top-level keys before `metadata` (normally `apiVersion` and
/// `kind`), so it costs a few dozen bytes per object, not the whole object.
fn metadata_body_start(json: &[u8]) -> Option<(usize, bool)> {
    let mut i = skip_whitespace(json, 0);
    if json.get(i) != Some(&b'{') {
        return None;
    }
    i += 1;
    loop {
        i = skip_whitespace(json, i);
        if json.get(i) != Some(&b'"') {
            return None;
        }
        let key_end = skip_string(json, i)?;
        let key = json.get(i + 1..key_end - 1)?;
        i = skip_whitespace(json, key_end);
        if json.get(i) != Some(&b':') {
            return None;
        }
        i = skip_whitespace(json, i + 1);
        if key == b"metadata" {
            if json.get(i) != Some(&b'{') {
                return None;
            }
            let body = i + 1;
            let empty = json.get(skip_whitespace(json, body)) == Some(&b'}');
            return Some((body, empty));
        }
        i = skip_whitespace(json, skip_value(json, i)?);
        match json.get(i)? {
            b',' => i += 1,
            _ => return None,
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn key(revision: u64, api_version: &str, previous: bool) -> ViewKey {
        ViewKey {
            storage_key: "/core/configmaps/default/a".into(),
            revision,
            api_version: api_version.into(),
            previous,
        }
    }

    #[test]
    fn many_watchers_share_one_presentation_and_encoding() {
        let cache = WatchEncodings::default();
        let mut lines = Vec::new();
        for _ in 0..100 {
            let view = cache.view(key(7, "v1", false));
            let value = cache.value(
                &view,
                || json!({"kind": "ConfigMap", "metadata": {"resourceVersion": "7"}}),
            );
            assert_eq!(value["kind"], "ConfigMap");
            lines.push(event_line("MODIFIED", &cache.json(&view)));
        }
        assert_eq!(cache.presentations(), 1);
        assert_eq!(cache.encodings(), 1);
        let parsed: Value = serde_json::from_slice(&lines[99]).unwrap();
        assert_eq!(
            parsed,
            json!({"type": "MODIFIED", "object": {"kind": "ConfigMap", "metadata": {"resourceVersion": "7"}}})
        );
        assert!(lines.iter().all(|l| l == &lines[0] && l.ends_with(b"}\n")));
    }

    #[test]
    fn views_differ_by_revision_version_and_side() {
        let cache = WatchEncodings::default();
        for (k, value) in [
            (key(7, "v1", false), json!(1)),
            (key(8, "v1", false), json!(2)),
            (key(7, "events.k8s.io/v1", false), json!(3)),
            (key(7, "v1", true), json!(4)),
        ] {
            let view = cache.view(k);
            assert_eq!(cache.value(&view, || value.clone()), &value);
            assert_eq!(cache.json(&view), Bytes::from(value.to_string()));
        }
        assert_eq!(cache.encodings(), 4);
    }

    #[test]
    fn evicts_oldest_views_beyond_capacity() {
        let cache = WatchEncodings::with_capacity(2);
        for revision in 1..=3 {
            let view = cache.view(key(revision, "v1", false));
            cache.value(&view, || json!(revision));
        }
        // Revision 1 was evicted: asking again presents it anew; revision 3 is still shared.
        let again = cache.view(key(1, "v1", false));
        cache.value(&again, || json!(1));
        let kept = cache.view(key(3, "v1", false));
        cache.value(&kept, || json!("not called"));
        assert_eq!(cache.presentations(), 4);
        assert_eq!(kept.value.get(), Some(&json!(3)));
    }

    #[test]
    fn resource_version_is_spliced_into_top_level_metadata() {
        struct Case {
            name: &'static str,
            stored: &'static str,
            expected: Option<Value>,
        }
        let cases = [
            Case {
                name: "metadata after apiVersion and kind",
                stored: r#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"a"},"data":{"k":"v"}}"#,
                expected: Some(
                    json!({"apiVersion":"v1","kind":"ConfigMap","metadata":{"resourceVersion":"42","name":"a"},"data":{"k":"v"}}),
                ),
            },
            Case {
                name: "empty metadata gets no trailing comma",
                stored: r#"{"metadata":{}}"#,
                expected: Some(json!({"metadata": {"resourceVersion": "42"}})),
            },
            Case {
                name: "nested metadata keys, escapes and whitespace before the real one are skipped",
                stored: r#"{ "spec" : {"metadata":{"x":"}"},"l":[1,{"a":"\\\"{"}]}, "n": -1.5e3, "b": true, "metadata" : { "name":"a" } }"#,
                expected: Some(
                    json!({"spec":{"metadata":{"x":"}"},"l":[1,{"a":"\\\"{"}]},"n":-1.5e3,"b":true,"metadata":{"resourceVersion":"42","name":"a"}}),
                ),
            },
            Case {
                name: "no metadata",
                stored: r#"{"kind":"X"}"#,
                expected: None,
            },
            Case {
                name: "metadata is not an object",
                stored: r#"{"metadata":null}"#,
                expected: None,
            },
            Case {
                name: "not an object",
                stored: r#"[{"metadata":{}}]"#,
                expected: None,
            },
            Case {
                name: "truncated",
                stored: r#"{"kind":"X"#,
                expected: None,
            },
        ];
        for case in cases {
            let mut out = b"prefix".to_vec();
            let written = write_with_resource_version(case.stored.as_bytes(), 42, &mut out);
            assert_eq!(written, case.expected.is_some(), "case {}", case.name);
            let (prefix, json) = out.split_at(6);
            assert_eq!(prefix, b"prefix", "case {}", case.name);
            match &case.expected {
                Some(expected) => {
                    let got: Value = serde_json::from_slice(json).unwrap_or_else(|e| {
                        panic!("case {}: {e}: {:?}", case.name, String::from_utf8_lossy(json))
                    });
                    assert_eq!(&got, expected, "case {}", case.name);
                }
                None => assert!(json.is_empty(), "case {}", case.name),
            }
        }
    }

    #[test]
    fn event_type_is_escaped_json() {
        let line = event_line("ADDED", b"{}");
        assert_eq!(&line[..], b"{\"type\":\"ADDED\",\"object\":{}}\n");
    }
}
