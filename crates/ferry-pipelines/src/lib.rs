//! Tekton-compatible pipelines: validation, substitution, DAG, run controller, executors.
