//! Resource actions: `discovery.lua` lists the actions available on an object, `action.lua`
//! returns the modified object (old style, applied as a patch) or a list of
//! `{resource = …, operation = "create" | "patch"}` (new style). Parameters arrive in the global
//! `actionParams` (name → string).

use std::collections::BTreeMap;

use mlua::Value as LuaValue;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::lua::convert::lua_to_json;
use crate::lua::{Conversion, Libraries, LuaError, LuaRuntime};
use crate::script::lua_type_name;

/// The `actions` customization of one kind (argocd-cm `resource.customizations.actions.<gk>`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct ActionsConfig {
    #[serde(rename = "discovery.lua", default)]
    pub discovery_lua: String,
    #[serde(default)]
    pub definitions: Vec<ActionDefinition>,
    /// Keep the built-in actions next to these (Argo CD ≥ 2.13); otherwise these replace them.
    #[serde(rename = "mergeBuiltinActions", default)]
    pub merge_builtin_actions: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ActionDefinition {
    pub name: String,
    #[serde(rename = "action.lua", default)]
    pub action_lua: String,
}

/// The `actions` YAML could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid actions YAML: {0}")]
pub struct ActionsConfigError(pub String);

impl ActionsConfig {
    pub fn parse(yaml: &str) -> Result<Self, ActionsConfigError> {
        serde_saphyr::from_str(yaml).map_err(|err| ActionsConfigError(err.to_string()))
    }

    /// `(name, script)` of the discovery script and every action.
    pub fn scripts(&self) -> impl Iterator<Item = (String, &str)> {
        let discovery = (!self.discovery_lua.is_empty())
            .then(|| ("discovery.lua".to_owned(), self.discovery_lua.as_str()));
        discovery.into_iter().chain(
            self.definitions
                .iter()
                .map(|d| (format!("action {:?}", d.name), d.action_lua.as_str())),
        )
    }

    pub fn action(&self, name: &str) -> Option<&ActionDefinition> {
        self.definitions.iter().find(|d| d.name == name)
    }
}

/// One action offered by `discovery.lua`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResourceAction {
    pub name: String,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub disabled: bool,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub icon_class: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub display_name: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub params: Vec<ResourceActionParam>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResourceActionParam {
    pub name: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub value: String,
    #[serde(default, rename = "type", skip_serializing_if = "String::is_empty")]
    pub type_name: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub default: String,
}

/// What an action does to the cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ActionOperation {
    Patch,
    Create,
}

/// One object an action changes.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ImpactedResource {
    #[serde(rename = "k8sOperation")]
    pub operation: ActionOperation,
    #[serde(rename = "unstructuredObj")]
    pub object: Value,
}

/// Runs `discovery.lua`; actions come back sorted by name.
pub fn discover_actions(
    runtime: &LuaRuntime,
    script: &str,
    libraries: Libraries,
    obj: &Value,
) -> Result<Vec<ResourceAction>, LuaError> {
    let output = runtime.run(
        script,
        libraries,
        obj,
        None,
        Conversion::Eager,
        |_, output| match output {
            LuaValue::Nil => Ok(Value::Object(Default::default())),
            LuaValue::Table(_) => {
                lua_to_json(&output, None).map_err(|err| LuaError::InvalidOutput(err.to_string()))
            }
            other => Err(LuaError::NotATable(lua_type_name(&other))),
        },
    )?;
    let Value::Object(entries) = output else {
        // An empty table is encoded as a list: no actions.
        return match output {
            Value::Array(items) if items.is_empty() => Ok(Vec::new()),
            _ => Err(LuaError::InvalidOutput(
                "discovery.lua must return a table of actions keyed by name".into(),
            )),
        };
    };
    let mut actions = Vec::with_capacity(entries.len());
    for (name, body) in entries {
        let mut body = match body {
            Value::Object(fields) => fields,
            Value::Array(items) if items.is_empty() => Default::default(),
            _ => {
                return Err(LuaError::InvalidOutput(format!(
                    "action {name:?}: expected a table"
                )));
            }
        };
        if let Some(Value::Array(params)) = body.get("params")
            && params.is_empty()
        {
            body.remove("params");
        }
        body.insert("name".into(), Value::String(name.clone()));
        let action: ResourceAction = serde_json::from_value(Value::Object(body))
            .map_err(|err| LuaError::InvalidOutput(format!("action {name:?}: {err}")))?;
        actions.push(action);
    }
    actions.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(actions)
}

/// Runs `action.lua` with `actionParams`; returns the objects to patch or create.
pub fn run_action(
    runtime: &LuaRuntime,
    script: &str,
    libraries: Libraries,
    obj: &Value,
    params: &BTreeMap<String, String>,
) -> Result<Vec<ImpactedResource>, LuaError> {
    let output = runtime.run(
        script,
        libraries,
        obj,
        Some(params),
        Conversion::Eager,
        |_, output| match output {
            LuaValue::Table(_) => {
                lua_to_json(&output, Some(obj)).map_err(|err| LuaError::InvalidOutput(err.to_string()))
            }
            other => Err(LuaError::NotATable(lua_type_name(&other))),
        },
    )?;
    match output {
        Value::Array(items) => items
            .into_iter()
            .enumerate()
            .map(|(index, item)| impacted_from_list_item(index, item))
            .collect(),
        object @ Value::Object(_) => Ok(vec![ImpactedResource {
            operation: ActionOperation::Patch,
            object,
        }]),
        _ => Err(LuaError::InvalidOutput("action returned no object".into())),
    }
}

