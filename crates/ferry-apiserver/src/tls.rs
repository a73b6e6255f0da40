//! First-start credentials: a CA, a serving certificate for 127.0.0.1/localhost, a bearer token, an
//! admin client certificate signed by the CA and the kubeconfigs, all under the data dir. Later starts
//! reuse them.
//!
//! # Client certificates
//! As kube-apiserver does, the TLS handshake *requests* a client certificate but does not require one
//! (token clients send none), and a certificate is checked against the cluster CA after the handshake
//! rather than during it: a certificate from another CA then gets an HTTP 401 instead of a failed
//! handshake. The handshake still verifies that the client holds the certificate's private key. The
//! chain is verified once per connection ([`ClientCertAuthenticator`], rustls' `WebPkiClientVerifier`
//! with the CA as the only root) and a verified certificate authenticates every request on it, as the
//! user of its CommonName in the groups of its Organizations.

use std::{
    fs,
    io::Write,
    path::{Path, PathBuf},
    sync::{Arc, OnceLock},
};

use base64::Engine;
use rand::Rng;
use rustls::{
    DigitallySignedStruct, DistinguishedName, SignatureScheme,
    client::danger::HandshakeSignatureValid,
    pki_types::{CertificateDer, UnixTime},
    server::danger::{ClientCertVerified, ClientCertVerifier},
};

/// The user of the admin client certificate, and its group (kube's superuser group).
pub const ADMIN_CERT_USER: &str = "ferry-admin";
pub const ADMIN_CERT_GROUP: &str = "system:masters";
/// Name of the kubeconfig user and context that authenticate with the client certificate.
pub const CERT_CONTEXT: &str = "ferry-admin-cert";
/// File name (under the data dir) of the kubeconfig whose only user is the client certificate.
pub const CERT_KUBECONFIG: &str = "kubeconfig-client-cert";

#[derive(Debug, thiserror::Error)]
pub enum CredentialError {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("generating certificates: {0}")]
    Cert(#[from] rcgen::Error),
    #[error("loading {path}: {message}")]
    Load { path: PathBuf, message: String },
    #[error("TLS configuration: {0}")]
    Tls(#[from] rustls::Error),
    #[error("client certificate verification: {0}")]
    ClientVerifier(#[from] rustls::server::VerifierBuilderError),
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> CredentialError + '_ {
    move |source| CredentialError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// What clients need to trust and authenticate to the server.
#[derive(Debug, Clone)]
pub struct Credentials {
    pub ca_pem: String,
    pub cert_pem: String,
    pub key_pem: String,
    pub token: String,
    /// The admin client certificate (CN [`ADMIN_CERT_USER`], O [`ADMIN_CERT_GROUP`]) and its key.
    pub client_cert_pem: String,
    pub client_key_pem: String,
}

fn write_private(path: &Path, contents: &str) -> Result<(), CredentialError> {
    let mut opts = fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let tmp = path.with_extension("tmp");
    let mut f = opts.open(&tmp).map_err(io_err(&tmp))?;
    f.write_all(contents.as_bytes()).map_err(io_err(&tmp))?;
    f.sync_all().map_err(io_err(&tmp))?;
    fs::rename(&tmp, path).map_err(io_err(path))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(path, fs::Permissions::from_mode(0o600)).map_err(io_err(path))?;
    }
    Ok(())
}

/// New certificates; keeps `token` when given (a data dir from before client certificates).
fn generate(token: Option<String>) -> Result<Credentials, CredentialError> {
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new())?;
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "ferry-ca");
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params.key_usages = vec![
        rcgen::KeyUsagePurpose::KeyCertSign,
        rcgen::KeyUsagePurpose::CrlSign,
    ];
    let ca_key = rcgen::KeyPair::generate()?;
    let ca_cert = ca_params.self_signed(&ca_key)?;
    let issuer = rcgen::Issuer::new(ca_params, ca_key);

    let mut params = rcgen::CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()])?;
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "ferry-apiserver");
    params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
    let key = rcgen::KeyPair::generate()?;
    let cert = params.signed_by(&key, &issuer)?;

    let mut client_params = rcgen::CertificateParams::new(Vec::<String>::new())?;
    client_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, ADMIN_CERT_USER);
    client_params
        .distinguished_name
        .push(rcgen::DnType::OrganizationName, ADMIN_CERT_GROUP);
    client_params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ClientAuth];
    let client_key = rcgen::KeyPair::generate()?;
    let client_cert = client_params.signed_by(&client_key, &issuer)?;

    let token = token.unwrap_or_else(|| {
        let mut raw = [0u8; 32];
        rand::rng().fill(&mut raw);
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw)
    });
    Ok(Credentials {
        ca_pem: ca_cert.pem(),
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
        token,
        client_cert_pem: client_cert.pem(),
        client_key_pem: client_key.serialize_pem(),
    })
}

