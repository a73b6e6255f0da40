//! The Lua runtime for health checks and resource actions.
//!
//! * **Dialect.** LuaJIT 2.1 in interpreter mode (the `jit` library is never opened, so nothing
//!   is compiled and the instruction hook always fires): Lua 5.1 plus `goto`, doubles only — the
//!   dialect of gopher-lua, which Argo CD uses.
//! * **One VM per thread, reused.** Each thread lazily creates one Lua state and keeps compiled
//!   chunks keyed by script text (at most [`CHUNK_CACHE_CAPACITY`]; the cache is emptied when
//!   full). [`LuaRuntime`] itself is plain configuration, `Send + Sync`, cheap to clone.
//! * **No leaks between evaluations.** The sandbox's `run` (one per VM) gives each evaluation a
//!   fresh global table and `setfenv`s the cached chunk onto it. Library tables (`string`,
//!   `table`, …) are per-evaluation proxies over the shared libraries, so `string.x = 1` or
//!   `table.insert = nil` only affect that evaluation; the shared metatables are protected
//!   (`getmetatable` returns `false`). The sandbox's own state (the lazy-object table, emptied
//!   before and after every evaluation; interned keys) is unreachable from scripts.
//! * **Cheap per evaluation.** Set-up, lazy `obj` bookkeeping and reading a health result happen
//!   in Lua; Rust is called once per object field a script reads (see `convert::LazyObjects`).
//! * **Numbers print as gopher-lua's** in `tostring`, `print` and `string.format("%s")` (see
//!   `number.rs`); the `..` operator keeps LuaJIT's `%.14g` (it cannot be hooked).
//! * **Limits.** A count hook checks a wall-clock deadline every [`HOOK_INTERVAL`] instructions
//!   (default budget 1 s, as Argo CD); `pcall`, `xpcall` and `coroutine.resume` re-raise a timeout
//!   so a script cannot swallow it. A memory cap applies to what the script allocates. Known gap:
//!   a single long-running C library call (e.g. a pathological `string.find` pattern on a large
//!   string) is not interrupted until it returns.
//! * **Libraries, as Argo CD opens them.** Always: the base functions, `table`, `package`
//!   (`require`), and `os` through `require("os")`. With open libraries (built-in scripts,
//!   `useOpenLibs`): also `string`, `math`, `coroutine` and a global `os`. `os` is always the safe
//!   subset `time`, `date`, `clock`. Never exposed, even with open libraries (a documented
//!   divergence from Argo CD, for security): `io`, `debug`, `os.execute`/`exit`/`remove`/`getenv`,
//!   `dofile`, `loadfile`, `load`, `loadstring` (LuaJIT would accept bytecode), `getfenv`/`setfenv`,
//!   `collectgarbage`, `module`. `print` goes to the debug log.

pub(crate) mod convert;
pub(crate) mod number;

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, HashMap};
use std::rc::Rc;
use std::time::{Duration, Instant};

use mlua::chunk::ChunkMode;
use mlua::prelude::{LuaGcIncParams as GcIncParams, LuaGcMode as GcMode};
use mlua::{Function, HookTriggers, Lua, LuaOptions, StdLib, Table, Value as LuaValue, VmState};
use serde_json::Value;

pub use convert::EncodeError;

/// Compiled chunks kept per thread before the cache is emptied.
pub const CHUNK_CACHE_CAPACITY: usize = 1024;
/// Distinct object keys interned per thread; later new keys are passed as strings.
const KEY_CACHE_CAPACITY: usize = 4096;
/// Garbage-collector pause (percent of live memory reached before a new cycle; Lua's default 200).
const GC_PAUSE_PERCENT: i32 = 1000;
/// Instructions between two deadline checks.
pub const HOOK_INTERVAL: u32 = 10_000;

/// Resource limits of one evaluation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LuaLimits {
    /// Wall-clock budget of one script run (Argo CD: 1 s).
    pub timeout: Duration,
    /// Bytes a script may allocate on top of what the VM already holds.
    pub memory_bytes: usize,
}

impl Default for LuaLimits {
    fn default() -> Self {
        LuaLimits {
            timeout: Duration::from_secs(1),
            memory_bytes: 32 * 1024 * 1024,
        }
    }
}

/// Which libraries a script sees.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Libraries {
    /// Argo CD's default for argocd-cm scripts: base, `table`, `package`, `require("os")`.
    Restricted,
    /// Built-in scripts and `useOpenLibs: true`: also `string`, `math`, `coroutine`, global `os`.
    Open,
}

