//! The durable backend: a kine-like append-only revision log in SQLite.
//!
//! # Layout
//! One table, `kine`, one row per write. The row id *is* the revision. Each row records the key (`name`),
//! whether it created or deleted the key, the key's `create_revision`, the row it supersedes
//! (`prev_revision`, 0 for a key's first row) and the value as JSON bytes (empty for deletions). A unique
//! index on `(name, prev_revision)` is the compare-and-swap guard on disk: two rows can never claim to
//! follow the same predecessor, so even a bug in the in-memory check cannot fork a key's history.
//!
//! # Writes: one writer thread with group commit
//! Callers hand their op to a dedicated OS thread and await a oneshot answer, so no write ever blocks the
//! async runtime. The writer drains everything queued, checks each op with [`resolve_op`] against the
//! index plus the batch's own earlier ops, inserts the rows in one transaction, commits, and only then
//! publishes the events to the [`Index`] and answers the callers. A rejected op (conflict, not found,
//! already exists) consumes no revision. One commit (and so one sync) covers the whole batch, which is
//! what makes 16 concurrent writers cheap. A write is queued when the method is called; dropping its
//! future does not cancel it (as with etcd, the outcome is then unknown to the caller).
//!
//! # Durability
//! The database runs in WAL mode. [`Synchronous::Full`] (the default) syncs the WAL on every commit: an
//! acknowledged write survives process death *and* power loss. [`Synchronous::Normal`] (kine's default)
//! skips that sync: an acknowledged write survives `kill -9` (the bytes are in the OS page cache) but the
//! last commits may be lost on power loss or a kernel crash. Group commit makes `Full` affordable, so it
//! is the default; `Normal` is there for throwaway clusters.
//!
//! If a commit fails the store stops accepting writes (every later write gets [`StoreError::Backend`]):
//! after a failed sync the state of the file is unknown, and reopening is the only safe way on.
//!
//! # Compaction
//! The log only grows, so the writer periodically deletes, below `current revision - compaction_window`
//! (the compaction revision), the rows superseded by a later row that is itself at or below that
//! revision, and the rows that record a deletion. The latest row of a live key is never deleted, nor is
//! any row above the compaction revision, so the state at the compaction revision stays complete. SQLite
//! reuses the freed pages, so the file stays bounded by (live objects + window). The work is split into
//! chunks interleaved with write batches, so a large compaction never stalls writers for long.
//!
//! Watch history is separate: it lives in the in-memory [`Index`] ring and starts empty after a restart,
//! so a watch resuming from before the restart gets [`StoreError::Compacted`] (410 Gone) and re-lists,
//! as with a restarted kube-apiserver, whose watch cache also starts at the current revision.
//!
//! # One process at a time
//! The database is opened with `locking_mode=EXCLUSIVE`: a second process (or a second `open`) on the same
//! file fails instead of writing behind the first one's in-memory index. Inspect the file with `sqlite3`
//! while Ferry is stopped.

use std::{
    collections::HashMap,
    path::{Path, PathBuf},
    sync::mpsc,
    thread::JoinHandle,
    time::{Duration, Instant},
};

use futures::future::{BoxFuture, FutureExt};
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
use serde_json::Value;
use tokio::sync::oneshot;

use crate::{
    Entry, EventKind, ListPage, Result, Revision, Storage, StoreError,
    index::{DEFAULT_HISTORY, Index, Op, WatchStream, resolve_op},
};

/// How hard a commit syncs before the write is acknowledged. See the module docs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Synchronous {
    /// Sync the WAL on every commit: survives process death and power loss.
    #[default]
    Full,
    /// No sync on commit: survives process death (`kill -9`), not power loss or an OS crash.
    Normal,
}

impl Synchronous {
    fn pragma_value(self) -> &'static str {
        match self {
            Synchronous::Full => "FULL",
            Synchronous::Normal => "NORMAL",
        }
    }
}

