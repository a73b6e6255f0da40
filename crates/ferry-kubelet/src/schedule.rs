//! Picking a node for a pending pod, as kube-scheduler's default filters would: nodeSelector,
//! taints/tolerations (NoSchedule, NoExecute), resource requests against allocatable, pod count.
//! Among feasible nodes the least loaded wins (fewest pods, then name), which spreads replicas.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::quantity::{parse_bytes, parse_milli};

/// What the scheduler knows of a node.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct NodeInfo {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub taints: Vec<Taint>,
    pub unschedulable: bool,
    pub allocatable: Resources,
    /// Sum of requests of the pods already bound to the node (not terminated).
    pub requested: Resources,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Taint {
    pub key: String,
    pub value: String,
    pub effect: String,
}

/// CPU in millicores, memory in bytes, and a pod count.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Resources {
    pub cpu_milli: i128,
    pub memory: i128,
    pub pods: i128,
}

impl NodeInfo {
    /// Reads a Node object (metadata.labels, spec.taints, spec.unschedulable, status.allocatable).
    pub fn from_node(node: &Value) -> Self {
        let labels = node["metadata"]["labels"]
            .as_object()
            .map(|m| {
                m.iter()
                    .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                    .collect()
            })
            .unwrap_or_default();
        let taints = node["spec"]["taints"]
            .as_array()
            .map(|list| {
                list.iter()
                    .map(|t| Taint {
                        key: t["key"].as_str().unwrap_or_default().to_string(),
                        value: t["value"].as_str().unwrap_or_default().to_string(),
                        effect: t["effect"].as_str().unwrap_or_default().to_string(),
                    })
                    .collect()
            })
            .unwrap_or_default();
        let alloc = &node["status"]["allocatable"];
        NodeInfo {
            name: node["metadata"]["name"].as_str().unwrap_or_default().to_string(),
            labels,
            taints,
            unschedulable: node["spec"]["unschedulable"].as_bool().unwrap_or(false),
            allocatable: Resources {
                cpu_milli: alloc["cpu"].as_str().and_then(parse_milli).unwrap_or(0),
                memory: alloc["memory"].as_str().and_then(parse_bytes).unwrap_or(0),
                pods: alloc["pods"].as_str().and_then(parse_bytes).unwrap_or(110),
            },
            requested: Resources::default(),
        }
    }
}

/// The requests of a pod: the sum over its containers (init containers run first, so the max of
/// each init container and the regular sum counts, as the scheduler does).
pub fn pod_requests(pod: &Value) -> Resources {
    let container_requests = |c: &Value| {
        let requests = &c["resources"]["requests"];
        (
            requests["cpu"].as_str().and_then(parse_milli).unwrap_or(0),
            requests["memory"].as_str().and_then(parse_bytes).unwrap_or(0),
        )
    };
    let (mut cpu, mut memory) = (0, 0);
    for c in pod["spec"]["containers"].as_array().into_iter().flatten() {
        let (c_cpu, c_mem) = container_requests(c);
        cpu += c_cpu;
        memory += c_mem;
    }
    for c in pod["spec"]["initContainers"].as_array().into_iter().flatten() {
        let (c_cpu, c_mem) = container_requests(c);
        cpu = cpu.max(c_cpu);
        memory = memory.max(c_mem);
    }
    Resources {
        cpu_milli: cpu,
        memory,
        pods: 1,
    }
}

/// Why no node fits, in kube-scheduler's words (`0/3 nodes are available: 3 Insufficient cpu.`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Unschedulable(pub String);

fn tolerates(tolerations: &[Value], taint: &Taint) -> bool {
    tolerations.iter().any(|t| {
        let effect = t["effect"].as_str().unwrap_or_default();
        if !effect.is_empty() && effect != taint.effect {
            return false;
        }
        let key = t["key"].as_str().unwrap_or_default();
        match t["operator"].as_str().unwrap_or("Equal") {
            // An empty key with Exists tolerates every taint.
            "Exists" => key.is_empty() || key == taint.key,
            _ => key == taint.key && t["value"].as_str().unwrap_or_default() == taint.value,
        }
    })
}

