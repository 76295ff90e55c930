use clap::{Parser, Subcommand};
use std::net::SocketAddr;
use std::path::PathBuf;
use tfreg_cloudfront::server::{serve, ServeOptions};

/// An edge-first private Terraform module registry.
#[derive(Parser)]
#[command(name = "tfreg", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the whole registry on this machine over HTTPS, with embedded storage.
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
    },
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
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
    match cli.command {
        Command::Serve {
            listen,
            data_dir,
            archive_url_ttl,
            max_upload_bytes,
            token_cache_ttl,
        } => {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()?;
            runtime.block_on(serve(ServeOptions {
                listen,
                data_dir,
                archive_url_ttl_secs: archive_url_ttl,
                max_upload_bytes,
                token_cache_ttl_secs: token_cache_ttl,
            }))
        }
    }
}
