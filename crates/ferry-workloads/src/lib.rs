//! Built-in workload controllers a typical Helm chart needs: Deployment, ReplicaSet, Job and
//! Service → Endpoints. Each controller is a pure planner (`plan(owner, owned objects, now)`)
//! with table-driven tests, plus a thin kube-rs reconciler ([`controller`]) that applies the
//! plan with expectations. [`run_all`] runs the four controllers.

pub mod controller;
pub mod deployment;
pub mod endpoints;
pub mod expectations;
pub mod job;
pub mod replicaset;
pub mod util;

pub use controller::run_all;

#[cfg(test)]
mod testutil;
