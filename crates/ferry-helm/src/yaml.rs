//! YAML as Helm reads and writes it.
//!
//! Reading: Helm parses values with `sigs.k8s.io/yaml` (YAML 1.1 via go-yaml
//! v2, then JSON), so `yes`/`on` are booleans, `0777` is octal, every number
//! becomes a float64 and every map key a string.
//!
//! Writing: `toYaml` is `json.Marshal` followed by go-yaml v2's emitter: keys in
//! go-yaml's "natural" order, block style, indentless sequences, strings
//! quoted only when they would read back as another type, long plain strings
//! folded at column 80, multi-line strings as literal blocks.

use gotmpl::Value;
use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use crate::gofmt;

/// A template value deserialized with Helm's typing rules.
pub struct GoValue(pub Value);

impl<'de> serde::Deserialize<'de> for GoValue {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(GoValueVisitor).map(GoValue)
    }
}

struct GoValueVisitor;

impl<'de> Visitor<'de> for GoValueVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any YAML value")
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Float(v as f64))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Value, E> {
        Ok(Value::Float(v as f64))
    }
    fn visit_i128<E: de::Error>(self, v: i128) -> Result<Value, E> {
        Ok(Value::Float(v as f64))
    }
    fn visit_u128<E: de::Error>(self, v: u128) -> Result<Value, E> {
        Ok(Value::Float(v as f64))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
        Ok(Value::Float(v))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(Arc::from(v)))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(Arc::from(v)))
    }
    fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<Value, E> {
        Ok(Value::String(Arc::from(String::from_utf8_lossy(v).as_ref())))
    }
    fn visit_none<E: de::Error>(self) -> Result<Value, E> {
        Ok(Value::Nil)
    }
    fn visit_unit<E: de::Error>(self) -> Result<Value, E> {
        Ok(Value::Nil)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(GoValueVisitor)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(GoValue(item)) = seq.next_element()? {
            items.push(item);
        }
        Ok(Value::List(Arc::from(items)))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut entries = BTreeMap::new();
        while let Some(GoKey(key)) = map.next_key()? {
            let GoValue(value) = map.next_value()?;
            entries.insert(Arc::from(key.as_str()), value);
        }
        Ok(Value::Map(Arc::new(entries)))
    }
}

/// A map key turned into a string the way `sigs.k8s.io/yaml` does.
struct GoKey(String);

impl<'de> serde::Deserialize<'de> for GoKey {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let GoValue(value) = GoValue::deserialize(deserializer)?;
        let key = match &value {
            Value::Nil => "null".to_string(),
            Value::String(s) => s.to_string(),
            Value::Float(f) => gofmt::format_float_g(*f),
            other => gofmt::format_v(other),
        };
        Ok(GoKey(key))
    }
}

/// Parse error of a YAML document, with the location serde-saphyr reports.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct YamlError {
    pub message: String,
}

fn helm_yaml_options() -> serde_saphyr::Options {
    let mut options = serde_saphyr::Options::default();
    options.legacy_octal_numbers = true;
    options.strict_booleans = false;
    options.duplicate_keys = serde_saphyr::DuplicateKeyPolicy::LastWins;
    options.with_snippet = false;
    options
}

/// Parse one YAML document into a template value (Helm's typing). An empty
/// document is `nil`.
pub fn parse_yaml(text: &str) -> Result<Value, YamlError> {
    if text.trim().is_empty() || is_only_comments(text) {
        return Ok(Value::Nil);
    }
    serde_saphyr::from_str_with_options::<GoValue>(text, helm_yaml_options())
        .map(|GoValue(v)| v)
        .map_err(|e| YamlError {
            message: e.to_string(),
        })
}

/// Parse every document of a multi-document YAML stream.
pub fn parse_yaml_documents(text: &str) -> Result<Vec<Value>, YamlError> {
    serde_saphyr::from_str_multiple_with_options::<GoValue, Vec<GoValue>>(text, helm_yaml_options())
        .map(|docs| docs.into_iter().map(|GoValue(v)| v).collect())
        .map_err(|e| YamlError {
            message: e.to_string(),
        })
}

fn is_only_comments(text: &str) -> bool {
    text.lines().all(|line| {
        let t = line.trim();
        t.is_empty() || t.starts_with('#') || t == "---"
    })
}

