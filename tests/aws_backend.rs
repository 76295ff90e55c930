//! `tfreg serve --backend aws` end to end: the real binary over S3 and DynamoDB (a local moto
//! server speaking both protocols), uploads over HTTPS, a version put into the bucket by hand
//! and picked up by `tfreg reindex`, and the real Terraform CLI installing through it all.

mod common;
#[path = "../origin/tests/support/moto.rs"]
mod moto;

use common::terraform::terraform_init;
use common::{tfreg_binary, versioned_module, TestRegistry};
use moto::Moto;
use std::process::{Command, Output};
use tfreg_origin::aws::aws_sdk_dynamodb::types::AttributeValue;
use tfreg_origin::aws::aws_sdk_s3::primitives::ByteStream;
use tfreg_origin::aws::{aws_sdk_dynamodb, aws_sdk_s3};

/// The AWS settings every `tfreg` process in this test gets: moto's test credentials, and
/// nothing read from the machine's own AWS configuration or instance metadata.
fn aws_env() -> [(&'static str, &'static str); 5] {
    [
        ("AWS_ACCESS_KEY_ID", moto::ACCESS_KEY_ID),
        ("AWS_SECRET_ACCESS_KEY", moto::SECRET_ACCESS_KEY),
        ("AWS_CONFIG_FILE", "/dev/null"),
        ("AWS_SHARED_CREDENTIALS_FILE", "/dev/null"),
        ("AWS_EC2_METADATA_DISABLED", "true"),
    ]
}

struct AwsTarget {
    bucket: String,
    table: String,
    endpoint: String,
}

impl AwsTarget {
    fn connection_args(&self) -> Vec<String> {
        vec![
            "--region".into(),
            moto::REGION.into(),
            "--endpoint-url".into(),
            self.endpoint.clone(),
        ]
    }

    fn serve_args(&self) -> Vec<String> {
        let mut args = vec![
            "--backend".into(),
            "aws".into(),
            "--s3-bucket".into(),
            self.bucket.clone(),
            "--dynamodb-table".into(),
            self.table.clone(),
        ];
        args.extend(self.connection_args());
        args
    }

    fn start_registry(&self, data_dir: Option<tempfile::TempDir>) -> TestRegistry {
        let args = self.serve_args();
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        match data_dir {
            Some(dir) => TestRegistry::start_in_with_env(dir, &args, &aws_env()),
            None => TestRegistry::start_with_env(&args, &aws_env()),
        }
    }

    fn reindex(&self, module: &str) -> Output {
        Command::new(tfreg_binary())
            .args(["reindex", module, "--s3-bucket", &self.bucket])
            .args(self.connection_args())
            .envs(aws_env())
            .output()
            .expect("running tfreg reindex")
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn terraform_installs_from_tfreg_serve_over_s3_and_dynamodb() {
    let moto = Moto::start();
    let config = moto.sdk_config().await;
    let target = AwsTarget {
        bucket: moto.create_bucket(&config).await,
        table: moto.create_table(&config).await,
        endpoint: moto.endpoint().to_owned(),
    };
    let s3 = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&config)
            .force_path_style(true)
            .build(),
    );
    let dynamodb = aws_sdk_dynamodb::Client::new(&config);

    let registry = target.start_registry(None);
    assert!(
        registry.banner().contains(&format!(
            "s3://{}/archives/ and DynamoDB table {}",
            target.bucket, target.table
        )),
        "{}",
        registry.banner()
    );

    // Publishing over HTTPS: one conditional PUT per version, immutable afterwards.
    for version in ["1.0.0", "1.1.0", "1.2.0", "2.0.0"] {
        let reply = registry
            .upload(
                "acme/vpc/aws",
                version,
                versioned_module(version),
                &registry.master_token,
            )
            .await;
        assert_eq!(reply.status, 201, "{version}: {}", reply.text());
    }
    let again = registry
        .upload(
            "acme/vpc/aws",
            "1.0.0",
            versioned_module("other"),
            &registry.master_token,
        )
        .await;
    assert_eq!(again.status, 409, "{}", again.text());
    let reader = registry.create_token("ci-read", "downloader").await;