impl Libraries {
    pub fn from_open_libs(open: bool) -> Self {
        if open {
            Libraries::Open
        } else {
            Libraries::Restricted
        }
    }
}

/// Why a script produced no usable result.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LuaError {
    /// The script does not compile.
    #[error("{0}")]
    Syntax(String),
    /// The script raised an error (message without stack trace, as Argo CD reports it).
    #[error("{0}")]
    Runtime(String),
    #[error("Lua script exceeded its time limit of {0:?}")]
    Timeout(Duration),
    #[error("Lua script exceeded its memory limit of {0} bytes")]
    Memory(usize),
    /// A health script returned something other than a table or nil.
    #[error("expect table output from Lua script, not {0}")]
    NotATable(&'static str),
    /// An action or discovery script returned something of the wrong shape.
    #[error("{0}")]
    InvalidOutput(String),
    /// The Lua state could not be set up or was used re-entrantly.
    #[error("Lua engine error: {0}")]
    Engine(String),
}

/// Configuration of the per-thread Lua VMs. Cheap to clone; every method is thread-safe.
#[derive(Debug, Clone, Default)]
pub struct LuaRuntime {
    limits: LuaLimits,
}

impl LuaRuntime {
    pub fn new(limits: LuaLimits) -> Self {
        LuaRuntime { limits }
    }

    pub fn limits(&self) -> LuaLimits {
        self.limits
    }

    /// Compiles `script` (and caches it), reporting syntax errors.
    pub fn check_compiles(&self, script: &str) -> Result<(), LuaError> {
        with_vm(|vm| vm.chunk(script).map(|_| ()))
    }

    /// Runs `script` with the global `obj` (and `actionParams`, if given) and hands its first
    /// return value to `read`, inside the VM.
    pub fn run<T>(
        &self,
        script: &str,
        libraries: Libraries,
        obj: &Value,
        action_params: Option<&BTreeMap<String, String>>,
        conversion: Conversion,
        read: impl FnOnce(&Lua, LuaValue) -> Result<T, LuaError>,
    ) -> Result<T, LuaError> {
        with_vm(|vm| {
            let output: LuaValue = vm.execute(
                script,
                libraries,
                obj,
                action_params,
                Shape::Raw(conversion),
                self.limits,
            )?;
            read(&vm.lua, output)
        })
    }

    /// Runs a health script against `obj` (converted lazily) and reads its result table inside
    /// the VM.
    pub(crate) fn run_health(
        &self,
        script: &str,
        libraries: Libraries,
        obj: &Value,
    ) -> Result<HealthOutput, LuaError> {
        with_vm(|vm| {
            let (kind, status, text, number): HealthReturn =
                vm.execute(script, libraries, obj, None, Shape::Health, self.limits)?;
            Ok(match kind {
                None => HealthOutput::NoHealth,
                Some(false) => HealthOutput::NotATable(status.unwrap_or_default()),
                Some(true) => HealthOutput::Table {
                    status,
                    message: match (text, number) {
                        (Some(text), _) => HealthMessage::Text(text),
                        (None, Some(number)) => HealthMessage::Number(number),
                        (None, None) => HealthMessage::Absent,
                    },
                },
            })
        })
    }
}

/// Runs `work` with this thread's VM, creating it on first use. A VM that reports an engine error
/// is dropped and rebuilt on the next call.
fn with_vm<T>(work: impl FnOnce(&mut Vm) -> Result<T, LuaError>) -> Result<T, LuaError> {
    thread_local! {
        static VM: RefCell<Option<Vm>> = const { RefCell::new(None) };
    }
    VM.with(|slot| {
        let mut slot = slot
            .try_borrow_mut()
            .map_err(|_| LuaError::Engine("Lua runtime used re-entrantly".into()))?;
        if slot.is_none() {
            *slot = Some(Vm::new().map_err(|err| LuaError::Engine(err.to_string()))?);
        }
        let Some(vm) = slot.as_mut() else {
            return Err(LuaError::Engine("Lua VM unavailable".into()));
        };
        let result = work(vm);
        if matches!(result, Err(LuaError::Engine(_))) {
            *slot = None;
        }
        result
    })
}

/// State shared by the hook and the guard functions.
#[derive(Default)]
struct Budget {
    deadline: Cell<Option<Instant>>,
    timed_out: Cell<bool>,
}

