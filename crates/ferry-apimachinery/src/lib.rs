//! Kubernetes API machinery as pure functions: patches, server-side apply, defaults, schema validation, OpenAPI, selectors.
