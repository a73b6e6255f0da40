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
                },
                prev: Some(current.value.clone()),
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
                },
                prev: Some(current.value.clone()),
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
        let start = match after {
            Some(after) if after >= prefix => Bound::Excluded(after.to_string()),
            _ => Bound::Included(prefix.to_string()),
        };
        let mut iter = state
            .objects
            .range::<String, _>((start, Bound::Unbounded))
            .take_while(|(k, _)| k.starts_with(prefix))
            .map(|(_, e)| e);
        let limit = limit.unwrap_or(usize::MAX);
        let entries: Vec<Entry> = iter.by_ref().take(limit).cloned().collect();
        let more = iter.next().is_some();
        ListPage {
            entries,
            revision: state.revision,
            more,
        }
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
