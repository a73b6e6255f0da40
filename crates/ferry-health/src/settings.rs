//! `argocd-cm` resource customizations, read as Argo CD reads them (`util/settings/settings.go`).
//!
//! * **Block form**: key `resource.customizations`, a YAML map from `group/Kind` (or a glob such as
//!   `"*.crossplane.io/*"`) to `{health.lua, health.lua.useOpenLibs, actions, ignoreDifferences,
//!   ignoreResourceUpdates, knownTypeFields}`. It is the only form that allows wildcards.
//! * **Split keys**: `resource.customizations.<type>.<group>_<Kind>` (core group: `<Kind>`; the
//!   suffix `all` means `*/*`), with type `health`, `useOpenLibs`, `actions`, `ignoreDifferences`,
//!   `ignoreResourceUpdates` or `knownTypeFields`. They are applied after the block form and
//!   override it field by field.
//! * **Health resolution** for `group/Kind`: an exact override with a non-empty script, then the
//!   first matching wildcard override with a script, then Ferry's built-in check, then none.
//!   Argo CD takes the first wildcard in Go map order (non-deterministic); Ferry orders wildcard
//!   keys most specific first — most literal (non-`*`/`?`) characters, then alphabetically.
//! * **Divergence**: Argo CD ignores a malformed key (e.g. `…health.apps.kruise.io-CloneSet`,
//!   which it reads as a core-group kind that never matches) and lets a non-compiling script fail
//!   at evaluation. Ferry reports both as [`ConfigWarning`]s (the controller turns them into a
//!   warning event and a condition) and skips the key.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::lua::{Libraries, LuaRuntime};

pub const BLOCK_KEY: &str = "resource.customizations";
const SPLIT_PREFIX: &str = "resource.customizations.";

/// `ignoreDifferences` / `ignoreResourceUpdates` of one override.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OverrideIgnoreDiff {
    #[serde(default)]
    pub json_pointers: Vec<String>,
    #[serde(default)]
    pub jq_path_expressions: Vec<String>,
    #[serde(default)]
    pub managed_fields_managers: Vec<String>,
}

/// One `knownTypeFields` entry: a field path and the Kubernetes type it holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KnownTypeField {
    pub field: String,
    #[serde(rename = "type")]
    pub type_name: String,
}

/// The customizations of one `group/Kind` key.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ResourceOverride {
    /// The health script; empty means "no script".
    pub health_lua: String,
    pub use_open_libs: bool,
    /// The raw `actions` YAML (`discovery.lua`, `definitions`, `mergeBuiltinActions`).
    pub actions: String,
    pub ignore_differences: OverrideIgnoreDiff,
    pub ignore_resource_updates: OverrideIgnoreDiff,
    pub known_type_fields: Vec<KnownTypeField>,
}

/// A customization Ferry could not use, with the ConfigMap key at fault.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ConfigWarning {
    pub key: String,
    pub message: String,
}

impl std::fmt::Display for ConfigWarning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "argocd-cm key {:?}: {}", self.key, self.message)
    }
}

/// A health script chosen for one object, with the libraries it may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HealthScript<'a> {
    pub script: &'a str,
    pub libraries: Libraries,
    /// The override key that supplied it (`group/Kind` or a glob).
    pub key: &'a str,
}

/// All resource overrides of one `argocd-cm`, ready for lookups.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ResourceOverrides {
    exact: BTreeMap<String, ResourceOverride>,
    /// Glob keys, most specific first.
    wildcards: Vec<(String, ResourceOverride)>,
    warnings: Vec<ConfigWarning>,
}

impl ResourceOverrides {
    /// Overrides that only carry health scripts, keyed `group/Kind` (handy for tests and the CLI).
    pub fn with_health_script(key: &str, script: &str, use_open_libs: bool) -> Self {
        let mut overrides = ResourceOverrides::default();
        let entry = ResourceOverride {
            health_lua: script.to_owned(),
            use_open_libs,
            ..ResourceOverride::default()
        };
        overrides.insert(key.to_owned(), entry);
        overrides
    }

