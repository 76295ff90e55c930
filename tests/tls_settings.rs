//! The TLS settings behind `terraform init`'s figures (cloudfront/src/tls.rs), through the real
//! `tfreg serve` with a rustls client: HTTP/1.1 is the only protocol ALPN agrees to (HTTP/2 is
//! never negotiated), and the server sends no TLS 1.3 session ticket after the handshake.

mod common;

use common::TestRegistry;
use rustls::client::{ClientSessionMemoryCache, ClientSessionStore, Resumption};
use rustls::pki_types::ServerName;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_rustls::TlsConnector;

/// The client's session store, counting the tickets the server hands it.
#[derive(Debug)]
struct TicketCounter {
    inner: ClientSessionMemoryCache,
    tls13_tickets: AtomicUsize,
}

impl ClientSessionStore for TicketCounter {
    fn set_kx_hint(&self, server_name: ServerName<'static>, group: rustls::NamedGroup) {
        self.inner.set_kx_hint(server_name, group)
    }

    fn kx_hint(&self, server_name: &ServerName<'_>) -> Option<rustls::NamedGroup> {
        self.inner.kx_hint(server_name)
    }

    fn set_tls12_session(
        &self,
        server_name: ServerName<'static>,
        value: rustls::client::Tls12ClientSessionValue,
    ) {
        self.inner.set_tls12_session(server_name, value)
    }

    fn tls12_session(
        &self,
        server_name: &ServerName<'_>,
    ) -> Option<rustls::client::Tls12ClientSessionValue> {
        self.inner.tls12_session(server_name)
    }

    fn remove_tls12_session(&self, server_name: &ServerName<'static>) {
        self.inner.remove_tls12_session(server_name)
    }

    fn insert_tls13_ticket(
        &self,
        server_name: ServerName<'static>,
        value: rustls::client::Tls13ClientSessionValue,
    ) {
        self.tls13_tickets.fetch_add(1, Ordering::SeqCst);
        self.inner.insert_tls13_ticket(server_name, value)
    }

    fn take_tls13_ticket(
        &self,
        server_name: &ServerName<'static>,
    ) -> Option<rustls::client::Tls13ClientSessionValue> {
        self.inner.take_tls13_ticket(server_name)
    }
}

struct Handshake {
    alpn: Option<Vec<u8>>,
    version: Option<rustls::ProtocolVersion>,
    tls13_tickets: usize,
    /// The status line of `GET /.well-known/terraform.json` over the connection.
    status_line: String,
}

