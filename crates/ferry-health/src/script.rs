//! Running health scripts: Argo CD's `ExecuteHealthLua` result rules.

use mlua::Value as LuaValue;
use serde_json::Value;

use crate::lua::{Conversion, Libraries, LuaError, LuaRuntime};
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
    runtime.run(script, libraries, obj, None, Conversion::Lazy, |_, output| {
        read_health(output)
    })
}

fn read_health(output: LuaValue) -> Result<Option<HealthStatus>, LuaError> {
    let table = match output {
        LuaValue::Nil => return Ok(None),
        LuaValue::Table(table) => table,
        other => return Err(LuaError::NotATable(lua_type_name(&other))),
    };
    let engine = |err: mlua::Error| LuaError::Engine(err.to_string());
    let mut status: LuaValue = table.raw_get("status").map_err(engine)?;
    let mut message: LuaValue = table.raw_get("message").map_err(engine)?;
    let mut has_entries = !matches!(status, LuaValue::Nil) || !matches!(message, LuaValue::Nil);
    if !has_entries || matches!(status, LuaValue::Nil) || matches!(message, LuaValue::Nil) {
        let mut string_keys = false;
        for pair in table.pairs::<LuaValue, LuaValue>() {
            let (key, value) = pair.map_err(engine)?;
            has_entries = true;
            let LuaValue::String(key) = key else { continue };
            string_keys = true;
            let key = key.to_string_lossy();
            if key.eq_ignore_ascii_case("status") && matches!(status, LuaValue::Nil) {
                status = value;
            } else if key.eq_ignore_ascii_case("message") && matches!(message, LuaValue::Nil) {
                message = value;
            }
        }
        // gopher-json encodes `{}` and pure lists as JSON arrays, which Argo CD reads as "no
        // health".
        if !has_entries || !string_keys {
            return Ok(None);
        }
    }
    let code = match &status {
        LuaValue::String(text) => HealthStatusCode::parse(&text.to_string_lossy()),
        _ => None,
    };
    let Some(code) = code else {
        return Ok(Some(HealthStatus::unknown(INVALID_HEALTH_STATUS)));
    };
    let message = match message {
        LuaValue::String(text) => text.to_string_lossy(),
        LuaValue::Number(number) => format_number(number),
        LuaValue::Integer(int) => int.to_string(),
        _ => String::new(),
    };
    Ok(Some(HealthStatus::new(code, message)))
}

/// Lua type names as gopher-lua prints them (numbers are always "number").
pub(crate) fn lua_type_name(value: &LuaValue) -> &'static str {
    match value {
        LuaValue::Integer(_) | LuaValue::Number(_) => "number",
        other => other.type_name(),
    }
}

fn format_number(number: f64) -> String {
    if number.fract() == 0.0 && number.abs() < 1e15 {
        format!("{}", number as i64)
    } else {
        format!("{number}")
    }
}
