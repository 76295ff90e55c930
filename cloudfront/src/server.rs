//! `tfreg serve`: the distribution over HTTPS on one machine.

use crate::distribution::Distribution;
use crate::limits::{ConnectionLimits, ConnectionsPerIp, PacedBody, WriteStallGuard};
use crate::{data_dir, tls};
use anyhow::{Context, Result};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tfreg_edge::{EdgeCheck, EdgeConfig};
use tfreg_origin::aws::AwsStorageConfig;
use tfreg_origin::catalogue::{CatalogueStore, FileCatalogueStore};
use tfreg_origin::embedded::{FileArchiveStore, RedbTokenStore};
use tfreg_origin::proxy::{Proxy, ProxyConfig};
use tfreg_origin::storage::PinStore;
use tfreg_origin::{ArchiveStore, Registry, RegistryConfig, TokenStore};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

#[derive(Debug, Clone)]
pub struct ServeOptions {
    pub listen: SocketAddr,
    /// Keys (archive signing key, local CA), the master token file, and, with the embedded
    /// backend, the modules and tokens themselves.
    pub data_dir: PathBuf,
    pub archive_url_ttl_secs: u64,
    pub max_upload_bytes: u64,
    pub token_cache_ttl_secs: u64,
    pub storage: StorageBackend,
    /// Proxy mode and pinning (the upstream registry and the GitHub archive host).
    pub proxy: ProxyConfig,
    /// The provider network mirror (off without upstreams).
    pub mirror: tfreg_origin::mirror::MirrorConfig,
    /// The exchanges' trust rules (`--auth-config`).
    pub auth: tfreg_origin::auth::AuthConfig,
    /// Timeouts and caps against slow or greedy clients.
    pub limits: ConnectionLimits,
}

/// Where `serve` keeps modules and tokens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StorageBackend {
    /// Files and a redb database in the data directory.
    Embedded,
    /// S3 and DynamoDB (or any server speaking their protocols), as the AWS deployment does.
    Aws(AwsStorageConfig),
}

impl StorageBackend {
    /// One line for the banner and the log.
    pub fn describe(&self) -> String {
        match self {
            StorageBackend::Embedded => "embedded (in the data directory)".to_owned(),
            StorageBackend::Aws(aws) => {
                let mut text = format!(
                    "s3://{}/{} and DynamoDB table {}",
                    aws.s3_bucket, aws.s3_prefix, aws.dynamodb_table
                );
                if let Some(endpoint) = &aws.endpoint_url {
                    text.push_str(&format!(" at {endpoint}"));
                }
                text
            }
        }
    }
}

/// The stores `serve` runs on, for either backend.
struct Stores {
    archives: Arc<dyn ArchiveStore>,
    proxy_cache: Arc<dyn ArchiveStore>,
    tokens: Arc<dyn TokenStore>,
    pins: Arc<dyn PinStore>,
    scratch_dir: PathBuf,
    catalogue: Arc<dyn CatalogueStore>,
    /// Provider releases and signing keys.
    providers: Option<Arc<dyn tfreg_origin::providers::ProviderStore>>,
    /// The provider mirror's packages: the data directory, or the archives' bucket.
    mirror: Arc<dyn tfreg_origin::mirror::MirrorStore>,
    /// Embedded storage: the data directory is the truth, and derived records are brought
    /// back in line with it on start ([`tfreg_origin::Registry::reconcile`]).
    reconcile_on_start: bool,
}

/// Everything `serve` prepared, for the start-up message.
struct Prepared {
    distribution: Arc<Distribution>,
    tls: rustls::ServerConfig,
    ca_cert: PathBuf,
    new_master_token: Option<String>,
}

