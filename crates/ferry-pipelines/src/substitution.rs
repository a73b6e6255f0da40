//! `$(...)` variable substitution, as Tekton does it: an explicit map of known keys replaced
//! in a single pass; anything not in the map is left verbatim (so `$(date)` in a script
//! reaches the shell as command substitution). No escaping: values are injected raw.

use std::collections::{BTreeMap, HashMap};

use ferry_types::tekton::ParamValue;

/// The variables of one substitution pass.
#[derive(Clone, Debug, Default)]
pub struct Replacements {
    strings: HashMap<String, String>,
    arrays: HashMap<String, Vec<String>>,
    objects: HashMap<String, BTreeMap<String, String>>,
}

/// The spellings of `<prefix>.<name>` Tekton accepts: dot, `["name"]` and `['name']`.
fn spellings(prefix: &str, name: &str) -> [String; 3] {
    [
        format!("{prefix}.{name}"),
        format!("{prefix}[\"{name}\"]"),
        format!("{prefix}['{name}']"),
    ]
}

impl Replacements {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a string variable `key` (written `$(key)`).
    pub fn insert(&mut self, key: impl Into<String>, value: impl Into<String>) {
        self.strings.insert(key.into(), value.into());
    }

    /// The string variables, for copying into another pass.
    pub fn strings_iter(&self) -> impl Iterator<Item = (&String, &String)> {
        self.strings.iter()
    }

    pub fn is_empty(&self) -> bool {
        self.strings.is_empty() && self.arrays.is_empty() && self.objects.is_empty()
    }

    /// Whether `$(key)` names a known variable of any type.
    pub fn contains(&self, key: &str) -> bool {
        self.strings.contains_key(key) || self.arrays.contains_key(key) || self.objects.contains_key(key)
    }

    /// Adds a named value under `prefix` (`params`, `tasks.t.results`) with every key
    /// Tekton generates for its type: the string itself; for arrays the whole array
    /// (`name`, `name[*]`) and each element (`name[i]`); for objects each key
    /// (`name.key`) and the whole object (`name[*]`).
    pub fn add_value(&mut self, prefix: &str, name: &str, value: &ParamValue) {
        match value {
            ParamValue::String(s) => {
                for key in spellings(prefix, name) {
                    self.strings.insert(key, s.clone());
                }
            }
            ParamValue::Array(items) => {
                for key in spellings(prefix, name) {
                    for (i, item) in items.iter().enumerate() {
                        self.strings.insert(format!("{key}[{i}]"), item.clone());
                    }
                    self.arrays.insert(format!("{key}[*]"), items.clone());
                    self.arrays.insert(key, items.clone());
                }
            }
            ParamValue::Object(map) => {
                for (k, v) in map {
                    self.strings.insert(format!("{prefix}.{name}.{k}"), v.clone());
                    self.strings
                        .insert(format!("{prefix}[\"{name}\"][\"{k}\"]"), v.clone());
                    self.strings
                        .insert(format!("{prefix}['{name}']['{k}']"), v.clone());
                }
                for key in spellings(prefix, name) {
                    self.objects.insert(format!("{key}[*]"), map.clone());
                    self.objects.insert(key, map.clone());
                }
            }
        }
    }

    /// Replaces every known `$(key)` string variable in `text`, in one pass.
    pub fn apply(&self, text: &str) -> String {
        if self.strings.is_empty() || !text.contains("$(") {
            return text.to_string();
        }
        let mut out = String::with_capacity(text.len());
        let mut rest = text;
        while let Some(start) = rest.find("$(") {
            out.push_str(&rest[..start]);
            let after = &rest[start + 2..];
            match after.find(')') {
                Some(end) => match self.strings.get(&after[..end]) {
                    Some(value) => {
                        out.push_str(value);
                        rest = &after[end + 1..];
                    }
                    None => {
                        out.push_str("$(");
                        rest = after;
                    }
                },
                None => {
                    out.push_str("$(");
                    rest = after;
                }
            }
        }
        out.push_str(rest);
        out
    }

    /// The variable name if `text` is exactly one reference `$(key)`.
    fn whole_reference(text: &str) -> Option<&str> {
        let inner = text.trim().strip_prefix("$(")?.strip_suffix(')')?;
        (!inner.contains("$(") && !inner.contains(')')).then_some(inner)
    }

    /// The array `text` names when it is exactly one array reference.
    pub fn whole_array(&self, text: &str) -> Option<&Vec<String>> {
        Self::whole_reference(text).and_then(|key| self.arrays.get(key))
    }

    /// The object `text` names when it is exactly one object reference.
    pub fn whole_object(&self, text: &str) -> Option<&BTreeMap<String, String>> {
        Self::whole_reference(text).and_then(|key| self.objects.get(key))
    }

    /// Substitutes a `command`/`args` list: an element that is exactly an array reference
    /// splices the array's elements; others get string substitution.
    pub fn apply_list(&self, items: &[String]) -> Vec<String> {
        let mut out = Vec::with_capacity(items.len());
        for item in items {
            match self.whole_array(item) {
                Some(array) => out.extend(array.iter().cloned()),
                None => out.push(self.apply(item)),
            }
        }
        out
    }

    /// Substitutes a param value: a string that is exactly an array or object reference
    /// becomes that array or object; arrays splice array references element-wise.
    pub fn apply_value(&self, value: &ParamValue) -> ParamValue {
        match value {
            ParamValue::String(s) => {
                if let Some(array) = self.whole_array(s) {
                    ParamValue::Array(array.clone())
                } else if let Some(object) = self.whole_object(s) {
                    ParamValue::Object(object.clone())
                } else {
                    ParamValue::String(self.apply(s))
                }
            }
            ParamValue::Array(items) => ParamValue::Array(self.apply_list(items)),
            ParamValue::Object(map) => {
                ParamValue::Object(map.iter().map(|(k, v)| (k.clone(), self.apply(v))).collect())
            }
        }
    }
}

