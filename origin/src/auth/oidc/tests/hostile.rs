//! The hostile-token corpus: every token here is refused (a 401), with a message that says
//! what was wrong and never repeats the token, and nothing is granted.

use super::*;
use tfreg_testkit::oidc::{b64url, b64url_json, hs256, jwt_from_parts};

/// A hostile token, the reason it must be refused, and a phrase of the message that says so.
struct Hostile {
    name: &'static str,
    token: String,
    expected: &'static str,
}

fn hostile(name: &'static str, token: String, expected: &'static str) -> Hostile {
    Hostile {
        name,
        token,
        expected,
    }
}

/// The good GitHub claims with one change.
fn claims_with(issuer: &IssuerStandIn, change: impl FnOnce(&mut Value)) -> Value {
    let mut claims = github_claims(issuer.issuer(), AUDIENCE, NOW);
    change(&mut claims);
    claims
}

fn forged_algorithms(issuer: &IssuerStandIn) -> Vec<Hostile> {
    let rsa = issuer.rsa_a();
    let good = github_claims(issuer.issuer(), AUDIENCE, NOW);
    let header = |alg: &str, kid: &str| json!({"alg": alg, "kid": kid, "typ": "JWT"});
    let jwk_text = rsa.jwk().to_string();
    vec![
        hostile(
            "alg none, no signature",
            jwt_from_parts(&header("none", "rsa-a"), &good, b""),
            r#"algorithm "none" is not accepted"#,
        ),
        hostile(
            "alg None, no signature",
            jwt_from_parts(&header("None", "rsa-a"), &good, b""),
            r#"algorithm "None" is not accepted"#,
        ),
        hostile(
            "alg none with a signature",
            jwt_from_parts(&header("none", "rsa-a"), &good, &rsa.signature(b"x")),
            "only RS256 and ES256",
        ),
        hostile(
            "no alg",
            jwt_from_parts(&json!({"kid": "rsa-a"}), &good, &[1; 256]),
            "has no algorithm (alg)",
        ),
        hostile(
            "alg null",
            jwt_from_parts(&json!({"alg": null, "kid": "rsa-a"}), &good, &[1; 256]),
            "has no algorithm (alg)",
        ),
        hostile(
            "HS256 keyed with the RSA public key",
            hs256(&header("HS256", "rsa-a"), &good, &rsa.public_key_bytes()),
            r#"algorithm "HS256" is not accepted"#,
        ),
        hostile(
            "HS256 keyed with the JWK's text",
            hs256(&header("HS256", "rsa-a"), &good, jwk_text.as_bytes()),
            r#"algorithm "HS256" is not accepted"#,
        ),
        hostile(
            "HS256 keyed with the EC public key",
            hs256(
                &header("HS256", "es-1"),
                &good,
                &issuer.es256().public_key_bytes(),
            ),
            r#"algorithm "HS256" is not accepted"#,
        ),
        hostile(
            "HS384",
            hs256(&header("HS384", "rsa-a"), &good, b"secret"),
            r#"algorithm "HS384" is not accepted"#,
        ),
        hostile(
            "PS256",
            rsa.sign_with_header(&header("PS256", "rsa-a"), &good),
            r#"algorithm "PS256" is not accepted"#,
        ),
        hostile(
            "RS512",
            rsa.sign_with_header(&header("RS512", "rsa-a"), &good),
            r#"algorithm "RS512" is not accepted"#,
        ),
        hostile(
            "ES384",
            issuer
                .es256()
                .sign_with_header(&header("ES384", "es-1"), &good),
            r#"algorithm "ES384" is not accepted"#,
        ),
        hostile(
            "EdDSA",
            jwt_from_parts(&header("EdDSA", "ed-1"), &good, &[7; 64]),
            r#"algorithm "EdDSA" is not accepted"#,
        ),
        hostile(
            "lower-case rs256",
            rsa.sign_with_header(&header("rs256", "rsa-a"), &good),
            r#"algorithm "rs256" is not accepted"#,
        ),
        hostile(
            "RS256 naming the ES256 key",
            rsa.sign_with_header(&header("RS256", "es-1"), &good),
            r#"signed with RS256 but its key "es-1" is an EC P-256 key"#,
        ),
        hostile(
            "ES256 naming the RSA key",
            issuer
                .es256()
                .sign_with_header(&header("ES256", "rsa-a"), &good),
            r#"signed with ES256 but its key "rsa-a" is an RSA key"#,
        ),
        hostile(
            "critical header extension",
            rsa.sign_with_header(
                &json!({"alg": "RS256", "kid": "rsa-a", "crit": ["exp"]}),
                &good,
            ),
            "critical extensions",
        ),
    ]
}