/// A fast non-cryptographic hasher for the chunk cache (FxHash's mixing step, 8 bytes at a time):
/// scripts are hashed on every evaluation, and SipHash over a kilobyte of text costs more than
/// running a small script. Cache keys are trusted configuration, so flooding is not a concern.
#[derive(Default, Clone, Copy)]
struct ScriptHasher(u64);

impl std::hash::Hasher for ScriptHasher {
    fn write(&mut self, bytes: &[u8]) {
        const SEED: u64 = 0x51_7c_c1_b7_27_22_0a_95;
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            let mut word = [0u8; 8];
            word.copy_from_slice(chunk);
            self.0 = (self.0.rotate_left(5) ^ u64::from_le_bytes(word)).wrapping_mul(SEED);
        }
        for byte in chunks.remainder() {
            self.0 = (self.0.rotate_left(5) ^ u64::from(*byte)).wrapping_mul(SEED);
        }
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

type ChunkCache = HashMap<String, Function, std::hash::BuildHasherDefault<ScriptHasher>>;

struct Vm {
    lua: Lua,
    chunks: ChunkCache,
    /// The chunk used last, with its script text.
    last_chunk: Option<(Box<str>, Function)>,
    /// The sandbox's `run(chunk, open_libs, obj, fetch, pending, params)`.
    runner: Function,
    lazy_meta: Table,
    /// The sandbox's `pending` table (lazy table -> node id), emptied after each evaluation.
    pending: Table,
    /// Interned object keys: the sandbox passes a key seen before as its index here.
    key_names: RefCell<Vec<Box<[u8]>>>,
    budget: Rc<Budget>,
}

/// Marker raised when the deadline passes; never shown to users.
const TIMEOUT_MARKER: &str = "ferry: Lua time limit exceeded";

/// Builds the sandbox. Runs in the fresh state with full privileges, then only hands the script
/// the pieces listed in the module documentation.
const SANDBOX_SETUP: &str = r##"
local base_names, timed_out, print_fn, marker, new_table, clear_table, pending, go_number, key_slots = ...
local key_ids = {}
local rawget, rawset, setmetatable, getmetatable, error, type, select, unpack, setfenv =
      rawget, rawset, setmetatable, getmetatable, error, type, select, unpack, setfenv
local real_pcall, real_xpcall, real_resume = pcall, xpcall, coroutine.resume

local function guard(ok, ...)
  if timed_out() then error(marker, 0) end
  return ok, ...
end

local base = {}
for _, name in ipairs(base_names) do base[name] = _G[name] end

-- Lazy `obj` support (see convert::LazyObjects). For one evaluation `run` installs `fetch`, a
-- Rust callback over the JSON object; `pending` (lazy table -> node id) lives as long as the VM
-- and is cleared between evaluations. A read of a missing key converts just that field;
-- pairs/next or a write converts the rest of the level first. Keys are interned: once Rust has
-- seen a key string it hands back a number, so later evaluations pass the key as a number.
local fetch = nil
local lazy_meta = { __metatable = false }
local function fill(t)
  local id = pending[t]
  if id ~= nil then
    pending[t] = nil
    fetch(id, nil, t)
  end
end
lazy_meta.__index = function(t, k)
  local id = pending[t]
  if id == nil then return nil end
  local v, text, child, new_key
  local key = key_ids[k]
  if key ~= nil then
    v, text, child = fetch(id * key_slots + key)
  elseif type(k) == "string" then
    v, text, child, new_key = fetch(id, k)
    if new_key ~= nil then key_ids[k] = new_key end
  else
    return nil
  end
  if text ~= nil then
    v = text
  elseif child ~= nil then
    v = setmetatable(new_table(0, 4), lazy_meta)
    pending[v] = child
  end
  if v ~= nil then rawset(t, k, v) end
  return v
end
lazy_meta.__newindex = function(t, k, v)
  fill(t)
  rawset(t, k, v)
end
local real_pairs, real_next = pairs, next
base.pairs = function(t) fill(t) return real_pairs(t) end
base.next = function(t, k) fill(t) return real_next(t, k) end
base.pcall = function(...) return guard(real_pcall(...)) end
base.xpcall = function(...) return guard(real_xpcall(...)) end
base.print = print_fn

-- Numbers print as gopher-lua prints them (see number.rs): integers in the int64 range as all
-- their digits, other values as Go's shortest float form. `%.14g` (LuaJIT's own conversion) is
-- already exact for integers below 1e14, so only the rest goes to Rust. The `..` operator cannot
-- be hooked and keeps LuaJIT's conversion (documented divergence).
local real_tostring = tostring
local function number_string(n)
  if n % 1 == 0 and n > -1e14 and n < 1e14 then
    if n == 0 then return "0" end
    return real_tostring(n)
  end
  return go_number(n)
