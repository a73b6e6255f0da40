//! Sprig's certificate functions (`genCA`, `genSelfSignedCert`,
//! `genSignedCert`, `genPrivateKey`, … ) on rcgen.
//!
//! As in Sprig, certificates get fresh RSA-2048 keys (generated with the
//! `rsa` crate, since `ring` only signs) and RSA keys are written as PKCS#1
//! "RSA PRIVATE KEY" blocks; `genPrivateKey "rsa"` makes RSA-4096 keys.
//! Certificates are shaped alike (CN, SANs, validity in days, CA flag, key
//! usages, SHA-256 signatures). Output is random by nature, so it is compared
//! with Helm by structure only.

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
    // Go writes DNS names before IP addresses.
    for d in dns {
        let name = d
            .clone()
            .try_into()
            .map_err(|e| err(format!("invalid DNS name {d:?}: {e}")))?;
        params.subject_alt_names.push(SanType::DnsName(name));
    }
    for ip in ips {
        let addr = ip
            .parse::<std::net::IpAddr>()
            .map_err(|_| err(format!("error parsing ip: {ip}")))?;
        params.subject_alt_names.push(SanType::IpAddress(addr));
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
        // Sprig marks basic constraints valid, so leaves carry a critical
        // CA:FALSE (an empty SEQUENCE); rcgen's ExplicitNoCa would also add
        // a subject key identifier, which Go leaves out of non-CA certs.
        let mut basic_constraints =
            rcgen::CustomExtension::from_oid_content(&[2, 5, 29, 19], vec![0x30, 0x00]);
        basic_constraints.set_criticality(true);
        params.custom_extensions.push(basic_constraints);
        params.key_usages = vec![
            KeyUsagePurpose::KeyEncipherment,
            KeyUsagePurpose::DigitalSignature,
        ];
    }
    // Sprig's base template has these for CAs too.
    params.extended_key_usages = vec![
        ExtendedKeyUsagePurpose::ServerAuth,
        ExtendedKeyUsagePurpose::ClientAuth,
    ];
    Ok(params)
}

/// Bits of the keys Sprig generates for certificates.
const CERT_RSA_BITS: usize = 2048;
/// Bits of the key `genPrivateKey "rsa"` generates.
const PRIVATE_KEY_RSA_BITS: usize = 4096;

/// A private key usable by rcgen, with the PEM Sprig prints for it.
struct SigningKey {
    pair: KeyPair,
    pem: String,
}

fn generate_rsa(bits: usize) -> Result<rsa::RsaPrivateKey, gotmpl::TemplateError> {
    rsa::RsaPrivateKey::new(&mut rsa::rand_core::OsRng, bits)
        .map_err(|e| err(format!("error generating rsa key: {e}")))
}

/// PKCS#1 PEM ("RSA PRIVATE KEY"), as Go's `x509.MarshalPKCS1PrivateKey`.
fn rsa_pkcs1_pem(key: &rsa::RsaPrivateKey) -> Result<String, gotmpl::TemplateError> {
    use rsa::pkcs1::EncodeRsaPrivateKey as _;
    key.to_pkcs1_pem(rsa::pkcs8::LineEnding::LF)
        .map(|pem| pem.to_string())
        .map_err(|e| err(format!("error pem-encoding key: {e}")))
}

fn rsa_signing_key(key: &rsa::RsaPrivateKey) -> Result<SigningKey, gotmpl::TemplateError> {
    use rsa::pkcs8::EncodePrivateKey as _;
    use rsa::traits::PublicKeyParts as _;
    if key.size() < 256 {
        // Go accepts these; ring (our signer) does not.
        return Err(err(format!(
            "error loading rsa key: {}-bit RSA keys are not supported by ferry-helm (2048 bits or more)",
            key.size() * 8
        )));
    }
    // ring reads RSA keys only as PKCS#8.
    let pkcs8 = key
        .to_pkcs8_der()
        .map_err(|e| err(format!("error encoding rsa key: {e}")))?;
    let pair = KeyPair::try_from(pkcs8.as_bytes()).map_err(|e| err(format!("error loading rsa key: {e}")))?;
    Ok(SigningKey {
        pair,
        pem: rsa_pkcs1_pem(key)?,
    })
}