// ---------------------------------------------------------------------------
// Emitter (go-yaml v2 compatible)
// ---------------------------------------------------------------------------

const BEST_WIDTH: usize = 80;

/// Serialize a value as `toYaml` does (with the trailing newline that
/// `yaml.Marshal` writes; Helm's `toYaml` trims it).
pub fn to_yaml(value: &Value) -> String {
    emit(value, false)
}

/// `toYamlPretty`: like `toYaml` but sequences are indented under their
/// key (go-yaml v3 with a 2-space indent).
pub fn to_yaml_pretty(value: &Value) -> String {
    emit(value, true)
}

fn emit(value: &Value, indent_sequences: bool) -> String {
    let mut emitter = Emitter {
        out: String::new(),
        indent_sequences,
    };
    let normalized = normalize_for_yaml(value);
    match &normalized {
        YamlNode::Map(entries) if !entries.is_empty() => emitter.block_map(entries, 0),
        YamlNode::Seq(items) if !items.is_empty() => emitter.block_seq(items, 0),
        other => {
            emitter.inline_value(other, 0, false);
            emitter.out.push('\n');
        }
    }
    emitter.out
}

/// The value after the JSON round trip `sigs.k8s.io/yaml` performs.
enum YamlNode {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Seq(Vec<YamlNode>),
    Map(Vec<(String, YamlNode)>),
}

fn normalize_for_yaml(value: &Value) -> YamlNode {
    match value {
        Value::Nil | Value::Function(_) => YamlNode::Null,
        Value::Bool(b) => YamlNode::Bool(*b),
        Value::Int(n) => YamlNode::Int(*n),
        Value::Uint(n) => match i64::try_from(*n) {
            Ok(n) => YamlNode::Int(n),
            Err(_) => YamlNode::Float(*n as f64),
        },
        Value::Float(f) => {
            // json.Marshal prints integral floats below 1e21 without a
            // fraction, and go-yaml reads those back as ints when they fit.
            if f.fract() == 0.0 && f.abs() < 9.2e18 {
                YamlNode::Int(*f as i64)
            } else {
                YamlNode::Float(*f)
            }
        }
        Value::String(s) => YamlNode::Str(s.to_string()),
        Value::List(items) => YamlNode::Seq(items.iter().map(normalize_for_yaml).collect()),
        Value::Map(map) => {
            let mut entries: Vec<(String, YamlNode)> = map
                .iter()
                .map(|(k, v)| (k.to_string(), normalize_for_yaml(v)))
                .collect();
            entries.sort_by(|a, b| natural_key_cmp(&a.0, &b.0));
            YamlNode::Map(entries)
        }
    }
}

/// go-yaml v2's map key order: letters compare as characters, runs of
/// digits compare as numbers, non-letters sort before letters.
pub fn natural_key_cmp(a: &str, b: &str) -> std::cmp::Ordering {
    use std::cmp::Ordering;
    let ar: Vec<char> = a.chars().collect();
    let br: Vec<char> = b.chars().collect();
    let mut i = 0;
    while i < ar.len() && i < br.len() {
        if ar[i] == br[i] {
            i += 1;
            continue;
        }
        let al = ar[i].is_alphabetic();
        let bl = br[i].is_alphabetic();
        if al && bl {
            return ar[i].cmp(&br[i]);
        }
        if al || bl {
            return if bl { Ordering::Less } else { Ordering::Greater };
        }
        let mut an: i64 = 0;
        let mut bn: i64 = 0;
        if ar[i] == '0' || br[i] == '0' {
            let mut j = i;
            while j > 0 {
                j -= 1;
                if !ar[j].is_ascii_digit() {
                    break;
                }
                if ar[j] != '0' {
                    an = 1;
                    bn = 1;
                    break;
                }
            }
        }
        let mut ai = i;
        while ai < ar.len() && ar[ai].is_ascii_digit() {
            an = an.wrapping_mul(10).wrapping_add(i64::from(ar[ai] as u8 - b'0'));
            ai += 1;
        }
        let mut bi = i;
        while bi < br.len() && br[bi].is_ascii_digit() {
            bn = bn.wrapping_mul(10).wrapping_add(i64::from(br[bi] as u8 - b'0'));
            bi += 1;
        }
        if an != bn {
            return an.cmp(&bn);
        }
        if ai != bi {
            return ai.cmp(&bi);
        }
        return ar[i].cmp(&br[i]);
    }
    ar.len().cmp(&br.len())
}

