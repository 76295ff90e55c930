//! A local S3 + DynamoDB protocol server for tests: moto (`.venv/bin/moto_server`, installed
//! by `tests/setup.sh`), started on a free loopback port. Tests talk to it through the real
//! `aws-sdk-s3` / `aws-sdk-dynamodb` clients, each test in its own bucket and table.
//!
//! moto is started through a small shell wrapper that holds a pipe from this process and
//! kills moto when the pipe closes: when a [`Moto`] is dropped, and also when the test binary
//! exits or dies, so no server outlives its tests.

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType,
    TimeToLiveSpecification,
};
use aws_sdk_s3::config::{Credentials, SharedCredentialsProvider};
use aws_smithy_http_client::tls;
use std::io::Write;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// The credentials tests give the SDK (moto checks none) and the region they use.
pub const ACCESS_KEY_ID: &str = "testing";
pub const SECRET_ACCESS_KEY: &str = "testing";
pub const REGION: &str = "us-east-1";

/// The environment a process a test starts against moto gets (`tfreg serve --backend aws`,
/// `tfreg migrate-from-seed`, the credentials helper): moto's credentials, and nothing read
/// from the machine's own AWS configuration or instance metadata.
pub const PROCESS_ENV: [(&str, &str); 5] = [
    ("AWS_ACCESS_KEY_ID", ACCESS_KEY_ID),
    ("AWS_SECRET_ACCESS_KEY", SECRET_ACCESS_KEY),
    ("AWS_CONFIG_FILE", "/dev/null"),
    ("AWS_SHARED_CREDENTIALS_FILE", "/dev/null"),
    ("AWS_EC2_METADATA_DISABLED", "true"),
];

/// An S3 client for moto (`config` from [`Moto::sdk_config`]): path-style, as moto needs.
pub fn s3_client(config: &SdkConfig) -> aws_sdk_s3::Client {
    aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(config)
            .force_path_style(true)
            .build(),
    )
}

/// Every key in `bucket` beneath `prefix` (one page: the tests keep fewer than 1,000), sorted.
pub async fn keys_under(client: &aws_sdk_s3::Client, bucket: &str, prefix: &str) -> Vec<String> {
    let listed = client
        .list_objects_v2()
        .bucket(bucket)
        .prefix(prefix)
        .send()
        .await
        .expect("listing the bucket");
    let mut keys: Vec<String> = listed
        .contents()
        .iter()
        .filter_map(|o| o.key().map(str::to_owned))
        .collect();
    keys.sort();
    keys
}

/// The bytes of the object at `key` (which must exist).
pub async fn object_bytes(client: &aws_sdk_s3::Client, bucket: &str, key: &str) -> Vec<u8> {
    client
        .get_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .unwrap_or_else(|e| panic!("reading {key}: {e:?}"))
        .body
        .collect()
        .await
        .expect("the object's body")
        .into_bytes()
        .to_vec()
}

pub struct Moto {
    wrapper: Child,
    endpoint: String,
    log: PathBuf,
}

/// `.venv/bin/moto_server`, running `tests/setup.sh` first if it is missing.
pub fn moto_binary() -> PathBuf {
    crate::project_tool(".venv/bin/moto_server")
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free loopback port")
        .port()
}

/// Kills moto (and removes its log) when this wrapper's standard input reaches end of file.
/// `$0` is the virtualenv's Python, `$3` tests/support/moto_atomic.py: moto's server with
/// S3's conditional writes atomic, as S3's are.
const WRAPPER: &str = r#"
"$0" "$3" -H 127.0.0.1 -p "$1" </dev/null >"$2" 2>&1 &
moto=$!
read -r _ || true
kill "$moto" 2>/dev/null
wait "$moto" 2>/dev/null
rm -f "$2"
exit 0
"#;

