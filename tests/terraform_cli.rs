//! The real Terraform CLI (v1.0.3, from `tests/setup.sh`) installing modules from the real
//! `tfreg serve` binary over HTTPS, with credentials from a CLI config file.

mod common;

use common::cost_table;
use common::terraform::{module_block, terraform_init};
use common::TestRegistry;
use std::path::Path;
use tfreg_testkit::archive::{module_archive, versioned_module};

async fn publish(registry: &TestRegistry, module: &str, versions: &[&str]) {
    for version in versions {
        let reply = registry
            .upload(
                module,
                version,
                versioned_module(version),
                &registry.master_token,
            )
            .await;
        assert_eq!(reply.status, 201, "{module} {version}: {}", reply.text());
    }
}

#[tokio::test]
async fn terraform_init_resolves_constraints_and_installs_the_chosen_versions() {
    let registry = TestRegistry::start();
    publish(
        &registry,
        "acme/vpc/aws",
        &["1.0.0", "1.1.0", "1.1.5", "1.2.0", "1.10.0", "2.0.0"],
    )
    .await;
    publish(&registry, "acme/dns/aws", &["0.3.0", "0.3.1"]).await;
    let reader = registry.create_token("ci-read", "downloader").await;

    let main_tf = [
        module_block(&registry, "vpc", "acme/vpc/aws", "~> 1.1"),
        module_block(&registry, "vpc_patch", "acme/vpc/aws", "~> 1.1.0"),
        module_block(&registry, "dns", "acme/dns/aws", "0.3.0"),
    ]
    .concat();
    let run = terraform_init(&registry, &main_tf, Some(&reader));
    assert!(
        run.succeeded(),
        "terraform init failed:\n{}\n{}",
        run.stdout(),
        run.stderr()
    );

    let installed = run.installed();
    let source = |m: &str| format!("{}/{m}", registry.host);
    assert_eq!(installed["vpc"], (source("acme/vpc/aws"), "1.10.0".into()));
    assert_eq!(
        installed["vpc_patch"],
        (source("acme/vpc/aws"), "1.1.5".into())
    );
    assert_eq!(installed["dns"], (source("acme/dns/aws"), "0.3.0".into()));
    // The files Terraform unpacked are the module root of the chosen version.
    assert!(run
        .file(".terraform/modules/vpc/main.tf")
        .contains("value = \"1.10.0\""));
    assert!(run
        .file(".terraform/modules/vpc_patch/main.tf")
        .contains("value = \"1.1.5\""));
    assert!(run
        .file(".terraform/modules/dns/README.md")
        .contains("A test module."));
}

#[tokio::test]
async fn terraform_installs_a_module_uploaded_with_a_top_folder_and_submodules() {
    let registry = TestRegistry::start();
    let archive = module_archive(&[
        (
            "network-2.1.0/main.tf",
            "module \"sub\" {\n  source = \"./modules/sub\"\n}\n",
        ),
        (
            "network-2.1.0/modules/sub/main.tf",
            "output \"x\" {\n  value = 1\n}\n",
        ),
    ]);
    let reply = registry
        .upload("acme/network/aws", "2.1.0", archive, &registry.master_token)
        .await;
    assert_eq!(reply.status, 201, "{}", reply.text());
    let main_tf = module_block(&registry, "net", "acme/network/aws", "2.1.0");
    let run = terraform_init(&registry, &main_tf, Some(&registry.master_token));
    assert!(run.succeeded(), "{}", run.stderr());
    assert!(run
        .file(".terraform/modules/net/modules/sub/main.tf")
        .contains("value = 1"));
}

#[tokio::test]
async fn terraform_installs_a_module_uploaded_as_a_zip() {
    use std::io::Write;
    let registry = TestRegistry::start();
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default();
    zip.start_file("main.tf", options).unwrap();
    zip.write_all(b"output \"from\" {\n  value = \"zip\"\n}\n")
        .unwrap();
    zip.add_directory("scripts/", options).unwrap();
    zip.start_file("scripts/setup.sh", options.unix_permissions(0o755))
        .unwrap();
    zip.write_all(b"#!/bin/sh\necho hi\n").unwrap();
    let archive = zip.finish().unwrap().into_inner();
    let reply = registry
        .upload("acme/zipped/aws", "1.0.0", archive, &registry.master_token)
        .await;
    assert_eq!(reply.status, 201, "{}", reply.text());

    let main_tf = module_block(&registry, "zipped", "acme/zipped/aws", "1.0.0");
    let run = terraform_init(&registry, &main_tf, Some(&registry.master_token));
    assert!(run.succeeded(), "{}", run.stderr());
    assert!(run
        .file(".terraform/modules/zipped/main.tf")
        .contains("value = \"zip\""));
    use std::os::unix::fs::PermissionsExt;
    let script = run
        .dir
        .path()
        .join(".terraform/modules/zipped/scripts/setup.sh");
    let mode = std::fs::metadata(script).unwrap().permissions().mode();
    assert_eq!(
        mode & 0o111,
        0o111,
        "the executable bit survives normalisation"
    );
}

#[tokio::test]
async fn terraform_init_with_a_wrong_or_missing_token_fails_with_an_auth_error() {
    let registry = TestRegistry::start();
    publish(&registry, "acme/vpc/aws", &["1.0.0"]).await;
    let main_tf = module_block(&registry, "vpc", "acme/vpc/aws", "~> 1.0");

    let wrong = terraform_init(&registry, &main_tf, Some("tfr_0000000000000000"));
    assert!(!wrong.succeeded(), "init with a wrong token must fail");
    assert!(
        wrong.stderr().contains("401 Unauthorized"),
        "{}",
        wrong.stderr()
    );
    assert!(!wrong.dir.path().join(".terraform/modules/vpc").exists());

    let missing = terraform_init(&registry, &main_tf, None);
    assert!(!missing.succeeded(), "init without a token must fail");
    assert!(
        missing.stderr().contains("401 Unauthorized"),
        "{}",
        missing.stderr()
    );
}