/// Every `$(...)` reference in `text`, without the `$(` `)`.
pub fn references(text: &str) -> Vec<&str> {
    let mut found = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("$(") {
        let after = &rest[start + 2..];
        match after.find(')') {
            Some(end) => {
                let inner = &after[..end];
                // `$($(params.x))`: the innermost reference is the real one.
                match inner.rfind("$(") {
                    Some(nested) => {
                        rest = &after[nested..];
                        continue;
                    }
                    None => found.push(inner),
                }
                rest = &after[end + 1..];
            }
            None => break,
        }
    }
    found
}

/// A parsed `params` reference: the param name and what follows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParamReference<'a> {
    pub name: &'a str,
    /// `[*]`, `[i]`, or `.key` suffix, if any.
    pub index: Option<ParamIndex<'a>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParamIndex<'a> {
    Star,
    Element(usize),
    Key(&'a str),
}

/// Parses `params.x`, `params["x"]`, `params['x']`, `params.x[*]`, `params.x[2]`,
/// `params.o.key` (the part after `$(`). None if not a params reference.
pub fn parse_param_reference(reference: &str) -> Option<ParamReference<'_>> {
    let rest = reference.strip_prefix("params")?;
    let (name, tail) = if let Some(dotted) = rest.strip_prefix('.') {
        let end = dotted.find(['.', '[']).unwrap_or(dotted.len());
        (&dotted[..end], &dotted[end..])
    } else if let Some(quoted) = rest.strip_prefix("[\"").or_else(|| rest.strip_prefix("['")) {
        let end = quoted.find(['"', '\''])?;
        (&quoted[..end], quoted.get(end + 2..)?)
    } else {
        return None;
    };
    if name.is_empty() {
        return None;
    }
    let index = if tail.is_empty() {
        None
    } else if tail == "[*]" {
        Some(ParamIndex::Star)
    } else if let Some(key) = tail.strip_prefix('.') {
        Some(ParamIndex::Key(key))
    } else if let Some(key) = tail.strip_prefix("[\"").and_then(|k| k.strip_suffix("\"]")) {
        Some(ParamIndex::Key(key))
    } else if let Some(number) = tail.strip_prefix('[').and_then(|k| k.strip_suffix(']')) {
        Some(ParamIndex::Element(number.parse().ok()?))
    } else {
        return None;
    };
    Some(ParamReference { name, index })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Replacements {
        let mut r = Replacements::new();
        r.add_value("params", "name", &ParamValue::String("world".into()));
        r.add_value(
            "params",
            "arr",
            &ParamValue::Array(vec!["a".into(), "b c".into()]),
        );
        r.add_value(
            "params",
            "obj",
            &ParamValue::Object(
                [("url".to_string(), "https://x".to_string())]
                    .into_iter()
                    .collect(),
            ),
        );
        r.insert("context.taskRun.name", "tr-1");
        r
    }

    #[test]
    fn replaces_known_keys_and_leaves_unknown_ones() {
        let r = sample();
        let cases = [
            ("hello $(params.name)", "hello world"),
            ("$(params[\"name\"]) and $(params['name'])", "world and world"),
            ("$(params.arr[1])", "b c"),
            ("$(params.obj.url)", "https://x"),
            ("$(context.taskRun.name)", "tr-1"),
            (
                "$(params.missing) $(date) ${HOME}",
                "$(params.missing) $(date) ${HOME}",
            ),
            ("$(params.arr)", "$(params.arr)"),
            ("unterminated $(params.name", "unterminated $(params.name"),
            ("$($(params.name))", "$(world)"),
            ("", ""),
        ];
        for (input, expected) in cases {
            assert_eq!(r.apply(input), expected, "{input}");
        }
    }

    #[test]
    fn substitution_is_single_pass() {
        let mut r = Replacements::new();
        r.insert("params.a", "$(params.b)");
        r.insert("params.b", "x");
        assert_eq!(r.apply("$(params.a)"), "$(params.b)");
    }

    #[test]
    fn arrays_splice_only_when_isolated() {
        let r = sample();
        let args = vec![
            "echo".to_string(),
            "$(params.arr[*])".to_string(),
            "x $(params.arr[*])".to_string(),
        ];
        assert_eq!(r.apply_list(&args), ["echo", "a", "b c", "x $(params.arr[*])"]);
        assert_eq!(
            r.apply_value(&ParamValue::String("$(params.arr)".into())),
            ParamValue::Array(vec!["a".into(), "b c".into()])
        );
        assert_eq!(
            r.apply_value(&ParamValue::String("$(params.obj[*])".into()))
                .strings(),
            ["https://x"]
        );
    }

    #[test]
    fn finds_and_parses_references() {
        assert_eq!(
            references("a $(params.x) $(tasks.t.results.r) $("),
            ["params.x", "tasks.t.results.r"]
        );
        let cases = [
            ("params.x", Some(("x", None))),
            ("params[\"x.y\"]", Some(("x.y", None))),
            ("params.a[*]", Some(("a", Some(ParamIndex::Star)))),
            ("params.a[3]", Some(("a", Some(ParamIndex::Element(3))))),
            ("params.o.key", Some(("o", Some(ParamIndex::Key("key"))))),
            ("tasks.x", None),
            ("params.", None),
        ];
        for (text, expected) in cases {
            let parsed = parse_param_reference(text).map(|r| (r.name, r.index));
            assert_eq!(parsed, expected, "{text}");
        }
    }
}
