//! `meta.k8s.io/v1` Table output (`Accept: application/json;as=Table;v=v1;g=meta.k8s.io`), the
//! columns kube-apiserver's printers produce for built-in kinds, CRD `additionalPrinterColumns`
//! (with a small JSONPath evaluator) and kubectl's age format.
//!
//! Entry points: [`to_table`] (a list or a single watch-event object), [`columns_for`],
//! [`human_duration`], [`parse_rfc3339`], [`jsonpath`], [`IncludeObject::parse`].

use serde_json::{Map, Value, json};

/// A column of the table.
#[derive(Debug, Clone, PartialEq)]
pub struct Column {
    /// Header (`Name`, `Ready`, …).
    pub name: String,
    /// `string`, `integer`, `number`, `boolean` or `date`.
    pub type_: String,
    /// `name` for the name column, otherwise usually empty.
    pub format: String,
    /// Description.
    pub description: String,
    /// 0 = shown by default, 1+ = only with `-o wide`.
    pub priority: i64,
    /// For CRD columns: the JSONPath; for built-in columns: empty (computed by the printer).
    pub json_path: String,
}

impl Column {
    fn new(name: &str, type_: &str, priority: i64, description: &str) -> Self {
        Column {
            name: name.into(),
            type_: type_.into(),
            format: if name == "Name" {
                "name".into()
            } else {
                String::new()
            },
            description: description.into(),
            priority,
            json_path: String::new(),
        }
    }

    /// The `columnDefinitions` entry.
    pub fn definition(&self) -> Value {
        json!({"name": self.name, "type": self.type_, "format": self.format, "description": self.description, "priority": self.priority})
    }
}

/// What each row's `object` holds (`includeObject` query parameter).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum IncludeObject {
    /// No object.
    None,
    /// A `PartialObjectMetadata` (the default).
    #[default]
    Metadata,
    /// The whole object.
    Object,
}

impl IncludeObject {
    /// Parses `None|Metadata|Object`; absent = Metadata.
    pub fn parse(v: Option<&str>) -> Result<Self, String> {
        match v.unwrap_or("") {
            "" | "Metadata" => Ok(Self::Metadata),
            "None" => Ok(Self::None),
            "Object" => Ok(Self::Object),
            other => Err(format!(
                "includeObject: Unsupported value: {other:?}: supported values: \"None\", \"Metadata\", \"Object\""
            )),
        }
    }
}

const NAME_DESC: &str = "Name must be unique within a namespace. Is required when creating resources, although some resources may allow a client to request the generation of an appropriate name automatically. Name is primarily intended for creation idempotence and configuration definition. Cannot be updated. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names";
const AGE_DESC: &str = "CreationTimestamp is a timestamp representing the server time when this object was created. It is not guaranteed to be set in happens-before order across separate operations. Clients may not set this value. It is represented in RFC3339 form and is in UTC.";

/// The columns for `group`/`kind`. `printer_columns` are a CRD version's
/// `additionalPrinterColumns` (when present they replace the default Age column).
pub fn columns_for(group: &str, kind: &str, printer_columns: Option<&[Value]>) -> Vec<Column> {
    let c = Column::new;
    let name = c("Name", "string", 0, NAME_DESC);
    let age = c("Age", "string", 0, AGE_DESC);
    if let Some(cols) = printer_columns {
        let mut out = vec![name];
        for pc in cols {
            let mut col = c(
                pc.get("name").and_then(Value::as_str).unwrap_or(""),
                pc.get("type").and_then(Value::as_str).unwrap_or("string"),
                pc.get("priority").and_then(Value::as_i64).unwrap_or(0),
                pc.get("description").and_then(Value::as_str).unwrap_or(""),
            );
            col.format = pc.get("format").and_then(Value::as_str).unwrap_or("").to_string();
            col.json_path = pc
                .get("jsonPath")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string();
            out.push(col);
        }
        return out;
    }
    let s = |n: &str, p: i64| c(n, "string", p, "");
    let i = |n: &str, p: i64| c(n, "integer", p, "");
    match (group, kind) {
        ("", "Pod") => vec![
            name,
            s("Ready", 0),
            s("Status", 0),
            s("Restarts", 0),
            age,
            s("IP", 1),
            s("Node", 1),
            s("Nominated Node", 1),
            s("Readiness Gates", 1),
        ],
        ("apps", "Deployment") => vec![
            name,
            s("Ready", 0),
            i("Up-to-date", 0),
            i("Available", 0),
            age,
            s("Containers", 1),
            s("Images", 1),
            s("Selector", 1),
        ],
        ("apps", "ReplicaSet") => vec![
            name,
            i("Desired", 0),
            i("Current", 0),
            i("Ready", 0),
            age,
            s("Containers", 1),
            s("Images", 1),
            s("Selector", 1),
        ],
        ("apps", "StatefulSet") => vec![name, s("Ready", 0), age, s("Containers", 1), s("Images", 1)],
        ("apps", "DaemonSet") => vec![
            name,
            i("Desired", 0),
            i("Current", 0),
            i("Ready", 0),
            i("Up-to-date", 0),
            i("Available", 0),
            s("Node Selector", 0),
            age,
            s("Containers", 1),
            s("Images", 1),
            s("Selector", 1),
        ],
        ("apps", "ControllerRevision") => vec![name, s("Controller", 0), i("Revision", 0), age],
        ("batch", "Job") => vec![
            name,
            s("Status", 0),
            s("Completions", 0),
            s("Duration", 0),
            age,
            s("Containers", 1),
            s("Images", 1),
            s("Selector", 1),
        ],
        ("batch", "CronJob") => vec![
            name,
            s("Schedule", 0),
            s("Timezone", 0),
            s("Suspend", 0),
            i("Active", 0),
            s("Last Schedule", 0),
            age,
            s("Containers", 1),
            s("Images", 1),
            s("Selector", 1),
        ],
        ("", "Service") => vec![
            name,
            s("Type", 0),
            s("Cluster-IP", 0),
            s("External-IP", 0),
            s("Port(s)", 0),
            age,
            s("Selector", 1),
        ],
        ("", "Endpoints") => vec![name, s("Endpoints", 0), age],
        ("", "ConfigMap") => vec![name, i("Data", 0), age],
        ("", "Secret") => vec![name, s("Type", 0), i("Data", 0), age],
        ("", "ServiceAccount") => vec![name, i("Secrets", 0), age],
        ("", "Namespace") => vec![name, s("Status", 0), age],
        ("", "Node") => vec![
            name,
            s("Status", 0),
            s("Roles", 0),
            age,
            s("Version", 0),
            s("Internal-IP", 1),
            s("External-IP", 1),
            s("OS-Image", 1),
            s("Kernel-Version", 1),
            s("Container-Runtime", 1),
        ],
        ("", "PersistentVolumeClaim") => vec![
            name,
            s("Status", 0),
            s("Volume", 0),
            s("Capacity", 0),
            s("Access Modes", 0),
            s("StorageClass", 0),
            s("VolumeAttributesClass", 0),
            age,
            s("VolumeMode", 1),
        ],
        ("", "Event") | ("events.k8s.io", "Event") => vec![
            s("Last Seen", 0),
            s("Type", 0),
            s("Reason", 0),
            s("Object", 0),
            s("Subobject", 1),
            s("Source", 1),
            s("Message", 0),
            s("First Seen", 1),
            i("Count", 1),
            c("Name", "string", 1, NAME_DESC),
        ],
        ("networking.k8s.io", "Ingress") => vec![
            name,
            s("Class", 0),
            s("Hosts", 0),
            s("Address", 0),
            s("Ports", 0),
            age,
        ],
        ("coordination.k8s.io", "Lease") => vec![name, s("Holder", 0), age],
        ("apiextensions.k8s.io", "CustomResourceDefinition") => {
            vec![name, c("Created At", "date", 0, AGE_DESC)]
        }
        _ => vec![name, age],
    }
}