/// Parse a PEM private key given to a `…WithKey` function or as a CA key.
fn parse_key(pem: &str) -> Result<SigningKey, gotmpl::TemplateError> {
    if pem.contains("-----BEGIN RSA PRIVATE KEY-----") {
        use rsa::pkcs1::DecodeRsaPrivateKey as _;
        let key = rsa::RsaPrivateKey::from_pkcs1_pem(pem.trim()).map_err(|e| {
            err(format!(
                "parsing private key: parsing RSA private key from PEM: {e}"
            ))
        })?;
        return rsa_signing_key(&key);
    }
    if pem.contains("-----BEGIN PRIVATE KEY-----") {
        use rsa::pkcs8::DecodePrivateKey as _;
        // RSA keys in PKCS#8 are printed back as PKCS#1, as Go does.
        if let Ok(key) = rsa::RsaPrivateKey::from_pkcs8_pem(pem.trim()) {
            return rsa_signing_key(&key);
        }
    }
    if pem.contains("-----BEGIN EC PRIVATE KEY-----") {
        let (scalar, point) = p256_parts(&pem_body(pem)).ok_or_else(|| {
            err("parsing private key: parsing EC private key from PEM: only P-256 keys are supported")
        })?;
        let pair = KeyPair::try_from(p256_pkcs8_der(&scalar, &point)).map_err(|e| {
            err(format!(
                "parsing private key: parsing EC private key from PEM: {e}"
            ))
        })?;
        return Ok(SigningKey {
            pair,
            pem: p256_sec1_pem(&scalar, &point),
        });
    }
    let pair = KeyPair::from_pem(pem).map_err(|e| err(format!("parsing private key: {e}")))?;
    Ok(SigningKey {
        pem: printed_key_pem(&pair),
        pair,
    })
}

/// How Go prints a parsed key: ECDSA as SEC1, others as PKCS#8.
fn printed_key_pem(pair: &KeyPair) -> String {
    if pair.algorithm() == &rcgen::PKCS_ECDSA_P256_SHA256
        && let Some((scalar, point)) = p256_parts(&pair.serialize_der())
    {
        return p256_sec1_pem(&scalar, &point);
    }
    pair.serialize_pem()
}

fn key_or_new(pem: Option<&Value>) -> Result<SigningKey, gotmpl::TemplateError> {
    match pem {
        Some(v) => parse_key(&strval(v)),
        None => rsa_signing_key(&generate_rsa(CERT_RSA_BITS)?),
    }
}

fn ca_issuer<'a>(state: &State, ca: &Value) -> Result<Issuer<'a, KeyPair>, gotmpl::TemplateError> {
    let ca = state.deep_current(ca);
    let cert = ca.field("Cert").map(strval).unwrap_or_default();
    let key = ca.field("Key").map(strval).unwrap_or_default();
    let key = parse_key(&key)?.pair;
    Issuer::from_ca_cert_pem(&cert, key).map_err(|e| err(format!("error parsing CA certificate: {e}")))
}

pub(crate) fn gen_private_key(args: &[Value]) -> FResult {
    let kind = args.first().map(strval).unwrap_or_default();
    match kind.as_str() {
        "rsa" | "" => rsa_pkcs1_pem(&generate_rsa(PRIVATE_KEY_RSA_BITS)?).map(s),
        "ecdsa" => KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)
            .map(|k| s(printed_key_pem(&k)))
            .map_err(|e| err(e.to_string())),
        "ed25519" => KeyPair::generate_for(&rcgen::PKCS_ED25519)
            .map_err(|e| err(e.to_string()))
            .and_then(|k| ed25519_pkcs8_v1_pem(&k.serialize_der()))
            .map(s),
        "dsa" => Ok(s(dsa_private_key_pem(dsa::KeySize::DSA_2048_256))),
        other => Ok(s(format!("Unknown type {other}"))),
    }
}

