//! Sprig's `TxtFuncMap` (minus `env`/`expandenv`) and Helm's value functions.
//!
//! Functions that need the template set (`include`, `tpl`) live in the engine.
//! Every function reads maps through [`State`] so Go's reference semantics
//! (`set`, `unset`, `merge` change their first argument) hold.

use base64::Engine as _;
use gotmpl::{FuncMap, TemplateError, Value, ValueFunc};
use std::sync::Arc;

use crate::gofmt::format_v;
use crate::json;
use crate::semver;
use crate::state::{GoMap, State};
use crate::yaml;

pub(crate) type FResult = Result<Value, TemplateError>;

pub(crate) fn err(msg: impl Into<String>) -> TemplateError {
    TemplateError::Exec(msg.into())
}

pub(crate) fn s(text: impl AsRef<str>) -> Value {
    Value::String(Arc::from(text.as_ref()))
}

fn list(items: Vec<Value>) -> Value {
    Value::List(Arc::from(items))
}

fn map(entries: GoMap) -> Value {
    Value::Map(Arc::new(entries))
}

fn arg<'a>(name: &str, args: &'a [Value], i: usize) -> Result<&'a Value, TemplateError> {
    args.get(i).ok_or_else(|| {
        err(format!(
            "wrong number of args for {name}: want at least {} got {}",
            i + 1,
            args.len()
        ))
    })
}

fn exact(name: &str, args: &[Value], n: usize) -> Result<(), TemplateError> {
    if args.len() != n {
        return Err(err(format!(
            "wrong number of args for {name}: want {n} got {}",
            args.len()
        )));
    }
    Ok(())
}

/// Sprig's `strval`: strings as they are, everything else via `%v`.
pub(crate) fn strval(v: &Value) -> String {
    match v {
        Value::String(s) => s.to_string(),
        other => format_v(other),
    }
}

/// A string parameter of a Go function: `nil` becomes "".
fn str_arg(v: &Value) -> String {
    match v {
        Value::Nil => String::new(),
        other => strval(other),
    }
}

/// `cast.ToInt64`: numbers truncate, strings parse (base prefixes allowed),
/// booleans are 0/1, anything else is 0.
pub(crate) fn to_i64(v: &Value) -> i64 {
    match v {
        Value::Int(n) => *n,
        Value::Uint(n) => *n as i64,
        Value::Float(f) => *f as i64,
        Value::Bool(b) => i64::from(*b),
        Value::String(s) => parse_go_int(s.trim()).unwrap_or(0),
        _ => 0,
    }
}

fn parse_go_int(s: &str) -> Option<i64> {
    let (neg, body) = match s.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    let body = body.replace('_', "");
    let magnitude = if let Some(hex) = body.strip_prefix("0x").or_else(|| body.strip_prefix("0X")) {
        i64::from_str_radix(hex, 16).ok()?
    } else if let Some(bin) = body.strip_prefix("0b").or_else(|| body.strip_prefix("0B")) {
        i64::from_str_radix(bin, 2).ok()?
    } else if let Some(oct) = body.strip_prefix("0o").or_else(|| body.strip_prefix("0O")) {
        i64::from_str_radix(oct, 8).ok()?
    } else if body.len() > 1 && body.starts_with('0') {
        i64::from_str_radix(&body[1..], 8).ok()?
    } else {
        body.parse::<i64>().ok()?
    };
    Some(if neg { -magnitude } else { magnitude })
}

/// `cast.ToFloat64`.
pub(crate) fn to_f64(v: &Value) -> f64 {
    match v {
        Value::Int(n) => *n as f64,
        Value::Uint(n) => *n as f64,
        Value::Float(f) => *f,
        Value::Bool(b) => f64::from(u8::from(*b)),
        Value::String(s) => s.trim().parse::<f64>().unwrap_or(0.0),
        _ => 0.0,
    }
}

/// Sprig's `empty`: the zero value of its type.
pub(crate) fn is_empty(state: &State, v: &Value) -> bool {
    match state.current(v) {
        Value::Nil => true,
        Value::Bool(b) => !b,
        Value::Int(n) => n == 0,
        Value::Uint(n) => n == 0,
        Value::Float(f) => f == 0.0,
        Value::String(s) => s.is_empty(),
        Value::List(l) => l.is_empty(),
        Value::Map(m) => m.is_empty(),
        Value::Function(_) => false,
    }
}

/// A list argument (Sprig accepts any slice).
fn list_arg(name: &str, v: &Value) -> Result<Arc<[Value]>, TemplateError> {
    match v {
        Value::List(l) => Ok(Arc::clone(l)),
        Value::Nil => Ok(Arc::from(Vec::new())),
        other => Err(err(format!("Cannot find {name} on type {}", go_type_name(other)))),
    }
}

/// Go's reflect type name of a value as Helm sees it. Integers are int64:
/// that is what `--set` and Sprig's arithmetic produce (a bare literal in a
/// template is Go `int`, a distinction gotmpl's values do not keep).
pub(crate) fn go_type_name(v: &Value) -> &'static str {
    match v {
        Value::Nil => "<nil>",
        Value::Bool(_) => "bool",
        Value::Int(_) => "int64",
        Value::Uint(_) => "uint64",
        Value::Float(_) => "float64",
        Value::String(_) => "string",
        Value::List(_) => "[]interface {}",
        Value::Map(_) => "map[string]interface {}",
        Value::Function(_) => "func",
    }
}

fn go_kind_name(v: &Value) -> &'static str {
    match v {
        Value::Nil => "invalid",
        Value::Bool(_) => "bool",
        Value::Int(_) => "int64",
        Value::Uint(_) => "uint64",
        Value::Float(_) => "float64",
        Value::String(_) => "string",
        Value::List(_) => "slice",
        Value::Map(_) => "map",
        Value::Function(_) => "func",
    }
}

