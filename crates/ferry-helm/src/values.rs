//! Values: user-supplied merging, Helm's `--set` grammar (strvals) and
//! coalescing with chart defaults.
//!
//! The tree is a `serde_json::Value` whose numbers keep Helm's Go types:
//! values files and `--set-json` give float64, `--set` gives int64.

use serde_json::{Map, Number, Value as Json};
use std::sync::Arc;

/// A `--set`-family parse failure (Helm's message).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("failed parsing --{flag} data: {message}")]
pub struct SetError {
    pub flag: &'static str,
    pub message: String,
}

/// A template value converted to the typed values tree.
pub fn from_template_value(value: &gotmpl::Value) -> Json {
    use gotmpl::Value as V;
    match value {
        V::Nil | V::Function(_) => Json::Null,
        V::Bool(b) => Json::Bool(*b),
        V::Int(n) => Json::Number(Number::from(*n)),
        V::Uint(n) => Json::Number(Number::from(*n)),
        V::Float(f) => Number::from_f64(*f).map(Json::Number).unwrap_or(Json::Null),
        V::String(s) => Json::String(s.to_string()),
        V::List(items) => Json::Array(items.iter().map(from_template_value).collect()),
        V::Map(m) => Json::Object(
            m.iter()
                .map(|(k, v)| (k.to_string(), from_template_value(v)))
                .collect(),
        ),
    }
}

/// The typed values tree as a template value (int64 stays int, float stays
/// float).
pub fn to_template_value(value: &Json) -> gotmpl::Value {
    use gotmpl::Value as V;
    match value {
        Json::Null => V::Nil,
        Json::Bool(b) => V::Bool(*b),
        Json::Number(n) => {
            if n.is_f64() {
                V::Float(n.as_f64().unwrap_or(0.0))
            } else if let Some(i) = n.as_i64() {
                V::Int(i)
            } else {
                V::Uint(n.as_u64().unwrap_or(0))
            }
        }
        Json::String(s) => V::String(Arc::from(s.as_str())),
        Json::Array(items) => V::List(items.iter().map(to_template_value).collect()),
        Json::Object(m) => V::Map(Arc::new(
            m.iter()
                .map(|(k, v)| (Arc::from(k.as_str()), to_template_value(v)))
                .collect(),
        )),
    }
}

/// Parse a values file (YAML 1.1, Helm typing) into the values tree.
pub fn parse_values_yaml(text: &str) -> Result<Json, crate::yaml::YamlError> {
    let parsed = crate::yaml::parse_yaml(text)?;
    Ok(match from_template_value(&parsed) {
        Json::Null => Json::Object(Map::new()),
        other => other,
    })
}

/// Helm's `mergeMaps`: `b` over `a`, recursively for maps.
pub fn merge_maps(a: &mut Map<String, Json>, b: Map<String, Json>) {
    for (k, v) in b {
        match (a.get_mut(&k), v) {
            (Some(Json::Object(existing)), Json::Object(incoming)) => merge_maps(existing, incoming),
            (_, v) => {
                a.insert(k, v);
            }
        }
    }
}

/// Chart defaults under user values: user values win, `null` deletes a
/// default, maps merge recursively (Helm's `coalesceTablesFullKey`).
pub fn coalesce_tables(dst: &mut Map<String, Json>, src: &Map<String, Json>) {
    for (key, src_value) in src {
        match dst.get_mut(key) {
            None => {
                dst.insert(key.clone(), src_value.clone());
            }
            Some(Json::Null) => {
                dst.remove(key);
            }
            Some(Json::Object(dst_map)) => {
                if let Json::Object(src_map) = src_value {
                    coalesce_tables(dst_map, src_map);
                }
            }
            Some(_) => {}
        }
    }
}

// ---------------------------------------------------------------------------
// strvals
// ---------------------------------------------------------------------------

/// How values of a `--set`-family flag are typed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum SetKind {
    /// `--set`: `true`/`false`/`null`/int64 are typed, the rest strings.
    Typed,
    /// `--set-string`: every value is a string.
    String,
    /// `--set-json`: every value is JSON.
    Json,
    /// `--set-literal`: the whole rest is one literal string.
    Literal,
}

impl SetKind {
    fn flag(self) -> &'static str {
        match self {
            SetKind::Typed => "set",
            SetKind::String => "set-string",
            SetKind::Json => "set-json",
            SetKind::Literal => "set-literal",
        }
    }
}

