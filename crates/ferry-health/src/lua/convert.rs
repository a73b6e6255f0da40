//! Conversion between JSON objects and Lua values, following Argo CD's rules.
//!
//! JSON → Lua (Argo CD `decodeValue`): objects and arrays become tables, numbers become Lua numbers
//! (doubles — the dialect has no integers), `null` becomes `nil` (an array keeps its later
//! elements at their indices, leaving a hole).
//!
//! Lua → JSON (gopher-json `Encode`, then Argo CD's clean-up): a table whose keys are exactly
//! `1..n` is an array, any other non-empty table is an object (non-string keys are written as
//! strings); integral numbers are written as integers; an empty table becomes `{}` or `[]` after
//! the value at the same path in the original object, `{}` when there is none.

use mlua::{Lua, Table, Value as LuaValue};
use serde_json::{Map, Number, Value};

/// Deepest nesting converted in either direction; deeper structures are an error, not a stack
/// overflow.
const MAX_DEPTH: usize = 128;

pub(crate) fn json_to_lua(lua: &Lua, value: &Value) -> mlua::Result<LuaValue> {
    json_to_lua_at(lua, value, 0)
}

fn json_to_lua_at(lua: &Lua, value: &Value, depth: usize) -> mlua::Result<LuaValue> {
    if depth > MAX_DEPTH {
        return Err(mlua::Error::runtime("object nested too deeply"));
    }
    Ok(match value {
        Value::Null => LuaValue::Nil,
        Value::Bool(flag) => LuaValue::Boolean(*flag),
        Value::Number(number) => LuaValue::Number(number.as_f64().unwrap_or(f64::NAN)),
        Value::String(text) => LuaValue::String(lua.create_string(text)?),
        Value::Array(items) => {
            let table = lua.create_table_with_capacity(items.len(), 0)?;
            for (index, item) in items.iter().enumerate() {
                if !item.is_null() {
                    table.raw_set(index + 1, json_to_lua_at(lua, item, depth + 1)?)?;
                }
            }
            LuaValue::Table(table)
        }
        Value::Object(fields) => {
            let table = lua.create_table_with_capacity(0, fields.len())?;
            for (key, item) in fields {
                if !item.is_null() {
                    table.raw_set(key.as_str(), json_to_lua_at(lua, item, depth + 1)?)?;
                }
            }
            LuaValue::Table(table)
        }
    })
}

/// A Lua value that cannot be written as JSON.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EncodeError {
    #[error("cannot encode a Lua {kind} as JSON")]
    Unsupported { kind: &'static str },
    #[error("cannot encode a non-finite number as JSON")]
    NonFinite,
    #[error("table nested too deeply (or self-referencing)")]
    TooDeep,
    #[error("{0}")]
    Lua(String),
}

/// Converts a Lua value to JSON; `original` guides the encoding of empty tables.
pub(crate) fn lua_to_json(value: &LuaValue, original: Option<&Value>) -> Result<Value, EncodeError> {
    lua_to_json_at(value, original, 0)
}

fn lua_to_json_at(value: &LuaValue, original: Option<&Value>, depth: usize) -> Result<Value, EncodeError> {
    if depth > MAX_DEPTH {
        return Err(EncodeError::TooDeep);
    }
    match value {
        LuaValue::Nil => Ok(Value::Null),
        LuaValue::Boolean(flag) => Ok(Value::Bool(*flag)),
        LuaValue::Integer(int) => Ok(Value::from(*int)),
        LuaValue::Number(number) => number_to_json(*number),
        LuaValue::String(text) => Ok(Value::String(text.to_string_lossy())),
        LuaValue::Table(table) => table_to_json(table, original, depth),
        other => Err(EncodeError::Unsupported {
            kind: other.type_name(),
        }),
    }
}

fn number_to_json(number: f64) -> Result<Value, EncodeError> {
    if !number.is_finite() {
        return Err(EncodeError::NonFinite);
    }
    // Integral values within the exactly-representable range are integers, as Go prints them.
    if number.fract() == 0.0 && number.abs() < 9.007_199_254_740_992e15 {
        return Ok(Value::from(number as i64));
    }
    Number::from_f64(number)
        .map(Value::Number)
        .ok_or(EncodeError::NonFinite)
}