/// Tuning knobs of [`SqliteStore`]. `Default` is what the API server should use.
#[derive(Debug, Clone)]
pub struct SqliteOptions {
    pub synchronous: Synchronous,
    /// Events kept in memory for watch resumption.
    pub history: usize,
    /// Compaction keeps every row among the newest `compaction_window` revisions (at least 1).
    pub compaction_window: u64,
    /// How often the writer compacts on its own.
    pub compaction_interval: Duration,
    /// Upper bound on ops committed in one transaction.
    pub max_batch: usize,
    /// How long `open` waits for another process holding the database to let go.
    pub lock_timeout: Duration,
}

impl Default for SqliteOptions {
    fn default() -> Self {
        SqliteOptions {
            synchronous: Synchronous::Full,
            history: DEFAULT_HISTORY,
            compaction_window: 10_000,
            compaction_interval: Duration::from_secs(60),
            max_batch: 4096,
            lock_timeout: Duration::from_secs(5),
        }
    }
}

/// What one compaction pass did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CompactionReport {
    /// Rows at or below this revision are compacted.
    pub compacted_through: Revision,
    pub rows_deleted: u64,
}

/// Size of the log on disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DbStats {
    pub rows: u64,
    /// Lowest revision still stored (0 when the log is empty).
    pub oldest_row: Revision,
    pub revision: Revision,
    pub compacted_through: Revision,
    pub page_count: u64,
    pub freelist_count: u64,
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS kine (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL,
    created INTEGER NOT NULL,
    deleted INTEGER NOT NULL,
    create_revision INTEGER NOT NULL,
    prev_revision INTEGER NOT NULL,
    value BLOB NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS kine_name_prev_revision ON kine (name, prev_revision);
";

const INSERT_ROW: &str = "INSERT INTO kine (id, name, created, deleted, create_revision, prev_revision, value) \
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)";

/// The row a key's next write supersedes: its newest row, live or deleted. The chain of `prev_revision`s
/// increases along a key's history, so the highest one belongs to the newest row.
const LAST_ROW_OF_KEY: &str = "SELECT id FROM kine WHERE name = ?1 ORDER BY prev_revision DESC LIMIT 1";

/// One compaction chunk: the rows that rows in `(?1, ?2]` superseded, and deletion records in `(?1, ?2]`.
/// Scanning by the *superseding* row means a row is removed as soon as its successor falls below the
/// target, wherever the row itself lies.
const COMPACT_CHUNK: &str = "DELETE FROM kine WHERE (id > ?1 AND id <= ?2 AND deleted = 1) OR id IN \
     (SELECT prev_revision FROM kine WHERE id > ?1 AND id <= ?2 AND prev_revision > 0)";

/// Revisions examined per compaction transaction.
const COMPACTION_CHUNK: u64 = 2_000;

fn backend(path: &Path, what: &str, err: impl std::fmt::Display) -> StoreError {
    StoreError::Backend(format!("{}: {what}: {err}", path.display()))
}

/// The latest row of every live key: not a deletion and not superseded by any row. Compaction removes a
/// row no later than its successor, so a superseded row always still has its successor present. The
/// unique `(name, prev_revision)` index answers the `NOT EXISTS` probe.
const LIVE_ROWS: &str = "SELECT k.id, k.name, k.create_revision, k.value FROM kine AS k \
     WHERE k.deleted = 0 AND NOT EXISTS (SELECT 1 FROM kine AS n WHERE n.name = k.name AND n.prev_revision = k.id)";

/// Turns a stored row into an entry; names the key and revision if the stored value is not JSON.
fn decode_row(revision: Revision, key: String, create_revision: Revision, value: &[u8]) -> Result<Entry> {
    let parsed: Value = serde_json::from_slice(value).map_err(|e| {
        StoreError::Backend(format!(
            "key {key} at revision {revision}: stored value is not JSON: {e}"
        ))
    })?;
    Ok(Entry {
        key,
        value: std::sync::Arc::new(parsed),
        create_revision,
        mod_revision: revision,
        encoded: Some(std::sync::Arc::from(value)),
    })
}

fn to_i64(revision: Revision) -> i64 {
    i64::try_from(revision).unwrap_or(i64::MAX)
}

fn to_revision(raw: i64) -> Revision {
    Revision::try_from(raw).unwrap_or(0)
}

enum Command {
    Write {
        op: Op,
        encoded: Vec<u8>,
        reply: oneshot::Sender<Result<Entry>>,
    },
    Compact {
        reply: oneshot::Sender<Result<CompactionReport>>,
    },
    Stats {
        reply: oneshot::Sender<Result<DbStats>>,
    },
}

/// Durable [`Storage`] in a SQLite file. See the module docs for layout, durability and compaction.
pub struct SqliteStore {
    index: Index,
    path: PathBuf,
    commands: Option<mpsc::Sender<Command>>,
    writer: Option<JoinHandle<()>>,
}

impl SqliteStore {
    /// Opens (or creates) the database at `path`, loads the latest state of every live key into memory and
    /// starts the writer thread. Blocking: call it from `spawn_blocking` or before the runtime is busy.
    /// Fails if another process has the database open.
    pub fn open(path: &Path, options: SqliteOptions) -> Result<Self> {
        let conn = Connection::open(path).map_err(|e| backend(path, "open", e))?;
        conn.busy_timeout(options.lock_timeout)
            .map_err(|e| backend(path, "set busy timeout", e))?;
        // Exclusive locking keeps a second process (a second `ferry up` on the same data dir) out: two
        // writers would each believe their in-memory index is the truth.
        conn.pragma_update(None, "locking_mode", "EXCLUSIVE")
            .map_err(|e| backend(path, "set locking mode", e))?;
        let mode: String = conn
            .query_row("PRAGMA journal_mode = WAL", [], |row| row.get(0))
            .map_err(|e| backend(path, "switch to WAL (is another process using this database?)", e))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(backend(
                path,
                "switch to WAL",
                format!("journal mode stayed {mode}"),
            ));
        }
        conn.pragma_update(None, "synchronous", options.synchronous.pragma_value())
            .map_err(|e| backend(path, "set synchronous", e))?;
        // Truncate the WAL back to this size after checkpoints so it does not stay at its high-water mark.
        conn.pragma_update(None, "journal_size_limit", 64 * 1024 * 1024)
            .map_err(|e| backend(path, "set journal size limit", e))?;
        conn.execute_batch(SCHEMA)
            .map_err(|e| backend(path, "create schema", e))?;

        let (objects, revision) = load(&conn, path)?;
        tracing::info!(path = %path.display(), objects = objects.len(), revision, "opened store");
        let index = Index::new(objects, revision, options.history);

        let (commands, receiver) = mpsc::channel();
        let writer = Writer {
            conn,
            path: path.to_path_buf(),
            index: index.clone(),
            options,
            failed: None,
            compacted_through: 0,
            compaction_target: None,
        };
        let writer = std::thread::Builder::new()
            .name("ferry-store-writer".into())
            .spawn(move || writer.run(receiver))
            .map_err(|e| backend(path, "start writer thread", e))?;
        Ok(SqliteStore {
            index,
            path: path.to_path_buf(),
            commands: Some(commands),
            writer: Some(writer),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The in-memory index (for callers that want to share it, e.g. a watch cache).
    pub fn index(&self) -> &Index {
        &self.index
    }

    /// Compacts now, up to `current revision - compaction_window`, and waits until done.
    pub async fn compact(&self) -> Result<CompactionReport> {
        let (reply, answer) = oneshot::channel();
        self.send(Command::Compact { reply })?;
        answer.await.map_err(|_| self.writer_gone())?
    }

    /// Row and page counts of the log.
    pub async fn stats(&self) -> Result<DbStats> {
        let (reply, answer) = oneshot::channel();
        self.send(Command::Stats { reply })?;
        answer.await.map_err(|_| self.writer_gone())?
    }

    fn writer_gone(&self) -> StoreError {
        backend(&self.path, "write", "the writer thread has stopped")
    }

    fn send(&self, command: Command) -> Result<()> {
        match &self.commands {
            Some(commands) => commands.send(command).map_err(|_| self.writer_gone()),
            None => Err(self.writer_gone()),
        }
    }

    fn submit(&self, op: Op, encoded: Result<Vec<u8>>) -> BoxFuture<'_, Result<Entry>> {
        let (reply, answer) = oneshot::channel();
        let sent = encoded.and_then(|encoded| self.send(Command::Write { op, encoded, reply }));
        async move {
            sent?;
            answer.await.map_err(|_| self.writer_gone())?
        }
        .boxed()
    }

    fn encode(&self, key: &str, value: &Value) -> Result<Vec<u8>> {
        serde_json::to_vec(value).map_err(|e| backend(&self.path, &format!("encode value of key {key}"), e))
    }
}

impl Drop for SqliteStore {
    fn drop(&mut self) {
        // Closing the channel lets the writer finish what is queued and exit; joining releases the database
        // lock before `drop` returns, so the same path can be reopened right away.
        drop(self.commands.take());
        if let Some(writer) = self.writer.take()
            && writer.join().is_err()
        {
            tracing::error!(path = %self.path.display(), "store writer thread panicked");
        }
    }
}

impl Storage for SqliteStore {
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
        let encoded = self.encode(&key, &value);
        self.submit(Op::Create { key, value }, encoded)
    }

    fn update(&self, key: String, value: Value, expected: Option<Revision>) -> BoxFuture<'_, Result<Entry>> {
        let encoded = self.encode(&key, &value);
        self.submit(Op::Update { key, value, expected }, encoded)
    }

    fn delete(&self, key: String, expected: Option<Revision>) -> BoxFuture<'_, Result<Entry>> {
        self.submit(Op::Delete { key, expected }, Ok(Vec::new()))
    }

    fn watch(&self, prefix: &str, after: Revision) -> Result<WatchStream> {
        self.index.watch(prefix, after)
    }
}