/// Loads the credentials under `dir/pki`, generating them on first start. A data dir from before client
/// certificates (no CA key was kept to sign one) gets new certificates and keeps its token.
pub fn load_or_generate(dir: &Path) -> Result<Credentials, CredentialError> {
    let pki = dir.join("pki");
    let paths = [
        "ca.crt",
        "server.crt",
        "server.key",
        "token",
        "client.crt",
        "client.key",
    ]
    .map(|f| pki.join(f));
    let read = |p: &PathBuf| fs::read_to_string(p).map_err(io_err(p));
    if paths.iter().all(|p| p.exists()) {
        return Ok(Credentials {
            ca_pem: read(&paths[0])?,
            cert_pem: read(&paths[1])?,
            key_pem: read(&paths[2])?,
            token: read(&paths[3])?.trim().to_string(),
            client_cert_pem: read(&paths[4])?,
            client_key_pem: read(&paths[5])?,
        });
    }
    let kept_token = if paths[3].exists() {
        Some(read(&paths[3])?.trim().to_string())
    } else {
        None
    };
    fs::create_dir_all(&pki).map_err(io_err(&pki))?;
    let creds = generate(kept_token)?;
    for (path, contents) in paths.iter().zip([
        &creds.ca_pem,
        &creds.cert_pem,
        &creds.key_pem,
        &creds.token,
        &creds.client_cert_pem,
        &creds.client_key_pem,
    ]) {
        write_private(path, contents)?;
    }
    Ok(creds)
}

fn parse_certs(what: &str, pem: &str) -> Result<Vec<CertificateDer<'static>>, CredentialError> {
    rustls_pemfile::certs(&mut pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| CredentialError::Load {
            path: PathBuf::from(what),
            message: e.to_string(),
        })
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Checks client certificate chains against the cluster CA, once per connection.
#[derive(Debug)]
pub struct ClientCertAuthenticator {
    verifier: Arc<dyn ClientCertVerifier>,
}

/// Who a verified client certificate names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertUser {
    /// The subject's CommonName.
    pub name: String,
    /// The subject's Organizations.
    pub groups: Vec<String>,
}

/// The certificate chain a client presented on one TLS connection, put into each request's extensions;
/// the verdict is computed on the connection's first request and reused.
#[derive(Debug, Clone)]
pub struct PeerCertificates(Arc<PeerChain>);

#[derive(Debug)]
struct PeerChain {
    chain: Vec<CertificateDer<'static>>,
    verdict: OnceLock<Option<CertUser>>,
}

impl PeerCertificates {
    /// The chain the client presented on `conn`, if any.
    pub fn of(conn: &rustls::ServerConnection) -> Option<PeerCertificates> {
        let chain = conn.peer_certificates().filter(|c| !c.is_empty())?;
        Some(PeerCertificates(Arc::new(PeerChain {
            chain: chain.iter().map(|c| c.clone().into_owned()).collect(),
            verdict: OnceLock::new(),
        })))
    }
}

impl ClientCertAuthenticator {
    /// Trusts client certificates signed by the cluster CA (`creds.ca_pem`).
    pub fn new(creds: &Credentials) -> Result<Self, CredentialError> {
        let mut roots = rustls::RootCertStore::empty();
        for ca in parse_certs("ca.crt", &creds.ca_pem)? {
            roots.add(ca)?;
        }
        let verifier =
            rustls::server::WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider())
                .allow_unauthenticated()
                .build()?;
        Ok(ClientCertAuthenticator { verifier })
    }

    /// The user of a chain the CA signed (valid now, for client auth); None for any other chain.
    pub fn authenticate(&self, peer: &PeerCertificates) -> Option<CertUser> {
        peer.0
            .verdict
            .get_or_init(|| {
                let (leaf, intermediates) = peer.0.chain.split_first()?;
                match self
                    .verifier
                    .verify_client_cert(leaf, intermediates, UnixTime::now())
                {
                    Ok(_) => cert_user(leaf),
                    Err(e) => {
                        tracing::debug!(error = %e, "client certificate rejected");
                        None
                    }
                }
            })
            .clone()
    }
}

/// The user and groups a certificate's subject names; None without a CommonName.
fn cert_user(der: &CertificateDer<'_>) -> Option<CertUser> {
    let (_, cert) = x509_parser::parse_x509_certificate(der.as_ref()).ok()?;
    let subject = cert.subject();
    let name = subject.iter_common_name().next()?.as_str().ok()?.to_string();
    let groups = subject
        .iter_organization()
        .filter_map(|o| o.as_str().ok().map(str::to_string))
        .collect();
    Some(CertUser { name, groups })
}

