use super::*;

const SECRET_TEXT: &str = r#"{"private_key":"-----BEGIN PRIVATE KEY-----\nTOPSECRET"}"#;

fn credentials(session_token: Option<&str>) -> Credentials {
    Credentials::new(
        "AKIDEXAMPLE",
        "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
        session_token.map(str::to_owned),
        None,
        "test",
    )
}

fn header<'a>(request: &'a SignedRequest, name: &str) -> Option<&'a str> {
    let mut values = request.headers.iter().filter(|(n, _)| n == name);
    let value = values.next().map(|(_, v)| v.as_str());
    assert!(values.next().is_none(), "{name} is sent once");
    value
}

/// 2026-11-30T12:00:00Z.
fn noon() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_796_040_000)
}

#[test]
fn the_request_is_a_signed_json_1_1_get_secret_value() {
    let endpoint = endpoint_url("eu-west-1", None);
    let request = signed_request(
        &endpoint,
        "eu-west-1",
        "tfreg/url-signing",
        &credentials(Some("SESSION-TOKEN")),
        noon(),
    )
    .unwrap();
    assert_eq!(
        request.url,
        "https://secretsmanager.eu-west-1.amazonaws.com/"
    );
    assert_eq!(
        header(&request, "content-type"),
        Some("application/x-amz-json-1.1")
    );
    assert_eq!(
        header(&request, "x-amz-target"),
        Some("secretsmanager.GetSecretValue")
    );
    assert_eq!(
        header(&request, "host"),
        Some("secretsmanager.eu-west-1.amazonaws.com")
    );
    assert_eq!(header(&request, "x-amz-date"), Some("20261130T120000Z"));
    assert_eq!(
        header(&request, "x-amz-security-token"),
        Some("SESSION-TOKEN")
    );
    let authorization = header(&request, "authorization").unwrap();
    assert!(
        authorization.starts_with(
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261130/eu-west-1/secretsmanager/aws4_request, "
        ),
        "{authorization}"
    );
    // The target and the content type are signed: a relay cannot turn the request into
    // another action.
    assert!(
        authorization.contains(
            "SignedHeaders=content-type;host;x-amz-date;x-amz-security-token;x-amz-target, "
        ),
        "{authorization}"
    );
    let body: serde_json::Value = serde_json::from_slice(&request.body).unwrap();
    assert_eq!(body, serde_json::json!({"SecretId": "tfreg/url-signing"}));
}

#[test]
fn long_term_credentials_send_no_session_token() {
    let request = signed_request(
        "http://127.0.0.1:5000/",
        "us-east-1",
        "arn:aws:secretsmanager:us-east-1:123456789012:secret:s-AbCdEf",
        &credentials(None),
        noon(),
    )
    .unwrap();
    assert_eq!(request.url, "http://127.0.0.1:5000/");
    assert_eq!(header(&request, "host"), Some("127.0.0.1:5000"));
    assert_eq!(header(&request, "x-amz-security-token"), None);
    assert!(header(&request, "authorization")
        .unwrap()
        .contains("SignedHeaders=content-type;host;x-amz-date;x-amz-target, "));
}

#[test]
fn the_endpoint_is_the_regions_unless_overridden() {
    assert_eq!(
        endpoint_url("us-east-1", None),
        "https://secretsmanager.us-east-1.amazonaws.com/"
    );
    assert_eq!(
        endpoint_url("cn-north-1", None),
        "https://secretsmanager.cn-north-1.amazonaws.com.cn/"
    );
    assert_eq!(
        endpoint_url("us-east-1", Some("http://127.0.0.1:5000")),
        "http://127.0.0.1:5000/"
    );
    assert_eq!(
        endpoint_url("us-east-1", Some("http://127.0.0.1:5000/")),
        "http://127.0.0.1:5000/"
    );
}

#[test]
fn an_answer_gives_the_secret_string() {
    let body = serde_json::json!({
        "ARN": "arn:aws:secretsmanager:us-east-1:123456789012:secret:s-AbCdEf",
        "Name": "s",
        "SecretString": SECRET_TEXT,
        "VersionId": "v1",
        "VersionStages": ["AWSCURRENT"],
        "CreatedDate": 1.7e9,
    });
    let text = read_answer(200, None, body.to_string().as_bytes()).unwrap();
    assert_eq!(text, SECRET_TEXT);
}

#[test]
fn a_missing_secret_is_a_clear_error() {
    let body = br#"{"__type":"ResourceNotFoundException","Message":"Secrets Manager can't find the specified secret."}"#;
    let error = read_answer(400, None, body).unwrap_err();
    assert_eq!(
        error.to_string(),
        "Secrets Manager answered 400 ResourceNotFoundException: \
         Secrets Manager can't find the specified secret."
    );
    assert!(!error.is_transient());
}

#[test]
fn the_error_type_header_wins_and_loses_its_namespace_and_url() {
    let error = read_answer(
        400,
        Some("AccessDeniedException:http://internal.amazon.com/coral/com.amazon.coral.service/"),
        br#"{"__type":"com.amazonaws.secretsmanager#Other","message":"User is not authorized"}"#,
    )
    .unwrap_err();
    assert_eq!(
        error.to_string(),
        "Secrets Manager answered 400 AccessDeniedException: User is not authorized"
    );
    let error = read_answer(
        400,
        None,
        br#"{"__type":"com.amazonaws.secretsmanager#DecryptionFailure"}"#,
    )
    .unwrap_err();
    assert_eq!(
        error.to_string(),
        "Secrets Manager answered 400 DecryptionFailure: (no message)"
    );
}

#[test]
fn throttling_and_server_errors_are_tried_again_others_are_not() {
    let refused = |status, code: &str| read_answer(status, Some(code), b"").unwrap_err();
    assert!(refused(400, "ThrottlingException").is_transient());
    assert!(refused(500, "InternalServiceError").is_transient());
    assert!(refused(503, "").is_transient());
    assert!(!refused(400, "InvalidRequestException").is_transient());
    assert!(!refused(403, "AccessDeniedException").is_transient());
}

#[test]
fn an_unreadable_or_binary_answer_is_refused_without_quoting_it() {
    let body = format!("{{\"SecretString\": {SECRET_TEXT}");
    let error = read_answer(200, None, body.as_bytes()).unwrap_err();
    assert_eq!(error, SecretsManagerError::Malformed { status: 200 });
    assert!(!error.to_string().contains("TOPSECRET"), "{error}");
    let error = read_answer(200, None, br#"{"SecretBinary":"AAEC"}"#).unwrap_err();
    assert_eq!(error, SecretsManagerError::NoText);
    let error = read_answer(502, None, b"<html>Bad Gateway</html>").unwrap_err();
    assert_eq!(
        error.to_string(),
        "Secrets Manager answered 502 (no error code): (no message)"
    );
}
