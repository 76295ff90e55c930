//! Where the helper's token comes from: the registry's discovery document says which exchanges
//! it offers (the `tfreg.auth.v1` member), the environment says which identity is at hand (a
//! CI's OIDC token, else AWS credentials from the standard chain), and the exchange trades one
//! for a short-lived registry token.

use super::protocol::names_host;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::Value;
use std::time::{Duration, SystemTime};
use tfreg_origin::auth::aws::{signed_exchange_request, sts_signing_region, DEFAULT_STS_ENDPOINT};

/// The discovery document's member naming the exchanges a registry offers, and how to use
/// them: `{"aws": {"sts_endpoint", "server_id"}, "oidc": {"audience", "issuers": [{"issuer",
/// "audience"}]}}` (`oidc.audience` only when every issuer takes the same one).
pub const DISCOVERY_MEMBER: &str = "tfreg.auth.v1";

/// GitHub Actions' OIDC issuer: its tokens are requested with the audience the registry names.
const GITHUB_ISSUER: &str = "https://token.actions.githubusercontent.com";

/// What a registry offers, from its discovery document and the `TFREG_*` overrides.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Offered {
    pub aws: Option<AwsExchange>,
    /// `(issuer, audience)` pairs; offered at all when non-empty.
    pub oidc: Vec<(String, String)>,
    /// The audience to ask GitHub for: `TFREG_OIDC_AUDIENCE`, else the document's
    /// `oidc.audience` (there when every issuer takes the same one).
    pub oidc_audience: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AwsExchange {
    pub sts_endpoint: String,
    pub server_id: String,
}

impl Offered {
    /// Reads the `tfreg.auth.v1` member of `discovery`, then applies `TFREG_STS_ENDPOINT`,
    /// `TFREG_SERVER_ID` and `TFREG_OIDC_AUDIENCE`.
    pub fn read(discovery: &Value, var: &dyn Fn(&str) -> Option<String>) -> Offered {
        let member = &discovery[DISCOVERY_MEMBER];
        let text = |value: &Value| value.as_str().map(str::to_owned);
        let aws = &member["aws"];
        let server_id = var("TFREG_SERVER_ID").or_else(|| text(&aws["server_id"]));
        let sts_endpoint = var("TFREG_STS_ENDPOINT").or_else(|| text(&aws["sts_endpoint"]));
        let aws = server_id.map(|server_id| AwsExchange {
            sts_endpoint: sts_endpoint.unwrap_or_else(|| DEFAULT_STS_ENDPOINT.to_owned()),
            server_id,
        });
        let oidc = member["oidc"]["issuers"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|issuer| Some((text(&issuer["issuer"])?, text(&issuer["audience"])?)))
            .collect();
        Offered {
            aws,
            oidc,
            oidc_audience: var("TFREG_OIDC_AUDIENCE").or_else(|| text(&member["oidc"]["audience"])),
        }
    }

    fn offers_oidc(&self) -> bool {
        !self.oidc.is_empty() || self.oidc_audience.is_some()
    }
}

/// A CI's OIDC identity token, or how to get one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CiToken {
    /// GitHub Actions (`permissions: id-token: write`): requested with an audience.
    GitHub { request_url: String, bearer: String },
    /// A token the CI already made (GitLab's `id_tokens:`, any other issuer's), and the
    /// variable it was in.
    Given { token: String, variable: String },
}

impl CiToken {
    /// `TFREG_OIDC_TOKEN_ENV` (the name of the variable holding the token, as GitLab's
    /// `id_tokens:` sets it), else `TFREG_OIDC_TOKEN`, else GitHub Actions' request variables.
    pub fn from_env(var: &dyn Fn(&str) -> Option<String>) -> Result<Option<CiToken>, String> {
        if let Some(variable) = var("TFREG_OIDC_TOKEN_ENV") {
            return match var(&variable) {
                Some(token) => Ok(Some(CiToken::Given { token, variable })),
                None => Err(format!(
                    "TFREG_OIDC_TOKEN_ENV names {variable}, which is not set: give the job an \
                     identity token in it (GitLab: `id_tokens: {variable}: aud: <registry host>`)"
                )),
            };
        }
        if let Some(token) = var("TFREG_OIDC_TOKEN") {
            let variable = "TFREG_OIDC_TOKEN".to_owned();
            return Ok(Some(CiToken::Given { token, variable }));
        }
        match (
            var("ACTIONS_ID_TOKEN_REQUEST_URL"),
            var("ACTIONS_ID_TOKEN_REQUEST_TOKEN"),
        ) {
            (Some(request_url), Some(bearer)) => Ok(Some(CiToken::GitHub {
                request_url,
                bearer,
            })),
            _ => Ok(None),
        }
    }
}

