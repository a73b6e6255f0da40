//! A server-side request counter: kube-apiserver's `apiserver_request_total` counter with its `verb`,
//! `group`, `version`, `resource`, `subresource` and `code` labels, served as Prometheus text at
//! `GET /metrics`.
//!
//! [`track`] is an axum middleware around the whole router: it classifies each request from its method,
//! path, query and content type ([`classify`], the same rules as kube-apiserver's request-info
//! resolver), lets the request through and counts it with the response's status code. A watch is
//! counted when its response starts (kube-apiserver counts it when the watch ends). `GET /metrics`
//! itself is answered by the middleware (bearer token required when the server has one) and counted as
//! a non-resource `GET`.
//!
//! Verbs as kube-apiserver reports them: `GET` (one object), `LIST`, `WATCH`, `POST`, `PUT`, `PATCH`,
//! `APPLY` (server-side apply), `DELETE`, `DELETECOLLECTION`.

use std::{
    collections::BTreeMap,
    fmt::Write as _,
    sync::{Arc, Mutex, PoisonError},
};

use axum::{
    extract::{Request, State},
    http::{Extensions, HeaderMap, HeaderValue, Method, StatusCode, header},
    middleware::Next,
    response::{IntoResponse, Response},
};

/// The metric's name, as kube-apiserver exports it.
pub const REQUEST_TOTAL: &str = "apiserver_request_total";
/// The path the counter is served at.
pub const METRICS_PATH: &str = "/metrics";

/// What one request is counted under (everything but the response code).
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RequestKind {
    pub verb: String,
    /// `""` for the core group and for non-resource paths.
    pub group: String,
    pub version: String,
    /// `""` for non-resource paths (`/version`, `/healthz`, discovery, `/metrics`).
    pub resource: String,
    pub subresource: String,
}

/// Decides whether a request may read `/metrics` (the same credentials as the API itself).
type Authenticate = dyn Fn(&HeaderMap, &Extensions) -> bool + Send + Sync;

/// The counters, shared by every connection; create one per server with
/// [`RequestCounter::with_authenticator`].
pub struct RequestCounter {
    counts: Mutex<BTreeMap<(RequestKind, u16), u64>>,
    authenticate: Box<Authenticate>,
}

impl std::fmt::Debug for RequestCounter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RequestCounter").finish_non_exhaustive()
    }
}

impl RequestCounter {
    /// A counter whose `/metrics` endpoint admits whatever `authenticate` accepts (the server
    /// passes its own check, so client certificates work here as on the API).
    pub fn with_authenticator(
        authenticate: impl Fn(&HeaderMap, &Extensions) -> bool + Send + Sync + 'static,
    ) -> Arc<RequestCounter> {
        Arc::new(RequestCounter {
            counts: Mutex::default(),
            authenticate: Box::new(authenticate),
        })
    }

    /// Adds one request.
    pub fn record(&self, kind: RequestKind, code: u16) {
        let mut counts = self.counts.lock().unwrap_or_else(PoisonError::into_inner);
        *counts.entry((kind, code)).or_insert(0) += 1;
    }

    /// Every counter, in label order.
    pub fn snapshot(&self) -> Vec<(RequestKind, u16, u64)> {
        let counts = self.counts.lock().unwrap_or_else(PoisonError::into_inner);
        counts
            .iter()
            .map(|((kind, code), n)| (kind.clone(), *code, *n))
            .collect()
    }

    /// The Prometheus text exposition (format 0.0.4) of the counter.
    pub fn render(&self) -> String {
        let mut out = String::new();
        out.push_str(&format!(
            "# HELP {REQUEST_TOTAL} Counter of apiserver requests broken out for each verb, group, \
             version, resource, subresource, and HTTP response code.\n# TYPE {REQUEST_TOTAL} counter\n"
        ));
        for (kind, code, n) in self.snapshot() {
            // Labels in alphabetical order, as client_golang writes them.
            let _ = writeln!(
                out,
                "{REQUEST_TOTAL}{{code=\"{code}\",group=\"{}\",resource=\"{}\",subresource=\"{}\",verb=\"{}\",version=\"{}\"}} {n}",
                escape(&kind.group),
                escape(&kind.resource),
                escape(&kind.subresource),
                escape(&kind.verb),
                escape(&kind.version),
            );
        }
        out
    }

