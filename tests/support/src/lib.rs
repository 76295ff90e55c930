//! Test support shared by the workspace's tests and benches, as one crate instead of files
//! reached by `#[path]` across crates. Nothing here ships: every package takes it as a
//! dev-dependency.
//!
//! - [`archive`]: builds module archives (tar, tar.gz, zip), hostile ones included.
//! - [`moto`]: a local S3 + DynamoDB protocol server (moto) on a free loopback port.
//! - [`faults`]: a fault-injecting proxy in front of it (S3/DynamoDB errors, resets, stalls).
//! - [`lambda_api`]: a stand-in for the Lambda Runtime API, to run the real `bootstrap`.
//! - [`upstream`]: stand-ins for the public registry and GitHub's archive host.
//! - [`oidc`]: a stand-in OIDC issuer over HTTPS (discovery, JWKS) and token signing.

pub mod archive;
pub mod faults;
pub mod lambda_api;
pub mod moto;
pub mod oidc;
pub mod upstream;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;

/// The workspace's root folder (this crate lives in `tests/support`).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .expect("the package lives in the workspace's tests/support")
        .to_path_buf()
}

/// A tool the project installs into `.venv` (`relative` to the workspace root, such as
/// `.venv/bin/terraform`), running `tests/setup.sh` first if it is not there yet.
pub fn project_tool(relative: &str) -> PathBuf {
    // One set-up at a time, however many tests ask at once.
    static SETUP: Mutex<()> = Mutex::new(());
    let root = workspace_root();
    let tool = root.join(relative);
    let _one_at_a_time = SETUP
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    if !tool.exists() {
        let status = Command::new("bash")
            .arg(root.join("tests/setup.sh"))
            .status()
            .expect("running tests/setup.sh");
        assert!(status.success(), "tests/setup.sh failed");
        assert!(tool.exists(), "tests/setup.sh did not install {relative}");
    }
    tool
}