/// Which exchange to make with `host`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Plan {
    /// The registry offers no exchange: the helper has no credentials for it (`{}`).
    Nothing,
    /// GitHub Actions' token for `audience`, then `POST /v1/auth/oidc`.
    GitHubOidc {
        request_url: String,
        bearer: String,
        audience: String,
    },
    /// A CI's token as it is, then `POST /v1/auth/oidc`.
    GivenOidc { token: String },
    /// A signed `GetCallerIdentity` with the AWS credential chain, then `POST /v1/auth/aws`.
    Aws(AwsExchange),
}

/// Chooses the exchange: a CI token when there is one and the registry takes OIDC, else AWS
/// when the registry takes that. A proof is made only for the registry it is meant for: the
/// server ID signed in, the audience of a CI token, must name `host` (see
/// [`names_host`]), or another host Terraform talks to could collect it and replay it here.
pub fn plan(host: &str, offered: &Offered, ci: Option<CiToken>) -> Result<Plan, String> {
    match ci {
        Some(ci) if offered.offers_oidc() => oidc_plan(host, offered, ci),
        _ => match &offered.aws {
            Some(aws) if names_host(&aws.server_id, host) => Ok(Plan::Aws(aws.clone())),
            Some(aws) => Err(format!(
                "{host} asks for AWS requests signed for server ID {:?}, which is not its own \
                 host name, so the helper does not sign one (another host could replay it): ask \
                 an admin of {host} to set the exchange's server_id to {host}, or use a token",
                aws.server_id
            )),
            None if offered.offers_oidc() => Err(format!(
                "{host} offers only the CI OIDC exchange, and no CI identity token is available \
                 here (GitHub Actions: `permissions: id-token: write`; GitLab: `id_tokens:` with \
                 TFREG_OIDC_TOKEN_ENV naming the variable; or TFREG_OIDC_TOKEN): run in CI, or \
                 use a token (a `credentials \"{host}\"` block in the CLI configuration)"
            )),
            None => Ok(Plan::Nothing),
        },
    }
}

fn oidc_plan(host: &str, offered: &Offered, ci: CiToken) -> Result<Plan, String> {
    match ci {
        CiToken::Given { token, variable } => {
            let audiences = token_audiences(&token)
                .ok_or_else(|| format!("{variable} does not hold a JWT identity token"))?;
            if !audiences.iter().any(|aud| names_host(aud, host)) {
                return Err(format!(
                    "the identity token in {variable} is for audience {audiences:?}, not {host}, \
                     so the helper does not send it there: make the token for {host} (GitLab: \
                     `id_tokens: {variable}: aud: {host}`)"
                ));
            }
            Ok(Plan::GivenOidc { token })
        }
        CiToken::GitHub {
            request_url,
            bearer,
        } => {
            let audience = match (&offered.oidc_audience, offered.oidc.as_slice()) {
                (Some(audience), _) => audience.clone(),
                (None, [(_, audience)]) => audience.clone(),
                (None, issuers) => issuers
                    .iter()
                    .find(|(issuer, _)| issuer.trim_end_matches('/') == GITHUB_ISSUER)
                    .map(|(_, audience)| audience.clone())
                    .ok_or_else(|| {
                        format!(
                            "{host} trusts several OIDC issuers, none of them GitHub Actions': \
                             set TFREG_OIDC_AUDIENCE to the audience to ask GitHub for"
                        )
                    })?,
            };
            if !names_host(&audience, host) {
                return Err(format!(
                    "{host} asks for GitHub tokens with audience {audience:?}, which is not its \
                     own host name, so the helper does not request one for it (another host \
                     could replay it): ask an admin of {host} to set the issuer's audience to \
                     {host}"
                ));
            }
            Ok(Plan::GitHubOidc {
                request_url,
                bearer,
                audience,
            })
        }
    }
}