/// Requests a client certificate without requiring one and accepts any chain at the handshake (after
/// checking the client's proof of its key); [`ClientCertAuthenticator`] judges the chain per connection,
/// so an untrusted certificate gets a 401 rather than a handshake failure, as with kube-apiserver.
#[derive(Debug)]
struct RequestClientCert {
    webpki: Arc<dyn ClientCertVerifier>,
}

impl ClientCertVerifier for RequestClientCert {
    fn offer_client_auth(&self) -> bool {
        true
    }

    fn client_auth_mandatory(&self) -> bool {
        false
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        // No hints: a client then sends its certificate whoever signed it, and gets a 401 if untrusted.
        &[]
    }

    fn verify_client_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        Ok(ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.webpki.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.webpki.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.webpki.supported_verify_schemes()
    }
}

/// A rustls server config serving the generated certificate and requesting (not requiring) a client
/// certificate.
pub fn server_config(creds: &Credentials) -> Result<Arc<rustls::ServerConfig>, CredentialError> {
    let bad = |what: &str, message: String| CredentialError::Load {
        path: PathBuf::from(what),
        message,
    };
    let certs = parse_certs("server.crt", &creds.cert_pem)?;
    let key = rustls_pemfile::private_key(&mut creds.key_pem.as_bytes())
        .map_err(|e| bad("server.key", e.to_string()))?
        .ok_or_else(|| bad("server.key", "no private key found".into()))?;
    let webpki = ClientCertAuthenticator::new(creds)?.verifier;
    let mut config = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?
        .with_client_cert_verifier(Arc::new(RequestClientCert { webpki }))
        .with_single_cert(certs, key)?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// How a kubeconfig's users authenticate.
#[derive(Debug, Clone, Copy)]
pub struct KubeconfigUsers<'a> {
    pub token: &'a str,
    /// (certificate PEM, key PEM) of the client certificate user, if offered.
    pub client_cert: Option<(&'a str, &'a str)>,
    /// Make the client certificate context the current one (and leave the token user out).
    pub cert_only: bool,
}

fn b64(text: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(text.as_bytes())
}

/// The kubeconfig text for a cluster at `url`. `ca_pem` is None for plain HTTP.
pub fn kubeconfig(url: &str, ca_pem: Option<&str>, token: &str) -> String {
    kubeconfig_for(
        url,
        ca_pem,
        KubeconfigUsers {
            token,
            client_cert: None,
            cert_only: false,
        },
    )
}

/// The kubeconfig text for a cluster at `url`: the token user's context `ferry` (current unless
/// `cert_only`) and, when a client certificate is given, the context [`CERT_CONTEXT`] of its user.
pub fn kubeconfig_for(url: &str, ca_pem: Option<&str>, users: KubeconfigUsers<'_>) -> String {
    let ca = ca_pem
        .map(|pem| format!("    certificate-authority-data: {}\n", b64(pem)))
        .unwrap_or_default();
    let mut contexts = String::new();
    let mut user_entries = String::new();
    if !users.cert_only {
        contexts.push_str(
            "- name: ferry\n  context:\n    cluster: ferry\n    user: ferry-admin\n    namespace: default\n",
        );
        user_entries.push_str(&format!(
            "- name: ferry-admin\n  user:\n    token: {}\n",
            users.token
        ));
    }
    let mut current = "ferry";
    if let Some((cert, key)) = users.client_cert {
        contexts.push_str(&format!(
            "- name: {CERT_CONTEXT}\n  context:\n    cluster: ferry\n    user: {CERT_CONTEXT}\n    namespace: default\n"
        ));
        user_entries.push_str(&format!(
            "- name: {CERT_CONTEXT}\n  user:\n    client-certificate-data: {}\n    client-key-data: {}\n",
            b64(cert),
            b64(key)
        ));
        if users.cert_only {
            current = CERT_CONTEXT;
        }
    }
    format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: ferry\n  cluster:\n    server: {url}\n{ca}contexts:\n{contexts}current-context: {current}\nusers:\n{user_entries}"
    )
}

