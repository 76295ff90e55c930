//! The exchange's checks, each refusal by name.

use super::*;
use serde_json::json;
use tfreg_edge::Tier;

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
    assert!(
        sent.ends_with("\r\n\r\naction=getcalleridentity&version=2011-06-15"),
        "{sent}"
    );
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
    let port = sts
        .endpoint
        .trim_end_matches('/')
        .rsplit(':')
        .next()
        .unwrap()
        .to_owned();
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
        let authorization = h["authorization"][0]
            .as_str()
            .unwrap()
            .replace(";x-tfreg-server-id", "");
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
    assert_refused(
        exchange(&exchanger, &garbled).await,
        "is not a date and time",
    );
    assert!(sts.requests().is_empty());
    // At the edges of the window: accepted.
    for at in [NOW - 900, NOW + 900] {
        assert!(
            exchange(&exchanger, &signed_at(&sts.endpoint, SERVER_ID, at))
                .await
                .is_ok()
        );
    }
}

#[tokio::test]
async fn unsigned_or_oddly_signed_requests_are_refused() {
    let sts = FakeSts::identifying(USER_ARN).await;
    let exchanger = exchanger(&sts.endpoint);
    let authorization = header(&signed(&sts.endpoint), "authorization");
    let cases = [
        (None, "it has no Authorization header"),
        (
            Some("Bearer abc".to_owned()),
            "not an AWS4-HMAC-SHA256 (SigV4) signature",
        ),
        (
            Some(authorization.replace("/sts/", "/s3/")),
            "not signed for STS",
        ),
        (
            Some(authorization.replace("SignedHeaders=", "SignedHeaders=x-absent;")),
            "x-absent is a signed header (SignedHeaders) but is not in iam_request_headers",
        ),
        (
            Some(authorization.replace(";host", "")),
            "host is not among the signed headers",
        ),
        (
            Some(authorization.replace(";x-amz-date", "")),
            "x-amz-date is not among the signed headers",
        ),
        (
            Some(authorization.replace("SignedHeaders=", "SignedHeaders=Host;")),
            "not a list of lowercase header names",
        ),
        (
            Some(authorization.replace(", Signature=", ", Signature=a, Signature=")),
            "gives Signature twice",
        ),
        (
            Some(
                authorization
                    .split(", Signature=")
                    .next()
                    .unwrap()
                    .to_owned(),
            ),
            "lacks Credential, SignedHeaders or Signature",
        ),
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
        let value = h["authorization"][0]
            .as_str()
            .unwrap()
            .replace("SignedHeaders=", "SignedHeaders=connection;");
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
    assert_malformed(
        exchanger.exchange(&big, NOW).await,
        "at most 16384 are read",
    );
    assert_malformed(
        exchanger.exchange(b"{not json", NOW).await,
        "not the JSON object expected",
    );
    let mut with_role = signed(&sts.endpoint);
    with_role["role"] = json!("admin");
    assert_malformed(
        exchange(&exchanger, &with_role).await,
        "unknown field `role`",
    );
    let mut missing = signed(&sts.endpoint);
    missing
        .as_object_mut()
        .unwrap()
        .remove("iam_request_headers");
    assert_malformed(
        exchange(&exchanger, &missing).await,
        "missing field `iam_request_headers`",
    );
    for field in ["iam_request_url", "iam_request_body", "iam_request_headers"] {
        let mut request = signed(&sts.endpoint);
        request[field] = json!("***not base64***");
        assert_malformed(
            exchange(&exchanger, &request).await,
            &format!("{field} is not base64"),
        );
    }
    let not_a_map = with_field(signed(&sts.endpoint), "iam_request_headers", "[1, 2]");
    assert_malformed(
        exchange(&exchanger, &not_a_map).await,
        "iam_request_headers is not base64 of a JSON object",
    );
    let cases: [(&str, Value, &str); 4] = [
        ("x-two", json!(["a", "b"]), "has several values"),
        (
            "x-split",
            json!(["a\r\nx-evil: 1"]),
            "characters a header value cannot have",
        ),
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
        (
            "SignatureDoesNotMatch",
            "STS refused the signature (SignatureDoesNotMatch)",
        ),
        ("ExpiredToken", "have expired (ExpiredToken)"),
        ("InvalidClientTokenId", "(InvalidClientTokenId)"),
        (
            "SomethingNew",
            "STS refused the signed request (SomethingNew)",
        ),
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
        (
            200,
            "<html>a captive portal</html>".to_owned(),
            "without a GetCallerIdentityResult Arn",
        ),
        (
            200,
            identity_xml("not-an-arn"),
            "without a GetCallerIdentityResult Arn",
        ),
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
        Err(ExchangeError::Upstream(message)) => {
            assert!(message.contains("could not be reached"), "{message}")
        }
        other => panic!("{other:?}"),
    }
}