// ---------------------------------------------------------------------------------------------
// time

/// Parses an RFC 3339 timestamp (`2026-11-30T12:00:00Z`, fractional seconds and offsets allowed)
/// into Unix seconds.
pub fn parse_rfc3339(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() < 20
        || b.get(4) != Some(&b'-')
        || b.get(7) != Some(&b'-')
        || !matches!(b.get(10), Some(b'T' | b't' | b' '))
    {
        return None;
    }
    let n = |r: std::ops::Range<usize>| s.get(r).and_then(|x| x.parse::<i64>().ok());
    let (year, month, day, hour, min, sec) =
        (n(0..4)?, n(5..7)?, n(8..10)?, n(11..13)?, n(14..16)?, n(17..19)?);
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || hour > 23 || min > 59 || sec > 60 {
        return None;
    }
    let mut rest = s.get(19..)?;
    if let Some(frac) = rest.strip_prefix('.') {
        let digits = frac.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return None;
        }
        rest = frac.get(digits..)?;
    }
    let offset = match rest {
        "Z" | "z" => 0,
        o if o.len() == 6
            && (o.starts_with('+') || o.starts_with('-'))
            && o.as_bytes().get(3) == Some(&b':') =>
        {
            let h: i64 = o.get(1..3)?.parse().ok()?;
            let m: i64 = o.get(4..6)?.parse().ok()?;
            let v = h * 3600 + m * 60;
            if o.starts_with('-') { -v } else { v }
        }
        _ => return None,
    };
    // Days from civil (Howard Hinnant's algorithm).
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(days * 86_400 + hour * 3600 + min * 60 + sec - offset)
}

/// kubectl's age format (`duration.HumanDuration`): `5s`, `3m2s`, `15m`, `4h`, `5h3m`, `2d`, `3d4h`, `1y2d`.
pub fn human_duration(seconds: i64) -> String {
    if seconds < -1 {
        return "<invalid>".into();
    }
    if seconds < 0 {
        return "0s".into();
    }
    if seconds < 120 {
        return format!("{seconds}s");
    }
    let minutes = seconds / 60;
    if minutes < 10 {
        let s = seconds % 60;
        return if s == 0 {
            format!("{minutes}m")
        } else {
            format!("{minutes}m{s}s")
        };
    }
    if minutes < 180 {
        return format!("{minutes}m");
    }
    let hours = seconds / 3600;
    if hours < 8 {
        let m = minutes % 60;
        return if m == 0 {
            format!("{hours}h")
        } else {
            format!("{hours}h{m}m")
        };
    }
    if hours < 48 {
        return format!("{hours}h");
    }
    if hours < 24 * 8 {
        let h = hours % 24;
        return if h == 0 {
            format!("{}d", hours / 24)
        } else {
            format!("{}d{h}h", hours / 24)
        };
    }
    if hours < 24 * 365 * 2 {
        return format!("{}d", hours / 24);
    }
    if hours < 24 * 365 * 8 {
        let dy = (hours / 24) % 365;
        return if dy == 0 {
            format!("{}y", hours / 24 / 365)
        } else {
            format!("{}y{dy}d", hours / 24 / 365)
        };
    }
    format!("{}y", hours / 24 / 365)
}

/// Age of an RFC 3339 timestamp at `now` (Unix seconds); `<unknown>` when absent or unparsable.
pub fn age(timestamp: Option<&Value>, now: i64) -> String {
    match timestamp.and_then(Value::as_str).and_then(parse_rfc3339) {
        Some(t) => human_duration(now - t),
        None => "<unknown>".into(),
    }
}

// ---------------------------------------------------------------------------------------------
// JSONPath (the simple subset CRD printer columns use)

#[derive(Debug, Clone, PartialEq)]
enum Step {
    Field(String),
    Index(i64),
    All,
    Filter {
        path: Vec<String>,
        negated: bool,
        value: Value,
    },
}

fn parse_jsonpath(expr: &str) -> Result<Vec<Step>, String> {
    let e = expr.trim();
    let e = e.strip_prefix('{').and_then(|x| x.strip_suffix('}')).unwrap_or(e);
    let e = e.strip_prefix('$').unwrap_or(e);
    let chars: Vec<char> = e.chars().collect();
    let mut steps = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        match chars.get(i) {
            Some('.') => {
                let start = i + 1;
                i = start;
                while chars.get(i).is_some_and(|c| *c != '.' && *c != '[') {
                    i += 1;
                }
                let name: String = chars[start..i].iter().collect();
                if name.is_empty() {
                    if i >= chars.len() && steps.is_empty() {
                        break; // "." alone: the whole object
                    }
                    return Err(format!("invalid JSONPath {expr:?}: empty field name"));
                }
                steps.push(Step::Field(name));
            }
            Some('[') => {
                let close = (i..chars.len())
                    .find(|&j| chars.get(j) == Some(&']') && !inside_quotes(&chars[i..j]))
                    .ok_or_else(|| format!("invalid JSONPath {expr:?}: unclosed '['"))?;
                let inner: String = chars[i + 1..close].iter().collect();
                steps.push(
                    parse_bracket(inner.trim()).map_err(|m| format!("invalid JSONPath {expr:?}: {m}"))?,
                );
                i = close + 1;
            }
            Some(c) => return Err(format!("invalid JSONPath {expr:?}: unexpected {c:?}")),
            None => break,
        }
    }
    Ok(steps)
}

fn inside_quotes(chars: &[char]) -> bool {
    let mut quote: Option<char> = None;
    for c in chars {
        match (quote, c) {
            (None, '\'' | '"') => quote = Some(*c),
            (Some(q), c) if *c == q => quote = None,
            _ => {}
        }
    }
    quote.is_some()
}

fn unquote(s: &str) -> Option<&str> {
    s.strip_prefix('\'')
        .and_then(|x| x.strip_suffix('\''))
        .or_else(|| s.strip_prefix('"').and_then(|x| x.strip_suffix('"')))
}

