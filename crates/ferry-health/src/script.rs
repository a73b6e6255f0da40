//! Running health scripts: Argo CD's `ExecuteHealthLua` result rules.

use mlua::Value as LuaValue;
use serde_json::Value;

use crate::lua::{HealthMessage, HealthOutput, Libraries, LuaError, LuaRuntime};
use crate::status::{HealthStatus, HealthStatusCode};

/// Message Argo CD gives for a status string it does not know.
pub const INVALID_HEALTH_STATUS: &str = "Lua returned an invalid health status";

/// Runs a health script against `obj`.
///
/// * a table `{status = …, message = …}` → that status (keys matched case-insensitively when the
///   exact lower-case key is absent, as Go's JSON decoding does); an unknown status string — or a
///   non-string status — gives Unknown "Lua returned an invalid health status";
/// * `nil`, an empty table or a list → `Ok(None)` (no health; does not affect the app);
/// * any other value → `Err(LuaError::NotATable)`; errors, time-outs and memory exhaustion →
///   `Err(...)`. Callers show errors as Unknown with the error text.
pub fn eval_health_script(
    runtime: &LuaRuntime,
    script: &str,
    libraries: Libraries,
    obj: &Value,
) -> Result<Option<HealthStatus>, LuaError> {
    let (status, message) = match runtime.run_health(script, libraries, obj)? {
        HealthOutput::NoHealth => return Ok(None),
        HealthOutput::NotATable(kind) => return Err(LuaError::NotATable(static_type_name(&kind))),
        HealthOutput::Table { status, message } => (status, message),
    };
    let Some(code) = status.as_deref().and_then(HealthStatusCode::parse) else {
        return Ok(Some(HealthStatus::unknown(INVALID_HEALTH_STATUS)));
    };
    let message = match message {
        HealthMessage::Text(text) => text,
        HealthMessage::Number(number) => format_number(number),
        HealthMessage::Absent => String::new(),
    };
    Ok(Some(HealthStatus::new(code, message)))
}

/// The Lua type names `type()` returns, as static strings.
fn static_type_name(name: &str) -> &'static str {
    match name {
        "nil" => "nil",
        "boolean" => "boolean",
        "number" => "number",
        "string" => "string",
        "function" => "function",
        "thread" => "thread",
        "table" => "table",
        _ => "userdata",
    }
}

/// Lua type names as gopher-lua prints them (numbers are always "number").
pub(crate) fn lua_type_name(value: &LuaValue) -> &'static str {
    match value {
        LuaValue::Integer(_) | LuaValue::Number(_) => "number",
        other => other.type_name(),
    }
}

fn format_number(number: f64) -> String {
    crate::lua::number::go_number_string(number)
}