struct Emitter {
    out: String,
    indent_sequences: bool,
}

#[derive(Clone, Copy, PartialEq)]
enum ScalarStyle {
    Plain,
    SingleQuoted,
    DoubleQuoted,
    Literal,
}

impl Emitter {
    fn column(&self) -> usize {
        match self.out.rfind('\n') {
            Some(pos) => self.out[pos + 1..].chars().count(),
            None => self.out.chars().count(),
        }
    }

    fn write_indent(&mut self, indent: usize) {
        self.out.push('\n');
        for _ in 0..indent {
            self.out.push(' ');
        }
    }

    fn pad(&mut self, indent: usize) {
        for _ in 0..indent {
            self.out.push(' ');
        }
    }

    /// A block mapping whose keys start at column `indent`; the cursor is
    /// already at that column for the first key.
    fn block_map(&mut self, entries: &[(String, YamlNode)], indent: usize) {
        for (i, (key, value)) in entries.iter().enumerate() {
            if i > 0 {
                self.pad(indent);
            }
            self.scalar_string(key, indent, true);
            self.out.push(':');
            match value {
                YamlNode::Map(inner) if !inner.is_empty() => {
                    self.out.push('\n');
                    self.pad(indent + 2);
                    self.block_map(inner, indent + 2);
                }
                YamlNode::Seq(items) if !items.is_empty() => {
                    // go-yaml v2 writes sequences in mappings without
                    // indenting them; v3 (toYamlPretty) indents them.
                    let seq_indent = if self.indent_sequences { indent + 2 } else { indent };
                    self.out.push('\n');
                    self.pad(seq_indent);
                    self.block_seq(items, seq_indent);
                }
                other => {
                    self.out.push(' ');
                    self.inline_value(other, indent + 2, false);
                    self.out.push('\n');
                }
            }
        }
    }

    /// A block sequence whose dashes are at column `indent`; the cursor is
    /// already there for the first item.
    fn block_seq(&mut self, items: &[YamlNode], indent: usize) {
        for (i, item) in items.iter().enumerate() {
            if i > 0 {
                self.pad(indent);
            }
            self.out.push_str("- ");
            match item {
                YamlNode::Map(inner) if !inner.is_empty() => self.block_map(inner, indent + 2),
                YamlNode::Seq(inner) if !inner.is_empty() => self.block_seq(inner, indent + 2),
                other => {
                    self.inline_value(other, indent + 2, false);
                    self.out.push('\n');
                }
            }
        }
    }

    /// A scalar or empty collection; `indent` is where continuation lines go.
    fn inline_value(&mut self, value: &YamlNode, indent: usize, is_key: bool) {
        match value {
            YamlNode::Null => self.out.push_str("null"),
            YamlNode::Bool(b) => self.out.push_str(if *b { "true" } else { "false" }),
            YamlNode::Int(n) => self.out.push_str(&n.to_string()),
            YamlNode::Float(f) => self.out.push_str(&yaml_float(*f)),
            YamlNode::Str(s) => self.scalar_string(s, indent, is_key),
            YamlNode::Seq(_) => self.out.push_str("[]"),
            YamlNode::Map(_) => self.out.push_str("{}"),
        }
    }

    fn scalar_string(&mut self, s: &str, indent: usize, is_key: bool) {
        let style = choose_style(s, is_key);
        match style {
            ScalarStyle::Plain => self.write_plain(s, indent, !is_key),
            ScalarStyle::SingleQuoted => self.write_single_quoted(s, indent, !is_key),
            ScalarStyle::DoubleQuoted => self.write_double_quoted(s, indent, !is_key),
            ScalarStyle::Literal => self.write_literal(s, indent),
        }
    }

