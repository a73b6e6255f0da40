//! Endpoints planning: the Endpoints object of a Service with a selector, built from the pods
//! it selects, as kube-controller-manager's endpoints controller does (ready pods in
//! `addresses`, others in `notReadyAddresses`, named target ports resolved per pod, subsets
//! grouped by identical port sets).

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{
    EndpointAddress, EndpointPort, EndpointSubset, Endpoints, ObjectReference, Pod, Service, ServicePort,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use crate::util;

/// Label Kubernetes puts on the Endpoints of a headless Service.
pub const HEADLESS_LABEL: &str = "service.kubernetes.io/headless";

/// The Endpoints `service` should have given every pod in its namespace, or `None` when the
/// Service has no selector (its Endpoints are managed by hand).
pub fn plan(service: &Service, pods: &[Pod]) -> Option<Endpoints> {
    let spec = service.spec.as_ref()?;
    let selector = spec.selector.as_ref().filter(|s| !s.is_empty())?;
    let service_name = service.metadata.name.clone().unwrap_or_default();
    let publish_not_ready = spec.publish_not_ready_addresses == Some(true);
    let ports = spec.ports.clone().unwrap_or_default();

    // Port set (as a sortable key) -> (ports, ready addresses, not-ready addresses).
    type Group = (Vec<EndpointPort>, Vec<EndpointAddress>, Vec<EndpointAddress>);
    let mut groups: BTreeMap<String, Group> = BTreeMap::new();
    for pod in pods {
        let labels = util::labels_of(&pod.metadata);
        if !selector.iter().all(|(k, v)| labels.get(k) == Some(v)) {
            continue;
        }
        let Some(ip) = pod
            .status
            .as_ref()
            .and_then(|s| s.pod_ip.clone())
            .filter(|ip| !ip.is_empty())
        else {
            continue;
        };
        if util::pod_finished(pod) {
            continue;
        }
        if pod.metadata.deletion_timestamp.is_some() && !publish_not_ready {
            continue;
        }
        let address = address_for(pod, ip, &service_name);
        let mut resolved: Vec<EndpointPort> = ports.iter().filter_map(|p| resolve_port(p, pod)).collect();
        if resolved.is_empty() && !ports.is_empty() {
            // None of the Service's ports exist on this pod.
            continue;
        }
        resolved.sort_by(|a, b| a.name.cmp(&b.name).then(a.port.cmp(&b.port)));
        let key = serde_json::to_string(&resolved).unwrap_or_default();
        let group = groups
            .entry(key)
            .or_insert_with(|| (resolved, Vec::new(), Vec::new()));
        if publish_not_ready || util::pod_ready(pod) {
            group.1.push(address);
        } else {
            group.2.push(address);
        }
    }

    let subsets: Vec<EndpointSubset> = groups
        .into_values()
        .map(|(ports, mut ready, mut not_ready)| {
            ready.sort_by(address_order);
            not_ready.sort_by(address_order);
            EndpointSubset {
                addresses: (!ready.is_empty()).then_some(ready),
                not_ready_addresses: (!not_ready.is_empty()).then_some(not_ready),
                ports: (!ports.is_empty()).then_some(ports),
            }
        })
        .collect();

    let mut labels = service.metadata.labels.clone().unwrap_or_default();
    if spec.cluster_ip.as_deref() == Some("None") {
        labels.insert(HEADLESS_LABEL.into(), String::new());
    }
    Some(Endpoints {
        metadata: ObjectMeta {
            name: Some(service_name),
            namespace: service.metadata.namespace.clone(),
            labels: (!labels.is_empty()).then_some(labels),
            ..ObjectMeta::default()
        },
        subsets: (!subsets.is_empty()).then_some(subsets),
    })
}

/// Whether `current` already says what `desired` says (labels and subsets).
pub fn up_to_date(current: &Endpoints, desired: &Endpoints) -> bool {
    let norm = |s: &Option<Vec<EndpointSubset>>| s.clone().filter(|v| !v.is_empty());
    current.metadata.labels.clone().unwrap_or_default() == desired.metadata.labels.clone().unwrap_or_default()
        && norm(&current.subsets) == norm(&desired.subsets)
}

fn address_order(a: &EndpointAddress, b: &EndpointAddress) -> std::cmp::Ordering {
    let uid = |x: &EndpointAddress| x.target_ref.as_ref().and_then(|r| r.uid.clone());
    a.ip.cmp(&b.ip).then_with(|| uid(a).cmp(&uid(b)))
}

fn address_for(pod: &Pod, ip: String, service_name: &str) -> EndpointAddress {
    let spec = pod.spec.as_ref();
    // A pod's hostname is published only when its subdomain names this Service.
    let hostname = spec
        .filter(|s| s.subdomain.as_deref() == Some(service_name))
        .and_then(|s| s.hostname.clone())
        .filter(|h| !h.is_empty());
    EndpointAddress {
        ip,
        hostname,
        node_name: spec.and_then(|s| s.node_name.clone()).filter(|n| !n.is_empty()),
        target_ref: Some(ObjectReference {
            kind: Some("Pod".into()),
            namespace: pod.metadata.namespace.clone(),
            name: pod.metadata.name.clone(),
            uid: pod.metadata.uid.clone(),
            ..ObjectReference::default()
        }),
    }
}

/// The endpoint port for one Service port on one pod: a numeric targetPort as is (absent or 0
/// means the Service port), a named one looked up among the pod's container ports with the same
/// protocol. `None` when the name is not found on this pod.
fn resolve_port(port: &ServicePort, pod: &Pod) -> Option<EndpointPort> {
    let protocol = port.protocol.clone().unwrap_or_else(|| "TCP".into());
    let number = match &port.target_port {
        None | Some(IntOrString::Int(0)) => port.port,
        Some(IntOrString::Int(n)) => *n,
        Some(IntOrString::String(name)) => match name.parse::<i32>() {
            Ok(n) => n,
            Err(_) => {
                pod.spec
                    .as_ref()?
                    .containers
                    .iter()
                    .flat_map(|c| c.ports.iter().flatten())
                    .find(|cp| {
                        cp.name.as_deref() == Some(name.as_str())
                            && cp.protocol.as_deref().unwrap_or("TCP") == protocol
                    })?
                    .container_port
            }
        },
    };
    Some(EndpointPort {
        name: port.name.clone().filter(|n| !n.is_empty()),
        port: number,
        protocol: Some(protocol),
        app_protocol: port.app_protocol.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{PodState, pod};
    use k8s_openapi::api::core::v1::{Container, ContainerPort, ServiceSpec};

    fn service(ports: Vec<ServicePort>) -> Service {
        Service {
            metadata: ObjectMeta {
                name: Some("web".into()),
                namespace: Some("default".into()),
                labels: Some([("team".into(), "a".into())].into()),
                ..ObjectMeta::default()
            },
            spec: Some(ServiceSpec {
                selector: Some([("app".into(), "web".into())].into()),
                ports: Some(ports),
                ..ServiceSpec::default()
            }),
            status: None,
        }
    }

    fn http(target: Option<IntOrString>) -> ServicePort {
        ServicePort {
            name: Some("http".into()),
            port: 80,
            target_port: target,
            ..ServicePort::default()
        }
    }

    fn with_ip(mut p: Pod, ip: &str, container_port: Option<(&str, i32)>) -> Pod {
        p.status.as_mut().unwrap().pod_ip = Some(ip.into());
        p.spec.as_mut().unwrap().containers = vec![Container {
            name: "app".into(),
            ports: container_port.map(|(name, port)| {
                vec![ContainerPort {
                    name: Some(name.into()),
                    container_port: port,
                    ..ContainerPort::default()
                }]
            }),
            ..Container::default()
        }];
        p
    }

    fn ips(addresses: &Option<Vec<EndpointAddress>>) -> Vec<&str> {
        addresses.iter().flatten().map(|a| a.ip.as_str()).collect()
    }

    #[test]
    fn ready_and_not_ready_pods_are_split_and_sorted() {
        let pods = vec![
            with_ip(pod("b", PodState::ready_at(0)), "10.0.0.9", None),
            with_ip(pod("a", PodState::ready_at(0)), "10.0.0.3", None),
            with_ip(pod("c", PodState::running_not_ready()), "10.0.0.5", None),
        ];
        let ep = plan(&service(vec![http(Some(IntOrString::Int(8080)))]), &pods).unwrap();
        let subsets = ep.subsets.unwrap();
        assert_eq!(subsets.len(), 1);
        assert_eq!(ips(&subsets[0].addresses), vec!["10.0.0.3", "10.0.0.9"]);
        assert_eq!(ips(&subsets[0].not_ready_addresses), vec!["10.0.0.5"]);
        let target = subsets[0].addresses.as_ref().unwrap()[0]
            .target_ref
            .clone()
            .unwrap();
        assert_eq!(
            (
                target.kind.as_deref(),
                target.name.as_deref(),
                target.uid.as_deref()
            ),
            (Some("Pod"), Some("a"), Some("a-uid"))
        );
        assert_eq!(
            subsets[0].addresses.as_ref().unwrap()[0].node_name.as_deref(),
            Some("node-0")
        );
        let port = &subsets[0].ports.as_ref().unwrap()[0];
        assert_eq!(
            (port.name.as_deref(), port.port, port.protocol.as_deref()),
            (Some("http"), 8080, Some("TCP"))
        );
        assert_eq!(ep.metadata.name.as_deref(), Some("web"));
        assert_eq!(
            ep.metadata.labels.unwrap().get("team").map(String::as_str),
            Some("a")
        );
    }

    #[test]
    fn excluded_pods() {
        let mut deleting = with_ip(pod("d", PodState::ready_at(0)), "10.0.0.4", None);
        deleting.metadata.deletion_timestamp = Some(util::time(crate::testutil::at(1)));
        let mut other = with_ip(pod("o", PodState::ready_at(0)), "10.0.0.6", None);
        other.metadata.labels = Some([("app".into(), "db".into())].into());
        let done = with_ip(pod("s", PodState::phase("Succeeded")), "10.0.0.7", None);
        let no_ip = pod("n", PodState::unscheduled());
        let ep = plan(&service(vec![http(None)]), &[deleting, other, done, no_ip]).unwrap();
        assert_eq!(ep.subsets, None);
    }

    #[test]
    fn named_target_ports_resolve_per_pod_and_group_subsets() {
        let pods = vec![
            with_ip(pod("a", PodState::ready_at(0)), "10.0.0.1", Some(("web", 8080))),
            with_ip(pod("b", PodState::ready_at(0)), "10.0.0.2", Some(("web", 9090))),
            with_ip(pod("c", PodState::ready_at(0)), "10.0.0.3", Some(("web", 8080))),
            with_ip(pod("d", PodState::ready_at(0)), "10.0.0.4", Some(("other", 1))),
        ];
        let svc = service(vec![http(Some(IntOrString::String("web".into())))]);
        let subsets = plan(&svc, &pods).unwrap().subsets.unwrap();
        let by_port: BTreeMap<i32, Vec<&str>> = subsets
            .iter()
            .map(|s| (s.ports.as_ref().unwrap()[0].port, ips(&s.addresses)))
            .collect();
        assert_eq!(
            by_port,
            BTreeMap::from([(8080, vec!["10.0.0.1", "10.0.0.3"]), (9090, vec!["10.0.0.2"])])
        );
    }

    #[test]
    fn target_port_defaults_to_service_port() {
        let pods = vec![with_ip(pod("a", PodState::ready_at(0)), "10.0.0.1", None)];
        for target in [None, Some(IntOrString::Int(0))] {
            let subsets = plan(&service(vec![http(target)]), &pods)
                .unwrap()
                .subsets
                .unwrap();
            assert_eq!(subsets[0].ports.as_ref().unwrap()[0].port, 80);
        }
    }

    #[test]
    fn publish_not_ready_and_headless_without_ports() {
        let pods = vec![with_ip(pod("c", PodState::running_not_ready()), "10.0.0.5", None)];
        let mut svc = service(vec![]);
        let spec = svc.spec.as_mut().unwrap();
        spec.publish_not_ready_addresses = Some(true);
        spec.cluster_ip = Some("None".into());
        let ep = plan(&svc, &pods).unwrap();
        let subsets = ep.subsets.unwrap();
        assert_eq!(ips(&subsets[0].addresses), vec!["10.0.0.5"]);
        assert_eq!(subsets[0].ports, None);
        assert_eq!(
            ep.metadata
                .labels
                .unwrap()
                .get(HEADLESS_LABEL)
                .map(String::as_str),
            Some("")
        );
    }

    #[test]
    fn hostname_published_only_for_matching_subdomain() {
        let mut p = with_ip(pod("a", PodState::ready_at(0)), "10.0.0.1", None);
        let spec = p.spec.as_mut().unwrap();
        spec.hostname = Some("a-0".into());
        spec.subdomain = Some("web".into());
        let subsets = plan(&service(vec![http(None)]), std::slice::from_ref(&p))
            .unwrap()
            .subsets
            .unwrap();
        assert_eq!(
            subsets[0].addresses.as_ref().unwrap()[0].hostname.as_deref(),
            Some("a-0")
        );
        p.spec.as_mut().unwrap().subdomain = Some("other".into());
        let subsets = plan(&service(vec![http(None)]), &[p]).unwrap().subsets.unwrap();
        assert_eq!(subsets[0].addresses.as_ref().unwrap()[0].hostname, None);
    }

    #[test]
    fn services_without_selector_are_not_managed() {
        let mut svc = service(vec![http(None)]);
        svc.spec.as_mut().unwrap().selector = None;
        assert_eq!(plan(&svc, &[]), None);
        svc.spec.as_mut().unwrap().selector = Some(BTreeMap::new());
        assert_eq!(plan(&svc, &[]), None);
    }

    #[test]
    fn up_to_date_compares_labels_and_subsets() {
        let pods = vec![with_ip(pod("a", PodState::ready_at(0)), "10.0.0.1", None)];
        let desired = plan(&service(vec![http(None)]), &pods).unwrap();
        let mut current = desired.clone();
        current.metadata.resource_version = Some("7".into());
        assert!(up_to_date(&current, &desired));
        current.subsets = None;
        assert!(!up_to_date(&current, &desired));
    }
}