fn parse_bracket(inner: &str) -> Result<Step, String> {
    if inner == "*" {
        return Ok(Step::All);
    }
    if let Some(name) = unquote(inner) {
        return Ok(Step::Field(name.to_string()));
    }
    if let Ok(n) = inner.parse::<i64>() {
        return Ok(Step::Index(n));
    }
    let Some(cond) = inner.strip_prefix("?(").and_then(|x| x.strip_suffix(')')) else {
        return Err(format!("unsupported expression [{inner}]"));
    };
    let (lhs, negated, rhs) = if let Some((l, r)) = cond.split_once("!=") {
        (l, true, r)
    } else if let Some((l, r)) = cond.split_once("==") {
        (l, false, r)
    } else {
        return Err(format!(
            "unsupported filter {cond:?} (only == and != are supported)"
        ));
    };
    let path = lhs
        .trim()
        .strip_prefix("@.")
        .ok_or_else(|| format!("filter must start with @.: {cond:?}"))?;
    let rhs = rhs.trim();
    let value = match unquote(rhs) {
        Some(s) => Value::String(s.to_string()),
        None => serde_json::from_str(rhs).map_err(|_| format!("bad filter value {rhs:?}"))?,
    };
    Ok(Step::Filter {
        path: path.split('.').map(str::to_string).collect(),
        negated,
        value,
    })
}

/// Evaluates a simple JSONPath (`.spec.replicas`, `.status.conditions[?(@.type=="Ready")].status`,
/// `.items[0].name`, `.a[*].b`, `['dotted.key']`) and returns every match.
pub fn jsonpath(obj: &Value, expr: &str) -> Result<Vec<Value>, String> {
    let steps = parse_jsonpath(expr)?;
    let mut cur = vec![obj.clone()];
    for step in &steps {
        let mut next = Vec::new();
        for v in &cur {
            match step {
                Step::Field(f) => next.extend(v.get(f).cloned()),
                Step::Index(n) => {
                    if let Value::Array(a) = v {
                        let idx = if *n < 0 { a.len() as i64 + n } else { *n };
                        next.extend(usize::try_from(idx).ok().and_then(|i| a.get(i)).cloned());
                    }
                }
                Step::All => match v {
                    Value::Array(a) => next.extend(a.iter().cloned()),
                    Value::Object(m) => next.extend(m.values().cloned()),
                    _ => {}
                },
                Step::Filter { path, negated, value } => {
                    if let Value::Array(a) = v {
                        for item in a {
                            let mut x = Some(item);
                            for p in path {
                                x = x.and_then(|x| x.get(p));
                            }
                            let eq = x == Some(value);
                            if eq != *negated && (x.is_some() || *negated) {
                                next.push(item.clone());
                            }
                        }
                    }
                }
            }
        }
        cur = next;
    }
    Ok(cur)
}

fn cell_for(col: &Column, v: &Value, now: i64) -> Value {
    match col.type_.as_str() {
        "date" => Value::String(age(Some(v), now)),
        "integer" => v
            .as_i64()
            .map(Value::from)
            .or_else(|| v.as_str().and_then(|s| s.parse::<i64>().ok()).map(Value::from))
            .unwrap_or(Value::Null),
        "number" => {
            if v.is_number() {
                v.clone()
            } else {
                Value::Null
            }
        }
        "boolean" => {
            if v.is_boolean() {
                v.clone()
            } else {
                Value::Null
            }
        }
        _ => Value::String(match v {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        }),
    }
}

// ---------------------------------------------------------------------------------------------
// built-in printers

fn s_at<'v>(obj: &'v Value, ptr: &str) -> &'v str {
    obj.pointer(ptr).and_then(Value::as_str).unwrap_or("")
}

fn i_at(obj: &Value, ptr: &str) -> i64 {
    obj.pointer(ptr).and_then(Value::as_i64).unwrap_or(0)
}

fn or_none(s: String) -> String {
    if s.is_empty() { "<none>".into() } else { s }
}

fn containers_images(spec: Option<&Value>) -> (String, String) {
    let cs = spec
        .and_then(|s| s.get("containers"))
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let names: Vec<&str> = cs
        .iter()
        .filter_map(|c| c.get("name").and_then(Value::as_str))
        .collect();
    let images: Vec<&str> = cs
        .iter()
        .filter_map(|c| c.get("image").and_then(Value::as_str))
        .collect();
    (names.join(","), images.join(","))
}

fn selector_string(sel: Option<&Value>) -> String {
    match sel {
        None | Some(Value::Null) => "<none>".into(),
        Some(v) => match crate::selector::LabelSelector::from_label_selector(v) {
            Ok(s) if s.is_empty() => "<none>".into(),
            Ok(s) => s.to_string(),
            Err(_) => "<error>".into(),
        },
    }
}

fn map_selector_string(sel: Option<&Value>) -> String {
    let Some(Value::Object(m)) = sel else {
        return "<none>".into();
    };
    let mut parts: Vec<String> = m
        .iter()
        .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or("")))
        .collect();
    parts.sort();
    or_none(parts.join(","))
}

fn condition_true(obj: &Value, ty: &str) -> bool {
    obj.pointer("/status/conditions")
        .and_then(Value::as_array)
        .is_some_and(|cs| {
            cs.iter().any(|c| {
                c.get("type").and_then(Value::as_str) == Some(ty)
                    && c.get("status").and_then(Value::as_str) == Some("True")
            })
        })
}