/// Writes `dir/kubeconfig` (the token context, current, plus the client certificate context when TLS
/// is on) and, with TLS, `dir/`[`CERT_KUBECONFIG`] (the client certificate alone), both mode 0600.
/// Returns the path of the main one.
pub fn write_kubeconfigs(
    dir: &Path,
    url: &str,
    creds: &Credentials,
    tls: bool,
) -> Result<PathBuf, CredentialError> {
    let ca = tls.then_some(creds.ca_pem.as_str());
    let client_cert = tls.then_some((creds.client_cert_pem.as_str(), creds.client_key_pem.as_str()));
    let main = dir.join("kubeconfig");
    let users = KubeconfigUsers {
        token: &creds.token,
        client_cert,
        cert_only: false,
    };
    write_private(&main, &kubeconfig_for(url, ca, users))?;
    if tls {
        let cert_only = KubeconfigUsers {
            cert_only: true,
            ..users
        };
        write_private(&dir.join(CERT_KUBECONFIG), &kubeconfig_for(url, ca, cert_only))?;
    }
    Ok(main)
}

/// Writes the kubeconfig with mode 0600.
pub fn write_kubeconfig(path: &Path, text: &str) -> Result<(), CredentialError> {
    write_private(path, text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_are_generated_once_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let first = load_or_generate(dir.path()).unwrap();
        let second = load_or_generate(dir.path()).unwrap();
        assert_eq!(first.token, second.token);
        assert_eq!(first.cert_pem, second.cert_pem);
        assert_eq!(first.client_cert_pem, second.client_cert_pem);
        assert!(first.ca_pem.contains("BEGIN CERTIFICATE"));
        assert!(server_config(&first).is_ok());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(dir.path().join("pki/server.key"))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    /// A data dir from before client certificates gets them, keeping its token.
    #[test]
    fn old_data_dirs_get_a_client_certificate_and_keep_their_token() {
        let dir = tempfile::tempdir().unwrap();
        let first = load_or_generate(dir.path()).unwrap();
        fs::remove_file(dir.path().join("pki/client.crt")).unwrap();
        let upgraded = load_or_generate(dir.path()).unwrap();
        assert_eq!(upgraded.token, first.token);
        assert_ne!(upgraded.ca_pem, first.ca_pem);
        assert!(dir.path().join("pki/client.crt").exists());
    }

    /// The admin certificate verifies as ferry-admin in system:masters; a certificate from another CA
    /// with the same subject does not.
    #[test]
    fn client_certificates_verify_only_against_the_cluster_ca() {
        let ours = generate(None).unwrap();
        let theirs = generate(None).unwrap();
        let authenticator = ClientCertAuthenticator::new(&ours).unwrap();
        let peer = |creds: &Credentials| {
            PeerCertificates(Arc::new(PeerChain {
                chain: parse_certs("client.crt", &creds.client_cert_pem).unwrap(),
                verdict: OnceLock::new(),
            }))
        };
        assert_eq!(
            authenticator.authenticate(&peer(&ours)),
            Some(CertUser {
                name: ADMIN_CERT_USER.into(),
                groups: vec![ADMIN_CERT_GROUP.into()]
            })
        );
        assert_eq!(authenticator.authenticate(&peer(&theirs)), None);
        // The serving certificate is signed by the CA but is not for client auth.
        let server = PeerCertificates(Arc::new(PeerChain {
            chain: parse_certs("server.crt", &ours.cert_pem).unwrap(),
            verdict: OnceLock::new(),
        }));
        assert_eq!(authenticator.authenticate(&server), None);
    }

    #[test]
    fn kubeconfig_offers_the_client_certificate_as_a_second_context() {
        let users = KubeconfigUsers {
            token: "tok",
            client_cert: Some(("CERT", "KEY")),
            cert_only: false,
        };
        let text = kubeconfig_for("https://127.0.0.1:1", Some("PEM"), users);
        assert!(text.contains("current-context: ferry\n"), "{text}");
        assert!(text.contains("token: tok"));
        assert!(text.contains("client-certificate-data: Q0VSVA=="), "{text}");
        assert!(text.contains("client-key-data: S0VZ"), "{text}");
        assert!(text.contains("- name: ferry-admin-cert\n  context:"), "{text}");
        let cert_only = kubeconfig_for(
            "https://127.0.0.1:1",
            Some("PEM"),
            KubeconfigUsers {
                cert_only: true,
                ..users
            },
        );
        assert!(
            cert_only.contains("current-context: ferry-admin-cert\n"),
            "{cert_only}"
        );
        assert!(!cert_only.contains("token:"), "{cert_only}");
    }

    #[test]
    fn kubeconfig_names_server_and_token() {
        let text = kubeconfig("https://127.0.0.1:1", Some("PEM"), "tok");
        assert!(text.contains("server: https://127.0.0.1:1"));
        assert!(text.contains("token: tok"));
        assert!(text.contains("certificate-authority-data: UEVN"));
    }
}
