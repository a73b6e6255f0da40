//! JSON parsing that reports duplicate object keys, for `fieldValidation=Strict|Warn`
//! (kube-apiserver's strict decoding: `duplicate field "spec.replicas"`).
//!
//! Parsing builds the same `serde_json::Value` as `serde_json::from_slice` in one pass (the last
//! duplicate wins, as in Go), so the check costs no second parse of the body.

use std::fmt;

use serde::de::{DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};

/// Parses `bytes` as JSON; returns the value and the paths of duplicated keys in document order.
pub fn from_slice_reporting_duplicates(bytes: &[u8]) -> Result<(Value, Vec<String>), serde_json::Error> {
    let mut state = State::default();
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = ValueSeed { state: &mut state }.deserialize(&mut de)?;
    de.end()?;
    Ok((value, state.duplicates))
}

#[derive(Default)]
struct State {
    path: String,
    duplicates: Vec<String>,
}

struct ValueSeed<'a> {
    state: &'a mut State,
}

impl<'de> DeserializeSeed<'de> for ValueSeed<'_> {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for ValueSeed<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(Number::from_f64(v).map_or(Value::Null, Value::Number))
    }
    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_string()))
    }
    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0));
        loop {
            let len = self.state.path.len();
            self.state.path.push('[');
            self.state.path.push_str(&items.len().to_string());
            self.state.path.push(']');
            let next = seq.next_element_seed(ValueSeed {
                state: &mut *self.state,
            });
            self.state.path.truncate(len);
            match next? {
                Some(v) => items.push(v),
                None => return Ok(Value::Array(items)),
            }
        }
    }

    fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Value, A::Error> {
        let mut map = Map::new();
        while let Some(key) = access.next_key::<String>()? {
            let len = self.state.path.len();
            if len > 0 {
                self.state.path.push('.');
            }
            self.state.path.push_str(&key);
            let value = access.next_value_seed(ValueSeed {
                state: &mut *self.state,
            });
            let value = match value {
                Ok(v) => v,
                Err(e) => {
                    self.state.path.truncate(len);
                    return Err(e);
                }
            };
            if map.insert(key, value).is_some() {
                let path = self.state.path.clone();
                self.state.duplicates.push(path);
            }
            self.state.path.truncate(len);
        }
        Ok(Value::Object(map))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn duplicates_are_reported_with_paths_and_last_wins() {
        let cases: &[(&str, Value, &[&str])] = &[
            (r#"{"a": 1}"#, json!({"a": 1}), &[]),
            (
                r#"{"spec": {"replicas": 1, "replicas": 2}, "metadata": {"name": "x"}}"#,
                json!({"spec": {"replicas": 2}, "metadata": {"name": "x"}}),
                &["spec.replicas"],
            ),
            (
                r#"{"items": [{"n": 1}, {"n": 2, "n": 3, "m": [1, 2.5, null, true, "s"]}], "items": []}"#,
                json!({"items": []}),
                &["items[1].n", "items"],
            ),
            (r#"[1, {"k": {}, "k": {}}]"#, json!([1, {"k": {}}]), &["[1].k"]),
            (
                r#"{"big": 18446744073709551615, "neg": -5, "f": 1e3}"#,
                json!({"big": 18_446_744_073_709_551_615u64, "neg": -5, "f": 1000.0}),
                &[],
            ),
        ];
        for (text, want, dups) in cases {
            let (v, d) = from_slice_reporting_duplicates(text.as_bytes()).unwrap();
            assert_eq!(&v, want, "{text}");
            assert_eq!(d, *dups, "{text}");
            // Same value as serde_json's own parser.
            assert_eq!(v, serde_json::from_str::<Value>(text).unwrap(), "{text}");
        }
    }

    #[test]
    fn malformed_json_is_an_error() {
        for bad in ["", "{", r#"{"a": }"#, "[1,]", r#"{"a": 1} x"#] {
            assert!(from_slice_reporting_duplicates(bad.as_bytes()).is_err(), "{bad}");
        }
    }
}
