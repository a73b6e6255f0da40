//! Kubernetes' protobuf encoding (`application/vnd.kubernetes.protobuf`) of the built-in kinds,
//! decoded into the object's JSON form, as kube-apiserver does for the typed clients (kubectl's
//! `create deployment|job|cronjob|service|secret|…`, `expose`, `create job --from`).
//!
//! A body is the 4-byte magic `k8s\0` and a `runtime.Unknown` envelope (typeMeta, raw bytes of
//! the kind's message). The message is decoded generically from [`table::MESSAGES`], a
//! generated table of field numbers, wire types and JSON names (see
//! `tools/gen_builtin_fields.py`), so every served built-in kind decodes with one walker.
//!
//! Go's protobuf marshaller writes non-pointer fields even when they hold their zero value
//! (`hostNetwork: false`, `workingDir: ""`), while its JSON encoder omits them (`omitempty`).
//! The decoder therefore drops zero scalars, except fields that are pointers in Go where zero is
//! a meaningful value ([`ZERO_IS_MEANINGFUL`]: `replicas: 0`, `runAsUser: 0`, …), so decoded
//! objects look like the JSON kube-apiserver would produce and defaulting sees unset fields.
//!
//! The table also carries the Go marker comments (`+patchMergeKey`, `+patchStrategy`,
//! `+listType`, `+listMapKey`) that the OpenAPI documents publish as `x-kubernetes-*`.

#[rustfmt::skip]
#[allow(clippy::all)]
mod table;

use serde_json::{Map, Value};

pub use table::MESSAGES;

/// A field's protobuf value type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ty {
    String,
    Bytes,
    Bool,
    Int32,
    Int64,
    Double,
    /// A nested message: index into [`MESSAGES`].
    Message(usize),
    /// A message with a JSON form of its own.
    Special(Special),
}

/// apimachinery types whose JSON is not an object of their fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Special {
    /// `metav1.Time`: `{seconds, nanos}` → RFC 3339 seconds.
    Time,
    /// `metav1.MicroTime`: `{seconds, nanos}` → RFC 3339 with microseconds.
    MicroTime,
    /// `metav1.Duration`: `{duration}` nanoseconds → Go duration string.
    Duration,
    /// `intstr.IntOrString`: `{type, intVal, strVal}` → number or string.
    IntOrString,
    /// `resource.Quantity`: `{string}` → string.
    Quantity,
    /// `runtime.RawExtension` / `metav1.FieldsV1`: `{raw}` → the embedded JSON.
    RawJson,
}

/// Field cardinality.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Card {
    Single,
    Repeated,
    /// `map<string, ty>` (entries are messages with key 1 and value 2).
    Map,
}

/// One field of a message.
#[derive(Debug)]
pub struct Field {
    pub tag: u32,
    /// JSON name; empty for a Go struct embedded inline (its fields belong to the parent).
    pub json: &'static str,
    pub ty: Ty,
    pub card: Card,
    /// `+patchMergeKey` (strategic merge patch), `""` if none.
    pub merge_key: &'static str,
    /// `+patchStrategy` (`merge`, `retainKeys`, `merge,retainKeys`), `""` if none.
    pub strategy: &'static str,
    /// `+listType` (`atomic`, `set`, `map`), `""` if none.
    pub list_type: &'static str,
    /// `+listMapKey`s of a `map` list.
    pub map_keys: &'static [&'static str],
}

/// One protobuf message.
#[derive(Debug)]
pub struct Message {
    /// OpenAPI schema name (`io.k8s.api.core.v1.Container`); empty for inline-only structs.
    pub schema: &'static str,
    /// Proto package path and name (`api/core/v1.Container`).
    pub proto: &'static str,
    pub fields: &'static [Field],
}