fn wrong_keys(issuer: &IssuerStandIn) -> Vec<Hostile> {
    let attacker = SigningKey::rsa_b().with_kid("rsa-a");
    let good = github_claims(issuer.issuer(), AUDIENCE, NOW);
    let rsa = issuer.rsa_a();
    vec![
        hostile(
            "unknown kid",
            rsa.with_kid("rsa-zzz").sign(&good),
            r#"key "rsa-zzz" is not among the keys"#,
        ),
        hostile(
            "no kid",
            rsa.sign_with_header(&json!({"alg": "RS256"}), &good),
            "names no key (kid)",
        ),
        hostile(
            "empty kid",
            rsa.sign_with_header(&json!({"alg": "RS256", "kid": ""}), &good),
            "names no key (kid)",
        ),
        hostile(
            "numeric kid",
            rsa.sign_with_header(&json!({"alg": "RS256", "kid": 1}), &good),
            "names no key (kid)",
        ),
        hostile(
            "another RSA key under the published kid",
            SigningKey::rsa_b().with_kid("rsa-a").sign(&good),
            "signature does not verify",
        ),
        hostile(
            "another P-256 key under the published kid",
            SigningKey::es256("es-1").sign(&good),
            "signature does not verify",
        ),
        // Keys the token brings along are never used: only the issuer's published ones are.
        hostile(
            "its own key embedded in the header (jwk)",
            attacker.sign_with_header(
                &json!({"alg": "RS256", "kid": "rsa-a", "jwk": attacker.jwk()}),
                &good,
            ),
            "signature does not verify",
        ),
        hostile(
            "its own key set named in the header (jku)",
            attacker.sign_with_header(
                &json!({"alg": "RS256", "kid": "rsa-a", "jku": "https://evil.example.com/jwks"}),
                &good,
            ),
            "signature does not verify",
        ),
    ]
}

