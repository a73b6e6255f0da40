//! Label selectors (equality- and set-based) and field selectors, as `k8s.io/apimachinery/pkg/labels`
//! and `pkg/fields` parse, print and match them.
//!
//! * [`LabelSelector::parse`] reads the `labelSelector` query parameter (`app=web,tier in (a,b),!legacy`).
//! * [`LabelSelector::from_label_selector`] converts a `metav1.LabelSelector` object
//!   (`{"matchLabels":…,"matchExpressions":[…]}`), e.g. a Deployment's `spec.selector`.
//! * `to_string()` prints like Go's `selector.String()` (requirements sorted by key, values sorted).
//! * [`FieldSelector::parse`] reads `fieldSelector`; [`FieldSelector::check_supported`] rejects fields the
//!   resource does not index; [`FieldSelector::matches_object`] evaluates it on an object.

use crate::names::{validate_label_value, validate_qualified_name};
use serde_json::{Map, Value};
use std::fmt;

/// A selector that could not be parsed or used; the message is what the API server returns (400).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SelectorError {
    /// Syntax error in a label selector string.
    #[error("unable to parse requirement: {0}")]
    Parse(String),
    /// A key or value that is not a valid label key/value.
    #[error("unable to parse requirement: {field}: Invalid value: {value:?}: {detail}")]
    InvalidLabel {
        /// `key` or `values[i]`.
        field: String,
        /// The bad text.
        value: String,
        /// Why.
        detail: String,
    },
    /// A malformed `metav1.LabelSelector` object.
    #[error("invalid label selector object: {0}")]
    BadObject(String),
    /// Syntax error in a field selector string.
    #[error("invalid field selector: {0}")]
    FieldParse(String),
    /// A field selector on a field the resource does not support.
    #[error("field label not supported: {0}")]
    UnsupportedField(String),
}

/// A label requirement operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Operator {
    /// `key=value`
    Equals,
    /// `key==value`
    DoubleEquals,
    /// `key!=value`
    NotEquals,
    /// `key in (a,b)`
    In,
    /// `key notin (a,b)`
    NotIn,
    /// `key`
    Exists,
    /// `!key`
    DoesNotExist,
    /// `key>3` (integer comparison)
    GreaterThan,
    /// `key<3` (integer comparison)
    LessThan,
}

/// One requirement, e.g. `tier in (a,b)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Requirement {
    /// The label key.
    pub key: String,
    /// The operator.
    pub operator: Operator,
    /// Values, sorted and de-duplicated for set operators.
    pub values: Vec<String>,
}

impl Requirement {
    /// Builds a validated requirement (Kubernetes' `labels.NewRequirement`).
    pub fn new(key: &str, operator: Operator, values: Vec<String>) -> Result<Self, SelectorError> {
        if let Some(detail) = validate_qualified_name(key).into_iter().next() {
            return Err(SelectorError::InvalidLabel {
                field: "key".into(),
                value: key.into(),
                detail,
            });
        }
        match operator {
            Operator::In | Operator::NotIn if values.is_empty() => {
                return Err(SelectorError::Parse(
                    "for 'in', 'notin' operators, values set can't be empty".into(),
                ));
            }
            Operator::Equals | Operator::DoubleEquals | Operator::NotEquals if values.len() != 1 => {
                return Err(SelectorError::Parse(
                    "exact-match compatibility requires one single value".into(),
                ));
            }
            Operator::Exists | Operator::DoesNotExist if !values.is_empty() => {
                return Err(SelectorError::Parse(
                    "values set must be empty for exists and does not exist".into(),
                ));
            }
            Operator::GreaterThan | Operator::LessThan => {
                let [v] = values.as_slice() else {
                    return Err(SelectorError::Parse(
                        "for 'Gt', 'Lt' operators, exactly one value is required".into(),
                    ));
                };
                if v.parse::<i64>().is_err() {
                    return Err(SelectorError::Parse(format!(
                        "for 'Gt', 'Lt' operators, the value must be an integer: {v:?}"
                    )));
                }
            }
            _ => {}
        }
        let mut values = values;
        if !matches!(operator, Operator::GreaterThan | Operator::LessThan) {
            for (i, v) in values.iter().enumerate() {
                if let Some(detail) = validate_label_value(v).into_iter().next() {
                    return Err(SelectorError::InvalidLabel {
                        field: format!("values[{i}]"),
                        value: v.clone(),
                        detail,
                    });
                }
            }
        }
        values.sort();
        values.dedup();
        Ok(Self {
            key: key.to_string(),
            operator,
            values,
        })
    }

