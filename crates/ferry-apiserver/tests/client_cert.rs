//! Client-certificate authentication: the admin certificate the server generates (signed by the cluster
//! CA) works with real kubectl and kube-rs, from the cert-only kubeconfig and from the `ferry-admin-cert`
//! context of the main one; a certificate from another CA gets 401 and the token keeps working.

mod common;

use std::{path::Path, process::Stdio};

use base64::Engine as _;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use kube::{
    Api, Client,
    api::{ListParams, PostParams},
    config::{KubeConfigOptions, Kubeconfig},
};
use serde_json::json;

async fn kubectl_with(kubeconfig: &Path, server: &common::Server, args: &[&str]) -> common::Out {
    let mut cmd = tokio::process::Command::new("kubectl");
    cmd.args(args)
        .arg(format!(
            "--cache-dir={}",
            server.dir.path().join("kube-cache").display()
        ))
        .env("KUBECONFIG", kubeconfig)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    common::run(cmd, None).await
}

async fn client(kubeconfig: &Path, context: Option<&str>) -> Client {
    let kc = Kubeconfig::read_from(kubeconfig).expect("kubeconfig parses");
    let options = KubeConfigOptions {
        context: context.map(str::to_string),
        ..Default::default()
    };
    let config = kube::Config::from_custom_kubeconfig(kc, &options)
        .await
        .expect("kubeconfig loads");
    Client::try_from(config).expect("client")
}

/// A kubeconfig for `server` whose only user is a certificate with the admin's subject, signed by a
/// CA the server has never seen.
fn foreign_cert_kubeconfig(server: &common::Server, ca_pem: &str) -> String {
    let ca_params = {
        let mut p = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        p.distinguished_name.push(rcgen::DnType::CommonName, "ferry-ca");
        p.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        p
    };
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let issuer = rcgen::Issuer::new(ca_params, ca_key);
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, ferry_apiserver::tls::ADMIN_CERT_USER);
    params.distinguished_name.push(
        rcgen::DnType::OrganizationName,
        ferry_apiserver::tls::ADMIN_CERT_GROUP,
    );
    params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ClientAuth];
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = params.signed_by(&key, &issuer).unwrap();
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: ferry\n  cluster:\n    server: {}\n    certificate-authority-data: {}\ncontexts:\n- name: foreign\n  context:\n    cluster: ferry\n    user: foreign\ncurrent-context: foreign\nusers:\n- name: foreign\n  user:\n    client-certificate-data: {}\n    client-key-data: {}\n",
        server.running.url,
        b64(ca_pem),
        b64(&cert.pem()),
        b64(&key.serialize_pem())
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_authenticates_with_the_admin_client_certificate() {
    let s = common::start().await;
    let cert_kubeconfig = s.dir.path().join(ferry_apiserver::tls::CERT_KUBECONFIG);
    let text = std::fs::read_to_string(&cert_kubeconfig).expect("cert kubeconfig written");
    assert!(
        text.contains("client-certificate-data:") && !text.contains("token:"),
        "{text}"
    );

    let created = kubectl_with(
        &cert_kubeconfig,
        &s,
        &["create", "configmap", "by-cert", "--from-literal=k=v"],
    )
    .await;
    assert!(created.ok, "{}{}", created.stderr, created.stdout);
    let got = kubectl_with(
        &cert_kubeconfig,
        &s,
        &["get", "configmap", "by-cert", "-o", "jsonpath={.data.k}"],
    )
    .await;
    assert!(got.ok, "{}", got.stderr);
    assert_eq!(got.stdout, "v");
    // Non-resource endpoints take the same credentials: the request counter counted our create.
    let metrics = kubectl_with(&cert_kubeconfig, &s, &["get", "--raw", "/metrics"]).await;
    assert!(metrics.ok, "{}", metrics.stderr);
    assert!(
        metrics
            .stdout
            .lines()
            .any(|l| l.starts_with("apiserver_request_total{")
                && l.contains("resource=\"configmaps\"")
                && l.contains("verb=\"POST\"")),
        "{}",
        metrics.stdout
    );

    // The main kubeconfig offers the same certificate as a second context; its default stays the token.
    let main = s.kubeconfig();
    let contexts = kubectl_with(&main, &s, &["config", "get-contexts", "-o", "name"]).await;
    assert_eq!(
        contexts.stdout.lines().collect::<Vec<_>>(),
        ["ferry", "ferry-admin-cert"]
    );
    let by_context = kubectl_with(
        &main,
        &s,
        &["--context", "ferry-admin-cert", "get", "namespaces", "-o", "name"],
    )
    .await;
    assert!(by_context.ok, "{}", by_context.stderr);
    assert!(
        by_context.stdout.contains("namespace/default"),
        "{}",
        by_context.stdout
    );
    let by_token = kubectl_with(&main, &s, &["get", "configmap", "by-cert", "-o", "name"]).await;
    assert!(by_token.ok, "{}", by_token.stderr);

    // A certificate with the same subject from another CA: 401, not a handshake failure.
    let ca_pem = s.running.ca_pem.clone().expect("TLS on");
    let foreign = s.dir.path().join("foreign-kubeconfig");
    std::fs::write(&foreign, foreign_cert_kubeconfig(&s, &ca_pem)).unwrap();
    let refused = kubectl_with(&foreign, &s, &["get", "configmaps", "-v=6"]).await;
    assert!(!refused.ok);
    assert!(
        refused.stderr.contains("Unauthorized") || refused.stderr.contains("401"),
        "{}",
        refused.stderr
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kube_rs_authenticates_with_the_admin_client_certificate() {
    let s = common::start().await;
    let cert_kubeconfig = s.dir.path().join(ferry_apiserver::tls::CERT_KUBECONFIG);
    for (path, context) in [
        (cert_kubeconfig.as_path(), None),
        (s.running.kubeconfig.as_path(), Some("ferry-admin-cert")),
    ] {
        let c = client(path, context).await;
        let namespaces: Api<Namespace> = Api::all(c.clone());
        let list = namespaces
            .list(&ListParams::default())
            .await
            .expect("list by cert");
        assert!(
            list.items
                .iter()
                .any(|n| n.metadata.name.as_deref() == Some("default"))
        );
        let cms: Api<ConfigMap> = Api::namespaced(c, "default");
        let name = format!("kube-rs-{}", context.unwrap_or("cert-only"));
        let cm: ConfigMap =
            serde_json::from_value(json!({"metadata": {"name": name}, "data": {"k": "v"}})).unwrap();
        cms.create(&PostParams::default(), &cm)
            .await
            .expect("create by cert");
        assert_eq!(cms.get(&name).await.expect("get").data.unwrap()["k"], "v");
    }

    let ca_pem = s.running.ca_pem.clone().expect("TLS on");
    let foreign = s.dir.path().join("foreign-kubeconfig");
    std::fs::write(&foreign, foreign_cert_kubeconfig(&s, &ca_pem)).unwrap();
    let c = client(&foreign, None).await;
    let err = Api::<ConfigMap>::namespaced(c, "default")
        .list(&ListParams::default())
        .await
        .expect_err("a foreign certificate is refused");
    match err {
        kube::Error::Api(status) => assert_eq!(status.code, 401, "{status:?}"),
        other => panic!("expected a 401 Status, got {other:?}"),
    }
}
