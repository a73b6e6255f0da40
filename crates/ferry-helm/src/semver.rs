//! Semantic versions and constraints with Masterminds/semver v3 rules, as
//! Sprig's `semverCompare` and Chart.yaml's `kubeVersion` use them.
//!
//! Notable rule: a version with a prerelease part only satisfies a constraint
//! whose version has one too (`>=1.19-0` matches `1.20.1-gke.1`, `>=1.19`
//! does not).

use std::cmp::Ordering;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Version {
    pub major: u64,
    pub minor: u64,
    pub patch: u64,
    pub pre: String,
    pub build: String,
}

impl Version {
    /// Parse leniently, as `semver.NewVersion`: optional `v`, optional minor
    /// and patch.
    pub fn parse(text: &str) -> Result<Version, String> {
        let (v, _) = parse_parts(text.trim(), false)?;
        Ok(v)
    }

    fn compare(&self, other: &Version) -> Ordering {
        self.major
            .cmp(&other.major)
            .then(self.minor.cmp(&other.minor))
            .then(self.patch.cmp(&other.patch))
            .then_with(|| compare_pre(&self.pre, &other.pre))
    }
}

fn compare_pre(a: &str, b: &str) -> Ordering {
    match (a.is_empty(), b.is_empty()) {
        (true, true) => return Ordering::Equal,
        (true, false) => return Ordering::Greater,
        (false, true) => return Ordering::Less,
        _ => {}
    }
    let mut ai = a.split('.');
    let mut bi = b.split('.');
    loop {
        match (ai.next(), bi.next()) {
            (None, None) => return Ordering::Equal,
            (None, Some(_)) => return Ordering::Less,
            (Some(_), None) => return Ordering::Greater,
            (Some(x), Some(y)) => {
                let ord = match (x.parse::<u64>(), y.parse::<u64>()) {
                    (Ok(nx), Ok(ny)) => nx.cmp(&ny),
                    (Ok(_), Err(_)) => Ordering::Less,
                    (Err(_), Ok(_)) => Ordering::Greater,
                    (Err(_), Err(_)) => x.cmp(y),
                };
                if ord != Ordering::Equal {
                    return ord;
                }
            }
        }
    }
}

/// Which parts of a constraint's version were wildcards or missing.
#[derive(Debug, Clone, Copy, Default)]
struct Dirty {
    minor: bool,
    patch: bool,
    major: bool,
}

