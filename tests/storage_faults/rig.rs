//! The rig every case runs on: moto behind the fault proxy, the registry over the S3 and
//! DynamoDB stores whose SDK clients talk to the proxy, and clients straight to moto that check
//! what was really stored.

use std::sync::Arc;
use std::time::Duration;
use tfreg_edge::{Identity, Tier, IDENTITY_HEADER};
use tfreg_origin::aws::aws_sdk_dynamodb::types::AttributeValue;
use tfreg_origin::aws::{aws_sdk_dynamodb, aws_sdk_s3, DynamoTokenStore, S3ArchiveStore};
use tfreg_origin::proxy::{Proxy, ProxyConfig};
use tfreg_origin::signed_url::UrlSigner;
use tfreg_origin::{OriginRequest, OriginResponse, Registry, RegistryConfig, RequestBody};
use tfreg_testkit::faults::FaultProxy;
use tfreg_testkit::moto::{self, Moto};
use tfreg_testkit::upstream::{Download, StandIns};

/// How long the registry's SDK clients wait for an answer before they try again: short, so
/// that a stalled request costs the tests seconds, not minutes.
pub const SDK_READ_TIMEOUT: Duration = Duration::from_millis(1000);
/// A stall that outlasts it.
pub const STALL: Duration = Duration::from_millis(1500);

/// The upstream module pins copy from.
pub const PINNED_MODULE: &str = "hashicorp/consul/aws";
const CONSUL_SHA: &str = "0123456789abcdef0123456789abcdef01234567";
/// How many versions the upstream offers to pin (`0.0.0` to `0.{n-1}.0`): one per case.
pub const PIN_VERSIONS: usize = 1000;
/// The module uploads go to.
pub const MODULE: &str = "acme/vpc/aws";

pub struct Rig {
    pub proxy: FaultProxy,
    pub registry: Registry,
    /// The registry's S3 client: through the proxy, with the short timeout.
    pub s3_through: aws_sdk_s3::Client,
    /// Straight to moto: what is really stored.
    pub s3: aws_sdk_s3::Client,
    pub dynamodb: aws_sdk_dynamodb::Client,
    pub bucket: String,
    pub table: String,
    /// Kept running: pins fetch from it.
    _upstream: StandIns,
    _scratch: tempfile::TempDir,
}

fn identity(name: &str, tier: Tier) -> (String, String) {
    (
        IDENTITY_HEADER.to_owned(),
        Identity {
            scopes: Vec::new(),
            token_name: name.into(),
            tier,
        }
        .to_header_value(),
    )
}

