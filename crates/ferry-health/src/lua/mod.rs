//! The Lua runtime for health checks and resource actions.
//!
//! * **Dialect.** LuaJIT 2.1 in interpreter mode (the `jit` library is never opened, so nothing
//!   is compiled and the instruction hook always fires): Lua 5.1 plus `goto`, doubles only — the
//!   dialect of gopher-lua, which Argo CD uses.
//! * **One VM per thread, reused.** Each thread lazily creates one Lua state and keeps compiled
//!   chunks keyed by script text (at most [`CHUNK_CACHE_CAPACITY`]; the cache is emptied when
//!   full). [`LuaRuntime`] itself is plain configuration, `Send + Sync`, cheap to clone.
//! * **No leaks between evaluations.** Each evaluation runs the cached chunk with a fresh global
//!   table. Library tables (`string`, `table`, …) are per-evaluation proxies over the shared
//!   libraries, so `string.x = 1` or `table.insert = nil` only affect that evaluation; the shared
//!   metatables are protected (`getmetatable` returns `false`).
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

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, HashMap};
use std::rc::Rc;
use std::time::{Duration, Instant};

use mlua::chunk::ChunkMode;
use mlua::{Function, HookTriggers, Lua, LuaOptions, StdLib, Table, Value as LuaValue, VmState};
use serde_json::Value;

pub use convert::EncodeError;

/// Compiled chunks kept per thread before the cache is emptied.
pub const CHUNK_CACHE_CAPACITY: usize = 1024;
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
            let output = vm.execute(script, libraries, obj, action_params, conversion, self.limits)?;
            read(&vm.lua, output)
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
    env_meta_open: Table,
    env_meta_restricted: Table,
    hooks: Table,
    lazy_meta: Table,
    budget: Rc<Budget>,
}

/// Marker raised when the deadline passes; never shown to users.
const TIMEOUT_MARKER: &str = "ferry: Lua time limit exceeded";

/// Builds the sandbox. Runs in the fresh state with full privileges, then only hands the script
/// the pieces listed in the module documentation.
const SANDBOX_SETUP: &str = r#"
local base_names, timed_out, print_fn, marker = ...
local rawget, rawset, setmetatable, getmetatable, error, type, select, unpack =
      rawget, rawset, setmetatable, getmetatable, error, type, select, unpack
local real_pcall, real_xpcall, real_resume = pcall, xpcall, coroutine.resume

local function guard(ok, ...)
  if timed_out() then error(marker, 0) end
  return ok, ...
end

local base = {}
for _, name in ipairs(base_names) do base[name] = _G[name] end

-- Lazy `obj` support (see convert::LazyObjects). For one evaluation Rust sets
-- `hooks.materialize` and `hooks.pending` (lazy table -> node id).
local hooks = {}
local lazy_meta = { __metatable = false }
local function fill(t)
  local pending = hooks.pending
  local id = pending and pending[t]
  if id ~= nil then
    pending[t] = nil
    hooks.materialize(t, id)
  end
end
lazy_meta.__index = function(t, k)
  local pending = hooks.pending
  if pending == nil or pending[t] == nil then return nil end
  fill(t)
  return rawget(t, k)
end
lazy_meta.__newindex = function(t, k, v)
  fill(t)
  rawset(t, k, v)