/// Reads the latest state of every live key and the highest revision ever handed out.
fn load(conn: &Connection, path: &Path) -> Result<(Vec<Entry>, Revision)> {
    let mut statement = conn
        .prepare(LIVE_ROWS)
        .map_err(|e| backend(path, "read log", e))?;
    let mut rows = statement.query([]).map_err(|e| backend(path, "read log", e))?;
    let mut objects = Vec::new();
    while let Some(row) = rows.next().map_err(|e| backend(path, "read log", e))? {
        let read = |row: &rusqlite::Row<'_>| -> rusqlite::Result<(i64, String, i64, Vec<u8>)> {
            Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?))
        };
        let (revision, key, create_revision, value) = read(row).map_err(|e| backend(path, "read log", e))?;
        let entry = decode_row(to_revision(revision), key, to_revision(create_revision), &value)
            .map_err(|e| backend(path, "load", e))?;
        objects.push(entry);
    }
    // AUTOINCREMENT remembers the highest id ever inserted even if compaction removed that row, so
    // revisions never go backwards across a restart.
    let highest: Option<i64> = conn
        .query_row(
            "SELECT max(coalesce((SELECT max(id) FROM kine), 0), \
                    coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'kine'), 0))",
            [],
            |row| row.get(0),
        )
        .map_err(|e| backend(path, "read revision", e))?;
    Ok((objects, highest.map_or(0, to_revision)))
}

