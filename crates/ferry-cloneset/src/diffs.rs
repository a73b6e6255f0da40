//! `calculateDiffsWithExpectation`: how many pods to create, delete and update this round.
//!
//! Written from the reference §2.3: replicas R, partition P, maxSurge S (0 while paused),
//! maxUnavailable U (rounded up iff S == 0), scale maxUnavailable SU (unlimited by default).

use ferry_types::kruise::CloneSet;
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::jiff::Timestamp;

use crate::intstr;
use crate::labels::{SCALING_EXCLUDE_PREPARING_DELETE_LABEL, state};
use crate::podutil;

/// The resolved numeric knobs of a CloneSet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Knobs {
    /// spec.replicas.
    pub replicas: i32,
    /// Partition after §2.5 rounding.
    pub partition: i32,
    /// maxSurge after rounding (0 while paused).
    pub max_surge: i32,
    /// maxUnavailable after rounding.
    pub max_unavailable: i32,
    /// scaleStrategy.maxUnavailable after rounding (i32::MAX = unlimited).
    pub scale_max_unavailable: i32,
}

impl Knobs {
    /// Resolves the knobs of `cloneset`. An invalid partition counts as 0, as upstream logs and continues.
    pub fn of(cloneset: &CloneSet) -> Self {
        let spec = &cloneset.spec;
        let replicas = spec.replicas.unwrap_or(1);
        let strategy = &spec.update_strategy;
        let partition = intstr::partition_replicas(strategy.partition.as_ref(), replicas).unwrap_or(0);
        let max_surge = intstr::max_surge(strategy.max_surge.as_ref(), replicas, strategy.paused);
        let max_unavailable = intstr::max_unavailable(strategy.max_unavailable.as_ref(), replicas, max_surge);
        let scale_max_unavailable =
            intstr::scale_max_unavailable(spec.scale_strategy.max_unavailable.as_ref(), replicas);
        Self {
            replicas,
            partition,
            max_surge,
            max_unavailable,
            scale_max_unavailable,
        }
    }
}

/// Per-revision pod counts the arithmetic needs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PodCounts {
    /// All pods passed in (active pods of the CloneSet).
    pub total: i32,
    /// Pods at the update revision.
    pub new: i32,
    /// Pods at the update revision that are not PreparingDelete.
    pub new_active: i32,
    /// Pods at other revisions.
    pub old: i32,
    /// Pods at other revisions that are not PreparingDelete.
    pub old_active: i32,
    /// Unavailable active new pods that are not specified-delete.
    pub new_unavailable: i32,
    /// Unavailable active old pods that are not specified-delete.
    pub old_unavailable: i32,
    /// Specified-delete active new pods.
    pub new_to_delete: i32,
    /// Specified-delete active old pods.
    pub old_to_delete: i32,
    /// New pods in PreparingDelete.
    pub new_preparing_delete: i32,
    /// Old pods in PreparingDelete.
    pub old_preparing_delete: i32,
}

impl PodCounts {
    /// Classifies `pods` against `update_revision`.
    pub fn of(cloneset: &CloneSet, pods: &[Pod], update_revision: &str, now: Timestamp) -> Self {
        let min_ready = cloneset.spec.min_ready_seconds;
        let mut counts = PodCounts {
            total: len_i32(pods.len()),
            ..Default::default()
        };
        for pod in pods {
            let is_new = podutil::is_at_revision(pod, update_revision);
            let preparing_delete = podutil::lifecycle_state(pod) == state::PREPARING_DELETE;
            let specified = podutil::is_specified_delete(cloneset, pod);
            let unavailable = !podutil::is_available(pod, min_ready, now);
            let (all, active, to_delete, unavailable_count, pre_deleting) = if is_new {
                (
                    &mut counts.new,
                    &mut counts.new_active,
                    &mut counts.new_to_delete,
                    &mut counts.new_unavailable,
                    &mut counts.new_preparing_delete,
                )
            } else {
                (
                    &mut counts.old,
                    &mut counts.old_active,
                    &mut counts.old_to_delete,
                    &mut counts.old_unavailable,
                    &mut counts.old_preparing_delete,
                )
            };
            *all += 1;
            if preparing_delete {
                *pre_deleting += 1;
            } else {
                *active += 1;
                if specified {
                    *to_delete += 1;
                } else if unavailable {
                    *unavailable_count += 1;
                }
            }
        }
        counts
    }
}

