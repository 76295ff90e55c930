//! Hostile clients at scale, each while a legitimate client (its own address, a fresh TLS
//! connection per request, as Terraform makes for each archive) keeps asking for a version
//! list: the attack's outcome, how long the server took to refuse it, and the legitimate
//! client's latency before and during it.

use crate::common::hostile::{
    legacy_client_hello, period_client_hello, read_until_closed, tcp_from, tls_alert,
    tls_client_config, tls_from, Answer, Ending, ALERT_HANDSHAKE_FAILURE, ALERT_PROTOCOL_VERSION,
    ATTACKER, H2_PREFACE, LEGIT,
};
use crate::common::TestRegistry;
use crate::slow_clients::{slow_bodies, slow_readers, slowloris};
use crate::stats::{p50_p99, quantile, sorted};
use std::fmt::Write as _;
use std::future::Future;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::AsyncWriteExt;

/// The server's limits the attacks are sized against (as passed to it, or its defaults).
pub struct Limits {
    pub args: Vec<String>,
    pub header_read_timeout: Duration,
    pub body_grace: Duration,
    pub write_stall_timeout: Duration,
    pub max_connections: usize,
    pub max_connections_per_ip: usize,
    pub tls_handshake_timeout: Duration,
}

impl Limits {
    pub fn for_mode(quick: bool) -> Self {
        if quick {
            Limits {
                args: [
                    "--header-read-timeout",
                    "2",
                    "--body-grace",
                    "2",
                    "--max-connections",
                    "128",
                    "--max-connections-per-ip",
                    "48",
                    "--write-stall-timeout",
                    "2",
                ]
                .map(str::to_owned)
                .to_vec(),
                header_read_timeout: Duration::from_secs(2),
                body_grace: Duration::from_secs(2),
                write_stall_timeout: Duration::from_secs(2),
                max_connections: 128,
                max_connections_per_ip: 48,
                tls_handshake_timeout: Duration::from_secs(10),
            }
        } else {
            // The defaults (cloudfront/src/limits.rs).
            Limits {
                args: Vec::new(),
                header_read_timeout: Duration::from_secs(20),
                body_grace: Duration::from_secs(10),
                write_stall_timeout: Duration::from_secs(30),
                max_connections: 768,
                max_connections_per_ip: 256,
                tls_handshake_timeout: Duration::from_secs(10),
            }
        }
    }
}

pub(crate) struct Context {
    pub registry: TestRegistry,
    pub config: Arc<rustls::ClientConfig>,
    pub downloader: String,
    pub limits: Limits,
    pub quick: bool,
}

/// What an attack reports.
pub(crate) struct Outcome {
    pub outcome: String,
    pub refusal: String,
    pub passed: bool,
}

/// The legitimate client: a fresh connection per request, until `done`.
async fn legit_client(ctx: &Context, done: &AtomicBool, at_least: Duration) -> (Vec<f64>, usize) {
    let client = reqwest::Client::builder()
        .add_root_certificate(
            reqwest::Certificate::from_pem(&std::fs::read(&ctx.registry.ca_pem).unwrap()).unwrap(),
        )
        .tls_built_in_root_certs(false)
        .pool_max_idle_per_host(0)
        .local_address(LEGIT)
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    let url = ctx.registry.url("/v1/modules/acme/vpc/aws/versions");
    let started = Instant::now();
    let (mut latencies, mut failures) = (Vec::new(), 0);
    while !done.load(Ordering::SeqCst) || started.elapsed() < at_least {
        let sent = Instant::now();
        let answered = match client.get(&url).bearer_auth(&ctx.downloader).send().await {
            Ok(response) => response.status() == 200 && response.bytes().await.is_ok(),
            Err(_) => false,
        };
        if answered {
            latencies.push(sent.elapsed().as_secs_f64());
        } else {
            failures += 1;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    (latencies, failures)
}

async fn measure<F: Future<Output = Outcome>>(
    ctx: &Context,
    md: &mut String,
    passed: &mut bool,
    name: &str,
    attack: F,
) {
    let baseline = if ctx.quick {
        Duration::from_secs(1)
    } else {
        Duration::from_secs(5)
    };
    let idle = AtomicBool::new(true);
    let (before, before_failures) = legit_client(ctx, &idle, baseline).await;
    let done = AtomicBool::new(false);
    let attack = async {
        let outcome = attack.await;
        done.store(true, Ordering::SeqCst);
        outcome
    };
    let (outcome, (during, during_failures)) =
        tokio::join!(attack, legit_client(ctx, &done, Duration::ZERO));
    let legit_ok = during_failures == 0 && before_failures == 0;
    *passed &= outcome.passed && legit_ok;
    let _ = writeln!(
        md,
        "| {name} | {} | {} | {} | {} ({}) | {} ({}{}) |",
        if outcome.passed && legit_ok {
            "yes"
        } else {
            "**no**"
        },
        outcome.outcome,
        outcome.refusal,
        p50_p99(&before),
        before.len(),
        p50_p99(&during),
        during.len(),
        if during_failures > 0 {
            format!(", **{during_failures} failed**")
        } else {
            String::new()
        },
    );
    eprintln!(
        "attack {name}: {}; legit during {}",
        outcome.outcome,
        p50_p99(&during)
    );
    // Let the server close what the attack left before the next baseline.
    tokio::time::sleep(Duration::from_millis(500)).await;
}

/// "p50 x s, max y s" of durations.
pub(crate) fn spread(times: &[f64]) -> String {
    if times.is_empty() {
        return "–".to_owned();
    }
    let sorted = sorted(times);
    format!(
        "p50 {:.2} s, max {:.2} s",
        quantile(&sorted, 0.5),
        sorted[sorted.len() - 1]
    )
}

pub(crate) fn attacker_address(index: usize) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(127, 0, 1, 1 + index as u8))
}

