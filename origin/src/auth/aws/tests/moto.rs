//! End to end against moto's STS: the client's signer, the exchange's checks and the wire
//! format STS answers in. moto does not check signatures, so what this proves is the request
//! and answer formats and the ARN handling; the checks are tested one by one in `exchange`.

use super::super::*;
use aws_credential_types::Credentials;
use serde_json::json;
use std::time::{SystemTime, UNIX_EPOCH};
use tfreg_edge::Tier;
use tfreg_testkit::moto::{Moto, ACCESS_KEY_ID, REGION, SECRET_ACCESS_KEY};

const SERVER_ID: &str = "registry.example.com";
const MOTO_ACCOUNT: &str = "123456789012";

fn now_secs(now: SystemTime) -> u64 {
    now.duration_since(UNIX_EPOCH).unwrap().as_secs()
}

fn text_of<'a>(xml: &'a str, element: &str) -> &'a str {
    let open = format!("<{element}>");
    let start = xml
        .find(&open)
        .unwrap_or_else(|| panic!("no {element} in {xml}"))
        + open.len();
    let end = xml[start..].find(&format!("</{element}>")).unwrap() + start;
    &xml[start..end]
}

/// Credentials of a session of `role_arn`, from moto's `AssumeRole`. moto takes the call
/// unsigned; it reads the service from the Authorization header's credential scope.
async fn assume_role(moto: &Moto, role_arn: &str, session: &str) -> Credentials {
    let answer = reqwest::Client::new()
        .post(moto.endpoint())
        .header(
            "authorization",
            format!(
                "AWS4-HMAC-SHA256 Credential={ACCESS_KEY_ID}/20261130/{REGION}/sts/aws4_request, \
                 SignedHeaders=host, Signature=0"
            ),
        )
        .form(&[
            ("Action", "AssumeRole"),
            ("Version", "2011-06-15"),
            ("RoleArn", role_arn),
            ("RoleSessionName", session),
        ])
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    Credentials::new(
        text_of(&answer, "AccessKeyId"),
        text_of(&answer, "SecretAccessKey"),
        Some(text_of(&answer, "SessionToken").to_owned()),
        None,
        "moto-assumed-role",
    )
}

#[tokio::test]
async fn moto_sts_identifies_a_user_and_a_role_session_that_signed_for_this_registry() {
    let moto = Moto::start();
    let endpoint = format!("{}/", moto.endpoint());
    let config: AwsAuthConfig = serde_json::from_value(json!({
        "sts_endpoint": endpoint,
        "server_id": SERVER_ID,
        "rules": [
            {"arn": format!("arn:aws:iam::{MOTO_ACCOUNT}:role/ci-*"), "tier": "uploader", "scopes": ["acme/network"], "ttl_secs": 1800},
            {"arn": format!("arn:aws:sts::{MOTO_ACCOUNT}:user/moto"), "tier": "downloader"}
        ]
    }))
    .unwrap();
    let exchanger = AwsExchanger::new(config).unwrap();

    // moto's own test credentials: moto answers them as its default user.
    let user = Credentials::new(ACCESS_KEY_ID, SECRET_ACCESS_KEY, None, None, "moto-tests");
    let now = SystemTime::now();
    let request = signed_exchange_request(&user, REGION, &endpoint, SERVER_ID, now).unwrap();
    let grant = exchanger
        .exchange(&serde_json::to_vec(&request).unwrap(), now_secs(now))
        .await
        .unwrap();
    assert_eq!(
        grant.subject,
        format!("arn:aws:sts::{MOTO_ACCOUNT}:user/moto")
    );
    assert_eq!(grant.tier, Tier::Downloader);

    // A role session (with its session token signed in): granted by the role's rule, the
    // session's ARN as subject.
    let session = assume_role(
        &moto,
        &format!("arn:aws:iam::{MOTO_ACCOUNT}:role/ci-deploy"),
        "build-42",
    )
    .await;
    let now = SystemTime::now();
    let request = signed_exchange_request(&session, REGION, &endpoint, SERVER_ID, now).unwrap();
    let grant = exchanger
        .exchange(&serde_json::to_vec(&request).unwrap(), now_secs(now))
        .await
        .unwrap();
    assert_eq!(
        grant.subject,
        format!("arn:aws:sts::{MOTO_ACCOUNT}:assumed-role/ci-deploy/build-42")
    );
    assert_eq!(grant.tier, Tier::Uploader);
    assert_eq!(grant.scopes, vec!["acme/network".to_owned()]);
    assert_eq!(grant.ttl_secs, 1800);

    // A role no rule names: refused with the ARN.
    let other = assume_role(
        &moto,
        &format!("arn:aws:iam::{MOTO_ACCOUNT}:role/admin"),
        "s",
    )
    .await;
    let request = signed_exchange_request(&other, REGION, &endpoint, SERVER_ID, now).unwrap();
    match exchanger
        .exchange(&serde_json::to_vec(&request).unwrap(), now_secs(now))
        .await
    {
        Err(ExchangeError::Refused(message)) => assert_eq!(
            message,
            format!(
                "no trust rule of this registry admits \
                 arn:aws:sts::{MOTO_ACCOUNT}:assumed-role/admin/s (nor its role \
                 arn:aws:iam::{MOTO_ACCOUNT}:role/admin)"
            )
        ),
        other => panic!("{other:?}"),
    }
}