    /// Whether a label set satisfies this requirement.
    pub fn matches(&self, labels: &Map<String, Value>) -> bool {
        let got = labels.get(&self.key).and_then(Value::as_str);
        let has = |v: &str| self.values.iter().any(|x| x == v);
        match self.operator {
            Operator::Equals | Operator::DoubleEquals | Operator::In => got.is_some_and(has),
            Operator::NotEquals | Operator::NotIn => !got.is_some_and(has),
            Operator::Exists => got.is_some(),
            Operator::DoesNotExist => got.is_none(),
            Operator::GreaterThan | Operator::LessThan => {
                let (Some(g), Some(limit)) = (
                    got.and_then(|g| g.parse::<i64>().ok()),
                    self.values.first().and_then(|v| v.parse::<i64>().ok()),
                ) else {
                    return false;
                };
                if self.operator == Operator::GreaterThan {
                    g > limit
                } else {
                    g < limit
                }
            }
        }
    }
}

impl fmt::Display for Requirement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let first = self.values.first().map(String::as_str).unwrap_or("");
        match self.operator {
            Operator::Equals => write!(f, "{}={}", self.key, first),
            Operator::DoubleEquals => write!(f, "{}=={}", self.key, first),
            Operator::NotEquals => write!(f, "{}!={}", self.key, first),
            Operator::In => write!(f, "{} in ({})", self.key, self.values.join(",")),
            Operator::NotIn => write!(f, "{} notin ({})", self.key, self.values.join(",")),
            Operator::Exists => write!(f, "{}", self.key),
            Operator::DoesNotExist => write!(f, "!{}", self.key),
            Operator::GreaterThan => write!(f, "{}>{}", self.key, first),
            Operator::LessThan => write!(f, "{}<{}", self.key, first),
        }
    }
}

/// A parsed label selector: all requirements must match. Empty = matches everything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LabelSelector {
    /// Requirements sorted by key (stable for equal keys), like Kubernetes.
    pub requirements: Vec<Requirement>,
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Ident(String),
    Not,
    Eq,
    DoubleEq,
    NotEq,
    Gt,
    Lt,
    Open,
    Close,
    Comma,
}

fn tokenize(input: &str) -> Result<Vec<Token>, SelectorError> {
    let mut out = Vec::new();
    let chars: Vec<char> = input.chars().collect();
    let mut i = 0;
    let special = |c: char| matches!(c, '=' | '!' | '(' | ')' | ',' | '>' | '<');
    while let Some(&c) = chars.get(i) {
        if c.is_whitespace() {
            i += 1;
            continue;
        }
        let next = chars.get(i + 1).copied();
        let (tok, len) = match (c, next) {
            ('=', Some('=')) => (Token::DoubleEq, 2),
            ('!', Some('=')) => (Token::NotEq, 2),
            ('=', _) => (Token::Eq, 1),
            ('!', _) => (Token::Not, 1),
            ('>', _) => (Token::Gt, 1),
            ('<', _) => (Token::Lt, 1),
            ('(', _) => (Token::Open, 1),
            (')', _) => (Token::Close, 1),
            (',', _) => (Token::Comma, 1),
            _ => {
                let start = i;
                while chars.get(i).is_some_and(|&c| !c.is_whitespace() && !special(c)) {
                    i += 1;
                }
                out.push(Token::Ident(chars[start..i].iter().collect()));
                continue;
            }
        };
        out.push(tok);
        i += len;
    }
    Ok(out)
}

