//! First-start credentials: a CA, a serving certificate for 127.0.0.1/localhost, a bearer token and
//! the kubeconfig, all under the data dir. Later starts reuse them.

use std::{
    fs,
    io::Write,
    path::{Path, PathBuf},
    sync::Arc,
};

use base64::Engine;
use rand::Rng;

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

fn generate() -> Result<Credentials, CredentialError> {
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

    let mut raw = [0u8; 32];
    rand::rng().fill(&mut raw);
    let token = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw);
    Ok(Credentials {
        ca_pem: ca_cert.pem(),
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
        token,
    })
}

/// Loads the credentials under `dir/pki`, generating them on first start.
pub fn load_or_generate(dir: &Path) -> Result<Credentials, CredentialError> {
    let pki = dir.join("pki");
    let paths = ["ca.crt", "server.crt", "server.key", "token"].map(|f| pki.join(f));
    if paths.iter().all(|p| p.exists()) {
        let read = |p: &PathBuf| fs::read_to_string(p).map_err(io_err(p));
        return Ok(Credentials {
            ca_pem: read(&paths[0])?,
            cert_pem: read(&paths[1])?,
            key_pem: read(&paths[2])?,
            token: read(&paths[3])?.trim().to_string(),
        });
    }
    fs::create_dir_all(&pki).map_err(io_err(&pki))?;
    let creds = generate()?;
    write_private(&paths[0], &creds.ca_pem)?;
    write_private(&paths[1], &creds.cert_pem)?;
    write_private(&paths[2], &creds.key_pem)?;
    write_private(&paths[3], &creds.token)?;
    Ok(creds)
}

/// A rustls server config serving the generated certificate.
pub fn server_config(creds: &Credentials) -> Result<Arc<rustls::ServerConfig>, CredentialError> {
    let bad = |what: &str, message: String| CredentialError::Load {
        path: PathBuf::from(what),
        message,
    };
    let certs = rustls_pemfile::certs(&mut creds.cert_pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| bad("server.crt", e.to_string()))?;
    let key = rustls_pemfile::private_key(&mut creds.key_pem.as_bytes())
        .map_err(|e| bad("server.key", e.to_string()))?
        .ok_or_else(|| bad("server.key", "no private key found".into()))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(certs, key)?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// The kubeconfig text for a cluster at `url`. `ca_pem` is None for plain HTTP.
pub fn kubeconfig(url: &str, ca_pem: Option<&str>, token: &str) -> String {
    let ca = ca_pem
        .map(|pem| {
            format!(
                "    certificate-authority-data: {}\n",
                base64::engine::general_purpose::STANDARD.encode(pem.as_bytes())
            )
        })
        .unwrap_or_default();
    format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: ferry\n  cluster:\n    server: {url}\n{ca}contexts:\n- name: ferry\n  context:\n    cluster: ferry\n    user: ferry-admin\n    namespace: default\ncurrent-context: ferry\nusers:\n- name: ferry-admin\n  user:\n    token: {token}\n"
    )
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

    #[test]
    fn kubeconfig_names_server_and_token() {
        let text = kubeconfig("https://127.0.0.1:1", Some("PEM"), "tok");
        assert!(text.contains("server: https://127.0.0.1:1"));
        assert!(text.contains("token: tok"));
        assert!(text.contains("certificate-authority-data: UEVN"));
    }
}