struct Writer {
    conn: Connection,
    path: PathBuf,
    index: Index,
    options: SqliteOptions,
    /// Set when a commit failed: the file's state is unknown, so refuse further writes.
    failed: Option<String>,
    /// Rows at or below this revision have been compacted.
    compacted_through: Revision,
    /// A compaction in progress, done chunk by chunk between write batches.
    compaction_target: Option<Revision>,
}

struct PendingWrite {
    op: Op,
    encoded: Vec<u8>,
    reply: oneshot::Sender<Result<Entry>>,
}

impl Writer {
    fn run(mut self, commands: mpsc::Receiver<Command>) {
        let interval = self.options.compaction_interval.max(Duration::from_millis(10));
        // Compact soon after start: the log may have grown while the process was down or restarting often.
        self.start_compaction();
        let mut next_compaction = Instant::now() + interval;
        loop {
            let first = if self.compaction_target.is_some() {
                match commands.try_recv() {
                    Ok(command) => Some(command),
                    Err(mpsc::TryRecvError::Empty) => None,
                    Err(mpsc::TryRecvError::Disconnected) => break,
                }
            } else {
                match commands.recv_timeout(next_compaction.saturating_duration_since(Instant::now())) {
                    Ok(command) => Some(command),
                    Err(mpsc::RecvTimeoutError::Timeout) => None,
                    Err(mpsc::RecvTimeoutError::Disconnected) => break,
                }
            };
            if let Some(first) = first {
                let mut batch = Vec::new();
                let mut others = Vec::new();
                let mut next = Some(first);
                while let Some(command) = next.take() {
                    match command {
                        Command::Write { op, encoded, reply } => {
                            batch.push(PendingWrite { op, encoded, reply })
                        }
                        other => others.push(other),
                    }
                    if batch.len() < self.options.max_batch.max(1) {
                        next = commands.try_recv().ok();
                    }
                }
                if !batch.is_empty() {
                    self.write_batch(batch);
                }
                for command in others {
                    self.handle_maintenance(command);
                }
            }
            if Instant::now() >= next_compaction {
                self.start_compaction();
                next_compaction = Instant::now() + interval;
            }
            if self.compaction_target.is_some()
                && let Err(e) = self.compact_step()
            {
                tracing::warn!(path = %self.path.display(), error = %e, "compaction failed; will retry");
                self.compaction_target = None;
            }
        }
        tracing::debug!(path = %self.path.display(), "store writer stopped");
    }

