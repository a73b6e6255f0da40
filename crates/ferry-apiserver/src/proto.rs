//! Protobuf request bodies (`application/vnd.kubernetes.protobuf`), which kubectl's typed clients
//! send for `kubectl create deployment|job|cronjob|service|secret|configmap|namespace|…` and
//! `kubectl expose`. Every served built-in kind decodes through the generic, table-driven
//! decoder in `ferry_apimachinery::protobuf`; responses are always JSON (the Accept header of
//! those clients lists JSON after protobuf).

use crate::errors::ApiError;

/// The protobuf media type.
pub const CONTENT_TYPE: &str = "application/vnd.kubernetes.protobuf";

/// Decodes a protobuf body into the object's JSON form; a body that cannot be decoded is 415
/// for kinds without protobuf support and 400 for malformed bytes.
pub fn decode(body: &[u8]) -> Result<serde_json::Value, ApiError> {
    use ferry_apimachinery::protobuf::{self, ProtoError};
    protobuf::decode(body).map_err(|e| match e {
        ProtoError::Unsupported(_) => ApiError::new(415, "UnsupportedMediaType", e.to_string()),
        ProtoError::NoMagic | ProtoError::Malformed(..) | ProtoError::TooDeep(_) => {
            ApiError::bad_request(format!("error decoding protobuf request body: {e}"))
        }
    })
}