    /// Parses the `data` of an `argocd-cm` ConfigMap. Never fails: unusable keys become warnings.
    pub fn from_config_data(data: &BTreeMap<String, String>) -> Self {
        let mut merged: BTreeMap<String, ResourceOverride> = BTreeMap::new();
        let mut warnings = Vec::new();
        if let Some(block) = data.get(BLOCK_KEY) {
            parse_block(block, &mut merged, &mut warnings);
        }
        for (key, value) in data {
            if let Some(rest) = key.strip_prefix(SPLIT_PREFIX)
                && let Err(message) = apply_split_key(rest, value, &mut merged)
            {
                warnings.push(ConfigWarning {
                    key: key.clone(),
                    message,
                });
            }
        }
        let mut overrides = ResourceOverrides {
            warnings,
            ..ResourceOverrides::default()
        };
        for (key, entry) in merged {
            overrides.insert(key, entry);
        }
        overrides.check_scripts();
        overrides
    }

    /// Parses an `argocd-cm` ConfigMap object (its `data`; non-string values are warnings).
    pub fn from_config_map(config_map: &Value) -> Self {
        let mut data = BTreeMap::new();
        let mut bad_values = Vec::new();
        if let Some(fields) = config_map.get("data").and_then(Value::as_object) {
            for (key, value) in fields {
                match value {
                    Value::String(text) => {
                        data.insert(key.clone(), text.clone());
                    }
                    Value::Bool(_) | Value::Number(_) => {
                        data.insert(key.clone(), value.to_string());
                    }
                    _ => bad_values.push(ConfigWarning {
                        key: key.clone(),
                        message: "ConfigMap data values must be strings".into(),
                    }),
                }
            }
        }
        let mut overrides = Self::from_config_data(&data);
        overrides.warnings.extend(bad_values);
        overrides
    }

    fn insert(&mut self, key: String, entry: ResourceOverride) {
        if key.contains(['*', '?']) {
            self.wildcards.push((key, entry));
            self.wildcards
                .sort_by(|(a, _), (b, _)| specificity(b).cmp(&specificity(a)).then_with(|| a.cmp(b)));
        } else {
            self.exact.insert(key, entry);
        }
    }

    /// Compiles every health and action script once, turning failures into warnings and dropping
    /// the broken health scripts (their kinds fall back to the next resolution step).
    fn check_scripts(&mut self) {
        let runtime = LuaRuntime::default();
        let mut warnings = Vec::new();
        let entries = self
            .exact
            .iter_mut()
            .chain(self.wildcards.iter_mut().map(|(key, entry)| (&*key, entry)));
        for (key, entry) in entries {
            if !entry.health_lua.is_empty()
                && let Err(err) = runtime.check_compiles(&entry.health_lua)
            {
                warnings.push(ConfigWarning {
                    key: health_key_name(key),
                    message: format!("health script does not compile: {err}"),
                });
                entry.health_lua.clear();
            }
            if !entry.actions.is_empty() {
                match crate::actions::ActionsConfig::parse(&entry.actions) {
                    Ok(config) => {
                        for (name, script) in config.scripts() {
                            if let Err(err) = runtime.check_compiles(script) {
                                warnings.push(ConfigWarning {
                                    key: format!("resource.customizations.actions.{}", split_suffix(key)),
                                    message: format!("{name} does not compile: {err}"),
                                });
                            }
                        }
                    }
                    Err(err) => warnings.push(ConfigWarning {
                        key: format!("resource.customizations.actions.{}", split_suffix(key)),
                        message: err.to_string(),
                    }),
                }
            }
        }
        self.warnings.extend(warnings);
    }

    /// Keys that could not be used, and scripts that do not compile.
    pub fn warnings(&self) -> &[ConfigWarning] {
        &self.warnings
    }

    /// The override stored under exactly `key` (`group/Kind`, `Kind` or a glob).
    pub fn get(&self, key: &str) -> Option<&ResourceOverride> {
        self.exact.get(key).or_else(|| {
            self.wildcards
                .iter()
                .find(|(pattern, _)| pattern == key)
                .map(|(_, entry)| entry)
        })
    }

    /// Every override that applies to `group/Kind`: the exact one first, then matching wildcards.
    pub fn matching(&self, group: &str, kind: &str) -> impl Iterator<Item = (&str, &ResourceOverride)> {
        let key = override_key(group, kind);
        let exact = self.exact.get_key_value(&key).map(|(k, v)| (k.as_str(), v));
        let wild = self
            .wildcards
            .iter()
            .filter(move |(pattern, _)| glob_match(pattern, &key))
            .map(|(k, v)| (k.as_str(), v));
        exact.into_iter().chain(wild)
    }