impl Moto {
    /// One server for the whole test binary, started on first use. Tests share it; each
    /// makes its own bucket and table.
    pub fn shared() -> &'static Moto {
        static SHARED: OnceLock<Moto> = OnceLock::new();
        SHARED.get_or_init(Moto::start)
    }

    /// A server of one's own, stopped when dropped.
    pub fn start() -> Moto {
        // moto_server itself is what tests/setup.sh is checked by; it runs on the same Python.
        let python = moto_binary()
            .parent()
            .expect("moto_server is in the virtualenv's bin")
            .join("python3");
        let launcher = crate::workspace_root().join("tests/support/moto_atomic.py");
        let mut last_log = String::new();
        // A port found free can be taken before moto binds it; try a few.
        for _ in 0..3 {
            let port = free_port();
            let log =
                std::env::temp_dir().join(format!("tfreg-moto-{}-{port}.log", std::process::id()));
            let mut wrapper = Command::new("sh")
                .arg("-c")
                .arg(WRAPPER)
                .arg(&python)
                .arg(port.to_string())
                .arg(&log)
                .arg(&launcher)
                .stdin(Stdio::piped())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("starting moto_server");
            let addr = SocketAddr::from(([127, 0, 0, 1], port));
            let deadline = Instant::now() + Duration::from_secs(30);
            while Instant::now() < deadline {
                if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
                    return Moto {
                        wrapper,
                        endpoint: format!("http://{addr}"),
                        log,
                    };
                }
                if let Ok(Some(_)) = wrapper.try_wait() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            last_log = std::fs::read_to_string(&log).unwrap_or_default();
            stop(&mut wrapper);
        }
        panic!("moto_server did not start; its output:\n{last_log}");
    }

    /// `http://127.0.0.1:PORT`
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// What moto has printed so far (its request log).
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// An SDK configuration pointed at this server, loaded as `tfreg_origin::aws::sdk_config`
    /// loads the production one for a given region and endpoint (rustls over ring for HTTPS),
    /// with fixed test credentials so that the machine's own AWS settings play no part. Built
    /// here, not by that function, so that this crate does not depend on the crates it tests.
    pub async fn sdk_config(&self) -> SdkConfig {
        let http_client = aws_smithy_http_client::Builder::new()
            .tls_provider(tls::Provider::Rustls(
                tls::rustls_provider::CryptoMode::Ring,
            ))
            .build_https();
        aws_config::defaults(BehaviorVersion::latest())
            .region(Region::new(REGION))
            .endpoint_url(&self.endpoint)
            .http_client(http_client)
            .credentials_provider(SharedCredentialsProvider::new(Credentials::new(
                ACCESS_KEY_ID,
                SECRET_ACCESS_KEY,
                None,
                None,
                "moto-tests",
            )))
            .load()
            .await
    }

    /// A new, empty bucket with a name unique to this process.
    pub async fn create_bucket(&self, config: &SdkConfig) -> String {
        let name = unique_name("bucket");
        let client = aws_sdk_s3::Client::from_conf(
            aws_sdk_s3::config::Builder::from(config)
                .force_path_style(true)
                .build(),
        );
        client
            .create_bucket()
            .bucket(&name)
            .send()
            .await
            .unwrap_or_else(|e| panic!("creating bucket {name}: {e:?}"));
        name
    }

    /// A new token table as the deployment makes it: partition key `pk` (S), on-demand
    /// billing, TTL on `expires_at`.
    /// A Secrets Manager secret holding `value` (text), by a new name, which it returns.
    pub async fn create_secret(&self, config: &SdkConfig, value: &str) -> String {
        let name = unique_name("secret");
        aws_sdk_secretsmanager::Client::new(config)
            .create_secret()
            .name(&name)
            .secret_string(value)
            .send()
            .await
            .unwrap_or_else(|e| panic!("creating secret {name}: {e:?}"));
        name
    }

    pub async fn create_table(&self, config: &SdkConfig) -> String {
        let name = unique_name("tokens");
        let client = aws_sdk_dynamodb::Client::new(config);
        client
            .create_table()
            .table_name(&name)
            .attribute_definitions(
                AttributeDefinition::builder()
                    .attribute_name("pk")
                    .attribute_type(ScalarAttributeType::S)
                    .build()
                    .unwrap(),
            )
            .key_schema(
                KeySchemaElement::builder()
                    .attribute_name("pk")
                    .key_type(KeyType::Hash)
                    .build()
                    .unwrap(),
            )
            .billing_mode(BillingMode::PayPerRequest)
            .send()
            .await
            .unwrap_or_else(|e| panic!("creating table {name}: {e:?}"));
        client
            .update_time_to_live()
            .table_name(&name)
            .time_to_live_specification(
                TimeToLiveSpecification::builder()
                    .enabled(true)
                    .attribute_name("expires_at")
                    .build()
                    .unwrap(),
            )
            .send()
            .await
            .unwrap_or_else(|e| panic!("enabling TTL on {name}: {e:?}"));
        name
    }
}

fn unique_name(kind: &str) -> String {
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    format!(
        "tfreg-{kind}-{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

fn stop(wrapper: &mut Child) {
    // Closing the pipe tells the wrapper to kill moto; then reap the wrapper.
    drop(wrapper.stdin.take());
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if let Ok(Some(_)) = wrapper.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = wrapper.kill();
    let _ = wrapper.wait();
}

impl Drop for Moto {
    fn drop(&mut self) {
        if let Some(stdin) = self.wrapper.stdin.as_mut() {
            let _ = stdin.write_all(b"stop\n");
        }
        stop(&mut self.wrapper);
    }
}