struct Parser {
    tokens: Vec<Token>,
    pos: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.pos)
    }
    fn next(&mut self) -> Option<Token> {
        let t = self.tokens.get(self.pos).cloned();
        self.pos += 1;
        t
    }

    fn requirement(&mut self) -> Result<Requirement, SelectorError> {
        let negated = if self.peek() == Some(&Token::Not) {
            self.pos += 1;
            true
        } else {
            false
        };
        let key = match self.next() {
            Some(Token::Ident(k)) => k,
            other => {
                return Err(SelectorError::Parse(format!(
                    "found '{}', expected: identifier",
                    describe(other.as_ref())
                )));
            }
        };
        if negated {
            return match self.peek() {
                None | Some(Token::Comma) => Requirement::new(&key, Operator::DoesNotExist, vec![]),
                Some(t) => Err(SelectorError::Parse(format!(
                    "found '{}', expected: ',' or 'end of string'",
                    describe(Some(t))
                ))),
            };
        }
        let op = match self.peek() {
            None | Some(Token::Comma) => return Requirement::new(&key, Operator::Exists, vec![]),
            Some(Token::Eq) => Operator::Equals,
            Some(Token::DoubleEq) => Operator::DoubleEquals,
            Some(Token::NotEq) => Operator::NotEquals,
            Some(Token::Gt) => Operator::GreaterThan,
            Some(Token::Lt) => Operator::LessThan,
            Some(Token::Ident(w)) if w == "in" => Operator::In,
            Some(Token::Ident(w)) if w == "notin" => Operator::NotIn,
            Some(t) => {
                return Err(SelectorError::Parse(format!(
                    "found '{}', expected: in, notin, =, ==, !=, gt, lt",
                    describe(Some(t))
                )));
            }
        };
        self.pos += 1;
        let values = if matches!(op, Operator::In | Operator::NotIn) {
            self.set_values()?
        } else {
            // `key=` selects the empty value.
            match self.peek() {
                Some(Token::Ident(v)) => {
                    let v = v.clone();
                    self.pos += 1;
                    vec![v]
                }
                None | Some(Token::Comma) => vec![String::new()],
                Some(t) => {
                    return Err(SelectorError::Parse(format!(
                        "found '{}', expected: identifier",
                        describe(Some(t))
                    )));
                }
            }
        };
        Requirement::new(&key, op, values)
    }

    fn set_values(&mut self) -> Result<Vec<String>, SelectorError> {
        if self.next() != Some(Token::Open) {
            return Err(SelectorError::Parse("expected: '(' after set operator".into()));
        }
        let mut values = Vec::new();
        let mut expect_value = true;
        loop {
            match self.next() {
                Some(Token::Ident(v)) if expect_value => {
                    values.push(v);
                    expect_value = false;
                }
                Some(Token::Comma) if !expect_value => expect_value = true,
                Some(Token::Comma) => {
                    values.push(String::new());
                }
                Some(Token::Close) => {
                    if expect_value {
                        values.push(String::new());
                    }
                    return Ok(values);
                }
                other => {
                    return Err(SelectorError::Parse(format!(
                        "found '{}', expected: ',', ')' or identifier",
                        describe(other.as_ref())
                    )));
                }
            }
        }
    }
}

fn describe(t: Option<&Token>) -> String {
    match t {
        None => "end of string".into(),
        Some(Token::Ident(s)) => s.clone(),
        Some(Token::Not) => "!".into(),
        Some(Token::Eq) => "=".into(),
        Some(Token::DoubleEq) => "==".into(),
        Some(Token::NotEq) => "!=".into(),
        Some(Token::Gt) => ">".into(),
        Some(Token::Lt) => "<".into(),
        Some(Token::Open) => "(".into(),
        Some(Token::Close) => ")".into(),
        Some(Token::Comma) => ",".into(),
    }
}

impl LabelSelector {
    /// The selector that matches everything.
    pub fn everything() -> Self {
        Self::default()
    }

    /// Parses the `labelSelector` query-parameter syntax. Empty/blank input = everything.
    pub fn parse(input: &str) -> Result<Self, SelectorError> {
        let tokens = tokenize(input)?;
        if tokens.is_empty() {
            return Ok(Self::default());
        }
        let mut p = Parser { tokens, pos: 0 };
        let mut reqs = Vec::new();
        loop {
            reqs.push(p.requirement()?);
            match p.next() {
                None => break,
                Some(Token::Comma) => {
                    if p.peek().is_none() {
                        return Err(SelectorError::Parse(
                            "found 'end of string', expected: identifier after ','".into(),
                        ));
                    }
                }
                Some(t) => {
                    return Err(SelectorError::Parse(format!(
                        "found '{}', expected: ',' or 'end of string'",
                        describe(Some(&t))
                    )));
                }
            }
        }
        reqs.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(Self { requirements: reqs })
    }

