//! A minimal reader of Kubernetes' protobuf encoding (`application/vnd.kubernetes.protobuf`), which
//! kubectl uses for typed `kubectl create namespace|configmap|secret|serviceaccount` requests.
//! Only those kinds (and the ObjectMeta fields they carry) are decoded; other kinds get 415.

use base64::Engine;
use serde_json::{Map, Value, json};

const MAGIC: &[u8] = b"k8s\0";

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ProtoError {
    #[error("protobuf body does not start with the k8s envelope magic")]
    NoMagic,
    #[error("truncated or malformed protobuf at byte {0}")]
    Malformed(usize),
    #[error("protobuf decoding of {0} is not supported; send JSON or YAML")]
    Unsupported(String),
}

enum Field<'a> {
    Varint(u64),
    Bytes(&'a [u8]),
}

fn varint(buf: &[u8], pos: &mut usize) -> Result<u64, ProtoError> {
    let mut out = 0u64;
    for shift in (0..64).step_by(7) {
        let b = *buf.get(*pos).ok_or(ProtoError::Malformed(*pos))?;
        *pos += 1;
        out |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            return Ok(out);
        }
    }
    Err(ProtoError::Malformed(*pos))
}

/// All (field number, value) pairs of one message.
fn fields(buf: &[u8]) -> Result<Vec<(u64, Field<'_>)>, ProtoError> {
    let mut pos = 0;
    let mut out = Vec::new();
    while pos < buf.len() {
        let key = varint(buf, &mut pos)?;
        let (num, wire) = (key >> 3, key & 7);
        match wire {
            0 => out.push((num, Field::Varint(varint(buf, &mut pos)?))),
            2 => {
                let len = usize::try_from(varint(buf, &mut pos)?).map_err(|_| ProtoError::Malformed(pos))?;
                let end = pos
                    .checked_add(len)
                    .filter(|e| *e <= buf.len())
                    .ok_or(ProtoError::Malformed(pos))?;
                out.push((num, Field::Bytes(&buf[pos..end])));
                pos = end;
            }
            1 => pos = pos.checked_add(8).ok_or(ProtoError::Malformed(pos))?,
            5 => pos = pos.checked_add(4).ok_or(ProtoError::Malformed(pos))?,
            _ => return Err(ProtoError::Malformed(pos)),
        }
    }
    Ok(out)
}

fn text(b: &[u8]) -> Value {
    Value::String(String::from_utf8_lossy(b).into_owned())
}

fn map_entry(b: &[u8], value_as_base64: bool) -> Result<(String, Value), ProtoError> {
    let mut key = String::new();
    let mut value = Value::String(String::new());
    for (n, f) in fields(b)? {
        if let Field::Bytes(v) = f {
            match n {
                1 => key = String::from_utf8_lossy(v).into_owned(),
                2 if value_as_base64 => value = json!(base64::engine::general_purpose::STANDARD.encode(v)),
                2 => value = text(v),
                _ => {}
            }
        }
    }
    Ok((key, value))
}

fn insert_map(obj: &mut Map<String, Value>, field: &str, entry: (String, Value)) {
    let m = obj.entry(field.to_string()).or_insert_with(|| json!({}));
    if let Some(m) = m.as_object_mut() {
        m.insert(entry.0, entry.1);
    }
}

fn object_meta(b: &[u8]) -> Result<Value, ProtoError> {
    let mut m = Map::new();
    for (n, f) in fields(b)? {
        match (n, f) {
            (1, Field::Bytes(v)) => {
                m.insert("name".into(), text(v));
            }
            (2, Field::Bytes(v)) => {
                m.insert("generateName".into(), text(v));
            }
            (3, Field::Bytes(v)) => {
                m.insert("namespace".into(), text(v));
            }
            (6, Field::Bytes(v)) if !v.is_empty() => {
                m.insert("resourceVersion".into(), text(v));
            }
            (11, Field::Bytes(v)) => insert_map(&mut m, "labels", map_entry(v, false)?),
            (12, Field::Bytes(v)) => insert_map(&mut m, "annotations", map_entry(v, false)?),
            (14, Field::Bytes(v)) => {
                let list = m.entry("finalizers").or_insert_with(|| json!([]));
                if let Some(a) = list.as_array_mut() {
                    a.push(text(v));
                }
            }
            _ => {}
        }
    }
    Ok(Value::Object(m))
}

