use std::time::Instant;

use serde_json::json;
use tfreg_testkit::archive::ArchiveBuilder;

use super::{extract_docs, DocsLimits, ModuleDocs};

const VARIABLES_TF: &str = r#"
variable "name" {
  type        = string
  description = "Name of the network."
}

variable "cidr_blocks" {
  type    = list(string)
  default = ["10.0.0.0/16"]
}

variable "settings" {
  description = <<-EOT
    Optional settings.
  EOT
  type = object({
    size = number
    tags = optional(map(string), {})
  })
  default = {
    size = 3
  }
}

variable "password" {
  type      = string
  sensitive = true
  nullable  = false
  default   = null
}

variable "environment" {
  type = string
  validation {
    condition     = contains(["dev", "prod"], var.environment)
    error_message = "Must be dev or prod."
  }
}
"#;

const MAIN_TF: &str = r#"
resource "aws_vpc" "this" {
  cidr_block = var.cidr_blocks[0]
}

resource "aws_subnet" "private" {
  vpc_id = aws_vpc.this.id
}

module "labels" {
  source  = "cloudposse/label/null"
  version = "~> 0.25"
}

output "vpc_id" {
  description = "The VPC's id."
  value       = aws_vpc.this.id
}

output "password" {
  value     = var.password
  sensitive = true
}
"#;

const VERSIONS_TF: &str = r#"
terraform {
  required_version = ">= 1.3"
  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.0"
    }
    random = ">= 3.1"
    corp = {
      source = "registry.example.com/acme/corp"
    }
  }
}
"#;

fn realistic_module() -> Vec<u8> {
    ArchiveBuilder::new()
        .file("README.md", "# Network\n\nBuilds a VPC.\n")
        .file("main.tf", MAIN_TF)
        .file("variables.tf", VARIABLES_TF)
        .file("versions.tf", VERSIONS_TF)
        .file(
            "modules/subnet/main.tf",
            "variable \"vpc_id\" {}\nresource \"aws_subnet\" \"this\" {}\n",
        )
        .file("modules/subnet/README.md", "Subnets.\n")
        .file(
            "examples/complete/main.tf",
            "module \"network\" {\n  source = \"../..\"\n  name = \"demo\"\n}\n",
        )
        .file(
            "examples/complete/nested/deeper.tf",
            "variable \"ignored\" {}\n",
        )
        .file("scripts/helper.tf", "variable \"ignored\" {}\n")
        .build_tar_gz()
}

fn docs_of(archive: Vec<u8>) -> ModuleDocs {
    extract_docs(archive.as_slice(), &DocsLimits::default())
}

fn json_of<T: serde::Serialize>(value: &T) -> serde_json::Value {
    serde_json::to_value(value).unwrap()
}

#[test]
fn realistic_module_inputs_are_extracted_with_types_defaults_and_flags() {
    let docs = docs_of(realistic_module());
    assert!(docs.docs_available, "{:?}", docs.parse_errors);
    assert_eq!(docs.parse_errors, Vec::<String>::new());
    assert_eq!(
        json_of(&docs.root.inputs),
        json!([
            {"name": "cidr_blocks", "type": "list(string)", "description": "",
             "default": ["10.0.0.0/16"], "required": false,
             "sensitive": false, "nullable": true, "has_validation": false},
            {"name": "environment", "type": "string", "description": "",
             "default": null, "required": true,
             "sensitive": false, "nullable": true, "has_validation": true},
            {"name": "name", "type": "string", "description": "Name of the network.",
             "default": null, "required": true,
             "sensitive": false, "nullable": true, "has_validation": false},
            {"name": "password", "type": "string", "description": "",
             "default": null, "required": false,
             "sensitive": true, "nullable": false, "has_validation": false},
            {"name": "settings",
             "type": "object({ size = number, tags = optional(map(string), {}) })",
             "description": "Optional settings.\n",
             "default": {"size": 3}, "required": false,
             "sensitive": false, "nullable": true, "has_validation": false},
        ])
    );
}

#[test]
fn realistic_module_outputs_providers_calls_and_resources_are_extracted() {
    let root = docs_of(realistic_module()).root;
    assert_eq!(
        json_of(&root.outputs),
        json!([
            {"name": "password", "description": "", "sensitive": true},
            {"name": "vpc_id", "description": "The VPC's id.", "sensitive": false},
        ])
    );
    assert_eq!(
        json_of(&root.provider_dependencies),
        json!([
            {"name": "aws", "namespace": "hashicorp", "source": "hashicorp/aws", "version": ">= 5.0"},
            {"name": "corp", "namespace": "acme", "source": "registry.example.com/acme/corp", "version": ""},
            {"name": "random", "namespace": "hashicorp", "source": "hashicorp/random", "version": ">= 3.1"},
        ])
    );
    assert_eq!(
        json_of(&root.dependencies),
        json!([{"name": "labels", "source": "cloudposse/label/null", "version": "~> 0.25"}])
    );
    assert_eq!(
        json_of(&root.resources),
        json!([
            {"name": "private", "type": "aws_subnet"},
            {"name": "this", "type": "aws_vpc"},
        ])
    );
    assert_eq!(root.required_version.as_deref(), Some(">= 1.3"));
    assert_eq!(root.path, "");
    assert!(!root.empty);
    assert_eq!(root.readme, "# Network\n\nBuilds a VPC.\n");
    assert_eq!(root.readme_html, "<h1>Network</h1>\n<p>Builds a VPC.</p>\n");
}

