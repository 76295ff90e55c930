//! `tfreg versions`, `token`, `pin` and `whoami`: thin commands over the registry's API.

use super::http::Registry;
use super::{parse_versioned, Answer, ConnectArgs, Failure, ModuleAddress, Outcome};
use clap::Subcommand;
use reqwest::Method;

#[derive(Subcommand)]
pub enum TokenCommand {
    /// Create a token; its value is printed once, here, and never again.
    Create {
        /// A name for the token (how it is listed and revoked).
        name: String,
        /// downloader, uploader or master.
        #[arg(long)]
        permission: String,
        /// Limit the token to a module prefix (`acme`, `acme/network`, `acme/network/aws`);
        /// repeat for several.
        #[arg(long = "scope", value_name = "PREFIX")]
        scopes: Vec<String>,
        /// When the token stops working, RFC 3339 (`2027-01-31T00:00:00Z`).
        #[arg(long, value_name = "RFC3339")]
        expires: Option<String>,
        /// What the token is for.
        #[arg(long)]
        description: Option<String>,
        #[command(flatten)]
        connect: ConnectArgs,
    },
    /// List the tokens (names, tiers, scopes, expiry; never their values).
    List {
        #[command(flatten)]
        connect: ConnectArgs,
    },
    /// Revoke a token by name.
    Revoke {
        name: String,
        #[command(flatten)]
        connect: ConnectArgs,
    },
}

#[derive(Subcommand)]
pub enum PinCommand {
    /// Pin an upstream version (`ns/name/system/version`) into this registry.
    Add {
        version: String,
        /// Pin a module the proxy policy does not allow.
        #[arg(long)]
        override_policy: bool,
        #[command(flatten)]
        connect: ConnectArgs,
    },
    /// List the pins.
    List {
        #[command(flatten)]
        connect: ConnectArgs,
    },
    /// Remove a pin (`ns/name/system/version`).
    Rm {
        version: String,
        #[command(flatten)]
        connect: ConnectArgs,
    },
}

impl TokenCommand {
    pub fn connect(&self) -> &ConnectArgs {
        match self {
            TokenCommand::Create { connect, .. }
            | TokenCommand::List { connect }
            | TokenCommand::Revoke { connect, .. } => connect,
        }
    }
}

impl PinCommand {
    pub fn connect(&self) -> &ConnectArgs {
        match self {
            PinCommand::Add { connect, .. }
            | PinCommand::List { connect }
            | PinCommand::Rm { connect, .. } => connect,
        }
    }
}

pub(crate) async fn versions(module: &str, connect: ConnectArgs) -> Outcome {
    let module = ModuleAddress::parse(module)?;
    let registry = Registry::connect(&connect).await?;
    let url = registry.module_url(&format!("{}/versions", module.path()));
    let json = registry.send(Method::GET, url, None).await?.json;
    let mut versions: Vec<semver::Version> = json["modules"][0]["versions"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|v| v["version"].as_str())
        .filter_map(|v| semver::Version::parse(v.trim_start_matches('v')).ok())
        .collect();
    versions.sort_by(|a, b| b.cmp(a));
    let text = if versions.is_empty() {
        format!("{} has no versions", module.path())
    } else {
        versions
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("\n")
    };
    Ok(Answer { text, json })
}

pub(crate) async fn token(command: TokenCommand) -> Outcome {
    match command {
        TokenCommand::Create {
            name,
            permission,
            scopes,
            expires,
            description,
            connect,
        } => {
            if !["downloader", "uploader", "master"].contains(&permission.as_str()) {
                return Err(Failure::usage(format!(
                    "--permission {permission:?}: use downloader, uploader or master"
                )));
            }
            let registry = Registry::connect(&connect).await?;
            let mut request = serde_json::json!({ "name": name, "permission": permission });
            if !scopes.is_empty() {
                request["scopes"] = scopes.into();
            }
            if let Some(expires) = expires {
                request["expires_at"] = expires.into();
            }
            if let Some(description) = description {
                request["description"] = description.into();
            }
            let json = registry
                .send(
                    Method::POST,
                    registry.url("v1/tokens"),
                    Some(request.to_string().into()),
                )
                .await?
                .json;
            let value = json["token_value"].as_str().unwrap_or_default();
            let text = format!(
                "Created {} token {name}{}.\nIts value, shown this once (store it now):\n{value}",
                json["permission"].as_str().unwrap_or(&permission),
                describe_limits(&json),
            );
            Ok(Answer { text, json })
        }
        TokenCommand::List { connect } => {
            let registry = Registry::connect(&connect).await?;
            let json = registry
                .send(Method::GET, registry.url("v1/tokens"), None)
                .await?
                .json;
            let lines: Vec<String> = json["tokens"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|t| {
                    format!(
                        "{}\t{}{}",
                        t["token_name"].as_str().unwrap_or("?"),
                        t["permission"].as_str().unwrap_or("?"),
                        describe_limits(t)
                    )
                })
                .collect();
            Ok(Answer {
                text: if lines.is_empty() {
                    "no tokens".into()
                } else {
                    lines.join("\n")
                },
                json,
            })
        }
        TokenCommand::Revoke { name, connect } => {
            let registry = Registry::connect(&connect).await?;
            let mut url = registry.url("v1/tokens/");
            url.path_segments_mut().unwrap().pop().push(&name);
            let json = registry.send(Method::DELETE, url, None).await?.json;
            Ok(Answer {
                text: format!("Revoked token {name}."),
                json,
            })
        }
    }
}

