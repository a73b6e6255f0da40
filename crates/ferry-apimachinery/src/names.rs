//! Object-name and label validation with Kubernetes' exact messages, and `generateName` suffixes.
//!
//! Each `validate_*` function returns the list of problems (empty = valid), like Kubernetes'
//! `IsDNS1123Subdomain` & co; wrap them into [`FieldError`]s with [`validate_object_name`].

use crate::field_error::FieldError;
use serde_json::Value;

/// Maximum length of a DNS-1123 subdomain.
pub const DNS1123_SUBDOMAIN_MAX_LEN: usize = 253;
/// Maximum length of a DNS-1123 / DNS-1035 label.
pub const DNS1123_LABEL_MAX_LEN: usize = 63;
/// Maximum length of a label value and of the name part of a qualified name.
pub const QUALIFIED_NAME_MAX_LEN: usize = 63;

const DNS1123_LABEL_MSG: &str = "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')";
const DNS1123_SUBDOMAIN_MSG: &str = "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";
const DNS1035_LABEL_MSG: &str = "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')";
const QUALIFIED_NAME_MSG: &str = "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')";
const LABEL_VALUE_MSG: &str = "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')";

fn max_len_msg(n: usize) -> String {
    format!("must be no more than {n} characters")
}

fn is_dns_label_chars(s: &str) -> bool {
    let b = s.as_bytes();
    let alnum = |c: u8| c.is_ascii_lowercase() || c.is_ascii_digit();
    match (b.first(), b.last()) {
        (Some(&f), Some(&l)) => alnum(f) && alnum(l) && b.iter().all(|&c| alnum(c) || c == b'-'),
        _ => false,
    }
}

/// RFC 1123 label (Namespace names, most label-like names): `[a-z0-9]([-a-z0-9]*[a-z0-9])?`, ≤ 63.
pub fn validate_dns1123_label(value: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if value.len() > DNS1123_LABEL_MAX_LEN {
        errs.push(max_len_msg(DNS1123_LABEL_MAX_LEN));
    }
    if !is_dns_label_chars(value) {
        errs.push(DNS1123_LABEL_MSG.to_string());
    }
    errs
}

/// RFC 1123 subdomain (most object names): dot-separated labels, ≤ 253.
pub fn validate_dns1123_subdomain(value: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if value.len() > DNS1123_SUBDOMAIN_MAX_LEN {
        errs.push(max_len_msg(DNS1123_SUBDOMAIN_MAX_LEN));
    }
    if !value.split('.').all(is_dns_label_chars) {
        errs.push(DNS1123_SUBDOMAIN_MSG.to_string());
    }
    errs
}

/// RFC 1035 label (Service names): must start with a letter.
pub fn validate_dns1035_label(value: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if value.len() > DNS1123_LABEL_MAX_LEN {
        errs.push(max_len_msg(DNS1123_LABEL_MAX_LEN));
    }
    let starts_alpha = value.as_bytes().first().is_some_and(|c| c.is_ascii_lowercase());
    if !starts_alpha || !is_dns_label_chars(value) {
        errs.push(DNS1035_LABEL_MSG.to_string());
    }
    errs
}

/// Names that only need to be a safe URL path segment (Kubernetes' `IsValidPathSegmentName`).
pub fn validate_path_segment_name(value: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if value == "." || value == ".." {
        errs.push(format!("may not be '{value}'"));
    }
    for bad in ["/", "%"] {
        if value.contains(bad) {
            errs.push(format!("may not contain '{bad}'"));
        }
    }
    errs
}

fn is_qualified_name_part(s: &str) -> bool {
    let b = s.as_bytes();
    let ok_inner = |c: u8| c.is_ascii_alphanumeric() || c == b'-' || c == b'_' || c == b'.';
    match (b.first(), b.last()) {
        (Some(f), Some(l)) => {
            f.is_ascii_alphanumeric() && l.is_ascii_alphanumeric() && b.iter().all(|&c| ok_inner(c))
        }
        _ => false,
    }
}

