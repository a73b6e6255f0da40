//! Builders for the planners' table-driven tests.

use jiff::Timestamp;
use k8s_openapi::api::core::v1::{Pod, PodCondition, PodSpec, PodStatus};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use crate::util;

/// `secs` seconds after a fixed instant.
pub fn at(secs: i64) -> Timestamp {
    Timestamp::from_second(1_700_000_000 + secs).unwrap_or(Timestamp::UNIX_EPOCH)
}

/// The observable state of a test pod.
#[derive(Debug, Clone)]
pub struct PodState {
    pub phase: &'static str,
    pub node: Option<&'static str>,
    pub ready_since: Option<i64>,
    pub ip: Option<&'static str>,
}

impl PodState {
    pub fn ready_at(secs: i64) -> Self {
        PodState {
            phase: "Running",
            node: Some("node-0"),
            ready_since: Some(secs),
            ip: Some("10.0.0.1"),
        }
    }
    pub fn running_not_ready() -> Self {
        PodState {
            phase: "Running",
            node: Some("node-0"),
            ready_since: None,
            ip: Some("10.0.0.2"),
        }
    }
    pub fn phase(phase: &'static str) -> Self {
        PodState {
            phase,
            node: Some("node-0"),
            ready_since: None,
            ip: None,
        }
    }
    pub fn unscheduled() -> Self {
        PodState {
            phase: "Pending",
            node: None,
            ready_since: None,
            ip: None,
        }
    }
}

/// A pod labelled `app=web` in `default` with the given state.
pub fn pod(name: &str, state: PodState) -> Pod {
    let ready = PodCondition {
        type_: "Ready".into(),
        status: if state.ready_since.is_some() {
            "True"
        } else {
            "False"
        }
        .into(),
        last_transition_time: state.ready_since.map(|s| util::time(at(s))),
        ..PodCondition::default()
    };
    Pod {
        metadata: ObjectMeta {
            name: Some(name.into()),
            namespace: Some("default".into()),
            uid: Some(format!("{name}-uid")),
            labels: Some([("app".into(), "web".into()), ("tier".into(), "fe".into())].into()),
            creation_timestamp: Some(util::time(at(0))),
            ..ObjectMeta::default()
        },
        spec: Some(PodSpec {
            node_name: state.node.map(String::from),
            ..PodSpec::default()
        }),
        status: Some(PodStatus {
            phase: Some(state.phase.into()),
            conditions: Some(vec![ready]),
            pod_ip: state.ip.map(String::from),
            ..PodStatus::default()
        }),
    }
}