pub(crate) fn len_i32(len: usize) -> i32 {
    i32::try_from(len).unwrap_or(i32::MAX)
}

/// The result of the arithmetic (upstream `expectationDiffs`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Diffs {
    /// Pods to create (before the scale maxUnavailable limit).
    pub scale_up_num: i32,
    /// How many of the creations should be at the current (old) revision.
    pub scale_up_num_old_revision: i32,
    /// Pods to delete on scale-in (excluding specified-delete ones).
    pub scale_down_num: i32,
    /// How many of the deletions should be old-revision pods.
    pub scale_down_num_old_revision: i32,
    /// Creations allowed by scaleStrategy.maxUnavailable.
    pub scale_up_limit: i32,
    /// Ready pods that may be deleted this round.
    pub delete_ready_limit: i32,
    /// Surge pods in use.
    pub use_surge: i32,
    /// Surge pods at the old revision.
    pub use_surge_old_revision: i32,
    /// >0: pods to move to the update revision; <0: pods to move back (rollback gate).
    pub update_num: i32,
    /// Unavailable budget for updates.
    pub update_max_unavailable: i32,
}

/// Options that change the arithmetic.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DiffOptions {
    /// Scale arithmetic ignores PreparingDelete pods (label or manager flag).
    pub exclude_preparing_delete: bool,
    /// The `CloneSetPartitionRollback` gate (default off).
    pub partition_rollback: bool,
    /// currentRevision == updateRevision.
    pub revisions_equal: bool,
}

/// Pure arithmetic on resolved knobs and counts.
pub fn diffs_from_counts(knobs: Knobs, counts: PodCounts, options: DiffOptions) -> Diffs {
    let Knobs {
        replicas,
        partition,
        max_surge,
        max_unavailable,
        scale_max_unavailable,
    } = knobs;
    let mut res = Diffs::default();

    let mut update_old_diff = counts.old_active - partition;
    let mut update_new_diff = counts.new_active - (replicas - partition);
    let total_unavailable = counts.new_preparing_delete
        + counts.old_preparing_delete
        + counts.new_unavailable
        + counts.old_unavailable;
    if options.revisions_equal || !options.partition_rollback {
        update_old_diff = update_old_diff.max(0);
        update_new_diff = update_new_diff.min(0);
    }

    if max_surge > 0 {
        // Surge to cover specified deletions beyond the unavailable budget.
        let to_delete = counts.new_to_delete + counts.old_to_delete;
        let (mut scale_surge, mut scale_old_surge) = (0, 0);
        if to_delete > 0 {
            scale_surge = ((total_unavailable + to_delete) - max_unavailable)
                .max(0)
                .min(to_delete);
            if scale_surge > counts.new_to_delete {
                scale_old_surge = scale_surge - counts.new_to_delete;
            }
        }
        // Surge for updating: only when the two diffs point in opposite directions.
        let (mut update_surge, mut update_old_surge) = (0, 0);
        let opposite =
            (update_old_diff > 0 && update_new_diff < 0) || (update_old_diff < 0 && update_new_diff > 0);
        if opposite {
            if update_old_diff.abs() <= update_new_diff.abs() {
                update_surge = update_old_diff.abs();
                if update_old_diff < 0 {
                    update_old_surge = update_surge;
                }
            } else {
                update_surge = update_new_diff.abs();
                if update_new_diff > 0 {
                    update_old_surge = update_surge;
                }
            }
        }
        // Scale and update never happen in the same round, so only the larger need is served.
        if scale_surge >= update_surge {
            res.use_surge = max_surge.min(scale_surge);
            res.use_surge_old_revision = res.use_surge.min(scale_old_surge);
        } else {
            res.use_surge = max_surge.min(update_surge);
            res.use_surge_old_revision = res.use_surge.min(update_old_surge);
        }
    }

    let mut current_total = counts.total;
    let mut current_old = counts.old;
    if options.exclude_preparing_delete {
        current_total -= counts.old_preparing_delete + counts.new_preparing_delete;
        current_old -= counts.old_preparing_delete;
    }
    let expected_total = replicas.saturating_add(res.use_surge);
    let expected_old = partition + res.use_surge_old_revision;

    let up = expected_total - current_total;
    if up > 0 {
        res.scale_up_num = up;
        res.scale_up_num_old_revision = (expected_old - current_old).max(0);
        res.scale_up_limit = res
            .scale_up_num
            .min(scale_max_unavailable.saturating_sub(total_unavailable).max(0));
    }

    let down = current_total - counts.old_to_delete - counts.new_to_delete - expected_total;
    if down > 0 {
        res.scale_down_num = down;
        res.scale_down_num_old_revision = (current_old - counts.old_to_delete - expected_old).max(0);
    }
    if counts.new_to_delete > 0 || counts.old_to_delete > 0 || res.scale_down_num > 0 {
        res.delete_ready_limit = (max_unavailable + (counts.total - replicas) - total_unavailable).max(0);
    }

    res.update_num = if update_old_diff.abs() <= update_new_diff.abs() {
        update_old_diff
    } else {
        -update_new_diff
    };
    if res.update_num != 0 {
        res.update_max_unavailable = max_unavailable + counts.total - replicas;
    }
    res
}

