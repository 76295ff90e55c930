//! The HTTP surface of `tfreg serve`, through the real binary over HTTPS: the route x tier
//! matrix, tokens, uploads (409, concurrency, limits), and signed archive URLs.

mod common;

use common::{registry_with_tokens, TestRegistry};
use std::collections::HashSet;
use tfreg_testkit::archive::{module_archive, versioned_module};

const MODULE: &str = "acme/vpc/aws";

/// Every error body has both shapes: the Python registry's `error`/`message` and Terraform's
/// `errors`, with `code` beside them.
fn assert_error_body(reply: &common::Reply) {
    let body = reply.json();
    let code = body["code"].as_str().unwrap_or_default();
    assert!(!code.is_empty(), "a code: {body}");
    assert_eq!(body["error"], code, "{body}");
    let message = body["message"].as_str().unwrap_or_default();
    assert!(!message.is_empty(), "a message: {body}");
    assert_eq!(body["errors"], serde_json::json!([message]), "{body}");
    assert_eq!(body.as_object().unwrap().len(), 4, "{body}");
}

#[tokio::test]
async fn discovery_is_public_json() {
    let registry = TestRegistry::start();
    let reply = registry.get("/.well-known/terraform.json", None).await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.header("content-type"), Some("application/json"));
    assert_eq!(
        reply.json(),
        serde_json::json!({ "modules.v1": "/v1/modules/", "providers.v1": "/v1/providers/" })
    );
}

#[tokio::test]
async fn every_route_checks_every_tier() {
    let (registry, tokens) = registry_with_tokens().await;
    let reply = registry
        .upload(MODULE, "1.0.0", versioned_module("1.0.0"), &tokens.uploader)
        .await;
    assert_eq!(reply.status, 201, "{}", reply.text());

    let callers: [(&str, Option<&str>); 5] = [
        ("none", None),
        ("unknown", Some("tfr_not_a_real_token")),
        ("downloader", Some(&tokens.downloader)),
        ("uploader", Some(&tokens.uploader)),
        ("master", Some(&tokens.master)),
    ];
    // Expected status per caller, in the order above.
    let versions = format!("/v1/modules/{MODULE}/versions");
    let download = format!("/v1/modules/{MODULE}/1.0.0/download");
    let routes: Vec<(&str, String, [u16; 5])> = vec![
        ("GET", versions, [401, 401, 200, 200, 200]),
        ("GET", download, [401, 401, 204, 204, 204]),
        ("PUT", "upload".into(), [401, 401, 403, 201, 201]),
        ("GET", "/v1/tokens".into(), [401, 401, 403, 403, 200]),
        ("POST", "/v1/tokens".into(), [401, 401, 403, 403, 201]),
        ("DELETE", "revoke".into(), [401, 401, 403, 403, 200]),
    ];
    let mut counter = 0;
    for (method, path, expected) in &routes {
        for ((caller, token), want) in callers.iter().zip(expected) {
            counter += 1;
            let reply = match path.as_str() {
                "upload" => {
                    let version = format!("2.0.{counter}");
                    registry
                        .upload(
                            MODULE,
                            &version,
                            versioned_module(&version),
                            token.unwrap_or(""),
                        )
                        .await
                }
                "revoke" => {
                    let victim = format!("victim-{counter}");
                    registry.create_token(&victim, "downloader").await;
                    registry
                        .send(method, &format!("/v1/tokens/{victim}"), *token, None)
                        .await
                }
                "/v1/tokens" if *method == "POST" => {
                    let body = serde_json::json!({"name": format!("t{counter}"), "permission": "downloader"});
                    registry
                        .send(method, path, *token, Some(body.to_string().into_bytes()))
                        .await
                }
                _ => registry.send(method, path, *token, None).await,
            };
            assert_eq!(
                reply.status,
                *want,
                "{method} {path} as {caller}: {}",
                reply.text()
            );
            if reply.status == 401 {
                assert_eq!(
                    reply.header("www-authenticate"),
                    Some("Bearer realm=\"tfreg\"")
                );
            }
            if reply.status >= 400 {
                assert_error_body(&reply);
            }
        }
    }
}