    /// Converts a `metav1.LabelSelector` object (`matchLabels` + `matchExpressions`).
    /// An empty object matches everything; the caller decides what an absent selector means.
    pub fn from_label_selector(obj: &Value) -> Result<Self, SelectorError> {
        let Some(map) = obj.as_object() else {
            return Err(SelectorError::BadObject("must be an object".into()));
        };
        let mut reqs = Vec::new();
        match map.get("matchLabels") {
            None | Some(Value::Null) => {}
            Some(Value::Object(ml)) => {
                for (k, v) in ml {
                    let Some(v) = v.as_str() else {
                        return Err(SelectorError::BadObject(format!(
                            "matchLabels[{k}] must be a string"
                        )));
                    };
                    reqs.push(Requirement::new(k, Operator::Equals, vec![v.to_string()])?);
                }
            }
            Some(_) => return Err(SelectorError::BadObject("matchLabels must be an object".into())),
        }
        match map.get("matchExpressions") {
            None | Some(Value::Null) => {}
            Some(Value::Array(exprs)) => {
                for (i, e) in exprs.iter().enumerate() {
                    let key = e.get("key").and_then(Value::as_str).ok_or_else(|| {
                        SelectorError::BadObject(format!("matchExpressions[{i}].key is required"))
                    })?;
                    let op = match e.get("operator").and_then(Value::as_str) {
                        Some("In") => Operator::In,
                        Some("NotIn") => Operator::NotIn,
                        Some("Exists") => Operator::Exists,
                        Some("DoesNotExist") => Operator::DoesNotExist,
                        other => {
                            return Err(SelectorError::BadObject(format!(
                                "matchExpressions[{i}].operator: {other:?} is not a valid label selector operator"
                            )));
                        }
                    };
                    let values = match e.get("values") {
                        None | Some(Value::Null) => vec![],
                        Some(Value::Array(vs)) => vs
                            .iter()
                            .map(|v| v.as_str().map(str::to_string))
                            .collect::<Option<Vec<_>>>()
                            .ok_or_else(|| {
                                SelectorError::BadObject(format!(
                                    "matchExpressions[{i}].values must be strings"
                                ))
                            })?,
                        Some(_) => {
                            return Err(SelectorError::BadObject(format!(
                                "matchExpressions[{i}].values must be a list"
                            )));
                        }
                    };
                    reqs.push(Requirement::new(key, op, values)?);
                }
            }
            Some(_) => return Err(SelectorError::BadObject("matchExpressions must be a list".into())),
        }
        reqs.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(Self { requirements: reqs })
    }

    /// True when the selector has no requirements (matches everything).
    pub fn is_empty(&self) -> bool {
        self.requirements.is_empty()
    }

    /// Whether a label map satisfies every requirement.
    pub fn matches(&self, labels: &Map<String, Value>) -> bool {
        self.requirements.iter().all(|r| r.matches(labels))
    }

    /// Whether an object's `metadata.labels` satisfies the selector.
    pub fn matches_object(&self, obj: &Value) -> bool {
        static EMPTY: std::sync::OnceLock<Map<String, Value>> = std::sync::OnceLock::new();
        let labels = obj
            .get("metadata")
            .and_then(|m| m.get("labels"))
            .and_then(Value::as_object)
            .unwrap_or_else(|| EMPTY.get_or_init(Map::new));
        self.matches(labels)
    }
}

impl fmt::Display for LabelSelector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = self.requirements.iter().map(|r| r.to_string()).collect();
        f.write_str(&parts.join(","))
    }
}

/// One `field=value` / `field!=value` term of a field selector.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldRequirement {
    /// Field path, e.g. `metadata.name`, `involvedObject.uid`.
    pub field: String,
    /// True for `!=`.
    pub negated: bool,
    /// Value (unescaped).
    pub value: String,
}

/// A parsed field selector: all terms must hold. Empty = everything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FieldSelector {
    /// The terms, in input order.
    pub requirements: Vec<FieldRequirement>,
}