#[tokio::test]
async fn terraform_verifies_the_archive_checksum() {
    let registry = TestRegistry::start();
    publish(&registry, "acme/vpc/aws", &["1.0.0"]).await;
    // Swap the stored archive for another valid one behind the registry's back: the download
    // answer still carries the original checksum, and Terraform must refuse what it gets.
    let stored = registry
        .data_dir
        .path()
        .join("modules/acme/vpc/aws/1.0.0/module.tar.gz");
    assert!(Path::new(&stored).exists());
    std::fs::write(&stored, versioned_module("tampered")).unwrap();

    let main_tf = module_block(&registry, "vpc", "acme/vpc/aws", "1.0.0");
    let run = terraform_init(&registry, &main_tf, Some(&registry.master_token));
    assert!(
        !run.succeeded(),
        "a tampered archive must fail terraform init"
    );
    assert!(
        run.stderr()
            .to_lowercase()
            .contains("checksums did not match"),
        "{}",
        run.stderr()
    );
}

/// The requests `tfreg serve` logged (`TFREG_LOG_FORMAT=json`) after byte `from` of its
/// stderr, by method and route. Waits for the log to settle: the drain thread may lag behind
/// the server.
fn logged_requests(registry: &TestRegistry, from: usize) -> cost_table::RequestCounts {
    let mut seen = 0;
    for _ in 0..50 {
        std::thread::sleep(std::time::Duration::from_millis(100));
        let len = registry.stderr.lock().unwrap().len();
        if len == seen {
            break;
        }
        seen = len;
    }
    let log = registry.stderr.lock().unwrap()[from..].to_owned();
    let mut counts = cost_table::RequestCounts::new();
    for line in log.lines() {
        let Ok(entry) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        let fields = &entry["fields"];
        if fields["message"] != "request" {
            continue;
        }
        let path = fields["path"].as_str().unwrap();
        let status = fields["status"].as_u64().unwrap();
        assert!(status < 400, "{line}");
        let route = cost_table::route_of(path).unwrap_or_else(|| panic!("unexpected {line}"));
        let method = fields["method"].as_str().unwrap().to_owned();
        *counts.entry((method, route)).or_default() += 1;
    }
    counts
}

/// The cost table in terraform/README.md counts requests per install; this measures them
/// with the real CLI, so a change in either Terraform's behaviour, the registry's routes or the
/// table fails here.
#[tokio::test]
async fn one_install_makes_the_requests_the_cost_table_counts() {
    let registry = TestRegistry::start_with_env(&[], &[("TFREG_LOG_FORMAT", "json")]);
    publish(&registry, "acme/vpc/aws", &["1.0.0"]).await;
    let reader = registry.create_token("ci-read", "downloader").await;
    let from = registry.stderr.lock().unwrap().len();
    let main_tf = module_block(&registry, "vpc", "acme/vpc/aws", "1.0.0");
    let run = terraform_init(&registry, &main_tf, Some(&reader));
    assert!(run.succeeded(), "{}", run.stderr());
    let measured = logged_requests(&registry, from);

    let table = cost_table::parse(&cost_table::readme());
    let documented: cost_table::RequestCounts = table
        .per_install
        .iter()
        .map(|(request, (count, _))| (request.clone(), *count))
        .collect();
    assert_eq!(
        measured, documented,
        "measured requests per install vs terraform/README.md's table"
    );

    let requests: u64 = documented.values().sum();
    let with_function: u64 = table
        .per_install
        .values()
        .filter(|(_, function)| *function)
        .map(|(count, _)| count)
        .sum();
    let row = |name: &str| {
        table
            .cost_rows
            .get(name)
            .unwrap_or_else(|| panic!("no {name:?} row in the cost table"))
    };
    // Prices as the README lists them: CloudFront $1.00/M; Lambda@Edge $0.60/M + $0.00005001
    // per GB-s at 1 ms and 128 MB, so 125 GB-s per million.
    for cell in &row("CloudFront requests")[..2] {
        let (dollars, counts) = cost_table::dollars_and_counts(cell);
        assert_eq!(
            counts.first().copied().unwrap_or(requests as f64),
            requests as f64,
            "{cell}"
        );
        assert!((dollars - requests as f64).abs() < 0.005, "{cell}");
    }
    for cell in &row("Lambda@Edge")[..2] {
        let (dollars, counts) = cost_table::dollars_and_counts(cell);
        let gb_seconds = with_function as f64 * 125.0;
        assert_eq!(counts, vec![with_function as f64, gb_seconds], "{cell}");
        let expected = with_function as f64 * 0.60 + gb_seconds * 0.000_050_01;
        assert!(
            (dollars - expected).abs() < 0.005 + 1e-9,
            "{cell}: {expected}"
        );
    }
    // Each column's total is the sum of its rows.
    for column in 0..3 {
        let mut sum = 0.0;
        for (name, cells) in &table.cost_rows {
            if name.starts_with("**") || name.starts_with("optional") || name.starts_with("per ") {
                continue;
            }
            if cells[column].starts_with('$') {
                sum += cost_table::dollars_and_counts(&cells[column]).0;
            }
        }
        let (total, _) = cost_table::dollars_and_counts(&row("**total**")[column]);
        assert!(
            (total - sum).abs() < 0.015,
            "column {column}: {total} vs {sum}"
        );
    }
}
