//! Resource types and CRD schemas shared by Ferry's controllers. No I/O lives here.
//!
//! - [`kruise`]: apps.kruise.io/v1alpha1 CloneSet.
//! - [`tekton`]: tekton.dev v1 and v1beta1 Task, Pipeline, PipelineRun, TaskRun.
//! - [`argocd`]: argoproj.io/v1alpha1 Application and AppProject.
//!
//! [`all_crds`] lists the CustomResourceDefinitions the embedded API server installs at start-up.

pub mod argocd;
pub mod kruise;
pub mod tekton;

pub use k8s_openapi;

/// Every CustomResourceDefinition Ferry installs, as JSON (apiextensions.k8s.io/v1).
pub fn all_crds() -> Vec<serde_json::Value> {
    let mut crds = Vec::new();
    crds.extend(kruise::crds());
    crds.extend(tekton::crds());
    crds.extend(argocd::crds());
    crds
}
