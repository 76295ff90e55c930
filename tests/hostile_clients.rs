//! Hostile clients against the real `tfreg serve`: each is refused within the server's bounds
//! (cloudfront/src/limits.rs), clearly (a status, or the connection closed), while a legitimate
//! client is still answered. The stress tool (cloudfront/benches/stress) runs the same attacks
//! at scale and measures the legitimate client's latency during each.
//!
//! The servers here run with short limits (`--header-read-timeout 1`, `--body-grace 1`) so
//! that the tests are quick; the outcomes are what is asserted, never a duration.

mod common;

use common::hostile::{
    read_until_closed, tcp_from, tls_client_config, tls_from, Ending, ATTACKER, LEGIT,
};
use common::TestRegistry;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const SHORT_LIMITS: &[&str] = &["--header-read-timeout", "1", "--body-grace", "1"];

/// The legitimate client's request: the token list, as the master token.
async fn assert_legit_client_is_answered(registry: &TestRegistry) {
    let reply = registry
        .get("/v1/tokens", Some(&registry.master_token))
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text());
}

/// Sends one more header line every 100 ms until the server closes the connection, or until
/// `lines` are sent (far past the server's limit). Returns how the connection ended.
async fn trickle_head(registry: &TestRegistry, lines: usize) -> Ending {
    let config = tls_client_config(&registry.ca_pem, &[b"http/1.1"]);
    let tls = tls_from(&registry.host, ATTACKER, config).await.unwrap();
    let (mut reader, mut writer) = tokio::io::split(tls);
    writer
        .write_all(b"GET /v1/tokens HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    let mut buf = [0u8; 1024];
    for _ in 0..lines {
        tokio::select! {
            read = reader.read(&mut buf) => match read {
                Ok(0) | Err(_) => return Ending::Closed,
                Ok(_) => panic!("an answer to a request whose head never ended"),
            },
            () = tokio::time::sleep(Duration::from_millis(100)) => {
                if writer.write_all(b"X-Slow: 1\r\n").await.is_err() {
                    return Ending::Closed;
                }
            }
        }
    }
    Ending::StillOpen
}

#[tokio::test]
async fn a_request_head_trickled_a_line_at_a_time_is_cut_off() {
    let registry = TestRegistry::start_with(SHORT_LIMITS);
    // 8 slowloris connections, each offering 60 s of header lines to a server allowing 1 s.
    let attacks: Vec<_> = (0..8).map(|_| trickle_head(&registry, 600)).collect();
    let (endings, ()) = tokio::join!(
        futures_util::future::join_all(attacks),
        assert_legit_client_is_answered(&registry)
    );
    assert!(endings.iter().all(|e| *e == Ending::Closed), "{endings:?}");
    assert_legit_client_is_answered(&registry).await;
}

#[tokio::test]
async fn an_idle_kept_alive_connection_is_closed() {
    let registry = TestRegistry::start_with(SHORT_LIMITS);
    let config = tls_client_config(&registry.ca_pem, &[b"http/1.1"]);
    let mut tls = tls_from(&registry.host, ATTACKER, config).await.unwrap();
    tls.write_all(b"GET /.well-known/terraform.json HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    // The answer, then nothing: the connection is kept alive only while requests come.
    let answer = read_until_closed(&mut tls, Duration::from_secs(60)).await;
    assert_eq!(answer.status(), Some(200), "{}", answer.text());
    assert_eq!(answer.ending, Ending::Closed);
}

#[tokio::test]
async fn a_trickled_body_is_refused_with_408_and_a_steady_slow_one_is_not() {
    let registry = TestRegistry::start_with(&[
        "--header-read-timeout",
        "1",
        "--body-grace",
        "1",
        "--min-body-rate",
        "100",
    ]);
    let config = tls_client_config(&registry.ca_pem, &[b"http/1.1"]);

    // A byte every 100 ms (10 bytes/s) of a declared 100 kB upload.
    let tls = tls_from(&registry.host, ATTACKER, config.clone())
        .await
        .unwrap();
    let (mut reader, mut writer) = tokio::io::split(tls);
    let head = format!(
        "PUT /v1/modules/acme/vpc/aws/1.0.0 HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\nContent-Length: 100000\r\n\r\n",
        registry.master_token
    );
    writer.write_all(head.as_bytes()).await.unwrap();
    let trickle = async move {
        for _ in 0..600 {
            tokio::time::sleep(Duration::from_millis(100)).await;
            if writer.write_all(b"x").await.is_err() {
                return;
            }
        }
    };
    let answer = tokio::select! {
        answer = read_until_closed(&mut reader, Duration::from_secs(120)) => answer,
        () = trickle => panic!("the trickled upload was never refused"),
    };
    assert_eq!(answer.status(), Some(408), "{}", answer.text());
    assert!(
        answer.text().contains("arrived too slowly"),
        "{}",
        answer.text()
    );

    // A real archive sent in four pieces over about 2 s (well above 100 bytes/s) goes through.
    let archive = tfreg_testkit::archive::versioned_module("1.0.0");
    let mut tls = tls_from(&registry.host, LEGIT, config).await.unwrap();
    let head = format!(
        "PUT /v1/modules/acme/vpc/aws/1.0.0 HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        registry.master_token,
        archive.len()
    );
    tls.write_all(head.as_bytes()).await.unwrap();
    for piece in archive.chunks(archive.len().div_ceil(4)) {
        tokio::time::sleep(Duration::from_millis(500)).await;
        tls.write_all(piece).await.unwrap();
    }
    let answer = read_until_closed(&mut tls, Duration::from_secs(60)).await;
    assert_eq!(answer.status(), Some(201), "{}", answer.text());
}

/// `len` bytes gzip cannot shrink.
fn incompressible(len: usize) -> Vec<u8> {
    let mut state = 0x2545_f491_4f6c_dd1du64;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect()
}

#[tokio::test]
async fn a_client_that_stops_reading_its_answer_is_cut_off() {
    let registry = TestRegistry::start_with(&["--write-stall-timeout", "1"]);
    // 16 MB that gzip cannot shrink: more than the loopback socket buffers and TLS hold.
    let archive = tfreg_testkit::archive::ArchiveBuilder::new()
        .file("main.tf", "output \"x\" {\n  value = 1\n}\n")
        .file("blob.bin", incompressible(16 * 1024 * 1024))
        .build_tar_gz();
    let token = registry.master_token.clone();
    let reply = registry
        .upload("acme/big/aws", "1.0.0", archive, &token)
        .await;
    assert_eq!(reply.status, 201, "{}", reply.text());
    let size = reply.json()["size"].as_u64().expect("size");
    let download = registry
        .get("/v1/modules/acme/big/aws/1.0.0/download", Some(&token))
        .await;
    let location = download.header("x-terraform-get").expect("X-Terraform-Get");

    let config = tls_client_config(&registry.ca_pem, &[b"http/1.1"]);
    let mut tls = tls_from(&registry.host, ATTACKER, config).await.unwrap();
    let location = common::as_go_getter_requests(location);
    let host = &registry.host;
    let request = format!("GET {location} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
    tls.write_all(request.as_bytes()).await.unwrap();
    let mut head = [0u8; 16 * 1024];
    tls.read_exact(&mut head).await.unwrap();
    assert!(head.starts_with(b"HTTP/1.1 200"));
    // Then nothing read for four times the server's limit.
    tokio::time::sleep(Duration::from_secs(4)).await;
    let rest = read_until_closed(&mut tls, Duration::from_secs(120)).await;
    assert_eq!(rest.ending, Ending::Closed);
    let received = (head.len() + rest.bytes.len()) as u64;
    assert!(
        received < size,
        "the whole {size}-byte archive was sent: {received} bytes"
    );
    assert_legit_client_is_answered(&registry).await;
}

#[tokio::test]
async fn a_request_head_over_20_kb_is_refused_with_431() {
    let registry = TestRegistry::start();
    let config = tls_client_config(&registry.ca_pem, &[b"http/1.1"]);
    for (size, expected) in [(16 * 1024, 401), (24 * 1024, 431), (1024 * 1024, 431)] {
        let mut tls = tls_from(&registry.host, ATTACKER, config.clone())
            .await
            .unwrap();
        let head = format!(
            "GET /v1/tokens HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\nConnection: close\r\n\r\n",
            "a".repeat(size)
        );
        // The server may close before the whole of a large head is written.
        let _ = tls.write_all(head.as_bytes()).await;
        let answer = read_until_closed(&mut tls, Duration::from_secs(60)).await;
        assert_eq!(answer.status(), Some(expected), "{size} bytes of header");
        assert_eq!(answer.ending, Ending::Closed);
    }
    assert_legit_client_is_answered(&registry).await;
}

#[tokio::test]
async fn one_address_cannot_take_every_connection() {
    let registry = TestRegistry::start_with(&["--max-connections-per-ip", "4"]);
    let config = tls_client_config(&registry.ca_pem, &[b"http/1.1"]);
    let mut held = Vec::new();
    for _ in 0..4 {
        held.push(
            tls_from(&registry.host, ATTACKER, config.clone())
                .await
                .unwrap(),
        );
    }
    // The fifth from the same address is closed before its handshake ends.
    let fifth = tls_from(&registry.host, ATTACKER, config.clone()).await;
    assert!(fifth.is_err(), "a fifth connection from one address");
    // Others are served, over fresh connections.
    let mut other = tls_from(&registry.host, LEGIT, config.clone())
        .await
        .unwrap();
    other
        .write_all(
            b"GET /.well-known/terraform.json HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        )
        .await
        .unwrap();
    let answer = read_until_closed(&mut other, Duration::from_secs(60)).await;
    assert_eq!(answer.status(), Some(200));
    // A slot given back is the address's again.
    drop(held.pop());
    let mut again = None;
    for _ in 0..100 {
        if let Ok(tls) = tls_from(&registry.host, ATTACKER, config.clone()).await {
            again = Some(tls);
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(again.is_some(), "the slot never came back");
}

#[tokio::test]
async fn connections_over_the_cap_wait_for_a_slot() {
    let registry = TestRegistry::start_with(&["--max-connections", "4"]);
    let config = tls_client_config(&registry.ca_pem, &[b"http/1.1"]);
    let mut held = Vec::new();
    for _ in 0..4 {
        held.push(
            tls_from(&registry.host, ATTACKER, config.clone())
                .await
                .unwrap(),
        );
    }
    let host = registry.host.clone();
    let fifth_config = config.clone();
    let waiting = tokio::spawn(async move { tls_from(&host, LEGIT, fifth_config).await });
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(!waiting.is_finished(), "a fifth connection was served");
    drop(held.pop());
    let mut tls = waiting.await.unwrap().expect("served once a slot is free");
    tls.write_all(
        b"GET /.well-known/terraform.json HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .await
    .unwrap();
    let answer = read_until_closed(&mut tls, Duration::from_secs(60)).await;
    assert_eq!(answer.status(), Some(200));
}

#[tokio::test]
async fn running_out_of_file_descriptors_does_not_spin_the_accept_loop() {
    // 48 descriptors, of which the server uses about 20 at rest; no cap of its own in the way.
    let registry = TestRegistry::start_wrapped(
        &["sh", "-c", "ulimit -n 48 && exec \"$0\" \"$@\""],
        &[
            "--max-connections",
            "1000",
            "--max-connections-per-ip",
            "1000",
        ],
    );
    let mut held = Vec::new();
    for _ in 0..60 {
        held.push(tcp_from(&registry.host, ATTACKER).await.unwrap());
    }
    // Accepts fail with EMFILE while these are held (each until its handshake times out).
    tokio::time::sleep(Duration::from_secs(2)).await;
    let failures = registry.logs().matches("accept failed").count();
    assert!(failures > 0, "the descriptor limit was never reached");
    // Retried at once, it fails ~100,000 times a second on a spinning core.
    assert!(
        failures < 200,
        "{failures} failed accepts: the accept loop spins"
    );
    drop(held);
    let mut answered = false;
    for _ in 0..100 {
        let reply = registry
            .client
            .get(registry.url("/.well-known/terraform.json"))
            .send()
            .await;
        if reply.is_ok_and(|r| r.status() == 200) {
            answered = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(answered, "the server did not recover");
}

/// Sends `request` raw over a fresh connection and reads until the server closes it.
async fn raw_exchange(registry: &TestRegistry, request: &[u8]) -> common::hostile::Answer {
    let config = tls_client_config(&registry.ca_pem, &[b"http/1.1"]);
    let mut tls = tls_from(&registry.host, ATTACKER, config).await.unwrap();
    let _ = tls.write_all(request).await;
    read_until_closed(&mut tls, Duration::from_secs(30)).await
}

#[tokio::test]
async fn request_smuggling_shapes_get_one_answer_or_a_400_and_the_connection_closes() {
    let registry = TestRegistry::start();
    let token = &registry.master_token;
    let smuggled = "GET /v1/tokens HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer x\r\n\r\n";
    let chunked_then_smuggled = format!("0\r\n\r\n{smuggled}");
    let both = |first: &str, second: &str| {
        format!(
            "POST /v1/tokens HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n{first}\r\n{second}\r\n\r\n{chunked_then_smuggled}"
        )
    };
    let length = format!("Content-Length: {}", chunked_then_smuggled.len());
    // Both framings: the chunked one wins (RFC 9112 §6.3), the request is answered once and the
    // connection is closed, so whatever the other framing would have left is never read.
    for request in [
        both(&length, "Transfer-Encoding: chunked"),
        both("Transfer-Encoding: chunked", &length),
    ] {
        let answer = raw_exchange(&registry, request.as_bytes()).await;
        assert_eq!(answer.responses(), 1, "{}", answer.text());
        assert_eq!(answer.ending, Ending::Closed);
    }
    // Framings that cannot be trusted: refused outright.
    for framing in [
        "Content-Length: 3\r\nContent-Length: 5",
        "Content-Length: +5",
        "Content-Length: -1",
        "Transfer-Encoding: xchunked",
        "Transfer-Encoding: chunked, identity",
        "Transfer-Encoding: chunked\x0b",
    ] {
        let request = format!(
            "POST /v1/tokens HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n{framing}\r\n\r\n0\r\n\r\n{smuggled}"
        );
        let answer = raw_exchange(&registry, request.as_bytes()).await;
        assert_eq!(answer.status(), Some(400), "{framing:?}: {}", answer.text());
        assert_eq!(answer.responses(), 1, "{framing:?}");
        assert_eq!(answer.ending, Ending::Closed, "{framing:?}");
    }
    // Transfer-Encoding in HTTP/1.0, and a chunk size past 64 bits.
    for request in [
        "POST /v1/tokens HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n".to_owned(),
        format!("POST /v1/tokens HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\nTransfer-Encoding: chunked\r\n\r\nfffffffffffffffff1\r\nx\r\n0\r\n\r\n"),
    ] {
        let answer = raw_exchange(&registry, request.as_bytes()).await;
        assert!(answer.status().is_none_or(|s| s == 400), "{request:?}: {}", answer.text());
        assert!(answer.responses() <= 1);
        assert_eq!(answer.ending, Ending::Closed);
    }
    assert_legit_client_is_answered(&registry).await;
}

#[tokio::test]
async fn invalid_utf8_and_percent_encoding_in_paths_are_client_errors() {
    let registry = TestRegistry::start();
    let token = &registry.master_token;
    let raw_bytes: &[&[u8]] = &[
        b"/v1/modules/\xff\xfe/vpc/aws/versions",
        b"/v1/modules/acme/vpc/aws/1.0.0/\xc0\xafdownload",
    ];
    let encoded = [
        "/v1/modules/%ff%fe/vpc/aws/versions",
        "/v1/modules/%C0%AF/vpc/aws/versions",
        "/v1/modules/acme%2F..%2F/vpc/aws/versions",
        "/v1/modules/acme/vpc/aws/%zz/download",
        "/v1/modules/acme/vpc/aws/1.0.0%00/download",
        "/archives/%ff/%2e%2e/x.tar.gz",
        "/v1/tokens/%ff%fe",
        "/%",
    ];
    let mut requests: Vec<Vec<u8>> = Vec::new();
    for path in raw_bytes
        .iter()
        .copied()
        .chain(encoded.iter().map(|p| p.as_bytes()))
    {
        for method in ["GET", "DELETE"] {
            let mut request = format!("{method} ").into_bytes();
            request.extend_from_slice(path);
            request.extend_from_slice(
                format!(" HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\nConnection: close\r\n\r\n")
                    .as_bytes(),
            );
            requests.push(request);
        }
    }
    for request in requests {
        let answer = raw_exchange(&registry, &request).await;
        let status = answer.status().unwrap_or_default();
        assert!(
            (400..500).contains(&status),
            "{:?}: {}",
            String::from_utf8_lossy(&request),
            answer.text()
        );
    }
    // In a query, where the search takes any text: answered as a search for nothing.
    let answer = raw_exchange(
        &registry,
        format!("GET /v1/modules/search?q=%ff%fe%00 HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\nConnection: close\r\n\r\n").as_bytes(),
    )
    .await;
    assert_eq!(answer.status(), Some(200), "{}", answer.text());
    assert_legit_client_is_answered(&registry).await;
}