fn wrong_claims(issuer: &IssuerStandIn) -> Vec<Hostile> {
    let rsa = issuer.rsa_a();
    let signed = |change: fn(&mut Value)| rsa.sign(&claims_with(issuer, change));
    vec![
        hostile(
            "GitHub's real issuer",
            signed(|c| c["iss"] = json!("https://token.actions.githubusercontent.com")),
            r#"issuer "https://token.actions.githubusercontent.com" are not trusted"#,
        ),
        hostile(
            "issuer with a trailing slash",
            rsa.sign(&claims_with(issuer, |c| {
                c["iss"] = json!(format!("{}/", issuer.issuer()))
            })),
            "are not trusted",
        ),
        hostile(
            "no issuer",
            signed(|c| {
                c.as_object_mut().unwrap().remove("iss");
            }),
            "names no issuer (iss)",
        ),
        hostile(
            "issuer not a string",
            signed(|c| c["iss"] = json!(["x"])),
            "names no issuer (iss)",
        ),
        hostile(
            "wrong audience",
            signed(|c| c["aud"] = json!("sts.amazonaws.com")),
            r#"audience (aud) is not "tfreg""#,
        ),
        hostile(
            "audience list without ours",
            signed(|c| c["aud"] = json!(["sts.amazonaws.com", "tfreg2"])),
            "audience (aud) is not",
        ),
        hostile(
            "audience prefix",
            signed(|c| c["aud"] = json!("tfreg-evil")),
            "audience (aud) is not",
        ),
        hostile(
            "no audience",
            signed(|c| {
                c.as_object_mut().unwrap().remove("aud");
            }),
            "audience (aud) is not",
        ),
        hostile(
            "expired beyond the leeway",
            signed(|c| c["exp"] = json!(NOW - 61)),
            "has expired (exp)",
        ),
        hostile(
            "expired long ago",
            signed(|c| {
                c["exp"] = json!(1_600_000_000);
                c["iat"] = json!(1_599_999_000);
                c["nbf"] = json!(1_599_999_000);
            }),
            "has expired (exp)",
        ),
        hostile(
            "no expiry",
            signed(|c| {
                c.as_object_mut().unwrap().remove("exp");
            }),
            "has no expiry (exp)",
        ),
        hostile(
            "expiry as text",
            signed(|c| c["exp"] = json!("9999999999")),
            "exp is not a number",
        ),
        hostile(
            "not valid before the future",
            signed(|c| c["nbf"] = json!(NOW + 120)),
            "not valid yet (nbf)",
        ),
        hostile(
            "issued in the future",
            signed(|c| c["iat"] = json!(NOW + 120)),
            "issued in the future (iat)",
        ),
        hostile(
            "no subject",
            signed(|c| {
                c.as_object_mut().unwrap().remove("sub");
            }),
            "has no subject (sub)",
        ),
        hostile(
            "another owner's repository",
            signed(|c| {
                c["repository"] = json!("evil/infra");
                c["sub"] = json!("repo:evil/infra:environment:production");
                c["job_workflow_ref"] =
                    json!("evil/infra/.github/workflows/release.yml@refs/heads/main");
            }),
            "no trust rule of this registry matches the token of oidc:",
        ),
        hostile(
            "a look-alike repository",
            signed(|c| {
                c["repository"] = json!("acme/infra-fork");
                c["sub"] = json!("repo:acmex/infra-fork:ref:refs/heads/main");
            }),
            "sub=repo:acmex/infra-fork:ref:refs/heads/main",
        ),
        hostile(
            "a claim as an array",
            signed(|c| {
                c["repository"] = json!(["acme/infra"]);
                c["sub"] = json!("repo:evil/x");
            }),
            "no trust rule",
        ),
        hostile(
            "GitLab: another group's project",
            issuer.es256().sign(&{
                let mut c = gitlab_claims(issuer.issuer(), AUDIENCE, NOW);
                c["namespace_path"] = json!("evil");
                c["project_path"] = json!("evil/vpc");
                c["sub"] = json!("project_path:evil/vpc:ref_type:branch:ref:main");
                c
            }),
            "no trust rule",
        ),
        hostile(
            "GitLab: a tag, not the branch",
            issuer.es256().sign(&{
                let mut c = gitlab_claims(issuer.issuer(), AUDIENCE, NOW);
                c["ref_type"] = json!("tag");
                c
            }),
            "no trust rule",
        ),
    ]
}

