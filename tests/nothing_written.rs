//! What a refusal leaves behind, through the real `tfreg serve`: a refused write stores
//! nothing (no version, no token, the victim of a refused revocation intact, no staging
//! leftovers), and a token made through the API with an `expires_at` works until then and is
//! refused after it, through the edge cache. Issue 18, "The tests themselves".

mod common;

use common::{registry_with_tokens, TestRegistry, Tokens};
use std::time::{Duration, Instant};
use tfreg_testkit::archive::versioned_module;

const MODULE: &str = "acme/vpc/aws";

/// The names of the tokens the registry lists.
async fn token_names(registry: &TestRegistry, master: &str) -> Vec<String> {
    let listing = registry.get("/v1/tokens", Some(master)).await;
    assert_eq!(listing.status, 200, "{}", listing.text());
    listing.json()["tokens"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["token_name"].as_str().unwrap().to_owned())
        .collect()
}

/// Whether `version` of [`MODULE`] exists, asked every way: its details, the version list, and
/// the data directory.
async fn version_exists(registry: &TestRegistry, master: &str, version: &str) -> bool {
    let info = registry
        .get(&format!("/v1/modules/{MODULE}/{version}"), Some(master))
        .await;
    let listed = registry
        .get(&format!("/v1/modules/{MODULE}/versions"), Some(master))
        .await;
    let in_list = listed.status == 200
        && listed.json()["modules"][0]["versions"]
            .as_array()
            .unwrap()
            .iter()
            .any(|v| v["version"] == version);
    let on_disk = registry
        .data_dir
        .path()
        .join("modules")
        .join(MODULE)
        .join(version)
        .exists();
    assert_eq!(
        info.status == 200,
        in_list,
        "details and list disagree on {version}"
    );
    assert_eq!(in_list, on_disk, "list and disk disagree on {version}");
    in_list
}

