//! Pure formatting and parsing helpers of the `tkn`-style commands: ages, durations,
//! status text, aligned tables, `-p`/`-w` flags and log line splitting.

use std::collections::BTreeMap;

use ferry_types::tekton::Condition;
use jiff::{SignedDuration, Timestamp};
use serde_json::{Map, Value, json};

/// What tkn prints for an unset time or duration.
pub const UNSET: &str = "---";

/// A timestamp field of an object (`/metadata/creationTimestamp`, `/status/startTime`, …).
pub fn timestamp_at(object: &Value, pointer: &str) -> Option<Timestamp> {
    object
        .pointer(pointer)
        .and_then(Value::as_str)
        .and_then(|text| text.parse::<Timestamp>().ok())
}

/// A string field of an object, or `""`.
pub fn str_at<'a>(object: &'a Value, pointer: &str) -> &'a str {
    object
        .pointer(pointer)
        .and_then(Value::as_str)
        .unwrap_or_default()
}

/// `5 minutes ago`, as tkn's `formatted.Age` prints it (durafmt's short form: the largest
/// non-zero unit only); `---` when the time is unset.
pub fn age(since: Option<Timestamp>, now: Timestamp) -> String {
    match since {
        None => UNSET.to_string(),
        Some(since) => format!("{} ago", largest_unit(now.duration_since(since))),
    }
}

/// durafmt's short rendering: `1 year`, `3 weeks`, `2 days`, `1 hour`, `5 minutes`,
/// `12 seconds`, `500 milliseconds`, `0 seconds`.
pub fn largest_unit(duration: SignedDuration) -> String {
    const UNITS: [(&str, i128); 8] = [
        ("year", 365 * 24 * 3600 * 1_000_000),
        ("week", 7 * 24 * 3600 * 1_000_000),
        ("day", 24 * 3600 * 1_000_000),
        ("hour", 3600 * 1_000_000),
        ("minute", 60 * 1_000_000),
        ("second", 1_000_000),
        ("millisecond", 1_000),
        ("microsecond", 1),
    ];
    let micros = duration.as_micros();
    let sign = if micros < 0 { "-" } else { "" };
    let micros = micros.abs();
    for (unit, size) in UNITS {
        let count = micros / size;
        if count > 0 {
            let plural = if count == 1 { "" } else { "s" };
            return format!("{sign}{count} {unit}{plural}");
        }
    }
    "0 seconds".to_string()
}

/// Go's `time.Duration.String()` for whole seconds: `0s`, `45s`, `1m30s`, `1h0m0s`.
/// Kubernetes timestamps carry whole seconds, so the fraction is dropped.
pub fn go_duration(duration: SignedDuration) -> String {
    let seconds = duration.as_secs();
    let sign = if seconds < 0 { "-" } else { "" };
    let seconds = seconds.unsigned_abs();
    let (hours, minutes, secs) = (seconds / 3600, seconds / 60 % 60, seconds % 60);
    if hours > 0 {
        format!("{sign}{hours}h{minutes}m{secs}s")
    } else if minutes > 0 {
        format!("{sign}{minutes}m{secs}s")
    } else {
        format!("{sign}{secs}s")
    }
}

/// The DURATION column: completion − start, `---` unless both are set (as tkn prints it).
pub fn run_duration(start: Option<Timestamp>, end: Option<Timestamp>) -> String {
    match (start, end) {
        (Some(start), Some(end)) => go_duration(end.duration_since(start)),
        _ => UNSET.to_string(),
    }
}

/// The conditions of a run object (either Tekton version; the shape is the same).
pub fn conditions(object: &Value) -> Vec<Condition> {
    object
        .pointer("/status/conditions")
        .cloned()
        .and_then(|value| serde_json::from_value(value).ok())
        .unwrap_or_default()
}

/// The STATUS column: `Succeeded`, `Failed(StepFailed)`, `Running`, `---` with no status.
pub fn status_text(object: &Value) -> String {
    ferry_pipelines::conditions::tkn_status(&conditions(object))
}