/// The `aud` claim of a JWT (a string or a list), read without checking the signature: the
/// helper only decides where the token may go; the registry checks it.
pub fn token_audiences(token: &str) -> Option<Vec<String>> {
    let payload = token.split('.').nth(1)?;
    let payload = URL_SAFE_NO_PAD.decode(payload.trim_end_matches('=')).ok()?;
    let claims: Value = serde_json::from_slice(&payload).ok()?;
    match &claims["aud"] {
        Value::String(aud) => Some(vec![aud.clone()]),
        Value::Array(list) => Some(
            list.iter()
                .filter_map(|a| a.as_str().map(str::to_owned))
                .collect(),
        ),
        _ => Some(Vec::new()),
    }
}

/// A token an exchange issued.
pub struct Issued {
    pub token: String,
    pub expires_in_secs: u64,
}

/// The helper's HTTP client: the platform's roots (`SSL_CERT_FILE` and `SSL_CERT_DIR` replace
/// them when set, which is how a registry with a private CA is trusted) and the built-in ones;
/// no redirects, since nothing the helper sends should go anywhere but where it was addressed.
pub fn http_client() -> Result<reqwest::Client, String> {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(30))
        .user_agent(concat!(
            "tfreg-credentials-helper/",
            env!("CARGO_PKG_VERSION")
        ))
        .build()
        .map_err(|e| format!("cannot build an HTTP client: {e}"))
}

/// `https://{host}/.well-known/terraform.json`.
pub async fn discover(client: &reqwest::Client, host: &str) -> Result<Value, String> {
    let url = format!("https://{host}/.well-known/terraform.json");
    let response = client
        .get(&url)
        .send()
        .await
        .map_err(|e| format!("cannot reach {url}: {}", error_chain(&e)))?;
    if !response.status().is_success() {
        return Err(format!("{url} answered {}", response.status()));
    }
    response
        .json()
        .await
        .map_err(|e| format!("{url} is not a discovery document: {e}"))
}

/// Makes the exchange `plan` names with `host`.
pub async fn exchange(
    client: &reqwest::Client,
    host: &str,
    plan: &Plan,
) -> Result<Option<Issued>, String> {
    let (method, body) = match plan {
        Plan::Nothing => return Ok(None),
        Plan::GivenOidc { token } => ("oidc", serde_json::json!({ "token": token })),
        Plan::GitHubOidc {
            request_url,
            bearer,
            audience,
        } => {
            let token = github_token(client, request_url, bearer, audience).await?;
            ("oidc", serde_json::json!({ "token": token }))
        }
        Plan::Aws(aws) => ("aws", aws_signed_request(aws).await?),
    };
    let url = format!("https://{host}/v1/auth/{method}");
    let response = client
        .post(&url)
        .json(&body)
        .send()
        .await
        .map_err(|e| format!("cannot reach {url}: {}", error_chain(&e)))?;
    let status = response.status().as_u16();
    let answer: Value = response.json().await.unwrap_or(Value::Null);
    let what = if method == "aws" {
        "AWS identity"
    } else {
        "CI identity token"
    };
    if status != 201 {
        let message = answer["message"]
            .as_str()
            .or_else(|| answer["errors"][0].as_str())
            .unwrap_or("no reason given");
        return Err(match status {
            401 => format!(
                "{host} refused the {what}: {message}; ask an admin of {host} to add a trust \
                 rule for it, or use a token (a `credentials \"{host}\"` block)"
            ),
            _ => format!("{host} answered {status} to the {what} exchange: {message}"),
        });
    }
    match (
        answer["token_value"].as_str(),
        answer["expires_in"].as_u64(),
    ) {
        (Some(token), Some(expires_in_secs)) => Ok(Some(Issued {
            token: token.to_owned(),
            expires_in_secs,
        })),
        _ => Err(format!(
            "{url} answered 201 without a token_value and expires_in"
        )),
    }
}

