//! The in-memory index every backend serves reads from: current state, a bounded event history and the
//! live event fan-out.

use std::{
    collections::{BTreeMap, VecDeque},
    ops::Bound,
    sync::{Arc, Mutex, MutexGuard},
};

use serde_json::Value;
use tokio::sync::broadcast;

use crate::{Entry, Event, EventKind, ListPage, Result, Revision, StoreError};

/// A write, before it is checked and given a revision.
#[derive(Debug, Clone, PartialEq)]
pub enum Op {
    Create {
        key: String,
        value: Value,
    },
    Update {
        key: String,
        value: Value,
        expected: Option<Revision>,
    },
    Delete {
        key: String,
        expected: Option<Revision>,
    },
}

impl Op {
    pub fn key(&self) -> &str {
        match self {
            Op::Create { key, .. } | Op::Update { key, .. } | Op::Delete { key, .. } => key,
        }
    }
}

/// `entry` without its encoded bytes: the history keeps previous states for watch filters and snapshot
/// reads, which can re-encode the few they need, so the window does not hold a second copy of every value.
fn without_encoding(entry: &Entry) -> Entry {
    Entry {
        encoded: None,
        ..entry.clone()
    }
}

/// Checks `op` against the key's current entry and turns it into the event it would cause at `revision`.
/// Pure: backends call it while holding their single-writer position, then persist and publish the event.
pub fn resolve_op(op: Op, current: Option<&Entry>, revision: Revision) -> Result<Event> {
    let check_expected = |key: &str, expected: Option<Revision>, entry: &Entry| match expected {
        Some(expected) if expected != entry.mod_revision => Err(StoreError::Conflict {
            key: key.to_string(),
            expected,
            actual: entry.mod_revision,
        }),
        _ => Ok(()),
    };
    match op {
        Op::Create { key, value } => match current {
            Some(_) => Err(StoreError::AlreadyExists(key)),
            None => Ok(Event {
                kind: EventKind::Created,
                entry: Entry {
                    key,
                    value: Arc::new(value),
                    create_revision: revision,
                    mod_revision: revision,
                    encoded: None,
                },
                prev: None,
            }),
        },
        Op::Update { key, value, expected } => {
            let Some(current) = current else {
                return Err(StoreError::NotFound(key));
            };
            check_expected(&key, expected, current)?;
            Ok(Event {
                kind: EventKind::Updated,
                entry: Entry {
                    key,
                    value: Arc::new(value),
                    create_revision: current.create_revision,
                    mod_revision: revision,
                    encoded: None,
                },
                prev: Some(without_encoding(current)),
            })
        }
        Op::Delete { key, expected } => {
            let Some(current) = current else {
                return Err(StoreError::NotFound(key));
            };
            check_expected(&key, expected, current)?;
            Ok(Event {
                kind: EventKind::Deleted,
                entry: Entry {
                    key,
                    value: current.value.clone(),
                    create_revision: current.create_revision,
                    mod_revision: revision,
                    encoded: current.encoded.clone(),
                },
                prev: Some(without_encoding(current)),
            })
        }
    }
}

struct State {
    objects: BTreeMap<String, Entry>,
    revision: Revision,
    /// Events with revisions in `(compacted, revision]`, oldest first.
    history: VecDeque<Arc<Event>>,
    /// Watches must start at or after this revision.
    compacted: Revision,
}

/// Current state + bounded history + live fan-out. Cheap to share (`Arc` inside).
#[derive(Clone)]
pub struct Index {
    state: Arc<Mutex<State>>,
    live: broadcast::Sender<Arc<Event>>,
    history_limit: usize,
}

/// Default number of events kept for watch resumption (kube-apiserver keeps a similar window).
pub const DEFAULT_HISTORY: usize = 10_000;
const LIVE_BUFFER: usize = 16_384;