fn pod_cells(pod: &Value, now: i64) -> Vec<Value> {
    let total = pod
        .pointer("/spec/containers")
        .and_then(Value::as_array)
        .map_or(0, Vec::len);
    let init_total = pod
        .pointer("/spec/initContainers")
        .and_then(Value::as_array)
        .map_or(0, Vec::len);
    let mut reason = s_at(pod, "/status/phase").to_string();
    if !s_at(pod, "/status/reason").is_empty() {
        reason = s_at(pod, "/status/reason").to_string();
    }
    let mut restarts = 0;
    let mut ready = 0;
    let mut last_restart: Option<i64> = None;
    let mut note_restart = |cs: &Value| {
        if let Some(t) = cs
            .pointer("/lastState/terminated/finishedAt")
            .and_then(Value::as_str)
            .and_then(parse_rfc3339)
        {
            last_restart = Some(last_restart.map_or(t, |l| l.max(t)));
        }
    };
    let mut initializing = false;
    let empty = Vec::new();
    let init_statuses = pod
        .pointer("/status/initContainerStatuses")
        .and_then(Value::as_array)
        .unwrap_or(&empty);
    for (i, cs) in init_statuses.iter().enumerate() {
        restarts += cs.get("restartCount").and_then(Value::as_i64).unwrap_or(0);
        note_restart(cs);
        let term = cs.pointer("/state/terminated");
        if term.is_some_and(|t| t.get("exitCode").and_then(Value::as_i64) == Some(0)) {
            continue;
        }
        if let Some(t) = term {
            let r = t.get("reason").and_then(Value::as_str).unwrap_or("");
            reason = if !r.is_empty() {
                format!("Init:{r}")
            } else if let Some(sig) = t.get("signal").and_then(Value::as_i64).filter(|s| *s != 0) {
                format!("Init:Signal:{sig}")
            } else {
                format!(
                    "Init:ExitCode:{}",
                    t.get("exitCode").and_then(Value::as_i64).unwrap_or(0)
                )
            };
        } else {
            let w = s_at(cs, "/state/waiting/reason");
            reason = if !w.is_empty() && w != "PodInitializing" {
                format!("Init:{w}")
            } else {
                format!("Init:{i}/{init_total}")
            };
        }
        initializing = true;
        break;
    }
    if !initializing {
        restarts = 0;
        let mut has_running = false;
        let statuses = pod
            .pointer("/status/containerStatuses")
            .and_then(Value::as_array)
            .unwrap_or(&empty);
        for cs in statuses.iter().rev() {
            restarts += cs.get("restartCount").and_then(Value::as_i64).unwrap_or(0);
            note_restart(cs);
            let waiting = s_at(cs, "/state/waiting/reason");
            let term = cs.pointer("/state/terminated");
            if !waiting.is_empty() {
                reason = waiting.to_string();
            } else if let Some(t) = term {
                let r = t.get("reason").and_then(Value::as_str).unwrap_or("");
                reason = if !r.is_empty() {
                    r.to_string()
                } else if let Some(sig) = t.get("signal").and_then(Value::as_i64).filter(|s| *s != 0) {
                    format!("Signal:{sig}")
                } else {
                    format!(
                        "ExitCode:{}",
                        t.get("exitCode").and_then(Value::as_i64).unwrap_or(0)
                    )
                };
            } else if cs.get("ready").and_then(Value::as_bool) == Some(true)
                && cs.pointer("/state/running").is_some()
            {
                has_running = true;
                ready += 1;
            }
        }
        if reason == "Completed" && has_running {
            reason = if condition_true(pod, "Ready") {
                "Running".into()
            } else {
                "NotReady".into()
            };
        }
    }
    if pod
        .pointer("/metadata/deletionTimestamp")
        .is_some_and(|v| !v.is_null())
    {
        reason = if s_at(pod, "/status/reason") == "NodeLost" {
            "Unknown".into()
        } else {
            "Terminating".into()
        };
    }
    let restarts_cell = match last_restart {
        Some(t) if restarts > 0 => format!("{restarts} ({} ago)", human_duration(now - t)),
        _ => restarts.to_string(),
    };
    let gates = pod
        .pointer("/spec/readinessGates")
        .and_then(Value::as_array)
        .map_or(0, Vec::len);
    let gates_cell = if gates == 0 {
        "<none>".to_string()
    } else {
        let trues = pod
            .pointer("/spec/readinessGates")
            .and_then(Value::as_array)
            .map_or(0, |gs| {
                gs.iter()
                    .filter(|g| {
                        condition_true(pod, g.get("conditionType").and_then(Value::as_str).unwrap_or(""))
                    })
                    .count()
            });
        format!("{trues}/{gates}")
    };
    vec![
        json!(format!("{ready}/{total}")),
        json!(reason),
        json!(restarts_cell),
        json!(age(pod.pointer("/metadata/creationTimestamp"), now)),
        json!(or_none(s_at(pod, "/status/podIP").to_string())),
        json!(or_none(s_at(pod, "/spec/nodeName").to_string())),
        json!(or_none(s_at(pod, "/status/nominatedNodeName").to_string())),
        json!(gates_cell),
    ]
}

fn service_cells(svc: &Value, now: i64) -> Vec<Value> {
    let ty = s_at(svc, "/spec/type");
    let ty = if ty.is_empty() { "ClusterIP" } else { ty };
    let cluster_ip = or_none(s_at(svc, "/spec/clusterIP").to_string());
    let external_ips: Vec<String> = svc
        .pointer("/spec/externalIPs")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(|x| x.as_str().map(str::to_string)).collect())
        .unwrap_or_default();
    let external = match ty {
        "ExternalName" => s_at(svc, "/spec/externalName").to_string(),
        "LoadBalancer" => {
            let mut ips: Vec<String> = svc
                .pointer("/status/loadBalancer/ingress")
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(|i| {
                            i.get("ip")
                                .or_else(|| i.get("hostname"))
                                .and_then(Value::as_str)
                                .map(str::to_string)
                        })
                        .collect()
                })
                .unwrap_or_default();
            ips.extend(external_ips);
            if ips.is_empty() {
                "<pending>".into()
            } else {
                ips.join(",")
            }
        }
        _ => or_none(external_ips.join(",")),
    };
    let ports: Vec<String> = svc
        .pointer("/spec/ports")
        .and_then(Value::as_array)
        .map(|ps| {
            ps.iter()
                .map(|p| {
                    let proto = p.get("protocol").and_then(Value::as_str).unwrap_or("TCP");
                    let port = p.get("port").and_then(Value::as_i64).unwrap_or(0);
                    match p.get("nodePort").and_then(Value::as_i64) {
                        Some(np) if np != 0 => format!("{port}:{np}/{proto}"),
                        _ => format!("{port}/{proto}"),
                    }
                })
                .collect()
        })
        .unwrap_or_default();
    vec![
        json!(ty),
        json!(cluster_ip),
        json!(external),
        json!(or_none(ports.join(","))),
        json!(age(svc.pointer("/metadata/creationTimestamp"), now)),
        json!(map_selector_string(svc.pointer("/spec/selector"))),
    ]
}

fn job_cells(job: &Value, now: i64) -> Vec<Value> {
    let status = if condition_true(job, "Complete") {
        "Complete"
    } else if condition_true(job, "Failed") {
        "Failed"
    } else if job
        .pointer("/metadata/deletionTimestamp")
        .is_some_and(|v| !v.is_null())
    {
        "Terminating"
    } else if condition_true(job, "FailureTarget") {
        "FailureTarget"
    } else if condition_true(job, "SuccessCriteriaMet") {
        "SuccessCriteriaMet"
    } else if condition_true(job, "Suspended") {
        "Suspended"
    } else {
        "Running"
    };
    let succeeded = i_at(job, "/status/succeeded");
    let completions = match job.pointer("/spec/completions").and_then(Value::as_i64) {
        Some(c) => format!("{succeeded}/{c}"),
        None => {
            let p = job
                .pointer("/spec/parallelism")
                .and_then(Value::as_i64)
                .unwrap_or(1);
            if p > 1 {
                format!("{succeeded}/1 of {p}")
            } else {
                format!("{succeeded}/1")
            }
        }
    };
    let start = job
        .pointer("/status/startTime")
        .and_then(Value::as_str)
        .and_then(parse_rfc3339);
    let end = job
        .pointer("/status/completionTime")
        .and_then(Value::as_str)
        .and_then(parse_rfc3339);
    let duration = match (start, end) {
        (Some(s), Some(e)) => human_duration(e - s),
        (Some(s), None) => human_duration(now - s),
        _ => String::new(),
    };
    let (cs, imgs) = containers_images(job.pointer("/spec/template/spec"));
    vec![
        json!(status),
        json!(completions),
        json!(duration),
        json!(age(job.pointer("/metadata/creationTimestamp"), now)),
        json!(cs),
        json!(imgs),
        json!(selector_string(job.pointer("/spec/selector"))),
    ]
}

