//! Requests per second and latency of the hot endpoints (`versions`, `download`) of the real
//! `tfreg serve` binary over HTTPS on loopback, with authenticated keep-alive clients at
//! concurrency 1 and 64, on the embedded backend and on S3 + DynamoDB (moto, a Python
//! protocol server on the same machine: its per-request cost dominates that backend's rows). The load generator runs on one thread, so the server has the other
//! core of a two-core machine. Prints numbers; asserts nothing about them.
//!
//! Run: `cargo bench -p tfreg-cloudfront --bench serve_load`
//! (`TFREG_BENCH_SECONDS` sets the seconds per row; default 5.)

#[path = "../../tests/common/mod.rs"]
mod common;

use common::TestRegistry;
use std::time::{Duration, Instant};
use tfreg_testkit::archive::versioned_module;
use tfreg_testkit::moto;

async fn run(
    registry: &TestRegistry,
    path: &str,
    token: &str,
    concurrency: usize,
    duration: Duration,
    expect: u16,
) -> (f64, Duration, Duration) {
    let deadline = Instant::now() + duration;
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let client = registry.client.clone();
        let url = registry.url(path);
        let token = token.to_owned();
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            while Instant::now() < deadline {
                let started = Instant::now();
                let response = client.get(&url).bearer_auth(&token).send().await.unwrap();
                assert_eq!(response.status().as_u16(), expect);
                response.bytes().await.unwrap();
                latencies.push(started.elapsed());
            }
            latencies
        }));
    }
    let mut latencies = Vec::new();
    for task in tasks {
        latencies.extend(task.await.unwrap());
    }
    latencies.sort();
    let percentile = |p: f64| latencies[((latencies.len() - 1) as f64 * p) as usize];
    (
        latencies.len() as f64 / duration.as_secs_f64(),
        percentile(0.50),
        percentile(0.99),
    )
}

fn main() {
    let seconds: u64 = std::env::var("TFREG_BENCH_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(5);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        println!("tfreg serve over HTTPS (HTTP/1.1 keep-alive), {seconds} s per row");
        println!(
            "{:<9} {:<10} {:>11} {:>12} {:>10} {:>10}",
            "backend", "endpoint", "concurrency", "requests/s", "p50 µs", "p99 µs"
        );
        let embedded = TestRegistry::start_with(&["--token-cache-ttl", "3600"]);
        measure("embedded", &embedded, seconds).await;
        drop(embedded);

        let moto = moto::Moto::start();
        let sdk = moto.sdk_config().await;
        let bucket = moto.create_bucket(&sdk).await;
        let table = moto.create_table(&sdk).await;
        let args = [
            "--token-cache-ttl",
            "3600",
            "--backend",
            "aws",
            "--s3-bucket",
            &bucket,
            "--dynamodb-table",
            &table,
            "--region",
            moto::REGION,
            "--endpoint-url",
            moto.endpoint(),
        ];
        let env = [
            ("AWS_ACCESS_KEY_ID", moto::ACCESS_KEY_ID),
            ("AWS_SECRET_ACCESS_KEY", moto::SECRET_ACCESS_KEY),
            ("AWS_CONFIG_FILE", "/dev/null"),
            ("AWS_SHARED_CREDENTIALS_FILE", "/dev/null"),
            ("AWS_EC2_METADATA_DISABLED", "true"),
        ];
        let aws = TestRegistry::start_with_env(&args, &env);
        measure("s3+ddb", &aws, seconds).await;
    });
}

async fn measure(backend: &str, registry: &TestRegistry, seconds: u64) {
    let master = registry.master_token.clone();
    for version in ["1.0.0", "1.1.0", "1.2.0", "2.0.0"] {
        let reply = registry
            .upload("acme/vpc/aws", version, versioned_module(version), &master)
            .await;
        assert_eq!(reply.status, 201);
    }
    let reader = registry.create_token("bench", "downloader").await;
    for (name, path, status) in [
        ("versions", "/v1/modules/acme/vpc/aws/versions", 200),
        ("download", "/v1/modules/acme/vpc/aws/1.2.0/download", 204),
    ] {
        for concurrency in [1, 64] {
            let (rps, p50, p99) = run(
                registry,
                path,
                &reader,
                concurrency,
                Duration::from_secs(seconds),
                status,
            )
            .await;
            println!(
                "{:<9} {:<10} {:>11} {:>12.0} {:>10} {:>10}",
                backend,
                name,
                concurrency,
                rps,
                p50.as_micros(),
                p99.as_micros()
            );
        }
    }
}
