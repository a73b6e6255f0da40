//! Expectations: what a controller has asked the API server to do for an owner and has not yet
//! seen in its watch cache. While an owner has outstanding expectations its replica arithmetic
//! is not re-run, so a stale cache can never cause a second round of creations or deletions.

use std::collections::HashMap;
use std::sync::Mutex;

use jiff::{SignedDuration, Timestamp};
use serde_json::{Map, Value};

/// kube-controller-manager's `ExpectationsTimeout`: after this long unconfirmed expectations
/// are dropped (a lost watch event must not wedge an owner forever).
pub const EXPECTATIONS_TIMEOUT: SignedDuration = SignedDuration::from_secs(300);

/// One outstanding request.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Expected {
    /// An object with this name was created and should appear in the cache.
    Created {
        /// Object name.
        name: String,
    },
    /// The object with this uid was deleted and should vanish (or be marked terminating).
    Deleted {
        /// Object uid.
        uid: String,
    },
    /// The named object's `spec.replicas` was set and the cache should show it.
    Scaled {
        /// Object name.
        name: String,
        /// The value written.
        replicas: i32,
    },
}

#[derive(Debug, Default)]
struct Pending {
    items: Vec<Expected>,
    since: Option<Timestamp>,
}

/// Outstanding expectations per owner key (`namespace/name`).
#[derive(Debug, Default)]
pub struct Expectations {
    owners: Mutex<HashMap<String, Pending>>,
}

impl Expectations {
    /// Records requests that succeeded for `owner`.
    pub fn expect(&self, owner: &str, items: impl IntoIterator<Item = Expected>, now: Timestamp) {
        let mut owners = self.owners.lock().unwrap_or_else(|e| e.into_inner());
        let pending = owners.entry(owner.to_string()).or_default();
        let before = pending.items.len();
        pending.items.extend(items);
        if pending.items.len() > before {
            pending.since = Some(now);
        }
    }

    /// Drops the confirmed expectations of `owner` (`confirmed` says whether the cache shows an
    /// item) and reports whether none remain. Expectations older than
    /// [`EXPECTATIONS_TIMEOUT`] are dropped as well.
    pub fn satisfied(&self, owner: &str, now: Timestamp, confirmed: impl Fn(&Expected) -> bool) -> bool {
        let mut owners = self.owners.lock().unwrap_or_else(|e| e.into_inner());
        let Some(pending) = owners.get_mut(owner) else {
            return true;
        };
        let expired = pending
            .since
            .and_then(|since| since.checked_add(EXPECTATIONS_TIMEOUT).ok())
            .is_some_and(|deadline| deadline <= now);
        if expired {
            pending.items.clear();
        }
        pending.items.retain(|item| !confirmed(item));
        if pending.items.is_empty() {
            owners.remove(owner);
            true
        } else {
            false
        }
    }

    /// Forgets an owner (it was deleted).
    pub fn forget(&self, owner: &str) {
        let mut owners = self.owners.lock().unwrap_or_else(|e| e.into_inner());
        owners.remove(owner);
    }
}

/// A JSON merge patch for the `status` field that turns `current` into `desired`: fields that
/// disappear are set to null (a plain merge patch would leave them behind). `None` when nothing
/// changes.
pub fn status_merge_patch(current: &Value, desired: &Value) -> Option<Value> {
    let diff = merge_diff(current, desired)?;
    let mut patch = Map::new();
    patch.insert("status".into(), diff);
    Some(Value::Object(patch))
}

fn merge_diff(current: &Value, desired: &Value) -> Option<Value> {
    match (current, desired) {
        (Value::Object(old), Value::Object(new)) => {
            let mut out = Map::new();
            for (key, value) in new {
                match old.get(key) {
                    Some(previous) => {
                        if let Some(d) = merge_diff(previous, value) {
                            out.insert(key.clone(), d);
                        }
                    }
                    None => {
                        out.insert(key.clone(), value.clone());
                    }
                }
            }
            for key in old.keys() {
                if !new.contains_key(key) {
                    out.insert(key.clone(), Value::Null);
                }
            }
            (!out.is_empty()).then_some(Value::Object(out))
        }
        (old, new) if old == new => None,
        (_, new) => Some(new.clone()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::at;
    use serde_json::json;

    #[test]
    fn expectations_block_until_confirmed() {
        let e = Expectations::default();
        assert!(e.satisfied("ns/a", at(0), |_| false));
        e.expect(
            "ns/a",
            [
                Expected::Created { name: "a-1".into() },
                Expected::Deleted { uid: "u-2".into() },
            ],
            at(0),
        );
        // Other owners are independent.
        assert!(e.satisfied("ns/b", at(1), |_| false));
        // Only the creation is visible so far.
        assert!(!e.satisfied("ns/a", at(1), |x| matches!(x, Expected::Created { .. })));
        // The creation stays confirmed-and-dropped; now the deletion shows up too.
        assert!(e.satisfied("ns/a", at(2), |x| matches!(x, Expected::Deleted { .. })));
    }

    #[test]
    fn expectations_expire_after_timeout() {
        let e = Expectations::default();
        e.expect(
            "ns/a",
            [Expected::Scaled {
                name: "rs".into(),
                replicas: 3,
            }],
            at(0),
        );
        assert!(!e.satisfied("ns/a", at(299), |_| false));
        assert!(e.satisfied("ns/a", at(300), |_| false));
    }

    #[test]
    fn forget_clears_owner() {
        let e = Expectations::default();
        e.expect("ns/a", [Expected::Created { name: "x".into() }], at(0));
        e.forget("ns/a");
        assert!(e.satisfied("ns/a", at(0), |_| false));
    }

    #[test]
    fn status_patch_sets_removed_fields_to_null() {
        let cases = [
            (
                json!({"active": 1, "ready": 1}),
                json!({"ready": 0, "succeeded": 1}),
                Some(json!({"status": {"active": null, "ready": 0, "succeeded": 1}})),
            ),
            (json!({"replicas": 2}), json!({"replicas": 2}), None),
            (
                json!({"conditions": [{"type": "A"}], "x": {"y": 1, "z": 2}}),
                json!({"conditions": [{"type": "B"}], "x": {"y": 1}}),
                Some(json!({"status": {"conditions": [{"type": "B"}], "x": {"z": null}}})),
            ),
            (
                Value::Null,
                json!({"replicas": 1}),
                Some(json!({"status": {"replicas": 1}})),
            ),
        ];
        for (current, desired, want) in cases {
            assert_eq!(
                status_merge_patch(&current, &desired),
                want,
                "{current} -> {desired}"
            );
        }
    }
}
