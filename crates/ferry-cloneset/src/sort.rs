//! Pod orderings: Kubernetes `ActivePods` (update order), priority and scatter strategies, and the
//! scale-in order.

use std::cmp::Ordering;
use std::collections::BTreeMap;

use ferry_types::kruise::{UpdatePriorityStrategy, UpdateScatterTerm};
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::jiff::Timestamp;

use crate::labels::POD_DELETION_COST_ANNOTATION;
use crate::podutil;
use crate::selector;

fn phase_rank(pod: &Pod) -> u8 {
    match podutil::phase(pod) {
        "Pending" => 0,
        "Unknown" => 1,
        "Running" => 2,
        _ => 0,
    }
}

/// Later time first, a missing time counts as "zero" and sorts first (`afterOrZero`).
fn later_or_zero_first(a: Option<Timestamp>, b: Option<Timestamp>) -> Ordering {
    match (a, b) {
        (None, None) => Ordering::Equal,
        (None, Some(_)) => Ordering::Less,
        (Some(_), None) => Ordering::Greater,
        (Some(a), Some(b)) => b.cmp(&a),
    }
}

/// Kubernetes `ActivePods` order: unassigned < assigned; Pending < Unknown < Running; not ready < ready;
/// ready for less time first; more restarts first; newer first.
pub fn active_pods_order(a: &Pod, b: &Pod) -> Ordering {
    let assigned = |p: &Pod| !podutil::node_name(p).is_empty();
    assigned(a)
        .cmp(&assigned(b))
        .then_with(|| phase_rank(a).cmp(&phase_rank(b)))
        .then_with(|| podutil::is_pod_ready(a).cmp(&podutil::is_pod_ready(b)))
        .then_with(|| {
            if podutil::is_pod_ready(a) && podutil::is_pod_ready(b) {
                later_or_zero_first(podutil::ready_since(a), podutil::ready_since(b))
            } else {
                Ordering::Equal
            }
        })
        .then_with(|| podutil::max_restarts(b).cmp(&podutil::max_restarts(a)))
        .then_with(|| later_or_zero_first(podutil::created_at(a), podutil::created_at(b)))
}

