//! The soak: mixed traffic on `connections` keep-alive connections for a while, with the
//! server's memory and open descriptors sampled every second. Memory must stay flat: the
//! token cache (an LRU), the edge's caches and the connection state are all bounded.

use crate::common::TestRegistry;
use crate::stats::{mean, ms, quantile, sorted};
use std::fmt::Write as _;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tfreg_testkit::archive::versioned_module;

pub struct SoakConfig {
    pub duration: Duration,
    /// The rows of the table: a minute in the full run.
    pub bucket: Duration,
    pub connections: usize,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Op {
    Versions,
    Download,
    Archive,
    Upload,
    TokenCreate,
    TokenUse,
    TokenRevoke,
    WrongToken,
}

const OPS: [(Op, &str); 8] = [
    (Op::Versions, "versions (downloader token)"),
    (Op::Download, "download (204 + signed URL)"),
    (Op::Archive, "archive GET (signed URL)"),
    (Op::Upload, "upload (new version)"),
    (Op::TokenCreate, "token create (master)"),
    (Op::TokenUse, "versions with the new token"),
    (Op::TokenRevoke, "token revoke (master)"),
    (Op::WrongToken, "versions with a wrong token (401)"),
];

struct Sample {
    at: f32,
    latency: f32,
    op: Op,
    ok: bool,
}

/// What the workers share: the tokens, where errors are kept (the first few, verbatim).
struct Shared {
    base: String,
    ca: reqwest::Certificate,
    downloader: String,
    uploader: String,
    master: String,
    errors: Mutex<Vec<String>>,
}

pub struct SoakReport {
    pub markdown: String,
    pub errors: u64,
    pub requests: u64,
    /// The soak's data directory, deleted when this is dropped: after the results are written,
    /// since deleting a 10-minute soak's hundreds of thousands of files takes many minutes.
    pub data_dir: tempfile::TempDir,
}

/// Resident memory of `pid` in KiB (VmRSS), its open descriptors and its threads.
pub fn process_figures(pid: u32) -> (u64, usize, usize) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let threads = status
        .lines()
        .find_map(|line| line.strip_prefix("Threads:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    let rss = status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0);
    let fds = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| d.count())
        .unwrap_or(0);
    (rss, fds, threads)
}

/// A small xorshift generator: the mix of operations, reproducible per worker.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

pub fn random_hex(rng_seed: u64, len: usize) -> String {
    let mut rng = Rng(rng_seed | 1);
    (0..len)
        .map(|_| char::from(b"0123456789abcdef"[(rng.next() % 16) as usize]))
        .collect()
}

/// One request of an operation: (operation, method, URL, token, body, expected status).
type Step = (Op, reqwest::Method, String, String, Option<Vec<u8>>, u16);

async fn worker(id: usize, shared: Arc<Shared>, started: Instant, until: Instant) -> Vec<Sample> {
    let client = reqwest::Client::builder()
        .add_root_certificate(shared.ca.clone())
        .tls_built_in_root_certs(false)
        .pool_max_idle_per_host(1)
        .timeout(Duration::from_secs(60))
        .build()
        .expect("HTTP client");
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ (id as u64 + 1).wrapping_mul(0x2545_f491_4f6c_dd1d));
    let mut samples = Vec::new();
    let mut archive_url: Option<(String, Instant)> = None;
    let mut uploads = 0u64;
    let mut churn = 0u64;
    let versions_url = format!("{}/v1/modules/soak/vpc/aws/versions", shared.base);
    // Diagnostics: STRESS_SOAK_WITHOUT=upload,churn,wrong turns those shares into version lists.
    let without = std::env::var("STRESS_SOAK_WITHOUT").unwrap_or_default();
    // STRESS_SOAK_FIXED_MODULES=1: every upload is a new version of the worker's one module, so
    // the catalogue stays at 64 modules and memory is measured under a constant module count.
    let fixed_modules = std::env::var("STRESS_SOAK_FIXED_MODULES").is_ok_and(|v| v == "1");
    while Instant::now() < until {
        let mut roll = rng.next() % 100;
        let category = match roll {
            85..88 => "upload",
            88..90 => "churn",
            90.. => "wrong",
            _ => "",
        };
        if !category.is_empty() && without.split(',').any(|w| w == category) {
            roll = 0;
        }
        // What to do, as (operation, method, URL, token, body, expected status).
        let mut steps: Vec<Step> = Vec::new();
        match roll {
            0..45 => steps.push((
                Op::Versions,
                reqwest::Method::GET,
                versions_url.clone(),
                shared.downloader.clone(),
                None,
                200,
            )),
            45..85 => {
                // An archive URL lives 300 s; a worker refreshes its own every minute.
                let fresh = archive_url
                    .as_ref()
                    .is_some_and(|(_, at)| at.elapsed() < Duration::from_secs(60));
                if roll < 65 || !fresh {
                    let version = format!("1.0.{}", rng.next() % 10);
                    steps.push((
                        Op::Download,
                        reqwest::Method::GET,
                        format!("{}/v1/modules/soak/vpc/aws/{version}/download", shared.base),
                        shared.downloader.clone(),
                        None,
                        204,
                    ));
                } else {
                    let (url, _) = archive_url.clone().expect("fresh");
                    steps.push((
                        Op::Archive,
                        reqwest::Method::GET,
                        url,
                        String::new(),
                        None,
                        200,
                    ));
                }
            }
            85..88 => {
                let (version, module) = if fixed_modules {
                    (format!("1.{uploads}.0"), format!("soak/w{id}-0/aws"))
                } else {
                    let version = format!("1.{}.0", uploads % 25);
                    (version, format!("soak/w{id}-{}/aws", uploads / 25))
                };
                uploads += 1;
                steps.push((
                    Op::Upload,
                    reqwest::Method::PUT,
                    format!("{}/v1/modules/{module}/{version}", shared.base),
                    shared.uploader.clone(),
                    Some(versioned_module(&version)),
                    201,
                ));
            }
            88..90 => {
                churn += 1;
                let name = format!("churn-{id}-{churn}");
                let body = serde_json::json!({ "name": name, "permission": "downloader" });
                steps.push((
                    Op::TokenCreate,
                    reqwest::Method::POST,
                    format!("{}/v1/tokens", shared.base),
                    shared.master.clone(),
                    Some(body.to_string().into_bytes()),
                    201,
                ));
                steps.push((
                    Op::TokenUse,
                    reqwest::Method::GET,
                    versions_url.clone(),
                    String::new(),
                    None,
                    200,
                ));
                steps.push((
                    Op::TokenRevoke,
                    reqwest::Method::DELETE,
                    format!("{}/v1/tokens/{name}", shared.base),
                    shared.master.clone(),
                    None,
                    200,
                ));
            }
            _ => steps.push((
                Op::WrongToken,
                reqwest::Method::GET,
                versions_url.clone(),
                format!("tfr_{}", random_hex(rng.next(), 64)),
                None,
                401,
            )),
        }
        let mut new_token = String::new();
        for (op, method, url, token, body, expected) in steps {
            let token = if op == Op::TokenUse {
                new_token.clone()
            } else {
                token
            };
            let mut request = client.request(method, &url);
            if !token.is_empty() {
                request = request.bearer_auth(&token);
            }
            if let Some(body) = body {
                request = request.body(body);
            }
            let sent = Instant::now();
            let outcome = match request.send().await {
                Ok(response) => {
                    let status = response.status().as_u16();
                    let location = response
                        .headers()
                        .get("x-terraform-get")
                        .and_then(|v| v.to_str().ok())
                        .map(str::to_owned);
                    match response.bytes().await {
                        Ok(body) if status == expected => {
                            if op == Op::TokenCreate {
                                let json: serde_json::Value =
                                    serde_json::from_slice(&body).unwrap_or_default();
                                new_token = json["token_value"].as_str().unwrap_or("").to_owned();
                            }
                            if let Some(location) = location {
                                let location = crate::common::as_go_getter_requests(&location);
                                archive_url =
                                    Some((format!("{}{location}", shared.base), Instant::now()));
                            }
                            Ok(())
                        }
                        Ok(body) => Err(format!(
                            "{url}: {status} (expected {expected}): {}",
                            String::from_utf8_lossy(&body)
                                .chars()
                                .take(200)
                                .collect::<String>()
                        )),
                        Err(error) => Err(format!("{url}: reading the body: {error}")),
                    }
                }
                Err(error) => Err(format!("{url}: {error:?}")),
            };
            let latency = sent.elapsed().as_secs_f32();
            if let Err(message) = &outcome {
                let mut errors = shared.errors.lock().unwrap();
                if errors.len() < 10 {
                    errors.push(message.replace(&shared.master, "<master>"));
                }
            }
            samples.push(Sample {
                at: (sent - started).as_secs_f32(),
                latency,
                op,
                ok: outcome.is_ok(),
            });
        }
    }
    samples
}

