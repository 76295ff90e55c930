//! `tfreg publish`: pack, validate locally with the registry's rules, upload (through the
//! large-upload path when the direct one cannot take the archive), and print the `module`
//! block that uses the new version.

use super::http::Registry;
use super::pack::pack_directory;
use super::{Answer, ConnectArgs, Failure, ModuleAddress, Outcome};
use clap::Args;
use reqwest::{Method, Url};
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use tfreg_origin::archive::{normalize_archive, ArchiveLimits};

/// The largest archive the origin Lambda takes in the `PUT` itself (the edge answers `413`
/// above it); larger archives go through `POST …/uploads` when the registry offers it.
pub const DIRECT_UPLOAD_LIMIT_BYTES: u64 = tfreg_edge::cloudfront::DEFAULT_MAX_ORIGIN_BODY_BYTES;

/// Archives from this size up show upload progress on a terminal.
const PROGRESS_FROM_BYTES: usize = 1024 * 1024;

#[derive(Args)]
pub struct PublishArgs {
    /// The module's directory.
    dir: PathBuf,
    /// The module address, `namespace/name/system`.
    #[arg(long, value_name = "NS/NAME/SYSTEM")]
    module: String,
    /// The version to publish (semver; versions are immutable).
    #[arg(long, value_name = "VERSION")]
    version: String,
    /// The module's source repository (http(s)), shown as its `source` and linked by update
    /// bots.
    #[arg(long, value_name = "URL")]
    repository_url: Option<String>,
    /// Pack and validate only; send nothing (needs no registry or token).
    #[arg(long)]
    dry_run: bool,
    #[command(flatten)]
    pub connect: ConnectArgs,
}

pub(crate) async fn run(args: PublishArgs) -> Outcome {
    let module = ModuleAddress::parse(&args.module)?;
    let version = tfreg_origin::names::ModuleVersion::parse(&args.version)
        .map_err(|e| Failure::usage(e.to_string()))?;
    let version = version.semver().clone();

    let packed = pack_directory(&args.dir)?;
    let mut normalized = Vec::new();
    let checked = normalize_archive(
        std::io::Cursor::new(&packed.archive),
        &mut normalized,
        &ArchiveLimits::default(),
    )
    .map_err(|e| {
        Failure::invalid_module(format!(
            "{} is not a valid module: {e}; nothing was uploaded",
            args.dir.display()
        ))
    })?;
    let summary = serde_json::json!({
        "module": module.path(),
        "version": version.to_string(),
        "archive_bytes": packed.archive.len(),
        "files": packed.files,
        "ignored": packed.ignored,
        "sha256": checked.sha256,
    });
    if args.dry_run {
        return Ok(Answer {
            text: format!(
                "{} {version}: {} files, {} bytes packed, valid (sha256 {} once stored); \
                 left out: {}",
                module.path(),
                packed.files,
                packed.archive.len(),
                checked.sha256,
                if packed.ignored.is_empty() {
                    "nothing".to_owned()
                } else {
                    packed.ignored.join(", ")
                }
            ),
            json: summary,
        });
    }

    let registry = Registry::connect(&args.connect).await?;
    let version_path = format!("{}/{version}", module.path());
    let progress = !args.connect.json
        && std::io::stderr().is_terminal()
        && packed.archive.len() >= PROGRESS_FROM_BYTES;
    let upload = Upload {
        registry: &registry,
        version_path: &version_path,
        repository_url: args.repository_url.as_deref(),
        archive: &packed.archive,
        progress,
    };
    let stored = if packed.archive.len() as u64 > DIRECT_UPLOAD_LIMIT_BYTES {
        match upload.staged().await? {
            Some(stored) => stored,
            // `tfreg serve` has no staged path and takes large archives directly.
            None => upload.direct().await?,
        }
    } else {
        match upload.direct().await {
            Ok(stored) => stored,
            Err(failure) if failure.status == Some(413) => match upload.staged().await? {
                Some(stored) => stored,
                None => return Err(failure),
            },
            Err(failure) => return Err(failure),
        }
    };

    let block = module_block(&registry.host, &module, &version);
    let text = format!(
        "Published {} {version} to {} ({} files, {} bytes, sha256 {}).\n\nUse it:\n\n{block}",
        module.path(),
        registry.host,
        stored["files"].as_u64().unwrap_or(packed.files),
        stored["size"].as_u64().unwrap_or(0),
        stored["sha256"].as_str().unwrap_or(""),
    );
    let mut json = stored;
    if let Some(object) = json.as_object_mut() {
        object.insert("module_block".into(), block.into());
        object.insert("ignored".into(), packed.ignored.into());
        object.insert("registry".into(), registry.host.clone().into());
    }
    Ok(Answer { text, json })
}