/// The arithmetic for `cloneset` and its active `pods`.
pub fn calculate_diffs(
    cloneset: &CloneSet,
    pods: &[Pod],
    current_revision: &str,
    update_revision: &str,
    now: Timestamp,
) -> Diffs {
    let exclude = cloneset
        .metadata
        .labels
        .as_ref()
        .and_then(|l| l.get(SCALING_EXCLUDE_PREPARING_DELETE_LABEL))
        .is_some_and(|v| v == "true");
    diffs_from_counts(
        Knobs::of(cloneset),
        PodCounts::of(cloneset, pods, update_revision, now),
        DiffOptions {
            exclude_preparing_delete: exclude,
            partition_rollback: false,
            revisions_equal: current_revision == update_revision,
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn knobs(replicas: i32, partition: i32, max_surge: i32, max_unavailable: i32) -> Knobs {
        Knobs {
            replicas,
            partition,
            max_surge,
            max_unavailable,
            scale_max_unavailable: i32::MAX,
        }
    }

    /// Counts with `new`/`old` active pods and everything else zero.
    fn counts(new: i32, old: i32) -> PodCounts {
        PodCounts {
            total: new + old,
            new,
            new_active: new,
            old,
            old_active: old,
            ..Default::default()
        }
    }

    #[test]
    fn diffs_table() {
        let default = DiffOptions::default();
        // (label, knobs, counts, options, expected)
        let cases: Vec<(&str, Knobs, PodCounts, DiffOptions, Diffs)> = vec![
            (
                "nothing to do",
                knobs(3, 0, 0, 1),
                counts(3, 0),
                default,
                Diffs::default(),
            ),
            (
                "fresh create of 5",
                knobs(5, 0, 0, 1),
                counts(0, 0),
                default,
                Diffs {
                    scale_up_num: 5,
                    scale_up_limit: 5,
                    ..Default::default()
                },
            ),
            (
                "scale up keeps partition old pods",
                knobs(5, 3, 0, 1),
                counts(0, 2),
                default,
                Diffs {
                    scale_up_num: 3,
                    scale_up_num_old_revision: 1,
                    scale_up_limit: 3,
                    update_num: 0,
                    ..Default::default()
                },
            ),
            (
                "scale down 2 old first",
                knobs(3, 0, 0, 1),
                counts(1, 4),
                default,
                Diffs {
                    scale_down_num: 2,
                    scale_down_num_old_revision: 4,
                    delete_ready_limit: 3,
                    update_num: 2,
                    update_max_unavailable: 3,
                    ..Default::default()
                },
            ),
            (
                "update 4 old with partition 1",
                knobs(5, 1, 0, 2),
                counts(0, 5),
                default,
                Diffs {
                    update_num: 4,
                    update_max_unavailable: 2,
                    ..Default::default()
                },
            ),
            (
                "seed: 2 replicas, partition 1 after image change",
                knobs(2, 1, 0, 1),
                counts(0, 2),
                default,
                Diffs {
                    update_num: 1,
                    update_max_unavailable: 1,
                    ..Default::default()
                },
            ),
            (
                "seed: partition reached",
                knobs(2, 1, 0, 1),
                counts(1, 1),
                default,
                Diffs::default(),
            ),
            (
                "raising partition does nothing without the rollback gate",
                knobs(5, 4, 0, 1),
                counts(3, 2),
                default,
                Diffs::default(),
            ),
            (
                "rollback gate moves pods back",
                knobs(5, 4, 0, 1),
                counts(3, 2),
                DiffOptions {
                    partition_rollback: true,
                    ..default
                },
                Diffs {
                    update_num: -2,
                    update_max_unavailable: 1,
                    ..Default::default()
                },
            ),
            (
                "maxSurge creates before deleting during update",
                knobs(5, 0, 2, 0),
                counts(0, 5),
                default,
                Diffs {
                    scale_up_num: 2,
                    scale_up_num_old_revision: 0,
                    scale_up_limit: 2,
                    use_surge: 2,
                    update_num: 5,
                    update_max_unavailable: 0,
                    ..Default::default()
                },
            ),
            (
                "surge pods scaled in once all updated",
                knobs(5, 0, 2, 0),
                counts(7, 0),
                default,
                Diffs {
                    scale_down_num: 2,
                    delete_ready_limit: 2,
                    ..Default::default()
                },
            ),
            (
                "specified delete with surge creates replacement first",
                knobs(3, 0, 1, 0),
                PodCounts {
                    old_to_delete: 1,
                    ..counts(0, 3)
                },
                default,
                Diffs {
                    scale_up_num: 1,
                    scale_up_num_old_revision: 0,
                    scale_up_limit: 1,
                    use_surge: 1,
                    use_surge_old_revision: 0,
                    delete_ready_limit: 0,
                    update_num: 3,
                    update_max_unavailable: 0,
                    ..Default::default()
                },
            ),
            (
                "specified delete without surge: delete under maxUnavailable",
                knobs(3, 0, 0, 1),
                PodCounts {
                    new_to_delete: 1,
                    ..counts(3, 0)
                },
                default,
                Diffs {
                    delete_ready_limit: 1,
                    ..Default::default()
                },
            ),
            (
                "unavailable pods consume the delete budget",
                knobs(4, 0, 0, 1),
                PodCounts {
                    new_to_delete: 1,
                    new_unavailable: 1,
                    ..counts(4, 0)
                },
                default,
                Diffs {
                    delete_ready_limit: 0,
                    ..Default::default()
                },
            ),
            (
                "scale maxUnavailable limits creations",
                Knobs {
                    scale_max_unavailable: 2,
                    ..knobs(5, 0, 0, 1)
                },
                PodCounts {
                    new_unavailable: 1,
                    ..counts(1, 0)
                },
                default,
                Diffs {
                    scale_up_num: 4,
                    scale_up_limit: 1,
                    ..Default::default()
                },
            ),
            (
                "preparing delete counts as unavailable and in total",
                knobs(2, 0, 0, 1),
                PodCounts {
                    new_preparing_delete: 1,
                    new_active: 2,
                    ..counts(3, 0)
                },
                default,
                Diffs {
                    scale_down_num: 1,
                    delete_ready_limit: 1,
                    ..Default::default()
                },
            ),
            (
                "excluding preparing delete from scale counts",
                knobs(2, 0, 0, 1),
                PodCounts {
                    new_preparing_delete: 1,
                    new_active: 1,
                    ..counts(2, 0)
                },
                DiffOptions {
                    exclude_preparing_delete: true,
                    ..default
                },
                Diffs {
                    scale_up_num: 1,
                    scale_up_limit: 1,
                    ..Default::default()
                },
            ),
        ];
        for (label, knobs, counts, options, expected) in cases {
            assert_eq!(diffs_from_counts(knobs, counts, options), expected, "{label}");
        }
    }
}
