//! The real `tfreg serve --backend aws` with its own SDK clients (the production settings,
//! `--storage-timeout` aside) pointed at the fault proxy: what a caller sees over HTTPS.

use super::common::TestRegistry;
use std::time::Duration;
use tfreg_testkit::archive::versioned_module;
use tfreg_testkit::faults::{Fault, FaultProxy, Rule, When};
use tfreg_testkit::moto::{self, Moto};

async fn serve_through(proxy: &FaultProxy, timeout_secs: &str) -> TestRegistry {
    let moto = Moto::shared();
    let config = moto.sdk_config().await;
    let bucket = moto.create_bucket(&config).await;
    let table = moto.create_table(&config).await;
    let args = [
        &super::common::aws_backend_args(&bucket, &table, proxy.endpoint())[..],
        &["--storage-timeout", timeout_secs],
    ]
    .concat();
    TestRegistry::start_with_env(&args, &moto::PROCESS_ENV)
}

fn assert_clear_503(reply: &super::common::Reply) {
    assert_eq!(reply.status, 503, "{}", reply.text());
    assert_eq!(
        reply.headers["content-type"], "application/json",
        "{:?}",
        reply.headers
    );
    let body = reply.json();
    assert_eq!(body["code"], "storage_unavailable", "{body}");
    assert_eq!(
        body["errors"][0], "storage is unavailable; try again",
        "{body}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tfreg_serve_answers_a_storage_outage_with_a_clear_503_then_recovers() {
    let proxy = FaultProxy::start(Moto::shared().endpoint()).await;
    let registry = serve_through(&proxy, "2").await;
    let token = registry.master_token.clone();

    let outage =
        proxy.add(Rule::s3("PutObject", Fault::ServerError, When::Always).on("module.tar.gz"));
    let reply = registry
        .upload("acme/vpc/aws", "1.0.0", versioned_module("1.0.0"), &token)
        .await;
    assert_clear_503(&reply);
    assert_eq!(
        proxy.remove(outage).injected,
        3,
        "three attempts, each a 500"
    );
    let versions = registry
        .get("/v1/modules/acme/vpc/aws/versions", Some(&token))
        .await;
    assert_eq!(
        versions.status,
        404,
        "no version visible: {}",
        versions.text()
    );
    let reply = registry
        .upload("acme/vpc/aws", "1.0.0", versioned_module("1.0.0"), &token)
        .await;
    assert_eq!(reply.status, 201, "{}", reply.text());

    let outage = proxy.add(Rule::dynamodb(
        "TransactWriteItems",
        Fault::Throttling,
        When::Always,
    ));
    let body = serde_json::json!({"name": "ci", "permission": "downloader"});
    let reply = registry
        .send(
            "POST",
            "/v1/tokens",
            Some(&token),
            Some(body.to_string().into_bytes()),
        )
        .await;
    assert_clear_503(&reply);
    assert!(proxy.remove(outage).injected >= 3);
    registry.create_token("ci", "downloader").await;
}

/// Without a read timeout the SDK waits for a stalled S3 or DynamoDB forever: the request
/// hangs (until the Lambda is killed, or for good in `tfreg serve`). With it, each attempt
/// gives up after `--storage-timeout` and the caller gets a 503.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_storage_request_times_out_into_a_503() {
    let proxy = FaultProxy::start(Moto::shared().endpoint()).await;
    let registry = serve_through(&proxy, "1").await;
    let token = registry.master_token.clone();
    let stall = proxy.add(
        Rule::s3(
            "HeadObject",
            Fault::Stall(Duration::from_secs(3)),
            When::Always,
        )
        .on("module.tar.gz"),
    );
    // A guard against a hang, far beyond three one-second attempts; not a speed check.
    let reply = tokio::time::timeout(
        Duration::from_secs(60),
        registry.upload("acme/vpc/aws", "1.0.0", versioned_module("1.0.0"), &token),
    )
    .await
    .expect("a stalled S3 must not hang the request");
    assert_clear_503(&reply);
    assert_eq!(proxy.remove(stall).injected, 3);
    proxy.quiesce().await;
    let reply = registry
        .upload("acme/vpc/aws", "1.0.0", versioned_module("1.0.0"), &token)
        .await;
    assert_eq!(reply.status, 201, "{}", reply.text());
}
