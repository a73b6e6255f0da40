//! Tekton-compatible pipelines: validation, substitution, DAG, run controller, executors.

pub mod conditions;
pub mod dag;
pub mod duration;
pub mod executor;
pub mod local_run;
pub mod names;
pub mod params;
pub mod pipelinerun;
pub mod resolve;
pub mod substitution;
pub mod taskrun;
pub mod validate;
