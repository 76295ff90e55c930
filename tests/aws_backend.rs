//! `tfreg serve --backend aws` end to end: the real binary over S3 and DynamoDB (a local moto
//! server speaking both protocols), uploads over HTTPS, a version put into the bucket by hand
//! and picked up by `tfreg reindex`, and the real Terraform CLI installing through it all.

mod common;

use common::terraform::terraform_init;
use common::{tfreg_binary, TestRegistry};
use sha2::Digest;
use std::process::{Command, Output};
use tfreg_origin::aws::aws_sdk_dynamodb::types::AttributeValue;
use tfreg_origin::aws::aws_sdk_s3::primitives::ByteStream;
use tfreg_origin::aws::{aws_sdk_dynamodb, aws_sdk_s3};
use tfreg_testkit::archive::versioned_module;
use tfreg_testkit::moto::{self, Moto};
use tfreg_testkit::upstream::{sample_repo, Download, StandIns};

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
            Some(dir) => TestRegistry::start_in_with_env(dir, &args, &moto::PROCESS_ENV),
            None => TestRegistry::start_with_env(&args, &moto::PROCESS_ENV),
        }
    }

    /// `tfreg reindex` with `args` (modules, `--all`, `--backfill-docs`) against this bucket.
    fn reindex_with(&self, args: &[&str]) -> Output {
        Command::new(tfreg_binary())
            .arg("reindex")
            .args(args)
            .args(["--s3-bucket", &self.bucket])
            .args(self.connection_args())
            .envs(moto::PROCESS_ENV)
            .output()
            .expect("running tfreg reindex")
    }

    fn reindex(&self, module: &str) -> Output {
        Command::new(tfreg_binary())
            .args(["reindex", module, "--s3-bucket", &self.bucket])
            .args(self.connection_args())
            .envs(moto::PROCESS_ENV)
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
    let s3 = moto::s3_client(&config);
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
    let index = tfreg_testkit::moto::object_bytes(
        &s3,
        &target.bucket,
        "archives/acme/vpc/aws/versions.json",
    )
    .await;
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
    // the tokens, and refuses a token it never made. A scratch file left in staging (a run
    // killed mid-upload) is cleared on start.
    let data_dir = registry.stop();
    let leftover = data_dir.path().join("staging").join(".tmpKilledUpload");
    std::fs::write(&leftover, b"half an upload").unwrap();
    let registry = target.start_registry(Some(data_dir));
    assert!(
        !leftover.exists(),
        "the leftover scratch file is still there"
    );
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

const CONSUL_SHA: &str = "0123456789abcdef0123456789abcdef01234567";

/// The files of a tar.gz, path and contents, sorted by path.
fn archive_files(archive: &[u8]) -> Vec<(String, String)> {
    let mut files = Vec::new();
    let mut reader = tar::Archive::new(flate2::read::GzDecoder::new(archive));
    for entry in reader.entries().expect("a tar stream") {
        let mut entry = entry.expect("a tar entry");
        if entry.header().entry_type().is_file() {
            let path = entry.path().unwrap().display().to_string();
            let mut contents = String::new();
            std::io::Read::read_to_string(&mut entry, &mut contents).unwrap();
            files.push((path, contents));
        }
    }
    files.sort();
    files
}

async fn object_exists(s3: &aws_sdk_s3::Client, bucket: &str, key: &str) -> bool {
    match s3.head_object().bucket(bucket).key(key).send().await {
        Ok(_) => true,
        Err(error) if error.as_service_error().is_some_and(|e| e.is_not_found()) => false,
        Err(error) => panic!("HEAD {key}: {error:?}"),
    }
}

async fn pin_item(
    dynamodb: &aws_sdk_dynamodb::Client,
    table: &str,
    pin: &str,
) -> Option<std::collections::HashMap<String, AttributeValue>> {
    dynamodb
        .get_item()
        .table_name(table)
        .key("pk", AttributeValue::S(format!("pin#{pin}")))
        .consistent_read(true)
        .send()
        .await
        .unwrap()
        .item
}

/// Downloads `module`'s `version` through the registry: the `X-Terraform-Get` location, and
/// the archive fetched from it as go-getter does (without the `checksum` parameter, which it
/// checks against the bytes).
async fn download(
    registry: &TestRegistry,
    module: &str,
    version: &str,
    token: &str,
) -> (String, Vec<u8>) {
    let reply = registry
        .get(
            &format!("/v1/modules/{module}/{version}/download"),
            Some(token),
        )
        .await;
    assert_eq!(reply.status, 204, "{module} {version}: {}", reply.text());
    let location = reply.header("x-terraform-get").unwrap().to_owned();
    let (url, checksum) = location
        .split_once("&checksum=sha256:")
        .unwrap_or_else(|| panic!("no checksum in {location}"));
    let archive = registry.get(url, None).await;
    assert_eq!(archive.status, 200, "{url}: {}", archive.text());
    assert_eq!(hex::encode(sha2::Sha256::digest(&archive.body)), checksum);
    (location, archive.body)
}

/// Proxy mode and pinning on S3 and DynamoDB, configured by the same `TFREG_PROXY_*`
/// variables the origin Lambda reads: proxied archives are cached beneath `_proxy/`, a pin
/// is an object among the uploads plus a `pin#` item, and a pinned version installs with the
/// upstream gone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proxy_mode_and_pins_run_on_s3_and_dynamodb() {
    let upstream = StandIns::start().await;
    upstream
        .repo(
            "hashicorp",
            "terraform-aws-consul",
            CONSUL_SHA,
            sample_repo("consul"),
        )
        .repo("acme-oss", "modules", "v2.0.0", sample_repo("mods"))
        .module(
            "hashicorp/consul/aws",
            [(
                "0.2.0",
                Download::git("hashicorp", "terraform-aws-consul", CONSUL_SHA),
            )],
        )
        .module(
            "acme-oss/sub/aws",
            [(
                "2.0.0",
                Download::github_archive("acme-oss", "modules", "v2.0.0", "modules/sub"),
            )],
        );

    let moto = Moto::start();
    let config = moto.sdk_config().await;
    let target = AwsTarget {
        bucket: moto.create_bucket(&config).await,
        table: moto.create_table(&config).await,
        endpoint: moto.endpoint().to_owned(),
    };
    let s3 = moto::s3_client(&config);
    let dynamodb = aws_sdk_dynamodb::Client::new(&config);

    let mut env: Vec<(&str, &str)> = moto::PROCESS_ENV.to_vec();
    env.extend([
        ("TFREG_PROXY_ENABLED", "true"),
        ("TFREG_PROXY_UPSTREAM", upstream.registry_url()),
        ("TFREG_PROXY_GITHUB_ARCHIVE_URL", upstream.github_url()),
        ("TFREG_PROXY_ALLOW_LIST", "hashicorp,acme-oss"),
    ]);
    let args = target.serve_args();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let registry = TestRegistry::start_with_env(&args, &env);
    let master = registry.master_token.clone();
    let reader = registry.create_token("reader", "downloader").await;

    // Proxied downloads, both forms: served from this registry and cached in the bucket
    // beneath archives/_proxy/.
    let (location, archive) = download(&registry, "hashicorp/consul/aws", "0.2.0", &reader).await;
    assert!(
        location.starts_with("/archives/_proxy/hashicorp/consul/aws/0.2.0/module.tar.gz?"),
        "{location}"
    );
    let files = archive_files(&archive);
    let names: Vec<&str> = files.iter().map(|(path, _)| path.as_str()).collect();
    assert_eq!(
        names,
        [
            "README.md",
            "examples/basic/main.tf",
            "main.tf",
            "modules/sub/main.tf"
        ]
    );
    assert!(files[2].1.contains("consul root"), "{}", files[2].1);

    let (location, archive) = download(&registry, "acme-oss/sub/aws", "2.0.0", &reader).await;
    assert!(
        location.starts_with("/archives/_proxy/acme-oss/sub/aws/2.0.0/module.tar.gz?"),
        "{location}"
    );
    let files = archive_files(&archive);
    assert_eq!(files.len(), 1, "{files:?}");
    assert_eq!(files[0].0, "main.tf");
    assert!(files[0].1.contains("mods sub"), "{}", files[0].1);

    for key in [
        "archives/_proxy/hashicorp/consul/aws/0.2.0/module.tar.gz",
        "archives/_proxy/acme-oss/sub/aws/2.0.0/module.tar.gz",
    ] {
        let head = s3
            .head_object()
            .bucket(&target.bucket)
            .key(key)
            .send()
            .await
            .unwrap_or_else(|e| panic!("{key} is in the bucket: {e:?}"));
        assert_eq!(head.metadata().unwrap()["source"], "proxy", "{key}");
    }
    // Proxied versions are a cache, not versions of this registry.
    assert!(
        !object_exists(
            &s3,
            &target.bucket,
            "archives/acme-oss/sub/aws/2.0.0/module.tar.gz"
        )
        .await
    );
    assert!(pin_item(&dynamodb, &target.table, "acme-oss/sub/aws/2.0.0")
        .await
        .is_none());

    // Pinning copies the version among the local ones, with its provenance.
    let reply = registry
        .post("/v1/pins/acme-oss/sub/aws/2.0.0", &master)
        .await;
    assert_eq!(reply.status, 201, "{}", reply.text());
    let pin = reply.json();
    let source_url = pin["source_url"].as_str().unwrap().to_owned();
    assert_eq!(
        source_url,
        format!(
            "{}/acme-oss/modules/tar.gz/v2.0.0//*/modules/sub",
            upstream.github_url()
        )
    );
    let head = s3
        .head_object()
        .bucket(&target.bucket)
        .key("archives/acme-oss/sub/aws/2.0.0/module.tar.gz")
        .send()
        .await
        .expect("the pinned archive is among the uploads");
    let metadata = head.metadata().unwrap();
    assert_eq!(metadata["origin-url"], source_url);
    assert_eq!(metadata["source"], "pin");
    assert_eq!(metadata["uploader"], "master");
    assert_eq!(metadata["sha256"], pin["sha256"].as_str().unwrap());

    let reply = registry.get("/v1/pins", Some(&master)).await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    let pins = reply.json()["pins"].as_array().unwrap().clone();
    assert_eq!(pins.len(), 1, "{pins:?}");
    assert_eq!(pins[0]["version"], "2.0.0");
    assert_eq!(pins[0]["source_url"], source_url.as_str());

    let item = pin_item(&dynamodb, &target.table, "acme-oss/sub/aws/2.0.0")
        .await
        .expect("the pin's item in the table");
    assert_eq!(
        item["sha256"].as_s().unwrap(),
        pin["sha256"].as_str().unwrap()
    );
    assert_eq!(item["pinned_by"].as_s().unwrap(), "master");
    assert_eq!(item["source_url"].as_s().unwrap(), &source_url);
    assert!(!item.contains_key("expires_at"), "TTL never removes a pin");

    // A pinned version is downloaded from the uploads, not the proxy cache.
    let (location, _) = download(&registry, "acme-oss/sub/aws", "2.0.0", &reader).await;
    assert!(
        location.starts_with("/archives/acme-oss/sub/aws/2.0.0/module.tar.gz?"),
        "{location}"
    );

    // With the upstream and GitHub gone, Terraform still installs the pinned version.
    upstream.shutdown().await;
    let main_tf = format!(
        "module \"sub\" {{\n  source  = \"{}/acme-oss/sub/aws\"\n  version = \"2.0.0\"\n}}\n",
        registry.host
    );
    let run = tokio::task::block_in_place(|| terraform_init(&registry, &main_tf, Some(&reader)));
    assert!(
        run.succeeded(),
        "terraform init failed:\n{}\n{}\n{}",
        run.stdout(),
        run.stderr(),
        registry.logs()
    );
    assert_eq!(
        run.installed()["sub"],
        (
            format!("{}/acme-oss/sub/aws", registry.host),
            "2.0.0".into()
        )
    );
    assert!(run
        .file(".terraform/modules/sub/main.tf")
        .contains("mods sub"));
    assert!(!run
        .dir
        .path()
        .join(".terraform/modules/sub/README.md")
        .exists());

    // Unpinning removes the object, the listing and the item.
    let reply = registry
        .send(
            "DELETE",
            "/v1/pins/acme-oss/sub/aws/2.0.0",
            Some(&master),
            None,
        )
        .await;
    assert_eq!(reply.status, 204, "{}", reply.text());
    assert!(
        !object_exists(
            &s3,
            &target.bucket,
            "archives/acme-oss/sub/aws/2.0.0/module.tar.gz"
        )
        .await
    );
    let reply = registry.get("/v1/pins", Some(&master)).await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(reply.json()["pins"], serde_json::json!([]));
    assert!(pin_item(&dynamodb, &target.table, "acme-oss/sub/aws/2.0.0")
        .await
        .is_none());
    registry.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn module_docs_are_stored_beside_the_archive_in_s3() {
    let moto = Moto::start();
    let config = moto.sdk_config().await;
    let target = AwsTarget {
        bucket: moto.create_bucket(&config).await,
        table: moto.create_table(&config).await,
        endpoint: moto.endpoint().to_owned(),
    };
    let s3 = moto::s3_client(&config);
    let registry = target.start_registry(None);
    let archive = tfreg_testkit::archive::module_archive(&[
        (
            "variables.tf",
            "variable \"cidr\" {\n  type        = string\n  description = \"The CIDR block.\"\n}\n",
        ),
        (
            "README.md",
            "# VPC\n\nA VPC.\n\n<script>alert(1)</script>\n",
        ),
    ]);
    let reply = registry
        .upload("acme/vpc/aws", "1.0.0", archive, &registry.master_token)
        .await;
    assert_eq!(reply.status, 201, "{}", reply.text());
    assert_eq!(reply.json()["docs_available"], true);
    assert!(
        object_exists(&s3, &target.bucket, "archives/acme/vpc/aws/1.0.0/docs.json").await,
        "the docs are an object beside the archive"
    );

    let reader = registry.create_token("docs-read", "downloader").await;
    let details = registry
        .get("/v1/modules/acme/vpc/aws", Some(&reader))
        .await;
    assert_eq!(details.status, 200, "{}", details.text());
    let details = details.json();
    assert_eq!(details["id"], "acme/vpc/aws/1.0.0");
    assert_eq!(details["versions"], serde_json::json!(["1.0.0"]));
    assert_eq!(details["description"], "A VPC.");
    assert_eq!(details["root"]["inputs"][0]["name"], "cidr");
    assert_eq!(details["root"]["inputs"][0]["required"], true);
    let html = details["root"]["readme_html"].as_str().unwrap();
    assert!(!html.contains("<script"), "{html}");
}

/// Versions stored before docs were extracted at publish answer without docs until `tfreg
/// reindex --all --backfill-docs` extracts them from the archive in S3 and stores them
/// beside it; a second run finds them there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reindex_backfills_the_docs_of_versions_stored_without_them() {
    let moto = Moto::start();
    let config = moto.sdk_config().await;
    let target = AwsTarget {
        bucket: moto.create_bucket(&config).await,
        table: moto.create_table(&config).await,
        endpoint: moto.endpoint().to_owned(),
    };
    let s3 = moto::s3_client(&config);
    let registry = target.start_registry(None);
    let archive = tfreg_testkit::archive::module_archive(&[(
        "variables.tf",
        "variable \"cidr\" {\n  type        = string\n  description = \"The CIDR block.\"\n}\n",
    )]);
    for module in ["acme/vpc/aws", "acme/dns/aws"] {
        let reply = registry
            .upload(module, "1.0.0", archive.clone(), &registry.master_token)
            .await;
        assert_eq!(reply.status, 201, "{}", reply.text());
    }
    let archive_key = "archives/acme/vpc/aws/1.0.0/module.tar.gz";
    let archive_etag = s3
        .head_object()
        .bucket(&target.bucket)
        .key(archive_key)
        .send()
        .await
        .unwrap()
        .e_tag()
        .map(str::to_owned);
    // As stored before docs existed: the archive and no docs object.
    s3.delete_object()
        .bucket(&target.bucket)
        .key("archives/acme/vpc/aws/1.0.0/docs.json")
        .send()
        .await
        .unwrap();
    let reader = registry.create_token("docs-read", "downloader").await;
    let before = registry
        .get("/v1/modules/acme/vpc/aws/1.0.0", Some(&reader))
        .await;
    assert_eq!(before.status, 200, "{}", before.text());
    assert_eq!(before.json()["docs_available"], false, "{}", before.text());

    let backfilled = target.reindex_with(&["--all", "--backfill-docs"]);
    let stdout = String::from_utf8_lossy(&backfilled.stdout).into_owned();
    assert!(
        backfilled.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&backfilled.stderr)
    );
    assert!(
        stdout.contains("acme/dns/aws: 1 version(s) [1.0.0]")
            && stdout.contains("acme/vpc/aws: 1 version(s) [1.0.0]"),
        "--all reindexes every module: {stdout}"
    );
    assert!(
        stdout.contains("1.0.0: docs extracted and stored"),
        "{stdout}"
    );
    assert!(
        stdout.contains("docs: 1 version(s) extracted, 1 already stored, 0 failed"),
        "{stdout}"
    );

    let after = registry
        .get("/v1/modules/acme/vpc/aws/1.0.0", Some(&reader))
        .await;
    assert_eq!(after.status, 200, "{}", after.text());
    let details = after.json();
    assert_eq!(details["docs_available"], true, "{details}");
    assert_eq!(details["root"]["inputs"][0]["name"], "cidr");
    assert_eq!(
        details["root"]["inputs"][0]["description"],
        "The CIDR block."
    );
    let etag_after = s3
        .head_object()
        .bucket(&target.bucket)
        .key(archive_key)
        .send()
        .await
        .unwrap()
        .e_tag()
        .map(str::to_owned);
    assert_eq!(etag_after, archive_etag, "the archive is untouched");

    let again = target.reindex_with(&["acme/vpc/aws", "--backfill-docs"]);
    let stdout = String::from_utf8_lossy(&again.stdout);
    assert!(again.status.success(), "{stdout}");
    assert!(stdout.contains("1.0.0: docs already stored"), "{stdout}");
    assert!(
        stdout.contains("docs: 0 version(s) extracted, 1 already stored, 0 failed"),
        "{stdout}"
    );
    registry.stop();
}
