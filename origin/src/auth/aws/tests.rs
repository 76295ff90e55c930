//! The exchange's checks, each refusal by name, against a fake STS on loopback that records
//! what it is sent (and grants whatever reaches it, so a check that lets a bad request through
//! fails its test). The end-to-end test against moto's STS is in `moto_tests`.

use super::*;
use crate::auth::ExchangeError;
use aws_credential_types::Credentials;
use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use serde_json::{json, Map, Value};
use std::sync::{Arc, Mutex};
use std::time::{Duration, UNIX_EPOCH};
use tfreg_edge::Tier;
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
                .find_map(|l| l.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().parse::<usize>().unwrap()))
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
    Credentials::new("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", None, None, "test")
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

#[tokio::test]
async fn a_signed_request_is_forwarded_with_only_its_signed_headers_and_granted() {
    let sts = FakeSts::identifying(USER_ARN).await;
    let exchanger = exchanger(&sts.endpoint);
    // Something unsigned rides along: it must not reach STS.
    let request = with_headers(signed(&sts.endpoint), |h| {
        h.insert("x-smuggled".into(), json!(["1"]));
        h.insert("x-amz-security-token".into(), json!("unsigned-token"));
    });

    let grant = exchange(&exchanger, &request).await.unwrap();
    assert_eq!(
        grant,
        Grant {
            subject: USER_ARN.into(),
            tier: Tier::Downloader,
            scopes: vec![],
            ttl_secs: 900,
        }
    );

    let sent = sts.requests();
    assert_eq!(sent.len(), 1);
    let sent = sent[0].to_ascii_lowercase();
    assert!(sent.starts_with("post / http/1.1\r\n"), "{sent}");
    assert!(sent.ends_with("\r\n\r\naction=getcalleridentity&version=2011-06-15"), "{sent}");
    for signed_header in ["authorization: aws4-hmac-sha256 credential=akidexample/20261130/us-east-1/sts/aws4_request, signedheaders=content-type;host;x-amz-date;x-tfreg-server-id, signature=",
        "x-amz-date: 20261130t093000z", "x-tfreg-server-id: registry.example.com",
        "content-type: application/x-www-form-urlencoded; charset=utf-8"]
    {
        assert!(sent.contains(signed_header), "{signed_header} missing from {sent}");
    }
    assert!(!sent.contains("x-smuggled"), "{sent}");
    assert!(!sent.contains("unsigned-token"), "{sent}");
}

#[tokio::test]
async fn a_role_session_is_granted_by_its_roles_rule_as_itself() {
    let sts = FakeSts::identifying(ROLE_SESSION_ARN).await;
    let grant = exchange(&exchanger(&sts.endpoint), &signed(&sts.endpoint))
        .await
        .unwrap();
    assert_eq!(grant.subject, ROLE_SESSION_ARN);
    assert_eq!(grant.tier, Tier::Uploader);
    assert_eq!(grant.scopes, vec!["acme".to_owned()]);
    assert_eq!(grant.ttl_secs, 600);
}

#[tokio::test]
async fn parameters_in_the_other_order_are_the_same_call() {
    let sts = FakeSts::identifying(USER_ARN).await;
    let request = with_field(
        signed(&sts.endpoint),
        "iam_request_body",
        "Version=2011-06-15&Action=GetCallerIdentity",
    );
    assert!(exchange(&exchanger(&sts.endpoint), &request).await.is_ok());
}

#[tokio::test]
async fn an_arn_matching_no_rule_is_refused_by_name() {
    let sts = FakeSts::identifying("arn:aws:sts::999999999999:assumed-role/ci-deploy/x").await;
    assert_refused(
        exchange(&exchanger(&sts.endpoint), &signed(&sts.endpoint)).await,
        "no trust rule of this registry admits \
         arn:aws:sts::999999999999:assumed-role/ci-deploy/x (nor its role \
         arn:aws:iam::999999999999:role/ci-deploy)",
    );
}