fn broken_tokens(issuer: &IssuerStandIn) -> Vec<Hostile> {
    let rsa = issuer.rsa_a();
    let good = rsa.sign(&github_claims(issuer.issuer(), AUDIENCE, NOW));
    let parts: Vec<&str> = good.split('.').collect();
    let other_payload = b64url_json(&claims_with(issuer, |c| {
        c["environment"] = json!("staging")
    }));
    // The same claims written differently: the signature is over bytes, not meaning.
    let reformatted_payload = b64url(
        serde_json::to_string_pretty(&github_claims(issuer.issuer(), AUDIENCE, NOW))
            .unwrap()
            .as_bytes(),
    );
    let mut flipped =
        base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, parts[2])
            .unwrap();
    flipped[10] ^= 0x01;
    let oversized = rsa.sign(&claims_with(issuer, |c| {
        c["padding"] = json!("x".repeat(20 * 1024))
    }));
    vec![
        hostile(
            "tampered payload",
            format!("{}.{}.{}", parts[0], other_payload, parts[2]),
            "signature does not verify",
        ),
        hostile(
            "reformatted payload",
            format!("{}.{}.{}", parts[0], reformatted_payload, parts[2]),
            "signature does not verify",
        ),
        hostile(
            "tampered signature",
            format!("{}.{}.{}", parts[0], parts[1], b64url(&flipped)),
            "signature does not verify",
        ),
        hostile(
            "no signature",
            format!("{}.{}.", parts[0], parts[1]),
            "has no signature",
        ),
        hostile(
            "truncated signature",
            good[..good.len() - 10].to_string(),
            "signature does not verify",
        ),
        hostile(
            "truncated to two parts",
            format!("{}.{}", parts[0], parts[1]),
            "found 2",
        ),
        hostile("four parts", format!("{good}.{}", parts[2]), "found 4"),
        hostile(
            "a JWE-shaped token",
            format!("{}.a.b.c.d", parts[0]),
            "found 5",
        ),
        hostile("empty", String::new(), "found 1"),
        hostile("oversized", oversized, "larger than 16384 bytes"),
        hostile(
            "header not JSON",
            format!("{}.{}.{}", b64url(b"not json"), parts[1], parts[2]),
            "header is not a JSON object",
        ),
        hostile(
            "header a JSON string",
            format!("{}.{}.{}", b64url(b"\"RS256\""), parts[1], parts[2]),
            "header is not a JSON object",
        ),
        hostile(
            "header not base64url",
            format!("!!!.{}.{}", parts[1], parts[2]),
            "header is not base64url",
        ),
        hostile(
            "header in padded base64",
            format!("{}==.{}.{}", parts[0], parts[1], parts[2]),
            "header is not base64url",
        ),
        hostile(
            "payload not JSON",
            format!("{}.{}.{}", parts[0], b64url(b"{\"iss\":"), parts[2]),
            "payload is not a JSON object",
        ),
        hostile(
            "payload a JSON array",
            format!("{}.{}.{}", parts[0], b64url(b"[1,2]"), parts[2]),
            "payload is not a JSON object",
        ),
        hostile(
            "payload not base64url",
            format!("{}.%%%.{}", parts[0], parts[2]),
            "payload is not base64url",
        ),
        hostile(
            "signature not base64url",
            format!("{}.{}.***", parts[0], parts[1]),
            "signature does not verify",
        ),
    ]
}

#[tokio::test]
async fn every_hostile_token_is_refused_with_a_reason_and_nothing_is_granted() {
    let (issuer, exchanger) = started().await;
    let corpus: Vec<Hostile> = [
        forged_algorithms(&issuer),
        wrong_keys(&issuer),
        wrong_claims(&issuer),
        broken_tokens(&issuer),
    ]
    .into_iter()
    .flatten()
    .collect();

    let mut failures = Vec::new();
    for case in &corpus {
        match exchange(&exchanger, &case.token, NOW).await {
            Err(ExchangeError::Refused(message)) => {
                if !message.contains(case.expected) {
                    failures.push(format!(
                        "{}: {message:?} lacks {:?}",
                        case.name, case.expected
                    ));
                }
                let signature = case.token.rsplit('.').next().unwrap_or_default();
                if case.token.len() > 20
                    && (message.contains(&case.token)
                        || (signature.len() > 20 && message.contains(signature)))
                {
                    failures.push(format!("{}: the message repeats the token", case.name));
                }
            }
            other => failures.push(format!("{}: {other:?}", case.name)),
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases:\n{}",
        failures.len(),
        corpus.len(),
        failures.join("\n")
    );
    // One fetch: the unknown kids came within a minute of it, so they caused no other.
    assert_eq!(issuer.jwks_fetches(), 1);
}

#[tokio::test]
async fn an_oversized_request_is_refused_before_it_is_parsed() {
    let (issuer, exchanger) = started().await;
    // Not even JSON: the size alone decides.
    let body = vec![b'['; 64 * 1024];
    let refused = exchanger.exchange(&body, NOW).await.unwrap_err();
    assert_eq!(
        refused,
        ExchangeError::Refused("the token is larger than 16384 bytes".into())
    );
    assert!(issuer.requests().is_empty());
}