    fn authorized(&self, request: &Request) -> bool {
        (self.authenticate)(request.headers(), request.extensions())
    }
}

/// Label values escaped for the text format (backslash, double quote, newline).
fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// Subresources of a namespace that follow its name directly (`/api/v1/namespaces/{name}/status`).
const NAMESPACE_SUBRESOURCES: [&str; 2] = ["status", "finalize"];

/// Classifies a request the way kube-apiserver's request-info resolver does.
///
/// `watch` is true for `?watch=true|1`; `content_type` is the request's Content-Type (server-side apply
/// is a `PATCH` with `application/apply-patch+yaml`).
pub fn classify(method: &Method, path: &str, watch: bool, content_type: Option<&str>) -> RequestKind {
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let (group, version, rest): (&str, &str, &[&str]) = match segments.as_slice() {
        ["api", version, rest @ ..] => ("", version, rest),
        ["apis", group, version, rest @ ..] => (group, version, rest),
        _ => {
            return RequestKind {
                verb: method.as_str().to_ascii_uppercase(),
                ..RequestKind::default()
            };
        }
    };
    let (legacy_watch, rest) = match rest {
        ["watch", rest @ ..] => (true, rest),
        rest => (false, rest),
    };
    // `namespaces/{ns}/{resource}/…` names a namespaced resource, except the namespace's own
    // subresources; `namespaces` and `namespaces/{name}` are the namespace resource itself.
    let parts: &[&str] = match rest {
        ["namespaces", _namespace, next, ..] if !NAMESPACE_SUBRESOURCES.contains(next) => {
            rest.get(2..).unwrap_or_default()
        }
        rest => rest,
    };
    // `/api/v1` and `/apis/{group}/{version}` are discovery: non-resource requests.
    if parts.is_empty() {
        return RequestKind {
            verb: method.as_str().to_ascii_uppercase(),
            ..RequestKind::default()
        };
    }
    let resource = parts.first().copied().unwrap_or_default();
    let name = parts.get(1).copied();
    let subresource = parts.get(2).copied().unwrap_or_default();
    let verb = match *method {
        Method::GET if watch || legacy_watch => "WATCH",
        Method::GET if name.is_none() => "LIST",
        Method::PATCH if content_type.is_some_and(|t| t.starts_with("application/apply-patch")) => "APPLY",
        Method::DELETE if name.is_none() => "DELETECOLLECTION",
        ref other => other.as_str(),
    };
    RequestKind {
        verb: verb.to_ascii_uppercase(),
        group: group.to_string(),
        version: version.to_string(),
        resource: resource.to_string(),
        subresource: subresource.to_string(),
    }
}

fn is_watch_query(query: Option<&str>) -> bool {
    query.is_some_and(|q| {
        form_urlencoded::parse(q.as_bytes()).any(|(k, v)| k == "watch" && (v == "true" || v == "1"))
    })
}

