//! `tfreg provider`: publish a provider release from a directory of release files (what
//! goreleaser's provider template or HashiCorp's tooling leaves in `dist/`), and manage the
//! GPG keys a namespace's releases must be signed with.

use super::http::Registry;
use super::publish::DIRECT_UPLOAD_LIMIT_BYTES;
use super::{Answer, ConnectArgs, Failure, Outcome};
use clap::{Args, Subcommand};
use reqwest::{Method, Url};
use std::path::PathBuf;
use tfreg_origin::names::ModuleVersion;
use tfreg_origin::providers::{ProviderAddress, ReleaseNames};

#[derive(Subcommand)]
pub enum ProviderCommand {
    /// Publish a release: the zips, SHA256SUMS, its signature (and the manifest, if there)
    /// found in DIR for the provider and version, as one tar (needs an uploader token); over
    /// the origin Lambda's request limit, through the registry's large-upload path.
    Publish(PublishProviderArgs),
    /// Register a namespace's ASCII-armored GPG public key (needs a master token).
    AddKey {
        /// The namespace whose releases the key signs.
        namespace: String,
        /// The armored public key (`gpg --armor --export …`).
        key_file: PathBuf,
        #[command(flatten)]
        connect: ConnectArgs,
    },
    /// Mirror a public provider's packages into the registry's provider mirror now, so that
    /// `terraform init` through the mirror needs no upstream later (needs a master token).
    Mirror {
        /// The provider's full source address, `hostname/namespace/type`
        /// (`registry.terraform.io/hashicorp/random`).
        provider: String,
        /// The version to mirror.
        version: String,
        /// Platforms, comma-separated (`linux_amd64,darwin_arm64`).
        #[arg(long, value_name = "LIST", default_value = "linux_amd64")]
        platforms: String,
        #[command(flatten)]
        connect: ConnectArgs,
    },
    /// List a namespace's keys (needs a master token).
    Keys {
        namespace: String,
        #[command(flatten)]
        connect: ConnectArgs,
    },
    /// Remove a key from a namespace (needs a master token).
    RemoveKey {
        namespace: String,
        /// The key's 16-hex-digit ID.
        key_id: String,
        #[command(flatten)]
        connect: ConnectArgs,
    },
}

#[derive(Args)]
pub struct PublishProviderArgs {
    /// The directory holding the release's files.
    dir: PathBuf,
    /// The provider address, `namespace/type`.
    #[arg(long, value_name = "NS/TYPE")]
    provider: String,
    /// The version to publish (semver; releases are immutable).
    #[arg(long, value_name = "VERSION")]
    version: String,
    /// The plugin protocols it speaks, comma-separated (default: the manifest's, else 5.0).
    #[arg(long, value_name = "LIST")]
    protocols: Option<String>,
    #[command(flatten)]
    pub connect: ConnectArgs,
}

impl ProviderCommand {
    pub fn connect(&self) -> &ConnectArgs {
        match self {
            ProviderCommand::Publish(args) => &args.connect,
            ProviderCommand::AddKey { connect, .. }
            | ProviderCommand::Keys { connect, .. }
            | ProviderCommand::Mirror { connect, .. }
            | ProviderCommand::RemoveKey { connect, .. } => connect,
        }
    }
}

