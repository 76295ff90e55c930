use anyhow::{bail, Context};
use clap::{Args, Parser, Subcommand, ValueEnum};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;
use tfreg_cloudfront::client;
use tfreg_cloudfront::credentials_helper;
use tfreg_cloudfront::limits::ConnectionLimits;
use tfreg_cloudfront::server::{serve, ServeOptions, StorageBackend};
use tfreg_origin::aws::{AwsStorageConfig, DEFAULT_S3_PREFIX};
use tfreg_origin::proxy::{env_vars, ProxyConfig};

mod migrate_cli;
mod mirror_args;
mod reindex_cli;

/// An edge-first private Terraform module registry.
#[derive(Parser)]
#[command(name = "tfreg", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Backend {
    /// Files and an embedded database in the data directory.
    Embedded,
    /// S3 for archives and DynamoDB for tokens (or any server speaking their protocols).
    Aws,
}

/// Where the AWS services are. Credentials come from the standard AWS chain
/// (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_PROFILE, web identity, container or instance
/// roles).
#[derive(Args)]
struct AwsArgs {
    /// AWS region [default: AWS_REGION / AWS_DEFAULT_REGION, the profile's, or us-east-1].
    #[arg(long, env = "TFREG_REGION")]
    region: Option<String>,
    /// Endpoint URL for both S3 and DynamoDB, for S3/DynamoDB-compatible servers (S3 is then
    /// addressed path-style).
    #[arg(long, env = "TFREG_ENDPOINT_URL")]
    endpoint_url: Option<String>,
    /// Seconds one attempt at an S3 or DynamoDB request waits for its answer before the SDK
    /// tries again (archive uploads get a second more per MiB).
    #[arg(long, env = "TFREG_STORAGE_TIMEOUT", default_value_t = 5, value_parser = clap::value_parser!(u64).range(1..))]
    storage_timeout: u64,
}

impl AwsArgs {
    fn storage_timeout(&self) -> std::time::Duration {
        std::time::Duration::from_secs(self.storage_timeout)
    }
}

#[derive(Args)]
struct S3Args {
    /// S3 bucket of the module archives (with --backend aws).
    #[arg(long, env = "TFREG_S3_BUCKET")]
    s3_bucket: Option<String>,
    /// Key prefix of the archives in the bucket; keep the default so that keys equal the
    /// /archives/ URL paths CloudFront forwards.
    #[arg(long, env = "TFREG_S3_PREFIX", default_value = DEFAULT_S3_PREFIX)]
    s3_prefix: String,
}

impl S3Args {
    fn bucket(&self, why: &str) -> anyhow::Result<String> {
        match &self.s3_bucket {
            Some(bucket) if !bucket.is_empty() => Ok(bucket.clone()),
            _ => bail!("{why} needs --s3-bucket (or TFREG_S3_BUCKET)"),
        }
    }
}