/// Nothing is left in the staging directory, where uploads are spooled and normalised.
fn assert_staging_empty(registry: &TestRegistry) {
    let left: Vec<_> = std::fs::read_dir(registry.data_dir.path().join("staging"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert!(left.is_empty(), "staging holds {left:?}");
}

fn refused_callers(tokens: &Tokens) -> [(&'static str, Option<&str>, u16); 3] {
    [
        ("none", None, 401),
        ("unknown", Some("tfr_not_a_real_token"), 401),
        ("downloader", Some(tokens.downloader.as_str()), 403),
    ]
}

#[tokio::test]
async fn a_refused_upload_stores_no_version() {
    let (registry, tokens) = registry_with_tokens().await;
    let uploaded = registry
        .upload(MODULE, "1.0.0", versioned_module("1.0.0"), &tokens.uploader)
        .await;
    assert_eq!(uploaded.status, 201);
    for (caller, token, status) in refused_callers(&tokens) {
        let reply = registry
            .upload(
                MODULE,
                "2.0.0",
                versioned_module("2.0.0"),
                token.unwrap_or(""),
            )
            .await;
        assert_eq!(reply.status, status, "as {caller}: {}", reply.text());
        assert!(
            !version_exists(&registry, &tokens.master, "2.0.0").await,
            "a refused upload as {caller} stored 2.0.0"
        );
    }
    // An archive that fails validation, from a caller allowed to upload, stores nothing either.
    let broken = registry
        .upload(MODULE, "3.0.0", b"not a tarball".to_vec(), &tokens.uploader)
        .await;
    assert_eq!(broken.status, 400, "{}", broken.text());
    assert!(!version_exists(&registry, &tokens.master, "3.0.0").await);
    // What was there is untouched, and so is what the check would compare against.
    assert!(version_exists(&registry, &tokens.master, "1.0.0").await);
    assert_staging_empty(&registry);
    // The version can still be uploaded: the refusals reserved nothing.
    let later = registry
        .upload(MODULE, "2.0.0", versioned_module("2.0.0"), &tokens.uploader)
        .await;
    assert_eq!(later.status, 201, "{}", later.text());
}

#[tokio::test]
async fn a_streamed_413_stores_no_version_and_leaves_no_scratch_file() {
    let registry = TestRegistry::start_with(&["--max-upload-bytes", "100000"]);
    let reply = registry
        .put_streamed(
            &format!("/v1/modules/{MODULE}/1.0.0"),
            300_000,
            &registry.master_token,
        )
        .await;
    assert_eq!(reply.status(), 413);
    assert!(!version_exists(&registry, &registry.master_token, "1.0.0").await);
    assert_staging_empty(&registry);
    // Declared too large up front: the same.
    let declared = registry
        .upload(MODULE, "1.0.0", vec![7u8; 200_000], &registry.master_token)
        .await;
    assert_eq!(declared.status, 413);
    assert!(!version_exists(&registry, &registry.master_token, "1.0.0").await);
    assert_staging_empty(&registry);
}

#[tokio::test]
async fn a_refused_token_creation_creates_no_token() {
    let (registry, tokens) = registry_with_tokens().await;
    let before = token_names(&registry, &tokens.master).await;
    let mut refused = refused_callers(&tokens).to_vec();
    refused.push(("uploader", Some(tokens.uploader.as_str()), 403));
    for (caller, token, status) in refused {
        let body = serde_json::json!({"name": format!("by-{caller}"), "permission": "master"});
        let reply = registry
            .send(
                "POST",
                "/v1/tokens",
                token,
                Some(body.to_string().into_bytes()),
            )
            .await;
        assert_eq!(reply.status, status, "as {caller}: {}", reply.text());
        assert!(reply.json().get("token_value").is_none());
    }
    // Refused for what it asks, by a caller who may create tokens.
    let invalid = [
        r#"{"name":"bad-tier","permission":"admin"}"#,
        r#"{"name":"bad/name","permission":"uploader"}"#,
        r#"{"name":"past","permission":"uploader","expires_at":"2001-01-01T00:00:00Z"}"#,
        r#"{"name":"bad-scope","permission":"uploader","scopes":["../x"]}"#,
        r#"{"name":"extra","permission":"uploader","extra":1}"#,
    ];
    for body in invalid {
        let reply = registry
            .send(
                "POST",
                "/v1/tokens",
                Some(&tokens.master),
                Some(body.as_bytes().to_vec()),
            )
            .await;
        assert_eq!(reply.status, 400, "{body}: {}", reply.text());
    }
    // A name that is taken keeps its token as it was.
    let taken = registry
        .send(
            "POST",
            "/v1/tokens",
            Some(&tokens.master),
            Some(br#"{"name":"dl","permission":"master"}"#.to_vec()),
        )
        .await;
    assert_eq!(taken.status, 409);
    assert_eq!(token_names(&registry, &tokens.master).await, before);
    let listing = registry.get("/v1/tokens", Some(&tokens.master)).await;
    let dl = listing.json()["tokens"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["token_name"] == "dl")
        .cloned()
        .unwrap();
    assert_eq!(dl["permission"], "downloader");
    let still = registry.get("/v1/tokens", Some(&tokens.downloader)).await;
    assert_eq!(still.status, 403, "dl is still a downloader");
}

#[tokio::test]
async fn a_refused_revocation_leaves_the_victim_working() {
    let (registry, tokens) = registry_with_tokens().await;
    registry
        .upload(MODULE, "1.0.0", versioned_module("1.0.0"), &tokens.uploader)
        .await;
    let versions = format!("/v1/modules/{MODULE}/versions");
    let victim = registry.create_token("victim", "downloader").await;
    assert_eq!(registry.get(&versions, Some(&victim)).await.status, 200);
    let mut refused = refused_callers(&tokens).to_vec();
    refused.push(("uploader", Some(tokens.uploader.as_str()), 403));
    for (caller, token, status) in refused {
        let reply = registry
            .send("DELETE", "/v1/tokens/victim", token, None)
            .await;
        assert_eq!(reply.status, status, "as {caller}: {}", reply.text());
        // Through the store, not the edge cache: the cache would answer from before.
        let after = registry.get(&versions, Some(&victim)).await;
        assert_eq!(after.status, 200, "after {caller}'s refused revocation");
        assert!(token_names(&registry, &tokens.master)
            .await
            .contains(&"victim".to_owned()));
    }
    // Refused for itself: the master token cannot revoke itself, and stays.
    let own = registry
        .send("DELETE", "/v1/tokens/master", Some(&tokens.master), None)
        .await;
    assert_eq!(own.status, 409);
    assert_eq!(
        registry
            .get("/v1/tokens", Some(&tokens.master))
            .await
            .status,
        200
    );
    // The revocation itself still works, and at once.
    let revoked = registry
        .send("DELETE", "/v1/tokens/victim", Some(&tokens.master), None)
        .await;
    assert_eq!(revoked.status, 200);
    assert_eq!(registry.get(&versions, Some(&victim)).await.status, 401);
}

/// A token made through `POST /v1/tokens` with an `expires_at` a few seconds ahead works at
/// once and is refused with `401 expired_token` once that time has passed, although the edge
/// cache (60 s here, `--token-cache-ttl`'s default) would otherwise keep it: the cache keeps a
/// token no longer than its expiry. Polled, with a deadline; no sleep is an assertion.
#[tokio::test]
async fn a_token_created_with_an_expiry_works_until_then_and_not_after() {
    let (registry, tokens) = registry_with_tokens().await;
    registry
        .upload(MODULE, "1.0.0", versioned_module("1.0.0"), &tokens.uploader)
        .await;
    let expires_at = tfreg_origin::now_unix() + 4;
    let expires_text = tfreg_origin::unix_to_rfc3339(expires_at).unwrap();
    let body = serde_json::json!({
        "name": "short-lived", "permission": "downloader", "expires_at": expires_text,
    });
    let created = registry
        .send(
            "POST",
            "/v1/tokens",
            Some(&tokens.master),
            Some(body.to_string().into_bytes()),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.text());
    let token = created.json()["token_value"].as_str().unwrap().to_owned();
    let versions = format!("/v1/modules/{MODULE}/versions");

    // Before: it works (and is now in the edge cache).
    let first = registry.get(&versions, Some(&token)).await;
    assert_eq!(first.status, 200, "before its expiry: {}", first.text());
    assert!(
        tfreg_origin::now_unix() < expires_at,
        "the machine took the whole 4 s to make one request; nothing shown"
    );
    // The expiry was stored as sent.
    let listing = registry.get("/v1/tokens", Some(&tokens.master)).await;
    let listed = listing.json()["tokens"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["token_name"] == "short-lived")
        .cloned()
        .unwrap();
    assert_eq!(listed["expires_at"], expires_text);

    // After: refused, within the deadline, by the cached entry running out at the expiry.
    let deadline = Instant::now() + Duration::from_secs(30);
    let refused = loop {
        let reply = registry.get(&versions, Some(&token)).await;
        if reply.status != 200 {
            break reply;
        }
        assert!(
            Instant::now() < deadline,
            "the token still works 30 s after it was to expire at {expires_text}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert!(tfreg_origin::now_unix() >= expires_at, "refused early");
    assert_eq!(refused.status, 401, "{}", refused.text());
    assert_eq!(refused.json()["code"], "expired_token");
    assert_eq!(
        refused.error(),
        "token \"short-lived\" has expired",
        "{}",
        refused.text()
    );
    // The other tokens are untouched.
    assert_eq!(
        registry
            .get(&versions, Some(&tokens.downloader))
            .await
            .status,
        200
    );
}
