//! Guessing a secret: the time to refuse a wrong bearer token, or a wrong archive signature,
//! must not depend on how much of it matches the real one. Guesses share 0, half, or all but
//! one of the real value's leading characters (bytes, for the signature); the classes are
//! interleaved in a shuffled order, each guess is fresh (no cache hit), and the classes are
//! compared with Mann-Whitney's U and Welch's t.
//!
//! Two levels: over HTTPS against `tfreg serve` (what an attacker sees, network noise included),
//! and in-process (the hash-and-compare and the signed-URL check alone, in nanoseconds).
//!
//! The archive signature is a CloudFront signed URL's (ECDSA P-256, DER): its check compares
//! no secret, but a guess that is not well-formed DER is refused before the curve arithmetic,
//! so the guesses keep the DER structure (tags, lengths, each integer's first byte) and vary
//! only the rest of the two integers.

use crate::common::TestRegistry;
use crate::soak::random_hex;
use crate::stats::{mann_whitney, mean, quantile, sorted, trimmed, welch};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use std::fmt::Write as _;
use std::time::Instant;
use tfreg_edge::hash_token;
use tfreg_origin::signed_url::UrlSigner;

/// CloudFront's base64: the standard alphabet with `+` `=` `/` written `-` `_` `~`.
fn cloudfront_base64(bytes: &[u8]) -> String {
    STANDARD
        .encode(bytes)
        .replace('+', "-")
        .replace('=', "_")
        .replace('/', "~")
}

fn from_cloudfront_base64(text: &str) -> Vec<u8> {
    STANDARD
        .decode(text.replace('-', "+").replace('_', "=").replace('~', "/"))
        .expect("CloudFront base64")
}

/// The positions of a DER ECDSA signature that keep it well-formed: the sequence's tag and
/// length, and each integer's tag, length and first byte.
fn der_structure(der: &[u8]) -> Vec<usize> {
    let r_len = der[3] as usize;
    let s_at = 4 + r_len;
    vec![0, 1, 2, 3, 4, s_at, s_at + 1, s_at + 2]
}

pub struct TimingConfig {
    /// Requests per class over HTTPS.
    pub samples: usize,
    /// Batches per class in-process (64 checks each).
    pub in_process_samples: usize,
}

/// A small generator for the guesses and the order of the classes.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn shuffled3(&mut self) -> [usize; 3] {
        let mut order = [0, 1, 2];
        for i in (1..3).rev() {
            order.swap(i, (self.next() % (i as u64 + 1)) as usize);
        }
        order
    }
}

/// A guess of `real` (ASCII) sharing exactly its first `matching` characters.
fn token_guess(real: &str, matching: usize, rng: &mut Rng) -> String {
    let real = real.as_bytes();
    let mut guess = real[..matching].to_vec();
    let alphabet = b"0123456789abcdef";
    let differing = loop {
        let c = alphabet[(rng.next() % 16) as usize];
        if c != real[matching] {
            break c;
        }
    };
    guess.push(differing);
    guess.extend(random_hex(rng.next(), real.len() - matching - 1).bytes());
    String::from_utf8(guess).unwrap()
}

/// A guess of the signature bytes `real` (DER) sharing exactly its first `matching` bytes,
/// encoded: the first byte at or after `matching` outside the DER structure differs, and the
/// later ones outside it are random.
fn signature_guess(real: &[u8], matching: usize, rng: &mut Rng) -> String {
    let structure = der_structure(real);
    let mut guess = real.to_vec();
    let mut first = true;
    for (i, byte) in guess.iter_mut().enumerate().skip(matching) {
        if structure.contains(&i) {
            continue;
        }
        *byte = if first {
            first = false;
            *byte ^ (1 + (rng.next() % 255) as u8)
        } else {
            rng.next() as u8
        };
    }
    cloudfront_base64(&guess)
}

/// Where a guess may first differ: `matching` moved past the DER structure.
fn first_free(real: &[u8], matching: usize) -> usize {
    let structure = der_structure(real);
    (matching..real.len())
        .find(|i| !structure.contains(i))
        .unwrap_or(real.len() - 1)
}

struct Classes {
    names: [String; 3],
    /// Seconds per refusal, per class.
    samples: [Vec<f64>; 3],
}