/// Whether a run has finished (its `Succeeded` condition is True or False).
pub fn is_done(object: &Value) -> bool {
    conditions(object)
        .iter()
        .any(|c| c.type_ == "Succeeded" && (c.status == "True" || c.status == "False"))
}

/// The message of the `Succeeded` condition, if any.
pub fn condition_message(object: &Value) -> Option<String> {
    conditions(object)
        .into_iter()
        .find(|c| c.type_ == "Succeeded")
        .and_then(|c| c.message)
        .filter(|m| !m.is_empty())
}

/// Columns aligned as Go's `tabwriter` with padding 3 aligns them (tkn's writer): every
/// column but the last is padded to its widest cell plus three spaces.
pub fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut all: Vec<Vec<&str>> = vec![headers.to_vec()];
    all.extend(rows.iter().map(|row| row.iter().map(String::as_str).collect()));
    let columns = all.iter().map(Vec::len).max().unwrap_or(0);
    let mut widths = vec![0usize; columns];
    for row in &all {
        for (column, cell) in row.iter().enumerate() {
            if let Some(width) = widths.get_mut(column) {
                *width = (*width).max(cell.chars().count());
            }
        }
    }
    let mut out = String::new();
    for row in &all {
        let mut line = String::new();
        for (column, cell) in row.iter().enumerate() {
            line.push_str(cell);
            if column + 1 < row.len() {
                let width = widths.get(column).copied().unwrap_or(0);
                let pad = width.saturating_sub(cell.chars().count()) + 3;
                line.extend(std::iter::repeat_n(' ', pad));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// A bad `-p`/`-w` flag.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum FlagError {
    #[error("invalid input format for param parameter: {0} (expected NAME=VALUE)")]
    ParamFormat(String),
    #[error("param '{0}' not present in spec")]
    UnknownParam(String),
    #[error(
        "invalid input format for param {name}: {value:?} (object values are \"key:value, key2:value2\")"
    )]
    ObjectFormat { name: String, value: String },
    #[error(
        "invalid input format for workspace {0:?}: expected name=NAME plus one of emptyDir=, secret=, config=, claimName="
    )]
    WorkspaceFormat(String),
}

/// Parses `-p name=value` against the declared param types (`array` splits on `,`,
/// `object` reads `key:value, key2:value2`); an undeclared name is an error, as in tkn.
/// With no declarations known (`declared` empty) every value is a string.
pub fn parse_param(arg: &str, declared: &BTreeMap<String, String>) -> Result<(String, Value), FlagError> {
    let Some((name, value)) = arg.split_once('=') else {
        return Err(FlagError::ParamFormat(arg.to_string()));
    };
    let name = name.trim();
    if name.is_empty() {
        return Err(FlagError::ParamFormat(arg.to_string()));
    }
    let kind = match declared.get(name) {
        Some(kind) => kind.as_str(),
        None if declared.is_empty() => "string",
        None => return Err(FlagError::UnknownParam(name.to_string())),
    };
    let parsed = match kind {
        "array" => Value::Array(value.split(',').map(|item| json!(item)).collect()),
        "object" => {
            let mut object = Map::new();
            for pair in value.split(',').map(str::trim).filter(|p| !p.is_empty()) {
                let Some((key, item)) = pair.split_once(':') else {
                    return Err(FlagError::ObjectFormat {
                        name: name.to_string(),
                        value: value.to_string(),
                    });
                };
                object.insert(key.trim().to_string(), json!(item.trim()));
            }
            Value::Object(object)
        }
        _ => json!(value),
    };
    Ok((name.to_string(), parsed))
}