struct Upload<'a> {
    registry: &'a Registry,
    version_path: &'a str,
    repository_url: Option<&'a str>,
    archive: &'a [u8],
    progress: bool,
}

impl Upload<'_> {
    fn with_repository(&self, mut url: Url) -> Url {
        if let Some(repository) = self.repository_url {
            url.query_pairs_mut()
                .append_pair("repository_url", repository);
        }
        url
    }

    /// `PUT …/{version}` with the archive as the body.
    async fn direct(&self) -> Result<serde_json::Value, Failure> {
        let url = self.with_repository(self.registry.module_url(self.version_path));
        let body = body_with_progress(self.archive, self.progress);
        Ok(self.registry.send(Method::PUT, url, Some(body)).await?.json)
    }

    /// The large-upload path: `POST …/uploads`, `PUT` to the presigned URL, `POST` finalize.
    /// `None` when the registry has no such path (`tfreg serve`: 404).
    async fn staged(&self) -> Result<Option<serde_json::Value>, Failure> {
        let url = self
            .registry
            .module_url(&format!("{}/uploads", self.version_path));
        let staged = match self.registry.send(Method::POST, url, None).await {
            Ok(reply) => reply.json,
            Err(failure) if failure.status == Some(404) => return Ok(None),
            Err(failure) => return Err(failure),
        };
        let (Some(upload_url), Some(finalize)) =
            (staged["upload_url"].as_str(), staged["finalize"].as_str())
        else {
            return Err(Failure::request(
                "the registry's answer to POST …/uploads lacks upload_url or finalize",
            ));
        };
        let upload_url = Url::parse(upload_url)
            .map_err(|e| Failure::request(format!("the registry's upload_url is invalid: {e}")))?;
        let body = body_with_progress(self.archive, self.progress);
        self.registry
            .send_unauthenticated(Method::PUT, upload_url, body)
            .await?;
        let finalize = self.with_repository(self.registry.url(finalize));
        Ok(Some(
            self.registry.send(Method::POST, finalize, None).await?.json,
        ))
    }
}

/// The archive as a request body; with `progress`, a percentage on stderr as it is sent.
fn body_with_progress(archive: &[u8], progress: bool) -> reqwest::Body {
    if !progress {
        return reqwest::Body::from(archive.to_vec());
    }
    let total = archive.len();
    let chunks: Vec<bytes::Bytes> = archive
        .chunks(64 * 1024)
        .map(bytes::Bytes::copy_from_slice)
        .collect();
    let mut sent = 0usize;
    let stream = futures_util::stream::iter(chunks.into_iter().map(move |chunk| {
        sent += chunk.len();
        let mut stderr = std::io::stderr();
        let _ = write!(
            stderr,
            "\ruploading: {:>3}% ({sent} of {total} bytes)",
            sent * 100 / total.max(1)
        );
        if sent == total {
            let _ = writeln!(stderr);
        }
        Ok::<_, std::io::Error>(chunk)
    }));
    reqwest::Body::wrap_stream(stream)
}

/// The `module` block that uses this version: `~> MAJOR.MINOR` takes its later patches and
/// minor versions; a pre-release is named exactly (`~>` never selects pre-releases).
pub(crate) fn module_block(
    host: &str,
    module: &ModuleAddress,
    version: &semver::Version,
) -> String {
    let constraint = if version.pre.is_empty() {
        format!("~> {}.{}", version.major, version.minor)
    } else {
        version.to_string()
    };
    format!(
        "module \"{}\" {{\n  source  = \"{host}/{}\"\n  version = \"{constraint}\"\n}}\n",
        module.name.replace('-', "_"),
        module.path()
    )
}
