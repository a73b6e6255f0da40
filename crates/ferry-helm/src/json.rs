//! JSON as Go's `encoding/json` writes it, and conversions between template
//! values and `serde_json` values.

use gotmpl::Value;
use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Arc;

/// `json.Marshal` of a template value: sorted keys, HTML-safe escaping,
/// Go's float formatting. `indent` is `Some("  ")` for `toPrettyJson`.
pub fn to_json(value: &Value, indent: Option<&str>) -> String {
    let mut out = String::new();
    write_json(&mut out, value, indent, 0);
    out
}

fn newline(out: &mut String, indent: Option<&str>, depth: usize) {
    if let Some(unit) = indent {
        out.push('\n');
        for _ in 0..depth {
            out.push_str(unit);
        }
    }
}

fn write_json(out: &mut String, value: &Value, indent: Option<&str>, depth: usize) {
    match value {
        Value::Nil | Value::Function(_) => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Int(n) => {
            let _ = write!(out, "{n}");
        }
        Value::Uint(n) => {
            let _ = write!(out, "{n}");
        }
        Value::Float(f) => out.push_str(&json_float(*f)),
        Value::String(s) => write_json_string(out, s),
        Value::List(items) => {
            if items.is_empty() {
                out.push_str("[]");
                return;
            }
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                newline(out, indent, depth + 1);
                write_json(out, item, indent, depth + 1);
            }
            newline(out, indent, depth);
            out.push(']');
        }
        Value::Map(map) => {
            if map.is_empty() {
                out.push_str("{}");
                return;
            }
            out.push('{');
            for (i, (k, v)) in map.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                newline(out, indent, depth + 1);
                write_json_string(out, k);
                out.push(':');
                if indent.is_some() {
                    out.push(' ');
                }
                write_json(out, v, indent, depth + 1);
            }
            newline(out, indent, depth);
            out.push('}');
        }
    }
}

/// Go's float encoding: `'f'` format, or `'e'` for very small/large values
/// with a one-digit negative exponent cleaned up (`1e-7`).
pub fn json_float(f: f64) -> String {
    if !f.is_finite() {
        // json.Marshal fails on these; Helm then renders an empty string.
        return String::new();
    }
    let abs = f.abs();
    if abs != 0.0 && !(1e-6..1e21).contains(&abs) {
        let g = crate::gofmt::format_float_g(f);
        // format_float_g always uses the exponent form in this range.
        return g.replace("e-0", "e-");
    }
    crate::gofmt::format_float_f(f)
}

fn write_json_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '<' => out.push_str("\\u003c"),
            '>' => out.push_str("\\u003e"),
            '&' => out.push_str("\\u0026"),
            '\u{2028}' => out.push_str("\\u2028"),
            '\u{2029}' => out.push_str("\\u2029"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// A `serde_json` value as a template value (numbers become float64).
pub fn from_serde(value: &serde_json::Value) -> Value {
    match value {
        serde_json::Value::Null => Value::Nil,
        serde_json::Value::Bool(b) => Value::Bool(*b),
        serde_json::Value::Number(n) => Value::Float(n.as_f64().unwrap_or(0.0)),
        serde_json::Value::String(s) => Value::String(Arc::from(s.as_str())),
        serde_json::Value::Array(items) => Value::List(items.iter().map(from_serde).collect()),
        serde_json::Value::Object(map) => {
            let entries: BTreeMap<Arc<str>, Value> = map
                .iter()
                .map(|(k, v)| (Arc::from(k.as_str()), from_serde(v)))
                .collect();
            Value::Map(Arc::new(entries))
        }
    }
}

/// A template value as a `serde_json` value (integral floats become integers,
/// as they would after `json.Marshal`).
pub fn to_serde(value: &Value) -> serde_json::Value {
    match value {
        Value::Nil | Value::Function(_) => serde_json::Value::Null,
        Value::Bool(b) => serde_json::Value::Bool(*b),
        Value::Int(n) => serde_json::Value::from(*n),
        Value::Uint(n) => serde_json::Value::from(*n),
        Value::Float(f) => {
            if f.fract() == 0.0 && f.abs() < 9.0e15 {
                serde_json::Value::from(*f as i64)
            } else {
                serde_json::Number::from_f64(*f)
                    .map(serde_json::Value::Number)
                    .unwrap_or(serde_json::Value::Null)
            }
        }
        Value::String(s) => serde_json::Value::String(s.to_string()),
        Value::List(items) => serde_json::Value::Array(items.iter().map(to_serde).collect()),
        Value::Map(map) => {
            serde_json::Value::Object(map.iter().map(|(k, v)| (k.to_string(), to_serde(v))).collect())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_like_go_encoding_json() {
        let value = from_serde(&serde_json::json!({
            "b": [1, 2.5, true, null],
            "a": "<x & y>",
            "big": 1e21,
            "tiny": 1e-7,
            "m": 1000000
        }));
        assert_eq!(
            to_json(&value, None),
            r#"{"a":"\u003cx \u0026 y\u003e","b":[1,2.5,true,null],"big":1e+21,"m":1000000,"tiny":1e-7}"#
        );
    }

    #[test]
    fn pretty_json_indents_like_marshal_indent() {
        let value = from_serde(&serde_json::json!({"a": [1], "b": {}}));
        assert_eq!(
            to_json(&value, Some("  ")),
            "{\n  \"a\": [\n    1\n  ],\n  \"b\": {}\n}"
        );
    }
}