/// Go's `strconv.Quote`.
pub(crate) fn go_quote(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\u{b}' => out.push_str("\\v"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\x{:02x}", c as u32));
            }
            c if c.is_control() || c == '\u{feff}' => {
                let code = c as u32;
                if code <= 0xffff {
                    out.push_str(&format!("\\u{code:04x}"));
                } else {
                    out.push_str(&format!("\\U{code:08x}"));
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

type Native = fn(&State, &[Value]) -> FResult;

/// Install every Sprig and Helm value function into `funcs`.
pub(crate) fn install(funcs: &mut FuncMap, state: &Arc<State>) {
    let table: &[(&str, Native)] = &[
        // --- output ---
        ("print", |st, a| Ok(s(crate::gofmt::sprint(&deep(st, a))))),
        ("println", |st, a| Ok(s(crate::gofmt::sprintln(&deep(st, a))))),
        ("printf", printf),
        ("len", |st, a| {
            exact("len", a, 1)?;
            match st.current(&a[0]) {
                Value::String(x) => Ok(Value::Int(x.len() as i64)),
                Value::List(l) => Ok(Value::Int(l.len() as i64)),
                Value::Map(m) => Ok(Value::Int(m.len() as i64)),
                other => Err(err(format!("len of type {}", go_type_name(&other)))),
            }
        }),
        ("index", index),
        // --- defaults and logic ---
        ("default", |st, a| {
            let d = arg("default", a, 0)?;
            match a.get(1) {
                None => Ok(d.clone()),
                Some(given) if is_empty(st, given) => Ok(d.clone()),
                Some(given) => Ok(given.clone()),
            }
        }),
        ("empty", |st, a| {
            Ok(Value::Bool(is_empty(st, arg("empty", a, 0)?)))
        }),
        ("coalesce", |st, a| {
            Ok(a.iter().find(|v| !is_empty(st, v)).cloned().unwrap_or(Value::Nil))
        }),
        ("all", |st, a| Ok(Value::Bool(a.iter().all(|v| !is_empty(st, v))))),
        ("any", |st, a| Ok(Value::Bool(a.iter().any(|v| !is_empty(st, v))))),
        ("compact", |st, a| {
            let l = list_arg("compact", arg("compact", a, 0)?)?;
            Ok(list(l.iter().filter(|v| !is_empty(st, v)).cloned().collect()))
        }),
        ("mustCompact", |st, a| {
            let l = list_arg("compact", arg("mustCompact", a, 0)?)?;
            Ok(list(l.iter().filter(|v| !is_empty(st, v)).cloned().collect()))
        }),
        ("ternary", |_, a| {
            exact("ternary", a, 3)?;
            Ok(if a[2].is_truthy() {
                a[0].clone()
            } else {
                a[1].clone()
            })
        }),
        ("fail", |_, a| {
            Err(err(format!("HELM_FAIL:{}", str_arg(arg("fail", a, 0)?))))
        }),
        ("required", |st, a| {
            exact("required", a, 2)?;
            let v = &a[1];
            let missing = match st.current(v) {
                Value::Nil => true,
                Value::String(x) => x.is_empty(),
                _ => false,
            };
            if missing {
                return Err(err(format!("HELM_FAIL:{}", str_arg(&a[0]))));
            }
            Ok(v.clone())
        }),
        ("lookup", |_, _| Ok(map(GoMap::new()))),
        // --- strings ---
        ("toString", |st, a| Ok(s(display(st, arg("toString", a, 0)?)))),
        ("trim", |_, a| {
            Ok(s(str_arg(arg("trim", a, 0)?).trim_matches(go_space)))
        }),
        ("trimAll", |_, a| {
            exact("trimAll", a, 2)?;
            let cut: Vec<char> = str_arg(&a[0]).chars().collect();
            Ok(s(str_arg(&a[1]).trim_matches(|c| cut.contains(&c))))
        }),
        ("trimPrefix", |_, a| {
            exact("trimPrefix", a, 2)?;
            let text = str_arg(&a[1]);
            let prefix = str_arg(&a[0]);
            Ok(s(text.strip_prefix(prefix.as_str()).unwrap_or(&text)))
        }),
        ("trimSuffix", |_, a| {
            exact("trimSuffix", a, 2)?;
            let text = str_arg(&a[1]);
            let suffix = str_arg(&a[0]);
            Ok(s(text.strip_suffix(suffix.as_str()).unwrap_or(&text)))
        }),
        ("upper", |_, a| Ok(s(str_arg(arg("upper", a, 0)?).to_uppercase()))),
        ("lower", |_, a| Ok(s(str_arg(arg("lower", a, 0)?).to_lowercase()))),
        ("title", |_, a| Ok(s(title(&str_arg(arg("title", a, 0)?))))),
        ("untitle", |_, a| Ok(s(untitle(&str_arg(arg("untitle", a, 0)?))))),
        ("swapcase", |_, a| {
            Ok(s(swapcase(&str_arg(arg("swapcase", a, 0)?))))
        }),
        ("repeat", |_, a| {
            exact("repeat", a, 2)?;
            let n = to_i64(&a[0]);
            if !(0..=1_000_000).contains(&n) {
                return Err(err(format!("repeat: count {n} out of range")));
            }
            Ok(s(str_arg(&a[1]).repeat(n as usize)))
        }),
        ("substr", |_, a| {
            exact("substr", a, 3)?;
            Ok(s(substr(to_i64(&a[0]), to_i64(&a[1]), &str_arg(&a[2]))))
        }),
        ("nospace", |_, a| {
            Ok(s(str_arg(arg("nospace", a, 0)?)
                .chars()
                .filter(|c| !c.is_whitespace())
                .collect::<String>()))
        }),
        ("trunc", |_, a| {
            exact("trunc", a, 2)?;
            Ok(s(trunc(to_i64(&a[0]), &str_arg(&a[1]))))
        }),
        ("abbrev", |_, a| {
            exact("abbrev", a, 2)?;
            Ok(s(abbrev(to_i64(&a[0]), &str_arg(&a[1]))))
        }),
        ("abbrevboth", |_, a| {
            exact("abbrevboth", a, 3)?;
            let (left, right, text) = (to_i64(&a[0]), to_i64(&a[1]), str_arg(&a[2]));
            if right < 4 || (left > 0 && right < 7) {
                return Ok(s(text));
            }
            let chars: Vec<char> = text.chars().collect();
            let mut start = left.max(0) as usize;
            if start > chars.len() {
                start = chars.len();
            }
            let rest: String = chars[start..].iter().collect();
            let trimmed = abbrev(right - if start > 0 { 3 } else { 0 }, &rest);
            if start > 0 && start < chars.len() {
                return Ok(s(format!("...{trimmed}")));
            }
            Ok(s(trimmed))
        }),
        ("initials", |_, a| {
            Ok(s(str_arg(arg("initials", a, 0)?)
                .split_whitespace()
                .filter_map(|w| w.chars().next())
                .collect::<String>()))
        }),
        ("wrap", |_, a| {
            exact("wrap", a, 2)?;
            Ok(s(wrap(to_i64(&a[0]).max(1) as usize, &str_arg(&a[1]), "\n")))
        }),
        ("wrapWith", |_, a| {
            exact("wrapWith", a, 3)?;
            Ok(s(wrap(
                to_i64(&a[0]).max(1) as usize,
                &str_arg(&a[2]),
                &str_arg(&a[1]),
            )))
        }),
        ("contains", |_, a| {
            exact("contains", a, 2)?;
            Ok(Value::Bool(str_arg(&a[1]).contains(str_arg(&a[0]).as_str())))
        }),
        ("hasPrefix", |_, a| {
            exact("hasPrefix", a, 2)?;
            Ok(Value::Bool(str_arg(&a[1]).starts_with(str_arg(&a[0]).as_str())))
        }),
        ("hasSuffix", |_, a| {
            exact("hasSuffix", a, 2)?;
            Ok(Value::Bool(str_arg(&a[1]).ends_with(str_arg(&a[0]).as_str())))
        }),
        ("quote", |st, a| {
            let parts: Vec<String> = a
                .iter()
                .filter(|v| !matches!(v, Value::Nil))
                .map(|v| go_quote(&display(st, v)))
                .collect();
            Ok(s(parts.join(" ")))
        }),
        ("squote", |st, a| {
            let parts: Vec<String> = a
                .iter()
                .filter(|v| !matches!(v, Value::Nil))
                .map(|v| format!("'{}'", display(st, v)))
                .collect();
            Ok(s(parts.join(" ")))
        }),
        ("cat", |st, a| {
            let parts: Vec<String> = a
                .iter()
                .filter(|v| !matches!(v, Value::Nil))
                .map(|v| display(st, v))
                .collect();
            Ok(s(parts.join(" ")))
        }),
        ("indent", |_, a| {
            exact("indent", a, 2)?;
            Ok(s(indent(to_i64(&a[0]), &str_arg(&a[1]))))
        }),
        ("nindent", |_, a| {
            exact("nindent", a, 2)?;
            Ok(s(format!("\n{}", indent(to_i64(&a[0]), &str_arg(&a[1])))))
        }),
        ("replace", |_, a| {
            exact("replace", a, 3)?;
            Ok(s(str_arg(&a[2]).replace(str_arg(&a[0]).as_str(), &str_arg(&a[1]))))
        }),
        ("plural", |_, a| {
            exact("plural", a, 3)?;
            Ok(if to_i64(&a[2]) == 1 {
                a[0].clone()
            } else {
                a[1].clone()
            })
        }),
        ("snakecase", |_, a| {
            Ok(s(snakecase(&str_arg(arg("snakecase", a, 0)?))))
        }),
        ("camelcase", |_, a| {
            Ok(s(camelcase(&str_arg(arg("camelcase", a, 0)?))))
        }),
        ("kebabcase", |_, a| {
            Ok(s(snakecase(&str_arg(arg("kebabcase", a, 0)?)).replace('_', "-")))
        }),
        ("shuffle", |_, a| {
            use rand::seq::SliceRandom;
            let mut chars: Vec<char> = str_arg(arg("shuffle", a, 0)?).chars().collect();
            chars.shuffle(&mut rand::rng());
            Ok(s(chars.into_iter().collect::<String>()))
        }),
        ("split", |_, a| {
            exact("split", a, 2)?;
            let parts: GoMap = str_arg(&a[1])
                .split(str_arg(&a[0]).as_str())
                .enumerate()
                .map(|(i, p)| (Arc::from(format!("_{i}")), s(p)))
                .collect();
            Ok(map(parts))
        }),
        ("splitn", |_, a| {
            exact("splitn", a, 3)?;
            let n = to_i64(&a[1]);
            let text = str_arg(&a[2]);
            let sep = str_arg(&a[0]);
            let pieces: Vec<&str> = if n < 0 {
                text.split(sep.as_str()).collect()
            } else {
                text.splitn(n as usize, sep.as_str()).collect()
            };
            Ok(map(pieces
                .into_iter()
                .enumerate()
                .map(|(i, p)| (Arc::from(format!("_{i}")), s(p)))
                .collect()))
        }),
        ("splitList", |_, a| {
            exact("splitList", a, 2)?;
            Ok(list(
                str_arg(&a[1]).split(str_arg(&a[0]).as_str()).map(s).collect(),
            ))
        }),
        ("join", |st, a| {
            exact("join", a, 2)?;
            let items = match st.deep_current(&a[1]) {
                Value::List(l) => l
                    .iter()
                    .filter(|v| !matches!(v, Value::Nil))
                    .map(strval)
                    .collect::<Vec<_>>(),
                Value::Nil => Vec::new(),
                other => vec![strval(&other)],
            };
            Ok(s(items.join(&str_arg(&a[0]))))
        }),
        ("sortAlpha", |st, a| {
            let mut items: Vec<String> = match st.deep_current(arg("sortAlpha", a, 0)?) {
                Value::List(l) => l.iter().map(strval).collect(),
                other => vec![strval(&other)],
            };
            items.sort();
            Ok(list(items.into_iter().map(s).collect()))
        }),
        ("toStrings", |st, a| {
            Ok(match st.deep_current(arg("toStrings", a, 0)?) {
                Value::List(l) => list(l.iter().map(|v| s(strval(v))).collect()),
                other => list(vec![s(strval(&other))]),
            })
        }),
        ("randAlphaNum", |_, a| {
            Ok(s(random_from(to_i64(arg("randAlphaNum", a, 0)?), ALNUM)))
        }),
        ("randAlpha", |_, a| {
            Ok(s(random_from(to_i64(arg("randAlpha", a, 0)?), ALPHA)))
        }),
        ("randNumeric", |_, a| {
            Ok(s(random_from(to_i64(arg("randNumeric", a, 0)?), NUMERIC)))
        }),
        ("randAscii", |_, a| {
            Ok(s(random_from(to_i64(arg("randAscii", a, 0)?), ASCII)))
        }),
        ("randInt", |_, a| {
            use rand::Rng;
            exact("randInt", a, 2)?;
            let (lo, hi) = (to_i64(&a[0]), to_i64(&a[1]));
            if hi <= lo {
                return Err(err("randInt: max must be greater than min"));
            }
            Ok(Value::Int(rand::rng().random_range(lo..hi)))
        }),
        ("uuidv4", |_, _| Ok(s(uuid::Uuid::new_v4().to_string()))),
        // --- regex ---
        ("regexMatch", |_, a| regex_match(a, false)),
        ("mustRegexMatch", |_, a| regex_match(a, true)),
        ("regexFind", |_, a| regex_find(a, false)),
        ("mustRegexFind", |_, a| regex_find(a, true)),
        ("regexFindAll", |_, a| regex_find_all(a, false)),
        ("mustRegexFindAll", |_, a| regex_find_all(a, true)),
        ("regexReplaceAll", |_, a| regex_replace(a, false, false)),
        ("mustRegexReplaceAll", |_, a| regex_replace(a, true, false)),
        ("regexReplaceAllLiteral", |_, a| regex_replace(a, false, true)),
        ("mustRegexReplaceAllLiteral", |_, a| regex_replace(a, true, true)),
        ("regexSplit", |_, a| regex_split(a, false)),
        ("mustRegexSplit", |_, a| regex_split(a, true)),
        ("regexQuoteMeta", |_, a| {
            Ok(s(regex::escape(&str_arg(arg("regexQuoteMeta", a, 0)?))))
        }),
        // --- conversion ---
        ("atoi", |_, a| {
            Ok(Value::Int(
                str_arg(arg("atoi", a, 0)?).trim().parse::<i64>().unwrap_or(0),
            ))
        }),
        ("int", |_, a| Ok(Value::Int(to_i64(arg("int", a, 0)?)))),
        ("int64", |_, a| Ok(Value::Int(to_i64(arg("int64", a, 0)?)))),
        ("float64", |_, a| Ok(Value::Float(to_f64(arg("float64", a, 0)?)))),
        ("toDecimal", |_, a| {
            Ok(Value::Int(
                i64::from_str_radix(&str_arg(arg("toDecimal", a, 0)?), 8).unwrap_or(0),
            ))
        }),
        ("toJson", |st, a| {
            Ok(s(json::to_json(&st.deep_current(arg("toJson", a, 0)?), None)))
        }),
        ("mustToJson", |st, a| {
            Ok(s(json::to_json(&st.deep_current(arg("mustToJson", a, 0)?), None)))
        }),
        ("toRawJson", |st, a| {
            Ok(s(raw_json(&st.deep_current(arg("toRawJson", a, 0)?))))
        }),
        ("mustToRawJson", |st, a| {
            Ok(s(raw_json(&st.deep_current(arg("mustToRawJson", a, 0)?))))
        }),
        ("toPrettyJson", |st, a| {
            Ok(s(json::to_json(
                &st.deep_current(arg("toPrettyJson", a, 0)?),
                Some("  "),
            )))
        }),
        ("mustToPrettyJson", |st, a| {
            Ok(s(json::to_json(
                &st.deep_current(arg("mustToPrettyJson", a, 0)?),
                Some("  "),
            )))
        }),
        ("fromJson", |_, a| {
            let text = str_arg(arg("fromJson", a, 0)?);
            Ok(match serde_json::from_str::<serde_json::Value>(&text) {
                Ok(v @ serde_json::Value::Object(_)) => json::from_serde(&v),
                Ok(_) => map(error_map(
                    "json: cannot unmarshal into Go value of type map[string]interface {}",
                )),
                Err(e) => map(error_map(&e.to_string())),
            })
        }),
        ("fromJsonArray", |_, a| {
            let text = str_arg(arg("fromJsonArray", a, 0)?);
            Ok(match serde_json::from_str::<serde_json::Value>(&text) {
                Ok(v @ serde_json::Value::Array(_)) => json::from_serde(&v),
                Ok(_) => list(vec![s(
                    "json: cannot unmarshal into Go value of type []interface {}",
                )]),
                Err(e) => list(vec![s(e.to_string())]),
            })
        }),
        ("toYaml", |st, a| {
            let text = yaml::to_yaml(&st.deep_current(arg("toYaml", a, 0)?));
            Ok(s(text.strip_suffix('\n').unwrap_or(&text)))
        }),
        ("mustToYaml", |st, a| {
            let text = yaml::to_yaml(&st.deep_current(arg("mustToYaml", a, 0)?));
            Ok(s(text.strip_suffix('\n').unwrap_or(&text)))
        }),
        ("toYamlPretty", |st, a| {
            let text = yaml::to_yaml_pretty(&st.deep_current(arg("toYamlPretty", a, 0)?));
            Ok(s(text.strip_suffix('\n').unwrap_or(&text)))
        }),
        ("fromYaml", |_, a| {
            let text = str_arg(arg("fromYaml", a, 0)?);
            Ok(match yaml::parse_yaml(&text) {
                Ok(Value::Map(m)) => Value::Map(m),
                Ok(Value::Nil) => map(GoMap::new()),
                Ok(_) => map(error_map(
                    "error unmarshaling JSON: json: cannot unmarshal array into Go value of type map[string]interface {}",
                )),
                Err(e) => map(error_map(&e.to_string())),
            })
        }),
        ("fromYamlArray", |_, a| {
            let text = str_arg(arg("fromYamlArray", a, 0)?);
            Ok(match yaml::parse_yaml(&text) {
                Ok(v @ Value::List(_)) => v,
                Ok(Value::Nil) => list(Vec::new()),
                Ok(_) => list(vec![s(
                    "error unmarshaling JSON: json: cannot unmarshal object into Go value of type []interface {}",
                )]),
                Err(e) => list(vec![s(e.to_string())]),
            })
        }),
        ("toToml", |st, a| {
            let value = json::to_serde(&st.deep_current(arg("toToml", a, 0)?));
            Ok(s(toml::to_string(&value).unwrap_or_else(|e| e.to_string())))
        }),
        ("fromToml", |_, a| {
            let text = str_arg(arg("fromToml", a, 0)?);
            Ok(match toml::from_str::<serde_json::Value>(&text) {
                Ok(v) => json::from_serde(&v),
                Err(e) => map(error_map(&e.to_string())),
            })
        }),
        // --- math ---
        ("add", |_, a| {
            Ok(Value::Int(a.iter().map(to_i64).fold(0i64, i64::wrapping_add)))
        }),
        ("add1", |_, a| {
            Ok(Value::Int(to_i64(arg("add1", a, 0)?).wrapping_add(1)))
        }),
        ("sub", |_, a| {
            exact("sub", a, 2)?;
            Ok(Value::Int(to_i64(&a[0]).wrapping_sub(to_i64(&a[1]))))
        }),
        ("mul", |_, a| {
            Ok(Value::Int(a.iter().map(to_i64).fold(1i64, i64::wrapping_mul)))
        }),
        ("div", |_, a| {
            exact("div", a, 2)?;
            let d = to_i64(&a[1]);
            if d == 0 {
                return Err(err("runtime error: integer divide by zero"));
            }
            Ok(Value::Int(to_i64(&a[0]).wrapping_div(d)))
        }),
        ("mod", |_, a| {
            exact("mod", a, 2)?;
            let d = to_i64(&a[1]);
            if d == 0 {
                return Err(err("runtime error: integer divide by zero"));
            }
            Ok(Value::Int(to_i64(&a[0]).wrapping_rem(d)))
        }),
        ("max", |_, a| {
            Ok(Value::Int(a.iter().map(to_i64).max().unwrap_or(0)))
        }),
        ("biggest", |_, a| {
            Ok(Value::Int(a.iter().map(to_i64).max().unwrap_or(0)))
        }),
        ("min", |_, a| {
            Ok(Value::Int(a.iter().map(to_i64).min().unwrap_or(0)))
        }),
        ("addf", |_, a| Ok(Value::Float(a.iter().map(to_f64).sum()))),
        ("add1f", |_, a| {
            Ok(Value::Float(to_f64(arg("add1f", a, 0)?) + 1.0))
        }),
        ("subf", |_, a| {
            let first = to_f64(arg("subf", a, 0)?);
            Ok(Value::Float(a[1..].iter().map(to_f64).fold(first, |x, y| x - y)))
        }),
        ("mulf", |_, a| Ok(Value::Float(a.iter().map(to_f64).product()))),
        ("divf", |_, a| {
            let first = to_f64(arg("divf", a, 0)?);
            Ok(Value::Float(a[1..].iter().map(to_f64).fold(first, |x, y| x / y)))
        }),
        ("maxf", |_, a| {
            Ok(Value::Float(
                a.iter().map(to_f64).fold(f64::NEG_INFINITY, f64::max),
            ))
        }),
        ("minf", |_, a| {
            Ok(Value::Float(a.iter().map(to_f64).fold(f64::INFINITY, f64::min)))
        }),
        ("floor", |_, a| {
            Ok(Value::Float(to_f64(arg("floor", a, 0)?).floor()))
        }),
        ("ceil", |_, a| Ok(Value::Float(to_f64(arg("ceil", a, 0)?).ceil()))),
        ("round", |_, a| {
            let x = to_f64(arg("round", a, 0)?);
            let places = a.get(1).map(to_i64).unwrap_or(0);
            let roundon = a.get(2).map(to_f64).unwrap_or(0.5);
            let pow = 10f64.powi(places.clamp(-300, 300) as i32);
            let digit = pow * x;
            let (int_part, frac) = (digit.trunc(), digit.fract());
            let rounded = if frac.abs() >= roundon {
                int_part + frac.signum()
            } else {
                int_part
            };
            Ok(Value::Float(rounded / pow))
        }),
        ("seq", |_, a| seq(a)),
        ("until", |_, a| {
            let n = to_i64(arg("until", a, 0)?);
            untilstep(0, n, if n < 0 { -1 } else { 1 })
        }),
        ("untilStep", |_, a| {
            exact("untilStep", a, 3)?;
            untilstep(to_i64(&a[0]), to_i64(&a[1]), to_i64(&a[2]))
        }),
        // --- lists ---
        ("list", |_, a| Ok(list(a.to_vec()))),
        ("tuple", |_, a| Ok(list(a.to_vec()))),
        ("first", |_, a| {
            Ok(list_arg("first", arg("first", a, 0)?)?
                .first()
                .cloned()
                .unwrap_or(Value::Nil))
        }),
        ("mustFirst", |_, a| {
            Ok(list_arg("first", arg("mustFirst", a, 0)?)?
                .first()
                .cloned()
                .unwrap_or(Value::Nil))
        }),
        ("last", |_, a| {
            Ok(list_arg("last", arg("last", a, 0)?)?
                .last()
                .cloned()
                .unwrap_or(Value::Nil))
        }),
        ("mustLast", |_, a| {
            Ok(list_arg("last", arg("mustLast", a, 0)?)?
                .last()
                .cloned()
                .unwrap_or(Value::Nil))
        }),
        ("rest", |_, a| rest(a, "rest")),
        ("mustRest", |_, a| rest(a, "mustRest")),
        ("initial", |_, a| initial(a, "initial")),
        ("mustInitial", |_, a| initial(a, "mustInitial")),
        ("append", |_, a| append(a, "append")),
        ("push", |_, a| append(a, "push")),
        ("mustAppend", |_, a| append(a, "mustAppend")),
        ("mustPush", |_, a| append(a, "mustPush")),
        ("prepend", |_, a| prepend(a, "prepend")),
        ("mustPrepend", |_, a| prepend(a, "mustPrepend")),
        ("concat", |_, a| {
            let mut out = Vec::new();
            for v in a {
                out.extend(list_arg("concat", v)?.iter().cloned());
            }
            Ok(list(out))
        }),
        ("reverse", |_, a| reverse(a, "reverse")),
        ("mustReverse", |_, a| reverse(a, "mustReverse")),
        ("uniq", |st, a| uniq(st, a, "uniq")),
        ("mustUniq", |st, a| uniq(st, a, "mustUniq")),
        ("without", |st, a| without(st, a, "without")),
        ("mustWithout", |st, a| without(st, a, "mustWithout")),
        ("has", |st, a| has(st, a, "has")),
        ("mustHas", |st, a| has(st, a, "mustHas")),
        ("slice", slice),
        ("mustSlice", slice),
        ("chunk", |_, a| {
            exact("chunk", a, 2)?;
            let size = to_i64(&a[0]);
            if size <= 0 {
                return Err(err("chunk: size must be positive"));
            }
            let l = list_arg("chunk", &a[1])?;
            Ok(list(l.chunks(size as usize).map(|c| list(c.to_vec())).collect()))
        }),
        ("mustChunk", |_, a| {
            exact("mustChunk", a, 2)?;
            let size = to_i64(&a[0]);
            if size <= 0 {
                return Err(err("chunk: size must be positive"));
            }
            let l = list_arg("chunk", &a[1])?;
            Ok(list(l.chunks(size as usize).map(|c| list(c.to_vec())).collect()))
        }),
        // --- dicts ---
        ("dict", |_, a| {
            let mut entries = GoMap::new();
            let mut i = 0;
            while i < a.len() {
                let key = strval(&a[i]);
                let value = a.get(i + 1).cloned().unwrap_or_else(|| s(""));
                entries.insert(Arc::from(key), value);
                i += 2;
            }
            Ok(map(entries))
        }),
        ("get", |st, a| {
            exact("get", a, 2)?;
            let key = str_arg(&a[1]);
            Ok(st
                .map_of(&a[0])
                .and_then(|m| m.get(key.as_str()).cloned())
                .unwrap_or_else(|| s("")))
        }),
        ("set", |st, a| {
            exact("set", a, 3)?;
            let key: Arc<str> = Arc::from(str_arg(&a[1]));
            let value = a[2].clone();
            need_map("set", &a[0])?;
            Ok(st.mutate(&a[0], |m| {
                m.insert(key, value);
            }))
        }),
        ("unset", |st, a| {
            exact("unset", a, 2)?;
            let key = str_arg(&a[1]);
            need_map("unset", &a[0])?;
            Ok(st.mutate(&a[0], |m| {
                m.remove(key.as_str());
            }))
        }),
        ("hasKey", |st, a| {
            exact("hasKey", a, 2)?;
            let key = str_arg(&a[1]);
            Ok(Value::Bool(
                st.map_of(&a[0]).is_some_and(|m| m.contains_key(key.as_str())),
            ))
        }),
        ("pluck", |st, a| {
            let key = str_arg(arg("pluck", a, 0)?);
            Ok(list(
                a[1..]
                    .iter()
                    .filter_map(|d| st.map_of(d).and_then(|m| m.get(key.as_str()).cloned()))
                    .collect(),
            ))
        }),
        ("keys", |st, a| {
            let mut out = Vec::new();
            for d in a {
                if let Some(m) = st.map_of(d) {
                    out.extend(m.keys().map(|k| Value::String(Arc::clone(k))));
                }
            }
            Ok(list(out))
        }),
        ("values", |st, a| {
            let m = st.map_of(arg("values", a, 0)?).unwrap_or_default();
            Ok(list(m.values().cloned().collect()))
        }),
        ("pick", |st, a| {
            let m = st.map_of(arg("pick", a, 0)?).unwrap_or_default();
            let wanted: Vec<String> = a[1..].iter().map(str_arg).collect();
            Ok(map(m
                .iter()
                .filter(|(k, _)| wanted.iter().any(|w| w.as_str() == k.as_ref()))
                .map(|(k, v)| (Arc::clone(k), v.clone()))
                .collect()))
        }),
        ("omit", |st, a| {
            let m = st.map_of(arg("omit", a, 0)?).unwrap_or_default();
            let unwanted: Vec<String> = a[1..].iter().map(str_arg).collect();
            Ok(map(m
                .iter()
                .filter(|(k, _)| !unwanted.iter().any(|w| w.as_str() == k.as_ref()))
                .map(|(k, v)| (Arc::clone(k), v.clone()))
                .collect()))
        }),
        ("dig", |st, a| {
            if a.len() < 3 {
                return Err(err("dig needs at least three arguments"));
            }
            let dict = &a[a.len() - 1];
            let default = &a[a.len() - 2];
            let mut current = dict.clone();
            for key in &a[..a.len() - 2] {
                let key = str_arg(key);
                match st.map_of(&current).and_then(|m| m.get(key.as_str()).cloned()) {
                    Some(next) => current = next,
                    None => return Ok(default.clone()),
                }
            }
            Ok(current)
        }),
        ("merge", |st, a| merge(st, a, false)),
        ("mustMerge", |st, a| merge(st, a, false)),
        ("mergeOverwrite", |st, a| merge(st, a, true)),
        ("mustMergeOverwrite", |st, a| merge(st, a, true)),
        ("deepCopy", |st, a| Ok(st.deep_current(arg("deepCopy", a, 0)?))),
        ("mustDeepCopy", |st, a| {
            Ok(st.deep_current(arg("mustDeepCopy", a, 0)?))
        }),
        // --- types ---
        ("typeOf", |_, a| Ok(s(go_type_name(arg("typeOf", a, 0)?)))),
        ("typeIs", |_, a| {
            exact("typeIs", a, 2)?;
            Ok(Value::Bool(str_arg(&a[0]) == go_type_name(&a[1])))
        }),
        ("typeIsLike", |_, a| {
            exact("typeIsLike", a, 2)?;
            let wanted = str_arg(&a[0]);
            let t = go_type_name(&a[1]);
            Ok(Value::Bool(wanted == t || wanted == format!("*{t}")))
        }),
        ("kindOf", |_, a| Ok(s(go_kind_name(arg("kindOf", a, 0)?)))),
        ("kindIs", |_, a| {
            exact("kindIs", a, 2)?;
            Ok(Value::Bool(str_arg(&a[0]) == go_kind_name(&a[1])))
        }),
        ("deepEqual", |st, a| {
            exact("deepEqual", a, 2)?;
            Ok(Value::Bool(st.deep_current(&a[0]) == st.deep_current(&a[1])))
        }),
        // --- encoding and hashes ---
        ("b64enc", |_, a| {
            Ok(s(
                base64::engine::general_purpose::STANDARD.encode(str_arg(arg("b64enc", a, 0)?))
            ))
        }),
        ("b64dec", |_, a| {
            let text = str_arg(arg("b64dec", a, 0)?);
            Ok(s(
                match base64::engine::general_purpose::STANDARD.decode(text.as_bytes()) {
                    Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
                    Err(e) => e.to_string(),
                },
            ))
        }),
        ("b32enc", |_, a| {
            Ok(s(base32_encode(str_arg(arg("b32enc", a, 0)?).as_bytes())))
        }),
        ("b32dec", |_, a| {
            let text = str_arg(arg("b32dec", a, 0)?);
            Ok(s(base32_decode(&text)
                .map(|b| String::from_utf8_lossy(&b).into_owned())
                .unwrap_or_else(|| "illegal base32 data".to_string())))
        }),
        ("sha1sum", |_, a| {
            use sha1::Digest;
            Ok(s(hex::encode(sha1::Sha1::digest(
                str_arg(arg("sha1sum", a, 0)?).as_bytes(),
            ))))
        }),
        ("sha256sum", |_, a| {
            use sha2::Digest;
            Ok(s(hex::encode(sha2::Sha256::digest(
                str_arg(arg("sha256sum", a, 0)?).as_bytes(),
            ))))
        }),
        ("sha512sum", |_, a| {
            use sha2::Digest;
            Ok(s(hex::encode(sha2::Sha512::digest(
                str_arg(arg("sha512sum", a, 0)?).as_bytes(),
            ))))
        }),
        ("adler32sum", |_, a| {
            Ok(s(
                adler32(str_arg(arg("adler32sum", a, 0)?).as_bytes()).to_string()
            ))
        }),
        ("htpasswd", |_, a| {
            exact("htpasswd", a, 2)?;
            let user = str_arg(&a[0]);
            if user.contains(':') {
                return Ok(s("invalid username: contains ':'"));
            }
            let hash = bcrypt::hash(str_arg(&a[1]), bcrypt::DEFAULT_COST).map_err(|e| err(e.to_string()))?;
            Ok(s(format!("{user}:{hash}")))
        }),
        ("bcrypt", |_, a| {
            let hash = bcrypt::hash(str_arg(arg("bcrypt", a, 0)?), bcrypt::DEFAULT_COST)
                .map_err(|e| err(e.to_string()))?;
            Ok(s(hash))
        }),
        // --- semver ---
        ("semverCompare", |_, a| {
            exact("semverCompare", a, 2)?;
            let constraint = semver::Constraints::parse(&str_arg(&a[0])).map_err(err)?;
            let version = semver::Version::parse(&str_arg(&a[1])).map_err(err)?;
            Ok(Value::Bool(constraint.matches(&version)))
        }),
        ("semver", |_, a| {
            let text = str_arg(arg("semver", a, 0)?);
            let v = semver::Version::parse(&text).map_err(err)?;
            let mut entries = GoMap::new();
            entries.insert(Arc::from("Major"), Value::Int(v.major as i64));
            entries.insert(Arc::from("Minor"), Value::Int(v.minor as i64));
            entries.insert(Arc::from("Patch"), Value::Int(v.patch as i64));
            entries.insert(Arc::from("Prerelease"), s(&v.pre));
            entries.insert(Arc::from("Metadata"), s(&v.build));
            entries.insert(Arc::from("Original"), s(&text));
            Ok(map(entries))
        }),
        // --- paths and urls ---
        ("base", |_, a| Ok(s(path_base(&str_arg(arg("base", a, 0)?))))),
        ("dir", |_, a| Ok(s(path_dir(&str_arg(arg("dir", a, 0)?))))),
        ("clean", |_, a| Ok(s(path_clean(&str_arg(arg("clean", a, 0)?))))),
        ("ext", |_, a| {
            let p = str_arg(arg("ext", a, 0)?);
            let base = p.rsplit('/').next().unwrap_or("");
            Ok(s(base.rfind('.').map(|i| &base[i..]).unwrap_or("")))
        }),
        ("isAbs", |_, a| {
            Ok(Value::Bool(str_arg(arg("isAbs", a, 0)?).starts_with('/')))
        }),
        ("osBase", |_, a| Ok(s(path_base(&str_arg(arg("osBase", a, 0)?))))),
        ("osDir", |_, a| Ok(s(path_dir(&str_arg(arg("osDir", a, 0)?))))),
        ("osClean", |_, a| {
            Ok(s(path_clean(&str_arg(arg("osClean", a, 0)?))))
        }),
        ("osExt", |_, a| {
            let p = str_arg(arg("osExt", a, 0)?);
            let base = p.rsplit('/').next().unwrap_or("");
            Ok(s(base.rfind('.').map(|i| &base[i..]).unwrap_or("")))
        }),
        ("osIsAbs", |_, a| {
            Ok(Value::Bool(str_arg(arg("osIsAbs", a, 0)?).starts_with('/')))
        }),
        // --- dates ---
        ("now", |st, _| Ok(time_value(st, jiff::Timestamp::now()))),
        ("date", |st, a| {
            exact("date", a, 2)?;
            Ok(s(format_date(st, &str_arg(&a[0]), &a[1], None)))
        }),
        ("dateInZone", |st, a| {
            exact("dateInZone", a, 3)?;
            Ok(s(format_date(st, &str_arg(&a[0]), &a[1], Some(&str_arg(&a[2])))))
        }),
        ("date_in_zone", |st, a| {
            exact("date_in_zone", a, 3)?;
            Ok(s(format_date(st, &str_arg(&a[0]), &a[1], Some(&str_arg(&a[2])))))
        }),
        ("htmlDate", |st, a| {
            Ok(s(format_date(st, "2006-01-02", arg("htmlDate", a, 0)?, None)))
        }),
        ("htmlDateInZone", |st, a| {
            exact("htmlDateInZone", a, 2)?;
            Ok(s(format_date(st, "2006-01-02", &a[0], Some(&str_arg(&a[1])))))
        }),
        ("unixEpoch", |st, a| {
            Ok(s(date_of(st, arg("unixEpoch", a, 0)?)
                .map(|t| t.as_second().to_string())
                .unwrap_or_default()))
        }),
        ("toDate", |st, a| to_date(st, a, false)),
        ("mustToDate", |st, a| to_date(st, a, true)),
        ("dateModify", |st, a| date_modify(st, a, false)),
        ("date_modify", |st, a| date_modify(st, a, false)),
        ("mustDateModify", |st, a| date_modify(st, a, true)),
        ("ago", |st, a| {
            let then = date_of(st, arg("ago", a, 0)?).unwrap_or_else(jiff::Timestamp::now);
            let nanos = jiff::Timestamp::now().as_nanosecond() - then.as_nanosecond();
            // Rounded to the second, as Sprig does.
            Ok(s(go_duration((nanos / 1_000_000_000) * 1_000_000_000)))
        }),
        ("duration", |_, a| {
            let secs = match arg("duration", a, 0)? {
                Value::String(text) => text.trim().parse::<i64>().unwrap_or(0),
                Value::Int(n) => *n,
                _ => 0,
            };
            Ok(s(go_duration(i128::from(secs) * 1_000_000_000)))
        }),
        ("durationRound", |st, a| {
            let value = arg("durationRound", a, 0)?;
            let nanos: i128 = match value {
                Value::String(text) => parse_go_duration(text).unwrap_or(0),
                Value::Int(n) => i128::from(*n),
                other => match date_of(st, other) {
                    Some(t) if matches!(other, Value::Map(_)) => {
                        jiff::Timestamp::now().as_nanosecond() - t.as_nanosecond()
                    }
                    _ => 0,
                },
            };
            Ok(s(duration_round(nanos)))
        }),
        // --- misc ---
        ("fromYamlArrayMust", |_, _| {
            Err(err("function \"fromYamlArrayMust\" not defined"))
        }),
        ("getHostByName", |_, _| Ok(s(""))),
        ("hello", |_, _| Ok(s("Hello!"))),
        ("genPrivateKey", |_, a| crate::certs::gen_private_key(a)),
        ("genCA", |_, a| crate::certs::gen_ca(a, false)),
        ("genCAWithKey", |_, a| crate::certs::gen_ca(a, true)),
        ("genSelfSignedCert", |st, a| {
            crate::certs::gen_self_signed(st, a, false)
        }),
        ("genSelfSignedCertWithKey", |st, a| {
            crate::certs::gen_self_signed(st, a, true)
        }),
        ("genSignedCert", |st, a| crate::certs::gen_signed(st, a, false)),
        ("genSignedCertWithKey", |st, a| {
            crate::certs::gen_signed(st, a, true)
        }),
        ("buildCustomCert", |_, a| crate::certs::build_custom_cert(a)),
        ("derivePassword", |st, a| {
            exact("derivePassword", a, 5)?;
            let counter = match &a[0] {
                Value::Int(n) => u32::try_from(*n).ok(),
                Value::Uint(n) => u32::try_from(*n).ok(),
                _ => None,
            }
            .ok_or_else(|| {
                err(format!(
                    "derivePassword: counter must be an integer from 0 to 4294967295, got {}",
                    strval(&a[0])
                ))
            })?;
            let password_type = str_arg(&a[1]);
            if !crate::masterpass::is_known_type(&password_type) {
                return Ok(s(format!("cannot find password template {password_type}")));
            }
            Ok(s(match st.master_key(&str_arg(&a[2]), &str_arg(&a[3])) {
                Ok(key) => crate::masterpass::site_password(&key, counter, &password_type, &str_arg(&a[4])),
                Err(e) => format!("failed to derive password: {e}"),
            }))
        }),
        ("trimall", |_, a| {
            exact("trimall", a, 2)?;
            let cut: Vec<char> = str_arg(&a[0]).chars().collect();
            Ok(s(str_arg(&a[1]).trim_matches(|c| cut.contains(&c))))
        }),
        ("mustFromJson", |_, a| {
            let text = str_arg(arg("mustFromJson", a, 0)?);
            match serde_json::from_str::<serde_json::Value>(&text) {
                Ok(v) => Ok(json::from_serde(&v)),
                Err(e) => Err(err(e.to_string())),
            }
        }),
        ("randBytes", |_, a| {
            use rand::RngCore;
            let n = to_i64(arg("randBytes", a, 0)?).clamp(0, 1_000_000) as usize;
            let mut bytes = vec![0u8; n];
            rand::rng().fill_bytes(&mut bytes);
            Ok(s(base64::engine::general_purpose::STANDARD.encode(bytes)))
        }),
        ("encryptAES", |_, a| {
            exact("encryptAES", a, 2)?;
            Ok(s(encrypt_aes(&str_arg(&a[0]), &str_arg(&a[1]))))
        }),
        ("decryptAES", |_, a| {
            exact("decryptAES", a, 2)?;
            decrypt_aes(&str_arg(&a[0]), &str_arg(&a[1])).map(s).map_err(err)
        }),
        ("urlParse", |_, a| {
            Ok(map(url_parse(&str_arg(arg("urlParse", a, 0)?))))
        }),
        ("urlJoin", |st, a| {
            Ok(s(url_join(&st.map_of(arg("urlJoin", a, 0)?).unwrap_or_default())))
        }),
        ("urlquery", |_, a| {
            Ok(s(gotmpl::url_encode(&a.iter().map(str_arg).collect::<String>())))
        }),
    ];
    for (name, native) in table {
        let state = Arc::clone(state);
        let native = *native;
        let func: ValueFunc = Arc::new(move |args: &[Value]| native(&state, args));
        funcs.insert((*name).to_string(), func);
    }
}

fn deep(state: &State, args: &[Value]) -> Vec<Value> {
    args.iter()
        .map(|a| match state.special_of(a) {
            Some(crate::state::Special::Stringer(text)) => Value::String(text),
            _ => state.deep_current(a),
        })
        .collect()
}

/// How Go's `%v` shows a value, including Helm objects printed as structs.
pub(crate) fn display(state: &State, v: &Value) -> String {
    match state.special_of(v) {
        Some(crate::state::Special::Stringer(text)) => text.to_string(),
        _ => strval(&state.deep_current(v)),
    }
}

fn go_space(c: char) -> bool {
    c.is_whitespace()
}

fn error_map(message: &str) -> GoMap {
    let mut m = GoMap::new();
    m.insert(Arc::from("Error"), s(message));
    m
}

fn need_map(name: &str, v: &Value) -> Result<(), TemplateError> {
    match v {
        Value::Map(_) => Ok(()),
        other => Err(err(format!(
            "wrong type for value; expected map[string]interface {{}}; got {} (in {name})",
            go_type_name(other)
        ))),
    }
}

fn printf(state: &State, args: &[Value]) -> FResult {
    let format = str_arg(arg("printf", args, 0)?);
    let mut values: Vec<Value> = deep(state, &args[1..]);
    // Go prints `%v`/`%s` of floats, maps and lists its own way; turn those
    // operands into the exact strings and let gotmpl's printf do the rest.
    let verbs = printf_verbs(&format);
    for (i, verb) in verbs.iter().enumerate() {
        if let Some(v) = values.get_mut(i)
            && matches!(verb, 'v' | 's')
            && matches!(v, Value::Float(_) | Value::Map(_) | Value::List(_) | Value::Nil)
        {
            let text = if matches!(v, Value::Nil) && *verb == 's' {
                "%!s(<nil>)".to_string()
            } else {
                format_v(v)
            };
            *v = s(text);
        }
    }
    go_printf(&format, values)
}

/// Run gotmpl's own `printf` (not public API) through a one-action template
/// per operand count: `{{printf .f (index .a 0) (index .a 1) …}}`.
fn go_printf(format: &str, values: Vec<Value>) -> FResult {
    let arity = values.len();
    let mut data = GoMap::new();
    data.insert(Arc::from("f"), s(format));
    data.insert(Arc::from("a"), list(values));
    PRINTF_TEMPLATES.with(|cache| {
        let mut cache = cache.borrow_mut();
        if let std::collections::hash_map::Entry::Vacant(slot) = cache.entry(arity) {
            let operands: String = (0..arity).map(|i| format!(" (index .a {i})")).collect();
            let template = gotmpl::Template::new("printf").parse(&format!("{{{{printf .f{operands}}}}}"))?;
            slot.insert(template);
        }
        match cache.get(&arity) {
            Some(template) => template.execute_to_string(&map(data)).map(s),
            None => Err(err("printf: internal template missing")),
        }
    })
}

thread_local! {
    static PRINTF_TEMPLATES: std::cell::RefCell<std::collections::HashMap<usize, gotmpl::Template>> =
        std::cell::RefCell::new(std::collections::HashMap::new());
}

/// The verb of each operand in a Go format string (`*` widths count as
/// operands too, with verb `*`).
fn printf_verbs(format: &str) -> Vec<char> {
    let mut verbs = Vec::new();
    let mut chars = format.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '%' {
            continue;
        }
        loop {
            match chars.peek().copied() {
                Some('+' | '-' | '#' | ' ' | '0'..='9' | '.' | '[' | ']') => {
                    chars.next();
                }
                Some('*') => {
                    chars.next();
                    verbs.push('*');
                }
                Some('%') => {
                    chars.next();
                    break;
                }
                Some(verb) => {
                    chars.next();
                    verbs.push(verb);
                    break;
                }
                None => break,
            }
        }
    }
    verbs
}

fn index(state: &State, args: &[Value]) -> FResult {
    let mut current = state.current(arg("index", args, 0)?);
    for key in &args[1..] {
        current = match (&current, key) {
            (Value::Map(m), _) => {
                let k = str_arg(key);
                m.get(k.as_str()).cloned().unwrap_or(Value::Nil)
            }
            (Value::List(l), Value::Int(_) | Value::Uint(_) | Value::Float(_)) => {
                let i = to_i64(key);
                if i < 0 || i as usize >= l.len() {
                    return Err(err(format!("index out of range: {i}")));
                }
                l.get(i as usize).cloned().unwrap_or(Value::Nil)
            }
            (Value::Nil, _) => {
                return Err(err("index of untyped nil"));
            }
            (other, _) => {
                return Err(err(format!(
                    "cannot index slice/array with type {}",
                    go_type_name(other)
                )));
            }
        };
        current = state.current(&current);
    }
    Ok(current)
}

fn title(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut prev_is_letter = false;
    for c in text.chars() {
        if !prev_is_letter {
            out.extend(c.to_uppercase());
        } else {
            out.push(c);
        }
        prev_is_letter = c.is_alphanumeric() || c == '_' || c == '\'';
    }
    out
}

fn untitle(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut at_word_start = true;
    for c in text.chars() {
        if at_word_start {
            out.extend(c.to_lowercase());
        } else {
            out.push(c);
        }
        at_word_start = c.is_whitespace();
    }
    out
}

fn swapcase(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_uppercase() {
                c.to_lowercase().collect::<String>()
            } else {
                c.to_uppercase().collect::<String>()
            }
        })
        .collect()
}

