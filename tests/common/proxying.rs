//! Proxy mode's test fixtures: stand-ins for the public registry and GitHub's archive host with
//! one module per download form, the flags that point `tfreg serve` at them, and Terraform runs
//! against the proxy.

use super::terraform::{terraform_init, TerraformRun};
use super::{Reply, TestRegistry};
use tfreg_testkit::upstream::{sample_repo, Download, StandIns};

pub const CONSUL_SHA: &str = "0123456789abcdef0123456789abcdef01234567";
pub const MODS_SHA: &str = "89abcdef0123456789abcdef0123456789abcdef";

/// Stand-ins with one module per download form the public registry (or a private one) uses.
pub async fn upstream() -> StandIns {
    let upstream = StandIns::start().await;
    upstream
        .repo(
            "hashicorp",
            "terraform-aws-consul",
            CONSUL_SHA,
            sample_repo("consul"),
        )
        .repo(
            "acme-oss",
            "terraform-aws-vpc",
            "v1.2.0",
            sample_repo("vpc"),
        )
        .repo("acme-oss", "modules", "v2.0.0", sample_repo("mods"))
        .repo("acme-oss", "modules", MODS_SHA, sample_repo("mods-sha"))
        .module(
            "hashicorp/consul/aws",
            [
                // Out of order on purpose: the registry sorts.
                (
                    "0.2.0",
                    Download::git("hashicorp", "terraform-aws-consul", CONSUL_SHA),
                ),
                (
                    "0.11.0",
                    Download::git("hashicorp", "terraform-aws-consul", CONSUL_SHA),
                ),
                (
                    "0.1.0",
                    Download::git("hashicorp", "terraform-aws-consul", CONSUL_SHA),
                ),
            ],
        )
        .module(
            "acme-oss/vpc/aws",
            [(
                "1.2.0",
                Download::github_archive("acme-oss", "terraform-aws-vpc", "v1.2.0", "*"),
            )],
        )
        .module(
            "acme-oss/sub/aws",
            [(
                "2.0.0",
                Download::github_archive("acme-oss", "modules", "v2.0.0", "modules/sub"),
            )],
        )
        .module(
            "acme-oss/gitsub/aws",
            [(
                "3.0.0",
                Download::git_subdir("acme-oss", "modules", MODS_SHA, "modules/sub"),
            )],
        )
        .module(
            "acme-oss/relative/aws",
            [(
                "0.1.0",
                Download::root_relative(&[
                    ("main.tf", "output \"which\" { value = \"relative\" }\n"),
                    ("vars.tf", "# relative vars\n"),
                ]),
            )],
        )
        .module(
            "acme-oss/redirected/aws",
            [("4.0.0", Download::redirect("acme-oss", "modules", MODS_SHA))],
        );
    upstream
}

pub fn proxy_args<'a>(upstream: &'a StandIns, extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec![
        "--proxy",
        "--proxy-upstream",
        upstream.registry_url(),
        "--proxy-github-archive-url",
        upstream.github_url(),
    ];
    // The stand-ins change and fail per request: every versions request asks them (the
    // cache of upstream version lists has its own test).
    if !extra.contains(&"--proxy-versions-ttl") {
        args.extend_from_slice(&["--proxy-versions-ttl", "0"]);
    }
    args.extend_from_slice(extra);
    args
}

/// `terraform init` off the async runtime's thread, so the in-process stand-ins keep serving.
pub fn init(registry: &TestRegistry, main_tf: &str, token: &str) -> TerraformRun {
    tokio::task::block_in_place(|| terraform_init(registry, main_tf, Some(token)))
}

pub fn assert_succeeded(run: &TerraformRun) {
    assert!(
        run.succeeded(),
        "terraform init failed:\n{}\n{}",
        run.stdout(),
        run.stderr()
    );
}

pub fn files_of(run: &TerraformRun, key: &str) -> Vec<String> {
    let root = run.dir.path().join(".terraform/modules").join(key);
    let mut files = Vec::new();
    let mut stack = vec![root.clone()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{dir:?}: {e}")) {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                files.push(path.strip_prefix(&root).unwrap().display().to_string());
            }
        }
    }
    files.sort();
    files
}

pub async fn versions(registry: &TestRegistry, module: &str, token: &str) -> Reply {
    registry
        .get(&format!("/v1/modules/{module}/versions"), Some(token))
        .await
}

pub fn listed(reply: &Reply) -> Vec<String> {
    reply.json()["modules"][0]["versions"]
        .as_array()
        .unwrap_or_else(|| panic!("no versions in {}", reply.text()))
        .iter()
        .map(|v| v["version"].as_str().unwrap().to_owned())
        .collect()
}