fn table_to_json(table: &Table, original: Option<&Value>, depth: usize) -> Result<Value, EncodeError> {
    let lua_err = |err: mlua::Error| EncodeError::Lua(err.to_string());
    let mut entries: Vec<(LuaValue, LuaValue)> = Vec::new();
    for pair in table.clone().pairs::<LuaValue, LuaValue>() {
        entries.push(pair.map_err(lua_err)?);
    }
    if entries.is_empty() {
        return Ok(match original {
            Some(Value::Array(_)) => Value::Array(Vec::new()),
            _ => Value::Object(Map::new()),
        });
    }
    let length = table.raw_len();
    let is_array = length == entries.len()
        && entries.iter().all(|(key, _)| match key {
            LuaValue::Integer(i) => *i >= 1 && (*i as usize) <= length,
            LuaValue::Number(n) => n.fract() == 0.0 && *n >= 1.0 && (*n as usize) <= length,
            _ => false,
        });
    if is_array {
        let mut items = vec![Value::Null; length];
        for (key, item) in &entries {
            let index = match key {
                LuaValue::Integer(i) => *i as usize,
                LuaValue::Number(n) => *n as usize,
                _ => continue,
            };
            let original_item = original.and_then(|o| o.get(index - 1));
            if let Some(slot) = items.get_mut(index - 1) {
                *slot = lua_to_json_at(item, original_item, depth + 1)?;
            }
        }
        return Ok(Value::Array(items));
    }
    let mut object = Map::new();
    // Keep the original object's key order for keys it had; new keys follow in sorted order.
    let mut keyed: Vec<(String, &LuaValue)> = Vec::with_capacity(entries.len());
    for (key, item) in &entries {
        let name = match key {
            LuaValue::String(text) => text.to_string_lossy(),
            LuaValue::Integer(i) => i.to_string(),
            LuaValue::Number(n) => match number_to_json(*n)? {
                Value::Number(number) => number.to_string(),
                _ => continue,
            },
            LuaValue::Boolean(flag) => flag.to_string(),
            other => {
                return Err(EncodeError::Unsupported {
                    kind: other.type_name(),
                });
            }
        };
        keyed.push((name, item));
    }
    let positions: std::collections::HashMap<&str, usize> = original
        .and_then(Value::as_object)
        .map(|o| o.keys().enumerate().map(|(i, k)| (k.as_str(), i)).collect())
        .unwrap_or_default();
    let rank = |name: &str| -> usize { positions.get(name).copied().unwrap_or(usize::MAX) };
    keyed.sort_by(|(a, _), (b, _)| rank(a).cmp(&rank(b)).then_with(|| a.cmp(b)));
    for (name, item) in keyed {
        let original_item = original.and_then(|o| o.get(&name));
        let converted = lua_to_json_at(item, original_item, depth + 1)?;
        object.insert(name, converted);
    }
    Ok(Value::Object(object))
}

/// Lazy conversion for health scripts: JSON objects become empty tables that fill themselves on
/// first use, so a script pays only for the levels it touches.
///
/// A lazy table is created with room for its fields, carries the shared `lazy_meta` metatable and
/// has an entry in the per-evaluation `pending` table mapping it to its JSON node id. The first
/// read of a missing key, the first write, or `pairs`/`next` on it (the sandbox wraps both) calls
/// [`LazyObjects::materialize`], which copies that one level: scalars as values, objects as new
/// lazy tables, arrays as complete tables (so `#`, `ipairs` and `table.*` behave) whose object
/// elements are lazy.
pub(crate) struct LazyObjects<'a> {
    nodes: std::cell::RefCell<Vec<&'a Value>>,
    lazy_meta: Table,
    pending: Table,
}

impl<'a> LazyObjects<'a> {
    pub(crate) fn new(lazy_meta: Table, pending: Table) -> Self {
        LazyObjects {
            nodes: std::cell::RefCell::new(Vec::with_capacity(16)),
            lazy_meta,
            pending,
        }
    }

    /// The Lua value standing for `value` (a lazy table for objects).
    pub(crate) fn convert(&self, lua: &Lua, value: &'a Value, depth: usize) -> mlua::Result<LuaValue> {
        if depth > MAX_DEPTH {
            return Err(mlua::Error::runtime("object nested too deeply"));
        }
        Ok(match value {
            Value::Object(fields) => {
                let table = lua.create_table_with_capacity(0, fields.len())?;
                table.set_metatable(Some(self.lazy_meta.clone()))?;
                let id = {
                    let mut nodes = self.nodes.borrow_mut();
                    nodes.push(value);
                    nodes.len() - 1
                };
                self.pending.raw_set(&table, id)?;
                LuaValue::Table(table)
            }
            Value::Array(items) => {
                let table = lua.create_table_with_capacity(items.len(), 0)?;
                for (index, item) in items.iter().enumerate() {
                    if !item.is_null() {
                        table.raw_set(index + 1, self.convert(lua, item, depth + 1)?)?;
                    }
                }
                LuaValue::Table(table)
            }
            scalar => json_to_lua_at(lua, scalar, depth)?,
        })
    }

    /// Copies one level of node `id` into `table`.
    pub(crate) fn materialize(&self, lua: &Lua, table: &Table, id: usize) -> mlua::Result<()> {
        let node = self.nodes.borrow().get(id).copied();
        let Some(Value::Object(fields)) = node else {
            return Err(mlua::Error::runtime("internal error: unknown lazy object"));
        };
        for (key, item) in fields {
            match item {
                Value::Null => {}
                Value::String(text) => table.raw_set(key.as_str(), text.as_str())?,
                Value::Number(number) => table.raw_set(key.as_str(), number.as_f64().unwrap_or(f64::NAN))?,
                Value::Bool(flag) => table.raw_set(key.as_str(), *flag)?,
                composite => table.raw_set(key.as_str(), self.convert(lua, composite, 1)?)?,
            }
        }
        Ok(())
    }
}
