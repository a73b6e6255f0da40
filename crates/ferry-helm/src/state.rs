//! Per-render state that gives template values Go's reference semantics.
//!
//! In Go, maps are references: `{{ $_ := set $d "k" 1 }}` changes `$d` for
//! everyone holding it. gotmpl's maps are immutable `Arc`s, so mutations are
//! recorded here, keyed by the identity (the `Arc` address) of the map, and
//! every read (field access, `range`, functions, printing) looks up the
//! current contents. Maps and lists that stand for Go objects with methods
//! (`.Files`, `.Capabilities.APIVersions`) are tagged here too.
//!
//! Every value registered is kept alive for the whole render, so an address
//! can never be reused by an unrelated value while the state exists.

use gotmpl::Value;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};

pub type GoMap = BTreeMap<Arc<str>, Value>;

/// A Go object with methods that a map or list stands for.
#[derive(Clone)]
pub enum Special {
    /// `.Files` or the result of `.Files.Glob`: path → content.
    Files(Arc<BTreeMap<String, Vec<u8>>>),
    /// `.Capabilities.APIVersions`.
    VersionSet,
    /// A Go struct with a `String()` method (`.Capabilities.KubeVersion`):
    /// printed as this text.
    Stringer(Arc<str>),
}

#[derive(Default)]
struct Registry {
    /// Any address we know → the canonical address of the map it stands for.
    canonical: HashMap<usize, usize>,
    /// Current contents of mutated maps, by canonical address.
    current: HashMap<usize, Arc<GoMap>>,
    special: HashMap<usize, Special>,
    keepalive: Vec<Value>,
}

#[derive(Default)]
pub struct State {
    registry: Mutex<Registry>,
    me: std::sync::Weak<State>,
    /// `derivePassword` master keys by (password, user): scrypt is costly by
    /// design, and charts derive many site passwords from one master.
    master_keys: Mutex<HashMap<(String, String), [u8; 64]>>,
}

pub fn address_of(value: &Value) -> Option<usize> {
    match value {
        Value::Map(m) => Some(Arc::as_ptr(m).cast::<()>() as usize),
        Value::List(l) => Some(Arc::as_ptr(l).cast::<()>() as usize),
        _ => None,
    }
}

impl State {
    /// A shared state that can hand out weak references to itself.
    pub fn new_shared() -> Arc<State> {
        Arc::new_cyclic(|me| State {
            registry: Mutex::new(Registry::default()),
            me: me.clone(),
            master_keys: Mutex::new(HashMap::new()),
        })
    }

    /// The master key for (password, user), derived once per render.
    pub(crate) fn master_key(&self, password: &str, user: &str) -> Result<[u8; 64], String> {
        let cache_key = (password.to_string(), user.to_string());
        let mut keys = self
            .master_keys
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(key) = keys.get(&cache_key) {
            return Ok(*key);
        }
        let key = crate::masterpass::master_key(password, user)?;
        keys.insert(cache_key, key);
        Ok(key)
    }

    pub fn self_weak(&self) -> std::sync::Weak<State> {
        self.me.clone()
    }

    fn lock(&self) -> MutexGuard<'_, Registry> {
        // A poisoned lock only means another function panicked mid-update;
        // the registry is still structurally sound.
        self.registry
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Tag a value as a Go object with methods.
    pub fn tag(&self, value: &Value, special: Special) {
        if let Some(addr) = address_of(value) {
            let mut reg = self.lock();
            reg.canonical.insert(addr, addr);
            reg.special.insert(addr, special);
            reg.keepalive.push(value.clone());
        }
    }

    pub fn special_of(&self, value: &Value) -> Option<Special> {
        let addr = address_of(value)?;
        let reg = self.lock();
        let canon = reg.canonical.get(&addr).copied().unwrap_or(addr);
        reg.special.get(&canon).cloned()
    }

    /// The current contents of a map (after `set`/`unset`/`merge`), as a value.
    pub fn current(&self, value: &Value) -> Value {
        if let Value::Map(_) = value
            && let Some(addr) = address_of(value)
        {
            let reg = self.lock();
            let canon = reg.canonical.get(&addr).copied().unwrap_or(addr);
            if let Some(cur) = reg.current.get(&canon) {
                return Value::Map(Arc::clone(cur));
            }
        }
        value.clone()
    }

    /// The current contents of a map argument, or `None` if it is not a map.
    pub fn map_of(&self, value: &Value) -> Option<Arc<GoMap>> {
        match self.current(value) {
            Value::Map(m) => Some(m),
            _ => None,
        }
    }

    /// The value with every nested map replaced by its current contents.
    pub fn deep_current(&self, value: &Value) -> Value {
        match self.current(value) {
            Value::Map(m) => {
                let resolved: GoMap = m
                    .iter()
                    .map(|(k, v)| (Arc::clone(k), self.deep_current(v)))
                    .collect();
                Value::Map(Arc::new(resolved))
            }
            Value::List(items) => Value::List(items.iter().map(|v| self.deep_current(v)).collect()),
            other => other,
        }
    }

    /// Change a map in place (as Go would) and return the map itself.
    pub fn mutate(&self, target: &Value, change: impl FnOnce(&mut GoMap)) -> Value {
        let Value::Map(original) = target else {
            return target.clone();
        };
        let Some(addr) = address_of(target) else {
            return target.clone();
        };
        let mut reg = self.lock();
        let canon = match reg.canonical.get(&addr) {
            Some(c) => *c,
            None => {
                reg.canonical.insert(addr, addr);
                reg.keepalive.push(target.clone());
                addr
            }
        };
        let mut contents = reg
            .current
            .get(&canon)
            .cloned()
            .unwrap_or_else(|| Arc::clone(original));
        change(Arc::make_mut(&mut contents));
        let new_value = Value::Map(Arc::clone(&contents));
        if let Some(new_addr) = address_of(&new_value) {
            reg.canonical.insert(new_addr, canon);
        }
        reg.keepalive.push(new_value);
        reg.current.insert(canon, contents);
        target.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mutation_is_visible_through_every_alias() {
        let state = State::default();
        let original = Value::Map(Arc::new(GoMap::new()));
        let alias = original.clone();
        state.mutate(&original, |m| {
            m.insert(Arc::from("k"), Value::Int(1));
        });
        let seen = state.current(&alias);
        assert_eq!(seen.field("k"), Some(&Value::Int(1)));
        // A mutation through the current contents lands on the same map.
        state.mutate(&seen, |m| {
            m.insert(Arc::from("j"), Value::Int(2));
        });
        let again = state.current(&original);
        assert_eq!(again.field("j"), Some(&Value::Int(2)));
        assert_eq!(again.field("k"), Some(&Value::Int(1)));
    }
}
