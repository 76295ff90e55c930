//! The client's half of the exchange: a SigV4-signed `sts:GetCallerIdentity` request in the
//! shape `POST /v1/auth/aws` takes (the credentials helper and `tfreg login` send it).

use super::request::FORM_CONTENT_TYPE;
use super::{host_header, SERVER_ID_HEADER};
use aws_credential_types::Credentials;
use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningSettings};
use aws_sigv4::sign::v4;
use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use serde_json::{json, Map, Value};
use std::time::SystemTime;

const GET_CALLER_IDENTITY: &str = "Action=GetCallerIdentity&Version=2011-06-15";

/// The body of `POST /v1/auth/aws` for `credentials`: `GetCallerIdentity` signed at `now` for
/// `sts_endpoint` (the registry's configured one; STS's region `region`, `us-east-1` for the
/// global endpoint) with `X-Tfreg-Server-Id: server_id` among the signed headers.
///
/// ```json
/// {"iam_http_request_method": "POST",
///  "iam_request_url": "aHR0cHM6Ly9zdHMuYW1hem9uYXdzLmNvbS8=",
///  "iam_request_body": "QWN0aW9uPUdldENhbGxlcklkZW50aXR5JlZlcnNpb249MjAxMS0wNi0xNQ==",
///  "iam_request_headers": "<base64 of {\"authorization\": [\"AWS4-HMAC-SHA256 …\"],
///     \"content-type\": […], \"host\": […], \"x-amz-date\": […],
///     \"x-amz-security-token\": […] (session credentials only), \"x-tfreg-server-id\": […]}>"}
/// ```
///
/// The answer holds a signature usable for 15 minutes, for this registry only: treat it as a
/// short-lived secret (do not log it). An error names what is wrong with the arguments.
pub fn signed_exchange_request(
    credentials: &Credentials,
    region: &str,
    sts_endpoint: &str,
    server_id: &str,
    now: SystemTime,
) -> Result<Value, String> {
    let url = url::Url::parse(sts_endpoint)
        .map_err(|e| format!("the STS endpoint {sts_endpoint:?} is not a URL: {e}"))?;
    if url.host_str().is_none() || url.query().is_some() || !url.username().is_empty() {
        return Err(format!(
            "the STS endpoint {sts_endpoint:?} must be a plain https://host/ URL"
        ));
    }
    let host = host_header(&url);
    let unsigned_headers = [
        ("content-type", FORM_CONTENT_TYPE),
        ("host", host.as_str()),
        (SERVER_ID_HEADER, server_id),
    ];
    let identity = credentials.clone().into();
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(region)
        .name("sts")
        .time(now)
        .settings(SigningSettings::default())
        .build()
        .map_err(|e| format!("cannot sign for STS: {e}"))?
        .into();
    let signable = SignableRequest::new(
        "POST",
        url.as_str(),
        unsigned_headers.iter().copied(),
        SignableBody::Bytes(GET_CALLER_IDENTITY.as_bytes()),
    )
    .map_err(|e| format!("cannot sign for STS: {e}"))?;
    let (instructions, _signature) = sign(signable, &params)
        .map_err(|e| format!("cannot sign for STS: {e}"))?
        .into_parts();

    // Go's http.Header shape (a list of values per name), as Vault's clients send it.
    let mut headers = Map::new();
    for (name, value) in unsigned_headers
        .iter()
        .copied()
        .chain(instructions.headers())
    {
        headers.insert(name.to_ascii_lowercase(), json!([value]));
    }
    let headers = serde_json::to_vec(&Value::Object(headers)).expect("a map serialises");
    Ok(json!({
        "iam_http_request_method": "POST",
        "iam_request_url": BASE64.encode(url.as_str()),
        "iam_request_body": BASE64.encode(GET_CALLER_IDENTITY),
        "iam_request_headers": BASE64.encode(headers),
    }))
}

/// The region to sign for at `sts_endpoint`, read from its host name: `us-east-1` for the
/// global endpoint, `eu-west-1` for `sts.eu-west-1.amazonaws.com` (and for a VPC endpoint
/// such as `vpce-0123-abcd.sts.eu-west-1.vpce.amazonaws.com`, or a FIPS one). `None` when the
/// host does not say (a private or test endpoint): the caller must be told the region.
pub fn sts_signing_region(sts_endpoint: &str) -> Option<String> {
    let url = url::Url::parse(sts_endpoint).ok()?;
    let host = url.host_str()?.to_ascii_lowercase();
    if host == "sts.amazonaws.com" {
        return Some("us-east-1".into());
    }
    let labels: Vec<&str> = host.split('.').collect();
    let sts_at = labels
        .iter()
        .position(|label| *label == "sts" || *label == "sts-fips")?;
    let region = *labels.get(sts_at + 1)?;
    let looks_like_region = region.split('-').count() >= 3
        && region.ends_with(|c: char| c.is_ascii_digit())
        && region
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    looks_like_region.then(|| region.to_owned())
}
