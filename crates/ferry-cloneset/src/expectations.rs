//! Scale and resource-version expectations (reference §2 steps 2 and 7), as plain data the reconciler
//! keeps per CloneSet between rounds, so a round never acts on a cache that misses its own writes.

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::jiff::{SignedDuration, Timestamp};

/// Upstream default of `--expectation-timeout`.
pub const DEFAULT_TIMEOUT_SECONDS: i64 = 300;

/// What the controller wrote and has not yet seen in its cache.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Expectations {
    /// Pods and PVCs created, by name.
    creations: BTreeSet<String>,
    /// Pods and PVCs deleted, by name.
    deletions: BTreeSet<String>,
    /// Objects updated: UID → resourceVersion written.
    versions: BTreeMap<String, u64>,
    /// When the oldest unsatisfied expectation was recorded.
    since: Option<Timestamp>,
}

/// Whether a round may proceed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Readiness {
    /// Everything written has been observed.
    Ready,
    /// Still waiting; requeue after this many seconds.
    Wait(i64),
    /// Waited longer than the timeout: proceed anyway (upstream logs and continues).
    TimedOut,
}

impl Expectations {
    fn touch(&mut self, now: Timestamp) {
        if self.since.is_none() {
            self.since = Some(now);
        }
    }

    fn settle(&mut self) {
        if self.creations.is_empty() && self.deletions.is_empty() && self.versions.is_empty() {
            self.since = None;
        }
    }

    /// A create was sent for `name`.
    pub fn expect_creation(&mut self, name: &str, now: Timestamp) {
        self.creations.insert(name.to_string());
        self.touch(now);
    }

    /// A delete was sent for `name`.
    pub fn expect_deletion(&mut self, name: &str, now: Timestamp) {
        self.deletions.insert(name.to_string());
        self.touch(now);
    }

    /// An update of the object `uid` returned `resource_version`.
    pub fn expect_version(&mut self, uid: &str, resource_version: &str, now: Timestamp) {
        if let Ok(version) = resource_version.parse::<u64>() {
            let entry = self.versions.entry(uid.to_string()).or_insert(version);
            *entry = (*entry).max(version);
            self.touch(now);
        }
    }

    /// A write failed: nothing to wait for.
    pub fn forget(&mut self, name: &str) {
        self.creations.remove(name);
        self.deletions.remove(name);
        self.settle();
    }

    /// The cache shows `name` exists (a pod or PVC add event, or a list).
    pub fn observe_present(&mut self, name: &str) {
        self.creations.remove(name);
        self.settle();
    }

    /// The cache shows `name` is gone (or is being deleted).
    pub fn observe_absent(&mut self, name: &str) {
        self.deletions.remove(name);
        self.settle();
    }

    /// The cache shows object `uid` at `resource_version`.
    pub fn observe_version(&mut self, uid: &str, resource_version: &str) {
        let Ok(seen) = resource_version.parse::<u64>() else {
            return;
        };
        if self.versions.get(uid).is_some_and(|wanted| seen >= *wanted) {
            self.versions.remove(uid);
        }
        self.settle();
    }

    /// Drops version expectations of objects no longer in the cache (deleted after the write): there
    /// is nothing left to observe, and waiting for them would stall every round until the timeout.
    pub fn retain_versions(&mut self, present_uids: &BTreeSet<String>) {
        self.versions.retain(|uid, _| present_uids.contains(uid));
        self.settle();
    }

    /// Names whose deletion was sent and not yet observed (the reconciler checks them against a listing).
    pub fn pending_deletions(&self) -> impl Iterator<Item = &str> {
        self.deletions.iter().map(String::as_str)
    }

    /// Names whose creation was sent and not yet observed.
    pub fn pending_creations(&self) -> impl Iterator<Item = &str> {
        self.creations.iter().map(String::as_str)
    }

    /// Whether the next round may run.
    pub fn readiness(&self, now: Timestamp, timeout_seconds: i64) -> Readiness {
        let Some(since) = self.since else {
            return Readiness::Ready;
        };
        let deadline = since + SignedDuration::from_secs(timeout_seconds);
        if now >= deadline {
            Readiness::TimedOut
        } else {
            Readiness::Wait(deadline.duration_since(now).as_secs().max(1))
        }
    }
}

/// Slow-start batch sizes for `count` creations: 1, 2, 4, … (the last batch takes the rest).
/// The reconciler stops at the first batch with a failure.
pub fn slow_start_batches(count: usize) -> Vec<usize> {
    let mut batches = Vec::new();
    let mut remaining = count;
    let mut size = 1;
    while remaining > 0 {
        let batch = size.min(remaining);
        batches.push(batch);
        remaining -= batch;
        size *= 2;
    }
    batches
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(seconds: i64) -> Timestamp {
        Timestamp::from_second(1_800_000_000 + seconds).unwrap_or(Timestamp::UNIX_EPOCH)
    }

    #[test]
    fn batches() {
        let cases: [(usize, Vec<usize>); 5] = [
            (0, vec![]),
            (1, vec![1]),
            (3, vec![1, 2]),
            (10, vec![1, 2, 4, 3]),
            (1000, vec![1, 2, 4, 8, 16, 32, 64, 128, 256, 489]),
        ];
        for (count, expected) in cases {
            assert_eq!(slow_start_batches(count), expected);
            assert_eq!(slow_start_batches(count).iter().sum::<usize>(), count);
        }
    }

    #[test]
    fn creations_block_until_observed() {
        let mut expectations = Expectations::default();
        assert_eq!(
            expectations.readiness(at(0), DEFAULT_TIMEOUT_SECONDS),
            Readiness::Ready
        );
        expectations.expect_creation("cs-a", at(0));
        expectations.expect_creation("cs-b", at(0));
        assert_eq!(
            expectations.readiness(at(10), DEFAULT_TIMEOUT_SECONDS),
            Readiness::Wait(290)
        );
        expectations.observe_present("cs-a");
        assert_eq!(
            expectations.readiness(at(10), DEFAULT_TIMEOUT_SECONDS),
            Readiness::Wait(290)
        );
        expectations.observe_present("cs-b");
        assert_eq!(
            expectations.readiness(at(10), DEFAULT_TIMEOUT_SECONDS),
            Readiness::Ready
        );
    }

    #[test]
    fn deletions_versions_failures_and_timeout() {
        let mut expectations = Expectations::default();
        expectations.expect_deletion("cs-a", at(0));
        expectations.expect_version("uid-b", "42", at(0));
        expectations.observe_absent("cs-a");
        expectations.observe_version("uid-b", "41");
        assert_eq!(expectations.readiness(at(1), 300), Readiness::Wait(299));
        assert_eq!(expectations.readiness(at(300), 300), Readiness::TimedOut);
        expectations.observe_version("uid-b", "43");
        assert_eq!(expectations.readiness(at(1), 300), Readiness::Ready);
        expectations.expect_version("uid-d", "50", at(2));
        expectations.retain_versions(&BTreeSet::from(["uid-d".to_string()]));
        assert_eq!(expectations.readiness(at(3), 300), Readiness::Wait(299));
        expectations.retain_versions(&BTreeSet::new());
        assert_eq!(expectations.readiness(at(3), 300), Readiness::Ready);
        expectations.expect_creation("cs-c", at(5));
        expectations.forget("cs-c");
        assert_eq!(expectations.readiness(at(6), 300), Readiness::Ready);
    }
}