fn node_cells(node: &Value, now: i64) -> Vec<Value> {
    let mut status = match node
        .pointer("/status/conditions")
        .and_then(Value::as_array)
        .and_then(|cs| {
            cs.iter()
                .find(|c| c.get("type").and_then(Value::as_str) == Some("Ready"))
        }) {
        Some(c) if c.get("status").and_then(Value::as_str) == Some("True") => "Ready".to_string(),
        Some(_) => "NotReady".to_string(),
        None => "Unknown".to_string(),
    };
    if node.pointer("/spec/unschedulable").and_then(Value::as_bool) == Some(true) {
        status.push_str(",SchedulingDisabled");
    }
    let mut roles: Vec<String> = node
        .pointer("/metadata/labels")
        .and_then(Value::as_object)
        .map(|l| {
            l.iter()
                .filter_map(|(k, v)| {
                    if let Some(r) = k.strip_prefix("node-role.kubernetes.io/") {
                        Some(r.to_string())
                    } else if k == "kubernetes.io/role" {
                        v.as_str().map(str::to_string)
                    } else {
                        None
                    }
                })
                .filter(|r| !r.is_empty())
                .collect()
        })
        .unwrap_or_default();
    roles.sort();
    let addr = |ty: &str| {
        node.pointer("/status/addresses")
            .and_then(Value::as_array)
            .and_then(|a| {
                a.iter()
                    .find(|x| x.get("type").and_then(Value::as_str) == Some(ty))
            })
            .and_then(|x| x.get("address").and_then(Value::as_str))
            .unwrap_or("<none>")
            .to_string()
    };
    vec![
        json!(status),
        json!(or_none(roles.join(","))),
        json!(age(node.pointer("/metadata/creationTimestamp"), now)),
        json!(s_at(node, "/status/nodeInfo/kubeletVersion")),
        json!(addr("InternalIP")),
        json!(addr("ExternalIP")),
        json!(or_none(s_at(node, "/status/nodeInfo/osImage").to_string())),
        json!(or_none(s_at(node, "/status/nodeInfo/kernelVersion").to_string())),
        json!(or_none(
            s_at(node, "/status/nodeInfo/containerRuntimeVersion").to_string()
        )),
    ]
}

/// events.k8s.io/v1 Events print like core Events (kube-apiserver converts them to the same
/// internal type): map the renamed fields back.
fn events_v1_as_core(ev: &Value) -> Value {
    let field = |k: &str| ev.get(k).cloned().unwrap_or(Value::Null);
    let count = ev
        .get("deprecatedCount")
        .cloned()
        .filter(|c| !c.is_null())
        .or_else(|| ev.pointer("/series/count").cloned());
    json!({
        "metadata": field("metadata"),
        "involvedObject": field("regarding"),
        "reason": field("reason"),
        "message": field("note"),
        "type": field("type"),
        "source": ev.get("deprecatedSource").cloned().unwrap_or_else(|| json!({"component": field("reportingController")})),
        "reportingComponent": field("reportingController"),
        "firstTimestamp": field("deprecatedFirstTimestamp"),
        "lastTimestamp": field("deprecatedLastTimestamp"),
        "eventTime": field("eventTime"),
        "series": field("series"),
        "count": count.unwrap_or(Value::Null),
    })
}

fn event_cells(ev: &Value, now: i64) -> Vec<Value> {
    let first = ev
        .get("firstTimestamp")
        .filter(|v| !v.is_null())
        .or_else(|| ev.get("eventTime"))
        .or_else(|| ev.pointer("/metadata/creationTimestamp"));
    let last = ev
        .get("lastTimestamp")
        .filter(|v| !v.is_null())
        .or_else(|| ev.pointer("/series/lastObservedTime"))
        .or(first);
    let count = ev.get("count").and_then(Value::as_i64).unwrap_or(1);
    let last_seen = if count > 1 {
        format!("{} (x{count} over {})", age(last, now), age(first, now))
    } else {
        age(last, now)
    };
    let source = {
        let c = s_at(ev, "/source/component");
        let c = if c.is_empty() {
            s_at(ev, "/reportingComponent")
        } else {
            c
        };
        let h = s_at(ev, "/source/host");
        if h.is_empty() {
            c.to_string()
        } else {
            format!("{c}, {h}")
        }
    };
    vec![
        json!(last_seen),
        json!(s_at(ev, "/type")),
        json!(s_at(ev, "/reason")),
        json!(format!(
            "{}/{}",
            s_at(ev, "/involvedObject/kind").to_lowercase(),
            s_at(ev, "/involvedObject/name")
        )),
        json!(s_at(ev, "/involvedObject/fieldPath")),
        json!(source),
        json!(s_at(ev, "/message").trim()),
        json!(age(first, now)),
        json!(count),
        json!(s_at(ev, "/metadata/name")),
    ]
}

fn count_keys(obj: &Value, fields: &[&str]) -> i64 {
    fields
        .iter()
        .map(|f| obj.get(*f).and_then(Value::as_object).map_or(0, Map::len) as i64)
        .sum()
}