async fn prepare(options: &ServeOptions) -> Result<Prepared> {
    let data_dir = &options.data_dir;
    std::fs::create_dir_all(data_dir)
        .with_context(|| format!("creating {}", data_dir.display()))?;
    for dir in [data_dir.to_path_buf(), data_dir.join("tls")] {
        data_dir::remove_partial_files(&dir)?;
    }
    let (tls, tls_files) = tls::server_config(&data_dir.join("tls"), options.listen.ip())?;
    let url_signer = data_dir::url_signing_key(data_dir)?;
    let archive_urls = url_signer.verifier();
    let stores = match &options.storage {
        StorageBackend::Embedded => {
            let archives = FileArchiveStore::open(data_dir).context("opening the archive store")?;
            let proxy_cache = FileArchiveStore::open(&data_dir.join("proxy-cache"))
                .context("opening the proxy cache")?;
            let tokens = Arc::new(
                RedbTokenStore::open(&data_dir.join("tokens.redb"))
                    .context("opening the token store")?,
            );
            // The token database is locked now, so no other process uses this data
            // directory: what is in staging was left by one that was killed.
            for store in [&archives, &proxy_cache] {
                let cleared = store
                    .clear_staging()
                    .with_context(|| format!("clearing {}", store.staging_dir().display()))?;
                if cleared > 0 {
                    tracing::warn!(cleared, dir = %store.staging_dir().display(), "cleared what an earlier run left in staging (it was stopped mid-write)");
                }
            }
            let providers = tfreg_origin::providers::embedded::FileProviderStore::open(data_dir)
                .context("opening the provider store")?;
            let mirror = tfreg_origin::mirror::FileMirrorStore::open(data_dir)
                .context("opening the provider mirror store")?;
            Stores {
                providers: Some(Arc::new(providers)),
                mirror: Arc::new(mirror),
                scratch_dir: archives.staging_dir().to_path_buf(),
                catalogue: Arc::new(
                    FileCatalogueStore::open(data_dir).with_scratch_dir(archives.staging_dir()),
                ),
                reconcile_on_start: true,
                archives: Arc::new(archives),
                proxy_cache: Arc::new(proxy_cache),
                tokens: tokens.clone(),
                pins: tokens,
            }
        }
        StorageBackend::Aws(aws) => {
            // Uploads are still normalised on local disk before the one PUT to S3.
            let scratch_dir = data_dir.join("staging");
            std::fs::create_dir_all(&scratch_dir)
                .with_context(|| format!("creating {}", scratch_dir.display()))?;
            // As on the embedded store: scratch files left by a run that was killed.
            let cleared = tfreg_origin::embedded::clear_dir(&scratch_dir)
                .with_context(|| format!("clearing {}", scratch_dir.display()))?;
            if cleared > 0 {
                tracing::warn!(cleared, dir = %scratch_dir.display(), "cleared scratch files an earlier run left (it was stopped mid-upload)");
            }
            let (archives, tokens) = aws.connect().await;
            let proxy_cache = archives.proxy_cache_store();
            let mirror = archives.mirror_store();
            let tokens = Arc::new(tokens);
            Stores {
                providers: Some(Arc::new(archives.provider_store())),
                mirror: Arc::new(mirror),
                scratch_dir,
                catalogue: Arc::new(archives.catalogue_store()),
                reconcile_on_start: false,
                archives: Arc::new(archives),
                proxy_cache: Arc::new(proxy_cache),
                tokens: tokens.clone(),
                pins: tokens,
            }
        }
    };
    let mut config = RegistryConfig::new(stores.scratch_dir);
    config.archive_url_ttl_secs = options.archive_url_ttl_secs;
    config.max_upload_bytes = options.max_upload_bytes;
    let proxy =
        Proxy::new(options.proxy.clone(), stores.proxy_cache).map_err(|e| anyhow::anyhow!(e))?;
    let mut discovery = crate::distribution::discovery_document(&options.auth);
    let mut registry = Registry::new(stores.archives, stores.tokens, url_signer, config);
    if let Some(providers) = stores.providers {
        registry = registry.with_providers(providers);
        discovery = crate::distribution::with_service(&discovery, "providers.v1", "/v1/providers/");
    }
    if options.mirror.enabled() {
        let mirror = tfreg_origin::mirror::ProviderMirror::new(
            options.mirror.clone(),
            stores.mirror,
            registry.config().scratch_dir.clone(),
        )
        .map_err(|e| anyhow::anyhow!(e))?;
        registry = registry.with_mirror(mirror);
    }
    let registry = Arc::new(
        registry
            .with_proxy(proxy)
            .with_pins(stores.pins)
            .with_catalogue(stores.catalogue)
            .with_auth(options.auth.clone())
            .map_err(|e| anyhow::anyhow!("--auth-config: {e}"))?,
    );
    if stores.reconcile_on_start {
        let reconciled = registry
            .reconcile()
            .await
            .context("bringing the catalogue and pin records in line with the versions")?;
        if reconciled.docs_extracted > 0 {
            tracing::warn!(versions = reconciled.docs_extracted, "docs extracted for versions that had none (an earlier run was stopped between a publish and its docs)");
        }
        if reconciled.pin_records_written + reconciled.pin_records_deleted > 0 {
            tracing::warn!(
                written = reconciled.pin_records_written,
                deleted = reconciled.pin_records_deleted,
                "pin records repaired (an earlier run was stopped between a pin and its record)"
            );
        }
        tracing::info!(
            modules = reconciled.catalogue_modules,
            "module catalogue rebuilt from the data directory"
        );
    }
    let new_master_token = master_token(&registry, data_dir, &options.storage).await?;
    let edge_config = EdgeConfig {
        positive_ttl_secs: options.token_cache_ttl_secs,
        ..EdgeConfig::default()
    };
    let distribution = Arc::new(
        Distribution::new(EdgeCheck::new(edge_config), registry, archive_urls)
            .with_discovery(discovery),
    );
    Ok(Prepared {
        distribution,
        tls,
        ca_cert: tls_files.ca_cert,
        new_master_token,
    })
}