/// Go writes Ed25519 keys as PKCS#8 v1 (seed only); ring writes v2 (seed and
/// public key). Both start with the same 16-byte header before the seed.
fn ed25519_pkcs8_v1_pem(ring_der: &[u8]) -> Result<String, gotmpl::TemplateError> {
    const V1_HEADER: [u8; 16] = [
        0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20,
    ];
    let seed = ring_der
        .get(16..48)
        .filter(|_| ring_der.get(5..16) == V1_HEADER.get(5..16))
        .ok_or_else(|| err("failed to generate private key: unexpected Ed25519 key encoding"))?;
    let mut der = V1_HEADER.to_vec();
    der.extend_from_slice(seed);
    Ok(pem_block("PRIVATE KEY", &der))
}

/// The private scalar and uncompressed public point of a P-256 key, read
/// from either ring's PKCS#8 or Go's SEC1 encoding: both hold the same
/// `ECPrivateKey` fields (`02 01 01 04 20 d … a1 44 03 42 00 point`).
fn p256_parts(der: &[u8]) -> Option<([u8; 32], [u8; 65])> {
    const SCALAR_TAG: [u8; 5] = [0x02, 0x01, 0x01, 0x04, 0x20];
    const POINT_TAG: [u8; 5] = [0xa1, 0x44, 0x03, 0x42, 0x00];
    let find = |tag: &[u8]| {
        der.windows(tag.len())
            .position(|w| w == tag)
            .map(|at| at + tag.len())
    };
    let scalar_at = find(&SCALAR_TAG)?;
    let point_at = find(&POINT_TAG)?;
    let scalar = der.get(scalar_at..scalar_at + 32)?.try_into().ok()?;
    let point = der.get(point_at..point_at + 65)?.try_into().ok()?;
    Some((scalar, point))
}

/// prime256v1 (secp256r1) as a DER object identifier.
const P256_OID: [u8; 10] = [0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];

/// SEC1 "EC PRIVATE KEY" PEM, as Go's `x509.MarshalECPrivateKey`.
fn p256_sec1_pem(scalar: &[u8; 32], point: &[u8; 65]) -> String {
    let mut der = vec![0x30, 0x77, 0x02, 0x01, 0x01, 0x04, 0x20];
    der.extend_from_slice(scalar);
    der.extend_from_slice(&[0xa0, 0x0a]);
    der.extend_from_slice(&P256_OID);
    der.extend_from_slice(&[0xa1, 0x44, 0x03, 0x42, 0x00]);
    der.extend_from_slice(point);
    pem_block("EC PRIVATE KEY", &der)
}

/// PKCS#8 wrapping of a P-256 key, the only EC form ring reads.
fn p256_pkcs8_der(scalar: &[u8; 32], point: &[u8; 65]) -> Vec<u8> {
    let mut der = vec![
        0x30, 0x81, 0x87, 0x02, 0x01, 0x00, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01,
    ];
    der.extend_from_slice(&P256_OID);
    der.extend_from_slice(&[0x04, 0x6d, 0x30, 0x6b, 0x02, 0x01, 0x01, 0x04, 0x20]);
    der.extend_from_slice(scalar);
    der.extend_from_slice(&[0xa1, 0x44, 0x03, 0x42, 0x00]);
    der.extend_from_slice(point);
    der
}

fn pem_body(pem: &str) -> Vec<u8> {
    use base64::Engine as _;
    let body: String = pem
        .lines()
        .map(str::trim)
        .filter(|l| !l.starts_with("-----") && !l.contains(':'))
        .collect();
    base64::engine::general_purpose::STANDARD
        .decode(body)
        .unwrap_or_default()
}