/// The cells of one row (all columns of [`columns_for`], in order).
pub fn row_cells(group: &str, kind: &str, obj: &Value, columns: &[Column], now: i64) -> Vec<Value> {
    let name = json!(s_at(obj, "/metadata/name"));
    let created = obj.pointer("/metadata/creationTimestamp");
    let age_cell = json!(age(created, now));
    if columns.iter().any(|c| !c.json_path.is_empty()) {
        // CRD printer columns.
        return columns
            .iter()
            .map(|c| {
                if c.name == "Name" && c.json_path.is_empty() {
                    return name.clone();
                }
                match jsonpath(obj, &c.json_path)
                    .ok()
                    .and_then(|r| r.into_iter().next())
                {
                    Some(v) => cell_for(c, &v, now),
                    None => Value::Null,
                }
            })
            .collect();
    }
    let mut cells = match (group, kind) {
        ("", "Event") => return event_cells(obj, now),
        ("events.k8s.io", "Event") => return event_cells(&events_v1_as_core(obj), now),
        ("", "Pod") => pod_cells(obj, now),
        ("", "Service") => service_cells(obj, now),
        ("", "Node") => node_cells(obj, now),
        ("batch", "Job") => job_cells(obj, now),
        ("apps", "Deployment") => {
            let (cs, imgs) = containers_images(obj.pointer("/spec/template/spec"));
            vec![
                json!(format!(
                    "{}/{}",
                    i_at(obj, "/status/readyReplicas"),
                    obj.pointer("/spec/replicas").and_then(Value::as_i64).unwrap_or(1)
                )),
                json!(i_at(obj, "/status/updatedReplicas")),
                json!(i_at(obj, "/status/availableReplicas")),
                age_cell,
                json!(cs),
                json!(imgs),
                json!(selector_string(obj.pointer("/spec/selector"))),
            ]
        }
        ("apps", "ReplicaSet") => {
            let (cs, imgs) = containers_images(obj.pointer("/spec/template/spec"));
            vec![
                json!(obj.pointer("/spec/replicas").and_then(Value::as_i64).unwrap_or(1)),
                json!(i_at(obj, "/status/replicas")),
                json!(i_at(obj, "/status/readyReplicas")),
                age_cell,
                json!(cs),
                json!(imgs),
                json!(selector_string(obj.pointer("/spec/selector"))),
            ]
        }
        ("apps", "StatefulSet") => {
            let (cs, imgs) = containers_images(obj.pointer("/spec/template/spec"));
            vec![
                json!(format!(
                    "{}/{}",
                    i_at(obj, "/status/readyReplicas"),
                    obj.pointer("/spec/replicas").and_then(Value::as_i64).unwrap_or(1)
                )),
                age_cell,
                json!(cs),
                json!(imgs),
            ]
        }
        ("apps", "DaemonSet") => {
            let (cs, imgs) = containers_images(obj.pointer("/spec/template/spec"));
            vec![
                json!(i_at(obj, "/status/desiredNumberScheduled")),
                json!(i_at(obj, "/status/currentNumberScheduled")),
                json!(i_at(obj, "/status/numberReady")),
                json!(i_at(obj, "/status/updatedNumberScheduled")),
                json!(i_at(obj, "/status/numberAvailable")),
                json!(map_selector_string(
                    obj.pointer("/spec/template/spec/nodeSelector")
                )),
                age_cell,
                json!(cs),
                json!(imgs),
                json!(selector_string(obj.pointer("/spec/selector"))),
            ]
        }
        ("apps", "ControllerRevision") => {
            let owner = obj
                .pointer("/metadata/ownerReferences")
                .and_then(Value::as_array)
                .and_then(|o| {
                    o.iter()
                        .find(|r| r.get("controller").and_then(Value::as_bool) == Some(true))
                })
                .map(|r| {
                    let api = r.get("apiVersion").and_then(Value::as_str).unwrap_or("");
                    let group = api.split_once('/').map_or("", |(g, _)| g);
                    let kind = r.get("kind").and_then(Value::as_str).unwrap_or("").to_lowercase();
                    let kind = if group.is_empty() {
                        kind
                    } else {
                        format!("{kind}.{group}")
                    };
                    format!("{kind}/{}", r.get("name").and_then(Value::as_str).unwrap_or(""))
                })
                .unwrap_or_else(|| "<none>".into());
            vec![json!(owner), json!(i_at(obj, "/revision")), age_cell]
        }
        ("batch", "CronJob") => {
            let (cs, imgs) = containers_images(obj.pointer("/spec/jobTemplate/spec/template/spec"));
            let last = obj
                .pointer("/status/lastScheduleTime")
                .filter(|v| !v.is_null())
                .map(|v| age(Some(v), now))
                .unwrap_or_else(|| "<none>".into());
            vec![
                json!(s_at(obj, "/spec/schedule")),
                json!(or_none(s_at(obj, "/spec/timeZone").to_string())),
                json!(
                    obj.pointer("/spec/suspend")
                        .and_then(Value::as_bool)
                        .unwrap_or(false)
                        .to_string()
                        .replace("true", "True")
                        .replace("false", "False")
                ),
                json!(
                    obj.pointer("/status/active")
                        .and_then(Value::as_array)
                        .map_or(0, Vec::len)
                ),
                json!(last),
                age_cell,
                json!(cs),
                json!(imgs),
                json!(selector_string(obj.pointer("/spec/jobTemplate/spec/selector"))),
            ]
        }
        ("", "Endpoints") => {
            let mut eps = Vec::new();
            for s in obj.get("subsets").and_then(Value::as_array).into_iter().flatten() {
                let ports: Vec<i64> = s
                    .get("ports")
                    .and_then(Value::as_array)
                    .map(|p| {
                        p.iter()
                            .filter_map(|x| x.get("port").and_then(Value::as_i64))
                            .collect()
                    })
                    .unwrap_or_default();
                for a in s.get("addresses").and_then(Value::as_array).into_iter().flatten() {
                    let ip = a.get("ip").and_then(Value::as_str).unwrap_or("");
                    if ports.is_empty() {
                        eps.push(ip.to_string());
                    }
                    eps.extend(ports.iter().map(|p| format!("{ip}:{p}")));
                }
            }
            let shown = if eps.len() > 3 {
                format!("{} + {} more...", eps[..3].join(","), eps.len() - 3)
            } else {
                eps.join(",")
            };
            vec![json!(or_none(shown)), age_cell]
        }
        ("", "ConfigMap") => vec![json!(count_keys(obj, &["data", "binaryData"])), age_cell],
        ("", "Secret") => vec![
            json!(s_at(obj, "/type")),
            json!(count_keys(obj, &["data"])),
            age_cell,
        ],
        ("", "ServiceAccount") => vec![
            json!(obj.get("secrets").and_then(Value::as_array).map_or(0, Vec::len)),
            age_cell,
        ],
        ("", "Namespace") => vec![json!(s_at(obj, "/status/phase")), age_cell],
        ("", "PersistentVolumeClaim") => {
            let modes: Vec<String> = obj
                .pointer("/status/accessModes")
                .and_then(Value::as_array)
                .map(|m| {
                    m.iter()
                        .filter_map(Value::as_str)
                        .map(|m| match m {
                            "ReadWriteOnce" => "RWO".to_string(),
                            "ReadOnlyMany" => "ROX".to_string(),
                            "ReadWriteMany" => "RWX".to_string(),
                            "ReadWriteOncePod" => "RWOP".to_string(),
                            other => other.to_string(),
                        })
                        .collect()
                })
                .unwrap_or_default();
            let storage_class = obj
                .pointer("/spec/storageClassName")
                .and_then(Value::as_str)
                .unwrap_or("<unset>");
            vec![
                json!(s_at(obj, "/status/phase")),
                json!(s_at(obj, "/spec/volumeName")),
                json!(s_at(obj, "/status/capacity/storage")),
                json!(modes.join(",")),
                json!(storage_class),
                json!(
                    obj.pointer("/spec/volumeAttributesClassName")
                        .and_then(Value::as_str)
                        .unwrap_or("<unset>")
                ),
                age_cell,
                json!(s_at(obj, "/spec/volumeMode")),
            ]
        }
        ("networking.k8s.io", "Ingress") => {
            let hosts: Vec<&str> = obj
                .pointer("/spec/rules")
                .and_then(Value::as_array)
                .map(|r| {
                    r.iter()
                        .filter_map(|x| x.get("host").and_then(Value::as_str))
                        .collect()
                })
                .unwrap_or_default();
            let addrs: Vec<&str> = obj
                .pointer("/status/loadBalancer/ingress")
                .and_then(Value::as_array)
                .map(|r| {
                    r.iter()
                        .filter_map(|x| x.get("ip").or_else(|| x.get("hostname")).and_then(Value::as_str))
                        .collect()
                })
                .unwrap_or_default();
            let ports = if obj
                .pointer("/spec/tls")
                .and_then(Value::as_array)
                .is_some_and(|t| !t.is_empty())
            {
                "80, 443"
            } else {
                "80"
            };
            vec![
                json!(
                    obj.pointer("/spec/ingressClassName")
                        .and_then(Value::as_str)
                        .unwrap_or("<none>")
                ),
                json!(if hosts.is_empty() {
                    "*".to_string()
                } else {
                    hosts.join(",")
                }),
                json!(addrs.join(",")),
                json!(ports),
                age_cell,
            ]
        }
        ("coordination.k8s.io", "Lease") => vec![json!(s_at(obj, "/spec/holderIdentity")), age_cell],
        ("apiextensions.k8s.io", "CustomResourceDefinition") => {
            vec![json!(s_at(obj, "/metadata/creationTimestamp"))]
        }
        _ => vec![age_cell],
    };
    cells.insert(0, name);
    cells.truncate(columns.len());
    cells
}