/// Fields every resource supports in a field selector.
pub const ALWAYS_SELECTABLE_FIELDS: &[&str] = &["metadata.name", "metadata.namespace"];

/// The extra selectable fields kube-apiserver indexes for built-in `group`/`kind` (besides
/// `metadata.name` and `metadata.namespace`). Custom resources have none unless their CRD
/// declares `selectableFields`; pass those to [`FieldSelector::check_supported`] yourself.
pub fn builtin_selectable_fields(group: &str, kind: &str) -> &'static [&'static str] {
    match (group, kind) {
        ("", "Pod") => &[
            "spec.nodeName",
            "spec.restartPolicy",
            "spec.schedulerName",
            "spec.serviceAccountName",
            "spec.hostNetwork",
            "status.phase",
            "status.podIP",
            "status.podIPs",
            "status.nominatedNodeName",
        ],
        ("", "Event") => &[
            "involvedObject.kind",
            "involvedObject.namespace",
            "involvedObject.name",
            "involvedObject.uid",
            "involvedObject.apiVersion",
            "involvedObject.resourceVersion",
            "involvedObject.fieldPath",
            "reason",
            "reportingComponent",
            "source",
            "type",
        ],
        ("events.k8s.io", "Event") => &[
            "regarding.kind",
            "regarding.namespace",
            "regarding.name",
            "regarding.uid",
            "reason",
            "type",
            "reportingController",
        ],
        ("", "Secret") => &["type"],
        ("", "Namespace") => &["status.phase"],
        ("", "Node") => &["spec.unschedulable"],
        ("", "ReplicationController") | ("apps", "ReplicaSet") => &["status.replicas"],
        ("batch", "Job") => &["status.successful"],
        _ => &[],
    }
}

fn unescape_field_value(s: &str) -> Result<String, SelectorError> {
    let mut out = String::new();
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            match chars.next() {
                Some(e @ ('\\' | ',' | '=')) => out.push(e),
                Some(e) => {
                    return Err(SelectorError::FieldParse(format!(
                        "invalid escape sequence: \\{e}"
                    )));
                }
                None => {
                    return Err(SelectorError::FieldParse(
                        "invalid trailing escape sequence".into(),
                    ));
                }
            }
        } else if c == ',' || c == '=' {
            return Err(SelectorError::FieldParse(format!(
                "invalid field value with unescaped '{c}': {s}"
            )));
        } else {
            out.push(c);
        }
    }
    Ok(out)
}

/// Splits on `sep` characters that are not escaped by a backslash.
fn split_unescaped(s: &str, sep: char) -> Vec<&str> {
    let mut parts = Vec::new();
    let mut start = 0;
    let mut escaped = false;
    for (i, c) in s.char_indices() {
        if escaped {
            escaped = false;
        } else if c == '\\' {
            escaped = true;
        } else if c == sep {
            parts.push(&s[start..i]);
            start = i + c.len_utf8();
        }
    }
    parts.push(&s[start..]);
    parts
}

impl FieldSelector {
    /// Parses `a=b,c!=d` (also `==`); values may escape `\,`, `\=`, `\\`. Empty = everything.
    pub fn parse(input: &str) -> Result<Self, SelectorError> {
        let mut requirements = Vec::new();
        if input.trim().is_empty() {
            return Ok(Self::default());
        }
        for term in split_unescaped(input, ',') {
            let (field, negated, raw) = if let Some((f, v)) = term.split_once("!=") {
                (f, true, v)
            } else if let Some((f, v)) = term.split_once("==") {
                (f, false, v)
            } else if let Some((f, v)) = term.split_once('=') {
                (f, false, v)
            } else {
                return Err(SelectorError::FieldParse(format!(
                    "invalid selector: '{input}'; can't understand '{term}'"
                )));
            };
            let field = field.trim();
            if field.is_empty() {
                return Err(SelectorError::FieldParse(format!(
                    "invalid selector: '{input}'; empty field name in '{term}'"
                )));
            }
            requirements.push(FieldRequirement {
                field: field.to_string(),
                negated,
                value: unescape_field_value(raw)?,
            });
        }
        Ok(Self { requirements })
    }

    /// True when the selector has no terms.
    pub fn is_empty(&self) -> bool {
        self.requirements.is_empty()
    }

