//! The origin Lambda's `bootstrap`: binary size, process start to ready (its first poll of
//! the Runtime API, after reading its configuration and building the S3 and DynamoDB
//! clients), the first invocation, and warm invocations, on S3 + DynamoDB (moto on this
//! machine). Run: `cargo bench -p tfreg-origin --bench origin_cold_start`.
//! `TFREG_BOOTSTRAP_BIN=<path>` measures another build of it instead, such as the packaged
//! one (dist/origin.zip, built with the `lambda` profile).

use base64::Engine;
use std::time::{Duration, Instant};
use tfreg_testkit::archive::versioned_module;
use tfreg_testkit::{lambda_api, moto};

const SECRET: &str = "origin-secret-for-the-bench";

fn event(name: &str, body: &str) -> serde_json::Value {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/fixtures/function-url")
        .join(name);
    let text = std::fs::read_to_string(path)
        .unwrap()
        .replace("{{ORIGIN_SECRET}}", SECRET)
        .replace("{{BODY_BASE64}}", body);
    serde_json::from_str(&text).unwrap()
}

fn median(mut values: Vec<Duration>) -> Duration {
    values.sort();
    values[values.len() / 2]
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let binary = std::env::var("TFREG_BOOTSTRAP_BIN")
            .unwrap_or_else(|_| env!("CARGO_BIN_EXE_bootstrap").to_owned());
        let binary = binary.as_str();
        let size = std::fs::metadata(binary).unwrap().len();
        let moto = moto::Moto::start();
        let sdk = moto.sdk_config().await;
        let bucket = moto.create_bucket(&sdk).await;
        let table = moto.create_table(&sdk).await;
        let signer = tfreg_origin::signed_url::UrlSigner::generate("K2BENCH");
        let signing_secret = serde_json::json!({
            "private_key": signer.private_key_pem(),
            "key_pair_id": signer.key_pair_id(),
            "base_url": "https://registry.example.com",
        });
        let signing_secret = moto.create_secret(&sdk, &signing_secret.to_string()).await;

        let (mut ready, mut first, mut warm_versions, mut warm_download) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for round in 0..5 {
            let api = lambda_api::FakeRuntimeApi::start().await;
            let started = Instant::now();
            let mut child = api
                .function_command(binary)
                .env("AWS_REGION", moto::REGION)
                .env("AWS_ACCESS_KEY_ID", moto::ACCESS_KEY_ID)
                .env("AWS_SECRET_ACCESS_KEY", moto::SECRET_ACCESS_KEY)
                .env("TFREG_S3_BUCKET", &bucket)
                .env("TFREG_DYNAMODB_TABLE", &table)
                .env("TFREG_URL_SIGNING_SECRET", &signing_secret)
                .env("TFREG_ORIGIN_SECRET", SECRET)
                .env("TFREG_ENDPOINT_URL", moto.endpoint())
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .spawn()
                .unwrap();
            while api.first_poll().is_none() {
                tokio::time::sleep(Duration::from_micros(200)).await;
            }
            ready.push(api.first_poll().unwrap() - started);
            if round == 0 {
                let archive =
                    base64::engine::general_purpose::STANDARD.encode(versioned_module("1.2.0"));
                api.invoke(event("put-upload.json", &archive)).await;
            }
            let at = Instant::now();
            api.invoke(event("get-versions.json", "")).await;
            first.push(at.elapsed());
            for _ in 0..20 {
                let at = Instant::now();
                api.invoke(event("get-versions.json", "")).await;
                warm_versions.push(at.elapsed());
                let at = Instant::now();
                api.invoke(event("get-download.json", "")).await;
                warm_download.push(at.elapsed());
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        println!("origin Lambda bootstrap {binary}, S3 + DynamoDB on moto");
        println!(
            "  binary size                        {:>9.1} MiB",
            size as f64 / 1048576.0
        );
        println!(
            "  start to ready (median of 5)       {:>9.1} ms",
            median(ready).as_secs_f64() * 1e3
        );
        println!(
            "  first invocation, versions         {:>9.1} ms",
            median(first).as_secs_f64() * 1e3
        );
        println!(
            "  warm invocation, versions (p50)    {:>9.2} ms",
            median(warm_versions).as_secs_f64() * 1e3
        );
        println!(
            "  warm invocation, download (p50)    {:>9.2} ms",
            median(warm_download).as_secs_f64() * 1e3
        );
    });
}