end
hooks.lazy_meta = lazy_meta
local real_pairs, real_next = pairs, next
base.pairs = function(t) fill(t) return real_pairs(t) end
base.next = function(t, k) fill(t) return real_next(t, k) end
base.pcall = function(...) return guard(real_pcall(...)) end
base.xpcall = function(...) return guard(real_xpcall(...)) end
base.print = print_fn
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
return open, restricted, hooks
"#;

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
        let print = lua.create_function(|_, args: mlua::Variadic<LuaValue>| {
            let text: Vec<String> = args
                .iter()
                .map(|value| value.to_string().unwrap_or_else(|_| value.type_name().to_owned()))
                .collect();
            tracing::debug!(target: "ferry_health::lua", "{}", text.join("\t"));
            Ok(())
        })?;
        let (env_meta_open, env_meta_restricted, hooks): (Table, Table, Table) = lua
            .load(SANDBOX_SETUP)
            .set_name("=ferry-sandbox")
            .call((BASE_FUNCTIONS, timed_out, print, TIMEOUT_MARKER))?;
        Ok(Vm {
            lua,
            chunks: ChunkCache::default(),
            env_meta_open,
            env_meta_restricted,
            lazy_meta: hooks.get("lazy_meta")?,
            hooks,
            budget,
        })
    }

    fn chunk(&mut self, script: &str) -> Result<Function, LuaError> {
        if let Some(function) = self.chunks.get(script) {
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
        Ok(function)
    }

    fn execute(
        &mut self,
        script: &str,
        libraries: Libraries,
        obj: &Value,
        action_params: Option<&BTreeMap<String, String>>,
        conversion: Conversion,
        limits: LuaLimits,
    ) -> Result<LuaValue, LuaError> {
        let function = self.chunk(script)?;
        // Tables are built before the memory cap is set: mlua takes a faster, unprotected path for
        // table writes when no cap is active, and the input's size is bounded by the caller.
        let env = self.lua.create_table_with_capacity(0, 8).map_err(engine)?;
        let meta = match libraries {
            Libraries::Open => &self.env_meta_open,
            Libraries::Restricted => &self.env_meta_restricted,
        };
        env.set_metatable(Some(meta.clone())).map_err(engine)?;
        if let Some(params) = action_params {
            let table = self
                .lua
                .create_table_with_capacity(0, params.len())
                .map_err(engine)?;
            for (name, value) in params {
                table.raw_set(name.as_str(), value.as_str()).map_err(engine)?;
            }
            env.raw_set("actionParams", table).map_err(engine)?;
        }
        function.set_environment(env.clone()).map_err(engine)?;

        match conversion {
            Conversion::Eager => {
                let obj_value = convert::json_to_lua(&self.lua, obj).map_err(conversion_error)?;
                env.raw_set("obj", obj_value).map_err(engine)?;
                self.call_limited(&function, limits)
            }
            Conversion::Lazy => {
                let pending = self.lua.create_table().map_err(engine)?;
                self.hooks.raw_set("pending", &pending).map_err(engine)?;
                let lazy = convert::LazyObjects::new(self.lazy_meta.clone(), pending);
                let root = lazy.convert(&self.lua, obj, 0).map_err(conversion_error)?;
                env.raw_set("obj", root).map_err(engine)?;
                let outcome = self.lua.scope(|scope| {
                    let materialize = scope.create_function(|lua, (table, id): (Table, usize)| {
                        // Copying the input is not the script's allocation: lift the cap while
                        // filling one level (mlua also takes its faster unprotected paths then),
                        // and restore it shifted by what was added.
                        let before = lua.used_memory();
                        let cap = lua.set_memory_limit(0)?;
                        let filled = lazy.materialize(lua, &table, id);
                        if cap != 0 {
                            let added = lua.used_memory().saturating_sub(before);
                            lua.set_memory_limit(cap.saturating_add(added))?;
                        }
                        filled
                    })?;
                    self.hooks.raw_set("materialize", materialize)?;
                    let outcome = self.call_limited(&function, limits);
                    self.hooks.raw_set("materialize", LuaValue::Nil)?;
                    self.hooks.raw_set("pending", LuaValue::Nil)?;
                    Ok(outcome)
                });
                outcome.map_err(engine)?
            }
        }
    }

    /// Calls `function` under the time and memory limits.
    fn call_limited(&self, function: &Function, limits: LuaLimits) -> Result<LuaValue, LuaError> {
        let cap = self.lua.used_memory().saturating_add(limits.memory_bytes);
        self.lua.set_memory_limit(cap).map_err(engine)?;
        self.budget.timed_out.set(false);
        self.budget.deadline.set(Some(Instant::now() + limits.timeout));
        let outcome = function.call::<LuaValue>(());
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