#[tokio::test]
async fn versions_are_listed_in_semver_order() {
    let (registry, tokens) = registry_with_tokens().await;
    for version in ["1.9.0", "1.10.0", "1.0.0-rc.1", "1.0.0", "0.1.0"] {
        let reply = registry
            .upload(MODULE, version, versioned_module(version), &tokens.uploader)
            .await;
        assert_eq!(reply.status, 201, "{}", reply.text());
    }
    let reply = registry
        .get(
            &format!("/v1/modules/{MODULE}/versions"),
            Some(&tokens.downloader),
        )
        .await;
    let listed: Vec<String> = reply.json()["modules"][0]["versions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["version"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(listed, ["0.1.0", "1.0.0-rc.1", "1.0.0", "1.9.0", "1.10.0"]);

    let missing = registry
        .get(
            "/v1/modules/acme/nothing/aws/versions",
            Some(&tokens.downloader),
        )
        .await;
    assert_eq!(missing.status, 404);
    assert_eq!(missing.error(), "module acme/nothing/aws not found");
}

#[tokio::test]
async fn upload_answers_201_with_what_was_stored() {
    let (registry, tokens) = registry_with_tokens().await;
    // A GitHub-style archive with a top folder: stored with the folder removed.
    let archive = module_archive(&[
        ("vpc-1.2.0/main.tf", "# vpc\n"),
        ("vpc-1.2.0/modules/a/main.tf", ""),
    ]);
    let reply = registry
        .upload(MODULE, "v1.2.0", archive, &tokens.uploader)
        .await;
    assert_eq!(reply.status, 201, "{}", reply.text());
    let body = reply.json();
    assert_eq!(body["version"], "1.2.0");
    assert_eq!(body["source"], MODULE);
    assert_eq!(body["uploader"], "up");
    assert_eq!(body["sha256"].as_str().unwrap().len(), 64);
    assert!(body["size"].as_u64().unwrap() > 0);
    assert_eq!(
        reply.header("location"),
        Some("/v1/modules/acme/vpc/aws/1.2.0")
    );

    let info = registry
        .get(
            &format!("/v1/modules/{MODULE}/1.2.0"),
            Some(&tokens.downloader),
        )
        .await;
    assert_eq!(info.status, 200);
    assert_eq!(info.json()["sha256"], body["sha256"]);
}

#[tokio::test]
async fn upload_of_existing_version_is_409() {
    let (registry, tokens) = registry_with_tokens().await;
    let first = registry
        .upload(MODULE, "1.0.0", versioned_module("1.0.0"), &tokens.uploader)
        .await;
    assert_eq!(first.status, 201);
    let second = registry
        .upload(MODULE, "1.0.0", versioned_module("other"), &tokens.uploader)
        .await;
    assert_eq!(second.status, 409);
    assert_eq!(
        second.error(),
        "module acme/vpc/aws version 1.0.0 already exists; versions are immutable, publish a new one"
    );
    assert_eq!(second.json()["code"], "version_exists");
}

#[tokio::test]
async fn concurrent_uploads_of_one_version_have_exactly_one_winner() {
    let (registry, tokens) = registry_with_tokens().await;
    let registry = std::sync::Arc::new(registry);
    let mut tasks = Vec::new();
    for i in 0..50 {
        let registry = registry.clone();
        let token = tokens.uploader.clone();
        tasks.push(tokio::spawn(async move {
            // Each body differs, so a torn or mixed write would show in the checksum.
            let archive = versioned_module(&format!("writer-{i}"));
            let reply = registry.upload(MODULE, "3.0.0", archive, &token).await;
            (
                reply.status,
                reply.json()["sha256"].as_str().map(str::to_owned),
            )
        }));
    }
    let mut created = Vec::new();
    let mut statuses = Vec::new();
    for task in tasks {
        let (status, sha) = task.await.unwrap();
        statuses.push(status);
        if status == 201 {
            created.push(sha.unwrap());
        }
    }
    assert_eq!(created.len(), 1, "statuses: {statuses:?}");
    assert!(
        statuses.iter().all(|s| *s == 201 || *s == 409),
        "{statuses:?}"
    );

    // What is served is exactly the winner's archive.
    let download = registry
        .get(
            &format!("/v1/modules/{MODULE}/3.0.0/download"),
            Some(&tokens.downloader),
        )
        .await;
    let location = download.header("x-terraform-get").unwrap().to_owned();
    let archive = registry.get_archive(&location).await;
    assert_eq!(archive.status, 200);
    use sha2::Digest;
    assert_eq!(hex::encode(sha2::Sha256::digest(&archive.body)), created[0]);
    // No staging leftovers.
    let staging = std::fs::read_dir(registry.data_dir.path().join("staging"))
        .unwrap()
        .count();
    assert_eq!(staging, 0, "staging directory is empty after the race");
}

#[tokio::test]
async fn download_points_at_a_signed_checksummed_archive() {
    let (registry, tokens) = registry_with_tokens().await;
    let uploaded = registry
        .upload(MODULE, "1.1.0", versioned_module("1.1.0"), &tokens.uploader)
        .await
        .json();
    let reply = registry
        .get(
            &format!("/v1/modules/{MODULE}/1.1.0/download"),
            Some(&tokens.downloader),
        )
        .await;
    assert_eq!(reply.status, 204);
    let location = reply.header("x-terraform-get").unwrap().to_owned();
    assert!(
        location.starts_with("/archives/acme/vpc/aws/1.1.0/module.tar.gz?Expires="),
        "{location}"
    );
    assert!(
        location.ends_with(&format!(
            "&checksum=sha256:{}",
            uploaded["sha256"].as_str().unwrap()
        )),
        "{location}"
    );
    // Terraform sends no token to the archive URL: the signature alone admits it.
    let archive = registry.get_archive(&location).await;
    assert_eq!(archive.status, 200);
    assert_eq!(archive.header("content-type"), Some("application/gzip"));

    let missing = registry
        .get(
            &format!("/v1/modules/{MODULE}/9.9.9/download"),
            Some(&tokens.downloader),
        )
        .await;
    assert_eq!(missing.status, 404);
    assert_eq!(missing.error(), "module acme/vpc/aws has no version 9.9.9");
}

#[tokio::test]
async fn tampered_or_unsigned_archive_urls_are_403() {
    let (registry, tokens) = registry_with_tokens().await;
    for version in ["1.0.0", "1.0.1"] {
        registry
            .upload(MODULE, version, versioned_module(version), &tokens.uploader)
            .await;
    }
    let location = registry
        .get(
            &format!("/v1/modules/{MODULE}/1.0.0/download"),
            Some(&tokens.downloader),
        )
        .await
        .header("x-terraform-get")
        .unwrap()
        .to_owned();
    let with_checksum = location.clone();
    let location = common::as_go_getter_requests(&location);
    let (path, query) = location.split_once('?').unwrap();
    let cases = [
        // Another version's path with this version's signature.
        (
            format!("{}?{query}", path.replace("1.0.0", "1.0.1")),
            "invalid_archive_signature",
        ),
        // A later expiry.
        (
            location.replace("Expires=", "Expires=9"),
            "invalid_archive_signature",
        ),
        // No signature, even with a valid master token.
        (path.to_owned(), "unsigned_archive_url"),
        // As CloudFront has it, a parameter left in (`checksum`, which go-getter takes out)
        // makes another resource than the one signed.
        (with_checksum, "invalid_archive_signature"),
    ];
    for (url, code) in cases {
        let reply = registry.get(&url, Some(&tokens.master)).await;
        assert_eq!(reply.status, 403, "{url}");
        assert_eq!(reply.json()["code"], code, "{url}");
    }
}

#[tokio::test]
async fn archive_urls_expire() {
    let registry = TestRegistry::start_with(&["--archive-url-ttl", "1"]);
    let token = registry.master_token.clone();
    registry
        .upload(MODULE, "1.0.0", versioned_module("1.0.0"), &token)
        .await;
    let location = registry
        .get(
            &format!("/v1/modules/{MODULE}/1.0.0/download"),
            Some(&token),
        )
        .await
        .header("x-terraform-get")
        .unwrap()
        .to_owned();
    std::thread::sleep(std::time::Duration::from_millis(2100));
    let reply = registry.get_archive(&location).await;
    assert_eq!(reply.status, 403);
    assert_eq!(reply.json()["code"], "expired_archive_url");
}

#[tokio::test]
async fn tokens_are_listed_without_values_and_revocation_is_immediate() {
    let (registry, tokens) = registry_with_tokens().await;
    let versions = format!("/v1/modules/{MODULE}/versions");
    registry
        .upload(MODULE, "1.0.0", versioned_module("1.0.0"), &tokens.uploader)
        .await;
    assert_eq!(
        registry
            .get(&versions, Some(&tokens.downloader))
            .await
            .status,
        200
    );

    let listing = registry.get("/v1/tokens", Some(&tokens.master)).await;
    assert_eq!(listing.status, 200);
    let text = listing.text();
    for value in [&tokens.downloader, &tokens.uploader, &tokens.master] {
        assert!(
            !text.contains(value.as_str()),
            "a token value leaked into the listing"
        );
    }
    let names: HashSet<String> = listing.json()["tokens"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["token_name"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        names,
        HashSet::from(["master".into(), "dl".into(), "up".into()])
    );
    let dl = &listing.json()["tokens"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["token_name"] == "dl")
        .cloned()
        .unwrap();
    assert_eq!(dl["permission"], "downloader");
    assert!(dl["created_at"].as_str().unwrap().ends_with('Z'));

    let revoked = registry
        .send("DELETE", "/v1/tokens/dl", Some(&tokens.master), None)
        .await;
    assert_eq!(revoked.status, 200);
    assert_eq!(
        revoked.json(),
        serde_json::json!({"message": "Token 'dl' deleted"})
    );
    let after = registry.get(&versions, Some(&tokens.downloader)).await;
    assert_eq!(
        after.status,
        401,
        "a revoked token stops working: {}",
        after.text()
    );
    let again = registry
        .send("DELETE", "/v1/tokens/dl", Some(&tokens.master), None)
        .await;
    assert_eq!(again.status, 404);
}

#[tokio::test]
async fn token_requests_are_validated() {
    let registry = TestRegistry::start();
    let master = registry.master_token.clone();
    let post = |body: &str| {
        registry.send(
            "POST",
            "/v1/tokens",
            Some(&master),
            Some(body.as_bytes().to_vec()),
        )
    };
    let created = post(r#"{"name":"ci","permission":"uploader","description":"CI"}"#).await;
    assert_eq!(created.status, 201);
    let body = created.json();
    assert_eq!(body["token_name"], "ci");
    assert_eq!(body["permission"], "uploader");
    assert!(body["token_value"].as_str().unwrap().starts_with("tfr_"));
    assert!(body["created_at"].is_string());

    let duplicate = post(r#"{"name":"ci","permission":"downloader"}"#).await;
    assert_eq!(duplicate.status, 409);
    assert_eq!(duplicate.error(), "a token named \"ci\" already exists");

    let bad_tier = post(r#"{"name":"x","permission":"admin"}"#).await;
    assert_eq!(bad_tier.status, 400);
    assert_eq!(
        bad_tier.error(),
        "unknown permission \"admin\": expected \"downloader\", \"uploader\" or \"master\""
    );
    let bad_name = post(r#"{"name":"ci/prod","permission":"uploader"}"#).await;
    assert_eq!(bad_name.status, 400);
    assert_eq!(
        bad_name.error(),
        "invalid token name \"ci/prod\": use 1 to 128 characters, without '/' or control characters"
    );
    let too_long = serde_json::json!({"name": "x".repeat(129), "permission": "uploader"});
    assert_eq!(post(&too_long.to_string()).await.status, 400);
    let control = post(r#"{"name":"a\u0007b","permission":"uploader"}"#).await;
    assert_eq!(control.status, 400);
    assert_eq!(control.json()["code"], "invalid_name");
    let not_json = post("name=ci").await;
    assert_eq!(not_json.status, 400);
    let past =
        post(r#"{"name":"old","permission":"uploader","expires_at":"2001-01-01T00:00:00Z"}"#).await;
    assert_eq!(past.status, 400);
    assert_eq!(past.error(), "expires_at must be in the future");

    let own = registry
        .send("DELETE", "/v1/tokens/master", Some(&master), None)
        .await;
    assert_eq!(own.status, 409);
}

#[tokio::test]
async fn invalid_names_and_versions_are_400() {
    let registry = TestRegistry::start();
    let master = registry.master_token.clone();
    let cases = [
        (
            "/v1/modules/Acme/vpc/aws/versions",
            "invalid namespace \"Acme\"",
        ),
        (
            "/v1/modules/acme/vpc/a_ws/versions",
            "invalid system \"a_ws\"",
        ),
        (
            "/v1/modules/acme/vpc/aws/1.0/download",
            "invalid version \"1.0\"",
        ),
    ];
    for (path, start) in cases {
        let reply = registry.get(path, Some(&master)).await;
        assert_eq!(reply.status, 400, "{path}");
        assert!(
            reply.error().starts_with(start),
            "{path}: {}",
            reply.error()
        );
    }
    let reply = registry
        .upload("acme/vpc/aws", "latest", versioned_module("x"), &master)
        .await;
    assert_eq!(reply.status, 400);
    assert_eq!(reply.json()["code"], "invalid_version");
}

#[tokio::test]
async fn hostile_and_broken_archives_are_rejected_with_a_reason() {
    let registry = TestRegistry::start_with(&["--max-upload-bytes", "100000"]);
    let master = registry.master_token.clone();
    let cases: Vec<(Vec<u8>, u16, &str)> = vec![
        (
            Vec::new(),
            400,
            "the request body is empty: send the module archive (tar.gz or zip) as the body",
        ),
        (
            b"just some text".to_vec(),
            400,
            "body is not a tar.gz or zip archive",
        ),
        (
            module_archive(&[("README.md", "no terraform here")]),
            400,
            "archive has no .tf or .tf.json file at its module root",
        ),
        (
            vec![0u8; 200_000],
            413,
            "the archive is larger than the 100000-byte upload limit",
        ),
    ];
    for (i, (body, status, message)) in cases.into_iter().enumerate() {
        let reply = registry
            .upload(MODULE, &format!("0.0.{i}"), body, &master)
            .await;
        assert_eq!(reply.status, status, "case {i}: {}", reply.text());
        assert_eq!(reply.error(), message, "case {i}");
    }
    // Nothing was published by any of them.
    let versions = registry
        .get(&format!("/v1/modules/{MODULE}/versions"), Some(&master))
        .await;
    assert_eq!(versions.status, 404);
}

#[tokio::test]
async fn the_master_token_is_private_and_never_logged() {
    let registry = TestRegistry::start();
    let token_file = registry.data_dir.path().join("master-token");
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&token_file).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    assert!(registry
        .banner()
        .contains(&format!("credentials \"{}\" {{", registry.host)));
    assert!(registry.banner().contains(&registry.master_token));
    let user = registry.create_token("ci", "uploader").await;
    registry
        .get("/v1/tokens", Some(&registry.master_token))
        .await;
    registry.get("/v1/tokens", Some("tfr_wrong")).await;
    registry
        .upload(MODULE, "1.0.0", versioned_module("1.0.0"), &user)
        .await;
    let logs = registry.logs();
    assert!(logs.contains("request"), "requests are logged: {logs}");
    assert!(!logs.contains(&registry.master_token));
    assert!(!logs.contains(&user));
    assert!(!logs.contains("tfr_wrong"));
}

#[tokio::test]
async fn a_restart_keeps_everything_and_prints_no_new_token() {
    let registry = TestRegistry::start();
    let master = registry.master_token.clone();
    let ci = registry.create_token("ci", "uploader").await;
    registry
        .upload(MODULE, "1.0.0", versioned_module("1.0.0"), &ci)
        .await;
    let ca_before = std::fs::read(&registry.ca_pem).unwrap();
    let data_dir = registry.stop();

    let registry = TestRegistry::start_in(data_dir, &[]);
    assert_eq!(registry.master_token, master);
    assert!(
        !registry.banner().contains(&master),
        "the token is printed only on first start"
    );
    assert_eq!(
        std::fs::read(&registry.ca_pem).unwrap(),
        ca_before,
        "the CA is kept"
    );
    let versions = registry
        .get(&format!("/v1/modules/{MODULE}/versions"), Some(&ci))
        .await;
    assert_eq!(versions.status, 200);
}

#[tokio::test]
async fn a_forged_identity_header_is_ignored() {
    let (registry, tokens) = registry_with_tokens().await;
    let forged = "token=master;tier=master";
    let as_downloader = registry
        .client
        .get(registry.url("/v1/tokens"))
        .bearer_auth(&tokens.downloader)
        .header("x-tfreg-identity", forged)
        .send()
        .await
        .unwrap();
    assert_eq!(as_downloader.status(), 403);
    let anonymous = registry
        .client
        .get(registry.url("/v1/tokens"))
        .header("x-tfreg-identity", forged)
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 401);
}

#[tokio::test]
async fn a_streamed_upload_over_the_limit_is_413_without_a_content_length() {
    let registry = TestRegistry::start_with(&["--max-upload-bytes", "100000"]);
    let reply = registry
        .put_streamed(
            &format!("/v1/modules/{MODULE}/1.0.0"),
            300_000,
            &registry.master_token,
        )
        .await;
    assert_eq!(reply.status(), 413);
    let body: serde_json::Value = reply.json().await.unwrap();
    assert_eq!(
        body["errors"][0],
        "the archive is larger than the 100000-byte upload limit"
    );
}

#[tokio::test]
async fn every_error_has_the_python_registrys_shape_and_terraforms() {
    let (registry, tokens) = registry_with_tokens().await;
    let replies = [
        // The edge check's own answers.
        registry.get("/v1/tokens", None).await,
        registry.get("/v1/tokens", Some(&tokens.downloader)).await,
        registry
            .get("/archives/acme/vpc/aws/1.0.0/module.tar.gz", None)
            .await,
        // The registry's.
        registry
            .get(
                "/v1/modules/acme/nothing/aws/versions",
                Some(&tokens.master),
            )
            .await,
        registry
            .get("/v1/modules/Acme/vpc/aws/versions", Some(&tokens.master))
            .await,
        registry.get("/v1/nothing", Some(&tokens.master)).await,
        registry
            .send("PATCH", "/v1/tokens", Some(&tokens.master), None)
            .await,
        registry
            .send(
                "POST",
                "/v1/tokens",
                Some(&tokens.master),
                Some(vec![b' '; 70_000]),
            )
            .await,
    ];
    let statuses: Vec<u16> = replies.iter().map(|r| r.status).collect();
    assert_eq!(statuses, [401, 403, 403, 404, 400, 404, 405, 413]);
    for reply in &replies {
        assert_error_body(reply);
        assert_eq!(reply.header("content-type"), Some("application/json"));
    }
    let version_exists = {
        registry
            .upload(MODULE, "1.0.0", versioned_module("1.0.0"), &tokens.uploader)
            .await;
        registry
            .upload(MODULE, "1.0.0", versioned_module("1.0.0"), &tokens.uploader)
            .await
    };
    assert_eq!(version_exists.status, 409);
    assert_error_body(&version_exists);
    assert_eq!(version_exists.json()["error"], "version_exists");
}

/// Names users of the Python registry already have, with the characters that would forge an
/// identity if `x-tfreg-identity` did not encode them: created, used (the origin sees the name
/// and the tier the token has, nothing more), listed, and revoked by the percent-encoded name.
#[tokio::test]
async fn a_token_name_cannot_change_the_tier_the_origin_sees() {
    let registry = TestRegistry::start();
    let master = registry.master_token.clone();
    let cases = [
        ("x;tier=master", "x%3Btier%3Dmaster"),
        ("a=b, c;tier=master", "a%3Db%2C%20c%3Btier%3Dmaster"),
        ("Jürgen's token ✓", "J%C3%BCrgen's%20token%20%E2%9C%93"),
        ("token=master", "token=master"),
    ];
    for (i, (name, encoded)) in cases.into_iter().enumerate() {
        let value = registry.create_token(name, "uploader").await;
        // The tier the origin sees is uploader: publishing works, token administration not.
        let version = format!("1.0.{i}");
        let uploaded = registry
            .upload(MODULE, &version, versioned_module(&version), &value)
            .await;
        assert_eq!(uploaded.status, 201, "{name}: {}", uploaded.text());
        assert_eq!(
            uploaded.json()["uploader"],
            name,
            "the origin reads the name"
        );
        let admin = registry.get("/v1/tokens", Some(&value)).await;
        assert_eq!(admin.status, 403, "{name}: {}", admin.text());
        assert_eq!(
            admin.error(),
            format!("token {name:?} has the uploader tier; this needs master")
        );
        let pin = registry
            .send("DELETE", "/v1/pins/acme/vpc/aws/1.0.0", Some(&value), None)
            .await;
        assert_eq!(pin.status, 403, "{name}");

        let listing = registry.get("/v1/tokens", Some(&master)).await;
        assert!(
            listing.json()["tokens"]
                .as_array()
                .unwrap()
                .iter()
                .any(|t| t["token_name"] == name && t["permission"] == "uploader"),
            "{name} is listed: {}",
            listing.text()
        );
        let revoked = registry
            .send(
                "DELETE",
                &format!("/v1/tokens/{encoded}"),
                Some(&master),
                None,
            )
            .await;
        assert_eq!(revoked.status, 200, "{name}: {}", revoked.text());
        assert_eq!(revoked.json()["message"], format!("Token '{name}' deleted"));
        let after = registry
            .get(&format!("/v1/modules/{MODULE}/versions"), Some(&value))
            .await;
        assert_eq!(after.status, 401, "{name} is revoked at once");
    }
}

/// Every row of the route table, through the real binary, with every method it does not take:
/// `405`, `Allow` naming the methods it does take, and the JSON error.
#[tokio::test]
async fn every_route_answers_another_method_with_405_and_allow() {
    let registry = TestRegistry::start();
    let master = registry.master_token.clone();
    let mut checked = 0;
    for spec in tfreg_edge::ROUTES {
        let path = spec
            .pattern
            .split('/')
            .map(|segment| match segment {
                "{version}" => "1.0.0",
                "{upload_id}" => "0123456789abcdef0123456789abcdef",
                "{key_path*}" => "acme/vpc/aws/1.0.0/module.tar.gz",
                s if s.starts_with('{') => "acme",
                literal => literal,
            })
            .collect::<Vec<_>>()
            .join("/");
        for method in ["GET", "PUT", "POST", "DELETE", "PATCH"] {
            let tfreg_edge::Route::MethodNotAllowed { allowed, .. } =
                tfreg_edge::Route::parse(method, &path)
            else {
                continue;
            };
            let reply = registry.send(method, &path, Some(&master), None).await;
            assert_eq!(reply.status, 405, "{method} {path}: {}", reply.text());
            assert_eq!(
                reply.header("allow"),
                Some(allowed.join(", ").as_str()),
                "{method} {path}"
            );
            assert_error_body(&reply);
            assert_eq!(reply.json()["code"], "method_not_allowed");
            checked += 1;
        }
    }
    assert!(checked >= 45, "{checked}");
}
