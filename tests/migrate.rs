//! `tfreg migrate-from-seed` end to end: a deployment of the Python registry built on a local
//! moto server the way that registry lays it out (archives at `{ns}/{name}/{system}/{version}/
//! {name}-{system}-{version}.zip|.tar.gz`, a token table keyed by the plaintext `token_value`
//! with a `token_name-index`), copied by the real binary (dry run, run, rerun) into S3 and
//! DynamoDB and into the embedded store, then served by `tfreg serve` to the real Terraform
//! CLI holding one of the old token values.

mod common;

use common::terraform::{module_block, terraform_init};
use common::{tfreg_binary, TestRegistry};
use std::process::{Command, Output};
use tfreg_origin::aws::aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, GlobalSecondaryIndex, KeySchemaElement,
    KeyType, Projection, ProjectionType, ScalarAttributeType,
};
use tfreg_origin::aws::aws_sdk_s3::primitives::ByteStream;
use tfreg_origin::aws::{aws_sdk_dynamodb, aws_sdk_s3, SdkConfig};
use tfreg_testkit::archive::ArchiveBuilder;
use tfreg_testkit::moto::{self, Moto};


/// Token values as Python's `secrets.token_hex()` makes them: 64 hex digits.
const CI_TOKEN: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
const LAPTOP_TOKEN: &str = "fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210";
const OPS_TOKEN: &str = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
const MASTER_TOKEN: &str = "99887766554433221100ffeeddccbbaa99887766554433221100ffeeddccbbaa";

/// The Python registry's bucket and token table, filled as it fills them.
struct SeedDeployment {
    bucket: String,
    table: String,
    master_token_file: tempfile::NamedTempFile,
}

fn module_zip(version: &str) -> Vec<u8> {
    ArchiveBuilder::new()
        .file(
            "main.tf",
            format!("output \"version\" {{\n  value = \"{version}\"\n}}\n"),
        )
        .build_zip()
}

async fn seed_deployment(moto: &Moto, config: &SdkConfig) -> SeedDeployment {
    let bucket = moto.create_bucket(config).await;
    let s3 = moto::s3_client(config);
    let objects: Vec<(&str, Vec<u8>)> = vec![
        ("acme/vpc/aws/1.0.0/vpc-aws-1.0.0.zip", module_zip("1.0.0")),
        ("acme/vpc/aws/1.1.0/vpc-aws-1.1.0.zip", module_zip("1.1.0")),
        // A pin: the public registry's archive as the forge served it, one top folder.
        (
            "hashicorp/consul/aws/0.1.0/consul-aws-0.1.0.tar.gz",
            ArchiveBuilder::new()
                .top_folder("terraform-aws-consul-0.1.0")
                .file("main.tf", "# consul, pinned\n")
                .build_tar_gz(),
        ),
        // Uploads the Python registry stored without a look.
        (
            "acme/evil/aws/1.0.0/evil-aws-1.0.0.zip",
            ArchiveBuilder::new()
                .file("main.tf", "# looks fine\n")
                .symlink("keys", "/home/runner/.ssh")
                .build_zip(),
        ),
        (
            "acme/docs/aws/1.0.0/docs-aws-1.0.0.zip",
            ArchiveBuilder::new()
                .file("README.md", "Only docs.\n")
                .build_zip(),
        ),
    ];
    for (key, body) in objects {
        s3.put_object()
            .bucket(&bucket)
            .key(key)
            .body(ByteStream::from(body))
            .send()
            .await
            .unwrap_or_else(|e| panic!("putting {key}: {e:?}"));
    }

    let table = format!("seed-{bucket}");
    let dynamodb = aws_sdk_dynamodb::Client::new(config);
    let attribute = |name: &str| {
        AttributeDefinition::builder()
            .attribute_name(name)
            .attribute_type(ScalarAttributeType::S)
            .build()
            .unwrap()
    };
    let hash_key = |name: &str| {
        KeySchemaElement::builder()
            .attribute_name(name)
            .key_type(KeyType::Hash)
            .build()
            .unwrap()
    };
    dynamodb
        .create_table()
        .table_name(&table)
        .attribute_definitions(attribute("token_value"))
        .attribute_definitions(attribute("token_name"))
        .key_schema(hash_key("token_value"))
        .global_secondary_indexes(
            GlobalSecondaryIndex::builder()
                .index_name("token_name-index")
                .key_schema(hash_key("token_name"))
                .projection(
                    Projection::builder()
                        .projection_type(ProjectionType::All)
                        .build(),
                )
                .build()
                .unwrap(),
        )
        .billing_mode(BillingMode::PayPerRequest)
        .send()
        .await
        .unwrap_or_else(|e| panic!("creating the seed token table: {e:?}"));
    for (value, name, permission) in [
        (CI_TOKEN, "ci", "uploader"),
        (LAPTOP_TOKEN, "laptop", "downloader"),
        (OPS_TOKEN, "ops", "admin"),
    ] {
        dynamodb
            .put_item()
            .table_name(&table)
            .item("token_value", AttributeValue::S(value.into()))
            .item("token_name", AttributeValue::S(name.into()))
            .item("permission", AttributeValue::S(permission.into()))
            .item(
                "created_at",
                AttributeValue::S("2025-02-03T04:05:06.789012+00:00".into()),
            )
            .send()
            .await
            .unwrap();
    }
    let master_token_file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(master_token_file.path(), format!("{MASTER_TOKEN}\n")).unwrap();
    SeedDeployment {
        bucket,
        table,
        master_token_file,
    }
}

