//! Tekton-compatible pipelines: validation, substitution, DAG, run state machines, executors.
//!
//! Entry points:
//! - [`pipelinerun::reconcile`]: one reconcile of a PipelineRun (pure).
//! - [`taskrun::prepare`], [`taskrun::running_status`], [`taskrun::finish_attempt`]: a
//!   TaskRun's life (pure), around an executor.
//! - [`executor::local::LocalExecutor::run`]: runs a prepared TaskRun's steps in a sandbox.
//! - [`executor::pod::build_pod`]: a prepared TaskRun as the Pod Tekton would create;
//!   [`executor::pod_status::observe`]: that Pod's status read back as the TaskRun's;
//!   [`entrypoint::main`]: the step wrapper inside the Pod (`ferry entrypoint`).
//! - [`controller::PipelinesController::start`]: the kube-rs controller, with
//!   [`controller::ExecutorKind`] `Local` (sandbox) or `Pod`.
//! - [`local_run::run_pipeline_run`], [`local_run::execute_task_run`]: both wired together
//!   in-process (no API server).
//! - [`validate::validate_task_spec`], [`validate::validate_pipeline_spec`]: admission checks.
//!
//! Objects are `ferry_types::tekton::v1` types; read either served version with
//! `ferry_types::tekton::convert::parse_*` and write back with `render_*` in the version the
//! object was created with.

pub mod conditions;
pub mod controller;
pub mod dag;
pub mod duration;
pub mod entrypoint;
pub mod executor;
pub mod local_run;
pub mod names;
pub mod params;
pub mod pipelinerun;
pub mod resolve;
pub mod substitution;
pub mod taskrun;
pub mod validate;