    fn write_plain(&mut self, s: &str, indent: usize, allow_breaks: bool) {
        let chars: Vec<char> = s.chars().collect();
        let mut spaces = false;
        for (i, &c) in chars.iter().enumerate() {
            if c == ' ' {
                let next_is_space = chars.get(i + 1) == Some(&' ');
                if allow_breaks && !spaces && self.column() > BEST_WIDTH && !next_is_space {
                    self.write_indent(indent);
                } else {
                    self.out.push(c);
                }
                spaces = true;
            } else {
                self.out.push(c);
                spaces = false;
            }
        }
    }

    fn write_single_quoted(&mut self, s: &str, indent: usize, allow_breaks: bool) {
        self.out.push('\'');
        let chars: Vec<char> = s.chars().collect();
        let mut spaces = false;
        for (i, &c) in chars.iter().enumerate() {
            if c == ' ' {
                let next_is_space = chars.get(i + 1) == Some(&' ');
                if allow_breaks
                    && !spaces
                    && self.column() > BEST_WIDTH
                    && i != 0
                    && i + 1 != chars.len()
                    && !next_is_space
                {
                    self.write_indent(indent);
                } else {
                    self.out.push(c);
                }
                spaces = true;
            } else {
                if c == '\'' {
                    self.out.push('\'');
                }
                self.out.push(c);
                spaces = false;
            }
        }
        self.out.push('\'');
    }

    fn write_double_quoted(&mut self, s: &str, indent: usize, allow_breaks: bool) {
        self.out.push('"');
        let chars: Vec<char> = s.chars().collect();
        let mut spaces = false;
        for (i, &c) in chars.iter().enumerate() {
            if !is_printable(c) || c == '\u{feff}' || is_break(c) || c == '"' || c == '\\' {
                self.out.push('\\');
                match c {
                    '\0' => self.out.push('0'),
                    '\u{7}' => self.out.push('a'),
                    '\u{8}' => self.out.push('b'),
                    '\t' => self.out.push('t'),
                    '\n' => self.out.push('n'),
                    '\u{b}' => self.out.push('v'),
                    '\u{c}' => self.out.push('f'),
                    '\r' => self.out.push('r'),
                    '\u{1b}' => self.out.push('e'),
                    '"' => self.out.push('"'),
                    '\\' => self.out.push('\\'),
                    '\u{85}' => self.out.push('N'),
                    '\u{a0}' => self.out.push('_'),
                    '\u{2028}' => self.out.push('L'),
                    '\u{2029}' => self.out.push('P'),
                    other => {
                        let code = other as u32;
                        if code <= 0xff {
                            self.out.push_str(&format!("x{code:02X}"));
                        } else if code <= 0xffff {
                            self.out.push_str(&format!("u{code:04X}"));
                        } else {
                            self.out.push_str(&format!("U{code:08X}"));
                        }
                    }
                }
                spaces = false;
            } else if c == ' ' {
                if allow_breaks && !spaces && self.column() > BEST_WIDTH && i != 0 && i + 1 != chars.len() {
                    self.write_indent(indent);
                    if chars.get(i + 1) == Some(&' ') {
                        self.out.push('\\');
                    }
                } else {
                    self.out.push(c);
                }
                spaces = true;
            } else {
                self.out.push(c);
                spaces = false;
            }
        }
        self.out.push('"');
    }

    fn write_literal(&mut self, s: &str, indent: usize) {
        self.out.push('|');
        if s.starts_with(' ') || s.starts_with('\n') {
            self.out.push('2');
        }
        let chomp = if !s.ends_with('\n') {
            "-"
        } else if s.len() == 1 || s[..s.len() - 1].ends_with('\n') {
            "+"
        } else {
            ""
        };
        self.out.push_str(chomp);
        let body = s.strip_suffix('\n').unwrap_or(s);
        for line in body.split('\n') {
            self.out.push('\n');
            if !line.is_empty() {
                self.pad(indent);
                self.out.push_str(line);
            }
        }
    }
}

fn yaml_float(f: f64) -> String {
    if f.is_nan() {
        ".nan".to_string()
    } else if f.is_infinite() {
        if f > 0.0 { ".inf" } else { "-.inf" }.to_string()
    } else {
        gofmt::format_float_g(f)
    }
}

fn is_break(c: char) -> bool {
    matches!(c, '\r' | '\n' | '\u{85}' | '\u{2028}' | '\u{2029}')
}

