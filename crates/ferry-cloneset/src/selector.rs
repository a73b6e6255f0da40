//! Label selectors: matching and the canonical string form used by `status.labelSelector`.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;

/// Whether `labels` satisfy `selector` (`metav1.LabelSelectorAsSelector(...).Matches`).
/// An unknown operator matches nothing, as an invalid selector selects nothing.
pub fn matches(selector: &LabelSelector, labels: &BTreeMap<String, String>) -> bool {
    let labels_ok = selector
        .match_labels
        .iter()
        .flatten()
        .all(|(key, value)| labels.get(key) == Some(value));
    let expressions_ok = selector.match_expressions.iter().flatten().all(|requirement| {
        let value = labels.get(&requirement.key);
        let values = requirement.values.as_deref().unwrap_or_default();
        match requirement.operator.as_str() {
            "In" => value.is_some_and(|v| values.contains(v)),
            "NotIn" => value.is_none_or(|v| !values.contains(v)),
            "Exists" => value.is_some(),
            "DoesNotExist" => value.is_none(),
            _ => false,
        }
    });
    labels_ok && expressions_ok
}

/// True when the selector has no requirement at all.
pub fn is_empty(selector: &LabelSelector) -> bool {
    selector.match_labels.as_ref().is_none_or(BTreeMap::is_empty)
        && selector.match_expressions.as_ref().is_none_or(Vec::is_empty)
}

/// The selector as `labels.Selector.String()` prints it: requirements sorted by key, values sorted,
/// e.g. `app=sample,tier in (a,b),!legacy`.
pub fn to_string(selector: &LabelSelector) -> String {
    let mut requirements: Vec<(String, String)> = Vec::new();
    for (key, value) in selector.match_labels.iter().flatten() {
        requirements.push((key.clone(), format!("{key}={value}")));
    }
    for requirement in selector.match_expressions.iter().flatten() {
        let key = &requirement.key;
        let mut values: Vec<String> = requirement.values.clone().unwrap_or_default();
        values.sort();
        values.dedup();
        let text = match requirement.operator.as_str() {
            "In" => format!("{key} in ({})", values.join(",")),
            "NotIn" => format!("{key} notin ({})", values.join(",")),
            "Exists" => key.clone(),
            "DoesNotExist" => format!("!{key}"),
            other => format!("{key} {other} ({})", values.join(",")),
        };
        requirements.push((key.clone(), text));
    }
    // Go sorts requirements by key with a stable sort; matchLabels come first for equal keys.
    requirements.sort_by(|a, b| a.0.cmp(&b.0));
    requirements
        .into_iter()
        .map(|(_, text)| text)
        .collect::<Vec<_>>()
        .join(",")
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