fn parse_parts(text: &str, allow_wildcards: bool) -> Result<(Version, Dirty), String> {
    let invalid = || format!("Invalid Semantic Version: {text:?}");
    let body = text.strip_prefix('v').unwrap_or(text);
    let (body, build) = match body.split_once('+') {
        Some((b, m)) => (b, m.to_string()),
        None => (body, String::new()),
    };
    let (core, pre) = match body.split_once('-') {
        Some((c, p)) => (c, p.to_string()),
        None => (body, String::new()),
    };
    if core.is_empty() {
        return Err(invalid());
    }
    let mut dirty = Dirty::default();
    let parts: Vec<&str> = core.split('.').collect();
    if parts.len() > 3 {
        return Err(invalid());
    }
    let mut nums = [0u64; 3];
    for (i, slot) in nums.iter_mut().enumerate() {
        match parts.get(i) {
            None => {
                if i == 1 {
                    dirty.minor = true;
                }
                dirty.patch = true;
            }
            Some(p) if allow_wildcards && matches!(*p, "x" | "X" | "*") => match i {
                0 => {
                    dirty.major = true;
                    dirty.minor = true;
                    dirty.patch = true;
                }
                1 => {
                    dirty.minor = true;
                    dirty.patch = true;
                }
                _ => dirty.patch = true,
            },
            Some(p) => {
                if p.is_empty() || !p.chars().all(|c| c.is_ascii_digit()) {
                    return Err(invalid());
                }
                *slot = p.parse::<u64>().map_err(|_| invalid())?;
            }
        }
    }
    let ident_ok = |s: &str| {
        s.split('.')
            .all(|id| !id.is_empty() && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'))
    };
    if (!pre.is_empty() && !ident_ok(&pre)) || (!build.is_empty() && !ident_ok(&build)) {
        return Err(invalid());
    }
    Ok((
        Version {
            major: nums[0],
            minor: nums[1],
            patch: nums[2],
            pre,
            build,
        },
        dirty,
    ))
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Op {
    Eq,
    Ne,
    Gt,
    Lt,
    Ge,
    Le,
    Tilde,
    Caret,
}

#[derive(Debug, Clone)]
struct Constraint {
    op: Op,
    version: Version,
    dirty: Dirty,
}

impl Constraint {
    fn parse(text: &str) -> Result<Constraint, String> {
        let text = text.trim();
        let ops: &[(&str, Op)] = &[
            (">=", Op::Ge),
            ("=>", Op::Ge),
            ("<=", Op::Le),
            ("=<", Op::Le),
            ("!=", Op::Ne),
            ("~>", Op::Tilde),
            (">", Op::Gt),
            ("<", Op::Lt),
            ("=", Op::Eq),
            ("~", Op::Tilde),
            ("^", Op::Caret),
        ];
        let (op, rest) = ops
            .iter()
            .find_map(|(prefix, op)| text.strip_prefix(prefix).map(|r| (*op, r)))
            .unwrap_or((Op::Eq, text));
        let (version, dirty) =
            parse_parts(rest.trim(), true).map_err(|_| format!("improper constraint: {text}"))?;
        Ok(Constraint { op, version, dirty })
    }

    fn matches(&self, v: &Version) -> bool {
        if !v.pre.is_empty() && self.version.pre.is_empty() {
            return false;
        }
        let c = &self.version;
        let d = self.dirty;
        match self.op {
            Op::Eq => {
                if d.major {
                    return true;
                }
                if d.minor {
                    return v.major == c.major;
                }
                if d.patch {
                    return v.major == c.major && v.minor == c.minor;
                }
                v.compare(c) == Ordering::Equal
            }
            Op::Ne => {
                if d.major {
                    return false;
                }
                if d.minor {
                    return v.major != c.major;
                }
                if d.patch {
                    return !(v.major == c.major && v.minor == c.minor);
                }
                v.compare(c) != Ordering::Equal
            }
            Op::Gt => {
                if d.major {
                    return false;
                }
                if d.minor {
                    return v.major > c.major;
                }
                if d.patch {
                    return v.major > c.major || (v.major == c.major && v.minor > c.minor);
                }
                v.compare(c) == Ordering::Greater
            }
            Op::Lt => v.compare(c) == Ordering::Less,
            Op::Ge => v.compare(c) != Ordering::Less,
            Op::Le => {
                if d.major {
                    return true;
                }
                if d.minor {
                    return v.major <= c.major;
                }
                if d.patch {
                    return v.major < c.major || (v.major == c.major && v.minor <= c.minor);
                }
                v.compare(c) != Ordering::Greater
            }
            Op::Tilde => {
                if v.compare(c) == Ordering::Less {
                    return false;
                }
                if d.major {
                    return true;
                }
                if d.minor {
                    return v.major == c.major;
                }
                v.major == c.major && v.minor == c.minor
            }
            Op::Caret => {
                if v.compare(c) == Ordering::Less {
                    return false;
                }
                if d.major {
                    return true;
                }
                if c.major > 0 || d.minor {
                    return v.major == c.major;
                }
                if c.minor > 0 || d.patch {
                    return v.major == 0 && v.minor == c.minor;
                }
                v.major == 0 && v.minor == 0 && v.patch == c.patch
            }
        }
    }
}

/// `a || b`, each side a list of constraints that must all hold.
#[derive(Debug, Clone)]
pub struct Constraints {
    alternatives: Vec<Vec<Constraint>>,
}

impl Constraints {
    pub fn parse(text: &str) -> Result<Constraints, String> {
        let mut alternatives = Vec::new();
        for group in text.split("||") {
            let mut all = Vec::new();
            let tokens = tokenize(group);
            let mut i = 0;
            while i < tokens.len() {
                // Hyphen range `1.2 - 1.4.5`.
                if tokens.get(i + 1).map(String::as_str) == Some("-") {
                    let low = tokens.get(i).cloned().unwrap_or_default();
                    let high = tokens.get(i + 2).cloned().unwrap_or_default();
                    all.push(Constraint::parse(&format!(">={low}"))?);
                    all.push(Constraint::parse(&format!("<={high}"))?);
                    i += 3;
                    continue;
                }
                if let Some(token) = tokens.get(i) {
                    all.push(Constraint::parse(token)?);
                }
                i += 1;
            }
            if all.is_empty() {
                return Err(format!("improper constraint: {text}"));
            }
            alternatives.push(all);
        }
        Ok(Constraints { alternatives })
    }

    pub fn matches(&self, v: &Version) -> bool {
        self.alternatives
            .iter()
            .any(|all| all.iter().all(|c| c.matches(v)))
    }
}

/// Split a constraint group on commas and spaces, gluing an operator that
/// stands alone (`>= 1.2`) to its version.
fn tokenize(group: &str) -> Vec<String> {
    let raw: Vec<&str> = group.split([',', ' ']).filter(|t| !t.trim().is_empty()).collect();
    let mut out: Vec<String> = Vec::new();
    let mut pending_op = String::new();
    for token in raw {
        if token != "-" && token.chars().all(|c| "<>=!~^".contains(c)) {
            pending_op.push_str(token);
            continue;
        }
        out.push(format!("{pending_op}{token}"));
        pending_op.clear();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constraints_follow_masterminds_rules() {
        let table: &[(&str, &str, bool)] = &[
            (">=1.19-0", "1.20.1-gke.1", true),
            (">=1.19", "1.20.1-gke.1", false),
            (">=1.19-0", "v1.35.0", true),
            ("<1.19-0", "v1.35.0", false),
            ("~1.2.3", "1.2.9", true),
            ("~1.2.3", "1.3.0", false),
            ("^1.2", "1.9.0", true),
            ("^1.2", "2.0.0", false),
            ("^0.2.3", "0.2.9", true),
            ("^0.2.3", "0.3.0", false),
            ("1.2.x", "1.2.7", true),
            (">= 1.2, < 2", "1.5.0", true),
            (">1.0 <1.1 || >=2.0", "2.1.0", true),
            ("1.0 - 1.4", "1.3.0", true),
            ("!=1.2.3", "1.2.3", false),
            (">=1.16.0-0 <1.20.0-0", "1.18.0", true),
        ];
        for (constraint, version, want) in table {
            let c = Constraints::parse(constraint).expect("constraint parses");
            let v = Version::parse(version).expect("version parses");
            assert_eq!(c.matches(&v), *want, "{constraint} vs {version}");
        }
    }

    #[test]
    fn invalid_versions_are_errors() {
        assert!(Version::parse("not-a-version").is_err());
        assert!(Version::parse("1.2.3.4").is_err());
        assert!(Version::parse("").is_err());
    }
}
