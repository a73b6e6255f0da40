//! core/v1 Event ↔ events.k8s.io/v1 Event.
//!
//! kube-apiserver keeps one storage for both APIs (events.k8s.io/v1 is a view of the same
//! objects), so an event recorded through either API is listed by the other, and
//! `kubectl describe` (which lists core/v1 events by `involvedObject.*`) shows events that
//! kube-runtime's Recorder POSTs to events.k8s.io/v1. Ferry stores the core/v1 form and converts
//! events.k8s.io/v1 objects on the way in and out.
//!
//! The mapping is lossless in both directions: every field of one schema has exactly one place
//! in the other (`source` stays `deprecatedSource` and is not synthesised from
//! `reportingController`, so a round trip gives back what was written).

use serde_json::{Map, Value};

/// Field renames between the two schemas: (core/v1 name, events.k8s.io/v1 name).
/// Fields with the same name in both (`metadata`, `eventTime`, `series`, `action`, `reason`,
/// `type`, `related`, `reportingInstance`) are copied as they are.
const RENAMES: &[(&str, &str)] = &[
    ("involvedObject", "regarding"),
    ("message", "note"),
    ("reportingComponent", "reportingController"),
    ("source", "deprecatedSource"),
    ("firstTimestamp", "deprecatedFirstTimestamp"),
    ("lastTimestamp", "deprecatedLastTimestamp"),
    ("count", "deprecatedCount"),
];

/// The group/version an Event is converted to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Target {
    Core,
    EventsV1,
}

fn convert(event: &Value, target: Target) -> Value {
    let Some(fields) = event.as_object() else {
        return event.clone();
    };
    let mut out = Map::with_capacity(fields.len());
    for (name, value) in fields {
        let renamed = RENAMES.iter().find_map(|(core, v1)| match target {
            Target::EventsV1 if name == core => Some(*v1),
            Target::Core if name == v1 => Some(*core),
            _ => None,
        });
        // A field of the *other* schema's spelling that has no counterpart here (e.g. a
        // `regarding` field sent in a core/v1 body) is passed through unchanged so that strict
        // field validation can still name it.
        let key = renamed.unwrap_or(name.as_str());
        match key {
            "apiVersion" => {
                out.insert(
                    key.to_string(),
                    Value::from(match target {
                        Target::Core => "v1",
                        Target::EventsV1 => "events.k8s.io/v1",
                    }),
                );
            }
            _ => {
                out.insert(key.to_string(), value.clone());
            }
        }
    }
    Value::Object(out)
}

/// An events.k8s.io/v1 Event as a core/v1 Event (the stored form).
pub fn events_v1_to_core(event: &Value) -> Value {
    convert(event, Target::Core)
}

/// A core/v1 Event (the stored form) as an events.k8s.io/v1 Event.
pub fn core_to_events_v1(event: &Value) -> Value {
    convert(event, Target::EventsV1)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    /// Pairs of (core/v1, events.k8s.io/v1) that must convert into each other both ways.
    fn cases() -> Vec<(&'static str, Value, Value)> {
        let meta = json!({"name": "demo.1", "namespace": "default", "uid": "u-9"});
        vec![
            (
                "Recorder event with a series",
                json!({
                    "apiVersion": "v1", "kind": "Event", "metadata": meta,
                    "involvedObject": {"kind": "ConfigMap", "namespace": "default", "name": "demo", "uid": "u-1"},
                    "related": {"kind": "Pod", "name": "p"},
                    "message": "synced", "reason": "Synced", "type": "Normal", "action": "Sync",
                    "reportingComponent": "ferry-controller", "reportingInstance": "ferry-0",
                    "eventTime": "2026-11-30T12:00:00.000000Z",
                    "series": {"count": 3, "lastObservedTime": "2026-11-30T12:05:00.000000Z"},
                }),
                json!({
                    "apiVersion": "events.k8s.io/v1", "kind": "Event", "metadata": meta,
                    "regarding": {"kind": "ConfigMap", "namespace": "default", "name": "demo", "uid": "u-1"},
                    "related": {"kind": "Pod", "name": "p"},
                    "note": "synced", "reason": "Synced", "type": "Normal", "action": "Sync",
                    "reportingController": "ferry-controller", "reportingInstance": "ferry-0",
                    "eventTime": "2026-11-30T12:00:00.000000Z",
                    "series": {"count": 3, "lastObservedTime": "2026-11-30T12:05:00.000000Z"},
                }),
            ),
            (
                "legacy core event with source and counts",
                json!({
                    "apiVersion": "v1", "kind": "Event", "metadata": meta,
                    "involvedObject": {"kind": "Pod", "name": "p", "fieldPath": "spec.containers{app}"},
                    "message": "Pulled", "reason": "Pulled", "type": "Normal",
                    "source": {"component": "kubelet", "host": "node-1"},
                    "firstTimestamp": "2026-11-30T11:00:00Z", "lastTimestamp": "2026-11-30T11:10:00Z",
                    "count": 4, "eventTime": null,
                }),
                json!({
                    "apiVersion": "events.k8s.io/v1", "kind": "Event", "metadata": meta,
                    "regarding": {"kind": "Pod", "name": "p", "fieldPath": "spec.containers{app}"},
                    "note": "Pulled", "reason": "Pulled", "type": "Normal",
                    "deprecatedSource": {"component": "kubelet", "host": "node-1"},
                    "deprecatedFirstTimestamp": "2026-11-30T11:00:00Z", "deprecatedLastTimestamp": "2026-11-30T11:10:00Z",
                    "deprecatedCount": 4, "eventTime": null,
                }),
            ),
            (
                "bare minimum",
                json!({"apiVersion": "v1", "kind": "Event", "metadata": meta}),
                json!({"apiVersion": "events.k8s.io/v1", "kind": "Event", "metadata": meta}),
            ),
        ]
    }

    #[test]
    fn converts_both_ways() {
        for (name, core, v1) in cases() {
            assert_eq!(core_to_events_v1(&core), v1, "{name}: core → events.k8s.io/v1");
            assert_eq!(events_v1_to_core(&v1), core, "{name}: events.k8s.io/v1 → core");
            assert_eq!(
                events_v1_to_core(&core_to_events_v1(&core)),
                core,
                "{name}: round trip"
            );
        }
    }

    #[test]
    fn non_objects_pass_through() {
        assert_eq!(core_to_events_v1(&json!("x")), json!("x"));
        assert_eq!(events_v1_to_core(&Value::Null), Value::Null);
    }
}