/// GitHub Actions' identity token for `audience`.
async fn github_token(
    client: &reqwest::Client,
    request_url: &str,
    bearer: &str,
    audience: &str,
) -> Result<String, String> {
    let mut url = reqwest::Url::parse(request_url)
        .map_err(|e| format!("ACTIONS_ID_TOKEN_REQUEST_URL is not a URL: {e}"))?;
    url.query_pairs_mut().append_pair("audience", audience);
    let fail = |e: String| format!("cannot get GitHub Actions' identity token: {e}");
    let response = client
        .get(url)
        .header("authorization", format!("bearer {bearer}"))
        .send()
        .await
        .map_err(|e| fail(error_chain(&e)))?;
    if !response.status().is_success() {
        return Err(fail(format!(
            "answered {} (does the job have `permissions: id-token: write`?)",
            response.status()
        )));
    }
    let answer: Value = response.json().await.map_err(|e| fail(e.to_string()))?;
    answer["value"]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| fail("the answer has no value".into()))
}

/// The body of `POST /v1/auth/aws`: credentials from the standard AWS chain (environment,
/// profile, web identity, container and instance roles), the region from the STS
/// endpoint's name or else the chain's.
async fn aws_signed_request(aws: &AwsExchange) -> Result<Value, String> {
    use aws_credential_types::provider::ProvideCredentials;
    let config = tfreg_origin::aws::sdk_config(None, None).await;
    let no_credentials = |why: String| {
        format!(
            "no AWS credentials to prove who you are: configure them (AWS_PROFILE, \
             AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or a role; for SSO, export them with \
             `aws configure export-credentials --format env`), or use a token.\n{why}"
        )
    };
    let provider = config
        .credentials_provider()
        .ok_or_else(|| no_credentials("no credential provider".into()))?;
    let credentials = provider
        .provide_credentials()
        .await
        .map_err(|e| no_credentials(error_chain(&e)))?;
    let region = sts_signing_region(&aws.sts_endpoint)
        .or_else(|| config.region().map(|r| r.to_string()))
        .unwrap_or_else(|| "us-east-1".to_owned());
    signed_exchange_request(
        &credentials,
        &region,
        &aws.sts_endpoint,
        &aws.server_id,
        SystemTime::now(),
    )
}

