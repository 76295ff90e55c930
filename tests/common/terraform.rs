//! The real Terraform CLI (v1.0.3, from `tests/setup.sh`) run against a `TestRegistry`.

use super::{terraform_binary, TestRegistry};
use std::process::{Command, Output};

pub struct TerraformRun {
    pub output: Output,
    pub dir: tempfile::TempDir,
}

impl TerraformRun {
    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.output.stderr).into_owned()
    }

    pub fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.output.stdout).into_owned()
    }

    pub fn succeeded(&self) -> bool {
        self.output.status.success()
    }

    /// `key -> (source, version)` from `.terraform/modules/modules.json`.
    pub fn installed(&self) -> std::collections::BTreeMap<String, (String, String)> {
        let manifest = std::fs::read(self.dir.path().join(".terraform/modules/modules.json"))
            .expect("modules.json");
        let manifest: serde_json::Value = serde_json::from_slice(&manifest).unwrap();
        manifest["Modules"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|m| m["Key"] != "")
            .map(|m| {
                (
                    m["Key"].as_str().unwrap().to_owned(),
                    (
                        m["Source"].as_str().unwrap().to_owned(),
                        m["Version"].as_str().unwrap_or_default().to_owned(),
                    ),
                )
            })
            .collect()
    }

    pub fn file(&self, path: &str) -> String {
        std::fs::read_to_string(self.dir.path().join(path))
            .unwrap_or_else(|e| panic!("{path}: {e}"))
    }
}

/// Runs `terraform init` on a root module made of `main_tf`, with a CLI config that holds
/// `token` (if any) for the registry's host. Every variable Terraform reads for TLS and
/// credentials is set here, so the machine's own settings play no part.
pub fn terraform_init(registry: &TestRegistry, main_tf: &str, token: Option<&str>) -> TerraformRun {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("main.tf"), main_tf).unwrap();
    let cli_config = dir.path().join("terraform.rc");
    let credentials = match token {
        Some(token) => format!(
            "credentials \"{}\" {{\n  token = \"{token}\"\n}}\n",
            registry.host
        ),
        None => String::new(),
    };
    std::fs::write(&cli_config, credentials).unwrap();
    let empty_cert_dir = dir.path().join("no-certs");
    std::fs::create_dir(&empty_cert_dir).unwrap();
    let output = Command::new(terraform_binary())
        .args(["init", "-input=false", "-no-color", "-backend=false"])
        .current_dir(dir.path())
        .env("TF_CLI_CONFIG_FILE", &cli_config)
        .env("SSL_CERT_FILE", &registry.ca_pem)
        .env("SSL_CERT_DIR", &empty_cert_dir)
        .env("CHECKPOINT_DISABLE", "1")
        .env("TF_IN_AUTOMATION", "1")
        .env("HOME", dir.path())
        .env_remove("TF_LOG")
        .env_remove("TF_PLUGIN_CACHE_DIR")
        .output()
        .expect("running terraform");
    TerraformRun { output, dir }
}

/// A `module` block installing `module` (`ns/name/system`) from `registry` at `version`.
pub fn module_block(registry: &TestRegistry, key: &str, module: &str, version: &str) -> String {
    format!(
        "module \"{key}\" {{\n  source  = \"{}/{module}\"\n  version = \"{version}\"\n}}\n",
        registry.host
    )
}