/// Connects to `registry` offering `alpn`, asks for the discovery document over HTTP/1.1 and
/// reads the whole answer (so any ticket sent after the handshake has arrived).
async fn handshake(registry: &TestRegistry, alpn: &[&[u8]]) -> Result<Handshake, std::io::Error> {
    let mut roots = rustls::RootCertStore::empty();
    let pem = std::fs::read(&registry.ca_pem).unwrap();
    for cert in rustls_pemfile::certs(&mut pem.as_slice()) {
        roots.add(cert.unwrap()).unwrap();
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    let store = Arc::new(TicketCounter {
        inner: ClientSessionMemoryCache::new(8),
        tls13_tickets: AtomicUsize::new(0),
    });
    config.resumption = Resumption::store(store.clone());
    let stream = tokio::net::TcpStream::connect(&registry.host).await?;
    let name = ServerName::try_from("127.0.0.1").unwrap().to_owned();
    let mut tls = TlsConnector::from(Arc::new(config))
        .connect(name, stream)
        .await?;
    let (_, connection) = tls.get_ref();
    let alpn = connection.alpn_protocol().map(<[u8]>::to_vec);
    let version = connection.protocol_version();
    tls.write_all(
        format!(
            "GET /.well-known/terraform.json HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
            registry.host
        )
        .as_bytes(),
    )
    .await?;
    let mut answer = Vec::new();
    tls.read_to_end(&mut answer).await?;
    let answer = String::from_utf8_lossy(&answer).into_owned();
    Ok(Handshake {
        alpn,
        version,
        tls13_tickets: store.tls13_tickets.load(Ordering::SeqCst),
        status_line: answer.lines().next().unwrap_or_default().to_owned(),
    })
}

#[tokio::test]
async fn alpn_agrees_to_http_1_1_only_and_no_session_ticket_is_sent() {
    let registry = TestRegistry::start();

    // A client that prefers HTTP/2 gets HTTP/1.1.
    let both = handshake(&registry, &[b"h2", b"http/1.1"]).await.unwrap();
    assert_eq!(both.alpn.as_deref(), Some(&b"http/1.1"[..]));
    assert_eq!(both.version, Some(rustls::ProtocolVersion::TLSv1_3));
    assert_eq!(both.status_line, "HTTP/1.1 200 OK");
    assert_eq!(both.tls13_tickets, 0, "session tickets sent");

    // One that offers nothing gets HTTP/1.1 without ALPN (Go's client as Terraform uses it).
    let none = handshake(&registry, &[]).await.unwrap();
    assert_eq!(none.alpn, None);
    assert_eq!(none.status_line, "HTTP/1.1 200 OK");
    assert_eq!(none.tls13_tickets, 0, "session tickets sent");

    // One that offers HTTP/2 alone is refused (RFC 7301's no_application_protocol) or gets no
    // protocol: never HTTP/2.
    match handshake(&registry, &[b"h2"]).await {
        Err(error) => assert!(
            error.to_string().contains("NoApplicationProtocol"),
            "{error}"
        ),
        Ok(only_h2) => assert_eq!(only_h2.alpn, None),
    }
}

/// HTTP/2 by prior knowledge (its preface sent at once over TLS, with no `h2` agreed by ALPN)
/// is refused: the connection closes without a word of HTTP/2. ALPN offers HTTP/1.1 only
/// (above), the server's limits are HTTP/1.1's (cloudfront/src/limits.rs), and RFC 9113
/// (§3.3) has TLS clients agree on `h2` by ALPN, so no well-behaved client sends this.
#[tokio::test]
async fn http2_by_prior_knowledge_is_refused() {
    use common::hostile::{
        read_until_closed, tls_client_config, tls_from, Ending, H2_PREFACE, LEGIT,
    };
    let registry = TestRegistry::start();
    for alpn in [&[b"http/1.1".as_slice()][..], &[]] {
        let config = tls_client_config(&registry.ca_pem, alpn);
        let mut tls = tls_from(&registry.host, LEGIT, config).await.unwrap();
        tls.write_all(H2_PREFACE).await.unwrap();
        let answer = read_until_closed(&mut tls, std::time::Duration::from_secs(30)).await;
        assert_eq!(answer.ending, Ending::Closed);
        // An HTTP/2 server's first frame is its SETTINGS (type 4, in the frame's 4th byte).
        assert!(
            answer.bytes.len() < 9 || answer.bytes[3] != 4,
            "an HTTP/2 SETTINGS frame came back: {:?}",
            answer.bytes
        );
        assert_eq!(answer.status(), None, "{}", answer.text());
    }
}

/// SSL 3.0, TLS 1.0 and TLS 1.1 client hellos (written by hand: no TLS library here sends
/// them any more) are refused with TLS's `protocol_version` alert when the version is all that
/// is wrong with them, and with an alert either way as old clients send them.
#[tokio::test]
async fn tls_versions_below_1_2_are_refused_with_a_protocol_version_alert() {
    use common::hostile::{
        legacy_client_hello, period_client_hello, read_until_closed, tcp_from, tls_alert, Ending,
        ALERT_HANDSHAKE_FAILURE, ALERT_PROTOCOL_VERSION, LEGIT,
    };
    let registry = TestRegistry::start();
    for version in [0x0300, 0x0301, 0x0302] {
        let mut tcp = tcp_from(&registry.host, LEGIT).await.unwrap();
        tcp.write_all(&legacy_client_hello(version)).await.unwrap();
        let answer = read_until_closed(&mut tcp, std::time::Duration::from_secs(30)).await;
        assert_eq!(
            tls_alert(&answer.bytes),
            Some(ALERT_PROTOCOL_VERSION),
            "version {version:#06x}: {:?}",
            answer.bytes
        );
        assert_eq!(answer.ending, Ending::Closed);
    }
    // As clients of the time send them (CBC suites only, none of which the server has):
    // refused too, for the suites or the version.
    for version in [0x0301, 0x0302] {
        let mut tcp = tcp_from(&registry.host, LEGIT).await.unwrap();
        tcp.write_all(&period_client_hello(version)).await.unwrap();
        let answer = read_until_closed(&mut tcp, std::time::Duration::from_secs(30)).await;
        let alert = tls_alert(&answer.bytes);
        assert!(
            alert == Some(ALERT_PROTOCOL_VERSION) || alert == Some(ALERT_HANDSHAKE_FAILURE),
            "version {version:#06x}: {:?}",
            answer.bytes
        );
        assert_eq!(answer.ending, Ending::Closed);
    }
    // The same hello at TLS 1.2 is not refused for its version (it gets a ServerHello).
    let mut tcp = tcp_from(&registry.host, LEGIT).await.unwrap();
    tcp.write_all(&legacy_client_hello(0x0303)).await.unwrap();
    let mut first = [0u8; 1];
    tcp.read_exact(&mut first).await.unwrap();
    assert_eq!(first[0], 0x16, "a handshake record, not an alert");
}