/// Makes the master token on first start, saving its value before recording it: a first
/// start killed between the two records the saved value on the next start, where the other
/// order would record a token whose value nobody has. `None` when one exists already.
async fn master_token(
    registry: &Registry,
    data_dir: &Path,
    storage: &StorageBackend,
) -> Result<Option<String>> {
    let failed = |e: tfreg_origin::ApiError| {
        anyhow::anyhow!(
            "creating the master token in {}: {} (the log above has the cause)",
            storage.describe(),
            e.message
        )
    };
    if registry.has_master_token().await.map_err(failed)? {
        return Ok(None);
    }
    let token_file = data_dir.join("master-token");
    let value = match data_dir::saved_master_token(&token_file)? {
        Some(saved) => saved,
        None => {
            let value = tfreg_origin::mint_token_value();
            data_dir::write_private_file(&token_file, format!("{value}\n").as_bytes())?;
            value
        }
    };
    let created = registry.create_master_token(&value).await.map_err(failed)?;
    Ok(created.then_some(value))
}

fn absolute(path: &Path) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf())
}

fn print_banner(addr: SocketAddr, options: &ServeOptions, prepared: &Prepared) {
    let host = addr.to_string();
    let url = format!("https://{host}");
    let ca = absolute(&prepared.ca_cert);
    let token_file = absolute(&options.data_dir.join("master-token"));
    println!("tfreg listening on {url}");
    println!();
    println!("  Registry:        {url}");
    println!("  Web page:        {url}/ui/  (sign in with a token)");
    println!("  CA certificate:  {}", ca.display());
    println!("  Trust it:        export SSL_CERT_FILE={}", ca.display());
    println!("  Storage:         {}", options.storage.describe());
    println!();
    match &prepared.new_master_token {
        Some(token) => {
            println!(
                "  Master token (shown once; also saved in {}):",
                token_file.display()
            );
            println!("  Paste this into your Terraform CLI config (~/.terraformrc or TF_CLI_CONFIG_FILE):");
            println!();
            println!("    credentials \"{host}\" {{");
            println!("      token = \"{token}\"");
            println!("    }}");
        }
        None if token_file.exists() => {
            println!("  Master token:    in {}", token_file.display())
        }
        // A shared token table (AWS) whose master token was made from another machine: only
        // its hash is stored, so the value is wherever it was saved then.
        None => println!(
            "  Master token:    already in the token store; its value was saved where it was created"
        ),
    }
    println!();
    println!("  Use a module:");
    println!("    module \"vpc\" {{");
    println!("      source  = \"{host}/acme/vpc/aws\"");
    println!("      version = \"~> 1.0\"");
    println!("    }}");
    println!();
    println!("  Publish a version:");
    println!(
        "    curl --cacert {} -H \"Authorization: Bearer $(cat {})\" \\",
        ca.display(),
        token_file.display()
    );
    println!("      -X PUT --data-binary @module.tar.gz {url}/v1/modules/acme/vpc/aws/1.0.0");
    println!();
}