end
base.tostring = function(...)
  if select("#", ...) == 0 then error("bad argument #1 to 'tostring' (value expected)", 2) end
  local v = ...
  if type(v) == "number" then return number_string(v) end
  return real_tostring(v)
end
-- string.format("%s", n) formats n like tostring, as Go's fmt does for gopher-lua numbers. The
-- real `string` table is only reachable through the sandbox, so the method form
-- `("%s"):format(n)` gets this too.
do
  local format, gmatch = string.format, string.gmatch
  string.format = function(pattern, ...)
    local count = select("#", ...)
    if count == 0 or type(pattern) ~= "string" then return format(pattern, ...) end
    local args, index = nil, 0
    for conversion in gmatch(pattern, "%%[-+ #0]*%d*%.?%d*([%a%%])") do
      if conversion ~= "%" then
        index = index + 1
        if conversion == "s" and type((select(index, ...))) == "number" then
          args = args or { ... }
          args[index] = number_string(args[index])
        end
      end
    end
    if args == nil then return format(pattern, ...) end
    return format(pattern, unpack(args, 1, count))
  end
end
base._VERSION = "Lua 5.1"

local function copy(t)
  local out = {}
  for k, v in pairs(t) do out[k] = v end
  return out
end
local safe_os = { time = os.time, date = os.date, clock = os.clock }
local co = copy(coroutine)
co.resume = function(...) return guard(real_resume(...)) end
local libs = { string = string, table = table, math = math, coroutine = co, os = safe_os }

local metas = {}
for name, lib in pairs(libs) do metas[name] = { __index = lib, __metatable = false } end
local string_meta = getmetatable("")
string_meta.__metatable = false

local function make_env_meta(globals, requirable)
  local meta = { __metatable = false }
  meta.__index = function(env, key)
    local value
    if key == "_G" then
      value = env
    elseif key == "require" then
      local loaded = {}
      value = function(name)
        if type(name) ~= "string" then
          error("bad argument #1 to 'require' (string expected, got " .. type(name) .. ")", 2)
        end
        if globals[name] then return env[name] end
        if loaded[name] == nil then
          local m = requirable[name]
          if m == nil then error("module '" .. name .. "' not found", 2) end
          loaded[name] = setmetatable({}, m)
        end
        return loaded[name]
      end
    elseif key == "package" then
      value = { loaded = {}, preload = {}, path = "", cpath = "" }
    else
      value = base[key]
      if value == nil then
        local m = globals[key]
        if m == nil then return nil end
        value = setmetatable({}, m)
      end
    end
    rawset(env, key, value)
    return value
  end
  return meta
end

local open = make_env_meta(
  { string = metas.string, table = metas.table, math = metas.math, coroutine = metas.coroutine, os = metas.os },
  {})
local restricted = make_env_meta({ table = metas.table }, { os = metas.os })

-- Strip the real global table too: nothing dangerous stays reachable from it.
for _, name in ipairs({ "io", "os", "debug", "dofile", "loadfile", "load", "loadstring",
                        "getfenv", "setfenv", "collectgarbage", "module", "require", "package",
                        "newproxy", "gcinfo", "jit", "bit", "ffi" }) do
  _G[name] = nil
end
-- One evaluation: a fresh global table over the shared read-only libraries, `obj` either given
-- (converted by Rust) or a lazy root over node 0.
local function finish(...)
  fetch = nil
  clear_table(pending)
  return ...