/// Fields that are pointers in Go and whose zero value means something, so a zero on the wire
/// is kept rather than treated as "unset".
pub const ZERO_IS_MEANINGFUL: &[&str] = &[
    "activeDeadlineSeconds",
    "allocateLoadBalancerNodePorts",
    "allowPrivilegeEscalation",
    "automountServiceAccountToken",
    "backoffLimit",
    "backoffLimitPerIndex",
    "blockOwnerDeletion",
    "completions",
    "controller",
    "defaultMode",
    "deletionGracePeriodSeconds",
    "enableServiceLinks",
    "failedJobsHistoryLimit",
    "fsGroup",
    "gracePeriodSeconds",
    "hostUsers",
    "immutable",
    "leaseDurationSeconds",
    "leaseTransitions",
    "manualSelector",
    "maxFailedIndexes",
    "maxSurge",
    "maxUnavailable",
    "mode",
    "optional",
    "orphanDependents",
    "parallelism",
    "partition",
    "priority",
    "privileged",
    "progressDeadlineSeconds",
    "readOnlyRootFilesystem",
    "replicas",
    "revisionHistoryLimit",
    "runAsGroup",
    "runAsNonRoot",
    "runAsUser",
    "setHostnameAsFQDN",
    "shareProcessNamespace",
    "startingDeadlineSeconds",
    "storageClassName",
    "successfulJobsHistoryLimit",
    "suspend",
    "terminationGracePeriodSeconds",
    "ttlSecondsAfterFinished",
];

/// Why a protobuf body could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProtoError {
    #[error("protobuf body does not start with the k8s envelope magic")]
    NoMagic,
    #[error("truncated or malformed protobuf in {0} at byte {1}")]
    Malformed(String, usize),
    #[error("protobuf decoding of {0} is not supported; send JSON or YAML")]
    Unsupported(String),
    #[error("protobuf message nests deeper than {0} levels")]
    TooDeep(usize),
}

const MAGIC: &[u8] = b"k8s\0";
const MAX_DEPTH: usize = 64;

/// The message of a served built-in kind, by apiVersion and kind.
pub fn message_for(api_version: &str, kind: &str) -> Option<&'static Message> {
    let package = match api_version.split_once('/') {
        None => format!("api/core/{api_version}"),
        Some(("meta.k8s.io", v)) => format!("apimachinery/pkg/apis/meta/{v}"),
        Some((group, v)) => format!("api/{}/{v}", group.strip_suffix(".k8s.io").unwrap_or(group)),
    };
    let proto = format!("{package}.{kind}");
    MESSAGES.iter().find(|m| m.proto == proto)
}

/// The message of an OpenAPI schema name (`io.k8s.api.core.v1.PodSpec`).
pub fn message_by_schema(schema: &str) -> Option<&'static Message> {
    MESSAGES.iter().find(|m| m.schema == schema)
}

/// Decodes a `k8s\0`-prefixed `runtime.Unknown` body of a built-in kind into its JSON form
/// (with `apiVersion` and `kind` from the envelope).
pub fn decode(body: &[u8]) -> Result<Value, ProtoError> {
    let envelope = body.strip_prefix(MAGIC).ok_or(ProtoError::NoMagic)?;
    let mut api_version = String::new();
    let mut kind = String::new();
    let mut raw: &[u8] = &[];
    let mut r = Reader::new(envelope, "runtime.Unknown");
    while let Some((tag, value)) = r.next()? {
        match (tag, value) {
            (1, Wire::Bytes(type_meta)) => {
                let mut t = Reader::new(type_meta, "runtime.TypeMeta");
                while let Some((tag, v)) = t.next()? {
                    match (tag, v) {
                        (1, Wire::Bytes(b)) => api_version = lossy(b),
                        (2, Wire::Bytes(b)) => kind = lossy(b),
                        _ => {}
                    }
                }
            }
            (2, Wire::Bytes(b)) => raw = b,
            _ => {}
        }
    }
    let message = message_for(&api_version, &kind)
        .ok_or_else(|| ProtoError::Unsupported(format!("{api_version}, Kind={kind}")))?;
    let mut obj = Map::new();
    obj.insert("apiVersion".into(), Value::String(api_version));
    obj.insert("kind".into(), Value::String(kind));
    decode_into(message, raw, &mut obj, 0)?;
    Ok(Value::Object(obj))
}

/// Decodes one message's bytes into a JSON object.
pub fn decode_message(message: &Message, bytes: &[u8]) -> Result<Value, ProtoError> {
    let mut obj = Map::new();
    decode_into(message, bytes, &mut obj, 0)?;
    Ok(Value::Object(obj))
}

