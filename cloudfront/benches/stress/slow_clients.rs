//! The slow ones among the hostile clients: heads sent a line at a time (slowloris), bodies
//! trickled a byte at a time, and answers never read (slow reads). Each holds a connection
//! for as long as the server lets it; the server's limits must end each one.

use crate::attacks::{attacker_address, spread, Context, Outcome};
use crate::common::hostile::{read_until_closed, tls_from};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Slowloris: connections that send a request head a line at a time, forever.
pub(crate) async fn slowloris(ctx: &Context, connections: usize) -> Outcome {
    let per_address = ctx.limits.max_connections_per_ip / 2;
    let gap = if ctx.quick {
        Duration::from_millis(200)
    } else {
        Duration::from_secs(1)
    };
    let give_up = ctx.limits.header_read_timeout * 3 + Duration::from_secs(5);
    let tasks: Vec<_> = (0..connections)
        .map(|i| {
            let (host, config) = (ctx.registry.host.clone(), ctx.config.clone());
            tokio::spawn(async move {
                let tls = tls_from(&host, attacker_address(i / per_address), config)
                    .await
                    .ok()?;
                let (mut reader, mut writer) = tokio::io::split(tls);
                writer
                    .write_all(b"GET /v1/tokens HTTP/1.1\r\nHost: x\r\n")
                    .await
                    .ok()?;
                let started = Instant::now();
                let mut buf = [0u8; 512];
                while started.elapsed() < give_up {
                    tokio::select! {
                        read = reader.read(&mut buf) => if matches!(read, Ok(0) | Err(_)) {
                            return Some(started.elapsed().as_secs_f64());
                        },
                        () = tokio::time::sleep(gap) => {
                            if writer.write_all(b"X-Slow: 1\r\n").await.is_err() {
                                return Some(started.elapsed().as_secs_f64());
                            }
                        }
                    }
                }
                None
            })
        })
        .collect();
    let mut closed = Vec::new();
    for task in tasks {
        if let Some(after) = task.await.unwrap() {
            closed.push(after);
        }
    }
    Outcome {
        outcome: format!(
            "{}/{connections} connections closed by the server (a header line every {:.1} s)",
            closed.len(),
            gap.as_secs_f64()
        ),
        refusal: format!(
            "{} (limit {} s)",
            spread(&closed),
            ctx.limits.header_read_timeout.as_secs()
        ),
        passed: closed.len() == connections,
    }
}

/// Slow bodies: uploads declaring 1 MB and sending a byte every half second.
pub(crate) async fn slow_bodies(ctx: &Context, connections: usize) -> Outcome {
    let per_address = ctx.limits.max_connections_per_ip / 2;
    let token = ctx.registry.master_token.clone();
    let tasks: Vec<_> = (0..connections)
        .map(|i| {
            let (host, config, token) = (ctx.registry.host.clone(), ctx.config.clone(), token.clone());
            tokio::spawn(async move {
                let tls = tls_from(&host, attacker_address(i / per_address), config).await.ok()?;
                let (mut reader, mut writer) = tokio::io::split(tls);
                let head = format!(
                    "PUT /v1/modules/acme/slow/aws/1.0.{i} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\nContent-Length: 1000000\r\n\r\n"
                );
                writer.write_all(head.as_bytes()).await.ok()?;
                let started = Instant::now();
                let trickle = async move {
                    loop {
                        tokio::time::sleep(Duration::from_millis(500)).await;
                        if writer.write_all(b"x").await.is_err() {
                            std::future::pending::<()>().await;
                        }
                    }
                };
                let answer = tokio::select! {
                    answer = read_until_closed(&mut reader, Duration::from_secs(120)) => answer,
                    () = trickle => unreachable!(),
                };
                Some((answer.status(), started.elapsed().as_secs_f64()))
            })
        })
        .collect();
    let (mut refused, mut times, mut other) = (0, Vec::new(), Vec::new());
    for task in tasks {
        match task.await.unwrap() {
            Some((Some(408), after)) => {
                refused += 1;
                times.push(after);
            }
            answer => other.push(format!("{answer:?}")),
        }
    }
    other.truncate(3);
    Outcome {
        outcome: format!(
            "{refused}/{connections} answered 408 (a byte every 0.5 s of a declared 1 MB){}",
            if other.is_empty() {
                String::new()
            } else {
                format!("; others: {}", other.join(", "))
            }
        ),
        refusal: format!(
            "{} (grace {} s, then 1 KiB/s)",
            spread(&times),
            ctx.limits.body_grace.as_secs()
        ),
        passed: refused == connections,
    }
}

/// Slow reads: downloads of a 16 MB archive (more than the socket buffers and TLS hold) that
/// read 16 KB and then nothing for the server's write-stall limit and 5 s more (2 s in quick). The answer must
/// have been cut short (the connection closed before the archive's end).
pub(crate) async fn slow_readers(
    ctx: &Context,
    location: &str,
    size: u64,
    connections: usize,
) -> Outcome {
    let margin = if ctx.quick { 2 } else { 5 };
    let wait = ctx.limits.write_stall_timeout + Duration::from_secs(margin);
    let tasks: Vec<_> = (0..connections)
        .map(|i| {
            let (host, config) = (ctx.registry.host.clone(), ctx.config.clone());
            let request =
                format!("GET {location} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
            tokio::spawn(async move {
                let mut tls = tls_from(&host, attacker_address(i / 64), config)
                    .await
                    .ok()?;
                tls.write_all(request.as_bytes()).await.ok()?;
                let mut head = vec![0u8; 16 * 1024];
                tls.read_exact(&mut head).await.ok()?;
                tokio::time::sleep(wait).await;
                let rest = read_until_closed(&mut tls, Duration::from_secs(120)).await;
                let received = (head.len() + rest.bytes.len()) as u64;
                // Closed either way; cut short, or the whole answer had fitted in the socket
                // buffers (the server was done writing, so it was not held either).
                let closed = rest.ending == crate::common::hostile::Ending::Closed;
                Some((closed, received < size))
            })
        })
        .collect();
    let (mut cut, mut absorbed) = (0, 0);
    for task in tasks {
        match task.await.unwrap() {
            Some((true, true)) => cut += 1,
            Some((true, false)) => absorbed += 1,
            _ => {}
        }
    }
    Outcome {
        outcome: format!(
            "{}/{connections} connections closed by the server: {cut} answers cut short, {absorbed} whole (the answer fitted in the socket buffers, so the server was not held) (a {:.1} MB archive, 16 KB read, then nothing)",
            cut + absorbed,
            size as f64 / 1e6
        ),
        refusal: format!(
            "within the write-stall limit of {} s (checked {} s later)",
            ctx.limits.write_stall_timeout.as_secs(),
            wait.as_secs()
        ),
        passed: cut + absorbed == connections,
    }
}