/// A qualified name (label and annotation keys): `[prefix/]name`, prefix a DNS-1123 subdomain,
/// name ≤ 63 of `[A-Za-z0-9][-A-Za-z0-9_.]*[A-Za-z0-9]`.
pub fn validate_qualified_name(value: &str) -> Vec<String> {
    let mut errs = Vec::new();
    let parts: Vec<&str> = value.split('/').collect();
    let name = match parts.as_slice() {
        [name] => *name,
        [prefix, name] => {
            if prefix.is_empty() {
                errs.push("prefix part must be non-empty".to_string());
            } else {
                errs.extend(
                    validate_dns1123_subdomain(prefix)
                        .into_iter()
                        .map(|m| format!("prefix part {m}")),
                );
            }
            *name
        }
        _ => {
            errs.push(format!("{QUALIFIED_NAME_MSG} with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')"));
            return errs;
        }
    };
    if name.is_empty() {
        errs.push("name part must be non-empty".to_string());
    } else {
        if name.len() > QUALIFIED_NAME_MAX_LEN {
            errs.push(format!("name part {}", max_len_msg(QUALIFIED_NAME_MAX_LEN)));
        }
        if !is_qualified_name_part(name) {
            errs.push(QUALIFIED_NAME_MSG.to_string());
        }
    }
    errs
}

/// A label value: empty, or ≤ 63 of `[A-Za-z0-9][-A-Za-z0-9_.]*[A-Za-z0-9]`.
pub fn validate_label_value(value: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if value.len() > QUALIFIED_NAME_MAX_LEN {
        errs.push(max_len_msg(QUALIFIED_NAME_MAX_LEN));
    }
    if !value.is_empty() && !is_qualified_name_part(value) {
        errs.push(LABEL_VALUE_MSG.to_string());
    }
    errs
}

/// Which name rule a kind uses for `metadata.name`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameRule {
    /// DNS-1123 subdomain (the default for almost every kind, and for custom resources).
    Dns1123Subdomain,
    /// DNS-1123 label (Namespace).
    Dns1123Label,
    /// DNS-1035 label (Service).
    Dns1035Label,
    /// Path segment only (e.g. RBAC objects, which allow `:` in names).
    PathSegment,
}

/// The rule kube-apiserver applies to `metadata.name` of `group`/`kind`.
pub fn name_rule_for(group: &str, kind: &str) -> NameRule {
    match (group, kind) {
        ("", "Namespace") => NameRule::Dns1123Label,
        ("", "Service") => NameRule::Dns1035Label,
        ("rbac.authorization.k8s.io", _) => NameRule::PathSegment,
        _ => NameRule::Dns1123Subdomain,
    }
}

/// Validates `name` under `rule`; returns one `metadata.name` field error per problem.
/// An empty name is `Required value: name or generateName is required`.
pub fn validate_object_name(name: &str, rule: NameRule) -> Vec<FieldError> {
    if name.is_empty() {
        return vec![FieldError::required(
            "metadata.name",
            "name or generateName is required",
        )];
    }
    let msgs = match rule {
        NameRule::Dns1123Subdomain => validate_dns1123_subdomain(name),
        NameRule::Dns1123Label => validate_dns1123_label(name),
        NameRule::Dns1035Label => validate_dns1035_label(name),
        NameRule::PathSegment => validate_path_segment_name(name),
    };
    msgs.into_iter()
        .map(|m| FieldError::invalid("metadata.name", Value::String(name.to_string()), m))
        .collect()
}

/// Validates the keys and values of `metadata.labels` (`field` is the path prefix, usually `metadata.labels`).
pub fn validate_labels(labels: &serde_json::Map<String, Value>, field: &str) -> Vec<FieldError> {
    let mut out = Vec::new();
    for (k, v) in labels {
        for m in validate_qualified_name(k) {
            out.push(FieldError::invalid(field, Value::String(k.clone()), m));
        }
        match v {
            Value::String(s) => {
                for m in validate_label_value(s) {
                    out.push(FieldError::invalid(format!("{field}[{k}]"), v.clone(), m));
                }
            }
            other => out.push(FieldError::invalid(
                format!("{field}[{k}]"),
                other.clone(),
                "label values must be strings",
            )),
        }
    }
    out
}

/// The alphabet Kubernetes' `utilrand.String` draws from (no vowels, no confusable characters).
pub const GENERATE_NAME_ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
/// Length of the random suffix appended to `generateName`.
pub const GENERATE_NAME_SUFFIX_LEN: usize = 5;
/// `generateName` is cut to this length before the suffix, so the result fits 63 characters.
pub const GENERATE_NAME_MAX_BASE_LEN: usize = 58;

/// `base` (cut to 58 bytes) plus 5 random characters from [`GENERATE_NAME_ALPHABET`];
/// `next_u64` supplies randomness (inject a fixed sequence in tests, or use [`SplitMix64`]).
pub fn generate_name(base: &str, next_u64: &mut dyn FnMut() -> u64) -> String {
    let mut cut = base.len().min(GENERATE_NAME_MAX_BASE_LEN);
    while !base.is_char_boundary(cut) {
        cut -= 1;
    }
    let mut out = base[..cut].to_string();
    for _ in 0..GENERATE_NAME_SUFFIX_LEN {
        let idx = (next_u64() % GENERATE_NAME_ALPHABET.len() as u64) as usize;
        out.push(char::from(
            GENERATE_NAME_ALPHABET.get(idx).copied().unwrap_or(b'x'),
        ));
    }
    out
}

