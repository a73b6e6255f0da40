//! HTTP routing of the Kubernetes REST paths onto the object lifecycle in [`crate::app`].

use std::{collections::BTreeMap, sync::Arc};

use axum::{
    body::Body,
    extract::{Request, State},
    http::{HeaderMap, HeaderValue, Method, StatusCode, header},
    response::{IntoResponse, Response},
};
use base64::Engine;
use ferry_apimachinery::{
    managed_fields,
    patch::{self, PatchError, PatchType},
    selector::{FieldSelector, LabelSelector, builtin_selectable_fields},
    table::{self, IncludeObject},
    typeinfo::{self, Shape},
};
use serde_json::{Value, json};

use crate::{
    app::{App, DeleteOptions, FieldValidation, WriteOptions, Written, meta_str},
    discovery,
    errors::{ApiError, ApiResult, Subject},
    registry::ResourceInfo,
    watch,
};

pub type Query = BTreeMap<String, String>;

pub fn parse_query(q: Option<&str>) -> Query {
    q.map(|q| form_urlencoded::parse(q.as_bytes()).into_owned().collect())
        .unwrap_or_default()
}

pub fn json_response(code: StatusCode, body: &Value) -> Response {
    let mut resp = (code, body.to_string()).into_response();
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    resp
}

fn truthy(q: &Query, k: &str) -> bool {
    matches!(q.get(k).map(String::as_str), Some("true" | "1"))
}

/// Whether the client asked for `as=Table`.
pub fn wants_table(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|a| a.to_str().ok())
        .is_some_and(|a| {
            a.split(',')
                .next()
                .is_some_and(|first| first.contains("as=Table"))
        })
}

/// `Some(includeObject)` when the client asked for `as=Table`; a bad `includeObject` is a 400.
pub fn table_request(headers: &HeaderMap, q: &Query) -> ApiResult<Option<IncludeObject>> {
    if !wants_table(headers) {
        return Ok(None);
    }
    IncludeObject::parse(q.get("includeObject").map(String::as_str))
        .map(Some)
        .map_err(ApiError::bad_request)
}

/// A `meta.k8s.io/v1` Table of `objects` of `info`'s kind. `with_columns` false leaves the
/// column definitions empty (watch events after the first, as kube-apiserver does).
pub fn to_table(
    info: &ResourceInfo,
    objects: &[Value],
    list_meta: Value,
    include: IncludeObject,
    with_columns: bool,
) -> Value {
    let mut t = table::to_table(
        &info.group,
        &info.kind,
        objects,
        info.printer_columns.as_deref(),
        list_meta,
        include,
        jiff::Timestamp::now().as_second(),
    );
    if !with_columns && let Some(cols) = t.get_mut("columnDefinitions") {
        *cols = json!([]);
    }
    t
}

/// The single entry point: authentication, then path dispatch.
pub async fn dispatch(State(app): State<Arc<App>>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    if let Some(token) = &app.token {
        let ok = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .is_some_and(|t| t.trim() == token);
        if !ok {
            return ApiError::unauthorized().into_response();
        }
    }
    let bytes = match axum::body::to_bytes(body, app.max_body_bytes).await {
        Ok(b) => b,
        Err(_) => return ApiError::too_large(app.max_body_bytes).into_response(),
    };
    let query = parse_query(parts.uri.query());
    let path = parts.uri.path().to_string();
    match route(&app, &parts.method, &path, &query, &parts.headers, &bytes).await {
        Ok(resp) => resp,
        Err(e) => e.into_response(),
    }
}

