//! Finding modules through the real `tfreg serve` over HTTPS: the list, namespace, module and
//! search endpoints, the repository URL given at publish, and the catalogue kept across a
//! restart (embedded) and between two processes over one bucket (S3 and DynamoDB on moto).

mod common;

use common::TestRegistry;
use std::time::{Duration, Instant};
use tfreg_testkit::archive::module_archive;
use tfreg_testkit::moto::{self, Moto};

const REPOSITORY: &str = "https://github.com/acme/terraform-aws-vpc";

/// Publishes `module` at `version` with `readme`, and `query` on the `PUT`.
async fn publish(registry: &TestRegistry, module: &str, version: &str, readme: &str, query: &str) {
    let archive = module_archive(&[
        (
            "variables.tf",
            "variable \"cidr\" {\n  type        = string\n  description = \"The CIDR block.\"\n}\n",
        ),
        ("README.md", readme),
    ]);
    let path = format!("/v1/modules/{module}/{version}{query}");
    let reply = registry
        .send("PUT", &path, Some(&registry.master_token), Some(archive))
        .await;
    assert_eq!(reply.status, 201, "{module} {version}: {}", reply.text());
}

fn ids(body: &serde_json::Value) -> Vec<String> {
    body["modules"]
        .as_array()
        .unwrap_or_else(|| panic!("modules in {body}"))
        .iter()
        .map(|m| m["id"].as_str().unwrap().to_owned())
        .collect()
}

async fn publish_three(registry: &TestRegistry) {
    let repository = "?repository_url=https%3A%2F%2Fgithub.com%2Facme%2Fterraform-aws-vpc";
    publish(
        registry,
        "acme/vpc/aws",
        "1.0.0",
        "# VPC\n\nA VPC with subnets.\n",
        "",
    )
    .await;
    publish(
        registry,
        "acme/vpc/aws",
        "1.1.0",
        "# VPC\n\nA VPC with subnets and flow logs.\n",
        repository,
    )
    .await;
    publish(
        registry,
        "acme/bastion/aws",
        "0.3.0",
        "# Bastion\n\nA jump host.\n\n## Access\n\nssh through it; ssh keys rotate daily.\n",
        "",
    )
    .await;
    publish(
        registry,
        "platform/dns/google",
        "2.0.0",
        "# DNS\n\nManaged zones.\n",
        "",
    )
    .await;
}

/// What every backend must answer once [`publish_three`] ran.
async fn assert_found(registry: &TestRegistry, token: &str) {
    let list = registry.get("/v1/modules", Some(token)).await;
    assert_eq!(list.status, 200, "{}", list.text());
    let list = list.json();
    assert_eq!(
        ids(&list),
        [
            "acme/bastion/aws/0.3.0",
            "acme/vpc/aws/1.1.0",
            "platform/dns/google/2.0.0"
        ]
    );
    let vpc = &list["modules"][1];
    assert_eq!(vpc["description"], "A VPC with subnets and flow logs.");
    assert_eq!(vpc["source"], REPOSITORY);
    assert_eq!(vpc["provider"], "aws");
    assert_eq!(vpc["origin"], "upload");

    let search = registry
        .get("/v1/modules/search?q=ssh", Some(token))
        .await
        .json();
    assert_eq!(ids(&search), ["acme/bastion/aws/0.3.0"]);
    let search = registry
        .get("/v1/modules/search?q=vpc", Some(token))
        .await
        .json();
    assert_eq!(ids(&search), ["acme/vpc/aws/1.1.0"]);
    let acme = registry
        .get("/v1/modules/acme?provider=aws&limit=1", Some(token))
        .await
        .json();
    assert_eq!(ids(&acme), ["acme/bastion/aws/0.3.0"]);
    assert_eq!(
        acme["meta"]["next_url"],
        "/v1/modules/acme?limit=1&offset=1&provider=aws"
    );
    let systems = registry
        .get("/v1/modules/platform/dns", Some(token))
        .await
        .json();
    assert_eq!(ids(&systems), ["platform/dns/google/2.0.0"]);
    // Renovate's release-notes link.
    let versions = registry
        .get("/v1/modules/acme/vpc/aws/versions", Some(token))
        .await
        .json();
    assert_eq!(versions["modules"][0]["source"], REPOSITORY);
    let details = registry
        .get("/v1/modules/acme/vpc/aws", Some(token))
        .await
        .json();
    assert_eq!(details["repository_url"], REPOSITORY);
    assert_eq!(details["root"]["inputs"][0]["name"], "cidr");
    assert_eq!(registry.get("/v1/modules", None).await.status, 401);
}

