//! Raw clients for hostile-client tests and the stress tool (cloudfront/benches/stress): TLS
//! and TCP connections from a chosen loopback address, bytes written as they are (no HTTP
//! library to tidy them up), and the server's answer read until it closes.

use rustls::pki_types::ServerName;
use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;

/// A rustls client trusting only the server's CA, offering `alpn`.
pub fn tls_client_config(ca_pem: &Path, alpn: &[&[u8]]) -> Arc<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    let pem = std::fs::read(ca_pem).expect("the server's CA");
    for cert in rustls_pemfile::certs(&mut pem.as_slice()) {
        roots
            .add(cert.expect("CA certificate"))
            .expect("CA certificate");
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("TLS versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Arc::new(config)
}

/// A TCP connection to `host` (`127.0.0.1:PORT`) from `from` (any loopback address: the
/// whole of 127.0.0.0/8 is local, so one machine can play several clients).
pub async fn tcp_from(host: &str, from: IpAddr) -> std::io::Result<TcpStream> {
    let addr: SocketAddr = host.parse().expect("host is an address");
    let socket = TcpSocket::new_v4()?;
    socket.bind(SocketAddr::new(from, 0))?;
    let stream = socket.connect(addr).await?;
    stream.set_nodelay(true)?;
    Ok(stream)
}

/// A finished TLS handshake with the server at `host`, from `from`.
pub async fn tls_from(
    host: &str,
    from: IpAddr,
    config: Arc<rustls::ClientConfig>,
) -> std::io::Result<TlsStream<TcpStream>> {
    let stream = tcp_from(host, from).await?;
    let name = ServerName::try_from("127.0.0.1").unwrap().to_owned();
    TlsConnector::from(config).connect(name, stream).await
}

pub const LEGIT: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(127, 0, 0, 1));
/// Where attacks come from, unless they say otherwise.
pub const ATTACKER: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(127, 0, 0, 2));

/// How a connection's reading ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    /// The server closed it (end of stream, or a reset after it stopped reading).
    Closed,
    /// Still open when we stopped waiting.
    StillOpen,
}

#[derive(Debug)]
pub struct Answer {
    pub bytes: Vec<u8>,
    pub ending: Ending,
    /// From the start of the read to its end.
    pub after: Duration,
}

impl Answer {
    /// The status of the first response, if one arrived.
    pub fn status(&self) -> Option<u16> {
        status_of(&self.bytes)
    }

    /// How many responses arrived (status lines at the start of a line).
    pub fn responses(&self) -> usize {
        let text = String::from_utf8_lossy(&self.bytes);
        text.match_indices("HTTP/1.1 ")
            .filter(|(at, _)| *at == 0 || text[..*at].ends_with('\n'))
            .count()
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.bytes).into_owned()
    }
}

pub fn status_of(bytes: &[u8]) -> Option<u16> {
    let text = std::str::from_utf8(bytes.get(..12)?).ok()?;
    text.strip_prefix("HTTP/1.1 ")?.parse().ok()
}

/// Reads until the server closes the connection or `wait` passes.
pub async fn read_until_closed<S: AsyncRead + Unpin>(stream: &mut S, wait: Duration) -> Answer {
    let started = Instant::now();
    let mut bytes = Vec::new();
    let mut buf = [0u8; 16 * 1024];
    loop {
        let left = wait.saturating_sub(started.elapsed());
        match tokio::time::timeout(left, stream.read(&mut buf)).await {
            Err(_) => {
                return Answer {
                    bytes,
                    ending: Ending::StillOpen,
                    after: started.elapsed(),
                }
            }
            Ok(Ok(0)) | Ok(Err(_)) => {
                return Answer {
                    bytes,
                    ending: Ending::Closed,
                    after: started.elapsed(),
                }
            }
            Ok(Ok(n)) => bytes.extend_from_slice(&buf[..n]),
        }
    }
}

/// A ClientHello record offering only `version` (0x0300 SSL 3.0, 0x0301 TLS 1.0, 0x0302
/// TLS 1.1), as an old client sends it: no supported_versions extension. Written by hand
/// because no TLS library here will still send one, so what refuses it is the server. Its
/// suites and extensions are ones the server takes at TLS 1.2 (the ECDHE-ECDSA GCM suites
/// beside the CBC ones of the time), so that the version is the only thing wrong with it.
pub fn legacy_client_hello(version: u16) -> Vec<u8> {
    client_hello(version, &[0xc02b, 0xc02c, 0xcca9, 0xc009, 0xc00a, 0x002f])
}

/// A ClientHello as a client of the time sends it (`openssl s_client -tls1`): CBC suites
/// only, none of which the server has, so it may be refused for its suites
/// (`handshake_failure`) before its version is looked at.
pub fn period_client_hello(version: u16) -> Vec<u8> {
    client_hello(version, &[0xc009, 0xc00a, 0xc013, 0xc014, 0x002f, 0x0035])
}

fn client_hello(version: u16, suites: &[u16]) -> Vec<u8> {
    let [major, minor] = version.to_be_bytes();
    let mut hello = vec![major, minor];
    hello.extend((0..32u8).map(|i| i.wrapping_mul(37)));
    hello.push(0); // no session id
    hello.extend(((suites.len() * 2) as u16).to_be_bytes());
    for suite in suites.iter().copied() {
        hello.extend(suite.to_be_bytes());
    }
    hello.extend([1, 0]); // compression: null
    let mut extensions = Vec::new();
    // supported_groups: secp256r1; ec_point_formats: uncompressed.
    extensions.extend([0x00, 0x0a, 0x00, 0x04, 0x00, 0x02, 0x00, 0x17]);
    extensions.extend([0x00, 0x0b, 0x00, 0x02, 0x01, 0x00]);
    // signature_algorithms: ecdsa_secp256r1_sha256, rsa_pss_rsae_sha256.
    extensions.extend([0x00, 0x0d, 0x00, 0x06, 0x00, 0x04, 0x04, 0x03, 0x08, 0x04]);
    hello.extend((extensions.len() as u16).to_be_bytes());
    hello.extend(extensions);
    let mut handshake = vec![0x01];
    handshake.extend(&(hello.len() as u32).to_be_bytes()[1..]);
    handshake.extend(hello);
    let mut record = vec![0x16, major, minor];
    record.extend((handshake.len() as u16).to_be_bytes());
    record.extend(handshake);
    record
}

/// The alert description in a TLS alert record, if `bytes` starts with one.
pub fn tls_alert(bytes: &[u8]) -> Option<u8> {
    (bytes.len() >= 7 && bytes[0] == 0x15).then(|| bytes[6])
}

/// TLS's `protocol_version` alert.
pub const ALERT_PROTOCOL_VERSION: u8 = 70;
/// TLS's `handshake_failure` alert (no suite in common, among others).
pub const ALERT_HANDSHAKE_FAILURE: u8 = 40;

/// HTTP/2's connection preface and an empty SETTINGS frame: what a client speaking HTTP/2 by
/// prior knowledge sends first.
pub const H2_PREFACE: &[u8] =
    b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00";
