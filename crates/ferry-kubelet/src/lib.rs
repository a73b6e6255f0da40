//! Simulated nodes for Ferry's embedded cluster (KWOK-style): no containers run, but pods go through the
//! phases a real kubelet reports, with configurable delays and failure injection.
//!
//! The core is pure and table-tested:
//! - [`image`]: image reference normalisation and the `imageID` digest a node reports for an image.
//! - [`schedule`]: picking a node for a pending pod (nodeSelector, taints/tolerations, requests).
//! - [`lifecycle`]: the pod status state machine — given a pod, its node and the time, what status the
//!   kubelet reports next and when to look again.
//!
//! The runtime that watches pods through the Kubernetes API and applies these decisions sits on top.

pub mod image;
pub mod lifecycle;
pub mod quantity;
pub mod runtime;
pub mod schedule;