const MAX_INDEX: usize = 65536;
const MAX_NESTING: usize = 30;

/// Reads the file a `--set-file` value names.
type FileReader<'a> = dyn Fn(&str) -> Result<String, String> + 'a;

struct StrvalsParser<'a> {
    chars: Vec<char>,
    pos: usize,
    kind: SetKind,
    /// For `--set-file`: turns the value text (a path) into content.
    file_reader: Option<&'a FileReader<'a>>,
}

enum ValueEnd {
    /// Consumed up to and including a separator, or the end.
    Done,
}

impl StrvalsParser<'_> {
    fn error(&self, message: impl Into<String>) -> SetError {
        SetError {
            flag: if self.file_reader.is_some() {
                "set-file"
            } else {
                self.kind.flag()
            },
            message: message.into(),
        }
    }

    fn at_end(&self) -> bool {
        self.pos >= self.chars.len()
    }

    fn next(&mut self) -> Option<char> {
        let c = self.chars.get(self.pos).copied();
        if c.is_some() {
            self.pos += 1;
        }
        c
    }

    /// Read until one of `stops` (not escaped); returns text and the stop
    /// (None at end of input). A backslash takes the next character
    /// literally.
    fn until(&mut self, stops: &[char]) -> (String, Option<char>) {
        let mut out = String::new();
        while let Some(c) = self.next() {
            if c == '\\' {
                if let Some(escaped) = self.next() {
                    out.push(escaped);
                }
                continue;
            }
            if stops.contains(&c) {
                return (out, Some(c));
            }
            out.push(c);
        }
        (out, None)
    }

    fn parse(&mut self, data: &mut Map<String, Json>) -> Result<(), SetError> {
        while !self.at_end() {
            self.key(data, 0)?;
        }
        Ok(())
    }

    fn key(&mut self, data: &mut Map<String, Json>, level: usize) -> Result<(), SetError> {
        if level > MAX_NESTING {
            return Err(self.error(format!(
                "value name nested level is greater than maximum supported nested level of {MAX_NESTING}"
            )));
        }
        let (key, last) = self.until(&['=', '[', ',', '.']);
        match last {
            Some('[') => {
                let index = self.key_index()?;
                let mut list = match data.remove(&key) {
                    None => Vec::new(),
                    Some(Json::Array(l)) => l,
                    Some(_) => {
                        return Err(self.error(format!("unable to parse key: {key:?} is not a list")));
                    }
                };
                let result = self.list_item(&mut list, index, level);
                set(data, &key, Json::Array(list));
                result
            }
            Some('=') => {
                let value = self.value()?;
                set(data, &key, value);
                Ok(())
            }
            Some(',') => {
                set(data, &key, Json::String(String::new()));
                Err(self.error(format!("key {key:?} has no value (cannot end with ,)")))
            }
            Some('.') => {
                let mut inner = match data.remove(&key) {
                    None => Map::new(),
                    Some(Json::Object(m)) => m,
                    Some(_) => Map::new(),
                };
                let result = self.key(&mut inner, level + 1);
                if result.is_ok() && inner.is_empty() {
                    return Err(self.error(format!("key map {key:?} has no value")));
                }
                if !inner.is_empty() {
                    set(data, &key, Json::Object(inner));
                }
                result
            }
            _ => Err(self.error(format!("key {key:?} has no value"))),
        }
    }

    fn key_index(&mut self) -> Result<usize, SetError> {
        let (text, last) = self.until(&[']']);
        if last.is_none() {
            return Err(self.error("error parsing index: unexpected end of input"));
        }
        let index: i64 = text.parse().map_err(|_| {
            self.error(format!(
                "error parsing index: strconv.Atoi: parsing {text:?}: invalid syntax"
            ))
        })?;
        if index < 0 {
            return Err(self.error(format!("negative {index} index not allowed")));
        }
        if index as usize > MAX_INDEX {
            return Err(self.error(format!(
                "index of {index} is greater than maximum supported index of {MAX_INDEX}"
            )));
        }
        Ok(index as usize)
    }

    fn list_item(&mut self, list: &mut Vec<Json>, index: usize, level: usize) -> Result<(), SetError> {
        let (rest, last) = self.until(&['[', '.', '=']);
        if !rest.is_empty() {
            return Err(self.error(format!("unexpected data at end of array index: {rest:?}")));
        }
        match last {
            Some('=') => {
                let value = self.value()?;
                set_index(list, index, value);
                Ok(())
            }
            Some('[') => {
                let next_index = self.key_index()?;
                let mut inner = match list.get_mut(index).map(std::mem::take) {
                    Some(Json::Array(l)) => l,
                    _ => Vec::new(),
                };
                let result = self.list_item(&mut inner, next_index, level);
                set_index(list, index, Json::Array(inner));
                result
            }
            Some('.') => {
                let mut inner = match list.get_mut(index).map(std::mem::take) {
                    Some(Json::Object(m)) => m,
                    _ => Map::new(),
                };
                let result = self.key(&mut inner, level + 1);
                set_index(list, index, Json::Object(inner));
                result
            }
            _ => Err(self.error("set an index to no value")),
        }
    }

    /// The value after `=`, through the next unescaped `,`.
    fn value(&mut self) -> Result<Json, SetError> {
        match self.kind {
            SetKind::Literal => {
                let rest: String = self.chars[self.pos..].iter().collect();
                self.pos = self.chars.len();
                return Ok(Json::String(rest));
            }
            SetKind::Json => return self.json_value(),
            _ => {}
        }
        if self.chars.get(self.pos) == Some(&'{') && self.file_reader.is_none() {
            self.pos += 1;
            let mut items = Vec::new();
            loop {
                let (text, last) = self.until(&[',', '}']);
                match last {
                    None => return Err(self.error("list must terminate with '}'")),
                    Some(stop) => {
                        if !(text.is_empty() && stop == '}' && items.is_empty()) {
                            items.push(self.typed(&text));
                        }
                        if stop == '}' {
                            if self.chars.get(self.pos) == Some(&',') {
                                self.pos += 1;
                            }
                            let _ = ValueEnd::Done;
                            return Ok(Json::Array(items));
                        }
                    }
                }
            }
        }
        let (text, _) = self.until(&[',']);
        if let Some(reader) = self.file_reader {
            return reader(&text).map(Json::String).map_err(|e| self.error(e));
        }
        Ok(self.typed(&text))
    }

    fn json_value(&mut self) -> Result<Json, SetError> {
        let rest: String = self.chars[self.pos..].iter().collect();
        let mut stream = serde_json::Deserializer::from_str(&rest).into_iter::<serde_json::Value>();
        match stream.next() {
            Some(Ok(value)) => {
                let consumed = stream.byte_offset();
                self.pos += rest[..consumed].chars().count();
                match self.next() {
                    None | Some(',') => Ok(json_floats(value)),
                    Some(other) => {
                        Err(self.error(format!("unexpected character {other:?} after JSON value")))
                    }
                }
            }
            Some(Err(e)) => Err(self.error(e.to_string())),
            None => {
                self.pos = self.chars.len();
                Ok(Json::String(String::new()))
            }
        }
    }

    fn typed(&self, text: &str) -> Json {
        if self.kind == SetKind::String {
            return Json::String(text.to_string());
        }
        if text.eq_ignore_ascii_case("true") {
            return Json::Bool(true);
        }
        if text.eq_ignore_ascii_case("false") {
            return Json::Bool(false);
        }
        if text.eq_ignore_ascii_case("null") {
            return Json::Null;
        }
        if text == "0" {
            return Json::Number(Number::from(0));
        }
        if !text.is_empty()
            && !text.starts_with('0')
            && let Ok(n) = text.parse::<i64>()
        {
            return Json::Number(Number::from(n));
        }
        Json::String(text.to_string())
    }
}

