//! The cost of a CloudFront signed archive URL to the origin (one per download answer) and to
//! `tfreg serve` (one check per archive request): prints the median and 99th percentile of
//! signing and of verifying, ECDSA P-256 over the canned policy's SHA-1.
//!
//! Run: `cargo bench -p tfreg-origin --bench url_signing` (`TFREG_BENCH_ROUNDS`, default 2000).

use std::time::{Duration, Instant};
use tfreg_origin::signed_url::UrlSigner;

const RESOURCE: &str = "https://registry.example.com/archives/acme/vpc/aws/1.2.0/module.tar.gz";

fn percentiles(mut samples: Vec<Duration>) -> (Duration, Duration) {
    samples.sort();
    (
        samples[samples.len() / 2],
        samples[samples.len() * 99 / 100],
    )
}

fn main() {
    let rounds: usize = std::env::var("TFREG_BENCH_ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(2_000);
    let signer = UrlSigner::generate("K2BENCH");
    let verifier = signer.verifier();
    let expires = 2_000_000_000;
    let mut signing = Vec::with_capacity(rounds);
    let mut verifying = Vec::with_capacity(rounds);
    let mut query = String::new();
    for _ in 0..rounds {
        let started = Instant::now();
        query = signer.sign(RESOURCE, expires);
        signing.push(started.elapsed());
        let started = Instant::now();
        let verdict = verifier.verify(RESOURCE, &query, 1);
        verifying.push(started.elapsed());
        assert_eq!(verdict, Ok(()));
    }
    let (sign_median, sign_p99) = percentiles(signing);
    let (verify_median, verify_p99) = percentiles(verifying);
    println!("{:<64} {}", "rounds", rounds);
    println!("{:<64} {} bytes", "signing parameters", query.len());
    println!(
        "{:<64} {:.1} µs median, {:.1} µs p99",
        "sign (origin, per download answer)",
        sign_median.as_secs_f64() * 1e6,
        sign_p99.as_secs_f64() * 1e6
    );
    println!(
        "{:<64} {:.1} µs median, {:.1} µs p99",
        "verify (tfreg serve, per archive request)",
        verify_median.as_secs_f64() * 1e6,
        verify_p99.as_secs_f64() * 1e6
    );
}
