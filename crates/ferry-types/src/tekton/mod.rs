//! tekton.dev Task, Pipeline, PipelineRun and TaskRun in both served versions.
//!
//! - [`v1`]: the storage version; the controller works on these types only.
//! - [`v1beta1`]: the deprecated version; only the types whose shape differs from v1 are
//!   defined there, everything else is shared with [`v1`].
//! - [`convert`]: conversion both ways, and parsing of an object of either version.
//! - [`crds`]: the CustomResourceDefinitions, as Tekton ships them.
//!
//! Every struct keeps fields it does not model in a flattened `extra` map, so that a
//! round trip through these types never drops what a user wrote.

pub mod common;
pub mod convert;
mod crd;
pub mod v1;
pub mod v1beta1;

pub use common::*;
pub use crd::crds;

/// The API group of every Tekton kind.
pub const GROUP: &str = "tekton.dev";
/// `apiVersion` of the storage version.
pub const V1: &str = "tekton.dev/v1";
/// `apiVersion` of the deprecated version.
pub const V1BETA1: &str = "tekton.dev/v1beta1";

#[cfg(test)]
mod tests;