fn substr(start: i64, end: i64, text: &str) -> String {
    let bytes = text.as_bytes();
    let len = bytes.len() as i64;
    let slice = if start < 0 {
        &bytes[..end.clamp(0, len) as usize]
    } else if end < 0 || end > len {
        &bytes[start.min(len) as usize..]
    } else if start > end {
        &[][..]
    } else {
        &bytes[start as usize..end as usize]
    };
    String::from_utf8_lossy(slice).into_owned()
}

fn trunc(n: i64, text: &str) -> String {
    let len = text.len() as i64;
    if n < 0 && len + n > 0 {
        return String::from_utf8_lossy(&text.as_bytes()[(len + n) as usize..]).into_owned();
    }
    if n >= 0 && len > n {
        return String::from_utf8_lossy(&text.as_bytes()[..n as usize]).into_owned();
    }
    text.to_string()
}

fn abbrev(width: i64, text: &str) -> String {
    if width < 4 || (text.chars().count() as i64) <= width {
        return text.to_string();
    }
    let kept: String = text.chars().take((width - 3) as usize).collect();
    format!("{kept}...")
}

fn wrap(width: usize, text: &str, newline: &str) -> String {
    let mut out = String::new();
    for (li, line) in text.split('\n').enumerate() {
        if li > 0 {
            out.push('\n');
        }
        let mut col = 0;
        for (wi, word) in line.split(' ').filter(|w| !w.is_empty()).enumerate() {
            if wi > 0 {
                if col + 1 + word.chars().count() > width {
                    out.push_str(newline);
                    col = 0;
                } else {
                    out.push(' ');
                    col += 1;
                }
            }
            out.push_str(word);
            col += word.chars().count();
        }
    }
    out
}