/// JSON numbers as Go's `json.Unmarshal` into `interface{}` gives them.
fn json_floats(value: Json) -> Json {
    match value {
        Json::Number(n) => Number::from_f64(n.as_f64().unwrap_or(0.0))
            .map(Json::Number)
            .unwrap_or(Json::Null),
        Json::Array(items) => Json::Array(items.into_iter().map(json_floats).collect()),
        Json::Object(m) => Json::Object(m.into_iter().map(|(k, v)| (k, json_floats(v))).collect()),
        other => other,
    }
}

fn set(data: &mut Map<String, Json>, key: &str, value: Json) {
    if key.is_empty() {
        return;
    }
    data.insert(key.to_string(), value);
}

fn set_index(list: &mut Vec<Json>, index: usize, value: Json) {
    if list.len() <= index {
        list.resize(index + 1, Json::Null);
    }
    if let Some(slot) = list.get_mut(index) {
        *slot = value;
    }
}

/// Apply one `--set`-family flag value (`a.b=c,d[0]=e`) onto `dest`.
pub fn parse_set(text: &str, kind: SetKind, dest: &mut Map<String, Json>) -> Result<(), SetError> {
    if kind == SetKind::Json && text.trim_start().starts_with('{') {
        // Helm accepts a whole JSON object as one --set-json value.
        let value: Json = serde_json::from_str(text).map_err(|e| SetError {
            flag: "set-json",
            message: e.to_string(),
        })?;
        if let Json::Object(m) = json_floats(value) {
            merge_maps(dest, m);
        }
        return Ok(());
    }
    let mut parser = StrvalsParser {
        chars: text.chars().collect(),
        pos: 0,
        kind,
        file_reader: None,
    };
    parser.parse(dest)
}

