//! The list, search and module endpoints, and the catalogue kept current as versions come and
//! go, over the embedded stores.

use super::test_support::{code, json, TestRegistry};
use super::RequestBody;
use tfreg_edge::Tier;

fn ids(body: &serde_json::Value) -> Vec<String> {
    body["modules"]
        .as_array()
        .expect("modules")
        .iter()
        .map(|m| m["id"].as_str().unwrap().to_owned())
        .collect()
}

async fn publish(registry: &TestRegistry, module: &str, version: &str, readme: &str) {
    let response = registry.publish_with(module, version, readme, "").await;
    assert_eq!(
        response.status,
        201,
        "{}",
        String::from_utf8_lossy(&response.body)
    );
}

#[tokio::test]
async fn the_list_has_the_registry_api_shape_with_the_latest_version() {
    let registry = TestRegistry::new();
    publish(
        &registry,
        "acme/vpc/aws",
        "1.0.0",
        "# VPC\n\nCreates a VPC.\n",
    )
    .await;
    publish(
        &registry,
        "acme/vpc/aws",
        "1.2.0",
        "# VPC\n\nCreates a VPC, v1.2.\n",
    )
    .await;
    publish(&registry, "acme/vpc/aws", "2.0.0-rc.1", "# VPC\n\nNext.\n").await;
    publish(&registry, "acme/dns/aws", "0.1.0", "# DNS\n\nZones.\n").await;

    let response = registry.get("/v1/modules").await;
    assert_eq!(response.status, 200);
    let body = json(&response);
    assert_eq!(
        body["meta"],
        serde_json::json!({"limit": 15, "current_offset": 0})
    );
    assert_eq!(ids(&body), ["acme/dns/aws/0.1.0", "acme/vpc/aws/1.2.0"]);
    let vpc = &body["modules"][1];
    for (field, value) in [
        ("owner", serde_json::json!("ci")),
        ("namespace", serde_json::json!("acme")),
        ("name", serde_json::json!("vpc")),
        ("version", serde_json::json!("1.2.0")),
        ("provider", serde_json::json!("aws")),
        ("description", serde_json::json!("Creates a VPC, v1.2.")),
        ("source", serde_json::json!("acme/vpc/aws")),
        ("downloads", serde_json::json!(0)),
        ("verified", serde_json::json!(false)),
        ("origin", serde_json::json!("upload")),
        ("versions_count", serde_json::json!(3)),
    ] {
        assert_eq!(vpc[field], value, "{field}");
    }
    assert!(vpc["published_at"].as_str().unwrap().ends_with('Z'));
}

#[tokio::test]
async fn pages_carry_next_and_previous_offsets_and_a_next_url() {
    let registry = TestRegistry::new();
    for name in ["a", "b", "c", "d", "e"] {
        publish(&registry, &format!("acme/{name}/aws"), "1.0.0", "# x\n").await;
    }
    let first = json(&registry.get("/v1/modules?limit=2").await);
    assert_eq!(ids(&first), ["acme/a/aws/1.0.0", "acme/b/aws/1.0.0"]);
    assert_eq!(
        first["meta"],
        serde_json::json!({"limit": 2, "current_offset": 0, "next_offset": 2,
                           "next_url": "/v1/modules?limit=2&offset=2"})
    );
    let next = first["meta"]["next_url"].as_str().unwrap().to_owned();
    let second = json(&registry.get(&next).await);
    assert_eq!(ids(&second), ["acme/c/aws/1.0.0", "acme/d/aws/1.0.0"]);
    assert_eq!(second["meta"]["prev_offset"], 0);
    let last = json(&registry.get("/v1/modules?limit=2&offset=4").await);
    assert_eq!(ids(&last), ["acme/e/aws/1.0.0"]);
    assert!(last["meta"].get("next_offset").is_none());
    assert!(last["meta"].get("next_url").is_none());
}