/// Proxy mode and pinning. The same settings, by the same environment variables, as the
/// origin Lambda's.
#[derive(Args)]
struct ProxyArgs {
    /// Answer modules this registry does not have from the upstream registry (downloads are
    /// fetched, vetted and served from here). Pinning works either way.
    #[arg(long = "proxy", env = env_vars::ENABLED, num_args = 0..=1, default_missing_value = "true", value_name = "BOOL")]
    enabled: Option<String>,
    /// Base URL of the upstream registry [default: https://registry.terraform.io].
    #[arg(
        long = "proxy-upstream",
        env = env_vars::UPSTREAM,
        value_name = "URL"
    )]
    upstream: Option<String>,
    /// Base URL of GitHub's archive host; tarballs are fetched as
    /// {base}/{owner}/{repo}/tar.gz/{ref} [default: https://codeload.github.com].
    #[arg(
        long = "proxy-github-archive-url",
        env = env_vars::GITHUB_ARCHIVE_URL,
        value_name = "URL"
    )]
    github_archive_url: Option<String>,
    /// Modules that may be proxied, as comma-separated prefixes on whole segments (`acme`,
    /// `acme/vpc`, `acme/vpc/aws`). Empty: all.
    #[arg(
        long = "proxy-allow",
        env = env_vars::ALLOW_LIST,
        value_name = "PREFIXES"
    )]
    allow: Option<String>,
    /// Modules that are never proxied or pinned without an override; deny wins over allow.
    #[arg(
        long = "proxy-deny",
        env = env_vars::DENY_LIST,
        value_name = "PREFIXES"
    )]
    deny: Option<String>,
    /// Modules whose versions come only from this registry, never merged with upstream ones.
    /// (A namespace that holds an uploaded module is local-only anyway.)
    #[arg(
        long = "proxy-local-only",
        env = env_vars::LOCAL_ONLY,
        value_name = "PREFIXES"
    )]
    local_only: Option<String>,
    /// Modules fetched from and merged with the upstream even though they, or their
    /// namespace, hold uploaded versions (which otherwise keeps them local). Opt in with care:
    /// this is what lets a higher upstream version into a private module's list.
    #[arg(
        long = "proxy-merge",
        env = env_vars::MERGE_LIST,
        value_name = "PREFIXES"
    )]
    merge: Option<String>,
    /// PEM file of CA certificates the upstream client trusts beside the system's and the
    /// built-in roots (a private upstream behind a corporate CA).
    #[arg(
        long = "proxy-ca-bundle",
        env = env_vars::CA_BUNDLE,
        value_name = "PEM_FILE"
    )]
    ca_bundle: Option<String>,
    /// Bearer token for the upstream registry's API, when the upstream is a private registry
    /// (another tfreg: a downloader token). Never sent to archive URLs or GitHub.
    #[arg(
        long = "proxy-upstream-token",
        env = env_vars::UPSTREAM_TOKEN,
        value_name = "TOKEN",
        hide_env_values = true
    )]
    upstream_token: Option<String>,
    /// Seconds all upstream fetches of one request may take together (then 504) [default: 20].
    #[arg(
        long = "proxy-timeout",
        env = env_vars::TIMEOUT_SECS,
        value_name = "SECONDS"
    )]
    timeout: Option<String>,
    /// Largest archive fetched from upstream, in bytes [default: 104857600].
    #[arg(
        long = "proxy-max-archive-bytes",
        env = env_vars::MAX_ARCHIVE_BYTES,
        value_name = "BYTES"
    )]
    max_archive_bytes: Option<String>,
    /// Seconds an upstream version list is reused before the upstream is asked again (0:
    /// every request asks). The AWS deployment has CloudFront keep version lists as long.
    #[arg(
        long = "proxy-versions-ttl",
        env = env_vars::VERSIONS_TTL_SECS,
        value_name = "SECONDS",
        default_value_t = tfreg_origin::proxy::DEFAULT_SERVE_VERSIONS_TTL_SECS
    )]
    versions_ttl: u64,
}

impl ProxyArgs {
    fn config(self) -> anyhow::Result<ProxyConfig> {
        let settings = [
            (env_vars::ENABLED, self.enabled),
            (env_vars::UPSTREAM, self.upstream),
            (env_vars::GITHUB_ARCHIVE_URL, self.github_archive_url),
            (env_vars::ALLOW_LIST, self.allow),
            (env_vars::DENY_LIST, self.deny),
            (env_vars::LOCAL_ONLY, self.local_only),
            (env_vars::MERGE_LIST, self.merge),
            (env_vars::CA_BUNDLE, self.ca_bundle),
            (env_vars::UPSTREAM_TOKEN, self.upstream_token),
            (env_vars::TIMEOUT_SECS, self.timeout),
            (env_vars::MAX_ARCHIVE_BYTES, self.max_archive_bytes),
            (
                env_vars::VERSIONS_TTL_SECS,
                Some(self.versions_ttl.to_string()),
            ),
        ];
        // The flags (or their variables, through clap) read as the Lambda reads its variables.
        ProxyConfig::from_env(|name| {
            settings
                .iter()
                .find(|(variable, _)| *variable == name)
                .and_then(|(_, value)| value.clone())
        })
        .map_err(|e| anyhow::anyhow!("proxy settings: {e}"))
    }
}

