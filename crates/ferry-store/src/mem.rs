//! The in-memory backend: the index alone, with writes serialised by a mutex. For tests.

use std::sync::{Arc, Mutex};

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
        // Encoded like the durable backend does, so readers see the same entries from both.
        let encoded = match &op {
            Op::Create { value, .. } | Op::Update { value, .. } => {
                serde_json::to_vec(value).ok().map(Arc::<[u8]>::from)
            }
            Op::Delete { .. } => None,
        };
        let _writer = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        let current = self.index.get(op.key());
        let mut event = resolve_op(op, current.as_ref(), self.index.revision() + 1)?;
        if encoded.is_some() {
            event.entry.encoded = encoded;
        }
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

    fn list_at(
        &self,
        prefix: &str,
        after: Option<&str>,
        limit: Option<usize>,
        revision: Option<Revision>,
    ) -> Result<ListPage> {
        self.index.list_at(prefix, after, limit, revision)
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

    fn keys_and_revisions(page: &ListPage) -> Vec<(&str, Revision)> {
        page.entries
            .iter()
            .map(|e| (e.key.as_str(), e.mod_revision))
            .collect()
    }

    /// Pages read at the first page's revision see neither later creations, deletions nor updates.
    #[tokio::test]
    async fn list_at_reads_a_snapshot_across_pages() {
        let store = MemStore::default();
        for name in ["a", "b", "c", "d"] {
            store
                .create(format!("/cm/{name}"), json!({"v": 0}))
                .await
                .unwrap();
        }
        let first = store.list_at("/cm/", None, Some(2), None).unwrap();
        assert_eq!(keys_and_revisions(&first), [("/cm/a", 1), ("/cm/b", 2)]);
        assert_eq!((first.revision, first.remaining, first.more), (4, 2, true));

        store.update("/cm/c".into(), json!({"v": 1}), None).await.unwrap(); // 5
        store.delete("/cm/d".into(), None).await.unwrap(); // 6
        store.create("/cm/bb".into(), json!({})).await.unwrap(); // 7
        store.create("/cm/e".into(), json!({})).await.unwrap(); // 8
        store.update("/cm/c".into(), json!({"v": 2}), None).await.unwrap(); // 9

        let rest = store.list_at("/cm/", Some("/cm/b"), None, Some(4)).unwrap();
        assert_eq!(keys_and_revisions(&rest), [("/cm/c", 3), ("/cm/d", 4)]);
        assert_eq!(*rest.entries[0].value, json!({"v": 0}));
        assert_eq!((rest.revision, rest.remaining, rest.more), (4, 0, false));

        let now = store.list_at("/cm/", Some("/cm/b"), Some(1), None).unwrap();
        assert_eq!(keys_and_revisions(&now), [("/cm/bb", 7)]);
        assert_eq!((now.revision, now.remaining), (9, 2));

        // In between: the first update of c and d's deletion happened, bb and e did not exist yet.
        let mid = store.list_at("/cm/", None, None, Some(6)).unwrap();
        assert_eq!(
            keys_and_revisions(&mid),
            [("/cm/a", 1), ("/cm/b", 2), ("/cm/c", 5)]
        );
        // Current entries carry their encoding; states restored from the history do not.
        let encoded: Vec<bool> = mid.entries.iter().map(|e| e.encoded.is_some()).collect();
        assert_eq!(encoded, [true, true, false]);
    }

    #[tokio::test]
    async fn list_at_refuses_compacted_and_future_revisions() {
        let store = MemStore::with_history(2);
        for i in 0..4 {
            store.create(format!("/cm/{i}"), json!({})).await.unwrap();
        }
        // History holds revisions 3 and 4: revision 2 can be rebuilt (undo 3 and 4), revision 1 cannot.
        assert_eq!(
            store.list_at("/cm/", None, None, Some(2)).unwrap().entries.len(),
            2
        );
        assert_eq!(
            store.list_at("/cm/", None, None, Some(1)),
            Err(StoreError::Compacted {
                requested: 1,
                oldest: 2
            })
        );
        assert_eq!(
            store.list_at("/cm/", None, None, Some(5)),
            Err(StoreError::FutureRevision {
                requested: 5,
                current: 4
            })
        );
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