impl Rig {
    /// A new bucket and table on the shared moto, a proxy of its own, and upstream stand-ins
    /// with the versions pins copy. `retry_partition` keeps each rig's SDK retry quota apart
    /// (the SDK shares one per partition name across the process).
    pub async fn start() -> Rig {
        let moto = Moto::shared();
        let direct = moto.sdk_config().await;
        let bucket = moto.create_bucket(&direct).await;
        let table = moto.create_table(&direct).await;
        let proxy = FaultProxy::start(moto.endpoint()).await;
        let through = direct
            .to_builder()
            .endpoint_url(proxy.endpoint())
            .timeout_config(
                aws_sdk_s3::config::timeout::TimeoutConfig::builder()
                    .connect_timeout(Duration::from_secs(3))
                    .read_timeout(SDK_READ_TIMEOUT)
                    .build(),
            )
            .build();
        let partition = format!("faults-{bucket}");
        let s3_through = aws_sdk_s3::Client::from_conf(
            aws_sdk_s3::config::Builder::from(&through)
                .force_path_style(true)
                .retry_partition(aws_sdk_s3::config::retry::RetryPartition::new(
                    partition.clone(),
                ))
                .build(),
        );
        let dynamodb_through = aws_sdk_dynamodb::Client::from_conf(
            aws_sdk_dynamodb::config::Builder::from(&through)
                .retry_partition(aws_sdk_dynamodb::config::retry::RetryPartition::new(
                    partition,
                ))
                .build(),
        );
        let archives = S3ArchiveStore::new(s3_through.clone(), bucket.clone(), "archives/");
        let tokens = Arc::new(DynamoTokenStore::new(dynamodb_through, table.clone()));

        let upstream = StandIns::start().await;
        let versions: Vec<String> = (0..PIN_VERSIONS)
            .map(|minor| format!("0.{minor}.0"))
            .collect();
        upstream
            .repo(
                "hashicorp",
                "terraform-aws-consul",
                CONSUL_SHA,
                tfreg_testkit::upstream::sample_repo("consul"),
            )
            .module(
                PINNED_MODULE,
                versions.iter().map(|version| {
                    (
                        version.as_str(),
                        Download::git("hashicorp", "terraform-aws-consul", CONSUL_SHA),
                    )
                }),
            );
        let settings = |name: &str| match name {
            "TFREG_PROXY_UPSTREAM" => Some(upstream.registry_url().to_owned()),
            "TFREG_PROXY_GITHUB_ARCHIVE_URL" => Some(upstream.github_url().to_owned()),
            _ => None,
        };
        let proxy_config = ProxyConfig::from_env(settings).expect("proxy settings");
        let cache = Arc::new(archives.proxy_cache_store());
        let scratch = tempfile::tempdir().unwrap();
        let registry = Registry::new(
            Arc::new(archives.clone()),
            tokens.clone(),
            UrlSigner::generate("KFAULTS"),
            {
                let mut config = RegistryConfig::new(scratch.path().to_path_buf());
                config.archive_url_base = Some("https://registry.test".into());
                config
            },
        )
        .with_catalogue(Arc::new(
            archives.catalogue_store().with_refresh(Duration::ZERO),
        ))
        .with_proxy(Proxy::new(proxy_config, cache).expect("proxy"))
        .with_pins(tokens);
        Rig {
            proxy,
            registry,
            s3_through,
            s3: moto::s3_client(&direct),
            dynamodb: aws_sdk_dynamodb::Client::new(&direct),
            bucket,
            table,
            _upstream: upstream,
            _scratch: scratch,
        }
    }

    pub async fn request(
        &self,
        method: &str,
        path: &str,
        caller: (&str, Tier),
        body: Option<Vec<u8>>,
    ) -> OriginResponse {
        self.registry
            .handle(OriginRequest {
                method: method.into(),
                path: path.into(),
                query: String::new(),
                headers: vec![identity(caller.0, caller.1)],
                body: body.map_or(RequestBody::Empty, RequestBody::Bytes),
            })
            .await
    }

    pub async fn as_master(
        &self,
        method: &str,
        path: &str,
        body: Option<Vec<u8>>,
    ) -> OriginResponse {
        self.request(method, path, ("master", Tier::Master), body)
            .await
    }

    // What is really stored, read straight from moto.

    /// Every key under `prefix`.
    pub async fn keys(&self, prefix: &str) -> Vec<String> {
        let listed = self
            .s3
            .list_objects_v2()
            .bucket(&self.bucket)
            .prefix(prefix)
            .send()
            .await
            .expect("listing moto directly");
        listed
            .contents()
            .iter()
            .filter_map(|o| o.key().map(str::to_owned))
            .collect()
    }

    /// The object's bytes, or `None`.
    pub async fn object(&self, key: &str) -> Option<Vec<u8>> {
        let object = self
            .s3
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
            .ok()?;
        Some(object.body.collect().await.unwrap().into_bytes().to_vec())
    }

    /// The DynamoDB item under `pk`, or `None`.
    pub async fn item(
        &self,
        pk: &str,
    ) -> Option<std::collections::HashMap<String, AttributeValue>> {
        self.dynamodb
            .get_item()
            .table_name(&self.table)
            .key("pk", AttributeValue::S(pk.into()))
            .consistent_read(true)
            .send()
            .await
            .expect("reading moto directly")
            .item
    }
}
