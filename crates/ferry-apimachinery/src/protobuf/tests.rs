use super::*;
use serde_json::json;

/// A tiny protobuf writer for building test bodies.
#[derive(Default)]
struct W(Vec<u8>);

impl W {
    fn varint(&mut self, mut n: u64) {
        loop {
            let b = (n & 0x7f) as u8;
            n >>= 7;
            if n == 0 {
                self.0.push(b);
                return;
            }
            self.0.push(b | 0x80);
        }
    }
    fn int(mut self, tag: u64, n: i64) -> Self {
        self.varint(tag << 3);
        self.varint(n as u64);
        self
    }
    fn bytes(mut self, tag: u64, b: &[u8]) -> Self {
        self.varint((tag << 3) | 2);
        self.varint(b.len() as u64);
        self.0.extend_from_slice(b);
        self
    }
    fn str(self, tag: u64, s: &str) -> Self {
        self.bytes(tag, s.as_bytes())
    }
    fn msg(self, tag: u64, m: W) -> Self {
        self.bytes(tag, &m.0)
    }
    fn entry(self, tag: u64, k: &str, v: &str) -> Self {
        self.msg(tag, W::default().str(1, k).str(2, v))
    }
}

fn envelope(api_version: &str, kind: &str, raw: W) -> Vec<u8> {
    let mut out = b"k8s\0".to_vec();
    out.extend(
        W::default()
            .msg(1, W::default().str(1, api_version).str(2, kind))
            .msg(2, raw)
            .str(4, "application/vnd.kubernetes.protobuf")
            .0,
    );
    out
}

/// ObjectMeta as Go writes it: non-pointer fields present even when empty.
fn meta(name: &str, labels: &[(&str, &str)]) -> W {
    let mut m = W::default()
        .str(1, name)
        .str(2, "")
        .str(3, "")
        .str(5, "")
        .str(6, "")
        .int(7, 0)
        .msg(8, W::default());
    for (k, v) in labels {
        m = m.entry(11, k, v);
    }
    m
}

#[test]
fn deployment_as_kubectl_create_sends_it() {
    // kubectl create deployment web --image=nginx:1.25 --replicas=2 (abridged, real field numbers).
    let container = W::default()
        .str(1, "nginx")
        .str(2, "nginx:1.25")
        .str(5, "")
        .msg(8, W::default())
        .str(13, "")
        .str(14, "")
        .int(16, 0)
        .int(17, 0)
        .int(18, 0);
    let pod_spec = W::default()
        .msg(2, container)
        .str(3, "")
        .str(6, "")
        .int(11, 0)
        .int(12, 0)
        .int(13, 0);
    let template = W::default().msg(1, meta("", &[("app", "web")])).msg(2, pod_spec);
    let selector = W::default().entry(1, "app", "web");
    let strategy = W::default();
    let spec = W::default()
        .int(1, 2)
        .msg(2, selector)
        .msg(3, template)
        .msg(4, strategy)
        .int(5, 0)
        .int(7, 0);
    let body = envelope(
        "apps/v1",
        "Deployment",
        W::default()
            .msg(1, meta("web", &[("app", "web")]))
            .msg(2, spec)
            .msg(3, W::default()),
    );
    let got = decode(&body).unwrap();
    assert_eq!(
        got,
        json!({
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "web", "labels": {"app": "web"}},
            "spec": {
                "replicas": 2,
                "selector": {"matchLabels": {"app": "web"}},
                "template": {
                    "metadata": {"labels": {"app": "web"}},
                    "spec": {"containers": [{"name": "nginx", "image": "nginx:1.25", "resources": {}}]}
                },
                "strategy": {}
            },
            "status": {}
        })
    );
}

#[test]
fn special_types_decode_to_their_json_form() {
    // Service with an int-or-string targetPort (string form), and a Job with a time.
    let port = W::default()
        .str(1, "http")
        .str(2, "TCP")
        .int(3, 80)
        .msg(4, W::default().int(1, 1).int(2, 0).str(3, "web"))
        .int(5, 0);
    let port_int = W::default()
        .str(2, "TCP")
        .int(3, 81)
        .msg(4, W::default().int(1, 0).int(2, 8081));
    let port_zero = W::default()
        .str(2, "TCP")
        .int(3, 82)
        .msg(4, W::default().int(1, 0).int(2, 0));
    let svc = envelope(
        "v1",
        "Service",
        W::default().msg(1, meta("s", &[])).msg(
            2,
            W::default()
                .msg(1, port)
                .msg(1, port_int)
                .msg(1, port_zero)
                .entry(2, "app", "s")
                .str(4, "ClusterIP"),
        ),
    );
    assert_eq!(
        decode(&svc).unwrap()["spec"],
        json!({"ports": [
            {"name": "http", "protocol": "TCP", "port": 80, "targetPort": "web"},
            {"protocol": "TCP", "port": 81, "targetPort": 8081},
            {"protocol": "TCP", "port": 82}
        ], "selector": {"app": "s"}, "type": "ClusterIP"})
    );

    // creationTimestamp set (2024-02-29T12:34:56Z) and a zero one (dropped).
    let with_time = W::default()
        .str(1, "t")
        .msg(8, W::default().int(1, 1_709_210_096));
    let ns = envelope("v1", "Namespace", W::default().msg(1, with_time));
    assert_eq!(
        decode(&ns).unwrap()["metadata"],
        json!({"name": "t", "creationTimestamp": "2024-02-29T12:34:56Z"})
    );

    // Secret data is bytes → base64; Quantity in a resource list.
    let secret = envelope(
        "v1",
        "Secret",
        W::default()
            .msg(1, meta("s", &[]))
            .msg(2, W::default().str(1, "k").bytes(2, b"hello!?"))
            .str(3, "Opaque"),
    );
    assert_eq!(decode(&secret).unwrap()["data"], json!({"k": "aGVsbG8hPw=="}));
}

