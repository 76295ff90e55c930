//! The `tfreg` client: publishing and administering a registry from a terminal or from CI.
//!
//! Every command finds the registry (`--registry` / `TFREG_REGISTRY`), the token for its host
//! where Terraform would find it (`credentials.rs`), talks to the HTTP API (`http.rs`), and
//! answers in words or, with `--json`, in one JSON document on stdout. Exit codes are stable
//! for scripts: see [`Failure`].

mod admin;
mod credentials;
mod http;
mod ignore;
mod pack;
mod provider;
mod publish;

use clap::{Args, Subcommand};
use std::path::PathBuf;

pub use credentials::{env_var_for_host, host_from_env_var};

/// Where the registry is, how to trust it and how to answer. Every client command takes these.
#[derive(Args, Clone)]
pub struct ConnectArgs {
    /// The registry's address, `https://host[:port]`.
    #[arg(long, env = "TFREG_REGISTRY", value_name = "URL")]
    pub registry: Option<String>,
    /// PEM file of CA certificates to trust besides the system's (a private CA; `tfreg serve`
    /// writes its own to `<data-dir>/tls/ca.pem`). SSL_CERT_FILE is honoured too.
    #[arg(long, env = "TFREG_CA_FILE", value_name = "PEM_FILE")]
    pub ca_file: Option<PathBuf>,
    /// File holding the token to use, ahead of anything Terraform would find for the host.
    #[arg(long, value_name = "FILE")]
    pub token_file: Option<PathBuf>,
    /// Answer in JSON on stdout (errors too), for scripts.
    #[arg(long)]
    pub json: bool,
}

/// The client's commands, top-level subcommands of `tfreg`.
#[derive(Subcommand)]
pub enum ClientCommand {
    /// Pack a module directory, validate it with the registry's rules, and publish it as a
    /// version.
    Publish(publish::PublishArgs),
    /// List the versions of a module (`ns/name/system`).
    Versions {
        /// The module, `namespace/name/system`.
        module: String,
        #[command(flatten)]
        connect: ConnectArgs,
    },
    /// Publish provider releases, and manage the GPG keys that sign them.
    #[command(subcommand)]
    Provider(provider::ProviderCommand),
    /// Create, list and revoke tokens (needs a master token).
    #[command(subcommand)]
    Token(admin::TokenCommand),
    /// Pin upstream versions into the registry, list and remove pins (needs a master token).
    #[command(subcommand)]
    Pin(admin::PinCommand),
    /// Say which registry and token the client would use, where the token came from, and what
    /// the registry makes of it.
    Whoami {
        #[command(flatten)]
        connect: ConnectArgs,
    },
    /// Store a token for a registry host in Terraform's credentials.tfrc.json (mode 0600),
    /// where both Terraform and this client find it. The token is read from stdin or
    /// --token-file.
    Login {
        /// The registry host, `host[:port]` (or its https:// URL).
        host: String,
        /// File holding the token (default: the first line of stdin).
        #[arg(long, value_name = "FILE", conflicts_with = "exchange")]
        token_file: Option<PathBuf>,
        /// Get the token from the registry's exchange instead (this machine's AWS identity, or
        /// the CI job's identity token), as the credentials helper does. The token stored then
        /// expires with the exchange's grant (at most an hour): for lasting use, configure the
        /// credentials helper instead.
        #[arg(long)]
        exchange: bool,
        /// Answer in JSON on stdout.
        #[arg(long)]
        json: bool,
    },
}

/// Why a command failed, and the exit code that says so to scripts.
#[derive(Debug)]
pub struct Failure {
    pub exit_code: i32,
    /// Stable name for `--json` answers: `request_failed`, `usage`, `invalid_module`,
    /// `no_credentials`.
    pub kind: &'static str,
    /// What went wrong and what to do; never a token.
    pub message: String,
    /// The HTTP status and the server's error code, when the registry refused.
    pub status: Option<u16>,
    pub code: Option<String>,
}

impl Failure {
    /// Exit 1: the registry refused the request or could not be reached.
    pub fn request(message: impl Into<String>) -> Self {
        Failure::new(1, "request_failed", message)
    }
    /// Exit 2: the command line is wrong.
    pub fn usage(message: impl Into<String>) -> Self {
        Failure::new(2, "usage", message)
    }
    /// Exit 3: the module failed local validation; nothing was sent.
    pub fn invalid_module(message: impl Into<String>) -> Self {
        Failure::new(3, "invalid_module", message)
    }
    /// Exit 4: no token for the registry's host anywhere the client looks.
    pub fn no_credentials(message: impl Into<String>) -> Self {
        Failure::new(4, "no_credentials", message)
    }