fn indent(spaces: i64, text: &str) -> String {
    let pad = " ".repeat(spaces.clamp(0, 10_000) as usize);
    format!("{pad}{}", text.replace('\n', &format!("\n{pad}")))
}

fn snakecase(text: &str) -> String {
    // xstrings.ToSnakeCase: word boundaries at case changes and separators.
    let mut out = String::new();
    let chars: Vec<char> = text.chars().collect();
    for (i, &c) in chars.iter().enumerate() {
        if c.is_uppercase() {
            let prev = if i > 0 { chars.get(i - 1).copied() } else { None };
            let next = chars.get(i + 1).copied();
            let boundary = match prev {
                Some(p) if p.is_lowercase() || p.is_ascii_digit() => true,
                Some(p) if p.is_uppercase() => next.is_some_and(char::is_lowercase),
                _ => false,
            };
            if boundary && !out.ends_with('_') {
                out.push('_');
            }
            out.extend(c.to_lowercase());
        } else if c == '-' || c == ' ' || c == '_' || c == '.' {
            if !out.is_empty() && !out.ends_with('_') {
                out.push('_');
            }
        } else {
            out.push(c);
        }
    }
    out
}

fn camelcase(text: &str) -> String {
    text.split(['_', '-', ' '])
        .filter(|w| !w.is_empty())
        .map(|w| {
            let mut cs = w.chars();
            match cs.next() {
                Some(first) => first.to_uppercase().chain(cs).collect::<String>(),
                None => String::new(),
            }
        })
        .collect()
}