fn impacted_from_list_item(index: usize, item: Value) -> Result<ImpactedResource, LuaError> {
    let Value::Object(mut fields) = item else {
        return Err(LuaError::InvalidOutput(format!(
            "action result [{index}]: expected a table with resource and operation"
        )));
    };
    let operation = match fields.get("operation").and_then(Value::as_str) {
        Some("create") => ActionOperation::Create,
        Some("patch") => ActionOperation::Patch,
        Some(other) => {
            return Err(LuaError::InvalidOutput(format!(
                "action result [{index}]: unsupported operation {other:?} (create or patch)"
            )));
        }
        None => {
            return Err(LuaError::InvalidOutput(format!(
                "action result [{index}]: missing operation"
            )));
        }
    };
    let object = fields
        .remove("resource")
        .ok_or_else(|| LuaError::InvalidOutput(format!("action result [{index}]: missing resource")))?;
    Ok(ImpactedResource { operation, object })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const DISCOVERY: &str = r#"
actions = {}
actions["restart"] = {}
actions["scale"] = {["params"] = {{name = "replicas"}}}
actions["pause"] = {["disabled"] = obj.spec.paused == true, ["iconClass"] = "fa fa-pause"}
return actions
"#;

    const SCALE: &str = r#"
local replicas = tonumber(actionParams["replicas"])
if not replicas then
  error("invalid number: " .. actionParams["replicas"], 0)
end
obj.spec.replicas = replicas
return obj
"#;

    #[test]
    fn discovery_lists_actions_sorted_with_params() {
        let got = discover_actions(
            &LuaRuntime::default(),
            DISCOVERY,
            Libraries::Open,
            &json!({"spec": {"paused": true}}),
        )
        .unwrap();
        let names: Vec<&str> = got.iter().map(|a| a.name.as_str()).collect();
        assert_eq!(names, ["pause", "restart", "scale"]);
        assert!(got[0].disabled);
        assert_eq!(got[0].icon_class, "fa fa-pause");
        assert_eq!(got[2].params[0].name, "replicas");
        assert!(got[1].params.is_empty());
    }

    #[test]
    fn old_style_action_patches_with_params_and_keeps_empty_maps() {
        let obj = json!({"kind": "Deployment", "metadata": {"labels": {}}, "spec": {"replicas": 1, "template": {"spec": {"containers": []}}}});
        let params = BTreeMap::from([("replicas".to_owned(), "3".to_owned())]);
        let got = run_action(&LuaRuntime::default(), SCALE, Libraries::Open, &obj, &params).unwrap();
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].operation, ActionOperation::Patch);
        assert_eq!(
            got[0].object,
            json!({"kind": "Deployment", "metadata": {"labels": {}}, "spec": {"replicas": 3, "template": {"spec": {"containers": []}}}})
        );
        let params = BTreeMap::from([("replicas".to_owned(), "not_a_number".to_owned())]);
        let err = run_action(&LuaRuntime::default(), SCALE, Libraries::Open, &obj, &params).unwrap_err();
        assert_eq!(err.to_string(), "invalid number: not_a_number");
    }

    #[test]
    fn new_style_action_creates_and_patches() {
        let script = r#"
local job = {apiVersion = "batch/v1", kind = "Job", metadata = {name = obj.metadata.name .. "-manual"}}
obj.metadata.annotations = {touched = "yes"}
return {{resource = job, operation = "create"}, {resource = obj, operation = "patch"}}
"#;
        let obj = json!({"kind": "CronJob", "metadata": {"name": "nightly"}});
        let got = run_action(
            &LuaRuntime::default(),
            script,
            Libraries::Open,
            &obj,
            &BTreeMap::new(),
        )
        .unwrap();
        assert_eq!(got[0].operation, ActionOperation::Create);
        assert_eq!(got[0].object["metadata"]["name"], "nightly-manual");
        assert_eq!(got[1].operation, ActionOperation::Patch);
        assert_eq!(got[1].object["metadata"]["annotations"]["touched"], "yes");
        let bad = "return {{resource = obj, operation = 'delete'}}";
        let err = run_action(
            &LuaRuntime::default(),
            bad,
            Libraries::Open,
            &obj,
            &BTreeMap::new(),
        )
        .unwrap_err();
        assert!(
            err.to_string().contains("unsupported operation \"delete\""),
            "{err}"
        );
    }

    #[test]
    fn config_parses_definitions() {
        let config = ActionsConfig::parse(
            "discovery.lua: |\n  return {}\nmergeBuiltinActions: true\ndefinitions:\n- name: restart\n  action.lua: |\n    return obj\n",
        )
        .unwrap();
        assert!(config.merge_builtin_actions);
        assert_eq!(config.action("restart").unwrap().action_lua.trim(), "return obj");
        assert_eq!(config.scripts().count(), 2);
        assert!(ActionsConfig::parse("definitions: 3").is_err());
    }
}