#[tokio::test]
async fn urls_other_than_the_endpoint_are_refused() {
    let sts = FakeSts::identifying(USER_ARN).await;
    let exchanger = exchanger(&sts.endpoint);
    let port = sts.endpoint.trim_end_matches('/').rsplit(':').next().unwrap().to_owned();
    let others = [
        format!("http://127.0.0.2:{port}/"),
        format!("https://127.0.0.1:{port}/"),
        format!("http://127.0.0.1:{}/", port.parse::<u16>().unwrap() + 1),
        format!("http://127.0.0.1:{port}/other"),
        format!("http://127.0.0.1:{port}/?Action=AssumeRole"),
        format!("http://127.0.0.1:{port}/#x"),
        format!("http://user:pass@127.0.0.1:{port}/"),
        format!("http://127.0.0.1:{port}/%2e/"),
        format!("http://127.0.0.1:{port}/a/../"),
        format!("http://127.0.0.1:{port}\\@evil.example/"),
        format!(" http://127.0.0.1:{port}/"),
        "https://sts.amazonaws.com/".to_owned(),
        "not a url".to_owned(),
    ];
    for url in others {
        let request = with_field(signed(&sts.endpoint), "iam_request_url", &url);
        assert_refused(
            exchange(&exchanger, &request).await,
            "iam_request_url must be this registry's STS endpoint",
        );
    }
    // The endpoint without its trailing slash is the same URL.
    let request = with_field(
        signed(&sts.endpoint),
        "iam_request_url",
        sts.endpoint.trim_end_matches('/'),
    );
    assert!(exchange(&exchanger, &request).await.is_ok());
    assert_eq!(sts.requests().len(), 1);
}

#[tokio::test]
async fn a_request_signed_for_another_host_is_refused() {
    let sts = FakeSts::identifying(USER_ARN).await;
    let elsewhere = sts.endpoint.replace("127.0.0.1", "127.0.0.2");
    let request = with_field(signed(&elsewhere), "iam_request_url", &sts.endpoint);
    assert_refused(
        exchange(&exchanger(&sts.endpoint), &request).await,
        "the signed Host header is \"127.0.0.2:",
    );
}

#[tokio::test]
async fn methods_other_than_post_are_refused() {
    let sts = FakeSts::identifying(USER_ARN).await;
    let mut request = signed(&sts.endpoint);
    request["iam_http_request_method"] = json!("GET");
    assert_refused(
        exchange(&exchanger(&sts.endpoint), &request).await,
        "only POST",
    );
}

#[tokio::test]
async fn calls_other_than_get_caller_identity_are_refused() {
    let sts = FakeSts::identifying(USER_ARN).await;
    let exchanger = exchanger(&sts.endpoint);
    for body in [
        "Action=AssumeRole&Version=2011-06-15&RoleArn=arn:aws:iam::1:role/x",
        "Action=GetCallerIdentity&Version=2011-06-15&Extra=1",
        "Action=GetCallerIdentity",
        "Action=GetCallerIdentity&Version=2011-06-15&Action=GetCallerIdentity",
        "Action=GetCaller%49dentity&Version=2011-06-15",
        "",
    ] {
        let request = with_field(signed(&sts.endpoint), "iam_request_body", body);
        assert_refused(
            exchange(&exchanger, &request).await,
            "iam_request_body must be exactly Action=GetCallerIdentity",
        );
    }
    assert!(sts.requests().is_empty());
}

#[tokio::test]
async fn the_server_id_must_be_present_signed_and_ours() {
    let sts = FakeSts::identifying(USER_ARN).await;
    let exchanger = exchanger(&sts.endpoint);

    let missing = with_headers(signed(&sts.endpoint), |h| {
        h.remove(SERVER_ID_HEADER);
    });
    assert_refused(
        exchange(&exchanger, &missing).await,
        "no X-Tfreg-Server-Id header",
    );

    let unsigned = with_headers(signed(&sts.endpoint), |h| {
        let authorization = h["authorization"][0].as_str().unwrap().replace(";x-tfreg-server-id", "");
        h.insert("authorization".into(), json!([authorization]));
    });
    assert_refused(
        exchange(&exchanger, &unsigned).await,
        "X-Tfreg-Server-Id is not among the signed headers",
    );

    let for_another = signed_at(&sts.endpoint, "vault.example.com", NOW);
    assert_refused(
        exchange(&exchanger, &for_another).await,
        "signed for server ID \"vault.example.com\"; this registry's is \"registry.example.com\"",
    );
    assert!(sts.requests().is_empty());
}

#[tokio::test]
async fn stale_and_future_signatures_are_refused() {
    let sts = FakeSts::identifying(USER_ARN).await;
    let exchanger = exchanger(&sts.endpoint);
    assert_refused(
        exchange(&exchanger, &signed_at(&sts.endpoint, SERVER_ID, NOW - 901)).await,
        "the signed request is 901 seconds old",
    );
    assert_refused(
        exchange(&exchanger, &signed_at(&sts.endpoint, SERVER_ID, NOW + 901)).await,
        "dated 901 seconds in the future",
    );
    let garbled = with_headers(signed(&sts.endpoint), |h| {
        h.insert("x-amz-date".into(), json!(["2026-11-30T09:30:00Z"]));
    });
    assert_refused(exchange(&exchanger, &garbled).await, "is not a date and time");
    assert!(sts.requests().is_empty());
    // At the edges of the window: accepted.
    for at in [NOW - 900, NOW + 900] {
        assert!(exchange(&exchanger, &signed_at(&sts.endpoint, SERVER_ID, at)).await.is_ok());
    }
}

