//! `tfreg provider`: publish a provider release from a directory of release files (what
//! goreleaser's provider template or HashiCorp's tooling leaves in `dist/`), and manage the
//! GPG keys a namespace's releases must be signed with.

use super::http::Registry;
use super::{Answer, ConnectArgs, Failure, Outcome};
use clap::{Args, Subcommand};
use reqwest::Method;
use std::path::PathBuf;
use tfreg_origin::names::ModuleVersion;
use tfreg_origin::providers::{ProviderAddress, ReleaseNames};

#[derive(Subcommand)]
pub enum ProviderCommand {
    /// Publish a release: the zips, SHA256SUMS, its signature (and the manifest, if there)
    /// found in DIR for the provider and version, in one request (needs an uploader token).
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
    let mut url = registry.url(&format!("/v1/providers/{provider}/{version}"));
    if let Some(protocols) = &args.protocols {
        url.query_pairs_mut().append_pair("protocols", protocols);
    }
    let reply = registry.send(Method::PUT, url, Some(body.into())).await?;
    let platforms: Vec<String> = reply.json["platforms"]
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
        reply.json["key_id"].as_str().unwrap_or(""),
        provider.provider_type.replace('-', "_"),
        registry.host,
    );
    Ok(Answer {
        text,
        json: reply.json,
    })
}
