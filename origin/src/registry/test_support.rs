//! A registry over the embedded stores in a temporary directory, and requests as the edge
//! passes them on, for the handlers' unit tests.

use super::{OriginRequest, OriginResponse, Registry, RegistryConfig, RequestBody};
use crate::embedded::{FileArchiveStore, RedbTokenStore};
use std::sync::Arc;
use tfreg_edge::{ArchiveSigner, Identity, Tier, IDENTITY_HEADER};

pub struct TestRegistry {
    pub registry: Registry,
    pub dir: tempfile::TempDir,
}

impl TestRegistry {
    pub fn new() -> Self {
        Self::with_config(|_| {})
    }

    pub fn with_config(adjust: impl FnOnce(&mut RegistryConfig)) -> Self {
        let dir = tempfile::tempdir().expect("temporary directory");
        let archives = FileArchiveStore::open(dir.path()).expect("archive store");
        let tokens =
            Arc::new(RedbTokenStore::open(&dir.path().join("tokens.redb")).expect("token store"));
        let mut config = RegistryConfig::new(archives.staging_dir().to_path_buf());
        adjust(&mut config);
        let registry = Registry::new(
            Arc::new(archives),
            tokens,
            ArchiveSigner::new(b"test-key".to_vec()),
            config,
        );
        TestRegistry { registry, dir }
    }

    /// A request from a token named `caller` of `tier` (or from nobody).
    pub async fn send(
        &self,
        method: &str,
        path: &str,
        caller: Option<(&str, Tier)>,
        body: RequestBody,
    ) -> OriginResponse {
        let headers = caller
            .map(|(name, tier)| {
                let identity = Identity {
                    token_name: name.into(),
                    tier,
                };
                vec![(IDENTITY_HEADER.to_owned(), identity.to_header_value())]
            })
            .unwrap_or_default();
        self.registry
            .handle(OriginRequest {
                method: method.into(),
                path: path.into(),
                query: String::new(),
                headers,
                body,
            })
            .await
    }

    /// A request from a master token named "admin".
    pub async fn as_master(&self, method: &str, path: &str, body: &str) -> OriginResponse {
        let body = if body.is_empty() {
            RequestBody::Empty
        } else {
            RequestBody::Bytes(body.as_bytes().to_vec())
        };
        self.send(method, path, Some(("admin", Tier::Master)), body)
            .await
    }
}

/// The body of a JSON answer.
pub fn json(response: &OriginResponse) -> serde_json::Value {
    serde_json::from_slice(&response.body).expect("a JSON body")
}

/// A minimal module archive (tar.gz) with `main.tf` holding `text`.
pub fn module_tar_gz(text: &str) -> Vec<u8> {
    tar_gz(&[("main.tf", text)])
}

fn tar_gz(files: &[(&str, &str)]) -> Vec<u8> {
    let mut builder = tar::Builder::new(flate2::write::GzEncoder::new(
        Vec::new(),
        flate2::Compression::fast(),
    ));
    for (path, contents) in files {
        let mut header = tar::Header::new_gnu();
        header.set_size(contents.len() as u64);
        header.set_mode(0o644);
        header.set_cksum();
        builder
            .append_data(&mut header, path, contents.as_bytes())
            .expect("adding a file");
    }
    builder.into_inner().expect("tar").finish().expect("gzip")
}