    fn new(exit_code: i32, kind: &'static str, message: impl Into<String>) -> Self {
        Failure {
            exit_code,
            kind,
            message: message.into(),
            status: None,
            code: None,
        }
    }
}

pub type Outcome = Result<Answer, Failure>;

/// What a command prints when it succeeds: words for people, a JSON value for `--json`.
pub struct Answer {
    pub text: String,
    pub json: serde_json::Value,
}

/// Runs a client command and returns the process exit code, having printed the answer (stdout)
/// or the error (stderr; and stdout too with `--json`).
pub fn run(command: ClientCommand, runtime: &tokio::runtime::Runtime) -> i32 {
    let json = match &command {
        ClientCommand::Publish(args) => args.connect.json,
        ClientCommand::Versions { connect, .. } | ClientCommand::Whoami { connect } => connect.json,
        ClientCommand::Token(command) => command.connect().json,
        ClientCommand::Pin(command) => command.connect().json,
        ClientCommand::Provider(command) => command.connect().json,
        ClientCommand::Login { json, .. } => *json,
    };
    let outcome = runtime.block_on(async move {
        match command {
            ClientCommand::Publish(args) => publish::run(args).await,
            ClientCommand::Versions { module, connect } => admin::versions(&module, connect).await,
            ClientCommand::Token(command) => admin::token(command).await,
            ClientCommand::Pin(command) => admin::pin(command).await,
            ClientCommand::Provider(command) => provider::run(command).await,
            ClientCommand::Whoami { connect } => admin::whoami(connect).await,
            ClientCommand::Login {
                host,
                token_file,
                exchange,
                json: _,
            } => {
                if exchange {
                    credentials::login_by_exchange(&host).await
                } else {
                    credentials::login(&host, token_file.as_deref())
                }
            }
        }
    });
    match outcome {
        Ok(answer) => {
            if json {
                println!("{}", serde_json::to_string_pretty(&answer.json).unwrap());
            } else if !answer.text.is_empty() {
                println!("{}", answer.text.trim_end());
            }
            0
        }
        Err(failure) => {
            eprintln!("error: {}", failure.message);
            if json {
                let body = serde_json::json!({
                    "error": failure.kind,
                    "message": failure.message,
                    "status": failure.status,
                    "code": failure.code,
                });
                println!("{}", serde_json::to_string_pretty(&body).unwrap());
            }
            failure.exit_code
        }
    }
}

/// A module address `namespace/name/system`, checked before anything is sent.
pub(crate) struct ModuleAddress {
    pub namespace: String,
    pub name: String,
    pub system: String,
}

impl ModuleAddress {
    pub fn parse(text: &str) -> Result<Self, Failure> {
        let parts: Vec<&str> = text.split('/').collect();
        match parts.as_slice() {
            [namespace, name, system] => {
                // The registry's own rules, so that a typo is told before anything is sent.
                tfreg_origin::names::ModuleAddress::new(namespace, name, system)
                    .map_err(|e| Failure::usage(format!("{text:?}: {e}")))?;
                Ok(ModuleAddress {
                    namespace: namespace.to_string(),
                    name: name.to_string(),
                    system: system.to_string(),
                })
            }
            _ => Err(Failure::usage(format!(
                "{text:?} is not a module address; write namespace/name/system, as in acme/vpc/aws"
            ))),
        }
    }

    pub fn path(&self) -> String {
        format!("{}/{}/{}", self.namespace, self.name, self.system)
    }
}

/// A module address with a version, `namespace/name/system/version` (pins).
pub(crate) fn parse_versioned(text: &str) -> Result<(ModuleAddress, String), Failure> {
    match text.rsplit_once('/') {
        Some((module, version)) if !version.is_empty() && module.matches('/').count() == 2 => {
            Ok((ModuleAddress::parse(module)?, version.to_owned()))
        }
        _ => Err(Failure::usage(format!(
            "{text:?} is not a module version; write namespace/name/system/version, as in hashicorp/consul/aws/0.12.0"
        ))),
    }
}