fn deletion_cost(pod: &Pod) -> i64 {
    podutil::annotation(pod, POD_DELETION_COST_ANNOTATION)
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// Scale-in order (reference §2.4 step 6): unassigned < assigned; Pending < Unknown < Running;
/// not available < available; not ready < ready; lower deletion cost; higher spread rank (more pods
/// on the same node); ready for less time; more restarts; newer.
pub fn scale_in_order(pods: &[Pod], min_ready_seconds: i32, now: Timestamp) -> Vec<usize> {
    let mut per_node: BTreeMap<&str, usize> = BTreeMap::new();
    for pod in pods {
        let node = podutil::node_name(pod);
        if !node.is_empty() {
            *per_node.entry(node).or_default() += 1;
        }
    }
    let rank = |p: &Pod| per_node.get(podutil::node_name(p)).copied().unwrap_or(0);
    let assigned = |p: &Pod| !podutil::node_name(p).is_empty();
    let mut order: Vec<usize> = (0..pods.len()).collect();
    order.sort_by(|&i, &j| {
        let (a, b) = (&pods[i], &pods[j]);
        assigned(a)
            .cmp(&assigned(b))
            .then_with(|| phase_rank(a).cmp(&phase_rank(b)))
            .then_with(|| {
                podutil::is_available(a, min_ready_seconds, now).cmp(&podutil::is_available(
                    b,
                    min_ready_seconds,
                    now,
                ))
            })
            .then_with(|| podutil::is_pod_ready(a).cmp(&podutil::is_pod_ready(b)))
            .then_with(|| deletion_cost(a).cmp(&deletion_cost(b)))
            .then_with(|| rank(b).cmp(&rank(a)))
            .then_with(|| {
                if podutil::is_pod_ready(a) && podutil::is_pod_ready(b) {
                    later_or_zero_first(podutil::ready_since(a), podutil::ready_since(b))
                } else {
                    Ordering::Equal
                }
            })
            .then_with(|| podutil::max_restarts(b).cmp(&podutil::max_restarts(a)))
            .then_with(|| later_or_zero_first(podutil::created_at(a), podutil::created_at(b)))
            .then_with(|| podutil::name(a).cmp(podutil::name(b)))
    });
    order
}

/// Trailing integer of a label value (0 when none).
fn trailing_integer(value: &str) -> i64 {
    let digits: String = value
        .chars()
        .rev()
        .take_while(char::is_ascii_digit)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    digits.parse().unwrap_or(0)
}

/// Stable priority sort of `indexes` (weight sum descending, or ordered keys).
pub fn priority_sort(strategy: &UpdatePriorityStrategy, pods: &[Pod], indexes: &mut [usize]) {
    let empty = BTreeMap::new();
    let labels = |i: usize| {
        pods.get(i)
            .and_then(|p| p.metadata.labels.as_ref())
            .unwrap_or(&empty)
    };
    if !strategy.weight_priority.is_empty() {
        let weight = |i: usize| -> i64 {
            strategy
                .weight_priority
                .iter()
                .filter(|term| selector::matches(&term.match_selector, labels(i)))
                .map(|term| i64::from(term.weight))
                .sum()
        };
        indexes.sort_by_key(|&i| std::cmp::Reverse(weight(i)));
    } else if !strategy.order_priority.is_empty() {
        // (level, order): the first ordered key present gives the level; pods with none get level −1
        // and, as upstream, sort first.
        let level = |i: usize| -> (i64, i64) {
            for (position, term) in strategy.order_priority.iter().enumerate() {
                if let Some(value) = labels(i).get(&term.ordered_key) {
                    return (
                        i64::try_from(position).unwrap_or(i64::MAX),
                        trailing_integer(value),
                    );
                }
            }
            (-1, 0)
        };
        indexes.sort_by(|&i, &j| {
            let (level_i, order_i) = level(i);
            let (level_j, order_j) = level(j);
            level_i.cmp(&level_j).then_with(|| order_j.cmp(&order_i))
        });
    }
}

/// Go `math.Round` (half away from zero) of a / b for non-negative integers.
fn round_div(a: usize, b: usize) -> usize {
    if b == 0 { 0 } else { (2 * a + b) / (2 * b) }
}

#[derive(Debug, Default, Clone, Copy)]
struct ScatterGroup {
    groups: usize,
    matched_size: usize,
    unmatched_size: usize,
    unmatched_remainder: usize,
}

fn scatter_group(matched: usize, unmatched: usize) -> ScatterGroup {
    let groups = matched.min(unmatched);
    ScatterGroup {
        groups,
        matched_size: round_div(matched, groups),
        unmatched_size: round_div(unmatched, groups),
        unmatched_remainder: 0,
    }
}

fn group_by_density(
    total_matched: usize,
    total_unmatched: usize,
    update_matched: usize,
    update_unmatched: usize,
) -> ScatterGroup {
    let total = scatter_group(total_matched, total_unmatched);
    let update = scatter_group(update_matched, update_unmatched);
    // Compare total_unmatched/total_matched >= update_unmatched/update_matched without division.
    if total_unmatched * update_matched >= update_unmatched * total_matched {
        return update;
    }
    let (matched_size, unmatched_size) = (total.matched_size.max(1), total.unmatched_size.max(1));
    let groups = (update_matched / matched_size).min(update_unmatched / unmatched_size);
    ScatterGroup {
        groups,
        matched_size,
        unmatched_size,
        unmatched_remainder: update_unmatched - groups * unmatched_size,
    }
}

fn scatter_by_term(term: &UpdateScatterTerm, pods: &[Pod], indexes: Vec<usize>) -> Vec<usize> {
    let matches =
        |i: usize| pods.get(i).and_then(|p| podutil::label(p, &term.key)) == Some(term.value.as_str());
    let (mut matched, mut unmatched): (Vec<usize>, Vec<usize>) = indexes.iter().partition(|&&i| matches(i));
    if matched.len() <= 1 || unmatched.len() <= 1 {
        return indexes;
    }
    let total_matched = (0..pods.len()).filter(|&i| matches(i)).count();
    let total_unmatched = pods.len() - total_matched;
    // The last matched pod always goes to the very end.
    let Some(last_matched) = matched.pop() else {
        return indexes;
    };
    let group = group_by_density(
        total_matched.saturating_sub(1),
        total_unmatched,
        matched.len(),
        unmatched.len(),
    );
    let mut result = Vec::with_capacity(indexes.len());
    let take = |source: &mut Vec<usize>, count: usize, result: &mut Vec<usize>| {
        let count = count.min(source.len());
        result.extend(source.drain(..count));
    };
    take(&mut unmatched, group.unmatched_remainder, &mut result);
    for _ in 0..group.groups {
        take(&mut matched, group.matched_size, &mut result);
        take(&mut unmatched, group.unmatched_size, &mut result);
    }
    result.append(&mut matched);
    result.append(&mut unmatched);
    result.push(last_matched);
    result
}

/// Scatter sort: terms by descending match count, each spreading its matched pods evenly.
pub fn scatter_sort(terms: &[UpdateScatterTerm], pods: &[Pod], indexes: Vec<usize>) -> Vec<usize> {
    if terms.is_empty() || indexes.len() <= 1 {
        return indexes;
    }
    let mut ordered: Vec<(UpdateScatterTerm, usize)> = Vec::new();
    if terms.len() == 1 {
        ordered.extend(terms.iter().cloned().map(|t| (t, 0)));
    } else {
        for term in terms {
            let count = indexes
                .iter()
                .filter(|&&i| {
                    pods.get(i).and_then(|p| podutil::label(p, &term.key)) == Some(term.value.as_str())
                })
                .count();
            if count > 0 && !ordered.iter().any(|(t, _)| t == term) {
                ordered.push((term.clone(), count));
            }
        }
        ordered.sort_by_key(|entry| std::cmp::Reverse(entry.1));
    }
    ordered
        .into_iter()
        .fold(indexes, |acc, (term, _)| scatter_by_term(&term, pods, acc))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::podutil::testpods::{PodBuilder, now};
    use ferry_types::kruise::{UpdatePriorityOrderTerm, UpdatePriorityWeightTerm};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;

    fn names(pods: &[Pod], order: &[usize]) -> Vec<String> {
        order
            .iter()
            .map(|&i| podutil::name(&pods[i]).to_string())
            .collect()
    }

    #[test]
    fn active_pods_order_table() {
        let pods = vec![
            PodBuilder::ready("ready-old", "r").ready_for(1000).build(),
            PodBuilder::ready("ready-new", "r").ready_for(10).build(),
            PodBuilder::ready("not-ready", "r").not_ready().build(),
            PodBuilder::ready("pending", "r")
                .phase("Pending")
                .not_ready()
                .build(),
            PodBuilder::ready("unassigned", "r")
                .node("")
                .phase("Pending")
                .not_ready()
                .build(),
            PodBuilder::ready("restarts", "r")
                .ready_for(1000)
                .restarts(3)
                .build(),
        ];
        let mut order: Vec<usize> = (0..pods.len()).collect();
        order.sort_by(|&i, &j| active_pods_order(&pods[i], &pods[j]));
        assert_eq!(
            names(&pods, &order),
            [
                "unassigned",
                "pending",
                "not-ready",
                "ready-new",
                "restarts",
                "ready-old"
            ]
        );
    }

    #[test]
    fn scale_in_order_table() {
        let pods = vec![
            PodBuilder::ready("plain", "r").node("n1").build(),
            PodBuilder::ready("cheap", "r")
                .node("n2")
                .annotation(POD_DELETION_COST_ANNOTATION, "-5")
                .build(),
            PodBuilder::ready("crowded", "r").node("n3").build(),
            PodBuilder::ready("crowded2", "r").node("n3").created(100).build(),
            PodBuilder::ready("preparing", "r")
                .node("n4")
                .lifecycle("PreparingNormal")
                .build(),
            PodBuilder::ready("not-ready", "r").node("n5").not_ready().build(),
        ];
        let order = scale_in_order(&pods, 0, now());
        assert_eq!(
            names(&pods, &order),
            ["not-ready", "preparing", "cheap", "crowded2", "crowded", "plain"]
        );
    }

    #[test]
    fn weight_priority_sorts_heavier_first() {
        let selector = |v: &str| LabelSelector {
            match_labels: Some([("tier".to_string(), v.to_string())].into_iter().collect()),
            ..Default::default()
        };
        let strategy = UpdatePriorityStrategy {
            weight_priority: vec![
                UpdatePriorityWeightTerm {
                    weight: 50,
                    match_selector: selector("front"),
                },
                UpdatePriorityWeightTerm {
                    weight: 30,
                    match_selector: selector("back"),
                },
            ],
            order_priority: vec![],
        };
        let pods = vec![
            PodBuilder::ready("none", "r").build(),
            PodBuilder::ready("back", "r").label("tier", "back").build(),
            PodBuilder::ready("front", "r").label("tier", "front").build(),
        ];
        let mut order = vec![0, 1, 2];
        priority_sort(&strategy, &pods, &mut order);
        assert_eq!(names(&pods, &order), ["front", "back", "none"]);
    }

    #[test]
    fn order_priority_uses_trailing_integers() {
        let strategy = UpdatePriorityStrategy {
            weight_priority: vec![],
            order_priority: vec![UpdatePriorityOrderTerm {
                ordered_key: "rank".into(),
            }],
        };
        let pods = vec![
            PodBuilder::ready("r1", "r").label("rank", "node-1").build(),
            PodBuilder::ready("r10", "r").label("rank", "node-10").build(),
            PodBuilder::ready("none", "r").build(),
            PodBuilder::ready("r3", "r").label("rank", "3").build(),
        ];
        let mut order = vec![0, 1, 2, 3];
        priority_sort(&strategy, &pods, &mut order);
        assert_eq!(names(&pods, &order), ["none", "r10", "r3", "r1"]);
    }

    #[test]
    fn scatter_spreads_matched_pods() {
        let term = UpdateScatterTerm {
            key: "zone".into(),
            value: "a".into(),
        };
        let pods: Vec<Pod> = (0..6)
            .map(|i| {
                let builder = PodBuilder::ready(&format!("p{i}"), "r");
                if i < 3 {
                    builder.label("zone", "a").build()
                } else {
                    builder.label("zone", "b").build()
                }
            })
            .collect();
        let order = scatter_sort(std::slice::from_ref(&term), &pods, (0..6).collect());
        // Upstream grouping: 2 matched groups of 1, unmatched groups of round(3/2) = 2; last matched at the end.
        assert_eq!(names(&pods, &order), ["p0", "p3", "p4", "p1", "p5", "p2"]);
        // Too few matches: unchanged.
        let order = scatter_sort(std::slice::from_ref(&term), &pods, vec![0, 3, 4]);
        assert_eq!(order, vec![0, 3, 4]);
    }
}
