//! Sprig's certificate functions (`genCA`, `genSelfSignedCert`,
//! `genSignedCert`, `genPrivateKey`, … ) on rcgen.
//!
//! Deviation from Sprig: keys are ECDSA P-256 (Sprig generates RSA-2048,
//! which the pure-Rust `ring` backend cannot generate); certificates are
//! otherwise shaped alike (CN, SANs, validity in days, CA flag, key usages).
//! Output is random by nature, so it is never byte-compared with Helm.

use gotmpl::Value;
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer,
    KeyPair, KeyUsagePurpose, SanType,
};
use std::sync::Arc;

use crate::funcs::{FResult, err, s, strval};
use crate::state::{GoMap, State};

fn cert_object(cert_pem: String, key_pem: String) -> Value {
    let mut m = GoMap::new();
    m.insert(Arc::from("Cert"), s(cert_pem));
    m.insert(Arc::from("Key"), s(key_pem));
    Value::Map(Arc::new(m))
}

fn strings(state: &State, v: Option<&Value>) -> Vec<String> {
    match v.map(|v| state.deep_current(v)) {
        Some(Value::List(items)) => items.iter().map(strval).collect(),
        Some(Value::Nil) | None => Vec::new(),
        Some(other) => vec![strval(&other)],
    }
}

fn params(
    cn: &str,
    ips: &[String],
    dns: &[String],
    days: i64,
    ca: bool,
) -> Result<CertificateParams, gotmpl::TemplateError> {
    let mut params = CertificateParams::default();
    let mut name = DistinguishedName::new();
    name.push(DnType::CommonName, cn);
    params.distinguished_name = name;
    for ip in ips {
        let addr = ip
            .parse::<std::net::IpAddr>()
            .map_err(|_| err(format!("error parsing ip: {ip}")))?;
        params.subject_alt_names.push(SanType::IpAddress(addr));
    }
    for d in dns {
        let name = d
            .clone()
            .try_into()
            .map_err(|e| err(format!("invalid DNS name {d:?}: {e}")))?;
        params.subject_alt_names.push(SanType::DnsName(name));
    }
    let now = time::OffsetDateTime::now_utc();
    params.not_before = now;
    params.not_after = now + time::Duration::days(days.clamp(0, 365 * 1000));
    if ca {
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ];
    } else {
        params.key_usages = vec![
            KeyUsagePurpose::KeyEncipherment,
            KeyUsagePurpose::DigitalSignature,
        ];
        params.extended_key_usages = vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ];
    }
    Ok(params)
}

fn key_or_new(pem: Option<&Value>) -> Result<KeyPair, gotmpl::TemplateError> {
    match pem {
        Some(v) => KeyPair::from_pem(&strval(v)).map_err(|e| err(format!("error parsing private key: {e}"))),
        None => KeyPair::generate().map_err(|e| err(format!("error generating key: {e}"))),
    }
}

fn ca_issuer<'a>(state: &State, ca: &Value) -> Result<Issuer<'a, KeyPair>, gotmpl::TemplateError> {
    let ca = state.deep_current(ca);
    let cert = ca.field("Cert").map(strval).unwrap_or_default();
    let key = ca.field("Key").map(strval).unwrap_or_default();
    let key = KeyPair::from_pem(&key).map_err(|e| err(format!("error parsing CA key: {e}")))?;
    Issuer::from_ca_cert_pem(&cert, key).map_err(|e| err(format!("error parsing CA certificate: {e}")))
}

pub(crate) fn gen_private_key(args: &[Value]) -> FResult {
    let kind = args.first().map(strval).unwrap_or_default();
    match kind.as_str() {
        "ecdsa" | "" => KeyPair::generate()
            .map(|k| s(k.serialize_pem()))
            .map_err(|e| err(e.to_string())),
        "ed25519" => KeyPair::generate_for(&rcgen::PKCS_ED25519)
            .map(|k| s(k.serialize_pem()))
            .map_err(|e| err(e.to_string())),
        "rsa" | "dsa" => Err(err(format!(
            "genPrivateKey {kind:?}: key type not supported by ferry-helm (use \"ecdsa\" or \"ed25519\")"
        ))),
        other => Ok(s(format!("Unknown type {other}"))),
    }
}