    fn handle_maintenance(&mut self, command: Command) {
        match command {
            Command::Write { op, encoded, reply } => {
                self.write_batch(vec![PendingWrite { op, encoded, reply }])
            }
            Command::Compact { reply } => {
                self.start_compaction();
                let mut result = Ok(0);
                while self.compaction_target.is_some()
                    && let Ok(deleted_so_far) = result
                {
                    result = self.compact_step().map(|deleted| deleted_so_far + deleted);
                }
                if result.is_err() {
                    self.compaction_target = None;
                }
                let _ = reply.send(result.map(|rows_deleted| CompactionReport {
                    compacted_through: self.compacted_through,
                    rows_deleted,
                }));
            }
            Command::Stats { reply } => {
                let _ = reply.send(self.stats());
            }
        }
    }

    fn write_batch(&mut self, batch: Vec<PendingWrite>) {
        if let Some(reason) = &self.failed {
            let error = backend(&self.path, "write refused", reason);
            for write in batch {
                let _ = write.reply.send(Err(error.clone()));
            }
            return;
        }
        let path = self.path.clone();
        let tx = match self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
        {
            Ok(tx) => tx,
            Err(e) => {
                let error = backend(&path, "begin transaction", e);
                for write in batch {
                    let _ = write.reply.send(Err(error.clone()));
                }
                return;
            }
        };
        let mut revision = self.index.revision();
        // The state of keys this batch already wrote (None: deleted), which the index does not know yet.
        let mut batch_state: HashMap<String, Option<Entry>> = HashMap::new();
        let mut events = Vec::with_capacity(batch.len());
        let mut answers = Vec::with_capacity(batch.len());
        for PendingWrite { op, encoded, reply } in batch {
            let current = match batch_state.get(op.key()) {
                Some(state) => state.clone(),
                None => self.index.get(op.key()),
            };
            let mut event = match resolve_op(op, current.as_ref(), revision + 1) {
                Ok(event) => event,
                Err(e) => {
                    answers.push((reply, Err(e)));
                    continue;
                }
            };
            let prev_revision = match &current {
                Some(current) => Ok(current.mod_revision),
                None => tx
                    .prepare_cached(LAST_ROW_OF_KEY)
                    .and_then(|mut s| {
                        s.query_row([&event.entry.key], |row| row.get::<_, i64>(0))
                            .optional()
                    })
                    .map(|id| id.map_or(0, to_revision)),
            };
            let inserted = prev_revision.and_then(|prev_revision| {
                tx.prepare_cached(INSERT_ROW)?.execute(params![
                    to_i64(event.entry.mod_revision),
                    event.entry.key,
                    event.kind == EventKind::Created,
                    event.kind == EventKind::Deleted,
                    to_i64(event.entry.create_revision),
                    to_i64(prev_revision),
                    &encoded,
                ])
            });
            if event.kind != EventKind::Deleted {
                event.entry.encoded = Some(std::sync::Arc::from(encoded));
            }
            match inserted {
                Ok(_) => {
                    revision = event.entry.mod_revision;
                    let state = (event.kind != EventKind::Deleted).then(|| event.entry.clone());
                    batch_state.insert(event.entry.key.clone(), state);
                    answers.push((reply, Ok(event.entry.clone())));
                    events.push(event);
                }
                Err(e) => {
                    // The statement failed alone (SQLite rolls back just that statement); the batch goes on
                    // and the revision is not consumed.
                    let what = format!("write key {}", event.entry.key);
                    answers.push((reply, Err(backend(&path, &what, e))));
                }
            }
        }
        if events.is_empty() {
            drop(tx);
        } else if let Err(e) = tx.commit() {
            let reason = format!("commit failed: {e}");
            tracing::error!(path = %path.display(), error = %e, "commit failed; store refuses further writes");
            let error = backend(&path, "write", &reason);
            self.failed = Some(reason);
            for (reply, answer) in answers {
                let _ = reply.send(answer.and(Err(error.clone())));
            }
            return;
        }
        // Durable now: make it visible, then acknowledge, so a caller always reads its own write.
        self.index.publish(events);
        for (reply, answer) in answers {
            let _ = reply.send(answer);
        }
    }

