//! Talking to a registry: its address, the TLS trust, the token, service discovery, and the
//! mapping of refusals to [`Failure`]s that carry the server's own message.

use super::credentials::{find_token, normalize_host, FoundToken};
use super::{ConnectArgs, Failure};
use reqwest::{Method, Url};

pub(crate) struct Registry {
    /// `https://host[:port]/`
    pub base: Url,
    /// The host in Terraform's form, as in a module `source` (`127.0.0.1:8443`).
    pub host: String,
    /// Where the modules API is, from `/.well-known/terraform.json` (`modules.v1`).
    pub modules: Url,
    pub token: FoundToken,
    client: reqwest::Client,
}

/// A successful answer: its status and JSON body (`null` when there is none).
pub(crate) struct Reply {
    pub json: serde_json::Value,
}

/// Says what an error is and why, following its chain of causes (reqwest's own `Display`
/// omits them, and "error sending request" alone helps nobody).
pub(crate) fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

impl Registry {
    /// Resolves the registry and its token (before any network, so a missing token is exit 4
    /// at once), then asks the registry where its modules API is.
    pub async fn connect(connect: &ConnectArgs) -> Result<Self, Failure> {
        let Some(address) = connect.registry.as_deref().filter(|a| !a.trim().is_empty()) else {
            return Err(Failure::usage(
                "which registry? pass --registry https://host[:port] or set TFREG_REGISTRY",
            ));
        };
        let host = normalize_host(address)?;
        let base = Url::parse(&format!("https://{host}/"))
            .map_err(|e| Failure::usage(format!("{address:?} is not a registry address: {e}")))?;
        let token = match find_token(&host, connect.token_file.as_deref()) {
            Ok(token) => token,
            // Nothing written down: the registry's exchange, as the credentials helper does it.
            Err(missing) if missing.kind == "no_credentials" => {
                match crate::credentials_helper::exchanged_token(&host).await {
                    Ok(Some(exchanged)) => FoundToken {
                        token: exchanged.token,
                        source:
                            "an exchange of this machine's identity (as the credentials helper)"
                                .into(),
                    },
                    Ok(None) => return Err(missing),
                    Err(why) => {
                        return Err(Failure::no_credentials(format!(
                            "{}; and the registry's exchange gave none: {why}",
                            missing.message
                        )))
                    }
                }
            }
            Err(failure) => return Err(failure),
        };
        let client = http_client(connect)?;
        let mut registry = Registry {
            modules: base.clone(),
            base,
            host,
            token,
            client,
        };
        registry.modules = registry.discover().await?;
        Ok(registry)
    }

    async fn discover(&self) -> Result<Url, Failure> {
        let url = self.base.join(".well-known/terraform.json").unwrap();
        let response = self.client.get(url.clone()).send().await.map_err(|e| {
            Failure::request(format!("cannot reach the registry at {url}: {}", chain(&e)))
        })?;
        let status = response.status();
        let document: serde_json::Value = response.json().await.unwrap_or_default();
        let modules = document["modules.v1"]
            .as_str()
            .filter(|_| status.is_success());
        let Some(modules) = modules else {
            return Err(Failure::request(format!(
                "{url} answered {status} without a modules.v1 service: is {} a Terraform registry?",
                self.host
            )));
        };
        let modules = if modules.ends_with('/') {
            modules.to_owned()
        } else {
            format!("{modules}/")
        };
        self.base
            .join(&modules)
            .map_err(|e| Failure::request(format!("{url}: bad modules.v1 {modules:?}: {e}")))
    }

    /// The URL of a modules API path (`acme/vpc/aws/versions`).
    pub fn module_url(&self, path: &str) -> Url {
        self.modules.join(path).unwrap()
    }

    /// The URL of a path from the host's root (`v1/tokens`).
    pub fn url(&self, path: &str) -> Url {
        self.base.join(path).unwrap()
    }