#[test]
fn submodules_and_examples_are_listed_one_level_deep_only() {
    let docs = docs_of(realistic_module());
    let paths = |parts: &[super::ModulePart]| -> Vec<(String, String)> {
        parts
            .iter()
            .map(|part| (part.path.clone(), part.name.clone()))
            .collect()
    };
    assert_eq!(
        paths(&docs.submodules),
        [("modules/subnet".to_owned(), "subnet".to_owned())]
    );
    assert_eq!(
        paths(&docs.examples),
        [("examples/complete".to_owned(), "complete".to_owned())]
    );
    let subnet = &docs.submodules[0];
    assert_eq!(subnet.inputs.len(), 1);
    assert!(subnet.inputs[0].required);
    assert_eq!(subnet.readme, "Subnets.\n");
    let example = &docs.examples[0];
    assert_eq!(
        json_of(&example.dependencies),
        json!([{"name": "network", "source": "../..", "version": ""}])
    );
    assert!(example.inputs.is_empty(), "nested/deeper.tf is not read");
    assert!(docs.root.inputs.iter().all(|input| input.name != "ignored"));
}

#[test]
fn same_archive_gives_same_json() {
    let first = serde_json::to_string(&docs_of(realistic_module())).unwrap();
    let second = serde_json::to_string(&docs_of(realistic_module())).unwrap();
    assert_eq!(first, second);
}

