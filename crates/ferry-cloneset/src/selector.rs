//! Typed `metav1.LabelSelector`s on top of [`ferry_apimachinery::selector`]: matching and the
//! canonical string form used by `status.labelSelector`.

use std::collections::BTreeMap;

use ferry_apimachinery::selector::LabelSelector as Parsed;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use serde_json::{Map, Value};

/// A selector converted once for matching many label sets. An invalid selector (unknown operator,
/// bad key, `In` without values) selects nothing, as `metav1.LabelSelectorAsSelector` fails upstream.
#[derive(Debug, Clone)]
pub struct Compiled(Option<Parsed>);

impl Compiled {
    /// Converts `selector`.
    pub fn new(selector: &LabelSelector) -> Compiled {
        Compiled(
            serde_json::to_value(selector)
                .ok()
                .and_then(|value| Parsed::from_label_selector(&value).ok()),
        )
    }

    /// Whether `labels` satisfy the selector.
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        let Some(parsed) = &self.0 else {
            return false;
        };
        let labels: Map<String, Value> = labels
            .iter()
            .map(|(k, v)| (k.clone(), Value::String(v.clone())))
            .collect();
        parsed.matches(&labels)
    }
}

/// Whether `labels` satisfy `selector` (`metav1.LabelSelectorAsSelector(...).Matches`).
pub fn matches(selector: &LabelSelector, labels: &BTreeMap<String, String>) -> bool {
    Compiled::new(selector).matches(labels)
}

/// True when the selector has no requirement at all.
pub fn is_empty(selector: &LabelSelector) -> bool {
    selector.match_labels.as_ref().is_none_or(BTreeMap::is_empty)
        && selector.match_expressions.as_ref().is_none_or(Vec::is_empty)
}

/// The selector as `labels.Selector.String()` prints it: requirements sorted by key, values sorted,
/// e.g. `app=sample,tier in (a,b),!legacy`. Empty for an invalid selector.
pub fn to_string(selector: &LabelSelector) -> String {
    Compiled::new(selector)
        .0
        .map(|parsed| parsed.to_string())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelectorRequirement;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn expression(key: &str, operator: &str, values: &[&str]) -> LabelSelectorRequirement {
        LabelSelectorRequirement {
            key: key.to_string(),
            operator: operator.to_string(),
            values: if values.is_empty() {
                None
            } else {
                Some(values.iter().map(|v| v.to_string()).collect())
            },
        }
    }

    #[test]
    fn matching_table() {
        let selector = LabelSelector {
            match_labels: Some(labels(&[("app", "web")])),
            match_expressions: Some(vec![
                expression("tier", "In", &["a", "b"]),
                expression("legacy", "DoesNotExist", &[]),
            ]),
        };
        let cases = [
            (labels(&[("app", "web"), ("tier", "a")]), true),
            (labels(&[("app", "web"), ("tier", "c")]), false),
            (labels(&[("app", "web")]), false),
            (labels(&[("app", "web"), ("tier", "b"), ("legacy", "x")]), false),
            (labels(&[("app", "db"), ("tier", "a")]), false),
        ];
        for (pod_labels, expected) in cases {
            assert_eq!(matches(&selector, &pod_labels), expected, "{pod_labels:?}");
        }
        // An invalid selector selects nothing.
        let unknown_operator = LabelSelector {
            match_expressions: Some(vec![expression("tier", "Near", &["a"])]),
            ..Default::default()
        };
        assert!(!matches(&unknown_operator, &labels(&[("tier", "a")])));
    }

    #[test]
    fn string_form_sorts_requirements() {
        let selector = LabelSelector {
            match_labels: Some(labels(&[("zone", "z1"), ("app", "sample")])),
            match_expressions: Some(vec![
                expression("tier", "NotIn", &["b", "a"]),
                expression("beta", "Exists", &[]),
                expression("old", "DoesNotExist", &[]),
            ]),
        };
        assert_eq!(
            to_string(&selector),
            "app=sample,beta,!old,tier notin (a,b),zone=z1"
        );
        let seed = LabelSelector {
            match_labels: Some(labels(&[("app", "helloworld-server")])),
            ..Default::default()
        };
        assert_eq!(to_string(&seed), "app=helloworld-server");
        assert!(is_empty(&LabelSelector::default()));
        assert!(!is_empty(&seed));
    }
}