fn is_printable(c: char) -> bool {
    let code = c as u32;
    code == 0x0A
        || (0x20..=0x7E).contains(&code)
        || code == 0x85
        || (0xA0..=0xD7FF).contains(&code)
        || ((0xE000..=0xFFFD).contains(&code) && code != 0xFEFF)
        || (0x10000..=0x10FFFF).contains(&code)
}

/// Would a plain scalar with this text read back as something other than a
/// string (go-yaml v2's resolver)?
fn resolves_to_non_string(s: &str) -> bool {
    match s {
        "" | "~" | "null" | "Null" | "NULL" => return true,
        "y" | "Y" | "yes" | "Yes" | "YES" | "n" | "N" | "no" | "No" | "NO" | "true" | "True" | "TRUE"
        | "false" | "False" | "FALSE" | "on" | "On" | "ON" | "off" | "Off" | "OFF" => {
            return true;
        }
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" | "-.inf" | "-.Inf" | "-.INF" | ".nan"
        | ".NaN" | ".NAN" | "<<" => return true,
        _ => {}
    }
    let first = s.chars().next().unwrap_or(' ');
    if !(first.is_ascii_digit() || matches!(first, '-' | '+' | '.')) {
        return false;
    }
    is_go_int(s) || is_yaml_float(s) || is_timestamp(s)
}

fn is_go_int(s: &str) -> bool {
    let plain = s.replace('_', "");
    let body = plain
        .strip_prefix('-')
        .or_else(|| plain.strip_prefix('+'))
        .unwrap_or(&plain);
    if body.is_empty() {
        return false;
    }
    if let Some(hex) = body.strip_prefix("0x").or_else(|| body.strip_prefix("0X")) {
        return !hex.is_empty() && hex.chars().all(|c| c.is_ascii_hexdigit());
    }
    if let Some(bin) = body.strip_prefix("0b").or_else(|| body.strip_prefix("0B")) {
        return !bin.is_empty() && bin.chars().all(|c| c == '0' || c == '1');
    }
    if let Some(oct) = body.strip_prefix("0o").or_else(|| body.strip_prefix("0O")) {
        return !oct.is_empty() && oct.chars().all(|c| ('0'..='7').contains(&c));
    }
    if body.len() > 1 && body.starts_with('0') {
        return body.chars().all(|c| ('0'..='7').contains(&c));
    }
    body.chars().all(|c| c.is_ascii_digit())
}

fn is_yaml_float(s: &str) -> bool {
    // go-yaml v2: `^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$`
    // after removing underscores.
    let plain = s.replace('_', "");
    let body = plain
        .strip_prefix('-')
        .or_else(|| plain.strip_prefix('+'))
        .unwrap_or(&plain);
    let (mantissa, exponent) = match body.find(['e', 'E']) {
        Some(pos) => (&body[..pos], Some(&body[pos + 1..])),
        None => (body, None),
    };
    let mantissa_ok = if let Some(frac) = mantissa.strip_prefix('.') {
        !frac.is_empty() && frac.chars().all(|c| c.is_ascii_digit())
    } else {
        let (int_part, frac) = match mantissa.split_once('.') {
            Some((i, f)) => (i, f),
            None => (mantissa, ""),
        };
        !int_part.is_empty()
            && int_part.chars().all(|c| c.is_ascii_digit())
            && frac.chars().all(|c| c.is_ascii_digit())
    };
    let exponent_ok = match exponent {
        None => true,
        Some(e) => {
            let digits = e.strip_prefix(['-', '+']).unwrap_or(e);
            !digits.is_empty() && digits.chars().all(|c| c.is_ascii_digit())
        }
    };
    mantissa_ok && exponent_ok
}

fn is_timestamp(s: &str) -> bool {
    // go-yaml v2 accepts "2006-1-2", "2006-1-2T15:4:5.999999999Z07:00", … ;
    // a leading YYYY-M-D is the common part.
    let bytes = s.as_bytes();
    if bytes.len() < 8 || !bytes[..4].iter().all(u8::is_ascii_digit) || bytes[4] != b'-' {
        return false;
    }
    let rest = &s[5..];
    let mut parts = rest.splitn(3, '-');
    let month = parts.next().unwrap_or("");
    let day_and_time = parts.next().unwrap_or("");
    if month.is_empty() || month.len() > 2 || !month.chars().all(|c| c.is_ascii_digit()) {
        return false;
    }
    let day: String = day_and_time.chars().take_while(char::is_ascii_digit).collect();
    if day.is_empty() || day.len() > 2 {
        return false;
    }
    let after = &day_and_time[day.len()..];
    after.is_empty() || after.starts_with(['T', 't', ' ', '\t'])
}