const ALNUM: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
const ALPHA: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
const NUMERIC: &[u8] = b"0123456789";
const ASCII: &[u8] =
    b" !\"#$%&'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[\\]^_`abcdefghijklmnopqrstuvwxyz{|}~";

fn random_from(n: i64, alphabet: &[u8]) -> String {
    use rand::Rng;
    let mut rng = rand::rng();
    (0..n.clamp(0, 1_000_000))
        .map(|_| {
            let i = rng.random_range(0..alphabet.len());
            char::from(alphabet.get(i).copied().unwrap_or(b'a'))
        })
        .collect()
}

fn compile(pattern: &str) -> Result<regex::Regex, TemplateError> {
    regex::Regex::new(pattern).map_err(|e| err(format!("error parsing regexp: {e}")))
}

fn regex_match(a: &[Value], must: bool) -> FResult {
    exact("regexMatch", a, 2)?;
    match compile(&str_arg(&a[0])) {
        Ok(re) => Ok(Value::Bool(re.is_match(&str_arg(&a[1])))),
        Err(e) if must => Err(e),
        Err(_) => Ok(Value::Bool(false)),
    }
}

fn regex_find(a: &[Value], must: bool) -> FResult {
    exact("regexFind", a, 2)?;
    match compile(&str_arg(&a[0])) {
        Ok(re) => Ok(s(re.find(&str_arg(&a[1])).map(|m| m.as_str()).unwrap_or(""))),
        Err(e) if must => Err(e),
        Err(_) => Ok(s("")),
    }
}