#[tokio::test]
async fn unsigned_or_oddly_signed_requests_are_refused() {
    let sts = FakeSts::identifying(USER_ARN).await;
    let exchanger = exchanger(&sts.endpoint);
    let authorization = header(&signed(&sts.endpoint), "authorization");
    let cases = [
        (None, "it has no Authorization header"),
        (Some("Bearer abc".to_owned()), "not an AWS4-HMAC-SHA256 (SigV4) signature"),
        (Some(authorization.replace("/sts/", "/s3/")), "not signed for STS"),
        (Some(authorization.replace("SignedHeaders=", "SignedHeaders=x-absent;")), "x-absent is a signed header (SignedHeaders) but is not in iam_request_headers"),
        (Some(authorization.replace(";host", "")), "host is not among the signed headers"),
        (Some(authorization.replace(";x-amz-date", "")), "x-amz-date is not among the signed headers"),
        (Some(authorization.replace("SignedHeaders=", "SignedHeaders=Host;")), "not a list of lowercase header names"),
        (Some(authorization.replace(", Signature=", ", Signature=a, Signature=")), "gives Signature twice"),
        (Some(authorization.split(", Signature=").next().unwrap().to_owned()), "lacks Credential, SignedHeaders or Signature"),
    ];
    for (value, words) in cases {
        let request = with_headers(signed(&sts.endpoint), |h| match value {
            Some(value) => {
                h.insert("authorization".into(), json!([value]));
            }
            None => {
                h.remove("authorization");
            }
        });
        assert_refused(exchange(&exchanger, &request).await, words);
    }
    // A hop-by-hop header cannot be forwarded as signed.
    let request = with_headers(signed(&sts.endpoint), |h| {
        h.insert("connection".into(), json!(["close"]));
        let value = h["authorization"][0].as_str().unwrap().replace("SignedHeaders=", "SignedHeaders=connection;");
        h.insert("authorization".into(), json!([value]));
    });
    assert_refused(exchange(&exchanger, &request).await, "connection is signed");
    assert!(sts.requests().is_empty());
}

#[tokio::test]
async fn malformed_requests_are_400s() {
    let sts = FakeSts::identifying(USER_ARN).await;
    let exchanger = exchanger(&sts.endpoint);
    let big = vec![b' '; MAX_EXCHANGE_REQUEST_BYTES + 1];
    assert_malformed(exchanger.exchange(&big, NOW).await, "at most 16384 are read");
    assert_malformed(exchanger.exchange(b"{not json", NOW).await, "not the JSON object expected");
    let mut with_role = signed(&sts.endpoint);
    with_role["role"] = json!("admin");
    assert_malformed(exchange(&exchanger, &with_role).await, "unknown field `role`");
    let mut missing = signed(&sts.endpoint);
    missing.as_object_mut().unwrap().remove("iam_request_headers");
    assert_malformed(exchange(&exchanger, &missing).await, "missing field `iam_request_headers`");
    for field in ["iam_request_url", "iam_request_body", "iam_request_headers"] {
        let mut request = signed(&sts.endpoint);
        request[field] = json!("***not base64***");
        assert_malformed(exchange(&exchanger, &request).await, &format!("{field} is not base64"));
    }
    let not_a_map = with_field(signed(&sts.endpoint), "iam_request_headers", "[1, 2]");
    assert_malformed(exchange(&exchanger, &not_a_map).await, "iam_request_headers is not base64 of a JSON object");
    let cases: [(&str, Value, &str); 4] = [
        ("x-two", json!(["a", "b"]), "has several values"),
        ("x-split", json!(["a\r\nx-evil: 1"]), "characters a header value cannot have"),
        ("bad name", json!("a"), "is not a header name"),
        ("Authorization", json!("again"), "is given twice"),
    ];
    for (name, value, words) in cases {
        let request = with_headers(signed(&sts.endpoint), |h| {
            h.insert(name.into(), value);
        });
        assert_malformed(exchange(&exchanger, &request).await, words);
    }
    assert!(sts.requests().is_empty());
}

