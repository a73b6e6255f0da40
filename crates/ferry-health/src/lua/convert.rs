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

use std::cell::RefCell;

use super::number::TWO_POW_63;

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
    // Integral values in the int64 range are integers: Go's encoding/json prints them as digits
    // and Kubernetes reads them back as int64. (Every such double converts to i64 exactly.)
    if number.fract() == 0.0 && (-TWO_POW_63..TWO_POW_63).contains(&number) {
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

/// What [`LazyObjects::fetch`] hands back to the sandbox's `__index`: a scalar or array value,
/// a string (returned borrowed, so no Lua string handle is created on the Rust side), or the node
/// id of an object for which Lua creates a new lazy table.
pub(crate) type Fetched<'a> = (LuaValue, Option<&'a str>, Option<usize>);

/// No value: the key is absent, `null`, or was already handed out.
pub(crate) const NOTHING_FETCHED: Fetched<'static> = (LuaValue::Nil, None, None);

/// [`Fetched`] plus the number the sandbox may use for the key from now on.
pub(crate) type FetchedWithKey<'a> = (LuaValue, Option<&'a str>, Option<usize>, Option<usize>);

pub(crate) fn with_key_id(fetched: Fetched<'_>, key_id: Option<usize>) -> FetchedWithKey<'_> {
    (fetched.0, fetched.1, fetched.2, key_id)
}

/// One JSON object seen by a script, and where its per-field "already converted" flags start.
struct LazyNode<'a> {
    fields: &'a Map<String, Value>,
    first_flag: usize,
}

/// Lazy conversion for health scripts: JSON objects become empty tables that fill themselves on
/// first use, field by field, so a script pays only for the fields it touches.
///
/// A lazy table carries the shared `lazy_meta` metatable and has an entry in the `pending`
/// table (the sandbox's, emptied after every evaluation) mapping it to its node id. Reading a
/// missing key calls [`LazyObjects::fetch`], which converts that one field (objects as new lazy tables, arrays as complete tables — so `#`,
/// `ipairs` and `table.*` behave — whose object elements are lazy); the sandbox caches it in the
/// table. `pairs`/`next` on the table (the sandbox wraps both) or a write to a missing key calls
/// [`LazyObjects::materialize`] first, which copies every field not handed out yet and ends the
/// laziness. Each field is handed out at most once, so a field the script removed (`t.k = nil`)
/// stays removed.
pub(crate) struct LazyObjects<'a> {
    nodes: RefCell<Vec<LazyNode<'a>>>,
    /// Per field of every node: already converted into its table.
    fetched: RefCell<Vec<bool>>,
    lazy_meta: &'a Table,
    pending: &'a Table,
}

impl<'a> LazyObjects<'a> {
    /// Lazy objects whose node 0 is `root`.
    pub(crate) fn new(lazy_meta: &'a Table, pending: &'a Table, root: &'a Map<String, Value>) -> Self {
        let objects = LazyObjects {
            nodes: RefCell::new(Vec::with_capacity(16)),
            fetched: RefCell::new(Vec::with_capacity(64)),
            lazy_meta,
            pending,
        };
        objects.register(root);
        objects
    }

    fn register(&self, fields: &'a Map<String, Value>) -> usize {
        let mut fetched = self.fetched.borrow_mut();
        let mut nodes = self.nodes.borrow_mut();
        nodes.push(LazyNode {
            fields,
            first_flag: fetched.len(),
        });
        let flags = fetched.len() + fields.len();
        fetched.resize(flags, false);
        nodes.len() - 1
    }

    /// Converts field `key` of node `id`, once.
    pub(crate) fn fetch(&self, lua: &Lua, id: usize, key: &[u8]) -> mlua::Result<Fetched<'a>> {
        let value = {
            let nodes = self.nodes.borrow();
            let Some(node) = nodes.get(id) else {
                return Err(mlua::Error::runtime("internal error: unknown lazy object"));
            };
            // Objects are small; a scan also yields the field's position for its flag.
            let Some((index, value)) = node
                .fields
                .iter()
                .enumerate()
                .find_map(|(index, (name, value))| (name.as_bytes() == key).then_some((index, value)))
            else {
                return Ok(NOTHING_FETCHED);
            };
            let mut fetched = self.fetched.borrow_mut();
            match fetched.get_mut(node.first_flag + index) {
                Some(flag) if !*flag => *flag = true,
                _ => return Ok(NOTHING_FETCHED),
            }
            value
        };
        Ok(match value {
            Value::Null => NOTHING_FETCHED,
            Value::String(text) => (LuaValue::Nil, Some(text.as_str()), None),
            Value::Number(number) => (LuaValue::Number(number.as_f64().unwrap_or(f64::NAN)), None, None),
            Value::Bool(flag) => (LuaValue::Boolean(*flag), None, None),
            Value::Object(fields) => (LuaValue::Nil, None, Some(self.register(fields))),
            Value::Array(_) => (self.convert(lua, value, 1)?, None, None),
        })
    }

    /// The Lua value standing for `value` (a lazy table for objects).
    fn convert(&self, lua: &Lua, value: &'a Value, depth: usize) -> mlua::Result<LuaValue> {
        if depth > MAX_DEPTH {
            return Err(mlua::Error::runtime("object nested too deeply"));
        }
        Ok(match value {
            Value::Object(fields) => {
                let table = lua.create_table_with_capacity(0, fields.len())?;
                table.set_metatable(Some(self.lazy_meta.clone()))?;
                let id = self.register(fields);
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

    /// Copies every field of node `id` not handed out yet into `table`.
    pub(crate) fn materialize(&self, lua: &Lua, table: &Table, id: usize) -> mlua::Result<()> {
        let (fields, first_flag) = match self.nodes.borrow().get(id) {
            Some(node) => (node.fields, node.first_flag),
            None => return Err(mlua::Error::runtime("internal error: unknown lazy object")),
        };
        for (index, (key, item)) in fields.iter().enumerate() {
            {
                let mut fetched = self.fetched.borrow_mut();
                match fetched.get_mut(first_flag + index) {
                    Some(flag) if !*flag => *flag = true,
                    _ => continue,
                }
            }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_encode_like_gopher_json_read_back_by_kubernetes() {
        // (Lua number, JSON text Argo CD ends up with)
        let cases: [(f64, &str); 9] = [
            (3.0, "3"),
            (-0.0, "0"),
            (0.5, "0.5"),
            (1e15, "1000000000000000"),
            (9_007_199_254_740_994.0, "9007199254740994"),
            (1e18, "1000000000000000000"),
            (-TWO_POW_63, "-9223372036854775808"),
            (1e21, "1e+21"),
            (1.5e300, "1.5e+300"),
        ];
        for (number, expected) in cases {
            let encoded = number_to_json(number).map(|value| value.to_string());
            assert_eq!(encoded.as_deref(), Ok(expected), "{number:?}");
        }
        assert_eq!(number_to_json(f64::NAN), Err(EncodeError::NonFinite));
    }
}