pub async fn run(config: &SoakConfig) -> SoakReport {
    let registry = TestRegistry::start();
    let master = registry.master_token.clone();
    for patch in 0..10 {
        let version = format!("1.0.{patch}");
        let reply = registry
            .upload(
                "soak/vpc/aws",
                &version,
                versioned_module(&version),
                &master,
            )
            .await;
        assert_eq!(reply.status, 201, "{}", reply.text());
    }
    let shared = Arc::new(Shared {
        base: registry.url(""),
        ca: reqwest::Certificate::from_pem(&std::fs::read(&registry.ca_pem).unwrap()).unwrap(),
        downloader: registry.create_token("soak-reader", "downloader").await,
        uploader: registry.create_token("soak-writer", "uploader").await,
        master,
        errors: Mutex::new(Vec::new()),
    });
    let pid = registry.pid();
    let (rss_at_start, fds_at_start, _) = process_figures(pid);
    let started = Instant::now();
    let until = started + config.duration;
    let sampler = tokio::spawn(async move {
        let mut figures = Vec::new();
        while Instant::now() < until {
            tokio::time::sleep(Duration::from_secs(1)).await;
            let (rss, fds, threads) = process_figures(pid);
            figures.push((started.elapsed().as_secs_f32(), rss, fds, threads));
        }
        figures
    });
    let workers: Vec<_> = (0..config.connections)
        .map(|id| tokio::spawn(worker(id, shared.clone(), started, until)))
        .collect();
    let mut samples = Vec::new();
    for worker in workers {
        samples.extend(worker.await.expect("worker"));
    }
    let figures = sampler.await.expect("sampler");
    let (rss_at_end, fds_at_end, _) = process_figures(pid);
    // Stop the server now; keep its files for the caller to delete last.
    let mut registry = registry;
    let data_dir = std::mem::replace(&mut registry.data_dir, tempfile::tempdir().unwrap());
    drop(registry);

    let bucket = config.bucket.as_secs_f32();
    let buckets = (config.duration.as_secs_f32() / bucket).ceil() as usize;
    let unit = if bucket >= 60.0 { "minute" } else { "seconds" };
    let mut md = String::new();
    let _ = writeln!(
        md,
        "{} connections (one reqwest client each, keep-alive), {} s, the mix: versions 45%, download 20%, archive GET 20%, wrong token 10%, upload 3%, token create + use + revoke 2%. RSS and open descriptors of the server sampled every second; at start {:.1} MiB and {} descriptors.\n",
        config.connections,
        config.duration.as_secs(),
        rss_at_start as f64 / 1024.0,
        fds_at_start
    );
    let _ = writeln!(md, "| {unit} | requests | req/s | errors | p50 ms | p99 ms | RSS MiB (max) | RSS MiB (end) | fds (end) | threads (end) |");
    let _ = writeln!(md, "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    let mut rss_end_of_bucket = Vec::new();
    for b in 0..buckets {
        let (from, to) = (b as f32 * bucket, (b + 1) as f32 * bucket);
        let rows: Vec<&Sample> = samples
            .iter()
            .filter(|s| s.at >= from && s.at < to)
            .collect();
        let latencies = sorted(&rows.iter().map(|s| s.latency as f64).collect::<Vec<_>>());
        let errors = rows.iter().filter(|s| !s.ok).count();
        let in_bucket: Vec<_> = figures
            .iter()
            .filter(|f| f.0 > from && f.0 <= to + 0.5)
            .collect();
        let rss_max = in_bucket.iter().map(|f| f.1).max().unwrap_or(0);
        let (rss_end, fds_end, threads_end) = in_bucket
            .last()
            .map(|f| (f.1, f.2, f.3))
            .unwrap_or((0, 0, 0));
        rss_end_of_bucket.push(rss_end);
        let label = if unit == "minute" {
            format!("{}", b + 1)
        } else {
            format!("{:.0}–{:.0}", from, to)
        };
        let _ = writeln!(
            md,
            "| {label} | {} | {:.0} | {errors} | {} | {} | {:.1} | {:.1} | {fds_end} | {threads_end} |",
            rows.len(),
            rows.len() as f32 / bucket,
            ms(quantile(&latencies, 0.5)),
            ms(quantile(&latencies, 0.99)),
            rss_max as f64 / 1024.0,
            rss_end as f64 / 1024.0
        );
    }
    let _ = writeln!(
        md,
        "\n| operation | requests | errors | mean ms | p50 ms | p99 ms |"
    );
    let _ = writeln!(md, "|---|---:|---:|---:|---:|---:|");
    for (op, name) in OPS {
        let rows: Vec<&Sample> = samples.iter().filter(|s| s.op == op).collect();
        let latencies: Vec<f64> = rows.iter().map(|s| s.latency as f64).collect();
        let sorted_latencies = sorted(&latencies);
        let _ = writeln!(
            md,
            "| {name} | {} | {} | {} | {} | {} |",
            rows.len(),
            rows.iter().filter(|s| !s.ok).count(),
            ms(mean(&latencies)),
            ms(quantile(&sorted_latencies, 0.5)),
            ms(quantile(&sorted_latencies, 0.99))
        );
    }
    let errors = samples.iter().filter(|s| !s.ok).count() as u64;
    let warm = rss_end_of_bucket.first().copied().unwrap_or(0).max(1);
    let _ = writeln!(
        md,
        "\nMemory: {:.1} MiB at the end of the first {unit_row}, {:.1} MiB at the end ({:+.1}%); open descriptors {} at start, {} at the end.",
        warm as f64 / 1024.0,
        rss_at_end as f64 / 1024.0,
        (rss_at_end as f64 - warm as f64) * 100.0 / warm as f64,
        fds_at_start,
        fds_at_end,
        unit_row = if unit == "minute" { "minute" } else { "row" },
    );
    let kept = shared.errors.lock().unwrap().clone();
    if !kept.is_empty() {
        let _ = writeln!(md, "\nFirst errors:\n");
        for error in kept {
            let _ = writeln!(md, "- `{error}`");
        }
    }
    SoakReport {
        markdown: md,
        errors,
        requests: samples.len() as u64,
        data_dir,
    }
}