/// How an answer is judged: true when the server refused as it should.
type Judge = fn(&Answer) -> bool;
/// A named request, sent raw, and its judge.
type Shape = (String, Vec<u8>, Judge);

/// Requests over the same budget again and again, each on a fresh connection, from `workers`
/// connections at once for `duration`. `expect` judges an answer; returns a summary.
async fn repeat_requests(
    ctx: &Context,
    duration: Duration,
    workers: usize,
    shapes: Vec<Shape>,
) -> Outcome {
    let shapes = Arc::new(shapes);
    let tally: Arc<Mutex<Vec<(usize, bool, f64)>>> = Arc::default();
    let until = Instant::now() + duration;
    let tasks: Vec<_> = (0..workers)
        .map(|w| {
            let (host, config) = (ctx.registry.host.clone(), ctx.config.clone());
            let (shapes, tally) = (shapes.clone(), tally.clone());
            tokio::spawn(async move {
                let mut n = w;
                while Instant::now() < until {
                    let index = n % shapes.len();
                    n += 1;
                    let started = Instant::now();
                    let Ok(mut tls) = tls_from(&host, ATTACKER, config.clone()).await else {
                        tally.lock().unwrap().push((index, false, 0.0));
                        continue;
                    };
                    let _ = tls.write_all(&shapes[index].1).await;
                    let answer = read_until_closed(&mut tls, Duration::from_secs(60)).await;
                    let ok = (shapes[index].2)(&answer);
                    tally
                        .lock()
                        .unwrap()
                        .push((index, ok, started.elapsed().as_secs_f64()));
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    let tally = tally.lock().unwrap();
    let mut parts = Vec::new();
    for (index, (name, _, _)) in shapes.iter().enumerate() {
        let rows: Vec<_> = tally.iter().filter(|t| t.0 == index).collect();
        let ok = rows.iter().filter(|t| t.1).count();
        parts.push(format!("{name}: {ok}/{}", rows.len()));
    }
    let times: Vec<f64> = tally.iter().map(|t| t.2).collect();
    Outcome {
        outcome: parts.join("; "),
        refusal: spread(&times),
        passed: !tally.is_empty() && tally.iter().all(|t| t.1),
    }
}

/// Connections that do nothing, from `addresses` addresses, `per_address` each, held for
/// `hold`: which the server closed at once, which it closed later, which were still open.
async fn many_connections(
    ctx: &Context,
    addresses: usize,
    per_address: usize,
    hold: Duration,
) -> Outcome {
    let host = ctx.registry.host.clone();
    // Each connection is watched from the moment it is open: when opening them all takes a
    // while (seconds, on a busy machine), a refusal of one of the first must be timed when it
    // happens, not when the last one is open (which counted early refusals as late ones).
    let (release, released) = tokio::sync::watch::channel(false);
    let mut tasks = Vec::new();
    let mut refused_at_connect = 0;
    let opening = Instant::now();
    for a in 0..addresses {
        for _ in 0..per_address {
            match tcp_from(&host, attacker_address(10 + a)).await {
                Ok(mut stream) => {
                    let connected = Instant::now();
                    let mut released = released.clone();
                    tasks.push(tokio::spawn(async move {
                        tokio::select! {
                            answer = read_until_closed(&mut stream, Duration::from_secs(3600)) => {
                                (answer.ending == Ending::Closed)
                                    .then(|| connected.elapsed().as_secs_f64())
                            }
                            _ = released.wait_for(|released| *released) => None,
                        }
                    }));
                }
                Err(_) => refused_at_connect += 1,
            }
        }
    }
    let opened_in = opening.elapsed().as_secs_f64();
    tokio::time::sleep(hold).await;
    let _ = release.send(true);
    // Refused (over the per-address cap): closed as soon as the server accepted it, which on a
    // busy server can be seconds after the connect (it sits in the kernel's queue until then),
    // but well before the handshake limit, which is what closes the ones that got a slot.
    let refused_before = ctx.limits.tls_handshake_timeout.as_secs_f64() / 2.0;
    let mut at_once = 0;
    let mut later = Vec::new();
    let mut open = 0;
    for task in tasks {
        match task.await.unwrap() {
            Some(after) if after < refused_before => at_once += 1,
            Some(after) => later.push(after),
            None => open += 1,
        }
    }
    let total = addresses * per_address;
    let cap = ctx.limits.max_connections_per_ip.min(per_address) * addresses;
    Outcome {
        outcome: format!(
            "{total} TCP connections from {addresses} address(es) (opened in {opened_in:.1} s), no TLS: {at_once} closed before half the handshake limit (refused: over the per-address cap), {} closed later, {open} still open when released {:.0} s after the last was opened{}",
            later.len(),
            hold.as_secs_f64(),
            if refused_at_connect > 0 { format!(", {refused_at_connect} refused at connect") } else { String::new() }
        ),
        refusal: format!(
            "later ones, from their connect: {} (handshake limit {} s)",
            spread(&later),
            ctx.limits.tls_handshake_timeout.as_secs()
        ),
        passed: at_once + refused_at_connect >= total.saturating_sub(cap),
    }
}

/// A 16 MB archive gzip cannot shrink, published; its signed URL and stored size.
async fn big_archive(ctx: &Context) -> (String, u64) {
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let blob: Vec<u8> = (0..16 * 1024 * 1024)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect();
    let archive = tfreg_testkit::archive::ArchiveBuilder::new()
        .file("main.tf", "output \"x\" {\n  value = 1\n}\n")
        .file("blob.bin", blob)
        .build_tar_gz();
    let token = ctx.registry.master_token.clone();
    let reply = ctx
        .registry
        .upload("acme/big/aws", "1.0.0", archive, &token)
        .await;
    assert_eq!(reply.status, 201, "{}", reply.text());
    let size = reply.json()["size"].as_u64().expect("size");
    let download = ctx
        .registry
        .get("/v1/modules/acme/big/aws/1.0.0/download", Some(&token))
        .await;
    // As go-getter requests it (no `checksum`, which is not part of the signed resource).
    let location = crate::common::as_go_getter_requests(
        download.header("x-terraform-get").expect("X-Terraform-Get"),
    );
    (location, size)
}

pub async fn run(quick: bool) -> (String, bool) {
    let limits = Limits::for_mode(quick);
    let args: Vec<&str> = limits.args.iter().map(String::as_str).collect();
    let registry = TestRegistry::start_with(&args);
    let master = registry.master_token.clone();
    let archive = tfreg_testkit::archive::versioned_module("1.0.0");
    assert_eq!(
        registry
            .upload("acme/vpc/aws", "1.0.0", archive, &master)
            .await
            .status,
        201
    );
    let downloader = registry.create_token("legit", "downloader").await;
    let config = tls_client_config(&registry.ca_pem, &[b"http/1.1"]);
    let ctx = Context {
        registry,
        config,
        downloader,
        limits,
        quick,
    };
    let short = if quick {
        Duration::from_secs(2)
    } else {
        Duration::from_secs(10)
    };

    let mut md = String::new();
    let mut passed = true;
    let _ = writeln!(
        md,
        "Server limits: header read timeout {} s, body grace {} s then 1 KiB/s, write stall {} s, {} connections ({} per address), TLS handshake {} s, heads up to 20 KB. The legitimate client connects from 127.0.0.1, the attackers from other loopback addresses. Latency: p50 / p99 in ms (samples).\n",
        ctx.limits.header_read_timeout.as_secs(),
        ctx.limits.body_grace.as_secs(),
        ctx.limits.write_stall_timeout.as_secs(),
        ctx.limits.max_connections,
        ctx.limits.max_connections_per_ip,
        ctx.limits.tls_handshake_timeout.as_secs()
    );
    let _ = writeln!(md, "| attack | refused, others served | outcome | time to refusal | legit before | legit during |");
    let _ = writeln!(md, "|---|---|---|---|---|---|");

    let (slow_n, body_n) = if quick { (40, 20) } else { (400, 100) };
    measure(
        &ctx,
        &mut md,
        &mut passed,
        "slowloris (slow headers)",
        slowloris(&ctx, slow_n),
    )
    .await;
    measure(
        &ctx,
        &mut md,
        &mut passed,
        "slow bodies",
        slow_bodies(&ctx, body_n),
    )
    .await;

    let (location, size) = big_archive(&ctx).await;
    let readers = slow_readers(&ctx, &location, size, if quick { 8 } else { 16 });
    measure(
        &ctx,
        &mut md,
        &mut passed,
        "slow reads (answers never read)",
        readers,
    )
    .await;

    let big = |size: usize| {
        format!(
            "GET /v1/tokens HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n",
            "a".repeat(size)
        )
        .into_bytes()
    };
    let many_headers = {
        let lines: String = (0..150).map(|i| format!("X-H{i}: v\r\n")).collect();
        format!("GET /v1/tokens HTTP/1.1\r\nHost: x\r\n{lines}\r\n").into_bytes()
    };
    let is_431: Judge = |a| a.status() == Some(431) && a.ending == Ending::Closed;
    let heads = repeat_requests(
        &ctx,
        short,
        4,
        vec![
            ("24 KB header".into(), big(24 * 1024), is_431),
            ("1 MB header".into(), big(1024 * 1024), is_431),
            ("150 headers".into(), many_headers, is_431),
        ],
    );
    measure(
        &ctx,
        &mut md,
        &mut passed,
        "oversized heads (431 expected)",
        heads,
    )
    .await;

    let hold = if quick {
        Duration::from_secs(3)
    } else {
        Duration::from_secs(15)
    };
    let per_ip = ctx.limits.max_connections_per_ip;
    let one = many_connections(&ctx, 1, if quick { 200 } else { 2000 }, hold);
    measure(
        &ctx,
        &mut md,
        &mut passed,
        "very many connections, one address",
        one,
    )
    .await;
    let addresses = (ctx.limits.max_connections * 3 / 2).div_ceil(per_ip);
    let spread_out = many_connections(&ctx, addresses, per_ip, hold);
    measure(
        &ctx,
        &mut md,
        &mut passed,
        "very many connections, many addresses (over the global cap)",
        spread_out,
    )
    .await;

    let token = ctx.registry.master_token.clone();
    let smuggled = "GET /v1/tokens HTTP/1.1\r\nHost: x\r\n\r\n";
    let body = format!("0\r\n\r\n{smuggled}");
    let post = |framing: &str| {
        format!("POST /v1/tokens HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n{framing}\r\n\r\n{body}").into_bytes()
    };
    let one_answer: Judge = |a| a.responses() == 1 && a.ending == Ending::Closed;
    let bad_request: Judge =
        |a| a.status() == Some(400) && a.responses() == 1 && a.ending == Ending::Closed;
    let cl = format!("Content-Length: {}", body.len());
    let smuggling = repeat_requests(
        &ctx,
        short,
        4,
        vec![
            (
                "CL then TE: one answer, closed".into(),
                post(&format!("{cl}\r\nTransfer-Encoding: chunked")),
                one_answer,
            ),
            (
                "TE then CL: one answer, closed".into(),
                post(&format!("Transfer-Encoding: chunked\r\n{cl}")),
                one_answer,
            ),
            (
                "two CLs: 400".into(),
                post("Content-Length: 3\r\nContent-Length: 5"),
                bad_request,
            ),
            ("CL +5: 400".into(), post("Content-Length: +5"), bad_request),
            (
                "TE xchunked: 400".into(),
                post("Transfer-Encoding: xchunked"),
                bad_request,
            ),
            (
                "TE chunked, identity: 400".into(),
                post("Transfer-Encoding: chunked, identity"),
                bad_request,
            ),
            (
                "TE in HTTP/1.0: 400".into(),
                b"POST /v1/tokens HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n".to_vec(),
                bad_request,
            ),
        ],
    );
    measure(
        &ctx,
        &mut md,
        &mut passed,
        "request smuggling shapes",
        smuggling,
    )
    .await;

    let is_4xx: Judge = |a| a.status().is_some_and(|s| (400..500).contains(&s));
    let get = |path: &[u8]| {
        let mut request = b"GET ".to_vec();
        request.extend_from_slice(path);
        request.extend_from_slice(format!(" HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\nConnection: close\r\n\r\n").as_bytes());
        request
    };
    let paths = repeat_requests(
        &ctx,
        short,
        4,
        vec![
            (
                "raw 0xFF bytes".into(),
                get(b"/v1/modules/\xff\xfe/vpc/aws/versions"),
                is_4xx,
            ),
            (
                "%FF%FE".into(),
                get(b"/v1/modules/%ff%fe/vpc/aws/versions"),
                is_4xx,
            ),
            (
                "overlong %C0%AF".into(),
                get(b"/v1/modules/%C0%AF/vpc/aws/versions"),
                is_4xx,
            ),
            (
                "%00".into(),
                get(b"/v1/modules/acme/vpc/aws/1.0.0%00/download"),
                is_4xx,
            ),
            (
                "%2e%2e traversal".into(),
                get(b"/archives/acme/%2e%2e/%2e%2e/tokens.redb"),
                is_4xx,
            ),
            (
                "bad escape %zz".into(),
                get(b"/v1/modules/acme/vpc/aws/%zz/download"),
                is_4xx,
            ),
        ],
    );
    measure(
        &ctx,
        &mut md,
        &mut passed,
        "invalid UTF-8 and percent-encoding in paths (4xx)",
        paths,
    )
    .await;

    let tls_low = repeat_tls_hellos(&ctx, short);
    measure(
        &ctx,
        &mut md,
        &mut passed,
        "TLS below 1.2 (SSL 3.0, TLS 1.0, 1.1)",
        tls_low,
    )
    .await;

    let h2 = repeat_requests(
        &ctx,
        short,
        4,
        vec![(
            "closed without an HTTP/2 frame".into(),
            H2_PREFACE.to_vec(),
            |a| a.ending == Ending::Closed && a.bytes.is_empty(),
        )],
    );
    measure(
        &ctx,
        &mut md,
        &mut passed,
        "HTTP/2 by prior knowledge over TLS",
        h2,
    )
    .await;

    (md, passed)
}

/// Hellos at SSL 3.0, TLS 1.0 and 1.1 over plain TCP for `duration`: with suites the server
/// has, each must draw the protocol_version alert; as clients of the time sent them (CBC
/// suites only), an alert (protocol_version or handshake_failure) and the end of the connection.
async fn repeat_tls_hellos(ctx: &Context, duration: Duration) -> Outcome {
    let until = Instant::now() + duration;
    let kinds: [(&str, u16, bool); 5] = [
        ("SSL 3.0", 0x0300, true),
        ("TLS 1.0", 0x0301, true),
        ("TLS 1.1", 0x0302, true),
        ("TLS 1.0, CBC suites only", 0x0301, false),
        ("TLS 1.1, CBC suites only", 0x0302, false),
    ];
    let mut tally = [(0usize, 0usize, 0usize); 5];
    let mut times = Vec::new();
    let mut n = 0;
    while Instant::now() < until {
        let kind = n % kinds.len();
        n += 1;
        let (_, version, modern) = kinds[kind];
        tally[kind].0 += 1;
        let started = Instant::now();
        let Ok(mut tcp) = tcp_from(&ctx.registry.host, ATTACKER).await else {
            continue;
        };
        let hello = if modern {
            legacy_client_hello(version)
        } else {
            period_client_hello(version)
        };
        let _ = tcp.write_all(&hello).await;
        let answer = read_until_closed(&mut tcp, Duration::from_secs(30)).await;
        let alert = tls_alert(&answer.bytes);
        let refused = answer.ending == Ending::Closed
            && (alert == Some(ALERT_PROTOCOL_VERSION)
                || (!modern && alert == Some(ALERT_HANDSHAKE_FAILURE)));
        if refused {
            times.push(started.elapsed().as_secs_f64());
            if alert == Some(ALERT_PROTOCOL_VERSION) {
                tally[kind].1 += 1;
            } else {
                tally[kind].2 += 1;
            }
        }
    }
    let parts: Vec<String> = kinds
        .iter()
        .zip(tally)
        .map(|((name, _, _), (total, version, handshake))| {
            if handshake > 0 {
                format!("{name}: {version}/{total} protocol_version, {handshake}/{total} handshake_failure")
            } else {
                format!("{name}: {version}/{total} protocol_version")
            }
        })
        .collect();
    let total: usize = tally.iter().map(|t| t.0).sum();
    Outcome {
        outcome: format!("{}; connection closed each time", parts.join("; ")),
        refusal: spread(&times),
        passed: total > 0 && times.len() == total,
    }
}
