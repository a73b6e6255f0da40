//! `.Files`: the chart's non-template files and their methods.

use base64::Engine as _;
use gotmpl::Value;
use std::collections::BTreeMap;
use std::sync::Arc;

use crate::funcs::{s, strval};
use crate::state::{GoMap, Special, State};

pub type FileMap = BTreeMap<String, Vec<u8>>;

/// The template value of a file set: path → content, tagged as `Files`.
pub fn files_value(state: &State, files: Arc<FileMap>) -> Value {
    let entries: GoMap = files
        .iter()
        .map(|(k, v)| (Arc::from(k.as_str()), s(String::from_utf8_lossy(v))))
        .collect();
    let value = Value::Map(Arc::new(entries));
    state.tag(&value, Special::Files(files));
    value
}

/// A method of a `Files` object, bound to it.
pub fn method(state: &State, files: &Arc<FileMap>, name: &str) -> Option<Value> {
    let files = Arc::clone(files);
    let f: gotmpl::ValueFunc = match name {
        "Get" => Arc::new(move |args: &[Value]| {
            let path = args.first().map(strval).unwrap_or_default();
            Ok(s(files
                .get(&path)
                .map(|b| String::from_utf8_lossy(b).into_owned())
                .unwrap_or_default()))
        }),
        "GetBytes" => Arc::new(move |args: &[Value]| {
            let path = args.first().map(strval).unwrap_or_default();
            Ok(s(files
                .get(&path)
                .map(|b| String::from_utf8_lossy(b).into_owned())
                .unwrap_or_default()))
        }),
        "Lines" => Arc::new(move |args: &[Value]| {
            let path = args.first().map(strval).unwrap_or_default();
            let text = files
                .get(&path)
                .map(|b| String::from_utf8_lossy(b).into_owned())
                .unwrap_or_default();
            if text.is_empty() {
                return Ok(Value::List(Arc::from(Vec::new())));
            }
            let body = text.strip_suffix('\n').unwrap_or(&text);
            Ok(Value::List(body.split('\n').map(s).collect()))
        }),
        "Glob" => {
            let state_files = files;
            // The result is itself a Files object; it needs the state to be
            // tagged, which the closure cannot borrow, so the tagging happens
            // through a shared handle.
            let handle = StateHandle::current(state);
            Arc::new(move |args: &[Value]| {
                let pattern = args.first().map(strval).unwrap_or_default();
                let matcher = glob_regex(&pattern)
                    .map_err(|e| crate::funcs::err(format!("error calling Glob: {e}")))?;
                let subset: FileMap = state_files
                    .iter()
                    .filter(|(k, _)| matcher.is_match(k))
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect();
                Ok(handle.files_value(Arc::new(subset)))
            })
        }
        "AsConfig" => Arc::new(move |_args: &[Value]| Ok(s(as_config(&files, false)))),
        "AsSecrets" => Arc::new(move |_args: &[Value]| Ok(s(as_config(&files, true)))),
        _ => return None,
    };
    Some(Value::Function(f))
}

/// Lets a method closure tag new values in the render's state.
struct StateHandle {
    state: std::sync::Weak<State>,
}

impl StateHandle {
    fn current(state: &State) -> StateHandle {
        StateHandle {
            state: state.self_weak(),
        }
    }

    fn files_value(&self, files: Arc<FileMap>) -> Value {
        match self.state.upgrade() {
            Some(state) => files_value(&state, files),
            None => Value::Nil,
        }
    }
}

fn as_config(files: &FileMap, base64_values: bool) -> String {
    let mut entries = GoMap::new();
    for (path, content) in files {
        let base = path.rsplit('/').next().unwrap_or(path);
        let text = if base64_values {
            base64::engine::general_purpose::STANDARD.encode(content)
        } else {
            String::from_utf8_lossy(content).into_owned()
        };
        entries.insert(Arc::from(base), s(text));
    }
    if entries.is_empty() {
        return String::new();
    }
    let text = crate::yaml::to_yaml(&Value::Map(Arc::new(entries)));
    text.strip_suffix('\n').unwrap_or(&text).to_string()
}

/// gobwas/glob with `/` as separator: `*` and `?` stay within a path
/// segment, `**` crosses segments, `[...]`/`[!...]` classes, `{a,b}`.
pub fn glob_regex(pattern: &str) -> Result<regex::Regex, String> {
    let mut re = String::from("^");
    let chars: Vec<char> = pattern.chars().collect();
    let mut i = 0;
    let mut in_alternatives = 0usize;
    while i < chars.len() {
        let c = chars[i];
        match c {
            '*' => {
                if chars.get(i + 1) == Some(&'*') {
                    re.push_str(".*");
                    i += 1;
                } else {
                    re.push_str("[^/]*");
                }
            }
            '?' => re.push_str("[^/]"),
            '[' => {
                let mut j = i + 1;
                let mut class = String::from("[");
                if chars.get(j) == Some(&'!') {
                    class.push('^');
                    j += 1;
                }
                while j < chars.len() && chars[j] != ']' {
                    if chars[j] == '\\' || chars[j] == '[' {
                        class.push('\\');
                    }
                    class.push(chars[j]);
                    j += 1;
                }
                if j >= chars.len() {
                    return Err(format!("unexpected end of input in pattern {pattern:?}"));
                }
                class.push(']');
                re.push_str(&class);
                i = j;
            }
            '{' => {
                in_alternatives += 1;
                re.push_str("(?:");
            }
            '}' if in_alternatives > 0 => {
                in_alternatives -= 1;
                re.push(')');
            }
            ',' if in_alternatives > 0 => re.push('|'),
            '\\' => {
                if let Some(next) = chars.get(i + 1) {
                    re.push_str(&regex::escape(&next.to_string()));
                    i += 1;
                }
            }
            other => re.push_str(&regex::escape(&other.to_string())),
        }
        i += 1;
    }
    if in_alternatives > 0 {
        return Err(format!("unclosed '{{' in pattern {pattern:?}"));
    }
    re.push('$');
    regex::Regex::new(&re).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glob_follows_gobwas_rules() {
        let table: &[(&str, &str, bool)] = &[
            ("files/*.conf", "files/a.conf", true),
            ("files/*.conf", "files/sub/a.conf", false),
            ("files/**.conf", "files/sub/a.conf", true),
            ("files/{a,b}.txt", "files/b.txt", true),
            ("files/[!a]*", "files/abc", false),
            ("files/?.txt", "files/x.txt", true),
        ];
        for (pattern, path, want) in table {
            let re = glob_regex(pattern).expect("pattern compiles");
            assert_eq!(re.is_match(path), *want, "{pattern} vs {path}");
        }
    }

    #[test]
    fn as_config_uses_base_names_and_yaml() {
        let mut files = FileMap::new();
        files.insert("conf/a.ini".to_string(), b"x=1\ny=2\n".to_vec());
        files.insert("conf/b.txt".to_string(), b"hello".to_vec());
        assert_eq!(as_config(&files, false), "a.ini: |\n  x=1\n  y=2\nb.txt: hello");
        assert_eq!(as_config(&files, true), "a.ini: eD0xCnk9Mgo=\nb.txt: aGVsbG8=");
    }
}
