//! A test CA and a server certificate, generated per test with rcgen.

use std::path::PathBuf;

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose};

pub struct Pki {
    _dir: tempfile::TempDir,
    pub ca: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// A CA, and a certificate it signed for `names` (plus `localhost` and 127.0.0.1).
pub fn generate(names: &[&str]) -> Pki {
    let dir = tempfile::tempdir().unwrap();
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.distinguished_name.push(DnType::CommonName, "modegate test CA");
    ca_params.key_usages =
        vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature];
    let ca_cert = ca_params.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca_params, ca_key);
    let mut sans: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
    sans.push("localhost".into());
    sans.push("127.0.0.1".into());
    let leaf_key = KeyPair::generate().unwrap();
    let mut leaf_params = CertificateParams::new(sans).unwrap();
    leaf_params.distinguished_name.push(DnType::CommonName, names.first().copied().unwrap_or("localhost"));
    let leaf = leaf_params.signed_by(&leaf_key, &issuer).unwrap();
    let ca = dir.path().join("ca.pem");
    let cert = dir.path().join("cert.pem");
    let key = dir.path().join("key.pem");
    std::fs::write(&ca, ca_cert.pem()).unwrap();
    std::fs::write(&cert, leaf.pem()).unwrap();
    std::fs::write(&key, leaf_key.serialize_pem()).unwrap();
    Pki { _dir: dir, ca, cert, key }
}