pub async fn serve(options: ServeOptions) -> Result<()> {
    let prepared = prepare(&options).await?;
    let listener = TcpListener::bind(options.listen)
        .await
        .with_context(|| format!("listening on {}", options.listen))?;
    let addr = listener.local_addr()?;
    print_banner(addr, &options, &prepared);
    tracing::info!(%addr, data_dir = %options.data_dir.display(), storage = %options.storage.describe(), "serving");

    let acceptor = TlsAcceptor::from(Arc::new(prepared.tls));
    let distribution = prepared.distribution;
    let limits = Arc::new(options.limits.clone());
    let connections = Arc::new(tokio::sync::Semaphore::new(limits.max_connections));
    let connections_per_ip = ConnectionsPerIp::new(limits.max_connections_per_ip);
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let shutdown = shutdown_signal();
    tokio::pin!(shutdown);

    loop {
        // At the cap, stop accepting: new connections wait in the kernel's queue until one
        // ends (each is bounded in time by the limits), instead of exhausting descriptors.
        let permit = tokio::select! {
            permit = connections.clone().acquire_owned() => permit.expect("semaphore never closed"),
            () = &mut shutdown => break,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Out of descriptors (EMFILE) or memory: retrying at once would spin a
                    // core on the same error; pause so that connections can end first.
                    tracing::warn!(%error, "accept failed");
                    tokio::time::sleep(ACCEPT_ERROR_PAUSE).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let Some(ip_slot) = connections_per_ip.admit(peer.ip()) else {
            // Closed at once (the client sees a reset or an end of stream): one address
            // cannot take the slots the others need.
            tracing::debug!(%peer, "too many connections from this address; closed");
            continue;
        };
        // Headers and body leave in separate writes; without this, Nagle's algorithm meets
        // the client's delayed ACK and every keep-alive response stalls ~40 ms.
        let _ = stream.set_nodelay(true);
        let acceptor = acceptor.clone();
        let distribution = distribution.clone();
        let limits = limits.clone();
        let watcher = graceful.watcher();
        tokio::spawn(async move {
            let _slots = (permit, ip_slot);
            let tls_stream =
                match tokio::time::timeout(limits.tls_handshake_timeout, acceptor.accept(stream))
                    .await
                {
                    Ok(Ok(tls_stream)) => tls_stream,
                    Ok(Err(error)) => {
                        tracing::debug!(%peer, %error, "TLS handshake failed");
                        return;
                    }
                    Err(_) => {
                        tracing::debug!(%peer, "TLS handshake timed out");
                        return;
                    }
                };
            let body_limits = limits.clone();
            let service = service_fn(move |request: hyper::Request<hyper::body::Incoming>| {
                let distribution = distribution.clone();
                let request = request.map(|body| {
                    PacedBody::new(body, body_limits.body_grace, body_limits.min_body_rate)
                });
                async move {
                    // What the request line is kept for only when the log takes it (not with
                    // TFREG_LOG=warn): two allocations and a clock read per request otherwise.
                    let logged = tracing::enabled!(tracing::Level::INFO).then(|| {
                        let method = request.method().clone();
                        (Instant::now(), method, request.uri().path().to_owned())
                    });
                    let response = distribution.serve(request).await;
                    if let Some((started, method, path)) = logged {
                        // The path only: archive URLs carry their signature in the query.
                        tracing::info!(%method, %path, status = response.status().as_u16(), micros = started.elapsed().as_micros() as u64, "request");
                    }
                    Ok::<_, std::convert::Infallible>(response)
                }
            });
            // HTTP/1.1 only, as ALPN says (tls.rs): no HTTP/2 by prior knowledge either, so
            // the one protocol offered is the one whose limits are set here.
            let connection = http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(limits.header_read_timeout)
                .max_header_size(limits.max_header_bytes)
                .serve_connection(
                    TokioIo::new(WriteStallGuard::new(tls_stream, limits.write_stall_timeout)),
                    service,
                );
            if let Err(error) = watcher.watch(connection).await {
                tracing::debug!(%peer, %error, "connection ended with an error");
            }
        });
    }

    tracing::info!("shutting down: finishing requests in flight");
    tokio::select! {
        () = graceful.shutdown() => {}
        () = tokio::time::sleep(Duration::from_secs(10)) => {
            tracing::warn!("requests still in flight after 10 s; stopping anyway");
        }
    }
    Ok(())
}

/// How long the accept loop waits after a failed accept (see there).
const ACCEPT_ERROR_PAUSE: Duration = Duration::from_millis(100);

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("installing the SIGTERM handler");
    tokio::select! {
        _ = ctrl_c => {}
        _ = terminate.recv() => {}
    }
}