/// A tiny deterministic PRNG (SplitMix64) for name suffixes; seed it from the clock or a counter.
#[derive(Debug, Clone)]
pub struct SplitMix64(pub u64);

impl SplitMix64 {
    /// The next pseudo-random value.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subdomain_cases() {
        let long = "a".repeat(254);
        let cases: &[(&str, usize)] = &[
            ("example.com", 0),
            ("a", 0),
            ("my-app-1", 0),
            ("0abc", 0),
            ("Foo", 1),
            ("-abc", 1),
            ("abc-", 1),
            ("a..b", 1),
            ("a_b", 1),
            ("", 1),
            (&long, 1),
        ];
        for (input, n) in cases {
            assert_eq!(validate_dns1123_subdomain(input).len(), *n, "{input}");
        }
        assert_eq!(
            validate_dns1123_subdomain(&long)[0],
            "must be no more than 253 characters"
        );
    }

    #[test]
    fn label_and_1035_cases() {
        let cases: &[(&str, usize, usize)] = &[
            ("web", 0, 0),
            ("1web", 0, 1),
            ("a.b", 1, 1),
            ("Web", 1, 1),
            ("web-", 1, 1),
        ];
        for (input, n1123, n1035) in cases {
            assert_eq!(validate_dns1123_label(input).len(), *n1123, "1123 {input}");
            assert_eq!(validate_dns1035_label(input).len(), *n1035, "1035 {input}");
        }
        assert_eq!(
            validate_dns1123_label(&"a".repeat(64)),
            vec!["must be no more than 63 characters".to_string()]
        );
    }

    #[test]
    fn object_name_errors_print_like_kubernetes() {
        let errs = validate_object_name("Foo", name_rule_for("", "ConfigMap"));
        assert_eq!(errs.len(), 1);
        assert_eq!(
            errs[0].to_string(),
            format!("metadata.name: Invalid value: \"Foo\": {DNS1123_SUBDOMAIN_MSG}")
        );
        assert_eq!(
            validate_object_name("", NameRule::Dns1123Subdomain)[0].to_string(),
            "metadata.name: Required value: name or generateName is required"
        );
        assert_eq!(name_rule_for("", "Service"), NameRule::Dns1035Label);
        assert_eq!(
            validate_object_name("system:admin", NameRule::PathSegment).len(),
            0
        );
        assert_eq!(validate_object_name("a/b", NameRule::PathSegment).len(), 1);
    }

    #[test]
    fn qualified_names_and_values() {
        let cases: &[(&str, bool)] = &[
            ("app", true),
            ("app.kubernetes.io/name", true),
            ("kubectl.kubernetes.io/last-applied-configuration", true),
            ("My_Key.x", true),
            ("/name", false),
            ("a/b/c", false),
            ("Bad.Prefix/x", false),
            ("-x", false),
            ("", false),
        ];
        for (k, ok) in cases {
            assert_eq!(validate_qualified_name(k).is_empty(), *ok, "{k}");
        }
        for (v, ok) in [("", true), ("v1.2_3", true), ("-v", false), ("a b", false)] {
            assert_eq!(validate_label_value(v).is_empty(), ok, "{v}");
        }
        let mut labels = serde_json::Map::new();
        labels.insert("ok".into(), Value::String("fine".into()));
        labels.insert("bad key!".into(), Value::String("v".into()));
        labels.insert("n".into(), serde_json::json!(3));
        assert_eq!(validate_labels(&labels, "metadata.labels").len(), 2);
    }

    #[test]
    fn generate_name_uses_alphabet_and_truncates() {
        let mut seq = [0u64, 1, 26, 27, 100].into_iter();
        let mut next = || seq.next().unwrap_or(0);
        assert_eq!(generate_name("web-", &mut next), "web-bc9bz");
        let mut rng = SplitMix64(42);
        let mut next = || rng.next_u64();
        let long = "x".repeat(70);
        let name = generate_name(&long, &mut next);
        assert_eq!(name.len(), 63);
        assert!(name[58..].bytes().all(|c| GENERATE_NAME_ALPHABET.contains(&c)));
        // multi-byte input never splits a character
        let name = generate_name(&"é".repeat(40), &mut next);
        assert!(name.is_char_boundary(name.len() - 5));
    }
}