/// Parses `-w name=ws,emptyDir=` / `secret=s` / `config=cm` / `claimName=pvc` (with an
/// optional `subPath=dir`) into a workspace binding.
pub fn parse_workspace(arg: &str) -> Result<Value, FlagError> {
    let bad = || FlagError::WorkspaceFormat(arg.to_string());
    let mut fields: BTreeMap<&str, &str> = BTreeMap::new();
    for part in arg.split(',') {
        let (key, value) = part.split_once('=').ok_or_else(bad)?;
        fields.insert(key.trim(), value.trim().trim_matches('"'));
    }
    let name = fields.get("name").filter(|n| !n.is_empty()).ok_or_else(bad)?;
    let mut binding = Map::new();
    binding.insert("name".into(), json!(name));
    if let Some(sub_path) = fields.get("subPath") {
        binding.insert("subPath".into(), json!(sub_path));
    }
    if fields.contains_key("emptyDir") {
        binding.insert("emptyDir".into(), json!({}));
    } else if let Some(secret) = fields.get("secret") {
        binding.insert("secret".into(), json!({"secretName": secret}));
    } else if let Some(config) = fields.get("config") {
        binding.insert("configMap".into(), json!({"name": config}));
    } else if let Some(claim) = fields.get("claimName") {
        binding.insert("persistentVolumeClaim".into(), json!({"claimName": claim}));
    } else {
        return Err(bad());
    }
    Ok(Value::Object(binding))
}