async fn route(
    app: &Arc<App>,
    method: &Method,
    path: &str,
    query: &Query,
    headers: &HeaderMap,
    body: &[u8],
) -> ApiResult<Response> {
    let segs: Vec<&str> = path
        .trim_matches('/')
        .split('/')
        .filter(|s| !s.is_empty())
        .collect();
    match segs.as_slice() {
        ["version"] => return Ok(json_response(StatusCode::OK, &version_info())),
        ["healthz" | "livez" | "readyz", ..] => return Ok((StatusCode::OK, "ok").into_response()),
        ["openapi", "v3"] => return Ok(json_response(StatusCode::OK, &app.registry.openapi_v3().index)),
        ["openapi", "v3", rest @ ..] => {
            return app
                .registry
                .openapi_v3()
                .documents
                .get(&rest.join("/"))
                .map(|d| json_response(StatusCode::OK, d))
                .ok_or_else(|| ApiError::new(404, "NotFound", format!("no OpenAPI document for {path}")));
        }
        ["api"] | ["apis"] | ["api", _] | ["apis", _] | ["apis", _, _] if method == Method::GET => {
            return discovery::serve(&app.registry, &segs, headers);
        }
        _ => {}
    }
    let (group, version, rest) = match segs.as_slice() {
        ["api", v, rest @ ..] => ("", *v, rest),
        ["apis", g, v, rest @ ..] => (*g, *v, rest),
        _ => {
            return Err(ApiError::new(
                404,
                "NotFound",
                format!("the server could not find the requested resource ({path})"),
            ));
        }
    };
    let target = parse_target(app, group, version, rest)?;
    handle(app, method, &target, query, headers, body).await
}

/// A resolved REST target.
pub struct Target {
    pub info: Arc<ResourceInfo>,
    pub namespace: Option<String>,
    pub name: Option<String>,
    pub subresource: Option<String>,
}

fn not_found_resource(group: &str, version: &str, resource: &str) -> ApiError {
    ApiError::new(
        404,
        "NotFound",
        format!(
            "the server could not find the requested resource (no resource {resource:?} in {})",
            if group.is_empty() {
                version.to_string()
            } else {
                format!("{group}/{version}")
            }
        ),
    )
}

fn parse_target(app: &App, group: &str, version: &str, rest: &[&str]) -> ApiResult<Target> {
    let lookup = |plural: &str| {
        app.registry
            .get(group, version, plural)
            .ok_or_else(|| not_found_resource(group, version, plural))
    };
    let (ns, rest) = match rest {
        ["namespaces", ns, plural, tail @ ..]
            if app
                .registry
                .get(group, version, plural)
                .is_some_and(|i| i.namespaced) =>
        {
            (Some(ns.to_string()), {
                let mut v = vec![*plural];
                v.extend_from_slice(tail);
                v
            })
        }
        other => (None, other.to_vec()),
    };
    match rest.as_slice() {
        [plural] => Ok(Target {
            info: lookup(plural)?,
            namespace: ns,
            name: None,
            subresource: None,
        }),
        [plural, name] => Ok(Target {
            info: lookup(plural)?,
            namespace: ns,
            name: Some(name.to_string()),
            subresource: None,
        }),
        [plural, name, sub] => {
            let info = lookup(plural)?;
            let ok = match *sub {
                "status" => info.has_status,
                "scale" => info.scale.is_some(),
                "binding" => info.has_binding,
                "finalize" => info.plural == "namespaces" && info.group.is_empty(),
                _ => false,
            };
            if !ok {
                return Err(not_found_resource(group, version, &format!("{plural}/{sub}")));
            }
            Ok(Target {
                info,
                namespace: ns,
                name: Some(name.to_string()),
                subresource: Some(sub.to_string()),
            })
        }
        _ => Err(ApiError::new(
            404,
            "NotFound",
            "the server could not find the requested resource",
        )),
    }
}

pub fn version_info() -> Value {
    json!({
        "major": "1",
        "minor": "33",
        "gitVersion": "v1.33.1+ferry",
        "gitCommit": "0000000000000000000000000000000000000000",
        "gitTreeState": "clean",
        "buildDate": "2026-01-01T00:00:00Z",
        "goVersion": "go1.24.0",
        "compiler": "gc",
        "platform": "linux/amd64",
    })
}

fn content_type(headers: &HeaderMap) -> String {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|s| s.split(';').next().unwrap_or("").trim().to_ascii_lowercase())
        .unwrap_or_else(|| "application/json".into())
}