#[tokio::test]
async fn modules_are_found_through_tfreg_serve_and_kept_across_a_restart() {
    let registry = TestRegistry::start();
    publish_three(&registry).await;
    let reader = registry.create_token("reader", "downloader").await;
    assert_found(&registry, &reader).await;

    let data_dir = registry.stop();
    assert!(data_dir.path().join("catalogue.json").is_file());
    let registry = TestRegistry::start_in(data_dir, &[]);
    assert_found(&registry, &reader).await;

    // A lost catalogue is rebuilt from the stored modules by `tfreg reindex --all`.
    let data_dir = registry.stop();
    std::fs::write(data_dir.path().join("catalogue.json"), "{").unwrap();
    let reindex = std::process::Command::new(common::tfreg_binary())
        .args(["reindex", "--all", "--backend", "embedded", "--data-dir"])
        .arg(data_dir.path())
        .output()
        .unwrap();
    let printed = String::from_utf8_lossy(&reindex.stdout).into_owned();
    assert!(
        reindex.status.success(),
        "{printed}{}",
        String::from_utf8_lossy(&reindex.stderr)
    );
    assert!(
        printed.contains("catalogue rebuilt: 3 module(s)"),
        "{printed}"
    );
    let registry = TestRegistry::start_in(data_dir, &[]);
    assert_found(&registry, &reader).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_over_one_bucket_share_the_catalogue_object() {
    let moto = Moto::start();
    let config = moto.sdk_config().await;
    let bucket = moto.create_bucket(&config).await;
    let table = moto.create_table(&config).await;
    let args = common::aws_backend_args(&bucket, &table, moto.endpoint());
    let first = TestRegistry::start_with_env(&args, &moto::PROCESS_ENV);
    // The second process has a data directory of its own over the same bucket and table; the
    // master token is made once, so it is handed over as an operator would.
    let second_dir = tempfile::tempdir().unwrap();
    std::fs::copy(
        first.data_dir.path().join("master-token"),
        second_dir.path().join("master-token"),
    )
    .unwrap();
    let second = TestRegistry::start_in_with_env(second_dir, &args, &moto::PROCESS_ENV);
    let reader = first.create_token("reader", "downloader").await;
    // The second loads the (empty) catalogue before anything is published.
    let empty = second.get("/v1/modules", Some(&reader)).await;
    assert_eq!(empty.status, 200, "{}", empty.text());
    assert_eq!(ids(&empty.json()), Vec::<String>::new());

    publish_three(&first).await;
    assert_found(&first, &reader).await;

    // One object in the bucket, never a listing per request.
    let s3 = moto::s3_client(&config);
    let object = s3
        .get_object()
        .bucket(&bucket)
        .key("archives/_catalogue/modules.json")
        .send()
        .await
        .expect("the catalogue object");
    let stored: serde_json::Value =
        serde_json::from_slice(&object.body.collect().await.unwrap().into_bytes()).unwrap();
    assert_eq!(stored["modules"].as_array().unwrap().len(), 3);

    // The second sees the first's publishes once its copy is older than the refresh interval
    // (5 s): polled, with a generous deadline, not timed.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let seen = ids(&second.get("/v1/modules", Some(&reader)).await.json());
        if seen.len() == 3 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the second process still sees {seen:?}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert_found(&second, &reader).await;
}

/// Pins and proxied modules appear with their provenance; a proxied module the proxy would no
/// longer serve (proxy mode off, or its namespace now private) never does.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pins_and_proxied_modules_appear_only_while_they_are_served() {
    use tfreg_testkit::upstream::{sample_repo, Download, StandIns};
    let upstream = StandIns::start().await;
    upstream
        .repo("acme-oss", "modules", "v2.0.0", sample_repo("mods"))
        .repo(
            "hashicorp",
            "terraform-aws-consul",
            "v0.2.0",
            sample_repo("consul"),
        )
        .module(
            "acme-oss/sub/aws",
            [(
                "2.0.0",
                Download::github_archive("acme-oss", "modules", "v2.0.0", "modules/sub"),
            )],
        )
        .module(
            "hashicorp/consul/aws",
            [(
                "0.2.0",
                Download::github_archive("hashicorp", "terraform-aws-consul", "v0.2.0", "*"),
            )],
        );
    let proxy = [
        "--proxy",
        "--proxy-upstream",
        upstream.registry_url(),
        "--proxy-github-archive-url",
        upstream.github_url(),
    ];
    let registry = TestRegistry::start_with(&proxy);
    let master = registry.master_token.clone();
    let origins = |body: serde_json::Value| -> Vec<(String, String)> {
        body["modules"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| {
                (
                    m["id"].as_str().unwrap().to_owned(),
                    m["origin"].as_str().unwrap().to_owned(),
                )
            })
            .collect()
    };

    let reply = registry
        .post("/v1/pins/acme-oss/sub/aws/2.0.0", &master)
        .await;
    assert_eq!(reply.status, 201, "{}", reply.text());
    let reply = registry
        .get(
            "/v1/modules/hashicorp/consul/aws/0.2.0/download",
            Some(&master),
        )
        .await;
    assert_eq!(reply.status, 204, "{}", reply.text());
    let list = registry.get("/v1/modules", Some(&master)).await.json();
    assert_eq!(
        origins(list.clone()),
        [
            ("acme-oss/sub/aws/2.0.0".to_owned(), "pin".to_owned()),
            ("hashicorp/consul/aws/0.2.0".to_owned(), "proxy".to_owned())
        ]
    );
    assert!(list["modules"][0]["origin_url"]
        .as_str()
        .unwrap()
        .contains("/acme-oss/modules/"));
    let found = registry
        .get("/v1/modules/search?q=consul", Some(&master))
        .await
        .json();
    assert_eq!(ids(&found), ["hashicorp/consul/aws/0.2.0"]);
    // The module's page: its latest cached version's details.
    let latest = registry
        .get("/v1/modules/hashicorp/consul/aws", Some(&master))
        .await;
    assert_eq!(latest.status, 200, "{}", latest.text());
    assert_eq!(latest.json()["version"], "0.2.0");
    assert_eq!(latest.json()["origin"], "proxy");

    // An upload into `hashicorp` makes that namespace private: its proxied module is no
    // longer served, so no longer listed.
    publish(
        &registry,
        "hashicorp/internal/aws",
        "1.0.0",
        "# Internal\n",
        "",
    )
    .await;
    let list = registry.get("/v1/modules", Some(&master)).await.json();
    assert_eq!(
        ids(&list),
        ["acme-oss/sub/aws/2.0.0", "hashicorp/internal/aws/1.0.0"]
    );
    let latest = registry
        .get("/v1/modules/hashicorp/consul/aws", Some(&master))
        .await;
    assert_eq!(latest.status, 404, "{}", latest.text());

    // Proxy mode off: pins are still served and listed.
    let data_dir = registry.stop();
    let registry = TestRegistry::start_in(data_dir, &[]);
    let list = registry.get("/v1/modules", Some(&master)).await.json();
    assert_eq!(
        ids(&list),
        ["acme-oss/sub/aws/2.0.0", "hashicorp/internal/aws/1.0.0"]
    );
    let data_dir = registry.stop();
    let registry = TestRegistry::start_in(data_dir, &proxy);
    let reply = registry
        .send(
            "DELETE",
            "/v1/pins/acme-oss/sub/aws/2.0.0",
            Some(&master),
            None,
        )
        .await;
    assert_eq!(reply.status, 204, "{}", reply.text());
    let list = registry.get("/v1/modules", Some(&master)).await.json();
    assert_eq!(ids(&list), ["hashicorp/internal/aws/1.0.0"]);
}
