//! The local certificate authority and server certificate for `tfreg serve`.
//!
//! Terraform only talks HTTPS to a registry, and refuses `localhost` as a registry host, so
//! the server needs a certificate for `127.0.0.1`. On first run we make a private CA (kept in
//! `DIR/tls/`) and, on every start, a server certificate it signs for 127.0.0.1, ::1,
//! localhost and the address being listened on. Trust the CA with
//! `SSL_CERT_FILE=DIR/tls/ca.pem`. ECDSA P-256 throughout: the cheapest handshake.

use anyhow::{Context, Result};
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose, SanType,
};
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::data_dir::{write_private_file, write_whole};

pub struct TlsFiles {
    pub ca_cert: PathBuf,
}

fn ca_params() -> CertificateParams {
    let mut params = CertificateParams::default();
    let mut name = DistinguishedName::new();
    name.push(DnType::CommonName, "tfreg local CA");
    name.push(DnType::OrganizationName, "tfreg");
    params.distinguished_name = name;
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    params.not_before = rcgen::date_time_ymd(2024, 1, 1);
    params.not_after = rcgen::date_time_ymd(2044, 1, 1);
    params
}

/// Loads (or makes, on first run) the CA and makes a fresh server certificate for `listen_ip`.
pub fn server_config(
    tls_dir: &Path,
    listen_ip: IpAddr,
) -> Result<(rustls::ServerConfig, TlsFiles)> {
    std::fs::create_dir_all(tls_dir).with_context(|| format!("creating {}", tls_dir.display()))?;
    let ca_cert_path = tls_dir.join("ca.pem");
    let ca_key_path = tls_dir.join("ca-key.pem");
    let ca_key = if ca_key_path.exists() && ca_cert_path.exists() {
        let pem = std::fs::read_to_string(&ca_key_path)
            .with_context(|| format!("reading {}", ca_key_path.display()))?;
        KeyPair::from_pem(&pem).context("parsing the CA key")?
    } else {
        let key = KeyPair::generate().context("generating the CA key")?;
        let cert = ca_params().self_signed(&key).context("making the CA")?;
        // The key first, then the certificate: a start killed between the two finds no
        // certificate next time and makes both again.
        write_private_file(&ca_key_path, key.serialize_pem().as_bytes())?;
        write_whole(&ca_cert_path, cert.pem().as_bytes(), 0o644)?;
        key
    };
    // Re-signing the same name with the same key yields an issuer that matches the stored
    // CA certificate, which is all a chain needs; so the CA certificate itself is never parsed.
    let issuer = ca_params().self_signed(&ca_key).context("loading the CA")?;

    let mut params = CertificateParams::default();
    let mut name = DistinguishedName::new();
    name.push(DnType::CommonName, "tfreg serve");
    params.distinguished_name = name;
    let mut sans = vec![
        SanType::IpAddress(IpAddr::from([127, 0, 0, 1])),
        SanType::IpAddress("::1".parse().expect("valid IP")),
        SanType::DnsName("localhost".try_into().expect("valid DNS name")),
    ];
    if !listen_ip.is_unspecified() && !listen_ip.is_loopback() {
        sans.push(SanType::IpAddress(listen_ip));
    }
    params.subject_alt_names = sans;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    params.not_before = rcgen::date_time_ymd(2024, 1, 1);
    params.not_after = rcgen::date_time_ymd(2044, 1, 1);
    let server_key = KeyPair::generate().context("generating the server key")?;
    let server_cert = params
        .signed_by(&server_key, &issuer, &ca_key)
        .context("signing the server certificate")?;

    let chain = vec![server_cert.der().clone()];
    let key = rustls::pki_types::PrivateKeyDer::try_from(server_key.serialize_der())
        .map_err(|e| anyhow::anyhow!("server key: {e}"))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .context("TLS protocol versions")?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .context("server certificate")?;
    // HTTP/1.1 only: Terraform opens a fresh connection per archive, and HTTP/2's extra
    // set-up (preface, SETTINGS exchange) cost ~0.17 ms per connection here for nothing, since
    // its registry calls are sequential anyway. (nginx, the static floor, does the same.)
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    // Terraform (Go's TLS client without a session cache) never resumes a session, so the
    // two TLS 1.3 tickets rustls would send after every handshake are wasted writes on the
    // fresh connection each archive download opens.
    config.send_tls13_tickets = 0;
    Ok((
        config,
        TlsFiles {
            ca_cert: ca_cert_path,
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What the `terraform init` figures were measured with (tests/tls_settings.rs checks the
    /// same through a handshake with the running server).
    #[test]
    fn the_server_speaks_http_1_1_only_and_sends_no_tickets() {
        let dir = tempfile::tempdir().unwrap();
        let (config, files) = server_config(dir.path(), IpAddr::from([127, 0, 0, 1])).unwrap();
        assert_eq!(config.alpn_protocols, vec![b"http/1.1".to_vec()]);
        assert_eq!(config.send_tls13_tickets, 0);
        assert!(files.ca_cert.exists());
    }
}
