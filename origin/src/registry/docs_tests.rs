//! Module docs through the registry: extracted at publish, answered by the details routes.

use super::test_support::{json, TestRegistry};
use super::{OriginResponse, RequestBody};
use crate::names::{ArchiveKey, ModuleAddress, ModuleVersion};
use crate::storage::VersionMeta;
use tfreg_edge::Tier;

const VARIABLES: &str = r#"
variable "cidr" {
  type        = string
  description = "The VPC's CIDR block."
}

variable "azs" {
  type    = list(string)
  default = ["a", "b"]
}
"#;

const OUTPUTS: &str = r#"
output "vpc_id" {
  description = "The VPC's id."
  value       = "x"
}
"#;

async fn upload(registry: &TestRegistry, version: &str, files: &[(&str, &str)]) -> OriginResponse {
    registry
        .send(
            "PUT",
            &format!("/v1/modules/acme/vpc/aws/{version}"),
            Some(("ci", Tier::Uploader)),
            RequestBody::Bytes(tfreg_testkit::archive::module_archive(files)),
        )
        .await
}

async fn get(registry: &TestRegistry, path: &str) -> serde_json::Value {
    let response = registry
        .send(
            "GET",
            path,
            Some(("reader", Tier::Downloader)),
            RequestBody::Empty,
        )
        .await;
    let body = json(&response);
    assert_eq!(response.status, 200, "{body}");
    body
}

#[tokio::test]
async fn an_uploaded_module_answers_its_inputs_outputs_and_readme_in_its_details() {
    let registry = TestRegistry::new();
    let readme = "# VPC\n\nCreates a *VPC*.\n\n## Usage\n";
    let uploaded = upload(
        &registry,
        "1.2.0",
        &[
            ("variables.tf", VARIABLES),
            ("outputs.tf", OUTPUTS),
            ("README.md", readme),
        ],
    )
    .await;
    assert_eq!(uploaded.status, 201);
    let answer = json(&uploaded);
    assert_eq!(answer["docs_available"], true);
    assert_eq!(answer["parse_errors"], serde_json::json!([]));

    let details = get(&registry, "/v1/modules/acme/vpc/aws/1.2.0").await;
    // What the version details said before, still there.
    assert_eq!(details["source"], "acme/vpc/aws");
    assert_eq!(details["uploader"], "ci");
    assert_eq!(details["origin"], "upload");
    assert_eq!(details["sha256"], answer["sha256"]);
    // The Registry API's module details.
    assert_eq!(details["id"], "acme/vpc/aws/1.2.0");
    assert_eq!(details["owner"], "ci");
    assert_eq!(details["provider"], "aws");
    assert_eq!(details["providers"], serde_json::json!(["aws"]));
    assert_eq!(details["versions"], serde_json::json!(["1.2.0"]));
    assert_eq!(details["description"], "Creates a VPC.");
    assert_eq!(details["downloads"], 0);
    assert_eq!(details["verified"], false);
    assert_eq!(details["published_at"], details["uploaded_at"]);
    assert_eq!(details["docs_available"], true);
    let root = &details["root"];
    assert_eq!(root["name"], "vpc");
    assert_eq!(root["readme"], readme);
    assert!(root["readme_html"]
        .as_str()
        .unwrap()
        .contains("<em>VPC</em>"));
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
    assert_eq!(inputs, [("azs", false), ("cidr", true)]);
    assert_eq!(root["inputs"][0]["default"], serde_json::json!(["a", "b"]));
    assert_eq!(root["inputs"][1]["type"], "string");
    assert_eq!(root["outputs"][0]["name"], "vpc_id");
    assert_eq!(root["outputs"][0]["description"], "The VPC's id.");
}