/// Parses a request body as JSON or YAML (by content type).
pub fn decode_body(body: &[u8], ct: &str, what: &str) -> ApiResult<Value> {
    if body.is_empty() {
        return Err(ApiError::bad_request(format!(
            "{what}: the request body is empty"
        )));
    }
    let yaml = ct.contains("yaml");
    let parsed: Result<Value, String> = if yaml {
        std::str::from_utf8(body)
            .map_err(|e| e.to_string())
            .and_then(|s| serde_saphyr::from_str::<Value>(s).map_err(|e| e.to_string()))
    } else {
        serde_json::from_slice::<Value>(body).map_err(|e| e.to_string())
    };
    parsed.map_err(|e| {
        ApiError::bad_request(format!(
            "{what}: error decoding {}: {e}",
            if yaml { "YAML" } else { "JSON" }
        ))
    })
}

fn write_options(q: &Query, headers: &HeaderMap, sub: Option<&str>) -> ApiResult<WriteOptions> {
    let dry_run = match q.get("dryRun").map(String::as_str) {
        None | Some("") => false,
        Some("All") => true,
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "unsupported dry run value {other:?}: only \"All\" is supported"
            )));
        }
    };
    let field_validation = FieldValidation::parse(q.get("fieldValidation").map(String::as_str))
        .map_err(ApiError::bad_request)?;
    let field_manager = match q.get("fieldManager") {
        Some(m) if !m.is_empty() => m.clone(),
        _ => headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(managed_fields::manager_from_user_agent)
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| "unknown".to_string()),
    };
    Ok(WriteOptions {
        dry_run,
        field_manager,
        field_validation,
        subresource: sub.map(str::to_string),
    })
}

fn written_response(w: Written, code: StatusCode) -> Response {
    let mut resp = json_response(code, &w.object);
    for warning in w.warnings {
        if let Ok(v) = HeaderValue::from_str(&format!("299 - \"{}\"", warning.replace('"', "'"))) {
            resp.headers_mut().append("Warning", v);
        }
    }
    resp
}