#[tokio::test]
async fn bad_paging_is_400_with_the_reason() {
    let registry = TestRegistry::new();
    for (query, says) in [
        ("limit=0", "limit must be between 1 and 100"),
        ("limit=101", "limit must be between 1 and 100"),
        ("limit=ten", "limit must be a whole number"),
        ("offset=-1", "offset must be a whole number"),
    ] {
        let response = registry.get(&format!("/v1/modules?{query}")).await;
        assert_eq!(response.status, 400, "{query}");
        let message = json(&response)["errors"][0].as_str().unwrap().to_owned();
        assert!(message.contains(says), "{query}: {message}");
    }
    let response = registry.get("/v1/modules?verified=maybe").await;
    assert_eq!(response.status, 400);
    let response = registry.get("/v1/modules/search?q=%20-").await;
    assert_eq!(response.status, 200, "no words find nothing");
    assert_eq!(ids(&json(&response)), Vec::<String>::new());
    let response = registry.get("/v1/modules/search").await;
    assert_eq!(response.status, 400);
    assert!(json(&response)["errors"][0]
        .as_str()
        .unwrap()
        .contains("search needs words"));
    let response = registry.get("/v1/modules/Bad%20Namespace").await;
    assert_eq!(response.status, 400);
}

#[tokio::test]
async fn namespace_module_and_provider_filters() {
    let registry = TestRegistry::new();
    publish(&registry, "acme/vpc/aws", "1.0.0", "# a\n").await;
    publish(&registry, "acme/vpc/google", "1.1.0", "# b\n").await;
    publish(&registry, "acme/dns/aws", "1.0.0", "# c\n").await;
    publish(&registry, "other/vpc/aws", "1.0.0", "# d\n").await;

    let acme = json(&registry.get("/v1/modules/acme").await);
    assert_eq!(
        ids(&acme),
        [
            "acme/dns/aws/1.0.0",
            "acme/vpc/aws/1.0.0",
            "acme/vpc/google/1.1.0"
        ]
    );
    // The latest version of each system.
    let systems = json(&registry.get("/v1/modules/acme/vpc").await);
    assert_eq!(
        ids(&systems),
        ["acme/vpc/aws/1.0.0", "acme/vpc/google/1.1.0"]
    );
    let google = json(&registry.get("/v1/modules?provider=google").await);
    assert_eq!(ids(&google), ["acme/vpc/google/1.1.0"]);
    let empty = registry.get("/v1/modules/nobody").await;
    assert_eq!(empty.status, 200);
    assert_eq!(ids(&json(&empty)), Vec::<String>::new());
    let missing = registry.get("/v1/modules/acme/nothing").await;
    assert_eq!(missing.status, 404);
    assert_eq!(json(&missing)["errors"][0], "module acme/nothing not found");
    // Nothing here is verified by the public registry's partner programme.
    let verified = json(&registry.get("/v1/modules?verified=true").await);
    assert_eq!(ids(&verified), Vec::<String>::new());
}

#[tokio::test]
async fn search_matches_names_descriptions_and_readmes_exact_name_first() {
    let registry = TestRegistry::new();
    publish(
        &registry,
        "acme/network/aws",
        "1.0.0",
        "# Network\n\nA vpc and its subnets.\n",
    )
    .await;
    publish(
        &registry,
        "acme/vpc/aws",
        "1.0.0",
        "# VPC\n\nA virtual network.\n",
    )
    .await;
    publish(
        &registry,
        "acme/bastion/aws",
        "1.0.0",
        "# Bastion\n\nA jump host.\n\n## Usage\n\nOpen ssh through the bastion; ssh keys rotate.\n",
    )
    .await;

    let found = json(&registry.get("/v1/modules/search?q=vpc").await);
    assert_eq!(
        ids(&found),
        ["acme/vpc/aws/1.0.0", "acme/network/aws/1.0.0"]
    );
    let found = json(&registry.get("/v1/modules/search?q=ssh").await);
    assert_eq!(ids(&found), ["acme/bastion/aws/1.0.0"]);
    let found = json(&registry.get("/v1/modules/search?q=network+aws&limit=1").await);
    assert_eq!(ids(&found), ["acme/network/aws/1.0.0"]);
    assert_eq!(
        found["meta"]["next_url"],
        "/v1/modules/search?limit=1&offset=1&q=network+aws"
    );
    let found = json(&registry.get("/v1/modules/search?q=kubernetes").await);
    assert_eq!(ids(&found), Vec::<String>::new());
}

#[tokio::test]
async fn the_catalogue_needs_a_downloader_token() {
    let registry = TestRegistry::new();
    for path in [
        "/v1/modules",
        "/v1/modules/search?q=x",
        "/v1/modules/acme",
        "/v1/modules/acme/vpc",
    ] {
        let response = registry.send("GET", path, None, RequestBody::Empty).await;
        assert_eq!(response.status, 401, "{path}");
        assert_eq!(code(&response), "missing_token");
    }
}

