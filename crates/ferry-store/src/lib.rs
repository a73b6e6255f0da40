//! Storage for the embedded API server: a kine-like revision log with compare-and-swap writes and watch.
//!
//! Every write gets the next value of one global, monotonic revision (the Kubernetes `resourceVersion`).
//! Backends keep the *current* state in an in-memory [`Index`] (so reads and lists never touch disk) and
//! differ only in durability:
//! - [`MemStore`]: nothing persisted; for unit tests.
//! - [`SqliteStore`]: a kine-like append-only log in SQLite with one writer thread and group commit; a
//!   write is durable before its future resolves: with [`Synchronous::Full`] (the default) it survives
//!   power loss, with [`Synchronous::Normal`] only process death (`kill -9`). Compacted with a bounded
//!   window.
//!
//! Watchers replay recent history from a bounded ring and then follow live events; asking for a
//! revision older than the ring yields [`StoreError::Compacted`] (HTTP 410 Gone upstream).

mod index;
mod mem;
mod sqlite;

use std::sync::Arc;

use futures::future::BoxFuture;
use serde_json::Value;

pub use index::{DEFAULT_HISTORY, Index, Op, WatchStream, resolve_op};
pub use mem::MemStore;
pub use sqlite::{CompactionReport, DbStats, SqliteOptions, SqliteStore, Synchronous};

/// A position in the global revision log. Revision 0 means "nothing written yet".
pub type Revision = u64;

/// One stored object at one revision.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub key: String,
    pub value: Arc<Value>,
    /// Revision of the write that created the key (kept across updates).
    pub create_revision: Revision,
    /// Revision of the latest write to the key: the object's resourceVersion.
    pub mod_revision: Revision,
    /// `value`'s JSON encoding, shared rather than copied, when the backend has it (both backends do for
    /// every write and every loaded row). Lets readers stream objects out without re-serialising them.
    pub encoded: Option<Arc<[u8]>>,
}

/// What happened to a key at one revision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    Created,
    Updated,
    Deleted,
}

/// One change, as delivered to watchers.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub kind: EventKind,
    /// The object after the change; for [`EventKind::Deleted`], its last state.
    /// `mod_revision` is the revision of this event in every case.
    pub entry: Entry,
    /// The key's entry before the change (absent for creations). Lets a filtered watch tell when an object
    /// leaves its selector, and a read at an earlier revision undo the change.
    pub prev: Option<Entry>,
}

/// A result of a paged list: a consistent snapshot at `revision`.
#[derive(Debug, Clone, PartialEq)]
pub struct ListPage {
    pub entries: Vec<Entry>,
    pub revision: Revision,
    /// More keys under the prefix follow the last entry.
    pub more: bool,
    /// How many keys under the prefix follow the last entry (in the same snapshot).
    pub remaining: usize,
}

#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum StoreError {
    #[error("key {0} already exists")]
    AlreadyExists(String),
    #[error("key {0} not found")]
    NotFound(String),
    #[error("key {key} was modified: expected revision {expected}, found {actual}")]
    Conflict {
        key: String,
        expected: Revision,
        actual: Revision,
    },
    #[error("revision {requested} has been compacted (oldest available is {oldest})")]
    Compacted { requested: Revision, oldest: Revision },
    #[error("revision {requested} is newer than the current revision {current}")]
    FutureRevision { requested: Revision, current: Revision },
    #[error("watcher fell too far behind and was dropped")]
    WatcherLagged,
    #[error("storage failure: {0}")]
    Backend(String),
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// The storage contract of the API server. Reads are synchronous (served from memory); writes resolve once
/// durable. `expected` revisions turn a write into a compare-and-swap: it fails with
/// [`StoreError::Conflict`] unless the key's current `mod_revision` equals it.
pub trait Storage: Send + Sync + 'static {
    fn get(&self, key: &str) -> Option<Entry>;

    /// Keys starting with `prefix`, in key order, strictly after `after` (for paging), at most `limit`.
    fn list(&self, prefix: &str, after: Option<&str>, limit: Option<usize>) -> ListPage;

    /// Like [`Storage::list`], but reads the state as it was at `revision` (None: now), so the pages of one
    /// paginated list all come from the same snapshot. Fails with [`StoreError::Compacted`] when the history
    /// needed to reconstruct `revision` is gone, and [`StoreError::FutureRevision`] for a revision not
    /// written yet.
    fn list_at(
        &self,
        prefix: &str,
        after: Option<&str>,
        limit: Option<usize>,
        revision: Option<Revision>,
    ) -> Result<ListPage>;

    fn current_revision(&self) -> Revision;

    fn create(&self, key: String, value: Value) -> BoxFuture<'_, Result<Entry>>;

    fn update(&self, key: String, value: Value, expected: Option<Revision>) -> BoxFuture<'_, Result<Entry>>;

    /// Removes the key; resolves to its last state (with the deletion's revision as `mod_revision`).
    fn delete(&self, key: String, expected: Option<Revision>) -> BoxFuture<'_, Result<Entry>>;

    /// Events under `prefix` with revision > `after`, then live ones.
    fn watch(&self, prefix: &str, after: Revision) -> Result<WatchStream>;
}