fn is_base60_float(s: &str) -> bool {
    // `^[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?$`
    let body = s.strip_prefix(['-', '+']).unwrap_or(s);
    let (main, _frac) = match body.split_once('.') {
        Some((m, f)) if f.chars().all(|c| c.is_ascii_digit() || c == '_') => (m, f),
        Some(_) => return false,
        None => (body, ""),
    };
    let mut groups = main.split(':');
    let head = groups.next().unwrap_or("");
    if head.is_empty()
        || !head.starts_with(|c: char| c.is_ascii_digit())
        || !head.chars().all(|c| c.is_ascii_digit() || c == '_')
    {
        return false;
    }
    let mut count = 0;
    for group in groups {
        count += 1;
        let ok = match group.len() {
            1 => group.chars().all(|c| c.is_ascii_digit()),
            2 => {
                let mut cs = group.chars();
                matches!(cs.next(), Some('0'..='5')) && cs.all(|c| c.is_ascii_digit())
            }
            _ => false,
        };
        if !ok {
            return false;
        }
    }
    count > 0
}

/// libyaml's scalar analysis and style selection for a string.
fn choose_style(s: &str, is_key: bool) -> ScalarStyle {
    let requested = if resolves_to_non_string(s) || is_base60_float(s) {
        ScalarStyle::DoubleQuoted
    } else if s.contains('\n') && !is_key {
        ScalarStyle::Literal
    } else {
        ScalarStyle::Plain
    };
    if requested == ScalarStyle::DoubleQuoted {
        return requested;
    }
    let analysis = analyze(s);
    let mut style = requested;
    if style == ScalarStyle::Plain
        && (!analysis.block_plain_allowed || (s.is_empty() && is_key) || analysis.multiline && is_key)
    {
        style = ScalarStyle::SingleQuoted;
    }
    if style == ScalarStyle::Literal && (!analysis.block_allowed || is_key) {
        style = ScalarStyle::DoubleQuoted;
    }
    if style == ScalarStyle::SingleQuoted && !analysis.single_quoted_allowed {
        style = ScalarStyle::DoubleQuoted;
    }
    style
}

struct Analysis {
    multiline: bool,
    block_plain_allowed: bool,
    single_quoted_allowed: bool,
    block_allowed: bool,
}

