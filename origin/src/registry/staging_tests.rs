//! The large-upload path's finalize over a staging area in memory (S3 on AWS: tests/origin_lambda.rs
//! runs it against moto): what a refused finalize leaves behind.

use super::test_support::{json, module_tar_gz, TestRegistry};
use crate::registry::http::RequestBody;
use crate::storage::{ArchiveBody, StagingKey, StorageError, UploadStaging};
use async_trait::async_trait;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use tfreg_edge::Tier;

/// Staged archives by `{key}/{upload_id}`, as a client would have PUT them to the URL.
#[derive(Default)]
struct MemoryStaging {
    objects: Mutex<BTreeMap<String, Vec<u8>>>,
}

fn object_name(key: &StagingKey, upload_id: &str) -> String {
    format!("{key}/{upload_id}")
}

impl MemoryStaging {
    fn put(&self, module_version: &str, upload_id: &str, bytes: Vec<u8>) {
        let name = format!("{module_version}/{upload_id}");
        self.objects.lock().unwrap().insert(name, bytes);
    }

    fn snapshot(&self) -> BTreeMap<String, Vec<u8>> {
        self.objects.lock().unwrap().clone()
    }
}

#[async_trait]
impl UploadStaging for MemoryStaging {
    async fn upload_url(
        &self,
        key: &StagingKey,
        upload_id: &str,
        _expires_in_secs: u64,
    ) -> Result<String, StorageError> {
        Ok(format!(
            "https://staging.invalid/{}",
            object_name(key, upload_id)
        ))
    }

    async fn open(
        &self,
        key: &StagingKey,
        upload_id: &str,
    ) -> Result<Option<ArchiveBody>, StorageError> {
        let objects = self.objects.lock().unwrap();
        Ok(objects
            .get(&object_name(key, upload_id))
            .map(|bytes| ArchiveBody {
                len: bytes.len() as u64,
                reader: Box::pin(std::io::Cursor::new(bytes.clone())),
            }))
    }

    async fn delete(&self, key: &StagingKey, upload_id: &str) -> Result<(), StorageError> {
        self.objects
            .lock()
            .unwrap()
            .remove(&object_name(key, upload_id));
        Ok(())
    }
}

const VERSION: &str = "/v1/modules/acme/vpc/aws/1.0.0";

async fn start(registry: &TestRegistry) -> String {
    let started = registry
        .send(
            "POST",
            &format!("{VERSION}/uploads"),
            Some(("ci", Tier::Uploader)),
            RequestBody::Empty,
        )
        .await;
    assert_eq!(
        started.status,
        201,
        "{}",
        String::from_utf8_lossy(&started.body)
    );
    let body = json(&started);
    assert!(body["upload_url"]
        .as_str()
        .unwrap()
        .starts_with("https://staging.invalid/"));
    body["upload_id"].as_str().unwrap().to_owned()
}

async fn version_status(registry: &TestRegistry) -> u16 {
    registry.get(VERSION).await.status
}

/// Who finalizes (a token name and tier, or nobody), with which scopes, and the status.
type Refusal<'a> = (&'a str, Option<(&'a str, Tier)>, &'a [&'a str], u16);

#[tokio::test]
async fn a_refused_finalize_leaves_the_staged_archive_as_it_was() {
    let staging = Arc::new(MemoryStaging::default());
    let registry = TestRegistry::new().with_upload_staging(staging.clone());
    let upload_id = start(&registry).await;
    staging.put(
        "acme/vpc/aws/1.0.0",
        &upload_id,
        module_tar_gz("# staged\n"),
    );
    let staged = staging.snapshot();
    assert_eq!(staged.len(), 1);
    let finalize = format!("{VERSION}/uploads/{upload_id}");

    let refusals: [Refusal; 4] = [
        ("nobody", None, &[], 401),
        ("a downloader", Some(("reader", Tier::Downloader)), &[], 403),
        (
            "an uploader out of scope",
            Some(("net", Tier::Uploader)),
            &["acme/network"],
            403,
        ),
        ("another upload id", Some(("ci", Tier::Uploader)), &[], 404),
    ];
    for (who, caller, scopes, status) in refusals {
        let path = if who == "another upload id" {
            format!("{VERSION}/uploads/{}", "0".repeat(32))
        } else {
            finalize.clone()
        };
        let response = match caller {
            Some(caller) => {
                registry
                    .send_scoped("POST", &path, caller, scopes, RequestBody::Empty)
                    .await
            }
            None => registry.send("POST", &path, None, RequestBody::Empty).await,
        };
        assert_eq!(response.status, status, "{who}");
        assert_eq!(
            staging.snapshot(),
            staged,
            "{who}: the staged archive changed"
        );
        assert_eq!(
            version_status(&registry).await,
            404,
            "{who}: a version appeared"
        );
    }

    // The owner's finalize still publishes it, and only then is the staged object gone.
    let published = registry
        .send(
            "POST",
            &finalize,
            Some(("ci", Tier::Uploader)),
            RequestBody::Empty,
        )
        .await;
    assert_eq!(
        published.status,
        201,
        "{}",
        String::from_utf8_lossy(&published.body)
    );
    assert_eq!(version_status(&registry).await, 200);
    assert!(staging.snapshot().is_empty());
}

/// Over the staged limit: `413`, nothing published, and the staged object removed (the
/// answer is settled: finalizing again cannot succeed).
#[tokio::test]
async fn a_staged_archive_over_the_limit_is_413_and_publishes_nothing() {
    let staging = Arc::new(MemoryStaging::default());
    let registry = TestRegistry::with_config(|config| config.max_staged_upload_bytes = 64)
        .with_upload_staging(staging.clone());
    let upload_id = start(&registry).await;
    let archive = module_tar_gz(&"# padding\n".repeat(100));
    assert!(archive.len() > 64);
    staging.put("acme/vpc/aws/1.0.0", &upload_id, archive);
    let response = registry
        .send(
            "POST",
            &format!("{VERSION}/uploads/{upload_id}"),
            Some(("ci", Tier::Uploader)),
            RequestBody::Empty,
        )
        .await;
    assert_eq!(
        response.status,
        413,
        "{}",
        String::from_utf8_lossy(&response.body)
    );
    assert_eq!(version_status(&registry).await, 404);
    assert!(
        staging.snapshot().is_empty(),
        "a settled refusal removes the staged object"
    );
}
