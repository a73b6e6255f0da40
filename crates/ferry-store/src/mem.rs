//! The in-memory backend: the index alone, with writes serialised by a mutex. For tests.

use std::sync::Mutex;

use futures::future::{BoxFuture, FutureExt};
use serde_json::Value;

use crate::{
    Entry, ListPage, Result, Revision, Storage,
    index::{DEFAULT_HISTORY, Index, Op, WatchStream, resolve_op},
};

/// Storage that keeps everything in memory and forgets it on drop.
pub struct MemStore {
    index: Index,
    writer: Mutex<()>,
}

impl Default for MemStore {
    fn default() -> Self {
        Self::with_history(DEFAULT_HISTORY)
    }
}

impl MemStore {
    pub fn with_history(history_limit: usize) -> Self {
        MemStore {
            index: Index::new([], 0, history_limit),
            writer: Mutex::new(()),
        }
    }

    fn write(&self, op: Op) -> Result<Entry> {
        let _writer = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        let current = self.index.get(op.key());
        let event = resolve_op(op, current.as_ref(), self.index.revision() + 1)?;
        let entry = event.entry.clone();
        self.index.publish(vec![event]);
        Ok(entry)
    }
}

impl Storage for MemStore {
    fn get(&self, key: &str) -> Option<Entry> {
        self.index.get(key)
    }

    fn list(&self, prefix: &str, after: Option<&str>, limit: Option<usize>) -> ListPage {
        self.index.list(prefix, after, limit)
    }

    fn current_revision(&self) -> Revision {
        self.index.revision()
    }

    fn create(&self, key: String, value: Value) -> BoxFuture<'_, Result<Entry>> {
        let result = self.write(Op::Create { key, value });
        async move { result }.boxed()
    }

    fn update(&self, key: String, value: Value, expected: Option<Revision>) -> BoxFuture<'_, Result<Entry>> {
        let result = self.write(Op::Update { key, value, expected });
        async move { result }.boxed()
    }

    fn delete(&self, key: String, expected: Option<Revision>) -> BoxFuture<'_, Result<Entry>> {
        let result = self.write(Op::Delete { key, expected });
        async move { result }.boxed()
    }

    fn watch(&self, prefix: &str, after: Revision) -> Result<WatchStream> {
        self.index.watch(prefix, after)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::{EventKind, StoreError};

    #[tokio::test]
    async fn revisions_are_global_and_cas_guards_updates() {
        let store = MemStore::default();
        let a = store.create("/cm/a".into(), json!({"v": 1})).await.unwrap();
        let b = store.create("/cm/b".into(), json!({"v": 1})).await.unwrap();
        assert_eq!((a.mod_revision, b.mod_revision), (1, 2));
        assert_eq!(
            store.create("/cm/a".into(), json!({})).await,
            Err(StoreError::AlreadyExists("/cm/a".into()))
        );
        let a2 = store
            .update("/cm/a".into(), json!({"v": 2}), Some(1))
            .await
            .unwrap();
        assert_eq!((a2.create_revision, a2.mod_revision), (1, 3));
        let stale = store.update("/cm/a".into(), json!({"v": 3}), Some(1)).await;
        assert_eq!(
            stale,
            Err(StoreError::Conflict {
                key: "/cm/a".into(),
                expected: 1,
                actual: 3
            })
        );
        let gone = store.delete("/cm/b".into(), None).await.unwrap();
        assert_eq!(gone.mod_revision, 4);
        assert!(store.get("/cm/b").is_none());
        assert_eq!(store.current_revision(), 4);
    }

    #[tokio::test]
    async fn list_pages_by_prefix() {
        let store = MemStore::default();
        for name in ["a", "b", "c"] {
            store.create(format!("/cm/ns/{name}"), json!({})).await.unwrap();
        }
        store.create("/cmx/ns/z".into(), json!({})).await.unwrap();
        let first = store.list("/cm/", None, Some(2));
        assert_eq!(
            first.entries.iter().map(|e| e.key.as_str()).collect::<Vec<_>>(),
            ["/cm/ns/a", "/cm/ns/b"]
        );
        assert!(first.more);
        let rest = store.list("/cm/", Some("/cm/ns/b"), Some(2));
        assert_eq!(rest.entries.len(), 1);
        assert!(!rest.more);
        assert_eq!(rest.revision, 4);
    }

    #[tokio::test]
    async fn watch_replays_then_follows_and_reports_compaction() {
        let store = MemStore::with_history(3);
        for i in 0..5 {
            store.create(format!("/cm/{i}"), json!({})).await.unwrap();
        }
        // History holds revisions 3..=5, so resuming after 1 lost event 2.
        assert!(matches!(
            store.watch("/cm/", 1),
            Err(StoreError::Compacted {
                requested: 1,
                oldest: 2
            })
        ));
        let mut watch = store.watch("/cm/", 3).unwrap();
        assert_eq!(watch.next().await.unwrap().unwrap().entry.mod_revision, 4);
        assert_eq!(watch.next().await.unwrap().unwrap().entry.mod_revision, 5);
        store.create("/other/x".into(), json!({})).await.unwrap();
        store.delete("/cm/0".into(), None).await.unwrap();
        let event = watch.next().await.unwrap().unwrap();
        assert_eq!(
            (event.kind, event.entry.key.as_str(), event.entry.mod_revision),
            (EventKind::Deleted, "/cm/0", 7)
        );
    }
}