#[tokio::test]
async fn sts_refusals_are_401s_that_do_not_quote_sts() {
    for (code, words) in [
        ("SignatureDoesNotMatch", "STS refused the signature (SignatureDoesNotMatch)"),
        ("ExpiredToken", "have expired (ExpiredToken)"),
        ("InvalidClientTokenId", "(InvalidClientTokenId)"),
        ("SomethingNew", "STS refused the signed request (SomethingNew)"),
    ] {
        let sts = FakeSts::answering(403, &error_xml(code)).await;
        let result = exchange(&exchanger(&sts.endpoint), &signed(&sts.endpoint)).await;
        assert!(!format!("{result:?}").contains("deadbeef"));
        assert_refused(result, words);
    }
    let sts = FakeSts::answering(403, "<html>no</html>").await;
    assert_refused(
        exchange(&exchanger(&sts.endpoint), &signed(&sts.endpoint)).await,
        "STS refused the signed request (HTTP 403)",
    );
}

#[tokio::test]
async fn sts_failures_are_502s() {
    for (status, body, words) in [
        (500, error_xml("InternalFailure"), "STS answered 500"),
        (400, error_xml("Throttling"), "throttling"),
        (200, "<html>a captive portal</html>".to_owned(), "without a GetCallerIdentityResult Arn"),
        (200, identity_xml("not-an-arn"), "without a GetCallerIdentityResult Arn"),
        (302, String::new(), "STS answered 302"),
    ] {
        let sts = FakeSts::answering(status, &body).await;
        match exchange(&exchanger(&sts.endpoint), &signed(&sts.endpoint)).await {
            Err(ExchangeError::Upstream(message)) => assert!(message.contains(words), "{message}"),
            other => panic!("{status}: {other:?}"),
        }
    }
    // Nothing listening.
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let endpoint = format!("http://127.0.0.1:{port}/");
    match exchange(&exchanger(&endpoint), &signed(&endpoint)).await {
        Err(ExchangeError::Upstream(message)) => assert!(message.contains("could not be reached"), "{message}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn sts_answers_are_read_from_their_xml() {
    let identity = sts::parse_caller_identity(&identity_xml(ROLE_SESSION_ARN)).unwrap();
    assert_eq!(identity.arn, ROLE_SESSION_ARN);
    assert_eq!(identity.account, "123456789012");
    assert_eq!(identity.user_id, "AIDAEXAMPLE");
    assert_eq!(sts::parse_error_code(&error_xml("ExpiredToken")).as_deref(), Some("ExpiredToken"));
    // An ARN elsewhere in the document is not the caller's.
    let decoy = "<GetCallerIdentityResponse><Other><Arn>arn:aws:iam::1:root</Arn></Other></GetCallerIdentityResponse>";
    assert_eq!(sts::parse_caller_identity(decoy), None);
    assert_eq!(sts::parse_caller_identity("<ErrorResponse/>"), None);
}

#[test]
fn role_sessions_resolve_to_their_role_without_path() {
    assert_eq!(
        rules::role_of_assumed_role(ROLE_SESSION_ARN).as_deref(),
        Some("arn:aws:iam::123456789012:role/ci-deploy")
    );
    assert_eq!(
        rules::role_of_assumed_role("arn:aws-cn:sts::123456789012:assumed-role/r/s").as_deref(),
        Some("arn:aws-cn:iam::123456789012:role/r")
    );
    for not_a_session in [
        USER_ARN,
        "arn:aws:sts::123456789012:federated-user/bob",
        "arn:aws:sts::123456789012:assumed-role/no-session",
        "arn:aws:iam::123456789012:assumed-role/r/s",
    ] {
        assert_eq!(rules::role_of_assumed_role(not_a_session), None, "{not_a_session}");
    }
}

#[test]
fn the_first_matching_rule_grants() {
    let config = config_for("https://sts.amazonaws.com/");
    let grant = rules::grant_for(&config.rules, "arn:aws:sts::123456789012:assumed-role/ci-x/s").unwrap();
    assert_eq!(grant.tier, Tier::Uploader);
    let grant = rules::grant_for(&config.rules, USER_ARN).unwrap();
    assert_eq!(grant.tier, Tier::Downloader);
    // A user named like a role is still a user.
    assert_refused(
        rules::grant_for(&config.rules, "arn:aws:iam::123456789012:group/ci-x"),
        "no trust rule of this registry admits arn:aws:iam::123456789012:group/ci-x",
    );
}

#[test]
fn bad_configurations_are_refused_at_start() {
    let base = json!({
        "server_id": SERVER_ID,
        "rules": [{"arn": "arn:aws:iam::123456789012:role/ci", "tier": "downloader"}]
    });
    let build = |change: &dyn Fn(&mut Value)| {
        let mut value = base.clone();
        change(&mut value);
        AwsAuthConfig::deserialize(value)
            .map_err(|e| e.to_string())
            .and_then(AwsExchanger::new)
            .map(|_| ())
    };
    assert_eq!(build(&|_| {}), Ok(()));
    let config = AwsExchanger::new(AwsAuthConfig::deserialize(base.clone()).unwrap()).unwrap();
    assert_eq!(config.config().sts_endpoint, DEFAULT_STS_ENDPOINT);
    assert_eq!(config.config().max_age_secs, 900);

    let cases: [(&dyn Fn(&mut Value), &str); 12] = [
        (&|v| { v.as_object_mut().unwrap().remove("server_id"); }, "missing field `server_id`"),
        (&|v| v["server_id"] = json!(""), "aws.server_id: required"),
        (&|v| v["server_id"] = json!("a b"), "visible ASCII"),
        (&|v| v["sts_endpoint"] = json!("http://sts.amazonaws.com/"), "must be HTTPS"),
        (&|v| v["sts_endpoint"] = json!("https://sts.amazonaws.com/?a=b"), "no query"),
        (&|v| v["sts_endpoint"] = json!("https://u:p@sts.amazonaws.com/"), "no user information"),
        (&|v| v["max_age_secs"] = json!(3600), "aws.max_age_secs: 3600 is outside 60 to 900"),
        (&|v| v["rules"] = json!([]), "aws.rules: no trust rule"),
        (&|v| v["rules"][0]["arn"] = json!("arn:aws:iam::1:role/team/ci"), "aws.rules[0]: arn \"arn:aws:iam::1:role/team/ci\" names a role with a path"),
        (&|v| v["rules"][0]["arn"] = json!("*"), "is not an ARN pattern"),
        (&|v| v["rules"][0]["ttl_secs"] = json!(7200), "ttl_secs 7200 is outside 60 to 3600"),
        (&|v| v["ca_bundle"] = json!("/nonexistent/ca.pem"), "aws.ca_bundle: cannot read"),
    ];
    for (change, words) in cases {
        match build(change) {
            Err(message) => assert!(message.contains(words), "{message:?} should say {words:?}"),
            Ok(()) => panic!("accepted; expected {words:?}"),
        }
    }
    assert!(build(&|v| v["surprise"] = json!(1)).unwrap_err().contains("unknown field"));
    // Loopback endpoints may be plain HTTP (tests, a local stand-in).
    assert_eq!(build(&|v| v["sts_endpoint"] = json!("http://[::1]:4566/")), Ok(()));
    assert_eq!(build(&|v| v["sts_endpoint"] = json!("http://localhost:4566/")), Ok(()));
}

#[test]
fn the_signed_request_has_the_vault_shape() {
    let session = Credentials::new("ASIAEXAMPLE", "secret", Some("session-token".into()), None, "test");
    let request = signed_exchange_request(
        &session,
        "eu-west-1",
        "https://sts.eu-west-1.amazonaws.com",
        SERVER_ID,
        UNIX_EPOCH + Duration::from_secs(NOW),
    )
    .unwrap();
    assert_eq!(request["iam_http_request_method"], "POST");
    assert_eq!(decoded(&request, "iam_request_url"), "https://sts.eu-west-1.amazonaws.com/");
    assert_eq!(decoded(&request, "iam_request_body"), "Action=GetCallerIdentity&Version=2011-06-15");
    let names: Vec<String> = headers(&request).keys().cloned().collect();
    assert_eq!(
        names,
        ["authorization", "content-type", "host", "x-amz-date", "x-amz-security-token", "x-tfreg-server-id"]
    );
    assert_eq!(header(&request, "host"), "sts.eu-west-1.amazonaws.com");
    assert_eq!(header(&request, "x-amz-date"), "20261130T093000Z");
    assert_eq!(header(&request, "x-amz-security-token"), "session-token");
    let authorization = header(&request, "authorization");
    assert!(authorization.starts_with(
        "AWS4-HMAC-SHA256 Credential=ASIAEXAMPLE/20261130/eu-west-1/sts/aws4_request, \
         SignedHeaders=content-type;host;x-amz-date;x-amz-security-token;x-tfreg-server-id, \
         Signature="
    ), "{authorization}");
    assert!(!request.to_string().contains("secret\""));
    assert!(signed_exchange_request(&session, "us-east-1", "not a url", SERVER_ID, UNIX_EPOCH).is_err());
}
