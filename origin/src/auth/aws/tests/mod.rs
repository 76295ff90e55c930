//! Tests of the AWS IAM exchange:
//! - [`exchange`]: each check by name, through [`AwsExchanger::exchange`] against a fake STS
//!   on loopback that records what it is sent (and grants whatever reaches it, so a check
//!   that lets a bad request through fails its test);
//! - [`parts`]: configuration, rules, STS answers, the client's signer;
//! - [`moto`]: end to end against moto's STS.

mod exchange;
mod moto;
mod parts;

use super::*;
use crate::auth::ExchangeError;
use aws_credential_types::Credentials;
use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use serde_json::{json, Map, Value};
use std::sync::{Arc, Mutex};
use std::time::{Duration, UNIX_EPOCH};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

const SERVER_ID: &str = "registry.example.com";
/// 2026-11-30T09:30:00Z
const NOW: u64 = 1_796_031_000;
const USER_ARN: &str = "arn:aws:iam::123456789012:user/alice";
const ROLE_SESSION_ARN: &str = "arn:aws:sts::123456789012:assumed-role/ci-deploy/build-42";

/// A stand-in STS on loopback: answers every request with `status` and `body`, and keeps what
/// it was sent.
struct FakeSts {
    endpoint: String,
    requests: Arc<Mutex<Vec<String>>>,
}

impl FakeSts {
    async fn answering(status: u16, body: &str) -> FakeSts {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let endpoint = format!("http://{}/", listener.local_addr().unwrap());
        let requests = Arc::new(Mutex::new(Vec::new()));
        let (recorded, body) = (requests.clone(), body.to_owned());
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                let request = read_request(&mut socket).await;
                recorded.lock().unwrap().push(request);
                let answer = format!(
                    "HTTP/1.1 {status} X\r\ncontent-type: text/xml\r\ncontent-length: {}\r\n\
                     connection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = socket.write_all(answer.as_bytes()).await;
            }
        });
        FakeSts { endpoint, requests }
    }

    async fn identifying(arn: &str) -> FakeSts {
        FakeSts::answering(200, &identity_xml(arn)).await
    }

    fn requests(&self) -> Vec<String> {
        self.requests.lock().unwrap().clone()
    }
}

async fn read_request(socket: &mut tokio::net::TcpStream) -> String {
    let mut buffer = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let n = socket.read(&mut chunk).await.unwrap_or(0);
        if n == 0 {
            break;
        }
        buffer.extend_from_slice(&chunk[..n]);
        let text = String::from_utf8_lossy(&buffer).to_string();
        if let Some(end) = text.find("\r\n\r\n") {
            let length = text[..end]
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("content-length:")
                        .map(|v| v.trim().parse::<usize>().unwrap())
                })
                .unwrap_or(0);
            if buffer.len() >= end + 4 + length {
                break;
            }
        }
    }
    String::from_utf8_lossy(&buffer).to_string()
}

fn identity_xml(arn: &str) -> String {
    format!(
        r#"<GetCallerIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
  <GetCallerIdentityResult>
    <Arn>{arn}</Arn>
    <UserId>AIDAEXAMPLE</UserId>
    <Account>123456789012</Account>
  </GetCallerIdentityResult>
  <ResponseMetadata><RequestId>01234567-89ab-cdef-0123-456789abcdef</RequestId></ResponseMetadata>
</GetCallerIdentityResponse>"#
    )
}

fn error_xml(code: &str) -> String {
    format!(
        r#"<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
  <Error><Type>Sender</Type><Code>{code}</Code><Message>'AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/x, Signature=deadbeef' quoted back</Message></Error>
  <RequestId>01234567-89ab-cdef-0123-456789abcdef</RequestId>
</ErrorResponse>"#
    )
}

fn config_for(endpoint: &str) -> AwsAuthConfig {
    serde_json::from_value(json!({
        "sts_endpoint": endpoint,
        "server_id": SERVER_ID,
        "rules": [
            {"arn": "arn:aws:iam::123456789012:role/ci-*", "tier": "uploader", "scopes": ["acme"], "ttl_secs": 600},
            {"arn": "arn:aws:iam::123456789012:user/*", "tier": "downloader"}
        ]
    }))
    .unwrap()
}

fn exchanger(endpoint: &str) -> AwsExchanger {
    AwsExchanger::new(config_for(endpoint)).unwrap()
}

fn credentials() -> Credentials {
    Credentials::new(
        "AKIDEXAMPLE",
        "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
        None,
        None,
        "test",
    )
}

fn signed_at(endpoint: &str, server_id: &str, at: u64) -> Value {
    let now = UNIX_EPOCH + Duration::from_secs(at);
    signed_exchange_request(&credentials(), "us-east-1", endpoint, server_id, now).unwrap()
}

fn signed(endpoint: &str) -> Value {
    signed_at(endpoint, SERVER_ID, NOW)
}

fn encode(value: &Value) -> Vec<u8> {
    serde_json::to_vec(value).unwrap()
}

fn decoded(request: &Value, field: &str) -> String {
    String::from_utf8(BASE64.decode(request[field].as_str().unwrap()).unwrap()).unwrap()
}

/// `request` with `field` set to base64 of `text`.
fn with_field(mut request: Value, field: &str, text: &str) -> Value {
    request[field] = json!(BASE64.encode(text));
    request
}

fn headers(request: &Value) -> Map<String, Value> {
    serde_json::from_str(&decoded(request, "iam_request_headers")).unwrap()
}

/// `request` with its headers changed by `change`.
fn with_headers(request: Value, change: impl FnOnce(&mut Map<String, Value>)) -> Value {
    let mut map = headers(&request);
    change(&mut map);
    let text = serde_json::to_string(&map).unwrap();
    with_field(request, "iam_request_headers", &text)
}

fn header(request: &Value, name: &str) -> String {
    headers(request)[name][0].as_str().unwrap().to_owned()
}

async fn exchange(exchanger: &AwsExchanger, request: &Value) -> Result<Grant, ExchangeError> {
    exchanger.exchange(&encode(request), NOW).await
}

#[track_caller]
fn assert_refused(result: Result<Grant, ExchangeError>, words: &str) {
    match result {
        Err(ExchangeError::Refused(message)) => {
            assert!(message.contains(words), "{message:?} should say {words:?}")
        }
        other => panic!("expected a refusal saying {words:?}, got {other:?}"),
    }
}

#[track_caller]
fn assert_malformed(result: Result<Grant, ExchangeError>, words: &str) {
    match result {
        Err(ExchangeError::Malformed(message)) => {
            assert!(message.contains(words), "{message:?} should say {words:?}")
        }
        other => panic!("expected a 400 saying {words:?}, got {other:?}"),
    }
}
