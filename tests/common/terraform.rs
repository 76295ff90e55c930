//! The real Terraform CLI (v1.0.3, from `tests/setup.sh`) run against a `TestRegistry`.

use super::{terraform_binary, TestRegistry};
use std::path::{Path, PathBuf};
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
    terraform_init_with(&terraform_binary(), registry, main_tf, token)
}

/// The Terraform CLIs to run a test with: the project's v1.0.3, then a second, newer one
/// when the machine has it: `TFREG_TEST_TERRAFORM` if set, else the first `terraform` on
/// `PATH` that is not v1.0.3. Each comes with its `terraform version` line. The registries
/// the project installs from ship only v1.0.3, so the second is whatever the machine offers.
pub fn terraform_clis() -> Vec<(PathBuf, String)> {
    let version = |binary: &Path| -> Option<String> {
        let output = Command::new(binary)
            .arg("version")
            .env("CHECKPOINT_DISABLE", "1")
            .env("TF_CLI_CONFIG_FILE", "/dev/null")
            .output()
            .ok()?;
        let text = String::from_utf8_lossy(&output.stdout);
        text.lines().next().map(str::to_owned)
    };
    let first = terraform_binary();
    let first_version = version(&first).expect("the project's Terraform runs");
    let mut clis = vec![(first, first_version.clone())];
    let candidates: Vec<PathBuf> = match std::env::var_os("TFREG_TEST_TERRAFORM") {
        Some(path) => vec![PathBuf::from(path)],
        None => std::env::var_os("PATH")
            .map(|path| {
                std::env::split_paths(&path)
                    .map(|dir| dir.join("terraform"))
                    .filter(|p| p.is_file())
                    .collect()
            })
            .unwrap_or_default(),
    };
    if let Some(second) = candidates.into_iter().find_map(|binary| {
        let v = version(&binary)?;
        (v.starts_with("Terraform v") && v != first_version).then_some((binary, v))
    }) {
        clis.push(second);
    } else {
        eprintln!("only {first_version} here: set TFREG_TEST_TERRAFORM to a second Terraform CLI to run with it too");
    }
    clis
}

/// [`terraform_init`] with the CLI at `binary`.
pub fn terraform_init_with(
    binary: &Path,
    registry: &TestRegistry,
    main_tf: &str,
    token: Option<&str>,
) -> TerraformRun {
    terraform_init_with_config(binary, registry, main_tf, token, "")
}

/// [`terraform_init_with`] and more CLI configuration (`provider_installation { … }`).
pub fn terraform_init_with_config(
    binary: &Path,
    registry: &TestRegistry,
    main_tf: &str,
    token: Option<&str>,
    cli_config_extra: &str,
) -> TerraformRun {
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
    std::fs::write(&cli_config, format!("{credentials}{cli_config_extra}")).unwrap();
    let empty_cert_dir = dir.path().join("no-certs");
    std::fs::create_dir(&empty_cert_dir).unwrap();
    let output = Command::new(binary)
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