    /// Fails on the first field that is neither `metadata.name`, `metadata.namespace` nor in `extra`.
    pub fn check_supported(&self, extra: &[&str]) -> Result<(), SelectorError> {
        for r in &self.requirements {
            if !ALWAYS_SELECTABLE_FIELDS.contains(&r.field.as_str()) && !extra.contains(&r.field.as_str()) {
                return Err(SelectorError::UnsupportedField(r.field.clone()));
            }
        }
        Ok(())
    }

    /// Evaluates the selector with `lookup` giving each field's string value (absent = "").
    pub fn matches(&self, lookup: &dyn Fn(&str) -> Option<String>) -> bool {
        self.requirements.iter().all(|r| {
            let got = lookup(&r.field).unwrap_or_default();
            (got == r.value) != r.negated
        })
    }

    /// Evaluates the selector on a JSON object, reading fields by their dotted path
    /// (see [`field_value`]).
    pub fn matches_object(&self, obj: &Value) -> bool {
        self.matches(&|f| field_value(obj, f))
    }
}

impl fmt::Display for FieldSelector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = self
            .requirements
            .iter()
            .map(|r| {
                let v = r
                    .value
                    .replace('\\', "\\\\")
                    .replace(',', "\\,")
                    .replace('=', "\\=");
                format!("{}{}{}", r.field, if r.negated { "!=" } else { "=" }, v)
            })
            .collect();
        f.write_str(&parts.join(","))
    }
}