async fn handle(
    app: &Arc<App>,
    method: &Method,
    t: &Target,
    q: &Query,
    headers: &HeaderMap,
    body: &[u8],
) -> ApiResult<Response> {
    let info = &t.info;
    let ns = t.namespace.as_deref();
    if info.namespaced && t.name.is_some() && ns.is_none() {
        return Err(ApiError::new(
            404,
            "NotFound",
            format!(
                "{} is namespaced: use /namespaces/{{namespace}}/{}",
                info.kind, info.plural
            ),
        ));
    }
    let ct = content_type(headers);
    match (method.clone(), &t.name, t.subresource.as_deref()) {
        (Method::GET, None, _) => {
            if truthy(q, "watch") {
                watch::serve(
                    app.clone(),
                    info.clone(),
                    ns.map(str::to_string),
                    q,
                    table_request(headers, q)?,
                )
            } else {
                list(app, info, ns, q, headers)
            }
        }
        (Method::GET, Some(name), None | Some("status")) => {
            let entry = app.get_entry(info, ns, name)?;
            let obj = app.present(info, &entry);
            if let Some(include) = table_request(headers, q)? {
                let meta = json!({"resourceVersion": entry.mod_revision.to_string()});
                return Ok(json_response(
                    StatusCode::OK,
                    &to_table(info, &[obj], meta, include, true),
                ));
            }
            Ok(json_response(StatusCode::OK, &obj))
        }
        (Method::GET, Some(name), Some("scale")) => {
            let entry = app.get_entry(info, ns, name)?;
            Ok(json_response(
                StatusCode::OK,
                &scale_of(info, &app.present(info, &entry)),
            ))
        }
        (Method::POST, None, None) => {
            let obj = if ct == "application/vnd.kubernetes.protobuf" {
                crate::proto::decode(body)
                    .map_err(|e| ApiError::new(415, "UnsupportedMediaType", e.to_string()))?
            } else if ct.contains("json") || ct.contains("yaml") {
                decode_body(body, &ct, &info.kind)?
            } else {
                return Err(ApiError::unsupported_media_type(&ct));
            };
            let opts = write_options(q, headers, None)?;
            let w = app.create(info, ns, obj, &opts).await?;
            Ok(written_response(w, StatusCode::CREATED))
        }
        (Method::POST, Some(name), Some("binding")) => {
            let binding = decode_body(body, &ct, "Binding")?;
            let node = binding
                .pointer("/target/name")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string();
            if node.is_empty() {
                return Err(ApiError::invalid(
                    Subject {
                        group: "",
                        kind: "Binding",
                        name,
                    },
                    &[ferry_apimachinery::FieldError::required("target.name", "")],
                ));
            }
            let mut opts = write_options(q, headers, None)?;
            opts.subresource = Some("binding".into());
            app.update_with(info, ns, name, &opts, |cur| {
                if cur
                    .pointer("/spec/nodeName")
                    .and_then(Value::as_str)
                    .is_some_and(|n| !n.is_empty())
                {
                    return Err(ApiError::conflict(
                        Subject {
                            group: "",
                            kind: "pods",
                            name,
                        },
                        "pod is already assigned to a node",
                    ));
                }
                let mut next = cur.clone();
                if let Some(spec) = next.get_mut("spec").and_then(Value::as_object_mut) {
                    spec.insert("nodeName".into(), json!(node));
                }
                Ok(next)
            })
            .await?;
            Ok(json_response(
                StatusCode::CREATED,
                &json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201}),
            ))
        }
        (Method::PUT, Some(name), sub) => {
            if !(ct.contains("json") || ct.contains("yaml")) {
                return Err(ApiError::unsupported_media_type(&ct));
            }
            let obj = decode_body(body, &ct, &info.kind)?;
            let opts = write_options(q, headers, sub)?;
            if sub == Some("scale") {
                let replicas = obj.pointer("/spec/replicas").cloned().unwrap_or(json!(0));
                let rv = obj.pointer("/metadata/resourceVersion").cloned();
                let w = app
                    .update_with(info, ns, name, &opts, |cur| {
                        set_replicas(info, cur, &replicas, rv.as_ref())
                    })
                    .await?;
                return Ok(json_response(StatusCode::OK, &scale_of(info, &w.object)));
            }
            if sub == Some("finalize") {
                let spec_fin = obj.pointer("/spec/finalizers").cloned();
                let w = app
                    .update_with(info, ns, name, &opts, |cur| {
                        let mut next = cur.clone();
                        if let Some(spec) = next.get_mut("spec").and_then(Value::as_object_mut) {
                            match &spec_fin {
                                Some(f) => spec.insert("finalizers".into(), f.clone()),
                                None => spec.remove("finalizers"),
                            };
                        }
                        Ok(next)
                    })
                    .await?;
                return Ok(json_response(StatusCode::OK, &w.object));
            }
            let w = app
                .update_with(info, ns, name, &opts, |_| Ok(obj.clone()))
                .await?;
            Ok(written_response(w, StatusCode::OK))
        }
        (Method::PATCH, Some(name), sub) => {
            patch_handler(app, info, ns, name, sub, q, headers, &ct, body).await
        }
        (Method::DELETE, Some(name), None) => {
            let opts = delete_options(q, body)?;
            let obj = app.delete(info, ns, name, &opts).await?;
            Ok(json_response(StatusCode::OK, &obj))
        }
        (Method::DELETE, None, None) => {
            let opts = delete_options(q, body)?;
            let (label, field) = selectors(info, q)?;
            let prefix = info.namespace_prefix(ns);
            let page = app.store.list(&prefix, None, None);
            for entry in page.entries {
                let obj = app.present(info, &entry);
                if !label.matches_object(&obj) || !field.matches_object(&obj) {
                    continue;
                }
                let name = meta_str(&obj, "name").unwrap_or_default().to_string();
                let obj_ns = meta_str(&obj, "namespace").map(str::to_string);
                match app.delete(info, obj_ns.as_deref(), &name, &opts).await {
                    Ok(_) => {}
                    Err(e) if e.code == 404 => {}
                    Err(e) => return Err(e),
                }
            }
            Ok(json_response(
                StatusCode::OK,
                &json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success"}),
            ))
        }
        _ => Err(ApiError::method_not_allowed(format!(
            "the server does not allow this method on the requested resource ({method} {})",
            info.plural
        ))),
    }
}

