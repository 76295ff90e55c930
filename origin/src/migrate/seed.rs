//! Reading the seed deployment: its S3 bucket of archives and its DynamoDB table of tokens.
//! Only reads: nothing in the seed deployment is changed.

use super::plan::SeedToken;
use crate::aws::aws_sdk_dynamodb::types::AttributeValue;
use crate::aws::{aws_sdk_dynamodb, aws_sdk_s3, SdkConfig};
use crate::storage::{ArchiveBody, StorageError};
use async_trait::async_trait;
use aws_sdk_s3::error::DisplayErrorContext;
use std::collections::HashMap;

/// An object of the seed bucket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeedObject {
    /// The full key, prefix included.
    pub key: String,
    pub size: u64,
    /// When it was written (RFC 3339), which for the seed is when it was uploaded or pinned.
    pub last_modified: Option<String>,
}

/// Where the migration reads from. [`AwsSeed`] reads a real deployment; the tests read
/// fakes.
#[async_trait]
pub trait SeedDeployment: Send + Sync {
    /// The key prefix the seed's archives live under (empty for the bucket root).
    fn prefix(&self) -> &str;

    /// `s3://bucket/key`, for reports and provenance.
    fn object_url(&self, key: &str) -> String;

    /// Every object under the prefix.
    async fn list_objects(&self) -> Result<Vec<SeedObject>, StorageError>;

    async fn open_object(&self, key: &str) -> Result<ArchiveBody, StorageError>;

    /// Every item of the token table.
    async fn list_tokens(&self) -> Result<Vec<SeedToken>, StorageError>;
}

/// The seed deployment on AWS (or a server speaking S3 and DynamoDB).
pub struct AwsSeed {
    s3: aws_sdk_s3::Client,
    dynamodb: aws_sdk_dynamodb::Client,
    bucket: String,
    prefix: String,
    token_table: String,
}

impl AwsSeed {
    /// Path-style S3 addressing when the configuration overrides the endpoint, as the
    /// archive store does.
    pub fn new(config: &SdkConfig, bucket: &str, prefix: &str, token_table: &str) -> Self {
        let s3_config = aws_sdk_s3::config::Builder::from(config)
            .force_path_style(config.endpoint_url().is_some())
            .build();
        let prefix = prefix.trim_start_matches('/');
        let prefix = if prefix.is_empty() || prefix.ends_with('/') {
            prefix.to_owned()
        } else {
            format!("{prefix}/")
        };
        AwsSeed {
            s3: aws_sdk_s3::Client::from_conf(s3_config),
            dynamodb: aws_sdk_dynamodb::Client::new(config),
            bucket: bucket.to_owned(),
            prefix,
            token_table: token_table.to_owned(),
        }
    }
}

fn seed_error(what: &str, error: impl std::error::Error) -> StorageError {
    StorageError::Backend(format!(
        "reading the Python registry's {what}: {}",
        DisplayErrorContext(&error)
    ))
}

fn string_attribute(item: &HashMap<String, AttributeValue>, name: &str) -> Option<String> {
    item.get(name).and_then(|v| v.as_s().ok()).cloned()
}

#[async_trait]
impl SeedDeployment for AwsSeed {
    fn prefix(&self) -> &str {
        &self.prefix
    }

    fn object_url(&self, key: &str) -> String {
        format!("s3://{}/{key}", self.bucket)
    }

    async fn list_objects(&self) -> Result<Vec<SeedObject>, StorageError> {
        let mut objects = Vec::new();
        let mut continuation = None;
        loop {
            let page = self
                .s3
                .list_objects_v2()
                .bucket(&self.bucket)
                .prefix(&self.prefix)
                .set_continuation_token(continuation)
                .send()
                .await
                .map_err(|e| seed_error(&format!("bucket s3://{}", self.bucket), e))?;
            for object in page.contents() {
                let Some(key) = object.key() else { continue };
                objects.push(SeedObject {
                    key: key.to_owned(),
                    size: object.size().unwrap_or(0).max(0) as u64,
                    last_modified: object
                        .last_modified()
                        .and_then(|t| t.fmt(aws_sdk_s3::primitives::DateTimeFormat::DateTime).ok()),
                });
            }
            match page.next_continuation_token() {
                Some(token) if page.is_truncated() == Some(true) => {
                    continuation = Some(token.to_owned())
                }
                _ => break,
            }
        }
        objects.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(objects)
    }

    async fn open_object(&self, key: &str) -> Result<ArchiveBody, StorageError> {
        let object = self
            .s3
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
            .map_err(|e| seed_error(&format!("object {}", self.object_url(key)), e))?;
        Ok(ArchiveBody {
            len: object.content_length().unwrap_or(0).max(0) as u64,
            reader: Box::pin(object.body.into_async_read()),
        })
    }

    async fn list_tokens(&self) -> Result<Vec<SeedToken>, StorageError> {
        let mut tokens = Vec::new();
        let mut start = None;
        loop {
            let page = self
                .dynamodb
                .scan()
                .table_name(&self.token_table)
                .consistent_read(true)
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(|e| seed_error(&format!("token table {}", self.token_table), e))?;
            for item in page.items() {
                tokens.push(SeedToken {
                    token_value: string_attribute(item, "token_value"),
                    token_name: string_attribute(item, "token_name"),
                    permission: string_attribute(item, "permission"),
                    created_at: string_attribute(item, "created_at"),
                });
            }
            match page.last_evaluated_key() {
                Some(key) if !key.is_empty() => start = Some(key.clone()),
                _ => break,
            }
        }
        Ok(tokens)
    }
}