fn lossy(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// One wire value.
#[derive(Debug, Clone, Copy)]
enum Wire<'a> {
    Varint(u64),
    Fixed64(u64),
    Bytes(&'a [u8]),
    Fixed32,
}

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    what: &'static str,
}

impl<'a> Reader<'a> {
    fn new(buf: &'a [u8], what: &'static str) -> Self {
        Self { buf, pos: 0, what }
    }

    fn malformed(&self) -> ProtoError {
        ProtoError::Malformed(self.what.to_string(), self.pos)
    }

    fn varint(&mut self) -> Result<u64, ProtoError> {
        let mut out = 0u64;
        for shift in (0..64).step_by(7) {
            let b = *self.buf.get(self.pos).ok_or_else(|| self.malformed())?;
            self.pos += 1;
            out |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(out);
            }
        }
        Err(self.malformed())
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], ProtoError> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|e| *e <= self.buf.len())
            .ok_or_else(|| self.malformed())?;
        let out = self.buf.get(self.pos..end).ok_or_else(|| self.malformed())?;
        self.pos = end;
        Ok(out)
    }

    fn next(&mut self) -> Result<Option<(u64, Wire<'a>)>, ProtoError> {
        if self.pos >= self.buf.len() {
            return Ok(None);
        }
        let key = self.varint()?;
        let value = match key & 7 {
            0 => Wire::Varint(self.varint()?),
            1 => {
                let b = self.take(8)?;
                Wire::Fixed64(u64::from_le_bytes(b.try_into().map_err(|_| self.malformed())?))
            }
            2 => {
                let len = usize::try_from(self.varint()?).map_err(|_| self.malformed())?;
                Wire::Bytes(self.take(len)?)
            }
            5 => {
                self.take(4)?;
                Wire::Fixed32
            }
            _ => return Err(self.malformed()),
        };
        Ok(Some((key >> 3, value)))
    }
}

fn decode_into(
    message: &Message,
    bytes: &[u8],
    obj: &mut Map<String, Value>,
    depth: usize,
) -> Result<(), ProtoError> {
    if depth > MAX_DEPTH {
        return Err(ProtoError::TooDeep(MAX_DEPTH));
    }
    let mut r = Reader::new(bytes, message.proto);
    while let Some((tag, wire)) = r.next()? {
        let Some(field) = message.fields.iter().find(|f| u64::from(f.tag) == tag) else {
            continue; // unknown field numbers are skipped, as proto2 decoders do
        };
        if field.json.is_empty() {
            // An inline Go struct: its fields land in this object.
            if let (Ty::Message(i), Wire::Bytes(b)) = (field.ty, wire)
                && let Some(inner) = MESSAGES.get(i)
            {
                decode_into(inner, b, obj, depth + 1)?;
            }
            continue;
        }
        match field.card {
            Card::Single => {
                let v = scalar_or_message(field.ty, wire, message, depth)?;
                obj.insert(field.json.to_string(), v);
            }
            Card::Repeated => {
                let list = obj
                    .entry(field.json.to_string())
                    .or_insert_with(|| Value::Array(Vec::new()));
                let Value::Array(items) = list else { continue };
                match (field.ty, wire) {
                    // Packed repeated numbers.
                    (Ty::Int32 | Ty::Int64 | Ty::Bool, Wire::Bytes(b)) => {
                        let mut p = Reader::new(b, message.proto);
                        while p.pos < b.len() {
                            let n = p.varint()?;
                            items.push(varint_value(field.ty, n));
                        }
                    }
                    _ => items.push(scalar_or_message(field.ty, wire, message, depth)?),
                }
            }
            Card::Map => {
                let Wire::Bytes(entry) = wire else {
                    return Err(r.malformed());
                };
                let mut key = String::new();
                let mut value = zero_of(field.ty);
                let mut e = Reader::new(entry, message.proto);
                while let Some((etag, ewire)) = e.next()? {
                    match (etag, ewire) {
                        (1, Wire::Bytes(k)) => key = lossy(k),
                        (2, w) => value = scalar_or_message(field.ty, w, message, depth)?,
                        _ => {}
                    }
                }
                let map = obj
                    .entry(field.json.to_string())
                    .or_insert_with(|| Value::Object(Map::new()));
                if let Value::Object(m) = map {
                    m.insert(key, value);
                }
            }
        }
    }
    drop_go_zero_values(message, obj);
    Ok(())
}

