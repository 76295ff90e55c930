//! `GetSecretValue`, the one Secrets Manager call the origin Lambda makes (once per container,
//! for its URL signing key), as one SigV4-signed POST in the AWS JSON 1.1 protocol:
//!
//! ```text
//! POST / HTTP/1.1
//! Host: secretsmanager.{region}.amazonaws.com
//! Content-Type: application/x-amz-json-1.1
//! X-Amz-Target: secretsmanager.GetSecretValue
//! Authorization: AWS4-HMAC-SHA256 Credential=…/{region}/secretsmanager/aws4_request, …
//!
//! {"SecretId": "…"}                       -> 200 {"SecretString": "…", "ARN": …, …}
//!                                         -> 400 {"__type": "ResourceNotFoundException", "Message": …}
//! ```
//!
//! Why not `aws-sdk-secretsmanager`: for this single call the crate made up about a fifth of
//! `bootstrap` and pushed the deployed zip over 6 MB (numbers in the commit that replaced it).
//! Everything else comes from the SDK configuration the S3 and DynamoDB clients are built on:
//! region, credentials (the function's role), endpoint override (`TFREG_ENDPOINT_URL`, so
//! tests reach moto) and timeouts; the request goes through the same HTTP connector crate
//! (aws-smithy-http-client: hyper, rustls over ring, the platform's roots, loaded once per
//! process), so nothing new is linked in.

use aws_credential_types::provider::ProvideCredentials;
use aws_credential_types::Credentials;
use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningSettings};
use aws_sigv4::sign::v4;
use aws_smithy_http_client::tls;
use aws_smithy_runtime_api::client::http::{HttpConnector, HttpConnectorSettings};
use aws_smithy_runtime_api::client::orchestrator::HttpRequest;
use aws_smithy_types::body::SdkBody;
use aws_smithy_types::error::display::DisplayErrorContext;
use http_body_util::{BodyExt, Limited};
use serde::Deserialize;
use std::time::{Duration, SystemTime};

const TARGET: &str = "secretsmanager.GetSecretValue";
const CONTENT_TYPE: &str = "application/x-amz-json-1.1";
/// The longest answer read: a secret's value is at most 64 KiB.
const MAX_ANSWER_BYTES: usize = 256 * 1024;
/// Tries of a call that failed on the way or that the service could not answer (5xx,
/// throttling), as the SDK's standard retry mode makes them.
const ATTEMPTS: u32 = 3;
/// An error message from the endpoint is quoted up to this many characters.
const MAX_MESSAGE_CHARS: usize = 300;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SecretsManagerError {
    #[error("no AWS credentials to sign with: {0}")]
    Credentials(String),
    #[error("cannot sign the request: {0}")]
    Signing(String),
    #[error("Secrets Manager ({endpoint}) could not be reached: {reason}")]
    Unreachable { endpoint: String, reason: String },
    #[error("Secrets Manager answered {status} {code}: {message}")]
    Refused {
        status: u16,
        /// The AWS error code (`__type`), such as `ResourceNotFoundException`.
        code: String,
        message: String,
    },
    #[error("Secrets Manager's answer ({status}) is not GetSecretValue's JSON")]
    Malformed { status: u16 },
    #[error("the secret holds no text (SecretString); a binary secret is not read")]
    NoText,
}

impl SecretsManagerError {
    /// Worth another try: nothing came back, or the service said it could not answer now.
    fn is_transient(&self) -> bool {
        match self {
            SecretsManagerError::Unreachable { .. } => true,
            SecretsManagerError::Refused { status, code, .. } => {
                *status >= 500 || *status == 429 || code.contains("Throttl")
            }
            _ => false,
        }
    }
}

/// The URL requests are POSTed to: the SDK configuration's endpoint override when there is
/// one (a local stand-in), else the region's public endpoint.
pub fn endpoint_url(region: &str, endpoint_override: Option<&str>) -> String {
    match endpoint_override {
        Some(url) => format!("{}/", url.trim_end_matches('/')),
        None if region.starts_with("cn-") => {
            format!("https://secretsmanager.{region}.amazonaws.com.cn/")
        }
        None => format!("https://secretsmanager.{region}.amazonaws.com/"),
    }
}