pub(crate) async fn run(command: ProviderCommand) -> Outcome {
    match command {
        ProviderCommand::Publish(args) => publish(args).await,
        ProviderCommand::AddKey {
            namespace,
            key_file,
            connect,
        } => {
            let key = std::fs::read(&key_file)
                .map_err(|e| Failure::usage(format!("reading {}: {e}", key_file.display())))?;
            let registry = Registry::connect(&connect).await?;
            let url = registry.url(&format!("/v1/provider-keys/{namespace}"));
            let reply = registry.send(Method::POST, url, Some(key.into())).await?;
            let text = format!(
                "Registered key {} for namespace {namespace} on {}.",
                reply.json["key_id"].as_str().unwrap_or(""),
                registry.host
            );
            Ok(Answer {
                text,
                json: reply.json,
            })
        }
        ProviderCommand::Mirror {
            provider,
            version,
            platforms,
            connect,
        } => mirror(&provider, &version, &platforms, connect).await,
        ProviderCommand::Keys { namespace, connect } => {
            let registry = Registry::connect(&connect).await?;
            let url = registry.url(&format!("/v1/provider-keys/{namespace}"));
            let reply = registry.send(Method::GET, url, None).await?;
            let keys = reply.json["keys"].as_array().cloned().unwrap_or_default();
            let text = if keys.is_empty() {
                format!("Namespace {namespace} has no keys.")
            } else {
                keys.iter()
                    .map(|k| {
                        format!(
                            "{}  {}  added {} by {}",
                            k["key_id"].as_str().unwrap_or(""),
                            k["fingerprint"].as_str().unwrap_or(""),
                            k["added_at"].as_str().unwrap_or(""),
                            k["added_by"].as_str().unwrap_or("")
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("\n")
            };
            Ok(Answer {
                text,
                json: reply.json,
            })
        }
        ProviderCommand::RemoveKey {
            namespace,
            key_id,
            connect,
        } => {
            let registry = Registry::connect(&connect).await?;
            let url = registry.url(&format!("/v1/provider-keys/{namespace}/{key_id}"));
            let reply = registry.send(Method::DELETE, url, None).await?;
            Ok(Answer {
                text: reply.json["message"].as_str().unwrap_or("").to_owned(),
                json: reply.json,
            })
        }
    }
}

async fn publish(args: PublishProviderArgs) -> Outcome {
    let (namespace, provider_type) = args.provider.split_once('/').ok_or_else(|| {
        Failure::usage(format!(
            "invalid provider {:?}: use namespace/type, such as acme/dns",
            args.provider
        ))
    })?;
    let provider = ProviderAddress::new(namespace, provider_type)
        .map_err(|e| Failure::usage(e.to_string()))?;
    let version = ModuleVersion::parse(&args.version).map_err(|e| Failure::usage(e.to_string()))?;
    let names = ReleaseNames::new(&provider, &version);
    let entries = std::fs::read_dir(&args.dir)
        .map_err(|e| Failure::usage(format!("reading {}: {e}", args.dir.display())))?;
    let mut files: Vec<String> = Vec::new();
    for entry in entries {
        let name = entry
            .map_err(|e| Failure::usage(format!("reading {}: {e}", args.dir.display())))?
            .file_name()
            .to_string_lossy()
            .into_owned();
        let belongs = name == names.shasums()
            || name == names.signature()
            || name == names.manifest()
            || names.platform_of(&name).is_some();
        if belongs {
            files.push(name);
        }
    }
    files.sort();
    for required in [names.shasums(), names.signature()] {
        if !files.contains(&required) {
            return Err(Failure::usage(format!(
                "{} has no {required}: write it (sha256sum *.zip > {}; gpg --detach-sign {})",
                args.dir.display(),
                names.shasums(),
                names.shasums()
            )));
        }
    }
    let mut tar = tar::Builder::new(Vec::new());
    for name in &files {
        tar.append_path_with_name(args.dir.join(name), name)
            .map_err(|e| Failure::usage(format!("reading {name}: {e}")))?;
    }
    let body = tar
        .into_inner()
        .map_err(|e| Failure::usage(format!("packing the release: {e}")))?;

    let registry = Registry::connect(&args.connect).await?;
    let upload = ReleaseUpload {
        registry: &registry,
        release_path: format!("/v1/providers/{provider}/{version}"),
        protocols: args.protocols.as_deref(),
        tar: &body,
    };
    // As `tfreg publish` does for modules: over the origin Lambda's limit, the staged path
    // first; a registry without one (`tfreg serve`, 404) takes the body directly.
    let published = if body.len() as u64 > DIRECT_UPLOAD_LIMIT_BYTES {
        match upload.staged().await? {
            Some(published) => published,
            None => upload.direct().await?,
        }
    } else {
        match upload.direct().await {
            Ok(published) => published,
            Err(failure) if failure.status == Some(413) => match upload.staged().await? {
                Some(published) => published,
                None => return Err(failure),
            },
            Err(failure) => return Err(failure),
        }
    };
    let platforms: Vec<String> = published["platforms"]
        .as_array()
        .map(|list| {
            list.iter()
                .map(|p| {
                    format!(
                        "{}_{}",
                        p["os"].as_str().unwrap_or(""),
                        p["arch"].as_str().unwrap_or("")
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    let text = format!(
        "Published {provider} {version} to {} ({}; signed by {}).\n\nUse it:\n\nterraform {{\n  required_providers {{\n    {} = {{\n      source  = \"{}/{provider}\"\n      version = \"{version}\"\n    }}\n  }}\n}}\n",
        registry.host,
        platforms.join(", "),
        published["key_id"].as_str().unwrap_or(""),
        provider.provider_type.replace('-', "_"),
        registry.host,
    );
    Ok(Answer {
        text,
        json: published,
    })
}

/// A release's tar on its way to the registry, directly or through the large-upload path.
struct ReleaseUpload<'a> {
    registry: &'a Registry,
    /// `/v1/providers/{ns}/{type}/{version}`
    release_path: String,
    protocols: Option<&'a str>,
    tar: &'a [u8],
}

impl ReleaseUpload<'_> {
    fn with_protocols(&self, mut url: Url) -> Url {
        if let Some(protocols) = self.protocols {
            url.query_pairs_mut().append_pair("protocols", protocols);
        }
        url
    }

    /// `PUT /v1/providers/{ns}/{type}/{version}` with the tar as the body.
    async fn direct(&self) -> Result<serde_json::Value, Failure> {
        let url = self.with_protocols(self.registry.url(&self.release_path));
        let body = reqwest::Body::from(self.tar.to_vec());
        Ok(self.registry.send(Method::PUT, url, Some(body)).await?.json)
    }

    /// `POST …/uploads`, `PUT` the tar to the presigned URL, `POST` finalize (with the
    /// protocols). `None` when the registry has no such path (`tfreg serve`: 404).
    async fn staged(&self) -> Result<Option<serde_json::Value>, Failure> {
        let url = self.registry.url(&format!("{}/uploads", self.release_path));
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
        self.registry
            .send_unauthenticated(Method::PUT, upload_url, self.tar.to_vec().into())
            .await?;
        let finalize = self.with_protocols(self.registry.url(finalize));
        Ok(Some(
            self.registry.send(Method::POST, finalize, None).await?.json,
        ))
    }
}

async fn mirror(provider: &str, version: &str, platforms: &str, connect: ConnectArgs) -> Outcome {
    let parts: Vec<&str> = provider.split('/').collect();
    let [hostname, namespace, provider_type] = parts[..] else {
        return Err(Failure::usage(format!(
            "invalid provider {provider:?}: use hostname/namespace/type, such as registry.terraform.io/hashicorp/random"
        )));
    };
    let provider = tfreg_origin::mirror::MirrorProvider::new(hostname, namespace, provider_type)
        .map_err(|e| Failure::usage(e.to_string()))?;
    let version = ModuleVersion::parse(version).map_err(|e| Failure::usage(e.to_string()))?;
    let platforms: Vec<&str> = platforms
        .split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .collect();
    if platforms.is_empty() {
        return Err(Failure::usage(
            "name at least one platform: --platforms linux_amd64,darwin_arm64",
        ));
    }
    let registry = Registry::connect(&connect).await?;
    let url = registry.url(&format!("/v1/mirror/{provider}/{version}"));
    // One request per platform: on AWS each fetch runs inside one origin invocation, bounded
    // by the mirror's timeout, and several in one request could outlast the function's.
    let mut packages = Vec::new();
    for platform in &platforms {
        let body = serde_json::json!({ "platforms": [platform] }).to_string();
        let reply = registry
            .send(Method::POST, url.clone(), Some(body.into_bytes().into()))
            .await?;
        packages.extend(
            reply.json["packages"]
                .as_array()
                .cloned()
                .unwrap_or_default(),
        );
    }
    let lines: Vec<String> = packages
        .iter()
        .map(|p| {
            format!(
                "  {}  {}  {}",
                p["platform"].as_str().unwrap_or(""),
                if p["fetched"] == true {
                    "fetched"
                } else {
                    "already mirrored"
                },
                p["hashes"][0].as_str().unwrap_or("")
            )
        })
        .collect();
    Ok(Answer {
        text: format!(
            "Mirrored {provider} {version} on {}:\n{}",
            registry.host,
            lines.join("\n")
        ),
        json: serde_json::json!({
            "provider": provider.to_string(),
            "version": version.to_string(),
            "packages": packages,
        }),
    })
}