/// The middleware: serves `GET /metrics`, counts every request with its response code.
pub async fn track(State(counter): State<Arc<RequestCounter>>, request: Request, next: Next) -> Response {
    let kind = classify(
        request.method(),
        request.uri().path(),
        is_watch_query(request.uri().query()),
        request
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok()),
    );
    let response = if request.method() == Method::GET && request.uri().path() == METRICS_PATH {
        if counter.authorized(&request) {
            let mut response = (StatusCode::OK, counter.render()).into_response();
            response.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
            );
            response
        } else {
            crate::errors::ApiError::unauthorized().into_response()
        }
    } else {
        next.run(request).await
    };
    counter.record(kind, response.status().as_u16());
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use tower::ServiceExt;

    fn kind(verb: &str, group: &str, version: &str, resource: &str, subresource: &str) -> RequestKind {
        RequestKind {
            verb: verb.into(),
            group: group.into(),
            version: version.into(),
            resource: resource.into(),
            subresource: subresource.into(),
        }
    }

    #[test]
    fn classifies_like_kube_apiserver() {
        let apply = Some("application/apply-patch+yaml");
        let merge = Some("application/merge-patch+json");
        let cases: Vec<(Method, &str, bool, Option<&str>, RequestKind)> = vec![
            (
                Method::GET,
                "/api/v1/namespaces/default/pods",
                false,
                None,
                kind("LIST", "", "v1", "pods", ""),
            ),
            (
                Method::GET,
                "/api/v1/pods",
                true,
                None,
                kind("WATCH", "", "v1", "pods", ""),
            ),
            (
                Method::GET,
                "/api/v1/watch/namespaces/default/pods",
                false,
                None,
                kind("WATCH", "", "v1", "pods", ""),
            ),
            (
                Method::GET,
                "/api/v1/namespaces/default/pods/web-1",
                false,
                None,
                kind("GET", "", "v1", "pods", ""),
            ),
            (
                Method::POST,
                "/api/v1/namespaces/default/pods",
                false,
                None,
                kind("POST", "", "v1", "pods", ""),
            ),
            (
                Method::POST,
                "/api/v1/namespaces/default/pods/web-1/binding",
                false,
                None,
                kind("POST", "", "v1", "pods", "binding"),
            ),
            (
                Method::PATCH,
                "/api/v1/namespaces/default/pods/web-1/status",
                false,
                merge,
                kind("PATCH", "", "v1", "pods", "status"),
            ),
            (
                Method::PUT,
                "/apis/apps.kruise.io/v1alpha1/namespaces/default/clonesets/web/status",
                false,
                None,
                kind("PUT", "apps.kruise.io", "v1alpha1", "clonesets", "status"),
            ),
            (
                Method::PATCH,
                "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/n1",
                false,
                apply,
                kind("APPLY", "coordination.k8s.io", "v1", "leases", ""),
            ),
            (
                Method::DELETE,
                "/api/v1/namespaces/default/pods/web-1",
                false,
                None,
                kind("DELETE", "", "v1", "pods", ""),
            ),
            (
                Method::DELETE,
                "/api/v1/namespaces/default/pods",
                false,
                None,
                kind("DELETECOLLECTION", "", "v1", "pods", ""),
            ),
            // The namespace resource itself and its own subresources.
            (
                Method::GET,
                "/api/v1/namespaces",
                false,
                None,
                kind("LIST", "", "v1", "namespaces", ""),
            ),
            (
                Method::GET,
                "/api/v1/namespaces/default",
                false,
                None,
                kind("GET", "", "v1", "namespaces", ""),
            ),
            (
                Method::PUT,
                "/api/v1/namespaces/gone/finalize",
                false,
                None,
                kind("PUT", "", "v1", "namespaces", "finalize"),
            ),
            (
                Method::GET,
                "/api/v1/nodes/ferry-node-1",
                false,
                None,
                kind("GET", "", "v1", "nodes", ""),
            ),
            // Non-resource paths and discovery.
            (Method::GET, "/version", false, None, kind("GET", "", "", "", "")),
            (Method::GET, "/metrics", false, None, kind("GET", "", "", "", "")),
            (
                Method::GET,
                "/apis/apps/v1",
                false,
                None,
                kind("GET", "", "", "", ""),
            ),
            (Method::GET, "/api", false, None, kind("GET", "", "", "", "")),
        ];
        for (method, path, watch, content_type, want) in cases {
            assert_eq!(
                classify(&method, path, watch, content_type),
                want,
                "{method} {path}"
            );
        }
    }

    #[test]
    fn watch_query_values() {
        assert!(is_watch_query(Some("watch=true&resourceVersion=5")));
        assert!(is_watch_query(Some("labelSelector=a&watch=1")));
        assert!(!is_watch_query(Some("watch=false")));
        assert!(!is_watch_query(None));
    }

    #[test]
    fn renders_prometheus_text_with_escaped_labels() {
        let counter = RequestCounter::with_authenticator(|_, _| true);
        counter.record(kind("LIST", "", "v1", "pods", ""), 200);
        counter.record(kind("LIST", "", "v1", "pods", ""), 200);
        counter.record(kind("PATCH", "", "v1", "pods", "status"), 409);
        counter.record(kind("GET", "", "", "", "a\"b"), 404);
        let text = counter.render();
        assert!(
            text.contains("# TYPE apiserver_request_total counter\n"),
            "{text}"
        );
        assert!(
            text.contains("apiserver_request_total{code=\"200\",group=\"\",resource=\"pods\",subresource=\"\",verb=\"LIST\",version=\"v1\"} 2\n"),
            "{text}"
        );
        assert!(
            text.contains("apiserver_request_total{code=\"409\",group=\"\",resource=\"pods\",subresource=\"status\",verb=\"PATCH\",version=\"v1\"} 1\n"),
            "{text}"
        );
        assert!(text.contains("subresource=\"a\\\"b\""), "{text}");
    }

    /// The middleware in a router: counts what it passes through, answers `/metrics` only with the token.
    #[tokio::test]
    async fn middleware_counts_requests_and_serves_metrics() {
        // The server passes its own credential check; here a fixed bearer token stands in for it.
        let counter = RequestCounter::with_authenticator(|headers, _| {
            headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()) == Some("Bearer secret")
        });
        let router = axum::Router::new()
            .fallback(|| async { (StatusCode::NOT_FOUND, "nope") })
            .layer(axum::middleware::from_fn_with_state(counter.clone(), track));
        let send = |method: Method, uri: &str, token: Option<&str>| {
            let mut builder = axum::http::Request::builder().method(method).uri(uri);
            if let Some(token) = token {
                builder = builder.header(header::AUTHORIZATION, format!("Bearer {token}"));
            }
            let request = builder.body(Body::empty()).unwrap_or_default();
            router.clone().oneshot(request)
        };
        for _ in 0..3 {
            let response = send(Method::GET, "/api/v1/namespaces/default/pods?watch=1", None).await;
            assert_eq!(response.ok().map(|r| r.status()), Some(StatusCode::NOT_FOUND));
        }
        let denied = send(Method::GET, "/metrics", Some("wrong")).await;
        assert_eq!(denied.ok().map(|r| r.status()), Some(StatusCode::UNAUTHORIZED));
        let response = send(Method::GET, "/metrics", Some("secret"))
            .await
            .unwrap_or_else(|never| match never {});
        assert_eq!(response.status(), StatusCode::OK);
        let body = axum::body::to_bytes(response.into_body(), 1 << 20)
            .await
            .unwrap_or_default();
        let text = String::from_utf8_lossy(&body);
        assert!(
            text.contains("apiserver_request_total{code=\"404\",group=\"\",resource=\"pods\",subresource=\"\",verb=\"WATCH\",version=\"v1\"} 3\n"),
            "{text}"
        );
        assert!(
            text.contains("apiserver_request_total{code=\"401\",group=\"\",resource=\"\",subresource=\"\",verb=\"GET\",version=\"\"} 1\n"),
            "{text}"
        );
        // The successful /metrics read is counted after it was rendered.
        let snapshot = counter.snapshot();
        assert!(
            snapshot
                .iter()
                .any(|(k, code, n)| k.resource.is_empty() && *code == 200 && *n == 1)
        );
    }
}