impl SeedDeployment {
    /// Runs `tfreg migrate-from-seed` from this deployment with the target's arguments.
    fn migrate(&self, moto: &Moto, target: &[&str], dry_run: bool) -> Output {
        let mut command = Command::new(tfreg_binary());
        command
            .arg("migrate-from-seed")
            .args(["--seed-s3-bucket", &self.bucket])
            .args(["--seed-token-table", &self.table])
            .arg("--seed-master-token-file")
            .arg(self.master_token_file.path())
            .args(["--region", moto::REGION, "--endpoint-url", moto.endpoint()])
            .args(target)
            .envs(moto::PROCESS_ENV);
        if dry_run {
            command.arg("--dry-run");
        }
        command.output().expect("running tfreg migrate-from-seed")
    }
}

/// Standard output, after checking the exit status: 2, since the seed holds archives and a
/// token this registry refuses.
fn rejected_some(output: &Output) -> String {
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert_eq!(
        output.status.code(),
        Some(2),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

fn assert_lines(stdout: &str, expected: &[&str]) {
    for line in expected {
        assert!(
            stdout.lines().any(|l| l == *line),
            "missing line {line:?} in:\n{stdout}"
        );
    }
}

/// What every run reports about the items it can never copy.
const REJECTIONS: [&str; 3] = [
    "archive rejected     acme/docs/aws 1.0.0 (upload) from s3://BUCKET/acme/docs/aws/1.0.0/docs-aws-1.0.0.zip: archive has no .tf or .tf.json file at its module root",
    "archive rejected     acme/evil/aws 1.0.0 (upload) from s3://BUCKET/acme/evil/aws/1.0.0/evil-aws-1.0.0.zip: unexpected symlink or hard link found: keys",
    "token   rejected     \"ops\": unknown permission \"admin\": expected \"downloader\", \"uploader\" or \"master\"; in the Python registry a token with this permission could call no route, so it is not imported",
];

fn rejections(seed: &SeedDeployment) -> Vec<String> {
    REJECTIONS
        .iter()
        .map(|line| line.replace("BUCKET", &seed.bucket))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_python_registry_deployment_moves_to_s3_and_dynamodb_and_its_tokens_keep_working() {
    let moto = Moto::shared();
    let config = moto.sdk_config().await;
    let seed = seed_deployment(moto, &config).await;
    let bucket = moto.create_bucket(&config).await;
    let table = moto.create_table(&config).await;
    let target = [
        "--backend",
        "aws",
        "--s3-bucket",
        &bucket,
        "--dynamodb-table",
        &table,
    ];
    let s3 = moto::s3_client(&config);
    let dynamodb = aws_sdk_dynamodb::Client::new(&config);
    let rejections = rejections(&seed);
    let rejections: Vec<&str> = rejections.iter().map(String::as_str).collect();

    // A dry run reads and validates everything, and writes nothing.
    let dry = rejected_some(&seed.migrate(moto, &target, true));
    assert_lines(&dry, &rejections);
    assert_lines(
        &dry,
        &[
            &format!("archive would copy   acme/vpc/aws 1.0.0 (upload) from s3://{}/acme/vpc/aws/1.0.0/vpc-aws-1.0.0.zip", seed.bucket),
            "token   would copy   \"laptop\": permission downloader",
            "archives: 3 to copy, 0 skipped, 2 rejected",
            "tokens: 3 to copy, 0 skipped, 1 rejected",
        ],
    );
    let listed = s3.list_objects_v2().bucket(&bucket).send().await.unwrap();
    assert_eq!(listed.key_count(), Some(0), "{listed:?}");
    let scanned = dynamodb.scan().table_name(&table).send().await.unwrap();
    assert_eq!(scanned.count(), 0);

    // The migration, then a rerun that finds everything in place.
    let copied = rejected_some(&seed.migrate(moto, &target, false));
    assert_lines(&copied, &rejections);
    assert_lines(
        &copied,
        &[
            &format!("archive copied       hashicorp/consul/aws 0.1.0 (pin) from s3://{}/hashicorp/consul/aws/0.1.0/consul-aws-0.1.0.tar.gz", seed.bucket),
            "token   copied       \"seed-master\": permission master",
            "token   copied       \"ci\": permission uploader",
            "archives: 3 copied, 0 skipped, 2 rejected",
            "tokens: 3 copied, 0 skipped, 1 rejected",
        ],
    );
    let again = rejected_some(&seed.migrate(moto, &target, false));
    assert_lines(&again, &rejections);
    assert_lines(
        &again,
        &[
            "archives: 0 copied, 3 skipped, 2 rejected",
            "tokens: 0 copied, 3 skipped, 1 rejected",
        ],
    );
    // Tokens are stored under their hash; the plaintext values are nowhere in the table.
    let scanned = dynamodb.scan().table_name(&table).send().await.unwrap();
    let dump = format!("{:?}", scanned.items());
    for value in [CI_TOKEN, LAPTOP_TOKEN, MASTER_TOKEN] {
        assert!(!dump.contains(value), "a token value in the table: {dump}");
    }

    // `tfreg serve` on the migrated bucket and table, and Terraform with an old value.
    let serve_args = [
        &target[..],
        &["--region", moto::REGION, "--endpoint-url", moto.endpoint()],
    ]
    .concat();
    let registry = TestRegistry::start_with_env(&serve_args, &moto::PROCESS_ENV);
    let main_tf = module_block(&registry, "vpc", "acme/vpc/aws", "~> 1.0")
        + &module_block(&registry, "consul", "hashicorp/consul/aws", "0.1.0");
    let run =
        tokio::task::block_in_place(|| terraform_init(&registry, &main_tf, Some(LAPTOP_TOKEN)));
    assert!(
        run.succeeded(),
        "terraform init failed:\n{}\n{}\n{}",
        run.stdout(),
        run.stderr(),
        registry.logs()
    );
    let installed = run.installed();
    assert_eq!(installed["vpc"].1, "1.1.0");
    assert_eq!(installed["consul"].1, "0.1.0");
    assert!(run
        .file(".terraform/modules/vpc/main.tf")
        .contains("value = \"1.1.0\""));
    assert_eq!(
        run.file(".terraform/modules/consul/main.tf"),
        "# consul, pinned\n"
    );

    // The old master token administers this registry; the pin is listed as a pin.
    let tokens = registry.get("/v1/tokens", Some(MASTER_TOKEN)).await;
    assert_eq!(tokens.status, 200, "{}", tokens.text());
    let names: Vec<String> = tokens.json()["tokens"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["token_name"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(names, ["ci", "laptop", "master", "seed-master"]);
    let pins = registry.get("/v1/pins", Some(MASTER_TOKEN)).await;
    assert_eq!(pins.status, 200, "{}", pins.text());
    assert!(pins.text().contains("hashicorp"), "{}", pins.text());
    // The uploader token still uploads; the refused "ops" token was never imported.
    let upload = registry
        .upload("acme/vpc/aws", "1.2.0", module_zip("1.2.0"), CI_TOKEN)
        .await;
    assert_eq!(upload.status, 201, "{}", upload.text());
    let ops = registry
        .get("/v1/modules/acme/vpc/aws/versions", Some(OPS_TOKEN))
        .await;
    assert_eq!(ops.status, 401, "{}", ops.text());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_python_registry_deployment_moves_to_the_embedded_store() {
    let moto = Moto::shared();
    let config = moto.sdk_config().await;
    let seed = seed_deployment(moto, &config).await;
    let data_dir = tempfile::tempdir().unwrap();
    let data_dir_text = data_dir.path().display().to_string();
    let target = ["--backend", "embedded", "--data-dir", &data_dir_text];

    // A dry run into a data directory that does not exist yet leaves it so.
    let missing = data_dir.path().join("not-yet").display().to_string();
    let dry = rejected_some(&seed.migrate(
        moto,
        &["--backend", "embedded", "--data-dir", &missing],
        true,
    ));
    assert_lines(&dry, &["archives: 3 to copy, 0 skipped, 2 rejected"]);
    assert!(
        !data_dir.path().join("not-yet").exists(),
        "a dry run made the data directory"
    );
    let copied = rejected_some(&seed.migrate(moto, &target, false));
    assert_lines(
        &copied,
        &[
            "archives: 3 copied, 0 skipped, 2 rejected",
            "tokens: 3 copied, 0 skipped, 1 rejected",
        ],
    );
    let again = rejected_some(&seed.migrate(moto, &target, false));
    assert_lines(
        &again,
        &[
            "archives: 0 copied, 3 skipped, 2 rejected",
            "tokens: 0 copied, 3 skipped, 1 rejected",
        ],
    );

    let registry = TestRegistry::start_in(data_dir, &[]);
    let versions = registry
        .get("/v1/modules/acme/vpc/aws/versions", Some(LAPTOP_TOKEN))
        .await;
    assert_eq!(versions.status, 200, "{}", versions.text());
    assert_eq!(
        versions.json()["modules"][0]["versions"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    let download = registry
        .get(
            "/v1/modules/hashicorp/consul/aws/0.1.0/download",
            Some(CI_TOKEN),
        )
        .await;
    assert_eq!(download.status, 204, "{}", download.text());
}