fn delete_options(q: &Query, body: &[u8]) -> ApiResult<DeleteOptions> {
    let body_opts: Value = if body.is_empty() {
        json!({})
    } else {
        serde_json::from_slice(body).map_err(|e| ApiError::bad_request(format!("DeleteOptions: {e}")))?
    };
    let dry_run_body = body_opts
        .get("dryRun")
        .and_then(Value::as_array)
        .is_some_and(|a| a.iter().any(|v| v == "All"));
    let propagation = q
        .get("propagationPolicy")
        .cloned()
        .or_else(|| {
            body_opts
                .get("propagationPolicy")
                .and_then(Value::as_str)
                .map(str::to_string)
        })
        .or_else(
            || match body_opts.get("orphanDependents").and_then(Value::as_bool) {
                Some(true) => Some("Orphan".into()),
                Some(false) => Some("Background".into()),
                None => None,
            },
        );
    if let Some(p) = &propagation
        && !matches!(p.as_str(), "Foreground" | "Background" | "Orphan")
    {
        return Err(ApiError::bad_request(format!(
            "propagationPolicy {p:?} is not one of Foreground, Background, Orphan"
        )));
    }
    Ok(DeleteOptions {
        dry_run: q.get("dryRun").is_some_and(|d| d == "All") || dry_run_body,
        propagation,
        precondition_uid: body_opts
            .pointer("/preconditions/uid")
            .and_then(Value::as_str)
            .map(str::to_string),
        precondition_rv: body_opts
            .pointer("/preconditions/resourceVersion")
            .and_then(Value::as_str)
            .map(str::to_string),
    })
}

fn path_pointer(json_path: &str) -> String {
    json_path
        .trim_start_matches('.')
        .split('.')
        .map(|s| format!("/{s}"))
        .collect()
}

fn scale_of(info: &ResourceInfo, obj: &Value) -> Value {
    let paths = info.scale.as_ref();
    let spec = paths
        .and_then(|p| obj.pointer(&path_pointer(&p.spec_replicas)))
        .cloned()
        .unwrap_or(json!(0));
    let status = paths
        .and_then(|p| obj.pointer(&path_pointer(&p.status_replicas)))
        .cloned()
        .unwrap_or(json!(0));
    let selector = paths
        .and_then(|p| p.label_selector.as_ref())
        .and_then(|s| obj.pointer(&path_pointer(s)))
        .map(|v| match v {
            Value::String(s) => s.clone(),
            other => ferry_apimachinery::selector::LabelSelector::from_label_selector(other)
                .map(|s| s.to_string())
                .unwrap_or_default(),
        });
    let mut status_obj = json!({"replicas": status});
    if let (Some(sel), Some(m)) = (selector, status_obj.as_object_mut()) {
        m.insert("selector".into(), json!(sel));
    }
    json!({
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": {
            "name": meta_str(obj, "name"),
            "namespace": meta_str(obj, "namespace"),
            "uid": meta_str(obj, "uid"),
            "resourceVersion": meta_str(obj, "resourceVersion"),
            "creationTimestamp": meta_str(obj, "creationTimestamp"),
        },
        "spec": {"replicas": spec},
        "status": status_obj,
    })
}