fn decode_kind(kind: &str, raw: &[u8]) -> Result<Map<String, Value>, ProtoError> {
    let mut obj = Map::new();
    for (n, f) in fields(raw)? {
        let Field::Bytes(v) = f else {
            if let (("ConfigMap", 4) | ("Secret", 5), Field::Varint(x)) = ((kind, n), f) {
                obj.insert("immutable".into(), json!(x != 0));
            }
            continue;
        };
        match (kind, n) {
            (_, 1) => {
                obj.insert("metadata".into(), object_meta(v)?);
            }
            ("ConfigMap", 2) => insert_map(&mut obj, "data", map_entry(v, false)?),
            ("ConfigMap", 3) => insert_map(&mut obj, "binaryData", map_entry(v, true)?),
            ("Secret", 2) => insert_map(&mut obj, "data", map_entry(v, true)?),
            ("Secret", 3) => {
                obj.insert("type".into(), text(v));
            }
            ("Secret", 4) => insert_map(&mut obj, "stringData", map_entry(v, false)?),
            ("Namespace", 2) => {
                let mut fin = Vec::new();
                for (sn, sf) in fields(v)? {
                    if let (1, Field::Bytes(s)) = (sn, sf) {
                        fin.push(text(s));
                    }
                }
                obj.insert("spec".into(), json!({"finalizers": fin}));
            }
            _ => {}
        }
    }
    Ok(obj)
}

/// Decodes a protobuf request body of a supported kind into its JSON form.
pub fn decode(body: &[u8]) -> Result<Value, ProtoError> {
    let envelope = body.strip_prefix(MAGIC).ok_or(ProtoError::NoMagic)?;
    let mut api_version = String::new();
    let mut kind = String::new();
    let mut raw: &[u8] = &[];
    for (n, f) in fields(envelope)? {
        match (n, f) {
            (1, Field::Bytes(tm)) => {
                for (tn, tf) in fields(tm)? {
                    match (tn, tf) {
                        (1, Field::Bytes(v)) => api_version = String::from_utf8_lossy(v).into_owned(),
                        (2, Field::Bytes(v)) => kind = String::from_utf8_lossy(v).into_owned(),
                        _ => {}
                    }
                }
            }
            (2, Field::Bytes(v)) => raw = v,
            _ => {}
        }
    }
    if api_version != "v1"
        || !matches!(
            kind.as_str(),
            "Namespace" | "ConfigMap" | "Secret" | "ServiceAccount"
        )
    {
        return Err(ProtoError::Unsupported(format!("{api_version}/{kind}")));
    }
    let mut obj = decode_kind(&kind, raw)?;
    obj.insert("apiVersion".into(), json!(api_version));
    obj.insert("kind".into(), json!(kind));
    Ok(Value::Object(obj))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tag(n: u64, wire: u64) -> u8 {
        ((n << 3) | wire) as u8
    }

    fn bytes(n: u64, v: &[u8]) -> Vec<u8> {
        let mut out = vec![tag(n, 2), v.len() as u8];
        out.extend_from_slice(v);
        out
    }

    #[test]
    fn decodes_a_configmap_envelope() {
        let mut entry = bytes(1, b"k");
        entry.extend(bytes(2, b"v"));
        let mut meta = bytes(1, b"demo");
        meta.extend(bytes(3, b"default"));
        let mut label = bytes(1, b"app");
        label.extend(bytes(2, b"x"));
        meta.extend(bytes(11, &label));
        let mut cm = bytes(1, &meta);
        cm.extend(bytes(2, &entry));
        let mut type_meta = bytes(1, b"v1");
        type_meta.extend(bytes(2, b"ConfigMap"));
        let mut envelope = b"k8s\0".to_vec();
        envelope.extend(bytes(1, &type_meta));
        envelope.extend(bytes(2, &cm));
        let v = decode(&envelope).unwrap();
        assert_eq!(
            v,
            json!({"metadata": {"name": "demo", "namespace": "default", "labels": {"app": "x"}}, "data": {"k": "v"}, "apiVersion": "v1", "kind": "ConfigMap"})
        );
    }

    #[test]
    fn rejects_garbage_and_unsupported_kinds() {
        assert_eq!(decode(b"nope"), Err(ProtoError::NoMagic));
        assert!(matches!(decode(b"k8s\0\x0a\xff"), Err(ProtoError::Malformed(_))));
        let mut type_meta = bytes(1, b"apps/v1");
        type_meta.extend(bytes(2, b"Deployment"));
        let mut envelope = b"k8s\0".to_vec();
        envelope.extend(bytes(1, &type_meta));
        assert_eq!(
            decode(&envelope),
            Err(ProtoError::Unsupported("apps/v1/Deployment".into()))
        );
    }
}