#[tokio::test]
async fn a_repository_url_given_at_publish_is_the_modules_source() {
    let registry = TestRegistry::new();
    let url = "https://github.com/acme/terraform-aws-vpc";
    let response = registry
        .publish_with(
            "acme/vpc/aws",
            "1.0.0",
            "# VPC\n",
            &format!(
                "repository_url={}",
                "https%3A%2F%2Fgithub.com%2Facme%2Fterraform-aws-vpc"
            ),
        )
        .await;
    assert_eq!(response.status, 201);
    assert_eq!(json(&response)["repository_url"], url);
    // Renovate reads `modules[0].source` of the versions answer for release notes.
    let versions = json(&registry.get("/v1/modules/acme/vpc/aws/versions").await);
    assert_eq!(versions["modules"][0]["source"], url);
    let list = json(&registry.get("/v1/modules").await);
    assert_eq!(list["modules"][0]["source"], url);
    assert_eq!(list["modules"][0]["repository_url"], url);
    let details = json(&registry.get("/v1/modules/acme/vpc/aws").await);
    assert_eq!(details["source"], url);
    assert_eq!(details["repository_url"], url);
    // Without one, the source stays the module's address.
    publish(&registry, "acme/dns/aws", "1.0.0", "# DNS\n").await;
    let versions = json(&registry.get("/v1/modules/acme/dns/aws/versions").await);
    assert_eq!(versions["modules"][0]["source"], "acme/dns/aws");
}

#[tokio::test]
async fn a_bad_repository_url_is_400_and_nothing_is_published() {
    let registry = TestRegistry::new();
    for (url, says) in [
        ("ftp%3A%2F%2Fexample.com%2Frepo", "only http and https"),
        ("not%20a%20url", "invalid repository_url"),
        (
            "https%3A%2F%2Fci%3Ahunter2%40github.com%2Facme%2Fvpc",
            "carries credentials",
        ),
    ] {
        let response = registry
            .publish_with(
                "acme/vpc/aws",
                "1.0.0",
                "# VPC\n",
                &format!("repository_url={url}"),
            )
            .await;
        assert_eq!(response.status, 400, "{url}");
        let message = json(&response)["errors"][0].as_str().unwrap().to_owned();
        assert!(message.contains(says), "{url}: {message}");
        assert!(!message.contains("hunter2"), "{message}");
    }
    let long = format!("https://example.com/{}", "a".repeat(600));
    let response = registry
        .publish_with(
            "acme/vpc/aws",
            "1.0.0",
            "# VPC\n",
            &format!("repository_url={long}"),
        )
        .await;
    assert_eq!(response.status, 400);
    let versions = registry.get("/v1/modules/acme/vpc/aws/versions").await;
    assert_eq!(versions.status, 404);
    assert_eq!(
        ids(&json(&registry.get("/v1/modules").await)),
        Vec::<String>::new()
    );
}

#[tokio::test]
async fn an_unreadable_catalogue_is_503_until_it_is_rebuilt() {
    let registry = TestRegistry::new();
    publish(&registry, "acme/vpc/aws", "1.0.0", "# VPC\n").await;
    // The file is what a restarted `tfreg serve` reads.
    let file = registry.dir().join("catalogue.json");
    let stored = std::fs::read_to_string(&file).unwrap();
    assert!(stored.contains("\"acme\""), "{stored}");
    std::fs::write(&file, "{").unwrap();
    let response = registry.get("/v1/modules").await;
    assert_eq!(response.status, 503);
    assert_eq!(code(&response), "storage_unavailable");
    // A publish still works (its catalogue update is logged as failed)...
    publish(&registry, "acme/dns/aws", "1.0.0", "# DNS\n").await;
    // ...and the rebuild (`tfreg reindex --all`) puts it right.
    let entries = vec![crate::catalogue::entry_from_store(
        registry.registry.archives().as_ref(),
        &crate::names::ModuleAddress::new("acme", "vpc", "aws").unwrap(),
    )
    .await
    .unwrap()
    .unwrap()];
    registry
        .registry
        .catalogue()
        .replace_all(entries)
        .await
        .unwrap();
    let list = json(&registry.get("/v1/modules").await);
    assert_eq!(ids(&list), ["acme/vpc/aws/1.0.0"]);
}