/// A param value as tkn's describe prints it: strings bare, arrays and objects as JSON.
pub fn param_value_text(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

/// Splits newly read log bytes into complete lines, keeping an unfinished last line in
/// `partial` for the next read (following a log that is still being written).
pub fn complete_lines(partial: &mut Vec<u8>, new_bytes: &[u8]) -> Vec<String> {
    partial.extend_from_slice(new_bytes);
    let Some(last_newline) = partial.iter().rposition(|b| *b == b'\n') else {
        return Vec::new();
    };
    let rest = partial.split_off(last_newline + 1);
    let complete = std::mem::replace(partial, rest);
    String::from_utf8_lossy(&complete)
        .lines()
        .map(str::to_string)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> Timestamp {
        text.parse().unwrap_or(Timestamp::UNIX_EPOCH)
    }

    #[test]
    fn ages_use_the_largest_unit() {
        let now = at("2024-05-01T12:00:00Z");
        let cases = [
            (Some("2024-05-01T12:00:00Z"), "0 seconds ago"),
            (Some("2024-05-01T11:59:59Z"), "1 second ago"),
            (Some("2024-05-01T11:59:15Z"), "45 seconds ago"),
            (Some("2024-05-01T11:55:00Z"), "5 minutes ago"),
            (Some("2024-05-01T11:54:30Z"), "5 minutes ago"),
            (Some("2024-05-01T11:00:00Z"), "1 hour ago"),
            (Some("2024-04-29T12:00:00Z"), "2 days ago"),
            (Some("2024-04-10T12:00:00Z"), "3 weeks ago"),
            (Some("2022-05-01T12:00:00Z"), "2 years ago"),
            (Some("2024-05-01T12:00:05Z"), "-5 seconds ago"),
            (None, "---"),
        ];
        for (since, expected) in cases {
            assert_eq!(age(since.map(at), now), expected, "{since:?}");
        }
        assert_eq!(largest_unit(SignedDuration::from_millis(250)), "250 milliseconds");
    }

    #[test]
    fn durations_print_as_go_does() {
        let cases = [
            (0, "0s"),
            (45, "45s"),
            (60, "1m0s"),
            (90, "1m30s"),
            (3600, "1h0m0s"),
            (3725, "1h2m5s"),
            (90061, "25h1m1s"),
            (-5, "-5s"),
        ];
        for (seconds, expected) in cases {
            assert_eq!(go_duration(SignedDuration::from_secs(seconds)), expected);
        }
        let start = Some(at("2024-05-01T12:00:00Z"));
        assert_eq!(run_duration(start, Some(at("2024-05-01T12:01:30Z"))), "1m30s");
        assert_eq!(run_duration(start, None), "---");
        assert_eq!(run_duration(None, start), "---");
    }

    #[test]
    fn status_text_reads_the_succeeded_condition() {
        let cases = [
            (json!({}), "---", false),
            (
                json!({"status": {"conditions": [{"type": "Succeeded", "status": "True", "reason": "Succeeded"}]}}),
                "Succeeded",
                true,
            ),
            (
                json!({"status": {"conditions": [{"type": "Succeeded", "status": "False", "reason": "StepFailed"}]}}),
                "Failed(StepFailed)",
                true,
            ),
            (
                json!({"status": {"conditions": [{"type": "Succeeded", "status": "Unknown", "reason": "Running"}]}}),
                "Running",
                false,
            ),
        ];
        for (object, expected, done) in cases {
            assert_eq!(status_text(&object), expected, "{object}");
            assert_eq!(is_done(&object), done, "{object}");
        }
    }

    #[test]
    fn tables_pad_all_but_the_last_column() {
        let rows = vec![
            vec![
                "build-run-abc".to_string(),
                "5 minutes ago".to_string(),
                "Succeeded".to_string(),
            ],
            vec![
                "x".to_string(),
                "---".to_string(),
                "Failed(StepFailed)".to_string(),
            ],
        ];
        let expected = "\
NAME            STARTED         STATUS
build-run-abc   5 minutes ago   Succeeded
x               ---             Failed(StepFailed)
";
        assert_eq!(table(&["NAME", "STARTED", "STATUS"], &rows), expected);
        assert_eq!(table(&["A"], &[]), "A\n");
    }

    type ParsedParam = Result<(String, Value), FlagError>;

    #[test]
    fn params_follow_their_declared_types() {
        let declared: BTreeMap<String, String> = [("s", "string"), ("arr", "array"), ("obj", "object")]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let cases: [(&str, ParsedParam); 7] = [
            ("s=a,b=c", Ok(("s".into(), json!("a,b=c")))),
            ("s=", Ok(("s".into(), json!("")))),
            ("arr=x,y,z", Ok(("arr".into(), json!(["x", "y", "z"])))),
            ("obj=a:1, b:2", Ok(("obj".into(), json!({"a": "1", "b": "2"})))),
            (
                "obj=a",
                Err(FlagError::ObjectFormat {
                    name: "obj".into(),
                    value: "a".into(),
                }),
            ),
            ("nope=1", Err(FlagError::UnknownParam("nope".into()))),
            ("novalue", Err(FlagError::ParamFormat("novalue".into()))),
        ];
        for (arg, expected) in cases {
            assert_eq!(parse_param(arg, &declared), expected, "{arg}");
        }
        assert_eq!(
            parse_param("any=1,2", &BTreeMap::new()),
            Ok(("any".into(), json!("1,2")))
        );
    }

    #[test]
    fn workspaces_bind_each_volume_kind() {
        let cases = [
            ("name=src,emptyDir=", Some(json!({"name": "src", "emptyDir": {}}))),
            (
                "name=creds,secret=my-secret",
                Some(json!({"name": "creds", "secret": {"secretName": "my-secret"}})),
            ),
            (
                "name=cfg,config=cm",
                Some(json!({"name": "cfg", "configMap": {"name": "cm"}})),
            ),
            (
                "name=data,claimName=pvc,subPath=dir",
                Some(
                    json!({"name": "data", "subPath": "dir", "persistentVolumeClaim": {"claimName": "pvc"}}),
                ),
            ),
            ("name=data", None),
            ("emptyDir=", None),
            ("garbage", None),
        ];
        for (arg, expected) in cases {
            assert_eq!(parse_workspace(arg).ok(), expected, "{arg}");
        }
    }

    #[test]
    fn log_bytes_split_into_complete_lines() {
        let mut partial = Vec::new();
        assert_eq!(complete_lines(&mut partial, b"one\ntw"), ["one"]);
        assert_eq!(partial, b"tw");
        assert!(complete_lines(&mut partial, b"o").is_empty());
        assert_eq!(complete_lines(&mut partial, b"\nthree\n"), ["two", "three"]);
        assert!(partial.is_empty());
    }
}