/// A fresh DSA key (Sprig uses L2048N256) as Go prints it: a "DSA PRIVATE
/// KEY" block holding SEQUENCE { version 0, P, Q, G, Y, X }.
fn dsa_private_key_pem(size: dsa::KeySize) -> String {
    let mut rng = rsa::rand_core::OsRng;
    let components = dsa::Components::generate(&mut rng, size);
    let key = dsa::SigningKey::generate(&mut rng, components);
    let public = key.verifying_key();
    let params = public.components();
    let mut body = der_unsigned(&[0]);
    for number in [params.p(), params.q(), params.g(), public.y(), key.x()] {
        body.extend(der_unsigned(&number.to_bytes_be()));
    }
    pem_block("DSA PRIVATE KEY", &der_tagged(0x30, &body))
}

/// DER INTEGER of a non-negative big-endian number.
fn der_unsigned(be: &[u8]) -> Vec<u8> {
    let digits: &[u8] = match be.iter().position(|b| *b != 0) {
        Some(first) => &be[first..],
        None => &[0],
    };
    let mut content = Vec::with_capacity(digits.len() + 1);
    if digits.first().is_some_and(|b| b & 0x80 != 0) {
        content.push(0);
    }
    content.extend_from_slice(digits);
    der_tagged(0x02, &content)
}

/// A DER tag-length-value with a definite length.
fn der_tagged(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let len = content.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes: Vec<u8> = len.to_be_bytes().into_iter().skip_while(|b| *b == 0).collect();
        out.push(0x80 | bytes.len() as u8);
        out.extend(bytes);
    }
    out.extend_from_slice(content);
    out
}

/// A PEM block with 64-column base64 lines, as Go's `pem.Encode`.
fn pem_block(label: &str, der: &[u8]) -> String {
    use base64::Engine as _;
    let body = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for chunk in body.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(chunk));
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

/// genCA CN DAYS / genCAWithKey CN DAYS KEY
pub(crate) fn gen_ca(args: &[Value], with_key: bool) -> FResult {
    let cn = args.first().map(strval).unwrap_or_default();
    let days = args.get(1).map(crate::funcs::to_i64).unwrap_or(365);
    let key = key_or_new(if with_key { args.get(2) } else { None })?;
    let cert = params(&cn, &[], &[], days, true)?
        .self_signed(&key.pair)
        .map_err(|e| err(e.to_string()))?;
    Ok(cert_object(cert.pem(), key.pem))
}