/// Apply one `--set-file` value (`key=path`), reading each path with `read`.
pub fn parse_set_file(
    text: &str,
    read: &dyn Fn(&str) -> Result<String, String>,
    dest: &mut Map<String, Json>,
) -> Result<(), SetError> {
    let mut parser = StrvalsParser {
        chars: text.chars().collect(),
        pos: 0,
        kind: SetKind::String,
        file_reader: Some(read),
    };
    parser.parse(dest)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn set_typed(text: &str) -> Result<Json, SetError> {
        let mut m = Map::new();
        parse_set(text, SetKind::Typed, &mut m)?;
        Ok(Json::Object(m))
    }

    #[test]
    fn strvals_grammar_matches_helm() {
        let table: Vec<(&str, Json)> = vec![
            ("a=b", json!({"a": "b"})),
            (
                "a=1,b=true,c=null,d=0777,e=1.5",
                json!({"a": 1, "b": true, "c": null, "d": "0777", "e": "1.5"}),
            ),
            ("a.b.c=x", json!({"a": {"b": {"c": "x"}}})),
            ("list={a,b,3}", json!({"list": ["a", "b", 3]})),
            ("name=a\\,b", json!({"name": "a,b"})),
            ("a\\.b=c", json!({"a.b": "c"})),
            ("arr[1]=x", json!({"arr": [null, "x"]})),
            (
                "arr[0].name=n,arr[0].port=80",
                json!({"arr": [{"name": "n", "port": 80}]}),
            ),
            ("m[0][1]=z", json!({"m": [[null, "z"]]})),
            ("empty=", json!({"empty": ""})),
            ("image.tag=main-abc123", json!({"image": {"tag": "main-abc123"}})),
        ];
        for (input, want) in table {
            assert_eq!(set_typed(input), Ok(want), "--set {input}");
        }
    }

    #[test]
    fn strvals_errors_are_reported() {
        assert!(set_typed("a").is_err());
        assert!(set_typed("a,b=c").is_err());
        assert!(set_typed("a[-1]=x").is_err());
        assert!(set_typed("a[99999999]=x").is_err());
        assert!(set_typed("a={x,y").is_err());
    }

    #[test]
    fn set_string_and_json_and_file() {
        let mut m = Map::new();
        parse_set("a=1,b=true", SetKind::String, &mut m).expect("parses");
        assert_eq!(Json::Object(m), json!({"a": "1", "b": "true"}));

        let mut m = Map::new();
        parse_set("a={\"x\":[1,2]},b=3", SetKind::Json, &mut m).expect("parses");
        assert_eq!(m.get("a"), Some(&json!({"x": [1.0, 2.0]})));
        assert_eq!(m.get("b"), Some(&json!(3.0)));

        let mut m = Map::new();
        let read = |path: &str| Ok(format!("content of {path}"));
        parse_set_file("cfg=/tmp/x.txt", &read, &mut m).expect("parses");
        assert_eq!(m.get("cfg"), Some(&json!("content of /tmp/x.txt")));
    }

    #[test]
    fn coalescing_keeps_user_values_and_null_deletes() {
        let mut user = json!({"a": {"x": 1}, "gone": null, "keep": "u"});
        let defaults = json!({"a": {"x": 0, "y": 2}, "gone": "d", "keep": "d", "new": 3});
        if let (Json::Object(u), Json::Object(d)) = (&mut user, &defaults) {
            coalesce_tables(u, d);
        }
        assert_eq!(user, json!({"a": {"x": 1, "y": 2}, "keep": "u", "new": 3}));
    }
}