    fn start_compaction(&mut self) {
        let target = self
            .index
            .revision()
            .saturating_sub(self.options.compaction_window.max(1));
        if target > self.compacted_through && self.failed.is_none() {
            self.compaction_target = Some(target);
        }
    }

    /// Compacts one chunk of revisions; returns rows deleted. Clears the target when done.
    fn compact_step(&mut self) -> Result<u64> {
        let Some(target) = self.compaction_target else {
            return Ok(0);
        };
        let path = self.path.clone();
        if self.compacted_through == 0 {
            // Skip the empty stretch below the oldest row (after a restart, or a long-compacted log).
            let oldest: Option<i64> = self
                .conn
                .query_row("SELECT min(id) FROM kine", [], |row| row.get(0))
                .map_err(|e| backend(&path, "compact", e))?;
            self.compacted_through = oldest.map_or(0, |oldest| to_revision(oldest).saturating_sub(1));
        }
        let low = self.compacted_through;
        let high = target.min(low.saturating_add(COMPACTION_CHUNK));
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|e| backend(&path, "compact", e))?;
        let deleted = tx
            .prepare_cached(COMPACT_CHUNK)
            .and_then(|mut s| s.execute(params![to_i64(low), to_i64(high)]))
            .map_err(|e| backend(&path, "compact", e))?;
        tx.commit().map_err(|e| backend(&path, "compact", e))?;
        self.compacted_through = high.max(low);
        if high >= target {
            self.compaction_target = None;
            tracing::debug!(path = %path.display(), compacted_through = target, "compaction done");
        }
        Ok(deleted as u64)
    }

    fn stats(&self) -> Result<DbStats> {
        let read = |sql: &str| -> Result<i64> {
            self.conn
                .query_row(sql, [], |row| row.get::<_, Option<i64>>(0))
                .map(|v| v.unwrap_or(0))
                .map_err(|e| backend(&self.path, "read stats", e))
        };
        Ok(DbStats {
            rows: to_revision(read("SELECT count(*) FROM kine")?),
            oldest_row: to_revision(read("SELECT min(id) FROM kine")?),
            revision: self.index.revision(),
            compacted_through: self.compacted_through,
            page_count: to_revision(read("PRAGMA page_count")?),
            freelist_count: to_revision(read("PRAGMA freelist_count")?),
        })
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    /// (revision, key, deleted, create_revision, prev_revision, value)
    type Row = (Revision, &'static str, bool, Revision, Revision, &'static str);

    fn load_rows(rows: &[Row]) -> Result<(Vec<Entry>, Revision)> {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(SCHEMA).unwrap();
        for (revision, key, deleted, create_revision, prev_revision, value) in rows {
            conn.execute(
                INSERT_ROW,
                params![
                    to_i64(*revision),
                    key,
                    *create_revision == *revision,
                    deleted,
                    to_i64(*create_revision),
                    to_i64(*prev_revision),
                    value.as_bytes()
                ],
            )
            .unwrap();
        }
        load(&conn, Path::new("test.db"))
    }

    #[test]
    fn load_keeps_the_latest_live_state_of_each_key() {
        struct Case {
            name: &'static str,
            rows: Vec<Row>,
            /// (key, create_revision, mod_revision, value), in key order.
            live: Vec<(&'static str, Revision, Revision, Value)>,
            revision: Revision,
        }
        let cases = [
            Case {
                name: "empty log",
                rows: vec![],
                live: vec![],
                revision: 0,
            },
            Case {
                name: "update keeps create revision",
                rows: vec![
                    (1, "/a", false, 1, 0, r#"{"v":1}"#),
                    (2, "/a", false, 1, 1, r#"{"v":2}"#),
                ],
                live: vec![("/a", 1, 2, json!({"v": 2}))],
                revision: 2,
            },
            Case {
                name: "a deletion at the tail removes the key but keeps its revision",
                rows: vec![
                    (1, "/a", false, 1, 0, "{}"),
                    (2, "/b", false, 2, 0, "{}"),
                    (3, "/a", true, 1, 1, ""),
                ],
                live: vec![("/b", 2, 2, json!({}))],
                revision: 3,
            },
            Case {
                name: "re-create after delete starts a new life",
                rows: vec![
                    (1, "/a", false, 1, 0, "{}"),
                    (2, "/a", true, 1, 1, ""),
                    (3, "/a", false, 3, 2, "[1]"),
                ],
                live: vec![("/a", 3, 3, json!([1]))],
                revision: 3,
            },
            Case {
                name: "compacted history: only the latest rows remain",
                rows: vec![(40, "/b", false, 12, 31, "2"), (41, "/a", false, 41, 0, "1")],
                live: vec![("/a", 41, 41, json!(1)), ("/b", 12, 40, json!(2))],
                revision: 41,
            },
        ];
        for case in cases {
            let (mut live, revision) = load_rows(&case.rows).unwrap();
            live.sort_by(|a, b| a.key.cmp(&b.key));
            let got: Vec<_> = live
                .iter()
                .map(|e| {
                    (
                        e.key.as_str(),
                        e.create_revision,
                        e.mod_revision,
                        (*e.value).clone(),
                    )
                })
                .collect();
            let expected: Vec<_> = case
                .live
                .iter()
                .map(|(k, c, m, v)| (*k, *c, *m, v.clone()))
                .collect();
            assert_eq!(got, expected, "case {}", case.name);
            assert_eq!(revision, case.revision, "case {}", case.name);
        }
    }

    #[test]
    fn load_names_the_key_with_a_corrupt_value() {
        let err = load_rows(&[(7, "/registry/configmaps/ns/x", false, 7, 0, "{not json")]).unwrap_err();
        let StoreError::Backend(message) = err else {
            panic!("unexpected error {err:?}")
        };
        assert!(
            message.contains("/registry/configmaps/ns/x") && message.contains("revision 7"),
            "{message}"
        );
    }
}