fn set_replicas(info: &ResourceInfo, cur: &Value, replicas: &Value, rv: Option<&Value>) -> ApiResult<Value> {
    let Some(paths) = &info.scale else {
        return Err(ApiError::bad_request("no scale subresource"));
    };
    if !replicas.is_i64() && !replicas.is_u64() {
        return Err(ApiError::invalid(
            Subject {
                group: "autoscaling",
                kind: "Scale",
                name: meta_str(cur, "name").unwrap_or_default(),
            },
            &[ferry_apimachinery::FieldError::invalid(
                "spec.replicas",
                replicas.clone(),
                "must be an integer",
            )],
        ));
    }
    if replicas.as_i64().is_some_and(|r| r < 0) {
        return Err(ApiError::invalid(
            Subject {
                group: "autoscaling",
                kind: "Scale",
                name: meta_str(cur, "name").unwrap_or_default(),
            },
            &[ferry_apimachinery::FieldError::invalid(
                "spec.replicas",
                replicas.clone(),
                "must be greater than or equal to 0",
            )],
        ));
    }
    let mut next = cur.clone();
    let pointer = path_pointer(&paths.spec_replicas);
    let mut parts: Vec<&str> = pointer.trim_start_matches('/').split('/').collect();
    let last = parts.pop().unwrap_or("replicas");
    let mut parent = String::new();
    for p in parts {
        let child = format!("{parent}/{p}");
        if next.pointer(&child).is_none()
            && let Some(m) = next.pointer_mut(&parent).and_then(Value::as_object_mut)
        {
            m.insert(p.to_string(), json!({}));
        }
        parent = child;
    }
    if let Some(m) = next.pointer_mut(&parent).and_then(Value::as_object_mut) {
        m.insert(last.to_string(), replicas.clone());
    }
    if let (Some(rv), Some(m)) = (rv, next.get_mut("metadata").and_then(Value::as_object_mut)) {
        m.insert("resourceVersion".into(), rv.clone());
    }
    Ok(next)
}

#[allow(clippy::too_many_arguments)]
async fn patch_handler(
    app: &Arc<App>,
    info: &Arc<ResourceInfo>,
    ns: Option<&str>,
    name: &str,
    sub: Option<&str>,
    q: &Query,
    headers: &HeaderMap,
    ct: &str,
    body: &[u8],
) -> ApiResult<Response> {
    let opts = write_options(q, headers, sub)?;
    let what = format!("{} patch", info.kind);
    match ct {
        "application/apply-patch+yaml" | "application/apply-patch+cbor" => {
            if q.get("fieldManager").is_none_or(String::is_empty) {
                return Err(ApiError::bad_request(
                    "PATCH, application/apply-patch+yaml requires fieldManager to be set",
                ));
            }
            let applied = decode_body(body, "yaml", &what)?;
            let w = app
                .apply(info, ns, name, applied, truthy(q, "force"), &opts)
                .await?;
            let code = if w.created {
                StatusCode::CREATED
            } else {
                StatusCode::OK
            };
            Ok(written_response(w, code))
        }
        "application/json-patch+json"
        | "application/merge-patch+json"
        | "application/strategic-merge-patch+json" => {
            let patch_doc = decode_body(body, "json", &what)?;
            let scale = sub == Some("scale");
            // `/scale` speaks autoscaling/v1 Scale, a built-in type, whatever the main resource is.
            let (patched_group, patched_kind) = if scale {
                ("autoscaling", "Scale")
            } else {
                (info.group.as_str(), info.kind.as_str())
            };
            let patch_type =
                PatchType::from_content_type(ct).ok_or_else(|| ApiError::unsupported_media_type(ct))?;
            if patch_type == PatchType::Strategic
                && !scale
                && !typeinfo::is_strategic_merge_capable(patched_group, patched_kind)
            {
                return Err(ApiError::unsupported_media_type(ct));
            }
            let w = app
                .update_with(info, ns, name, &opts, |cur| {
                    let base = if scale { scale_of(info, cur) } else { cur.clone() };
                    let patch_error = |e: PatchError| match e {
                        PatchError::Malformed(_) => ApiError::bad_request(e.to_string()),
                        _ => ApiError::new(
                            422,
                            "Invalid",
                            format!("{} \"{name}\" is invalid: {e}", info.kind),
                        ),
                    };
                    let mut patched = match patch_type {
                        PatchType::Json => patch::json_patch(&base, &patch_doc).map_err(patch_error)?,
                        PatchType::Merge => {
                            if !patch_doc.is_object() {
                                return Err(ApiError::bad_request("merge patch must be a JSON object"));
                            }
                            let mut patched = base.clone();
                            patch::json_merge_patch(&mut patched, &patch_doc);
                            patched
                        }
                        PatchType::Strategic | PatchType::Apply => patch::strategic_merge_patch(
                            &base,
                            &patch_doc,
                            Shape::for_builtin(patched_group, patched_kind),
                        )
                        .map_err(patch_error)?,
                    };
                    if scale {
                        let replicas = patched.pointer("/spec/replicas").cloned().unwrap_or(json!(0));
                        return set_replicas(info, cur, &replicas, None);
                    }
                    // The patch may pin a resourceVersion; otherwise it applies to the current one.
                    if patched.pointer("/metadata/resourceVersion")
                        == base.pointer("/metadata/resourceVersion")
                        && let Some(m) = patched.get_mut("metadata").and_then(Value::as_object_mut)
                    {
                        m.remove("resourceVersion");
                    }
                    Ok(patched)
                })
                .await?;
            if scale {
                return Ok(json_response(StatusCode::OK, &scale_of(info, &w.object)));
            }
            Ok(written_response(w, StatusCode::OK))
        }
        other => Err(ApiError::unsupported_media_type(other)),
    }
}