    /// The Lua health script for `group/Kind`, following the resolution order above.
    pub fn health_script(&self, group: &str, kind: &str) -> Option<HealthScript<'_>> {
        self.matching(group, kind)
            .find(|(_, entry)| !entry.health_lua.is_empty())
            .map(|(key, entry)| HealthScript {
                script: &entry.health_lua,
                libraries: Libraries::from_open_libs(entry.use_open_libs),
                key,
            })
    }

    /// The resource actions configured for `group/Kind` (exact key first, then wildcards), parsed.
    /// `None` when no override defines actions. Built-in actions are not shipped, so
    /// `mergeBuiltinActions` has nothing to merge yet.
    pub fn actions(
        &self,
        group: &str,
        kind: &str,
    ) -> Option<Result<crate::actions::ActionsConfig, crate::actions::ActionsConfigError>> {
        self.matching(group, kind)
            .find(|(_, entry)| !entry.actions.is_empty())
            .map(|(_, entry)| crate::actions::ActionsConfig::parse(&entry.actions))
    }

    pub fn is_empty(&self) -> bool {
        self.exact.is_empty() && self.wildcards.is_empty()
    }
}

/// Argo CD's `GetConfigMapKey`: `group/Kind`, or `Kind` for the core group.
pub fn override_key(group: &str, kind: &str) -> String {
    if group.is_empty() {
        kind.to_owned()
    } else {
        format!("{group}/{kind}")
    }
}

fn split_suffix(key: &str) -> String {
    if key == "*/*" {
        "all".to_owned()
    } else {
        key.replace('/', "_")
    }
}

fn health_key_name(key: &str) -> String {
    if key.contains(['*', '?']) {
        BLOCK_KEY.to_owned()
    } else {
        format!("resource.customizations.health.{}", split_suffix(key))
    }
}

fn specificity(pattern: &str) -> usize {
    pattern.chars().filter(|c| !matches!(c, '*' | '?')).count()
}

/// Glob match where `*` matches any run of characters (including `/`) and `?` one character, as
/// Argo CD's `glob.Match` without separators.
pub fn glob_match(pattern: &str, text: &str) -> bool {
    let pattern: Vec<char> = pattern.chars().collect();
    let text: Vec<char> = text.chars().collect();
    let (mut p, mut t) = (0, 0);
    let mut backtrack: Option<(usize, usize)> = None;
    while t < text.len() {
        match pattern.get(p) {
            Some('*') => {
                backtrack = Some((p, t));
                p += 1;
            }
            Some(c) if *c == '?' || Some(c) == text.get(t) => {
                p += 1;
                t += 1;
            }
            _ => match backtrack {
                Some((star, matched)) => {
                    p = star + 1;
                    t = matched + 1;
                    backtrack = Some((star, matched + 1));
                }
                None => return false,
            },
        }
    }
    pattern[p.min(pattern.len())..].iter().all(|c| *c == '*')
}

/// `convertToOverrideKey`: `group_Kind` → `group/Kind`, `Kind` → `Kind`, `all` → `*/*`.
fn convert_split_key(suffix: &str) -> Result<String, String> {
    if suffix == "all" {
        return Ok("*/*".to_owned());
    }
    let parts: Vec<&str> = suffix.split('_').collect();
    match parts.as_slice() {
        [group, kind] if !group.is_empty() && is_kind_name(kind) => Ok(format!("{group}/{kind}")),
        [kind] if is_kind_name(kind) => Ok((*kind).to_owned()),
        [single] => Err(format!(
            "{single:?} is not a kind; write the group and kind as <group>_<Kind>, e.g. apps.kruise.io_CloneSet"
        )),
        _ => Err(format!(
            "{suffix:?} must be <group>_<Kind> (or <Kind> for the core group) with exactly one underscore"
        )),
    }
}

/// Kubernetes kinds are CamelCase identifiers: an upper-case letter, then letters and digits.
fn is_kind_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_uppercase()) && chars.all(|c| c.is_ascii_alphanumeric())
}

