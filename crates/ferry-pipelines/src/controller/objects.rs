//! Reading and writing objects through the Kubernetes API.

use std::collections::BTreeMap;

use ferry_types::tekton::convert::ApiVersion;
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::api::{DynamicObject, ListParams, Patch, PatchParams, PostParams};
use kube::{Api, Client};
use serde_json::{Value, json};

use super::ControllerError;
use super::versions::{TektonKind, api_resource, created_version};
use crate::executor::ObjectSource;

/// The field manager of every write the controller makes.
pub const FIELD_MANAGER: &str = "ferry-pipelines";

/// Secrets and ConfigMaps for the executor, read through the API. Errors name the object,
/// never its data.
#[derive(Clone)]
pub struct ApiObjects {
    pub client: Client,
}

impl ObjectSource for ApiObjects {
    async fn secret(&self, namespace: &str, name: &str) -> Result<Option<BTreeMap<String, Vec<u8>>>, String> {
        let api: Api<Secret> = Api::namespaced(self.client.clone(), namespace);
        let secret = api
            .get_opt(name)
            .await
            .map_err(|e| format!("reading Secret {namespace}/{name}: {}", api_error_summary(&e)))?;
        Ok(secret.map(|secret| {
            let mut data: BTreeMap<String, Vec<u8>> = secret
                .data
                .unwrap_or_default()
                .into_iter()
                .map(|(key, value)| (key, value.0))
                .collect();
            for (key, value) in secret.string_data.unwrap_or_default() {
                data.insert(key, value.into_bytes());
            }
            data
        }))
    }

    async fn config_map(
        &self,
        namespace: &str,
        name: &str,
    ) -> Result<Option<BTreeMap<String, Vec<u8>>>, String> {
        let api: Api<ConfigMap> = Api::namespaced(self.client.clone(), namespace);
        let config_map = api
            .get_opt(name)
            .await
            .map_err(|e| format!("reading ConfigMap {namespace}/{name}: {}", api_error_summary(&e)))?;
        Ok(config_map.map(|config_map| {
            let mut data: BTreeMap<String, Vec<u8>> = config_map
                .data
                .unwrap_or_default()
                .into_iter()
                .map(|(key, value)| (key, value.into_bytes()))
                .collect();
            for (key, value) in config_map.binary_data.unwrap_or_default() {
                data.insert(key, value.0);
            }
            data
        }))
    }
}

/// A short description of an API error: the server's message or the transport error kind.
/// Request bodies are never included, so Secret data cannot leak through it.
pub fn api_error_summary(error: &kube::Error) -> String {
    match error {
        kube::Error::Api(status) => format!("{} ({})", status.message, status.code),
        other => other.to_string(),
    }
}

/// A stored Tekton object as JSON with `apiVersion` set to the version it was created in.
pub fn tekton_value(kind: TektonKind, object: &DynamicObject) -> (Value, ApiVersion) {
    let mut value = serde_json::to_value(object).unwrap_or(Value::Null);
    let version = created_version(kind, &value);
    if let Some(map) = value.as_object_mut() {
        map.insert("apiVersion".into(), json!(version.as_str()));
        map.insert("kind".into(), json!(kind.kind()));
    }
    (value, version)
}

/// The API of `kind` in `namespace`, served at `version`.
pub fn tekton_api(
    client: &Client,
    kind: TektonKind,
    namespace: &str,
    version: ApiVersion,
) -> Api<DynamicObject> {
    Api::namespaced_with(client.clone(), namespace, &api_resource(kind, version))
}

/// One object of `kind`, or `None` when it does not exist.
pub async fn get_tekton(
    client: &Client,
    kind: TektonKind,
    namespace: &str,
    name: &str,
) -> Result<Option<(Value, ApiVersion)>, ControllerError> {
    let api = tekton_api(client, kind, namespace, ApiVersion::V1);
    let found = api.get_opt(name).await.map_err(|source| ControllerError::Api {
        action: format!("reading {} {namespace}/{name}", kind.kind()),
        source,
    })?;
    Ok(found.map(|object| tekton_value(kind, &object)))
}

/// Every object of `kind` in `namespace` matching `labels` (a label selector, may be empty).
pub async fn list_tekton(
    client: &Client,
    kind: TektonKind,
    namespace: &str,
    labels: &str,
) -> Result<Vec<(Value, ApiVersion)>, ControllerError> {
    let api = tekton_api(client, kind, namespace, ApiVersion::V1);
    let mut params = ListParams::default();
    if !labels.is_empty() {
        params = params.labels(labels);
    }
    let list = api.list(&params).await.map_err(|source| ControllerError::Api {
        action: format!("listing {} in {namespace}", kind.plural()),
        source,
    })?;
    Ok(list
        .items
        .iter()
        .map(|object| tekton_value(kind, object))
        .collect())
}

/// Merge-patches `status` of one object, at the version it was created in.
pub async fn patch_status(
    client: &Client,
    kind: TektonKind,
    namespace: &str,
    name: &str,
    version: ApiVersion,
    status: Value,
) -> Result<(), ControllerError> {
    let api = tekton_api(client, kind, namespace, version);
    let params = PatchParams {
        field_manager: Some(FIELD_MANAGER.to_string()),
        ..Default::default()
    };
    api.patch_status(name, &params, &Patch::Merge(json!({ "status": status })))
        .await
        .map(|_| ())
        .map_err(|source| ControllerError::Api {
            action: format!("writing the status of {} {namespace}/{name}", kind.kind()),
            source,
        })
}

/// Merge-patches `spec` fields of one object.
pub async fn patch_spec(
    client: &Client,
    kind: TektonKind,
    namespace: &str,
    name: &str,
    spec: Value,
) -> Result<(), ControllerError> {
    let api = tekton_api(client, kind, namespace, ApiVersion::V1);
    let params = PatchParams {
        field_manager: Some(FIELD_MANAGER.to_string()),
        ..Default::default()
    };
    api.patch(name, &params, &Patch::Merge(json!({ "spec": spec })))
        .await
        .map(|_| ())
        .map_err(|source| ControllerError::Api {
            action: format!("updating the spec of {} {namespace}/{name}", kind.kind()),
            source,
        })
}

/// Creates an object given as JSON in `version`; an existing object of that name is not
/// an error (a previous round created it).
pub async fn create_tekton(
    client: &Client,
    kind: TektonKind,
    namespace: &str,
    version: ApiVersion,
    body: Value,
) -> Result<(), ControllerError> {
    let name = body
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let object: DynamicObject = serde_json::from_value(body).map_err(|source| ControllerError::Encode {
        what: format!("{} {namespace}/{name}", kind.kind()),
        source,
    })?;
    let api = tekton_api(client, kind, namespace, version);
    let params = PostParams {
        field_manager: Some(FIELD_MANAGER.to_string()),
        ..Default::default()
    };
    match api.create(&params, &object).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(status)) if status.code == 409 => Ok(()),
        Err(source) => Err(ControllerError::Api {
            action: format!("creating {} {namespace}/{name}", kind.kind()),
            source,
        }),
    }
}

/// Whether an error means the object is gone.
pub fn is_not_found(error: &ControllerError) -> bool {
    matches!(error, ControllerError::Api { source: kube::Error::Api(status), .. } if status.code == 404)
}