    // What landed in S3 and DynamoDB follows the documented layout and schema.
    let head = s3
        .head_object()
        .bucket(&target.bucket)
        .key("archives/acme/vpc/aws/1.2.0/module.tar.gz")
        .send()
        .await
        .expect("the archive is at its /archives/ URL path");
    assert_eq!(head.content_type(), Some("application/gzip"));
    assert_eq!(head.metadata().unwrap()["uploader"], "master");
    assert_eq!(head.metadata().unwrap()["sha256"].len(), 64);
    let index = s3
        .get_object()
        .bucket(&target.bucket)
        .key("archives/acme/vpc/aws/versions.json")
        .send()
        .await
        .unwrap()
        .body
        .collect()
        .await
        .unwrap()
        .into_bytes();
    assert_eq!(
        serde_json::from_slice::<serde_json::Value>(&index).unwrap(),
        serde_json::json!({"versions": ["1.0.0", "1.1.0", "1.2.0", "2.0.0"]})
    );
    let name_item = dynamodb
        .get_item()
        .table_name(&target.table)
        .key("pk", AttributeValue::S("name#ci-read".into()))
        .send()
        .await
        .unwrap()
        .item
        .expect("the token's name item");
    let hash = name_item["token_hash"].as_s().unwrap().clone();
    let token_item = dynamodb
        .get_item()
        .table_name(&target.table)
        .key("pk", AttributeValue::S(format!("token#{hash}")))
        .send()
        .await
        .unwrap()
        .item
        .expect("the token item, keyed by the token's hash");
    assert_eq!(
        token_item["permission"],
        AttributeValue::S("downloader".into())
    );

    // A version put into the bucket by hand (no metadata, no index update) is listed once
    // `tfreg reindex` has rebuilt the index, and downloads without a checksum.
    s3.put_object()
        .bucket(&target.bucket)
        .key("archives/acme/vpc/aws/1.3.0/module.tar.gz")
        .body(ByteStream::from(versioned_module("1.3.0")))
        .send()
        .await
        .unwrap();
    let versions = registry
        .get("/v1/modules/acme/vpc/aws/versions", Some(&reader))
        .await;
    assert!(!versions.text().contains("1.3.0"), "{}", versions.text());
    let reindexed = target.reindex("acme/vpc/aws");
    assert!(
        reindexed.status.success(),
        "{}",
        String::from_utf8_lossy(&reindexed.stderr)
    );
    assert!(
        String::from_utf8_lossy(&reindexed.stdout)
            .contains("acme/vpc/aws: 5 version(s) [1.0.0, 1.1.0, 1.2.0, 1.3.0, 2.0.0]"),
        "{}",
        String::from_utf8_lossy(&reindexed.stdout)
    );

    // The real Terraform CLI, with version constraints, through all of it.
    let main_tf = [("latest_1", "~> 1.1"), ("patch", "~> 1.1.0"), ("exact", "1.0.0")]
        .iter()
        .map(|(key, constraint)| {
            format!(
                "module \"{key}\" {{\n  source  = \"{}/acme/vpc/aws\"\n  version = \"{constraint}\"\n}}\n",
                registry.host
            )
        })
        .collect::<String>();
    let run = terraform_init(&registry, &main_tf, Some(&reader));
    assert!(
        run.succeeded(),
        "terraform init failed:\n{}\n{}\n{}",
        run.stdout(),
        run.stderr(),
        registry.logs()
    );
    let installed = run.installed();
    assert_eq!(
        installed["latest_1"].1, "1.3.0",
        "the hand-uploaded version"
    );
    assert_eq!(installed["patch"].1, "1.1.0");
    assert_eq!(installed["exact"].1, "1.0.0");
    let dir = &run.dir;
    for (key, version) in [
        ("latest_1", "1.3.0"),
        ("patch", "1.1.0"),
        ("exact", "1.0.0"),
    ] {
        let main =
            std::fs::read_to_string(dir.path().join(format!(".terraform/modules/{key}/main.tf")))
                .unwrap();
        assert!(
            main.contains(&format!("value = \"{version}\"")),
            "{key}: {main}"
        );
    }

    // Everything lives in S3 and DynamoDB: a restarted server still has the versions and
    // the tokens, and refuses a token it never made.
    let data_dir = registry.stop();
    let registry = target.start_registry(Some(data_dir));
    let versions = registry
        .get("/v1/modules/acme/vpc/aws/versions", Some(&reader))
        .await;
    assert_eq!(versions.status, 200, "{}", versions.text());
    assert_eq!(
        versions.json()["modules"][0]["versions"]
            .as_array()
            .unwrap()
            .len(),
        5
    );
    let wrong = registry
        .get("/v1/modules/acme/vpc/aws/versions", Some("tfr_wrong"))
        .await;
    assert_eq!(wrong.status, 401);
    registry.stop();
}
