//! Kubernetes-compatible HTTP API server for Ferry's embedded cluster.
//!
//! [`start`] serves the Kubernetes REST API (discovery, OpenAPI v3, CRUD, patch ×4, watch, Table
//! output, `/status` and `/scale`) over TLS (a bearer token or a client certificate signed by the cluster CA), backed by any
//! [`ferry_store::Storage`]. It writes a kubeconfig under the data dir so `kubectl`, kube-rs and the
//! Python client work against it unchanged.
//!
//! The API machinery itself (patches, server-side apply and managedFields, defaulting, built-in
//! validation, CRD schema pruning/validation, OpenAPI documents, Table output) is
//! `ferry_apimachinery`'s; this crate owns storage, HTTP, status codes and the object lifecycle.

pub mod admission;
pub mod app;
pub mod discovery;
pub mod errors;
pub mod gc;
pub mod metrics;
pub mod proto;
pub mod registry;
pub mod rest;
pub mod tls;
pub mod watch;
pub mod watch_cache;

use std::{collections::BTreeMap, net::SocketAddr, path::PathBuf, sync::Arc};

use ferry_store::Storage;
use hyper_util::{
    rt::{TokioExecutor, TokioIo},
    server::conn::auto,
};
use serde_json::Value;
use tokio::{net::TcpListener, sync::watch as signal};

pub use admission::{AdmissionError, AdmissionRequest, MutatingAdmission, Operation, ValidatingAdmission};
pub use app::App;

/// How to run the API server.
pub struct Config {
    /// `127.0.0.1:6443`, or `127.0.0.1:0` for any free port.
    pub listen: SocketAddr,
    /// Certificates, token and kubeconfig live here.
    pub data_dir: PathBuf,
    /// `TemplateNoDefaults=true`, … (parsed by [`parse_feature_gates`]).
    pub feature_gates: BTreeMap<String, bool>,
    pub storage: Arc<dyn Storage>,
    /// Serve TLS (the default) or plain HTTP (tests, local debugging).
    pub tls: bool,
    /// Require the bearer token (the default); anonymous requests get 401.
    pub require_auth: bool,
    pub mutating_admission: Vec<Arc<dyn MutatingAdmission>>,
    pub validating_admission: Vec<Arc<dyn ValidatingAdmission>>,
    /// CRDs installed at start-up (normally [`ferry_types::all_crds`]).
    pub crds: Vec<Value>,
}

impl Config {
    /// TLS, auth on, Ferry's CRDs, no admission plug-ins.
    pub fn new(listen: SocketAddr, data_dir: PathBuf, storage: Arc<dyn Storage>) -> Self {
        Config {
            listen,
            data_dir,
            feature_gates: BTreeMap::new(),
            storage,
            tls: true,
            require_auth: true,
            mutating_admission: Vec::new(),
            validating_admission: Vec::new(),
            crds: ferry_types::all_crds(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("credentials: {0}")]
    Credentials(#[from] tls::CredentialError),
    #[error("listening on {addr}: {source}")]
    Listen {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("creating data dir {path}: {source}")]
    DataDir { path: PathBuf, source: std::io::Error },
    #[error("installing CRD {name}: {message}")]
    Crd { name: String, message: String },
}

/// `K=V,K2=V2` → map; a bare `K` means true.
pub fn parse_feature_gates(items: &[String]) -> Result<BTreeMap<String, bool>, String> {
    let mut out = BTreeMap::new();
    for item in items
        .iter()
        .flat_map(|s| s.split(','))
        .map(str::trim)
        .filter(|s| !s.is_empty())
    {
        let (k, v) = item.split_once('=').unwrap_or((item, "true"));
        let v = match v.trim().to_ascii_lowercase().as_str() {
            "true" => true,
            "false" => false,
            other => return Err(format!("feature gate {k}: {other:?} is not true or false")),
        };
        out.insert(k.trim().to_string(), v);
    }
    Ok(out)
}

/// A running server.
pub struct Running {
    pub url: String,
    pub addr: SocketAddr,
    pub kubeconfig: PathBuf,
    pub token: String,
    pub ca_pem: Option<String>,
    pub app: Arc<App>,
    stop: signal::Sender<bool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Running {
    /// Stops accepting, ends the controllers and waits for them.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        for t in self.tasks {
            let _ = t.await;
        }
    }
}

async fn install_crds(app: &App, crds: &[Value]) -> Result<(), StartError> {
    let Some(crd_info) = app
        .registry
        .get("apiextensions.k8s.io", "v1", "customresourcedefinitions")
    else {
        return Ok(());
    };
    // CRDs already stored (from an earlier run) are served again.
    for entry in app.store.list(&crd_info.prefix(), None, None).entries {
        if let Err(e) = app.registry.install_crd(&entry.value) {
            tracing::warn!(error = %e, "stored CRD cannot be served");
        }
    }
    let opts = app::WriteOptions {
        field_manager: "ferry".into(),
        ..Default::default()
    };
    for crd in crds {
        let name = crd
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let result = if app.store.get(&crd_info.key(None, &name)).is_some() {
            let desired = crd.clone();
            app.update_with(&crd_info, None, &name, &opts, |cur| {
                let mut next = desired.clone();
                if let (Some(m), Some(status)) = (next.as_object_mut(), cur.get("status")) {
                    m.insert("status".into(), status.clone());
                }
                Ok(next)
            })
            .await
        } else {
            app.create(&crd_info, None, crd.clone(), &opts).await
        };
        if let Err(e) = result {
            return Err(StartError::Crd {
                name,
                message: e.message,
            });
        }
    }
    Ok(())
}

/// Starts the API server and its controllers (namespace lifecycle, garbage collector).
pub async fn start(config: Config) -> Result<Running, StartError> {
    std::fs::create_dir_all(&config.data_dir).map_err(|source| StartError::DataDir {
        path: config.data_dir.clone(),
        source,
    })?;
    let creds = tls::load_or_generate(&config.data_dir)?;
    let mut app = App::new(
        config.storage.clone(),
        config.require_auth.then(|| creds.token.clone()),
    );
    app.mutating = config.mutating_admission;
    app.validating = config.validating_admission;
    app.feature_gates = config.feature_gates;
    if config.tls {
        app.client_certs = Some(tls::ClientCertAuthenticator::new(&creds)?);
    }
    let app = Arc::new(app);
    install_crds(&app, &config.crds).await?;
    ensure_default_namespaces(&app).await;

    let listener = TcpListener::bind(config.listen)
        .await
        .map_err(|source| StartError::Listen {
            addr: config.listen,
            source,
        })?;
    let addr = listener.local_addr().map_err(|source| StartError::Listen {
        addr: config.listen,
        source,
    })?;
    let scheme = if config.tls { "https" } else { "http" };
    let url = format!("{scheme}://{addr}");
    let kubeconfig = tls::write_kubeconfigs(&config.data_dir, &url, &creds, config.tls)?;
    let tls_config = if config.tls {
        Some(tls::server_config(&creds)?)
    } else {
        None
    };
    let (stop, stop_rx) = signal::channel(false);
    let router = axum::Router::new()
        .fallback(rest::fallback)
        .layer(axum::middleware::from_fn_with_state(
            {
                let app = app.clone();
                metrics::RequestCounter::with_authenticator(move |headers, extensions| {
                    rest::authenticated(&app, headers, extensions)
                })
            },
            metrics::track,
        ))
        .with_state(app.clone());
    let serve = tokio::spawn(accept_loop(listener, router, tls_config, stop_rx.clone()));
    let gc = tokio::spawn(gc::run(app.clone(), stop_rx));
    Ok(Running {
        url,
        addr,
        kubeconfig,
        token: creds.token,
        ca_pem: config.tls.then_some(creds.ca_pem),
        app,
        stop,
        tasks: vec![serve, gc],
    })
}

async fn ensure_default_namespaces(app: &App) {
    let Some(ns_info) = app.registry.get("", "v1", "namespaces") else {
        return;
    };
    let opts = app::WriteOptions {
        field_manager: "ferry".into(),
        ..Default::default()
    };
    for name in ["default", "kube-system", "kube-public", "kube-node-lease"] {
        if app.store.get(&ns_info.key(None, name)).is_none() {
            let obj =
                serde_json::json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}});
            if let Err(e) = app.create(&ns_info, None, obj, &opts).await {
                tracing::warn!(namespace = name, error = %e, "could not create namespace");
            }
        }
    }
    if let Some(sa) = app.registry.get("", "v1", "serviceaccounts")
        && app.store.get(&sa.key(Some("default"), "default")).is_none()
    {
        let obj = serde_json::json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "default", "namespace": "default"}});
        let _ = app.create(&sa, Some("default"), obj, &opts).await;
    }
}