    /// Sends an authenticated request; a 4xx/5xx becomes a [`Failure`] with the server's
    /// message.
    pub async fn send(
        &self,
        method: Method,
        url: Url,
        body: Option<reqwest::Body>,
    ) -> Result<Reply, Failure> {
        let mut request = self
            .client
            .request(method.clone(), url.clone())
            .bearer_auth(&self.token.token);
        if let Some(body) = body {
            request = request.body(body);
        }
        let response = request
            .send()
            .await
            .map_err(|e| Failure::request(format!("{method} {url} failed: {}", chain(&e))))?;
        self.read(method, url, response).await
    }

    /// An unauthenticated request (a presigned upload URL carries its own authority; the
    /// registry's token must not go to S3).
    pub async fn send_unauthenticated(
        &self,
        method: Method,
        url: Url,
        body: reqwest::Body,
    ) -> Result<(), Failure> {
        let response = self
            .client
            .request(method.clone(), url.clone())
            .body(body)
            .send()
            .await
            .map_err(|e| {
                Failure::request(format!("{method} to the upload URL failed: {}", chain(&e)))
            })?;
        let status = response.status();
        if !status.is_success() {
            let text = response.text().await.unwrap_or_default();
            return Err(Failure::request(format!(
                "the upload URL answered {status}: {}",
                text.chars().take(300).collect::<String>()
            )));
        }
        Ok(())
    }

    async fn read(
        &self,
        method: Method,
        url: Url,
        response: reqwest::Response,
    ) -> Result<Reply, Failure> {
        let status = response.status();
        let bytes = response.bytes().await.map_err(|e| {
            Failure::request(format!("{method} {url}: reading the answer: {}", chain(&e)))
        })?;
        let json: serde_json::Value = if bytes.is_empty() {
            serde_json::Value::Null
        } else {
            serde_json::from_slice(&bytes).unwrap_or_else(|_| {
                serde_json::Value::String(String::from_utf8_lossy(&bytes).into_owned())
            })
        };
        if status.is_success() {
            return Ok(Reply { json });
        }
        let message = json["message"]
            .as_str()
            .or_else(|| json["errors"][0].as_str())
            .or_else(|| json.as_str())
            .unwrap_or("")
            .to_owned();
        let code = json["code"].as_str().or_else(|| json["error"].as_str());
        let hint = match status.as_u16() {
            401 => format!(
                " (the token from {} was refused: get a valid one and `tfreg login {}`, or set another)",
                self.token.source, self.host
            ),
            403 => format!(
                " (the token from {} lacks the tier or scope this needs)",
                self.token.source
            ),
            _ => String::new(),
        };
        let path = url.path();
        Err(Failure {
            status: Some(status.as_u16()),
            code: code.map(str::to_owned),
            ..Failure::request(format!("{method} {path}: {status}: {message}{hint}"))
        })
    }
}

/// An HTTPS client that trusts the system's roots, SSL_CERT_FILE and `--ca-file`.
fn http_client(connect: &ConnectArgs) -> Result<reqwest::Client, Failure> {
    let mut builder = reqwest::Client::builder()
        .user_agent(concat!("tfreg/", env!("CARGO_PKG_VERSION")))
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(std::time::Duration::from_secs(15));
    let ssl_cert_file = std::env::var_os("SSL_CERT_FILE")
        .filter(|v| !v.is_empty())
        .map(std::path::PathBuf::from);
    for path in connect.ca_file.iter().chain(ssl_cert_file.iter()) {
        let pem = std::fs::read(path)
            .map_err(|e| Failure::usage(format!("reading the CA file {}: {e}", path.display())))?;
        let certificates = reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| {
            Failure::usage(format!("{} holds no PEM certificates: {e}", path.display()))
        })?;
        for certificate in certificates {
            builder = builder.add_root_certificate(certificate);
        }
    }
    builder
        .build()
        .map_err(|e| Failure::request(format!("setting up HTTPS: {}", chain(&e))))
}