/// Parses `labelSelector` and `fieldSelector` for `info`.
pub fn selectors(info: &ResourceInfo, q: &Query) -> ApiResult<(LabelSelector, FieldSelector)> {
    let label = LabelSelector::parse(q.get("labelSelector").map(String::as_str).unwrap_or(""))
        .map_err(|e| ApiError::bad_request(e.to_string()))?;
    let field = FieldSelector::parse(q.get("fieldSelector").map(String::as_str).unwrap_or(""))
        .map_err(|e| ApiError::bad_request(e.to_string()))?;
    field
        .check_supported(builtin_selectable_fields(&info.group, &info.kind))
        .map_err(|e| ApiError::bad_request(format!("{e}")))?;
    Ok((label, field))
}

#[derive(serde::Serialize, serde::Deserialize)]
struct ContinueToken {
    rv: u64,
    start: String,
}

fn list(
    app: &Arc<App>,
    info: &Arc<ResourceInfo>,
    ns: Option<&str>,
    q: &Query,
    headers: &HeaderMap,
) -> ApiResult<Response> {
    let (label, field) = selectors(info, q)?;
    let limit = match q.get("limit").map(|l| l.parse::<usize>()) {
        None => None,
        Some(Ok(0)) => None,
        Some(Ok(n)) => Some(n),
        Some(Err(_)) => return Err(ApiError::bad_request("limit must be a non-negative integer")),
    };
    let prefix = info.namespace_prefix(ns);
    let mut after = match q.get("continue").filter(|c| !c.is_empty()) {
        Some(token) => {
            let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(token)
                .ok()
                .and_then(|b| serde_json::from_slice::<ContinueToken>(&b).ok())
                .ok_or_else(|| ApiError::bad_request("continue key is not valid"))?;
            if !raw.start.starts_with(&prefix) {
                return Err(ApiError::bad_request("continue key is not valid for this list"));
            }
            Some(raw.start)
        }
        None => None,
    };
    let mut items = Vec::new();
    let mut revision;
    let mut more;
    loop {
        let want = limit.map(|l| l - items.len());
        let page = app.store.list(&prefix, after.as_deref(), want.map(|w| w.max(64)));
        revision = page.revision;
        more = page.more;
        let mut last_key = None;
        let mut filled = false;
        for e in page.entries {
            last_key = Some(e.key.clone());
            let obj = app.present(info, &e);
            if label.matches_object(&obj) && field.matches_object(&obj) {
                items.push(obj);
                if limit.is_some_and(|l| items.len() >= l) {
                    filled = true;
                    break;
                }
            }
        }
        if filled {
            // More remain if this page had more entries after the last one taken, or the store has more.
            let rest = app.store.list(&prefix, last_key.as_deref(), Some(1));
            more = !rest.entries.is_empty();
            after = last_key;
            break;
        }
        if !more || last_key.is_none() {
            more = false;
            break;
        }
        after = last_key;
    }
    let mut list_meta = json!({"resourceVersion": revision.to_string()});
    if more && let (Some(start), Some(m)) = (after, list_meta.as_object_mut()) {
        let token = serde_json::to_vec(&ContinueToken { rv: revision, start }).unwrap_or_default();
        m.insert(
            "continue".into(),
            json!(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(token)),
        );
    }
    if let Some(include) = table_request(headers, q)? {
        return Ok(json_response(
            StatusCode::OK,
            &to_table(info, &items, list_meta, include, true),
        ));
    }
    // Built by moving the items in (json! would deep-copy every object once more).
    let mut list = serde_json::Map::new();
    list.insert("kind".into(), json!(format!("{}List", info.kind)));
    list.insert("apiVersion".into(), json!(info.api_version()));
    list.insert("metadata".into(), list_meta);
    list.insert("items".into(), Value::Array(items));
    Ok(json_response(StatusCode::OK, &Value::Object(list)))
}