fn analyze(s: &str) -> Analysis {
    if s.is_empty() {
        return Analysis {
            multiline: false,
            block_plain_allowed: false,
            single_quoted_allowed: true,
            block_allowed: false,
        };
    }
    let chars: Vec<char> = s.chars().collect();
    let mut block_indicators = false;
    let mut line_breaks = false;
    let mut special_characters = false;
    let mut leading_space = false;
    let mut leading_break = false;
    let mut trailing_space = false;
    let mut trailing_break = false;
    let mut break_space = false;
    let mut space_break = false;
    let mut previous_space = false;
    let mut previous_break = false;

    if s.starts_with("---") || s.starts_with("...") {
        block_indicators = true;
    }
    let mut preceded_by_whitespace = true;
    for (i, &c) in chars.iter().enumerate() {
        let next = chars.get(i + 1).copied();
        let followed_by_whitespace = next.is_none_or(|n| n == ' ' || n == '\t' || is_break(n));
        if i == 0 {
            match c {
                '#' | ',' | '[' | ']' | '{' | '}' | '&' | '*' | '!' | '|' | '>' | '\'' | '"' | '%' | '@'
                | '`' => block_indicators = true,
                '?' | ':' if followed_by_whitespace => block_indicators = true,
                '-' if followed_by_whitespace => block_indicators = true,
                _ => {}
            }
        } else {
            match c {
                ':' if followed_by_whitespace => block_indicators = true,
                '#' if preceded_by_whitespace => block_indicators = true,
                _ => {}
            }
        }
        if !is_printable(c) || c == '\u{feff}' {
            special_characters = true;
        }
        if is_break(c) {
            line_breaks = true;
        }
        if c == ' ' {
            if i == 0 {
                leading_space = true;
            }
            if i + 1 == chars.len() {
                trailing_space = true;
            }
            if previous_break {
                break_space = true;
            }
            previous_space = true;
            previous_break = false;
        } else if is_break(c) {
            if i == 0 {
                leading_break = true;
            }
            if i + 1 == chars.len() {
                trailing_break = true;
            }
            if previous_space {
                space_break = true;
            }
            previous_space = false;
            previous_break = true;
        } else {
            previous_space = false;
            previous_break = false;
        }
        preceded_by_whitespace = c == ' ' || c == '\t' || is_break(c);
    }
    let mut block_plain_allowed = true;
    let mut single_quoted_allowed = true;
    let mut block_allowed = true;
    if leading_space || leading_break || trailing_space || trailing_break {
        block_plain_allowed = false;
    }
    if trailing_space {
        block_allowed = false;
    }
    if break_space {
        block_plain_allowed = false;
        single_quoted_allowed = false;
    }
    if space_break || special_characters {
        block_plain_allowed = false;
        single_quoted_allowed = false;
        block_allowed = false;
    }
    if line_breaks {
        block_plain_allowed = false;
    }
    if block_indicators {
        block_plain_allowed = false;
    }
    Analysis {
        multiline: line_breaks,
        block_plain_allowed,
        single_quoted_allowed,
        block_allowed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn yaml_of(src: &str) -> String {
        to_yaml(&parse_yaml(src).expect("test YAML parses"))
    }

    #[test]
    fn values_are_typed_as_yaml_1_1() {
        let v = parse_yaml("a: yes\nb: on\nc: 0777\nd: 1000000\ne: 2024-01-02\nf: ~\n").expect("parses");
        assert_eq!(v.field("a"), Some(&Value::Bool(true)));
        assert_eq!(v.field("b"), Some(&Value::Bool(true)));
        assert_eq!(v.field("c"), Some(&Value::Float(511.0)));
        assert_eq!(v.field("d"), Some(&Value::Float(1e6)));
        assert_eq!(v.field("e"), Some(&Value::String(Arc::from("2024-01-02"))));
        assert_eq!(v.field("f"), Some(&Value::Nil));
    }

    #[test]
    fn emitter_matches_go_yaml_layout() {
        let table: &[(&str, &str)] = &[
            ("a: 1\nb: [x, y, z]\n", "a: 1\nb:\n- x\n- true\n- z\n"),
            ("b: {c: {d: 1.5}}\na: []\n", "a: []\nb:\n  c:\n    d: 1.5\n"),
            (
                "l: [{a: 1, b: 2}, [3, 4]]\n",
                "l:\n- a: 1\n  b: 2\n- - 3\n  - 4\n",
            ),
            (
                "s: \"yes\"\nt: \"1.0\"\nu: \"\"\n",
                "s: \"yes\"\nt: \"1.0\"\nu: \"\"\n",
            ),
            ("s: \"a: b\"\n", "s: 'a: b'\n"),
            ("s: \"line1\\nline2\\n\"\n", "s: |\n  line1\n  line2\n"),
            ("s: \"line1\\nline2\"\n", "s: |-\n  line1\n  line2\n"),
            ("k10: 1\nk9: 2\nK: 0\n", "K: 0\nk9: 2\nk10: 1\n"),
            ("big: 1000000\nsmall: 0.000001\n", "big: 1000000\nsmall: 1e-06\n"),
        ];
        for (src, want) in table {
            assert_eq!(&yaml_of(src), want, "toYaml of {src:?}");
        }
    }

    #[test]
    fn long_plain_strings_fold_at_column_80() {
        let words = vec!["word"; 30].join(" ");
        let out = yaml_of(&format!("k: {words}\n"));
        let first = out.lines().next().unwrap_or_default();
        assert!(first.len() > 80 && first.len() < 90, "{out}");
        assert!(
            out.lines().nth(1).unwrap_or_default().starts_with("  word"),
            "{out}"
        );
    }
}