fn regex_find_all(a: &[Value], must: bool) -> FResult {
    exact("regexFindAll", a, 3)?;
    let n = to_i64(&a[2]);
    match compile(&str_arg(&a[0])) {
        Ok(re) => {
            let text = str_arg(&a[1]);
            let found = re.find_iter(&text).map(|m| s(m.as_str()));
            Ok(list(if n < 0 {
                found.collect()
            } else {
                found.take(n as usize).collect()
            }))
        }
        Err(e) if must => Err(e),
        Err(_) => Ok(list(Vec::new())),
    }
}

/// Go's `Regexp.Expand` template syntax (`$1`, `${name}`) → Rust's.
fn go_replacement(repl: &str) -> String {
    // Both use `$name`/`${name}`; Go treats `$1a` as the group "1a" like Rust.
    repl.to_string()
}

fn regex_replace(a: &[Value], must: bool, literal: bool) -> FResult {
    exact("regexReplaceAll", a, 3)?;
    match compile(&str_arg(&a[0])) {
        Ok(re) => {
            let text = str_arg(&a[1]);
            let repl = str_arg(&a[2]);
            Ok(s(if literal {
                re.replace_all(&text, regex::NoExpand(&repl)).into_owned()
            } else {
                re.replace_all(&text, go_replacement(&repl).as_str()).into_owned()
            }))
        }
        Err(e) if must => Err(e),
        Err(_) => Ok(s("")),
    }
}

fn regex_split(a: &[Value], must: bool) -> FResult {
    exact("regexSplit", a, 3)?;
    let n = to_i64(&a[2]);
    match compile(&str_arg(&a[0])) {
        Ok(re) => {
            let text = str_arg(&a[1]);
            Ok(list(if n < 0 {
                re.split(&text).map(s).collect()
            } else {
                re.splitn(&text, n as usize).map(s).collect()
            }))
        }
        Err(e) if must => Err(e),
        Err(_) => Ok(list(Vec::new())),
    }
}

fn raw_json(v: &Value) -> String {
    serde_json::to_string(&json::to_serde(v)).unwrap_or_default()
}

fn seq(a: &[Value]) -> FResult {
    let nums: Vec<i64> = a.iter().map(to_i64).collect();
    let (start, step, end) = match nums.as_slice() {
        [] => return Ok(s("")),
        [end] => (1, if *end >= 1 { 1 } else { -1 }, *end),
        [start, end] => (*start, if end >= start { 1 } else { -1 }, *end),
        [start, step, end, ..] => (*start, *step, *end),
    };
    if step == 0 || (step > 0 && start > end) || (step < 0 && start < end) {
        return Ok(s(""));
    }
    let mut out = Vec::new();
    let mut i = start;
    while (step > 0 && i <= end) || (step < 0 && i >= end) {
        out.push(i.to_string());
        if out.len() > 1_000_000 {
            return Err(err("seq: too many elements"));
        }
        i += step;
    }
    Ok(s(out.join(" ")))
}

fn untilstep(start: i64, stop: i64, step: i64) -> FResult {
    let mut out = Vec::new();
    if step == 0 {
        return Ok(list(out));
    }
    let mut i = start;
    while (step > 0 && i < stop) || (step < 0 && i > stop) {
        out.push(Value::Int(i));
        if out.len() > 1_000_000 {
            return Err(err("untilStep: too many elements"));
        }
        i += step;
    }
    Ok(list(out))
}

fn rest(a: &[Value], name: &str) -> FResult {
    let l = list_arg(name, arg(name, a, 0)?)?;
    Ok(list(l.iter().skip(1).cloned().collect()))
}

fn initial(a: &[Value], name: &str) -> FResult {
    let l = list_arg(name, arg(name, a, 0)?)?;
    Ok(list(l.iter().take(l.len().saturating_sub(1)).cloned().collect()))
}

fn append(a: &[Value], name: &str) -> FResult {
    exact(name, a, 2)?;
    let mut out = list_arg(name, &a[0])?.to_vec();
    out.push(a[1].clone());
    Ok(list(out))
}

fn prepend(a: &[Value], name: &str) -> FResult {
    exact(name, a, 2)?;
    let mut out = vec![a[1].clone()];
    out.extend(list_arg(name, &a[0])?.iter().cloned());
    Ok(list(out))
}

fn reverse(a: &[Value], name: &str) -> FResult {
    let mut out = list_arg(name, arg(name, a, 0)?)?.to_vec();
    out.reverse();
    Ok(list(out))
}

fn uniq(state: &State, a: &[Value], name: &str) -> FResult {
    let l = list_arg(name, arg(name, a, 0)?)?;
    let mut out: Vec<Value> = Vec::new();
    for v in l.iter() {
        let resolved = state.deep_current(v);
        if !out.iter().any(|o| state.deep_current(o) == resolved) {
            out.push(v.clone());
        }
    }
    Ok(list(out))
}

fn without(state: &State, a: &[Value], name: &str) -> FResult {
    let l = list_arg(name, arg(name, a, 0)?)?;
    let removed: Vec<Value> = a[1..].iter().map(|v| state.deep_current(v)).collect();
    Ok(list(
        l.iter()
            .filter(|v| !removed.contains(&state.deep_current(v)))
            .cloned()
            .collect(),
    ))
}

fn has(state: &State, a: &[Value], name: &str) -> FResult {
    exact(name, a, 2)?;
    let needle = state.deep_current(&a[0]);
    let l = list_arg(name, &a[1])?;
    Ok(Value::Bool(l.iter().any(|v| state.deep_current(v) == needle)))
}

fn slice(_: &State, a: &[Value]) -> FResult {
    let l = list_arg("slice", arg("slice", a, 0)?)?;
    let len = l.len() as i64;
    let start = a.get(1).map(to_i64).unwrap_or(0);
    let end = a.get(2).map(to_i64).unwrap_or(len);
    if start < 0 || end > len || start > end {
        return Err(err(format!("slice bounds out of range [{start}:{end}]")));
    }
    Ok(list(l[start as usize..end as usize].to_vec()))
}