end
-- A health script's result, read here rather than through the C API (several times cheaper):
-- nil → no health; false, type → not a table; true, status (a string or nil), message text,
-- message number. Keys match case-insensitively when the exact key is absent, as Go's JSON
-- decoding does; `{}` and pure lists mean "no health" (gopher-json encodes them as arrays).
local lower = string.lower
local function health_result(out)
  if out == nil then
    fetch = nil
    clear_table(pending)
    return nil
  end
  if type(out) ~= "table" then
    fetch = nil
    clear_table(pending)
    return false, type(out)
  end
  -- A script may return a part of `obj` itself (`return obj.status.health`).
  fill(out)
  fetch = nil
  clear_table(pending)
  local status, message = rawget(out, "status"), rawget(out, "message")
  if status == nil or message == nil then
    local entries, string_keys = false, false
    for k, v in real_next, out do
      entries = true
      if type(k) == "string" then
        string_keys = true
        local key = lower(k)
        if key == "status" then
          if status == nil then status = v end
        elseif key == "message" then
          if message == nil then message = v end
        end
      end
    end
    if not (entries and string_keys) then return nil end
  end
  if type(status) ~= "string" then status = nil end
  local kind = type(message)
  if kind == "string" then return true, status, message, nil end
  if kind == "number" then return true, status, nil, message end
  return true, status, nil, nil
end
local function run(chunk, open_libs, obj, fetch_fn, params, health)
  local env = setmetatable(new_table(0, 4), open_libs and open or restricted)
  -- A previous evaluation that failed did not reach `finish`.
  clear_table(pending)
  if fetch_fn ~= nil then
    fetch = fetch_fn
    obj = setmetatable(new_table(0, 4), lazy_meta)
    pending[obj] = 0
  end
  rawset(env, "obj", obj)
  if params ~= nil then rawset(env, "actionParams", params) end
  setfenv(chunk, env)
  if health then return health_result(chunk()) end
  return finish(chunk())
end
return run, lazy_meta
"##;

const BASE_FUNCTIONS: [&str; 17] = [
    "assert",
    "error",
    "ipairs",
    "next",
    "pairs",
    "rawequal",
    "rawget",
    "rawset",
    "select",
    "setmetatable",
    "getmetatable",
    "tonumber",
    "tostring",
    "type",
    "unpack",
    "pcall",
    "xpcall",
];

impl Vm {
    fn new() -> mlua::Result<Vm> {
        // Never StdLib::JIT: with it LuaJIT compiles loops and the count hook stops firing.
        let libs = StdLib::TABLE | StdLib::STRING | StdLib::MATH | StdLib::OS;
        let lua = Lua::new_with(libs, LuaOptions::default())?;
        // Each evaluation leaves a few small tables of garbage over a small live heap; starting a
        // cycle only when the heap has grown to 10x (not 2x) the live size cuts the marking work,
        // at the cost of a MiB or two per thread.
        lua.gc_set_mode(GcMode::Incremental(
            GcIncParams::default().pause(GC_PAUSE_PERCENT),
        ));
        let budget = Rc::new(Budget::default());

        let hook_budget = Rc::clone(&budget);
        lua.set_global_hook(
            HookTriggers::new().every_nth_instruction(HOOK_INTERVAL),
            move |_, _| {
                if let Some(deadline) = hook_budget.deadline.get()
                    && (hook_budget.timed_out.get() || Instant::now() >= deadline)
                {
                    hook_budget.timed_out.set(true);
                    return Err(mlua::Error::runtime(TIMEOUT_MARKER));
                }
                Ok(VmState::Continue)
            },
        )?;

        let flag_budget = Rc::clone(&budget);
        let timed_out = lua.create_function(move |_, ()| Ok(flag_budget.timed_out.get()))?;
        let go_number = lua.create_function(|_, number: f64| Ok(number::go_number_string(number)))?;
        let print = lua.create_function(|_, args: mlua::Variadic<LuaValue>| {
            let text: Vec<String> = args
                .iter()
                .map(|value| match value {
                    LuaValue::Number(number) => number::go_number_string(*number),
                    LuaValue::Integer(int) => int.to_string(),
                    other => other.to_string().unwrap_or_else(|_| other.type_name().to_owned()),
                })
                .collect();
            tracing::debug!(target: "ferry_health::lua", "{}", text.join("\t"));
            Ok(())
        })?;
        // LuaJIT's `table.new(narray, nhash)` pre-sizes the sandbox's own tables; it stays private
        // to the sandbox (scripts have no `require` of it).
        let preload: Table = lua.named_registry_value("_PRELOAD")?;
        let table_new: Function = preload.get::<Function>("table.new")?.call(())?;
        let table_clear: Function = preload.get::<Function>("table.clear")?.call(())?;
        let pending = lua.create_table_with_capacity(0, 32)?;
        let (runner, lazy_meta): (Function, Table) =
            lua.load(SANDBOX_SETUP).set_name("=ferry-sandbox").call((
                BASE_FUNCTIONS,
                timed_out,
                print,
                TIMEOUT_MARKER,
                table_new,
                table_clear,
                &pending,
                go_number,
                KEY_CACHE_CAPACITY,
            ))?;
        Ok(Vm {
            lua,
            chunks: ChunkCache::default(),
            last_chunk: None,
            runner,
            lazy_meta,
            pending,
            key_names: RefCell::new(Vec::new()),
            budget,
        })
    }