fn table(md: &mut String, secret: &str, scale: f64, classes: &Classes) -> bool {
    let mut independent = true;
    for (i, name) in classes.names.iter().enumerate() {
        let values = &classes.samples[i];
        let s = sorted(values);
        let (vs, mw, w) = if i == 0 {
            ("–".to_owned(), "–".to_owned(), "–".to_owned())
        } else {
            let base = &classes.samples[0];
            let delta = quantile(&s, 0.5) - quantile(&sorted(base), 0.5);
            let (_, mw_p) = mann_whitney(values, base);
            let (_, welch_p) = welch(&trimmed(values), &trimmed(base));
            // Differs: significant and more than 1% of the median (thousands of samples make
            // nanosecond artefacts of memory layout "significant" too).
            let material = delta.abs() > 0.01 * quantile(&sorted(base), 0.5);
            independent &= !(material && (mw_p < 0.001 || welch_p < 0.001));
            (
                format!("{:+.2}", delta * scale),
                format!("{mw_p:.3}"),
                format!("{welch_p:.3}"),
            )
        };
        let _ = writeln!(
            md,
            "| {secret} | {name} | {} | {:.2} | {:.2} | {:.2} | {:.2} | {vs} | {mw} | {w} |",
            values.len(),
            mean(&trimmed(values)) * scale,
            quantile(&s, 0.5) * scale,
            quantile(&s, 0.1) * scale,
            quantile(&s, 0.9) * scale,
        );
    }
    independent
}

fn header(md: &mut String, unit: &str) {
    let _ = writeln!(
        md,
        "| secret | guess shares | samples | trimmed mean {unit} | median {unit} | p10 {unit} | p90 {unit} | Δ median vs 0 shared {unit} | Mann-Whitney p | Welch p (trimmed) |"
    );
    let _ = writeln!(md, "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|");
}