/// mergo.Merge (fill missing keys) / mergo.MergeWithOverride, deep for maps,
/// into the first argument in place.
fn merge(state: &State, a: &[Value], overwrite: bool) -> FResult {
    let dst = arg("merge", a, 0)?;
    need_map("merge", dst)?;
    let mut merged = (*state.map_of(dst).unwrap_or_default()).clone();
    for src in &a[1..] {
        if let Some(src_map) = state.map_of(src) {
            merge_into(state, &mut merged, &src_map, overwrite);
        }
    }
    Ok(state.mutate(dst, |m| *m = merged))
}

fn merge_into(state: &State, dst: &mut GoMap, src: &GoMap, overwrite: bool) {
    for (k, sv) in src {
        match dst.get(k) {
            None => {
                dst.insert(Arc::clone(k), sv.clone());
            }
            Some(dv) => {
                let dv_map = state.map_of(dv);
                let sv_map = state.map_of(sv);
                match (dv_map, sv_map) {
                    (Some(dm), Some(sm)) => {
                        let mut inner = (*dm).clone();
                        merge_into(state, &mut inner, &sm, overwrite);
                        dst.insert(Arc::clone(k), map(inner));
                    }
                    _ => {
                        // mergo treats an empty destination value as missing.
                        if overwrite && !is_empty(state, sv) || is_empty(state, dv) {
                            dst.insert(Arc::clone(k), sv.clone());
                        }
                    }
                }
            }
        }
    }
}

fn base32_encode(data: &[u8]) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut out = String::new();
    for chunk in data.chunks(5) {
        let mut buf = [0u8; 5];
        buf[..chunk.len()].copy_from_slice(chunk);
        let bits = buf.iter().fold(0u64, |acc, b| (acc << 8) | u64::from(*b));
        let chars = (chunk.len() * 8).div_ceil(5);
        for i in 0..8 {
            if i < chars {
                let idx = ((bits >> (35 - i * 5)) & 31) as usize;
                out.push(char::from(ALPHABET[idx]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn base32_decode(text: &str) -> Option<Vec<u8>> {
    let mut bits: u64 = 0;
    let mut nbits = 0;
    let mut out = Vec::new();
    for c in text.trim_end_matches('=').chars() {
        let v = match c {
            'A'..='Z' => c as u64 - 'A' as u64,
            '2'..='7' => c as u64 - '2' as u64 + 26,
            _ => return None,
        };
        bits = (bits << 5) | v;
        nbits += 5;
        if nbits >= 8 {
            nbits -= 8;
            out.push(((bits >> nbits) & 0xff) as u8);
        }
    }
    Some(out)
}

fn adler32(data: &[u8]) -> u32 {
    let (mut a, mut b) = (1u32, 0u32);
    for &byte in data {
        a = (a + u32::from(byte)) % 65521;
        b = (b + a) % 65521;
    }
    (b << 16) | a
}

fn path_base(p: &str) -> String {
    if p.is_empty() {
        return ".".to_string();
    }
    let trimmed = p.trim_end_matches('/');
    if trimmed.is_empty() {
        return "/".to_string();
    }
    trimmed.rsplit('/').next().unwrap_or(trimmed).to_string()
}

fn path_dir(p: &str) -> String {
    match p.rfind('/') {
        Some(i) => path_clean(&p[..=i]),
        None => ".".to_string(),
    }
}

/// Go's `path.Clean`.
pub(crate) fn path_clean(p: &str) -> String {
    if p.is_empty() {
        return ".".to_string();
    }
    let rooted = p.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for part in p.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                if parts.last().is_some_and(|l| *l != "..") {
                    parts.pop();
                } else if !rooted {
                    parts.push("..");
                }
            }
            other => parts.push(other),
        }
    }
    let joined = parts.join("/");
    match (rooted, joined.is_empty()) {
        (true, _) => format!("/{joined}"),
        (false, true) => ".".to_string(),
        (false, false) => joined,
    }
}

/// Key under which a Go `time.Time` value keeps its instant.
const TIME_KEY: &str = "\u{0}time";

/// A Go `time.Time`: a map holding the instant, printed as Go prints times.
fn time_value(state: &State, ts: jiff::Timestamp) -> Value {
    let mut m = GoMap::new();
    m.insert(
        Arc::from(TIME_KEY),
        Value::Int(ts.as_nanosecond().clamp(i64::MIN as i128, i64::MAX as i128) as i64),
    );
    let value = Value::Map(Arc::new(m));
    let zoned = ts.to_zoned(jiff::tz::TimeZone::UTC);
    let mut text = zoned.strftime("%Y-%m-%d %H:%M:%S").to_string();
    let nanos = zoned.subsec_nanosecond();
    if nanos != 0 {
        text.push_str(format!(".{nanos:09}").trim_end_matches('0'));
    }
    text.push_str(" +0000 UTC");
    state.tag(&value, crate::state::Special::Stringer(Arc::from(text)));
    value
}

fn date_of(state: &State, v: &Value) -> Option<jiff::Timestamp> {
    match state.current(v) {
        Value::Map(m) => match m.get(TIME_KEY) {
            Some(Value::Int(n)) => jiff::Timestamp::from_nanosecond(i128::from(*n)).ok(),
            _ => None,
        },
        Value::Int(n) => jiff::Timestamp::from_second(n).ok(),
        Value::Float(f) => jiff::Timestamp::from_second(f as i64).ok(),
        Value::String(text) => text.parse::<jiff::Timestamp>().ok(),
        _ => None,
    }
}

/// Go's reference-time layout → strftime, for the common layout tokens.
fn go_layout_to_strftime(layout: &str) -> String {
    let mapping: &[(&str, &str)] = &[
        ("2006", "%Y"),
        ("Z07:00", "%:z"),
        ("-07:00", "%:z"),
        ("-0700", "%z"),
        ("01", "%m"),
        ("02", "%d"),
        ("15", "%H"),
        ("03", "%I"),
        ("04", "%M"),
        ("05", "%S"),
        ("January", "%B"),
        ("Jan", "%b"),
        ("Monday", "%A"),
        ("Mon", "%a"),
        ("MST", "%Z"),
        ("PM", "%p"),
        ("06", "%y"),
    ];
    let mut fmt = String::new();
    let mut rest = layout;
    'outer: while !rest.is_empty() {
        for (go, strf) in mapping {
            if let Some(after) = rest.strip_prefix(go) {
                fmt.push_str(strf);
                rest = after;
                continue 'outer;
            }
        }
        let mut cs = rest.chars();
        if let Some(c) = cs.next() {
            if c == '%' {
                fmt.push_str("%%");
            } else {
                fmt.push(c);
            }
        }
        rest = cs.as_str();
    }
    fmt
}

fn format_date(state: &State, layout: &str, v: &Value, zone: Option<&str>) -> String {
    let ts = date_of(state, v).unwrap_or_else(jiff::Timestamp::now);
    let tz = zone
        .and_then(|z| jiff::tz::TimeZone::get(z).ok())
        .unwrap_or(jiff::tz::TimeZone::UTC);
    let zoned = ts.to_zoned(tz);
    let fmt = go_layout_to_strftime(layout);
    // A literal "Z" offset is written for UTC by Go's Z07:00.
    let out = zoned.strftime(&fmt).to_string();
    if layout.contains("Z07:00") && zoned.offset().seconds() == 0 {
        return out.replace("+00:00", "Z");
    }
    out
}

fn to_date(state: &State, a: &[Value], must: bool) -> FResult {
    exact("toDate", a, 2)?;
    let fmt = go_layout_to_strftime(&str_arg(&a[0]));
    let text = str_arg(&a[1]);
    let parsed = jiff::Zoned::strptime(&fmt, &text)
        .map(|z| z.timestamp())
        .or_else(|_| {
            jiff::civil::DateTime::strptime(&fmt, &text)
                .and_then(|dt| dt.to_zoned(jiff::tz::TimeZone::UTC))
                .map(|z| z.timestamp())
        })
        .or_else(|_| {
            jiff::civil::Date::strptime(&fmt, &text)
                .and_then(|d| d.to_zoned(jiff::tz::TimeZone::UTC))
                .map(|z| z.timestamp())
        });
    match parsed {
        Ok(ts) => Ok(time_value(state, ts)),
        Err(e) if must => Err(err(format!("parsing time {text:?}: {e}"))),
        Err(_) => Ok(time_value(state, jiff::Timestamp::UNIX_EPOCH)),
    }
}

fn date_modify(state: &State, a: &[Value], must: bool) -> FResult {
    exact("dateModify", a, 2)?;
    let modifier = str_arg(&a[0]);
    let Some(ts) = date_of(state, &a[1]) else {
        return Err(err("dateModify: not a time"));
    };
    match parse_go_duration(&modifier) {
        Some(nanos) => {
            let moved = jiff::Timestamp::from_nanosecond(ts.as_nanosecond() + nanos).unwrap_or(ts);
            Ok(time_value(state, moved))
        }
        None if must => Err(err(format!("time: invalid duration {}", go_quote(&modifier)))),
        None => Ok(time_value(state, ts)),
    }
}

/// Go's `time.ParseDuration` (`1h30m`, `-1.5h`, `300ms`), in nanoseconds.
fn parse_go_duration(text: &str) -> Option<i128> {
    let (negative, mut rest) = match text.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, text.strip_prefix('+').unwrap_or(text)),
    };
    if rest == "0" {
        return Some(0);
    }
    if rest.is_empty() {
        return None;
    }
    let mut total: f64 = 0.0;
    while !rest.is_empty() {
        let number_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        if number_len == 0 {
            return None;
        }
        let number: f64 = rest[..number_len].parse().ok()?;
        rest = &rest[number_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let scale: f64 = match &rest[..unit_len] {
            "ns" => 1.0,
            "us" | "µs" | "μs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => return None,
        };
        rest = &rest[unit_len..];
        total += number * scale;
    }
    let nanos = total.round() as i128;
    Some(if negative { -nanos } else { nanos })
}

/// Go's `time.Duration.String()`.
fn go_duration(nanos: i128) -> String {
    if nanos == 0 {
        return "0s".to_string();
    }
    let negative = nanos < 0;
    let u = nanos.unsigned_abs();
    let mut out = String::new();
    if u < 1_000_000_000 {
        // Sub-second: the largest unit that keeps a leading digit.
        let (unit, scale) = if u < 1_000 {
            ("ns", 1u128)
        } else if u < 1_000_000 {
            ("µs", 1_000)
        } else {
            ("ms", 1_000_000)
        };
        out.push_str(&trim_fraction(u, scale));
        out.push_str(unit);
    } else {
        let hours = u / 3_600_000_000_000;
        let minutes = (u / 60_000_000_000) % 60;
        let sec_nanos = u % 60_000_000_000;
        if hours > 0 {
            out.push_str(&format!("{hours}h"));
        }
        if hours > 0 || minutes > 0 {
            out.push_str(&format!("{minutes}m"));
        }
        out.push_str(&trim_fraction(sec_nanos, 1_000_000_000));
        out.push('s');
    }
    if negative {
        out.insert(0, '-');
    }
    out
}