/// Removes single scalar fields holding Go's zero value (what `omitempty` hides in JSON),
/// except those whose zero is meaningful; zero times and int-or-strings go too.
fn drop_go_zero_values(message: &Message, obj: &mut Map<String, Value>) {
    for f in message.fields {
        if f.card != Card::Single || f.json.is_empty() {
            continue;
        }
        let Some(v) = obj.get(f.json) else { continue };
        let zero = match (f.ty, v) {
            (Ty::Message(_), _) => false,
            (_, Value::Null) => true,
            (Ty::Special(Special::IntOrString), v) => v.as_i64() == Some(0),
            (Ty::Special(_), _) => false,
            (_, Value::String(s)) => s.is_empty(),
            (_, Value::Bool(b)) => !b,
            (_, Value::Number(n)) => n.as_f64() == Some(0.0),
            _ => false,
        };
        if v.is_null() || (zero && !ZERO_IS_MEANINGFUL.contains(&f.json)) {
            obj.remove(f.json);
        }
    }
}

fn zero_of(ty: Ty) -> Value {
    match ty {
        Ty::String | Ty::Bytes => Value::String(String::new()),
        Ty::Bool => Value::Bool(false),
        Ty::Int32 | Ty::Int64 | Ty::Double => Value::from(0),
        Ty::Message(_) => Value::Object(Map::new()),
        Ty::Special(_) => Value::Null,
    }
}

fn varint_value(ty: Ty, n: u64) -> Value {
    match ty {
        Ty::Bool => Value::Bool(n != 0),
        // int32 is sign-extended to 64 bits on the wire; truncation restores it.
        Ty::Int32 => Value::from(i64::from(n as i32)),
        _ => Value::from(n as i64),
    }
}

fn scalar_or_message(ty: Ty, wire: Wire<'_>, parent: &Message, depth: usize) -> Result<Value, ProtoError> {
    let malformed = || ProtoError::Malformed(parent.proto.to_string(), 0);
    Ok(match (ty, wire) {
        (Ty::String, Wire::Bytes(b)) => Value::String(lossy(b)),
        (Ty::Bytes, Wire::Bytes(b)) => Value::String(base64_encode(b)),
        (Ty::Bool | Ty::Int32 | Ty::Int64, Wire::Varint(n)) => varint_value(ty, n),
        (Ty::Double, Wire::Fixed64(bits)) => serde_json::Number::from_f64(f64::from_bits(bits))
            .map(Value::Number)
            .unwrap_or(Value::Null),
        (Ty::Message(i), Wire::Bytes(b)) => {
            let inner = MESSAGES.get(i).ok_or_else(malformed)?;
            let mut obj = Map::new();
            decode_into(inner, b, &mut obj, depth + 1)?;
            Value::Object(obj)
        }
        (Ty::Special(s), Wire::Bytes(b)) => special(s, b, parent)?,
        _ => return Err(malformed()),
    })
}

/// Decodes the `(varint fields, bytes fields)` of a small apimachinery message.
fn small_message<'a>(b: &'a [u8], parent: &Message) -> Result<SmallMessage<'a>, ProtoError> {
    let mut out = SmallMessage::default();
    let mut r = Reader::new(b, parent.proto);
    while let Some((tag, wire)) = r.next()? {
        match wire {
            Wire::Varint(n) => out.ints.push((tag, n)),
            Wire::Bytes(v) => out.bytes.push((tag, v)),
            Wire::Fixed32 | Wire::Fixed64(_) => {}
        }
    }
    Ok(out)
}

#[derive(Default)]
struct SmallMessage<'a> {
    ints: Vec<(u64, u64)>,
    bytes: Vec<(u64, &'a [u8])>,
}

impl SmallMessage<'_> {
    fn int(&self, tag: u64) -> Option<u64> {
        self.ints.iter().rev().find(|(t, _)| *t == tag).map(|(_, n)| *n)
    }
    fn bytes(&self, tag: u64) -> Option<&[u8]> {
        self.bytes.iter().rev().find(|(t, _)| *t == tag).map(|(_, b)| *b)
    }
}