/// An error and its causes on one line (reqwest's own message alone is often just "error
/// sending request").
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn no_env(_: &str) -> Option<String> {
        None
    }

    fn jwt_with(claims: Value) -> String {
        format!(
            "eyJhbGciOiJSUzI1NiJ9.{}.c2ln",
            URL_SAFE_NO_PAD.encode(claims.to_string())
        )
    }

    fn discovery() -> Value {
        json!({
            "modules.v1": "/v1/modules/",
            "tfreg.auth.v1": {
                "aws": {"sts_endpoint": "https://sts.eu-west-1.amazonaws.com/", "server_id": "registry.example.com"},
                "oidc": {"issuers": [
                    {"issuer": "https://gitlab.example.com", "audience": "https://registry.example.com/"},
                    {"issuer": "https://token.actions.githubusercontent.com", "audience": "registry.example.com"}
                ]}
            }
        })
    }

    #[test]
    fn the_discovery_member_and_overrides_say_what_is_offered() {
        let offered = Offered::read(&discovery(), &no_env);
        assert_eq!(
            offered.aws,
            Some(AwsExchange {
                sts_endpoint: "https://sts.eu-west-1.amazonaws.com/".into(),
                server_id: "registry.example.com".into(),
            })
        );
        assert_eq!(offered.oidc.len(), 2);

        let plain = Offered::read(&json!({"modules.v1": "/v1/modules/"}), &no_env);
        assert_eq!(plain, Offered::default());
        let overridden = Offered::read(&json!({}), &|name: &str| match name {
            "TFREG_SERVER_ID" => Some("registry.example.com".into()),
            _ => None,
        });
        assert_eq!(
            overridden.aws.unwrap().sts_endpoint,
            DEFAULT_STS_ENDPOINT,
            "the global STS endpoint by default"
        );
    }

    #[test]
    fn a_registry_without_exchanges_gets_no_credentials() {
        let offered = Offered::read(&json!({"modules.v1": "/v1/modules/"}), &no_env);
        assert_eq!(
            plan("registry.terraform.io", &offered, None),
            Ok(Plan::Nothing)
        );
    }

    #[test]
    fn aws_is_signed_only_for_a_server_id_naming_the_host() {
        let offered = Offered::read(&discovery(), &no_env);
        assert!(matches!(
            plan("registry.example.com", &offered, None),
            Ok(Plan::Aws(_))
        ));
        let error = plan("evil.example.com", &offered, None).unwrap_err();
        assert!(error.contains("not its own host name"), "{error}");
    }

    #[test]
    fn a_ci_token_is_preferred_and_goes_only_to_its_audience() {
        let offered = Offered::read(&discovery(), &no_env);
        let given = |aud: Value| CiToken::Given {
            token: jwt_with(json!({"aud": aud, "sub": "project_path:acme/infra"})),
            variable: "TFREG_ID_TOKEN".into(),
        };
        assert!(matches!(
            plan(
                "registry.example.com",
                &offered,
                Some(given(json!("https://registry.example.com")))
            ),
            Ok(Plan::GivenOidc { .. })
        ));
        assert!(matches!(
            plan(
                "registry.example.com",
                &offered,
                Some(given(json!(["x", "registry.example.com"])))
            ),
            Ok(Plan::GivenOidc { .. })
        ));
        let error = plan(
            "registry.example.com",
            &offered,
            Some(given(json!("other"))),
        )
        .unwrap_err();
        assert!(error.contains("aud: registry.example.com"), "{error}");
        assert!(!error.contains("eyJ"), "the token is never shown: {error}");

        let github = CiToken::GitHub {
            request_url: "https://gh.example/token?api-version=2.0".into(),
            bearer: "b".into(),
        };
        assert_eq!(
            plan("registry.example.com", &offered, Some(github.clone())),
            Ok(Plan::GitHubOidc {
                request_url: "https://gh.example/token?api-version=2.0".into(),
                bearer: "b".into(),
                audience: "registry.example.com".into(),
            })
        );
        // Without the OIDC exchange, a CI job with AWS credentials uses those.
        let aws_only = Offered {
            oidc: Vec::new(),
            ..offered
        };
        assert!(matches!(
            plan("registry.example.com", &aws_only, Some(github)),
            Ok(Plan::Aws(_))
        ));
    }

    #[test]
    fn only_oidc_offered_and_no_ci_token_says_what_to_do() {
        let offered = Offered {
            oidc: vec![("https://gitlab.com".into(), "registry.example.com".into())],
            ..Offered::default()
        };
        let error = plan("registry.example.com", &offered, None).unwrap_err();
        assert!(error.contains("id-token: write"), "{error}");
    }

    #[test]
    fn ci_tokens_come_from_the_named_variable_then_the_generic_one_then_github() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |name: &str| {
                pairs
                    .iter()
                    .find(|(n, _)| *n == name)
                    .map(|(_, v)| v.to_string())
            }
        };
        assert_eq!(
            CiToken::from_env(&env(&[
                ("TFREG_OIDC_TOKEN_ENV", "TFREG_ID_TOKEN"),
                ("TFREG_ID_TOKEN", "jwt1"),
                ("TFREG_OIDC_TOKEN", "jwt2"),
            ])),
            Ok(Some(CiToken::Given {
                token: "jwt1".into(),
                variable: "TFREG_ID_TOKEN".into()
            }))
        );
        let error =
            CiToken::from_env(&env(&[("TFREG_OIDC_TOKEN_ENV", "TFREG_ID_TOKEN")])).unwrap_err();
        assert!(error.contains("id_tokens: TFREG_ID_TOKEN"), "{error}");
        assert_eq!(
            CiToken::from_env(&env(&[
                ("ACTIONS_ID_TOKEN_REQUEST_URL", "https://gh.example/t"),
                ("ACTIONS_ID_TOKEN_REQUEST_TOKEN", "b"),
            ])),
            Ok(Some(CiToken::GitHub {
                request_url: "https://gh.example/t".into(),
                bearer: "b".into()
            }))
        );
        assert_eq!(CiToken::from_env(&no_env), Ok(None));
    }
}