/// Axum fallback wrapper so the router can use [`dispatch`] for every path.
pub async fn fallback(state: State<Arc<App>>, req: Request<Body>) -> Response {
    dispatch(state, req).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_use_crd_columns_and_drop_definitions_after_the_first_watch_event() {
        let crd = json!({"metadata": {"name": "clonesets.apps.kruise.io"}, "spec": {"group": "apps.kruise.io", "scope": "Namespaced",
            "names": {"plural": "clonesets", "kind": "CloneSet"},
            "versions": [{"name": "v1alpha1", "served": true, "storage": true,
                "additionalPrinterColumns": [{"name": "DESIRED", "type": "integer", "jsonPath": ".spec.replicas"}]}]}});
        let infos = crate::registry::crd_resources(&crd).unwrap_or_default();
        let Some(info) = infos.first() else {
            panic!("no resource from {crd}")
        };
        let obj = json!({"metadata": {"name": "web"}, "spec": {"replicas": 5}});
        let first = to_table(
            info,
            std::slice::from_ref(&obj),
            json!({}),
            IncludeObject::None,
            true,
        );
        let names: Vec<&Value> = first["columnDefinitions"]
            .as_array()
            .map(|c| c.iter().map(|c| &c["name"]).collect())
            .unwrap_or_default();
        // Kubernetes adds no Age column when a CRD declares its own columns.
        assert_eq!(names, [&json!("Name"), &json!("DESIRED")]);
        assert_eq!(first["rows"][0], json!({"cells": ["web", 5]}));
        let later = to_table(info, &[obj], json!({}), IncludeObject::Metadata, false);
        assert_eq!(later["columnDefinitions"], json!([]));
        assert_eq!(later["rows"][0]["object"]["kind"], "PartialObjectMetadata");
    }

    #[test]
    fn bad_include_object_is_a_bad_request() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::ACCEPT,
            HeaderValue::from_static("application/json;as=Table;v=v1;g=meta.k8s.io"),
        );
        let q: Query = [("includeObject".to_string(), "Everything".to_string())].into();
        assert_eq!(table_request(&headers, &q).err().map(|e| e.code), Some(400));
        assert_eq!(
            table_request(&headers, &Query::new()).ok(),
            Some(Some(IncludeObject::Metadata))
        );
        assert_eq!(table_request(&HeaderMap::new(), &q).ok(), Some(None));
    }
}