#[test]
fn hostile_readme_keeps_no_script_event_style_or_dangerous_url() {
    let readme = r#"# Hostile

<script>alert(1)</script>

<img src="https://example.com/x.png" onerror="alert(2)">

[click](javascript:alert(3)) and [data](data:text/html;base64,PHNjcmlwdD4=)

<a href="data:text/html,<script>alert(4)</script>">raw data link</a>
<a href="JaVaScRiPt:alert(5)">raw js link</a>

<p style="position:fixed;top:0">styled</p>

<iframe src="https://evil.example/"></iframe>

<div onclick="alert(6)" onmouseover="alert(7)">hover</div>

[docs](docs/usage.md) ![diagram](images/arch.png) [top](#hostile)

<a href="../secrets.txt">raw relative</a> ![pixel](data:image/png;base64,iVBORw0KGgo=)

[home](https://example.com/home)
"#;
    let docs = docs_of(
        ArchiveBuilder::new()
            .file("main.tf", "")
            .file("README.md", readme)
            .build_tar_gz(),
    );
    let html = docs.root.readme_html.to_ascii_lowercase();
    for forbidden in [
        "<script",
        "onerror",
        "onclick",
        "onmouseover",
        "javascript:",
        "data:",
        "style=",
        "<iframe",
        "docs/usage.md",
        "images/arch.png",
        "#hostile",
        "secrets.txt",
    ] {
        assert!(!html.contains(forbidden), "{forbidden} survived in {html}");
    }
    // Relative targets become their text; absolute links stay, with rel set.
    assert!(html.contains("docs"), "{html}");
    assert!(html.contains("diagram"), "{html}");
    assert!(
        html.contains(r#"<a href="https://example.com/home" rel="noopener noreferrer">home</a>"#),
        "{html}"
    );
    assert_eq!(
        docs.root.readme, readme,
        "the raw README is kept as written"
    );
}

#[test]
fn invalid_hcl_marks_docs_unavailable_and_names_the_file_other_files_still_read() {
    let docs = docs_of(
        ArchiveBuilder::new()
            .file("broken.tf", "variable \"x\" {\n  type = \n")
            .file("outputs.tf", "output \"id\" { value = 1 }\n")
            .build_tar_gz(),
    );
    assert!(!docs.docs_available);
    assert_eq!(docs.parse_errors.len(), 1, "{:?}", docs.parse_errors);
    assert!(
        docs.parse_errors[0].starts_with("broken.tf: not valid HCL: "),
        "{}",
        docs.parse_errors[0]
    );
    assert_eq!(docs.root.outputs.len(), 1);
    assert!(!docs.root.empty);
}

#[test]
fn non_utf8_terraform_file_is_reported_not_a_panic() {
    let docs = docs_of(
        ArchiveBuilder::new()
            .file("main.tf", b"variable \"x\" { default = \"\xff\xfe\" }\n")
            .build_tar_gz(),
    );
    assert!(!docs.docs_available);
    assert_eq!(docs.parse_errors, ["main.tf: not UTF-8 text, not read"]);
    assert!(docs.root.empty);
}

#[test]
fn readme_over_the_limit_is_left_out_and_said_so() {
    let limits = DocsLimits {
        max_readme_bytes: 1024,
        ..DocsLimits::default()
    };
    let docs = extract_docs(
        ArchiveBuilder::new()
            .file("main.tf", "variable \"x\" {}\n")
            .file("README.md", "a".repeat(1025))
            .build_tar_gz()
            .as_slice(),
        &limits,
    );
    assert_eq!(docs.root.readme, "");
    assert_eq!(docs.root.readme_html, "");
    assert_eq!(
        docs.parse_errors,
        ["README.md: README larger than 1024 bytes, left out"]
    );
    assert!(docs.docs_available, "inputs and outputs are all there");
}

#[test]
fn terraform_files_beyond_the_limits_are_not_read() {
    let limits = DocsLimits {
        max_terraform_files: 3,
        max_terraform_file_bytes: 64,
        ..DocsLimits::default()
    };
    let mut archive = ArchiveBuilder::new().file(
        "big.tf",
        format!(
            "variable \"big\" {{ description = \"{}\" }}\n",
            "x".repeat(64)
        ),
    );
    for n in 0..5 {
        archive = archive.file(format!("v{n}.tf"), format!("variable \"v{n}\" {{}}\n"));
    }
    let docs = extract_docs(archive.build_tar_gz().as_slice(), &limits);
    assert!(!docs.docs_available);
    assert_eq!(
        docs.parse_errors,
        [
            "big.tf: larger than 64 bytes, not read",
            // big.tf counts: the limit is on the files met, read or not.
            "v2.tf: more than 3 Terraform files in the module, this and later ones not read",
        ]
    );
    let names: Vec<&str> = docs.root.inputs.iter().map(|i| i.name.as_str()).collect();
    assert_eq!(names, ["v0", "v1"]);
}

#[test]
fn terraform_json_files_are_reported_not_read() {
    let docs = docs_of(
        ArchiveBuilder::new()
            .file("main.tf", "variable \"x\" {}\n")
            .file("extra.tf.json", r#"{"variable": {"y": {}}}"#)
            .build_tar_gz(),
    );
    assert!(!docs.docs_available);
    assert_eq!(
        docs.parse_errors,
        ["extra.tf.json: Terraform JSON syntax (.tf.json) is not read for docs"]
    );
    assert_eq!(docs.root.inputs.len(), 1);
}

#[test]
fn readme_is_found_whatever_its_case() {
    let docs = docs_of(
        ArchiveBuilder::new()
            .file("main.tf", "")
            .file("readme.md", "lower\n")
            .file("modules/a/Readme.MD", "mixed\n")
            .build_tar_gz(),
    );
    assert_eq!(docs.root.readme, "lower\n");
    assert_eq!(docs.submodules[0].readme, "mixed\n");
    assert!(docs.submodules[0].empty);
}

#[test]
fn an_archive_that_is_not_gzip_is_reported() {
    let docs = extract_docs(&b"not an archive"[..], &DocsLimits::default());
    assert!(!docs.docs_available);
    assert_eq!(docs.parse_errors.len(), 1);
    assert!(
        docs.parse_errors[0].starts_with("the module archive could not be read: "),
        "{}",
        docs.parse_errors[0]
    );
}

#[test]
fn random_bytes_as_terraform_never_panic() {
    // A small xorshift generator: reproducible without a seed file, and no dependency.
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let alphabet = b"variable output resource module terraform {}[]()=\"'$#/*\n\t ,.:<>?!-EOT\\";
    for round in 0..300 {
        let len = (next() % 400) as usize;
        let bytes: Vec<u8> = (0..len)
            .map(|_| {
                let pick = next();
                if round % 2 == 0 {
                    alphabet[(pick % alphabet.len() as u64) as usize]
                } else {
                    pick as u8
                }
            })
            .collect();
        let docs = docs_of(
            ArchiveBuilder::new()
                .file("main.tf", &bytes)
                .file("README.md", &bytes)
                .build_tar_gz(),
        );
        serde_json::to_string(&docs).unwrap();
    }
}

#[test]
fn deeply_nested_hcl_is_an_error_not_a_stack_overflow() {
    let depth = 100_000;
    let text = format!(
        "variable \"x\" {{ default = {}1{} }}\n",
        "[".repeat(depth),
        "]".repeat(depth)
    );
    let docs = docs_of(ArchiveBuilder::new().file("main.tf", text).build_tar_gz());
    assert!(!docs.docs_available);
    assert!(docs.parse_errors[0].starts_with("main.tf: "));
}

#[test]
fn extraction_time_of_a_typical_module() {
    let archive = realistic_module();
    let runs = 50;
    let start = Instant::now();
    for _ in 0..runs {
        docs_of(archive.clone());
    }
    println!(
        "extract_docs, typical module ({} bytes gzipped): {:?} per run",
        archive.len(),
        start.elapsed() / runs
    );
}