/// A `GetSecretValue` request, signed: what is sent, as it is sent.
#[derive(Debug)]
pub struct SignedRequest {
    pub url: String,
    /// Lower-case names, the signature's own headers (`authorization`, `x-amz-date`,
    /// `x-amz-security-token` for session credentials) included.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

/// `GetSecretValue` of `secret_id` (name or ARN) for `endpoint` (from [`endpoint_url`]),
/// signed at `now` with `credentials` for `region`.
pub fn signed_request(
    endpoint: &str,
    region: &str,
    secret_id: &str,
    credentials: &Credentials,
    now: SystemTime,
) -> Result<SignedRequest, SecretsManagerError> {
    let signing = |e: &dyn std::fmt::Display| SecretsManagerError::Signing(e.to_string());
    let url = url::Url::parse(endpoint).map_err(|e| {
        SecretsManagerError::Signing(format!("the endpoint {endpoint:?} is not a URL: {e}"))
    })?;
    let host = crate::auth::aws::host_header(&url);
    let body = serde_json::to_vec(&serde_json::json!({ "SecretId": secret_id }))
        .expect("a JSON object serialises");
    let unsigned = [
        ("content-type", CONTENT_TYPE),
        ("host", host.as_str()),
        ("x-amz-target", TARGET),
    ];
    let identity = credentials.clone().into();
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(region)
        .name("secretsmanager")
        .time(now)
        .settings(SigningSettings::default())
        .build()
        .map_err(|e| signing(&e))?
        .into();
    let signable = SignableRequest::new(
        "POST",
        url.as_str(),
        unsigned.iter().copied(),
        SignableBody::Bytes(&body),
    )
    .map_err(|e| signing(&e))?;
    let (instructions, _signature) = sign(signable, &params)
        .map_err(|e| signing(&e))?
        .into_parts();
    let headers = unsigned
        .iter()
        .copied()
        .chain(instructions.headers())
        .map(|(name, value)| (name.to_ascii_lowercase(), value.to_owned()))
        .collect();
    Ok(SignedRequest {
        url: url.into(),
        headers,
        body,
    })
}

/// The secret's text from an answer: `status`, its `x-amzn-errortype` header if any, and its
/// body. Errors name the status and the AWS error code and never quote a successful answer
/// (which holds the secret).
pub fn read_answer(
    status: u16,
    error_type_header: Option<&str>,
    body: &[u8],
) -> Result<String, SecretsManagerError> {
    if (200..300).contains(&status) {
        #[derive(Deserialize)]
        struct Answer {
            #[serde(rename = "SecretString")]
            secret_string: Option<String>,
        }
        let answer: Answer =
            serde_json::from_slice(body).map_err(|_| SecretsManagerError::Malformed { status })?;
        return answer.secret_string.ok_or(SecretsManagerError::NoText);
    }
    let error: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
    let text = |key: &str| error.get(key).and_then(|v| v.as_str());
    let code = error_type_header
        .or_else(|| text("__type"))
        .or_else(|| text("code"))
        .map(error_code)
        .unwrap_or("(no error code)")
        .to_owned();
    let message = ["message", "Message", "errorMessage"]
        .into_iter()
        .find_map(text)
        .unwrap_or("(no message)")
        .chars()
        .take(MAX_MESSAGE_CHARS)
        .collect();
    Err(SecretsManagerError::Refused {
        status,
        code,
        message,
    })
}

/// An AWS error code without the `namespace#` before it or the `:url` after it (as the SDK's
/// JSON protocols read `__type` and `x-amzn-errortype`).
fn error_code(raw: &str) -> &str {
    let raw = raw.split(':').next().unwrap_or(raw);
    raw.rsplit('#').next().unwrap_or(raw)
}

/// Reads the text of secret `secret_id` with the region, credentials, endpoint override and
/// timeouts of `sdk`.
pub async fn get_secret_value(
    sdk: &aws_config::SdkConfig,
    secret_id: &str,
) -> Result<String, SecretsManagerError> {
    let region = sdk
        .region()
        .map(|r| r.as_ref())
        .unwrap_or(crate::aws::DEFAULT_REGION);
    let endpoint = endpoint_url(region, sdk.endpoint_url());
    let credentials = sdk
        .credentials_provider()
        .ok_or_else(|| SecretsManagerError::Credentials("no provider is configured".into()))?
        .provide_credentials()
        .await
        .map_err(|e| SecretsManagerError::Credentials(DisplayErrorContext(&e).to_string()))?;
    let connector = connector(sdk);
    let mut attempt = 0;
    loop {
        let request = signed_request(
            &endpoint,
            region,
            secret_id,
            &credentials,
            SystemTime::now(),
        )?;
        let result = match send(&connector, request).await {
            Ok((status, error_type, body)) => read_answer(status, error_type.as_deref(), &body),
            Err(reason) => Err(SecretsManagerError::Unreachable {
                endpoint: endpoint.clone(),
                reason,
            }),
        };
        attempt += 1;
        match result {
            Err(error) if error.is_transient() && attempt < ATTEMPTS => {
                tracing::warn!(error = %error, attempt, "GetSecretValue, trying again");
                tokio::time::sleep(Duration::from_millis(100 << attempt)).await;
            }
            result => return result,
        }
    }
}

/// An HTTP connector with the SDK configuration's connect and read timeouts.
fn connector(sdk: &aws_config::SdkConfig) -> aws_smithy_http_client::Connector {
    let timeouts = sdk.timeout_config();
    let mut settings = HttpConnectorSettings::builder();
    if let Some(connect) = timeouts.and_then(|t| t.connect_timeout()) {
        settings = settings.connect_timeout(connect);
    }
    if let Some(read) = timeouts.and_then(|t| t.read_timeout()) {
        settings = settings.read_timeout(read);
    }
    let mut builder = aws_smithy_http_client::Connector::builder();
    builder.set_sleep_impl(sdk.sleep_impl());
    builder
        .connector_settings(settings.build())
        .tls_provider(tls::Provider::Rustls(
            tls::rustls_provider::CryptoMode::Ring,
        ))
        .build()
}

/// Sends `request`: the answer's status, `x-amzn-errortype` and body, or why none came.
async fn send(
    connector: &aws_smithy_http_client::Connector,
    request: SignedRequest,
) -> Result<(u16, Option<String>, Vec<u8>), String> {
    let mut builder = http::Request::builder().method("POST").uri(&request.url);
    for (name, value) in &request.headers {
        builder = builder.header(name, value);
    }
    let request = builder
        .body(SdkBody::from(request.body))
        .map_err(|e| e.to_string())?;
    let request = HttpRequest::try_from(request).map_err(|e| e.to_string())?;
    let answer = connector
        .call(request)
        .await
        .map_err(|e| DisplayErrorContext(&e).to_string())?;
    let status = answer.status().as_u16();
    let error_type = answer.headers().get("x-amzn-errortype").map(str::to_owned);
    let body = Limited::new(answer.into_body(), MAX_ANSWER_BYTES)
        .collect()
        .await
        .map_err(|e| format!("the answer was cut short or too long: {e}"))?
        .to_bytes()
        .to_vec();
    Ok((status, error_type, body))
}

#[cfg(test)]
#[path = "secrets_manager_tests.rs"]
mod tests;