fn trim_fraction(value: u128, scale: u128) -> String {
    let whole = value / scale;
    let frac = value % scale;
    if frac == 0 {
        return whole.to_string();
    }
    let digits = scale.to_string().len() - 1;
    let frac_text = format!("{frac:0digits$}");
    format!("{whole}.{}", frac_text.trim_end_matches('0'))
}

/// Sprig's `durationRound`: the largest whole unit (y, mo, d, h, m, s).
fn duration_round(nanos: i128) -> String {
    let u = nanos.unsigned_abs();
    let hour: u128 = 3_600_000_000_000;
    let units: [(u128, &str); 6] = [
        (hour * 24 * 365, "y"),
        (hour * 24 * 30, "mo"),
        (hour * 24, "d"),
        (hour, "h"),
        (60_000_000_000, "m"),
        (1_000_000_000, "s"),
    ];
    for (size, suffix) in units {
        if u > size {
            return format!("{}{suffix}", u / size);
        }
    }
    "0s".to_string()
}

/// Sprig's `encryptAES`: AES-256-CBC, key = password zero-padded to 32
/// bytes, random IV prepended, PKCS#7 padding, base64.
fn encrypt_aes(password: &str, plaintext: &str) -> String {
    use aes::cipher::{BlockEncryptMut, KeyIvInit, block_padding::Pkcs7};
    use rand::RngCore;
    let mut key = [0u8; 32];
    for (slot, byte) in key.iter_mut().zip(password.as_bytes()) {
        *slot = *byte;
    }
    let mut iv = [0u8; 16];
    rand::rng().fill_bytes(&mut iv);
    let cipher = cbc::Encryptor::<aes::Aes256>::new(&key.into(), &iv.into());
    let ciphertext = cipher.encrypt_padded_vec_mut::<Pkcs7>(plaintext.as_bytes());
    let mut out = iv.to_vec();
    out.extend(ciphertext);
    base64::engine::general_purpose::STANDARD.encode(out)
}

fn decrypt_aes(password: &str, encoded: &str) -> Result<String, String> {
    use aes::cipher::{BlockDecryptMut, KeyIvInit, block_padding::Pkcs7};
    let data = base64::engine::general_purpose::STANDARD
        .decode(encoded.as_bytes())
        .map_err(|e| e.to_string())?;
    if data.len() < 16 || data.len() % 16 != 0 {
        return Err("decryptAES: ciphertext is not a multiple of the block size".to_string());
    }
    let mut key = [0u8; 32];
    for (slot, byte) in key.iter_mut().zip(password.as_bytes()) {
        *slot = *byte;
    }
    let (iv, body) = data.split_at(16);
    let mut iv_block = [0u8; 16];
    iv_block.copy_from_slice(iv);
    let cipher = cbc::Decryptor::<aes::Aes256>::new(&key.into(), &iv_block.into());
    let plain = cipher
        .decrypt_padded_vec_mut::<Pkcs7>(body)
        .map_err(|_| "decryptAES: bad padding".to_string())?;
    Ok(String::from_utf8_lossy(&plain).into_owned())
}

fn url_parse(text: &str) -> GoMap {
    let mut m = GoMap::new();
    let (scheme, rest) = match text.split_once("://") {
        Some((sc, r)) => (sc, r),
        None => ("", text),
    };
    let (rest, fragment) = rest.split_once('#').unwrap_or((rest, ""));
    let (rest, query) = rest.split_once('?').unwrap_or((rest, ""));
    let (authority, path) = if scheme.is_empty() {
        ("", rest)
    } else {
        match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, ""),
        }
    };
    let (userinfo, host) = authority.rsplit_once('@').unwrap_or(("", authority));
    m.insert(Arc::from("scheme"), s(scheme));
    m.insert(Arc::from("host"), s(host));
    m.insert(Arc::from("hostname"), s(host.split(':').next().unwrap_or("")));
    m.insert(Arc::from("path"), s(path));
    m.insert(Arc::from("query"), s(query));
    m.insert(Arc::from("opaque"), s(""));
    m.insert(Arc::from("fragment"), s(fragment));
    m.insert(Arc::from("userinfo"), s(userinfo));
    m
}

fn url_join(parts: &GoMap) -> String {
    let get = |k: &str| parts.get(k).map(strval).unwrap_or_default();
    let mut out = String::new();
    let scheme = get("scheme");
    if !scheme.is_empty() {
        out.push_str(&scheme);
        out.push_str("://");
    }
    let userinfo = get("userinfo");
    if !userinfo.is_empty() {
        out.push_str(&userinfo);
        out.push('@');
    }
    out.push_str(&get("host"));
    out.push_str(&get("path"));
    let query = get("query");
    if !query.is_empty() {
        out.push('?');
        out.push_str(&query);
    }
    let fragment = get("fragment");
    if !fragment.is_empty() {
        out.push('#');
        out.push_str(&fragment);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(name: &str, args: &[Value]) -> Value {
        let state = State::new_shared();
        let mut funcs = FuncMap::new();
        install(&mut funcs, &state);
        let f = funcs.get(name).unwrap_or_else(|| panic!("{name} installed"));
        f(args).unwrap_or_else(|e| panic!("{name} failed: {e}"))
    }

    #[test]
    fn string_functions_follow_sprig() {
        let table: Vec<(&str, Vec<Value>, Value)> = vec![
            ("trunc", vec![Value::Int(3), s("abcdef")], s("abc")),
            ("trunc", vec![Value::Int(-2), s("abcdef")], s("ef")),
            ("indent", vec![Value::Int(2), s("a\nb")], s("  a\n  b")),
            ("nindent", vec![Value::Int(2), s("a")], s("\n  a")),
            (
                "quote",
                vec![s("a\"b"), Value::Nil, Value::Float(1e6)],
                s("\"a\\\"b\" \"1e+06\""),
            ),
            ("squote", vec![s("x")], s("'x'")),
            ("title", vec![s("hello world")], s("Hello World")),
            ("snakecase", vec![s("FirstName")], s("first_name")),
            ("camelcase", vec![s("http_server")], s("HttpServer")),
            ("kebabcase", vec![s("FirstName")], s("first-name")),
            ("substr", vec![Value::Int(1), Value::Int(3), s("abcd")], s("bc")),
            ("replace", vec![s("-"), s("_"), s("a-b-c")], s("a_b_c")),
            ("trimSuffix", vec![s("-"), s("a-")], s("a")),
            ("b64enc", vec![s("hello")], s("aGVsbG8=")),
            ("b32enc", vec![s("hello")], s("NBSWY3DP")),
            (
                "sha256sum",
                vec![s("abc")],
                s("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"),
            ),
            ("adler32sum", vec![s("Wikipedia")], s("300286872")),
            ("toString", vec![Value::Float(1e6)], s("1e+06")),
            ("default", vec![s("d"), s("")], s("d")),
            ("default", vec![s("d"), Value::Bool(false)], s("d")),
            ("default", vec![s("d"), s("v")], s("v")),
            ("ternary", vec![s("a"), s("b"), Value::Bool(false)], s("b")),
            ("typeOf", vec![Value::Float(1.0)], s("float64")),
            ("kindIs", vec![s("map"), map(GoMap::new())], Value::Bool(true)),
            ("int", vec![s("42")], Value::Int(42)),
            ("int", vec![Value::Float(3.9)], Value::Int(3)),
            ("add", vec![Value::Float(1.0), Value::Int(2)], Value::Int(3)),
            ("seq", vec![Value::Int(3)], s("1 2 3")),
            (
                "regexReplaceAll",
                vec![s("a(x*)b"), s("-ab-axxb-"), s("${1}W")],
                s("-W-xxW-"),
            ),
            (
                "printf",
                vec![s("%v-%s-%d"), Value::Float(1e6), s("x"), Value::Int(3)],
                s("1e+06-x-3"),
            ),
            (
                "semverCompare",
                vec![s(">=1.19-0"), s("v1.35.0")],
                Value::Bool(true),
            ),
            (
                "semverCompare",
                vec![s("<1.19-0"), s("1.18.3-gke.1")],
                Value::Bool(true),
            ),
        ];
        for (name, args, want) in table {
            assert_eq!(call(name, &args), want, "{name}({args:?})");
        }
    }

    #[test]
    fn set_is_visible_through_aliases_and_merge_fills_missing_keys() {
        let state = State::new_shared();
        let mut funcs = FuncMap::new();
        install(&mut funcs, &state);
        let dict = map(GoMap::new());
        let set = funcs.get("set").expect("set");
        set(&[dict.clone(), s("a"), Value::Int(1)]).expect("set works");
        assert_eq!(state.current(&dict).field("a"), Some(&Value::Int(1)));

        let merge = funcs.get("merge").expect("merge");
        let src = json::from_serde(&serde_json::json!({"a": 2, "b": {"c": 3}}));
        merge(&[dict.clone(), src]).expect("merge works");
        let now = state.deep_current(&dict);
        assert_eq!(now.field("a"), Some(&Value::Int(1)), "merge keeps existing keys");
        assert_eq!(
            now.field("b").and_then(|b| b.field("c")),
            Some(&Value::Float(3.0))
        );
    }

    #[test]
    fn durations_and_dates_follow_go() {
        assert_eq!(go_duration(95 * 1_000_000_000), "1m35s");
        assert_eq!(go_duration(3_700 * 1_000_000_000), "1h1m40s");
        assert_eq!(go_duration(1_500_000_000), "1.5s");
        assert_eq!(go_duration(500_000_000), "500ms");
        assert_eq!(parse_go_duration("1.5h"), Some(5_400_000_000_000));
        assert_eq!(duration_round(parse_go_duration("2h10m5s").unwrap_or(0)), "2h");
        assert_eq!(call("duration", &[s("95")]), s("1m35s"));
        assert_eq!(call("hello", &[]), s("Hello!"));
        let secret = call("encryptAES", &[s("pw"), s("plain text")]);
        assert_eq!(call("decryptAES", &[s("pw"), secret]), s("plain text"));
    }

    #[test]
    fn derive_password_checks_its_counter() {
        let state = State::new_shared();
        let mut funcs = FuncMap::new();
        install(&mut funcs, &state);
        let f = funcs.get("derivePassword").expect("registered");
        let args = |counter: Value| vec![counter, s("pin"), s("pw"), s("user"), s("site")];
        let e = f(&args(Value::Int(-1)))
            .expect_err("negative counter")
            .to_string();
        assert!(e.contains("derivePassword"), "{e}");
        assert!(f(&args(Value::Float(1.0))).is_err());
        let unknown = vec![Value::Int(1), s("nope"), s("pw"), s("user"), s("site")];
        assert_eq!(
            f(&unknown).map(|v| strval(&v)).unwrap_or_default(),
            "cannot find password template nope"
        );
    }
}
