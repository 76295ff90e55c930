//! The exchange's parts on their own: configuration, rules, STS answers, the signer.

use super::*;
use serde_json::json;
use tfreg_edge::Tier;

#[test]
fn sts_answers_are_read_from_their_xml() {
    let identity = sts::parse_caller_identity(&identity_xml(ROLE_SESSION_ARN)).unwrap();
    assert_eq!(identity.arn, ROLE_SESSION_ARN);
    assert_eq!(identity.account, "123456789012");
    assert_eq!(identity.user_id, "AIDAEXAMPLE");
    assert_eq!(
        sts::parse_error_code(&error_xml("ExpiredToken")).as_deref(),
        Some("ExpiredToken")
    );
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
        assert_eq!(
            rules::role_of_assumed_role(not_a_session),
            None,
            "{not_a_session}"
        );
    }
}

#[test]
fn the_first_matching_rule_grants() {
    let config = config_for("https://sts.amazonaws.com/");
    let grant = rules::grant_for(
        &config.rules,
        "arn:aws:sts::123456789012:assumed-role/ci-x/s",
    )
    .unwrap();
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

    type Change<'a> = &'a dyn Fn(&mut Value);
    let cases: [(Change, &str); 12] = [
        (
            &|v| {
                v.as_object_mut().unwrap().remove("server_id");
            },
            "missing field `server_id`",
        ),
        (&|v| v["server_id"] = json!(""), "aws.server_id: required"),
        (&|v| v["server_id"] = json!("a b"), "visible ASCII"),
        (
            &|v| v["sts_endpoint"] = json!("http://sts.amazonaws.com/"),
            "must be HTTPS",
        ),
        (
            &|v| v["sts_endpoint"] = json!("https://sts.amazonaws.com/?a=b"),
            "no query",
        ),
        (
            &|v| v["sts_endpoint"] = json!("https://u:p@sts.amazonaws.com/"),
            "no user information",
        ),
        (
            &|v| v["max_age_secs"] = json!(3600),
            "aws.max_age_secs: 3600 is outside 60 to 900",
        ),
        (&|v| v["rules"] = json!([]), "aws.rules: no trust rule"),
        (
            &|v| v["rules"][0]["arn"] = json!("arn:aws:iam::1:role/team/ci"),
            "aws.rules[0]: arn \"arn:aws:iam::1:role/team/ci\" names a role with a path",
        ),
        (
            &|v| v["rules"][0]["arn"] = json!("*"),
            "is not an ARN pattern",
        ),
        (
            &|v| v["rules"][0]["ttl_secs"] = json!(7200),
            "ttl_secs 7200 is outside 60 to 3600",
        ),
        (
            &|v| v["ca_bundle"] = json!("/nonexistent/ca.pem"),
            "aws.ca_bundle: cannot read",
        ),
    ];
    for (change, words) in cases {
        match build(change) {
            Err(message) => assert!(message.contains(words), "{message:?} should say {words:?}"),
            Ok(()) => panic!("accepted; expected {words:?}"),
        }
    }
    assert!(build(&|v| v["surprise"] = json!(1))
        .unwrap_err()
        .contains("unknown field"));
    // Loopback endpoints may be plain HTTP (tests, a local stand-in).
    assert_eq!(
        build(&|v| v["sts_endpoint"] = json!("http://[::1]:4566/")),
        Ok(())
    );
    assert_eq!(
        build(&|v| v["sts_endpoint"] = json!("http://localhost:4566/")),
        Ok(())
    );
}

#[test]
fn the_signed_request_has_the_vault_shape() {
    let session = Credentials::new(
        "ASIAEXAMPLE",
        "secret",
        Some("session-token".into()),
        None,
        "test",
    );
    let request = signed_exchange_request(
        &session,
        "eu-west-1",
        "https://sts.eu-west-1.amazonaws.com",
        SERVER_ID,
        UNIX_EPOCH + Duration::from_secs(NOW),
    )
    .unwrap();
    assert_eq!(request["iam_http_request_method"], "POST");
    assert_eq!(
        decoded(&request, "iam_request_url"),
        "https://sts.eu-west-1.amazonaws.com/"
    );
    assert_eq!(
        decoded(&request, "iam_request_body"),
        "Action=GetCallerIdentity&Version=2011-06-15"
    );
    let names: Vec<String> = headers(&request).keys().cloned().collect();
    assert_eq!(
        names,
        [
            "authorization",
            "content-type",
            "host",
            "x-amz-date",
            "x-amz-security-token",
            "x-tfreg-server-id"
        ]
    );
    assert_eq!(header(&request, "host"), "sts.eu-west-1.amazonaws.com");
    assert_eq!(header(&request, "x-amz-date"), "20261130T093000Z");
    assert_eq!(header(&request, "x-amz-security-token"), "session-token");
    let authorization = header(&request, "authorization");
    assert!(
        authorization.starts_with(
            "AWS4-HMAC-SHA256 Credential=ASIAEXAMPLE/20261130/eu-west-1/sts/aws4_request, \
         SignedHeaders=content-type;host;x-amz-date;x-amz-security-token;x-tfreg-server-id, \
         Signature="
        ),
        "{authorization}"
    );
    assert!(!request.to_string().contains("secret\""));
    assert!(
        signed_exchange_request(&session, "us-east-1", "not a url", SERVER_ID, UNIX_EPOCH).is_err()
    );
}

#[test]
fn the_signing_region_is_read_from_the_endpoint() {
    for (endpoint, region) in [
        ("https://sts.amazonaws.com/", Some("us-east-1")),
        ("https://sts.eu-west-1.amazonaws.com/", Some("eu-west-1")),
        (
            "https://sts-fips.us-east-2.amazonaws.com",
            Some("us-east-2"),
        ),
        (
            "https://sts.us-gov-west-1.amazonaws.com/",
            Some("us-gov-west-1"),
        ),
        (
            "https://sts.cn-north-1.amazonaws.com.cn/",
            Some("cn-north-1"),
        ),
        (
            "https://vpce-0123-abcd.sts.ap-southeast-2.vpce.amazonaws.com/",
            Some("ap-southeast-2"),
        ),
        ("http://127.0.0.1:5000/", None),
        ("https://sts.example.com/", None),
        ("not a url", None),
    ] {
        assert_eq!(
            sts_signing_region(endpoint).as_deref(),
            region,
            "{endpoint}"
        );
    }
}
