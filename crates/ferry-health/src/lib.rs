//! Argo CD-compatible health assessment: built-in checks and Lua customizations.
//!
//! Entry points:
//! * [`assess`] / [`assess_with`]: the health of one live object, given the `argocd-cm`
//!   [`ResourceOverrides`];
//! * [`aggregate::aggregate`] and [`aggregate::resource_state`]: application health;
//! * [`ResourceOverrides::from_config_map`]: `argocd-cm` parsing, with warnings;
//! * [`LuaRuntime`], [`script::eval_health_script`], [`actions`]: the Lua engine;
//! * [`suite`]: Argo CD-format test suites (`health_test.yaml`, `action_test.yaml`);
//! * [`conditions`]: `argocd-cm` warnings as Application conditions and events.

pub mod actions;
pub mod aggregate;
pub mod assess;
pub mod builtin;
pub mod conditions;
pub mod lua;
pub mod script;
pub mod settings;
pub mod status;
pub mod suite;

pub use assess::{assess, assess_builtin, assess_with};
pub use lua::{Libraries, LuaError, LuaLimits, LuaRuntime};
pub use settings::{ConfigWarning, ResourceOverride, ResourceOverrides};

/// The name the app controller's design uses for the `argocd-cm` customizations.
pub type HealthOverrides = ResourceOverrides;
pub use status::{HealthStatus, HealthStatusCode};