    fn chunk(&mut self, script: &str) -> Result<Function, LuaError> {
        // Consecutive evaluations mostly run the same script: comparing it with the last one is
        // cheaper than hashing a kilobyte of text.
        if let Some((text, function)) = &self.last_chunk
            && **text == *script
        {
            return Ok(function.clone());
        }
        if let Some(function) = self.chunks.get(script) {
            self.last_chunk = Some((script.into(), function.clone()));
            return Ok(function.clone());
        }
        let function = self
            .lua
            .load(script)
            // gopher-lua names string chunks `<string>`; error positions then read the same.
            .set_name("=<string>")
            .set_mode(ChunkMode::Text)
            .into_function()
            .map_err(|err| match err {
                mlua::Error::SyntaxError { message, .. } => LuaError::Syntax(message),
                other => LuaError::Syntax(other.to_string()),
            })?;
        if self.chunks.len() >= CHUNK_CACHE_CAPACITY {
            self.chunks.clear();
        }
        self.chunks.insert(script.to_owned(), function.clone());
        self.last_chunk = Some((script.into(), function.clone()));
        Ok(function)
    }

    fn execute<R: mlua::FromLuaMulti>(
        &mut self,
        script: &str,
        libraries: Libraries,
        obj: &Value,
        action_params: Option<&BTreeMap<String, String>>,
        shape: Shape,
        limits: LuaLimits,
    ) -> Result<R, LuaError> {
        let function = self.chunk(script)?;
        let (health, conversion) = match shape {
            Shape::Raw(conversion) => (false, conversion),
            Shape::Health => (true, Conversion::Lazy),
        };
        let open_libs = libraries == Libraries::Open;
        // Tables are built before the memory cap is set: mlua takes a faster, unprotected path for
        // table writes when no cap is active, and the input's size is bounded by the caller.
        let params = match action_params {
            None => None,
            Some(params) => {
                let table = self
                    .lua
                    .create_table_with_capacity(0, params.len())
                    .map_err(engine)?;
                for (name, value) in params {
                    table.raw_set(name.as_str(), value.as_str()).map_err(engine)?;
                }
                Some(table)
            }
        };

        let fields = match (conversion, obj) {
            (Conversion::Lazy, Value::Object(fields)) => fields,
            _ => {
                let obj_value = convert::json_to_lua(&self.lua, obj).map_err(conversion_error)?;
                let args = (function, open_libs, obj_value, LuaValue::Nil, params, health);
                return self.call_limited(args, limits);
            }
        };
        let lazy = convert::LazyObjects::new(&self.lazy_meta, &self.pending, fields);
        let key_names = &self.key_names;
        let outcome = self.lua.scope(|scope| {
            // fetch(id * KEY_CACHE_CAPACITY + key_number) converts one field by interned key;
            // fetch(id, key_string) one field by a key seen for the first time;
            // fetch(id, nil, table) fills the rest of a level.
            let fetch = scope.create_function(
                |lua, (number, key, target): (f64, Option<mlua::LuaString>, Option<Table>)| {
                    if let Some(table) = target {
                        // Copying the input is not the script's allocation: lift the cap while
                        // filling one level (mlua also takes its faster unprotected paths then),
                        // and restore it shifted by what was added.
                        let before = lua.used_memory();
                        let cap = lua.set_memory_limit(0)?;
                        let filled = lazy.materialize(lua, &table, number as usize);
                        if cap != 0 {
                            let added = lua.used_memory().saturating_sub(before);
                            lua.set_memory_limit(cap.saturating_add(added))?;
                        }
                        filled?;
                        return Ok(convert::with_key_id(convert::NOTHING_FETCHED, None));
                    }
                    if let Some(key) = key {
                        let key = key.as_bytes();
                        let fetched = lazy.fetch(lua, number as usize, &key)?;
                        let mut names = key_names.borrow_mut();
                        let new_id = (names.len() < KEY_CACHE_CAPACITY).then(|| {
                            names.push(key.to_vec().into_boxed_slice());
                            names.len() - 1
                        });
                        return Ok(convert::with_key_id(fetched, new_id));
                    }
                    let packed = number as usize;
                    let (id, key_index) = (packed / KEY_CACHE_CAPACITY, packed % KEY_CACHE_CAPACITY);
                    let names = key_names.borrow();
                    let fetched = match names.get(key_index) {
                        Some(name) => lazy.fetch(lua, id, name)?,
                        None => convert::NOTHING_FETCHED,
                    };
                    Ok(convert::with_key_id(fetched, None))
                },
            )?;
            let args = (function, open_libs, LuaValue::Nil, fetch, params, health);
            Ok(self.call_limited(args, limits))
        });
        outcome.map_err(engine)?
    }