// Parsed once at start-up: the size of the largest variant does not matter.
#[allow(clippy::large_enum_variant)]
/// `serve`'s limits against slow or greedy clients (cloudfront/src/limits.rs).
#[derive(Args)]
struct LimitArgs {
    /// Seconds a client has to send a request's line and headers; also how long a kept-alive
    /// connection may stay idle between requests.
    #[arg(long, value_name = "SECS", default_value_t = ConnectionLimits::DEFAULT_HEADER_READ_TIMEOUT_SECS)]
    header_read_timeout: u64,
    /// Seconds a request body may take before it must keep up --min-body-rate.
    #[arg(long, value_name = "SECS", default_value_t = ConnectionLimits::DEFAULT_BODY_GRACE_SECS)]
    body_grace: u64,
    /// Bytes per second a request body must average after --body-grace (slower: 408).
    #[arg(long, value_name = "BYTES", default_value_t = ConnectionLimits::DEFAULT_MIN_BODY_RATE)]
    min_body_rate: u64,
    /// Seconds a response may wait on a client that reads nothing before the connection ends.
    #[arg(long, value_name = "SECS", default_value_t = ConnectionLimits::DEFAULT_WRITE_STALL_TIMEOUT_SECS)]
    write_stall_timeout: u64,
    /// Connections served at once; more wait in the kernel's accept queue.
    #[arg(long, value_name = "N", default_value_t = ConnectionLimits::DEFAULT_MAX_CONNECTIONS)]
    max_connections: usize,
    /// Connections one client address may hold at once; more are closed at once.
    #[arg(long, value_name = "N", default_value_t = ConnectionLimits::DEFAULT_MAX_CONNECTIONS_PER_IP)]
    max_connections_per_ip: usize,
    /// Threads for blocking work (file reads and writes of the embedded store, archive
    /// checks); more such work waits its turn. Each thread keeps its stack and allocator
    /// arena while it lives, so this bounds the server's memory under load.
    #[arg(long, value_name = "N", default_value_t = DEFAULT_MAX_BLOCKING_THREADS)]
    max_blocking_threads: usize,
}

/// tokio's own default is 512: under a 64-connection soak the pool grew to 224 threads and the
/// server's RSS rose in steps with it (tests/stress/FINDINGS.md, item 14). 64 keeps every
/// connection of a busy client's worth of file work running at once on a small machine.
const DEFAULT_MAX_BLOCKING_THREADS: usize = 64;

impl From<LimitArgs> for ConnectionLimits {
    fn from(args: LimitArgs) -> Self {
        ConnectionLimits {
            header_read_timeout: Duration::from_secs(args.header_read_timeout),
            body_grace: Duration::from_secs(args.body_grace),
            min_body_rate: args.min_body_rate,
            write_stall_timeout: Duration::from_secs(args.write_stall_timeout),
            max_connections: args.max_connections.max(1),
            max_connections_per_ip: args.max_connections_per_ip.max(1),
            ..ConnectionLimits::default()
        }
    }
}

#[derive(Subcommand)]
enum Command {
    /// Run the whole registry on this machine over HTTPS, with embedded storage (or S3 and
    /// DynamoDB with --backend aws).
    Serve {
        /// Address to listen on. Terraform refuses `localhost` as a registry host; use an IP.
        #[arg(long, default_value = "127.0.0.1:8443", env = "TFREG_LISTEN")]
        listen: SocketAddr,
        /// Where modules, tokens, keys and the local CA live.
        #[arg(long, default_value = "tfreg-data", env = "TFREG_DATA_DIR")]
        data_dir: PathBuf,
        /// Seconds a signed archive URL stays valid.
        #[arg(long, default_value_t = tfreg_origin::DEFAULT_ARCHIVE_URL_TTL_SECS)]
        archive_url_ttl: u64,
        /// Largest archive upload accepted, in bytes.
        #[arg(long, default_value_t = tfreg_origin::DEFAULT_MAX_UPLOAD_BYTES)]
        max_upload_bytes: u64,
        /// Seconds a token lookup is cached (revocations through this server apply at once).
        #[arg(long, default_value_t = tfreg_edge::EdgeConfig::DEFAULT_POSITIVE_TTL_SECS)]
        token_cache_ttl: u64,
        /// Where modules and tokens are kept. Keys, the local CA and the master-token file
        /// stay in the data directory either way.
        #[arg(long, value_enum, default_value = "embedded", env = "TFREG_BACKEND")]
        backend: Backend,
        #[command(flatten)]
        s3: S3Args,
        /// DynamoDB table of the tokens (with --backend aws): partition key `pk` (string).
        #[arg(long, env = "TFREG_DYNAMODB_TABLE")]
        dynamodb_table: Option<String>,
        #[command(flatten)]
        aws: AwsArgs,
        #[command(flatten)]
        proxy: Box<ProxyArgs>,
        #[command(flatten)]
        mirror: Box<mirror_args::MirrorArgs>,
        /// JSON file of the exchanges' trust rules (`POST /v1/auth/aws`, `/v1/auth/oidc`): who
        /// may trade an AWS identity or a CI's OIDC token for a short-lived token. Unset: no
        /// exchanges.
        #[arg(long, env = "TFREG_AUTH_CONFIG_FILE", value_name = "FILE")]
        auth_config: Option<PathBuf>,
        #[command(flatten)]
        limits: LimitArgs,
    },
    /// Rebuild the version index (versions.json) of modules in S3 from the objects under
    /// their prefix: picks up versions uploaded to the bucket by hand, drops deleted ones; and
    /// marks the namespace of a module with uploaded versions ({ns}/.uploads), which keeps
    /// the whole namespace local in proxy mode. With --backfill-docs, also stores the docs of
    /// versions published before docs were extracted (S3, or --backend embedded).
    Reindex(reindex_cli::ReindexArgs),
    /// Copy a deployment of the Python registry (terraform-aws-serverless-module-registry)
    /// into this one: archives validated as uploads, tokens kept working. Safe to rerun.
    MigrateFromSeed(migrate_cli::MigrateArgs),
    /// Terraform's credentials helper: trades the AWS identity at hand (or a CI's OIDC token)
    /// for a short-lived registry token. Terraform runs it as `terraform-credentials-tfreg`;
    /// `install` puts that link in its plugin directory.
    #[command(subcommand)]
    CredentialsHelper(credentials_helper::HelperCommand),
    /// The client: publish, versions, token, pin, whoami, login.
    #[command(flatten)]
    Client(client::ClientCommand),
}