impl Index {
    /// An index over `objects` (e.g. loaded from disk) at `revision`; history starts empty there.
    pub fn new(objects: impl IntoIterator<Item = Entry>, revision: Revision, history_limit: usize) -> Self {
        let objects = objects.into_iter().map(|e| (e.key.clone(), e)).collect();
        let (live, _) = broadcast::channel(LIVE_BUFFER);
        Index {
            state: Arc::new(Mutex::new(State {
                objects,
                revision,
                history: VecDeque::new(),
                compacted: revision,
            })),
            live,
            history_limit: history_limit.max(1),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A poisoned lock means a panic while publishing; the map itself is still consistent.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn get(&self, key: &str) -> Option<Entry> {
        self.lock().objects.get(key).cloned()
    }

    pub fn revision(&self) -> Revision {
        self.lock().revision
    }

    pub fn list(&self, prefix: &str, after: Option<&str>, limit: Option<usize>) -> ListPage {
        let state = self.lock();
        let revision = state.revision;
        page_of(current_range(&state, prefix, after), revision, limit)
    }

    /// The keys under `prefix` (strictly after `after`, at most `limit`) as they were at `revision` (None:
    /// now). The state at an earlier revision is the current state with every later event in the history
    /// undone, so it needs `revision` to be inside the history window.
    pub fn list_at(
        &self,
        prefix: &str,
        after: Option<&str>,
        limit: Option<usize>,
        revision: Option<Revision>,
    ) -> Result<ListPage> {
        let state = self.lock();
        let at = revision.unwrap_or(state.revision);
        if at > state.revision {
            return Err(StoreError::FutureRevision {
                requested: at,
                current: state.revision,
            });
        }
        if at == state.revision {
            return Ok(page_of(current_range(&state, prefix, after), at, limit));
        }
        if at < state.compacted {
            return Err(StoreError::Compacted {
                requested: at,
                oldest: state.compacted,
            });
        }
        // Newest first, so the entry kept for a key is the one before its earliest change after `at`.
        let mut undone: BTreeMap<&str, Option<&Entry>> = BTreeMap::new();
        for event in state.history.iter().rev() {
            if event.entry.mod_revision <= at {
                break;
            }
            let key = event.entry.key.as_str();
            if key.starts_with(prefix) && after.is_none_or(|a| key > a) {
                undone.insert(key, event.prev.as_ref());
            }
        }
        let restored: Vec<&Entry> = undone.values().flatten().copied().collect();
        let current = current_range(&state, prefix, after).filter(|e| !undone.contains_key(e.key.as_str()));
        Ok(page_of(MergeByKey::new(current, restored.into_iter()), at, limit))
    }

    /// Applies already-durable events, in revision order, and notifies watchers.
    pub fn publish(&self, events: Vec<Event>) {
        let mut state = self.lock();
        for event in events {
            debug_assert!(event.entry.mod_revision > state.revision);
            state.revision = event.entry.mod_revision;
            match event.kind {
                EventKind::Deleted => {
                    state.objects.remove(&event.entry.key);
                }
                EventKind::Created | EventKind::Updated => {
                    state.objects.insert(event.entry.key.clone(), event.entry.clone());
                }
            }
            let event = Arc::new(event);
            state.history.push_back(event.clone());
            while state.history.len() > self.history_limit {
                if let Some(old) = state.history.pop_front() {
                    state.compacted = old.entry.mod_revision;
                }
            }
            // No receivers is fine: nobody is watching.
            let _ = self.live.send(event);
        }
    }

    /// Events under `prefix` after revision `after`: first from history, then live.
    pub fn watch(&self, prefix: &str, after: Revision) -> Result<WatchStream> {
        let state = self.lock();
        if after < state.compacted {
            return Err(StoreError::Compacted {
                requested: after,
                oldest: state.compacted,
            });
        }
        let replay = state
            .history
            .iter()
            .filter(|e| e.entry.mod_revision > after && e.entry.key.starts_with(prefix))
            .cloned()
            .collect();
        // Subscribing while holding the lock means no event falls between replay and live.
        let live = self.live.subscribe();
        Ok(WatchStream {
            prefix: prefix.to_string(),
            replay,
            live,
            last: after.max(state.compacted),
        })
    }
}

/// The current entries under `prefix`, in key order, strictly after `after`.
fn current_range<'s>(state: &'s State, prefix: &str, after: Option<&str>) -> impl Iterator<Item = &'s Entry> {
    let start = match after {
        Some(after) if after >= prefix => Bound::Excluded(after.to_string()),
        _ => Bound::Included(prefix.to_string()),
    };
    let prefix = prefix.to_string();
    state
        .objects
        .range::<String, _>((start, Bound::Unbounded))
        .take_while(move |(k, _)| k.starts_with(&prefix))
        .map(|(_, e)| e)
}

/// The first `limit` entries of a key-ordered iterator, and how many follow.
fn page_of<'s>(
    entries: impl Iterator<Item = &'s Entry>,
    revision: Revision,
    limit: Option<usize>,
) -> ListPage {
    let mut entries = entries.fuse();
    let page: Vec<Entry> = entries
        .by_ref()
        .take(limit.unwrap_or(usize::MAX))
        .cloned()
        .collect();
    let remaining = entries.count();
    ListPage {
        entries: page,
        revision,
        more: remaining > 0,
        remaining,
    }
}

/// Merges two key-ordered iterators with disjoint keys into one key-ordered iterator.
struct MergeByKey<'s, A: Iterator<Item = &'s Entry>, B: Iterator<Item = &'s Entry>> {
    a: std::iter::Peekable<A>,
    b: std::iter::Peekable<B>,
}

impl<'s, A: Iterator<Item = &'s Entry>, B: Iterator<Item = &'s Entry>> MergeByKey<'s, A, B> {
    fn new(a: A, b: B) -> Self {
        MergeByKey {
            a: a.peekable(),
            b: b.peekable(),
        }
    }
}

impl<'s, A: Iterator<Item = &'s Entry>, B: Iterator<Item = &'s Entry>> Iterator for MergeByKey<'s, A, B> {
    type Item = &'s Entry;

    fn next(&mut self) -> Option<&'s Entry> {
        match (self.a.peek(), self.b.peek()) {
            (Some(a), Some(b)) if b.key < a.key => self.b.next(),
            (Some(_), _) => self.a.next(),
            (None, _) => self.b.next(),
        }
    }
}

/// A stream of events for one watcher.
pub struct WatchStream {
    prefix: String,
    replay: VecDeque<Arc<Event>>,
    live: broadcast::Receiver<Arc<Event>>,
    last: Revision,
}

impl WatchStream {
    /// The next event, or an error if the watcher lagged so far behind that events were lost.
    /// `None` when the store is gone.
    pub async fn next(&mut self) -> Option<Result<Arc<Event>>> {
        if let Some(event) = self.replay.pop_front() {
            self.last = event.entry.mod_revision;
            return Some(Ok(event));
        }
        loop {
            match self.live.recv().await {
                Ok(event) => {
                    if event.entry.mod_revision <= self.last || !event.entry.key.starts_with(&self.prefix) {
                        continue;
                    }
                    self.last = event.entry.mod_revision;
                    return Some(Ok(event));
                }
                Err(broadcast::error::RecvError::Lagged(_)) => return Some(Err(StoreError::WatcherLagged)),
                Err(broadcast::error::RecvError::Closed) => return None,
            }
        }
    }

    /// The revision of the last event delivered (or the start revision).
    pub fn last_revision(&self) -> Revision {
        self.last
    }
}