#[test]
fn meaningful_zeroes_are_kept() {
    let spec = W::default().int(1, 0).int(6, 0);
    let body = envelope(
        "apps/v1",
        "Deployment",
        W::default().msg(1, meta("z", &[])).msg(2, spec),
    );
    let got = decode(&body).unwrap();
    assert_eq!(got["spec"], json!({"replicas": 0, "revisionHistoryLimit": 0}));
}

#[test]
fn inline_structs_merge_into_parent() {
    // Volume{name, volumeSource{configMap{localObjectReference{name}}}} → flat JSON.
    let cm_source = W::default().msg(1, W::default().str(1, "cfg"));
    let volume = W::default().str(1, "v").msg(2, W::default().msg(19, cm_source));
    let pod_spec = W::default().msg(1, volume);
    let body = envelope("v1", "Pod", W::default().msg(1, meta("p", &[])).msg(2, pod_spec));
    assert_eq!(
        decode(&body).unwrap()["spec"]["volumes"],
        json!([{"name": "v", "configMap": {"name": "cfg"}}])
    );
}

#[test]
fn bad_bodies_are_errors_not_panics() {
    assert_eq!(decode(b"nope"), Err(ProtoError::NoMagic));
    assert!(matches!(decode(b"k8s\0\x0a\xff"), Err(ProtoError::Malformed(..))));
    let unknown_kind = envelope("example.com/v1", "Widget", W::default());
    assert_eq!(
        decode(&unknown_kind),
        Err(ProtoError::Unsupported("example.com/v1, Kind=Widget".into()))
    );
    // Truncated nested message.
    let mut body = envelope("v1", "ConfigMap", W::default().msg(1, meta("x", &[])));
    body.truncate(body.len() - 3);
    assert!(decode(&body).is_err());
    // Every prefix of a valid body decodes or errors without panicking.
    let full = envelope(
        "apps/v1",
        "Deployment",
        W::default().msg(1, meta("web", &[("a", "b")])),
    );
    for n in 0..full.len() {
        let _ = decode(full.get(..n).unwrap_or_default());
    }
}

#[test]
fn every_served_kind_has_a_message() {
    let kinds = [
        ("v1", "Namespace"),
        ("v1", "Pod"),
        ("v1", "Service"),
        ("v1", "Endpoints"),
        ("v1", "ConfigMap"),
        ("v1", "Secret"),
        ("v1", "ServiceAccount"),
        ("v1", "Event"),
        ("v1", "PersistentVolumeClaim"),
        ("v1", "Node"),
        ("apps/v1", "Deployment"),
        ("apps/v1", "ReplicaSet"),
        ("apps/v1", "StatefulSet"),
        ("apps/v1", "DaemonSet"),
        ("apps/v1", "ControllerRevision"),
        ("batch/v1", "Job"),
        ("batch/v1", "CronJob"),
        ("networking.k8s.io/v1", "Ingress"),
        ("coordination.k8s.io/v1", "Lease"),
        ("events.k8s.io/v1", "Event"),
        ("autoscaling/v1", "Scale"),
    ];
    for (av, kind) in kinds {
        let m = message_for(av, kind).unwrap_or_else(|| panic!("{av} {kind}"));
        assert!(m.schema.ends_with(kind), "{av} {kind}: {}", m.schema);
    }
    // Every message reference points inside the table.
    for m in MESSAGES {
        for f in m.fields {
            if let Ty::Message(i) = f.ty {
                assert!(i < MESSAGES.len(), "{} {}", m.proto, f.json);
            }
        }
    }
}

#[test]
fn durations_and_times_format_like_go() {
    let cases = [
        (0, "0s"),
        (1_500_000_000, "1.5s"),
        (90_000_000_000, "1m30s"),
        (3_600_000_000_000, "1h0m0s"),
        (2_000_000, "2ms"),
    ];
    for (n, want) in cases {
        assert_eq!(go_duration(n), want);
    }
    assert_eq!(rfc3339(0, 0, false), "1970-01-01T00:00:00Z");
    assert_eq!(rfc3339(951_782_400, 0, false), "2000-02-29T00:00:00Z");
    assert_eq!(
        rfc3339(1_700_000_000, 123_456_789, true),
        "2023-11-14T22:13:20.123456Z"
    );
}