async fn accept_loop(
    listener: TcpListener,
    router: axum::Router,
    tls: Option<Arc<rustls::ServerConfig>>,
    mut stop: signal::Receiver<bool>,
) {
    let acceptor = tls.map(tokio_rustls::TlsAcceptor::from);
    let mut connections = tokio::task::JoinSet::new();
    loop {
        let (tcp, _) = tokio::select! {
            _ = stop.changed() => break,
            accepted = listener.accept() => match accepted {
                Ok(c) => c,
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    continue;
                }
            },
        };
        let _ = tcp.set_nodelay(true);
        let router = router.clone();
        let acceptor = acceptor.clone();
        let mut conn_stop = stop.clone();
        connections.spawn(async move {
            let builder = auto::Builder::new(TokioExecutor::new());
            match acceptor {
                Some(acceptor) => {
                    let Ok(Ok(stream)) =
                        tokio::time::timeout(std::time::Duration::from_secs(10), acceptor.accept(tcp)).await
                    else {
                        return;
                    };
                    // The client's certificate (if any) goes with every request on this connection.
                    let peer = tls::PeerCertificates::of(stream.get_ref().1);
                    let router = tower::ServiceExt::map_request(
                        router,
                        move |mut req: axum::extract::Request<hyper::body::Incoming>| {
                            if let Some(peer) = &peer {
                                req.extensions_mut().insert(peer.clone());
                            }
                            req
                        },
                    );
                    let service = hyper_util::service::TowerToHyperService::new(router);
                    let conn = builder.serve_connection_with_upgrades(TokioIo::new(stream), service);
                    tokio::select! {
                        _ = conn => {}
                        _ = conn_stop.changed() => {}
                    }
                }
                None => {
                    let service = hyper_util::service::TowerToHyperService::new(router);
                    let conn = builder.serve_connection_with_upgrades(TokioIo::new(tcp), service);
                    tokio::select! {
                        _ = conn => {}
                        _ = conn_stop.changed() => {}
                    }
                }
            }
        });
        while connections.try_join_next().is_some() {}
    }
    connections.abort_all();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn feature_gates_parse() {
        let gates =
            parse_feature_gates(&["TemplateNoDefaults=true,Other=false".into(), "Bare".into()]).unwrap();
        assert_eq!(gates.get("TemplateNoDefaults"), Some(&true));
        assert_eq!(gates.get("Other"), Some(&false));
        assert_eq!(gates.get("Bare"), Some(&true));
        assert!(parse_feature_gates(&["X=maybe".into()]).is_err());
    }
}
