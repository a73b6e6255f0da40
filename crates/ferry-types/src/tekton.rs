//! Placeholder: types arrive with their controller.

/// CustomResourceDefinitions of this group, as JSON.
pub fn crds() -> Vec<serde_json::Value> {
    Vec::new()
}