fn special(s: Special, b: &[u8], parent: &Message) -> Result<Value, ProtoError> {
    let m = small_message(b, parent)?;
    Ok(match s {
        Special::Time | Special::MicroTime => {
            let seconds = m.int(1).map(|n| n as i64).unwrap_or(0);
            let nanos = m.int(2).map(|n| n as i64).unwrap_or(0);
            if seconds == 0 && nanos == 0 {
                Value::Null
            } else {
                Value::String(rfc3339(seconds, nanos, s == Special::MicroTime))
            }
        }
        Special::Duration => Value::String(go_duration(m.int(1).map(|n| n as i64).unwrap_or(0))),
        Special::IntOrString => match m.int(1) {
            Some(1) => Value::String(m.bytes(3).map(lossy).unwrap_or_default()),
            _ => Value::from(m.int(2).map(|n| i64::from(n as i32)).unwrap_or(0)),
        },
        Special::Quantity => Value::String(m.bytes(1).map(lossy).unwrap_or_default()),
        Special::RawJson => match m.bytes(1) {
            Some(raw) if !raw.is_empty() => serde_json::from_slice(raw)
                .map_err(|_| ProtoError::Malformed(format!("{} raw JSON", parent.proto), 0))?,
            _ => Value::Null,
        },
    })
}

fn base64_encode(b: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(b.len().div_ceil(3) * 4);
    for chunk in b.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |acc, (i, byte)| acc | (u32::from(*byte) << (16 - 8 * i)));
        for i in 0..4 {
            if i <= chunk.len() {
                let idx = ((n >> (18 - 6 * i)) & 63) as usize;
                out.push(char::from(ALPHABET[idx]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// `2024-01-02T03:04:05Z` (with `.000000` microseconds for MicroTime).
fn rfc3339(seconds: i64, nanos: i64, micro: bool) -> String {
    let days = seconds.div_euclid(86_400);
    let secs_of_day = seconds.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    let (hh, mm, ss) = (secs_of_day / 3600, secs_of_day % 3600 / 60, secs_of_day % 60);
    if micro {
        format!(
            "{y:04}-{m:02}-{d:02}T{hh:02}:{mm:02}:{ss:02}.{:06}Z",
            nanos / 1000
        )
    } else {
        format!("{y:04}-{m:02}-{d:02}T{hh:02}:{mm:02}:{ss:02}Z")
    }
}

/// Days since 1970-01-01 → (year, month, day) in the proleptic Gregorian calendar.
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// Go's `time.Duration.String()` for whole units (`1h0m0s`, `30s`, `1.5s`, `0s`).
fn go_duration(nanos: i64) -> String {
    if nanos == 0 {
        return "0s".into();
    }
    let sign = if nanos < 0 { "-" } else { "" };
    let n = nanos.unsigned_abs();
    if n < 1_000_000_000 {
        return match n {
            n if n < 1_000 => format!("{sign}{n}ns"),
            n if n < 1_000_000 => format!("{sign}{}µs", trim_fraction(n, 1_000)),
            n => format!("{sign}{}ms", trim_fraction(n, 1_000_000)),
        };
    }
    let (h, rest) = (n / 3_600_000_000_000, n % 3_600_000_000_000);
    let (m, rest) = (rest / 60_000_000_000, rest % 60_000_000_000);
    let secs = trim_fraction(rest, 1_000_000_000);
    match (h, m) {
        (0, 0) => format!("{sign}{secs}s"),
        (0, m) => format!("{sign}{m}m{secs}s"),
        (h, m) => format!("{sign}{h}h{m}m{secs}s"),
    }
}

fn trim_fraction(n: u64, unit: u64) -> String {
    let (whole, frac) = (n / unit, n % unit);
    if frac == 0 {
        return whole.to_string();
    }
    let digits = unit.to_string().len() - 1;
    let f = format!("{frac:0digits$}");
    format!("{whole}.{}", f.trim_end_matches('0'))
}

#[cfg(test)]
mod tests;
