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
use serde_json::Value;

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
    fn event_type_is_escaped_json() {
        let line = event_line("ADDED", b"{}");
        assert_eq!(&line[..], b"{\"type\":\"ADDED\",\"object\":{}}\n");
    }
}