/// genSelfSignedCert CN IPS DNS DAYS [KEY]
pub(crate) fn gen_self_signed(state: &State, args: &[Value], with_key: bool) -> FResult {
    let cn = args.first().map(strval).unwrap_or_default();
    let ips = strings(state, args.get(1));
    let dns = strings(state, args.get(2));
    let days = args.get(3).map(crate::funcs::to_i64).unwrap_or(365);
    let key = key_or_new(if with_key { args.get(4) } else { None })?;
    let cert = params(&cn, &ips, &dns, days, false)?
        .self_signed(&key.pair)
        .map_err(|e| err(e.to_string()))?;
    Ok(cert_object(cert.pem(), key.pem))
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
    let mut params = params(&cn, &ips, &dns, days, false)?;
    // Go names the issuer's key in signed certificates.
    params.use_authority_key_identifier_extension = true;
    let cert = params
        .signed_by(&key.pair, &issuer)
        .map_err(|e| err(e.to_string()))?;
    Ok(cert_object(cert.pem(), key.pem))
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
        // The leaf reuses a fixed key: RSA generation is slow in debug builds.
        let leaf = gen_signed(
            &state,
            &[s("svc"), ips, dns, Value::Int(10), ca, s(FIXED_RSA_KEY)],
            true,
        )
        .expect("leaf");
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
        assert_eq!(leaf.field("Key").map(strval).unwrap_or_default(), FIXED_RSA_KEY);
    }

    const FIXED_RSA_KEY: &str = include_str!("../testdata/charts/certificates/files/rsa-2048.pem");

    #[test]
    fn rsa_keys_are_printed_as_pkcs1_and_read_back() {
        let key = generate_rsa(1024).expect("key");
        let pem = rsa_pkcs1_pem(&key).expect("pem");
        assert!(pem.starts_with("-----BEGIN RSA PRIVATE KEY-----\n"), "{pem}");
        use rsa::pkcs1::DecodeRsaPrivateKey as _;
        use rsa::traits::PublicKeyParts as _;
        let read_back = rsa::RsaPrivateKey::from_pkcs1_pem(&pem).expect("PKCS#1");
        assert_eq!(read_back.size(), 128);
        // ring signs only with keys of 2048 bits or more: a clear error.
        let small = parse_key(&pem).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(small.contains("rsa key"), "{small}");
        assert_eq!(parse_key(FIXED_RSA_KEY).expect("parses").pem, FIXED_RSA_KEY);
    }

    #[test]
    fn ecdsa_keys_are_printed_as_sec1_and_read_back() {
        let pem = strval(&gen_private_key(&[s("ecdsa")]).expect("key"));
        assert!(pem.starts_with("-----BEGIN EC PRIVATE KEY-----\n"), "{pem}");
        let parsed = parse_key(&pem).expect("parses");
        assert_eq!(parsed.pem, pem);
        assert_eq!(parsed.pair.algorithm(), &rcgen::PKCS_ECDSA_P256_SHA256);
    }

    #[test]
    fn der_integers_and_lengths_follow_go_asn1() {
        assert_eq!(der_unsigned(&[0]), vec![0x02, 0x01, 0x00]);
        assert_eq!(der_unsigned(&[0, 0, 0x7f]), vec![0x02, 0x01, 0x7f]);
        assert_eq!(der_unsigned(&[0x80]), vec![0x02, 0x02, 0x00, 0x80]);
        let long = der_tagged(0x30, &[1; 300]);
        assert_eq!(long.get(..4), Some(&[0x30, 0x82, 0x01, 0x2c][..]));
        assert_eq!(long.len(), 304);
    }

    #[test]
    #[allow(deprecated, reason = "1024-bit parameters only to keep the test quick")]
    fn dsa_keys_are_printed_as_go_asn1() {
        // The smallest size keeps this quick in debug builds; Sprig's
        // L2048N256 is checked against helm in the differential tests.
        let pem = dsa_private_key_pem(dsa::KeySize::DSA_1024_160);
        assert!(pem.starts_with("-----BEGIN DSA PRIVATE KEY-----\n"), "{pem}");
        let der = pem_body(&pem);
        let (_, seq) = x509_parser::der_parser::parse_der(&der).expect("DER");
        let items = seq.as_sequence().expect("SEQUENCE");
        assert_eq!(items.len(), 6);
        let bits = |i: usize| {
            items
                .get(i)
                .and_then(|n| n.as_slice().ok())
                .map(|b| b.iter().skip_while(|b| **b == 0).count() * 8)
        };
        assert_eq!(bits(1), Some(1024));
        assert_eq!(bits(2), Some(160));
    }

    #[test]
    fn key_types_sprig_lacks_or_ferry_lacks_are_reported() {
        let ed = strval(&gen_private_key(&[s("ed25519")]).expect("key"));
        assert_eq!(pem_body(&ed).len(), 48, "{ed}");
        assert_eq!(
            strval(&gen_private_key(&[s("x")]).expect("message")),
            "Unknown type x"
        );
        assert!(parse_key("not a key").is_err());
        assert!(parse_key("-----BEGIN EC PRIVATE KEY-----\nAAAA\n-----END EC PRIVATE KEY-----\n").is_err());
    }

    fn x509_der(pem: &str) -> Vec<u8> {
        use base64::Engine as _;
        let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
        base64::engine::general_purpose::STANDARD
            .decode(body)
            .unwrap_or_default()
    }
}