/// genCA CN DAYS / genCAWithKey CN DAYS KEY
pub(crate) fn gen_ca(args: &[Value], with_key: bool) -> FResult {
    let cn = args.first().map(strval).unwrap_or_default();
    let days = args.get(1).map(crate::funcs::to_i64).unwrap_or(365);
    let key = key_or_new(if with_key { args.get(2) } else { None })?;
    let cert = params(&cn, &[], &[], days, true)?
        .self_signed(&key)
        .map_err(|e| err(e.to_string()))?;
    Ok(cert_object(cert.pem(), key.serialize_pem()))
}

/// genSelfSignedCert CN IPS DNS DAYS [KEY]
pub(crate) fn gen_self_signed(state: &State, args: &[Value], with_key: bool) -> FResult {
    let cn = args.first().map(strval).unwrap_or_default();
    let ips = strings(state, args.get(1));
    let dns = strings(state, args.get(2));
    let days = args.get(3).map(crate::funcs::to_i64).unwrap_or(365);
    let key = key_or_new(if with_key { args.get(4) } else { None })?;
    let cert = params(&cn, &ips, &dns, days, false)?
        .self_signed(&key)
        .map_err(|e| err(e.to_string()))?;
    Ok(cert_object(cert.pem(), key.serialize_pem()))
}

/// genSignedCert CN IPS DNS DAYS CA [KEY]
pub(crate) fn gen_signed(state: &State, args: &[Value], with_key: bool) -> FResult {
    let cn = args.first().map(strval).unwrap_or_default();
    let ips = strings(state, args.get(1));
    let dns = strings(state, args.get(2));
    let days = args.get(3).map(crate::funcs::to_i64).unwrap_or(365);
    let ca = args.get(4).ok_or_else(|| err("genSignedCert: missing CA"))?;
    let issuer = ca_issuer(state, ca)?;
    let key = key_or_new(if with_key { args.get(5) } else { None })?;
    let cert = params(&cn, &ips, &dns, days, false)?
        .signed_by(&key, &issuer)
        .map_err(|e| err(e.to_string()))?;
    Ok(cert_object(cert.pem(), key.serialize_pem()))
}

/// buildCustomCert BASE64CERT BASE64KEY
pub(crate) fn build_custom_cert(args: &[Value]) -> FResult {
    use base64::Engine as _;
    let decode = |v: Option<&Value>| -> Result<String, gotmpl::TemplateError> {
        let text = v.map(strval).unwrap_or_default();
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(text.as_bytes())
            .map_err(|e| err(format!("unable to decode base64: {e}")))?;
        Ok(String::from_utf8_lossy(&bytes).into_owned())
    };
    Ok(cert_object(decode(args.first())?, decode(args.get(1))?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ca_signs_certificates_with_the_requested_names() {
        let state = State::new_shared();
        let ca = gen_ca(&[s("my-ca"), Value::Int(30)], false).expect("CA");
        let ca_cert = ca.field("Cert").map(strval).unwrap_or_default();
        assert!(ca_cert.starts_with("-----BEGIN CERTIFICATE-----"), "{ca_cert}");
        let dns = Value::List(Arc::from(vec![s("svc.ns.svc"), s("svc")]));
        let ips = Value::List(Arc::from(vec![s("10.0.0.1")]));
        let leaf = gen_signed(&state, &[s("svc"), ips, dns, Value::Int(10), ca], false).expect("leaf");
        let cert_pem = leaf.field("Cert").map(strval).unwrap_or_default();
        let der = x509_der(&cert_pem);
        let (_, cert) = x509_parser::parse_x509_certificate(&der).expect("parses");
        assert_eq!(cert.issuer().to_string(), "CN=my-ca");
        assert_eq!(cert.subject().to_string(), "CN=svc");
        let sans = cert
            .subject_alternative_name()
            .ok()
            .flatten()
            .map(|e| e.value.general_names.len());
        assert_eq!(sans, Some(3));
        assert!(
            leaf.field("Key")
                .map(strval)
                .unwrap_or_default()
                .contains("PRIVATE KEY")
        );
    }

    fn x509_der(pem: &str) -> Vec<u8> {
        use base64::Engine as _;
        let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
        base64::engine::general_purpose::STANDARD
            .decode(body)
            .unwrap_or_default()
    }
}
