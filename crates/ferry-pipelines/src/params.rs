//! Param values for a run: provided values, declared defaults (which may reference other
//! params), and the type checks Tekton performs before it starts anything.

use std::collections::BTreeMap;

use ferry_types::tekton::{Param, ParamSpec, ParamValue};

use crate::substitution::Replacements;

/// Why a set of params cannot be used (names sorted, as Tekton prints them).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParamError {
    #[error("missing values for these params which have no default values: {}", go_list(.0))]
    Missing(Vec<String>),
    #[error("param types don't match the user-specified type: {}", go_list(.0))]
    TypeMismatch(Vec<String>),
    #[error("missing keys for these params which are required in ParamSpec's schema: {}", go_map(.0))]
    ObjectKeysMissing(BTreeMap<String, Vec<String>>),
}

/// Go's `fmt` rendering of a string slice: `[a b]`.
pub fn go_list(items: &[String]) -> String {
    format!("[{}]", items.join(" "))
}

fn go_map(map: &BTreeMap<String, Vec<String>>) -> String {
    let entries: Vec<String> = map.iter().map(|(k, v)| format!("{k}:{}", go_list(v))).collect();
    format!("map[{}]", entries.join(" "))
}

/// The values every declared param takes, plus any extra provided params (Tekton accepts
/// undeclared params and propagates them to inline specs).
pub fn resolve(
    declared: &[ParamSpec],
    provided: &[Param],
) -> Result<BTreeMap<String, ParamValue>, ParamError> {
    let provided_by_name: BTreeMap<&str, &ParamValue> =
        provided.iter().map(|p| (p.name.as_str(), &p.value)).collect();
    // Defaults may refer to other params: substitute them with the provided values.
    let mut provided_replacements = Replacements::new();
    for param in provided {
        provided_replacements.add_value("params", &param.name, &param.value);
    }
    let mut values = BTreeMap::new();
    let mut missing = Vec::new();
    let mut mismatched = Vec::new();
    let mut missing_keys: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for spec in declared {
        let expected = spec.effective_type();
        let value = match provided_by_name.get(spec.name.as_str()) {
            Some(value) => (*value).clone(),
            None => match &spec.default {
                Some(default) => provided_replacements.apply_value(default),
                None => {
                    missing.push(spec.name.clone());
                    continue;
                }
            },
        };
        if value.param_type() != expected {
            mismatched.push(spec.name.clone());
            continue;
        }
        let value = match (value, &spec.properties, &spec.default) {
            (ParamValue::Object(mut map), Some(properties), default) => {
                // Keys missing from the provided object fall back to the default's keys.
                if let Some(ParamValue::Object(default_map)) = default {
                    for (k, v) in default_map {
                        map.entry(k.clone()).or_insert_with(|| v.clone());
                    }
                }
                let absent: Vec<String> = properties
                    .keys()
                    .filter(|k| !map.contains_key(*k))
                    .cloned()
                    .collect();
                if !absent.is_empty() {
                    missing_keys.insert(spec.name.clone(), absent);
                }
                ParamValue::Object(map)
            }
            (value, _, _) => value,
        };
        values.insert(spec.name.clone(), value);
    }
    if !missing.is_empty() {
        missing.sort();
        return Err(ParamError::Missing(missing));
    }
    if !mismatched.is_empty() {
        mismatched.sort();
        return Err(ParamError::TypeMismatch(mismatched));
    }
    if !missing_keys.is_empty() {
        return Err(ParamError::ObjectKeysMissing(missing_keys));
    }
    for param in provided {
        values
            .entry(param.name.clone())
            .or_insert_with(|| param.value.clone());
    }
    Ok(values)
}

/// The substitution pass for a set of param values.
pub fn replacements(values: &BTreeMap<String, ParamValue>) -> Replacements {
    let mut r = Replacements::new();
    for (name, value) in values {
        r.add_value("params", name, value);
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferry_types::tekton::ParamType;

    fn spec(name: &str, type_: Option<ParamType>, default: Option<ParamValue>) -> ParamSpec {
        ParamSpec {
            name: name.into(),
            type_,
            default,
            ..Default::default()
        }
    }

    fn string(s: &str) -> ParamValue {
        ParamValue::String(s.into())
    }

    #[test]
    fn defaults_fill_in_and_may_reference_other_params() {
        let declared = vec![
            spec("a", None, None),
            spec("b", None, Some(string("$(params.a)-suffix"))),
            spec(
                "c",
                Some(ParamType::Array),
                Some(ParamValue::Array(vec!["x".into()])),
            ),
        ];
        let provided = vec![
            Param {
                name: "a".into(),
                value: string("v"),
            },
            Param {
                name: "extra".into(),
                value: string("e"),
            },
        ];
        let values = resolve(&declared, &provided).expect("resolves");
        assert_eq!(values["a"], string("v"));
        assert_eq!(values["b"], string("v-suffix"));
        assert_eq!(values["c"], ParamValue::Array(vec!["x".into()]));
        assert_eq!(values["extra"], string("e"));
    }

    #[test]
    fn reports_missing_and_mismatched_params_like_tekton() {
        let declared = vec![
            spec("z", None, None),
            spec("a", None, None),
            spec("arr", Some(ParamType::Array), None),
        ];
        let err = resolve(&declared, &[]).expect_err("missing");
        assert_eq!(
            err.to_string(),
            "missing values for these params which have no default values: [a arr z]"
        );
        let provided = vec![
            Param {
                name: "a".into(),
                value: string("1"),
            },
            Param {
                name: "z".into(),
                value: string("1"),
            },
            Param {
                name: "arr".into(),
                value: string("not an array"),
            },
        ];
        let err = resolve(&declared, &provided).expect_err("mismatch");
        assert_eq!(
            err.to_string(),
            "param types don't match the user-specified type: [arr]"
        );
    }

    #[test]
    fn object_params_need_their_declared_keys() {
        let mut declared = spec("o", None, None);
        declared.properties = Some(
            [
                ("url".to_string(), Default::default()),
                ("rev".to_string(), Default::default()),
            ]
            .into_iter()
            .collect(),
        );
        let provided = vec![Param {
            name: "o".into(),
            value: ParamValue::Object([("url".to_string(), "u".to_string())].into_iter().collect()),
        }];
        let err = resolve(std::slice::from_ref(&declared), &provided).expect_err("keys");
        assert_eq!(
            err,
            ParamError::ObjectKeysMissing([("o".to_string(), vec!["rev".to_string()])].into_iter().collect())
        );
        assert!(err.to_string().ends_with("map[o:[rev]]"), "{err}");
    }
}