/// The string value of a selectable field of `obj`, as kube-apiserver's field-set functions
/// compute it: dotted path lookup, scalars printed (`true`, `3`), core Event's `source` is
/// `source.component`; absent fields are `None` (selectors treat that as "").
pub fn field_value(obj: &Value, field: &str) -> Option<String> {
    let path = if field == "source" && obj.get("involvedObject").is_some() {
        "source.component"
    } else {
        field
    };
    let mut cur = obj;
    for part in path.split('.') {
        cur = cur.get(part)?;
    }
    match cur {
        Value::String(s) => Some(s.clone()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Number(n) => Some(n.to_string()),
        // status.podIPs is indexed by its first entry's ip.
        Value::Array(a) => a
            .first()
            .and_then(|x| x.get("ip").or(Some(x)))
            .and_then(|x| x.as_str().map(str::to_string)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn labels(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn parse_print_roundtrip() {
        let cases = [
            ("app=sample", "app=sample"),
            ("app==sample", "app==sample"),
            ("  tier != front ", "tier!=front"),
            ("z,!legacy,app in (b, a)", "app in (a,b),!legacy,z"),
            ("env notin (prod)", "env notin (prod)"),
            ("example.com/key=v.1", "example.com/key=v.1"),
            ("app=", "app="),
            ("x>3", "x>3"),
            ("", ""),
        ];
        for (input, want) in cases {
            let sel = LabelSelector::parse(input).unwrap_or_else(|e| panic!("{input}: {e}"));
            assert_eq!(sel.to_string(), want, "{input}");
            // printing then parsing again is stable
            assert_eq!(
                LabelSelector::parse(&sel.to_string())
                    .map(|s| s.to_string())
                    .ok()
                    .as_deref(),
                Some(want)
            );
        }
    }

    #[test]
    fn parse_errors() {
        let bad = [
            "app in",
            "app in (a",
            "=x",
            "a,",
            "a b",
            "!a=b",
            "Bad Key=x",
            "app=-x",
            "x>abc",
            "a in a",
            "app=(x)",
        ];
        for input in bad {
            assert!(LabelSelector::parse(input).is_err(), "{input} should fail");
        }
        let err = LabelSelector::parse("app=-x")
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            err.starts_with("unable to parse requirement: values[0]: Invalid value: \"-x\""),
            "{err}"
        );
    }

    #[test]
    fn matching() {
        let l = labels(json!({"app": "web", "tier": "front", "n": "5"}));
        let cases = [
            ("", true),
            ("app=web", true),
            ("app=db", false),
            ("app!=db", true),
            ("missing!=x", true),
            ("tier in (front,back)", true),
            ("tier notin (front)", false),
            ("missing notin (x)", true),
            ("app", true),
            ("!app", false),
            ("!missing", true),
            ("app=web,tier=back", false),
            ("n>4", true),
            ("n<5", false),
            ("app>1", false),
        ];
        for (sel, want) in cases {
            let s = LabelSelector::parse(sel).unwrap_or_else(|e| panic!("{sel}: {e}"));
            assert_eq!(s.matches(&l), want, "{sel}");
        }
        let obj = json!({"metadata": {"labels": {"app": "web"}}});
        assert!(LabelSelector::parse("app=web").is_ok_and(|s| s.matches_object(&obj)));
        assert!(LabelSelector::parse("!app").is_ok_and(|s| s.matches_object(&json!({}))));
    }

    #[test]
    fn from_object() {
        let sel = LabelSelector::from_label_selector(&json!({
            "matchLabels": {"app": "sample"},
            "matchExpressions": [{"key": "tier", "operator": "In", "values": ["b", "a"]}, {"key": "old", "operator": "DoesNotExist"}]
        }));
        assert_eq!(
            sel.map(|s| s.to_string()).ok().as_deref(),
            Some("app=sample,!old,tier in (a,b)")
        );
        let bad = [
            json!("x"),
            json!({"matchLabels": {"a": 1}}),
            json!({"matchExpressions": [{"key": "a", "operator": "Like"}]}),
            json!({"matchExpressions": [{"key": "a", "operator": "In", "values": []}]}),
            json!({"matchExpressions": [{"operator": "Exists"}]}),
            json!({"matchExpressions": [{"key": "a", "operator": "Exists", "values": ["x"]}]}),
        ];
        for b in bad {
            assert!(LabelSelector::from_label_selector(&b).is_err(), "{b}");
        }
        assert!(LabelSelector::from_label_selector(&json!({})).is_ok_and(|s| s.is_empty()));
    }

    #[test]
    fn field_selectors() {
        let event = json!({
            "metadata": {"name": "e1", "namespace": "default"},
            "involvedObject": {"kind": "ConfigMap", "name": "demo", "uid": "u-1"},
            "source": {"component": "kubelet"},
        });
        let cases = [
            ("", true),
            ("metadata.name=e1", true),
            ("metadata.name==e1", true),
            ("metadata.name!=e1", false),
            (
                "involvedObject.kind=ConfigMap,involvedObject.name=demo,involvedObject.uid=u-1",
                true,
            ),
            ("involvedObject.name=other", false),
            ("involvedObject.fieldPath=", true),
            ("source=kubelet", true),
        ];
        for (sel, want) in cases {
            let s = FieldSelector::parse(sel).unwrap_or_else(|e| panic!("{sel}: {e}"));
            assert!(
                s.check_supported(builtin_selectable_fields("", "Event")).is_ok(),
                "{sel}"
            );
            assert_eq!(s.matches_object(&event), want, "{sel}");
        }
        let pod = json!({"metadata": {"name": "p"}, "spec": {"nodeName": "n1", "hostNetwork": false}, "status": {"phase": "Running"}});
        let s = FieldSelector::parse("spec.nodeName=n1,status.phase!=Failed,spec.hostNetwork=false");
        assert!(s.is_ok_and(|s| s.matches_object(&pod)));
        // unscheduled pods: spec.nodeName= matches an absent field
        assert!(FieldSelector::parse("spec.nodeName=").is_ok_and(|s| s.matches_object(&json!({"spec": {}}))));
    }

    #[test]
    fn field_selector_errors_and_escapes() {
        for bad in ["metadata.name", "=x", "a=b\\", "a=b\\q", "a=b=c"] {
            assert!(FieldSelector::parse(bad).is_err(), "{bad}");
        }
        let s = FieldSelector::parse("metadata.name=a\\,b");
        assert_eq!(
            s.as_ref().map(|s| s.requirements[0].value.as_str()).ok(),
            Some("a,b")
        );
        assert_eq!(
            s.map(|s| s.to_string()).ok().as_deref(),
            Some("metadata.name=a\\,b")
        );
        let s = FieldSelector::parse("spec.foo=x").unwrap_or_default();
        assert_eq!(
            s.check_supported(builtin_selectable_fields("", "ConfigMap"))
                .err()
                .map(|e| e.to_string())
                .as_deref(),
            Some("field label not supported: spec.foo")
        );
    }
}