fn apply_split_key(
    rest: &str,
    value: &str,
    merged: &mut BTreeMap<String, ResourceOverride>,
) -> Result<(), String> {
    let Some((kind_of_customization, suffix)) = rest.split_once('.') else {
        return Err("expected resource.customizations.<type>.<group>_<Kind>".into());
    };
    const TYPES: [&str; 6] = [
        "health",
        "useOpenLibs",
        "actions",
        "ignoreDifferences",
        "ignoreResourceUpdates",
        "knownTypeFields",
    ];
    if !TYPES.contains(&kind_of_customization) {
        return Err(format!(
            "resource customization type {kind_of_customization} not supported"
        ));
    }
    let key = convert_split_key(suffix)?;
    let mut entry = merged.get(&key).cloned().unwrap_or_default();
    match kind_of_customization {
        "health" => entry.health_lua = value.to_owned(),
        "useOpenLibs" => entry.use_open_libs = parse_go_bool(value)?,
        "actions" => entry.actions = value.to_owned(),
        "ignoreDifferences" => entry.ignore_differences = parse_yaml(value, "ignoreDifferences")?,
        "ignoreResourceUpdates" => {
            entry.ignore_resource_updates = parse_yaml(value, "ignoreResourceUpdates")?
        }
        _ => entry.known_type_fields = parse_yaml(value, "knownTypeFields")?,
    }
    merged.insert(key, entry);
    Ok(())
}

/// Go's `strconv.ParseBool`.
fn parse_go_bool(text: &str) -> Result<bool, String> {
    match text.trim() {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Ok(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Ok(false),
        other => Err(format!("{other:?} is not a boolean")),
    }
}

fn parse_yaml<T: serde::de::DeserializeOwned + Default>(text: &str, what: &str) -> Result<T, String> {
    if text.trim().is_empty() {
        return Ok(T::default());
    }
    serde_saphyr::from_str(text).map_err(|err| format!("invalid {what} YAML: {err}"))
}

fn parse_block(
    block: &str,
    merged: &mut BTreeMap<String, ResourceOverride>,
    warnings: &mut Vec<ConfigWarning>,
) {
    let parsed: Value = match serde_saphyr::from_str(block) {
        Ok(value) => value,
        Err(err) => {
            warnings.push(ConfigWarning {
                key: BLOCK_KEY.into(),
                message: format!("invalid YAML: {err}"),
            });
            return;
        }
    };
    let Some(entries) = parsed.as_object() else {
        if !parsed.is_null() {
            warnings.push(ConfigWarning {
                key: BLOCK_KEY.into(),
                message: "expected a map from group/Kind to customizations".into(),
            });
        }
        return;
    };
    for (key, raw) in entries {
        match parse_block_entry(raw) {
            Ok(entry) => {
                merged.insert(key.clone(), entry);
            }
            Err(message) => warnings.push(ConfigWarning {
                key: format!("{BLOCK_KEY}[{key}]"),
                message,
            }),
        }
    }
}

fn parse_block_entry(raw: &Value) -> Result<ResourceOverride, String> {
    let Some(fields) = raw.as_object() else {
        return Err("expected a map of customizations".into());
    };
    let mut entry = ResourceOverride::default();
    let text = |name: &str, value: &Value| -> Result<String, String> {
        match value {
            Value::String(text) => Ok(text.clone()),
            Value::Null => Ok(String::new()),
            _ => Err(format!("{name} must be a string")),
        }
    };
    for (name, value) in fields {
        match name.as_str() {
            "health.lua" => entry.health_lua = text(name, value)?,
            "health.lua.useOpenLibs" => {
                entry.use_open_libs = match value {
                    Value::Bool(flag) => *flag,
                    Value::String(s) => parse_go_bool(s)?,
                    _ => return Err("health.lua.useOpenLibs must be a boolean".into()),
                }
            }
            "actions" => entry.actions = text(name, value)?,
            "ignoreDifferences" => entry.ignore_differences = parse_yaml(&text(name, value)?, name)?,
            "ignoreResourceUpdates" => entry.ignore_resource_updates = parse_yaml(&text(name, value)?, name)?,
            "knownTypeFields" => {
                entry.known_type_fields =
                    serde_json::from_value(value.clone()).map_err(|err| format!("knownTypeFields: {err}"))?
            }
            // Argo CD decodes leniently and ignores unknown fields; so does Ferry.
            _ => {}
        }
    }
    Ok(entry)
}

#[cfg(test)]
mod tests;