fn storage_backend(
    backend: Backend,
    s3: S3Args,
    dynamodb_table: Option<String>,
    aws: AwsArgs,
) -> anyhow::Result<StorageBackend> {
    if backend == Backend::Embedded {
        return Ok(StorageBackend::Embedded);
    }
    let s3_bucket = s3.bucket("--backend aws")?;
    let Some(dynamodb_table) = dynamodb_table.filter(|t| !t.is_empty()) else {
        bail!("--backend aws needs --dynamodb-table (or TFREG_DYNAMODB_TABLE)");
    };
    Ok(StorageBackend::Aws(AwsStorageConfig {
        s3_bucket,
        s3_prefix: s3.s3_prefix,
        dynamodb_table,
        storage_timeout: aws.storage_timeout(),
        region: aws.region,
        endpoint_url: aws.endpoint_url,
    }))
}

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args_os();
    if args
        .next()
        .is_some_and(|argv0| credentials_helper::invoked_as_helper(&argv0))
    {
        let args: Vec<String> = args.map(|a| a.to_string_lossy().into_owned()).collect();
        std::process::exit(credentials_helper::run(&args));
    }
    let cli = Cli::parse();
    let command = match cli.command {
        Command::CredentialsHelper(helper) => std::process::exit(helper.run()),
        Command::Client(command) => {
            // The client logs nothing: its answers go to stdout, its errors to stderr, and its
            // exit code says which (see client::Failure).
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            std::process::exit(client::run(command, &runtime));
        }
        command => command,
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("TFREG_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    // TFREG_LOG_FORMAT=json: one JSON object per line, for log collectors.
    if std::env::var("TFREG_LOG_FORMAT").is_ok_and(|f| f == "json") {
        logs.json().init();
    } else {
        logs.with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .init();
    }
    let max_blocking_threads = match &command {
        Command::Serve { limits, .. } => limits.max_blocking_threads.max(1),
        _ => DEFAULT_MAX_BLOCKING_THREADS,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .max_blocking_threads(max_blocking_threads)
        .enable_all()
        .build()?;
    match command {
        Command::Serve {
            listen,
            data_dir,
            archive_url_ttl,
            max_upload_bytes,
            token_cache_ttl,
            backend,
            s3,
            dynamodb_table,
            aws,
            proxy,
            mirror,
            auth_config,
            limits,
        } => {
            let storage = storage_backend(backend, s3, dynamodb_table, aws)?;
            let proxy = proxy.config()?;
            let mirror = mirror.config(&proxy)?;
            let auth = match auth_config {
                Some(path) => {
                    let json = std::fs::read_to_string(&path)
                        .with_context(|| format!("reading {}", path.display()))?;
                    tfreg_origin::auth::AuthConfig::from_json(&json)
                        .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?
                }
                None => tfreg_origin::auth::AuthConfig::default(),
            };
            runtime.block_on(serve(ServeOptions {
                listen,
                data_dir,
                archive_url_ttl_secs: archive_url_ttl,
                max_upload_bytes,
                token_cache_ttl_secs: token_cache_ttl,
                storage,
                proxy,
                mirror,
                auth,
                limits: limits.into(),
            }))
        }
        Command::Reindex(args) => runtime.block_on(reindex_cli::run(args)),
        Command::MigrateFromSeed(args) => runtime.block_on(migrate_cli::run(args)),
        Command::CredentialsHelper(_) => unreachable!("run before the log is set up"),
        Command::Client(_) => unreachable!("run before the log is set up"),
    }
}