    /// Runs a chunk through the sandbox's `run` under the time and memory limits.
    fn call_limited<R: mlua::FromLuaMulti>(
        &self,
        args: impl mlua::IntoLuaMulti,
        limits: LuaLimits,
    ) -> Result<R, LuaError> {
        let cap = self.lua.used_memory().saturating_add(limits.memory_bytes);
        self.lua.set_memory_limit(cap).map_err(engine)?;
        self.budget.timed_out.set(false);
        self.budget.deadline.set(Some(Instant::now() + limits.timeout));
        let outcome = self.runner.call::<R>(args);
        self.budget.deadline.set(None);
        let timed_out = self.budget.timed_out.replace(false);
        self.lua.set_memory_limit(0).map_err(engine)?;

        match outcome {
            Ok(value) => Ok(value),
            Err(_) if timed_out => Err(LuaError::Timeout(limits.timeout)),
            Err(err) => {
                let mapped = map_runtime_error(err, limits);
                if matches!(mapped, LuaError::Memory(_)) {
                    // Free the failed allocation's garbage now rather than charging the next run.
                    self.lua.gc_collect().map_err(engine)?;
                }
                Err(mapped)
            }
        }
    }
}

/// What the sandbox's `run` returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    /// The chunk's first return value, `obj` converted as given.
    Raw(Conversion),
    /// A health result, read by the sandbox (see `health_result` there); `obj` converted lazily.
    Health,
}

/// `health_result`'s return values.
type HealthReturn = (Option<bool>, Option<String>, Option<String>, Option<f64>);

/// A health script's output as read by the sandbox.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum HealthOutput {
    /// `nil`, `{}` or a list.
    NoHealth,
    /// Not a table; carries the Lua type name.
    NotATable(String),
    /// A table: `status` when it is a string, and its message.
    Table {
        status: Option<String>,
        message: HealthMessage,
    },
}

/// The `message` field of a health result.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum HealthMessage {
    Text(String),
    Number(f64),
    /// Absent or of another type: an empty message.
    Absent,
}

/// How `obj` is handed to a script.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Conversion {
    /// Convert the whole object up front (actions: the result is read back as JSON).
    Eager,
    /// Convert levels on first use (health scripts: they read a few fields).
    Lazy,
}

fn engine(err: mlua::Error) -> LuaError {
    LuaError::Engine(err.to_string())
}

fn conversion_error(err: mlua::Error) -> LuaError {
    match err {
        mlua::Error::RuntimeError(message) => LuaError::InvalidOutput(message),
        other => engine(other),
    }
}

fn map_runtime_error(err: mlua::Error, limits: LuaLimits) -> LuaError {
    match err {
        mlua::Error::MemoryError(_) => LuaError::Memory(limits.memory_bytes),
        mlua::Error::CallbackError { cause, .. } => map_runtime_error((*cause).clone(), limits),
        mlua::Error::RuntimeError(message) => {
            // A memory error inside a protected call resurfaces as a runtime error.
            if message.contains("not enough memory") {
                return LuaError::Memory(limits.memory_bytes);
            }
            LuaError::Runtime(strip_traceback(&message))
        }
        other => LuaError::Runtime(strip_traceback(&other.to_string())),
    }
}

/// Argo CD strips the Lua stack trace from runtime errors; so does Ferry.
fn strip_traceback(message: &str) -> String {
    message
        .split("\nstack traceback:")
        .next()
        .unwrap_or(message)
        .trim_end()
        .to_owned()
}

#[cfg(test)]
mod tests;