/// Why one node is not feasible, or `None` if it is.
fn reject_reason(pod: &Value, requests: &Resources, node: &NodeInfo) -> Option<String> {
    if node.unschedulable {
        return Some("node(s) were unschedulable".into());
    }
    if let Some(selector) = pod["spec"]["nodeSelector"].as_object() {
        let matches = selector
            .iter()
            .all(|(k, v)| node.labels.get(k).map(String::as_str) == v.as_str());
        if !matches {
            return Some("node(s) didn't match Pod's node affinity/selector".into());
        }
    }
    let tolerations = pod["spec"]["tolerations"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default();
    if let Some(taint) = node
        .taints
        .iter()
        .find(|t| (t.effect == "NoSchedule" || t.effect == "NoExecute") && !tolerates(tolerations, t))
    {
        return Some(format!(
            "node(s) had untolerated taint {{{}: {}}}",
            taint.key, taint.value
        ));
    }
    let free = |alloc: i128, used: i128| alloc - used;
    if requests.cpu_milli > free(node.allocatable.cpu_milli, node.requested.cpu_milli) {
        return Some("Insufficient cpu".into());
    }
    if requests.memory > free(node.allocatable.memory, node.requested.memory) {
        return Some("Insufficient memory".into());
    }
    if node.requested.pods + 1 > node.allocatable.pods {
        return Some("Too many pods".into());
    }
    None
}

/// Chooses a node for `pod`, or says why none fits.
pub fn schedule(pod: &Value, nodes: &[NodeInfo]) -> Result<String, Unschedulable> {
    let requests = pod_requests(pod);
    let mut reasons: BTreeMap<String, usize> = BTreeMap::new();
    let mut best: Option<&NodeInfo> = None;
    for node in nodes {
        match reject_reason(pod, &requests, node) {
            Some(reason) => *reasons.entry(reason).or_default() += 1,
            None => {
                let better =
                    best.is_none_or(|b| (node.requested.pods, &node.name) < (b.requested.pods, &b.name));
                if better {
                    best = Some(node);
                }
            }
        }
    }
    if let Some(node) = best {
        return Ok(node.name.clone());
    }
    let detail: Vec<String> = reasons
        .iter()
        .map(|(reason, count)| format!("{count} {reason}"))
        .collect();
    let detail = if detail.is_empty() {
        "no nodes registered".to_string()
    } else {
        detail.join(", ")
    };
    Err(Unschedulable(format!(
        "0/{} nodes are available: {detail}.",
        nodes.len()
    )))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn node(name: &str, cpu: &str, pods_on_it: i128) -> NodeInfo {
        let mut n = NodeInfo::from_node(&json!({
            "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name}},
            "status": {"allocatable": {"cpu": cpu, "memory": "8Gi", "pods": "110"}}
        }));
        n.requested.pods = pods_on_it;
        n
    }

    #[test]
    fn spreads_to_least_loaded_node() {
        let nodes = [node("a", "4", 3), node("b", "4", 1), node("c", "4", 1)];
        assert_eq!(
            schedule(&json!({"spec": {"containers": [{}]}}), &nodes),
            Ok("b".into())
        );
    }

    #[test]
    fn filters_explain_every_rejection() {
        let mut tainted = node("t", "4", 0);
        tainted.taints.push(Taint {
            key: "dedicated".into(),
            value: "gpu".into(),
            effect: "NoSchedule".into(),
        });
        let mut cordoned = node("u", "4", 0);
        cordoned.unschedulable = true;
        let nodes = [node("small", "100m", 0), tainted, cordoned];
        let pod = json!({"spec": {"containers": [{"resources": {"requests": {"cpu": "500m"}}}]}});
        let err = schedule(&pod, &nodes).unwrap_err();
        assert_eq!(
            err.0,
            "0/3 nodes are available: 1 Insufficient cpu, 1 node(s) had untolerated taint {dedicated: gpu}, \
             1 node(s) were unschedulable."
        );
    }

    #[test]
    fn tolerations_and_selectors() {
        let mut tainted = node("t", "4", 0);
        tainted.taints.push(Taint {
            key: "dedicated".into(),
            value: "gpu".into(),
            effect: "NoSchedule".into(),
        });
        tainted.labels.insert("disk".into(), "ssd".into());
        let nodes = [node("plain", "4", 0), tainted];
        let cases = [
            (json!({"nodeSelector": {"disk": "ssd"}}), Err(())),
            (
                json!({"nodeSelector": {"disk": "ssd"}, "tolerations": [{"key": "dedicated", "operator": "Equal", "value": "gpu", "effect": "NoSchedule"}]}),
                Ok("t"),
            ),
            (
                json!({"nodeSelector": {"disk": "ssd"}, "tolerations": [{"operator": "Exists"}]}),
                Ok("t"),
            ),
            (
                json!({"nodeSelector": {"disk": "ssd"}, "tolerations": [{"key": "dedicated", "operator": "Exists", "effect": "NoExecute"}]}),
                Err(()),
            ),
        ];
        for (spec, want) in cases {
            let mut spec = spec;
            spec["containers"] = json!([{}]);
            let got = schedule(&json!({ "spec": spec }), &nodes);
            assert_eq!(got.as_deref().map_err(|_| ()), want, "{spec}");
        }
    }

    #[test]
    fn no_nodes() {
        let err = schedule(&json!({"spec": {}}), &[]).unwrap_err();
        assert_eq!(err.0, "0/0 nodes are available: no nodes registered.");
    }

    #[test]
    fn init_containers_count_as_max() {
        let pod = json!({"spec": {
            "initContainers": [{"resources": {"requests": {"cpu": "2", "memory": "1Gi"}}}],
            "containers": [{"resources": {"requests": {"cpu": "500m"}}}, {"resources": {"requests": {"cpu": "250m", "memory": "64Mi"}}}]
        }});
        assert_eq!(
            pod_requests(&pod),
            Resources {
                cpu_milli: 2000,
                memory: 1 << 30,
                pods: 1
            }
        );
    }
}