/// `, scopes acme, other/x, expires 2027-…` for a token record (empty when unlimited).
fn describe_limits(token: &serde_json::Value) -> String {
    let mut text = String::new();
    let scopes: Vec<&str> = token["scopes"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|s| s.as_str())
        .collect();
    if !scopes.is_empty() {
        text.push_str(&format!(", scopes {}", scopes.join(", ")));
    }
    if let Some(expires) = token["expires_at"].as_str() {
        text.push_str(&format!(", expires {expires}"));
    }
    text
}

pub(crate) async fn pin(command: PinCommand) -> Outcome {
    match command {
        PinCommand::Add {
            version,
            override_policy,
            connect,
        } => {
            let (module, version) = parse_versioned(&version)?;
            let registry = Registry::connect(&connect).await?;
            let url = registry.url(&format!("v1/pins/{}/{version}", module.path()));
            let body = override_policy.then(|| {
                serde_json::json!({ "override_policy": true })
                    .to_string()
                    .into()
            });
            let json = registry.send(Method::POST, url, body).await?.json;
            Ok(Answer {
                text: format!(
                    "Pinned {}/{version} (sha256 {}).",
                    module.path(),
                    json["sha256"].as_str().unwrap_or("?")
                ),
                json,
            })
        }
        PinCommand::List { connect } => {
            let registry = Registry::connect(&connect).await?;
            let json = registry
                .send(Method::GET, registry.url("v1/pins"), None)
                .await?
                .json;
            let lines: Vec<String> = json["pins"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|p| {
                    format!(
                        "{}/{}/{}/{}\tfrom {}",
                        p["namespace"].as_str().unwrap_or("?"),
                        p["name"].as_str().unwrap_or("?"),
                        p["system"].as_str().unwrap_or("?"),
                        p["version"].as_str().unwrap_or("?"),
                        p["source_url"].as_str().unwrap_or("?"),
                    )
                })
                .collect();
            Ok(Answer {
                text: if lines.is_empty() {
                    "no pins".into()
                } else {
                    lines.join("\n")
                },
                json,
            })
        }
        PinCommand::Rm { version, connect } => {
            let (module, version) = parse_versioned(&version)?;
            let registry = Registry::connect(&connect).await?;
            let url = registry.url(&format!("v1/pins/{}/{version}", module.path()));
            let json = registry.send(Method::DELETE, url, None).await?.json;
            Ok(Answer {
                text: format!("Removed the pin of {}/{version}.", module.path()),
                json,
            })
        }
    }
}

/// There is no "who am I" route: this says where the token came from and probes the token
/// API, which answers a master token (200), refuses another valid token (403) and an invalid
/// one (401). Tier and scopes below master are not knowable without a route of their own.
pub(crate) async fn whoami(connect: ConnectArgs) -> Outcome {
    let registry = Registry::connect(&connect).await?;
    let probe = registry
        .send(Method::GET, registry.url("v1/tokens"), None)
        .await;
    let (status, tier, reason) = match probe {
        Ok(_) => ("valid", "master", None),
        Err(f) if f.status == Some(403) => {
            ("valid", "downloader or uploader (or a scoped token)", None)
        }
        Err(f) if f.status == Some(401) => ("refused", "none", Some(f.message)),
        Err(f) => return Err(f),
    };
    let json = serde_json::json!({
        "registry": registry.host,
        "token_source": registry.token.source,
        "token": status,
        "tier": tier,
        "reason": reason,
    });
    let mut text = format!(
        "registry: {}\ntoken:    from {}\nstatus:   {status}\ntier:     {tier}",
        registry.host, registry.token.source
    );
    if let Some(reason) = &reason {
        text.push_str(&format!("\nreason:   {reason}"));
    }
    if status == "refused" {
        return Err(Failure {
            status: Some(401),
            ..Failure::request(text.replace('\n', "; "))
        });
    }
    Ok(Answer { text, json })
}
