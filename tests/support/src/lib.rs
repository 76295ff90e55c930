//! Test support shared by the workspace's tests and benches, as one crate instead of files
//! reached by `#[path]` across crates. Nothing here ships: every package takes it as a
//! dev-dependency.
//!
//! - [`archive`]: builds module archives (tar, tar.gz, zip), hostile ones included.
//! - [`moto`]: a local S3 + DynamoDB protocol server (moto) on a free loopback port.
//! - [`lambda_api`]: a stand-in for the Lambda Runtime API, to run the real `bootstrap`.
//! - [`upstream`]: stand-ins for the public registry and GitHub's archive host.

pub mod archive;
pub mod lambda_api;
pub mod moto;
pub mod upstream;
