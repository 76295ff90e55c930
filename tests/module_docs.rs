//! Module docs and the API's own description through the real `tfreg serve` over HTTPS: the
//! details routes answer the docs extracted at publish, `tfreg reindex --backfill-docs` gives
//! docs to versions stored without them, and the OpenAPI document names every route.

mod common;

use common::{registry_with_tokens, TestRegistry};
use tfreg_testkit::archive::module_archive;

const MODULE: &str = "acme/vpc/aws";

#[tokio::test]
async fn module_details_carry_the_docs_extracted_at_publish() {
    let (registry, tokens) = registry_with_tokens().await;
    let variables = "variable \"cidr\" {\n  type        = string\n  description = \"The CIDR block.\"\n}\n\nvariable \"tags\" {\n  type    = map(string)\n  default = {}\n}\n";
    let outputs =
        "output \"vpc_id\" {\n  description = \"The VPC id.\"\n  value       = \"x\"\n}\n";
    let readme = "# VPC\n\nA *small* VPC.\n\n<script>alert(1)</script>\n";
    for version in ["1.0.0", "1.1.0"] {
        let archive = module_archive(&[
            ("variables.tf", variables),
            ("outputs.tf", outputs),
            ("README.md", readme),
            ("modules/subnets/main.tf", "variable \"count_of\" {}\n"),
        ]);
        let reply = registry
            .upload(MODULE, version, archive, &tokens.uploader)
            .await;
        assert_eq!(reply.status, 201, "{}", reply.text());
        assert_eq!(reply.json()["docs_available"], true);
        assert_eq!(reply.json()["parse_errors"], serde_json::json!([]));
    }
    let broken = module_archive(&[("main.tf", "variable {\n")]);
    let reply = registry
        .upload(MODULE, "0.9.0", broken, &tokens.uploader)
        .await;
    assert_eq!(
        reply.status,
        201,
        "published all the same: {}",
        reply.text()
    );
    assert_eq!(reply.json()["docs_available"], false);
    assert!(reply.json()["parse_errors"][0]
        .as_str()
        .unwrap()
        .contains("main.tf"));

    let latest = registry
        .get(&format!("/v1/modules/{MODULE}"), Some(&tokens.downloader))
        .await;
    assert_eq!(latest.status, 200, "{}", latest.text());
    let latest = latest.json();
    let details = registry
        .get(
            &format!("/v1/modules/{MODULE}/1.1.0"),
            Some(&tokens.downloader),
        )
        .await;
    assert_eq!(details.status, 200);
    assert_eq!(
        details.json(),
        latest,
        "the module's route answers its latest version"
    );
    assert_eq!(latest["id"], "acme/vpc/aws/1.1.0");
    assert_eq!(latest["uploader"], "up");
    assert_eq!(latest["description"], "A small VPC.");
    assert_eq!(
        latest["versions"],
        serde_json::json!(["0.9.0", "1.0.0", "1.1.0"])
    );
    let root = &latest["root"];
    assert_eq!(root["name"], "vpc");
    let inputs: Vec<_> = root["inputs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            (
                i["name"].as_str().unwrap(),
                i["required"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(inputs, [("cidr", true), ("tags", false)]);
    assert_eq!(root["outputs"][0]["name"], "vpc_id");
    let html = root["readme_html"].as_str().unwrap();
    assert!(html.contains("<em>small</em>"), "{html}");
    assert!(!html.contains("<script"), "{html}");
    assert_eq!(latest["submodules"][0]["path"], "modules/subnets");
    assert_eq!(latest["submodules"][0]["inputs"][0]["name"], "count_of");

    let old = registry
        .get(
            &format!("/v1/modules/{MODULE}/0.9.0"),
            Some(&tokens.downloader),
        )
        .await
        .json();
    assert_eq!(old["docs_available"], false);
    let none = registry.get(&format!("/v1/modules/{MODULE}"), None).await;
    assert_eq!(none.status, 401);
}

#[tokio::test]
async fn the_openapi_document_is_public_and_names_every_route() {
    let registry = TestRegistry::start();
    let reply = registry.get("/openapi.json", None).await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.header("content-type"), Some("application/json"));
    let document = reply.json();
    assert!(document["openapi"].as_str().unwrap().starts_with("3."));
    let paths = document["paths"].as_object().unwrap();
    for spec in tfreg_edge::ROUTES {
        let path = match spec.pattern {
            "/archives/{key_path*}" => {
                "/archives/{namespace}/{name}/{system}/{version}/module.tar.gz"
            }
            "/ui/{file*}" => "/ui/{file}",
            pattern => pattern,
        };
        let item = paths
            .get(path)
            .unwrap_or_else(|| panic!("{path} is not in openapi.json"));
        for method in spec.methods.iter().filter(|m| **m != "HEAD") {
            let operation = &item[method.to_ascii_lowercase()];
            assert!(
                operation.is_object(),
                "{method} {path} is not in openapi.json"
            );
            // Public, or authorised by its own signature: no bearer token.
            let public = !matches!(
                tfreg_edge::Route::parse(method, &path.replace('{', "x").replace('}', ""))
                    .required_access(),
                tfreg_edge::Access::Token(_)
            );
            assert_eq!(
                operation["security"] == serde_json::json!([]),
                public,
                "{method} {path}: security"
            );
        }
    }
}

/// `tfreg reindex --backend embedded --backfill-docs` beside a running `tfreg serve`: a
/// version whose docs file is missing (stored before docs existed) gets its docs from the
/// archive, and the module details show them at once.
#[tokio::test]
async fn reindex_backfills_the_docs_of_versions_stored_without_them() {
    let (registry, tokens) = registry_with_tokens().await;
    let archive = module_archive(&[(
        "variables.tf",
        "variable \"cidr\" {\n  type        = string\n  description = \"The CIDR block.\"\n}\n",
    )]);
    let reply = registry
        .upload(MODULE, "1.0.0", archive, &tokens.uploader)
        .await;
    assert_eq!(reply.status, 201, "{}", reply.text());
    let version_dir = registry.data_dir.path().join("modules/acme/vpc/aws/1.0.0");
    std::fs::remove_file(version_dir.join("docs.json")).unwrap();
    let archive_before = std::fs::read(version_dir.join("module.tar.gz")).unwrap();
    let details = registry
        .get(
            &format!("/v1/modules/{MODULE}/1.0.0"),
            Some(&tokens.downloader),
        )
        .await
        .json();
    assert_eq!(details["docs_available"], false, "{details}");

    let backfilled = std::process::Command::new(common::tfreg_binary())
        .args([
            "reindex",
            "--all",
            "--backfill-docs",
            "--backend",
            "embedded",
        ])
        .arg("--data-dir")
        .arg(registry.data_dir.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&backfilled.stdout);
    assert!(
        backfilled.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&backfilled.stderr)
    );
    assert!(
        stdout.contains("acme/vpc/aws: 1 version(s) [1.0.0]"),
        "{stdout}"
    );
    assert!(
        stdout.contains("1.0.0: docs extracted and stored"),
        "{stdout}"
    );

    let details = registry
        .get(
            &format!("/v1/modules/{MODULE}/1.0.0"),
            Some(&tokens.downloader),
        )
        .await
        .json();
    assert_eq!(details["docs_available"], true, "{details}");
    assert_eq!(details["root"]["inputs"][0]["name"], "cidr");
    assert_eq!(
        std::fs::read(version_dir.join("module.tar.gz")).unwrap(),
        archive_before,
        "the archive is untouched"
    );
}
