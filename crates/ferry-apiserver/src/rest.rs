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
use futures::StreamExt as _;
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

/// Whether a request carries a credential the server accepts. Either will do, as with
/// kube-apiserver's union of authenticators: a client certificate the cluster CA signed, or the
/// bearer token. A server without a token (plain HTTP for tests) accepts everyone.
pub(crate) fn authenticated(app: &App, headers: &HeaderMap, extensions: &axum::http::Extensions) -> bool {
    let Some(token) = &app.token else {
        return true;
    };
    let by_token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .is_some_and(|t| t.trim() == token);
    by_token || {
        let by_cert = || {
            let peer = extensions.get::<crate::tls::PeerCertificates>()?;
            app.client_certs.as_ref()?.authenticate(peer)
        };
        by_cert().is_some()
    }
}

/// The single entry point: authentication, then path dispatch.
pub async fn dispatch(State(app): State<Arc<App>>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    if !authenticated(&app, &parts.headers, &parts.extensions) {
        return ApiError::unauthorized().into_response();
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
        ["openapi", "v3", rest @ ..] => {
            return discovery::serve_openapi_v3(&app.registry, rest, query, headers);
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
    // The deprecated `/watch/` paths (still served by kube-apiserver): a watch of the collection, or of
    // one object by name.
    if let ["watch", rest @ ..] = rest {
        let target = parse_target(app, group, version, rest)?;
        return legacy_watch(app, method, &target, query, headers);
    }
    let target = parse_target(app, group, version, rest)?;
    handle(app, method, &target, query, headers, body).await
}

/// `GET …/watch/[namespaces/{ns}/]{resource}[/{name}]`: the same as `watch=true` on the collection, with
/// `metadata.name={name}` added to the field selector for the one-object form.
fn legacy_watch(
    app: &Arc<App>,
    method: &Method,
    target: &Target,
    query: &Query,
    headers: &HeaderMap,
) -> ApiResult<Response> {
    if method != Method::GET {
        return Err(ApiError::method_not_allowed(format!(
            "{method} is not supported on watch paths"
        )));
    }
    if target.subresource.is_some() {
        return Err(ApiError::new(
            404,
            "NotFound",
            "the server could not find the requested resource",
        ));
    }
    let mut query = query.clone();
    if let Some(name) = &target.name {
        let by_name = format!("metadata.name={name}");
        let selector = match query.get("fieldSelector").filter(|s| !s.is_empty()) {
            Some(existing) => format!("{by_name},{existing}"),
            None => by_name,
        };
        query.insert("fieldSelector".into(), selector);
    }
    watch::serve(
        app.clone(),
        target.info.clone(),
        target.namespace.clone(),
        &query,
        table_request(headers, &query)?,
    )
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

/// Decodes a create/update body: protobuf, JSON or YAML. Duplicate keys in JSON are reported as
/// kube-apiserver's strict decoding does: with `fieldValidation=Strict` a 400 naming them (and
/// any unknown fields), with `Warn` the returned warnings (`duplicate field "spec.replicas"`).
fn decode_write_body(
    info: &ResourceInfo,
    body: &[u8],
    ct: &str,
    opts: &WriteOptions,
) -> ApiResult<(Value, Vec<String>)> {
    if ct == crate::proto::CONTENT_TYPE {
        return Ok((crate::proto::decode(body)?, Vec::new()));
    }
    if !(ct.contains("json") || ct.contains("yaml")) {
        return Err(ApiError::unsupported_media_type(ct));
    }
    if ct.contains("yaml") || opts.field_validation == FieldValidation::Ignore || body.is_empty() {
        return Ok((decode_body(body, ct, &info.kind)?, Vec::new()));
    }
    let (obj, duplicates) = ferry_apimachinery::strict_json::from_slice_reporting_duplicates(body)
        .map_err(|e| ApiError::bad_request(format!("{}: error decoding JSON: {e}", info.kind)))?;
    if duplicates.is_empty() {
        return Ok((obj, duplicates));
    }
    let duplicates: Vec<String> = duplicates
        .iter()
        .map(|d| format!("duplicate field {d:?}"))
        .collect();
    if opts.field_validation == FieldValidation::Strict {
        // One message with every strict decoding error, as kube-apiserver sends.
        let mut probe = obj.clone();
        let unknown = if info.custom {
            info.schema
                .as_ref()
                .map(|s| ferry_apimachinery::schema::prune(&mut probe, s))
                .unwrap_or_default()
        } else {
            ferry_apimachinery::builtin_schema::prune_unknown_fields(
                &info.group,
                &info.version,
                &info.kind,
                &mut probe,
            )
            .unwrap_or_default()
        };
        let errors: Vec<String> = duplicates
            .into_iter()
            .chain(unknown.iter().map(|f| format!("unknown field {f:?}")))
            .collect();
        return Err(ApiError::bad_request(format!(
            "{kind} in version {version:?} cannot be handled as a {kind}: strict decoding error: {}",
            errors.join(", "),
            kind = info.kind,
            version = info.version,
        )));
    }
    Ok((obj, duplicates))
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
        // RFC 7234 warn-text is a quoted-string: quotes and backslashes are escaped, as
        // kube-apiserver does, so kubectl prints `unknown field "spec.foo"` verbatim.
        let text = warning.replace('\\', "\\\\").replace('"', "\\\"");
        if let Ok(v) = HeaderValue::from_str(&format!("299 - \"{text}\"")) {
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
                list(app, info, ns, q, headers).await
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
            let opts = write_options(q, headers, None)?;
            let (obj, duplicates) = decode_write_body(info, body, &ct, &opts)?;
            let mut w = app.create(info, ns, obj, &opts).await?;
            w.warnings.splice(0..0, duplicates);
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
            let opts = write_options(q, headers, sub)?;
            let (obj, duplicates) = decode_write_body(info, body, &ct, &opts)?;
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
            let mut w = app
                .update_with(info, ns, name, &opts, |_| Ok(obj.clone()))
                .await?;
            w.warnings.splice(0..0, duplicates);
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
    /// The snapshot every page of this list reads; 0 means "the current state" (a token handed out
    /// after the original snapshot expired).
    rv: u64,
    /// The last key returned; the next page starts after it.
    start: String,
}

fn encode_continue(rv: u64, start: String) -> String {
    let token = serde_json::to_vec(&ContinueToken { rv, start }).unwrap_or_default();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(token)
}

/// kube-apiserver's message when a continue token's snapshot has been compacted away.
const CONTINUE_EXPIRED: &str = "The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter, or use the continue token in this response to retrieve the remainder of the results. Continuing with the provided token results in an inconsistent list - objects that were created, modified, or deleted between the time the first chunk was returned and now may show up in the list.";

/// How long a list asking for a resourceVersion not written yet waits for it (kube-apiserver's watch
/// cache waits 3 s too) before 504.
const FUTURE_RV_WAIT: std::time::Duration = std::time::Duration::from_secs(3);

/// Which state a list reads, from `resourceVersion`, `resourceVersionMatch` and `continue`, as
/// kube-apiserver interprets them.
#[derive(Debug, Clone, PartialEq, Eq)]
enum ListRead {
    /// The current state (no resourceVersion, "0", or NotOlderThan a revision already reached).
    Current { not_older_than: Option<u64> },
    /// Exactly the state at this revision.
    Exact(u64),
    /// The next page of an earlier list: its snapshot (None: current) after `start`.
    Continue { at: Option<u64>, start: String },
}

fn parse_list_read(q: &Query, limited: bool, prefix: &str) -> ApiResult<ListRead> {
    let rv = q.get("resourceVersion").filter(|s| !s.is_empty());
    let rv_match = q.get("resourceVersionMatch").filter(|s| !s.is_empty());
    let token = q.get("continue").filter(|s| !s.is_empty());
    if let Some(m) = rv_match {
        if m != "NotOlderThan" && m != "Exact" {
            return Err(ApiError::bad_request(format!(
                "resourceVersionMatch: Unsupported value: {m:?}: supported values: \"Exact\", \"NotOlderThan\""
            )));
        }
        if token.is_some() {
            return Err(ApiError::bad_request(
                "resourceVersionMatch: Forbidden: resourceVersionMatch is forbidden when continue is provided",
            ));
        }
        if rv.is_none() {
            return Err(ApiError::bad_request(
                "resourceVersionMatch: Forbidden: resourceVersionMatch is forbidden unless resourceVersion is provided",
            ));
        }
        if m == "Exact" && rv.is_some_and(|v| v == "0") {
            return Err(ApiError::bad_request(
                "resourceVersionMatch: Forbidden: resourceVersionMatch \"Exact\" is forbidden for resourceVersion \"0\"",
            ));
        }
    }
    if let Some(token) = token {
        if rv.is_some_and(|v| v != "0") {
            return Err(ApiError::bad_request(
                "specifying resource version is not allowed when using continue",
            ));
        }
        let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(token)
            .ok()
            .and_then(|b| serde_json::from_slice::<ContinueToken>(&b).ok())
            .ok_or_else(|| ApiError::bad_request("continue key is not valid"))?;
        if !raw.start.starts_with(prefix) {
            return Err(ApiError::bad_request("continue key is not valid for this list"));
        }
        return Ok(ListRead::Continue {
            at: (raw.rv != 0).then_some(raw.rv),
            start: raw.start,
        });
    }
    let parsed = match rv.map(String::as_str) {
        None | Some("0") => return Ok(ListRead::Current { not_older_than: None }),
        Some(s) => s
            .parse::<u64>()
            .map_err(|_| ApiError::bad_request(format!("invalid resource version {s:?}")))?,
    };
    // Without resourceVersionMatch, a resourceVersion with a limit is an exact read (legacy semantics).
    Ok(match rv_match.map(String::as_str) {
        Some("Exact") => ListRead::Exact(parsed),
        None if limited => ListRead::Exact(parsed),
        _ => ListRead::Current {
            not_older_than: Some(parsed),
        },
    })
}

/// Waits (bounded) until the store has reached `revision`, as kube-apiserver does for a list newer than
/// its cache; 504 when it does not get there.
async fn wait_for_revision(app: &App, revision: u64) -> ApiResult<()> {
    let deadline = tokio::time::Instant::now() + FUTURE_RV_WAIT;
    loop {
        let current = app.store.current_revision();
        if current >= revision {
            return Ok(());
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(ApiError::new(
                504,
                "Timeout",
                format!("Timeout: Too large resource version: {revision}, current: {current}"),
            ));
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

/// Maps a store read error of a list onto kube-apiserver's answer.
fn list_read_error(e: ferry_store::StoreError, continuing: bool) -> ApiError {
    match e {
        ferry_store::StoreError::Compacted { .. } if continuing => ApiError::gone(CONTINUE_EXPIRED),
        ferry_store::StoreError::FutureRevision { requested, current } => ApiError::new(
            504,
            "Timeout",
            format!("Timeout: Too large resource version: {requested}, current: {current}"),
        ),
        other => other.into(),
    }
}

/// Items written per body chunk of a streamed list.
const LIST_CHUNK_ITEMS: usize = 256;
/// Lists of more chunks than this are streamed (chunked transfer encoding); smaller ones are sent whole.
const STREAM_ABOVE_CHUNKS: usize = 4;

async fn list(
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
    let table = table_request(headers, q)?;
    let prefix = info.namespace_prefix(ns);
    let read = parse_list_read(q, limit.is_some(), &prefix)?;
    let continuing = matches!(read, ListRead::Continue { .. });
    let (mut at, mut after) = match read {
        ListRead::Current { not_older_than } => {
            if let Some(revision) = not_older_than {
                wait_for_revision(app, revision).await?;
            }
            (None, None)
        }
        ListRead::Exact(revision) => {
            wait_for_revision(app, revision).await?;
            (Some(revision), None)
        }
        ListRead::Continue { at, start } => (at, Some(start)),
    };
    let filtered = !label.is_empty() || !field.is_empty();
    // Events of events.k8s.io/v1 are stored as core/v1: selectors apply to the presented form.
    let matches = |entry: &ferry_store::Entry| {
        if !filtered {
            return true;
        }
        if info.is_events_v1_event() {
            let obj = app.present(info, entry);
            return label.matches_object(&obj) && field.matches_object(&obj);
        }
        label.matches_object(&entry.value) && field.matches_object(&entry.value)
    };
    let mut items: Vec<ferry_store::Entry> = Vec::new();
    let mut more;
    let mut remaining = None;
    loop {
        let want = limit.map(|l| l - items.len());
        // Filtering may drop entries, so read ahead a little when selectors are set.
        let read_ahead = want.map(|w| if filtered { w.max(64) } else { w });
        let page = app
            .store
            .list_at(&prefix, after.as_deref(), read_ahead, at)
            .map_err(|e| list_read_error(e, continuing))?;
        // Every further page of this request (and of the client's next request) reads this snapshot.
        at = Some(page.revision);
        more = page.more;
        let page_len = page.entries.len();
        let mut taken = 0;
        for entry in page.entries {
            taken += 1;
            after = Some(entry.key.clone());
            if matches(&entry) {
                items.push(entry);
                if limit.is_some_and(|l| items.len() >= l) {
                    break;
                }
            }
        }
        if limit.is_some_and(|l| items.len() >= l) {
            more = more || taken < page_len;
            if !filtered {
                remaining = Some(page.remaining + (page_len - taken));
            }
            break;
        }
        if !more || page_len == 0 {
            more = false;
            break;
        }
    }
    let revision = at.unwrap_or_else(|| app.store.current_revision());
    let mut list_meta = serde_json::Map::new();
    list_meta.insert("resourceVersion".into(), json!(revision.to_string()));
    if more && let Some(start) = after {
        list_meta.insert("continue".into(), json!(encode_continue(revision, start)));
        // Upstream reports it only when it is exact: not with selectors, which filter the remainder.
        if let Some(remaining) = remaining.filter(|r| *r > 0) {
            list_meta.insert("remainingItemCount".into(), json!(remaining));
        }
    }
    let list_meta = Value::Object(list_meta);
    if let Some(include) = table {
        let objects: Vec<Value> = items.iter().map(|e| app.present(info, e)).collect();
        return Ok(json_response(
            StatusCode::OK,
            &to_table(info, &objects, list_meta, include, true),
        ));
    }
    // Streamed: the envelope, then the items in chunks, each item's stored JSON copied rather than
    // re-serialised from a tree.
    let api_version = info.api_version();
    let head = format!(
        "{{\"kind\":{},\"apiVersion\":{},\"metadata\":{list_meta},\"items\":[",
        Value::from(format!("{}List", info.kind)),
        Value::from(api_version.as_str()),
    );
    let app = app.clone();
    let info = info.clone();
    let mut chunks: Vec<Vec<ferry_store::Entry>> = Vec::new();
    let mut items = items.into_iter().peekable();
    while items.peek().is_some() {
        chunks.push(items.by_ref().take(LIST_CHUNK_ITEMS).collect());
    }
    let chunk_count = chunks.len();
    let encode_chunk = move |(n, chunk): (usize, Vec<ferry_store::Entry>)| {
        let mut out = Vec::with_capacity(chunk.len() * 1536);
        for (i, entry) in chunk.iter().enumerate() {
            if n > 0 || i > 0 {
                out.push(b',');
            }
            crate::watch_cache::write_presented(&app, &info, &api_version, entry, &mut out);
        }
        if n + 1 == chunk_count {
            out.extend_from_slice(b"]}");
        }
        out
    };
    if chunk_count <= STREAM_ABOVE_CHUNKS {
        // Small lists go out in one piece, with a Content-Length.
        let mut body = head.into_bytes();
        for chunk in chunks.into_iter().enumerate() {
            body.extend_from_slice(&encode_chunk(chunk));
        }
        if chunk_count == 0 {
            body.extend_from_slice(b"]}");
        }
        let mut resp = Response::new(Body::from(body));
        resp.headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
        return Ok(resp);
    }
    let body_chunks = futures::stream::iter(chunks.into_iter().enumerate()).map(move |chunk| {
        Ok::<bytes::Bytes, std::convert::Infallible>(bytes::Bytes::from(encode_chunk(chunk)))
    });
    let head = futures::stream::once(async move {
        let mut head = head.into_bytes();
        if chunk_count == 0 {
            head.extend_from_slice(b"]}");
        }
        Ok::<bytes::Bytes, std::convert::Infallible>(bytes::Bytes::from(head))
    });
    let mut resp = Response::new(Body::from_stream(head.chain(body_chunks)));
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    Ok(resp)
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
