//! Kubernetes-compatible HTTP API server for Ferry's embedded cluster.