/// Converts objects into a Table. `objects` are the items of a list (or the one object of a
/// GET/watch event); `list_metadata` becomes the table's `metadata` (resourceVersion, continue);
/// `now` is the current Unix time in seconds.
pub fn to_table(
    group: &str,
    kind: &str,
    objects: &[Value],
    printer_columns: Option<&[Value]>,
    list_metadata: Value,
    include: IncludeObject,
    now: i64,
) -> Value {
    let columns = columns_for(group, kind, printer_columns);
    let rows: Vec<Value> = objects
        .iter()
        .map(|o| {
            let mut row = Map::new();
            row.insert("cells".into(), Value::Array(row_cells(group, kind, o, &columns, now)));
            match include {
                IncludeObject::None => {}
                IncludeObject::Metadata => {
                    row.insert(
                        "object".into(),
                        json!({"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": o.get("metadata").cloned().unwrap_or(json!({}))}),
                    );
                }
                IncludeObject::Object => {
                    row.insert("object".into(), o.clone());
                }
            }
            Value::Object(row)
        })
        .collect();
    json!({
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": list_metadata,
        "columnDefinitions": columns.iter().map(Column::definition).collect::<Vec<_>>(),
        "rows": rows
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: &str = "2026-11-30T12:00:00Z";

    fn now() -> i64 {
        parse_rfc3339(NOW).unwrap_or(0)
    }

    #[test]
    fn rfc3339_parsing() {
        let cases = [
            ("1970-01-01T00:00:00Z", Some(0)),
            ("2000-03-01T00:00:00Z", Some(951_868_800)),
            ("2026-11-30T12:00:00.123456Z", Some(1_796_040_000)),
            ("2026-11-30T13:00:00+01:00", Some(1_796_040_000)),
            ("2026-11-30T12:00:00", None),
            ("2026-13-30T12:00:00Z", None),
            ("garbage", None),
            ("2026-11-30T12:00:00.Z", None),
        ];
        for (s, want) in cases {
            assert_eq!(parse_rfc3339(s), want, "{s}");
        }
    }

    #[test]
    fn human_durations() {
        let cases = [
            (-5, "<invalid>"),
            (-1, "0s"),
            (5, "5s"),
            (119, "119s"),
            (182, "3m2s"),
            (240, "4m"),
            (900, "15m"),
            (4 * 3600, "4h"),
            (5 * 3600 + 180, "5h3m"),
            (20 * 3600, "20h"),
            (48 * 3600, "2d"),
            (3 * 86400 + 4 * 3600, "3d4h"),
            (30 * 86400, "30d"),
            (3 * 365 * 86400 + 2 * 86400, "3y2d"),
            (10 * 365 * 86400, "10y"),
        ];
        for (secs, want) in cases {
            assert_eq!(human_duration(secs), want, "{secs}");
        }
        assert_eq!(age(None, 0), "<unknown>");
        assert_eq!(age(Some(&json!("2026-11-30T11:59:55Z")), now()), "5s");
    }

    #[test]
    fn jsonpath_cases() {
        let obj = json!({"spec": {"replicas": 3, "list": [{"n": 1}, {"n": 2}]}, "metadata": {"annotations": {"a.b/c": "x"}},
            "status": {"conditions": [{"type": "Ready", "status": "False"}, {"type": "Succeeded", "status": "True"}]}});
        let cases: Vec<(&str, Vec<Value>)> = vec![
            (".spec.replicas", vec![json!(3)]),
            ("{.spec.replicas}", vec![json!(3)]),
            ("$.spec.replicas", vec![json!(3)]),
            (".spec.list[1].n", vec![json!(2)]),
            (".spec.list[-1].n", vec![json!(2)]),
            (".spec.list[*].n", vec![json!(1), json!(2)]),
            (
                ".status.conditions[?(@.type==\"Succeeded\")].status",
                vec![json!("True")],
            ),
            (
                ".status.conditions[?(@.type=='Ready')].status",
                vec![json!("False")],
            ),
            (
                ".status.conditions[?(@.type!=\"Ready\")].type",
                vec![json!("Succeeded")],
            ),
            (".metadata.annotations['a.b/c']", vec![json!("x")]),
            (".spec.missing", vec![]),
            (".spec.list[9]", vec![]),
        ];
        for (expr, want) in cases {
            assert_eq!(jsonpath(&obj, expr), Ok(want), "{expr}");
        }
        for bad in [".spec[", ".spec.list[?(@.n>1)]", "spec", ".a..b", ".a[foo]"] {
            assert!(jsonpath(&obj, bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn pod_rows() {
        let base = |status: Value| json!({"metadata": {"name": "p", "creationTimestamp": "2026-11-30T11:57:00Z"}, "spec": {"containers": [{"name": "a"}, {"name": "b"}], "nodeName": "n1"}, "status": status});
        let cases = [
            (base(json!({"phase": "Pending"})), ["0/2", "Pending", "0"]),
            (
                base(
                    json!({"phase": "Running", "podIP": "10.0.0.5", "containerStatuses": [
                        {"name": "a", "ready": true, "restartCount": 0, "state": {"running": {}}},
                        {"name": "b", "ready": true, "restartCount": 2, "state": {"running": {}}, "lastState": {"terminated": {"finishedAt": "2026-11-30T11:55:00Z"}}}
                    ]}),
                ),
                ["2/2", "Running", "2 (5m ago)"],
            ),
            (
                base(
                    json!({"phase": "Pending", "containerStatuses": [{"name": "a", "state": {"waiting": {"reason": "ImagePullBackOff"}}}, {"name": "b", "state": {"waiting": {"reason": "ContainerCreating"}}}]}),
                ),
                ["0/2", "ImagePullBackOff", "0"],
            ),
            (
                base(
                    json!({"phase": "Failed", "containerStatuses": [{"name": "a", "state": {"terminated": {"exitCode": 137}}}]}),
                ),
                ["0/2", "ExitCode:137", "0"],
            ),
            (
                base(
                    json!({"phase": "Succeeded", "containerStatuses": [{"name": "a", "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}}]}),
                ),
                ["0/2", "Completed", "0"],
            ),
            (
                base(
                    json!({"phase": "Pending", "initContainerStatuses": [{"name": "i", "state": {"waiting": {"reason": "PodInitializing"}}}]}),
                ),
                ["0/2", "Init:0/0", "0"],
            ),
        ];
        let cols = columns_for("", "Pod", None);
        for (pod, want) in cases {
            let cells = row_cells("", "Pod", &pod, &cols, now());
            assert_eq!(cells.len(), cols.len());
            assert_eq!(cells[0], json!("p"));
            assert_eq!(
                &cells[1..4],
                &[json!(want[0]), json!(want[1]), json!(want[2])],
                "{pod}"
            );
            assert_eq!(cells[4], json!("3m"));
            assert_eq!(cells[6], json!("n1"));
        }
        let mut deleting = base(json!({"phase": "Running"}));
        deleting["metadata"]["deletionTimestamp"] = json!(NOW);
        assert_eq!(
            row_cells("", "Pod", &deleting, &cols, now())[2],
            json!("Terminating")
        );
    }

    #[test]
    fn builtin_rows() {
        let created = json!({"name": "x", "creationTimestamp": "2026-11-28T12:00:00Z"});
        let cases: Vec<(&str, &str, Value, Vec<Value>)> = vec![
            (
                "",
                "ConfigMap",
                json!({"metadata": created, "data": {"a": "1", "b": "2"}, "binaryData": {"c": ""}}),
                vec![json!("x"), json!(3), json!("2d")],
            ),
            (
                "",
                "Secret",
                json!({"metadata": created, "type": "Opaque", "data": {"a": ""}}),
                vec![json!("x"), json!("Opaque"), json!(1), json!("2d")],
            ),
            (
                "",
                "Namespace",
                json!({"metadata": created, "status": {"phase": "Active"}}),
                vec![json!("x"), json!("Active"), json!("2d")],
            ),
            (
                "apps",
                "Deployment",
                json!({"metadata": created, "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "w"}}, "template": {"spec": {"containers": [{"name": "c", "image": "nginx"}]}}},
                       "status": {"readyReplicas": 2, "updatedReplicas": 3, "availableReplicas": 2}}),
                vec![
                    json!("x"),
                    json!("2/3"),
                    json!(3),
                    json!(2),
                    json!("2d"),
                    json!("c"),
                    json!("nginx"),
                    json!("app=w"),
                ],
            ),
            (
                "",
                "Service",
                json!({"metadata": created, "spec": {"type": "NodePort", "clusterIP": "10.96.0.1", "ports": [{"port": 80, "nodePort": 30080, "protocol": "TCP"}, {"port": 53, "protocol": "UDP"}], "selector": {"app": "w"}}}),
                vec![
                    json!("x"),
                    json!("NodePort"),
                    json!("10.96.0.1"),
                    json!("<none>"),
                    json!("80:30080/TCP,53/UDP"),
                    json!("2d"),
                    json!("app=w"),
                ],
            ),
            (
                "batch",
                "Job",
                json!({"metadata": created, "spec": {"completions": 1, "template": {"spec": {"containers": [{"name": "pi", "image": "perl"}]}}},
                       "status": {"succeeded": 1, "startTime": "2026-11-30T11:00:00Z", "completionTime": "2026-11-30T11:00:42Z", "conditions": [{"type": "Complete", "status": "True"}]}}),
                vec![
                    json!("x"),
                    json!("Complete"),
                    json!("1/1"),
                    json!("42s"),
                    json!("2d"),
                    json!("pi"),
                    json!("perl"),
                    json!("<none>"),
                ],
            ),
            (
                "coordination.k8s.io",
                "Lease",
                json!({"metadata": created, "spec": {"holderIdentity": "me"}}),
                vec![json!("x"), json!("me"), json!("2d")],
            ),
            (
                "example.com",
                "Widget",
                json!({"metadata": created}),
                vec![json!("x"), json!("2d")],
            ),
        ];
        for (g, k, obj, want) in cases {
            let cols = columns_for(g, k, None);
            assert_eq!(row_cells(g, k, &obj, &cols, now()), want, "{k}");
        }
        let ev = json!({"metadata": {"name": "e"}, "type": "Normal", "reason": "Scheduled", "message": "ok", "count": 1,
            "involvedObject": {"kind": "Pod", "name": "p"}, "lastTimestamp": "2026-11-30T11:59:00Z", "firstTimestamp": "2026-11-30T11:59:00Z"});
        let cells = row_cells("", "Event", &ev, &columns_for("", "Event", None), now());
        assert_eq!(
            &cells[..4],
            &[json!("60s"), json!("Normal"), json!("Scheduled"), json!("pod/p")]
        );
        let ev_v1 = json!({"metadata": {"name": "e"}, "type": "Warning", "reason": "BackOff", "note": "restarting",
            "regarding": {"kind": "Pod", "name": "p"}, "reportingController": "kubelet", "eventTime": "2026-11-30T11:59:30Z",
            "series": {"count": 3, "lastObservedTime": "2026-11-30T11:59:50Z"}});
        let cols = columns_for("events.k8s.io", "Event", None);
        let cells = row_cells("events.k8s.io", "Event", &ev_v1, &cols, now());
        assert_eq!(cells.len(), cols.len());
        assert_eq!(
            &cells[..7],
            &[
                json!("10s (x3 over 30s)"),
                json!("Warning"),
                json!("BackOff"),
                json!("pod/p"),
                json!(""),
                json!("kubelet"),
                json!("restarting")
            ]
        );
    }

    #[test]
    fn crd_printer_columns_and_table() {
        let cols = vec![
            json!({"name": "DESIRED", "type": "integer", "jsonPath": ".spec.replicas"}),
            json!({"name": "UPDATED_READY", "type": "integer", "jsonPath": ".status.updatedReadyReplicas"}),
            json!({"name": "SUCCEEDED", "type": "string", "jsonPath": ".status.conditions[?(@.type==\"Succeeded\")].status"}),
            json!({"name": "AGE", "type": "date", "jsonPath": ".metadata.creationTimestamp"}),
            json!({"name": "BAD", "type": "string", "jsonPath": ".spec["}),
        ];
        let obj = json!({"metadata": {"name": "sample", "creationTimestamp": "2026-11-30T11:59:50Z"}, "spec": {"replicas": 5},
            "status": {"conditions": [{"type": "Succeeded", "status": "True"}]}});
        let t = to_table(
            "apps.kruise.io",
            "CloneSet",
            std::slice::from_ref(&obj),
            Some(&cols),
            json!({"resourceVersion": "7"}),
            IncludeObject::Metadata,
            now(),
        );
        assert_eq!(t["kind"], "Table");
        assert_eq!(t["metadata"]["resourceVersion"], "7");
        let names: Vec<&str> = t["columnDefinitions"]
            .as_array()
            .map(|c| c.iter().filter_map(|x| x["name"].as_str()).collect())
            .unwrap_or_default();
        assert_eq!(
            names,
            vec!["Name", "DESIRED", "UPDATED_READY", "SUCCEEDED", "AGE", "BAD"]
        );
        assert_eq!(
            t["rows"][0]["cells"],
            json!(["sample", 5, null, "True", "10s", null])
        );
        assert_eq!(t["rows"][0]["object"]["kind"], "PartialObjectMetadata");
        let t = to_table(
            "",
            "ConfigMap",
            std::slice::from_ref(&obj),
            None,
            json!({}),
            IncludeObject::Object,
            now(),
        );
        assert_eq!(t["rows"][0]["object"], obj);
        let t = to_table(
            "",
            "ConfigMap",
            &[obj],
            None,
            json!({}),
            IncludeObject::None,
            now(),
        );
        assert!(t["rows"][0].get("object").is_none());
        assert_eq!(IncludeObject::parse(None), Ok(IncludeObject::Metadata));
        assert!(IncludeObject::parse(Some("All")).is_err());
        // Garbage objects never panic.
        for k in [
            "Pod",
            "Service",
            "Node",
            "Event",
            "Job",
            "Deployment",
            "CronJob",
            "Endpoints",
            "PersistentVolumeClaim",
        ] {
            for g in ["", "apps", "batch"] {
                let cols = columns_for(g, k, None);
                let _ = row_cells(g, k, &json!({"spec": 3, "status": "x", "metadata": []}), &cols, 0);
                let _ = row_cells(g, k, &json!(null), &cols, 0);
            }
        }
    }
}