#[tokio::test]
async fn the_module_route_answers_the_latest_versions_details() {
    let registry = TestRegistry::new();
    for version in ["1.10.0", "1.2.0", "1.9.0"] {
        assert_eq!(
            upload(&registry, version, &[("main.tf", OUTPUTS)])
                .await
                .status,
            201
        );
    }
    let details = get(&registry, "/v1/modules/acme/vpc/aws").await;
    assert_eq!(details["version"], "1.10.0");
    assert_eq!(
        details["versions"],
        serde_json::json!(["1.2.0", "1.9.0", "1.10.0"])
    );
    let missing = registry
        .send(
            "GET",
            "/v1/modules/acme/nothing/aws",
            Some(("reader", Tier::Downloader)),
            RequestBody::Empty,
        )
        .await;
    assert_eq!(missing.status, 404);
}

#[tokio::test]
async fn a_module_whose_hcl_does_not_parse_is_published_with_the_errors_in_the_answer() {
    let registry = TestRegistry::new();
    let uploaded = upload(
        &registry,
        "1.0.0",
        &[
            ("main.tf", "variable \"x\" {\n  type = \n"),
            ("outputs.tf", OUTPUTS),
        ],
    )
    .await;
    assert_eq!(uploaded.status, 201);
    let answer = json(&uploaded);
    assert_eq!(answer["docs_available"], false);
    let errors = answer["parse_errors"].as_array().unwrap();
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(
        errors[0].as_str().unwrap().contains("main.tf"),
        "{errors:?}"
    );

    let details = get(&registry, "/v1/modules/acme/vpc/aws/1.0.0").await;
    assert_eq!(details["docs_available"], false);
    assert_eq!(details["parse_errors"], answer["parse_errors"]);
    // What did parse is still shown.
    assert_eq!(details["root"]["outputs"][0]["name"], "vpc_id");
}

#[tokio::test]
async fn a_hostile_readme_is_answered_without_live_markup() {
    let registry = TestRegistry::new();
    let readme = "# Evil\n\n<script>alert(1)</script>\n\n<img src=x onerror=alert(2)>\n\n[click](javascript:alert(3))\n";
    assert_eq!(
        upload(
            &registry,
            "1.0.0",
            &[("main.tf", OUTPUTS), ("README.md", readme)]
        )
        .await
        .status,
        201
    );
    let details = get(&registry, "/v1/modules/acme/vpc/aws/1.0.0").await;
    let html = details["root"]["readme_html"].as_str().unwrap();
    assert!(!html.contains("<script"), "{html}");
    assert!(!html.contains("onerror"), "{html}");
    assert!(!html.contains("javascript:"), "{html}");
}

#[tokio::test]
async fn a_version_without_stored_docs_answers_docs_unavailable_with_the_reason() {
    let registry = TestRegistry::new();
    // As a version published before docs were extracted: archive and metadata only.
    let key = ArchiveKey::new(
        ModuleAddress::new("acme", "vpc", "aws").unwrap(),
        ModuleVersion::parse("1.0.0").unwrap(),
    );
    let staged = tempfile::NamedTempFile::new_in(&registry.registry.config.scratch_dir)
        .unwrap()
        .into_temp_path()
        .keep()
        .unwrap();
    std::fs::write(
        &staged,
        tfreg_testkit::archive::module_archive(&[("main.tf", OUTPUTS)]),
    )
    .unwrap();
    let meta = VersionMeta {
        sha256: "ab".repeat(32),
        size: 1,
        uploaded_at: "2026-01-01T00:00:00Z".into(),
        uploader: "ci".into(),
        source: "upload".into(),
        origin_url: None,
        repository_url: None,
    };
    registry
        .registry
        .archives()
        .publish(&key, staged, &meta)
        .await
        .unwrap();
    let details = get(&registry, "/v1/modules/acme/vpc/aws/1.0.0").await;
    assert_eq!(details["docs_available"], false);
    assert!(details["docs_unavailable_reason"]
        .as_str()
        .unwrap()
        .contains("no docs are stored"));
    assert_eq!(details["root"]["name"], "vpc");
    assert_eq!(details["root"]["inputs"], serde_json::json!([]));
    assert_eq!(details["description"], "");
    assert_eq!(details["sha256"], "ab".repeat(32));
}