pub async fn run(config: &TimingConfig) -> (String, bool) {
    let registry = TestRegistry::start();
    let master = registry.master_token.clone();
    let archive = tfreg_testkit::archive::versioned_module("1.0.0");
    assert_eq!(
        registry
            .upload("acme/vpc/aws", "1.0.0", archive, &master)
            .await
            .status,
        201
    );
    let real_token = registry.create_token("target", "downloader").await;
    let download = registry
        .get("/v1/modules/acme/vpc/aws/1.0.0/download", Some(&real_token))
        .await;
    // As go-getter requests it: without `checksum`, which is not part of the signed resource.
    let location = crate::common::as_go_getter_requests(
        download.header("x-terraform-get").expect("X-Terraform-Get"),
    );
    let (path, query) = location.split_once('?').expect("a signed URL");
    let real_signature_text = query
        .split('&')
        .find_map(|p| p.strip_prefix("Signature="))
        .expect("Signature")
        .to_owned();
    let real_signature = from_cloudfront_base64(&real_signature_text);

    let client = reqwest::Client::builder()
        .add_root_certificate(
            reqwest::Certificate::from_pem(&std::fs::read(&registry.ca_pem).unwrap()).unwrap(),
        )
        .tls_built_in_root_certs(false)
        .pool_max_idle_per_host(1)
        .build()
        .unwrap();
    let versions_url = registry.url("/v1/modules/acme/vpc/aws/versions");
    let mut rng = Rng(0x5eed_1234_abcd_ef01);
    let token_len = real_token.len();
    let token_matching = [0, token_len / 2, token_len - 1];
    let sig_matching = [0, real_signature.len() / 2, real_signature.len() - 1]
        .map(|m| first_free(&real_signature, m));

    // Over HTTPS, one keep-alive connection, after a warm-up.
    let mut tokens = Classes {
        names: token_matching.map(|m| format!("{m} of {token_len} characters")),
        samples: Default::default(),
    };
    let mut signatures = Classes {
        names: sig_matching.map(|m| format!("{m} of {} bytes", real_signature.len())),
        samples: Default::default(),
    };
    // A guess sharing all but the last character has 15 possible values, so a stream of them
    // soon hits the server's cache of unknown tokens (keyed by the guess's hash), which answers
    // faster than the token store. To compare like with like, each class cycles through a pool
    // of 15 guesses: every class equally warm in that cache (entries expire after 10 s and are
    // looked up again, for every class alike).
    let token_pools: Vec<Vec<String>> = token_matching
        .iter()
        .map(|m| {
            let mut pool = Vec::new();
            while pool.len() < 15 {
                let guess = token_guess(&real_token, *m, &mut rng);
                if !pool.contains(&guess) {
                    pool.push(guess);
                }
            }
            pool
        })
        .collect();
    let mut unexpected = 0;
    for round in 0..config.samples + 200 {
        for class in rng.shuffled3() {
            let guess = &token_pools[class][round % 15];
            let sent = Instant::now();
            let response = client
                .get(&versions_url)
                .bearer_auth(guess)
                .send()
                .await
                .unwrap();
            let status = response.status().as_u16();
            response.bytes().await.unwrap();
            let elapsed = sent.elapsed().as_secs_f64();
            unexpected += usize::from(status != 401);
            if round >= 200 {
                tokens.samples[class].push(elapsed);
            }
        }
        for class in rng.shuffled3() {
            let guess = signature_guess(&real_signature, sig_matching[class], &mut rng);
            let url = registry.url(&location.replace(&real_signature_text, &guess));
            let sent = Instant::now();
            let response = client.get(&url).send().await.unwrap();
            let status = response.status().as_u16();
            response.bytes().await.unwrap();
            let elapsed = sent.elapsed().as_secs_f64();
            unexpected += usize::from(status != 403);
            if round >= 200 {
                signatures.samples[class].push(elapsed);
            }
        }
    }
    drop(registry);

    let mut md = String::new();
    let _ = writeln!(
        md,
        "Over HTTPS against `tfreg serve` (one keep-alive connection, requests in sequence after 200 rounds of warm-up; tokens from a pool of 15 guesses per class, see timing.rs; signatures fresh, since nothing caches them; {} of {} answers were not the expected 401/403): client-side time to the refusal.\n",
        unexpected,
        (config.samples + 200) * 6
    );
    header(&mut md, "µs");
    let mut independent = table(&mut md, "bearer token", 1e6, &tokens);
    independent &= table(&mut md, "archive signature", 1e6, &signatures);

    // In-process: what the server computes on a guess, without the network.
    let stored = hash_token(&real_token);
    let signer = UrlSigner::generate("KSTRESS");
    let verifier = signer.verifier();
    let resource = format!("https://127.0.0.1{path}");
    let expires = 2_000_000_000u64;
    let signed = signer.sign(&resource, expires);
    let (unsigned, signature_text) = signed.split_once("&Signature=").unwrap();
    let in_process_signature = from_cloudfront_base64(signature_text);
    let cpu_token_pools: Vec<Vec<String>> = token_matching
        .iter()
        .map(|m| {
            (0..1024)
                .map(|_| token_guess(&real_token, *m, &mut rng))
                .collect()
        })
        .collect();
    let signature_pools: Vec<Vec<String>> = sig_matching
        .iter()
        .map(|m| {
            (0..1024)
                .map(|_| {
                    format!(
                        "{unsigned}&Signature={}",
                        signature_guess(
                            &in_process_signature,
                            first_free(&in_process_signature, *m),
                            &mut rng
                        )
                    )
                })
                .collect()
        })
        .collect();
    let mut token_cpu = Classes {
        names: tokens.names.clone(),
        samples: Default::default(),
    };
    let mut signature_cpu = Classes {
        names: signatures.names.clone(),
        samples: Default::default(),
    };
    const BATCH: usize = 64;
    let mut accepted = 0usize;
    for sample in 0..config.in_process_samples {
        for class in rng.shuffled3() {
            let pool = &cpu_token_pools[class];
            let started = Instant::now();
            for i in 0..BATCH {
                let guess = &pool[(sample * BATCH + i) % pool.len()];
                accepted += usize::from(std::hint::black_box(hash_token(guess).ct_eq(&stored)));
            }
            token_cpu.samples[class].push(started.elapsed().as_secs_f64() / BATCH as f64);
        }
        for class in rng.shuffled3() {
            let pool = &signature_pools[class];
            let started = Instant::now();
            for i in 0..BATCH {
                let query = &pool[(sample * BATCH + i) % pool.len()];
                accepted += usize::from(std::hint::black_box(
                    verifier.verify(&resource, query, 0).is_ok(),
                ));
            }
            signature_cpu.samples[class].push(started.elapsed().as_secs_f64() / BATCH as f64);
        }
    }
    assert_eq!(accepted, 0, "a guess was accepted");
    let _ = writeln!(
        md,
        "\nIn-process (the token's SHA-256 and constant-time compare; the signed URL's ECDSA P-256 check), mean of batches of {BATCH} checks per sample:\n"
    );
    header(&mut md, "ns");
    independent &= table(&mut md, "bearer token", 1e9, &token_cpu);
    independent &= table(&mut md, "archive signature", 1e9, &signature_cpu);
    let _ = writeln!(
        md,
        "\nVerdict: {}",
        if independent {
            "no comparison differs (p < 0.001 with a median difference over 1%): the time to refuse does not depend on the shared prefix."
        } else {
            "**a comparison differs** (p < 0.001 with a median difference over 1%): see the rows above."
        }
    );
    (md, independent && unexpected == 0)
}
